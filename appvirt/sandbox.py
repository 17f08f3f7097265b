"""The Python API: a Sandbox built from a Profile runs programs, each in a fresh process VM.

``Sandbox(profile).run(argv)`` builds the VFS view the profile grants, creates the VM for the
program, runs it to completion and destroys it, returning a ``RunResult``. Nothing of the VM
outlives ``run``: a library user can run thousands of programs in one Python process.
"""

from __future__ import annotations

import os
import posixpath
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Protocol

from .core.clock import Clock
from .core.events import Events
from .errors import AppvirtError, LimitExceeded, NotExecutableError, ProgramNotFoundError
from .limits import LIMIT_EXIT_CODES
from .profile import SYSTEM_DIRS, Profile
from .vfs.types import MountMode, MountSpec, OpenFile

if TYPE_CHECKING:
    from .persist.folder import SandboxFolder
    from .persist.layer import Entry

StreamArg = bytes | int | IO[bytes] | OpenFile | None


class GuestRun(Protocol):
    """What a personality (Linux, Windows) offers the Sandbox for one run.

    Constructed as ``cls(vfs, events, profile, clock)``; ``start`` loads the program (raising
    OSError with an errno, or an AppvirtError), ``run`` runs it to the end (raising LimitExceeded
    when a limit stops it), ``close`` frees every VM it made. ``interrupted`` is set on Ctrl-C.
    """

    exit_status: int | None
    term_signal: int | None
    peak_memory: int
    interrupted: bool

    def start(
        self, path: str, argv: list[str], env: dict[str, str], stdio: list[OpenFile], cwd: str
    ) -> None: ...

    def run(self) -> None: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class RunResult:
    """What a run ended with. ``exit_code`` is what a shell would see: status, or 128+signal."""

    exit_code: int
    exit_status: int | None
    signal: int | None
    duration: float
    syscalls: Counter[str] = field(default_factory=Counter)
    unknown_syscalls: Counter[str] = field(default_factory=Counter)
    peak_memory: int = 0
    limit: str | None = None
    files_read: list[str] = field(default_factory=list)
    files_written: list[str] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "exit_status": self.exit_status,
            "signal": self.signal,
            "duration_s": round(self.duration, 6),
            "syscalls": dict(self.syscalls),
            "unknown_syscalls": dict(self.unknown_syscalls),
            "peak_memory_bytes": self.peak_memory,
            "limit": self.limit,
            "files_read": self.files_read,
            "files_written": self.files_written,
            "denied": self.denied,
        }


def _stream(value: StreamArg, fd: int, readable: bool) -> OpenFile:
    from .vfs.streams import BufferStream, HostFdStream, PyFileStream

    if isinstance(value, OpenFile):
        return value
    if value is None:
        return HostFdStream(fd, readable=readable, writable=not readable)
    if isinstance(value, int):
        return HostFdStream(value, readable=readable, writable=not readable)
    if isinstance(value, (bytes, bytearray)):
        return BufferStream(bytes(value))
    return PyFileStream(value)


