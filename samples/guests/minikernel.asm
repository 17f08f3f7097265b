; minikernel: a small x86 kernel for appvirt's System VM.
;
; Loaded as a flat image at 0x7C00 and entered in real mode, it switches to protected mode,
; enables paging, installs an IDT and a TSS, takes timer interrupts, runs two ring-3 tasks that
; make system calls (int 0x80) and share the CPU on timer ticks, maps a page while paging is on,
; reads a sector from the ATA disk, and reports each step on the serial console. Then it powers
; the machine off.
;
; Two builds from this one source (samples/Makefile):
;   minikernel.bin     talks to the hardware: UART, 8259 PIC, 8254 PIT, page tables, ACPI port.
;   minikernel-pv.bin  (-DPV) uses the hypercall ABI instead: console write, timer set,
;                      page-table update batch, yield, shutdown (appvirt/system/hypercalls.py).
; Both print the same transcript.
;
; The two tasks hand a turn variable back and forth and never yield: only timer preemption lets
; the other one run, so the transcript's order (A1 B1 A2 B2 A3 B3) proves the scheduler works
; whatever the exact tick timing.

bits 16
org 0x7c00

COM1        equ 0x3f8
PIC1        equ 0x20
PIC2        equ 0xa0
PIT_CH0     equ 0x40
PIT_CMD     equ 0x43
PM1A_CNT    equ 0x604
HZ          equ 100
PIT_DIVISOR equ 1193182 / HZ

KCODE       equ 0x08
KDATA       equ 0x10
UCODE       equ 0x1b
UDATA       equ 0x23
TSS_SEL     equ 0x28

PD          equ 0x70000             ; page directory
PT0         equ 0x71000             ; page table for 0-4 MiB (identity)
PT1         equ 0x72000             ; page table for 4-8 MiB (filled while paging is on)
LATE_VA     equ 0x400000            ; the page mapped late
LATE_PA     equ 0x85000
IDLE_STACK  equ 0x90000
KSTACK_A    equ 0x81000
KSTACK_B    equ 0x82000
USTACK_A    equ 0x83000             ; top of the page below
USTACK_B    equ 0x84000

HC_CONSOLE  equ 0
HC_TIMER    equ 1
HC_PTUPDATE equ 2
HC_YIELD    equ 3
HC_SHUTDOWN equ 4

%macro hypercall 0
        db 0x0f, 0x01, 0xc1         ; vmcall
%endmacro

; ------------------------------------------------------------------------------------------------
; Real mode
; ------------------------------------------------------------------------------------------------
start:
        cli
        xor     ax, ax
        mov     ds, ax
        mov     es, ax
        mov     ss, ax
        mov     sp, 0x7000
%ifndef PV
        call    uart_init16
%endif
        mov     si, msg_real
        call    puts16

        lgdt    [gdt_desc]
        mov     eax, cr0
        or      eax, 1
        mov     cr0, eax
        jmp     KCODE:pm_entry

%ifndef PV
uart_init16:
        mov     dx, COM1 + 3
        mov     al, 0x80                ; DLAB
        out     dx, al
        mov     dx, COM1
        mov     al, 1                   ; 115200 baud
        out     dx, al
        inc     dx
        xor     al, al
        out     dx, al
        mov     dx, COM1 + 3
        mov     al, 0x03                ; 8N1
        out     dx, al
        mov     dx, COM1 + 2
        mov     al, 0xc7                ; FIFO on, cleared
        out     dx, al
        mov     dx, COM1 + 4
        mov     al, 0x03                ; DTR, RTS
        out     dx, al
        ret
%endif

; puts16: print the NUL-terminated string at DS:SI
puts16:
%ifdef PV
        movzx   ebx, si
        xor     ecx, ecx
.len:   cmp     byte [si], 0
        je      .go
        inc     si
        inc     ecx
        jmp     .len
.go:    mov     eax, HC_CONSOLE
        hypercall
        ret
%else
.next:  lodsb
        test    al, al
        jz      .done
        mov     bl, al
        mov     dx, COM1 + 5
.wait:  in      al, dx
        test    al, 0x20
        jz      .wait
        mov     al, bl
        mov     dx, COM1
        out     dx, al
        jmp     .next
.done:  ret
%endif

