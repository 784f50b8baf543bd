//! Desired state of a `BedrockChatbot`: Cognito user pool, domain and client; target
//! group and listener rule on the platform's HTTPS listener; log group; task role;
//! task definition; ECS service; optional auto scaling.

use std::fmt;

use bedrock_chatbot::config as env_vars;
use bedrock_chatbot_crds::{
    BedrockChatbot, BedrockChatbotSpec, CHATBOT_PORT, DeletionPolicy, PasswordPolicy,
};
use serde::Serialize;

use super::aws_enums::{
    Compatibility, CpuArchitecture, IdentityProvider, LaunchType, MfaConfiguration, NetworkMode,
    OAuthFlow, OnUnauthenticatedRequest, PropagateTags, Protocol, RecoveryOption, ScalingMetric,
    TargetType, UsernameAttribute, VerifiedAttribute,
};
use super::iam;
use super::naming::{Charset, cognito_domain_prefix, hashed_name};
use super::platform::{
    AttachmentsBucket, FixedResponse, PlatformDesired, ROLE_PATH, Role, TASKS_SG, bucket_arn,
    expiry_rule_id,
};
use super::{Environment, Owner, PlatformRef, RefKey, Tags, owner_tags};

/// Everything AWS must hold for one chatbot.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatbotDesired {
    /// The `BedrockChatbot` it is for; every resource's owner tag names it.
    pub owner: Owner,
    /// The platform it runs on.
    pub platform: String,
    /// Where the resources live (the platform's region).
    pub environment: Environment,
    /// Tags on every resource.
    pub tags: Tags,
    /// Delete or keep the resources when the object goes.
    pub deletion_policy: DeletionPolicy,
    /// `https://<hostname>`.
    pub url: String,
    /// Users and their MFA.
    pub user_pool: UserPool,
    /// Hosted sign-in domain.
    pub user_pool_domain: UserPoolDomain,
    /// The load balancer's OAuth client.
    pub user_pool_client: UserPoolClient,
    /// Where the load balancer sends a signed-in user's requests.
    pub target_group: TargetGroup,
    /// Host match → sign in with Cognito → forward.
    pub listener_rule: ListenerRule,
    /// The app's logs.
    pub log_group: LogGroup,
    /// What the app may do on AWS: invoke one model.
    pub task_role: Role,
    /// The app's container and its configuration.
    pub task_definition: TaskDefinition,
    /// Keeps the tasks running behind the target group.
    pub service: Service,
    /// The users' conversations, when history is on.
    pub history_table: Option<HistoryTable>,
    /// The same table's identity when history is off, so that one an earlier spec
    /// made is found, and deleted or kept as `deletionPolicy` says.
    #[serde(skip)]
    pub history_table_off: HistoryTable,
    /// The chatbot's files in the platform's attachments bucket, when they are kept
    /// (attachments and history on).
    pub attachments: Option<AttachmentsPrefix>,
    /// The same prefix when they are not, so that files an earlier spec let users
    /// keep are found, and deleted or kept as `deletionPolicy` says.
    #[serde(skip)]
    pub attachments_off: AttachmentsPrefix,
    /// The lifecycle rule expiring the chatbot's files `history.retentionDays` after
    /// they were written, when they are kept and the retention is not 0.
    pub attachments_expiry: Option<AttachmentsExpiry>,
    /// The same rule's identity when it is not wanted, so that one an earlier spec
    /// made is found.
    #[serde(skip)]
    pub attachments_expiry_off: AttachmentsExpiry,
    /// CPU target tracking, when asked for.
    pub scaling: Option<Scaling>,
    /// The same auto scaling's identity (policy name, key) when it is not asked
    /// for, so that one an earlier spec set up is found and removed. Its settings
    /// are never applied.
    #[serde(skip)]
    pub scaling_off: Scaling,
}

/// A resource of the chatbot another one points at, resolved by the engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ChatbotRef {
    /// Id of the user pool.
    UserPoolId,
    /// ARN of the user pool.
    UserPoolArn,
    /// Id of the app client.
    UserPoolClientId,
    /// ARN of the target group.
    TargetGroupArn,
    /// ARN of the task role.
    TaskRoleArn,
    /// ARN of the latest task definition revision.
    TaskDefinitionArn,
}

/// A value known now, or one that exists only once another resource does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Input {
    /// Known now.
    Value(String),
    /// From a platform resource.
    Platform(PlatformRef),
    /// From another resource of this chatbot.
    Chatbot(ChatbotRef),
    /// From another resource of this chatbot, after a fixed prefix (a URL ending
    /// in an id).
    Prefixed {
        /// What comes before the id.
        prefix: String,
        /// The resource whose id ends the value.
        reference: ChatbotRef,
    },
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(value) => f.write_str(value),
            Self::Platform(reference) => write!(f, "(platform {reference})"),
            Self::Chatbot(reference) => write!(f, "({reference:?})"),
            Self::Prefixed { prefix, reference } => write!(f, "{prefix}({reference:?})"),
        }
    }
}

/// The Cognito user pool.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserPool {
    /// Its component key: the `bedrock-chatbot.dev/component` tag that finds it on
    /// AWS, and the key its id is recorded under for what points at it.
    pub key: String,
    /// Pool name (Cognito pool names are not unique: the pool is found by its tags).
    pub name: String,
    /// `ON`: every user must use MFA.
    pub mfa_configuration: MfaConfiguration,
    /// TOTP authenticator apps.
    pub software_token_mfa: bool,
    /// Password rules, as `spec.cognito.passwordPolicy` gives them.
    pub password_policy: PasswordPolicy,
    /// Users sign in with their email address.
    pub username_attributes: Vec<UsernameAttribute>,
    /// Cognito verifies email addresses.
    pub auto_verified_attributes: Vec<VerifiedAttribute>,
    /// Account recovery through verified email only.
    pub account_recovery: Vec<RecoveryOption>,
    /// Only administrators create users (unless self sign-up is on).
    pub admin_create_user_only: bool,
}

/// The hosted sign-in domain.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserPoolDomain {
    /// Its component key: the `bedrock-chatbot.dev/component` tag that finds it on
    /// AWS, and the key its id is recorded under for what points at it.
    pub key: String,
    /// `<prefix>.auth.<region>.amazoncognito.com`.
    pub prefix: String,
    /// `https://<prefix>.auth.<region>.amazoncognito.com`.
    pub url: String,
}

/// The confidential app client the load balancer signs users in with.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserPoolClient {
    /// Its component key: the `bedrock-chatbot.dev/component` tag that finds it on
    /// AWS, and the key its id is recorded under for what points at it.
    pub key: String,
    /// Client name: the client is found by it in the pool (clients carry no tags).
    pub name: String,
    /// A secret, as `authenticate-cognito` requires.
    pub generate_secret: bool,
    /// `code`: the grant `authenticate-cognito` signs users in with.
    pub allowed_oauth_flows: Vec<OAuthFlow>,
    /// `openid`, `email`, `profile`.
    pub allowed_oauth_scopes: Vec<&'static str>,
    /// `https://<hostname>/oauth2/idpresponse`.
    pub callback_urls: Vec<String>,
    /// Where Cognito may send users after sign-out.
    pub logout_urls: Vec<String>,
    /// `COGNITO`: the pool's own users, no federation.
    pub supported_identity_providers: Vec<IdentityProvider>,
    /// Don't reveal whether a user exists.
    pub prevent_user_existence_errors: bool,
}

