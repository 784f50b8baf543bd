//! The chat app's configuration, read from the environment the ECS task definition
//! sets. The operator writes these variables (see the controller's task definition),
//! so this module is the contract between the two.

use std::fmt;

/// AWS region of the Bedrock runtime endpoint (standard AWS SDK variable).
pub const ENV_REGION: &str = "AWS_REGION";
/// Bedrock model or inference-profile id to converse with.
pub const ENV_MODEL_ID: &str = "CHATBOT_MODEL_ID";
/// Sampling temperature, 0 to 1.
pub const ENV_TEMPERATURE: &str = "CHATBOT_TEMPERATURE";
/// Most tokens one answer may have.
pub const ENV_MAX_TOKENS: &str = "CHATBOT_MAX_TOKENS";
/// Nucleus sampling, 0 to 1. Sent to Bedrock only when it is not 1.0 (the neutral
/// value, the CRD's default): Claude Opus 4.1, Sonnet 4.5, Haiku 4.5 and later refuse
/// `topP` and `temperature` in one request, and the temperature is always sent.
pub const ENV_TOP_P: &str = "CHATBOT_TOP_P";

/// The `topP` that changes nothing (every token is a candidate), so is not sent.
pub const NEUTRAL_TOP_P: f32 = 1.0;
/// Optional system prompt.
pub const ENV_SYSTEM_PROMPT: &str = "CHATBOT_SYSTEM_PROMPT";
/// ARN of the load balancer whose `x-amzn-oidc-data` tokens are trusted (the token's
/// `signer` claim must equal it).
pub const ENV_ALB_ARN: &str = "CHATBOT_ALB_ARN";
/// Public URL users reach the chatbot at, `https://<hostname>`.
pub const ENV_PUBLIC_URL: &str = "CHATBOT_PUBLIC_URL";
/// Base URL of the Cognito hosted UI, `https://<prefix>.auth.<region>.amazoncognito.com`,
/// for signing out.
pub const ENV_COGNITO_DOMAIN_URL: &str = "CHATBOT_COGNITO_DOMAIN_URL";
/// Id of the Cognito app client, for signing out.
pub const ENV_COGNITO_CLIENT_ID: &str = "CHATBOT_COGNITO_CLIENT_ID";
/// Exact `iss` the ALB token must carry: the user pool's issuer,
/// `https://cognito-idp.<region>.amazonaws.com/<user pool id>`. Without it any pool
/// of the region would do, and a token of another team's pool signed by the same
/// load balancer would pass.
pub const ENV_TOKEN_ISSUER: &str = "CHATBOT_TOKEN_ISSUER";

/// Name of the DynamoDB table that keeps conversations ([`crate::history_table`]).
/// Set by the operator when `spec.history.enabled`; without it the app keeps no
/// history on the server.
pub const ENV_HISTORY_TABLE: &str = "CHATBOT_HISTORY_TABLE";
/// Days each saved item is kept after it is written; 0 keeps it for ever. Set by the
/// operator with [`ENV_HISTORY_TABLE`] (optional; default 90).
pub const ENV_HISTORY_RETENTION_DAYS: &str = "CHATBOT_HISTORY_RETENTION_DAYS";

/// The S3 bucket that keeps the files users attach to their questions: one per
/// platform, made by the operator (encrypted, public access blocked, TLS only,
/// expired by lifecycle rules). Without it attachments are off.
pub const ENV_ATTACHMENTS_BUCKET: &str = "CHATBOT_ATTACHMENTS_BUCKET";
/// This chatbot's prefix in [`ENV_ATTACHMENTS_BUCKET`], `<namespace>/<name>/`: the
/// app keeps each user's files under `<prefix><user>/`, and the task role may touch
/// nothing outside the prefix. Required with the bucket.
pub const ENV_ATTACHMENTS_PREFIX: &str = "CHATBOT_ATTACHMENTS_PREFIX";

/// The variables the operator adds when the chatbot takes attachments.
pub const OPERATOR_SET_FOR_ATTACHMENTS: [&str; 2] =
    [ENV_ATTACHMENTS_BUCKET, ENV_ATTACHMENTS_PREFIX];

/// Longest [`ENV_ATTACHMENTS_PREFIX`]: S3 keys are at most 1,024 bytes, and a user's
/// part and an id follow it.
pub const MAX_ATTACHMENTS_PREFIX_BYTES: usize = 512;

/// The models a user may choose from, a JSON list `[{"id": "…", "label": "…"}]` (1 to
/// [`MAX_MODEL_CHOICES`]; ids unique; labels 1 to 60 characters), the default first:
/// its id is [`ENV_MODEL_ID`]'s. Set by the operator when a chatbot offers several
/// models; without it the only choice is [`ENV_MODEL_ID`], labelled with its id.
pub const ENV_MODELS: &str = "CHATBOT_MODELS";

/// Most models one chatbot offers.
pub const MAX_MODEL_CHOICES: usize = 10;

/// `auto` (the default): the stable start of each request (the system prompt, and the
/// conversation up to the last answer) is marked for Bedrock's prompt cache when the
/// model has one ([`crate::bedrock::caches_prompts`]); `off`: never.
pub const ENV_PROMPT_CACHING: &str = "CHATBOT_PROMPT_CACHING";

