"""The bundled sample programs, both ABIs, natively and under appvirt."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_guest, run_native, sample, tree_digest

ARCHES = ["x86_64", "i386"]
CASES = [
    ("hello", []),
    ("args", ["one", "two words", "--exit", "7"]),
    ("exitcode", ["42"]),
    ("exitcode", ["5", "return"]),
    ("compute", ["2000000"]),
    ("syscalls", ["20000"]),
    ("fileio", ["io.dat", "2"]),
    ("fsops", []),
    ("qsort", []),
    ("sieve", []),
    ("crash", ["segv"]),
    ("crash", ["abort"]),
    ("crash", ["div"]),
    ("crash", ["ill"]),
    ("crash", ["kill"]),
    ("threads", []),
    ("forkpipe", []),
    ("spinwake", ["threads"]),
    ("spinwake", ["fork"]),
    ("signals", []),
    ("epoll", []),
    ("timers", []),
    ("ticking", ["60000000"]),
    ("hello-dyn", []),
]


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize(
    "name,args", CASES, ids=[f"{n}-{'-'.join(a) or 'noargs'}" for n, a in CASES]
)
def test_sample_matches_native(tmp_path: Path, arch: str, name: str, args: list[str]) -> None:
    program = sample(f"{name}-{arch}")
    before = tree_digest(tmp_path)
    guest = run_guest([program, *args], tmp_path)
    assert tree_digest(tmp_path) == before, "the guest changed the host folder"
    native = run_native([program, *args], tmp_path)
    assert (guest.status, guest.stdout) == (native.status, native.stdout), guest.stderr
