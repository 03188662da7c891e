#!/bin/bash
# objstore-local.sh - the shared operation test (tests/osops) on the local
# store, through os_open like every program:
#   1. every op on file://ROOT/BUCKET (xattrs), then with the sidecar
#      fallback (LITHFS_LOCAL_NOXATTR=1);
#   2. the same under 20% injected faults (LITHFS_FAULTS) which the retry
#      wrapper must hide completely;
#   3. a missing bucket directory is refused with a message naming it;
#   4. nothing is left in the bucket afterwards (no objects, no uploads,
#      no temp files).
set -u

BUILD=${LITHFS_BUILD:?set LITHFS_BUILD}
OSOPS=$BUILD/tests/osops
[ -x "$OSOPS" ] || { echo "FAIL: $OSOPS not built (make check builds it)"; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/objstore-local.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export LITHFS_LOCAL_FSYNC=0 LITHFS_RETRY_BASE_MS=5
unset LITHFS_FAULTS
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# run NAME ARGS...: osops with its output in $WORK/NAME.out; returns its status
run() {
	local name=$1 rc
	shift
	timeout 300 "$@" >"$WORK/$name.out" 2>&1
	rc=$?
	sed "s/^/  $name: /" "$WORK/$name.out" | tail -n 5
	return $rc
}

# leftovers DIR: lists what is in a bucket directory besides empty store dirs
leftovers() {
	find "$1" -mindepth 1 \( -type d -empty -name '.lithfs-*' \) -prune -o -print |
		grep -v '/\.lithfs-meta$' || true
}

mkdir -p "$WORK/root/bucket" "$WORK/root/side"
run xattr "$OSOPS" "file://$WORK/root/bucket" || fail "osops on the local store"
[ -z "$(leftovers "$WORK/root/bucket")" ] || fail "left in the bucket: $(leftovers "$WORK/root/bucket")"

run sidecar env LITHFS_LOCAL_NOXATTR=1 "$OSOPS" "file://$WORK/root/side" ||
	fail "osops on the local store without xattrs"
[ -d "$WORK/root/side/.lithfs-meta" ] || fail "sidecar mode did not use .lithfs-meta"

run faults env LITHFS_FAULTS=rate=0.2,seed=11,kinds=5xx+reset+truncate+lost "$OSOPS" "file://$WORK/root/bucket" ||
	fail "osops under 20% injected faults"
[ -z "$(leftovers "$WORK/root/bucket")" ] || fail "left after faults: $(leftovers "$WORK/root/bucket")"

# a broken fault spec is refused before anything runs
run badspec env LITHFS_FAULTS=rate=2 "$OSOPS" --check "file://$WORK/root/bucket"
[ $? -eq 2 ] || fail "a bad LITHFS_FAULTS spec was accepted"
grep -q 'bad fault spec' "$WORK/badspec.out" || fail "no message for a bad fault spec"

run missing "$OSOPS" --check "file://$WORK/root/nobucket"
[ $? -eq 2 ] || fail "a missing bucket directory was accepted"
grep -q "bucket directory $WORK/root/nobucket does not exist" "$WORK/missing.out" ||
	fail "no clear message for a missing bucket directory"
grep -q ENOENT "$WORK/missing.out" || fail "missing bucket is not ENOENT"

run check "$OSOPS" --check "file://$WORK/root/bucket" || fail "--check on a good bucket"
grep -q "file://$WORK/root/bucket: OK" "$WORK/check.out" || fail "--check did not say OK"

[ $fails -eq 0 ] && echo "PASS: objstore-local"
exit $((fails > 0))
