"""Writing files so that a crash or SIGKILL at any moment leaves the old version or the new one.

The bytes go to a temporary file in the destination's folder, are fsynced, and the file is renamed
over the destination (rename is atomic within one filesystem); the folder is fsynced last so the
rename itself survives a power cut.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], data: bytes, *, sync_dir: bool = True) -> None:
    """Replace ``path`` by ``data`` atomically (see the module docstring)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + "-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if sync_dir:
        fsync_dir(path.parent)
