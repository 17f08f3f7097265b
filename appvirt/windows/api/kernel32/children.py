"""Child processes and job objects: CreateProcess, process handles, exit codes, termination,
and the job objects a launcher puts its child in (appvirt/windows/spawn.py starts the child)."""

from __future__ import annotations

import struct
from typing import Any

from ...process import ProcessExit
from ...spawn import (
    CREATE_UNICODE_ENVIRONMENT,
    SpawnError,
    create_process,
    read_environment,
    write_process_information,
)
from ...sync import (
    ERROR_INVALID_HANDLE,
    ERROR_INVALID_PARAMETER,
    STILL_ACTIVE,
    Job,
    add_handle,
)
from ..decl import BOOL, HANDLE, PTR, STR, UINT, WSTR, winapi
from .sync import create_named, inherit_flag, lookup

ERROR_ACCESS_DENIED, ERROR_BAD_LENGTH = 5, 24
NORMAL_PRIORITY_CLASS = 0x20
JOB_BASIC_ACCOUNTING, JOB_BASIC_LIMITS, JOB_PROCESS_IDS, JOB_EXTENDED_LIMITS = 1, 2, 3, 9


def _create(proc: Any, app: int, cmdline: int, inherit: int, flags: int, env: int, cwd: int,
            si: int, out: int, wide: bool) -> int:  # fmt: skip
    read = proc.read_wstr if wide else proc.read_str
    environment = (
        read_environment(proc, env, bool(flags & CREATE_UNICODE_ENVIRONMENT)) if env else None
    )
    try:
        pobj = create_process(proc, read(app) if app else None, read(cmdline) if cmdline else "",
                              bool(inherit), flags, environment, read(cwd) if cwd else None, si)  # fmt: skip
    except SpawnError as err:
        proc.set_last_error(err.code)
        return 0
    thread = pobj.threads[0]
    if out:
        write_process_information(proc, out, add_handle(proc, pobj), add_handle(proc, thread),
                                  pobj.pid, thread.tid)  # fmt: skip
    return 1


@winapi("kernel32", args=(STR, STR, PTR, PTR, BOOL, UINT, PTR, STR, PTR, PTR), ret=BOOL)
def CreateProcessA(proc: Any, app: int, cmdline: int, pattr: int, tattr: int, inherit: int,
                   flags: int, env: int, cwd: int, si: int, out: int) -> int:  # fmt: skip
    """Start a program of the sandbox as a child process (own VM, same files and registry).

    ERROR_NOT_ENOUGH_QUOTA beyond the processes limit."""
    return _create(proc, app, cmdline, inherit, flags, env, cwd, si, out, False)


@winapi("kernel32", args=(WSTR, WSTR, PTR, PTR, BOOL, UINT, PTR, WSTR, PTR, PTR), ret=BOOL)
def CreateProcessW(proc: Any, app: int, cmdline: int, pattr: int, tattr: int, inherit: int,
                   flags: int, env: int, cwd: int, si: int, out: int) -> int:  # fmt: skip
    return _create(proc, app, cmdline, inherit, flags, env, cwd, si, out, True)


def process_object(proc: Any, handle: int) -> Any:
    obj = lookup(proc, handle)
    if getattr(obj, "kind", "") != "process":
        proc.set_last_error(ERROR_INVALID_HANDLE)
        return None
    return obj


@winapi("kernel32", args=(HANDLE, PTR), ret=BOOL)
def GetExitCodeProcess(proc: Any, handle: int, out: int) -> int:
    """STILL_ACTIVE (259) while the process runs, then its exit code."""
    pobj = process_object(proc, handle)
    if pobj is None:
        return 0
    proc.write_u32(out, STILL_ACTIVE if pobj.exit_code is None else pobj.exit_code)
    return 1


@winapi("kernel32", args=(HANDLE, UINT), ret=BOOL)
def TerminateProcess(proc: Any, handle: int, code: int) -> int:
    """End a process (this one too) at once with ``code``; its handles close."""
    pobj = process_object(proc, handle)
    if pobj is None:
        return 0
    if pobj is proc.thread.pobj:
        raise ProcessExit(code)
    if pobj.exit_code is not None:
        proc.set_last_error(ERROR_ACCESS_DENIED)
        return 0
    proc.sched.end_process(pobj, code)
    return 1


@winapi("kernel32", args=(HANDLE,), ret=UINT)
def GetProcessId(proc: Any, handle: int) -> int:
    pobj = process_object(proc, handle)
    return pobj.pid if pobj is not None else 0


@winapi("kernel32", args=(UINT, BOOL, UINT), ret=HANDLE)
def OpenProcess(proc: Any, access: int, inherit: int, pid: int) -> int:
    """A handle to a process of the run by id (running or not yet closed)."""
    for pobj in proc.sched.processes:
        if pobj.pid == pid:
            return add_handle(proc, pobj, bool(inherit))
    proc.set_last_error(ERROR_INVALID_PARAMETER)
    return 0


@winapi("kernel32", args=(HANDLE, UINT), ret=UINT)
def WaitForInputIdle(proc: Any, handle: int, ms: int) -> int:
    """Console programs have no message loop: returns at once."""
    return 0


@winapi("kernel32", args=(HANDLE,), ret=UINT)
def GetPriorityClass(proc: Any, handle: int) -> int:
    return NORMAL_PRIORITY_CLASS if process_object(proc, handle) is not None else 0


