//! NAT gateways with their Elastic IPs: the private subnets' way out to AWS APIs
//! and Cognito, one per zone (`PerZone`), one shared (`Single`) or none.
//!
//! The Elastic IP is a resource of its own ([`ElasticIp`]), tagged with its own
//! component key: it outlives its NAT gateway by a few minutes on deletion (AWS
//! releases the gateway asynchronously, and only then may the address go), and a
//! restart between the two steps must find it again.

use std::convert::Infallible;

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{DomainType, Filter, ResourceType};

use super::{Ctx, Drift, Planned, Readiness, Removal, Resource, check_fixed, ec2, tags};
use crate::desired::RefKey;
use crate::desired::platform::NatGateway;
use crate::{Error, Result};

/// The Elastic IP of one NAT gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElasticIp {
    /// Component key, e.g. `nat-eip-a`.
    pub key: String,
    /// `Name` tag.
    pub name: String,
}

impl NatGateway {
    /// The Elastic IP this gateway uses.
    pub fn elastic_ip(&self) -> ElasticIp {
        ElasticIp {
            key: self.elastic_ip_key.clone(),
            name: format!("{}-eip", self.name),
        }
    }
}

/// An Elastic IP as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedElasticIp {
    /// Allocation id (`eipalloc-…`): its recorded id, what the NAT gateway is made with.
    pub allocation_id: String,
    /// The public IPv4 address the NAT gateway's traffic leaves from.
    pub public_ip: String,
    /// Set while a NAT gateway (or anything else) uses it.
    pub association_id: Option<String>,
}

impl Resource for ElasticIp {
    const KIND: &'static str = "Elastic IP";
    type Observed = ObservedElasticIp;
    /// Nothing to change in place.
    type Setting = Infallible;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedElasticIp>> {
        let found = ec2::describe_owned!(ctx, &self.key, describe_addresses, addresses)?;
        Ok(found.first().map(|a| ObservedElasticIp {
            allocation_id: a.allocation_id().unwrap_or_default().to_string(),
            public_ip: a.public_ip().unwrap_or_default().to_string(),
            association_id: a.association_id().map(str::to_string),
        }))
    }

    fn drift(&self, _: &ObservedElasticIp, _: Ctx<'_>) -> Result<Vec<Drift<Infallible>>> {
        Ok(Vec::new())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedElasticIp> {
        let tags = tags::for_resource(ctx.tags, &self.key, &self.name);
        let allocated = ctx
            .aws
            .ec2
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tags::ec2_spec(ResourceType::ElasticIp, &tags))
            .send()
            .await?;
        Ok(ObservedElasticIp {
            allocation_id: allocated
                .allocation_id()
                .ok_or_else(|| ec2::unexpected("AllocateAddress", "no allocation id"))?
                .to_string(),
            public_ip: allocated.public_ip().unwrap_or_default().to_string(),
            association_id: None,
        })
    }

    nothing_changes_in_place!(ObservedElasticIp);

    async fn delete(&self, observed: &ObservedElasticIp, ctx: Ctx<'_>) -> Result<Removal> {
        // The engine releases the address only after its NAT gateway reads
        // `deleted`, when AWS has disassociated it; an association that AWS still
        // reports then is a wait.
        let result = ctx
            .aws
            .ec2
            .release_address()
            .allocation_id(&observed.allocation_id)
            .send()
            .await;
        match result {
            // EC2 models no errors: its codes are the SDK's error metadata.
            Err(error) if error.code() == Some("InvalidIPAddress.InUse") => {
                Ok(Removal::Waiting(format!(
                    "Elastic IP {} still associated ({})",
                    observed.public_ip,
                    error.message().unwrap_or("no message")
                )))
            }
            other => ec2::in_use_is_waiting(other, "Elastic IP"),
        }
    }

    fn id(observed: &ObservedElasticIp) -> String {
        observed.allocation_id.clone()
    }
}

/// A NAT gateway as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedNatGateway {
    /// Gateway id (`nat-…`): its recorded id, what private route tables target.
    pub id: String,
    /// `pending`, `available`, `deleting`, `failed`.
    pub state: String,
    /// The public subnet it sits in.
    pub subnet_id: String,
    /// Allocation id of its Elastic IP.
    pub allocation_id: String,
    /// Why it failed, when it did.
    pub failure: Option<String>,
}

/// States of a NAT gateway that still exists; `deleted` ones linger in
/// DescribeNatGateways for about an hour and are nobody's gateway any more.
const LIVE_STATES: [&str; 4] = ["pending", "available", "deleting", "failed"];

/// Earlier lives of one gateway whose client tokens AWS may still remember.
const STALE_LIVES: usize = 5;

impl Resource for NatGateway {
    const KIND: &'static str = "NAT gateway";
    type Observed = ObservedNatGateway;
    /// Nothing to change in place: subnet and address are fixed for its life.
    type Setting = Infallible;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedNatGateway>> {
        let live = Filter::builder()
            .name("state")
            .set_values(Some(LIVE_STATES.map(String::from).to_vec()))
            .build();
        // DescribeNatGateways names its filters `Filter`.
        let found = ec2::describe_owned!(
            ctx,
            &self.key,
            describe_nat_gateways,
            nat_gateways,
            set_filter,
            [live]
        )?;
        // Its state checked again here, as its tags are: not every implementation
        // of the API honours filters on NAT gateways (moto ignores them).
        Ok(found
            .iter()
            .map(|g| ObservedNatGateway {
                id: g.nat_gateway_id().unwrap_or_default().to_string(),
                state: g
                    .state()
                    .map(|s| s.as_str().to_ascii_lowercase())
                    .unwrap_or_default(),
                subnet_id: g.subnet_id().unwrap_or_default().to_string(),
                allocation_id: g
                    .nat_gateway_addresses()
                    .first()
                    .and_then(|a| a.allocation_id())
                    .unwrap_or_default()
                    .to_string(),
                failure: g.failure_message().map(str::to_string),
            })
            .find(|g| LIVE_STATES.contains(&g.state.as_str())))
    }

