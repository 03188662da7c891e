#!/bin/bash
# s3-wire-errors.sh - failures a real S3 server rarely shows on demand, from a
# small fake S3 server (Python, 127.0.0.1) that misbehaves on purpose, each
# checked for the errno the S3 backend must return (tests/s3_probe's exit
# status) and its log line:
#   body cut short (Content-Length 100, 50 sent, closed)    ECONNRESET 104
#   headers, then silence past io_timeout                  ETIMEDOUT  110
#   206 whose Content-Range starts elsewhere than asked    EIO          5
#   503 SlowDown                                           EAGAIN      11
#   502 with an HTML body (a proxy)                        EAGAIN      11
#   CompleteMultipartUpload: 200 with <Error> InternalError EAGAIN     11
#   CompleteMultipartUpload: 200 with <Error> AccessDenied  EACCES     13
#   CompleteMultipartUpload answered after 4 s > io_timeout 0 (server work)
#   ListObjectsV2: 200 with truncated XML                  EIO          5
#   a good ranged GET (the server is sane otherwise)       0
#   the same, virtual-hosted: Host b.localhost:PORT         0
#   TLS with a self-signed certificate                     EPROTO      71
#   the same with that certificate as ca_file              0
set -u

BUILD=${LITHFS_BUILD:?set LITHFS_BUILD}
PROBE=$BUILD/tests/s3_probe
[ -x "$PROBE" ] || { echo "FAIL: $PROBE not built (make check builds it)"; exit 1; }
command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/s3-wire-errors.XXXXXX")
SERVER_PID=
TLS_PID=
fails=0
cleanup() {
	local pid
	for pid in $SERVER_PID $TLS_PID; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/server.py" <<'EOF'
import socket, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERR = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>'
DATA = bytes(range(100))

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def send(self, code, body, ctype="application/xml", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        path = self.path.split("?")[0]
        host = self.headers.get("Host", "")
        if host.startswith("b.localhost:"):
            path = "/b" + path          # virtual-hosted style
        if path == "/b/trunc":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(DATA[:50])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif path == "/b/stall":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(DATA[:10])
            self.wfile.flush()
            time.sleep(8)
            self.close_connection = True
        elif path == "/b/wrongrange":
            self.send(206, DATA[5:10], "application/octet-stream",
                      [("Content-Range", "bytes 5-9/100")])
        elif path == "/b/slowdown":
            self.send(503, (ERR % ("SlowDown", "Please reduce your request rate.")).encode())
        elif path == "/b/proxy":
            self.send(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
        elif path == "/b/good":
            self.send(206, DATA[10:20], "application/octet-stream",
                      [("Content-Range", "bytes 10-19/100")])
        elif path == "/b" and "list-type=2" in self.path:
            self.send(200, b'<?xml version="1.0"?><ListBucketResult><Contents><Key>x')
        else:
            self.send(404, (ERR % ("NoSuchKey", "no such key")).encode())
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        if self.path.startswith("/b/kslow"):
            time.sleep(4)               # the server assembling a big object
            self.send(200, b'<CompleteMultipartUploadResult><ETag>"abc-1"</ETag>'
                           b'</CompleteMultipartUploadResult>')
            return
        code = "InternalError" if self.path.startswith("/b/k500") else "AccessDenied"
        self.send(200, (ERR % (code, "inside a 200")).encode())

srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
if len(sys.argv) > 2:
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
EOF

# the same server once more over TLS, with a self-signed certificate
TLS_PID=
if command -v openssl >/dev/null &&
   openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
	-days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1; then
	python3 "$WORK/server.py" "$WORK/tlsport" "$WORK/cert.pem" "$WORK/key.pem" &
	TLS_PID=$!
fi
python3 "$WORK/server.py" "$WORK/port" &
SERVER_PID=$!
for _ in $(seq 1 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
[ -s "$WORK/port" ] || { echo "FAIL: fake server did not start"; exit 1; }
export S3_ENDPOINT=http://127.0.0.1:$(cat "$WORK/port") S3_IO_TIMEOUT_MS=2000
export AWS_ACCESS_KEY_ID=AKIAFAKE000000000000 AWS_SECRET_ACCESS_KEY=fake-secret-fake-secret
export AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/nonexistent/lithfs-aws-config AWS_SHARED_CREDENTIALS_FILE=/nonexistent/lithfs-aws-credentials
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3

# expect NAME WANT_EXIT LOG_PATTERN PROBE_ARGS...
expect() {
	local name=$1 want=$2 pattern=$3 out=$WORK/$1.err
	shift 3
	timeout 60 "$PROBE" "$@" >"$WORK/$name.out" 2>"$out"
	local got=$?
	if [ "$got" != "$want" ]; then
		echo "FAIL: $name: exit $got, want $want"; cat "$out"; fails=$((fails + 1))
	elif [ -n "$pattern" ] && ! grep -q -- "$pattern" "$out"; then
		echo "FAIL: $name: no log line matching '$pattern'"; cat "$out"; fails=$((fails + 1))
	else
		echo "ok   $name: exit $got ${pattern:+($(grep -m1 -- "$pattern" "$out"))}"
	fi
}

expect truncated-body 104 "s3 get trunc: Connection reset by peer" get b trunc 0 end
t0=$(date +%s%N)
expect stalled-body 110 "s3 get stall: Connection timed out" get b stall 0 end
ms=$((($(date +%s%N) - t0) / 1000000))
if [ $ms -gt 4500 ]; then
	echo "FAIL: stalled-body: took $ms ms with io_timeout 2000 ms"; fails=$((fails + 1))
fi
expect wrong-range 5 "did not honour Range from byte 0" get b wrongrange 0 10
expect slowdown 11 "HTTP 503 SlowDown: Please reduce" get b slowdown 0 end
expect proxy-502 11 "HTTP 502" get b proxy 0 end
expect error-in-200-transient 11 "s3 mpu_complete k500: .*HTTP 200 InternalError: inside a 200" \
	complete b k500 upload-1
expect error-in-200-denied 13 "HTTP 200 AccessDenied: inside a 200" complete b k403 upload-1
expect slow-complete 0 "" complete b kslow upload-1
expect malformed-list 5 "malformed XML response" list b p/
S3_ENDPOINT=http://localhost:${S3_ENDPOINT##*:} S3_ADDRESSING=virtual \
	expect virtual-host 0 "" get b good 10 10
grep -q '^10 bytes$' "$WORK/virtual-host.out" ||
	{ echo "FAIL: virtual-host: Host b.localhost was not used"; fails=$((fails + 1)); }
expect missing-key 2 "" get b nothing 0 end
expect good-range 0 "" get b good 10 10
grep -q '^10 bytes$' "$WORK/good-range.out" || { echo "FAIL: good-range: not 10 bytes"; fails=$((fails + 1)); }

# TLS: an untrusted certificate is a clear, non-transient error; with the
# certificate given as ca_file the same request works
if [ -n "$TLS_PID" ]; then
	for _ in $(seq 1 100); do [ -s "$WORK/tlsport" ] && break; sleep 0.1; done
	S3_ENDPOINT=https://127.0.0.1:$(cat "$WORK/tlsport")
	expect tls-untrusted 71 "certificate.*give its CA with ca_file" get b good 10 10
	S3_CA_FILE=$WORK/cert.pem expect tls-with-ca-file 0 "" get b good 10 10
	grep -q '^10 bytes$' "$WORK/tls-with-ca-file.out" ||
		{ echo "FAIL: tls-with-ca-file: not 10 bytes"; fails=$((fails + 1)); }
else
	echo "FAIL: no TLS server (openssl missing?)"; fails=$((fails + 1))
fi

[ $fails = 0 ] && echo "s3-wire-errors: all passed"
[ $fails = 0 ]
