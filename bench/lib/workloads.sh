# bench/lib/workloads.sh - the measurements of bench/run, one function per workload.
# shellcheck shell=bash
# Each w_* function takes FS (lithfs | s3fs | rclone) and RUN (1, 2, ...), mounts what it
# needs with a fresh local cache unless it measures a warm one, records its numbers with
# record() (bench/lib/common.sh) and leaves nothing mounted. A step that fails records
# no number and leaves a note instead, so one broken peer does not stop the bench.
# Needs: BUCKET, BIGKEY (the SIZE-byte object), DATA (the same bytes in a local file),
# MANYDIR (the 10,000-key prefix, no trailing slash), RUN, FIO_SECS, FIO_JOBS.

mnt_of() { echo "$RUN/mnt/$1"; }
fresh_cache() {	# fresh_cache NAME: an empty cache directory
	rm -rf "$RUN/cache/$1"
	mkdir -p "$RUN/cache/$1"
	echo "$RUN/cache/$1"
}

# fresh_mount FS RUN TAG: mount FS with an empty cache; sets MNT and CACHE, or notes
# the failure and returns 1
fresh_mount() {
	MNT=$(mnt_of "$1")
	CACHE=$(fresh_cache "$1-$3")
	fs_mount "$1" "$MNT" "$CACHE" && return 0
	note "$1 run $2: mount failed ($3)"
	return 1
}

# timed_read METRIC FS RUN FILE: read FILE once, record MB/s (SIZE bytes expected)
timed_read() {
	local t0 t1 n
	t0=$(now)
	n=$(read_all "$4")
	t1=$(now)
	if [ "$n" != "$SIZE" ]; then
		note "$2 run $3 $1: read ${n:-nothing} bytes, want $SIZE"
		return 1
	fi
	record "$1" "$2" "$3" "$(mbps "$SIZE" "$t0" "$t1")"
}

# timed_ls METRIC FS RUN DIR N: `ls -l DIR` must show N files; record the seconds
timed_ls() {
	local t0 t1 n
	t0=$(now)
	n=$(timeout 600 ls -l "$4" | grep -c '^-')
	t1=$(now)
	if [ "$n" = "$5" ]; then
		record "$1" "$2" "$3" "$(secs "$t0" "$t1")"
	else
		note "$2 run $3 $1: ls -l showed $n files, want $5"
	fi
}

# umount_rss METRIC FS RUN MNT: unmount and record the daemon's peak RSS in MiB
umount_rss() {
	local kib
	kib=$(fs_umount "$4")
	record "$1" "$2" "$3" "$(awk -v k="${kib:-0}" 'BEGIN { printf "%.0f\n", k / 1024 }')"
}

# fio_iops FILE: random 4 KiB reads (O_DIRECT, so the page cache is not measured) for
# FIO_SECS seconds with FIO_JOBS synchronous readers; prints the total IOPS
fio_iops() {
	timeout $((FIO_SECS + 120)) fio --name=randread --filename="$1" --readonly \
		--rw=randread --bs=4k --ioengine=psync --direct=1 --numjobs="$FIO_JOBS" \
		--time_based --runtime="$FIO_SECS" --group_reporting \
		--output-format=json --output="$RUN/fio.json" >/dev/null 2>"$RUN/fio.err" || return 1
	python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
if j["error"]: sys.exit(1)
print(round(j["read"]["iops"]))' "$RUN/fio.json"
}

# timed_fio METRIC FS RUN FILE
timed_fio() {
	local iops
	if iops=$(fio_iops "$4"); then
		record "$1" "$2" "$3" "$iops"
	else
		note "$2 run $3 $1: fio failed: $(tail -n 3 "$RUN/fio.err" | tr '\n' ' ')"
	fi
}

# cached_pct METRIC RUN CACHE: record how much of the object lithfs's cache in CACHE
# holds (percent of SIZE; blocks the reader could not store in time are missing)
cached_pct() {
	local bytes
	[ -x "$LITHFS_BUILD/lithfs" ] || return 0
	bytes=$("$LITHFS_BUILD/lithfs" cache stats --dir "$3" --json 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["bytes"])') ||
		{ note "lithfs run $2 $1: no cache stats"; return 0; }
	record "$1" lithfs "$2" "$(awk -v b="$bytes" -v s="$SIZE" 'BEGIN { printf "%.1f\n", 100 * b / s }')"
}

