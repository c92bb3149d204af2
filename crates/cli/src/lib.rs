//! The `switchyard` command line, as a library so tests can run it in-process.
//!
//! `main` only calls [`run`] and exits with its code: 0 everything held, 1 an expectation
//! failed, 2 bad input or usage.

mod compare;
mod creds;
mod fake;
mod gateway;
mod launch;
mod scenarios;
mod validate;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use launch::InProcessGateway;

/// Exit code: everything held.
pub const EXIT_OK: i32 = 0;
/// Exit code: an expectation failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: bad input or usage.
pub const EXIT_BAD_INPUT: i32 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "Route LLM traffic over several providers, and prove the routing holds"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios: replay their traffic against misbehaving fakes, check expectations,
    /// write reports (exit 0 all held, 1 one failed, 2 bad input).
    Run {
        /// Scenario files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// `sim` (virtual time, the default) or `live` (fakes on loopback, real time).
        #[arg(long, default_value = "sim")]
        mode: String,
        /// Overrides each scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Runs each scenario for this long instead of its `duration` (`30s`, `2m`, `1h`):
        /// operator actions after the end are dropped and faults that start after it do not
        /// happen, each with a notice on stderr (a fault the end cuts off gets one too);
        /// expectations on what no longer happens are not observed (and fail).
        #[arg(long)]
        duration: Option<switchyard_core::time::Duration>,
        /// Where to write (each scenario in its own folder, plus a combined summary.md and
        /// junit.xml with every scenario's verdict); default reports/.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Compare with a stored report (a file, or a folder of `<scenario>.json`); a figure
        /// that regresses past the tolerance, or that only one side has, fails the run (exit 1)
        /// and the reports say so. A missing baseline, or one of another scenario, mode or
        /// seed, is refused before the run starts (exit 2). A baseline without mode and seed
        /// counts as sim with the scenario's seed.
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// Compare with a baseline of another seed.
        #[arg(long)]
        baseline_any_seed: bool,
        /// Compare with a baseline of another mode (sim against live).
        #[arg(long)]
        baseline_any_mode: bool,
        /// Compare with a baseline of any mode and seed.
        #[arg(long)]
        baseline_force: bool,
        /// Relative tolerance for baseline comparisons: a number from 0 to 10 (0.05 = 5 %).
        #[arg(long, default_value_t = 0.05, value_parser = parse_tolerance)]
        tolerance: f64,
        /// Store each run's figures as a baseline in this folder.
        #[arg(long)]
        save_baseline: Option<PathBuf>,
        /// Print nothing; the exit code says it all.
        #[arg(long)]
        quiet: bool,
        /// `text` (a summary table) or `json` (the reports, for scripts).
        #[arg(long, default_value = "text")]
        format: String,
    },
    /// Run a scenario's router variants on the same traffic and seeds; write compare.json,
    /// compare.md and compare.html with each variant's figures and expectation verdicts
    /// (exit 0 every variant held every expectation, 1 one did not, 2 bad input).
    Compare {
        scenario: PathBuf,
        /// Variants to run (comma-separated); default all.
        #[arg(long, value_delimiter = ',')]
        variants: Option<Vec<String>>,
        /// Seeds per variant (the scenario's seed and the next ones).
        #[arg(long, default_value_t = 1)]
        seeds: u32,
        /// Where to write: DIR/<scenario>/compare/, the same layout as the default
        /// (DIR = reports/), next to the scenario's `run` folder.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check router, live or scenario config files: parse, validate, and report every error
    /// found, in file order, each with its file, line, column and field (exit 2 if any).
    Validate {
        /// Router config files (YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Serve the router behind OpenAI- and Anthropic-compatible endpoints (`/v1/chat/completions`,
    /// `/v1/messages`; reload on SIGHUP; SIGTERM or
    /// SIGINT stop accepting, let requests in flight finish for up to gateway.shutdown_grace,
    /// 30s by default, and exit 0).
    /// Refuses to start (exit 2) in production without client keys.
    Gateway {
        /// A live config (environment, providers, router, gateway).
        #[arg(long)]
        config: PathBuf,
        #[command(flatten)]
        flags: gateway::Flags,
    },
    /// Print the JSON Schema of scenario files, live (gateway) configs or fake provider
    /// profiles (for editor autocompletion).
    Schema {
        /// `scenario` (the default), `live` (a live or gateway config) or `profile`.
        #[arg(value_enum, default_value = "scenario")]
        of: SchemaOf,
    },
    /// Credentials of a live config.
    Creds {
        #[command(subcommand)]
        command: CredsCommand,
    },
    /// Fake providers that speak the vendors' wire formats and misbehave on command.
    Fake {
        #[command(subcommand)]
        command: FakeCommand,
    },
}

/// Which config's JSON Schema `switchyard schema` prints.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum SchemaOf {
    Scenario,
    Live,
    Profile,
}

