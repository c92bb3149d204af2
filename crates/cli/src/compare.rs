//! `switchyard compare`: a scenario's router variants on the same traffic and seeds.

use std::io::Write;
use std::path::PathBuf;

use crate::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK};

/// Runs the variants, writes `compare.{json,md,html}` under `dir` (default reports/) and
/// prints the table.
pub(crate) fn compare(
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
        let dir = switchyard_runner::report_dir(&root, &s.name).join("compare");
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
