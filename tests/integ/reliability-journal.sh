#!/bin/bash
# reliability-journal.sh - no multipart upload left behind by a crash, and none
# of a live process taken away.
#   1. Two mounts of one store share a private upload journal (LITHFS_JOURNAL_DIR).
#      Mount A streams a big write over an existing key, mount B a write that goes
#      on until the test says stop; both multipart uploads are in progress and
#      journaled (records 0600, directory 0700).
#   2. kill -9 of A: its upload stays on the server. Remounting A opens the store,
#      which aborts A's upload (its owner is gone) and removes the record; B's
#      upload and record stay; the old version of the key is intact.
#   3. An upload no journal knows (aws CLI on S3; a hand-made upload directory on
#      the local store): `lithfs uploads list` shows it and B's (with B's PID);
#      `lithfs uploads abort` keeps it (younger than 24 h); `--older-than 0s`
#      aborts it and still not B's. An upload whose record names a process of
#      another host (a home directory shared by nodes) is shown as pid N@HOST and
#      never aborted.
#   4. B finishes: its object has exactly the bytes written, no upload and no
#      record remain, and both daemons exit cleanly with no error logged.
# Local store by default; reliability-journal-s3.sh runs the same on radosgw.
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"

LITHFS_TOOL=$LITHFS_BUILD/lithfs
export LITHFS_JOURNAL_DIR=$TMPDIR/state/journal
J=$LITHFS_JOURNAL_DIR

aws_s3() { env -u AWS_CA_BUNDLE aws --endpoint-url "$S3_ENDPOINT" s3api "$@"; }

uploads() {	# "KEY<TAB>UPLOAD-ID" lines of the uploads in progress
	local d
	case $LITHFS_BACKEND in
	local)
		for d in "$STORE_DIR"/.lithfs-mpu/*/; do
			[ -f "$d/key" ] && printf '%s\t%s\n' "$(cat "$d/key")" "$(basename "$d")"
		done
		;;
	*)	# ListMultipartUploads with curl (the aws CLI takes seconds a call)
		[ "$(s3req GET "" --get --data-urlencode uploads=)" = 200 ] || fail "list uploads"
		tr '<' '\n' <"$TMPDIR/s3resp" | sed -n 's/^Key>//p; s/^UploadId>//p' | paste - - ;;
	esac
	return 0
}
has_upload() { uploads | cut -f1 | grep -qxF -- "$1"; }
records() { find "$J" -maxdepth 1 -name 'u-*' | wc -l; }

foreign_upload() {	# foreign_upload KEY: an upload no journal knows
	local id
	case $LITHFS_BACKEND in
	local)
		id=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
		mkdir -p "$STORE_DIR/.lithfs-mpu/$id"
		printf '%s' "$1" >"$STORE_DIR/.lithfs-mpu/$id/key"
		: >"$STORE_DIR/.lithfs-mpu/$id/meta"
		;;
	*) aws_s3 create-multipart-upload --bucket "$BUCKET" --key "$1" >/dev/null ||
			fail "aws create-multipart-upload" ;;
	esac
}

# writer PATH STOPFILE SUMFILE DELAY: 1 MiB of seeded random bytes every DELAY s,
# at least 12 MiB, until STOPFILE exists (at most 600 MiB or 150 s); the MD5 of
# what it wrote goes to SUMFILE when the file is closed.
writer() {
	python3 - "$@" <<'EOF'
import hashlib, os, random, sys, time
path, stop, sumfile, delay = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
rnd, h, end = random.Random(7), hashlib.md5(), time.time() + 150
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for i in range(600):
    if (i >= 12 and os.path.exists(stop)) or time.time() > end:
        break
    b = rnd.randbytes(1 << 20)
    os.write(fd, b)
    h.update(b)
    time.sleep(delay)
os.close(fd)
open(sumfile, "w").write(h.hexdigest())
EOF
}

md5() { md5sum | cut -d' ' -f1; }

backend_setup journal
if [ "$LITHFS_BACKEND" = s3 ]; then
	command -v aws >/dev/null || { echo "no aws CLI: skipped"; exit 77; }
	TOOL_OPTS=(--endpoint "$S3_ENDPOINT")
else
	TOOL_OPTS=()
fi
A=$TMPDIR/a
B=$TMPDIR/b
O=(-o stat_ttl=1,neg_ttl=1,part_size=8M "${STORE_OPTS[@]}")
head -c 3M /dev/urandom >"$TMPDIR/old"
mount_start "$A" "$SOURCE" "${O[@]}"
mount_start "$B" "$SOURCE" "${O[@]}"
cp "$TMPDIR/old" "$A/existing" || fail "write the old version"
expect_eq "$(oob_get existing | md5)" "$(md5 <"$TMPDIR/old")" "old version stored"

# --- 1. two uploads in progress, both journaled
writer "$A/existing" "$TMPDIR/never" "$TMPDIR/a.md5" 0.02 2>/dev/null &
WA=$!
writer "$B/other" "$TMPDIR/stop" "$TMPDIR/b.md5" 0.25 2>/dev/null &
WB=$!
wait_until 60 has_upload existing || fail "A's write streams no multipart upload"
wait_until 60 has_upload other || fail "B's write streams no multipart upload"
kill -0 $WA || fail "A's writer finished before the kill: too fast to test"
expect_eq "$(records)" 2 "journal records of two uploads in progress"
expect_eq "$(stat -c %a "$J")" 700 "journal directory mode"
for f in "$J"/u-*; do
	expect_eq "$(stat -c %a "$f")" 600 "journal record mode"
done

# --- 2. kill -9 of A; remounting A aborts A's upload only
pid=${MOUNT_PID[$A]}
kill -9 "$pid"
wait "$pid" 2>/dev/null
unset "MOUNT_PID[$A]"
wait $WA && fail "a write into the killed mount succeeded"
fusermount3 -u "$A" 2>/dev/null || fusermount3 -uz "$A" || fail "cannot unmount the dead mount"
has_upload existing || fail "the killed daemon's upload is not on the server (nothing to recover)"
expect_eq "$(records)" 2 "records after the kill"

mount_start "$A" "$SOURCE" "${O[@]}"
has_upload existing && fail "the dead daemon's upload was not aborted by the remount"
has_upload other || fail "the live mount's upload was aborted by the remount"
expect_eq "$(records)" 1 "records after the recovery (B's only)"
grep -q "upload journal: aborted 1 multipart upload" "${MOUNT_LOG[$A]}" ||
	fail "the remount did not say it aborted the upload"
expect_eq "$(oob_get existing | md5)" "$(md5 <"$TMPDIR/old")" "old version after the recovery"
expect_eq "$(md5 <"$A/existing")" "$(md5 <"$TMPDIR/old")" "old version through the mount"

# --- 3. an upload no journal knows: lithfs uploads list / abort
foreign_upload "foreign/x y"
has_upload "foreign/x y" || fail "the foreign upload is not listed"
out=$("$LITHFS_TOOL" uploads list "${TOOL_OPTS[@]}" "$SOURCE") || fail "uploads list: $out"
grep -qE "^[0-9TZ:-]+  -  +[^ ]+  foreign/x y\$" <<<"$out" || fail "uploads list: $out"
grep -qE "^[0-9TZ:-]+  pid [0-9]+ +[^ ]+  other\$" <<<"$out" || fail "uploads list, B's: $out (server: $(uploads); journal: $(cat "$J"/u-*))"
out=$("$LITHFS_TOOL" uploads abort "${TOOL_OPTS[@]}" "$SOURCE") || fail "uploads abort: $out"
grep -q "^0 aborted, 1 younger than the limit, 1 of running processes, 0 failed" <<<"$out" ||
	fail "uploads abort (24 h): $out"
has_upload "foreign/x y" || fail "uploads abort (24 h) aborted a fresh upload"
out=$("$LITHFS_TOOL" uploads abort --older-than 0s "${TOOL_OPTS[@]}" "$SOURCE") ||
	fail "uploads abort --older-than 0s: $out"
grep -q "^1 aborted, 0 younger than the limit, 1 of running processes, 0 failed" <<<"$out" ||
	fail "uploads abort --older-than 0s: $out"
has_upload "foreign/x y" && fail "uploads abort --older-than 0s left the foreign upload"
has_upload other || fail "uploads abort --older-than 0s aborted the live mount's upload"
# another host's record (copied from B's) for a foreign upload: kept, shown
foreign_upload "foreign/z"
zid=$(uploads | awk -F'\t' '$1 == "foreign/z" { print $2 }')
[ -n "$zid" ] || fail "no id of the upload foreign/z: $(uploads)"
sed -e 's/^host .*/host other-host.invalid/' -e 's/^key .*/key foreign%2Fz/' \
	-e "s/^upload .*/upload $zid/" "$J"/u-* >"$J/u-other-host"
