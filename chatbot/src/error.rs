//! The crate's one error type, how each error is answered over HTTP, and the short
//! label metrics count it under.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::attachments::Refusal;
use crate::auth::{AuthFailure, KeyFetchError};
use crate::bedrock::BedrockError;
use crate::config::ConfigError;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the chat app.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request carries no valid ALB token.
    #[error("not signed in: {0}")]
    Unauthenticated(#[from] AuthFailure),
    /// The ALB's signing key could not be fetched: no request passes until it can.
    #[error("cannot fetch the load balancer's signing key")]
    KeyServer(#[source] KeyFetchError),
    /// The request body is not what the API takes.
    #[error("{0}")]
    InvalidRequest(String),
    /// One message is over the configured limit.
    #[error("your message is {chars} characters long; the limit is {limit}")]
    MessageTooLong {
        /// Its length.
        chars: usize,
        /// The limit.
        limit: usize,
    },
    /// The whole request is over the body limit (a history too long to send).
    #[error(
        "the request is larger than the {limit}-byte limit; start a new chat or shorten your message"
    )]
    BodyTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The user asked more often than the per-minute limit allows.
    #[error("you are asking faster than this chatbot allows; retry in {retry_after} s")]
    RateLimited {
        /// Seconds until the next question is accepted.
        retry_after: u64,
    },
    /// The user uploaded more files than the per-minute limit allows.
    #[error("you are attaching files faster than this chatbot allows; retry in {retry_after} s")]
    UploadsRateLimited {
        /// Seconds until the next upload is accepted.
        retry_after: u64,
    },
    /// The user already has the most answers streaming that one user may have.
    #[error("{limit} answers are already streaming for you; wait for one to finish or stop it")]
    TooManyStreams {
        /// The limit.
        limit: u32,
    },
    /// No such thing (for example a stream to stop that already ended).
    #[error("not found")]
    NotFound,
    /// The server is draining before it stops.
    #[error("the server is restarting; ask again in a moment")]
    ShuttingDown,
    /// The browser stopped reading the answer for too long, so it was ended.
    #[error("the answer was ended because your connection stopped receiving it; ask again")]
    ClientStalled,
    /// Bedrock refused or failed the question.
    #[error(transparent)]
    Bedrock(#[from] BedrockError),
    /// This chatbot keeps no conversation history on the server.
    #[error("this chatbot does not keep conversation history")]
    HistoryDisabled,
    /// The history table could not be reached or refused (its words are logged, not
    /// shown).
    #[error("your conversation history cannot be reached right now; retry in a moment")]
    HistoryUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// This chatbot takes no attachments (no bucket configured).
    #[error("this chatbot does not take attached files")]
    AttachmentsDisabled,
    /// A file, or the files of a question, refused: the message says why and what is
    /// taken.
    #[error(transparent)]
    AttachmentRefused(Refusal),
    /// The attachments bucket could not be reached or refused (its words are logged,
    /// not shown).
    #[error("attached files cannot be reached right now; retry in a moment")]
    AttachmentsUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The environment is incomplete or wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listen address could not be bound or is not an address.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `--dev-identity` was asked for on a non-loopback address.
    #[error(
        "--dev-identity is for local use only, but {addr} is not a loopback address (use 127.0.0.1)"
    )]
    DevIdentityNotLoopback {
        /// The address.
        addr: String,
    },
}

