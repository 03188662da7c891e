#!/bin/bash
# mount-io-crash.sh - kill -9 of the daemon in the middle of 100 MiB uploads
# leaves no partial object: an existing key keeps its old version, a new key
# does not appear; after a remount everything reads and writes normally.
# The writers are slowed down (1 MiB per 20 ms) so that the kill surely lands
# while their multipart uploads stream, which the test checks first.
# Local store by default; mount-io-crash-s3.sh runs the same on radosgw.
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"

two_uploads() { [ "$(uploads_in_progress)" -ge 2 ]; }

# Aborts the uploads the killed daemon left (radosgw keeps them, and a bucket
# with uploads cannot be deleted).
abort_leftovers() {
	local k u
	[ "$LITHFS_BACKEND" = s3 ] || return 0
	[ "$(s3req GET "" --get --data-urlencode uploads=)" = 200 ] || fail "list uploads"
	tr '<' '\n' <"$TMPDIR/s3resp" | sed -n 's/^Key>//p; s/^UploadId>//p' | paste - - |
		while read -r k u; do
			s3req DELETE "$(url_path "$k")" --get --data-urlencode "uploadId=$u" >/dev/null
		done
}

md5() { md5sum | cut -d' ' -f1; }

backend_setup crash
M=$TMPDIR/mnt
O=(-o stat_ttl=1,neg_ttl=1,part_size=5M "${STORE_OPTS[@]}")
head -c 3M /dev/urandom >"$TMPDIR/old"
head -c 100M /dev/urandom >"$TMPDIR/new"
mount_start "$M" "$SOURCE" "${O[@]}"
cp "$TMPDIR/old" "$M/existing" || fail "write the old version"
expect_eq "$(oob_get existing | md5)" "$(md5 <"$TMPDIR/old")" "old version stored"

slow_copy() {	# slow_copy SRC DST: 1 MiB every 20 ms, O_TRUNC
	python3 - "$1" "$2" <<'EOF'
import os, sys, time
src = open(sys.argv[1], "rb")
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
while True:
    b = src.read(1 << 20)
    if not b:
        break
    os.write(fd, b)
    time.sleep(0.02)
os.close(fd)
EOF
}
slow_copy "$TMPDIR/new" "$M/existing" 2>/dev/null &
W1=$!
slow_copy "$TMPDIR/new" "$M/fresh" 2>/dev/null &
W2=$!
wait_until 60 two_uploads || fail "the two writes did not stream multipart uploads"
kill -0 $W1 && kill -0 $W2 || fail "a writer finished before the kill: too fast to test"
pid=${MOUNT_PID[$M]}
kill -9 "$pid"
wait "$pid" 2>/dev/null
unset "MOUNT_PID[$M]"
wait $W1 && fail "a write into the killed mount succeeded"
wait $W2 && fail "a write into the killed mount succeeded"
fusermount3 -u "$M" 2>/dev/null || fusermount3 -uz "$M" || fail "cannot unmount the dead mount"

# --- what the store shows: the old version, and no new key
expect_eq "$(oob_get existing | md5)" "$(md5 <"$TMPDIR/old")" "existing after the kill"
oob_exists fresh && fail "a partial object 'fresh' exists after the kill"
abort_leftovers

# --- a new daemon works normally
mount_start "$M" "$SOURCE" "${O[@]}"
expect_eq "$(md5 <"$M/existing")" "$(md5 <"$TMPDIR/old")" "existing after the remount"
[ ! -e "$M/fresh" ] || fail "fresh visible after the remount"
cp "$TMPDIR/new" "$M/existing" && cp "$TMPDIR/new" "$M/fresh" || fail "write after the remount"
expect_eq "$(oob_get existing | md5)" "$(md5 <"$TMPDIR/new")" "existing rewritten"
expect_eq "$(oob_get fresh | md5)" "$(md5 <"$TMPDIR/new")" "fresh written"
mount_stop "$M"
echo "mount-io-crash: ok"
