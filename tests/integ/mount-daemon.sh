#!/bin/bash
# mount-daemon.sh - the background mode, as mount(8) and fstab run the helper:
# `mount.lithfs SOURCE DIR -o fstab,options -n -s` returns 0 only once the
# mount is ready (the file system answers at once), the daemon runs detached
# (its own session), a file written and still open at `fusermount3 -u -z`
# (lazy unmount) is uploaded before the daemon exits 0, and an error found in
# the background mode still reaches stderr with exit status 1. Local store.
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"

backend_setup daemon
M=$TMPDIR/mnt
mkdir -p "$M"
out=$(timeout 60 "$MOUNT_BIN" "$SOURCE" "$M" -o "cache_dir=$TMPDIR/cache,rw,defaults,_netdev,nofail,noauto,x-systemd.automount,users,stat_ttl=1" -n -s 2>&1)
rc=$?
[ $rc -eq 0 ] || fail "background mount exited $rc: $out"
[ -z "$out" ] || fail "background mount printed: $out"
is_mounted "$M" || fail "not mounted when mount.lithfs returned"
expect_eq "$(stat -c %F "$M")" directory "root answers at once"

pid=
for p in $(pgrep -f "mount.lithfs $SOURCE $M"); do pid=$p; done
[ -n "$pid" ] || fail "no daemon process"
[ "$(ps -o sid= -p "$pid" | tr -d ' ')" = "$pid" ] || fail "daemon is not a session leader"
grep -q ' fuse.lithfs ' /proc/self/mounts || fail "type fuse.lithfs not in /proc/mounts"
grep -q "^$SOURCE $M fuse.lithfs" /proc/self/mounts || fail "fsname is not the source"

echo "data" >"$M/f1"
expect_eq "$(oob_get f1)" data "written in the background mode"
exec 7>"$M/open-at-unmount"
echo "pending" >&7
fusermount3 -u -z "$M" || fail "lazy unmount"
exec 7>&-
end=$((SECONDS + 60))
while kill -0 "$pid" 2>/dev/null; do
	[ $SECONDS -lt $end ] || fail "daemon still running 60 s after unmount"
	sleep 0.2
done
expect_eq "$(oob_get open-at-unmount)" pending "file open at unmount uploaded"

out=$(timeout 60 "$MOUNT_BIN" "$SOURCE" "$TMPDIR/missing" 2>&1)
rc=$?
[ $rc -eq 1 ] || fail "background error: exit $rc"
expect_eq "$(wc -l <<<"$out")" 1 "one line for a background error"
grep -q "mountpoint .*missing" <<<"$out" || fail "background error message: $out"
echo "mount-daemon: all passed"
