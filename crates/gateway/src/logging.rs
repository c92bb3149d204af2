//! Where and how the gateway's log lines are written: one line per event on stderr, as text
//! (`gateway.log_format: text`, the default: time, level, target, message, `key=value`
//! fields) or JSON (`json`: one object per line, fields at the top level), at
//! `gateway.log_level` or the level in `RUST_LOG` (see
//! [`switchyard_live::config::GatewayConfig::log_level`]).
//!
//! Targets: `switchyard::access` (a line per `/v1/` request), `switchyard::router` (breaker
//! transitions, overrides, parking, alerts), `switchyard::upstream` (attempts that got no
//! response), `switchyard::keys` (key revocations), `switchyard::reload`.
//!
//! The formatter is the gateway's own, not `tracing-subscriber`'s: the access log writes a
//! line for every request, and this one builds it in one buffer, written with one `write`
//! (a few thousand instructions a line where the general one took about thirteen thousand;
//! `crates/gateway/bench/instructions.sh`). Integers are written with `itoa` and floats with
//! `ryu` (its shortest form that reads back as the same number: `1.5`, `0.25`; a small one
//! without an exponent, `0.0000001`, down to 1e-20), and
//! the time stamp's date and time of day are kept per thread and rewritten only when the
//! second changes. The gateway opens no spans; span calls are accepted and ignored.
//!
//! A serving thread holds its lines and writes them together, at least every [`MAX_HOLD`]
//! ([`Batching`]): the access line, made before the reply reaches the client, is not a
//! `write(2)` on the request's path. Every other thread writes each line at once.

use std::cell::RefCell;
use std::fmt::Write as _;

use switchyard_live::config::{LogFormat, LogLevel};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record as SpanRecord};
use tracing::{Event, Level, Metadata};

mod batch;
mod float;
mod json;
mod stamp;

pub(crate) use batch::write_held;
pub use batch::{Batching, MAX_HOLD, MAX_WRITE, flush};
use float::float;
use json::{Json, json_str};
pub(crate) use stamp::civil_from_days;
use stamp::timestamp;

fn level(level: LogLevel) -> Level {
    match level {
        LogLevel::Error => Level::ERROR,
        LogLevel::Warn => Level::WARN,
        LogLevel::Info => Level::INFO,
        LogLevel::Debug => Level::DEBUG,
        LogLevel::Trace => Level::TRACE,
    }
}

/// A subscriber writing lines in `format` at `level` or more severe, each with one
/// `write_all` on a writer from `writer` (called once per line).
pub fn subscriber<W, O>(
    format: LogFormat,
    level: LogLevel,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: Fn() -> O + Send + Sync + 'static,
    O: std::io::Write,
{
    Box::new(Lines {
        format,
        max: self::level(level),
        // A log that cannot be written is not worth failing a request for.
        write: std::sync::Arc::new(move |line: &[u8]| {
            let _ = writer().write_all(line);
        }),
    })
}

/// Makes [`subscriber`] on stderr the process's logger. Fails when one is set already.
pub fn init(format: LogFormat, level: LogLevel) -> Result<(), String> {
    tracing::subscriber::set_global_default(subscriber(format, level, std::io::stderr))
        .map_err(|e| format!("cannot set up logging: {e}"))
}

/// Not generic over its writer, so that [`direct`] finds it in the current dispatcher
/// (`downcast_ref`) whatever writer it was made with.
struct Lines {
    format: LogFormat,
    max: Level,
    /// Writes whole lines (with one `write_all` on the subscriber's writer), at once or
    /// batched ([`Batching`]).
    write: batch::Writer,
}

/// A field's value, for a line written by [`direct`]: what the `tracing` macros would record
/// for `name = value` ([`Value::Str`] for a `&str`, [`Value::Display`] for `name = %value`
/// whose value displays as this text, numbers as numbers).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Value<'a> {
    Str(&'a str),
    Display(&'a str),
    U64(u64),
    F64(f64),
    Bool(bool),
}

/// A boolean as every format writes it.
fn bool_text(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// A field of a line written by [`direct`]: its name as each format writes it before the
/// value (` name=` and `,"name":`, made by [`field!`](crate::logging::field)) and its value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LineField<'a> {
    /// ` name=`.
    pub(crate) text: &'static str,
    /// `,"name":`.
    pub(crate) json: &'static str,
    pub(crate) value: Value<'a>,
}

impl LineField<'_> {
    /// The field's name.
    fn name(&self) -> &'static str {
        self.text
            .get(1..self.text.len().saturating_sub(1))
            .unwrap_or_default()
    }
}

