//! Known-good inputs for tests.

/// A small router: two providers, a weighted route with a priority fallback, a rule.
pub const ROUTER_YAML: &str = "\
targets:
  - name: openai-4o
    provider: openai
    model: gpt-4o
    context_window: 128000
    price: { input: 2.5, output: 10 }
  - name: claude
    provider: anthropic
    model: claude-sonnet-4
    context_window: 200000
    price: { input: 3, output: 15 }
  - name: mini
    provider: openai
    model: gpt-4o-mini
    price: { input: 0.15, output: 0.6 }
routes:
  - name: chat
    policy: weighted
    targets: [openai-4o, claude]
    weights: [3, 1]
    fallback: cheap
  - name: cheap
    policy: priority
    tiers: [[mini], [openai-4o]]
rules:
  - when: { task: classify }
    route: cheap
";

/// The 1-based line of the first line of `text` containing `needle` (0 when absent).
pub fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or(0, |i| i + 1)
}
