"""Loading and saving a sandbox's registry: one JSON file, written atomically.

``registry.json`` in the sandbox folder holds every key and value (data in hex) with a format
version. A save writes a temporary file in the same folder, fsyncs it and renames it over the old
one, so a run killed at any moment leaves either the old registry or the new one. Without a
sandbox folder the registry lives in memory for one run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..persist.atomic import write_atomic
from .hive import ROOTS, Key, Registry, Value, seed_defaults

FORMAT = "appvirt-registry"
VERSION = 1
FILE_NAME = "registry.json"


def _key_to_json(key: Key) -> dict[str, Any]:
    return {
        "name": key.name,
        "values": [[v.name, v.type, v.data.hex()] for v in key.values.values()],
        "keys": [_key_to_json(k) for k in key.keys.values()],
    }


def _key_from_json(data: dict[str, Any]) -> Key:
    key = Key(str(data["name"]))
    for name, kind, hexdata in data.get("values", []):
        key.values[str(name).lower()] = Value(str(name), int(kind), bytes.fromhex(hexdata))
    for sub in data.get("keys", []):
        child = _key_from_json(sub)
        key.keys[child.name.lower()] = child
    return key


def to_json(reg: Registry) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION,
            "roots": {name: _key_to_json(reg.roots[name]) for name in ROOTS}}  # fmt: skip


def from_json(data: dict[str, Any]) -> Registry:
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ValueError("not an appvirt registry file of a known version")
    reg = Registry()
    for name in ROOTS:
        if name in data["roots"]:
            reg.roots[name] = _key_from_json(data["roots"][name])
            reg.roots[name].name = name
    return reg


class RegistryStore:
    """Where one sandbox's registry lives (``folder`` None: memory only)."""

    def __init__(self, folder: str | os.PathLike[str] | None) -> None:
        self.path = Path(folder) / FILE_NAME if folder is not None else None

    def load(self, seed: Any = None) -> Registry:
        """The stored registry; a new one (defaults, then a profile's ``[registry]`` ``seed``)
        when there is none yet."""
        if self.path is None or not self.path.exists():
            from .seed import apply_seed

            reg = Registry()
            seed_defaults(reg)
            apply_seed(reg, seed)
            reg.dirty = False
            return reg
        try:
            return from_json(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UsageError(f"{self.path}: unreadable registry ({err})") from None

    def save(self, reg: Registry) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(to_json(reg), indent=1, sort_keys=False)
        write_atomic(self.path, text.encode("utf-8"))
        reg.dirty = False
