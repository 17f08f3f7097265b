"""The content-addressed cache of loaded Images, so a second launch of a program never imports LIEF.

An entry's name is the BLAKE2b hash of the file's bytes together with the loader's format version
and the field names of ``Image``, so a new loader or a changed ``Image`` never reads an old entry.
Entries are pickles read back with an unpickler that accepts only the loader's own data classes,
written atomically (temporary file, then ``os.replace``). The cache is an optimisation: every
failure to read or write it (missing, corrupt, read-only, full) is ignored.

Where it lives: ``$APPVIRT_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/appvirt/images``, else
``~/.cache/appvirt/images``. ``APPVIRT_NO_CACHE=1`` turns it off.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import pickle
import tempfile
from pathlib import Path

from appvirt.loader import image as image_module
from appvirt.loader.image import Image

try:  # hashlib loads OpenSSL (~4 ms of every launch) to offer blake2b, which CPython has built in
    from _blake2 import blake2b
except ImportError:  # a Python built without it
    from hashlib import blake2b

# Bump when the parsers change what they put into an Image for the same bytes.
LOADER_FORMAT_VERSION = 1

_SUFFIX = ".image"

# The only globals an Image pickle may name: the loader's own data classes and enums. Anything
# else in an entry (a planted pickle that would run code) makes it unreadable, hence a miss.
_ALLOWED = frozenset(
    ("appvirt.loader.image", name)
    for name in ("Image", "Segment", "TlsInfo", "Import", "Export", "Arch", "Format", "Perm")
)


def _version_tag() -> bytes:
    fields = ",".join(f.name for f in dataclasses.fields(Image))
    return f"appvirt-loader-{LOADER_FORMAT_VERSION}:{fields}".encode()


def enabled() -> bool:
    return os.environ.get("APPVIRT_NO_CACHE", "") not in ("1", "true", "yes")


def cache_dir() -> Path:
    explicit = os.environ.get("APPVIRT_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return root / "appvirt" / "images"


def key(data: bytes) -> str:
    digest = blake2b(digest_size=32)
    digest.update(_version_tag())
    digest.update(b"\0")
    digest.update(data)
    return digest.hexdigest()


def entry_path(data_key: str) -> Path:
    return cache_dir() / (data_key + _SUFFIX)


class _ImageUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in an Image entry")
        return getattr(image_module, name)


def get(data_key: str) -> Image | None:
    """The cached Image for ``data_key``, or None on a miss or an unreadable entry."""
    try:
        raw = entry_path(data_key).read_bytes()
        value = _ImageUnpickler(io.BytesIO(raw)).load()
    except Exception:  # a missing, truncated or foreign entry is just a miss
        return None
    return value if isinstance(value, Image) else None


def put(data_key: str, image: Image) -> None:
    """Store ``image`` under ``data_key``; never raises."""
    try:
        payload = pickle.dumps(image, protocol=pickle.HIGHEST_PROTOCOL)
        folder = cache_dir()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".tmp-", suffix=_SUFFIX, dir=folder)
    except Exception:
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.replace(temp, entry_path(data_key))
    except Exception:
        with contextlib.suppress(OSError):
            os.unlink(temp)
