use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{
    Condition, DeletionPolicy, ExtraTags, TAG_CHARACTERS_MESSAGE, TAG_CHARACTERS_RULE,
    TAG_VALUE_COST_BOUND, TAGS_MESSAGE, TAGS_RULE,
};

/// The model a chatbot uses unless its spec says otherwise: Claude Sonnet 4 through
/// the US cross-region inference profile, as in the reference.
pub const DEFAULT_MODEL_ID: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";

/// The port the chatbot container listens on. Fixed: the platform's tasks security
/// group admits exactly this port from the load balancer.
pub const CHATBOT_PORT: u16 = 8501;

/// One team's secure chatbot: a Cognito user pool with MFA, a listener rule on the
/// platform's load balancer that signs users in, and an ECS Fargate service running
/// the chat app in private subnets with a task role scoped to one model.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "bedrock-chatbot.dev",
    version = "v1alpha1",
    kind = "BedrockChatbot",
    plural = "bedrockchatbots",
    shortname = "bcb",
    category = "bedrock-chatbot",
    namespaced,
    status = "BedrockChatbotStatus",
    derive = "PartialEq",
    doc = "A team's secure Amazon Bedrock chatbot on a ChatbotPlatform.",
    cel,
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(name = "Hostname", type_ = "string", json_path = ".spec.hostname"),
    printcolumn(
        name = "Running",
        type_ = "integer",
        json_path = ".status.runningCount"
    ),
    printcolumn(
        name = "Desired",
        type_ = "integer",
        json_path = ".spec.task.desiredCount"
    ),
    printcolumn(
        name = "URL",
        type_ = "string",
        json_path = ".status.url",
        priority = 1
    ),
    printcolumn(
        name = "Model",
        type_ = "string",
        json_path = ".spec.model.id",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("!has(self.scaling) || self.scaling.minCapacity <= self.task.desiredCount && self.task.desiredCount <= self.scaling.maxCapacity")
    .message("task.desiredCount must lie between scaling.minCapacity and scaling.maxCapacity")
    .field_path(".task.desiredCount"))]
#[serde(rename_all = "camelCase")]
pub struct BedrockChatbotSpec {
    /// The `ChatbotPlatform` this chatbot runs on. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("platformRef is immutable: create a new BedrockChatbot on the other platform instead"))]
    pub platform_ref: PlatformRef,

    /// Public DNS name users open, e.g. `chat.team-a.example.com`; point it at the
    /// platform's load balancer. The platform's certificate must cover it (a wildcard
    /// covers one label: `*.team-a.example.com` covers it, `*.example.com` does not).
    /// Immutable (the sign-in callback URL is bound to it).
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(
        validation = Rule::new("self.matches('^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\\\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$')").message("hostname must be a fully qualified lowercase DNS name such as chat.team-a.example.com"),
        validation = Rule::new("self == oldSelf").message("hostname is immutable: the Cognito callback URL and the listener rule are bound to it; create a new BedrockChatbot instead")
    )]
    pub hostname: String,

    /// Container image of the chat app. Default: the operator's own chatbot image.
    /// Use a digest (`@sha256:…`) or an immutable tag for reproducible rollouts.
    #[serde(default = "default_image")]
    #[schemars(length(min = 1, max = 1024), regex(pattern = r"^[^\s]+$"))]
    pub image: String,

    /// The Bedrock model and inference settings.
    #[serde(default)]
    pub model: ModelSpec,

    /// The Cognito user pool users sign in with.
    #[serde(default)]
    pub cognito: CognitoSpec,

    /// CloudWatch Logs settings for the chat app's logs.
    #[serde(default)]
    pub logs: LogsSpec,

    /// Size and count of the Fargate tasks.
    #[serde(default)]
    pub task: TaskSpec,

    /// Conversation history kept on the server, per user, in a DynamoDB table of
    /// this chatbot's own. On by default.
    #[serde(default)]
    pub history: HistorySpec,

    /// Images and documents users add to their questions, kept in the platform's
    /// S3 bucket under this chatbot's prefix so a conversation reopens with its
    /// files. On by default; kept only while `history` is on, and as long as its
    /// conversations (`history.retentionDays`).
    #[serde(default)]
    pub attachments: AttachmentsSpec,

    /// Target-tracking auto scaling of the service on CPU. Off when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<ScalingSpec>,

    /// Priority of the listener rule on the platform's HTTPS listener (lower is
    /// evaluated first; unique per listener), from 2: priority 1 is the platform's
    /// own rule, which serves `/signed-out` for every chatbot without sign-in.
    /// Default: the lowest free one, chosen when the rule is created and kept in
    /// status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 50000))]
    pub listener_rule_priority: Option<i32>,

    /// Extra AWS tags for every resource of this chatbot.
    #[serde(default, skip_serializing_if = "ExtraTags::is_empty")]
    // The values' maxLength bounds only the CEL cost estimate: see TAG_VALUE_COST_BOUND.
    #[schemars(extend("maxProperties" = 40, "additionalProperties" = { "type": "string", "maxLength": TAG_VALUE_COST_BOUND }))]
    #[x_kube(
        validation = Rule::new(TAGS_RULE).message(TAGS_MESSAGE),
        validation = Rule::new(TAG_CHARACTERS_RULE).message(TAG_CHARACTERS_MESSAGE)
    )]
    pub tags: ExtraTags,

    /// `Delete` removes the chatbot's AWS resources (including its user pool and
    /// users) with the object; `Retain` leaves them.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

