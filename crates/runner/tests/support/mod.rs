//! What the live tests share: one live run at a time, and what "sim and live agree" means.
//! Included by the runner's live tests and by the CLI's tests that run through the gateway
//! (`crates/cli/tests/live_gateway.rs`), which the runner cannot start itself.
#![allow(dead_code, reason = "each test binary uses some of these helpers")]

use switchyard_runner::report::Report;

/// Live runs are timed in real time: run them one at a time, so that on a 2-core machine
/// they do not slow each other down (the test harness runs a binary's tests in parallel).
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LIVE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Prompt tokens as the fakes counted them live: every request's prompt has its class's
/// drawn size (the fakes' estimate is exact from 5 tokens).
pub fn fake_prompt_tokens(r: &switchyard_runner::Report) -> u64 {
    r.fake_counters
        .values()
        .map(|c| c["prompt_tokens"].as_u64().unwrap())
        .sum()
}

/// The figures that must mean the same in both modes, on a run where everything succeeds.
/// Tolerances: prompts are the same draws in both modes, so prompt tokens agree to 0.5 %
/// (a stray request refused near a limit); output lengths are drawn independently (the sim
/// and the fakes use different substreams), so completion tokens and cost agree within
/// [`sum_band`] of [`SPLIT_OUTPUT_CV`] (4 standard deviations; the prompts' part of the cost
/// is the same in both, so the cost's band is narrower still); TTFT p50 within
/// [`median_band`] at the sim's own spread (the log-normal through its p50 and p90: σ ≈ 0.77
/// on the 30/70 split, 16 % at ~1 200 requests) plus 10 ms (the live loopback and
/// scheduling),
/// inter-token p50 within 35 % plus 3 ms and time per output token p50 within 20 % plus 2 ms
/// (loopback, scheduling and the 1 ms timer wheel are added live; on a loaded machine a late
/// read takes several events at once, which shortens the gaps it sees as much as a late
/// timer lengthens them: 10 ms live against 15 ms sim was seen with two compilers running),
/// inter-token p99 between 80 % and twice plus 10 ms (the tail is where scheduling lands).
pub fn same_words(
    sim: &switchyard_runner::Report,
    live: &switchyard_runner::Report,
    live_targets: &[switchyard_runner::results::TargetReport],
) {
    same_tokens_and_cost(sim, live, live_targets);
    same_timing(sim, live);
}

/// `a` (sim) and `b` (live) within `rel` of `a` plus `abs`.
fn close(what: &str, a: f64, b: f64, rel: f64, abs: f64) {
    assert!(
        (a - b).abs() <= a.abs() * rel + abs,
        "{what}: sim {a} vs live {b}"
    );
}

/// Prompt and completion tokens (as the fakes and the live router counted them) and cost.
fn same_tokens_and_cost(
    sim: &switchyard_runner::Report,
    live: &switchyard_runner::Report,
    live_targets: &[switchyard_runner::results::TargetReport],
) {
    let sum = |ts: &[switchyard_runner::results::TargetReport],
               f: fn(&switchyard_runner::results::TargetReport) -> u64| {
        ts.iter().map(f).sum::<u64>() as f64
    };
    let sim_prompt = sum(&sim.targets, |t| t.prompt_tokens);
    close(
        "prompt tokens (fakes)",
        sim_prompt,
        fake_prompt_tokens(live) as f64,
        0.005,
        0.0,
    );
    if !live_targets.is_empty() {
        close(
            "prompt tokens (router)",
            sim_prompt,
            sum(live_targets, |t| t.prompt_tokens),
            0.005,
            0.0,
        );
    }
    let fake_completion: u64 = live
        .fake_counters
        .values()
        .map(|c| c["completion_tokens"].as_u64().unwrap())
        .sum();
    let band = sum_band(SPLIT_OUTPUT_CV, sim.totals.succeeded);
    close(
        "completion tokens",
        sum(&sim.targets, |t| t.completion_tokens),
        fake_completion as f64,
        band,
        0.0,
    );
    close("cost", sim.totals.cost_usd, live.totals.cost_usd, band, 0.0);
}

/// The coefficient of variation of a reply's output tokens on the 30/70 split: log-normal
/// lengths (p50 180 and 200, p99 900 and 1 000, 30 % and 70 % of the replies) capped at
/// `max_tokens` (512 for 60 % of the requests, 800 for the rest), computed from 400 000 draws.
pub const SPLIT_OUTPUT_CV: f64 = 0.64;

