#!/bin/bash
# mount-badinput-s3.sh - on radosgw: a missing bucket and a wrong secret are each
# ONE line on stderr and exit status 1 before anything is mounted; the right
# secret then mounts (so the failures were about what they say).
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"
[ -n "${S3_ENDPOINT:-}" ] || { echo "no S3_ENDPOINT: skipped"; exit 77; }

LITHFS_BACKEND=s3
backend_setup badinput
M=$TMPDIR/mnt
mkdir -p "$M"
O="endpoint=$S3_ENDPOINT,path_style,cache_dir=$TMPDIR/cache"

bad() {		# bad PATTERN WHAT [env...] -- ARGS...
	local pat=$1 what=$2 rc err envs=()
	shift 2
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	err=$(env "${envs[@]}" timeout 60 "$MOUNT_BIN" "$@" 2>&1 >/dev/null)
	rc=$?
	[ $rc -eq 1 ] || fail "$what: exit status $rc, want 1 ($err)"
	[ "$(wc -l <<<"$err")" -eq 1 ] || fail "$what: want one line, got: $err"
	grep -Eq -- "^mount\.lithfs: .*$pat" <<<"$err" || fail "$what: '$err' does not match '$pat'"
	is_mounted "$M" && fail "$what: mounted anyway"
	echo "ok: $what: $err"
}

for fg in -f ""; do
	bad "bucket $BUCKET-nope not found" "missing bucket" -- $fg -o "$O" "$BUCKET-nope" "$M"
	bad "access denied to bucket $BUCKET" "wrong secret" AWS_SECRET_ACCESS_KEY=wrong -- \
		$fg -o "$O" "$BUCKET" "$M"
	bad "access denied to bucket $BUCKET" "unknown access key" AWS_ACCESS_KEY_ID=AKIANOBODY -- \
		$fg -o "$O" "$BUCKET" "$M"
done
mount_start "$M" "$BUCKET" -o "$O"
mount_stop "$M"
echo "mount-badinput-s3: all passed"
