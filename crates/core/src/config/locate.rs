//! Finds where a field path (`routes[1].weights[0]`) sits in a YAML text, for error messages.
//!
//! serde reports *which* field is wrong; validation after parsing knows the path but not the
//! position. This walks the block-style YAML by indentation, which is how people write config
//! files. When a segment cannot be found (flow style such as `[a, b]`, or a field that is
//! missing altogether), the position of the deepest ancestor found is returned, which still
//! points the reader at the right place.

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        while let Some((index, after)) = rest.split_once(']') {
            if let Ok(i) = index.parse() {
                out.push(Segment::Index(i));
            }
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    out
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#') && t != "---"
}

/// 1-based (line, column) of the node at `path`, or of its deepest ancestor found.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    walk(text, path).map(|(at, _)| at)
}

/// 1-based (line, column) of the node at `path` itself (a key where the last step is a
/// key), or `None` when some step of it is not in the text.
pub fn locate_field(text: &str, path: &str) -> Option<(usize, usize)> {
    walk(text, path).and_then(|(at, all)| all.then_some(at))
}

/// Where the deepest node of `path` found sits, and whether that is the whole path: block
/// style by indentation, then flow style (`{ a: 1, b: [x, y] }`) inside the node where the
/// blocks end.
fn walk(text: &str, path: &str) -> Option<((usize, usize), bool)> {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let segments = segments(path);
    // The region searched: lines [start, end), whose entries sit deeper than `parent`.
    let (mut start, mut end) = (0, lines.len());
    let mut parent: Option<usize> = None;
    let mut found: Option<(usize, usize)> = None;
    // Where the value of the deepest node found starts (a byte offset), and how many
    // segments the blocks matched.
    let mut value: Option<usize> = None;
    let mut matched = 0;
    for segment in &segments {
        let segment = segment.clone();
        let child = (start..end)
            .filter(|&i| is_content(&lines[i]))
            .map(|i| indent(&lines[i]))
            .find(|&ind| parent.is_none_or(|p| ind > p));
        let Some(child) = child else { break };
        let hit = match segment {
            Segment::Key(key) => (start..end).find(|&i| {
                indent(&lines[i]) == child
                    && lines[i]
                        .trim_start()
                        .strip_prefix(key)
                        .is_some_and(|r| r.starts_with(':'))
            }),
            Segment::Index(n) => (start..end)
                .filter(|&i| indent(&lines[i]) == child && lines[i].trim_start().starts_with('-'))
                .nth(n),
        };
        let Some(i) = hit else { break };
        found = Some((i + 1, child + 1));
        matched += 1;
        let skip = match segment {
            Segment::Key(key) => key.len() + 1,
            Segment::Index(_) => 1,
        };
        value = starts.get(i).map(|s| s + child + skip);
        // The node's block ends at the next content line as shallow as the node itself.
        let block_end = (i + 1..end)
            .find(|&j| is_content(&lines[j]) && indent(&lines[j]) <= child)
            .unwrap_or(end);
        if let Segment::Index(_) = segment {
            // Descend into a list item: its first key sits after the "- ".
            lines[i] = lines[i].replacen('-', " ", 1);
            start = i;
            parent = Some(child);
        } else {
            start = i + 1;
            parent = Some(child);
        }
        end = block_end;
    }
    if matched < segments.len()
        && let Some(from) = value
        && let Some((at, n)) = flow(text, from, &segments[matched..])
    {
        let at = position(&starts, at);
        return Some((at, matched + n == segments.len()));
    }
    found.map(|at| (at, matched == segments.len()))
}

/// 1-based (line, column) of a byte offset.
fn position(starts: &[usize], at: usize) -> (usize, usize) {
    let line = starts.partition_point(|&s| s <= at).max(1);
    (line, at - starts[line - 1] + 1)
}

/// In flow-style YAML from byte `from` (a value), the offset of the deepest node of
/// `segments` found (a key where the step is a key, an item's start where it is an index),
/// and how many segments that is; `None` when not even the first is there.
fn flow(text: &str, from: usize, segments: &[Segment<'_>]) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let mut at = skip_space(b, from);
    let mut best: Option<(usize, usize)> = None;
    for (depth, segment) in segments.iter().enumerate() {
        let next = match (segment, b.get(at)) {
            (Segment::Key(key), Some(b'{')) => flow_key(b, at, key),
            (Segment::Index(n), Some(b'[')) => flow_item(b, at, *n),
            _ => None,
        };
        let Some((node, value)) = next else { break };
        best = Some((node, depth + 1));
        at = skip_space(b, value);
    }
    best
}

fn skip_space(b: &[u8], mut at: usize) -> usize {
    while let Some(c) = b.get(at) {
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => at += 1,
            b'#' => {
                while b.get(at).is_some_and(|c| *c != b'\n') {
                    at += 1;
                }
            }
            _ => break,
        }
    }
    at
}

