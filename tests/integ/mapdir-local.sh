#!/bin/bash
# mapdir-local.sh - mapdir on local directories: results equal the same
# programs run directly (per file and per chunk), chunk boundaries keep lines
# whole, failures, retries, timeouts, --halt-on-error, --resume, no partial
# outputs after kill -9 of mapdir or of a task, and bad input refused with one
# line before anything runs.
set -u

BUILD=${LITHFS_BUILD:?set LITHFS_BUILD}
MAPDIR=$BUILD/mapdir
[ -x "$MAPDIR" ] || { echo "FAIL: $MAPDIR not built"; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mapdir-local.XXXXXX")
# live_in_groups G1,G2,...: true if a process of these groups is alive; zombies
# do not count (a task's child orphaned to a PID 1 that reaps slowly stays a
# zombie for a while, yet runs nothing)
live_in_groups() { pgrep -g "$1" -r R,S,D,T,t >/dev/null; }	# as tests/run does
# groups_gone FILE SECS: waits (at most SECS) until no process is left in the
# process groups (of tasks) listed in FILE; if some are, kills them and fails.
# Empties FILE: the exit trap kills only groups no check has seen end.
groups_gone() {
	local g i
	g=$(sort -u "$1" | paste -sd, -)
	: >"$1"
	[ -n "$g" ] || return 0
	for ((i = 0; i < $2 * 10; i++)); do
		live_in_groups "$g" || return 0
		sleep 0.1
	done
	pkill -KILL -g "$g"
	return 1
}
trap 'for f in "$WORK"/*.pgids; do [ -f "$f" ] && groups_gone "$f" 0; done; rm -rf "$WORK"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# md TEST ARGS...: mapdir with a 120 s bound (SIGKILL 10 s later if SIGTERM
# does not end it); output in $WORK/TEST.err
md() {
	local name=$1
	shift
	timeout -k 10 120 "$MAPDIR" --no-progress "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
}
# section TEXT: a progress line, so that a log cut by the runner's timeout
# shows where the test was
section() { echo "== $(date +%T) section $*"; }
# user_files DIR: the outputs, without mapdir's own state
user_files() { (cd "$1" && find . -path ./.mapdir -prune -o -type f -print | sort); }

D=$WORK/in
mkdir -p "$D/sub/deep"
seq 1 5000 >"$D/a.txt"
awk 'BEGIN { srand(7); for (i = 0; i < 20000; i++) {
	n = int(rand() * 90); s = (rand() < 0.1) ? "ERROR" : "INFO";
	for (j = 0; j < n; j++) s = s sprintf("%c", 97 + int(rand() * 26)); print s } }' >"$D/sub/b.log"
printf 'last line\nwithout newline' >"$D/sub/deep/c.txt"
: >"$D/empty"
printf 'one\r\ntwo\r\nthree\r\n' >"$D/crlf.txt"
head -c 300000 /dev/urandom >"$D/bin.dat"
awk 'BEGIN { srand(3); for (i = 0; i < 30000; i++) {
	n = (i == 777) ? 200000 : int(rand() * 200);
	s = ""; for (j = 0; j < n; j++) s = s "x"; print i " " s } }' >"$D/big.txt"
printf 'a\nb\n' >"$D/space name.txt"
FILES=$(cd "$D" && find . -type f | sort)
NFILES=$(echo "$FILES" | wc -l)

section "1. whole files: the same as running the program directly"
check_whole() {	# check_whole NAME SHELLCMD
	local name=$1 cmd=$2 f
	rm -rf "$WORK/o-$name"
	md "$name" -j 3 -c "$cmd" "$D" "$WORK/o-$name" || { fail "$name: exit $?: $(head -3 "$WORK/$name.err")"; return; }
	while read -r f; do
		sh -c "$cmd" <"$D/$f" | cmp -s - "$WORK/o-$name/$f" || fail "$name: $f differs"
	done <<<"$FILES"
	[ "$(user_files "$WORK/o-$name" | wc -l)" -eq "$NFILES" ] || fail "$name: wrong number of outputs"
}
check_whole wc 'wc -l'
check_whole md5 'md5sum'
check_whole grep 'grep -c ERROR || true'
check_whole sort 'LC_ALL=C sort'

# PROGRAM ARGS... form (no shell)
rm -rf "$WORK/o-argv"
md argv wc -c "$D" "$WORK/o-argv" || fail "wc -c as PROGRAM ARGS: $(cat "$WORK/argv.err")"
[ "$(cat "$WORK/o-argv/big.txt")" = "$(wc -c <"$D/big.txt")" ] || fail "wc -c output"

