//! Optional target-tracking auto scaling of the chatbot's service: a scalable
//! target on `ecs:service:DesiredCount` between min and max, and a policy that
//! keeps average CPU at the target.
//!
//! The scalable target is identified by the service (`service/<cluster>/<service>`),
//! which is ours; it needs no tags of its own to be found again.

use std::fmt;

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ScalableTarget,
    ServiceNamespace, TargetTrackingScalingPolicyConfiguration,
};

use super::{Ctx, Drift, Planned, Removal, Resource, Write, tags};
use crate::aws::ErrorClass;
use crate::desired::chatbot::Scaling;
use crate::desired::{PlatformRef, RefKey};
use crate::{Error, Result};

/// A scalable target and its policy as found on AWS.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedScaling {
    /// `service/<cluster>/<service>`.
    pub resource_id: String,
    /// Fewest tasks.
    pub min_capacity: i32,
    /// Most tasks.
    pub max_capacity: i32,
    /// The target-tracking policy, if the service has ours.
    pub policy: Option<TargetTracking>,
}

/// A target-tracking policy's settings, as compared with the desired ones.
#[derive(Clone, PartialEq)]
pub struct TargetTracking {
    /// The predefined metric (`ECSServiceAverageCPUUtilization`).
    pub metric: String,
    /// The value the metric is held at (percent CPU).
    pub target: f64,
    /// Seconds after a scale-in before the next one.
    pub scale_in_cooldown: Option<i32>,
    /// Seconds after a scale-out before the next one.
    pub scale_out_cooldown: Option<i32>,
}

/// Shown as the tuple it was, so drift messages read as before.
impl fmt::Debug for TargetTracking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("")
            .field(&self.metric)
            .field(&self.target)
            .field(&self.scale_in_cooldown)
            .field(&self.scale_out_cooldown)
            .finish()
    }
}

settings! {
    /// What can change in place on a service's scaling.
    pub enum ScalingSetting {
        /// Fewest and most tasks.
        Capacity => "capacity",
        /// The target tracking policy.
        Policy => "policy",
    }
}

impl Resource for Scaling {
    const KIND: &'static str = "Auto scaling";
    type Observed = ObservedScaling;
    type Setting = ScalingSetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.policy_name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedScaling>> {
        // Without the service there is nothing to scale (and `create` waits for it).
        let Ok(resource_id) = resource_id(ctx) else {
            return Ok(None);
        };
        let autoscaling = &ctx.aws.autoscaling;
        let targets = listed_targets(ctx, &resource_id).await?;
        let Some(target) = targets.iter().find(|t| t.resource_id() == resource_id) else {
            return Ok(None);
        };
        let policies = autoscaling
            .describe_scaling_policies()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&resource_id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .policy_names(&self.policy_name)
            .send()
            .await?;
        let policy = policies
            .scaling_policies()
            .iter()
            .find(|p| p.policy_name() == self.policy_name)
            .and_then(|p| p.target_tracking_scaling_policy_configuration())
            .map(|c| TargetTracking {
                metric: c
                    .predefined_metric_specification()
                    .map(|m| m.predefined_metric_type().as_str().to_string())
                    .unwrap_or_default(),
                target: c.target_value(),
                scale_in_cooldown: c.scale_in_cooldown(),
                scale_out_cooldown: c.scale_out_cooldown(),
            });
        Ok(Some(ObservedScaling {
            resource_id,
            min_capacity: target.min_capacity(),
            max_capacity: target.max_capacity(),
            policy,
        }))
    }