/// The chatbot's target group: its tasks register by IP, and its listener rule
/// forwards signed-in requests to it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroup {
    /// Its component key: the `bedrock-chatbot.dev/component` tag that finds it on
    /// AWS, and the key its id is recorded under for what points at it.
    pub key: String,
    /// Name (≤ 32 characters).
    pub name: String,
    /// `ip`: Fargate tasks register by address.
    pub target_type: TargetType,
    /// `HTTP`.
    pub protocol: Protocol,
    /// The port the tasks are reached on: [`CHATBOT_PORT`].
    pub port: u16,
    /// The platform's VPC.
    pub vpc: PlatformRef,
    /// How the load balancer checks each task.
    pub health_check: HealthCheck,
    /// Seconds a draining task keeps its streams (the app finishes answers within it).
    pub deregistration_delay_seconds: i32,
}

/// The load balancer's health check of the tasks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// Path (and query) checked.
    pub path: String,
    /// Seconds between checks.
    pub interval_seconds: i32,
    /// Seconds before a check fails.
    pub timeout_seconds: i32,
    /// Successes before healthy.
    pub healthy_threshold: i32,
    /// Failures before unhealthy.
    pub unhealthy_threshold: i32,
    /// Status codes meaning healthy.
    pub matcher: &'static str,
}

/// A rule on the platform's HTTPS listener: a chatbot's (its host, signed in, to its
/// target group) or the platform's one rule for every chatbot (`/signed-out`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerRule {
    /// Its component key: the `bedrock-chatbot.dev/component` tag that finds it on
    /// AWS, and the key its id is recorded under for what points at it.
    pub key: String,
    /// The platform's HTTPS listener: the only listener the rule can name.
    pub listener: HttpsListener,
    /// Fixed priority, or `None` for the lowest free one from
    /// [`FIRST_TEAM_PRIORITY`] on. The platform's rule holds
    /// [`PLATFORM_RULE_PRIORITY`], and moves a team's rule found on it.
    pub priority: Option<i32>,
    /// The requests it takes.
    pub condition: RuleMatch,
    /// What it does with them.
    pub action: RuleThen,
}

/// Priority of the platform's rule (`/signed-out`), evaluated before every team's
/// rule: team rules match by host alone, so any of them would take the path first.
pub const PLATFORM_RULE_PRIORITY: i32 = 1;

/// The first priority a team's rule may have ([`PLATFORM_RULE_PRIORITY`] is the
/// platform's).
pub const FIRST_TEAM_PRIORITY: i32 = PLATFORM_RULE_PRIORITY + 1;

/// The requests a listener rule takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "field", content = "value", rename_all = "kebab-case")]
pub enum RuleMatch {
    /// Requests for one hostname (`host-header`).
    HostHeader(String),
    /// Requests for one path on any host (`path-pattern`).
    PathPattern(String),
}

impl RuleMatch {
    /// The hostname or path matched, as progress shows the rule.
    pub fn value(&self) -> &str {
        match self {
            Self::HostHeader(value) | Self::PathPattern(value) => value,
        }
    }
}

/// What a listener rule does with the requests it takes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum RuleThen {
    /// Sign in through Cognito, then forward to the target group.
    #[serde(rename_all = "camelCase")]
    SignInThenForward {
        /// The `authenticate-cognito` action.
        authenticate: AuthenticateCognito,
        /// Where signed-in requests go: the chatbot's target group, by ARN.
        forward_to: ChatbotRef,
    },
    /// Answer from the load balancer itself, without sign-in.
    FixedResponse(FixedResponse),
}

/// The platform's HTTPS listener, as the one place a chatbot's rule can go. An ALB
/// runs `authenticate-cognito` only on HTTPS listeners (AWS refuses the rule on an
/// HTTP listener; the emulator does not), and a rule on the HTTP listener would at
/// best fail and at worst serve the chatbot unauthenticated; so the type has no
/// other value than this listener.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpsListener;

impl HttpsListener {
    /// The listener as a platform reference.
    pub fn platform_ref(self) -> PlatformRef {
        PlatformRef::HttpsListener
    }
}

impl fmt::Display for HttpsListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.platform_ref().fmt(f)
    }
}

impl Serialize for HttpsListener {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.platform_ref().serialize(serializer)
    }
}

/// The `authenticate-cognito` action.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticateCognito {
    /// The pool users sign in to, by ARN.
    pub user_pool: ChatbotRef,
    /// The app client the load balancer signs in with, by id.
    pub user_pool_client: ChatbotRef,
    /// The prefix of the pool's hosted sign-in domain.
    pub user_pool_domain: String,
    /// `openid email profile`.
    pub scope: &'static str,
    /// `authenticate`: send anonymous users to sign in.
    pub on_unauthenticated_request: OnUnauthenticatedRequest,
    /// Name of the load balancer's session cookie (AWS's default name).
    pub session_cookie_name: &'static str,
    /// Seconds a sign-in lasts.
    pub session_timeout_seconds: i64,
}

/// The CloudWatch log group.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogGroup {
    /// Its component key: the `bedrock-chatbot.dev/component` tag that finds it on
    /// AWS, and the key its id is recorded under for what points at it.
    pub key: String,
    /// `/bedrock-chatbot/<namespace>/<name>`.
    pub name: String,
    /// Retention in days.
    pub retention_days: i32,
}

/// The chatbot's ECS task definition: one Fargate container. A change registers
/// a new revision of the family, which the service rolls to.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinition {
    /// Its component key: the `bedrock-chatbot.dev/component` tag that finds it on
    /// AWS, and the key its id is recorded under for what points at it.
    pub key: String,
    /// Family (revisions share it).
    pub family: String,
    /// `awsvpc`.
    pub network_mode: NetworkMode,
    /// `FARGATE`.
    pub requires_compatibilities: Vec<Compatibility>,
    /// CPU units, as the API takes them (a string).
    pub cpu: String,
    /// Memory in MiB, as the API takes it.
    pub memory: String,
    /// `X86_64` or `ARM64` (on `LINUX`).
    pub cpu_architecture: CpuArchitecture,
    /// The platform's execution role.
    pub execution_role: PlatformRef,
    /// The chatbot's own task role.
    pub task_role: ChatbotRef,
    /// The one container.
    pub container: Container,
}

/// The chat app container.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// `chatbot`.
    pub name: &'static str,
    /// The chat app's image (`spec.image`; by default the operator's own chatbot image).
    pub image: String,
    /// The chatbot port (TCP).
    pub port: u16,
    /// Read-only root filesystem: the app writes nothing to disk.
    pub readonly_root_filesystem: bool,
    /// Seconds ECS waits after SIGTERM before SIGKILL (Fargate's most), so running
    /// answers can finish.
    pub stop_timeout_seconds: i32,
    /// Environment variables, in the order the app documents them.
    pub environment: Vec<(String, Input)>,
    /// `awslogs` to the log group.
    pub log_group: String,
    /// Stream prefix of the log streams.
    pub log_stream_prefix: &'static str,
    /// Container health check command (empty: none).
    pub health_check: Vec<String>,
}

/// The chatbot's ECS service: keeps its tasks running in the platform's private
/// subnets, behind its target group.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// Its component key: the `bedrock-chatbot.dev/component` tag that finds it on
    /// AWS, and the key its id is recorded under for what points at it.
    pub key: String,
    /// Service name (unique in the cluster).
    pub name: String,
    /// The platform's cluster.
    pub cluster: PlatformRef,
    /// Tasks to run: `spec.task.desiredCount`.
    pub desired_count: i32,
    /// `FARGATE`.
    pub launch_type: LaunchType,
    /// `LATEST`.
    pub platform_version: &'static str,
    /// The private subnets.
    pub subnets: Vec<PlatformRef>,
    /// Component key of the tasks' security group.
    pub security_group: String,
    /// Always false: tasks live in private subnets.
    pub assign_public_ip: bool,
    /// Container and port registered in the target group.
    pub load_balancer_container: (&'static str, u16),
    /// Seconds failed health checks are ignored after a task starts.
    pub health_check_grace_period_seconds: i32,
    /// Rolling update: percent of tasks kept healthy.
    pub minimum_healthy_percent: i32,
    /// Rolling update: percent of tasks allowed during a deployment.
    pub maximum_percent: i32,
    /// Stop and roll back a deployment whose tasks never turn healthy.
    pub circuit_breaker_rollback: bool,
    /// Tags flow from the service to its tasks.
    pub propagate_tags: PropagateTags,
    /// ECS Exec into tasks: off (no shell in the image, no extra permissions).
    pub enable_execute_command: bool,
    /// The service's [`TAG_TASK_DEFINITION`](crate::desired::TAG_TASK_DEFINITION)
    /// value to hold, once the engine knows the revision it points the service at
    /// matches the spec (`None`: not known, the tag is left as it is).
    #[serde(skip)]
    pub task_definition_record: Option<String>,
}

