//! `switchyard-runner`: scenario files in, verdicts and reports out.
//!
//! [`run`] loads a scenario, runs it in simulated time (or live, against fakes on loopback),
//! folds every request into results, checks the expectations and writes `report.json`.

pub mod baseline;
pub mod compare;
pub mod docs;
pub mod expect;
pub mod failover;
pub mod live;
pub mod render;
pub mod report;
pub mod results;
pub mod scenario;
pub mod tally;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use switchyard_core::config::ConfigError;
use switchyard_core::time::Duration;
use switchyard_sim::{SimParams, SimProvider};

pub use live::{GatewayLauncher, GatewayStop, LaunchedGateway};
pub use report::Report;
pub use scenario::ScenarioParams;

/// Which driver runs a scenario: the simulator, or live against the fakes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    Sim,
    Live,
}

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub mode: RunMode,
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Where to write, exactly this folder; default [`report_dir`] of `reports`.
    pub out: Option<PathBuf>,
    /// The reports folder: the run writes to [`report_dir`] of it (default `reports/`);
    /// `out` overrides it.
    pub reports: Option<PathBuf>,
    /// Runs the scenario for this long instead of its own duration (`run --duration`):
    /// operator actions after the end are dropped, with a notice in [`RunOutcome::notices`].
    pub duration: Option<Duration>,
    /// For live mode: scale the scenario's duration down (a live run takes real time).
    pub live_duration: Option<Duration>,
    /// For live mode: a progress line on stderr (the CLI sets it on a terminal only).
    pub progress: bool,
    /// Compare with a baseline before the reports are written, so they carry its verdicts.
    pub baseline: Option<baseline::Gate>,
    /// For live mode: starts this project's gateway for a scenario with
    /// `gateway: switchyard` (the CLI passes one; without it, such a scenario is a setup
    /// error).
    pub gateway: Option<Arc<dyn GatewayLauncher>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            mode: RunMode::Sim,
            seed: None,
            out: None,
            reports: None,
            duration: None,
            live_duration: None,
            progress: false,
            baseline: None,
            gateway: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The scenario is wrong: exit code 2.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// It could not be run as written: exit code 2.
    #[error("{file}: {message}")]
    Setup { file: String, message: String },
    #[error("cannot write {path}: {message}")]
    Io { path: String, message: String },
    /// The baseline is missing, unreadable, or of another mode or seed: exit code 2.
    #[error("{0}")]
    Baseline(String),
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    pub report: Report,
    pub json: String,
    pub dir: PathBuf,
    /// What the run changed of the scenario as written (timeline events after a
    /// `--duration` end), for the terminal.
    pub notices: Vec<String>,
}

