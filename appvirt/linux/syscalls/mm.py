"""Memory syscalls: brk, mmap (anonymous and file-backed), munmap, mprotect, mremap."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from ...core.memory import OutOfMemory, page_up
from ...loader.image import Perm
from ..syscall import Arg, Ret, SyscallError, syscall
from .common import read_words

if TYPE_CHECKING:
    from ..kernel import Task

MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_GROWSDOWN = 0x100
MAP_FIXED_NOREPLACE = 0x100000
PROT_MASK = 7


@syscall("brk", Arg.PTR, ret=Ret.HEX)
def sys_brk(t: Task, addr: int) -> int:
    return t.proc.mem.set_brk(addr)


def do_mmap(t: Task, addr: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
    mem = t.proc.mem
    if length <= 0 or offset & 0xFFF or offset < 0:
        raise SyscallError(errno.EINVAL)
    if not flags & (MAP_SHARED | MAP_PRIVATE):
        raise SyscallError(errno.EINVAL)
    size = page_up(length)
    perms = Perm(prot & PROT_MASK)
    file = None
    if not flags & MAP_ANONYMOUS:
        file = t.proc.fds.get(fd)
        if not file.readable:
            raise SyscallError(errno.EACCES)
        if flags & MAP_SHARED and prot & 2 and not file.writable:
            raise SyscallError(errno.EACCES)
    try:
        if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
            if addr & 0xFFF:
                raise SyscallError(errno.EINVAL)
            if flags & MAP_FIXED_NOREPLACE and not mem.is_free(addr, addr + size):
                raise SyscallError(errno.EEXIST)
            start = addr
        else:
            start = mem.find_free(size, addr & ~0xFFF)
        name = file.path if file is not None else ""
        st = file.stat() if file is not None else None
        mem.map(
            start,
            size,
            perms,
            name,
            data=file.pread(length, offset) if file is not None else b"",
            offset=offset,
            inode=st.ino if st is not None else 0,
            shared=bool(flags & MAP_SHARED),
        )
    except OutOfMemory:
        raise SyscallError(errno.ENOMEM) from None
    return start


@syscall("mmap", Arg.PTR, Arg.SIZE, Arg.PROT, Arg.MMAP, Arg.FD, Arg.OFF, ret=Ret.HEX)
def sys_mmap(t: Task, addr: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
    return do_mmap(t, addr, length, prot, flags, fd, offset)


@syscall("mmap2", Arg.PTR, Arg.SIZE, Arg.PROT, Arg.MMAP, Arg.FD, Arg.UINT, ret=Ret.HEX)
def sys_mmap2(t: Task, addr: int, length: int, prot: int, flags: int, fd: int, pgoff: int) -> int:
    return do_mmap(t, addr, length, prot, flags, fd, pgoff * 4096)


@syscall("old_mmap", Arg.PTR, ret=Ret.HEX)
def sys_old_mmap(t: Task, args: int) -> int:
    addr, length, prot, flags, fd, offset = read_words(t, args, 6)
    return do_mmap(t, addr, length, prot, flags, t.proc.abi.s(fd), offset)


@syscall("munmap", Arg.PTR, Arg.SIZE)
def sys_munmap(t: Task, addr: int, length: int) -> int:
    if addr & 0xFFF or length <= 0:
        raise SyscallError(errno.EINVAL)
    t.proc.mem.unmap(addr, length)
    return 0


@syscall("mprotect", Arg.PTR, Arg.SIZE, Arg.PROT)
def sys_mprotect(t: Task, addr: int, length: int, prot: int) -> int:
    if addr & 0xFFF:
        raise SyscallError(errno.EINVAL)
    if length == 0:
        return 0
    try:
        t.proc.mem.protect(addr, length, Perm(prot & PROT_MASK))
    except OutOfMemory:
        raise SyscallError(errno.ENOMEM) from None
    return 0


MREMAP_MAYMOVE = 1
MREMAP_FIXED = 2


@syscall("mremap", Arg.PTR, Arg.SIZE, Arg.SIZE, Arg.HEX, Arg.PTR, ret=Ret.HEX)
def sys_mremap(t: Task, old: int, old_size: int, new_size: int, flags: int, new_addr: int) -> int:
    mem = t.proc.mem
    if old & 0xFFF or new_size == 0:
        raise SyscallError(errno.EINVAL)
    old_size = page_up(old_size)
    new_size = page_up(new_size)
    vma = mem.find(old)
    if vma is None or not mem.covered(old, old + old_size):
        raise SyscallError(errno.EFAULT)
    if new_size <= old_size:
        if new_size < old_size:
            mem.unmap(old + new_size, old_size - new_size)
        return old
    try:
        if not flags & MREMAP_FIXED and mem.is_free(old + old_size, old + new_size):
            mem.map(old + old_size, new_size - old_size, vma.perms, vma.name)
            return old
        if not flags & MREMAP_MAYMOVE:
            raise SyscallError(errno.ENOMEM)
        dest = new_addr if flags & MREMAP_FIXED else mem.find_free(new_size)
        data = bytes(mem.uc.mem_read(old, old_size))
        mem.map(dest, new_size, vma.perms, vma.name)
        mem.poke(dest, data)
        mem.unmap(old, old_size)
        return dest
    except OutOfMemory:
        raise SyscallError(errno.ENOMEM) from None


@syscall("madvise", Arg.PTR, Arg.SIZE, Arg.INT)
def sys_madvise(t: Task, addr: int, length: int, advice: int) -> int:
    if advice == 4:  # MADV_DONTNEED: anonymous private pages read back as zero
        mem = t.proc.mem
        end = addr + page_up(length)
        a = addr
        while a < end:
            v = mem.find(a)
            if v is None:
                raise SyscallError(errno.ENOMEM)
            hi = min(v.end, end)
            if not v.inode and not v.shared:
                mem.poke(a, bytes(hi - a))
            a = hi
    return 0


@syscall("msync", Arg.PTR, Arg.SIZE, Arg.HEX)
def sys_msync(t: Task, addr: int, length: int, flags: int) -> int:
    return 0


@syscall("mlock", Arg.PTR, Arg.SIZE)
def sys_mlock(t: Task, addr: int, length: int) -> int:
    return 0


@syscall("munlock", Arg.PTR, Arg.SIZE)
def sys_munlock(t: Task, addr: int, length: int) -> int:
    return 0


@syscall("membarrier", Arg.INT, Arg.HEX, Arg.INT)
def sys_membarrier(t: Task, cmd: int, flags: int, cpu: int) -> int:
    return 0 if cmd else 0
