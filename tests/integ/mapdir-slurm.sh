#!/bin/bash
# mapdir-slurm.sh - mapdir --backend slurm on the harness's single-node Slurm
# with radosgw as the store (77 without SLURM_CONF or S3_ENDPOINT).
# Checks: outputs byte-identical to --backend local (whole files and chunks,
# several shards, --stage); a failing task is resubmitted with --retries and
# fails without; --halt-on-error cancels the array; SIGINT to the coordinator
# leaves no job in squeue and no partial output, and --resume runs only the rest.
set -u

BUILD=${LITHFS_BUILD:?set LITHFS_BUILD}
MAPDIR=$BUILD/mapdir
[ -x "$MAPDIR" ] || { echo "FAIL: $MAPDIR not built"; exit 1; }
[ -n "${SLURM_CONF:-}" ] || { echo "SKIP: no SLURM_CONF (tests/start-slurm.sh)"; exit 77; }
[ -n "${S3_ENDPOINT:-}" ] || { echo "SKIP: no S3_ENDPOINT (tests/start-rgw.sh)"; exit 77; }
export AWS_ENDPOINT_URL=$S3_ENDPOINT
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mapdir-slurm.XXXXXX")
export XDG_CACHE_HOME=$WORK/cache
BUCKET=mapdir-slurm-$$-$(date +%s)
s3() { env -u AWS_CA_BUNDLE aws --endpoint-url "$S3_ENDPOINT" s3 "$@"; }
s3 mb "s3://$BUCKET" >/dev/null || { echo "FAIL: cannot create bucket $BUCKET"; exit 1; }
trap 's3 rb --force "s3://$BUCKET" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
url() { echo "s3://$BUCKET/$1"; }
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
T0=$(date +%s.%N)
el() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
md() {	# NAME ARGS...: run mapdir with a time bound, status in $?
	local name=$1
	shift
	timeout 150 "$MAPDIR" --no-progress -v "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
}
# outputs PREFIX: fetch the objects below PREFIX into $WORK/got/PREFIX with
# mapdir itself (the aws CLI takes seconds per call on a busy CI machine) and
# list the user outputs (not .mapdir/), sorted
outputs() {
	local dir=$WORK/got/$1
	rm -rf "$dir"
	timeout 60 "$MAPDIR" --no-progress -q -j 4 --log-dir "$WORK/got-logs" -c cat \
		"$(url "$1")" "$dir" >/dev/null 2>&1
	(cd "$dir" 2>/dev/null && find . -path ./.mapdir -prune -o -type f -print | sed 's|^\./||' | sort)
}
# check_outputs PREFIX CMD: every output below PREFIX is CMD <in2/NAME
check_outputs() {
	local f
	while read -r f; do
		sh -c "$2" <"$D2/$f" | cmp -s - "$WORK/got/$1/$f" || fail "$1: wrong or partial output $f"
	done <"$WORK/$1.list"
}
job_of() { sed -n 's/.*submitted job array \([0-9]*\):.*/\1/p' "$WORK/$1.err" | tail -1; }

D=$WORK/up/in
mkdir -p "$D/sub dir"
for i in $(seq 1 24); do seq 1 $((i * 300)) >"$D/f$i.txt"; done
awk 'BEGIN { for (i = 0; i < 60000; i++) print i, "line", i * 7 }' >"$D/sub dir/big.log"
printf 'no newline' >"$D/sub dir/tail"
: >"$D/empty"
D2=$WORK/up/in2		# small inputs for the slower scenarios
mkdir -p "$D2"
for i in $(seq 1 8); do seq -f "line %g" 1 $((i * 50)) >"$D2/f$i"; done
s3 cp --recursive --quiet "$WORK/up" "s3://$BUCKET/" || { echo "FAIL: upload"; exit 1; }

# ---- byte-identical to the local backend ----
md local --chunk-size 200K -c 'md5sum; wc -l' "$(url in)" "$(url local)" || fail "local run"
md sl --backend slurm --tasks-per-job 8 --chunk-size 200K -c 'md5sum; wc -l' \
	"$(url in)" "$(url sl)" || fail "slurm run: $(tail -3 "$WORK/sl.err")"
outputs local >"$WORK/local.list"
outputs sl >"$WORK/sl.list"
[ "$(wc -l <"$WORK/local.list")" -ge 30 ] || fail "too few outputs: $(wc -l <"$WORK/local.list")"
cmp -s "$WORK/local.list" "$WORK/sl.list" ||
	fail "--backend slurm vs local: $(diff "$WORK/local.list" "$WORK/sl.list" | head -3)"
diff -r -x .mapdir "$WORK/got/local" "$WORK/got/sl" >/dev/null ||
	fail "--backend slurm vs local: $(diff -rq -x .mapdir "$WORK/got/local" "$WORK/got/sl" | head -3)"
grep -q 'submitted job array [0-9]*: 4 elements for 3[0-9] tasks' "$WORK/sl.err" ||
	fail "shards: $(grep submitted "$WORK/sl.err")"
grep -q '^mapdir: 3[0-9] tasks: 3[0-9] ok, 0 failed' "$WORK/sl.err" ||
	fail "summary: $(grep tasks: "$WORK/sl.err")"
echo "identical outputs: $(el) s"

# ---- --stage: the program travels through the bucket ----
mkdir -p "$WORK/bin"
printf '#!/bin/sh\nexec tr a-z A-Z\n' >"$WORK/bin/upper"
chmod 0755 "$WORK/bin/upper"
md stage --backend slurm --stage "$WORK/bin/upper" "$(url in2)" "$(url stage)" ||
	fail "--stage: $(tail -2 "$WORK/stage.err")"
