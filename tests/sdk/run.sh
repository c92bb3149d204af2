#!/usr/bin/env bash
# SDK fidelity: installs the official SDKs in a venv (tests/sdk/.venv) and runs fidelity.py
# against the fakes, then gateway.py (the OpenAI SDK), gateway_fidelity.py (the OpenAI SDK,
# checked against what each fake received) and anthropic_sdk.py (the Anthropic SDK on
# /v1/messages) against the gateway. Usage: tests/sdk/run.sh [PATH_TO_SWITCHYARD_BINARY]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
binary="${1:-$root/target/debug/switchyard}"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
"$venv/bin/python" -c 'import openai, anthropic; print("openai", openai.__version__, "anthropic", anthropic.__version__)'
"$venv/bin/python" "$here/fidelity.py" "$binary"
"$venv/bin/python" "$here/gateway.py" "$binary"
"$venv/bin/python" "$here/gateway_fidelity.py" "$binary"
exec "$venv/bin/python" "$here/anthropic_sdk.py" "$binary"
