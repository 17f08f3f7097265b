"""The one module that imports LIEF: silenced, configured to parse only what the loader reads.

Importing this costs about half a second, so only the ELF and PE parsers import it, and they are
imported only on a cache miss. LIEF's own logging is disabled, and the Python warnings its enum
bindings emit for unknown values (``RuntimeWarning: N is not a valid TYPE``) are suppressed around
every call, because a caller running with ``-W error`` would otherwise see them as exceptions.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import lief

lief.logging.disable()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Suppress the warnings LIEF's bindings raise while its objects are read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _elf_config() -> Any:
    config = lief.ELF.ParserConfig()
    # The loader reads headers and program headers only; skipping symbol, relocation, note and
    # version tables saves time and keeps corrupt tables from being walked at all.
    config.parse_dyn_symbols = False
    config.parse_symtab_symbols = False
    config.parse_relocations = False
    config.parse_symbol_versions = False
    config.parse_notes = False
    config.parse_overlay = False
    return config


def _pe_config() -> Any:
    config = lief.PE.ParserConfig()
    config.parse_signature = False
    config.parse_rsrc = False
    config.parse_exceptions = False
    config.parse_arm64x_binary = False
    config.parse_imports = True
    config.parse_exports = True
    config.parse_reloc = True
    return config


def parse_elf(data: bytes) -> Any:
    """LIEF's ELF binary for ``data``, or None when LIEF cannot make sense of it."""
    with quiet():
        return lief.ELF.parse(data, _elf_config())


def parse_pe(data: bytes) -> Any:
    """LIEF's PE binary for ``data``, or None when LIEF cannot make sense of it."""
    with quiet():
        return lief.PE.parse(data, _pe_config())
