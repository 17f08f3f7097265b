"""Busybox applets, natively and under appvirt, compared byte for byte (stdout and status).

Each case runs first under appvirt in a fixture folder mounted copy-on-write (the folder must be
unchanged afterwards), then natively in the same folder, so paths and file times match.
"""

from __future__ import annotations

import gzip
import random
import shutil
from pathlib import Path

import pytest
from helpers import BUSYBOX, guest_then_native, pristine_copy, write_tar

WORDS = "pear\napple\nfig\nbanana\napple\ncherry\nfig\ndate\n"
NUMS = "10\n2\n33\n4\n-5\n100\n7\n"
PASSWD = "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/false\n"
TEXT = "the quick brown fox\njumps over the lazy dog\nfoo bar foo\nTabs\there\n"

CASES: list[tuple[str, list[str], bytes, bool]] = [
    # (id, busybox argv, stdin, compare lines as a set)
    ("echo", ["echo", "hello", "world"], b"", False),
    ("cat", ["cat", "text.txt"], b"", False),
    ("cat-missing", ["cat", "nope.txt"], b"", False),
    ("wc", ["wc", "text.txt"], b"", False),
    ("wc-l", ["wc", "-l", "words.txt"], b"", False),
    ("sort", ["sort", "words.txt"], b"", False),
    ("sort-rn", ["sort", "-r", "-n", "nums.txt"], b"", False),
    ("sort-u", ["sort", "-u", "words.txt"], b"", False),
    ("uniq-c", ["uniq", "-c", "sorted.txt"], b"", False),
    ("head", ["head", "-n", "3", "words.txt"], b"", False),
    ("tail", ["tail", "-n", "2", "words.txt"], b"", False),
    ("cut", ["cut", "-d:", "-f1,5", "passwd.txt"], b"", False),
    ("tr-stdin", ["tr", "a-z", "A-Z"], TEXT.encode(), False),
    ("grep-n", ["grep", "-n", "foo", "text.txt"], b"", False),
    ("grep-c", ["grep", "-c", "apple", "words.txt"], b"", False),
    ("grep-none", ["grep", "zebra", "words.txt"], b"", False),
    ("sed", ["sed", "s/foo/baz/g", "text.txt"], b"", False),
    ("awk", ["awk", "-F:", "{print $1, $3 + 1}", "passwd.txt"], b"", False),
    ("md5sum", ["md5sum", "text.txt", "big.bin"], b"", False),
    ("sha1sum", ["sha1sum", "big.bin"], b"", False),
    ("sha256sum", ["sha256sum", "big.bin"], b"", False),
    ("sha512sum", ["sha512sum", "words.txt"], b"", False),
    ("cksum", ["cksum", "big.bin"], b"", False),
    ("base64", ["base64", "text.txt"], b"", False),
    ("od", ["od", "-A", "x", "-t", "x1z", "text.txt"], b"", False),
    ("hexdump", ["hexdump", "-C", "words.txt"], b"", False),
    ("xxd", ["xxd", "nums.txt"], b"", False),
    ("ls", ["ls"], b"", False),
    ("ls-l", ["ls", "-ln", "sub"], b"", False),
    ("ls-missing", ["ls", "nothing-here"], b"", False),
    ("find", ["find", ".", "-name", "*.txt"], b"", True),
    ("find-type", ["find", "sub", "-type", "f"], b"", True),
    ("stat", ["stat", "-c", "%s %F %a %n", "text.txt", "sub"], b"", False),
    ("date-d", ["date", "-u", "-d", "@86400"], b"", False),
    ("date-fmt", ["date", "-u", "-d", "2020-01-02 03:04:05", "+%s %A %j"], b"", False),
    ("expr", ["expr", "3", "*", "7"], b"", False),
    ("expr-false", ["expr", "0", "+", "0"], b"", False),
    ("seq", ["seq", "1", "3", "20"], b"", False),
    ("printf", ["printf", "%05d|%s|%x\\n", "42", "str", "255"], b"", False),
    ("basename", ["basename", "/a/b/c.txt", ".txt"], b"", False),
    ("dirname", ["dirname", "/a/b/c"], b"", False),
    ("true", ["true"], b"", False),
    ("false", ["false"], b"", False),
    ("test-f", ["test", "-f", "text.txt"], b"", False),
    ("test-d", ["test", "-d", "text.txt"], b"", False),
    ("cmp", ["cmp", "a.txt", "b.txt"], b"", False),
    ("diff", ["diff", "a.txt", "b.txt"], b"", False),
    ("gzip", ["gzip", "-c", "text.txt"], b"", False),
    ("gunzip", ["gunzip", "-c", "text.txt.gz"], b"", False),
    ("bzip2", ["bzip2", "-c", "words.txt"], b"", False),
    ("tar-t", ["tar", "-tvf", "archive.tar"], b"", False),
    ("tar-x", ["tar", "-xvf", "archive.tar"], b"", False),
    ("tar-c", ["tar", "-cf", "-", "sub/one.txt", "text.txt"], b"", False),
    ("rev", ["rev", "words.txt"], b"", False),
    ("nl", ["nl", "words.txt"], b"", False),
    ("fold", ["fold", "-w", "7", "text.txt"], b"", False),
    ("tac", ["tac", "words.txt"], b"", False),
    ("paste", ["paste", "a.txt", "b.txt"], b"", False),
    ("comm", ["comm", "sorted.txt", "b.txt"], b"", False),
    ("strings", ["strings", "-n", "6", "big.bin"], b"", False),
    ("factor", ["factor", "360", "97"], b"", False),
    ("uname", ["uname", "-s", "-m"], b"", False),
    ("env-i", ["env", "-i", "A=1", "B=two"], b"", False),
    ("touch", ["touch", "new-file"], b"", False),
    ("rm-missing", ["rm", "missing-file"], b"", False),
    ("mkdir-p", ["mkdir", "-p", "x/y/z"], b"", False),
    ("cp", ["cp", "text.txt", "copy.txt"], b"", False),
    ("mv", ["mv", "a.txt", "moved.txt"], b"", False),
    ("ln-s", ["ln", "-s", "text.txt", "link.txt"], b"", False),
    ("dd", ["dd", "if=big.bin", "bs=4096", "count=3", "status=none"], b"", False),
    ("sum", ["sum", "words.txt"], b"", False),
    ("unexpand", ["expand", "text.txt"], b"", False),
    ("tee", ["tee", "teed.txt"], b"piped\n", False),
    ("wc-stdin", ["wc", "-c"], b"x" * 100000, False),
]


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("busybox")
    (d / "words.txt").write_text(WORDS)
    (d / "sorted.txt").write_text("".join(sorted(WORDS.splitlines(keepends=True))))
    (d / "nums.txt").write_text(NUMS)
    (d / "passwd.txt").write_text(PASSWD)
    (d / "text.txt").write_text(TEXT)
    (d / "a.txt").write_text("alpha\nbeta\ngamma\n")
    (d / "b.txt").write_text("alpha\nbravo\ngamma\n")
    rng = random.Random(7)
    (d / "big.bin").write_bytes(bytes(rng.getrandbits(8) for _ in range(1 << 20)))
    (d / "text.txt.gz").write_bytes(gzip.compress(TEXT.encode(), mtime=0))
    sub = d / "sub"
    (sub / "deeper").mkdir(parents=True)
    (sub / "one.txt").write_text("1\n")
    (sub / "deeper" / "two.txt").write_text("2\n")
    (sub / "deeper" / "three.dat").write_text("3\n")
    write_tar(d / "archive.tar")
    for path in d.rglob("*"):
        if path.is_file():
            path.chmod(0o644)
    return d


@pytest.fixture(scope="module")
def pristine(fixture_dir: Path) -> Path:
    return pristine_copy(fixture_dir)


@pytest.mark.skipif(shutil.which(BUSYBOX) is None, reason="busybox-static not installed")
@pytest.mark.parametrize("argv,stdin,unordered", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_applet_matches_native(
    fixture_dir: Path, pristine: Path, argv: list[str], stdin: bytes, unordered: bool
) -> None:
    guest, native = guest_then_native([BUSYBOX, *argv], fixture_dir, pristine, stdin)
    assert guest.status == native.status, guest.stderr.decode(errors="replace")
    if unordered:
        assert sorted(guest.stdout.splitlines()) == sorted(native.stdout.splitlines())
    else:
        assert guest.stdout == native.stdout
