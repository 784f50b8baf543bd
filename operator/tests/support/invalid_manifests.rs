//! The catalogue of invalid manifests: each case one change away from a valid
//! platform and chatbot, with the field and message the file mode must report and
//! the layer that must refuse it. `manifests.rs` checks the file mode's messages;
//! `apiserver_admission.rs` checks that a real API server agrees on every verdict.

use std::path::Path;

use operator::manifest::{self, Manifests, Problems};
use serde_json::{Value, json};

use super::{chatbot_manifest as chatbot, set};

/// Which check must refuse a case. A case that moves to another layer (a CEL rule
/// added for what only the operator checked, say) is a change to say out loud.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// What the API server checks — apiVersion, kind, metadata, the CRD's schema
    /// and CEL rules — and the file mode repeats in `operator::admission`: refused
    /// by a real API server and by the file mode alike.
    ApiServer,
    /// One object, beyond what the CRD can say (`validation::check_platform`,
    /// `validation::check_chatbot`): the API server accepts it; the file mode and
    /// the controller refuse it.
    Operator,
    /// Objects each valid alone that conflict, or miss one another
    /// (`validation::check_set`, one object twice): the API server accepts every
    /// one; the file mode, which sees the whole set, refuses them.
    AcrossObjects,
}

/// One invalid set of manifests.
#[derive(Debug)]
pub struct Case {
    /// What is wrong, in words.
    pub what: &'static str,
    /// The layer that must refuse it.
    pub layer: Layer,
    /// The documents of one file, in order.
    pub documents: Vec<Value>,
    /// The field the file mode names.
    pub field: &'static str,
    /// Part of the file mode's message for that field.
    pub message: &'static str,
}

/// The catalogue's valid platform: `shared` in us-west-2.
pub fn platform() -> Value {
    super::platform_manifest(
        "arn:aws:acm:us-west-2:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef",
    )
}

/// The catalogue's platform `shared` in AWS GovCloud (US-West).
pub fn govcloud_platform() -> Value {
    let mut p = platform();
    set(&mut p, "/spec/region", json!("us-gov-west-1"));
    set(
        &mut p,
        "/spec/loadBalancer/certificateArn",
        json!(
            "arn:aws-us-gov:acm:us-gov-west-1:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef"
        ),
    );
    p
}

/// The file mode on `documents`, as one file `case.yaml`.
pub fn load(documents: &[Value]) -> Result<Manifests, Problems> {
    manifest::load_str(Path::new("case.yaml"), &super::yaml_documents(documents))
}

fn remove(doc: &mut Value, path: &str) {
    let (parent, key) = path.rsplit_once('/').unwrap();
    doc.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key);
}

fn platform_with(
    layer: Layer,
    what: &'static str,
    path: &str,
    value: Value,
    field: &'static str,
    message: &'static str,
) -> Case {
    let mut p = platform();
    set(&mut p, path, value);
    Case {
        what,
        layer,
        documents: vec![p],
        field,
        message,
    }
}

fn chatbot_with(
    layer: Layer,
    what: &'static str,
    path: &str,
    value: Value,
    field: &'static str,
    message: &'static str,
) -> Case {
    let mut c = chatbot("team-a", "chat.team-a.example.com");
    set(&mut c, path, value);
    Case {
        what,
        layer,
        documents: vec![platform(), c],
        field,
        message,
    }
}

