"""Port reads that a stopped run rolled back are answered again, not read twice from the device.

When a run is stopped while an IN or INS is under way (the watchdog's asynchronous stop, or one a
hook requested), Unicorn 2.1.4 can end the run with the CPU back at the start of that instruction
although the IN hook already ran: the guest executes it again, and a device whose read has a side
effect (the ATA data port, a UART FIFO) loses the value the first read took (seen: 1 sector in 30
booted under load missing a word). The hypervisor notes each port read with the CPU state it was
made in; if a stopped run ends in exactly that state, the instruction did not complete, and its
re-execution gets the same value without touching the device.
"""

from __future__ import annotations

from collections.abc import Callable

from unicorn import x86_const as x86

from .vcpu import Vcpu

# Everything an IN/INS depends on or changes except EAX (its destination): a loop that comes back
# to the same IN with all of these equal is, for a device, a read that was never made.
_STATE = (
    x86.UC_X86_REG_ECX,
    x86.UC_X86_REG_EDX,
    x86.UC_X86_REG_EBX,
    x86.UC_X86_REG_ESP,
    x86.UC_X86_REG_EBP,
    x86.UC_X86_REG_ESI,
    x86.UC_X86_REG_EDI,
)

Key = tuple[int, ...]


class PortReadReplay:
    """Remembers the last port read of a run and replays it once if the run rolled it back."""

    def __init__(self, vcpu: Vcpu) -> None:
        self._vcpu = vcpu
        self._last: tuple[Key, int] | None = None
        self._replay: tuple[Key, int] | None = None
        self.replayed = 0

    def _key(self, port: int, size: int) -> Key:
        read = self._vcpu.reg.read
        return (self._vcpu.linear_pc(), port, size, *(read(r) for r in _STATE))

    def read(self, port: int, size: int, device_read: Callable[[int, int], int]) -> int:
        key = self._key(port, size)
        replay, self._replay = self._replay, None
        if replay is not None and replay[0] == key:
            self.replayed += 1
            value = replay[1]
        else:
            value = device_read(port, size)
        self._last = (key, value)
        return value

    def run_ended(self, stopped: bool) -> None:
        """After each run: keep the last read for a replay if the run was stopped inside it."""
        last, self._last = self._last, None
        if stopped and last is not None and last[0] == self._key(last[0][1], last[0][2]):
            self._replay = last