outputs stage >"$WORK/stage.list"
[ "$(wc -l <"$WORK/stage.list")" = 8 ] || fail "--stage: $(wc -l <"$WORK/stage.list") outputs"
check_outputs stage 'tr a-z A-Z'

# ---- a failing task: resubmitted with --retries, failed without ----
mkdir -p "$WORK/marks"
FLAKY="m=$WORK/marks/\$MAPDIR_TASK_ID; case \$MAPDIR_INPUT in *f3|*f7) [ -e \$m ] || { touch \$m; echo boom >&2; exit 3; };; esac; wc -c"
md retry --backend slurm --tasks-per-job 4 --retries 2 -c "$FLAKY" "$(url in2)" "$(url retry)" ||
	fail "retried run: $(tail -3 "$WORK/retry.err")"
grep -q ' 2 retried' "$WORK/retry.err" || fail "retries: $(grep tasks: "$WORK/retry.err")"
grep -q 'submitted job array [0-9]*: 1 elements for 2 tasks' "$WORK/retry.err" ||
	fail "the retry round: $(grep submitted "$WORK/retry.err" | tr '\n' ' ')"
outputs retry >"$WORK/retry.list"
[ "$(wc -l <"$WORK/retry.list")" = 8 ] || fail "retried run: $(wc -l <"$WORK/retry.list") outputs"
check_outputs retry 'wc -c'
rm -f "$WORK"/marks/*
md noretry --backend slurm -c "$FLAKY" "$(url in2)" "$(url noretry)"
[ $? = 1 ] || fail "a failed task must exit 1"
grep -q 'boom' "$WORK/noretry.err" || fail "the failed task's stderr is not reported"
outputs noretry >"$WORK/noretry.list"
[ "$(tr '\n' ' ' <"$WORK/noretry.list")" = "f1 f2 f4 f5 f6 f8 " ] ||
	fail "without --retries: $(tr '\n' ' ' <"$WORK/noretry.list")"
echo "retries: $(el) s"

# ---- --halt-on-error scancels the array ----
md halt --backend slurm --tasks-per-job 1 --max-running 1 --halt-on-error \
	-c 'case $MAPDIR_INPUT in *f1) exit 5;; esac; sleep 1; wc -c' "$(url in2)" "$(url halt)"
[ $? = 1 ] || fail "--halt-on-error: exit status"
J=$(job_of halt)
[ -n "$J" ] && [ -z "$(squeue -h -j "$J" 2>/dev/null)" ] || fail "--halt-on-error: job $J still queued"
outputs halt >"$WORK/halt.list"
[ "$(wc -l <"$WORK/halt.list")" -lt 7 ] || fail "--halt-on-error ran everything"
echo "halt: $(el) s"

# ---- SIGINT: no job left, no partial output; --resume finishes ----
SLOW="sleep 1; md5sum; touch $WORK/marks/slow.\$MAPDIR_TASK_ID"
rm -f "$WORK"/marks/*
"$MAPDIR" --no-progress -v --backend slurm --tasks-per-job 1 --max-running 2 -c "$SLOW" \
	"$(url in2)" "$(url int)" >"$WORK/int.out" 2>"$WORK/int.err" &
pid=$!
for _ in $(seq 1 120); do	# until some outputs exist (at most 60 s)
	[ "$(ls "$WORK/marks" | wc -l)" -ge 2 ] && break
	sleep 0.5
done
kill -INT "$pid"
for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
kill -0 "$pid" 2>/dev/null && { fail "coordinator still running 60 s after SIGINT"; kill -9 "$pid"; }
wait "$pid"
[ $? = 130 ] || fail "SIGINT: exit status"
J=$(job_of int)
[ -n "$J" ] && [ -z "$(squeue -h -j "$J" 2>/dev/null)" ] || fail "SIGINT: job $J still in squeue"
outputs int >"$WORK/int.list"
n_int=$(wc -l <"$WORK/int.list")
[ "$n_int" -lt 8 ] || fail "SIGINT came too late to test anything ($n_int outputs)"
check_outputs int md5sum
md resume --backend slurm --tasks-per-job 8 --resume -c "$SLOW" "$(url in2)" "$(url int)" ||
	fail "--resume: $(tail -3 "$WORK/resume.err")"
outputs int >"$WORK/int.list"
[ "$(wc -l <"$WORK/int.list")" = 8 ] || fail "after --resume: $(wc -l <"$WORK/int.list") outputs"
check_outputs int md5sum
ran=$(sed -n 's/.*elements for \([0-9]*\) tasks.*/\1/p' "$WORK/resume.err")
[ -n "$ran" ] && [ "$ran" -lt 8 ] && [ "$ran" -ge $((8 - n_int)) ] ||
	fail "--resume ran $ran tasks ($n_int were done)"
echo "interrupt + resume: $(el) s"
# ---- refused before anything runs ----
md badout --backend slurm wc -l "$(url in)" "$WORK/localout"
[ $? = 2 ] || fail "a local OUT must be refused"
grep -q 'object store' "$WORK/badout.err" || fail "message for a local OUT"

[ "$fails" = 0 ] || { echo "$fails failures (logs in $WORK)"; trap - EXIT; exit 1; }
echo "PASS mapdir-slurm ($(el) s)"
