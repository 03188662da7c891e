#!/usr/bin/env python3
"""rgwlog.py - count the S3 requests each client made, per workload, from radosgw's log.

usage: rgwlog.py RGW_LOG BUCKET

radosgw (beast frontend) logs one line per request at debug level 1:
  ... beast: 0x..: 127.0.0.1 - testuser [date] "GET /bucket/key?query HTTP/1.1" 200 4096
      - "user-agent" bytes=0-4095 latency=0.004000000s
The client is told by its User-Agent (lithfs, s3fs, rclone, aws-cli, curl); the
workload by the key bench/run used for it (big/ reads, w-* writes, small-* files,
many/ listing). Prints a markdown table: requests of each kind (LIST, HEAD, GET, PUT,
COPY = PUT with a copy source is not visible in the log, so a PUT that sent a
small body right after a HEAD is counted as PUT), per client and workload, and the
summed server latency, which shows where a client spends round trips.
"""
import re
import sys
import urllib.parse
from collections import defaultdict

LINE = re.compile(r'beast: \S+ \S+ - \S+ \[[^\]]*\] "(\w+) (\S+) HTTP/[\d.]+" (\d+) (\d+) - '
                  r'"([^"]*)".*latency=([\d.]+)s')
CLIENTS = [("lithfs", "lithfs"), ("s3fs", "s3fs"), ("rclone", "rclone"),
           ("aws-cli", "awscli"), ("curl", "curl")]


def client_of(ua):
    for needle, name in CLIENTS:
        if needle in ua:
            return name
    return None


def workload_of(key, query):
    """key: the object key (bucket removed); query: for bucket requests."""
    if not key:
        key = urllib.parse.parse_qs(query).get("prefix", [""])[0]
    for prefix, name in (("big/", "seq/rand/two (1 GiB object)"), ("w-", "write"),
                         ("small-", "small files"), ("many", "ls 10,000 keys")):
        if key.startswith(prefix):
            return name
    return "other"


def kind_of(method, key, query):
    if method == "GET" and not key:
        return "LIST"
    if method == "POST" or "uploadId" in query or "uploads" in query:
        return "MULTIPART"
    return method


def main():
    log, bucket = sys.argv[1], sys.argv[2]
    count = defaultdict(int)
    lat = defaultdict(float)
    kinds = set()
    with open(log, errors="replace") as f:
        for line in f:
            m = LINE.search(line)
            if not m:
                continue
            method, target, _status, _bytes, ua, latency = m.groups()
            client = client_of(ua)
            path, _, query = target.partition("?")
            path = urllib.parse.unquote(path)
            if client is None or not path.startswith("/" + bucket):
                continue
            key = path[len(bucket) + 2:]
            kind = kind_of(method, key, query)
            wl = workload_of(key, query)
            kinds.add(kind)
            count[(wl, client, kind)] += 1
            lat[(wl, client)] += float(latency)
    kinds = sorted(kinds)
    print("| workload | client | " + " | ".join(kinds) + " | server time (s) |")
    print("|---|---|" + "---|" * (len(kinds) + 1))
    for wl, client in sorted(lat):
        print("| %s | %s | %s | %.1f |" % (wl, client, " | ".join(
            str(count.get((wl, client, k), 0)) for k in kinds), lat[(wl, client)]))


if __name__ == "__main__":
    main()