/// The end of the flow value (or key) at `at`: past a balanced `{}`/`[]`, a quoted scalar,
/// or a plain one (up to `,`, `:` followed by a space, or a closing bracket).
fn skip_value(b: &[u8], mut at: usize) -> usize {
    match b.get(at) {
        Some(open @ (b'{' | b'[')) => {
            let close = if *open == b'{' { b'}' } else { b']' };
            at += 1;
            loop {
                at = skip_space(b, at);
                match b.get(at) {
                    None => return at,
                    Some(c) if *c == close => return at + 1,
                    Some(b',' | b':') => at += 1,
                    Some(_) => at = skip_value(b, at).max(at + 1),
                }
            }
        }
        Some(q @ (b'"' | b'\'')) => {
            let q = *q;
            at += 1;
            while let Some(c) = b.get(at) {
                at += 1;
                if *c == b'\\' && q == b'"' {
                    at += 1;
                } else if *c == q {
                    break;
                }
            }
            at
        }
        _ => {
            while let Some(c) = b.get(at) {
                let colon = *c == b':' && b.get(at + 1).is_none_or(|n| n.is_ascii_whitespace());
                if matches!(c, b',' | b'}' | b']' | b'\n') || colon {
                    break;
                }
                at += 1;
            }
            at
        }
    }
}

/// In the flow mapping at `at` (its `{`), the offsets of `key` and of its value.
fn flow_key(b: &[u8], at: usize, key: &str) -> Option<(usize, usize)> {
    let mut at = at + 1;
    loop {
        at = skip_space(b, at);
        match b.get(at)? {
            b'}' => return None,
            b',' => {
                at += 1;
                continue;
            }
            _ => {}
        }
        let key_at = at;
        let key_end = skip_value(b, at);
        let written = std::str::from_utf8(b.get(key_at..key_end)?)
            .ok()?
            .trim()
            .trim_matches(|c| c == '"' || c == '\'');
        at = skip_space(b, key_end);
        if b.get(at) == Some(&b':') {
            at = skip_space(b, at + 1);
        }
        if written == key {
            return Some((key_at, at));
        }
        at = skip_value(b, at);
    }
}

/// In the flow sequence at `at` (its `[`), the offset of item `n`.
fn flow_item(b: &[u8], at: usize, n: usize) -> Option<(usize, usize)> {
    let mut at = at + 1;
    let mut i = 0;
    loop {
        at = skip_space(b, at);
        match b.get(at)? {
            b']' => return None,
            b',' => {
                at += 1;
                continue;
            }
            _ => {}
        }
        if i == n {
            return Some((at, at));
        }
        at = skip_value(b, at);
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "\
# a comment
targets:
  - name: a
    provider: openai
  - name: b
    provider: anthropic
    price:
      input: -1
routes:
  - name: chat
    targets: [a, b]
    weights: [0, 0]
";

    #[test]
    fn finds_keys_and_list_items() {
        assert_eq!(locate(YAML, "targets"), Some((2, 1)));
        assert_eq!(locate(YAML, "targets[1]"), Some((5, 3)));
        assert_eq!(locate(YAML, "targets[1].provider"), Some((6, 5)));
        assert_eq!(locate(YAML, "targets[0].provider"), Some((4, 5)));
        assert_eq!(locate(YAML, "targets[1].price.input"), Some((8, 7)));
        assert_eq!(locate(YAML, "routes[0].weights"), Some((12, 5)));
        assert_eq!(locate(YAML, "targets[0].name"), Some((3, 5)));
    }

    #[test]
    fn finds_fields_written_in_flow_style() {
        let text = "\
targets:
  - { name: a, provider: openai, price: { input: -1 } }
  - name: b
    caps: [x, \"y, z\", { deep: 1 }]
expect:
  - { metric: cost, window: { from: 1m, to: 2m },
      op: \">=\" }
";
        assert_eq!(locate(text, "targets[0].provider"), Some((2, 16)));
        assert_eq!(locate(text, "targets[0].price.input"), Some((2, 43)));
        assert_eq!(locate(text, "targets[1].caps[2].deep"), Some((4, 25)));
        assert_eq!(locate(text, "targets[1].caps[1]"), Some((4, 15)));
        assert_eq!(locate(text, "expect[0].window.to"), Some((6, 41)));
        assert_eq!(locate(text, "expect[0].op"), Some((7, 7)));
        assert_eq!(locate_field(text, "expect[0].op"), Some((7, 7)));
        // Not there: the deepest ancestor for `locate`, nothing for `locate_field`.
        assert_eq!(locate(text, "targets[0].model"), Some((2, 3)));
        assert_eq!(locate_field(text, "targets[0].model"), None);
        assert_eq!(locate(text, "targets[0].price.output"), Some((2, 34)));
    }

    #[test]
    fn falls_back_to_the_deepest_ancestor() {
        assert_eq!(
            locate(YAML, "routes[0].weights[1]"),
            Some((12, 18)),
            "flow style"
        );
        assert_eq!(
            locate(YAML, "routes[0].fallback"),
            Some((10, 3)),
            "missing field"
        );
        assert_eq!(locate(YAML, "plan"), None);
        assert_eq!(locate("", "a"), None);
    }
}
