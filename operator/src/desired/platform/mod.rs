//! Desired state of a `ChatbotPlatform`: the network, security groups, VPC
//! endpoints, load balancer with its listeners, ECS cluster, execution role and
//! optional ECR repository.

use bedrock_chatbot_crds::{
    CHATBOT_PORT, ChatbotPlatform, ChatbotPlatformSpec, DeletionPolicy, ExistingNetwork,
    ManagedNetwork, NatGatewayMode,
};
use serde::Serialize;

use super::aws_enums::{
    CapacityProvider, LoadBalancerScheme, Protocol, RedirectStatus, RepositoryEncryption,
    TagMutability,
};
use super::chatbot::{HttpsListener, ListenerRule, PLATFORM_RULE_PRIORITY, RuleMatch, RuleThen};
use super::iam::{self, PolicyDocument};
use super::naming::{Charset, fitted_name};
use super::{Environment, Owner, PlatformRef, RefKey, Tags, owner_tags};

mod attachments;
mod endpoints;
mod network;
mod security;

pub use attachments::*;
pub use endpoints::*;
pub use network::*;
pub use security::*;

/// Everything AWS must hold for one platform.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformDesired {
    /// The `ChatbotPlatform` it is for; every resource's owner tag names it.
    pub owner: Owner,
    /// Where the resources live.
    pub environment: Environment,
    /// Tags on every resource (each also gets its component key and `Name`).
    pub tags: Tags,
    /// Delete or keep the resources when the object goes.
    pub deletion_policy: DeletionPolicy,
    /// VPC, subnets, gateways and routes — or the existing ones to use.
    pub network: Network,
    /// Load balancer, tasks and endpoint security groups.
    pub security_groups: Vec<SecurityGroup>,
    /// bedrock-runtime (always) and, without NAT, ECR/logs/S3 endpoints.
    pub vpc_endpoints: Vec<VpcEndpoint>,
    /// The internet-facing ALB.
    pub load_balancer: LoadBalancer,
    /// HTTPS:443 (chatbot rules attach here) and HTTP:80 (redirect).
    pub listeners: Vec<Listener>,
    /// The one rule of the platform on the HTTPS listener: `/signed-out` answered
    /// by the load balancer, without sign-in, for every chatbot.
    pub signed_out_rule: ListenerRule,
    /// The Fargate cluster.
    pub cluster: EcsCluster,
    /// Role ECS uses to pull images and write logs for every chatbot.
    pub execution_role: Role,
    /// Repository for teams' images, when asked for.
    pub ecr_repository: Option<EcrRepository>,
    /// The files users attach to their conversations, a prefix per chatbot.
    pub attachments_bucket: AttachmentsBucket,
}

/// The Application Load Balancer.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancer {
    /// Its component key: the `bedrock-chatbot.dev/component` tag that finds it on
    /// AWS, and the key its id is recorded under for what points at it.
    pub key: String,
    /// Name (≤ 32 characters).
    pub name: String,
    /// `internet-facing`.
    pub scheme: LoadBalancerScheme,
    /// The public subnets.
    pub subnets: Vec<PlatformRef>,
    /// Component key of its security group.
    pub security_group: String,
    /// Load balancer attributes, as AWS names them.
    pub attributes: Tags,
}

/// A listener of the load balancer.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listener {
    /// Component key: `https-listener` or `http-listener`.
    pub key: String,
    /// 443 or 80.
    pub port: u16,
    /// `HTTPS` or `HTTP`.
    pub protocol: Protocol,
    /// TLS policy (HTTPS only).
    pub ssl_policy: Option<String>,
    /// Server certificate (HTTPS only).
    pub certificate_arn: Option<String>,
    /// What happens to requests no rule matches.
    pub default_action: DefaultAction,
}

/// A listener's default action.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum DefaultAction {
    /// The load balancer answers itself (the HTTPS listener: 404 for a host no
    /// chatbot's rule takes).
    FixedResponse(FixedResponse),
    /// A redirect to HTTPS on 443, keeping host, path and query.
    #[serde(rename_all = "camelCase")]
    RedirectToHttps {
        /// `HTTP_301`.
        status_code: RedirectStatus,
    },
}

