//! The chatbot's CloudWatch log group (`/bedrock-chatbot/<namespace>/<name>`), where
//! its tasks ship their logs, kept for the retention the spec asks for. Log group
//! names are unique per account and region: found by name, touched only when ours.

use aws_sdk_cloudwatchlogs::types::LogGroup as LogGroupSdk;

use super::{Ctx, Drift, Planned, Removal, Resource, Write, tags};
use crate::desired::chatbot::LogGroup;
use crate::{Error, Result};

/// A log group as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedLogGroup {
    /// The group's name (`/bedrock-chatbot/<namespace>/<name>`), also its id: log groups
    /// are found by name.
    pub name: String,
    /// ARN without the trailing `:*`.
    pub arn: String,
    /// Retention in days; `None` keeps logs forever.
    pub retention_days: Option<i32>,
}

settings! {
    /// What can change in place on a log group.
    pub enum LogGroupSetting {
        RetentionInDays => "retentionInDays",
    }
}

impl Resource for LogGroup {
    const KIND: &'static str = "Log group";
    type Observed = ObservedLogGroup;
    type Setting = LogGroupSetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedLogGroup>> {
        let logs = &ctx.aws.logs;
        // The prefix may match longer names too: keep the exact one.
        let found = listed_groups(ctx, self.listing_prefix(ctx)).await?;
        let Some(group) = found
            .iter()
            .find(|g| g.log_group_name() == Some(self.name.as_str()))
        else {
            return Ok(None);
        };
        let arn = group
            .arn()
            .unwrap_or_default()
            .trim_end_matches(":*")
            .to_string();
        let tagged = logs
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await?;
        tags::ensure_owned(
            Self::KIND,
            &self.name,
            ctx.owner,
            tagged
                .tags()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )?;
        Ok(Some(ObservedLogGroup {
            name: self.name.clone(),
            arn,
            retention_days: group.retention_in_days(),
        }))
    }

    fn drift(
        &self,
        observed: &ObservedLogGroup,
        _ctx: Ctx<'_>,
    ) -> Result<Vec<Drift<LogGroupSetting>>> {
        Ok(Drift::compare(
            LogGroupSetting::RetentionInDays,
            observed.retention_days,
            Some(self.retention_days),
        )
        .into_iter()
        .collect())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedLogGroup> {
        let tags = tags::for_resource(ctx.tags, &self.key, &self.name);
        ctx.aws
            .logs
            .create_log_group()
            .log_group_name(&self.name)
            .set_tags(Some(tags.into_iter().collect()))
            .send()
            .await?;
        self.put_retention(ctx).await?;
        // CreateLogGroup returns nothing; the ARN is read back once.
        self.observe(ctx).await?.ok_or_else(|| {
            Error::Aws(crate::aws::AwsError::unexpected(
                "logs",
                "DescribeLogGroups",
                "the log group just created is not listed",
            ))
        })
    }

    async fn update(
        &self,
        _observed: &ObservedLogGroup,
        _drift: &[Drift<LogGroupSetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        self.put_retention(ctx).await
    }

    async fn delete(&self, observed: &ObservedLogGroup, ctx: Ctx<'_>) -> Result<Removal> {
        ctx.aws
            .logs
            .delete_log_group()
            .log_group_name(&observed.name)
            .send()
            .await?;
        Ok(Removal::Done)
    }

    fn id(observed: &ObservedLogGroup) -> String {
        observed.name.clone()
    }

    fn listing(&self, _write: Write, ctx: Ctx<'_>) -> Option<String> {
        Some(listed_key(self.listing_prefix(ctx)))
    }
}

impl LogGroup {
    /// What to list the group by: while a pass shares reads, the first segment of
    /// its name (`/bedrock-chatbot/`), shared by every team's group; else its name.
    fn listing_prefix(&self, ctx: Ctx<'_>) -> &str {
        let shared = ctx.aws.reads.is_shared().then(|| {
            self.name
                .char_indices()
                .filter(|(_, c)| *c == '/')
                .nth(1)
                .map(|(i, _)| &self.name[..=i])
        });
        shared.flatten().unwrap_or(&self.name)
    }

    async fn put_retention(&self, ctx: Ctx<'_>) -> Result<()> {
        ctx.aws
            .logs
            .put_retention_policy()
            .log_group_name(&self.name)
            .retention_in_days(self.retention_days)
            .send()
            .await?;
        Ok(())
    }
}

fn listed_key(prefix: &str) -> String {
    format!("logs:groups:{prefix}")
}

/// The log groups whose names start with `prefix`, listed once per pass for
/// every team ([`crate::aws::PassReads`]).
async fn listed_groups(ctx: Ctx<'_>, prefix: &str) -> Result<Vec<LogGroupSdk>> {
    ctx.aws
        .reads
        .get_or_load(&listed_key(prefix), async {
            let groups = ctx
                .aws
                .logs
                .describe_log_groups()
                .log_group_name_prefix(prefix)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await?;
            Ok(groups)
        })
        .await
}

impl Planned for LogGroup {
    fn detail(&self) -> String {
        format!("retention {} days", self.retention_days)
    }
}