#[derive(Debug, Subcommand)]
enum CredsCommand {
    /// Each provider's keys: fresh, due soon, stale or expired, with their sources (never
    /// the keys). A provider is judged by its key in use (`missing` without one): in
    /// development the mock key of its fake, unless it says `mode: live`; exits 1 when any
    /// provider's is stale, expired, not yet valid or missing.
    Status {
        /// A live config (environment, providers, router).
        #[arg(long)]
        config: PathBuf,
        /// Judge as of this date (YYYY-MM-DD) instead of today.
        #[arg(long)]
        today: Option<String>,
        /// Report problems but exit 0.
        #[arg(long)]
        warn_only: bool,
        /// Judge every provider's live keys, as in production (in development a provider
        /// otherwise uses its fake's mock key).
        #[arg(long)]
        live: bool,
    },
}

#[derive(Debug, Subcommand)]
enum FakeCommand {
    /// Serve one fake per profile; prints `NAME DIALECT http://HOST:PORT` per server, then
    /// serves until Ctrl-C.
    Serve {
        /// A profile file, or a name: fake-providers/NAME.yaml in the working directory, else
        /// the built-in profile NAME (`openai`, `anthropic`, `gemini`, `azure-openai`,
        /// `small-fast`, `zero-latency`).
        #[arg(long = "profile", required = true)]
        profiles: Vec<PathBuf>,
        /// Where to listen; port 0 picks a free port per server, a fixed port counts up.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Seeds the fakes' randomness.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// A multi-thread tokio runtime for the commands that serve, or `None` after saying why not.
fn runtime(err: &mut dyn Write) -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            let _ = writeln!(err, "cannot start the runtime: {e}");
            None
        }
    }
}

/// Runs the command line `args` (the first is the program name); returns the exit code.
pub fn run(
    args: impl IntoIterator<Item = String>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => return usage(&e, out, err),
    };
    match cli.command {
        Command::Run {
            scenarios,
            mode,
            seed,
            duration,
            out: dir,
            baseline,
            baseline_any_seed,
            baseline_any_mode,
            baseline_force,
            tolerance,
            save_baseline,
            quiet,
            format,
        } => {
            let allow = switchyard_runner::baseline::Allow {
                any_seed: baseline_any_seed || baseline_force,
                any_mode: baseline_any_mode || baseline_force,
            };
            let flags = scenarios::RunFlags {
                mode,
                seed,
                duration,
                dir,
                baseline,
                allow,
                tolerance,
                save_baseline,
                quiet,
                format,
            };
            scenarios::run(&scenarios, &flags, out, err)
        }
        Command::Validate { files } => validate::validate(&files, out, err),
        Command::Compare {
            scenario,
            variants,
            seeds,
            out: dir,
        } => compare::compare(&scenario, variants.as_deref(), seeds, dir, out, err),
        Command::Gateway { config, flags } => gateway::serve(&config, &flags, out, err),
        Command::Schema { of } => {
            let schema = match of {
                SchemaOf::Scenario => switchyard_runner::schema(),
                SchemaOf::Live => switchyard_live::config::schema(),
                SchemaOf::Profile => switchyard_fake::profile::schema(),
            };
            let _ = writeln!(out, "{schema}");
            EXIT_OK
        }
        Command::Creds {
            command:
                CredsCommand::Status {
                    config,
                    today,
                    warn_only,
                    live,
                },
        } => creds::status(&config, today.as_deref(), warn_only, live, out, err),
        Command::Fake {
            command:
                FakeCommand::Serve {
                    profiles,
                    listen,
                    seed,
                },
        } => fake::serve(&profiles, listen, seed, out, err),
    }
}

/// A command line clap refused, or `--help` and `--version`: the text goes to stdout with
/// exit 0 when asked for, to stderr with exit 2 otherwise.
fn usage(e: &clap::Error, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let code = if e.use_stderr() {
        EXIT_BAD_INPUT
    } else {
        EXIT_OK
    };
    let _ = if code == EXIT_OK {
        write!(out, "{e}")
    } else {
        write!(err, "{e}")
    };
    code
}

/// `--tolerance`: a finite fraction from 0 to 10. `inf` would pass every figure, `NaN` every
/// comparison, and a negative one fail a run identical to its baseline.
fn parse_tolerance(text: &str) -> Result<f64, String> {
    let t: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if t.is_finite() && (0.0..=10.0).contains(&t) {
        Ok(t)
    } else {
        Err(format!(
            "`{text}` is not a tolerance from 0 to 10 (0.05 = 5 %)"
        ))
    }
}