/// What kind of error, as metrics and the UI name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No valid token.
    Unauthenticated,
    /// Signing keys unavailable.
    KeyServer,
    /// Malformed request.
    InvalidRequest,
    /// Message over the limit.
    MessageTooLong,
    /// Per-user rate limit.
    RateLimited,
    /// Per-user concurrent streams.
    TooManyStreams,
    /// Nothing there.
    NotFound,
    /// Draining.
    ShuttingDown,
    /// The browser stopped reading an answer.
    ClientStalled,
    /// Bedrock throttled.
    Throttled,
    /// The model is not enabled in the AWS account yet (no AWS Marketplace
    /// subscription): an administrator must enable it once.
    ModelNotEnabled,
    /// Bedrock denies the model for another reason (IAM, a boundary, an SCP).
    ModelAccess,
    /// The conversation is too long for the model.
    InputTooLong,
    /// Bedrock refused the request for another reason.
    BedrockRejected,
    /// The model is not available right now.
    ModelUnavailable,
    /// The model did not answer in time.
    ModelTimeout,
    /// The model failed while answering.
    ModelFailed,
    /// Bedrock could not be reached.
    BedrockUnreachable,
    /// Configuration or startup.
    Startup,
    /// No conversation history on this chatbot.
    HistoryDisabled,
    /// The conversation history (DynamoDB) is unavailable.
    HistoryUnavailable,
    /// No attachments on this chatbot.
    AttachmentsDisabled,
    /// A file not taken: not an image or document, or not what its name says.
    UnsupportedAttachment,
    /// A file over its kind's limit.
    AttachmentTooLarge,
    /// More files than one question may carry.
    TooManyAttachments,
    /// The attachments bucket (S3) is unavailable.
    AttachmentsUnavailable,
}

impl ErrorKind {
    /// Every kind, for metrics that show zeros too.
    pub const ALL: [ErrorKind; 26] = [
        Self::Unauthenticated,
        Self::KeyServer,
        Self::InvalidRequest,
        Self::MessageTooLong,
        Self::RateLimited,
        Self::TooManyStreams,
        Self::NotFound,
        Self::ShuttingDown,
        Self::ClientStalled,
        Self::Throttled,
        Self::ModelNotEnabled,
        Self::ModelAccess,
        Self::InputTooLong,
        Self::BedrockRejected,
        Self::ModelUnavailable,
        Self::ModelTimeout,
        Self::ModelFailed,
        Self::BedrockUnreachable,
        Self::Startup,
        Self::HistoryDisabled,
        Self::HistoryUnavailable,
        Self::AttachmentsDisabled,
        Self::UnsupportedAttachment,
        Self::AttachmentTooLarge,
        Self::TooManyAttachments,
        Self::AttachmentsUnavailable,
    ];

    /// Short snake_case label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::KeyServer => "key_server",
            Self::InvalidRequest => "invalid_request",
            Self::MessageTooLong => "message_too_long",
            Self::RateLimited => "rate_limited",
            Self::TooManyStreams => "too_many_streams",
            Self::NotFound => "not_found",
            Self::ShuttingDown => "shutting_down",
            Self::ClientStalled => "client_stalled",
            Self::Throttled => "throttled",
            Self::ModelNotEnabled => "model_not_enabled",
            Self::ModelAccess => "model_access",
            Self::InputTooLong => "input_too_long",
            Self::BedrockRejected => "bedrock_rejected",
            Self::ModelUnavailable => "model_unavailable",
            Self::ModelTimeout => "model_timeout",
            Self::ModelFailed => "model_failed",
            Self::BedrockUnreachable => "bedrock_unreachable",
            Self::Startup => "startup",
            Self::HistoryDisabled => "history_disabled",
            Self::HistoryUnavailable => "history_unavailable",
            Self::AttachmentsDisabled => "attachments_disabled",
            Self::UnsupportedAttachment => "unsupported_attachment",
            Self::AttachmentTooLarge => "attachment_too_large",
            Self::TooManyAttachments => "too_many_attachments",
            Self::AttachmentsUnavailable => "attachments_unavailable",
        }
    }
}

