#!/bin/bash
# start-rgw.sh - start a throw-away single-host Ceph cluster (1 mon, 1 osd, 1 radosgw,
# no mgr) on 127.0.0.1 for the S3 tests, and write DIR/env for the test runner.
#
# usage: tests/start-rgw.sh [DIR]        (default: tests/.run/rgw in this repo)
#   DIR is wiped and recreated: every start is a brand-new empty cluster.
#   Stop with tests/stop-rgw.sh DIR (kills only the PIDs recorded in DIR/pids).
#   Packages: tests/install-deps.sh --tests (ceph-mon ceph-osd radosgw curl uuid-runtime).
#
# Design: every daemon runs in the foreground in its own session (setsid), its real PID
# recorded in DIR/pids; auth is "none" and everything binds to 127.0.0.1 with msgr2 only.
# DIR/env is written last, only once a SigV4-signed request with the test user succeeds,
# so its existence means "this cluster answered"; stop-rgw.sh renames it away.
#
# env:
#   RGW_PORT (7480)  MON_PORT (40789)  MS_PORT_MIN/MS_PORT_MAX (40800/40899: mon/osd
#                    messenger ports; ceph's default 6800-7300 is avoided on purpose)
#   OSD_STORE        memstore (default: object data in ceph-osd's RAM, fastest start) |
#                    bluestore (sparse file DIR/osd.0/block, RAM bounded by OSD_MEMORY_TARGET)
#   MEMSTORE_BYTES   capacity memstore reports (8 GiB; RAM is used only as data is written)
#   BLUESTORE_BYTES  size of the sparse bluestore block file (20 GiB)
#   OSD_MEMORY_TARGET  bluestore cache autotune target (1 GiB)
#   S3_UID / S3_ACCESS_KEY / S3_SECRET_KEY   (fixed defaults below)
#   RGW_DNS_NAME     unset = path-style only; set to enable virtual-host style
#   RGW_EXTRA_CONF   extra ceph.conf lines (printf %b, appended to [client.rgw.a])
#   READY_TIMEOUT    seconds to wait for each daemon (120)
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$SRC/tests/.run/rgw}
RGW_PORT=${RGW_PORT:-7480}
MON_PORT=${MON_PORT:-40789}
MS_PORT_MIN=${MS_PORT_MIN:-40800}
MS_PORT_MAX=${MS_PORT_MAX:-40899}
OSD_STORE=${OSD_STORE:-memstore}
MEMSTORE_BYTES=${MEMSTORE_BYTES:-8589934592}
BLUESTORE_BYTES=${BLUESTORE_BYTES:-21474836480}
OSD_MEMORY_TARGET=${OSD_MEMORY_TARGET:-1073741824}
ACCESS_KEY=${S3_ACCESS_KEY:-AKIATESTRGW000000001}
SECRET_KEY=${S3_SECRET_KEY:-testrgwsecretkey0000000000000000000000001}
S3_UID=${S3_UID:-testuser}
READY_TIMEOUT=${READY_TIMEOUT:-120}

DIR=$(realpath -m "$DIR")
T0=$(date +%s%N)
log() { local d=$(( ($(date +%s%N) - T0) / 100000000 )); printf '[start-rgw %4d.%ds] %s\n' $((d/10)) $((d%10)) "$*" >&2; }
die() { log "ERROR: $*"; [ -s "$DIR/pids" ] && log "daemons already started are still running; stop them with tests/stop-rgw.sh $DIR"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
case "$OSD_STORE" in memstore|bluestore) ;; *) die "OSD_STORE must be memstore or bluestore, not '$OSD_STORE'";; esac
for b in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool uuidgen curl ss; do
  command -v "$b" >/dev/null || die "$b not found: run tests/install-deps.sh --tests"
done

# ---------------------------------------------------------------- refuse to clobber
if [ -f "$DIR/pids" ]; then
  while read -r name pid; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "start-rgw: $name (pid $pid) of $DIR is still running; run tests/stop-rgw.sh $DIR first" >&2; exit 1
    fi
  done < "$DIR/pids"
