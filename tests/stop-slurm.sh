#!/usr/bin/env bash
# stop-slurm.sh - stop the daemons that tests/start-slurm.sh DIR started, and nothing else.
#
# usage: tests/stop-slurm.sh [DIR]      (default: tests/.run/slurm in this repo)
# Reads DIR/run/started.pids ("name pid" lines). DIR/slurm-env.sh is renamed away first.
# Jobs still queued or running in this private cluster are cancelled (scancel through its
# own SLURM_CONF) so no slurmstepd is left behind. Then, in reverse start order (slurmd,
# slurmctld, munged), each recorded PID that still runs the expected program
# (/proc/PID/exe basename starts with the name) gets SIGTERM, up to 20 s, then SIGKILL.
set -uo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BASE=$(realpath -m "${1:-$SRC/tests/.run/slurm}")
PIDS=$BASE/run/started.pids
export SLURM_CONF=$BASE/etc/slurm.conf
T0=$(date +%s.%N)
el() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}'; }

if [ ! -s "$PIDS" ]; then
    echo "[stop-slurm] nothing recorded in $PIDS - nothing to stop"
    exit 0
fi
[ -f "$BASE/slurm-env.sh" ] && mv -f "$BASE/slurm-env.sh" "$BASE/slurm-env.sh.stopped"

is_ours() {   # name pid -> 0 if pid is alive (not a zombie) and runs the expected binary
    local name=$1 pid=$2 exe st
    [ -d "/proc/$pid" ] || return 1
    st=$(awk '/^State:/{print $2}' "/proc/$pid/status" 2>/dev/null)
    [ "$st" = Z ] && return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    exe=${exe##*/}; exe=${exe% (deleted)}
    case "$exe" in "$name"*) return 0 ;; *) return 1 ;; esac
}

# 1. cancel leftover jobs of this private cluster (only if our slurmctld is alive)
ctld_pid=$(awk '$1=="slurmctld"{print $2}' "$PIDS")
if [ -n "$ctld_pid" ] && is_ours slurmctld "$ctld_pid"; then
    jobs=$(timeout 10 squeue -h -o %i 2>/dev/null)
    if [ -n "$jobs" ]; then
        echo "[stop-slurm] cancelling jobs: $(echo $jobs)"
        timeout 10 scancel --user=root 2>/dev/null
        for _ in $(seq 1 100); do
            [ -z "$(timeout 10 squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.1
        done
    fi
fi

# 2. stop daemons in reverse order
rc=0
while read -r name pid; do
    [ -n "${pid:-}" ] || continue
    if ! is_ours "$name" "$pid"; then
        echo "[stop-slurm] $name pid $pid not running (or PID reused by another program) - skipped"
        continue
    fi
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 200); do
        is_ours "$name" "$pid" || break
        sleep 0.1
    done
    if is_ours "$name" "$pid"; then
        echo "[stop-slurm] $name pid $pid ignored SIGTERM for 20s - SIGKILL"
        kill -KILL "$pid" 2>/dev/null
        sleep 0.2
    fi
    if is_ours "$name" "$pid"; then
        echo "[stop-slurm] $name pid $pid STILL ALIVE"; rc=1
    else
        echo "[stop-slurm] stopped $name (pid $pid)"
    fi
done < <(tac "$PIDS")

# wait (<=5 s) until the exited daemons are reaped, so a following start sees a clean
# table (they were reparented to PID 1 when start-slurm.sh exited)
left=""
for _ in $(seq 1 50); do
    left=""
    while read -r name pid; do [ -n "${pid:-}" ] && [ -d "/proc/$pid" ] && left="$left $name:$pid"; done < "$PIDS"
    [ -z "$left" ] && break
    sleep 0.1
done
[ -n "$left" ] && echo "[stop-slurm] note: exited but not yet reaped by their parent:$left"
mv -f "$PIDS" "$PIDS.last"
rm -f "$BASE/munge/munge.socket.2" "$BASE/munge/munge.socket.2.lock"
echo "[stop-slurm] done in $(el)s"
exit $rc
