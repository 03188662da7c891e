#!/bin/bash
# cache-stats.sh - `lithfs cache stats` reports what a test program did to a
# cache (hits, misses, blocks; text and --json), `lithfs cache clear` empties
# it, and bad input gets a clear message and a non-zero exit. No S3 needed.
set -u
B=${LITHFS_BUILD:?LITHFS_BUILD must name the build directory}
LITHFS="$B/lithfs"
FILL="$B/tests/unit/test_bcache"
tmp=$(mktemp -d /tmp/lithfs-cache-stats.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() {	# expect TEXT PATTERN WHAT
	grep -Eq -- "$2" <<<"$1" || { echo "$1" >&2; fail "$3"; }
}

[ -x "$LITHFS" ] && [ -x "$FILL" ] || fail "build $LITHFS and $FILL first"
c="$tmp/cache"

# a program stores 8 blocks, reads them back (8 hits) and misses once
timeout 60 "$FILL" --fill "$c" || fail "test_bcache --fill failed"
out=$(timeout 30 "$LITHFS" cache stats --dir "$c") || fail "cache stats exited $?"
expect "$out" '^hits: +8$' "stats shows 8 hits"
expect "$out" '^misses: +1$' "stats shows 1 miss"
expect "$out" '^hit ratio: +88\.9 %$' "hit ratio"
expect "$out" '^blocks: +8$' "8 blocks cached"
expect "$out" '^from cache: +512\.0 KiB$' "bytes from cache"

# a second process sharing the cache adds to the same counters
timeout 60 "$FILL" --fill "$c" || fail "second fill failed"
json=$(timeout 30 "$LITHFS" cache stats --dir "$c" --json) || fail "stats --json exited $?"
expect "$json" '"hits": 16,' "json hits after two runs"
expect "$json" '"blocks": 8,' "json blocks"
expect "$json" '"bytes": 524288,' "json bytes"
expect "$json" '^\{"dir": ".*", .*\}$' "one JSON object"

# clear empties it; the counters keep their history
out=$(timeout 30 "$LITHFS" cache clear --dir "$c") || fail "cache clear exited $?"
expect "$out" '8 blocks dropped' "clear reports the dropped blocks"
json=$(timeout 30 "$LITHFS" cache stats --dir "$c" --json) || fail "stats after clear"
expect "$json" '"blocks": 0,' "no blocks after clear"
expect "$json" '"bytes": 0,' "no bytes after clear"
expect "$json" '"hits": 16,' "history kept"

# no cache there: stats says so (exit 1) and creates nothing
err=$(timeout 30 "$LITHFS" cache stats --dir "$tmp/none" 2>&1) && fail "stats on no cache succeeded"
expect "$err" 'no cache at' "message for a missing cache"
[ -e "$tmp/none" ] && fail "stats created a directory"

# usage errors exit 2
timeout 30 "$LITHFS" cache frobnicate >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad subcommand: exit 2"
timeout 30 "$LITHFS" cache clear --json --dir "$c" >/dev/null 2>&1; [ $? -eq 2 ] || fail "clear --json: exit 2"
out=$(timeout 30 "$LITHFS" --version) || fail "--version"
expect "$out" '^lithfs [0-9]' "version line"
echo "cache-stats: ok"
