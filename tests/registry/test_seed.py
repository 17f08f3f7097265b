"""A profile's ``[registry]`` table seeds a new registry (appvirt/registry/seed.py)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from helpers import ROOT, TEST_ENV

from appvirt.errors import ProfileError
from appvirt.profile import load_profile, resolve_profile
from appvirt.registry import REG, Registry, RegistryStore
from appvirt.registry.hive import seed_defaults, sz
from appvirt.registry.seed import apply_seed
from appvirt.windows.runner import profile_registry_table

SETTINGS = ROOT / "samples" / "bin" / "windows" / "settings64.exe"
PROFILE = """
name = "seeded"

[registry.'HKCU\\Software\\appvirt-sample\\settings']
runs = 41

[registry.'HKLM\\SOFTWARE\\Vendor\\App']
"" = "default"
Path = 'C:\\Program Files\\App'
Big = 5000000000
Negative = -1
Flag = true
List = ["a", "b"]

[registry.'HKCU\\Software\\Empty']
"""


def test_value_types() -> None:
    reg = Registry()
    data = {"HKLM\\SOFTWARE\\Vendor\\App": {"": "default", "Path": "C:\\x", "Big": 5000000000,
                                            "Negative": -1, "Flag": True, "List": ["a", "b"]},
            "HKCU\\Software\\Empty": {}}  # fmt: skip
    assert apply_seed(reg, data) == 6
    key = reg.open_path("HKEY_LOCAL_MACHINE\\software\\vendor\\app")
    assert key is not None
    got = {name: (v.type, v.data) for name, v in ((v.name, v) for v in key.values.values())}
    assert got == {
        "": (REG.SZ, sz("default")),
        "Path": (REG.SZ, sz("C:\\x")),
        "Big": (REG.QWORD, (5000000000).to_bytes(8, "little")),
        "Negative": (REG.DWORD, b"\xff\xff\xff\xff"),
        "Flag": (REG.DWORD, (1).to_bytes(4, "little")),
        "List": (REG.MULTI_SZ, "a\0b\0\0".encode("utf-16-le")),
    }
    assert reg.open_path("HKCU\\Software\\Empty") is not None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (["x"], "must be a table of registry keys"),
        ({"HKXX\\Software": {}}, "starts with HKLM"),
        ({"HKCU\\Software\\A": "x"}, "must be a table of values"),
        ({"HKCU\\Software\\A": {"v": 1.5}}, "'v': use a string"),
        ({"HKCU\\Software\\A": {"v": 1 << 70}}, "REG_QWORD"),
    ],
)
def test_bad_seeds_are_refused_whole(table: object, message: str) -> None:
    reg = Registry()
    seed_defaults(reg)
    with pytest.raises(ProfileError, match=message):
        apply_seed(
            reg, {"HKCU\\Software\\Good": {"a": 1}, **table} if isinstance(table, dict) else table
        )
    assert reg.open_path("HKCU\\Software\\Good") is None


def test_seeds_override_defaults_of_a_new_registry_only(tmp_path: Path) -> None:
    seed = {"HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion": {"ProductName": "XP"}}
    reg = RegistryStore(tmp_path).load(seed)
    key = reg.open_path("HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion")
    assert key is not None and key.get("ProductName").data == sz("XP")  # type: ignore[union-attr]
    assert not reg.dirty
    key.set("ProductName", REG.SZ, sz("changed by the program"))
    RegistryStore(tmp_path).save(reg)
    again = RegistryStore(tmp_path).load(seed)
    key = again.open_path("HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion")
    assert key.get("ProductName").data == sz("changed by the program")  # type: ignore[union-attr]


def test_builtin_windows_legacy_profile_seeds() -> None:
    table = profile_registry_table(resolve_profile("windows-legacy"))
    reg = RegistryStore(None).load(table)
    key = reg.open_path("HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion")
    assert key is not None and key.get("CurrentVersion").data == sz("5.1")  # type: ignore[union-attr]


def run_settings(profile_path: Path, cwd: Path, box: Path) -> bytes:
    from appvirt import Sandbox

    out, err = io.BytesIO(), io.BytesIO()
    result = Sandbox(load_profile(profile_path), cwd=str(cwd), sandbox_dir=str(box)).run(
        [str(SETTINGS)], stdout=out, stderr=err, host_env=TEST_ENV
    )
    assert (result.exit_code, err.getvalue()) == (0, b"")
    return out.getvalue()


def test_a_windows_program_reads_profile_seeds(tmp_path: Path) -> None:
    if not SETTINGS.exists():
        pytest.fail(f"sample {SETTINGS.name} missing: run make -C samples windows")
    profile = tmp_path / "seeded.toml"
    profile.write_text(PROFILE)
    box = tmp_path / "box"
    assert run_settings(profile, tmp_path, box) == b"run 42\r\n"
    # The registry is the sandbox's now: the seed does not reset the count.
    assert run_settings(profile, tmp_path, box) == b"run 43\r\n"


def test_seeds_of_extended_profiles_are_merged(tmp_path: Path) -> None:
    (tmp_path / "child.toml").write_text(
        'extends = "windows-legacy"\n'
        "[registry.'HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion']\n"
        'CSDVersion = "Service Pack 2"\n'
        "[registry.'HKCU\\Software\\Child']\n"
        "x = 1\n"
    )
    table = profile_registry_table(load_profile(tmp_path / "child.toml"))
    reg = RegistryStore(None).load(table)
    nt = reg.open_path("HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion")
    assert nt is not None
    assert nt.get("CSDVersion").data == sz("Service Pack 2")  # type: ignore[union-attr]
    assert nt.get("ProductName").data == sz("Microsoft Windows XP")  # type: ignore[union-attr]
    assert reg.open_path("HKCU\\Software\\Child") is not None
