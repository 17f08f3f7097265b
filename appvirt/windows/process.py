"""One Windows process: its Machine, modules, heaps, handles, environment and exit.

``WinProcess.load`` maps the program and every DLL it imports (fake system DLLs built from the API
declarations, real DLLs from the program's folder or the current folder), fills the import address
tables, builds the TEB/PEB, the stack, the process heap and implicit TLS, and installs the trap
that serves API calls (dispatch.py). ``run`` then calls DLL entry points and TLS callbacks and runs
the entry point until the process exits.
"""

from __future__ import annotations

import struct
import time
from collections import defaultdict
from typing import Any

from unicorn import x86_const as x86

from .. import loader
from ..core.clock import Clock
from ..core.events import Events
from ..core.machine import Machine, Stop, seg_descriptor
from ..errors import NotExecutableError
from ..loader.image import Format
from ..profile import Profile
from ..vfs.types import OpenFile
from . import paths
from .api.decl import APIS, Api, canonical_dll
from .handles import FileHandle, Handles
from .heap import Heap
from .modules import Module, ModuleBuilder, unknown_api
from .peb import ProcessBlocks

TEB_GDT_INDEX = 10  # i386: FS points here (Linux's TLS entries are 6..8)
DLL_PROCESS_ATTACH = 1
DLL_PROCESS_DETACH = 0

# System DLLs that exist on every Windows: imports from one we do not declare still resolve (to
# exports that fail as documented) instead of refusing to start the program.
SYSTEM_DLLS = frozenset({
    "kernel32", "ntdll", "msvcrt", "advapi32", "user32", "shell32", "shlwapi", "gdi32", "ole32",
    "oleaut32", "comctl32", "comdlg32", "version", "winmm", "ws2_32", "wsock32", "crypt32",
    "secur32", "rpcrt4", "imm32", "psapi", "dbghelp", "userenv", "setupapi", "winspool.drv",
    "bcrypt", "iphlpapi", "netapi32", "mpr", "wininet", "winhttp", "uxtheme", "dwmapi", "shcore",
    "msvcp60", "vcruntime140", "msvcr100", "msvcr110", "msvcr120", "msvcr90", "msvcr80",
    "msvcr71", "msvcr70", "crtdll", "powrprof", "wtsapi32", "sechost",
})  # fmt: skip
CRT_ALIASES = ("vcruntime140", "msvcr100", "msvcr110", "msvcr120", "msvcr90", "msvcr80",
               "msvcr71", "msvcr70", "crtdll")  # fmt: skip


