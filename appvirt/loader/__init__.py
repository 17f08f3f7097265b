"""Turn ELF and PE files into ``Image``s: format detection, the Image cache, one error type.

``load(path)`` and ``load_bytes(data, name)`` are the whole public surface. Importing this package
is cheap: LIEF (about half a second to import) is imported only when a file is actually parsed, never
on a cache hit. Every failure to understand a file, including anything LIEF itself raises, leaves
as ``NotExecutableError`` with a one-line message that starts with the file's name.
"""

from __future__ import annotations

import os
import stat

from appvirt.errors import NotExecutableError, ProgramNotFoundError
from appvirt.loader import cache
from appvirt.loader.image import Arch, Export, Format, Image, Import, Perm, Segment, TlsInfo

__all__ = [
    "Arch",
    "Export",
    "Format",
    "Image",
    "Import",
    "Perm",
    "Segment",
    "TlsInfo",
    "load",
    "load_bytes",
]

ELF_MAGIC = b"\x7fELF"
PE_MAGIC = b"MZ"

# Larger files are refused before they are read into memory.
MAX_FILE_SIZE = 1 << 31


def load(path: str) -> Image:
    """Load the executable at ``path`` (from the Image cache when its bytes were seen before)."""
    return load_bytes(_read(path), path)


def load_bytes(data: bytes, name: str) -> Image:
    """Load an executable held in memory; ``name`` becomes ``Image.path`` and prefixes errors."""
    use_cache = cache.enabled()
    data_key = cache.key(data) if use_cache else ""
    if use_cache:
        cached = cache.get(data_key)
        if cached is not None:
            cached.path = name
            return cached
    image = _parse(data, name)
    if use_cache:
        cache.put(data_key, image)
    return image


def _read(path: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ProgramNotFoundError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise NotExecutableError(f"{path}: is a directory") from None
    except OSError as exc:
        raise NotExecutableError(f"{path}: cannot open: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise NotExecutableError(f"{path}: is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise NotExecutableError(f"{path}: not a regular file")
        if info.st_size > MAX_FILE_SIZE:
            raise NotExecutableError(f"{path}: file too large ({info.st_size} bytes)")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_FILE_SIZE + 1)
        if len(data) > MAX_FILE_SIZE:  # it grew after fstat
            raise NotExecutableError(f"{path}: file too large")
        return data
    except OSError as exc:
        raise NotExecutableError(f"{path}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _parse(data: bytes, name: str) -> Image:
    try:
        if data.startswith(ELF_MAGIC):
            from appvirt.loader import elf

            return elf.parse(data, name)
        if data.startswith(PE_MAGIC):
            from appvirt.loader import pe

            return pe.parse(data, name)
    except NotExecutableError as exc:
        raise NotExecutableError(f"{name}: {_one_line(str(exc))}") from None
    except Exception as exc:  # LIEF or a parser bug: the file is still not something we can run
        detail = _one_line(f"{type(exc).__name__}: {exc}")[:200]
        raise NotExecutableError(f"{name}: corrupt executable ({detail})") from exc
    if not data:
        raise NotExecutableError(f"{name}: empty file, not an ELF or PE executable")
    if data.startswith(b"#!"):
        raise NotExecutableError(f"{name}: a script (#!), not an ELF or PE executable")
    raise NotExecutableError(f"{name}: not an ELF or PE executable")


def _one_line(text: str) -> str:
    return " ".join(text.split())
