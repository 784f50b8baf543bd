//! Bedrock ConverseStream: the one AWS call the chatbot makes, through the standard
//! SDK configuration (`AWS_REGION`, `AWS_ENDPOINT_URL`, the task role's credentials),
//! so the VPC endpoint's private DNS just works.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, ContentBlock, ContentBlockDelta, ConversationRole,
    ConverseStreamOutput, DocumentBlock, DocumentFormat, DocumentSource, ImageBlock, ImageFormat,
    ImageSource, InferenceConfiguration, Message, SystemContentBlock,
};
use aws_smithy_types::Blob;

use crate::attachments::Kind;
use crate::attachments::context::{ContextFiles, Given};
use crate::config::{Config, ModelConfig};
use crate::conversation::{Conversation, Role};
use crate::error::ErrorKind;

/// Seconds to suggest waiting after Bedrock throttled or was unavailable.
pub const RETRY_AFTER_SECONDS: u64 = 10;

/// AWS's page on enabling a model in an account ("Access Amazon Bedrock foundation
/// models"), which replaced the console's retired "Model access" page.
pub const MODEL_ACCESS_DOC: &str =
    "https://docs.aws.amazon.com/bedrock/latest/userguide/model-access.html";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why Bedrock did not answer (or stopped answering).
#[derive(Debug, thiserror::Error)]
pub enum BedrockError {
    /// `ThrottlingException`: too many requests for the account's quota.
    #[error("Bedrock is busy right now; retry in {RETRY_AFTER_SECONDS} s")]
    Throttled {
        /// Bedrock's words.
        message: String,
    },
    /// `AccessDeniedException` naming AWS Marketplace: the account has no subscription
    /// to this third-party model yet (Anthropic's included), and the task role, which
    /// may only invoke models, may not make it. An administrator makes it once.
    /// Bedrock's words name the role and the IAM actions: logged, not shown.
    #[error(
        "this chatbot's model is not enabled in its AWS account yet. An AWS administrator must enable it once for the account (the model's AWS Marketplace subscription); ask your platform team. How: {MODEL_ACCESS_DOC}"
    )]
    ModelNotEnabled {
        /// Bedrock's words.
        message: String,
    },
    /// Another `AccessDeniedException`: IAM (the task role, a permissions boundary, an
    /// SCP) denies the model.
    #[error(
        "this chatbot may not use its model: model access is not enabled for it in this AWS account, or the task role may not invoke it; ask your platform team"
    )]
    AccessDenied {
        /// Bedrock's words.
        message: String,
    },
    /// `ValidationException` about length: the conversation is over the model's context.
    #[error(
        "this conversation is too long for the model; start a new chat or shorten your message"
    )]
    InputTooLong {
        /// Bedrock's words.
        message: String,
    },
    /// `ValidationException` about the inference settings (`temperature` and `topP`
    /// together for a model that takes one, a `maxTokens` over the model's): the
    /// chatbot's configuration, which only its platform team can change.
    #[error(
        "this chatbot's model settings are refused by its model: {message} Ask your platform team to change the chatbot's model settings."
    )]
    SettingsRefused {
        /// Bedrock's words.
        message: String,
    },
    /// Another `ValidationException` or `ResourceNotFoundException`.
    #[error("Bedrock refused the question: {message}")]
    Rejected {
        /// Bedrock's words.
        message: String,
    },
    /// `ServiceUnavailableException`, `ModelNotReadyException`.
    #[error("the model is not available right now; retry in {RETRY_AFTER_SECONDS} s")]
    Unavailable {
        /// Bedrock's words.
        message: String,
    },
    /// `ModelTimeoutException`, an SDK timeout, or no event for too long.
    #[error("the model took too long to answer; try again")]
    Timeout,
    /// `ModelStreamErrorException`, `ModelErrorException`, `InternalServerException`.
    #[error("the model failed while answering ({message}); try again")]
    ModelFailed {
        /// Bedrock's words.
        message: String,
    },
    /// No answer from Bedrock at all (connection refused, DNS, TLS).
    #[error("cannot reach Bedrock; try again in a moment")]
    Unreachable {
        /// Why.
        #[source]
        source: BoxError,
    },
}

