//! Route tables of a managed network: the public one (default route to the internet
//! gateway) and one per private subnet (default route to its zone's NAT gateway,
//! none without NAT), each with exactly its subnets associated.

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_ec2::types::{ResourceType, Route};

use super::{Ctx, Drift, Planned, Removal, Resource, ec2, tags};
use crate::Result;
use crate::desired::PlatformRef;
use crate::desired::platform::{RouteTable, RouteTarget};

/// A route table as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedRouteTable {
    /// Route table id (`rtb-…`): its recorded id.
    pub id: String,
    /// Routes we manage: destination CIDR → target.
    pub routes: BTreeMap<String, TargetId>,
    /// Associated subnets: subnet id → association id.
    pub associations: BTreeMap<String, String>,
}

/// A route's target by id, in the field AWS holds it in: a NAT gateway's, or any
/// other gateway's (an internet gateway's, for the routes we write).
///
/// Shown in drift messages as the bare id.
#[derive(Clone, PartialEq, Eq)]
pub enum TargetId {
    /// `NatGatewayId`.
    NatGateway(String),
    /// `GatewayId`.
    Gateway(String),
}

impl TargetId {
    /// The target of `route` by the field AWS filled in, if it has one.
    fn of(route: &Route) -> Option<Self> {
        match (route.nat_gateway_id(), route.gateway_id()) {
            (Some(nat), _) => Some(Self::NatGateway(nat.to_string())),
            (None, Some(gateway)) => Some(Self::Gateway(gateway.to_string())),
            (None, None) => None,
        }
    }

    /// The gateway's id, whichever field AWS keeps it in.
    pub fn id(&self) -> &str {
        match self {
            Self::NatGateway(id) | Self::Gateway(id) => id,
        }
    }
}

impl fmt::Debug for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.id(), f)
    }
}

/// What to do to a table's routes to reach the desired ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteChanges<T = TargetId> {
    /// Missing routes (destination, target).
    pub create: Vec<(String, T)>,
    /// Routes whose target differs (destination, desired target).
    pub replace: Vec<(String, T)>,
    /// Routes nobody asked for (destination).
    pub delete: Vec<String>,
}

impl<T> Default for RouteChanges<T> {
    fn default() -> Self {
        Self {
            create: Vec::new(),
            replace: Vec::new(),
            delete: Vec::new(),
        }
    }
}

impl<T: Clone + PartialEq> RouteChanges<T> {
    /// Compares the routes AWS has with the desired ones, both destination → target.
    pub fn between(have: &BTreeMap<String, T>, want: &BTreeMap<String, T>) -> Self {
        let mut changes = Self::default();
        for (destination, target) in want {
            match have.get(destination) {
                None => changes.create.push((destination.clone(), target.clone())),
                Some(current) if current != target => {
                    changes.replace.push((destination.clone(), target.clone()));
                }
                Some(_) => {}
            }
        }
        changes.delete = have
            .keys()
            .filter(|d| !want.contains_key(*d))
            .cloned()
            .collect();
        changes
    }
}

settings! {
    /// What can change in place on a route table.
    pub enum RouteTableSetting {
        Routes => "routes",
        /// The subnets it is associated with.
        Associations => "associations",
    }
}

impl Resource for RouteTable {
    const KIND: &'static str = "Route table";
    type Observed = ObservedRouteTable;
    type Setting = RouteTableSetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedRouteTable>> {
        let found = ec2::describe_owned!(ctx, &self.key, describe_route_tables, route_tables)?;
        let Some(table) = found.first() else {
            return Ok(None);
        };
        let routes = table.routes().iter().filter_map(managed_route).collect();
        let associations = table
            .associations()
            .iter()
            .filter(|a| !a.main().unwrap_or(false))
            .filter_map(|a| {
                Some((
                    a.subnet_id()?.to_string(),
                    a.route_table_association_id()?.to_string(),
                ))
            })
            .collect();
        Ok(Some(ObservedRouteTable {
            id: table.route_table_id().unwrap_or_default().to_string(),
            routes,
            associations,
        }))
    }

