"""The guest kernel: processes, tasks, exec, syscall dispatch and the run loop.

One ``Kernel`` per sandbox run. Each process owns one ``Machine`` (a Unicorn instance: its address
space); each task is a thread of a process. Syscalls are served inside the trap hook: the handler
runs, the result is written to the return register, and the guest continues without leaving
``emu_start``. The loop in ``run`` only regains control when a task exits, faults, or a slice ends.
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass, field
from typing import Any
from typing import Any as VFS  # the VFS protocol; see appvirt.vfs

from unicorn import x86_const as x86

from .. import loader
from ..core.clock import Clock
from ..core.events import Events
from ..core.machine import Machine, Stop
from ..core.memory import GuestFault, OutOfMemory, page_up
from ..errors import NotExecutableError
from ..loader.image import Arch, Format, Image, Perm
from ..vfs.types import OpenFile
from . import syscalls as _register_handlers  # noqa: F401 - importing registers every handler
from . import tables
from .abi import ABI32, ABI64, Abi
from .fdtable import FdTable
from .signals import DEFAULT_IGNORE, EXCEPTION_SIGNAL, Sig
from .stack import StartInfo, build_stack
from .syscall import HANDLERS, SIGNED_INT, SIGNED_LONG, Handler, SyscallError

SLICE_US = 200_000
_REGS64 = [
    x86.UC_X86_REG_RAX,
    x86.UC_X86_REG_RDI,
    x86.UC_X86_REG_RSI,
    x86.UC_X86_REG_RDX,
    x86.UC_X86_REG_R10,
    x86.UC_X86_REG_R8,
    x86.UC_X86_REG_R9,
]
_REGS32 = [
    x86.UC_X86_REG_EAX,
    x86.UC_X86_REG_EBX,
    x86.UC_X86_REG_ECX,
    x86.UC_X86_REG_EDX,
    x86.UC_X86_REG_ESI,
    x86.UC_X86_REG_EDI,
    x86.UC_X86_REG_EBP,
]


@dataclass(slots=True)
class Identity:
    uid: int = 1000
    gid: int = 1000
    hostname: str = "appvirt"
    domainname: str = "(none)"
    release: str = "6.1.0-appvirt"
    version: str = "#1 SMP PREEMPT_DYNAMIC"


@dataclass(slots=True)
class SigAction:
    handler: int = 0  # SIG_DFL
    flags: int = 0
    restorer: int = 0
    mask: int = 0


class Exit(Exception):
    """Raised inside a handler to end the calling process (exit_group, fatal signal)."""


@dataclass(slots=True, eq=False)
class Task:
    tid: int
    proc: Process
    clear_child_tid: int = 0
    robust_list: int = 0
    sigmask: int = 0


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
    exit_status: int | None = None
    term_signal: int | None = None
    core_dumped: bool = False
    rlimits: dict[int, tuple[int, int]] = field(default_factory=dict)
    current: Task | None = None
    itimer_real_ns: int = 0

    @property
    def mem(self) -> Any:
        return self.machine.mem

    # -- the /proc/self provider protocol -----------------------------------------------------------
    def proc_pid(self) -> int:
        return self.pid


class ProcView:
    """What /proc/self shows: the kernel's current process, seen through the VFS's protocol."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def _p(self) -> Process:
        assert self.kernel.current is not None
        return self.kernel.current

    def pid(self) -> int:
        return self._p().pid

    def exe(self) -> str:
        return self._p().exe

    def cwd(self) -> str:
        return self._p().cwd

    def fds(self) -> dict[int, OpenFile]:
        return self._p().fds.paths()

    def maps(self) -> str:
        return self._p().machine.mem.maps_text()

    def cmdline(self) -> bytes:
        return b"".join(a + b"\0" for a in self._p().argv)

    def environ(self) -> bytes:
        return b"".join(a + b"\0" for a in self._p().envp)

    def status(self) -> str:
        p = self._p()
        ident = self.kernel.identity
        name = (p.name or os.path.basename(p.exe).encode())[:15].decode("utf-8", "replace")
        return (
            f"Name:\t{name}\nState:\tR (running)\nTgid:\t{p.pid}\nPid:\t{p.pid}\nPPid:\t{p.ppid}\n"
            f"Uid:\t{ident.uid}\t{ident.uid}\t{ident.uid}\t{ident.uid}\n"
            f"Gid:\t{ident.gid}\t{ident.gid}\t{ident.gid}\t{ident.gid}\n"
            f"VmSize:\t{p.machine.mem.mapped_bytes // 1024} kB\nThreads:\t{len(p.tasks)}\n"
        )


