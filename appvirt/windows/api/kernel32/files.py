"""Files and folders: every path goes through paths.py to the VFS, errors become Win32 codes."""

from __future__ import annotations

import fnmatch
import struct
from typing import Any

from ....vfs.flags import O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY
from ....vfs.pipe import PipeReader
from ....vfs.types import FileKind
from ... import paths
from ...handles import FileHandle, FindHandle
from ..decl import BOOL, HANDLE, HFILE, INT, LONG64, PTR, STR, UINT, WSTR, winapi

GENERIC_READ, GENERIC_WRITE, GENERIC_ALL = 0x80000000, 0x40000000, 0x10000000
FILE_READ_DATA, FILE_WRITE_DATA, FILE_APPEND_DATA = 1, 2, 4
CREATE_NEW, CREATE_ALWAYS, OPEN_EXISTING, OPEN_ALWAYS, TRUNCATE_EXISTING = 1, 2, 3, 4, 5
FILE_FLAG_BACKUP_SEMANTICS = 0x02000000
FILE_FLAG_DELETE_ON_CLOSE = 0x04000000
ATTR_READONLY, ATTR_DIRECTORY, ATTR_ARCHIVE, ATTR_NORMAL = 0x01, 0x10, 0x20, 0x80
INVALID = 0xFFFFFFFF
ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND, ERROR_ACCESS_DENIED = 2, 3, 5
ERROR_INVALID_HANDLE, ERROR_NO_MORE_FILES, ERROR_FILE_EXISTS = 6, 18, 80
ERROR_INVALID_PARAMETER, ERROR_ALREADY_EXISTS, ERROR_NEGATIVE_SEEK = 87, 183, 131
ERROR_DIR_NOT_EMPTY, ERROR_INSUFFICIENT_BUFFER, ERROR_BROKEN_PIPE = 145, 122, 109
EPOCH_DIFF = 116444736000000000  # 1601-01-01 to 1970-01-01 in 100 ns units


def filetime(ns: int) -> int:
    return ns // 100 + EPOCH_DIFF


def resolve(proc: Any, path: str) -> str:
    """The VFS path of a Windows path (raises paths.BadPath)."""
    return paths.vfs_path(path, proc.cwd, proc.vfs)


def _fail(proc: Any, code: int, value: int = 0) -> int:
    proc.set_last_error(code)
    return value


def _error_for(proc: Any, err: OSError, vpath: str | None) -> int:
    return paths.win_error(err, proc.vfs, vpath)


def open_path(
    proc: Any, path: str, access: int, disposition: int, flags: int = 0
) -> FileHandle | int:
    """Open or create ``path``: a FileHandle, or the Win32 error code."""
    device = paths.is_device(path)
    if device is not None:
        return _open_device(proc, device, path)
    try:
        vpath = resolve(proc, path)
    except paths.BadPath:
        return ERROR_PATH_NOT_FOUND
    vfs = proc.vfs
    try:
        st = vfs.stat(vpath)
        exists = True
    except OSError as err:
        exists = False
        st = None
        missing_code = _error_for(proc, err, vpath)
    if exists and st is not None and st.kind == FileKind.DIR:
        if not flags & FILE_FLAG_BACKUP_SEMANTICS:
            return ERROR_ACCESS_DENIED
        f = vfs.open(vpath, O_RDONLY)
        return FileHandle(f, paths.to_win(vpath))
    if disposition == CREATE_NEW and exists:
        return ERROR_FILE_EXISTS
    if disposition in (OPEN_EXISTING, TRUNCATE_EXISTING) and not exists:
        return missing_code
    if disposition not in (
        CREATE_NEW,
        CREATE_ALWAYS,
        OPEN_EXISTING,
        OPEN_ALWAYS,
        TRUNCATE_EXISTING,
    ):
        return ERROR_INVALID_PARAMETER
    read = bool(access & (GENERIC_READ | GENERIC_ALL | FILE_READ_DATA))
    write = bool(access & (GENERIC_WRITE | GENERIC_ALL | FILE_WRITE_DATA | FILE_APPEND_DATA))
    mode = O_RDWR if read and write else O_WRONLY if write else O_RDONLY
    oflags = mode
    if disposition in (CREATE_NEW, CREATE_ALWAYS, OPEN_ALWAYS):
        oflags |= O_CREAT
    if disposition == CREATE_NEW:
        oflags |= O_EXCL
    if disposition in (CREATE_ALWAYS, TRUNCATE_EXISTING):
        oflags |= O_TRUNC
        if mode == O_RDONLY:
            oflags = (oflags & ~3) | O_RDWR
    try:
        f = vfs.open(vpath, oflags, 0o644)
    except OSError as err:
        return _error_for(proc, err, vpath)
    proc.events.note_path(vpath, bool(write))
    fh = FileHandle(f, paths.to_win(vpath))
    if flags & FILE_FLAG_DELETE_ON_CLOSE:
        fh.delete_on_close = vpath
    proc.set_last_error(
        ERROR_ALREADY_EXISTS if exists and disposition in (CREATE_ALWAYS, OPEN_ALWAYS) else 0
    )
    return fh


