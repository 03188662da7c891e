#!/bin/bash
# harness-selftest.sh - checks the test harness itself:
#   1. tests/run's verdicts on a fake build dir (pass, fail, skip; a skip fails under
#      CI=true; a test that leaves a process behind fails; the closing line and exit code)
#   2. the radosgw that tests/start-rgw.sh started: a bucket/object round trip with the
#      env's key, and a request signed with a wrong secret is refused (403)
#   3. the Slurm cluster of tests/start-slurm.sh: a batch job runs and writes its output
# Exits 77 (skip) when S3_ENDPOINT or SLURM_CONF is missing, after part 1 passed.
set -u
fail=0
check() {  # DESCRIPTION CMD...: run CMD, report and count a failure
	local what=$1; shift
	if "$@"; then echo "ok: $what"; else echo "NOT OK: $what"; fail=1; fi
}

# ---------------------------------------------------------------- 1. runner verdicts
RUNNER=$LITHFS_SRC/tests/run
fake=$TMPDIR/fake
mkdir -p "$fake/build/tests/unit" "$fake/src/tests/integ"
printf '#!/bin/sh\nexit 0\n' > "$fake/build/tests/unit/test_a_pass"
printf '#!/bin/sh\necho boom\nexit 3\n' > "$fake/build/tests/unit/test_b_fail"
printf '#!/bin/sh\necho no service\nexit 77\n' > "$fake/build/tests/unit/test_c_skip"
printf 'int main(void) { return 1; }\n' > "$fake/build/tests/unit/test_a_pass.c"
printf '#!/bin/bash\nsleep 300 &\nexit 0\n' > "$fake/src/tests/integ/leaves_process.sh"
chmod +x "$fake/build/tests/unit/test_"?_* "$fake/src/tests/integ/leaves_process.sh"
runs=0
runner() {  # CI-VALUE ARGS...: run the runner on the fake tree; sets OUT and RC
	runs=$((runs + 1))
	OUT=$(env -u LITHFS_UNIT_TESTS CI="$1" LITHFS_BUILD="$fake/build" LITHFS_SRC="$fake/src" \
		LITHFS_TEST_TIMEOUT=20 timeout 60 bash "$RUNNER" "${@:2}" 2>&1)
	RC=$?
	printf '%s\n' "\$ CI=$1 tests/run ${*:2}" "$OUT" "(exit $RC)" > "$TMPDIR/runner-$runs.out"
}
runner false
check "runner: closing line without CI" grep -qx '1 passed, 2 failed, 1 skipped' <<<"$OUT"
check "runner: exit 1 when a test failed" test "$RC" = 1
check "runner: FAIL line with exit code" grep -q '^FAIL unit/test_b_fail (exit 3)' <<<"$OUT"
check "runner: failure shows the log" grep -q '| boom' <<<"$OUT"
check "runner: leftover process fails the test" grep -q '^FAIL integ/leaves_process (left processes running' <<<"$OUT"
check "runner: .c file is not a test" test "$(grep -c 'test_a_pass' <<<"$OUT")" = 1
runner true unit/test_a unit/test_c
check "runner: skip fails under CI" grep -q '^FAIL unit/test_c_skip (skipped under CI)' <<<"$OUT"
check "runner: pattern filter + CI closing line" grep -qx '1 passed, 1 failed' <<<"$OUT"
runner false test_a_
check "runner: all passed exits 0" test "$RC" = 0
check "runner: closing line without skips" grep -qx '1 passed, 0 failed' <<<"$OUT"
runner false no-such-test
check "runner: no matching test exits non-zero" test "$RC" != 0
OUT=$(LITHFS_UNIT_TESTS="tests/unit/test_a_pass tests/unit/test_d_missing" CI=false \
	LITHFS_BUILD="$fake/build" LITHFS_SRC="$fake/src" timeout 60 bash "$RUNNER" unit/test_a unit/test_d 2>&1)
check "runner: declared but not built fails" grep -q '^FAIL unit/test_d_missing (not built)' <<<"$OUT"
check "runner: closing line with a test not built" grep -qx '1 passed, 1 failed' <<<"$OUT"
[ $fail = 0 ] || { echo "runner outputs: $TMPDIR/runner-*.out"; exit 1; }

# ---------------------------------------------------------------- 2. radosgw
if [ -z "${S3_ENDPOINT:-}" ]; then echo "no S3_ENDPOINT (tests/start-rgw.sh)"; exit 77; fi
# s3 SECRET METHOD PATH [curl args]: a SigV4-signed request; prints the HTTP status.
s3() {
	local secret=$1 method=$2 path=$3; shift 3
	curl -s -o "$TMPDIR/resp" -w '%{http_code}' -m 30 -X "$method" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
		--aws-sigv4 "aws:amz:${AWS_DEFAULT_REGION}:s3" --user "$AWS_ACCESS_KEY_ID:$secret" \
		"$@" "$S3_ENDPOINT$path"
}
S=$AWS_SECRET_ACCESS_KEY
bucket=harness-$(date +%s)-$$
echo "payload $bucket" > "$TMPDIR/obj"
check "s3: create bucket $bucket" test "$(s3 "$S" PUT "/$bucket")" = 200
check "s3: put object" test "$(s3 "$S" PUT "/$bucket/dir/obj" --data-binary "@$TMPDIR/obj")" = 200
check "s3: get object, HTTP 200" test "$(s3 "$S" GET "/$bucket/dir/obj")" = 200
check "s3: get object, same bytes" cmp "$TMPDIR/obj" "$TMPDIR/resp"
check "s3: list, HTTP 200" test "$(s3 "$S" GET "/$bucket?list-type=2")" = 200
check "s3: list shows the key" grep -q '<Key>dir/obj</Key>' "$TMPDIR/resp"
check "s3: wrong secret refused" test "$(s3 wrong-secret GET "/$bucket/dir/obj")" = 403
check "s3: delete object" test "$(s3 "$S" DELETE "/$bucket/dir/obj")" = 204
check "s3: delete bucket" test "$(s3 "$S" DELETE "/$bucket")" = 204

# ---------------------------------------------------------------- 3. Slurm
if [ -z "${SLURM_CONF:-}" ]; then echo "no SLURM_CONF (tests/start-slurm.sh)"; exit 77; fi
out=$TMPDIR/slurm.out
check "slurm: batch job ran to completion" \
	timeout 120 sbatch --wait --quiet --time=2 -o "$out" --wrap 'echo "job $SLURM_JOB_ID on $(hostname)"'
check "slurm: job output written" grep -q '^job [0-9][0-9]* on ' "$out"
exit $fail
