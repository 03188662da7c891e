#!/bin/bash
# cache-read-s3.sh - the reader against a real S3 server (radosgw in CI):
#
# 1. A cold sequential read (128 KiB reads, like FUSE) through the reader
#    returns exactly the object's bytes (SHA-256), stays under 128 MiB peak
#    RSS, and is at least LITHFS_MIN_READ_RATIO (default 0.9) times as fast as
#    8 parallel curl ranged GETs of the same object (best of 2 runs each).
# 2. With a cache: the first read fills it (blocks > 0), a second read makes
#    no more GETs than there are blocks missing from the cache, and
#    `lithfs cache stats` shows the hits.
# Needs S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (skip otherwise).
set -u

B=${LITHFS_BUILD:?set LITHFS_BUILD}
READER=$B/tests/unit/test_reader
LITHFS=$B/lithfs
[ -x "$READER" ] && [ -x "$LITHFS" ] || { echo "FAIL: build $READER and $LITHFS first"; exit 1; }
if [ -z "${S3_ENDPOINT:-}" ] || [ -z "${AWS_ACCESS_KEY_ID:-}" ] || [ -z "${AWS_SECRET_ACCESS_KEY:-}" ]; then
	echo "SKIP: no S3_ENDPOINT/AWS credentials (start radosgw with tests/start-rgw.sh)"
	exit 77
fi
command -v curl >/dev/null || { echo "SKIP: curl not found"; exit 77; }
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
export AWS_CONFIG_FILE=/nonexistent/lithfs-aws-config AWS_SHARED_CREDENTIALS_FILE=/nonexistent/lithfs-aws-credentials
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3

MB=${LITHFS_CACHE_TEST_MB:-256}
MIN_RATIO=${LITHFS_MIN_READ_RATIO:-0.9}
BS=$((1 << 20))
BUCKET=lithfs-cread-$$-$(date +%s)
KEY=data/big.bin
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cache-read-s3.XXXXXX")
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# s3curl METHOD PATH [curl args]: a request signed by curl itself, so setup
# and the baseline do not depend on the code under test. Prints the status.
s3curl() {
	local m=$1 p=$2
	shift 2
	curl -s -o "$WORK/curl.out" -w '%{http_code}' -X "$m" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
		--aws-sigv4 "aws:amz:$AWS_DEFAULT_REGION:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$@" "$S3_ENDPOINT/$p"
}
cleanup() {
	s3curl DELETE "$BUCKET/$KEY" >/dev/null
	s3curl DELETE "$BUCKET" >/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

code=$(s3curl PUT "$BUCKET")
[ "$code" = 200 ] || { echo "FAIL: cannot create bucket $BUCKET (HTTP $code)"; exit 1; }
head -c $((MB << 20)) /dev/urandom >"$WORK/obj" || exit 1
want=$(sha256sum "$WORK/obj" | cut -d' ' -f1)
code=$(timeout 600 curl -s -o /dev/null -w '%{http_code}' -X PUT -T "$WORK/obj" \
	-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' --aws-sigv4 "aws:amz:$AWS_DEFAULT_REGION:s3" \
	--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$S3_ENDPOINT/$BUCKET/$KEY")
[ "$code" = 200 ] || { echo "FAIL: cannot upload the test object (HTTP $code)"; exit 1; }
rm -f "$WORK/obj"

# field NAME LINE: the value after NAME in a test_reader --bench line
field() { awk -v n="$1" '{ for (i = 1; i < NF; i++) if ($i == n) print $(i + 1) }' <<<"$2"; }
now() { date +%s.%N; }

curl8() {	# prints MB/s of 8 parallel ranged GETs of the whole object
	local size=$((MB << 20)) part t0 t1 i
	part=$((size / 8))
	t0=$(now)
	for i in 0 1 2 3 4 5 6 7; do
		curl -s -o /dev/null -r "$((i * part))-$(((i + 1) * part - 1))" \
			-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
			--aws-sigv4 "aws:amz:$AWS_DEFAULT_REGION:s3" \
			--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
			"$S3_ENDPOINT/$BUCKET/$KEY" &
	done
	wait
	t1=$(now)
	awk -v s="$size" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", s / (b - a) / 1e6 }'
}
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }

# ---------------------------------------------------------- cold, no cache
best_curl=0 best_rd=0
for run in 1 2; do
	c=$(curl8)
	out=$(timeout 600 "$READER" --bench "$BUCKET" "$KEY") || { fail "reader run $run: exit $?"; continue; }
	echo "run $run: curl x8 $c MB/s; reader: $out"
	[ "$(field sha256 "$out")" = "$want" ] || fail "reader returned other bytes (run $run)"
	[ "$(field bytes "$out")" = $((MB << 20)) ] || fail "reader read $(field bytes "$out") bytes"
	rss=$(field rss_kib "$out")
	[ "${rss:-999999}" -le $((128 * 1024)) ] || fail "peak RSS $rss KiB > 128 MiB"
	best_curl=$(best "$best_curl" "$c")
	best_rd=$(best "$best_rd" "$(field MBps "$out")")
done
ratio=$(awk -v a="$best_rd" -v b="$best_curl" 'BEGIN { printf "%.2f\n", (b > 0 ? a / b : 0) }')
echo "cold sequential read: reader $best_rd MB/s, curl x8 $best_curl MB/s, ratio $ratio (min $MIN_RATIO)"
awk -v r="$ratio" -v m="$MIN_RATIO" 'BEGIN { exit !(r >= m) }' || fail "reader slower than $MIN_RATIO x curl"

# ------------------------------------------------------------ with a cache
cache=$WORK/cache
out=$(timeout 600 "$READER" --bench "$BUCKET" "$KEY" "$cache") || fail "cached cold read: exit $?"
echo "cold, filling the cache: $out"
[ "$(field sha256 "$out")" = "$want" ] || fail "cold read with a cache returned other bytes"
json=$("$LITHFS" cache stats --dir "$cache" --json) || fail "cache stats exit $?"
blocks=$(sed -n 's/.*"blocks": \([0-9]*\).*/\1/p' <<<"$json")
echo "after the first read: $json"
[ "${blocks:-0}" -gt 0 ] || fail "nothing was cached"
out=$(timeout 600 "$READER" --bench "$BUCKET" "$KEY" "$cache") || fail "warm read: exit $?"
echo "warm: $out"
[ "$(field sha256 "$out")" = "$want" ] || fail "warm read returned other bytes"
missing=$((MB - ${blocks:-0}))
[ "$(field gets "$out")" -le "$missing" ] || fail "warm read made $(field gets "$out") GETs, $missing blocks were not cached"
json=$("$LITHFS" cache stats --dir "$cache" --json)
hits=$(sed -n 's/.*"hits": \([0-9]*\).*/\1/p' <<<"$json")
[ "${hits:-0}" -ge "${blocks:-1}" ] || fail "stats show $hits hits, expected >= $blocks"

[ "$fails" -eq 0 ] || { echo "cache-read-s3: $fails failure(s)"; exit 1; }
echo "cache-read-s3: ok"
