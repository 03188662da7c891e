# tests/lib/mount.sh - shared helpers of the mount tests (tests/integ/mount-*.sh).
# Source it from a bash test (set -u):  . "$LITHFS_SRC/tests/lib/mount.sh"
#
# Mounts
#   mount_start MNT SOURCE [ARGS...]  start `mount.lithfs -f SOURCE MNT ARGS...` in the
#                     background (log in $TMPDIR/mount-N.log, cache_dir in $TMPDIR unless
#                     ARGS give one), wait up to MOUNT_TIMEOUT s (20) until MNT is a
#                     fuse.lithfs mount; fail if the daemon exits first.
#   mount_stop MNT [EXPECTED]   fusermount3 -u (retried while busy, 15 s), wait up to 60 s
#                     for the daemon, fail unless it exited 0 and its log has no error
#                     line and no sanitizer report, leaving out lines that match the
#                     extended regex EXPECTED (errors the test caused on purpose).
#   mount_check_log LOG   the same log check (used by mount_stop).
#   An EXIT trap unmounts and kills (by PID) whatever is still running and deletes the
#   bucket made by backend_setup.
# Backends: the same test body runs on the local store and on radosgw.
#   backend_setup NAME   LITHFS_BACKEND=local (default): a store directory in $TMPDIR,
#                     SOURCE=file://...; LITHFS_BACKEND=s3: a new bucket
#                     lithfs-NAME-PID-TIME on $S3_ENDPOINT (exit 77 without one),
#                     SOURCE=s3://BUCKET, STORE_OPTS="-o endpoint=...,path_style".
#   oob_put KEY FILE [HEADER...]   write an object behind the mount's back
#   oob_get KEY       print an object's content
#   oob_meta KEY NAME print the x-amz-meta-NAME of KEY ("" if absent)
#   oob_exists KEY    status 0 iff KEY exists
#   uploads_in_progress   how many multipart uploads are started and not completed or
#                     aborted in the store (ListMultipartUploads; the local store's
#                     .lithfs-mpu directory)
#   oob_rm KEY        delete an object
#   oob_put_many PREFIX N   keys PREFIX00001..PREFIX<N>, each holding its own key
# Assertions
#   fail MSG          print "FAIL: MSG" and exit 1 (the trap cleans up)
#   expect_eq GOT WANT WHAT
#   expect_errno ERRNO-TEXT WHAT CMD...   CMD must fail with that strerror text
#   wait_until SECONDS CMD...   retry CMD every 0.2 s until it succeeds

MOUNT_BIN=${LITHFS_BUILD:?LITHFS_BUILD must name the build directory}/mount.lithfs
MOUNT_TIMEOUT=${MOUNT_TIMEOUT:-20}
: "${TMPDIR:=/tmp}"
declare -A MOUNT_PID=() MOUNT_LOG=()
MOUNT_N=0
LITHFS_BACKEND=${LITHFS_BACKEND:-local}
BUCKET=
SOURCE=
STORE_OPTS=()
STORE_DIR=

fail() { echo "FAIL: $*" >&2; exit 1; }

