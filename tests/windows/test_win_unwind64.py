"""RtlVirtualUnwind on hand-made UNWIND_INFO: every unwind code, prologs, epilogs and chains.

Each case lays out a function's code, its UNWIND_INFO and a stack in a flat fake memory, then
checks the caller's registers, the establisher frame and the handler that the unwinder reports,
as the x64 ABI (Microsoft's "x64 exception handling") defines them.
"""

from __future__ import annotations

import struct

from appvirt.windows.unwind64 import (
    UNW_FLAG_CHAININFO,
    UNW_FLAG_EHANDLER,
    UNW_FLAG_UHANDLER,
    Context64,
    Pointers,
    Unwinder,
)

BASE = 0x10000
FUNC, END = 0x1000, 0x1100  # RVAs of the function
INFO = 0x2000  # RVA of its UNWIND_INFO
STACK = 0x8000
RBX, RSP, RBP, RSI, R12 = 3, 4, 5, 6, 12


class Memory:
    def __init__(self) -> None:
        self.data = bytearray(0x10000)

    def put(self, addr: int, raw: bytes) -> None:
        self.data[addr - BASE : addr - BASE + len(raw)] = raw

    def read(self, addr: int, size: int) -> bytes:
        return bytes(self.data[addr - BASE : addr - BASE + size])


def code(offset: int, op: int, info: int) -> int:
    return offset | op << 8 | info << 12


def unwind_info(codes: list[int], prolog: int, flags: int = 0, frame: int = 0,
                frame_off: int = 0, tail: bytes = b"") -> bytes:  # fmt: skip
    head = bytes([1 | flags << 3, prolog, len(codes), frame | frame_off << 4])
    slots = codes + ([0] if len(codes) % 2 else [])
    return head + struct.pack(f"<{len(slots)}H", *slots) + tail


def setup(info: bytes, stack: list[int], body: bytes = b"\x90" * 16) -> tuple[Memory, Context64]:
    mem = Memory()
    mem.put(BASE + INFO, info)
    mem.put(BASE + STACK, struct.pack(f"<{len(stack)}Q", *stack))
    mem.put(BASE + FUNC, body)
    ctx = Context64()
    ctx.rsp = BASE + STACK
    return mem, ctx


def run(mem: Memory, ctx: Context64, pc_offset: int, kind: int = UNW_FLAG_EHANDLER,
        ptrs: Pointers | None = None) -> tuple[int, int, int]:  # fmt: skip
    entry = (FUNC, END, INFO)
    return Unwinder(mem.read).unwind(kind, BASE, BASE + FUNC + pc_offset, entry, ctx, ptrs)


# push rbp (1 byte); push rbx (1); sub rsp, 0x28 (4): codes last operation first.
PUSHES = [code(6, 2, 4), code(2, 0, RBX), code(1, 0, RBP)]


def test_body_undoes_the_whole_prolog() -> None:
    stack = [0] * 5 + [0xB0B, 0xBB, 0xCA11E4]  # 0x28 of locals, saved rbx, saved rbp, return
    mem, ctx = setup(unwind_info(PUSHES, 6), stack)
    ptrs = Pointers()
    handler, data, frame = run(mem, ctx, 0x10, ptrs=ptrs)
    assert (handler, data, frame) == (0, 0, BASE + STACK)
    assert (ctx.gpr(RBX), ctx.gpr(RBP), ctx.rip) == (0xB0B, 0xBB, 0xCA11E4)
    assert ctx.rsp == BASE + STACK + 8 * 8
    assert ptrs.gpr == {RBX: BASE + STACK + 0x28, RBP: BASE + STACK + 0x30}


def test_prolog_undoes_only_what_ran() -> None:
    """At prolog offset 1 only ``push rbp`` has run."""
    mem, ctx = setup(unwind_info(PUSHES, 6), [0xBB, 0xCA11E4])
    ctx.set_gpr(RBX, 0x77)
    run(mem, ctx, 1)
    assert (ctx.gpr(RBP), ctx.gpr(RBX), ctx.rip, ctx.rsp) == (
        0xBB,
        0x77,
        0xCA11E4,
        BASE + STACK + 16,
    )


def test_epilog_runs_forwards_and_reports_no_handler() -> None:
    """At ``pop rbx`` of ``add rsp, 0x28; pop rbx; pop rbp; ret`` the locals are gone already:
    the rest of the epilog is emulated instead of the prolog being undone."""
    epilog = bytes.fromhex("4883c428") + b"\x5b\x5d\xc3"
    tail = struct.pack("<I", 0x3000)
    mem, ctx = setup(
        unwind_info(PUSHES, 6, UNW_FLAG_EHANDLER, tail=tail),
        [0xB0B, 0xBB, 0xCA11E4],
        b"\x90" * 0x20 + epilog,
    )
    handler, _data, _frame = run(mem, ctx, 0x24)
    assert handler == 0
    assert (ctx.gpr(RBX), ctx.gpr(RBP), ctx.rip, ctx.rsp) == (
        0xB0B,
        0xBB,
        0xCA11E4,
        BASE + STACK + 24,
    )


def test_tail_jump_out_of_the_function_is_an_epilog() -> None:
    """At the ``jmp`` after ``pop rsi`` only the return address is left on the stack."""
    body = b"\x90" * 0x20 + b"\x5e\xe9" + struct.pack("<i", 0x1000)
    mem, ctx = setup(unwind_info([code(1, 0, RSI)], 1), [0xCA11E4, 0xBAD], body)
    ctx.set_gpr(RSI, 0x51)
    run(mem, ctx, 0x21)
    assert (ctx.gpr(RSI), ctx.rip, ctx.rsp) == (0x51, 0xCA11E4, BASE + STACK + 8)


