"""The process: command line, environment, modules (LoadLibrary, GetProcAddress), exit, errors,
startup information and system information (threads and TLS/FLS: threads.py; child processes:
children.py)."""

from __future__ import annotations

import struct
from typing import Any

from ...process import ProcessExit
from ..decl import BOOL, HANDLE, INT, PTR, STR, UINT, VOID, WSTR, winapi

ERROR_MOD_NOT_FOUND, ERROR_PROC_NOT_FOUND, ERROR_INVALID_HANDLE = 126, 127, 6
ERROR_ENVVAR_NOT_FOUND, ERROR_INSUFFICIENT_BUFFER = 203, 122


def _cached(proc: Any, key: str, raw: bytes) -> int:
    addr = proc.state.get(key)
    if addr is None:
        addr = proc.process_heap.alloc(len(raw))
        proc.mem.poke(addr, raw)
        proc.state[key] = addr
    return int(addr)


@winapi("kernel32", ret=PTR)
def GetCommandLineA(proc: Any) -> int:
    """The command line the process started with (ANSI)."""
    return _cached(proc, "cmdline_a", proc.cmdline.encode("cp1252", "replace") + b"\0")


@winapi("kernel32", ret=PTR)
def GetCommandLineW(proc: Any) -> int:
    return _cached(proc, "cmdline_w", proc.cmdline.encode("utf-16-le", "surrogatepass") + b"\0\0")


def _env_text(proc: Any) -> str:
    return (
        "".join(f"{k}={v}\0" for k, v in sorted(proc.env.items(), key=lambda kv: kv[0].upper()))
        + "\0"
    )


@winapi("kernel32", ret=PTR)
def GetEnvironmentStringsA(proc: Any) -> int:
    """A fresh copy of the environment block (free it with FreeEnvironmentStringsA)."""
    raw = _env_text(proc).encode("cp1252", "replace")
    addr = proc.process_heap.alloc(len(raw))
    proc.mem.poke(addr, raw)
    return int(addr)


from ..decl import alias as _alias  # noqa: E402

_alias("kernel32", "GetEnvironmentStrings", "GetEnvironmentStringsA")


@winapi("kernel32", ret=PTR)
def GetEnvironmentStringsW(proc: Any) -> int:
    raw = _env_text(proc).encode("utf-16-le", "surrogatepass")
    addr = proc.process_heap.alloc(len(raw))
    proc.mem.poke(addr, raw)
    return int(addr)


@winapi("kernel32", args=(PTR,), ret=BOOL)
def FreeEnvironmentStringsA(proc: Any, block: int) -> int:
    proc.process_heap.free(block)
    return 1


_alias("kernel32", "FreeEnvironmentStringsW", "FreeEnvironmentStringsA")


def _env_get(proc: Any, name: str) -> str | None:
    for key, value in proc.env.items():
        if key.upper() == name.upper():
            return str(value)
    return None


def _env_out(proc: Any, value: str | None, buf: int, size: int, wide: bool) -> int:
    if value is None:
        proc.set_last_error(ERROR_ENVVAR_NOT_FOUND)
        return 0
    raw = value.encode("utf-16-le", "surrogatepass") if wide else value.encode("cp1252", "replace")
    units = len(raw) // 2 if wide else len(raw)
    if units + 1 > size:
        return units + 1
    proc.write(buf, raw + (b"\0\0" if wide else b"\0"))
    return units


@winapi("kernel32", args=(STR, PTR, UINT), ret=UINT)
def GetEnvironmentVariableA(proc: Any, name: int, buf: int, size: int) -> int:
    """A variable's value; the size needed when the buffer is short, 0 when unset."""
    return _env_out(proc, _env_get(proc, proc.read_str(name)), buf, size, False)


@winapi("kernel32", args=(WSTR, PTR, UINT), ret=UINT)
def GetEnvironmentVariableW(proc: Any, name: int, buf: int, size: int) -> int:
    return _env_out(proc, _env_get(proc, proc.read_wstr(name)), buf, size, True)


def _env_set(proc: Any, name: str, value: str | None) -> int:
    existing = next((k for k in proc.env if k.upper() == name.upper()), name)
    if value is None:
        if existing not in proc.env:
            proc.set_last_error(ERROR_ENVVAR_NOT_FOUND)
            return 0
        del proc.env[existing]
    else:
        proc.env[existing] = value
    return 1


@winapi("kernel32", args=(STR, STR), ret=BOOL)
def SetEnvironmentVariableA(proc: Any, name: int, value: int) -> int:
    return _env_set(proc, proc.read_str(name), proc.read_str(value) if value else None)


