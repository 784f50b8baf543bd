//! The chatbot's DynamoDB table of conversations (`spec.history`). Table names are
//! unique per account and region: found by name, touched only when ours.
//!
//! Its layout — keys, the local index, the expiry attribute — is the app's
//! ([`bedrock_chatbot::history_table`]) and fixed at creation: a table of ours laid
//! out otherwise is reported, never rebuilt (that would delete what users saved).
//! What can change in place is kept as desired: on-demand billing, encryption with
//! the AWS managed key, point-in-time recovery, time to live, tags.
//!
//! A new table is `CREATING` for a while, and DynamoDB refuses backup and time-to-live
//! changes until it is `ACTIVE`
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithTables.Basics.html>):
//! those settings are made once it is, and until then the table waits.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::describe_table::DescribeTableError;
use aws_sdk_dynamodb::operation::update_time_to_live::UpdateTimeToLiveError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, LocalSecondaryIndex,
    PointInTimeRecoverySpecification, PointInTimeRecoveryStatus, Projection, ProjectionType,
    ScalarAttributeType, SseSpecification, SseStatus, SseType, TableDescription, TableStatus, Tag,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use bedrock_chatbot::history_table::{
    BY_UPDATED_INDEX, EXPIRES_AT, PARTITION_KEY, SORT_KEY, UPDATED_AT,
};

use super::{Ctx, Drift, Planned, Readiness, Removal, Resource, on_off, tags};
use crate::aws::{AwsError, ErrorClass, or_absent};
use crate::desired::Tags;
use crate::desired::chatbot::HistoryTable;
use crate::{Error, Result};

/// A history table as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedHistoryTable {
    /// The desired name it was found by: its recorded id (unique per account and
    /// region).
    pub name: String,
    /// The table's ARN, what its tags are written to.
    pub arn: String,
    /// `CREATING`, `UPDATING`, `ACTIVE`, `DELETING`, …
    pub status: String,
    /// Billed per request (no capacity to plan or exhaust).
    pub on_demand: bool,
    /// Encrypted with a KMS key (the AWS managed `aws/dynamodb` one, unless someone
    /// chose another), rather than DynamoDB's own AWS owned key.
    pub kms_encrypted: bool,
    /// Point-in-time recovery on (`None`: not read, the table is not `ACTIVE`).
    pub point_in_time_recovery: Option<bool>,
    /// The attribute time to live expires items by, while it is on or turning on
    /// (`None` inside: off or turning off; outer `None`: not read, not `ACTIVE`).
    pub expiry_attribute: Option<Option<String>>,
    /// Its tags, as ListTagsOfResource returns them.
    pub tags: Tags,
}

impl ObservedHistoryTable {
    fn is_active(&self) -> bool {
        self.status == TableStatus::Active.as_str()
    }
}

settings! {
    /// What can change in place on a history table.
    pub enum HistoryTableSetting {
        OnDemand => "billingMode on demand",
        KmsEncryption => "encrypted with KMS",
        PointInTimeRecovery => "pointInTimeRecovery",
        TimeToLive => "timeToLive",
        /// Tags missing, or with another value.
        Tags => "tags",
    }
}

impl Resource for HistoryTable {
    const KIND: &'static str = "DynamoDB table";
    type Observed = ObservedHistoryTable;
    type Setting = HistoryTableSetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedHistoryTable>> {
        let described = ctx
            .aws
            .dynamodb
            .describe_table()
            .table_name(&self.name)
            .send()
            .await;
        let Some(described) = or_absent(
            described,
            DescribeTableError::is_resource_not_found_exception,
        )?
        else {
            return Ok(None);
        };
        let table = described.table.ok_or_else(|| unexpected("DescribeTable"))?;
        let arn = table.table_arn().unwrap_or_default().to_string();
        let tags = self.tags_of(&arn, ctx).await?;
        tags::ensure_owned(Self::KIND, &self.name, ctx.owner, &tags)?;
        self.check_layout(&table)?;
        let status = table
            .table_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        let mut observed = ObservedHistoryTable {
            name: self.name.clone(),
            arn,
            on_demand: table
                .billing_mode_summary()
                .and_then(|b| b.billing_mode())
                .is_some_and(|m| *m == BillingMode::PayPerRequest),
            kms_encrypted: table.sse_description().is_some_and(|sse| {
                sse.status() == Some(&SseStatus::Enabled) && sse.sse_type() == Some(&SseType::Kms)
            }),
            status,
            point_in_time_recovery: None,
            expiry_attribute: None,
            tags,
        };
        if observed.is_active() {
            observed.point_in_time_recovery = Some(self.point_in_time_recovery_of(ctx).await?);
            observed.expiry_attribute = Some(self.expiry_attribute_of(ctx).await?);
        }
        Ok(Some(observed))
    }