/// The DynamoDB table of the users' conversations, laid out as
/// [`bedrock_chatbot::history_table`] says (the app's keys, its index and expiry
/// attribute): on-demand capacity, encrypted with the account's AWS managed key for
/// DynamoDB (key use shows in CloudTrail), point-in-time recovery on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryTable {
    /// Its component key: the `bedrock-chatbot.dev/component` tag that finds it on
    /// AWS, and the key its id is recorded under for what points at it.
    pub key: String,
    /// Table name (unique per account and region).
    pub name: String,
    /// Days each item is kept after it is written; 0 keeps items for ever, and
    /// time to live is off.
    pub retention_days: u32,
    /// Continuous backups, restorable to any second of the last 35 days.
    pub point_in_time_recovery: bool,
}

impl HistoryTable {
    /// Whether DynamoDB's time to live deletes expired items.
    pub fn expires_items(&self) -> bool {
        self.retention_days > 0
    }

    /// The table's ARN in `env`.
    pub fn arn(&self, env: &Environment) -> String {
        format!(
            "arn:{}:dynamodb:{}:{}:table/{}",
            env.partition, env.region, env.account_id, self.name
        )
    }
}

/// The chatbot's part of the platform's attachments bucket: every object under
/// its prefix (`<namespace>/<name>/`; the app adds the user). The app writes and
/// deletes them; the operator grants the task role this prefix only, and deletes
/// what is under it when the chatbot (or its attachments) goes under
/// `deletionPolicy: Delete`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentsPrefix {
    /// Its component key: the `bedrock-chatbot.dev/component` tag that finds it on
    /// AWS, and the key its id is recorded under for what points at it.
    pub key: String,
    /// The platform's bucket.
    pub bucket: String,
    /// The bucket's component key (what a missing bucket is waited for as).
    pub bucket_key: String,
    /// The account that owns the bucket.
    pub account_id: String,
    /// `<namespace>/<name>/`.
    pub prefix: String,
}

impl AttachmentsPrefix {
    /// `s3://<bucket>/<prefix>`, as status shows it.
    pub fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// The objects' ARN pattern: everything under the prefix, nothing else.
    pub fn objects_arn(&self, env: &Environment) -> String {
        format!("{}/{}*", bucket_arn(env, &self.bucket), self.prefix)
    }
}

/// The lifecycle rule that expires a chatbot's files: one rule per chatbot in the
/// platform's bucket, filtered by its prefix, with its conversations' retention.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentsExpiry {
    /// Its component key: the `bedrock-chatbot.dev/component` tag that finds it on
    /// AWS, and the key its id is recorded under for what points at it.
    pub key: String,
    /// The platform's bucket.
    pub bucket: String,
    /// The bucket's component key.
    pub bucket_key: String,
    /// The account that owns the bucket.
    pub account_id: String,
    /// Rule id (unique in the bucket).
    pub rule_id: String,
    /// The prefix it expires.
    pub prefix: String,
    /// Days after which a file is deleted (S3 runs lifecycle rules about once a
    /// day: a file may outlive them by a day or two).
    pub days: i32,
}

/// Target-tracking auto scaling of the service.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scaling {
    /// Its component key: the `bedrock-chatbot.dev/component` tag that finds it on
    /// AWS, and the key its id is recorded under for what points at it.
    pub key: String,
    /// Name of the target tracking policy (unique per service).
    pub policy_name: String,
    /// Fewest tasks.
    pub min_capacity: i32,
    /// Most tasks.
    pub max_capacity: i32,
    /// `ECSServiceAverageCPUUtilization`.
    pub metric: ScalingMetric,
    /// Target percent.
    pub target_value: f64,
    /// Seconds between scale-ins.
    pub scale_in_cooldown_seconds: i32,
    /// Seconds between scale-outs.
    pub scale_out_cooldown_seconds: i32,
}

/// Name of the app's container in the task definition.
pub const CONTAINER_NAME: &str = "chatbot";

/// What comes before the pool id in the `iss` of a user pool's tokens
/// (`https://cognito-idp.<region>.amazonaws.com/<pool id>`): the chat app accepts
/// only its own pool's tokens.
pub fn token_issuer_prefix(region: &str) -> String {
    format!("https://cognito-idp.{region}.amazonaws.com/")
}

/// Computes the chatbot's desired state on its platform.
pub fn desired(chatbot: &BedrockChatbot, platform: &PlatformDesired) -> ChatbotDesired {
    let names = Names::of(chatbot);
    let spec = &chatbot.spec;
    let env = platform.environment.clone();
    let url = format!("https://{}", spec.hostname);
    let user_pool_domain = user_pool_domain(&names, spec, &env);
    let log_group = log_group(&names, spec);
    let history_table = history_table(&names, spec);
    let attachments = attachments(&names, spec, &platform.attachments_bucket);
    let attachments_expiry = attachments_expiry(spec, &attachments);
    let environment = container_environment(
        spec,
        &env,
        &url,
        &user_pool_domain.url,
        history_table.wanted.as_ref(),
        attachments.wanted.as_ref(),
    );
    let task_network = task_network(platform);
    let scaling = scaling(&names, spec);

    ChatbotDesired {
        tags: owner_tags(&names.owner, &spec.platform_ref.name, &spec.tags),
        platform: spec.platform_ref.name.clone(),
        deletion_policy: spec.deletion_policy,
        user_pool: user_pool(&names, spec),
        user_pool_client: user_pool_client(&names, &url),
        target_group: target_group(&names, spec, task_network.vpc),
        listener_rule: listener_rule(spec, user_pool_domain.prefix.clone()),
        user_pool_domain,
        task_role: task_role(
            &names,
            spec,
            platform,
            history_table.wanted.as_ref(),
            attachments.wanted.as_ref(),
        ),
        task_definition: task_definition(&names, spec, environment, log_group.name.clone()),
        log_group,
        service: service(&names, spec, task_network.private_subnets),
        scaling: scaling.wanted,
        scaling_off: scaling.identity,
        attachments: attachments.wanted,
        attachments_off: attachments.identity,
        attachments_expiry: attachments_expiry.wanted,
        attachments_expiry_off: attachments_expiry.identity,
        history_table: history_table.wanted,
        history_table_off: history_table.identity,
        url,
        owner: names.owner,
        environment: env,
    }
}

/// A resource the spec can turn off: its desired state when on, and its identity
/// either way, so that one an earlier spec made is found, and deleted or kept as
/// `deletionPolicy` says.
struct Switchable<T> {
    /// The resource, when the spec wants it.
    wanted: Option<T>,
    /// The same resource's key and names (its settings are never applied when
    /// it is not wanted).
    identity: T,
}

impl<T: Clone> Switchable<T> {
    /// `identity` when `on`, nothing otherwise.
    fn when(on: bool, identity: T) -> Self {
        Self {
            wanted: on.then(|| identity.clone()),
            identity,
        }
    }
}