/// `field!("name", value)`: a [`Field`] named `name` (a literal).
macro_rules! field {
    ($name:literal, $value:expr) => {
        $crate::logging::LineField {
            text: concat!(" ", $name, "="),
            json: concat!(",\"", $name, "\":"),
            value: $value,
        }
    };
}
pub(crate) use field;

/// Writes an event's line (`message`, then `fields` in order) as the current subscriber
/// would have written the same `tracing` event, byte for byte, when that subscriber is this
/// module's, without `tracing`'s field walk (a `dyn` call per field, a `fmt` pass per `%`
/// field). A field whose value can be written as it is (the usual one: short printable
/// ASCII without a quote or a backslash, a number) goes in with its name in one copy; any
/// other takes the event's way ([`Put::put`]). Returns `false`, having written nothing,
/// when the current subscriber is another (the caller then logs through `tracing`). The
/// caller checks that the event is enabled first (`tracing::enabled!`), so that filtering
/// is `tracing`'s either way.
pub(crate) fn direct(level: &Level, target: &str, message: &str, fields: &[LineField<'_>]) -> bool {
    tracing::dispatcher::get_default(|d| match d.downcast_ref::<Lines>() {
        Some(lines) => {
            if *level <= lines.max {
                lines.line(level, target, &Record::Direct { message, fields });
            }
            true
        }
        None => false,
    })
}

/// What a line holds: a `tracing` event's fields, or those [`direct`] was given.
enum Record<'r, 'e> {
    Event(&'r Event<'e>),
    Direct {
        message: &'r str,
        fields: &'r [LineField<'r>],
    },
}

