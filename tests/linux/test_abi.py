"""The struct layouts in appvirt/linux/abi.py, checked against the C compiler for both ABIs.

A small C program is compiled at test time with ``gcc`` (x86-64) and ``gcc -m32`` (i386) against
the kernel's UAPI headers and prints sizeof and offsetof of every member the packers fill. Each
packer is fed distinct values; the bytes at the compiler's offsets must hold exactly those values
and every byte no member claims (padding, spare fields) must be zero.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from appvirt.linux.abi import (
    ABI32,
    ABI64,
    STATX_BASIC_STATS,
    pack_dirent64,
    pack_statfs32,
    pack_statfs64,
    pack_statx,
    pack_timespec64,
    unpack_timespec64,
)
from appvirt.vfs.types import DirEntry, FileKind, Stat, StatFs

NS = 1_000_000_000

# C member -> the value a packer must store there, computed from the Stat it was given.
Expect = Callable[[Stat], int]
STAT_MEMBERS: dict[str, Expect] = {
    "st_dev": lambda s: s.dev,
    "st_ino": lambda s: s.ino,
    "st_mode": lambda s: s.mode,
    "st_nlink": lambda s: s.nlink,
    "st_uid": lambda s: s.uid,
    "st_gid": lambda s: s.gid,
    "st_rdev": lambda s: s.rdev,
    "st_size": lambda s: s.size,
    "st_blksize": lambda s: s.blksize,
    "st_blocks": lambda s: s.blocks,
    "st_atime": lambda s: s.atime_ns // NS,
    "st_atime_nsec": lambda s: s.atime_ns % NS,
    "st_mtime": lambda s: s.mtime_ns // NS,
    "st_mtime_nsec": lambda s: s.mtime_ns % NS,
    "st_ctime": lambda s: s.ctime_ns // NS,
    "st_ctime_nsec": lambda s: s.ctime_ns % NS,
}
STAT64_MEMBERS: dict[str, Expect] = {**STAT_MEMBERS, "__st_ino": lambda s: s.ino & 0xFFFFFFFF}
STATX_MEMBERS: dict[str, Expect] = {
    "stx_mask": lambda s: STATX_BASIC_STATS,
    "stx_blksize": lambda s: s.blksize,
    "stx_nlink": lambda s: s.nlink,
    "stx_uid": lambda s: s.uid,
    "stx_gid": lambda s: s.gid,
    "stx_mode": lambda s: s.mode,
    "stx_ino": lambda s: s.ino,
    "stx_size": lambda s: s.size,
    "stx_blocks": lambda s: s.blocks,
    "stx_atime.tv_sec": lambda s: s.atime_ns // NS,
    "stx_atime.tv_nsec": lambda s: s.atime_ns % NS,
    "stx_ctime.tv_sec": lambda s: s.ctime_ns // NS,
    "stx_ctime.tv_nsec": lambda s: s.ctime_ns % NS,
    "stx_mtime.tv_sec": lambda s: s.mtime_ns // NS,
    "stx_mtime.tv_nsec": lambda s: s.mtime_ns % NS,
    # the host C library's dev_t decoding is the reference for the major/minor split
    "stx_rdev_major": lambda s: os.major(s.rdev),
    "stx_rdev_minor": lambda s: os.minor(s.rdev),
    "stx_dev_major": lambda s: os.major(s.dev),
    "stx_dev_minor": lambda s: os.minor(s.dev),
}
# STATX_BTIME is not in the mask the packer reports, so the birth time's bytes carry no meaning.
STATX_UNCHECKED = ("stx_btime.tv_sec", "stx_btime.tv_nsec", "stx_btime.__reserved")
STATFS_MEMBERS: dict[str, Callable[[StatFs], int]] = {
    "f_type": lambda f: f.type,
    "f_bsize": lambda f: f.bsize,
    "f_blocks": lambda f: f.blocks,
    "f_bfree": lambda f: f.bfree,
    "f_bavail": lambda f: f.bavail,
    "f_files": lambda f: f.files,
    "f_ffree": lambda f: f.ffree,
    "f_fsid.val[0]": lambda f: f.fsid[0],
    "f_fsid.val[1]": lambda f: f.fsid[1],
    "f_namelen": lambda f: f.namelen,
    "f_frsize": lambda f: f.frsize,
    "f_flags": lambda f: f.flags,
}
DIRENT64_MEMBERS = ("d_ino", "d_off", "d_reclen", "d_type", "d_name")
DIRENT_MEMBERS = ("d_ino", "d_off", "d_reclen", "d_name")
TIMESPEC_MEMBERS = ("tv_sec", "tv_nsec")
TIMEVAL_MEMBERS = ("tv_sec", "tv_usec")
DT_NAMES = {
    FileKind.FIFO: "DT_FIFO",
    FileKind.CHR: "DT_CHR",
    FileKind.DIR: "DT_DIR",
    FileKind.BLK: "DT_BLK",
    FileKind.REG: "DT_REG",
    FileKind.LNK: "DT_LNK",
    FileKind.SOCK: "DT_SOCK",
}

# (tag, C type, members, only on this ABI or None)
STRUCTS: list[tuple[str, str, tuple[str, ...], str | None]] = [
    ("stat", "struct stat", (*STAT_MEMBERS,), None),
    ("stat64", "struct stat64", (*STAT64_MEMBERS,), "i386"),
    ("statx", "struct statx", (*STATX_MEMBERS, *STATX_UNCHECKED), None),
    ("statfs", "struct statfs", (*STATFS_MEMBERS,), None),
    ("statfs64", "struct statfs64", (*STATFS_MEMBERS,), None),
    ("dirent64", "struct dirent64", DIRENT64_MEMBERS, None),
    ("dirent", "struct linux_dirent", DIRENT_MEMBERS, None),
    ("timespec", "struct timespec", TIMESPEC_MEMBERS, None),
    ("kernel_timespec", "struct __kernel_timespec", TIMESPEC_MEMBERS, None),
    ("timeval", "struct timeval", TIMEVAL_MEMBERS, None),
]

C_HEAD = r"""
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <dirent.h>             /* struct dirent64: glibc hands the kernel's records out as-is */
#include <sys/time.h>
#include <time.h>               /* 32-bit time_t on i386: what the plain time syscalls use */
#include <asm/stat.h>           /* the kernel's struct stat / stat64, not glibc's */
#include <asm/statfs.h>
#include <linux/stat.h>         /* struct statx */
#include <linux/time_types.h>   /* struct __kernel_timespec */

