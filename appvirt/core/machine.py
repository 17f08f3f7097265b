"""The Machine: one Unicorn instance with its address space, trap hooks and run loop.

Everything that knows Unicorn lives in ``core/``; personalities see registers through the batch
objects here, memory through ``AddressSpace``, and traps as plain Python callbacks. A process
VM's machine starts with paging on (identity tables with real permissions, see pagetables.py),
which is both the memory-protection model and the fast path for stores.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from typing import Any

from unicorn import UC_ARCH_X86, UC_MODE_32, UC_MODE_64, Uc, UcError
from unicorn import unicorn_const as ucc
from unicorn import x86_const as x86

from ..loader.image import Arch, Perm
from . import blockstop, uclib
from .blockstop import BlockStop
from .memory import LAYOUT_32, LAYOUT_64, AddressSpace
from .tlbsize import TlbSizer

CR0_PE = 1
CR0_WP = 1 << 16
CR0_PG = 1 << 31
CR4_PAE = 1 << 5
CR4_OSFXSR = 1 << 9
CR4_OSXMMEXCPT = 1 << 10
EFER = 0xC0000080
EFER_NXE = 1 << 11

GDT_ENTRIES = 16
GDT_CODE = 1
GDT_DATA = 2
TLS_FIRST = 6  # Linux i386 GDT_ENTRY_TLS_MIN
TLS_COUNT = 3

# The instruction budget of a nested run inside a counted one: never reached, but not 0 (see
# ``Cpu.call_nested``).
NESTED_COUNT = 1 << 62


class Stop(enum.Enum):
    """Why ``Machine.run`` returned."""

    SLICE = "slice"  # time slice over: nothing happened, resume
    REQUESTED = "requested"  # a trap handler asked to stop (exit, block, signal)
    FAULT = "fault"  # Unicorn could not continue: see Machine.fault


class Fault(enum.Enum):
    READ = "read"
    WRITE = "write"
    FETCH = "fetch"
    INVALID = "invalid"
    OTHER = "other"


_FAULT_OF = {
    ucc.UC_ERR_READ_UNMAPPED: Fault.READ,
    ucc.UC_ERR_READ_PROT: Fault.READ,
    ucc.UC_ERR_READ_UNALIGNED: Fault.READ,
    ucc.UC_ERR_WRITE_UNMAPPED: Fault.WRITE,
    ucc.UC_ERR_WRITE_PROT: Fault.WRITE,
    ucc.UC_ERR_WRITE_UNALIGNED: Fault.WRITE,
    ucc.UC_ERR_FETCH_UNMAPPED: Fault.FETCH,
    ucc.UC_ERR_FETCH_PROT: Fault.FETCH,
    ucc.UC_ERR_FETCH_UNALIGNED: Fault.FETCH,
    ucc.UC_ERR_INSN_INVALID: Fault.INVALID,
}


def seg_descriptor(base: int, limit: int, access: int, flags: int) -> bytes:
    """An 8-byte GDT descriptor."""
    lo = (limit & 0xFFFF) | ((base & 0xFFFF) << 16)
    hi = (
        ((base >> 16) & 0xFF)
        | (access << 8)
        | (((limit >> 16) & 0xF) << 16)
        | (flags << 20)
        | (base & 0xFF000000)
    )
    return struct.pack("<II", lo, hi)


class Cpu:
    """One Unicorn x86 instance: registers, trap hooks and the run loop that both VM kinds share.

    ``Machine`` (a process VM) and ``SystemMachine`` (a whole guest machine) differ in how the CPU
    starts, where a run resumes, and what happens before it; the loop itself lives here once.
    """

    pc_reg = x86.UC_X86_REG_EIP
    sp_reg = x86.UC_X86_REG_ESP
    until = 0  # emu_start's end address
    block_stop: BlockStop | None = None  # an exact stop any thread can request (Machine only)

    def __init__(self, mode: int) -> None:
        self.uc = Uc(UC_ARCH_X86, mode)
        self.uch = uclib.handle(self.uc)
        self.reg = uclib.RegAccess(self.uch)
        self._hooks: list[tuple[int, Any]] = []
        self._error: BaseException | None = None
        self.stop_requested = False
        self.fault: Fault | None = None
        self.fault_errno = 0
        self.fault_addr = 0
        self.pc_bias = 0  # 2 while a biased SYSCALL hook runs (see ``pc`` and ``on_syscall``)
        self.depth = 0  # nested emu_start calls in progress (0: not inside the emulator)
        self._counts: list[int] = []  # the instruction count of each emu_start in progress

    # -- hooks ------------------------------------------------------------------------------------
    def fail(self, exc: BaseException) -> None:
        """A trap callback raised: stop the run; ``run`` re-raises ``exc``."""
        self._error = exc
        uclib.emu_stop(self.uch)

    def _guard(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a trap callback: an exception stops the run and is re-raised by ``run``."""

        def guarded(*args: Any) -> Any:
            try:
                return fn(*args)
            except BaseException as exc:  # noqa: BLE001 - re-raised from run()
                self.fail(exc)
                return False

        return guarded

    def on_syscall(self, fn: Callable[[], None]) -> None:
        """x86-64 SYSCALL instruction; inside ``fn`` the PC is still the instruction's own."""
        self._hooks.append(uclib.hook_syscall(self.uch, x86.UC_X86_INS_SYSCALL, self._guard(fn)))

    def on_syscall_fast(self, fn: Callable[[], None]) -> None:
        """SYSCALL hook for the hot path, with one wrapper frame.

        Inside the hook Unicorn still reports the SYSCALL instruction's own address and steps past
        it (2 bytes) after the hook returns; here the ``pc`` property hides that and always means
        "where the guest resumes", which is what a kernel that saves, restarts or redirects threads
        from inside the hook needs.
        """

        def entry(_uc: int, _user: int) -> None:
            self.pc_bias = 2
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised from run()
                self.fail(exc)
            finally:
                self.pc_bias = 0

        self._hooks.append(uclib.hook_syscall_raw(self.uch, x86.UC_X86_INS_SYSCALL, entry))

    def on_syscall_raw(self, cb: Callable[[int, int], None]) -> None:
        """SYSCALL hook whose ``cb(uc, user)`` is the ctypes callback itself (no wrapper frame).

        ``cb`` must catch everything (``fail`` hands an exception to ``run``) and keep ``pc_bias``
        at 2 while it runs, as ``on_syscall_fast`` does, unless it wants ``on_syscall``'s meaning
        of ``pc`` (the instruction's own address: the Windows API trap) and leaves it at 0.
        """
        self._hooks.append(uclib.hook_syscall_raw(self.uch, x86.UC_X86_INS_SYSCALL, cb))

    def on_interrupt_raw(self, cb: Callable[[int, int, int], None]) -> None:
        """Interrupt hook whose ``cb(uc, intno, user)`` is the ctypes callback; it must not raise."""
        self._hooks.append(uclib.hook_interrupt_raw(self.uch, cb))

    def on_sysenter_raw(self, cb: Callable[[int, int], None]) -> None:
        """SYSENTER hook whose ``cb(uc, user)`` is the ctypes callback itself (no wrapper frame).

        ``cb`` must catch everything (``fail`` hands an exception to ``run``); EIP is already past
        the instruction, so ``pc_bias`` stays 0.
        """
        self._hooks.append(uclib.hook_syscall_raw(self.uch, x86.UC_X86_INS_SYSENTER, cb))

    def on_sysenter(self, fn: Callable[[], None]) -> None:
        """i386 SYSENTER instruction (Windows API stubs; served in place, EIP after it)."""
        self._hooks.append(uclib.hook_syscall(self.uch, x86.UC_X86_INS_SYSENTER, self._guard(fn)))

    def on_interrupt(self, fn: Callable[[int], None]) -> None:
        """``int n`` and CPU exceptions (int 0x80 on i386, #PF, #DE, #UD ...)."""
        self._hooks.append(uclib.hook_interrupt(self.uch, self._guard(fn)))

    def on_interrupt_fast(self, fn: Callable[[int], None]) -> None:
        """``on_interrupt`` with one wrapper frame (i386 ``int 0x80`` system calls are hot)."""

        def entry(_uc: int, intno: int, _user: int) -> None:
            try:
                fn(intno)
            except BaseException as exc:  # noqa: BLE001 - re-raised from run()
                self.fail(exc)

        self._hooks.append(uclib.hook_interrupt_raw(self.uch, entry))

    def on_invalid(self, fn: Callable[[], bool]) -> None:
        self._hooks.append(uclib.hook_invalid(self.uch, self._guard(fn)))

    def request_stop(self) -> None:
        """Called from a trap handler: end the current ``run`` after the handler returns."""
        self.stop_requested = True
        uclib.emu_stop(self.uch)

    # -- registers --------------------------------------------------------------------------------
    @property
    def pc(self) -> int:
        return self.reg.read(self.pc_reg) + self.pc_bias

    @pc.setter
    def pc(self, value: int) -> None:
        self.reg.write(self.pc_reg, value - self.pc_bias)

    @property
    def sp(self) -> int:
        return self.reg.read(self.sp_reg)

    @sp.setter
    def sp(self, value: int) -> None:
        self.reg.write(self.sp_reg, value)

    def batch(self, reg_ids: list[int], width: int | None = None) -> uclib.RegBatch:
        return uclib.RegBatch(self.uch, reg_ids, width)

    # -- running ----------------------------------------------------------------------------------
    def _before_run(self) -> bool:
        """Subclasses make pending changes visible to the CPU here; False: a stop request came
        meanwhile, so the run ends at once (``Stop.REQUESTED``)."""
        return True

    def _emu(self, begin: int, until: int, timeout_us: int, count: int) -> None:
        self.depth += 1
        self._counts.append(count)
        try:
            self.uc.emu_start(begin, until, timeout=timeout_us, count=count)
        finally:
            self._counts.pop()
            self.depth -= 1

    def run(self, timeout_us: int = 0, count: int = 0) -> Stop:
        """Run from the current PC until a handler stops, a fault, ``timeout_us`` passes, or (when
        ``count`` is set) that many instructions ran."""
        self.fault = None
        return self._drive(None, self.until, timeout_us, count)

    def _drive(self, begin: int | None, until: int, timeout_us: int, count: int) -> Stop:
        """One ``emu_start`` (from the current PC when ``begin`` is None) and why it ended; a
        handler's exception is re-raised here."""
        self.stop_requested = False
        if not self._before_run():
            return Stop.REQUESTED
        try:
            self._emu(self.pc if begin is None else begin, until, timeout_us, count)
        except UcError as err:
            if self._error is not None:
                error, self._error = self._error, None
                raise error from None
            self.fault = _FAULT_OF.get(err.errno, Fault.OTHER)
            self.fault_errno = err.errno
            self.fault_addr = self.pc
            return Stop.FAULT
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if self.stop_requested:
            return Stop.REQUESTED
        return Stop.SLICE

    def call_nested(self, begin: int, until: int) -> Stop:
        """Run guest code from ``begin`` until it reaches ``until``, from a trap handler or not.

        The caller has set up registers and pushed ``until`` as the return address (callbacks such
        as qsort comparators, DLL entry points, atexit functions); Unicorn supports a nested
        ``emu_start`` inside a hook. An exception a handler raised meanwhile is re-raised here; a
        fault returns Stop.FAULT; a stop request returns Stop.REQUESTED (the caller then stops the
        outer run too); reaching ``until`` returns Stop.SLICE.

        Inside a run limited to ``count`` instructions the nested run is counted too. Unicorn
        counts with a code hook that ``emu_start(count=0)`` deletes, flushing every translated
        block as it does; called from a hook, that frees the host code the outer run is executing
        and returns into whatever the nested run translated there (SIGSEGV/SIGILL in the host
        process). Since every ``emu_start`` restarts Unicorn's one instruction counter, the outer
        run's budget is gone afterwards: it stops when the hook returns (``Stop.SLICE``).
        """
        exact = self.block_stop
        if exact is None:
            return self._nested(begin, until)
        # A stop for the outer run (the watchdog's, through the block stop) must not end the
        # nested one: hold it, finish the nested run, and pass it on to the outer run.
        held = exact.take()
        try:
            while True:
                stop = self._nested(begin, until)
                if stop is Stop.SLICE and self.pc != until and exact.take():
                    held = True
                    begin = self.pc
                    continue
                return stop
        finally:
            if held:
                exact.stop()

    def _nested(self, begin: int, until: int) -> Stop:
        if not self._counts or self._counts[-1] <= 0:
            return self._drive(begin, until, 0, 0)
        try:
            return self._drive(begin, until, 0, NESTED_COUNT)
        finally:
            uclib.emu_stop(self.uch)  # end the outer slice once the hook returns

    def _release(self) -> None:
        """Subclasses free what they own beside the Unicorn instance."""

    def close(self) -> None:
        """Free the Unicorn instance now rather than at garbage collection."""
        for hh, _keep in self._hooks:
            uclib.hook_del(self.uch, hh)
        self._hooks.clear()
        self._release()
        uc = self.uc
        del self.uc
        release = getattr(uc, "_Uc__finalizer", None)
        if release is not None:
            release()


