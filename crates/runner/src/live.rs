//! Live mode: the fakes on 127.0.0.1:0, the live router in process, open-loop load.
//! (Filled in by the live-mode work; simulation is the default.)

use switchyard_core::time::Duration;

use crate::{Report, RunError, ScenarioParams};

pub fn run(
    s: &ScenarioParams,
    _seed: u64,
    _duration: Option<Duration>,
) -> Result<Report, RunError> {
    Err(RunError::Setup {
        file: s.file.clone(),
        message: "live mode is not available yet; run with --mode sim".to_owned(),
    })
}
