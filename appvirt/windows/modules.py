"""Modules in a Windows process: fake system DLLs built from the declarations, and real PE images.

A fake module is a small but real PE image in guest memory: MZ and PE headers, an export directory
whose functions point at stubs (``mov eax, ID; syscall; ret`` on x64, ``mov eax, ID; sysenter;
ret N`` on i386, N from the declaration), and a data area for exported variables. So a program that
walks export tables by hand finds what GetProcAddress finds. Real images (the program and the DLLs
it ships) are mapped section by section with their own permissions and relocated when their
preferred base is taken.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..core.memory import OutOfMemory, page_up
from ..errors import NotExecutableError
from ..loader.image import Image, Perm
from .api.decl import APIS, CDECL, DATA, STDCALL, Api, T

STUB = 16  # bytes per export stub
SPARE_STUBS = 64  # room for exports first asked for after the module was built
IMAGE_REL_BASED_HIGHLOW = 3
IMAGE_REL_BASED_DIR64 = 10


@dataclass(slots=True, eq=False)
class Module:
    """A loaded module: what GetModuleHandle, GetProcAddress and the PEB loader list describe."""

    name: str  # base name as Windows reports it: "KERNEL32.DLL", "sampledll64.dll"
    path: str  # full Windows path
    base: int
    size: int
    entry: int = 0
    fake: bool = False
    exports: dict[str, int] = field(default_factory=dict)  # lower-case name -> address
    ordinals: dict[int, int] = field(default_factory=dict)
    forwarders: dict[str, str] = field(default_factory=dict)
    image: Image | None = None
    refs: int = 1
    ldr_entry: int = 0
    dll_key: str = ""  # canonical fake-DLL key ("kernel32") for fake modules
    spare: list[int] = field(default_factory=list)  # free stub addresses of a fake module
    tls_callbacks: list[int] = field(default_factory=list)


def stub_bytes(is64: bool, api_id: int, api: Api, scratch: int = 0) -> bytes:
    """The machine code of one export stub, padded with int3.

    On i386 a function returning a double leaves it in st(0): its stub loads the value the handler
    stored at ``scratch`` (``fld qword [scratch]``) before returning.
    """
    # The sentinel a callback returns to keeps the callback's result (which ``mov eax, ID`` is
    # about to overwrite) in a register the trap leaves alone: R10 on x64, ECX on i386.
    keep = api.name == "__callback_return"
    if is64:
        code = b"\x49\x89\xc2" if keep else b""  # mov r10, rax
        code += b"\xb8" + struct.pack("<I", api_id) + b"\x0f\x05\xc3"
    elif keep:
        code = b"\x89\xc1\xb8" + struct.pack("<I", api_id) + b"\x0f\x34\xc3"  # mov ecx, eax
    else:
        pop = 0 if api.conv is CDECL or api.variadic else 4 * api.slots32()
        tail = b"\xc2" + struct.pack("<H", pop) if pop else b"\xc3"
        if api.ret is T.DOUBLE:
            tail = b"\xdd\x05" + struct.pack("<I", scratch) + tail
        code = b"\xb8" + struct.pack("<I", api_id) + b"\x0f\x34" + tail
    return code + b"\xcc" * (STUB - len(code))


def unknown_api(dll: str, name: str) -> Api:
    """A declaration for an export nobody declared: it fails; on i386 its stub pops nothing, and
    the trap pops what the caller's code shows it pushed (dispatch.pop_unknown_stdcall)."""
    conv = CDECL if dll == "msvcrt" else STDCALL
    return Api(dll, name, (), T.UINT, conv, None, undeclared=True)