/// The relative band within which two independent sums of `n` draws of coefficient of
/// variation `cv` differ, 4 standard deviations: 4 √2 cv / √n (10.5 % for the split's
/// ~1 200 replies, 4.2 % for the outage's ~580 at cv 0.18).
pub fn sum_band(cv: f64, n: u64) -> f64 {
    4.0 * std::f64::consts::SQRT_2 * cv / (n.max(1) as f64).sqrt()
}

/// Time to first token, inter-token gaps and time per output token.
fn same_timing(sim: &switchyard_runner::Report, live: &switchyard_runner::Report) {
    // The median's sampling band at the sim's own spread: σ of the log-normal through its
    // p50 and p90 (0.77 on the 30/70 split: 4 standard deviations are 16 % at ~1 200).
    let t = &sim.totals.ttft_ms;
    let sigma = (t.p90 / t.p50).ln() / 1.2816;
    let band = median_band(t.p50, sigma, sim.totals.succeeded) + 10.0;
    eprintln!(
        "TTFT p50: sim {} vs live {} ms (band {band:.0} ms, σ {sigma:.2})",
        t.p50, live.totals.ttft_ms.p50
    );
    close("TTFT p50", t.p50, live.totals.ttft_ms.p50, 0.0, band);
    close(
        "inter-token p50",
        sim.totals.inter_token_ms.p50,
        live.totals.inter_token_ms.p50,
        0.35,
        3.0,
    );
    // The tail is where a busy machine's scheduling lands (one more hop through a gateway):
    // live may add to it, up to double plus 10 ms, but not take from it.
    let (sa, la) = (
        sim.totals.inter_token_ms.p99,
        live.totals.inter_token_ms.p99,
    );
    assert!(
        la >= sa * 0.8 - 2.0 && la <= sa * 2.0 + 10.0,
        "inter-token p99: sim {sa} vs live {la}"
    );
    close(
        "time per output token p50",
        sim.totals.time_per_output_token_ms.p50,
        live.totals.time_per_output_token_ms.p50,
        0.2,
        2.0,
    );
    for r in [sim, live] {
        assert!(
            r.totals.inter_token_ms.p50 > 0.0,
            "{}: gaps measured",
            r.mode
        );
        // Time to first token never exceeds the whole reply's latency.
        assert!(
            r.totals.ttft_ms.mean <= r.totals.latency_ms.mean,
            "{}: TTFT {:?} vs latency {:?}",
            r.mode,
            r.totals.ttft_ms,
            r.totals.latency_ms
        );
    }
}

/// Per class: the same requests, the same success rate and failure shares within `points`.
pub fn agree(sim: &Report, live: &Report, points: f64) {
    assert_eq!(sim.totals.requests, live.totals.requests, "same arrivals");
    for (class, a) in &sim.classes {
        let b = &live.classes[class];
        assert_eq!(a.requests, b.requests, "{class}: same requests");
        assert!(a.requests > 30, "{class}: too few requests to compare");
        let share = |n: u64, of: u64| n as f64 * 100.0 / of as f64;
        let (sa, sb) = (
            share(a.succeeded, a.requests),
            share(b.succeeded, b.requests),
        );
        assert!(
            (sa - sb).abs() <= points,
            "{class}: success sim {sa:.1}% vs live {sb:.1}% ({:?} vs {:?})",
            a.failures,
            b.failures
        );
        for reason in a.failures.keys().chain(b.failures.keys()) {
            let fa = share(a.failures.get(reason).copied().unwrap_or(0), a.requests);
            let fb = share(b.failures.get(reason).copied().unwrap_or(0), b.requests);
            assert!(
                (fa - fb).abs() <= points,
                "{class}: {reason} sim {fa:.1}% vs live {fb:.1}%"
            );
        }
    }
}

/// The half-width of the band within which two medians of `n` draws each, from a log-normal
/// with median `median` and shape `sigma`, differ 4 standard deviations out of 10 000: the
/// sample median's standard deviation is 1 / (2 f(m) √n), f(m) = 1 / (m σ √(2π)) at the
/// median, and the difference of two independent medians has √2 times that.
pub fn median_band(median: f64, sigma: f64, n: u64) -> f64 {
    let sd = median * sigma * (2.0 * std::f64::consts::PI).sqrt() / (2.0 * (n as f64).sqrt());
    4.0 * std::f64::consts::SQRT_2 * sd
}

/// The coefficient of variation of min(uniform 20..200, 60), the outage's output lengths.
pub const OUTAGE_OUTPUT_CV: f64 = 0.18;

