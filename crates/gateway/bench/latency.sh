#!/usr/bin/env bash
# The gateway's added latency and its throughput, against a zero-latency fake on loopback.
#
# For each rate, oha sends the same non-streaming request directly to the fake and through the
# gateway (open loop, latency corrected for coordinated omission), in ROUNDS interleaved rounds
# of SECONDS each (each round starting with the next path, so none always runs first); the
# script prints the median over rounds of each percentile, and the difference from direct
# calls is what the gateway adds. Interleaving and medians matter here:
# on a shared 2-core machine one run's p50 moves by ±0.05 ms from whatever else is running.
#
# When nginx is on PATH (`apt-get install nginx-light`), the same rounds also go through a bare
# nginx reverse proxy (keep-alive upstream, no logging): what forwarding alone costs on this
# machine, the floor any gateway starts from.
#
# Each round also counts the CPU time (user and system, from /proc) of the proxy it measures,
# printed per request for each rate: the open-loop cost of a request, which the closed loop
# below amortizes over fuller wake-ups. Clock ticks are 10 ms, so it is printed only for a rate
# with at least 3 000 requests a round (1 000 req/s in rounds of 3 s; not 100 req/s under 30 s).
#
# Then the maximum throughput (direct, through the gateway and each other proxy measured) and
# the peak memory (VmHWM) of the gateway and of each other proxy but nginx. Needs oha (`cargo install oha`).
# Usage: [FAKE_THREADS=N] [GATEWAY_THREADS=N] [GATEWAY_BIN=PATH] [GATEWAY_BIN_B=PATH] [GATEWAY_B_YAML=YAML] [FLOOR=1] [CONTROL=1] crates/gateway/bench/latency.sh [SECONDS] [ROUNDS]
# (tokio worker threads of the fake, 2 by default; the gateway's serving threads, `--threads`,
# its default, one per core, when unset; GATEWAY_BIN runs another build of the gateway;
# GATEWAY_BIN_B measures a second build, `gateway-b`, in the same rounds, e.g. the PGO build
# of pgo.sh beside the plain dist build; GATEWAY_B_YAML runs gateway-b, the same build unless
# GATEWAY_BIN_B says otherwise, with that YAML appended to its config; FLOOR=1 measures the
# floors too, proxies that forward and do nothing else on the gateway's stack and thread
# layout, `floor` (without hyper, as the gateway's request path) and `floor-hyper` (hyper's
# server and client connections), from crates/gateway/bench/floor;
# CONTROL=1 a second nginx, `nginx-b`, the same as the first: its ratio to nginx is what the
# machine's noise alone makes of a ratio)
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
secs="${1:-5}"
rounds="${2:-5}"
cd "$root"
. crates/gateway/bench/rig.sh
if [ "${FLOOR:-0}" = 1 ]; then
  cargo build --release --quiet --locked --manifest-path crates/gateway/bench/floor/Cargo.toml --target-dir target/floor
fi
"${own_session[@]}" "${gateway_cmd[@]}" --config "$work/gateway.yaml" --listen 127.0.0.1:0 > "$work/gw.txt" 2> "$work/gw.log" &
gwpid=$!
wait_for "$work/gw.txt" 5 || { echo "the gateway did not start:" >&2; cat "$work/gw.log" >&2; exit 2; }
gateway="$(awk '{print $2}' "$work/gw.txt")"
targets=("direct $fake" "gateway $gateway")
# gateway-b: another build (GATEWAY_BIN_B), another config (GATEWAY_B_YAML, top-level YAML
# appended to its copy of the config, e.g. 'gateway: { pin_threads: true }'; not with a
# RIG_GATEWAY_YAML that has a `gateway:` section too: one key twice is refused), or both.
if [ -n "${GATEWAY_B_YAML:-}" ]; then
  cp "$work/gateway.yaml" "$work/gateway-b.yaml"
  printf '%s\n' "$GATEWAY_B_YAML" >> "$work/gateway-b.yaml"
  : "${GATEWAY_BIN_B:=${gateway_cmd[0]}}"
fi
# The proxies measured beside the gateway and nginx, "name pid": gateway-b, the floors; each
# prints its address in $work/NAME.txt.
others=()
if [ -n "${GATEWAY_BIN_B:-}" ]; then
  "${own_session[@]}" "$GATEWAY_BIN_B" "${gateway_cmd[@]:1}" --config "$work/gateway${GATEWAY_B_YAML:+-b}.yaml" --listen 127.0.0.1:0 > "$work/gateway-b.txt" 2> "$work/gateway-b.log" &
  others+=("gateway-b $!")
  wait_for "$work/gateway-b.txt" 5 || { echo "gateway-b did not start:" >&2; cat "$work/gateway-b.log" >&2; exit 2; }
  targets+=("gateway-b $(awk '{print $2}' "$work/gateway-b.txt")")