impl BedrockError {
    /// Its kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Throttled { .. } => ErrorKind::Throttled,
            Self::ModelNotEnabled { .. } => ErrorKind::ModelNotEnabled,
            Self::AccessDenied { .. } => ErrorKind::ModelAccess,
            Self::InputTooLong { .. } => ErrorKind::InputTooLong,
            Self::SettingsRefused { .. } | Self::Rejected { .. } => ErrorKind::BedrockRejected,
            Self::Unavailable { .. } => ErrorKind::ModelUnavailable,
            Self::Timeout => ErrorKind::ModelTimeout,
            Self::ModelFailed { .. } => ErrorKind::ModelFailed,
            Self::Unreachable { .. } => ErrorKind::BedrockUnreachable,
        }
    }

    /// Seconds to wait before asking again, when waiting helps.
    pub fn retry_after(&self) -> Option<u64> {
        matches!(self, Self::Throttled { .. } | Self::Unavailable { .. })
            .then_some(RETRY_AFTER_SECONDS)
    }

    fn from_service(code: Option<&str>, message: Option<&str>) -> Self {
        let message = message.unwrap_or("no message").to_string();
        match code.unwrap_or_default() {
            "ThrottlingException" | "throttlingException" => Self::Throttled { message },
            "AccessDeniedException" if is_about_marketplace(&message) => {
                Self::ModelNotEnabled { message }
            }
            "AccessDeniedException" => Self::AccessDenied { message },
            "ValidationException" | "validationException" if is_about_length(&message) => {
                Self::InputTooLong { message }
            }
            "ValidationException" | "validationException" if is_about_settings(&message) => {
                Self::SettingsRefused { message }
            }
            "ValidationException" | "validationException" | "ResourceNotFoundException" => {
                Self::Rejected { message }
            }
            "ServiceUnavailableException"
            | "serviceUnavailableException"
            | "ModelNotReadyException" => Self::Unavailable { message },
            "ModelTimeoutException" => Self::Timeout,
            _ => Self::ModelFailed { message },
        }
    }
}

fn is_about_length(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("too long") || m.contains("too many input tokens") || m.contains("context length")
}

/// Whether Bedrock's denial is about the account's AWS Marketplace subscription to the
/// model (it names the `aws-marketplace:…` actions it needed).
fn is_about_marketplace(message: &str) -> bool {
    message.to_ascii_lowercase().contains("marketplace")
}

/// Whether Bedrock's refusal names an inference setting the chatbot sends.
fn is_about_settings(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["temperature", "top_p", "topp", "max_tokens", "maxtokens"]
        .iter()
        .any(|setting| m.contains(setting))
}

impl From<SdkError<ConverseStreamError>> for BedrockError {
    fn from(error: SdkError<ConverseStreamError>) -> Self {
        match error {
            SdkError::ServiceError(e) => {
                let e = e.into_err();
                Self::from_service(e.code(), e.message())
            }
            SdkError::TimeoutError(_) => Self::Timeout,
            other => Self::Unreachable {
                source: Box::new(other),
            },
        }
    }
}

type StreamError = SdkError<ConverseStreamOutputError, aws_smithy_types::event_stream::RawMessage>;

impl From<StreamError> for BedrockError {
    fn from(error: StreamError) -> Self {
        match error {
            SdkError::ServiceError(e) => {
                let e = e.into_err();
                let code = match &e {
                    ConverseStreamOutputError::ModelStreamErrorException(_) => {
                        Some("ModelStreamErrorException")
                    }
                    ConverseStreamOutputError::ThrottlingException(_) => {
                        Some("ThrottlingException")
                    }
                    ConverseStreamOutputError::ServiceUnavailableException(_) => {
                        Some("ServiceUnavailableException")
                    }
                    ConverseStreamOutputError::ValidationException(_) => {
                        Some("ValidationException")
                    }
                    _ => e.code(),
                };
                Self::from_service(code, e.message())
            }
            SdkError::TimeoutError(_) => Self::Timeout,
            other => Self::Unreachable {
                source: Box::new(other),
            },
        }
    }
}

/// What an answer stream yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerEvent {
    /// More text.
    Text(String),
    /// The model stopped, and why (`end_turn`, `max_tokens`, …).
    Stop(String),
    /// Tokens the answer cost.
    Usage(Usage),
}

