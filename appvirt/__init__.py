"""appvirt: run x86 programs in a per-launch virtual machine with a sandboxed view of the host.

The public API is ``Sandbox``, ``Profile``, ``RunResult`` and the errors; everything else is
internal. Imports are lazy so ``import appvirt`` (and ``appvirt --help``) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    AppvirtError,
    LimitExceeded,
    NotExecutableError,
    ProfileError,
    ProgramNotFoundError,
    SandboxBusyError,
    UsageError,
)

if TYPE_CHECKING:
    from .profile import Profile
    from .sandbox import RunResult, Sandbox

__all__ = [
    "AppvirtError",
    "LimitExceeded",
    "NotExecutableError",
    "Profile",
    "ProfileError",
    "ProgramNotFoundError",
    "RunResult",
    "Sandbox",
    "SandboxBusyError",
    "UsageError",
]


def __getattr__(name: str) -> Any:
    if name in ("Sandbox", "RunResult"):
        from . import sandbox

        return getattr(sandbox, name)
    if name == "Profile":
        from .profile import Profile

        return Profile
    raise AttributeError(name)