; ------------------------------------------------------------------------------------------------
; Protected mode, ring 0
; ------------------------------------------------------------------------------------------------
bits 32
pm_entry:
        mov     ax, KDATA
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        mov     ss, ax
        mov     esp, IDLE_STACK
        mov     esi, msg_pm
        call    puts

        ; CPUID: vendor and hypervisor signature
        xor     eax, eax
        cpuid
        mov     [vendor], ebx
        mov     [vendor + 4], edx
        mov     [vendor + 8], ecx
        mov     eax, 0x40000000
        cpuid
        mov     [hvsig], ebx
        mov     [hvsig + 4], ecx
        mov     [hvsig + 8], edx
        mov     esi, msg_cpu
        call    puts
        mov     esi, vendor
        call    puts
        mov     esi, msg_hv
        call    puts
        mov     esi, hvsig
        call    puts
        mov     esi, msg_nl
        call    puts

        call    setup_paging
        mov     esi, msg_paging
        call    puts

        call    late_map
        mov     dword [LATE_VA], 0x6b726f77         ; "work"
        mov     word [LATE_VA + 4], 0x0073          ; "s", NUL
        mov     esi, msg_late
        call    puts
        mov     esi, LATE_VA
        call    puts
        mov     esi, msg_nl
        call    puts

        call    setup_tss
        call    setup_idt
        call    setup_timer
        mov     esi, msg_idt
        call    puts

        ; Tasks A and B start from prepared kernel stacks; this context becomes the idle task.
        mov     dword [task_state], 1
        mov     dword [task_state + 4], 1
        mov     dword [task_state + 8], 1
        mov     dword [current], 0
        mov     eax, task_a
        mov     ebx, USTACK_A
        mov     edi, KSTACK_A
        call    prepare_task
        mov     [task_esp + 4], edi
        mov     eax, task_b
        mov     ebx, USTACK_B
        mov     edi, KSTACK_B
        call    prepare_task
        mov     [task_esp + 8], edi
        mov     esi, msg_tasks
        call    puts

idle:
        sti
%ifdef PV
        mov     eax, HC_YIELD
        hypercall
%else
        hlt
%endif
        cli
        mov     eax, [task_state + 4]
        or      eax, [task_state + 8]
        jnz     idle

        ; Both tasks have exited.
        mov     esi, msg_done
        call    puts
        call    read_disk
        mov     esi, msg_off
        call    puts
%ifdef PV
        mov     eax, HC_SHUTDOWN
        xor     ebx, ebx
        hypercall
%else
        mov     dx, PM1A_CNT
        mov     ax, 0x2000
        out     dx, ax
%endif
.stop:  cli
        hlt
        jmp     .stop

; prepare_task: EAX = entry, EBX = user stack top, EDI = kernel stack top.
; Builds what an interrupt from ring 3 leaves on a kernel stack: the iret frame, an all-zero
; pushad block, then DS and ES. Returns the saved ESP in EDI.
prepare_task:
        sub     edi, 4
        mov     dword [edi], UDATA          ; SS
        sub     edi, 4
        mov     [edi], ebx                  ; ESP
        sub     edi, 4
        mov     dword [edi], 0x202          ; EFLAGS: IF
        sub     edi, 4
        mov     dword [edi], UCODE          ; CS
        sub     edi, 4
        mov     [edi], eax                  ; EIP
        sub     edi, 32                     ; pushad block
        push    edi
        mov     ecx, 8
        xor     eax, eax
        rep stosd
        pop     edi
        sub     edi, 4
        mov     dword [edi], UDATA          ; DS
        sub     edi, 4
        mov     dword [edi], UDATA          ; ES
        ret

; --- paging ---------------------------------------------------------------------------------------
setup_paging:
        ; PD: entry 0 -> PT0, entry 1 -> PT1 (empty for now)
        mov     edi, PD
        mov     ecx, 1024 * 3
        xor     eax, eax
        rep stosd                           ; clears PD, PT0 and PT1
        mov     dword [PD], PT0 | 7
        mov     dword [PD + 4], PT1 | 7
        ; PT0: identity map 0-4 MiB, supervisor only
        mov     edi, PT0
        mov     eax, 3                      ; present, writable
        mov     ecx, 1024
