#!/usr/bin/env bash
# What `gateway.shared_state` costs a request, and what a replica costs Redis.
#
# Two gateways in front of the same zero-latency fake, with the same router (the target has a
# request and a token limit, so both are leased from shared buckets when shared): one without
# shared state ("off"), one sharing a local redis-server over TCP with `sync_every: 1s`
# ("on"). For each rate, oha sends the same non-streaming request directly to the fake, through
# "off" and through "on" (open loop, latency corrected for coordinated omission), in ROUNDS
# interleaved rounds of SECONDS each, "off" and "on" taking turns to go first (whichever runs
# second in every round runs on a warmer, busier machine: that alone showed as +0.1 ms at
# p50). The script prints the median over rounds of each percentile and what "on" adds over
# "off". Interleaving and medians matter: on a shared 2-core machine one run's p50 moves by
# ±0.05 ms from whatever else is running.
#
# Redis: the commands it processed (INFO total_commands_processed, which counts the commands
# inside scripts too, and the script calls in INFO commandstats: the store operations) before
# and after each "on" run, divided by the run's length, minus the INFO call itself; and the
# same over SECONDS with no traffic. Only one replica talks
# to this Redis, so these are the operations per second of one replica: they should not grow
# with the request rate (the lease blocks cover a sync period of traffic; one take per bucket
# per sync).
#
# Then, with valgrind on PATH (INSTRUCTIONS=0 skips it), the instructions each gateway executes
# per request, off and on.
#
# Needs oha and redis-server (`apt-get install redis-server`).
# Usage: [RATES="1000 5000"] crates/gateway/bench/fleet.sh [SECONDS] [ROUNDS]
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
secs="${1:-5}"
rounds="${2:-8}"
cd "$root"
command -v redis-server > /dev/null || { echo "redis-server not found: apt-get install redis-server" >&2; exit 2; }
rig_cleanup() { if [ -n "${redis_port:-}" ]; then redis-cli -p "$redis_port" shutdown nosave > /dev/null 2>&1 || true; fi; }
. crates/gateway/bench/rig.sh
redis_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" > "$work/redis.log" 2>&1 &
for _ in $(seq 50); do redis-cli -p "$redis_port" ping > /dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$redis_port" ping > /dev/null
# The target gets limits far above the offered load: they are leased, never reached.
sed -i 's/{ name: zero-1, provider: zero, model: zero-1 }/{ name: zero-1, provider: zero, model: zero-1, limits: { requests_per_minute: 10000000, tokens_per_minute: 10000000000 } }/' "$work/gateway.yaml"
grep -q requests_per_minute "$work/gateway.yaml"
cp "$work/gateway.yaml" "$work/off.yaml"
cp "$work/gateway.yaml" "$work/on.yaml"
printf 'gateway:\n  shared_state: { redis: "redis://127.0.0.1:%s", sync_every: 1s, replica: 1 }\n' "$redis_port" >> "$work/on.yaml"
for side in off on; do
  "${gateway_cmd[@]}" --config "$work/$side.yaml" \
    --listen 127.0.0.1:0 > "$work/$side.txt" 2> "$work/$side.log" &
  wait_for "$work/$side.txt" 5
done
off="$(awk '{print $2}' "$work/off.txt")"
on="$(awk '{print $2}' "$work/on.txt")"
run() { # url qps seconds
  oha --no-tui --output-format json -z "${3}s" -c 64 -q "$2" --latency-correction -m POST \
      -H 'content-type: application/json' -H 'authorization: Bearer bench' -d "$body" "$1/v1/chat/completions"
}
pct() { python3 -c "import json,sys; d=json.load(sys.stdin); p=d['latencyPercentiles']; s=d['summary']; print('%.3f %.3f %.0f %.4f' % (p['p50']*1e3, p['p99']*1e3, s['requestsPerSec'], s['successRate']))"; }
# Commands processed so far, and script calls (EVALSHA + EVAL), as "total scripts".
redis_count() {
  redis-cli -p "$redis_port" info all | python3 -c "
import sys
total = scripts = 0
for line in sys.stdin:
    line = line.strip()
    if line.startswith('total_commands_processed:'):
        total = int(line.split(':')[1])
    elif line.startswith('cmdstat_evalsha:') or line.startswith('cmdstat_eval:'):
        scripts += int(line.split('calls=')[1].split(',')[0])
print(total, scripts)"
}
now() { python3 -c 'import time; print(time.monotonic())'; }
# Operations per second over a span: (after - before - the one INFO call) / seconds.
ops_over() { # command... ; prints "total/s scripts/s"
  local t0 t1 b_total b_scripts a_total a_scripts
  read -r b_total b_scripts < <(redis_count)
  t0="$(now)"
  "$@" > "$work/last.txt"
  t1="$(now)"
  read -r a_total a_scripts < <(redis_count)
  python3 -c "d = $t1 - $t0; print('%.1f %.1f' % (($a_total - $b_total - 1) / d, ($a_scripts - $b_scripts) / d))"
}
sleep 2 # the "on" gateway joined and synced
read -r idle_total idle_scripts < <(ops_over sleep "$secs")
: > "$work/rounds.txt"
for rate in ${RATES:-1000 5000}; do
  for round in $(seq "$rounds"); do
    echo "$rate direct $(run "$fake" "$rate" "$secs" | pct) - -" >> "$work/rounds.txt"
    # "off" and "on" take turns going first, so neither always runs on a warmer machine.
    for side in $( [ $((round % 2)) = 1 ] && echo off on || echo on off ); do
      if [ "$side" = off ]; then
        echo "$rate off $(run "$off" "$rate" "$secs" | pct) - -" >> "$work/rounds.txt"
      else
        read -r total scripts < <(ops_over run "$on" "$rate" "$secs")
        echo "$rate on $(pct < "$work/last.txt") $total $scripts" >> "$work/rounds.txt"
      fi
    done
  done
