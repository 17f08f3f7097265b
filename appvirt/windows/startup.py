"""Everything a Windows process has before its first instruction runs.

The stack (the image's reserve), the TEB and FS/GS, the PEB's process parameters (image path,
command line, current folder, environment block, standard handles), the process heap, implicit
TLS for the program, and the return address of the entry point (a thunk that exits the process
with the value the entry point returns).
"""

from __future__ import annotations

import struct
from typing import Any

from ..loader.image import Perm
from ..vfs.types import OpenFile
from . import paths
from .handles import FileHandle

DEFAULT_STACK = 1 << 20
STD_NAMES = ("CONIN$", "CONOUT$", "CONOUT$")
FOLDERS = ("C:\\Windows\\System32", "C:\\Windows\\Temp", "C:\\ProgramData", "C:\\Program Files")
USER_FOLDERS = ("AppData\\Roaming", "AppData\\Local\\Temp", "Documents", "Desktop")


def user_name(proc: Any) -> str:
    """The user the program sees: the profile's ``identity.username``."""
    return str(getattr(proc.profile, "username", "appvirt"))


def computer_name(proc: Any) -> str:
    return str(getattr(proc.profile, "computer_name", "APPVIRT"))


def profile_dir(proc: Any) -> str:
    return "C:\\Users\\" + user_name(proc)


def setup_process(proc: Any, argv: list[str], env: dict[str, str], stdio: list[OpenFile]) -> None:
    _make_folders(proc)
    blocks = proc.blocks
    mem = proc.mem
    image = proc.image
    stack_size = max(image.stack_reserve, 0x10000) if image.stack_reserve else DEFAULT_STACK
    stack_size = min((stack_size + 0xFFFF) & ~0xFFFF, 64 << 20)
    stack_low = mem.map(mem.find_free(stack_size), stack_size, Perm.RW, "[stack]")
    stack_top = stack_low + stack_size
    blocks.set_thread(stack_top, stack_low, proc.pid, proc.tid)
    proc.set_fs_teb()
    heap = proc.new_heap()
    proc.process_heap = heap
    blocks.set_heap(heap.handle)
    std = tuple(proc.handles.add(FileHandle(f, STD_NAMES[i], f.isatty(), std=i))
                for i, f in enumerate(stdio))  # fmt: skip
    proc.std_handles = list(std)
    proc.env = windows_environment(env, proc)
    if not getattr(proc, "cmdline", ""):  # a child keeps its parent's string (spawn.py)
        proc.cmdline = command_line([proc.exe_path, *argv[1:]])
    proc.env_block_w = _env_block(proc)
    blocks.set_params(proc.exe_path, proc.cmdline, proc.cwd, proc.env_block_w, std,  # type: ignore[arg-type]
                      proc.exe_path)  # fmt: skip
    _setup_tls(proc)
    from .api import msvcrt

    if any(m.fake and m.dll_key == "msvcrt" for m in proc.modules):
        msvcrt.init_data(proc, argv)
    sp = (stack_top - 0x100) & ~0xF
    thunk = _entry_thunk(proc)
    if proc.is64:
        sp -= 8
        mem.poke(sp, struct.pack("<Q", thunk))
    else:
        sp -= 8
        mem.poke(sp, struct.pack("<II", thunk, blocks.peb))
    proc.machine.sp = sp
    proc.machine.pc = proc.exe.entry


def _make_folders(proc: Any) -> None:
    vfs = proc.vfs
    home = profile_dir(proc)
    for folder in (*FOLDERS, *(home + "\\" + sub for sub in USER_FOLDERS)):
        try:  # appvirt's own folders: a sandbox keeps only what the program puts in them
            vfs.make_skeleton("/" + folder[3:].replace("\\", "/"))
        except OSError:
            continue