/// Sim and live agree on an outage (`scenarios/agreement/outage-failover.yaml`): per class
/// the same outcomes, and the same failover figures, tokens, cost and time to first token,
/// within the tolerances derived in docs/ARCHITECTURE.md ("Sim versus live", its table):
/// - detection and failover within 0.25 s: the arrivals are the same, so both modes detect
///   on the same failed request give or take one in flight at the fault's start (one
///   arrival gap at 30/s is 33 ms; three, 0.1 s), plus a live 503's round trip and a loaded
///   machine's late timers;
/// - failback within 1 s: it waits for two probes that must succeed on real replies, each a
///   first token (log-normal, p50 120 ms, p99 600 ms: sd ≈ 120 ms) and 60 tokens at 250/s,
///   drawn independently in each mode: the two probes' sum differs by about 0.25 s (one
///   standard deviation), so 4 are 1 s;
/// - prompt tokens within 0.5 %: the same fixed 200-token prompts; only the few requests
///   near the detection that one mode retries and the other not differ;
/// - completion tokens within [`sum_band`] of [`OUTAGE_OUTPUT_CV`]: min(uniform 20..200, 60)
///   varies by 0.18 of its mean, so two independent sums over n ≈ 580 replies differ by
///   0.18 √2 / √n ≈ 1.05 % a standard deviation (4.2 % for 4);
/// - cost within that band plus 5 %: the drawn completion tokens, plus the failover and
///   failback bands (1.25 s at 30 requests/s, 37 requests) priced at the standby's double
///   price, about 5 % of the run's cost;
/// - the streams' time to first token p50 within [`median_band`] of the first-token draw
///   (log-normal, p50 120 ms, σ = ln 5 / 2.326) over the streams served (about 290: 34 ms)
///   plus 10 ms (the live loopback, the sim's 2 ms network delay, and scheduling). A whole
///   reply's time to first token is its latency, where live adds the 1 ms timer wheel to
///   each of 60 token gaps: not compared here.
pub fn outage_agrees(sim: &Report, live: &Report, name: &str) {
    let figures = |r: &Report| {
        let f = &r.failover[0];
        assert!(f.exercised.exercised, "{}: {:?}", r.mode, f.exercised);
        (
            f.time_to_detect_secs.unwrap(),
            f.time_to_failover_secs.unwrap(),
            f.time_to_failback_secs.unwrap(),
        )
    };
    let (d, o, b) = figures(sim);
    let (ld, lo, lb) = figures(live);
    eprintln!(
        "outage, sim vs {name}: detect {d} / {ld} s, failover {o} / {lo} s, failback {b} / {lb} s"
    );
    assert!((d - ld).abs() <= 0.25, "detected {ld} s vs sim {d} s");
    assert!((o - lo).abs() <= 0.25, "failed over {lo} s vs sim {o} s");
    assert!((b - lb).abs() <= 1.0, "failed back {lb} s vs sim {b} s");
    agree(sim, live, 2.0);
    let sum = |r: &Report, f: fn(&switchyard_runner::results::TargetReport) -> u64| {
        r.targets.iter().map(f).sum::<u64>() as f64
    };
    let counted = |key: &str| {
        live.fake_counters
            .values()
            .map(|c| c[key].as_u64().unwrap())
            .sum::<u64>() as f64
    };
    let (sp, lp) = (sum(sim, |t| t.prompt_tokens), counted("prompt_tokens"));
    let (sc, lc) = (
        sum(sim, |t| t.completion_tokens),
        counted("completion_tokens"),
    );
    let (sm, lm) = (sim.totals.cost_usd, live.totals.cost_usd);
    let (ss, ls) = (&sim.classes["stream"], &live.classes["stream"]);
    let band = median_band(120.0, 5.0f64.ln() / 2.326, ss.succeeded.min(ls.succeeded)) + 10.0;
    let (st, lt) = (ss.ttft_ms.p50, ls.ttft_ms.p50);
    eprintln!(
        "  prompt tokens {sp} / {lp}, completion tokens {sc} / {lc}, cost ${sm} / ${lm}, \
         streams' TTFT p50 {st} / {lt} ms (band {band:.1} ms)"
    );
    close("prompt tokens", sp, lp, 0.005, 0.0);
    let drawn = sum_band(OUTAGE_OUTPUT_CV, sim.totals.succeeded);
    close("completion tokens", sc, lc, drawn, 0.0);
    // The failover and failback bands (1.25 s at 30 requests/s) at the standby's double
    // price: about 5 % of the run's cost, on top of the drawn tokens'.
    close("cost", sm, lm, drawn + 0.05, 0.0);
    close("TTFT p50", st, lt, 0.0, band);
    for r in [sim, live] {
        assert!(
            r.totals.ttft_ms.mean <= r.totals.latency_ms.mean,
            "{}",
            r.mode
        );
    }
}
