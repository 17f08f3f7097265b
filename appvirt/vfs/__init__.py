"""appvirt's virtual filesystem: the only way a guest reaches files.

One namespace per launch (a pyfakefs ``FakeFilesystem`` used as a library, never patched into the
host process) holds the tree and metadata; mounts decide where content comes from: ``ro`` and ``cow``
show a host tree (cow writes go to memory, the upper layer, listed by ``VFS.changes()``), ``rw``
writes through to the host, ``tmpfs`` is memory only. Unmodified host files are streamed with
``pread`` on host fds opened without following symlinks; in-memory files are one ``bytearray`` per
inode. /dev and /proc are generated. Paths are resolved in ``resolve.py`` only, inside the namespace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .types import (
    UTIME_OMIT,
    DirEntry,
    FileKind,
    MountMode,
    MountSpec,
    OpenFile,
    Stat,
    StatFs,
    fail,
)

if TYPE_CHECKING:
    from .changes import Change, ChangeKind
    from .pipe import make_pipe
    from .proc import ProcProvider
    from .streams import BufferStream, HostFdStream, PyFileStream
    from .vfs import VFS

# The rest loads on first use: ``appvirt.vfs.types`` (profiles, the CLI) must not pull in pyfakefs.
_LAZY = {"Change": "changes", "ChangeKind": "changes", "make_pipe": "pipe", "ProcProvider": "proc",
         "BufferStream": "streams", "HostFdStream": "streams", "PyFileStream": "streams",
         "VFS": "vfs"}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "UTIME_OMIT",
    "VFS",
    "BufferStream",
    "Change",
    "ChangeKind",
    "DirEntry",
    "FileKind",
    "HostFdStream",
    "MountMode",
    "MountSpec",
    "OpenFile",
    "ProcProvider",
    "PyFileStream",
    "Stat",
    "StatFs",
    "fail",
    "make_pipe",
]
