"""The gateway's `POST /v1/messages` with the official Anthropic Python SDK as its client.

Starts the same fakes and gateway as gateway.py (route `chat`: the OpenAI-dialect fake, the
Anthropic-dialect fake as standby) and drives `/v1/messages` with the `anthropic` SDK: plain
and streamed messages (the `messages.stream` helper and `stream=True`) through either
target, usage, both ways of sending the key, errors raising the SDK's classes (an
overloaded provider's 529 its OverloadedError), and a cut stream raising rather than
returning a truncated message.

Usage: python anthropic_sdk.py PATH_TO_SWITCHYARD_BINARY
"""

import json
import sys
import unittest

import anthropic

import gateway as rig

WEATHER = {
    "name": "weather",
    "description": "The weather in a city now",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


def setUpModule():
    rig.setUpModule()


def tearDownModule():
    rig.tearDownModule()


def received(fake):
    """The bodies `fake` received since the last clear, oldest first."""
    status, body = rig.http("GET", rig.FAKES[fake] + "/_fake/journal")
    assert status == 200, status
    return [e["body"] for e in reversed(json.loads(body)["entries"])]


def clear_journals():
    for fake in rig.FAKES.values():
        status, _ = rig.http("DELETE", fake + "/_fake/journal")
        assert status == 204, status


def drain_primary():
    status, _ = rig.http("POST", rig.GATEWAY + "/admin/overrides", {"action": "drain", "target": "primary-gpt"}, rig.ADMIN)
    assert status == 200, status


class Messages(unittest.TestCase):
    def setUp(self):
        rig.fault("sdk-openai", None)
        rig.fault("sdk-anthropic", None)
        rig.http("POST", rig.GATEWAY + "/admin/overrides", {"action": "restore"}, rig.ADMIN)
        self.client = anthropic.Anthropic(api_key=rig.KEY, base_url=rig.GATEWAY, max_retries=0, timeout=20)

    def ask(self, client=None, **kw):
        return (client or self.client).messages.with_raw_response.create(
            model="chat", max_tokens=50, messages=[{"role": "user", "content": "Say hello"}], **kw
        )

    def check_message(self, raw, model, target):
        m = raw.parse()
        self.assertTrue(m.id.startswith("msg_"), m.id)
        self.assertEqual(m.model, model)
        self.assertEqual(m.role, "assistant")
        self.assertEqual(m.stop_reason, "end_turn")
        self.assertEqual([b.type for b in m.content], ["text"])
        self.assertEqual(len(m.content[0].text.split(" ")), 12)
        self.assertEqual(m.usage.output_tokens, 12)
        self.assertGreater(m.usage.input_tokens, 0)
        self.assertEqual(m.usage.cache_read_input_tokens, 0)
        self.assertEqual(raw.headers["x-switchyard-target"], target)
        self.assertTrue(m._request_id.startswith("req-"), m._request_id)

    def test_a_message_through_an_openai_target(self):
        self.check_message(self.ask(), "gpt-4o", "primary-gpt")

    def test_a_message_through_an_anthropic_target(self):
        drain_primary()
        self.check_message(self.ask(), "claude-sonnet-4", "backup-claude")

    def test_failover_during_a_primary_outage_is_invisible(self):
        rig.fault("sdk-openai", {"kind": "http", "status": 503})
        raw = self.ask()
        self.check_message(raw, "claude-sonnet-4", "backup-claude")
        self.assertEqual(raw.headers["x-switchyard-attempts"], "2")

    def test_the_stream_helper_through_either_target(self):
        for drained, model in ((False, "gpt-4o"), (True, "claude-sonnet-4")):
            if drained:
                drain_primary()
            with self.client.messages.stream(model="chat", max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as stream:
                text = "".join(stream.text_stream)
                final = stream.get_final_message()
            self.assertEqual(len(text.split(" ")), 12, model)
            self.assertEqual(final.model, model)
            self.assertEqual(final.content[0].text, text)
            self.assertEqual(final.stop_reason, "end_turn")
            self.assertEqual(final.usage.output_tokens, 12)
            self.assertGreater(final.usage.input_tokens, 0)

    def test_stream_true_yields_anthropics_event_sequence(self):
        events = list(self.client.messages.create(model="chat", max_tokens=50, messages=[{"role": "user", "content": "hi"}], stream=True))
        names = [e.type for e in events]
        self.assertEqual(names[:2], ["message_start", "content_block_start"])
        self.assertEqual(names[-3:], ["content_block_stop", "message_delta", "message_stop"])
        self.assertEqual(set(names[2:-3]), {"content_block_delta"})
        self.assertEqual(events[-2].usage.output_tokens, 12)
        self.assertEqual(events[-2].delta.stop_reason, "end_turn")
        text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
        self.assertEqual(len(text.split(" ")), 12)

    def test_the_key_as_x_api_key_or_as_a_bearer_token(self):
        by_header = anthropic.Anthropic(api_key=None, auth_token=None, default_headers={"X-Api-Key": rig.KEY}, base_url=rig.GATEWAY, max_retries=0)
        by_token = anthropic.Anthropic(auth_token=rig.KEY, base_url=rig.GATEWAY, max_retries=0)
        for client in (by_header, by_token):
            self.assertEqual(self.ask(client).parse().usage.output_tokens, 12)
        for client in (
            anthropic.Anthropic(api_key=None, auth_token=None, default_headers={"X-Api-Key": "nope"}, base_url=rig.GATEWAY, max_retries=0),
            anthropic.Anthropic(auth_token="nope", base_url=rig.GATEWAY, max_retries=0),
        ):
            with self.assertRaises(anthropic.AuthenticationError) as ctx:
                self.ask(client)
            self.assertEqual(ctx.exception.body["error"]["type"], "authentication_error")

    def test_errors_raise_the_sdks_classes(self):
        with self.assertRaises(anthropic.NotFoundError) as ctx:
            self.client.messages.create(model="nope", max_tokens=5, messages=[{"role": "user", "content": "x"}])
        self.assertEqual(ctx.exception.body["error"]["type"], "not_found_error")
        with self.assertRaises(anthropic.BadRequestError) as ctx:
            self.ask(thinking={"type": "enabled", "budget_tokens": 1024})
        self.assertIn("thinking", ctx.exception.message)
        # The SDK will not send a request without max_tokens; a plain client does.
        status, body = rig.http("POST", rig.GATEWAY + "/v1/messages", {"model": "chat", "messages": [{"role": "user", "content": "x"}]}, rig.KEY)
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["error"], {"type": "invalid_request_error", "message": "max_tokens: Field required"})
        rig.fault("sdk-openai", {"kind": "http", "status": 429, "retry_after": "7s"})
        rig.fault("sdk-anthropic", {"kind": "http", "status": 429, "retry_after": "7s"})
        with self.assertRaises(anthropic.RateLimitError) as ctx:
            self.ask()
        self.assertEqual(ctx.exception.body["error"]["type"], "rate_limit_error")
        self.assertEqual(ctx.exception.response.headers["retry-after"], "7")

    def test_overloaded_providers_raise_the_sdks_overloaded_error(self):
        # Both targets overloaded: the gateway says so as Anthropic does, 529 `overloaded_error`
        # with a Retry-After (a 503 would be the SDK's generic ServiceUnavailableError).
        rig.fault("sdk-openai", {"kind": "http", "status": 503})
        rig.fault("sdk-anthropic", {"kind": "http", "status": 529})
        with self.assertRaises(anthropic.OverloadedError) as ctx:
            self.ask()
        self.assertEqual(ctx.exception.status_code, 529)
        self.assertEqual(ctx.exception.body["error"]["type"], "overloaded_error")
        self.assertGreaterEqual(int(ctx.exception.response.headers["retry-after"]), 1)

    def test_a_cut_stream_raises(self):
        rig.fault("sdk-openai", {"kind": "stream_cut", "after_tokens": 3})
        text = ""
        with self.assertRaises(anthropic.APIStatusError) as ctx:
            with self.client.messages.stream(model="chat", max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as stream:
                for piece in stream.text_stream:
                    text += piece
        self.assertEqual(ctx.exception.body["error"]["type"], "api_error")
        self.assertTrue(text, "some tokens arrived before the cut")

    def tool_use_round_trip(self, stream, choice):
        """A forced call, then its result and the final answer, plain or streamed, through
        route `chat`; returns the call. Its first target is OpenAI's (Anthropic's drained)."""
        ask = dict(model="chat", max_tokens=200, tools=[WEATHER], tool_choice=choice,
                   messages=[{"role": "user", "content": "Weather in Paris?"}])
        if stream:
            with self.client.messages.stream(**ask) as s:
                kinds = [e.type for e in s]
                first = s.get_final_message()
            self.assertIn("input_json", kinds)
        else:
            first = self.client.messages.create(**ask)
        self.assertEqual(first.stop_reason, "tool_use")
        self.assertEqual([b.type for b in first.content], ["tool_use"])
        call = first.content[0]
        self.assertEqual(call.name, "weather")
        self.assertIsInstance(call.input.get("city"), str)
        reply = dict(model="chat", max_tokens=200, tools=[WEATHER], messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C, sunny"}]},
        ])
        if stream:
            with self.client.messages.stream(**reply) as s:
                text = "".join(s.text_stream)
                answer = s.get_final_message()
            self.assertEqual(answer.content[0].text, text)
        else:
            answer = self.client.messages.create(**reply)
        self.assertEqual(answer.stop_reason, "end_turn")
        self.assertEqual([b.type for b in answer.content], ["text"])
        self.assertEqual(len(answer.content[0].text.split(" ")), 12)
        return call

    def check_openai_journal(self, call, forced):
        """The OpenAI fake got OpenAI's tools, tool_calls and tool message for the round trip."""
        ask, reply = received("sdk-openai")
        schema = WEATHER["input_schema"]
        self.assertEqual(ask["tools"], [{"type": "function", "function": {
            "name": "weather", "description": "The weather in a city now", "parameters": schema}}])
        self.assertEqual(ask["tool_choice"], forced)
        self.assertEqual([m["role"] for m in reply["messages"]], ["user", "assistant", "tool"])
        calls = reply["messages"][1]["tool_calls"]
        self.assertEqual(len(calls), 1)
        self.assertEqual((calls[0]["id"], calls[0]["type"], calls[0]["function"]["name"]), (call.id, "function", "weather"))
        self.assertEqual(json.loads(calls[0]["function"]["arguments"]), call.input)
        self.assertEqual(reply["messages"][2]["tool_call_id"], call.id)
        self.assertIn(reply["messages"][2]["content"], ("18C, sunny", [{"type": "text", "text": "18C, sunny"}]))
        self.assertEqual(received("sdk-anthropic"), [])

    def check_anthropic_journal(self, call):
        """The Anthropic fake got tool_use and tool_result blocks."""
        _, reply = received("sdk-anthropic")
        self.assertEqual(reply["messages"][1]["content"], [{"type": "tool_use", "id": call.id, "name": "weather", "input": call.input}])
        result = reply["messages"][2]["content"][0]
        self.assertEqual((result["type"], result["tool_use_id"]), ("tool_result", call.id))
        self.assertEqual(received("sdk-openai"), [])

    def test_tool_use_round_trip(self):
        for drained in (False, True):
            with self.subTest(drained=drained):
                if drained:
                    drain_primary()
                clear_journals()
                call = self.tool_use_round_trip(False, {"type": "any"})
                if drained:
                    self.check_anthropic_journal(call)
                else:
                    self.check_openai_journal(call, "required")

    def test_tool_use_streamed(self):
        for drained in (False, True):
            with self.subTest(drained=drained):
                if drained:
                    drain_primary()
                clear_journals()
                call = self.tool_use_round_trip(True, {"type": "tool", "name": "weather"})
                if drained:
                    self.check_anthropic_journal(call)
                else:
                    self.check_openai_journal(call, {"type": "function", "function": {"name": "weather"}})


if __name__ == "__main__":
    rig.BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
