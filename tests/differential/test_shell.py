"""Busybox shell scripts (``busybox sh -c``), natively and under appvirt, compared byte for byte.

Every script forks, pipes, waits or signals: they exercise the guest kernel's processes, pipes,
exec, wait4, signals and /dev files through a real shell. Each script runs first under appvirt in
a fixture folder mounted copy-on-write (the folder must be unchanged afterwards), then natively
in the same folder; stdout and exit status must be identical. Nothing printed depends on pids,
times or directory order (find output is sorted).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import BUSYBOX, guest_then_native, pristine_copy

WORDS = "pear\napple\nfig\nbanana\napple\ncherry\nfig\ndate\napple\n"
NUMS = "10\n2\n33\n4\n-5\n100\n7\n"
TEXT = "the quick brown fox\njumps over the lazy dog\nfoo bar foo\n"
CSV = "alice,30,paris\nbob,25,rome\ncarol,35,oslo\n"

# (id, script)
CASES: list[tuple[str, str]] = [
    # pipes
    ("pipe-2", "cat words.txt | sort"),
    ("pipe-3", "cat words.txt | sort | uniq"),
    ("pipe-4", "cat words.txt | tr a-z A-Z | sort -r | head -n 3"),
    ("pipe-status", "false | true; echo $?; true | false; echo $?"),
    ("pipe-big", "yes 0123456789abcdef | head -c 300000 | wc -c; seq 1 30000 | md5sum"),
    ("pipe-early-close", "seq 1 100000 | head -n 1; echo $?; yes | sed 1q; echo done"),
    ("sort-uniq-count", "sort words.txt | uniq -c | sort -rn | head -n 3"),
    ("tr-cut", "tr ',' ' ' < csv.txt | cut -d' ' -f1,3; cut -d, -f2 csv.txt | sort -n | tail -n 1"),
    (
        "awk-pipe",
        "awk -F, '{s += $2} END {print s, NR}' csv.txt | tr ' ' +; cat words.txt | awk 'length > 4'",
    ),
    ("read-pipe", "echo 'x y z' | { read a b c; echo $c $b $a; }"),
    ("group-2>&1-sort", "{ echo b; echo a >&2; echo c; } 2>&1 | sort"),
    # command substitution
    ("cmdsubst", 'n=$(wc -l < words.txt); echo "lines: $n"; echo "first: $(head -n 1 words.txt)"'),
    ("backticks", 'x=`echo nested`; echo "got $x `expr 6 \\* 7`"'),
    (
        "cmdsubst-nested",
        "echo $(echo $(echo $(echo deep))); echo $(echo a | tr a b)$(printf c | tr c d)",
    ),
    ("cmdsubst-big", "x=$(seq 1 5000); echo ${#x}"),
    # redirections
    (
        "redirect-write-append",
        "echo one > out.txt; echo two >> out.txt; cat out.txt; wc -c < out.txt",
    ),
    (
        "redirect-2>&1",
        "ls missing-file 2>&1 | sed 's/.*missing-file.*/ERR/'; cat nope 2>/dev/null; echo $?",
    ),
    ("redirect-order", "{ echo out; echo err >&2; } 2>&1 >/dev/null | sed s/^/got-/"),
    ("redirect-stdin", 'while read w; do echo "<$w>"; done < words.txt'),
    (
        "redirect-loop",
        "i=0; while [ $i -lt 3 ]; do echo $i; i=$((i+1)); done > loop.txt; cat loop.txt",
    ),
    (
        "redirect-fd3",
        "exec 3<words.txt; read a <&3; read b <&3; echo $a $b; cat <&3 | wc -l; exec 3<&-",
    ),
    (
        "redirect-rw",
        "echo hello > rw.txt; exec 4<>rw.txt; read x <&4; echo got $x; echo more >&4; cat rw.txt",
    ),
    ("noclobber", "set -C; echo a > nc.txt; echo b > nc.txt; echo rc=$?; cat nc.txt"),
    ("heredoc", "cat <<EOF | tr a-z A-Z\nhello $((2 + 3))\nworld\nEOF"),
    ("heredoc-quoted", "x=1; cat <<'EOF'\nno $x expansion\nEOF"),
    (
        "dev-files",
        "echo x | cat /dev/fd/0; echo y | cat /dev/stdin; echo z > /dev/null; head -c 8 /dev/zero | od -c",
    ),
    ("mkfifo", "mkfifo ff; (echo via-fifo > ff) & cat ff; wait; rm ff"),
    # subshells, lists, statuses
    (
        "subshell",
        "x=outer; (x=inner; echo $x; cd sub && pwd | sed 's|.*/||'); echo $x; pwd | sed 's|.*/||'",
    ),
    (
        "and-or",
        "true && echo yes; false && echo no; false || echo fallback; true || echo never; echo end",
    ),
    ("status", "false; echo $?; true; echo $?; (exit 7); echo $?; sh -c 'exit 3'; echo $?"),
    ("status-subshell", "(exit 3) || echo failed $?; ( (exit 4) ); echo $?"),
    ("exit-n", "echo before; exit 42; echo after"),
    ("set-e", "set -e; echo a; false; echo b"),
    # xargs and find
    ("xargs-n", "seq 1 7 | xargs -n 3 echo"),
    ("xargs-I", "printf 'a\\nb\\nc\\n' | xargs -I X echo item-X-end"),
    ("find-exec", "find . -name '*.txt' -exec cat {} \\; | sort"),
    ("find-sort", "find sub | sort; find . -type d | sort"),
    ("yes-head", "yes | head -n 5; yes abc | head -n 2"),
    # loops, functions, arithmetic, case, test
    ("seq-while-read", "seq 1 5 | while read i; do echo $((i * i)); done"),
    (
        "for-loop",
        "for f in a b c; do echo item $f; done; for i in $(seq 3); do printf '%s,' $i; done; echo",
    ),
    (
        "for-pipe-each",
        "for i in 1 2 3 4 5 6 7 8; do echo $i | tr 1-8 a-h; done | tr -d '\\n'; echo",
    ),
    ("function", "sq() { echo $(( $1 * $1 )); return $2; }; sq 9 0; sq 4 5; echo rc=$?"),
    (
        "arith",
        "a=7; b=3; echo $((a + b)) $((a * b)) $((a / b)) $((a % b)) $((a << 2)) $(( (a - 10) * 2 ))",
    ),
    (
        "case",
        "for w in apple fig kiwi 42; do case $w in a*) echo A;; f?g) echo F;; [0-9]*) echo N;; *) echo other;; esac; done",
    ),
    (
        "test",
        "[ -f words.txt ] && echo file; [ -d sub ] && echo dir; test 3 -gt 2 && echo gt; [ abc = abd ]; echo $?; [ -z '' ] && echo empty",
    ),
    ("getopts", 'f() { while getopts ab: o; do echo "$o=$OPTARG"; done; }; f -a -b val'),
    ("ifs-read", 'while IFS=, read n a c; do echo "$c:$n"; done < csv.txt | sort'),
    # jobs, wait and signals
    ("wait-bg", "sleep 0.1 & sleep 0.1 & wait; echo waited; (exit 4) & wait $!; echo $?"),
    ("wait-many", "for i in 1 2 3 4; do (sleep 0.0$i; exit $i) & done; wait; echo all"),
    ("bg-output", "(echo from-bg) & wait; echo done"),
    ("trap-term", "trap 'echo caught' TERM; kill -TERM $$; echo after"),
    ("trap-usr1", "trap 'echo usr1' USR1; kill -USR1 $$; kill -USR1 $$; trap - USR1; echo end"),
    ("trap-exit", "trap 'echo bye $?' EXIT; echo hi; exit 3"),
    ("trap-from-child", "trap 'echo parent-got-term' TERM; sh -c 'kill -TERM $PPID'; echo after"),
    ("kill-9", "sleep 5 & kill -9 $!; wait $!; echo $?"),
    ("kill-term", "sleep 5 & p=$!; kill $p; wait $p; echo $?"),
    ("killed-child-status", "sh -c 'kill -USR1 $$'; echo $?; sh -c 'kill -SEGV $$'; echo $?"),
    ("timeout", "timeout 1 sleep 3; echo $?"),
    # process state: limits, umask, cwd, env, exec
    (
        "ulimit-n",
        "ulimit -n 256; ulimit -n; sh -c 'ulimit -n'; (ulimit -n 100; ulimit -n); ulimit -n",
    ),
    ("umask", "umask; umask 027; umask; sh -c umask; umask 0022"),
    ("cd-pwd", "cd sub/deeper && pwd | sed 's|.*/sub|SUB|'; cd ..; pwd | sed 's|.*/||'; cd /; pwd"),
    ("env-grep", "FOO=bar env | grep -E '^(FOO|LANG|TZ)=' | sort"),
    ("exec", "exec echo replaced; echo never"),
    ("exec-redirect", "exec > log.txt; echo hidden; exec >&2; cat log.txt >&1"),
    ("exec-close-stdout", "exec 1>&-; echo gone; exit 0"),
    ("nested-sh", "sh -c 'echo inner $0 $1; exit 5' zero one; echo outer $?"),
    ("nested-sh-pipe", "sh -c 'seq 1 3' | sh -c 'while read x; do echo n$x; done'"),
    (
        "self-pid",
        "echo $$ > pid.txt; sh -c 'echo $PPID' > ppid.txt; cmp -s pid.txt ppid.txt && echo same",
    ),
    (
        "mkdir-ls-R",
        "mkdir -p new/a/b && touch new/a/b/f && ls -R new; rm -r new; ls new 2>&1 | wc -l",
    ),
]


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("shell") / "work"
    (d / "sub" / "deeper").mkdir(parents=True)
    (d / "words.txt").write_text(WORDS)
    (d / "nums.txt").write_text(NUMS)
    (d / "text.txt").write_text(TEXT)
    (d / "csv.txt").write_text(CSV)
    (d / "sub" / "one.txt").write_text("one\n")
    (d / "sub" / "deeper" / "two.txt").write_text("two\n")
    (d / "sub" / "deeper" / "three.dat").write_text("3\n")
    for path in d.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return d


@pytest.fixture(scope="module")
def pristine(fixture_dir: Path) -> Path:
    return pristine_copy(fixture_dir)


@pytest.mark.parametrize("script", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_script_matches_native(fixture_dir: Path, pristine: Path, script: str) -> None:
    argv = [BUSYBOX, "sh", "-c", script]
    guest, native = guest_then_native(argv, fixture_dir, pristine)
    assert guest.status == native.status, guest.stderr.decode(errors="replace")
    assert guest.stdout == native.stdout, guest.stderr.decode(errors="replace")