class Machine(Cpu):
    """A guest CPU and its memory. Personalities install trap callbacks and call ``run``."""

    def __init__(self, arch: Arch, memory_limit: int | None = None) -> None:
        self.arch = arch
        self.is64 = arch is Arch.X86_64
        super().__init__(UC_MODE_64 if self.is64 else UC_MODE_32)
        self.layout = LAYOUT_64 if self.is64 else LAYOUT_32
        self.mem = AddressSpace(self.uc, self.layout, memory_limit)
        self.pc_reg = x86.UC_X86_REG_RIP if self.is64 else x86.UC_X86_REG_EIP
        self.sp_reg = x86.UC_X86_REG_RSP if self.is64 else x86.UC_X86_REG_ESP
        self.gdt_base = 0
        self.task: Any = None  # the personality's thread whose CPU state is loaded
        self.users = 0  # processes sharing this address space (vfork, CLONE_VM)
        self.closed = False
        self.tlb = TlbSizer(self)
        self.block_stop = None  # see enable_block_stop
        self.mem.tlb_watermark = self.tlb.watermark()
        self.mem.on_outgrown = self._tlb_outgrown
        self._enable_paging()
        if not self.is64:
            self._setup_segments()

    # -- threads and fork -------------------------------------------------------------------------
    def save_context(self) -> tuple[Any, int]:
        """CPU state to restore later, with the resume PC (see ``Cpu.on_syscall``)."""
        return self.uc.context_save(), self.pc

    def restore_context(self, saved: tuple[Any, int]) -> None:
        context, pc = saved
        self.uc.context_restore(context)
        self.pc = pc
        self.mem._tlb_dirty = True

    def copy_from(self, parent: Machine) -> None:
        """Make this machine's memory a copy of ``parent``'s (fork): mappings, contents, brk, GDT."""
        self.mem.fork_from(parent.mem)
        if self.gdt_base:
            self.uc.mem_write(self.gdt_base, bytes(parent.uc.mem_read(parent.gdt_base, 0x1000)))

    # -- CPU setup --------------------------------------------------------------------------------
    def _enable_paging(self) -> None:
        uc = self.uc
        uc.reg_write(
            x86.UC_X86_REG_CR4,
            uc.reg_read(x86.UC_X86_REG_CR4) | CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT,
        )
        efer = uc.reg_read(x86.UC_X86_REG_MSR, EFER)
        uc.reg_write(x86.UC_X86_REG_MSR, (EFER, efer | EFER_NXE))
        uc.reg_write(x86.UC_X86_REG_CR3, self.mem.tables.root)
        uc.reg_write(x86.UC_X86_REG_CR0, uc.reg_read(x86.UC_X86_REG_CR0) | CR0_PE | CR0_WP | CR0_PG)

    def _setup_segments(self) -> None:
        """i386: a GDT with flat 32-bit code/data and the TLS slots set_thread_area fills."""
        base = self.layout.arena - 0x1000
        self.gdt_base = base
        self.uc.mem_map(base, 0x1000, ucc.UC_PROT_ALL)
        self.mem.tables.update(
            base, base + 0x1000, lambda lo, hi: [(base, base + 0x1000, _kernel_rw())]
        )
        gdt = bytearray(GDT_ENTRIES * 8)
        gdt[GDT_CODE * 8 : GDT_CODE * 8 + 8] = seg_descriptor(0, 0xFFFFF, 0x9A, 0xC)
        gdt[GDT_DATA * 8 : GDT_DATA * 8 + 8] = seg_descriptor(0, 0xFFFFF, 0x92, 0xC)
        self.uc.mem_write(base, bytes(gdt))
        self.uc.reg_write(x86.UC_X86_REG_GDTR, (0, base, GDT_ENTRIES * 8 - 1, 0))
        self.uc.reg_write(x86.UC_X86_REG_SS, GDT_DATA << 3)
        self.uc.reg_write(x86.UC_X86_REG_DS, GDT_DATA << 3)
        self.uc.reg_write(x86.UC_X86_REG_ES, GDT_DATA << 3)

    def write_gdt_entry(self, index: int, descriptor: bytes) -> None:
        self.uc.mem_write(self.gdt_base + index * 8, descriptor)

    def read_gdt_entry(self, index: int) -> bytes:
        return bytes(self.uc.mem_read(self.gdt_base + index * 8, 8))

    def set_fs_base(self, value: int) -> None:
        self.uc.reg_write(x86.UC_X86_REG_FS_BASE, value)

    def set_gs_base(self, value: int) -> None:
        self.uc.reg_write(x86.UC_X86_REG_GS_BASE, value)

    def _before_run(self) -> bool:
        mem = self.mem
        if self.depth == 0:  # never from inside a hook (see AddressSpace.release_stale)
            mem.release_stale()
        mem.flush_tlb()
        if self.depth == 0 and mem.mapped_bytes > mem.tlb_watermark:
            target = self.tlb.wanted()
            done = target <= self.tlb.entries or self.tlb.grow(target)
            mem.tlb_watermark = self.tlb.watermark()
            return done
        return True

    def enable_block_stop(self) -> BlockStop | None:
        """Give this Machine an exact stop that any thread can request (core/blockstop.py), if the
        host can run it; call outside ``emu_start`` (it drops the translated code)."""
        if self.block_stop is None and blockstop.available():
            BlockStop(self)
        return self.block_stop

    def _tlb_outgrown(self) -> None:
        """The mappings outgrew the TLB: end a top-level run after this trap, so that the next
        one grows it first (a trap inside a nested run waits for the next top-level run)."""
        if self.depth == 1:
            self.request_stop()

    def _release(self) -> None:
        self.closed = True
        self.task = None
        self.mem.release()

    def close(self) -> None:
        if self.closed:
            return
        super().close()


def _kernel_rw() -> int:
    from .pagetables import leaf_flags

    return leaf_flags(Perm.RW)