def test_jump_inside_the_function_is_not_an_epilog() -> None:
    """A short jump back into the function is ordinary code: the prolog is undone."""
    body = b"\x90" * 0x20 + b"\x5e\xeb\xf0"
    mem, ctx = setup(unwind_info([code(1, 0, RSI)], 1), [0x51, 0xCA11E4], body)
    run(mem, ctx, 0x21)
    assert (ctx.gpr(RSI), ctx.rip, ctx.rsp) == (0x51, 0xCA11E4, BASE + STACK + 16)


def test_frame_register_sets_the_establisher_frame_and_save_offsets() -> None:
    """push rbp; sub rsp, 0x40; lea rbp, [rsp+0x20]; mov [rsp+0x30], rsi (frame-relative);
    the body has moved RSP further (alloca), which the frame register undoes."""
    codes = [code(14, 4, RSI), 6, code(10, 3, 0), code(5, 2, 7), code(1, 0, RBP)]
    codes[1] = 0x30 // 8  # UWOP_SAVE_NONVOL's offset slot
    info = unwind_info(codes, 14, UNW_FLAG_UHANDLER, frame=RBP, frame_off=2,
                       tail=struct.pack("<I", 0x3000) + b"data")  # fmt: skip
    frame = BASE + STACK + 0x100
    mem, ctx = setup(info, [])
    mem.put(frame + 0x30, struct.pack("<Q", 0x5151))
    mem.put(frame + 0x40, struct.pack("<QQ", 0xBB, 0xCA11E4))
    ctx.set_gpr(RBP, frame + 0x20)
    handler, data, establisher = run(mem, ctx, 0x40, UNW_FLAG_UHANDLER)
    assert (handler, establisher) == (BASE + 0x3000, frame)
    assert mem.read(data, 4) == b"data"
    assert (ctx.gpr(RSI), ctx.gpr(RBP), ctx.rip, ctx.rsp) == (0x5151, 0xBB, 0xCA11E4, frame + 0x50)


def test_handler_kind_must_match() -> None:
    info = unwind_info([code(1, 0, RBP)], 1, UNW_FLAG_UHANDLER, tail=struct.pack("<I", 0x3000))
    mem, ctx = setup(info, [0xBB, 0xCA11E4])
    assert run(mem, ctx, 8, UNW_FLAG_EHANDLER)[0] == 0


def test_large_allocations_and_xmm_saves() -> None:
    """UWOP_ALLOC_LARGE in both encodings and UWOP_SAVE_XMM128 (offset scaled by 16)."""
    codes = [code(20, 8, 6), 0x10 // 16, code(14, 1, 1), 0x0000, 0x1, code(7, 1, 0), 0x20]
    xmm6 = bytes(range(16))
    mem, ctx = setup(unwind_info(codes, 20), [])
    mem.put(BASE + STACK + 0x10, xmm6)
    top = BASE + STACK + 0x10000 + 0x100  # 64 KiB (32-bit form) + 0x20 * 8 (16-bit form)
    mem.data.extend(bytes(0x20000))
    mem.put(top, struct.pack("<Q", 0xCA11E4))
    run(mem, ctx, 0x30)
    assert ctx.xmm(6) == xmm6
    assert (ctx.rip, ctx.rsp) == (0xCA11E4, top + 8)


def test_chained_info_continues_with_the_parent_and_its_handler() -> None:
    parent = 0x2100
    child = unwind_info([code(4, 2, 0)], 4, UNW_FLAG_CHAININFO,
                        tail=struct.pack("<III", 0x900, 0xA00, parent))  # fmt: skip
    mem, ctx = setup(child, [0, 0x5151, 0xCA11E4])
    mem.put(BASE + parent, unwind_info([code(1, 0, RSI)], 1, UNW_FLAG_EHANDLER,
                                       tail=struct.pack("<I", 0x3100)))  # fmt: skip
    handler, _data, _frame = run(mem, ctx, 0x10)
    assert handler == BASE + 0x3100
    assert (ctx.gpr(RSI), ctx.rip, ctx.rsp) == (0x5151, 0xCA11E4, BASE + STACK + 24)


def test_machine_frame_restores_rip_and_rsp() -> None:
    """UWOP_PUSH_MACHFRAME with an error code: RIP and RSP come from the interrupt frame."""
    mem, ctx = setup(unwind_info([code(0, 10, 1)], 0), [0xEE, 0xCA11E4, 0x33, 0x202, 0x7777])
    run(mem, ctx, 0x10)
    assert (ctx.rip, ctx.rsp) == (0xCA11E4, 0x7777)


def test_r12_frame_epilog_with_lea() -> None:
    """``lea rsp, [r12+0x10]; pop r12; ret`` (REX.B and a SIB byte)."""
    epilog = bytes.fromhex("498d642410") + b"\x41\x5c\xc3"
    mem, ctx = setup(unwind_info([code(1, 0, R12)], 1, frame=R12), [0, 0, 0xC12, 0xCA11E4],
                     b"\x90" * 0x20 + epilog)  # fmt: skip
    ctx.set_gpr(R12, BASE + STACK)
    run(mem, ctx, 0x20)
    assert (ctx.gpr(R12), ctx.rip, ctx.rsp) == (0xC12, 0xCA11E4, BASE + STACK + 32)
