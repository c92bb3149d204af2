//! Size that fits a head: no source file over 600 lines and no function body over 80, unless
//! a reason is written at its top (docs/ARCHITECTURE.md, "Size").
//!
//! The test walks `crates/*/src`, `crates/*/tests` and `crates/*/benches` and fails listing
//! every offender as `path:line` with its count:
//!
//! - a file longer than [`MAX_FILE_LINES`], unless its opening `//!` block carries a line
//!   `//! Long: <reason>`;
//! - a function whose body (the lines from its opening brace to its closing brace, both
//!   included) is longer than [`MAX_FN_LINES`], unless the first line inside the body is a
//!   comment `// Long: <reason>`.
//!
//! Test code is left out: files named `tests.rs` or `*_tests.rs`, the files those declare as
//! modules (`mod x;`, `#[path = ".."] mod x;`), everything from a file's first `#[cfg(test)]`
//! module on (one on a single helper is no cut), and the files declared as modules there.
//! Function extents come from brace matching over the code with comments, strings, raw
//! strings and char literals blanked out, so a brace or a `fn` inside one of those counts for
//! nothing. Pure file reading: no build, no parsing crate.
#![expect(clippy::unwrap_used, reason = "test code")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The most lines a source file may have without a `//! Long:` reason.
const MAX_FILE_LINES: usize = 600;
/// The most lines a function body may have without a `// Long:` reason.
const MAX_FN_LINES: usize = 80;
/// The name a PENDING entry uses for the file rule.
const FILE: &str = "<file>";

/// Offenders left for a later split: `path: function`, with `<file>` ([`FILE`]) for the file
/// rule. Empty now; an entry may be added only while other work holds the file. This list
/// only shrinks: an entry that is no longer an offender fails the test, so whoever splits it
/// removes it here.
const PENDING: &[&str] = &[];

/// One rule broken: where, which rule, and the count.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Offence {
    path: String,
    line: usize,
    /// The function's name, or [`FILE`].
    name: String,
    lines: usize,
}

impl std::fmt::Display for Offence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.name == FILE {
            write!(
                f,
                "{}:{}: file has {} lines (max {MAX_FILE_LINES}; or a `//! Long: <reason>` line at its top)",
                self.path, self.line, self.lines
            )
        } else {
            write!(
                f,
                "{}:{}: fn `{}` body has {} lines (max {MAX_FN_LINES}; or a `// Long: <reason>` comment as its first line)",
                self.path, self.line, self.name, self.lines
            )
        }
    }
}

