#!/bin/bash
# reliability-cache.sh - the block cache is best effort: reads through a mount
# stay byte-identical when
#  (a) the cache is tiny (cache_size=16M, the smallest allowed) and a
#      40 MiB file is read twice,
#  (b) the cache directory is deleted while mounted,
#  (c) the cache directory cannot be created (its parent is a regular file):
#      the mount starts anyway, without a cache, and says so in its log,
#  (d) an object changes behind the mount's back after a kill -9 of the
#      daemon: the remounted daemon, on the same cache, reads the new content
#      (same size), never a stale cached block.
# Local store by default; reliability-cache-s3.sh runs the same on radosgw.
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"

md5() { md5sum "$1" | cut -d' ' -f1; }
expect_same() {		# expect_same FILE WANT-MD5 WHAT
	local got
	got=$(md5 "$1") || fail "$3: read failed"
	expect_eq "$got" "$2" "$3"
}

backend_setup relcache
M=$TMPDIR/mnt
O=(-o stat_ttl=1,neg_ttl=1,part_size=5M "${STORE_OPTS[@]}")

head -c 40M /dev/urandom >"$TMPDIR/big"
head -c 3M /dev/urandom >"$TMPDIR/mid"
BIG=$(md5 "$TMPDIR/big")
MID=$(md5 "$TMPDIR/mid")
mount_start "$M" "$SOURCE" "${O[@]}"
cp "$TMPDIR/big" "$M/big" && cp "$TMPDIR/mid" "$M/mid" || fail "write the files"
mount_stop "$M"

# --- (a) a 16 MiB cache, a 40 MiB file read twice (the cache is trimmed
# throughout), plus a small file between the reads
rm -rf "$TMPDIR/cache-a"
mount_start "$M" "$SOURCE" "${O[@]}" -o "cache_dir=$TMPDIR/cache-a,cache_size=16M"
expect_same "$M/big" "$BIG" "(a) first read of big, 16M cache"
expect_same "$M/mid" "$MID" "(a) mid, 16M cache"
expect_same "$M/big" "$BIG" "(a) second read of big, 16M cache"
mount_stop "$M"
used=$(du -sk "$TMPDIR/cache-a" | cut -f1)
[ "$used" -le $((24 * 1024)) ] || fail "(a) a 16M cache holds ${used} KiB on disk"

# --- (b) the cache directory deleted while mounted, between and during reads
rm -rf "$TMPDIR/cache-b"
mount_start "$M" "$SOURCE" "${O[@]}" -o "cache_dir=$TMPDIR/cache-b"
expect_same "$M/mid" "$MID" "(b) mid before the deletion"
rm -rf "$TMPDIR/cache-b" || fail "(b) cannot delete the cache directory"
[ ! -e "$TMPDIR/cache-b" ] || fail "(b) cache directory still there"
expect_same "$M/mid" "$MID" "(b) mid after the deletion"
md5sum "$M/big" >"$TMPDIR/b.sum" 2>&1 &
rdpid=$!
sleep 0.3
rm -rf "$TMPDIR/cache-b"
wait $rdpid || fail "(b) read of big while the cache was deleted: $(cat "$TMPDIR/b.sum")"
expect_eq "$(cut -d' ' -f1 "$TMPDIR/b.sum")" "$BIG" "(b) big read during the deletion"
expect_same "$M/big" "$BIG" "(b) big after the deletion"
mount_stop "$M"

# --- (c) a cache directory that cannot exist: its parent is a regular file
echo "not a directory" >"$TMPDIR/notadir"
mkdir -p "$TMPDIR/staging-c"
mount_start "$M" "$SOURCE" "${O[@]}" \
	-o "cache_dir=$TMPDIR/notadir/cache,staging_dir=$TMPDIR/staging-c"
expect_same "$M/mid" "$MID" "(c) mid without a usable cache"
expect_same "$M/big" "$BIG" "(c) big without a usable cache"
expect_same "$M/big" "$BIG" "(c) big again without a usable cache"
echo "written without a cache" >"$TMPDIR/small" && cp "$TMPDIR/small" "$M/small" ||
	fail "(c) write without a cache"
grep -q 'cache disabled' "${MOUNT_LOG[$M]}" || fail "(c) no 'cache disabled' warning in the log"
[ -f "$TMPDIR/notadir" ] || fail "(c) the file in the cache's place was replaced"
mount_stop "$M"
expect_eq "$(oob_get small)" "written without a cache" "(c) small in the store"

# --- (d) kill -9 with a warm cache, the object replaced out of band by one of
# the same size, a remount on the same cache reads the new content
rm -rf "$TMPDIR/cache-d"
mount_start "$M" "$SOURCE" "${O[@]}" -o "cache_dir=$TMPDIR/cache-d"
expect_same "$M/mid" "$MID" "(d) mid, warming the cache"
expect_same "$M/mid" "$MID" "(d) mid from the cache"
kill -9 "${MOUNT_PID[$M]}"
wait "${MOUNT_PID[$M]}" 2>/dev/null
unset "MOUNT_PID[$M]"
fusermount3 -uz "$M" 2>/dev/null
wait_until 10 sh -c "! awk -v m='$M' '\$5 == m' /proc/self/mountinfo | grep -q ." ||
	fail "(d) $M still mounted after kill -9"
head -c 3M /dev/urandom >"$TMPDIR/mid2"
MID2=$(md5 "$TMPDIR/mid2")
[ "$MID2" != "$MID" ] || fail "(d) the new content equals the old"
oob_put mid "$TMPDIR/mid2" || fail "(d) out-of-band put"
mount_start "$M" "$SOURCE" "${O[@]}" -o "cache_dir=$TMPDIR/cache-d"
expect_same "$M/mid" "$MID2" "(d) mid after the out-of-band change"
expect_same "$M/mid" "$MID2" "(d) mid after the out-of-band change, again"
expect_same "$M/big" "$BIG" "(d) big after the crash"
mount_stop "$M"
echo "PASS"
