#!/bin/bash
# mount-names-s3.sh - keys a file system cannot show (radosgw only: the local
# store refuses them): "a//b", "./" and "../" segments, a 300-byte name, and a
# key "x" beside keys under "x/". The mount lists the rest, shows x as the
# directory, hides the others, logs each hidden key once (warning, not error),
# never crashes, and rmdir of a directory holding only hidden keys is ENOTEMPTY.
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"
[ -n "${S3_ENDPOINT:-}" ] || { echo "no S3_ENDPOINT: skipped"; exit 77; }

LITHFS_BACKEND=s3
backend_setup names
echo data >"$TMPDIR/d"
long=$(printf 'L%.0s' $(seq 1 300))
for k in n/ok n/a//b n/./dot n/../up "n/$long" n/x n/x/y n/e/ n/e//z; do
	oob_put "$k" "$TMPDIR/d"
done
oob_exists n/./dot || fail "radosgw did not keep the key n/./dot"
M=$TMPDIR/mnt
mount_start "$M" "$SOURCE" "${STORE_OPTS[@]}"

for i in 1 2; do
	expect_eq "$(ls -a "$M/n" | tr '\n' ' ')" ". .. a e ok x " "listing of n (pass $i)"
	expect_eq "$(ls -a "$M/n/a" | tr '\n' ' ')" ". .. " "a//b hidden (pass $i)"
done
expect_eq "$(stat -c %F "$M/n/x")" directory "x is the directory"
expect_eq "$(cat "$M/n/x/y")" data "the key below x"
expect_eq "$(cat "$M/n/ok")" data "a plain key"
expect_eq "$(ls -a "$M/n/e" | tr '\n' ' ')" ". .. " "e//z hidden"
expect_errno "Directory not empty" "rmdir of a directory of hidden keys" rmdir "$M/n/e"
oob_exists n/e//z || fail "hidden key deleted"
stat "$M/n/$long" >/dev/null 2>&1 && fail "the 300-byte name is reachable"
mount_stop "$M"

log=${MOUNT_LOG[$M]}
for k in n/a// n/./ n/../ "n/$long" n/x n/e//; do	# keys or common prefixes
	c=$(grep -cF "hiding key \"$k" "$log")
	[ "$c" -eq 1 ] || fail "key $k logged $c times, want once"
done
grep -q 'warning: hiding key "n/x": a directory of the same name exists' "$log" ||
	fail "reason for hiding n/x not logged"
echo "mount-names-s3: all passed"
