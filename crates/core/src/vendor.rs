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

impl Dialect {
    /// Every dialect.
    pub const ALL: [Dialect; 4] = [
        Dialect::Openai,
        Dialect::Anthropic,
        Dialect::Gemini,
        Dialect::AzureOpenai,
    ];

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
