#!/bin/bash
# mapdir-mount.sh - mapdir with IN and OUT on a lithfs mount: mapdir must
# recognise the mount and go to its store directly (LIST, ranged GETs via the
# block cache, uploads), and the results must equal the programs run on the
# same files locally, whole and per chunk, with the endpoint the mount
# resolved (not the environment's) and the credentials' profile it names;
# through a bind mount of a subdirectory (as root), keys below that
# subdirectory. Local store by default;
# mapdir-mount-s3.sh runs the same on radosgw.
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"

MAPDIR=$LITHFS_BUILD/mapdir
[ -x "$MAPDIR" ] || fail "$MAPDIR not built"
[ -x "$MOUNT_BIN" ] || fail "$MOUNT_BIN not built"
backend_setup mapdir
# A wrong endpoint in the environment on purpose: mapdir must use the one the
# mount resolved (-o endpoint=, shown as the root's user.lithfs.endpoint).
[ "$LITHFS_BACKEND" = s3 ] && export AWS_ENDPOINT_URL=http://127.0.0.1:9
export XDG_CACHE_HOME=$TMPDIR/mapdir-cache
M=$TMPDIR/mnt
mount_start "$M" "$SOURCE" "${STORE_OPTS[@]}"

D=$TMPDIR/data
mkdir -p "$D/sub"
seq 1 30000 >"$D/nums.txt"
awk 'BEGIN { srand(9); for (i = 0; i < 20000; i++) { n = int(rand() * 150); s = "";
	for (j = 0; j < n; j++) s = s "z"; print i " " s } }' >"$D/sub/lines.txt"
printf 'no newline' >"$D/sub/tail"
cp -r "$D" "$M/in" || fail "cp into the mount"
md() {
	local name=$1
	shift
	timeout 180 "$MAPDIR" --no-progress -v "$@" >"$TMPDIR/$name.out" 2>"$TMPDIR/$name.err"
}

md wc wc -l "$M/in" "$M/out" || fail "mapdir wc -l on the mount: $(cat "$TMPDIR/wc.err")"
grep -q "is on a lithfs mount" "$TMPDIR/wc.err" || fail "the mount was not recognised: $(cat "$TMPDIR/wc.err")"
if [ "$LITHFS_BACKEND" = s3 ]; then
	grep -q "endpoint $S3_ENDPOINT)" "$TMPDIR/wc.err" ||
		fail "mapdir did not take the mount's endpoint: $(cat "$TMPDIR/wc.err")"
fi
for f in nums.txt sub/lines.txt sub/tail; do
	expect_eq "$(oob_get "out/$f")" "$(wc -l <"$D/$f")" "wc -l of $f (in the store)"
done
wait_until 10 test -f "$M/out/nums.txt" || fail "output not visible through the mount"
expect_eq "$(cat "$M/out/nums.txt")" 30000 "wc -l through the mount"

md chunks --chunk-size 64K --merge cat "$M/in" "$M/merged" || fail "chunked --merge: $(cat "$TMPDIR/chunks.err")"
for f in nums.txt sub/lines.txt sub/tail; do
	oob_get "merged/$f" | cmp -s - "$D/$f" || fail "merged cat of $f"
done
md parts --chunks 4 -c 'md5sum' "$M/in/sub/lines.txt" "$M/parts" || fail "--chunks on one file"
for i in 0 1 2 3; do oob_exists "parts/lines.txt/part-0000$i" || fail "part $i missing"; done

md fail -c 'head -c 5; exit 2' "$M/in" "$M/failed"
[ $? -eq 1 ] || fail "failing program on the mount: exit status"
oob_exists "failed/nums.txt" && fail "a failed task published an object"

# A bind mount of in/sub (mountinfo's root field /in/sub): its keys are
# in/sub/..., not the mount's root.
if [ "$(id -u)" = 0 ] && mkdir -p "$TMPDIR/bind" && mount --bind "$M/in/sub" "$TMPDIR/bind"; then
	md bind wc -l "$TMPDIR/bind" "$M/out-bind"
	rc=$?
	umount "$TMPDIR/bind" || fail "umount of the bind mount"
	[ $rc -eq 0 ] || fail "mapdir on a bind mount of a subdirectory: $(cat "$TMPDIR/bind.err")"
	oob_exists "out-bind/nums.txt" && fail "the bind mount of in/sub was read as the mount's root"
	expect_eq "$(oob_get out-bind/lines.txt)" "$(wc -l <"$D/sub/lines.txt")" \
		"wc -l of sub/lines.txt through a bind mount"
fi

# A mount whose credentials come from a profile it names (-o profile=): mapdir
# uses the same profile (the root's user.lithfs.profile), not the wrong keys
# of its own environment, and still goes to the store directly.
if [ "$LITHFS_BACKEND" = s3 ]; then
	export AWS_SHARED_CREDENTIALS_FILE=$TMPDIR/aws-credentials AWS_CONFIG_FILE=$TMPDIR/aws-config
	printf '[lithprof]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
		"$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$AWS_SHARED_CREDENTIALS_FILE"
	chmod 600 "$AWS_SHARED_CREDENTIALS_FILE"
	: >"$AWS_CONFIG_FILE"
	P=$TMPDIR/mnt-profile
	mount_start "$P" "$SOURCE" "${STORE_OPTS[@]}" -o profile=lithprof
	expect_eq "$(getfattr --absolute-names --only-values -n user.lithfs.profile "$P" 2>&1)" lithprof \
		"the root's user.lithfs.profile"
	AWS_ACCESS_KEY_ID=AKIDWRONG AWS_SECRET_ACCESS_KEY=wrong md profile wc -l "$P/in" "$P/out-profile" ||
		fail "mapdir on a mount with -o profile: $(cat "$TMPDIR/profile.err")"
	grep -q "listing and writing through the store" "$TMPDIR/profile.err" ||
		fail "mapdir did not reach the store with the mount's profile: $(cat "$TMPDIR/profile.err")"
	expect_eq "$(oob_get out-profile/nums.txt)" 30000 "wc -l with the mount's profile"
	# a profile mapdir does not have: it works through the mount instead
	AWS_SHARED_CREDENTIALS_FILE=/dev/null md noprofile wc -l "$P/in" "$P/out-noprofile" ||
		fail "mapdir without the mount's profile: $(cat "$TMPDIR/noprofile.err")"
	grep -q "cannot open the store of its mount.*using the mount" "$TMPDIR/noprofile.err" ||
		fail "no fallback to the mount: $(cat "$TMPDIR/noprofile.err")"
	expect_eq "$(cat "$P/out-noprofile/nums.txt")" 30000 "wc -l through the mount"
	mount_stop "$P"
	unset AWS_SHARED_CREDENTIALS_FILE AWS_CONFIG_FILE
fi

mount_stop "$M"
echo "mapdir-mount ($LITHFS_BACKEND): all checks passed"