.fill:  stosd
        add     eax, 0x1000
        loop    .fill
        ; user pages: task code, user data, user stacks
        mov     eax, user_text
        call    make_user
        mov     eax, user_data
        call    make_user
        mov     eax, USTACK_A - 0x1000
        call    make_user
        mov     eax, USTACK_B - 0x1000
        call    make_user
        mov     eax, PD
        mov     cr3, eax
        mov     eax, cr0
        or      eax, 0x80010000             ; PG | WP
        mov     cr0, eax
        ret

make_user:
        shr     eax, 12
        or      dword [PT0 + eax * 4], 4
        ret

; late_map: map LATE_VA -> LATE_PA (kernel read/write) while paging is on
late_map:
%ifdef PV
        mov     dword [pt_batch], PT1
        mov     dword [pt_batch + 4], 0
        mov     dword [pt_batch + 8], LATE_PA | 3
        mov     dword [pt_batch + 12], 0
        mov     eax, HC_PTUPDATE
        mov     ebx, pt_batch
        mov     ecx, 1
        hypercall
%else
        mov     dword [PT1], LATE_PA | 3
        invlpg  [LATE_VA]
%endif
        ret

; --- TSS, IDT, timer ------------------------------------------------------------------------------
setup_tss:
        mov     eax, tss
        mov     [gdt_tss + 2], ax
        shr     eax, 16
        mov     [gdt_tss + 4], al
        mov     [gdt_tss + 7], ah
        mov     dword [tss + 4], IDLE_STACK ; ESP0
        mov     dword [tss + 8], KDATA      ; SS0
        mov     ax, TSS_SEL
        ltr     ax
        ret

; set_gate: EAX = handler, EBX = vector, DL = type/attributes byte
set_gate:
        lea     edi, [idt + ebx * 8]
        mov     [edi], ax
        mov     word [edi + 2], KCODE
        mov     byte [edi + 4], 0
        mov     [edi + 5], dl
        shr     eax, 16
        mov     [edi + 6], ax
        ret

setup_idt:
        xor     ebx, ebx
.exc:   mov     eax, [exc_stubs + ebx * 4]
        mov     dl, 0x8e                    ; present, DPL 0, 32-bit interrupt gate
        call    set_gate
        inc     ebx
        cmp     ebx, 32
        jb      .exc
        mov     eax, irq0
        mov     ebx, 0x20
        mov     dl, 0x8e
        call    set_gate
        mov     eax, isr_syscall
        mov     ebx, 0x80
        mov     dl, 0xee                    ; DPL 3: callable from ring 3
        call    set_gate
        lidt    [idt_desc]
        ret

setup_timer:
%ifdef PV
        mov     eax, HC_TIMER
        mov     ebx, 1000000 / HZ
        mov     ecx, 0x20
        hypercall
%else
        ; PIC: remap to 0x20/0x28, only IRQ 0 unmasked
        mov     al, 0x11
        out     PIC1, al
        out     PIC2, al
        mov     al, 0x20
        out     PIC1 + 1, al
        mov     al, 0x28
        out     PIC2 + 1, al
        mov     al, 4
        out     PIC1 + 1, al
        mov     al, 2
        out     PIC2 + 1, al
        mov     al, 1
        out     PIC1 + 1, al
        out     PIC2 + 1, al
        mov     al, 0xfe
        out     PIC1 + 1, al
        mov     al, 0xff
        out     PIC2 + 1, al
        ; PIT channel 0: rate generator at HZ
        mov     al, 0x34
        out     PIT_CMD, al
        mov     al, PIT_DIVISOR & 0xff
        out     PIT_CH0, al
        mov     al, PIT_DIVISOR >> 8
        out     PIT_CH0, al
%endif
        ret

; --- interrupt handlers ---------------------------------------------------------------------------
; Every entry from an interrupt saves the general registers, DS and ES, and loads the kernel's
; data segments; leave_kernel undoes that.
%macro enter_kernel 0
        pushad
        push    ds
        push    es
        mov     ax, KDATA
        mov     ds, ax
        mov     es, ax
%endmacro

%macro leave_kernel 0
        pop     es
        pop     ds
        popad
        iret
%endmacro

irq0:
        enter_kernel
%ifndef PV
        mov     al, 0x20                    ; EOI
        out     PIC1, al
%endif
        inc     dword [ticks]
        mov     eax, [current]
        mov     [task_esp + eax * 4], esp
        jmp     schedule

