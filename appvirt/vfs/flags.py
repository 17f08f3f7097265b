"""Linux constants the VFS API speaks in (x86 numbering, same for i386 and x86-64).

The guest's flag words are passed through unchanged, so these are Linux's values, not the host
Python's ``os.O_*`` (which happen to match on an x86 Linux host, but not elsewhere).
"""

from __future__ import annotations

O_RDONLY = 0
O_WRONLY = 1
O_RDWR = 2
O_ACCMODE = 3
O_CREAT = 0o100
O_EXCL = 0o200
O_NOCTTY = 0o400
O_TRUNC = 0o1000
O_APPEND = 0o2000
O_NONBLOCK = 0o4000
O_DSYNC = 0o10000
O_DIRECT = 0o40000
O_LARGEFILE = 0o100000
O_DIRECTORY = 0o200000
O_NOFOLLOW = 0o400000
O_NOATIME = 0o1000000
O_CLOEXEC = 0o2000000
O_SYNC = 0o4010000
O_PATH = 0o10000000
O_TMPFILE = 0o20200000  # includes O_DIRECTORY, as in Linux

SEEK_SET = 0
SEEK_CUR = 1
SEEK_END = 2
SEEK_DATA = 3
SEEK_HOLE = 4

F_OK = 0
X_OK = 1
W_OK = 2
R_OK = 4

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
RENAME_WHITEOUT = 4

PATH_MAX = 4096  # including the terminating NUL: a path may hold 4095 bytes
NAME_MAX = 255
SYMLOOP_MAX = 40
