"""The initial process stack a Linux kernel builds at execve: argc, argv, envp and the auxv.

glibc's static startup reads AT_PHDR/AT_PHNUM to find PT_TLS and AT_RANDOM for the stack
protector, so the full set is always passed (FACTS.md).
"""

from __future__ import annotations

import struct

AT_NULL = 0
AT_PHDR = 3
AT_PHENT = 4
AT_PHNUM = 5
AT_PAGESZ = 6
AT_BASE = 7
AT_FLAGS = 8
AT_ENTRY = 9
AT_UID = 11
AT_EUID = 12
AT_GID = 13
AT_EGID = 14
AT_PLATFORM = 15
AT_HWCAP = 16
AT_CLKTCK = 17
AT_SECURE = 23
AT_RANDOM = 25
AT_HWCAP2 = 26
AT_EXECFN = 31
AT_MINSIGSTKSZ = 51

# CPUID(1).EDX of the emulated CPU family: fpu..sse2, as glibc expects in AT_HWCAP.
HWCAP_X86 = 0x178BFBFF


class StartInfo:
    """What the initial stack carries (a plain slotted class: dataclasses cost launch time)."""

    __slots__ = ("argv", "envp", "execfn", "phdr", "phent", "phnum", "entry", "base", "uid", "gid",
                 "random", "platform", "arg_range")  # fmt: skip

    def __init__(self, argv: list[bytes], envp: list[bytes], execfn: bytes, phdr: int, phent: int,
                 phnum: int, entry: int, base: int, uid: int, gid: int, random: bytes,
                 platform: bytes) -> None:  # fmt: skip
        self.argv = argv
        self.envp = envp
        self.execfn = execfn
        self.phdr = phdr
        self.phent = phent
        self.phnum = phnum
        self.entry = entry
        self.base = base
        self.uid = uid
        self.gid = gid
        self.random = random
        self.platform = platform
        self.arg_range = (0, 0)  # set by build_stack: where the argv strings landed


def build_stack(top: int, info: StartInfo, word: int) -> tuple[int, bytes]:
    """Return (stack pointer, bytes to write at it) for a stack whose highest address is ``top``."""
    wfmt = "<Q" if word == 8 else "<I"
    strings = bytearray()
    offsets: dict[str, list[int]] = {"argv": [], "envp": []}

    def put(data: bytes) -> int:
        off = len(strings)
        strings.extend(data)
        return off

    execfn_off = put(info.execfn + b"\0")
    for s in info.argv:
        offsets["argv"].append(put(s + b"\0"))
    for s in info.envp:
        offsets["envp"].append(put(s + b"\0"))
    platform_off = put(info.platform + b"\0")
    random_off = put(info.random)
    strings_base = (top - 16 - len(strings)) & ~15

    def addr(off: int) -> int:
        return strings_base + off

    if info.argv:
        last = offsets["argv"][-1]
        info.arg_range = (addr(offsets["argv"][0]), addr(last + len(info.argv[-1]) + 1))

    auxv = [
        (AT_PHDR, info.phdr),
        (AT_PHENT, info.phent),
        (AT_PHNUM, info.phnum),
        (AT_PAGESZ, 4096),
        (AT_BASE, info.base),
        (AT_FLAGS, 0),
        (AT_ENTRY, info.entry),
        (AT_UID, info.uid),
        (AT_EUID, info.uid),
        (AT_GID, info.gid),
        (AT_EGID, info.gid),
        (AT_PLATFORM, addr(platform_off)),
        (AT_HWCAP, HWCAP_X86),
        (AT_CLKTCK, 100),
        (AT_SECURE, 0),
        (AT_RANDOM, addr(random_off)),
        (AT_HWCAP2, 0),
        (AT_EXECFN, addr(execfn_off)),
        (AT_MINSIGSTKSZ, 2048 if word == 4 else 3632),
        (AT_NULL, 0),
    ]
    words: list[int] = [len(info.argv)]
    words += [addr(o) for o in offsets["argv"]] + [0]
    words += [addr(o) for o in offsets["envp"]] + [0]
    for key, value in auxv:
        words += [key, value]
    table = b"".join(struct.pack(wfmt, w) for w in words)
    sp = (strings_base - len(table)) & ~15
    blob = table.ljust(strings_base - sp, b"\0") + bytes(strings)
    return sp, blob
