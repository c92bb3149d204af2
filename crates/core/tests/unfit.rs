//! Targets excluded from a plan because their dialect cannot express the request, and the
//! `default_max_tokens` bounds of a target.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use switchyard_core::config::load_router;
use switchyard_core::id::TargetId;
use switchyard_core::outcome::{FailureReason, FinalOutcome};
use switchyard_core::plan::Action;
use switchyard_core::request::Request;
use switchyard_core::rng::SeededRng;
use switchyard_core::router::Router;
use switchyard_core::telemetry::failure_index;
use switchyard_core::time::Instant;

const YAML: &str = "\
targets:
  - { name: a, provider: pa, model: ma }
  - { name: b, provider: pb, model: mb }
  - { name: c, provider: pc, model: mc }
routes:
  - { name: chat, policy: priority, tiers: [[a], [b]] }
  - { name: primary, policy: static, targets: [a], fallback: backup }
  - { name: backup, policy: static, targets: [c] }
";

fn request(route: &str) -> Request {
    Request {
        route: route.into(),
        ..Request::default()
    }
}

const A: TargetId = TargetId::new(0);
const B: TargetId = TargetId::new(1);
const C: TargetId = TargetId::new(2);

#[test]
fn an_unfit_target_is_skipped_without_counting_against_it() {
    let mut r = Router::new(load_router(YAML, "t.yaml").unwrap(), SeededRng::new(1));
    let mut plan = r.begin(&request("chat"), Instant::ZERO);
    plan.exclude_unfit(A);
    plan.exclude_unfit(A);
    assert!(plan.is_unfit(A) && !plan.is_unfit(B));
    match r.next(&mut plan, Instant::ZERO) {
        Action::Send { target, .. } => assert_eq!(target, B, "the first tier is unfit"),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.telemetry().targets[0].attempts, 0);
    assert_eq!(r.telemetry().targets[0].errors_total(), 0);
}

#[test]
fn a_route_with_every_member_unfit_fails_unsupported_after_its_fallbacks() {
    let mut r = Router::new(load_router(YAML, "t.yaml").unwrap(), SeededRng::new(1));
    let mut plan = r.begin(&request("chat"), Instant::ZERO);
    plan.exclude_unfit(A);
    plan.exclude_unfit(B);
    assert_eq!(
        r.next(&mut plan, Instant::ZERO),
        Action::Finish(FinalOutcome::Failed(FailureReason::Unsupported))
    );
    assert_eq!(
        r.telemetry().routes[0].failures[failure_index(FailureReason::Unsupported)],
        1
    );
    // The fallback route's target is fit: it serves.
    let mut plan = r.begin(&request("primary"), Instant::ZERO);
    plan.exclude_unfit(A);
    match r.next(&mut plan, Instant::ZERO) {
        Action::Send { target, .. } => assert_eq!(target, C),
        other => panic!("{other:?}"),
    }
    // Unfit along the whole chain: unsupported.
    let mut plan = r.begin(&request("primary"), Instant::ZERO);
    plan.exclude_unfit(A);
    plan.exclude_unfit(C);
    assert_eq!(
        r.next(&mut plan, Instant::ZERO),
        Action::Finish(FinalOutcome::Failed(FailureReason::Unsupported))
    );
    // One member unfit and the other merely drained: no target available, not unsupported.
    r.apply(
        switchyard_core::overrides::Override::Drain(B),
        Instant::ZERO,
    )
    .unwrap();
    let mut plan = r.begin(&request("chat"), Instant::ZERO);
    plan.exclude_unfit(A);
    assert_eq!(
        r.next(&mut plan, Instant::ZERO),
        Action::Finish(FinalOutcome::Failed(FailureReason::NoTargetAvailable))
    );
}

#[test]
fn default_max_tokens_is_bounded_by_the_context_window() {
    let target = |extra: &str| {
        format!(
            "targets:\n  - {{ name: a, provider: p, model: m, context_window: 1000{extra} }}\nroutes:\n  - {{ name: r, policy: static, targets: [a] }}\n"
        )
    };
    let ok = load_router(&target(", default_max_tokens: 1000"), "t.yaml").unwrap();
    assert_eq!(ok.targets[0].default_max_tokens, Some(1000));
    assert_eq!(
        load_router(&target(""), "t.yaml").unwrap().targets[0].default_max_tokens,
        None
    );
    for bad in ["0", "1001"] {
        let e =
            load_router(&target(&format!(", default_max_tokens: {bad}")), "t.yaml").unwrap_err();
        assert_eq!(e.path, "targets[0].default_max_tokens", "{bad}");
    }
}

