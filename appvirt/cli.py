"""The ``appvirt`` command: argument handling and printing over the Python API, nothing more."""

from __future__ import annotations

import sys
from typing import IO, Any

import click

from .errors import AppvirtError, InternalError, UsageError

# Subcommands that live with their layers, imported only when named (or listed by --help): each
# pulls in json, tomllib or a whole personality, which ``appvirt run`` does not need.
_LAZY_COMMANDS = {
    "profiles": ("appvirt.profiles_cli", "profiles"),
    "reg": ("appvirt.windows.cli", "reg"),
    "sandbox": ("appvirt.persist.cli", "sandbox"),
    "vm": ("appvirt.system.cli", "vm"),
}


class _Group(click.Group):
    """Turns every AppvirtError into one line and its documented exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _LAZY_COMMANDS and cmd_name not in self.commands:
            import importlib

            module, attr = _LAZY_COMMANDS[cmd_name]
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AppvirtError as err:
            click.echo(err.one_line(), err=True)
            ctx.exit(err.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            ctx.exit(130)
        except BrokenPipeError:
            # The reader of our stdout went away (``appvirt ... | head``): end quietly, as SIGPIPE would.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(141)
        except Exception as err:  # noqa: BLE001 - a bug: one line unless --debug
            if ctx.meta.get("debug"):
                raise
            click.echo(
                InternalError(f"internal error: {type(err).__name__}: {err}").one_line(), err=True
            )
            ctx.exit(InternalError.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, hidden=True, help="Show tracebacks of internal errors.")
@click.version_option(package_name="appvirt")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Run x86 programs in a per-launch virtual machine with a sandboxed view of the host."""
    ctx.meta["debug"] = debug


class _TraceOption(click.Option):
    """``--trace`` alone means stderr; ``--trace=FILE`` writes to FILE."""


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option(
    "--profile",
    "profile_name",
    default="default",
    show_default=True,
    help="Profile name or TOML file.",
)
@click.option("--trace", "trace", is_flag=False, flag_value="-", default=None, metavar="[=FILE]",
              help="Print one strace-style line per system call (stderr, or FILE).")  # fmt: skip
@click.option(
    "--report",
    "report",
    type=click.Path(dir_okay=False, writable=True),
    help="Write a JSON report.",
)
@click.option(
    "--mount",
    "mounts",
    multiple=True,
    metavar="HOST:GUEST[:MODE]",
    help="Extra mount (ro, cow, rw; or tmpfs:GUEST).",
)
@click.option(
    "--env", "envs", multiple=True, metavar="NAME[=VALUE]", help="Pass a host variable, or set one."
)
@click.option(
    "--limit",
    "limits",
    multiple=True,
    metavar="KEY=VALUE,...",
    help="memory, time, instructions, processes, files, disk, output.",
)
@click.option(
    "--sandbox",
    "sandbox_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Keep what the program changes (files, Windows registry) in this folder.",
)
@click.option("--persist", type=click.Choice(["discard", "sandbox", "commit"]), default=None,
              help="Override the profile's persistence: discard, keep in the sandbox, or commit "
                   "to the host when the program exits.")  # fmt: skip
@click.argument("program")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(
    profile_name: str,
    trace: str | None,
    report: str | None,
    mounts: tuple[str, ...],
    envs: tuple[str, ...],
    limits: tuple[str, ...],
    sandbox_dir: str | None,
    persist: str | None,
    program: str,
    args: tuple[str, ...],
) -> None:
    """Run PROGRAM with ARGS inside a fresh sandboxed VM; exits with the program's status."""
    import os

    from .limits import parse_limits
    from .profile import parse_mount, resolve_profile
    from .sandbox import Sandbox

    profile = resolve_profile(profile_name)
    if limits:
        lim = profile.limits.merged(parse_limits(",".join(limits)))
        profile = profile.with_limits(lim)
    if mounts:
        profile = profile.with_mounts([parse_mount(m) for m in mounts])
    if persist:
        from dataclasses import replace

        profile = replace(profile, persistence=persist)
    extra_env: dict[str, str] = {}
    for item in envs:
        if "=" in item:
            key, value = item.split("=", 1)
            extra_env[key] = value
        elif item in os.environ:
            extra_env[item] = os.environ[item]
    trace_out: IO[str] | None = None
    if trace == "-":
        trace_out = sys.stderr
    elif trace:
        try:
            trace_out = open(trace, "w")  # noqa: SIM115 - closed below
        except OSError as err:
            raise UsageError(f"cannot write trace file {trace}: {err.strerror}") from None
    try:
        sys.stdout.flush()
        result = Sandbox(profile, sandbox_dir=sandbox_dir).run(
            [program, *args], env=extra_env, trace=trace_out
        )
    finally:
        if trace_out is not None and trace_out is not sys.stderr:
            trace_out.close()
    if report:
        with open(report, "w") as fh:
            import json

            json.dump(result.to_json(), fh, indent=2, sort_keys=True)
    if result.limit:
        click.echo(f"appvirt: {result.limit} limit reached; run stopped", err=True)
    sys.exit(result.exit_code)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--disasm", default=8, show_default=True, help="Instructions to disassemble at the entry point."
)
@click.argument("path", type=click.Path(dir_okay=False))
def inspect(path: str, as_json: bool, disasm: int) -> None:
    """Describe an executable: format, arch, entry, segments, imports, entry disassembly."""
    import os

    from . import loader
    from .errors import ProgramNotFoundError

    if not os.path.exists(path):
        raise ProgramNotFoundError(f"{path}: no such file")
    image = loader.load(path)
    from .loader.inspect import describe, describe_json

    if as_json:
        import json

        click.echo(json.dumps(describe_json(image), indent=2))
    else:
        click.echo(describe(image, disasm_count=disasm))