expect_eq() {
	[ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"
}

expect_errno() {	# expect_errno TEXT WHAT CMD...
	local text=$1 what=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		fail "$what: succeeded, want '$text'"
	fi
	grep -q -- "$text" <<<"$out" || fail "$what: got '$out', want '$text'"
}

wait_until() {		# wait_until SECONDS CMD...
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.2
	done
}

is_mounted() {
	awk -v m="$1" '$5 == m && $0 ~ / - fuse\.lithfs / { f = 1 } END { exit !f }' \
		/proc/self/mountinfo
}

mount_check_log() {
	local log=$1
	if grep -Eq '(^|: )error: |^fuse: |AddressSanitizer|LeakSanitizer|runtime error:|ThreadSanitizer' "$log"; then
		echo "--- $log" >&2
		tail -n 30 "$log" >&2
		return 1
	fi
	return 0
}

mount_start() {		# mount_start MNT SOURCE [ARGS...]
	local mnt=$1 src=$2 pid log end
	shift 2
	mkdir -p "$mnt"
	MOUNT_N=$((MOUNT_N + 1))
	log=$TMPDIR/mount-$MOUNT_N.log
	"$MOUNT_BIN" -f -o "cache_dir=$TMPDIR/cache" "$src" "$mnt" "$@" >"$log" 2>&1 &
	pid=$!
	MOUNT_PID[$mnt]=$pid
	MOUNT_LOG[$mnt]=$log
	end=$((SECONDS + MOUNT_TIMEOUT))
	until is_mounted "$mnt"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			echo "--- $log" >&2
			cat "$log" >&2
			unset "MOUNT_PID[$mnt]"
			fail "mount.lithfs exited ($?) before $mnt was mounted"
		fi
		[ $SECONDS -lt $end ] || fail "$mnt not mounted after $MOUNT_TIMEOUT s"
		sleep 0.1
	done
}

mount_stop() {		# mount_stop MNT [EXPECTED]
	local mnt=$1 expected=${2:-} pid=${MOUNT_PID[$1]:-} log=${MOUNT_LOG[$1]:-} rc end
	[ -n "$pid" ] || fail "mount_stop $mnt: not started here"
	end=$((SECONDS + 15))
	until fusermount3 -u "$mnt" 2>/dev/null; do
		[ $SECONDS -lt $end ] || { fusermount3 -u "$mnt"; fail "cannot unmount $mnt"; }
		sleep 0.3
	done
	end=$((SECONDS + 60))
	while kill -0 "$pid" 2>/dev/null; do
		[ $SECONDS -lt $end ] || { kill -9 "$pid"; fail "daemon of $mnt still running 60 s after unmount"; }
		sleep 0.1
	done
	wait "$pid"
	rc=$?
	unset "MOUNT_PID[$mnt]"
	[ $rc -eq 0 ] || { tail -n 30 "$log" >&2; fail "mount.lithfs exited $rc"; }
	if [ -n "$expected" ]; then	# errors the test caused on purpose
		grep -Ev -- "$expected" "$log" >"$log.rest"
		log=$log.rest
	fi
	mount_check_log "$log" || fail "errors in the daemon's log"
}

mount_cleanup() {
	local mnt
	for mnt in "${!MOUNT_PID[@]}"; do
		fusermount3 -uz "$mnt" 2>/dev/null
		kill "${MOUNT_PID[$mnt]}" 2>/dev/null
		wait "${MOUNT_PID[$mnt]}" 2>/dev/null
	done
	backend_teardown
}
trap mount_cleanup EXIT

# --------------------------------------------------------------------- backends

# s3req METHOD KEY [curl args]: a signed request on the bucket; body in $TMPDIR/s3resp,
# prints the HTTP status.
s3req() {
	local method=$1 key=$2
	shift 2
	curl -s --path-as-is -o "$TMPDIR/s3resp" -D "$TMPDIR/s3hdr" -w '%{http_code}' -m 60 -X "$method" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
		--aws-sigv4 "aws:amz:${AWS_DEFAULT_REGION:-us-east-1}:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		"$@" "$S3_ENDPOINT/$BUCKET/$key"
}

backend_setup() {	# backend_setup NAME
	case $LITHFS_BACKEND in
	local)
		STORE_DIR=$TMPDIR/store/$1
		mkdir -p "$STORE_DIR"
		SOURCE=file://$STORE_DIR
		STORE_OPTS=()
		;;
	s3)
		[ -n "${S3_ENDPOINT:-}" ] || { echo "no S3_ENDPOINT: skipped"; exit 77; }
		BUCKET=lithfs-$1-$$-$(date +%s)
		[ "$(s3req PUT "")" = 200 ] || fail "cannot create bucket $BUCKET"
		SOURCE=s3://$BUCKET
		STORE_OPTS=(-o "endpoint=$S3_ENDPOINT,path_style")
		;;
	*) fail "LITHFS_BACKEND must be local or s3" ;;
	esac
}