# ---------------------------------------------------------------------- the limit
w_curl() {	# w_curl RUN: one GET, and 8 ranged GETs in parallel, of the big object
	local run=$1 t0 t1 part i pids=() bad=0
	t0=$(now)
	scurl -o /dev/null "$BUCKET/$BIGKEY" || bad=1
	t1=$(now)
	[ $bad = 0 ] && record seq_cold curl1 "$run" "$(mbps "$SIZE" "$t0" "$t1")"
	part=$(((SIZE + 7) / 8))
	t0=$(now)
	for i in 0 1 2 3 4 5 6 7; do
		scurl -o /dev/null -r "$((i * part))-$(((i + 1) * part - 1))" "$BUCKET/$BIGKEY" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || bad=1; done
	t1=$(now)
	[ $bad = 0 ] && record seq_cold curl8 "$run" "$(mbps "$SIZE" "$t0" "$t1")"
	[ $bad = 0 ] || note "curl run $run: a GET failed"
}

# ------------------------------------------------- (a)(b) sequential, cold and warm
w_seq() {
	local fs=$1 run=$2 mnt cache
	fresh_mount "$fs" "$run" seq || return
	mnt=$MNT cache=$CACHE
	timed_read seq_cold "$fs" "$run" "$mnt/$BIGKEY"
	timed_read seq_warm "$fs" "$run" "$mnt/$BIGKEY"
	umount_rss rss_seq "$fs" "$run" "$mnt"
	[ "$fs" = lithfs ] && cached_pct seq_cached "$run" "$cache"
	fs_mount "$fs" "$mnt" "$cache" || { note "$fs run $run: remount failed"; return; }
	timed_read seq_remount "$fs" "$run" "$mnt/$BIGKEY"
	if [ "$run" = 1 ] && ! cmp -s "$mnt/$BIGKEY" "$DATA"; then
		note "$fs: the file read through the mount differs from the data written"
	fi
	# (c) warm random reads: lithfs's cache now holds the whole file
	[ "$fs" = lithfs ] && timed_fio rand_warm "$fs" "$run" "$mnt/$BIGKEY"
	umount_rss rss_remount "$fs" "$run" "$mnt"
	rm -rf "$cache"
}

# ------------------------------------------------------------- (c) cold random reads
w_rand() {
	local fs=$1 run=$2 mnt cache
	fresh_mount "$fs" "$run" rand || return
	mnt=$MNT cache=$CACHE
	timed_fio rand_cold "$fs" "$run" "$mnt/$BIGKEY"
	umount_rss rss_rand "$fs" "$run" "$mnt"
	[ "$fs" = lithfs ] && cached_pct rand_cached "$run" "$cache"
	rm -rf "$cache"
}

# ---------------------------------------------------------- (d) sequential write
# The time runs from open until the object is complete in S3: close for lithfs and
# s3fs (they upload before close returns), later for rclone (it uploads in the
# background), which is also recorded as write_close.
w_write() {
	local fs=$1 run=$2 mnt cache key t0 t1 t2
	key=w-$fs-$run.bin
	if [ "$fs" = awscli ]; then
		t0=$(now)
		timeout 600 env -u AWS_CA_BUNDLE aws --endpoint-url "$S3_ENDPOINT" s3 cp \
			--only-show-errors "$DATA" "s3://$BUCKET/$key" >"$RUN/log/aws.log" 2>&1 ||
			{ note "aws s3 cp run $run failed: $(tail -n 2 "$RUN/log/aws.log")"; return; }
		t1=$(now)
		record write awscli "$run" "$(mbps "$SIZE" "$t0" "$t1")"
		s3py rm-prefix "$BUCKET" "$key"
		return
	fi
	fresh_mount "$fs" "$run" write || return
	mnt=$MNT cache=$CACHE
	t0=$(now)
	if ! timeout 600 dd if="$DATA" of="$mnt/$key" bs=1M 2>"$RUN/dd.err"; then
		note "$fs run $run: write failed: $(tail -n 1 "$RUN/dd.err")"
	else
		t1=$(now)
		if wait_s3 "$SIZE" 600 size "$BUCKET" "$key"; then
			t2=$(now)
			record write "$fs" "$run" "$(mbps "$SIZE" "$t0" "$t2")"
			record write_close "$fs" "$run" "$(mbps "$SIZE" "$t0" "$t1")"
		else
			note "$fs run $run: $key never reached $SIZE bytes in S3"
		fi
	fi
	umount_rss rss_write "$fs" "$run" "$mnt"
	s3py rm-prefix "$BUCKET" "$key"
	rm -rf "$cache"
}

