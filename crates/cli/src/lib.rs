//! The `switchyard` command line, as a library so tests can run it in-process.
//!
//! `main` only calls [`run`] and exits with its code: 0 everything held, 1 an expectation
//! failed, 2 bad input or usage.

mod creds;
mod fake;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
        /// Where to write (each scenario in its own folder, plus a combined summary.md and
        /// junit.xml with every scenario's verdict); default reports/.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Compare with a stored report (a file, or a folder of `<scenario>.json`); a figure
        /// that regresses past the tolerance, or that only one side has, fails the run (exit 1)
        /// and the reports say so. A missing baseline, or one of another mode or seed, is
        /// refused (exit 2). A baseline without mode and seed counts as sim with the
        /// scenario's seed.
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
        /// Relative tolerance for baseline comparisons.
        #[arg(long, default_value_t = 0.05)]
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
    /// Serve the router behind an OpenAI-compatible endpoint (reload on SIGHUP; SIGTERM or
    /// SIGINT stop accepting, let requests in flight finish for up to 30s, and exit 0).
    /// Refuses to start (exit 2) in production without client keys.
    Gateway {
        /// A live config (environment, providers, router, gateway).
        #[arg(long)]
        config: PathBuf,
        /// Where to listen; default the config's gateway.listen, else 127.0.0.1:8080.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Serve a non-loopback address without client keys (development only: anyone who
        /// reaches the address can use the providers' keys).
        #[arg(long)]
        allow_unauthenticated: bool,
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
    /// the keys). A provider is judged by its key in use (`missing` without one); exits 1
    /// when any provider's is stale, expired or missing.
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
        Err(e) => {
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
            return code;
        }
    };
    match cli.command {
        Command::Run {
            scenarios,
            mode,
            seed,
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
            let opts = RunFlags {
                mode,
                seed,
                dir,
                baseline,
                allow,
                tolerance,
                save_baseline,
                quiet,
                format,
            };
            run_scenarios(&scenarios, &opts, out, err)
        }
        Command::Validate { files } => validate(&files, out, err),
        Command::Compare {
            scenario,
            variants,
            seeds,
            out: dir,
        } => compare(&scenario, variants.as_deref(), seeds, dir, out, err),
        Command::Gateway {
            config,
            listen,
            allow_unauthenticated,
        } => gateway(&config, listen, allow_unauthenticated, out, err),
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
                },
        } => creds::status(&config, today.as_deref(), warn_only, out, err),
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

/// `switchyard run`'s flags.
struct RunFlags {
    mode: String,
    seed: Option<u64>,
    dir: Option<PathBuf>,
    baseline: Option<PathBuf>,
    allow: switchyard_runner::baseline::Allow,
    tolerance: f64,
    save_baseline: Option<PathBuf>,
    quiet: bool,
    format: String,
}

fn colorize(text: &str) -> String {
    text.replace("[PASS]", "\x1b[32m[PASS]\x1b[0m")
        .replace("[FAIL]", "\x1b[1;31m[FAIL]\x1b[0m")
}