out=$("$LITHFS_TOOL" uploads list "${TOOL_OPTS[@]}" "$SOURCE") || fail "uploads list: $out"
grep -qE "^[0-9TZ:-]+  pid [0-9]+@other-host.invalid  [^ ]+  foreign/z\$" <<<"$out" ||
	fail "uploads list, another host's: $out"
out=$("$LITHFS_TOOL" uploads abort --older-than 0s "${TOOL_OPTS[@]}" "$SOURCE") ||
	fail "uploads abort --older-than 0s: $out"
grep -q "^0 aborted, 0 younger than the limit, 2 of running processes, 0 failed" <<<"$out" ||
	fail "uploads abort --older-than 0s with another host's record: $out"
rm -f "$J/u-other-host"
out=$("$LITHFS_TOOL" uploads abort --older-than 0s "${TOOL_OPTS[@]}" "$SOURCE") ||
	fail "uploads abort --older-than 0s: $out"
has_upload "foreign/z" && fail "foreign/z left without its record"
expect_errno "bad --older-than" "a bad duration" \
	"$LITHFS_TOOL" uploads abort --older-than 3x "${TOOL_OPTS[@]}" "$SOURCE"

# --- 4. B completes with every byte; nothing is left
kill -0 $WB || fail "B's writer ended before the stop: the checks above saw no live upload"
touch "$TMPDIR/stop"
wait $WB || fail "B's write failed"
expect_eq "$(oob_get other | md5)" "$(cat "$TMPDIR/b.md5")" "B's object"
wait_until 10 eval '[ -z "$(uploads)" ]' || fail "uploads left at the end: $(uploads)"
if [ "$LITHFS_BACKEND" = s3 ]; then	# the same seen by another client
	expect_eq "$(aws_s3 list-multipart-uploads --bucket "$BUCKET" \
		--query 'length(Uploads || `[]`)')" 0 "uploads the aws CLI lists at the end"
fi
expect_eq "$(records)" 0 "journal records at the end"
mount_stop "$B"
mount_stop "$A"
echo "reliability-journal ($LITHFS_BACKEND): ok"