/// A line's fields, written the same whether they come from an event or from [`direct`]:
/// the `Visit` methods of [`Text`] and [`Json`] call these.
trait Put: Visit {
    fn put(&mut self, name: &str, value: Value<'_>);

    /// What [`Put::put`] writes for `field`, the usual field the short way.
    fn put_field(&mut self, field: &LineField<'_>);

    fn record_all(&mut self, record: &Record<'_, '_>)
    where
        Self: Sized,
    {
        match record {
            Record::Event(event) => event.record(self),
            Record::Direct { message, fields } => {
                self.put_field(&field!("message", Value::Display(message)));
                for field in fields.iter() {
                    self.put_field(field);
                }
            }
        }
    }
}

/// A value that every format writes as it is (quoted for a string): printable ASCII
/// without a quote or a backslash, short enough not to be cut ([`MAX_FIELD`]).
fn as_is(text: &str) -> bool {
    text.len() <= MAX_FIELD && plain(text)
}

/// A field's value longer than this many bytes is cut (at a character boundary) and ends
/// with `…`, before it is quoted: a log line never grows without bound, whatever a field
/// holds, and a JSON line stays valid JSON.
const MAX_FIELD: usize = 2048;

/// A thread's line buffer is given back when it grew past this.
const MAX_KEPT: usize = 64 * 1024;

/// `text`, cut to [`MAX_FIELD`] bytes with `…` when longer.
fn capped(text: &str) -> std::borrow::Cow<'_, str> {
    capped_to(text, MAX_FIELD)
}

/// `text`, cut to `max` bytes (at a character boundary) with `…` when longer.
pub(crate) fn capped_to(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…", &text[..cut]))
}

/// Writes `value`'s `Debug` text at the end of `buf`, cut to [`MAX_FIELD`] bytes with `…`
/// when longer; returns where it starts. Written in place: the usual value needs no buffer of
/// its own.
fn push_debug(buf: &mut String, value: &dyn std::fmt::Debug) -> usize {
    let start = buf.len();
    let _ = write!(buf, "{value:?}");
    cap_tail(buf, start);
    start
}

/// What [`push_debug`] writes for a `%` value that displays as `text`, without `fmt`.
fn push_display(buf: &mut String, text: &str) -> usize {
    let start = buf.len();
    buf.push_str(text);
    cap_tail(buf, start);
    start
}

/// Cuts the text from `start` to the end of `buf` to [`MAX_FIELD`] bytes, with `…`, when
/// longer.
fn cap_tail(buf: &mut String, start: usize) {
    if buf.len() - start > MAX_FIELD {
        let mut cut = start + MAX_FIELD;
        while !buf.is_char_boundary(cut) {
            cut -= 1;
        }
        buf.truncate(cut);
        buf.push('…');
    }
}

/// A text-format value that can stand unquoted: visible ASCII without a quote or a backslash
/// (no space, no line break), so it cannot end its field early, start another or break the
/// line. Empty is fine too.
fn bare_value(text: &str) -> bool {
    ascii_in(text.as_bytes(), 0x21, b"\"\\")
}

/// A text-format message that can stand unquoted: printable ASCII (spaces allowed) without a
/// quote, a backslash or `=`, so it cannot break the line or pass for a `key=value` field.
fn bare_message(text: &str) -> bool {
    ascii_in(text.as_bytes(), 0x20, b"\"\\=")
}

/// Quotes and escapes (as Rust's `Debug` does) the text from `start` to the end of `buf`,
/// unless it can stand as it is (`bare`).
fn quote_tail(buf: &mut String, start: usize, bare: fn(&str) -> bool) {
    if buf.get(start..).is_some_and(bare) {
        return;
    }
    let raw = buf.split_off(start);
    let _ = write!(buf, "{raw:?}");
}

thread_local! {
    static BUF: RefCell<String> = RefCell::new(String::with_capacity(512));
}

impl Lines {
    /// Writes `record`'s line, with one `write` of this thread's buffer.
    fn line(&self, level: &Level, target: &str, record: &Record<'_, '_>) {
        let write = |buf: &mut String| {
            buf.clear();
            match self.format {
                LogFormat::Text => {
                    timestamp(buf);
                    buf.push(' ');
                    buf.push_str(padded_level(level));
                    buf.push(' ');
                    buf.push_str(target);
                    buf.push_str(": ");
                    Text { buf, first: true }.record_all(record);
                }
                LogFormat::Json => {
                    buf.push_str("{\"timestamp\":\"");
                    timestamp(buf);
                    buf.push_str("\",\"level\":\"");
                    buf.push_str(level.as_str());
                    buf.push('"');
                    Json { buf }.record_all(record);
                    buf.push_str(",\"target\":");
                    json_str(buf, target);
                    buf.push('}');
                }
            }
            buf.push('\n');
            batch::emit(&self.write, buf.as_bytes());
        };
        // A subscriber that logs while formatting (a field's Debug) gets a fresh buffer.
        let done = BUF.try_with(|b| match b.try_borrow_mut() {
            Ok(mut buf) => {
                write(&mut buf);
                if buf.capacity() > MAX_KEPT {
                    *buf = String::with_capacity(512);
                }
            }
            Err(_) => write(&mut String::new()),
        });
        if done.is_err() {
            // The thread is ending: its buffer is gone.
            write(&mut String::new());
        }
    }
}

impl tracing::Subscriber for Lines {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::from_level(self.max))
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &SpanRecord<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        self.line(meta.level(), meta.target(), &Record::Event(event));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// The level right-aligned in five characters, as `{:>5}` writes it.
fn padded_level(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => " WARN",
        Level::INFO => " INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

/// `message` first, then ` name=value`: strings quoted and escaped as Rust's `Debug` does,
/// `%`-formatted values as they display, numbers bare.
struct Text<'a> {
    buf: &'a mut String,
    first: bool,
}

impl Text<'_> {
    fn name(&mut self, name: &str) {
        if !std::mem::take(&mut self.first) {
            self.buf.push(' ');
        }
        if name != "message" {
            self.buf.push_str(name);
            self.buf.push('=');
        }
    }

    fn str(&mut self, name: &str, value: &str) {
        self.name(name);
        let value = &*capped(value);
        if name == "message" {
            let start = self.buf.len();
            self.buf.push_str(value);
            quote_tail(self.buf, start, bare_message);
        } else if plain(value) {
            self.buf.push('"');
            self.buf.push_str(value);
            self.buf.push('"');
        } else {
            let _ = write!(self.buf, "{value:?}");
        }
    }

    /// A `%` or `?` value (and the message), its text from `start` on in `buf`: as it
    /// displays when that cannot forge a field or a line ([`bare_value`], [`bare_message`]),
    /// else quoted and escaped like strings.
    fn quote_value(&mut self, name: &str, start: usize) {
        if name == "message" {
            quote_tail(self.buf, start, bare_message);
        } else {
            quote_tail(self.buf, start, bare_value);
        }
    }