def _open_device(proc: Any, device: str, path: str) -> FileHandle | int:
    if device in ("con", "conout$"):
        std = proc.handles.get(proc.std_handles[1 if device != "conin$" else 0])
        return FileHandle(std.file, "CONOUT$", std.console, std=1) if std else ERROR_FILE_NOT_FOUND
    if device == "conin$":
        std = proc.handles.get(proc.std_handles[0])
        return FileHandle(std.file, "CONIN$", std.console, std=0) if std else ERROR_FILE_NOT_FOUND
    if device == "nul":
        return FileHandle(proc.vfs.open("/dev/null", O_RDWR), "NUL")
    return ERROR_FILE_NOT_FOUND


def _create_file(
    proc: Any, path: str, access: int, share: int, sa: int, disposition: int, flags: int
) -> int:
    result = open_path(proc, path, access, disposition, flags)
    if isinstance(result, int):
        return _fail(proc, result, -1)
    return int(proc.handles.add(result))


@winapi("kernel32", args=(STR, UINT, UINT, PTR, UINT, UINT, HANDLE), ret=HFILE)
def CreateFileA(proc: Any, path: int, access: int, share: int, sa: int, disposition: int, flags: int,
                template: int) -> int:  # fmt: skip
    """Open or create a file, folder (backup semantics) or console device."""
    return _create_file(proc, proc.read_str(path), access, share, sa, disposition, flags)


@winapi("kernel32", args=(WSTR, UINT, UINT, PTR, UINT, UINT, HANDLE), ret=HFILE)
def CreateFileW(proc: Any, path: int, access: int, share: int, sa: int, disposition: int, flags: int,
                template: int) -> int:  # fmt: skip
    return _create_file(proc, proc.read_wstr(path), access, share, sa, disposition, flags)


def file_handle(proc: Any, handle: int) -> FileHandle | None:
    obj = proc.handles.get(handle)
    return obj if isinstance(obj, FileHandle) else None


@winapi("kernel32", args=(HANDLE, PTR, UINT, PTR, PTR), ret=BOOL)
def ReadFile(proc: Any, handle: int, buf: int, size: int, got: int, overlapped: int) -> int:
    """Read up to ``size`` bytes; at end of file it succeeds with 0 bytes read."""
    fh = file_handle(proc, handle)
    if fh is None:
        return _fail(proc, ERROR_INVALID_HANDLE)
    if fh.std >= 0:
        from ..msvcrt.state import flush_all

        flush_all(proc)
    try:
        data = fh.file.read(size) if size else b""
    except BlockingIOError:  # an empty pipe whose writers are still open: wait for them
        from .pipes import wait_pipe

        raise wait_pipe(fh.file.read_ready,
                        lambda: ReadFile(proc, handle, buf, size, got, overlapped)) from None  # fmt: skip
    except OSError as err:
        if got:
            proc.write_u32(got, 0)
        return _fail(proc, paths.win_error(err))
    proc.write(buf, data)
    if got:
        proc.write_u32(got, len(data))
    if not data and size and isinstance(fh.file, PipeReader):
        return _fail(proc, ERROR_BROKEN_PIPE)  # every handle of the write end is closed
    if data and fh.file.kind is FileKind.FIFO:
        from .pipes import pipe_moved

        pipe_moved(proc, fh)  # a writer waiting for room may go on
    return 1


@winapi("kernel32", args=(HANDLE, PTR, UINT, PTR, PTR), ret=BOOL)
def WriteFile(proc: Any, handle: int, buf: int, size: int, done: int, overlapped: int) -> int:
    """Write ``size`` bytes (after any CRT data buffered for the same file)."""
    fh = file_handle(proc, handle)
    if fh is None:
        return _fail(proc, ERROR_INVALID_HANDLE)
    from ..msvcrt.state import flush_handle

    flush_handle(proc, fh)
    data = proc.read(buf, size) if size else b""
    try:
        if fh.append:
            fh.file.seek(0, 2)
        n = fh.file.write(data) if data else 0
    except BlockingIOError:  # a full pipe: wait until its reader makes room
        from .pipes import wait_pipe

        raise wait_pipe(fh.file.write_ready,
                        lambda: WriteFile(proc, handle, buf, size, done, overlapped)) from None  # fmt: skip
    except OSError as err:
        if done:
            proc.write_u32(done, 0)
        return _fail(proc, paths.win_error(err))
    if done:
        proc.write_u32(done, n)
    if n and fh.file.kind is FileKind.FIFO:
        from .pipes import pipe_moved

        pipe_moved(proc, fh)
    return 1