impl Error {
    /// Its kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unauthenticated(_) => ErrorKind::Unauthenticated,
            Self::KeyServer(_) => ErrorKind::KeyServer,
            Self::InvalidRequest(_) => ErrorKind::InvalidRequest,
            Self::MessageTooLong { .. } | Self::BodyTooLarge { .. } => ErrorKind::MessageTooLong,
            Self::RateLimited { .. } | Self::UploadsRateLimited { .. } => ErrorKind::RateLimited,
            Self::TooManyStreams { .. } => ErrorKind::TooManyStreams,
            Self::NotFound => ErrorKind::NotFound,
            Self::ShuttingDown => ErrorKind::ShuttingDown,
            Self::ClientStalled => ErrorKind::ClientStalled,
            Self::Bedrock(e) => e.kind(),
            Self::HistoryDisabled => ErrorKind::HistoryDisabled,
            Self::HistoryUnavailable(_) => ErrorKind::HistoryUnavailable,
            Self::AttachmentsDisabled => ErrorKind::AttachmentsDisabled,
            Self::AttachmentRefused(refusal) => match refusal {
                Refusal::WrongType(_) => ErrorKind::UnsupportedAttachment,
                Refusal::TooLarge { .. } => ErrorKind::AttachmentTooLarge,
                Refusal::Empty(_) => ErrorKind::InvalidRequest,
                Refusal::TooMany { .. } | Refusal::OverBudget { .. } => {
                    ErrorKind::TooManyAttachments
                }
            },
            Self::AttachmentsUnavailable(_) => ErrorKind::AttachmentsUnavailable,
            Self::Config(_) | Self::Listen { .. } | Self::DevIdentityNotLoopback { .. } => {
                ErrorKind::Startup
            }
        }
    }

    /// The HTTP status it is answered with.
    pub fn status(&self) -> StatusCode {
        match self.kind() {
            ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorKind::KeyServer
            | ErrorKind::ShuttingDown
            | ErrorKind::ModelUnavailable
            | ErrorKind::HistoryUnavailable
            | ErrorKind::AttachmentsUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::InvalidRequest
            | ErrorKind::BedrockRejected
            | ErrorKind::TooManyAttachments => StatusCode::BAD_REQUEST,
            ErrorKind::MessageTooLong | ErrorKind::InputTooLong | ErrorKind::AttachmentTooLarge => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ErrorKind::UnsupportedAttachment => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::RateLimited | ErrorKind::TooManyStreams | ErrorKind::Throttled => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ErrorKind::NotFound | ErrorKind::HistoryDisabled | ErrorKind::AttachmentsDisabled => {
                StatusCode::NOT_FOUND
            }
            ErrorKind::ClientStalled => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::ModelNotEnabled | ErrorKind::ModelAccess => StatusCode::FORBIDDEN,
            ErrorKind::ModelTimeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::ModelFailed | ErrorKind::BedrockUnreachable => StatusCode::BAD_GATEWAY,
            ErrorKind::Startup => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Seconds after which the same request may succeed, when that is known.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after } | Self::UploadsRateLimited { retry_after } => {
                Some(*retry_after)
            }
            Self::Bedrock(e) => e.retry_after(),
            Self::KeyServer(_)
            | Self::ShuttingDown
            | Self::HistoryUnavailable(_)
            | Self::AttachmentsUnavailable(_) => Some(5),
            _ => None,
        }
    }

    /// The body the API and the UI show: kind, a sentence for a person, and when to
    /// retry.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            kind: self.kind().as_str(),
            message: match self {
                // The detail of a failed token check helps an attacker more than a user.
                Self::Unauthenticated(_) => "You are not signed in, or your sign-in expired. Reload the page to sign in again.".into(),
                other => other.to_string(),
            },
            retry_after: self.retry_after(),
        }
    }
}

/// The JSON an error is answered with, under `"error"`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// [`ErrorKind::as_str`].
    pub kind: &'static str,
    /// A sentence for a person.
    pub message: String,
    /// Seconds to wait before retrying, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Envelope {
    error: ErrorBody,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if self.status().is_server_error() {
            tracing::warn!(error = %self, source = ?std::error::Error::source(&self), "request failed");
        } else {
            tracing::debug!(error = %self, "request refused");
        }
        let status = self.status();
        let kind = self.kind();
        let retry_after = self.retry_after();
        let mut response = (status, Json(Envelope { error: self.body() })).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        // Counted by the metrics layer from this marker, so every error path is
        // counted once, wherever it was raised.
        response.extensions_mut().insert(kind);
        response
    }
}
