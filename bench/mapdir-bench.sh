#!/bin/bash
# mapdir-bench.sh - the two mapdir benchmark numbers (not part of the test suite).
#
#   1. N_TINY (10000) tiny files, `mapdir -j 2 cat` against GNU parallel -j 2 and
#      xargs -P 2 doing the same (cat each file into an output directory).
#      Target: mapdir wall time <= 0.5 x parallel's.
#   2. a BIG_MB (1024) MiB file of text lines on a lithfs mount (local store unless
#      BENCH_SOURCE/BENCH_MOUNT_OPTS say otherwise): `mapdir --chunk-size 64M wc -l`
#      against plain `wc -l` of the file through the mount, alternating, two
#      rounds (the first starts with an empty block cache). mapdir lists through
#      the store and reads through the mount, so both share the mount's cache.
#      Target: mapdir's rate >= 0.8 x wc -l's.
#
# usage: LITHFS_BUILD=/path/to/build bench/mapdir-bench.sh [tiny|big|all]
# Results go to stdout and bench/.run/mapdir-bench.txt. Needs parallel (GNU) and
# FUSE for part 2. The machine should be otherwise idle: numbers are wall times.
set -u

BUILD=${LITHFS_BUILD:?set LITHFS_BUILD to the build directory}
SRC=$(cd "$(dirname "$0")/.." && pwd)
MAPDIR=$BUILD/mapdir
MOUNT=$BUILD/mount.lithfs
N_TINY=${N_TINY:-10000}
BIG_MB=${BIG_MB:-1024}
WHAT=${1:-all}
W=$(mktemp -d "${TMPDIR:-/tmp}/mapdir-bench.XXXXXX")
OUTFILE=$SRC/bench/.run/mapdir-bench.txt
mkdir -p "$SRC/bench/.run"
MNT=
MPID=
cleanup() {
	[ -n "$MNT" ] && mountpoint -q "$MNT" && fusermount3 -u "$MNT"
	[ -n "$MPID" ] && wait "$MPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

say() { echo "$*" | tee -a "$OUTFILE"; }
# secs CMD...: wall seconds of CMD (its output discarded)
secs() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>&1 || echo "warning: '$*' failed" >&2
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l | xargs printf '%.3f'
}
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }

bench_tiny() {
	local T=$W/tiny m p x
	mkdir -p "$T"
	for ((i = 0; i < N_TINY; i++)); do echo "tiny file $i"; done |
		awk -v d="$T" '{ print > (d "/f" NR); close(d "/f" NR) }'
	rm -rf "$W/o-m"; m=$(secs "$MAPDIR" --no-progress -j 2 cat "$T" "$W/o-m")
	rm -rf "$W/o-p"; mkdir "$W/o-p"
	p=$(secs sh -c "cd '$T' && ls | parallel -j 2 'cat {} > $W/o-p/{}'")
	rm -rf "$W/o-x"; mkdir "$W/o-x"
	x=$(secs sh -c "cd '$T' && ls | xargs -P 2 -I{} sh -c 'cat {} > $W/o-x/{}'")
	[ "$(ls "$W/o-m" | wc -l)" -eq "$N_TINY" ] || say "WARNING: mapdir made $(ls "$W/o-m" | wc -l) outputs"
	say "tiny: $N_TINY files, -j 2 cat: mapdir ${m}s, GNU parallel ${p}s, xargs -P 2 ${x}s"
	say "tiny: mapdir / parallel = $(ratio "$m" "$p") (target <= 0.5), mapdir / xargs = $(ratio "$m" "$x")"
}

bench_big() {
	local cache=$W/cache-mount src=${BENCH_SOURCE:-} w1 m1 w2 m2 bytes lines
	[ -x "$MOUNT" ] || { say "big: $MOUNT not built, skipped"; return; }
	if [ -z "$src" ]; then
		mkdir -p "$W/store/bucket"
		src=file://$W/store/bucket
	fi
	MNT=$W/mnt
	mkdir -p "$MNT" "$cache"
	# shellcheck disable=SC2086
	"$MOUNT" -f "$src" "$MNT" -o "cache_dir=$cache" ${BENCH_MOUNT_OPTS:-} 2>"$W/mount.log" &
	MPID=$!
	for ((i = 0; i < 100; i++)); do mountpoint -q "$MNT" && break; sleep 0.2; done
	mountpoint -q "$MNT" || { say "big: mount failed: $(tail -3 "$W/mount.log")"; MNT=; return; }
	awk -v mb="$BIG_MB" 'BEGIN { srand(1); line = ""; for (i = 0; i < 300; i++) line = line "x";
		while (n < mb * 1048576) { l = int(rand() * 200); s = substr(line, 1, l) "\n";
		printf "%s", s; n += l + 1 } }' >"$W/big.txt"
	bytes=$(stat -c %s "$W/big.txt"); lines=$(wc -l <"$W/big.txt")
	cp "$W/big.txt" "$MNT/big.txt" || { say "big: cp into the mount failed"; return; }
	rm -f "$W/big.txt"
	sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	mkdir -p "$W/xdg"; ln -sfn "$cache" "$W/xdg/lithfs"	# the mount's cache
	w1=$(secs sh -c "wc -l < '$MNT/big.txt'")
	m1=$(secs env XDG_CACHE_HOME="$W/xdg" "$MAPDIR" --no-progress -j 2 \
		--chunk-size 64M wc -l "$MNT/big.txt" "$W/o-cold")
	w2=$(secs sh -c "wc -l < '$MNT/big.txt'")
	m2=$(secs env XDG_CACHE_HOME="$W/xdg" "$MAPDIR" --no-progress -j 2 \
		--chunk-size 64M wc -l "$MNT/big.txt" "$W/o-warm")
	[ "$(cat "$W/o-cold/big.txt"/part-* | awk '{ s += $1 } END { print s }')" = "$lines" ] ||
		say "WARNING: mapdir's line count differs from $lines"
	say "big: $bytes bytes on a lithfs mount ($src)"
	say "big: round 1: wc -l ${w1}s ($(ratio "$bytes / 1048576" "$w1") MiB/s), mapdir ${m1}s ($(ratio "$bytes / 1048576" "$m1") MiB/s), rate ratio $(ratio "$w1" "$m1") (target >= 0.8)"
	say "big: round 2: wc -l ${w2}s ($(ratio "$bytes / 1048576" "$w2") MiB/s), mapdir ${m2}s ($(ratio "$bytes / 1048576" "$m2") MiB/s), rate ratio $(ratio "$w2" "$m2")"
}

say "mapdir-bench $(date -u +%FT%TZ) on $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
case $WHAT in
tiny) bench_tiny ;;
big) bench_big ;;
*) bench_tiny; bench_big ;;
esac
