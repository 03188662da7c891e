#!/bin/bash
# mount-prefix-s3.sh - a mount of BUCKET:/prefix (and s3://BUCKET/prefix) shows
# only the keys below prefix/, writes land there, and nothing outside it is
# touched (radosgw; exit 77 without S3_ENDPOINT).
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"
[ -n "${S3_ENDPOINT:-}" ] || { echo "no S3_ENDPOINT: skipped"; exit 77; }

LITHFS_BACKEND=s3
backend_setup prefix
echo in >"$TMPDIR/in" && echo out >"$TMPDIR/out"
oob_put pre/fix/a "$TMPDIR/in"
oob_put pre/fix/sub/b "$TMPDIR/in"
oob_put pre/fixed "$TMPDIR/out"
oob_put top "$TMPDIR/out"
M=$TMPDIR/mnt
for src in "$BUCKET:/pre/fix" "s3://$BUCKET/pre/fix"; do
	mount_start "$M" "$src" "${STORE_OPTS[@]}"
	expect_eq "$(ls "$M" | grep -v '^new' | tr '\n' ' ')" "a sub " "listing of $src"
	expect_eq "$(cat "$M/sub/b")" in "key below the prefix"
	echo new >"$M/new-$LITHFS_BACKEND" || fail "write under $src"
	mount_stop "$M"
done
expect_eq "$(oob_get pre/fix/new-s3)" new "written below the prefix"
oob_exists new-s3 && fail "written outside the prefix"
expect_eq "$(oob_get top)" out "key outside untouched"
echo "mount-prefix-s3: all passed"
