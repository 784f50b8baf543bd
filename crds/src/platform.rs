use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{
    Condition, DeletionPolicy, ExtraTags, TAG_CHARACTERS_MESSAGE, TAG_CHARACTERS_RULE,
    TAG_VALUE_COST_BOUND, TAGS_MESSAGE, TAGS_RULE,
};

/// The shared AWS foundation that teams' chatbots run on: network, internet-facing
/// load balancer with an HTTPS listener, ECS cluster, and a private endpoint to
/// Bedrock. One platform serves many `BedrockChatbot`s.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "bedrock-chatbot.dev",
    version = "v1alpha1",
    kind = "ChatbotPlatform",
    plural = "chatbotplatforms",
    shortname = "cbp",
    category = "bedrock-chatbot",
    status = "ChatbotPlatformStatus",
    derive = "PartialEq",
    doc = "Shared AWS foundation (VPC, ALB, ECS cluster, Bedrock endpoint) for teams' chatbots.",
    cel,
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(name = "Region", type_ = "string", json_path = ".spec.region"),
    printcolumn(
        name = "Load Balancer",
        type_ = "string",
        json_path = ".status.loadBalancerDnsName"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(
    validation = Rule::new("!has(self.network.managed) || !has(self.network.managed.availabilityZones) || self.network.managed.availabilityZones.all(z, z.startsWith(self.region))")
        .message("network.managed.availabilityZones must all be in the platform's region")
        .field_path(".network.managed.availabilityZones"),
    validation = Rule::new("self.loadBalancer.certificateArn.split(':').size() < 4 || self.loadBalancer.certificateArn.split(':')[3] == self.region")
        .message("loadBalancer.certificateArn must be an ACM certificate in the platform's region (an ALB can only use certificates from its own region)")
        .field_path(".loadBalancer.certificateArn"),
    validation = Rule::new("!has(self.network.managed) || self.network.managed.natGateways != 'None' || !has(self.vpcEndpoints.imagePullAndLogs) || self.vpcEndpoints.imagePullAndLogs")
        .message("with natGateways None the tasks have no way out of the VPC: vpcEndpoints.imagePullAndLogs cannot be false (tasks need ECR and CloudWatch Logs endpoints to start)")
        .field_path(".vpcEndpoints.imagePullAndLogs")
)]
#[serde(rename_all = "camelCase")]
pub struct ChatbotPlatformSpec {
    /// AWS region everything is created in, e.g. `us-west-2`. Immutable.
    #[schemars(
        length(min = 1, max = 32),
        regex(pattern = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+$")
    )]
    #[x_kube(validation = Rule::new("self == oldSelf").message("region is immutable: create a new platform in the other region instead"))]
    pub region: String,

    /// Network the platform runs in: exactly one of `managed` (the operator builds a
    /// VPC) or `existing` (bring your own VPC and subnets). Defaults to `managed` with
    /// the reference layout.
    #[serde(default)]
    pub network: NetworkSpec,

    /// The internet-facing Application Load Balancer in front of every chatbot.
    pub load_balancer: LoadBalancerSpec,

    /// Private endpoints inside the VPC for AWS services the tasks call.
    #[serde(default)]
    pub vpc_endpoints: VpcEndpointsSpec,

    /// The ECS cluster the chatbots' Fargate tasks run in.
    #[serde(default)]
    pub ecs: EcsSpec,

    /// Optional ECR repository for teams' chatbot images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecr_repository: Option<EcrRepositorySpec>,

    /// IAM settings of the roles the operator creates for this platform.
    #[serde(default, skip_serializing_if = "IamSpec::is_empty")]
    pub iam: IamSpec,

    /// Extra AWS tags for every resource of the platform (cost allocation, ownership).
    #[serde(default, skip_serializing_if = "ExtraTags::is_empty")]
    // The values' maxLength bounds only the CEL cost estimate: see TAG_VALUE_COST_BOUND.
    #[schemars(extend("maxProperties" = 40, "additionalProperties" = { "type": "string", "maxLength": TAG_VALUE_COST_BOUND }))]
    #[x_kube(
        validation = Rule::new(TAGS_RULE).message(TAGS_MESSAGE),
        validation = Rule::new(TAG_CHARACTERS_RULE).message(TAG_CHARACTERS_MESSAGE)
    )]
    pub tags: ExtraTags,

    /// `Delete` removes the platform's AWS resources with the object; `Retain`
    /// leaves them.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// Where the platform's network comes from. Set exactly one field.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("has(self.managed) != has(self.existing)").message("set exactly one of network.managed or network.existing"))]
