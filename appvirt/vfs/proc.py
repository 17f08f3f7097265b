"""/proc: generated from the guest's own state, never read from the host.

The kernel gives the VFS a ``ProcProvider`` (``vfs.proc``) describing the calling process; /proc/self
and /proc/<pid> are built from it on each lookup. System-wide files (cpuinfo, meminfo, ...) are fixed
or derived from the VFS's settings, so nothing of the host leaks. /proc/self/root is a symlink to
``/`` and therefore lands on the namespace root; /proc/self/fd/N are magic links (see resolve.py).
"""

from __future__ import annotations

import posixpath
import time
import weakref
from collections.abc import Callable
from typing import Protocol

from .mounts import Mount
from .namespace import (
    S_IFLNK,
    S_IFREG,
    DirNode,
    FileNode,
    MagicLink,
    Namespace,
    Node,
    attach,
    name_of,
)
from .types import MountMode, OpenFile

Producer = Callable[[], bytes]

KERNEL_RELEASE = "6.1.0-appvirt"
KERNEL_VERSION = "#1 SMP PREEMPT_DYNAMIC appvirt"


class ProcProvider(Protocol):
    """What the kernel tells the VFS about the calling process."""

    def pid(self) -> int: ...

    def exe(self) -> str: ...

    def cwd(self) -> str: ...

    def fds(self) -> dict[int, OpenFile]: ...

    def maps(self) -> str: ...

    def cmdline(self) -> bytes: ...

    def environ(self) -> bytes: ...

    def status(self) -> str: ...

    # Other processes (optional: a provider without them shows /proc/self only).
    # pids() -> list[int]; view(pid) -> ProcProvider | None; ppid(), state(), group(), name()


class ProcContext:
    """State the /proc nodes read: the provider, the mount table, fixed machine facts."""

    def __init__(self, mount: Mount, mounts: list[Mount], mem_total: int) -> None:
        self.provider: ProcProvider | None = None
        self.mount = mount
        self.mounts = mounts
        self.mem_total = mem_total
        self.started = time.monotonic()
        self.boot_time = int(time.time())
        self._inos: dict[str, int] = {}

    def ino(self, key: str) -> int:
        """Stable inode numbers for generated entries."""
        return self._inos.setdefault(key, 0x4000_0000 + len(self._inos))


class ProcFile(FileNode):
    """A generated read-only file; its content is produced when opened."""

    def __init__(self, parent: DirNode, name: str, ctx: ProcContext, produce: Producer) -> None:
        super().__init__(parent.filesystem, name, S_IFREG | 0o444, ctx.mount)
        self.produce = produce
        _place(self, parent, ctx)


class ProcDir(DirNode):
    """A generated directory: ``child``/``names`` compute the entries on each lookup."""

    dynamic = True

    def __init__(self, parent: DirNode, name: str, ctx: ProcContext) -> None:
        super().__init__(parent.filesystem, name, 0o555, ctx.mount)
        self.ctx = ctx
        _place(self, parent, ctx)


def _place(node: Node, parent: DirNode, ctx: ProcContext) -> None:
    """Give a generated node its stable inode number and its (weak) parent."""
    node.parent_dir = weakref.ref(parent)
    sr = node.stat_result
    sr.st_ino = ctx.ino(f"{parent.stat_result.st_ino}/{name_of(node)}")
    sr.st_dev = ctx.mount.dev
    sr.st_uid = sr.st_gid = 0
    sr.st_nlink = 2 if isinstance(node, DirNode) else 1
    sr.st_atime_ns = sr.st_mtime_ns = sr.st_ctime_ns = ctx.boot_time * 1_000_000_000


def _symlink(parent: DirNode, name: str, target: str, ctx: ProcContext) -> FileNode:
    node = FileNode(parent.filesystem, name, S_IFLNK | 0o777, ctx.mount, target=target)
    _place(node, parent, ctx)
    return node


