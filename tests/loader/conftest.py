"""Fixtures for the loader tests: real binaries compiled at test time, and an isolated cache.

Binaries are built once per session into a temporary folder with the host's gcc (with -m32 for
i386) and the MinGW cross compilers; a test whose compiler is missing is skipped, not failed. Every
test runs with the Image cache disabled and pointed at a private folder; the cache tests turn it on.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

C_TLS_PROGRAM = r"""
#include <stdio.h>
__thread int counter = 5;
__thread char scratch[100];
int main(void) { scratch[0] = 1; printf("hi %d\n", counter); return 0; }
"""

C_PLAIN_PROGRAM = r"""
int main(void) { return 0; }
"""

WIN_PROGRAM = r"""
#include <windows.h>
__thread int counter = 3;
int main(void) {
    HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
    DWORD written;
    WriteFile(out, "hi\n", 3, &written, NULL);
    ExitProcess(counter);
}
"""

WIN_DLL = r"""
#include <windows.h>
__declspec(dllexport) int add(int a, int b) { return a + b; }
__declspec(dllexport) int mul(int a, int b) { return a * b; }
__declspec(dllexport) int shared_value = 5;
BOOL WINAPI DllMain(HINSTANCE module, DWORD reason, LPVOID reserved) { return TRUE; }
"""

# Ordinals 5 and 7 (7 exported by ordinal only) and one forwarder to kernel32.
WIN_DLL_DEF = """LIBRARY fwd.dll
EXPORTS
  add @5
  mul @7 NONAME
  MyTick = KERNEL32.GetTickCount
"""

WIN_ORDINAL_USER = r"""
int mul(int, int);
int add(int, int);
int main(void) { return mul(2, 3) + add(1, 1); }
"""

MINGW = {"x86_64": "x86_64-w64-mingw32-gcc", "i386": "i686-w64-mingw32-gcc"}


class Builder:
    """Compiles small programs into one session folder; each result is built once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._done: dict[str, Path] = {}

    def build(self, name: str, source: str, command: list[str], suffix: str = ".c") -> Path:
        if name in self._done:
            return self._done[name]
        compiler = command[0]
        if shutil.which(compiler) is None:
            pytest.skip(f"{compiler} is not installed")
        src = self.folder / f"{name}{suffix}"
        src.write_text(source)
        out = self.folder / name
        args = [arg.replace("{src}", str(src)).replace("{out}", str(out)) for arg in command]
        result = subprocess.run(args, cwd=self.folder, capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot build {name}: {result.stderr.strip()[:300]}")
        self._done[name] = out
        return out


@pytest.fixture(scope="session")
def builder(tmp_path_factory: pytest.TempPathFactory) -> Builder:
    return Builder(tmp_path_factory.mktemp("loader-bins"))


def _elf(builder: Builder, name: str, flags: list[str], source: str = C_TLS_PROGRAM) -> Path:
    return builder.build(name, source, ["gcc", "-O1", *flags, "-o", "{out}", "{src}"])


ELF_KINDS: dict[str, list[str]] = {
    "static64": ["-static"],
    "static32": ["-m32", "-static"],
    "pie64": ["-pie", "-fPIE"],
    "pie32": ["-m32", "-pie", "-fPIE"],
    "nopie64": ["-no-pie"],
    "static_pie64": ["-static-pie", "-fPIE"],
}


@pytest.fixture(scope="session")
def elf_binary(builder: Builder) -> Callable[[str], Path]:
    """elf_binary(kind) -> path of the TLS test program built as ``kind`` (see ELF_KINDS)."""

    def get(kind: str) -> Path:
        return _elf(builder, kind, ELF_KINDS[kind])

    return get


@pytest.fixture(scope="session")
def static64(elf_binary: Callable[[str], Path]) -> Path:
    return elf_binary("static64")


@pytest.fixture(scope="session")
def static32(elf_binary: Callable[[str], Path]) -> Path:
    return elf_binary("static32")


@pytest.fixture(scope="session")
def execstack64(builder: Builder) -> Path:
    return _elf(builder, "execstack64", ["-static", "-z", "execstack"], C_PLAIN_PROGRAM)


@pytest.fixture(scope="session")
def object_file(builder: Builder) -> Path:
    return builder.build(
        "plain.o", C_PLAIN_PROGRAM, ["gcc", "-c", "-o", "{out}", "{src}"], suffix="_o.c"
    )


@pytest.fixture(scope="session")
def win_exe(builder: Builder) -> Callable[[str], Path]:
    """win_exe(arch) -> a console program importing kernel32, with a __thread variable."""

    def get(arch: str) -> Path:
        return builder.build(
            f"prog_{arch}.exe", WIN_PROGRAM, [MINGW[arch], "-O1", "-o", "{out}", "{src}"]
        )

    return get


@pytest.fixture(scope="session")
def win_dll(builder: Builder) -> Callable[[str], Path]:
    """win_dll(arch) -> a DLL exporting add, mul and shared_value."""

    def get(arch: str) -> Path:
        return builder.build(
            f"lib_{arch}.dll", WIN_DLL, [MINGW[arch], "-O1", "-shared", "-o", "{out}", "{src}"]
        )

    return get


@pytest.fixture(scope="session")
def forwarding_dll(builder: Builder) -> Path:
    """fwd.dll (x86-64): exports by ordinal, one NONAME export, one forwarder; plus libfwd.a."""
    definition = builder.folder / "fwd.def"
    definition.write_text(WIN_DLL_DEF)
    return builder.build(
        "fwd.dll",
        WIN_DLL,
        [
            MINGW["x86_64"],
            "-shared",
            "-s",
            "-o",
            "{out}",
            "{src}",
            str(definition),
            "-Wl,--out-implib," + str(builder.folder / "libfwd.a"),
        ],
        suffix="_fwd.c",
    )


@pytest.fixture(scope="session")
def ordinal_user(builder: Builder, forwarding_dll: Path) -> Path:
    """An x86-64 program importing ``add`` by name and ``mul`` by ordinal 7 from fwd.dll."""
    return builder.build(
        "useord.exe",
        WIN_ORDINAL_USER,
        [MINGW["x86_64"], "-s", "-o", "{out}", "{src}", f"-L{builder.folder}", "-lfwd"],
    )


@pytest.fixture(autouse=True)
def image_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Keep tests away from the user's cache; most tests run with the cache off."""
    folder = tmp_path / "image-cache"
    monkeypatch.setenv("APPVIRT_CACHE_DIR", str(folder))
    monkeypatch.setenv("APPVIRT_NO_CACHE", "1")
    return folder
