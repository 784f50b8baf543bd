//! VPC endpoints: bedrock-runtime always (the chatbots reach Bedrock without
//! leaving the VPC), and for NAT-free networks ECR api/dkr, logs (interface) and S3
//! (gateway), so Fargate still pulls images and ships logs.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{ResourceType, VpcEndpointType};

use super::{Ctx, Drift, Planned, Readiness, Removal, Resource, check_fixed, ec2, on_off, tags};
use crate::desired::PlatformRef;
use crate::desired::platform::{EndpointKind, VpcEndpoint};
use crate::{Error, Result};

/// A VPC endpoint as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedVpcEndpoint {
    /// Endpoint id (`vpce-…`): its recorded id.
    pub id: String,
    /// e.g. `com.amazonaws.us-west-2.bedrock-runtime`.
    pub service_name: String,
    /// `Interface` or `Gateway`, as AWS spells it.
    pub endpoint_type: String,
    /// State as AWS (or an emulator) spells it; compared ignoring case.
    pub state: String,
    /// Private DNS on (interface endpoints).
    pub private_dns: bool,
    /// Subnets of its ENIs (interface endpoints).
    pub subnets: BTreeSet<String>,
    /// Security groups of its ENIs (interface endpoints).
    pub security_groups: BTreeSet<String>,
    /// Route tables holding its routes (gateway endpoints).
    pub route_tables: BTreeSet<String>,
}

/// The desired attachment with every reference resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Resolved {
    private_dns: bool,
    subnets: BTreeSet<String>,
    security_groups: BTreeSet<String>,
    route_tables: BTreeSet<String>,
}

/// States in which an endpoint is gone or never will be usable: not ours to find.
const GONE: [&str; 4] = ["deleted", "rejected", "failed", "expired"];

/// Earlier lives of one endpoint whose client tokens AWS may still remember.
const STALE_LIVES: usize = 5;

settings! {
    /// What can change in place on an endpoint: the first three on an interface
    /// endpoint, the route tables on a gateway endpoint.
    pub enum EndpointSetting {
        PrivateDns => "privateDns",
        Subnets => "subnets",
        SecurityGroups => "securityGroups",
        RouteTables => "routeTables",
    }
}

