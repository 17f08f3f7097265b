"""The Linux personality as the Sandbox sees it: start a program, run it to the end, clean up.

Limits: ``processes`` goes to the kernel (fork/clone fails with EAGAIN beyond it), ``files`` is
the first process's descriptor-table size (inherited by everything it forks: EMFILE beyond it),
``memory`` and ``time`` are the kernel's own. ``instructions`` is counted by Unicorn (the run is
about 4x slower with it): exact for code that computes between system calls, and the run stops
after exactly that many. Unicorn gives no count for a run cut short by a blocking call, so code
that blocks very often is also bounded by wall time at ``MIN_INSTRUCTIONS_PER_SECOND`` (a rate
even counted code exceeds), reported as the same limit with exit code 152.
"""

from __future__ import annotations

from ..core.clock import Clock
from ..core.events import Events
from ..errors import LimitExceeded
from ..profile import Profile
from ..vfs.types import OpenFile
from .kernel import Identity, Kernel, Process

MIN_INSTRUCTIONS_PER_SECOND = 5_000_000


class LinuxRun:
    """One run of a Linux program (and, later, everything it forks) in one guest kernel."""

    def __init__(self, vfs: object, events: Events, profile: Profile, clock: Clock) -> None:
        limits = profile.limits
        time_limit = limits.time
        self.instruction_budget: float | None = None
        if limits.instructions is not None:
            self.instruction_budget = limits.instructions / MIN_INSTRUCTIONS_PER_SECOND
            if time_limit is None or self.instruction_budget < time_limit:
                time_limit = self.instruction_budget
        self.files_limit = limits.files
        self.kernel = Kernel(
            vfs,
            identity=Identity(uid=profile.uid, gid=profile.gid, hostname=profile.hostname),
            events=events,
            memory_limit=limits.memory,
            time_limit=time_limit,
            random_seed=profile.random_seed,
            clock=clock,
            process_limit=limits.processes,
        )
        self.kernel.instruction_limit = limits.instructions
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
        if self.files_limit is not None:
            self.proc.fds.limit = self.files_limit

    def run(self) -> None:
        assert self.proc is not None
        try:
            self.kernel.run(self.proc)
        except LimitExceeded as err:
            if err.limit == "time" and self.kernel.time_limit == self.instruction_budget:
                raise LimitExceeded(
                    "instructions",
                    f"{self.kernel.instruction_limit} instructions (bounded by "
                    f"{self.instruction_budget:g} s of wall time)",
                    152,
                ) from None
            raise
        finally:
            self.exit_status = self.proc.exit_status
            self.term_signal = self.proc.term_signal
            self.peak_memory = self.proc.machine.mem.peak_bytes

    def close(self) -> None:
        self.kernel.close()
