"""Stopping a lone guest task only when something needs attention.

A Unicorn timeout stop can leave the PC at the start of a block whose stores already ran, so a
resumed guest may execute a store twice (a re-run `lock cmpxchg` deadlocks a lock; measured). A lone
task therefore runs without a timeout, and this watchdog thread stops the Machine only when the
kernel must act: a host signal arrived (Ctrl-C: Python's wakeup fd), the wall-time limit or a guest
alarm is due, or a sleeping task's wait ends (its nanosleep, or the timeout of its poll, select or
futex wait) while the lone task spins. Those stops end the run, enter a signal handler or wake a
sleeper, so they are rare, not periodic.

A deadline can come with a ``nudge``: when it passes, the watchdog first calls it (the kernel then
asks for a stop at the task's next syscall, which is exact) and only stops the Machine itself
``NUDGE_GRACE`` seconds later if it still runs (a loop that makes no syscalls).
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from ..core import uclib
from ..core.blockstop import BlockStop
from .timerq import next_timer_ns

NUDGE_GRACE = 0.01  # seconds between a nudge and the watchdog's own stop


class Watchdog:
    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._w, False)
        os.set_blocking(self._r, False)
        self._ctl_r, self._ctl_w = os.pipe()
        self._lock = threading.Lock()
        self._uch: int | None = None
        self._deadline: float | None = None
        self._nudge: Callable[[], None] | None = None
        self._grace = NUDGE_GRACE
        self._exact: BlockStop | None = None
        self._fired = False  # the armed deadline passed (nudged or stopped) since ``arm``
        self._sleep_until: float | None = None  # when the thread's current wait ends (None: never)
        self._closed = False
        self.active = False
        try:
            self._previous = signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)
            self.active = True
        except ValueError:  # not the main thread: the caller falls back to timeouts
            self._previous = -1
        self._thread = threading.Thread(target=self._loop, name="appvirt-watchdog", daemon=True)
        if self.active:
            self._thread.start()

    def arm(
        self,
        uch: int,
        deadline: float | None,
        nudge: Callable[[], None] | None = None,
        grace: float = NUDGE_GRACE,
        exact: BlockStop | None = None,
    ) -> None:
        """Watch ``uch`` (running from now on) until ``disarm``; stop it at ``deadline`` (with a
        ``nudge``: call it then, and stop ``uch`` only if it still runs ``grace`` seconds later).
        With ``exact`` (the Machine's block stop) the stop is exact instead of ``uc_emu_stop``, and a
        stop that lands after the run has ended is withdrawn at ``disarm``.

        The thread is only woken when it must wake sooner than it already will: a pipe write per
        run wakes it for nothing, and its GIL hand-offs then cost the main thread ~0.5 ms a time.
        """
        with self._lock:
            self._uch = uch
            self._deadline = deadline
            self._nudge = nudge
            self._grace = grace
            self._exact = exact
            self._fired = False
            poke = deadline is not None and (
                self._sleep_until is None or deadline < self._sleep_until
            )
        if poke:
            os.write(self._ctl_w, b"a")

    def disarm(self) -> bool:
        """Stop watching; True when the armed deadline passed meanwhile (a nudge or a stop)."""
        with self._lock:
            self._uch = None
            self._deadline = None
            self._nudge = None
            if self._exact is not None:
                self._exact.take()  # fired as the run ended: not for the next one
            self._exact = None
            fired, self._fired = self._fired, False
        return fired

    def _loop(self) -> None:
        while not self._closed:
            with self._lock:
                deadline = self._sleep_until = self._deadline
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0)
            try:
                ready, _, _ = select.select([self._r, self._ctl_r], [], [], timeout)
            except (OSError, ValueError):
                return
            if self._ctl_r in ready:
                os.read(self._ctl_r, 4096)
                if self._closed:
                    return
            fire = False
            if self._r in ready:
                try:
                    data = os.read(self._r, 4096)
                except BlockingIOError:
                    data = b""
                if data:
                    # Give the byte back to Python's own handling is not possible; the main thread
                    # runs its signal handlers as soon as emu_start returns.
                    fire = True
            nudge = None
            with self._lock:
                now = time.monotonic()
                if self._deadline is not None and now >= self._deadline:
                    self._fired = self._uch is not None
                    if self._nudge is not None and self._uch is not None:
                        nudge, self._nudge = self._nudge, None
                        self._deadline = now + self._grace
                    else:
                        fire = True
                        self._deadline = None
                if fire and self._uch is not None:
                    # Under the lock: ``disarm`` cannot return (and the Machine be closed) first.
                    if self._exact is not None:
                        self._exact.stop()
                    else:
                        uclib.emu_stop(self._uch)
            if nudge is not None:
                nudge()

    def close(self) -> None:
        self._closed = True
        if self.active:
            try:
                signal.set_wakeup_fd(self._previous)
            except (ValueError, TypeError):
                pass
            os.write(self._ctl_w, b"x")
            self._thread.join(timeout=1)
        for fd in (self._r, self._w, self._ctl_r, self._ctl_w):
            os.close(fd)


def next_wake_ns(kernel: Any) -> int | None:
    """The earliest guest-clock moment (monotonic ns) a timer fires or a sleeping task wakes."""
    due = [next_timer_ns(p) for p in kernel.processes.values() if p.alive]
    due = [d for d in due if d]
    for task in kernel.tasks:
        blk = task.block
        if blk is not None and blk.deadline is not None:
            due.append(blk.deadline)
    return min(due, default=None)


def next_deadline(
    kernel: Any, run_deadline: float | None, wake_ns: int | None = None
) -> float | None:
    """The earliest wall-clock (time.monotonic) moment the kernel must look at the guest: the
    run's end, or ``wake_ns`` (default: ``next_wake_ns``), a guest alarm or a sleeper's wake-up."""
    if wake_ns is None:
        wake_ns = next_wake_ns(kernel)
    if wake_ns is None:
        return run_deadline
    moment = time.monotonic() + max(wake_ns - kernel.now_ns(), 0) / 1e9
    return moment if run_deadline is None else min(moment, run_deadline)
