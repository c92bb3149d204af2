//! `switchyard-sim`: the discrete-event driver.
//!
//! The routing core and the fakes' behaviour model run in virtual time: an event queue
//! ordered by (time, sequence) holds arrivals, attempt completions, first tokens, plan timers
//! and operator actions; the loop pops the earliest, advances the virtual clock to it and
//! lets the core decide. No sockets, no tokio, no clock: hours of traffic take seconds, and a
//! seed reproduces a run exactly. Memory holds only requests in flight, the event queue and
//! fixed-size telemetry, so it does not grow with simulated duration.
//!
//! An attempt's fate is decided when it is sent, from the fake's behaviour: when its first
//! token arrives, when it ends, and how (timeouts are applied here exactly as the live driver
//! applies them: see `switchyard_core::plan`). The core makes every decision: a stream's first
//! token commits it (`first_token` cancels the other attempts, whose later events are
//! ignored), and a caller that gives up (`abandon_after` on its traffic class) abandons its
//! plan (`abandon`).
//!
//! A stream that breaks after its first token on a route with `resume: prefill` goes on as
//! the core decides: the continuation (`Action::Send` with `continuation`) asks the fallback's
//! model for the rest of the answer — the length the broken attempt drew, minus the tokens
//! delivered — with the delivered tokens added to its prompt, as the prefill is. A provider
//! with `refuses_prefill` answers a continuation with a 400 (`bad_request`), as a vendor's
//! model without prefill does.

pub mod traffic;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use switchyard_core::credentials::keyring::{KeyRing, RevocationParams};
use switchyard_core::id::TargetId;
use switchyard_core::outcome::{
    AttemptRecord, AttemptReport, ErrorKind, FailureReason, FinalOutcome, Outcome,
};
use switchyard_core::overrides::Override;
use switchyard_core::plan::{Action, AttemptId, MAX_ATTEMPTS, Plan, Timeouts};
use switchyard_core::rng::SeededRng;
use switchyard_core::router::{Router, RouterParams};
use switchyard_core::time::{Duration, Instant};
use switchyard_fake::{Behaviour, FakeRequest, Model, ProfileParams, StreamFault};

use traffic::{Generator, TrafficParams};

/// A fake provider in the simulation.
#[derive(Clone, Debug)]
pub struct SimProvider {
    pub name: String,
    pub profile: ProfileParams,
    /// The provider's keys, when the scenario follows credentials (empty: it does not).
    pub keys: Vec<SimKey>,
    /// The provider refuses an assistant prefill (a continuation) with a 400, like a newer
    /// Anthropic or Gemini model, or a fake with `prefill: false`.
    pub refuses_prefill: bool,
}

/// One key of a provider, as the router is configured to use it and as the provider treats it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimKey {
    pub name: String,
    /// The router uses the key from here (the newest valid key wins).
    pub valid_from: Option<Instant>,
    /// ... until here.
    pub valid_until: Option<Instant>,
    /// The provider refuses the key (401) from here: revoked upstream.
    pub refused_from: Option<Instant>,
}

/// Something that happened to a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEvent {
    pub at: Instant,
    pub provider: String,
    pub key: String,
    pub what: &'static str,
}

#[derive(Clone, Debug)]
pub struct SimParams {
    pub router: RouterParams,
    /// By the name the router's targets use for their provider.
    pub providers: Vec<SimProvider>,
    pub traffic: TrafficParams,
    /// Operator actions, in time order.
    pub operator: Vec<(Instant, Override)>,
    pub duration: Duration,
    pub seed: u64,
    /// How long an error or a reset takes to come back.
    pub network_delay: Duration,
}

/// One finished request, for the observer.
#[derive(Debug)]
pub struct Finished<'a> {
    pub class: usize,
    /// When it was meant to be sent (its arrival).
    pub start: Instant,
    pub end: Instant,
    pub outcome: FinalOutcome,
    /// The route it resolved to (before any fallback); `None` for an unknown route.
    pub route: Option<switchyard_core::id::RouteId>,
    /// Its attempts, in order.
    pub attempts: &'a [AttemptRecord],
    /// From the start to the first token the caller saw.
    pub first_token: Option<Duration>,
    pub stream: bool,
    /// Cost of every attempt, and of those that did not succeed, by one rule in both
    /// drivers: an attempt costs its reported tokens at its target's price
    /// ([`switchyard_core::plan::Plan::cost`]), so an error without usage and a cancelled
    /// attempt cost nothing, and a stream that broke costs its prompt and the tokens it
    /// delivered.
    pub cost: f64,
    pub wasted_cost: f64,
    /// Completion tokens of the reply the caller received (0 when it failed).
    pub output_tokens: u32,
    /// A served stream's gaps between consecutive content chunks, as runs of equal gaps:
    /// `(gap, how many)`. Empty for a whole reply or a failure.
    pub gaps: &'a [(Duration, u32)],
    /// A stream that broke after its first token on a route that resumes: whether a
    /// continuation completed it (`None`: no such break, or the caller left).
    pub resumed: Option<bool>,
}

