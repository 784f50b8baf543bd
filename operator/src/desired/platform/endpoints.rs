//! The platform's VPC endpoints: Bedrock runtime; DynamoDB and S3 gateways for the
//! chatbots' history and attachments; and where asked for, image pulls and logs.

use super::*;

/// An endpoint the operator creates in the platform's VPC (managed or existing),
/// so that tasks reach an AWS service without the internet.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VpcEndpoint {
    /// Component key, e.g. `bedrock-runtime-endpoint`.
    pub key: String,
    /// `Name` tag.
    pub name: String,
    /// e.g. `com.amazonaws.us-west-2.bedrock-runtime`.
    pub service_name: String,
    /// Interface (ENIs in subnets) or gateway (route table entries).
    pub kind: EndpointKind,
}

/// How a VPC endpoint attaches to the VPC.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum EndpointKind {
    /// ENIs in the private subnets, reachable from the tasks only.
    #[serde(rename_all = "camelCase")]
    Interface {
        /// The service's public DNS name resolves to the endpoint inside the VPC,
        /// so the SDK needs no endpoint override.
        private_dns: bool,
        /// Subnets holding the endpoint's ENIs.
        subnets: Vec<PlatformRef>,
        /// Security group of the ENIs.
        security_group: String,
    },
    /// Prefix-list routes in the private route tables.
    #[serde(rename_all = "camelCase")]
    Gateway {
        /// Route tables that get the route.
        route_tables: Vec<PlatformRef>,
    },
}

/// The interface endpoint service of the Bedrock runtime in `region`.
pub fn bedrock_runtime_service(region: &str) -> String {
    format!("com.amazonaws.{region}.bedrock-runtime")
}

pub(super) fn vpc_endpoints(
    spec: &ChatbotPlatformSpec,
    env: &Environment,
    prefix: &str,
    private_subnets: &[PlatformRef],
    private_route_tables: Vec<PlatformRef>,
) -> Vec<VpcEndpoint> {
    let service = |name: &str| format!("com.amazonaws.{}.{name}", env.region);
    let interface = |name: &str| VpcEndpoint {
        key: format!("{}-endpoint", name.replace('.', "-")),
        name: format!("{prefix}-{}", name.replace('.', "-")),
        service_name: service(name),
        kind: EndpointKind::Interface {
            private_dns: true,
            subnets: private_subnets.to_vec(),
            security_group: ENDPOINTS_SG.into(),
        },
    };
    let gateway = |name: &str| VpcEndpoint {
        key: format!("{name}-endpoint"),
        name: format!("{prefix}-{name}"),
        service_name: service(name),
        kind: EndpointKind::Gateway {
            route_tables: private_route_tables.clone(),
        },
    };
    let mut endpoints = vec![interface("bedrock-runtime")];
    // The chatbots' history tables and attachments, reached without NAT (which a
    // NAT-free network lacks altogether) and without leaving AWS's network. A
    // gateway endpoint is free; it needs the private route tables, which only a
    // managed network has. No endpoint policy narrows S3 to the attachments
    // bucket: image layers come from ECR's own bucket through the same endpoint,
    // and the task roles are what limits each chatbot to its prefix.
    if !private_route_tables.is_empty() {
        endpoints.extend(["dynamodb", "s3"].map(gateway));
    }
    if image_pull_and_logs_endpoints(spec) {
        endpoints.extend(["ecr.api", "ecr.dkr", "logs"].map(interface));
        if private_route_tables.is_empty() {
            endpoints.push(gateway("s3"));
        }
    }
    endpoints
}

/// Whether the platform gets ECR, logs and S3 endpoints: as the spec says, else
/// exactly when a managed network has no NAT gateway.
pub fn image_pull_and_logs_endpoints(spec: &ChatbotPlatformSpec) -> bool {
    spec.vpc_endpoints.image_pull_and_logs.unwrap_or_else(|| {
        spec.network
            .managed
            .as_ref()
            .is_some_and(|m| m.nat_gateways == NatGatewayMode::None)
    })
}
