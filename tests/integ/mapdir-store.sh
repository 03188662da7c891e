#!/bin/bash
# mapdir-store.sh - mapdir with IN and OUT in an object store, read and
# written through the store interface (LIST, ranged GETs via the block cache,
# uploads completed only on success). The backend comes from MAPDIR_STORE:
#   local (default)  file:///ROOT/BUCKET URLs on a local-directory store
#   s3               s3://BUCKET/PREFIX on $S3_ENDPOINT (mapdir-s3.sh; 77 without it)
# Checks: per-file and per-chunk results equal the programs run directly,
# --merge, failed/killed tasks leave no object, retries, --resume, a key that
# would escape OUT and a missing bucket are refused before anything runs.
set -u

BUILD=${LITHFS_BUILD:?set LITHFS_BUILD}
MAPDIR=$BUILD/mapdir
STORE=${MAPDIR_STORE:-local}
[ -x "$MAPDIR" ] || { echo "FAIL: $MAPDIR not built"; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mapdir-$STORE.XXXXXX")
export XDG_CACHE_HOME=$WORK/cache	# a block cache of our own
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
md() {
	local name=$1
	shift
	timeout 180 "$MAPDIR" --no-progress "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
}

if [ "$STORE" = s3 ]; then
	[ -n "${S3_ENDPOINT:-}" ] || { echo "SKIP: no S3_ENDPOINT"; rm -rf "$WORK"; exit 77; }
	export AWS_ENDPOINT_URL=$S3_ENDPOINT
	BUCKET=mapdir-$$-$(date +%s)
	s3() { env -u AWS_CA_BUNDLE aws --endpoint-url "$S3_ENDPOINT" s3 "$@"; }
	s3api() { env -u AWS_CA_BUNDLE aws --endpoint-url "$S3_ENDPOINT" s3api "$@"; }
	s3 mb "s3://$BUCKET" >/dev/null || { echo "FAIL: cannot create bucket $BUCKET"; exit 1; }
	trap 's3 rb --force "s3://$BUCKET" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
	url() { echo "s3://$BUCKET/$1"; }
	put_tree() { s3 cp --recursive --quiet "$1" "s3://$BUCKET/$2/"; }
	get_tree() { mkdir -p "$2" && s3 cp --recursive --quiet "s3://$BUCKET/$1/" "$2/"; }
	put_key() { s3api put-object --bucket "$BUCKET" --key "$1" --body "$2" >/dev/null; }
else
	ROOT=$WORK/root
	mkdir -p "$ROOT"
	trap 'rm -rf "$WORK"' EXIT
	url() { echo "file://$ROOT/$1"; }
	put_tree() { mkdir -p "$ROOT/$2" && cp -r "$1/." "$ROOT/$2/"; }
	get_tree() { mkdir -p "$2" && { [ ! -d "$ROOT/$1" ] || cp -r "$ROOT/$1/." "$2/"; }; }
fi
# outputs NAME DIR: fetch OUT bucket/prefix NAME into DIR, list user files
outputs() {
	rm -rf "$2"
	get_tree "$1" "$2"
	(cd "$2" && find . -path ./.mapdir -prune -o -type f -print | sed 's|^\./||' | sort)
}

D=$WORK/in
mkdir -p "$D/sub"
seq 1 20000 >"$D/a.txt"
awk 'BEGIN { srand(5); for (i = 0; i < 40000; i++) {
	n = (i == 999) ? 150000 : int(rand() * 120); s = (rand() < 0.2) ? "ERROR " : "";
	for (j = 0; j < n; j++) s = s "y"; print i " " s } }' >"$D/sub/big.log"
printf 'no newline at the end' >"$D/sub/tail.txt"
: >"$D/empty"
put_tree "$D" in || { echo "FAIL: cannot upload the inputs"; exit 1; }
FILES=$(cd "$D" && find . -type f | sed 's|^\./||' | sort)

# ---- whole files and chunks equal the direct computation ----
md wc -j 3 wc -l "$(url in)" "$(url out1)" || fail "wc -l: $(head -3 "$WORK/wc.err")"
outputs out1 "$WORK/o1" >"$WORK/o1.list"
[ "$(cat "$WORK/o1.list")" = "$FILES" ] || fail "outputs of wc -l: $(tr '\n' ' ' <"$WORK/o1.list")"
while read -r f; do
	[ "$(wc -l <"$D/$f")" = "$(cat "$WORK/o1/$f" 2>/dev/null)" ] || fail "wc -l of $f"
done <<<"$FILES"
md md5 -c 'md5sum' "$(url in)" "$(url out2)" || fail "md5sum"
outputs out2 "$WORK/o2" >/dev/null
while read -r f; do
	[ "$(md5sum <"$D/$f")" = "$(cat "$WORK/o2/$f")" ] || fail "md5sum of $f"