# ------------------------------------------------------- (e) 1,000 files of 4 KiB
w_small() {
	local fs=$1 run=$2 mnt cache dir t0 t1 n
	dir=small-$fs-$run
	fresh_mount "$fs" "$run" small || return
	mnt=$MNT cache=$CACHE
	t0=$(now)
	if mkdir "$mnt/$dir" && timeout 600 python3 - "$mnt/$dir" 1000 4096 <<-'EOF'
		import os, sys
		d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
		data = os.urandom(size)
		for i in range(n):
		    with open(os.path.join(d, "f%04d" % i), "wb") as f:
		        f.write(data)
		EOF
	then
		# rclone uploads in the background: the files count once they are in S3
		if wait_s3 1000 600 count "$BUCKET" "$dir/f"; then
			t1=$(now)
			record small_create "$fs" "$run" "$(secs "$t0" "$t1")"
		else
			note "$fs run $run: the 1000 files did not all reach S3"
		fi
	else
		note "$fs run $run: creating the small files failed"
	fi
	umount_rss rss_small "$fs" "$run" "$mnt"
	cache=$(fresh_cache "$fs-small")
	fs_mount "$fs" "$mnt" "$cache" || { note "$fs run $run: remount failed (small)"; return; }
	timed_ls small_ls "$fs" "$run" "$mnt/$dir" 1000
	t0=$(now)
	n=$(timeout 600 cat "$mnt/$dir"/f* | wc -c)
	t1=$(now)
	if [ "$n" = 4096000 ]; then
		record small_read "$fs" "$run" "$(secs "$t0" "$t1")"
	else
		note "$fs run $run: reading the small files gave $n bytes, want 4096000"
	fi
	fs_umount "$mnt" >/dev/null
	s3py rm-prefix "$BUCKET" "$dir"
	rm -rf "$cache"
}

# ------------------------------------------- (f) ls -l of 10,000 keys made out of band
w_ls10k() {
	local fs=$1 run=$2 mnt cache
	fresh_mount "$fs" "$run" ls || return
	mnt=$MNT cache=$CACHE
	timed_ls ls10k "$fs" "$run" "$mnt/$MANYDIR" 10000
	umount_rss rss_ls10k "$fs" "$run" "$mnt"
	rm -rf "$cache"
}

# --------------------------------------- (g) two processes read the same file at once
w_two() {
	local fs=$1 run=$2 mnt cache t0 t1 a b
	fresh_mount "$fs" "$run" two || return
	mnt=$MNT cache=$CACHE
	t0=$(now)
	read_all "$mnt/$BIGKEY" >"$RUN/two.1" &
	a=$!
	read_all "$mnt/$BIGKEY" >"$RUN/two.2" &
	b=$!
	wait "$a"
	wait "$b"
	t1=$(now)
	if [ "$(cat "$RUN/two.1")" = "$SIZE" ] && [ "$(cat "$RUN/two.2")" = "$SIZE" ]; then
		record two_readers "$fs" "$run" "$(mbps "$SIZE" "$t0" "$t1")"
	else
		note "$fs run $run: two readers read $(cat "$RUN/two.1") and $(cat "$RUN/two.2") bytes"
	fi
	umount_rss rss_two "$fs" "$run" "$mnt"
	rm -rf "$cache"
}