fn default_image() -> String {
    format!(
        "ghcr.io/bedrock-chatbot/chatbot:{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// A reference to a cluster-scoped `ChatbotPlatform`.
#[derive(KubeSchema, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformRef {
    /// Name of the `ChatbotPlatform`.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The prefixes of Amazon Bedrock's system-defined cross-region inference profiles:
/// the geographic ones, whose requests stay in their geography, and `global`, whose
/// requests go to any commercial region. [`MODEL_ID_RULE`] admits exactly these.
pub const INFERENCE_PROFILE_PREFIXES: [&str; 8] =
    ["us", "us-gov", "eu", "apac", "jp", "au", "ca", "global"];

/// The CEL rule of `spec.model.id`: `<provider>.<model>` (no dot in the model's
/// name, as in every Bedrock foundation-model id), optionally behind one prefix of
/// [`INFERENCE_PROFILE_PREFIXES`], and not a prefix followed by a bare name (which
/// would read as a provider). So the operator can tell a profile from a foundation
/// model and scope the task role to both; an unknown prefix is refused rather than
/// taken for a provider.
pub const MODEL_ID_RULE: &str = "self.matches('^((us|us-gov|eu|apac|jp|au|ca|global)\\\\.)?[a-z0-9-]+\\\\.[A-Za-z0-9_:-]+$') && !self.matches('^(us|us-gov|eu|apac|jp|au|ca|global)\\\\.[A-Za-z0-9_:-]+$')";

/// The rule that a `global.` profile is not narrowed to regions (on `ModelSpec` and
/// each alternative).
const GLOBAL_NOT_NARROWED_RULE: &str = "!self.id.startsWith('global.') || !has(self.inferenceRegions) || size(self.inferenceRegions) == 0";

/// Which Bedrock model answers, and how.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new(GLOBAL_NOT_NARROWED_RULE)
    .message("model.inferenceRegions cannot narrow a global. inference profile, which routes to any commercial region: leave it empty, or use a geographic profile (us., eu., apac., …)")
    .field_path(".inferenceRegions"))]
#[x_kube(validation = Rule::new("!has(self.alternatives) || self.alternatives.all(a, a.id != self.id && self.alternatives.exists_one(b, b.id == a.id))")
    .message("model.alternatives must each name another model than model.id, and each once")
    .field_path(".alternatives"))]
#[x_kube(validation = Rule::new("!has(self.alternatives) || self.alternatives.all(a, !has(a.pricing) || (has(self.pricing) && a.pricing.currency == self.pricing.currency))")
    .message("model.alternatives[].pricing needs model.pricing too, in the same currency")
    .field_path(".alternatives"))]
