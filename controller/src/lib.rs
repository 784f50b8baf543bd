//! The Bedrock Chatbot Operator: desired state of the AWS resources behind a
//! `ChatbotPlatform` and its `BedrockChatbot`s, the manifests they come from, and
//! the command line that plans them.

pub mod admission;
pub mod crd;
pub mod desired;
pub mod manifest;
pub mod plan;
pub mod validation;

/// Everything that can go wrong in the operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifests are invalid; nothing was done.
    #[error("{0}")]
    InvalidManifests(#[from] manifest::Problems),
    /// A result could not be rendered.
    #[error("cannot render the result: {0}")]
    Render(#[source] serde_json::Error),
    /// Writing the output failed (e.g. a closed pipe).
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
}

impl Error {
    /// Whether trying again without a change can help. Invalid input never heals
    /// by itself; output failures are the caller's environment.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::InvalidManifests(_) | Self::Render(_) | Self::Output(_) => false,
        }
    }

    /// A short label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::InvalidManifests(_) => "invalid_manifests",
            Self::Render(_) => "render",
            Self::Output(_) => "output",
        }
    }
}

/// Result with the operator's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
