#!/bin/bash
# security-nodump.sh - the programs that hold credentials make themselves
# non-dumpable (src/util/nodump.h): no core dump, and no /proc/PID/environ,
# mem or ptrace for other processes of the same user. mapdir runs as nobody
# (mount.lithfs needs root here, and root may read anything) with a task,
# also nobody, that tries to read its parent's (mapdir's) /proc/PID/environ,
# where AWS_SECRET_ACCESS_KEY would be: denied; readable with LITHFS_DUMPABLE=1
# (the escape hatch, and the proof that this test can fail). The task itself
# stays dumpable (execve resets the flag): its own environ is readable.
set -u
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (setpriv to nobody)"; exit 77; }
command -v setpriv >/dev/null || fail "setpriv (util-linux) missing"
MAPDIR=${LITHFS_BUILD:?}/mapdir
[ -x "$MAPDIR" ] || fail "$MAPDIR not built"

# A directory nobody can use, whatever the build directory's modes are.
W=$(mktemp -d /tmp/lithfs-nodump.XXXXXX) || fail "mktemp"
trap 'rm -rf "$W"' EXIT
chmod 755 "$W"
cp "$MAPDIR" "$W/mapdir"
mkdir "$W/in" "$W/out"
echo x >"$W/in/a"
chown -R 65534:65534 "$W/in" "$W/out"

# peek NAME [ENV...]: mapdir as nobody; prints what its task could read.
peek() {
	local name=$1
	shift
	env "$@" AWS_SECRET_ACCESS_KEY=not-a-real-secret \
		setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$W/mapdir" --no-progress -q -c '
			r() { head -c 1 "$1" >/dev/null 2>&1 && echo readable || echo denied; }
			echo "parent $(r /proc/$PPID/environ) self $(r /proc/self/environ)"' \
		"$W/in" "$W/out/$name" 2>"$W/err" || fail "mapdir as nobody failed: $(cat "$W/err")"
	cat "$W/out/$name/a"
}

got=$(peek default)
[ "$got" = "parent denied self readable" ] || fail "default: $got, want 'parent denied self readable'"
got=$(peek hatch LITHFS_DUMPABLE=1)
[ "$got" = "parent readable self readable" ] || fail "LITHFS_DUMPABLE=1: $got, want 'parent readable self readable'"
echo "security-nodump: ok"