/// Tokens one answer cost, from the stream's metadata.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens neither read from nor written to the prompt cache.
    pub input: u64,
    /// Answer tokens.
    pub output: u64,
    /// Prompt tokens read from the prompt cache (billed at a lower rate).
    pub cache_read: u64,
    /// Prompt tokens written to the prompt cache.
    pub cache_write: u64,
}

impl Usage {
    /// Input, output, cache-read and cache-written tokens, in that order.
    pub fn tokens(&self) -> [u64; 4] {
        [self.input, self.output, self.cache_read, self.cache_write]
    }
}

/// One answer being streamed; dropping it closes the stream to Bedrock.
#[derive(Debug)]
pub struct Answer {
    receiver: EventReceiver<ConverseStreamOutput, ConverseStreamOutputError>,
}

impl Answer {
    /// The next event, `None` at the end.
    pub async fn next(&mut self) -> Result<Option<AnswerEvent>, BedrockError> {
        loop {
            let Some(event) = self.receiver.recv().await? else {
                return Ok(None);
            };
            let mapped = match event {
                ConverseStreamOutput::ContentBlockDelta(delta) => match delta.delta {
                    Some(ContentBlockDelta::Text(text)) if !text.is_empty() => {
                        Some(AnswerEvent::Text(text))
                    }
                    _ => None,
                },
                ConverseStreamOutput::MessageStop(stop) => {
                    Some(AnswerEvent::Stop(stop.stop_reason.as_str().to_string()))
                }
                ConverseStreamOutput::Metadata(metadata) => metadata.usage.map(|usage| {
                    let count = |n: i32| u64::try_from(n).unwrap_or_default();
                    AnswerEvent::Usage(Usage {
                        input: count(usage.input_tokens),
                        output: count(usage.output_tokens),
                        cache_read: usage.cache_read_input_tokens.map_or(0, count),
                        cache_write: usage.cache_write_input_tokens.map_or(0, count),
                    })
                }),
                _ => None,
            };
            if mapped.is_some() {
                return Ok(mapped);
            }
        }
    }
}

/// Whether Bedrock caches prompts for `model_id` (Amazon Bedrock User Guide, "Prompt
/// caching for faster model inference", its list of supported models): Anthropic's
/// Claude 3.7 Sonnet, Claude 3.5 Haiku and the Claude 4 family and later (Sonnet 4,
/// Opus 4, 4.1, 4.5, Haiku 4.5, …); Amazon Nova Micro, Lite, Pro and Premier. Any
/// inference-profile prefix (`us.`, `global.`) or ARN around the id. Other models
/// refuse a request with a cache point, so none is sent to them. A cache point before
/// the model's minimum prefix (1,024 tokens for Claude Sonnet) is accepted and
/// ignored, per the same page.
pub fn caches_prompts(model_id: &str) -> bool {
    const CACHING: [&str; 6] = [
        "anthropic.claude-3-7-sonnet",
        "anthropic.claude-3-5-haiku",
        "amazon.nova-micro",
        "amazon.nova-lite",
        "amazon.nova-pro",
        "amazon.nova-premier",
    ];
    if CACHING.iter().any(|prefix| model_id.contains(prefix)) {
        return true;
    }
    // `anthropic.claude-<family>-<major>…`, family first from the 4 models on.
    model_id
        .split_once("anthropic.claude-")
        .and_then(|(_, rest)| {
            let (family, version) = rest.split_once('-')?;
            let major: u32 = version.split(['-', ':']).next()?.parse().ok()?;
            Some(matches!(family, "opus" | "sonnet" | "haiku") && major >= 4)
        })
        .unwrap_or(false)
}

/// The standard SDK configuration chain (environment, profiles, the task role), in
/// the configured region, with a 5-second connect timeout.
pub async fn sdk_config(config: &Config) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(config.region.clone()))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .build(),
        )
        .load()
        .await
}