def windows_environment(env: dict[str, str], proc: Any) -> dict[str, str]:
    """The guest's variables plus the ones every Windows process has (PATH made Windows-like)."""
    home, user, computer = profile_dir(proc), user_name(proc), computer_name(proc)
    out = {
        "ALLUSERSPROFILE": "C:\\ProgramData",
        "APPDATA": home + "\\AppData\\Roaming",
        "COMPUTERNAME": computer,
        "ComSpec": "C:\\Windows\\System32\\cmd.exe",
        "HOMEDRIVE": "C:",
        "HOMEPATH": home[2:],
        "LOCALAPPDATA": home + "\\AppData\\Local",
        "NUMBER_OF_PROCESSORS": "1",
        "OS": "Windows_NT",
        "Path": "C:\\Windows\\System32;C:\\Windows",
        "PATHEXT": ".COM;.EXE;.BAT;.CMD",
        "PROCESSOR_ARCHITECTURE": "AMD64" if proc.is64 else "x86",
        "ProgramData": "C:\\ProgramData",
        "ProgramFiles": "C:\\Program Files",
        "SystemDrive": "C:",
        "SystemRoot": "C:\\Windows",
        "TEMP": home + "\\AppData\\Local\\Temp",
        "TMP": home + "\\AppData\\Local\\Temp",
        "USERDOMAIN": computer,
        "USERNAME": user,
        "USERPROFILE": home,
        "windir": "C:\\Windows",
    }
    for key, value in env.items():
        if key.upper() in ("PATH", "HOME", "PWD", "SHELL", "TMPDIR"):
            continue
        existing = next((k for k in out if k.upper() == key.upper()), None)
        out[existing or key] = value
    return out


def _env_block(proc: Any) -> int:
    """The UTF-16 environment block the PEB points at, sorted without case as Windows keeps it."""
    text = "".join(f"{k}={v}\0" for k, v in sorted(proc.env.items(), key=lambda kv: kv[0].upper()))
    raw = (text + "\0").encode("utf-16-le", "surrogatepass")
    addr = proc.blocks.arena.alloc(len(raw) + 64, 16)
    proc.mem.poke(addr, raw)
    return int(addr)


def quote_arg(arg: str) -> str:
    """One argument as CommandLineToArgvW and the CRT parse it back."""
    if arg and not any(c in arg for c in ' \t\n\v"'):
        return arg
    out = ['"']
    slashes = 0
    for c in arg:
        if c == "\\":
            slashes += 1
            continue
        if c == '"':
            out.append("\\" * (2 * slashes + 1) + '"')
        else:
            out.append("\\" * slashes + c)
        slashes = 0
    out.append("\\" * (2 * slashes) + '"')
    return "".join(out)


def command_line(argv: list[str]) -> str:
    return " ".join(quote_arg(a) for a in argv)


def _setup_tls(proc: Any) -> None:
    """Implicit TLS (``__declspec(thread)``) of the program: slot 0 of ThreadLocalStoragePointer."""
    array = proc.blocks.arena.alloc(proc.word * 64)
    proc.blocks.set_tls_pointer(array)
    proc.tls_array = array
    proc.tls_next_index = 0
    for module in proc.modules:
        if module.image is not None:
            add_module_tls(proc, module)


def add_module_tls(proc: Any, module: Any) -> None:
    image = module.image
    if not image.pe_tls_index_addr:
        return
    delta = module.base - image.base
    start, end = image.pe_tls_raw
    template = bytes(proc.mem.uc.mem_read(start + delta, end - start)) if end > start else b""
    block = proc.process_heap.alloc(len(template) + 0x1000, zero=True)
    proc.mem.poke(block, template)
    index = proc.tls_next_index
    proc.tls_next_index += 1
    proc.mem.poke(image.pe_tls_index_addr + delta, struct.pack("<I", index))
    proc.mem.poke(proc.tls_array + index * proc.word,
                  block.to_bytes(proc.word, "little"))  # fmt: skip


def _entry_thunk(proc: Any) -> int:
    """Code the entry point returns into: pass EAX/RAX to the internal __thread_return."""
    target = proc.export_address(proc._internal, "__thread_return")
    code_page = proc.mem.map(proc.mem.find_free(0x1000), 0x1000, Perm.RW, "[thunk]")
    if proc.is64:
        # mov ecx, eax ; sub rsp, 0x28 ; call [rip+2] ; int3 ; int3 ; dq target
        code = b"\x89\xc1\x48\x83\xec\x28\xff\x15\x02\x00\x00\x00\xcc\xcc" + struct.pack(
            "<Q", target
        )
    else:
        # push eax ; call target (absolute through a register) ; int3
        code = b"\x50\xb9" + struct.pack("<I", target) + b"\xff\xd1\xcc"
    proc.mem.poke(code_page, code)
    proc.mem.protect(code_page, 0x1000, Perm.RX)
    proc.entry_thunk = code_page
    return int(code_page)


__all__ = ["command_line", "paths", "quote_arg", "setup_process", "windows_environment"]
