//! How an attempt ends, from the fake's behaviour, under the attempt's timeouts (the same rules
//! as the live driver's).

use switchyard_core::dialect::estimate_tokens_from_chars;
use switchyard_core::outcome::{AttemptReport, ErrorKind, Outcome};
use switchyard_core::plan::Timeouts;
use switchyard_core::time::{Duration, Instant};
use switchyard_fake::{Behaviour, Reply, StreamFault, text};

#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    pub(crate) report: AttemptReport,
    pub(crate) first_token_at: Option<Instant>,
    /// Between consecutive tokens of a stream (zero without one).
    pub(crate) token_interval: Duration,
    /// The reply's full length as the model drew it (0 without a reply).
    pub(crate) planned_tokens: u32,
    /// The seed of the reply's text (`switchyard_fake::text`; 0 without a reply).
    pub(crate) text_seed: u64,
    /// The tokens the attempt sends its caller, exactly: all of a reply's, a broken stream's
    /// up to the break (whose report books them as its text's estimate, as live mode does),
    /// none before a first token. What the caller holds for a continuation's prefill, and
    /// the stream's gaps.
    pub(crate) sent_tokens: u32,
}

/// How an attempt ends, from the fake's behaviour, under the attempt's timeouts (the same rules
/// as the live driver's). Times are from the send; `first_token_at` is too (as an `Instant`
/// offset from zero), until the caller shifts it.
pub(crate) fn outcome(
    behaviour: Behaviour,
    stream: bool,
    net: Duration,
    timeouts: Timeouts,
    finish_ends_stream: bool,
) -> Pending {
    let bound = timeouts.first;
    let reply = match behaviour {
        Behaviour::Error {
            kind, retry_after, ..
        } => return failed(kind, net.min(bound), retry_after),
        Behaviour::Reset => return failed(ErrorKind::ConnectFailed, net.min(bound), None),
        Behaviour::Hang => return failed(ErrorKind::Timeout, bound, None),
        // Its head (with its body) later than the bound: a timeout, as live mode has it.
        Behaviour::MalformedJson if net >= bound => {
            return failed(ErrorKind::Timeout, bound, None);
        }
        // A 2xx head with a body that is not a reply.
        Behaviour::MalformedJson => return broke(ErrorKind::MalformedResponse, net),
        Behaviour::Reply(reply) => reply,
    };
    if stream {
        Stream::new(reply, net, timeouts).end(finish_ends_stream)
    } else {
        whole(reply, net, bound)
    }
}

/// A committed stream its caller left at `now`: the attempt cancelled, with its prompt and
/// its completion tokens booked as the live driver books a stream dropped mid-way, which
/// cannot know how many the provider generated: estimated from the characters of the text
/// the fake had sent by then (none past what the attempt would have sent) at four
/// characters a token, rounded up ([`estimate_tokens_from_chars`]). `None` before its
/// first token.
pub(crate) fn abandoned(p: &Pending, started: Instant, now: Instant) -> Option<AttemptReport> {
    let first = p.first_token_at.filter(|&ft| ft <= now)?;
    let since = now.saturating_since(first).as_nanos();
    let sent = match p.token_interval.as_nanos() {
        0 => p.sent_tokens,
        gap => u32::try_from(since / gap)
            .unwrap_or(u32::MAX)
            .saturating_add(1),
    }
    .min(p.sent_tokens);
    Some(AttemptReport {
        first_token: p.report.first_token,
        prompt_tokens: p.report.prompt_tokens,
        completion_tokens: estimate_tokens_from_chars(text_chars(p.text_seed, sent)),
        delivered_tokens: true,
        // Estimated, as live mode estimates it: a stream's usage comes at its end.
        usage_missing: true,
        ..AttemptReport::new(Outcome::Cancelled, now.saturating_since(started))
    })
}