class ProcessExit(Exception):
    """Raised by ExitProcess (and friends) to end the run from inside any handler."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code & 0xFFFFFFFF


class GuestCrash(Exception):
    """An unhandled exception (access violation, illegal instruction) ended the process."""

    def __init__(self, status: int, address: int) -> None:
        super().__init__(f"unhandled exception {status:#x} at {address:#x}")
        self.status = status
        self.address = address


class WinProcess:
    """The state of one Windows process; API handlers receive it as their first argument."""

    def __init__(
        self, vfs: Any, events: Events, profile: Profile, clock: Clock, registry: Any
    ) -> None:
        self.vfs = vfs
        self.events = events
        self.profile = profile
        self.clock = clock
        self.registry = registry
        self.tracing = events.trace is not None
        self.apis: list[Api] = []
        self.api_counts: list[int] = []  # calls per index of ``apis`` (dispatch.py)
        self.handles = Handles()
        self.modules: list[Module] = []
        self.by_name: dict[str, Module] = {}  # lower-case base name -> module
        self.exit_code: int | None = None
        self.crash: GuestCrash | None = None
        self.interrupted = False
        self.pid = 0x1000 + (id(self) >> 4) % 0x1000 * 4
        self.tid = self.pid + 4
        self.state: dict[str, Any] = {}  # per-DLL state (msvcrt stdio, locale ...), by name
        self.atexit: list[int] = []
        self.callback_returned = False
        self.callback_result = 0
        self.heaps: dict[int, Heap] = {}
        self.time_limit = profile.limits.time
        # Windows threads are not counted: an instruction limit is a wall-time budget at the rate
        # counted Linux code exceeds (linux/runner.py), reported as the instruction limit.
        self.instruction_budget: float | None = None
        if profile.limits.instructions is not None:
            self.instruction_budget = profile.limits.instructions / 5_000_000
            if self.time_limit is None or self.instruction_budget < self.time_limit:
                self.time_limit = self.instruction_budget
        self.start_ns = time.monotonic_ns()
        self.sched: Any = None  # the run's thread scheduler (sched.py), shared by every process
        self.thread: Any = None  # the thread being served (threads.py)

    # -- loading --------------------------------------------------------------------------------
    def load(self, vfs_path: str, argv: list[str], env: dict[str, str], stdio: list[OpenFile],
             cwd_vfs: str) -> None:  # fmt: skip
        data = self.vfs.read_bytes(vfs_path)
        image = loader.load_bytes(data, vfs_path)
        if image.format is not Format.PE:
            raise NotExecutableError(f"{vfs_path}: not a Windows PE program")
        if image.is_dll:
            raise NotExecutableError(f"{vfs_path}: a DLL, not a program")
        self.image = image
        self.is64 = image.arch.bits == 64
        self.word = 8 if self.is64 else 4
        self.machine = Machine(image.arch, self.profile.limits.memory)
        self.mem = self.machine.mem
        self.uc = self.machine.uc
        self.builder = ModuleBuilder(self.mem, self.is64, self._register)
        self.exe_path = paths.to_win(vfs_path)
        self.exe_dir = self.exe_path.rsplit("\\", 1)[0]
        self.cwd = paths.to_win(cwd_vfs)
        self.blocks = ProcessBlocks(self.mem, self.is64)
        exe = self.builder.map_image(image, vfs_path.rsplit("/", 1)[-1], self.exe_path)
        self._add_module(exe)
        self.exe = exe
        self.blocks.set_image_base(exe.base)
        self._internal = self.builder.build_fake("appvirt", "appvirt.dll")
        self.sentinel = self._internal.exports["__callback_return"]
        self._resolve_imports(exe)
        from .dispatch import install_traps
        from .startup import setup_process

        install_traps(self)
        setup_process(self, argv, env, stdio)

    def _register(self, api: Api) -> int:
        self.apis.append(api)
        return len(self.apis) - 1

    def _add_module(self, module: Module) -> None:
        self.modules.append(module)
        self.by_name[module.name.lower()] = module
        module.ldr_entry = self.blocks.add_module(module.base, module.entry, module.size,
                                                  module.path, module.name)  # fmt: skip

    def _resolve_imports(self, module: Module) -> None:
        image = module.image
        assert image is not None
        delta = module.base - image.base
        groups: dict[str, list[Any]] = defaultdict(list)
        for imp in image.imports:
            groups[imp.dll].append(imp)
        for dll, imps in groups.items():
            names = [i.name for i in imps if i.name]
            target = self.find_module(dll, wanted=names)
            if target is None:
                raise NotExecutableError(
                    f"{image.path}: {dll} was not found (not a system DLL, and not in the "
                    "program's folder or the current folder)"
                )
            fmt = "<Q" if self.is64 else "<I"
            for imp in imps:
                addr = self.export_address(target, imp.name, imp.ordinal, create=True)
                self.mem.poke(imp.slot + delta, struct.pack(fmt, addr))

    def find_module(
        self, name: str, wanted: list[str] | None = None, search: bool = True
    ) -> Module | None:
        """The loaded module called ``name``, else a fake system DLL, else a DLL file found on disk."""
        base = name.replace("/", "\\").rsplit("\\", 1)[-1].lower()
        if "." not in base:
            base += ".dll"
        found = self.by_name.get(base)
        if found is not None:
            return found
        key = canonical_dll(base)
        if key in CRT_ALIASES:
            key = "msvcrt"
        if key in SYSTEM_DLLS or any(d == key for d, _ in APIS):
            existing = next((m for m in self.modules if m.fake and m.dll_key == key), None)
            if existing is None:
                file_name = base if key == base[:-4] else key + ".dll"
                existing = self.builder.build_fake(key, file_name, wanted or ())
                self._add_module(existing)
            self.by_name[base] = existing
            return existing
        if not search:
            return None
        return self._load_dll_file(name)

    def _load_dll_file(self, name: str) -> Module | None:
        """Load a real DLL from the program's folder, then the current folder (Windows' order)."""
        candidates = []
        if "\\" in name or "/" in name or ":" in name:
            candidates.append(name)
        else:
            candidates += [self.exe_dir + "\\" + name, self.cwd + "\\" + name]
        for candidate in candidates:
            try:
                full = paths.normalize(candidate, self.cwd)
                vpath = paths.to_vfs(full, self.vfs)
                data = self.vfs.read_bytes(vpath)
            except (OSError, paths.BadPath):
                continue
            image = loader.load_bytes(data, vpath)
            if image.format is not Format.PE or image.arch is not self.image.arch:
                continue
            module = self.builder.map_image(image, vpath.rsplit("/", 1)[-1], paths.to_win(vpath))
            self._add_module(module)
            self._resolve_imports(module)
            module.refs = 1
            self.state.setdefault("pending_init", []).append(module)
            return module
        return None

    def export_address(self, module: Module, name: str | None, ordinal: int | None = None,
                       create: bool = False) -> int:  # fmt: skip
        """Address of an export (0 when missing); ``create`` adds a failing stub to a fake DLL."""
        if name is None:
            return module.ordinals.get(ordinal or 0, 0)
        addr = module.exports.get(name.lower())
        if addr is not None:
            return addr
        forward = module.forwarders.get(name.lower())
        if forward is not None and "." in forward:
            dll, fname = forward.split(".", 1)
            target = self.find_module(dll)
            return self.export_address(target, fname, None, create) if target else 0
        if create and module.fake:
            api = APIS.get((module.dll_key, name.lower())) or unknown_api(module.dll_key, name)
            return self.builder.add_export(module, api)
        return 0

    def fold_calls(self) -> None:
        """Add the per-declaration call counters to the run's counts by name (and zero them)."""
        counts = self.api_counts
        calls = self.events.calls
        for index, n in enumerate(counts):
            if n:
                calls[self.apis[index].name] += n
                counts[index] = 0

    # -- guest memory helpers -------------------------------------------------------------------
    def read(self, addr: int, size: int) -> bytes:
        return self.mem.read(addr, size)

    def write(self, addr: int, data: bytes) -> None:
        self.mem.write(addr, data)

    def read_ptr(self, addr: int) -> int:
        return int.from_bytes(self.mem.read(addr, self.word), "little")

    def write_ptr(self, addr: int, value: int) -> None:
        self.mem.write(addr, (value & ((1 << (8 * self.word)) - 1)).to_bytes(self.word, "little"))

    def read_u32(self, addr: int) -> int:
        return int.from_bytes(self.mem.read(addr, 4), "little")

    def write_u32(self, addr: int, value: int) -> None:
        self.mem.write(addr, (value & 0xFFFFFFFF).to_bytes(4, "little"))

    def read_bytes0(self, addr: int, limit: int = 1 << 20) -> bytes:
        return self.mem.read_cstr(addr, limit)

    def read_str(self, addr: int, limit: int = 1 << 20) -> str:
        return self.mem.read_cstr(addr, limit).decode("cp1252", "surrogateescape")

    def read_wstr(self, addr: int, limit: int = 1 << 19) -> str:
        out = bytearray()
        while len(out) < 2 * limit:
            chunk = self.mem.read(
                addr + len(out), 2 * min(256, 0x800 - ((addr + len(out)) & 0x7FF) // 2 or 1)
            )
            for i in range(0, len(chunk) - 1, 2):
                if chunk[i] == 0 and chunk[i + 1] == 0:
                    out += chunk[:i]
                    return out.decode("utf-16-le", "surrogatepass")
            out += chunk
        return out.decode("utf-16-le", "surrogatepass")

    def read_wstr_n(self, addr: int, count: int) -> str:
        return self.mem.read(addr, 2 * count).decode("utf-16-le", "surrogatepass")

    # -- last error -----------------------------------------------------------------------------
    def set_last_error(self, code: int) -> None:
        self.mem.poke(
            self.blocks.teb + self.blocks.off.teb_last_error, struct.pack("<I", code & 0xFFFFFFFF)
        )

    def last_error(self) -> int:
        raw = self.uc.mem_read(self.blocks.teb + self.blocks.off.teb_last_error, 4)
        return int.from_bytes(raw, "little")

    # -- calling guest code ---------------------------------------------------------------------
    def call(self, fn: int, *args: int) -> int:
        """Call guest function ``fn`` with integer ``args``; returns its EAX/RAX.

        Used for callbacks (qsort comparators, atexit functions, DLL entry points). Registers are
        saved and restored around the call, so it works from inside an API handler.
        """
        uc = self.uc
        ctx = uc.context_save()
        mask = (1 << (8 * self.word)) - 1
        try:
            sp = (self.machine.sp - 0x200) & ~0xF
            if self.is64:
                stack_args = list(args[4:])
                frame = sp - 0x28 - 8 * len(stack_args)
                frame &= ~0xF
                frame -= 8  # at entry RSP is 16n+8, as after a call
                blob = struct.pack("<Q", self.sentinel) + bytes(0x20)
                blob += b"".join(struct.pack("<Q", a & mask) for a in stack_args)
                self.mem.poke(frame, blob)
                regs = (
                    x86.UC_X86_REG_RCX,
                    x86.UC_X86_REG_RDX,
                    x86.UC_X86_REG_R8,
                    x86.UC_X86_REG_R9,
                )
                for reg, value in zip(regs, args[:4], strict=False):
                    self.machine.reg.write(reg, value & mask)
            else:
                frame = sp - 4 * (len(args) + 1)
                frame &= ~0xF
                blob = struct.pack("<I", self.sentinel)
                blob += b"".join(struct.pack("<I", a & mask) for a in args)
                self.mem.poke(frame, blob)
            self.machine.sp = frame
            self.callback_returned = False
            begin = fn
            while True:
                stop = self.machine.call_nested(begin, 0)
                if self.crash is not None:
                    raise self.crash
                if stop is Stop.FAULT:
                    raise GuestCrash(_fault_status(self.machine.fault), self.machine.fault_addr)
                if self.exit_code is not None:
                    raise ProcessExit(self.exit_code)
                if self.callback_returned:
                    break
                begin = self.machine.pc  # an inner stop ended this run early: resume
            self.callback_returned = False
            result = self.callback_result
        finally:
            uc.context_restore(ctx)
        return result

    # -- running --------------------------------------------------------------------------------
    def run(self) -> None:
        """Run DLL initialisers and TLS callbacks, then the entry point, until the process exits
        (with every thread and child process it starts: sched.py)."""
        from .sched import Scheduler

        sched = Scheduler(self)
        try:
            self.init_pending_dlls()
            for callback in self.exe.tls_callbacks:
                self.call(callback, self.exe.base, DLL_PROCESS_ATTACH, 0)
            self.machine.pc = self.exe.entry
            sched.run()
        except ProcessExit as done:
            self.exit_code = done.code
        except GuestCrash as crash:
            self.crash = crash
            self.exit_code = crash.status
            self.events.line(f"unhandled exception {crash.status:#010x} at {crash.address:#x}")
            self.events.emit("crash", status=crash.status, address=crash.address)
        finally:
            from .api import msvcrt

            msvcrt.flush_all(self)
            for pobj in sched.processes:
                pobj.proc.fold_calls()
            sched.close()

    def init_pending_dlls(self) -> None:
        pending = self.state.pop("pending_init", [])
        for module in pending:
            for callback in module.tls_callbacks:
                self.call(callback, module.base, DLL_PROCESS_ATTACH, 0)
            if module.entry:
                self.call(module.entry, module.base, DLL_PROCESS_ATTACH, 0)

    def _offer_exception(self, status: int, address: int) -> bool:
        """A fault stopped the CPU: True when a guest exception handler took it (resume)."""
        from .seh import dispatch_exception

        if self.exit_code is not None or self.crash is not None:
            return False
        return dispatch_exception(self, status, address)

    def set_fs_teb(self) -> None:
        """i386: FS selects a GDT descriptor whose base is the TEB (x64 uses GS_BASE)."""
        if self.is64:
            self.machine.set_gs_base(self.blocks.teb)
            return
        self.machine.write_gdt_entry(
            TEB_GDT_INDEX, seg_descriptor(self.blocks.teb, 0xFFFFF, 0xF2, 0xC)
        )
        self.uc.reg_write(x86.UC_X86_REG_FS, TEB_GDT_INDEX << 3)

    def new_heap(self) -> Heap:
        heap = Heap(self.mem)
        handle = self.blocks.arena.alloc(16)
        heap.handle = handle
        self.heaps[handle] = heap
        return heap

    def close(self) -> None:
        for obj in self.handles.values():
            if isinstance(obj, FileHandle) and obj.std < 0:
                obj.file.close()
        self.handles.clear()
        machine = getattr(self, "machine", None)
        if machine is not None:
            machine.close()


def _fault_status(fault: Any) -> int:
    if fault is not None and fault.value == "invalid":
        return 0xC000001D  # STATUS_ILLEGAL_INSTRUCTION
    return 0xC0000005  # STATUS_ACCESS_VIOLATION
