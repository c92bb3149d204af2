//! The reference tables in `docs/` are generated from the code (`switchyard_runner::docs`);
//! this test fails when one differs from what the code generates. `UPDATE_DOCS=1` rewrites
//! them. `DOCS_FILE=PATH` refreshes that one file instead (for trying a new block).

use std::path::{Path, PathBuf};

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

#[test]
fn the_generated_reference_in_docs_matches_the_code() {
    let files: Vec<PathBuf> = match std::env::var_os("DOCS_FILE") {
        Some(f) => vec![PathBuf::from(f)],
        None => {
            let mut v: Vec<PathBuf> = std::fs::read_dir(docs_dir())
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "md"))
                .collect();
            v.sort();
            v
        }
    };
    let update =
        std::env::var_os("UPDATE_DOCS").is_some() || std::env::var_os("DOCS_FILE").is_some();
    let mut stale = Vec::new();
    let mut blocks_seen = std::collections::BTreeSet::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for name in switchyard_runner::docs::BLOCKS {
            if text.contains(&format!("<!-- generated:{name} -->")) {
                blocks_seen.insert(name);
            }
        }
        let fresh = switchyard_runner::docs::refresh(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if fresh != text {
            if update {
                std::fs::write(file, fresh).unwrap();
            } else {
                stale.push(file.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "generated reference out of date in {stale:?}: run `UPDATE_DOCS=1 cargo test -p switchyard-runner --test docs` and commit"
    );
    if std::env::var_os("DOCS_FILE").is_none() {
        for name in switchyard_runner::docs::BLOCKS {
            assert!(
                blocks_seen.contains(name),
                "no file in docs/ holds the `{name}` block"
            );
        }
    }
}

/// Every Markdown link in the repository's own pages (every `.md` file it tracks: README,
/// CHANGELOG, docs/ and any other folder) points at a file or folder in the repository (an
/// anchor into one of its pages counts): nothing links outside it.
#[test]
fn every_link_in_the_docs_resolves_inside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap();
    let mut pages: Vec<PathBuf> = Vec::new();
    markdown_pages(&root, &mut pages);
    // reports/ holds what runs write (not the repository's); its README is the repository's.
    pages.push(root.join("reports/README.md"));
    for must in ["README.md", "CHANGELOG.md", "docs/GATEWAY.md"] {
        assert!(
            pages.contains(&root.join(must)),
            "{must} not among {pages:?}"
        );
    }
    let mut broken = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for (at, _) in text.match_indices("](") {
            let rest = &text[at + 2..];
            let Some(end) = rest.find(')') else { continue };
            let link = &rest[..end];
            let path = link.split('#').next().unwrap_or("");
            if path.is_empty() {
                continue; // an anchor in the same page
            }
            let target = page.parent().unwrap().join(path);
            let inside = target.canonicalize().is_ok_and(|t| t.starts_with(&root));
            if link.contains("://") || !inside {
                broken.push(format!("{}: {link}", page.display()));
            }
        }
    }
    assert!(pages.len() >= 8, "{pages:?}");
    assert!(
        broken.is_empty(),
        "links that do not resolve inside the repository: {broken:#?}"
    );
}

/// The `.md` files under `dir`, skipping build output, written reports, VCS data and installed
/// packages.
fn markdown_pages(dir: &Path, pages: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            let skipped = ["target", ".git", "node_modules", ".venv", "reports"];
            if !skipped.contains(&name.as_ref()) && !name.starts_with('.') {
                markdown_pages(&path, pages);
            }
        } else if name.ends_with(".md") {
            pages.push(path);
        }
    }
}