section "2. chunks: lines are never split, parts concatenate to the file"
rm -rf "$WORK/o-chunk"
md chunk --chunk-size 64K cat "$D" "$WORK/o-chunk" || fail "chunked cat: $(head -3 "$WORK/chunk.err")"
for f in big.txt sub/b.log bin.dat; do
	[ -d "$WORK/o-chunk/$f" ] || { fail "$f was not split"; continue; }
	cat "$WORK/o-chunk/$f"/part-* | cmp -s - "$D/$f" || fail "parts of $f do not concatenate to it"
	n=$(ls "$WORK/o-chunk/$f" | wc -l)
	for p in $(ls "$WORK/o-chunk/$f" | head -n $((n - 1))); do
		[ "$(tail -c 1 "$WORK/o-chunk/$f/$p" | od -An -c | tr -d ' ')" = '\n' ] ||
			fail "$f/$p does not end with a newline"
	done
done
[ -f "$WORK/o-chunk/a.txt" ] || fail "a.txt (29 kB, one chunk) should be a whole-file output"
# the 200 kB line is in one part
grep -l "^777 x" "$WORK/o-chunk/big.txt"/part-* | wc -l | grep -qx 1 || fail "long line split"
# per-chunk wc -l adds up; grep -c per chunk adds up
rm -rf "$WORK/o-cwc"
md cwc --chunks 7 wc -l "$D" "$WORK/o-cwc" || fail "chunked wc -l"
for f in big.txt sub/b.log; do
	sum=$(cat "$WORK/o-cwc/$f"/part-* | awk '{ s += $1 } END { print s }')
	[ "$sum" = "$(wc -l <"$D/$f")" ] || fail "wc -l per chunk of $f: $sum"
done
[ "$(ls "$WORK/o-cwc/big.txt" | wc -l)" -le 7 ] || fail "--chunks 7 made more than 7 parts"
# --bytes: exact ranges
rm -rf "$WORK/o-bytes"
md bytes --bytes --chunk-size 100000 cat "$D/bin.dat" "$WORK/o-bytes" || fail "--bytes"
[ "$(stat -c %s "$WORK/o-bytes/bin.dat"/part-00000)" = 100000 ] || fail "--bytes part size"
cat "$WORK/o-bytes/bin.dat"/part-* | cmp -s - "$D/bin.dat" || fail "--bytes parts"
# --merge: one output per input, equal to the direct result
rm -rf "$WORK/o-merge"
md merge --chunk-size 32K --merge -c 'LC_ALL=C sort' "$D" "$WORK/o-merge" || fail "--merge"
for f in big.txt sub/b.log; do
	[ -f "$WORK/o-merge/$f" ] || { fail "merged $f missing"; continue; }
	cmp -s <(LC_ALL=C sort "$WORK/o-merge/$f") <(LC_ALL=C sort "$D/$f") || fail "merged sort of $f"
done
[ -z "$(ls -A "$WORK/o-merge/.mapdir/parts" 2>/dev/null | head -1)" ] || fail "parts left after --merge"
rm -rf "$WORK/o-mcat"
md mcat --chunks 5 --merge cat "$D" "$WORK/o-mcat" || fail "--merge cat"
while read -r f; do cmp -s "$D/$f" "$WORK/o-mcat/$f" || fail "merged cat of $f"; done <<<"$FILES"

section "3. the environment and --args"
rm -rf "$WORK/o-env"
md env --chunk-size 100K -c 'echo "$MAPDIR_INPUT|$MAPDIR_OFFSET|$MAPDIR_LENGTH|$MAPDIR_PART|$MAPDIR_PARTS|$MAPDIR_TASK_ID|$MAPDIR_OUTPUT"' \
	"$D" "$WORK/o-env" || fail "env run"
cat "$WORK/o-env/big.txt"/part-* >"$WORK/env.txt"
[ "$(awk -F'|' '{ s += $3 } END { print s }' "$WORK/env.txt")" = "$(wc -c <"$D/big.txt")" ] ||
	fail "MAPDIR_LENGTH does not add up"
awk -F'|' -v d="$D/big.txt" -v o="$WORK/o-env/big.txt" '
	$1 != d || $4 != NR - 1 || $7 != o "/part-" sprintf("%05d", NR - 1) { bad = 1 }
	NR > 1 && $2 != prev { bad = 1 } { prev = $2 + $3 }
	END { exit bad }' "$WORK/env.txt" || fail "MAPDIR_* variables wrong: $(head -2 "$WORK/env.txt")"