/// The characters of the first `n` tokens of the fake's text seeded by `seed`, as a stream
/// sends them: each word, and a space before each after the first
/// (`switchyard_fake::text::piece`).
fn text_chars(seed: u64, n: u32) -> usize {
    text::tokens(seed, n)
        .enumerate()
        .fold(0usize, |chars, (i, word)| {
            chars
                .saturating_add(word.chars().count())
                .saturating_add(usize::from(i > 0))
        })
}

/// An attempt that failed after `after`, with no token delivered.
fn failed(kind: ErrorKind, after: Duration, retry_after: Option<Duration>) -> Pending {
    Pending {
        report: AttemptReport::new(Outcome::Error { kind, retry_after }, after),
        first_token_at: None,
        token_interval: Duration::ZERO,
        planned_tokens: 0,
        text_seed: 0,
        sent_tokens: 0,
    }
}

/// An answer that broke with `kind` at `at`, after its reply's 2xx head and before any token:
/// the provider had the prompt (`prompt_sent`), as the live driver reports it.
fn broke(kind: ErrorKind, at: Duration) -> Pending {
    let mut p = failed(kind, at, None);
    p.report.prompt_sent = true;
    p
}

fn at(d: Duration) -> Option<Instant> {
    Some(Instant::ZERO + d)
}

/// A whole reply: headers and body come together, bounded by the attempt's timeout.
fn whole(reply: Reply, net: Duration, bound: Duration) -> Pending {
    let total = reply.total() + net;
    if total > bound {
        return failed(ErrorKind::Timeout, bound, None);
    }
    Pending {
        report: AttemptReport {
            outcome: Outcome::Success,
            latency: total,
            first_token: Some(total),
            prompt_tokens: reply.prompt_tokens,
            cached_prompt_tokens: reply.cached_prompt_tokens,
            completion_tokens: reply.output_tokens,
            delivered_tokens: false,
            usage_missing: false,
            prompt_sent: false,
        },
        first_token_at: at(total),
        token_interval: Duration::ZERO,
        planned_tokens: reply.output_tokens,
        text_seed: reply.text_seed,
        sent_tokens: reply.output_tokens,
    }
}

/// A streamed reply's timeline from the send, and the timeouts that bound it.
struct Stream {
    reply: Reply,
    /// The first token.
    first: Duration,
    /// The last token, when nothing cuts the stream.
    total: Duration,
    /// Until the first token.
    bound: Duration,
    /// Between tokens after the first.
    idle: Duration,
    /// The whole stream.
    cap: Duration,
    /// The reply's head (the provider had the prompt), a network delay after the send.
    head: Duration,
}

impl Stream {
    fn new(reply: Reply, net: Duration, timeouts: Timeouts) -> Self {
        Stream {
            head: net,
            reply,
            first: reply.first_token + net,
            total: reply.total() + net,
            bound: timeouts.first,
            idle: timeouts.idle.unwrap_or(Duration::MAX),
            cap: timeouts.total.unwrap_or(Duration::MAX),
        }
    }

    fn token_at(&self, n: u32) -> Duration {
        self.first + self.reply.token_interval.saturating_mul(u64::from(n))
    }

    /// No first token within the bound: a timeout, whose provider had the prompt when its
    /// reply's head came first (`prompt_sent`, booked the prompt's estimate by the core), as
    /// the live driver reports it.
    fn timed_out(&self) -> Pending {
        let mut p = failed(ErrorKind::Timeout, self.bound, None);
        p.report.prompt_sent = self.head < self.bound;
        p
    }

