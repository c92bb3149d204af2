"""SDK fidelity: the official OpenAI and Anthropic Python SDKs against Switchyard's fakes.

Starts `switchyard fake serve` with the openai and anthropic test profiles, then drives each
fake with its vendor's SDK: plain and streamed replies must parse with the right text and
usage, tool calls must round-trip (call, result, answer) with arguments valid against the
tool's schema, and every injected error or refused request must raise the SDK's own exception
for it. Faults are
injected per test through the fakes' /_fake/ control API.

Usage: python fidelity.py PATH_TO_SWITCHYARD_BINARY
"""

import json
import os
import subprocess
import sys
import unittest
import urllib.request

import anthropic
import jsonschema
import openai

HERE = os.path.dirname(os.path.abspath(__file__))

WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 5},
    },
    "required": ["city", "unit", "days"],
    "additionalProperties": False,
}
BINARY = None
SERVERS = {}
PROC = None


def control(name, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(SERVERS[name] + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def inject(name, fault):
    control(name, "DELETE", "/_fake/faults")
    control(name, "POST", "/_fake/faults", fault)


def setUpModule():
    global PROC
    profiles = [os.path.join(HERE, "profiles", p) for p in ("openai.yaml", "anthropic.yaml")]
    args = [BINARY, "fake", "serve", "--listen", "127.0.0.1:0", "--seed", "3"]
    for p in profiles:
        args += ["--profile", p]
    PROC = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    for _ in profiles:
        line = PROC.stdout.readline().split()
        if len(line) != 3:
            raise RuntimeError("fake serve printed %r" % line)
        SERVERS[line[0]] = line[2]


def tearDownModule():
    PROC.send_signal(2)  # Ctrl-C: the server must stop cleanly
    assert PROC.wait(timeout=10) == 0, "fake serve did not exit cleanly on Ctrl-C"


class OpenAI(unittest.TestCase):
    def setUp(self):
        control("sdk-openai", "DELETE", "/_fake/faults")
        self.client = openai.OpenAI(api_key="sk-fidelity", base_url=SERVERS["sdk-openai"] + "/v1", max_retries=0, timeout=10)

    def ask(self, **kw):
        return self.client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Say hello"}], max_tokens=50, **kw)

    def test_plain_completion(self):
        r = self.ask()
        self.assertEqual(r.object, "chat.completion")
        self.assertEqual(r.choices[0].message.role, "assistant")
        self.assertEqual(len(r.choices[0].message.content.split(" ")), 12)
        self.assertEqual(r.choices[0].finish_reason, "stop")
        self.assertEqual(r.usage.completion_tokens, 12)
        self.assertEqual(r.usage.total_tokens, r.usage.prompt_tokens + 12)
        self.assertTrue(r.id.startswith("chatcmpl-"))

    def test_streamed_completion_with_usage(self):
        stream = self.ask(stream=True, stream_options={"include_usage": True})
        text, finish, usage = "", None, None
        for chunk in stream:
            if chunk.usage:
                usage = chunk.usage
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finish = choice.finish_reason or finish
        self.assertEqual(len(text.split(" ")), 12)
        self.assertEqual(finish, "stop")
        self.assertEqual(usage.completion_tokens, 12)

    def tools(self):
        return [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]

    def test_tool_call_round_trip(self):
        messages = [{"role": "user", "content": "What is the weather? Use get_weather."}]
        r = self.client.chat.completions.create(model="gpt-4o", messages=messages, tools=self.tools(), tool_choice="required")
        self.assertEqual(r.choices[0].finish_reason, "tool_calls")
        call = r.choices[0].message.tool_calls[0]
        self.assertEqual(call.function.name, "get_weather")
        jsonschema.validate(json.loads(call.function.arguments), WEATHER)
        messages += [r.choices[0].message.model_dump(exclude_none=True),
                     {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
        answer = self.client.chat.completions.create(model="gpt-4o", messages=messages, tools=self.tools())
        self.assertEqual(answer.choices[0].finish_reason, "stop")
        self.assertEqual(len(answer.choices[0].message.content.split(" ")), 12)
        # A tool result without its call is the vendor's 400.
        with self.assertRaises(openai.BadRequestError) as ctx:
            self.client.chat.completions.create(model="gpt-4o", messages=messages[:1] + messages[2:], tools=self.tools())
        self.assertEqual(ctx.exception.param, "messages.[1].role")

    def test_streamed_tool_call(self):
        stream = self.client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "weather?"}],
                                                     tools=self.tools(), tool_choice="required", stream=True)
        name, arguments, finish = None, "", None
        for chunk in stream:
            for choice in chunk.choices:
                finish = choice.finish_reason or finish
                for tc in choice.delta.tool_calls or []:
                    name = tc.function.name or name
                    arguments += tc.function.arguments or ""
        self.assertEqual((name, finish), ("get_weather", "tool_calls"))
        jsonschema.validate(json.loads(arguments), WEATHER)

    def test_models(self):
        self.assertIn("gpt-4o", [m.id for m in self.client.models.list()])

    def test_rate_limited_with_retry_after(self):
        inject("sdk-openai", {"kind": "http", "status": 429, "retry_after": "7s"})
        with self.assertRaises(openai.RateLimitError) as ctx:
            self.ask()
        self.assertEqual(ctx.exception.status_code, 429)
        self.assertEqual(ctx.exception.response.headers["retry-after"], "7")
        self.assertEqual(ctx.exception.response.headers["retry-after-ms"], "7000")
        self.assertEqual(ctx.exception.code, "rate_limit_exceeded")

    def test_bad_key(self):
        client = openai.OpenAI(api_key="sk-wrong", base_url=SERVERS["sdk-openai"] + "/v1", max_retries=0)
        with self.assertRaises(openai.AuthenticationError) as ctx:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
        self.assertEqual(ctx.exception.code, "invalid_api_key")

    def test_context_length(self):
        inject("sdk-openai", {"kind": "context_length"})
        with self.assertRaises(openai.BadRequestError) as ctx:
            self.ask()
        self.assertEqual(ctx.exception.code, "context_length_exceeded")
        self.assertEqual(ctx.exception.param, "messages")

    def test_server_errors(self):
        for status, exc in ((500, openai.InternalServerError), (503, openai.InternalServerError), (529, openai.APIStatusError)):
            inject("sdk-openai", {"kind": "http", "status": status})
            with self.assertRaises(exc) as ctx:
                self.ask()
            self.assertEqual(ctx.exception.status_code, status)

    def test_unknown_model(self):
        with self.assertRaises(openai.NotFoundError):
            self.client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])

    def test_cut_stream_is_an_error(self):
        inject("sdk-openai", {"kind": "stream_cut", "after_tokens": 3})
        text = ""
        with self.assertRaises(Exception) as ctx:
            for chunk in self.ask(stream=True):
                for choice in chunk.choices:
                    text += choice.delta.content or ""
        self.assertEqual(len(text.split(" ")), 3, "three tokens arrived before the cut")
        self.assertNotIsInstance(ctx.exception, AssertionError)