/// The variables the operator adds when the chatbot keeps history on the server.
pub const OPERATOR_SET_FOR_HISTORY: [&str; 2] = [ENV_HISTORY_TABLE, ENV_HISTORY_RETENTION_DAYS];

/// Days of history kept when [`ENV_HISTORY_RETENTION_DAYS`] is not set.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;

/// Prefix of every Cognito user pool issuer.
pub const COGNITO_ISSUER_PREFIX: &str = "https://cognito-idp.";

/// Every variable the operator sets, in the order it sets them.
pub const OPERATOR_SET: [&str; 11] = [
    ENV_REGION,
    ENV_MODEL_ID,
    ENV_TEMPERATURE,
    ENV_MAX_TOKENS,
    ENV_TOP_P,
    ENV_SYSTEM_PROMPT,
    ENV_ALB_ARN,
    ENV_PUBLIC_URL,
    ENV_COGNITO_DOMAIN_URL,
    ENV_COGNITO_CLIENT_ID,
    ENV_TOKEN_ISSUER,
];

/// Model settings sent with every ConverseStream call.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// Model or inference-profile id.
    pub model_id: String,
    /// Sampling temperature.
    pub temperature: f32,
    /// Most tokens in one answer.
    pub max_tokens: i32,
    /// Nucleus sampling.
    pub top_p: f32,
    /// Instructions before every conversation.
    pub system_prompt: Option<String>,
    /// Whether to mark cache points for models Bedrock caches prompts of.
    pub prompt_caching: bool,
    /// The models a user may choose, the default ([`ModelConfig::model_id`]) first.
    pub choices: Vec<ModelChoice>,
}

/// A model a user may choose.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelChoice {
    /// Model or inference-profile id.
    pub id: String,
    /// What the page calls it.
    pub label: String,
    /// What its tokens cost, when the team gave it: answers and conversations then
    /// show an estimated cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Pricing>,
}

/// A model's prices per million tokens, as the team's price list says (AWS's
/// on-demand prices, or what its agreement gives): the chatbot only multiplies.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Pricing {
    /// ISO 4217 code, e.g. `USD`; one for every model of a chatbot.
    pub currency: String,
    /// Per million prompt tokens.
    pub input_per_million: f64,
    /// Per million answer tokens.
    pub output_per_million: f64,
    /// Per million prompt tokens read from the prompt cache; the input price when
    /// not given (so the estimate errs high).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_per_million: Option<f64>,
    /// Per million prompt tokens written to the prompt cache; the input price when
    /// not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_per_million: Option<f64>,
}

/// The most a price per million tokens may be (a typo guard).
pub const MAX_PRICE_PER_MILLION: f64 = 10_000.0;

impl Pricing {
    /// Millionths of the currency that `tokens` (input, output, cache read, cache
    /// written) cost, rounded up.
    pub fn cost_micros(&self, tokens: [u64; 4]) -> u64 {
        let [input, output, cache_read, cache_write] = tokens;
        let count = |n: u64| n as f64;
        // Tokens × price per million = millionths of the currency.
        let micros = count(input) * self.input_per_million
            + count(output) * self.output_per_million
            + count(cache_read)
                * self
                    .cache_read_per_million
                    .unwrap_or(self.input_per_million)
            + count(cache_write)
                * self
                    .cache_write_per_million
                    .unwrap_or(self.input_per_million);
        // Finite and non-negative (checked when read), so the cast is exact enough.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let micros = micros.ceil() as u64;
        micros
    }

    fn problem(&self) -> Option<String> {
        let prices = [
            Some(self.input_per_million),
            Some(self.output_per_million),
            self.cache_read_per_million,
            self.cache_write_per_million,
        ];
        if prices
            .into_iter()
            .flatten()
            .any(|p| !p.is_finite() || !(0.0..=MAX_PRICE_PER_MILLION).contains(&p))
        {
            return Some(format!(
                "prices per million tokens must be between 0 and {MAX_PRICE_PER_MILLION}"
            ));
        }
        let currency = self.currency.as_bytes();
        (currency.len() != 3 || !currency.iter().all(u8::is_ascii_uppercase)).then(|| {
            format!(
                "currency must be an ISO 4217 code such as USD, not {:?}",
                self.currency
            )
        })
    }
}

impl ModelConfig {
    /// The `topP` to send: none at the neutral 1.0, so that models which take only
    /// one of `temperature` and `topP` work with the default settings. A team that
    /// sets both for such a model gets Bedrock's refusal, in its words.
    pub fn top_p_to_send(&self) -> Option<f32> {
        // Parsed from the text the operator writes ("1", "1.0"): exactly 1.0 or not.
        (self.top_p.to_bits() != NEUTRAL_TOP_P.to_bits()).then_some(self.top_p)
    }

    /// The model a question asks: `wanted` if this chatbot offers it, the default
    /// when none is named.
    pub fn choose(&self, wanted: Option<&str>) -> Result<&ModelChoice, String> {
        let id = wanted.unwrap_or(&self.model_id);
        self.choices
            .iter()
            .find(|choice| choice.id == id)
            .ok_or_else(|| format!("this chatbot does not offer the model {id:?}"))
    }

