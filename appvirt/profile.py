"""Sandbox profiles: what a guest may see and do, validated once before any VM is built.

A profile is TOML. This module owns the schema, loading, ``extends`` inheritance and the built-in
``default`` profile; validation errors name the file, the line and the key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import ProfileError
from .limits import Limits, parse_limit_item
from .vfs.types import MountMode, MountSpec

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
DEFAULT_ENV_ALLOW = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TERM",
    "TZ",
    "COLUMNS",
    "LINES",
    "USER",
    "LOGNAME",
    "APPVIRT_*",
)
PROFILE_DIR = Path(__file__).parent / "builtin_profiles"


@dataclass(slots=True)
class Profile:
    name: str = "default"
    description: str = (
        "System folders and the program's folder read-only, the current folder copy-on-write"
    )
    mounts: list[MountSpec] = field(default_factory=list)
    system_mounts: bool = True  # the host's /usr, /bin, /lib*, /etc read-only
    program_dir: MountMode = MountMode.RO
    cwd: MountMode | None = MountMode.COW
    env_allow: tuple[str, ...] = DEFAULT_ENV_ALLOW
    env_set: dict[str, str] = field(default_factory=dict)
    env_unset: tuple[str, ...] = ()
    uid: int = field(default_factory=os.getuid)  # the host's identity unless a profile sets one
    gid: int = field(default_factory=os.getgid)
    hostname: str = "appvirt"
    time: str = "real"  # real | offset:<seconds> | frozen:<epoch seconds>
    random_seed: int | None = None
    network: bool = False
    limits: Limits = field(default_factory=Limits)
    # discard: nothing outlives the run; sandbox: kept in the sandbox folder (if the run has one);
    # commit: written through to the host when the program exits normally.
    persistence: str = "sandbox"
    sandbox: str | None = None  # default sandbox folder template ({program}, {data}, ~)
    registry: dict[str, Any] | None = None  # seeds for a new Windows registry (registry/seed.py)
    username: str = "appvirt"  # Windows: GetUserName, %USERNAME%, C:\\Users\\<name>
    computer_name: str = "APPVIRT"  # Windows: GetComputerName, %COMPUTERNAME%
    source: str = "<built-in>"

    @classmethod
    def default(cls) -> Profile:
        return cls()

    def with_limits(self, limits: Limits) -> Profile:
        return replace(self, limits=self.limits.merged(limits))

    def with_mounts(self, mounts: list[MountSpec]) -> Profile:
        return replace(self, mounts=[*self.mounts, *mounts])

    def guest_env(
        self, host_env: dict[str, str], extra: dict[str, str] | None = None
    ) -> dict[str, str]:
        """The environment the guest starts with: allowed host variables, then the profile's own."""
        env: dict[str, str] = {}
        for key, value in host_env.items():
            if any(_glob(pattern, key) for pattern in self.env_allow):
                env[key] = value
        env.update(self.env_set)
        for key in self.env_unset:
            env.pop(key, None)
        if extra:
            env.update(extra)
        return env


def _glob(pattern: str, key: str) -> bool:
    if pattern.endswith("*"):
        return key.startswith(pattern[:-1])
    return key == pattern


def parse_mount(text: str) -> MountSpec:
    """``HOST:GUEST[:MODE]`` or ``tmpfs:GUEST`` as given to ``--mount``."""
    parts = text.split(":")
    if len(parts) == 2 and parts[0] == "tmpfs":
        return MountSpec(guest=_abs_guest(parts[1]), mode=MountMode.TMPFS)
    if len(parts) not in (2, 3):
        raise ProfileError(f"bad mount {text!r}: use HOST:GUEST[:ro|cow|rw] or tmpfs:GUEST")
    mode = parts[2] if len(parts) == 3 else "ro"
    try:
        mount_mode = MountMode(mode)
    except ValueError:
        raise ProfileError(
            f"bad mount mode {mode!r} in {text!r}: use ro, cow, rw or tmpfs"
        ) from None
    host = os.path.abspath(os.path.expanduser(parts[0]))
    if not os.path.exists(host):
        raise ProfileError(f"mount source {host} does not exist")
    return MountSpec(guest=_abs_guest(parts[1]), mode=mount_mode, host=host)


def _abs_guest(path: str) -> str:
    if not path.startswith("/"):
        raise ProfileError(f"guest path {path!r} must be absolute")
    return os.path.normpath(path)


