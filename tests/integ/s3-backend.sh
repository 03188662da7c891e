#!/bin/bash
# s3-backend.sh - the S3 backend against a real S3 server (radosgw in CI).
#
# 1. tests/s3_probe ops: every op of the backend on a fresh bucket (put, get,
#    ranges, conditional reads, metadata, odd keys, copy COPY/REPLACE, list
#    paging over 2500 keys, delete_many, multipart with 3 concurrent parts,
#    part copies, abort, mpu_list, pool of 8 connections under 32 threads);
#    again virtual-hosted when radosgw has rgw_dns_name = localhost.
# 2. tests/s3_probe check under broken settings, each with its errno (the
#    probe's exit status) and the one clear message a user sees:
#    wrong secret, unknown access key, missing bucket, nothing listening,
#    TLS spoken to a plain-HTTP port, anonymous access to a private bucket;
#    and anonymous access to a public-read bucket working. No secret may
#    appear in any output.
# Needs S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (skip otherwise).
set -u

BUILD=${LITHFS_BUILD:?set LITHFS_BUILD}
PROBE=$BUILD/tests/s3_probe
[ -x "$PROBE" ] || { echo "FAIL: $PROBE not built (make check builds it)"; exit 1; }
if [ -z "${S3_ENDPOINT:-}" ] || [ -z "${AWS_ACCESS_KEY_ID:-}" ] || [ -z "${AWS_SECRET_ACCESS_KEY:-}" ]; then
	echo "SKIP: no S3_ENDPOINT/AWS credentials (start radosgw with tests/start-rgw.sh)"
	exit 77
fi
command -v curl >/dev/null || { echo "SKIP: curl not found"; exit 77; }
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
# settings of this machine's ~/.aws must not leak into the test
export AWS_CONFIG_FILE=/nonexistent/lithfs-aws-config AWS_SHARED_CREDENTIALS_FILE=/nonexistent/lithfs-aws-credentials
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3

BUCKET=lithfs-s3b-$$-$(date +%s)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/s3-backend.XXXXXX")
fails=0

# s3curl METHOD PATH: a signed request with curl's own SigV4, to make and
# remove the bucket independently of the code under test. Prints the status.
s3curl() {
	curl -s -o "$WORK/curl.out" -w '%{http_code}' -X "$1" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
		--aws-sigv4 "aws:amz:$AWS_DEFAULT_REGION:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$S3_ENDPOINT/$2"
}

