#!/bin/bash
# mount-io-fault.sh - a failed upload through a real mount: with every
# CompleteMultipartUpload (and PUT) failing (LITHFS_FAULTS, see
# src/objstore/fault.c), fsync and close return EIO, the previous version of
# the object stays as it was, and no multipart upload is left behind; a
# streamed new file, a rewritten 30 MiB file, a random write into an existing
# object and a small file all behave so. A healthy mount afterwards still
# reads the old versions and writes fine. With every copy failing, streams
# still publish: they need no copy onto themselves for their metadata.
# Local store by default; mount-io-fault-s3.sh runs the same on radosgw.
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"

no_uploads() { [ "$(uploads_in_progress)" = 0 ]; }

# Unmounts like mount_stop, but the daemon's log must hold the errors of the
# failed uploads (and nothing else).
stop_with_upload_errors() {	# MNT
	grep -q 'cannot upload' "${MOUNT_LOG[$1]}" || fail "the failed uploads were not logged"
	mount_stop "$1" 'cannot upload|upload of .* failed|injected'
}

md5() { md5sum | cut -d' ' -f1; }

backend_setup fault
M=$TMPDIR/mnt
O=(-o stat_ttl=1,neg_ttl=1,part_size=5M "${STORE_OPTS[@]}")

# --- the previous versions, written by a healthy mount
head -c 30M /dev/urandom >"$TMPDIR/old"
echo "small old" >"$TMPDIR/small"
mount_start "$M" "$SOURCE" "${O[@]}"
cp "$TMPDIR/old" "$M/big" && cp "$TMPDIR/old" "$M/patched" && cp "$TMPDIR/small" "$M/small" ||
	fail "write the old versions"
mount_stop "$M"

# --- a mount whose uploads can never complete ("eio": a permanent error, so
# the retry wrapper gives up at once)
LITHFS_FAULTS="ops=mpu_complete+put,rate=1,kinds=eio" mount_start "$M" "$SOURCE" "${O[@]}"
python3 - "$M" <<'EOF' || fail "errors seen by the program"
import errno, os, sys
m = sys.argv[1]
def expect_eio(what, fn):
    try:
        fn()
    except OSError as e:
        if e.errno != errno.EIO:
            sys.exit("%s: %s, want EIO" % (what, e))
        return
    sys.exit("%s succeeded, want EIO" % what)

data = os.urandom(23 << 20)
# a rewrite of big streams 4 parts while writing; fsync then close fail
fd = os.open(m + "/big", os.O_WRONLY | os.O_TRUNC)
os.write(fd, data)
expect_eio("fsync of big", lambda: os.fsync(fd))
expect_eio("close of big", lambda: os.close(fd))
# a new file, never published
fd = os.open(m + "/new", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
os.write(fd, data)
expect_eio("close of new", lambda: os.close(fd))
# a random write into an existing object: staged, uploaded whole at close
fd = os.open(m + "/patched", os.O_RDWR)
os.pwrite(fd, b"patch" * 1000, 7 << 20)
expect_eio("close of patched", lambda: os.close(fd))
# a small file: one PUT
fd = os.open(m + "/small", os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"small new\n")
expect_eio("close of small", lambda: os.close(fd))
EOF
# the last release re-flushes in the background after close returned: wait
wait_until 60 no_uploads || fail "multipart uploads left by the failed closes"
stop_with_upload_errors "$M"

# --- the old versions are intact, nothing new appeared, nothing is pending
expect_eq "$(oob_get big | md5)" "$(md5 <"$TMPDIR/old")" "big after the failed rewrite"
expect_eq "$(oob_get patched | md5)" "$(md5 <"$TMPDIR/old")" "patched after the failed write"
expect_eq "$(oob_get small)" "small old" "small after the failed rewrite"
oob_exists new && fail "the failed new file exists"
if [ "$LITHFS_BACKEND" = s3 ]; then	# the same question through the AWS CLI
	n=$(env -u AWS_CA_BUNDLE aws --endpoint-url "$S3_ENDPOINT" s3api list-multipart-uploads \
		--bucket "$BUCKET" --query 'length(Uploads || `[]`)' --output text) ||
		fail "aws s3api list-multipart-uploads"
	expect_eq "$n" 0 "aws s3api list-multipart-uploads"
fi

# --- a healthy mount reads the old versions and writes
mount_start "$M" "$SOURCE" "${O[@]}"
expect_eq "$(md5 <"$M/big")" "$(md5 <"$TMPDIR/old")" "big through a healthy mount"
cp "$TMPDIR/small" "$M/big" || fail "rewrite big"
expect_eq "$(oob_get big)" "small old" "big rewritten by a healthy mount"
mount_stop "$M"

# --- no copy onto itself after a stream: with every copy failing, streamed
# files (new and rewritten) still close fine and carry their mode; a small
# file too (one PUT); backdating a closed file's mtime needs a copy and fails
LITHFS_FAULTS="ops=copy,rate=1,kinds=eio" mount_start "$M" "$SOURCE" "${O[@]}"
head -c 23M /dev/urandom >"$TMPDIR/streamed"
cp "$TMPDIR/streamed" "$M/s-new" || fail "a streamed new file needed a copy"
cp "$TMPDIR/streamed" "$M/big" || fail "a streamed rewrite needed a copy"
echo tiny >"$M/s-small" || fail "a small new file needed a copy"
expect_errno "Input/output error" "touch -d with copies failing" touch -d 2020-01-01 "$M/s-small"
mount_stop "$M" 'injected|s-small'	# only touch -d's failed copy
mount_start "$M" "$SOURCE" "${O[@]}"
for f in s-new big; do
	expect_eq "$(md5 <"$M/$f")" "$(md5 <"$TMPDIR/streamed")" "$f after the stream"
	expect_eq "$(stat -c %a "$M/$f")" 644 "$f's mode"
done
expect_eq "$(cat "$M/s-small")" tiny "s-small"
mount_stop "$M"
echo "mount-io-fault: ok"
