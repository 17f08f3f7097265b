"""The example in docs/api.md runs as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def test_api_example_runs(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert code is not None
    monkeypatch.chdir(tmp_path)
    exec(compile(code.group(1), str(DOC), "exec"), {})


def _rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def test_thousand_runs_do_not_grow_memory(tmp_path: Path) -> None:
    """A library user can run 1,000 programs in one process without growing memory.

    Resident memory is measured after a warm-up (caches filled, allocator arenas grown), half
    way and at the end: a leak of a few KiB per run would show as megabytes, and as growth
    between the two halves, which a settled process does not have.
    """
    import gc
    import io

    from helpers import TEST_ENV, sample

    from appvirt import Sandbox

    sandbox = Sandbox(cwd=str(tmp_path))
    program = sample("hello-x86_64")

    def runs(count: int) -> int:
        for _ in range(count):
            out = io.BytesIO()
            assert sandbox.run([program], stdout=out, host_env=TEST_ENV).exit_code == 0
            assert out.getvalue() == b"Hello from appvirt guest\n"
        gc.collect()
        return _rss_kib()

    start = runs(30)
    half = runs(500)
    end = runs(500)
    assert end - start < 16 * 1024, f"RSS grew by {end - start} KiB over 1,000 runs"
    assert end - half < 4 * 1024, f"RSS grew by {end - half} KiB over the last 500 runs"