@winapi("kernel32", args=(HANDLE,), ret=BOOL)
def FlushFileBuffers(proc: Any, handle: int) -> int:
    fh = file_handle(proc, handle)
    if fh is None:
        return _fail(proc, ERROR_INVALID_HANDLE)
    from ..msvcrt.state import flush_handle

    flush_handle(proc, fh)
    return 1


def _seek(proc: Any, fh: FileHandle, offset: int, method: int) -> int | None:
    if method not in (0, 1, 2):
        proc.set_last_error(ERROR_INVALID_PARAMETER)
        return None
    try:
        base = 0 if method == 0 else fh.file.seek(0, 1) if method == 1 else fh.file.stat().size
        target = base + offset
        if target < 0:
            proc.set_last_error(ERROR_NEGATIVE_SEEK)
            return None
        return int(fh.file.seek(target, 0))
    except OSError as err:
        proc.set_last_error(paths.win_error(err))
        return None


@winapi("kernel32", args=(HANDLE, INT, PTR, UINT), ret=UINT)
def SetFilePointer(proc: Any, handle: int, low: int, high_ptr: int, method: int) -> int:
    """Move the file pointer; returns its low 32 bits (INVALID_SET_FILE_POINTER on failure)."""
    fh = file_handle(proc, handle)
    if fh is None:
        return _fail(proc, ERROR_INVALID_HANDLE, INVALID)
    offset = low
    if high_ptr:
        high = proc.read_u32(high_ptr)
        offset = (high << 32) | (low & 0xFFFFFFFF)
        if offset & (1 << 63):
            offset -= 1 << 64
    pos = _seek(proc, fh, offset, method)
    if pos is None:
        return INVALID
    if high_ptr:
        proc.write_u32(high_ptr, pos >> 32)
    proc.set_last_error(0)
    return pos & 0xFFFFFFFF


@winapi("kernel32", args=(HANDLE, LONG64, PTR, UINT), ret=BOOL)
def SetFilePointerEx(proc: Any, handle: int, offset: int, new_pos: int, method: int) -> int:
    fh = file_handle(proc, handle)
    if fh is None:
        return _fail(proc, ERROR_INVALID_HANDLE)
    if offset & (1 << 63):
        offset -= 1 << 64
    pos = _seek(proc, fh, offset, method)
    if pos is None:
        return 0
    if new_pos:
        proc.write(new_pos, struct.pack("<q", pos))
    return 1


@winapi("kernel32", args=(HANDLE,), ret=BOOL)
def SetEndOfFile(proc: Any, handle: int) -> int:
    fh = file_handle(proc, handle)
    if fh is None:
        return _fail(proc, ERROR_INVALID_HANDLE)
    try:
        fh.file.truncate(fh.file.seek(0, 1))
    except OSError as err:
        return _fail(proc, paths.win_error(err))
    return 1


@winapi("kernel32", args=(HANDLE, PTR), ret=UINT)
def GetFileSize(proc: Any, handle: int, high_ptr: int) -> int:
    """Size of an open file: the low 32 bits, the high ones through ``high_ptr``."""
    fh = file_handle(proc, handle)
    if fh is None:
        return _fail(proc, ERROR_INVALID_HANDLE, INVALID)
    size = fh.file.stat().size
    if high_ptr:
        proc.write_u32(high_ptr, size >> 32)
    proc.set_last_error(0)
    return size & 0xFFFFFFFF


@winapi("kernel32", args=(HANDLE, PTR), ret=BOOL)
def GetFileSizeEx(proc: Any, handle: int, out: int) -> int:
    fh = file_handle(proc, handle)
    if fh is None:
        return _fail(proc, ERROR_INVALID_HANDLE)
    proc.write(out, struct.pack("<q", fh.file.stat().size))
    return 1


@winapi("kernel32", args=(HANDLE,), ret=UINT)
def GetFileType(proc: Any, handle: int) -> int:
    """FILE_TYPE_DISK (1), FILE_TYPE_CHAR (2, a console) or FILE_TYPE_PIPE (3)."""
    fh = file_handle(proc, handle)
    if fh is None:
        return _fail(proc, ERROR_INVALID_HANDLE, 0)
    if fh.console or fh.file.kind is FileKind.CHR:
        return 2
    if fh.file.kind in (FileKind.FIFO, FileKind.SOCK):
        return 3
    if fh.std >= 0 and fh.file.kind is not FileKind.REG:
        return 3
    return 1


def attributes_of(st: Any) -> int:
    if st.kind == FileKind.DIR:
        attrs = ATTR_DIRECTORY
    else:
        attrs = ATTR_ARCHIVE
    if not st.mode & 0o200:
        attrs |= ATTR_READONLY
    return attrs


def _attributes(proc: Any, path: str) -> int:
    try:
        vpath = resolve(proc, path)
    except paths.BadPath:
        return _fail(proc, ERROR_PATH_NOT_FOUND, INVALID)
    try:
        st = proc.vfs.stat(vpath)
    except OSError as err:
        return _fail(proc, _error_for(proc, err, vpath), INVALID)
    return attributes_of(st)