#[serde(rename_all = "camelCase")]
pub struct ModelSpec {
    /// Model or inference-profile id: `<provider>.<model>`, e.g.
    /// `anthropic.claude-sonnet-4-20250514-v1:0` (in the platform's region only), or
    /// that behind a cross-region inference profile prefix — `us.`, `us-gov.`,
    /// `eu.`, `apac.`, `jp.`, `au.`, `ca.` (within that geography) or `global.` (any
    /// commercial region), e.g. `us.anthropic.claude-sonnet-4-20250514-v1:0`. The
    /// task role may invoke exactly this model: the inference profile, and its
    /// foundation model only through that profile.
    #[serde(default = "default_model_id")]
    #[schemars(length(min = 3, max = 128))]
    #[x_kube(validation = Rule::new(MODEL_ID_RULE).message("model.id must be a Bedrock model id, <provider>.<model> such as anthropic.claude-sonnet-4-20250514-v1:0, optionally behind one inference-profile prefix: us., us-gov., eu., apac., jp., au., ca. or global."))]
    pub id: String,

    /// Narrows a geographic inference profile (`us.`, `eu.`, …): the task role may
    /// then invoke the foundation model only in these regions (still only through
    /// the profile). Empty, the default: in whichever region the profile routes
    /// to, as AWS recommends — a profile's destination regions change over time,
    /// and a request routed to a region not listed here is denied. Not allowed
    /// with a `global.` profile; ignored for an in-region model id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 20),
        inner(
            length(min = 1, max = 32),
            regex(pattern = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+$")
        )
    )]
    pub inference_regions: Vec<String>,

    /// Sampling temperature, 0 to 1.
    #[serde(default = "default_temperature")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub temperature: f64,

    /// Most tokens one answer may have.
    #[serde(default = "default_max_tokens")]
    #[schemars(range(min = 1, max = 64000))]
    pub max_tokens: i32,

    /// Nucleus sampling, 0 to 1. Newer Claude models (Sonnet 4.5, Haiku 4.5, Opus 4.1
    /// and later) refuse a request that sets both temperature and top_p; the
    /// chatbot sends topP only when it is not 1.0, the neutral value, so leave it at
    /// 1.0 for those models.
    #[serde(default = "default_top_p")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub top_p: f64,

    /// Instructions given to the model before every conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20000))]
    pub system_prompt: Option<String>,

    /// What the page's model picker calls `id`, the default model; its id when
    /// not set. Shown only when there are alternatives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 60))]
    pub label: Option<String>,

    /// What the default model's tokens cost, for the estimates users see on each
    /// answer and conversation. Optional; the chatbot only multiplies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<ModelPricing>,

    /// Other models users may pick in the page instead of the default (`id`), each
    /// with a label: up to 9. The same temperature, token and prompt settings apply
    /// to each, and the task role may invoke each the way it may invoke `id` (and
    /// no other).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 9))]
    pub alternatives: Vec<AlternativeModel>,
}

/// A model users may pick instead of the default.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new(GLOBAL_NOT_NARROWED_RULE)
    .message("model.alternatives[].inferenceRegions cannot narrow a global. inference profile: leave it empty, or use a geographic profile")
    .field_path(".inferenceRegions"))]
#[serde(rename_all = "camelCase")]
pub struct AlternativeModel {
    /// Model or inference-profile id, as `model.id`.
    #[schemars(length(min = 3, max = 128))]
    #[x_kube(validation = Rule::new(MODEL_ID_RULE).message("model.alternatives[].id must be a Bedrock model id, <provider>.<model>, optionally behind one inference-profile prefix: us., us-gov., eu., apac., jp., au., ca. or global."))]
    pub id: String,

    /// What the page's model picker calls it.
    #[schemars(length(min = 1, max = 60))]
    pub label: String,

    /// What its tokens cost, as `model.pricing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<ModelPricing>,

    /// As `model.inferenceRegions`, for this model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 20),
        inner(
            length(min = 1, max = 32),
            regex(pattern = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+$")
        )
    )]
    pub inference_regions: Vec<String>,
}