/// The JSON Schema of `report.json` (shipped as `schemas/report.schema.json`).
pub fn report_schema() -> String {
    let schema = schemars::schema_for!(report::Report);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

/// The JSON Schema of scenario files, for editors.
pub fn schema() -> String {
    let schema = schemars::schema_for!(scenario::ScenarioConfig);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

/// The folder of scenario `name`'s reports under `root` (`reports/` by default): exactly
/// the scenario's name, which validation keeps to one safe file name. The one place that
/// computes it: `run` writes there, `compare` under it, and the combined summary links to it.
pub fn report_dir(root: &Path, name: &str) -> PathBuf {
    root.join(name)
}

/// Runs in simulation and returns the report (nothing written).
pub fn simulate(s: &ScenarioParams, seed: u64) -> Result<Report, RunError> {
    let params = SimParams {
        router: s.router.clone(),
        providers: s
            .providers
            .iter()
            .map(|p| SimProvider {
                name: p.name.clone(),
                profile: p.profile.clone(),
                keys: p.keys.clone(),
                refuses_prefill: !p.prefill,
            })
            .collect(),
        traffic: s.traffic.clone(),
        operator: s.operator.clone(),
        duration: s.duration,
        seed,
        network_delay: Duration::from_millis(2),
        fleet: s.fleet.clone(),
    };
    let mut collector = results::Collector::new(s);
    let clock = WallClock::start();
    let outcome = switchyard_sim::run(&params, &mut collector).map_err(|e| RunError::Setup {
        file: s.file.clone(),
        message: e.0,
    })?;
    collector
        .tally
        .add_lost(outcome.router.telemetry().events.tap_lost());
    let elapsed = clock.elapsed_secs();
    let wall = report::Wall {
        elapsed_secs: elapsed,
        requests_per_sec: if elapsed > 0.0 {
            outcome.requests as f64 / elapsed
        } else {
            0.0
        },
        events: outcome.events,
    };
    // A fleet's targets, providers, events and series are every replica's.
    let merged = (!outcome.replicas.is_empty()).then(|| {
        let mut tel = outcome.router.telemetry().clone();
        for r in &outcome.replicas {
            tel.merge(r.telemetry(), Duration::ZERO);
        }
        tel
    });
    Ok(report::build_merged(
        s,
        "sim",
        seed,
        &collector,
        &outcome.router,
        merged.as_ref(),
        &outcome.key_events,
        outcome.fleet.as_ref(),
        wall,
    ))
}

/// Loads, runs and writes one scenario.
pub fn run(path: &Path, options: &RunOptions) -> Result<RunOutcome, RunError> {
    let (s, notices) = scenario::load_for(path, options.duration)?;
    let seed = options.seed.unwrap_or(s.seed);
    // Before the run: a baseline that cannot be compared with it is refused at once.
    let mode = match options.mode {
        RunMode::Sim => "sim",
        RunMode::Live => "live",
    };
    let baseline = options
        .baseline
        .as_ref()
        .map(|gate| {
            baseline::load(gate, &s.name, mode, seed, s.seed, s.duration.as_secs_f64())
                .map(|b| (gate, b))
        })
        .transpose()?;
    let mut report = match options.mode {
        RunMode::Sim => simulate(&s, seed)?,
        RunMode::Live => live::run_with(
            &s,
            seed,
            &live::LiveOptions {
                duration: options.live_duration,
                progress: options.progress,
                gateway: options.gateway.clone(),
            },
        )?,
    };
    // Before writing: every report file must say what the gate said.
    if let Some((gate, loaded)) = &baseline {
        report.apply_baseline(baseline::compare(gate, loaded, &report));
    }
    let dir = options.out.clone().unwrap_or_else(|| {
        let root = options.reports.as_deref().unwrap_or(Path::new("reports"));
        report_dir(root, &s.name)
    });
    let json = write(&dir, &report)?;
    Ok(RunOutcome {
        report,
        json,
        dir,
        notices,
    })
}

fn write(dir: &Path, report: &Report) -> Result<String, RunError> {
    let io = |e: std::io::Error| RunError::Io {
        path: dir.display().to_string(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let json = serde_json::to_string_pretty(report).map_err(|e| RunError::Io {
        path: dir.display().to_string(),
        message: e.to_string(),
    })?;
    std::fs::write(dir.join("report.json"), &json).map_err(io)?;
    std::fs::write(dir.join("report.md"), render::markdown::render(report)).map_err(io)?;
    std::fs::write(dir.join("report.html"), render::html::render(report)).map_err(io)?;
    std::fs::write(dir.join("junit.xml"), render::junit::render(report)).map_err(io)?;
    Ok(json)
}

/// The one place the runner reads the wall clock: how long a run took, for the `wall` section.
#[expect(
    clippy::disallowed_types,
    reason = "wall-clock time of the run, reported under `wall` only"
)]
struct WallClock(std::time::Instant);

#[expect(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    reason = "wall-clock time of the run, reported under `wall` only"
)]
impl WallClock {
    fn start() -> Self {
        WallClock(std::time::Instant::now())
    }
    fn elapsed_secs(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}