class Sandbox:
    """A profile bound to the host: what every program run in it may see and do."""

    def __init__(
        self, profile: Profile | None = None, cwd: str | None = None, sandbox_dir: str | None = None
    ) -> None:
        self.profile = profile or Profile.default()
        self.cwd = os.path.abspath(cwd or os.getcwd())
        # Where what outlives a run is kept (files the guest changed, the Windows registry); None:
        # the profile's ``sandbox`` template, if any, else nothing persists.
        self.sandbox_dir = os.path.abspath(sandbox_dir) if sandbox_dir else None

    def folder_for(self, program: str) -> SandboxFolder | None:
        """The sandbox folder a run of ``program`` uses (created if new), or None."""
        path = self.sandbox_dir
        if path is None and not self.profile.sandbox:
            return None  # nothing persists: the persist package is not even imported
        from .persist.folder import SandboxFolder, default_sandbox_dir

        if path is None:
            path = str(default_sandbox_dir(self.profile.sandbox or "", program))
        return SandboxFolder.open(path, create=True)

    def _mounts(self, program_dir: str | None, hide: str | None = None) -> list[MountSpec]:
        """The run's mounts; ``hide``, the sandbox folder, exists in none of them."""
        prof = self.profile
        mounts: list[MountSpec] = []
        if prof.system_mounts:
            for d in SYSTEM_DIRS:
                if os.path.lexists(d):
                    mounts.append(MountSpec(guest=d, mode=MountMode.RO, host=d))
        covered = [m.guest for m in mounts]

        def inside(path: str) -> bool:
            return any(path == c or path.startswith(c.rstrip("/") + "/") for c in covered)

        if prof.cwd is not None and not inside(self.cwd):
            mounts.append(MountSpec(guest=self.cwd, mode=prof.cwd, host=self.cwd))
        if program_dir and not inside(program_dir) and program_dir != self.cwd:
            mounts.append(MountSpec(guest=program_dir, mode=prof.program_dir, host=program_dir))
        mounts.extend(prof.mounts)
        if hide is not None:
            mounts = _hide(mounts, hide)
        return mounts

    def run(
        self,
        argv: list[str],
        env: dict[str, str] | None = None,
        stdin: StreamArg = None,
        stdout: StreamArg = None,
        stderr: StreamArg = None,
        trace: IO[str] | None = None,
        host_env: dict[str, str] | None = None,
    ) -> RunResult:
        """Run ``argv`` to completion in a fresh VM.

        ``env`` adds variables to the profile's environment (built from ``host_env``, by default
        this process's). A stream argument may be None (inherit this process's descriptor), an
        int (a host descriptor), bytes (stdin contents) or a binary file object.
        """
        if not argv:
            raise ProgramNotFoundError("no program given")
        program = argv[0]
        host_program = program if "/" in program else None
        program_dir = None
        if host_program is not None:
            host_abs = os.path.abspath(host_program)
            if not os.path.lexists(host_abs):
                raise ProgramNotFoundError(f"{program}: no such file")
            if os.path.isdir(host_abs):
                raise NotExecutableError(f"{program}: is a directory")
            program_dir = os.path.dirname(host_abs)
        folder = self.folder_for(program)
        if folder is None:
            return self._run(argv, program, host_program, program_dir, None, env, stdin, stdout,
                             stderr, trace, host_env)  # fmt: skip
        with folder.locked():
            return self._run(argv, program, host_program, program_dir, folder, env, stdin,
                             stdout, stderr, trace, host_env)  # fmt: skip

    def _run(
        self,
        argv: list[str],
        program: str,
        host_program: str | None,
        program_dir: str | None,
        folder: SandboxFolder | None,
        env: dict[str, str] | None,
        stdin: StreamArg,
        stdout: StreamArg,
        stderr: StreamArg,
        trace: IO[str] | None,
        host_env: dict[str, str] | None,
    ) -> RunResult:
        from .vfs import VFS

        prof = self.profile
        mounts = self._mounts(program_dir, hide=str(folder.path) if folder is not None else None)
        vfs = VFS(mounts, disk_limit=prof.limits.disk, uid=prof.uid, gid=prof.gid,
                  random_seed=prof.random_seed)  # fmt: skip
        kept = self._restore(vfs, folder)
        events = Events(trace=trace)
        guest_env = prof.guest_env(dict(os.environ) if host_env is None else host_env, env)
        started = time.monotonic()
        limit_hit: str | None = None
        previous_sigint = None
        guest: GuestRun | None = None
        try:
            guest_path = (
                os.path.abspath(host_program)
                if host_program
                else self._search_path(vfs, program, guest_env)
            )
            stdio = [_stream(stdin, 0, True), _stream(stdout, 1, False), _stream(stderr, 2, False)]
            if prof.limits.output is not None:
                _limit_output(stdio[1:], prof.limits.output)
            guest = _personality(vfs, guest_path, program)(vfs, events, prof, _clock(prof.time))
            if folder is not None and hasattr(guest, "use_sandbox_dir"):
                guest.use_sandbox_dir(str(folder.registry_dir))
                guest.save_registry = prof.persistence != "discard"  # type: ignore[attr-defined]
            try:
                guest.start(guest_path, argv, guest_env, stdio, self.cwd)
            except OSError as err:
                raise _spawn_error(program, err) from None
            previous_sigint = _forward_sigint(guest)
            try:
                guest.run()
            except AppvirtError as err:
                limit = getattr(err, "limit", None)
                if limit is None:
                    raise
                limit_hit = limit
            status, sig = guest.exit_status, guest.term_signal
            if limit_hit is not None:
                code = LIMIT_EXIT_CODES.get(limit_hit, 152)
            elif sig is not None:
                code = 128 + sig
            else:
                code = status or 0
            self._persist(vfs, folder, kept, exited=sig is None and limit_hit is None)
            if folder is not None:
                folder.record_run(program, prof.name, code)
            return RunResult(
                exit_code=code,
                exit_status=status,
                signal=sig,
                duration=time.monotonic() - started,
                syscalls=events.calls,
                unknown_syscalls=events.unknown,
                peak_memory=guest.peak_memory,
                limit=limit_hit,
                files_read=sorted(events.files_read),
                files_written=sorted(events.files_written),
                denied=list(events.denied),
            )
        finally:
            if previous_sigint is not None:
                signal.signal(signal.SIGINT, previous_sigint)
            if guest is not None:
                guest.close()
            vfs.close()

    def _restore(self, vfs: Any, folder: SandboxFolder | None) -> list[Entry]:
        """Put the sandbox's stored changes into the new VFS; returns the stored entries this run
        cannot see (kept in the layer untouched when it is saved again)."""
        if folder is None:
            return []
        layer = folder.layer
        entries = layer.entries()
        unseen = {c.path for c in vfs.apply_persisted([layer.change(e) for e in entries])}
        return [e for e in entries if e.path in unseen]

    def _persist(
        self, vfs: Any, folder: SandboxFolder | None, kept: list[Entry], exited: bool
    ) -> None:
        """Keep what the run changed, as the profile's ``persistence`` says: in the sandbox folder,
        or (``commit``, when the program exited by itself) on the host, where a change has a host
        path; what has none stays in the sandbox folder."""
        mode = self.profile.persistence
        if mode == "discard" or (folder is None and mode != "commit"):
            return
        from .persist.commit import to_host
        from .persist.layer import describe

        changes = vfs.persisted_changes()
        if mode == "commit" and exited:
            pairs = describe(changes, vfs.commit_path)
            readers = {id(e): c.read for e, c in pairs}
            report = to_host([e for e, _ in pairs], lambda e: readers[id(e)]())
            stay = {id(e) for e in report.left} | {id(e) for e, _ in report.skipped}
            changes = [c for e, c in pairs if id(e) in stay]
        if folder is not None:
            folder.layer.save(changes, kept, vfs.commit_path)

    def _search_path(self, vfs: Any, name: str, env: dict[str, str]) -> str:
        for d in env.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(":"):
            if not d:
                continue
            candidate = d.rstrip("/") + "/" + name
            try:
                vfs.stat(candidate)
                return candidate
            except OSError:
                continue
        raise ProgramNotFoundError(f"{name}: command not found")


