"""Winsock in a sandbox without network: WSAStartup works, sockets are denied and reported."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from helpers import TEST_ENV
from test_win_samples import BITS, crlf, exe

from appvirt import Sandbox

EXPECTED = """\
WSAStartup=0 version=2.2
socket invalid=1 error=10013
connect=-1 error=10038
port=80 addr=7f000001
gethostname=0
gethostbyname=NULL error=11001
"""


@pytest.mark.parametrize("bits", BITS)
def test_sockets_are_denied_and_reported(tmp_path: Path, bits: str) -> None:
    out = io.BytesIO()
    result = Sandbox(cwd=str(tmp_path)).run([exe("network", bits)], stdout=out, host_env=TEST_ENV)
    assert (result.exit_code, out.getvalue()) == (0, crlf(EXPECTED))
    assert result.denied == ["socket(af=2, type=1)", "gethostbyname('example.com')"]
