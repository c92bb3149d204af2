#!/usr/bin/env bash
# Instructions the gateway executes per proxied request (valgrind callgrind): a count that,
# unlike wall-clock latency, does not move with whatever else the machine is doing. The
# gateway runs under callgrind in front of a zero-latency fake; after a warm-up, oha sends
# N non-streaming requests and the script prints the gateway's instructions per request
# (all threads; user space only — the kernel's share is not counted).
# Needs valgrind and oha. Usage: crates/gateway/bench/instructions.sh [N] [--annotate]
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
n="${1:-2000}"
cd "$root"
. crates/gateway/bench/rig.sh
valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
  "${gateway_cmd[@]}" --config "$work/gateway.yaml" --listen 127.0.0.1:0 > "$work/gw.txt" 2> "$work/valgrind.txt" &
wait_for "$work/gw.txt" 30
gateway="$(awk '{print $2}' "$work/gw.txt")"
pid="$(pgrep -f "callgrind-out-file=$work/cg.out")"
load() {
  oha --no-tui -n "$1" -c 4 -m POST -H 'content-type: application/json' -H 'authorization: Bearer bench' \
    -d "$body" "$gateway/v1/chat/completions" | awk '/Success rate/ {print $3}'
}
load 300 > /dev/null
callgrind_control -z "$pid" > /dev/null 2>&1
ok="$(load "$n")"
callgrind_control -d "$pid" > /dev/null 2>&1
out="$(ls "$work"/cg.out.* | tail -1)"
total="$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')"
echo "requests: $n (success $ok); gateway instructions: $total; per request: $((total / n))"
if [ "${2:-}" = --annotate ]; then
  cp "$out" /tmp/gateway-callgrind.out; echo "profile: /tmp/gateway-callgrind.out"
fi
