#!/bin/bash
# mount-bigwrite.sh - long streamed writes (src/fs/file.c, src/objstore/upload.c):
#   - a 400 MiB stream with LITHFS_TEST_PART_GROUP=4 (test only: part sizes
#     double every 4 parts instead of every 1000) crosses four size steps: the
#     object is byte-identical and its multipart ETag is the one of exactly the
#     scheduled parts (4 x 5, 4 x 10, 4 x 20, 4 x 40, 80 and 20 MiB) on
#     radosgw, and on the local store the part files of the open upload have
#     those sizes;
#   - a 1200 MiB stream at the real schedule (5 MiB parts): the daemon's
#     staging file (st_blocks through /proc/PID/fd, sampled every 0.2 s)
#     never holds more than 400 MiB, as uploaded parts are dropped from it
#     once the stream passes 256 MiB;
#   - a write into the first part of a long stream (a header patch) is
#     published with the rest;
#   - a write into a dropped range fails with EIO, close fails with EIO, the
#     previous version stays, no multipart upload is left, the mount works on.
# Local store by default; mount-bigwrite-s3.sh runs the same on radosgw.
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"

store_etag() {	# store_etag KEY: the object's ETag in the store
	case $LITHFS_BACKEND in
	local) getfattr --only-values -n user.lithfs.etag "$STORE_DIR/$1" | cut -d' ' -f1 ;;
	*) s3req HEAD "$1" -I >/dev/null
		tr -d '\r"' <"$TMPDIR/s3hdr" | awk 'tolower($1) == "etag:" { print $2 }' ;;
	esac
}
md5() { md5sum | cut -d' ' -f1; }
same_object() {	# same_object KEY MODEL WHAT
	expect_eq "$(oob_get "$1" | md5)" "$(md5 <"$2")" "$3: md5 of the object"
}
# The multipart ETag of MODEL cut by the schedule: part_size PS, sizes doubling
# every GROUP parts (up to 5 GiB). Prints "ETAG SIZES-IN-MIB".
schedule_etag() {	# schedule_etag MODEL PS GROUP
	python3 - "$@" <<'EOF'
import hashlib, os, sys
path, ps, group = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
size, off, n, digests, sizes = os.path.getsize(path), 0, 0, b"", []
with open(path, "rb") as f:
    while off < size:
        n += 1
        length = min(ps << ((n - 1) // group), 5 << 30, size - off)
        digests += hashlib.md5(f.read(length)).digest()
        sizes.append("%g" % (length / 2**20))
        off += length
print("%s-%d %s" % (hashlib.md5(digests).hexdigest(), n, ",".join(sizes)))
EOF
}

backend_setup bigwrite
M=$TMPDIR/mnt
STAGE=$TMPDIR/stage
mkdir -p "$STAGE"
O=(-o "stat_ttl=1,neg_ttl=1,part_size=5M,staging_dir=$STAGE" "${STORE_OPTS[@]}")

# --- the schedule's steps, with 4 parts a step (test-only knob)
LITHFS_TEST_PART_GROUP=4 mount_start "$M" "$SOURCE" "${O[@]}"
head -c 400M /dev/urandom >"$TMPDIR/steps" || fail "make steps"
read -r want sizes < <(schedule_etag "$TMPDIR/steps" $((5 << 20)) 4)
# The writer keeps the file open once all is written, until $TMPDIR/go.
python3 - "$TMPDIR/steps" "$M/steps" "$TMPDIR" <<'EOF' &
import os, sys, time
src, dst, tmp = sys.argv[1:4]
fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
with open(src, "rb") as f:
    while block := f.read(1 << 20):
        os.write(fd, block)
open(tmp + "/written", "w").close()
for _ in range(1200):	# at most 120 s
    if os.path.exists(tmp + "/go"):
        break
    time.sleep(0.1)
os.close(fd)
EOF
W=$!
wait_until 300 test -e "$TMPDIR/written" || fail "the 400 MiB stream was not written"
if [ "$LITHFS_BACKEND" = local ]; then	# the part files of the open upload
	part_files() {
		find "$STORE_DIR/.lithfs-mpu" -name 'part-*' -printf '%s\n' | sort -n | uniq -c |
			awk '{ printf "%s%dx%d", (NR > 1 ? "," : ""), $1, $2 / 1048576 }'
	}
	want_files=4x5,4x10,4x20,4x40,1x80	# all but the last, sent at close
	parts_sent() { [ "$(part_files)" = $want_files ]; }
	wait_until 60 parts_sent ||
		fail "part files of the open upload: $(part_files), want $want_files"
fi
touch "$TMPDIR/go"
wait $W || fail "the 400 MiB stream failed"
same_object steps "$TMPDIR/steps" "400 MiB stream, growing parts"
echo "400 MiB stream: parts $sizes MiB, ETag $want"
# The local store gives the object a plain MD5 when flush sets its final
# metadata (a copy onto itself); radosgw keeps the multipart ETag.
[ "$LITHFS_BACKEND" = local ] ||
	expect_eq "$(store_etag steps)" "$want" "multipart ETag of parts $sizes MiB"
expect_eq "$(uploads_in_progress)" 0 "uploads left after the 400 MiB stream"
mount_stop "$M"
rm -f "$TMPDIR/steps"

# --- the real schedule: staging stays bounded during a 1200 MiB stream
mount_start "$M" "$SOURCE" "${O[@]}"
PID=${MOUNT_PID[$M]}
# Samples the bytes allocated to the daemon's staging files every 20 ms
# until $TMPDIR/stop; prints "MAX SAMPLES".
python3 - "$PID" "$STAGE" "$TMPDIR/stop" >"$TMPDIR/sampled" <<'EOF' &
import os, sys, time
pid, stage, stop = sys.argv[1:4]
most = samples = 0
while not os.path.exists(stop) and samples < 60000:	# at most ~20 min
    total = 0
    for fd in os.listdir("/proc/%s/fd" % pid):
        path = "/proc/%s/fd/%s" % (pid, fd)
        try:
            if os.readlink(path).startswith(stage + "/lithfs-stage-"):
                total += os.stat(path).st_blocks * 512
        except OSError:
            pass
    most = max(most, total)
    samples += 1
    time.sleep(0.02)
print(most, samples)
EOF
SAMPLER=$!
head -c 1200M /dev/urandom >"$TMPDIR/big" || fail "make big"
timeout 600 dd if="$TMPDIR/big" of="$M/big" bs=1M 2>"$TMPDIR/dd.err" ||
	{ cat "$TMPDIR/dd.err" >&2; fail "dd of 1200 MiB failed"; }
touch "$TMPDIR/stop"
wait $SAMPLER || fail "staging sampler"
read -r max samples <"$TMPDIR/sampled"
echo "1200 MiB stream: staging file at most $((max >> 20)) MiB ($samples samples)"
[ "$samples" -ge 20 ] && [ "$max" -gt 0 ] || fail "staging not sampled ($samples, $max)"
[ "$max" -lt $((400 << 20)) ] || fail "staging held $((max >> 20)) MiB of a 1200 MiB stream"
same_object big "$TMPDIR/big" "1200 MiB stream"
read -r want sizes < <(schedule_etag "$TMPDIR/big" $((5 << 20)) 1000)
[ "$LITHFS_BACKEND" = local ] ||
	expect_eq "$(store_etag big)" "$want" "multipart ETag of 240 parts of 5 MiB"
rm -f "$TMPDIR/big"

# --- a header patch in the first part of a long stream is published
python3 - "$M/patched" "$TMPDIR/patched" <<'EOF' || fail "stream with a header patch"
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
with open(sys.argv[2], "wb") as model:
    for i in range(300):
        block = os.urandom(1 << 20)
        os.write(fd, block)
        model.write(block)
    for f in (fd, model.fileno()):
        os.pwrite(f, b"HEADER, patched after 300 MiB", 1000)
os.close(fd)
EOF
same_object patched "$TMPDIR/patched" "300 MiB stream, header patched"
rm -f "$TMPDIR/patched"

# --- a write into the dropped range: EIO, the old version stays
head -c 3M /dev/urandom >"$TMPDIR/old"
cp "$TMPDIR/old" "$M/victim" || fail "cp victim"
python3 - "$M/victim" <<'EOF' || fail "write into a dropped range"
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
block = os.urandom(1 << 20)
for i in range(320):
    os.write(fd, block)
try:
    os.pwrite(fd, b"late", 100 << 20)
    sys.exit("a write into a dropped range succeeded")
except OSError as e:
    if e.errno != errno.EIO:
        sys.exit("write into a dropped range: %s, want EIO" % e)
try:
    os.close(fd)
    sys.exit("close of the broken stream succeeded")
except OSError as e:
    if e.errno != errno.EIO:
        sys.exit("close of the broken stream: %s, want EIO" % e)
EOF
same_object victim "$TMPDIR/old" "old version after the broken stream"
expect_eq "$(uploads_in_progress)" 0 "uploads left after the broken stream"
grep -q "victim: a write into them after bytes .* dropped from the staging file" \
	"${MOUNT_LOG[$M]}" || fail "the broken stream was not logged"
echo "small file after it" >"$M/after" || fail "write after the broken stream"
expect_eq "$(cat "$M/after")" "small file after it" "the mount after the broken stream"
cmp -s "$M/victim" "$TMPDIR/old" || fail "victim through the mount is not the old version"
mount_stop "$M" 'cannot upload /*victim: '	# the log may hold victim's failed upload
echo "ok"
