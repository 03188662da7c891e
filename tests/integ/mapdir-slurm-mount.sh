#!/bin/bash
# mapdir-slurm-mount.sh - mapdir --backend slurm with IN and OUT named as paths on
# a lithfs mount of radosgw: the coordinator must find the bucket behind the
# mount and hand the workers its s3:// URL and endpoint (they use no mount, and
# the environment names a wrong endpoint); a single-object
# IN works too. An s3:// URL (this environment's endpoint) with a path on a
# mount of another endpoint is refused in one line: the workers would read
# the URL from the mount's endpoint. A profile whose addressing style differs
# from the mount's is warned about once (workers follow the profile). 77 without SLURM_CONF or S3_ENDPOINT.
set -u
[ -n "${SLURM_CONF:-}" ] || { echo "SKIP: no SLURM_CONF (tests/start-slurm.sh)"; exit 77; }
LITHFS_BACKEND=s3
. "${LITHFS_SRC:?}/tests/lib/mount.sh"

MAPDIR=$LITHFS_BUILD/mapdir
[ -x "$MAPDIR" ] || fail "$MAPDIR not built"
[ -x "$MOUNT_BIN" ] || fail "$MOUNT_BIN not built"
backend_setup mapdir-slurm
# Wrong on purpose: the coordinator must hand the workers the mount's endpoint.
export AWS_ENDPOINT_URL=http://127.0.0.1:9
export XDG_CACHE_HOME=$TMPDIR/mapdir-cache
M=$TMPDIR/mnt
mount_start "$M" "$SOURCE" "${STORE_OPTS[@]}"

D=$TMPDIR/data
mkdir -p "$D/sub"
seq 1 30000 >"$D/nums.txt"
seq -f 'row %g' 1 7000 >"$D/sub/rows.txt"
printf 'no newline' >"$D/sub/tail"
cp -r "$D" "$M/in" || fail "cp into the mount"
md() {
	local name=$1
	shift
	timeout 150 "$MAPDIR" --no-progress -v "$@" >"$TMPDIR/$name.out" 2>"$TMPDIR/$name.err"
}

md wc --backend slurm --chunk-size 64K wc -l "$M/in" "$M/out" ||
	fail "--backend slurm on the mount: $(tail -3 "$TMPDIR/wc.err")"
grep -q "is on a lithfs mount" "$TMPDIR/wc.err" || fail "the mount was not recognised"
expect_eq "$(oob_get out/sub/tail)" 0 "wc -l of sub/tail (no newline)"
expect_eq "$(oob_get out/sub/rows.txt)" 7000 "wc -l of sub/rows.txt"
sum=0
for k in 0 1 2; do sum=$((sum + $(oob_get "out/nums.txt/part-0000$k"))); done
expect_eq "$sum" 30000 "wc -l of the chunks of nums.txt"

md one --backend slurm md5sum "$M/in/sub/rows.txt" "$M/one" ||
	fail "one object as IN: $(tail -3 "$TMPDIR/one.err")"
expect_eq "$(oob_get one/rows.txt)" "$(md5sum <"$D/sub/rows.txt")" "md5sum of one object"

# IN as a URL resolves to 127.0.0.1:9 here; OUT's mount is radosgw.
timeout 60 "$MAPDIR" --no-progress --backend slurm wc -l "s3://$BUCKET/in" "$M/mixed" \
	>"$TMPDIR/mixed.out" 2>"$TMPDIR/mixed.err"
rc=$?
expect_eq "$rc" 2 "exit status of a URL and a mount of another endpoint"
grep -q "needs one endpoint" "$TMPDIR/mixed.err" ||
	fail "no clear message for a URL and a mount of another endpoint: $(cat "$TMPDIR/mixed.err")"
expect_eq "$(grep -c . "$TMPDIR/mixed.err")" 1 "lines of that message"
[ -z "$(ls "$M/mixed" 2>/dev/null)" ] || fail "outputs written under mixed/"

printf '[default]\ns3 =\n  addressing_style = virtual\n' >"$TMPDIR/aws-config"
AWS_CONFIG_FILE=$TMPDIR/aws-config timeout 60 "$MAPDIR" --no-progress --backend slurm \
	--dry-run wc -l "$M/in" "$M/dry" >"$TMPDIR/dry.out" 2>"$TMPDIR/dry.err" ||
	fail "--dry-run with a virtual-style profile: $(cat "$TMPDIR/dry.err")"
expect_eq "$(grep -c "the Slurm workers will send virtual-style" "$TMPDIR/dry.err")" 1 \
	"warnings about the workers' addressing style"

mount_stop "$M"
echo "PASS mapdir-slurm-mount"
