"""Permission bits, checked only for a non-root guest (root passes everything but exec)."""

from __future__ import annotations

from .fakefs_lazy import FakeFile

R = 4
W = 2
X = 1


def allowed(node: FakeFile, want: int, uid: int, gid: int) -> bool:
    """Whether (uid, gid) has every bit of ``want`` (R|W|X) on ``node``."""
    sr = node.stat_result
    mode = int(sr.st_mode)
    if uid == 0:
        # root may read and write anything; it may execute a file only if some x bit is set
        if want & X and mode & 0o170000 != 0o040000 and not mode & 0o111:
            return False
        return True
    if sr.st_uid == uid:
        bits = mode >> 6
    elif sr.st_gid == gid:
        bits = mode >> 3
    else:
        bits = mode
    return bits & want == want


def owner_or_root(node: FakeFile, uid: int) -> bool:
    return uid == 0 or node.stat_result.st_uid == uid