/// The hosted sign-in domain: the spec's prefix, or one made from the chatbot's
/// names and hostname.
fn user_pool_domain(names: &Names, spec: &BedrockChatbotSpec, env: &Environment) -> UserPoolDomain {
    let prefix = spec
        .cognito
        .domain_prefix
        .clone()
        .unwrap_or_else(|| cognito_domain_prefix(&names.readable, &spec.hostname));
    UserPoolDomain {
        key: "user-pool-domain".into(),
        url: format!("https://{prefix}.auth.{}.amazoncognito.com", env.region),
        prefix,
    }
}

/// The app's log group, `/bedrock-chatbot/<namespace>/<name>`.
fn log_group(names: &Names, spec: &BedrockChatbotSpec) -> LogGroup {
    LogGroup {
        key: "log-group".into(),
        name: format!("/bedrock-chatbot/{}/{}", names.namespace, names.name),
        retention_days: spec.logs.retention_days,
    }
}

/// The conversations' table, wanted when history is on.
fn history_table(names: &Names, spec: &BedrockChatbotSpec) -> Switchable<HistoryTable> {
    let table = HistoryTable {
        key: "history-table".into(),
        name: names.named(255, Charset::HyphensUnderscores, "-history"),
        retention_days: u32::try_from(spec.history.retention_days).unwrap_or(0),
        point_in_time_recovery: true,
    };
    Switchable::when(spec.history.enabled, table)
}

/// The chatbot's prefix in the platform's bucket. Files are kept to reopen a
/// conversation with them: wanted only with history on.
fn attachments(
    names: &Names,
    spec: &BedrockChatbotSpec,
    bucket: &AttachmentsBucket,
) -> Switchable<AttachmentsPrefix> {
    let prefix = AttachmentsPrefix {
        key: "attachments".into(),
        bucket: bucket.name.clone(),
        bucket_key: bucket.key.clone(),
        account_id: bucket.account_id.clone(),
        prefix: names.prefix(),
    };
    Switchable::when(spec.attachments.enabled && spec.history.enabled, prefix)
}

/// The lifecycle rule expiring the chatbot's files with its conversations: wanted
/// when the files are kept and the retention is not 0 (for ever).
fn attachments_expiry(
    spec: &BedrockChatbotSpec,
    attachments: &Switchable<AttachmentsPrefix>,
) -> Switchable<AttachmentsExpiry> {
    let prefix = &attachments.identity;
    let expiry = AttachmentsExpiry {
        key: "attachments-expiry".into(),
        bucket: prefix.bucket.clone(),
        bucket_key: prefix.bucket_key.clone(),
        account_id: prefix.account_id.clone(),
        rule_id: expiry_rule_id(&prefix.prefix),
        prefix: prefix.prefix.clone(),
        days: spec.history.retention_days,
    };
    let on = attachments.wanted.is_some() && spec.history.retention_days > 0;
    Switchable::when(on, expiry)
}

/// CPU target tracking with the spec's bounds, wanted when the spec asks for it.
fn scaling(names: &Names, spec: &BedrockChatbotSpec) -> Switchable<Scaling> {
    let identity = Scaling {
        key: "scaling".into(),
        policy_name: names.named(256, Charset::HyphensUnderscores, "-cpu"),
        min_capacity: 0,
        max_capacity: 0,
        metric: ScalingMetric::EcsServiceAverageCpuUtilization,
        target_value: 0.0,
        scale_in_cooldown_seconds: 0,
        scale_out_cooldown_seconds: 0,
    };
    Switchable {
        wanted: spec.scaling.as_ref().map(|scaling| Scaling {
            min_capacity: scaling.min_capacity,
            max_capacity: scaling.max_capacity,
            target_value: f64::from(scaling.target_cpu_utilization),
            scale_in_cooldown_seconds: scaling.scale_in_cooldown_seconds,
            scale_out_cooldown_seconds: scaling.scale_out_cooldown_seconds,
            ..identity.clone()
        }),
        identity,
    }
}

/// The chatbot's Cognito user pool: MFA required (TOTP), e-mail sign-in and recovery,
/// the spec's password policy, no self sign-up unless the spec allows it.
fn user_pool(names: &Names, spec: &BedrockChatbotSpec) -> UserPool {
    UserPool {
        key: RefKey::USER_POOL.to_string(),
        name: names.named(128, Charset::HyphensUnderscores, ""),
        mfa_configuration: MfaConfiguration::On,
        software_token_mfa: true,
        password_policy: spec.cognito.password_policy.clone(),
        username_attributes: vec![UsernameAttribute::Email],
        auto_verified_attributes: vec![VerifiedAttribute::Email],
        account_recovery: vec![RecoveryOption::VerifiedEmail],
        admin_create_user_only: !spec.cognito.self_sign_up,
    }
}

/// The app client the load balancer signs users in with: code grant only, a secret,
/// the one callback URL on the chatbot's hostname.
fn user_pool_client(names: &Names, url: &str) -> UserPoolClient {
    UserPoolClient {
        key: RefKey::USER_POOL_CLIENT.to_string(),
        name: names.named(128, Charset::HyphensUnderscores, ""),
        generate_secret: true,
        allowed_oauth_flows: vec![OAuthFlow::Code],
        allowed_oauth_scopes: vec!["openid", "email", "profile"],
        callback_urls: vec![format!("{url}/oauth2/idpresponse")],
        logout_urls: vec![format!("{url}/signed-out")],
        supported_identity_providers: vec![IdentityProvider::Cognito],
        prevent_user_existence_errors: true,
    }
}

/// The target group the tasks register in, health-checked on the spec's path.
fn target_group(names: &Names, spec: &BedrockChatbotSpec, vpc: PlatformRef) -> TargetGroup {
    TargetGroup {
        key: RefKey::TARGET_GROUP.to_string(),
        name: names.named(32, Charset::Hyphens, ""),
        target_type: TargetType::Ip,
        protocol: Protocol::Http,
        port: CHATBOT_PORT,
        vpc,
        health_check: HealthCheck {
            path: spec.task.health_check_path.clone(),
            interval_seconds: 30,
            timeout_seconds: 5,
            healthy_threshold: 2,
            unhealthy_threshold: 2,
            matcher: "200",
        },
        deregistration_delay_seconds: 120,
    }
}

/// The HTTPS listener's rule for the chatbot's hostname: sign in through its pool,
/// then forward to its target group.
fn listener_rule(spec: &BedrockChatbotSpec, domain_prefix: String) -> ListenerRule {
    ListenerRule {
        key: "listener-rule".into(),
        listener: HttpsListener,
        priority: spec.listener_rule_priority,
        condition: RuleMatch::HostHeader(spec.hostname.clone()),
        action: RuleThen::SignInThenForward {
            authenticate: AuthenticateCognito {
                user_pool: ChatbotRef::UserPoolArn,
                user_pool_client: ChatbotRef::UserPoolClientId,
                user_pool_domain: domain_prefix,
                scope: "openid email profile",
                on_unauthenticated_request: OnUnauthenticatedRequest::Authenticate,
                session_cookie_name: "AWSELBAuthSessionCookie",
                session_timeout_seconds: spec.cognito.session_timeout_seconds,
            },
            forward_to: ChatbotRef::TargetGroupArn,
        },
    }
}

/// The task definition: one read-only container of the chat app on Fargate, with the
/// environment the app reads and its logs in the chatbot's log group.
fn task_definition(
    names: &Names,
    spec: &BedrockChatbotSpec,
    environment: Vec<(String, Input)>,
    log_group: String,
) -> TaskDefinition {
    TaskDefinition {
        key: RefKey::TASK_DEFINITION.to_string(),
        family: names.named(255, Charset::HyphensUnderscores, ""),
        network_mode: NetworkMode::AwsVpc,
        requires_compatibilities: vec![Compatibility::Fargate],
        cpu: spec.task.cpu.to_string(),
        memory: spec.task.memory.to_string(),
        cpu_architecture: spec.task.architecture.into(),
        execution_role: PlatformRef::ExecutionRole,
        task_role: ChatbotRef::TaskRoleArn,
        container: Container {
            name: CONTAINER_NAME,
            image: spec.image.clone(),
            port: CHATBOT_PORT,
            readonly_root_filesystem: true,
            stop_timeout_seconds: 120,
            environment,
            log_group,
            log_stream_prefix: "chatbot",
            health_check: spec.task.container_health_check.clone(),
        },
    }
}

