#!/bin/bash
# reliability-proxy-stall-s3.sh - stalls against a short I/O timeout. radosgw
# is reached through tests/lib/faultproxy.py injecting, on 25 % of the
# requests, either a 'stall' (the whole answer held 3 s) or a 'midstall' (a
# GET answer's headers and half its body sent, then nothing, the connection
# left open until the client drops it). mount.lithfs runs with -o io_timeout=1
# and mapdir with LITHFS_IO_TIMEOUT=1. Checks:
#  - files written and read back through the mount (fresh cache) and mapped
#    by mapdir end byte-identical;
#  - both kinds were injected, and at least one GET cut by a midstall was
#    resumed at the byte after those it had received (Range start, seen by
#    the proxy);
#  - no midstalled connection stayed open longer than the timeout plus a
#    margin (maxhang_ms < IO_TIMEOUT*1000 + 10000; the default 30 s would fail);
#  - every step finishes in STEP_TIMEOUT s, the daemon exits cleanly.
# Needs S3_ENDPOINT (exit 77). STALL_IO_TIMEOUT overrides the 1 s timeout
# (e.g. 40 shows the test failing on maxhang).
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"

LITHFS_BACKEND=s3
backend_setup relstall
IO=${STALL_IO_TIMEOUT:-1}
M=$TMPDIR/mnt
. "$LITHFS_SRC/tests/lib/faultproxy.sh"
# midstall listed twice: only a GET with a body can be midstalled (else a stall)
proxy_start "${PROXY_RATE:-0.25}" 3 stall,midstall,midstall
PORT=$PROXY_PORT

export LITHFS_RETRY_BASE_MS=20
step() { timeout -k 10 "${STEP_TIMEOUT:-180}" "$@"; }
O=(-o "endpoint=http://127.0.0.1:$PORT,path_style,stat_ttl=1,neg_ttl=1,part_size=5M")
O+=(-o "io_timeout=$IO,connect_timeout=5")
mkdir -p "$TMPDIR/src/in"
head -c 16M /dev/urandom >"$TMPDIR/src/in/big"
for i in 1 2 3 4 5 6 7 8; do
	head -c $((RANDOM * 9 + i)) /dev/urandom >"$TMPDIR/src/in/f$i"
done
(cd "$TMPDIR/src/in" && md5sum * | sort -k2) >"$TMPDIR/want.md5"

start=$SECONDS
mstart() {	# mount.lithfs's start-up check retries once, by design: no faults then
	proxy_faults off
	mount_start "$M" "$SOURCE" "${O[@]}"
	proxy_faults on
}
mstart
step cp -r "$TMPDIR/src/in" "$M/" || fail "write through the proxy"
mount_stop "$M"

rm -rf "$TMPDIR/cache"
mstart
step sh -c 'cd "$1/in" && md5sum *' sh "$M" | sort -k2 >"$TMPDIR/got.md5"
diff "$TMPDIR/want.md5" "$TMPDIR/got.md5" || fail "content read back through the mount differs"
mount_stop "$M"

# mapdir through the proxy: md5sum of each input, from the store to the store
XDG_CACHE_HOME=$TMPDIR/mdcache LITHFS_IO_TIMEOUT=$IO AWS_ENDPOINT_URL=http://127.0.0.1:$PORT \
	step "$LITHFS_BUILD/mapdir" --no-progress -j 3 -c md5sum "$SOURCE/in" "$SOURCE/out" \
	>"$TMPDIR/mapdir.out" 2>&1 || { cat "$TMPDIR/mapdir.out"; fail "mapdir through the proxy"; }
mapped=$(for f in $(cd "$TMPDIR/src/in" && ls); do
	printf '%s  %s\n' "$(oob_get "out/$f" | cut -d' ' -f1)" "$f"
done | sort -k2)
expect_eq "$mapped" "$(cat "$TMPDIR/want.md5")" "md5sum of each input by mapdir"
elapsed=$((SECONDS - start))

proxy_stop
cat "$PROXY_LOG" >&2
for kind in stall midstall resumed; do
	[ "$(proxy_count "$kind")" -gt 0 ] 2>/dev/null ||
		fail "no '$kind' in the proxy's counts ($(tail -n 1 "$PROXY_LOG"))"
done
hang=$(proxy_count maxhang_ms)
[ "${hang:-999999}" -lt $((IO * 1000 + 10000)) ] ||
	fail "a stalled connection stayed open ${hang} ms: the io timeout ($IO s) did not end it"
echo "PASS in $elapsed s (longest midstall $hang ms, io_timeout $IO s)"
