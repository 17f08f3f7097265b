"""The example in docs/api.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def test_api_example_runs(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert code is not None
    monkeypatch.chdir(tmp_path)
    exec(compile(code.group(1), str(DOC), "exec"), {})


def test_thousand_runs_do_not_grow_memory(tmp_path: Path) -> None:
    """A library user can run many programs in one process without growing memory."""
    import io
    import resource

    from helpers import TEST_ENV, sample

    from appvirt import Sandbox

    sandbox = Sandbox(cwd=str(tmp_path))
    program = sample("hello-x86_64")

    def once() -> None:
        out = io.BytesIO()
        assert sandbox.run([program], stdout=out, host_env=TEST_ENV).exit_code == 0

    for _ in range(40):
        once()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(300):
        once()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert after - before < 60_000, f"max RSS grew by {after - before} KiB over 300 runs"
