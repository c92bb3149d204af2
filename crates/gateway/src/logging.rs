//! Where and how the gateway's log lines are written: one line per event on stderr, as text
//! (`gateway.log_format: text`, the default: time, level, target, message, `key=value`
//! fields) or JSON (`json`: one object per line, fields at the top level), at
//! `gateway.log_level` or the level in `RUST_LOG` (see
//! [`switchyard_live::config::GatewayConfig::log_level`]).
//!
//! Targets: `switchyard::access` (a line per `/v1/` request), `switchyard::router` (breaker
//! transitions, overrides, parking, alerts), `switchyard::keys` (key revocations),
//! `switchyard::reload`.

use switchyard_live::config::{LogFormat, LogLevel};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;

fn filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    }
}

/// A subscriber writing lines in `format` at `level` or more severe to `writer`.
pub fn subscriber<W>(
    format: LogFormat,
    level: LogLevel,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_max_level(filter(level))
        .with_target(true);
    match format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish()),
    }
}

/// Makes [`subscriber`] on stderr the process's logger. Fails when one is set already.
pub fn init(format: LogFormat, level: LogLevel) -> Result<(), String> {
    tracing::subscriber::set_global_default(subscriber(format, level, std::io::stderr))
        .map_err(|e| format!("cannot set up logging: {e}"))
}
