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
