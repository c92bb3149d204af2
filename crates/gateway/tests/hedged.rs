//! The books of a hedged request: the attempt that loses, booked as its provider bills it.

mod support;

use std::sync::Arc;

use support::*;
use switchyard_gateway::Gateway;
use switchyard_live::{InProcess, Transport};

/// A gateway whose route tries `ta` (priced $2 a million input tokens, its first token 1 s
/// late) first and hedges to `tb` (10 ms to its first token) after 100 ms: `tb` wins.
fn hedged() -> Arc<Gateway> {
    hedged_with("")
}

/// [`hedged`], with `gateway` lines of the caller's.
fn hedged_with(gateway: &str) -> Arc<Gateway> {
    let tb = "    - { name: tb, provider: b, model: m }\n";
    let text = config(
        &format!("{TA}{tb}"),
        "    - { name: chat, policy: priority, tiers: [[ta], [tb]] }\n",
        gateway,
    )
    .replace(
        "plan: { max_attempts: 2 }",
        "plan: { max_attempts: 2, hedge_after: 100ms }",
    )
    .replace(
        "fake_base_url: 'http://b.fake' }",
        &format!("fake_base_url: 'http://b.fake', mock_key: {UPSTREAM_KEY} }}"),
    );
    let slow = "latency:\n  first_token: { fixed: 1s }\n  tokens_per_second: { fixed: 1000 }\noutput_tokens: { fixed: 5 }\n";
    let transport = InProcess::new()
        .with("a.fake", fake_with("a", "openai", slow))
        .with("b.fake", fake("b"));
    from_file(&text, Transport::new(transport)).0
}

/// A request whose hedge wins, streamed then whole: the first attempt, which was sent the
/// prompt, is cancelled and booked the prompt's estimate, for a stream at the commit
/// (`Router::first_token`), for a whole reply as the hedge's reply serves the request (before
/// the gateway reads the reply's cost): each access line's `cost_usd` is that estimate at
/// `ta`'s price, its tokens are marked estimated, and `/metrics` adds up both. (A whole
/// reply's loser was booked nothing, cancelled after the reply by `abandon`: the same
/// request cost less when it did not stream.)
#[tokio::test(start_paused = true)]
async fn a_hedged_requests_loser_is_booked_the_prompt_estimate_in_the_access_line() {
    let log = Captured::start();
    let gw = hedged();
    // `ta`'s failed cost in `/metrics`.
    let failed = |metrics: String| {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with("switchyard_cost_usd_total{")
                    && l.contains("target=\"ta\"")
                    && l.contains("result=\"failed\"")
            })
            .unwrap()
            .to_owned();
        line.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap()
    };
    let mut total = 0.0;
    let mut priced = Vec::new();
    for stream in [true, false] {
        let cost = f64::from(estimated_prompt(&chat(stream))) * 2.0 / 1e6;
        priced.push(cost);
        total += cost;
        let (status, _) = call(&gw, "POST", CHAT_PATH, Some(CLIENT_KEY), chat(stream)).await;
        assert_eq!(status, 200);
        let spent = failed(metrics(&gw).await);
        assert!((spent - total).abs() < 1e-12, "{spent} != {total}");
    }
    let lines = log.access();
    assert_eq!(lines.len(), 2, "{}", log.text());
    for (line, priced) in lines.iter().zip(priced) {
        assert_eq!(line["result"], "ok", "{line}");
        assert_eq!(line["attempts"], "ta:cancelled,tb:success", "{line}");
        assert_eq!(line["served_by"], "tb", "{line}");
        assert_eq!(line["tokens_estimated"], true, "{line}");
        let booked = line["cost_usd"].as_f64().unwrap();
        assert!((booked - priced).abs() < 1e-12, "{line}");
    }
}

/// `x-switchyard-attempt-log` gives each attempt's time: the losing `ta` was on its way from
/// the request's start until `tb` won, at least the 100 ms before the hedge was sent. A
/// stream's header says so; a whole reply's says `ta cancelled 0.000`.
#[tokio::test(start_paused = true)]
async fn a_losing_hedges_attempt_log_entry_gives_the_time_it_was_out() {
    let gw = hedged_with("  expose_attempts: true\n");
    for stream in [true, false] {
        let (status, headers, _) =
            call_with_headers(&gw, "POST", CHAT_PATH, Some(CLIENT_KEY), chat(stream)).await;
        assert_eq!(status, 200);
        let line = headers["x-switchyard-attempt-log"].to_str().unwrap();
        let entries = switchyard_core::attempt_log::parse(line).unwrap();
        let ta = entries.iter().find(|e| e.target == "ta").unwrap();
        assert_eq!(ta.label, "cancelled", "stream {stream}: {line}");
        assert!(
            ta.latency >= switchyard_core::time::Duration::from_millis(100),
            "stream {stream}: {line}"
        );
    }
}
