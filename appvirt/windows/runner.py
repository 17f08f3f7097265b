"""The Windows personality as the Sandbox sees it: start a PE program, run it, persist, clean up.

The registry comes from the sandbox folder when the run has one (``Sandbox(..., sandbox_dir=)``,
``appvirt run --sandbox DIR``) and is saved there atomically when the run changed it. A profile's
``[registry]`` table (see appvirt/registry/seed.py) seeds a new registry at run start.
"""

from __future__ import annotations

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
        self.save_registry = True  # False: the profile's persistence is "discard"

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
            if proc.registry.dirty and self.save_registry:
                self.store.save(proc.registry)

    def close(self) -> None:
        self.proc.close()


def profile_registry_table(profile: Any) -> Any:
    """The profile's ``[registry]`` seeds, merged along its ``extends`` chain (profile.py)."""
    return getattr(profile, "registry", None)
