"""``appvirt vm ...``: boot a whole guest machine (System VM). Argument handling and printing only.

``appvirt/cli.py`` adds the ``vm`` group when this module exists. The guest's serial console goes
to stdout (and reads stdin), its debug port (0xE9/0x402) to stderr; ``--stats`` prints the exit
profile and the MMU figures on stderr after the run. Exit statuses: docs/system-vm.md.
"""

from __future__ import annotations

import os
import select
import sys
from collections.abc import Callable
from typing import Any

import click

from ..errors import ProgramNotFoundError, UsageError


@click.group()
def vm() -> None:
    """Run whole guest machines (System VM): firmware, boot sectors, kernels."""


def _read_host_file(path: str, what: str) -> bytes:
    if not os.path.exists(path):
        raise ProgramNotFoundError(f"{what} {path}: no such file")
    if os.path.isdir(path):
        raise UsageError(f"{what} {path} is a directory")
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as err:
        raise UsageError(f"cannot read {what} {path}: {err.strerror}") from None


def open_disk(path: str, mode: str) -> tuple[Any, Any]:
    """The disk image as an OpenFile of a VFS that mounts only its folder (ro, cow or rw)."""
    from ..vfs import VFS, MountMode, MountSpec
    from ..vfs.flags import O_RDONLY, O_RDWR

    host = os.path.abspath(path)
    if not os.path.isfile(host):
        raise UsageError(f"--disk {path}: no such file")
    folder, name = os.path.split(host)
    vfs = VFS([MountSpec(guest="/disk", mode=MountMode(mode), host=folder)])
    flags = O_RDONLY if mode == "ro" else O_RDWR
    try:
        medium = vfs.open("/disk/" + name, flags)
    except OSError as err:
        vfs.close()
        raise UsageError(f"--disk {path}: {err.strerror}") from None
    return vfs, medium


def _stdin_source() -> Callable[[], bytes | None] | None:
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return None

    def poll() -> bytes | None:
        try:
            ready, _, _ = select.select([fd], [], [], 0)
            if not ready:
                return b""
            data = os.read(fd, 4096)
        except OSError:
            return None
        return data if data else None

    return poll


def _writer(stream: Any) -> Callable[[bytes], None]:
    out = getattr(stream, "buffer", stream)

    def write(data: bytes) -> None:
        out.write(data)
        if b"\n" in data:
            out.flush()

    return write


@vm.command()
@click.option(
    "--technique",
    type=click.Choice(["hw", "bt", "pv"]),
    default="hw",
    show_default=True,
    help="hw: hardware-assisted style; bt: binary translation; pv: para-virtualised guest.",
)
@click.option("--stats", is_flag=True, help="Print VM exits by reason and MMU figures on stderr.")
@click.option("--mem", "memory", default="32M", show_default=True, help="Guest RAM (2M-2G).")
@click.option("--disk", type=click.Path(dir_okay=False), help="Disk image for the ATA disk.")
@click.option(
    "--disk-mode",
    type=click.Choice(["ro", "cow", "rw"]),
    default="cow",
    show_default=True,
    help="cow keeps guest writes in memory; rw writes them to the image.",
)
@click.option("--bios", type=click.Path(dir_okay=False), help="Firmware image (e.g. SeaBIOS).")
@click.option(
    "--limit",
    "limits",
    multiple=True,
    metavar="KEY=VALUE,...",
    help="time, instructions, memory (as for `appvirt run`).",
)
@click.argument("image", required=False, type=click.Path(dir_okay=False))
def boot(
    technique: str,
    stats: bool,
    memory: str,
    disk: str | None,
    disk_mode: str,
    bios: str | None,
    limits: tuple[str, ...],
    image: str | None,
) -> None:
    """Boot IMAGE (a flat real-mode image or a multiboot kernel) or the --bios firmware."""
    from ..limits import parse_limits, parse_size
    from .hypervisor import Console, Hypervisor, VmConfig
    from .vcpu import Technique

    if image is None and bios is None:
        raise UsageError("give an IMAGE to boot, or --bios FIRMWARE")
    lim = parse_limits(",".join(limits))
    config_image = _read_host_file(image, "image") if image else None
    firmware = _read_host_file(bios, "firmware") if bios else None
    vfs = medium = None
    if disk:
        vfs, medium = open_disk(disk, disk_mode)
    console = Console(_writer(sys.stdout), _writer(sys.stderr), _stdin_source())
    config = VmConfig(
        technique=Technique(technique),
        memory=parse_size(memory),
        image=config_image,
        bios=firmware,
        disk=medium,
        limits=lim,
    )
    sys.stdout.flush()
    hv = None
    try:
        hv = Hypervisor(config, console)
        result = hv.run()
    finally:
        if hv is not None:
            hv.close()
        if medium is not None:
            medium.close()
        if vfs is not None:
            vfs.close()
        sys.stdout.flush()
    if stats:
        click.echo(format_stats(result), err=True)
    if result.limit:
        click.echo(f"appvirt: {result.limit} limit reached; VM stopped", err=True)
    elif result.outcome.name not in ("POWER_OFF", "SHUTDOWN"):
        click.echo(f"appvirt: vm: {result.detail}", err=True)
    sys.exit(result.status)


def format_stats(result: Any) -> str:
    """The ``--stats`` report: exits by reason with their details, then the figures."""
    lines = [f"vm: {result.detail or result.outcome.value} after {result.duration:.3f} s"]
    lines.append(f"exits by reason (technique {result.stats['technique']}):")
    for reason, count in sorted(result.exits.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {reason:<36} {count:>9}")
        detail = result.exit_detail.get(reason, {})
        top = sorted(detail.items(), key=lambda kv: -kv[1])[:6]
        if top and len(detail) > 0:
            lines.append("      " + ", ".join(f"{k}: {v}" for k, v in top))
    lines.append(f"  {'total':<36} {result.stats['exits_total']:>9}")
    lines.append(f"interrupts injected: {result.stats['interrupts_injected']}")
    mmu = result.stats["mmu"]
    lines.append("mmu: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in mmu.items()))
    tr = result.stats.get("translator")
    if tr:
        lines.append(
            "translator: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in tr.items())
        )
    return "\n".join(lines)
