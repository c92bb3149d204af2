//! What the gateway books for an attempt that failed after, or without, its provider having
//! the prompt: a 2xx reply that is not one (the estimate), a vendor's 408 or 500 (nothing).

mod support;

use support::*;
use switchyard_live::{InProcess, Transport};

/// The status of one request (streamed or not) to a gateway whose one target `ta` (one
/// attempt) has the fault `fault` (a profile's `faults` entry), and the request's access line
/// (the `i`-th `log` has).
async fn one_with(log: &Captured, i: usize, fault: &str, stream: bool) -> (u16, serde_json::Value) {
    let text =
        config(TA, CHAT_TA, "").replace("plan: { max_attempts: 2 }", "plan: { max_attempts: 1 }");
    let fake = fake_with("a", "openai", &format!("faults:\n  - {fault}\n"));
    let (gw, _) = from_file(&text, Transport::new(InProcess::new().with("a.fake", fake)));
    let (got, _) = call(
        &gw,
        "POST",
        "/v1/chat/completions",
        Some(CLIENT_KEY),
        chat(stream),
    )
    .await;
    (got, log.access().remove(i))
}

/// A 2xx reply whose body is not a reply (the fake's `malformed_json`), streamed or not: the
/// provider accepted the prompt, so the attempt is booked the request's estimated prompt,
/// marked estimated, as a timed-out stream is (`AttemptReport::prompt_sent`,
/// docs/ARCHITECTURE.md, "Cost").
#[tokio::test(start_paused = true)]
async fn a_2xx_reply_that_is_not_one_is_booked_the_prompt_estimate() {
    let log = Captured::start();
    for (i, stream) in [false, true].into_iter().enumerate() {
        let (got, line) = one_with(&log, i, "{ kind: malformed_json }", stream).await;
        assert!(got >= 500, "stream {stream}: {got}");
        assert_eq!(
            line["result"], "malformed_response",
            "stream {stream}: {line}"
        );
        assert!(
            line["prompt_tokens"].as_u64().unwrap() > 0,
            "stream {stream}: {line}"
        );
        assert_eq!(line["tokens_estimated"], true, "stream {stream}: {line}");
        assert!(
            line["cost_usd"].as_f64().unwrap() > 0.0,
            "stream {stream}: {line}"
        );
    }
}

/// A vendor's 408 (Request Timeout: the server did not receive the whole request in time)
/// is answered before any prompt was processed, as a 500 is: its error reply carries no
/// usage and nothing was sent to a model to bill. The adapters classify it `timeout`, but
/// only a timeout after the reply's head came (`prompt_sent`) is booked the prompt's
/// estimate: the 408 is booked 0, as the 500 is (docs/ARCHITECTURE.md, "Cost").
#[tokio::test(start_paused = true)]
async fn a_vendors_408_is_booked_no_tokens_as_a_500_is() {
    let log = Captured::start();
    for (i, status) in [500u16, 408].into_iter().enumerate() {
        let fault = format!("{{ kind: http, status: {status} }}");
        let (got, line) = one_with(&log, i, &fault, false).await;
        assert!(got >= 400, "{status}: {got}");
        assert_eq!(line["prompt_tokens"], 0, "{status}: {line}");
        assert!(line.get("tokens_estimated").is_none(), "{status}: {line}");
        assert_eq!(line["cost_usd"].as_f64().unwrap(), 0.0, "{status}: {line}");
    }
}

/// A request served after a failover: the attempt whose 2xx was not a reply is booked the
/// request's estimated prompt, in the line's `cost_usd` with the serving attempt's usage,
/// while its `prompt_tokens` and `completion_tokens` are the reply's (docs/GATEWAY.md,
/// `cost_usd`).
#[tokio::test(start_paused = true)]
async fn a_served_requests_cost_includes_the_estimate_of_an_attempt_that_broke() {
    let log = Captured::start();
    let targets = format!(
        "{TA}    - {{ name: tb, provider: b, model: m, price: {{ input: 2, output: 10 }} }}\n"
    );
    let text = config(
        &targets,
        "    - { name: chat, policy: priority, tiers: [[tb], [ta]] }\n",
        "",
    );
    let broken = fake_with("b", "openai", "faults:\n  - { kind: malformed_json }\n");
    let transport = Transport::new(
        InProcess::new()
            .with("a.fake", fake_of("a", "openai", 5))
            .with("b.fake", broken),
    );
    let (gw, _) = from_file(&text, transport);
    let body = chat(false);
    let estimate = f64::from(estimated_prompt(&body));
    let (status, _) = call(&gw, "POST", "/v1/chat/completions", Some(CLIENT_KEY), body).await;
    assert_eq!(status, 200);
    let line = log.access().remove(0);
    assert_eq!(
        line["attempts"], "tb:malformed_response,ta:success",
        "{line}"
    );
    assert_eq!(line["completion_tokens"], 5, "{line}");
    let prompt = line["prompt_tokens"].as_f64().unwrap();
    let reply = (prompt * 2.0 + 5.0 * 10.0) / 1e6;
    let booked = line["cost_usd"].as_f64().unwrap();
    assert!(
        (booked - (reply + estimate * 2.0 / 1e6)).abs() < 1e-9,
        "{booked} != the reply's {reply} + the estimate's: {line}"
    );
    assert_eq!(line["tokens_estimated"], true, "{line}");
}
