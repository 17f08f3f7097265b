"""The guest kernel: processes, tasks, the scheduler, syscall dispatch and signal delivery.

One ``Kernel`` per sandbox run. Each address space is one ``Machine`` (a Unicorn instance); each
task is a thread whose CPU state is swapped in and out of its Machine with Unicorn contexts. A
syscall is served inside the trap hook: the handler runs, the result goes to RAX/EAX and the guest
continues without leaving ``emu_start``. Control comes back to ``run`` only when a task blocks,
exits, forks, execs, receives a signal, or its time slice ends.
"""

from __future__ import annotations

import errno
import os
import select
import time
import weakref
from typing import Any

from unicorn import x86_const as x86

from ..core.clock import Clock
from ..core.events import Events
from ..core.machine import Machine, Stop
from ..core.memory import GuestFault, OutOfMemory
from ..errors import LimitExceeded, NotExecutableError
from ..loader.image import Arch
from ..vfs.types import OpenFile
from . import dispatch, tables
from . import exec as execmod
from . import syscalls as _register_handlers  # noqa: F401 - importing registers every handler
from .abi import ABI32, ABI64
from .fdtable import FdTable
from .procview import ProcView
from .sigframe import deliver_frame
from .signals import DEFAULT_IGNORE, DEFAULT_STOP, Sig
from .syscall import HANDLERS, SyscallError
from .syscalls import timers
from .task import Block, Process, SigAction, State, Task
from .watchdog import Watchdog, next_deadline, next_wake_ns

SLICE_US = 200_000  # one task alone: long slices (Ctrl-C and limits are checked between them)
# Several runnable tasks share the CPU in slices that end at the first syscall after this long
# (``Kernel._shared_slice``): exact, and guest code runs uncounted, at full speed.
SHARED_SLICE_S = 0.005
# A task still running this long after its slice ended, without a syscall, is stopped by the
# watchdog (the one stop from outside a hook it gets), and from then on its Machine's slices end
# by the exact block stop (core/blockstop.py), or are counted where the host cannot run that.
# Long enough for a short computation to finish at full speed (the block hook costs 1.3-1.6x on a
# register loop, counting ~25x); short enough that a task spinning on another's flag soon lets
# it run.
SHARED_GRACE_S = 0.2
# Counted slices (an instruction limit; a Machine stopped as above; no watchdog thread): 500k
# instructions got `seq | sort | ...` through its start-up 25% sooner than 2M did, while 50k lost
# again to switching.
SHARED_SLICE_INSNS = 500_000
LIMITED_SLICE_INSNS = 50_000_000  # a lone task's counted run under an instruction limit
# A counted slice still running after this long is taken to be stuck in code translated without
# counting (see ``Kernel._counted_slice``); a normal one takes about 15 ms.
COUNTED_SLICE_OVERRUN = 0.1
CORE_SIGNALS = {Sig.SIGSEGV, Sig.SIGILL, Sig.SIGFPE, Sig.SIGABRT, Sig.SIGBUS, Sig.SIGTRAP, Sig.SIGQUIT,
                Sig.SIGSYS, Sig.SIGXCPU, Sig.SIGXFSZ}  # fmt: skip
SA_RESTART = 0x10000000


class Identity:
    """Who the guest thinks it is: ids and names shown by uname, getuid and /proc."""

    def __init__(self, uid: int = 1000, gid: int = 1000, hostname: str = "appvirt") -> None:
        self.uid = uid
        self.gid = gid
        self.hostname = hostname
        self.domainname = "(none)"
        self.release = "6.1.0-appvirt"
        self.version = "#1 SMP PREEMPT_DYNAMIC"


class Deadlock(Exception):
    """Every task waits for something only another (waiting) task could do."""