fi
for port in "$RGW_PORT" "$MON_PORT"; do
  if ss -ltnH "sport = :$port" | grep -q .; then
    echo "start-rgw: 127.0.0.1:$port is already in use (another radosgw? set RGW_PORT / MON_PORT)" >&2; exit 1
  fi
done

rm -rf "$DIR"
mkdir -p "$DIR"/{log,run,mon.a,osd.0,rgw.a,tmp}
: > "$DIR/pids"
FSID=$(uuidgen)
CONF="$DIR/ceph.conf"

cat > "$CONF" <<EOF
[global]
fsid = $FSID
mon_host = [v2:127.0.0.1:$MON_PORT]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_msgr1 = false
ms_bind_msgr2 = true
ms_bind_port_min = $MS_PORT_MIN
ms_bind_port_max = $MS_PORT_MAX
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
auth_supported = none
keyring = /dev/null
run_dir = $DIR/run
admin_socket = $DIR/run/\$name.asok
pid_file = $DIR/run/\$name.pid
log_file = $DIR/log/\$name.log
log_to_file = true
log_to_stderr = false
err_to_stderr = true
mon_cluster_log_file = $DIR/log/cluster.log
crash_dir = $DIR/tmp
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_max_pg_per_osd = 1000
osd_crush_chooseleaf_type = 0
mon_warn_on_pool_no_redundancy = false
mon_warn_on_insecure_global_id_reclaim = false
mon_warn_on_insecure_global_id_reclaim_allowed = false

[mon]
mon_data = $DIR/mon.\$id
mon_initial_members = a
mon_data_avail_warn = 1
mon_data_avail_crit = 0
# test cluster: propose map changes quickly (default 1 s per pool create / app enable,
# which made radosgw start take ~9 s and the first bucket/object PUT take ~2 s each)
paxos_propose_interval = 0.05

[osd]
osd_data = $DIR/osd.\$id
osd_objectstore = $OSD_STORE
osd_crush_update_on_start = true
osd_crush_initial_weight = 1
osd_memory_target = $OSD_MEMORY_TARGET
memstore_device_bytes = $MEMSTORE_BYTES
bluestore_block_create = true
bluestore_block_size = $BLUESTORE_BYTES
bluestore_fsck_on_mount = false

[client]
log_file = $DIR/log/\$name.log
admin_socket = $DIR/run/\$name.\$pid.asok

[client.rgw.a]
# radosgw's built-in default is ms_mon_client_mode=secure, which cannot work with
# auth=none (log: "get_initial_auth_request returned -13", retried forever).
ms_mon_client_mode = crc secure
rgw_frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw_data = $DIR/rgw.a
admin_socket = $DIR/run/\$name.asok
rgw_enable_usage_log = false
# reclaim the data of deleted/overwritten objects within ~a minute instead of 2 hours
# (with memstore it is RAM), so long test runs do not accumulate garbage
rgw_gc_obj_min_wait = 20
rgw_gc_processor_period = 20
EOF
if [ -n "${RGW_DNS_NAME:-}" ]; then echo "rgw_dns_name = $RGW_DNS_NAME" >> "$CONF"; fi
if [ -n "${RGW_EXTRA_CONF:-}" ]; then printf '%b\n' "$RGW_EXTRA_CONF" >> "$CONF"; fi

export CEPH_CONF="$CONF"
CEPH=(ceph -c "$CONF" --connect-timeout 30)

# launch NAME CMD...: start CMD in its own session, detached from this shell, and record
# the daemon's real PID in DIR/pids (the inner bash writes $$ and then execs CMD, so the
# PID is right even if setsid had to fork because we were a process-group leader).
launch() {
  local name=$1; shift
  local pf="$DIR/run/$name.launch.pid"
  rm -f "$pf"
  setsid bash -c 'echo $$ > "$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pf" "$@" \
    >"$DIR/log/$name.out" 2>&1 < /dev/null &
  for _ in $(seq 1 50); do [ -s "$pf" ] && break; sleep 0.1; done
  [ -s "$pf" ] || die "could not start $name"
  LAUNCHED_PID=$(cat "$pf")
  echo "$name $LAUNCHED_PID" >> "$DIR/pids"
}