    /// The currency of the chatbot's prices, when it has any.
    pub fn currency(&self) -> Option<&str> {
        self.choices
            .iter()
            .find_map(|c| c.pricing.as_ref().map(|p| p.currency.as_str()))
    }
}

/// The choices [`ENV_MODELS`] lists, checked against the default model.
fn model_choices(listed: Option<String>, default: &str) -> Result<Vec<ModelChoice>, ConfigError> {
    let problem = |problem: String| ConfigError {
        name: ENV_MODELS,
        problem,
    };
    let Some(listed) = listed else {
        return Ok(vec![ModelChoice {
            id: default.to_string(),
            label: default.to_string(),
            pricing: None,
        }]);
    };
    let choices: Vec<ModelChoice> = serde_json::from_str(&listed).map_err(|e| {
        problem(format!(
            "must be a JSON list of {{\"id\", \"label\"}} objects: {e}"
        ))
    })?;
    if choices.is_empty() || choices.len() > MAX_MODEL_CHOICES {
        return Err(problem(format!(
            "must list 1 to {MAX_MODEL_CHOICES} models, not {}",
            choices.len()
        )));
    }
    if choices[0].id != default {
        return Err(problem(format!(
            "must list the default model {default:?} ({ENV_MODEL_ID}) first"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for choice in &choices {
        if choice.id.trim().is_empty() || !seen.insert(choice.id.as_str()) {
            return Err(problem(format!(
                "model ids must be unique and not blank: {:?}",
                choice.id
            )));
        }
        let label = choice.label.trim();
        if label.is_empty() || label.chars().count() > 60 {
            return Err(problem(format!(
                "the label of {:?} must be 1 to 60 characters",
                choice.id
            )));
        }
        if let Some(wrong) = choice.pricing.as_ref().and_then(Pricing::problem) {
            return Err(problem(format!("the pricing of {:?}: {wrong}", choice.id)));
        }
    }
    let mut currencies = choices
        .iter()
        .filter_map(|c| c.pricing.as_ref().map(|p| p.currency.as_str()));
    if let Some(first) = currencies.next()
        && let Some(other) = currencies.find(|c| *c != first)
    {
        return Err(problem(format!(
            "every model's pricing must be in one currency, not {first} and {other}"
        )));
    }
    Ok(choices)
}

/// Where sign-in comes from and where sign-out goes.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthConfig {
    /// The ALB whose tokens are trusted.
    pub alb_arn: String,
    /// `https://<hostname>`.
    pub public_url: String,
    /// Cognito hosted UI base URL.
    pub cognito_domain_url: String,
    /// Cognito app client id.
    pub cognito_client_id: String,
    /// The exact token issuer (the user pool's issuer URL).
    pub token_issuer: String,
}

/// Address and port to listen on (optional; default `0.0.0.0:8501`).
pub const ENV_LISTEN_ADDR: &str = "CHATBOT_LISTEN_ADDR";
/// Base URL of the ALB's public signing keys (optional; default
/// `https://public-keys.auth.elb.<region>.amazonaws.com`). Tests point it at a local
/// key server.
pub const ENV_ALB_KEYS_URL: &str = "CHATBOT_ALB_KEYS_URL";
/// Questions one user may ask per minute (optional; default 20).
pub const ENV_RATE_PER_MINUTE: &str = "CHATBOT_RATE_LIMIT_PER_MINUTE";
/// Answers one user may have streaming at once (optional; default 2).
pub const ENV_MAX_STREAMS_PER_USER: &str = "CHATBOT_MAX_STREAMS_PER_USER";
/// Longest message accepted, in characters (optional; default 32000).
pub const ENV_MAX_MESSAGE_CHARS: &str = "CHATBOT_MAX_MESSAGE_CHARS";
/// Characters of history sent to the model; older turns are dropped to fit
/// (optional; default 200000, about 50000 tokens).
pub const ENV_HISTORY_BUDGET_CHARS: &str = "CHATBOT_HISTORY_BUDGET_CHARS";
/// MiB of recently answered conversations kept in memory, so that a next question
/// is answered without reading its conversation first (optional; default 8; 0 keeps
/// none). Only with history on.
pub const ENV_HISTORY_CACHE_MIB: &str = "CHATBOT_HISTORY_CACHE_MIB";
/// [`ENV_HISTORY_CACHE_MIB`] when not set.
pub const DEFAULT_HISTORY_CACHE_MIB: usize = 8;
/// Seconds running answers may take to finish after SIGTERM (optional; default 25,
/// under ECS's 30-second stop timeout).
pub const ENV_SHUTDOWN_GRACE_SECONDS: &str = "CHATBOT_SHUTDOWN_GRACE_SECONDS";
/// Seconds an answer waits for a browser that stopped reading before it is ended,
/// its Bedrock stream closed and its stream slot freed (optional; default 30).
pub const ENV_CLIENT_STALL_SECONDS: &str = "CHATBOT_CLIENT_STALL_SECONDS";

/// Variables the operator does not set; each has a default.
pub const OPTIONAL: [&str; 10] = [
    ENV_LISTEN_ADDR,
    ENV_ALB_KEYS_URL,
    ENV_RATE_PER_MINUTE,
    ENV_MAX_STREAMS_PER_USER,
    ENV_MAX_MESSAGE_CHARS,
    ENV_HISTORY_BUDGET_CHARS,
    ENV_HISTORY_CACHE_MIB,
    ENV_SHUTDOWN_GRACE_SECONDS,
    ENV_CLIENT_STALL_SECONDS,
    ENV_PROMPT_CACHING,
];

/// How the server runs: where it listens, where keys come from, its limits.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    /// `host:port` to listen on.
    pub listen_addr: String,
    /// Base URL of the ALB public keys, without a trailing slash.
    pub alb_keys_url: String,
    /// Per-user limits.
    pub limits: Limits,
    /// Seconds running answers get to finish on shutdown.
    pub shutdown_grace_seconds: u64,
    /// Seconds an answer waits for a browser that does not read before ending.
    pub client_stall_seconds: u64,
}

/// Per-user and per-message limits.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Questions per user per minute.
    pub requests_per_minute: u32,
    /// Concurrent answers per user.
    pub streams_per_user: u32,
    /// Longest message, in characters.
    pub max_message_chars: usize,
    /// Characters of history sent to the model.
    pub history_budget_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            requests_per_minute: 20,
            streams_per_user: 2,
            max_message_chars: 32_000,
            history_budget_chars: 200_000,
        }
    }
}

