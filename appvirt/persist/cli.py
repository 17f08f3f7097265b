"""``appvirt sandbox``: what a sandbox folder holds, taking it out, and discarding it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

_FOLDER = click.argument("folder", type=click.Path(file_okay=False))


@click.group()
def sandbox() -> None:
    """Inspect and manage sandbox folders (``appvirt run --sandbox DIR``)."""


def _open(folder: str) -> Any:
    from .folder import SandboxFolder

    return SandboxFolder.open(folder, create=False)


def _registry_changes(box: Any) -> list[tuple[str, str]]:
    from ..registry import RegistryStore
    from ..registry.diff import diff

    store = RegistryStore(box.registry_dir)
    if store.path is None or not store.path.exists():
        return []
    return list(diff(RegistryStore(None).load(), store.load()))


def _label(entry: Any) -> str:
    from ..vfs.types import FileKind

    if entry.kind is FileKind.DIR:
        return entry.path.rstrip("/") + "/"
    if entry.kind is FileKind.LNK and entry.target is not None:
        return f"{entry.path} -> {entry.target}"
    return entry.path


@sandbox.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_FOLDER
def diff(folder: str, as_json: bool) -> None:
    """List what the programs run in FOLDER changed: files added (A), modified (M) and deleted
    (D), then registry keys and values against a fresh registry."""
    box = _open(folder)
    entries = box.layer.entries()
    reg = _registry_changes(box)
    if as_json:
        out = {"files": [e.to_json() for e in entries],
               "registry": [{"op": op, "key": key} for op, key in reg]}  # fmt: skip
        click.echo(json.dumps(out, indent=1))
        return
    codes = {"added": "A", "modified": "M", "deleted": "D"}
    for e in entries:
        extra = "" if e.content or e.op.value != "modified" else "  (metadata)"
        click.echo(f"{codes[e.op.value]} {_label(e)}{extra}")
    for op, key in reg:
        click.echo(f"{op} {key}")


@sandbox.command()
@click.option("--to", "dest", type=click.Path(file_okay=False), default=None,
              help="Export into this folder (at the guest paths) instead of the host.")  # fmt: skip
@_FOLDER
def commit(folder: str, dest: str | None) -> None:
    """Take the files changed in FOLDER out of the sandbox.

    With --to, every added or modified file is written under that folder at its guest path and
    the sandbox keeps its changes. Without it, changes made in copy-on-write host folders are
    applied to those host folders (deletions too) and leave the sandbox; changes that exist only in
    the sandbox stay there.
    """
    from .commit import export, to_host

    box = _open(folder)
    with box.locked():
        layer = box.layer
        entries = layer.entries()
        if dest is not None:
            report = export(entries, layer.read, Path(dest))
            click.echo(f"exported {len(report.written)} change(s) to {dest}", err=True)
        else:
            report = to_host(entries, layer.read)
            stay = report.left + [e for e, _ in report.skipped]
            layer.write_manifest(stay)
            layer.collect_garbage(stay)
            click.echo(f"committed {len(report.written)} change(s) and "
                       f"{len(report.deleted)} deletion(s) to the host", err=True)  # fmt: skip
            if report.left:
                click.echo(f"{len(report.left)} change(s) have no host folder and stay in the "
                           "sandbox", err=True)  # fmt: skip
        for entry, why in report.skipped:
            click.echo(f"skipped {entry.path}: {why}", err=True)


@sandbox.command()
@click.option("--files/--no-files", default=True, show_default=True, help="Discard file changes.")
@click.option("--registry/--no-registry", default=True, show_default=True,
              help="Discard the Windows registry.")  # fmt: skip
@_FOLDER
def reset(folder: str, files: bool, registry: bool) -> None:
    """Discard what the programs run in FOLDER changed; the next run starts fresh."""
    box = _open(folder)
    with box.locked():
        if files:
            box.layer.clear()
        if registry:
            from ..registry import RegistryStore

            path = RegistryStore(box.registry_dir).path
            if path is not None and path.exists():
                path.unlink()
    click.echo(f"reset {box.path}", err=True)


@sandbox.command()
@_FOLDER
def show(folder: str) -> None:
    """The folder's format, run count, last run and the size of what it keeps."""
    box = _open(folder)
    meta = box.meta()
    entries = box.layer.entries()
    click.echo(f"sandbox   {box.path}")
    click.echo(f"format    {meta.get('format')} {meta.get('version')}")
    click.echo(f"created   {meta.get('created', '?')}")
    click.echo(f"runs      {meta.get('runs', 0)}")
    last = meta.get("last_run")
    if isinstance(last, dict):
        click.echo(f"last run  {last.get('program')} (profile {last.get('profile')}, "
                   f"exit {last.get('exit_code')})")  # fmt: skip
    click.echo(f"changes   {len(entries)} file change(s), {box.layer.disk_usage()} bytes stored")