/// Gets every finished request.
pub trait Observer {
    fn finished(&mut self, request: &Finished<'_>);
}

/// What a run leaves behind.
#[derive(Debug)]
pub struct SimOutcome {
    pub router: Router,
    pub requests: u64,
    pub events: u64,
    /// Virtual time when the last request finished.
    pub end: Instant,
    /// Keys switched to or taken out of use.
    pub key_events: Vec<KeyEvent>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Operator,
    AttemptDone,
    FirstToken,
    Timer,
    /// The caller gives up on the request.
    Abandon,
    Arrival,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Event {
    at: Instant,
    seq: u64,
    kind: Kind,
    slot: u32,
    generation: u32,
    attempt: u8,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    report: AttemptReport,
    first_token_at: Option<Instant>,
    /// Between consecutive tokens of a stream (zero without one).
    token_interval: Duration,
    /// The reply's full length as the model drew it (0 without a reply).
    planned_tokens: u32,
}

#[derive(Debug)]
struct InFlight {
    plan: Plan,
    class: usize,
    start: Instant,
    stream: bool,
    pending: [Option<Pending>; MAX_ATTEMPTS],
    timer_at: Option<Instant>,
    first_token: Option<Instant>,
    /// The length of the answer the caller is receiving: what the first attempt to deliver
    /// tokens drew. A continuation produces the rest of it.
    answer_tokens: Option<u32>,
    /// Tokens the caller received: the served attempt's, and a broken stream's before it.
    output_tokens: u32,
    /// Per attempt that delivered a stream: its token gap and how many gaps it delivered.
    gaps: [(Duration, u32); MAX_ATTEMPTS],
}

struct Sim<'a, O> {
    params: &'a SimParams,
    router: Router,
    models: Vec<Model>,
    provider_rngs: Vec<SeededRng>,
    /// Per target: which provider model serves it.
    target_provider: Vec<usize>,
    queue: BinaryHeap<Reverse<Event>>,
    seq: u64,
    slots: Vec<Option<InFlight>>,
    generations: Vec<u32>,
    free: Vec<u32>,
    observer: &'a mut O,
    /// Per provider: the core's key ring (key in use, revocation after 401s, re-probes).
    key_rings: Vec<KeyRing>,
    key_events: Vec<KeyEvent>,
    requests: u64,
    events: u64,
    now: Instant,
}

/// Why a simulation could not start.
#[derive(Debug, PartialEq, Eq)]
pub struct SetupError(pub String);

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

/// Runs a simulation to its end: arrivals stop at `duration`; requests in flight then finish.
pub fn run<O: Observer>(params: &SimParams, observer: &mut O) -> Result<SimOutcome, SetupError> {
    let mut target_provider = Vec::with_capacity(params.router.targets.len());
    for t in &params.router.targets {
        let name = params.router.providers.name(t.provider.index() as u32);
        let p = params
            .providers
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| {
                SetupError(format!(
                    "target `{}` uses provider `{name}`, which the scenario does not define",
                    t.name
                ))
            })?;
        if params.providers[p].profile.model(&t.model).is_none() {
            return Err(SetupError(format!(
                "target `{}` asks provider `{name}` for model `{}`, which its profile does not serve",
                t.name, t.model
            )));
        }
        target_provider.push(p);
    }
    let mut sim = Sim {
        params,
        router: Router::new(
            params.router.clone(),
            SeededRng::substream(params.seed, "router"),
        ),
        models: params
            .providers
            .iter()
            .map(|p| Model::new(p.profile.clone()))
            .collect(),
        provider_rngs: params
            .providers
            .iter()
            .map(|p| SeededRng::substream(params.seed, &format!("provider/{}", p.name)))
            .collect(),
        target_provider,
        queue: BinaryHeap::new(),
        seq: 0,
        slots: Vec::new(),
        generations: Vec::new(),
        free: Vec::new(),
        observer,
        key_rings: params
            .providers
            .iter()
            .map(|p| KeyRing::new(p.keys.len(), RevocationParams::default()))
            .collect(),
        key_events: Vec::new(),
        requests: 0,
        events: 0,
        now: Instant::ZERO,
    };
    let mut generator = Generator::new(&params.traffic, params.seed);
    for (i, (at, _)) in params.operator.iter().enumerate() {
        sim.push(*at, Kind::Operator, i as u32, 0, 0);
    }
    let first = generator.next_arrival(&params.traffic.arrival, Instant::ZERO, params.duration);
    sim.push(first, Kind::Arrival, 0, 0, 0);
    let end_of_arrivals = Instant::ZERO + params.duration;
    while let Some(Reverse(event)) = sim.queue.pop() {
        sim.now = event.at;
        sim.events += 1;
        match event.kind {
            Kind::Arrival => {
                if event.at >= end_of_arrivals
                    || params
                        .traffic
                        .max_requests
                        .is_some_and(|n| sim.requests >= n)
                {
                    continue;
                }
                let (class, request) = generator.draw();
                let stream = request.stream;
                let abandon_after = params.traffic.classes[class].abandon_after;
                let plan = sim.router.begin(request, event.at);
                sim.requests += 1;
                let slot = sim.alloc(InFlight {
                    plan,
                    class,
                    start: event.at,
                    stream,
                    pending: [None; MAX_ATTEMPTS],
                    timer_at: None,
                    first_token: None,
                    answer_tokens: None,
                    output_tokens: 0,
                    gaps: [(Duration::ZERO, 0); MAX_ATTEMPTS],
                });
                if let Some(after) = abandon_after {
                    let generation = sim.generations[slot as usize];
                    sim.push(event.at + after, Kind::Abandon, slot, generation, 0);
                }
                sim.drive(slot);
                let next =
                    generator.next_arrival(&params.traffic.arrival, event.at, params.duration);
                sim.push(next, Kind::Arrival, 0, 0, 0);
            }
            Kind::Operator => {
                let (_, command) = params.operator[event.slot as usize];
                sim.router.apply(command, event.at);
            }
            Kind::AttemptDone | Kind::FirstToken | Kind::Timer | Kind::Abandon => {
                if sim.generations.get(event.slot as usize) != Some(&event.generation) {
                    continue; // the request already finished
                }
                sim.wake(event);
            }
        }
    }
    Ok(SimOutcome {
        router: sim.router,
        requests: sim.requests,
        events: sim.events,
        end: sim.now,
        key_events: sim.key_events,
    })
}

