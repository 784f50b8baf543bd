//! The chatbot's ECS service: keeps its tasks running in the private subnets, with
//! no public IP, behind its target group, rolling to each new task definition
//! revision with a circuit breaker that rolls back a deployment that never turns
//! healthy.
//!
//! Services are found by name in the platform's cluster and touched only when our
//! tags own them. Deleting one is asynchronous: it is scaled to zero, deleted, and
//! DRAINING until its tasks stopped; the engine waits for it before removing what
//! those tasks still use.
//!
//! Within a file-mode pass ([`crate::aws::PassReads`]) the services of a cluster
//! are listed and described ten a call once for every team; a service missing
//! from that listing (ListServices leaves out DRAINING ones) is asked for by name.
//! The service also carries the record of the task definition revision it runs
//! ([`TAG_TASK_DEFINITION`]), which lets the engine skip reading that revision.

use std::fmt;
use std::sync::Arc;

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, DeploymentCircuitBreaker, DeploymentConfiguration,
    LaunchType, LoadBalancer, NetworkConfiguration, PropagateTags, Service as SdkService,
    ServiceField,
};

use super::{Ctx, Drift, Planned, Readiness, Removal, Resource, Write, chatbot_ref, on_off, tags};
use crate::desired::chatbot::{ChatbotRef, Service};
use crate::desired::{PlatformRef, TAG_TASK_DEFINITION};
use crate::{Error, Result};

/// A service as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedService {
    /// The service's ARN, its id in the engine's records.
    pub arn: String,
    /// `ACTIVE` or `DRAINING` (an `INACTIVE` service counts as absent).
    pub status: String,
    /// Tasks asked for.
    pub desired_count: i32,
    /// Tasks running now.
    pub running_count: i32,
    /// Task definition revision ARN in use.
    pub task_definition: String,
    pub network: NetworkSettings,
    /// The target groups its tasks register in, sorted.
    pub load_balancers: Vec<ServiceLoadBalancer>,
    /// Health-check grace; `None` when AWS (or the emulator) does not say.
    pub health_check_grace_period_seconds: Option<i32>,
    /// How it rolls to a new revision; `None` when not reported.
    pub deployment: Option<Deployment>,
    /// `SERVICE`, `TASK_DEFINITION` or `NONE`.
    pub propagate_tags: String,
    /// ECS Exec on.
    pub enable_execute_command: bool,
    /// Its [`TAG_TASK_DEFINITION`] tag, if any.
    pub task_definition_record: Option<String>,
}

/// Subnets, security groups and public IP of the tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkSettings {
    /// Subnet ids, sorted.
    pub subnets: Vec<String>,
    /// Security group ids, sorted.
    pub security_groups: Vec<String>,
    /// Whether tasks get a public IP.
    pub assign_public_ip: bool,
}

/// A target group the service's tasks register in, and with which container port.
///
/// Shown in drift messages as the tuple `(target group ARN, container, port)`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceLoadBalancer {
    /// The target group's ARN.
    pub target_group_arn: String,
    /// Name of the container whose port registers.
    pub container: String,
    /// The container port that registers in the target group.
    pub port: i32,
}

impl fmt::Debug for ServiceLoadBalancer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("")
            .field(&self.target_group_arn)
            .field(&self.container)
            .field(&self.port)
            .finish()
    }
}

/// How a service rolls to a new task definition revision.
///
/// Shown in drift messages as the tuple `(minimum healthy %, maximum %, circuit
/// breaker on, rollback on)`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// Percent of the desired tasks kept healthy.
    pub minimum_healthy_percent: i32,
    /// Percent of the desired tasks that may run at once.
    pub maximum_percent: i32,
    /// The circuit breaker stops a deployment that never turns healthy.
    pub circuit_breaker: bool,
    /// And rolls it back.
    pub rollback: bool,
}

impl fmt::Debug for Deployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("")
            .field(&self.minimum_healthy_percent)
            .field(&self.maximum_percent)
            .field(&self.circuit_breaker)
            .field(&self.rollback)
            .finish()
    }
}

