#!/usr/bin/env python3
"""Run one Linux x86-64 or i386 ELF under Qiling: the Qiling peer of benchmarks/run.py.

Run it with the Python of a virtual environment that has Qiling installed (outside this
repository; appvirt itself never imports Qiling):

    python3 -m venv /work/qiling-venv && /work/qiling-venv/bin/pip install qiling
    /work/qiling-venv/bin/python benchmarks/qiling_driver.py [OPTIONS] PROGRAM [ARGS...]

Qiling serves file paths from a rootfs folder and wants the program itself inside it, so by
default the driver builds a scratch rootfs in a temporary folder for this one run and removes it
afterwards. The program, and for a dynamic program its interpreter and libraries (as `ldd`
names them), are placed at their host paths inside it, hard-linked when the filesystem allows
and copied otherwise; `--expose` adds host files or folders the same way. `--host-root` instead
gives Qiling the host's `/` as rootfs, for programs that must see real system folders (an
`ls` of /usr/bin); Qiling then reads and writes host files directly. `--multithread` selects
Qiling's mode that serves clone and futex (forking shells, glibc's dynamic start-up).

The guest's stdout and stderr are the driver's; the driver exits with the guest's exit status as
Qiling records it (a guest that aborts through a signal can still end with 0, so callers should
check the output: benchmarks/run.py does).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def place(rootfs: Path, host: Path) -> None:
    """Make host file `host` visible at the same path inside `rootfs`.

    A hard link costs no copy; a copy is the fallback across filesystems. Symbolic links are
    resolved first because Qiling resolves links inside the rootfs, never towards the host.
    """
    link(host, rootfs / str(host).lstrip("/"))


def link(host: Path, target: Path) -> None:
    """Hard-link (or, across filesystems, copy) host file `host` to `target`."""
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    real = host.resolve()
    try:
        os.link(real, target)
    except OSError:
        shutil.copy2(real, target)


def expose(rootfs: Path, host: Path) -> None:
    """Place a host file, or a folder with the regular files directly in it, into `rootfs`."""
    if host.is_dir():
        (rootfs / str(host).lstrip("/")).mkdir(parents=True, exist_ok=True)
        for child in host.iterdir():
            if child.is_file():
                place(rootfs, child)
    elif host.exists():
        place(rootfs, host)


def shared_libraries(program: Path) -> list[Path]:
    """The interpreter and libraries a dynamic program loads, from the host's `ldd`.

    A static program has no PT_INTERP and needs nothing; checking that first spares every
    static run the ~20 ms of an `ldd` process, which would be charged to Qiling's time.
    """
    # pyelftools comes with Qiling, which parses the program with it anyway.
    from elftools.elf.elffile import ELFFile

    with program.open("rb") as fh:
        if not any(seg["p_type"] == "PT_INTERP" for seg in ELFFile(fh).iter_segments()):
            return []
    proc = subprocess.run(["ldd", str(program)], capture_output=True, text=True, check=False)
    found = []
    for line in proc.stdout.splitlines():
        for word in line.split():
            if word.startswith("/") and Path(word).exists():
                found.append(Path(word))
    return found


def build_rootfs(program: Path, exposed: list[Path]) -> Path:
    """A scratch rootfs holding the program, its libraries, /tmp and the exposed paths."""
    rootfs = Path(tempfile.mkdtemp(prefix="qiling-rootfs-"))
    (rootfs / "tmp").mkdir()
    place(rootfs, program)
    # Qiling execs a path from the rootfs, and busybox's shell runs its applets by exec'ing
    # /proc/self/exe: a file there stands in for the kernel's link to the running program.
    link(program, rootfs / "proc" / "self" / "exe")
    for lib in shared_libraries(program):
        place(rootfs, lib)
    for host in exposed:
        expose(rootfs, host.resolve())
    return rootfs


def run(argv: list[str], rootfs: Path, multithread: bool = False) -> int:
    """Run `argv` under Qiling in `rootfs`; return the guest's exit status.

    Qiling serves clone (busybox's fork) only in its multithread mode, so programs that fork
    need `multithread`.
    """
    # Imported here so that `--help` works without Qiling installed.
    from qiling import Qiling
    from qiling.const import QL_VERBOSE

    ql = Qiling(argv, str(rootfs), verbose=QL_VERBOSE.DISABLED, multithread=multithread)
    # /dev/null is not part of a scratch rootfs; the syscall sample writes to it.
    if not (rootfs / "dev" / "null").exists():
        ql.add_fs_mapper("/dev/null", "/dev/null")
    ql.run()
    return ql.os.exit_code & 0xFF


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--expose",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="host file or folder to show at the same path in the scratch rootfs (repeatable)",
    )
    ap.add_argument("--host-root", action="store_true", help="use the host's / as rootfs")
    ap.add_argument("--multithread", action="store_true", help="Qiling's mode that serves clone")
    ap.add_argument("program", type=Path)
    ap.add_argument("args", nargs=argparse.REMAINDER)
    opts = ap.parse_args()
    program = opts.program.resolve()
    if opts.host_root:
        return run([str(program), *opts.args], Path("/"), opts.multithread)
    rootfs = build_rootfs(program, opts.expose)
    try:
        # Qiling opens argv[0] as a host path and answers readlink(/proc/self/exe) by mapping
        # that path back into the rootfs, so argv[0] must be the copy inside the rootfs.
        guest = str(rootfs / str(program).lstrip("/"))
        return run([guest, *opts.args], rootfs, opts.multithread)
    finally:
        sys.stdout.flush()
        shutil.rmtree(rootfs, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