#[serde(rename_all = "camelCase")]
pub struct NetworkSpec {
    /// The operator creates and owns the VPC, subnets, gateways and route tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedNetwork>,
    /// Use a VPC and subnets that already exist; the operator creates nothing at the
    /// network level and never deletes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing: Option<ExistingNetwork>,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        Self {
            managed: Some(ManagedNetwork::default()),
            existing: None,
        }
    }
}

/// A VPC built by the operator: public subnets for the load balancer, private
/// subnets for the tasks, one route table per private subnet.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[x_kube(
    validation = Rule::new("size(self.publicSubnetCidrs) == (has(self.availabilityZones) && size(self.availabilityZones) > 0 ? size(self.availabilityZones) : 2)")
        .message("publicSubnetCidrs needs one CIDR per availability zone (two when availabilityZones is not set)")
        .field_path(".publicSubnetCidrs"),
    validation = Rule::new("size(self.privateSubnetCidrs) == (has(self.availabilityZones) && size(self.availabilityZones) > 0 ? size(self.availabilityZones) : 2)")
        .message("privateSubnetCidrs needs one CIDR per availability zone (two when availabilityZones is not set)")
        .field_path(".privateSubnetCidrs"),
    validation = Rule::new("!isCIDR(self.vpcCidr) || self.publicSubnetCidrs.all(c, !isCIDR(c) || cidr(self.vpcCidr).containsCIDR(c))")
        .message("every publicSubnetCidrs entry must lie inside vpcCidr")
        .field_path(".publicSubnetCidrs"),
    validation = Rule::new("!isCIDR(self.vpcCidr) || self.privateSubnetCidrs.all(c, !isCIDR(c) || cidr(self.vpcCidr).containsCIDR(c))")
        .message("every privateSubnetCidrs entry must lie inside vpcCidr")
        .field_path(".privateSubnetCidrs")
)]
#[serde(rename_all = "camelCase")]
pub struct ManagedNetwork {
    /// IPv4 CIDR of the VPC, between /16 and /28.
    #[serde(default = "default_vpc_cidr")]
    #[schemars(length(min = 9, max = 18))]
    #[x_kube(validation = Rule::new("isCIDR(self) && cidr(self).ip().family() == 4 && cidr(self).prefixLength() >= 16 && cidr(self).prefixLength() <= 28").message("vpcCidr must be an IPv4 CIDR between /16 and /28, e.g. 10.0.0.0/16"))]
    pub vpc_cidr: String,

