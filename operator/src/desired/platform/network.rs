//! The platform's own network: VPC, subnets per zone, internet and NAT gateways,
//! route tables.

use std::fmt;

use super::*;

/// The platform's network, as `spec.network` says: exactly one of `managed` and
/// `existing`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "camelCase")]
pub enum Network {
    /// Created and owned by the operator.
    Managed(Box<ManagedNetworkDesired>),
    /// Brought by the user; never created or deleted.
    Existing(ExistingNetwork),
}

/// A VPC the operator creates.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedNetworkDesired {
    pub vpc: Vpc,
    /// Gives the public subnets a route to the internet.
    pub internet_gateway: InternetGateway,
    /// One per zone, for the load balancer and NAT gateways.
    pub public_subnets: Vec<Subnet>,
    /// One per zone, for tasks and endpoints.
    pub private_subnets: Vec<Subnet>,
    /// One per zone (`PerZone`), one in all (`Single`) or none.
    pub nat_gateways: Vec<NatGateway>,
    /// The public route table, then one per private subnet.
    pub route_tables: Vec<RouteTable>,
}

/// The internet gateway, attached to the VPC.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InternetGateway {
    /// Component key (the `bedrock-chatbot.dev/component` tag).
    pub key: String,
    /// `Name` tag.
    pub name: String,
}

/// The VPC of a managed network.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Vpc {
    /// Its component key: the `bedrock-chatbot.dev/component` tag that finds it on
    /// AWS, and the key its id is recorded under for what points at it.
    pub key: String,
    /// `Name` tag.
    pub name: String,
    /// IPv4 CIDR.
    pub cidr: String,
    /// DNS resolution in the VPC (private DNS of endpoints needs it).
    pub enable_dns_support: bool,
    /// DNS hostnames in the VPC (private DNS of endpoints needs it).
    pub enable_dns_hostnames: bool,
}

/// A subnet of a managed network: a public and a private one per zone.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subnet {
    /// Component key, e.g. `public-subnet-a`.
    pub key: String,
    /// `Name` tag.
    pub name: String,
    /// IPv4 CIDR.
    pub cidr: String,
    /// Its zone, e.g. `us-west-2a` (see [`availability_zones`]).
    pub availability_zone: String,
    /// Whether instances get a public IP by default: never, not even in public
    /// subnets (only the load balancer and NAT gateways live there).
    pub map_public_ip_on_launch: bool,
}

/// A NAT gateway with its Elastic IP.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NatGateway {
    /// Component key, e.g. `nat-gateway-a`.
    pub key: String,
    /// `Name` tag.
    pub name: String,
    /// The public subnet it sits in.
    pub subnet: PlatformRef,
    /// Component key of its Elastic IP.
    pub elastic_ip_key: String,
}

/// A route table and the subnets it serves.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteTable {
    /// Its component key: the `bedrock-chatbot.dev/component` tag that finds it on
    /// AWS, and the key its id is recorded under for what points at it.
    pub key: String,
    /// `Name` tag.
    pub name: String,
    /// Routes besides the VPC's local route.
    pub routes: Vec<Route>,
    /// Subnets associated with it.
    pub subnets: Vec<PlatformRef>,
}

/// A route of a route table: `0.0.0.0/0` to a gateway.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// Destination CIDR.
    pub destination: String,
    /// Internet gateway or NAT gateway.
    pub target: RouteTarget,
}

/// Where a route sends its traffic: AWS takes each kind of gateway in its own
/// field. (Serialized as the [`PlatformRef`] of the gateway.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "ref", content = "key", rename_all = "camelCase")]
pub enum RouteTarget {
    /// The VPC's internet gateway.
    InternetGateway,
    /// A NAT gateway, by component key.
    NatGateway(String),
}

impl RouteTarget {
    /// The gateway, as the engine resolves it to its id.
    pub fn gateway(&self) -> PlatformRef {
        match self {
            Self::InternetGateway => PlatformRef::InternetGateway,
            Self::NatGateway(key) => PlatformRef::NatGateway(key.clone()),
        }
    }
}

impl fmt::Display for RouteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.gateway().fmt(f)
    }
}

/// The availability zones of a managed network: the spec's, else those recorded
/// in the status (chosen by the engine from what the region offers, see
/// `engine::zones`), else — offline, before any pass — the region's `a` and `b`.
pub fn availability_zones(
    managed: &ManagedNetwork,
    region: &str,
    recorded: &[String],
) -> Vec<String> {
    if !managed.availability_zones.is_empty() {
        managed.availability_zones.clone()
    } else if !recorded.is_empty() {
        recorded.to_vec()
    } else {
        vec![format!("{region}a"), format!("{region}b")]
    }
}

