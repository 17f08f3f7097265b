"""The CPUID the guest sees: a modest family-6 CPU with the hypervisor bit and an appvirt leaf.

Only what Unicorn's default x86 CPU really executes is announced (FPU, TSC, MSR, PAE, CX8, SEP,
PGE, CMOV, PSE, MMX, FXSR, SSE, SSE2; SSE3 in ECX), so a guest that trusts CPUID does not meet an
invalid opcode. Leaf 0x40000000 names the hypervisor ("appvirtHV") and its hypercall ABI version.
"""

from __future__ import annotations

import struct

FEATURES_EDX = (
    (1 << 0)  # FPU
    | (1 << 3)  # PSE
    | (1 << 4)  # TSC
    | (1 << 5)  # MSR
    | (1 << 6)  # PAE
    | (1 << 8)  # CX8
    | (1 << 11)  # SEP
    | (1 << 13)  # PGE
    | (1 << 15)  # CMOV
    | (1 << 23)  # MMX
    | (1 << 24)  # FXSR
    | (1 << 25)  # SSE
    | (1 << 26)  # SSE2
)
FEATURES_ECX = (1 << 0) | (1 << 31)  # SSE3, running under a hypervisor
HV_SIGNATURE = b"appvirtHV\0\0\0"
ABI_VERSION = 1
BRAND = b"appvirt virtual CPU".ljust(48, b"\0")


def _regs(text: bytes) -> tuple[int, int, int]:
    return struct.unpack("<III", text)


def leaf(eax: int, ecx: int) -> tuple[int, int, int, int]:
    """EAX, EBX, ECX, EDX for CPUID leaf ``eax`` (sub-leaf ``ecx``)."""
    if eax == 0:
        b, d, c = _regs(b"GenuineIntel")
        return 1, b, c, d
    if eax == 1:
        return 0x00000663, 0x00000800, FEATURES_ECX, FEATURES_EDX
    if eax == 0x40000000:
        b, c, d = _regs(HV_SIGNATURE)
        return 0x40000001, b, c, d
    if eax == 0x40000001:
        return ABI_VERSION, 0, 0, 0
    if eax == 0x80000000:
        return 0x80000004, 0, 0, 0
    if 0x80000002 <= eax <= 0x80000004:
        part = BRAND[(eax - 0x80000002) * 16 :][:16]
        return struct.unpack("<IIII", part)
    return 0, 0, 0, 0