done
python3 - "$work/rounds.txt" "$rounds" "$secs" "$idle_total" "$idle_scripts" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
print(f"median of {sys.argv[2]} interleaved rounds of {sys.argv[3]} s each (ms); shared state: redis over TCP, sync_every 1s")
print("rate    | path   | p50    | p99    | on - off p50 | on - off p99 | success | redis cmds/s | store ops/s")
for rate in sorted({r[0] for r in rows}, key=int):
    by = {}
    for r in rows:
        if r[0] == rate:
            by.setdefault(r[1], []).append(r)
    med = lambda v, i: statistics.median(float(x[i]) for x in v)
    o50, o99 = med(by["off"], 2), med(by["off"], 3)
    for name in ("direct", "off", "on"):
        v = by[name]
        p50, p99, ok = med(v, 2), med(v, 3), min(float(x[5]) for x in v)
        added = f"{p50 - o50:+.3f}       | {p99 - o99:+.3f}      " if name == "on" else "             |             "
        ops = f"{med(v, 6):>12.1f} | {med(v, 7):>9.1f}" if name == "on" else f"{'':>12} | {'':>9}"
        print(f"{rate:>5}/s | {name:6} | {p50:.3f}  | {p99:.3f}  | {added} | {ok:.4f}  | {ops}")
    print(f"        p50 of each round: off {[x[2] for x in by['off']]}, on {[x[2] for x in by['on']]}")
    print(f"        p99 of each round: off {[x[3] for x in by['off']]}, on {[x[3] for x in by['on']]}")
print(f"no traffic: {float(sys.argv[4]):.1f} redis cmds/s, {float(sys.argv[5]):.1f} store ops/s")
PY
grep -h "switchyard::fleet" "$work/on.log" | grep -iv "joined" | head -5 || true
# Instructions per request, off and on, twice each (valgrind callgrind, as instructions.sh):
# unlike latency, a count the machine's other load does not move. It includes the sync task's
# work during the run (ten publish ticks and one sync a second), spread over the requests.
if command -v valgrind > /dev/null && [ "${INSTRUCTIONS:-1}" != 0 ]; then
  for side in off on off on; do
    rm -f "$work"/cg.out* "$work/cg-gw.txt"
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
      "${gateway_cmd[@]}" --config "$work/$side.yaml" --listen 127.0.0.1:0 \
      > "$work/cg-gw.txt" 2> "$work/valgrind.txt" &
    wait_for "$work/cg-gw.txt" 30
    cg_url="$(awk '{print $2}' "$work/cg-gw.txt")"
    pid="$(pgrep -f "callgrind-out-file=$work/cg.out")"
    cg_load() { oha --no-tui -n "$1" -c 4 -m POST -H 'content-type: application/json' \
      -H 'authorization: Bearer bench' -d "$body" "$cg_url/v1/chat/completions" > /dev/null; }
    cg_load 300
    callgrind_control -z "$pid" > /dev/null 2>&1
    cg_load 2000
    callgrind_control -d "$pid" > /dev/null 2>&1
    total="$(callgrind_annotate "$(ls "$work"/cg.out.* | tail -1)" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')"
    echo "instructions per request, shared state $side: $((total / 2000))"
    kill -INT "$pid"; sleep 1
  done
fi
