"""Guest processes and tasks (threads), and how a task waits.

A ``Process`` owns an address space (one ``Machine``), a file table, a cwd, signal dispositions
and children. A ``Task`` is a thread of a process: its CPU state lives in the Machine while it
runs and in ``context`` while it does not. A task that must wait raises ``Block`` from a syscall
handler: the dispatcher rewinds the task to its syscall instruction and the scheduler runs it
again when ``ready()`` says so, so every blocking call is simply re-executed (restart semantics).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .abi import Abi
from .fdtable import FdTable

if TYPE_CHECKING:
    from ..core.machine import Machine
    from .kernel import Kernel


class Block(Exception):
    """Raised by a handler: the calling task sleeps until ``ready()`` or ``deadline`` (monotonic ns)."""

    def __init__(self, ready: Callable[[], bool] | None = None, deadline: int | None = None,
                 host_fds: tuple[int, ...] = ()) -> None:  # fmt: skip
        super().__init__("block")
        self.ready = ready
        self.deadline = deadline
        self.host_fds = host_fds  # host descriptors whose readiness can wake the task


class State(enum.Enum):
    RUNNABLE = "R"
    BLOCKED = "S"
    STOPPED = "T"
    DEAD = "X"


@dataclass(slots=True)
class SigAction:
    handler: int = 0  # 0 SIG_DFL, 1 SIG_IGN, else an address
    flags: int = 0
    restorer: int = 0
    mask: int = 0


@dataclass(slots=True, eq=False)
class Task:
    tid: int
    proc: Process
    context: Any = None  # Unicorn context while not loaded in the Machine
    state: State = State.RUNNABLE
    block: Block | None = None
    clear_child_tid: int = 0
    robust_list: int = 0
    sigmask: int = 0
    pending: int = 0  # signals sent to this thread
    restart: dict[str, Any] = field(default_factory=dict)  # state of a blocking call in progress
    signal_frames: list[tuple[int, Any, int]] = field(
        default_factory=list
    )  # (frame sp, context, mask)
    futex_woken: bool = False
    vfork_parent: Task | None = None
    altstack: tuple[int, int, int] = (0, 2, 0)  # ss_sp, ss_flags (SS_DISABLE), ss_size


@dataclass(slots=True, eq=False)
class Process:
    kernel: Kernel
    pid: int
    ppid: int
    machine: Machine
    abi: Abi
    fds: FdTable
    cwd: str
    exe: str
    argv: list[bytes]
    envp: list[bytes]
    umask: int = 0o022
    pgid: int = 0
    sid: int = 0
    name: bytes = b""
    tasks: list[Task] = field(default_factory=list)
    sigactions: dict[int, SigAction] = field(default_factory=dict)
    pending: int = 0  # signals sent to the process
    exit_status: int | None = None
    term_signal: int | None = None
    core_dumped: bool = False
    zombie: bool = False
    rlimits: dict[int, tuple[int, int]] = field(default_factory=dict)
    itimer_real_ns: int = 0
    itimer_interval_ns: int = 0
    children: list[Process] = field(default_factory=list)
    parent: Process | None = None

    @property
    def mem(self) -> Any:
        return self.machine.mem

    @property
    def alive(self) -> bool:
        return self.exit_status is None and self.term_signal is None

    @property
    def wait_status(self) -> int:
        """The status word wait4 reports."""
        if self.term_signal is not None:
            return self.term_signal | (0x80 if self.core_dumped else 0)
        return (self.exit_status or 0) << 8
