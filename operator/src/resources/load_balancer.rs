//! The internet-facing Application Load Balancer every chatbot sits behind, with
//! the attributes that matter for security (invalid header names dropped, so no
//! client can smuggle a forged `x-amzn-oidc-*` header) and operations (deletion
//! protection, idle timeout).

use std::collections::BTreeSet;
use std::fmt;

use aws_sdk_elasticloadbalancingv2::operation::describe_load_balancers::DescribeLoadBalancersError;
use aws_sdk_elasticloadbalancingv2::types::{
    LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerTypeEnum,
};

use super::{Ctx, Drift, Planned, Readiness, Removal, Resource, check_fixed, tags};
use crate::aws::{AwsError, or_absent};
use crate::desired::platform::LoadBalancer;
use crate::desired::{PlatformRef, Tags};
use crate::{Error, Result};

/// A load balancer as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedLoadBalancer {
    /// The load balancer's ARN: its recorded id, what listeners are made on.
    pub arn: String,
    /// The DNS name chatbot hostnames point at (CNAME / alias).
    pub dns_name: String,
    /// `internet-facing` or `internal`.
    pub scheme: String,
    /// `provisioning`, `active`, `failed`, …
    pub state: String,
    /// Ids of the subnets it is in, one per zone.
    pub subnets: BTreeSet<String>,
    /// Ids of the security groups on its network interfaces.
    pub security_groups: BTreeSet<String>,
    /// The attributes we manage, as AWS has them.
    pub attributes: Tags,
}

/// What can change in place on a load balancer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadBalancerSetting {
    Subnets,
    SecurityGroups,
    /// One of the attributes we manage, by key.
    Attribute(String),
}

impl fmt::Display for LoadBalancerSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Subnets => f.write_str("subnets"),
            Self::SecurityGroups => f.write_str("securityGroups"),
            Self::Attribute(key) => write!(f, "attribute {key}"),
        }
    }
}

impl Resource for LoadBalancer {
    const KIND: &'static str = "Load balancer";
    type Observed = ObservedLoadBalancer;
    type Setting = LoadBalancerSetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedLoadBalancer>> {
        let elbv2 = &ctx.aws.elbv2;
        let found = elbv2
            .describe_load_balancers()
            .names(&self.name)
            .send()
            .await;
        let Some(found) = or_absent(
            found,
            DescribeLoadBalancersError::is_load_balancer_not_found_exception,
        )?
        else {
            return Ok(None);
        };
        let Some(lb) = found.load_balancers().first() else {
            return Ok(None);
        };
        let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
        tags::elbv2_ensure_owned(ctx, Self::KIND, &self.name, &arn).await?;
        let attributes = elbv2
            .describe_load_balancer_attributes()
            .load_balancer_arn(&arn)
            .send()
            .await?;
        Ok(Some(ObservedLoadBalancer {
            dns_name: lb.dns_name().unwrap_or_default().to_string(),
            scheme: lb
                .scheme()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            state: lb
                .state()
                .and_then(|s| s.code())
                .map(|c| c.as_str().to_ascii_lowercase())
                .unwrap_or_default(),
            subnets: lb
                .availability_zones()
                .iter()
                .filter_map(|z| z.subnet_id().map(str::to_string))
                .collect(),
            security_groups: lb.security_groups().iter().cloned().collect(),
            // Only the attributes we set: AWS has dozens more, and those are
            // nobody's drift.
            attributes: attributes
                .attributes()
                .iter()
                .filter_map(|a| Some((a.key()?.to_string(), a.value()?.to_string())))
                .filter(|(k, _)| self.attributes.contains_key(k))
                .collect(),
            arn,
        }))
    }

