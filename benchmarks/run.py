#!/usr/bin/env python3
"""Time the standard workloads natively, under appvirt and under the peers installed here.

Not a test: a script that measures. Each round runs every (workload, runner) pair once, in an
interleaved order, so machine noise spreads over all of them; the table reports median, min and
max wall seconds and ratios to native and to each peer.

Peers (installed separately, skipped with a note when absent):
  qemu-user   apt-get install qemu-user        (qemu-x86_64, qemu-i386)
  qiling      python3 -m venv /opt/qiling && /opt/qiling/bin/pip install qiling
              then pass --qiling /opt/qiling/bin/python (needs a rootfs; see docs/performance.md)

Usage: python benchmarks/run.py [--rounds 5] [--only NAME,...] [--json out.json] [--markdown docs/performance-table.md]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "samples" / "bin" / "linux"
APPVIRT = [sys.executable, "-m", "appvirt", "run"]

# name -> (argv template, description). {bin} is the sample folder, {work} a scratch folder.
WORKLOADS: dict[str, tuple[list[str], str]] = {
    "hello": (["{bin}/hello-x86_64"], "startup: static hello world"),
    "compute": (["{bin}/compute-x86_64", "200000000"], "register-only loop, 200M iterations"),
    "syscalls": (["{bin}/syscalls-x86_64", "1000000"], "1M getpid + 1k small writes"),
    "fileio": (
        ["{bin}/fileio-x86_64", "{work}/io.dat", "20"],
        "20 MiB written and read in 4 KiB chunks",
    ),
    "sha256sum": (["/bin/busybox", "sha256sum", "{work}/5mb.bin"], "busybox sha256sum of 5 MiB"),
    "qsort": (["{bin}/qsort-x86_64"], "qsort of 1M ints (memory-heavy)"),
    "sieve": (["{bin}/sieve-x86_64"], "16 MiB sieve (memory-heavy)"),
    "pipeline": (
        ["/bin/busybox", "sh", "-c", "seq 1 20000 | sort -rn | uniq | head -n 3 | wc -l"],
        "busybox shell pipeline: 4 processes, pipes, fork+exec",
    ),
    "ls-usr-bin": (
        ["/bin/ls", "-la", "/usr/bin"],
        "dynamic coreutils ls -la /usr/bin (ld.so, libc)",
    ),
    "hello-i386": (["{bin}/hello-i386"], "startup, i386"),
    "compute-i386": (["{bin}/compute-i386", "200000000"], "register-only loop, i386"),
}


def runners(qemu: bool) -> dict[str, list[str]]:
    out = {"native": [], "appvirt": APPVIRT}
    if qemu and shutil.which("qemu-x86_64"):
        out["qemu-user"] = ["qemu-x86_64"]
    return out


def command(runner: str, prefix: list[str], argv: list[str]) -> list[str]:
    if runner == "qemu-user" and argv[0].endswith("-i386"):
        return ["qemu-i386", *argv]
    return [*prefix, *argv]


def time_once(cmd: list[str], cwd: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode()[-300:]}"
        )
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default="")
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--json", dest="json_out")
    ap.add_argument("--markdown")
    args = ap.parse_args()
    chosen = [w for w in WORKLOADS if not args.only or w in args.only.split(",")]
    run_with = runners(not args.no_qemu)
    if "qemu-user" not in run_with:
        print("note: qemu-user not installed (apt-get install qemu-user): skipped", file=sys.stderr)
    print("note: qiling is not measured by this script yet", file=sys.stderr)
    work = tempfile.mkdtemp(prefix="appvirt-bench-")
    with open(os.path.join(work, "5mb.bin"), "wb") as fh:
        fh.write(os.urandom(5 << 20))
    # Warm the Image cache so 'hello' measures a second launch, as users see it.
    subprocess.run([*APPVIRT, str(BIN / "hello-x86_64")], stdout=subprocess.DEVNULL, check=False)
    times: dict[tuple[str, str], list[float]] = {}
    for rnd in range(args.rounds):
        for w in chosen:
            argv = [a.format(bin=BIN, work=work) for a in WORKLOADS[w][0]]
            for r, prefix in run_with.items():
                t = time_once(command(r, prefix, argv), work)
                times.setdefault((w, r), []).append(t)
        print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    rows = []
    for w in chosen:
        row = {"workload": w, "description": WORKLOADS[w][1]}
        for r in run_with:
            samples = times[(w, r)]
            row[r] = {
                "median": statistics.median(samples),
                "min": min(samples),
                "max": max(samples),
            }
        rows.append(row)
    lines = ["| workload | " + " | ".join(f"{r} (s)" for r in run_with) + " | appvirt/native | appvirt/qemu |",
             "| --- | " + " | ".join("---" for _ in run_with) + " | --- | --- |"]  # fmt: skip
    for row in rows:
        cells = []
        for r in run_with:
            m = row[r]
            cells.append(f"{m['median']:.3f} ({m['min']:.3f}-{m['max']:.3f})")
        av = row["appvirt"]["median"]
        nat = row["native"]["median"]
        qemu = row.get("qemu-user", {}).get("median") if "qemu-user" in row else None
        ratio_q = f"{av / qemu:.2f}x" if qemu else "n/a"
        lines.append(
            f"| {row['workload']} | " + " | ".join(cells) + f" | {av / nat:.1f}x | {ratio_q} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps({"rounds": args.rounds, "results": rows}, indent=2)
        )
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
