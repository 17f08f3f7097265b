"""Devices of the System VM, each with the same small interface (see bus.py)."""
