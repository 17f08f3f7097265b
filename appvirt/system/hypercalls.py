"""The hypercall ABI: what a para-virtualised guest asks the hypervisor for with ``vmcall``.

A guest executes ``vmcall`` (0F 01 C1; ``vmmcall`` 0F 01 D9 works too) with the call number in
EAX and arguments in EBX, ECX, EDX; the result comes back in EAX (negative: an errno). The calls
are available under every technique; CPUID leaf 0x40000000 announces them ("appvirtHV"). The table
below is the ABI; docs/system-vm.md is generated from the same text.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.pagetables import PageFault, Paging
from .mmu import GuestMemoryError

if TYPE_CHECKING:
    from .hypervisor import Hypervisor

ENOSYS = -38
EINVAL = -22
EFAULT = -14
MAX_CONSOLE = 4096
MAX_BATCH = 512
PT_ENTRY = struct.Struct("<QQ")  # guest-physical address of the entry, new value


class Hypercall(enum.IntEnum):
    CONSOLE_WRITE = 0
    TIMER_SET = 1
    PT_UPDATE = 2
    YIELD = 3
    SHUTDOWN = 4


@dataclass(slots=True, frozen=True)
class HypercallSpec:
    number: Hypercall
    args: str
    returns: str
    doc: str
    fn: Callable[[Hypervisor, int, int, int], int]


def _console_write(hv: Hypervisor, buf: int, length: int, _unused: int) -> int:
    if length > MAX_CONSOLE:
        return EINVAL
    try:
        data = hv.vcpu.read_linear(buf, length)
    except PageFault:
        return EFAULT
    hv.serial_write(data)
    return length


def _timer_set(hv: Hypervisor, period_us: int, vector: int, _unused: int) -> int:
    if period_us and not 32 <= vector <= 255:
        return EINVAL
    hv.pv_timer.set(period_us, vector)
    return 0


def _pt_update(hv: Hypervisor, batch: int, count: int, _unused: int) -> int:
    if count > MAX_BATCH:
        return EINVAL
    try:
        raw = hv.vcpu.read_linear(batch, count * PT_ENTRY.size)
    except PageFault:
        return EFAULT
    paging = hv.vcpu.paging()
    width = 4 if paging in (Paging.BITS32, Paging.OFF) else 8
    ram = hv.mem.ram_top
    done = 0
    for gpa, value in PT_ENTRY.iter_unpack(raw):
        frame = value & (0xFFFFF000 if width == 4 else 0x000FFFFFFFFFF000)
        if gpa % width or hv.mem.slot_of(gpa) is None:
            return EINVAL
        if value & 1 and frame >= max(ram, 0x100000) and frame < 0xFFFE0000:
            return EINVAL  # may map guest RAM and the legacy/firmware ranges, nothing else
        try:
            hv.mem.write(gpa, value.to_bytes(8, "little")[:width])
        except GuestMemoryError:
            return EINVAL
        done += 1
    hv.flush_guest_tlb()
    return done


def _yield(hv: Hypervisor, _a: int, _b: int, _c: int) -> int:
    hv.enter_halt()
    return 0


def _shutdown(hv: Hypervisor, status: int, _b: int, _c: int) -> int:
    hv.shutdown(status & 0xFF)
    return 0


TABLE: dict[int, HypercallSpec] = {
    spec.number: spec
    for spec in (
        HypercallSpec(
            Hypercall.CONSOLE_WRITE,
            "EBX = guest-virtual buffer, ECX = length (at most 4096)",
            "bytes written",
            "Write bytes to the serial console (the host's stdout) in one exit.",
            _console_write,
        ),
        HypercallSpec(
            Hypercall.TIMER_SET,
            "EBX = period in microseconds (0 stops it), ECX = vector (32-255)",
            "0",
            "A periodic virtual timer that injects ECX through the guest IDT; no PIC, no PIT.",
            _timer_set,
        ),
        HypercallSpec(
            Hypercall.PT_UPDATE,
            "EBX = guest-virtual array of {u64 entry address, u64 value}, ECX = count (<= 512)",
            "entries written",
            "Write page-table entries (guest-physical addresses) after checking each maps only "
            "guest memory; the TLB is flushed once for the batch.",
            _pt_update,
        ),
        HypercallSpec(
            Hypercall.YIELD,
            "none",
            "0 (when an interrupt woke the vCPU)",
            "Give up the CPU until the next interrupt (the para-virtual HLT).",
            _yield,
        ),
        HypercallSpec(
            Hypercall.SHUTDOWN,
            "EBX = exit status (0-255)",
            "does not return",
            "Power the VM off; `appvirt vm boot` exits with the status.",
            _shutdown,
        ),
    )
}


def dispatch(hv: Hypervisor, number: int, a: int, b: int, c: int) -> int:
    spec = TABLE.get(number)
    if spec is None:
        return ENOSYS
    return spec.fn(hv, a, b, c)


class PvTimer:
    """The para-virtual timer: a vector injected every ``period_ns`` of virtual time."""

    def __init__(self, now_ns: Callable[[], int]) -> None:
        self._now = now_ns
        self.period_ns = 0
        self.vector = 0
        self.next_ns = 0
        self.pending = False
        self.fired = 0

    def set(self, period_us: int, vector: int) -> None:
        self.period_ns = period_us * 1000
        self.vector = vector
        self.next_ns = self._now() + self.period_ns
        self.pending = False

    def next_event_ns(self) -> int | None:
        return self.next_ns if self.period_ns else None

    def advance(self) -> None:
        if not self.period_ns:
            return
        now = self._now()
        if now >= self.next_ns:
            missed = (now - self.next_ns) // self.period_ns
            self.next_ns += (missed + 1) * self.period_ns
            self.pending = True
            self.fired += 1
