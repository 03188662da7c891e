# bench/lib/common.sh - logging, timing, the results file and S3 access of bench/run.
# shellcheck shell=bash
# Sourced by bench/run (bash, set -u). Needs: RUN (work dir), BENCH_LIB, S3_ENDPOINT,
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, BUCKET.
#
# Results are lines "METRIC WHO RUN VALUE" appended to $RUN/results.tsv as each
# measurement ends, so a run cut short still leaves everything measured so far;
# bench/lib/report.py turns the file into the table (medians over the runs).

now() { date +%s.%N; }
log() { printf '[bench %4ds] %s\n' "$SECONDS" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# record METRIC WHO RUN VALUE
record() {
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RUN/results.tsv"
	log "  $1 $2 run $3: $4"
}
# note TEXT: a line for the report's notes (failures, skipped parts)
note() {
	printf 'note\t-\t-\t%s\n' "$*" >>"$RUN/results.tsv"
	log "NOTE: $*"
}

# secs T0 T1 / mbps BYTES T0 T1 (MB = 10^6 bytes, as curl, fio and dd report)
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }
mbps() { awk -v s="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f\n", s / (b - a) / 1e6 }'; }

s3py() { timeout 900 python3 "$BENCH_LIB/s3.py" "$@"; }

# scurl [CURL ARGS...] URL-PATH: a request signed by curl itself (the raw baseline)
scurl() {
	local path=${*: -1}
	timeout 600 curl -s -f -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
		--aws-sigv4 "aws:amz:$AWS_DEFAULT_REGION:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "${@:1:$#-1}" \
		"$S3_ENDPOINT/$path"
}

# read_all FILE...: read every FILE to /dev/null (1 MiB reads); prints the bytes read
read_all() {
	local f n total=0
	for f in "$@"; do
		n=$(dd if="$f" of=/dev/null bs=1M 2>&1 | awk '/bytes/ { print $1 }')
		[ -n "$n" ] || return 1
		total=$((total + n))
	done
	echo "$total"
}

# wait_s3 WANT SECS S3PY-ARGS...: wait until `s3.py S3PY-ARGS` prints WANT, e.g.
#   wait_s3 1048576 600 size BUCKET KEY     (KEY is complete in S3)
#   wait_s3 1000 600 count BUCKET PREFIX    (1000 keys under PREFIX)
wait_s3() {
	local want=$1 end=$((SECONDS + $2))
	shift 2
	until [ "$(s3py "$@" 2>/dev/null)" = "$want" ]; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}
