"""Keep pyfakefs from importing ``fake_pathlib`` (unittest.mock, asyncio: ~35 ms) at every launch.

pyfakefs' ``make_string_path`` imports ``pyfakefs.fake_pathlib`` on every call only to recognise its
own ``FakePath`` objects, and ``FakeFilesystem()`` calls it. appvirt never makes a ``FakePath``, and
none can exist before that module is loaded, so until then ``os.fspath`` gives the same answer.
Once something else has loaded ``fake_pathlib`` (a test using pyfakefs' patcher), the original runs.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from pyfakefs import fake_filesystem, fake_os, fake_path, fake_scandir, helpers

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
