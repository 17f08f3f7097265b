"""Process and identity syscalls: exit, ids, limits, TLS setup, uname, prctl."""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from ...core.machine import TLS_COUNT, TLS_FIRST, seg_descriptor
from ..syscall import Arg, Ret, SyscallError, syscall
from ..task import Block
from .common import at, put_word, read_path

if TYPE_CHECKING:
    from ..task import Process, Task


@syscall("exit", Arg.INT, ret=Ret.NONE)
def sys_exit(t: Task, status: int) -> None:
    t.proc.kernel.exit_task(t, status)


@syscall("exit_group", Arg.INT, ret=Ret.NONE)
def sys_exit_group(t: Task, status: int) -> None:
    t.proc.kernel.exit_process(t.proc, status)


@syscall("getpid")
def sys_getpid(t: Task) -> int:
    return t.proc.pid


@syscall("gettid")
def sys_gettid(t: Task) -> int:
    return t.tid


@syscall("getppid")
def sys_getppid(t: Task) -> int:
    return t.proc.ppid


def _uid(t: Task) -> int:
    return t.proc.kernel.identity.uid


def _gid(t: Task) -> int:
    return t.proc.kernel.identity.gid


for _name in ("getuid", "geteuid", "getuid32", "geteuid32"):
    syscall(_name)(lambda t: _uid(t))
for _name in ("getgid", "getegid", "getgid32", "getegid32"):
    syscall(_name)(lambda t: _gid(t))


def _set_id(t: Task, *ids: int) -> int:
    """setuid and friends: only to the identity the sandbox already shows."""
    current = (_uid(t), _gid(t))
    for value in ids:
        if value not in (-1, 0xFFFFFFFF, 0xFFFF) and value not in current:
            raise SyscallError(errno.EPERM)
    return 0


for _name, _n in (
    ("setuid", 1),
    ("setgid", 1),
    ("setuid32", 1),
    ("setgid32", 1),
    ("setreuid", 2),
    ("setregid", 2),
    ("setreuid32", 2),
    ("setregid32", 2),
    ("setresuid", 3),
    ("setresgid", 3),
    ("setresuid32", 3),
    ("setresgid32", 3),
    ("setfsuid", 1),
    ("setfsgid", 1),
):
    syscall(_name, *([Arg.INT] * _n))(_set_id)


def _getres(t: Task, a: int, b: int, c: int, value: int) -> int:
    for ptr in (a, b, c):
        t.proc.mem.write(ptr, struct.pack("<I", value))
    return 0


for _name, _fn in (
    ("getresuid", _uid),
    ("getresuid32", _uid),
    ("getresgid", _gid),
    ("getresgid32", _gid),
):
    syscall(_name, Arg.PTR, Arg.PTR, Arg.PTR)(lambda t, a, b, c, f=_fn: _getres(t, a, b, c, f(t)))


@syscall("getgroups", Arg.INT, Arg.PTR)
def sys_getgroups(t: Task, size: int, ptr: int) -> int:
    if size:
        t.proc.mem.write(ptr, struct.pack("<I", _gid(t)))
    return 1


@syscall("getgroups32", Arg.INT, Arg.PTR)
def sys_getgroups32(t: Task, size: int, ptr: int) -> int:
    return sys_getgroups(t, size, ptr)


@syscall("setgroups", Arg.INT, Arg.PTR)
def sys_setgroups(t: Task, size: int, ptr: int) -> int:
    raise SyscallError(errno.EPERM)


@syscall("setgroups32", Arg.INT, Arg.PTR)
def sys_setgroups32(t: Task, size: int, ptr: int) -> int:
    raise SyscallError(errno.EPERM)


def _find(t: Task, pid: int) -> Process:
    if pid == 0:
        return t.proc
    proc = t.proc.kernel.processes.get(pid)
    if proc is None or proc.zombie:
        raise SyscallError(errno.ESRCH)
    return proc


@syscall("getpgrp")
def sys_getpgrp(t: Task) -> int:
    return t.proc.pgid


@syscall("getpgid", Arg.INT)
def sys_getpgid(t: Task, pid: int) -> int:
    return _find(t, pid).pgid


@syscall("setpgid", Arg.INT, Arg.INT)
def sys_setpgid(t: Task, pid: int, pgid: int) -> int:
    if pgid < 0:
        raise SyscallError(errno.EINVAL)
    proc = _find(t, pid)
    if proc is not t.proc and proc.parent is not t.proc:
        raise SyscallError(errno.ESRCH)
    proc.pgid = pgid or proc.pid
    return 0


@syscall("getsid", Arg.INT)
def sys_getsid(t: Task, pid: int) -> int:
    return _find(t, pid).sid


