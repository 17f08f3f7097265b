"""shell32.dll: command-line splitting and the user's special folders."""

from __future__ import annotations

import struct
from typing import Any

from .decl import HANDLE, INT, NTSTATUS, PTR, UINT, WSTR, winapi

CSIDL = {0x1A: "AppData\\Roaming", 0x1C: "AppData\\Local", 0x05: "Documents", 0x00: "Desktop",
         0x10: "Desktop", 0x28: ""}  # fmt: skip


def split_command_line(line: str) -> list[str]:
    """CommandLineToArgvW's rules: the program name ends at a quote or space, then backslashes
    before quotes pair up."""
    args: list[str] = []
    i, n = 0, len(line)
    if i < n and line[i] == '"':
        j = line.find('"', 1)
        j = n if j < 0 else j
        args.append(line[1:j])
        i = j + 1
    else:
        j = i
        while j < n and line[j] not in " \t":
            j += 1
        args.append(line[i:j])
        i = j
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            break
        cur, quoted = [], False
        while i < n and (quoted or line[i] not in " \t"):
            if line[i] == "\\":
                k = i
                while k < n and line[k] == "\\":
                    k += 1
                if k < n and line[k] == '"':
                    cur.append("\\" * ((k - i) // 2))
                    if (k - i) % 2:
                        cur.append('"')
                        i = k + 1
                    else:
                        i = k
                    continue
                cur.append("\\" * (k - i))
                i = k
                continue
            if line[i] == '"':
                if quoted and i + 1 < n and line[i + 1] == '"':
                    cur.append('"')
                    i += 2
                    continue
                quoted = not quoted
                i += 1
                continue
            cur.append(line[i])
            i += 1
        args.append("".join(cur))
    return args


@winapi("shell32", args=(WSTR, PTR), ret=PTR)
def CommandLineToArgvW(proc: Any, line: int, argc: int) -> int:
    """Split a command line; one LocalAlloc block holds the pointer array and the strings."""
    args = split_command_line(proc.read_wstr(line)) if line else [proc.exe_path]
    word = proc.word
    blob_strings = [a.encode("utf-16-le") + b"\0\0" for a in args]
    table = word * (len(args) + 1)
    block = proc.process_heap.alloc(table + sum(len(s) for s in blob_strings))
    offset = block + table
    fmt = "<Q" if word == 8 else "<I"
    ptrs = []
    for s in blob_strings:
        proc.write(offset, s)
        ptrs.append(offset)
        offset += len(s)
    proc.write(block, b"".join(struct.pack(fmt, p) for p in ptrs) + bytes(word))
    proc.write_u32(argc, len(args))
    return int(block)


def _folder(csidl: int) -> str | None:
    sub = CSIDL.get(csidl & 0xFF)
    if sub is None:
        return "C:\\Windows" if csidl & 0xFF == 0x24 else None
    return "C:\\Users\\appvirt" + ("\\" + sub if sub else "")


@winapi("shell32", args=(HANDLE, INT, HANDLE, UINT, PTR), ret=NTSTATUS)
def SHGetFolderPathW(proc: Any, owner: int, csidl: int, token: int, flags: int, out: int) -> int:
    path = _folder(csidl)
    if path is None:
        return 0x80070057  # E_INVALIDARG
    proc.write(out, path.encode("utf-16-le") + b"\0\0")
    return 0


@winapi("shell32", args=(HANDLE, INT, HANDLE, UINT, PTR), ret=NTSTATUS)
def SHGetFolderPathA(proc: Any, owner: int, csidl: int, token: int, flags: int, out: int) -> int:
    path = _folder(csidl)
    if path is None:
        return 0x80070057
    proc.write(out, path.encode() + b"\0")
    return 0


@winapi("shell32", args=(HANDLE, PTR, INT, INT), ret=INT)
def SHGetSpecialFolderPathA(proc: Any, owner: int, out: int, csidl: int, create: int) -> int:
    path = _folder(csidl)
    if path is None:
        return 0
    proc.write(out, path.encode() + b"\0")
    return 1
