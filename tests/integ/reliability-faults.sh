#!/bin/bash
# reliability-faults.sh - a mixed workload with 10 % injected faults
# (LITHFS_FAULTS: 5xx, resets, truncated bodies, failing parts and
# completions, LISTs failing mid-pagination) on a mount and through mapdir
# completes with byte-identical data: 200 files, three of them multipart-sized,
# written, read back, renamed, listed and deleted. The retry wrapper must
# absorb every fault: no operation may fail and the daemon may log no error.
# Local store by default; reliability-faults-s3.sh runs it on radosgw.
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"

SEED=${FAULT_SEED:-$$}
FAULTS="rate=0.1,seed=$SEED,kinds=5xx+reset+truncate+tail+lost"
echo "faults: $FAULTS (to rerun: FAULT_SEED=$SEED)"
md5() { md5sum "$@" | cut -d' ' -f1; }

backend_setup faults
# mapdir finds the mount's bucket from mountinfo but its endpoint from the AWS
# environment, like any AWS client (docs/mapdir.md)
[ "$LITHFS_BACKEND" = s3 ] && export AWS_ENDPOINT_URL=$S3_ENDPOINT
M=$TMPDIR/mnt
W=$TMPDIR/want
mkdir -p "$W/in/sub"
for i in $(seq 1 197); do
	head -c $((RANDOM % 9000 + 1)) /dev/urandom >"$W/in/sub/f$i"
done
for i in 1 2 3; do	# multipart-sized with part_size=5M: 3 parts each
	head -c $((12 * 1024 * 1024 + i)) /dev/urandom >"$W/in/big$i"
done

LITHFS_FAULTS=$FAULTS mount_start "$M" "$SOURCE" -o part_size=5M,stat_ttl=1,loglevel=info \
	"${STORE_OPTS[@]}"
cp -r "$W/in" "$M/in" || fail "cp -r into the faulty mount"
[ "$(find "$M/in" -type f | wc -l)" = 200 ] || fail "listing shows $(find "$M/in" -type f | wc -l) files, want 200"
for f in $(cd "$W/in" && find . -type f); do
	[ "$(md5 "$M/in/$f")" = "$(md5 "$W/in/$f")" ] || fail "read back $f differs"
done
mv "$M/in/big1" "$M/in/big1.renamed" || fail "rename of a multipart object"
mv "$M/in/sub" "$M/in/sub2" || fail "rename of a directory of 197 files"
[ "$(md5 "$M/in/big1.renamed")" = "$(md5 "$W/in/big1")" ] || fail "renamed big1 differs"
[ "$(ls "$M/in/sub2" | wc -l)" = 197 ] || fail "renamed directory lists $(ls "$M/in/sub2" | wc -l) entries"
[ ! -e "$M/in/sub" ] || fail "old directory still there after rename"

# mapdir over the same faulty mount: md5sum of each file, outputs published whole
LITHFS_FAULTS=$FAULTS "$LITHFS_BUILD/mapdir" -q -j 2 --retries 2 md5sum "$M/in/sub2" "$M/out"
mapdir_rc=$?
[ $mapdir_rc = 0 ] || fail "mapdir over the faulty mount: exit status $mapdir_rc"
for i in $(seq 1 197); do
	got=$(cut -d' ' -f1 "$M/out/f$i")
	[ "$got" = "$(md5 "$W/in/sub/f$i")" ] && continue
	# a lost publish or a stale view of the mount?
	if oob_exists "out/f$i"; then where="in the store, content '$(oob_get "out/f$i")'"
	else where="NOT in the store"; fi
	listed=$(ls "$M/out" | grep -cx "f$i")
	fail "mapdir output f$i is '$got' through the mount (mapdir exit status $mapdir_rc; the object is $where; listed by ls of the mount: $listed)"
done

rm -r "$M/in" "$M/out" || fail "rm -r under faults"
[ -z "$(ls -A "$M")" ] || fail "mount not empty after rm -r: $(ls -A "$M" | head -3)"
retries=$(grep -c '; retry [0-9]* of' "${MOUNT_LOG[$M]}")
[ "$retries" -ge 20 ] || fail "only $retries retries logged: were faults injected at all?"
mount_stop "$M"
echo "ok ($retries retries in the daemon): 200 files written, read, renamed, mapped and deleted with faults $FAULTS"
