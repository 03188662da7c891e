#!/bin/bash
# mount-io-rw.sh - file contents through a real mount (src/fs/file.c), checked
# against a local model file and against the object behind the mount's back:
#   - 200 MiB sequential write: the multipart upload runs WHILE dd writes (an
#     upload is in progress before dd ends), md5 of the mount and the object;
#   - random writes (conv=notrunc-like, python) into an existing 20 MiB object;
#   - truncate shrink/grow (sparse zeros) and append of an existing object;
#   - fsync returns only once the new version is visible in the store;
#   - `prog > file` leaves the old object until prog has written (or exits);
#   - everything read back again after a remount.
# Local store by default; mount-io-rw-s3.sh runs the same on radosgw.
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"

awss3() { env -u AWS_CA_BUNDLE aws --endpoint-url "$S3_ENDPOINT" s3api "$@"; }
object_size() {	# object_size KEY: its size in the store, as aws s3api sees it
	case $LITHFS_BACKEND in
	local) stat -c %s "$STORE_DIR/$1" 2>/dev/null ;;
	*) awss3 head-object --bucket "$BUCKET" --key "$1" --query ContentLength 2>/dev/null ;;
	esac
}
object_empty() { [ "$(object_size "$1")" = 0 ]; }

backend_setup io
M=$TMPDIR/mnt
O=(-o stat_ttl=1,neg_ttl=1,part_size=8M "${STORE_OPTS[@]}")
mount_start "$M" "$SOURCE" "${O[@]}"

md5() { md5sum | cut -d' ' -f1; }
same_as() {	# same_as KEY MODEL WHAT: mount file and object equal the model
	local want
	want=$(md5 <"$2")
	expect_eq "$(md5 <"$M/$1")" "$want" "$3: md5 through the mount"
	expect_eq "$(oob_get "$1" | md5)" "$want" "$3: md5 of the object"
	expect_eq "$(stat -c %s "$M/$1")" "$(stat -c %s "$2")" "$3: size"
}

# --- 200 MiB sequential: uploads while writing
head -c 200M /dev/urandom >"$TMPDIR/big" || fail "make big"
dd if="$TMPDIR/big" of="$M/big" bs=1M 2>"$TMPDIR/dd.err" &
DD=$!
seen=no
for _ in $(seq 1 600); do	# at most 60 s
	kill -0 $DD 2>/dev/null || break
	if [ "$(uploads_in_progress)" -gt 0 ]; then seen=yes; break; fi
	sleep 0.1
done
wait $DD || { cat "$TMPDIR/dd.err" >&2; fail "dd of 200 MiB failed"; }
expect_eq "$seen" yes "a multipart upload in progress while dd was writing"
same_as big "$TMPDIR/big" "200 MiB sequential"
expect_eq "$(uploads_in_progress)" 0 "uploads left after close"

# --- random writes into an existing 20 MiB object
head -c 20M /dev/urandom >"$TMPDIR/r"
cp "$TMPDIR/r" "$M/r" || fail "cp r"
same_as r "$TMPDIR/r" "20 MiB copy"
python3 - "$M/r" "$TMPDIR/r" <<'EOF' || fail "random writes"
import os, random, sys
random.seed(7)
fds = [os.open(p, os.O_RDWR) for p in sys.argv[1:3]]
for i in range(300):
    n = random.randint(1, 256 * 1024)
    off = random.randint(0, 22 * 1024 * 1024)	# some past the end: holes
    data = os.urandom(n)
    for fd in fds:
        if os.pwrite(fd, data, off) != n:
            sys.exit("short write")
for fd in fds:
    os.close(fd)
EOF
same_as r "$TMPDIR/r" "random writes"
printf 'XYZ' | dd of="$M/r" bs=1 seek=5000000 conv=notrunc 2>/dev/null || fail "dd notrunc"
printf 'XYZ' | dd of="$TMPDIR/r" bs=1 seek=5000000 conv=notrunc 2>/dev/null
same_as r "$TMPDIR/r" "dd conv=notrunc"

