"""When a process's timers fire next: its alarm (alarm/setitimer) and its POSIX timers.

Kept apart from the syscall handlers so the watchdog (also used by the Windows scheduler) can ask
without importing every Linux system call.
"""

from __future__ import annotations

from typing import Any


def next_due(proc: Any) -> int:
    """The earliest armed POSIX timer of ``proc`` (0: none)."""
    table = getattr(proc, "posix_timers", None)
    if not table:
        return 0
    return min((tm.due_ns for tm in table.values() if tm.due_ns), default=0)


def next_timer_ns(proc: Any) -> int:
    """When ``proc``'s alarm or first POSIX timer fires (0: none armed)."""
    due = [d for d in (proc.itimer_real_ns, next_due(proc)) if d]
    return min(due, default=0)