/// A model's prices per million tokens, from the team's price list (AWS's on-demand
/// prices, or its agreement's).
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelPricing {
    /// ISO 4217 code, e.g. `USD`; every model of a chatbot in the same one.
    #[schemars(length(min = 3, max = 3), regex(pattern = r"^[A-Z]{3}$"))]
    pub currency: String,
    /// Per million prompt tokens.
    #[schemars(range(min = 0.0, max = 10000.0))]
    pub input_per_million: f64,
    /// Per million answer tokens.
    #[schemars(range(min = 0.0, max = 10000.0))]
    pub output_per_million: f64,
    /// Per million prompt tokens read from the prompt cache; the input price when
    /// not set (so the estimate errs high).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 10000.0))]
    pub cache_read_per_million: Option<f64>,
    /// Per million prompt tokens written to the prompt cache; the input price when
    /// not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 10000.0))]
    pub cache_write_per_million: Option<f64>,
}

impl Default for ModelSpec {
    fn default() -> Self {
        Self {
            id: default_model_id(),
            inference_regions: Vec::new(),
            temperature: default_temperature(),
            max_tokens: default_max_tokens(),
            top_p: default_top_p(),
            system_prompt: None,
            label: None,
            pricing: None,
            alternatives: Vec::new(),
        }
    }
}

fn default_model_id() -> String {
    DEFAULT_MODEL_ID.into()
}

fn default_temperature() -> f64 {
    0.9
}

fn default_max_tokens() -> i32 {
    2000
}

fn default_top_p() -> f64 {
    1.0
}

/// The Cognito user pool of the chatbot. MFA is always required (TOTP); email is
/// the username and the recovery channel.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CognitoSpec {
    /// Password rules of the user pool.
    #[serde(default)]
    pub password_policy: PasswordPolicy,

    /// Prefix of the hosted sign-in domain (`<prefix>.auth.<region>.amazoncognito.com`),
    /// unique within the region. Default: derived from namespace and name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$') && !self.contains('aws') && !self.contains('amazon') && !self.contains('cognito')").message("cognito.domainPrefix may hold lowercase letters, digits and inner hyphens, and must not contain 'aws', 'amazon' or 'cognito'"))]
    pub domain_prefix: Option<String>,

    /// Let people create their own accounts. Off by default: administrators invite
    /// users.
    #[serde(default)]
    pub self_sign_up: bool,

    /// How long a sign-in lasts at the load balancer before Cognito is asked again.
    #[serde(default = "default_session_timeout")]
    #[schemars(range(min = 60, max = 604800))]
    pub session_timeout_seconds: i64,
}

impl Default for CognitoSpec {
    fn default() -> Self {
        Self {
            password_policy: PasswordPolicy::default(),
            domain_prefix: None,
            self_sign_up: false,
            session_timeout_seconds: default_session_timeout(),
        }
    }
}

fn default_session_timeout() -> i64 {
    8 * 3600
}

/// Password rules of a user pool.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordPolicy {
    /// Shortest password allowed: at least 12 (this operator's floor), at most 99
    /// (Cognito's limit).
    #[serde(default = "default_min_password_length")]
    #[schemars(range(min = 12, max = 99))]
    pub minimum_length: i32,
    /// Require an uppercase letter.
    #[serde(default = "default_true")]
    pub require_uppercase: bool,
    /// Require a lowercase letter.
    #[serde(default = "default_true")]
    pub require_lowercase: bool,
    /// Require a digit.
    #[serde(default = "default_true")]
    pub require_numbers: bool,
    /// Require a symbol.
    #[serde(default = "default_true")]
    pub require_symbols: bool,
    /// Days an administrator-set temporary password stays valid.
    #[serde(default = "default_temporary_password_days")]
    #[schemars(range(min = 1, max = 365))]
    pub temporary_password_validity_days: i32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            minimum_length: default_min_password_length(),
            require_uppercase: true,
            require_lowercase: true,
            require_numbers: true,
            require_symbols: true,
            temporary_password_validity_days: default_temporary_password_days(),
        }
    }
}

fn default_min_password_length() -> i32 {
    12
}

fn default_temporary_password_days() -> i32 {
    7
}

fn default_true() -> bool {
    true
}

/// The chat app's CloudWatch log group.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsSpec {
    /// Days CloudWatch keeps the logs; one of the values CloudWatch accepts.
    #[serde(default = "default_retention_days")]
    #[x_kube(validation = Rule::new("self in [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]").message("logs.retentionDays must be one of CloudWatch's values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653"))]
    pub retention_days: i32,
}