/// Every case; each chatbot is in namespace `team-a` or `team-b`.
pub fn cases() -> Vec<Case> {
    let managed = |extra: Value| {
        let mut net = json!({ "vpcCidr": "10.0.0.0/16" });
        for (k, v) in extra.as_object().unwrap() {
            net[k] = v.clone();
        }
        json!({ "managed": net })
    };
    let existing = json!({
        "vpcId": "vpc-0123456789abcdef0",
        "publicSubnetIds": ["subnet-00000001", "subnet-00000002"],
        "privateSubnetIds": ["subnet-00000003", "subnet-00000004"]
    });
    let mut cases = vec![
        platform_with(
            Layer::ApiServer,
            "both network modes",
            "/spec/network",
            json!({ "managed": {}, "existing": existing.clone() }),
            "spec.network",
            "set exactly one of network.managed or network.existing",
        ),
        platform_with(
            Layer::ApiServer,
            "no network mode",
            "/spec/network",
            json!({}),
            "spec.network",
            "set exactly one of network.managed or network.existing",
        ),
        platform_with(
            Layer::ApiServer,
            "three public subnets for two zones",
            "/spec/network",
            managed(json!({ "publicSubnetCidrs": ["10.0.1.0/24", "10.0.2.0/24", "10.0.5.0/24"] })),
            "spec.network.managed.publicSubnetCidrs",
            "one CIDR per availability zone",
        ),
        platform_with(
            Layer::ApiServer,
            "private subnets for three zones, two given",
            "/spec/network",
            managed(
                json!({ "availabilityZones": ["us-west-2a", "us-west-2b", "us-west-2c"], "publicSubnetCidrs": ["10.0.1.0/24", "10.0.2.0/24", "10.0.5.0/24"] }),
            ),
            "spec.network.managed.privateSubnetCidrs",
            "one CIDR per availability zone",
        ),
        platform_with(
            Layer::ApiServer,
            "subnet outside the VPC",
            "/spec/network",
            managed(json!({ "privateSubnetCidrs": ["10.0.3.0/24", "10.1.4.0/24"] })),
            "spec.network.managed.privateSubnetCidrs",
            "must lie inside vpcCidr",
        ),
        platform_with(
            Layer::Operator,
            "overlapping subnets",
            "/spec/network",
            managed(json!({ "privateSubnetCidrs": ["10.0.3.0/24", "10.0.1.128/25"] })),
            "spec.network.managed.privateSubnetCidrs[1]",
            "overlaps 10.0.1.0/24",
        ),
        platform_with(
            Layer::ApiServer,
            "VPC too large",
            "/spec/network",
            managed(json!({ "vpcCidr": "10.0.0.0/8" })),
            "spec.network.managed.vpcCidr",
            "between /16 and /28",
        ),
        platform_with(
            Layer::ApiServer,
            "VPC CIDR not a CIDR",
            "/spec/network",
            managed(json!({ "vpcCidr": "10.0.0.300/16" })),
            "spec.network.managed.vpcCidr",
            "must be an IPv4 CIDR",
        ),
        platform_with(
            Layer::ApiServer,
            "VPC CIDR with a leading zero",
            "/spec/network",
            managed(json!({ "vpcCidr": "10.00.0.0/16" })),
            "spec.network.managed.vpcCidr",
            "must be an IPv4 CIDR",
        ),
        platform_with(
            Layer::ApiServer,
            "ingress range with a leading zero",
            "/spec/loadBalancer/ingressCidrs",
            json!(["010.0.0.0/8"]),
            "spec.loadBalancer.ingressCidrs",
            "must be IPv4 CIDRs",
        ),
        // Each range is two inbound rules (443 and 80) on the load balancer's
        // security group, which holds 60 inbound IPv4 rules by default.
        platform_with(
            Layer::ApiServer,
            "more ingress ranges than the security group's rule quota holds",
            "/spec/loadBalancer/ingressCidrs",
            json!(
                (0..31)
                    .map(|i| format!("203.0.{i}.0/24"))
                    .collect::<Vec<_>>()
            ),
            "spec.loadBalancer.ingressCidrs",
            "60 inbound rules",
        ),
        platform_with(
            Layer::ApiServer,
            "zone in another region",
            "/spec/network",
            managed(json!({ "availabilityZones": ["us-east-1a", "us-east-1b"] })),
            "spec.network.managed.availabilityZones",
            "in the platform's region",
        ),
        platform_with(
            Layer::ApiServer,
            "one zone only",
            "/spec/network",
            managed(json!({ "availabilityZones": ["us-west-2a"] })),
            "spec.network.managed.availabilityZones",
            "at least two zones",
        ),
        platform_with(
            Layer::Operator,
            "same zone twice",
            "/spec/network",
            managed(json!({ "availabilityZones": ["us-west-2a", "us-west-2a"] })),
            "spec.network.managed.availabilityZones",
            "listed twice",
        ),
        platform_with(
            Layer::Operator,
            "existing network with a subnet twice",
            "/spec/network",
            json!({ "existing": {
                "vpcId": "vpc-0123456789abcdef0",
                "publicSubnetIds": ["subnet-00000001", "subnet-00000002"],
                "privateSubnetIds": ["subnet-00000001", "subnet-00000004"] } }),
            "spec.network.existing",
            "listed twice",
        ),
        platform_with(
            Layer::ApiServer,
            "existing network, unequal subnet lists",
            "/spec/network",
            json!({ "existing": {
                "vpcId": "vpc-0123456789abcdef0",
                "publicSubnetIds": ["subnet-00000001", "subnet-00000002", "subnet-00000005"],
                "privateSubnetIds": ["subnet-00000003", "subnet-00000004"] } }),
            "spec.network.existing",
            "as many private subnets as public ones",
        ),
        platform_with(
            Layer::ApiServer,
            "existing VPC id malformed",
            "/spec/network",
            json!({ "existing": {
                "vpcId": "vpc-XYZ",
                "publicSubnetIds": ["subnet-00000001", "subnet-00000002"],
                "privateSubnetIds": ["subnet-00000003", "subnet-00000004"] } }),
            "spec.network.existing.vpcId",
            "does not match",
        ),
        platform_with(
            Layer::ApiServer,
            "certificate ARN malformed",
            "/spec/loadBalancer/certificateArn",
            json!("arn:aws:iam::123456789012:server-certificate/x"),
            "spec.loadBalancer.certificateArn",
            "must be an ACM certificate ARN",
        ),
        platform_with(
            Layer::ApiServer,
            "certificate in another region",
            "/spec/loadBalancer/certificateArn",
            json!(
                "arn:aws:acm:eu-west-1:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef"
            ),
            "spec.loadBalancer.certificateArn",
            "in the platform's region",
        ),
        platform_with(
            Layer::ApiServer,
            "permissions boundary that is a role, not a managed policy",
            "/spec/iam/rolePermissionsBoundaryArn",
            json!("arn:aws:iam::123456789012:role/admin"),
            "spec.iam.rolePermissionsBoundaryArn",
            "does not match",
        ),
        platform_with(
            Layer::ApiServer,
            "TLS policy allowing TLS 1.0",
            "/spec/loadBalancer/sslPolicy",
            json!("ELBSecurityPolicy-2016-08"),
            "spec.loadBalancer.sslPolicy",
            "TLS 1.2 or newer",
        ),
        platform_with(
            Layer::ApiServer,
            "ingress range not a CIDR",
            "/spec/loadBalancer/ingressCidrs",
            json!(["everyone-on-earth"]),
            "spec.loadBalancer.ingressCidrs",
            "must be IPv4 CIDRs",
        ),
        platform_with(
            Layer::ApiServer,
            "no NAT and no private endpoints",
            "/spec",
            json!({
                "region": "us-west-2",
                "network": { "managed": { "natGateways": "None" } },
                "vpcEndpoints": { "imagePullAndLogs": false },
                "loadBalancer": { "certificateArn": "arn:aws:acm:us-west-2:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef" } }),
            "spec.vpcEndpoints.imagePullAndLogs",
            "no way out of the VPC",
        ),
        platform_with(
            Layer::ApiServer,
            "unknown NAT mode",
            "/spec/network",
            managed(json!({ "natGateways": "Two" })),
            "spec.network.managed.natGateways",
            "is not one of",
        ),
        platform_with(
            Layer::ApiServer,
            "region malformed",
            "/spec/region",
            json!("Oregon"),
            "spec.region",
            "does not match",
        ),
        platform_with(
            Layer::ApiServer,
            "reserved tag key",
            "/spec/tags",
            json!({ "aws:cloudformation:stack-name": "x" }),
            "spec.tags",
            "must not start with 'aws:'",
        ),
        platform_with(
            Layer::ApiServer,
            "operator's own tag key",
            "/spec/tags",
            json!({ "bedrock-chatbot.dev/owner": "someone-else" }),
            "spec.tags",
            "must not start with 'aws:' or 'bedrock-chatbot.dev/'",
        ),
        // IAM, ECS, Elastic Load Balancing and CloudWatch Logs take in tag keys and
        // values only letters, digits, spaces and _ . : / = + - @.
        platform_with(
            Layer::ApiServer,
            "tag value with markup",
            "/spec/tags",
            json!({ "owner": "<script>" }),
            "spec.tags",
            "only letters, digits, spaces and _ . : / = + - @",
        ),
        platform_with(
            Layer::ApiServer,
            "tag key with a semicolon",
            "/spec/tags",
            json!({ "team;drop": "a" }),
            "spec.tags",
            "only letters, digits, spaces and _ . : / = + - @",
        ),
        platform_with(
            Layer::ApiServer,
            "tag value with a line break",
            "/spec/tags",
            json!({ "team": "a\nb" }),
            "spec.tags",
            "only letters, digits, spaces and _ . : / = + - @",
        ),
        platform_with(
            Layer::ApiServer,
            "uppercase name",
            "/metadata/name",
            json!("Shared"),
            "metadata.name",
            "lowercase DNS subdomain",
        ),
        platform_with(
            Layer::ApiServer,
            "ECR repository name with uppercase",
            "/spec/ecrRepository",
            json!({ "name": "Chatbot" }),
            "spec.ecrRepository.name",
            "does not match",
        ),
        platform_with(
            Layer::ApiServer,
            "idle timeout zero",
            "/spec/loadBalancer/idleTimeoutSeconds",
            json!(0),
            "spec.loadBalancer.idleTimeoutSeconds",
            "less than the minimum",
        ),
        chatbot_with(
            Layer::ApiServer,
            "temperature above 1",
            "/spec/model/temperature",
            json!(1.5),
            "spec.model.temperature",
            "greater than the maximum of 1",
        ),
        chatbot_with(
            Layer::ApiServer,
            "task CPU beyond 32 bits",
            "/spec/task/cpu",
            json!(4_294_967_808_i64),
            "spec.task",
            "Fargate combination",
        ),
        chatbot_with(
            Layer::ApiServer,
            "maxTokens not a whole number",
            "/spec/model/maxTokens",
            json!(1000.5),
            "spec.model.maxTokens",
            "is not of type \"integer\"",
        ),
        chatbot_with(
            Layer::ApiServer,
            "topP below 0",
            "/spec/model/topP",
            json!(-0.1),
            "spec.model.topP",
            "less than the minimum of 0",
        ),
        chatbot_with(
            Layer::ApiServer,
            "maxTokens zero",
            "/spec/model/maxTokens",
            json!(0),
            "spec.model.maxTokens",
            "less than the minimum of 1",
        ),
        chatbot_with(
            Layer::ApiServer,
            "maxTokens beyond the bound",
            "/spec/model/maxTokens",
            json!(1_000_000),
            "spec.model.maxTokens",
            "greater than the maximum of 64000",
        ),
        chatbot_with(
            Layer::ApiServer,
            "attachments.enabled as text",
            "/spec/attachments",
            json!({ "enabled": "never" }),
            "spec.attachments.enabled",
            "is not of type \"boolean\"",
        ),
        chatbot_with(
            Layer::ApiServer,
            "attachments with an unknown field",
            "/spec/attachments",
            json!({ "enabled": true, "retentionDays": 7 }),
            "spec.attachments",
            "unknown field(s) retentionDays",
        ),
        chatbot_with(
            Layer::ApiServer,
            "temperature as text",
            "/spec/model/temperature",
            json!("hot"),
            "spec.model.temperature",
            "is not of type",
        ),
        chatbot_with(
            Layer::ApiServer,
            "model id that is not a Bedrock id",
            "/spec/model/id",
            json!("gpt-4o"),
            "spec.model.id",
            "must be a Bedrock model id",
        ),
        // The task role names the profile and its foundation model: an id whose
        // prefix or shape the operator cannot read would get a policy AWS denies.
        chatbot_with(
            Layer::ApiServer,
            "model id with an unknown inference-profile prefix",
            "/spec/model/id",
            json!("xx.anthropic.claude-sonnet-4-20250514-v1:0"),
            "spec.model.id",
            "us., us-gov., eu., apac., jp., au., ca. or global.",
        ),
        chatbot_with(
            Layer::ApiServer,
            "inference-profile prefix without a provider",
            "/spec/model/id",
            json!("global.claude-sonnet-4-5-20250929-v1:0"),
            "spec.model.id",
            "must be a Bedrock model id",
        ),
        chatbot_with(
            Layer::ApiServer,
            "global profile narrowed to regions",
            "/spec/model",
            json!({
                "id": "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "inferenceRegions": ["us-east-1"]
            }),
            "spec.model.inferenceRegions",
            "cannot narrow a global. inference profile",
        ),
        chatbot_with(
            Layer::ApiServer,
            "an alternative model that is the default again",
            "/spec/model",
            json!({
                "id": "us.anthropic.claude-sonnet-4-20250514-v1:0",
                "alternatives": [{ "id": "us.anthropic.claude-sonnet-4-20250514-v1:0", "label": "Again" }]
            }),
            "spec.model.alternatives",
            "must each name another model than model.id",
        ),
        chatbot_with(
            Layer::ApiServer,
            "the same alternative model twice",
            "/spec/model/alternatives",
            json!([
                { "id": "amazon.nova-pro-v1:0", "label": "A" },
                { "id": "amazon.nova-pro-v1:0", "label": "B" }
            ]),
            "spec.model.alternatives",
            "each once",
        ),
        chatbot_with(
            Layer::ApiServer,
            "an alternative model id with an IAM wildcard",
            "/spec/model/alternatives",
            json!([{ "id": "anthropic.*", "label": "Any" }]),
            "spec.model.alternatives[0].id",
            "must be a Bedrock model id",
        ),
        chatbot_with(
            Layer::ApiServer,
            "an alternative global profile narrowed to regions",
            "/spec/model/alternatives",
            json!([{
                "id": "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "label": "Global",
                "inferenceRegions": ["us-east-1"]
            }]),
            "spec.model.alternatives[0].inferenceRegions",
            "cannot narrow a global. inference profile",
        ),
        chatbot_with(
            Layer::ApiServer,
            "an alternative model without a label",
            "/spec/model/alternatives",
            json!([{ "id": "amazon.nova-pro-v1:0", "label": "" }]),
            "spec.model.alternatives[0].label",
            "is shorter than 1 character",
        ),
        chatbot_with(
            Layer::ApiServer,
            "prices in two currencies",
            "/spec/model",
            json!({
                "id": "us.anthropic.claude-sonnet-4-20250514-v1:0",
                "pricing": { "currency": "USD", "inputPerMillion": 3, "outputPerMillion": 15 },
                "alternatives": [{
                    "id": "amazon.nova-pro-v1:0",
                    "label": "Nova",
                    "pricing": { "currency": "EUR", "inputPerMillion": 1, "outputPerMillion": 3 }
                }]
            }),
            "spec.model.alternatives",
            "needs model.pricing too, in the same currency",
        ),
        chatbot_with(
            Layer::ApiServer,
            "a priced alternative to an unpriced default",
            "/spec/model/alternatives",
            json!([{
                "id": "amazon.nova-pro-v1:0",
                "label": "Nova",
                "pricing": { "currency": "USD", "inputPerMillion": 1, "outputPerMillion": 3 }
            }]),
            "spec.model.alternatives",
            "needs model.pricing too",
        ),
        chatbot_with(
            Layer::ApiServer,
            "a price in no currency code",
            "/spec/model/pricing",
            json!({ "currency": "dollars", "inputPerMillion": 3, "outputPerMillion": 15 }),
            "spec.model.pricing.currency",
            "does not match",
        ),
        chatbot_with(
            Layer::ApiServer,
            "a negative price",
            "/spec/model/pricing",
            json!({ "currency": "USD", "inputPerMillion": -3, "outputPerMillion": 15 }),
            "spec.model.pricing.inputPerMillion",
            "less than the minimum",
        ),
        chatbot_with(
            Layer::ApiServer,
            "ten alternative models",
            "/spec/model/alternatives",
            json!((0..10).map(|i| json!({ "id": format!("amazon.nova-pro-v{i}:0"), "label": format!("M{i}") })).collect::<Vec<_>>()),
            "spec.model.alternatives",
            "has more than 9 items",
        ),
        chatbot_with(
            Layer::AcrossObjects,
            "GovCloud inference profile on a commercial platform",
            "/spec/model/id",
            json!("us-gov.anthropic.claude-3-5-sonnet-20240620-v1:0"),
            "spec.model.id",
            "GovCloud",
        ),
        chatbot_with(
            Layer::ApiServer,
            "system prompt too long",
            "/spec/model/systemPrompt",
            json!("x".repeat(20_001)),
            "spec.model.systemPrompt",
            "is longer than 20000 characters",
        ),
        chatbot_with(
            Layer::ApiServer,
            "hostname with uppercase",
            "/spec/hostname",
            json!("Chat.Example.com"),
            "spec.hostname",
            "fully qualified lowercase DNS name",
        ),
        chatbot_with(
            Layer::ApiServer,
            "hostname without a domain",
            "/spec/hostname",
            json!("localhost"),
            "spec.hostname",
            "fully qualified lowercase DNS name",
        ),
        chatbot_with(
            Layer::ApiServer,
            "hostname with a control character",
            "/spec/hostname",
            json!("chat\u{7}.example.com"),
            "spec.hostname",
            "fully qualified lowercase DNS name",
        ),
        chatbot_with(
            Layer::ApiServer,
            "hostname with a unicode homoglyph",
            "/spec/hostname",
            json!("chаt.example.com"),
            "spec.hostname",
            "fully qualified lowercase DNS name",
        ),
        chatbot_with(
            Layer::ApiServer,
            "log retention CloudWatch does not offer",
            "/spec/logs/retentionDays",
            json!(31),
            "spec.logs.retentionDays",
            "one of CloudWatch's values",
        ),
        chatbot_with(
            Layer::ApiServer,
            "password shorter than 12",
            "/spec/cognito/passwordPolicy/minimumLength",
            json!(8),
            "spec.cognito.passwordPolicy.minimumLength",
            "less than the minimum of 12",
        ),
        chatbot_with(
            Layer::ApiServer,
            "password longer than Cognito allows",
            "/spec/cognito/passwordPolicy/minimumLength",
            json!(100),
            "spec.cognito.passwordPolicy.minimumLength",
            "greater than the maximum of 99",
        ),
        chatbot_with(
            Layer::ApiServer,
            "domain prefix with a reserved word",
            "/spec/cognito/domainPrefix",
            json!("team-aws-chat"),
            "spec.cognito.domainPrefix",
            "must not contain 'aws'",
        ),
        chatbot_with(
            Layer::ApiServer,
            "session timeout beyond 7 days",
            "/spec/cognito/sessionTimeoutSeconds",
            json!(604_801),
            "spec.cognito.sessionTimeoutSeconds",
            "greater than the maximum",
        ),
        chatbot_with(
            Layer::ApiServer,
            "misspelt field",
            "/spec/modle",
            json!({ "id": "x" }),
            "spec",
            "unknown field(s) modle",
        ),
        chatbot_with(
            Layer::ApiServer,
            "CPU and memory Fargate does not offer",
            "/spec/task",
            json!({ "cpu": 512, "memory": 512 }),
            "spec.task",
            "Fargate combination",
        ),
        chatbot_with(
            Layer::ApiServer,
            "image with whitespace",
            "/spec/image",
            json!("my image:latest"),
            "spec.image",
            "does not match",
        ),
        // Kubernetes reads a schema's patterns as Go does: `\s` is ASCII
        // whitespace only, so the schema lets a Unicode space through to the
        // operator, which allows only ASCII in these fields.
        chatbot_with(
            Layer::Operator,
            "image with a Unicode em space",
            "/spec/image",
            json!("registry.example.com/chat\u{2003}bot:1"),
            "spec.image",
            "ECS image references hold only ASCII",
        ),
        chatbot_with(
            Layer::Operator,
            "health check path with a no-break space",
            "/spec/task/healthCheckPath",
            json!("/health\u{a0}check"),
            "spec.task.healthCheckPath",
            "must be printable ASCII",
        ),
        chatbot_with(
            Layer::ApiServer,
            "container health check without CMD",
            "/spec/task/containerHealthCheck",
            json!(["curl", "-f", "localhost"]),
            "spec.task.containerHealthCheck",
            "must start with CMD or CMD-SHELL",
        ),
        chatbot_with(
            Layer::ApiServer,
            "scaling bounds reversed",
            "/spec/scaling",
            json!({ "minCapacity": 4, "maxCapacity": 2 }),
            "spec.scaling",
            "must not exceed scaling.maxCapacity",
        ),
        chatbot_with(
            Layer::ApiServer,
            "desired count outside scaling bounds",
            "/spec/scaling",
            json!({ "minCapacity": 2, "maxCapacity": 4 }),
            "spec.task.desiredCount",
            "between scaling.minCapacity and scaling.maxCapacity",
        ),
        chatbot_with(
            Layer::ApiServer,
            "listener rule priority out of range",
            "/spec/listenerRulePriority",
            json!(50_001),
            "spec.listenerRulePriority",
            "greater than the maximum of 50000",
        ),
        chatbot_with(
            Layer::ApiServer,
            "listener rule priority 1, the platform's /signed-out rule",
            "/spec/listenerRulePriority",
            json!(1),
            "spec.listenerRulePriority",
            "less than the minimum of 2",
        ),
        chatbot_with(
            Layer::AcrossObjects,
            "platform that does not exist",
            "/spec/platformRef/name",
            json!("elsewhere"),
            "spec.platformRef.name",
            "ChatbotPlatform \"elsewhere\" does not exist",
        ),
        chatbot_with(
            Layer::ApiServer,
            "huge label value in a tag",
            "/spec/tags",
            json!({ "team": "x".repeat(300) }),
            "spec.tags",
            "values at most 256 characters",
        ),
        chatbot_with(
            Layer::ApiServer,
            "tag value with an emoji",
            "/spec/tags",
            json!({ "team": "🚀" }),
            "spec.tags",
            "only letters, digits, spaces and _ . : / = + - @",
        ),
        // A vowel sign is a mark (\p{M}), not a letter: AWS's tag pattern
        // (\p{L}\p{Z}\p{N}…) refuses "हिंदी", which Rust's is_alphanumeric takes.
        chatbot_with(
            Layer::ApiServer,
            "tag value with a combining mark",
            "/spec/tags",
            json!({ "language": "हिंदी" }),
            "spec.tags",
            "only letters, digits, spaces and _ . : / = + - @",
        ),
        chatbot_with(
            Layer::ApiServer,
            "wrong apiVersion",
            "/apiVersion",
            json!("bedrock-chatbot.dev/v1"),
            "apiVersion",
            "this operator serves \"bedrock-chatbot.dev/v1alpha1\"",
        ),
        chatbot_with(
            Layer::ApiServer,
            "unknown kind",
            "/kind",
            json!("Chatbot"),
            "kind",
            "unsupported kind \"Chatbot\"",
        ),
        // Metadata, which the API server decodes strictly and checks as it does
        // every object's.
        chatbot_with(
            Layer::ApiServer,
            "misspelt metadata field",
            "/metadata/lables",
            json!({ "team": "a" }),
            "metadata",
            "unknown field(s) lables",
        ),
        chatbot_with(
            Layer::ApiServer,
            "label value longer than 63 characters",
            "/metadata/labels",
            json!({ "team": "x".repeat(64) }),
            "metadata.labels",
            "at most 63 characters",
        ),
        chatbot_with(
            Layer::ApiServer,
            "label key with a space",
            "/metadata/labels",
            json!({ "team name": "a" }),
            "metadata.labels",
            "must be a qualified name",
        ),
        chatbot_with(
            Layer::ApiServer,
            "annotation key with an exclamation mark",
            "/metadata/annotations",
            json!({ "bad key!": "x" }),
            "metadata.annotations",
            "must be a qualified name",
        ),
        chatbot_with(
            Layer::ApiServer,
            "annotations over 256 KiB",
            "/metadata/annotations",
            json!({ "note": "x".repeat(256 * 1024 - 3) }),
            "metadata.annotations",
            "at most 262144 bytes",
        ),
        chatbot_with(
            Layer::ApiServer,
            "finalizer that is not a qualified name",
            "/metadata/finalizers",
            json!(["not valid!"]),
            "metadata.finalizers",
            "must be a qualified name",
        ),
        chatbot_with(
            Layer::ApiServer,
            "owner reference without its kind",
            "/metadata/ownerReferences",
            json!([{ "apiVersion": "v1", "name": "owner", "uid": "0e1d5d9a-5d7c-4b8e-9f3a-2c1b0a987654" }]),
            "metadata.ownerReferences[0]",
            "missing required field kind",
        ),
        chatbot_with(
            Layer::ApiServer,
            "namespace with an underscore",
            "/metadata/namespace",
            json!("team_a"),
            "metadata.namespace",
            "lowercase DNS label",
        ),
    ];
    cases.extend([
        chatbot_with(
            Layer::ApiServer,
            "tag value of 257 two-byte characters",
            "/spec/tags",
            json!({ "team": "é".repeat(257) }),
            "spec.tags",
            "values at most 256 characters",
        ),
        chatbot_with(
            Layer::ApiServer,
            "system prompt of 20001 two-byte characters",
            "/spec/model/systemPrompt",
            json!("é".repeat(20_001)),
            "spec.model.systemPrompt",
            "is longer than 20000 characters",
        ),
        chatbot_with(
            Layer::Operator,
            "system prompt of 20000 three-byte characters, more than a task definition holds",
            "/spec/model/systemPrompt",
            json!("€".repeat(20_000)),
            "spec.model.systemPrompt",
            "is 60000 bytes in UTF-8",
        ),
    ]);
    let mut missing_certificate = platform();
    remove(
        &mut missing_certificate,
        "/spec/loadBalancer/certificateArn",
    );
    cases.push(Case {
        what: "certificate missing",
        layer: Layer::ApiServer,
        documents: vec![missing_certificate],
        field: "spec.loadBalancer",
        message: "missing required field certificateArn",
    });
    let mut missing_hostname = chatbot("team-a", "x.example.com");
    remove(&mut missing_hostname, "/spec/hostname");
    cases.push(Case {
        what: "hostname missing",
        layer: Layer::ApiServer,
        documents: vec![platform(), missing_hostname],
        field: "spec",
        message: "missing required field hostname",
    });
    cases.push(Case {
        what: "hostname taken by another team",
        layer: Layer::AcrossObjects,
        documents: vec![
            platform(),
            chatbot("team-a", "chat.example.com"),
            chatbot("team-b", "chat.example.com"),
        ],
        field: "spec.hostname",
        message: "already used by BedrockChatbot team-a/assistant",
    });
    let mut second = chatbot("team-b", "b.example.com");
    set(&mut second, "/spec/listenerRulePriority", json!(10));
    let mut first = chatbot("team-a", "a.example.com");
    set(&mut first, "/spec/listenerRulePriority", json!(10));
    cases.push(Case {
        what: "listener rule priority taken",
        layer: Layer::AcrossObjects,
        documents: vec![platform(), first, second],
        field: "spec.listenerRulePriority",
        message: "priority 10 is already used by BedrockChatbot team-a/assistant",
    });
    let mut a = chatbot("team-a", "a.example.com");
    set(&mut a, "/spec/cognito/domainPrefix", json!("chat"));
    let mut b = chatbot("team-b", "b.example.com");
    set(&mut b, "/spec/cognito/domainPrefix", json!("chat"));
    cases.push(Case {
        what: "Cognito domain prefix taken",
        layer: Layer::AcrossObjects,
        documents: vec![platform(), a, b],
        field: "spec.cognito.domainPrefix",
        message: "already used by BedrockChatbot team-a/assistant",
    });
    cases.push(Case {
        what: "same object twice",
        layer: Layer::AcrossObjects,
        documents: vec![
            platform(),
            chatbot("team-a", "a.example.com"),
            chatbot("team-a", "b.example.com"),
        ],
        field: "metadata.name",
        message: "the same object is also defined in case.yaml (document 2)",
    });
    cases.push(Case {
        what: "commercial inference profile on a GovCloud platform",
        layer: Layer::AcrossObjects,
        documents: vec![
            govcloud_platform(),
            chatbot("team-a", "chat.team-a.example.com"),
        ],
        field: "spec.model.id",
        message: "GovCloud",
    });
    cases.push(Case {
        what: "not a mapping",
        layer: Layer::ApiServer,
        documents: vec![json!(["a", "list"])],
        field: "",
        message: "must be a YAML mapping",
    });
    cases
}