/// Everything the chat app reads from its environment.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// AWS region.
    pub region: String,
    /// Model settings.
    pub model: ModelConfig,
    /// Authentication settings.
    pub auth: AuthConfig,
    /// Server settings (all optional variables).
    pub server: ServerConfig,
    /// Where conversations are kept; `None` keeps none on the server.
    pub history: Option<HistoryConfig>,
    /// Where attached files are kept; `None`: questions take no attachments.
    pub attachments: Option<AttachmentsConfig>,
}

/// The bucket and prefix of this chatbot's attachments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentsConfig {
    /// S3 bucket name.
    pub bucket: String,
    /// This chatbot's prefix in it, ending with `/`.
    pub prefix: String,
}

/// The conversation history table and how long its items are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryConfig {
    /// DynamoDB table name.
    pub table: String,
    /// Days each item is kept after it is written; 0 keeps it for ever.
    pub retention_days: u32,
    /// Bytes of recently answered conversations kept in memory (0: none).
    pub cache_bytes: usize,
}

/// Values used for the operator's variables when the chatbot runs locally with a
/// development identity: there is no ALB or Cognito, and the model settings are the
/// CRD's defaults.
pub fn local_default(name: &str) -> Option<&'static str> {
    Some(match name {
        ENV_REGION => "us-west-2",
        ENV_MODEL_ID => "us.anthropic.claude-sonnet-4-20250514-v1:0",
        ENV_TEMPERATURE => "0.9",
        ENV_MAX_TOKENS => "2000",
        ENV_TOP_P => "1.0",
        ENV_ALB_ARN => "arn:aws:elasticloadbalancing:local:000000000000:loadbalancer/app/none/0",
        ENV_PUBLIC_URL => "https://localhost",
        ENV_COGNITO_DOMAIN_URL => "https://localhost",
        ENV_COGNITO_CLIENT_ID => "local",
        ENV_TOKEN_ISSUER => "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_local",
        _ => return None,
    })
}

/// A variable is missing or unusable; the message names it and says what is wrong.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("environment variable {name}: {problem}")]
pub struct ConfigError {
    /// The variable.
    pub name: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl Config {
    /// Reads the configuration through `lookup` (the process environment in
    /// production, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(&lookup);
        // Read in the operator's order, so the first one missing is named.
        let region = vars.required(ENV_REGION)?;
        let model_id = vars.required(ENV_MODEL_ID)?;
        Ok(Self {
            region,
            model: ModelConfig {
                choices: model_choices(vars.optional(ENV_MODELS), &model_id)?,
                model_id,
                temperature: vars.fraction(ENV_TEMPERATURE)?,
                max_tokens: vars.parsed(ENV_MAX_TOKENS, |n: &i32| {
                    (1..=64_000)
                        .contains(n)
                        .then_some(())
                        .ok_or("must be between 1 and 64000")
                })?,
                top_p: vars.fraction(ENV_TOP_P)?,
                system_prompt: lookup(ENV_SYSTEM_PROMPT).filter(|s| !s.trim().is_empty()),
                prompt_caching: match vars.optional(ENV_PROMPT_CACHING).as_deref() {
                    None | Some("auto") => true,
                    Some("off") => false,
                    Some(other) => {
                        return Err(ConfigError {
                            name: ENV_PROMPT_CACHING,
                            problem: format!("must be auto or off, not {other:?}"),
                        });
                    }
                },
            },
            auth: AuthConfig {
                alb_arn: vars.prefixed(ENV_ALB_ARN, "arn:")?,
                public_url: vars.prefixed(ENV_PUBLIC_URL, "https://")?,
                cognito_domain_url: vars.prefixed(ENV_COGNITO_DOMAIN_URL, "https://")?,
                cognito_client_id: vars.required(ENV_COGNITO_CLIENT_ID)?,
                token_issuer: vars.prefixed(ENV_TOKEN_ISSUER, COGNITO_ISSUER_PREFIX)?,
            },
            server: ServerConfig::from_vars(&vars)?,
            history: HistoryConfig::from_vars(&vars)?,
            attachments: AttachmentsConfig::from_vars(&vars)?,
        })
    }
}

