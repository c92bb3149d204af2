//! Prometheus text exposition (format 0.0.4) of a router's telemetry, with low-cardinality
//! labels only: provider, target, route, outcome kind. For the gateway's `/metrics` and for
//! live runs.

use std::fmt::Write;

use crate::health::Level;
use crate::id::TargetId;
use crate::outcome::ErrorKind;
use crate::rng::Rng;
use crate::router::{Router, RouterParams};
use crate::telemetry::LatencyHistogram;
use crate::time::{Duration, Instant};

/// Histogram bucket bounds, in seconds.
const BOUNDS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
];

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn histogram(out: &mut String, name: &str, labels: &str, h: &LatencyHistogram) {
    for b in BOUNDS {
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels},le=\"{b}\"}} {}",
            h.count_le(Duration::from_secs_f64(b))
        );
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count());
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum_secs());
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count());
}

/// The whole exposition, breakers as of their last transition (an `Open` whose cooldown
/// ended stays `open` until a request polls it) and client-side buckets as of their last use
/// (not refilled since).
pub fn render<R: Rng>(router: &Router<R>) -> String {
    render_with(router, None)
}

/// The whole exposition, each breaker in the state a request arriving at `now` would find
/// ([`Breaker::state_at`](crate::health::breaker::Breaker::state_at)) and each client-side
/// bucket refilled to `now`: for a caller with a clock (the gateway's `/metrics`), so an idle
/// target's breaker does not read `open` long after its cooldown ended.
pub fn render_at<R: Rng>(router: &Router<R>, now: Instant) -> String {
    render_with(router, Some(now))
}

fn render_with<R: Rng>(router: &Router<R>, now: Option<Instant>) -> String {
    let mut out = String::new();
    routes(router, &mut out);
    attempts(router, &mut out);
    usage(router, &mut out);
    health(router, now, &mut out);
    out
}

fn target_labels(p: &RouterParams, i: usize) -> String {
    let t = &p.targets[i];
    format!(
        "provider=\"{}\",target=\"{}\"",
        label(p.providers.name(t.provider.index() as u32)),
        label(&t.name)
    )
}

/// Requests by route and outcome; resumed streams.
fn routes<R: Rng>(router: &Router<R>, out: &mut String) {
    let (p, tel) = (router.params(), router.telemetry());
    out.push_str("# HELP switchyard_requests_total Requests finished, by route and final outcome.\n# TYPE switchyard_requests_total counter\n");
    for (r, stats) in p.routes.iter().zip(&tel.routes) {
        let _ = writeln!(
            out,
            "switchyard_requests_total{{route=\"{}\",outcome=\"success\"}} {}",
            label(&r.name),
            stats.served
        );
        for (i, n) in stats.failures.iter().enumerate().filter(|(_, n)| **n > 0) {
            let _ = writeln!(
                out,
                "switchyard_requests_total{{route=\"{}\",outcome=\"{}\"}} {n}",
                label(&r.name),
                crate::telemetry::failure_label(i)
            );
        }
    }

    out.push_str("# HELP switchyard_stream_resumes_total Streams broken after their first token on a route with resume: prefill, by route and whether a continuation completed them.\n# TYPE switchyard_stream_resumes_total counter\n");
    for (r, stats) in p.routes.iter().zip(&tel.routes) {
        if r.resume != crate::router::ResumeMode::Prefill {
            continue;
        }
        for (result, n) in [("resumed", stats.resumed), ("failed", stats.resume_failed)] {
            let _ = writeln!(
                out,
                "switchyard_stream_resumes_total{{route=\"{}\",result=\"{result}\"}} {n}",
                label(&r.name)
            );
        }
    }
}

/// Attempts by target and outcome; their latency and time to first token.
fn attempts<R: Rng>(router: &Router<R>, out: &mut String) {
    let (p, tel) = (router.params(), router.telemetry());
    out.push_str("# HELP switchyard_attempts_total Attempts finished, by target and outcome.\n# TYPE switchyard_attempts_total counter\n");
    for (i, t) in tel.targets.iter().enumerate() {
        let l = target_labels(p, i);
        let _ = writeln!(
            out,
            "switchyard_attempts_total{{{l},outcome=\"success\"}} {}",
            t.successes
        );
        let _ = writeln!(
            out,
            "switchyard_attempts_total{{{l},outcome=\"cancelled\"}} {}",
            t.cancelled
        );
        for k in ErrorKind::ALL.iter().filter(|k| t.errors[k.index()] > 0) {
            let _ = writeln!(
                out,
                "switchyard_attempts_total{{{l},outcome=\"{}\"}} {}",
                k.label(),
                t.errors[k.index()]
            );
        }
    }

    out.push_str("# HELP switchyard_attempt_duration_seconds Attempt latency, send to last byte.\n# TYPE switchyard_attempt_duration_seconds histogram\n");
    for (i, t) in tel.targets.iter().enumerate() {
        histogram(
            out,
            "switchyard_attempt_duration_seconds",
            &target_labels(p, i),
            &t.latency,
        );
    }
    out.push_str("# HELP switchyard_first_token_seconds Time to first token.\n# TYPE switchyard_first_token_seconds histogram\n");
    for (i, t) in tel.targets.iter().enumerate() {
        histogram(
            out,
            "switchyard_first_token_seconds",
            &target_labels(p, i),
            &t.first_token,
        );
    }
}

