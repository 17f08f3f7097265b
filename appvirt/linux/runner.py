"""The Linux personality as the Sandbox sees it: start a program, run it to the end, clean up."""

from __future__ import annotations

from ..core.clock import Clock
from ..core.events import Events
from ..profile import Profile
from ..vfs.types import OpenFile
from .kernel import Identity, Kernel, Process


class LinuxRun:
    """One run of a Linux program (and, later, everything it forks) in one guest kernel."""

    def __init__(self, vfs: object, events: Events, profile: Profile, clock: Clock) -> None:
        self.kernel = Kernel(
            vfs,
            identity=Identity(uid=profile.uid, gid=profile.gid, hostname=profile.hostname),
            events=events,
            memory_limit=profile.limits.memory,
            time_limit=profile.limits.time,
            random_seed=profile.random_seed,
            clock=clock,
        )
        self.proc: Process | None = None
        self.exit_status: int | None = None
        self.term_signal: int | None = None
        self.peak_memory = 0

    @property
    def interrupted(self) -> bool:
        return self.kernel.interrupted

    @interrupted.setter
    def interrupted(self, value: bool) -> None:
        self.kernel.interrupted = value

    def start(
        self, path: str, argv: list[str], env: dict[str, str], stdio: list[OpenFile], cwd: str
    ) -> None:
        self.proc = self.kernel.spawn(
            path,
            [a.encode("utf-8", "surrogateescape") for a in argv],
            [f"{k}={v}".encode("utf-8", "surrogateescape") for k, v in env.items()],
            stdio,
            cwd,
        )

    def run(self) -> None:
        assert self.proc is not None
        try:
            self.kernel.run(self.proc)
        finally:
            self.exit_status = self.proc.exit_status
            self.term_signal = self.proc.term_signal
            self.peak_memory = self.proc.machine.mem.peak_bytes

    def close(self) -> None:
        self.kernel.close()