rm -rf "$WORK/o-args"
md args --args --chunks 3 -c 'wc -l < {in} > {out}' "$D" "$WORK/o-args" || fail "--args"
[ "$(cat "$WORK/o-args/big.txt"/part-* | awk '{ s += $1 } END { print s }')" = 30000 ] || fail "--args chunks"
rm -rf "$WORK/o-args2"
md args2 --args cp "$D" "$WORK/o-args2" || fail "--args cp (appended {in} {out})"
cmp -s "$D/bin.dat" "$WORK/o-args2/bin.dat" || fail "--args cp output"


section "4. failures: non-zero exit, nothing published, stderr kept"
rm -rf "$WORK/o-fail"
md fail -c 'echo "partial output"; echo "boom on $MAPDIR_INPUT" >&2; exit 3' "$D" "$WORK/o-fail"
rc=$?
[ $rc -eq 1 ] || fail "failing program: exit $rc, want 1"
[ -z "$(user_files "$WORK/o-fail")" ] || fail "failed tasks left outputs: $(user_files "$WORK/o-fail" | head -3)"
grep -q "FAILED a.txt: exit status 3" "$WORK/fail.err" || fail "failed input not listed: $(head -3 "$WORK/fail.err")"
grep -q "| boom on $D/a.txt" "$WORK/fail.err" || fail "stderr tail not shown"
grep -q "boom on" "$WORK/o-fail/.mapdir/logs/a.txt.log" || fail "stderr not kept in the log"
grep -q "$NFILES failed" "$WORK/fail.err" || fail "summary does not count failures"
# one failing input among good ones: exit 1, the others are published
rm -rf "$WORK/o-one"
md one -c 'case "$MAPDIR_INPUT" in *crlf*) exit 9;; esac; cat' "$D" "$WORK/o-one"
[ $? -eq 1 ] || fail "one failure: exit status"
[ ! -e "$WORK/o-one/crlf.txt" ] || fail "failed output published"
cmp -s "$D/a.txt" "$WORK/o-one/a.txt" || fail "good outputs missing next to a failure"

section "5. retries: a program that fails the first time"
cat >"$WORK/flaky.sh" <<'EOS'
#!/bin/sh
m="$FLAKY_DIR/$(echo "$MAPDIR_INPUT" | md5sum | cut -c1-16)"
[ -e "$m" ] || { : >"$m"; echo "first attempt fails" >&2; exit 1; }
cat
EOS
chmod +x "$WORK/flaky.sh"
mkdir -p "$WORK/flaky"
export FLAKY_DIR=$WORK/flaky
rm -rf "$WORK/o-retry"
md retry --retries 2 --joblog "$WORK/joblog.tsv" --stats-json "$WORK/stats.json" \
	"$WORK/flaky.sh" "$D" "$WORK/o-retry" || fail "--retries did not recover: $(head -3 "$WORK/retry.err")"
while read -r f; do cmp -s "$D/$f" "$WORK/o-retry/$f" || fail "retry output $f"; done <<<"$FILES"
[ "$(head -1 "$WORK/joblog.tsv")" = "$(printf 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand')" ] ||
	fail "joblog header"
