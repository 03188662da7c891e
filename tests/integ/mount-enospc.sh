#!/bin/bash
# mount-enospc.sh - a full staging disk (staging_dir on a 64 MiB tmpfs, so
# this test needs root to mount it):
#   - random writes into an existing object need more staging than fits: a
#     write fails with ENOSPC, close fails (ENOSPC or EIO), the old version
#     stays, nothing is uploaded;
#   - a streamed 200 MiB write into an existing object fills it too: the
#     streaming multipart upload is aborted (none left in the store), the old
#     version stays;
#   - the daemon keeps working: the staging space is free again and a new
#     file is written and read back.
# Local store by default; mount-enospc-s3.sh runs the same on radosgw.
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"

[ "$(id -u)" = 0 ] || { echo "not root: cannot mount a tmpfs, skipped"; exit 77; }
md5() { md5sum | cut -d' ' -f1; }
same_object() {	# same_object KEY MODEL WHAT
	expect_eq "$(oob_get "$1" | md5)" "$(md5 <"$2")" "$3: md5 of the object"
}

STAGE=$TMPDIR/stage
mkdir -p "$STAGE"
mount -t tmpfs -o size=64m lithfs-test-stage "$STAGE" || fail "mount tmpfs on $STAGE"
cleanup() {
	mount_cleanup
	umount "$STAGE" 2>/dev/null
}
trap cleanup EXIT
staging_used() { df --output=used -B1M "$STAGE" | tail -n 1 | tr -d ' '; }

backend_setup enospc
M=$TMPDIR/mnt
mount_start "$M" "$SOURCE" -o "stat_ttl=1,neg_ttl=1,part_size=5M,staging_dir=$STAGE" \
	"${STORE_OPTS[@]}"

# --- random writes needing more staging than the disk has
head -c 3M /dev/urandom >"$TMPDIR/old"
oob_put victim "$TMPDIR/old"
python3 - "$M/victim" <<'EOF' || fail "random writes on a full staging disk"
import errno, os, random, sys
random.seed(11)
fd = os.open(sys.argv[1], os.O_RDWR)
block = os.urandom(1 << 20)
failed = None
for i in range(400):	# 400 MiB at random places of a 300 MiB file
    try:
        os.pwrite(fd, block, random.randrange(300) << 20)
    except OSError as e:
        failed = e
        break
if failed is None or failed.errno != errno.ENOSPC:
    sys.exit("writes on a full staging disk: %s, want ENOSPC" % failed)
print("write %d failed: %s" % (i + 1, failed))
try:
    os.close(fd)
    sys.exit("close after ENOSPC succeeded")
except OSError as e:
    if e.errno not in (errno.ENOSPC, errno.EIO):
        sys.exit("close after ENOSPC: %s, want ENOSPC or EIO" % e)
    print("close failed: %s" % e)
EOF
same_object victim "$TMPDIR/old" "old version after ENOSPC (random writes)"
expect_eq "$(uploads_in_progress)" 0 "uploads left after ENOSPC (random writes)"
wait_until 10 test "$(staging_used)" -lt 8 || fail "staging not freed: $(staging_used) MiB used"

# --- a streamed write into an existing object (not dd: it closes a dup of
# the fresh O_TRUNC descriptor, and every close publishes, an empty file here)
python3 - "$M/victim" <<'EOF' || fail "streamed write on a full staging disk"
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
block = os.urandom(1 << 20)
try:
    for i in range(200):
        os.write(fd, block)
    sys.exit("200 MiB written on a 64 MiB staging disk")
except OSError as e:
    if e.errno != errno.ENOSPC:
        sys.exit("streamed write: %s, want ENOSPC" % e)
    print("streamed write %d failed: %s" % (i + 1, e))
try:
    os.close(fd)
    sys.exit("close after ENOSPC succeeded")
except OSError as e:
    if e.errno not in (errno.ENOSPC, errno.EIO):
        sys.exit("close after ENOSPC: %s, want ENOSPC or EIO" % e)
EOF
same_object victim "$TMPDIR/old" "old version after ENOSPC (stream)"
expect_eq "$(uploads_in_progress)" 0 "uploads left after ENOSPC (stream)"
wait_until 10 test "$(staging_used)" -lt 8 || fail "staging not freed: $(staging_used) MiB used"

# --- the daemon works on
head -c 20M /dev/urandom >"$TMPDIR/small"
cp "$TMPDIR/small" "$M/small" || fail "cp after ENOSPC"
same_object small "$TMPDIR/small" "a new file after ENOSPC"
cmp -s "$M/small" "$TMPDIR/small" || fail "read back after ENOSPC"
cmp -s "$M/victim" "$TMPDIR/old" || fail "victim through the mount is not the old version"

# Unmount: the log may hold the two failed closes of victim, nothing else.
log=${MOUNT_LOG[$M]} pid=${MOUNT_PID[$M]}
wait_until 15 fusermount3 -u "$M" || fail "cannot unmount $M"
wait_until 60 sh -c "! kill -0 $pid" || fail "daemon still running after unmount"
wait "$pid" || fail "mount exited $?"
unset "MOUNT_PID[$M]"
grep -q "victim: writing the staging file in $STAGE failed" "$log" ||
	fail "the full staging disk was not logged"
grep -v "cannot upload /*victim: " "$log" >"$log.rest"
mount_check_log "$log.rest" || fail "unexpected errors in the mount's log"
echo "ok"