@winapi("kernel32", args=(STR,), ret=UINT)
def GetFileAttributesA(proc: Any, path: int) -> int:
    """FILE_ATTRIBUTE_* of a path, INVALID_FILE_ATTRIBUTES when it does not exist."""
    return _attributes(proc, proc.read_str(path))


@winapi("kernel32", args=(WSTR,), ret=UINT)
def GetFileAttributesW(proc: Any, path: int) -> int:
    return _attributes(proc, proc.read_wstr(path))


def _attr_data(proc: Any, path: str, out: int) -> int:
    try:
        vpath = resolve(proc, path)
        st = proc.vfs.stat(vpath)
    except paths.BadPath:
        return _fail(proc, ERROR_PATH_NOT_FOUND)
    except OSError as err:
        return _fail(proc, _error_for(proc, err, vpath))
    size = st.size if st.kind != FileKind.DIR else 0
    proc.write(out, struct.pack("<IQQQII", attributes_of(st), filetime(st.ctime_ns), filetime(st.atime_ns),
                                filetime(st.mtime_ns), size >> 32, size & 0xFFFFFFFF))  # fmt: skip
    return 1


@winapi("kernel32", args=(STR, INT, PTR), ret=BOOL)
def GetFileAttributesExA(proc: Any, path: int, level: int, out: int) -> int:
    return _attr_data(proc, proc.read_str(path), out)


@winapi("kernel32", args=(WSTR, INT, PTR), ret=BOOL)
def GetFileAttributesExW(proc: Any, path: int, level: int, out: int) -> int:
    return _attr_data(proc, proc.read_wstr(path), out)


def _set_attributes(proc: Any, path: str, attrs: int) -> int:
    try:
        vpath = resolve(proc, path)
        st = proc.vfs.stat(vpath)
        mode = st.mode & 0o7777
        mode = mode & ~0o222 if attrs & ATTR_READONLY else mode | 0o200
        proc.vfs.chmod(vpath, mode)
    except paths.BadPath:
        return _fail(proc, ERROR_PATH_NOT_FOUND)
    except OSError as err:
        return _fail(proc, _error_for(proc, err, None))
    return 1


@winapi("kernel32", args=(STR, UINT), ret=BOOL)
def SetFileAttributesA(proc: Any, path: int, attrs: int) -> int:
    return _set_attributes(proc, proc.read_str(path), attrs)


@winapi("kernel32", args=(WSTR, UINT), ret=BOOL)
def SetFileAttributesW(proc: Any, path: int, attrs: int) -> int:
    return _set_attributes(proc, proc.read_wstr(path), attrs)


def create_directory(proc: Any, path: str) -> int:
    """0 on success, else the Win32 error code."""
    try:
        vpath = resolve(proc, path)
    except paths.BadPath:
        return ERROR_PATH_NOT_FOUND
    try:
        proc.vfs.mkdir(vpath, 0o755)
    except OSError as err:
        return _error_for(proc, err, vpath)
    proc.events.note_path(vpath, True)
    return 0


@winapi("kernel32", args=(STR, PTR), ret=BOOL)
def CreateDirectoryA(proc: Any, path: int, sa: int) -> int:
    """Create a folder: ERROR_ALREADY_EXISTS, or ERROR_PATH_NOT_FOUND without its parent."""
    code = create_directory(proc, proc.read_str(path))
    return _fail(proc, code) if code else 1


@winapi("kernel32", args=(WSTR, PTR), ret=BOOL)
def CreateDirectoryW(proc: Any, path: int, sa: int) -> int:
    code = create_directory(proc, proc.read_wstr(path))
    return _fail(proc, code) if code else 1


def remove_directory(proc: Any, path: str) -> int:
    try:
        vpath = resolve(proc, path)
    except paths.BadPath:
        return ERROR_PATH_NOT_FOUND
    try:
        if not proc.vfs.is_dir(vpath):
            proc.vfs.stat(vpath)
            return 267  # ERROR_DIRECTORY: not a folder
        proc.vfs.rmdir(vpath)
    except OSError as err:
        return _error_for(proc, err, vpath)
    return 0


@winapi("kernel32", args=(STR,), ret=BOOL)
def RemoveDirectoryA(proc: Any, path: int) -> int:
    """Remove an empty folder (ERROR_DIR_NOT_EMPTY otherwise)."""
    code = remove_directory(proc, proc.read_str(path))
    return _fail(proc, code) if code else 1


@winapi("kernel32", args=(WSTR,), ret=BOOL)
def RemoveDirectoryW(proc: Any, path: int) -> int:
    code = remove_directory(proc, proc.read_wstr(path))
    return _fail(proc, code) if code else 1