@winapi("kernel32", args=(HANDLE, UINT), ret=BOOL)
def SetPriorityClass(proc: Any, handle: int, cls: int) -> int:
    """Accepted and ignored: every thread of the run gets the same share."""
    return int(process_object(proc, handle) is not None)


# -- job objects ----------------------------------------------------------------------------------
def _job(proc: Any, handle: int) -> Job | None:
    if handle == 0:
        jobs = proc.thread.pobj.jobs
        if jobs:
            return jobs[-1]  # type: ignore[no-any-return]
    obj = proc.handles.get(handle)
    if not isinstance(obj, Job):
        proc.set_last_error(ERROR_INVALID_HANDLE)
        return None
    return obj


def _job_name(proc: Any, name: int, wide: bool) -> str:
    if not name:
        return ""
    return str(proc.read_wstr(name) if wide else proc.read_str(name))


@winapi("kernel32", args=(PTR, STR), ret=HANDLE)
def CreateJobObjectA(proc: Any, sa: int, name: int) -> int:
    """A job: processes assigned to it end when its last handle closes, if it says so."""
    return create_named(proc, Job(), _job_name(proc, name, False), inherit_flag(proc, sa))


@winapi("kernel32", args=(PTR, WSTR), ret=HANDLE)
def CreateJobObjectW(proc: Any, sa: int, name: int) -> int:
    return create_named(proc, Job(), _job_name(proc, name, True), inherit_flag(proc, sa))


@winapi("kernel32", args=(HANDLE, HANDLE), ret=BOOL)
def AssignProcessToJobObject(proc: Any, handle: int, process: int) -> int:
    job = _job(proc, handle)
    pobj = process_object(proc, process)
    if job is None or pobj is None:
        return 0
    if pobj.exit_code is not None:
        proc.set_last_error(ERROR_ACCESS_DENIED)
        return 0
    if pobj not in job.processes:
        job.processes.append(pobj)
        pobj.jobs.append(job)
    return 1


@winapi("kernel32", args=(HANDLE, HANDLE, PTR), ret=BOOL)
def IsProcessInJob(proc: Any, process: int, handle: int, out: int) -> int:
    pobj = process_object(proc, process)
    if pobj is None:
        return 0
    job = proc.handles.get(handle) if handle else None
    inside = bool(pobj.jobs) if handle == 0 else job in pobj.jobs
    proc.write_u32(out, int(inside))
    return 1


@winapi("kernel32", args=(HANDLE, UINT), ret=BOOL)
def TerminateJobObject(proc: Any, handle: int, code: int) -> int:
    """End every process of the job (the caller's own last)."""
    job = _job(proc, handle)
    if job is None:
        return 0
    own = proc.thread.pobj
    for pobj in list(job.processes):
        if pobj is not own:
            proc.sched.end_process(pobj, code)
    if own in job.processes:
        raise ProcessExit(code)
    return 1


def _limit_sizes(proc: Any) -> tuple[int, int]:
    """Sizes of JOBOBJECT_BASIC_LIMIT_INFORMATION and JOBOBJECT_EXTENDED_LIMIT_INFORMATION."""
    return (64, 144) if proc.is64 else (48, 112)


@winapi("kernel32", args=(HANDLE, UINT, PTR, UINT), ret=BOOL)
def SetInformationJobObject(proc: Any, handle: int, cls: int, info: int, size: int) -> int:
    """Basic and extended limits: LimitFlags is kept, and KILL_ON_JOB_CLOSE acts.

    The limits themselves (working set, CPU time, memory) are not enforced."""
    job = _job(proc, handle)
    if job is None:
        return 0
    basic, extended = _limit_sizes(proc)
    wanted = {JOB_BASIC_LIMITS: basic, JOB_EXTENDED_LIMITS: extended}.get(cls)
    if wanted is None:
        proc.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if size < wanted:
        proc.set_last_error(ERROR_BAD_LENGTH)
        return 0
    job.limit_flags = proc.read_u32(info + 16)
    return 1


def _job_info(proc: Any, job: Job, cls: int) -> bytes | None:
    basic, extended = _limit_sizes(proc)
    if cls in (JOB_BASIC_LIMITS, JOB_EXTENDED_LIMITS):
        raw = bytearray(basic if cls == JOB_BASIC_LIMITS else extended)
        struct.pack_into("<I", raw, 16, job.limit_flags)
        return bytes(raw)
    if cls == JOB_BASIC_ACCOUNTING:
        live = sum(1 for p in job.processes if p.exit_code is None)
        return bytes(36) + struct.pack("<III", len(job.processes), live, 0)
    if cls == JOB_PROCESS_IDS:
        pids = [p.pid for p in job.processes if p.exit_code is None]
        fmt = "<Q" if proc.is64 else "<I"
        return struct.pack("<II", len(pids), len(pids)) + b"".join(
            struct.pack(fmt, pid) for pid in pids
        )
    return None


@winapi("kernel32", args=(HANDLE, UINT, PTR, UINT, PTR), ret=BOOL)
def QueryInformationJobObject(proc: Any, handle: int, cls: int, info: int, size: int,
                              returned: int) -> int:  # fmt: skip
    """Limits (basic, extended), accounting counts and the process id list of a job."""
    job = _job(proc, handle)
    if job is None:
        return 0
    raw = _job_info(proc, job, cls)
    if raw is None:
        proc.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if size < len(raw):
        proc.set_last_error(ERROR_BAD_LENGTH)
        return 0
    proc.write(info, raw)
    if returned:
        proc.write_u32(returned, len(raw))
    return 1
