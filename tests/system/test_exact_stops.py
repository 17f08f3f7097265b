"""Slice ends repeat nothing: a loop that stores in two blocks, stopped at every slice end.

Unicorn's own stop from another thread can resume a run at a block whose stores already ran
(tests/core/test_blockstop.py); the System VM's watchdog ends slices through the Machine's block
stop instead, which stops at a block start.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assemble, boot

from appvirt.core import blockstop
from appvirt.limits import Limits
from appvirt.system import hypervisor

ROUNDS = 20_000_000

# Real mode: [0x500] += 1; jump; [0x504] += 1; ROUNDS times; then halt with nothing to wake it.
LOOP = f"""bits 16
org 0x7c00
        cli
        xor ax, ax
        mov ds, ax
        mov dword [0x500], 0
        mov dword [0x504], 0
        mov ecx, {ROUNDS}
first:  inc dword [0x500]
        jmp second
second: inc dword [0x504]
        dec ecx
        jnz first
        hlt
"""


def _counters(tmp_path: Path) -> tuple[int, int]:
    run = boot(assemble(LOOP, tmp_path), limits=Limits(time=60), keep=True)
    try:
        raw = bytes(run.hv.machine.uc.mem_read(0x500, 8))
    finally:
        run.hv.close()
    return int.from_bytes(raw[:4], "little"), int.from_bytes(raw[4:], "little")


def test_slice_ends_store_nothing_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not blockstop.available():
        pytest.skip("the block stop needs an x86-64 Linux host")
    monkeypatch.setattr(hypervisor, "SLICE_US", 300)  # hundreds of slice ends during the loop
    assert _counters(tmp_path) == (ROUNDS, ROUNDS)