    fn drift(
        &self,
        observed: &ObservedScaling,
        _ctx: Ctx<'_>,
    ) -> Result<Vec<Drift<ScalingSetting>>> {
        Ok([
            Drift::compare(
                ScalingSetting::Capacity,
                (observed.min_capacity, observed.max_capacity),
                (self.min_capacity, self.max_capacity),
            ),
            Drift::compare(
                ScalingSetting::Policy,
                observed.policy.clone(),
                Some(self.policy()),
            ),
        ]
        .into_iter()
        .flatten()
        .collect())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedScaling> {
        let resource_id = resource_id(ctx)?;
        self.register(ctx, &resource_id, true).await?;
        self.put_policy(ctx, &resource_id).await?;
        Ok(ObservedScaling {
            resource_id,
            min_capacity: self.min_capacity,
            max_capacity: self.max_capacity,
            policy: Some(self.policy()),
        })
    }

    async fn update(
        &self,
        observed: &ObservedScaling,
        drift: &[Drift<ScalingSetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        for change in drift {
            match change.field {
                // RegisterScalableTarget on an existing target updates it.
                ScalingSetting::Capacity => {
                    self.register(ctx, &observed.resource_id, false).await?;
                }
                ScalingSetting::Policy => self.put_policy(ctx, &observed.resource_id).await?,
            }
        }
        Ok(())
    }

    async fn delete(&self, observed: &ObservedScaling, ctx: Ctx<'_>) -> Result<Removal> {
        let autoscaling = &ctx.aws.autoscaling;
        if observed.policy.is_some() {
            let deleted = autoscaling
                .delete_scaling_policy()
                .policy_name(&self.policy_name)
                .service_namespace(ServiceNamespace::Ecs)
                .resource_id(&observed.resource_id)
                .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                .send()
                .await
                .map_err(crate::Error::from);
            if let Err(error) = deleted
                && error.class() != Some(ErrorClass::NotFound)
            {
                return Err(error);
            }
        }
        // Deregistering also removes any policy left on the target.
        autoscaling
            .deregister_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&observed.resource_id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .send()
            .await?;
        Ok(Removal::Done)
    }

    fn id(observed: &ObservedScaling) -> String {
        observed.resource_id.clone()
    }

    fn listing(&self, _write: Write, ctx: Ctx<'_>) -> Option<String> {
        Some(listed_key(ctx))
    }
}

fn listed_key(ctx: Ctx<'_>) -> String {
    format!(
        "application-autoscaling:{}:ecs-desired-count",
        ctx.aws.region
    )
}

/// The scalable targets on an ECS service's desired count that include the one
/// of `resource_id`: while a pass shares reads ([`crate::aws::PassReads`]), every
/// one in the region, listed once for every team; else only that one.
async fn listed_targets(ctx: Ctx<'_>, resource_id: &str) -> Result<Vec<ScalableTarget>> {
    let only = (!ctx.aws.reads.is_shared()).then(|| vec![resource_id.to_string()]);
    ctx.aws
        .reads
        .get_or_load(&listed_key(ctx), async {
            let targets = ctx
                .aws
                .autoscaling
                .describe_scalable_targets()
                .service_namespace(ServiceNamespace::Ecs)
                .set_resource_ids(only)
                .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await?;
            Ok(targets)
        })
        .await
}

impl Scaling {
    fn policy(&self) -> TargetTracking {
        TargetTracking {
            metric: self.metric.to_string(),
            target: self.target_value,
            scale_in_cooldown: Some(self.scale_in_cooldown_seconds),
            scale_out_cooldown: Some(self.scale_out_cooldown_seconds),
        }
    }

    async fn register(&self, ctx: Ctx<'_>, resource_id: &str, with_tags: bool) -> Result<()> {
        let mut call = ctx
            .aws
            .autoscaling
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(resource_id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .min_capacity(self.min_capacity)
            .max_capacity(self.max_capacity);
        if with_tags {
            // Tags are accepted only when the target is first registered.
            let tags = tags::for_resource(ctx.tags, &self.key, &self.policy_name);
            call = call.set_tags(Some(tags.into_iter().collect()));
        }
        call.send().await?;
        Ok(())
    }

    async fn put_policy(&self, ctx: Ctx<'_>, resource_id: &str) -> Result<()> {
        let metric = PredefinedMetricSpecification::builder()
            .predefined_metric_type(MetricType::from(self.metric))
            .build()
            .map_err(|e| unexpected(&e.to_string()))?;
        let configuration = TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(self.target_value)
            .predefined_metric_specification(metric)
            .scale_in_cooldown(self.scale_in_cooldown_seconds)
            .scale_out_cooldown(self.scale_out_cooldown_seconds)
            .build()
            .map_err(|e| unexpected(&e.to_string()))?;
        ctx.aws
            .autoscaling
            .put_scaling_policy()
            .policy_name(&self.policy_name)
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(resource_id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(configuration)
            .send()
            .await?;
        Ok(())
    }
}

/// `service/<cluster name>/<service name>` from the cluster and service ARNs.
fn resource_id(ctx: Ctx<'_>) -> Result<String> {
    let cluster = ctx.refs.resolve(&PlatformRef::Cluster)?;
    let service = ctx
        .refs
        .get(&RefKey::SERVICE)
        .ok_or_else(|| Error::Unresolved(RefKey::SERVICE.to_string()))?;
    let last = |arn: &str| arn.rsplit('/').next().unwrap_or(arn).to_string();
    Ok(format!("service/{}/{}", last(&cluster), last(service)))
}

fn unexpected(message: &str) -> Error {
    Error::Aws(crate::aws::AwsError::unexpected(
        "application-autoscaling",
        "PutScalingPolicy",
        message,
    ))
}

impl Planned for Scaling {
    fn detail(&self) -> String {
        format!(
            "{}-{} tasks, {} at {}%",
            self.min_capacity, self.max_capacity, self.metric, self.target_value
        )
    }
}

#[cfg(test)]
mod tests {
    use super::TargetTracking;

    #[test]
    fn a_policy_shows_as_the_tuple_drift_messages_always_showed() {
        let policy = TargetTracking {
            metric: "ECSServiceAverageCPUUtilization".into(),
            target: 60.0,
            scale_in_cooldown: Some(300),
            scale_out_cooldown: None,
        };
        assert_eq!(
            format!("{policy:?}"),
            format!(
                "{:?}",
                (
                    "ECSServiceAverageCPUUtilization",
                    60.0,
                    Some(300),
                    None::<i32>
                )
            )
        );
    }
}