    fn drift(
        &self,
        observed: &ObservedRouteTable,
        ctx: Ctx<'_>,
    ) -> Result<Vec<Drift<RouteTableSetting>>> {
        let want_routes = self.desired_routes(ctx)?;
        let want_subnets = ctx.refs.resolve_all(&self.subnets)?;
        let mut want_subnets = want_subnets;
        want_subnets.sort();
        let have_subnets: Vec<&String> = observed.associations.keys().collect();
        Ok([
            Drift::compare(RouteTableSetting::Routes, &observed.routes, &want_routes),
            Drift::compare(
                RouteTableSetting::Associations,
                have_subnets,
                want_subnets.iter().collect::<Vec<_>>(),
            ),
        ]
        .into_iter()
        .flatten()
        .collect())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedRouteTable> {
        let vpc = ctx.refs.resolve(&PlatformRef::Vpc)?;
        // Resolved before creating anything, so a missing gateway blocks the table
        // instead of leaving it half made.
        self.desired_routes(ctx)?;
        ctx.refs.resolve_all(&self.subnets)?;
        let tags = tags::for_resource(ctx.tags, &self.key, &self.name);
        let created = ctx
            .aws
            .ec2
            .create_route_table()
            .vpc_id(vpc)
            .tag_specifications(tags::ec2_spec(ResourceType::RouteTable, &tags))
            .send()
            .await?;
        let id = created
            .route_table()
            .and_then(|t| t.route_table_id())
            .ok_or_else(|| ec2::unexpected("CreateRouteTable", "the response holds no table"))?
            .to_string();
        let fresh = ObservedRouteTable {
            id,
            routes: BTreeMap::new(),
            associations: BTreeMap::new(),
        };
        let drift = self.drift(&fresh, ctx)?;
        self.update(&fresh, &drift, ctx).await?;
        Ok(ObservedRouteTable {
            routes: self.desired_routes(ctx)?,
            ..fresh
        })
    }

    async fn update(
        &self,
        observed: &ObservedRouteTable,
        drift: &[Drift<RouteTableSetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        for change in drift {
            match change.field {
                RouteTableSetting::Routes => self.update_routes(observed, ctx).await?,
                RouteTableSetting::Associations => self.update_associations(observed, ctx).await?,
            }
        }
        Ok(())
    }

    async fn delete(&self, observed: &ObservedRouteTable, ctx: Ctx<'_>) -> Result<Removal> {
        // A table with associations cannot be deleted.
        for association in observed.associations.values() {
            disassociate(ctx, association).await?;
        }
        let result = ctx
            .aws
            .ec2
            .delete_route_table()
            .route_table_id(&observed.id)
            .send()
            .await
            .map(|_| ())
            .map_err(crate::Error::from);
        ec2::in_use_is_waiting(result, "route table")
    }

    fn id(observed: &ObservedRouteTable) -> String {
        observed.id.clone()
    }
}

impl RouteTable {
    /// Creates, replaces and deletes routes until the table holds the desired ones.
    async fn update_routes(&self, observed: &ObservedRouteTable, ctx: Ctx<'_>) -> Result<()> {
        let ec2 = &ctx.aws.ec2;
        let changes = RouteChanges::between(&observed.routes, &self.desired_routes(ctx)?);
        for destination in &changes.delete {
            ec2.delete_route()
                .route_table_id(&observed.id)
                .destination_cidr_block(destination)
                .send()
                .await?;
        }
        for (destination, target) in &changes.replace {
            let call = ec2
                .replace_route()
                .route_table_id(&observed.id)
                .destination_cidr_block(destination);
            let call = match target {
                TargetId::NatGateway(id) => call.nat_gateway_id(id),
                TargetId::Gateway(id) => call.gateway_id(id),
            };
            call.send().await?;
        }
        for (destination, target) in &changes.create {
            let call = ec2
                .create_route()
                .route_table_id(&observed.id)
                .destination_cidr_block(destination);
            let call = match target {
                TargetId::NatGateway(id) => call.nat_gateway_id(id),
                TargetId::Gateway(id) => call.gateway_id(id),
            };
            call.send().await?;
        }
        Ok(())
    }

    /// Associates the table with exactly the desired subnets.
    async fn update_associations(&self, observed: &ObservedRouteTable, ctx: Ctx<'_>) -> Result<()> {
        let ec2 = &ctx.aws.ec2;
        let want = ctx.refs.resolve_all(&self.subnets)?;
        for (subnet, association) in &observed.associations {
            if !want.contains(subnet) {
                disassociate(ctx, association).await?;
            }
        }
        for subnet in want
            .iter()
            .filter(|s| !observed.associations.contains_key(*s))
        {
            ec2.associate_route_table()
                .route_table_id(&observed.id)
                .subnet_id(subnet)
                .send()
                .await?;
        }
        Ok(())
    }

    /// Destination → target, for the routes that can be resolved now.
    fn desired_routes(&self, ctx: Ctx<'_>) -> Result<BTreeMap<String, TargetId>> {
        self.routes
            .iter()
            .map(|r| {
                let id = ctx.refs.resolve(&r.target.gateway())?;
                let target = match r.target {
                    RouteTarget::InternetGateway => TargetId::Gateway(id),
                    RouteTarget::NatGateway(_) => TargetId::NatGateway(id),
                };
                Ok((r.destination.clone(), target))
            })
            .collect()
    }
}

/// A route we manage, as destination and target: not the VPC's local route, nor
/// one a gateway endpoint added (those go to a prefix list, not a CIDR block).
fn managed_route(route: &Route) -> Option<(String, TargetId)> {
    if route.destination_prefix_list_id().is_some() {
        return None;
    }
    let destination = route.destination_cidr_block()?;
    let target = TargetId::of(route)?;
    (target != TargetId::Gateway("local".into())).then(|| (destination.to_string(), target))
}

async fn disassociate(ctx: Ctx<'_>, association: &str) -> Result<()> {
    ctx.aws
        .ec2
        .disassociate_route_table()
        .association_id(association)
        .send()
        .await?;
    Ok(())
}

impl Planned for RouteTable {
    fn detail(&self) -> String {
        let routes: Vec<String> = self
            .routes
            .iter()
            .map(|r| format!("{} → {}", r.destination, r.target))
            .collect();
        let subnets: Vec<String> = self.subnets.iter().map(ToString::to_string).collect();
        let routes = if routes.is_empty() {
            "local only".to_string()
        } else {
            routes.join(", ")
        };
        format!("{routes}; for {}", subnets.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(d, t)| (d.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn route_changes_create_replace_and_delete_only_what_differs() {
        let have = routes(&[
            ("0.0.0.0/0", "nat-old"),
            ("192.168.0.0/16", "igw-foreign"),
            ("10.1.0.0/16", "nat-keep"),
        ]);
        let want = routes(&[
            ("0.0.0.0/0", "nat-new"),
            ("10.1.0.0/16", "nat-keep"),
            ("172.16.0.0/12", "igw-1"),
        ]);
        assert_eq!(
            RouteChanges::between(&have, &want),
            RouteChanges {
                create: vec![("172.16.0.0/12".into(), "igw-1".into())],
                replace: vec![("0.0.0.0/0".into(), "nat-new".into())],
                delete: vec!["192.168.0.0/16".into()],
            }
        );
        assert_eq!(RouteChanges::between(&want, &want), RouteChanges::default());
    }

    #[test]
    fn a_route_is_told_by_the_fields_aws_filled_in() {
        let cidr = |cidr: &str| Route::builder().destination_cidr_block(cidr);
        let nat = cidr("0.0.0.0/0").nat_gateway_id("nat-1").build();
        let igw = cidr("0.0.0.0/0").gateway_id("igw-1").build();
        assert_eq!(
            managed_route(&nat),
            Some(("0.0.0.0/0".into(), TargetId::NatGateway("nat-1".into())))
        );
        assert_eq!(
            managed_route(&igw),
            Some(("0.0.0.0/0".into(), TargetId::Gateway("igw-1".into())))
        );
        let local = cidr("10.0.0.0/16").gateway_id("local").build();
        let endpoint = Route::builder()
            .destination_prefix_list_id("pl-63a5400a")
            .gateway_id("vpce-1")
            .build();
        assert_eq!(managed_route(&local), None);
        assert_eq!(managed_route(&endpoint), None);
        assert_eq!(
            format!("{:?}", TargetId::NatGateway("nat-1".into())),
            r#""nat-1""#
        );
    }

    #[test]
    fn no_desired_routes_removes_a_stale_default_route() {
        let have = routes(&[("0.0.0.0/0", "nat-gone")]);
        let changes = RouteChanges::between(&have, &BTreeMap::new());
        assert_eq!(changes.delete, vec!["0.0.0.0/0".to_string()]);
        assert!(changes.create.is_empty() && changes.replace.is_empty());
    }
}
