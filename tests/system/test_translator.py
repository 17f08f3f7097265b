"""The binary translator: the scanner on hand-assembled blocks, and emulation that must give the
same results as the CPU running the same code natively (``hw``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assemble, boot

from appvirt.system.hypervisor import Outcome
from appvirt.system.translate import is_sensitive, scan_bytes


def test_scanner_finds_sensitive_instructions_and_hidden_ones(tmp_path: Path) -> None:
    code = assemble(
        """bits 32
        mov eax, 1              ; 0
        cli                     ; 5
        add eax, ebx            ; 6
        mov eax, 0x00fa9090     ; 8: an 0xFA (cli) byte hides at offset 11
        mov cr3, eax            ; 13
        pushfd                  ; 16
        lgdt [0x1000]           ; 17
        out dx, al              ; 24
        ret                     ; 25
        """,
        tmp_path,
    )
    found = scan_bytes(code)
    assert {5, 11, 13, 16, 17, 24} <= found
    assert not found & {0, 6, 8, 25}


def test_scanner_decodes_16_bit_code_and_prefixes(tmp_path: Path) -> None:
    code = assemble(
        """bits 16
        mov ax, 0x1234          ; 0
        o32 pushfd              ; 3: 66 9c
        smsw ax                 ; 5
        rep insw                ; 8
        iret                    ; 10
        """,
        tmp_path,
    )
    found = scan_bytes(code)
    assert {3, 5, 8, 10} <= found
    assert 0 not in found


def test_scanner_ignores_mov_between_general_registers() -> None:
    assert not is_sensitive("mov", "eax, ebx")
    assert is_sensitive("mov", "cr0, eax")
    assert is_sensitive("popfd", "")


PROBE = """
bits 16
org 0x7c00
%macro say 1
        mov al, %1
        out 0xe9, al
%endmacro
%macro say_if 0                         ; 'I' if EFLAGS.IF as pushf sees it, else 'i'
        pushf
        pop ax
        test ah, 2
        mov al, 'i'
        jz %%no
        mov al, 'I'
%%no:   out 0xe9, al
%endmacro

start:  cli
        xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, 0x7000
        mov word [0x30 * 4], handler     ; IVT vector 0x30
        mov word [0x30 * 4 + 2], 0
        say_if                           ; i
        sti
        say_if                           ; I
        cli
        say_if                           ; i
        push word 0x0202                 ; popf may set IF in ring 0
        popf
        say_if                           ; I
        int 0x30                         ; H, and IF comes back from the frame
        say_if                           ; I
        cli
        smsw ax                          ; PE clear
        and al, 1
        add al, '0'
        out 0xe9, al                     ; 0
        sgdt [table]
        mov al, [table]                  ; the reset GDTR limit is 0xffff
        out 0xe9, al
        lgdt [gdtr]
        sgdt [table]
        mov al, [table]
        out 0xe9, al                     ; 0x17
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        jmp 0x08:pm
bits 32
pm:     mov ax, 0x10
        mov ds, ax
        mov ss, ax
        smsw ax
        and al, 1
        add al, '0'
        out 0xe9, al                     ; 1
        mov ecx, 0x174                   ; SYSENTER_CS: write, then read back
        mov eax, 0x5a
        xor edx, edx
        wrmsr
        xor eax, eax
        rdmsr
        out 0xe9, al                     ; 'Z'
        mov byte [patch], 0xfa           ; self-modifying code: the nop becomes cli
        sti
patch:  nop
        pushfd
        pop eax
        test ah, 2
        mov al, 'c'
        jz .ok
        mov al, 'C'
.ok:    out 0xe9, al                     ; c: the patched cli ran (and was emulated under bt)
        mov al, '.'
        out 0xe9, al
        hlt                              ; IF clear, nothing pending: halted for good

bits 16
handler:
        say 'H'
        iret

align 8
gdt:    dq 0
        dq 0x00cf9a000000ffff
        dq 0x00cf92000000ffff
gdtr:   dw 0x17
        dd gdt
table:  times 6 db 0
"""

EXPECTED = b"iIiIHI0\xff\x171Zc."


@pytest.mark.parametrize("technique", ["hw", "bt"])
def test_sensitive_instructions_behave_natively(technique: str, tmp_path: Path) -> None:
    run = boot(assemble(PROBE, tmp_path), technique)
    assert run.debug == EXPECTED
    assert run.result.outcome is Outcome.HALTED
    assert run.result.status == 140
    if technique == "bt":
        emulated = run.result.stats["translator"]["emulated"]
        for mnemonic in ("pushf", "popf", "smsw", "sgdt", "lgdt", "wrmsr", "rdmsr", "iret", "int"):
            assert emulated.get(mnemonic), mnemonic
        assert run.result.exits.get("write to scanned code (bt)")
        assert run.result.exits["privileged/sensitive instruction"] > 10
    else:
        assert "privileged/sensitive instruction" not in run.result.exits


def test_privileged_instruction_in_ring3_is_a_general_protection_fault(tmp_path: Path) -> None:
    """Under bt the translator must not emulate cli for ring 3: it delivers #GP like the CPU."""
    source = """
bits 16
org 0x7c00
        cli
        xor ax, ax
        mov ds, ax
        lgdt [gdtr]
        lidt [idtr]
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        jmp 0x08:pm
bits 32
pm:     mov ax, 0x10
        mov ds, ax
        mov ss, ax
        mov esp, 0x7000
        mov eax, gp
        mov [idt + 13 * 8], ax
        mov word [idt + 13 * 8 + 2], 0x08
        mov word [idt + 13 * 8 + 4], 0x8e00
        shr eax, 16
        mov [idt + 13 * 8 + 6], ax
        mov eax, tss
        mov [gdt + 0x28 + 2], ax
        mov dword [tss + 4], 0x6000
        mov dword [tss + 8], 0x10
        mov ax, 0x28
        ltr ax
        push dword 0x23                  ; iret to ring 3
        push dword 0x5000
        push dword 0x002
        push dword 0x1b
        push dword user
        iret
user:   cli                              ; #GP in ring 3
        jmp user
gp:     mov al, 'G'
        out 0xe9, al
        mov eax, [esp + 8]               ; CS of the faulting code
        and al, 3
        add al, '0'
        out 0xe9, al
        hlt
align 8
gdt:    dq 0
        dq 0x00cf9a000000ffff
        dq 0x00cf92000000ffff
        dq 0x00cffa000000ffff
        dq 0x00cff2000000ffff
        dw 103, 0
        db 0, 0x89, 0, 0
gdtr:   dw 0x2f
        dd gdt
idtr:   dw 256 * 8 - 1
        dd idt
tss:    times 104 db 0
idt:    times 256 * 8 db 0
"""
    image = assemble(source, tmp_path)
    for technique in ("hw", "bt"):
        run = boot(image, technique)
        assert run.debug == b"G3", technique
        assert run.result.exits["exception"] >= 1
