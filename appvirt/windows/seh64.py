"""x64 exception dispatch and unwinding, as ntdll's RtlDispatchException and RtlUnwindEx do it.

``dispatch`` gets an exception (RaiseException, or a CPU fault in guest code) with the CONTEXT of
where it happened. It stores the EXCEPTION_RECORD and CONTEXT on the stack below that frame, asks
the vectored handlers (AddVectoredExceptionHandler) first, then walks the frames with the .pdata
unwind information (unwind64.py) and calls every language handler (UNW_FLAG_EHANDLER) with a
DISPATCHER_CONTEXT; ExceptionContinueExecution resumes at the (possibly edited) CONTEXT,
ExceptionContinueSearch asks the next frame. Nobody taking it leaves the unhandled-exception filter
(SetUnhandledExceptionFilter) as the last word, as the thread's start routine does on Windows.

``unwind`` is RtlUnwindEx's second pass: every frame from the caller up to the target frame has its
termination handler (UNW_FLAG_UHANDLER) called with EXCEPTION_UNWINDING (EXCEPTION_TARGET_UNWIND
at the target), then the thread resumes in the target frame at the target IP with RAX set.

Handlers are guest code called from here (``proc.call``: a nested run on the stack below our
records), and they call back in: a C++ runtime calls RtlUnwindEx from its handler, and its own
unwind handler calls RtlUnwindEx again (a collided unwind). Each handler call is a ``Boundary``:
a walk that reaches one (the callback's sentinel return address) continues with the CONTEXT the
boundary names, as Windows' walk continues through the dispatcher's frames into the faulting
frames. Resuming a frame below some of those nested calls raises ``ContextJump``, which unwinds
the Python frames of the calls it abandons; the level that owns the target frame installs it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from unicorn import x86_const as x86

from . import unwind64 as uw
from .seh import (
    EXCEPTION_EXIT_UNWIND,
    EXCEPTION_NONCONTINUABLE,
    EXCEPTION_UNWINDING,
    FILTER_CONTINUE_EXECUTION,
    STATUS_UNWIND,
)
from .unwind64 import CONTEXT_SIZE, Context64, Unwinder, capture, load_into_cpu, lookup

RECORD_SIZE = 0x98
DISPATCHER_SIZE = 0x50
MAX_PARAMETERS = 15
MAX_FRAMES = 10_000
MAX_NESTING = 64  # handler calls in progress on one thread

EXCEPTION_STACK_INVALID = 0x08
EXCEPTION_TARGET_UNWIND = 0x20
EXCEPTION_COLLIDED_UNWIND = 0x40

CONTINUE_EXECUTION, CONTINUE_SEARCH, NESTED_EXCEPTION, COLLIDED_UNWIND = 0, 1, 2, 3

STATUS_BREAKPOINT = 0x80000003
STATUS_STACK_OVERFLOW = 0xC00000FD
STATUS_NONCONTINUABLE_EXCEPTION = 0xC0000025
STATUS_INVALID_DISPOSITION = 0xC0000026
STATUS_BAD_STACK = 0xC0000028
STATUS_INVALID_UNWIND_TARGET = 0xC0000029
STATUS_UNWIND_CONSOLIDATE = 0x80000029
RAX, RDX = 0, 2


class ContextJump(Exception):
    """Resume the thread at ``ctx``, abandoning the nested handler calls below its frame."""

    def __init__(self, ctx: Context64) -> None:
        super().__init__(f"resume at {ctx.rip:#x}")
        self.ctx = ctx


@dataclass(slots=True)
class Boundary:
    """A handler call in progress: its stack starts below ``sp``; a walk reaching its return
    address continues with the CONTEXT at ``context`` (collided when ``unwind``)."""

    sp: int
    context: int
    unwind: bool


def _calls(proc: Any) -> list[Boundary]:
    return proc.state.setdefault(("seh64_calls", proc.tid), [])  # type: ignore[no-any-return]


def guarded(proc: Any, in_syscall: bool, work: Any) -> Any:
    """Run ``work()``; a ContextJump to a frame of this level resumes the thread there.

    ``in_syscall``: we are inside the API trap, which steps RIP past the ``syscall`` instruction
    (2 bytes) after the handler returns, so RIP is written 2 bytes short."""
    calls = _calls(proc)
    floor = calls[-1].sp if calls else None
    try:
        return work()
    except ContextJump as jump:
        if floor is not None and jump.ctx.rsp > floor:
            raise  # a frame of an outer level: the Python frames in between go too
        resume_cpu(proc, jump.ctx, in_syscall)
        return jump.ctx


def resume_cpu(proc: Any, ctx: Context64, in_syscall: bool) -> None:
    """Put ``ctx`` on the CPU. Outside the API trap RIP goes through the saved CPU context,
    which also forgets the fault being handled: otherwise Unicorn keeps it as the "previous
    exception" and delivers the next fault as a double fault (see core/cpustate.py)."""
    from ..core import cpustate

    load_into_cpu(proc.uc, ctx)
    if in_syscall:
        proc.uc.reg_write(x86.UC_X86_REG_RIP, ctx.rip - 2)
        return
    saved = cpustate.CpuContext(proc.uc)
    struct.pack_into("<Q", saved.raw, cpustate._EIP, ctx.rip)  # RIP: the eip setter keeps 32 bits
    saved.clear_exception()
    saved.commit()


