//! The chatbot's target group: Fargate tasks by IP on HTTP 8501, health-checked on
//! `/?health=check` (30 s / 5 s / 2 / 2, matcher 200) as the reference does.
//! Target group names are unique per account and region, so it is found by name
//! and touched only when our tags own it.

use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, TargetGroup as SdkTargetGroup, TargetGroupAttribute, TargetTypeEnum,
};

use super::{Ctx, Drift, Removal, Resource, tags};
use crate::aws::{ErrorClass, aws_error};
use crate::desired::chatbot::{HealthCheck, TargetGroup};
use crate::{Error, Result};

/// The attribute that holds the deregistration delay.
const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";

/// A target group as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedTargetGroup {
    /// ARN.
    pub arn: String,
    /// VPC id.
    pub vpc_id: String,
    /// `ip`.
    pub target_type: String,
    /// `HTTP`.
    pub protocol: String,
    /// Port.
    pub port: i32,
    /// The health check, in the desired shape.
    pub health_check: HealthCheckSettings,
    /// Seconds a deregistering target drains.
    pub deregistration_delay_seconds: Option<i32>,
}

/// A health check as AWS reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheckSettings {
    /// Path.
    pub path: String,
    /// Interval.
    pub interval_seconds: i32,
    /// Timeout.
    pub timeout_seconds: i32,
    /// Healthy threshold.
    pub healthy_threshold: i32,
    /// Unhealthy threshold.
    pub unhealthy_threshold: i32,
    /// HTTP codes.
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

impl Resource for TargetGroup {
    const KIND: &'static str = "Target group";
    type Observed = ObservedTargetGroup;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedTargetGroup>> {
        let elbv2 = &ctx.aws.elbv2;
        let found = match elbv2
            .describe_target_groups()
            .names(&self.name)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let error = aws_error("elasticloadbalancing", "DescribeTargetGroups", e);
                return match error.class() {
                    Some(ErrorClass::NotFound) => Ok(None),
                    _ => Err(error),
                };
            }
        };
        let Some(group) = found.target_groups().first() else {
            return Ok(None);
        };
        let arn = group.target_group_arn().unwrap_or_default().to_string();
        tags::elbv2_ensure_owned(ctx, Self::KIND, &self.name, &arn).await?;
        let attributes = elbv2
            .describe_target_group_attributes()
            .target_group_arn(&arn)
            .send()
            .await
            .map_err(|e| aws_error("elasticloadbalancing", "DescribeTargetGroupAttributes", e))?;
        let delay = attributes
            .attributes()
            .iter()
            .find(|a| a.key() == Some(DEREGISTRATION_DELAY))
            .and_then(|a| a.value())
            .and_then(|v| v.parse().ok());
        Ok(Some(observed(group, arn, delay)))
    }

    fn drift(&self, observed: &ObservedTargetGroup, ctx: Ctx<'_>) -> Result<Vec<Drift>> {
        let vpc = ctx.refs.resolve(&self.vpc)?;
        // What AWS cannot change in place: a person decides about replacing it.
        let immutable: [(&'static str, String, String); 4] = [
            ("vpcId", observed.vpc_id.clone(), vpc),
            (
                "targetType",
                observed.target_type.clone(),
                self.target_type.to_string(),
            ),
            (
                "protocol",
                observed.protocol.clone(),
                self.protocol.to_string(),
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
                "healthCheck",
                &observed.health_check,
                &HealthCheckSettings::from(&self.health_check),
            ),
            Drift::compare(
                "deregistrationDelay",
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
            .await
            .map_err(|e| aws_error("elasticloadbalancing", "CreateTargetGroup", e))?;
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
        drift: &[Drift],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        for change in drift {
            if change.field == "healthCheck" {
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
                    .await
                    .map_err(|e| aws_error("elasticloadbalancing", "ModifyTargetGroup", e))?;
            } else {
                self.set_delay(ctx, &observed.arn).await?;
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
            .await
            .map_err(|e| aws_error("elasticloadbalancing", "DeleteTargetGroup", e))?;
        Ok(Removal::Done)
    }

    fn id(observed: &ObservedTargetGroup) -> String {
        observed.arn.clone()
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
            .await
            .map_err(|e| aws_error("elasticloadbalancing", "ModifyTargetGroupAttributes", e))?;
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
