#!/usr/bin/env bash
# Opens a report.html in headless Chromium (Debian's package) and checks what a person would
# see: the page renders offline, every chart is an inline SVG with its caption and legend,
# and a screenshot is written for a look. Run locally (needs root to install chromium):
#   tests/browser/check.sh [REPORT_HTML] [SCREENSHOT_PNG]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
html="${1:-$root/reports/active-passive-outage/report.html}"
png="${2:-/tmp/switchyard-report.png}"
[ -f "$html" ] && html="$(realpath "$html")"
if [ ! -f "$html" ]; then
  (cd "$root" && cargo run --release --quiet -- run scenarios/active-passive-outage.yaml >/dev/null || true)
fi
command -v chromium >/dev/null || apt-get install -y chromium >/dev/null
profile="$(mktemp -d)"
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update
       --disable-sync --no-first-run --user-data-dir="$profile")
# A first start with a fresh profile sometimes dumps the page before it is parsed: try again.
for _ in 1 2 3; do
  dom="$(chromium "${flags[@]}" --virtual-time-budget=2000 --dump-dom "file://$html" 2>/dev/null)"
  [ "$(grep -o '<svg' <<<"$dom" | wc -l)" -ge 6 ] && break
done
chromium "${flags[@]}" --screenshot="$png" --window-size=1400,2600 "file://$html" >/dev/null 2>&1
rm -rf "$profile"
svgs=$(grep -o '<svg' <<<"$dom" | wc -l)
[ "$svgs" -eq 6 ] || { echo "expected 6 charts in the rendered page, found $svgs" >&2; exit 1; }
for caption in "Traffic share per target" "Latency over time" "Errors per second by kind" "Breaker state per target" "Cumulative cost per provider" "Availability per target"; do
  grep -q "$caption" <<<"$dom" || { echo "missing chart: $caption" >&2; exit 1; }
done
grep -q 'id="expectations"' <<<"$dom" || { echo "no verdict table" >&2; exit 1; }
[ -s "$png" ] || { echo "no screenshot" >&2; exit 1; }
echo "rendered $html in Chromium: 6 charts, verdict table present; screenshot $png"