@syscall("setsid")
def sys_setsid(t: Task) -> int:
    proc = t.proc
    if any(p.pgid == proc.pid for p in proc.kernel.processes.values() if p is not proc):
        raise SyscallError(errno.EPERM)
    proc.sid = proc.pgid = proc.pid
    return proc.pid


@syscall("set_tid_address", Arg.PTR)
def sys_set_tid_address(t: Task, ptr: int) -> int:
    t.clear_child_tid = ptr
    return t.tid


@syscall("set_robust_list", Arg.PTR, Arg.SIZE)
def sys_set_robust_list(t: Task, head: int, size: int) -> int:
    t.robust_list = head
    return 0


@syscall("get_robust_list", Arg.INT, Arg.PTR, Arg.PTR)
def sys_get_robust_list(t: Task, pid: int, head: int, size: int) -> int:
    put_word(t, head, t.robust_list)
    put_word(t, size, 12 if not t.proc.abi.is64 else 24)
    return 0


@syscall("rseq", Arg.PTR, Arg.UINT, Arg.HEX, Arg.HEX)
def sys_rseq(t: Task, ptr: int, size: int, flags: int, sig: int) -> int:
    # Restartable sequences need preemption notification we do not model; glibc copes with ENOSYS.
    raise SyscallError(errno.ENOSYS)


# -- resource limits -----------------------------------------------------------------------------
RLIM_INFINITY = (1 << 64) - 1
RLIMIT_STACK = 3
RLIMIT_NOFILE = 7
RLIMIT_AS = 9


def _limit(t: Task, res: int) -> tuple[int, int]:
    proc = t.proc
    if res in proc.rlimits:
        return proc.rlimits[res]
    if res == RLIMIT_STACK:
        return 8 << 20, RLIM_INFINITY
    if res == RLIMIT_NOFILE:
        return proc.fds.limit, proc.fds.limit
    if res == RLIMIT_AS and proc.kernel.memory_limit:
        return proc.kernel.memory_limit, proc.kernel.memory_limit
    return RLIM_INFINITY, RLIM_INFINITY


@syscall("prlimit64", Arg.INT, Arg.INT, Arg.PTR, Arg.PTR)
def sys_prlimit64(t: Task, pid: int, res: int, new: int, old: int) -> int:
    if res < 0 or res > 15:
        raise SyscallError(errno.EINVAL)
    if old:
        t.proc.mem.write(old, struct.pack("<QQ", *_limit(t, res)))
    if new:
        soft, hard = struct.unpack("<QQ", t.proc.mem.read(new, 16))
        cur_hard = _limit(t, res)[1]
        if soft > hard or hard > cur_hard:
            raise SyscallError(errno.EPERM if hard > cur_hard else errno.EINVAL)
        t.proc.rlimits[res] = (soft, hard)
        if res == RLIMIT_NOFILE:
            t.proc.fds.limit = min(soft, 1 << 20)
    return 0


def _get_rlimit_words(t: Task, res: int, ptr: int) -> int:
    if res < 0 or res > 15:
        raise SyscallError(errno.EINVAL)
    abi = t.proc.abi
    soft, hard = _limit(t, res)
    t.proc.mem.write(ptr, abi.pack_words(min(soft, abi.mask), min(hard, abi.mask)))
    return 0


@syscall("getrlimit", Arg.INT, Arg.PTR)
def sys_getrlimit(t: Task, res: int, ptr: int) -> int:
    return _get_rlimit_words(t, res, ptr)


@syscall("ugetrlimit", Arg.INT, Arg.PTR)
def sys_ugetrlimit(t: Task, res: int, ptr: int) -> int:
    return _get_rlimit_words(t, res, ptr)


@syscall("setrlimit", Arg.INT, Arg.PTR)
def sys_setrlimit(t: Task, res: int, ptr: int) -> int:
    abi = t.proc.abi
    soft, hard = abi.unpack_words(t.proc.mem.read(ptr, 2 * abi.word))
    if soft == abi.mask:
        soft = RLIM_INFINITY
    if hard == abi.mask:
        hard = RLIM_INFINITY
    if soft > hard:
        raise SyscallError(errno.EINVAL)
    t.proc.rlimits[res] = (soft, hard)
    if res == RLIMIT_NOFILE:
        t.proc.fds.limit = min(soft, 1 << 20)
    return 0


# -- thread-local storage --------------------------------------------------------------------------
ARCH_SET_GS = 0x1001
ARCH_SET_FS = 0x1002
ARCH_GET_FS = 0x1003
ARCH_GET_GS = 0x1004
ARCH_GET_CPUID = 0x1011
ARCH_SET_CPUID = 0x1012


