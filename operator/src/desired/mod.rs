//! Desired state: every AWS resource a `ChatbotPlatform` or `BedrockChatbot` needs,
//! computed by pure functions from the specs — no I/O, so it is unit-tested on plain
//! values and shown offline by `plan`.
//!
//! Resources that refer to each other before they exist (a subnet to its VPC, a
//! service to its target group) do so through typed references ([`PlatformRef`],
//! [`ChatbotRef`]) that the engine resolves to ids once they exist.

pub mod aws_enums;
pub mod chatbot;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod iam;
pub mod naming;
pub mod platform;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

pub use chatbot::ChatbotDesired;
pub use platform::PlatformDesired;

/// Tag naming the tool that manages a resource.
pub const TAG_MANAGED_BY: &str = "bedrock-chatbot.dev/managed-by";
/// Value of [`TAG_MANAGED_BY`].
pub const MANAGED_BY: &str = "bedrock-chatbot-operator";
/// Tag naming the Kubernetes object that owns a resource (`<kind>/<namespace>/<name>`).
pub const TAG_OWNER: &str = "bedrock-chatbot.dev/owner";
/// Tag naming a resource's role within its owner (`vpc`, `public-subnet-a`, …), so a
/// restarted controller finds each one again.
pub const TAG_COMPONENT: &str = "bedrock-chatbot.dev/component";
/// Tag naming the platform a resource belongs to (cost allocation across teams).
pub const TAG_PLATFORM: &str = "bedrock-chatbot.dev/platform";
/// Tag on a chatbot's ECS service recording the task definition revision it was
/// pointed at: a digest of the desired task definition settings and that revision's
/// ARN, written only once the revision exists and the service uses it. A later pass
/// that finds the same digest skips reading the (immutable) revision.
pub const TAG_TASK_DEFINITION: &str = "bedrock-chatbot.dev/task-definition";

/// Account id shown when the account is not known (offline `plan`).
pub const UNKNOWN_ACCOUNT: &str = "<account-id>";

/// Where resources are created: partition, region and account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    /// `aws`, `aws-cn` or `aws-us-gov`, from the region.
    pub partition: String,
    /// The platform's `spec.region`, which its chatbots share.
    pub region: String,
    /// AWS account id, or [`UNKNOWN_ACCOUNT`].
    pub account_id: String,
}

impl Environment {
    /// The environment of `region` in `account_id`.
    pub fn new(region: &str, account_id: &str) -> Self {
        let partition = if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        };
        Self {
            partition: partition.into(),
            region: region.into(),
            account_id: account_id.into(),
        }
    }
}

/// The Kubernetes object that owns a set of AWS resources.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind")]
pub enum Owner {
    /// A cluster-scoped `ChatbotPlatform`.
    ChatbotPlatform {
        /// Its name.
        name: String,
    },
    /// A namespaced `BedrockChatbot`.
    BedrockChatbot {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
}

impl fmt::Display for Owner {
    /// The value of the [`TAG_OWNER`] tag: `ChatbotPlatform/<name>` (cluster-scoped,
    /// no namespace) or `BedrockChatbot/<namespace>/<name>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ChatbotPlatform { name } => write!(f, "ChatbotPlatform/{name}"),
            Self::BedrockChatbot { namespace, name } => {
                write!(f, "BedrockChatbot/{namespace}/{name}")
            }
        }
    }
}

/// AWS tags, ordered for stable output.
pub type Tags = BTreeMap<String, String>;

/// The tags every resource of `owner` carries: ownership, the platform, and the
/// user's extra tags (which cannot override the operator's own keys: the CRD
/// refuses the reserved prefix).
pub fn owner_tags(owner: &Owner, platform: &str, extra: &BTreeMap<String, String>) -> Tags {
    let mut tags: Tags = extra.clone();
    tags.insert(TAG_MANAGED_BY.into(), MANAGED_BY.into());
    tags.insert(TAG_OWNER.into(), owner.to_string());
    tags.insert(TAG_PLATFORM.into(), platform.into());
    tags
}

/// The tags of one resource: its owner's tags plus its component key and, for
/// resources that show a name in the console, a `Name` tag.
pub fn resource_tags(owner_tags: &Tags, component: &str, name: Option<&str>) -> Tags {
    let mut tags = owner_tags.clone();
    tags.insert(TAG_COMPONENT.into(), component.into());
    if let Some(name) = name {
        tags.insert("Name".into(), name.into());
    }
    tags
}