def delete_file(proc: Any, path: str) -> int:
    try:
        vpath = resolve(proc, path)
    except paths.BadPath:
        return ERROR_PATH_NOT_FOUND
    try:
        if proc.vfs.is_dir(vpath):
            return ERROR_ACCESS_DENIED
        proc.vfs.unlink(vpath)
    except OSError as err:
        return _error_for(proc, err, vpath)
    proc.events.note_path(vpath, True)
    return 0


@winapi("kernel32", args=(STR,), ret=BOOL)
def DeleteFileA(proc: Any, path: int) -> int:
    """Delete a file (a folder gives ERROR_ACCESS_DENIED)."""
    code = delete_file(proc, proc.read_str(path))
    return _fail(proc, code) if code else 1


@winapi("kernel32", args=(WSTR,), ret=BOOL)
def DeleteFileW(proc: Any, path: int) -> int:
    code = delete_file(proc, proc.read_wstr(path))
    return _fail(proc, code) if code else 1


MOVEFILE_REPLACE_EXISTING = 1


def move_file(proc: Any, old: str, new: str, flags: int) -> int:
    try:
        src = resolve(proc, old)
        dst = resolve(proc, new)
    except paths.BadPath:
        return ERROR_PATH_NOT_FOUND
    vfs = proc.vfs
    try:
        vfs.stat(src)
    except OSError as err:
        return _error_for(proc, err, src)
    try:
        st = vfs.stat(dst)
        same = src.lower() == dst.lower()
        if not same:
            if not flags & MOVEFILE_REPLACE_EXISTING or st.kind == FileKind.DIR:
                return ERROR_ALREADY_EXISTS
    except OSError:
        pass
    try:
        vfs.rename(src, dst)
    except OSError as err:
        return _error_for(proc, err, dst)
    proc.events.note_path(dst, True)
    return 0


@winapi("kernel32", args=(STR, STR), ret=BOOL)
def MoveFileA(proc: Any, old: int, new: int) -> int:
    """Rename or move; fails with ERROR_ALREADY_EXISTS when the target exists."""
    code = move_file(proc, proc.read_str(old), proc.read_str(new), 0)
    return _fail(proc, code) if code else 1


@winapi("kernel32", args=(WSTR, WSTR), ret=BOOL)
def MoveFileW(proc: Any, old: int, new: int) -> int:
    code = move_file(proc, proc.read_wstr(old), proc.read_wstr(new), 0)
    return _fail(proc, code) if code else 1


@winapi("kernel32", args=(STR, STR, UINT), ret=BOOL)
def MoveFileExA(proc: Any, old: int, new: int, flags: int) -> int:
    code = move_file(proc, proc.read_str(old), proc.read_str(new) if new else "", flags)
    return _fail(proc, code) if code else 1


@winapi("kernel32", args=(WSTR, WSTR, UINT), ret=BOOL)
def MoveFileExW(proc: Any, old: int, new: int, flags: int) -> int:
    code = move_file(proc, proc.read_wstr(old), proc.read_wstr(new) if new else "", flags)
    return _fail(proc, code) if code else 1


def copy_file(proc: Any, src: str, dst: str, fail_if_exists: bool) -> int:
    source = open_path(proc, src, GENERIC_READ, OPEN_EXISTING)
    if isinstance(source, int):
        return source
    try:
        target = open_path(
            proc, dst, GENERIC_WRITE, CREATE_NEW if fail_if_exists else CREATE_ALWAYS
        )
        if isinstance(target, int):
            return target
        try:
            while chunk := source.file.read(1 << 20):
                target.file.write(chunk)
        except OSError as err:
            return paths.win_error(err)
        finally:
            target.file.close()
    finally:
        source.file.close()
    return 0


@winapi("kernel32", args=(STR, STR, BOOL), ret=BOOL)
def CopyFileA(proc: Any, src: int, dst: int, fail_if_exists: int) -> int:
    code = copy_file(proc, proc.read_str(src), proc.read_str(dst), bool(fail_if_exists))
    return _fail(proc, code) if code else 1


@winapi("kernel32", args=(WSTR, WSTR, BOOL), ret=BOOL)
def CopyFileW(proc: Any, src: int, dst: int, fail_if_exists: int) -> int:
    code = copy_file(proc, proc.read_wstr(src), proc.read_wstr(dst), bool(fail_if_exists))
    return _fail(proc, code) if code else 1


