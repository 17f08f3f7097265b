"""The hypercall ABI (appvirt/system/hypercalls.py), called with vmcall from a small guest."""

from __future__ import annotations

from pathlib import Path

from conftest import assemble, boot

from appvirt.system.hypercalls import TABLE, Hypercall
from appvirt.system.hypervisor import Outcome

GUEST = """
bits 16
org 0x7c00
%macro hcall 0
        db 0x0f, 0x01, 0xc1
%endmacro
%macro show 0
        out 0xe9, al
%endmacro
        cli
        xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, 0x7000
        mov word [0x40 * 4], tick
        mov word [0x40 * 4 + 2], 0
        mov eax, 0                      ; CONSOLE_WRITE
        mov ebx, msg
        mov ecx, msg_len
        hcall
        show                            ; bytes written
        mov eax, 99                     ; no such call: -ENOSYS
        hcall
        show
        mov eax, 1                      ; TIMER_SET with a reserved vector: -EINVAL
        mov ebx, 1000
        mov ecx, 5
        hcall
        show
        mov eax, 0                      ; CONSOLE_WRITE longer than 4096: -EINVAL
        mov ebx, msg
        mov ecx, 5000
        hcall
        show
        mov eax, 2                      ; PT_UPDATE mapping a frame beyond RAM: -EINVAL
        mov ebx, batch_bad
        mov ecx, 1
        hcall
        show
        mov eax, 2                      ; PT_UPDATE inside RAM: 1 entry written
        mov ebx, batch_ok
        mov ecx, 1
        hcall
        show
        mov al, [0x9000]
        show
        mov eax, 1                      ; TIMER_SET: vector 0x40 every 2 ms
        mov ebx, 2000
        mov ecx, 0x40
        hcall
        sti
        mov eax, 3                      ; YIELD until the timer fires
        hcall
        cli
        mov eax, 4                      ; SHUTDOWN with status 7
        mov ebx, 7
        hcall
        jmp $

tick:   mov al, 'T'
        show
        mov eax, 1                      ; one tick is enough
        xor ebx, ebx
        xor ecx, ecx
        hcall
        iret

msg:    db "hello through a hypercall", 10
msg_len equ $ - msg
align 8
batch_bad: dq 0x9000, 0x40000003
batch_ok:  dq 0x9000, 0x00005063
"""


def test_hypercall_abi(tmp_path: Path) -> None:
    run = boot(assemble(GUEST, tmp_path), "hw")
    assert run.serial == b"hello through a hypercall\n"
    assert run.debug == bytes([26, 0xDA, 0xEA, 0xEA, 0xEA, 1, 0x63]) + b"T"
    assert run.result.outcome is Outcome.SHUTDOWN
    assert run.result.status == 7
    calls = run.result.exit_detail["hypercall"]
    assert calls["CONSOLE_WRITE"] == 2
    assert calls["99"] == 1
    assert calls["YIELD"] == 1


def test_hypercalls_work_under_binary_translation(tmp_path: Path) -> None:
    run = boot(assemble(GUEST, tmp_path), "bt")
    assert run.serial == b"hello through a hypercall\n"
    assert run.result.status == 7


def test_abi_table_documents_every_call() -> None:
    assert set(TABLE) == set(Hypercall)
    for spec in TABLE.values():
        assert spec.args and spec.returns and spec.doc
