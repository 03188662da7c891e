#!/bin/bash
# memcheck-unit.sh - every unit test under valgrind memcheck: no invalid
# access, no use of uninitialised memory in any of its processes (exit 99), no
# definite or indirect leak in the test process (its LEAK SUMMARY; a fork
# child that _exits holds its parent's heap, reported "lost" but no leak), and
# the test itself must pass. Suppressions: tests/valgrind.supp, only for real
# false positives of libraries, each justified there. --max-stackframe=16M:
# test_file keeps two 3 MiB buffers on its stack; above valgrind's 2 MB default
# such a frame is taken for a stack switch and every access in it is
# reported as invalid (ASan, which checks stack bounds, finds nothing there).
# Bounded: each test gets MEMCHECK_TIMEOUT s (default 900); the tests run two
# at a time (valgrind runs a program on one core); the runner gives this test
# up to the limit on the next line. An ASan build cannot run under valgrind:
# with LITHFS_BUILD configured --enable-sanitize this skips (77); CI runs it
# in its plain -Werror build.
# lithfs-test-timeout: 1800
set -u
B=${LITHFS_BUILD:?}
SRC=${LITHFS_SRC:?}
PER=${MEMCHECK_TIMEOUT:-900}
# unit tests with a time bound scale it by this (valgrind runs code 10-50x slower)
export LITHFS_TEST_SLOWDOWN=${LITHFS_TEST_SLOWDOWN:-10}
command -v valgrind >/dev/null || { echo "valgrind not installed"; exit 77; }
if grep -q '^SAN_CFLAGS = -fsanitize' "$B/Makefile" 2>/dev/null; then
	echo "$B is an ASan build: valgrind cannot run it"
	exit 77
fi
tests=()
for t in "$B"/tests/unit/test_*; do
	case $t in *.c|*.o|*.h|*.log|*.trs) continue ;; esac
	[ -f "$t" ] && [ -x "$t" ] && tests+=("${t##*/}")
done
[ ${#tests[@]} -gt 0 ] || { echo "FAIL: no unit test built in $B/tests/unit"; exit 1; }
mkdir -p "$TMPDIR/memcheck"

# main_log DIR: of the per-process logs in DIR, the test process's own (its
# parent, `timeout`, ran no valgrind; a fork child's parent did)
main_log() {
	local f pids=" " pp
	for f in "$1"/*; do pids+="${f##*/} "; done
	for f in "$1"/*; do
		pp=$(sed -n 's/^==[0-9]*== Parent PID: \([0-9]*\)$/\1/p' "$f" | head -n 1)
		[[ $pids == *" $pp "* ]] || { echo "$f"; return; }
	done
}

# one NAME: run it under memcheck; its verdict in $TMPDIR/memcheck/NAME.verdict.
# Memory errors count in every process (exit 99); leaks only in the test process:
# a fork child that _exits leaves its parent's heap behind, which is no leak.
one() {
	local t=$1 log=$TMPDIR/memcheck/$1.log d=$TMPDIR/memcheck/$1.vg rc s=$SECONDS main lost
	mkdir -p "$d"
	(cd "$B" && exec timeout -k 10 "$PER" valgrind --log-file="$d/%p" --error-exitcode=99 \
		--leak-check=full --errors-for-leak-kinds=none \
		--show-leak-kinds=definite,indirect --num-callers=30 --max-stackframe=16777216 \
		--suppressions="$SRC/tests/valgrind.supp" "$B/tests/unit/$t") >"$log" 2>&1
	rc=$?
	main=$(main_log "$d")
	lost=$(sed -n 's/.* \(definitely\|indirectly\) lost: \([0-9,]*\) bytes.*/\2/p' "$main" 2>/dev/null |
		tr -d , | awk '{ n += $1 } END { print n + 0 }')
	cat "$d"/* >>"$log" 2>/dev/null
	case $rc in
	0) if [ -z "$main" ]; then echo "FAIL $t: no valgrind log"
	   elif [ "$lost" -gt 0 ]; then echo "FAIL $t: $lost bytes definitely/indirectly lost"
	   else echo "ok $t ($((SECONDS - s)) s)"; fi ;;
	99) echo "FAIL $t: memcheck errors ($((SECONDS - s)) s)" ;;
	124|137) echo "FAIL $t: not done in $PER s" ;;
	*) echo "FAIL $t: exit $rc under memcheck ($((SECONDS - s)) s)" ;;
	esac >"$TMPDIR/memcheck/$t.verdict"
}

# two at a time, in name order
running=()
for t in "${tests[@]}"; do
	one "$t" &
	running+=($!)
	if [ ${#running[@]} -ge 2 ]; then
		wait "${running[0]}"
		running=("${running[@]:1}")
	fi
done
wait
fail=0
for t in "${tests[@]}"; do
	v=$(cat "$TMPDIR/memcheck/$t.verdict" 2>/dev/null || echo "FAIL $t: no verdict")
	echo "$v"
	case $v in
	ok*) ;;
	*)	fail=1
		grep -E '== (Invalid|Conditional|Use of|Syscall|Mismatched|.*(definitely|indirectly) lost in)|==    (at|by)|FAIL|failed' \
			"$TMPDIR/memcheck/$t.log" | head -40 ;;
	esac
done
echo "${#tests[@]} unit tests under memcheck"
exit $fail
