"""i386 SEH: walking the ``fs:[0]`` exception-registration chain."""

from __future__ import annotations

from typing import Any


def dispatch_x86(proc: Any, status: int, address: int) -> bool:
    return False