impl ServerConfig {
    fn from_vars<F: Fn(&str) -> Option<String>>(vars: &Vars<'_, F>) -> Result<Self, ConfigError> {
        let region = vars.optional(ENV_REGION).unwrap_or_default();
        let defaults = Limits::default();
        let positive = |n: &u64| (*n > 0).then_some(()).ok_or("must be greater than 0");
        let narrow = |name: &'static str, n: u64| {
            u32::try_from(n).map_err(|_| problem(name, "is too large"))
        };
        let size = |name: &'static str, n: u64| {
            usize::try_from(n).map_err(|_| problem(name, "is too large"))
        };
        Ok(Self {
            listen_addr: vars
                .optional(ENV_LISTEN_ADDR)
                .unwrap_or_else(|| "0.0.0.0:8501".into()),
            alb_keys_url: vars
                .optional(ENV_ALB_KEYS_URL)
                .unwrap_or_else(|| format!("https://public-keys.auth.elb.{region}.amazonaws.com"))
                .trim_end_matches('/')
                .to_string(),
            limits: Limits {
                requests_per_minute: match vars.optional_parsed(ENV_RATE_PER_MINUTE, positive)? {
                    Some(n) => narrow(ENV_RATE_PER_MINUTE, n)?,
                    None => defaults.requests_per_minute,
                },
                streams_per_user: match vars.optional_parsed(ENV_MAX_STREAMS_PER_USER, positive)? {
                    Some(n) => narrow(ENV_MAX_STREAMS_PER_USER, n)?,
                    None => defaults.streams_per_user,
                },
                max_message_chars: match vars.optional_parsed(ENV_MAX_MESSAGE_CHARS, positive)? {
                    Some(n) => size(ENV_MAX_MESSAGE_CHARS, n)?,
                    None => defaults.max_message_chars,
                },
                history_budget_chars: match vars
                    .optional_parsed(ENV_HISTORY_BUDGET_CHARS, positive)?
                {
                    Some(n) => size(ENV_HISTORY_BUDGET_CHARS, n)?,
                    None => defaults.history_budget_chars,
                },
            },
            shutdown_grace_seconds: vars
                .optional_parsed(ENV_SHUTDOWN_GRACE_SECONDS, |_: &u64| Ok(()))?
                .unwrap_or(25),
            client_stall_seconds: vars
                .optional_parsed(ENV_CLIENT_STALL_SECONDS, positive)?
                .unwrap_or(30),
        })
    }
}

impl HistoryConfig {
    fn from_vars<F: Fn(&str) -> Option<String>>(
        vars: &Vars<'_, F>,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(table) = vars.optional(ENV_HISTORY_TABLE) else {
            return Ok(None);
        };
        // DynamoDB's limit: 3 to 255 of [A-Za-z0-9_.-].
        let valid = (3..=255).contains(&table.len())
            && table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return Err(problem(
                ENV_HISTORY_TABLE,
                "must be a DynamoDB table name: 3 to 255 letters, digits, '_', '-' or '.'",
            ));
        }
        // As the CRD: at most ten years.
        let retention_days = vars
            .optional_parsed(ENV_HISTORY_RETENTION_DAYS, |d: &u32| {
                (*d <= 3650)
                    .then_some(())
                    .ok_or("must be between 0 and 3650")
            })?
            .unwrap_or(DEFAULT_RETENTION_DAYS);
        let cache_mib = vars
            .optional_parsed(ENV_HISTORY_CACHE_MIB, |m: &usize| {
                (*m <= 1024)
                    .then_some(())
                    .ok_or("must be between 0 and 1024")
            })?
            .unwrap_or(DEFAULT_HISTORY_CACHE_MIB);
        Ok(Some(Self {
            table,
            retention_days,
            cache_bytes: cache_mib << 20,
        }))
    }
}

impl AttachmentsConfig {
    fn from_vars<F: Fn(&str) -> Option<String>>(
        vars: &Vars<'_, F>,
    ) -> Result<Option<Self>, ConfigError> {
        let (bucket, prefix) = match (
            vars.optional(ENV_ATTACHMENTS_BUCKET),
            vars.optional(ENV_ATTACHMENTS_PREFIX),
        ) {
            (None, None) => return Ok(None),
            (None, Some(_)) => {
                return Err(problem(
                    ENV_ATTACHMENTS_PREFIX,
                    format!("is set without {ENV_ATTACHMENTS_BUCKET}"),
                ));
            }
            (Some(_), None) => return Err(problem(ENV_ATTACHMENTS_PREFIX, "is not set")),
            (Some(bucket), Some(prefix)) => (bucket, prefix),
        };
        // S3's rule for general purpose buckets: 3 to 63 of [a-z0-9.-], starting and
        // ending with a letter or digit.
        let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && edge(bucket.as_bytes().first())
            && edge(bucket.as_bytes().last());
        if !bucket_ok {
            return Err(problem(
                ENV_ATTACHMENTS_BUCKET,
                "must be an S3 bucket name: 3 to 63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit",
            ));
        }
        // The operator's `<namespace>/<name>/`: plain segments, each followed by `/`,
        // so the app's keys stay inside what the task role may touch.
        let segments_ok = prefix.strip_suffix('/').is_some_and(|inner| {
            inner.split('/').all(|segment| {
                !segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            })
        });
        if !segments_ok || prefix.len() > MAX_ATTACHMENTS_PREFIX_BYTES {
            return Err(problem(
                ENV_ATTACHMENTS_PREFIX,
                format!(
                    "must be segments of letters, digits, '-', '_' or '.' each ending with '/', like \"team-a/chatbot/\" (at most {MAX_ATTACHMENTS_PREFIX_BYTES} bytes)"
                ),
            ));
        }
        Ok(Some(Self { bucket, prefix }))
    }
}