fn run_scenarios(
    scenarios: &[PathBuf],
    flags: &RunFlags,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mode = match flags.mode.as_str() {
        "sim" => switchyard_runner::Mode::Sim,
        "live" => switchyard_runner::Mode::Live,
        other => {
            let _ = writeln!(err, "--mode `{other}`: use sim or live");
            return EXIT_BAD_INPUT;
        }
    };
    let json = match flags.format.as_str() {
        "text" => false,
        "json" => true,
        other => {
            let _ = writeln!(err, "--format `{other}`: use text or json");
            return EXIT_BAD_INPUT;
        }
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
        let options = switchyard_runner::RunOptions {
            mode,
            seed: flags.seed,
            out: flags.dir.as_ref().map(|d| d.join(&name)),
            live_duration: None,
            progress: !flags.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
            baseline: gate.clone(),
        };
        let outcome = match switchyard_runner::run(path, &options) {
            Ok(o) => o,
            Err(e) => {
                let _ = writeln!(err, "{e}");
                errors.push((ran.len(), name, e.to_string()));
                code = EXIT_BAD_INPUT;
                continue;
            }
        };
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
    // The combined summary goes where the scenarios' folders are: `--out`, else reports/.
    let summary_dir = flags
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports"));
    let mut entries: Vec<switchyard_runner::render::summary::Entry<'_>> = ran
        .iter()
        .map(switchyard_runner::render::summary::Entry::Ran)
        .collect();
    // Errors keep their place in the order the scenarios were given.
    for (at, scenario, message) in errors.into_iter().rev() {
        entries.insert(
            at,
            switchyard_runner::render::summary::Entry::Error { scenario, message },
        );
    }
    if let Err(e) = write_summary(&summary_dir, &entries) {
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

/// Writes `summary.md` and `junit.xml` with every scenario's verdict into `dir`.
fn write_summary(
    dir: &std::path::Path,
    entries: &[switchyard_runner::render::summary::Entry<'_>],
) -> Result<(), String> {
    use switchyard_runner::render::summary;
    let io = |e: std::io::Error| format!("cannot write {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::write(dir.join("summary.md"), summary::markdown(entries)).map_err(io)?;
    std::fs::write(dir.join("junit.xml"), summary::junit(entries)).map_err(io)
}

/// How long requests in flight get to finish once SIGTERM or SIGINT arrives.
const GATEWAY_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

fn gateway(
    config: &std::path::Path,
    listen: Option<SocketAddr>,
    allow_unauthenticated: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    let Some(runtime) = crate::runtime(err) else {
        return EXIT_BAD_INPUT;
    };
    runtime.block_on(async move {
        // Every signal the gateway answers is registered before anything else: from the
        // moment the address is printed, SIGTERM and SIGINT drain and SIGHUP reloads (their
        // default action, ending the process at once, never applies).
        let (mut term, mut int, mut hup) = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(t), Ok(i), Ok(h)) => (t, i, h),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                let _ = writeln!(err, "cannot handle signals: {e}");
                return EXIT_BAD_INPUT;
            }
        };
        let params = match switchyard_gateway::read_config(config) {
            Ok(p) => p,
            Err(e) => {
                let _ = writeln!(err, "{e}");
                return EXIT_BAD_INPUT;
            }
        };
        // Log lines (access log, router events, reloads) go to stderr, as the config says;
        // a logger set already (the CLI run in process, twice) stays.
        let rust_log = std::env::var("RUST_LOG").ok();
        let _ = switchyard_gateway::logging::init(
            params.gateway.log_format,
            params.gateway.log_level(rust_log.as_deref()),
        );
        let configured = params
            .gateway
            .listen
            .as_deref()
            .and_then(|l| l.parse().ok());
        let addr = listen
            .or(configured)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        // Before the credentials are resolved: a refusal must not depend on the keys at hand.
        if let Err(e) = switchyard_gateway::check_exposure(&params, addr, allow_unauthenticated) {
            let _ = writeln!(err, "{e}");
            return EXIT_BAD_INPUT;
        }
        let transport = switchyard_live::Transport::new(switchyard_live::HttpClient::new());
        let gw = match switchyard_gateway::Gateway::new(&params, Some(config.to_owned()), transport)
        {
            Ok(g) => g,
            Err(e) => {
                let _ = writeln!(err, "{e}");
                return EXIT_BAD_INPUT;
            }
        };
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                let _ = writeln!(err, "cannot listen on {addr}: {e}");
                return EXIT_BAD_INPUT;
            }
        };
        let bound = listener.local_addr().unwrap_or(addr);
        let _ = writeln!(out, "gateway http://{bound}");
        let _ = out.flush();
        // SIGHUP reloads the config; requests in flight keep the router they started with.
        // `reload` logs its outcome (and a refusal) itself.
        let reloader = gw.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let _ = reloader.reload();
            }
        });
        // SIGTERM (orchestrators) or SIGINT (Ctrl-C): stop accepting, drain, exit 0.
        let shutdown = async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            eprintln!(
                "{name}: draining, requests in flight get up to {}s",
                GATEWAY_GRACE.as_secs()
            );
        };
        match switchyard_gateway::serve(listener, gw, shutdown, GATEWAY_GRACE).await {
            Ok(()) => EXIT_OK,
            Err(e) => {
                let _ = writeln!(err, "{e}");
                EXIT_BAD_INPUT
            }
        }
    })
}

