"""What reaches the provider: the official OpenAI SDK through the gateway, checked against
the fakes' journals (`GET /_fake/journal`: the requests each upstream really received).

Starts an OpenAI-, an Anthropic- and a Gemini-dialect fake (`switchyard fake serve`) and
`switchyard gateway` with one route per target, a `vision` route whose first target has no
`vision` capability and a `text-only` route with only that target. Then, with the `openai`
SDK as the client:

- sampling fields, `response_format` and an unknown field reach an OpenAI target as the
  client sent them, byte for byte, with only `model` replaced;
- a function-calling round trip (tools, tool_calls, the tool's result, the final answer),
  plain and streamed, through each dialect, each upstream seeing its vendor's own shapes;
- JSON mode: `json_object` to OpenAI and Gemini, `json_schema` to all three, and
  `json_object` refused (400 naming `response_format`) on an Anthropic-only route;
- an image (a data URL) reaching each vendor in its own image shape, skipping a target
  without `vision`, and refused (400 naming the need) on a route with no vision target;
- no `max_tokens`: a whole answer from every target, Anthropic sent the target's
  `default_max_tokens`, OpenAI and Gemini sent no limit.

Usage: python gateway_fidelity.py PATH_TO_SWITCHYARD_BINARY
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import unittest
import urllib.request

import jsonschema
import openai

HERE = os.path.dirname(os.path.abspath(__file__))
BINARY = None
FAKES = {}
GATEWAY = None
PROCS = []
KEY = "gw-fidelity-key"
# The Anthropic target's default_max_tokens: what it is sent when the client sets none.
CLAUDE_DEFAULT_MAX = 1000
# A 1x1 PNG.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
# Each route, the fake behind it and the model that fake is asked for.
ROUTES = {
    "to-openai": ("sdk-openai", "gpt-4o"),
    "to-anthropic": ("sdk-anthropic", "claude-sonnet-4"),
    "to-gemini": ("sdk-gemini", "gemini-2.0-flash"),
}
WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
TOOLS = [{"type": "function", "function": {"name": "weather", "description": "The weather in a city now", "parameters": WEATHER}}]
ANSWER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "score": {"type": "integer", "minimum": 1, "maximum": 10}},
    "required": ["city", "score"],
    "additionalProperties": False,
}


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def control(fake, method, path):
    req = urllib.request.Request(FAKES[fake] + path, method=method)
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def received(fake):
    """The bodies `fake` received since the last clear, oldest first (control calls aside)."""
    entries = control(fake, "GET", "/_fake/journal")["entries"]
    return [e["body"] for e in reversed(entries)]


def clear():
    for fake in FAKES:
        control(fake, "DELETE", "/_fake/journal")


def setUpModule():
    global GATEWAY
    args = [BINARY, "fake", "serve", "--listen", "127.0.0.1:0"]
    for p in ("openai.yaml", "anthropic.yaml", "gemini.yaml"):
        args += ["--profile", os.path.join(HERE, "profiles", p)]
    fakes = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    PROCS.append(fakes)
    for _ in range(3):
        name, _, url = fakes.stdout.readline().split()
        FAKES[name] = url
    all_caps = "capabilities: [streaming, tools, json_mode, vision]"
    config = f"""
environment: development
providers:
  - {{ name: oai, dialect: openai, base_url: "https://api.openai.com", fake_base_url: "{FAKES['sdk-openai']}", mock_key: sk-fidelity }}
  - {{ name: ant, dialect: anthropic, base_url: "https://api.anthropic.com", fake_base_url: "{FAKES['sdk-anthropic']}", mock_key: sk-ant-fidelity }}
  - {{ name: gem, dialect: gemini, base_url: "https://generativelanguage.googleapis.com", fake_base_url: "{FAKES['sdk-gemini']}", mock_key: AIza-fidelity }}
