//! The behaviour model: given a request, the time and an RNG, what the provider does.
//!
//! Pure and synchronous (the behaviour seam; see docs/ARCHITECTURE.md):
//! `respond(request, now, rng) -> Answer`.
//! The simulator schedules events from the answer; the HTTP server sleeps with tokio and
//! renders it in the provider's dialect. For one seed, both misbehave alike.
//!
//! Order of decisions for one request: every fault is asked whether it fires (so fault
//! counters are exact); the rate limiter (with any squeeze) may refuse it with a 429; a
//! request too long for the model's window is refused as the vendor would; then the first
//! terminal fault that fired decides the answer, or else a reply is drawn from the profile's
//! distributions, stretched by slow-downs and marked with any stream fault.

use std::collections::BTreeMap;

use serde::Serialize;
use switchyard_core::health::LimitSnapshot;
use switchyard_core::health::limits::TokenBucket;
use switchyard_core::outcome::ErrorKind;
use switchyard_core::request::FinishReason;
use switchyard_core::rng::Rng;
use switchyard_core::time::{Duration, Instant};

use crate::fault::{Fault, FaultConfig, FaultKind};
use crate::profile::ProfileParams;

/// What the model needs to know about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FakeRequest<'a> {
    pub model: &'a str,
    pub prompt_tokens: u32,
    pub max_tokens: u32,
    pub stream: bool,
}

/// A fault that strikes a stream after some tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFault {
    /// The connection drops after N tokens, with no terminating event.
    Cut { after_tokens: u32 },
    /// Silence for `stall` after N tokens, then the connection drops.
    Stall { after_tokens: u32, stall: Duration },
    /// A chunk that is not valid JSON after N tokens; the stream then goes on.
    MalformedChunk { after_tokens: u32 },
    /// The stream ends cleanly but without its terminating event (`[DONE]`, `message_stop`).
    MissingDone,
}

/// A successful reply's shape and timing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reply {
    pub first_token: Duration,
    /// Between consecutive tokens.
    pub token_interval: Duration,
    pub output_tokens: u32,
    pub prompt_tokens: u32,
    /// Of `prompt_tokens`, those reported read from the prompt cache
    /// ([`ProfileConfig::cached_prompt_tokens`](crate::profile::ProfileConfig::cached_prompt_tokens)).
    pub cached_prompt_tokens: u32,
    pub finish: FinishReason,
    pub stream_fault: Option<StreamFault>,
    /// Seeds the reply's text.
    pub text_seed: u64,
}

