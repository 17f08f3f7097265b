"""What a sandbox's registry holds beyond a fresh one: the keys and values a program changed."""

from __future__ import annotations

from collections.abc import Iterator

from .hive import ROOTS, Key, Registry


def _index(reg: Registry) -> dict[str, Key]:
    out: dict[str, Key] = {}
    for root in ROOTS:
        for path, key in reg.roots[root].walk(root):
            out[path.lower()] = key
    return out


def diff(base: Registry, now: Registry) -> Iterator[tuple[str, str]]:
    """(A|M|D, ``KEY`` or ``KEY [value]``) for keys added or deleted and values added, changed or
    deleted in ``now`` against ``base``, in key order."""
    old, new = _index(base), _index(now)
    for lower in sorted(old.keys() | new.keys()):
        a, b = old.get(lower), new.get(lower)
        if a is None and b is not None:
            yield "A", _path(b, lower, new)
        elif b is None and a is not None:
            yield "D", _path(a, lower, old)
            continue
        assert b is not None
        before = a.values if a is not None else {}
        path = _path(b, lower, new)
        for name in sorted(before.keys() | b.values.keys()):
            va, vb = before.get(name), b.values.get(name)
            label = f"{path} [{(vb or va).name or '(Default)'}]"  # type: ignore[union-attr]
            if va is None:
                yield "A", label
            elif vb is None:
                yield "D", label
            elif (va.type, va.data) != (vb.type, vb.data):
                yield "M", label


def _path(key: Key, lower: str, index: dict[str, Key]) -> str:
    """The key's path with each component in its stored spelling."""
    parts = lower.split("\\")
    return "\\".join(index["\\".join(parts[: i + 1])].name for i in range(len(parts)))
