"""TOML profiles (appvirt/profile.py): schema, errors naming file:line and key, extends, env."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import sample

from appvirt.errors import ProfileError, UsageError
from appvirt.limits import Limits
from appvirt.profile import (
    DEFAULT_ENV_ALLOW,
    Profile,
    load_profile,
    parse_mount,
    resolve_profile,
)
from appvirt.vfs.types import MountMode, MountSpec


def write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    return str(info.value)


FULL = """\
name = "builder"
description = "a build box"
system_mounts = false
network = false
program_dir = "cow"
cwd = "none"
time = "frozen:1700000000"

[[mounts]]
host = "{data}"
guest = "/data/"
mode = "rw"
hidden = ["/data/secret"]

[[mounts]]
guest = "/scratch"
mode = "tmpfs"

[environment]
allow = ["PATH", "CI_*"]
set = {{ LANG = "C.UTF-8" }}
unset = ["CI_TOKEN"]

[identity]
uid = 1500
gid = 1600
hostname = "box"

[limits]
memory = "512M"
time = "30s"
files = 64
"""


def test_every_field(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    prof = load_profile(write(tmp_path, FULL.format(data=data)))
    assert prof.name == "builder"
    assert prof.description == "a build box"
    assert (prof.system_mounts, prof.network) == (False, False)
    assert prof.program_dir is MountMode.COW
    assert prof.cwd is None
    assert prof.time == "frozen:1700000000"
    assert prof.mounts == [
        MountSpec(guest="/data", mode=MountMode.RW, host=str(data), hidden=("/data/secret",)),
        MountSpec(guest="/scratch", mode=MountMode.TMPFS, host=None),
    ]
    assert prof.env_allow == ("PATH", "CI_*")
    assert prof.env_set == {"LANG": "C.UTF-8"}
    assert prof.env_unset == ("CI_TOKEN",)
    assert (prof.uid, prof.gid, prof.hostname) == (1500, 1600, "box")
    assert prof.limits == Limits(memory=512 << 20, time=30.0, files=64)
    assert prof.source == str(tmp_path / "p.toml")


def test_empty_profile_is_the_default_named_after_its_file(tmp_path: Path) -> None:
    prof = load_profile(write(tmp_path, "", "quiet.toml"))
    default = Profile.default()
    assert prof.name == "quiet"
    assert (prof.mounts, prof.env_allow, prof.limits) == ([], DEFAULT_ENV_ALLOW, Limits())
    assert (prof.program_dir, prof.cwd) == (default.program_dir, default.cwd)
    assert (prof.uid, prof.gid) == (os.getuid(), os.getgid())


def test_mount_host_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    text = '[[mounts]]\nhost = "~/a"\nguest = "/a"\n[[mounts]]\nhost = "b"\nguest = "/b"\n'
    prof = load_profile(write(tmp_path, text))
    assert [m.host for m in prof.mounts] == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert [m.mode for m in prof.mounts] == [MountMode.RO, MountMode.RO]


# -- errors name the file, the line and the key -----------------------------------------------
BAD = [
    ('name = "x"\nbogus = 1\n', 2, "bogus: unknown key"),
    ('name = "x"\n\n[bogus]\na = 1\n', 3, "bogus: unknown key"),
    ("name = 3\n", 1, "name: must be a str"),
    ('description = "d"\nsystem_mounts = "yes"\n', 2, "system_mounts: must be a bool"),
    ("\n\nnetwork = 1\n", 3, "network: must be a bool"),
    ('program_dir = "rx"\n', 1, "program_dir: must be one of ro, cow, rw, tmpfs"),
    ('cwd = "maybe"\n', 1, "cwd: must be one of ro, cow, rw, tmpfs"),
    ('time = "tomorrow"\n', 1, "time: use real, offset:SECONDS or frozen:EPOCH_SECONDS"),
    ("extends = 3\n", 1, "extends: must be a profile name or path"),
    ('mounts = ["/tmp"]\n', 1, "mounts: each mount is a table with host, guest, mode"),
    (
        '[[mounts]]\nhost = "/tmp"\nguest = "/a"\n\n[[mounts]]\nhost = "/tmp"\nguest = "b"\n',
        7,
        "mounts[1].guest: must be an absolute guest path",
    ),
    (
        '[[mounts]]\nhost = "/tmp"\nguest = "/a"\nsize = 3\n',
        4,
        "mounts[0].size: unknown key",
    ),
    ('[[mounts]]\nguest = "/a"\nmode = "cow"\n', 1, "mounts[0].host: must be a host path"),
    ('[[mounts]]\nhost = "/tmp"\nguest = "/a"\nmode = "rwx"\n', 4, "mounts[0].mode: must be one"),
    ('environment = "PATH"\n', 1, "environment: must be a table"),
    ("[environment]\nallow = 'PATH'\n", 2, "environment.allow: must be a list of strings"),
    ("[environment]\nallow = [1]\n", 2, "environment.allow: must be a list of strings"),
    ("[environment]\nset = { A = 1 }\n", 2, "environment.set: must be a table of strings"),
    ("[environment]\nkeep = []\n", 2, "environment.keep: unknown key"),
    ('name = "n"\nidentity.uid = -1\n', 2, "identity.uid: must be a non-negative integer"),
    ("[identity]\ngid = 'staff'\n", 2, "identity.gid: must be a non-negative integer"),
    ("[identity]\nhostname = 7\n", 2, "identity.hostname: must be a string"),
    ("[identity]\nshell = 'sh'\n", 2, "identity.shell: unknown key"),
    ("limits = 5\n", 1, "limits: must be a table"),
    ('[limits]\ntime = "1s"\nmemory = "lots"\n', 3, "limits.memory: bad size 'lots'"),
    ('name = "n"\nlimits.time = "soon"\n', 2, "limits.time: bad duration 'soon'"),
    ("[limits]\ncpus = 2\n", 2, "limits.cpus: unknown limit 'cpus'"),
    (
        'name = "n"\npersistence = "keep"\n',
        2,
        "persistence: must be one of discard, sandbox, commit",
    ),
    ("sandbox = 1\n", 1, "sandbox: must be a str"),
    ("network = true\n", 1, "network: guests have no network in appvirt"),
    ('registry = "HKCU"\n', 1, "registry: must be a table"),
    ("[identity]\nusername = ''\n", 2, "identity.username: must be a non-empty string"),
]


def test_bad_registry_seed_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[registry]\n'HKXX\\\\Software' = { A = 1 }\n")
    err = error_of(path)
    assert err.startswith(f"{path}:"), err
    assert "registry.HKXX" in err


def test_persistence_sandbox_and_registry_are_inherited(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text(
        r"""persistence = "commit"
