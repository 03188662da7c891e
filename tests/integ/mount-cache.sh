#!/bin/bash
# mount-cache.sh - the mount's metadata path and the kernel's caches
# (docs/fs.md "Lookups and the attribute cache", "Kernel caches"):
#   - a file rewritten by another client is read whole, at its new size, by a
#     mount with a long stat_ttl whose kernel still holds the old attributes
#     (bigger and smaller versions);
#   - a file reopened unchanged keeps its pages in the kernel's page cache
#     (fincore), one changed behind the mount's back does not serve them;
#   - the lookups cost what they should (counted in the mount's debug log):
#     no request for names created in a directory just made, one LIST for a
#     name never seen, a small directory listed again instead of a LIST per
#     name, one HEAD (and no second one at open) to open a file just listed;
#   - the root's virtual xattrs user.lithfs.* name the store, never a secret;
#   - read_ahead_kb of the mount's bdi is raised (when root).
# Local store by default; mount-cache-s3.sh runs the same on radosgw.
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"

md5() { md5sum | cut -d' ' -f1; }
MARK=0
mark() { MARK=$(stat -c %s "$LOG"); }	# count() sees the mount's log after this
count() { tail -c +$((MARK + 1)) "$LOG" | grep -c -F -- "$1" || true; }

backend_setup cache
M=$TMPDIR/mnt
mount_start "$M" "$SOURCE" -o stat_ttl=30,neg_ttl=2,loglevel=debug "${STORE_OPTS[@]}"
LOG=${MOUNT_LOG[$M]}

# --- another client rewrites a file the kernel has cached (size and pages)
head -c 300000 /dev/urandom >"$TMPDIR/A"
head -c 700000 /dev/urandom >"$TMPDIR/B"
head -c 1000 /dev/urandom >"$TMPDIR/C"
oob_put hot "$TMPDIR/A"
expect_eq "$(md5 <"$M/hot")" "$(md5 <"$TMPDIR/A")" "hot, first version"
expect_eq "$(stat -c %s "$M/hot")" 300000 "hot's size"
for v in B C; do
	sleep 1.2	# past the 1 s in which a check of this mount stands for open's HEAD
	oob_put hot "$TMPDIR/$v"
	expect_eq "$(md5 <"$M/hot")" "$(md5 <"$TMPDIR/$v")" "hot rewritten by another client ($v)"
	expect_eq "$(stat -c %s "$M/hot")" "$(stat -c %s "$TMPDIR/$v")" "hot's size after the rewrite ($v)"
done

# --- the page cache survives a reopen of an unchanged file, not a change
head -c 4M /dev/urandom >"$TMPDIR/P"
cp "$TMPDIR/P" "$M/pc" || fail "write pc"
sleep 1.2
cat "$M/pc" >/dev/null
cat "$M/pc" >/dev/null		# opened afresh at the ETag the kernel has: kept
pages=$(fincore -n -o PAGES "$M/pc" | tr -d ' ')
[ "${pages:-0}" -ge 1000 ] || fail "pc not kept in the page cache after a reopen ($pages pages)"
sleep 1.2
oob_put pc "$TMPDIR/A"		# changed behind the mount's back
expect_eq "$(md5 <"$M/pc")" "$(md5 <"$TMPDIR/A")" "pc after another client changed it"

# --- request counts of lookups and opens
mkdir "$M/d"
mark
for i in $(seq 1 20); do echo "$i" >"$M/d/f$i" || fail "create d/f$i"; done
expect_eq "$(count '(lookup)')" 0 "lookup requests for 20 names created in a new directory"
sleep 2.5			# the directory's complete mark (neg_ttl) ran out
mark
echo x >"$M/d/late" || fail "create d/late"
expect_eq "$(count 'delimiter / max 8 (lookup)')" 0 "LISTs of a name in a small directory"
expect_eq "$(count 'again (lookup of a name in it)')" 1 "listings of the small directory again"
mark
stat "$M/never" 2>/dev/null && fail "never exists"
expect_eq "$(count 'list "never" delimiter / max 8 (lookup)')" 1 "LIST for a name never seen"
expect_eq "$(count '(lookup)')" 1 "requests for a name never seen"
echo y >"$M/seen" || fail "create seen"
sleep 1.2
ls -l "$M" >/dev/null || fail "ls -l"
sleep 1.2			# the listing's check of "seen" is too old for open now
mark
expect_eq "$(cat "$M/seen")" y "seen read"
expect_eq "$(count 'head ')" 1 "HEADs to read a file just listed"

# --- the store's identity on the root, read-only, no secrets
src=$(getfattr --only-values -n user.lithfs.source "$M") || fail "getfattr user.lithfs.source"
expect_eq "$(getfattr --only-values -n user.lithfs.bucket "$M")" "${BUCKET:-$(basename "$STORE_DIR")}" "user.lithfs.bucket"
case $LITHFS_BACKEND in
s3)
	expect_eq "$src" "$SOURCE?endpoint=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=""))' "$S3_ENDPOINT")&region=${AWS_DEFAULT_REGION:-us-east-1}&addressing=path" "user.lithfs.source"
	expect_eq "$(getfattr --only-values -n user.lithfs.endpoint "$M")" "$S3_ENDPOINT" "user.lithfs.endpoint"
	getfattr -d -m - "$M" | grep -qF -e "$AWS_SECRET_ACCESS_KEY" -e "$AWS_ACCESS_KEY_ID" &&
		fail "credentials in the xattrs"
	;;
local)
	expect_eq "$src" "$SOURCE" "user.lithfs.source"
	getfattr -n user.lithfs.endpoint "$M" 2>/dev/null && fail "an endpoint for a local store"
	;;
esac
expect_errno "Operation not supported" "setfattr on the root" setfattr -n user.lithfs.source -v x "$M"
expect_errno "Operation not supported" "getfattr of a file" getfattr -n user.lithfs.source "$M/seen"
expect_errno "No such attribute" "an unknown xattr of the root" getfattr -n user.lithfs.nope "$M"

# --- read-ahead of the mount's bdi
if [ "$(id -u)" = 0 ]; then
	expect_eq "$(cat "/sys/class/bdi/$(mountpoint -d "$M")/read_ahead_kb")" 1024 "read_ahead_kb"
fi

mount_stop "$M"
echo "mount-cache: ok"
