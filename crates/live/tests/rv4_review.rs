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
/// `abandon`), a stream's loser is booked 0 too (`first_token` cancels it), and the reply's
/// `cost` (the access line's) was taken before the guard dropped: the books and the reply
/// disagree.
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