done <<<"$FILES"
md grep --chunk-size 100K -c 'grep -c ERROR || true' "$(url in)" "$(url out3)" || fail "chunked grep"
outputs out3 "$WORK/o3" >/dev/null
[ "$(cat "$WORK/o3/sub/big.log"/part-* | awk '{ s += $1 } END { print s }')" = \
  "$(grep -c ERROR "$D/sub/big.log")" ] || fail "grep -c per chunk does not add up"
[ "$(ls "$WORK/o3/sub/big.log" | wc -l)" -ge 5 ] || fail "big.log was not split"
md merge --chunk-size 64K --merge cat "$(url in)" "$(url out4)" || fail "--merge: $(head -3 "$WORK/merge.err")"
outputs out4 "$WORK/o4" >"$WORK/o4.list"
while read -r f; do cmp -s "$D/$f" "$WORK/o4/$f" || fail "merged cat of $f"; done <<<"$FILES"
grep -q parts "$WORK/o4.list" && fail "parts left after --merge"
md sort --chunks 4 --merge -c 'LC_ALL=C sort' "$(url in)" "$(url out5)" || fail "--merge sort"
outputs out5 "$WORK/o5" >/dev/null
cmp -s <(LC_ALL=C sort "$WORK/o5/sub/big.log") <(LC_ALL=C sort "$D/sub/big.log") || fail "merged sort"
md args --args -c 'md5sum < {in} > {out}' "$(url in)" "$(url out6)" || fail "--args"
outputs out6 "$WORK/o6" >/dev/null
[ "$(md5sum <"$D/a.txt")" = "$(cat "$WORK/o6/a.txt")" ] || fail "--args md5sum"
# IN naming one object (file:// URLs name a bucket directory, never a key)
if [ "$STORE" = s3 ]; then
	md single cat "$(url in/sub/tail.txt)" "$(url out7)" || fail "single-object IN"
	outputs out7 "$WORK/o7" >/dev/null
	cmp -s "$D/sub/tail.txt" "$WORK/o7/tail.txt" || fail "single-object IN output"
fi

# ---- failures leave no object; a retry recovers; --resume skips ----
md fail -c 'head -c 10; echo oops >&2; exit 4' "$(url in)" "$(url out8)"
[ $? -eq 1 ] || fail "failing program: exit status"
[ -z "$(outputs out8 "$WORK/o8")" ] || fail "failed tasks left objects"
grep -q "| oops" "$WORK/fail.err" || fail "stderr tail of a failed task"
md k9 -c 'head -c 10; kill -9 $$' "$(url in)" "$(url out9)"
[ $? -eq 1 ] || fail "killed task: exit status"
[ -z "$(outputs out9 "$WORK/o9")" ] || fail "killed tasks left objects"
mkdir -p "$WORK/marks"
FLAKY='echo run >> '"$WORK"'/runs; m='"$WORK"'/marks/$MAPDIR_TASK_ID; [ -e $m ] || { : > $m; exit 1; }; wc -c'
md retry --retries 1 -c "$FLAKY" "$(url in)" "$(url out10)" || fail "retry: $(head -3 "$WORK/retry.err")"
outputs out10 "$WORK/o10" >/dev/null
[ "$(cat "$WORK/o10/a.txt")" = "$(wc -c <"$D/a.txt")" ] || fail "retried output"
: >"$WORK/runs"
md resume --resume -c "$FLAKY" "$(url in)" "$(url out10)" || fail "resume"
[ ! -s "$WORK/runs" ] || fail "--resume re-ran $(wc -l <"$WORK/runs") completed tasks"

# ---- bad input ----
md overlap cat "$(url in)" "$(url in/sub)"
[ $? -eq 2 ] && grep -q overlap "$WORK/overlap.err" || fail "OUT inside IN accepted"
if [ "$STORE" = s3 ]; then
	md nobucket cat "s3://no-such-bucket-$$" "$(url out11)"
	[ $? -eq 2 ] && [ "$(wc -l <"$WORK/nobucket.err")" -eq 1 ] || fail "missing bucket: $(cat "$WORK/nobucket.err")"
	put_key "evil/../../escape" "$D/a.txt" && {
		md escape cat "$(url evil)" "$(url out12)"
		[ $? -eq 2 ] && grep -q "escape" "$WORK/escape.err" || fail "escaping key accepted: $(cat "$WORK/escape.err")"
	}
	[ -z "$(s3api list-multipart-uploads --bucket "$BUCKET" --query 'Uploads[].Key' --output text | grep -v None)" ] ||
		fail "multipart uploads left behind"
else
	md nobucket cat "file://$ROOT/missing" "$(url out11)"
	[ $? -eq 2 ] && [ "$(wc -l <"$WORK/nobucket.err")" -eq 1 ] || fail "missing bucket: $(cat "$WORK/nobucket.err")"
fi

[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "mapdir-store ($STORE): all checks passed"