@winapi("kernel32", args=(HANDLE,), ret=BOOL)
def CloseHandle(proc: Any, handle: int) -> int:
    """Close any handle; ERROR_INVALID_HANDLE for one that is not open."""
    obj = proc.handles.close(handle)
    if obj is None:
        if handle in (0xFFFFFFFFFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFE, 0xFFFFFFFE):
            return 1  # pseudo-handles close as a no-op
        return _fail(proc, ERROR_INVALID_HANDLE)
    if not isinstance(obj, FileHandle):
        from ...sync import drop_handle

        drop_handle(proc, obj)  # a kernel object: its last handle may end a job, free a name
        return 1
    if obj.file.kind is FileKind.FIFO and obj.std < 0:
        from .pipes import pipe_moved

        obj.file.close()
        pipe_moved(proc, obj)  # the other end may see end of file or a broken pipe now
        return 1
    if isinstance(obj, FileHandle):
        from ..msvcrt.state import flush_handle

        flush_handle(proc, obj)
        if obj.std < 0 and obj.path not in ("CONOUT$", "CONIN$"):
            obj.file.close()
        if obj.delete_on_close:
            try:
                proc.vfs.unlink(obj.delete_on_close)
            except OSError:
                pass
    return 1


# -- searching -----------------------------------------------------------------------------------
def _find_first(proc: Any, pattern: str, out: int, wide: bool) -> int:
    try:
        full = paths.normalize(pattern, proc.cwd)
    except paths.BadPath:
        return _fail(proc, ERROR_PATH_NOT_FOUND, -1)
    folder, _sep, mask = full.rpartition("\\")
    if not mask:
        return _fail(proc, ERROR_FILE_NOT_FOUND, -1)
    vfolder = paths.to_vfs(folder + "\\" if folder.endswith(":") else folder, proc.vfs)
    vfs = proc.vfs
    try:
        names = vfs.listdir(vfolder)
    except OSError as err:
        code = ERROR_PATH_NOT_FOUND if err.errno in (2, 20) else paths.win_error(err)
        return _fail(proc, code, -1)
    if vfolder != "/":
        names = [".", "..", *names]
    matches = []
    for name in sorted(names, key=lambda n: (n not in (".", ".."), n.upper())):
        if _wild_match(name, mask):
            path = (
                vfolder
                if name == "."
                else vfolder.rsplit("/", 1)[0] or "/"
                if name == ".."
                else vfolder.rstrip("/") + "/" + name
            )
            try:
                st = vfs.stat(path)
            except OSError:
                continue
            matches.append((name, st))
    if not matches:
        return _fail(proc, ERROR_FILE_NOT_FOUND, -1)
    search = FindHandle(matches, 1)
    _fill_find_data(proc, out, matches[0], wide)
    return int(proc.handles.add(search))


def _wild_match(name: str, mask: str) -> bool:
    if mask in ("*", "*.*"):
        return True
    pattern = mask.lower().replace("[", "[[]")
    if pattern.endswith(".*") and "." not in name:
        pattern = pattern[:-2]
    return fnmatch.fnmatchcase(name.lower(), pattern)


def _fill_find_data(proc: Any, out: int, entry: tuple[str, Any], wide: bool) -> None:
    name, st = entry
    size = st.size if st.kind != FileKind.DIR else 0
    head = struct.pack("<IQQQIIII", attributes_of(st), filetime(st.ctime_ns), filetime(st.atime_ns),
                       filetime(st.mtime_ns), size >> 32, size & 0xFFFFFFFF, 0, 0)  # fmt: skip
    if wide:
        raw = name.encode("utf-16-le", "surrogatepass")[:518]
        proc.write(out, head + raw.ljust(520, b"\0") + bytes(28))
    else:
        raw = name.encode("cp1252", "replace")[:259]
        proc.write(out, head + raw.ljust(260, b"\0") + bytes(14))


@winapi("kernel32", args=(STR, PTR), ret=HFILE)
def FindFirstFileA(proc: Any, pattern: int, out: int) -> int:
    """Start a wildcard search (``*``, ``?``; ``.`` and ``..`` come first outside the root)."""
    return _find_first(proc, proc.read_str(pattern), out, False)


@winapi("kernel32", args=(WSTR, PTR), ret=HFILE)
def FindFirstFileW(proc: Any, pattern: int, out: int) -> int:
    return _find_first(proc, proc.read_wstr(pattern), out, True)


@winapi("kernel32", args=(WSTR, INT, PTR, INT, PTR, UINT), ret=HFILE)
def FindFirstFileExW(
    proc: Any, pattern: int, level: int, out: int, op: int, filt: int, flags: int
) -> int:
    return _find_first(proc, proc.read_wstr(pattern), out, True)


@winapi("kernel32", args=(STR, INT, PTR, INT, PTR, UINT), ret=HFILE)
def FindFirstFileExA(
    proc: Any, pattern: int, level: int, out: int, op: int, filt: int, flags: int
) -> int:
    return _find_first(proc, proc.read_str(pattern), out, False)


def _find_next(proc: Any, handle: int, out: int, wide: bool) -> int:
    search = proc.handles.get(handle)
    if not isinstance(search, FindHandle):
        return _fail(proc, ERROR_INVALID_HANDLE)
    if search.pos >= len(search.entries):
        return _fail(proc, ERROR_NO_MORE_FILES)
    _fill_find_data(proc, out, search.entries[search.pos], wide)
    search.pos += 1
    return 1


