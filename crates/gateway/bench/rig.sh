# Sourced by the gateway's bench scripts, from the repository root: builds the `dist` binary
# (release with fat LTO, what pgo.sh's build to deploy starts from; GATEWAY_BIN measures
# another, such as target/pgo/switchyard; RIG_CARGO_PROFILE=release for a quicker build),
# makes a scratch folder $work (removed on exit, with every background job stopped), starts a
# zero-latency fake on loopback (or the profile $RIG_PROFILE_YAML, serving model zero-1) and
# writes a gateway config in front of it (plus $RIG_GATEWAY_YAML, when set). Sets $fake (the fake's URL), $fakepid, $work/gateway.yaml and
# $body (the request: its prompt "hello", or RIG_PROMPT_BYTES bytes of text), and $gateway_cmd: the gateway's command line before its arguments
# ($GATEWAY_BIN, default target/<profile>/switchyard, then `gateway`, then `--threads
# $GATEWAY_THREADS` when that is set). A script with more to stop defines rig_cleanup before
# sourcing this.

rig_profile="${RIG_CARGO_PROFILE:-dist}"
cargo build --profile "$rig_profile" --quiet
work="$(mktemp -d)"
rig_stop() {
  if declare -F rig_cleanup > /dev/null; then rig_cleanup; fi
  local pid
  for pid in "$work"/nginx*.pid "$work"/tls/nginx.pid; do
    if [ -f "$pid" ]; then kill "$(cat "$pid")" 2>/dev/null || true; fi
  done
  kill -INT $(jobs -p) 2>/dev/null || true
  sleep 0.3
  rm -rf "$work"
}
trap rig_stop EXIT
profile=fake-providers/zero-latency.yaml
if [ -n "${RIG_PROFILE_YAML:-}" ]; then
  profile="$work/profile.yaml"
  printf '%s\n' "$RIG_PROFILE_YAML" > "$profile"
fi

# Waits until FILE has content (a server printed its address), for at most SECONDS.
wait_for() {
  for _ in $(seq $(( $2 * 10 ))); do [ -s "$1" ] && return 0; sleep 0.1; done
  echo "nothing in $1 after $2 s" >&2
  return 1
}

TOKIO_WORKER_THREADS="${FAKE_THREADS:-2}" "target/$rig_profile/switchyard" fake serve \
  --profile "$profile" > "$work/fake.txt" &