@syscall("arch_prctl", Arg.HEX, Arg.PTR)
def sys_arch_prctl(t: Task, code: int, addr: int) -> int:
    from unicorn import x86_const as x86

    m = t.proc.machine
    if code == ARCH_SET_FS:
        m.set_fs_base(addr)
        return 0
    if code == ARCH_SET_GS:
        m.set_gs_base(addr)
        return 0
    if code == ARCH_GET_FS:
        put_word(t, addr, m.reg.read(x86.UC_X86_REG_FS_BASE))
        return 0
    if code == ARCH_GET_GS:
        put_word(t, addr, m.reg.read(x86.UC_X86_REG_GS_BASE))
        return 0
    if code == ARCH_GET_CPUID:
        return 1
    raise SyscallError(errno.EINVAL)


_USER_DESC = struct.Struct("<IIII")


@syscall("set_thread_area", Arg.PTR)
def sys_set_thread_area(t: Task, ptr: int) -> int:
    """i386 TLS: write a GDT descriptor the guest then loads into GS (FACTS.md)."""
    mem = t.proc.mem
    m = t.proc.machine
    entry, base, limit, flags = _USER_DESC.unpack(mem.read(ptr, 16))
    if entry == 0xFFFFFFFF:
        for i in range(TLS_FIRST, TLS_FIRST + TLS_COUNT):
            if m.read_gdt_entry(i) == bytes(8):
                entry = i
                break
        else:
            raise SyscallError(errno.ESRCH)
        mem.write(ptr, struct.pack("<I", entry))
    if not TLS_FIRST <= entry < TLS_FIRST + TLS_COUNT:
        raise SyscallError(errno.EINVAL)
    seg_32bit = flags & 1
    limit_in_pages = (flags >> 4) & 1
    not_present = (flags >> 5) & 1
    if not_present and base == 0 and limit == 0:
        m.write_gdt_entry(entry, bytes(8))
        return 0
    access = 0xF2  # present, DPL3, data, writable
    gran = (limit_in_pages << 3) | (seg_32bit << 2)
    m.write_gdt_entry(entry, seg_descriptor(base, limit, access, gran))
    return 0


@syscall("get_thread_area", Arg.PTR)
def sys_get_thread_area(t: Task, ptr: int) -> int:
    (entry,) = struct.unpack("<I", t.proc.mem.read(ptr, 4))
    if not TLS_FIRST <= entry < TLS_FIRST + TLS_COUNT:
        raise SyscallError(errno.EINVAL)
    lo, hi = struct.unpack("<II", t.proc.machine.read_gdt_entry(entry))
    base = (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF000000)
    limit = (lo & 0xFFFF) | (hi & 0xF0000)
    flags = ((hi >> 22) & 1) | (((hi >> 23) & 1) << 4) | ((0 if hi & 0x8000 else 1) << 5) | (1 << 6)
    t.proc.mem.write(ptr, _USER_DESC.pack(entry, base, limit, flags))
    return 0


# -- names and personality -------------------------------------------------------------------------
PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_GET_NAME = 16
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39


@syscall("prctl", Arg.INT, Arg.HEX, Arg.HEX, Arg.HEX, Arg.HEX)
def sys_prctl(t: Task, option: int, a2: int, a3: int, a4: int, a5: int) -> int:
    proc = t.proc
    if option == PR_SET_NAME:
        proc.name = proc.mem.read_cstr(a2, 16)[:15]
        return 0
    if option == PR_GET_NAME:
        proc.mem.write(a2, proc.name[:15].ljust(16, b"\0"))
        return 0
    if option in (PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS):
        return 0
    if option == PR_GET_DUMPABLE:
        return 1
    if option == PR_GET_NO_NEW_PRIVS:
        return 1
    raise SyscallError(errno.EINVAL)


@syscall("personality", Arg.HEX)
def sys_personality(t: Task, persona: int) -> int:
    return 0


@syscall("uname", Arg.PTR)
def sys_uname(t: Task, ptr: int) -> int:
    ident = t.proc.kernel.identity
    machine = "x86_64" if t.proc.abi.is64 else "i686"
    fields = ["Linux", ident.hostname, ident.release, ident.version, machine, ident.domainname]
    t.proc.mem.write(ptr, b"".join(f.encode()[:64].ljust(65, b"\0") for f in fields))
    return 0


@syscall("sethostname", Arg.STR, Arg.SIZE)
def sys_sethostname(t: Task, ptr: int, size: int) -> int:
    raise SyscallError(errno.EPERM)


