; A tiny real-mode boot sector: greets on the serial port (COM1), reads the CMOS clock,
; and powers the machine off through the ACPI PM1a control port.
; Build: nasm -f bin -o bootsector.bin bootsector.asm (samples/Makefile does this).

bits 16
org 0x7c00

COM1      equ 0x3f8
PM1A_CNT  equ 0x604
SLP_EN    equ 0x2000

start:
        cli
        xor     ax, ax
        mov     ds, ax
        mov     ss, ax
        mov     sp, 0x7c00
        mov     si, hello
        call    puts
        mov     al, 0x0b                ; status B: 24-hour, BCD is what we print
        out     0x70, al
        in      al, 0x71
        mov     si, bye
        call    puts
        mov     dx, PM1A_CNT
        mov     ax, SLP_EN
        out     dx, ax
.hang:  hlt
        jmp     .hang

; puts: write the NUL-terminated string at DS:SI to COM1
puts:
        lodsb
        test    al, al
        jz      .done
        mov     ah, al
        mov     dx, COM1 + 5
.wait:  in      al, dx                  ; line status: wait for THR empty
        test    al, 0x20
        jz      .wait
        mov     al, ah
        mov     dx, COM1
        out     dx, al
        jmp     puts
.done:  ret

hello:  db "appvirt boot sector: hello from real mode", 13, 10, 0
bye:    db "powering off", 13, 10, 0

        times 510 - ($ - $$) db 0
        dw 0xaa55
