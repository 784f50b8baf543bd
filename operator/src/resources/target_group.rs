//! The chatbot's target group: Fargate tasks by IP on HTTP 8501, health-checked on
//! `/?health=check` (30 s / 5 s / 2 / 2, matcher 200) as the reference does.
//! Target group names are unique per account and region, so it is found by name
//! and touched only when our tags own it.

use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsError;
use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, TargetGroup as SdkTargetGroup, TargetGroupAttribute, TargetTypeEnum,
};

use super::{Ctx, Drift, Planned, Removal, Resource, Write, tags};
use crate::aws::or_absent;
use crate::desired::chatbot::{HealthCheck, TargetGroup};
use crate::{Error, Result};

/// The attribute that holds the deregistration delay.
const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";

/// A target group as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedTargetGroup {
    /// The group's ARN: the id the listener rule forwards to and the service registers in.
    pub arn: String,
    /// The VPC its targets must be in; AWS cannot move a group to another.
    pub vpc_id: String,
    /// How targets register (`ip` for Fargate tasks); fixed at creation.
    pub target_type: String,
    /// The protocol the load balancer speaks to the tasks (`HTTP`); fixed at creation.
    pub protocol: String,
    /// The port the tasks listen on; fixed at creation.
    pub port: i32,
    /// The health check, in the desired shape.
    pub health_check: HealthCheckSettings,
    /// Seconds a deregistering target drains.
    pub deregistration_delay_seconds: Option<i32>,
}

/// A health check as AWS reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheckSettings {
    /// The path the load balancer requests (the app answers `/?health=check`).
    pub path: String,
    /// Seconds between two checks of one target.
    pub interval_seconds: i32,
    /// Seconds a check may take before it counts as failed.
    pub timeout_seconds: i32,
    /// Checks in a row that make an unhealthy target healthy.
    pub healthy_threshold: i32,
    /// Checks in a row that make a healthy target unhealthy.
    pub unhealthy_threshold: i32,
    /// The status codes that count as healthy, as the `HttpCode` matcher takes
    /// them (`200`, `200-299`, `200,204`).
    pub matcher: String,
}

impl From<&HealthCheck> for HealthCheckSettings {
    fn from(h: &HealthCheck) -> Self {
        Self {
            path: h.path.clone(),
            interval_seconds: h.interval_seconds,
            timeout_seconds: h.timeout_seconds,
            healthy_threshold: h.healthy_threshold,
            unhealthy_threshold: h.unhealthy_threshold,
            matcher: h.matcher.to_string(),
        }
    }
}

settings! {
    /// What can change in place on a target group.
    pub enum TargetGroupSetting {
        HealthCheck => "healthCheck",
        DeregistrationDelay => "deregistrationDelay",
    }
}

impl Resource for TargetGroup {
    const KIND: &'static str = "Target group";
    type Observed = ObservedTargetGroup;
    type Setting = TargetGroupSetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedTargetGroup>> {
        let elbv2 = &ctx.aws.elbv2;
        if ctx.aws.reads.is_shared()
            && let Ok(vpc) = ctx.refs.resolve(&self.vpc)
        {
            return self.observe_listed(ctx, &vpc).await;
        }
        let found = elbv2
            .describe_target_groups()
            .names(&self.name)
            .send()
            .await;
        let Some(found) = or_absent(
            found,
            DescribeTargetGroupsError::is_target_group_not_found_exception,
        )?
        else {
            return Ok(None);
        };
        let Some(group) = found.target_groups().first() else {
            return Ok(None);
        };
        let arn = group.target_group_arn().unwrap_or_default().to_string();
        tags::elbv2_ensure_owned(ctx, Self::KIND, &self.name, &arn).await?;
        let delay = deregistration_delay(ctx, &arn).await?;
        Ok(Some(observed(group, arn, delay)))
    }