impl Default for LogsSpec {
    fn default() -> Self {
        Self {
            retention_days: default_retention_days(),
        }
    }
}

fn default_retention_days() -> i32 {
    30
}

/// Each user's conversations, kept in a DynamoDB table the chatbot alone can read
/// and write, keyed by the user's verified identity.
#[derive(KubeSchema, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistorySpec {
    /// Keep conversations on the server. Switching it off stops saving; the table
    /// and what it holds then follow `deletionPolicy`: deleted under `Delete`,
    /// kept under `Retain`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Days each message is kept after it was written (DynamoDB's time to live
    /// deletes it, usually within a few days after that); 0 keeps messages until
    /// the user deletes them.
    #[serde(default = "default_history_retention_days")]
    #[schemars(range(min = 0, max = 3650))]
    pub retention_days: i32,
}

impl Default for HistorySpec {
    fn default() -> Self {
        Self {
            enabled: true,
            retention_days: default_history_retention_days(),
        }
    }
}

fn default_history_retention_days() -> i32 {
    90
}

/// Files attached to conversations.
#[derive(KubeSchema, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentsSpec {
    /// Keep users' files in the platform's bucket. Switching it off stops keeping
    /// them (the app is given no bucket); the files already kept then follow
    /// `deletionPolicy`: deleted under `Delete`, kept under `Retain`.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

