"""Time to the first streamed content byte, per path, for crates/gateway/bench/stream.sh.

Usage: python3 ttfb.py N BODY NAME=URL [NAME=URL ...]

Each path gets one keep-alive connection. For N rounds, the paths are asked in turn (so the
machine's noise falls on all of them alike); each request's time runs from sending it to
reading the first SSE `data:` line that carries content (`"content":"` with text), and the
rest of the stream is read to its end. Prints per path the median and p99 in milliseconds.
"""

import http.client
import statistics
import sys
import time
import urllib.parse


def first_content(conn, path, body):
    start = time.perf_counter()
    conn.request(
        "POST",
        path,
        body=body,
        headers={"content-type": "application/json", "authorization": "Bearer bench"},
    )
    resp = conn.getresponse()
    if resp.status != 200:
        raise SystemExit(f"status {resp.status}: {resp.read()[:200]!r}")
    seen = None
    while True:
        line = resp.readline()
        if not line:
            break
        if seen is None and line.startswith(b"data: ") and b'"content":"' in line and b'"content":""' not in line:
            seen = time.perf_counter() - start
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
        paths.append((name, http.client.HTTPConnection(u.hostname, u.port, timeout=10)))
    times = {name: [] for name, _ in paths}
    for _ in range(n):
        for name, conn in paths:
            times[name].append(first_content(conn, "/v1/chat/completions", body))
    for name, t in times.items():
        t.sort()
        p99 = t[min(len(t) - 1, int(len(t) * 0.99))]
        print(f"{name} {statistics.median(t) * 1e3:.3f} {p99 * 1e3:.3f}")


main()
