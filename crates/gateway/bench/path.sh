#!/usr/bin/env bash
# Where a proxied request's time goes on the proxy's serving threads, the gateway's beside a
# bare nginx's: the kernel's own tracepoints (syscalls and scheduling, recorded by `perf`),
# not a profiler, so it works where hardware counters do not (a VM) and does not slow the
# code it looks at.
#
# For each proxy, oha sends RATE non-streaming requests a second (1 000 by default) for
# SECONDS (2 by default) while perf records every syscall of the proxy's threads and every
# context switch and wake-up of the machine. Each stretch a serving thread runs between two
# `epoll_wait`s is one side of a request: the client's request read and sent upstream, or the
# upstream's reply read and written to the client. The script prints, for each kind of
# stretch (its syscalls in order), the median time in user space before each syscall: the
# time before the write that sends the request upstream, and before the one that writes the
# reply to the client, is time the client waits for; what comes after the last write is not.
# It also prints the median time from a serving thread's wake-up to its running, split by what
# the CPU it was woken on was doing (idle; running another process, e.g. oha or the fake;
# running another of the proxy's own threads), and the serving threads' CPU time per request
# (on-CPU time from the scheduler's switches, user and system together).
#
# Needs perf with tracepoints (`apt-get install linux-perf`, as root or with
# perf_event_paranoid <= 1 for tracepoints), oha and nginx. Usage:
#   [RATE=N] [GATEWAY_BIN=PATH] crates/gateway/bench/path.sh [SECONDS]
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
secs="${1:-2}"
rate="${RATE:-1000}"
cd "$root"
command -v perf > /dev/null || { echo "path.sh needs perf (apt-get install linux-perf)" >&2; exit 2; }
command -v nginx > /dev/null || { echo "path.sh needs nginx (apt-get install nginx-light)" >&2; exit 2; }
. crates/gateway/bench/rig.sh
"${own_session[@]}" "${gateway_cmd[@]}" --config "$work/gateway.yaml" --listen 127.0.0.1:0 > "$work/gw.txt" 2> "$work/gw.log" &
gwpid=$!
wait_for "$work/gw.txt" 5 || { echo "the gateway did not start:" >&2; cat "$work/gw.log" >&2; exit 2; }
start_nginx
load() { # url seconds [oha options]
  local url="$1" s="$2"
  shift 2
  oha --no-tui -z "${s}s" -c 64 -q "$rate" "$@" -m POST -H 'content-type: application/json' \
    -H 'authorization: Bearer bench' -d "$body" "$url/v1/chat/completions"
}
for t in "gateway $(awk '{print $2}' "$work/gw.txt") $gwpid" "nginx $nginx $(cat "$work/nginx.pid")"; do
  read -r name url pid <<< "$t"
  load "$url" 1 > /dev/null
  load "$url" "$((secs + 2))" --output-format json --latency-correction > "$work/$name.json" &
  ohapid=$!
  sleep 1
  # The proxy's threads (nginx: its master and workers).
  tids="$(for p in $pid $(pgrep -P "$pid" || true); do ls "/proc/$p/task"; done | tr '\n' ' ')"
  filter="$(for t in $tids; do printf 'common_pid == %s || ' "$t"; done)"
  filter="${filter% || }"
  perf record -q -a -o "$work/$name.data" \
    -e raw_syscalls:sys_enter --filter "$filter" -e raw_syscalls:sys_exit --filter "$filter" \
    -e sched:sched_switch -e sched:sched_wakeup -- sleep "$secs" 2> "$work/perf.log" \
    || { echo "perf could not record tracepoints:" >&2; cat "$work/perf.log" >&2; exit 2; }
  wait "$ohapid"
  perf script -i "$work/$name.data" -F tid,cpu,time,event,trace --ns 2> /dev/null > "$work/$name.txt"
  python3 - "$name" "$work/$name.txt" "$work/$name.json" "$tids" "$secs" <<'PY'
import collections, json, re, statistics, sys
name, trace, oha, tids = sys.argv[1], sys.argv[2], sys.argv[3], {int(t) for t in sys.argv[4].split()}
secs = float(sys.argv[5])
EPOLL = {232, 281, 441}
NAMES = {0: 'read', 1: 'write', 3: 'close', 20: 'writev', 44: 'sendto', 45: 'recvfrom',
         46: 'sendmsg', 47: 'recvmsg', 55: 'getsockopt', 202: 'futex'}
done = json.load(open(oha))
kinds = collections.defaultdict(list)  # syscalls of a stretch -> [user time before each]
open_stretch, last_exit, wakes, woken = {}, {}, [], {}
# What each CPU runs (pid, name); each wake-up's wait by what its CPU ran when it was woken;
# each serving thread's on-CPU time.
running, waits, on_cpu, since = {}, collections.defaultdict(list), 0.0, {}
line_re = re.compile(r'\s*(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)')
for line in open(trace):
    m = line_re.match(line)
    if not m:
        continue
    tid, cpu, t, event, rest = int(m[1]), int(m[2]), float(m[3]), m[4], m[5]
    if event == 'sched:sched_wakeup':
        woke = int(re.search(r' pid=(\d+)', rest)[1])
        if woke in tids:
            on = running.get(int(re.search(r'target_cpu=(\d+)', rest)[1]), 0)
            woken[woke] = (t, 'idle' if on == 0 else 'its own thread' if on in tids else 'another process')
        continue
    if event == 'sched:sched_switch':
        prev = int(re.search(r'prev_pid=(\d+)', rest)[1])
        nxt = int(re.search(r'next_pid=(\d+)', rest)[1])
        running[cpu] = nxt
        if prev in since:
            on_cpu += t - since.pop(prev)
        if nxt in tids:
            since[nxt] = t
        if nxt in woken:
            t0, on = woken.pop(nxt)
            wakes.append((t - t0) * 1e6)
            waits[on].append((t - t0) * 1e6)
        continue
    if tid not in tids:
        continue
    nr = int(re.search(r'NR (\d+)', rest)[1])
    if event.endswith('sys_enter'):
        if tid in open_stretch and tid in last_exit:
            calls, gaps = open_stretch[tid]
            if nr in EPOLL:
                kinds[tuple(calls)].append(gaps + [(t - last_exit[tid]) * 1e6])
                del open_stretch[tid]
            else:
                calls.append(NAMES.get(nr, str(nr)))
                gaps.append((t - last_exit[tid]) * 1e6)
    else:
        if nr in EPOLL:
            open_stretch[tid] = ([], [])
        last_exit[tid] = t
p50 = done['latencyPercentiles']['p50'] * 1e3
rps = done['summary']['requestsPerSec']
print(f"{name}: p50 {p50:.3f} ms at {rps:.0f} req/s; "
      f"wake-up to running, median {statistics.median(wakes) if wakes else float('nan'):.1f} us; "
      f"serving threads on a CPU {on_cpu * 1e6 / (rps * secs):.1f} us a request")
print('  wake-up to running by what the CPU ran: ' + '; '.join(
    f"{on} {statistics.median(w):.1f} us ({100 * len(w) / len(wakes):.0f} %)"
    for on, w in sorted(waits.items(), key=lambda kv: -len(kv[1]))))
total = sum(len(v) for v in kinds.values())
for calls, runs in sorted(kinds.items(), key=lambda kv: -len(kv[1]))[:3]:
    medians = [statistics.median(col) for col in zip(*runs)]
    steps = ' '.join(f"{m:.1f} us, {c};" for m, c in zip(medians, calls))
    print(f"  {100 * len(runs) / total:4.0f} % of stretches: {steps} {medians[-1]:.1f} us, epoll_wait")
PY
done
