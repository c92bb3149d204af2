//! Callers that go away: a `timeout` around `chat`, a dropped `ChatStream` before and after
//! its first token, a dropped half-open probe. Afterwards every `in_flight` is 0, every
//! request is counted exactly once, and a recovered target gets its traffic back.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::time::Duration as StdDuration;

use common::{request, rig};
use switchyard_core::id::TargetId;
use switchyard_core::outcome::FailureReason;
use switchyard_core::telemetry::failure_index;
use switchyard_live::{AttemptSink, Driver, NamedAttempts, StreamEvent};

const PLAN: &str = "  max_attempts: 3\n  attempt_timeout: 10s\n  deadline: 30s\n";
const ROUTES: &str = "  - { name: r, policy: priority, tiers: [[t-a], [t-b]] }\n";

fn books(router: &Driver) -> (u32, u64, u64) {
    router.inspect(|core| {
        let in_flight = (0..2)
            .map(|i| core.health(TargetId::new(i)).in_flight)
            .sum();
        let tel = core.telemetry();
        let requests = tel.routes[0].requests;
        let abandoned = tel.routes[0].failures[failure_index(FailureReason::Abandoned)];
        (in_flight, requests, abandoned)
    })
}

fn stream_request() -> switchyard_core::request::Request {
    switchyard_core::request::Request {
        stream: true,
        ..request("r")
    }
}

