//! The platform's S3 bucket of attachments, and each chatbot's part of it: the
//! lifecycle rule expiring its files, and its files when they go with it.
//!
//! Bucket names are global: the bucket is looked up by name, and every call names
//! the account that must own it (`ExpectedBucketOwner`), so a same-named bucket of
//! another account is never read, written or emptied — S3 answers 403 instead. A
//! bucket of ours is found by its name and checked by its ownership tags, as the
//! other named resources are.
//!
//! S3 behaviour this module follows:
//! - outside us-east-1 a bucket is created with its region as `LocationConstraint`;
//!   in us-east-1 without one (S3 refuses `us-east-1` there);
//! - `BucketAlreadyOwnedByYou` answers a create repeated after its answer was lost
//!   (outside us-east-1; there the repeat succeeds): it is ours, and settled like a
//!   new one. `BucketAlreadyExists` is another account's name: terminal, said so;
//! - a bucket just created may not be seen by every S3 host for a moment: a
//!   `NoSuchBucket` from a `Put…` right after is a wait (see
//!   `aws::error::propagating`), not an absence;
//! - S3 refuses to delete a bucket that holds anything (`BucketNotEmpty`), versions
//!   and delete markers included: it is emptied first, a bounded number of objects
//!   per pass, then deleted.
//!
//! The bucket's lifecycle configuration is one document for the whole bucket:
//! the platform's rule ([`PLATFORM_LIFECYCLE_RULE`]) and one rule per chatbot. Each
//! owner rewrites only its own rule and keeps every other as read. S3 takes no
//! condition on that write, so two owners writing at once could lose one rule; the
//! controller runs one reconcile at a time, and a rule lost all the same (to S3's
//! delayed propagation of a new configuration, say) is its owner's drift, restored
//! on its next pass.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::create_bucket::CreateBucketError;
use aws_sdk_s3::operation::head_bucket::HeadBucketError;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    CreateBucketConfiguration, Delete, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, NoncurrentVersionExpiration, ObjectIdentifier, OwnershipControls,
    OwnershipControlsRule, PublicAccessBlockConfiguration, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
    TransitionDefaultMinimumObjectSize,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use super::{Ctx, Drift, Planned, Removal, Resource, Write, tags};
use crate::aws::AwsError;
use crate::desired::Tags;
use crate::desired::chatbot::{AttachmentsExpiry, AttachmentsPrefix};
use crate::desired::platform::{AttachmentsBucket, PLATFORM_LIFECYCLE_RULE};
use crate::{Error, Result};

/// Objects (versions and delete markers included) one deletion step removes at
/// most before it reports a wait: a pass stays bounded however many files a
/// bucket holds; the next pass goes on.
pub const OBJECTS_PER_PASS: usize = 10_000;

/// The bucket as found on S3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedAttachmentsBucket {
    /// The desired name it was found by (S3 bucket names are global).
    pub name: String,
    /// `BlockPublicAcls`, `IgnorePublicAcls`, `BlockPublicPolicy`,
    /// `RestrictPublicBuckets` (all false when none is set).
    pub public_access_block: [bool; 4],
    /// Algorithm of the default encryption (`AES256`, `aws:kms`, …).
    pub encryption: Option<String>,
    /// The bucket policy, parsed.
    pub policy: Option<serde_json::Value>,
    /// Object ownership (`BucketOwnerEnforced`, …).
    pub object_ownership: Option<String>,
    /// The platform's lifecycle rule, in comparable form.
    pub cleanup: Option<CleanupRule>,
    /// Its tags as GetBucketTagging returns them (empty when it has none).
    pub tags: Tags,
}

/// The platform's lifecycle rule in a shape that compares by value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CleanupRule {
    /// Whether the rule is on (`Status: Enabled`).
    pub enabled: bool,
    /// It applies to the whole bucket.
    pub whole_bucket: bool,
    /// Days before an upload never completed is aborted.
    pub abort_incomplete_days: Option<i32>,
    /// Days before a version no longer current is deleted.
    pub noncurrent_days: Option<i32>,
}

