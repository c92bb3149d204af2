#!/usr/bin/env python3
"""A small OpenAI-compatible proxy that is not Switchyard: the second gateway of the black-box
demonstration (docs/BLACKBOX.md).

It serves POST /v1/chat/completions and forwards each request to ONE upstream
OpenAI-compatible endpoint, with the `model` replaced by the upstream's model, and relays the
answer as it comes: a JSON reply with its status, or an SSE stream chunk by chunk. It has no
failover, no retry and no breaker: when the upstream fails, the client sees the failure.

GET /_proxy/stats answers {"requests": N, "by_status": {...}}: what it received, so a test can
check that the runner's load went through it.

Usage: proxy.py --upstream http://127.0.0.1:PORT --model MODEL [--listen 127.0.0.1:0]
                [--api-key KEY]
Prints `proxy http://HOST:PORT` once listening; stops on SIGTERM or SIGINT. Standard library
only.
"""

import argparse
import http.client
import json
import signal
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Bounds on what the proxy reads: hostile input never grows memory past these.
MAX_BODY = 8 * 1024 * 1024
UPSTREAM_TIMEOUT = 60.0


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.by_status = {}

    def count(self, status):
        with self.lock:
            self.requests += 1
            key = str(status)
            self.by_status[key] = self.by_status.get(key, 0) + 1

    def snapshot(self):
        with self.lock:
            return {"requests": self.requests, "by_status": dict(self.by_status)}


def handler_for(upstream, model, api_key, stats):
    parsed = urllib.parse.urlsplit(upstream)
    host, port = parsed.hostname, parsed.port or 80
    prefix = parsed.path.rstrip("/")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args):  # quiet: the test reads the stats instead
            pass

        def send_json(self, status, value, close=False):
            body = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            if close:
                self.send_header("connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def error(self, status, message, kind="invalid_request_error", close=False):
            error = {"message": message, "type": kind, "param": None, "code": None}
            self.send_json(status, {"error": error}, close=close)

        def do_GET(self):
            if self.path == "/_proxy/stats":
                self.send_json(200, stats.snapshot())
            else:
                self.error(404, f"no route GET {self.path}")

        def do_POST(self):
            if self.path != "/v1/chat/completions":
                self.error(404, f"no route POST {self.path}")
                return
            try:
                length = int(self.headers.get("content-length", "0"))
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                # The body is not read: what is left of it on the connection is no request,
                # so the connection closes after this answer.
                self.close_connection = True
                self.error(413, "body missing or too large", close=True)
                return
            try:
                request = json.loads(self.rfile.read(length))
            except ValueError:
                self.error(400, "body is not JSON")
                return
            if not isinstance(request, dict):
                self.error(400, "body is not a JSON object")
                return
            request["model"] = model
            body = json.dumps(request).encode()
            conn = http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT)
            # Each request is counted once: by the upstream's status once it answered, else
            # as a 502. Once the answer's headers went out, a failure can only cut it.
            self.counted = False
            self.answering = False
            try:
                conn.request(
                    "POST",
                    prefix + "/v1/chat/completions",
                    body=body,
                    headers={
                        "content-type": "application/json",
                        "authorization": f"Bearer {api_key}",
                    },
                )
                response = conn.getresponse()
                stats.count(response.status)
                self.counted = True
                self.relay(response)
            except (OSError, http.client.HTTPException) as e:
                if not self.counted:
                    stats.count(502)
                self.close_connection = True
                if not self.answering:
                    try:
                        self.error(502, f"upstream: {type(e).__name__}", kind="server_error", close=True)
                    except OSError:
                        pass
            finally:
                conn.close()

        def relay(self, response):
            content_type = response.getheader("content-type", "application/json")
            streaming = content_type.startswith("text/event-stream")
            if not streaming:
                body = response.read(MAX_BODY + 1)
                if len(body) > MAX_BODY:
                    # Never a reply cut short as if whole: the client gets a whole error.
                    self.error(502, "upstream reply too large", kind="server_error")
                    return
            self.answering = True
            self.send_response(response.status)
            self.send_header("content-type", content_type)
            retry_after = response.getheader("retry-after")
            if retry_after is not None:
                self.send_header("retry-after", retry_after)
            if not streaming:
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            # A stream: relay each piece as it arrives, in chunked encoding.
            self.send_header("transfer-encoding", "chunked")
            self.send_header("cache-control", "no-cache")
            self.end_headers()
            while True:
                piece = response.read1(65536)
                if not piece:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--api-key", default="switchyard-dev")
    args = parser.parse_args()
    listen_host, _, listen_port = args.listen.rpartition(":")
    stats = Stats()
    server = ThreadingHTTPServer(
        (listen_host, int(listen_port)), handler_for(args.upstream, args.model, args.api_key, stats)
    )
    server.daemon_threads = True

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    print(f"proxy http://{host}:{port}", flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