def call_handler(proc: Any, sp: int, context: int, unwind: bool, fn: int, *args: int,
                 wide: bool = False) -> int:  # fmt: skip
    """Call guest ``fn`` with its stack below ``sp``; its 32-bit result (64-bit when ``wide``)."""
    calls = _calls(proc)
    calls.append(Boundary(sp, context, unwind))
    saved = proc.machine.sp
    try:
        proc.machine.sp = sp
        result = int(proc.call(fn, *args))
        return result if wide else result & 0xFFFFFFFF
    finally:
        calls.pop()
        proc.machine.sp = saved


def _cross(proc: Any, ctx: Context64) -> tuple[Context64, Boundary] | None:
    """The walk reached the return address of a nested handler call: the context past it."""
    if ctx.rip != proc.sentinel:
        return None
    for boundary in reversed(_calls(proc)):
        if boundary.sp - 0x400 < ctx.rsp <= boundary.sp:
            return Context64(proc.read(boundary.context, CONTEXT_SIZE)), boundary
    return None


def _stack_bounds(proc: Any) -> tuple[int, int]:
    teb, off = proc.blocks.teb, proc.blocks.off
    return proc.read_ptr(teb + off.teb_stack_limit), proc.read_ptr(teb + off.teb_stack_base)


class Area:
    """Records laid out on the guest stack below ``top``, each 16-byte aligned."""

    def __init__(self, top: int) -> None:
        self.next = (top - 0x80) & ~0xF

    def take(self, size: int) -> int:
        self.next = (self.next - size) & ~0xF
        return self.next

    @property
    def sp(self) -> int:
        """Where the handlers' stack starts."""
        return self.next - 0x40


def record_bytes(code: int, flags: int, address: int, params: list[int], nested: int = 0) -> bytes:
    params = params[:MAX_PARAMETERS]
    raw = struct.pack("<IIQQI4x", code, flags, nested, address, len(params))
    raw += b"".join(struct.pack("<Q", p & 0xFFFFFFFFFFFFFFFF) for p in params)
    return raw.ljust(RECORD_SIZE, b"\0")


def _dispatcher_bytes(pc: int, base: int, entry: int, frame: int, target: int, context: int,
                      handler: int, data: int, history: int) -> bytes:  # fmt: skip
    return struct.pack("<10QII", pc, base, entry, frame, target, context, handler, data,
                       history, 0, 0, 0)[:DISPATCHER_SIZE]  # fmt: skip


