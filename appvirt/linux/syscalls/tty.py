"""Terminal ioctls on the stdio streams the user handed to the sandbox.

The guest's controlling terminal is the user's own terminal (it is the run's I/O channel), so
window size and termios are read from, and mode changes applied to, that host descriptor only.
"""

from __future__ import annotations

import errno
import fcntl
import struct
import termios
from typing import TYPE_CHECKING

from ...vfs.types import OpenFile
from ..syscall import SyscallError

if TYPE_CHECKING:
    from ..kernel import Task

TCGETS = 0x5401
TCSETS = 0x5402
TCSETSW = 0x5403
TCSETSF = 0x5404
TIOCGPGRP = 0x540F
TIOCSPGRP = 0x5410
TIOCGWINSZ = 0x5413
TIOCSWINSZ = 0x5414
TIOCGSID = 0x5429
_TERMIOS = struct.Struct("<IIIIB19B")
_WHEN = {TCSETS: termios.TCSANOW, TCSETSW: termios.TCSADRAIN, TCSETSF: termios.TCSAFLUSH}


def terminal_ioctl(t: Task, f: OpenFile, req: int, arg: int) -> int:
    host = f.host_fd()
    mem = t.proc.mem
    if req == TIOCGWINSZ:
        raw = b"\0" * 8
        if host is not None:
            try:
                raw = fcntl.ioctl(host, termios.TIOCGWINSZ, raw)
            except OSError:
                pass
        if raw == b"\0" * 8:
            raw = struct.pack("<4H", 24, 80, 0, 0)
        mem.write(arg, raw)
        return 0
    if req == TIOCSWINSZ:
        return 0
    if req == TIOCGPGRP:
        mem.write(arg, struct.pack("<i", t.proc.pgid))
        return 0
    if req == TIOCSPGRP:
        return 0
    if req == TIOCGSID:
        mem.write(arg, struct.pack("<i", t.proc.sid))
        return 0
    if req == TCGETS:
        if host is None:
            raise SyscallError(errno.ENOTTY)
        iflag, oflag, cflag, lflag, _isp, _osp, cc = termios.tcgetattr(host)
        ccs = [c[0] if isinstance(c, bytes) else c for c in cc][:19]
        mem.write(arg, _TERMIOS.pack(iflag, oflag, cflag, lflag, 0, *ccs))
        return 0
    if req in _WHEN:
        if host is None:
            raise SyscallError(errno.ENOTTY)
        fields = _TERMIOS.unpack(mem.read(arg, _TERMIOS.size))
        old = termios.tcgetattr(host)
        cc = list(old[6])
        for i, value in enumerate(fields[5:]):
            if i < len(cc):
                cc[i] = bytes([value]) if isinstance(cc[i], bytes) else value
        termios.tcsetattr(
            host, _WHEN[req], [fields[0], fields[1], fields[2], fields[3], old[4], old[5], cc]
        )
        return 0
    raise SyscallError(errno.EINVAL)