impl<O: Observer> Sim<'_, O> {
    fn push(&mut self, at: Instant, kind: Kind, slot: u32, generation: u32, attempt: u8) {
        self.seq += 1;
        self.queue.push(Reverse(Event {
            at,
            seq: self.seq,
            kind,
            slot,
            generation,
            attempt,
        }));
    }

    fn alloc(&mut self, request: InFlight) -> u32 {
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(request);
                slot
            }
            None => {
                self.slots.push(Some(request));
                self.generations.push(0);
                (self.slots.len() - 1) as u32
            }
        }
    }

    fn wake(&mut self, event: Event) {
        let slot = event.slot;
        let now = self.now;
        let Some(r) = self.slots[slot as usize].as_mut() else {
            return;
        };
        match event.kind {
            Kind::FirstToken => {
                let attempt = AttemptId(event.attempt);
                let Some(pending) = r.pending[usize::from(event.attempt)] else {
                    return; // cancelled before its first token
                };
                let cancelled = self.router.first_token(&mut r.plan, attempt, now);
                if r.plan.committed() == Some(attempt) {
                    r.first_token = r.first_token.or(Some(now));
                    r.answer_tokens = r.answer_tokens.or(Some(pending.planned_tokens));
                }
                // The core cancelled the others: their events no longer count.
                for other in cancelled.iter() {
                    r.pending[usize::from(other.0)] = None;
                }
                return;
            }
            Kind::Abandon => {
                for p in &mut r.pending {
                    *p = None;
                }
                self.router.abandon(&mut r.plan, now);
            }
            Kind::AttemptDone => {
                let Some(p) = r.pending[usize::from(event.attempt)].take() else {
                    return;
                };
                if p.report.outcome.is_success() && r.first_token.is_none() {
                    r.first_token = p.first_token_at;
                }
                // What reached the caller: a served reply, or a stream's tokens before it
                // broke (a continuation adds the rest). The cost is booked by the core.
                if p.report.outcome.is_success() || p.report.delivered_tokens {
                    r.output_tokens = r.output_tokens.saturating_add(p.report.completion_tokens);
                }
                if p.report.delivered_tokens {
                    r.answer_tokens = r.answer_tokens.or(Some(p.planned_tokens));
                    r.gaps[usize::from(event.attempt)] = (
                        p.token_interval,
                        p.report.completion_tokens.saturating_sub(1),
                    );
                }
                self.router
                    .record(&mut r.plan, AttemptId(event.attempt), p.report, now);
                // A break the core resumes cancels whatever else was out: drop its events.
                for (i, p) in r.pending.iter_mut().enumerate() {
                    if !r.plan.is_outstanding(AttemptId(i as u8)) {
                        *p = None;
                    }
                }
            }
            Kind::Timer => {
                if r.timer_at == Some(now) {
                    r.timer_at = None;
                }
            }
            Kind::Arrival | Kind::Operator => {}
        }
        self.drive(slot);
    }

    /// Loops on the plan until it needs to wait.
    fn drive(&mut self, slot: u32) {
        let now = self.now;
        loop {
            let Some(r) = self.slots[slot as usize].as_mut() else {
                return;
            };
            match self.router.next(&mut r.plan, now) {
                Action::Send {
                    attempt,
                    target,
                    timeouts,
                    continuation,
                    ..
                } => {
                    let (prompt, max_tokens) = r.plan.traits();
                    let stream = r.stream;
                    let rest = continuation.map(|c| Rest {
                        delivered: c.delivered_tokens,
                        answer: r.answer_tokens,
                    });
                    let pending = self.attempt(target, prompt, max_tokens, stream, timeouts, rest);
                    let generation = self.generations[slot as usize];
                    let Some(r) = self.slots[slot as usize].as_mut() else {
                        return;
                    };
                    r.pending[usize::from(attempt.0)] = Some(pending);
                    let done_at = now + pending.report.latency;
                    if let Some(ft) = pending.first_token_at.filter(|&ft| ft < done_at) {
                        self.push(ft, Kind::FirstToken, slot, generation, attempt.0);
                    }
                    self.push(done_at, Kind::AttemptDone, slot, generation, attempt.0);
                }
                Action::Wait { until } => {
                    if r.timer_at != Some(until) {
                        r.timer_at = Some(until);
                        let generation = self.generations[slot as usize];
                        self.push(until, Kind::Timer, slot, generation, 0);
                    }
                    return;
                }
                Action::Await => return,
                Action::Finish(outcome) => {
                    self.finish(slot, outcome);
                    return;
                }
            }
        }
    }

    /// Asks the provider's model what happens to this attempt, and turns the behaviour into
    /// when it ends and how, under the attempt's timeouts. A continuation (`rest`) sends the
    /// delivered tokens as part of the prompt and gets the rest of the answer.
    fn attempt(
        &mut self,
        target: TargetId,
        prompt_tokens: u32,
        max_tokens: u32,
        stream: bool,
        timeouts: Timeouts,
        rest: Option<Rest>,
    ) -> Pending {
        let now = self.now;
        let p = self.target_provider[target.index()];
        let net = self.params.network_delay;
        let refused = self.credential_check(p, now).or_else(|| {
            (rest.is_some() && self.params.providers[p].refuses_prefill)
                .then_some(ErrorKind::BadRequest)
        });
        if let Some(refused) = refused {
            let report = AttemptReport::new(Outcome::error(refused), net);
            return Pending {
                report,
                first_token_at: None,
                token_interval: Duration::ZERO,
                planned_tokens: 0,
            };
        }
        let t = &self.params.router.targets[target.index()];
        let (prompt_tokens, max_tokens) = match rest {
            // The prefill is input; the output left is what the caller has not received.
            Some(r) => (
                prompt_tokens.saturating_add(r.delivered),
                if max_tokens == 0 {
                    0
                } else {
                    max_tokens.saturating_sub(r.delivered).max(1)
                },
            ),
            None => (prompt_tokens, max_tokens),
        };
        let request = FakeRequest {
            model: &t.model,
            prompt_tokens,
            max_tokens,
            stream,
        };
        let mut answer = self.models[p].respond(&request, now, &mut self.provider_rngs[p]);
        if let (Some(r), Behaviour::Reply(reply)) = (rest, &mut answer.behaviour)
            && let Some(answer_tokens) = r.answer
        {
            reply.output_tokens = answer_tokens.saturating_sub(r.delivered).max(1);
        }
        // Gemini's finish reason comes in its last chunk: without it, its stream is cut.
        let finish_ends_stream =
            self.params.providers[p].profile.dialect != switchyard_core::dialect::Dialect::Gemini;
        let mut pending = outcome(answer.behaviour, stream, net, timeouts, finish_ends_stream);
        pending.first_token_at = pending.first_token_at.map(|ft| now + ft.since_start());
        pending
    }

    /// With keys modelled: the core's key ring picks the key in use (the newest valid, not
    /// revoked, as the live credential store does); a key the provider refuses gets a 401,
    /// counted by the ring, which takes it out of use and later re-probes it.
    fn credential_check(&mut self, p: usize, now: Instant) -> Option<ErrorKind> {
        let provider = &self.params.providers[p];
        if provider.keys.is_empty() {
            return None;
        }
        let ring = &mut self.key_rings[p];
        let events = &mut self.key_events;
        let report = |e: switchyard_core::credentials::keyring::KeyEvent| KeyEvent {
            at: e.at,
            provider: provider.name.clone(),
            key: provider.keys[e.key].name.clone(),
            what: e.kind.label(),
        };
        let rank = |i: usize| {
            let k = &provider.keys[i];
            (k.valid_from.is_none_or(|f| f <= now) && k.valid_until.is_none_or(|u| now <= u))
                .then_some((k.valid_from, i))
        };
        let Some(key) = ring.choose(now, rank, |e| events.push(report(e))) else {
            return Some(ErrorKind::Unauthorized);
        };
        if provider.keys[key].refused_from.is_some_and(|r| r <= now) {
            if let Some(e) = ring.unauthorized(key, now) {
                events.push(report(e));
            }
            return Some(ErrorKind::Unauthorized);
        }
        None
    }

    fn finish(&mut self, slot: u32, outcome: FinalOutcome) {
        let now = self.now;
        let Some(mut r) = self.slots[slot as usize].take() else {
            return;
        };
        // Attempts still in flight lost (a hedge): the core cancels them; the outcome stands.
        r.pending = [None; MAX_ATTEMPTS];
        self.router.abandon(&mut r.plan, now);
        // The attempts, on the stack: nothing is allocated per request.
        let blank = AttemptRecord {
            target: TargetId::new(0),
            started: now,
            outcome: Outcome::Cancelled,
            latency: Duration::ZERO,
            hedge: false,
        };
        let resumed = r
            .plan
            .continuation()
            .filter(|_| outcome != FinalOutcome::Failed(FailureReason::Abandoned))
            .map(|_| outcome.is_success());
        let mut attempts = [blank; MAX_ATTEMPTS];
        let mut n = 0;
        for (slot, a) in attempts.iter_mut().zip(r.plan.history()) {
            *slot = *a;
            n += 1;
        }
        let served = outcome.is_success();
        let mut gaps = [(Duration::ZERO, 0); MAX_ATTEMPTS];
        let mut runs = 0;
        if served && r.stream {
            for g in r.gaps.iter().filter(|g| g.1 > 0) {
                gaps[runs] = *g;
                runs += 1;
            }
        }
        self.observer.finished(&Finished {
            class: r.class,
            start: r.start,
            end: now,
            outcome,
            route: r.plan.home_route(),
            attempts: &attempts[..n],
            first_token: r.first_token.map(|ft| ft.saturating_since(r.start)),
            stream: r.stream,
            cost: r.plan.cost(),
            wasted_cost: r.plan.wasted_cost(),
            output_tokens: if served { r.output_tokens } else { 0 },
            gaps: &gaps[..runs],
            resumed,
        });
        self.generations[slot as usize] = self.generations[slot as usize].wrapping_add(1);
        self.free.push(slot);
    }
}