# -- first pass --------------------------------------------------------------------------------------
def dispatch(proc: Any, record: bytes, ctx: Context64) -> None:
    """Offer an exception to the vectored handlers, the frames' handlers and the unhandled filter.

    Raises ContextJump when one of them continues execution, GuestCrash when nobody does."""
    from .process import GuestCrash

    if len(_calls(proc)) > MAX_NESTING:  # handlers that fault in turn, without end
        raise GuestCrash(STATUS_STACK_OVERFLOW, ctx.rip)
    area = Area(ctx.rsp)
    ctx_addr = area.take(CONTEXT_SIZE)
    rec_addr = area.take(RECORD_SIZE)
    pointers = area.take(16)
    disp = area.take(DISPATCHER_SIZE)
    walk_addr = area.take(CONTEXT_SIZE)
    proc.write(ctx_addr, bytes(ctx.raw))
    proc.write(rec_addr, record)
    proc.write(pointers, struct.pack("<QQ", rec_addr, ctx_addr))
    code = struct.unpack_from("<I", record)[0]

    def resume() -> None:
        if proc.read_u32(rec_addr + 4) & EXCEPTION_NONCONTINUABLE:
            raise GuestCrash(STATUS_NONCONTINUABLE_EXCEPTION, ctx.rip)
        raise ContextJump(Context64(proc.read(ctx_addr, CONTEXT_SIZE)))

    for _handle, fn in list(proc.state.get("vectored_handlers", [])):
        if call_handler(proc, area.sp, ctx_addr, False, fn, pointers) == FILTER_CONTINUE_EXECUTION:
            resume()
    unwinder = Unwinder(proc.read)
    limit, base = _stack_bounds(proc)
    walk = ctx.copy()
    for _ in range(MAX_FRAMES):
        crossed = _cross(proc, walk)
        if crossed is not None:
            walk = crossed[0]
            continue
        pc = walk.rip
        if not pc or not limit <= walk.rsp < base:
            break
        found = lookup(proc, pc)
        try:
            if found is None:
                unwinder.leaf(walk)
                continue
            image_base, entry_addr, entry = found
            handler, data, frame = unwinder.unwind(
                uw.UNW_FLAG_EHANDLER, image_base, pc, entry, walk
            )
        except Exception:  # noqa: BLE001 - the walk read outside memory: the stack is corrupt
            break
        if not limit <= frame < base or frame & 7:
            proc.write_u32(rec_addr + 4, proc.read_u32(rec_addr + 4) | EXCEPTION_STACK_INVALID)
            break
        if not handler:
            continue
        proc.write(walk_addr, bytes(walk.raw))
        proc.write(disp, _dispatcher_bytes(pc, image_base, entry_addr, frame, 0, walk_addr,
                                           handler, data, 0))  # fmt: skip
        disposition = call_handler(proc, area.sp, ctx_addr, False, handler, rec_addr, frame,
                                   ctx_addr, disp)  # fmt: skip
        if disposition == CONTINUE_EXECUTION:
            resume()
        elif disposition not in (CONTINUE_SEARCH, NESTED_EXCEPTION):
            raise GuestCrash(STATUS_INVALID_DISPOSITION, ctx.rip)
    top = proc.state.get("unhandled_filter", 0)
    if (
        top
        and call_handler(proc, area.sp, ctx_addr, False, top, pointers) == FILTER_CONTINUE_EXECUTION
    ):
        resume()
    raise GuestCrash(code, struct.unpack_from("<Q", record, 0x10)[0])


# -- second pass ---------------------------------------------------------------------------------------
def unwind(proc: Any, start: Context64, target_frame: int, target_ip: int, record: int,
           value: int, context_buf: int, history: int) -> None:  # fmt: skip
    """RtlUnwindEx from the frame of ``start``: call the termination handlers of every frame up to
    ``target_frame`` (0: all of them), then raise ContextJump to ``target_ip`` in that frame."""
    from .process import GuestCrash

    area = Area(start.rsp - 8)
    if not record:
        record = area.take(RECORD_SIZE)
        proc.write(record, record_bytes(STATUS_UNWIND, 0, start.rip, []))
    context = context_buf or area.take(CONTEXT_SIZE)
    caller_ctx = area.take(CONTEXT_SIZE)
    disp = area.take(DISPATCHER_SIZE)
    flags = proc.read_u32(record + 4) | EXCEPTION_UNWINDING
    if not target_frame:
        flags |= EXCEPTION_EXIT_UNWIND
    flags &= ~(EXCEPTION_TARGET_UNWIND | EXCEPTION_COLLIDED_UNWIND)
    proc.write_u32(record + 4, flags)
    unwinder = Unwinder(proc.read)
    limit, base = _stack_bounds(proc)
    cur = start.copy()
    collided = False
    for _ in range(MAX_FRAMES):
        crossed = _cross(proc, cur)
        if crossed is not None:
            cur, boundary = crossed
            collided = boundary.unwind
            continue
        pc = cur.rip
        if not pc or not limit <= cur.rsp < base:
            if target_frame:
                raise GuestCrash(STATUS_INVALID_UNWIND_TARGET, pc)
            break
        found = lookup(proc, pc)
        nxt = cur.copy()
        if found is None:
            unwinder.leaf(nxt)
            cur = nxt
            continue
        image_base, entry_addr, entry = found
        handler, data, frame = unwinder.unwind(uw.UNW_FLAG_UHANDLER, image_base, pc, entry, nxt)
        if not limit <= frame < base or frame & 7:
            raise GuestCrash(STATUS_BAD_STACK, pc)
        if target_frame and frame > target_frame:
            raise GuestCrash(STATUS_INVALID_UNWIND_TARGET, pc)
        if handler:
            call_flags = flags | (EXCEPTION_TARGET_UNWIND if frame == target_frame else 0)
            call_flags |= EXCEPTION_COLLIDED_UNWIND if collided else 0
            proc.write_u32(record + 4, call_flags)
            proc.write(context, bytes(cur.raw))
            nxt.set_gpr(RAX, value)
            proc.write(caller_ctx, bytes(nxt.raw))
            proc.write(disp, _dispatcher_bytes(pc, image_base, entry_addr, frame, target_ip,
                                               context, handler, data, history))  # fmt: skip
            disposition = call_handler(proc, area.sp, context, True, handler, record, frame,
                                       caller_ctx, disp)  # fmt: skip
            proc.write_u32(record + 4, flags)
            cur = Context64(proc.read(context, CONTEXT_SIZE))  # the handler may edit it
            collided = False
            if disposition not in (CONTINUE_SEARCH, COLLIDED_UNWIND):
                raise GuestCrash(STATUS_INVALID_DISPOSITION, pc)
        if frame == target_frame:
            break
        cur = nxt
    else:
        raise GuestCrash(STATUS_BAD_STACK, cur.rip)
    finish(proc, cur, target_ip, value, record, area)


