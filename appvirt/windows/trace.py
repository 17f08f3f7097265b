"""API-call trace lines: ``kernel32!CreateFileA("data.ini", 0x80000000, ...) = 0x44``.

The declaration's argument kinds decide the format, so no handler prints anything itself: strings
are read back from guest memory and quoted, handles and pointers print in hex, integers in
decimal, and the result by the return kind (``NULL`` and ``-1`` spelled out).
"""

from __future__ import annotations

from typing import Any

from .api.decl import T

MAX_STRING = 96


def _quote(text: str) -> str:
    if len(text) > MAX_STRING:
        text = text[:MAX_STRING] + "..."
    out = text.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    return f'"{out}"'


def format_arg(proc: Any, kind: T, value: Any) -> str:
    if kind in (T.STR, T.WSTR):
        if not value:
            return "NULL"
        try:
            text = proc.read_str(value, 4096) if kind is T.STR else proc.read_wstr(value, 4096)
        except Exception:  # noqa: BLE001 - a bad pointer prints as a pointer
            return hex(value)
        return ("L" if kind is T.WSTR else "") + _quote(text)
    if kind in (T.PTR, T.HANDLE, T.HFILE, T.HKEY):
        if value == 0:
            return "NULL"
        if kind is T.HFILE and value == (1 << (8 * proc.word)) - 1:
            return "INVALID_HANDLE_VALUE"
        return hex(value)
    if kind is T.UINT and value > 0xFFFF:
        return hex(value)
    if kind is T.DOUBLE:
        return repr(value)
    return str(value)


def format_call(proc: Any, api: Any, args: list[Any], ret: Any) -> str:
    shown = [format_arg(proc, k, a) for k, a in zip(api.args, args, strict=False)]
    if api.variadic:
        shown.append("...")
    head = f"{api.dll}!{api.name}({', '.join(shown)})"
    sched = getattr(proc, "sched", None)
    if sched is not None and sched.next_id > sched.first_extra_id:  # more than one thread
        head = f"[tid {proc.tid}] {head}"
    if api.ret is T.VOID:
        return head
    if ret is None:
        return head + " = ?"
    return f"{head} = {format_ret(proc, api.ret, ret)}"


def format_ret(proc: Any, kind: T, value: Any) -> str:
    if value is True or value is False:
        value = int(value)
    if kind in (T.PTR, T.HANDLE, T.HKEY, T.STR, T.WSTR):
        return "NULL" if not value else hex(value & ((1 << (8 * proc.word)) - 1))
    if kind is T.HFILE:
        mask = (1 << (8 * proc.word)) - 1
        return "INVALID_HANDLE_VALUE" if value & mask == mask else hex(value & mask)
    if kind is T.NTSTATUS:
        return f"{value & 0xFFFFFFFF:#010x}"
    if kind is T.UINT and isinstance(value, int) and value & 0xFFFFFFFF > 0xFFFF:
        return hex(value & 0xFFFFFFFF)
    return str(value)
