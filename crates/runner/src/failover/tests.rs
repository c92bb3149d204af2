use switchyard_core::id::TargetId;
use switchyard_core::outcome::{AttemptRecord, Outcome};
use switchyard_core::time::{Duration, Instant};

use super::{FaultFold, MAX_SAMPLES};

fn at(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

/// An attempt on target 0 (the fault's provider) or 1 (another).
fn attempt(on_provider: bool) -> AttemptRecord {
    AttemptRecord {
        target: TargetId::new(if on_provider { 0 } else { 1 }),
        started: Instant::ZERO,
        outcome: Outcome::Success,
        latency: Duration::ZERO,
        hedge: false,
    }
}

/// A fault on target 0's provider from 10 s to 40 s of a 100 s run.
fn fold() -> FaultFold {
    FaultFold::new(vec![true, false], at(10_000), at(40_000), at(100_000))
}

/// A request every 100 ms; `touched(ms)` says whether it went to the provider.
fn requests(f: &mut FaultFold, touched: impl Fn(u64) -> bool) {
    for ms in (0..100_000).step_by(100) {
        f.add(at(ms), true, &[attempt(touched(ms))]);
    }
}

#[test]
fn failover_is_the_first_avoiding_request_exact_to_the_millisecond() {
    let mut f = fold();
    // Until 13.1 s every request goes to the provider; a lone probe at 20 s stays under 5 %.
    requests(&mut f, |ms| !(13_100..40_000).contains(&ms) || ms == 20_000);
    let x = f.figures(None);
    assert_eq!(x.time_to_failover, Some(3.1));
    assert_eq!(x.hold, Duration::from_secs(5));
    assert_eq!(x.requests, 300);
    assert_eq!(x.provider_requests, 32);
    assert_eq!(x.share_before, Some(1.0));
    // Back on the provider from the fault's end on: failback at once.
    assert_eq!(x.time_to_failback, Some(0.0));
}

#[test]
fn a_window_with_too_much_provider_traffic_is_not_a_failover() {
    let mut f = fold();
    // From 13.1 s, one request in ten still goes to the provider (10 %): never under 5 %.
    requests(&mut f, |ms| ms < 13_100 || ms.is_multiple_of(1_000));
    assert_eq!(f.figures(None).time_to_failover, None);
    // One in twenty-five (4 %) is under.
    let mut f = fold();
    requests(&mut f, |ms| ms < 13_100 || ms.is_multiple_of(2_500));
    assert_eq!(f.figures(None).time_to_failover, Some(3.1));
}

#[test]
fn the_end_of_a_fault_is_no_failover() {
    let mut f = fold();
    // Avoided only in the fault's last 4.9 s: no whole hold fits before its end.
    requests(&mut f, |ms| !(35_100..40_000).contains(&ms));
    assert_eq!(f.figures(None).time_to_failover, None);
    // 5 s is enough.
    let mut f = fold();
    requests(&mut f, |ms| !(35_000..40_000).contains(&ms));
    assert_eq!(f.figures(None).time_to_failover, Some(25.0));
}

#[test]
fn a_short_fault_holds_for_half_its_length() {
    let mut f = FaultFold::new(vec![true, false], at(10_000), at(14_000), at(100_000));
    requests(&mut f, |ms| !(11_000..14_000).contains(&ms));
    let x = f.figures(None);
    assert_eq!(x.hold, Duration::from_secs(2));
    assert_eq!(x.time_to_failover, Some(1.0));
}

#[test]
fn failback_needs_ninety_percent_of_the_share_before_for_the_hold() {
    let mut f = fold();
    // Before: half the requests go to the provider; during the fault, none from 10.5 s (a
    // fault its provider gets no request in has no failback). After 40 s: a tenth until
    // 52 s, then half again. The window from 51 s holds 21 of 50 (42 %, under 45 %); from
    // 52 s, 25.
    requests(&mut f, |ms| match ms {
        0..10_000 => ms.is_multiple_of(200),
        10_000..40_000 => ms < 10_500 && ms.is_multiple_of(200),
        40_000..52_000 => ms.is_multiple_of(1_000),
        _ => ms.is_multiple_of(200),
    });
    let x = f.figures(None);
    assert_eq!(x.share_before, Some(0.5));
    assert_eq!(x.time_to_failover, Some(0.1));
    assert_eq!(x.time_to_failback, Some(12.0));
}

#[test]
fn failback_never_happens_without_traffic_back() {
    let mut f = fold();
    requests(&mut f, |ms| ms < 10_000);
    assert_eq!(f.figures(None).time_to_failback, None);
    // A provider that had no share before cannot fail back.
    let mut f = fold();
    requests(&mut f, |_| false);
    let x = f.figures(None);
    assert_eq!((x.share_before, x.time_to_failback), (Some(0.0), None));
    assert_eq!(x.provider_requests, 0);
}

#[test]
fn the_order_requests_finish_in_does_not_matter() {
    let touched = |ms: u64| !(13_100..40_000).contains(&ms) || ms.is_multiple_of(3_000);
    let mut in_order = fold();
    requests(&mut in_order, touched);
    let mut reversed = fold();
    for ms in (0..1_000u64).rev().map(|i| i * 100) {
        reversed.add(at(ms), true, &[attempt(touched(ms))]);
    }
    assert_eq!(in_order.figures(None), reversed.figures(None));
    assert_eq!(in_order.figures(None).time_to_failover, Some(3.1));
}

#[test]
fn requests_without_attempts_and_retries_count_as_they_should() {
    let mut f = fold();
    for ms in (0..100_000).step_by(100) {
        // Refused before any attempt: in no share.
        f.add(at(ms + 50), true, &[]);
        // Tried elsewhere first, then retried on the provider: it touched the provider.
        let retried = ms < 13_100;
        f.add(at(ms), true, &[attempt(false), attempt(retried)]);
    }
    let x = f.figures(None);
    assert_eq!(x.requests, 300);
    assert_eq!(x.time_to_failover, Some(3.1));
}

#[test]
fn samples_are_capped_and_the_figures_say_up_to_when() {
    let mut f = FaultFold::new(
        vec![true, false],
        at(10_000),
        at(100_000_000),
        at(100_000_000),
    );
    // One request a millisecond, avoiding the provider from 13.1 s.
    let n = MAX_SAMPLES as u64 + 20_000;
    for ms in 10_000..10_000 + n {
        f.add(at(ms), true, &[attempt(ms < 13_100)]);
    }
    assert!(f.samples.len() < MAX_SAMPLES);
    let x = f.figures(None);
    let horizon = x.horizon.unwrap();
    assert!(
        horizon > at(10_000 + MAX_SAMPLES as u64 / 2 - 1) && horizon < at(10_000 + n),
        "{horizon:?}"
    );
    assert_eq!(x.time_to_failover, Some(3.1));
    // Counters stay exact.
    assert_eq!(x.requests, n);
    // Later starts are not kept.
    let kept = f.samples.len();
    f.add(at(10_000 + n + 1), true, &[attempt(true)]);
    assert_eq!(f.samples.len(), kept);
}

#[test]
fn requests_starting_at_the_same_instant_are_all_in_a_window_or_all_out() {
    // Failed over during the fault; the run's arrivals end 1 s after it (a 0.5 s hold).
    let mut f = FaultFold::new(vec![true, false], at(10_000), at(40_000), at(41_000));
    for ms in (0..40_000).step_by(100) {
        f.add(at(ms), true, &[attempt(ms < 10_300)]);
    }
    let mut f2 = f.clone();
    // At the fault's end, ten requests start at once; one goes back to the provider. The
    // window from it holds all ten: a 10 % share, not a failback.
    for i in 0..10 {
        f.add(at(40_000), true, &[attempt(i == 0)]);
    }
    let x = f.figures(None);
    assert!(x.time_to_failover.is_some());
    assert_eq!(x.time_to_failback, None);
    // Nine of the ten back: 90 %, a failback at once.
    for i in 0..10 {
        f2.add(at(40_000), true, &[attempt(i != 0)]);
    }
    assert_eq!(f2.figures(None).time_to_failback, Some(0.0));
}

#[test]
fn a_provider_already_under_the_threshold_before_the_fault_does_not_fail_over() {
    // One request in fifty (2 %) went to the provider before the fault, and during it.
    let mut f = fold();
    requests(&mut f, |ms| ms.is_multiple_of(5_000));
    let x = f.figures(None);
    assert!(x.under_threshold_before());
    assert!(x.provider_requests > 0);
    assert_eq!(x.time_to_failover, None, "not a failover at 0 s");
    assert_eq!(x.time_to_failback, None);
    // At 10 % before, the same traffic during the fault is a failover.
    let mut f = fold();
    requests(&mut f, |ms| {
        if ms < 10_000 {
            ms.is_multiple_of(1_000)
        } else {
            ms.is_multiple_of(5_000)
        }
    });
    let x = f.figures(None);
    assert!(!x.under_threshold_before());
    assert_eq!(x.time_to_failover, Some(0.1));
}

#[test]
fn requests_that_cannot_reach_the_provider_are_in_no_share() {
    // Every 100 ms: one request on a route that reaches the provider (on it until 25 s,
    // then elsewhere) and, from the fault on, 25 on routes that never reach it.
    let mut f = fold();
    for ms in (0..100_000).step_by(100) {
        f.add(at(ms), true, &[attempt(ms < 25_000)]);
        if ms >= 10_000 {
            for _ in 0..25 {
                f.add(at(ms), false, &[attempt(false)]);
            }
        }
    }
    let x = f.figures(None);
    // Counted over every request, the share was 1 in 26 from the fault's start: a
    // "failover" at 0 s while every request that could reach the provider still did.
    assert_eq!(x.time_to_failover, Some(15.0));
    assert_eq!((x.requests, x.provider_requests), (300, 150));
    assert_eq!(x.share_before, Some(1.0));
    // A request that touched the provider counts whatever its route.
    let mut f = fold();
    f.add(at(20_000), false, &[attempt(true)]);
    assert_eq!(f.figures(None).provider_requests, 1);
}

#[test]
fn a_failover_never_starts_before_the_detection() {
    let touched = |ms: u64| !(13_100..40_000).contains(&ms);
    let mut f = fold();
    requests(&mut f, touched);
    assert_eq!(f.figures(None).time_to_failover, Some(3.1));
    // Detected at 12 s: the first avoiding request comes after it anyway.
    assert_eq!(f.figures(Some(at(12_000))).time_to_failover, Some(3.1));
    // Detected at 14.05 s: the first window starts at the next request, 14.1 s.
    assert_eq!(f.figures(Some(at(14_050))).time_to_failover, Some(4.1));
    // A detection before the fault (it cannot be credited to it) does not move it earlier.
    assert_eq!(f.figures(Some(at(1_000))).time_to_failover, Some(3.1));
}

#[test]
fn a_fault_without_provider_traffic_has_no_failover_and_no_failback() {
    // On the provider before and after the fault, never during it (drained).
    let mut f = fold();
    requests(&mut f, |ms| !(10_000..40_000).contains(&ms));
    let x = f.figures(None);
    assert_eq!((x.requests, x.provider_requests), (300, 0));
    assert!(!x.exercised);
    assert_eq!(x.time_to_failover, None);
    assert_eq!(x.time_to_failback, None, "not a failback in 0 s");
}

/// The share before the fault leaves out requests started while another fault was on: here
/// an earlier fault (2 s to 6 s, elsewhere) sent everything to this fault's provider, which
/// otherwise gets half. Counted, the share before would read 70 % and a failback to the usual
/// half (under 90 % of it) would never come; left out, it reads 50 %.
#[test]
fn the_share_before_leaves_out_another_faults_window() {
    let usual = |ms: u64| (ms / 100).is_multiple_of(2);
    // The fault's first second still reaches the provider, then nothing until its end.
    let touched = |ms: u64| {
        (2_000..6_000).contains(&ms)
            || (10_000..11_000).contains(&ms)
            || (!(10_000..40_000).contains(&ms) && usual(ms))
    };
    let mut counted = fold();
    requests(&mut counted, touched);
    assert_eq!(counted.figures(None).share_before, Some(0.7));
    assert_eq!(counted.figures(None).time_to_failback, None);
    let mut f = fold();
    f.others = vec![(at(2_000), at(6_000))];
    requests(&mut f, touched);
    let x = f.figures(None);
    assert_eq!(x.share_before, Some(0.5));
    assert_eq!(x.time_to_failover, Some(1.0));
    assert_eq!(x.time_to_failback, Some(0.0));
}