fi
# The floors (FLOOR=1), built above into target/floor: `floor` and `floor-hyper`.
if [ "${FLOOR:-0}" = 1 ]; then
  for floor in floor floor-hyper; do
    "${own_session[@]}" target/floor/release/switchyard-floor "${gateway_cmd[@]:1}" --config "$work/gateway.yaml" \
      --listen 127.0.0.1:0 $( [ "$floor" = floor-hyper ] && echo --hyper ) > "$work/$floor.txt" 2> "$work/$floor.log" &
    others+=("$floor $!")
    wait_for "$work/$floor.txt" 5 || { echo "$floor did not start:" >&2; cat "$work/$floor.log" >&2; exit 2; }
    targets+=("$floor $(awk '{print $2}' "$work/$floor.txt")")
  done
fi
if [ "${CONTROL:-0}" = 1 ]; then
  if start_nginx nginx-b; then targets+=("nginx-b $nginx"); else echo "(CONTROL=1: nginx-b did not start)"; fi
fi
if start_nginx; then
  targets+=("nginx $nginx")
else
  echo "(nginx not found: install nginx-light to measure a bare reverse proxy beside the gateway)"
fi
run() { # url qps(0 = as fast as possible) seconds
  local rate=()
  [ "$2" != 0 ] && rate=(-q "$2" --latency-correction)
  oha --no-tui --output-format json -z "${3}s" -c 64 "${rate[@]}" -m POST -H 'content-type: application/json' \
      -H 'authorization: Bearer bench' -d "$body" "$1/v1/chat/completions"
}
pct() { python3 -c "import json,sys; d=json.load(sys.stdin); p=d['latencyPercentiles']; s=d['summary']; print('%.3f %.3f %.0f %.4f' % (p['p50']*1e3, p['p99']*1e3, s['requestsPerSec'], s['successRate']))"; }
# The processes of each proxy, by name, whose CPU time each round counts (none for direct).
declare -A pids=([gateway]="$gwpid")
for f in "${others[@]}"; do read -r name pid <<< "$f"; pids[$name]="$pid"; done
for t in "${targets[@]}"; do
  read -r name _ <<< "$t"
  case "$name" in nginx*) pids[$name]="$(nginx_pids "$name")" ;; esac
