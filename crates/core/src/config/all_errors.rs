//! Every field error of a YAML file, not only the first: [`parse_yaml_all`].

use super::{ConfigError, locate};

/// How many errors one file reports at most: past this, the file is more wrong than right.
pub const MAX_ERRORS: usize = 100;

/// One step of a serde field path (`routes[1].weights`).
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn steps(path: &str) -> Option<Vec<Step<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        while let Some((index, after)) = rest.split_once(']') {
            out.push(Step::Index(index.parse().ok()?));
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    Some(out)
}

/// List items taken out of the document, per list (its path in the original file) the
/// original indices removed, sorted: the document's paths and the file's differ by them.
type Shifts = std::collections::BTreeMap<String, Vec<usize>>;

/// A path in the document (items taken out) as a path in the original file.
fn to_original(path: &str, shifts: &Shifts) -> Option<String> {
    let mut out = String::new();
    for step in steps(path)? {
        match step {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Index(i) => {
                let mut j = i;
                for &r in shifts.get(&out).map_or(&[][..], Vec::as_slice) {
                    if r <= j {
                        j += 1;
                    } else {
                        break;
                    }
                }
                out.push_str(&format!("[{j}]"));
            }
        }
    }
    Some(if out.is_empty() { ".".to_owned() } else { out })
}

/// A path in the original file as a path in the document (items taken out before it).
fn to_document(path: &str, shifts: &Shifts) -> Option<String> {
    let (mut original, mut out) = (String::new(), String::new());
    for step in steps(path)? {
        match step {
            Step::Key(k) => {
                for s in [&mut original, &mut out] {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(k);
                }
            }
            Step::Index(j) => {
                let before = shifts
                    .get(&original)
                    .map_or(0, |r| r.iter().filter(|&&r| r < j).count());
                original.push_str(&format!("[{j}]"));
                out.push_str(&format!("[{}]", j - before));
            }
        }
    }
    Some(out)
}

/// Removes the node at `path` (a path in the original file) from `doc`; false when there is
/// no such node. A list item taken out is recorded in `shifts`, so the items after it keep
/// their names in the errors.
fn remove(doc: &mut serde_yaml::Value, path: &str, shifts: &mut Shifts) -> bool {
    let Some(in_doc) = to_document(path, shifts) else {
        return false;
    };
    let Some(steps) = steps(&in_doc) else {
        return false;
    };
    let Some((last, parents)) = steps.split_last() else {
        return false;
    };
    let mut node = doc;
    for step in parents {
        let next = match step {
            Step::Key(k) => node.get_mut(*k),
            Step::Index(i) => node.get_mut(*i),
        };
        let Some(next) = next else { return false };
        node = next;
    }
    match (last, node) {
        (Step::Key(k), serde_yaml::Value::Mapping(m)) => m.remove(*k).is_some(),
        (Step::Index(i), serde_yaml::Value::Sequence(seq)) if *i < seq.len() => {
            seq.remove(*i);
            let Some((list, index)) = path.rsplit_once('[') else {
                return true;
            };
            if let Ok(index) = index.trim_end_matches(']').parse::<usize>() {
                let removed = shifts.entry(list.to_owned()).or_default();
                let at = removed.partition_point(|&r| r < index);
                removed.insert(at, index);
            }
            true
        }
        _ => false,
    }
}

/// Parses YAML text into `T` and, when it does not fit, reports every field error it can
/// find, not only the first: each wrong node (an unknown field, a bad value) is reported,
/// taken out, and the document parsed again, up to [`MAX_ERRORS`]. An error that only its
/// own taking out caused (a required field now missing, at the node that held it) is not
/// reported: that node is taken out too, and collecting goes on past it. A list item taken
/// out keeps the items after it named as in the file. A YAML syntax error stops it at once.
///
/// The errors come sorted by position (line, then column).
pub fn parse_yaml_all<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &str,
) -> std::result::Result<T, Vec<ConfigError>> {
    parse_yaml_pruned(text, file).map_err(|(errors, _)| errors)
}

/// What is left of a file once its wrong fields are taken out: the config they leave, and
/// the paths taken out. Only when every node taken out was a wrong field itself (no node
/// that held one had to go too), so that the rest is the file as written.
#[derive(Debug)]
pub struct Pruned<T> {
    /// The config without the wrong fields.
    pub config: T,
    /// The paths taken out, as written in the file.
    pub removed: Vec<String>,
}

impl<T> Pruned<T> {
    /// Whether an error at `path` concerns a field taken out (so it is not the file's own).
    pub fn touches(&self, path: &str) -> bool {
        self.removed.iter().any(|r| {
            path == r
                || path
                    .strip_prefix(r.as_str())
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
    }
}

/// As [`parse_yaml_all`], and with the errors, the config left once the wrong fields are
/// taken out (when it is the file as written but for them), so that a caller can check the
/// rest too: the errors of one pass are then every independent one.
pub fn parse_yaml_pruned<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &str,
) -> std::result::Result<T, (Vec<ConfigError>, Option<Pruned<T>>)> {
    let first = match super::parse_yaml::<T>(text, file) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    let mut next = Some(first.path.clone());
    let mut errors = vec![first];
    let Ok(mut doc) = serde_yaml::from_str::<serde_yaml::Value>(text) else {
        return Err((errors, None));
    };
    let mut pruned = None;
    let mut whole = true;
    let mut removed: Vec<String> = Vec::new();
    let mut shifts = Shifts::new();
    // Each turn takes out one node, so the loop ends; the bound keeps it short.
    for _ in 0..MAX_ERRORS * 4 {
        if errors.len() >= MAX_ERRORS {
            break;
        }
        let Some(path) = next.take() else { break };
        if path.is_empty() || path == "." || !remove(&mut doc, &path, &mut shifts) {
            break;
        }
        removed.push(path);
        let err = match serde_path_to_error::deserialize::<_, T>(doc.clone()) {
            Ok(config) => {
                pruned = whole.then(|| Pruned {
                    config,
                    removed: removed.clone(),
                });
                break;
            }
            Err(e) => e,
        };
        let Some(path) = to_original(&err.path().to_string(), &shifts) else {
            break;
        };
        let message = err.into_inner().to_string();
        let under = |p: &str, q: &str| {
            p == q
                || q == "."
                || p.strip_prefix(q)
                    .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
        };
        if removed.iter().any(|r| under(r, &path)) {
            // At a node that held one taken out: caused by the taking out, not by the file.
            // Take that node out too, silently (the root, or a node already out, ends it).
            whole = false;
            next = Some(path);
            continue;
        }
        if removed.iter().any(|r| under(&path, r)) {
            break; // inside a node already taken out: cannot be
        }
        let (line, column) = locate(text, &path).unwrap_or((1, 1));
        next = Some(path.clone());
        errors.push(ConfigError {
            file: file.to_owned(),
            line,
            column,
            path,
            message,
        });
    }
    sort(&mut errors);
    Err((errors, pruned))
}

/// Sorts errors into file order: by line, then column, then field path; drops repeats.
pub fn sort(errors: &mut Vec<ConfigError>) {
    errors.sort_by(|a, b| (a.line, a.column, &a.path).cmp(&(b.line, b.column, &b.path)));
    errors.dedup();
}
