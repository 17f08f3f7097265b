"""The Windows samples (MinGW, x86 and x64) run to their full expected output.

Expected output is what Windows prints: msvcrt's stdout is in text mode, so every "\\n" a program
prints arrives as "\\r\\n".
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import ROOT, run_guest

WIN = ROOT / "samples" / "bin" / "windows"
BITS = ("32", "64")


def exe(name: str, bits: str) -> str:
    path = WIN / f"{name}{bits}.exe"
    if not path.exists():
        pytest.fail(f"sample {path.name} missing: run make -C samples windows")
    return str(path)


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


@pytest.mark.parametrize("bits", BITS)
def test_hello(tmp_path: Path, bits: str) -> None:
    out = run_guest([exe("hello", bits)], tmp_path)
    assert (out.status, out.stdout, out.stderr) == (0, crlf("Hello from appvirt guest\n"), b"")


@pytest.mark.parametrize("bits", BITS)
def test_args_and_environment(tmp_path: Path, bits: str) -> None:
    out = run_guest([exe("args", bits), "one", "two words", 'q"uote', "--exit", "7"], tmp_path,
                    env={"APPVIRT_B": "2", "APPVIRT_A": "x y"})  # fmt: skip
    expected = (
        f'argc=6\nargv[0]=args{bits}\nargv[1]=one\nargv[2]=two words\nargv[3]=q"uote\n'
        'argv[4]=--exit\nargv[5]=7\ncmdline_tail=one "two words" "q\\"uote" --exit 7\n'
        "env_count=2\nenv=APPVIRT_A=x y getenv=same\nenv=APPVIRT_B=2 getenv=same\nexit=7\n"
    )
    assert out.stdout == crlf(expected)
    assert out.status == 7


FILES_OUTPUT = r"""CreateDirectoryA files.d: ok
CreateDirectoryA files.d again: error 183
CreateDirectoryA sub: ok
GetFileAttributesA files.d: ok directory
fopen crt.txt w: ok
fclose crt.txt: 0
raw crt.txt: ok 16 "line 1\x0d\x0aline 2\x0d\x0a"
fopen crt.txt r: ok
fgets: "line 1\x0a"
fgets: "line 2\x0a"
CreateFileA api.txt CREATE_NEW: ok
WriteFile api.txt: ok 22
CloseHandle api.txt: ok
CreateFileA api.txt CREATE_NEW again: error 80
CreateFileA api.txt OPEN_EXISTING: ok
GetFileSize api.txt: 22
ReadFile 9 at 11: ok 9 "WriteFile"
GetFileAttributesA api.txt: ok file
GetFileAttributesA missing: error 2
MoveFileA api.txt -> moved.txt: ok
GetFileAttributesA api.txt after move: error 2
GetFullPathNameA settings.ini: ok
WritePrivateProfileStringA main.name: ok
WritePrivateProfileStringA main.count: ok
WritePrivateProfileStringA other.flag: ok
GetPrivateProfileStringA main.name: 7 "appvirt"
GetPrivateProfileStringA main.missing: 8 "fallback"
GetPrivateProfileIntA main.count: 42
raw settings.ini: ok 50 "[main]\x0d\x0aname=appvirt\x0d\x0acount=42\x0d\x0a[other]\x0d\x0aflag=on\x0d\x0a"
FindFirstFileA files.d\*: FindNextFileA ended with error 18
FindFirstFileA files.d\*: ok 4 entries: crt.txt(16) moved.txt(22) settings.ini(50) sub/
RemoveDirectoryA files.d (not empty): error 145
DeleteFileA missing.txt: error 2
DeleteFileA crt.txt: ok
DeleteFileA moved.txt: ok
DeleteFileA settings.ini: ok
RemoveDirectoryA sub: ok
RemoveDirectoryA files.d: ok
GetFileAttributesA files.d after removal: error 2
done
"""


@pytest.mark.parametrize("bits", BITS)
def test_files(tmp_path: Path, bits: str) -> None:
    out = run_guest([exe("files", bits)], tmp_path)
    assert (out.status, out.stderr) == (0, b"")
    assert out.stdout == crlf(FILES_OUTPUT)
    assert list(tmp_path.iterdir()) == []  # the current folder is copy-on-write


@pytest.mark.parametrize("bits", BITS)
def test_dll_loaded_from_the_program_folder(tmp_path: Path, bits: str) -> None:
    out = run_guest([exe("dll", bits)], tmp_path)
    expected = (
        f"LoadLibraryA sampledll{bits}.dll: ok\nadd(2, 40) = 42\nadd(-7, 3) = -4\n"
        "greet() = Hello from sampledll\nGetProcAddress no_such_export: null error 127\n"
        "FreeLibrary: ok\nLoadLibraryA appvirt_no_such.dll: null error 126\n"
    )
    assert (out.status, out.stdout) == (0, crlf(expected))


def test_dll_found_in_the_current_folder(tmp_path: Path) -> None:
    prog = tmp_path / "prog"
    prog.mkdir()
    shutil.copy(exe("dll", "64"), prog / "dll64.exe")
    shutil.copy(WIN / "sampledll64.dll", tmp_path / "sampledll64.dll")
    out = run_guest([str(prog / "dll64.exe")], tmp_path)
    assert out.stdout.startswith(b"LoadLibraryA sampledll64.dll: ok\r\n")


@pytest.mark.parametrize("bits", BITS)
def test_settings_count_runs_in_a_sandbox(tmp_path: Path, bits: str) -> None:
    import io

    from appvirt import Sandbox

    box = tmp_path / "box"
    outputs = []
    for _ in range(2):
        out = io.BytesIO()
        result = Sandbox(cwd=str(tmp_path), sandbox_dir=str(box)).run(
            [exe("settings", bits)], stdout=out, stderr=io.BytesIO(), host_env={}
        )
        assert result.exit_code == 0
        outputs.append(out.getvalue())
    assert outputs == [b"run 1\r\n", b"run 2\r\n"]
    assert (box / "registry.json").is_file()


def test_settings_without_a_sandbox_forget(tmp_path: Path) -> None:
    for _ in range(2):
        assert run_guest([exe("settings", "64")], tmp_path).stdout == b"run 1\r\n"


def traced_calls(trace: str) -> dict[str, int]:
    """How many trace lines each API name has (``[tid N] dll!Name(...)``)."""
    import re
    from collections import Counter

    found = (re.match(r"(?:\[tid \d+\] )?[\w.]+!(\w+)\(", line) for line in trace.splitlines())
    return dict(Counter(m.group(1) for m in found if m))


@pytest.mark.parametrize("bits", BITS)
def test_api_calls_are_counted_and_traced(tmp_path: Path, bits: str) -> None:
    """The API trap's per-declaration counters reach the result by name; one trace line a call."""
    import io

    from appvirt import Sandbox

    out, trace = io.BytesIO(), io.StringIO()
    result = Sandbox(cwd=str(tmp_path)).run(
        [exe("apicalls", bits), "2500"], stdout=out, stderr=io.BytesIO(), host_env={}, trace=trace
    )
    assert (result.exit_code, out.getvalue()) == (0, b"calls=2500 same=2500 ticks=3\r\n")
    assert result.syscalls["GetCurrentProcessId"] == 2501
    assert result.syscalls["GetTickCount"] == 3
    pids = {
        line.rsplit(" = ", 1)[1]
        for line in trace.getvalue().splitlines()
        if line.startswith("kernel32!GetCurrentProcessId() = ")
    }
    assert len(pids) == 1
    assert traced_calls(trace.getvalue()) == dict(result.syscalls)


def test_child_process_calls_are_counted(tmp_path: Path) -> None:
    """Calls made by child processes count too: every traced call is in the result's counts (the
    child that is terminated while it sleeps counts its Sleep, which never gets a trace line)."""
    import io

    from appvirt import Sandbox

    trace = io.StringIO()
    result = Sandbox(cwd=str(tmp_path)).run(
        [exe("spawn", "64")], stdout=io.BytesIO(), stderr=io.BytesIO(), host_env={}, trace=trace
    )
    assert result.exit_code == 7
    counts = dict(result.syscalls)
    assert counts.pop("Sleep") == traced_calls(trace.getvalue()).pop("Sleep", 0) + 1
    traced = traced_calls(trace.getvalue())
    traced.pop("Sleep", None)
    assert traced == counts
    assert counts["CreateProcessA"] >= 3
