#!/usr/bin/env python3
"""Checks of proxy.py itself (run by run.py before the black-box runs; standard library only).

- A request whose upstream breaks mid-stream is counted once in /_proxy/stats.
- An upstream reply over the 8 MiB cap reaches the client as a whole 502, never cut short as
  if whole, and the connection stays usable.
- A 413 (body over the cap) closes the connection: the unread body is never taken for the next
  request.
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import proxy  # noqa: E402


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args):
        pass

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        request = json.loads(self.rfile.read(length))
        if request.get("stream"):
            # One chunk of a stream, then the connection drops: no terminating chunk.
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            piece = b'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        body = b"x" * (proxy.MAX_BODY + 10)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    upstream = serve(Upstream)
    stats = proxy.Stats()
    host, port = upstream.server_address[:2]
    front = serve(proxy.handler_for(f"http://{host}:{port}", "m", "k", stats))
    fhost, fport = front.server_address[:2]
    try:
        # 1. Broken mid-stream: the client's stream is cut, the request counted once.
        conn = http.client.HTTPConnection(fhost, fport, timeout=10)
        conn.request("POST", "/v1/chat/completions", body=json.dumps({"stream": True}))
        response = conn.getresponse()
        assert response.status == 200
        try:
            response.read()
            raise AssertionError("the cut stream read as whole")
        except http.client.IncompleteRead:
            pass
        conn.close()
        assert stats.snapshot() == {"requests": 1, "by_status": {"200": 1}}, stats.snapshot()

        # 2. An upstream reply over the cap: a whole 502, and the connection serves on.
        conn = http.client.HTTPConnection(fhost, fport, timeout=10)
        for _ in range(2):
            conn.request("POST", "/v1/chat/completions", body=json.dumps({"stream": False}))
            response = conn.getresponse()
            body = response.read()
            assert response.status == 502, response.status
            assert json.loads(body)["error"]["message"] == "upstream reply too large", body
        conn.close()
        assert stats.snapshot()["requests"] == 3, stats.snapshot()

        # 3. A body over the cap: 413, then the connection closes (the body left unread on
        # it is not parsed as a request).
        with socket.create_connection((fhost, fport), timeout=10) as s:
            s.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\n\r\n" % (proxy.MAX_BODY + 1)
                + b"GET /_proxy/stats HTTP/1.1\r\nhost: x\r\n\r\n"
            )
            received = b""
            while True:
                data = s.recv(65536)
                if not data:
                    break
                received += data
        assert received.startswith(b"HTTP/1.1 413"), received
        assert received.count(b"HTTP/1.1 ") == 1, received
        assert b"connection: close" in received.lower(), received
    finally:
        front.shutdown()
        upstream.shutdown()
    print("proxy.py: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