struct Vars<'a, F>(&'a F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        match (self.0)(name) {
            Some(value) if !value.trim().is_empty() => Ok(value),
            _ => Err(problem(name, "is not set")),
        }
    }

    fn optional(&self, name: &'static str) -> Option<String> {
        (self.0)(name).filter(|value| !value.trim().is_empty())
    }

    fn optional_parsed<T>(
        &self,
        name: &'static str,
        check: impl Fn(&T) -> Result<(), &'static str>,
    ) -> Result<Option<T>, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: fmt::Display,
    {
        if self.optional(name).is_none() {
            return Ok(None);
        }
        self.parsed(name, check).map(Some)
    }

    fn parsed<T>(
        &self,
        name: &'static str,
        check: impl Fn(&T) -> Result<(), &'static str>,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: fmt::Display,
    {
        let raw = self.required(name)?;
        let value = raw
            .trim()
            .parse::<T>()
            .map_err(|e| problem(name, format!("{raw:?} is not a number ({e})")))?;
        check(&value).map_err(|why| problem(name, why))?;
        Ok(value)
    }

    fn fraction(&self, name: &'static str) -> Result<f32, ConfigError> {
        self.parsed(name, |x: &f32| {
            (0.0..=1.0)
                .contains(x)
                .then_some(())
                .ok_or("must be between 0 and 1")
        })
    }

    fn prefixed(&self, name: &'static str, prefix: &str) -> Result<String, ConfigError> {
        let value = self.required(name)?;
        if value.starts_with(prefix) {
            Ok(value)
        } else {
            Err(problem(name, format!("must start with {prefix:?}")))
        }
    }
}