/// The ECS service: the spec's task count in private subnets without public IPs,
/// rolling deployments that roll back on failure.
fn service(names: &Names, spec: &BedrockChatbotSpec, private_subnets: Vec<PlatformRef>) -> Service {
    Service {
        key: RefKey::SERVICE.to_string(),
        name: names.named(255, Charset::HyphensUnderscores, ""),
        cluster: PlatformRef::Cluster,
        desired_count: spec.task.desired_count,
        launch_type: LaunchType::Fargate,
        platform_version: "LATEST",
        subnets: private_subnets,
        security_group: TASKS_SG.into(),
        assign_public_ip: false,
        load_balancer_container: (CONTAINER_NAME, CHATBOT_PORT),
        health_check_grace_period_seconds: spec.task.health_check_grace_period_seconds,
        minimum_healthy_percent: 100,
        maximum_percent: 200,
        circuit_breaker_rollback: true,
        propagate_tags: PropagateTags::Service,
        enable_execute_command: false,
        task_definition_record: None,
    }
}

/// Who a chatbot is, and the AWS names made from that.
struct Names {
    namespace: String,
    name: String,
    owner: Owner,
    /// `<namespace>-<name>`, the readable part of every AWS name.
    readable: String,
    /// The owner as text, hashed into every AWS name.
    identity: String,
}

impl Names {
    fn of(chatbot: &BedrockChatbot) -> Self {
        let namespace = chatbot
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = chatbot.metadata.name.clone().unwrap_or_default();
        let owner = Owner::BedrockChatbot {
            namespace: namespace.clone(),
            name: name.clone(),
        };
        Self {
            readable: format!("{namespace}-{name}"),
            identity: owner.to_string(),
            namespace,
            name,
            owner,
        }
    }

    /// The chatbot's prefix in the platform's attachments bucket: Kubernetes names
    /// hold no `/`, so no two chatbots' prefixes overlap.
    fn prefix(&self) -> String {
        format!("{}/{}/", self.namespace, self.name)
    }

    /// An AWS name of at most `max` characters of `charset`, ending in `suffix`.
    fn named(&self, max: usize, charset: Charset, suffix: &str) -> String {
        hashed_name(&self.readable, &self.identity, suffix, max, charset)
    }
}