class Kernel:
    """Runs one guest program (and, later, everything it forks) inside one sandbox."""

    def __init__(
        self,
        vfs: VFS,
        identity: Identity | None = None,
        events: Events | None = None,
        memory_limit: int | None = None,
        time_limit: float | None = None,
        random_seed: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.vfs = vfs
        self.clock = clock or Clock()
        self.identity = identity or Identity()
        self.events = events or Events()
        self.memory_limit = memory_limit
        self.time_limit = time_limit
        self.processes: dict[int, Process] = {}
        self.current: Process | None = None
        self.next_pid = 1000
        self.boot_ns = time.monotonic_ns()
        self.tracing = self.events.trace is not None
        self._random = None
        if random_seed is not None:
            import random

            self._random = random.Random(random_seed)
        self.vfs.proc = ProcView(self)
        self.interrupted = False

    # -- randomness --------------------------------------------------------------------------------
    def random_bytes(self, n: int) -> bytes:
        if self._random is not None:
            return self._random.randbytes(n)
        return os.urandom(n)

    # -- process creation ---------------------------------------------------------------------------
    def alloc_pid(self) -> int:
        pid = self.next_pid
        self.next_pid += 1
        return pid

    def load_program(self, path: str, cwd: str) -> tuple[str, Image]:
        """Resolve ``path`` in the VFS and parse it: (canonical guest path, image)."""
        canonical = self.vfs.realpath(path, cwd)
        st = self.vfs.stat(canonical)
        if st.kind == 0o040000:
            raise OSError(errno.EACCES, "is a directory")
        data = self.vfs.read_bytes(canonical)
        image = loader.load_bytes(data, canonical)
        if image.format is not Format.ELF:
            raise NotExecutableError(f"{path}: not a Linux ELF executable")
        return canonical, image

    def spawn(
        self,
        path: str,
        argv: list[bytes],
        envp: list[bytes],
        stdio: list[OpenFile],
        cwd: str,
    ) -> Process:
        """Create the first process of the run from a guest path."""
        exe, image = self.load_program(path, cwd)
        pid = self.alloc_pid()
        fds = FdTable()
        for i, f in enumerate(stdio):
            fds.install_at(i, f)
        proc = self._new_process(pid, 1, image, exe, fds, cwd, argv, envp)
        proc.pgid = proc.sid = pid
        self._start_image(proc, image, path, argv, envp)
        return proc

    def _new_process(
        self,
        pid: int,
        ppid: int,
        image: Image,
        exe: str,
        fds: FdTable,
        cwd: str,
        argv: list[bytes],
        envp: list[bytes],
    ) -> Process:
        machine = Machine(image.arch, self.memory_limit)
        abi = ABI64 if image.arch is Arch.X86_64 else ABI32
        proc = Process(self, pid, ppid, machine, abi, fds, cwd, exe, argv, envp)
        task = Task(pid, proc)
        proc.tasks.append(task)
        proc.current = task
        proc.name = os.path.basename(exe).encode()[:15]
        self.processes[pid] = proc
        self._install_traps(proc)
        return proc

    def _map_image(self, proc: Process, image: Image, bias: int, name: str) -> int:
        """Map an ELF's PT_LOAD segments at ``bias``; return the end of the highest one."""
        mem = proc.machine.mem
        pages: dict[int, Perm] = {}
        for seg in image.segments:
            lo = (seg.vaddr + bias) & ~0xFFF
            hi = page_up(seg.vaddr + bias + seg.memsz)
            for page in range(lo, hi, 0x1000):
                pages[page] = pages.get(page, Perm.NONE) | seg.perms
        run_start = None
        run_perms = Perm.NONE
        prev = None
        for page in sorted(pages):
            perms = pages[page]
            if run_start is not None and (page != prev + 0x1000 or perms != run_perms):  # type: ignore[operator]
                mem.map(run_start, prev + 0x1000 - run_start, run_perms, name)  # type: ignore[operator]
                run_start = None
            if run_start is None:
                run_start, run_perms = page, perms
            prev = page
        if run_start is not None and prev is not None:
            mem.map(run_start, prev + 0x1000 - run_start, run_perms, name)
        for seg in image.segments:
            if seg.data:
                mem.poke(seg.vaddr + bias, seg.data)
        return max(seg.vaddr + bias + seg.memsz for seg in image.segments)

    def _start_image(
        self, proc: Process, image: Image, path: str, argv: list[bytes], envp: list[bytes]
    ) -> None:
        machine = proc.machine
        mem = machine.mem
        lay = machine.layout
        bias = 0
        if image.relocatable:
            bias = lay.pie_base - image.base
        end = self._map_image(proc, image, bias, proc.exe)
        mem.init_brk(end)
        entry = image.entry + bias
        interp_base = 0
        if image.interpreter:
            _ipath, interp = self.load_program(image.interpreter, "/")
            if interp.arch is not image.arch:
                raise NotExecutableError(f"{image.interpreter}: wrong architecture for {path}")
            span = page_up(interp.size)
            base = mem.find_free(span)
            ibias = base - interp.base
            self._map_image(proc, interp, ibias, _ipath)
            interp_base = base
            entry = interp.entry + ibias
        mem.map(lay.stack_top - lay.stack_size, lay.stack_size, Perm.RW, "[stack]")
        info = StartInfo(
            argv=argv,
            envp=envp,
            execfn=path.encode(),
            phdr=image.phdr_vaddr + bias,
            phent=image.phentsize or (56 if machine.is64 else 32),
            phnum=image.phnum,
            entry=image.entry + bias,
            base=interp_base,
            uid=self.identity.uid,
            gid=self.identity.gid,
            random=self.random_bytes(16),
            platform=proc.abi.platform.encode(),
        )
        sp, blob = build_stack(lay.stack_top, info, proc.abi.word)
        mem.poke(sp, blob)
        machine.sp = sp
        machine.pc = entry
        if machine.is64:
            machine.reg.write(x86.UC_X86_REG_RDX, 0)

    # -- traps ---------------------------------------------------------------------------------------
    def _install_traps(self, proc: Process) -> None:
        machine = proc.machine
        numbers = tables.X86_64 if machine.is64 else tables.I386
        table: list[tuple[Handler, int, tuple[int, ...], tuple[int, ...]] | None] = [None] * (
            max(numbers) + 1
        )
        for nr, name in numbers.items():
            h = HANDLERS.get(name)
            if h is not None:
                ints = tuple(i for i, a in enumerate(h.args) if a in SIGNED_INT)
                longs = tuple(i for i, a in enumerate(h.args) if a in SIGNED_LONG)
                table[nr] = (h, len(h.args), ints, longs)
        regs = machine.batch(_REGS64 if machine.is64 else _REGS32)
        ret_reg = x86.UC_X86_REG_RAX if machine.is64 else x86.UC_X86_REG_EAX
        reg = machine.reg
        abi = proc.abi
        sign_bit = 1 << (abi.word * 8 - 1)
        full = abi.mask + 1
        limit = len(table)
        events = self.events
        calls = events.calls

        def serve() -> None:
            v = regs.read()
            nr = v[0]
            entry = table[nr] if nr < limit else None
            if entry is None:
                ret = self._unknown(proc, nr, v)
            else:
                handler, nargs, ints, longs = entry
                args = list(v[1 : 1 + nargs])
                for i in ints:
                    a = args[i] & 0xFFFFFFFF
                    args[i] = a - 0x100000000 if a & 0x80000000 else a
                for i in longs:
                    if args[i] & sign_bit:
                        args[i] -= full
                calls[handler.name] += 1
                task = proc.current
                try:
                    ret = handler.fn(task, *args)
                except SyscallError as err:
                    ret = -err.errno
                except OSError as err:
                    ret = -(err.errno or errno.EIO)
                except GuestFault:
                    ret = -errno.EFAULT
                except OutOfMemory:
                    ret = -errno.ENOMEM
                if self.tracing:
                    from .trace import format_call

                    events.line(format_call(proc, handler, args, ret))
            reg.write(ret_reg, ret)

        def interrupt(intno: int) -> None:
            if intno == 0x80:
                if machine.is64:
                    self._fatal(proc, Sig.SIGSEGV)  # int 0x80 from 64-bit code: refused
                    return
                serve()
                return
            if machine.spurious_fault(intno):
                return
            if os.environ.get("APPVIRT_DEBUG_TRAPS"):
                print(
                    "trap",
                    intno,
                    hex(machine.pc),
                    hex(machine.uc.reg_read(x86.UC_X86_REG_CR2)),
                    machine.mem.spurious_faults,
                )
            sig = EXCEPTION_SIGNAL.get(intno, Sig.SIGSEGV)
            self._fatal(proc, sig)

        def invalid() -> bool:
            self._fatal(proc, Sig.SIGILL)
            return True

        if machine.is64:
            machine.on_syscall(serve)
        machine.on_interrupt(interrupt)
        machine.on_invalid(invalid)

    def _unknown(self, proc: Process, nr: int, v: Any) -> int:
        names = tables.X86_64 if proc.machine.is64 else tables.I386
        name = names.get(nr, f"syscall_{nr}")
        self.events.unknown[name] += 1
        args = ", ".join(hex(v[i]) for i in range(1, 7))
        self.events.line(f"{name}({args}) = -1 ENOSYS (Function not implemented)")
        self.events.emit("unknown_syscall", name=name, number=nr)
        return -errno.ENOSYS

    def _fatal(self, proc: Process, sig: int) -> None:
        """Terminate ``proc`` by signal (no handler support yet for CPU faults)."""
        proc.term_signal = int(sig)
        proc.core_dumped = sig in (
            Sig.SIGSEGV,
            Sig.SIGILL,
            Sig.SIGFPE,
            Sig.SIGABRT,
            Sig.SIGBUS,
            Sig.SIGTRAP,
            Sig.SIGQUIT,
        )
        proc.machine.request_stop()

    def exit_process(self, proc: Process, status: int) -> None:
        proc.exit_status = status & 0xFF
        proc.machine.request_stop()

    def signal_process(self, proc: Process, sig: int) -> None:
        """Deliver ``sig`` to ``proc`` (default actions only, for now)."""
        if sig == 0:
            return
        action = proc.sigactions.get(sig)
        if action is not None and action.handler == 1:  # SIG_IGN
            return
        if (action is None or action.handler == 0) and sig in DEFAULT_IGNORE:
            return
        self._fatal(proc, sig)

    # -- time -----------------------------------------------------------------------------------------
    def sleep_ns(self, ns: int) -> None:
        """Sleep the calling task (one task: sleep in place; an alarm cuts the sleep short)."""
        proc = self.current
        if proc is not None and proc.itimer_real_ns:
            left = proc.itimer_real_ns - self.clock.monotonic_ns()
            if left <= ns:
                self.clock.sleep(max(left, 0))
                self._fire_alarm(proc)
                from .syscall import SyscallError

                raise SyscallError(errno.EINTR)
        self.clock.sleep(ns)

    def set_alarm(self, proc: Process, ns: int) -> int:
        """Arm (or with 0 disarm) SIGALRM in ``ns``; returns the time that was left."""
        left = self.alarm_left(proc)
        proc.itimer_real_ns = self.clock.monotonic_ns() + ns if ns else 0
        return left

    def alarm_left(self, proc: Process) -> int:
        if not proc.itimer_real_ns:
            return 0
        return max(proc.itimer_real_ns - self.clock.monotonic_ns(), 1)

    def _fire_alarm(self, proc: Process) -> None:
        proc.itimer_real_ns = 0
        self.signal_process(proc, Sig.SIGALRM)

    # -- the run loop --------------------------------------------------------------------------------
    def run(self, proc: Process) -> Process:
        """Run until the process exits; returns it with exit_status or term_signal set."""
        machine = proc.machine
        deadline = None if self.time_limit is None else time.monotonic() + self.time_limit
        self.current = proc
        while proc.exit_status is None and proc.term_signal is None:
            stop = machine.run(SLICE_US)
            if stop is Stop.FAULT:
                sig = (
                    Sig.SIGILL
                    if machine.fault and machine.fault.value == "invalid"
                    else Sig.SIGSEGV
                )
                self._fatal(proc, sig)
            if proc.itimer_real_ns and self.clock.monotonic_ns() >= proc.itimer_real_ns:
                self._fire_alarm(proc)
            if self.interrupted:
                self.interrupted = False
                self.signal_process(proc, Sig.SIGINT)
            if deadline is not None and time.monotonic() > deadline:
                from ..errors import LimitExceeded

                raise LimitExceeded("time", f"{self.time_limit:g} s of wall time", 152)
        return proc

    def close(self) -> None:
        for proc in self.processes.values():
            proc.fds.close_all()
            proc.machine.close()
        self.processes.clear()
        self.current = None