impl Reply {
    /// When the last token is ready.
    pub fn total(&self) -> Duration {
        self.first_token
            + self
                .token_interval
                .saturating_mul(u64::from(self.output_tokens.saturating_sub(1)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Behaviour {
    Reply(Reply),
    /// An error reply: the dialect renders `kind`; `status` overrides its usual status.
    Error {
        kind: ErrorKind,
        status: Option<u16>,
        retry_after: Option<Duration>,
    },
    /// The connection is closed before any byte of a response.
    Reset,
    /// The request is accepted and never answered.
    Hang,
    /// A 200 whose body is not valid JSON.
    MalformedJson,
}

impl Behaviour {
    pub const fn label(&self) -> &'static str {
        match self {
            Behaviour::Reply(_) => "reply",
            Behaviour::Error { .. } => "error",
            Behaviour::Reset => "reset",
            Behaviour::Hang => "hang",
            Behaviour::MalformedJson => "malformed_json",
        }
    }
}

/// A behaviour plus what goes in the reply's rate-limit headers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Answer {
    pub behaviour: Behaviour,
    pub limits: LimitSnapshot,
}

/// What the fake has seen and done, for `/_fake/counters` and for tests.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Counters {
    pub requests: u64,
    /// Answers by behaviour label (the control API keeps the key `verdicts`).
    #[serde(rename = "verdicts")]
    pub behaviours: BTreeMap<&'static str, u64>,
    /// HTTP statuses sent, filled in by the server.
    pub statuses: BTreeMap<u16, u64>,
    /// Faults fired, by kind label.
    pub faults_fired: BTreeMap<&'static str, u64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// What the faults that fired do to one request.
struct Fired {
    /// The first terminal fault: the request gets no reply.
    terminal: Option<FaultKind>,
    /// Slows the reply down.
    factor: f64,
    /// Delays the first token.
    extra: Duration,
    stream_fault: Option<StreamFault>,
    /// A squeezed rate limit refused it, and when the squeeze admits again (the longest
    /// wait of the squeezes that refused).
    squeezed: Option<Duration>,
}

#[derive(Clone, Debug)]
struct Squeeze {
    requests: Option<TokenBucket>,
    tokens: Option<TokenBucket>,
}

#[derive(Clone, Debug)]
pub struct Model {
    profile: ProfileParams,
    faults: Vec<Fault>,
    squeezes: Vec<Option<Squeeze>>,
    requests: Option<TokenBucket>,
    tokens: Option<TokenBucket>,
    counters: Counters,
}

impl Model {
    pub fn new(profile: ProfileParams) -> Self {
        let mut model = Model {
            faults: Vec::new(),
            squeezes: Vec::new(),
            requests: profile.requests_per_minute.map(TokenBucket::per_minute),
            tokens: profile.tokens_per_minute.map(TokenBucket::per_minute),
            counters: Counters::default(),
            profile,
        };
        model.faults = model.profile.default_faults(Instant::ZERO);
        model.squeezes = vec![None; model.faults.len()];
        model
    }

    pub fn profile(&self) -> &ProfileParams {
        &self.profile
    }
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    pub fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// Adds a fault whose `at` counts from `now`.
    pub fn add_fault(&mut self, config: &FaultConfig, now: Instant) -> Result<(), String> {
        self.faults.push(config.resolve(now)?);
        self.squeezes.push(None);
        Ok(())
    }

    /// Removes every fault, the profile's defaults included.
    pub fn clear_faults(&mut self) {
        self.faults.clear();
        self.squeezes.clear();
    }

    /// Back to the profile: default faults, full buckets, zero counters.
    pub fn reset(&mut self) {
        *self = Model::new(self.profile.clone());
    }

    pub fn respond<R: Rng + ?Sized>(
        &mut self,
        request: &FakeRequest<'_>,
        now: Instant,
        rng: &mut R,
    ) -> Answer {
        self.counters.requests += 1;
        let tokens = u64::from(request.prompt_tokens) + u64::from(request.max_tokens);
        let fired = self.fire_faults(now, rng, tokens);
        let behaviour = match self.refuse(request, now, tokens, fired.terminal, fired.squeezed) {
            Some(refused) => refused,
            None => self.draw_reply(request, rng, &fired),
        };
        let limits = self.snapshot();
        *self
            .counters
            .behaviours
            .entry(behaviour.label())
            .or_default() += 1;
        if let Behaviour::Reply(r) = &behaviour {
            self.counters.prompt_tokens += u64::from(r.prompt_tokens);
            self.counters.completion_tokens += u64::from(r.output_tokens);
        }
        Answer { behaviour, limits }
    }

    /// Fires the faults due now: what they do to this request.
    fn fire_faults<R: Rng + ?Sized>(&mut self, now: Instant, rng: &mut R, tokens: u64) -> Fired {
        let mut terminal: Option<FaultKind> = None;
        let mut factor = 1.0;
        let mut extra = Duration::ZERO;
        let mut stream_fault = None;
        let mut squeezed: Option<Duration> = None;
        for i in 0..self.faults.len() {
            let fault = &mut self.faults[i];
            if !fault.fires(now, rng) {
                self.squeezes[i] = None;
                continue;
            }
            *self
                .counters
                .faults_fired
                .entry(fault.kind.label())
                .or_default() += 1;
            match fault.kind {
                k if k.is_terminal() => terminal = terminal.or(Some(k)),
                FaultKind::SlowDown { factor: f } => factor *= f,
                FaultKind::SlowFirstToken { extra: e } => extra = extra + e,
                FaultKind::StreamCut { after_tokens } => {
                    stream_fault = stream_fault.or(Some(StreamFault::Cut { after_tokens }));
                }
                FaultKind::StreamStall {
                    after_tokens,
                    stall,
                } => {
                    stream_fault = stream_fault.or(Some(StreamFault::Stall {
                        after_tokens,
                        stall,
                    }));
                }
                FaultKind::MalformedChunk { after_tokens } => {
                    stream_fault =
                        stream_fault.or(Some(StreamFault::MalformedChunk { after_tokens }));
                }
                FaultKind::MissingDone => {
                    stream_fault = stream_fault.or(Some(StreamFault::MissingDone))
                }
                FaultKind::RateLimitSqueeze {
                    requests_per_minute,
                    tokens_per_minute,
                } => {
                    let squeeze = self.squeezes[i].get_or_insert_with(|| Squeeze {
                        requests: requests_per_minute.map(|n| bucket_at(n, now)),
                        tokens: tokens_per_minute.map(|n| bucket_at(n, now)),
                    });
                    if !admit(&mut squeeze.requests, &mut squeeze.tokens, now, tokens) {
                        let wait = wait_for_one(&squeeze.requests, &squeeze.tokens);
                        squeezed = Some(squeezed.map_or(wait, |w| w.max(wait)));
                    }
                }
                _ => {}
            }
        }
        Fired {
            terminal,
            factor,
            extra,
            stream_fault,
            squeezed,
        }
    }

    /// A request refused: rate-limited, past the context window, or a terminal fault.
    fn refuse(
        &mut self,
        request: &FakeRequest<'_>,
        now: Instant,
        tokens: u64,
        terminal: Option<FaultKind>,
        squeezed: Option<Duration>,
    ) -> Option<Behaviour> {
        if squeezed.is_some() || !admit(&mut self.requests, &mut self.tokens, now, tokens) {
            // Until both the profile's limits and any squeeze that refused admit again.
            let wait = wait_for_one(&self.requests, &self.tokens)
                .max(squeezed.unwrap_or(Duration::ZERO))
                .max(Duration::from_secs(1));
            return Some(Behaviour::Error {
                kind: ErrorKind::RateLimited,
                status: Some(429),
                retry_after: Some(wait),
            });
        }
        let window = self
            .profile
            .model(request.model)
            .map_or(u32::MAX, |m| m.context_window);
        if tokens > u64::from(window) {
            return Some(Behaviour::Error {
                kind: ErrorKind::ContextLengthExceeded,
                status: None,
                retry_after: None,
            });
        }
        match terminal {
            Some(FaultKind::Http {
                status,
                retry_after,
            }) => {
                let kind = switchyard_core::dialect::kind_for_status(status);
                return Some(Behaviour::Error {
                    kind,
                    status: Some(status),
                    retry_after,
                });
            }
            Some(FaultKind::Reset) => return Some(Behaviour::Reset),
            Some(FaultKind::Hang) => return Some(Behaviour::Hang),
            Some(FaultKind::MalformedJson) => return Some(Behaviour::MalformedJson),
            Some(FaultKind::ContextLength) => {
                return Some(Behaviour::Error {
                    kind: ErrorKind::ContextLengthExceeded,
                    status: None,
                    retry_after: None,
                });
            }
            Some(FaultKind::ContentFilter) => {
                return Some(Behaviour::Error {
                    kind: ErrorKind::ContentFiltered,
                    status: None,
                    retry_after: None,
                });
            }
            _ => {}
        }
        None
    }

    /// A reply, drawn from the profile and slowed by the faults that fired.
    fn draw_reply<R: Rng + ?Sized>(
        &self,
        request: &FakeRequest<'_>,
        rng: &mut R,
        fired: &Fired,
    ) -> Behaviour {
        let first_token =
            Duration::from_secs_f64(self.profile.first_token.sample(rng) * fired.factor)
                + fired.extra;
        let tps = self.profile.tokens_per_second.sample(rng).max(1.0);
        let token_interval = Duration::from_secs_f64(fired.factor / tps);
        // A long tail may draw past what a profile may ask for: never more than that.
        let drawn = self
            .profile
            .output_tokens
            .sample(rng)
            .round()
            .clamp(1.0, crate::profile::MAX_OUTPUT_TOKENS) as u32;
        let (output_tokens, finish) = if request.max_tokens > 0 && drawn > request.max_tokens {
            (request.max_tokens, FinishReason::Length)
        } else {
            (drawn, FinishReason::Stop)
        };
        Behaviour::Reply(Reply {
            first_token,
            token_interval,
            output_tokens,
            prompt_tokens: request.prompt_tokens,
            cached_prompt_tokens: request.prompt_tokens.min(self.profile.cached_prompt_tokens),
            finish,
            stream_fault: if request.stream {
                fired.stream_fault
            } else {
                None
            },
            text_seed: rng.next_u64(),
        })
    }

    fn snapshot(&self) -> LimitSnapshot {
        let part = |b: &Option<TokenBucket>| {
            b.as_ref().map(|b| {
                (
                    b.capacity() as u64,
                    b.level().max(0.0).floor() as u64,
                    b.time_to_full(),
                )
            })
        };
        let (r, t) = (part(&self.requests), part(&self.tokens));
        LimitSnapshot {
            limit_requests: r.map(|x| x.0),
            remaining_requests: r.map(|x| x.1),
            reset_requests: r.map(|x| x.2),
            limit_tokens: t.map(|x| x.0),
            remaining_tokens: t.map(|x| x.1),
            reset_tokens: t.map(|x| x.2),
        }
    }
}

fn bucket_at(per_minute: u64, now: Instant) -> TokenBucket {
    let mut b = TokenBucket::per_minute(per_minute);
    b.set_level(now, per_minute);
    b
}

/// How long until the buckets have room for one more request (and token): zero without any.
fn wait_for_one(requests: &Option<TokenBucket>, tokens: &Option<TokenBucket>) -> Duration {
    [requests, tokens]
        .into_iter()
        .flatten()
        .map(|b| b.wait_for(1))
        .max()
        .unwrap_or(Duration::ZERO)
}

/// Takes one request and `tokens` from the buckets if both have room.
fn admit(
    requests: &mut Option<TokenBucket>,
    tokens: &mut Option<TokenBucket>,
    now: Instant,
    n: u64,
) -> bool {
    let room = requests.as_mut().is_none_or(|b| b.has_room(now, 1))
        && tokens.as_mut().is_none_or(|b| b.has_room(now, n));
    if room {
        if let Some(b) = requests.as_mut() {
            b.take(now, 1);
        }
        if let Some(b) = tokens.as_mut() {
            b.take(now, n);
        }
    }
    room
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
