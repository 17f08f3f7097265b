"""The Image cache: a hit never imports LIEF, entries are keyed by content, a corrupt or planted
entry is a miss, and no cache failure can fail a load."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from appvirt.loader import cache, load, load_bytes

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import sys, appvirt.loader
image = appvirt.loader.load(sys.argv[1])
print('lief' in sys.modules, image.entry, len(image.segments))
"""


@pytest.fixture
def cache_on(monkeypatch: pytest.MonkeyPatch, image_cache_dir: Path) -> Path:
    monkeypatch.delenv("APPVIRT_NO_CACHE", raising=False)
    return image_cache_dir


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.image")) if folder.exists() else []


def run_probe(path: Path, folder: Path) -> tuple[bool, int, int]:
    env = {k: v for k, v in os.environ.items() if k != "APPVIRT_NO_CACHE"}
    env["APPVIRT_CACHE_DIR"] = str(folder)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=REPO,
    ).stdout.split()
    return out[0] == "True", int(out[1]), int(out[2])


def test_second_launch_does_not_import_lief(static64: Path, tmp_path: Path) -> None:
    folder = tmp_path / "subprocess-cache"
    first = run_probe(static64, folder)
    second = run_probe(static64, folder)
    assert first[0] is True  # a miss parses with LIEF
    assert second[0] is False  # a hit never imports it
    assert first[1:] == second[1:]
    assert len(entries(folder)) == 1


def test_hit_equals_fresh_parse(
    cache_on: Path, win_dll: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = win_dll("x86_64")
    first = load(str(path))
    assert len(entries(cache_on)) == 1
    second = load(str(path))
    monkeypatch.setenv("APPVIRT_NO_CACHE", "1")
    fresh = load(str(path))
    assert first == second == fresh


def test_hit_reports_the_new_name(cache_on: Path, static64: Path) -> None:
    data = static64.read_bytes()
    load_bytes(data, "first-name")
    assert load_bytes(data, "second-name").path == "second-name"


def test_key_is_content_and_version(static64: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = static64.read_bytes()
    key = cache.key(data)
    assert key == cache.key(bytes(data))
    assert key != cache.key(data + b"\0")
    monkeypatch.setattr(cache, "LOADER_FORMAT_VERSION", cache.LOADER_FORMAT_VERSION + 1)
    assert key != cache.key(data)


def test_corrupt_entry_is_ignored_and_rewritten(cache_on: Path, static64: Path) -> None:
    image = load(str(static64))
    (entry,) = entries(cache_on)
    entry.write_bytes(b"this is not a pickle")
    assert load(str(static64)) == image
    assert pickle.loads(entry.read_bytes()) == image


def test_truncated_entry_is_ignored(cache_on: Path, static64: Path) -> None:
    image = load(str(static64))
    (entry,) = entries(cache_on)
    entry.write_bytes(entry.read_bytes()[:100])
    assert load(str(static64)) == image


def test_planted_pickle_never_runs(cache_on: Path, static64: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data = static64.read_bytes()
    cache_on.mkdir(parents=True, exist_ok=True)

    class Evil:
        def __reduce__(self) -> tuple[object, ...]:
            return (os.system, (f"touch {marker}",))

    cache.entry_path(cache.key(data)).write_bytes(pickle.dumps(Evil()))
    image = load_bytes(data, "prog")
    assert not marker.exists()
    assert image.segments


def test_wrong_type_entry_is_a_miss(cache_on: Path, static64: Path) -> None:
    data = static64.read_bytes()
    cache_on.mkdir(parents=True, exist_ok=True)
    cache.entry_path(cache.key(data)).write_bytes(pickle.dumps([1, 2, 3]))
    assert load_bytes(data, "prog").segments


def test_unwritable_cache_never_fails_a_load(
    monkeypatch: pytest.MonkeyPatch, static64: Path, tmp_path: Path
) -> None:
    monkeypatch.delenv("APPVIRT_NO_CACHE", raising=False)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("APPVIRT_CACHE_DIR", str(blocker / "images"))
    assert load(str(static64)).segments
    assert load(str(static64)).segments


def test_no_cache_writes_nothing(image_cache_dir: Path, static64: Path) -> None:
    assert os.environ["APPVIRT_NO_CACHE"] == "1"
    load(str(static64))
    assert entries(image_cache_dir) == []


def test_failed_loads_are_not_cached(cache_on: Path) -> None:
    from appvirt.errors import NotExecutableError

    with pytest.raises(NotExecutableError):
        load_bytes(b"\x7fELF" + b"\0" * 100, "prog")
    assert entries(cache_on) == []


def test_no_temporary_files_left(cache_on: Path, static64: Path, static32: Path) -> None:
    load(str(static64))
    load(str(static32))
    assert sorted(p.name.startswith(".tmp-") for p in cache_on.iterdir()) == [False, False]


def test_cache_dir_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("APPVIRT_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "appvirt" / "images"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "appvirt" / "images"
    monkeypatch.setenv("APPVIRT_CACHE_DIR", str(tmp_path / "explicit"))
    assert cache.cache_dir() == tmp_path / "explicit"


def test_cache_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPVIRT_NO_CACHE", "1")
    assert not cache.enabled()
    monkeypatch.setenv("APPVIRT_NO_CACHE", "0")
    assert cache.enabled()
    monkeypatch.delenv("APPVIRT_NO_CACHE")
    assert cache.enabled()
