"""What ``appvirt inspect`` prints: a human-readable report of an Image, or the same facts as JSON.

Works from the Image alone (so a cached Image is enough; LIEF is never needed). Capstone is imported
only to disassemble the first instructions at the entry point.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from appvirt.loader.image import Arch, Format, Image, Import, Perm, Segment

# IMAGE_SUBSYSTEM_* values worth naming.
PE_SUBSYSTEMS = {
    1: "native",
    2: "Windows GUI",
    3: "Windows console",
    5: "OS/2 console",
    7: "POSIX console",
    9: "Windows CE GUI",
    10: "EFI application",
    11: "EFI boot service driver",
    12: "EFI runtime driver",
    13: "EFI ROM",
    14: "Xbox",
    16: "Windows boot application",
}

# IMAGE_REL_BASED_* values worth naming.
PE_RELOCATION_KINDS = {1: "HIGH", 2: "LOW", 3: "HIGHLOW", 4: "HIGHADJ", 10: "DIR64"}

_NAMES_SHOWN = 6  # imported names listed per DLL in the text report


def kind(image: Image) -> str:
    """A short description of what sort of program the image is."""
    if image.format is Format.PE:
        return "DLL" if image.is_dll else "executable"
    if not image.relocatable:
        return "static executable" if image.static else "dynamic executable"
    if image.static:
        return "static PIE or self-relocating (e.g. a dynamic loader)"
    return "dynamic PIE executable"


def perm_string(perms: Perm) -> str:
    return "".join(
        letter if perms & flag else "-"
        for letter, flag in (("R", Perm.R), ("W", Perm.W), ("X", Perm.X))
    )


def disassemble(image: Image, count: int) -> list[tuple[int, str, str]]:
    """Up to ``count`` (address, mnemonic, operands) at the entry point; [] if there is no code."""
    code = _entry_bytes(image, count * 15)
    if count <= 0 or not code:
        return []
    try:
        import capstone
    except ImportError:
        return []
    mode = capstone.CS_MODE_64 if image.arch is Arch.X86_64 else capstone.CS_MODE_32
    engine = capstone.Cs(capstone.CS_ARCH_X86, mode)
    return [
        (address, mnemonic, operands)
        for address, _size, mnemonic, operands in engine.disasm_lite(code, image.entry, count)
    ]


def _entry_bytes(image: Image, limit: int) -> bytes:
    if image.entry == 0 and image.is_dll:
        return b""
    segment = _segment_at(image.segments, image.entry)
    if segment is None:
        return b""
    offset = image.entry - segment.vaddr
    code = segment.data[offset : offset + limit]
    # Past the file bytes the segment is zero-filled; show that too, up to the limit.
    room = min(limit - len(code), segment.memsz - offset - len(code))
    return code + bytes(max(room, 0))


def _segment_at(segments: list[Segment], address: int) -> Segment | None:
    return next((s for s in segments if s.vaddr <= address < s.vaddr + s.memsz), None)


def _imports_by_dll(imports: list[Import]) -> dict[str, list[Import]]:
    grouped: dict[str, list[Import]] = defaultdict(list)
    for entry in imports:
        grouped[entry.dll].append(entry)
    return dict(grouped)


def _import_label(entry: Import) -> str:
    return entry.name if entry.name is not None else f"#{entry.ordinal}"


def describe(image: Image, disasm_count: int = 8) -> str:
    """The multi-line text report of ``appvirt inspect`` (no trailing newline)."""
    width = 18 if image.arch is Arch.X86_64 else 10
    lines = [image.path]
    fmt = image.format.value.upper()
    lines.append(f"  format       {fmt} ({image.machine_name or image.arch.value})")
    lines.append(f"  arch         {image.arch.value}")
    lines.append(f"  type         {kind(image)}")
    if image.format is Format.PE:
        subsystem = PE_SUBSYSTEMS.get(image.subsystem, f"subsystem {image.subsystem}")
        lines.append(f"  subsystem    {subsystem}")
    entry = "none" if image.entry == 0 and image.is_dll else f"{image.entry:#x}"
    lines.append(f"  entry        {entry}")
    lines.append(f"  base         {image.base:#x}  size {image.size:#x}")
    lines.append(f"  relocatable  {'yes' if image.relocatable else 'no'}")
    lines += _elf_lines(image) if image.format is Format.ELF else _pe_lines(image)
    lines.append("")
    lines.append("segments:")
    lines.append(f"  {'vaddr':<{width}} {'memsz':>10} {'filesz':>10} perm  name")
    for seg in image.segments:
        lines.append(
            f"  {seg.vaddr:#0{width}x} {seg.memsz:#10x} {len(seg.data):#10x} "
            f"{perm_string(seg.perms)}   {seg.name}".rstrip()
        )
    if image.format is Format.PE:
        lines += _pe_tables(image)
    code = disassemble(image, disasm_count)
    if code:
        lines.append("")
        lines.append("entry point:")
        for address, mnemonic, operands in code:
            lines.append(f"  {address:#0{width}x}  {mnemonic} {operands}".rstrip())
    return "\n".join(lines)


def _elf_lines(image: Image) -> list[str]:
    lines = [f"  interpreter  {image.interpreter or '(none: static)'}"]
    if image.phdr_vaddr:
        lines.append(
            f"  phdr         {image.phdr_vaddr:#x} ({image.phnum} x {image.phentsize} bytes)"
        )
    lines.append(f"  stack        {'executable' if image.stack_exec else 'not executable'}")
    if image.tls is not None:
        tls = image.tls
        lines.append(
            f"  TLS          {tls.vaddr:#x}: template {tls.filesz:#x} bytes, "
            f"memsz {tls.memsz:#x}, align {tls.align}"
        )
    return lines


def _pe_lines(image: Image) -> list[str]:
    lines = [
        f"  stack        reserve {image.stack_reserve:#x}, commit {image.stack_commit:#x}",
        f"  heap         reserve {image.heap_reserve:#x}",
    ]
    if image.exception_dir != (0, 0):
        address, size = image.exception_dir
        lines.append(f"  exceptions   {address:#x} ({size:#x} bytes)")
    if image.pe_tls_index_addr or image.tls_callbacks:
        start, end = image.pe_tls_raw
        lines.append(
            f"  TLS          index at {image.pe_tls_index_addr:#x}, template {start:#x}-{end:#x}"
        )
    kinds = Counter(kind for _addr, kind in image.relocations)
    summary = ", ".join(
        f"{PE_RELOCATION_KINDS.get(k, str(k))} {n}" for k, n in sorted(kinds.items())
    )
    lines.append(f"  relocations  {len(image.relocations)}" + (f" ({summary})" if summary else ""))
    return lines


def _pe_tables(image: Image) -> list[str]:
    lines = []
    grouped = _imports_by_dll(image.imports)
    lines.append("")
    lines.append(f"imports: {len(image.imports)} from {len(grouped)} DLLs")
    for dll, entries in grouped.items():
        names = ", ".join(_import_label(e) for e in entries[:_NAMES_SHOWN])
        more = ", ..." if len(entries) > _NAMES_SHOWN else ""
        lines.append(f"  {dll} ({len(entries)}): {names}{more}")
    if image.exports:
        lines.append("")
        lines.append(f"exports: {len(image.exports)}")
        for export in image.exports:
            label = export.name or "(by ordinal)"
            target = f"-> {export.forwarder}" if export.forwarder else f"{export.address:#x}"
            lines.append(f"  {export.ordinal:>5} {label} {target}")
    if image.tls_callbacks:
        lines.append("")
        lines.append("TLS callbacks: " + ", ".join(f"{c:#x}" for c in image.tls_callbacks))
    return lines


def describe_json(image: Image, disasm_count: int = 8) -> dict[str, Any]:
    """The facts of ``describe`` as JSON-ready data (addresses as integers)."""
    result: dict[str, Any] = {
        "path": image.path,
        "format": image.format.value,
        "arch": image.arch.value,
        "machine": image.machine_name,
        "type": kind(image),
        "entry": image.entry,
        "base": image.base,
        "size": image.size,
        "relocatable": image.relocatable,
        "segments": [
            {
                "vaddr": s.vaddr,
                "memsz": s.memsz,
                "filesz": len(s.data),
                "file_offset": s.file_offset,
                "perms": perm_string(s.perms),
                "name": s.name,
            }
            for s in image.segments
        ],
        "entry_disassembly": [
            {"address": a, "mnemonic": m, "operands": o}
            for a, m, o in disassemble(image, disasm_count)
        ],
    }
    if image.format is Format.ELF:
        result.update(
            static=image.static,
            interpreter=image.interpreter,
            phdr_vaddr=image.phdr_vaddr,
            phentsize=image.phentsize,
            phnum=image.phnum,
            stack_exec=image.stack_exec,
            tls=None
            if image.tls is None
            else {
                "vaddr": image.tls.vaddr,
                "filesz": image.tls.filesz,
                "memsz": image.tls.memsz,
                "align": image.tls.align,
            },
        )
    else:
        result.update(
            is_dll=image.is_dll,
            subsystem=image.subsystem,
            subsystem_name=PE_SUBSYSTEMS.get(image.subsystem, ""),
            stack_reserve=image.stack_reserve,
            stack_commit=image.stack_commit,
            heap_reserve=image.heap_reserve,
            exception_dir={"address": image.exception_dir[0], "size": image.exception_dir[1]},
            imports=[
                {"dll": i.dll, "name": i.name, "ordinal": i.ordinal, "slot": i.slot}
                for i in image.imports
            ],
            exports=[
                {
                    "name": e.name,
                    "ordinal": e.ordinal,
                    "address": e.address,
                    "forwarder": e.forwarder,
                }
                for e in image.exports
            ],
            relocations={
                "count": len(image.relocations),
                "kinds": {
                    PE_RELOCATION_KINDS.get(k, str(k)): n
                    for k, n in sorted(Counter(k for _a, k in image.relocations).items())
                },
            },
            tls_callbacks=list(image.tls_callbacks),
            tls_index_addr=image.pe_tls_index_addr,
            tls_template={"start": image.pe_tls_raw[0], "end": image.pe_tls_raw[1]},
        )
    return result
