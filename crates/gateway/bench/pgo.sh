#!/usr/bin/env bash
# A profile-guided build of switchyard (PGO): the `dist` build, optimized a second time with
# what the code did under a training load. Steps: build with instrumentation, run the training
# below, merge the counts (llvm-profdata), build again using them. Result: target/pgo/switchyard
# (the same program as target/dist/switchyard; on this repository's bench machine it runs the
# gateway's short pass-through request in 18 % fewer instructions, docs/GATEWAY.md "What a
# request costs").
#
# The training, bounded in count: zero-latency fakes of each dialect on loopback, the gateway in
# front of them, and oha sending plain and streamed requests on the pass-through path (most of
# the load; short prompts, 8 KB and 32 KB conversations, tools), across dialects (OpenAI
# clients to Anthropic and Gemini targets),
# and to /v1/messages; over TLS to a provider (an nginx terminating it with a throwaway
# authority's certificate, trusted through `gateway.upstream_ca_file`: on kept connections,
# and with a full handshake a request), and a failover from a provider that refuses connections
# (its breaker opening); then two scenarios in simulated time, so the runner is trained too.
#
# Needs oha, nginx, openssl, python3 and an llvm-profdata of rustc's LLVM version: `rustup
# component add llvm-tools`, or LLVM_PROFDATA=/path/to/llvm-profdata: on the machine that
# builds, not where the binary runs. Takes two dist builds (6 to 15 minutes on 2 cores).
# Usage: crates/gateway/bench/pgo.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
host="$(rustc -vV | sed -n 's/^host: //p')"
llvm="$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')"
profdata="${LLVM_PROFDATA:-}"
if [ -z "$profdata" ]; then
  for p in "$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata" "llvm-profdata-$llvm" llvm-profdata; do
    if command -v "$p" > /dev/null; then profdata="$p"; break; fi
  done
fi
version() { "$1" merge --version 2>&1 | grep -o 'LLVM version [0-9.]*' || echo 'no LLVM version'; }
if [ -z "$profdata" ] || ! version "$profdata" | grep -q "LLVM version $llvm\."; then
  echo "pgo.sh: needs llvm-profdata from LLVM $llvm (rustc's): \`rustup component add llvm-tools\`," \
    "or LLVM_PROFDATA=/path/to/llvm-profdata${profdata:+ (found $profdata: $(version "$profdata"))}" >&2
  exit 2
fi
command -v oha > /dev/null || { echo "pgo.sh: needs oha (cargo install oha)" >&2; exit 2; }
command -v python3 > /dev/null || { echo "pgo.sh: needs python3" >&2; exit 2; }
for tool in nginx openssl; do
  command -v "$tool" > /dev/null || { echo "pgo.sh: needs $tool, to train TLS to providers (apt-get install nginx-light openssl)" >&2; exit 2; }
done
. crates/gateway/bench/tls.sh

out="$root/target/pgo"
# The tree the build starts from: its commit and a digest of its changes, compared again after
# the second build, so that an edit or a checkout in between fails the build rather than
# ship a binary trained on other code.
# Untracked files count too (a new module not yet added).
tree_state() {
  printf '%s %s %s\n' "$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
    "$(git diff HEAD 2>/dev/null | sha256sum | cut -c1-16)" \
    "$(git ls-files -o --exclude-standard -z 2>/dev/null | xargs -0 -r sha256sum | sha256sum | cut -c1-16)"
}
before="$(tree_state)"
rm -rf "$out/raw" "$out/train" "$out/optimized"
mkdir -p "$out/raw" "$out/train"
# --target: the flags apply to the program only, not to build scripts and proc macros.
RUSTFLAGS="-Cprofile-generate=$out/raw" cargo build --quiet --profile dist -p switchyard \
  --target "$host" --target-dir "$out/instrumented"
