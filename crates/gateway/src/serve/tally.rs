//! Which path served: the requests the fast path ([`super::fast`]) served, and the connections
//! it handed to hyper, by why, counted for `/metrics` (docs/GATEWAY.md, "Metrics"). One
//! relaxed atomic increment a request or a hand-off: no allocation, no lock.
//!
//! An operator reads it to see whether the clients' chat requests take the fast path: a
//! growing `chat_not_canonical` or `body_later` count means they are served by hyper's
//! slower connection (docs/PERFORMANCE.md, "The same-dialect path, step by step").

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why the fast path handed a connection to hyper (which serves the rest of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Handoff {
    /// Not `POST /v1/chat/completions`: another method or path (a query string included).
    NotChat,
    /// A chat request the fast path leaves to hyper: HTTP/1.0, a chunked body, `expect`,
    /// `upgrade`, a `connection` list, no `content-length` or a bad one, a body over the limit.
    ChatNotCanonical,
    /// A head the fast path could not read: malformed, over 32 headers, or over 64 KiB.
    HeadUnread,
    /// Head and body larger than the 256 KiB the fast path buffers.
    BodyLarge,
    /// The body not whole 50 ms after the head was (`BODY_WAIT`), or cut by its client.
    BodyLater,
}

impl Handoff {
    /// Every reason, in the order `/metrics` lists them.
    const ALL: [Handoff; 5] = [
        Handoff::NotChat,
        Handoff::ChatNotCanonical,
        Handoff::HeadUnread,
        Handoff::BodyLarge,
        Handoff::BodyLater,
    ];

    /// Its `reason` label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Handoff::NotChat => "not_chat",
            Handoff::ChatNotCanonical => "chat_not_canonical",
            Handoff::HeadUnread => "head_unread",
            Handoff::BodyLarge => "body_large",
            Handoff::BodyLater => "body_later",
        }
    }
}

/// The counts, shared by every serving thread (on the [`crate::Gateway`]; a reload keeps them).
#[derive(Debug, Default)]
pub(crate) struct Tally {
    fast: AtomicU64,
    handoffs: [AtomicU64; Handoff::ALL.len()],
}

impl Tally {
    /// A request served by the fast path.
    pub(crate) fn fast(&self) {
        self.fast.fetch_add(1, Relaxed);
    }

    /// A connection handed to hyper.
    pub(crate) fn handoff(&self, why: Handoff) {
        if let Some(n) = self.handoffs.get(why as usize) {
            n.fetch_add(1, Relaxed);
        }
    }

    /// Its series, in Prometheus text, added to `out`.
    pub(crate) fn render(&self, out: &mut String) {
        out.push_str(FAST_HELP);
        let _ = writeln!(out, "{FAST} {}", self.fast.load(Relaxed));
        out.push_str(HANDOFF_HELP);
        for (why, n) in Handoff::ALL.iter().zip(&self.handoffs) {
            let _ = writeln!(
                out,
                "{HANDOFF}{{reason=\"{}\"}} {}",
                why.label(),
                n.load(Relaxed)
            );
        }
    }
}

const FAST: &str = "switchyard_fast_path_requests_total";
const FAST_HELP: &str = "# HELP switchyard_fast_path_requests_total Chat requests served by the fast path.\n# TYPE switchyard_fast_path_requests_total counter\n";
const HANDOFF: &str = "switchyard_fast_path_handoffs_total";
const HANDOFF_HELP: &str = "# HELP switchyard_fast_path_handoffs_total Connections the fast path handed to hyper, by reason.\n# TYPE switchyard_fast_path_handoffs_total counter\n";

#[cfg(test)]
mod tests {
    use super::{Handoff, Tally};

    /// Every series and every reason `/metrics` shows is in docs/GATEWAY.md's table.
    #[test]
    fn the_docs_list_every_series_and_reason() {
        let docs = include_str!("../../../../docs/GATEWAY.md");
        let tally = Tally::default();
        let mut text = String::new();
        tally.render(&mut text);
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
                let row = format!("| `{name}` | {kind} |");
                assert!(docs.contains(&row), "{row} missing from docs/GATEWAY.md");
            }
        }
        for why in Handoff::ALL {
            let label = format!("`{}`", why.label());
            assert!(
                docs.contains(&label),
                "{label} missing from docs/GATEWAY.md"
            );
        }
    }

    #[test]
    fn each_count_is_its_own() {
        let tally = Tally::default();
        tally.fast();
        tally.fast();
        tally.handoff(Handoff::BodyLater);
        let mut text = String::new();
        tally.render(&mut text);
        assert!(
            text.contains("\nswitchyard_fast_path_requests_total 2\n"),
            "{text}"
        );
        for why in Handoff::ALL {
            let n = u8::from(why == Handoff::BodyLater);
            let line = format!(
                "\nswitchyard_fast_path_handoffs_total{{reason=\"{}\"}} {n}\n",
                why.label()
            );
            assert!(text.contains(&line), "{line} {text}");
        }
    }
}
