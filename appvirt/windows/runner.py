"""The Windows personality as the Sandbox sees it: start a PE program, run it, persist, clean up.

The registry comes from the sandbox folder when the run has one (``Sandbox(..., sandbox_dir=)``,
``appvirt run --sandbox DIR``) and is saved there atomically when the run changed it. A profile's
``[registry]`` table (see appvirt/registry/seed.py) seeds a new registry at run start.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from ..core.clock import Clock
from ..core.events import Events
from ..profile import Profile
from ..vfs.types import OpenFile


class WindowsRun:
    """One run of a Windows console program in one process VM."""

    def __init__(self, vfs: Any, events: Events, profile: Profile, clock: Clock) -> None:
        from ..registry import RegistryStore
        from . import api  # noqa: F401 - importing registers every declaration
        from .process import WinProcess

        self.store = RegistryStore(None)
        self.profile = profile
        self.proc = WinProcess(vfs, events, profile, clock, None)
        self.exit_status: int | None = None
        self.term_signal: int | None = None
        self.peak_memory = 0

    @property
    def interrupted(self) -> bool:
        return self.proc.interrupted

    @interrupted.setter
    def interrupted(self, value: bool) -> None:
        self.proc.interrupted = value

    def use_sandbox_dir(self, folder: str) -> None:
        """Keep the registry in ``folder`` (called by the Sandbox before ``start``)."""
        from ..registry import RegistryStore

        self.store = RegistryStore(folder)

    def start(
        self, path: str, argv: list[str], env: dict[str, str], stdio: list[OpenFile], cwd: str
    ) -> None:
        self.proc.registry = self.store.load(profile_registry_table(self.profile))
        self.proc.load(path, argv, env, stdio, cwd)

    def run(self) -> None:
        proc = self.proc
        try:
            proc.run()
        finally:
            code = proc.exit_code or 0
            # A shell sees the low 8 bits of a Windows exit code (0xC0000005 -> 5).
            self.exit_status = code & 0xFF
            self.peak_memory = proc.mem.peak_bytes if hasattr(proc, "mem") else 0
            proc.events.emit("windows_exit", code=code)
            if proc.registry.dirty:
                self.store.save(proc.registry)

    def close(self) -> None:
        self.proc.close()


def profile_registry_table(profile: Any) -> Any:
    """The raw ``registry`` table of the profile: its attribute when the Profile keeps one,
    otherwise read from the TOML file the profile came from, merged over the tables of the
    profiles it extends (a key's values from the extending profile win)."""
    table = getattr(profile, "registry", None)
    if table is not None:
        return table
    return _registry_from_file(getattr(profile, "source", ""), 0)


def _registry_from_file(source: str, depth: int) -> Any:
    if not source or source.startswith("<") or not os.path.isfile(source) or depth > 16:
        return None
    try:
        with open(source, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        return None  # the profile loaded once already: it cannot be read now, so no seeds
    own = data.get("registry")
    parent = data.get("extends")
    if not isinstance(parent, str):
        return own
    from ..errors import ProfileError
    from ..profile import resolve_profile

    try:
        base = resolve_profile(parent, relative_to=Path(source).parent)
    except ProfileError:
        return own
    inherited = _registry_from_file(base.source, depth + 1)
    if not isinstance(inherited, dict) or not isinstance(own, dict):
        return own if own is not None else inherited
    merged = {path: dict(values) if isinstance(values, dict) else values
              for path, values in inherited.items()}  # fmt: skip
    for path, values in own.items():
        if isinstance(values, dict) and isinstance(merged.get(path), dict):
            merged[path].update(values)
        else:
            merged[path] = values
    return merged