settings! {
    /// What can change in place on a service: all but the record in one
    /// UpdateService call.
    pub enum ServiceSetting {
        DesiredCount => "desiredCount",
        TaskDefinition => "taskDefinition",
        NetworkConfiguration => "networkConfiguration",
        LoadBalancers => "loadBalancers",
        HealthCheckGracePeriod => "healthCheckGracePeriodSeconds",
        DeploymentConfiguration => "deploymentConfiguration",
        PropagateTags => "propagateTags",
        EnableExecuteCommand => "enableExecuteCommand",
        /// The service's [`TAG_TASK_DEFINITION`] tag.
        TaskDefinitionRecord => "taskDefinitionRecord",
    }
}

impl Resource for Service {
    const KIND: &'static str = "ECS service";
    type Observed = ObservedService;
    type Setting = ServiceSetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedService>> {
        let cluster = ctx.refs.resolve(&self.cluster)?;
        let listed = if ctx.aws.reads.is_shared() {
            listed_services(ctx, &cluster)
                .await?
                .iter()
                .find(|s| s.service_name() == Some(self.name.as_str()) && live(s))
                .cloned()
        } else {
            None
        };
        let found = match listed {
            Some(service) => Some(service),
            None => self.describe(ctx, &cluster).await?,
        };
        let Some(service) = found else {
            return Ok(None);
        };
        tags::ensure_owned(
            Self::KIND,
            &self.name,
            ctx.owner,
            service
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value()?))),
        )?;
        Ok(Some(observed(&service)))
    }

    fn drift(
        &self,
        observed: &ObservedService,
        ctx: Ctx<'_>,
    ) -> Result<Vec<Drift<ServiceSetting>>> {
        let want_network = self.network(ctx)?;
        let task_definition = chatbot_ref::resolve(ctx.refs, &ChatbotRef::TaskDefinitionArn)?;
        // The emulator omits these two; AWS always reports them. Compare when known.
        let grace = observed.health_check_grace_period_seconds.and_then(|have| {
            Drift::compare(
                ServiceSetting::HealthCheckGracePeriod,
                have,
                self.health_check_grace_period_seconds,
            )
        });
        let deployment = observed.deployment.and_then(|have| {
            Drift::compare(
                ServiceSetting::DeploymentConfiguration,
                have,
                self.deployment(),
            )
        });
        // Only a record the engine vouches for is written; without one the tag stays.
        let record = self.task_definition_record.as_deref().and_then(|want| {
            Drift::compare(
                ServiceSetting::TaskDefinitionRecord,
                observed.task_definition_record.as_deref(),
                Some(want),
            )
        });
        Ok([
            Drift::compare(
                ServiceSetting::DesiredCount,
                observed.desired_count,
                self.desired_count,
            ),
            Drift::compare(
                ServiceSetting::TaskDefinition,
                &observed.task_definition,
                &task_definition,
            ),
            Drift::compare(
                ServiceSetting::NetworkConfiguration,
                &observed.network,
                &want_network,
            ),
            Drift::compare(
                ServiceSetting::LoadBalancers,
                &observed.load_balancers,
                &self.load_balancers(ctx)?,
            ),
            grace,
            deployment,
            Drift::compare(
                ServiceSetting::PropagateTags,
                observed.propagate_tags.as_str(),
                self.propagate_tags.as_str(),
            ),
            Drift::compare(
                ServiceSetting::EnableExecuteCommand,
                observed.enable_execute_command,
                self.enable_execute_command,
            ),
            record,
        ]
        .into_iter()
        .flatten()
        .collect())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedService> {
        let cluster = ctx.refs.resolve(&self.cluster)?;
        let task_definition = chatbot_ref::resolve(ctx.refs, &ChatbotRef::TaskDefinitionArn)?;
        let network = self.network(ctx)?;
        let mut tags = tags::for_resource(ctx.tags, &self.key, &self.name);
        if let Some(record) = &self.task_definition_record {
            tags.insert(TAG_TASK_DEFINITION.into(), record.clone());
        }
        let created = ctx
            .aws
            .ecs
            .create_service()
            .cluster(&cluster)
            .service_name(&self.name)
            .task_definition(&task_definition)
            .desired_count(self.desired_count)
            .launch_type(LaunchType::from(self.launch_type))
            .platform_version(self.platform_version)
            // Always with security groups: tasks must be reachable from the load
            // balancer only (and the emulator crashes without them).
            .network_configuration(sdk_network(&network)?)
            .set_load_balancers(Some(self.sdk_load_balancers(ctx)?))
            .health_check_grace_period_seconds(self.health_check_grace_period_seconds)
            .deployment_configuration(self.sdk_deployment())
            .propagate_tags(PropagateTags::from(self.propagate_tags))
            .enable_execute_command(self.enable_execute_command)
            .set_tags(Some(tags::ecs_tags(&tags)))
            .send()
            .await
            .map_err(crate::Error::from);
        let created = ctx.aws.after_ecs_create(created).await?;
        let service = created
            .service()
            .ok_or_else(|| unexpected("CreateService", "no service in the response"))?;
        Ok(observed(service))
    }

    async fn update(
        &self,
        observed: &ObservedService,
        drift: &[Drift<ServiceSetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        let cluster = ctx.refs.resolve(&self.cluster)?;
        let (record, drift): (Vec<_>, Vec<_>) = drift
            .iter()
            .partition(|d| d.field == ServiceSetting::TaskDefinitionRecord);
        if !drift.is_empty() {
            self.update_service(observed, &drift, &cluster, ctx).await?;
        }
        // Only once the service points at the revision (the update above): a crash
        // in between leaves the old record, and the next pass reads the revision.
        if let (false, Some(value)) = (record.is_empty(), &self.task_definition_record) {
            let tagged = ctx
                .aws
                .ecs
                .tag_resource()
                .resource_arn(&observed.arn)
                .tags(
                    aws_sdk_ecs::types::Tag::builder()
                        .key(TAG_TASK_DEFINITION)
                        .value(value)
                        .build(),
                )
                .send()
                .await;
            tagged?;
        }
        Ok(())
    }

    async fn delete(&self, observed: &ObservedService, ctx: Ctx<'_>) -> Result<Removal> {
        if observed.status != "ACTIVE" {
            return Ok(Removal::Waiting(format!(
                "service {} ({} tasks running)",
                observed.status.to_lowercase(),
                observed.running_count
            )));
        }
        let cluster = ctx.refs.resolve(&self.cluster)?;
        // AWS refuses to delete a service scaled above zero (unless forced, which
        // would skip draining the tasks' connections).
        if observed.desired_count > 0 {
            ctx.aws
                .ecs
                .update_service()
                .cluster(&cluster)
                .service(&observed.arn)
                .desired_count(0)
                .send()
                .await?;
        }
        let deleted = ctx
            .aws
            .ecs
            .delete_service()
            .cluster(&cluster)
            .service(&observed.arn)
            .send()
            .await?;
        match deleted.service().and_then(|s| s.status()) {
            Some("INACTIVE") => Ok(Removal::Done),
            other => Ok(Removal::Waiting(format!(
                "service {}",
                other.unwrap_or("draining").to_lowercase()
            ))),
        }
    }

    fn id(observed: &ObservedService) -> String {
        observed.arn.clone()
    }

    /// The cluster's services, but for a create: a service missing from the
    /// listing is asked for by name (see `observe`), so it cannot hide a new one,
    /// and forgetting the listing would list the whole cluster again for every team
    /// a first apply creates.
    fn listing(&self, write: Write, ctx: Ctx<'_>) -> Option<String> {
        if write == Write::Create {
            return None;
        }
        Some(listed_key(&ctx.refs.resolve(&self.cluster).ok()?))
    }

    fn readiness(observed: &ObservedService) -> Readiness {
        // Running tasks are a separate fact (the engine reports them); the service
        // itself is usable once ACTIVE.
        if observed.status == "ACTIVE" {
            Readiness::Ready
        } else {
            Readiness::Waiting(format!("service {}", observed.status))
        }
    }
}

/// Whether a service found by name holds it: a deleted service stays INACTIVE for
/// a while, and its name is free again.
fn live(service: &SdkService) -> bool {
    service.status() != Some("INACTIVE")
}

fn listed_key(cluster: &str) -> String {
    format!("ecs:services:{cluster}")
}

/// Every service of `cluster`, with its tags: listed 100 a page and described 10 a
/// call, once per pass for every team ([`crate::aws::PassReads`]).
async fn listed_services(ctx: Ctx<'_>, cluster: &str) -> Result<Arc<Vec<SdkService>>> {
    ctx.aws
        .reads
        .get_or_load(&listed_key(cluster), async {
            let arns = ctx
                .aws
                .ecs
                .list_services()
                .cluster(cluster)
                .into_paginator()
                .page_size(100)
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await?;
            let mut services = Vec::with_capacity(arns.len());
            for chunk in arns.chunks(10) {
                let found = ctx
                    .aws
                    .ecs
                    .describe_services()
                    .cluster(cluster)
                    .set_services(Some(chunk.to_vec()))
                    .include(ServiceField::Tags)
                    .send()
                    .await?;
                services.extend(found.services().iter().cloned());
            }
            Ok(Arc::new(services))
        })
        .await
}

impl Service {
    /// The live service of this name, asked for by name.
    async fn describe(&self, ctx: Ctx<'_>, cluster: &str) -> Result<Option<SdkService>> {
        let found = ctx
            .aws
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(&self.name)
            .include(ServiceField::Tags)
            .send()
            .await?;
        Ok(found.services().iter().find(|s| live(s)).cloned())
    }

    /// UpdateService with the settings that drifted.
    async fn update_service(
        &self,
        observed: &ObservedService,
        drift: &[&Drift<ServiceSetting>],
        cluster: &str,
        ctx: Ctx<'_>,
    ) -> Result<()> {
        let mut call = ctx
            .aws
            .ecs
            .update_service()
            .cluster(cluster)
            .service(&observed.arn);
        for change in drift {
            call = match change.field {
                ServiceSetting::DesiredCount => call.desired_count(self.desired_count),
                ServiceSetting::TaskDefinition => call.task_definition(chatbot_ref::resolve(
                    ctx.refs,
                    &ChatbotRef::TaskDefinitionArn,
                )?),
                ServiceSetting::NetworkConfiguration => {
                    call.network_configuration(sdk_network(&self.network(ctx)?)?)
                }
                ServiceSetting::LoadBalancers => {
                    call.set_load_balancers(Some(self.sdk_load_balancers(ctx)?))
                }
                ServiceSetting::HealthCheckGracePeriod => {
                    call.health_check_grace_period_seconds(self.health_check_grace_period_seconds)
                }
                ServiceSetting::DeploymentConfiguration => {
                    call.deployment_configuration(self.sdk_deployment())
                }
                ServiceSetting::PropagateTags => {
                    call.propagate_tags(PropagateTags::from(self.propagate_tags))
                }
                ServiceSetting::EnableExecuteCommand => {
                    call.enable_execute_command(self.enable_execute_command)
                }
                // Tagged by `update` once this call has pointed the service at it.
                ServiceSetting::TaskDefinitionRecord => call,
            };
        }
        call.send().await?;
        Ok(())
    }

    fn network(&self, ctx: Ctx<'_>) -> Result<NetworkSettings> {
        let mut subnets = ctx.refs.resolve_all(&self.subnets)?;
        subnets.sort();
        let group = ctx
            .refs
            .resolve(&PlatformRef::SecurityGroup(self.security_group.clone()))?;
        Ok(NetworkSettings {
            subnets,
            security_groups: vec![group],
            assign_public_ip: self.assign_public_ip,
        })
    }

    fn load_balancers(&self, ctx: Ctx<'_>) -> Result<Vec<ServiceLoadBalancer>> {
        let (container, port) = self.load_balancer_container;
        Ok(vec![ServiceLoadBalancer {
            target_group_arn: chatbot_ref::resolve(ctx.refs, &ChatbotRef::TargetGroupArn)?,
            container: container.to_string(),
            port: i32::from(port),
        }])
    }

    fn sdk_load_balancers(&self, ctx: Ctx<'_>) -> Result<Vec<LoadBalancer>> {
        Ok(self
            .load_balancers(ctx)?
            .into_iter()
            .map(|lb| {
                LoadBalancer::builder()
                    .target_group_arn(lb.target_group_arn)
                    .container_name(lb.container)
                    .container_port(lb.port)
                    .build()
            })
            .collect())
    }

    fn deployment(&self) -> Deployment {
        Deployment {
            minimum_healthy_percent: self.minimum_healthy_percent,
            maximum_percent: self.maximum_percent,
            circuit_breaker: self.circuit_breaker_rollback,
            rollback: self.circuit_breaker_rollback,
        }
    }

    fn sdk_deployment(&self) -> DeploymentConfiguration {
        let deployment = self.deployment();
        DeploymentConfiguration::builder()
            .minimum_healthy_percent(deployment.minimum_healthy_percent)
            .maximum_percent(deployment.maximum_percent)
            .deployment_circuit_breaker(
                DeploymentCircuitBreaker::builder()
                    .enable(deployment.circuit_breaker)
                    .rollback(deployment.rollback)
                    .build(),
            )
            .build()
    }
}

fn sdk_network(network: &NetworkSettings) -> Result<NetworkConfiguration> {
    let vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(network.subnets.clone()))
        .set_security_groups(Some(network.security_groups.clone()))
        .assign_public_ip(if network.assign_public_ip {
            AssignPublicIp::Enabled
        } else {
            AssignPublicIp::Disabled
        })
        .build()
        .map_err(|e| unexpected("CreateService", &e.to_string()))?;
    Ok(NetworkConfiguration::builder()
        .awsvpc_configuration(vpc)
        .build())
}