    fn drift(
        &self,
        observed: &ObservedTargetGroup,
        ctx: Ctx<'_>,
    ) -> Result<Vec<Drift<TargetGroupSetting>>> {
        let vpc = ctx.refs.resolve(&self.vpc)?;
        // What AWS cannot change in place: a person decides about replacing it.
        let immutable: [(&'static str, String, String); 4] = [
            ("vpcId", observed.vpc_id.clone(), vpc),
            (
                "targetType",
                observed.target_type.clone(),
                self.target_type.as_str().to_string(),
            ),
            (
                "protocol",
                observed.protocol.clone(),
                self.protocol.as_str().to_string(),
            ),
            ("port", observed.port.to_string(), self.port.to_string()),
        ];
        if let Some((field, have, want)) = immutable.into_iter().find(|(_, h, w)| h != w) {
            return Err(Error::Immutable {
                kind: Self::KIND,
                name: self.name.clone(),
                field,
                have,
                want,
            });
        }
        Ok([
            Drift::compare(
                TargetGroupSetting::HealthCheck,
                &observed.health_check,
                &HealthCheckSettings::from(&self.health_check),
            ),
            Drift::compare(
                TargetGroupSetting::DeregistrationDelay,
                observed.deregistration_delay_seconds,
                Some(self.deregistration_delay_seconds),
            ),
        ]
        .into_iter()
        .flatten()
        .collect())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedTargetGroup> {
        let vpc = ctx.refs.resolve(&self.vpc)?;
        let tags = tags::for_resource(ctx.tags, &self.key, &self.name);
        let h = &self.health_check;
        let created = ctx
            .aws
            .elbv2
            .create_target_group()
            .name(&self.name)
            .target_type(TargetTypeEnum::from(self.target_type))
            .protocol(ProtocolEnum::from(self.protocol))
            .port(i32::from(self.port))
            .vpc_id(&vpc)
            .health_check_enabled(true)
            .health_check_protocol(ProtocolEnum::from(self.protocol))
            .health_check_path(&h.path)
            .health_check_interval_seconds(h.interval_seconds)
            .health_check_timeout_seconds(h.timeout_seconds)
            .healthy_threshold_count(h.healthy_threshold)
            .unhealthy_threshold_count(h.unhealthy_threshold)
            .matcher(Matcher::builder().http_code(h.matcher).build())
            .set_tags(Some(tags::elbv2_tags(&tags)))
            .send()
            .await?;
        let group = created
            .target_groups()
            .first()
            .ok_or_else(|| unexpected("CreateTargetGroup", "no target group in the response"))?;
        let arn = group.target_group_arn().unwrap_or_default().to_string();
        self.set_delay(ctx, &arn).await?;
        Ok(observed(
            group,
            arn,
            Some(self.deregistration_delay_seconds),
        ))
    }

    async fn update(
        &self,
        observed: &ObservedTargetGroup,
        drift: &[Drift<TargetGroupSetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        for change in drift {
            match change.field {
                TargetGroupSetting::HealthCheck => {
                    let h = &self.health_check;
                    ctx.aws
                        .elbv2
                        .modify_target_group()
                        .target_group_arn(&observed.arn)
                        .health_check_enabled(true)
                        .health_check_path(&h.path)
                        .health_check_interval_seconds(h.interval_seconds)
                        .health_check_timeout_seconds(h.timeout_seconds)
                        .healthy_threshold_count(h.healthy_threshold)
                        .unhealthy_threshold_count(h.unhealthy_threshold)
                        .matcher(Matcher::builder().http_code(h.matcher).build())
                        .send()
                        .await?;
                }
                TargetGroupSetting::DeregistrationDelay => {
                    self.set_delay(ctx, &observed.arn).await?;
                }
            }
        }
        Ok(())
    }

    async fn delete(&self, observed: &ObservedTargetGroup, ctx: Ctx<'_>) -> Result<Removal> {
        // AWS refuses (ResourceInUse, a conflict) while a listener rule still
        // forwards here; the engine deletes the rule first.
        ctx.aws
            .elbv2
            .delete_target_group()
            .target_group_arn(&observed.arn)
            .send()
            .await?;
        Ok(Removal::Done)
    }

    fn id(observed: &ObservedTargetGroup) -> String {
        observed.arn.clone()
    }

    /// The groups of the VPC.
    fn listing(&self, _write: Write, ctx: Ctx<'_>) -> Option<String> {
        Some(listed_key(&ctx.refs.resolve(&self.vpc).ok()?))
    }
}

impl TargetGroup {
    async fn set_delay(&self, ctx: Ctx<'_>, arn: &str) -> Result<()> {
        ctx.aws
            .elbv2
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .attributes(
                TargetGroupAttribute::builder()
                    .key(DEREGISTRATION_DELAY)
                    .value(self.deregistration_delay_seconds.to_string())
                    .build(),
            )
            .send()
            .await?;
        Ok(())
    }
}

fn observed(group: &SdkTargetGroup, arn: String, delay: Option<i32>) -> ObservedTargetGroup {
    ObservedTargetGroup {
        arn,
        vpc_id: group.vpc_id().unwrap_or_default().to_string(),
        target_type: group
            .target_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        protocol: group
            .protocol()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        port: group.port().unwrap_or_default(),
        health_check: HealthCheckSettings {
            path: group.health_check_path().unwrap_or_default().to_string(),
            interval_seconds: group.health_check_interval_seconds().unwrap_or_default(),
            timeout_seconds: group.health_check_timeout_seconds().unwrap_or_default(),
            healthy_threshold: group.healthy_threshold_count().unwrap_or_default(),
            unhealthy_threshold: group.unhealthy_threshold_count().unwrap_or_default(),
            matcher: group
                .matcher()
                .and_then(|m| m.http_code())
                .unwrap_or_default()
                .to_string(),
        },
        deregistration_delay_seconds: delay,
    }
}

fn unexpected(operation: &'static str, message: &str) -> Error {
    Error::Aws(crate::aws::AwsError::unexpected(
        "elasticloadbalancing",
        operation,
        message,
    ))
}

async fn deregistration_delay(ctx: Ctx<'_>, arn: &str) -> Result<Option<i32>> {
    let attributes = ctx
        .aws
        .elbv2
        .describe_target_group_attributes()
        .target_group_arn(arn)
        .send()
        .await?;
    Ok(attributes
        .attributes()
        .iter()
        .find(|a| a.key() == Some(DEREGISTRATION_DELAY))
        .and_then(|a| a.value())
        .and_then(|v| v.parse().ok()))
}

/// Every target group of the region, with the tags of those in one VPC (the
/// platform's, where every team's group is), as one pass lists them for every team.
#[derive(Clone, Debug, Default)]
struct ListedGroups {
    groups: Vec<SdkTargetGroup>,
    tags: Vec<(String, crate::desired::Tags)>,
}

fn listed_key(vpc: &str) -> String {
    format!("elbv2:target-groups:{vpc}")
}

/// The region's target groups (400 a page) and the tags of those in `vpc` (20 a
/// call), read once per pass for every team ([`crate::aws::PassReads`]).
async fn listed_groups(ctx: Ctx<'_>, vpc: &str) -> Result<ListedGroups> {
    ctx.aws
        .reads
        .get_or_load(&listed_key(vpc), async {
            let groups = ctx
                .aws
                .elbv2
                .describe_target_groups()
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await?;
            let ours: Vec<String> = groups
                .iter()
                .filter(|g| g.vpc_id() == Some(vpc))
                .filter_map(|g| g.target_group_arn().map(str::to_string))
                .collect();
            let tags = tags::elbv2_tags_of(ctx, &ours).await?;
            Ok(ListedGroups { groups, tags })
        })
        .await
}

impl TargetGroup {
    /// [`Resource::observe`] from the pass's shared listing of `vpc`'s groups.
    async fn observe_listed(&self, ctx: Ctx<'_>, vpc: &str) -> Result<Option<ObservedTargetGroup>> {
        let listed = listed_groups(ctx, vpc).await?;
        let Some(group) = listed
            .groups
            .iter()
            .find(|g| g.target_group_name() == Some(self.name.as_str()))
        else {
            return Ok(None);
        };
        let arn = group.target_group_arn().unwrap_or_default().to_string();
        let found = listed.tags.iter().find(|(a, _)| *a == arn).map(|(_, t)| t);
        match found {
            Some(found) => tags::ensure_owned(
                Self::KIND,
                &self.name,
                ctx.owner,
                found.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )?,
            // In another VPC, so its tags were not described: ask now.
            None => tags::elbv2_ensure_owned(ctx, Self::KIND, &self.name, &arn).await?,
        }
        let delay = deregistration_delay(ctx, &arn).await?;
        Ok(Some(observed(group, arn, delay)))
    }
}

impl Planned for TargetGroup {
    fn detail(&self) -> String {
        let hc = &self.health_check;
        format!(
            "{} {}:{}, health {} every {}s (timeout {}s, {}/{})",
            self.target_type,
            self.protocol,
            self.port,
            hc.path,
            hc.interval_seconds,
            hc.timeout_seconds,
            hc.healthy_threshold,
            hc.unhealthy_threshold
        )
    }
}
