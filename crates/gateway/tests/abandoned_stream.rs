//! A stream its client abandons is booked with what its provider generated (issue 13): the
//! prompt (as the stream reported it, else estimated) and the completion tokens of the text
//! received so far, priced, on the access line and in `/metrics`.
#![expect(clippy::unwrap_used, clippy::panic, reason = "test code")]

use std::sync::Arc;

use switchyard_gateway::Gateway;

mod support;

use support::*;

/// `ta` (price $2 / $10 per million) on provider `a` speaking `dialect`, answering 400 tokens.
fn gateway(dialect: &str) -> Arc<Gateway> {
    let text =
        config(TA, CHAT_TA, "").replacen("dialect: openai", &format!("dialect: {dialect}"), 1);
    with_fake(&text, fake_of("a", dialect, 400))
}

/// Reads 4 frames of the stream of [`chat`]`(true)` (the role chunk and three text chunks),
/// then leaves.
async fn read_four_then_leave(gw: &Arc<Gateway>) {
    let read = read_then_leave(gw, CHAT_PATH, CLIENT_KEY, chat(true), 4).await;
    assert_eq!(read.len(), 4, "{read:?}");
}

/// `ta`'s value of the `/metrics` series `name` with the extra label `label`.
async fn metric(gw: &Arc<Gateway>, name: &str, label: &str) -> f64 {
    let text = metrics(gw).await;
    text.lines()
        .find(|l| l.starts_with(name) && l.contains("target=\"ta\"") && l.contains(label))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} {label} in\n{text}"))
}

/// The access line's tokens and cost, checked against the price and `/metrics`.
async fn booked(gw: &Arc<Gateway>, line: &serde_json::Value) -> (u64, u64) {
    assert_eq!(line["result"], "client_closed", "{line}");
    assert_eq!(line["attempts"], "ta:cancelled", "{line}");
    let prompt = line["prompt_tokens"].as_u64().unwrap();
    let completion = line["completion_tokens"].as_u64().unwrap();
    assert!(prompt > 0 && completion > 0, "{line}");
    // Fewer than the whole answer: the client left early.
    assert!(completion < 400, "{line}");
    let cost = (prompt as f64 * 2.0 + completion as f64 * 10.0) / 1e6;
    let logged = line["cost_usd"].as_f64().unwrap();
    assert!((logged - cost).abs() < 1e-12, "{line}: {cost}");
    let tokens = "switchyard_tokens_total";
    assert_eq!(
        metric(gw, tokens, "direction=\"prompt\"").await,
        prompt as f64
    );
    assert_eq!(
        metric(gw, tokens, "direction=\"completion\"").await,
        completion as f64
    );
    let spent = metric(gw, "switchyard_cost_usd_total", "result=\"failed\"").await;
    assert!((spent - cost).abs() < 1e-12, "{spent} != {cost}");
    (prompt, completion)
}

#[tokio::test(start_paused = true)]
async fn a_stream_the_client_leaves_is_booked_with_the_tokens_generated() {
    let logs = Captured::start();
    let gw = gateway("openai");
    read_four_then_leave(&gw).await;
    let lines = logs.access();
    assert_eq!(lines.len(), 1, "{}", logs.text());
    let (_, completion) = booked(&gw, &lines[0]).await;
    // At least the three chunks the client read (each at least one character).
    assert!(completion >= 1, "{}", lines[0]);
}

/// Anthropic reports the prompt in `message_start`: the abandoned stream books that number,
/// the one the same request's whole stream reports.
#[tokio::test(start_paused = true)]
async fn an_abandoned_anthropic_stream_books_the_prompt_it_reported() {
    let logs = Captured::start();
    let gw = gateway("anthropic");
    let (status, body) = send_chat(&gw, true).await;
    assert_eq!(status, 200, "{body}");
    let whole = logs.access()[0]["prompt_tokens"].as_u64().unwrap();
    let before = logs.access().len();
    let gw = gateway("anthropic");
    read_four_then_leave(&gw).await;
    let lines = logs.access();
    assert_eq!(lines.len(), before + 1, "{}", logs.text());
    let (prompt, _) = booked(&gw, &lines[before]).await;
    assert_eq!(prompt, whole, "{}", lines[before]);
}
