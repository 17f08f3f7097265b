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

import threading
import time
from collections.abc import Callable
from typing import Any

from unicorn import UC_MODE_32
from unicorn import x86_const as x86
from unicorn.unicorn_const import UC_CTL_IO_WRITE, UC_CTL_TLB_FLUSH

from . import blockstop, uclib
from .blockstop import BlockStop
from .cpustate import CS, DS, ES, FS, GS, SS, CpuContext, Segment, check_layout
from .machine import Cpu

RESET_CR0 = 0x60000010  # CD | NW | ET
RESET_EDX = 0x00000663  # family 6, model 6, stepping 3: what the CPUID leaf 1 we report says


class SystemMachine(Cpu):
    """A bare x86 CPU; the hypervisor installs its exits and runs it in slices."""

    until = (1 << 64) - 1  # ignored: the exit list (see ``_no_exits``) is on and empty

    def __init__(self) -> None:
        super().__init__(UC_MODE_32)
        self._no_exits()
        self.timed_out = False
        self._code_cb: Any = None
        self._code_hooks: dict[int, int] = {}
        if blockstop.available():
            BlockStop(self)  # the watchdog's stops are then exact (core/blockstop.py)
        self._watchdog = Watchdog(self.uch, self.block_stop)
        check_layout(self.uc)
        self.reset()

    def _no_exits(self) -> None:
        """A run ends only by a stop, a fault or its budget, and its end touches no guest state.

        With a single ``until`` address Unicorn drops the translated code at ``until - 1`` after
        every ``emu_start``, looking that linear address up through the guest's page tables as an
        instruction fetch. Where the guest maps nothing there, the lookup raises a page fault no
        hook sees: CR2 becomes 0xFFFFFFFE and QEMU's "previous exception" stays set, so the next
        run end made it a double fault and the guest's next exception (``vmcall``: every PV
        hypercall) a triple fault, on which Unicorn stops at once without calling a hook, on every
        later run too. An empty exit list has no address to drop.
        """
        self.uc.ctl_exits_enabled(True)

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
    def _emu(self, begin: int, until: int, timeout_us: int, count: int) -> None:
        """Run with our own watchdog instead of Unicorn's timeout (see ``Watchdog``)."""
        self._watchdog.arm(timeout_us)
        try:
            super()._emu(begin, until, 0, count)
        finally:
            self.timed_out = self._watchdog.disarm()

    def _release(self) -> None:
        self._watchdog.close()
        for hh in self._code_hooks.values():
            uclib.hook_del(self.uch, hh)
        self._code_hooks.clear()


class Watchdog:
    """Ends a run after its time slice, and keeps asking until it has ended.

    Unicorn's own ``emu_start`` timeout asks once, from a thread of its own, and the request can be
    lost: when a hook writes the PC (Unicorn's "quit and resume" path) at the moment the request
    lands, Unicorn clears the stop request and the run goes on for good (seen under load as a
    guest waiting for a timer interrupt that never comes). This thread repeats ``uc_emu_stop``
    every millisecond from the deadline until the run returns.
    """

    def __init__(self, uch: int, exact: BlockStop | None = None) -> None:
        self._uch = uch
        self._exact = exact
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._fired = False
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="appvirt-vm-watchdog", daemon=True)
        self._thread.start()

    def arm(self, timeout_us: int) -> None:
        with self._cond:
            self._fired = False
            self._deadline = time.monotonic() + timeout_us / 1e6 if timeout_us else None
            self._cond.notify()

    def disarm(self) -> bool:
        """End the watch; True if the deadline passed (the run was timed out)."""
        with self._cond:
            self._deadline = None
            fired = self._fired
            if self._exact is not None:
                self._exact.take()  # a stop that landed as the run ended is not for the next
            self._cond.notify()
        return fired

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._deadline = None
            self._cond.notify()
        self._thread.join(timeout=1)

    def _loop(self) -> None:
        with self._cond:
            while not self._closed:
                if self._deadline is None:
                    self._cond.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self._fired = True
                if self._exact is not None:
                    self._exact.stop()  # at the next block: never lost, nothing run twice
                else:
                    uclib.emu_stop(self._uch)  # harmless if the run has just returned
                self._cond.wait(0.001)
