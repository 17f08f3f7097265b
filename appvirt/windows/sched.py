"""Running every thread of every Windows process of a run, on the Linux kernel's model.

One Machine (Unicorn instance) per process, one saved context per thread (docs/task-model.md):
a lone runnable thread runs without a timeout, a watchdog stopping it only for Ctrl-C, the time
limit or the nearest wait deadline; several runnable threads share the CPU in slices counted in
instructions, which stop exactly. A call that must wait raises ``sync.Wait``: the dispatcher
hands it to ``block``, which parks the thread just after its API stub's trap and stops the
Machine; the result is written to EAX/RAX when the wait is over, and the thread returns from the
stub as if the call had just finished. A wait inside a callback appvirt itself called (a DLL
entry point, an InitOnce function) cannot give the CPU away: it is settled on the spot.

When every thread waits and no wait has a deadline, nothing can ever wake them: the run ends
with a message on the sandbox's stderr and STATUS_POSSIBLE_DEADLOCK as exit code.
"""

from __future__ import annotations

import time
from typing import Any

from unicorn import x86_const as x86

from ..core.machine import Stop
from ..core.memory import GuestFault
from ..errors import LimitExceeded
from .process import GuestCrash, ProcessExit, _fault_status
from .sync import STILL_ACTIVE, KObject, Wait, drop_handle
from .threads import State, ThreadExit, WinThread, attach_callbacks, enter, per_thread_errno

LONE_SLICE_US = 200_000  # without a watchdog (not the main thread): timeouts as before
SHARED_SLICE_INSNS = 2_000_000  # without the block stop (core/blockstop.py)
SHARED_SLICE_S = 0.005  # with it: the watchdog ends a shared slice this long after it began
STATUS_POSSIBLE_DEADLOCK = 0xC0000194
STATUS_CONTROL_C_EXIT = 0xC000013A
ERROR_NOACCESS = 998


class ProcessObject(KObject):
    """What a process handle refers to: the WinProcess, its threads, and its exit code."""

    kind = "process"

    def __init__(self, proc: Any, parent: ProcessObject | None) -> None:
        self.proc = proc
        self.parent = parent
        self.threads: list[WinThread] = []
        self.exit_code: int | None = None
        self.jobs: list[Any] = []
        self.stdio_refs: list[Any] = []  # OpenFiles this process holds a reference to

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def signaled(self, thread: Any) -> bool:
        return self.exit_code is not None


class Deadlock(Exception):
    """Every thread waits for something only another waiting thread could do."""