/// An answer the load balancer gives itself (a listener's default, a rule's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FixedResponse {
    /// HTTP status code.
    pub status_code: u16,
    /// The answer's `Content-Type`.
    pub content_type: &'static str,
    /// Body (at most [`FIXED_RESPONSE_MAX_BODY`] characters).
    pub body: &'static str,
}

/// The longest body an ALB fixed response takes
/// ([FixedResponseActionConfig](https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_FixedResponseActionConfig.html)).
pub const FIXED_RESPONSE_MAX_BODY: usize = 1024;

/// Where Cognito sends a user after sign-out (each chatbot's client lists
/// `https://<hostname>` + this as its sign-out URL).
pub const SIGNED_OUT_PATH: &str = "/signed-out";

/// The page at [`SIGNED_OUT_PATH`], served by the load balancer for every chatbot:
/// the chatbot's own rule signs in first, so a page behind it would send a user
/// who just signed out straight back to the sign-in page. Self-contained (no
/// script, nothing loaded) and under [`FIXED_RESPONSE_MAX_BODY`].
pub const SIGNED_OUT_PAGE: &str = concat!(
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">",
    "<meta name=\"referrer\" content=\"no-referrer\">",
    "<title>Signed out</title><style>",
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;",
    "line-height:1.5;color:#1f2328;background:#fff}",
    "a{color:#0969da}",
    "@media(prefers-color-scheme:dark){body{color:#e6edf3;background:#0d1117}a{color:#4493f8}}",
    "</style></head><body><main><h1>You have signed out</h1>",
    "<p><a href=\"/\">Sign in again</a></p></main></body></html>",
);

/// The platform's ECS cluster, where every chatbot's service runs on Fargate.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsCluster {
    /// Its component key: the `bedrock-chatbot.dev/component` tag that finds it on
    /// AWS, and the key its id is recorded under for what points at it.
    pub key: String,
    /// Cluster name (unique per account and region).
    pub name: String,
    /// Container Insights on or off.
    pub container_insights: bool,
    /// `FARGATE`.
    pub capacity_providers: Vec<CapacityProvider>,
}

/// An IAM role: the platform's execution role or a chatbot's task role.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// Its component key: the `bedrock-chatbot.dev/component` tag that finds it on
    /// AWS, and the key its id is recorded under for what points at it.
    pub key: String,
    /// Role name (≤ 64 characters).
    pub name: String,
    /// IAM path, grouping the operator's roles.
    pub path: &'static str,
    /// What the role is for, shown in IAM beside its name.
    pub description: String,
    /// Who may assume it.
    pub trust_policy: PolicyDocument,
    /// AWS managed policies attached.
    pub managed_policy_arns: Vec<String>,
    /// Inline policies by name.
    pub inline_policies: Vec<(String, PolicyDocument)>,
    /// Managed policy that bounds what the role can ever be granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<String>,
}

/// The repository for teams' images that `spec.ecrRepository` asks for.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EcrRepository {
    /// Its component key: the `bedrock-chatbot.dev/component` tag that finds it on
    /// AWS, and the key its id is recorded under for what points at it.
    pub key: String,
    /// Repository name (unique per account and region).
    pub name: String,
    /// `IMMUTABLE` or `MUTABLE`.
    pub image_tag_mutability: TagMutability,
    /// Scan images on push.
    pub scan_on_push: bool,
    /// How images are encrypted at rest (`AES256`, keys ECR manages).
    pub encryption: RepositoryEncryption,
}

/// IAM path of every role the operator creates.
pub const ROLE_PATH: &str = "/bedrock-chatbot/";

/// Load balancer attribute that makes the ALB drop headers with invalid names, so no
/// client can smuggle a forged `x-amzn-oidc-*` header past it.
pub const DROP_INVALID_HEADERS: &str = "routing.http.drop_invalid_header_fields.enabled";

