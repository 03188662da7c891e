#!/bin/bash
# mount-readdir.sh - a directory of 2,500 keys made behind the mount's back:
# `ls` shows every name, `ls -l` sizes and times come from the listing with
# no HEAD per entry (counted in the daemon's debug log: 3 LIST pages of 1,000 per listing,
# no HEAD of any key inside), `find` and `du` walk it, one key is then read
# and stat'ed on its own. Local store by default; mount-readdir-s3.sh on radosgw.
set -u
. "${LITHFS_SRC:?}/tests/lib/mount.sh"

N=2500
backend_setup readdir
oob_put_many many/k $N
echo 1 >"$TMPDIR/one"
oob_put many/sub/x "$TMPDIR/one"
M=$TMPDIR/mnt
mount_start "$M" "$SOURCE" -o loglevel=debug "${STORE_OPTS[@]}"
log=${MOUNT_LOG[$M]}

stat "$M/many" >/dev/null || fail "stat many"
before=$(grep -c . "$log")
expect_eq "$(ls "$M/many" | wc -l)" $((N + 1)) "names listed"
expect_eq "$(ls "$M/many" | head -1)" k00001 "first name"
expect_eq "$(ls "$M/many" | tail -2 | head -1)" k02500 "last key"
out=$(ls -l --time-style=+%s "$M/many") || fail "ls -l"
expect_eq "$(grep -c '^-' <<<"$out")" $N "files in ls -l"
expect_eq "$(grep -c '^d' <<<"$out")" 1 "directories in ls -l"
expect_eq "$(awk '$NF == "k01234" { print $5 }' <<<"$out")" 11 "size from the listing"
now=$(date +%s)
t=$(awk '$NF == "k00007" { print $6 }' <<<"$out")
[ $((now - t)) -lt 3600 ] && [ $((t - now)) -lt 300 ] || fail "mtime from the listing: $t vs now $now"
heads=$(tail -n +"$before" "$log" | grep -c 'debug: head "many/k')
lists=$(tail -n +"$before" "$log" | grep -c 'debug: list "many/" page')
echo "ls + ls -l of $N keys: $lists LIST pages, $heads HEADs of entries"
expect_eq "$heads" 0 "HEAD requests for entries of the listing"
[ "$lists" -le 12 ] || fail "$lists LIST pages for four listings of $N keys (want <= 12)"
expect_eq "$(find "$M/many" -type f | wc -l)" $((N + 1)) "find"
du -s "$M/many" >/dev/null || fail "du"
expect_eq "$(cat "$M/many/k02000")" many/k02000 "a key's content"
expect_eq "$(cat "$M/many/sub/x")" 1 "the subdirectory's key"
mount_stop "$M"
echo "mount-readdir ($LITHFS_BACKEND): all passed"
