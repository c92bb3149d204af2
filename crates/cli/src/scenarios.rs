//! `switchyard run`: each scenario run, its reports written and its summary printed; then
//! the combined `summary.md` and `junit.xml`.

use std::io::Write;
use std::path::PathBuf;

use crate::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, InProcessGateway};

/// `switchyard run`'s flags.
pub(crate) struct RunFlags {
    pub(crate) mode: String,
    pub(crate) seed: Option<u64>,
    pub(crate) duration: Option<switchyard_core::time::Duration>,
    pub(crate) dir: Option<PathBuf>,
    pub(crate) baseline: Option<PathBuf>,
    pub(crate) allow: switchyard_runner::baseline::Allow,
    pub(crate) tolerance: f64,
    pub(crate) save_baseline: Option<PathBuf>,
    pub(crate) quiet: bool,
    pub(crate) format: String,
}

fn colorize(text: &str) -> String {
    text.replace("[PASS]", "\x1b[32m[PASS]\x1b[0m")
        .replace("[FAIL]", "\x1b[1;31m[FAIL]\x1b[0m")
}

/// Runs each scenario in turn; exit 0 when every one held, 1 when one failed, 2 on bad
/// input (a scenario that did not run still gets its line in the combined summary).
pub(crate) fn run(
    scenarios: &[PathBuf],
    flags: &RunFlags,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let Some((mode, json)) = mode_and_format(flags, err) else {
        return EXIT_BAD_INPUT;
    };
    let color = !json && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut code = EXIT_OK;
    let mut reports = Vec::new();
    let mut ran = Vec::new();
    let mut errors = Vec::new();
    let gate = flags
        .baseline
        .as_ref()
        .map(|path| switchyard_runner::baseline::Gate {
            path: path.clone(),
            tolerance: flags.tolerance,
            allow: flags.allow,
        });
    for path in scenarios {
        let name = path
            .file_stem()
            .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
        let options = options(flags, mode, gate.clone());
        let outcome = match switchyard_runner::run(path, &options) {
            Ok(o) => o,
            Err(e) => {
                let _ = writeln!(err, "{e}");
                errors.push((ran.len(), name, e.to_string()));
                code = EXIT_BAD_INPUT;
                continue;
            }
        };
        for notice in &outcome.notices {
            let _ = writeln!(err, "{}: {notice}", path.display());
        }
        let lines = lines(&outcome);
        if let Some(dir) = &flags.save_baseline
            && let Err(e) = switchyard_runner::baseline::save(dir, &outcome.report)
        {
            let _ = writeln!(err, "{e}");
            code = EXIT_BAD_INPUT;
        }
        if !outcome.report.passed && code == EXIT_OK {
            code = EXIT_FAILED;
        }
        if json {
            reports.push(outcome.json.clone());
        } else if !flags.quiet {
            let _ = write!(out, "{}", if color { colorize(&lines) } else { lines });
        }
        ran.push(outcome.report);
    }
    if let Err(e) = write_combined(flags, &ran, errors) {
        let _ = writeln!(err, "{e}");
        code = EXIT_BAD_INPUT;
    }
    if json && !flags.quiet {
        let _ = writeln!(
            out,
            "{}",
            if reports.len() == 1 {
                reports.remove(0)
            } else {
                format!("[{}]", reports.join(","))
            }
        );
    }
    code
}

/// `--mode` and whether `--format` is `json`, or `None` after saying which is wrong.
fn mode_and_format(
    flags: &RunFlags,
    err: &mut dyn Write,
) -> Option<(switchyard_runner::RunMode, bool)> {
    let mode = match flags.mode.as_str() {
        "sim" => switchyard_runner::RunMode::Sim,
        "live" => switchyard_runner::RunMode::Live,
        other => {
            let _ = writeln!(err, "--mode `{other}`: use sim or live");
            return None;
        }
    };
    let json = match flags.format.as_str() {
        "text" => false,
        "json" => true,
        other => {
            let _ = writeln!(err, "--format `{other}`: use text or json");
            return None;
        }
    };
    Some((mode, json))
}

/// How the runner runs a scenario: its reports in `--out`'s folder of the scenario's name,
/// this project's gateway started in process for a scenario that runs through it.
fn options(
    flags: &RunFlags,
    mode: switchyard_runner::RunMode,
    baseline: Option<switchyard_runner::baseline::Gate>,
) -> switchyard_runner::RunOptions {
    switchyard_runner::RunOptions {
        mode,
        seed: flags.seed,
        out: None,
        reports: flags.dir.clone(),
        duration: flags.duration,
        live_duration: None,
        progress: !flags.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        baseline,
        gateway: Some(std::sync::Arc::new(InProcessGateway)),
    }
}

/// A run's lines for the terminal: its summary, where its report is, and the baseline's
/// verdicts.
fn lines(outcome: &switchyard_runner::RunOutcome) -> String {
    let mut lines = switchyard_runner::report::summary(&outcome.report);
    lines.push_str(&format!(
        "  report: {}\n",
        outcome.dir.join("report.html").display()
    ));
    if let Some(verdicts) = &outcome.report.baseline {
        if verdicts.passed {
            lines.push_str("  [PASS] no regression against the baseline\n");
        }
        for f in verdicts.figures.iter().filter(|f| !f.passed) {
            lines.push_str(&format!("  [FAIL] regression: {}\n", f.message));
        }
    }
    lines
}

/// The combined summary of the reports `ran` and the scenarios that did not run (`errors`:
/// where each goes among them, its name and why), where the scenarios' folders are: `--out`,
/// else reports/.
fn write_combined(
    flags: &RunFlags,
    ran: &[switchyard_runner::Report],
    errors: Vec<(usize, String, String)>,
) -> Result<(), String> {
    use switchyard_runner::render::summary::SummaryEntry;
    let summary_dir = flags
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports"));
    let mut entries: Vec<SummaryEntry<'_>> = ran.iter().map(SummaryEntry::Ran).collect();
    // Errors keep their place in the order the scenarios were given.
    for (at, scenario, message) in errors.into_iter().rev() {
        entries.insert(at, SummaryEntry::Error { scenario, message });
    }
    write_summary(&summary_dir, &entries)
}

/// Writes `summary.md` and `junit.xml` with every scenario's verdict into `dir`.
fn write_summary(
    dir: &std::path::Path,
    entries: &[switchyard_runner::render::summary::SummaryEntry<'_>],
) -> Result<(), String> {
    use switchyard_runner::render::summary;
    let io = |e: std::io::Error| format!("cannot write {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::write(dir.join("summary.md"), summary::markdown(entries)).map_err(io)?;
    std::fs::write(dir.join("junit.xml"), summary::junit(entries)).map_err(io)
}
