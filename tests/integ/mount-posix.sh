#!/bin/bash
# mount-posix.sh - POSIX operations through a real mount and what they leave in
# the store: write/read back, mkdir/rmdir (ENOTEMPTY), rename of a file and of a
# directory, unlink, symlink/readlink, chmod/chown/touch -d stored as s3fs
# x-amz-meta-* (checked behind the mount's back), O_EXCL, hard link refused, all
# attributes persisted across a remount, then `-o ro` refusing every write with
# EROFS. Local store by default; mount-posix-s3.sh runs the same on radosgw.
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"

backend_setup posix
M=$TMPDIR/mnt
mount_start "$M" "$SOURCE" -o stat_ttl=1,neg_ttl=1 "${STORE_OPTS[@]}"

# --- files: write, read back, size, the object behind it
echo hello >"$M/a.txt" || fail "write a.txt"
expect_eq "$(cat "$M/a.txt")" hello "read back"
expect_eq "$(stat -c %s "$M/a.txt")" 6 "size"
expect_eq "$(oob_get a.txt)" hello "object a.txt"
expect_eq "$(oob_meta a.txt mode)" 33188 "x-amz-meta-mode of a new file (S_IFREG|0644)"
printf 'more\n' >>"$M/a.txt" || fail "append"
expect_eq "$(oob_get a.txt | wc -l)" 2 "appended object"

# --- directories
mkdir "$M/d" || fail "mkdir"
oob_exists d/ || fail "mkdir wrote no marker d/"
expect_eq "$(oob_meta d/ mode)" 16877 "marker mode (S_IFDIR|0755)"
echo x >"$M/d/f"
expect_errno "Directory not empty" "rmdir of a non-empty directory" rmdir "$M/d"
mkdir "$M/empty" && rmdir "$M/empty" || fail "rmdir of an empty directory"
[ ! -e "$M/empty" ] || fail "empty still there"
oob_exists empty/ && fail "marker empty/ left behind"
expect_errno "File exists" "mkdir over a file" mkdir "$M/a.txt"

# --- rename a file (copy + delete in the store)
mv "$M/a.txt" "$M/d/b.txt" || fail "mv file"
[ ! -e "$M/a.txt" ] || fail "a.txt still visible"
oob_exists a.txt && fail "a.txt still in the store"
expect_eq "$(head -1 "$M/d/b.txt")" hello "renamed content"

# --- rename a directory (every key below it)
mkdir -p "$M/src/sub" && echo 1 >"$M/src/sub/one" && echo 2 >"$M/src/two" || fail "tree"
mv "$M/src" "$M/dst" || fail "mv dir"
expect_eq "$(cat "$M/dst/sub/one" "$M/dst/two" | tr -d '\n')" 12 "renamed tree"
[ ! -e "$M/src" ] || fail "src still visible"
oob_exists src/two && fail "src/two still in the store"
oob_exists dst/sub/one || fail "dst/sub/one missing in the store"
mkdir "$M/full" && echo z >"$M/full/z"
expect_errno "Directory not empty" "rename onto a non-empty directory" \
	python3 -c "import os, sys; os.rename(sys.argv[1], sys.argv[2])" "$M/dst" "$M/full"

# --- unlink
rm "$M/dst/two" || fail "rm"
[ ! -e "$M/dst/two" ] || fail "dst/two still visible"
oob_exists dst/two && fail "dst/two still in the store"

# --- symlinks, s3fs style
ln -s d/b.txt "$M/link" || fail "symlink"
expect_eq "$(readlink "$M/link")" d/b.txt "readlink"
expect_eq "$(head -1 "$M/link")" hello "read through the link"
expect_eq "$(oob_get link)" d/b.txt "symlink object holds the target"
expect_eq "$(oob_meta link mode)" 41471 "symlink mode (S_IFLNK|0777)"

# --- attributes stored as metadata
chmod 600 "$M/d/b.txt" || fail chmod
expect_eq "$(stat -c %a "$M/d/b.txt")" 600 "mode after chmod"
expect_eq "$(oob_meta d/b.txt mode)" 33152 "x-amz-meta-mode after chmod"
chown 1234:5678 "$M/d/b.txt" || fail chown
expect_eq "$(oob_meta d/b.txt uid):$(oob_meta d/b.txt gid)" 1234:5678 "x-amz-meta-uid/gid"
touch -d '2001-02-03 04:05:06 UTC' "$M/d/b.txt" || fail "touch -d"
expect_eq "$(stat -c %Y "$M/d/b.txt")" 981173106 "mtime after touch -d"
expect_eq "$(oob_meta d/b.txt mtime)" 981173106 "x-amz-meta-mtime"
expect_eq "$(head -1 "$M/d/b.txt")" hello "content kept by metadata changes"
chmod 700 "$M/d" || fail "chmod dir"
expect_eq "$(oob_meta d/ mode)" 16832 "marker mode after chmod (S_IFDIR|0700)"

# --- refused operations
expect_errno "Operation not permitted" "hard link" ln "$M/d/b.txt" "$M/hard"
expect_errno "File exists" "O_EXCL on an existing file" python3 -c \
	"import os, sys; os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY)" "$M/d/b.txt"
python3 -c "import os, sys; os.close(os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640))" \
	"$M/excl" || fail "O_EXCL create"
expect_eq "$(stat -c '%a %s' "$M/excl")" "640 0" "O_EXCL file"
oob_exists excl || fail "empty file not stored"

# --- everything persisted: a new mount (nothing cached) sees it
mount_stop "$M"
mount_start "$M" "$SOURCE" "${STORE_OPTS[@]}"
expect_eq "$(stat -c '%a %u %g %Y' "$M/d/b.txt")" "600 1234 5678 981173106" "attributes after remount"
expect_eq "$(readlink "$M/link")" d/b.txt "symlink after remount"
expect_eq "$(stat -c %a "$M/d")" 700 "directory mode after remount"
expect_eq "$(cd "$M" && ls | tr '\n' ' ')" "d dst excl full link " "root listing"
expect_eq "$(cat "$M/dst/sub/one")" 1 "file after remount"
mount_stop "$M"

# --- read-only: every write path is EROFS, reads work
mount_start "$M" "$SOURCE" -o ro "${STORE_OPTS[@]}"
expect_eq "$(head -1 "$M/d/b.txt")" hello "read on ro"
E="Read-only file system"
expect_errno "$E" "create on ro" sh -c "echo x >'$M/new'"
expect_errno "$E" "write on ro" sh -c "echo x >>'$M/d/b.txt'"
expect_errno "$E" "truncate on ro" truncate -s 0 "$M/d/b.txt"
expect_errno "$E" "mkdir on ro" mkdir "$M/nd"
expect_errno "$E" "rmdir on ro" rmdir "$M/full"
expect_errno "$E" "unlink on ro" rm -f "$M/excl"
expect_errno "$E" "rename on ro" mv "$M/excl" "$M/excl2"
expect_errno "$E" "chmod on ro" chmod 644 "$M/excl"
expect_errno "$E" "touch on ro" touch "$M/excl"
expect_errno "$E" "symlink on ro" ln -s x "$M/l2"
mount_stop "$M"
oob_exists excl || fail "ro mount deleted excl"
echo "mount-posix ($LITHFS_BACKEND): all passed"
