"""The ``appvirt`` console command as a process: what happens before the CLI and after it.

Three things that belong to the command, not to the Python API:
- ``--trace`` without ``=FILE`` means stderr (click would take the next word as the file);
- the emulator library is loaded on another core while click and pyfakefs import: the dynamic
  linker's relocations of libunicorn are most of ``import unicorn`` (~20 of ~40 ms), and ctypes
  releases the GIL around ``dlopen``, so a thread can do them meanwhile; unicorn's own import then
  finds the library loaded;
- the process ends with ``os._exit`` once stdout and stderr are flushed: Python's teardown (module
  and libunicorn clean-up, ~15 ms) does nothing appvirt needs, since it registers no atexit
  functions and closes its files in ``with`` blocks.
"""

from __future__ import annotations

import os
import sys

# Subcommands that run guest code; any other (--help, profiles, sandbox show) skips the preload.
_EMULATING = {"run", "vm"}


def _warm_emulator_library() -> None:
    from importlib.util import find_spec

    try:
        spec = find_spec("unicorn")
    except (ImportError, ValueError):
        return
    if spec is None or spec.origin is None:
        return
    lib = os.path.join(os.path.dirname(spec.origin), "lib", "libunicorn.so.2")
    if not os.path.exists(lib):
        return
    import ctypes
    import threading

    def load() -> None:
        try:
            ctypes.CDLL(lib)
        except OSError:  # unicorn's own import reports a broken library
            pass

    threading.Thread(target=load, name="appvirt-preload", daemon=True).start()


def _fix_trace(argv: list[str]) -> list[str]:
    if "run" not in argv:
        return argv
    cut = argv.index("run")
    head, tail = argv[: cut + 1], argv[cut + 1 :]
    fixed = []
    for i, arg in enumerate(tail):
        if not arg.startswith("-"):
            fixed.extend(tail[i:])
            break
        fixed.append("--trace=-" if arg == "--trace" else arg)
    return head + fixed


def _exit(code: object) -> None:
    """``sys.exit(code)``'s outcome without the interpreter's teardown."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more to say there
            pass
    os._exit(status & 0xFF)


def entry() -> None:
    """Console entry point (``appvirt`` and ``python -m appvirt``)."""
    argv = sys.argv[1:]
    if _EMULATING & set(argv):
        _warm_emulator_library()
    from .cli import main

    try:
        main(args=_fix_trace(argv), prog_name="appvirt")
    except SystemExit as done:
        _exit(done.code)
    _exit(0)