@winapi("kernel32", args=(WSTR, WSTR), ret=BOOL)
def SetEnvironmentVariableW(proc: Any, name: int, value: int) -> int:
    return _env_set(proc, proc.read_wstr(name), proc.read_wstr(value) if value else None)


def _expand(proc: Any, text: str) -> str:
    import re

    def sub(m: Any) -> str:
        value = _env_get(proc, m.group(1))
        return value if value is not None else m.group(0)

    return re.sub(r"%([^%]+)%", sub, text)


@winapi("kernel32", args=(STR, PTR, UINT), ret=UINT)
def ExpandEnvironmentStringsA(proc: Any, src: int, buf: int, size: int) -> int:
    """Expand %NAME% references; returns the size needed including the NUL."""
    raw = _expand(proc, proc.read_str(src)).encode("cp1252", "replace") + b"\0"
    if len(raw) <= size:
        proc.write(buf, raw)
    return len(raw)


@winapi("kernel32", args=(WSTR, PTR, UINT), ret=UINT)
def ExpandEnvironmentStringsW(proc: Any, src: int, buf: int, size: int) -> int:
    text = _expand(proc, proc.read_wstr(src)) + "\0"
    if len(text) <= size:
        proc.write(buf, text.encode("utf-16-le", "surrogatepass"))
    return len(text)


# -- modules -----------------------------------------------------------------------------------------
def module_at(proc: Any, handle: int) -> Any:
    if handle == 0:
        return proc.exe
    return next((m for m in proc.modules if m.base == handle), None)


def _module_name(proc: Any, handle: int, buf: int, size: int, wide: bool) -> int:
    module = module_at(proc, handle)
    if module is None:
        proc.set_last_error(ERROR_MOD_NOT_FOUND)
        return 0
    text = module.path
    if size == 0:
        proc.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    out = text[: size - 1]
    raw = out.encode("utf-16-le") + b"\0\0" if wide else out.encode("cp1252", "replace") + b"\0"
    proc.write(buf, raw)
    proc.set_last_error(ERROR_INSUFFICIENT_BUFFER if len(text) >= size else 0)
    return len(out) if len(text) < size else size


@winapi("kernel32", args=(HANDLE, PTR, UINT), ret=UINT)
def GetModuleFileNameA(proc: Any, handle: int, buf: int, size: int) -> int:
    """The full path of a module (NULL: the program); truncated with ERROR_INSUFFICIENT_BUFFER."""
    return _module_name(proc, handle, buf, size, False)


@winapi("kernel32", args=(HANDLE, PTR, UINT), ret=UINT)
def GetModuleFileNameW(proc: Any, handle: int, buf: int, size: int) -> int:
    return _module_name(proc, handle, buf, size, True)


def _module_handle(proc: Any, name: str | None) -> int:
    if name is None:
        return int(proc.exe.base)
    module = proc.find_module(name, search=False)
    if module is None:
        proc.set_last_error(ERROR_MOD_NOT_FOUND)
        return 0
    return int(module.base)


@winapi("kernel32", args=(STR,), ret=HANDLE)
def GetModuleHandleA(proc: Any, name: int) -> int:
    """The base of a loaded module (NULL: the program); system DLLs are always loaded."""
    return _module_handle(proc, proc.read_str(name) if name else None)


@winapi("kernel32", args=(WSTR,), ret=HANDLE)
def GetModuleHandleW(proc: Any, name: int) -> int:
    return _module_handle(proc, proc.read_wstr(name) if name else None)


def _module_handle_ex(proc: Any, flags: int, name: int, out: int, wide: bool) -> int:
    if flags & 4:  # GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS
        module = next((m for m in proc.modules if m.base <= name < m.base + m.size), None)
        base = module.base if module is not None else 0
    else:
        text = (proc.read_wstr(name) if wide else proc.read_str(name)) if name else None
        base = _module_handle(proc, text)
    if out:
        proc.write_ptr(out, base)
    if not base:
        proc.set_last_error(ERROR_MOD_NOT_FOUND)
    return int(bool(base))


@winapi("kernel32", args=(UINT, PTR, PTR), ret=BOOL)
def GetModuleHandleExW(proc: Any, flags: int, name: int, out: int) -> int:
    return _module_handle_ex(proc, flags, name, out, True)


@winapi("kernel32", args=(UINT, PTR, PTR), ret=BOOL)
def GetModuleHandleExA(proc: Any, flags: int, name: int, out: int) -> int:
    return _module_handle_ex(proc, flags, name, out, False)


