"""``appvirt profiles``: list the shipped and user profiles, show one resolved (as TOML)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import click

from .errors import ProfileError
from .limits import Limits
from .profile import PROFILE_DIR, Profile, resolve_profile, user_profile_dir


def _describe(path: Path) -> str:
    """A profile file's one-line description, without resolving its ``extends``."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        return f"(unreadable: {err})"
    desc = data.get("description")
    if isinstance(desc, str):
        return desc.splitlines()[0] if desc else ""
    try:
        return resolve_profile(str(path)).description
    except ProfileError as err:
        return f"(invalid: {err})"


def available() -> list[tuple[str, str, str]]:
    """(name, origin, description) of every profile: user ones shadow shipped ones of that name."""
    found: dict[str, tuple[str, str, str]] = {
        "default": ("default", "shipped", Profile().description)
    }
    for origin, folder in (("shipped", PROFILE_DIR), ("user", user_profile_dir())):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            found[path.stem] = (path.stem, origin, _describe(path))
    return [found[name] for name in sorted(found)]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return (
            "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _toml_key(key: str) -> str:
    if key and all(c.isalnum() or c in "-_" for c in key):
        return key
    return json.dumps(key)


def profile_toml(profile: Profile) -> str:
    """The resolved profile as TOML that ``load_profile`` reads back to the same profile."""
    out = [f"# resolved from {profile.source}"]
    top: dict[str, Any] = {
        "name": profile.name,
        "description": profile.description,
        "system_mounts": profile.system_mounts,
        "program_dir": profile.program_dir.value,
        "cwd": profile.cwd.value if profile.cwd is not None else "none",
        "time": profile.time,
        "network": profile.network,
        "persistence": profile.persistence,
    }
    if profile.sandbox is not None:
        top["sandbox"] = profile.sandbox
    if profile.random_seed is not None:
        top["random_seed"] = profile.random_seed
    out += [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    for m in profile.mounts:
        out += ["", "[[mounts]]"]
        if m.host is not None:
            out.append(f"host = {_toml_value(m.host)}")
        out += [f"guest = {_toml_value(m.guest)}", f"mode = {_toml_value(m.mode.value)}"]
        if m.hidden:
            out.append(f"hidden = {_toml_value(list(m.hidden))}")
    out += ["", "[environment]", f"allow = {_toml_value(list(profile.env_allow))}"]
    out.append(f"set = {_toml_value(profile.env_set)}")
    out.append(f"unset = {_toml_value(list(profile.env_unset))}")
    out += ["", "[identity]", f"uid = {profile.uid}", f"gid = {profile.gid}"]
    out.append(f"hostname = {_toml_value(profile.hostname)}")
    out.append(f"username = {_toml_value(profile.username)}")
    out.append(f"computer_name = {_toml_value(profile.computer_name)}")
    out += ["", "[limits]"]
    for name in Limits.__slots__:  # type: ignore[attr-defined]
        value = getattr(profile.limits, name)
        if value is not None:
            out.append(f"{name} = {_toml_value(value)}")
    registry = profile.registry
    if registry:
        out += ["", "[registry]"]
        out += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in registry.items()]
    return "\n".join(out) + "\n"


@click.group("profiles", invoke_without_command=True)
@click.pass_context
def profiles(ctx: click.Context) -> None:
    """List the shipped and user profiles (user ones live in $XDG_CONFIG_HOME/appvirt/profiles)."""
    if ctx.invoked_subcommand is not None:
        return
    rows = available()
    width = max(len(name) for name, _, _ in rows)
    for name, origin, desc in rows:
        click.echo(f"{name:<{width}}  {origin:<7}  {desc}")


@profiles.command("show")
@click.argument("name")
def show(name: str) -> None:
    """Print profile NAME (a name or a TOML file) with its inheritance applied, as TOML."""
    click.echo(profile_toml(resolve_profile(name)), nl=False)