class ProcRoot(DirNode):
    """/proc: fixed files as real entries, ``self`` and ``<pid>`` computed per lookup."""

    dynamic = True

    def __init__(self, ns: Namespace, ctx: ProcContext) -> None:
        super().__init__(ns.fs, "proc", 0o555, ctx.mount)
        self.ctx = ctx

    def child(self, name: str) -> Node | None:
        provider = self.ctx.provider
        if name == "self":
            if provider is None:
                return ProcDir(self, "self", self.ctx)
            return _symlink(self, "self", str(provider.pid()), self.ctx)
        if provider is None or not name.isdigit() or name != str(int(name)):
            return None
        if int(name) == provider.pid():
            return ProcPidDir(self, name, self.ctx, provider)
        view = getattr(provider, "view", None)
        other = view(int(name)) if view is not None else None
        return None if other is None else ProcPidDir(self, name, self.ctx, other)

    def names(self) -> list[str]:
        provider = self.ctx.provider
        if provider is None:
            return ["self"]
        pids = getattr(provider, "pids", None)
        return ["self", *(str(p) for p in (pids() if pids is not None else [provider.pid()]))]


class ProcPidDir(ProcDir):
    """/proc/<pid>: the calling process, or another guest process through its own provider."""

    FILES = ("cmdline", "comm", "environ", "maps", "mounts", "stat", "status")
    LINKS = ("cwd", "exe", "root")

    def __init__(
        self, parent: DirNode, name: str, ctx: ProcContext, provider: ProcProvider
    ) -> None:
        super().__init__(parent, name, ctx)
        self.provider = provider

    def child(self, name: str) -> Node | None:
        provider = self.provider
        ctx = self.ctx
        if name == "fd":
            return ProcFdDir(self, "fd", ctx)
        if name == "exe":
            return _symlink(self, name, provider.exe(), ctx)
        if name == "cwd":
            return _symlink(self, name, provider.cwd(), ctx)
        if name == "root":
            return _symlink(self, name, "/", ctx)
        producers: dict[str, Producer] = {
            "cmdline": provider.cmdline,
            "environ": provider.environ,
            "maps": lambda: provider.maps().encode(),
            "status": lambda: provider.status().encode(),
            "stat": lambda: pid_stat(provider).encode(),
            "comm": lambda: (comm_of(provider) + "\n").encode(),
            "mounts": lambda: mounts_text(ctx.mounts).encode(),
        }
        produce = producers.get(name)
        return None if produce is None else ProcFile(self, name, ctx, produce)

    def names(self) -> list[str]:
        return sorted((*self.FILES, *self.LINKS, "fd"))


class ProcFdDir(ProcDir):
    """/proc/<pid>/fd: one magic link per open fd of that process."""

    def _fds(self) -> dict[int, OpenFile]:
        parent = self.parent_dir() if self.parent_dir is not None else None
        provider = getattr(parent, "provider", None) or self.ctx.provider
        return {} if provider is None else provider.fds()

    def child(self, name: str) -> Node | None:
        if not name.isdigit():
            return None
        file = self._fds().get(int(name))
        if file is None:
            return None
        node = MagicLink(self.filesystem, name, self.ctx.mount, file)
        _place(node, self, self.ctx)
        return node

    def names(self) -> list[str]:
        return [str(fd) for fd in sorted(self._fds())]


def build(ns: Namespace, ctx: ProcContext) -> ProcRoot:
    root = ProcRoot(ns, ctx)
    root.mount_root = True
    sr = root.stat_result
    sr.st_ino, sr.st_dev = 1, ctx.mount.dev
    sr.st_uid = sr.st_gid = 0
    fixed: dict[str, Producer] = {
        "cpuinfo": lambda: CPUINFO.encode(),
        "meminfo": lambda: meminfo(ctx.mem_total).encode(),
        "uptime": lambda: uptime(ctx).encode(),
        "loadavg": lambda: loadavg(ctx).encode(),
        "version": lambda: VERSION.encode(),
        "filesystems": lambda: FILESYSTEMS.encode(),
        "stat": lambda: system_stat(ctx).encode(),
        # a file rather than Linux's symlink to self/mounts, so it works without a provider
        "mounts": lambda: mounts_text(ctx.mounts).encode(),
    }
    for name, produce in fixed.items():
        attach(root, name, ProcFile(root, name, ctx, produce), count=False)
    return root


def comm_of(provider: ProcProvider) -> str:
    name = getattr(provider, "name", None)
    return name() if name is not None else posixpath.basename(provider.exe())[:15]


