use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What happens to the AWS resources when the Kubernetes object is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete every AWS resource the operator created for this object.
    #[default]
    Delete,
    /// Leave the AWS resources in place; only the Kubernetes object goes away.
    Retain,
}

/// Status of a condition, as in Kubernetes' `metav1.Condition`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// The controller cannot tell yet.
    Unknown,
}

/// One observation about the object, keyed by `type` (kstatus conventions: `Ready`,
/// `Synced`, `Degraded`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Kind of condition: `Ready`, `Synced` or `Degraded`.
    #[serde(rename = "type")]
    #[schemars(length(min = 1, max = 316))]
    pub type_: String,
    /// Whether the condition holds: `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// A single CamelCase word saying why, for machines (e.g. `WaitingForPlatform`).
    #[schemars(length(min = 1, max = 1024))]
    pub reason: String,
    /// What happened and what to do about it, for people.
    #[serde(default)]
    #[schemars(length(max = 32768))]
    pub message: String,
    /// When `status` last changed (RFC 3339).
    pub last_transition_time: String,
    /// The `metadata.generation` this condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Condition type: everything the object asks for exists on AWS and is healthy.
pub const CONDITION_READY: &str = "Ready";
/// Condition type: the last reconcile converged AWS to the current spec.
pub const CONDITION_SYNCED: &str = "Synced";
/// Condition type: something works only partly (e.g. resources exist, tasks unhealthy).
pub const CONDITION_DEGRADED: &str = "Degraded";
/// Condition type (kstatus convention, "abnormal-true"): the controller is still
/// working towards the current spec.
pub const CONDITION_RECONCILING: &str = "Reconciling";
/// Condition type (kstatus convention, "abnormal-true"): the controller cannot make
/// progress until something changes (an invalid spec, an error no retry fixes).
pub const CONDITION_STALLED: &str = "Stalled";

/// Extra AWS tags applied to every resource made for the object, on top of the
/// operator's own ownership tags.
pub type ExtraTags = BTreeMap<String, String>;

/// The CEL rule shared by every `tags` field: keys that AWS or the operator reserve
/// are refused, and keys and values stay inside AWS tag limits.
pub(crate) const TAGS_RULE: &str = "self.all(k, !k.startsWith('aws:') && !k.startsWith('bedrock-chatbot.dev/') && size(k) >= 1 && size(k) <= 128 && size(self[k]) <= 256)";
/// The message that goes with [`TAGS_RULE`].
pub(crate) const TAGS_MESSAGE: &str = "tag keys must be 1-128 characters and must not start with 'aws:' or 'bedrock-chatbot.dev/' (reserved); values at most 256 characters";

/// The CEL rule shared by every `tags` field: keys and values hold only what IAM,
/// ECS, Elastic Load Balancing and CloudWatch Logs accept — Unicode letters,
/// digits and spaces and `_ . : / = + - @` — as IAM's pattern
/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]*` says
/// (<https://docs.aws.amazon.com/IAM/latest/APIReference/API_Tag.html>; ECS names the
/// same set in <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Tag.html>).
/// A mark (`\p{M}`, such as a Devanagari vowel sign) is not a letter. The API
/// server's RE2 and the file mode's Rust regex read these Unicode classes alike.
pub(crate) const TAG_CHARACTERS_RULE: &str = r"self.all(k, k.matches('^[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*$') && self[k].matches('^[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*$'))";
/// `maxLength` of a tag value in the schema: not AWS's limit (256, which
/// [`TAGS_RULE`] checks with a message saying so), only a bound for the API
/// server's estimate of what [`TAG_CHARACTERS_RULE`] costs: it estimates an
/// unbounded string at the size of a whole request and refuses the CRD.
pub(crate) const TAG_VALUE_COST_BOUND: u32 = 1024;
/// The message that goes with [`TAG_CHARACTERS_RULE`].
pub(crate) const TAG_CHARACTERS_MESSAGE: &str = "tag keys and values may hold only letters, digits, spaces and _ . : / = + - @ (what IAM, ECS, Elastic Load Balancing and CloudWatch Logs accept)";
