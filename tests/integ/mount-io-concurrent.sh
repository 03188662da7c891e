#!/bin/bash
# mount-io-concurrent.sh - many programs at once on one mount:
#   - 8 writers of different files and 8 readers of other files, all
#     checked by md5 afterwards (through the mount and in the store);
#   - one file rewritten again and again (versions A and B, multipart sized)
#     while readers read it behind the mount's back and through a second
#     mount: every complete read is exactly A or B, never a mix or a prefix.
#     A reader of the second mount may get an error (ESTALE: the object
#     changed under its open file) but never wrong data. The second mount
#     runs with stat_ttl=5: its kernel holds the size of the version it saw
#     last, which open must invalidate when it finds another one, or the read
#     would stop at the old size.
# Local store by default; mount-io-concurrent-s3.sh runs the same on radosgw.
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"

md5() { md5sum | cut -d' ' -f1; }

backend_setup conc
M=$TMPDIR/mnt
M2=$TMPDIR/mnt2
O=(-o stat_ttl=1,neg_ttl=1,part_size=5M "${STORE_OPTS[@]}")
mount_start "$M" "$SOURCE" "${O[@]}"
mkdir -p "$TMPDIR/src" "$TMPDIR/out"
for i in 1 2 3 4 5 6 7 8; do
	head -c $((8 + i))M /dev/urandom >"$TMPDIR/src/w$i"
	head -c $((3 + i))M /dev/urandom >"$TMPDIR/src/r$i"
	cp "$TMPDIR/src/r$i" "$M/r$i" || fail "write r$i"
done

# --- 8 writers and 8 readers at once
pids=()
for i in 1 2 3 4 5 6 7 8; do
	dd if="$TMPDIR/src/w$i" of="$M/w$i" bs=128k 2>/dev/null &
	pids+=($!)
	cat "$M/r$i" >"$TMPDIR/out/r$i" &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || fail "a concurrent writer or reader failed"
done
for i in 1 2 3 4 5 6 7 8; do
	want=$(md5 <"$TMPDIR/src/w$i")
	expect_eq "$(md5 <"$M/w$i")" "$want" "w$i through the mount"
	expect_eq "$(oob_get "w$i" | md5)" "$want" "w$i in the store"
	expect_eq "$(md5 <"$TMPDIR/out/r$i")" "$(md5 <"$TMPDIR/src/r$i")" "r$i read during the writes"
done

# --- a file rewritten while others read it
head -c 12M /dev/urandom >"$TMPDIR/A"
head -c 11M /dev/urandom >"$TMPDIR/B"
A=$(md5 <"$TMPDIR/A")
B=$(md5 <"$TMPDIR/B")
cp "$TMPDIR/A" "$M/hot" || fail "write hot"
mount_start "$M2" "$SOURCE" -o stat_ttl=5,neg_ttl=1,part_size=5M "${STORE_OPTS[@]}"
(
	for n in $(seq 1 8); do
		cp "$TMPDIR/B" "$M/hot" && cp "$TMPDIR/A" "$M/hot" || exit 1
	done
) &
WRITER=$!
reader() {	# reader KIND: reads hot until the writer ends, one md5 per line
	local got end=$((SECONDS + 300))
	while kill -0 $WRITER 2>/dev/null && [ $SECONDS -lt $end ]; do
		case $1 in
		store) got=$(set -o pipefail; oob_get hot | md5) || got=error ;;
		mount2) got=$(set -o pipefail; md5 <"$M2/hot") || got=error ;;
		esac
		echo "$got"
	done
}
reader store >"$TMPDIR/seen-store" &
R1=$!
reader mount2 >"$TMPDIR/seen-mount2" 2>/dev/null &
R2=$!
wait $WRITER || fail "rewriting hot failed"
wait $R1
wait $R2
for kind in store mount2; do
	f=$TMPDIR/seen-$kind
	good=$(grep -cx -e "$A" -e "$B" "$f")
	bad=$(grep -vcx -e "$A" -e "$B" -e error "$f")
	echo "readers through $kind: $(wc -l <"$f") reads, $good complete versions," \
		"$(grep -cx error "$f") errors"
	expect_eq "$bad" 0 "reads through $kind that were neither A nor B"
	[ "$good" -gt 0 ] || fail "no complete read through $kind"
done
expect_eq "$(oob_get hot | md5)" "$A" "hot after the last rewrite"
mount_stop "$M2"
mount_stop "$M"
echo "mount-io-concurrent: ok"