    fn drift(
        &self,
        observed: &ObservedHistoryTable,
        ctx: Ctx<'_>,
    ) -> Result<Vec<Drift<HistoryTableSetting>>> {
        // DynamoDB changes nothing of a table that is not ACTIVE: wait for it.
        if !observed.is_active() {
            return Ok(Vec::new());
        }
        let expiry = self.expires_items().then(|| EXPIRES_AT.to_string());
        Ok([
            Drift::compare(HistoryTableSetting::OnDemand, observed.on_demand, true),
            Drift::compare(
                HistoryTableSetting::KmsEncryption,
                observed.kms_encrypted,
                true,
            ),
            Drift::compare(
                HistoryTableSetting::PointInTimeRecovery,
                observed.point_in_time_recovery,
                Some(self.point_in_time_recovery),
            ),
            Drift::compare(
                HistoryTableSetting::TimeToLive,
                observed.expiry_attribute.clone(),
                Some(expiry),
            ),
            tags::drift(HistoryTableSetting::Tags, self.missing_tags(observed, ctx)),
        ]
        .into_iter()
        .flatten()
        .collect())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedHistoryTable> {
        let tags = tags::for_resource(ctx.tags, &self.key, &self.name);
        let created = ctx
            .aws
            .dynamodb
            .create_table()
            .table_name(&self.name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(vec![
                key_element(PARTITION_KEY, KeyType::Hash)?,
                key_element(SORT_KEY, KeyType::Range)?,
            ]))
            .set_attribute_definitions(Some(vec![
                attribute(PARTITION_KEY, ScalarAttributeType::S)?,
                attribute(SORT_KEY, ScalarAttributeType::S)?,
                attribute(UPDATED_AT, ScalarAttributeType::N)?,
            ]))
            .local_secondary_indexes(
                LocalSecondaryIndex::builder()
                    .index_name(BY_UPDATED_INDEX)
                    .key_schema(key_element(PARTITION_KEY, KeyType::Hash)?)
                    .key_schema(key_element(UPDATED_AT, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(|e| build_error("CreateTable", &e))?,
            )
            .sse_specification(kms_encryption())
            .set_tags(Some(dynamodb_tags(&tags)?))
            .send()
            .await?;
        let table = created
            .table_description
            .ok_or_else(|| unexpected("CreateTable"))?;
        let observed = ObservedHistoryTable {
            name: self.name.clone(),
            arn: table.table_arn().unwrap_or_default().to_string(),
            status: table
                .table_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            on_demand: true,
            kms_encrypted: true,
            point_in_time_recovery: None,
            expiry_attribute: None,
            tags,
        };
        if !observed.is_active() {
            // Backups and time to live follow once the table is ACTIVE.
            return Ok(observed);
        }
        let observed = ObservedHistoryTable {
            point_in_time_recovery: Some(false),
            expiry_attribute: Some(None),
            ..observed
        };
        let drift = self.drift(&observed, ctx)?;
        self.update(&observed, &drift, ctx).await?;
        Ok(ObservedHistoryTable {
            point_in_time_recovery: Some(self.point_in_time_recovery),
            expiry_attribute: Some(self.expires_items().then(|| EXPIRES_AT.to_string())),
            ..observed
        })
    }

    async fn update(
        &self,
        observed: &ObservedHistoryTable,
        drift: &[Drift<HistoryTableSetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        let dynamodb = &ctx.aws.dynamodb;
        // Billing and encryption change in one call (UpdateTable).
        let (mut table, mut recovery, mut expiry, mut tags) = (false, false, false, false);
        for change in drift {
            match change.field {
                HistoryTableSetting::OnDemand | HistoryTableSetting::KmsEncryption => table = true,
                HistoryTableSetting::PointInTimeRecovery => recovery = true,
                HistoryTableSetting::TimeToLive => expiry = true,
                HistoryTableSetting::Tags => tags = true,
            }
        }
        if table {
            dynamodb
                .update_table()
                .table_name(&self.name)
                .billing_mode(BillingMode::PayPerRequest)
                .sse_specification(kms_encryption())
                .send()
                .await?;
        }
        if recovery {
            let specification = PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(self.point_in_time_recovery)
                .build()
                .map_err(|e| build_error("UpdateContinuousBackups", &e))?;
            dynamodb
                .update_continuous_backups()
                .table_name(&self.name)
                .point_in_time_recovery_specification(specification)
                .send()
                .await?;
        }
        if expiry {
            self.update_time_to_live(observed, ctx).await?;
        }
        if tags {
            let tags = self.missing_tags(observed, ctx);
            dynamodb
                .tag_resource()
                .resource_arn(&observed.arn)
                .set_tags(Some(dynamodb_tags(&tags)?))
                .send()
                .await?;
        }
        Ok(())
    }

    async fn delete(&self, observed: &ObservedHistoryTable, ctx: Ctx<'_>) -> Result<Removal> {
        if observed.status == TableStatus::Deleting.as_str() {
            return Ok(Removal::Waiting("DELETING".into()));
        }
        ctx.aws
            .dynamodb
            .delete_table()
            .table_name(&observed.name)
            .send()
            .await?;
        // DynamoDB deletes the table in the background: it is gone once
        // DescribeTable no longer finds it.
        match self.observe(ctx).await? {
            None => Ok(Removal::Done),
            Some(_) => Ok(Removal::Waiting("DELETING".into())),
        }
    }

    fn id(observed: &ObservedHistoryTable) -> String {
        observed.name.clone()
    }

    fn readiness(observed: &ObservedHistoryTable) -> Readiness {
        if observed.is_active() && observed.point_in_time_recovery.is_some() {
            Readiness::Ready
        } else {
            Readiness::Waiting(format!("table {}", observed.status))
        }
    }
}

impl HistoryTable {
    /// The tags the table should have and has not (or has with another value).
    /// Tags someone else added are left alone.
    fn missing_tags(&self, observed: &ObservedHistoryTable, ctx: Ctx<'_>) -> Tags {
        tags::missing(ctx.tags, &self.key, &self.name, &observed.tags)
    }

    /// The table's tags (at most 50, so one page in practice; followed anyway).
    /// By hand: the SDK generates no paginator for `ListTagsOfResource`, unlike
    /// the listings of the other resources, which use `into_paginator()`.
    async fn tags_of(&self, arn: &str, ctx: Ctx<'_>) -> Result<Tags> {
        let mut tags = Tags::new();
        let mut token = None;
        loop {
            let page = ctx
                .aws
                .dynamodb
                .list_tags_of_resource()
                .resource_arn(arn)
                .set_next_token(token)
                .send()
                .await?;
            tags.extend(
                page.tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string())),
            );
            token = page.next_token;
            if token.is_none() {
                return Ok(tags);
            }
        }
    }

    async fn point_in_time_recovery_of(&self, ctx: Ctx<'_>) -> Result<bool> {
        let backups = ctx
            .aws
            .dynamodb
            .describe_continuous_backups()
            .table_name(&self.name)
            .send()
            .await?;
        Ok(backups
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status())
            == Some(&PointInTimeRecoveryStatus::Enabled))
    }

    async fn expiry_attribute_of(&self, ctx: Ctx<'_>) -> Result<Option<String>> {
        let ttl = ctx
            .aws
            .dynamodb
            .describe_time_to_live()
            .table_name(&self.name)
            .send()
            .await?;
        let Some(description) = ttl.time_to_live_description() else {
            return Ok(None);
        };
        let on = matches!(
            description.time_to_live_status(),
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        );
        Ok(on
            .then(|| description.attribute_name().map(str::to_string))
            .flatten())
    }

    /// Turns time to live on (on [`EXPIRES_AT`]) or off. DynamoDB takes one change
    /// of it per table per hour: a second one within the hour is refused with a
    /// `ValidationException`, reported as a wait the next pass retries.
    async fn update_time_to_live(
        &self,
        observed: &ObservedHistoryTable,
        ctx: Ctx<'_>,
    ) -> Result<()> {
        // Another attribute's time to live must go before ours can come.
        let current = observed.expiry_attribute.clone().flatten();
        let (enabled, attribute) = match (self.expires_items(), current) {
            (true, Some(other)) if other != EXPIRES_AT => (false, other),
            (true, _) => (true, EXPIRES_AT.to_string()),
            (false, Some(current)) => (false, current),
            (false, None) => return Ok(()),
        };
        let specification = TimeToLiveSpecification::builder()
            .enabled(enabled)
            .attribute_name(attribute)
            .build()
            .map_err(|e| build_error("UpdateTimeToLive", &e))?;
        let changed = ctx
            .aws
            .dynamodb
            .update_time_to_live()
            .table_name(&self.name)
            .time_to_live_specification(specification)
            .send()
            .await;
        changed.map(drop).map_err(once_an_hour)
    }

    /// Refuses a table of ours whose layout is not the app's: keys, their types and
    /// the index are fixed at creation, and replacing the table would lose its data.
    fn check_layout(&self, table: &TableDescription) -> Result<()> {
        let keys: Vec<(String, String)> = table
            .key_schema()
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_string(),
                    k.key_type().as_str().to_string(),
                )
            })
            .collect();
        let index = table
            .local_secondary_indexes()
            .iter()
            .find(|i| i.index_name() == Some(BY_UPDATED_INDEX))
            .map(|i| {
                i.key_schema()
                    .iter()
                    .map(|k| k.attribute_name().to_string())
                    .collect::<Vec<_>>()
            });
        let have = format!("keys {keys:?}, index {BY_UPDATED_INDEX} on {index:?}");
        let want_keys = vec![
            (PARTITION_KEY.to_string(), "HASH".to_string()),
            (SORT_KEY.to_string(), "RANGE".to_string()),
        ];
        let want_index = Some(vec![PARTITION_KEY.to_string(), UPDATED_AT.to_string()]);
        if keys == want_keys && index == want_index {
            return Ok(());
        }
        Err(Error::Immutable {
            kind: Self::KIND,
            name: self.name.clone(),
            field: "layout",
            have,
            want: format!("keys {want_keys:?}, index {BY_UPDATED_INDEX} on {want_index:?}"),
        })
    }
}

