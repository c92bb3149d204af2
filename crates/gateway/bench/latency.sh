#!/usr/bin/env bash
# The gateway's added latency and its throughput, against a zero-latency fake on loopback.
# For each rate, oha sends the same non-streaming request directly to the fake and through the
# gateway (open loop, latency corrected for coordinated omission); the difference of the
# percentiles is what the gateway adds. Then the gateway's maximum throughput, and its peak
# memory (VmHWM). Needs oha (`cargo install oha`).
# Usage: [FAKE_THREADS=N] [GATEWAY_THREADS=N] crates/gateway/bench/latency.sh [SECONDS]
# (tokio worker threads of the fake and the gateway; 2 each by default)
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
secs="${1:-10}"
cd "$root"
cargo build --release --quiet
work="$(mktemp -d)"
trap 'kill -INT $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
TOKIO_WORKER_THREADS="${FAKE_THREADS:-2}" target/release/switchyard fake serve --profile fake-providers/zero-latency.yaml > "$work/fake.txt" &
for _ in $(seq 50); do [ -s "$work/fake.txt" ] && break; sleep 0.1; done
fake="$(awk '{print $3}' "$work/fake.txt")"
cat > "$work/gateway.yaml" <<YAML
environment: development
providers:
  - { name: zero, dialect: openai, base_url: "https://api.openai.com", fake_base_url: "$fake" }
router:
  targets:
    - { name: zero-1, provider: zero, model: zero-1 }
  routes:
    - { name: zero-1, policy: static, targets: [zero-1] }
YAML
TOKIO_WORKER_THREADS="${GATEWAY_THREADS:-2}" target/release/switchyard gateway --config "$work/gateway.yaml" --listen 127.0.0.1:0 > "$work/gw.txt" &
gwpid=$!
for _ in $(seq 50); do [ -s "$work/gw.txt" ] && break; sleep 0.1; done
gateway="$(awk '{print $2}' "$work/gw.txt")"
body='{"model":"zero-1","messages":[{"role":"user","content":"hello"}],"max_tokens":16}'
run() { # url qps(0 = as fast as possible)
  local rate=()
  [ "$2" != 0 ] && rate=(-q "$2" --latency-correction)
  oha --no-tui --output-format json -z "${secs}s" -c 64 "${rate[@]}" -m POST -H 'content-type: application/json' \
      -H 'authorization: Bearer bench' -d "$body" "$1/v1/chat/completions"
}
pct() { python3 -c "import json,sys; d=json.load(sys.stdin); p=d['latencyPercentiles']; s=d['summary']; print('%.3f %.3f %.0f %.4f' % (p['p50']*1e3, p['p99']*1e3, s['requestsPerSec'], s['successRate']))"; }
echo "rate    | direct p50 / p99 ms | gateway p50 / p99 ms | added p50 / p99 ms"
for rate in 1000 5000; do
  read -r d50 d99 _ _ < <(run "$fake" "$rate" | pct)
  read -r g50 g99 _ gok < <(run "$gateway" "$rate" | pct)
  python3 -c "print('%5d/s | %8.3f / %8.3f | %8.3f / %8.3f | %8.3f / %8.3f  (gateway success %s)' % ($rate, $d50, $d99, $g50, $g99, $g50-$d50, $g99-$d99, '$gok'))"
done
read -r _ _ dmax _ < <(run "$fake" 0 | pct)
read -r _ _ gmax gok < <(run "$gateway" 0 | pct)
echo "max throughput: direct ${dmax} req/s, through the gateway ${gmax} req/s (success ${gok})"
echo "gateway peak memory: $(awk '/VmHWM/ {print $2 " " $3}' /proc/$gwpid/status)"