@winapi("kernel32", args=(HANDLE, PTR), ret=BOOL)
def FindNextFileA(proc: Any, handle: int, out: int) -> int:
    """The next match; FALSE with ERROR_NO_MORE_FILES after the last."""
    return _find_next(proc, handle, out, False)


@winapi("kernel32", args=(HANDLE, PTR), ret=BOOL)
def FindNextFileW(proc: Any, handle: int, out: int) -> int:
    return _find_next(proc, handle, out, True)


@winapi("kernel32", args=(HANDLE,), ret=BOOL)
def FindClose(proc: Any, handle: int) -> int:
    if not isinstance(proc.handles.get(handle), FindHandle):
        return _fail(proc, ERROR_INVALID_HANDLE)
    proc.handles.close(handle)
    return 1


# -- names and folders -----------------------------------------------------------------------------
def _copy_out(proc: Any, text: str, buf: int, size: int, wide: bool) -> int:
    """Windows' buffer rule: the length without NUL when it fits, else the size needed with NUL."""
    raw = text.encode("utf-16-le", "surrogatepass") if wide else text.encode("cp1252", "replace")
    units = len(raw) // (2 if wide else 1)
    if units + 1 > size:
        return units + 1
    proc.write(buf, raw + (b"\0\0" if wide else b"\0"))
    return units


def _full_path(proc: Any, name: str, size: int, buf: int, part: int, wide: bool) -> int:
    try:
        full = paths.normalize(name, proc.cwd)
    except paths.BadPath:
        return _fail(proc, ERROR_PATH_NOT_FOUND)
    if name.replace("/", "\\").endswith("\\") and not full.endswith("\\"):
        full += "\\"
    n = _copy_out(proc, full, buf, size, wide)
    if n < size and part:
        last = full.rfind("\\") + 1
        if last < len(full):
            prefix = full[:last]
            offset = (
                len(prefix.encode("utf-16-le")) if wide else len(prefix.encode("cp1252", "replace"))
            )
            proc.write_ptr(part, buf + offset)
        else:
            proc.write_ptr(part, 0)
    return n


@winapi("kernel32", args=(STR, UINT, PTR, PTR), ret=UINT)
def GetFullPathNameA(proc: Any, name: int, size: int, buf: int, part: int) -> int:
    """The full path of a name relative to the current folder (no file system access)."""
    return _full_path(proc, proc.read_str(name), size, buf, part, False)


@winapi("kernel32", args=(WSTR, UINT, PTR, PTR), ret=UINT)
def GetFullPathNameW(proc: Any, name: int, size: int, buf: int, part: int) -> int:
    return _full_path(proc, proc.read_wstr(name), size, buf, part, True)


@winapi("kernel32", args=(UINT, PTR), ret=UINT)
def GetCurrentDirectoryA(proc: Any, size: int, buf: int) -> int:
    return _copy_out(proc, proc.cwd, buf, size, False)


@winapi("kernel32", args=(UINT, PTR), ret=UINT)
def GetCurrentDirectoryW(proc: Any, size: int, buf: int) -> int:
    return _copy_out(proc, proc.cwd, buf, size, True)


def set_current_directory(proc: Any, path: str) -> int:
    try:
        full = paths.normalize(path, proc.cwd)
        vpath = paths.to_vfs(full, proc.vfs)
    except paths.BadPath:
        return ERROR_PATH_NOT_FOUND
    if not proc.vfs.is_dir(vpath):
        return (
            ERROR_FILE_NOT_FOUND
            if not paths.parent_missing(proc.vfs, vpath)
            else ERROR_PATH_NOT_FOUND
        )
    proc.cwd = paths.to_win(vpath)
    proc.blocks.set_cwd(proc.cwd)
    return 0


@winapi("kernel32", args=(STR,), ret=BOOL)
def SetCurrentDirectoryA(proc: Any, path: int) -> int:
    code = set_current_directory(proc, proc.read_str(path))
    return _fail(proc, code) if code else 1


@winapi("kernel32", args=(WSTR,), ret=BOOL)
def SetCurrentDirectoryW(proc: Any, path: int) -> int:
    code = set_current_directory(proc, proc.read_wstr(path))
    return _fail(proc, code) if code else 1


def _temp_path(proc: Any) -> str:
    from ...startup import profile_dir

    return profile_dir(proc) + "\\AppData\\Local\\Temp\\"


@winapi("kernel32", args=(UINT, PTR), ret=UINT)
def GetTempPathA(proc: Any, size: int, buf: int) -> int:
    """The TEMP folder, with a trailing backslash."""
    return _copy_out(proc, _temp_path(proc), buf, size, False)


@winapi("kernel32", args=(UINT, PTR), ret=UINT)
def GetTempPathW(proc: Any, size: int, buf: int) -> int:
    return _copy_out(proc, _temp_path(proc), buf, size, True)