cleanup() {
	local code
	code=$(s3curl DELETE "$BUCKET")
	if [ "$code" != 204 ] && [ "$code" != 404 ] && command -v radosgw-admin >/dev/null &&
	   [ -n "${CEPH_CONF:-}" ]; then
		# the probe failed before its own cleanup: purge what it left
		radosgw-admin -c "$CEPH_CONF" bucket rm --bucket="$BUCKET" --purge-objects \
			>/dev/null 2>&1
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

code=$(s3curl PUT "$BUCKET")
[ "$code" = 200 ] || { echo "FAIL: cannot create bucket $BUCKET (HTTP $code)"; cat "$WORK/curl.out"; exit 1; }

# ---------------------------------------------------------------- every op
timeout 300 "$PROBE" ops "$BUCKET" >"$WORK/ops.out" 2>"$WORK/ops.err"
rc=$?
cat "$WORK/ops.out"
grep -v '^s3_probe: \(error\|notice\): s3 ' "$WORK/ops.err" >&2
[ $rc = 0 ] || fail "s3_probe ops exited $rc"
grep -q '^[0-9]* checks, 0 failed$' "$WORK/ops.out" || fail "s3_probe ops: not all checks passed"

# virtual-hosted style (BUCKET.localhost, which libcurl resolves to the
# loopback itself) when radosgw has rgw_dns_name = localhost
hostport=${S3_ENDPOINT#*://}
vhost=${S3_ENDPOINT%%://*}://localhost:${hostport##*:}
if S3_ENDPOINT=$vhost S3_ADDRESSING=virtual timeout 60 "$PROBE" check "$BUCKET" 2>/dev/null; then
	S3_ENDPOINT=$vhost S3_ADDRESSING=virtual timeout 300 "$PROBE" ops "$BUCKET" \
		>"$WORK/vhost.out" 2>"$WORK/vhost.err"
	rc=$?
	if [ $rc = 0 ] && grep -q '^[0-9]* checks, 0 failed$' "$WORK/vhost.out"; then
		echo "ok   virtual-hosted style: $(tail -1 "$WORK/vhost.out")"
	else
		fail "virtual-hosted style: s3_probe ops exited $rc"; grep -v '^ok' "$WORK/vhost.out"
	fi
else
	echo "note: virtual-hosted style not tested (radosgw without rgw_dns_name = localhost)"
fi

# ---------------------------------------------------------------- errors
# expect NAME WANT_EXIT PATTERN [ENV=VALUE...] -- ARGS: run s3_probe check
# with the environment changes and check its exit status and stderr.
expect() {
	local name=$1 want=$2 pattern=$3 out=$WORK/$1.err
	shift 3
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	env "${envs[@]}" timeout 120 "$PROBE" check "$@" >/dev/null 2>"$out"
	local got=$?
	if [ "$got" != "$want" ]; then
		fail "$name: exit $got, want $want"; cat "$out"
	elif ! grep -q -- "$pattern" "$out"; then
		fail "$name: no message matching '$pattern'"; cat "$out"
	else
		echo "ok   $name: exit $got, $(grep -m1 -- "$pattern" "$out")"
	fi
}

expect wrong-secret 13 "access denied to bucket $BUCKET" \
	AWS_SECRET_ACCESS_KEY=wrong-secret-0000000000000000000000000000 -- "$BUCKET"
grep -q 'SignatureDoesNotMatch' "$WORK/wrong-secret.err" ||
	fail "wrong-secret: the S3 code SignatureDoesNotMatch is not in the log"
expect unknown-key 13 "access denied to bucket $BUCKET" \
	AWS_ACCESS_KEY_ID=AKIANOSUCHKEY0000000 -- "$BUCKET"
grep -q 'InvalidAccessKeyId' "$WORK/unknown-key.err" ||
	fail "unknown-key: the S3 code InvalidAccessKeyId is not in the log"
expect missing-bucket 2 "bucket lithfs-no-such-bucket-$$ not found" -- "lithfs-no-such-bucket-$$"
expect dead-endpoint 111 "cannot reach endpoint http://127.0.0.1:1" \
	S3_ENDPOINT=http://127.0.0.1:1 -- "$BUCKET"
if [ "${S3_ENDPOINT%%://*}" = http ]; then
	expect tls-to-http 71 "cannot reach endpoint https://$hostport" \
		S3_ENDPOINT="https://$hostport" -- "$BUCKET"
fi

# anonymous requests: refused on a private bucket, served on a public one
expect anonymous-private 13 "access denied to bucket $BUCKET" S3_NO_SIGN=1 -- "$BUCKET"
code=$(curl -s -o "$WORK/curl.out" -w '%{http_code}' -X PUT -H 'x-amz-acl: public-read' \
	-H 'Content-Length: 0' -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' --aws-sigv4 "aws:amz:$AWS_DEFAULT_REGION:s3" \
	--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$S3_ENDPOINT/$BUCKET?acl=")
if [ "$code" = 200 ]; then
	if S3_NO_SIGN=1 timeout 60 "$PROBE" check "$BUCKET" 2>"$WORK/anonymous-public.err"; then
		echo "ok   anonymous-public: check passes without credentials"
	else
		fail "anonymous-public: exit $?"; cat "$WORK/anonymous-public.err"
	fi
else
	fail "cannot make $BUCKET public-read (HTTP $code)"
fi

# ---------------------------------------------------------------- no secrets
for f in "$WORK"/*.err "$WORK"/*.out; do
	if grep -qF -- "$AWS_SECRET_ACCESS_KEY" "$f" || grep -q 'wrong-secret-0000' "$f"; then
		fail "a secret appears in $(basename "$f")"
	fi
done

[ $fails = 0 ] && echo "s3-backend: all passed"
[ $fails = 0 ]
