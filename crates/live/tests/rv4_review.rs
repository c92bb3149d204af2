//! RV4's review of the book-keeping series (BK): cases where the books disagree.

mod common;

use common::{request, rig_priced};

/// OpenAI first, priced $1 a million input tokens, Anthropic (unpriced) as its hedge after
/// 500 ms; OpenAI's first token 30 s late (as `live.rs`'s `hedged`).
async fn hedged() -> common::Rig {
    let rig = rig_priced(
        &[("openai", "openai"), ("anthropic", "anthropic")],
        "  - { name: r, policy: priority, tiers: [[t-openai], [t-anthropic]] }\n",
        "  max_attempts: 3\n  hedge_after: 500ms\n",
        &[("openai", "{ input: 1, output: 2 }")],
    );
    rig.inject("openai", r#"{"kind":"slow_first_token","extra":"30s"}"#)
        .await;
    rig
}

/// A hedged (unstreamed) request served by its hedge: the loser (OpenAI, still waiting for
/// its first token) is cancelled by the core as the hedge's reply serves the request, and
/// booked as a stream's loser is at the commit (below): the request's estimated prompt
/// tokens, `usage_missing`. The reply's `cost` and `tokens_estimated` (the access line's)
/// are taken after, so they include it: the books and the reply agree. This test pinned the
/// loser booked nothing (the guard's `abandon`, after `chat` returned), which made a hedged
/// request's cost depend on whether it streamed.
#[tokio::test(start_paused = true)]
async fn a_served_hedged_requests_loser_is_booked_its_prompt_estimate_in_the_reply() {
    let rig = hedged().await;
    let reply = rig.router.chat(request("r")).await.unwrap();
    assert_eq!(reply.attempts.len(), 2);
    let tel = rig.router.telemetry();
    let loser = &tel.targets[0];
    assert_eq!((loser.cancelled, loser.usage_missing), (1, 1));
    assert_eq!(loser.completion_tokens, 0);
    assert!(loser.prompt_tokens > 0, "the prompt's estimate");
    assert_eq!(
        tel.targets[1].usage_missing, 0,
        "the winner reported its usage"
    );
    let booked: u64 = tel.targets.iter().map(|t| t.prompt_tokens).sum();
    assert_eq!(
        booked,
        loser.prompt_tokens + u64::from(reply.usage.prompt_tokens),
        "the loser's estimate, the reply's usage"
    );
    let priced = loser.prompt_tokens as f64 / 1e6;
    assert!((reply.cost - priced).abs() < 1e-15, "{}", reply.cost);
    assert!(
        (loser.cost_failed - reply.cost).abs() < 1e-15,
        "the books' cost is the reply's (the access line's)"
    );
    assert!(reply.tokens_estimated);
}

/// A hedged stream: the hedge's first token commits the request to it, and the core books the
/// loser (OpenAI, still waiting for its first token) `cancelled` with the request's estimated
/// prompt tokens, `usage_missing`, as the simulator books it (`Router::first_token`): it was
/// sent the prompt. The stream, handed over after the commit, has it in its cost and says its
/// tokens are partly estimates.
#[tokio::test(start_paused = true)]
async fn a_hedged_streams_loser_is_booked_its_prompt_estimate_at_the_commit() {
    let rig = hedged().await;
    let mut stream = rig
        .router
        .chat_stream(switchyard_core::request::Request {
            stream: true,
            ..request("r")
        })
        .await
        .unwrap();
    assert_eq!(stream.target, "t-anthropic");
    let tel = rig.router.telemetry();
    let loser = &tel.targets[0];
    assert_eq!((loser.cancelled, loser.usage_missing), (1, 1));
    assert_eq!((loser.prompt_tokens, loser.completion_tokens), (10, 0));
    assert!(stream.tokens_estimated());
    while stream.next().await.is_some() {}
    let tel = rig.router.telemetry();
    assert_eq!(tel.targets[0].prompt_tokens, 10, "booked once");
    assert_eq!(
        tel.targets[1].usage_missing, 0,
        "the winner reported its usage"
    );
    assert!(stream.tokens_estimated());
}
