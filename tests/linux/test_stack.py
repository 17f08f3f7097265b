"""The initial process stack (appvirt/linux/stack.py), parsed back as a C runtime would read it.

The System V ABI (x86-64 psABI 3.4.1, i386 psABI 2.3.1): at process entry the stack pointer is
16-byte aligned and points at argc, followed by the argv pointers and a NULL, the envp pointers
and a NULL, then auxv (type, value) pairs ending with AT_NULL; every pointer leads to data above
them on the same stack.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appvirt.linux import stack as S
from appvirt.linux.stack import StartInfo, build_stack

RANDOM = bytes(range(0xA0, 0xB0))


def info(argv: list[bytes], envp: list[bytes], **kw: object) -> StartInfo:
    base: dict[str, object] = dict(
        argv=argv,
        envp=envp,
        execfn=b"/opt/app/bin/tool",
        phdr=0x400040,
        phent=56,
        phnum=11,
        entry=0x401A2C,
        base=0xF7F0_0000,
        uid=1234,
        gid=5678,
        random=RANDOM,
        platform=b"x86_64",
    )
    base.update(kw)
    return StartInfo(**base)  # type: ignore[arg-type]


@dataclass
class Parsed:
    sp: int
    argc: int
    argv: list[int]
    envp: list[int]
    auxv: list[tuple[int, int]]
    table_end: int  # first address past auxv's AT_NULL pair


class StackView:
    """The written blob at its guest address, read the way crt1/ld.so read it."""

    def __init__(self, sp: int, blob: bytes, word: int) -> None:
        self.sp, self.blob, self.word = sp, blob, word
        self.fmt = "<Q" if word == 8 else "<I"

    def word_at(self, addr: int) -> int:
        off = addr - self.sp
        assert 0 <= off <= len(self.blob) - self.word, f"{addr:#x} is outside the stack blob"
        return int(struct.unpack_from(self.fmt, self.blob, off)[0])

    def bytes_at(self, addr: int, size: int) -> bytes:
        off = addr - self.sp
        assert 0 <= off and off + size <= len(self.blob), f"{addr:#x}+{size} is outside"
        return self.blob[off : off + size]

    def cstr(self, addr: int) -> bytes:
        off = addr - self.sp
        assert 0 <= off < len(self.blob), f"{addr:#x} is outside the stack blob"
        end = self.blob.index(b"\0", off)
        return self.blob[off:end]

    def parse(self) -> Parsed:
        addr = self.sp
        argc = self.word_at(addr)
        addr += self.word
        lists: list[list[int]] = []
        for _ in range(2):  # argv, then envp
            ptrs = []
            while (p := self.word_at(addr)) != 0:
                ptrs.append(p)
                addr += self.word
            addr += self.word
            lists.append(ptrs)
        auxv = []
        while True:
            key, value = self.word_at(addr), self.word_at(addr + self.word)
            addr += 2 * self.word
            auxv.append((key, value))
            if key == S.AT_NULL:
                break
        return Parsed(self.sp, argc, lists[0], lists[1], auxv, addr)


def build(top: int, start: StartInfo, word: int) -> tuple[StackView, Parsed]:
    sp, blob = build_stack(top, start, word)
    view = StackView(sp, blob, word)
    return view, view.parse()


ARCHES = [(8, 0x7FFF_FFFF_F000), (4, 0xBFFF_F000)]


@pytest.mark.parametrize("word,top", ARCHES)
def test_layout(word: int, top: int) -> None:
    argv = [b"tool", b"--flag", b"two words", b""]
    envp = [b"PATH=/usr/bin:/bin", b"LANG=C"]
    start = info(argv, envp, platform=b"x86_64" if word == 8 else b"i686")
    view, p = build(top, start, word)

    assert p.sp % 16 == 0
    assert p.sp + len(view.blob) <= top
    assert p.argc == len(argv)
    assert [view.cstr(a) for a in p.argv] == argv
    assert [view.cstr(a) for a in p.envp] == envp

    aux = dict(p.auxv)
    assert len(aux) == len(p.auxv), "an auxv type appears twice"
    assert p.auxv[-1] == (S.AT_NULL, 0)
    assert aux[S.AT_PHDR] == 0x400040
    assert aux[S.AT_PHENT] == 56
    assert aux[S.AT_PHNUM] == 11
    assert aux[S.AT_ENTRY] == 0x401A2C
    assert aux[S.AT_BASE] == 0xF7F0_0000
    assert aux[S.AT_PAGESZ] == 4096
    assert (aux[S.AT_UID], aux[S.AT_EUID]) == (1234, 1234)
    assert (aux[S.AT_GID], aux[S.AT_EGID]) == (5678, 5678)
    assert aux[S.AT_SECURE] == 0
    assert aux[S.AT_CLKTCK] == 100
    assert aux[S.AT_HWCAP] & (1 << 26), "SSE2 must be announced"
    assert view.bytes_at(aux[S.AT_RANDOM], 16) == RANDOM
    assert view.cstr(aux[S.AT_EXECFN]) == b"/opt/app/bin/tool"
    assert view.cstr(aux[S.AT_PLATFORM]) == (b"x86_64" if word == 8 else b"i686")


@pytest.mark.parametrize("word,top", ARCHES)
def test_pointed_data_is_disjoint_and_above_the_tables(word: int, top: int) -> None:
    argv = [b"a", b"bb", b"ccc"]
    envp = [b"X=1", b"Y="]
    view, p = build(top, info(argv, envp), word)
    aux = dict(p.auxv)
    regions = [(a, len(view.cstr(a)) + 1) for a in [*p.argv, *p.envp]]
    regions += [(aux[S.AT_EXECFN], len(view.cstr(aux[S.AT_EXECFN])) + 1)]
    regions += [(aux[S.AT_PLATFORM], len(view.cstr(aux[S.AT_PLATFORM])) + 1)]
    regions += [(aux[S.AT_RANDOM], 16)]
    regions.sort()
    assert regions[0][0] >= p.table_end, "strings overlap argv/envp/auxv"
    for (a, alen), (b, _) in zip(regions, regions[1:], strict=False):
        assert a + alen <= b, f"{a:#x}+{alen} overlaps {b:#x}"
    assert regions[-1][0] + regions[-1][1] <= top


@pytest.mark.parametrize("word,top", ARCHES)
def test_no_arguments_or_environment(word: int, top: int) -> None:
    view, p = build(top, info([], []), word)
    assert (p.argc, p.argv, p.envp) == (0, [], [])
    assert p.sp % 16 == 0
    assert view.bytes_at(dict(p.auxv)[S.AT_RANDOM], 16) == RANDOM


nonul = st.binary(max_size=40).map(lambda b: b.replace(b"\0", b"@"))


@settings(max_examples=60, deadline=None)
@given(
    argv=st.lists(nonul, max_size=8),
    envp=st.lists(nonul, max_size=8),
    execfn=nonul,
    word=st.sampled_from([4, 8]),
    misalign=st.integers(0, 4095),
)
def test_any_strings_round_trip(
    argv: list[bytes], envp: list[bytes], execfn: bytes, word: int, misalign: int
) -> None:
    top = (0x7FFF_FFFF_F000 if word == 8 else 0xBFFF_F000) - misalign
    view, p = build(top, info(argv, envp, execfn=execfn), word)
    assert p.sp % 16 == 0
    assert p.sp + len(view.blob) <= top
    assert p.argc == len(argv)
    assert [view.cstr(a) for a in p.argv] == argv
    assert [view.cstr(a) for a in p.envp] == envp
    aux = dict(p.auxv)
    assert view.cstr(aux[S.AT_EXECFN]) == execfn
    assert view.bytes_at(aux[S.AT_RANDOM], 16) == RANDOM
