//! The event loop: the queue of what happens next in virtual time, the requests in flight,
//! and the calls into the core that each event makes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use switchyard_core::credentials::keyring::{KeyRing, RevocationParams};
use switchyard_core::id::TargetId;
use switchyard_core::outcome::{
    AttemptRecord, AttemptReport, ErrorKind, FailureReason, FinalOutcome, Outcome,
};
use switchyard_core::plan::{Action, AttemptId, MAX_ATTEMPTS, Plan, Timeouts};
use switchyard_core::rng::SeededRng;
use switchyard_core::router::Router;
use switchyard_core::time::{Duration, Instant};
use switchyard_fake::{Behaviour, FakeRequest, Model};

use crate::outcome::{Pending, abandoned, outcome};

mod fleet;
use crate::traffic::Generator;
use crate::{Finished, KeyEvent, Observer, SetupError, SimOutcome, SimParams};
use fleet::FleetSim;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Operator,
    /// A replica's sync with the store (slot: the replica).
    Sync,
    /// A store operation reaches the store (slot: the operation).
    StoreApply,
    /// A store operation's answer reaches its replica (slot: the operation).
    StoreReply,
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

#[derive(Debug)]
struct InFlight {
    plan: Plan,
    /// The replica (router) that took it.
    replica: u32,
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

pub(crate) struct Sim<'a, O> {
    params: &'a SimParams,
    /// One router, or a fleet's replicas (by replica number).
    routers: Vec<Router>,
    fleet: Option<FleetSim>,
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

impl<'a, O: Observer> Sim<'a, O> {
    pub(crate) fn new(
        params: &'a SimParams,
        observer: &'a mut O,
        target_provider: Vec<usize>,
    ) -> Self {
        Sim {
            params,
            routers: fleet::routers(params),
            fleet: params.fleet.as_ref().map(|f| FleetSim::new(f, params)),
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
        }
    }

    /// Pops events in time order until none is left: arrivals stop at `duration` (or
    /// `max_requests`); requests in flight then finish.
    ///
    /// An operator action a router refuses ends the run with the error a refused action
    /// fails a live run with. `run` checked every action before the run (`check_operator`)
    /// against the params every replica's router is built from, which do not change during a
    /// run: never, unless that invariant breaks, and then not silently.
    pub(crate) fn run(mut self) -> Result<SimOutcome, SetupError> {
        let params = self.params;
        let mut generator = Generator::new(&params.traffic, params.seed);
        for (i, (at, _)) in params.operator.iter().enumerate() {
            self.push(*at, Kind::Operator, i as u32, 0, 0);
        }
        self.schedule_syncs();
        let first = generator.next_arrival(&params.traffic.arrival, Instant::ZERO, params.duration);
        self.push(first, Kind::Arrival, 0, 0, 0);
        let end_of_arrivals = Instant::ZERO + params.duration;
        // Every router event reaches the observer, drained after each step (so the tap
        // never holds more than one step's events).
        // In a fleet the observer hears replica 0, whose router the report's targets and
        // events show (docs/FLEET.md).
        if let Some(router) = self.routers.first_mut() {
            router.events_mut().tap();
        }
        while let Some(Reverse(event)) = self.queue.pop() {
            self.now = event.at;
            self.events += 1;
            match event.kind {
                Kind::Arrival => {
                    if event.at >= end_of_arrivals
                        || params
                            .traffic
                            .max_requests
                            .is_some_and(|n| self.requests >= n)
                    {
                        continue;
                    }
                    self.arrive(&mut generator, event.at);
                }
                Kind::Operator => {
                    let (at, command) = params.operator[event.slot as usize];
                    for router in &mut self.routers {
                        router.apply(command, event.at).map_err(|e| {
                            SetupError(switchyard_core::overrides::refused(at, &command, &e))
                        })?;
                    }
                }
                Kind::Sync => self.sync(event.slot, end_of_arrivals),
                Kind::StoreApply => self.store_apply(event.slot),
                Kind::StoreReply => self.store_reply(event.slot),
                Kind::AttemptDone | Kind::FirstToken | Kind::Timer | Kind::Abandon => {
                    if self.generations.get(event.slot as usize) != Some(&event.generation) {
                        continue; // the request already finished
                    }
                    self.wake(event);
                }
            }
            self.drain_events();
        }
        self.drain_events();
        let fleet = self.fleet.take().map(|f| f.figures(&self.routers));
        let mut routers = self.routers.into_iter();
        Ok(SimOutcome {
            router: routers.next().unwrap_or_else(|| {
                Router::new(
                    crate::router_params(params),
                    SeededRng::substream(params.seed, "router"),
                )
            }),
            replicas: routers.collect(),
            fleet,
            requests: self.requests,
            events: self.events,
            end: self.now,
            key_events: self.key_events,
        })
    }

    /// Hands the router's events since the last drain to the observer.
    fn drain_events(&mut self) {
        if let Some(router) = self.routers.first_mut() {
            for e in router.events_mut().drain_tapped() {
                self.observer.event(&e);
            }
        }
    }