class ModuleBuilder:
    """Builds fake modules and maps real ones into one process's address space."""

    def __init__(self, mem: object, is64: bool, register: Callable[[Api], int]) -> None:
        self.mem = mem
        self.is64 = is64
        self.register = register  # gives an Api its dispatch ID
        # One RW page for results passed through memory (an i386 double for st(0)).
        self.scratch = mem.map(mem.find_free(0x1000), 0x1000, Perm.RW, "[scratch]")  # type: ignore[attr-defined]

    # -- fake modules ---------------------------------------------------------------------------
    def build_fake(self, key: str, file_name: str, extra: Iterable[str] = ()) -> Module:
        """A fake DLL exporting every declaration for ``key`` plus the ``extra`` names asked for."""
        apis: dict[str, Api] = {n: a for (d, n), a in APIS.items() if d == key}
        for name in extra:
            if name.lower() not in apis and (key, name.lower()) not in DATA:
                apis[name.lower()] = unknown_api(key, name)
        datas = [d for (k, _n), d in DATA.items() if k == key]
        names = sorted({a.name for a in apis.values()} | {d.name for d in datas})
        nfunc = len(names)
        # Export directory: header, function RVAs, name RVAs, ordinals, then the strings.
        strings = bytearray()
        dll_name_off = len(strings)
        strings += file_name.encode() + b"\0"
        name_offs = []
        for n in names:
            name_offs.append(len(strings))
            strings += n.encode() + b"\0"
        edata_rva = 0x1000
        fn_rva = edata_rva + 40
        names_rva = fn_rva + 4 * nfunc
        ords_rva = names_rva + 4 * nfunc
        str_rva = ords_rva + 2 * nfunc
        edata_size = str_rva + len(strings) - edata_rva
        text_rva = page_up(edata_rva + edata_size)
        nstubs = len(apis) + SPARE_STUBS
        text_size = page_up(nstubs * STUB)
        data_rva = text_rva + text_size
        data_size = page_up(sum((d.size64 if self.is64 else d.size) + 16 for d in datas) or 1)
        size = data_rva + data_size
        base = self.mem.find_free(size)  # type: ignore[attr-defined]
        module = Module(name=file_name, path="C:\\Windows\\System32\\" + file_name.lower(),
                        base=base, size=size, fake=True, dll_key=key)  # fmt: skip
        stubs = bytearray()
        addr_of: dict[str, int] = {}
        for api in sorted(apis.values(), key=lambda a: a.name):
            api_id = self.register(api)
            addr_of[api.name] = base + text_rva + len(stubs)
            stubs += stub_bytes(self.is64, api_id, api, self.scratch)
        for i in range(SPARE_STUBS):
            module.spare.append(base + text_rva + len(stubs) + i * STUB)
        data_off = 0
        for d in datas:
            addr_of[d.name] = base + data_rva + data_off
            data_off += ((d.size64 if self.is64 else d.size) + 15) & ~15
        funcs = struct.pack(f"<{nfunc}I", *[addr_of[n] - base for n in names])
        name_ptrs = struct.pack(f"<{nfunc}I", *[str_rva + o for o in name_offs])
        ords = struct.pack(f"<{nfunc}H", *range(nfunc))
        edir = struct.pack("<IIHHIIIIIII", 0, 0, 0, 0, str_rva + dll_name_off, 1, nfunc, nfunc,
                           fn_rva, names_rva, ords_rva)  # fmt: skip
        edata = edir + funcs + name_ptrs + ords + bytes(strings)
        headers = pe_headers(self.is64, base, size, (edata_rva, edata_size),
                             [(".edata", edata_rva, page_up(edata_size), 0x40000040),
                              (".text", text_rva, text_size, 0x60000020),
                              (".data", data_rva, data_size, 0xC0000040)])  # fmt: skip
        mem = self.mem
        mem.map(base, text_rva, Perm.R, file_name)  # type: ignore[attr-defined]
        mem.map(base + text_rva, text_size, Perm.RX, file_name)  # type: ignore[attr-defined]
        mem.map(base + data_rva, data_size, Perm.RW, file_name)  # type: ignore[attr-defined]
        mem.poke(base, headers)  # type: ignore[attr-defined]
        mem.poke(base + edata_rva, edata)  # type: ignore[attr-defined]
        mem.poke(base + text_rva, bytes(stubs) + b"\xcc" * (SPARE_STUBS * STUB))  # type: ignore[attr-defined]
        for i, n in enumerate(names):
            module.exports[n.lower()] = addr_of[n]
            module.ordinals[i + 1] = addr_of[n]
        return module

    def add_export(self, module: Module, api: Api) -> int:
        """Give a fake module a stub for an export first asked for after it was built."""
        if not module.spare:
            raise OutOfMemory()
        addr = module.spare.pop(0)
        self.mem.poke(addr, stub_bytes(self.is64, self.register(api), api, self.scratch))  # type: ignore[attr-defined]
        module.exports[api.name.lower()] = addr
        return addr

    # -- real images ----------------------------------------------------------------------------
    def map_image(self, image: Image, name: str, path: str) -> Module:
        """Map a PE image at its preferred base, or anywhere free when that is taken (relocating)."""
        mem = self.mem
        size = page_up(image.size)
        base = image.base
        if not (base >= 0x10000 and mem.is_free(base, base + size) and  # type: ignore[attr-defined]
                base + size <= mem.layout.task_size):  # type: ignore[attr-defined]  # fmt: skip
            if not image.relocatable:
                raise NotExecutableError(
                    f"{name}: its base address is taken and it has no relocations"
                )
            base = mem.find_free(size)  # type: ignore[attr-defined]
        delta = base - image.base
        mem.map(base, size, Perm.R, name)  # type: ignore[attr-defined]
        for seg in image.segments:
            if seg.data:
                mem.poke(seg.vaddr + delta, seg.data)  # type: ignore[attr-defined]
        if delta:
            self._relocate(image, delta)
        for seg in image.segments:
            if seg.perms not in (Perm.R, Perm.NONE):
                mem.protect(seg.vaddr + delta, seg.memsz, seg.perms or Perm.R)  # type: ignore[attr-defined]
        module = Module(name=name, path=path, base=base, size=size,
                        entry=image.entry + delta if image.entry else 0, image=image)  # fmt: skip
        for exp in image.exports:
            if exp.forwarder:
                if exp.name:
                    module.forwarders[exp.name.lower()] = exp.forwarder
                continue
            if exp.name:
                module.exports[exp.name.lower()] = exp.address + delta
            module.ordinals[exp.ordinal] = exp.address + delta
        module.tls_callbacks = [c + delta for c in image.tls_callbacks]
        return module

    def _relocate(self, image: Image, delta: int) -> None:
        mem = self.mem
        for addr, kind in image.relocations:
            target = addr + delta
            if kind == IMAGE_REL_BASED_DIR64:
                (v,) = struct.unpack("<Q", mem.uc.mem_read(target, 8))  # type: ignore[attr-defined]
                mem.poke(target, struct.pack("<Q", (v + delta) & 0xFFFFFFFFFFFFFFFF))  # type: ignore[attr-defined]
            elif kind == IMAGE_REL_BASED_HIGHLOW:
                (v,) = struct.unpack("<I", mem.uc.mem_read(target, 4))  # type: ignore[attr-defined]
                mem.poke(target, struct.pack("<I", (v + delta) & 0xFFFFFFFF))  # type: ignore[attr-defined]