    fn drift(
        &self,
        observed: &ObservedLoadBalancer,
        ctx: Ctx<'_>,
    ) -> Result<Vec<Drift<LoadBalancerSetting>>> {
        check_fixed(self, &[("scheme", &observed.scheme, self.scheme.as_str())])?;
        let (subnets, groups) = self.placement(ctx)?;
        let mut drift: Vec<_> = [
            Drift::compare(LoadBalancerSetting::Subnets, &observed.subnets, &subnets),
            Drift::compare(
                LoadBalancerSetting::SecurityGroups,
                &observed.security_groups,
                &groups,
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        for (key, want) in &self.attributes {
            drift.extend(Drift::compare(
                LoadBalancerSetting::Attribute(key.clone()),
                observed.attributes.get(key),
                Some(want),
            ));
        }
        Ok(drift)
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedLoadBalancer> {
        let (subnets, groups) = self.placement(ctx)?;
        let created = ctx
            .aws
            .elbv2
            .create_load_balancer()
            .name(&self.name)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::from(self.scheme))
            .set_subnets(Some(subnets.iter().cloned().collect()))
            .set_security_groups(Some(groups.iter().cloned().collect()))
            .set_tags(Some(tags::elbv2_tags(&tags::for_resource(
                ctx.tags, &self.key, &self.name,
            ))))
            .send()
            .await?;
        let lb = created.load_balancers().first().ok_or_else(|| {
            unexpected("CreateLoadBalancer", "the response holds no load balancer")
        })?;
        let fresh = ObservedLoadBalancer {
            arn: lb.load_balancer_arn().unwrap_or_default().to_string(),
            dns_name: lb.dns_name().unwrap_or_default().to_string(),
            scheme: self.scheme.to_string(),
            state: lb
                .state()
                .and_then(|s| s.code())
                .map(|c| c.as_str().to_ascii_lowercase())
                .unwrap_or_else(|| "provisioning".into()),
            subnets,
            security_groups: groups,
            attributes: Tags::new(),
        };
        let drift = self.drift(&fresh, ctx)?;
        self.update(&fresh, &drift, ctx).await?;
        Ok(ObservedLoadBalancer {
            attributes: self.attributes.clone(),
            ..fresh
        })
    }

    async fn update(
        &self,
        observed: &ObservedLoadBalancer,
        drift: &[Drift<LoadBalancerSetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        let elbv2 = &ctx.aws.elbv2;
        let (subnets, groups) = self.placement(ctx)?;
        // Every changed attribute goes in one call, after the others.
        let mut changed = Vec::new();
        for change in drift {
            match &change.field {
                LoadBalancerSetting::Subnets => {
                    elbv2
                        .set_subnets()
                        .load_balancer_arn(&observed.arn)
                        .set_subnets(Some(subnets.iter().cloned().collect()))
                        .send()
                        .await?;
                }
                LoadBalancerSetting::SecurityGroups => {
                    elbv2
                        .set_security_groups()
                        .load_balancer_arn(&observed.arn)
                        .set_security_groups(Some(groups.iter().cloned().collect()))
                        .send()
                        .await?;
                }
                LoadBalancerSetting::Attribute(key) => {
                    changed.extend(self.attributes.get(key).map(|value| {
                        LoadBalancerAttribute::builder()
                            .key(key)
                            .value(value)
                            .build()
                    }))
                }
            }
        }
        if !changed.is_empty() {
            elbv2
                .modify_load_balancer_attributes()
                .load_balancer_arn(&observed.arn)
                .set_attributes(Some(changed))
                .send()
                .await?;
        }
        Ok(())
    }

    async fn delete(&self, observed: &ObservedLoadBalancer, ctx: Ctx<'_>) -> Result<Removal> {
        // With deletion protection on, AWS refuses, and that refusal is the point
        // of the setting: it reaches the user as it is.
        ctx.aws
            .elbv2
            .delete_load_balancer()
            .load_balancer_arn(&observed.arn)
            .send()
            .await?;
        Ok(Removal::Done)
    }

    fn id(observed: &ObservedLoadBalancer) -> String {
        observed.arn.clone()
    }

    fn readiness(observed: &ObservedLoadBalancer) -> Readiness {
        match observed.state.as_str() {
            "active" | "" => Readiness::Ready,
            other => Readiness::Waiting(format!("load balancer {other}")),
        }
    }
}

impl LoadBalancer {
    /// Subnet ids and security group ids, resolved.
    fn placement(&self, ctx: Ctx<'_>) -> Result<(BTreeSet<String>, BTreeSet<String>)> {
        let subnets = ctx.refs.resolve_all(&self.subnets)?.into_iter().collect();
        let group = ctx
            .refs
            .resolve(&PlatformRef::SecurityGroup(self.security_group.clone()))?;
        Ok((subnets, [group].into_iter().collect()))
    }
}

fn unexpected(operation: &'static str, message: &str) -> Error {
    Error::Aws(AwsError::unexpected("elbv2", operation, message))
}

impl Planned for LoadBalancer {
    fn detail(&self) -> String {
        let attributes: Vec<String> = self
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{}, {}", self.scheme, attributes.join(", "))
    }
}
