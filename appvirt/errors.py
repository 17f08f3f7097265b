"""One exception tree for everything appvirt reports to a user.

Each error carries the exit code the CLI returns for it and renders as the one-line message
``appvirt: error: ...``; nothing else should reach a user as a traceback.
"""

from __future__ import annotations


class AppvirtError(Exception):
    """Base of every error appvirt reports; ``exit_code`` is what the CLI exits with."""

    exit_code = 125

    def one_line(self) -> str:
        text = " ".join(str(self).split())
        return f"appvirt: error: {text}"


class UsageError(AppvirtError):
    """A bad option, argument or profile: appvirt's own error (125)."""


class ProfileError(UsageError):
    """A profile that does not parse or validate; the message names file, line and key."""


class NotExecutableError(AppvirtError):
    """The file exists but is not a program appvirt can run: malformed, wrong arch (126)."""

    exit_code = 126


class ProgramNotFoundError(AppvirtError):
    """The program path does not exist (127)."""

    exit_code = 127


class LimitExceeded(AppvirtError):
    """A sandbox limit stopped the run; the exit code is documented per limit."""

    def __init__(self, limit: str, detail: str, exit_code: int) -> None:
        super().__init__(f"{limit} limit reached: {detail}")
        self.limit = limit
        self.exit_code = exit_code


class SandboxBusyError(AppvirtError):
    """Another run holds the sandbox folder's lock."""


class InternalError(AppvirtError):
    """A bug in appvirt itself; reported in one line, with details only under --debug."""

    exit_code = 125