# wait_for WHAT TRIES SLEEP CMD...: run CMD until it succeeds, at most TRIES times.
wait_for() {
  local what=$1 tries=$2 nap=$3; shift 3
  for _ in $(seq 1 "$tries"); do "$@" && return 0; sleep "$nap"; done
  log "$what: not ready after $tries tries"
  return 1
}

# ---------------------------------------------------------------- mon
log "mkfs mon.a (fsid $FSID)"
monmaptool --create --clobber --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$DIR/tmp/monmap" >/dev/null
ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/tmp/monmap" >"$DIR/log/mon.a.mkfs.out" 2>&1 \
  || { cat "$DIR/log/mon.a.mkfs.out" >&2; die "ceph-mon --mkfs failed"; }
log "start ceph-mon mon.a on 127.0.0.1:$MON_PORT"
launch mon.a ceph-mon -c "$CONF" -i a -f
mon_up() { "${CEPH[@]}" mon stat >/dev/null 2>&1; }
wait_for mon "$((READY_TIMEOUT * 5))" 0.2 mon_up \
  || { tail -20 "$DIR/log/mon.a.log" >&2; die "mon did not come up"; }

# ---------------------------------------------------------------- osd
OSD_UUID=$(uuidgen)
log "create osd.0 ($OSD_STORE)"
OSD_ID=$("${CEPH[@]}" osd new "$OSD_UUID")
[ "$OSD_ID" = 0 ] || die "unexpected osd id '$OSD_ID'"
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" >"$DIR/log/osd.0.mkfs.out" 2>&1 \
  || { cat "$DIR/log/osd.0.mkfs.out" >&2; die "ceph-osd --mkfs failed"; }
log "start ceph-osd osd.0"
launch osd.0 ceph-osd -c "$CONF" -i 0 -f
osd_up() { "${CEPH[@]}" osd dump 2>/dev/null | grep -q '^osd.0 up'; }
wait_for osd.0 "$((READY_TIMEOUT * 5))" 0.2 osd_up \
  || { tail -30 "$DIR/log/osd.0.log" >&2; die "osd.0 did not come up"; }

# ---------------------------------------------------------------- rgw
log "start radosgw on 127.0.0.1:$RGW_PORT"
launch rgw.a radosgw -c "$CONF" -n client.rgw.a -f
RGW_PID=$LAUNCHED_PID
rgw_up() {
  kill -0 "$RGW_PID" 2>/dev/null || { tail -30 "$DIR/log/client.rgw.a.log" >&2; die "radosgw exited"; }
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$RGW_PORT/" 2>/dev/null)" = 200 ]
}
wait_for radosgw "$((READY_TIMEOUT * 5))" 0.2 rgw_up \
  || { tail -30 "$DIR/log/client.rgw.a.log" >&2; die "radosgw not answering on :$RGW_PORT"; }

log "create S3 user $S3_UID"
radosgw-admin -c "$CONF" user create --uid "$S3_UID" --display-name "S3 test user" \
  --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" >"$DIR/log/user-create.json" 2>"$DIR/log/user-create.err" \
  || { cat "$DIR/log/user-create.err" >&2; die "radosgw-admin user create failed"; }

# wait until a SigV4-signed ListBuckets with the new key succeeds.
# (curl 7.88 --aws-sigv4 does not send x-amz-content-sha256 by itself; RGW then
#  assumes UNSIGNED-PAYLOAD while curl signed sha256("") -> 403. Send it explicitly.)
signed_ok() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
    "http://127.0.0.1:$RGW_PORT/")" = 200 ]
}
wait_for "signed request" 150 0.2 signed_ok || die "a signed request with the new user did not succeed"

cat > "$DIR/env.tmp" <<EOF
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_DEFAULT_REGION=us-east-1
export S3_ENDPOINT=http://127.0.0.1:$RGW_PORT
export CEPH_CONF=$CONF
EOF
mv "$DIR/env.tmp" "$DIR/env"

log "ready ($OSD_STORE). PIDs: $(tr '\n' ' ' < "$DIR/pids")"
echo "source $DIR/env    # S3_ENDPOINT=http://127.0.0.1:$RGW_PORT; stop: tests/stop-rgw.sh $DIR"