def _load_library(proc: Any, name: str) -> int:
    before = len(proc.modules)
    try:
        module = proc.find_module(name)
    except Exception:  # noqa: BLE001 - a corrupt DLL is ERROR_BAD_EXE_FORMAT
        proc.set_last_error(193)
        return 0
    if module is None:
        proc.set_last_error(ERROR_MOD_NOT_FOUND)
        return 0
    if len(proc.modules) > before:
        from ...startup import add_module_tls

        for new in proc.modules[before:]:
            if new.image is not None:
                add_module_tls(proc, new)
        proc.init_pending_dlls()
    else:
        module.refs += 1
    return int(module.base)


@winapi("kernel32", args=(STR,), ret=HANDLE)
def LoadLibraryA(proc: Any, name: int) -> int:
    """Load a DLL from the program's folder or the current folder (system DLLs are built in)."""
    return _load_library(proc, proc.read_str(name))


@winapi("kernel32", args=(WSTR,), ret=HANDLE)
def LoadLibraryW(proc: Any, name: int) -> int:
    return _load_library(proc, proc.read_wstr(name))


@winapi("kernel32", args=(STR, HANDLE, UINT), ret=HANDLE)
def LoadLibraryExA(proc: Any, name: int, file: int, flags: int) -> int:
    return _load_library(proc, proc.read_str(name))


@winapi("kernel32", args=(WSTR, HANDLE, UINT), ret=HANDLE)
def LoadLibraryExW(proc: Any, name: int, file: int, flags: int) -> int:
    return _load_library(proc, proc.read_wstr(name))


@winapi("kernel32", args=(HANDLE,), ret=BOOL)
def FreeLibrary(proc: Any, handle: int) -> int:
    """Drop a reference; modules stay mapped until the process ends."""
    module = module_at(proc, handle)
    if module is None or handle == 0:
        proc.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    module.refs = max(module.refs - 1, 0)
    return 1


@winapi("kernel32", args=(HANDLE, PTR), ret=PTR)
def GetProcAddress(proc: Any, handle: int, name: int) -> int:
    """An export by name or ordinal; unimplemented system exports are not found (127)."""
    module = module_at(proc, handle)
    if module is None:
        proc.set_last_error(ERROR_MOD_NOT_FOUND)
        return 0
    if name < 0x10000:
        addr = proc.export_address(module, None, name)
    else:
        text = proc.read_str(name)
        addr = proc.export_address(module, text)
        if addr and module.fake:
            from ..decl import APIS

            api = APIS.get((module.dll_key, text.lower()))
            if api is not None and api.fn is None:
                addr = 0
    if not addr:
        proc.set_last_error(ERROR_PROC_NOT_FOUND)
        return 0
    return int(addr)


@winapi("kernel32", args=(HANDLE, STR, STR), ret=HANDLE)
def FindResourceA(proc: Any, module: int, name: int, kind: int) -> int:
    proc.set_last_error(1813)  # ERROR_RESOURCE_TYPE_NOT_FOUND
    return 0


# -- exit, errors, identity ---------------------------------------------------------------------------
@winapi("kernel32", args=(UINT,), ret=VOID)
def ExitProcess(proc: Any, code: int) -> None:
    """End the process with ``code`` (CRT buffers are flushed, no atexit functions run)."""
    from ..msvcrt.state import flush_all

    flush_all(proc)
    raise ProcessExit(code)


@winapi("kernel32", ret=UINT)
def GetLastError(proc: Any) -> int:
    """The calling thread's last error (kept in its TEB)."""
    return int(proc.last_error())


@winapi("kernel32", args=(UINT,), ret=VOID)
def SetLastError(proc: Any, code: int) -> None:
    proc.set_last_error(code)


@winapi("kernel32", args=(UINT,), ret=UINT)
def SetErrorMode(proc: Any, mode: int) -> int:
    old = proc.state.get("error_mode", 0)
    proc.state["error_mode"] = mode
    return int(old)


@winapi("kernel32", ret=UINT)
def GetErrorMode(proc: Any) -> int:
    return int(proc.state.get("error_mode", 0))


@winapi("kernel32", args=(PTR,), ret=PTR)
def SetUnhandledExceptionFilter(proc: Any, fn: int) -> int:
    """Remember the filter; returns the previous one."""
    old = proc.state.get("unhandled_filter", 0)
    proc.state["unhandled_filter"] = fn
    return int(old)


@winapi("kernel32", args=(PTR,), ret=INT)
def UnhandledExceptionFilter(proc: Any, pointers: int) -> int:
    return 1  # EXCEPTION_EXECUTE_HANDLER: the process ends


@winapi("kernel32", ret=BOOL)
def IsDebuggerPresent(proc: Any) -> int:
    return 0