; schedule: pick the next runnable task after [current] and resume it (never returns)
schedule:
        mov     eax, [current]
.pick:  inc     eax
        cmp     eax, 3
        jb      .ok
        xor     eax, eax
.ok:    cmp     dword [task_state + eax * 4], 0
        je      .pick
        mov     [current], eax
        mov     esp, [task_esp + eax * 4]
        mov     ebx, [task_kstack + eax * 4]
        mov     [tss + 4], ebx              ; ESP0 for the next entry from ring 3
        leave_kernel

SAVED_EAX   equ 8 + 28                      ; EAX in the frame enter_kernel built

isr_syscall:
        enter_kernel
        mov     eax, [esp + SAVED_EAX]
        cmp     eax, 1
        je      .write
        cmp     eax, 2
        je      .exit
        mov     dword [esp + SAVED_EAX], -1 ; unknown call: EAX = -1
        leave_kernel
.write: pushfd                              ; keep the caller's interrupt state
        cli
        mov     esi, ebx
        call    putn
        popfd
        mov     [esp + SAVED_EAX], ecx      ; bytes written
        leave_kernel
.exit:  mov     eax, [current]
        mov     dword [task_state + eax * 4], 0
        jmp     schedule

exception:
        ; stack: vector, (error code or 0), EIP ...
        mov     esi, msg_exc
        call    puts
        mov     eax, [esp]
        call    puthex
        mov     esi, msg_at
        call    puts
        mov     eax, [esp + 8]
        call    puthex
        mov     esi, msg_nl
        call    puts
.dead:  cli
        hlt
        jmp     .dead

%assign v 0
%rep 32
exc_ %+ v:
%if v == 8 || (v >= 10 && v <= 14) || v == 17
        push    v
%else
        push    0
        push    v
%endif
        jmp     exception
%assign v v + 1
%endrep

; --- ATA disk -------------------------------------------------------------------------------------
read_disk:
        mov     dx, 0x1f7
        in      al, dx
        cmp     al, 0xff
        je      .none
        test    al, 0x40                    ; drive ready?
        jz      .none
        mov     dx, 0x1f6
        mov     al, 0xe0                    ; master, LBA
        out     dx, al
        mov     dx, 0x1f2
        mov     al, 1
        out     dx, al
        mov     dx, 0x1f3
        xor     al, al
        out     dx, al
        inc     dx
        out     dx, al
        inc     dx
        out     dx, al
        mov     dx, 0x1f7
        mov     al, 0x20                    ; READ SECTORS
        out     dx, al
.busy:  in      al, dx
        test    al, 0x80
        jnz     .busy
        test    al, 0x08
        jz      .none
        mov     edi, sector
        mov     ecx, 256
        mov     dx, 0x1f0
        rep insw
        ; print the first line of the sector
        mov     edi, sector
        mov     ecx, 80
.eol:   cmp     byte [edi], 10
        je      .cut
        cmp     byte [edi], 0
        je      .cut
        inc     edi
        loop    .eol
.cut:   mov     byte [edi], 0
        mov     esi, msg_disk
        call    puts
        mov     esi, sector
        call    puts
        mov     esi, msg_nl
        call    puts
        ret
.none:  mov     esi, msg_nodisk
        call    puts
        ret

; --- console --------------------------------------------------------------------------------------
; puts: print the NUL-terminated string at ESI
puts:
        push    ecx
        push    esi
        xor     ecx, ecx
.len:   cmp     byte [esi + ecx], 0
        je      .go
        inc     ecx
        jmp     .len
.go:    call    putn
        pop     esi
        pop     ecx
        ret

; putn: print ECX bytes at ESI
putn:
        pushad
%ifdef PV
        mov     eax, HC_CONSOLE
        mov     ebx, esi
        hypercall
%else
        test    ecx, ecx
        jz      .done
.next:  mov     dx, COM1 + 5
.wait:  in      al, dx
        test    al, 0x20
        jz      .wait
        mov     dx, COM1
        mov     al, [esi]
        out     dx, al
        inc     esi
        loop    .next
.done:
%endif
        popad
        ret

; puthex: print EAX as 8 hex digits
puthex:
        pushad
        mov     edi, hexbuf
        mov     ecx, 8