/// A manifest at the edge of what is allowed: the API server and the file mode
/// both admit it, and store the same spec.
#[derive(Debug)]
pub struct Admissible {
    /// What is unusual about it, in words.
    pub what: &'static str,
    /// The documents of one file, in order.
    pub documents: Vec<Value>,
}

/// 40 tags (the most a map holds), keys of 128 characters and values of 256, of
/// two bytes each where the key's form allows.
fn largest_tags() -> Value {
    (0..40)
        .map(|i| (format!("{i:02}{}", "é".repeat(126)), json!("é".repeat(256))))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Every admissible edge case; each chatbot is in namespace `team-a`.
pub fn admissible_cases() -> Vec<Admissible> {
    let platform_with = |what, path: &str, value: Value| {
        let mut p = platform();
        set(&mut p, path, value);
        Admissible {
            what,
            documents: vec![p],
        }
    };
    let chatbot_with = |what, path: &str, value: Value| {
        let mut c = chatbot("team-a", "chat.team-a.example.com");
        set(&mut c, path, value);
        Admissible {
            what,
            documents: vec![platform(), c],
        }
    };
    // Kubernetes counts a string's length in characters (code points), as AWS
    // counts tags; two-byte characters tell that apart from counting bytes.
    let e = |n: usize| "é".repeat(n);
    vec![
        platform_with(
            "platform with a namespace, which the API server drops",
            "/metadata/namespace",
            json!("team-a"),
        ),
        platform_with(
            "ingress range with host bits set",
            "/spec/loadBalancer/ingressCidrs",
            json!(["203.0.113.7/24"]),
        ),
        chatbot_with(
            "labels, annotations, finalizers and an owner as Kubernetes allows them",
            "/metadata",
            json!({
                "name": "assistant",
                "namespace": "team-a",
                "labels": { "example.com/team": "a", "empty": "", "long": "x".repeat(63) },
                // Annotation keys are checked lowercased.
                "annotations": { "Example.COM/Note": "anything at all ✓", "note": "" },
                // One without a domain draws only a warning.
                "finalizers": ["example.com/cleanup", "cleanup"],
                "ownerReferences": [{
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": "owner",
                    "uid": "0e1d5d9a-5d7c-4b8e-9f3a-2c1b0a987654"
                }],
                // As `kubectl create --dry-run=client -o yaml` writes it.
                "creationTimestamp": null
            }),
        ),
        chatbot_with(
            "chatbot name of 100 characters in one label",
            "/metadata/name",
            json!("a".repeat(100)),
        ),
        chatbot_with(
            "nulls, for optional fields and for defaulted ones",
            "/spec",
            json!({
                "platformRef": { "name": "shared" },
                "hostname": "chat.team-a.example.com",
                "model": null,
                "cognito": { "domainPrefix": null, "passwordPolicy": null },
                "task": { "containerHealthCheck": null, "cpu": null },
                "scaling": null,
                "listenerRulePriority": null,
                "tags": { "team": null, "cost-center": "42" }
            }),
        ),
        // Every rule runs on the largest values the schema allows, within the
        // API server's CEL cost budget per call and per object.
        chatbot_with(
            "chatbot with every list, map and string at its largest",
            "/spec",
            json!({
                "platformRef": { "name": "shared" },
                "hostname": format!("{}.example.com", ["c".repeat(63), "d".repeat(51)].join(".")),
                "model": {
                    "systemPrompt": e(20_000),
                    "inferenceRegions": (1..=20).map(|i| format!("us-east-{i}")).collect::<Vec<_>>()
                },
                "task": {
                    "containerHealthCheck": std::iter::once("CMD".to_string())
                        .chain((1..16).map(|i| format!("{i}{}", "x".repeat(1020))))
                        .collect::<Vec<_>>()
                },
                "tags": largest_tags()
            }),
        ),
        platform_with(
            "platform with every list, map and string at its largest",
            "/spec",
            json!({
                "region": "us-west-2",
                "network": { "managed": {
                    "vpcCidr": "10.0.0.0/16",
                    "availabilityZones": "abcdef".chars().map(|z| format!("us-west-2{z}")).collect::<Vec<_>>(),
                    "publicSubnetCidrs": (0..6).map(|i| format!("10.0.{i}.0/24")).collect::<Vec<_>>(),
                    "privateSubnetCidrs": (0..6).map(|i| format!("10.0.{}.0/24", 10 + i)).collect::<Vec<_>>()
                } },
                "loadBalancer": {
                    "certificateArn": "arn:aws:acm:us-west-2:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef",
                    "ingressCidrs": (0..30).map(|i| format!("203.0.{i}.0/24")).collect::<Vec<_>>()
                },
                "tags": largest_tags()
            }),
        ),
        chatbot_with(
            "whole numbers written with a decimal point",
            "/spec/task",
            json!({ "cpu": 1024.0, "memory": 2048.0, "desiredCount": 2.0 }),
        ),
        chatbot_with(
            "a number written as a whole number",
            "/spec/model/temperature",
            json!(1),
        ),
        chatbot_with(
            "tags of letters, digits, spaces and the punctuation AWS allows, in several scripts",
            "/spec/tags",
            json!({
                "cost-center": "Équipe 42 / chat:bot=+@_.",
                "日本": "値",
                "ملاحظة": "٣\u{3000}أيام",
                "Ω": "\u{a0}"
            }),
        ),
        chatbot_with(
            "global inference profile",
            "/spec/model/id",
            json!("global.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ),
        chatbot_with(
            "in-region model of another provider",
            "/spec/model/id",
            json!("amazon.nova-pro-v1:0"),
        ),
        Admissible {
            what: "GovCloud inference profile on a GovCloud platform",
            documents: vec![govcloud_platform(), {
                let mut c = chatbot("team-a", "chat.team-a.example.com");
                set(
                    &mut c,
                    "/spec/model/id",
                    json!("us-gov.anthropic.claude-3-5-sonnet-20240620-v1:0"),
                );
                c
            }],
        },
        chatbot_with(
            "tag value of 256 two-byte characters",
            "/spec/tags",
            json!({ "team": e(256) }),
        ),
        platform_with(
            "tag key of 128 two-byte characters",
            "/spec/tags",
            json!({ e(128): "x" }),
        ),
        chatbot_with(
            "system prompt of 20000 two-byte characters",
            "/spec/model/systemPrompt",
            json!(e(20_000)),
        ),
    ]
}