/// What a continuation asks its model for.
#[derive(Clone, Copy, Debug)]
struct Rest {
    /// Tokens the caller already received (sent back as the prefill).
    delivered: u32,
    /// The whole answer's length, as the broken attempt drew it.
    answer: Option<u32>,
}

/// How an attempt ends, from the fake's behaviour, under the attempt's timeouts (the same rules
/// as the live driver's). Times are from the send; `first_token_at` is too (as an `Instant`
/// offset from zero), until the caller shifts it.
fn outcome(
    behaviour: Behaviour,
    stream: bool,
    net: Duration,
    timeouts: Timeouts,
    finish_ends_stream: bool,
) -> Pending {
    let bound = timeouts.first;
    let fail = |kind: ErrorKind, after: Duration, retry_after| Pending {
        report: AttemptReport::new(Outcome::Error { kind, retry_after }, after),
        first_token_at: None,
        token_interval: Duration::ZERO,
        planned_tokens: 0,
    };
    let reply = match behaviour {
        Behaviour::Error {
            kind, retry_after, ..
        } => return fail(kind, net.min(bound), retry_after),
        Behaviour::Reset => return fail(ErrorKind::ConnectFailed, net.min(bound), None),
        Behaviour::Hang => return fail(ErrorKind::Timeout, bound, None),
        Behaviour::MalformedJson => {
            return fail(ErrorKind::MalformedResponse, net.min(bound), None);
        }
        Behaviour::Reply(reply) => reply,
    };
    let first = reply.first_token + net;
    let total = reply.total() + net;
    let at = |d: Duration| Some(Instant::ZERO + d);
    if !stream {
        // A whole reply: headers and body come together, bounded by the attempt's timeout.
        if total > bound {
            return fail(ErrorKind::Timeout, bound, None);
        }
        return Pending {
            report: AttemptReport {
                outcome: Outcome::Success,
                latency: total,
                first_token: Some(total),
                prompt_tokens: reply.prompt_tokens,
                completion_tokens: reply.output_tokens,
                delivered_tokens: false,
                usage_missing: false,
            },
            first_token_at: at(total),
            token_interval: Duration::ZERO,
            planned_tokens: reply.output_tokens,
        };
    }
    if first > bound {
        return fail(ErrorKind::Timeout, bound, None);
    }
    let token_at = |n: u32| first + reply.token_interval.saturating_mul(u64::from(n));
    // After the first token: an idle gap longer than `idle`, or the whole stream past
    // `total`, ends it as interrupted, with what was delivered by then.
    let idle = timeouts.idle.unwrap_or(Duration::MAX);
    let cap = timeouts.total.unwrap_or(Duration::MAX);
    let delivered = |n: u32, end: Duration| {
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
                completion_tokens: n,
                prompt_tokens: reply.prompt_tokens,
                delivered_tokens: true,
                ..AttemptReport::new(Outcome::error(ErrorKind::StreamInterrupted), end)
            },
            first_token_at: at(first),
            token_interval: reply.token_interval,
            planned_tokens: reply.output_tokens,
        }
    };
    let out = reply.output_tokens;
    // Faults before the first token come first: they fail the attempt before any commit.
    if let Some(StreamFault::Cut { after_tokens: 0 })
    | Some(StreamFault::MalformedChunk { after_tokens: 0 })
    | Some(StreamFault::Stall {
        after_tokens: 0, ..
    }) = reply.stream_fault
    {
    } else if reply.token_interval > idle && out > 1 {
        return delivered(1, first + idle);
    }
    match reply.stream_fault {
        Some(StreamFault::Cut { after_tokens: 0 }) => {
            return fail(ErrorKind::StreamInterrupted, first, None);
        }
        Some(StreamFault::MalformedChunk { after_tokens: 0 }) => {
            return fail(ErrorKind::MalformedResponse, first, None);
        }
        Some(StreamFault::Stall {
            after_tokens: 0,
            stall,
        }) => {
            // Silence before any token: the first-token timeout, or the drop, whichever first.
            return if first + stall < bound {
                fail(ErrorKind::StreamInterrupted, first + stall, None)
            } else {
                fail(ErrorKind::Timeout, bound, None)
            };
        }
        Some(StreamFault::Cut { after_tokens: n })
        | Some(StreamFault::MalformedChunk { after_tokens: n })
            if n < out =>
        {
            return delivered(n, token_at(n));
        }
        Some(StreamFault::Stall {
            after_tokens: n,
            stall,
        }) if n < out => {
            return delivered(n, token_at(n) + stall.min(idle));
        }
        // A clean end after the finish reason is complete, with or without `[DONE]`.
        Some(StreamFault::MissingDone) if !finish_ends_stream => {
            return delivered(out, total);
        }
        Some(_) | None => {}
    }
    if total > cap {
        return delivered(out, total);
    }
    Pending {
        report: AttemptReport {
            outcome: Outcome::Success,
            latency: total,
            first_token: Some(first),
            prompt_tokens: reply.prompt_tokens,
            completion_tokens: out,
            delivered_tokens: true,
            usage_missing: false,
        },
        first_token_at: at(first),
        token_interval: reply.token_interval,
        planned_tokens: out,
    }
}

#[cfg(test)]
mod tests;