# --- truncate: shrink into the middle of a block, grow (zeros), shrink to 0
truncate -s 7340155 "$M/r" "$TMPDIR/r" || fail "truncate shrink"
same_as r "$TMPDIR/r" "truncate shrink"
truncate -s 30M "$M/r" "$TMPDIR/r" || fail "truncate grow"
same_as r "$TMPDIR/r" "truncate grow"
expect_eq "$(tail -c 1M "$M/r" | tr -d '\0' | wc -c)" 0 "grown part reads as zeros"
python3 -c "
import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDWR); os.ftruncate(fd, 1000); os.pwrite(fd, b'tail', 5000); os.close(fd)
" "$M/r" "$TMPDIR/r" || fail "ftruncate + write"
same_as r "$TMPDIR/r" "ftruncate then write past the end"
: >"$M/r" && : >"$TMPDIR/r"
wait_until 10 object_empty r	# published by release (see `prog > file` below)
same_as r "$TMPDIR/r" "truncate to 0"

# --- append to an existing object (multipart-sized and small)
cp "$TMPDIR/big" "$TMPDIR/log"
head -c 20M "$TMPDIR/big" >"$M/log" && head -c 20M "$TMPDIR/big" >"$TMPDIR/log"
printf 'line %s\n' $(seq 1 1000) >"$TMPDIR/lines"
cat "$TMPDIR/lines" >>"$M/log" && cat "$TMPDIR/lines" >>"$TMPDIR/log" || fail "append"
same_as log "$TMPDIR/log" "append to 20 MiB"
echo small >"$M/s" && echo more >>"$M/s" || fail "append small"
expect_eq "$(oob_get s)" "$(printf 'small\nmore')" "small append"

# --- `prog > file`: the old object stays until prog writes or exits (the shell's
# close of the fd it dup2s onto stdout publishes nothing)
printf 'old\n' >"$M/keep"
python3 -c 'import os, sys, time
for i in range(600):
    if os.path.exists(sys.argv[1]): break
    time.sleep(0.1)
print("new")' "$TMPDIR/go" >"$M/keep" &
P=$!
size_is() { [ "$(stat -c %s "$1")" = "$2" ]; }
wait_until 30 size_is "$M/keep" 0 || fail "open(O_TRUNC) not seen"
expect_eq "$(oob_get keep)" old "object while the redirected program has written nothing"
: >"$TMPDIR/go"
wait $P || fail "redirected program"
expect_eq "$(oob_get keep)" new "object after the redirected program exited"
# a truncation with no write after it is published by release, just after close
: >"$M/keep"
wait_until 10 object_empty keep || fail "object after a truncating redirection that writes nothing: $(object_size keep) bytes"

# --- fsync: visible in the store when it returns, before close
OBJECT_SIZE="$(declare -f awss3 object_size); object_size sync" \
	LITHFS_BACKEND=$LITHFS_BACKEND STORE_DIR=$STORE_DIR BUCKET=$BUCKET \
	python3 - "$M/sync" <<'EOF' || fail "fsync check"
import os, subprocess, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b'a' * (9 << 20))
os.fsync(fd)
size = subprocess.run(["bash", "-c", 'eval "$OBJECT_SIZE"'], capture_output=True,
                      text=True).stdout.strip()
if size != str(9 << 20):
    sys.exit("after fsync the object has size '%s', want %d" % (size, 9 << 20))
os.write(fd, b'b')
os.close(fd)
EOF
expect_eq "$(object_size sync)" $(( (9 << 20) + 1 )) "size after close"

# --- everything again from a fresh mount (no page cache, no staging)
mount_stop "$M"
mount_start "$M" "$SOURCE" "${O[@]}"
same_as big "$TMPDIR/big" "200 MiB after remount"
same_as log "$TMPDIR/log" "append after remount"
mount_stop "$M"
echo "mount-io-rw: ok"
