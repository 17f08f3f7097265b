"""A hard disk on the primary ATA channel (ports 0x1F0-0x1F7, 0x3F6), PIO only, 28-bit LBA.

The medium is an ``OpenFile`` from the run's VFS (the CLI opens ``--disk`` there), read and written
with ``pread``/``pwrite`` a sector at a time, so the guest reaches exactly that one file. Commands:
IDENTIFY DEVICE, READ/WRITE SECTORS (with and without retry), FLUSH CACHE, SET FEATURES,
INITIALIZE DEVICE PARAMETERS, SET MULTIPLE MODE and EXECUTE DIAGNOSTIC; others abort. IRQ 14 is
raised when a sector is ready or written, unless the guest set nIEN.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from ...vfs.types import OpenFile
from .bus import Device, Irq, no_irq

SECTOR = 512
ST_ERR = 0x01
ST_DRQ = 0x08
ST_DSC = 0x10
ST_DRDY = 0x40
ST_BSY = 0x80
ERR_ABRT = 0x04
ERR_IDNF = 0x10
CTL_NIEN = 0x02
CTL_SRST = 0x04
HEADS = 16
SPT = 63


def _ata_string(text: str, words: int) -> list[int]:
    raw = text.encode("ascii").ljust(words * 2)[: words * 2]
    return [(raw[i] << 8) | raw[i + 1] for i in range(0, len(raw), 2)]


class AtaDisk(Device):
    name = "disk"

    def __init__(self, medium: OpenFile | None, irq: Irq = no_irq, base: int = 0x1F0) -> None:
        super().__init__()
        self.base = base
        self.medium = medium
        self._irq = irq
        self.sectors = medium.stat().size // SECTOR if medium is not None else 0
        self.writable = bool(medium is not None and medium.writable)
        self.status = ST_DRDY | ST_DSC if medium is not None else 0
        self.error = 0
        self.features = 0
        self.count = 0
        self.lba = [0, 0, 0]
        self.select = 0xA0
        self.control = 0
        self.buffer = bytearray()
        self.pos = 0
        self.remaining = 0
        self.current = 0
        self.writing = False
        self.sectors_read = 0
        self.sectors_written = 0

    @property
    def ports(self) -> Iterable[int]:
        return (*range(self.base, self.base + 8), 0x3F6)

    # -- registers -------------------------------------------------------------------------------
    def _present(self) -> bool:
        return self.medium is not None and not self.select & 0x10  # master only

    def read(self, port: int, size: int) -> int:
        if port == 0x3F6:
            return self.status if self._present() else 0
        reg = port - self.base
        if not self._present():
            return 0 if reg == 7 else 0xFF
        if reg == 0:
            return self._read_data(size)
        if reg == 1:
            return self.error
        if reg == 2:
            return self.count & 0xFF
        if reg in (3, 4, 5):
            return self.lba[reg - 3]
        if reg == 6:
            return self.select
        self._irq(False)  # reading status acknowledges the interrupt
        return self.status

    def write(self, port: int, size: int, value: int) -> None:
        if port == 0x3F6:
            if value & CTL_SRST and not self.control & CTL_SRST:
                self._reset()
            self.control = value & 0xFF
            return
        reg = port - self.base
        if reg == 0:
            self._write_data(size, value)
        elif reg == 1:
            self.features = value & 0xFF
        elif reg == 2:
            self.count = value & 0xFF
        elif reg in (3, 4, 5):
            self.lba[reg - 3] = value & 0xFF
        elif reg == 6:
            self.select = value & 0xFF
        elif self._present():
            self._command(value & 0xFF)

    def _reset(self) -> None:
        self.status = ST_DRDY | ST_DSC
        self.error = 1  # diagnostic code: no error
        self.buffer = bytearray()
        self.remaining = 0

    # -- commands --------------------------------------------------------------------------------
    def _address(self) -> int:
        return self.lba[0] | (self.lba[1] << 8) | (self.lba[2] << 16) | ((self.select & 0x0F) << 24)

    def _command(self, cmd: int) -> None:
        self.metrics[f"cmd_{cmd:02x}"] += 1
        self.error = 0
        if cmd == 0xEC:
            self._start_read_buffer(self._identify())
        elif cmd in (0x20, 0x21):
            self._start_transfer(writing=False)
        elif cmd in (0x30, 0x31):
            if not self.writable:
                self._abort()
                return
            self._start_transfer(writing=True)
        elif cmd in (0xE7, 0xEA):
            if self.medium is not None:
                self.medium.fsync()
            self._done()
        elif cmd in (0xEF, 0x91, 0xC6, 0x10):
            self._done()
        elif cmd == 0x90:
            self.error = 1
            self._done()
        else:
            self._abort()

    def _identify(self) -> bytes:
        words = [0] * 256
        cyl = min(self.sectors // (HEADS * SPT), 16383)
        words[0] = 0x0040
        words[1], words[3], words[6] = cyl, HEADS, SPT
        words[10:20] = _ata_string("APPVIRT0001", 10)
        words[23:27] = _ata_string("1.0", 4)
        words[27:47] = _ata_string("APPVIRT VIRTUAL DISK", 20)
        words[47] = 0x8001
        words[49] = 0x0200  # LBA supported
        words[53] = 0x0001
        words[54], words[55], words[56] = cyl, HEADS, SPT
        chs = cyl * HEADS * SPT
        words[57], words[58] = chs & 0xFFFF, chs >> 16
        lba28 = min(self.sectors, 0x0FFFFFFF)
        words[60], words[61] = lba28 & 0xFFFF, lba28 >> 16
        words[80] = 0x007E
        return struct.pack("<256H", *words)

    def _start_read_buffer(self, data: bytes) -> None:
        self.buffer = bytearray(data)
        self.pos = 0
        self.remaining = 0
        self.writing = False
        self.status = ST_DRDY | ST_DSC | ST_DRQ
        self._interrupt()

    def _start_transfer(self, writing: bool) -> None:
        self.current = self._address()
        self.remaining = self.count or 256
        self.writing = writing
        if writing:
            self.buffer = bytearray()
            self.pos = 0
            self.status = ST_DRDY | ST_DSC | ST_DRQ
        else:
            self._next_read()

    def _next_read(self) -> None:
        if self.current >= self.sectors or self.medium is None:
            self._abort(ERR_IDNF)
            return
        data = self.medium.pread(SECTOR, self.current * SECTOR)
        self.sectors_read += 1
        self.buffer = bytearray(data.ljust(SECTOR, b"\0"))
        self.pos = 0
        self.current += 1
        self.remaining -= 1
        self.status = ST_DRDY | ST_DSC | ST_DRQ
        self._interrupt()

    def _read_data(self, size: int) -> int:
        if not self.status & ST_DRQ or self.writing:
            return 0xFFFF if size == 2 else 0xFF
        chunk = self.buffer[self.pos : self.pos + size]
        self.pos += size
        if self.pos >= len(self.buffer):
            if self.remaining > 0:
                self._next_read()
            else:
                self.status = ST_DRDY | ST_DSC
        return int.from_bytes(chunk.ljust(size, b"\0"), "little")

    def _write_data(self, size: int, value: int) -> None:
        if not self.status & ST_DRQ or not self.writing or self.medium is None:
            return
        self.buffer += value.to_bytes(size, "little")
        if len(self.buffer) < SECTOR:
            return
        if self.current >= self.sectors:
            self._abort(ERR_IDNF)
            return
        self.medium.pwrite(bytes(self.buffer[:SECTOR]), self.current * SECTOR)
        self.sectors_written += 1
        self.buffer = bytearray()
        self.current += 1
        self.remaining -= 1
        self.status = ST_DRDY | ST_DSC | (ST_DRQ if self.remaining > 0 else 0)
        self._interrupt()

    def _done(self) -> None:
        self.status = ST_DRDY | ST_DSC
        self._interrupt()

    def _abort(self, error: int = ERR_ABRT) -> None:
        self.error = error
        self.status = ST_DRDY | ST_DSC | ST_ERR
        self.remaining = 0
        self._interrupt()

    def _interrupt(self) -> None:
        if not self.control & CTL_NIEN:
            self._irq(True)

    def snapshot(self) -> dict[str, Any]:
        return {
            "sectors": self.sectors,
            "writable": self.writable,
            "sectors_read": self.sectors_read,
            "sectors_written": self.sectors_written,
            "status": self.status,
        }
