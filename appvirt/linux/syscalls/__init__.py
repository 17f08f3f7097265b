"""Syscall handlers, one module per family; importing this package registers them all."""

from . import epoll, fs, futex, misc, mm, poll, proc, signal, time, timers  # noqa: F401
