//! `scenarios/stream-resume.yaml`: streams cut mid-way continue on a prefill-capable fallback;
//! behind a fallback that refuses prefill they fail with the cut, never with the refusal.

use std::path::Path;

#[test]
fn cut_streams_continue_or_fail_with_the_cut_never_with_the_refusal() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/stream-resume.yaml");
    let s = switchyard_runner::scenario::load(&file).unwrap();
    let report = switchyard_runner::simulate(&s, s.seed).unwrap();
    assert!(report.passed);
    let continues = &report.classes["continues"];
    assert_eq!((continues.failed, continues.resumed), (0, 50));
    assert_eq!(
        continues.served_by["claude-sonnet"], 50,
        "{:?}",
        continues.served_by
    );
    let refusing = &report.classes["refusing"];
    assert_eq!(
        refusing.failures.iter().collect::<Vec<_>>(),
        [(&"stream_interrupted", &50)]
    );
    assert_eq!(refusing.resume_failed, 50);
    let target = |name: &str| report.targets.iter().find(|t| t.name == name).unwrap();
    // Each continuation was an attempt of its own: Claude streamed the 20 tokens left of
    // each cut answer; Gemini refused all 50 with a 400.
    assert_eq!(target("claude-sonnet").completion_tokens, 50 * 20);
    assert_eq!(target("gemini-flash").errors["bad_request"], 50);
    assert_eq!(target("openai-4o").errors["stream_interrupted"], 50);
}

/// The same scenario live, with its fakes in process: the live driver continues the cut
/// streams on Claude and fails them behind Gemini (its `prefill: false` reaches the fake), as
/// the simulator does. Shortened to 10 s at 16 requests a second (about 80 a class, the first
/// 50 of each cut, as in the full run); the counts are certain by design, so they must match.
#[test]
fn live_agrees_with_the_simulator_on_resumed_streams() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/stream-resume.yaml");
    let mut s = switchyard_runner::scenario::load(&file).unwrap();
    s.duration = switchyard_core::time::Duration::from_secs(10);
    s.traffic.arrival = switchyard_sim::traffic::Arrival::Poisson { rate: 16.0 };
    let sim = switchyard_runner::simulate(&s, s.seed).unwrap();
    let live = switchyard_runner::live::run(&s, s.seed, None).unwrap();
    assert_eq!(sim.totals.requests, live.totals.requests, "same arrivals");
    for class in ["continues", "refusing"] {
        let (a, b) = (&sim.classes[class], &live.classes[class]);
        assert!(a.requests > 50, "{class}: {} requests", a.requests);
        assert_eq!(a.requests, b.requests, "{class}");
        assert_eq!(
            (a.succeeded, a.resumed, a.resume_failed),
            (b.succeeded, b.resumed, b.resume_failed),
            "{class}: succeeded, resumed, resume_failed (sim vs live; failures {:?} vs {:?})",
            a.failures,
            b.failures
        );
        assert_eq!(a.failures, b.failures, "{class}");
    }
    assert_eq!(live.classes["continues"].resumed, 50);
    assert_eq!(live.classes["refusing"].resume_failed, 50);
    let gemini = |r: &switchyard_runner::report::Report| {
        r.targets
            .iter()
            .find(|t| t.name == "gemini-flash")
            .unwrap()
            .errors
            .get("bad_request")
            .copied()
    };
    assert_eq!(
        gemini(&live),
        Some(50),
        "the live fake refused each prefill"
    );
    assert_eq!(gemini(&sim), gemini(&live));
}
