"""The hypervisor: builds a guest machine from a validated config and runs it until it ends.

One exit handler per reason (port I/O, HLT, CPUID, hypercall, exception, MMIO, ...), each a small
method that acts on the device bus, the virtual CPU or the MMU and counts the exit. The run loop
is core's (``Cpu.run``) in slices: between slices the hypervisor advances the timers, injects
pending interrupts through the guest IDT, lets a halted vCPU skip to its next timer event, and
checks the limits. The technique decides which events reach it:

- ``hw``: the guest's privileged code runs on the CPU; only I/O, HLT, CPUID, hypercalls, MMIO and
  interrupt delivery exit; the CPU walks the guest's own page tables (nested paging analogue);
- ``pv``: as ``hw``, for a guest built to call the hypercall ABI (hypercalls.py) instead;
- ``bt``: every privileged or sensitive instruction is found by the translator (translate.py) and
  emulated against the hypervisor's virtual CPU state; page tables are shadowed (shadow.py).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from unicorn import x86_const as x86

from ..core.clock import Clock
from ..core.machine import Stop
from ..core.pagetables import PageFault
from ..core.sysmachine import SystemMachine
from ..errors import LimitExceeded, UsageError
from ..limits import LIMIT_EXIT_CODES, Limits
from ..vfs.types import OpenFile
from . import boot, hypercalls, inject
from .devices.bus import PortBus
from .devices.chipset import Chipset
from .devices.cmos import Cmos
from .devices.debugport import DebugPort
from .devices.disk import AtaDisk
from .devices.pic import PicPair
from .devices.pit import Pit8254
from .devices.uart import Uart16550
from .exits import Exit, ExitCounter
from .mmu import PAGE, GuestMemory, GuestMemoryError, MemorySlot
from .portreplay import PortReadReplay
from .vcpu import Technique, Vcpu

MIN_MEMORY = 2 << 20
MAX_MEMORY = 2 << 30
SLICE_US = 10_000
WINDOW_US = 500
INSN_SLICE = 200_000
LEGACY_HOLE = (0xA0000, 0xC0000)
SHADOW_RAM = (0xC0000, 0x100000)
ARENA_BASE = 0xF0000000
ARENA_SIZE = 8 << 20

VMCALL = (b"\x0f\x01\xc1", b"\x0f\x01\xd9")


class Outcome(enum.Enum):
    """How a VM ended; each has a documented exit status (docs/system-vm.md)."""

    POWER_OFF = "powered off"
    SHUTDOWN = "shut down by hypercall"
    HALTED = "halted for good"
    TRIPLE_FAULT = "triple fault"
    RESET = "reset requested"
    FAULT = "unrecoverable guest fault"
    LIMIT = "limit reached"


EXIT_STATUS = {
    Outcome.POWER_OFF: 0,
    Outcome.HALTED: 140,
    Outcome.TRIPLE_FAULT: 141,
    Outcome.RESET: 142,
    Outcome.FAULT: 143,
}


@dataclass(slots=True)
class Console:
    """Where the guest's output goes and where its serial input comes from."""

    serial_out: Callable[[bytes], None]
    debug_out: Callable[[bytes], None]
    serial_in: Callable[[], bytes | None] | None = None  # b"" nothing now, None closed


@dataclass(slots=True, frozen=True)
class VmConfig:
    """A validated description of one guest machine."""

    technique: Technique = Technique.HW
    memory: int = 32 << 20
    image: bytes | None = None
    bios: bytes | None = None
    disk: OpenFile | None = None
    limits: Limits = field(default_factory=Limits)
    cmdline: str = ""


@dataclass(slots=True)
class VmResult:
    outcome: Outcome
    status: int
    detail: str
    duration: float
    exits: dict[str, int]
    exit_detail: dict[str, dict[str, int]]
    stats: dict[str, Any]
    limit: str | None = None


class VmClock:
    """Virtual time: the host's monotonic clock plus the time a halted vCPU skipped."""

    def __init__(self) -> None:
        self._start = time.monotonic_ns()
        self.skipped_ns = 0

    def now_ns(self) -> int:
        return time.monotonic_ns() - self._start + self.skipped_ns

    def skip_to(self, when_ns: int) -> None:
        now = self.now_ns()
        if when_ns > now:
            self.skipped_ns += when_ns - now


