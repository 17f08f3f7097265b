"""Shipped profiles and ``appvirt profiles`` (list, show)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import ROOT

from appvirt.cli import main
from appvirt.profile import PROFILE_DIR, load_profile, resolve_profile
from appvirt.profiles_cli import profile_toml

SHIPPED = ["default", "strict", "portable", "reproducible", "windows-legacy"]


def test_shipped_profiles_are_packaged_copies() -> None:
    for name in SHIPPED:
        src = ROOT / "profiles" / f"{name}.toml"
        assert src.read_bytes() == (PROFILE_DIR / f"{name}.toml").read_bytes(), name
        desc = tomllib.loads(src.read_text())["description"]
        assert desc and "\n" not in desc


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profile_resolves_and_round_trips(name: str, tmp_path: Path) -> None:
    prof = resolve_profile(name)
    path = tmp_path / f"{name}.toml"
    path.write_text(profile_toml(prof))
    again = load_profile(path)
    again.source = prof.source
    assert again == prof


def test_profile_contents() -> None:
    strict = resolve_profile("strict")
    assert (strict.system_mounts, strict.program_dir.value, strict.cwd) == (False, "ro", strict.cwd)
    assert resolve_profile("portable").program_dir.value == "cow"
    rep = resolve_profile("reproducible")
    assert (rep.time, rep.uid, rep.gid, rep.hostname) == ("frozen:946684800", 1000, 1000, "appvirt")
    assert rep.random_seed is not None
    registry = tomllib.loads((PROFILE_DIR / "windows-legacy.toml").read_text())["registry"]
    assert any(k.startswith("HKLM\\") for k in registry)
    assert any(k.startswith("HKCU\\") for k in registry)


def test_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "appvirt" / "profiles"
    user.mkdir(parents=True)
    (user / "mine.toml").write_text('extends = "strict"\ndescription = "my own box"\n')
    (user / "noDesc.toml").write_text('extends = "portable"\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["profiles"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in result.output.splitlines()}
    assert set(rows) == {*SHIPPED, "mine", "noDesc"}
    assert rows["mine"] == ["user", "my own box"]
    assert rows["noDesc"] == ["user", resolve_profile("portable").description]
    assert rows["strict"][0] == "shipped"


def test_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["profiles", "show", "reproducible"])
    assert result.exit_code == 0, result.output
    data = tomllib.loads(result.output)
    assert data["time"] == "frozen:946684800"
    assert data["identity"] == {"uid": 1000, "gid": 1000, "hostname": "appvirt",
                                "username": "appvirt", "computer_name": "APPVIRT"}  # fmt: skip
    legacy = tomllib.loads(CliRunner().invoke(main, ["profiles", "show", "windows-legacy"]).output)
    assert "HKCU\\Control Panel\\International" in legacy["registry"]


def test_show_unknown() -> None:
    result = CliRunner().invoke(main, ["profiles", "show", "nope"])
    assert result.exit_code == 125
    assert "profile 'nope' not found" in result.output


def test_strict_runs_a_static_program_and_shows_no_system_folders(tmp_path: Path) -> None:
    import io

    from helpers import TEST_ENV, sample

    from appvirt import Sandbox
    from appvirt.errors import ProgramNotFoundError

    out = io.BytesIO()
    escape = str(ROOT / "samples" / "bin" / "security" / "escape")
    sandbox = Sandbox(resolve_profile("strict"), cwd=str(tmp_path))
    result = sandbox.run([escape, "read", "/etc/passwd"], stdout=out, host_env=TEST_ENV)
    assert result.exit_code == 0
    assert b"absolute: denied: No such file or directory" in out.getvalue()
    assert b"LEAK" not in out.getvalue()
    with pytest.raises(ProgramNotFoundError):  # a dynamic program: no ld.so in the sandbox
        sandbox.run([sample("hello-dyn-x86_64")], stdout=io.BytesIO(), host_env=TEST_ENV)
