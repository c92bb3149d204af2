//! Which vendor's wire format a provider, a target or a client speaks: the [`Dialect`] name
//! alone, apart from the codecs in [`dialect`](crate::dialect), so that requests and targets
//! can name a dialect without depending on the codecs (which depend on them).

/// A vendor's wire format.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    /// OpenAI's Chat Completions API.
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
    /// Google's Gemini `generateContent` API.
    Gemini,
    /// Azure OpenAI: OpenAI's wire format, the deployment in the path, an `api-key` header.
    AzureOpenai,
}

/// `max_tokens` sent to Anthropic for a request without one when the target configures no
/// `default_max_tokens` (Anthropic requires the field; the others have defaults of their own).
pub const ANTHROPIC_DEFAULT_MAX_TOKENS: u32 = 4096;

impl Dialect {
    /// Every dialect.
    pub const ALL: [Dialect; 4] = [
        Dialect::Openai,
        Dialect::Anthropic,
        Dialect::Gemini,
        Dialect::AzureOpenai,
    ];

    /// The `max_tokens` a target of this dialect is sent for a request that sets none: where
    /// the vendor requires one (Anthropic), the target's `configured` `default_max_tokens` or
    /// else [`ANTHROPIC_DEFAULT_MAX_TOKENS`]; elsewhere none, whatever is configured (the
    /// vendor's own default applies).
    pub fn sent_max_tokens(self, configured: Option<u32>) -> Option<u32> {
        match self {
            Dialect::Anthropic => Some(configured.unwrap_or(ANTHROPIC_DEFAULT_MAX_TOKENS)),
            Dialect::Openai | Dialect::Gemini | Dialect::AzureOpenai => None,
        }
    }

    /// The dialect as config files write it (`openai`, `anthropic`, `gemini`,
    /// `azure-openai`).
    pub const fn label(self) -> &'static str {
        match self {
            Dialect::Openai => "openai",
            Dialect::Anthropic => "anthropic",
            Dialect::Gemini => "gemini",
            Dialect::AzureOpenai => "azure-openai",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ANTHROPIC_DEFAULT_MAX_TOKENS as DEFAULT_MAX_TOKENS, Dialect};

    /// Only a vendor that requires `max_tokens` is sent one when the request sets none.
    #[test]
    fn only_anthropic_is_sent_a_default_max_tokens() {
        assert_eq!(
            Dialect::Anthropic.sent_max_tokens(None),
            Some(DEFAULT_MAX_TOKENS)
        );
        assert_eq!(Dialect::Anthropic.sent_max_tokens(Some(10)), Some(10));
        for d in [Dialect::Openai, Dialect::Gemini, Dialect::AzureOpenai] {
            assert_eq!(d.sent_max_tokens(Some(10)), None, "{d:?}");
        }
    }
}