    fn f64(&mut self, name: &str, value: f64) {
        self.name(name);
        float(self.buf, value);
    }

    fn u64(&mut self, name: &str, value: u64) {
        self.name(name);
        self.buf.push_str(itoa::Buffer::new().format(value));
    }
}

impl Put for Text<'_> {
    fn put_field(&mut self, field: &LineField<'_>) {
        if std::mem::take(&mut self.first) {
            // The message, bare when it can be.
            match field.value {
                Value::Display(text) if text.len() <= MAX_FIELD && bare_message(text) => {
                    self.buf.push_str(text);
                }
                value => {
                    self.first = true;
                    self.put(field.name(), value);
                }
            }
            return;
        }
        match field.value {
            Value::Str(text) if as_is(text) => {
                self.buf.push_str(field.text);
                self.buf.push('"');
                self.buf.push_str(text);
                self.buf.push('"');
            }
            Value::Display(text) if text.len() <= MAX_FIELD && bare_value(text) => {
                self.buf.push_str(field.text);
                self.buf.push_str(text);
            }
            Value::U64(n) => {
                self.buf.push_str(field.text);
                self.buf.push_str(itoa::Buffer::new().format(n));
            }
            Value::F64(x) => {
                self.buf.push_str(field.text);
                float(self.buf, x);
            }
            Value::Bool(b) => {
                self.buf.push_str(field.text);
                self.buf.push_str(bool_text(b));
            }
            value => self.put(field.name(), value),
        }
    }

    fn put(&mut self, name: &str, value: Value<'_>) {
        match value {
            Value::Str(text) => self.str(name, text),
            Value::Display(text) => {
                self.name(name);
                let start = push_display(self.buf, text);
                self.quote_value(name, start);
            }
            Value::U64(n) => self.u64(name, n),
            Value::F64(x) => self.f64(name, x),
            Value::Bool(b) => {
                self.name(name);
                self.buf.push_str(bool_text(b));
            }
        }
    }
}

