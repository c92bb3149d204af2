#!/usr/bin/env bash
# Throughput of one fake with zero latency: non-streaming chat completions per second, and the
# server's resident memory before and after the load. Needs wrk (apt-get install -y wrk).
# Usage: crates/fake/bench/throughput.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
secs="${1:-10}"
conns="${2:-64}"
cd "$root"
cargo build --release --quiet
out="$(mktemp)"
target/release/switchyard fake serve --profile fake-providers/zero-latency.yaml > "$out" &
pid=$!
trap 'kill -INT $pid 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 50); do [ -s "$out" ] && break; sleep 0.1; done
url="$(awk '{print $3}' "$out")"
rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$pid/status"; }
echo "server $url, rss before: $(rss)"
wrk -t2 -c"$conns" -d"${secs}s" -s "$here/post.lua" "$url/v1/chat/completions"
echo "rss after first run: $(rss)"
wrk -t2 -c"$conns" -d"${secs}s" -s "$here/post.lua" "$url/v1/chat/completions" | grep -E "Requests/sec|Non-2xx"
echo "rss after second run: $(rss)"
curl -s "$url/_fake/counters"; echo
