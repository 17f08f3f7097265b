"""A 16550A UART (COM1 by default): the guest's serial console.

Transmission is instant: a byte written to THR goes to the sink (the host's stdout) and the
transmitter is empty again at once. Received bytes come from ``feed`` (the host's stdin) into a
16-byte-per-trigger FIFO that is simply unbounded up to 4 KiB. Interrupts (received data, THR
empty, line status) follow IER and reach the PIC only while MCR.OUT2 is set, as on a PC.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from .bus import Device, Irq, no_irq

LSR_DR = 0x01
LSR_THRE = 0x20
LSR_TEMT = 0x40
IER_RDA = 0x01
IER_THRE = 0x02
IER_RLS = 0x04
MCR_OUT2 = 0x08
MCR_LOOP = 0x10
LCR_DLAB = 0x80
IIR_NONE = 0x01
IIR_THRE = 0x02
IIR_RDA = 0x04
RX_LIMIT = 4096


class Uart16550(Device):
    name = "uart"

    def __init__(self, sink: Callable[[bytes], None], base: int = 0x3F8, irq: Irq = no_irq) -> None:
        super().__init__()
        self.base = base
        self._sink = sink
        self._irq = irq
        self.rx: deque[int] = deque()
        self.ier = 0
        self.lcr = 0
        self.mcr = 0
        self.scr = 0
        self.fcr = 0
        self.divisor = 12  # 9600 baud
        self.thre_pending = False
        self.transmitted = 0
        self.output = bytearray()  # the last 64 KiB, for tests and --stats

    @property
    def ports(self) -> Iterable[int]:
        return range(self.base, self.base + 8)

    # -- host side -------------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Bytes arriving on the line (from the host's stdin)."""
        for b in data:
            if len(self.rx) < RX_LIMIT:
                self.rx.append(b)
        self._update_irq()

    # -- guest side ------------------------------------------------------------------------------
    def read(self, port: int, size: int) -> int:
        reg = port - self.base
        if self.lcr & LCR_DLAB and reg in (0, 1):
            return (self.divisor >> (8 * reg)) & 0xFF
        if reg == 0:
            value = self.rx.popleft() if self.rx else 0
            self._update_irq()
            return value
        if reg == 1:
            return self.ier
        if reg == 2:
            iir = self._iir()
            if iir == IIR_THRE:
                self.thre_pending = False  # reading IIR acknowledges THR empty
                self._update_irq()
            return iir | (0xC0 if self.fcr & 1 else 0)
        if reg == 3:
            return self.lcr
        if reg == 4:
            return self.mcr
        if reg == 5:
            return LSR_THRE | LSR_TEMT | (LSR_DR if self.rx else 0)
        if reg == 6:
            # Loopback wires MCR outputs back to the modem inputs; otherwise report CTS/DSR/DCD.
            if self.mcr & MCR_LOOP:
                m = self.mcr
                return ((m & 2) << 3) | ((m & 1) << 5) | ((m & 4) << 4) | ((m & 8) << 4)
            return 0xB0
        return self.scr

    def write(self, port: int, size: int, value: int) -> None:
        reg = port - self.base
        value &= 0xFF
        if self.lcr & LCR_DLAB and reg in (0, 1):
            shift = 8 * reg
            self.divisor = (self.divisor & ~(0xFF << shift)) | (value << shift)
            return
        if reg == 0:
            self._transmit(value)
        elif reg == 1:
            was = self.ier
            self.ier = value & 0x0F
            if self.ier & IER_THRE and not was & IER_THRE:
                self.thre_pending = True
            self._update_irq()
        elif reg == 2:
            self.fcr = value
            if value & 2:
                self.rx.clear()
            self._update_irq()
        elif reg == 3:
            self.lcr = value
        elif reg == 4:
            self.mcr = value & 0x1F
            self._update_irq()
        elif reg == 7:
            self.scr = value

    def _transmit(self, value: int) -> None:
        if self.mcr & MCR_LOOP:
            self.feed(bytes([value]))
        else:
            self.transmitted += 1
            self.output.append(value)
            if len(self.output) > 65536:
                del self.output[:-65536]
            self._sink(bytes([value]))
        self.thre_pending = True
        self._update_irq()

    def _iir(self) -> int:
        if self.ier & IER_RDA and self.rx:
            return IIR_RDA
        if self.ier & IER_THRE and self.thre_pending:
            return IIR_THRE
        return IIR_NONE

    def _update_irq(self) -> None:
        self._irq(self._iir() != IIR_NONE and bool(self.mcr & MCR_OUT2))

    def snapshot(self) -> dict[str, Any]:
        return {
            "ier": self.ier,
            "lcr": self.lcr,
            "mcr": self.mcr,
            "divisor": self.divisor,
            "rx_queued": len(self.rx),
            "transmitted": self.transmitted,
        }
