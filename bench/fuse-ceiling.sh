#!/bin/bash
# bench/fuse-ceiling.sh - how close lithfs's random 4 KiB reads are to what FUSE
# itself allows on this machine. The same fio job as bench/run's workload (c)
# (randread 4k psync direct=1, FIO_JOBS jobs, FIO_SECS s) runs, in turns, on
#   - bench/nullfs: a FUSE server answering every read from a static buffer
#     of zeros (no lookup, no cache, no store): the FUSE round trip alone;
#   - lithfs, warm: a local-directory store whose object is already in the
#     block cache (read once, then remounted), so no byte comes from the store.
# Prints IOPS per run and the median ratio lithfs / nullfs. s3fs and rclone are
# measured by bench/run; their small reads cross the same FUSE round trip.
#
# usage: bench/fuse-ceiling.sh   (LITHFS_BUILD: the build dir with mount.lithfs and
#        bench/nullfs; RUNS (3), SIZE_MB (1024), FIO_JOBS (4), FIO_SECS (10))
set -u
BUILD=${LITHFS_BUILD:?set LITHFS_BUILD to the build directory}
RUNS=${RUNS:-3} SIZE_MB=${SIZE_MB:-1024} FIO_JOBS=${FIO_JOBS:-4} FIO_SECS=${FIO_SECS:-10}
for b in "$BUILD/mount.lithfs" "$BUILD/bench/nullfs"; do
	[ -x "$b" ] || { echo "fuse-ceiling: $b not built (make mount.lithfs bench/nullfs)" >&2; exit 2; }
done
command -v fio >/dev/null || { echo "fuse-ceiling: fio not installed" >&2; exit 2; }
W=$(mktemp -d /tmp/fuse-ceiling.XXXXXX)
NPID=
cleanup() {
	for m in "$W/null" "$W/lithfs"; do mountpoint -q "$m" && fusermount3 -u "$m"; done
	[ -n "$NPID" ] && wait "$NPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/store/bk" "$W/null" "$W/lithfs" "$W/cache"
head -c "$((SIZE_MB << 20))" /dev/urandom >"$W/store/bk/obj"
# a cache of its own (XDG_CACHE_HOME does not apply to root), sized to hold it
LOPTS=cache_dir=$W/cache,cache_size=$((SIZE_MB * 2))M

fio_iops() {	# fio_iops FILE: total read IOPS of the job
	fio --name=r --filename="$1" --rw=randread --bs=4k --ioengine=psync --direct=1 \
		--numjobs="$FIO_JOBS" --time_based --runtime="$FIO_SECS" --group_reporting \
		--output-format=json 2>/dev/null |
		python3 -c 'import json, sys; print(int(json.load(sys.stdin)["jobs"][0]["read"]["iops"]))'
}
lithfs_mount() { "$BUILD/mount.lithfs" "file://$W/store/bk" "$W/lithfs" -o "$LOPTS"; }

# warm the block cache, then remount (no page cache). A cold read from this
# store (as fast as the cache's own disk) may leave blocks out of the cache
# (bench/README.md F1), so read until every block is in it.
for i in 1 2 3; do
	lithfs_mount || exit 1
	cat "$W/lithfs/obj" >/dev/null
	fusermount3 -u "$W/lithfs"
	sleep 1
	cached=$("$BUILD/lithfs" cache stats --dir "$W/cache" --json |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["blocks"])')
	[ "$cached" -ge "$SIZE_MB" ] && break
done
echo "cached blocks: $cached of $SIZE_MB (1 MiB blocks)"
echo "run nullfs_iops lithfs_warm_iops ratio   (fio randread 4k psync direct=1 x$FIO_JOBS, ${FIO_SECS}s; load $(cut -d' ' -f1-3 /proc/loadavg))"
ratios=()
for r in $(seq 1 "$RUNS"); do
	"$BUILD/bench/nullfs" "$W/null" "$((SIZE_MB << 20))" & NPID=$!
	for i in $(seq 1 50); do mountpoint -q "$W/null" && break; sleep 0.1; done
	n=$(fio_iops "$W/null/zero")
	fusermount3 -u "$W/null"; wait "$NPID"; NPID=
	lithfs_mount || exit 1
	l=$(fio_iops "$W/lithfs/obj")
	fusermount3 -u "$W/lithfs"
	sleep 1
	ratio=$(awk -v a="$l" -v b="$n" 'BEGIN { printf "%.2f", b ? a / b : 0 }')
	ratios+=("$ratio")
	echo "$r $n $l $ratio"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print "median lithfs / FUSE ceiling: " v[int((NR + 1) / 2)] "x" }'
