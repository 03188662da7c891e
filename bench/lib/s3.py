#!/usr/bin/env python3
"""s3.py - the bench's own small S3 client (stdlib only): makes the data and checks
what the file systems wrote, independently of every client under test.

usage: s3.py CMD ARGS...   (env: S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
                            AWS_DEFAULT_REGION; path-style addressing)
  mb BUCKET                  create a bucket (ok if it is already ours)
  put BUCKET KEY FILE        one PUT of FILE
  put-many BUCKET PREFIX N SIZE [THREADS]
                             keys PREFIX00001..PREFIX<N> of SIZE bytes, THREADS (16)
                             keep-alive connections in parallel
  count BUCKET PREFIX        number of keys under PREFIX (ListObjectsV2 pages)
  size BUCKET KEY            the object's Content-Length (HEAD), or exit 1
  rm-prefix BUCKET PREFIX    delete every key under PREFIX (parallel DELETEs)
  rb BUCKET                  delete every key, then the bucket

Requests are signed with SigV4 and x-amz-content-sha256: UNSIGNED-PAYLOAD.
Every request has a 120 s socket timeout; a failed request is an error (exit 1).
"""
import datetime
import hashlib
import hmac
import http.client
import os
import sys
import threading
import urllib.parse
import xml.etree.ElementTree as ET

ENDPOINT = urllib.parse.urlsplit(os.environ["S3_ENDPOINT"])
ACCESS = os.environ["AWS_ACCESS_KEY_ID"]
SECRET = os.environ["AWS_SECRET_ACCESS_KEY"]
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign(method, path, query, headers):
    """Adds the SigV4 headers to headers (a dict, lower-case names)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    amzdate = now.strftime("%Y%m%dT%H%M%SZ")
    day = amzdate[:8]
    headers["host"] = ENDPOINT.netloc
    headers["x-amz-date"] = amzdate
    headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    names = sorted(headers)
    canon_q = "&".join(
        "%s=%s" % (urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
        for k, v in sorted(query.items()))
    canon = "\n".join([method, urllib.parse.quote(path, safe="/-_.~"), canon_q,
                       "".join("%s:%s\n" % (n, str(headers[n]).strip()) for n in names),
                       ";".join(names), "UNSIGNED-PAYLOAD"])
    scope = "%s/%s/s3/aws4_request" % (day, REGION)
    tosign = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope,
                        hashlib.sha256(canon.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + SECRET).encode(), day), REGION), "s3"),
                "aws4_request")
    sig = hmac.new(key, tosign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
        % (ACCESS, scope, ";".join(names), sig))


class Conn:
    """One keep-alive connection; request() reconnects once if the server closed it."""

    def __init__(self):
        self.c = None

    def request(self, method, path, query=None, body=None, length=None, ok=(200,)):
        query = query or {}
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection(ENDPOINT.hostname, ENDPOINT.port,
                                                    timeout=120)
            headers = {}
            if length is not None:
                headers["content-length"] = str(length)
            sign(method, path, query, headers)
            url = urllib.parse.quote(path, safe="/-_.~")
            if query:
                url += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
            try:
                self.c.request(method, url, body=body, headers=headers)
                r = self.c.getresponse()
                data = r.read()
            except (http.client.HTTPException, ConnectionError):
                self.c.close()
                self.c = None
                if attempt == 0 and (body is None or isinstance(body, bytes)):
                    continue
                raise
            if r.status not in ok:
                raise RuntimeError("%s %s: HTTP %d %s" % (method, path, r.status, data[:200]))
            return r, data
        raise RuntimeError("unreachable")


def list_keys(conn, bucket, prefix):
    token = None
    while True:
        q = {"list-type": "2", "prefix": prefix, "max-keys": "1000"}
        if token:
            q["continuation-token"] = token
        _, data = conn.request("GET", "/" + bucket, q)
        root = ET.fromstring(data)
        for c in root.iter(NS + "Contents"):
            yield c.find(NS + "Key").text
        if root.findtext(NS + "IsTruncated") != "true":
            return
        token = root.findtext(NS + "NextContinuationToken")


def parallel(jobs, threads, fn):
    """Runs fn(conn, job) for every job on THREADS threads; raises the first error."""
    it = iter(jobs)
    lock = threading.Lock()
    errors = []

    def worker():
        conn = Conn()
        while not errors:
            with lock:
                job = next(it, None)
            if job is None:
                return
            try:
                fn(conn, job)
            except Exception as e:  # reported once below
                errors.append(e)

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]


def cmd_mb(bucket):
    Conn().request("PUT", "/" + bucket, ok=(200, 409))


def cmd_put(bucket, key, path):
    with open(path, "rb") as f:
        Conn().request("PUT", "/%s/%s" % (bucket, key), body=f,
                       length=os.fstat(f.fileno()).st_size)


def cmd_put_many(bucket, prefix, n, size, threads="16"):
    body = b"x" * int(size)
    keys = ("%s%05d" % (prefix, i) for i in range(1, int(n) + 1))
    parallel(keys, int(threads),
             lambda c, k: c.request("PUT", "/%s/%s" % (bucket, k), body=body))


def cmd_count(bucket, prefix):
    print(sum(1 for _ in list_keys(Conn(), bucket, prefix)))


def cmd_size(bucket, key):
    r, _ = Conn().request("HEAD", "/%s/%s" % (bucket, key), ok=(200, 404))
    if r.status != 200:
        sys.exit(1)
    print(r.getheader("content-length"))


def cmd_rm_prefix(bucket, prefix):
    keys = list(list_keys(Conn(), bucket, prefix))
    parallel(keys, 16,
             lambda c, k: c.request("DELETE", "/%s/%s" % (bucket, k), ok=(204, 200, 404)))


def cmd_rb(bucket):
    cmd_rm_prefix(bucket, "")
    Conn().request("DELETE", "/" + bucket, ok=(204, 200, 404))


def main():
    cmds = {"mb": cmd_mb, "put": cmd_put, "put-many": cmd_put_many, "count": cmd_count,
            "size": cmd_size, "rm-prefix": cmd_rm_prefix, "rb": cmd_rb}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    try:
        cmds[sys.argv[1]](*sys.argv[2:])
    except (RuntimeError, OSError, http.client.HTTPException) as e:
        sys.exit("s3.py %s: %s" % (sys.argv[1], e))


if __name__ == "__main__":
    main()