fn problem(name: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        name,
        problem: problem.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn complete() -> HashMap<&'static str, String> {
        HashMap::from([
            (ENV_REGION, "us-west-2".to_string()),
            (
                ENV_MODEL_ID,
                "us.anthropic.claude-sonnet-4-20250514-v1:0".into(),
            ),
            (ENV_TEMPERATURE, "0.9".into()),
            (ENV_MAX_TOKENS, "2000".into()),
            (ENV_TOP_P, "1.0".into()),
            (
                ENV_ALB_ARN,
                "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/x/1".into(),
            ),
            (ENV_PUBLIC_URL, "https://chat.example.com".into()),
            (
                ENV_COGNITO_DOMAIN_URL,
                "https://p.auth.us-west-2.amazoncognito.com".into(),
            ),
            (ENV_COGNITO_CLIENT_ID, "abc".into()),
            (
                ENV_TOKEN_ISSUER,
                "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_AbC".into(),
            ),
        ])
    }

    fn read(vars: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn reads_a_complete_environment() {
        let config = read(&complete()).unwrap();
        assert_eq!(config.model.max_tokens, 2000);
        assert!((config.model.temperature - 0.9).abs() < 1e-6);
        assert_eq!(config.model.system_prompt, None);
        assert_eq!(config.auth.public_url, "https://chat.example.com");
        assert_eq!(config.server.listen_addr, "0.0.0.0:8501");
        assert_eq!(
            config.server.alb_keys_url,
            "https://public-keys.auth.elb.us-west-2.amazonaws.com"
        );
        assert_eq!(config.server.limits, Limits::default());
        assert_eq!(config.server.shutdown_grace_seconds, 25);
        assert_eq!(config.server.client_stall_seconds, 30);
        assert_eq!(config.history, None);
    }

    #[test]
    fn the_models_offered_start_with_the_default() {
        let mut vars = complete();
        let default = vars[ENV_MODEL_ID].clone();
        let only = read(&vars).unwrap().model;
        assert_eq!(only.choices.len(), 1);
        assert_eq!(only.choices[0].id, default);
        assert_eq!(only.choose(None).unwrap().id, default);
        assert!(only.choose(Some("another")).is_err());

        let listed = format!(
            r#"[{{"id": "{default}", "label": "Claude Sonnet 4"}}, {{"id": "us.amazon.nova-pro-v1:0", "label": "Nova Pro"}}]"#
        );
        vars.insert(ENV_MODELS, listed);
        let two = read(&vars).unwrap().model;
        assert_eq!(two.choices[1].label, "Nova Pro");
        assert_eq!(
            two.choose(Some("us.amazon.nova-pro-v1:0")).unwrap().label,
            "Nova Pro"
        );
        assert!(two.choose(Some("meta.llama3-70b-instruct-v1:0")).is_err());

        for bad in [
            "not json".to_string(),
            "[]".to_string(),
            r#"[{"id": "us.amazon.nova-pro-v1:0", "label": "Nova first"}]"#.to_string(),
            format!(
                r#"[{{"id": "{default}", "label": "A"}}, {{"id": "{default}", "label": "B"}}]"#
            ),
            format!(r#"[{{"id": "{default}", "label": " "}}]"#),
            format!(r#"[{{"id": "{default}", "label": "{}"}}]"#, "x".repeat(61)),
            format!(r#"[{{"id": "{default}", "label": "A", "price": 1}}]"#),
            format!(
                r#"[{{"id": "{default}", "label": "A", "pricing": {{"currency": "usd", "inputPerMillion": 3, "outputPerMillion": 15}}}}]"#
            ),
            format!(
                r#"[{{"id": "{default}", "label": "A", "pricing": {{"currency": "USD", "inputPerMillion": -3, "outputPerMillion": 15}}}}]"#
            ),
            format!(
                r#"[{{"id": "{default}", "label": "A", "pricing": {{"currency": "USD", "inputPerMillion": 3, "outputPerMillion": 15}}}}, {{"id": "b.c", "label": "B", "pricing": {{"currency": "EUR", "inputPerMillion": 1, "outputPerMillion": 2}}}}]"#
            ),
            format!(
                "[{}]",
                (0..11)
                    .map(|i| {
                        let id = if i == 0 {
                            default.clone()
                        } else {
                            format!("{default}{i}")
                        };
                        format!(r#"{{"id": "{id}", "label": "M{i}"}}"#)
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ] {
            vars.insert(ENV_MODELS, bad.clone());
            assert_eq!(read(&vars).unwrap_err().name, ENV_MODELS, "{bad}");
        }
    }

    #[test]
    fn prices_multiply_tokens_and_cache_reads_cost_the_input_price_unless_given() {
        let mut pricing = Pricing {
            currency: "USD".into(),
            input_per_million: 3.0,
            output_per_million: 15.0,
            cache_read_per_million: None,
            cache_write_per_million: None,
        };
        // 1,000 in at $3/M = 3,000 µ$; 100 out at $15/M = 1,500 µ$; 2,000 read at $3/M.
        assert_eq!(
            pricing.cost_micros([1_000, 100, 2_000, 0]),
            3_000 + 1_500 + 6_000
        );
        pricing.cache_read_per_million = Some(0.3);
        pricing.cache_write_per_million = Some(3.75);
        assert_eq!(
            pricing.cost_micros([1_000, 100, 2_000, 1_000]),
            3_000 + 1_500 + 600 + 3_750
        );
        // Rounded up: a single token is never free.
        assert_eq!(pricing.cost_micros([1, 0, 0, 0]), 3);
        assert_eq!(pricing.cost_micros([0, 0, 1, 0]), 1);
    }

    #[test]
    fn prompt_caching_is_on_unless_switched_off() {
        let mut vars = complete();
        assert!(read(&vars).unwrap().model.prompt_caching);
        vars.insert(ENV_PROMPT_CACHING, "off".into());
        assert!(!read(&vars).unwrap().model.prompt_caching);
        vars.insert(ENV_PROMPT_CACHING, "auto".into());
        assert!(read(&vars).unwrap().model.prompt_caching);
        vars.insert(ENV_PROMPT_CACHING, "always".into());
        let error = read(&vars).unwrap_err();
        assert_eq!(error.name, ENV_PROMPT_CACHING);
        assert!(error.problem.contains("auto or off"), "{error}");
    }

    #[test]
    fn reads_the_history_table_and_its_retention() {
        let mut vars = complete();
        vars.insert(ENV_HISTORY_TABLE, "bedrock-chatbot-team-a-history".into());
        let history = read(&vars).unwrap().history.unwrap();
        assert_eq!(history.table, "bedrock-chatbot-team-a-history");
        assert_eq!(history.retention_days, DEFAULT_RETENTION_DAYS);

        vars.insert(ENV_HISTORY_RETENTION_DAYS, "0".into());
        assert_eq!(read(&vars).unwrap().history.unwrap().retention_days, 0);

        vars.insert(ENV_HISTORY_RETENTION_DAYS, "3651".into());
        assert_eq!(read(&vars).unwrap_err().name, ENV_HISTORY_RETENTION_DAYS);

        vars.insert(ENV_HISTORY_RETENTION_DAYS, "30".into());
        for bad in ["ab", "team a", "a/b"] {
            vars.insert(ENV_HISTORY_TABLE, bad.into());
            assert_eq!(read(&vars).unwrap_err().name, ENV_HISTORY_TABLE, "{bad}");
        }
    }

    #[test]
    fn reads_the_attachments_bucket_and_prefix_together() {
        let mut vars = complete();
        assert_eq!(read(&vars).unwrap().attachments, None);
        vars.insert(
            ENV_ATTACHMENTS_BUCKET,
            "bcb-shared-1a2b3c-123456789012-us-west-2".into(),
        );
        assert_eq!(read(&vars).unwrap_err().name, ENV_ATTACHMENTS_PREFIX);
        vars.insert(ENV_ATTACHMENTS_PREFIX, "team-a/chatbot/".into());
        let attachments = read(&vars).unwrap().attachments.unwrap();
        assert_eq!(
            attachments.bucket,
            "bcb-shared-1a2b3c-123456789012-us-west-2"
        );
        assert_eq!(attachments.prefix, "team-a/chatbot/");

        for bad in ["Bucket", "ab", "-bcb", "bcb-", "bcb_x", &"b".repeat(64)] {
            vars.insert(ENV_ATTACHMENTS_BUCKET, bad.into());
            assert_eq!(
                read(&vars).unwrap_err().name,
                ENV_ATTACHMENTS_BUCKET,
                "{bad}"
            );
        }
        vars.insert(ENV_ATTACHMENTS_BUCKET, "bcb-shared".into());
        for bad in [
            "team-a/chatbot",
            "/team-a/",
            "team-a//chatbot/",
            "team-a/../team-b/",
            "team a/",
            "team-a/*/",
            &format!("{}/", "a".repeat(MAX_ATTACHMENTS_PREFIX_BYTES)),
        ] {
            vars.insert(ENV_ATTACHMENTS_PREFIX, bad.into());
            assert_eq!(
                read(&vars).unwrap_err().name,
                ENV_ATTACHMENTS_PREFIX,
                "{bad}"
            );
        }
        vars.remove(ENV_ATTACHMENTS_BUCKET);
        vars.insert(ENV_ATTACHMENTS_PREFIX, "team-a/chatbot/".into());
        let error = read(&vars).unwrap_err();
        assert_eq!(error.name, ENV_ATTACHMENTS_PREFIX);
        assert!(error.problem.contains(ENV_ATTACHMENTS_BUCKET), "{error}");
    }

    #[test]
    fn reads_the_optional_server_settings() {
        let mut vars = complete();
        vars.insert(ENV_LISTEN_ADDR, "127.0.0.1:9000".into());
        vars.insert(ENV_ALB_KEYS_URL, "http://127.0.0.1:1234/".into());
        vars.insert(ENV_RATE_PER_MINUTE, "5".into());
        vars.insert(ENV_MAX_STREAMS_PER_USER, "1".into());
        let server = read(&vars).unwrap().server;
        assert_eq!(server.listen_addr, "127.0.0.1:9000");
        assert_eq!(server.alb_keys_url, "http://127.0.0.1:1234");
        assert_eq!(server.limits.requests_per_minute, 5);
        assert_eq!(server.limits.streams_per_user, 1);

        vars.insert(ENV_MAX_STREAMS_PER_USER, "0".into());
        let err = read(&vars).unwrap_err();
        assert_eq!(err.name, ENV_MAX_STREAMS_PER_USER);
    }

    #[test]
    fn top_p_is_sent_only_when_it_is_not_the_neutral_one() {
        for (value, sent) in [
            ("1.0", None),
            ("1", None),
            ("0.8", Some(0.8)),
            ("0", Some(0.0)),
        ] {
            let mut vars = complete();
            vars.insert(ENV_TOP_P, value.into());
            let model = read(&vars).unwrap().model;
            assert_eq!(model.top_p_to_send(), sent, "{value}");
        }
    }

    #[test]
    fn local_defaults_make_a_complete_configuration() {
        let config = Config::from_lookup(|name| local_default(name).map(str::to_string)).unwrap();
        assert_eq!(
            config.model.model_id,
            "us.anthropic.claude-sonnet-4-20250514-v1:0"
        );
        for name in OPTIONAL {
            assert_eq!(local_default(name), None, "{name} has its own default");
        }
    }

    #[test]
    fn the_exact_token_issuer_is_required() {
        let config = read(&complete()).unwrap();
        assert_eq!(
            config.auth.token_issuer,
            "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_AbC"
        );
        let mut vars = complete();
        vars.remove(ENV_TOKEN_ISSUER);
        assert_eq!(read(&vars).unwrap_err().name, ENV_TOKEN_ISSUER);
        assert!(OPERATOR_SET.contains(&ENV_TOKEN_ISSUER));
        assert!(!OPTIONAL.contains(&ENV_TOKEN_ISSUER));
    }

    #[test]
    fn names_the_missing_variable() {
        let mut vars = complete();
        vars.remove(ENV_ALB_ARN);
        let err = read(&vars).unwrap_err();
        assert_eq!(err.name, ENV_ALB_ARN);
        assert_eq!(
            err.to_string(),
            "environment variable CHATBOT_ALB_ARN: is not set"
        );
    }

    #[test]
    fn refuses_out_of_range_and_malformed_values() {
        for (name, value, expected) in [
            (ENV_TEMPERATURE, "1.5", "must be between 0 and 1"),
            (ENV_TOP_P, "-0.1", "must be between 0 and 1"),
            (ENV_MAX_TOKENS, "0", "must be between 1 and 64000"),
            (ENV_MAX_TOKENS, "many", "is not a number"),
            (
                ENV_PUBLIC_URL,
                "http://chat.example.com",
                "must start with \"https://\"",
            ),
            (
                ENV_TOKEN_ISSUER,
                "https://evil.example.com/us-west-2_AbC",
                "must start with \"https://cognito-idp.\"",
            ),
        ] {
            let mut vars = complete();
            vars.insert(name, value.into());
            let err = read(&vars).unwrap_err();
            assert_eq!(err.name, name);
            assert!(err.problem.contains(expected), "{name}={value}: {err}");
        }
    }
}
