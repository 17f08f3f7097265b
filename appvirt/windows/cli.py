"""``appvirt reg``: import, export and query a sandbox's Windows registry."""

from __future__ import annotations

import sys

import click

from ..errors import UsageError

_SANDBOX = click.option("--sandbox", "sandbox_dir", required=True, type=click.Path(file_okay=False),
                        help="The sandbox folder whose registry to use.")  # fmt: skip


@click.group()
def reg() -> None:
    """Read and change the Windows registry of a sandbox (.reg files as regedit writes them)."""


@reg.command("import")
@_SANDBOX
@click.argument("reg_file", type=click.Path(dir_okay=False, allow_dash=True))
def import_(sandbox_dir: str, reg_file: str) -> None:
    """Apply REG_FILE (regedit 5 or REGEDIT4, UTF-16 or ANSI; - for stdin) to the sandbox."""
    from ..registry import RegistryStore
    from ..registry.regfile import RegFileError, decode, import_text

    try:
        raw = sys.stdin.buffer.read() if reg_file == "-" else open(reg_file, "rb").read()  # noqa: SIM115
    except OSError as err:
        raise UsageError(f"cannot read {reg_file}: {err.strerror}") from None
    from ..persist.folder import SandboxFolder

    box = SandboxFolder.open(sandbox_dir, create=True)
    with box.locked():  # not while a run of the sandbox may save its own registry
        store = RegistryStore(box.registry_dir)
        registry = store.load()
        try:
            count = import_text(registry, decode(raw))
        except RegFileError as err:
            raise UsageError(f"{reg_file}: {err}") from None
        registry.dirty = True
        store.save(registry)
    click.echo(f"imported {count} value(s) into {sandbox_dir}", err=True)


@reg.command("export")
@_SANDBOX
@click.option("--output", "-o", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              help="Write here instead of stdout.")  # fmt: skip
@click.argument("key", required=False)
def export(sandbox_dir: str, output: str, key: str | None) -> None:
    """Write the registry (or KEY and below) as a regedit 5 .reg file (UTF-16LE)."""
    from ..registry import RegistryStore
    from ..registry.regfile import export_bytes

    registry = RegistryStore(sandbox_dir).load()
    if key and registry.open_path(key) is None:
        raise UsageError(f"no such key: {key}")
    data = export_bytes(registry, key)
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        with open(output, "wb") as fh:
            fh.write(data)


@reg.command("query")
@_SANDBOX
@click.argument("key")
@click.argument("value", required=False)
def query(sandbox_dir: str, key: str, value: str | None) -> None:
    """Print KEY's values (or one VALUE) like reg.exe query: name, type, data."""
    from ..registry import RegistryStore

    registry = RegistryStore(sandbox_dir).load()
    found = registry.open_path(key)
    if found is None:
        raise UsageError(f"no such key: {key}")
    click.echo(key)
    values = [found.get(value)] if value is not None else list(found.values.values())
    if value is not None and values[0] is None:
        raise UsageError(f"no value {value!r} in {key}")
    for v in values:
        assert v is not None
        click.echo(
            f"    {v.name or '(Default)'}    {_type_name(v.type)}    {_show(v.type, v.data)}"
        )
    for sub in sorted(found.keys.values(), key=lambda k: k.name.lower()) if value is None else []:
        click.echo(f"{key}\\{sub.name}")


def _type_name(kind: int) -> str:
    from ..registry.hive import REG

    try:
        return "REG_" + REG(kind).name
    except ValueError:
        return f"REG_{kind:#x}"


def _show(kind: int, data: bytes) -> str:
    from ..registry.hive import REG

    if kind in (REG.SZ, REG.EXPAND_SZ):
        return data.decode("utf-16-le", "replace").rstrip("\0")
    if kind == REG.MULTI_SZ:
        return "\\0".join(p for p in data.decode("utf-16-le", "replace").split("\0") if p)
    if kind == REG.DWORD and len(data) == 4:
        return hex(int.from_bytes(data, "little"))
    if kind == REG.QWORD and len(data) == 8:
        return hex(int.from_bytes(data, "little"))
    return data.hex().upper()
