#!/bin/bash
# reliability-proxy-s3.sh - a mount on radosgw through tests/lib/faultproxy.py,
# which resets connections, drops answers, truncates response bodies and
# stalls responses (2 s: shorter than the default 30 s io timeout, so a slow
# answer must just arrive; reliability-proxy-stall-s3 makes stalls outlast a
# short io_timeout) on 10 % of the requests. A workload (30 files, one of 20 MiB
# uploaded in 5 MiB parts, written, read back, listed, deleted) must complete
# byte-identical through curl's real error paths, every fault kind must have
# been hit, and the daemon must exit cleanly. Needs S3_ENDPOINT (exit 77).
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"

LITHFS_BACKEND=s3
backend_setup relproxy
M=$TMPDIR/mnt
. "$LITHFS_SRC/tests/lib/faultproxy.sh"
proxy_start "${PROXY_RATE:-0.1}" 2
PORT=$PROXY_PORT

export LITHFS_RETRY_BASE_MS=20
# each workload step is bounded (the retry layer may sleep up to its 60 s
# budget per op when the proxy fails everything)
step() { timeout -k 10 "${STEP_TIMEOUT:-150}" "$@"; }
O=(-o "endpoint=http://127.0.0.1:$PORT,path_style,stat_ttl=1,neg_ttl=1,part_size=5M")
mkdir -p "$TMPDIR/src"
head -c 20M /dev/urandom >"$TMPDIR/src/big"
for i in $(seq -w 1 29); do
	head -c $((RANDOM * 7 + 10#$i)) /dev/urandom >"$TMPDIR/src/f$i"
done
(cd "$TMPDIR/src" && md5sum * | sort -k2) >"$TMPDIR/want.md5"

start=$SECONDS
mount_start "$M" "$SOURCE" "${O[@]}"
step cp "$TMPDIR/src"/* "$M/" || fail "write through the proxy"
mount_stop "$M"

# a fresh mount with a fresh cache reads everything from the store
rm -rf "$TMPDIR/cache"
mount_start "$M" "$SOURCE" "${O[@]}"
step sh -c 'cd "$1" && md5sum * >"$2"' sh "$M" "$TMPDIR/got.raw" ||
	fail "read back through the proxy"
sort -k2 "$TMPDIR/got.raw" >"$TMPDIR/got.md5"
diff "$TMPDIR/want.md5" "$TMPDIR/got.md5" || fail "content read back differs"
expect_eq "$(ls "$M" | wc -l)" 30 "files listed"
expect_eq "$(ls "$M" | sort | tr '\n' ' ')" "$(ls "$TMPDIR/src" | sort | tr '\n' ' ')" "listing"
step sh -c 'rm "$1"/*' sh "$M" || fail "delete through the proxy"
mount_stop "$M"

# the store, seen without the proxy, holds nothing; the faults really happened
mount_start "$M" "$SOURCE" -o stat_ttl=1 "${STORE_OPTS[@]}"
expect_eq "$(ls -A "$M" | wc -l)" 0 "objects left after the deletes"
mount_stop "$M"
proxy_stop
cat "$PROXY_LOG" >&2
for kind in reset truncate stall drop; do
	n=$(proxy_count "$kind")
	[ "${n:-0}" -gt 0 ] || fail "no '$kind' fault was injected ($(tail -n 1 "$PROXY_LOG"))"
done
echo "PASS in $((SECONDS - start)) s"
