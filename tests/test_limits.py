"""Sizes, durations and ``--limit KEY=VALUE,...`` lists (appvirt/limits.py)."""

from __future__ import annotations

import pytest

from appvirt.errors import UsageError
from appvirt.limits import (
    LIMIT_EXIT_CODES,
    Limits,
    parse_duration,
    parse_limit_item,
    parse_limits,
    parse_size,
)

K, M, G = 1 << 10, 1 << 20, 1 << 30


@pytest.mark.parametrize(
    "text,size",
    [
        ("0", 0),
        ("512", 512),
        ("10K", 10 * K),
        ("10k", 10 * K),
        ("256M", 256 * M),
        ("256m", 256 * M),
        ("2G", 2 * G),
        ("1T", 1 << 40),
        ("1.5M", 3 * M // 2),
        ("0.5K", 512),
        ("64KiB", 64 * K),
        ("64KB", 64 * K),
        ("64kb", 64 * K),
        ("100B", 100),
        (" 8 M ", 8 * M),
        (4096, 4096),
    ],
)
def test_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "M", "-1K", "10X", "1e3", "ten", "1,5M", "1 MM", "0x10"])
def test_bad_size(text: str) -> None:
    with pytest.raises(UsageError, match=r"bad size .*K, M or G"):
        parse_size(text)


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("10", 10.0),
        ("10s", 10.0),
        ("500ms", 0.5),
        ("1.5s", 1.5),
        ("2m", 120.0),
        ("0.5m", 30.0),
        ("1h", 3600.0),
        (" 3 s ", 3.0),
        (7, 7.0),
        (0.25, 0.25),
    ],
)
def test_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "-1s", "10 sec", "1d", "5mins", "1:30", "1s500ms"])
def test_bad_duration(text: str) -> None:
    with pytest.raises(UsageError, match=r"bad duration .*ms, s, m or h"):
        parse_duration(text)


def test_limit_list() -> None:
    limits = parse_limits("memory=256M, time=10s,output=1K,,disk=2G")
    assert limits == Limits(memory=256 * M, time=10.0, output=K, disk=2 * G)


def test_counts_are_integers() -> None:
    limits = parse_limits("processes=4,files=64,instructions=1000000")
    assert (limits.processes, limits.files, limits.instructions) == (4, 64, 1_000_000)
    assert all(isinstance(v, int) for v in (limits.processes, limits.files, limits.instructions))


def test_into_updates_the_given_limits() -> None:
    base = Limits(memory=M, time=5.0)
    out = parse_limits("time=1s", into=base)
    assert out is base
    assert base == Limits(memory=M, time=1.0)


def test_empty_list_sets_nothing() -> None:
    assert parse_limits("") == Limits()
    assert parse_limits(" , ,") == Limits()


@pytest.mark.parametrize(
    "text,message",
    [
        ("bogus=1", r"unknown limit 'bogus' \(known: memory, instructions, time, processes"),
        ("memory", r"bad limit 'memory': use KEY=VALUE"),
        ("memory=lots", r"bad size 'lots'"),
        ("time=soon", r"bad duration 'soon'"),
        ("files=many", r"bad value for limit files: 'many'"),
        ("memory=1M,time=", r"bad duration ''"),
    ],
)
def test_bad_limit_list(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_limits(text)


def test_item_from_a_profile_value() -> None:
    """Profiles hand TOML integers and floats straight through."""
    limits = Limits()
    parse_limit_item(limits, "memory", 1024)
    parse_limit_item(limits, "time", 2.5)
    parse_limit_item(limits, " files ", 10)
    assert limits == Limits(memory=1024, time=2.5, files=10)


def test_merged_prefers_the_other_side_where_set() -> None:
    base = Limits(memory=M, time=10.0, files=32)
    over = Limits(time=1.0, output=K)
    merged = base.merged(over)
    assert merged == Limits(memory=M, time=1.0, files=32, output=K)
    assert merged is not base and base == Limits(memory=M, time=10.0, files=32)


def test_exit_codes_match_the_readme() -> None:
    assert LIMIT_EXIT_CODES == {"time": 152, "instructions": 152, "output": 153, "memory": 137}
