"""The CPU of a whole guest machine (System VM): a ``Cpu`` that starts as a PC does at reset.

It owns no memory: the System VM's MMU maps guest-physical memory slots and MMIO into ``uc``. The
instance runs in ``UC_MODE_32`` although the guest starts in real mode: the mode only sets Unicorn's
initial state and how register writes behave, and in ``UC_MODE_16`` writes to DS/ES/SS always load
real-mode segments (base = selector * 16), even in protected mode, and ``emu_start`` resumes at
``begin - CS * 16`` (FACTS.md). In ``UC_MODE_32`` a run resumes at EIP and segment writes follow
CR0.PE. The reset state (CS base 0xFFFF0000, EIP 0xFFF0) is set through the CPU context, as is
every hidden segment change a hypervisor makes (see cpustate.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from unicorn import UC_MODE_32, UC_QUERY_TIMEOUT
from unicorn import x86_const as x86
from unicorn.unicorn_const import UC_CTL_IO_WRITE, UC_CTL_TLB_FLUSH

from . import uclib
from .cpustate import CS, DS, ES, FS, GS, SS, CpuContext, Segment, check_layout
from .machine import Cpu, Stop

RESET_CR0 = 0x60000010  # CD | NW | ET
RESET_EDX = 0x00000663  # family 6, model 6, stepping 3: what the CPUID leaf 1 we report says


class SystemMachine(Cpu):
    """A bare x86 CPU; the hypervisor installs its exits and runs it in slices."""

    until = (1 << 64) - 1  # never an address: a run ends only by a stop, a fault or its budget

    def __init__(self) -> None:
        super().__init__(UC_MODE_32)
        self.timed_out = False
        self._code_cb: Any = None
        self._code_hooks: dict[int, int] = {}
        check_layout(self.uc)
        self.reset()

    # -- state ------------------------------------------------------------------------------------
    def reset(self) -> None:
        """The state of a CPU after RESET: real mode, executing at physical 0xFFFFFFF0."""
        uc = self.uc
        uc.reg_write(x86.UC_X86_REG_CR0, RESET_CR0)
        uc.reg_write(x86.UC_X86_REG_CR4, 0)
        uc.reg_write(x86.UC_X86_REG_CR3, 0)
        uc.reg_write(x86.UC_X86_REG_EFLAGS, 0x2)
        for reg in (
            x86.UC_X86_REG_EAX,
            x86.UC_X86_REG_EBX,
            x86.UC_X86_REG_ECX,
            x86.UC_X86_REG_ESI,
            x86.UC_X86_REG_EDI,
            x86.UC_X86_REG_EBP,
            x86.UC_X86_REG_ESP,
        ):
            uc.reg_write(reg, 0)
        uc.reg_write(x86.UC_X86_REG_EDX, RESET_EDX)
        uc.reg_write(x86.UC_X86_REG_GDTR, (0, 0, 0xFFFF, 0))
        uc.reg_write(x86.UC_X86_REG_IDTR, (0, 0, 0xFFFF, 0))
        ctx = self.context()
        for seg in (ES, SS, DS, FS, GS):
            ctx.set_segment(seg, Segment.real_mode(0))
        ctx.set_segment(CS, Segment(0xF000, 0xFFFF0000, 0xFFFF, 0x9B00))
        ctx.commit()
        self.pc = 0xFFF0

    def context(self) -> CpuContext:
        """An edit of the hidden CPU state (segment caches, CPL, fault state)."""
        return CpuContext(self.uc)

    # -- exits --------------------------------------------------------------------------------------
    def on_port_in(self, fn: Callable[[int, int], int]) -> None:
        self._hooks.append(uclib.hook_port_in(self.uch, x86.UC_X86_INS_IN, self._guard(fn)))

    def on_port_out(self, fn: Callable[[int, int, int], None]) -> None:
        self._hooks.append(uclib.hook_port_out(self.uch, x86.UC_X86_INS_OUT, self._guard(fn)))

    def on_cpuid(self, fn: Callable[[], bool]) -> None:
        self._hooks.append(uclib.hook_cpuid(self.uch, x86.UC_X86_INS_CPUID, self._guard(fn)))

    def on_write_protected(self, fn: Callable[[int, int, int], bool]) -> None:
        """Stores to pages the MMU mapped read-only: ``fn(physical address, size, value)``."""
        self._hooks.append(uclib.hook_write_prot(self.uch, self._guard(fn)))

    def on_code(self, fn: Callable[[int], None]) -> None:
        """The callback for ``hook_address``: ``fn(linear address)`` before such an instruction."""
        self._code_cb = uclib.code_callback(self._guard(fn))

    def hook_address(self, addr: int) -> None:
        """Call the ``on_code`` callback before the instruction at linear ``addr`` (idempotent)."""
        if addr not in self._code_hooks:
            self._code_hooks[addr] = uclib.hook_code(self.uch, self._code_cb, addr, addr)

    def unhook_address(self, addr: int) -> None:
        hh = self._code_hooks.pop(addr, None)
        if hh is not None:
            uclib.hook_del(self.uch, hh)

    @property
    def hooked_addresses(self) -> int:
        return len(self._code_hooks)

    def flush_tlb(self) -> None:
        """Drop the CPU's cached translations, paging on or off.

        Needed after a permission change too: a TLB entry made while a page was writable lets
        later stores skip the permission check, and rewriting CR3 flushes only with paging on.
        """
        self.uc.ctl(UC_CTL_TLB_FLUSH, UC_CTL_IO_WRITE)

    def forget_translations(self, begin: int, end: int) -> None:
        """Drop Unicorn's translated code for linear [begin, end) so new hooks apply to it."""
        self.uc.ctl_remove_cache(begin, end)

    # -- running ----------------------------------------------------------------------------------
    def run(self, timeout_us: int = 0, count: int = 0) -> Stop:
        stop = super().run(timeout_us, count)
        self.timed_out = bool(timeout_us) and bool(self.uc.query(UC_QUERY_TIMEOUT))
        return stop

    def _release(self) -> None:
        for hh in self._code_hooks.values():
            uclib.hook_del(self.uch, hh)
        self._code_hooks.clear()
