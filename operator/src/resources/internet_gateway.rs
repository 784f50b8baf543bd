//! The internet gateway of a managed network, attached to its VPC: the public
//! subnets' way out (and the load balancer's way in).

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::ResourceType;

use super::{Ctx, Drift, Planned, Removal, Resource, ec2, tags};
use crate::Result;
use crate::desired::PlatformRef;
use crate::desired::platform::InternetGateway;

/// An internet gateway as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedInternetGateway {
    /// Gateway id (`igw-…`): its recorded id, what the public route table targets.
    pub id: String,
    /// VPCs it is attached to (at most one on AWS).
    pub attached_vpcs: Vec<String>,
}

settings! {
    /// What can change in place on an internet gateway.
    pub enum InternetGatewaySetting {
        /// The VPC it is attached to.
        Attachment => "attachment",
    }
}

impl Resource for InternetGateway {
    const KIND: &'static str = "Internet gateway";
    type Observed = ObservedInternetGateway;
    type Setting = InternetGatewaySetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedInternetGateway>> {
        let found = ec2::describe_owned!(
            ctx,
            &self.key,
            describe_internet_gateways,
            internet_gateways
        )?;
        Ok(found.first().map(|g| ObservedInternetGateway {
            id: g.internet_gateway_id().unwrap_or_default().to_string(),
            attached_vpcs: vpcs_of(g),
        }))
    }

    fn drift(
        &self,
        observed: &ObservedInternetGateway,
        ctx: Ctx<'_>,
    ) -> Result<Vec<Drift<InternetGatewaySetting>>> {
        let vpc = ctx.refs.resolve(&PlatformRef::Vpc)?;
        Ok(Drift::compare(
            InternetGatewaySetting::Attachment,
            observed.attached_vpcs.clone(),
            vec![vpc],
        )
        .into_iter()
        .collect())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedInternetGateway> {
        let vpc = ctx.refs.resolve(&PlatformRef::Vpc)?;
        let tags = tags::for_resource(ctx.tags, &self.key, &self.name);
        let created = ctx
            .aws
            .ec2
            .create_internet_gateway()
            .tag_specifications(tags::ec2_spec(ResourceType::InternetGateway, &tags))
            .send()
            .await?;
        let id = created
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .ok_or_else(|| {
                ec2::unexpected("CreateInternetGateway", "the response holds no gateway")
            })?
            .to_string();
        attach(ctx, &id, &vpc).await?;
        Ok(ObservedInternetGateway {
            id,
            attached_vpcs: vec![vpc],
        })
    }

    async fn update(
        &self,
        observed: &ObservedInternetGateway,
        _drift: &[Drift<InternetGatewaySetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        let vpc = ctx.refs.resolve(&PlatformRef::Vpc)?;
        // A gateway attaches to one VPC only: leave any other before joining ours.
        for other in observed.attached_vpcs.iter().filter(|v| **v != vpc) {
            detach(ctx, &observed.id, other).await?;
        }
        if !observed.attached_vpcs.contains(&vpc) {
            attach(ctx, &observed.id, &vpc).await?;
        }
        Ok(())
    }

    async fn delete(&self, observed: &ObservedInternetGateway, ctx: Ctx<'_>) -> Result<Removal> {
        // Detaching fails while public addresses (NAT gateways' Elastic IPs, the load
        // balancer's) are still mapped in the VPC: that is a wait, not a failure.
        for vpc in &observed.attached_vpcs {
            if let Removal::Waiting(why) =
                ec2::in_use_is_waiting(detach(ctx, &observed.id, vpc).await, "internet gateway")?
            {
                return Ok(Removal::Waiting(why));
            }
        }
        ec2::in_use_is_waiting(
            ctx.aws
                .ec2
                .delete_internet_gateway()
                .internet_gateway_id(&observed.id)
                .send()
                .await,
            "internet gateway",
        )
    }

    fn id(observed: &ObservedInternetGateway) -> String {
        observed.id.clone()
    }
}

/// Attaches `gateway` to `vpc`. A retry after an answer that was lost (or a 5xx
/// sent after the attachment was made) finds it attached already: when to this
/// VPC, that is done.
async fn attach(ctx: Ctx<'_>, gateway: &str, vpc: &str) -> Result<()> {
    let result = ctx
        .aws
        .ec2
        .attach_internet_gateway()
        .internet_gateway_id(gateway)
        .vpc_id(vpc)
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        // EC2 models no errors: its codes are the SDK's error metadata.
        Err(error) if error.code() == Some("Resource.AlreadyAssociated") => {
            if attached_vpcs(ctx, gateway).await?.iter().any(|v| v == vpc) {
                Ok(())
            } else {
                Err(error.into())
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// Detaches `gateway` from `vpc`; already detached (the answer to an earlier
/// attempt was lost) is done.
async fn detach(ctx: Ctx<'_>, gateway: &str, vpc: &str) -> Result<()> {
    let result = ctx
        .aws
        .ec2
        .detach_internet_gateway()
        .internet_gateway_id(gateway)
        .vpc_id(vpc)
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(error) if error.code() == Some("Gateway.NotAttached") => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// The VPCs `gateway` is attached to now.
async fn attached_vpcs(ctx: Ctx<'_>, gateway: &str) -> Result<Vec<String>> {
    let found = ctx
        .aws
        .ec2
        .describe_internet_gateways()
        .internet_gateway_ids(gateway)
        .send()
        .await?;
    Ok(found.internet_gateways().iter().flat_map(vpcs_of).collect())
}

/// The VPCs a gateway as described is attached to.
fn vpcs_of(gateway: &aws_sdk_ec2::types::InternetGateway) -> Vec<String> {
    gateway
        .attachments()
        .iter()
        .filter_map(|a| a.vpc_id().map(str::to_string))
        .collect()
}

impl Planned for InternetGateway {
    fn detail(&self) -> String {
        "attached to the VPC".into()
    }
}