router:
  targets:
    - {{ name: gpt, provider: oai, model: gpt-4o, {all_caps} }}
    - {{ name: claude, provider: ant, model: claude-sonnet-4, default_max_tokens: {CLAUDE_DEFAULT_MAX}, {all_caps} }}
    - {{ name: gemini, provider: gem, model: gemini-2.0-flash, {all_caps} }}
    - {{ name: gpt-text, provider: oai, model: gpt-4o, capabilities: [streaming, tools, json_mode] }}
  routes:
    - {{ name: to-openai, policy: static, targets: [gpt] }}
    - {{ name: to-anthropic, policy: static, targets: [claude] }}
    - {{ name: to-gemini, policy: static, targets: [gemini] }}
    - {{ name: vision, policy: priority, tiers: [[gpt-text], [claude]] }}
    - {{ name: text-only, policy: static, targets: [gpt-text] }}
  plan: {{ max_attempts: 2, attempt_timeout: 10s, deadline: 20s }}
  breaker: {{ consecutive_failures: 50 }}
gateway:
  expose_attempts: true
  log_level: warn
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


class Fidelity(unittest.TestCase):
    def setUp(self):
        clear()
        # The SDK's own bytes, as it sent them, for comparison with what the upstream got.
        self.sent = []
        hooks = {"request": [lambda request: self.sent.append(request.read())]}
        self.http = openai.DefaultHttpxClient(event_hooks=hooks, timeout=20)
        self.client = openai.OpenAI(api_key=KEY, base_url=GATEWAY + "/v1", max_retries=0, http_client=self.http)

    def tearDown(self):
        self.http.close()

    def only(self, fake):
        """The one body `fake` received in this test, and that no other fake received any."""
        for other in FAKES:
            if other != fake:
                self.assertEqual(received(other), [], f"{other} was not to be asked")
        bodies = received(fake)
        self.assertEqual(len(bodies), 1, bodies)
        return bodies[0]

    # -- sampling and unknown fields -------------------------------------------------------

    def test_an_openai_target_gets_the_clients_fields_unchanged(self):
        messages = [{"role": "user", "content": "Answer in JSON: the capital of France?"}]
        r = self.client.chat.completions.create(
            model="to-openai", messages=messages, temperature=0.35, stop=["END", "STOP"], seed=1234,
            response_format={"type": "json_object"}, extra_body={"x_vendor_knob": {"level": 3, "tags": ["a", "b"]}},
        )
        json.loads(r.choices[0].message.content)
        upstream = self.only("sdk-openai")
        client = json.loads(self.sent[0])
        self.assertEqual(client["model"], "to-openai")
        self.assertEqual(upstream["model"], "gpt-4o")
        for field in ("temperature", "stop", "seed", "response_format", "x_vendor_knob", "messages"):
            self.assertEqual(upstream[field], client[field], field)
        self.assertEqual(upstream, dict(client, model="gpt-4o"))
        # Byte for byte, in the client's order: only the model's value differs.
        raw = control("sdk-openai", "GET", "/_fake/journal?raw=true")["entries"][0]["body"]
        self.assertEqual(raw.encode(), self.sent[0].replace(b'"model":"to-openai"', b'"model":"gpt-4o"'))

    # -- function calling ------------------------------------------------------------------

    def call_weather(self, route, stream):
        """Asks for a forced weather call; returns (call id, name, arguments text, finish)."""
        messages = [{"role": "user", "content": "What is the weather in Paris?"}]
        if not stream:
            r = self.client.chat.completions.create(model=route, messages=messages, tools=TOOLS, tool_choice="required")
            choice = r.choices[0]
            self.assertIsNone(choice.message.content)
            self.assertEqual(len(choice.message.tool_calls), 1)
            call = choice.message.tool_calls[0]
            self.assertEqual(call.type, "function")
            return call.id, call.function.name, call.function.arguments, choice.finish_reason
        ids, names, args, finish = {}, {}, {}, None
        for chunk in self.client.chat.completions.create(model=route, messages=messages, tools=TOOLS, tool_choice="required", stream=True):
            for c in chunk.choices:
                self.assertFalse(c.delta.content, "a call-only reply streams no text")
                for tc in c.delta.tool_calls or []:
                    if tc.id:
                        ids[tc.index] = tc.id
                    if tc.function and tc.function.name:
                        names[tc.index] = tc.function.name
                    if tc.function and tc.function.arguments:
                        args[tc.index] = args.get(tc.index, "") + tc.function.arguments
                finish = c.finish_reason or finish
        self.assertEqual(list(ids), [0])
        return ids[0], names[0], args[0], finish

    def answer_weather(self, route, call_id, arguments, stream):
        messages = [
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": call_id, "type": "function", "function": {"name": "weather", "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": call_id, "content": "18C, sunny"},
        ]
        if not stream:
            r = self.client.chat.completions.create(model=route, messages=messages, tools=TOOLS)
            self.assertIsNone(r.choices[0].message.tool_calls)
            return r.choices[0].message.content, r.choices[0].finish_reason
        text, finish = "", None
        for chunk in self.client.chat.completions.create(model=route, messages=messages, tools=TOOLS, stream=True):
            for c in chunk.choices:
                self.assertFalse(c.delta.tool_calls)
                text += c.delta.content or ""
                finish = c.finish_reason or finish
        return text, finish

    def round_trip(self, route, stream):
        fake, _ = ROUTES[route]
        call_id, name, arguments, finish = self.call_weather(route, stream)
        self.assertEqual((name, finish), ("weather", "tool_calls"))
        self.assertTrue(call_id)
        jsonschema.validate(json.loads(arguments), WEATHER)
        text, finish = self.answer_weather(route, call_id, arguments, stream)
        self.assertEqual(finish, "stop")
        self.assertEqual(len(text.split(" ")), 12, text)
        bodies = received(fake)
        self.assertEqual(len(bodies), 2, bodies)
        return call_id, json.loads(arguments), bodies

    def test_function_calling_round_trip_to_openai(self):
        for stream in (False, True):
            with self.subTest(stream=stream):
                clear()
                call_id, args, (ask, answer) = self.round_trip("to-openai", stream)
                self.assertEqual(ask["tools"], TOOLS)
                self.assertEqual(ask["tool_choice"], "required")
                assistant, tool = answer["messages"][1], answer["messages"][2]
                self.assertEqual(assistant["tool_calls"][0]["id"], call_id)
                self.assertEqual(json.loads(assistant["tool_calls"][0]["function"]["arguments"]), args)
                self.assertEqual(tool, {"role": "tool", "tool_call_id": call_id, "content": "18C, sunny"})

    def test_function_calling_round_trip_to_anthropic(self):
        for stream in (False, True):
            with self.subTest(stream=stream):
                clear()
                call_id, args, (ask, answer) = self.round_trip("to-anthropic", stream)
                self.assertEqual(ask["tools"], [{"name": "weather", "description": "The weather in a city now", "input_schema": WEATHER}])
                self.assertEqual(ask["tool_choice"], {"type": "any"})
                self.assertEqual(ask.get("stream", False), stream)
                assistant, result = answer["messages"][1], answer["messages"][2]
                self.assertEqual(assistant["role"], "assistant")
                self.assertEqual(assistant["content"], [{"type": "tool_use", "id": call_id, "name": "weather", "input": args}])
                self.assertEqual(result["role"], "user")
                self.assertEqual(result["content"][0]["type"], "tool_result")
                self.assertEqual(result["content"][0]["tool_use_id"], call_id)
                self.assertIn(result["content"][0]["content"], ("18C, sunny", [{"type": "text", "text": "18C, sunny"}]))

    def test_function_calling_round_trip_to_gemini(self):
        for stream in (False, True):
            with self.subTest(stream=stream):
                clear()
                call_id, args, (ask, answer) = self.round_trip("to-gemini", stream)
                declared = ask["tools"][0]["functionDeclarations"][0]
                self.assertEqual(declared["name"], "weather")
                self.assertEqual(declared.get("parametersJsonSchema", declared.get("parameters")), WEATHER)
                self.assertEqual(ask["toolConfig"]["functionCallingConfig"]["mode"], "ANY")
                contents = answer["contents"]
                self.assertEqual([c["role"] for c in contents], ["user", "model", "user"])
                self.assertEqual(len(contents[1]["parts"]), 1)
                call = contents[1]["parts"][0]["functionCall"]
                self.assertEqual((call["name"], call["args"]), ("weather", args))
                # OpenAI's tool message names no function: the gateway looked it up by the call's id.
                self.assertEqual(len(contents[2]["parts"]), 1)
                response = contents[2]["parts"][0]["functionResponse"]
                self.assertEqual(response["name"], "weather")
                self.assertEqual(response["response"], {"output": "18C, sunny"})
                # The call's id (Gemini's own, or the one the gateway gave it) is echoed.
                self.assertEqual(response.get("id"), call.get("id"))

    # -- JSON mode -------------------------------------------------------------------------

    def test_json_object_to_openai_and_gemini(self):
        messages = [{"role": "user", "content": "Reply in JSON: the capital of France."}]
        for route in ("to-openai", "to-gemini"):
            for stream in (False, True):
                with self.subTest(route=route, stream=stream):
                    fake, _ = ROUTES[route]
                    clear()
                    text = self.complete(route, messages, stream, response_format={"type": "json_object"})
                    self.assertIsInstance(json.loads(text), dict)
                    body = self.only(fake)
                    if fake == "sdk-gemini":
                        self.assertEqual(body["generationConfig"]["responseMimeType"], "application/json")
                        self.assertNotIn("responseJsonSchema", body["generationConfig"])
                    else:
                        self.assertEqual(body["response_format"], {"type": "json_object"})

    def test_json_schema_to_every_dialect(self):
        messages = [{"role": "user", "content": "Rate Paris."}]
        strict = {"type": "json_schema", "json_schema": {"name": "rating", "schema": ANSWER, "strict": True}}
        lax = {"type": "json_schema", "json_schema": {"name": "rating", "schema": ANSWER}}
        for route, (fake, _) in ROUTES.items():
            # Gemini cannot guarantee a schema: a strict one is refused there.
            fmt = lax if fake == "sdk-gemini" else strict
            for stream in (False, True):
                with self.subTest(route=route, stream=stream):
                    clear()
                    text = self.complete(route, messages, stream, response_format=fmt)
                    jsonschema.validate(json.loads(text), ANSWER)
                    body = self.only(fake)
                    if fake == "sdk-openai":
                        self.assertEqual(body["response_format"], fmt)
                    elif fake == "sdk-anthropic":
                        self.assertEqual(body["output_config"]["format"], {"type": "json_schema", "schema": ANSWER})
                    else:
                        self.assertEqual(body["generationConfig"]["responseMimeType"], "application/json")
                        self.assertEqual(body["generationConfig"]["responseJsonSchema"], ANSWER)

    def test_a_strict_json_schema_to_a_gemini_only_route_is_refused(self):
        clear()
        fmt = {"type": "json_schema", "json_schema": {"name": "rating", "schema": ANSWER, "strict": True}}
        with self.assertRaises(openai.BadRequestError) as ctx:
            self.client.chat.completions.create(
                model="to-gemini", messages=[{"role": "user", "content": "Rate Paris."}], response_format=fmt
            )
        self.assertEqual(ctx.exception.param, "response_format.json_schema.strict")
        self.assertEqual(ctx.exception.code, "unsupported_parameter")
        self.assertEqual(received("sdk-gemini"), [], "nothing was sent")

    def test_json_object_to_an_anthropic_only_route_is_refused(self):
        with self.assertRaises(openai.BadRequestError) as ctx:
            self.client.chat.completions.create(
                model="to-anthropic", messages=[{"role": "user", "content": "Reply in JSON."}], response_format={"type": "json_object"}
            )
        self.assertEqual(ctx.exception.param, "response_format")
        self.assertEqual(ctx.exception.code, "unsupported_parameter")
        self.assertEqual(received("sdk-anthropic"), [], "nothing was sent")

    def complete(self, route, messages, stream, **kw):
        if not stream:
            r = self.client.chat.completions.create(model=route, messages=messages, **kw)
            self.assertEqual(r.choices[0].finish_reason, "stop")
            return r.choices[0].message.content
        text, finish = "", None
        for chunk in self.client.chat.completions.create(model=route, messages=messages, stream=True, **kw):
            for c in chunk.choices:
                text += c.delta.content or ""
                finish = c.finish_reason or finish
        self.assertEqual(finish, "stop")
        return text

    # -- images ----------------------------------------------------------------------------

    def image_message(self):
        return [{"role": "user", "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG}},
        ]}]

    def test_an_image_reaches_each_vendor_in_its_shape(self):
        for route, (fake, _) in ROUTES.items():
            with self.subTest(route=route):
                clear()
                r = self.client.chat.completions.create(model=route, messages=self.image_message())
                self.assertEqual(len(r.choices[0].message.content.split(" ")), 12)
                self.assertGreaterEqual(r.usage.prompt_tokens, 258, "the fake counted the image")
                parts = self.only(fake)
                if fake == "sdk-openai":
                    self.assertEqual(parts["messages"], self.image_message())
                elif fake == "sdk-anthropic":
                    self.assertEqual(parts["messages"][0]["content"], [
                        {"type": "text", "text": "What is in this picture?"},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    ])
                else:
                    self.assertEqual(parts["contents"][0]["parts"], [
                        {"text": "What is in this picture?"},
                        {"inlineData": {"mimeType": "image/png", "data": PNG}},
                    ])

    def test_an_image_skips_a_target_without_vision(self):
        raw = self.client.chat.completions.with_raw_response.create(model="vision", messages=self.image_message())
        self.assertEqual(raw.headers["x-switchyard-target"], "claude")
        self.assertEqual(raw.headers["x-switchyard-attempts"], "1", "the text-only target was not tried")
        self.assertEqual(raw.parse().model, "claude-sonnet-4")
        self.assertEqual(self.only("sdk-anthropic")["messages"][0]["content"][1]["type"], "image")

    def test_an_image_on_a_route_without_vision_is_refused(self):
        for stream in (False, True):
            with self.subTest(stream=stream):
                with self.assertRaises(openai.BadRequestError) as ctx:
                    self.client.chat.completions.create(model="text-only", messages=self.image_message(), stream=stream)
                self.assertEqual(ctx.exception.status_code, 400)
                self.assertEqual(ctx.exception.param, "messages[0].content[1]")
                self.assertIn("vision", ctx.exception.message)
                self.assertEqual(received("sdk-openai"), [], "nothing was sent")

    # -- max_tokens ------------------------------------------------------------------------

    def test_without_max_tokens_every_target_answers_in_full(self):
        for route, (fake, model) in ROUTES.items():
            for stream in (False, True):
                with self.subTest(route=route, stream=stream):
                    clear()
                    text = self.complete(route, [{"role": "user", "content": "Tell me a story."}], stream)
                    self.assertEqual(len(text.split(" ")), 12, text)
                    body = self.only(fake)
                    if fake == "sdk-anthropic":
                        self.assertEqual(body["max_tokens"], CLAUDE_DEFAULT_MAX)
                    elif fake == "sdk-openai":
                        self.assertNotIn("max_tokens", body)
                        self.assertNotIn("max_completion_tokens", body)
                    else:
                        self.assertNotIn("maxOutputTokens", body.get("generationConfig", {}))


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
