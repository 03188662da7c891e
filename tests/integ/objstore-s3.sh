#!/bin/bash
# objstore-s3.sh - the shared operation test (tests/osops) on a real S3
# server (radosgw in CI), through os_open like every program:
#   1. every op on a fresh bucket made with the aws CLI;
#   2. the same under 10% injected faults, hidden by the retry wrapper;
#   3. a wrong secret is EACCES with a message about access, and the
#      secret itself appears in no output;
#   4. a missing bucket is ENOENT with a message naming the bucket.
# Needs S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (skip otherwise).
set -u

BUILD=${LITHFS_BUILD:?set LITHFS_BUILD}
OSOPS=$BUILD/tests/osops
[ -x "$OSOPS" ] || { echo "FAIL: $OSOPS not built (make check builds it)"; exit 1; }
if [ -z "${S3_ENDPOINT:-}" ] || [ -z "${AWS_ACCESS_KEY_ID:-}" ] || [ -z "${AWS_SECRET_ACCESS_KEY:-}" ]; then
	echo "SKIP: no S3_ENDPOINT/AWS credentials (start radosgw with tests/start-rgw.sh)"
	exit 77
fi
command -v aws >/dev/null || { echo "SKIP: the aws CLI is not installed"; exit 77; }
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
# this machine's ~/.aws must not leak into the test; the endpoint comes from
# the environment as for any AWS tool
export AWS_CONFIG_FILE=/nonexistent/lithfs-aws-config AWS_SHARED_CREDENTIALS_FILE=/nonexistent/lithfs-aws-credentials
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 LITHFS_FAULTS
export AWS_ENDPOINT_URL=$S3_ENDPOINT LITHFS_RETRY_BASE_MS=20

BUCKET=lithfs-osops-$$-$(date +%s)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/objstore-s3.XXXXXX")
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
s3() { env -u AWS_CA_BUNDLE timeout 120 aws --endpoint-url "$S3_ENDPOINT" s3 "$@"; }
cleanup() {
	s3 rb --force "s3://$BUCKET" >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT

# run NAME ARGS...: osops with its output in $WORK/NAME.out; returns its status
run() {
	local name=$1 rc
	shift
	timeout 500 "$@" >"$WORK/$name.out" 2>&1
	rc=$?
	sed "s/^/  $name: /" "$WORK/$name.out" | tail -n 5
	return $rc
}

s3 mb "s3://$BUCKET" >"$WORK/mb.out" 2>&1 || { echo "FAIL: cannot create bucket $BUCKET"; cat "$WORK/mb.out"; exit 1; }

run ops "$OSOPS" "$BUCKET" || fail "osops on S3"
run faults env LITHFS_FAULTS=rate=0.1,seed=5,kinds=5xx+reset+truncate+lost "$OSOPS" "s3://$BUCKET" ||
	fail "osops on S3 under 10% injected faults"
left=$(s3 ls --recursive "s3://$BUCKET" 2>&1)
[ -z "$left" ] || fail "objects left in the bucket: $left"

run secret env AWS_SECRET_ACCESS_KEY=lithfs-wrong-secret-0123456789 "$OSOPS" --check "$BUCKET"
[ $? -eq 2 ] || fail "a wrong secret was accepted"
grep -q EACCES "$WORK/secret.out" || fail "a wrong secret is not EACCES"
grep -qi 'access denied\|signature' "$WORK/secret.out" || fail "no clear message for a wrong secret"
if grep -q -e lithfs-wrong-secret -e "$AWS_SECRET_ACCESS_KEY" "$WORK"/*.out; then
	fail "a secret appears in the output"
fi

run missing "$OSOPS" --check "$BUCKET-missing"
[ $? -eq 2 ] || fail "a missing bucket was accepted"
grep -q ENOENT "$WORK/missing.out" || fail "a missing bucket is not ENOENT"
grep -q "bucket $BUCKET-missing not found" "$WORK/missing.out" ||
	fail "no message naming the missing bucket"

[ $fails -eq 0 ] && echo "PASS: objstore-s3"
exit $((fails > 0))