class Kernel:
    """Runs one guest program and everything it forks, inside one sandbox."""

    def __init__(
        self,
        vfs: Any,
        identity: Identity | None = None,
        events: Events | None = None,
        memory_limit: int | None = None,
        time_limit: float | None = None,
        random_seed: int | None = None,
        clock: Clock | None = None,
        process_limit: int | None = None,
    ) -> None:
        self.vfs = vfs
        self.clock = clock or Clock()
        self.identity = identity or Identity()
        self.events = events or Events()
        self.memory_limit = memory_limit
        self.time_limit = time_limit
        self.process_limit = process_limit
        self.instruction_limit: int | None = None  # exact, counted (see ``_charge``)
        self.instructions = 0  # instructions counted so far (only with an instruction limit)
        self.processes: dict[int, Process] = {}
        self.tasks: list[Task] = []
        self.current: Task | None = None
        self.next_pid = 1000
        self.tracing = self.events.trace is not None
        self.resched = False
        self.interrupted = False
        self.foreground_pgid = 0
        self.use_watchdog = True  # lone tasks run without timeouts (see watchdog.py)
        self._dead_machines: list[Machine] = []
        # Without a watchdog: Machines whose translated code does not count (``_counted_slice``).
        self._uncounted_code: weakref.WeakSet[Machine] = weakref.WeakSet()
        # Machines one of whose tasks ran on past a slice's end without a syscall, so that the
        # watchdog had to stop it: preempted by their block stop, or counted (``_shared_slice``).
        self._compute_bound: weakref.WeakSet[Machine] = weakref.WeakSet()
        self._counts: dict[Machine, tuple[list[int], dict[int, str]]] = {}
        self._rr = 0
        # A parent that just forked runs again first (as Linux lets it): a shell then starts the
        # whole pipeline before its first child takes a counted slice (see SHARED_SLICE_INSNS).
        self._prefer: Task | None = None
        self._random = None
        if random_seed is not None:
            import random

            self._random = random.Random(random_seed)
        self.vfs.proc = ProcView(self)

    # -- small services ------------------------------------------------------------------------------
    def random_bytes(self, n: int) -> bytes:
        if self._random is not None:
            return self._random.randbytes(n)
        return os.urandom(n)

    def alloc_pid(self) -> int:
        while self.next_pid in self.processes or any(t.tid == self.next_pid for t in self.tasks):
            self.next_pid += 1
        pid = self.next_pid
        self.next_pid += 1
        return pid

    def now_ns(self) -> int:
        return self.clock.monotonic_ns()

    # -- process creation ----------------------------------------------------------------------------
    def spawn(
        self, path: str, argv: list[bytes], envp: list[bytes], stdio: list[OpenFile], cwd: str
    ) -> Process:
        """Create the first process of the run from a guest path."""
        prog, data, argv = execmod.resolve_script(self, path, argv, cwd)
        try:
            image = execmod.parse(self, data, prog)
        except SyscallError:
            from .. import loader

            loader.load_bytes(data, path)  # raises the loader's own one-line message
            raise NotExecutableError(f"{path}: not a Linux ELF executable") from None
        machine = self._new_machine(image.arch)
        pid = self.alloc_pid()
        fds = FdTable()
        for i, f in enumerate(stdio):
            fds.install_at(i, f)
        abi = ABI64 if image.arch is Arch.X86_64 else ABI32
        proc = Process(self, pid, 1, machine, abi, fds, cwd, prog, argv, envp)
        proc.pgid = proc.sid = pid
        proc.name = os.path.basename(prog).encode()[:15]
        self.foreground_pgid = pid
        task = Task(pid, proc)
        proc.tasks.append(task)
        machine.users = 1
        machine.task = task
        self.processes[pid] = proc
        self.tasks.append(task)
        self.current = task
        execmod.start_image(
            self, machine, image, prog, path, argv, envp, abi.platform.encode(), abi.word
        )
        return proc

    def _new_machine(self, arch: Arch) -> Machine:
        machine = Machine(arch, self.memory_limit)
        self._install_traps(machine)
        return machine

    def _release_machine(self, machine: Machine) -> None:
        machine.users -= 1
        if machine.users <= 0 and machine not in self._dead_machines:
            self._dead_machines.append(machine)
            machine.request_stop()

    # -- traps ---------------------------------------------------------------------------------------
    def _install_traps(self, machine: Machine) -> None:
        numbers = tables.X86_64 if machine.is64 else tables.I386
        self._counts[machine] = (dispatch.install(self, machine), numbers)

    def _block(self, machine: Machine, task: Task, blk: Block) -> None:
        """Park ``task`` at its syscall instruction; the scheduler re-executes it when ready."""
        machine.pc = machine.pc - 2  # `syscall` and `int 0x80` are both two bytes
        task.state = State.BLOCKED
        task.block = blk
        machine.request_stop()

    def _unknown(self, task: Task, nr: int, v: Any) -> int:
        names = tables.X86_64 if task.proc.machine.is64 else tables.I386
        name = names.get(nr, f"syscall_{nr}")
        self.events.unknown[name] += 1
        args = ", ".join(hex(v[i]) for i in range(1, 7))
        self.events.line(f"{name}({args}) = -1 ENOSYS (Function not implemented)")
        self.events.emit("unknown_syscall", name=name, number=nr)
        return -errno.ENOSYS

    # -- task switching ------------------------------------------------------------------------------
    def load(self, task: Task) -> Machine:
        """Make ``task``'s CPU state the one in its Machine."""
        machine = task.proc.machine
        if machine.task is not task:
            old = machine.task
            if old is not None and old.state is not State.DEAD and old.proc.machine is machine:
                old.context = machine.save_context()
            if task.context is not None:
                machine.restore_context(task.context)
                task.context = None
            machine.task = task
        self.current = task
        return machine

    # -- fork, clone, exec ---------------------------------------------------------------------------
    def clone(self, task: Task, flags: int, stack: int, tls: int | None, new_process: bool,
              share_vm: bool) -> Task:  # fmt: skip
        """Create a task: a new process (fork/vfork) or a thread. The caller sets tid words."""
        parent = task.proc
        machine = parent.machine
        if (
            new_process
            and self.process_limit is not None
            and len(self.processes) >= self.process_limit
        ):
            raise SyscallError(errno.EAGAIN)
        context = machine.save_context()
        tid = self.alloc_pid()
        if new_process:
            if share_vm:
                child_machine = machine
                machine.users += 1
            else:
                child_machine = self._new_machine(machine.arch)
                child_machine.users = 1
                try:
                    child_machine.copy_from(machine)
                except OutOfMemory:
                    child_machine.close()
                    raise SyscallError(errno.ENOMEM) from None
            proc = Process(
                self, tid, parent.pid, child_machine, parent.abi, parent.fds.fork(), parent.cwd,
                parent.exe, parent.argv, parent.envp, umask=parent.umask, pgid=parent.pgid,
                sid=parent.sid, name=parent.name,
            )  # fmt: skip
            proc.sigactions = {
                k: SigAction(a.handler, a.flags, a.restorer, a.mask)
                for k, a in parent.sigactions.items()
            }
            proc.rlimits = dict(parent.rlimits)
            proc.parent = parent
            parent.children.append(proc)
            self.processes[tid] = proc
        else:
            proc = parent
        child = Task(tid, proc, sigmask=task.sigmask)
        proc.tasks.append(child)
        self.tasks.append(child)
        # The child's registers: the parent's, returning 0, on its own stack if it asked for one.
        target = proc.machine
        if target is machine:
            child.context = context
            saved_task = machine.task
            machine.restore_context(context)
            self._child_regs(machine, stack, tls)
            child.context = machine.save_context()
            machine.restore_context(context)
            machine.task = saved_task
        else:
            target.restore_context(context)
            self._child_regs(target, stack, tls)
            target.task = child
        self.resched = True
        self._prefer = task
        return child

    def _child_regs(self, machine: Machine, stack: int, tls: int | None) -> None:
        machine.reg.write(x86.UC_X86_REG_RAX if machine.is64 else x86.UC_X86_REG_EAX, 0)
        if stack:
            machine.sp = stack
        if tls is not None and machine.is64:
            machine.set_fs_base(tls)

    def execve(self, task: Task, path: str, argv: list[bytes], envp: list[bytes]) -> None:
        """Replace ``task``'s process image. Raises OSError/SyscallError before anything changes."""
        proc = task.proc
        prog, data, argv = execmod.resolve_script(self, path, argv, proc.cwd)
        image = execmod.parse(self, data, prog)
        machine = self._new_machine(image.arch)
        abi = ABI64 if image.arch is Arch.X86_64 else ABI32
        try:
            execmod.start_image(
                self, machine, image, prog, path, argv, envp, abi.platform.encode(), abi.word
            )
        except BaseException:
            machine.close()
            raise
        # Point of no return: other threads die, the old address space goes.
        for other in list(proc.tasks):
            if other is not task:
                self._kill_task(other)
        old = proc.machine
        if old.task is task:
            old.task = None
        machine.users = 1
        machine.task = task
        task.context = None
        task.signal_frames.clear()
        proc.machine = machine
        proc.abi = abi
        proc.exe = prog
        proc.argv = argv
        proc.envp = envp
        proc.posix_timers = None  # POSIX timers do not survive exec (alarms do)
        proc.name = os.path.basename(prog).encode()[:15]
        proc.fds.close_on_exec()
        for sig, action in list(proc.sigactions.items()):
            if action.handler not in (0, 1):
                proc.sigactions[sig] = SigAction()
        self._release_machine(old)
        old.request_stop()
        if task.vfork_parent is not None:
            self._wake_vfork_parent(task)
        self.resched = True

    def _wake_vfork_parent(self, task: Task) -> None:
        parent = task.vfork_parent
        task.vfork_parent = None
        if parent is not None:
            parent.restart["vfork_done"] = True

    # -- exit and signals ----------------------------------------------------------------------------
    def _kill_task(self, task: Task) -> None:
        if task.state is State.DEAD:
            return
        task.state = State.DEAD
        if task in self.tasks:
            self.tasks.remove(task)
        proc = task.proc
        if task in proc.tasks:
            proc.tasks.remove(task)
        if task.clear_child_tid and proc.machine.users > 0 and not proc.machine.closed:
            try:
                proc.mem.write(task.clear_child_tid, b"\0\0\0\0")
            except GuestFault:
                pass
            from .syscalls.futex import wake

            wake(self, proc.machine, task.clear_child_tid, 1)
        if task.vfork_parent is not None:
            self._wake_vfork_parent(task)
        if proc.machine.task is task:
            proc.machine.task = None
            proc.machine.request_stop()
        self.resched = True

    def exit_task(self, task: Task, status: int) -> None:
        """exit(): one thread ends; the last thread ends the process."""
        proc = task.proc
        if len(proc.tasks) <= 1:
            self.exit_process(proc, status)
            return
        self._kill_task(task)

    def exit_process(
        self, proc: Process, status: int | None = None, signal: int | None = None
    ) -> None:
        if proc.zombie:
            return
        if signal is not None:
            proc.term_signal = signal
            proc.core_dumped = signal in CORE_SIGNALS
        else:
            proc.exit_status = (status or 0) & 0xFF
        for task in list(proc.tasks):
            self._kill_task(task)
        proc.fds.close_all()
        proc.zombie = True
        proc.itimer_real_ns = 0
        self._release_machine(proc.machine)
        for child in proc.children:
            child.parent = None
            child.ppid = 1
        proc.children.clear()
        parent = proc.parent
        if parent is None or not parent.alive:
            self.processes.pop(proc.pid, None)  # nobody will wait: reaped by "init" at once
        else:
            action = parent.sigactions.get(Sig.SIGCHLD)
            if action is not None and (
                action.handler == 1 or action.flags & 0x8
            ):  # SIG_IGN / SA_NOCLDWAIT
                parent.children.remove(proc)
                self.processes.pop(proc.pid, None)
            self.send_signal(parent, Sig.SIGCHLD)
        self.resched = True

    def reap(self, child: Process) -> None:
        if child.parent is not None and child in child.parent.children:
            child.parent.children.remove(child)
        self.processes.pop(child.pid, None)

    def disposition(self, proc: Process, sig: int) -> SigAction:
        return proc.sigactions.get(sig) or SigAction()

    def send_signal(self, proc: Process, sig: int, task: Task | None = None) -> None:
        """kill()/tgkill(): mark ``sig`` pending; act now when its action is to terminate or ignore."""
        if sig == 0 or not proc.alive:
            return
        action = self.disposition(proc, sig)
        if sig in (Sig.SIGKILL,) or (
            action.handler == 0 and sig not in DEFAULT_IGNORE and sig not in DEFAULT_STOP
        ):
            blocked = (
                task.sigmask
                if task is not None
                else min((t.sigmask for t in proc.tasks), default=0)
            )
            if sig == Sig.SIGKILL or not blocked & (1 << (sig - 1)):
                self.exit_process(proc, signal=int(sig))
                return
        if action.handler == 1 or (
            action.handler == 0 and (sig in DEFAULT_IGNORE or sig in DEFAULT_STOP)
        ):
            return
        bit = 1 << (sig - 1)
        if task is not None:
            task.pending |= bit
        else:
            proc.pending |= bit
        for t in proc.tasks:  # a signal interrupts a sleeping task
            if t.state is State.BLOCKED and not t.sigmask & bit:
                self._interrupt_block(t)
                break
        self.resched = True

    def _interrupt_block(self, task: Task) -> None:
        """A handled signal wakes a blocked task: its call restarts (SA_RESTART) or fails with EINTR."""
        task.state = State.RUNNABLE
        task.block = None
        task.restart["interrupted"] = True

    def force_signal(self, task: Task | None, sig: int) -> None:
        """A synchronous signal (CPU fault): the handler runs now, or the process dies."""
        if task is None:
            return
        proc = task.proc
        action = self.disposition(proc, sig)
        if action.handler in (0, 1) or task.sigmask & (1 << (sig - 1)):
            self.exit_process(proc, signal=int(sig))
            return
        self.load(task)
        deliver_frame(self, task, sig, action)
        proc.machine.request_stop()

    def deliver_pending(self, task: Task) -> None:
        """Run the handler of the first pending, unblocked signal of ``task`` (sets up its frame)."""
        proc = task.proc
        while True:
            ready = (task.pending | proc.pending) & ~task.sigmask
            if not ready:
                return
            sig = (ready & -ready).bit_length()
            bit = 1 << (sig - 1)
            if task.pending & bit:
                task.pending &= ~bit
            else:
                proc.pending &= ~bit
            action = self.disposition(proc, sig)
            if action.handler == 1:
                continue
            if action.handler == 0:
                if sig in DEFAULT_IGNORE or sig in DEFAULT_STOP:
                    continue
                self.exit_process(proc, signal=sig)
                return
            machine = self.load(task)
            if task.restart.pop("interrupted", False) and task.block is None:
                # The task was asleep in a syscall at the syscall instruction. pause and
                # sigsuspend never restart; sigsuspend's caller gets its own mask back.
                if "suspend_mask" in task.restart:
                    task.sigmask = task.restart["suspend_mask"]
                if not action.flags & SA_RESTART or task.restart.get("no_restart"):
                    machine.reg.write(
                        x86.UC_X86_REG_RAX if machine.is64 else x86.UC_X86_REG_EAX, -errno.EINTR
                    )
                    machine.pc = machine.pc + 2
                task.restart.clear()
            deliver_frame(self, task, sig, action)
            machine.request_stop()
            return

    # -- time ----------------------------------------------------------------------------------------
    def set_alarm(self, proc: Process, ns: int, interval: int = 0) -> int:
        left = self.alarm_left(proc)
        proc.itimer_real_ns = self.now_ns() + ns if ns else 0
        proc.itimer_interval_ns = interval
        if ns:
            self.timers_changed()
        return left

    def timers_changed(self) -> None:
        """A timer was armed from a syscall: end this run after the call, so the next one is
        watched up to the new due time (a program that spins until its alarm must get it)."""
        self.resched = True

    def alarm_left(self, proc: Process) -> int:
        if not proc.itimer_real_ns:
            return 0
        return max(proc.itimer_real_ns - self.now_ns(), 1)

    def _timers(self) -> None:
        now = self.now_ns()
        for proc in list(self.processes.values()):
            if proc.alive and proc.itimer_real_ns and now >= proc.itimer_real_ns:
                proc.itimer_real_ns = (
                    now + proc.itimer_interval_ns if proc.itimer_interval_ns else 0
                )
                self.send_signal(proc, Sig.SIGALRM)
            if proc.alive and proc.posix_timers:
                for signo, tid in timers.fire_due(proc, now):
                    task = next((x for x in proc.tasks if x.tid == tid), None) if tid else None
                    self.send_signal(proc, signo, task)

    # -- the scheduler -------------------------------------------------------------------------------
    def _ready(self, task: Task) -> bool:
        if task.state is State.RUNNABLE:
            return True
        if task.state is not State.BLOCKED or task.block is None:
            return False
        blk = task.block
        if blk.deadline is not None and self.now_ns() >= blk.deadline:
            return True
        if blk.ready is not None:
            self.current = task
            try:
                return bool(blk.ready())
            except Exception:  # noqa: BLE001 - a broken wait condition wakes the task to fail cleanly
                return True
        return False

    def _pick(self) -> Task | None:
        n = len(self.tasks)
        prefer, self._prefer = self._prefer, None
        if prefer is not None and prefer.state is State.RUNNABLE and prefer in self.tasks:
            return prefer
        for i in range(n):
            task = self.tasks[(self._rr + i) % n]
            if self._ready(task):
                self._rr = (self._rr + i + 1) % max(n, 1)
                if task.state is State.BLOCKED:
                    task.state = State.RUNNABLE
                    task.block = None
                return task
        return None

    def _idle(self) -> None:
        """Nothing can run: sleep until the nearest deadline or host input, or report a deadlock."""
        deadlines = [
            t.block.deadline
            for t in self.tasks
            if t.block is not None and t.block.deadline is not None
        ]
        alarms = [timers.next_timer_ns(p) for p in self.processes.values() if p.alive]
        alarms = [a for a in alarms if a]
        host_fds = sorted(
            {fd for t in self.tasks if t.block is not None for fd in t.block.host_fds}
        )
        wake_at = min(deadlines + alarms, default=None)
        if wake_at is None and not host_fds:
            raise Deadlock()
        timeout = None if wake_at is None else max(wake_at - self.now_ns(), 0) / 1e9
        if host_fds:
            try:
                select.select(host_fds, [], [], min(timeout, 0.25) if timeout is not None else 0.25)
            except (OSError, ValueError):
                pass
        elif timeout:
            if self.clock.mode == "frozen":
                self.clock.sleep(int(timeout * 1e9))
                return
            end = time.monotonic() + timeout
            while not self.interrupted:  # Ctrl-C must not wait for a long guest sleep
                left = end - time.monotonic()
                if left <= 0:
                    break
                time.sleep(min(left, 0.05))

    def _shared_slice(self, machine: Machine, watchdog: Watchdog | None) -> Stop:
        """One slice while several tasks can run: until the task's first syscall after
        ``SHARED_SLICE_S`` (the watchdog's nudge asks the dispatcher to stop there, which is exact),
        or until it blocks.

        Most tasks that share the CPU (a pipeline's members) make syscalls all the time, so their
        code runs uncounted, at full speed. A task still running ``SHARED_GRACE_S`` after the nudge
        makes none (a spin loop, a long computation): the watchdog stops it, and its Machine gets
        the exact block stop, which ends its later slices ``SHARED_SLICE_S`` in whatever it runs;
        so the stop from outside a hook, with its small risk, happens once per Machine, not every
        slice. Where the host cannot run the block stop, those slices are counted
        (``_counted_slice``), as they are where counting is needed anyway: an instruction limit,
        or no watchdog thread.
        """
        if watchdog is None or self.instruction_limit is not None:
            return self._counted_slice(machine, watchdog)
        exact = machine.block_stop
        if machine in self._compute_bound and exact is None:
            return self._counted_slice(machine, watchdog)
        deadline = time.monotonic() + SHARED_SLICE_S
        if exact is not None:
            # The watchdog's stop is exact here: no need to wait for a syscall.
            watchdog.arm(machine.uch, deadline, exact=exact)
        else:
            watchdog.arm(machine.uch, deadline, self._nudge, SHARED_GRACE_S)
        try:
            stop = machine.run(0)
        finally:
            fired = watchdog.disarm()
        if exact is None and fired and stop is Stop.SLICE and not machine.closed:
            if not self.interrupted:
                self._compute_bound.add(machine)
                # From now on its slices end by the exact block stop, or are counted where the
                # host cannot run it (that drops the code translated uncounted, which would
                # never end a counted slice).
                if machine.enable_block_stop() is None:
                    machine.uc.ctl_flush_tb()  # type: ignore[attr-defined]
        return stop

    def _counted_slice(self, machine: Machine, watchdog: Watchdog | None) -> Stop:
        """One slice of ``SHARED_SLICE_INSNS`` instructions while several tasks can run.

        Unicorn counts instructions in a hook compiled into each translated block, so a block
        translated by an earlier uncounted run (a spin loop) never stops a counted one. Flushing
        the translations before each such switch costs every pipeline their re-translation, so
        the watchdog looks for the rare slice that overruns instead (a nudge: it stops at its
        next syscall; a loop without syscalls is stopped ``NUDGE_GRACE`` later) and only that
        Machine's translations are dropped. Without a watchdog, every switch flushes.
        """
        flush = machine.uc.ctl_flush_tb  # type: ignore[attr-defined]  # mypy reads the py2 stub
        if watchdog is None:
            if machine in self._uncounted_code:
                self._uncounted_code.discard(machine)
                flush()
            stop = machine.run(0, count=SHARED_SLICE_INSNS)
            self._charge(SHARED_SLICE_INSNS, stop, False)
            return stop
        watchdog.arm(machine.uch, time.monotonic() + COUNTED_SLICE_OVERRUN, self._nudge)
        try:
            stop = machine.run(0, count=SHARED_SLICE_INSNS)
        finally:
            overran = watchdog.disarm()
        if overran and not machine.closed:
            flush()
        self._charge(SHARED_SLICE_INSNS, stop, overran)
        return stop

    def _budget(self, machine: Machine) -> int:
        """A lone task's instruction count when an instruction limit is set (0: uncounted).

        Counting slows guest code about 4x, so only a run with an instruction limit pays it; code
        translated by an uncounted run would not be counted, hence the flush."""
        limit = self.instruction_limit
        if limit is None:
            return 0
        left = limit - self.instructions
        if left <= 0:
            raise LimitExceeded("instructions", f"{limit} instructions executed", 152)
        if machine in self._uncounted_code:
            self._uncounted_code.discard(machine)
            machine.uc.ctl_flush_tb()  # type: ignore[attr-defined]
        return min(left, LIMITED_SLICE_INSNS)

    def _charge(self, count: int, stop: Stop, interrupted: bool) -> None:
        """Add a counted run that used its whole budget to the instruction total.

        Unicorn reports no count for a run that ended early (a blocking call, an exit, a stop
        from the watchdog), so those instructions are not added: the limit is exact for code that
        computes and a lower bound for code that blocks often, which the wall-time bound of
        ``LinuxRun`` covers."""
        if count and self.instruction_limit is not None:
            if stop is Stop.SLICE and not interrupted:
                self.instructions += count
                if self.instructions >= self.instruction_limit:
                    raise LimitExceeded(
                        "instructions", f"{self.instruction_limit} instructions executed", 152
                    )

    def _nudge(self) -> None:
        """The watchdog's request (from its thread): stop the lone task at its next syscall."""
        self.resched = True

    def _frozen_catch_up(self, wake_ns: int, started: float) -> None:
        """A frozen clock only moves when every task sleeps (``_idle``); a lone task that ran
        (spinning) until a sleeper's wake-up or an alarm was due in real time moves it there."""
        left = wake_ns - self.now_ns()
        if left > 0 and time.monotonic() - started >= left / 1e9:
            self.clock.sleep(left)

    def run(self, initial: Process) -> Process:
        """Run until ``initial`` exits; everything it left running is killed with it."""
        deadline = None if self.time_limit is None else time.monotonic() + self.time_limit
        watchdog = Watchdog() if self.use_watchdog else None
        if watchdog is not None and not watchdog.active:
            watchdog.close()
            watchdog = None
        try:
            while initial.alive:
                self._timers()
                if self.interrupted:
                    self.interrupted = False
                    for proc in list(self.processes.values()):
                        if proc.pgid == self.foreground_pgid:
                            self.send_signal(proc, Sig.SIGINT)
                    continue
                if deadline is not None and time.monotonic() > deadline:
                    raise LimitExceeded("time", f"{self.time_limit:g} s of wall time", 152)
                self.resched = False
                task = self._pick()
                if task is None:
                    try:
                        self._idle()
                    except Deadlock:
                        self.events.line(
                            "appvirt: every guest task is waiting: deadlock; ending the run"
                        )
                        self.exit_process(initial, signal=int(Sig.SIGKILL))
                    continue
                machine = self.load(task)
                if task.pending or task.proc.pending or task.restart.get("interrupted"):
                    self.deliver_pending(task)
                    if not task.proc.alive or task.state is not State.RUNNABLE:
                        self._close_dead_machines()
                        continue
                runnable = sum(1 for t in self.tasks if t.state is State.RUNNABLE)
                started = time.monotonic()
                if runnable <= 1 and watchdog is not None:
                    # Stopped when the run's end, an alarm or a sleeper's wake-up is due: a task
                    # spinning alone (on a flag a sleeping thread will set) must let it run.
                    wake_ns = next_wake_ns(self)
                    count = self._budget(machine)
                    if wake_ns is not None and not count and machine.block_stop is None:
                        # A timer or a sleeper will interrupt this run, which then resumes: a
                        # stop from outside a hook could repeat stores (the ticking sample), so
                        # this Machine gets the exact block stop first.
                        machine.enable_block_stop()
                    watchdog.arm(
                        machine.uch,
                        next_deadline(self, deadline, wake_ns),
                        self._nudge,
                        exact=machine.block_stop,
                    )
                    try:
                        stop = machine.run(0, count=count)
                    finally:
                        fired = watchdog.disarm()
                    self._charge(count, stop, fired)
                    if wake_ns is not None and self.clock.mode == "frozen":
                        self._frozen_catch_up(wake_ns, started)
                elif runnable <= 1:
                    count = self._budget(machine)
                    stop = machine.run(0 if count else SLICE_US, count=count)
                    self._charge(count, stop, False)
                else:
                    # Preempting by timeout can leave Unicorn's PC at the start of a block whose
                    # stores already ran (a re-executed `lock cmpxchg` deadlocks a mutex), so a
                    # shared slice ends at a syscall, by the exact block stop, or after a counted
                    # number of instructions.
                    stop = self._shared_slice(machine, watchdog)
                if runnable <= 1 and watchdog is None and self.instruction_limit is None:
                    self._uncounted_code.add(machine)
                if stop is Stop.FAULT and machine.task is not None:
                    fault = machine.fault
                    sig = (
                        Sig.SIGILL
                        if fault is not None and fault.value == "invalid"
                        else Sig.SIGSEGV
                    )
                    self.force_signal(machine.task, sig)
                self._close_dead_machines()
        finally:
            if watchdog is not None:
                watchdog.close()
            self._close_dead_machines()
        return initial

    def _close_dead_machines(self) -> None:
        while self._dead_machines:
            machine = self._dead_machines.pop()
            self._fold_counts(machine)
            machine.close()

    def _fold_counts(self, machine: Machine) -> None:
        """Add a machine's per-number syscall counters to the run's counts by name."""
        entry = self._counts.pop(machine, None)
        if entry is None:
            return
        counts, numbers = entry
        calls = self.events.calls
        for nr, n in enumerate(counts):
            if n:
                h = HANDLERS.get(numbers.get(nr, ""))
                calls[h.name if h is not None else numbers.get(nr, str(nr))] += n

    def close(self) -> None:
        for proc in list(self.processes.values()):
            if not proc.zombie:
                proc.fds.close_all()
        seen: set[int] = set()
        for proc in list(self.processes.values()):
            if id(proc.machine) not in seen:
                seen.add(id(proc.machine))
                self._fold_counts(proc.machine)
                proc.machine.close()
        for machine in list(self._counts):
            self._fold_counts(machine)
        self._close_dead_machines()
        self.processes.clear()
        self.tasks.clear()
        self.current = None
