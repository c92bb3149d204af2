//! The text log format, in a test binary of its own: a process has one global subscriber.
#![expect(clippy::unwrap_used, reason = "test code")]

use std::sync::{Arc, Mutex};

use switchyard_live::config::{LogFormat, LogLevel};

mod support;

use support::*;

/// Log lines captured in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(start_paused = true)]
async fn text_lines_carry_the_same_fields() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber =
        switchyard_gateway::logging::subscriber(LogFormat::Text, LogLevel::Info, move || {
            writer.clone()
        });
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let r = rig(&config(TA, CHAT_TA, ""));
    let (status, _) = send_chat(&r.gw, false).await;
    assert_eq!(status, 200);
    let text = logs.text();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("switchyard::access"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    for field in [
        "client=\"app\"",
        "route=\"chat\"",
        "attempts=ta:success",
        "status=200",
        "result=\"ok\"",
        "completion_tokens=5",
    ] {
        assert!(lines[0].contains(field), "{field} in {}", lines[0]);
    }
    assert!(
        !text.contains(CLIENT_KEY) && !text.contains(MARKER),
        "{text}"
    );
    // No attempt made (a model that names no route): `attempts=-`, as for the other absent
    // values, not `attempts=` with nothing after it.
    let unknown = chat(false).replace(r#""model":"chat""#, r#""model":"nope""#);
    let (status, _) = call(
        &r.gw,
        "POST",
        "/v1/chat/completions",
        Some(CLIENT_KEY),
        unknown,
    )
    .await;
    assert_eq!(status, 404);
    let text = logs.text();
    let line = text
        .lines()
        .rfind(|l| l.contains("switchyard::access"))
        .unwrap();
    assert!(line.contains("status=404"), "{line}");
    assert!(line.contains(" attempts=- "), "{line}");
    assert!(line.contains("route=\"-\""), "{line}");
    // A router event's fields are fields of its line too, not words of its message.
    let (status, reply) = support::overrides(&r.gw, r#"{"action":"drain","target":"ta"}"#).await;
    assert_eq!(status, 200, "{reply}");
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("switchyard::router") && l.contains("event=\"override\""))
        .unwrap_or_else(|| panic!("no override line: {text}"));
    for field in ["action=\"drain\"", "target_name=\"ta\"", "override applied"] {
        assert!(line.contains(field), "{field} in {line}");
    }
    assert!(!line.contains("route="), "{line}");
}