class Anthropic(unittest.TestCase):
    def setUp(self):
        control("sdk-anthropic", "DELETE", "/_fake/faults")
        self.client = anthropic.Anthropic(api_key="sk-ant-fidelity", base_url=SERVERS["sdk-anthropic"], max_retries=0, timeout=10)

    def ask(self, **kw):
        return self.client.messages.create(model="claude-sonnet-4", max_tokens=50, messages=[{"role": "user", "content": "Say hello"}], **kw)

    def test_plain_message(self):
        m = self.ask()
        self.assertEqual(m.type, "message")
        self.assertEqual(m.role, "assistant")
        self.assertEqual(len(m.content[0].text.split(" ")), 12)
        self.assertEqual(m.stop_reason, "end_turn")
        self.assertEqual(m.usage.output_tokens, 12)
        self.assertTrue(m.id.startswith("msg_"))

    def test_streamed_message(self):
        with self.client.messages.stream(model="claude-sonnet-4", max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        self.assertEqual(len(text.split(" ")), 12)
        self.assertEqual(final.content[0].text, text)
        self.assertEqual(final.stop_reason, "end_turn")
        self.assertEqual(final.usage.output_tokens, 12)

    def test_raw_stream_events(self):
        # The SDK drops `ping` events itself; the rest arrive in Anthropic's order.
        names = [event.type for event in self.ask(stream=True)]
        self.assertEqual(names[:2], ["message_start", "content_block_start"])
        self.assertEqual(names.count("content_block_delta"), 12)
        self.assertEqual(names[-3:], ["content_block_stop", "message_delta", "message_stop"])

    def test_tool_use_round_trip(self):
        tools = [{"name": "get_weather", "input_schema": WEATHER}]
        messages = [{"role": "user", "content": "What is the weather?"}]
        m = self.client.messages.create(model="claude-sonnet-4", max_tokens=50, messages=messages, tools=tools, tool_choice={"type": "any"})
        self.assertEqual(m.stop_reason, "tool_use")
        use = m.content[0]
        self.assertEqual((use.type, use.name), ("tool_use", "get_weather"))
        jsonschema.validate(use.input, WEATHER)
        messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in m.content]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]}]
        answer = self.client.messages.create(model="claude-sonnet-4", max_tokens=50, messages=messages, tools=tools)
        self.assertEqual(answer.stop_reason, "end_turn")
        self.assertEqual(len(answer.content[0].text.split(" ")), 12)
        # A tool_use without its result is the vendor's 400.
        with self.assertRaises(anthropic.BadRequestError) as ctx:
            self.client.messages.create(model="claude-sonnet-4", max_tokens=50, tools=tools,
                                        messages=messages[:2] + [{"role": "user", "content": "and?"}])
        self.assertIn("`tool_use` ids were found without `tool_result` blocks", ctx.exception.message)

    def test_streamed_tool_use(self):
        tools = [{"name": "get_weather", "input_schema": WEATHER}]
        with self.client.messages.stream(model="claude-sonnet-4", max_tokens=50, tools=tools, tool_choice={"type": "any"},
                                         messages=[{"role": "user", "content": "weather?"}]) as stream:
            final = stream.get_final_message()
        self.assertEqual(final.stop_reason, "tool_use")
        jsonschema.validate(final.content[0].input, WEATHER)

    def test_prefill_is_continued(self):
        m = self.client.messages.create(model="claude-sonnet-4", max_tokens=50,
                                        messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Well"}])
        self.assertTrue(m.content[0].text.startswith(" "), m.content[0].text)
        control("sdk-anthropic", "POST", "/_fake/options", {"prefill": False})
        try:
            with self.assertRaises(anthropic.BadRequestError) as ctx:
                self.client.messages.create(model="claude-sonnet-4", max_tokens=50,
                                            messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Well"}])
            self.assertIn("does not support assistant message prefill", ctx.exception.message)
        finally:
            control("sdk-anthropic", "POST", "/_fake/options", {"prefill": True})

    def test_rate_limited_with_retry_after(self):
        inject("sdk-anthropic", {"kind": "http", "status": 429, "retry_after": "7s"})
        with self.assertRaises(anthropic.RateLimitError) as ctx:
            self.ask()
        self.assertEqual(ctx.exception.response.headers["retry-after"], "7")
        self.assertEqual(ctx.exception.body["error"]["type"], "rate_limit_error")

    def test_bad_key(self):
        client = anthropic.Anthropic(api_key="wrong", base_url=SERVERS["sdk-anthropic"], max_retries=0)
        with self.assertRaises(anthropic.AuthenticationError):
            client.messages.create(model="claude-sonnet-4", max_tokens=5, messages=[{"role": "user", "content": "x"}])

    def test_prompt_too_long(self):
        inject("sdk-anthropic", {"kind": "context_length"})
        with self.assertRaises(anthropic.BadRequestError) as ctx:
            self.ask()
        self.assertIn("prompt is too long", ctx.exception.message)

    def test_server_errors(self):
        for status in (500, 503, 529):
            inject("sdk-anthropic", {"kind": "http", "status": status})
            with self.assertRaises(anthropic.APIStatusError) as ctx:
                self.ask()
            self.assertEqual(ctx.exception.status_code, status)
        inject("sdk-anthropic", {"kind": "http", "status": 529})
        with self.assertRaises(anthropic.APIStatusError) as ctx:
            self.ask()
        self.assertEqual(ctx.exception.body["error"]["type"], "overloaded_error")

    def test_cut_stream_is_an_error(self):
        inject("sdk-anthropic", {"kind": "stream_cut", "after_tokens": 3})
        with self.assertRaises(Exception) as ctx:
            with self.client.messages.stream(model="claude-sonnet-4", max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as stream:
                for _ in stream.text_stream:
                    pass
        self.assertNotIsInstance(ctx.exception, AssertionError)


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
