#!/usr/bin/env bash
# What the gateway adds to a streamed reply: 50 tokens at 2 000 tokens/s (first token after
# 1 ms), one request at a time, direct to the fake and through the gateway. The difference
# is the gateway's per-chunk cost; a proxy that leaves Nagle's algorithm on shows it here as
# tens of milliseconds (each small chunk waits for the client's delayed ACK).
# Then the time to the first content byte, beside a bare nginx when installed (ttfb.py).
# Needs oha. Usage: crates/gateway/bench/stream.sh [REQUESTS]
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
n="${1:-200}"
cd "$root"
RIG_PROFILE_YAML='name: zero
dialect: openai
models:
  - { name: zero-1, context_window: 128000 }
latency:
  first_token: { fixed: 1ms }
  tokens_per_second: { fixed: 2000 }
output_tokens: { fixed: 50 }'
. crates/gateway/bench/rig.sh
"${own_session[@]}" "${gateway_cmd[@]}" --config "$work/gateway.yaml" --listen 127.0.0.1:0 > "$work/gw.txt" 2> "$work/gw.log" &
wait_for "$work/gw.txt" 5
gateway="$(awk '{print $2}' "$work/gw.txt")"
stream_body='{"model":"zero-1","messages":[{"role":"user","content":"hello"}],"max_tokens":50,"stream":true}'
run() {
  oha --no-tui --output-format json -n "$n" -c 1 -m POST -H 'content-type: application/json' \
      -H 'authorization: Bearer bench' -d "$stream_body" "$1/v1/chat/completions" |
    python3 -c "import json,sys; d=json.load(sys.stdin); p=d['latencyPercentiles']; print('%.2f %.2f' % (p['p50']*1e3, p['p99']*1e3))"
}
read -r d50 d99 < <(run "$fake")
read -r g50 g99 < <(run "$gateway")
python3 -c "print('streamed reply (50 tokens at 2000/s), %d requests: direct p50 %s / p99 %s ms, gateway p50 %s / p99 %s ms, added p50 %+.2f ms' % ($n, '$d50', '$d99', '$g50', '$g99', $g50 - $d50))"
# Time to the first content byte of the same stream, direct, through the gateway and through
# a bare nginx (when installed), asked in turn on keep-alive connections (ttfb.py).
paths=("direct=$fake" "gateway=$gateway")
if start_nginx; then paths+=("nginx=$nginx"); fi
python3 crates/gateway/bench/ttfb.py "$n" "$stream_body" "${paths[@]}" > "$work/ttfb.txt"
python3 - "$work/ttfb.txt" <<'PY'
import sys
t = {l.split()[0]: (float(l.split()[1]), float(l.split()[2])) for l in open(sys.argv[1])}
d = t["direct"]
for name, (p50, p99) in t.items():
    print(f"first content byte, {name:7}: p50 {p50:.3f} ms, p99 {p99:.3f} ms" +
          ("" if name == "direct" else f" (added p50 {p50 - d[0]:+.3f} ms)"))
if "nginx" in t and t["nginx"][0] > d[0]:
    print(f"added first byte, gateway / nginx: {(t['gateway'][0] - d[0]) / (t['nginx'][0] - d[0]):.2f}x")
PY
