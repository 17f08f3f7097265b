"""/proc/<pid> shows every guest process (not only the caller), as ps and shell scripts use it."""

from __future__ import annotations

from pathlib import Path

from helpers import BUSYBOX, run_guest

SCRIPT = r"""
sleep 5 &
child=$!
sleep 0.2
echo "me=$$ child=$child"
cut -d' ' -f1,3,4 /proc/$child/stat
tr '\0' ' ' < /proc/$child/cmdline; echo
grep -E '^(State|PPid)' /proc/$child/status
ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\n' ' '; echo
ps | grep -c ' sleep 5$'
kill $child
wait $child
echo "status=$?"
test -e /proc/$child && echo "still there" || echo "gone"
"""


def test_other_processes_are_visible(tmp_path: Path) -> None:
    out = run_guest([BUSYBOX, "sh", "-c", SCRIPT], tmp_path)
    assert out.status == 0, out.stderr
    lines = out.stdout.decode().splitlines()
    me, child = (int(part.split("=")[1]) for part in lines[0].split())
    assert lines[1] == f"{child} S {me}"
    assert lines[2] == "sleep 5 "
    assert lines[3:5] == ["State:\tS (sleeping)", f"PPid:\t{me}"]
    pids = [int(p) for p in lines[5].split()]
    assert me in pids and child in pids
    assert lines[6] == "1"
    assert lines[7:] == ["status=143", "gone"]


def test_unknown_pid_does_not_exist(tmp_path: Path) -> None:
    out = run_guest([BUSYBOX, "sh", "-c", "cat /proc/99999/status; ls -d /proc/0001"], tmp_path)
    assert out.status == 1
    assert b"No such file or directory" in out.stderr