[ "$(tail -n +2 "$WORK/joblog.tsv" | wc -l)" -eq $((2 * NFILES)) ] || fail "joblog: one line per attempt"
[ "$(awk -F'\t' 'NR > 1 && $7 == 1' "$WORK/joblog.tsv" | wc -l)" -eq "$NFILES" ] || fail "joblog exit values"
grep -q "\"ok\": $NFILES, \"failed\": 0, \"retried\": $NFILES" "$WORK/stats.json" || fail "stats json: $(head -c 300 "$WORK/stats.json")"
grep -q "\"task_seconds_p95\"" "$WORK/stats.json" || fail "stats json has no p95"
rm -rf "$WORK/flaky"/* "$WORK/o-noretry"
md noretry "$WORK/flaky.sh" "$D" "$WORK/o-noretry"
[ $? -eq 1 ] || fail "without --retries a failing first attempt must fail"

section "6. timeout: the process group is killed, nothing published"
rm -rf "$WORK/o-timeout"
start=$(date +%s)
md timeout --timeout 1 -j 8 -c 'sh -c "sleep 37.25" & sleep 37.5; cat' "$D" "$WORK/o-timeout"
rc=$?
[ $rc -eq 1 ] || fail "timeout: exit $rc"
[ $(($(date +%s) - start)) -lt 20 ] || fail "timeout did not kill in time"
grep -q "timed out" "$WORK/timeout.err" || fail "timeout not reported"
[ -z "$(user_files "$WORK/o-timeout")" ] || fail "timed-out tasks left outputs"
sleep 0.5
pgrep -f "sleep 37.[25]" >/dev/null && fail "timed-out tasks' process groups still run"

section "7. --halt-on-error: stops at the first failure"
mkdir -p "$WORK/many"
for i in $(seq 1 40); do echo "$i" >"$WORK/many/f$(printf %02d "$i")"; done
rm -rf "$WORK/o-halt"
md halt -j 1 --halt-on-error -c 'test "$(cat)" != 5' "$WORK/many" "$WORK/o-halt"
[ $? -eq 1 ] || fail "halt: exit status"
n=$(user_files "$WORK/o-halt" | wc -l)
[ "$n" -eq 4 ] || fail "halt-on-error ran on: $n outputs, want 4"
grep -q "not run" "$WORK/halt.err" || fail "halt: summary does not say what was not run"

section "8. --resume: only failed and changed inputs run again"
rm -rf "$WORK/o-resume"
cat >"$WORK/count.sh" <<'EOS'
#!/bin/sh
echo "$MAPDIR_INPUT" >>"$COUNT_FILE"
case "$MAPDIR_INPUT" in *f07) [ -e "$COUNT_FILE.ok" ] || exit 1;; esac
cat
EOS
chmod +x "$WORK/count.sh"
export COUNT_FILE=$WORK/count
: >"$COUNT_FILE"
md resume1 "$WORK/count.sh" "$WORK/many" "$WORK/o-resume"
[ $? -eq 1 ] || fail "resume: first run should fail on f07"
: >"$COUNT_FILE"; : >"$COUNT_FILE.ok"
echo changed >"$WORK/many/f13"
md resume2 --resume "$WORK/count.sh" "$WORK/many" "$WORK/o-resume" || fail "resume: second run failed"
[ "$(sort "$COUNT_FILE" | tr '\n' ' ')" = "$WORK/many/f07 $WORK/many/f13 " ] ||
	fail "resume re-ran: $(tr '\n' ' ' <"$COUNT_FILE")"
[ "$(cat "$WORK/o-resume/f13")" = changed ] || fail "resume: changed input not redone"
grep -q "38 already done" "$WORK/resume2.err" || fail "resume summary: $(cat "$WORK/resume2.err")"
: >"$COUNT_FILE"
md resume3 --resume "$WORK/count.sh" "$WORK/many" "$WORK/o-resume" || fail "resume: third run"
[ ! -s "$COUNT_FILE" ] || fail "resume with nothing to do ran tasks"

section "9. kill -9: of a task, and of mapdir itself"
rm -rf "$WORK/o-k9task"
md k9task -c 'head -c 100; kill -9 $$' "$D" "$WORK/o-k9task"
[ $? -eq 1 ] || fail "task killed by SIGKILL: exit status"
[ -z "$(user_files "$WORK/o-k9task")" ] || fail "a killed task left an output"
grep -q "killed by signal 9" "$WORK/k9task.err" || fail "signal not reported"
# kill -9 of mapdir itself: started without a wrapper, so that $! is mapdir
# (a `timeout` in between would be what gets killed, leaving mapdir to run on
# next to the resume below). Its tasks, each in its own process group, run on
# as orphans; their outputs stay temporary. Each task records its PGID (the $$
# of its sh) so that the test can wait for them and leave nothing behind.
rm -rf "$WORK/o-k9"
: >"$WORK/k9.pgids"
k9cmd="echo \$\$ >>'$WORK/k9.pgids'; sleep 0.3; cat"
"$MAPDIR" --no-progress -j 4 -c "$k9cmd" "$WORK/many" "$WORK/o-k9" 2>/dev/null &
pid=$!
sleep 1.2
kill -9 $pid
{ wait $pid; } 2>/dev/null
rc=$?
[ $rc -eq 137 ] || fail "kill -9 of mapdir: exit $rc, want 137"
pgrep -f -- "$WORK/o-k9" >/dev/null && fail "a mapdir still runs on o-k9 after kill -9: $(pgrep -af -- "$WORK/o-k9")"
groups_gone "$WORK/k9.pgids" 10 || fail "orphaned tasks still ran 10 s after kill -9 of mapdir"
for f in $(user_files "$WORK/o-k9"); do
	case "$f" in */.mapdir-tmp-*) continue;; esac
	cmp -s "$WORK/many/$f" "$WORK/o-k9/$f" || fail "after kill -9 $f is partial"
