"""Syscall handlers, one module per family; importing this package registers them all."""

from . import fs, misc, mm, proc, signal, time  # noqa: F401
