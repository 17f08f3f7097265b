"""What a launch imports: `appvirt --help` without the VFS, a run without pyfakefs' pathlib layer.

Not timed: each check names modules that must stay out of a fresh interpreter (they cost tens of
milliseconds on every launch; see docs/performance.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_cli_import_leaves_the_vfs_and_the_emulator_alone() -> None:
    mods = _modules_after("import appvirt.cli")
    assert not {"pyfakefs", "unicorn", "appvirt.vfs.vfs", "appvirt.linux.kernel"} & mods


def test_a_run_does_not_import_fake_pathlib_or_asyncio() -> None:
    mods = _modules_after(
        "import io\nfrom appvirt import Sandbox\n"
        "Sandbox().run(['samples/bin/linux/hello-x86_64'], stdout=io.BytesIO())"
    )
    assert "appvirt.linux.kernel" in mods
    assert not {"pyfakefs.fake_pathlib", "unittest.mock", "asyncio"} & mods
    # pyfakefs imports doctest (and unittest) for an annotation; no profile file, no TOML parser;
    # no sandbox folder, no change collection.
    assert not {"doctest", "unittest", "tomllib", "json", "appvirt.vfs.changes"} & mods
    # The Image cache's blake2b comes from CPython's own module, not through OpenSSL.
    assert "_hashlib" not in mods
    # No sandbox folder: nothing persists, so the persist package is not loaded.
    assert not {"appvirt.persist.folder", "appvirt.persist.layer"} & mods


def test_cli_run_leaves_subcommands_and_their_parsers_alone() -> None:
    mods = _modules_after(
        "import sys\nfrom appvirt.cli import main\n"
        "try:\n    main(['run', 'samples/bin/linux/hello-x86_64'], prog_name='appvirt')\n"
        "except SystemExit:\n    pass"
    )
    assert "appvirt.linux.kernel" in mods
    assert not {"appvirt.windows.cli", "appvirt.system.cli", "appvirt.persist.cli"} & mods
    assert not {"appvirt.profiles_cli", "tomllib", "json"} & mods


def test_doctest_imported_after_the_vfs_is_the_real_one() -> None:
    code = (
        "from appvirt.vfs import namespace\n"
        "import doctest, pyfakefs.fake_filesystem as ff\n"
        "assert doctest.testmod and doctest.TestResults(0, 0).failed == 0\n"
        "assert ff.FakeFilesystem().exists('/')\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_fake_pathlib_still_works_once_loaded() -> None:
    # Someone else (a test using pyfakefs' patcher) loading it gets the original behaviour back.
    code = (
        "from appvirt.vfs import namespace  # installs the shortcut\n"
        "from pyfakefs import fake_pathlib, helpers\n"
        "from pyfakefs.fake_filesystem import FakeFilesystem\n"
        "fs = FakeFilesystem()\n"
        "p = fake_pathlib.FakePathlibModule(fs).Path('/x/y')\n"
        "assert helpers.make_string_path(p) == '/x/y'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