done
md k9resume --resume -c "$k9cmd" "$WORK/many" "$WORK/o-k9" || fail "resume after kill -9"
: >"$WORK/k9.pgids"	# its tasks ended with it
[ "$(user_files "$WORK/o-k9" | grep -vc '\.mapdir-tmp-')" -eq 40 ] || fail "resume after kill -9 incomplete"
while read -r f; do cmp -s "$WORK/many/$f" "$WORK/o-k9/$f" || fail "resume after kill -9: $f"; done < <(cd "$WORK/many" && ls)
# SIGTERM: tasks killed, outputs discarded, 128+N, and mapdir ends at once
# (bounded here, so that a mapdir that ignores it fails the test, not hangs it)
rm -rf "$WORK/o-int"
: >"$WORK/int.pgids"
"$MAPDIR" --no-progress -j 2 -c "echo \$\$ >>'$WORK/int.pgids'; sleep 30; cat" \
	"$WORK/many" "$WORK/o-int" 2>"$WORK/int.err" &
pid=$!
for i in $(seq 1 300); do	# until its tasks run (at most 30 s)
	[ -s "$WORK/int.pgids" ] && break
	sleep 0.1
done
[ -s "$WORK/int.pgids" ] || fail "SIGTERM: no task started within 30 s"
# meanwhile, a second mapdir on the same OUT fails at once with one line
md inuse --resume cat "$WORK/many" "$WORK/o-int"
rc=$?
[ $rc -eq 2 ] || fail "second mapdir on an OUT in use: exit $rc, want 2"
[ "$(wc -l <"$WORK/inuse.err")" -eq 1 ] && grep -q "in use by another mapdir" "$WORK/inuse.err" ||
	fail "second mapdir on an OUT in use: $(head -3 "$WORK/inuse.err")"
kill -TERM $pid
for i in $(seq 1 300); do
	kill -0 $pid 2>/dev/null || break
	sleep 0.1
done
kill -0 $pid 2>/dev/null && { fail "mapdir still ran 30 s after SIGTERM"; kill -9 $pid; }
wait $pid
rc=$?
[ $rc -eq 143 ] || fail "SIGTERM: exit $rc, want 143"
[ -z "$(user_files "$WORK/o-int")" ] || fail "SIGTERM left files: $(user_files "$WORK/o-int")"
grep -q "interrupted" "$WORK/int.err" || fail "SIGTERM not reported: $(head -3 "$WORK/int.err")"
groups_gone "$WORK/int.pgids" 1 || fail "tasks still ran after mapdir exited on SIGTERM"

section "10. bad input: one line, exit 2, nothing started"
bad() {	# bad NAME PATTERN ARGS...
	local name=$1 pat=$2
	shift 2
	md "$name" "$@"
	rc=$?
	[ $rc -eq 2 ] || fail "$name: exit $rc, want 2"
	[ "$(wc -l <"$WORK/$name.err")" -eq 1 ] || fail "$name: not one line: $(cat "$WORK/$name.err")"
	grep -q "$pat" "$WORK/$name.err" || fail "$name: message: $(cat "$WORK/$name.err")"
}
bad noprog "not found" no-such-program-xyz "$D" "$WORK/o-bad1"
printf 'echo hi\n' >"$WORK/notexec.sh"
bad notexec "not an executable" "$WORK/notexec.sh" "$D" "$WORK/o-bad2"
bad noin "No such file" cat "$WORK/does-not-exist" "$WORK/o-bad3"
bad inside "overlap" cat "$D" "$D/sub/out"
bad same "overlap" cat "$D" "$D"
: >"$WORK/plainfile"
bad notdir "Not a directory" cat "$D" "$WORK/plainfile/out"
bad notwritable "cannot create the output directory" cat "$D" /sys/mapdir-test-out
bad chunksize "invalid chunk size" --chunk-size 12Q cat "$D" "$WORK/o-bad4"
bad mergealone "needs --chunk-size" --merge cat "$D" "$WORK/o-bad5"
for o in 1 2 3 4 5; do [ ! -e "$WORK/o-bad$o" ] || fail "bad input created $WORK/o-bad$o"; done
[ ! -e "$D/sub/out" ] || fail "OUT inside IN was created"

section "11. --dry-run prints the plan and runs nothing"
md dry --dry-run --chunk-size 64K cat "$D" "$WORK/o-dry" || fail "--dry-run"
[ ! -e "$WORK/o-dry" ] || fail "--dry-run created OUT"
grep -q "big.txt/part-00001" "$WORK/dry.out" || fail "--dry-run plan: $(head -3 "$WORK/dry.out")"

[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "mapdir-local: all checks passed"