    /// Availability zones, one public and one private subnet in each (an ALB needs at
    /// least two); each must be available in the region and offer the Bedrock runtime
    /// endpoint, or nothing is created. Default: chosen at the first pass among the
    /// zones that do (by name, as many as there are public subnet CIDRs), recorded in
    /// `status.availabilityZones`, and kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 6),
        inner(
            length(min = 1, max = 32),
            regex(pattern = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+[a-z]$")
        )
    )]
    #[x_kube(validation = Rule::new("size(self) == 0 || size(self) >= 2").message("availabilityZones needs at least two zones (an Application Load Balancer spans two or more)"))]
    pub availability_zones: Vec<String>,

    /// CIDRs of the public subnets (load balancer and NAT gateways), one per zone.
    #[serde(default = "default_public_subnet_cidrs")]
    #[schemars(length(min = 2, max = 6), inner(length(min = 9, max = 18)))]
    #[x_kube(validation = Rule::new("self.all(c, isCIDR(c) && cidr(c).ip().family() == 4 && cidr(c).prefixLength() >= 16 && cidr(c).prefixLength() <= 28)").message("publicSubnetCidrs entries must be IPv4 CIDRs between /16 and /28"))]
    pub public_subnet_cidrs: Vec<String>,

    /// CIDRs of the private subnets (the chatbots' tasks and the VPC endpoints), one
    /// per zone.
    #[serde(default = "default_private_subnet_cidrs")]
    #[schemars(length(min = 2, max = 6), inner(length(min = 9, max = 18)))]
    #[x_kube(validation = Rule::new("self.all(c, isCIDR(c) && cidr(c).ip().family() == 4 && cidr(c).prefixLength() >= 16 && cidr(c).prefixLength() <= 28)").message("privateSubnetCidrs entries must be IPv4 CIDRs between /16 and /28"))]
    pub private_subnet_cidrs: Vec<String>,

    /// NAT gateways for the private subnets' way out: `PerZone` (highly available,
    /// the reference), `Single` (cheaper, one zone's outage cuts egress), or `None`
    /// (no egress; ECR, CloudWatch Logs and S3 are reached through VPC endpoints —
    /// but the chatbot cannot fetch the load balancer's token-signing keys, whose
    /// server has no VPC endpoint, and refuses every request unless you give the
    /// private subnets a way out of your own).
    #[serde(default)]
    pub nat_gateways: NatGatewayMode,
}

impl Default for ManagedNetwork {
    fn default() -> Self {
        Self {
            vpc_cidr: default_vpc_cidr(),
            availability_zones: Vec::new(),
            public_subnet_cidrs: default_public_subnet_cidrs(),
            private_subnet_cidrs: default_private_subnet_cidrs(),
            nat_gateways: NatGatewayMode::default(),
        }
    }
}

fn default_vpc_cidr() -> String {
    "10.0.0.0/16".into()
}

fn default_public_subnet_cidrs() -> Vec<String> {
    vec!["10.0.1.0/24".into(), "10.0.2.0/24".into()]
}

fn default_private_subnet_cidrs() -> Vec<String> {
    vec!["10.0.3.0/24".into(), "10.0.4.0/24".into()]
}

/// How the private subnets reach the internet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum NatGatewayMode {
    /// One NAT gateway (and Elastic IP) per availability zone.
    #[default]
    PerZone,
    /// One NAT gateway in the first zone, shared by every private subnet.
    Single,
    /// No NAT gateway: tasks reach AWS services through VPC endpoints only.
    None,
}

/// A VPC and subnets that exist already. The operator only places its load
/// balancer, endpoints and tasks in them.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("size(self.publicSubnetIds) == size(self.privateSubnetIds)").message("existing network needs as many private subnets as public ones (one of each per availability zone)"))]
#[serde(rename_all = "camelCase")]
pub struct ExistingNetwork {
    /// Id of the VPC, e.g. `vpc-0123456789abcdef0`.
    #[schemars(regex(pattern = r"^vpc-[0-9a-f]{8,17}$"))]
    pub vpc_id: String,
    /// Public subnets (routed to an internet gateway) in at least two zones, for the
    /// load balancer.
    #[schemars(
        length(min = 2, max = 6),
        inner(regex(pattern = r"^subnet-[0-9a-f]{8,17}$"))
    )]
    pub public_subnet_ids: Vec<String>,
    /// Private subnets in the same zones, for the tasks and the VPC endpoints.
    #[schemars(
        length(min = 2, max = 6),
        inner(regex(pattern = r"^subnet-[0-9a-f]{8,17}$"))
    )]
    pub private_subnet_ids: Vec<String>,
}

