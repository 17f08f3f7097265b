"""A sandbox folder: its layout, format version, metadata and the lock that serialises runs.

Layout (format version 1)::

    sandbox.json      format, version, created/updated times, run count, the last run
    lock              held (flock) by the run or command using the folder; holds its pid
    layer/            the upper layer: manifest.json and content-addressed blobs/ (layer.py)
    registry.json     the Windows registry (appvirt/registry/store.py)

A folder that exists but holds anything else is refused: ``--sandbox ~/Documents`` by mistake
must not turn a user's folder into a sandbox.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import SandboxBusyError, UsageError
from .atomic import write_atomic
from .layer import Layer

FORMAT = "appvirt-sandbox"
VERSION = 1
META = "sandbox.json"
LOCK = "lock"
LAYER = "layer"
REGISTRY = "registry.json"
OWN_NAMES = {META, LOCK, LAYER, REGISTRY}


def default_sandbox_dir(template: str, program: str) -> Path:
    """A profile's ``sandbox`` template made a path: ``{program}`` is the program's file name,
    ``{data}`` appvirt's data folder ($XDG_DATA_HOME/appvirt or ~/.local/share/appvirt)."""
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local/share")
    name = os.path.basename(program.rstrip("/")) or "program"
    text = template.replace("{program}", name).replace("{data}", os.path.join(data, "appvirt"))
    return Path(os.path.expanduser(text)).absolute()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class SandboxFolder:
    """One sandbox folder on the host (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(os.path.abspath(path))
        self.layer = Layer(self.path / LAYER)
        self.registry_dir = self.path

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: bool) -> SandboxFolder:
        """The folder at ``path``, checked; ``create`` makes a new one when there is none."""
        folder = cls(path)
        folder._check(create)
        return folder

    def _check(self, create: bool) -> None:
        p = self.path
        if not p.exists():
            if not create:
                raise UsageError(f"{p}: no such sandbox folder")
            try:
                p.mkdir(parents=True)
            except OSError as err:
                raise UsageError(f"cannot create sandbox folder {p}: {err.strerror}") from None
        elif not p.is_dir():
            raise UsageError(f"{p}: not a folder")
        names = {n for n in os.listdir(p) if not (n.startswith(".") and n.endswith(".tmp"))}
        if META in names:
            self.meta()  # checks format and version
        elif names - OWN_NAMES:
            raise UsageError(
                f"{p} is not an appvirt sandbox folder (it holds other files); "
                "give a new or empty folder"
            )
        elif not create and not names:
            raise UsageError(f"{p}: empty folder, not a sandbox yet")
        if META not in names and create:
            self._write_meta({"format": FORMAT, "version": VERSION, "created": _now(),
                              "updated": _now(), "runs": 0})  # fmt: skip

    def meta(self) -> dict[str, Any]:
        path = self.path / META
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"format": FORMAT, "version": VERSION, "runs": 0}
        except (OSError, ValueError) as err:
            raise UsageError(f"{path}: unreadable sandbox metadata ({err})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UsageError(f"{path}: not an appvirt sandbox")
        version = data.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise UsageError(f"{self.path}: sandbox format {version} is newer than this appvirt "
                             f"reads ({VERSION}); upgrade appvirt")  # fmt: skip
        return data

    def _write_meta(self, data: dict[str, Any]) -> None:
        write_atomic(self.path / META, (json.dumps(data, indent=1) + "\n").encode())

    def record_run(self, program: str, profile: str, exit_code: int) -> None:
        data = self.meta()
        data.update(updated=_now(), runs=int(data.get("runs", 0)) + 1,
                    last_run={"program": program, "profile": profile, "exit_code": exit_code})  # fmt: skip
        self._write_meta(data)

    @contextmanager
    def locked(self) -> Iterator[SandboxFolder]:
        """Hold the folder's lock for the duration; a second holder is refused at once."""
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                if err.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                    raise
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                raise SandboxBusyError(
                    f"sandbox {self.path} is in use by another run (pid {holder}); "
                    "two runs on one sandbox are not allowed"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield self
        finally:
            os.close(fd)  # closing releases the flock