/// Computes the platform's desired state for `account_id` (or [`super::UNKNOWN_ACCOUNT`]).
pub fn desired(platform: &ChatbotPlatform, account_id: &str) -> PlatformDesired {
    let name = platform.metadata.name.clone().unwrap_or_default();
    let spec = &platform.spec;
    let env = Environment::new(&spec.region, account_id);
    let owner = Owner::ChatbotPlatform { name: name.clone() };
    let prefix = format!("bcb-{name}");

    let Subnets {
        network,
        public_subnets,
        private_subnets,
        private_route_tables,
    } = subnets(platform, &prefix);

    PlatformDesired {
        tags: owner_tags(&owner, &name, &spec.tags),
        owner,
        deletion_policy: spec.deletion_policy,
        security_groups: security_groups(spec, &prefix),
        vpc_endpoints: vpc_endpoints(spec, &env, &prefix, &private_subnets, private_route_tables),
        load_balancer: load_balancer(spec, &prefix, public_subnets),
        listeners: listeners(spec),
        signed_out_rule: ListenerRule {
            key: "signed-out-rule".into(),
            listener: HttpsListener,
            priority: Some(PLATFORM_RULE_PRIORITY),
            condition: RuleMatch::PathPattern(SIGNED_OUT_PATH.into()),
            action: RuleThen::FixedResponse(FixedResponse {
                status_code: 200,
                content_type: "text/html",
                body: SIGNED_OUT_PAGE,
            }),
        },
        cluster: EcsCluster {
            key: RefKey::CLUSTER.to_string(),
            name: fitted_name(&prefix, 255, Charset::HyphensUnderscores),
            container_insights: spec.ecs.container_insights,
            capacity_providers: vec![CapacityProvider::Fargate],
        },
        execution_role: execution_role(spec, &name, &prefix, &env),
        ecr_repository: spec.ecr_repository.as_ref().map(|repo| EcrRepository {
            key: "ecr-repository".into(),
            name: repo.name.clone(),
            image_tag_mutability: repo.image_tag_mutability.into(),
            scan_on_push: repo.scan_on_push,
            encryption: RepositoryEncryption::Aes256,
        }),
        attachments_bucket: attachments_bucket(&name, &env),
        network,
        environment: env,
    }
}

/// The platform's network and the ids its other resources are placed by.
struct Subnets {
    network: Network,
    public_subnets: Vec<PlatformRef>,
    private_subnets: Vec<PlatformRef>,
    /// The private route tables (gateway endpoints are added to them); none in an
    /// existing network.
    private_route_tables: Vec<PlatformRef>,
}

/// The network the platform manages, or the existing one it was given, and its
/// public and private subnets as references.
fn subnets(platform: &ChatbotPlatform, prefix: &str) -> Subnets {
    let spec = &platform.spec;
    if let Some(existing) = &spec.network.existing {
        let ids = |ids: &[String]| ids.iter().cloned().map(PlatformRef::Id).collect();
        return Subnets {
            network: Network::Existing(existing.clone()),
            public_subnets: ids(&existing.public_subnet_ids),
            private_subnets: ids(&existing.private_subnet_ids),
            private_route_tables: Vec::new(),
        };
    }
    let managed = spec.network.managed.clone().unwrap_or_default();
    let recorded = platform
        .status
        .as_ref()
        .map(|s| s.availability_zones.as_slice())
        .unwrap_or_default();
    let net = managed_network(&managed, spec, prefix, recorded);
    let refs = |subnets: &[Subnet], make: fn(String) -> PlatformRef| {
        subnets.iter().map(|s| make(s.key.clone())).collect()
    };
    Subnets {
        public_subnets: refs(&net.public_subnets, PlatformRef::PublicSubnet),
        private_subnets: refs(&net.private_subnets, PlatformRef::PrivateSubnet),
        private_route_tables: net
            .route_tables
            .iter()
            .filter(|t| t.key.starts_with("private-"))
            .map(|t| PlatformRef::RouteTable(t.key.clone()))
            .collect(),
        network: Network::Managed(Box::new(net)),
    }
}

