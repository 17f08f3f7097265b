"""The one place appvirt imports pyfakefs, kept from loading what a launch never uses.

``pyfakefs.fake_filesystem`` imports ``doctest`` (and with it ``unittest``: ~10 ms of every launch)
only to name the return type of its self-test. It is imported here with a stand-in ``doctest``
that is removed again at once, so a later ``import doctest`` anywhere gets the real module.

Nor should pyfakefs import ``fake_pathlib`` (unittest.mock, asyncio: ~35 ms) at every launch.

pyfakefs' ``make_string_path`` imports ``pyfakefs.fake_pathlib`` on every call only to recognise its
own ``FakePath`` objects, and ``FakeFilesystem()`` calls it. appvirt never makes a ``FakePath``, and
none can exist before that module is loaded, so until then ``os.fspath`` gives the same answer.
Once something else has loaded ``fake_pathlib`` (a test using pyfakefs' patcher), the original runs.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any


def _import_fake_filesystem() -> None:
    if "doctest" in sys.modules or "pyfakefs.fake_filesystem" in sys.modules:
        return
    stand_in = types.ModuleType("doctest")
    stand_in.TestResults = tuple  # type: ignore[attr-defined]  # an annotation in pyfakefs
    sys.modules["doctest"] = stand_in
    try:
        import pyfakefs.fake_filesystem  # noqa: F401
    except (ImportError, AttributeError):  # a pyfakefs that uses more of doctest: the real one
        sys.modules.pop("pyfakefs.fake_filesystem", None)
    finally:
        if sys.modules.get("doctest") is stand_in:
            del sys.modules["doctest"]


_import_fake_filesystem()

from pyfakefs import fake_filesystem, fake_os, fake_path, fake_scandir, helpers  # noqa: E402
from pyfakefs.fake_file import FakeDirectory, FakeFile  # noqa: E402
from pyfakefs.fake_filesystem import FakeFilesystem  # noqa: E402
from pyfakefs.helpers import FakeStatResult  # noqa: E402

__all__ = ["FakeDirectory", "FakeFile", "FakeFilesystem", "FakeStatResult", "install"]

_original = helpers.make_string_path


def make_string_path(dir_name: Any) -> Any:
    if "pyfakefs.fake_pathlib" in sys.modules:
        return _original(dir_name)
    return os.fspath(dir_name)


def install() -> None:
    """Replace the function in every pyfakefs module that imported it by name."""
    for module in (helpers, fake_filesystem, fake_os, fake_path, fake_scandir):
        if getattr(module, "make_string_path", None) is _original:
            module.make_string_path = make_string_path  # type: ignore[attr-defined]