class Hypervisor:
    """One guest machine: CPU, memory, devices, and the exits that connect them."""

    def __init__(self, config: VmConfig, console: Console, clock: Clock | None = None) -> None:
        if not MIN_MEMORY <= config.memory <= MAX_MEMORY:
            raise UsageError("--mem must be between 2M and 2G")
        if config.image is None and config.bios is None:
            raise UsageError("nothing to boot: give an IMAGE or --bios")
        self.config = config
        self.technique = config.technique
        self.console = console
        self.limits = config.limits
        arena = ARENA_SIZE if self.technique is Technique.BT else 0
        if self.limits.memory is not None and config.memory + arena > self.limits.memory:
            raise LimitExceeded(
                "memory",
                f"{config.memory >> 20} MiB of guest RAM (+{arena >> 20} MiB shadow tables) "
                f"exceeds {self.limits.memory >> 20} MiB",
                LIMIT_EXIT_CODES["memory"],
            )
        self.exits = ExitCounter()
        self.outcome: Outcome | None = None
        self.status = 0
        self.detail = ""
        self.halted = False
        self.injected = 0
        self.instructions_charged = 0
        self._window = False
        self.vclock = VmClock()
        self.clock = clock or Clock()
        self.machine = SystemMachine()
        self.mem = GuestMemory(self.machine, exec_needs_scan=self.technique is Technique.BT)
        self.vcpu = Vcpu(self.machine, self.mem, self.technique)
        self.port_replay = PortReadReplay(self.vcpu)
        self.pv_timer = hypercalls.PvTimer(self.vclock.now_ns)
        self._build_devices()
        self._map_memory()
        self._install_exits()
        self.translator: Any = None
        self.shadow: Any = None
        if self.technique is Technique.BT:
            from .shadow import ShadowPager
            from .translate import Translator

            self.shadow = ShadowPager(self, ARENA_BASE, ARENA_SIZE)
            self.translator = Translator(self)
        self._boot()

    # -- construction ------------------------------------------------------------------------------
    def _build_devices(self) -> None:
        self.bus = PortBus()
        self.pic = PicPair()
        self.bus.attach(self.pic)
        self.pit = Pit8254(self.vclock.now_ns, self.pic.line(0))
        self.bus.attach(self.pit)
        self.uart = Uart16550(self.serial_write, 0x3F8, self.pic.line(4))
        self.bus.attach(self.uart)
        self.cmos = Cmos(
            self.clock.realtime_ns, self.config.memory, has_disk=self.config.disk is not None
        )
        self.bus.attach(self.cmos)
        self.debugport = DebugPort(self.console.debug_out)
        self.bus.attach(self.debugport)
        self.disk = AtaDisk(self.config.disk, self.pic.line(14))
        self.bus.attach(self.disk)
        self.chipset = Chipset(self._power_off, self._reset)
        self.bus.attach(self.chipset)

    def _map_memory(self) -> None:
        mem = self.mem
        size = self.config.memory
        ram = mem.new_buffer(size)
        mem.add_slot(MemorySlot(0, LEGACY_HOLE[0], ram, 0, "conventional"))
        mem.add_slot(
            MemorySlot(SHADOW_RAM[0], SHADOW_RAM[1] - SHADOW_RAM[0], ram, SHADOW_RAM[0], "shadow")
        )
        if size > 0x100000:
            mem.add_slot(MemorySlot(0x100000, size - 0x100000, ram, 0x100000, "extended"))
        rom_image = self.config.bios if self.config.bios is not None else boot.stub_firmware()
        if len(rom_image) % PAGE or not 0 < len(rom_image) <= 16 << 20:
            raise UsageError("firmware image size must be a multiple of 4 KiB, at most 16 MiB")
        rom_base = (1 << 32) - len(rom_image)
        mem.add_slot(
            MemorySlot(rom_base, len(rom_image), mem.new_buffer(len(rom_image)), 0, "rom", rom=True)
        )
        boot.load_firmware(mem, rom_image)
        self.machine.uc.mmio_map(
            LEGACY_HOLE[0],
            LEGACY_HOLE[1] - LEGACY_HOLE[0],
            self._legacy_read,
            None,
            self._legacy_write,
            None,
        )
        mem.on_open_bus = self._open_bus
        top = max(size, 0x100000)
        if self.technique is Technique.BT:
            mem.add_open_bus(top, ARENA_BASE)
            mem.add_open_bus(ARENA_BASE + ARENA_SIZE, rom_base)
        else:
            mem.add_open_bus(top, rom_base)

    def _install_exits(self) -> None:
        m = self.machine
        m.on_port_in(self._port_in)
        m.on_port_out(self._port_out)
        m.on_cpuid(self._cpuid)
        m.on_interrupt(self._interrupt)
        m.on_invalid(self._invalid)

    def _boot(self) -> None:
        data = self.config.image
        if data is None:
            return  # firmware only: the CPU starts at the reset vector
        kind = boot.classify(data)
        if kind is boot.ImageKind.MULTIBOOT:
            boot.load_multiboot(self.mem, self.vcpu, data, self.config.cmdline)
            if self.shadow is not None:
                self.shadow.cr0_changed()
        else:
            boot.load_flat(self.mem, self.vcpu, data)

    # -- output -------------------------------------------------------------------------------------
    def serial_write(self, data: bytes) -> None:
        self.console.serial_out(data)

    # -- exits: port I/O, CPUID, hypercalls ---------------------------------------------------------
    def _port_in(self, port: int, size: int) -> int:
        self.exits.count(Exit.PORT_IO, f"in {port:#x}")
        return self.port_replay.read(port, size, self.bus.read)

    def _port_out(self, port: int, size: int, value: int) -> None:
        self.exits.count(Exit.PORT_IO, f"out {port:#x}")
        self.bus.write(port, size, value)
        if self.outcome is not None:
            self.machine.request_stop()

    def port_in(self, port: int, size: int) -> int:
        """For the translator: IN it emulated."""
        return self._port_in(port, size)

    def port_out(self, port: int, size: int, value: int) -> None:
        self._port_out(port, size, value)

    def _cpuid(self) -> bool:
        from .cpuid import leaf

        eax = self.vcpu.get(x86.UC_X86_REG_EAX)
        ecx = self.vcpu.get(x86.UC_X86_REG_ECX)
        self.exits.count(Exit.CPUID, f"{eax:#x}")
        a, b, c, d = leaf(eax, ecx)
        self.vcpu.set(x86.UC_X86_REG_EAX, a)
        self.vcpu.set(x86.UC_X86_REG_EBX, b)
        self.vcpu.set(x86.UC_X86_REG_ECX, c)
        self.vcpu.set(x86.UC_X86_REG_EDX, d)
        return True

    def _invalid(self) -> bool:
        """Invalid opcode: ``vmcall``/``vmmcall`` is a hypercall, anything else #UD to the guest."""
        vcpu = self.vcpu
        pc = vcpu.linear_pc()
        try:
            insn = vcpu.read_linear(pc, 3)
        except PageFault:
            insn = b""
        if insn in VMCALL:
            self.hypercall(pc + 3)
            return True
        self.exits.count(Exit.EXCEPTION, "#UD")
        self._deliver(inject.UD)
        return True

    def hypercall(self, return_eip_linear: int) -> None:
        vcpu = self.vcpu
        number = vcpu.get(x86.UC_X86_REG_EAX)
        name = hypercalls.Hypercall(number).name if number in hypercalls.TABLE else str(number)
        self.exits.count(Exit.HYPERCALL, name)
        vcpu.eip = vcpu.eip + (return_eip_linear - vcpu.linear_pc())
        if vcpu.cpl != 0:
            result = -1  # EPERM: only the guest kernel may call the hypervisor
        else:
            result = hypercalls.dispatch(
                self,
                number,
                vcpu.get(x86.UC_X86_REG_EBX),
                vcpu.get(x86.UC_X86_REG_ECX),
                vcpu.get(x86.UC_X86_REG_EDX),
            )
        vcpu.set(x86.UC_X86_REG_EAX, result & 0xFFFFFFFF)

    # -- exits: interrupts and exceptions -----------------------------------------------------------
    def _interrupt(self, intno: int) -> None:
        """``int n`` and CPU exceptions raised by Unicorn: deliver them through the guest IDT."""
        ctx = self.machine.context()
        software = bool(int.from_bytes(ctx.raw[5428:5432], "little"))
        if software:
            self.exits.count(Exit.SOFTWARE_INTERRUPT, f"int {intno:#x}")
            self._deliver(intno, software=True)
            return
        error = ctx.error_code if intno in inject.WITH_ERROR_CODE else None
        if intno == inject.PF and self.shadow is not None:
            if self.shadow.hidden_fault(self.vcpu.get(x86.UC_X86_REG_CR2), error or 0):
                ctx.clear_exception()
                ctx.commit()
                return
        self.exits.count(Exit.EXCEPTION, _VECTOR_NAMES.get(intno, f"#{intno}"))
        self._deliver(intno, error_code=error)

    def _deliver(
        self, vector: int, *, error_code: int | None = None, software: bool = False
    ) -> None:
        try:
            inject.deliver(self.vcpu, vector, error_code=error_code, software=software)
        except inject.TripleFault:
            self.finish(Outcome.TRIPLE_FAULT, f"triple fault delivering vector {vector}")
        except (PageFault, GuestMemoryError) as err:
            self.finish(Outcome.TRIPLE_FAULT, f"cannot deliver vector {vector}: {err}")
        self.halted = False

    def deliver(
        self, vector: int, *, error_code: int | None = None, software: bool = False
    ) -> None:
        """For the translator and hypercalls: inject now."""
        self._deliver(vector, error_code=error_code, software=software)

    # -- exits: memory --------------------------------------------------------------------------------
    def _legacy_read(self, _uc: object, offset: int, size: int, _data: object) -> int:
        self.exits.count(Exit.MMIO, "legacy VGA window")
        return (1 << (8 * size)) - 1

    def _legacy_write(self, _uc: object, offset: int, size: int, value: int, _data: object) -> None:
        self.exits.count(Exit.MMIO, "legacy VGA window")

    def _open_bus(self, write: bool) -> None:
        self.exits.count(Exit.UNMAPPED, "write" if write else "read")

    # -- machine events -------------------------------------------------------------------------------
    def _power_off(self) -> None:
        self.finish(Outcome.POWER_OFF, "guest powered off")

    def _reset(self) -> None:
        self.finish(Outcome.RESET, "guest asked for a reset")

    def shutdown(self, status: int) -> None:
        self.status = status
        self.finish(Outcome.SHUTDOWN, f"guest shut down with status {status}")

    def finish(self, outcome: Outcome, detail: str) -> None:
        if self.outcome is None:
            self.outcome = outcome
            self.detail = detail
            if outcome in EXIT_STATUS:
                self.status = EXIT_STATUS[outcome]
        self.machine.request_stop()

    def enter_halt(self) -> None:
        """HLT (or the yield hypercall): the vCPU sleeps until an interrupt."""
        self.halted = True
        self.machine.request_stop()

    def flush_guest_tlb(self) -> None:
        cr3 = self.vcpu.get(x86.UC_X86_REG_CR3)
        self.vcpu.set(x86.UC_X86_REG_CR3, cr3)

    def request_window(self) -> None:
        """An instruction enabled interrupts while one is pending: stop to deliver it."""
        if self._pending_vector_ready():
            self.exits.count(Exit.INTERRUPT_WINDOW)
            self.machine.request_stop()

    # -- interrupts -----------------------------------------------------------------------------------
    def _pending_vector_ready(self) -> bool:
        return self.pv_timer.pending or self.pic.pending()

    def _inject_pending(self) -> bool:
        """Deliver one pending external interrupt if the guest accepts interrupts now."""
        if not self._pending_vector_ready():
            return False
        if not self.vcpu.interrupts:
            return False
        if self.pv_timer.pending:
            self.pv_timer.pending = False
            vector: int | None = self.pv_timer.vector
        else:
            vector = self.pic.acknowledge()
        if vector is None:
            return False
        self.injected += 1
        self._deliver(vector)
        return True

    def _next_timer_ns(self) -> int | None:
        events = [
            t for t in (self.pit.next_event_ns(), self.pv_timer.next_event_ns()) if t is not None
        ]
        return min(events) if events else None

    # -- the run loop ---------------------------------------------------------------------------------
    def run(self) -> VmResult:
        started = time.monotonic()
        deadline = None if self.limits.time is None else started + self.limits.time
        limit: str | None = None
        try:
            while self.outcome is None:
                if deadline is not None and time.monotonic() > deadline:
                    raise LimitExceeded("time", f"{self.limits.time:g} s of wall time", 152)
                self._between_slices()
                if self.outcome is not None:
                    break
                if self.halted:
                    self._idle()
                    continue
                self._run_slice()
        except LimitExceeded as err:
            limit = err.limit
            self.outcome = Outcome.LIMIT
            self.status = err.exit_code
            self.detail = str(err)
        return VmResult(
            self.outcome,
            self.status,
            self.detail,
            time.monotonic() - started,
            self.exits.as_dict(),
            {r.value: dict(c) for r, c in self.exits.detail.items()},
            self.stats(),
            limit,
        )

    def _between_slices(self) -> None:
        self.mem.settle()
        if self.translator is not None:
            self.translator.settle()
        self.pit.advance()
        self.pv_timer.advance()
        self._poll_input()
        if self._pending_vector_ready():
            if not self._inject_pending() and not self.halted:
                self.exits.count(Exit.INTERRUPT_WINDOW)
                self._window = True

    def _poll_input(self) -> None:
        source = self.console.serial_in
        if source is None:
            return
        data = source()
        if data is None:
            self.console.serial_in = None
        elif data:
            self.uart.feed(data)

    def _idle(self) -> None:
        if self._pending_vector_ready() and self.vcpu.interrupts:
            return  # _between_slices injects it next
        if not self.vcpu.interrupts:
            self.finish(Outcome.HALTED, "halted with interrupts disabled")
            return
        due = self._next_timer_ns()
        if due is None:
            if self.console.serial_in is None:
                self.finish(Outcome.HALTED, "halted with no interrupt source left")
            else:
                time.sleep(0.005)
            return
        self.vclock.skip_to(due)

    def _run_slice(self) -> None:
        timeout = SLICE_US
        due = self._next_timer_ns()
        if due is not None:
            timeout = max(min(timeout, (due - self.vclock.now_ns()) // 1000), 50)
        if self._window:
            timeout = min(timeout, WINDOW_US)
            self._window = False
        count = 0
        if self.limits.instructions is not None:
            left = self.limits.instructions - self.instructions_charged
            if left <= 0:
                raise LimitExceeded("instructions", f"{self.limits.instructions} instructions", 152)
            count = min(left, INSN_SLICE)
        stop = self.machine.run(timeout, count)
        self.port_replay.run_ended(stop is Stop.REQUESTED or self.machine.timed_out)
        if count:
            self.instructions_charged += count  # an upper bound (see docs/system-vm.md)
        if stop is Stop.FAULT:
            self._fault()
        elif stop is Stop.SLICE and not self.machine.timed_out:
            self._maybe_hlt()

    def _maybe_hlt(self) -> None:
        """emu_start returned on its own: a HLT if the instruction before EIP is one."""
        vcpu = self.vcpu
        try:
            before = vcpu.read_linear(vcpu.linear_pc() - 1, 1)
        except PageFault:
            return
        if before == b"\xf4":
            self.exits.count(Exit.HLT)
            self.halted = True

    def _fault(self) -> None:
        m = self.machine
        if self.translator is not None and self.translator.fetch_fault(m.fault_errno):
            return
        pc = self.vcpu.linear_pc()
        self.finish(
            Outcome.FAULT, f"guest stopped at {pc:#x}: Unicorn error {m.fault_errno} ({m.fault})"
        )

    # -- figures -------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        mm = self.mem.stats
        out: dict[str, Any] = {
            "technique": self.technique.value,
            "exits_total": self.exits.total,
            "interrupts_injected": self.injected,
            "port_reads_replayed": self.port_replay.replayed,
            "virtual_time_skipped_ms": self.vclock.skipped_ns // 1_000_000,
            "mmu": {
                "pages_backed": self.mem.pages_backed(),
                "translations": mm.translations,
                "walk_faults": mm.walk_faults,
                "write_watch_hits": mm.write_watch_hits,
                "protection_changes": mm.protection_changes,
            },
            "devices": {d.name: d.snapshot() for d in self.bus.devices},
        }
        if self.shadow is not None:
            out["mmu"].update(self.shadow.stats())
        if self.translator is not None:
            out["translator"] = self.translator.stats()
        if self.limits.instructions is not None:
            out["instructions_charged"] = self.instructions_charged
        return out

    def close(self) -> None:
        self.machine.close()
        self.mem.close()


_VECTOR_NAMES = {
    0: "#DE",
    1: "#DB",
    2: "NMI",
    3: "#BP",
    4: "#OF",
    5: "#BR",
    6: "#UD",
    7: "#NM",
    8: "#DF",
    10: "#TS",
    11: "#NP",
    12: "#SS",
    13: "#GP",
    14: "#PF",
    16: "#MF",
    17: "#AC",
    18: "#MC",
    19: "#XM",
}
