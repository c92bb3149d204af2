"""The gateway with the official OpenAI Python SDK as its client.

Starts two fakes (`switchyard fake serve`), writes a gateway config that routes `chat` to
the OpenAI-dialect fake with the Anthropic-dialect fake as standby, starts `switchyard
gateway`, and drives it with the `openai` SDK: plain and streamed completions (a stream being
the OpenAI target's own chunks, logprobs included), a failover
during a primary outage that the client never sees, a cut stream surfacing as an error, and
admin overrides taking effect.

Usage: python gateway.py PATH_TO_SWITCHYARD_BINARY
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

import openai

HERE = os.path.dirname(os.path.abspath(__file__))
BINARY = None
FAKES = {}
GATEWAY = None
PROCS = []
KEY = "gw-test-key"
ADMIN = "admin-secret"


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def http(method, url, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, raw
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def fault(name, body):
    http("DELETE", FAKES[name] + "/_fake/faults")
    if body:
        status, _ = http("POST", FAKES[name] + "/_fake/faults", body)
        assert status == 201, status


def setUpModule():
    global GATEWAY
    args = [BINARY, "fake", "serve", "--listen", "127.0.0.1:0"]
    for p in ("openai.yaml", "anthropic.yaml"):
        args += ["--profile", os.path.join(HERE, "profiles", p)]
    fakes = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    PROCS.append(fakes)
    for _ in range(2):
        name, _, url = fakes.stdout.readline().split()
        FAKES[name] = url
    config = f"""
environment: development
providers:
  - {{ name: primary, dialect: openai, base_url: "https://api.openai.com", fake_base_url: "{FAKES['sdk-openai']}", mock_key: sk-fidelity }}
  - {{ name: backup, dialect: anthropic, base_url: "https://api.anthropic.com", fake_base_url: "{FAKES['sdk-anthropic']}", mock_key: sk-ant-fidelity }}
router:
  targets:
    - {{ name: primary-gpt, provider: primary, model: gpt-4o, capabilities: [streaming, tools] }}
    - {{ name: backup-claude, provider: backup, model: claude-sonnet-4, capabilities: [streaming, tools] }}
  routes:
    - {{ name: chat, policy: priority, tiers: [[primary-gpt], [backup-claude]] }}
  plan: {{ max_attempts: 3, attempt_timeout: 10s, deadline: 20s }}
  breaker: {{ consecutive_failures: 50 }}
gateway:
  admin_token_sha256: {sha(ADMIN)}
  expose_attempts: true
  keys:
    - {{ name: tests, sha256: {sha(KEY)} }}