/// A file as Converse takes it: its bytes, in an `image` block, or in a `document`
/// block under its name for Converse.
fn file_block(
    given: &Given,
) -> Result<ContentBlock, aws_smithy_types::error::operation::BuildError> {
    let stored = &given.file.stored;
    let bytes = Blob::new(given.file.bytes.clone());
    Ok(match stored.kind() {
        Kind::Image => ContentBlock::Image(
            ImageBlock::builder()
                .format(ImageFormat::from(stored.format.as_str()))
                .source(ImageSource::Bytes(bytes))
                .build()?,
        ),
        Kind::Document => ContentBlock::Document(
            DocumentBlock::builder()
                .format(DocumentFormat::from(stored.format.as_str()))
                .name(given.converse_name.clone().unwrap_or_default())
                .source(DocumentSource::Bytes(bytes))
                .build()?,
        ),
    })
}

/// The Bedrock runtime client and the model settings it asks with.
#[derive(Debug, Clone)]
pub struct Bedrock {
    client: Client,
    model: ModelConfig,
}

impl Bedrock {
    /// A client from the standard SDK configuration chain, in the configured region.
    pub async fn from_env(config: &Config) -> Self {
        Self::from_sdk(&sdk_config(config).await, config)
    }

    /// A client from an SDK configuration loaded by [`sdk_config`] (shared with the
    /// history's DynamoDB client: one credentials cache). Its endpoint:
    /// `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, else `AWS_ENDPOINT_URL`, else Bedrock's.
    pub fn from_sdk(sdk: &aws_config::SdkConfig, config: &Config) -> Self {
        Self::new(Client::new(sdk), config.model.clone())
    }

    /// A client built elsewhere (tests pass one aimed at the stand-in).
    pub fn new(client: Client, model: ModelConfig) -> Self {
        Self { client, model }
    }

    /// The model asked when a question names none.
    pub fn model_id(&self) -> &str {
        &self.model.model_id
    }

    /// Whether requests to `model` mark cache points (configured, and the model has a
    /// cache).
    pub fn caches_prompts(&self, model: &str) -> bool {
        self.model.prompt_caching && caches_prompts(model)
    }

    /// Asks the model to answer the conversation; returns once Bedrock has accepted
    /// the request and the stream is open. With prompt caching, the system prompt and
    /// the conversation up to its last answer each end with a cache point: what the
    /// next question of the conversation sends again unchanged, so Bedrock reads it
    /// from its cache instead of processing it again (within the cache's 5 minutes:
    /// after a longer pause the write is paid without a read).
    /// `model` is one of the configured choices ([`ModelConfig::choose`]). The files
    /// a user turn names go before its text, each the first time it is named, as
    /// `image` or `document` blocks (Converse wants a text block beside a document);
    /// those `files` does not give were left out.
    pub async fn converse_stream(
        &self,
        conversation: &Conversation,
        model: &str,
        files: &ContextFiles,
    ) -> Result<Answer, BedrockError> {
        let cache = self.caches_prompts(model);
        // A conversation trimmed to the budget starts later with every question: its
        // prefix is never the same twice, and a cache write costs more than plain
        // input (1.25 times for Claude), so only the system prompt is marked.
        let last_answer = conversation
            .turns
            .iter()
            .rposition(|t| t.role == Role::Assistant)
            .filter(|_| conversation.dropped == 0);
        let rejected = |e: aws_smithy_types::error::operation::BuildError| BedrockError::Rejected {
            message: e.to_string(),
        };
        let cache_point = || {
            CachePointBlock::builder()
                .r#type(CachePointType::Default)
                .build()
                .map_err(rejected)
        };
        let mut messages = Vec::with_capacity(conversation.turns.len());
        let mut sent = std::collections::HashSet::new();
        for (i, turn) in conversation.turns.iter().enumerate() {
            let role = match turn.role {
                Role::User => ConversationRole::User,
                Role::Assistant => ConversationRole::Assistant,
            };
            let mut message = Message::builder().role(role);
            for id in &turn.attachments {
                if let Some(given) = files.get(id)
                    && sent.insert(id.as_str())
                {
                    message = message.content(file_block(given).map_err(rejected)?);
                }
            }
            message = message.content(ContentBlock::Text(turn.text.clone()));
            if cache && Some(i) == last_answer {
                message = message.content(ContentBlock::CachePoint(cache_point()?));
            }
            messages.push(message.build().map_err(rejected)?);
        }
        let system = match &self.model.system_prompt {
            None => None,
            Some(prompt) if cache => Some(vec![
                SystemContentBlock::Text(prompt.clone()),
                SystemContentBlock::CachePoint(cache_point()?),
            ]),
            Some(prompt) => Some(vec![SystemContentBlock::Text(prompt.clone())]),
        };
        let inference = InferenceConfiguration::builder()
            .temperature(self.model.temperature)
            .max_tokens(self.model.max_tokens)
            .set_top_p(self.model.top_p_to_send())
            .build();
        let output = self
            .client
            .converse_stream()
            .model_id(model)
            .set_messages(Some(messages))
            .set_system(system)
            .inference_config(inference)
            .send()
            .await
            .map_err(|e| self.reported(model, e.into()))?;
        Ok(Answer {
            receiver: output.stream,
        })
    }