/// The letter that tells zones apart in component keys (`us-west-2a` → `a`).
pub(super) fn zone_suffix(zone: &str) -> String {
    zone.chars().last().map(String::from).unwrap_or_default()
}

/// The VPC the operator creates for the platform named by `prefix`: a public and
/// a private subnet per zone, NAT gateways as the spec says, and route tables.
pub(super) fn managed_network(
    managed: &ManagedNetwork,
    spec: &ChatbotPlatformSpec,
    prefix: &str,
    recorded_zones: &[String],
) -> ManagedNetworkDesired {
    let zones = availability_zones(managed, &spec.region, recorded_zones);
    let public_subnets = subnets("public", &zones, &managed.public_subnet_cidrs, prefix);
    let private_subnets = subnets("private", &zones, &managed.private_subnet_cidrs, prefix);
    let nat_gateways = nat_gateways(managed.nat_gateways, &public_subnets, prefix);
    let mut route_tables = vec![public_route_table(&public_subnets, prefix)];
    route_tables.extend(private_route_tables(
        &private_subnets,
        &nat_gateways,
        prefix,
    ));
    ManagedNetworkDesired {
        vpc: Vpc {
            key: RefKey::VPC.to_string(),
            name: prefix.to_string(),
            cidr: managed.vpc_cidr.clone(),
            enable_dns_support: true,
            enable_dns_hostnames: true,
        },
        internet_gateway: InternetGateway {
            key: RefKey::INTERNET_GATEWAY.to_string(),
            name: prefix.to_string(),
        },
        public_subnets,
        private_subnets,
        nat_gateways,
        route_tables,
    }
}

/// One subnet of `tier` (`public` or `private`) per zone, with the CIDRs in order.
fn subnets(tier: &str, zones: &[String], cidrs: &[String], prefix: &str) -> Vec<Subnet> {
    zones
        .iter()
        .zip(cidrs)
        .map(|(zone, cidr)| {
            let key = format!("{tier}-subnet-{}", zone_suffix(zone));
            Subnet {
                name: format!("{prefix}-{key}"),
                key,
                cidr: cidr.clone(),
                availability_zone: zone.clone(),
                map_public_ip_on_launch: false,
            }
        })
        .collect()
}

/// None, one in the first public subnet (`Single`) or one in each (`PerZone`).
fn nat_gateways(mode: NatGatewayMode, public_subnets: &[Subnet], prefix: &str) -> Vec<NatGateway> {
    match mode {
        NatGatewayMode::None => Vec::new(),
        NatGatewayMode::Single => public_subnets
            .iter()
            .take(1)
            .map(|s| nat_gateway(s, prefix))
            .collect(),
        NatGatewayMode::PerZone => public_subnets
            .iter()
            .map(|s| nat_gateway(s, prefix))
            .collect(),
    }
}

/// The public subnets' one route table: everything else through the internet
/// gateway.
fn public_route_table(public_subnets: &[Subnet], prefix: &str) -> RouteTable {
    RouteTable {
        key: "public-route-table".into(),
        name: format!("{prefix}-public"),
        routes: vec![Route {
            destination: "0.0.0.0/0".into(),
            target: RouteTarget::InternetGateway,
        }],
        subnets: public_subnets
            .iter()
            .map(|s| PlatformRef::PublicSubnet(s.key.clone()))
            .collect(),
    }
}

/// A route table per private subnet, through a NAT gateway when there is one.
fn private_route_tables(
    private_subnets: &[Subnet],
    nat_gateways: &[NatGateway],
    prefix: &str,
) -> Vec<RouteTable> {
    let mut route_tables = Vec::new();
    for (index, subnet) in private_subnets.iter().enumerate() {
        let suffix = zone_suffix(&subnet.availability_zone);
        // Each zone's tasks leave through their own zone's NAT gateway (PerZone), so
        // one zone's outage cannot cut the other's egress; Single shares the first.
        let nat = nat_gateways.get(index).or(nat_gateways.first());
        route_tables.push(RouteTable {
            key: format!("private-route-table-{suffix}"),
            name: format!("{prefix}-private-{suffix}"),
            routes: nat
                .map(|nat| Route {
                    destination: "0.0.0.0/0".into(),
                    target: RouteTarget::NatGateway(nat.key.clone()),
                })
                .into_iter()
                .collect(),
            subnets: vec![PlatformRef::PrivateSubnet(subnet.key.clone())],
        });
    }
    route_tables
}

pub(super) fn nat_gateway(subnet: &Subnet, prefix: &str) -> NatGateway {
    let suffix = zone_suffix(&subnet.availability_zone);
    NatGateway {
        key: format!("nat-gateway-{suffix}"),
        name: format!("{prefix}-nat-{suffix}"),
        subnet: PlatformRef::PublicSubnet(subnet.key.clone()),
        elastic_ip_key: format!("nat-eip-{suffix}"),
    }
}
