//! `switchyard-fake`: fake LLM providers that speak the vendors' wire formats and misbehave
//! on command.
//!
//! - [`model`]: the pure behaviour model — given a request, the time and an RNG, it decides
//!   latency, token timing, the rate-limit verdict and any fault. No I/O, no clock.
//! - [`profile`]: what a provider is like (YAML in `fake-providers/`).
//! - [`fault`]: typed faults and when they are active.
//! - [`schema`]: minimal instances of a JSON Schema (tool-call arguments, JSON replies) and a
//!   check of a value against one.
//! - `server` (default feature): axum servers per dialect that render the model's answers as
//!   real HTTP, refuse what each vendor refuses with its error body, honour tools, JSON mode
//!   and prefill, plus the `/_fake/` control API (faults, options, counters, and a journal of
//!   the requests received, keys redacted).

pub mod distribution;
pub mod fault;
pub mod model;
pub mod profile;
pub mod schema;
pub mod text;

#[cfg(feature = "server")]
pub mod server;

pub use model::{Answer, Behaviour, FakeRequest, Model, Reply, StreamFault};
pub use profile::{ProfileParams, load_profile};