impl Visit for Text<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.str(field.name(), value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.f64(field.name(), value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.u64(field.name(), value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.name(field.name());
        self.buf.push_str(itoa::Buffer::new().format(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.name(field.name());
        self.buf.push_str(bool_text(value));
    }

    /// `%` and `?` values, and the message ([`Text::quote_value`]).
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.name(field.name());
        let start = push_debug(self.buf, value);
        self.quote_value(field.name(), start);
    }
}

/// Printable ASCII without a quote or a backslash: the same quoted in Rust's `Debug`, in
/// JSON and as is.
fn plain(text: &str) -> bool {
    ascii_in(text.as_bytes(), 0x20, b"\"\\")
}

/// Whether every byte of `text` lies in `low..=0x7e` (printable ASCII from `low` on) and is
/// none of `banned`: eight bytes at a time (the classic "has a byte less than / more than /
/// equal to" word tests, each exact as a yes or no), the tail as one more word. The scans of
/// [`plain`], [`bare_value`] and [`bare_message`] (every field of every line) and of the
/// access log's `sanitized`.
pub(crate) fn ascii_in(text: &[u8], low: u8, banned: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    let word_ok = |x: u64| {
        // A byte below `low` (`low` <= 0x80), or above 0x7e (0x7f or the high bit set).
        let less = x.wrapping_sub(ONES * u64::from(low)) & !x & HIGH;
        let more = (x.wrapping_add(ONES) | x) & HIGH;
        less | more == 0
            && banned.iter().all(|&b| {
                let y = x ^ (ONES * u64::from(b));
                y.wrapping_sub(ONES) & !y & HIGH == 0
            })
    };
    let mut words = text.chunks_exact(8);
    for word in words.by_ref() {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        if !word_ok(u64::from_le_bytes(eight)) {
            return false;
        }
    }
    // The tail as one more word: the last eight bytes when there are eight (some judged
    // twice), else the tail filled out with its own first byte (judged anyway, so the
    // filling cannot change the verdict). No copy of a variable length (a `memcpy` call).
    let tail = words.remainder();
    let Some(&fill) = tail.first() else {
        return true;
    };
    let mut eight = [fill; 8];
    match text.len().checked_sub(8).and_then(|at| text.get(at..)) {
        Some(last) => eight.copy_from_slice(last),
        None => eight.iter_mut().zip(tail).for_each(|(d, &b)| *d = b),
    }
    word_ok(u64::from_le_bytes(eight))
}

#[cfg(test)]
mod tests {
    use super::stamp::{rfc3339, stamp};
    use super::*;
    use std::sync::{Arc, Mutex};

    /// The word-at-a-time scan says what the byte-by-byte one says: every byte value at every
    /// position of a word and of the tail, for each range and set of banned bytes in use.
    #[test]
    fn the_word_scan_agrees_with_the_byte_scan() {
        let cases: [(u8, &[u8]); 4] = [
            (0x20, b"\"\\"),
            (0x21, b"\"\\"),
            (0x20, b"\"\\="),
            (0x20, b""),
        ];
        for (low, banned) in cases {
            let scan = |t: &[u8]| super::ascii_in(t, low, banned);
            let naive = |t: &[u8]| {
                t.iter()
                    .all(|&b| (low..0x7f).contains(&b) && !banned.contains(&b))
            };
            for len in [1usize, 7, 8, 9, 16, 17] {
                for at in 0..len {
                    for b in 0..=255u8 {
                        let mut text = vec![b'a'; len];
                        text[at] = b;
                        assert_eq!(scan(&text), naive(&text), "{low:#x} {banned:?} {text:?}");
                    }
                }
            }
            // Two odd bytes in one word, each next to a byte that could carry or borrow.
            for (x, y) in [(0x00u8, 0xffu8), (0xff, 0x00), (0x7f, 0x20), (0x80, 0x7e)] {
                let text = [b'a', x, y, b'a', b'a', b'a', b'a', b'a'];
                assert_eq!(scan(&text), naive(&text));
            }
            assert!(scan(b""));
        }
    }

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(format: LogFormat, level: LogLevel, log: impl FnOnce()) -> String {
        let sink = Sink::default();
        let writer = sink.clone();
        let s = subscriber(format, level, move || writer.clone());
        tracing::subscriber::with_default(s, log);
        let bytes = sink.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn sample() {
        tracing::info!(
            target: "switchyard::access",
            request_id = "req-1",
            route = "a \"quoted\"\nline",
            attempts = %"t:success",
            status = 200u16,
            latency_ms = 1.5f64,
            ok = true,
            "request"
        );
        tracing::debug!(target: "switchyard::router", "hidden at info");
    }

    #[test]
    fn json_lines_are_objects_with_typed_fields() {
        let text = lines(LogFormat::Json, LogLevel::Info, sample);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap_or_default();
        assert_eq!(v["target"], "switchyard::access");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["message"], "request");
        assert_eq!(v["route"], "a \"quoted\"\nline");
        assert_eq!(v["attempts"], "t:success");
        assert_eq!(v["status"], 200);
        assert_eq!(v["latency_ms"], 1.5);
        assert_eq!(v["ok"], true);
        let ts = v["timestamp"].as_str().unwrap_or_default();
        assert_eq!((ts.len(), &ts[10..11], &ts[26..]), (27, "T", "Z"), "{ts}");
    }

    #[test]
    fn text_lines_quote_strings_and_escape_line_breaks() {
        let text = lines(LogFormat::Text, LogLevel::Info, sample);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains(
                " INFO switchyard::access: request request_id=\"req-1\" route=\"a \\\"quoted\\\"\\nline\" attempts=t:success status=200 latency_ms=1.5 ok=true\n"
            ),
            "{text}"
        );
        let debug = lines(LogFormat::Text, LogLevel::Debug, sample);
        assert_eq!(debug.lines().count(), 2, "{debug}");
    }

    #[test]
    fn text_display_values_and_messages_cannot_forge_a_field_or_a_line() {
        let forged = "a\nINFO switchyard::access: request status=200";
        let text = lines(LogFormat::Text, LogLevel::Info, || {
            tracing::info!(
                path = %"/v1/x status=200",
                quote = %"say \"hi\"",
                line = %forged,
                debug = ?"tab\there",
                plain = %"t:success,u:timeout",
                "message {} with result=ok",
                "\nforged"
            );
            tracing::info!(line = %forged, "{}", forged);
        });
        assert_eq!(text.lines().count(), 2, "{text}");
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.ends_with(
                " INFO switchyard_gateway::logging::tests: \"message \\nforged with result=ok\" path=\"/v1/x status=200\" quote=\"say \\\"hi\\\"\" line=\"a\\nINFO switchyard::access: request status=200\" debug=\"\\\"tab\\\\there\\\"\" plain=t:success,u:timeout"
            ),
            "{first}"
        );
        // A field only where the line put one: `status=` appears inside quotes only.
        for line in text.lines() {
            assert!(
                !line.contains(" status=200 ") && !line.ends_with(" status=200"),
                "{line}"
            );
        }
        let json = lines(LogFormat::Json, LogLevel::Info, || {
            tracing::info!(line = %forged, debug = ?"q\"", "{}", forged);
        });
        let v: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap_or_default();
        assert_eq!(v["line"], forged, "{json}");
        assert_eq!(v["message"], forged, "{json}");
        assert_eq!(v["debug"], "\"q\\\"\"", "{json}");
    }

    #[test]
    fn a_huge_field_is_cut_and_json_stays_json() {
        let big = format!("\"{}", "é".repeat(MAX_FIELD));
        let text = lines(LogFormat::Text, LogLevel::Info, || {
            tracing::info!(field = %big, other = big.as_str(), "x");
        });
        assert!(text.len() <= 2 * MAX_FIELD + 200, "{}", text.len());
        assert!(text.contains("…"), "{text}");
        let json = lines(LogFormat::Json, LogLevel::Info, || {
            tracing::info!(field = %big, other = big.as_str(), "x");
        });
        assert!(json.len() <= 2 * MAX_FIELD + 300, "{}", json.len());
        let v: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap_or_default();
        let field = v["field"].as_str().unwrap_or_default();
        assert!(field.ends_with('…') && field.starts_with("\"é"), "{json}");
        assert_eq!(v["other"], v["field"]);
    }

    #[test]
    fn dates_are_civil() {
        let mut s = String::new();
        rfc3339(&mut s, 0, 0);
        assert_eq!(s, "1970-01-01T00:00:00.000000Z");
        s.clear();
        // 2024-02-29T23:59:59 (a leap day) and 2026-11-30T21:31:07.
        rfc3339(&mut s, 1_709_251_199, 7);
        assert_eq!(s, "2024-02-29T23:59:59.000007Z");
        s.clear();
        rfc3339(&mut s, 1_796_074_267, 123_456);
        assert_eq!(s, "2026-11-30T21:31:07.123456Z");
    }

    #[test]
    fn cached_stamps_follow_the_second_and_the_day() {
        // The same second twice, the next second, the next day, back again, the epoch.
        let steps = [
            (1_709_251_199, 7),
            (1_709_251_199, 999_999),
            (1_709_251_200, 0),
            (1_709_337_600, 42),
            (1_709_251_199, 1),
            (0, 0),
        ];
        for (secs, micros) in steps {
            let (mut cached, mut whole) = (String::from("x"), String::from("x"));
            stamp(&mut cached, secs, micros);
            rfc3339(&mut whole, secs, micros);
            assert_eq!(cached, whole);
        }
        let mut s = String::new();
        stamp(&mut s, 1_709_337_600, 5);
        assert_eq!(s, "2024-03-02T00:00:00.000005Z");
    }

    /// A float is written exactly, in its shortest form, without an exponent when it is small
    /// (`0.0000001`, not `1e-7`); the formatter rounds nothing (`0.30000000000000004` stays:
    /// the access line rounds its `cost_usd` itself, `cost_is_written_to_a_ten_billionth_of_a_dollar`).
    #[test]
    fn numbers_are_written_short_and_exact() {
        let log = || {
            tracing::info!(
                latency_ms = 1e-7f64,
                sum = 0.1f64 + 0.2f64,
                big = u64::MAX,
                neg = -3i64,
                ok = false,
                "n"
            );
        };
        let text = lines(LogFormat::Text, LogLevel::Info, log);
        assert!(
            text.ends_with(
                " n latency_ms=0.0000001 sum=0.30000000000000004 big=18446744073709551615 neg=-3 ok=false\n"
            ),
            "{text}"
        );
        let json = lines(LogFormat::Json, LogLevel::Info, log);
        assert!(
            json.contains(
                ",\"latency_ms\":0.0000001,\"sum\":0.30000000000000004,\"big\":18446744073709551615,\"neg\":-3,\"ok\":false,"
            ),
            "{json}"
        );
        let v: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap_or_default();
        assert_eq!(v["latency_ms"], 1e-7);
    }
}
