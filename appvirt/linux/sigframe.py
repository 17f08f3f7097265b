"""Signal frames: what the guest's stack holds while a handler runs, and sigreturn.

The frame follows the kernel's layout (rt_sigframe with siginfo and ucontext on x86-64; sigframe
and rt_sigframe on i386) so handlers that read ``ucontext`` see real register values. The full CPU
state (FPU/SSE included) is also kept kernel-side as a Unicorn context and restored by
(rt_)sigreturn, so a handler can never corrupt the interrupted code's registers.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from unicorn import x86_const as x86

from .task import SigAction

if TYPE_CHECKING:
    from .kernel import Kernel
    from .task import Task

SA_SIGINFO = 0x4
SA_ONSTACK = 0x08000000
SA_RESTORER = 0x04000000
SA_NODEFER = 0x40000000
SA_RESETHAND = 0x80000000
SS_ONSTACK = 1
SS_DISABLE = 2

_GPR64 = [x86.UC_X86_REG_R8, x86.UC_X86_REG_R9, x86.UC_X86_REG_R10, x86.UC_X86_REG_R11,
          x86.UC_X86_REG_R12, x86.UC_X86_REG_R13, x86.UC_X86_REG_R14, x86.UC_X86_REG_R15,
          x86.UC_X86_REG_RDI, x86.UC_X86_REG_RSI, x86.UC_X86_REG_RBP, x86.UC_X86_REG_RBX,
          x86.UC_X86_REG_RDX, x86.UC_X86_REG_RAX, x86.UC_X86_REG_RCX, x86.UC_X86_REG_RSP,
          x86.UC_X86_REG_RIP, x86.UC_X86_REG_EFLAGS]  # fmt: skip
_GPR32 = [x86.UC_X86_REG_GS, x86.UC_X86_REG_FS, x86.UC_X86_REG_ES, x86.UC_X86_REG_DS,
          x86.UC_X86_REG_EDI, x86.UC_X86_REG_ESI, x86.UC_X86_REG_EBP, x86.UC_X86_REG_ESP,
          x86.UC_X86_REG_EBX, x86.UC_X86_REG_EDX, x86.UC_X86_REG_ECX, x86.UC_X86_REG_EAX]  # fmt: skip


def _siginfo(sig: int, pid: int, uid: int) -> bytes:
    # si_signo, si_errno, si_code (SI_USER = 0), then the kill fields (pid, uid)
    return struct.pack("<iiiiI", sig, 0, 0, pid, uid).ljust(128, b"\0")


def deliver_frame(kernel: Kernel, task: Task, sig: int, action: SigAction) -> None:
    """Push a signal frame for ``sig`` on ``task``'s stack and enter the handler."""
    machine = task.proc.machine
    mem = machine.mem
    context = machine.save_context()
    old_mask = task.sigmask
    reg = machine.reg
    sp = machine.sp
    ss_sp, ss_flags, ss_size = task.altstack
    if (
        action.flags & SA_ONSTACK
        and not ss_flags & SS_DISABLE
        and not ss_sp <= sp < ss_sp + ss_size
    ):
        sp = ss_sp + ss_size
    info = _siginfo(sig, task.proc.pid, kernel.identity.uid)
    if machine.is64:
        gprs = [reg.read(r) for r in _GPR64]
        sp -= 128  # red zone
        mcontext = struct.pack("<18Q", *gprs) + struct.pack("<4H", 0x33, 0, 0, 0x2B)
        mcontext += struct.pack("<4Q", 0, 0, old_mask, 0) + struct.pack("<Q", 0) + bytes(64)
        ucontext = (
            struct.pack("<QQQiiQ", 0, 0, ss_sp, ss_flags, 0, ss_size)
            + mcontext
            + struct.pack("<Q", old_mask)
        )
        frame_size = 8 + len(ucontext) + len(info)
        frame = ((sp - frame_size) & ~15) - 8
        uc_addr = frame + 8
        info_addr = uc_addr + len(ucontext)
        mem.write(frame, struct.pack("<Q", action.restorer) + ucontext + info)
        machine.sp = frame
        reg.write(x86.UC_X86_REG_RDI, sig)
        reg.write(x86.UC_X86_REG_RSI, info_addr)
        reg.write(x86.UC_X86_REG_RDX, uc_addr)
        reg.write(x86.UC_X86_REG_RAX, 0)
    else:
        gprs = [reg.read(r) & 0xFFFFFFFF for r in _GPR32]
        eip = reg.read(x86.UC_X86_REG_EIP)
        eflags = reg.read(x86.UC_X86_REG_EFLAGS)
        sigcontext = struct.pack("<12I", *gprs) + struct.pack(
            "<7I", 0, 0, eip, 0x73, eflags, gprs[7], 0x7B
        )
        sigcontext += struct.pack("<3I", 0, old_mask & 0xFFFFFFFF, 0)
        if action.flags & SA_SIGINFO:
            ucontext = (
                struct.pack("<IIIiI", 0, 0, ss_sp, ss_flags, ss_size)
                + sigcontext
                + struct.pack("<Q", old_mask)
            )
            size = 16 + len(info) + len(ucontext)
            frame = ((sp - size) & ~15) - 4
            info_addr = frame + 16
            uc_addr = info_addr + len(info)
            head = struct.pack("<4I", action.restorer, sig, info_addr, uc_addr)
            mem.write(frame, head + info + ucontext)
        else:
            body = (
                struct.pack("<II", action.restorer, sig)
                + sigcontext
                + struct.pack("<I", old_mask >> 32)
            )
            frame = ((sp - len(body)) & ~15) - 4
            mem.write(frame, body)
        machine.sp = frame
        reg.write(x86.UC_X86_REG_EAX, sig)
        reg.write(x86.UC_X86_REG_EDX, 0)
        reg.write(x86.UC_X86_REG_ECX, 0)
    machine.pc = action.handler
    task.signal_frames.append((frame, context, old_mask))
    del task.signal_frames[:-64]  # handlers that longjmp out never return: keep the list bounded
    if not action.flags & SA_NODEFER:
        task.sigmask |= 1 << (sig - 1)
    task.sigmask |= action.mask
    if action.flags & SA_RESETHAND:
        task.proc.sigactions[sig] = SigAction()
    kernel.events.line(f"--- {sig} handler at {action.handler:#x} ---")


def sigreturn(task: Task) -> None:
    """Undo the newest signal frame: registers, FPU state and the signal mask come back."""
    machine = task.proc.machine
    if not task.signal_frames:
        from .signals import Sig

        task.proc.kernel.exit_process(task.proc, signal=int(Sig.SIGSEGV))
        return
    sp = machine.sp
    index = len(task.signal_frames) - 1
    for i in range(len(task.signal_frames) - 1, -1, -1):
        if 0 <= sp - task.signal_frames[i][0] <= 8:
            index = i
            break
    _frame, context, mask = task.signal_frames[index]
    del task.signal_frames[index:]
    machine.restore_context(context)
    task.sigmask = mask
    machine.request_stop()