# -- TOML profiles -----------------------------------------------------------------------------
_TOP_KEYS = {"name", "description", "extends", "mounts", "system_mounts", "program_dir", "cwd", "environment",
             "identity", "time", "network", "limits", "persistence", "sandbox", "registry",
             "random_seed"}  # fmt: skip
PERSISTENCE = ("discard", "sandbox", "commit")


_HEADER = re.compile(r"^\s*(\[\[?)([^\]]+)\]")
_ASSIGN = re.compile(r"^\s*([^=#\[]+?)\s*=")
_KeyPath = list[str | int]


def _key_path(key: str) -> _KeyPath:
    """``mounts[1].guest`` -> ``["mounts", 1, "guest"]``."""
    path: _KeyPath = []
    for part in key.split("."):
        name, _, index = part.partition("[")
        path.append(name)
        if index:
            path.append(int(index.rstrip("]")))
    return path


def _toml_key(text: str) -> _KeyPath:
    return [p.strip().strip("\"'") for p in text.split(".")]


def _line_of(text: str, key: str) -> int:
    """The line defining ``key`` (a path like ``limits.memory`` or ``mounts[1].guest``), else 1.

    tomllib keeps no positions, so the text is scanned for table headers (counting ``[[...]]``
    entries) and assignments, whole or dotted; an inline table or array reports its own line.
    """
    want = _key_path(key)
    table: _KeyPath = []
    seen: dict[tuple[str | int, ...], int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            table = _toml_key(header.group(2))
            if header.group(1) == "[[":
                name = tuple(table)
                seen[name] = seen.get(name, -1) + 1
                table.append(seen[name])
            if table[: len(want)] == want:
                return number
            continue
        assign = _ASSIGN.match(line)
        if assign:
            full = table + _toml_key(assign.group(1))
            if full == want[: len(full)]:
                return number
    return 1


def load_profile(path: str | Path) -> Profile:
    import tomllib  # ~5 ms: only when a profile file is read

    path = Path(path)
    try:
        text = path.read_text()
        data = tomllib.loads(text)
    except OSError as err:
        raise ProfileError(f"{path}: cannot read profile: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise ProfileError(f"{path}: {err}") from None
    return profile_from_data(data, str(path), text)


def profile_from_data(data: dict[str, Any], source: str, text: str = "") -> Profile:
    def bad(key: str, why: str) -> ProfileError:
        return ProfileError(f"{source}:{_line_of(text, key)}: {key}: {why}")

    for key in data:
        if key not in _TOP_KEYS:
            raise bad(key, "unknown key")
    base = Profile.default()
    if "extends" in data:
        parent = data["extends"]
        if not isinstance(parent, str):
            raise bad("extends", "must be a profile name or path")
        base = resolve_profile(parent, relative_to=Path(source).parent)
    prof = replace(
        base, source=source, mounts=list(base.mounts), limits=base.limits.merged(Limits())
    )
    prof.name = _typed(data, "name", str, bad, Path(source).stem)
    prof.description = _typed(data, "description", str, bad, prof.description)
    prof.system_mounts = _typed(data, "system_mounts", bool, bad, prof.system_mounts)
    prof.network = _typed(data, "network", bool, bad, prof.network)
    if prof.network:
        raise bad("network", "guests have no network in appvirt: only false is accepted")
    prof.random_seed = _typed(data, "random_seed", int, bad, prof.random_seed)
    if "program_dir" in data:
        prof.program_dir = _mode(data["program_dir"], "program_dir", bad)
    if "cwd" in data:
        prof.cwd = None if data["cwd"] == "none" else _mode(data["cwd"], "cwd", bad)
    for i, m in enumerate(data.get("mounts", [])):
        if not isinstance(m, dict):
            raise bad("mounts", "each mount is a table with host, guest, mode")
        for key in m:
            if key not in ("host", "guest", "mode", "hidden"):
                raise bad(f"mounts[{i}].{key}", "unknown key")
        mode = _mode(m.get("mode", "ro"), f"mounts[{i}].mode", bad)
        guest = m.get("guest")
        if not isinstance(guest, str) or not guest.startswith("/"):
            raise bad(f"mounts[{i}].guest", "must be an absolute guest path")
        host = m.get("host")
        if mode is not MountMode.TMPFS:
            if not isinstance(host, str):
                raise bad(f"mounts[{i}].host", "must be a host path")
            host = os.path.abspath(os.path.expanduser(host))
        hidden = tuple(m.get("hidden", ()))
        prof.mounts.append(
            MountSpec(guest=os.path.normpath(guest), mode=mode, host=host, hidden=hidden)
        )
    env = data.get("environment", {})
    if not isinstance(env, dict):
        raise bad("environment", "must be a table")
    for key in env:
        if key not in ("allow", "set", "unset"):
            raise bad(f"environment.{key}", "unknown key")
    if "allow" in env:
        prof.env_allow = tuple(_str_list(env["allow"], "environment.allow", bad))
    if "set" in env:
        if not isinstance(env["set"], dict) or not all(
            isinstance(v, str) for v in env["set"].values()
        ):
            raise bad("environment.set", "must be a table of strings")
        prof.env_set = {**prof.env_set, **env["set"]}
    if "unset" in env:
        prof.env_unset = tuple(_str_list(env["unset"], "environment.unset", bad))
    ident = data.get("identity", {})
    for key, value in ident.items():
        if key in ("uid", "gid"):
            if not isinstance(value, int) or value < 0:
                raise bad(f"identity.{key}", "must be a non-negative integer")
            setattr(prof, key, value)
        elif key == "hostname":
            if not isinstance(value, str):
                raise bad("identity.hostname", "must be a string")
            prof.hostname = value
        elif key in ("username", "computer_name"):
            if not isinstance(value, str) or not value:
                raise bad(f"identity.{key}", "must be a non-empty string")
            setattr(prof, key, value)
        else:
            raise bad(f"identity.{key}", "unknown key")
    if "time" in data:
        prof.time = _typed(data, "time", str, bad, "real")
        if not re.match(r"^(real|offset:-?\d+|frozen:\d+)$", prof.time):
            raise bad("time", "use real, offset:SECONDS or frozen:EPOCH_SECONDS")
    if "persistence" in data:
        prof.persistence = _typed(data, "persistence", str, bad, prof.persistence)
        if prof.persistence not in PERSISTENCE:
            raise bad("persistence", "must be one of discard, sandbox, commit")
    prof.sandbox = _typed(data, "sandbox", str, bad, prof.sandbox)
    if "registry" in data:
        if not isinstance(data["registry"], dict):
            raise bad("registry", "must be a table")
        prof.registry = _merge_tables(prof.registry or {}, data["registry"])
        _check_registry(data["registry"], bad)
    limits = data.get("limits", {})
    if not isinstance(limits, dict):
        raise bad("limits", "must be a table")
    for key, value in limits.items():
        try:
            parse_limit_item(prof.limits, key, value)
        except Exception as err:  # noqa: BLE001 - rephrased with file and line
            raise bad(f"limits.{key}", str(err).replace("appvirt: error: ", "")) from None
    return prof


def _check_registry(table: dict[str, Any], bad: Any) -> None:
    """Seed a scratch registry now, so a bad seed is reported with the profile's file and line."""
    from .registry.hive import Registry
    from .registry.seed import apply_seed

    for path, values in table.items():
        try:
            apply_seed(Registry(), {path: values})
        except ProfileError as err:
            raise bad(f"registry.{path}", str(err).replace("appvirt: error: ", "")) from None


def _merge_tables(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``, nested tables merged key by key (an extending profile's
    registry values win, the parent's other keys stay)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_tables(out[key], value)
        else:
            out[key] = value
    return out


def _typed(data: dict[str, Any], key: str, kind: type, bad: Any, default: Any) -> Any:
    if key not in data:
        return default
    value = data[key]
    if not isinstance(value, kind):
        raise bad(key, f"must be a {kind.__name__}")
    return value


def _mode(value: Any, key: str, bad: Any) -> MountMode:
    try:
        return MountMode(value)
    except ValueError:
        raise bad(key, "must be one of ro, cow, rw, tmpfs") from None


def _str_list(value: Any, key: str, bad: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad(key, "must be a list of strings")
    return value


def user_profile_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "appvirt" / "profiles"


def resolve_profile(name: str, relative_to: Path | None = None) -> Profile:
    """A profile by name (user folder, then shipped) or by path."""
    if name == "default":
        return Profile.default()
    candidates = []
    if name.endswith(".toml") or "/" in name:
        candidates.append(
            Path(relative_to or ".") / name if not os.path.isabs(name) else Path(name)
        )
    else:
        candidates += [user_profile_dir() / f"{name}.toml", PROFILE_DIR / f"{name}.toml"]
    for path in candidates:
        if path.is_file():
            return load_profile(path)
    raise ProfileError(f"profile {name!r} not found")
