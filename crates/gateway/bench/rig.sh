# Sourced by the gateway's bench scripts: a zero-latency fake on loopback (or $RIG_PROFILE, a
# profile serving model zero-1) and a gateway config in front of it. Expects $work (a scratch
# folder) and the repository root as the current folder. Sets $fake (the fake's URL) and
# writes $work/gateway.yaml; $body is the request.

# Waits until FILE has content (a server printed its address), for at most SECONDS.
wait_for() {
  for _ in $(seq $(( $2 * 10 ))); do [ -s "$1" ] && return 0; sleep 0.1; done
  echo "nothing in $1 after $2 s" >&2
  return 1
}

TOKIO_WORKER_THREADS="${FAKE_THREADS:-2}" target/release/switchyard fake serve \
  --profile "${RIG_PROFILE:-fake-providers/zero-latency.yaml}" > "$work/fake.txt" &
wait_for "$work/fake.txt" 5
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
body='{"model":"zero-1","messages":[{"role":"user","content":"hello"}],"max_tokens":16}'
