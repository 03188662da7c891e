#!/bin/bash
# stop-rgw.sh - stop the daemons started by tests/start-rgw.sh DIR: only the PIDs it
# recorded in DIR/pids, and only while they still run a ceph daemon configured from
# DIR/ceph.conf. DIR/env is renamed to env.stopped first, so the test runner no longer
# picks up an endpoint that is going away.
# usage: tests/stop-rgw.sh [DIR] [--purge]     (default DIR: tests/.run/rgw in this repo)
#   --purge also deletes DIR (cluster data, logs).
set -uo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$SRC/tests/.run/rgw}
PURGE=${2:-}
DIR=$(realpath -m "$DIR")
PIDS="$DIR/pids"
[ -f "$PIDS" ] || { echo "stop-rgw: no $PIDS, nothing to stop"; exit 0; }
[ -f "$DIR/env" ] && mv -f "$DIR/env" "$DIR/env.stopped"

alive() { kill -0 "$1" 2>/dev/null; }
ours() {  # pid still runs a ceph daemon configured from DIR?
  alive "$1" && tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF -- "-c $DIR/ceph.conf "
}

# stop in reverse start order: rgw, osd, mon
rc=0
while read -r name pid; do
  if ! ours "$pid"; then
    echo "stop-rgw: $name pid $pid not running (or not ours), skipped"
    continue
  fi
  t0=$(date +%s%N)
  kill -TERM "$pid"
  for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then
    echo "stop-rgw: $name pid $pid still alive after 10s, SIGKILL"
    kill -KILL "$pid"
    for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
  fi
  if alive "$pid"; then
    echo "stop-rgw: $name pid $pid STILL ALIVE"; rc=1
  else
    echo "stop-rgw: stopped $name pid $pid ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
  fi
done < <(tac "$PIDS")
mv -f "$PIDS" "$PIDS.stopped"
if [ "$PURGE" = --purge ]; then rm -rf "$DIR"; echo "stop-rgw: removed $DIR"; fi
exit $rc