fakepid=$!
wait_for "$work/fake.txt" 5
# nginx daemonizes into a session of its own, and where the kernel groups a session's tasks
# for scheduling (autogroup, /proc/sys/kernel/sched_autogroup_enabled) that makes it a group
# of its own, apart from oha and the fake: woken by their packets, it preempts them at once.
# The gateway is started in a session of its own too (`"${own_session[@]}"`), as a service
# would run, so that both proxies are scheduled alike. Before this, the gateway shared oha's
# group and, at 5 000 req/s, waited a median 35 us for the CPU after a wake-up where nginx
# waited 1.3 us.
# (Not with job control on, `set -m` or sourced from an interactive shell: a background job
# then leads its process group, setsid forks, and `$!` would be setsid's pid, not the
# gateway's, which the script would neither measure nor stop.)
own_session=()
if command -v setsid > /dev/null && [[ $- != *m* ]]; then own_session=(setsid); fi
gateway_cmd=("${GATEWAY_BIN:-target/$rig_profile/switchyard}" gateway)
if [ -n "${GATEWAY_THREADS:-}" ]; then gateway_cmd+=(--threads "$GATEWAY_THREADS"); fi
fake="$(awk '{print $3}' "$work/fake.txt")"
# RIG_UPSTREAM_TLS=1: the gateway reaches the fake over TLS, through an nginx terminating it
# with a throwaway authority's certificate (tls.sh), as it reaches a provider in production;
# RIG_UPSTREAM_TLS_REQUESTS=N closes each TLS connection after N requests (1: a full handshake
# a request). Not with a RIG_GATEWAY_YAML that has a `gateway:` section of its own.
# `direct` and the bare nginx of latency.sh, stream.sh and cpu.sh still reach the fake in
# plain HTTP: with TLS, compare builds of the gateway with each other, not with nginx.
upstream="$fake"
if [ "${RIG_UPSTREAM_TLS:-0}" = 1 ]; then
  if grep -q '^gateway:' <<< "${RIG_GATEWAY_YAML:-}"; then
    echo "rig.sh: RIG_UPSTREAM_TLS=1 writes the gateway: section; RIG_GATEWAY_YAML has its own" >&2
    exit 2
  fi
  echo "(RIG_UPSTREAM_TLS=1: the gateway reaches the fake over TLS; direct and nginx do not)" >&2
  . crates/gateway/bench/tls.sh
  tls_make_ca "$work/tls"
  upstream="$(tls_start_nginx "$work/tls" "${fake#http://}" "${RIG_UPSTREAM_TLS_REQUESTS:-1000}")"
fi
cat > "$work/gateway.yaml" <<YAML
environment: development
providers:
  - { name: zero, dialect: openai, base_url: "https://api.openai.com", fake_base_url: "$upstream" }
router:
  targets:
    - { name: zero-1, provider: zero, model: zero-1 }
  routes:
    - { name: zero-1, policy: static, targets: [zero-1] }
YAML
if [ "$upstream" != "$fake" ]; then printf 'gateway:\n  upstream_ca_file: tls/ca.pem\n' >> "$work/gateway.yaml"; fi
# Extra top-level config (e.g. a `gateway:` section), from $RIG_GATEWAY_YAML.
if [ -n "${RIG_GATEWAY_YAML:-}" ]; then printf '%s\n' "$RIG_GATEWAY_YAML" >> "$work/gateway.yaml"; fi
# The request: "hello", or a prompt of RIG_PROMPT_BYTES bytes of text ("word word ...").
prompt=hello
if [ -n "${RIG_PROMPT_BYTES:-}" ]; then
  prompt="$(python3 -c "import sys; n = int(sys.argv[1]); print(('word ' * (n // 5 + 1))[:n])" "$RIG_PROMPT_BYTES")"
fi
body="{\"model\":\"zero-1\",\"messages\":[{\"role\":\"user\",\"content\":\"$prompt\"}],\"max_tokens\":16}"

# Starts a bare nginx reverse proxy in front of the fake (keep-alive upstream, no logging, no
# buffering, so a stream passes chunk by chunk) and sets $nginx to its URL: what forwarding
# alone costs on this machine. Returns 1 when nginx is not installed. NGINX_ACCESS_LOG=1 turns
# nginx's access log on (its default: a line per request, written as it is made, to a file in
# $work), for a comparison where both proxies log each request. NGINX_PIN=1 pins its two
# workers to a CPU each (`worker_cpu_affinity auto`), as `gateway.pin_threads: true` pins the
# gateway's serving threads. `start_nginx NAME` starts another one, its files under $work/NAME
# (its pid in $work/NAME.pid; NAME starts with nginx), $nginx then its URL.
start_nginx() {
  command -v nginx > /dev/null || return 1
  local name="${1:-nginx}" port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  mkdir -p "$work/$name"
  cat > "$work/$name/nginx.conf" <<CONF
worker_processes 2;
$( [ "${NGINX_PIN:-0}" = 1 ] && echo "worker_cpu_affinity auto;" )
pid $work/$name.pid;
error_log $work/$name/error.log;
events { worker_connections 1024; }
http {
  access_log $( [ "${NGINX_ACCESS_LOG:-0}" = 1 ] && echo "$work/$name/access.log" || echo off );
  upstream fake { server ${fake#http://}; keepalive 64; }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://fake; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
CONF
  nginx -c "$work/$name/nginx.conf" -p "$work/$name" -e "$work/$name/error.log" || return 1
  nginx="http://127.0.0.1:$port"
}

# This rig's nginx processes (master and workers; not another nginx on the machine), of the
# nginx started as NAME (default nginx). nginx writes its pid file and forks its two workers
# after `nginx` returns: waits up to 5 s for both, then prints what there is (nothing when
# there is no pid file); never fails, so a caller under `set -e` goes on.
nginx_pids() {
  local file="$work/${1:-nginx}.pid" master="" workers=""
  for _ in $(seq 50); do
    if [ -s "$file" ]; then
      master="$(cat "$file")"
      workers="$(pgrep -P "$master" | tr '\n' ' ' || true)"
      [ "$(wc -w <<< "$workers")" -ge 2 ] && break
    fi
    sleep 0.1
  done
  echo "$master $workers"
}
