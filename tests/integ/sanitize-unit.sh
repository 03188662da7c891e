#!/bin/bash
# sanitize-unit.sh - the unit tests again, in a second build configured with
# --enable-sanitize (ASan + UBSan, -fno-sanitize-recover): any memory error,
# leak or undefined behaviour a unit test reaches fails this test. For a
# developer's `make check` in a plain build; tests/ci.sh instead runs the whole
# suite in that sanitized build (LITHFS_BUILD/sanitize), so it leaves this out.
# In a build that is itself sanitized it skips (77): its unit tests are it.
set -u
SRC=${LITHFS_SRC:?}
SAN=${LITHFS_BUILD:?}/sanitize
if grep -q '^SAN_CFLAGS = -fsanitize' "$LITHFS_BUILD/Makefile" 2>/dev/null; then
	echo "$LITHFS_BUILD is sanitized: its own unit tests run under ASan/UBSan"
	exit 77
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

mkdir -p "$SAN"
if [ ! -f "$SAN/Makefile" ]; then
	(cd "$SAN" && "$SRC/configure" -q --enable-werror --enable-sanitize) ||
		{ echo "FAIL: configure --enable-sanitize"; exit 1; }
fi
make -C "$SAN" -s -j2 check-programs >"$SAN/build.log" 2>&1 ||
	{ tail -30 "$SAN/build.log"; echo "FAIL: sanitizer build"; exit 1; }
fail=0 n=0
for t in "$SAN"/tests/unit/test_*; do
	case $t in *.c|*.o|*.h) continue ;; esac
	[ -x "$t" ] || continue
	n=$((n + 1))
	if (cd "$SAN" && "$t") >"$t.san.log" 2>&1; then
		echo "ok ${t##*/}"
	else
		echo "FAIL ${t##*/} under ASan/UBSan:"; tail -25 "$t.san.log"; fail=1
	fi
	if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' "$t.san.log"; then
		echo "FAIL ${t##*/}: sanitizer report"; grep -E 'SUMMARY|runtime error' "$t.san.log" | head -5; fail=1
	fi
done
[ "$n" -gt 0 ] || { echo "FAIL: no unit test was built"; exit 1; }
echo "$n unit tests run under ASan/UBSan"
exit $fail