    /// Logs, for the team that runs the chatbot, the refusals only its configuration
    /// can end; the user is told to ask them.
    fn reported(&self, model: &str, error: BedrockError) -> BedrockError {
        match &error {
            BedrockError::SettingsRefused { message } => tracing::warn!(
                model = %model,
                temperature = self.model.temperature,
                top_p = ?self.model.top_p_to_send(),
                max_tokens = self.model.max_tokens,
                bedrock_message = %message,
                "Bedrock refuses this chatbot's model settings: change spec.model of its BedrockChatbot (for a model that takes temperature or topP, not both, leave topP at 1.0)"
            ),
            BedrockError::ModelNotEnabled { message } => tracing::error!(
                model = %model,
                bedrock_message = %message,
                "Bedrock refuses every question until the model is enabled in this AWS account: it needs a one-time AWS Marketplace subscription, which the task role may not make (it may only invoke the model). An AWS administrator enables it once for the account — sends one prompt to the model in the Bedrock console's playground, or creates the model's agreement with the AWS CLI (and, for Anthropic models, submits the use case form once) — then it works within about 15 minutes. See {MODEL_ACCESS_DOC}"
            ),
            BedrockError::AccessDenied { message } => tracing::error!(
                model = %model,
                bedrock_message = %message,
                "Bedrock denies this chatbot's task role the model: check that the task role may invoke it (bedrock:InvokeModel and InvokeModelWithResponseStream on this model and, for an inference profile, on its regions), and no permissions boundary or SCP denies it"
            ),
            _ => {}
        }
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_bedrock_errors_for_people() {
        let e = BedrockError::from_service(Some("ThrottlingException"), Some("slow down"));
        assert_eq!(e.kind(), ErrorKind::Throttled);
        assert_eq!(e.retry_after(), Some(RETRY_AFTER_SECONDS));
        let e = BedrockError::from_service(
            Some("ValidationException"),
            Some("Input is too long for requested model."),
        );
        assert_eq!(e.kind(), ErrorKind::InputTooLong);
        let e = BedrockError::from_service(Some("ValidationException"), Some("bad role"));
        assert_eq!(e.kind(), ErrorKind::BedrockRejected);
        assert!(matches!(e, BedrockError::Rejected { .. }));
        let e = BedrockError::from_service(
            Some("ValidationException"),
            Some(
                "The model returned the following errors: `temperature` and `top_p` cannot both be specified for this model. Please use only one.",
            ),
        );
        assert_eq!(e.kind(), ErrorKind::BedrockRejected);
        assert!(matches!(e, BedrockError::SettingsRefused { .. }), "{e:?}");
        assert!(e.to_string().contains("cannot both be specified"), "{e}");
        let e = BedrockError::from_service(Some("AccessDeniedException"), None);
        assert_eq!(e.kind(), ErrorKind::ModelAccess);
        assert!(e.to_string().contains("model access is not enabled"));
        let e = BedrockError::from_service(
            Some("AccessDeniedException"),
            Some(
                "Model access is denied due to IAM user or service role is not authorized to perform the required AWS Marketplace actions (aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe) to enable access to this model.",
            ),
        );
        assert_eq!(e.kind(), ErrorKind::ModelNotEnabled);
        assert!(e.to_string().contains(MODEL_ACCESS_DOC), "{e}");
        assert!(!e.to_string().contains("aws-marketplace:"), "{e}");
        let e = BedrockError::from_service(Some("ModelStreamErrorException"), Some("x"));
        assert_eq!(e.kind(), ErrorKind::ModelFailed);
    }
}
