//! A field the router names as an OpenAI client would (`stop`, `messages[2].content[0]`),
//! named as the `/v1/messages` client sent it (`stop_sequences`, `messages.1.content.1`): a
//! target that cannot express a field is refused naming it, and an Anthropic client must
//! recognize what it sent. The router's messages are not the client's one for one: `system`
//! is a first message, and a user message's `tool_result` blocks are messages of their own
//! ([`Origins`]).

use switchyard_live::RouteError;

use super::inbound::Origins;

/// `e`, its unsupported field (if any) named as the client sent it, the messages' indices
/// mapped through `origins`.
pub(super) fn anthropic_names(mut e: RouteError, origins: &Origins) -> RouteError {
    if let Some(u) = &mut e.unsupported {
        u.field = anthropic_field(&u.field, origins);
    }
    e
}

/// `field` (OpenAI's spelling) in Anthropic's: the fields whose names differ renamed, a
/// message and its blocks as the client numbered them, `[i]` written `.i`.
fn anthropic_field(field: &str, origins: &Origins) -> String {
    let (head, rest) = field.split_at(field.find(['[', '.']).unwrap_or(field.len()));
    match head {
        "stop" => return format!("stop_sequences{}", dotted(rest)),
        "parallel_tool_calls" => return "tool_choice.disable_parallel_tool_use".to_owned(),
        "response_format" => return format!("output_config.format{}", dotted(rest)),
        // A message no origin knows (none should be): the field alone, not a wrong index.
        "messages" => return message_field(rest, origins).unwrap_or_else(|| head.to_owned()),
        _ => {}
    }
    format!("{head}{}", dotted(rest))
}

/// `messages[k]` and what follows (`rest` after `messages`), as the client named it; `None`
/// when `rest` names no message `origins` knows.
fn message_field(rest: &str, origins: &Origins) -> Option<String> {
    let (k, after) = index(rest)?;
    let &(message, first) = origins.get(k)?;
    // A block of the message: its index in the client's message.
    let (block, after) = match after.strip_prefix(".content").and_then(index) {
        Some((j, after)) => (Some(first.checked_add(j)?), after),
        None => (None, after),
    };
    let mut named = match message {
        None => "system".to_owned(),
        Some(i) => format!("messages.{i}"),
    };
    if let Some(j) = block {
        // `system`'s blocks are the field's own; a message's are in its `content`.
        let content = if message.is_some() { ".content" } else { "" };
        named.push_str(&format!("{content}.{j}"));
    }
    // A tool result's id is its `tool_use_id` to Anthropic.
    let after = match after.strip_prefix(".call_id") {
        Some(tail) => format!(".tool_use_id{tail}"),
        None => after.to_owned(),
    };
    named.push_str(&dotted(&after));
    Some(named)
}

/// The index `[i]` that `rest` starts with, and what follows it.
fn index(rest: &str) -> Option<(usize, &str)> {
    let inner = rest.strip_prefix('[')?;
    let (digits, after) = inner.split_once(']')?;
    Some((digits.parse().ok()?, after))
}

/// `rest` with each `[i]` written `.i`.
fn dotted(rest: &str) -> String {
    rest.replace('[', ".").replace(']', "")
}

#[cfg(test)]
mod tests {
    use super::anthropic_field;

    #[test]
    fn fields_are_named_as_the_anthropic_client_sent_them() {
        // `system`; message 0; message 1 split by a tool result at block 1: its block 0, the
        // result, its block 2.
        let origins = vec![
            (None, 0),
            (Some(0), 0),
            (Some(1), 0),
            (Some(1), 1),
            (Some(1), 2),
        ];
        for (field, named) in [
            ("stop", "stop_sequences"),
            ("top_k", "top_k"),
            (
                "parallel_tool_calls",
                "tool_choice.disable_parallel_tool_use",
            ),
            ("response_format", "output_config.format"),
            ("tools[3].strict", "tools.3.strict"),
            ("messages[0]", "system"),
            ("messages[0].content[1]", "system.1"),
            ("messages[1].content[0]", "messages.0.content.0"),
            (
                "messages[3].content[0].is_error",
                "messages.1.content.1.is_error",
            ),
            ("messages[4].content[0]", "messages.1.content.2"),
            (
                "messages[3].content[0].call_id",
                "messages.1.content.1.tool_use_id",
            ),
            ("messages[9].content[0]", "messages"),
            ("messages", "messages"),
            ("x_field", "x_field"),
        ] {
            assert_eq!(anthropic_field(field, &origins), named, "{field}");
        }
    }
}
