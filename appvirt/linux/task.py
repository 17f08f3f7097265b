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


class SigAction:
    __slots__ = ("handler", "flags", "restorer", "mask")

    def __init__(self, handler: int = 0, flags: int = 0, restorer: int = 0, mask: int = 0) -> None:
        self.handler = handler  # 0 SIG_DFL, 1 SIG_IGN, else an address
        self.flags = flags
        self.restorer = restorer
        self.mask = mask

    def __repr__(self) -> str:
        return f"SigAction({self.handler:#x}, flags={self.flags:#x}, mask={self.mask:#x})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SigAction):
            return NotImplemented
        return (self.handler, self.flags, self.restorer, self.mask) == (
            other.handler, other.flags, other.restorer, other.mask)  # fmt: skip

    __hash__ = None  # type: ignore[assignment]


class Task:
    """A thread. Plain slotted classes here: dataclass creation costs ~1 ms each per launch."""

    __slots__ = ("tid", "proc", "context", "state", "block", "clear_child_tid", "robust_list",
                 "sigmask", "pending", "restart", "signal_frames", "futex_woken", "vfork_parent",
                 "altstack")  # fmt: skip

    def __init__(self, tid: int, proc: Process, context: Any = None,
                 state: State = State.RUNNABLE, sigmask: int = 0) -> None:  # fmt: skip
        self.tid = tid
        self.proc = proc
        self.context = context  # Unicorn context while not loaded in the Machine
        self.state = state
        self.block: Block | None = None
        self.clear_child_tid = 0
        self.robust_list = 0
        self.sigmask = sigmask
        self.pending = 0  # signals sent to this thread
        self.restart: dict[str, Any] = {}  # state of a blocking call in progress
        self.signal_frames: list[tuple[int, Any, int]] = []  # (frame sp, context, mask)
        self.futex_woken = False
        self.vfork_parent: Task | None = None
        self.altstack = (0, 2, 0)  # ss_sp, ss_flags (SS_DISABLE), ss_size

    def __repr__(self) -> str:
        return f"Task(tid={self.tid}, state={self.state.name})"


class Process:
    __slots__ = ("kernel", "pid", "ppid", "machine", "abi", "fds", "cwd", "exe", "argv", "envp",
                 "umask", "pgid", "sid", "name", "tasks", "sigactions", "pending", "exit_status",
                 "term_signal", "core_dumped", "zombie", "rlimits", "itimer_real_ns", "posix_timers",
                 "itimer_interval_ns", "children", "parent")  # fmt: skip

    def __init__(self, kernel: Kernel, pid: int, ppid: int, machine: Machine, abi: Abi,
                 fds: FdTable, cwd: str, exe: str, argv: list[bytes], envp: list[bytes],
                 umask: int = 0o022, pgid: int = 0, sid: int = 0, name: bytes = b"") -> None:  # fmt: skip
        self.kernel = kernel
        self.pid = pid
        self.ppid = ppid
        self.machine = machine
        self.abi = abi
        self.fds = fds
        self.cwd = cwd
        self.exe = exe
        self.argv = argv
        self.envp = envp
        self.umask = umask
        self.pgid = pgid
        self.sid = sid
        self.name = name
        self.tasks: list[Task] = []
        self.sigactions: dict[int, SigAction] = {}
        self.pending = 0  # signals sent to the process
        self.exit_status: int | None = None
        self.term_signal: int | None = None
        self.core_dumped = False
        self.zombie = False
        self.rlimits: dict[int, tuple[int, int]] = {}
        self.itimer_real_ns = 0
        self.posix_timers: dict[int, Any] | None = None  # syscalls/timers.py; not inherited
        self.itimer_interval_ns = 0
        self.children: list[Process] = []
        self.parent: Process | None = None

    def __repr__(self) -> str:
        return f"Process(pid={self.pid}, exe={self.exe!r})"

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