bin="$out/instrumented/$host/dist/switchyard"
work="$out/train"
export LLVM_PROFILE_FILE="$out/raw/%p.profraw"
stop() {
  tls_stop_nginx "$work/tls"; tls_stop_nginx "$work/tls1"
  kill -INT $(jobs -p) 2>/dev/null || true; wait || true
}
trap stop EXIT
wait_for() {
  for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done
  echo "pgo.sh: nothing in $1 after 10 s" >&2
  return 1
}
fake() { # name dialect model: starts a zero-latency fake, its address in $work/NAME.txt
  printf '%s\n' "name: $1" "dialect: $2" "models: [{ name: $3, context_window: 128000 }]" \
    'latency: { first_token: { fixed: 0ms }, tokens_per_second: { fixed: 1000000 } }' \
    'output_tokens: { fixed: 16 }' 'keys: []' > "$work/$1.yaml"
  "$bin" fake serve --profile "$work/$1.yaml" > "$work/$1.txt" &
}
url() { wait_for "$work/$1.txt" && awk '{print $3}' "$work/$1.txt"; }
fake zero openai zero-1
fake zero-a anthropic claude-zero
fake zero-g gemini gemini-zero
openai="$(url zero)"
anthropic="$(url zero-a)"
gemini="$(url zero-g)"
# TLS in front of the OpenAI fake: one nginx keeping connections, one closing each after a
# request without resumption (so each request makes a full handshake).
tls_make_ca "$work/tls"
mkdir -p "$work/tls1" && cp "$work"/tls/server.* "$work/tls1/"
tls="$(tls_start_nginx "$work/tls" "${openai#http://}")"
tls1="$(tls_start_nginx "$work/tls1" "${openai#http://}" 1)"
cat > "$work/gateway.yaml" <<YAML
environment: development
providers:
  - { name: zero, dialect: openai, base_url: "https://api.openai.com", fake_base_url: "$openai" }
  - { name: zero-a, dialect: anthropic, base_url: "https://api.anthropic.com", fake_base_url: "$anthropic" }
  - { name: zero-g, dialect: gemini, base_url: "https://generativelanguage.googleapis.com", fake_base_url: "$gemini" }
  - { name: zero-tls, dialect: openai, base_url: "https://api.openai.com", fake_base_url: "$tls" }
  - { name: zero-tls1, dialect: openai, base_url: "https://api.openai.com", fake_base_url: "$tls1" }
  - { name: dead, dialect: openai, base_url: "https://api.openai.com", fake_base_url: "http://127.0.0.1:1" }
router:
  targets:
    - { name: zero-1, provider: zero, model: zero-1, capabilities: [streaming, tools, json_mode] }
    - { name: claude-zero, provider: zero-a, model: claude-zero }
    - { name: gemini-zero, provider: zero-g, model: gemini-zero }
    - { name: zero-tls, provider: zero-tls, model: zero-1 }
    - { name: zero-tls1, provider: zero-tls1, model: zero-1 }
    - { name: dead-1, provider: dead, model: zero-1 }
  routes:
    - { name: zero-1, policy: static, targets: [zero-1] }
    - { name: claude-zero, policy: static, targets: [claude-zero] }
    - { name: gemini-zero, policy: static, targets: [gemini-zero] }
    - { name: zero-tls, policy: static, targets: [zero-tls] }
    - { name: zero-tls1, policy: static, targets: [zero-tls1] }
    - { name: failover, policy: priority, tiers: [[dead-1], [zero-1]] }
gateway:
  upstream_ca_file: tls/ca.pem
YAML
"$bin" gateway --config "$work/gateway.yaml" --listen 127.0.0.1:0 > "$work/gw.txt" 2> "$work/gw.log" &
gwpid=$!
wait_for "$work/gw.txt"
gateway="$(awk '{print $2}' "$work/gw.txt")"
load() { # requests path body: every answer must be a 200
  local codes
  codes="$(oha --no-tui --output-format json -n "$1" -c 16 -t 10s -m POST -H 'content-type: application/json' \
    -H 'authorization: Bearer pgo' -d "$3" "$gateway$2" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["statusCodeDistribution"])')"
  [ "$codes" = "{'200': $1}" ] || { echo "pgo.sh: training $2 $3: answers $codes, not $1 x 200" >&2; exit 1; }
}
chat() { echo "{\"model\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}],\"max_tokens\":16${2:-}}"; }
load 30000 /v1/chat/completions "$(chat zero-1)"
load 5000 /v1/chat/completions "$(chat zero-1 ',"stream":true')"
# Longer conversations too (a system message and turns, 8 KB and 32 KB of text), and a
# request with tools and sampling fields (the typed pass): the loops over a body's bytes and
# the less usual fields are trained as well as the per-request work of a short one.
long() { # model bytes
  python3 - "$1" "$2" <<'PY'
import json, sys
model, size = sys.argv[1], int(sys.argv[2])
text = ("the quick brown fox jumps over a lazy dog while " * (size // 48 + 1))[:size]
q = size // 4
turns = [("system", 0), ("user", 1), ("assistant", 2), ("user", 3)]
print(json.dumps({"model": model, "max_tokens": 16, "messages": [
    {"role": role, "content": text[i * q:(i + 1) * q]} for role, i in turns]}))
PY
}
tools=',"temperature":0.2,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]'
load 5000 /v1/chat/completions "$(long zero-1 8000)"
load 1000 /v1/chat/completions "$(long zero-1 32000)"
load 2000 /v1/chat/completions "$(chat zero-1 "$tools")"
load 1000 /v1/chat/completions "$(long claude-zero 8000)"
for model in claude-zero gemini-zero; do
  load 3000 /v1/chat/completions "$(chat "$model")"
  load 1000 /v1/chat/completions "$(chat "$model" ',"stream":true')"
done
for model in zero-1 claude-zero; do
  load 2000 /v1/messages "$(chat "$model")"
  load 1000 /v1/messages "$(chat "$model" ',"stream":true')"
done
# TLS to the provider (every production request), and a full handshake a request.
load 10000 /v1/chat/completions "$(chat zero-tls)"
load 2000 /v1/chat/completions "$(chat zero-tls ',"stream":true')"
load 500 /v1/chat/completions "$(chat zero-tls1)"
# A failover: the first tier refuses connections until its breaker opens, then is skipped.
load 2000 /v1/chat/completions "$(chat failover)"
kill -INT "$gwpid"
wait "$gwpid" || { echo "pgo.sh: the gateway did not stop cleanly (its log: $work/gw.log)" >&2; exit 1; }
"$bin" run --quiet --out "$work/reports" scenarios/active-passive-outage.yaml scenarios/split-30-70.yaml ||
  { echo "pgo.sh: a training scenario failed (reports in $work/reports)" >&2; exit 1; }
stop
# Every process must have written its counts (each stops cleanly on SIGINT): three fakes,
# the gateway, the scenario run.
profiles=("$out"/raw/*.profraw)
[ "${#profiles[@]}" = 5 ] || { echo "pgo.sh: ${#profiles[@]} profiles in $out/raw, not 5" >&2; exit 1; }
for f in "${profiles[@]}"; do [ -s "$f" ] || { echo "pgo.sh: $f is empty" >&2; exit 1; }; done
"$profdata" merge -o "$out/merged.profdata" "$out"/raw/*.profraw
# From scratch (the folder was removed above): cargo does not see a changed profile.
# rustc warns of each function whose profile hash does not match (its counts are dropped):
# source changed in between, or, for some generic code, LLVM's own mismatch on unchanged
# source; the tree check below catches the first, the count is printed for the second.
RUSTFLAGS="-Cprofile-use=$out/merged.profdata" cargo build --quiet --profile dist -p switchyard \
  --target "$host" --target-dir "$out/optimized" 2> "$out/optimized.log" ||
  { cat "$out/optimized.log" >&2; exit 1; }
cat "$out/optimized.log" >&2
if [ "$(tree_state)" != "$before" ]; then
  echo "pgo.sh: the source changed during the build (the tree's commit, changes or untracked files); run it again" >&2
  exit 1
fi
mismatches="$(grep -c "hash mismatch" "$out/optimized.log" || true)"
if [ "$mismatches" != 0 ]; then
  echo "pgo.sh: warning: $mismatches functions' profiles did not match their code and were not used ($out/optimized.log)" >&2
fi
cp "$out/optimized/$host/dist/switchyard" "$out/switchyard"
# What was built: the commit, and whether the tree had changes beside it.
built="$(cut -c1-12 <<< "$before")"
if [ -n "$(git diff HEAD 2>/dev/null)$(git ls-files -o --exclude-standard 2>/dev/null)" ]; then
  built="$built with uncommitted changes"
fi
echo "$built" > "$out/switchyard.commit"
echo "target/pgo/switchyard (profile: target/pgo/merged.profdata, from ${#profiles[@]} processes; built from $built)"