/// What the chat app's container is told (the contract of `bedrock_chatbot::config`).
fn container_environment(
    spec: &bedrock_chatbot_crds::BedrockChatbotSpec,
    env: &Environment,
    url: &str,
    domain_url: &str,
    history_table: Option<&HistoryTable>,
    attachments: Option<&AttachmentsPrefix>,
) -> Vec<(String, Input)> {
    let mut environment = model_variables(&spec.model, env);
    environment.extend(sign_in_variables(env, url, domain_url));
    if let Some(table) = history_table {
        environment.extend([
            (
                env_vars::ENV_HISTORY_TABLE,
                Input::Value(table.name.clone()),
            ),
            (
                env_vars::ENV_HISTORY_RETENTION_DAYS,
                Input::Value(table.retention_days.to_string()),
            ),
        ]);
    }
    if let Some(attachments) = attachments {
        environment.extend([
            (
                env_vars::ENV_ATTACHMENTS_BUCKET,
                Input::Value(attachments.bucket.clone()),
            ),
            (
                env_vars::ENV_ATTACHMENTS_PREFIX,
                Input::Value(attachments.prefix.clone()),
            ),
        ]);
    }
    environment
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// The region and the model the app invokes, with its settings and the choices
/// users have.
fn model_variables(
    model: &bedrock_chatbot_crds::ModelSpec,
    env: &Environment,
) -> Vec<(&'static str, Input)> {
    let mut variables = vec![
        (env_vars::ENV_REGION, Input::Value(env.region.clone())),
        (env_vars::ENV_MODEL_ID, Input::Value(model.id.clone())),
        (
            env_vars::ENV_TEMPERATURE,
            Input::Value(model.temperature.to_string()),
        ),
        (
            env_vars::ENV_MAX_TOKENS,
            Input::Value(model.max_tokens.to_string()),
        ),
        (env_vars::ENV_TOP_P, Input::Value(model.top_p.to_string())),
    ];
    if let Some(prompt) = &model.system_prompt {
        variables.push((env_vars::ENV_SYSTEM_PROMPT, Input::Value(prompt.clone())));
    }
    if !model.alternatives.is_empty() || model.pricing.is_some() {
        variables.push((env_vars::ENV_MODELS, Input::Value(model_choices(model))));
    }
    variables
}

/// What the app checks a signed-in request with: the load balancer that signs
/// it, the pool's domain, client and token issuer.
fn sign_in_variables(env: &Environment, url: &str, domain_url: &str) -> [(&'static str, Input); 5] {
    [
        (
            env_vars::ENV_ALB_ARN,
            Input::Platform(PlatformRef::LoadBalancer),
        ),
        (env_vars::ENV_PUBLIC_URL, Input::Value(url.to_string())),
        (
            env_vars::ENV_COGNITO_DOMAIN_URL,
            Input::Value(domain_url.to_string()),
        ),
        (
            env_vars::ENV_COGNITO_CLIENT_ID,
            Input::Chatbot(ChatbotRef::UserPoolClientId),
        ),
        (
            env_vars::ENV_TOKEN_ISSUER,
            Input::Prefixed {
                prefix: token_issuer_prefix(&env.region),
                reference: ChatbotRef::UserPoolId,
            },
        ),
    ]
}

/// The task role: invoke the chatbot's models (a policy each) and, with history, the
/// items of its table and the files under its attachments prefix; under the
/// platform's permissions boundary.
fn task_role(
    names: &Names,
    spec: &bedrock_chatbot_crds::BedrockChatbotSpec,
    platform: &PlatformDesired,
    history_table: Option<&HistoryTable>,
    attachments: Option<&AttachmentsPrefix>,
) -> Role {
    let env = &platform.environment;
    let model = &spec.model;
    let mut policies = vec![(
        "bedrock-invoke".into(),
        iam::bedrock_invoke_policy(&model.id, &model.inference_regions, env),
    )];
    // Each model users may pick: invoked the same way, through a policy of its own.
    for (n, alternative) in model.alternatives.iter().enumerate() {
        policies.push((
            format!("bedrock-invoke-{}", n + 2),
            iam::bedrock_invoke_policy(&alternative.id, &alternative.inference_regions, env),
        ));
    }
    if let Some(table) = history_table {
        policies.push((
            "history-table".into(),
            iam::history_table_policy(&table.arn(env)),
        ));
    }
    if let Some(attachments) = attachments {
        policies.push((
            "attachments".into(),
            iam::attachments_policy(&attachments.objects_arn(env)),
        ));
    }
    let (namespace, name) = (&names.namespace, &names.name);
    Role {
        key: RefKey::TASK_ROLE.to_string(),
        name: names.named(64, Charset::Iam, "-task"),
        path: ROLE_PATH,
        description: task_role_description(namespace, name, model, history_table.is_some()),
        trust_policy: iam::task_role_trust_policy(env),
        managed_policy_arns: Vec::new(),
        inline_policies: policies,
        // The platform's boundary, as its execution role has it.
        permissions_boundary: platform.execution_role.permissions_boundary.clone(),
    }
}

/// What the task role is for: the models it may invoke (all of them, as users may
/// pick any), and whether it keeps history. IAM takes at most 1,000 characters of
/// description; a list of long model ids that would not fit is counted instead.
fn task_role_description(
    namespace: &str,
    name: &str,
    model: &bedrock_chatbot_crds::ModelSpec,
    history: bool,
) -> String {
    const MOST: usize = 1000;
    let mut models = model.id.clone();
    if let Some((last, between)) = model.alternatives.split_last() {
        for alternative in between {
            models.push_str(", ");
            models.push_str(&alternative.id);
        }
        models.push_str(" and ");
        models.push_str(&last.id);
    }
    let history = if history {
        ", keep its users' history"
    } else {
        ""
    };
    let description = format!("Chatbot {namespace}/{name}: invoke {models} only{history}");
    if description.len() <= MOST {
        description
    } else {
        format!(
            "Chatbot {namespace}/{name}: invoke its {} models only{history}",
            1 + model.alternatives.len()
        )
    }
}

/// Where the chatbot's tasks run: the platform's own VPC and private subnets, or
/// those of the existing network it was given.
struct TaskNetwork {
    vpc: PlatformRef,
    private_subnets: Vec<PlatformRef>,
}

fn task_network(platform: &PlatformDesired) -> TaskNetwork {
    match &platform.network {
        super::platform::Network::Managed(net) => TaskNetwork {
            vpc: PlatformRef::Vpc,
            private_subnets: net
                .private_subnets
                .iter()
                .map(|s| PlatformRef::PrivateSubnet(s.key.clone()))
                .collect(),
        },
        super::platform::Network::Existing(existing) => TaskNetwork {
            vpc: PlatformRef::Id(existing.vpc_id.clone()),
            private_subnets: existing
                .private_subnet_ids
                .iter()
                .cloned()
                .map(PlatformRef::Id)
                .collect(),
        },
    }
}

/// The app's `CHATBOT_MODELS`: the default model first, then the alternatives, each
/// with its label (the default's id when it has none) and prices.
fn model_choices(model: &bedrock_chatbot_crds::ModelSpec) -> String {
    let pricing = |p: &Option<bedrock_chatbot_crds::ModelPricing>| {
        p.as_ref().map(|p| env_vars::Pricing {
            currency: p.currency.clone(),
            input_per_million: p.input_per_million,
            output_per_million: p.output_per_million,
            cache_read_per_million: p.cache_read_per_million,
            cache_write_per_million: p.cache_write_per_million,
        })
    };
    let default = env_vars::ModelChoice {
        id: model.id.clone(),
        label: model.label.clone().unwrap_or_else(|| model.id.clone()),
        pricing: pricing(&model.pricing),
    };
    let choices: Vec<env_vars::ModelChoice> = std::iter::once(default)
        .chain(model.alternatives.iter().map(|a| env_vars::ModelChoice {
            id: a.id.clone(),
            label: a.label.clone(),
            pricing: pricing(&a.pricing),
        }))
        .collect();
    // A list of plain strings always serializes.
    serde_json::to_string(&choices).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bedrock_chatbot::config::Config;

    use super::*;
    use crate::desired::fixtures::{reference_chatbot, reference_platform};
    use crate::desired::platform;

    /// The names of the variables the task definition sets, in order.
    fn variable_names(desired: &ChatbotDesired) -> Vec<&str> {
        desired
            .task_definition
            .container
            .environment
            .iter()
            .map(|(n, _)| n.as_str())
            .collect()
    }

    fn reference() -> ChatbotDesired {
        let platform = platform::desired(&reference_platform(), "123456789012");
        desired(&reference_chatbot(), &platform)
    }

    #[test]
    fn user_pool_requires_totp_mfa_and_strong_passwords() {
        let pool = reference().user_pool;
        assert_eq!(pool.mfa_configuration.as_str(), "ON");
        assert!(pool.software_token_mfa);
        let p = &pool.password_policy;
        assert_eq!(p.minimum_length, 12);
        assert!(
            p.require_uppercase && p.require_lowercase && p.require_numbers && p.require_symbols
        );
        assert_eq!(pool.account_recovery, vec![RecoveryOption::VerifiedEmail]);
        assert!(pool.admin_create_user_only);
    }

    #[test]
    fn client_is_confidential_code_grant_with_the_alb_callback() {
        let client = reference().user_pool_client;
        assert!(client.generate_secret);
        assert_eq!(client.allowed_oauth_flows, vec![OAuthFlow::Code]);
        assert_eq!(
            client.allowed_oauth_scopes,
            vec!["openid", "email", "profile"]
        );
        assert_eq!(
            client.callback_urls,
            vec!["https://chat.team-a.example.com/oauth2/idpresponse"]
        );
        assert_eq!(
            client.supported_identity_providers,
            vec![IdentityProvider::Cognito]
        );
    }

    #[test]
    fn target_group_matches_the_reference_health_check() {
        let tg = reference().target_group;
        assert_eq!(
            (tg.target_type, tg.protocol, tg.port),
            (TargetType::Ip, Protocol::Http, 8501)
        );
        assert!(
            tg.name.len() <= 32 && tg.name.starts_with("team-a-assistant-"),
            "{}",
            tg.name
        );
        assert_eq!(
            tg.health_check,
            HealthCheck {
                path: "/?health=check".into(),
                interval_seconds: 30,
                timeout_seconds: 5,
                healthy_threshold: 2,
                unhealthy_threshold: 2,
                matcher: "200",
            }
        );
    }

    #[test]
    fn listener_rule_authenticates_on_the_https_listener_before_forwarding() {
        let rule = reference().listener_rule;
        assert_eq!(rule.listener.platform_ref(), PlatformRef::HttpsListener);
        // Shown and serialized as the platform reference it stands for.
        assert_eq!(rule.listener.to_string(), "https-listener");
        assert_eq!(
            serde_json::to_value(rule.listener).unwrap(),
            serde_json::to_value(PlatformRef::HttpsListener).unwrap()
        );
        assert_eq!(
            rule.condition,
            RuleMatch::HostHeader("chat.team-a.example.com".into())
        );
        let RuleThen::SignInThenForward {
            authenticate,
            forward_to,
        } = &rule.action
        else {
            panic!(
                "a chatbot's rule signs in, then forwards: {:?}",
                rule.action
            )
        };
        assert_eq!(
            authenticate.on_unauthenticated_request.as_str(),
            "authenticate"
        );
        assert_eq!(authenticate.scope, "openid email profile");
        assert_eq!(forward_to, &ChatbotRef::TargetGroupArn);
        assert_eq!(rule.priority, None);
    }

    #[test]
    fn service_runs_privately_with_circuit_breaker() {
        let service = reference().service;
        assert!(!service.assign_public_ip);
        assert_eq!(service.security_group, TASKS_SG);
        assert_eq!(
            service.subnets,
            vec![
                PlatformRef::PrivateSubnet("private-subnet-a".into()),
                PlatformRef::PrivateSubnet("private-subnet-b".into())
            ]
        );
        assert_eq!(service.desired_count, 1);
        assert_eq!(service.health_check_grace_period_seconds, 60);
        assert!(service.circuit_breaker_rollback);
        assert_eq!(service.launch_type, LaunchType::Fargate);
    }

    #[test]
    fn task_definition_is_the_reference_size_on_fargate() {
        let td = reference().task_definition;
        assert_eq!((td.cpu.as_str(), td.memory.as_str()), ("512", "1024"));
        assert_eq!(td.network_mode, NetworkMode::AwsVpc);
        assert_eq!(td.requires_compatibilities, vec![Compatibility::Fargate]);
        assert_eq!(td.container.port, 8501);
        assert!(td.container.readonly_root_filesystem);
        assert_eq!(td.container.log_group, "/bedrock-chatbot/team-a/assistant");
    }

    #[test]
    fn task_role_may_only_invoke_the_configured_model() {
        let role = reference().task_role;
        assert!(role.managed_policy_arns.is_empty());
        assert_eq!(role.inline_policies[0].0, "bedrock-invoke");
        let policy = serde_json::to_value(&role.inline_policies[0].1).unwrap();
        let profile = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0";
        assert_eq!(policy["Statement"].as_array().unwrap().len(), 2);
        assert_eq!(
            policy["Statement"][0]["Resource"],
            serde_json::json!([profile])
        );
        assert!(policy["Statement"][0].get("Condition").is_none());
        assert_eq!(
            policy["Statement"][1]["Resource"],
            serde_json::json!([
                "arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0"
            ])
        );
        assert_eq!(
            policy["Statement"][1]["Condition"],
            serde_json::json!({ "StringEquals": { "bedrock:InferenceProfileArn": profile } })
        );
        assert!(!policy.to_string().contains("\"*\""));
    }

    #[test]
    fn task_role_may_use_only_its_own_history_table_and_only_its_items() {
        let desired = reference();
        let table = desired.history_table.clone().unwrap();
        let role = desired.task_role;
        assert_eq!(role.inline_policies.len(), 3);
        assert_eq!(role.inline_policies[1].0, "history-table");
        let policy = serde_json::to_value(&role.inline_policies[1].1).unwrap();
        let arn = format!(
            "arn:aws:dynamodb:us-west-2:123456789012:table/{}",
            table.name
        );
        assert_eq!(
            policy["Statement"],
            serde_json::json!([{
                "Sid": "HistoryItems",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:BatchWriteItem",
                    "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem",
                    "dynamodb:Query", "dynamodb:UpdateItem"
                ],
                "Resource": [arn.clone(), format!("{arn}/index/*")],
            }])
        );
    }

    #[test]
    fn history_off_means_no_table_no_permission_and_no_variables() {
        let mut chatbot = reference_chatbot();
        chatbot.spec.history.enabled = false;
        let desired = desired(&chatbot, &platform::desired(&reference_platform(), "1"));
        assert_eq!(desired.history_table, None);
        // Still known by name, so that a table an earlier spec made is found.
        assert!(desired.history_table_off.name.ends_with("-history"));
        assert_eq!(desired.task_role.inline_policies.len(), 1);
        let names = variable_names(&desired);
        assert!(names.contains(&env_vars::ENV_MODEL_ID));
        for name in env_vars::OPERATOR_SET_FOR_HISTORY
            .iter()
            .chain(&env_vars::OPERATOR_SET_FOR_ATTACHMENTS)
        {
            assert!(!names.contains(name), "{name}");
        }
        // Files are kept to reopen conversations: without history, none are.
        assert_eq!(desired.attachments, None);
        assert_eq!(desired.attachments_expiry, None);
        assert_eq!(desired.attachments_off.prefix, "team-a/assistant/");
    }

    /// The task role may put, get and delete objects under its own prefix of the
    /// platform's bucket: nothing else in the bucket, no listing, no bucket action.
    #[test]
    fn task_role_may_touch_only_the_files_under_its_own_prefix() {
        let reference = reference();
        let files = reference.attachments.clone().unwrap();
        assert_eq!(files.prefix, "team-a/assistant/");
        let (name, policy) = &reference.task_role.inline_policies[2];
        assert_eq!(name, "attachments");
        let policy = serde_json::to_value(policy).unwrap();
        assert_eq!(
            policy["Statement"],
            serde_json::json!([{
                "Sid": "AttachmentObjects",
                "Effect": "Allow",
                "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
                "Resource": [format!("arn:aws:s3:::{}/team-a/assistant/*", files.bucket)],
            }])
        );
        // Another team's prefix is never a prefix of this one's, nor the reverse.
        let platform = platform::desired(&reference_platform(), "123456789012");
        let mut other = reference_chatbot();
        other.metadata.name = Some("assistant-2".into());
        let other = desired(&other, &platform).attachments.unwrap();
        assert!(!other.prefix.starts_with(&files.prefix));
        assert!(!files.prefix.starts_with(&other.prefix));
        assert_eq!(other.bucket, files.bucket, "one bucket per platform");
    }

    #[test]
    fn attachments_expire_with_the_conversations_and_can_be_switched_off() {
        let expiry = reference().attachments_expiry.unwrap();
        assert_eq!(expiry.days, 90);
        assert_eq!(expiry.prefix, "team-a/assistant/");
        assert!(expiry.rule_id.len() <= 255);
        let platform = platform::desired(&reference_platform(), "1");
        let mut chatbot = reference_chatbot();
        chatbot.spec.history.retention_days = 0;
        let forever = desired(&chatbot, &platform);
        assert!(forever.attachments.is_some());
        assert_eq!(forever.attachments_expiry, None, "0 keeps files for ever");
        assert_eq!(forever.attachments_expiry_off.rule_id, expiry.rule_id);
        chatbot.spec.attachments.enabled = false;
        let off = desired(&chatbot, &platform);
        assert_eq!(off.attachments, None);
        assert_eq!(off.task_role.inline_policies.len(), 2);
        for name in env_vars::OPERATOR_SET_FOR_ATTACHMENTS {
            assert!(!variable_names(&off).contains(&name), "{name}");
        }
    }

    #[test]
    fn history_table_is_on_demand_with_recovery_and_the_spec_retention() {
        let mut chatbot = reference_chatbot();
        chatbot.spec.history.retention_days = 0;
        let table = desired(&chatbot, &platform::desired(&reference_platform(), "1"))
            .history_table
            .unwrap();
        assert!(table.point_in_time_recovery);
        assert!(!table.expires_items());
        let table = reference().history_table.unwrap();
        assert_eq!(table.retention_days, 90);
        assert!(table.expires_items());
        // DynamoDB table names: 3 to 255 of [A-Za-z0-9_.-].
        assert!(table.name.len() <= 255);
        assert!(
            table
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        );
    }

    /// The confused-deputy guard AWS documents for task roles: only ECS, for this
    /// account, in this region.
    #[test]
    fn task_role_trust_is_guarded_by_account_and_source_arn() {
        let trust = serde_json::to_value(&reference().task_role.trust_policy).unwrap();
        assert_eq!(
            trust,
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "Service": "ecs-tasks.amazonaws.com" },
                    "Action": ["sts:AssumeRole"],
                    "Condition": {
                        "ArnLike": { "aws:SourceArn": "arn:aws:ecs:us-west-2:123456789012:*" },
                        "StringEquals": { "aws:SourceAccount": "123456789012" }
                    }
                }]
            })
        );
    }

    /// Models to pick and their prices reach the app as it reads them.
    #[test]
    fn the_models_and_their_prices_reach_the_app() {
        let mut chatbot = reference_chatbot();
        let platform = platform::desired(&reference_platform(), "123456789012");
        let environment = |chatbot: &BedrockChatbot| {
            desired(chatbot, &platform)
                .task_definition
                .container
                .environment
                .iter()
                .find(|(name, _)| name == env_vars::ENV_MODELS)
                .map(|(_, value)| match value {
                    Input::Value(v) => v.clone(),
                    other => panic!("{other:?}"),
                })
        };
        assert_eq!(
            environment(&chatbot),
            None,
            "one unpriced model: nothing to say"
        );
        let price = bedrock_chatbot_crds::ModelPricing {
            currency: "USD".into(),
            input_per_million: 3.0,
            output_per_million: 15.0,
            cache_read_per_million: Some(0.3),
            cache_write_per_million: None,
        };
        chatbot.spec.model.pricing = Some(price.clone());
        chatbot.spec.model.alternatives = vec![bedrock_chatbot_crds::AlternativeModel {
            id: "amazon.nova-pro-v1:0".into(),
            label: "Nova Pro".into(),
            pricing: None,
            inference_regions: vec![],
        }];
        let listed = environment(&chatbot).unwrap();
        let config = Config::from_lookup(|name| {
            if name == env_vars::ENV_MODELS {
                Some(listed.clone())
            } else {
                bedrock_chatbot::config::local_default(name).map(str::to_string)
            }
        });
        let model = config.unwrap().model;
        assert_eq!(model.choices.len(), 2);
        assert_eq!(
            model.choices[0].label,
            "us.anthropic.claude-sonnet-4-20250514-v1:0"
        );
        let pricing = model.choices[0].pricing.as_ref().unwrap();
        assert_eq!(pricing.currency, price.currency);
        assert_eq!(pricing.cache_read_per_million, Some(0.3));
        assert_eq!(model.choices[1].pricing, None);
    }

    /// The task role's description says what it may invoke: every model users may
    /// pick, not only the default.
    #[test]
    fn the_task_role_description_names_every_model_it_may_invoke() {
        let mut chatbot = reference_chatbot();
        let platform = platform::desired(&reference_platform(), "123456789012");
        let one = desired(&chatbot, &platform).task_role.description;
        assert!(
            one.contains("invoke us.anthropic.claude-sonnet-4-20250514-v1:0 only"),
            "{one}"
        );
        chatbot.spec.model.alternatives = vec![bedrock_chatbot_crds::AlternativeModel {
            id: "amazon.nova-pro-v1:0".into(),
            label: "Nova Pro".into(),
            pricing: None,
            inference_regions: vec![],
        }];
        let two = desired(&chatbot, &platform).task_role.description;
        assert!(
            two.contains(
                "invoke us.anthropic.claude-sonnet-4-20250514-v1:0 and amazon.nova-pro-v1:0 only"
            ),
            "{two}"
        );
        // Ten long ids would not fit IAM's 1,000 characters: they are counted.
        chatbot.spec.model.alternatives = (1..=9)
            .map(|n| bedrock_chatbot_crds::AlternativeModel {
                id: format!("amazon.{}-v{n}:0", "m".repeat(100)),
                label: format!("Model {n}"),
                pricing: None,
                inference_regions: vec![],
            })
            .collect();
        let many = desired(&chatbot, &platform).task_role.description;
        assert!(many.len() <= 1000, "{many}");
        assert!(many.contains("invoke its 10 models only"), "{many}");
    }

    /// The environment the operator writes is exactly what the chat app accepts.
    #[test]
    fn container_environment_satisfies_the_chatbot_config_contract() {
        let mut chatbot = reference_chatbot();
        chatbot.spec.model.system_prompt = Some("Be brief.".into());
        let platform = platform::desired(&reference_platform(), "123456789012");
        let desired = desired(&chatbot, &platform);
        let vars: HashMap<String, String> = desired
            .task_definition
            .container
            .environment
            .iter()
            .map(|(name, value)| {
                let resolved = match value {
                    Input::Value(v) => v.clone(),
                    Input::Platform(PlatformRef::LoadBalancer) => {
                        "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/x/1"
                            .into()
                    }
                    Input::Chatbot(ChatbotRef::UserPoolClientId) => "client-id".into(),
                    Input::Prefixed {
                        prefix,
                        reference: ChatbotRef::UserPoolId,
                    } => format!("{prefix}us-west-2_AbCdEf123"),
                    other => panic!("unexpected reference {other:?} in the environment"),
                };
                (name.clone(), resolved)
            })
            .collect();
        let names = variable_names(&desired);
        let expected: Vec<&str> = env_vars::OPERATOR_SET
            .iter()
            .chain(&env_vars::OPERATOR_SET_FOR_HISTORY)
            .chain(&env_vars::OPERATOR_SET_FOR_ATTACHMENTS)
            .copied()
            .collect();
        assert_eq!(names, expected);
        let config = Config::from_lookup(|name| vars.get(name).cloned()).unwrap();
        let files = desired.attachments.as_ref().unwrap();
        assert_eq!(
            vars[env_vars::ENV_ATTACHMENTS_BUCKET],
            platform.attachments_bucket.name
        );
        assert_eq!(vars[env_vars::ENV_ATTACHMENTS_PREFIX], files.prefix);
        assert!(files.prefix.len() <= env_vars::MAX_ATTACHMENTS_PREFIX_BYTES);
        // The app accepts both (an S3 bucket name; a prefix of plain segments).
        let attachments = config.attachments.as_ref().unwrap();
        assert_eq!(
            (attachments.bucket.as_str(), attachments.prefix.as_str()),
            (files.bucket.as_str(), files.prefix.as_str())
        );
        let history = config.history.unwrap();
        assert_eq!(history.table, desired.history_table.as_ref().unwrap().name);
        assert_eq!(history.retention_days, 90);
        assert_eq!(
            config.model.model_id,
            "us.anthropic.claude-sonnet-4-20250514-v1:0"
        );
        assert_eq!(config.model.max_tokens, 2000);
        assert!((config.model.temperature - 0.9).abs() < 1e-6);
        assert!((config.model.top_p - 1.0).abs() < 1e-6);
        assert_eq!(config.model.system_prompt.as_deref(), Some("Be brief."));
        assert_eq!(config.auth.public_url, "https://chat.team-a.example.com");
        assert!(
            config
                .auth
                .cognito_domain_url
                .ends_with(".auth.us-west-2.amazoncognito.com")
        );
        // The app accepts tokens of this chatbot's pool only.
        assert_eq!(
            config.auth.token_issuer,
            "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_AbCdEf123"
        );
    }

    #[test]
    fn names_of_two_teams_never_collide_even_when_joined_alike() {
        let platform = platform::desired(&reference_platform(), "1");
        let mut a = reference_chatbot();
        a.metadata.namespace = Some("team-a".into());
        a.metadata.name = Some("bot".into());
        let mut b = reference_chatbot();
        b.metadata.namespace = Some("team".into());
        b.metadata.name = Some("a-bot".into());
        let (a, b) = (desired(&a, &platform), desired(&b, &platform));
        assert_ne!(a.target_group.name, b.target_group.name);
        assert_ne!(a.service.name, b.service.name);
        assert_ne!(a.task_role.name, b.task_role.name);
        assert_ne!(a.task_definition.family, b.task_definition.family);
    }

    #[test]
    fn long_names_fit_every_aws_limit() {
        let platform = platform::desired(&reference_platform(), "1");
        let mut chatbot = reference_chatbot();
        chatbot.metadata.namespace = Some("n".repeat(63));
        chatbot.metadata.name = Some("m".repeat(253));
        let d = desired(&chatbot, &platform);
        assert!(d.target_group.name.len() <= 32);
        assert!(d.task_role.name.len() <= 64);
        assert!(d.user_pool.name.len() <= 128);
        assert!(d.user_pool_client.name.len() <= 128);
        assert!(d.user_pool_domain.prefix.len() <= 63);
        assert!(d.service.name.len() <= 255);
        assert!(d.task_definition.family.len() <= 255);
        assert!(d.log_group.name.len() <= 512);
    }

    #[test]
    fn scaling_is_off_unless_asked_for() {
        assert!(reference().scaling.is_none());
        let platform = platform::desired(&reference_platform(), "1");
        let mut chatbot = reference_chatbot();
        chatbot.spec.scaling = Some(serde_json::from_value(serde_json::json!({})).unwrap());
        let scaled = desired(&chatbot, &platform);
        let scaling = scaled.scaling.clone().unwrap();
        assert_eq!((scaling.min_capacity, scaling.max_capacity), (1, 4));
        // Turned off, it keeps its identity: what an earlier spec made is found.
        let off = reference().scaling_off;
        assert_eq!(
            (&off.key, &off.policy_name),
            (&scaling.key, &scaling.policy_name)
        );
        assert_eq!(scaled.scaling_off, off);
        assert_eq!(scaling.metric.as_str(), "ECSServiceAverageCPUUtilization");
        assert!((scaling.target_value - 60.0).abs() < f64::EPSILON);
    }
}
