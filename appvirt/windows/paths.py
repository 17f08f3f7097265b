"""Windows paths to VFS paths and back: ``C:\\`` is the root of the sandbox's VFS.

``C:\\home\\me\\app\\data.ini`` is the VFS path ``/home/me/app/data.ini``: the program's folder and
the current folder keep the paths they have on the host (with backslashes), so their drive paths are
stable from run to run. ``C:\\Windows``, ``C:\\Users\\appvirt`` and the temp folder are created in
the sandbox's memory at start. Look-ups ignore case as Windows does: a component that does not exist
as spelled is matched against the folder's entries without regard to case. ``\\\\?\\`` and
``\\??\\`` prefixes, forward slashes, ``.`` and ``..`` are accepted; other drives do not exist.
"""

from __future__ import annotations

import errno
from typing import Any

DRIVE = "C:"

DEVICE_NAMES = frozenset({"nul", "con", "conin$", "conout$", "prn", "aux"})


class BadPath(Exception):
    """A path on a drive that does not exist, or a malformed one (ERROR_PATH_NOT_FOUND)."""


def normalize(path: str, cwd: str) -> str:
    """A full Windows path (``C:\\a\\b``) for ``path`` seen from the Windows folder ``cwd``."""
    p = path.replace("/", "\\")
    for prefix in ("\\\\?\\", "\\??\\", "\\\\.\\"):
        if p.startswith(prefix):
            p = p[len(prefix) :]
            break
    if len(p) >= 2 and p[1] == ":":
        drive = p[:2].upper()
        rest = p[2:]
        if drive != DRIVE:
            raise BadPath(path)
        if not rest.startswith("\\"):
            rest = cwd[2:].rstrip("\\") + "\\" + rest
    elif p.startswith("\\\\"):
        raise BadPath(path)  # UNC shares are not reachable from a sandbox
    elif p.startswith("\\"):
        rest = p
    else:
        rest = cwd[2:].rstrip("\\") + "\\" + p
    parts: list[str] = []
    for part in rest.split("\\"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        # Windows drops trailing dots and spaces from a component ("name." is "name").
        trimmed = part.rstrip(". ")
        parts.append(trimmed or part)
    return DRIVE + "\\" + "\\".join(parts)


def to_vfs(full: str, vfs: Any, resolve_case: bool = True) -> str:
    """The VFS path of a full Windows path, matching each existing component without case."""
    parts = [p for p in full[3:].split("\\") if p]
    out = "/"
    for part in parts:
        candidate = out.rstrip("/") + "/" + part
        if resolve_case and not _exists(vfs, candidate):
            match = _case_match(vfs, out, part)
            if match is not None:
                candidate = out.rstrip("/") + "/" + match
        out = candidate
    return out


def to_win(vfs_path: str) -> str:
    """The Windows path of a VFS path."""
    return DRIVE + "\\" + vfs_path.strip("/").replace("/", "\\")


def vfs_path(path: str, cwd: str, vfs: Any) -> str:
    return to_vfs(normalize(path, cwd), vfs)


def is_device(path: str) -> str | None:
    """``CON``, ``NUL``, ``CONOUT$`` ... (also with an extension or a folder in front)."""
    name = path.replace("/", "\\").rsplit("\\", 1)[-1].split(".", 1)[0].strip().lower()
    if name in DEVICE_NAMES and not path.startswith("\\\\?\\"):
        return name
    return None


def _exists(vfs: Any, path: str) -> bool:
    try:
        vfs.stat(path, follow=False)
        return True
    except OSError:
        return False


def _case_match(vfs: Any, folder: str, name: str) -> str | None:
    try:
        entries = vfs.listdir(folder)
    except OSError:
        return None
    low = name.lower()
    for entry in sorted(entries):
        if entry.lower() == low:
            return entry
    return None


def parent_missing(vfs: Any, path: str) -> bool:
    """True when the folder that would hold ``path`` does not exist (ERROR_PATH_NOT_FOUND)."""
    parent = path.rsplit("/", 1)[0] or "/"
    return not vfs.is_dir(parent)


def win_error(err: OSError, vfs: Any = None, path: str | None = None) -> int:
    """The Win32 error code for a VFS failure (ENOENT splits into FILE and PATH not found)."""
    code = err.errno or errno.EIO
    if code == errno.ENOENT:
        if vfs is not None and path is not None and parent_missing(vfs, path):
            return 3  # ERROR_PATH_NOT_FOUND
        return 2  # ERROR_FILE_NOT_FOUND
    return ERRNO_TO_WIN.get(code, 31)  # ERROR_GEN_FAILURE


ERRNO_TO_WIN = {
    errno.ENOTDIR: 3,
    errno.EMFILE: 4,
    errno.ENFILE: 4,
    errno.EACCES: 5,
    errno.EPERM: 5,
    errno.EROFS: 19,  # ERROR_WRITE_PROTECT
    errno.EISDIR: 5,
    errno.EBADF: 6,
    errno.ENOMEM: 8,
    errno.EXDEV: 17,  # ERROR_NOT_SAME_DEVICE
    errno.EEXIST: 183,  # ERROR_ALREADY_EXISTS
    errno.EINVAL: 87,
    errno.ENOSPC: 112,
    errno.EDQUOT: 112,
    errno.ENOTEMPTY: 145,
    errno.ENAMETOOLONG: 206,
    errno.EBUSY: 32,  # ERROR_SHARING_VIOLATION
    errno.ELOOP: 1921,  # ERROR_CANT_RESOLVE_FILENAME
    errno.EFBIG: 223,  # ERROR_FILE_TOO_LARGE
    errno.ESPIPE: 87,
    errno.EPIPE: 109,  # ERROR_BROKEN_PIPE
}