/// DynamoDB's "Time to live has been modified multiple times within a fixed
/// interval" is a wait of up to an hour, not a mistake: retried by later passes.
fn once_an_hour(error: SdkError<UpdateTimeToLiveError, HttpResponse>) -> Error {
    // A ValidationException: DynamoDB models no error of its own for it.
    let once_an_hour = error.code() == Some("ValidationException")
        && error
            .message()
            .is_some_and(|m| m.contains("multiple times within a fixed interval"));
    let aws = AwsError::from(error);
    if !once_an_hour {
        return Error::Aws(aws);
    }
    Error::Aws(AwsError {
        message: format!(
            "{} (DynamoDB takes one time-to-live change per table per hour; retried later)",
            aws.message
        ),
        class: ErrorClass::Retryable,
        ..aws
    })
}

fn kms_encryption() -> SseSpecification {
    // No key id: the account's AWS managed key for DynamoDB (`aws/dynamodb`).
    SseSpecification::builder()
        .enabled(true)
        .sse_type(SseType::Kms)
        .build()
}

fn key_element(name: &str, key_type: KeyType) -> Result<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|e| build_error("CreateTable", &e))
}

fn attribute(name: &str, kind: ScalarAttributeType) -> Result<AttributeDefinition> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .map_err(|e| build_error("CreateTable", &e))
}

fn dynamodb_tags(tags: &Tags) -> Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| build_error("TagResource", &e))
        })
        .collect()
}

fn build_error(operation: &'static str, error: &impl std::fmt::Display) -> Error {
    Error::Aws(AwsError::unexpected(
        "dynamodb",
        operation,
        &error.to_string(),
    ))
}

fn unexpected(operation: &'static str) -> Error {
    Error::Aws(AwsError::unexpected(
        "dynamodb",
        operation,
        "the answer holds no table description",
    ))
}

impl Planned for HistoryTable {
    fn detail(&self) -> String {
        format!(
            "conversations per user, on demand, KMS (aws/dynamodb), point-in-time recovery {}, {}",
            on_off(self.point_in_time_recovery),
            match self.retention_days {
                0 => "kept until deleted".to_string(),
                days => format!("items expire {days} days after they are written"),
            }
        )
    }
}
