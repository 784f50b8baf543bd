//! The ECS cluster every chatbot's service runs in: Fargate only, with Container
//! Insights as the platform asks.

use std::collections::BTreeSet;

use aws_sdk_ecs::types::{
    CapacityProviderStrategyItem, ClusterField, ClusterSetting, ClusterSettingName,
};

use super::{Ctx, Drift, Planned, Readiness, Removal, Resource, on_off, tags};
use crate::aws::AwsError;
use crate::desired::platform::EcsCluster;
use crate::{Error, Result};

/// A cluster as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedCluster {
    /// The cluster's ARN: its recorded id, what services are created in.
    pub arn: String,
    /// `ACTIVE`, `PROVISIONING`, …
    pub status: String,
    /// Container Insights: `enabled`, `enhanced` or `disabled`.
    pub container_insights: String,
    /// Capacity providers by name (`FARGATE`, `FARGATE_SPOT`, or custom ones).
    pub capacity_providers: BTreeSet<String>,
}

settings! {
    /// What can change in place on a cluster.
    pub enum EcsClusterSetting {
        ContainerInsights => "containerInsights",
        CapacityProviders => "capacityProviders",
    }
}

impl Resource for EcsCluster {
    const KIND: &'static str = "ECS cluster";
    type Observed = ObservedCluster;
    type Setting = EcsClusterSetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedCluster>> {
        let found = ctx
            .aws
            .ecs
            .describe_clusters()
            .clusters(&self.name)
            .include(ClusterField::Tags)
            .include(ClusterField::Settings)
            .send()
            .await?;
        // A deleted cluster stays visible as INACTIVE for a while; it is gone.
        let Some(cluster) = found
            .clusters()
            .iter()
            .find(|c| c.status().is_some_and(|s| s != "INACTIVE"))
        else {
            return Ok(None);
        };
        tags::ensure_owned(
            Self::KIND,
            &self.name,
            ctx.owner,
            cluster
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
        )?;
        Ok(Some(ObservedCluster {
            arn: cluster.cluster_arn().unwrap_or_default().to_string(),
            status: cluster.status().unwrap_or_default().to_string(),
            container_insights: cluster
                .settings()
                .iter()
                .find(|s| s.name() == Some(&ClusterSettingName::ContainerInsights))
                .and_then(|s| s.value())
                .unwrap_or("disabled")
                .to_string(),
            capacity_providers: cluster.capacity_providers().iter().cloned().collect(),
        }))
    }

    fn drift(
        &self,
        observed: &ObservedCluster,
        _ctx: Ctx<'_>,
    ) -> Result<Vec<Drift<EcsClusterSetting>>> {
        // `enhanced` is Container Insights too, with more detail: not a drift.
        let insights_on = observed.container_insights != "disabled";
        Ok([
            Drift::compare(
                EcsClusterSetting::ContainerInsights,
                insights_on,
                self.container_insights,
            ),
            Drift::compare(
                EcsClusterSetting::CapacityProviders,
                observed.capacity_providers.clone(),
                self.providers(),
            ),
        ]
        .into_iter()
        .flatten()
        .collect())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedCluster> {
        let tags = tags::for_resource(ctx.tags, &self.key, &self.name);
        let created = ctx
            .aws
            .ecs
            .create_cluster()
            .cluster_name(&self.name)
            .settings(self.insights_setting())
            .set_capacity_providers(Some(self.providers().into_iter().collect()))
            .set_default_capacity_provider_strategy(Some(self.strategy()))
            .set_tags(Some(tags::ecs_tags(&tags)))
            .send()
            .await
            .map_err(crate::Error::from);
        let created = ctx.aws.after_ecs_create(created).await?;
        let cluster = created.cluster().ok_or_else(|| {
            Error::Aws(AwsError::unexpected(
                "ecs",
                "CreateCluster",
                "the response holds no cluster",
            ))
        })?;
        Ok(ObservedCluster {
            arn: cluster.cluster_arn().unwrap_or_default().to_string(),
            status: cluster.status().unwrap_or("ACTIVE").to_string(),
            container_insights: self.insights_value().to_string(),
            capacity_providers: self.providers(),
        })
    }

    async fn update(
        &self,
        observed: &ObservedCluster,
        drift: &[Drift<EcsClusterSetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        let ecs = &ctx.aws.ecs;
        for change in drift {
            match change.field {
                EcsClusterSetting::ContainerInsights => {
                    // UpdateCluster takes the settings as UpdateClusterSettings does
                    // (which moto does not implement).
                    ecs.update_cluster()
                        .cluster(&observed.arn)
                        .settings(self.insights_setting())
                        .send()
                        .await?;
                }
                EcsClusterSetting::CapacityProviders => {
                    ecs.put_cluster_capacity_providers()
                        .cluster(&observed.arn)
                        .set_capacity_providers(Some(self.providers().into_iter().collect()))
                        .set_default_capacity_provider_strategy(Some(self.strategy()))
                        .send()
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn delete(&self, observed: &ObservedCluster, ctx: Ctx<'_>) -> Result<Removal> {
        ctx.aws
            .ecs
            .delete_cluster()
            .cluster(&observed.arn)
            .send()
            .await?;
        Ok(Removal::Done)
    }

    fn id(observed: &ObservedCluster) -> String {
        observed.arn.clone()
    }

    fn readiness(observed: &ObservedCluster) -> Readiness {
        if observed.status == "ACTIVE" {
            Readiness::Ready
        } else {
            Readiness::Waiting(format!("cluster {}", observed.status))
        }
    }
}

impl EcsCluster {
    fn providers(&self) -> BTreeSet<String> {
        self.capacity_providers
            .iter()
            .map(|p| p.as_str().to_string())
            .collect()
    }

    fn strategy(&self) -> Vec<CapacityProviderStrategyItem> {
        self.capacity_providers
            .iter()
            .take(1)
            .filter_map(|p| {
                CapacityProviderStrategyItem::builder()
                    .capacity_provider(p.as_str())
                    .weight(1)
                    .build()
                    .ok()
            })
            .collect()
    }

    fn insights_value(&self) -> &'static str {
        if self.container_insights {
            "enabled"
        } else {
            "disabled"
        }
    }

    fn insights_setting(&self) -> ClusterSetting {
        ClusterSetting::builder()
            .name(ClusterSettingName::ContainerInsights)
            .value(self.insights_value())
            .build()
    }
}

impl Planned for EcsCluster {
    fn detail(&self) -> String {
        let providers: Vec<&str> = self.capacity_providers.iter().map(|p| p.as_str()).collect();
        format!(
            "{}, Container Insights {}",
            providers.join(" "),
            on_off(self.container_insights)
        )
    }
}
