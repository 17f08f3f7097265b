"""The Windows registry of a sandbox: a hive model, its persistent store, and .reg files."""

from __future__ import annotations

from .hive import REG, Key, Registry, Value
from .store import RegistryStore

__all__ = ["REG", "Key", "Registry", "RegistryStore", "Value"]