def _temp_file_name(proc: Any, folder: str, prefix: str, unique: int) -> str | int:
    n = unique or 1
    while True:
        name = folder.rstrip("\\") + "\\" + prefix[:3] + f"{n & 0xFFFF:X}" + ".tmp"
        if unique:
            return name
        result = open_path(proc, name, GENERIC_WRITE, CREATE_NEW)
        if isinstance(result, FileHandle):
            result.file.close()
            return name
        if result != ERROR_FILE_EXISTS:
            return result
        n += 1


@winapi("kernel32", args=(STR, STR, UINT, PTR), ret=UINT)
def GetTempFileNameA(proc: Any, folder: int, prefix: int, unique: int, out: int) -> int:
    name = _temp_file_name(
        proc, proc.read_str(folder), proc.read_str(prefix) if prefix else "", unique
    )
    if isinstance(name, int):
        return _fail(proc, name)
    proc.write(out, name.encode("cp1252", "replace") + b"\0")
    return unique or 1


@winapi("kernel32", args=(WSTR, WSTR, UINT, PTR), ret=UINT)
def GetTempFileNameW(proc: Any, folder: int, prefix: int, unique: int, out: int) -> int:
    name = _temp_file_name(
        proc, proc.read_wstr(folder), proc.read_wstr(prefix) if prefix else "", unique
    )
    if isinstance(name, int):
        return _fail(proc, name)
    proc.write(out, name.encode("utf-16-le") + b"\0\0")
    return unique or 1


@winapi("kernel32", args=(PTR, UINT), ret=UINT)
def GetWindowsDirectoryA(proc: Any, buf: int, size: int) -> int:
    return _copy_out(proc, "C:\\Windows", buf, size, False)


@winapi("kernel32", args=(PTR, UINT), ret=UINT)
def GetWindowsDirectoryW(proc: Any, buf: int, size: int) -> int:
    return _copy_out(proc, "C:\\Windows", buf, size, True)


@winapi("kernel32", args=(PTR, UINT), ret=UINT)
def GetSystemDirectoryA(proc: Any, buf: int, size: int) -> int:
    return _copy_out(proc, "C:\\Windows\\System32", buf, size, False)


@winapi("kernel32", args=(PTR, UINT), ret=UINT)
def GetSystemDirectoryW(proc: Any, buf: int, size: int) -> int:
    return _copy_out(proc, "C:\\Windows\\System32", buf, size, True)


@winapi("kernel32", args=(STR,), ret=UINT)
def GetDriveTypeA(proc: Any, root: int) -> int:
    """C: is a fixed disk (3); other drives do not exist (1: DRIVE_NO_ROOT_DIR)."""
    name = proc.read_str(root) if root else "C:\\"
    return 3 if name[:2].upper() in ("C:", "\\", "") else 1


@winapi("kernel32", args=(WSTR,), ret=UINT)
def GetDriveTypeW(proc: Any, root: int) -> int:
    name = proc.read_wstr(root) if root else "C:\\"
    return 3 if name[:2].upper() in ("C:", "\\", "") else 1


@winapi("kernel32", ret=UINT)
def GetLogicalDrives(proc: Any) -> int:
    return 1 << 2  # C:


@winapi("kernel32", args=(HANDLE, PTR), ret=BOOL)
def GetFileInformationByHandle(proc: Any, handle: int, out: int) -> int:
    fh = file_handle(proc, handle)
    if fh is None:
        return _fail(proc, ERROR_INVALID_HANDLE)
    st = fh.file.stat()
    size = st.size
    proc.write(out, struct.pack("<IQQQIIIIIII", attributes_of(st), filetime(st.ctime_ns),
                                filetime(st.atime_ns), filetime(st.mtime_ns), 0x1234, size >> 32,
                                size & 0xFFFFFFFF, st.nlink, st.ino >> 32, st.ino & 0xFFFFFFFF, 0)[:52])  # fmt: skip
    return 1


@winapi("kernel32", args=(HANDLE, PTR, PTR, PTR), ret=BOOL)
def GetFileTime(proc: Any, handle: int, created: int, accessed: int, written: int) -> int:
    fh = file_handle(proc, handle)
    if fh is None:
        return _fail(proc, ERROR_INVALID_HANDLE)
    st = fh.file.stat()
    for ptr, ns in ((created, st.ctime_ns), (accessed, st.atime_ns), (written, st.mtime_ns)):
        if ptr:
            proc.write(ptr, struct.pack("<Q", filetime(ns)))
    return 1


@winapi("kernel32", args=(HANDLE, PTR, PTR, PTR), ret=BOOL)
def SetFileTime(proc: Any, handle: int, created: int, accessed: int, written: int) -> int:
    """Accepted and ignored: the VFS keeps its own times."""
    return 1 if file_handle(proc, handle) else _fail(proc, ERROR_INVALID_HANDLE)
