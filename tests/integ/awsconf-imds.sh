#!/bin/bash
# awsconf-imds.sh - temporary credentials over HTTP, for real: EC2 IMDSv2 and
# the ECS container endpoint, served by a small Python server on 127.0.0.1.
#
# The server hands out credentials number n (access key AKIDnnnn, secret
# "secret-for-AKIDnnnn", token token-n) on the n-th credentials request; the
# first two expire in 4 minutes (inside the 5-minute refresh window), later
# ones in an hour. So after creation (fetch 1) the first creds_get must fetch
# again (2), the second once more (3), the third must not. The server checks
# the IMDSv2 protocol (token PUT with a TTL header, token on every GET) and
# the ECS Authorization header, and counts requests into a stats file.
# Scenarios: IMDS refresh, 16 threads refreshing at once, IMDS refresh failure (old credentials kept), IMDS
# without a role and disabled IMDS (both: "no AWS credentials found"), ECS via
# FULL_URI with a token file (beats IMDS), ECS with a wrong token.
set -u

BUILD=${LITHFS_BUILD:?set LITHFS_BUILD}
PROBE=$BUILD/tests/awsconf_probe
[ -x "$PROBE" ] || { echo "FAIL: $PROBE not built (make check builds it)"; exit 1; }
command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/awsconf-imds.XXXXXX")
SERVER_PID=
fails=0

cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

echo "ok 0" >"$WORK/mode"
cat >"$WORK/server.py" <<'EOF'
import json, os, sys, threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

modefile, portfile, statsfile, ecs_token = sys.argv[1:5]
lock = threading.Lock()
scenario = None
mode = "ok"
stats = {}
tokens = set()
ROLE = "/latest/meta-data/iam/security-credentials/"

def start_request():
    """A new line "MODE N" in modefile starts a new scenario: fresh counts."""
    global scenario, mode, stats, tokens
    with open(modefile) as f:
        line = f.read().strip()
    with lock:
        if line != scenario:
            scenario, mode = line, line.split()[0]
            stats = {"token_put": 0, "role_list": 0, "creds": 0, "ecs": 0, "bad": 0}
            tokens = set()

def count(name):
    with lock:
        stats[name] += 1
        with open(statsfile + ".tmp", "w") as f:
            f.write("".join("%s %d\n" % kv for kv in stats.items()))
        os.replace(statsfile + ".tmp", statsfile)
        return stats[name]

def creds_doc(n, tz):
    life = 240 if n <= 2 else 3600
    exp = datetime.now(timezone.utc) + timedelta(seconds=life)
    doc = {"AccessKeyId": "AKID%04d" % n, "SecretAccessKey": "secret-for-AKID%04d" % n,
           "Token": "token-%d" % n, "Expiration": exp.astimezone(tz).isoformat()}
    if tz == timezone.utc:
        doc["Expiration"] = exp.strftime("%Y-%m-%dT%H:%M:%SZ")
        doc.update({"Code": "Success", "Type": "AWS-HMAC", "LastUpdated": "x",
                    "Nested": {"a": [1, 2.5e3, True, None, "\u00e9\\"]}})
    return json.dumps(doc)

class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, body=""):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        start_request()
        if self.path != "/latest/api/token":
            return self.reply(404)
        if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            count("bad")
            return self.reply(400, "missing TTL header")
        n = count("token_put")
        tok = "imds-token-%d" % n
        with lock:
            tokens.add(tok)
        self.reply(200, tok)

    def do_GET(self):
        start_request()
        if self.path == "/ecs/creds":
            if self.headers.get("Authorization") != ecs_token:
                count("bad")
                return self.reply(401, "bad token")
            n = count("ecs")
            return self.reply(200, creds_doc(n, timezone(timedelta(hours=2))))
        if not self.path.startswith(ROLE):
            return self.reply(404)
        with lock:
            ok = self.headers.get("X-aws-ec2-metadata-token") in tokens
        if not ok:
            count("bad")
            return self.reply(401)
        if self.path == ROLE:
            count("role_list")
            return self.reply(404) if mode == "norole" else self.reply(200, "test-role\n")
        if self.path != ROLE + "test-role":
            return self.reply(404)
        n = count("creds")
        if mode == "fail" and n >= 2:
            return self.reply(500, "broken")
        self.reply(200, creds_doc(n, timezone.utc))

srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.replace(portfile + ".tmp", portfile)
srv.serve_forever()
EOF

python3 "$WORK/server.py" "$WORK/mode" "$WORK/port" "$WORK/stats" "ecs-secret-token" &
SERVER_PID=$!
for _ in $(seq 300); do
	[ -s "$WORK/port" ] && break
	sleep 0.1
done
[ -s "$WORK/port" ] || { echo "FAIL: test server did not start"; exit 1; }
PORT=$(cat "$WORK/port")
IMDS=(AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$PORT")
scenario=0

# new_scenario MODE: the server starts over (counts, tokens) in MODE: ok, fail
# (credential requests after the first answer 500) or norole (no IAM role).
new_scenario() {
	scenario=$((scenario + 1))
	echo "$1 $scenario" >"$WORK/mode"
	echo "token_put 0" >"$WORK/stats"
}

# stat NAME: a request count of the current scenario.
stat() {
	awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }' "$WORK/stats"
}

# probe "ARGS" VAR=VALUE...: runs the probe with ARGS ("3", "--threads 16")
# and only the given AWS environment.
probe() {
	local -a args
	read -ra args <<<"$1"
	shift
	env -i PATH="$PATH" HOME="$WORK" AWS_CONFIG_FILE="$WORK/none" \
		AWS_SHARED_CREDENTIALS_FILE="$WORK/none" "$@" \
		timeout 60 "$PROBE" "${args[@]}" >"$WORK/out" 2>"$WORK/err"
}