backend_teardown() {	# DeleteObjects, 1000 keys a request, then the bucket
	local i=0 md5
	[ "$LITHFS_BACKEND" = s3 ] && [ -n "$BUCKET" ] || return 0
	while [ $i -lt 100 ]; do	# at most 100 pages of 1000 keys
		i=$((i + 1))
		[ "$(s3req GET "" --get --data-urlencode 'list-type=2')" = 200 ] || break
		grep -q '<Key>' "$TMPDIR/s3resp" || break
		{
			echo '<Delete><Quiet>true</Quiet>'
			grep -o '<Key>[^<]*</Key>' "$TMPDIR/s3resp" | sed 's|.*|<Object>&</Object>|'
			echo '</Delete>'
		} >"$TMPDIR/s3delete"	# keys stay XML-escaped as listed
		md5=$(openssl md5 -binary "$TMPDIR/s3delete" | base64)
		[ "$(s3req POST "?delete=" --data-binary "@$TMPDIR/s3delete" \
			-H "Content-MD5: $md5" -H 'Content-Type: application/xml')" = 200 ] || break
	done
	s3req DELETE "" >/dev/null
	BUCKET=
}

url_path() {	# percent-encodes a key, keeping '/'
	local s=$1 out= c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[a-zA-Z0-9._~/-]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s' "$out"
}

oob_put() {		# oob_put KEY FILE [HEADER...]
	local key=$1 file=$2 h args=()
	shift 2
	if [ "$LITHFS_BACKEND" = local ]; then
		mkdir -p "$(dirname "$STORE_DIR/$key")"
		cp "$file" "$STORE_DIR/$key"
		return
	fi
	for h in "$@"; do args+=(-H "$h"); done
	[ "$(s3req PUT "$(url_path "$key")" --data-binary "@$file" "${args[@]}")" = 200 ] ||
		fail "oob_put $key"
}

oob_get() {
	if [ "$LITHFS_BACKEND" = local ]; then
		cat "$STORE_DIR/$1"
		return
	fi
	[ "$(s3req GET "$(url_path "$1")")" = 200 ] || return 1
	cat "$TMPDIR/s3resp"
}

oob_exists() {
	if [ "$LITHFS_BACKEND" = local ]; then
		[ -e "$STORE_DIR/$1" ]
		return
	fi
	[ "$(s3req HEAD "$(url_path "$1")" -I)" = 200 ]
}

uploads_in_progress() {
	case $LITHFS_BACKEND in
	local) find "$STORE_DIR/.lithfs-mpu" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l ;;
	*) [ "$(s3req GET "" --get --data-urlencode uploads=)" = 200 ] || fail "list uploads"
		grep -o '<Upload>' "$TMPDIR/s3resp" | wc -l ;;
	esac
}

oob_meta() {		# oob_meta KEY NAME
	if [ "$LITHFS_BACKEND" = local ]; then
		getfattr --only-values -n "user.lithfs.meta.$2" "$STORE_DIR/${1%/}" 2>/dev/null
		return 0
	fi
	s3req HEAD "$(url_path "$1")" -I >/dev/null
	tr -d '\r' <"$TMPDIR/s3hdr" | awk -v h="x-amz-meta-$2:" 'tolower($1) == h { print $2 }'
}

oob_rm() {
	if [ "$LITHFS_BACKEND" = local ]; then
		rm -f "$STORE_DIR/$1"
		return
	fi
	s3req DELETE "$(url_path "$1")" >/dev/null
}

oob_put_many() {	# oob_put_many PREFIX N: keys PREFIX00001..N, content = key
	local prefix=$1 n=$2 i k
	if [ "$LITHFS_BACKEND" = local ]; then
		mkdir -p "$(dirname "$STORE_DIR/${prefix}x")"
		for ((i = 1; i <= n; i++)); do
			printf -v k '%s%05d' "$prefix" $i	# no subshell: 2,500 keys in seconds
			printf '%s' "$k" >"$STORE_DIR/$k"
		done
		return
	fi
	seq -f "$prefix%05g" 1 "$n" | timeout 600 xargs -d "\n" -P 16 -I{} curl -s -f -o /dev/null -m 60 \
		-X PUT --data-binary {} -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
		--aws-sigv4 "aws:amz:${AWS_DEFAULT_REGION:-us-east-1}:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$S3_ENDPOINT/$BUCKET/{}" ||
		fail "oob_put_many $prefix $n"
}
