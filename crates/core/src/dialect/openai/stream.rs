//! A streamed reply's chunks (`chat.completion.chunk`) and the `[DONE]` that ends it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CompletionUsage, finish_label};
use crate::request::{FinishReason, Usage};

/// One streamed event's body (`"object": "chat.completion.chunk"`); a stream ends with
/// `data: [DONE]` ([`DONE`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    /// The completion's id, the same on every chunk of a stream.
    pub id: String,
    /// Always `chat.completion.chunk`.
    pub object: String,
    /// When the completion was made, in Unix seconds; the same on every chunk.
    pub created: u64,
    /// The model that answers.
    pub model: String,
    /// As [`ChatCompletion::system_fingerprint`](super::ChatCompletion::system_fingerprint).
    #[serde(default)]
    pub system_fingerprint: Option<String>,
    /// The choices this chunk adds to; empty on the final usage chunk.
    pub choices: Vec<ChunkChoice>,
    /// With `include_usage`: `null` (`Some(None)`) on every chunk but the last, which carries
    /// the value. Absent (`None`) otherwise. (Reading `null` gives `None`, which is as good.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<CompletionUsage>>,
}

/// What one chunk adds to one choice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// The choice's position, from 0.
    pub index: u32,
    /// The text or tool-call pieces to append; absent on an Azure annotation chunk (its
    /// asynchronous content filter's results on a choice), read as adding nothing.
    #[serde(default)]
    pub delta: Delta,
    /// As [`Choice::logprobs`](super::Choice::logprobs).
    #[serde(default)]
    pub logprobs: Option<Value>,
    /// Set on the choice's last chunk only.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// The increment of a [`ChunkChoice`]; every field is absent when it adds nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// `assistant`, on the choice's first chunk only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Text to append to the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Pieces of tool calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<DeltaToolCall>>,
}

/// A piece of a streamed tool call. The first piece of call `index` (counting tool calls
/// only) carries `id`, `type` and `function.name`, with `arguments: ""`; later pieces only
/// `index` and `function.arguments`, to be concatenated.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaToolCall {
    /// Which call of the choice this piece belongs to, from 0.
    pub index: u32,
    /// The call's id, on its first piece.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function`, on its first piece.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The name (first piece) or a slice of the arguments' JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<DeltaFunction>,
}

/// The function part of a [`DeltaToolCall`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaFunction {
    /// The tool's name, on the call's first piece.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The next slice of the arguments' JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

impl ChatCompletionChunk {
    /// A content chunk of choice 0: `role` on the first, `finish` on the last;
    /// `with_usage_field` writes `"usage": null`, as OpenAI does on every chunk but the last
    /// when the client asked for `include_usage`.
    pub fn delta(
        id: &str,
        created: u64,
        model: &str,
        role: bool,
        content: Option<String>,
        finish: Option<FinishReason>,
        with_usage_field: bool,
    ) -> Self {
        ChatCompletionChunk {
            id: id.to_owned(),
            object: "chat.completion.chunk".to_owned(),
            created,
            model: model.to_owned(),
            system_fingerprint: Some("fp_switchyard".to_owned()),
            choices: vec![ChunkChoice {
                index: 0,
                delta: Delta {
                    role: role.then(|| "assistant".to_owned()),
                    content,
                    tool_calls: None,
                },
                logprobs: None,
                finish_reason: finish.map(|f| finish_label(f).to_owned()),
            }],
            usage: with_usage_field.then_some(None),
        }
    }

    /// A chunk carrying tool-call pieces (choice 0, no content).
    pub fn tool_calls(
        id: &str,
        created: u64,
        model: &str,
        calls: Vec<DeltaToolCall>,
        with_usage_field: bool,
    ) -> Self {
        let mut c = Self::delta(id, created, model, false, None, None, with_usage_field);
        if let Some(choice) = c.choices.first_mut() {
            choice.delta.tool_calls = Some(calls);
        }
        c
    }

    /// The final usage chunk (`choices: []`) sent when `stream_options.include_usage` is set.
    pub fn usage(id: &str, created: u64, model: &str, usage: Usage) -> Self {
        ChatCompletionChunk {
            id: id.to_owned(),
            object: "chat.completion.chunk".to_owned(),
            created,
            model: model.to_owned(),
            system_fingerprint: Some("fp_switchyard".to_owned()),
            choices: Vec::new(),
            usage: Some(Some(usage.into())),
        }
    }
}

/// The `data:` of a stream's last event.
pub const DONE: &str = "[DONE]";
