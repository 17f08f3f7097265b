"""Guest callbacks run from an API trap while several threads share the CPU in counted slices.

Unicorn limits a run to ``count`` instructions with a code hook, and ``emu_start(count=0)``
deletes that hook and flushes every translated block. A nested run started with count 0 from the
trap of a counted slice (a DLL_THREAD_DETACH callback as a thread ends, an InitOnce function)
therefore freed the host code the slice was executing: the hook returned into whatever the
callback's translation had put there, and the host process died in ``emu_start`` now and then
(SIGSEGV, SIGILL), or the slice went on without its instruction limit. ``Cpu.call_nested`` now
counts a nested run inside a counted one and ends the outer slice when the trap returns.

Through the samples the crash needed unlucky bytes in the freed code (about one pass in ten of
every sample, repeated in one process). The Machine check below translates a large callback, so
before the fix it killed its (child) process every time; the threads check is the invariant.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT, TEST_ENV
from test_win_samples import BITS, exe
from unicorn import Uc
from unicorn import x86_const as x86

from appvirt import Sandbox
from appvirt.core import blockstop
from appvirt.core.machine import Machine, Stop
from appvirt.loader.image import Arch, Perm

CODE, CALLBACK, STACK, SENTINEL = 0x400000, 0x500000, 0x600000, 0x400F00
BUDGET = 100_000


def _machine_with_trap(arch: Arch) -> tuple[Machine, list[int]]:
    """A Machine whose code traps once, then spins incrementing EBX/RBX forever; the trap calls
    a guest function of many translated blocks through ``call_nested``, as ``WinProcess.call``."""
    m = Machine(arch)
    m.mem.map(CODE, 0x1000, Perm.RX, "code")
    m.mem.map(CALLBACK, 0x10000, Perm.RX, "callback")
    m.mem.map(STACK, 0x10000, Perm.RW, "stack")
    if m.is64:  # syscall; 1: inc rbx; jmp 1b
        m.mem.poke(CODE, bytes.fromhex("0f0548ffc3ebfb"))
    else:  # sysenter; 1: inc ebx; jmp 1b
        m.mem.poke(CODE, bytes.fromhex("0f3443ebfd"))
    block = bytes.fromhex("4883c001" if m.is64 else "83c001") + b"\xeb\x00"  # add eax, 1; jmp
    m.mem.poke(CALLBACK, block * 2000 + b"\xc3")
    m.mem.poke(SENTINEL, b"\xf4")
    calls = [0]

    def trap() -> None:
        calls[0] += 1
        saved = m.uc.context_save()
        sp = STACK + 0x8000
        m.mem.poke(sp, struct.pack("<Q" if m.is64 else "<I", SENTINEL))
        m.sp = sp
        assert m.call_nested(CALLBACK, SENTINEL) is Stop.SLICE
        assert m.reg.read(x86.UC_X86_REG_EAX) == 2000  # the callback ran to its end
        m.uc.context_restore(saved)

    if m.is64:
        m.on_syscall(trap)
    else:
        m.on_sysenter(trap)
    m.sp = STACK + 0xF000
    m.pc = CODE
    return m, calls


def counted_slice_check(arch: Arch) -> None:
    """A counted slice whose trap runs a callback ends right after the trap, and later slices
    are still counted. Run in a child process: before the fix it killed the host (SIGSEGV)."""
    m, calls = _machine_with_trap(arch)
    counter = x86.UC_X86_REG_RBX if m.is64 else x86.UC_X86_REG_EBX
    try:
        # The timeout only bounds the check: the slice must end on its own, after the trap.
        assert m.run(2_000_000, count=BUDGET) is Stop.SLICE
        assert calls[0] == 1
        assert m.reg.read(counter) < BUDGET  # before the fix: millions (no count hook left)
        before = m.reg.read(counter)
        assert m.run(2_000_000, count=1000) is Stop.SLICE
        assert 0 < m.reg.read(counter) - before <= 1000
        assert m.pc in (CODE + 2, CODE + (5 if m.is64 else 3))  # inside the loop
        assert calls[0] == 1
    finally:
        m.close()


@pytest.mark.parametrize("arch", [Arch.X86_64, Arch.I386])
def test_a_counted_slice_keeps_its_limit_across_a_nested_call(arch: Arch) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    child = subprocess.run(
        [sys.executable, "-X", "faulthandler", __file__, arch.name],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (child.returncode, child.stderr) == (0, ""), child.stderr[-3000:]
    assert child.stdout == "ok\n"


def test_a_nested_call_outside_counted_slices_runs_to_its_end() -> None:
    m, calls = _machine_with_trap(Arch.X86_64)
    try:
        assert m.run(200_000) is Stop.SLICE  # a lone run: stopped by its timeout only
        assert calls[0] == 1
        assert m.reg.read(x86.UC_X86_REG_RBX) > BUDGET
    finally:
        m.close()


@pytest.mark.parametrize("bits", BITS)
def test_threads_never_start_an_uncounted_run_inside_a_counted_one(
    tmp_path: Path, bits: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """threads.exe ends workers while others run (DLL_THREAD_DETACH callbacks) and calls an
    InitOnce function: guest code run from a trap inside a counted slice. Shared slices are
    counted where the host cannot run the exact block stop; this check makes it so."""
    monkeypatch.setattr(blockstop, "available", lambda: False)
    runs: list[int] = []  # the count of every emu_start in progress
    seen = {"nested_in_counted": 0, "uncounted": 0}
    real = Uc.emu_start

    def emu_start(self: Any, begin: int, until: int, timeout: int = 0, count: int = 0) -> None:
        if runs and runs[-1] > 0:
            seen["nested_in_counted"] += 1
            if count <= 0:
                seen["uncounted"] += 1
        runs.append(count)
        try:
            real(self, begin, until, timeout, count)
        finally:
            runs.pop()

    monkeypatch.setattr(Uc, "emu_start", emu_start)
    out = io.BytesIO()
    result = Sandbox(cwd=str(tmp_path)).run(
        [exe("threads", bits)], stdin=b"", stdout=out, stderr=io.BytesIO(), host_env=TEST_ENV
    )
    assert result.exit_code == 0
    assert out.getvalue().endswith(b"done\r\n")
    assert seen["nested_in_counted"] > 0  # the sample still exercises the path
    assert seen["uncounted"] == 0


if __name__ == "__main__":
    counted_slice_check(Arch[sys.argv[1]])
    print("ok")
