#!/bin/bash
# mount-badinput.sh - every problem found before mounting is ONE line on stderr
# and exit status 1, and nothing gets mounted: unknown option, bad value, bad
# source URL, missing local bucket, mountpoint missing or not a directory,
# unreachable endpoint (127.0.0.1:1), extra argument; in the foreground and in
# the background mode alike. No S3 server needed (mount-badinput-s3.sh covers a
# missing bucket and a wrong secret on radosgw).
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"

M=$TMPDIR/mnt
mkdir -p "$M" "$TMPDIR/store/b1"
touch "$TMPDIR/afile"
export AWS_ACCESS_KEY_ID=AKIAEXAMPLE AWS_SECRET_ACCESS_KEY=secret AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=$TMPDIR/no-aws-config AWS_SHARED_CREDENTIALS_FILE=$TMPDIR/no-aws-creds

# bad PATTERN WHAT ARGS...: mount.lithfs ARGS fails with one line matching PATTERN
bad() {
	local pat=$1 what=$2 rc err
	shift 2
	err=$(timeout 60 "$MOUNT_BIN" "$@" 2>&1 >/dev/null)
	rc=$?
	[ $rc -eq 1 ] || fail "$what: exit status $rc, want 1 ($err)"
	[ "$(wc -l <<<"$err")" -eq 1 ] || fail "$what: want one line, got: $err"
	grep -Eq -- "^mount\.lithfs: .*$pat" <<<"$err" || fail "$what: '$err' does not match '$pat'"
	is_mounted "$M" && fail "$what: mounted anyway"
	echo "ok: $what: $err"
}

L=file://$TMPDIR/store/b1
for fg in -f ""; do
	bad "unknown option 'bogus'" "unknown option" $fg -o bogus "$L" "$M"
	bad "unknown option 'uid'" "option without its value" $fg -o uid "$L" "$M"
	bad "bad value 'abc' for option uid" "bad uid" $fg -o uid=abc "$L" "$M"
	bad "block_size" "bad block size" $fg -o block_size=3000 "$L" "$M"
	bad "unknown flag '-x'" "unknown flag" $fg -x "$L" "$M"
	bad "unknown scheme" "bad URL scheme" $fg ftp://host/b "$M"
	bad "bucket name" "bad bucket name" $fg Bad_Bucket "$M"
	bad "nostore" "missing local store" $fg "file://$TMPDIR/nostore/b" "$M"
	bad "mountpoint .*No such file or directory" "missing mountpoint" $fg "$L" "$TMPDIR/none"
	bad "not a directory" "mountpoint is a file" $fg "$L" "$TMPDIR/afile"
	bad "missing MOUNTPOINT" "no mountpoint" $fg "$L"
	bad "unexpected argument" "extra argument" $fg "$L" "$M" extra
	bad "cannot reach .*127\.0\.0\.1:1" "unreachable endpoint" $fg \
		-o endpoint=http://127.0.0.1:1,path_style somebucket "$M"
done
echo "mount-badinput: all passed"
