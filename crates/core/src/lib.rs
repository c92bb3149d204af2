//! `switchyard-core`: the sans-IO routing brain of Switchyard.
//!
//! Everything here is a plain, synchronous state machine that is told the time and handed a
//! seeded RNG: no clock, no sleeping, no sockets, no async runtime. The live driver (tokio,
//! real HTTP) and the simulation driver (virtual time) run exactly this code, so a scenario
//! proven in simulation exercises the same decisions the gateway makes in production.
//!
//! The path of a request through the crate: [`router::Router::begin`] resolves its route
//! ([`rule`]) and makes a [`plan::Plan`]; [`router::Router::next`] picks targets through a
//! [`policy::Policy`] among the members that [`health`] and [`overrides`] allow;
//! [`router::Router::record`] folds each attempt's [`outcome::Outcome`] back into health and
//! [`telemetry`]. [`config`] turns YAML into validated params.

#![warn(missing_docs)]
// Denied in CI (clippy and rustdoc run with -D warnings): every public item says what it
// is, its units and invariants, and its errors.

pub mod attempt_log;
pub mod config;
pub mod credentials;
pub mod dialect;
pub mod fleet;
pub mod health;
pub mod id;
pub mod outcome;
pub mod overrides;
pub mod plan;
pub mod policy;
pub mod request;
pub mod rng;
pub mod router;
pub mod rule;
pub mod target;
pub mod telemetry;
pub mod time;
pub mod vendor;