/// The internet-facing ALB in the public subnets: invalid header fields dropped,
/// the spec's deletion protection and idle timeout.
fn load_balancer(
    spec: &ChatbotPlatformSpec,
    prefix: &str,
    public_subnets: Vec<PlatformRef>,
) -> LoadBalancer {
    LoadBalancer {
        key: RefKey::LOAD_BALANCER.to_string(),
        name: fitted_name(prefix, 32, Charset::Hyphens),
        scheme: LoadBalancerScheme::InternetFacing,
        subnets: public_subnets,
        security_group: LOAD_BALANCER_SG.into(),
        attributes: [
            (DROP_INVALID_HEADERS, "true".to_string()),
            (
                "deletion_protection.enabled",
                spec.load_balancer.deletion_protection.to_string(),
            ),
            (
                "idle_timeout.timeout_seconds",
                spec.load_balancer.idle_timeout_seconds.to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    }
}

/// HTTPS on 443 with the spec's certificate and TLS policy, answering 404 to a host
/// no chatbot claims; HTTP on 80 only redirects to it.
fn listeners(spec: &ChatbotPlatformSpec) -> Vec<Listener> {
    vec![
        Listener {
            // The key chatbots' rules find it by: only this listener can carry
            // them (authenticate-cognito needs HTTPS).
            key: RefKey::HTTPS_LISTENER.to_string(),
            port: 443,
            protocol: Protocol::Https,
            ssl_policy: Some(spec.load_balancer.ssl_policy.clone()),
            certificate_arn: Some(spec.load_balancer.certificate_arn.clone()),
            default_action: DefaultAction::FixedResponse(FixedResponse {
                status_code: 404,
                content_type: "text/plain",
                body: "Not found",
            }),
        },
        Listener {
            key: "http-listener".into(),
            port: 80,
            protocol: Protocol::Http,
            ssl_policy: None,
            certificate_arn: None,
            default_action: DefaultAction::RedirectToHttps {
                status_code: RedirectStatus::Http301,
            },
        },
    ]
}

/// The role ECS starts every chatbot's tasks with (pull the image, write logs),
/// under the spec's permissions boundary.
fn execution_role(spec: &ChatbotPlatformSpec, name: &str, prefix: &str, env: &Environment) -> Role {
    Role {
        key: RefKey::EXECUTION_ROLE.to_string(),
        name: super::naming::hashed_name(
            prefix,
            &platform_identity(name),
            "-execution",
            64,
            Charset::Iam,
        ),
        path: ROLE_PATH,
        description: format!("ECS task execution role of chatbot platform {name}"),
        trust_policy: iam::execution_role_trust_policy(env),
        managed_policy_arns: vec![iam::execution_role_managed_policy(env)],
        inline_policies: Vec::new(),
        permissions_boundary: spec.iam.role_permissions_boundary_arn.clone(),
    }
}

fn platform_identity(name: &str) -> String {
    Owner::ChatbotPlatform { name: name.into() }.to_string()
}

#[cfg(test)]
mod tests {
    use bedrock_chatbot_crds::NetworkSpec;

    use super::*;
    use crate::desired::fixtures::reference_platform;

    fn managed(desired: &PlatformDesired) -> &ManagedNetworkDesired {
        match &desired.network {
            Network::Managed(net) => net,
            Network::Existing(_) => panic!("expected a managed network"),
        }
    }

    #[test]
    fn reference_network_layout() {
        let desired = desired(&reference_platform(), "123456789012");
        let net = managed(&desired);
        assert_eq!(net.vpc.cidr, "10.0.0.0/16");
        assert!(net.vpc.enable_dns_support && net.vpc.enable_dns_hostnames);
        let layout: Vec<_> = net
            .public_subnets
            .iter()
            .chain(&net.private_subnets)
            .map(|s| {
                (
                    s.key.as_str(),
                    s.cidr.as_str(),
                    s.availability_zone.as_str(),
                )
            })
            .collect();
        assert_eq!(
            layout,
            vec![
                ("public-subnet-a", "10.0.1.0/24", "us-west-2a"),
                ("public-subnet-b", "10.0.2.0/24", "us-west-2b"),
                ("private-subnet-a", "10.0.3.0/24", "us-west-2a"),
                ("private-subnet-b", "10.0.4.0/24", "us-west-2b"),
            ]
        );
        assert!(
            net.public_subnets
                .iter()
                .chain(&net.private_subnets)
                .all(|s| !s.map_public_ip_on_launch)
        );
    }

    #[test]
    fn per_zone_nat_routes_each_private_subnet_through_its_own_zone() {
        let desired = desired(&reference_platform(), "123456789012");
        let net = managed(&desired);
        assert_eq!(net.nat_gateways.len(), 2);
        assert_eq!(
            net.nat_gateways[1].subnet,
            PlatformRef::PublicSubnet("public-subnet-b".into())
        );
        let private_b = net
            .route_tables
            .iter()
            .find(|t| t.key == "private-route-table-b")
            .unwrap();
        assert_eq!(
            private_b.routes[0].target,
            RouteTarget::NatGateway("nat-gateway-b".into())
        );
        assert_eq!(
            private_b.subnets,
            vec![PlatformRef::PrivateSubnet("private-subnet-b".into())]
        );
        let public = net
            .route_tables
            .iter()
            .find(|t| t.key == "public-route-table")
            .unwrap();
        assert_eq!(public.routes[0].target, RouteTarget::InternetGateway);
        assert_eq!(public.subnets.len(), 2);
    }

    #[test]
    fn single_nat_is_shared_and_none_adds_private_service_endpoints() {
        let mut platform = reference_platform();
        platform.spec.network.managed.as_mut().unwrap().nat_gateways = NatGatewayMode::Single;
        let single = desired(&platform, "1");
        let net = managed(&single);
        assert_eq!(net.nat_gateways.len(), 1);
        for table in net
            .route_tables
            .iter()
            .filter(|t| t.key.starts_with("private-"))
        {
            assert_eq!(
                table.routes[0].target,
                RouteTarget::NatGateway("nat-gateway-a".into())
            );
        }
        let services = |desired: &PlatformDesired| -> Vec<String> {
            desired
                .vpc_endpoints
                .iter()
                .map(|e| e.service_name.clone())
                .collect()
        };
        assert_eq!(
            services(&single),
            [
                "com.amazonaws.us-west-2.bedrock-runtime",
                "com.amazonaws.us-west-2.dynamodb",
                "com.amazonaws.us-west-2.s3",
            ],
            "NAT egress needs no endpoints but Bedrock's, the history tables' and the attachments'"
        );

        platform.spec.network.managed.as_mut().unwrap().nat_gateways = NatGatewayMode::None;
        let none = desired(&platform, "1");
        assert!(managed(&none).nat_gateways.is_empty());
        assert!(
            managed(&none)
                .route_tables
                .iter()
                .filter(|t| t.key.starts_with("private-"))
                .all(|t| t.routes.is_empty())
        );
        assert_eq!(
            services(&none),
            [
                "com.amazonaws.us-west-2.bedrock-runtime",
                "com.amazonaws.us-west-2.dynamodb",
                "com.amazonaws.us-west-2.s3",
                "com.amazonaws.us-west-2.ecr.api",
                "com.amazonaws.us-west-2.ecr.dkr",
                "com.amazonaws.us-west-2.logs",
            ]
        );
        for gateway in [1, 2] {
            let EndpointKind::Gateway { route_tables } = &none.vpc_endpoints[gateway].kind else {
                panic!("DynamoDB and S3 must be gateway endpoints")
            };
            assert_eq!(
                route_tables,
                &[
                    PlatformRef::RouteTable("private-route-table-a".into()),
                    PlatformRef::RouteTable("private-route-table-b".into())
                ]
            );
        }
    }

    #[test]
    fn bedrock_endpoint_is_private_dns_in_private_subnets_behind_endpoint_sg() {
        let desired = desired(&reference_platform(), "1");
        let endpoint = &desired.vpc_endpoints[0];
        assert_eq!(
            endpoint.service_name,
            "com.amazonaws.us-west-2.bedrock-runtime"
        );
        assert_eq!(
            endpoint.kind,
            EndpointKind::Interface {
                private_dns: true,
                subnets: vec![
                    PlatformRef::PrivateSubnet("private-subnet-a".into()),
                    PlatformRef::PrivateSubnet("private-subnet-b".into())
                ],
                security_group: ENDPOINTS_SG.into(),
            }
        );
    }

    #[test]
    fn security_group_ingress_is_exactly_the_three_paths() {
        let desired = desired(&reference_platform(), "1");
        let ingress: Vec<_> = desired
            .security_groups
            .iter()
            .flat_map(|sg| {
                sg.ingress
                    .iter()
                    .map(move |r| (sg.key.as_str(), r.port, r.peer.clone()))
            })
            .collect();
        assert_eq!(
            ingress,
            vec![
                (LOAD_BALANCER_SG, 443, Peer::Cidr("0.0.0.0/0".into())),
                (LOAD_BALANCER_SG, 80, Peer::Cidr("0.0.0.0/0".into())),
                (TASKS_SG, 8501, Peer::SecurityGroup(LOAD_BALANCER_SG.into())),
                (ENDPOINTS_SG, 443, Peer::SecurityGroup(TASKS_SG.into())),
            ]
        );
        let endpoints = desired
            .security_groups
            .iter()
            .find(|sg| sg.key == ENDPOINTS_SG)
            .unwrap();
        assert!(endpoints.egress.is_empty());
    }

    #[test]
    fn load_balancer_is_https_with_redirect_and_drops_invalid_headers() {
        let desired = desired(&reference_platform(), "1");
        assert_eq!(
            desired.load_balancer.attributes[DROP_INVALID_HEADERS],
            "true"
        );
        assert_eq!(desired.load_balancer.scheme.as_str(), "internet-facing");
        assert_eq!(desired.load_balancer.subnets.len(), 2);
        let https = &desired.listeners[0];
        assert_eq!((https.port, https.protocol), (443, Protocol::Https));
        assert_eq!(
            https.ssl_policy.as_deref(),
            Some("ELBSecurityPolicy-TLS13-1-2-2021-06")
        );
        assert!(matches!(
            https.default_action,
            DefaultAction::FixedResponse(FixedResponse {
                status_code: 404,
                ..
            })
        ));
        let http = &desired.listeners[1];
        assert_eq!((http.port, http.protocol), (80, Protocol::Http));
        assert!(matches!(
            http.default_action,
            DefaultAction::RedirectToHttps { .. }
        ));
    }

    /// The listener chatbots' rules go on is the HTTPS one, with the platform's
    /// certificate: authenticate-cognito works nowhere else.
    #[test]
    fn the_listener_chatbot_rules_go_on_is_https_with_a_certificate() {
        let desired = desired(&reference_platform(), "1");
        let key = PlatformRef::HttpsListener.to_string();
        let rule_listeners: Vec<&Listener> =
            desired.listeners.iter().filter(|l| l.key == key).collect();
        assert_eq!(rule_listeners.len(), 1);
        let https = rule_listeners[0];
        assert_eq!((https.protocol, https.port), (Protocol::Https, 443));
        assert_eq!(
            https.certificate_arn.as_deref(),
            Some(
                reference_platform()
                    .spec
                    .load_balancer
                    .certificate_arn
                    .as_str()
            )
        );
        assert!(
            https
                .certificate_arn
                .as_deref()
                .is_some_and(|c| !c.is_empty())
        );
        assert!(https.ssl_policy.is_some());
        for other in desired.listeners.iter().filter(|l| l.key != key) {
            assert_ne!(other.protocol, Protocol::Https, "one HTTPS listener only");
            assert!(matches!(
                other.default_action,
                DefaultAction::RedirectToHttps { .. }
            ));
        }
    }

    /// After sign-out Cognito sends users to `/signed-out`: one rule for every
    /// chatbot (the listener's rule budget), before any team's rule, without
    /// sign-in, a page the load balancer can serve.
    #[test]
    fn signed_out_is_one_unauthenticated_rule_before_every_team() {
        let desired = desired(&reference_platform(), "1");
        let rule = &desired.signed_out_rule;
        assert_eq!(rule.listener.platform_ref(), PlatformRef::HttpsListener);
        assert_eq!(rule.priority, Some(1));
        assert!(rule.priority < Some(super::super::chatbot::FIRST_TEAM_PRIORITY));
        assert_eq!(rule.condition, RuleMatch::PathPattern("/signed-out".into()));
        let RuleThen::FixedResponse(page) = &rule.action else {
            panic!(
                "answered by the load balancer, without sign-in: {:?}",
                rule.action
            )
        };
        assert_eq!((page.status_code, page.content_type), (200, "text/html"));
        assert!(
            page.body.len() <= FIXED_RESPONSE_MAX_BODY,
            "{}",
            page.body.len()
        );
        assert!(page.body.contains("You have signed out"));
        assert!(page.body.contains("<a href=\"/\">Sign in again</a>"));
        for external in ["<script", "src=", "http:", "https:", "@import", "url("] {
            assert!(!page.body.contains(external), "{external}");
        }
    }

    /// S3 names are global: one name per platform, account and region, within
    /// S3's rules however long the platform's name.
    #[test]
    fn the_attachments_bucket_is_named_per_account_and_region_and_locked_down() {
        let bucket = desired(&reference_platform(), "123456789012").attachments_bucket;
        assert!(bucket.name.starts_with("bcb-shared-"), "{}", bucket.name);
        assert!(
            bucket.name.ends_with("-123456789012-us-west-2"),
            "{}",
            bucket.name
        );
        assert_ne!(
            bucket.name,
            desired(&reference_platform(), "210987654321")
                .attachments_bucket
                .name
        );
        let mut long = reference_platform();
        long.metadata.name = Some(format!("{}.example", "p".repeat(240)));
        for name in [
            bucket.name.clone(),
            desired(&long, "123456789012").attachments_bucket.name,
        ] {
            assert!((3..=63).contains(&name.len()), "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
            assert!(!name.starts_with('-') && !name.ends_with('-') && !name.contains("--"));
        }
        assert_eq!(
            (bucket.encryption.as_str(), bucket.object_ownership.as_str()),
            ("AES256", "BucketOwnerEnforced")
        );
        let arn = format!("arn:aws:s3:::{}", bucket.name);
        assert_eq!(
            bucket.policy["Statement"],
            serde_json::json!([{
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn.clone(), format!("{arn}/*")],
                "Condition": { "Bool": { "aws:SecureTransport": "false" } }
            }])
        );
    }

    #[test]
    fn existing_network_creates_nothing_at_network_level() {
        let mut platform = reference_platform();
        platform.spec.network = NetworkSpec {
            managed: None,
            existing: Some(ExistingNetwork {
                vpc_id: "vpc-0123456789abcdef0".into(),
                public_subnet_ids: vec!["subnet-00000001".into(), "subnet-00000002".into()],
                private_subnet_ids: vec!["subnet-00000003".into(), "subnet-00000004".into()],
            }),
        };
        let desired = desired(&platform, "1");
        assert!(matches!(desired.network, Network::Existing(_)));
        assert_eq!(
            desired.load_balancer.subnets,
            vec![
                PlatformRef::Id("subnet-00000001".into()),
                PlatformRef::Id("subnet-00000002".into())
            ]
        );
        let EndpointKind::Interface { subnets, .. } = &desired.vpc_endpoints[0].kind else {
            panic!()
        };
        assert_eq!(subnets[0], PlatformRef::Id("subnet-00000003".into()));
    }

    #[test]
    fn names_fit_aws_limits_for_long_platform_names() {
        let mut platform = reference_platform();
        platform.metadata.name = Some(format!("{}.example", "p".repeat(240)));
        let desired = desired(&platform, "1");
        assert!(desired.load_balancer.name.len() <= 32);
        assert!(desired.execution_role.name.len() <= 64);
        assert!(desired.cluster.name.len() <= 255);
        assert!(
            desired
                .load_balancer
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        );
        assert_eq!(
            desired,
            super::desired(&platform, "1"),
            "desired state must be deterministic"
        );
    }

    #[test]
    fn execution_role_uses_the_managed_policy() {
        let desired = desired(&reference_platform(), "123456789012");
        assert_eq!(
            desired.execution_role.managed_policy_arns,
            vec!["arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"]
        );
        assert_eq!(desired.execution_role.path, ROLE_PATH);
    }

    /// Fargate assumes the execution role to pull the image and write logs before
    /// the task exists; AWS documents the `aws:SourceArn` guard for task roles only,
    /// and a condition on a key the caller does not send fails every task launch.
    #[test]
    fn execution_role_trust_is_guarded_by_the_account_only() {
        let desired = desired(&reference_platform(), "123456789012");
        let trust = serde_json::to_value(&desired.execution_role.trust_policy).unwrap();
        assert_eq!(
            trust,
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "Service": "ecs-tasks.amazonaws.com" },
                    "Action": ["sts:AssumeRole"],
                    "Condition": { "StringEquals": { "aws:SourceAccount": "123456789012" } }
                }]
            })
        );
    }

    #[test]
    fn ownership_tags_are_set() {
        let desired = desired(&reference_platform(), "1");
        assert_eq!(
            desired.tags[super::super::TAG_OWNER],
            "ChatbotPlatform/shared"
        );
        assert_eq!(
            desired.tags[super::super::TAG_MANAGED_BY],
            "bedrock-chatbot-operator"
        );
    }
}