/// The Application Load Balancer every chatbot is reached through.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerSpec {
    /// ACM certificate for the HTTPS:443 listener, covering every chatbot hostname
    /// (a wildcard certificate is typical). Required: the ALB authenticates users
    /// with Cognito only on HTTPS listeners. It must be in the platform's region and
    /// account and issued: the operator asks ACM before creating anything, and
    /// waits while it is still pending validation.
    #[schemars(length(min = 20, max = 2048))]
    #[x_kube(validation = Rule::new("self.matches('^arn:aws(-cn|-us-gov|-iso|-iso-b)?:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]{36}$')").message("certificateArn must be an ACM certificate ARN, e.g. arn:aws:acm:us-west-2:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef"))]
    pub certificate_arn: String,

    /// TLS policy of the HTTPS listener; only policies that refuse anything older
    /// than TLS 1.2 are accepted.
    #[serde(default = "default_ssl_policy")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("self in ['ELBSecurityPolicy-TLS13-1-2-2021-06', 'ELBSecurityPolicy-TLS13-1-2-Res-2021-06', 'ELBSecurityPolicy-TLS13-1-3-2021-06', 'ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06', 'ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06', 'ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04', 'ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04', 'ELBSecurityPolicy-TLS-1-2-2017-01', 'ELBSecurityPolicy-TLS-1-2-Ext-2018-06', 'ELBSecurityPolicy-FS-1-2-2019-08', 'ELBSecurityPolicy-FS-1-2-Res-2019-08', 'ELBSecurityPolicy-FS-1-2-Res-2020-10']").message("sslPolicy must be an ELB security policy that requires TLS 1.2 or newer, e.g. ELBSecurityPolicy-TLS13-1-2-2021-06"))]
    pub ssl_policy: String,

    /// Source ranges allowed to reach the load balancer on 443 and 80. Default: the
    /// whole internet; narrow it to your company's egress ranges for internal bots.
    /// At most 30: each range is two inbound rules (443 and 80) of the load
    /// balancer's security group, and AWS allows 60 inbound IPv4 rules per security
    /// group by default.
    // The quota ("Inbound or outbound rules per security group", 60, adjustable) is
    // counted separately for IPv4 and IPv6 rules
    // (https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-security-groups);
    // the ranges are IPv4 only and the group has no other inbound rule, so 30 × 2
    // fill exactly the IPv4 count. A raised quota is not assumed. maxItems (50) only
    // bounds the CEL cost estimate; the size rule is the cap, and says why.
    #[serde(default = "default_ingress_cidrs")]
    #[schemars(length(min = 1, max = 50), inner(length(min = 9, max = 18)))]
    #[x_kube(
        validation = Rule::new("size(self) <= 30").message("ingressCidrs holds at most 30 ranges: each becomes two inbound rules (443 and 80) of the load balancer's security group, and AWS allows 60 inbound rules per security group by default (Amazon VPC quota, counted per IP version)"),
        validation = Rule::new("self.all(c, isCIDR(c) && cidr(c).ip().family() == 4)").message("ingressCidrs entries must be IPv4 CIDRs, e.g. 0.0.0.0/0 or 203.0.113.0/24")
    )]
    pub ingress_cidrs: Vec<String>,

    /// Seconds an idle connection stays open. Streaming answers send keep-alives
    /// well inside the default of 60.
    #[serde(default = "default_idle_timeout")]
    #[schemars(range(min = 1, max = 4000))]
    pub idle_timeout_seconds: i32,

    /// Refuse deletion of the load balancer through the AWS API until this is
    /// turned off again.
    #[serde(default)]
    pub deletion_protection: bool,
}

fn default_ssl_policy() -> String {
    "ELBSecurityPolicy-TLS13-1-2-2021-06".into()
}

fn default_ingress_cidrs() -> Vec<String> {
    vec!["0.0.0.0/0".into()]
}

fn default_idle_timeout() -> i32 {
    60
}

/// Private endpoints for AWS services inside the VPC.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VpcEndpointsSpec {
    /// Interface endpoints for ECR (api, dkr) and CloudWatch Logs plus an S3 gateway
    /// endpoint, so tasks pull images and ship logs without internet egress.
    /// Default: on when `network.managed.natGateways` is `None`, off otherwise. The
    /// `bedrock-runtime` endpoint (private DNS) is always created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_and_logs: Option<bool>,
}

/// Settings of the shared ECS cluster.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsSpec {
    /// CloudWatch Container Insights on the cluster (CPU, memory and task metrics).
    #[serde(default = "default_true")]
    pub container_insights: bool,
}