def finish(proc: Any, ctx: Context64, target_ip: int, value: int, record: int, area: Area) -> None:
    """The end of an unwind: resume at ``target_ip`` with RAX = ``value`` (a consolidation
    record's callback, which runs a catch block, says where instead)."""
    ctx.set_gpr(RAX, value)
    if record and proc.read_u32(record) == STATUS_UNWIND_CONSOLIDATE:
        ctx.rip = consolidate(proc, ctx, record)
    else:
        ctx.rip = target_ip
    raise ContextJump(ctx)


def consolidate(proc: Any, ctx: Context64, record: int) -> int:
    """STATUS_UNWIND_CONSOLIDATE: call ExceptionInformation[0](record) on the target frame's
    stack (MSVC's C++ runtime runs the catch block there); it returns where to resume."""
    callback = proc.read_ptr(record + 0x20)
    holder = Area(ctx.rsp)
    saved = holder.take(CONTEXT_SIZE)
    proc.write(saved, bytes(ctx.raw))
    return call_handler(proc, holder.sp, saved, False, callback, record, wide=True)


def restore(proc: Any, ctx: Context64, record: int) -> None:
    """RtlRestoreContext: resume at ``ctx`` (after a consolidation callback when the record
    asks for one)."""
    if record and proc.read_u32(record) == STATUS_UNWIND_CONSOLIDATE:
        ctx.rip = consolidate(proc, ctx, record)
    raise ContextJump(ctx)


# -- entry points ------------------------------------------------------------------------------------
def caller_context(proc: Any) -> Context64:
    """The context of the function that called the current API: after its call returns."""
    rsp = proc.uc.reg_read(x86.UC_X86_REG_RSP)
    ctx = capture(proc.uc, proc.read_ptr(rsp))
    ctx.rsp = rsp + 8
    return ctx


def api_context(proc: Any) -> Context64:
    """The context inside the current API's stub, at its ``ret`` (RSP at the return address):
    what Windows' RaiseException reports, one leaf frame above its caller."""
    rip = proc.uc.reg_read(x86.UC_X86_REG_RIP) + 2 - proc.machine.pc_bias
    return capture(proc.uc, rip)


def raise_from_api(proc: Any, code: int, flags: int, params: list[int]) -> Any:
    """RaiseException: dispatch from inside the API trap; returns when a handler continues."""
    ctx = api_context(proc)
    record = record_bytes(code, flags & EXCEPTION_NONCONTINUABLE, ctx.rip, params)
    return guarded(proc, True, lambda: _dispatch_or_crash(proc, record, ctx))


def raise_fault(proc: Any, status: int, pc: int, params: list[int]) -> bool:
    """A CPU exception at ``pc`` (outside any API call): True when a handler took it."""
    if status == STATUS_BREAKPOINT and pc and proc.read(pc - 1, 1) == b"\xcc":
        pc -= 1  # the int3 itself, as Windows reports it
    ctx = capture(proc.uc, pc)
    record = record_bytes(status, 0, pc, params)
    return guarded(proc, False, lambda: _dispatch_or_crash(proc, record, ctx)) is not None


def _dispatch_or_crash(proc: Any, record: bytes, ctx: Context64) -> None:
    """``dispatch``; no room on the stack for the records leaves the exception unhandled."""
    from ..core.memory import GuestFault
    from .process import GuestCrash

    try:
        dispatch(proc, record, ctx)
    except GuestFault:
        code, _flags, _nested, address = struct.unpack_from("<IIQQ", record)
        raise GuestCrash(code, address) from None
