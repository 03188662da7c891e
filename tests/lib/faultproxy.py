#!/usr/bin/env python3
"""faultproxy.py - a faulty HTTP/1.1 proxy on 127.0.0.1 for reliability tests.

Usage: faultproxy.py UPSTREAM_HOST:PORT PORTFILE [RATE] [STALL_S] [SEED] [KINDS]

Listens on an ephemeral 127.0.0.1 port (written to PORTFILE once listening)
and forwards each request, byte for byte, to UPSTREAM. For each request, with
probability RATE (default 0.1), one fault is injected instead of a clean
forward, taking KINDS in turn (comma-separated, a kind listed twice comes
twice as often; default reset,truncate,stall,drop), so that N faults hit every
kind once N >= len(KINDS), however the random draws fall:
  reset     the client connection is reset (SO_LINGER 0) before any answer
  truncate  the response headers and only half of the body are sent, then a reset
  stall     the response is held back STALL_S seconds (default 2), then sent
  drop      the request is forwarded, then the connection is reset before the answer
  midstall  (GET with a body of 2+ bytes; else a stall) the headers and half of
            the body are sent, then nothing more: the connection stays open until
            the client gives up on it (at most 120 s). Only the client's own I/O
            timeout ends that; how long the longest one lasted is reported as
            maxhang_ms, and a later request for the same key whose Range starts
            right after the bytes sent counts as resumed.
SIGUSR2 pauses the injection (every request is forwarded cleanly), SIGUSR1
resumes it. Counts of forwarded requests and of each fault are printed to
stderr every 100 requests and at SIGTERM. Requests are parsed enough to frame them
(Content-Length or chunked; lithfs sends no "Expect: 100-continue"); responses
by Content-Length, chunked, or EOF. Bodies framed by Content-Length are
forwarded as they arrive, so the proxy itself adds no pause a short client
I/O timeout could take for a stall.
"""
import os
import random
import signal
import socket
import struct
import sys
import threading
import time

UPSTREAM = None
RATE = 0.1
STALL = 2.0
KINDS = ("reset", "truncate", "stall", "drop")
ALL_KINDS = KINDS + ("midstall",)
HANG_MAX = 120.0
injecting = True  # SIGUSR2 clears it, SIGUSR1 sets it
counts = {"requests": 0, **{k: 0 for k in ALL_KINDS}, "resumed": 0, "maxhang_ms": 0}
turn = [0]  # faults injected: the next kind is KINDS[turn % len(KINDS)]
resume_at = {}  # path -> byte offsets a resumed GET of it would start at
lock = threading.Lock()
rng = random.Random()


def report():
    with lock:
        line = " ".join("%s=%d" % kv for kv in counts.items())
    sys.stderr.write("faultproxy: %s\n" % line)
    sys.stderr.flush()


def hard_reset(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self):
        out = self.buf
        self.buf = b""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                out += data
        except OSError:
            pass
        return out


def range_start(head):
    """The first byte a request asks for (0 without a Range header)."""
    for h in head.split(b"\r\n")[1:]:
        name, _, value = h.partition(b":")
        if name.strip().lower() == b"range":
            value = value.strip()
            if value.startswith(b"bytes=") and value[6:7].isdigit():
                return int(value[6:].split(b"-")[0])
    return 0


def hang(client, path, start, sent):
    """midstall: keep the connection open, sending nothing, until the client
    closes it; record how long that took and where a resume would start."""
    with lock:
        resume_at.setdefault(path, set()).add(start + sent)
    t0 = time.monotonic()
    client.settimeout(HANG_MAX)
    try:
        while client.recv(65536):
            pass
    except OSError:
        pass
    ms = int((time.monotonic() - t0) * 1000)
    with lock:
        counts["maxhang_ms"] = max(counts["maxhang_ms"], ms)


def read_head(rd, is_response):
    """Returns (head bytes, status, length, chunked, close) of one HTTP message."""
    head = rd.line()
    status = 0
    if is_response:
        status = int(head.split()[1])
    length = None
    chunked = False
    close = False
    while True:
        h = rd.line()
        head += h
        if h == b"\r\n":
            break
        name, _, value = h.partition(b":")
        name = name.strip().lower()
        value = value.strip()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and value.lower() == b"close":
            close = True
    return head, status, length, chunked, close


