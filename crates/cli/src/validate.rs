//! `switchyard validate`: router, live and scenario files parsed and checked, every error
//! reported in file order.

use std::io::Write;
use std::path::PathBuf;

use switchyard_core::config::ConfigError;

use crate::{EXIT_BAD_INPUT, EXIT_OK};

/// Checks each file; exit 2 if any has an error.
pub(crate) fn validate(files: &[PathBuf], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
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
                        "{name}: ok (scenario `{}`: {}, {}, {})",
                        s.name,
                        counted(s.providers.len(), "provider"),
                        counted(s.traffic.classes.len(), "class"),
                        counted(s.expectations.len(), "expectation")
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
        match load_router(&text, file, is_live) {
            Ok((params, providers)) => {
                let providers = if is_live {
                    format!("{}, ", counted(providers, "provider"))
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "{name}: ok ({providers}{}, {}, {})",
                    counted(params.targets.len(), "target"),
                    counted(params.routes.len(), "route"),
                    counted(params.rules.len(), "rule")
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
fn report_errors(errors: &[ConfigError], err: &mut dyn Write) {
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

/// A live config's router and how many providers it has (its CA file read, when it names
/// one), or a router config's (0 providers); or every error, in file order.
fn load_router(
    text: &str,
    file: &std::path::Path,
    is_live: bool,
) -> Result<(switchyard_core::router::RouterParams, usize), Vec<ConfigError>> {
    let name = &file.display().to_string();
    if is_live {
        // Every field error first; the semantic checks need a config that parses.
        switchyard_core::config::parse_yaml_all::<switchyard_live::config::LiveConfig>(text, name)
            .and_then(|_| {
                let p = switchyard_live::config::load_live(text, name).map_err(|e| vec![e])?;
                switchyard_live::config::roots::upstream_roots(&p.gateway, file, text)
                    .map_err(|e| vec![e])?;
                Ok((p.router, p.providers.len()))
            })
    } else {
        switchyard_core::config::parse_yaml_all::<switchyard_core::config::RouterConfig>(text, name)
            .and_then(|config| {
                switchyard_core::config::validate_router(&config)
                    .map(|p| (p, 0))
                    .map_err(|errors| {
                        let mut errors: Vec<_> =
                            errors.into_iter().map(|e| e.at(text, name)).collect();
                        switchyard_core::config::sort(&mut errors);
                        errors
                    })
            })
    }
}

/// `1 rule`, `2 rules`, `0 rules`; `1 class`, `2 classes`.
fn counted(n: usize, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        _ if what.ends_with('s') => format!("{n} {what}es"),
        _ => format!("{n} {what}s"),
    }
}
