"""CreateProcess inside the sandbox: a child is another WinProcess (its own Machine) in the same
run, sharing the VFS, the registry, the clock and the scheduler with its parent.

The program is found as CreateProcess finds it (the application name as given; else the command
line's first token, unquoted prefixes tried word by word, ``.exe`` appended when there is no
extension, searched in the parent's folder, the current folder, System32, Windows and PATH). The
child's command line is the parent's string exactly; its CRT splits it with CommandLineToArgvW's
rules. Inheritable handles keep their values in the child; the standard handles come from
STARTUPINFO (STARTF_USESTDHANDLES) or are the parent's.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

from . import paths
from .handles import FileHandle
from .sync import KObject

STARTF_USESTDHANDLES = 0x100
CREATE_SUSPENDED = 0x4
CREATE_UNICODE_ENVIRONMENT = 0x400
ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND, ERROR_BAD_EXE_FORMAT = 2, 3, 193
ERROR_NOT_ENOUGH_QUOTA, ERROR_DIRECTORY = 1816, 267
DLL_PROCESS_ATTACH = 1


class SpawnError(Exception):
    """CreateProcess fails with this Win32 error code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def copy_handle_object(obj: Any) -> Any:
    """What a second handle to ``obj`` refers to: the same kernel object, or for a file its own
    FileHandle holding one more reference to the open file (closed by its own CloseHandle)."""
    if isinstance(obj, FileHandle):
        copy = dataclasses.replace(obj, delete_on_close=None)
        if copy.std < 0 and copy.path not in ("CONOUT$", "CONIN$"):
            obj.file.ref()
        return copy
    return obj


def _exists(proc: Any, win_path: str) -> str | None:
    """The VFS path of an existing file at a Windows path, else None."""
    try:
        vpath = paths.vfs_path(win_path, proc.cwd, proc.vfs)
    except paths.BadPath:
        return None
    try:
        if proc.vfs.is_dir(vpath):
            return None
        proc.vfs.stat(vpath)
    except OSError:
        return None
    return str(vpath)


def _with_exe(name: str) -> str:
    last = name.replace("/", "\\").rsplit("\\", 1)[-1]
    return name if "." in last else name + ".exe"


def search(proc: Any, name: str) -> str | None:
    """Where CreateProcess finds the program ``name`` (VFS path), or None."""
    name = _with_exe(name)
    if "\\" in name or "/" in name or ":" in name:
        return _exists(proc, name)
    folders = [proc.exe_dir, proc.cwd, "C:\\Windows\\System32", "C:\\Windows"]
    path_var = next((v for k, v in proc.env.items() if k.upper() == "PATH"), "")
    folders += [p for p in path_var.split(";") if p]
    for folder in folders:
        found = _exists(proc, folder.rstrip("\\") + "\\" + name)
        if found is not None:
            return found
    return None


def find_program(proc: Any, app: str | None, cmdline: str) -> str:
    """The VFS path of the program CreateProcess would start; raises SpawnError."""
    if app:
        found = _exists(proc, app)
        if found is None:
            raise SpawnError(ERROR_FILE_NOT_FOUND)
        return found
    line = cmdline.lstrip(" \t")
    if line.startswith('"'):
        end = line.find('"', 1)
        found = search(proc, line[1 : end if end > 0 else len(line)])
    else:
        words = line.split(" ")
        found = None
        for i in range(1, len(words) + 1):
            candidate = " ".join(words[:i]).split("\t", 1)[0]
            found = search(proc, candidate)
            if found is not None or "\t" in " ".join(words[:i]):
                break
    if found is None:
        raise SpawnError(ERROR_FILE_NOT_FOUND)
    return found


def read_environment(proc: Any, block: int, wide: bool) -> dict[str, str]:
    """An environment block (``NAME=value\\0...\\0``) as a dict."""
    env: dict[str, str] = {}
    addr = block
    while True:
        text = proc.read_wstr(addr) if wide else proc.read_str(addr)
        if not text:
            return env
        addr += (
            (len(text.encode("utf-16-le", "surrogatepass")) + 2)
            if wide
            else len(text.encode("cp1252", "surrogateescape")) + 1
        )
        key, sep, value = text.partition("=")
        if key == "" and sep:  # "=C:=C:\dir" entries hide behind a leading '='
            key, _sep, value = value.partition("=")
            key = "=" + key
        env[key] = value


def _startup_handles(proc: Any, si: int) -> list[int] | None:
    """hStdInput/hStdOutput/hStdError of a STARTUPINFO with STARTF_USESTDHANDLES, else None."""
    if not si:
        return None
    flags_at, handles_at = (60, 80) if proc.is64 else (44, 56)
    if not proc.read_u32(si + flags_at) & STARTF_USESTDHANDLES:
        return None
    return [proc.read_ptr(si + handles_at + i * proc.word) for i in range(3)]