impl Resource for VpcEndpoint {
    const KIND: &'static str = "VPC endpoint";
    type Observed = ObservedVpcEndpoint;
    type Setting = EndpointSetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedVpcEndpoint>> {
        let found = ec2::describe_owned!(ctx, &self.key, describe_vpc_endpoints, vpc_endpoints)?;
        Ok(found
            .iter()
            .map(|e| ObservedVpcEndpoint {
                id: e.vpc_endpoint_id().unwrap_or_default().to_string(),
                service_name: e.service_name().unwrap_or_default().to_string(),
                endpoint_type: e
                    .vpc_endpoint_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                // The SDK's enum does not know moto's lower-case spelling; its
                // string does.
                state: e
                    .state()
                    .map(|s| s.as_str().to_ascii_lowercase())
                    .unwrap_or_default(),
                private_dns: e.private_dns_enabled().unwrap_or(false),
                subnets: e.subnet_ids().iter().cloned().collect(),
                security_groups: e
                    .groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_string))
                    .collect(),
                route_tables: e.route_table_ids().iter().cloned().collect(),
            })
            .find(|e| !GONE.contains(&e.state.as_str())))
    }

    fn drift(
        &self,
        observed: &ObservedVpcEndpoint,
        ctx: Ctx<'_>,
    ) -> Result<Vec<Drift<EndpointSetting>>> {
        check_fixed(
            self,
            &[("serviceName", &observed.service_name, &self.service_name)],
        )?;
        if !observed
            .endpoint_type
            .eq_ignore_ascii_case(self.endpoint_type().as_str())
        {
            return Err(Error::Immutable {
                kind: Self::KIND,
                name: self.name.clone(),
                field: "type",
                have: observed.endpoint_type.clone(),
                want: self.endpoint_type().as_str().to_string(),
            });
        }
        let want = self.resolve(ctx)?;
        Ok(match &self.kind {
            EndpointKind::Interface { .. } => [
                Drift::compare(
                    EndpointSetting::PrivateDns,
                    observed.private_dns,
                    want.private_dns,
                ),
                Drift::compare(EndpointSetting::Subnets, &observed.subnets, &want.subnets),
                Drift::compare(
                    EndpointSetting::SecurityGroups,
                    &observed.security_groups,
                    &want.security_groups,
                ),
            ]
            .into_iter()
            .flatten()
            .collect(),
            EndpointKind::Gateway { .. } => Drift::compare(
                EndpointSetting::RouteTables,
                &observed.route_tables,
                &want.route_tables,
            )
            .into_iter()
            .collect(),
        })
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedVpcEndpoint> {
        let vpc = ctx.refs.resolve(&PlatformRef::Vpc)?;
        // AWS remembers a client token for a while and answers a create with a
        // token it has seen as it did the first time: after our endpoint was
        // deleted (behind our back, or by a `delete` stopped half-way, which
        // leaves the VPC and so the token as they were), the same token hands
        // back the deleted endpoint. So its state is looked up, and a token
        // naming the stale endpoint makes a new one. (moto ignores client
        // tokens; the crash tests replay them as AWS does.)
        let mut within = vec![vpc.clone()];
        for _ in 0..STALE_LIVES {
            let names: Vec<&str> = within.iter().map(String::as_str).collect();
            let token = ec2::client_token(ctx.owner, &self.key, &names);
            let created = self.create_with(ctx, &vpc, token).await?;
            let now = ctx
                .aws
                .ec2
                .describe_vpc_endpoints()
                .vpc_endpoint_ids(&created.id)
                .send()
                .await;
            // Not found (yet: eventual consistency) or not answered: as created.
            let state = now
                .ok()
                .as_ref()
                .and_then(|now| now.vpc_endpoints().first())
                .and_then(|e| e.state())
                .map(|s| s.as_str().to_ascii_lowercase());
            match state {
                Some(state) if state == "deleting" || GONE.contains(&state.as_str()) => {
                    within.push(created.id);
                }
                None => return Ok(created),
                Some(state) => return Ok(ObservedVpcEndpoint { state, ..created }),
            }
        }
        Err(ec2::unexpected(
            "CreateVpcEndpoint",
            "every client token handed back a deleted endpoint",
        ))
    }

    async fn update(
        &self,
        observed: &ObservedVpcEndpoint,
        drift: &[Drift<EndpointSetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        let want = self.resolve(ctx)?;
        let add = |have: &BTreeSet<String>, want: &BTreeSet<String>| {
            Some(want.difference(have).cloned().collect::<Vec<_>>()).filter(|v| !v.is_empty())
        };
        let mut call = ctx
            .aws
            .ec2
            .modify_vpc_endpoint()
            .vpc_endpoint_id(&observed.id);
        for change in drift {
            call = match change.field {
                EndpointSetting::PrivateDns => call.private_dns_enabled(want.private_dns),
                EndpointSetting::Subnets => call
                    .set_add_subnet_ids(add(&observed.subnets, &want.subnets))
                    .set_remove_subnet_ids(add(&want.subnets, &observed.subnets)),
                EndpointSetting::SecurityGroups => call
                    .set_add_security_group_ids(add(
                        &observed.security_groups,
                        &want.security_groups,
                    ))
                    .set_remove_security_group_ids(add(
                        &want.security_groups,
                        &observed.security_groups,
                    )),
                EndpointSetting::RouteTables => call
                    .set_add_route_table_ids(add(&observed.route_tables, &want.route_tables))
                    .set_remove_route_table_ids(add(&want.route_tables, &observed.route_tables)),
            };
        }
        call.send().await?;
        Ok(())
    }

    async fn delete(&self, observed: &ObservedVpcEndpoint, ctx: Ctx<'_>) -> Result<Removal> {
        if observed.state != "deleting" {
            let out = ctx
                .aws
                .ec2
                .delete_vpc_endpoints()
                .vpc_endpoint_ids(&observed.id)
                .send()
                .await?;
            // This API reports per-endpoint failures in its answer, not as an error.
            if let Some(failure) = out.unsuccessful().first() {
                let message = failure
                    .error()
                    .and_then(|e| e.message())
                    .unwrap_or("no reason given");
                return Err(ec2::unexpected("DeleteVpcEndpoints", message));
            }
        }
        // AWS deletes the endpoint (and releases its ENIs) asynchronously; the
        // security group can go only after that.
        let now = ctx
            .aws
            .ec2
            .describe_vpc_endpoints()
            .vpc_endpoint_ids(&observed.id)
            .send()
            .await;
        let state = match now {
            Ok(out) => out
                .vpc_endpoints()
                .first()
                .and_then(|e| e.state())
                .map(|s| s.as_str().to_ascii_lowercase()),
            Err(e) => match crate::Error::from(e) {
                error if error.class() == Some(crate::aws::ErrorClass::NotFound) => None,
                error => return Err(error),
            },
        };
        match state.as_deref() {
            None | Some("deleted") => Ok(Removal::Done),
            Some(other) => Ok(Removal::Waiting(format!("VPC endpoint {other}"))),
        }
    }

    fn id(observed: &ObservedVpcEndpoint) -> String {
        observed.id.clone()
    }

    fn readiness(observed: &ObservedVpcEndpoint) -> Readiness {
        if observed.state.eq_ignore_ascii_case("available") {
            Readiness::Ready
        } else {
            Readiness::Waiting(format!("VPC endpoint {}", observed.state))
        }
    }
}

impl VpcEndpoint {
    /// One `CreateVpcEndpoint` with `token`.
    async fn create_with(
        &self,
        ctx: Ctx<'_>,
        vpc: &str,
        token: String,
    ) -> Result<ObservedVpcEndpoint> {
        let want = self.resolve(ctx)?;
        let tags = tags::for_resource(ctx.tags, &self.key, &self.name);
        let call = ctx
            .aws
            .ec2
            .create_vpc_endpoint()
            .vpc_id(vpc)
            .service_name(&self.service_name)
            .vpc_endpoint_type(self.endpoint_type())
            .client_token(token)
            .tag_specifications(tags::ec2_spec(ResourceType::VpcEndpoint, &tags));
        let call = match &self.kind {
            EndpointKind::Interface { .. } => call
                .private_dns_enabled(want.private_dns)
                .set_subnet_ids(Some(want.subnets.iter().cloned().collect()))
                .set_security_group_ids(Some(want.security_groups.iter().cloned().collect())),
            EndpointKind::Gateway { .. } => {
                call.set_route_table_ids(Some(want.route_tables.iter().cloned().collect()))
            }
        };
        let created = call.send().await?;
        let endpoint = created.vpc_endpoint().ok_or_else(|| {
            ec2::unexpected("CreateVpcEndpoint", "the response holds no endpoint")
        })?;
        Ok(ObservedVpcEndpoint {
            id: endpoint.vpc_endpoint_id().unwrap_or_default().to_string(),
            service_name: self.service_name.clone(),
            endpoint_type: self.endpoint_type().as_str().to_string(),
            state: endpoint
                .state()
                .map(|s| s.as_str().to_ascii_lowercase())
                .unwrap_or_else(|| "pending".into()),
            private_dns: want.private_dns,
            subnets: want.subnets,
            security_groups: want.security_groups,
            route_tables: want.route_tables,
        })
    }

    fn endpoint_type(&self) -> VpcEndpointType {
        match self.kind {
            EndpointKind::Interface { .. } => VpcEndpointType::Interface,
            EndpointKind::Gateway { .. } => VpcEndpointType::Gateway,
        }
    }

    fn resolve(&self, ctx: Ctx<'_>) -> Result<Resolved> {
        Ok(match &self.kind {
            EndpointKind::Interface {
                private_dns,
                subnets,
                security_group,
            } => Resolved {
                private_dns: *private_dns,
                subnets: ctx.refs.resolve_all(subnets)?.into_iter().collect(),
                security_groups: [ctx
                    .refs
                    .resolve(&PlatformRef::SecurityGroup(security_group.clone()))?]
                .into_iter()
                .collect(),
                route_tables: BTreeSet::new(),
            },
            EndpointKind::Gateway { route_tables } => Resolved {
                private_dns: false,
                subnets: BTreeSet::new(),
                security_groups: BTreeSet::new(),
                route_tables: ctx.refs.resolve_all(route_tables)?.into_iter().collect(),
            },
        })
    }
}

impl Planned for VpcEndpoint {
    fn detail(&self) -> String {
        match &self.kind {
            EndpointKind::Interface {
                private_dns,
                security_group,
                ..
            } => format!(
                "{}, interface in private subnets, private DNS {}, {security_group}",
                self.service_name,
                on_off(*private_dns)
            ),
            EndpointKind::Gateway { route_tables } => format!(
                "{}, gateway in {} route table(s)",
                self.service_name,
                route_tables.len()
            ),
        }
    }
}