# -- children: fork, clone, exec, wait ---------------------------------------------------------
CLONE_VM = 0x100
CLONE_FS = 0x200
CLONE_FILES = 0x400
CLONE_SIGHAND = 0x800
CLONE_VFORK = 0x4000
CLONE_PARENT = 0x8000
CLONE_THREAD = 0x10000
CLONE_SETTLS = 0x80000
CLONE_PARENT_SETTID = 0x100000
CLONE_CHILD_CLEARTID = 0x200000
CLONE_CHILD_SETTID = 0x1000000


def _clone(t: Task, flags: int, stack: int, ptid: int, ctid: int, tls: int) -> int:
    kernel = t.proc.kernel
    if "vfork_child" in t.restart:  # the parent of a vfork wakes when the child execs or exits
        return int(t.restart["vfork_child"])
    thread = bool(flags & CLONE_THREAD)
    if thread and not flags & CLONE_VM:
        raise SyscallError(errno.EINVAL)
    fs_tls = tls if flags & CLONE_SETTLS and t.proc.abi.is64 else None
    child = kernel.clone(
        t, flags, stack, fs_tls, new_process=not thread, share_vm=bool(flags & CLONE_VM)
    )
    if flags & CLONE_SETTLS and not t.proc.abi.is64:
        _set_child_tls(t, child, tls)
    mem = t.proc.mem
    if flags & CLONE_PARENT_SETTID and ptid:
        mem.write(ptid, struct.pack("<i", child.tid))
    if flags & CLONE_CHILD_SETTID and ctid:
        child.proc.mem.write(ctid, struct.pack("<i", child.tid))
    if flags & CLONE_CHILD_CLEARTID:
        child.clear_child_tid = ctid
    if flags & CLONE_VFORK:
        child.vfork_parent = t
        t.restart["vfork_child"] = child.tid
        raise Block(ready=lambda: bool(t.restart.get("vfork_done")))
    return child.tid


def _set_child_tls(t: Task, child: Task, desc_ptr: int) -> None:
    """i386 CLONE_SETTLS: the child starts with GS pointing at the descriptor it asked for."""
    from unicorn import x86_const as x86

    kernel = t.proc.kernel
    machine = child.proc.machine
    saved = machine.save_context()
    saved_task = machine.task
    machine.restore_context(child.context) if child.context is not None else None
    sys_set_thread_area(child, desc_ptr)
    (entry,) = struct.unpack("<I", child.proc.mem.read(desc_ptr, 4))
    machine.reg.write(x86.UC_X86_REG_GS, (entry << 3) | 3)
    if child.context is not None:
        child.context = machine.save_context()
        machine.restore_context(saved)
        machine.task = saved_task
    kernel.resched = True


@syscall("fork")
def sys_fork(t: Task) -> int:
    return _clone(t, 17, 0, 0, 0, 0)


@syscall("vfork")
def sys_vfork(t: Task) -> int:
    return _clone(t, CLONE_VM | CLONE_VFORK | 17, 0, 0, 0, 0)


@syscall("clone", Arg.HEX, Arg.PTR, Arg.PTR, Arg.PTR, Arg.PTR)
def sys_clone(t: Task, flags: int, stack: int, ptid: int, a4: int, a5: int) -> int:
    # x86-64: (flags, stack, parent_tid, child_tid, tls); i386: (flags, stack, parent_tid, tls, child_tid)
    if t.proc.abi.is64:
        return _clone(t, flags, stack, ptid, a4, a5)
    return _clone(t, flags, stack, ptid, a5, a4)


def _strings(t: Task, ptr: int) -> list[bytes]:
    out: list[bytes] = []
    abi = t.proc.abi
    mem = t.proc.mem
    while ptr:
        (item,) = abi.unpack_words(mem.read(ptr + len(out) * abi.word, abi.word))
        if not item:
            break
        out.append(mem.read_cstr(item, 131072))
        if len(out) > 65536:
            raise SyscallError(errno.E2BIG)
    return out


@syscall("execve", Arg.PATH, Arg.STRV, Arg.STRV)
def sys_execve(t: Task, path_ptr: int, argv_ptr: int, envp_ptr: int) -> None:
    path = read_path(t, path_ptr)
    if not path:
        raise SyscallError(errno.ENOENT)
    t.proc.kernel.execve(t, path, _strings(t, argv_ptr), _strings(t, envp_ptr))


@syscall("execveat", Arg.DIRFD, Arg.PATH, Arg.STRV, Arg.STRV, Arg.ATFLAGS)
def sys_execveat(
    t: Task, dirfd: int, path_ptr: int, argv_ptr: int, envp_ptr: int, flags: int
) -> None:
    path, cwd = at(t, dirfd, path_ptr)
    if not path.startswith("/"):
        path = cwd.rstrip("/") + "/" + path
    t.proc.kernel.execve(t, path, _strings(t, argv_ptr), _strings(t, envp_ptr))


