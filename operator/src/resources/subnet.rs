//! The four subnets of a managed network: public ones for the load balancer and the
//! NAT gateways, private ones for the tasks and the endpoints. Neither hands out
//! public IPs on launch.

use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType};

use super::{Ctx, Drift, Readiness, Removal, Resource, check_fixed, ec2, tags};
use crate::Result;
use crate::desired::PlatformRef;
use crate::desired::platform::Subnet;

/// A subnet as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedSubnet {
    /// Subnet id (`subnet-…`): its recorded id.
    pub id: String,
    /// Its IPv4 CIDR.
    pub cidr: String,
    pub availability_zone: String,
    /// Whether instances get a public IP by default.
    pub map_public_ip_on_launch: bool,
    /// `available` once usable.
    pub state: String,
}

settings! {
    /// What can change in place on a subnet.
    pub enum SubnetSetting {
        MapPublicIpOnLaunch => "mapPublicIpOnLaunch",
    }
}

impl Resource for Subnet {
    const KIND: &'static str = "Subnet";
    type Observed = ObservedSubnet;
    type Setting = SubnetSetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedSubnet>> {
        let found = ec2::describe_owned!(ctx, &self.key, describe_subnets, subnets)?;
        Ok(found.first().map(|s| ObservedSubnet {
            id: s.subnet_id().unwrap_or_default().to_string(),
            cidr: s.cidr_block().unwrap_or_default().to_string(),
            availability_zone: s.availability_zone().unwrap_or_default().to_string(),
            map_public_ip_on_launch: s.map_public_ip_on_launch().unwrap_or(false),
            state: s
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
        }))
    }

    fn drift(&self, observed: &ObservedSubnet, _ctx: Ctx<'_>) -> Result<Vec<Drift<SubnetSetting>>> {
        // A subnet's range and zone are fixed for its life; changing them means a
        // new subnet, and everything in the old one would have to move.
        check_fixed(
            self,
            &[
                ("cidr", &observed.cidr, &self.cidr),
                (
                    "availabilityZone",
                    &observed.availability_zone,
                    &self.availability_zone,
                ),
            ],
        )?;
        Ok(Drift::compare(
            SubnetSetting::MapPublicIpOnLaunch,
            observed.map_public_ip_on_launch,
            self.map_public_ip_on_launch,
        )
        .into_iter()
        .collect())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedSubnet> {
        let vpc = ctx.refs.resolve(&PlatformRef::Vpc)?;
        let tags = tags::for_resource(ctx.tags, &self.key, &self.name);
        let created = ctx
            .aws
            .ec2
            .create_subnet()
            .vpc_id(vpc)
            .cidr_block(&self.cidr)
            .availability_zone(&self.availability_zone)
            .tag_specifications(tags::ec2_spec(ResourceType::Subnet, &tags))
            .send()
            .await?;
        let subnet = created
            .subnet()
            .ok_or_else(|| ec2::unexpected("CreateSubnet", "the response holds no subnet"))?;
        let observed = ObservedSubnet {
            id: subnet.subnet_id().unwrap_or_default().to_string(),
            cidr: self.cidr.clone(),
            availability_zone: self.availability_zone.clone(),
            map_public_ip_on_launch: subnet.map_public_ip_on_launch().unwrap_or(false),
            state: subnet
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
        };
        let drift = self.drift(&observed, ctx)?;
        self.update(&observed, &drift, ctx).await?;
        Ok(ObservedSubnet {
            map_public_ip_on_launch: self.map_public_ip_on_launch,
            ..observed
        })
    }

    async fn update(
        &self,
        observed: &ObservedSubnet,
        drift: &[Drift<SubnetSetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        for change in drift {
            match change.field {
                SubnetSetting::MapPublicIpOnLaunch => {
                    ctx.aws
                        .ec2
                        .modify_subnet_attribute()
                        .subnet_id(&observed.id)
                        .map_public_ip_on_launch(
                            AttributeBooleanValue::builder()
                                .value(self.map_public_ip_on_launch)
                                .build(),
                        )
                        .send()
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn delete(&self, observed: &ObservedSubnet, ctx: Ctx<'_>) -> Result<Removal> {
        ec2::in_use_is_waiting(
            ctx.aws
                .ec2
                .delete_subnet()
                .subnet_id(&observed.id)
                .send()
                .await,
            "subnet",
        )
    }

    fn id(observed: &ObservedSubnet) -> String {
        observed.id.clone()
    }

    fn readiness(observed: &ObservedSubnet) -> Readiness {
        if observed.state.is_empty() || observed.state.eq_ignore_ascii_case("available") {
            Readiness::Ready
        } else {
            Readiness::Waiting(format!("subnet {}", observed.state))
        }
    }
}
