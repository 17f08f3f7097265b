"""Binary layouts of the kernel structures handlers exchange with the guest, for both ABIs.

One ``Abi`` object per architecture packs what differs (word size, struct stat, dirents,
timespec); handlers never build struct formats themselves.
"""

from __future__ import annotations

import struct

from ..vfs.types import DirEntry, Stat, StatFs

_STAT64_X86_64 = struct.Struct("<QQQIIIIQqqqqQqQqQ24x")
_STAT_I386 = struct.Struct("<IIHHHHIIIIIIIIIIII")
_STAT64_I386 = struct.Struct("<Q4xIIIIIQ4xqIQIIIIIIQ")
_STATX_FIELDS = "<IIQIIIHHQQQQ" + "qIi" * 4 + "IIII"  # head, a/b/c/m times, rdev, dev
_STATX = struct.Struct(_STATX_FIELDS + f"{256 - struct.calcsize(_STATX_FIELDS)}x")
STATX_BASIC_STATS = 0x7FF


def _split_ns(ns: int) -> tuple[int, int]:
    return ns // 1_000_000_000, ns % 1_000_000_000


def _major(dev: int) -> int:
    return ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF)


def _minor(dev: int) -> int:
    return (dev & 0xFF) | ((dev >> 12) & ~0xFF)


def pack_statx(st: Stat) -> bytes:
    """struct statx (both ABIs); btime is reported as ctime. One pack call: ls stats every file."""
    a_s, a_ns = divmod(st.atime_ns, 1_000_000_000)
    c_s, c_ns = divmod(st.ctime_ns, 1_000_000_000)
    m_s, m_ns = divmod(st.mtime_ns, 1_000_000_000)
    rdev, dev = st.rdev, st.dev
    return _STATX.pack(
        STATX_BASIC_STATS, st.blksize, 0, st.nlink, st.uid, st.gid, st.mode & 0xFFFF, 0,
        st.ino, st.size, st.blocks, 0,
        a_s, a_ns, 0, c_s, c_ns, 0, c_s, c_ns, 0, m_s, m_ns, 0,
        _major(rdev), _minor(rdev), _major(dev), _minor(dev),
    )  # fmt: skip


def pack_statfs64(sf: StatFs, word: str) -> bytes:
    """struct statfs (x86-64) / struct statfs64 (i386): same field order, word-sized type/bsize."""
    fmt = "<" + word + word + "QQQQQ" + "ii" + word + word + word + "4" + word
    return struct.pack(
        fmt,
        sf.type,
        sf.bsize,
        sf.blocks,
        sf.bfree,
        sf.bavail,
        sf.files,
        sf.ffree,
        sf.fsid[0],
        sf.fsid[1],
        sf.namelen,
        sf.frsize,
        sf.flags,
        0,
        0,
        0,
        0,
    )


def pack_statfs32(sf: StatFs) -> bytes:
    """i386 struct statfs: every count is 32-bit."""
    return struct.pack(
        "<IIIIIIIiiIII4I",
        sf.type,
        sf.bsize,
        min(sf.blocks, 0xFFFFFFFF),
        min(sf.bfree, 0xFFFFFFFF),
        min(sf.bavail, 0xFFFFFFFF),
        min(sf.files, 0xFFFFFFFF),
        min(sf.ffree, 0xFFFFFFFF),
        sf.fsid[0],
        sf.fsid[1],
        sf.namelen,
        sf.frsize,
        sf.flags,
        0,
        0,
        0,
        0,
    )


