"""execve: find a program in the VFS, follow ``#!`` lines, and lay an ELF image into a fresh Machine.

Everything is read through the VFS (the interpreter named by PT_INTERP included), so a program can
only run what its sandbox shows it.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from unicorn import x86_const as x86

from .. import loader
from ..core.machine import Machine
from ..core.memory import page_up
from ..errors import NotExecutableError
from ..loader.image import Format, Image, Perm
from .stack import StartInfo, build_stack
from .syscall import SyscallError

if TYPE_CHECKING:
    from .kernel import Kernel

MAX_SHEBANG_DEPTH = 4
S_IFDIR = 0o040000


def read_program(kernel: Kernel, path: str, cwd: str) -> tuple[str, bytes]:
    """(canonical guest path, file bytes) of an executable; OSError with errno when it is not one."""
    vfs = kernel.vfs
    canonical = vfs.realpath(path, cwd)
    st = vfs.stat(canonical)
    if st.kind == S_IFDIR:
        raise OSError(errno.EACCES, "is a directory")
    vfs.access(canonical, 1)  # X_OK
    return canonical, vfs.read_bytes(canonical)


def resolve_script(
    kernel: Kernel, path: str, argv: list[bytes], cwd: str
) -> tuple[str, bytes, list[bytes]]:
    """Follow ``#!`` interpreters; returns (program path, its bytes, final argv)."""
    for _ in range(MAX_SHEBANG_DEPTH):
        canonical, data = read_program(kernel, path, cwd)
        if not data.startswith(b"#!"):
            return canonical, data, argv
        line = data[2:].split(b"\n", 1)[0].strip()
        if not line:
            raise OSError(errno.ENOEXEC, "empty #! line")
        parts = line.split(None, 1)
        interp = parts[0]
        new_argv = [interp] + parts[1:] + [path.encode()] + argv[1:]
        path, argv = interp.decode("utf-8", "surrogateescape"), new_argv
    raise OSError(errno.ELOOP, "too many #! levels")


def parse(kernel: Kernel, data: bytes, name: str) -> Image:
    try:
        image = loader.load_bytes(data, name)
    except NotExecutableError:
        raise SyscallError(errno.ENOEXEC) from None
    if image.format is not Format.ELF:
        raise SyscallError(errno.ENOEXEC)
    return image


def map_image(machine: Machine, image: Image, bias: int, name: str, inode: int = 0) -> int:
    """Map an ELF's PT_LOAD segments at ``bias``; return the end of the highest one.

    Pages backed by the file carry its name, offset and inode (as /proc/self/maps shows them);
    pages wholly past a segment's file bytes are anonymous, like the kernel's bss mapping.
    """
    mem = machine.mem
    pages: dict[int, tuple[Perm, int | None]] = {}
    for seg in image.segments:
        start = seg.vaddr + bias
        lo = start & ~0xFFF
        hi = page_up(start + seg.memsz)
        file_end = start + len(seg.data)
        for page in range(lo, hi, 0x1000):
            perms, offset = pages.get(page, (Perm.NONE, None))
            if page < file_end and offset is None:
                offset = seg.file_offset - (start - page)
            pages[page] = (perms | seg.perms, offset)
    runs: list[list] = []  # [start, end, perms, offset]
    for page in sorted(pages):
        perms, offset = pages[page]
        if runs:
            last = runs[-1]
            contiguous = (
                last[3] is None
                and offset is None
                or (
                    last[3] is not None
                    and offset is not None
                    and last[3] + (page - last[0]) == offset
                )
            )
            if last[1] == page and last[2] == perms and contiguous:
                last[1] = page + 0x1000
                continue
        runs.append([page, page + 0x1000, perms, offset])
    for lo, hi, perms, offset in runs:
        if offset is None:
            mem.map(lo, hi - lo, perms, "")
        else:
            mem.map(lo, hi - lo, perms, name, offset=max(offset, 0), inode=inode)
    for seg in image.segments:
        if seg.data:
            mem.poke(seg.vaddr + bias, seg.data)
    return max(seg.vaddr + bias + seg.memsz for seg in image.segments)


def start_image(
    kernel: Kernel,
    machine: Machine,
    image: Image,
    exe: str,
    execfn: str,
    argv: list[bytes],
    envp: list[bytes],
    platform: bytes,
    word: int,
) -> None:
    """Map ``image`` (and its interpreter) into ``machine`` and build the initial stack and registers."""
    mem = machine.mem
    lay = machine.layout
    bias = lay.pie_base - image.base if image.relocatable else 0
    end = map_image(machine, image, bias, exe, kernel.vfs.stat(exe).ino)
    mem.init_brk(end)
    entry = image.entry + bias
    interp_base = 0
    if image.interpreter:
        ipath, idata = read_program(kernel, image.interpreter, "/")
        interp = parse(kernel, idata, ipath)
        if interp.arch is not image.arch:
            raise SyscallError(errno.ELIBBAD)
        base = mem.find_free(page_up(interp.size))
        ibias = base - interp.base
        map_image(machine, interp, ibias, ipath, kernel.vfs.stat(ipath).ino)
        interp_base = base
        entry = interp.entry + ibias
    mem.map(
        lay.stack_top - lay.stack_size,
        lay.stack_size,
        Perm.RWX if image.stack_exec else Perm.RW,
        "[stack]",
    )
    info = StartInfo(
        argv=argv,
        envp=envp,
        execfn=execfn.encode("utf-8", "surrogateescape"),
        phdr=image.phdr_vaddr + bias,
        phent=image.phentsize or (56 if machine.is64 else 32),
        phnum=image.phnum,
        entry=image.entry + bias,
        base=interp_base,
        uid=kernel.identity.uid,
        gid=kernel.identity.gid,
        random=kernel.random_bytes(16),
        platform=platform,
    )
    sp, blob = build_stack(lay.stack_top, info, word)
    mem.poke(sp, blob)
    mem.arg_start, mem.arg_end = info.arg_range
    machine.sp = sp
    machine.pc = entry
    machine.reg.write(x86.UC_X86_REG_RDX if machine.is64 else x86.UC_X86_REG_EDX, 0)