impl Default for EcsSpec {
    fn default() -> Self {
        Self {
            container_insights: true,
        }
    }
}

/// IAM settings of the roles the operator creates: the platform's task execution
/// role and every chatbot's task role.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IamSpec {
    /// Managed policy set as the permissions boundary of every role the operator
    /// creates, e.g. `arn:aws:iam::123456789012:policy/bedrock-chatbot-boundary`.
    /// With the controller's IAM policy requiring it (the `iam:PermissionsBoundary`
    /// condition, see docs/install.md), even a compromised controller cannot create
    /// or widen a role beyond it. `docs/role-permissions-boundary.json` allows what
    /// the roles need. Removing it from the spec removes it from the roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 26, max = 2048),
        regex(
            pattern = r"^arn:aws(-cn|-us-gov|-iso|-iso-b)?:iam::[0-9]{12}:policy/[A-Za-z0-9+=,.@_/-]+$"
        )
    )]
    pub role_permissions_boundary_arn: Option<String>,
}

impl IamSpec {
    /// Whether nothing is set (kept out of serialized specs).
    pub fn is_empty(&self) -> bool {
        self.role_permissions_boundary_arn.is_none()
    }
}

/// An ECR repository teams push chatbot images to.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcrRepositorySpec {
    /// Repository name, e.g. `bedrock-chatbot`.
    #[schemars(
        length(min = 2, max = 256),
        regex(pattern = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
    )]
    pub name: String,
    /// `Immutable` (default) stops a tag from being pushed over, so a deployed tag
    /// always means the same image; `Mutable` allows it, as the reference did.
    #[serde(default)]
    pub image_tag_mutability: ImageTagMutability,
    /// Scan every pushed image for vulnerabilities.
    #[serde(default = "default_true")]
    pub scan_on_push: bool,
}

/// Whether an image tag can be overwritten.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ImageTagMutability {
    /// Tags cannot be overwritten.
    #[default]
    Immutable,
    /// Tags can be overwritten.
    Mutable,
}

fn default_true() -> bool {
    true
}

/// What exists on AWS for the platform, as last observed.
///
/// Defaults to `observedGeneration: 0` before the controller first writes it, so
/// that tools reading kstatus conventions (Flux, Argo CD, cli-utils) see "not yet
/// observed" instead of an object without status, which they take for current.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("default" = {}))]
pub struct ChatbotPlatformStatus {
    /// The `metadata.generation` the status describes (0: none yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 0))]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Synced`, `Degraded`, and kstatus's `Reconciling` and `Stalled`, one of each at most.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// AWS account the platform lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Id of the VPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// Ids of the public subnets, in zone order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub public_subnet_ids: Vec<String>,
    /// Ids of the private subnets, in zone order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub private_subnet_ids: Vec<String>,
    /// The availability zones of the managed network: the spec's, or those chosen at
    /// the first pass among the region's available zones that offer the Bedrock
    /// runtime endpoint. Kept, so the network never moves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub availability_zones: Vec<String>,
    /// Id of the load balancer's security group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_security_group_id: Option<String>,
    /// Id of the tasks' security group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_security_group_id: Option<String>,
    /// Id of the VPC endpoints' security group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints_security_group_id: Option<String>,
    /// Ids of the VPC endpoints, bedrock-runtime first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vpc_endpoint_ids: Vec<String>,
    /// Ids of the NAT gateways.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nat_gateway_ids: Vec<String>,
    /// ARN of the load balancer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_arn: Option<String>,
    /// DNS name of the load balancer: point chatbot hostnames here (CNAME or alias).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_dns_name: Option<String>,
    /// ARN of the HTTPS:443 listener the chatbots' rules attach to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_listener_arn: Option<String>,
    /// ARN of the ECS cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    /// ARN of the shared task execution role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// URI of the ECR repository, when one is requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecr_repository_uri: Option<String>,
    /// Name of the S3 bucket of the chatbots' attachments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments_bucket_name: Option<String>,
}
