"""Limits and small arithmetic shared by the ELF and PE parsers.

The limits are what the loader accepts before calling a file absurd: they keep a corrupt or hostile
header from asking the process VM for terabytes, and they are the same for both formats.
"""

from __future__ import annotations

from appvirt.errors import NotExecutableError
from appvirt.loader.image import Arch, Segment

PAGE_SIZE = 0x1000

GIB = 1 << 30

# Largest single segment (and whole image span) per architecture.
MAX_IMAGE_SIZE = {Arch.I386: 4 * GIB, Arch.X86_64: 64 * GIB}

# First address past user space: i386 guests get the full 4 GiB, x86-64 the canonical lower half.
ADDRESS_LIMIT = {Arch.I386: 1 << 32, Arch.X86_64: 1 << 47}


def align_down(value: int, alignment: int) -> int:
    return value - value % alignment


def align_up(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def is_power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


def check_ranges(arch: Arch, segments: list[Segment], what: str) -> None:
    """Reject segments that are absurdly large, leave user space, or overlap one another."""
    limit = MAX_IMAGE_SIZE[arch]
    top = ADDRESS_LIMIT[arch]
    for seg in segments:
        label = f"{what} {seg.name}".rstrip()
        if seg.memsz > limit:
            raise NotExecutableError(
                f"{label} is absurdly large ({seg.memsz:#x} bytes; {arch.value} limit {limit:#x})"
            )
        if seg.vaddr + seg.memsz > top:
            raise NotExecutableError(
                f"{label} at {seg.vaddr:#x} (+{seg.memsz:#x}) lies outside the "
                f"{arch.value} user address space"
            )
    ordered = sorted(segments, key=lambda s: s.vaddr)
    for low, high in zip(ordered, ordered[1:], strict=False):
        if high.vaddr < low.vaddr + low.memsz:
            raise NotExecutableError(
                f"overlapping {what}s at {low.vaddr:#x} (+{low.memsz:#x}) and {high.vaddr:#x}"
            )


def check_span(arch: Arch, base: int, size: int) -> None:
    limit = MAX_IMAGE_SIZE[arch]
    if size > limit:
        raise NotExecutableError(
            f"image spans {size:#x} bytes from {base:#x}; {arch.value} limit is {limit:#x}"
        )


def c_string(data: bytes, start: int, limit: int = 4096) -> bytes | None:
    """The NUL-terminated string at ``start`` (at most ``limit`` bytes), or None if unterminated."""
    end = data.find(b"\0", start, start + limit)
    if end < 0:
        return None
    return data[start:end]