fn observed(service: &SdkService) -> ObservedService {
    let vpc = service
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration());
    let sorted = |values: &[String]| {
        let mut values = values.to_vec();
        values.sort();
        values
    };
    let mut load_balancers: Vec<ServiceLoadBalancer> = service
        .load_balancers()
        .iter()
        .map(|lb| ServiceLoadBalancer {
            target_group_arn: lb.target_group_arn().unwrap_or_default().to_string(),
            container: lb.container_name().unwrap_or_default().to_string(),
            port: lb.container_port().unwrap_or_default(),
        })
        .collect();
    load_balancers.sort();
    ObservedService {
        arn: service.service_arn().unwrap_or_default().to_string(),
        status: service.status().unwrap_or_default().to_string(),
        desired_count: service.desired_count(),
        running_count: service.running_count(),
        task_definition: service.task_definition().unwrap_or_default().to_string(),
        network: NetworkSettings {
            subnets: vpc.map(|v| sorted(v.subnets())).unwrap_or_default(),
            security_groups: vpc.map(|v| sorted(v.security_groups())).unwrap_or_default(),
            assign_public_ip: vpc
                .and_then(|v| v.assign_public_ip())
                .is_some_and(|a| *a == AssignPublicIp::Enabled),
        },
        load_balancers,
        health_check_grace_period_seconds: service.health_check_grace_period_seconds(),
        deployment: service.deployment_configuration().map(|d| {
            let breaker = d.deployment_circuit_breaker();
            Deployment {
                minimum_healthy_percent: d.minimum_healthy_percent().unwrap_or_default(),
                maximum_percent: d.maximum_percent().unwrap_or_default(),
                circuit_breaker: breaker.is_some_and(|b| b.enable()),
                rollback: breaker.is_some_and(|b| b.rollback()),
            }
        }),
        propagate_tags: service
            .propagate_tags()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "NONE".into()),
        enable_execute_command: service.enable_execute_command(),
        task_definition_record: service
            .tags()
            .iter()
            .find(|t| t.key() == Some(TAG_TASK_DEFINITION))
            .and_then(|t| t.value())
            .map(str::to_string),
    }
}

fn unexpected(operation: &'static str, message: &str) -> Error {
    Error::Aws(crate::aws::AwsError::unexpected("ecs", operation, message))
}

impl Planned for Service {
    fn detail(&self) -> String {
        format!(
            "{} task(s), {}, private subnets, public IP {}, grace {}s, circuit breaker + rollback",
            self.desired_count,
            self.launch_type,
            on_off(self.assign_public_ip),
            self.health_check_grace_period_seconds
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_shows_load_balancers_and_deployment_as_tuples() {
        let lb = ServiceLoadBalancer {
            target_group_arn: "arn:tg".into(),
            container: "chatbot".into(),
            port: 8501,
        };
        assert_eq!(
            format!("{:?}", vec![lb]),
            r#"[("arn:tg", "chatbot", 8501)]"#
        );
        let deployment = Deployment {
            minimum_healthy_percent: 100,
            maximum_percent: 200,
            circuit_breaker: true,
            rollback: false,
        };
        assert_eq!(
            Drift::new("deploymentConfiguration", Some(deployment), deployment).to_string(),
            "deploymentConfiguration Some((100, 200, true, false)) → (100, 200, true, false)"
        );
    }
}
