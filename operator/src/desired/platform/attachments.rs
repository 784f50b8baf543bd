//! The platform's attachments bucket: the images and documents users add to their
//! conversations, one prefix per chatbot (`<namespace>/<name>/`, the app adds the
//! user), each chatbot's task role limited to its own prefix.
//!
//! One bucket per platform rather than one per chatbot: S3 bucket names are global
//! and an account holds 10,000 general purpose buckets by default, while prefixes
//! are free and a task role's access is as narrow either way.
//!
//! How long files are kept follows each chatbot's `spec.history.retentionDays`, the
//! time its conversations are kept, through one lifecycle rule per chatbot filtered
//! by its prefix ([`AttachmentsExpiry`](crate::desired::chatbot::AttachmentsExpiry)),
//! written by the chatbot's own pass. A platform-level expiry cannot follow teams
//! that keep conversations 7 days and 10 years on the same bucket, and an expiry
//! by object tag would leave the retention to the app. The bucket's one rule of its
//! own ([`PLATFORM_LIFECYCLE_RULE`]) clears what no user will ever read: uploads
//! never completed, and versions left behind should someone turn versioning on
//! (the operator leaves it off: a file deleted with its conversation must not stay
//! as a noncurrent version; a day after, the rule removes one).

use super::*;
use crate::desired::aws_enums::{BucketEncryption, ObjectOwnership};
use crate::desired::naming::short_hash;

/// The S3 bucket of every chatbot's attachments.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentsBucket {
    /// Its component key: the `bedrock-chatbot.dev/component` tag that finds it on
    /// AWS, and the key its id is recorded under for what points at it.
    pub key: String,
    /// Bucket name (globally unique, see [`bucket_name`]).
    pub name: String,
    /// The account that must own it: every call names it
    /// (`x-amz-expected-bucket-owner`), so a bucket of the same name in someone
    /// else's account is never read, written or emptied.
    pub account_id: String,
    /// The platform's region (S3 creates a bucket outside us-east-1 only with it as
    /// `LocationConstraint`).
    pub region: String,
    /// `AES256`: server-side encryption with S3 managed keys, as the reference
    /// architecture encrypts its repository.
    pub encryption: BucketEncryption,
    /// `BucketOwnerEnforced`: ACLs off, the platform's account owns every object.
    pub object_ownership: ObjectOwnership,
    /// The bucket policy: requests without TLS are denied.
    pub policy: serde_json::Value,
    /// Days after which an upload never completed is aborted, and a version no
    /// longer current is deleted ([`PLATFORM_LIFECYCLE_RULE`]).
    pub cleanup_days: i32,
}

/// Id of the bucket's own lifecycle rule; every other rule is a chatbot's.
pub const PLATFORM_LIFECYCLE_RULE: &str = "bcb-platform-cleanup";

/// A globally unique S3 bucket name for the platform named `name`: `bcb-<name>`
/// (cut to fit), a hash of the platform, then the account and region — S3 names are
/// shared by every AWS account, so two accounts' platforms called `shared` must not
/// meet. 3 to 63 lowercase letters, digits and hyphens: no dots (they break TLS
/// for virtual-hosted addresses), and none of S3's reserved prefixes or suffixes
/// (`xn--`, `sthree-`, `-s3alias`, `--ol-s3`, …) since it starts with `bcb-` and
/// ends in the region
/// ([Bucket naming rules](https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html)).
pub fn bucket_name(name: &str, account_id: &str, region: &str) -> String {
    super::super::naming::hashed_name(
        &format!("bcb-{name}"),
        &platform_identity(name),
        &format!("-{account_id}-{region}"),
        63,
        Charset::LowerHyphens,
    )
}

/// The bucket's ARN (S3 ARNs name no region or account).
pub fn bucket_arn(env: &Environment, bucket: &str) -> String {
    format!("arn:{}:s3:::{bucket}", env.partition)
}

/// A bucket policy that denies every request not sent over TLS, as AWS's
/// security best practices for S3 ask
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html>).
pub fn tls_only_policy(env: &Environment, bucket: &str) -> serde_json::Value {
    let arn = bucket_arn(env, bucket);
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn.clone(), format!("{arn}/*")],
            "Condition": { "Bool": { "aws:SecureTransport": "false" } }
        }]
    })
}

pub(super) fn attachments_bucket(name: &str, env: &Environment) -> AttachmentsBucket {
    let bucket = bucket_name(name, &env.account_id, &env.region);
    AttachmentsBucket {
        key: "attachments-bucket".into(),
        policy: tls_only_policy(env, &bucket),
        name: bucket,
        account_id: env.account_id.clone(),
        region: env.region.clone(),
        encryption: BucketEncryption::Aes256,
        object_ownership: ObjectOwnership::BucketOwnerEnforced,
        cleanup_days: 1,
    }
}

/// The id of a chatbot's lifecycle rule for `prefix`: readable, unique (a hash of
/// the prefix), within S3's 255 characters.
pub fn expiry_rule_id(prefix: &str) -> String {
    let readable: String = prefix.trim_end_matches('/').chars().take(200).collect();
    format!("expire {readable} {}", short_hash(prefix))
}
