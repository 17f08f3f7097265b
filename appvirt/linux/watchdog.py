"""Stopping a lone guest task only when something needs attention.

A Unicorn timeout stop can leave the PC at the start of a block whose stores already ran, so a
resumed guest may execute a store twice (a re-run `lock cmpxchg` deadlocks a lock; measured). A lone
task therefore runs without a timeout, and this watchdog thread stops the Machine only when the
kernel must act: a host signal arrived (Ctrl-C: Python's wakeup fd), the wall-time limit or a guest
alarm is due. Those stops end the run or enter a signal handler, so they are rare, not periodic.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from typing import Any

from ..core import uclib


class Watchdog:
    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._w, False)
        os.set_blocking(self._r, False)
        self._ctl_r, self._ctl_w = os.pipe()
        self._lock = threading.Lock()
        self._uch: int | None = None
        self._deadline: float | None = None
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

    def arm(self, uch: int, deadline: float | None) -> None:
        """Watch ``uch`` (running from now on) until ``disarm``; stop it at ``deadline``.

        The thread is only woken when it must wake sooner than it already will: a pipe write per
        run wakes it for nothing, and its GIL hand-offs then cost the main thread ~0.5 ms a time.
        """
        with self._lock:
            self._uch = uch
            self._deadline = deadline
            poke = deadline is not None and (
                self._sleep_until is None or deadline < self._sleep_until
            )
        if poke:
            os.write(self._ctl_w, b"a")

    def disarm(self) -> None:
        with self._lock:
            self._uch = None
            self._deadline = None

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
            with self._lock:
                if self._deadline is not None and time.monotonic() >= self._deadline:
                    fire = True
                    self._deadline = None
                uch = self._uch
            if fire and uch is not None:
                uclib.emu_stop(uch)

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


def next_deadline(kernel: Any, run_deadline: float | None) -> float | None:
    """The earliest wall-clock (time.monotonic) moment the kernel must look at the guest."""
    moments = [] if run_deadline is None else [run_deadline]
    now_ns = kernel.now_ns()
    for proc in kernel.processes.values():
        if proc.alive and proc.itimer_real_ns:
            moments.append(time.monotonic() + max(proc.itimer_real_ns - now_ns, 0) / 1e9)
    return min(moments, default=None)