check() {  # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then
		echo "ok: $what"
	else
		echo "FAIL: $what"
		echo "--- probe stdout:"; cat "$WORK/out"
		echo "--- probe stderr:"; cat "$WORK/err"
		fails=$((fails + 1))
	fi
}

line_has() {  # line_has STEP PATTERN: the probe's STEP line matches the regex
	grep -E "^$1 .*$2" "$WORK/out" >/dev/null
}

# expires_near STEP SECONDS: expires_in within 20 s below SECONDS, or 1 s above
# (the server's expiry carries microseconds; a second boundary may round up)
expires_near() {
	local v
	v=$(sed -n "s/^$1 .*expires_in=\([0-9-]*\) .*/\1/p" "$WORK/out")
	[ -n "$v" ] && [ "$v" -ge $(($2 - 20)) ] && [ "$v" -le $(($2 + 1)) ]
}

no_word_in_stderr() {
	! grep -q -- "$1" "$WORK/err"
}

no_secret_in_stderr() {
	! grep -E 'secret-for|ecs-secret-token|imds-token' "$WORK/err" >/dev/null
}

# ---------------------------------------------------------------- IMDSv2
new_scenario ok
probe 0 "${IMDS[@]}"
check "imds: create succeeds" [ $? -eq 0 ]
check "imds: source is instance metadata" grep -q '^created source=instance metadata$' "$WORK/out"
check "imds: creation fetched once" [ "$(stat creds)" -eq 1 ]
check "imds: token PUT with TTL, token on GETs" [ "$(stat bad)" -eq 0 ]

new_scenario ok
probe 3 "${IMDS[@]}"
check "imds: probe with 3 gets succeeds" [ $? -eq 0 ]
check "imds: get1 refetched credentials expiring in 4 min" line_has get1 'key=AKID0002 secret=ok token=token-2 '
check "imds: get1 expiry ~240 s" expires_near get1 240
check "imds: get2 refetched again (still inside 5 min)" line_has get2 'key=AKID0003 secret=ok token=token-3 '
check "imds: get2 expiry ~3600 s" expires_near get2 3600
check "imds: get3 reuses fresh credentials" line_has get3 'key=AKID0003 '
check "imds: exactly 3 credential fetches" [ "$(stat creds)" -eq 3 ]
check "imds: one token per fetch" [ "$(stat token_put)" -eq 3 ]
check "imds: no protocol errors" [ "$(stat bad)" -eq 0 ]
check "imds: refresh logged without secrets" no_secret_in_stderr

new_scenario ok
probe "--threads 16" "${IMDS[@]}"
check "imds: 16 threads at once get consistent credentials" grep -q '^threads ok$' "$WORK/out"
check "imds: one refresh at a time (create + 2 fetches, not 16)" [ "$(stat creds)" -eq 3 ]
check "imds: threads: no protocol errors" [ "$(stat bad)" -eq 0 ]

new_scenario fail
probe 2 "${IMDS[@]}"
check "imds: failed refresh still succeeds" [ $? -eq 0 ]
check "imds: failed refresh keeps valid credentials" line_has get1 'key=AKID0001 secret=ok'
check "imds: no retry right after a failure" line_has get2 'key=AKID0001 '
check "imds: 2 credential requests (create + one refresh)" [ "$(stat creds)" -eq 2 ]
check "imds: refresh failure is logged" grep -q 'cannot refresh AWS credentials from instance metadata' "$WORK/err"
check "imds: failure logged without secrets" no_secret_in_stderr

new_scenario norole
probe 1 "${IMDS[@]}"
check "imds without a role: probe fails" [ $? -eq 2 ]
check "imds without a role: no credentials message" grep -q 'no AWS credentials found (set AWS_ACCESS_KEY_ID' "$WORK/err"
check "imds without a role: the role list was asked" [ "$(stat role_list)" -eq 1 ]

new_scenario ok
probe 1 "${IMDS[@]}" AWS_EC2_METADATA_DISABLED=true
check "imds disabled: probe fails" [ $? -eq 2 ]
check "imds disabled: no credentials message" grep -q 'no AWS credentials found' "$WORK/err"
check "imds disabled: server never contacted" [ "$(stat token_put)" -eq 0 ]

# ---------------------------------------------------------------- ECS
echo "ecs-secret-token" >"$WORK/token"
new_scenario ok
probe 3 "${IMDS[@]}" AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$PORT/ecs/creds" \
	AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$WORK/token"
check "ecs: probe succeeds" [ $? -eq 0 ]
check "ecs: source is container credentials" grep -q '^created source=container credentials$' "$WORK/out"
check "ecs: get1 refetched (4 min, +02:00 offset parsed)" line_has get1 'key=AKID0002 secret=ok token=token-2 '
check "ecs: get1 expiry ~240 s" expires_near get1 240
check "ecs: get2 refetched again" line_has get2 'key=AKID0003 '
check "ecs: get3 reuses" line_has get3 'key=AKID0003 '
check "ecs: 3 fetches, token file beat the variable" [ "$(stat ecs)" -eq 3 ]
check "ecs: IMDS not used" [ "$(stat token_put)" -eq 0 ]
check "ecs: no protocol errors" [ "$(stat bad)" -eq 0 ]

new_scenario ok
probe 1 AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$PORT/ecs/creds" \
	AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong
check "ecs wrong token: probe fails" [ $? -eq 2 ]
check "ecs wrong token: HTTP 401 reported" grep -q 'answered HTTP 401' "$WORK/err"
check "ecs wrong token: token not echoed" no_word_in_stderr wrong

if [ "$fails" -ne 0 ]; then
	echo "$fails check(s) failed"
	exit 1
fi
echo "all checks passed"
