#!/usr/bin/env python3
"""Time the standard workloads natively, under appvirt and under the peers installed here.

Not a test: a script that measures. Each round runs every (workload, runner) pair once, native
first and the others in an order that rotates from round to round, so machine noise spreads over
all of them. Every run's stdout is checked (against native's stdout of the same round, or against
the lines a workload must print where native cannot run it): a runner that exits non-zero, times
out or prints something else is reported as failing, never timed. The tables give medians of
wall seconds, ratios to native and to each peer, the issue's targets, and the peak resident set
of each run's process tree; the JSON output adds min, max and every sample.

appvirt runs from --appvirt PYTHON, $APPVIRT_PYTHON or /work/appvirt-venv/bin/python (a venv made
with `python3 -m venv /work/appvirt-venv && /work/appvirt-venv/bin/pip install .`, as a user
installs it and as Qiling is installed below), else from this script's Python; the notes give each
interpreter's bare start-up (`python -c pass`), which every one of its runs includes.

Peers (installed separately, skipped with a note when absent):
  qemu-user   apt-get install qemu-user        (qemu-x86_64, qemu-i386)
  qiling      python3 -m venv /work/qiling-venv && /work/qiling-venv/bin/pip install qiling
              found through --qiling PYTHON, $APPVIRT_QILING_PYTHON or /work/qiling-venv/bin/python;
              benchmarks/qiling_driver.py runs each program with a scratch rootfs

Usage: python benchmarks/run.py [--rounds 3] [--per-call] [--only NAME,...] [--json out.json]
                                [--markdown table.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "samples" / "bin"
DRIVER = Path(__file__).resolve().parent / "qiling_driver.py"
DEFAULT_QILING = Path("/work/qiling-venv/bin/python")
DEFAULT_APPVIRT = Path("/work/appvirt-venv/bin/python")
PEERS = ("qemu-user", "qiling")

NOT_PE = "a Linux host runs no PE programs"
NO_WINDOWS_ROOTFS = "Qiling's Windows loader needs Windows DLLs and registry hives; none here"
NOT_A_GUEST_RUNNER = "a bare-metal guest needs a system emulator, not a process-level runner"


@dataclass(frozen=True)
class Bound:
    """One of the issue's targets for appvirt on a workload.

    kind is "qemu-user" or "qiling" (appvirt/peer time ratio at most `limit`), "us_per_call"
    (appvirt microseconds per trivial syscall at most `limit`), "throughput_vs_qiling" (Qiling's
    per-call cost over appvirt's, at least `limit`), "loop_vs_qemu" (appvirt's time per loop
    iteration over qemu-user's, start-up left out, at most `limit`) or "rss_mb" (appvirt peak RSS
    below `limit`).
    """

    kind: str
    limit: float

    def label(self) -> str:
        """The target as the issue states it."""
        return {
            "qemu-user": f"<= {self.limit:g}x qemu",
            "qiling": f"<= {self.limit:g}x Qiling",
            "us_per_call": f"<= {self.limit:g} us/call",
            "throughput_vs_qiling": f">= {self.limit:g}x Qiling calls/s",
            "loop_vs_qemu": f"loop <= {self.limit:g}x qemu",
            "rss_mb": f"RSS < {self.limit:g} MB",
        }[self.kind]


@dataclass(frozen=True)
class Workload:
    """A program run the same way under every runner.

    argv may name {bin} (samples/bin) and {work} (the scratch folder, also the cwd). na maps a
    runner that cannot run the workload to the reason; expect lists lines stdout must contain
    when native is n/a (otherwise stdout must equal native's); qiling holds extra options for
    qiling_driver.py.
    """

    name: str
    argv: tuple[str, ...]
    description: str
    na: dict[str, str] = field(default_factory=dict)
    expect: tuple[bytes, ...] = ()
    qiling: tuple[str, ...] = ()
    targets: tuple[Bound, ...] = ()


WORKLOADS = [
    Workload(
        "hello",
        ("{bin}/linux/hello-x86_64",),
        "hello (second launch, Image cached)",
        targets=(Bound("qiling", 0.8),),
    ),
    Workload(
        "compute",
        ("{bin}/linux/compute-x86_64", "200000000"),
        "compute (200M-iteration register loop)",
        targets=(Bound("qemu-user", 1.1), Bound("loop_vs_qemu", 1.1)),
    ),
    Workload(
        "syscalls",
        ("{bin}/linux/syscalls-x86_64", "1000000"),
        "syscalls (1M getpid + 1k writes)",
        targets=(Bound("us_per_call", 3), Bound("throughput_vs_qiling", 10)),
    ),
    Workload(
        "fileio",
        ("{bin}/linux/fileio-x86_64", "{work}/io.dat", "20"),
        "fileio (20 MiB in 4 KiB chunks, write + read)",
        qiling=("--expose", "{work}"),
        targets=(Bound("qemu-user", 4), Bound("rss_mb", 150)),
    ),
    Workload(
        "sha256sum",
        ("/bin/busybox", "sha256sum", "{work}/5mb.bin"),
        "busybox sha256sum, 5 MiB",
        qiling=("--expose", "{work}"),
        targets=(Bound("qiling", 0.35),),
    ),
    Workload(
        "qsort",
        ("{bin}/linux/qsort-x86_64",),
        "qsort, 1M ints",
        targets=(Bound("qemu-user", 2.5),),
    ),
    Workload(
        "sieve",
        ("{bin}/linux/sieve-x86_64",),
        "sieve, 16 MiB",
        targets=(Bound("qemu-user", 2.5),),
    ),
    Workload(
        "pipeline",
        ("/bin/busybox", "sh", "-c", "seq 1 20000 | sort -rn | uniq | head -n 3 | wc -l"),
        "busybox pipeline `seq 1 20000 \\| sort -rn \\| uniq \\| head -n 3 \\| wc -l`",
        qiling=("--multithread",),
        targets=(Bound("qemu-user", 5),),
    ),
    Workload(
        "ls-usr-bin",
        ("/bin/ls", "-la", "/usr/bin"),
        "`/bin/ls -la /usr/bin` (dynamic, ld.so + libc)",
        qiling=("--host-root", "--multithread"),
        targets=(Bound("qemu-user", 5),),
    ),
    Workload("hello-i386", ("{bin}/linux/hello-i386",), "hello, i386"),
    Workload("compute-i386", ("{bin}/linux/compute-i386", "200000000"), "compute, i386"),
    Workload(
        "hello-win64",
        ("{bin}/windows/hello64.exe",),
        "hello, Windows x64 (PE32+, MinGW CRT)",
        na={"native": NOT_PE, "qemu-user": NOT_PE, "qiling": NO_WINDOWS_ROOTFS},
        expect=(b"Hello from appvirt guest",),
    ),
    Workload(
        "apicalls-win64",
        ("{bin}/windows/apicalls64.exe", "300000"),
        "apicalls, Windows x64 (300k GetCurrentProcessId)",
        na={"native": NOT_PE, "qemu-user": NOT_PE, "qiling": NO_WINDOWS_ROOTFS},
        expect=(b"calls=300000 same=300000 ticks=300",),
    ),
    Workload(
        "vm-minikernel",
        ("vm", "{bin}/guests/minikernel.bin"),
        "system VM: boot minikernel.bin (protected mode, 2 ring-3 tasks, power-off)",
        na=dict.fromkeys(("native", "qemu-user", "qiling"), NOT_A_GUEST_RUNNER),
        expect=(b"task B: step 3", b"minikernel: both tasks exited", b"minikernel: powering off"),
    ),
]


@dataclass
class Outcome:
    """One run: wall seconds, peak RSS of the process tree (MB) and what it printed."""

    seconds: float
    rss_mb: float
    status: int
    stdout: bytes
    stderr: bytes
    timed_out: bool


def run_once(cmd: list[str], cwd: str, timeout: float, gnu_time: str | None) -> Outcome:
    """Run `cmd` once, timing it and taking the peak RSS of its process tree.

    The RSS comes from rusage ru_maxrss, which covers the child and its waited-for descendants.
    It must be taken by a small parent: a child of this script starts life sharing (vfork) or
    copying (fork) this script's tens of MB, and Linux carries that high-water mark across exec. So
    the run goes through GNU time (`-f %M`, its own RSS is ~0.5 MB; about 0.6 ms more per run,
    for every runner alike) when it is installed, and wait4's figure is the fallback. stdout
    goes to a file, not a pipe, so a large output needs no reader inside the timed window; the
    run gets its own session so that a timeout kills what it forked too.
    """
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as rss,
    ):
        if gnu_time:
            cmd = [gnu_time, "-f", "%M", "-o", rss.name, *cmd]
        killed = threading.Event()
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
        )
        timer = threading.Timer(timeout, kill_group, (proc.pid, killed))
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        # GNU time writes "Command exited with non-zero status N" lines before the figure.
        reported = rss.read().split()
        kib = int(reported[-1]) if gnu_time and reported and reported[-1].isdigit() else None
        return Outcome(
            elapsed,
            (kib if kib is not None else usage.ru_maxrss) * 1024 / 1e6,
            proc.returncode,
            out.read(),
            err.read(),
            killed.is_set(),
        )


def find_gnu_time() -> str | None:
    """GNU time's path, if installed (Debian package `time`): the small parent for RSS."""
    path = shutil.which("time")
    if not path:
        return None
    probe = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return path if "GNU" in probe.stdout + probe.stderr else None


def kill_group(pid: int, killed: threading.Event) -> None:
    """Timer callback: kill a run that exceeded --timeout, with everything it forked."""
    killed.set()
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def failure(outcome: Outcome, reference: bytes | None, expect: tuple[bytes, ...]) -> str:
    """Why a run does not count ('' when it does): exit status, timeout or wrong stdout."""
    if outcome.timed_out:
        return f"timed out after {outcome.seconds:.0f} s"
    lines = [ln for ln in outcome.stderr.decode(errors="replace").splitlines() if ln.strip()]
    last = lines[-1].strip()[:140] if lines else ""
    if outcome.status != 0:
        return f"exit status {outcome.status}: {last or 'no message'}"
    if reference is not None and outcome.stdout != reference:
        why = "stdout differs from native: " + first_difference(reference, outcome.stdout)
        return why + (f"; last stderr line: {last}" if last else "")
    missing = [line for line in expect if line not in outcome.stdout]
    if missing:
        return f"stdout lacks {missing[0].decode()!r}"
    return ""


def first_difference(want: bytes, got: bytes) -> str:
    """The first line where two outputs differ, shortened for a footnote."""
    want_lines, got_lines = want.splitlines(), got.splitlines()
    for i in range(max(len(want_lines), len(got_lines))):
        a = want_lines[i] if i < len(want_lines) else b"<end>"
        b = got_lines[i] if i < len(got_lines) else b"<end>"
        if a != b:
            return f"line {i + 1} is {b[:60]!r}, native has {a[:60]!r}"
    return "same lines, different line endings"


def find_qiling(option: str | None) -> tuple[str | None, str]:
    """The Python of a Qiling virtual environment and its versions, or None and why not."""
    candidate = option or os.environ.get("APPVIRT_QILING_PYTHON")
    if not candidate and DEFAULT_QILING.exists():
        candidate = str(DEFAULT_QILING)
    if not candidate:
        return None, "no Qiling venv (--qiling PYTHON, $APPVIRT_QILING_PYTHON)"
    probe = subprocess.run(
        [candidate, "-c", "import qiling, unicorn; print(qiling.__version__, unicorn.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return None, f"{candidate} cannot import qiling"
    qiling_version, unicorn_version = probe.stdout.split()
    return candidate, f"Qiling {qiling_version} (Unicorn {unicorn_version})"


def bare_startup_ms(python: str) -> float:
    """Median wall time of `python -c pass` over 5 runs: the interpreter's share of every run."""
    times = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([python, "-c", "pass"], check=False)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def find_appvirt(option: str | None) -> str:
    """The Python that runs appvirt: --appvirt, $APPVIRT_PYTHON, the default venv, or ours."""
    for candidate in (option, os.environ.get("APPVIRT_PYTHON")):
        if candidate:
            return candidate
    return str(DEFAULT_APPVIRT) if DEFAULT_APPVIRT.exists() else sys.executable


def make_runners(args: argparse.Namespace) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Command prefixes of the runners present, and a version or skip note for each peer."""
    python = find_appvirt(args.appvirt)
    runners = {"native": [], "appvirt": [python, "-m", "appvirt"]}
    notes = {"appvirt": f"{python} (bare start-up {bare_startup_ms(python):.0f} ms)"}
    if args.no_qemu:
        notes["qemu-user"] = "skipped (--no-qemu)"
    elif shutil.which("qemu-x86_64"):
        runners["qemu-user"] = ["qemu-x86_64"]
        first = subprocess.run(["qemu-x86_64", "--version"], capture_output=True, text=True)
        notes["qemu-user"] = first.stdout.splitlines()[0] if first.stdout else "qemu-x86_64"
    else:
        notes["qemu-user"] = "not installed (apt-get install qemu-user): skipped"
    python, note = (None, "skipped (--no-qiling)") if args.no_qiling else find_qiling(args.qiling)
    if python:
        runners["qiling"] = [python, str(DRIVER)]
        note += f", {python} (bare start-up {bare_startup_ms(python):.0f} ms)"
    notes["qiling"] = note if python else note + ": skipped"
    return runners, notes


def command(runner: str, prefix: list[str], w: Workload, argv: list[str], work: str) -> list[str]:
    """The command line that runs workload `w` (argv already expanded) under `runner`."""
    if runner == "appvirt":
        return [*prefix, "vm", "boot", *argv[1:]] if argv[0] == "vm" else [*prefix, "run", *argv]
    if runner == "qemu-user" and argv[0].endswith("-i386"):
        return ["qemu-i386", *argv]
    if runner == "qiling":
        return [*prefix, *(opt.format(work=work) for opt in w.qiling), *argv]
    return [*prefix, *argv]


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages: this machine is shared, so every run records them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Cell:
    """What one (workload, runner) pair produced over the rounds."""

    seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    problem: str = ""  # "n/a: why" or "fails: why"

    def median(self) -> float | None:
        """Median seconds, or None when the pair did not produce a valid time."""
        return statistics.median(self.seconds) if self.seconds and not self.problem else None

    def peak_rss(self) -> float | None:
        """Largest peak RSS over the rounds (MB)."""
        return max(self.rss_mb) if self.rss_mb and not self.problem else None


@dataclass
class Bench:
    """How this invocation runs things: runners, rounds, scratch folder, limits, RSS tool."""

    runners: dict[str, list[str]]
    rounds: int
    work: str
    timeout: float
    gnu_time: str | None
    loads: list[str] = field(default_factory=list)  # after each round


def measure(workloads: list[Workload], bench: Bench, what: str) -> dict[tuple[str, str], Cell]:
    """Run every pair bench.rounds times, checking each output; a failing pair is not rerun."""
    runners, work = bench.runners, bench.work
    cells = {(w.name, r): Cell() for w in workloads for r in runners}
    for w in workloads:
        for r in runners:
            if r in w.na:
                cells[(w.name, r)].problem = "n/a: " + w.na[r]
    others = [r for r in runners if r != "native"]
    for rnd in range(bench.rounds):
        order = ["native", *others[rnd % len(others) :], *others[: rnd % len(others)]]
        for w in workloads:
            argv = [a.format(bin=BIN, work=work) for a in w.argv]
            reference = None
            for r in order:
                cell = cells[(w.name, r)]
                if cell.problem:
                    continue
                if r != "native" and reference is None and "native" not in w.na:
                    cell.problem = "fails: native failed, so there is no output to check against"
                    continue
                cmd = command(r, runners[r], w, argv, work)
                outcome = run_once(cmd, work, bench.timeout, bench.gnu_time)
                why = failure(outcome, reference, () if reference is not None else w.expect)
                if why:
                    cell.problem = "fails: " + why
                    print(f"  {w.name} under {r}: {why}", file=sys.stderr)
                    continue
                if r == "native":
                    reference = outcome.stdout
                cell.seconds.append(outcome.seconds)
                cell.rss_mb.append(outcome.rss_mb)
        bench.loads.append(loadavg())
        print(f"{what}: round {rnd + 1}/{bench.rounds}, load {bench.loads[-1]}", file=sys.stderr)
    return cells


def two_counts(
    bench: Bench, program: str, counts: tuple[int, int], what: str
) -> dict[str, tuple[Cell, Cell]]:
    """`program` (a sample taking a count) at the big and the small count, under every runner;
    the runners for which both produced valid times, with their two cells."""
    pair = [
        Workload(f"{program}-{n}", (f"{{bin}}/linux/{program}", str(n)), f"{n} {what}")
        for n in counts
    ]
    cells = measure(pair, bench, what)
    out = {}
    for r in bench.runners:
        big, small = cells[(pair[0].name, r)], cells[(pair[1].name, r)]
        if big.median() is not None and small.median() is not None:
            out[r] = (big, small)
    return out


def per_call(bench: Bench, counts: tuple[int, int]) -> dict[str, dict[str, float]]:
    """Microseconds per trivial syscall: the syscalls sample at two counts, difference / calls.

    Start-up and the fixed part of the run cancel out; the sample makes one 8-byte write every
    1000 getpid calls, so the extra calls include count/1000 writes.
    """
    out = {}
    for r, (big, small) in two_counts(bench, "syscalls-x86_64", counts, "per-call").items():
        t_big, t_small = big.median() or 0.0, small.median() or 0.0
        us = (t_big - t_small) / extra_calls(counts) * 1e6
        out[r] = {f"seconds_{counts[0]}": t_big, f"seconds_{counts[1]}": t_small, "us_per_call": us}
    return out


LOOP_COUNTS = (200_000_000, 50_000_000)


def per_iteration(bench: Bench) -> dict[str, dict[str, float]]:
    """Nanoseconds per iteration of the compute loop: two iteration counts, difference / extra
    iterations, so start-up (an interpreter, a loader) cancels out and the loop itself compares.

    Also from the fastest runs: this host's speed comes in phases, and the medians' difference
    can mix a fast phase with a slow one; the minima give the loop's own cost."""
    extra = LOOP_COUNTS[0] - LOOP_COUNTS[1]
    out = {}
    for r, (big, small) in two_counts(
        bench, "compute-x86_64", LOOP_COUNTS, "per-iteration"
    ).items():
        t_big, t_small = big.median() or 0.0, small.median() or 0.0
        out[r] = {
            f"seconds_{LOOP_COUNTS[0]}": t_big,
            f"seconds_{LOOP_COUNTS[1]}": t_small,
            "ns_per_iteration": (t_big - t_small) / extra * 1e9,
            "ns_per_iteration_min": (min(big.seconds) - min(small.seconds)) / extra * 1e9,
        }
    return out


def extra_calls(counts: tuple[int, int]) -> int:
    """Syscalls the big count makes beyond the small one: getpid calls plus 1 write per 1000."""
    big, small = counts
    return (big - small) + (big // 1000 - small // 1000)


def per_call_note(counts: tuple[int, int] | None) -> str:
    """How the per-call figures were obtained, for the line above their table."""
    if counts is None:
        return (
            "Microseconds per trivial syscall, estimated as (syscalls - hello) / 1,001,000 "
            "(run with --per-call for the two-count measurement)."
        )
    return (
        f"Microseconds per trivial syscall: the syscalls sample at {counts[0]} and {counts[1]} "
        f"calls, difference of the medians / {extra_calls(counts)} extra calls."
    )


def estimate_per_call(
    cells: dict[tuple[str, str], Cell], runners: dict[str, list[str]]
) -> dict[str, dict[str, float]]:
    """Without --per-call: (syscalls - hello) / 1,001,000 calls, start-up taken as hello's."""
    out = {}
    for r in runners:
        big, small = cells.get(("syscalls", r)), cells.get(("hello", r))
        if big and small and big.median() is not None and small.median() is not None:
            us = (big.median() - small.median()) / 1_001_000 * 1e6
            out[r] = {"us_per_call": us}
    return out


def evaluate(
    bound: Bound,
    row: dict[str, Cell],
    calls: dict[str, dict[str, float]],
    loop: dict[str, dict[str, float]],
) -> str:
    """The target with appvirt's figure and whether it is met (and by how much it is missed)."""
    av = row["appvirt"]
    value: float | None = None
    unit = "x"
    if bound.kind in PEERS:
        peer = row.get(bound.kind)
        if av.median() is not None and peer is not None and peer.median() is not None:
            value = av.median() / peer.median()
    elif bound.kind == "us_per_call":
        value, unit = calls.get("appvirt", {}).get("us_per_call"), " us"
    elif bound.kind == "throughput_vs_qiling":
        a, q = calls.get("appvirt", {}), calls.get("qiling", {})
        if a and q:
            value = q["us_per_call"] / a["us_per_call"]
    elif bound.kind == "loop_vs_qemu":
        a, q = loop.get("appvirt", {}), loop.get("qemu-user", {})
        if a and q:
            value = a["ns_per_iteration"] / q["ns_per_iteration"]
    elif bound.kind == "rss_mb":
        value, unit = av.peak_rss(), " MB"
    if value is None:
        return f"{bound.label()}: not measured"
    shown = f"{value:.0f}{unit}" if bound.kind == "rss_mb" else f"{value:.2f}{unit}"
    if bound.kind == "throughput_vs_qiling":
        met = value >= bound.limit
        miss = f"short by {(1 - value / bound.limit) * 100:.0f}%"
    else:
        met = value <= bound.limit if bound.kind != "rss_mb" else value < bound.limit
        miss = f"over by {(value / bound.limit - 1) * 100:.0f}%"
    return f"{bound.label()}: {shown}, " + ("met" if met else f"**missed**, {miss}")


class Notes:
    """Numbered footnotes for the reasons behind n/a and fails cells."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def ref(self, problem: str) -> str:
        """The cell text for a problem: 'n/a [2]' or 'fails [3]'."""
        kind, _, why = problem.partition(": ")
        if why not in self.reasons:
            self.reasons.append(why)
        return f"{kind} [{self.reasons.index(why) + 1}]"

    def lines(self) -> list[str]:
        """The footnotes as Markdown lines."""
        return [f"[{i}] {why}" for i, why in enumerate(self.reasons, 1)]


def ratio(a: float | None, b: float | None) -> str:
    """a/b as a table cell, with more digits when it is near 1."""
    if a is None or b is None:
        return "-"
    value = a / b
    return f"{value:.2f}x" if value < 10 else f"{value:.0f}x"


def tables(
    workloads: list[Workload],
    runners: dict[str, list[str]],
    cells: dict[tuple[str, str], Cell],
    calls: dict[str, dict[str, float]],
    calls_note: str,
    loop: dict[str, dict[str, float]],
) -> str:
    """The time table (with ratios and targets), the peak-RSS table, the per-call table and the
    per-iteration table."""
    notes = Notes()
    peers = [p for p in PEERS if p in runners]
    head = ["workload", *(f"{r} (s)" for r in runners), "appvirt/native"]
    head += [f"appvirt/{p.split('-')[0]}" for p in peers] + ["target"]
    lines = [row_md(head), row_md(["---"] * len(head))]
    for w in workloads:
        row = {r: cells[(w.name, r)] for r in runners}
        times = [notes.ref(c.problem) if c.problem else f"{c.median():.3f}" for c in row.values()]
        av = row["appvirt"].median()
        ratios = [ratio(av, row["native"].median())]
        ratios += [ratio(av, row[p].median()) for p in peers]
        target = "; ".join(evaluate(b, row, calls, loop) for b in w.targets) or "-"
        lines.append(row_md([w.description, *times, *ratios, target]))
    lines += ["", row_md(["workload", *(f"{r} peak RSS (MB)" for r in runners)])]
    lines.append(row_md(["---"] * (len(runners) + 1)))
    for w in workloads:
        row = [cells[(w.name, r)] for r in runners]
        rss = [notes.ref(c.problem) if c.problem else f"{c.peak_rss():.0f}" for c in row]
        lines.append(row_md([w.name, *rss]))
    if calls:
        keys = list(next(iter(calls.values())))
        lines += [
            "",
            calls_note,
            "",
            row_md(["runner", *(k.replace("_", " ") for k in keys), "calls/s"]),
        ]
        lines.append(row_md(["---"] * (len(keys) + 2)))
        for r, figures in calls.items():
            values = [f"{figures[k]:.3f}" for k in keys]
            lines.append(row_md([r, *values, f"{1e6 / figures['us_per_call']:,.0f}"]))
    if loop:
        big, small = LOOP_COUNTS
        lines += [
            "",
            f"Nanoseconds per compute-loop iteration: the compute sample at {big:,} and {small:,} "
            "iterations, difference of the medians / the extra iterations (start-up cancels out).",
            "",
            row_md(
                [
                    "runner",
                    f"seconds {big}",
                    f"seconds {small}",
                    "ns per iteration",
                    "ns per iteration (fastest runs)",
                ]  # fmt: skip
            ),
            row_md(["---"] * 5),
        ]
        for r, figures in loop.items():
            lines.append(row_md([r, *(f"{figures[k]:.3f}" for k in figures)]))
    return "\n".join([*lines, "", *notes.lines()])


def row_md(cells: list[str]) -> str:
    """One Markdown table row."""
    return "| " + " | ".join(cells) + " |"


def parse_args() -> argparse.Namespace:
    """The command line (see the module docstring)."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated workload names")
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--no-qiling", action="store_true")
    ap.add_argument("--qiling", metavar="PYTHON", help="python of a venv with qiling installed")
    ap.add_argument("--appvirt", metavar="PYTHON", help="python of a venv with appvirt installed")
    ap.add_argument("--per-call", action="store_true", help="also measure us per trivial syscall")
    ap.add_argument("--per-call-counts", default="300000,10000", metavar="BIG,SMALL")
    ap.add_argument("--timeout", type=float, default=600, help="seconds before a run is killed")
    ap.add_argument("--json", dest="json_out")
    ap.add_argument("--markdown")
    return ap.parse_args()


def json_report(
    workloads: list[Workload],
    bench: Bench,
    cells: dict[tuple[str, str], Cell],
    calls: dict[str, dict[str, float]],
    loop: dict[str, dict[str, float]],
    meta: dict[str, object],
) -> str:
    """Everything measured, every sample included, as JSON."""
    results = []
    for w in workloads:
        row = {r: cells[(w.name, r)] for r in bench.runners}
        runners = {
            r: {
                "median": c.median(),
                "min": min(c.seconds, default=None),
                "max": max(c.seconds, default=None),
                "samples": c.seconds,
                "peak_rss_mb": c.peak_rss(),
                "problem": c.problem,
            }
            for r, c in row.items()
        }
        targets = [evaluate(b, row, calls, loop) for b in w.targets]
        results.append(
            {
                "workload": w.name,
                "description": w.description,
                "targets": targets,
                "runners": runners,
            }
        )
    report = {
        **meta,
        "load_after_each_round": bench.loads,
        "results": results,
        "per_call": calls,
        "per_iteration": loop,
    }
    return json.dumps(report, indent=2)


def main() -> int:
    args = parse_args()
    chosen = [w for w in WORKLOADS if not args.only or w.name in args.only.split(",")]
    runners, notes = make_runners(args)
    for peer, note in notes.items():
        print(f"note: {peer}: {note}", file=sys.stderr)
    started = datetime.datetime.now().astimezone()
    load_start = loadavg()
    print(f"load average at start: {load_start} ({os.cpu_count()} cpus)", file=sys.stderr)
    counts = tuple(int(n) for n in args.per_call_counts.split(",")) if args.per_call else None
    bench = Bench(
        runners,
        args.rounds,
        tempfile.mkdtemp(prefix="appvirt-bench-"),
        args.timeout,
        find_gnu_time(),
    )
    if not bench.gnu_time:
        print("note: no GNU time: peak RSS includes this script's own", file=sys.stderr)
    try:
        Path(bench.work, "5mb.bin").write_bytes(os.urandom(5 << 20))
        # Warm the Image cache so 'hello' measures a second launch, as users see it.
        subprocess.run(
            [*runners["appvirt"], "run", str(BIN / "linux" / "hello-x86_64")],
            stdout=subprocess.DEVNULL,
            check=False,
        )
        cells = measure(chosen, bench, "workloads")
        calls = per_call(bench, counts) if counts else estimate_per_call(cells, runners)
        loop = per_iteration(bench) if counts and any(w.name == "compute" for w in chosen) else {}
    finally:
        shutil.rmtree(bench.work, ignore_errors=True)
    load_end = loadavg()
    header = (
        f"Measured {started:%Y-%m-%d %H:%M %Z} on {platform.node()} ({os.cpu_count()} cpus), "
        f"{args.rounds} rounds, medians; load average {load_start} at start, {load_end} at end. "
        + "; ".join(f"{p}: {n}" for p, n in notes.items())
        + "."
    )
    table = tables(chosen, runners, cells, calls, per_call_note(counts), loop)
    print(header + "\n\n" + table)
    if args.json_out:
        meta = {
            "date": started.isoformat(timespec="seconds"),
            "rounds": args.rounds,
            "cpus": os.cpu_count(),
            "loadavg": {"start": load_start, "end": load_end},
            "peers": notes,
            "per_call_method": per_call_note(counts),
        }
        Path(args.json_out).write_text(json_report(chosen, bench, cells, calls, loop, meta))
    if args.markdown:
        Path(args.markdown).write_text(header + "\n\n" + table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