#[test]
fn a_named_target_that_cannot_express_the_request_fails_unsupported() {
    let mut r = Router::new(load_router(YAML, "t.yaml").unwrap(), SeededRng::new(1));
    // `b` named as the model: it alone may serve, and it is unfit, though `a` is not.
    let mut plan = r.begin(&request("b"), Instant::ZERO);
    assert_eq!(plan.pinned_target(), Some(B));
    plan.exclude_unfit(B);
    assert_eq!(
        r.next(&mut plan, Instant::ZERO),
        Action::Finish(FinalOutcome::Failed(FailureReason::Unsupported))
    );
}

/// A request that needs a capability no member of its routes has is the client's to fix
/// (`unsupported`, a 400 at the gateway), like a field no dialect can express; one capable
/// member that is merely drained leaves it `no_target_available`.
#[test]
fn a_need_no_member_has_fails_unsupported_not_unavailable() {
    use switchyard_core::request::Capabilities;
    let yaml = "\
targets:
  - { name: a, provider: pa, model: ma }
  - { name: b, provider: pb, model: mb, capabilities: [streaming, vision] }
routes:
  - { name: text, policy: static, targets: [a], fallback: also_text }
  - { name: also_text, policy: static, targets: [a] }
  - { name: mixed, policy: priority, tiers: [[a], [b]] }
";
    let mut r = Router::new(load_router(yaml, "t.yaml").unwrap(), SeededRng::new(1));
    let image = |route: &str| Request {
        needs: Capabilities::VISION,
        ..request(route)
    };
    let mut plan = r.begin(&image("text"), Instant::ZERO);
    assert_eq!(
        r.next(&mut plan, Instant::ZERO),
        Action::Finish(FinalOutcome::Failed(FailureReason::Unsupported)),
        "no target of the route or its fallback has vision"
    );
    assert_eq!(r.telemetry().targets[0].attempts, 0);
    // A capable member serves; drained, the request cannot be served now, but could be.
    let mut plan = r.begin(&image("mixed"), Instant::ZERO);
    match r.next(&mut plan, Instant::ZERO) {
        Action::Send { target, .. } => assert_eq!(target, B),
        other => panic!("{other:?}"),
    }
    r.apply(
        switchyard_core::overrides::Override::Drain(B),
        Instant::ZERO,
    )
    .unwrap();
    let mut plan = r.begin(&image("mixed"), Instant::ZERO);
    assert_eq!(
        r.next(&mut plan, Instant::ZERO),
        Action::Finish(FinalOutcome::Failed(FailureReason::NoTargetAvailable))
    );
    // The field a client is told about: the first image part.
    let req = Request {
        messages: vec![
            switchyard_core::request::Message::text(switchyard_core::request::Role::User, "hi"),
            switchyard_core::request::Message {
                role: switchyard_core::request::Role::User,
                content: vec![
                    switchyard_core::request::Part::Text("see".into()),
                    switchyard_core::request::Part::Image(switchyard_core::request::Image {
                        source: switchyard_core::request::ImageSource::Url(
                            "https://x/i.png".into(),
                        ),
                        detail: None,
                    }),
                ],
                name: None,
            },
        ],
        stream: true,
        ..image("text")
    };
    assert_eq!(
        req.field_needing(Capabilities::VISION).as_deref(),
        Some("messages[1].content[1]")
    );
    assert_eq!(
        req.field_needing(Capabilities::VISION.union(Capabilities::STREAMING))
            .as_deref(),
        Some("stream")
    );
    assert_eq!(
        req.field_needing(Capabilities::TOOLS).as_deref(),
        Some("tools")
    );
    assert_eq!(
        req.field_needing(Capabilities::JSON_MODE).as_deref(),
        Some("response_format")
    );
    assert_eq!(req.field_needing(Capabilities::NONE), None);
}
