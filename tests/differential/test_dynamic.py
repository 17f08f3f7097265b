"""Debian's dynamically linked programs (/usr/bin), natively and under appvirt, byte for byte.

Each program is loaded by the host's ld.so and libc from the read-only system mount; the scripts
run by /bin/sh (dash, itself dynamic) fork and exec more of them. Every case runs first under
appvirt in a fixture folder mounted copy-on-write (the folder must be unchanged afterwards), then
natively in the same folder with the same environment (TZ=UTC, LANG=C); stdout and exit status
must be identical.
"""

from __future__ import annotations

import gzip
import os
import random
from pathlib import Path

import pytest
from helpers import guest_then_native, pristine_copy, write_tar

WORDS = "pear\napple\nfig\nbanana\napple\ncherry\nfig\ndate\napple\n"
NUMS = "10\n2\n33\n4\n-5\n100\n7\n"
TEXT = "the quick brown fox\njumps over the lazy dog\nfoo bar foo\n"
CSV = "alice,30,paris\nbob,25,rome\ncarol,35,oslo\n"

SH = "/bin/sh"  # dash on Debian: dynamically linked

# (id, argv)
CASES: list[tuple[str, list[str]]] = [
    ("ls-la", ["/usr/bin/ls", "-la", "sub", "sub/deeper"]),
    # the folder's own parent is not mounted (the guest sees a stand-in): leave out ".." and total
    ("ls-la-cwd", [SH, "-c", "ls -la | sed '1d; / \\.\\.$/d'"]),
    ("ls-la-usr-bin", ["/usr/bin/ls", "-la", "/usr/bin"]),
    ("ls-missing", ["/usr/bin/ls", "-l", "nothing-here"]),
    ("cat", ["/usr/bin/cat", "words.txt", "text.txt"]),
    ("cat-missing", ["/usr/bin/cat", "words.txt", "nope.txt"]),
    ("sort-u", ["/usr/bin/sort", "-u", "words.txt"]),
    ("sort-n-r", ["/usr/bin/sort", "-n", "-r", "nums.txt"]),
    ("sort-tempfiles", [SH, "-c", "seq 1 30000 | sort -S 64K -T . -r | md5sum; ls"]),
    ("uniq-c", [SH, "-c", "sort words.txt | uniq -c"]),
    ("head", ["/usr/bin/head", "-n", "3", "words.txt"]),
    ("tail", ["/usr/bin/tail", "-n", "2", "words.txt"]),
    ("tail-c", ["/usr/bin/tail", "-c", "64", "big.bin"]),
    ("wc", ["/usr/bin/wc", "words.txt", "text.txt", "big.bin"]),
    ("cut", ["/usr/bin/cut", "-d,", "-f1,3", "csv.txt"]),
    ("tr", [SH, "-c", "tr a-z A-Z < text.txt; tr -d aeiou < words.txt | tr -s '\\n' ' '"]),
    ("grep-n", ["/usr/bin/grep", "-n", "foo", "text.txt"]),
    ("grep-c", ["/usr/bin/grep", "-c", "apple", "words.txt"]),
    ("grep-no-match", ["/usr/bin/grep", "zebra", "words.txt"]),
    ("grep-r", [SH, "-c", "grep -r -l t sub | sort"]),
    ("sed", ["/usr/bin/sed", "-e", "s/foo/baz/g", "-e", "2d", "text.txt"]),
    ("awk", ["/usr/bin/awk", "-F,", "{s += $2; print $1, $2 * 2} END {print s}", "csv.txt"]),
    ("find-name", [SH, "-c", "find . -name '*.txt' | sort"]),
    ("find-type", [SH, "-c", "find sub -type f | sort; find . -type d | sort"]),
    ("find-exec", [SH, "-c", "find sub -name '*.txt' -exec cat {} \\; | sort"]),
    ("diff", ["/usr/bin/diff", "a.txt", "b.txt"]),
    ("diff-u", ["/usr/bin/diff", "-u", "--label", "A", "--label", "B", "a.txt", "b.txt"]),
    ("diff-same", ["/usr/bin/diff", "a.txt", "a.txt"]),
    ("cmp", ["/usr/bin/cmp", "a.txt", "b.txt"]),
    ("tar-tvf", ["/usr/bin/tar", "-tvf", "archive.tar"]),
    ("tar-pipe", [SH, "-c", "tar -cf - sub | tar -tf - | sort"]),
    ("tar-gzip-pipe", [SH, "-c", "tar -czf - sub | tar -tzf - | sort"]),
    ("gzip-gunzip", [SH, "-c", "gzip -c big.bin | gunzip -c | cmp - big.bin && echo same"]),
    ("gzip-n", ["/usr/bin/gzip", "-c", "-n", "text.txt"]),
    ("gunzip", ["/usr/bin/gunzip", "-c", "text.txt.gz"]),
    ("md5sum", ["/usr/bin/md5sum", "words.txt", "big.bin"]),
    ("sha256sum", ["/usr/bin/sha256sum", "big.bin"]),
    ("md5sum-stdin", [SH, "-c", "cat big.bin big.bin | md5sum"]),
    ("basename", ["/usr/bin/basename", "/a/b/c.txt", ".txt"]),
    ("dirname", ["/usr/bin/dirname", "/a/b/c"]),
    ("date-epoch", ["/usr/bin/date", "-u", "-d", "@0"]),
    ("date-format", ["/usr/bin/date", "-u", "-d", "2021-03-04 05:06:07", "+%s %A %j %Z"]),
    ("seq", ["/usr/bin/seq", "-w", "1", "3", "20"]),
    ("expr", ["/usr/bin/expr", "6", "*", "7"]),
    ("expr-false", ["/usr/bin/expr", "length", ""]),
    ("printf", ["/usr/bin/printf", "%05d|%s|%x|%.2f\\n", "42", "str", "255", "3.14159"]),
    ("stat", ["/usr/bin/stat", "-c", "%s %F %a %n", "words.txt", "sub", "link.txt"]),
    ("du-b", ["/usr/bin/du", "-b", "words.txt", "big.bin"]),
    ("od-c", ["/usr/bin/od", "-c", "text.txt"]),
    ("base64", ["/usr/bin/base64", "text.txt"]),
    ("base64-roundtrip", [SH, "-c", "base64 big.bin | base64 -d | cmp - big.bin && echo same"]),
    ("readlink", ["/usr/bin/readlink", "link.txt"]),
    (
        "ln-readlink",
        [SH, "-c", "ln -s words.txt l2 && readlink l2 && readlink -f l2 | sed 's|.*/||'"],
    ),
    ("mkdir-ls-R", [SH, "-c", "mkdir -p x/y/z && touch x/y/f && ls -R x"]),
    (
        "cp-mv-rm",
        [SH, "-c", "cp big.bin c.bin && cmp big.bin c.bin && mv a.txt z.txt && rm b.txt && ls"],
    ),
    (
        "touch-stat",
        [
            SH,
            "-c",
            "touch -d @1000000000 new && stat -c '%Y %s' new; chmod 600 words.txt && stat -c %a words.txt",
        ],
    ),
    (
        "truncate",
        [
            SH,
            "-c",
            "truncate -s 10 words.txt && cat words.txt; echo; truncate -s 100000 words.txt && wc -c words.txt",
        ],
    ),
    ("tee", [SH, "-c", "echo teed | tee t.txt; cat t.txt"]),
    ("split", [SH, "-c", "split -l 3 words.txt part_ && cat part_ab && ls part_*"]),
    (
        "xargs",
        [SH, "-c", "seq 1 7 | xargs -n 3 echo; seq 1 6 | xargs -P 3 -n 1 expr 10 + | sort -n"],
    ),
    ("dd", ["/usr/bin/dd", "if=big.bin", "bs=1000", "skip=3", "count=2", "status=none"]),
    ("nl", ["/usr/bin/nl", "-ba", "words.txt"]),
    ("shuf-seeded", [SH, "-c", "seq 10 | shuf --random-source=big.bin"]),
    ("env-i", ["/usr/bin/env", "-i", "A=1", "B=two"]),
    ("true", ["/usr/bin/true"]),
    ("false", ["/usr/bin/false"]),
]


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("dynamic") / "work"
    (d / "sub" / "deeper").mkdir(parents=True)
    (d / "words.txt").write_text(WORDS)
    (d / "nums.txt").write_text(NUMS)
    (d / "text.txt").write_text(TEXT)
    (d / "csv.txt").write_text(CSV)
    (d / "a.txt").write_text("alpha\nbeta\ngamma\n")
    (d / "b.txt").write_text("alpha\nbravo\ngamma\n")
    rng = random.Random(11)
    (d / "big.bin").write_bytes(bytes(rng.getrandbits(8) for _ in range(1 << 18)))
    (d / "text.txt.gz").write_bytes(gzip.compress(TEXT.encode(), mtime=0))
    (d / "sub" / "one.txt").write_text("one\n")
    (d / "sub" / "deeper" / "two.txt").write_text("two\n")
    (d / "sub" / "deeper" / "three.dat").write_text("3\n")
    write_tar(d / "archive.tar")
    for path in d.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    os.symlink("words.txt", d / "link.txt")
    return d


@pytest.fixture(scope="module")
def pristine(fixture_dir: Path) -> Path:
    return pristine_copy(fixture_dir)


@pytest.mark.parametrize("argv", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_program_matches_native(fixture_dir: Path, pristine: Path, argv: list[str]) -> None:
    guest, native = guest_then_native(argv, fixture_dir, pristine)
    assert guest.status == native.status, guest.stderr.decode(errors="replace")
    assert guest.stdout == native.stdout, guest.stderr.decode(errors="replace")