WNOHANG = 1
WUNTRACED = 2
WEXITED = 4
WNOWAIT = 0x01000000


def _matches(t: Task, child: Process, pid: int) -> bool:
    if pid > 0:
        return child.pid == pid
    if pid == 0:
        return child.pgid == t.proc.pgid
    if pid < -1:
        return child.pgid == -pid
    return True


def _wait_child(t: Task, pid: int, options: int) -> Process | None:
    """The zombie child to report, None for WNOHANG with none ready; blocks otherwise."""
    children = [c for c in t.proc.children if _matches(t, c, pid)]
    if not children:
        raise SyscallError(errno.ECHILD)
    for child in children:
        if child.zombie:
            return child
    if options & WNOHANG:
        return None
    if t.restart.get("interrupted"):
        raise SyscallError(errno.EINTR)
    raise Block(ready=lambda: any(c.zombie for c in t.proc.children if _matches(t, c, pid)))


@syscall("wait4", Arg.INT, Arg.PTR, Arg.HEX, Arg.PTR, blocking=True)
def sys_wait4(t: Task, pid: int, status: int, options: int, rusage: int) -> int:
    child = _wait_child(t, pid, options)
    if child is None:
        return 0
    if status:
        t.proc.mem.write(status, struct.pack("<i", child.wait_status))
    if rusage:
        t.proc.mem.write(rusage, bytes(18 * t.proc.abi.word))
    t.proc.kernel.reap(child)
    return child.pid


@syscall("waitpid", Arg.INT, Arg.PTR, Arg.HEX, blocking=True)
def sys_waitpid(t: Task, pid: int, status: int, options: int) -> int:
    return sys_wait4(t, pid, status, options, 0)


@syscall("waitid", Arg.INT, Arg.INT, Arg.PTR, Arg.HEX, Arg.PTR, blocking=True)
def sys_waitid(t: Task, idtype: int, ident: int, info: int, options: int, rusage: int) -> int:
    pid = {0: -1, 1: ident, 2: -ident if ident else 0}.get(idtype)
    if pid is None:
        raise SyscallError(errno.EINVAL)
    child = _wait_child(t, pid, options)
    if child is None:
        if info:
            t.proc.mem.write(info, bytes(128))
        return 0
    if info:
        if child.term_signal is not None:
            code, value = (3 if child.core_dumped else 2), child.term_signal
        else:
            code, value = 1, child.exit_status or 0
        uid = t.proc.kernel.identity.uid
        t.proc.mem.write(
            info, struct.pack("<iiiiIi", 17, 0, code, child.pid, uid, value).ljust(128, b"\0")
        )
    if not options & WNOWAIT:
        t.proc.kernel.reap(child)
    return 0


# -- scheduling ----------------------------------------------------------------------------------
@syscall("sched_yield")
def sys_sched_yield(t: Task) -> int:
    return 0


@syscall("sched_getaffinity", Arg.INT, Arg.SIZE, Arg.PTR)
def sys_sched_getaffinity(t: Task, pid: int, size: int, ptr: int) -> int:
    word = t.proc.abi.word
    if size < word:
        raise SyscallError(errno.EINVAL)
    t.proc.mem.write(ptr, (1).to_bytes(word, "little"))
    return word


@syscall("sched_setaffinity", Arg.INT, Arg.SIZE, Arg.PTR)
def sys_sched_setaffinity(t: Task, pid: int, size: int, ptr: int) -> int:
    return 0


@syscall("sched_getscheduler", Arg.INT)
def sys_sched_getscheduler(t: Task, pid: int) -> int:
    return 0


@syscall("sched_getparam", Arg.INT, Arg.PTR)
def sys_sched_getparam(t: Task, pid: int, ptr: int) -> int:
    t.proc.mem.write(ptr, bytes(4))
    return 0


@syscall("getpriority", Arg.INT, Arg.INT)
def sys_getpriority(t: Task, which: int, who: int) -> int:
    return 20


@syscall("setpriority", Arg.INT, Arg.INT, Arg.INT)
def sys_setpriority(t: Task, which: int, who: int, prio: int) -> int:
    return 0


@syscall("getcpu", Arg.PTR, Arg.PTR, Arg.PTR)
def sys_getcpu(t: Task, cpu: int, node: int, cache: int) -> int:
    for ptr in (cpu, node):
        if ptr:
            t.proc.mem.write(ptr, bytes(4))
    return 0