def pid_stat(provider: ProcProvider) -> str:
    """The fields ps and top read: pid, comm, state, ppid, pgrp, session, tty, tpgid, flags..."""
    pid = provider.pid()
    state = getattr(provider, "state", lambda: "R")()
    ppid = getattr(provider, "ppid", lambda: 0)()
    pgid, sid = getattr(provider, "group", lambda: (pid, pid))()
    fields = [str(pid), f"({comm_of(provider)})", state, str(ppid), str(pgid), str(sid), "0", "-1"]
    fields += ["4194304"] + ["0"] * 8 + ["20", "0", "1", "0", "0", "0", "0"]
    fields += ["0"] * (52 - len(fields))
    return " ".join(fields) + "\n"


def mounts_text(mounts: list[Mount]) -> str:
    lines = []
    for m in mounts:
        where = m.guest.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011")
        if m.special == "proc":
            source, fstype, opts = "proc", "proc", "rw,nosuid,nodev,noexec,relatime"
        elif m.special == "dev":
            source, fstype, opts = "devtmpfs", "devtmpfs", "rw,nosuid"
        elif m.host is None:
            source, fstype, opts = "tmpfs", "tmpfs", "rw,nosuid,nodev"
        else:
            source, fstype = "appvirt", "ext4"
            opts = "ro,relatime" if m.mode is MountMode.RO else "rw,relatime"
        lines.append(f"{source} {where} {fstype} {opts} 0 0\n")
    return "".join(lines)


def meminfo(total: int) -> str:
    kb = total // 1024
    rows = [
        ("MemTotal", kb),
        ("MemFree", kb * 3 // 4),
        ("MemAvailable", kb * 3 // 4),
        ("Buffers", 0),
        ("Cached", kb // 16),
        ("SwapCached", 0),
        ("Active", kb // 8),
        ("Inactive", kb // 16),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Shmem", 0),
        ("CommitLimit", kb),
        ("Committed_AS", kb // 8),
        ("VmallocTotal", 34359738367),
        ("HugePages_Total", 0),
        ("Hugepagesize", 2048),
    ]
    return "".join(
        f"{name + ':':<16}{value:>8}" + ("\n" if name.startswith("HugePages_") else " kB\n")
        for name, value in rows
    )


def uptime(ctx: ProcContext) -> str:
    up = time.monotonic() - ctx.started
    return f"{up:.2f} {up * 0.9:.2f}\n"


def loadavg(ctx: ProcContext) -> str:
    pid = ctx.provider.pid() if ctx.provider is not None else 1
    return f"0.00 0.00 0.00 1/1 {pid}\n"


def system_stat(ctx: ProcContext) -> str:
    ticks = int((time.monotonic() - ctx.started) * 100)
    return (
        f"cpu  {ticks} 0 0 0 0 0 0 0 0 0\n"
        f"cpu0 {ticks} 0 0 0 0 0 0 0 0 0\n"
        "intr 0\nctxt 0\n"
        f"btime {ctx.boot_time}\n"
        "processes 1\nprocs_running 1\nprocs_blocked 0\n"
    )


VERSION = (
    f"Linux version {KERNEL_RELEASE} (appvirt@appvirt) (gcc version 12.2.0) {KERNEL_VERSION}\n"
)

FILESYSTEMS = "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tdevtmpfs\nnodev\tpipefs\n\text4\n"

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 6
model name\t: QEMU Virtual CPU version 2.5+
stepping\t: 3
microcode\t: 0x1
cpu MHz\t\t: 2400.000
cache size\t: 16384 KB
physical id\t: 0
siblings\t: 1
core id\t\t: 0
cpu cores\t: 1
apicid\t\t: 0
initial apicid\t: 0
fpu\t\t: yes
fpu_exception\t: yes
cpuid level\t: 13
wp\t\t: yes
flags\t\t: fpu de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx \
fxsr sse sse2 syscall nx lm rep_good nopl cpuid pni cx16 hypervisor lahf_lm
bogomips\t: 4800.00
clflush size\t: 64
cache_alignment\t: 64
address sizes\t: 40 bits physical, 48 bits virtual
power management:

"""