@winapi("kernel32", args=(UINT,), ret=BOOL)
def IsProcessorFeaturePresent(proc: Any, feature: int) -> int:
    """SSE, SSE2, SSE3, NX, CMPXCHG16B and RDTSC are present; fastfail (23) is not."""
    return int(feature in (2, 3, 6, 7, 8, 10, 12, 13, 17))


@winapi("kernel32", ret=HANDLE)
def GetCurrentProcess(proc: Any) -> int:
    return -1


@winapi("kernel32", ret=HANDLE)
def GetCurrentThread(proc: Any) -> int:
    return -2


@winapi("kernel32", ret=UINT)
def GetCurrentProcessId(proc: Any) -> int:
    return int(proc.pid)


@winapi("kernel32", ret=UINT)
def GetCurrentThreadId(proc: Any) -> int:
    return int(proc.tid)


@winapi("kernel32", args=(PTR,), ret=VOID)
def GetStartupInfoA(proc: Any, out: int) -> None:
    """STARTUPINFO of a console program started without special options."""
    size = 104 if proc.is64 else 68
    raw = bytearray(size)
    struct.pack_into("<I", raw, 0, size)
    proc.write(out, bytes(raw))


_alias("kernel32", "GetStartupInfoW", "GetStartupInfoA")


@winapi("kernel32", args=(PTR,), ret=VOID)
def GetSystemInfo(proc: Any, out: int) -> None:
    """One processor, 4 KiB pages, 64 KiB allocation granularity."""
    if proc.is64:
        raw = struct.pack(
            "<HHIQQQIIIHH", 9, 0, 0x1000, 0x10000, 0x7FFFFFFEFFFF, 1, 1, 8664, 0x10000, 6, 0x9E0A
        )
    else:
        raw = struct.pack(
            "<HHIIIIIIIHH", 0, 0, 0x1000, 0x10000, 0x7FFEFFFF, 1, 1, 586, 0x10000, 6, 0x9E0A
        )
    proc.write(out, raw)


_alias("kernel32", "GetNativeSystemInfo", "GetSystemInfo")


@winapi("kernel32", ret=UINT)
def GetVersion(proc: Any) -> int:
    """Windows 10 (build 19045) as GetVersion encodes it."""
    return (19045 << 16) | (0 << 8) | 10


def _version_ex(proc: Any, out: int, wide: bool) -> int:
    size = proc.read_u32(out)
    csd = bytes(256 if wide else 128)
    raw = struct.pack("<IIIII", size, 10, 0, 19045, 2) + csd
    if size >= len(raw) + 8:
        raw += struct.pack("<HHHBB", 0, 0, 0x100, 1, 0)
    proc.write(out, raw[: max(size, 20)])
    return 1


@winapi("kernel32", args=(PTR,), ret=BOOL)
def GetVersionExA(proc: Any, out: int) -> int:
    return _version_ex(proc, out, False)


@winapi("kernel32", args=(PTR,), ret=BOOL)
def GetVersionExW(proc: Any, out: int) -> int:
    return _version_ex(proc, out, True)


def _computer_name(proc: Any, buf: int, size_ptr: int, wide: bool) -> int:
    from ...startup import computer_name

    name = computer_name(proc)
    size = proc.read_u32(size_ptr)
    if len(name) + 1 > size:
        proc.write_u32(size_ptr, len(name) + 1)
        proc.set_last_error(111)  # ERROR_BUFFER_OVERFLOW
        return 0
    proc.write(buf, name.encode("utf-16-le") + b"\0\0" if wide else name.encode() + b"\0")
    proc.write_u32(size_ptr, len(name))
    return 1


@winapi("kernel32", args=(PTR, PTR), ret=BOOL)
def GetComputerNameA(proc: Any, buf: int, size: int) -> int:
    return _computer_name(proc, buf, size, False)


@winapi("kernel32", args=(PTR, PTR), ret=BOOL)
def GetComputerNameW(proc: Any, buf: int, size: int) -> int:
    return _computer_name(proc, buf, size, True)


@winapi("kernel32", args=(PTR, PTR), ret=BOOL)
def IsWow64Process(proc: Any, handle: int, out: int) -> int:
    proc.write_u32(out, 0)
    return 1


@winapi("kernel32", args=(PTR,), ret=PTR)
def EncodePointer(proc: Any, ptr: int) -> int:
    """The identity: pointers are not obfuscated (nothing else in the process can read them)."""
    return ptr


_alias("kernel32", "DecodePointer", "EncodePointer")
_alias("kernel32", "EncodeSystemPointer", "EncodePointer")
_alias("kernel32", "DecodeSystemPointer", "EncodePointer")


@winapi("kernel32", args=(UINT,), ret=UINT)
def SetHandleCount(proc: Any, count: int) -> int:
    return count
