//! `switchyard-live`: the live driver. The routing core's decisions, made real over HTTP.
//!
//! - [`transport`]: the transport seam — one pooled HTTP client, or axum routers in process;
//! - [`adapter`]: each dialect's requests, replies, streams and errors;
//! - [`credentials`]: key sources, the key in use, revocation on 401, rotation status;
//! - [`driver`]: [`Driver`], with `chat` and `chat_stream`;
//! - [`config`]: the live config file (environment, providers, router).

pub mod adapter;
pub mod config;
pub mod credentials;
pub mod driver;
pub mod sse;
pub mod transport;
pub mod wall;

pub use driver::{
    AttemptSink, ChatStream, Driver, NamedAttempts, RouteError, StreamBooking, StreamEvent,
    StreamItem, TargetSnapshot, TooLong,
};
pub use transport::{HttpClient, InProcess, Transport};
