//! The JSON format's fields: `,"name":value`, strings escaped as JSON strings.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};

use super::{
    LineField, Put, Value, as_is, bool_text, capped, float, plain, push_debug, push_display,
};

/// `,"name":value` for each field: strings and `Debug`/`%` values as JSON strings, numbers
/// and booleans as JSON numbers and booleans (a non-finite float as a string).
pub(super) struct Json<'a> {
    pub(super) buf: &'a mut String,
}

impl Json<'_> {
    fn name(&mut self, name: &str) {
        self.buf.push(',');
        json_str(self.buf, name);
        self.buf.push(':');
    }

    fn f64(&mut self, name: &str, value: f64) {
        self.name(name);
        if value.is_finite() {
            float(self.buf, value);
        } else {
            let _ = write!(self.buf, "\"{value}\"");
        }
    }

    fn u64(&mut self, name: &str, value: u64) {
        self.name(name);
        self.buf.push_str(itoa::Buffer::new().format(value));
    }

    /// A `%` or `?` value's text, from `start` on in `buf`, escaped, and the closing quote.
    fn close_string(&mut self, start: usize) {
        if !self.buf.get(start..).is_some_and(plain) {
            let raw = self.buf.split_off(start);
            json_escape(self.buf, &raw);
        }
        self.buf.push('"');
    }
}

impl Put for Json<'_> {
    fn put_field(&mut self, field: &LineField<'_>) {
        match field.value {
            Value::Str(text) | Value::Display(text) if as_is(text) => {
                self.buf.push_str(field.json);
                self.buf.push('"');
                self.buf.push_str(text);
                self.buf.push('"');
            }
            Value::U64(n) => {
                self.buf.push_str(field.json);
                self.buf.push_str(itoa::Buffer::new().format(n));
            }
            Value::F64(x) if x.is_finite() => {
                self.buf.push_str(field.json);
                float(self.buf, x);
            }
            Value::Bool(b) => {
                self.buf.push_str(field.json);
                self.buf.push_str(bool_text(b));
            }
            value => self.put(field.name(), value),
        }
    }

    fn put(&mut self, name: &str, value: Value<'_>) {
        match value {
            Value::Str(text) => {
                self.name(name);
                json_str(self.buf, text);
            }
            Value::Display(text) => {
                self.name(name);
                self.buf.push('"');
                let start = push_display(self.buf, text);
                self.close_string(start);
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

impl Visit for Json<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.name(field.name());
        json_str(self.buf, value);
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

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.name(field.name());
        self.buf.push('"');
        let start = push_debug(self.buf, value);
        self.close_string(start);
    }
}

/// `text` as a JSON string.
pub(super) fn json_str(buf: &mut String, text: &str) {
    let text = &*capped(text);
    buf.push('"');
    if plain(text) {
        buf.push_str(text);
    } else {
        json_escape(buf, text);
    }
    buf.push('"');
}

/// `text` escaped for the inside of a JSON string.
fn json_escape(buf: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => buf.push_str("\\\""),
            '\\' => buf.push_str("\\\\"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            '\t' => buf.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(buf, "\\u{:04x}", u32::from(c));
            }
            c => buf.push(c),
        }
    }
}
