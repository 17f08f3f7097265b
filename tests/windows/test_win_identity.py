"""A profile's identity is what a Windows program sees: user, computer, profile folder, temp."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from helpers import TEST_ENV
from test_win_samples import BITS, crlf, exe

from appvirt import Sandbox
from appvirt.profile import Profile


def _identity(bits: str, cwd: Path, profile: Profile) -> bytes:
    out = io.BytesIO()
    result = Sandbox(profile, cwd=str(cwd)).run([exe("identity", bits)], stdout=out,
                                                host_env=TEST_ENV)  # fmt: skip
    assert result.exit_code == 0
    return out.getvalue()


def _expected(user: str, computer: str) -> bytes:
    return crlf(
        f"user={user} ({len(user) + 1})\ncomputer={computer} ({len(computer)})\n"
        f"USERNAME={user}\nCOMPUTERNAME={computer}\nUSERPROFILE=C:\\Users\\{user}\n"
        f"temp=C:\\Users\\{user}\\AppData\\Local\\Temp\\\n"
    )


@pytest.mark.parametrize("bits", BITS)
def test_default_identity(tmp_path: Path, bits: str) -> None:
    assert _identity(bits, tmp_path, Profile()) == _expected("appvirt", "APPVIRT")


@pytest.mark.parametrize("bits", BITS)
def test_profile_identity(tmp_path: Path, bits: str) -> None:
    prof = Profile(username="alice", computer_name="LEGACYPC")
    assert _identity(bits, tmp_path, prof) == _expected("alice", "LEGACYPC")