/* getdents(2): defined in fs/readdir.c, not exported to user space */
struct linux_dirent {
    unsigned long d_ino;
    unsigned long d_off;
    unsigned short d_reclen;
    char d_name[1];
};

#define SIZE(tag, T) printf("%s sizeof %zu\n", tag, sizeof(T))
#define MEMBER(tag, T, m) \
    printf("%s %s %zu %zu\n", tag, #m, offsetof(T, m), sizeof(((T *)0)->m))
#define CONST(name) printf("const %s %ld\n", #name, (long)(name))

int main(void)
{
"""


def c_source(arch: str) -> str:
    lines = [C_HEAD]
    for tag, ctype, members, only in STRUCTS:
        if only not in (None, arch):
            continue
        lines.append(f'    SIZE("{tag}", {ctype});\n')
        for member in members:
            lines.append(f'    MEMBER("{tag}", {ctype}, {member});\n')
    for name in (*DT_NAMES.values(), "STATX_BASIC_STATS", "sizeof(long)"):
        lines.append(f"    CONST({name});\n")
    lines.append("    return 0;\n}\n")
    return "".join(lines)


@dataclass
class Layout:
    """What the compiler says about one struct."""

    size: int
    members: dict[str, tuple[int, int]]  # name -> (offset, size)

    def read(self, blob: bytes, member: str) -> int:
        off, size = self.members[member]
        return int.from_bytes(blob[off : off + size], "little")

    def claimed(self, names: tuple[str, ...] | list[str]) -> set[int]:
        out: set[int] = set()
        for name in names:
            off, size = self.members[name]
            out.update(range(off, off + size))
        return out


@dataclass
class CLayouts:
    structs: dict[str, Layout]
    consts: dict[str, int]


def _compile_and_run(arch: str, workdir: Path) -> CLayouts:
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to check struct layouts (apt-get install gcc-multilib)")
    src = workdir / f"layout-{arch}.c"
    exe = workdir / f"layout-{arch}"
    src.write_text(c_source(arch))
    flags = ["-m32"] if arch == "i386" else []
    build = subprocess.run(
        ["gcc", *flags, "-o", str(exe), str(src)], capture_output=True, text=True, timeout=60
    )
    assert build.returncode == 0, build.stderr
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    structs: dict[str, Layout] = {}
    consts: dict[str, int] = {}
    for line in out.splitlines():
        words = line.split()
        if words[0] == "const":
            consts[words[1]] = int(words[2])
        elif words[1] == "sizeof":
            structs[words[0]] = Layout(int(words[2]), {})
        else:
            structs[words[0]].members[words[1]] = (int(words[2]), int(words[3]))
    return CLayouts(structs, consts)


@pytest.fixture(scope="module")
def c64(tmp_path_factory: pytest.TempPathFactory) -> CLayouts:
    return _compile_and_run("x86_64", tmp_path_factory.mktemp("abi64"))


@pytest.fixture(scope="module")
def c32(tmp_path_factory: pytest.TempPathFactory) -> CLayouts:
    return _compile_and_run("i386", tmp_path_factory.mktemp("abi32"))


# Distinct values in every field; WIDE needs the 64-bit fields, NARROW fits the old i386 stat
# (16-bit ids and nlink, 32-bit ino, size below 2 GiB). Device numbers use the new 32-bit
# encoding range (major < 4096, minor < 2**20), which every ABI stores unchanged.
def _times(base: int) -> dict[str, int]:
    return {
        "atime_ns": (base + 1) * NS + 111_111_111,
        "mtime_ns": (base + 2) * NS + 222_222_222,
        "ctime_ns": (base + 3) * NS + 333_333_333,
    }


WIDE = Stat(
    mode=0o100754,
    size=0x2_3456_789A,
    ino=0x1_2345_6789,
    dev=os.makedev(0x123, 0x45678),
    nlink=0x10203,
    uid=0x12345,
    gid=0x23456,
    rdev=os.makedev(0x89, 0xABCDE),
    blksize=0x4000,
    blocks=0x3_4567_89AB,
    **_times(1_700_000_000),
)
NARROW = Stat(
    mode=0o020620,
    size=0x3456_789A,
    ino=0x2345_6789,
    dev=os.makedev(0x12, 0x34),
    nlink=0x0203,
    uid=0x1234,
    gid=0x2345,
    rdev=os.makedev(0x56, 0x78),
    blksize=0x2000,
    blocks=0x0123_4567,
    **_times(1_600_000_000),
)


def check_members(
    blob: bytes, layout: Layout, expected: dict[str, int], unchecked: tuple[str, ...] = ()
) -> None:
    assert len(blob) == layout.size
    got = {name: layout.read(blob, name) for name in expected}
    assert got == expected
    free = set(range(layout.size)) - layout.claimed([*expected, *unchecked])
    stray = sorted(i for i in free if blob[i])
    assert not stray, f"non-zero bytes outside every member at offsets {stray}"


def test_stat_x86_64(c64: CLayouts) -> None:
    expected = {name: fn(WIDE) for name, fn in STAT_MEMBERS.items()}
    check_members(ABI64.pack_stat(WIDE), c64.structs["stat"], expected)


def test_x86_64_has_one_stat(c64: CLayouts) -> None:
    assert ABI64.pack_stat64(WIDE) == ABI64.pack_stat(WIDE)


def test_stat_i386(c32: CLayouts) -> None:
    expected = {name: fn(NARROW) for name, fn in STAT_MEMBERS.items()}
    check_members(ABI32.pack_stat(NARROW), c32.structs["stat"], expected)


def test_stat64_i386(c32: CLayouts) -> None:
    expected = {name: fn(WIDE) for name, fn in STAT64_MEMBERS.items()}
    check_members(ABI32.pack_stat64(WIDE), c32.structs["stat64"], expected)
    assert expected["__st_ino"] != expected["st_ino"], "the test value must need 64 bits"


@pytest.mark.parametrize("arch", ["x86_64", "i386"])
def test_statx(arch: str, c64: CLayouts, c32: CLayouts) -> None:
    c = c64 if arch == "x86_64" else c32
    assert c.consts["STATX_BASIC_STATS"] == STATX_BASIC_STATS
    expected = {name: fn(WIDE) for name, fn in STATX_MEMBERS.items()}
    check_members(pack_statx(WIDE), c.structs["statx"], expected, STATX_UNCHECKED)


FS = StatFs(
    type=0x6969,
    bsize=0x1000,
    blocks=0x1_0000_0011,
    bfree=0x1_0000_0022,
    bavail=0x1_0000_0033,
    files=0x1_0000_0044,
    ffree=0x1_0000_0055,
    namelen=0xFF,
    frsize=0x800,
    flags=0x21,
    fsid=(0x1234, 0x5678),
)
FS32 = StatFs(
    type=0x6969,
    bsize=0x1000,
    blocks=0x11_0011,
    bfree=0x22_0022,
    bavail=0x33_0033,
    files=0x44_0044,
    ffree=0x55_0055,
    namelen=0xFF,
    frsize=0x800,
    flags=0x21,
    fsid=(0x1234, 0x5678),
)


def test_statfs_x86_64(c64: CLayouts) -> None:
    expected = {name: fn(FS) for name, fn in STATFS_MEMBERS.items()}
    check_members(pack_statfs64(FS, ABI64.wfmt), c64.structs["statfs"], expected)
    # x86-64 has one struct statfs; statfs64 is the same layout
    assert c64.structs["statfs64"] == c64.structs["statfs"]


def test_statfs64_i386(c32: CLayouts) -> None:
    expected = {name: fn(FS) for name, fn in STATFS_MEMBERS.items()}
    check_members(pack_statfs64(FS, ABI32.wfmt), c32.structs["statfs64"], expected)


def test_statfs_i386(c32: CLayouts) -> None:
    expected = {name: fn(FS32) for name, fn in STATFS_MEMBERS.items()}
    check_members(pack_statfs32(FS32), c32.structs["statfs"], expected)


def test_statfs_i386_clamps_counts_that_need_64_bits() -> None:
    blob = pack_statfs32(FS)
    assert struct.unpack_from("<5I", blob, 8) == (0xFFFFFFFF,) * 5


NAMES = ["a", "ab", "hello.txt", "x" * 4, "x" * 5, "x" * 12, "x" * 13, "é-ünïcode", "x" * 255]


@pytest.mark.parametrize("arch", ["x86_64", "i386"])
def test_dirent64(arch: str, c64: CLayouts, c32: CLayouts) -> None:
    c = c64 if arch == "x86_64" else c32
    layout = c.structs["dirent64"]
    name_off = layout.members["d_name"][0]
    for kind, dt_name in DT_NAMES.items():
        for i, name in enumerate(NAMES):
            ino, off = 0x1_0000_0000 + i, 0x7FFF_0000_0000 + i
            blob = pack_dirent64(DirEntry(name, ino, kind), off)
            raw = name.encode()
            assert len(blob) == (name_off + len(raw) + 1 + 7) & ~7
            assert layout.read(blob, "d_ino") == ino
            assert layout.read(blob, "d_off") == off
            assert layout.read(blob, "d_reclen") == len(blob)
            assert layout.read(blob, "d_type") == c.consts[dt_name]
            assert blob[name_off:].rstrip(b"\0") == raw
            assert blob[name_off + len(raw)] == 0


@pytest.mark.parametrize("arch", ["x86_64", "i386"])
def test_dirent(arch: str, c64: CLayouts, c32: CLayouts) -> None:
    """The old getdents record: word-sized ino/off, the type in the record's last byte."""
    c, abi = (c64, ABI64) if arch == "x86_64" else (c32, ABI32)
    word = c.consts["sizeof(long)"]
    assert abi.word == word
    layout = c.structs["dirent"]
    name_off = layout.members["d_name"][0]
    for kind, dt_name in DT_NAMES.items():
        for i, name in enumerate(NAMES):
            ino, off = 0x1234_5600 + i, 0x22 + i
            blob = abi.pack_dirent(DirEntry(name, ino, kind), off)
            raw = name.encode()
            # fs/readdir.c: ALIGN(offsetof(d_name) + namlen + 2, sizeof(long))
            assert len(blob) == (name_off + len(raw) + 2 + word - 1) & ~(word - 1)
            assert layout.read(blob, "d_ino") == ino
            assert layout.read(blob, "d_off") == off
            assert layout.read(blob, "d_reclen") == len(blob)
            assert blob[name_off : name_off + len(raw) + 1] == raw + b"\0"
            assert blob[-1] == c.consts[dt_name]


TIMES_NS = [0, 1, NS - 1, NS, 1_700_000_000 * NS + 123_456_789, 0x7FFF_FFFF * NS + 999_999_999]


@pytest.mark.parametrize("arch", ["x86_64", "i386"])
def test_timespec_and_timeval(arch: str, c64: CLayouts, c32: CLayouts) -> None:
    c, abi = (c64, ABI64) if arch == "x86_64" else (c32, ABI32)
    ts, tv = c.structs["timespec"], c.structs["timeval"]
    assert abi.timespec_size == ts.size
    for ns in TIMES_NS:
        blob = abi.pack_timespec(ns)
        check_members(blob, ts, {"tv_sec": ns // NS, "tv_nsec": ns % NS})
        assert abi.unpack_timespec(blob) == ns
        blob = abi.pack_timeval(ns)
        check_members(blob, tv, {"tv_sec": ns // NS, "tv_usec": ns % NS // 1000})


@pytest.mark.parametrize("arch", ["x86_64", "i386"])
def test_kernel_timespec(arch: str, c64: CLayouts, c32: CLayouts) -> None:
    """The *_time64 calls of i386 and every x86-64 call use the 64-bit __kernel_timespec."""
    layout = (c64 if arch == "x86_64" else c32).structs["kernel_timespec"]
    for ns in [*TIMES_NS, 0x1_0000_0000 * NS + 5]:
        blob = pack_timespec64(ns)
        check_members(blob, layout, {"tv_sec": ns // NS, "tv_nsec": ns % NS})
        assert unpack_timespec64(blob) == ns


def test_negative_timespec_round_trips() -> None:
    for abi in (ABI64, ABI32):
        assert abi.unpack_timespec(struct.pack("<2" + abi.sfmt, -2, 500)) == -2 * NS + 500