def read_message(rd, is_response, method=b""):
    """Returns (head bytes, body bytes, status, close) of one HTTP message."""
    head, status, length, chunked, close = read_head(rd, is_response)
    body = b""
    if is_response and (method == b"HEAD" or status in (204, 304) or 100 <= status < 200):
        return head, body, status, close
    if chunked:
        while True:
            size_line = rd.line()
            body += size_line
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                while True:
                    t = rd.line()
                    body += t
                    if t == b"\r\n":
                        break
                break
            body += rd.exact(size + 2)
    elif length is not None:
        body = rd.exact(length)
    elif is_response:
        body = rd.rest()
        close = True
    return head, body, status, close


def pump(rd, dst, n):
    """Forwards the next n bytes of rd to socket dst as they arrive."""
    while n > 0:
        if not rd.buf:
            rd.fill()
        piece, rd.buf = rd.buf[:n], rd.buf[n:]
        dst.sendall(piece)
        n -= len(piece)


def handle(client):
    upstream = None
    try:
        crd = Reader(client)
        while True:
            # a request body framed by Content-Length is forwarded as it
            # arrives (below), so the proxy adds no silent pause of its own
            # after a big upload's last byte; a chunked one is read first
            try:
                head, _, length, chunked, _ = read_head(crd, False)
                body = b""
                if chunked:
                    crd.buf = head + crd.buf
                    head, body, _, _ = read_message(crd, False)
                    length = None
            except (EOFError, OSError):
                return
            method, path = head.split(b" ", 2)[:2]
            start = range_start(head)
            with lock:
                counts["requests"] += 1
                n = counts["requests"]
                if method == b"GET" and start in resume_at.get(path, ()):
                    resume_at[path].discard(start)
                    counts["resumed"] += 1
                fault = None
                if injecting and rng.random() < RATE:  # kinds in turn: each one
                    fault = KINDS[turn[0] % len(KINDS)]  # is hit for sure
                    turn[0] += 1
            if n % 100 == 0:
                report()
            if fault == "reset":
                with lock:
                    counts[fault] += 1
                hard_reset(client)
                return
            if upstream is None:
                upstream = socket.create_connection(UPSTREAM, timeout=120)
            upstream.sendall(head + body)
            pump(crd, upstream, length or 0)
            # the response is forwarded as it arrives too (a big GET read
            # whole first would be a silent pause the proxy adds by itself)
            urd = Reader(upstream)
            rhead, status, length, chunked, close = read_head(urd, True)
            rbody = b""
            if method == b"HEAD" or status in (204, 304) or 100 <= status < 200:
                length = 0
            elif chunked or length is None:  # framed by chunks or EOF: read it whole
                urd.buf = rhead + urd.buf
                rhead, rbody, status, close = read_message(urd, True, method)
                length = 0
            size = length + len(rbody)
            if fault == "midstall" and not (method == b"GET" and 200 <= status < 300
                                            and size > 1):
                fault = "stall"
            if fault:
                with lock:
                    counts[fault] += 1
            if fault == "drop":
                hard_reset(client)
                return
            if fault == "stall":
                time.sleep(STALL)
            if fault in ("midstall", "truncate") and size > 1:
                half = size // 2
                client.sendall(rhead + rbody[:half])
                pump(urd, client, half - min(half, len(rbody)))
                if fault == "midstall":
                    hang(client, path, start, half)
                hard_reset(client)
                return
            client.sendall(rhead + rbody)
            pump(urd, client, length)
            if close:
                return
    except (OSError, EOFError, ValueError, IndexError):
        pass
    finally:
        if upstream is not None:
            upstream.close()
        try:
            client.close()
        except OSError:
            pass


def main():
    global UPSTREAM, RATE, STALL, KINDS
    host, _, port = sys.argv[1].rpartition(":")
    UPSTREAM = (host, int(port))
    portfile = sys.argv[2]
    if len(sys.argv) > 3:
        RATE = float(sys.argv[3])
    if len(sys.argv) > 4:
        STALL = float(sys.argv[4])
    rng.seed(int(sys.argv[5]) if len(sys.argv) > 5 else os.getpid())
    if len(sys.argv) > 6:
        KINDS = tuple(sys.argv[6].split(","))
        bad = [k for k in KINDS if k not in ALL_KINDS]
        if bad:
            sys.exit("faultproxy: unknown fault kind(s): %s" % ",".join(bad))
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)

    def stop(*_):
        report()
        os._exit(0)
    signal.signal(signal.SIGTERM, stop)

    def inject(on):
        def handler(*_):
            global injecting
            injecting = on
        return handler
    signal.signal(signal.SIGUSR1, inject(True))
    signal.signal(signal.SIGUSR2, inject(False))
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(portfile + ".tmp", portfile)
    while True:
        c, _ = srv.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