def _limit_output(streams: list[OpenFile], limit: int) -> None:
    """Count what the guest writes to stdout and stderr together; past ``limit`` bytes the run
    stops (LimitExceeded, exit code 153). What fits under the limit is still written."""
    written = [0]
    seen: set[int] = set()
    for stream in streams:
        if id(stream) in seen:
            continue
        seen.add(id(stream))
        inner = stream.write

        def write(data: bytes, inner: Callable[[bytes], int] = inner) -> int:
            room = limit - written[0]
            if len(data) > room:
                if room > 0:
                    written[0] += inner(bytes(data[:room]))
                raise LimitExceeded("output", f"more than {limit} bytes on stdout and stderr",
                                    LIMIT_EXIT_CODES["output"])  # fmt: skip
            n = inner(data)
            written[0] += n
            return n

        stream.write = write  # type: ignore[method-assign]


def _spawn_error(program: str, err: OSError) -> AppvirtError:
    import errno as _errno

    if err.errno in (_errno.ENOENT, _errno.ENOTDIR):
        return ProgramNotFoundError(f"{program}: not visible inside the sandbox")
    return NotExecutableError(f"{program}: {os.strerror(err.errno or _errno.EACCES)}")


def _clock(spec: str) -> Clock:
    if spec.startswith("offset:"):
        return Clock(mode="offset", offset_ns=int(spec.split(":", 1)[1]) * 1_000_000_000)
    if spec.startswith("frozen:"):
        return Clock(mode="frozen", frozen_ns=int(spec.split(":", 1)[1]) * 1_000_000_000)
    return Clock()


def _personality(vfs: Any, guest_path: str, program: str) -> Callable[..., GuestRun]:
    """Pick the personality by the executable's magic: ELF -> Linux, MZ -> Windows."""
    try:
        f = vfs.open(guest_path, 0)
        try:
            magic = f.read(4)
        finally:
            f.close()
    except OSError as err:
        raise _spawn_error(program, err) from None
    if magic[:2] == b"MZ":
        from .windows.runner import WindowsRun

        return WindowsRun
    from .linux.runner import LinuxRun

    return LinuxRun


def _forward_sigint(kernel: Any) -> Any:
    """Ctrl-C goes to the guest (SIGINT), not to appvirt; only possible from the main thread."""

    def handler(_signum: int, _frame: Any) -> None:
        kernel.interrupted = True

    try:
        return signal.signal(signal.SIGINT, handler)
    except ValueError:
        return None


def _hide(mounts: list[MountSpec], folder: str) -> list[MountSpec]:
    """The sandbox folder is never visible to the guest, whichever mount would show it: a guest
    that could read or rewrite its own layer could plant changes for a later commit to the host."""
    from dataclasses import replace

    real = os.path.realpath(folder)
    out = []
    for spec in mounts:
        host = os.path.realpath(spec.host) if spec.host else None
        if host is not None and (real == host or real.startswith(host.rstrip("/") + "/")):
            if real == host:
                continue  # the folder itself mounted: not shown at all
            guest = posixpath.join(spec.guest, os.path.relpath(real, host))
            spec = replace(spec, hidden=(*spec.hidden, guest))
        out.append(spec)
    return out
