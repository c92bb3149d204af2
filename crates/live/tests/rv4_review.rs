//! RV4's review of the book-keeping series (BK): cases where the books disagree.

mod common;

use common::{request, rig};

/// OpenAI first, Anthropic as its hedge after 500 ms; OpenAI's first token 30 s late (as
/// `live.rs`'s `hedged`).
async fn hedged() -> common::Rig {
    let rig = rig(
        &[("openai", "openai"), ("anthropic", "anthropic")],
        "  - { name: r, policy: priority, tiers: [[t-openai], [t-anthropic]] }\n",
        "  max_attempts: 3\n  hedge_after: 500ms\n",
    );
    rig.inject("openai", r#"{"kind":"slow_first_token","extra":"30s"}"#)
        .await;
    rig
}

/// A hedged (unstreamed) request served by its hedge, whose caller took the reply and left
/// nothing behind: the loser still out when `chat` returns is cancelled by the plan's guard,
/// which now calls `Router::caller_left` and books it the prompt estimate, `usage_missing`.
/// The caller never left; the simulator books the same loser 0 tokens (`Sim::finish` calls
/// `abandon`), and the reply's `cost` (the access line's) was taken before the guard dropped:
/// the books and the reply disagree. (A stream's loser is another case: `first_token` books
/// it the prompt estimate at the commit, before the stream is handed over, below.)
#[tokio::test(start_paused = true)]

async fn a_served_hedged_requests_loser_is_not_booked_as_if_its_caller_left() {
    let rig = hedged().await;
    let reply = rig.router.chat(request("r")).await.unwrap();
    assert_eq!(reply.attempts.len(), 2);
    let tel = rig.router.telemetry();
    assert_eq!(tel.targets[0].cancelled, 1, "the loser is cancelled");
    let missing: u64 = tel.targets.iter().map(|t| t.usage_missing).sum();
    assert_eq!(
        missing, 0,
        "no caller left, and the winner reported its usage: nothing is an estimate"
    );
    let booked: u64 = tel.targets.iter().map(|t| t.prompt_tokens).sum();
    assert_eq!(
        booked,
        u64::from(reply.usage.prompt_tokens),
        "the books' prompt tokens are the reply's (the access line's)"
    );
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