#[tokio::test(start_paused = true)]
async fn a_timeout_around_chat_abandons_the_request() {
    let rig = rig(&[("a", "openai"), ("b", "openai")], ROUTES, PLAN);
    rig.inject("a", r#"{"kind":"hang"}"#).await;
    let r = tokio::time::timeout(StdDuration::from_secs(2), rig.router.chat(request("r"))).await;
    assert!(r.is_err(), "the caller gave up");
    assert_eq!(
        books(&rig.router),
        (0, 1, 1),
        "in flight, requests, abandoned"
    );
    let tel = rig.router.telemetry();
    assert_eq!(tel.targets[0].cancelled, 1);
    assert_eq!(
        tel.targets[0].attempts + tel.targets[1].attempts,
        1,
        "nothing else sent"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stream_dropped_before_its_first_token_is_abandoned() {
    let rig = rig(&[("a", "openai"), ("b", "openai")], ROUTES, PLAN);
    rig.inject("a", r#"{"kind":"slow_first_token","extra":"5s"}"#)
        .await;
    let r = tokio::time::timeout(
        StdDuration::from_secs(1),
        rig.router.chat_stream(stream_request()),
    )
    .await;
    assert!(r.is_err());
    assert_eq!(books(&rig.router), (0, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_stream_dropped_after_its_first_token_is_abandoned_once() {
    let rig = rig(&[("a", "openai"), ("b", "openai")], ROUTES, PLAN);
    let mut stream = rig.router.chat_stream(stream_request()).await.unwrap();
    assert!(matches!(
        stream.next().await,
        Some(Ok(StreamEvent::Delta(_)))
    ));
    assert_eq!(books(&rig.router).0, 1, "the stream is in flight");
    drop(stream);
    assert_eq!(books(&rig.router), (0, 1, 1));
    let tel = rig.router.telemetry();
    assert_eq!((tel.targets[0].cancelled, tel.targets[0].successes), (1, 0));
    // Later time passes: nothing else is recorded for it (no phantom attempt).
    tokio::time::sleep(StdDuration::from_secs(60)).await;
    let tel = rig.router.telemetry();
    assert_eq!(tel.targets[0].attempts + tel.targets[1].attempts, 1);
    assert_eq!(tel.routes[0].requests, 1);
}

#[tokio::test(start_paused = true)]
async fn a_stream_read_to_its_end_is_counted_served_once() {
    let rig = rig(&[("a", "openai"), ("b", "openai")], ROUTES, PLAN);
    let mut stream = rig.router.chat_stream(stream_request()).await.unwrap();
    while let Some(e) = stream.next().await {
        e.unwrap();
    }
    drop(stream);
    assert_eq!(books(&rig.router), (0, 1, 0));
    assert_eq!(rig.router.telemetry().routes[0].served, 1);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_half_open_probe_does_not_keep_a_recovered_target_out() {
    let rig = rig(&[("a", "openai"), ("b", "openai")], ROUTES, PLAN);
    let a = TargetId::new(0);
    // Five 500s trip a's breaker (the default: 5 in a row); b serves.
    rig.inject("a", r#"{"kind":"http","status":500,"first":5}"#)
        .await;
    for _ in 0..5 {
        let reply = rig.router.chat(request("r")).await.unwrap();
        assert_eq!(reply.served_by, TargetId::new(1));
    }
    let open = rig.router.inspect(|c| c.health(a).breaker.state().label());
    assert_eq!(open, "open");
    // After the cooldown a probe goes to a, which hangs; its caller gives up.
    rig.inject("a", r#"{"kind":"hang","first":1}"#).await;
    tokio::time::sleep(StdDuration::from_secs(6)).await;
    let r = tokio::time::timeout(StdDuration::from_secs(1), rig.router.chat(request("r"))).await;
    assert!(r.is_err());
    let probes = rig
        .router
        .inspect(|c| c.health(a).breaker.probes_in_flight());
    assert_eq!(probes, 0, "the dropped probe freed its slot");
    assert_eq!(books(&rig.router).0, 0);
    // a has recovered: it gets its traffic back within a few requests.
    rig.clear("a").await;
    let mut served_by_a = 0;
    for _ in 0..10 {
        let reply = rig.router.chat(request("r")).await.unwrap();
        served_by_a += usize::from(reply.served_by == a);
        tokio::time::sleep(StdDuration::from_millis(500)).await;
    }
    assert!(served_by_a >= 3, "a served {served_by_a} of 10");
    assert_eq!(books(&rig.router), (0, 16, 1));
}

fn named(route: &str, attempts: &[(&str, &'static str)], served_by: Option<&str>) -> NamedAttempts {
    NamedAttempts {
        route: Some(route.into()),
        attempts: attempts
            .iter()
            .map(|(t, o)| ((*t).to_owned(), *o))
            .collect(),
        served_by: served_by.map(str::to_owned),
    }
}

/// The sink's contract (`AttemptSink`): a caller that gave up (a timeout around the future, a
/// stream dropped before its last event) finds the request's attempts, route and target in
/// it, the attempt on its way `cancelled`; a caller handed the request's end (a reply, an
/// error, a stream's `End`) has them there, and the sink stays empty.
#[tokio::test(start_paused = true)]
async fn the_sink_holds_what_a_caller_that_gave_up_has_nowhere_else() {
    let rig = rig(&[("a", "openai"), ("b", "openai")], ROUTES, PLAN);

    // Given up before the reply: the attempt to the hanging target, cancelled.
    rig.inject("a", r#"{"kind":"hang","first":1}"#).await;
    let sink = AttemptSink::default();
    let r = tokio::time::timeout(
        StdDuration::from_secs(2),
        rig.router.chat_into(request("r"), Some(sink.clone())),
    )
    .await;
    assert!(r.is_err());
    assert_eq!(
        sink.named(),
        Some(named("r", &[("t-a", "cancelled")], None))
    );
    let taken = sink.take();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].target, TargetId::new(0));

    // A reply, and an error: the caller has them; nothing is written.
    let sink = AttemptSink::default();
    let reply = rig.router.chat_into(request("r"), Some(sink.clone())).await;
    assert_eq!(reply.unwrap().attempts.len(), 1);
    assert_eq!(sink.named(), None);
    assert!(sink.take().is_empty());
    let sink = AttemptSink::default();
    let error = rig
        .router
        .chat_into(request("nowhere"), Some(sink.clone()))
        .await;
    assert!(error.is_err());
    assert_eq!(sink.named(), None);

    // A stream dropped after its first token: the attempt it was on, cancelled, and the
    // target that served it.
    let sink = AttemptSink::default();
    let mut stream = rig
        .router
        .chat_stream_into(stream_request(), Some(sink.clone()))
        .await
        .unwrap();
    assert!(matches!(
        stream.next().await,
        Some(Ok(StreamEvent::Delta(_)))
    ));
    assert_eq!(sink.named(), None, "nothing before the request ends");
    drop(stream);
    assert_eq!(
        sink.named(),
        Some(named("r", &[("t-a", "cancelled")], Some("t-a")))
    );

    // A stream read to its `End`: nothing is written.
    let sink = AttemptSink::default();
    let mut stream = rig
        .router
        .chat_stream_into(stream_request(), Some(sink.clone()))
        .await
        .unwrap();
    let mut ended = false;
    while let Some(e) = stream.next().await {
        ended |= matches!(e.unwrap(), StreamEvent::End { .. });
    }
    assert!(ended);
    drop(stream);
    assert_eq!(sink.named(), None);
}
