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
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // The region searched: lines [start, end), whose entries sit deeper than `parent`.
    let (mut start, mut end) = (0, lines.len());
    let mut parent: Option<usize> = None;
    let mut found: Option<(usize, usize)> = None;
    for segment in segments(path) {
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
    found
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
    fn falls_back_to_the_deepest_ancestor() {
        assert_eq!(
            locate(YAML, "routes[0].weights[1]"),
            Some((12, 5)),
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