done
# User and system CPU time (clock ticks) of the processes given, from /proc. A process that has
# gone counts nothing (a proxy that died fails its rounds; nginx's master replaces a worker
# that died, whose replacement this list does not have, and that round's figure is wrong).
cpu() {
  local u=0 s=0 p a b
  for p in "$@"; do
    read -r a b < <(awk '{print $14, $15}' "/proc/$p/stat" 2> /dev/null || echo 0 0)
    u=$((u + a)); s=$((s + b))
  done
  echo "$u $s"
}
: > "$work/rounds.txt"
for rate in ${RATES:-100 1000 5000}; do
  for round in $(seq "$rounds"); do
    # Each round starts one path later (direct, gateway, nginx; then gateway, nginx, direct;
    # ...), so that no path always runs first or always follows the same other one.
    shift_by=$(( (round - 1) % ${#targets[@]} ))
    for t in "${targets[@]:shift_by}" "${targets[@]:0:shift_by}"; do
      read -r name url <<< "$t"
      read -r u0 s0 < <(cpu ${pids[$name]:-})
      result="$(run "$url" "$rate" "$secs" | pct)"
      read -r u1 s1 < <(cpu ${pids[$name]:-})
      echo "$rate $name $result $((u1 - u0)) $((s1 - s0))" >> "$work/rounds.txt"
    done
  done
done
python3 - "$work/rounds.txt" "$rounds" "$secs" "$(getconf CLK_TCK)" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
secs, tck = float(sys.argv[3]), float(sys.argv[4])
print(f"median of {sys.argv[2]} interleaved rounds of {sys.argv[3]} s each (ms)")
print("rate    | path      | p50    | p99    | added p50 | added p99 | success")
for rate in sorted({r[0] for r in rows}, key=int):
    by = {}
    for r in rows:
        if r[0] == rate:
            by.setdefault(r[1], []).append(r)
    med = {n: (statistics.median(float(x[2]) for x in v), statistics.median(float(x[3]) for x in v),
               min(float(x[5]) for x in v)) for n, v in by.items()}
    d50, d99, _ = med["direct"]
    for name, (p50, p99, ok) in med.items():
        added = "" if name == "direct" else f"{p50 - d50:+.3f}    | {p99 - d99:+.3f}   "
        print(f"{rate:>5}/s | {name:9} | {p50:.3f}  | {p99:.3f}  | {added or '          |          '} | {ok:.4f}")
    if "nginx" in med:
        n50, n99 = med["nginx"][0] - d50, med["nginx"][1] - d99
        ratio = lambda g, n: f"{g / n:.2f}x" if n > 0 and g > 0 else "n/a"
        for gw in [n for n in med if n not in ("direct", "nginx")]:
            g50, g99 = med[gw][0] - d50, med[gw][1] - d99
            print(f"        added by {gw} / added by nginx: p50 {ratio(g50, n50)}, p99 {ratio(g99, n99)}")
    runs = {n: [x[2] for x in v] for n, v in by.items()}
    print(f"        p50 of each round: {runs}")
    runs = {n: [x[3] for x in v] for n, v in by.items()}
    print(f"        p99 of each round: {runs}")
    # CPU per request at this rate: each round's ticks over its requests (rate x seconds);
    # not below 3 000 requests a round, where a few 10 ms ticks cannot tell.
    # (A guard only: oha gives no percentiles for a round that served nothing, and `pct`
    # stops the script first.)
    per = lambda v, i: statistics.median([float(x[i]) * 1e6 / tck / (float(x[4]) * secs) for x in v if float(x[4]) > 0] or [float("nan")])
    if int(rate) * secs >= 3000:
        cpu = [f"{n} {per(v, 6):.1f} + {per(v, 7):.1f}" for n, v in by.items() if n != "direct"]
        print(f"        CPU per request, user + system (us, median of rounds): {', '.join(cpu)}")
    else:
        print("        CPU per request: not measured (fewer than 3 000 requests a round)")
PY
# CPU time (user + system, clock ticks) of the processes given, from /proc (`cpu` above).
ticks() { local u s; read -r u s < <(cpu "$@"); echo $((u + s)); }
# Closed loop for 10 s: requests per second, and CPU microseconds per request of the proxy.
closed() { # name url pids...
  local name="$1" url="$2"; shift 2
  local before after rps ok
  before="$(ticks "$@")"
  read -r _ _ rps ok < <(run "$url" 0 10 | pct)
  after="$(ticks "$@")"
  echo "$name $rps $ok $(python3 -c "r = $rps; print(round(($after - $before) * 1e6 / $(getconf CLK_TCK) / (r * 10), 1) if r > 0 else 'nan')")"
}
read -r _ dmax _ _ < <(closed direct "$fake" "$fakepid")
read -r _ gmax gok gcpu < <(closed gateway "$gateway" "$gwpid")
echo "max throughput: direct ${dmax} req/s, through the gateway ${gmax} req/s (success ${gok}), gateway CPU ${gcpu} us/request"
declare -A fmax fcpu
for f in "${others[@]}"; do
  read -r name pid <<< "$f"
  read -r _ "fmax[$name]" fok "fcpu[$name]" < <(closed "$name" "$(awk '{print $2}' "$work/$name.txt")" "$pid")
  echo "max throughput through $name ${fmax[$name]} req/s (success ${fok}), $name CPU ${fcpu[$name]} us/request"
done
if [ -f "$work/nginx.pid" ]; then
  read -r _ nmax nok ncpu < <(closed nginx "$nginx" ${pids[nginx]})
  echo "max throughput through nginx ${nmax} req/s (success ${nok}), nginx CPU ${ncpu} us/request"
  # Ratios of this proxy's figures to nginx's ('n/a' where nginx's is 0 or not a number).
  ratios() { python3 -c "
import math
def r(a, b): return f'{a / b:.2f}x' if b > 0 and not math.isnan(a) else 'n/a'
print('$1 / nginx: throughput %s, CPU per request %s' % (r($2, $nmax), r(float('$3'), float('$ncpu'))))"; }
  ratios gateway "$gmax" "$gcpu"
  for f in "${others[@]}"; do
    read -r name _ <<< "$f"
    ratios "$name" "${fmax[$name]}" "${fcpu[$name]}"
  done
fi
echo "gateway peak memory: $(awk '/VmHWM/ {print $2 " " $3}' /proc/$gwpid/status)"
for f in "${others[@]}"; do
  read -r name pid <<< "$f"
  echo "$name peak memory: $(awk '/VmHWM/ {print $2 " " $3}' "/proc/$pid/status")"
done
