"""What /proc shows of guest processes, through the VFS's ``ProcProvider`` protocol.

``ProcView(kernel)`` follows the task being served (``/proc/self``); ``view(pid)`` gives a view
pinned to one process, so ``/proc/<pid>`` of a sibling, a child or a zombie works as on Linux
(``ps``, ``pgrep``, ``kill $(cat pidfile)`` checks). Only guest processes exist here.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .task import State

if TYPE_CHECKING:
    from ..vfs.types import OpenFile
    from .kernel import Kernel
    from .task import Process


class ProcView:
    """One process as /proc/<pid> shows it (the current one when ``pid`` is None)."""

    def __init__(self, kernel: Kernel, pid: int | None = None) -> None:
        self.kernel = kernel
        self._pid = pid

    def _p(self) -> Process:
        if self._pid is not None:
            return self.kernel.processes[self._pid]
        task = self.kernel.current
        assert task is not None
        return task.proc

    def pids(self) -> list[int]:
        """Every guest process /proc lists (zombies included, until reaped)."""
        return sorted(self.kernel.processes)

    def view(self, pid: int) -> ProcView | None:
        return ProcView(self.kernel, pid) if pid in self.kernel.processes else None

    def pid(self) -> int:
        return self._p().pid

    def ppid(self) -> int:
        return self._p().ppid

    def state(self) -> str:
        """Linux's one-letter state: R running or runnable, S sleeping, T stopped, Z zombie."""
        p = self._p()
        if p.zombie:
            return "Z"
        states = {t.state for t in p.tasks}
        if State.RUNNABLE in states:
            return "R"
        return "T" if State.STOPPED in states else "S"

    def group(self) -> tuple[int, int]:
        p = self._p()
        return p.pgid, p.sid

    def exe(self) -> str:
        return self._p().exe

    def cwd(self) -> str:
        return self._p().cwd

    def fds(self) -> dict[int, OpenFile]:
        p = self._p()
        return {} if p.zombie else p.fds.paths()

    def maps(self) -> str:
        p = self._p()
        return "" if p.zombie else str(p.machine.mem.maps_text())

    def cmdline(self) -> bytes:
        """The argv area of the process's memory, as Linux reads it: a program that rewrites its
        argv strings (busybox applets, setproctitle) shows the new text."""
        p = self._p()
        if p.zombie:
            return b""
        mem = p.machine.mem
        if mem.arg_end > mem.arg_start:
            try:
                return bytes(mem.read(mem.arg_start, mem.arg_end - mem.arg_start))
            except Exception:  # noqa: BLE001 - unmapped since: fall back to what exec saw
                pass
        return b"".join(a + b"\0" for a in p.argv)

    def environ(self) -> bytes:
        p = self._p()
        return b"" if p.zombie else b"".join(a + b"\0" for a in p.envp)

    def name(self) -> str:
        p = self._p()
        return (p.name or os.path.basename(p.exe).encode())[:15].decode("utf-8", "replace")

    def status(self) -> str:
        p = self._p()
        ident = self.kernel.identity
        words = {"R": "R (running)", "S": "S (sleeping)", "T": "T (stopped)", "Z": "Z (zombie)"}
        vm = 0 if p.zombie else p.machine.mem.mapped_bytes // 1024
        return (
            f"Name:\t{self.name()}\nState:\t{words[self.state()]}\nTgid:\t{p.pid}\nPid:\t{p.pid}\n"
            f"PPid:\t{p.ppid}\n"
            f"Uid:\t{ident.uid}\t{ident.uid}\t{ident.uid}\t{ident.uid}\n"
            f"Gid:\t{ident.gid}\t{ident.gid}\t{ident.gid}\t{ident.gid}\n"
            f"VmSize:\t{vm} kB\nThreads:\t{max(len(p.tasks), 1)}\n"
        )
