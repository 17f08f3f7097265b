"""The upper layer of a sandbox folder: what the guest added, changed and deleted, between runs.

``layer/manifest.json`` lists the changes in the order they apply (parents first; in a folder,
deletions before additions): operation, guest path, file type, mode, owner, modification time,
symlink text, and for file content the SHA-256 of a blob in ``layer/blobs/``, plus the host path a
cow change stands for (what ``appvirt sandbox commit`` writes to). Blobs are written first, each
atomically, then the manifest replaces the old one atomically, then blobs nothing refers to any more
are removed: a run killed at any moment leaves the old manifest (with its blobs) or the new one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..vfs.changes import Change, ChangeKind
from ..vfs.types import FileKind
from .atomic import fsync_dir, write_atomic

FORMAT = "appvirt-layer"
VERSION = 1
MANIFEST = "manifest.json"
_KINDS = {FileKind.REG: "file", FileKind.DIR: "dir", FileKind.LNK: "symlink"}
_BY_NAME = {v: k for k, v in _KINDS.items()}


@dataclass(slots=True)
class Entry:
    """One stored change as the manifest has it."""

    op: ChangeKind
    path: str
    kind: FileKind
    mode: int = 0
    uid: int = 0
    gid: int = 0
    mtime_ns: int = 0
    target: str | None = None
    blob: str | None = None  # SHA-256 of the content (regular files whose content changed)
    size: int = 0
    host: str | None = None  # the host path it stands for (cow mounts), None if memory only
    root: str | None = None  # the host folder of that cow mount
    content: bool = True

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op.value, "path": self.path,
                               "type": _KINDS.get(self.kind, "file")}  # fmt: skip
        if self.op is not ChangeKind.DELETED:
            out.update(mode=self.mode, uid=self.uid, gid=self.gid, mtime_ns=self.mtime_ns)
            if self.target is not None:
                out["target"] = self.target
            if self.blob is not None:
                out.update(blob=self.blob, size=self.size)
            if not self.content:
                out["content"] = False
        if self.host is not None:
            out.update(host=self.host, root=self.root)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        return cls(op=ChangeKind(data["op"]), path=str(data["path"]),
                   kind=_BY_NAME[data.get("type", "file")], mode=int(data.get("mode", 0)),
                   uid=int(data.get("uid", 0)), gid=int(data.get("gid", 0)),
                   mtime_ns=int(data.get("mtime_ns", 0)), target=data.get("target"),
                   blob=data.get("blob"), size=int(data.get("size", 0)), host=data.get("host"), root=data.get("root"),
                   content=bool(data.get("content", True)))  # fmt: skip


def describe(
    changes: Iterable[Change], host_of: Callable[[str], tuple[str, str] | None]
) -> list[tuple[Entry, Change]]:
    """Manifest entries (without blobs yet) for live VFS changes, each with its change."""
    out = []
    for change in changes:
        if change.file_kind not in _KINDS:
            continue  # FIFOs, sockets, devices: not kept
        entry = Entry(op=change.kind, path=change.path, kind=change.file_kind, mode=change.mode,
                      uid=change.uid, gid=change.gid, mtime_ns=change.mtime_ns,
                      target=change.target, content=change.content)  # fmt: skip
        entry.host, entry.root = host_of(change.path) or (None, None)
        out.append((entry, change))
    return out


class Layer:
    """The ``layer/`` folder of a sandbox (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.blobs = folder / "blobs"

    def blob_path(self, digest: str) -> Path:
        return self.blobs / digest[:2] / digest

    def entries(self) -> list[Entry]:
        path = self.folder / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as err:
            raise UsageError(f"{path}: unreadable sandbox layer ({err})") from None
        try:
            if data.get("format") != FORMAT or int(data.get("version", 0)) > VERSION:
                raise ValueError("unknown format or a newer version")
            return [Entry.from_json(e) for e in data["entries"]]
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise UsageError(f"{path}: unreadable sandbox layer ({err})") from None

    def read(self, entry: Entry) -> bytes:
        """The content of a stored file."""
        if entry.blob is None:
            return b""
        blob = self.blob_path(entry.blob)
        try:
            return blob.read_bytes()
        except OSError as err:
            raise UsageError(f"{blob}: sandbox content missing ({err.strerror})") from None

    def change(self, entry: Entry) -> Change:
        """The entry as a VFS change whose content is read from its blob."""

        def read() -> bytes:
            return self.read(entry)

        return Change(kind=entry.op, path=entry.path, file_kind=entry.kind, mode=entry.mode,
                      uid=entry.uid, gid=entry.gid, mtime_ns=entry.mtime_ns, target=entry.target,
                      content=entry.content and entry.blob is not None,
                      reader=read if entry.blob is not None else None)  # fmt: skip

    def save(self, changes: Iterable[Change], kept: Iterable[Entry],
             host_of: Callable[[str], tuple[str, str] | None]) -> list[Entry]:  # fmt: skip
        """Store ``changes`` (this run's view) plus ``kept`` (entries this run could not see);
        returns the new manifest's entries."""
        entries = list(kept)
        touched: set[Path] = set()
        for entry, change in describe(changes, host_of):
            if entry.op is not ChangeKind.DELETED and entry.kind is FileKind.REG and entry.content:
                data = change.read()
                entry.blob = self._put_blob(data, touched)
                entry.size = len(data)
            entries.append(entry)
        for folder in touched:
            fsync_dir(folder)
        self.write_manifest(entries)
        self.collect_garbage(entries)
        return entries

    def write_manifest(self, entries: list[Entry]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        body = {"format": FORMAT, "version": VERSION, "entries": [e.to_json() for e in entries]}
        write_atomic(self.folder / MANIFEST, (json.dumps(body, indent=1) + "\n").encode())

    def _put_blob(self, data: bytes, touched: set[Path]) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self.blob_path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data, sync_dir=False)
            touched.add(path.parent)
        return digest

    def collect_garbage(self, entries: list[Entry]) -> None:
        """Remove blobs no entry refers to (and temporary files a killed run left)."""
        wanted = {e.blob for e in entries if e.blob}
        if not self.blobs.is_dir():
            return
        for sub in self.blobs.iterdir():
            if not sub.is_dir():
                continue
            for blob in sub.iterdir():
                if blob.name not in wanted:
                    try:
                        blob.unlink()
                    except OSError:
                        pass
            try:
                sub.rmdir()  # only succeeds when nothing is left in it
            except OSError:
                pass
        for stale in self.folder.glob(".*.tmp"):
            try:
                stale.unlink()
            except OSError:
                pass

    def clear(self) -> None:
        """Forget every change (``appvirt sandbox reset``)."""
        self.write_manifest([])
        self.collect_garbage([])

    def disk_usage(self) -> int:
        if not self.blobs.is_dir():
            return 0
        return sum(b.stat().st_size for sub in self.blobs.iterdir() if sub.is_dir()
                   for b in sub.iterdir())  # fmt: skip