def pe_headers(is64: bool, base: int, size: int, export_dir: tuple[int, int],
               sections: list[tuple[str, int, int, int]]) -> bytes:  # fmt: skip
    """MZ and PE headers of a fake DLL: enough for code that parses a module's headers."""
    out = bytearray(0x1000)
    out[0:2] = b"MZ"
    struct.pack_into("<I", out, 0x3C, 0x40)
    out[0x40:0x44] = b"PE\0\0"
    opt_size = 240 if is64 else 224
    machine = 0x8664 if is64 else 0x14C
    struct.pack_into("<HHIIIHH", out, 0x44, machine, len(sections), 0, 0, 0, opt_size, 0x2022)
    opt = 0x58
    if is64:
        struct.pack_into("<HBBIIIII", out, opt, 0x20B, 14, 0, 0, 0, 0, 0, 0x1000)
        struct.pack_into("<QIIHHHHHHIIIIHHQQQQII", out, opt + 24, base, 0x1000, 0x200, 6, 1, 6, 1,
                         6, 1, 0, size, 0x1000, 0, 3, 0x160, 0x40000, 0x1000, 0x100000, 0x1000,
                         0, 16)  # fmt: skip
        dirs = opt + 112
    else:
        struct.pack_into("<HBBIIIIII", out, opt, 0x10B, 14, 0, 0, 0, 0, 0, 0x1000, 0)
        struct.pack_into("<IIIHHHHHHIIIIHHIIIIII", out, opt + 28, base, 0x1000, 0x200, 6, 1, 6, 1,
                         6, 1, 0, size, 0x1000, 0, 3, 0x140, 0x40000, 0x1000, 0x100000, 0x1000,
                         0, 16)  # fmt: skip
        dirs = opt + 96
    struct.pack_into("<II", out, dirs, *export_dir)
    sec = opt + opt_size
    for name, rva, vsize, flags in sections:
        struct.pack_into(
            "<8sIIIIIIHHI", out, sec, name.encode(), vsize, rva, 0, 0, 0, 0, 0, 0, flags
        )
        sec += 40
    return bytes(out)