/// `src` with every comment, string literal and char literal replaced by spaces, newlines kept,
/// so lines and columns stay where they were and only code is left to match braces in.
fn blank_non_code(src: &str) -> String {
    let s: Vec<char> = src.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(s.len());
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    // Copies `s[from..to]` blanked, keeping newlines.
    let blank = |out: &mut Vec<char>, from: usize, to: usize| {
        for &c in &s[from..to.min(s.len())] {
            out.push(if c == '\n' { '\n' } else { ' ' });
        }
    };
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let next = s.get(i + 1).copied();
        let prev = if i > 0 { Some(s[i - 1]) } else { None };
        if c == '/' && next == Some('/') {
            let end = s[i..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(s.len(), |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if c == '/' && next == Some('*') {
            let (mut depth, mut j) = (1usize, i + 2);
            while j < s.len() && depth > 0 {
                if s[j] == '/' && s.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if s[j] == '*' && s.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if let Some(end) = raw_string_end(&s, i) {
            blank(&mut out, i, end);
            i = end;
        } else if c == '"' {
            let mut j = i + 1;
            while j < s.len() && s[j] != '"' {
                j += if s[j] == '\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if c == '\'' && !prev.is_some_and(|p| ident(p) && p != 'b') {
            // A char literal ('x', '\n', '\'', '\u{..}') or a lifetime / label ('a, 'static).
            let end = if next == Some('\\') {
                // Skip the escaped char itself, so '\'' ends at its last quote.
                s[i + 3..]
                    .iter()
                    .position(|&c| c == '\'')
                    .map(|p| i + 3 + p + 1)
            } else if s.get(i + 2) == Some(&'\'') {
                Some(i + 3)
            } else {
                None
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out.into_iter().collect()
}

/// If a raw string (`r"…"`, `r#"…"#`, `br"…"`, `cr"…"`) starts at `i`, the index just past it.
fn raw_string_end(s: &[char], i: usize) -> Option<usize> {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    if s[i] != 'r' {
        return None;
    }
    let starts_token = match i.checked_sub(1).map(|p| s[p]) {
        None => true,
        Some('b' | 'c') => i < 2 || !ident(s[i - 2]),
        Some(p) => !ident(p),
    };
    if !starts_token {
        return None;
    }
    let hashes = s[i + 1..].iter().take_while(|&&c| c == '#').count();
    let open = i + 1 + hashes;
    if s.get(open) != Some(&'"') {
        return None; // `r#ident` or a plain identifier starting with r
    }
    let mut j = open + 1;
    while j < s.len() {
        if s[j] == '"'
            && s[j + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == '#')
                .count()
                == hashes
        {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(s.len())
}

/// The index of the first line of test code, a `#[cfg(test)]` on a module (further
/// attributes and blank lines may come between), or the line count. A `#[cfg(test)]` on a
/// single item (a helper function) is no cut: the code after it still counts.
fn test_cut(code_lines: &[&str]) -> usize {
    code_lines
        .iter()
        .enumerate()
        .position(|(i, l)| {
            l.trim_start().starts_with("#[cfg(test)]")
                && code_lines[i + 1..]
                    .iter()
                    .map(|l| l.trim_start())
                    .find(|l| !l.is_empty() && !l.starts_with("#["))
                    .is_some_and(is_mod_line)
        })
        .unwrap_or(code_lines.len())
}

/// Whether a line declares a module: `mod x`, `pub mod x`, `pub(crate) mod x`.
fn is_mod_line(line: &str) -> bool {
    let rest = match line.strip_prefix("pub") {
        Some(r) if r.starts_with('(') => r.split_once(')').map_or("", |(_, r)| r),
        Some(r) => r,
        None => line,
    };
    rest.trim_start().starts_with("mod ")
}

/// A function with a body: its name and the 0-based lines of its opening and closing braces.
#[derive(Debug, PartialEq, Eq)]
struct FnBody {
    name: String,
    open: usize,
    close: usize,
}

/// Every `fn name … { … }` in `code` (already blanked), nested ones included. Declarations
/// without a body (`fn f();`) and function pointer types (`fn(u8)`) are skipped.
fn fn_bodies(code: &str) -> Vec<FnBody> {
    let s: Vec<char> = code.chars().collect();
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let line_of = {
        let mut starts = vec![0usize];
        starts.extend(
            s.iter()
                .enumerate()
                .filter(|&(_, &c)| c == '\n')
                .map(|(i, _)| i + 1),
        );
        move |at: usize| starts.partition_point(|&st| st <= at) - 1
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i + 2 < s.len() {
        let is_fn = s[i] == 'f'
            && s[i + 1] == 'n'
            && s[i + 2].is_whitespace()
            && (i == 0 || !ident(s[i - 1]) && s[i - 1] != '$' && s[i - 1] != '#');
        if !is_fn {
            i += 1;
            continue;
        }
        let mut j = i + 2;
        while j < s.len() && s[j].is_whitespace() {
            j += 1;
        }
        let name: String = s[j..]
            .iter()
            .take_while(|&&c| ident(c) || c == '#')
            .collect();
        if !name.starts_with(|c: char| c.is_alphabetic() || c == '_') {
            i += 2;
            continue;
        }
        j += name.chars().count();
        let Some(open) = body_open(&s, j) else {
            i = j;
            continue;
        };
        let close = matching_close(&s, open);
        out.push(FnBody {
            name: name.trim_start_matches("r#").to_string(),
            open: line_of(open),
            close: line_of(close),
        });
        // Continue inside the body, so nested functions are measured too.
        i = open + 1;
    }
    out
}

/// Where a function's body opens, scanning its signature from `from`: the first `{` outside
/// parentheses and brackets; `None` for a declaration (`;` first) or the end of the text.
fn body_open(s: &[char], from: usize) -> Option<usize> {
    let mut depth = 0i64;
    for (j, &c) in s.iter().enumerate().skip(from) {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            '{' if depth == 0 => return Some(j),
            ';' if depth == 0 => return None,
            _ => {}
        }
    }
    None
}

/// The index of the `}` closing the `{` at `open` (the last index when it never closes).
fn matching_close(s: &[char], open: usize) -> usize {
    let mut depth = 0i64;
    for (k, &c) in s.iter().enumerate().skip(open) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    s.len().saturating_sub(1)
}

/// Whether a `Long:` reason with some text after it starts `line` (after `marker`).
fn has_reason(line: &str, marker: &str) -> bool {
    line.trim_start()
        .strip_prefix(marker)
        .and_then(|rest| rest.trim_start().strip_prefix("Long:"))
        .is_some_and(|reason| !reason.trim().is_empty())
}

/// The size offences of one source file (`label` is its path in the messages).
fn offences(label: &str, src: &str) -> Vec<Offence> {
    let code = blank_non_code(src);
    let code_lines: Vec<&str> = code.lines().collect();
    let src_lines: Vec<&str> = src.lines().collect();
    let cut = test_cut(&code_lines);
    let mut found = Vec::new();
    let header_reason = src_lines
        .iter()
        .take_while(|l| {
            let l = l.trim_start();
            l.is_empty() || l.starts_with("//!") || l.starts_with("#![")
        })
        .any(|l| has_reason(l, "//!"));
    if cut > MAX_FILE_LINES && !header_reason {
        found.push(Offence {
            path: label.to_string(),
            line: 1,
            name: FILE.to_string(),
            lines: cut,
        });
    }
    for body in fn_bodies(&code) {
        let lines = body.close - body.open + 1;
        if body.open >= cut || lines <= MAX_FN_LINES {
            continue;
        }
        let first_inside = src_lines[body.open + 1..body.close]
            .iter()
            .find(|l| !l.trim().is_empty());
        if first_inside.is_some_and(|l| has_reason(l, "//")) {
            continue;
        }
        found.push(Offence {
            path: label.to_string(),
            line: body.open + 1,
            name: body.name,
            lines,
        });
    }
    found
}

/// The files the source at `path` declares as modules (`mod x;`, or with `#[path = "…"]`)
/// from line `from` on; `code` is `src` blanked.
fn declared_modules(path: &Path, src: &str, code: &str, from: usize) -> Vec<PathBuf> {
    let dir = path.parent().unwrap();
    let stem = path.file_stem().unwrap().to_string_lossy();
    // A crate root (lib.rs, main.rs, a test, bench or binary) and a mod.rs declare their
    // modules beside them; any other file, in the folder named after it.
    let in_root_dir = dir
        .file_name()
        .is_some_and(|d| d == "tests" || d == "benches" || d == "bin");
    let own_dir = match &*stem {
        "mod" | "lib" | "main" => dir.to_path_buf(),
        _ if in_root_dir => dir.to_path_buf(),
        _ => dir.join(&*stem),
    };
    let src_lines: Vec<&str> = src.lines().collect();
    let mut out = Vec::new();
    for (n, line) in code.lines().enumerate().skip(from) {
        let t = line.trim();
        let t = match t.strip_prefix("pub") {
            Some(rest) if rest.starts_with('(') => rest.split_once(')').map_or(t, |(_, r)| r),
            Some(rest) => rest,
            None => t,
        };
        let Some(name) = t
            .trim_start()
            .strip_prefix("mod ")
            .and_then(|r| r.strip_suffix(';'))
        else {
            continue;
        };
        // A `#[path = "…"]` among the attributes just above wins (relative to this file's
        // folder); read it from the source, since `code` has its string blanked.
        let path_attr = src_lines[..n]
            .iter()
            .rev()
            .take_while(|l| l.trim_start().starts_with("#["))
            .find(|l| l.contains("#[path"))
            .and_then(|l| l.split('"').nth(1));
        match path_attr {
            Some(rel) => out.push(dir.join(rel)),
            None => {
                out.push(own_dir.join(format!("{}.rs", name.trim())));
                out.push(own_dir.join(name.trim()).join("mod.rs"));
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name == "tests.rs" || name.ends_with("_tests.rs")
}

/// Every offence in the workspace at `root`, sorted.
fn workspace_offences(root: &Path) -> Vec<Offence> {
    let mut files = Vec::new();
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    crates.sort();
    for krate in &crates {
        for sub in ["src", "tests", "benches"] {
            rust_files(&krate.join(sub), &mut files);
        }
    }
    files.sort();
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    // Test code: test files, and every file declared as a module from test code, transitively.
    let mut test_code: BTreeSet<PathBuf> =
        files.iter().filter(|p| is_test_file(p)).cloned().collect();
    let mut queue: Vec<(PathBuf, bool)> =
        files.iter().map(|p| (p.clone(), is_test_file(p))).collect();
    while let Some((path, whole)) = queue.pop() {
        let Ok(src) = std::fs::read_to_string(&path) else {
            continue;
        };
        let code = blank_non_code(&src);
        let from = if whole {
            0
        } else {
            test_cut(&code.lines().collect::<Vec<_>>())
        };
        for child in declared_modules(&path, &src, &code, from) {
            let child = normalise(&child);
            if child.exists() && test_code.insert(child.clone()) {
                queue.push((child, true));
            }
        }
    }
    let mut all = Vec::new();
    for file in files.iter().filter(|f| !test_code.contains(&normalise(f))) {
        let label = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        all.extend(offences(&label, &read(file)));
    }
    all.sort();
    all
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The offences PENDING does not excuse, and the PENDING entries that excuse nothing.
fn judge(all: &[Offence], pending: &[&str]) -> (Vec<String>, Vec<String>) {
    let pending: Vec<(&str, &str)> = pending
        .iter()
        .map(|e| e.split_once(": ").unwrap_or((e, "")))
        .collect();
    let excused = |o: &Offence| pending.iter().any(|&(p, n)| p == o.path && n == o.name);
    let new = all
        .iter()
        .filter(|o| !excused(o))
        .map(|o| o.to_string())
        .collect();
    let stale = pending
        .iter()
        .filter(|&&(p, n)| !all.iter().any(|o| o.path == p && o.name == n))
        .map(|(p, n)| format!("{p}: {n}"))
        .collect();
    (new, stale)
}

#[test]
fn no_source_file_or_function_outgrows_a_head() {
    let root = normalise(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    let (new, stale) = judge(&workspace_offences(&root), PENDING);
    assert!(
        new.is_empty(),
        "{} offender(s); split them along their seams (docs/ARCHITECTURE.md, \"Size\"):\n{}",
        new.len(),
        new.join("\n")
    );
    assert!(
        stale.is_empty(),
        "PENDING entries that are no longer offenders; remove them from PENDING:\n{}",
        stale.join("\n")
    );
}

/// The rules on small inline sources: each rule and each exemption fires, or not.
#[path = "source_size/self_test.rs"]
mod self_test;