sandbox = "~/boxes/{program}"
[registry.'HKCU\Software\A']
x = 1
y = 2
"""
    )
    child = write(tmp_path, "extends = \"base.toml\"\n[registry.'HKCU\\Software\\A']\ny = 3\n")
    prof = load_profile(child)
    assert prof.persistence == "commit"
    assert prof.sandbox == "~/boxes/{program}"
    assert prof.registry == {"HKCU\\Software\\A": {"x": 1, "y": 3}}


@pytest.mark.parametrize("text,line,message", BAD, ids=[b[2].split(":")[0] for b in BAD])
def test_bad_profile(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    err = error_of(path)
    assert err.startswith(f"{path}:{line}: {message}"), err
    assert "appvirt: error" not in err


def test_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'name = "unterminated\n')
    err = error_of(path)
    assert err.startswith(f"{path}: ") and "line 1" in err


def test_missing_file(tmp_path: Path) -> None:
    err = error_of(tmp_path / "absent.toml")
    assert err == f"{tmp_path / 'absent.toml'}: cannot read profile: No such file or directory"


def test_profile_errors_are_usage_errors() -> None:
    assert issubclass(ProfileError, UsageError)
    assert ProfileError("x").exit_code == 125


def test_cli_reports_a_bad_profile_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[limits]\nmemory = "lots"\n')
    res = subprocess.run(
        [sys.executable, "-m", "appvirt", "run", "--profile", str(path), sample("hello-x86_64")],
        capture_output=True,
        timeout=60,
    )
    assert res.returncode == 125
    assert res.stdout == b""
    assert res.stderr.decode() == (
        f"appvirt: error: {path}:2: limits.memory: bad size 'lots': use a number with K, M or G\n"
    )


# -- extends ------------------------------------------------------------------------------------
BASE = """\
description = "base"
persistence = "commit"
[[mounts]]
guest = "/cache"
mode = "tmpfs"
[environment]
set = { A = "1", B = "2" }
[limits]
memory = "1G"
time = "10s"
"""
CHILD = """\
extends = "{parent}"
[[mounts]]
guest = "/out"
mode = "tmpfs"
[environment]
set = {{ B = "two", C = "3" }}
[limits]
time = "1s"
"""


def test_extends_a_file_beside_it(tmp_path: Path) -> None:
    write(tmp_path, BASE, "base.toml")
    child = load_profile(write(tmp_path, CHILD.format(parent="base.toml"), "child.toml"))
    assert child.name == "child"
    assert child.description == "base"
    assert child.persistence == "commit"
    assert [m.guest for m in child.mounts] == ["/cache", "/out"]
    assert child.env_set == {"A": "1", "B": "two", "C": "3"}
    assert child.limits == Limits(memory=1 << 30, time=1.0)
    base = load_profile(tmp_path / "base.toml")
    assert [m.guest for m in base.mounts] == ["/cache"]
    assert base.limits == Limits(memory=1 << 30, time=10.0)


def test_extends_through_two_levels(tmp_path: Path) -> None:
    write(tmp_path, BASE, "base.toml")
    write(tmp_path, CHILD.format(parent="base.toml"), "child.toml")
    grand = load_profile(
        write(tmp_path, 'extends = "./child.toml"\npersistence = "discard"\n', "g.toml")
    )
    assert grand.persistence == "discard"
    assert [m.guest for m in grand.mounts] == ["/cache", "/out"]
    assert grand.limits == Limits(memory=1 << 30, time=1.0)


def test_extends_default(tmp_path: Path) -> None:
    prof = load_profile(write(tmp_path, 'extends = "default"\n'))
    assert prof.env_allow == DEFAULT_ENV_ALLOW
    assert prof.mounts == []


def test_extends_a_named_user_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    profiles = tmp_path / "config" / "appvirt" / "profiles"
    profiles.mkdir(parents=True)
    write(profiles, BASE, "team.toml")
    prof = load_profile(write(tmp_path, 'extends = "team"\n'))
    assert prof.description == "base"
    assert resolve_profile("team").source == str(profiles / "team.toml")


def test_extends_missing(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, 'extends = "nowhere"\n'))
    assert err == "profile 'nowhere' not found"


def test_an_error_in_the_parent_names_the_parent(tmp_path: Path) -> None:
    parent = write(tmp_path, "\nnetwork = 'yes'\n", "base.toml")
    err = error_of(write(tmp_path, 'extends = "base.toml"\n', "child.toml"))
    assert err.startswith(f"{parent}:2: network: must be a bool")


def test_resolve_default_and_missing() -> None:
    assert resolve_profile("default") == Profile.default()
    with pytest.raises(ProfileError, match="profile 'no-such-profile' not found"):
        resolve_profile("no-such-profile")


# -- the environment allow-list -------------------------------------------------------------------
HOST_ENV = {
    "PATH": "/usr/bin",
    "HOME": "/home/me",
    "LANG": "en_GB.UTF-8",
    "LC_ALL": "C",
    "LC_TIME": "C",
    "TERM": "xterm",
    "USER": "me",
    "APPVIRT_MODE": "fast",
    "SSH_AUTH_SOCK": "/run/agent",
    "AWS_SECRET_ACCESS_KEY": "k",
    "XPATH": "x",
    "PATHS": "y",
}


def test_default_allow_list() -> None:
    env = Profile.default().guest_env(HOST_ENV)
    assert env == {
        "PATH": "/usr/bin",
        "LANG": "en_GB.UTF-8",
        "LC_ALL": "C",
        "LC_TIME": "C",
        "TERM": "xterm",
        "USER": "me",
        "APPVIRT_MODE": "fast",
    }


def test_profile_allow_set_unset_and_extra(tmp_path: Path) -> None:
    prof = load_profile(
        write(
            tmp_path,
            '[environment]\nallow = ["HOME", "LC_*", "PATH"]\n'
            'set = { HOME = "/sandbox", EDITOR = "vi" }\nunset = ["LC_TIME"]\n',
        )
    )
    env = prof.guest_env(HOST_ENV, extra={"EDITOR": "ed", "LC_TIME": "POSIX"})
    assert env == {
        "HOME": "/sandbox",  # set wins over the host's
        "LC_ALL": "C",
        "PATH": "/usr/bin",
        "EDITOR": "ed",  # what the caller passes wins over the profile
        "LC_TIME": "POSIX",  # and is not unset
    }


def test_empty_allow_list_passes_nothing(tmp_path: Path) -> None:
    prof = load_profile(write(tmp_path, "[environment]\nallow = []\n"))
    assert prof.guest_env(HOST_ENV) == {}


# -- --mount ------------------------------------------------------------------------------------
def test_parse_mount(tmp_path: Path) -> None:
    host = str(tmp_path)
    assert parse_mount(f"{host}:/data") == MountSpec("/data", MountMode.RO, host)
    assert parse_mount(f"{host}:/data/./x/:rw") == MountSpec("/data/x", MountMode.RW, host)
    assert parse_mount(f"{host}:/d:cow").mode is MountMode.COW
    assert parse_mount("tmpfs:/scratch") == MountSpec("/scratch", MountMode.TMPFS)


@pytest.mark.parametrize(
    "text,message",
    [
        ("{tmp}:/d:rwx", "bad mount mode 'rwx'"),
        ("{tmp}:data", "guest path 'data' must be absolute"),
        ("{tmp}", "bad mount"),
        ("{tmp}:/a:ro:extra", "bad mount"),
        ("{tmp}/absent:/a", "mount source {tmp}/absent does not exist"),
        ("tmpfs:scratch", "guest path 'scratch' must be absolute"),
    ],
)
def test_bad_mount(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_mount(text.format(tmp=tmp_path))
    assert message.format(tmp=tmp_path) in str(info.value)
