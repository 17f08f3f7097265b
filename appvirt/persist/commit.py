"""Taking a sandbox's changes out: into a folder of their own, or onto the host they shadow.

``export`` writes every added or modified file, folder and symlink under ``dest`` at its guest path
(``/home/u/app/settings.ini`` -> ``dest/home/u/app/settings.ini``); deletions cannot be shown in a
plain folder and are only reported. ``to_host`` applies the changes of copy-on-write mounts to the
host paths they stand for, deletions included, each file replaced atomically; a change that lives
only in the sandbox (the in-memory root) has no host path and is left in the sandbox. A host path is
written only if its folder still resolves inside the mount it came from (a symlink put on the host
since then cannot redirect the write).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..vfs.changes import ChangeKind
from ..vfs.types import FileKind
from .atomic import write_atomic
from .layer import Entry

Reader = Callable[[Entry], bytes]


@dataclass(slots=True)
class CommitReport:
    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: list[tuple[Entry, str]] = field(default_factory=list)  # (entry, why)
    left: list[Entry] = field(default_factory=list)  # no host path: stays in the sandbox


def export(entries: list[Entry], read: Reader, dest: Path) -> CommitReport:
    report = CommitReport()
    dest = dest.absolute()
    for entry in entries:
        if entry.op is ChangeKind.DELETED:
            report.skipped.append((entry, "deleted in the sandbox"))
            continue
        target = dest / entry.path.lstrip("/")
        if not _inside(target.parent, dest):
            report.skipped.append((entry, "outside the export folder"))
            continue
        _write(entry, read, target)
        report.written.append(entry.path)
    return report


def to_host(entries: list[Entry], read: Reader) -> CommitReport:
    report = CommitReport()
    for entry in entries:
        if entry.host is None or entry.root is None:
            report.left.append(entry)
            continue
        host = Path(entry.host)
        if not (_inside(host.parent, Path(entry.root)) or host == Path(entry.root)):
            report.skipped.append((entry, f"{host.parent} no longer leads where it did"))
            continue
        if entry.op is ChangeKind.DELETED:
            if host.is_dir() and not host.is_symlink():
                shutil.rmtree(host)
            elif os.path.lexists(host):
                host.unlink()
            report.deleted.append(str(host))
            continue
        _write(entry, read, host)
        report.written.append(str(host))
    return report


def _inside(path: Path, root: Path) -> bool:
    try:
        real = Path(os.path.realpath(path))
        base = Path(os.path.realpath(root))
    except OSError:
        return False
    return real == base or base in real.parents


def _write(entry: Entry, read: Reader, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if entry.kind is FileKind.DIR:
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            target.unlink()
        target.mkdir(exist_ok=True)
        os.chmod(target, entry.mode & 0o7777)
        return
    if entry.kind is FileKind.LNK:
        tmp = target.with_name(f".{target.name}.appvirt-link.tmp")
        if os.path.lexists(tmp):
            tmp.unlink()
        os.symlink(entry.target or "", tmp)
        os.replace(tmp, target)
        return
    if not entry.content:  # metadata only
        if target.exists():
            os.chmod(target, entry.mode & 0o7777)
            os.utime(target, ns=(entry.mtime_ns, entry.mtime_ns))
        return
    data = read(entry)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    write_atomic(target, data)
    os.chmod(target, entry.mode & 0o7777)
    if entry.mtime_ns:
        os.utime(target, ns=(entry.mtime_ns, entry.mtime_ns))