class Scheduler:
    """The threads of one run. ``WinProcess.sched`` points here from every process."""

    def __init__(self, initial: Any) -> None:
        self.initial = initial
        self.clock = initial.clock
        self.events = initial.events
        self.threads: list[WinThread] = []
        self.waiters: list[WinThread] = []  # in the order they started waiting
        self.processes: list[ProcessObject] = []
        self.names: dict[str, KObject] = {}  # named events, mutexes, semaphores, jobs
        self.sleepers: dict[Any, list[dict[str, bool]]] = {}  # condition variables, WaitOnAddress
        self.limit = initial.profile.limits.processes
        self.time_limit = initial.time_limit
        self.next_id = initial.tid + 4
        self.first_extra_id = self.next_id  # ids above it: a second thread or process exists
        self.running: WinThread | None = None  # the thread of the slice in progress
        self._uncounted: set[Any] = set()  # Machines holding code translated without counting
        self.run_depth = 0
        self.viewed: WinThread | None = None
        self.rr = 0
        self.done: BaseException | None = None  # how the initial process ended
        self.stale_machines: list[Any] = []
        stderr = initial.handles.get(initial.std_handles[2])
        self.stderr = getattr(stderr, "file", None)  # where a deadlock is reported
        self.root = self.add_process(initial, None, initial.tid)

    # -- registration -----------------------------------------------------------------------------
    def add_process(self, proc: Any, parent: ProcessObject | None, tid: int) -> ProcessObject:
        """Adopt a loaded process; its main thread's registers are the ones in its Machine."""
        proc.sched = self
        pobj = ProcessObject(proc, parent)
        thread = WinThread(proc, pobj, tid, proc.blocks.teb)
        crt = proc.state.get("crt")
        thread.errno_addr = crt.errno_addr if crt is not None else 0
        pobj.threads.append(thread)
        proc.machine.task = thread
        self.processes.append(pobj)
        self.threads.append(thread)
        self.view(thread)
        return pobj

    def new_id(self) -> int:
        value = self.next_id
        self.next_id += 4
        return value

    def live_tasks(self) -> int:
        """Threads alive in every process: what the ``processes`` limit counts."""
        return len(self.threads)

    def add_thread(self, proc: Any, thread: WinThread) -> None:
        per_thread_errno(proc, thread)
        thread.start = self._attach
        proc.thread.pobj.threads.append(thread)
        self.threads.append(thread)
        self.preempt()

    def preempt(self) -> None:
        """Another thread can run now: end the running thread's slice at this trap, so that a
        thread that was alone (running uncounted, maybe spinning on a flag the new one sets)
        shares the CPU from here on."""
        if self.running is not None:
            self.running.proc.machine.request_stop()

    # -- the per-thread view of a process ---------------------------------------------------------
    def view(self, thread: WinThread) -> None:
        """Make ``thread`` the one its process's handlers see (TEB, thread id, errno)."""
        proc = thread.proc
        proc.thread = thread
        proc.tid = thread.tid
        proc.blocks.teb = thread.teb
        crt = proc.state.get("crt")
        if crt is not None and thread.errno_addr:
            crt.errno_addr = thread.errno_addr
            crt.doserrno_addr = thread.errno_addr + 4
        self.viewed = thread

    def load(self, thread: WinThread) -> Any:
        """Put ``thread``'s registers in its Machine (saving the previous thread's)."""
        proc = thread.proc
        machine = proc.machine
        if machine.task is not thread:
            old = machine.task
            if old is not None and old.alive:
                old.context = machine.save_context()
            if thread.context is not None:
                machine.restore_context(thread.context)
                thread.context = None
            elif thread.entry is not None:
                enter(proc, thread)
            machine.task = thread
            self.view(thread)
            proc.set_fs_teb()
        else:
            self.view(thread)
        if thread.result is not None:
            reg = x86.UC_X86_REG_RAX if proc.is64 else x86.UC_X86_REG_EAX
            machine.reg.write(reg, thread.result & ((1 << (8 * proc.word)) - 1))
            thread.result = None
        return machine

    # -- waiting ----------------------------------------------------------------------------------
    def block(self, proc: Any, api: Any, args: list[Any], wait: Wait) -> int | None:
        """Called by the dispatcher for a handler that raised Wait: park the thread (None), or,
        inside a callback appvirt called, settle the wait here and return the result."""
        thread: WinThread = proc.thread
        machine = proc.machine
        if self.running is thread and machine.depth == self.run_depth:
            thread.state = State.WAITING
            thread.wait = wait
            thread.call = (api, args)
            self.waiters.append(thread)
            machine.request_stop()
            return None
        return self._settle_nested(thread, wait, api.name)

    def _settle_nested(self, thread: WinThread, wait: Wait, name: str) -> int:
        while True:
            timed_out = wait.deadline is not None and self.clock.monotonic_ns() >= wait.deadline
            result = wait.poll(wait, timed_out)
            if result is not None:
                return result
            if wait.deadline is None:
                self.events.line(f"appvirt: {name} would wait forever inside a callback")
                raise GuestCrash(STATUS_POSSIBLE_DEADLOCK, thread.proc.machine.pc)
            self._sleep_until(wait.deadline)

    def poll(self, thread: WinThread) -> bool:
        """Ask a waiting thread's wait whether it is over; True when the thread can run."""
        wait = thread.wait
        if wait is None:  # being polled already (a poll that signals something else)
            return False
        timed_out = wait.deadline is not None and self.clock.monotonic_ns() >= wait.deadline
        self.view(thread)
        api, args = thread.call
        thread.wait = None
        try:
            result = wait.poll(wait, timed_out)
        except GuestFault:
            thread.proc.set_last_error(ERROR_NOACCESS)
            result = api.failure()
        finally:
            thread.wait = wait
        if result is None:
            return False
        thread.state = State.RUNNABLE
        thread.wait = None
        thread.call = None
        thread.result = int(result)
        self.waiters.remove(thread)
        if thread.proc.tracing:
            from .trace import format_call

            self.events.line(format_call(thread.proc, api, args, result))
        return True

    def signal(self, *keys: Any) -> None:
        """Something the given keys name changed (no keys: anything may have): waiters on it
        take it now, and the running thread stops so that the scheduler can switch."""
        if not self.waiters:
            return
        viewed = self.viewed
        woke = False
        for thread in list(self.waiters):
            if thread.suspended or thread.wait is None:
                continue
            if keys and not any(k in thread.wait.keys for k in keys):
                continue
            if self.poll(thread):
                woke = True
        if viewed is not None and viewed.alive:
            self.view(viewed)
        if woke and self.running is not None:
            self.running.proc.machine.request_stop()

    # -- exits ------------------------------------------------------------------------------------
    def end_thread(self, thread: WinThread, code: int) -> None:
        """A thread is over (ExitThread, its routine returned, TerminateThread)."""
        if not thread.alive:
            return
        proc = thread.proc
        pobj = thread.pobj
        thread.state = State.DEAD
        thread.exit_code = code & 0xFFFFFFFF
        if thread in self.waiters:
            self.waiters.remove(thread)
        if thread in self.threads:
            self.threads.remove(thread)
        abandoned = list(thread.mutexes)
        for mutex in abandoned:
            mutex.abandon()
        thread.mutexes.clear()
        if proc.machine.task is thread:
            proc.machine.task = None
        if not any(t.alive for t in pobj.threads):
            self.end_process(pobj, code)
            return
        pobj.threads.remove(thread)
        if thread.close_handle_at_exit:
            obj = proc.handles.close(thread.close_handle_at_exit)
            if obj is not None:
                drop_handle(proc, obj)
        if thread.stack_size:
            proc.mem.unmap(thread.stack_low, thread.stack_size)
            proc.mem.unmap(thread.teb, proc.blocks.off.teb_size)
        for block in thread.owned_memory:
            proc.process_heap.free(block)
        self.signal(thread, *abandoned)

    def end_process(self, pobj: ProcessObject, code: int, crash: GuestCrash | None = None) -> None:
        """A process is over: its threads end, its handles close, waiters on it wake."""
        if pobj.exit_code is not None:
            return
        proc = pobj.proc
        pobj.exit_code = code & 0xFFFFFFFF
        proc.exit_code = pobj.exit_code
        for thread in list(pobj.threads):
            if thread.alive:
                thread.state = State.DEAD
                thread.exit_code = pobj.exit_code
                for mutex in thread.mutexes:
                    mutex.abandon()
                thread.mutexes.clear()
            if thread in self.waiters:
                self.waiters.remove(thread)
            if thread in self.threads:
                self.threads.remove(thread)
        for job in pobj.jobs:
            if pobj in job.processes:
                job.processes.remove(pobj)
        from .api import msvcrt

        msvcrt.flush_all(proc)
        if pobj is self.root:
            self.done = crash if crash is not None else ProcessExit(pobj.exit_code)
        else:
            self._close_process(pobj)
        self.events.emit("windows_process_exit", pid=pobj.pid, code=pobj.exit_code)
        self.signal(pobj)
        self.signal()
        if self.running is not None and self.running.pobj is pobj:
            proc.machine.request_stop()

    def _close_process(self, pobj: ProcessObject) -> None:
        """Close every handle of an ended child and free its Machine (later, if it runs now)."""
        from .handles import FileHandle

        proc = pobj.proc
        for _handle, obj in proc.handles.items():
            if isinstance(obj, FileHandle):
                if obj.std < 0 and obj.path not in ("CONOUT$", "CONIN$"):
                    obj.file.close()
            else:
                drop_handle(proc, obj)
        proc.handles.clear()
        for file in pobj.stdio_refs:
            file.close()
        pobj.stdio_refs.clear()
        self.signal()
        self.stale_machines.append(proc.machine)  # closed outside any emulation

    # -- the run loop -----------------------------------------------------------------------------
    def run(self) -> None:
        """Run until the initial process ends; raises its ProcessExit or GuestCrash."""
        from ..linux.watchdog import Watchdog

        deadline = None if self.time_limit is None else time.monotonic() + self.time_limit
        watchdog: Watchdog | None = Watchdog()
        if watchdog is not None and not watchdog.active:
            watchdog.close()
            watchdog = None
        try:
            while self.done is None:
                self._close_stale()
                if self.initial.interrupted:
                    self.initial.interrupted = False
                    raise ProcessExit(STATUS_CONTROL_C_EXIT)
                if deadline is not None and time.monotonic() > deadline:
                    if self.time_limit == getattr(self.initial, "instruction_budget", None):
                        raise LimitExceeded(
                            "instructions", f"wall-time bound of {self.time_limit:g} s", 152
                        )
                    raise LimitExceeded("time", f"{self.time_limit:g} s of wall time", 152)
                thread = self._pick()
                if thread is None:
                    try:
                        self._idle(deadline)
                    except Deadlock as stuck:
                        self._report_deadlock(str(stuck))
                    continue
                self._step(thread, watchdog, deadline)
        finally:
            if watchdog is not None:
                watchdog.close()
        raise self.done

    def _step(self, thread: WinThread, watchdog: Any, deadline: float | None) -> None:
        """Run one thread for one slice and deal with how it ended."""
        proc = thread.proc
        pobj = thread.pobj
        try:
            machine = self.load(thread)
            if thread.start is not None:
                start, thread.start = thread.start, None
                start(thread)
                return
            runnable = sum(1 for t in self.threads if t.state is State.RUNNABLE and not t.suspended)
            self.running = thread
            self.run_depth = machine.depth + 1
            try:
                exact = machine.block_stop
                moment = self._watch_deadline(deadline)
                if (
                    watchdog is not None
                    and exact is None
                    and machine.depth == 0
                    and (runnable > 1 or moment is not None)
                ):
                    # The watchdog will stop this thread (its slice ends, or a waiter's deadline
                    # comes) and it then resumes: a stop from outside a hook could repeat stores
                    # (the ticking sample), so the process gets the exact block stop first.
                    exact = machine.enable_block_stop()
                if exact is not None and watchdog is not None:
                    self._uncounted.add(machine)
                    if runnable > 1:
                        end = time.monotonic() + SHARED_SLICE_S
                        moment = end if moment is None else min(moment, end)
                    watchdog.arm(machine.uch, moment, exact=exact)
                    try:
                        stop = machine.run(0)
                    finally:
                        watchdog.disarm()
                elif runnable > 1:
                    # Unicorn counts only in code translated while counting: a loop translated
                    # by an uncounted run (a thread spinning alone on a flag another thread
                    # sets after its Sleep) would never end this slice. Drop such code first.
                    if machine in self._uncounted:
                        self._uncounted.discard(machine)
                        machine.uc.ctl_flush_tb()  # type: ignore[attr-defined]
                    stop = machine.run(0, count=SHARED_SLICE_INSNS)
                elif watchdog is not None:
                    self._uncounted.add(machine)
                    watchdog.arm(machine.uch, moment)
                    try:
                        stop = machine.run(0)
                    finally:
                        watchdog.disarm()
                else:
                    self._uncounted.add(machine)
                    stop = machine.run(LONE_SLICE_US)
            finally:
                self.running = None
            if stop is Stop.FAULT and thread.alive:
                status = _fault_status(machine.fault)
                if not proc._offer_exception(status, machine.fault_addr):
                    raise GuestCrash(status, machine.fault_addr)
            if proc.crash is not None and pobj.exit_code is None:
                crash, proc.crash = proc.crash, None
                raise crash
            if proc.exit_code is not None and pobj.exit_code is None:
                raise ProcessExit(proc.exit_code)
        except ThreadExit as done:
            self.end_thread(thread, done.code)
        except ProcessExit as done:
            self.end_process(pobj, done.code)
        except GuestCrash as crash:
            if pobj is not self.root:
                self.events.line(
                    f"unhandled exception {crash.status:#010x} at {crash.address:#x} "
                    f"in process {pobj.pid}"
                )
                self.events.emit("crash", status=crash.status, address=crash.address)
            self.end_process(pobj, crash.status, crash)

    def _watch_deadline(self, run_deadline: float | None) -> float | None:
        """When the watchdog must stop a lone thread: the run's end or the nearest wait deadline."""
        moments = [] if run_deadline is None else [run_deadline]
        now_ns = self.clock.monotonic_ns()
        for thread in self.waiters:
            if thread.wait.deadline is not None:
                moments.append(time.monotonic() + max(thread.wait.deadline - now_ns, 0) / 1e9)
        return min(moments, default=None)

    def _pick(self) -> WinThread | None:
        n = len(self.threads)
        for i in range(n):
            thread = self.threads[(self.rr + i) % n]
            if thread.suspended:
                continue
            if thread.state is State.RUNNABLE or (
                thread.state is State.WAITING and self._poll_guarded(thread)
            ):
                self.rr = (self.rr + i + 1) % max(n, 1)
                return thread
        return None

    def _poll_guarded(self, thread: WinThread) -> bool:
        try:
            return self.poll(thread)
        except ThreadExit as done:
            self.end_thread(thread, done.code)
        except ProcessExit as done:
            self.end_process(thread.pobj, done.code)
        return False

    def _idle(self, run_deadline: float | None) -> None:
        """No thread can run: sleep until the nearest wait deadline, or report a deadlock."""
        deadlines = [
            t.wait.deadline
            for t in self.waiters
            if t.wait is not None and t.wait.deadline is not None and not t.suspended
        ]
        if not deadlines:
            raise Deadlock(self._describe_waiters())
        wake = min(deadlines)
        if run_deadline is not None:
            left = (run_deadline - time.monotonic()) * 1e9 + 1e6
            wake = min(wake, self.clock.monotonic_ns() + max(int(left), 0))
        self._sleep_until(wake)

    def _sleep_until(self, wake_ns: int) -> None:
        left = wake_ns - self.clock.monotonic_ns()
        if left <= 0:
            return
        if self.clock.mode == "frozen":
            self.clock.sleep(left)
            return
        end = time.monotonic() + left / 1e9
        while not self.initial.interrupted:  # Ctrl-C must not wait for a long guest sleep
            rest = end - time.monotonic()
            if rest <= 0:
                break
            time.sleep(min(rest, 0.05))

    def _describe_waiters(self) -> str:
        parts = []
        for thread in self.waiters + [t for t in self.threads if t.suspended]:
            what = thread.call[0].name if thread.call else "suspended"
            name = thread.proc.exe_path.rsplit("\\", 1)[-1]
            parts.append(f"thread {thread.tid} of {name} in {what}")
        return ", ".join(parts)

    def _report_deadlock(self, detail: str) -> None:
        message = f"appvirt: deadlock: every guest thread is waiting ({detail}); ending the run"
        self.events.line(message)
        self.events.emit("deadlock", detail=detail)
        if self.stderr is not None:
            try:
                self.stderr.write((message + "\n").encode())
            except OSError:
                pass
        self.end_process(self.root, STATUS_POSSIBLE_DEADLOCK)

    def _attach(self, thread: WinThread) -> None:
        """A new thread's first step: DLL_THREAD_ATTACH in every DLL and TLS callback."""
        proc = thread.proc
        for fn, base, reason in attach_callbacks(proc, 2):
            proc.call(fn, base, reason, 0)

    def _close_stale(self) -> None:
        while self.stale_machines:
            self.stale_machines.pop().close()

    def close(self) -> None:
        """The run is over: every process still running goes with it."""
        for pobj in self.processes:
            if pobj is not self.root and pobj.exit_code is None:
                pobj.exit_code = STILL_ACTIVE
                self._close_process(pobj)
        self._close_stale()