    /// A request arrives: the core plans it, it is driven, and the next arrival is queued.
    fn arrive(&mut self, generator: &mut Generator, at: Instant) {
        let params = self.params;
        let (class, request) = generator.draw();
        let stream = request.stream;
        let abandon_after = params.traffic.classes[class].abandon_after;
        let replica = self.fleet.as_mut().map_or(0, |f| f.pick_replica());
        let plan = self.routers[replica as usize].begin(request, at);
        self.requests += 1;
        let slot = self.alloc(InFlight {
            plan,
            replica,
            class,
            start: at,
            stream,
            pending: [None; MAX_ATTEMPTS],
            timer_at: None,
            first_token: None,
            answer_tokens: None,
            output_tokens: 0,
            gaps: [(Duration::ZERO, 0); MAX_ATTEMPTS],
        });
        if let Some(after) = abandon_after {
            let generation = self.generations[slot as usize];
            self.push(at + after, Kind::Abandon, slot, generation, 0);
        }
        self.drive(slot);
        self.after_event(replica);
        let next = generator.next_arrival(&params.traffic.arrival, at, params.duration);
        self.push(next, Kind::Arrival, 0, 0, 0);
    }
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
        let replica = r.replica;
        let router = &mut self.routers[replica as usize];
        match event.kind {
            Kind::FirstToken => {
                let attempt = AttemptId(event.attempt);
                let Some(pending) = r.pending[usize::from(event.attempt)] else {
                    return; // cancelled before its first token
                };
                let cancelled = router.first_token(&mut r.plan, attempt, now);
                if r.plan.committed() == Some(attempt) {
                    r.first_token = r.first_token.or(Some(now));
                    r.answer_tokens = r.answer_tokens.or(Some(pending.planned_tokens));
                }
                // The core cancelled the others: their events no longer count.
                for other in cancelled.iter() {
                    r.pending[usize::from(other.0)] = None;
                }
                self.after_event(replica);
                return;
            }
            Kind::Abandon => {
                // The stream it was reading is booked with what was sent (`abandoned`).
                let committed = r.plan.committed().filter(|&c| r.plan.is_outstanding(c));
                let report = committed.and_then(|c| {
                    let started = r.plan.history().nth(usize::from(c.0))?.started;
                    abandoned(r.pending[usize::from(c.0)].as_ref()?, started, now)
                });
                if let (Some(c), Some(report)) = (committed, report) {
                    router.record(&mut r.plan, c, report, now);
                }
                for p in &mut r.pending {
                    *p = None;
                }
                // An attempt still on its way (before its first token) was sent the prompt.
                router.caller_left(&mut r.plan, now);
            }
            Kind::AttemptDone => {
                let Some(p) = r.pending[usize::from(event.attempt)].take() else {
                    return;
                };
                if p.report.outcome.is_success() && r.first_token.is_none() {
                    r.first_token = p.first_token_at;
                }
                // What reached the caller: a served reply, or a stream's tokens before it
                // broke (a continuation adds the rest), counted exactly (a broken stream's
                // report books the text's estimate). The cost is booked by the core.
                if p.report.outcome.is_success() || p.report.delivered_tokens {
                    r.output_tokens = r.output_tokens.saturating_add(p.sent_tokens);
                }
                if p.report.delivered_tokens {
                    r.answer_tokens = r.answer_tokens.or(Some(p.planned_tokens));
                    r.gaps[usize::from(event.attempt)] =
                        (p.token_interval, p.sent_tokens.saturating_sub(1));
                }
                router.record(&mut r.plan, AttemptId(event.attempt), p.report, now);
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
            Kind::Arrival | Kind::Operator | Kind::Sync | Kind::StoreApply | Kind::StoreReply => {}
        }
        self.drive(slot);
        self.after_event(replica);
    }

    /// Loops on the plan until it needs to wait.
    fn drive(&mut self, slot: u32) {
        let now = self.now;
        loop {
            let Some(r) = self.slots[slot as usize].as_mut() else {
                return;
            };
            let replica = r.replica;
            match self.routers[replica as usize].next(&mut r.plan, now) {
                Action::Send {
                    attempt,
                    target,
                    timeouts,
                    continuation,
                    ..
                } => {
                    let (prompt, max_tokens) = r.plan.traits();
                    let stream = r.stream;
                    // The prefill is what the caller received, counted exactly: the core's
                    // `delivered_tokens` sums the broken streams' reports, which book their
                    // text's estimate (as live mode does).
                    let rest = continuation.map(|_| Rest {
                        delivered: r.output_tokens,
                        answer: r.answer_tokens,
                    });
                    let pending = self.attempt(target, prompt, max_tokens, stream, timeouts, rest);
                    if let Some(f) = self.fleet.as_mut() {
                        let p = self.target_provider[target.index()];
                        f.sent(&self.routers[replica as usize], target, p, &pending, now);
                    }
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
                text_seed: 0,
                sent_tokens: 0,
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
        // Attempts still in flight: the core cancelled them as the request finished (served
        // or failed; booked their prompt's estimate); `abandon` finds none. The outcome
        // stands.
        r.pending = [None; MAX_ATTEMPTS];
        self.routers[r.replica as usize].abandon(&mut r.plan, now);
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
