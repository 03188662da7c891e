# bench/lib/mounts.sh - start and stop the three file systems the same way.
# shellcheck shell=bash
#
#   fs_mount FS MNT CACHE   start FS (lithfs | s3fs | rclone) in the foreground on MNT
#                           (in the background of this shell), its local cache in CACHE
#                           (a directory: kept across a remount that passes the same
#                           one, so "warm after remount" reuses it); waits up to 30 s
#                           for the mount; returns 1 (and logs) if it did not come up.
#   fs_umount MNT           prints the daemon's peak RSS in KiB (VmHWM, read just before
#                           the unmount), unmounts with fusermount3 -u and waits up to
#                           120 s for the daemon to exit (SIGKILL after that, by PID).
#   fs_cleanup              unmount (lazily) and kill, by PID, every daemon still running.
#
# How each is configured (what a user would do; see bench/README.md):
#   lithfs  mount.lithfs -f -o endpoint=URL,path_style,cache_dir=CACHE s3://BUCKET MNT
#           with every tuning option at its default; LITHFS_OPTS adds options (tuned runs).
#   s3fs    s3fs BUCKET MNT -f -o passwd_file=F (0600),url=URL,use_path_request_style
#           no use_cache: s3fs's default, it keeps no data between opens or mounts.
#   rclone  env -u AWS_CA_BUNDLE rclone mount bench:BUCKET MNT --vfs-cache-mode full
#           --cache-dir CACHE, remote "bench" of type s3, provider Ceph, from RCLONE_CONFIG_BENCH_*
#           ("full": the mode rclone's documentation recommends for applications that
#           read and write like on a local disk; it caches file data on disk and keeps it
#           across remounts, and uploads written files in the background after
#           --vfs-write-back, 5 s by default).

declare -A FS_PID=() FS_TYPE=()
FS_LOGN=0

mounted() {	# mounted MNT: a FUSE file system is mounted on MNT
	awk -v m="$1" '$5 == m && $0 ~ / - fuse/ { f = 1 } END { exit !f }' /proc/self/mountinfo
}

fs_mount() {	# fs_mount FS MNT CACHE
	local fs=$1 mnt=$2 cache=$3 log pid end
	mkdir -p "$mnt" "$cache"
	FS_LOGN=$((FS_LOGN + 1))
	log=$RUN/log/$fs-$FS_LOGN.log
	case $fs in
	lithfs)
		# shellcheck disable=SC2086
		"$LITHFS_BUILD/mount.lithfs" -f -o "endpoint=$S3_ENDPOINT,path_style,cache_dir=$cache" \
			${LITHFS_OPTS:+-o "$LITHFS_OPTS"} "s3://$BUCKET" "$mnt" >"$log" 2>&1 &
		;;
	s3fs)
		s3fs "$BUCKET" "$mnt" -f -o "passwd_file=$RUN/s3fs.passwd,url=$S3_ENDPOINT" \
			-o use_path_request_style -o dbglevel=warn >"$log" 2>&1 &
		;;
	rclone)
		env -u AWS_CA_BUNDLE RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Ceph \
			RCLONE_CONFIG_BENCH_ENDPOINT="$S3_ENDPOINT" \
			RCLONE_CONFIG_BENCH_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" \
			RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" \
			RCLONE_CONFIG_BENCH_REGION="$AWS_DEFAULT_REGION" \
			rclone --config "$RUN/rclone.conf" mount "bench:$BUCKET" "$mnt" \
			--vfs-cache-mode full --cache-dir "$cache" >"$log" 2>&1 &
		;;
	*) die "fs_mount: unknown file system $fs" ;;
	esac
	pid=$!
	FS_PID[$mnt]=$pid
	FS_TYPE[$mnt]=$fs
	end=$((SECONDS + 30))
	until mounted "$mnt"; do
		if ! kill -0 "$pid" 2>/dev/null || [ $SECONDS -ge $end ]; then
			log "$fs did not mount on $mnt; its log:"
			tail -n 20 "$log" >&2
			kill "$pid" 2>/dev/null
			unset "FS_PID[$mnt]"
			return 1
		fi
		sleep 0.05
	done
}

fs_umount() {	# fs_umount MNT: prints the daemon's VmHWM in KiB
	local mnt=$1 pid=${FS_PID[$1]:-} end
	[ -n "$pid" ] || return 1
	awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0
	end=$((SECONDS + 30))
	until fusermount3 -u "$mnt" 2>/dev/null; do
		[ $SECONDS -lt $end ] || { fusermount3 -uz "$mnt"; break; }
		sleep 0.3
	done
	end=$((SECONDS + 120))
	while kill -0 "$pid" 2>/dev/null; do
		if [ $SECONDS -ge $end ]; then
			log "${FS_TYPE[$mnt]} (pid $pid) still running 120 s after the unmount: SIGKILL"
			kill -9 "$pid"
			break
		fi
		sleep 0.05
	done
	wait "$pid" 2>/dev/null
	unset "FS_PID[$mnt]"
}

fs_cleanup() {
	local mnt
	for mnt in "${!FS_PID[@]}"; do
		fusermount3 -uz "$mnt" 2>/dev/null
		kill "${FS_PID[$mnt]}" 2>/dev/null
		wait "${FS_PID[$mnt]}" 2>/dev/null
	done
}