    fn drift(&self, observed: &ObservedNatGateway, ctx: Ctx<'_>) -> Result<Vec<Drift<Infallible>>> {
        let subnet = ctx.refs.resolve(&self.subnet)?;
        let allocation = self.allocation_id(ctx)?;
        // A NAT gateway's subnet and address are fixed for its life.
        check_fixed(
            self,
            &[
                ("subnet", &observed.subnet_id, &subnet),
                ("elasticIp", &observed.allocation_id, &allocation),
            ],
        )?;
        Ok(Vec::new())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedNatGateway> {
        let subnet = ctx.refs.resolve(&self.subnet)?;
        let allocation = self.allocation_id(ctx)?;
        // AWS remembers a client token for a while and answers a create with a
        // token it has seen as it did the first time: after our gateway was
        // deleted (behind our back, or by a `delete` that was stopped half-way),
        // the same token hands back the deleted gateway instead of making one —
        // and the answer may still say `pending`. So the gateway's state is
        // looked up, and a token naming the stale gateway makes a new one.
        // (moto ignores client tokens; the crash tests replay them as AWS does.)
        let mut within = vec![subnet, allocation];
        for _ in 0..STALE_LIVES {
            let names: Vec<&str> = within.iter().map(String::as_str).collect();
            let created = self
                .create_with(ctx, ec2::client_token(ctx.owner, &self.key, &names))
                .await?;
            let now = ctx
                .aws
                .ec2
                .describe_nat_gateways()
                .nat_gateway_ids(&created.id)
                .send()
                .await;
            // Not found (yet: eventual consistency) or not answered: as created.
            let state = now
                .ok()
                .as_ref()
                .and_then(|now| now.nat_gateways().first())
                .and_then(|g| g.state())
                .map(|s| s.as_str().to_ascii_lowercase());
            match state {
                Some(state) if matches!(state.as_str(), "deleted" | "deleting") => {
                    within.push(created.id);
                }
                None => return Ok(created),
                Some(state) => return Ok(ObservedNatGateway { state, ..created }),
            }
        }
        Err(ec2::unexpected(
            "CreateNatGateway",
            "every client token handed back a deleted gateway",
        ))
    }

    nothing_changes_in_place!(ObservedNatGateway);

    async fn delete(&self, observed: &ObservedNatGateway, ctx: Ctx<'_>) -> Result<Removal> {
        if observed.state != "deleting" {
            ctx.aws
                .ec2
                .delete_nat_gateway()
                .nat_gateway_id(&observed.id)
                .send()
                .await?;
        }
        // Deletion takes AWS a minute or so; its Elastic IP may be released only
        // once the gateway reads `deleted`.
        let now = ctx
            .aws
            .ec2
            .describe_nat_gateways()
            .nat_gateway_ids(&observed.id)
            .send()
            .await?;
        let state = now
            .nat_gateways()
            .first()
            .and_then(|g| g.state())
            .map(|s| s.as_str().to_ascii_lowercase());
        match state.as_deref() {
            None | Some("deleted") => Ok(Removal::Done),
            Some(other) => Ok(Removal::Waiting(format!("NAT gateway {other}"))),
        }
    }

    fn id(observed: &ObservedNatGateway) -> String {
        observed.id.clone()
    }

    fn readiness(observed: &ObservedNatGateway) -> Readiness {
        match (observed.state.as_str(), &observed.failure) {
            ("available", _) => Readiness::Ready,
            ("failed", Some(why)) => Readiness::Waiting(format!("NAT gateway failed: {why}")),
            (state, _) => Readiness::Waiting(format!("NAT gateway {state}")),
        }
    }
}

impl NatGateway {
    async fn create_with(&self, ctx: Ctx<'_>, token: String) -> Result<ObservedNatGateway> {
        let subnet = ctx.refs.resolve(&self.subnet)?;
        let allocation = self.allocation_id(ctx)?;
        let tags = tags::for_resource(ctx.tags, &self.key, &self.name);
        let created = ctx
            .aws
            .ec2
            .create_nat_gateway()
            .subnet_id(&subnet)
            .allocation_id(&allocation)
            .client_token(token)
            .tag_specifications(tags::ec2_spec(ResourceType::Natgateway, &tags))
            .send()
            .await?;
        let gateway = created
            .nat_gateway()
            .ok_or_else(|| ec2::unexpected("CreateNatGateway", "the response holds no gateway"))?;
        Ok(ObservedNatGateway {
            id: gateway.nat_gateway_id().unwrap_or_default().to_string(),
            state: gateway
                .state()
                .map(|s| s.as_str().to_ascii_lowercase())
                .unwrap_or_else(|| "pending".into()),
            subnet_id: subnet,
            allocation_id: allocation,
            failure: None,
        })
    }

    fn allocation_id(&self, ctx: Ctx<'_>) -> Result<String> {
        ctx.refs
            .get(&RefKey::component(self.elastic_ip_key.clone()))
            .map(str::to_string)
            .ok_or_else(|| Error::Unresolved(self.elastic_ip_key.clone()))
    }
}

impl Planned for NatGateway {
    fn detail(&self) -> String {
        format!("in {}", self.subnet)
    }
}
