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
//! plan (`abandon`). A stream it was reading is booked first, as the live driver books a
//! dropped stream: its attempt `cancelled` with its prompt and its completion tokens
//! estimated from the characters of the text sent by then, four a token.
//!
//! A stream that breaks after its first token on a route with `resume: prefill` goes on as
//! the core decides: the continuation (`Action::Send` with `continuation`) asks the fallback's
//! model for the rest of the answer — the length the broken attempt drew, minus the tokens
//! delivered — with the delivered tokens added to its prompt, as the prefill is. It counts
//! the delivered tokens exactly; the broken attempt's report books them as live mode does, as
//! the estimate of their text, four characters a token. A provider
//! with `refuses_prefill` answers a continuation with a 400 (`bad_request`), as a vendor's
//! model without prefill does.

mod driver;
mod fleet;
mod outcome;
pub mod traffic;

use switchyard_core::outcome::{AttemptRecord, FinalOutcome};
use switchyard_core::overrides::Override;
use switchyard_core::router::{Router, RouterParams};
use switchyard_core::time::{Duration, Instant};
use switchyard_fake::ProfileParams;

use driver::Sim;
pub use fleet::{
    Balancer, FleetFigures, LoadBalance, ProviderLoad, SharedState, SimFleet, StoreFault,
    StoreFaultKind, TargetFleet,
};
use traffic::TrafficParams;

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
    /// A fleet of replicas (`replicas: N`) instead of one router; `None`: one router, as
    /// always.
    pub fleet: Option<SimFleet>,
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
    /// ([`switchyard_core::plan::Plan::cost`]), so an error without usage costs nothing, a
    /// hedge that lost (cancelled at a stream's commit, or as a whole reply served the
    /// request) costs the request's estimated prompt, and a stream that broke costs its
    /// prompt and the tokens it delivered.
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

/// Gets every finished request, and every router event as it happens.
pub trait Observer {
    fn finished(&mut self, request: &Finished<'_>);
    /// A router event (breaker change, parking, alert, override, ...), in the order the
    /// router logged it, however many there are: the simulator drains the router's event
    /// tap after each step, so the report's capped event list does not limit what an
    /// observer sees.
    fn event(&mut self, _event: &switchyard_core::telemetry::Event) {}
}

/// What a run leaves behind.
#[derive(Debug)]
pub struct SimOutcome {
    /// The router (replica 0's in a fleet).
    pub router: Router,
    /// The other replicas' routers, in a fleet (empty otherwise).
    pub replicas: Vec<Router>,
    /// The fleet's figures, in a fleet.
    pub fleet: Option<FleetFigures>,
    pub requests: u64,
    pub events: u64,
    /// Virtual time when the last request finished.
    pub end: Instant,
    /// Keys switched to or taken out of use.
    pub key_events: Vec<KeyEvent>,
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
    let target_provider = target_providers(params)?;
    check_operator(params)?;
    Sim::new(params, observer, target_provider).run()
}

/// The run's router params, with what each target is sent for a request without
/// `max_tokens` resolved from its provider's dialect, as the live driver resolves it.
pub(crate) fn router_params(params: &SimParams) -> switchyard_core::router::RouterParams {
    let mut router = params.router.clone();
    router.resolve_sent_max_tokens(|name| {
        params
            .providers
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.profile.dialect)
    });
    router
}

/// Every operator action is one for the router (its ids in range, a pin inside its route):
/// one built for another router (a variant's, say) would be refused when its time came. It
/// is refused before the run starts, with the line the live runner fails with when the
/// router refuses one ([`switchyard_core::overrides::refused`]).
fn check_operator(params: &SimParams) -> Result<(), SetupError> {
    for (at, command) in &params.operator {
        command
            .check(&params.router)
            .map_err(|e| SetupError(switchyard_core::overrides::refused(*at, command, &e)))?;
    }
    Ok(())
}

/// Per target: the index of the provider that serves it, which must serve its model.
fn target_providers(params: &SimParams) -> Result<Vec<usize>, SetupError> {
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
    Ok(target_provider)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fleet_tests;

#[cfg(test)]
mod abandon_tests;

#[cfg(test)]
mod hedge_tests;