class Abi:
    """What differs between the x86-64 and i386 system-call ABIs (two constant instances)."""

    __slots__ = ("is64", "word", "wfmt", "sfmt", "mask", "platform")

    def __init__(
        self, is64: bool, word: int, wfmt: str, sfmt: str, mask: int, platform: str
    ) -> None:
        self.is64 = is64
        self.word = word
        self.wfmt = wfmt  # struct code of an unsigned long
        self.sfmt = sfmt  # struct code of a signed long
        self.mask = mask
        self.platform = platform

    def u(self, value: int) -> int:
        return value & self.mask

    def s(self, value: int) -> int:
        value &= self.mask
        return value - (self.mask + 1) if value >> (self.word * 8 - 1) else value

    def pack_words(self, *values: int) -> bytes:
        return struct.pack(f"<{len(values)}{self.wfmt}", *[v & self.mask for v in values])

    def unpack_words(self, data: bytes) -> tuple[int, ...]:
        return struct.unpack(f"<{len(data) // self.word}{self.wfmt}", data)

    # struct stat as the plain stat/fstat/lstat/newfstatat calls of this ABI return it
    def pack_stat(self, st: Stat) -> bytes:
        at, atn = _split_ns(st.atime_ns)
        mt, mtn = _split_ns(st.mtime_ns)
        ct, ctn = _split_ns(st.ctime_ns)
        if self.is64:
            return _STAT64_X86_64.pack(
                st.dev, st.ino, st.nlink, st.mode, st.uid, st.gid, 0, st.rdev, st.size,
                st.blksize, st.blocks, at, atn, mt, mtn, ct, ctn,
            )  # fmt: skip
        return _STAT_I386.pack(
            st.dev & 0xFFFFFFFF, st.ino & 0xFFFFFFFF, st.mode & 0xFFFF, min(st.nlink, 0xFFFF),
            st.uid & 0xFFFF, st.gid & 0xFFFF, st.rdev & 0xFFFFFFFF, min(st.size, 0x7FFFFFFF),
            st.blksize, st.blocks & 0xFFFFFFFF, at & 0xFFFFFFFF, atn, mt & 0xFFFFFFFF, mtn,
            ct & 0xFFFFFFFF, ctn, 0, 0,
        )  # fmt: skip

    def pack_stat64(self, st: Stat) -> bytes:
        """i386 struct stat64 (fstatat64, stat64 ...); x86-64 has only one stat."""
        if self.is64:
            return self.pack_stat(st)
        at, atn = _split_ns(st.atime_ns)
        mt, mtn = _split_ns(st.mtime_ns)
        ct, ctn = _split_ns(st.ctime_ns)
        return _STAT64_I386.pack(
            st.dev, st.ino & 0xFFFFFFFF, st.mode, st.nlink, st.uid, st.gid, st.rdev, st.size,
            st.blksize, st.blocks, at & 0xFFFFFFFF, atn, mt & 0xFFFFFFFF, mtn, ct & 0xFFFFFFFF,
            ctn, st.ino,
        )  # fmt: skip

    def pack_dirent(self, ent: DirEntry, off: int) -> bytes:
        """struct linux_dirent (getdents): word-sized ino/off, d_type in the last byte."""
        name = ent.name.encode("utf-8", "surrogateescape")
        head = 2 * self.word + 2
        reclen = (head + len(name) + 2 + self.word - 1) & ~(self.word - 1)
        body = struct.pack(
            f"<{self.wfmt}{self.wfmt}H", ent.ino & self.mask, off & self.mask, reclen
        )
        body += name + b"\0"
        body = body.ljust(reclen - 1, b"\0") + bytes([_dtype(ent)])
        return body

    def pack_timespec(self, ns: int) -> bytes:
        return struct.pack("<2" + self.sfmt, *_split_ns(ns))

    def pack_timeval(self, ns: int) -> bytes:
        sec, rem = _split_ns(ns)
        return struct.pack("<2" + self.sfmt, sec, rem // 1000)

    def unpack_timespec(self, data: bytes) -> int:
        sec, nsec = struct.unpack("<2" + self.sfmt, data)
        return sec * 1_000_000_000 + nsec

    @property
    def timespec_size(self) -> int:
        return 2 * self.word


def _dtype(ent: DirEntry) -> int:
    return (int(ent.kind) >> 12) & 0xF


def pack_dirent64(ent: DirEntry, off: int) -> bytes:
    name = ent.name.encode("utf-8", "surrogateescape")
    reclen = (19 + len(name) + 1 + 7) & ~7
    return struct.pack("<QqHB", ent.ino, off, reclen, _dtype(ent)) + name.ljust(reclen - 19, b"\0")


def pack_timespec64(ns: int) -> bytes:
    return struct.pack("<2q", *_split_ns(ns))


def unpack_timespec64(data: bytes) -> int:
    sec, nsec = struct.unpack("<2q", data)
    return sec * 1_000_000_000 + nsec


ABI64 = Abi(is64=True, word=8, wfmt="Q", sfmt="q", mask=(1 << 64) - 1, platform="x86_64")
ABI32 = Abi(is64=False, word=4, wfmt="I", sfmt="i", mask=(1 << 32) - 1, platform="i686")
