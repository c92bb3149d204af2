#!/usr/bin/env bash
# CPU time per request, split into user and system time, of the gateway and of a bare nginx
# in front of the same zero-latency fake: closed loop (oha -c 64) for SECONDS, ROUNDS
# interleaved rounds, each process's own ticks from /proc (all its threads). On a machine
# shared with other work, compare the ratios gateway / nginx, not the absolute figures.
# Needs oha and nginx. Usage: [GATEWAY_THREADS=N] [GATEWAY_BIN=PATH] crates/gateway/bench/cpu.sh [SECONDS] [ROUNDS]
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
secs="${1:-5}"
rounds="${2:-3}"
cd "$root"
. crates/gateway/bench/rig.sh
"${own_session[@]}" "${gateway_cmd[@]}" --config "$work/gateway.yaml" --listen 127.0.0.1:0 > "$work/gw.txt" 2> "$work/gw.log" &
gwpid=$!
wait_for "$work/gw.txt" 5
gateway="$(awk '{print $2}' "$work/gw.txt")"
start_nginx || { echo "nginx not found (apt-get install nginx-light)" >&2; exit 1; }
sleep 0.5
# User and system clock ticks of the processes given, and their threads' context switches.
split() {
  local u=0 s=0 c=0 p a b
  for p in "$@"; do
    read -r a b < <(awk '{print $14, $15}' "/proc/$p/stat"); u=$((u + a)); s=$((s + b))
    c=$((c + $(cat /proc/"$p"/task/*/status | awk '/ctxt_switches/ {n += $2} END {print n}')))
  done
  echo "$u $s $c"
}
: > "$work/rounds.txt"
for round in $(seq "$rounds"); do
  for t in "gateway $gateway $gwpid" "nginx $nginx $(nginx_pids)"; do
    read -r name url pids <<< "$t"
    read -r u0 s0 c0 < <(split $pids)
    rps=$(oha --no-tui --output-format json -z "${secs}s" -c 64 -m POST -H 'content-type: application/json' \
      -H 'authorization: Bearer bench' -d "$body" "$url/v1/chat/completions" |
      python3 -c "import json,sys; print(json.load(sys.stdin)['summary']['requestsPerSec'])")
    read -r u1 s1 c1 < <(split $pids)
    echo "$name $rps $((u1 - u0)) $((s1 - s0)) $((c1 - c0))" >> "$work/rounds.txt"
  done
done
python3 - "$work/rounds.txt" "$secs" "$(getconf CLK_TCK)" <<'PY'
import statistics, sys
secs, tck = float(sys.argv[2]), float(sys.argv[3])
by = {}
for line in open(sys.argv[1]):
    name, rps, u, s, c = line.split()
    n = float(rps) * secs
    by.setdefault(name, []).append((float(rps), float(u) * 1e6 / tck / n, float(s) * 1e6 / tck / n, float(c) / n))
med = {}
for name, rows in by.items():
    med[name] = tuple(statistics.median(r[i] for r in rows) for i in range(4))
    print(f"{name:7} rps {med[name][0]:.0f}  user {med[name][1]:.1f} us  sys {med[name][2]:.1f} us  "
          f"context switches {med[name][3]:.2f} per request"
          f"  (rounds: {[(round(r[0]), round(r[1], 1), round(r[2], 1)) for r in rows]})")
g, n = med["gateway"], med["nginx"]
print(f"gateway / nginx: throughput {g[0] / n[0]:.2f}x, user {g[1] / n[1]:.2f}x, sys {g[2] / n[2]:.2f}x, "
      f"CPU per request {(g[1] + g[2]) / (n[1] + n[2]):.2f}x")
PY
echo "gateway peak memory: $(awk '/VmHWM/ {print $2 " " $3}' /proc/$gwpid/status)"