settings! {
    /// What can change in place on the attachments bucket.
    pub enum AttachmentsBucketSetting {
        PublicAccessBlock => "publicAccessBlock",
        Encryption => "encryption",
        Policy => "policy",
        ObjectOwnership => "objectOwnership",
        /// The platform's own lifecycle rule.
        Lifecycle => "lifecycle",
        /// Tags missing, or with another value.
        Tags => "tags",
    }
}

impl Resource for AttachmentsBucket {
    const KIND: &'static str = "S3 bucket";
    type Observed = ObservedAttachmentsBucket;
    type Setting = AttachmentsBucketSetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedAttachmentsBucket>> {
        if !self.exists(ctx).await? {
            return Ok(None);
        }
        let tags = bucket_tags(ctx, &self.name, &self.account_id).await?;
        // A bucket of this name in this account with no tag at all is one whose
        // creation was cut off before its tags were kept (AWS keeps the tags given
        // to CreateBucket with it; the emulator keeps none): the name holds this
        // platform's hash, account and region, so it is ours, and is tagged by the
        // update. A bucket with any other tags is someone else's.
        if !tags.is_empty() {
            tags::ensure_owned(Self::KIND, &self.name, ctx.owner, &tags)?;
        }
        let public_access_block = self.read_public_access_block(ctx).await?;
        let encryption = self.read_encryption(ctx).await?;
        let policy = self.read_policy(ctx).await?;
        let object_ownership = self.read_object_ownership(ctx).await?;
        let lifecycle = lifecycle_of(ctx, &self.name, &self.account_id).await?;
        Ok(Some(ObservedAttachmentsBucket {
            name: self.name.clone(),
            public_access_block,
            encryption,
            policy,
            object_ownership,
            cleanup: lifecycle
                .rules
                .iter()
                .find(|r| r.id.as_deref() == Some(PLATFORM_LIFECYCLE_RULE))
                .map(cleanup_rule),
            tags,
        }))
    }