fn compare(
    path: &std::path::Path,
    variants: Option<&[String]>,
    seeds: u32,
    dir: Option<PathBuf>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let s = match switchyard_runner::scenario::load(path) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return EXIT_BAD_INPUT;
        }
    };
    let result = switchyard_runner::compare::compare(&s, variants, seeds).and_then(|c| {
        // One layout, `--out` or not: ROOT/<scenario>/compare/.
        let root = dir.unwrap_or_else(|| PathBuf::from("reports"));
        let dir = root.join(&s.name).join("compare");
        switchyard_runner::compare::write(&dir, &c).map(|d| (c, d))
    });
    match result {
        Ok((c, dir)) => {
            let _ = write!(out, "{}", switchyard_runner::compare::markdown(&c));
            let _ = writeln!(out, "\nwritten: {}/compare.{{json,md,html}}", dir.display());
            if c.passed { EXIT_OK } else { EXIT_FAILED }
        }
        Err(e) => {
            let _ = writeln!(err, "{e}");
            EXIT_BAD_INPUT
        }
    }
}

fn validate(files: &[PathBuf], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let mut code = EXIT_OK;
    for file in files {
        let name = file.display().to_string();
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                let _ = writeln!(err, "{name}: cannot read: {e}");
                code = EXIT_BAD_INPUT;
                continue;
            }
        };
        let is_scenario = text.lines().any(|l| l.starts_with("traffic:"));
        if is_scenario {
            let dir = file.parent().unwrap_or(std::path::Path::new("."));
            match switchyard_runner::scenario::load_text_all(&text, &name, dir) {
                Ok(s) => {
                    let _ = writeln!(
                        out,
                        "{name}: ok (scenario `{}`: {} providers, {} classes, {} expectations)",
                        s.name,
                        s.providers.len(),
                        s.traffic.classes.len(),
                        s.expectations.len()
                    );
                }
                Err(errors) => {
                    report_errors(&errors, err);
                    code = EXIT_BAD_INPUT;
                }
            }
            continue;
        }
        let is_live = text.lines().any(|l| l.starts_with("router:"));
        let loaded = if is_live {
            // Every field error first; the semantic checks need a config that parses.
            switchyard_core::config::parse_yaml_all::<switchyard_live::config::LiveConfig>(
                &text, &name,
            )
            .and_then(|_| {
                switchyard_live::config::load_live(&text, &name)
                    .map(|p| (p.router, p.providers.len()))
                    .map_err(|e| vec![e])
            })
        } else {
            switchyard_core::config::parse_yaml_all::<switchyard_core::config::RouterConfig>(
                &text, &name,
            )
            .and_then(|config| {
                switchyard_core::config::validate_router(&config)
                    .map(|p| (p, 0))
                    .map_err(|errors| {
                        let mut errors: Vec<_> =
                            errors.into_iter().map(|e| e.at(&text, &name)).collect();
                        switchyard_core::config::sort(&mut errors);
                        errors
                    })
            })
        };
        match loaded {
            Ok((params, providers)) => {
                let providers = if is_live {
                    format!("{providers} providers, ")
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "{name}: ok ({providers}{} targets, {} routes, {} rules)",
                    params.targets.len(),
                    params.routes.len(),
                    params.rules.len()
                );
            }
            Err(errors) => {
                report_errors(&errors, err);
                code = EXIT_BAD_INPUT;
            }
        }
    }
    code
}

/// Prints every error of a file, in file order, then how many there were when more than one.
fn report_errors(errors: &[switchyard_core::config::ConfigError], err: &mut dyn Write) {
    for e in errors {
        let _ = writeln!(err, "{e}");
    }
    if let (Some(first), n @ 2..) = (errors.first(), errors.len()) {
        let more = if n >= switchyard_core::config::MAX_ERRORS {
            " (the first ones; fix them and run again)"
        } else {
            ""
        };
        let _ = writeln!(err, "{}: {n} errors{more}", first.file);
    }
}