impl Default for AttachmentsSpec {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// Fargate task size and count.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new(FARGATE_SIZES_RULE).message("task.cpu and task.memory must be a Fargate combination: 256 CPU with 512-2048 MiB; 512 with 1024-4096; 1024 with 2048-8192; 2048 with 4096-16384; 4096 with 8192-30720 (steps of 1024); 8192 with 16384-61440 (steps of 4096); 16384 with 32768-122880 (steps of 8192)"))]
#[serde(rename_all = "camelCase")]
pub struct TaskSpec {
    /// CPU units of a task (1024 = one vCPU).
    #[serde(default = "default_cpu")]
    pub cpu: i32,
    /// Memory of a task in MiB.
    #[serde(default = "default_memory")]
    pub memory: i32,
    /// CPU architecture of the Fargate tasks; the image must support it.
    #[serde(default)]
    pub architecture: CpuArchitecture,
    /// Tasks to run (the starting count when scaling is on).
    #[serde(default = "default_desired_count")]
    #[schemars(range(min = 0, max = 100))]
    pub desired_count: i32,
    /// Path the load balancer checks; 200 means healthy.
    #[serde(default = "default_health_check_path")]
    #[schemars(length(min = 1, max = 1024), regex(pattern = r"^/[^\s]*$"))]
    pub health_check_path: String,
    /// Seconds a new task gets before failed health checks count.
    #[serde(default = "default_grace_period")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub health_check_grace_period_seconds: i32,
    /// Command ECS runs inside the container to check its health (every 30 s,
    /// 10 s timeout, 3 retries). The default suits the operator's image, which has
    /// no shell; an empty list turns the container check off (the load balancer's
    /// check still applies).
    #[serde(default = "default_container_health_check")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 1024)))]
    #[x_kube(validation = Rule::new("size(self) == 0 || self[0] in ['CMD', 'CMD-SHELL']").message("task.containerHealthCheck must start with CMD or CMD-SHELL, like a Docker HEALTHCHECK"))]
    pub container_health_check: Vec<String>,
}

const FARGATE_SIZES_RULE: &str = "(self.cpu == 256 && self.memory in [512, 1024, 2048]) \
    || (self.cpu == 512 && self.memory in [1024, 2048, 3072, 4096]) \
    || (self.cpu == 1024 && self.memory >= 2048 && self.memory <= 8192 && self.memory % 1024 == 0) \
    || (self.cpu == 2048 && self.memory >= 4096 && self.memory <= 16384 && self.memory % 1024 == 0) \
    || (self.cpu == 4096 && self.memory >= 8192 && self.memory <= 30720 && self.memory % 1024 == 0) \
    || (self.cpu == 8192 && self.memory >= 16384 && self.memory <= 61440 && self.memory % 4096 == 0) \
    || (self.cpu == 16384 && self.memory >= 32768 && self.memory <= 122880 && self.memory % 8192 == 0)";

impl Default for TaskSpec {
    fn default() -> Self {
        Self {
            cpu: default_cpu(),
            memory: default_memory(),
            architecture: CpuArchitecture::default(),
            desired_count: default_desired_count(),
            health_check_path: default_health_check_path(),
            health_check_grace_period_seconds: default_grace_period(),
            container_health_check: default_container_health_check(),
        }
    }
}

fn default_cpu() -> i32 {
    512
}

fn default_memory() -> i32 {
    1024
}

fn default_desired_count() -> i32 {
    1
}

fn default_health_check_path() -> String {
    "/?health=check".into()
}

fn default_grace_period() -> i32 {
    60
}

fn default_container_health_check() -> Vec<String> {
    ["CMD", "/usr/local/bin/bedrock-chatbot", "healthcheck"]
        .map(String::from)
        .to_vec()
}

/// CPU architecture of Fargate tasks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(non_camel_case_types)]
pub enum CpuArchitecture {
    /// Intel/AMD 64-bit.
    #[default]
    X86_64,
    /// AWS Graviton (cheaper per vCPU).
    ARM64,
}

/// Target-tracking auto scaling on average CPU.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("self.minCapacity <= self.maxCapacity").message("scaling.minCapacity must not exceed scaling.maxCapacity"))]
#[serde(rename_all = "camelCase")]
pub struct ScalingSpec {
    /// Fewest tasks.
    #[serde(default = "default_min_capacity")]
    #[schemars(range(min = 0, max = 100))]
    pub min_capacity: i32,
    /// Most tasks.
    #[serde(default = "default_max_capacity")]
    #[schemars(range(min = 1, max = 100))]
    pub max_capacity: i32,
    /// Average CPU utilisation (percent) the scaling keeps the service at.
    #[serde(default = "default_target_cpu")]
    #[schemars(range(min = 10, max = 90))]
    pub target_cpu_utilization: i32,
    /// Seconds to wait after a scale-in before the next one.
    #[serde(default = "default_scale_in_cooldown")]
    #[schemars(range(min = 0, max = 3600))]
    pub scale_in_cooldown_seconds: i32,
    /// Seconds to wait after a scale-out before the next one.
    #[serde(default = "default_scale_out_cooldown")]
    #[schemars(range(min = 0, max = 3600))]
    pub scale_out_cooldown_seconds: i32,
}

fn default_min_capacity() -> i32 {
    1
}

fn default_max_capacity() -> i32 {
    4
}

fn default_target_cpu() -> i32 {
    60
}

fn default_scale_in_cooldown() -> i32 {
    300
}

fn default_scale_out_cooldown() -> i32 {
    60
}

/// What exists on AWS for the chatbot, as last observed.
///
/// Defaults to `observedGeneration: 0` before the controller first writes it, so
/// that tools reading kstatus conventions (Flux, Argo CD, cli-utils) see "not yet
/// observed" instead of an object without status, which they take for current.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("default" = {}))]
pub struct BedrockChatbotStatus {
    /// The `metadata.generation` the status describes (0: none yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 0))]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Synced`, `Degraded`, and kstatus's `Reconciling` and `Stalled`, one of each at most.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Where users open the chatbot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Id of the Cognito user pool (add users here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
    /// Id of the user pool's app client the load balancer signs in with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pool_client_id: Option<String>,
    /// Hosted sign-in domain prefix of the user pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pool_domain: Option<String>,
    /// ARN of the target group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
    /// ARN of the listener rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_rule_arn: Option<String>,
    /// Priority the listener rule got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_rule_priority: Option<i32>,
    /// Name of the log group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group_name: Option<String>,
    /// ARN of the task role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// ARN of the task definition revision in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    /// ARN of the ECS service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_arn: Option<String>,
    /// Tasks the service runs now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_count: Option<i32>,
    /// Name of the DynamoDB table that keeps the users' conversations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_table_name: Option<String>,
    /// Where the users' attachments are kept: `s3://<bucket>/<namespace>/<name>/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments_location: Option<String>,
}
