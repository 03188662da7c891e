#!/bin/bash
# memcheck-unit.sh - the quick unit tests under valgrind memcheck: no invalid
# access, no use of uninitialised memory, no definite or indirect leak
# (--errors-for-leak-kinds=definite,indirect, exit 99 on any error).
# The slow unit tests (big files, many processes) run under ASan instead
# (sanitize-unit.sh).
set -u
B=${LITHFS_BUILD:?}
command -v valgrind >/dev/null || { echo "valgrind not installed"; exit 77; }
fail=0
for t in test_sigv4 test_s3_xml test_s3_errmap test_source test_fs_names test_fs_options \
	test_fs_attrs test_fs_acache test_planio; do
	bin=$B/tests/unit/$t
	[ -x "$bin" ] || { echo "FAIL $t: not built"; fail=1; continue; }
	if (cd "$B" && valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
		"$bin") >"$B/tests/$t.memcheck.log" 2>&1; then
		echo "ok $t"
	else
		echo "FAIL $t under memcheck:"; grep -E '==[0-9]+==' "$B/tests/$t.memcheck.log" | head -20; fail=1
	fi
done
exit $fail
