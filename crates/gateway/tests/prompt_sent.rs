//! What the gateway books for an attempt that failed after, or without, its provider having
//! the prompt: a 2xx reply that is not one (the estimate), a vendor's 408 or 500 (nothing).

mod support;

use support::*;
use switchyard_live::{InProcess, Transport};

/// A 2xx reply whose body is not a reply (the fake's `malformed_json`), streamed or not: the
/// provider accepted the prompt, so the attempt is booked the request's estimated prompt,
/// marked estimated, as a timed-out stream is (`AttemptReport::prompt_sent`,
/// docs/ARCHITECTURE.md, "Cost").
#[tokio::test(start_paused = true)]
async fn a_2xx_reply_that_is_not_one_is_booked_the_prompt_estimate() {
    let log = Captured::start();
    for (i, stream) in [false, true].into_iter().enumerate() {
        let text = config(
            TA,
            "    - { name: chat, policy: static, targets: [ta] }\n",
            "",
        )
        .replace("plan: { max_attempts: 2 }", "plan: { max_attempts: 1 }");
        let profile = "name: a\ndialect: openai\nmodels:\n  - { name: m }\nfaults:\n  - { kind: malformed_json }\n";
        let fake = switchyard_fake::server::router(
            switchyard_fake::load_profile(profile, "p.yaml").unwrap(),
            1,
        );
        let (gw, _) = from_file(&text, Transport::new(InProcess::new().with("a.fake", fake)));
        let (got, _) = call(
            &gw,
            "POST",
            "/v1/chat/completions",
            Some(CLIENT_KEY),
            chat(stream),
        )
        .await;
        assert!(got >= 500, "stream {stream}: {got}");
        let line = log.access().remove(i);
        // A stream's decoder, sent no event, calls it interrupted.
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
        let text = config(
            TA,
            "    - { name: chat, policy: static, targets: [ta] }\n",
            "",
        )
        .replace("plan: { max_attempts: 2 }", "plan: { max_attempts: 1 }");
        let profile = format!(
            "name: a\ndialect: openai\nmodels:\n  - {{ name: m }}\nfaults:\n  - {{ kind: http, status: {status} }}\n"
        );
        let fake = switchyard_fake::server::router(
            switchyard_fake::load_profile(&profile, "p.yaml").unwrap(),
            1,
        );
        let (gw, _) = from_file(&text, Transport::new(InProcess::new().with("a.fake", fake)));
        let (got, _) = call(
            &gw,
            "POST",
            "/v1/chat/completions",
            Some(CLIENT_KEY),
            chat(false),
        )
        .await;
        assert!(got >= 400, "{status}: {got}");
        let line = log.access().remove(i);
        assert_eq!(line["prompt_tokens"], 0, "{status}: {line}");
        assert!(line.get("tokens_estimated").is_none(), "{status}: {line}");
        assert_eq!(line["cost_usd"].as_f64().unwrap(), 0.0, "{status}: {line}");
    }
}
