"""``.reg`` files: import (regedit 5 UTF-16LE or ANSI, and REGEDIT4) and export (regedit 5).

Export writes what regedit writes: the "Windows Registry Editor Version 5.00" header, UTF-16LE
with a BOM and CRLF line ends, keys parents first, ``"name"="text"`` for REG_SZ, ``dword:`` for
REG_DWORD and ``hex(N):`` byte lists (wrapped with ``\\``) for everything else.
"""

from __future__ import annotations

import re

from .hive import REG, Registry, split_path

HEADER5 = "Windows Registry Editor Version 5.00"
HEADER4 = "REGEDIT4"
WRAP = 76


class RegFileError(ValueError):
    """A line of a .reg file that cannot be understood; the message names the line."""


def decode(raw: bytes) -> str:
    if raw.startswith(b"\xff\xfe"):
        return raw[2:].decode("utf-16-le")
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


def _logical_lines(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        if not pending:
            start = number
        stripped = line.strip() if pending else line.rstrip()
        if stripped.endswith("\\") and not stripped.startswith("["):
            pending += stripped[:-1]
            continue
        out.append((start, pending + stripped))
        pending = ""
    if pending:
        out.append((start, pending))
    return out


def _unquote(text: str, where: str) -> tuple[str, str]:
    """Parse a leading quoted string; returns (value, rest)."""
    if not text.startswith('"'):
        raise RegFileError(f"{where}: expected a quoted string")
    out = []
    i = 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), text[i + 1 :]
        out.append(c)
        i += 1
    raise RegFileError(f"{where}: unterminated string")


def _hex_bytes(text: str, where: str) -> bytes:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise RegFileError(f"{where}: bad hex byte list") from None


def parse_value(spec: str, version4: bool, where: str) -> tuple[int, bytes] | None:
    """(type, stored bytes) of a value's right-hand side; None for ``-`` (delete)."""
    spec = spec.strip()
    if spec == "-":
        return None
    if spec.startswith('"'):
        text, rest = _unquote(spec, where)
        if rest.strip():
            raise RegFileError(f"{where}: text after the string")
        return REG.SZ, (text + "\0").encode("utf-16-le")
    low = spec.lower()
    if low.startswith("dword:"):
        try:
            return REG.DWORD, int(spec[6:].strip(), 16).to_bytes(4, "little")
        except (ValueError, OverflowError):
            raise RegFileError(f"{where}: bad dword") from None
    m = re.match(r"hex(?:\(([0-9a-fA-F]+)\))?:(.*)$", spec, re.S)
    if not m:
        raise RegFileError(f"{where}: unknown value format {spec[:20]!r}")
    kind = int(m.group(1), 16) if m.group(1) else REG.BINARY
    data = _hex_bytes(m.group(2), where)
    if version4 and kind in (REG.EXPAND_SZ, REG.MULTI_SZ):
        data = data.decode("cp1252").encode("utf-16-le")  # REGEDIT4 strings are ANSI
    return kind, data


def import_text(reg: Registry, text: str) -> int:
    """Apply a .reg file to ``reg``; returns the number of values set or deleted."""
    lines = _logical_lines(text.lstrip("\ufeff"))
    if not lines or lines[0][1].strip() not in (HEADER5, HEADER4):
        raise RegFileError(f"line 1: not a .reg file (expected {HEADER5!r} or {HEADER4!r})")
    version4 = lines[0][1].strip() == HEADER4
    current = None
    changes = 0
    for number, line in lines[1:]:
        where = f"line {number}"
        s = line.strip()
        if not s or s.startswith(";"):
            continue
        if s.startswith("["):
            if not s.endswith("]"):
                raise RegFileError(f"{where}: unterminated key name")
            name = s[1:-1]
            if name.startswith("-"):
                reg.delete_path(name[1:])
                reg.dirty = True
                current = None
                continue
            current = reg.open_path(name, create=True)
            if current is None:
                raise RegFileError(f"{where}: unknown root key in {name!r}")
            reg.dirty = True
            continue
        if current is None:
            raise RegFileError(f"{where}: value outside a key")
        if s.startswith("@"):
            vname, rest = "", s[1:]
        else:
            vname, rest = _unquote(s, where)
        rest = rest.lstrip()
        if not rest.startswith("="):
            raise RegFileError(f"{where}: expected '=' after the value name")
        parsed = parse_value(rest[1:], version4, where)
        if parsed is None:
            current.values.pop(vname.lower(), None)
        else:
            current.set(vname, parsed[0], parsed[1])
        reg.dirty = True
        changes += 1
    return changes


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _hex_lines(prefix: str, data: bytes) -> str:
    out = prefix
    line_len = len(prefix)
    tokens = [f"{b:02x}" for b in data]
    for i, tok in enumerate(tokens):
        piece = tok + ("," if i < len(tokens) - 1 else "")
        if line_len + len(piece) > WRAP and i < len(tokens):
            out += "\\\r\n  "
            line_len = 2
        out += piece
        line_len += len(piece)
    return out


def format_value(name: str, kind: int, data: bytes) -> str:
    left = "@" if name == "" else _quote(name)
    if kind == REG.SZ and len(data) % 2 == 0 and data.endswith(b"\0\0"):
        text = data[:-2].decode("utf-16-le", "surrogatepass")
        if "\0" not in text:
            return f"{left}={_quote(text)}"
    if kind == REG.DWORD and len(data) == 4:
        return f"{left}=dword:{int.from_bytes(data, 'little'):08x}"
    tag = "hex" if kind == REG.BINARY else f"hex({kind:x})"
    return _hex_lines(f"{left}={tag}:", data)


def export_text(reg: Registry, root_path: str | None = None) -> str:
    """The registry (or the subtree at ``root_path``) as a regedit 5 .reg file's text."""
    out = [HEADER5, ""]
    if root_path:
        key = reg.open_path(root_path)
        parts = split_path(root_path)
        from .hive import ROOT_ALIASES

        parts[0] = ROOT_ALIASES.get(parts[0].upper(), parts[0].upper())
        trees = [("\\".join(parts), key)] if key is not None else []
    else:
        trees = [
            (name, reg.roots[name])
            for name in ("HKEY_LOCAL_MACHINE", "HKEY_CURRENT_USER", "HKEY_USERS")
        ]
    for base, top in trees:
        assert top is not None
        for rel, key in top.walk():
            out.append(f"[{base}\\{rel}]" if rel else f"[{base}]")
            values = sorted(key.values.values(), key=lambda v: (v.name != "", v.name.lower()))
            for v in values:
                out.append(format_value(v.name, v.type, v.data))
            out.append("")
    return "\r\n".join(out) + "\r\n"


def export_bytes(reg: Registry, root_path: str | None = None) -> bytes:
    return b"\xff\xfe" + export_text(reg, root_path).encode("utf-16-le", "surrogatepass")