def _stdio(proc: Any, si: int) -> list[Any]:
    """The open files the child gets as stdin, stdout and stderr."""
    chosen = _startup_handles(proc, si)
    files = []
    for i in range(3):
        fh = proc.handles.get(chosen[i]) if chosen is not None else None
        if not isinstance(fh, FileHandle):
            fh = proc.handles.get(proc.std_handles[i])
        if not isinstance(fh, FileHandle):
            fh = proc.handles.get(proc.sched.root.proc.std_handles[i])
        files.append(fh.file)
    return files


def create_process(proc: Any, app: str | None, cmdline: str, inherit: bool, flags: int,
                   env: dict[str, str] | None, cwd: str | None, si: int) -> Any:  # fmt: skip
    """Start a child of ``proc``; returns its sched.ProcessObject. Raises SpawnError."""
    from ..errors import NotExecutableError
    from .api.shell32 import split_command_line
    from .process import WinProcess

    sched = proc.sched
    if sched.limit is not None and sched.live_tasks() >= sched.limit:
        raise SpawnError(ERROR_NOT_ENOUGH_QUOTA)
    program = find_program(proc, app, cmdline)
    if not cmdline.strip():
        cmdline = paths.to_win(program)
    try:
        cwd_vfs = paths.vfs_path(cwd or proc.cwd, proc.cwd, proc.vfs)
    except paths.BadPath:
        raise SpawnError(ERROR_DIRECTORY) from None
    if not proc.vfs.is_dir(cwd_vfs):
        raise SpawnError(ERROR_DIRECTORY)
    child: Any = WinProcess(proc.vfs, proc.events, proc.profile, proc.clock, proc.registry)
    child.pid = sched.new_id()
    child.tid = sched.new_id()
    child.cmdline = cmdline
    inherited = _inherit(proc, child) if inherit else []
    stdio = _stdio(proc, si)
    try:
        child.load(program, split_command_line(cmdline), dict(env if env is not None else proc.env),
                   stdio, cwd_vfs)  # fmt: skip
    except (NotExecutableError, ValueError) as err:
        _undo(child, inherited)
        raise SpawnError(ERROR_BAD_EXE_FORMAT) from err
    except OSError as err:
        _undo(child, inherited)
        raise SpawnError(ERROR_FILE_NOT_FOUND) from err
    viewed = sched.viewed
    pobj = sched.add_process(child, proc.thread.pobj, child.tid)
    if viewed is not None:
        sched.view(viewed)
    for file in stdio:
        file.ref()
    pobj.stdio_refs.extend(stdio)
    thread = pobj.threads[0]
    thread.start = _start_child
    thread.suspended = int(bool(flags & CREATE_SUSPENDED))
    proc.events.emit("windows_process_start", pid=child.pid, program=program, parent=proc.pid)
    if sched.running is not None:
        proc.machine.request_stop()  # let the child have the CPU soon
    return pobj


def _inherit(parent: Any, child: Any) -> list[Any]:
    """Copy the parent's inheritable handles into the child, at the same values."""
    copies = []
    for handle, obj in parent.handles.items():
        if handle not in parent.handles.inheritable:
            continue
        copy = copy_handle_object(obj)
        child.handles.put(handle, copy)
        child.handles.inheritable.add(handle)
        if isinstance(copy, KObject):
            copy.handles += 1
        copies.append(copy)
    return copies


def _undo(child: Any, inherited: list[Any]) -> None:
    """A child that could not be loaded gives back what it was given."""
    from .sync import drop_handle

    for copy in inherited:
        if isinstance(copy, FileHandle):
            if copy.std < 0 and copy.path not in ("CONOUT$", "CONIN$"):
                copy.file.close()
        else:
            drop_handle(child, copy)
    child.handles.clear()
    machine = getattr(child, "machine", None)
    if machine is not None:
        machine.close()


def _start_child(thread: Any) -> None:
    """The child's first step, as WinProcess.run does for the first program: DLL entry points
    and TLS callbacks, then the entry point."""
    proc = thread.proc
    proc.init_pending_dlls()
    for callback in proc.exe.tls_callbacks:
        proc.call(callback, proc.exe.base, DLL_PROCESS_ATTACH, 0)
    proc.machine.pc = proc.exe.entry


def write_process_information(proc: Any, out: int, hproc: int, hthread: int, pid: int,
                              tid: int) -> None:  # fmt: skip
    fmt = "<QQII" if proc.is64 else "<IIII"
    proc.write(out, struct.pack(fmt, hproc, hthread, pid, tid))