/// Tokens and cost by target.
fn usage<R: Rng>(router: &Router<R>, out: &mut String) {
    let (p, tel) = (router.params(), router.telemetry());
    out.push_str("# HELP switchyard_tokens_total Tokens, by direction.\n# TYPE switchyard_tokens_total counter\n");
    for (i, t) in tel.targets.iter().enumerate() {
        let l = target_labels(p, i);
        let _ = writeln!(
            out,
            "switchyard_tokens_total{{{l},direction=\"prompt\"}} {}",
            t.prompt_tokens
        );
        let _ = writeln!(
            out,
            "switchyard_tokens_total{{{l},direction=\"completion\"}} {}",
            t.completion_tokens
        );
    }
    out.push_str("# HELP switchyard_cost_usd_total Cost in USD, of attempts that succeeded and of those that did not.\n# TYPE switchyard_cost_usd_total counter\n");
    for (i, t) in tel.targets.iter().enumerate() {
        let l = target_labels(p, i);
        let _ = writeln!(
            out,
            "switchyard_cost_usd_total{{{l},result=\"success\"}} {}",
            t.cost_success
        );
        let _ = writeln!(
            out,
            "switchyard_cost_usd_total{{{l},result=\"failed\"}} {}",
            t.cost_failed
        );
    }
}

/// Availability, breaker state, attempts in flight and latency alerts by target.
fn health<R: Rng>(router: &Router<R>, now: Option<Instant>, out: &mut String) {
    let (p, tel) = (router.params(), router.telemetry());
    out.push_str("# HELP switchyard_availability_ratio Share of finished attempts that did not fail against the target; no sample for a target that finished none.\n# TYPE switchyard_availability_ratio gauge\n");
    for i in 0..tel.targets.len() {
        // An idle target has no availability: no sample, rather than a 1 it did not earn.
        if let Some(a) = tel.availability(TargetId::new(i as u32)) {
            let _ = writeln!(
                out,
                "switchyard_availability_ratio{{{}}} {a}",
                target_labels(p, i)
            );
        }
    }
    out.push_str("# HELP switchyard_breaker_state Breaker state (1 for the current one).\n# TYPE switchyard_breaker_state gauge\n");
    for i in 0..tel.targets.len() {
        let breaker = &router.health(TargetId::new(i as u32)).breaker;
        let current = now
            .map_or_else(|| breaker.state(), |now| breaker.state_at(now))
            .label();
        for state in ["closed", "open", "half_open", "recovering"] {
            let _ = writeln!(
                out,
                "switchyard_breaker_state{{{},state=\"{state}\"}} {}",
                target_labels(p, i),
                u8::from(state == current)
            );
        }
    }
    out.push_str(
        "# HELP switchyard_in_flight Attempts in flight.\n# TYPE switchyard_in_flight gauge\n",
    );
    for i in 0..tel.targets.len() {
        let _ = writeln!(
            out,
            "switchyard_in_flight{{{}}} {}",
            target_labels(p, i),
            router.health(TargetId::new(i as u32)).in_flight
        );
    }
    rate_limits(router, now, out);
    out.push_str("# HELP switchyard_latency_alert Whether a latency alert is raised on the target.\n# TYPE switchyard_latency_alert gauge\n");
    for (i, r) in tel.rings.iter().enumerate() {
        let _ = writeln!(
            out,
            "switchyard_latency_alert{{{}}} {}",
            target_labels(p, i),
            u8::from(r.alerting)
        );
    }
}

/// A gauge family of [`rate_limits`]: its name, its help and what it reads of a bucket.
type Family = (&'static str, &'static str, fn(&Level) -> f64);

/// Each client-side bucket's level and size by target: at `now` (refilled to then) when given,
/// else as of its last use. No sample for a target without that bucket (none configured and
/// none learned).
fn rate_limits<R: Rng>(router: &Router<R>, now: Option<Instant>, out: &mut String) {
    let p = router.params();
    let at = now.unwrap_or(Instant::ZERO);
    let levels: Vec<_> = (0..p.targets.len())
        .map(|i| router.health(TargetId::new(i as u32)).limits.levels(at))
        .collect();
    let families: [Family; 2] = [
        (
            "switchyard_rate_limit_remaining",
            "Units left in a target's client-side bucket (requests or tokens), this process's own (in a fleet, not the shared one), below zero after an overdraft.",
            |l| l.left.floor(),
        ),
        (
            "switchyard_rate_limit_per_minute",
            "Size of a target's client-side bucket (this process's own), configured or learned from the provider's headers.",
            |l| l.per_minute,
        ),
    ];
    for (name, help, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (i, l) in levels.iter().enumerate() {
            for (kind, level) in [("requests", l.requests), ("tokens", l.tokens)] {
                if let Some(level) = level {
                    let _ = writeln!(
                        out,
                        "{name}{{{},limit=\"{kind}\"}} {}",
                        target_labels(p, i),
                        value(&level)
                    );
                }
            }
        }
    }
}
