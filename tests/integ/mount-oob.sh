#!/bin/bash
# mount-oob.sh - changes made behind a mount's back are seen after the TTL, and
# the mount's changes are seen by others at once (close) or after their TTL:
# keys created, rewritten (new size and content) and deleted by another client;
# an s3fs-style object and directory marker with x-amz-meta-mode/uid (radosgw);
# two mounts of one bucket sharing one block cache, each seeing the other's
# writes, chmod and deletes. stat_ttl=1,neg_ttl=1: everything must show within
# 5 s. Local store by default; mount-oob-s3.sh runs it on radosgw.
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"

backend_setup oob
A=$TMPDIR/a
B=$TMPDIR/b
O=(-o stat_ttl=1,neg_ttl=1 "${STORE_OPTS[@]}")
mount_start "$A" "$SOURCE" "${O[@]}"
W=5	# seconds any change may take to show

# --- another client creates, rewrites, deletes
[ ! -e "$A/dir/new.txt" ] || fail "new.txt exists before it was made"	# cached negative now
echo v1 >"$TMPDIR/v1" && printf 'version two\n' >"$TMPDIR/v2"
oob_put dir/new.txt "$TMPDIR/v1"
wait_until $W grep -qx v1 "$A/dir/new.txt" || fail "created key not seen"
ls "$A/dir" >/dev/null
oob_put dir/other.txt "$TMPDIR/v1"
wait_until $W sh -c "ls '$A/dir' | grep -qx other.txt" || fail "new key not listed"
oob_put dir/new.txt "$TMPDIR/v2"
wait_until $W grep -qx 'version two' "$A/dir/new.txt" || fail "rewritten key not seen"
expect_eq "$(stat -c %s "$A/dir/new.txt")" 12 "size after rewrite"
oob_rm dir/new.txt
wait_until $W test ! -e "$A/dir/new.txt" || fail "deleted key still visible"

# --- objects written by s3fs (metadata in x-amz-meta-*)
if [ "$LITHFS_BACKEND" = s3 ]; then
	oob_put s3fs/file "$TMPDIR/v1" "x-amz-meta-mode: 33216" "x-amz-meta-uid: 4321" \
		"x-amz-meta-gid: 99" "x-amz-meta-mtime: 1500000000"
	: >"$TMPDIR/empty"
	oob_put s3fs/olddir/ "$TMPDIR/empty" "x-amz-meta-mode: 16832"
	oob_put s3fs/lnk "$TMPDIR/v1" "x-amz-meta-mode: 41471"
	expect_eq "$(stat -c '%a %u %g %Y' "$A/s3fs/file")" "700 4321 99 1500000000" "s3fs file attributes"
	expect_eq "$(stat -c '%F %a' "$A/s3fs/olddir")" "directory 700" "s3fs directory marker"
	expect_eq "$(readlink "$A/s3fs/lnk")" v1 "s3fs symlink"
	expect_eq "$(ls "$A/s3fs" | tr '\n' ' ')" "file lnk olddir " "s3fs listing"
fi

# --- the mount's own writes are in the store as soon as close returns
echo mine >"$A/w.txt"
expect_eq "$(oob_get w.txt)" mine "write seen by the store at close"

# --- two clients of one bucket
mount_start "$B" "$SOURCE" "${O[@]}"
expect_eq "$(cat "$B/w.txt")" mine "B reads A's file"
echo "from b" >"$B/w.txt"
wait_until $W grep -qx "from b" "$A/w.txt" || fail "A does not see B's rewrite"
chmod 640 "$A/w.txt"
wait_until $W sh -c "[ \$(stat -c %a '$B/w.txt') = 640 ]" || fail "B does not see A's chmod"
mkdir "$B/bdir" && echo 1 >"$B/bdir/one"
wait_until $W test -f "$A/bdir/one" || fail "A does not see B's new directory"
rm -r "$B/bdir"
wait_until $W test ! -e "$A/bdir" || fail "A still sees B's deleted directory"
rm "$A/w.txt"
wait_until $W test ! -e "$B/w.txt" || fail "B still sees A's deleted file"
mount_stop "$B"
mount_stop "$A"
echo "mount-oob ($LITHFS_BACKEND): all passed"
