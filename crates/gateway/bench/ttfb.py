"""Time to the first streamed content byte, per path, for crates/gateway/bench/stream.sh.

Usage: python3 ttfb.py N BODY NAME=URL [NAME=URL ...]

Each path gets one keep-alive connection. For N rounds, the paths are asked in turn (so the
machine's noise falls on all of them alike); each request's time runs from sending it to the
moment the first SSE `data:` event that carries content (`"content":"` with text) has arrived
on the socket, and the rest of the stream is read to its end. Prints per path the median and
p99 in milliseconds.

The reply is read as raw bytes, not through an HTTP library: the gateway sends its status and
headers together with the first content (until then it can still fail over), while the fake
and nginx send them as soon as the upstream answers. A client library that parses the headers
when they arrive (Python's `http.client` takes a few hundred microseconds) would charge that
parsing to the path whose headers come last, which is not time the path spent.
"""

import socket
import statistics
import sys
import time
import urllib.parse

CONTENT = b'"content":"'


def has_content(buf):
    """Whether `buf` holds a `"content":"` followed by text (not an empty string)."""
    i = buf.find(CONTENT)
    while i >= 0:
        j = i + len(CONTENT)
        if j < len(buf) and buf[j : j + 1] != b'"':
            return True
        if j >= len(buf):
            return False
        i = buf.find(CONTENT, j)
    return False


def first_content(sock, host, body):
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: {host}\r\n"
        "content-type: application/json\r\nauthorization: Bearer bench\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body
    start = time.perf_counter()
    sock.sendall(request)
    buf = b""
    seen = None
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("the connection closed mid-reply")
        buf += chunk
        if seen is None and has_content(buf):
            seen = time.perf_counter() - start
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            continue
        status = buf.split(b"\r\n", 1)[0]
        if b" 200 " not in status:
            raise SystemExit(f"status line {status!r}")
        # Every path answers a stream chunked; its end is the zero-length chunk.
        if buf.endswith(b"\r\n0\r\n\r\n"):
            break
    if seen is None:
        raise SystemExit("a stream without content")
    return seen


def main():
    n = int(sys.argv[1])
    body = sys.argv[2].encode()
    paths = []
    for arg in sys.argv[3:]:
        name, url = arg.split("=", 1)
        u = urllib.parse.urlsplit(url)
        sock = socket.create_connection((u.hostname, u.port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        paths.append((name, u.netloc, sock))
    times = {name: [] for name, _, _ in paths}
    for _ in range(n):
        for name, host, sock in paths:
            times[name].append(first_content(sock, host, body))
    for name, t in times.items():
        t.sort()
        p99 = t[min(len(t) - 1, int(len(t) * 0.99))]
        print(f"{name} {statistics.median(t) * 1e3:.3f} {p99 * 1e3:.3f}")


main()
