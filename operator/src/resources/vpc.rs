//! The VPC of a managed network, with DNS support and DNS hostnames (private DNS of
//! the interface endpoints needs both).

use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, VpcAttributeName};

use super::{Ctx, Drift, Planned, Readiness, Removal, Resource, check_fixed, ec2, tags};
use crate::Result;
use crate::desired::platform::Vpc;

/// A VPC as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedVpc {
    /// VPC id (`vpc-…`): its recorded id.
    pub id: String,
    /// Its IPv4 CIDR.
    pub cidr: String,
    /// `available` once usable.
    pub state: String,
    /// DNS resolution on.
    pub dns_support: bool,
    /// DNS hostnames on.
    pub dns_hostnames: bool,
}

settings! {
    /// What can change in place on a VPC.
    pub enum VpcSetting {
        DnsSupport => "enableDnsSupport",
        DnsHostnames => "enableDnsHostnames",
    }
}

impl Resource for Vpc {
    const KIND: &'static str = "VPC";
    type Observed = ObservedVpc;
    type Setting = VpcSetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedVpc>> {
        let found = ec2::describe_owned!(ctx, &self.key, describe_vpcs, vpcs)?;
        let Some(vpc) = found.first() else {
            return Ok(None);
        };
        let id = vpc.vpc_id().unwrap_or_default().to_string();
        let dns_support = attribute(ctx.aws, &id, VpcAttributeName::EnableDnsSupport).await?;
        let dns_hostnames = attribute(ctx.aws, &id, VpcAttributeName::EnableDnsHostnames).await?;
        Ok(Some(ObservedVpc {
            cidr: vpc.cidr_block().unwrap_or_default().to_string(),
            state: vpc
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            id,
            dns_support,
            dns_hostnames,
        }))
    }

    fn drift(&self, observed: &ObservedVpc, _ctx: Ctx<'_>) -> Result<Vec<Drift<VpcSetting>>> {
        check_fixed(self, &[("cidr", &observed.cidr, &self.cidr)])?;
        Ok([
            Drift::compare(
                VpcSetting::DnsSupport,
                observed.dns_support,
                self.enable_dns_support,
            ),
            Drift::compare(
                VpcSetting::DnsHostnames,
                observed.dns_hostnames,
                self.enable_dns_hostnames,
            ),
        ]
        .into_iter()
        .flatten()
        .collect())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedVpc> {
        let tags = tags::for_resource(ctx.tags, &self.key, &self.name);
        let created = ctx
            .aws
            .ec2
            .create_vpc()
            .cidr_block(&self.cidr)
            .tag_specifications(tags::ec2_spec(ResourceType::Vpc, &tags))
            .send()
            .await?;
        let vpc = created.vpc().ok_or_else(|| missing("CreateVpc"))?;
        let observed = ObservedVpc {
            id: vpc.vpc_id().unwrap_or_default().to_string(),
            cidr: vpc.cidr_block().unwrap_or_default().to_string(),
            state: vpc
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            // A new VPC has DNS support on and DNS hostnames off.
            dns_support: true,
            dns_hostnames: false,
        };
        let drift = self.drift(&observed, ctx)?;
        self.update(&observed, &drift, ctx).await?;
        Ok(ObservedVpc {
            dns_support: self.enable_dns_support,
            dns_hostnames: self.enable_dns_hostnames,
            ..observed
        })
    }

    async fn update(
        &self,
        observed: &ObservedVpc,
        drift: &[Drift<VpcSetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        // ModifyVpcAttribute takes one attribute per call.
        for change in drift {
            let call = ctx.aws.ec2.modify_vpc_attribute().vpc_id(&observed.id);
            let call = match change.field {
                VpcSetting::DnsSupport => call.enable_dns_support(boolean(self.enable_dns_support)),
                VpcSetting::DnsHostnames => {
                    call.enable_dns_hostnames(boolean(self.enable_dns_hostnames))
                }
            };
            call.send().await?;
        }
        Ok(())
    }

    async fn delete(&self, observed: &ObservedVpc, ctx: Ctx<'_>) -> Result<Removal> {
        ctx.aws.ec2.delete_vpc().vpc_id(&observed.id).send().await?;
        Ok(Removal::Done)
    }

    fn id(observed: &ObservedVpc) -> String {
        observed.id.clone()
    }

    fn readiness(observed: &ObservedVpc) -> Readiness {
        if observed.state.eq_ignore_ascii_case("available") {
            Readiness::Ready
        } else {
            Readiness::Waiting(format!("VPC {}", observed.state))
        }
    }
}

fn boolean(value: bool) -> AttributeBooleanValue {
    AttributeBooleanValue::builder().value(value).build()
}

/// Whether `name` (DNS support or DNS hostnames) is on for `vpc`: also how the
/// platform engine checks an existing network it does not manage.
pub(crate) async fn attribute(
    aws: &crate::aws::Aws,
    vpc: &str,
    name: VpcAttributeName,
) -> Result<bool> {
    let out = aws
        .ec2
        .describe_vpc_attribute()
        .vpc_id(vpc)
        .attribute(name.clone())
        .send()
        .await?;
    let value = match name {
        VpcAttributeName::EnableDnsHostnames => out.enable_dns_hostnames(),
        _ => out.enable_dns_support(),
    };
    Ok(value.and_then(|v| v.value()).unwrap_or(false))
}

fn missing(operation: &'static str) -> crate::Error {
    crate::Error::Aws(crate::aws::AwsError::unexpected(
        "ec2",
        operation,
        "the response holds no VPC",
    ))
}

impl Planned for Vpc {
    fn detail(&self) -> String {
        format!("{}, DNS support + hostnames", self.cidr)
    }
}