    /// Interrupted at `end` with `n` tokens delivered, or fewer when `end` is past the
    /// stream's cap (it ends there, with the tokens sent by then).
    fn delivered(&self, n: u32, end: Duration) -> Pending {
        let (reply, first, cap) = (&self.reply, self.first, self.cap);
        let (n, end) = if end > cap {
            let by_cap = if reply.token_interval == Duration::ZERO {
                n
            } else {
                let since_first = cap - first;
                u32::try_from(since_first.as_nanos() / reply.token_interval.as_nanos())
                    .unwrap_or(u32::MAX)
                    .saturating_add(1)
                    .min(n)
            };
            (by_cap, cap)
        } else {
            (n, end)
        };
        Pending {
            report: AttemptReport {
                first_token: Some(first),
                // A stream's usage comes at its end: live mode books an interrupted one's
                // completion as the estimate of the text it delivered, four characters a
                // token ([`estimate_tokens_from_chars`]), and so does this.
                completion_tokens: estimate_tokens_from_chars(text_chars(reply.text_seed, n)),
                prompt_tokens: reply.prompt_tokens,
                delivered_tokens: true,
                usage_missing: true,
                ..AttemptReport::new(Outcome::error(ErrorKind::StreamInterrupted), end)
            },
            first_token_at: at(first),
            token_interval: reply.token_interval,
            planned_tokens: reply.output_tokens,
            text_seed: reply.text_seed,
            sent_tokens: n,
        }
    }

    /// After the first token: an idle gap longer than `idle`, or the whole stream past
    /// `cap`, ends it as interrupted, with what was delivered by then.
    fn end(&self, finish_ends_stream: bool) -> Pending {
        if self.first > self.bound {
            return self.timed_out();
        }
        let out = self.reply.output_tokens;
        // Faults before the first token come first: they fail the attempt before any commit.
        if let Some(StreamFault::Cut { after_tokens: 0 })
        | Some(StreamFault::MalformedChunk { after_tokens: 0 })
        | Some(StreamFault::Stall {
            after_tokens: 0, ..
        }) = self.reply.stream_fault
        {
        } else if self.reply.token_interval > self.idle && out > 1 {
            return self.delivered(1, self.first + self.idle);
        }
        if let Some(faulted) = self.fault(finish_ends_stream) {
            return faulted;
        }
        if self.total > self.cap {
            return self.delivered(out, self.total);
        }
        Pending {
            report: AttemptReport {
                outcome: Outcome::Success,
                latency: self.total,
                first_token: Some(self.first),
                prompt_tokens: self.reply.prompt_tokens,
                cached_prompt_tokens: self.reply.cached_prompt_tokens,
                completion_tokens: out,
                delivered_tokens: true,
                usage_missing: false,
                prompt_sent: false,
            },
            first_token_at: at(self.first),
            token_interval: self.reply.token_interval,
            planned_tokens: out,
            text_seed: self.reply.text_seed,
            sent_tokens: out,
        }
    }

    /// How the stream's fault, if it strikes before the reply ends, ends the attempt.
    fn fault(&self, finish_ends_stream: bool) -> Option<Pending> {
        let (first, out) = (self.first, self.reply.output_tokens);
        match self.reply.stream_fault {
            Some(StreamFault::Cut { after_tokens: 0 }) => {
                Some(broke(ErrorKind::StreamInterrupted, first))
            }
            Some(StreamFault::MalformedChunk { after_tokens: 0 }) => {
                Some(broke(ErrorKind::MalformedResponse, first))
            }
            Some(StreamFault::Stall {
                after_tokens: 0,
                stall,
            }) => {
                // Silence before any token: the first-token timeout, or the drop, whichever
                // first.
                Some(if first + stall < self.bound {
                    broke(ErrorKind::StreamInterrupted, first + stall)
                } else {
                    self.timed_out()
                })
            }
            Some(StreamFault::Cut { after_tokens: n })
            | Some(StreamFault::MalformedChunk { after_tokens: n })
                if n < out =>
            {
                Some(self.delivered(n, self.token_at(n)))
            }
            Some(StreamFault::Stall {
                after_tokens: n,
                stall,
            }) if n < out => Some(self.delivered(n, self.token_at(n) + stall.min(self.idle))),
            // A clean end after the finish reason is complete, with or without `[DONE]`.
            Some(StreamFault::MissingDone) if !finish_ends_stream => {
                Some(self.delivered(out, self.total))
            }
            Some(_) | None => None,
        }
    }
}