    fn drift(
        &self,
        observed: &ObservedAttachmentsBucket,
        ctx: Ctx<'_>,
    ) -> Result<Vec<Drift<AttachmentsBucketSetting>>> {
        // Tags first: after a create they are what makes the bucket known as ours.
        Ok([
            tags::drift(
                AttachmentsBucketSetting::Tags,
                self.missing_tags(observed, ctx),
            ),
            Drift::compare(
                AttachmentsBucketSetting::PublicAccessBlock,
                observed.public_access_block,
                [true; 4],
            ),
            Drift::compare(
                AttachmentsBucketSetting::Encryption,
                observed.encryption.as_deref(),
                Some(self.encryption.as_str()),
            ),
            Drift::compare(
                AttachmentsBucketSetting::Policy,
                observed.policy.as_ref(),
                Some(&self.policy),
            ),
            Drift::compare(
                AttachmentsBucketSetting::ObjectOwnership,
                observed.object_ownership.as_deref(),
                Some(self.object_ownership.as_str()),
            ),
            Drift::compare(
                AttachmentsBucketSetting::Lifecycle,
                observed.cleanup.as_ref(),
                Some(&self.cleanup()),
            ),
        ]
        .into_iter()
        .flatten()
        .collect())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedAttachmentsBucket> {
        let tags = tags::for_resource(ctx.tags, &self.key, &self.name);
        // S3 refuses `us-east-1` as a location: there the bucket is created without.
        let location = (self.region != "us-east-1")
            .then(|| BucketLocationConstraint::from(self.region.as_str()));
        let configuration = CreateBucketConfiguration::builder()
            .set_location_constraint(location)
            .set_tags(Some(s3_tags(&tags)?))
            .build();
        let created = ctx
            .aws
            .s3
            .create_bucket()
            .bucket(&self.name)
            .create_bucket_configuration(configuration)
            .object_ownership(self.object_ownership.into())
            .send()
            .await;
        match created {
            Ok(_) => {}
            // A create repeated after its answer was lost: ours, settled below.
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(CreateBucketError::is_bucket_already_owned_by_you) => {}
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(CreateBucketError::is_bucket_already_exists) =>
            {
                return Err(taken_by_another_account(&self.name));
            }
            Err(error) => return Err(error.into()),
        }
        // Everything else as on a bucket with none of it yet: S3 creates a bucket
        // with public access blocked and SSE-S3 by default, but the operator
        // writes what it wants rather than relying on defaults. The tags again
        // too: the emulator ignores tags on CreateBucket (AWS keeps them).
        let bare = ObservedAttachmentsBucket {
            name: self.name.clone(),
            public_access_block: [false; 4],
            encryption: None,
            policy: None,
            object_ownership: Some(self.object_ownership.to_string()),
            cleanup: None,
            tags: Tags::new(),
        };
        let drift = self.drift(&bare, ctx)?;
        self.update(&bare, &drift, ctx).await?;
        Ok(ObservedAttachmentsBucket {
            public_access_block: [true; 4],
            encryption: Some(self.encryption.to_string()),
            policy: Some(self.policy.clone()),
            cleanup: Some(self.cleanup()),
            tags,
            ..bare
        })
    }

    async fn update(
        &self,
        observed: &ObservedAttachmentsBucket,
        drift: &[Drift<AttachmentsBucketSetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        for change in drift {
            match change.field {
                AttachmentsBucketSetting::Tags => self.put_tags(observed, ctx).await?,
                AttachmentsBucketSetting::PublicAccessBlock => {
                    self.put_public_access_block(ctx).await?;
                }
                AttachmentsBucketSetting::Encryption => self.put_encryption(ctx).await?,
                AttachmentsBucketSetting::Policy => self.put_policy(ctx).await?,
                AttachmentsBucketSetting::ObjectOwnership => {
                    self.put_object_ownership(ctx).await?;
                }
                AttachmentsBucketSetting::Lifecycle => {
                    put_lifecycle_rule(
                        ctx,
                        &self.name,
                        &self.account_id,
                        PLATFORM_LIFECYCLE_RULE,
                        Some(self.cleanup_sdk()?),
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }

    async fn delete(&self, observed: &ObservedAttachmentsBucket, ctx: Ctx<'_>) -> Result<Removal> {
        if let Removal::Waiting(why) = empty(ctx, &observed.name, &self.account_id, "").await? {
            return Ok(Removal::Waiting(why));
        }
        let deleted = ctx
            .aws
            .s3
            .delete_bucket()
            .bucket(&observed.name)
            .expected_bucket_owner(&self.account_id)
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(Removal::Done),
            // A file written between the listing and now (a task still running):
            // emptied on the next pass.
            Err(error) if error.code() == Some("BucketNotEmpty") => {
                Ok(Removal::Waiting("objects written while emptying".into()))
            }
            Err(error) => Err(error.into()),
        }
    }

    fn id(observed: &ObservedAttachmentsBucket) -> String {
        observed.name.clone()
    }

    /// The bucket's lifecycle configuration, which its update rewrites.
    fn listing(&self, _write: Write, _ctx: Ctx<'_>) -> Option<String> {
        Some(lifecycle_key(&self.name))
    }
}

impl AttachmentsBucket {
    /// Whether the bucket exists in our account: HeadBucket naming the account,
    /// which S3 answers 403 for a bucket of another account.
    async fn exists(&self, ctx: Ctx<'_>) -> Result<bool> {
        let head = ctx
            .aws
            .s3
            .head_bucket()
            .bucket(&self.name)
            .expected_bucket_owner(&self.account_id)
            .send()
            .await;
        match head {
            Ok(_) => Ok(true),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(HeadBucketError::is_not_found) =>
            {
                Ok(false)
            }
            Err(error) if error.raw_response().map(|r| r.status().as_u16()) == Some(403) => {
                Err(taken_by_another_account(&self.name))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The tags the bucket should have and has not (or has with another value).
    fn missing_tags(&self, observed: &ObservedAttachmentsBucket, ctx: Ctx<'_>) -> Tags {
        tags::missing(ctx.tags, &self.key, &self.name, &observed.tags)
    }

    fn cleanup(&self) -> CleanupRule {
        CleanupRule {
            enabled: true,
            whole_bucket: true,
            abort_incomplete_days: Some(self.cleanup_days),
            noncurrent_days: Some(self.cleanup_days),
        }
    }

    fn cleanup_sdk(&self) -> Result<LifecycleRule> {
        LifecycleRule::builder()
            .id(PLATFORM_LIFECYCLE_RULE)
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(self.cleanup_days)
                    .build(),
            )
            .noncurrent_version_expiration(
                NoncurrentVersionExpiration::builder()
                    .noncurrent_days(self.cleanup_days)
                    .build(),
            )
            .build()
            .map_err(|e| build_error("PutBucketLifecycleConfiguration", &e))
    }
}

/// Reads of the bucket's settings, one S3 call each, as `observe` makes them.
impl AttachmentsBucket {
    /// `BlockPublicAcls`, `IgnorePublicAcls`, `BlockPublicPolicy`,
    /// `RestrictPublicBuckets` as set (all false when none is).
    async fn read_public_access_block(&self, ctx: Ctx<'_>) -> Result<[bool; 4]> {
        let block = or_absent_code(
            ctx.aws
                .s3
                .get_public_access_block()
                .bucket(&self.name)
                .expected_bucket_owner(&self.account_id)
                .send()
                .await,
            &["NoSuchPublicAccessBlockConfiguration"],
        )?;
        Ok(block
            .and_then(|b| b.public_access_block_configuration)
            .map(|c| {
                [
                    c.block_public_acls == Some(true),
                    c.ignore_public_acls == Some(true),
                    c.block_public_policy == Some(true),
                    c.restrict_public_buckets == Some(true),
                ]
            })
            .unwrap_or_default())
    }

    /// The algorithm of the default encryption, if one is set.
    async fn read_encryption(&self, ctx: Ctx<'_>) -> Result<Option<String>> {
        let encryption = or_absent_code(
            ctx.aws
                .s3
                .get_bucket_encryption()
                .bucket(&self.name)
                .expected_bucket_owner(&self.account_id)
                .send()
                .await,
            &["ServerSideEncryptionConfigurationNotFoundError"],
        )?;
        Ok(encryption
            .and_then(|e| e.server_side_encryption_configuration)
            .and_then(|c| c.rules.into_iter().next())
            .and_then(|r| r.apply_server_side_encryption_by_default)
            .map(|d| d.sse_algorithm.as_str().to_string()))
    }

    /// The bucket policy, parsed (kept as a JSON string if it does not parse).
    async fn read_policy(&self, ctx: Ctx<'_>) -> Result<Option<serde_json::Value>> {
        let policy = or_absent_code(
            ctx.aws
                .s3
                .get_bucket_policy()
                .bucket(&self.name)
                .expected_bucket_owner(&self.account_id)
                .send()
                .await,
            &["NoSuchBucketPolicy"],
        )?;
        Ok(policy
            .and_then(|p| p.policy)
            .map(|text| serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))))
    }

    /// The object ownership of the first ownership rule, if any is set.
    async fn read_object_ownership(&self, ctx: Ctx<'_>) -> Result<Option<String>> {
        let ownership = or_absent_code(
            ctx.aws
                .s3
                .get_bucket_ownership_controls()
                .bucket(&self.name)
                .expected_bucket_owner(&self.account_id)
                .send()
                .await,
            &["OwnershipControlsNotFoundError"],
        )?;
        Ok(ownership
            .and_then(|o| o.ownership_controls)
            .and_then(|c| c.rules.into_iter().next())
            .map(|r| r.object_ownership.as_str().to_string()))
    }
}

/// Writes of the bucket's settings, one S3 call each, as `update` makes them.
impl AttachmentsBucket {
    /// Adds the missing tags. PutBucketTagging replaces the whole set: the tags
    /// others added are kept.
    async fn put_tags(&self, observed: &ObservedAttachmentsBucket, ctx: Ctx<'_>) -> Result<()> {
        let mut all = observed.tags.clone();
        all.extend(self.missing_tags(observed, ctx));
        let tagging = Tagging::builder()
            .set_tag_set(Some(s3_tags(&all)?))
            .build()
            .map_err(|e| build_error("PutBucketTagging", &e))?;
        ctx.aws
            .s3
            .put_bucket_tagging()
            .bucket(&self.name)
            .expected_bucket_owner(&self.account_id)
            .tagging(tagging)
            .send()
            .await?;
        Ok(())
    }

    /// Blocks every kind of public access.
    async fn put_public_access_block(&self, ctx: Ctx<'_>) -> Result<()> {
        let block = PublicAccessBlockConfiguration::builder()
            .block_public_acls(true)
            .ignore_public_acls(true)
            .block_public_policy(true)
            .restrict_public_buckets(true)
            .build();
        ctx.aws
            .s3
            .put_public_access_block()
            .bucket(&self.name)
            .expected_bucket_owner(&self.account_id)
            .public_access_block_configuration(block)
            .send()
            .await?;
        Ok(())
    }

    async fn put_encryption(&self, ctx: Ctx<'_>) -> Result<()> {
        let default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(self.encryption.into())
            .build()
            .map_err(|e| build_error("PutBucketEncryption", &e))?;
        let configuration = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(default)
                    .build(),
            )
            .build()
            .map_err(|e| build_error("PutBucketEncryption", &e))?;
        ctx.aws
            .s3
            .put_bucket_encryption()
            .bucket(&self.name)
            .expected_bucket_owner(&self.account_id)
            .server_side_encryption_configuration(configuration)
            .send()
            .await?;
        Ok(())
    }

    async fn put_policy(&self, ctx: Ctx<'_>) -> Result<()> {
        ctx.aws
            .s3
            .put_bucket_policy()
            .bucket(&self.name)
            .expected_bucket_owner(&self.account_id)
            .policy(self.policy.to_string())
            .send()
            .await?;
        Ok(())
    }

    async fn put_object_ownership(&self, ctx: Ctx<'_>) -> Result<()> {
        let rule = OwnershipControlsRule::builder()
            .object_ownership(self.object_ownership.into())
            .build()
            .map_err(|e| build_error("PutBucketOwnershipControls", &e))?;
        let controls = OwnershipControls::builder()
            .rules(rule)
            .build()
            .map_err(|e| build_error("PutBucketOwnershipControls", &e))?;
        ctx.aws
            .s3
            .put_bucket_ownership_controls()
            .bucket(&self.name)
            .expected_bucket_owner(&self.account_id)
            .ownership_controls(controls)
            .send()
            .await?;
        Ok(())
    }
}

fn cleanup_rule(rule: &LifecycleRule) -> CleanupRule {
    CleanupRule {
        enabled: rule.status == ExpirationStatus::Enabled,
        whole_bucket: rule_prefix(rule).is_empty(),
        abort_incomplete_days: rule
            .abort_incomplete_multipart_upload
            .as_ref()
            .and_then(|a| a.days_after_initiation),
        noncurrent_days: rule
            .noncurrent_version_expiration
            .as_ref()
            .and_then(|n| n.noncurrent_days),
    }
}

/// The prefix a rule applies to, whichever of its two places it is written in
/// (the `Filter`, or the older top-level `Prefix`); empty for the whole bucket.
fn rule_prefix(rule: &LifecycleRule) -> &str {
    #[allow(deprecated)]
    let top = rule.prefix.as_deref();
    rule.filter
        .as_ref()
        .and_then(|f| f.prefix.as_deref())
        .or(top)
        .unwrap_or_default()
}

/// A chatbot's expiry rule as found: its filter's prefix and days.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedExpiry {
    /// The chatbot's rule id (see `expiry_rule_id`), unique in the bucket.
    pub id: String,
    /// Whether the rule is on (`Status: Enabled`); one turned off is corrected.
    pub enabled: bool,
    /// The prefix it applies to.
    pub prefix: String,
    /// Days after which a file expires.
    pub days: Option<i32>,
}

settings! {
    /// What can change on a chatbot's expiry rule (the rule is rewritten whole).
    pub enum ExpirySetting {
        Rule => "lifecycle rule",
    }
}

impl Resource for AttachmentsExpiry {
    const KIND: &'static str = "S3 lifecycle rule";
    type Observed = ObservedExpiry;
    type Setting = ExpirySetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.rule_id
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedExpiry>> {
        let lifecycle = lifecycle_of(ctx, &self.bucket, &self.account_id).await?;
        if !lifecycle.exists {
            return Err(Error::Unresolved(self.bucket_key.clone()));
        }
        Ok(lifecycle
            .rules
            .iter()
            .find(|r| r.id.as_deref() == Some(self.rule_id.as_str()))
            .map(|r| ObservedExpiry {
                id: self.rule_id.clone(),
                enabled: r.status == ExpirationStatus::Enabled,
                prefix: rule_prefix(r).to_string(),
                days: r.expiration.as_ref().and_then(|e| e.days),
            }))
    }

    fn drift(&self, observed: &ObservedExpiry, _ctx: Ctx<'_>) -> Result<Vec<Drift<ExpirySetting>>> {
        Ok(
            Drift::compare(ExpirySetting::Rule, observed, &self.wanted())
                .into_iter()
                .collect(),
        )
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedExpiry> {
        put_lifecycle_rule(
            ctx,
            &self.bucket,
            &self.account_id,
            &self.rule_id,
            Some(self.sdk()?),
        )
        .await?;
        Ok(self.wanted())
    }

    async fn update(
        &self,
        _observed: &ObservedExpiry,
        _drift: &[Drift<ExpirySetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        put_lifecycle_rule(
            ctx,
            &self.bucket,
            &self.account_id,
            &self.rule_id,
            Some(self.sdk()?),
        )
        .await
    }

    async fn delete(&self, _observed: &ObservedExpiry, ctx: Ctx<'_>) -> Result<Removal> {
        put_lifecycle_rule(ctx, &self.bucket, &self.account_id, &self.rule_id, None).await?;
        Ok(Removal::Done)
    }

    fn id(observed: &ObservedExpiry) -> String {
        observed.id.clone()
    }

    fn listing(&self, _write: Write, _ctx: Ctx<'_>) -> Option<String> {
        Some(lifecycle_key(&self.bucket))
    }
}

impl AttachmentsExpiry {
    fn wanted(&self) -> ObservedExpiry {
        ObservedExpiry {
            id: self.rule_id.clone(),
            enabled: true,
            prefix: self.prefix.clone(),
            days: Some(self.days),
        }
    }

    fn sdk(&self) -> Result<LifecycleRule> {
        LifecycleRule::builder()
            .id(&self.rule_id)
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix(&self.prefix).build())
            .expiration(LifecycleExpiration::builder().days(self.days).build())
            .build()
            .map_err(|e| build_error("PutBucketLifecycleConfiguration", &e))
    }
}

/// A chatbot's files, as found: something is under its prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedFiles {
    /// `<namespace>/<name>/`: the chatbot's prefix, under which something was found.
    pub prefix: String,
}

impl Resource for AttachmentsPrefix {
    const KIND: &'static str = "S3 attachments";
    type Observed = ObservedFiles;
    /// Nothing: the app writes the files; the operator only removes them.
    type Setting = std::convert::Infallible;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.prefix
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedFiles>> {
        let listed = ctx
            .aws
            .s3
            .list_object_versions()
            .bucket(&self.bucket)
            .expected_bucket_owner(&self.account_id)
            .prefix(&self.prefix)
            .max_keys(1)
            .send()
            .await;
        let listed = match listed {
            Err(error) if error.code() == Some("NoSuchBucket") => {
                return Err(Error::Unresolved(self.bucket_key.clone()));
            }
            other => other?,
        };
        let any = !listed.versions().is_empty() || !listed.delete_markers().is_empty();
        Ok(any.then(|| ObservedFiles {
            prefix: self.prefix.clone(),
        }))
    }

    fn drift(&self, _: &ObservedFiles, _: Ctx<'_>) -> Result<Vec<Drift<Self::Setting>>> {
        Ok(Vec::new())
    }

    /// Never called by the engine: the prefix holds what the app wrote.
    async fn create(&self, _ctx: Ctx<'_>) -> Result<ObservedFiles> {
        Ok(ObservedFiles {
            prefix: self.prefix.clone(),
        })
    }

    nothing_changes_in_place!(ObservedFiles);

    async fn delete(&self, _observed: &ObservedFiles, ctx: Ctx<'_>) -> Result<Removal> {
        empty(ctx, &self.bucket, &self.account_id, &self.prefix).await
    }

    fn id(observed: &ObservedFiles) -> String {
        observed.prefix.clone()
    }
}

/// Deletes every object under `prefix` of `bucket` — each version and delete
/// marker, so that nothing is left behind in a bucket whose versioning was ever
/// on — at most [`OBJECTS_PER_PASS`] of them; a wait when more are left.
pub async fn empty(ctx: Ctx<'_>, bucket: &str, owner: &str, prefix: &str) -> Result<Removal> {
    let s3 = &ctx.aws.s3;
    let mut deleted = 0;
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .prefix(prefix)
            .send()
            .await;
        let page = match page {
            Err(error) if error.code() == Some("NoSuchBucket") => return Ok(Removal::Done),
            other => other?,
        };
        let objects: Vec<ObjectIdentifier> = page
            .versions()
            .iter()
            .map(|v| (v.key(), v.version_id()))
            .chain(
                page.delete_markers()
                    .iter()
                    .map(|m| (m.key(), m.version_id())),
            )
            .filter_map(|(key, version)| {
                ObjectIdentifier::builder()
                    .set_key(key.map(str::to_string))
                    .set_version_id(version.map(str::to_string))
                    .build()
                    .ok()
            })
            .collect();
        if objects.is_empty() {
            return Ok(Removal::Done);
        }
        if deleted >= OBJECTS_PER_PASS {
            return Ok(Removal::Waiting(format!(
                "{deleted} objects deleted this pass, more left"
            )));
        }
        deleted += objects.len();
        let out = s3
            .delete_objects()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .delete(
                Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()
                    .map_err(|e| build_error("DeleteObjects", &e))?,
            )
            .send()
            .await?;
        if let Some(failed) = out.errors().first() {
            return Err(Error::Aws(AwsError::unexpected(
                "s3",
                "DeleteObjects",
                &format!(
                    "{} of {bucket} not deleted: {} {}",
                    failed.key().unwrap_or("?"),
                    failed.code().unwrap_or("?"),
                    failed.message().unwrap_or_default()
                ),
            )));
        }
    }
}

/// A bucket's lifecycle configuration as read, shared by the pass.
#[derive(Clone, Debug, Default)]
struct Lifecycle {
    /// Whether the bucket exists.
    exists: bool,
    rules: Vec<LifecycleRule>,
    /// Kept as found when the rules are written back.
    minimum_object_size: Option<TransitionDefaultMinimumObjectSize>,
}

fn lifecycle_key(bucket: &str) -> String {
    format!("s3:lifecycle:{bucket}")
}

/// The bucket's lifecycle rules, read once per pass for the platform and every
/// chatbot on it ([`crate::aws::PassReads`]).
async fn lifecycle_of(ctx: Ctx<'_>, bucket: &str, owner: &str) -> Result<Lifecycle> {
    ctx.aws
        .reads
        .get_or_load(&lifecycle_key(bucket), async {
            let read = ctx
                .aws
                .s3
                .get_bucket_lifecycle_configuration()
                .bucket(bucket)
                .expected_bucket_owner(owner)
                .send()
                .await;
            match read {
                Ok(out) => Ok(Lifecycle {
                    exists: true,
                    minimum_object_size: out.transition_default_minimum_object_size.clone(),
                    rules: out.rules.unwrap_or_default(),
                }),
                Err(error) if error.code() == Some("NoSuchLifecycleConfiguration") => {
                    Ok(Lifecycle {
                        exists: true,
                        ..Lifecycle::default()
                    })
                }
                Err(error) if error.code() == Some("NoSuchBucket") => Ok(Lifecycle::default()),
                Err(error) => Err(error.into()),
            }
        })
        .await
}

/// Writes the bucket's lifecycle configuration with rule `id` replaced by `rule`
/// (removed when `None`), every other rule kept as read just now.
async fn put_lifecycle_rule(
    ctx: Ctx<'_>,
    bucket: &str,
    owner: &str,
    id: &str,
    rule: Option<LifecycleRule>,
) -> Result<()> {
    // Read afresh: the engine forgets the pass's copy before this write and after
    // it (`Resource::listing` of the bucket and of the expiry rules).
    let current = lifecycle_of(ctx, bucket, owner).await?;
    let mut rules: Vec<LifecycleRule> = current
        .rules
        .into_iter()
        .filter(|r| r.id.as_deref() != Some(id))
        .collect();
    rules.extend(rule);
    let s3 = &ctx.aws.s3;
    if rules.is_empty() {
        s3.delete_bucket_lifecycle()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .send()
            .await?;
    } else {
        s3.put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .set_transition_default_minimum_object_size(current.minimum_object_size)
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .set_rules(Some(rules))
                    .build()
                    .map_err(|e| build_error("PutBucketLifecycleConfiguration", &e))?,
            )
            .send()
            .await?;
    }
    Ok(())
}

/// The bucket's tags (`NoSuchTagSet`: none).
async fn bucket_tags(ctx: Ctx<'_>, bucket: &str, owner: &str) -> Result<Tags> {
    let tagging = or_absent_code(
        ctx.aws
            .s3
            .get_bucket_tagging()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .send()
            .await,
        &["NoSuchTagSet"],
    )?;
    Ok(tagging
        .map(|t| t.tag_set.into_iter().map(|t| (t.key, t.value)).collect())
        .unwrap_or_default())
}

/// The output of a read, `None` when S3 answers one of `codes` (S3 models most
/// of its "not configured" answers as plain error codes, not typed errors).
fn or_absent_code<T, E>(
    result: std::result::Result<T, SdkError<E, HttpResponse>>,
    codes: &[&str],
) -> Result<Option<T>>
where
    E: ProvideErrorMetadata
        + aws_smithy_types::retry::ProvideErrorKind
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(error) if error.code().is_some_and(|c| codes.contains(&c)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

fn s3_tags(tags: &Tags) -> Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| build_error("PutBucketTagging", &e))
        })
        .collect()
}

/// The bucket name belongs to another AWS account (S3 names are global).
fn taken_by_another_account(bucket: &str) -> Error {
    Error::NotOwned {
        kind: AttachmentsBucket::KIND,
        name: bucket.to_string(),
        owner: Some("another AWS account (S3 bucket names are global)".into()),
    }
}

fn build_error(operation: &'static str, error: &impl std::fmt::Display) -> Error {
    Error::Aws(AwsError::unexpected("s3", operation, &error.to_string()))
}

impl Planned for AttachmentsBucket {
    fn detail(&self) -> String {
        format!(
            "attachments, a prefix per chatbot; {}, public access blocked, TLS only, {}, unfinished uploads and old versions removed after {} day(s)",
            self.encryption, self.object_ownership, self.cleanup_days
        )
    }
}