/// A platform resource another resource points at, resolved to an id or ARN by the
/// engine once it exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "ref", content = "key", rename_all = "camelCase")]
pub enum PlatformRef {
    /// A resource that exists already (existing network mode), by its AWS id.
    Id(String),
    /// The VPC the operator creates.
    Vpc,
    /// A public subnet, by component key.
    PublicSubnet(String),
    /// A private subnet, by component key.
    PrivateSubnet(String),
    /// The internet gateway, by id.
    InternetGateway,
    /// A NAT gateway, by component key.
    NatGateway(String),
    /// A security group, by component key.
    SecurityGroup(String),
    /// A route table, by component key.
    RouteTable(String),
    /// The load balancer, by ARN.
    LoadBalancer,
    /// The HTTPS listener, by ARN: chatbots' rules go on it.
    HttpsListener,
    /// The ECS cluster, by ARN.
    Cluster,
    /// The shared task execution role.
    ExecutionRole,
}

impl PlatformRef {
    /// The key the engine records the resource's id under, unless it is a known id.
    pub fn key(&self) -> Option<RefKey> {
        Some(match self {
            Self::Id(_) => return None,
            Self::Vpc => RefKey::VPC,
            Self::PublicSubnet(key)
            | Self::PrivateSubnet(key)
            | Self::NatGateway(key)
            | Self::SecurityGroup(key)
            | Self::RouteTable(key) => RefKey::component(key.clone()),
            Self::InternetGateway => RefKey::INTERNET_GATEWAY,
            Self::LoadBalancer => RefKey::LOAD_BALANCER,
            Self::HttpsListener => RefKey::HTTPS_LISTENER,
            Self::Cluster => RefKey::CLUSTER,
            Self::ExecutionRole => RefKey::EXECUTION_ROLE,
        })
    }
}

impl fmt::Display for PlatformRef {
    /// The known id, or the key of the resource.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, self.key()) {
            (Self::Id(id), _) => f.write_str(id),
            (_, key) => f.write_str(key.as_ref().map_or("", RefKey::as_str)),
        }
    }
}

/// The key the engine records an id (or ARN, or another value) under while
/// resources converge: a resource's component key (the
/// [`TAG_COMPONENT`] tag), or a name for a second value of one resource. The keys
/// other resources look up by name are constants, so a misspelt one does not
/// compile; the desired state names its resources by them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RefKey(Cow<'static, str>);

impl RefKey {
    /// The VPC (created, or the existing one).
    pub const VPC: Self = Self::fixed("vpc");
    /// The internet gateway, by id.
    pub const INTERNET_GATEWAY: Self = Self::fixed("internet-gateway");
    /// The load balancer, by ARN.
    pub const LOAD_BALANCER: Self = Self::fixed("load-balancer");
    /// The load balancer's DNS name (status shows it).
    pub const LOAD_BALANCER_DNS_NAME: Self = Self::fixed("load-balancer-dns-name");
    /// The HTTPS listener, the one chatbots' rules go on.
    pub const HTTPS_LISTENER: Self = Self::fixed("https-listener");
    /// The ECS cluster, by ARN.
    pub const CLUSTER: Self = Self::fixed("cluster");
    /// The shared task execution role.
    pub const EXECUTION_ROLE: Self = Self::fixed("execution-role");
    /// A chatbot's user pool, by id.
    pub const USER_POOL: Self = Self::fixed("user-pool");
    /// A chatbot's user pool, by ARN (the listener rule needs it).
    pub const USER_POOL_ARN: Self = Self::fixed("user-pool-arn");
    /// A chatbot's app client.
    pub const USER_POOL_CLIENT: Self = Self::fixed("user-pool-client");
    /// A chatbot's target group.
    pub const TARGET_GROUP: Self = Self::fixed("target-group");
    /// A chatbot's task role.
    pub const TASK_ROLE: Self = Self::fixed("task-role");
    /// A chatbot's task definition (its latest revision).
    pub const TASK_DEFINITION: Self = Self::fixed("task-definition");
    /// A chatbot's ECS service (auto scaling scales it).
    pub const SERVICE: Self = Self::fixed("service");

    const fn fixed(key: &'static str) -> Self {
        Self(Cow::Borrowed(key))
    }

    /// The key of the resource with component key `key` (from the desired state).
    pub fn component(key: impl Into<String>) -> Self {
        Self(Cow::Owned(key.into()))
    }

    /// The key as the component tag holds it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RefKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