.dig:   rol     eax, 4
        mov     ebx, eax
        and     ebx, 15
        mov     bl, [hexdigits + ebx]
        mov     [edi], bl
        inc     edi
        loop    .dig
        mov     byte [edi], 0
        mov     esi, hexbuf
        call    puts
        popad
        ret

; ------------------------------------------------------------------------------------------------
; Ring-3 tasks (their own page, user accessible)
; ------------------------------------------------------------------------------------------------
        times (0x1000 - (($ - $$ + 0x7c00) & 0xfff)) & 0xfff db 0
user_text:

; task body: EBP = my id (1 or 2), ESI = my line
%macro task_body 2
        mov     ebp, %1
        mov     byte [%2 + step_offset], '1'
        mov     edi, 3
%%loop: cmp     [turn], ebp                 ; spin until it is my turn: only the timer ends it
        jne     %%loop
        mov     eax, 1                      ; write(line, len)
        mov     ebx, %2
        mov     ecx, line_len
        int     0x80
        inc     byte [%2 + step_offset]
        mov     eax, 3
        sub     eax, ebp
        mov     [turn], eax                 ; hand over
        dec     edi
        jnz     %%loop
        mov     eax, 2                      ; exit
        int     0x80
%endmacro

task_a: task_body 1, line_a
task_b: task_body 2, line_b

; ------------------------------------------------------------------------------------------------
; User data (its own page)
; ------------------------------------------------------------------------------------------------
        times (0x1000 - (($ - $$ + 0x7c00) & 0xfff)) & 0xfff db 0
user_data:
turn:       dd 1
line_a:     db "task A: step "
step_offset equ $ - line_a
            db "?", 13, 10
line_len    equ $ - line_a
line_b:     db "task B: step ?", 13, 10

; ------------------------------------------------------------------------------------------------
; Kernel data (its own page: the code pages above are never written)
; ------------------------------------------------------------------------------------------------
        times (0x1000 - (($ - $$ + 0x7c00) & 0xfff)) & 0xfff db 0
kernel_data:
gdt:
        dq 0
        dq 0x00cf9a000000ffff               ; 0x08 kernel code
        dq 0x00cf92000000ffff               ; 0x10 kernel data
        dq 0x00cffa000000ffff               ; 0x18 user code
        dq 0x00cff2000000ffff               ; 0x20 user data
gdt_tss:
        dw 103, 0                           ; 0x28 TSS (base filled in)
        db 0, 0x89, 0, 0
gdt_end:
gdt_desc:
        dw gdt_end - gdt - 1
        dd gdt
idt_desc:
        dw 256 * 8 - 1
        dd idt

exc_stubs:
%assign v 0
%rep 32
        dd exc_ %+ v
%assign v v + 1
%endrep

current:    dd 0
ticks:      dd 0
task_state: dd 0, 0, 0                      ; 1 = runnable (idle, A, B)
task_esp:   dd 0, 0, 0
task_kstack: dd IDLE_STACK, KSTACK_A, KSTACK_B
pt_batch:   dd 0, 0, 0, 0
vendor:     times 13 db 0
hvsig:      times 13 db 0
hexbuf:     times 9 db 0
hexdigits:  db "0123456789abcdef"

msg_real:   db "minikernel: real mode, switching to protected mode", 13, 10, 0
msg_pm:     db "minikernel: protected mode", 13, 10, 0
msg_cpu:    db "minikernel: cpu ", 0
msg_hv:     db ", hypervisor ", 0
msg_paging: db "minikernel: paging on", 13, 10, 0
msg_late:   db "minikernel: page mapped while paging is on: ", 0
msg_idt:    db "minikernel: idt and tss installed, timer at 100 Hz", 13, 10, 0
msg_tasks:  db "minikernel: starting tasks A and B in ring 3", 13, 10, 0
msg_done:   db "minikernel: both tasks exited", 13, 10, 0
msg_disk:   db "minikernel: disk sector 0: ", 0
msg_nodisk: db "minikernel: no disk", 13, 10, 0
msg_off:    db "minikernel: powering off", 13, 10, 0
msg_exc:    db "minikernel: exception ", 0
msg_at:     db " at ", 0
msg_nl:     db 13, 10, 0

        align 16
tss:        times 104 db 0
        align 8
idt:        times 256 * 8 db 0
sector:     times 512 db 0