"""
    path = os.path.join(tempfile.mkdtemp(), "gateway.yaml")
    with open(path, "w") as f:
        f.write(config)
    gw = subprocess.Popen([BINARY, "gateway", "--config", path, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    PROCS.append(gw)
    line = gw.stdout.readline().split()
    assert line[0] == "gateway", line
    GATEWAY = line[1]


def tearDownModule():
    for p in PROCS:
        p.send_signal(2)
    for p in PROCS:
        assert p.wait(timeout=40) == 0, "a server did not stop cleanly on Ctrl-C"


class Gateway(unittest.TestCase):
    def setUp(self):
        fault("sdk-openai", None)
        fault("sdk-anthropic", None)
        http("POST", GATEWAY + "/admin/overrides", {"action": "restore"}, ADMIN)
        self.client = openai.OpenAI(api_key=KEY, base_url=GATEWAY + "/v1", max_retries=0, timeout=20)

    def ask(self, **kw):
        return self.client.chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": "Say hello"}], max_tokens=50, **kw
        )

    def test_plain_completion_names_the_serving_model(self):
        raw = self.ask()
        r = raw.parse()
        self.assertEqual(r.model, "gpt-4o")
        self.assertEqual(len(r.choices[0].message.content.split(" ")), 12)
        self.assertEqual(r.usage.completion_tokens, 12)
        self.assertEqual(raw.headers["x-switchyard-attempts"], "1")
        self.assertEqual(raw.headers["x-switchyard-target"], "primary-gpt")

    def test_streamed_completion(self):
        stream = self.client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "hi"}], max_tokens=50, stream=True, stream_options={"include_usage": True}
        )
        text, usage = "", None
        for chunk in stream:
            usage = chunk.usage or usage
            for c in chunk.choices:
                text += c.delta.content or ""
        self.assertEqual(len(text.split(" ")), 12)
        self.assertEqual(usage.completion_tokens, 12)

    def test_a_streamed_reply_is_the_openai_targets_own_chunks(self):
        # Fields the gateway does not model reach the SDK (the fake's fingerprint, each text
        # token's logprobs); without include_usage, no chunk carries usage.
        stream = self.client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "hi"}], max_tokens=50, stream=True, logprobs=True
        )
        text, tokens, fingerprints, usages = "", "", set(), 0
        for chunk in stream:
            fingerprints.add(chunk.system_fingerprint)
            usages += chunk.usage is not None
            for c in chunk.choices:
                text += c.delta.content or ""
                if c.logprobs is not None:
                    tokens += "".join(t.token for t in c.logprobs.content)
        self.assertEqual(len(text.split(" ")), 12)
        self.assertEqual(tokens, text)
        self.assertEqual(fingerprints, {"fp_switchyard"})
        self.assertEqual(usages, 0)

    def test_failover_during_a_primary_outage_is_invisible(self):
        fault("sdk-openai", {"kind": "http", "status": 503})
        for _ in range(3):
            raw = self.ask()
            r = raw.parse()
            self.assertEqual(r.model, "claude-sonnet-4")
            self.assertEqual(len(r.choices[0].message.content.split(" ")), 12)
            self.assertEqual(raw.headers["x-switchyard-attempts"], "2")
            # Every attempt, in order: the primary's 503, then the standby's reply.
            log = [entry.split(" ") for entry in raw.headers["x-switchyard-attempt-log"].split(", ")]
            self.assertEqual([(t, o) for t, o, _ in log], [("primary-gpt", "overloaded"), ("backup-claude", "success")])

    def test_a_cut_stream_is_an_error_to_the_client(self):
        fault("sdk-openai", {"kind": "stream_cut", "after_tokens": 3})
        text = ""
        with self.assertRaises(Exception) as ctx:
            for chunk in self.client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}], max_tokens=50, stream=True):
                for c in chunk.choices:
                    text += c.delta.content or ""
        self.assertNotIsInstance(ctx.exception, AssertionError)
        self.assertTrue(text, "some tokens arrived before the cut")

    def test_admin_overrides_take_effect(self):
        status, _ = http("POST", GATEWAY + "/admin/overrides", {"action": "drain", "target": "primary-gpt"}, "wrong")
        self.assertEqual(status, 401)
        status, _ = http("POST", GATEWAY + "/admin/overrides", {"action": "drain", "target": "primary-gpt"}, ADMIN)
        self.assertEqual(status, 200)
        self.assertEqual(self.ask().parse().model, "claude-sonnet-4")
        status, body = http("GET", GATEWAY + "/admin/state", None, ADMIN)
        state = json.loads(body)
        self.assertTrue(state["targets"][0]["drained"])
        self.assertTrue(any(e["action"] == "drain" for e in state["admin_log"]))
        http("POST", GATEWAY + "/admin/overrides", {"action": "restore", "target": "primary-gpt"}, ADMIN)
        self.assertEqual(self.ask().parse().model, "gpt-4o")

    def test_keys_bad_json_models_and_metrics(self):
        bad = openai.OpenAI(api_key="nope", base_url=GATEWAY + "/v1", max_retries=0)
        with self.assertRaises(openai.AuthenticationError):
            bad.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
        status, body = http("POST", GATEWAY + "/v1/chat/completions", None, KEY)
        self.assertEqual(status, 400)
        self.assertIn("error", json.loads(body))
        with self.assertRaises(openai.NotFoundError):
            self.client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
        # The routes, then the targets a client may name.
        self.assertEqual([m.id for m in self.client.models.list()], ["chat", "primary-gpt", "backup-claude"])
        self.assertEqual(self.client.models.retrieve("chat").id, "chat")
        with self.assertRaises(openai.NotFoundError):
            self.client.models.retrieve("nope")
        status, body = http("GET", GATEWAY + "/metrics")
        self.assertEqual(status, 200)
        self.assertIn(b"switchyard_requests_total", body)


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
