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
    /// AWS region.
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
    /// The internet gateway.
    InternetGateway,
    /// A NAT gateway, by component key.
    NatGateway(String),
    /// A security group, by component key.
    SecurityGroup(String),
    /// A route table, by component key.
    RouteTable(String),
    /// The load balancer.
    LoadBalancer,
    /// The HTTPS listener.
    HttpsListener,
    /// The ECS cluster.
    Cluster,
    /// The shared task execution role.
    ExecutionRole,
}

impl fmt::Display for PlatformRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => f.write_str(id),
            Self::Vpc => f.write_str("vpc"),
            Self::PublicSubnet(key)
            | Self::PrivateSubnet(key)
            | Self::NatGateway(key)
            | Self::SecurityGroup(key)
            | Self::RouteTable(key) => f.write_str(key),
            Self::InternetGateway => f.write_str("internet-gateway"),
            Self::LoadBalancer => f.write_str("load-balancer"),
            Self::HttpsListener => f.write_str("https-listener"),
            Self::Cluster => f.write_str("cluster"),
            Self::ExecutionRole => f.write_str("execution-role"),
        }
    }
}
