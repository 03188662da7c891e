# tests/lib/faultproxy.sh - tests/lib/faultproxy.py in front of $S3_ENDPOINT, for
# the reliability-proxy-* tests. Source it after tests/lib/mount.sh (uses fail and
# wait_until; its EXIT trap is replaced by one that stops the proxy first).
#   proxy_start RATE STALL_S [KINDS]   start it (seed PROXY_SEED, default $$), wait up
#                     to 60 s for its port: PROXY_PORT; its log is $TMPDIR/proxy.log
#   proxy_stop        stop it (SIGTERM: it prints its final counts) and wait for it
#   proxy_count NAME  a count of its last report line (requests, stall, resumed, ...)
#   proxy_faults on|off   resume / pause the injection (SIGUSR1 / SIGUSR2)

PROXY_LOG=$TMPDIR/proxy.log
PROXY_PID=
PROXY_PORT=

proxy_stop() {
	[ -n "$PROXY_PID" ] || return 0
	kill "$PROXY_PID" 2>/dev/null
	wait "$PROXY_PID" 2>/dev/null
	PROXY_PID=
}
trap 'proxy_stop; mount_cleanup' EXIT

proxy_start() {		# proxy_start RATE STALL_S [KINDS]
	local upstream=${S3_ENDPOINT#http://}
	upstream=${upstream%%/*}
	python3 -S "$LITHFS_SRC/tests/lib/faultproxy.py" "$upstream" "$TMPDIR/proxy.port" \
		"$1" "$2" "${PROXY_SEED:-$$}" ${3:+"$3"} 2>"$PROXY_LOG" &
	PROXY_PID=$!
	wait_until 60 test -s "$TMPDIR/proxy.port" ||
		fail "the fault proxy did not start in 60 s ($(kill -0 $PROXY_PID 2>&1 && echo running || echo exited): $(cat "$PROXY_LOG"))"
	PROXY_PORT=$(cat "$TMPDIR/proxy.port")
}

proxy_faults() {	# proxy_faults on|off
	kill -"$([ "$1" = on ] && echo USR1 || echo USR2)" "$PROXY_PID"
	sleep 0.2	# the proxy handles it between two bytecodes: at once
}

proxy_count() {		# proxy_count NAME
	tail -n 1 "$PROXY_LOG" | sed -n "s/.* $1=\([0-9]*\).*/\1/p"
}
