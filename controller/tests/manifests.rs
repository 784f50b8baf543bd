//! The examples are valid, and a catalogue of invalid manifests is refused with a
//! message that names the field and says what to fix — checked against the
//! generated CRD schema and CEL rules, as an API server would.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::path::{Path, PathBuf};

use operator::manifest::{self, Problems};
use serde_json::{Value, json};
use support::{chatbot_manifest as chatbot, set};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

#[test]
fn every_example_is_admitted_together() {
    let manifests = manifest::load(&[examples()]).unwrap();
    assert_eq!(manifests.platforms.len(), 1);
    assert_eq!(manifests.chatbots.len(), 3);
    let team_b = manifests
        .chatbots
        .iter()
        .find(|c| c.object.metadata.namespace.as_deref() == Some("team-b"))
        .unwrap();
    // Defaults are filled in as the API server would.
    assert_eq!(
        team_b.object.spec.model.id,
        "us.anthropic.claude-sonnet-4-20250514-v1:0"
    );
    assert_eq!(team_b.object.spec.model.max_tokens, 2000);
    assert_eq!(team_b.object.spec.task.cpu, 512);
    assert_eq!(team_b.source.document, 1);
    assert!(team_b.source.path.ends_with("teams.yaml"));
}

#[test]
fn each_example_file_is_admitted_with_the_platform() {
    for file in ["chatbot.yaml", "teams.yaml"] {
        let loaded = manifest::load(&[examples().join("platform.yaml"), examples().join(file)]);
        assert!(loaded.is_ok(), "{file}: {}", loaded.unwrap_err());
    }
    assert_eq!(
        manifest::load(&[examples().join("platform.yaml")])
            .unwrap()
            .platforms
            .len(),
        1
    );
}

#[test]
fn a_chatbot_without_its_platform_is_refused_naming_file_and_object() {
    let err = manifest::load(&[examples().join("chatbot.yaml")]).unwrap_err();
    assert_eq!(err.0.len(), 1);
    let text = err.0[0].to_string();
    assert!(
        text.contains("chatbot.yaml (document 1, BedrockChatbot team-a/assistant)"),
        "{text}"
    );
    assert!(
        text.contains("spec.platformRef.name: ChatbotPlatform \"shared\" does not exist"),
        "{text}"
    );
}

fn platform() -> Value {
    support::platform_manifest(
        "arn:aws:acm:us-west-2:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef",
    )
}

fn load(documents: &[Value]) -> Result<manifest::Manifests, Problems> {
    manifest::load_str(Path::new("case.yaml"), &support::yaml_documents(documents))
}

fn remove(doc: &mut Value, path: &str) {
    let (parent, key) = path.rsplit_once('/').unwrap();
    doc.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key);
}

struct Case {
    what: &'static str,
    documents: Vec<Value>,
    field: &'static str,
    message: &'static str,
}

fn platform_with(
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
        documents: vec![p],
        field,
        message,
    }
}

fn chatbot_with(
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
        documents: vec![platform(), c],
        field,
        message,
    }
}

fn cases() -> Vec<Case> {
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
            "both network modes",
            "/spec/network",
            json!({ "managed": {}, "existing": existing.clone() }),
            "spec.network",
            "set exactly one of network.managed or network.existing",
        ),
        platform_with(
            "no network mode",
            "/spec/network",
            json!({}),
            "spec.network",
            "set exactly one of network.managed or network.existing",
        ),
        platform_with(
            "three public subnets for two zones",
            "/spec/network",
            managed(json!({ "publicSubnetCidrs": ["10.0.1.0/24", "10.0.2.0/24", "10.0.5.0/24"] })),
            "spec.network.managed.publicSubnetCidrs",
            "one CIDR per availability zone",
        ),
        platform_with(
            "private subnets for three zones, two given",
            "/spec/network",
            managed(
                json!({ "availabilityZones": ["us-west-2a", "us-west-2b", "us-west-2c"], "publicSubnetCidrs": ["10.0.1.0/24", "10.0.2.0/24", "10.0.5.0/24"] }),
            ),
            "spec.network.managed.privateSubnetCidrs",
            "one CIDR per availability zone",
        ),
        platform_with(
            "subnet outside the VPC",
            "/spec/network",
            managed(json!({ "privateSubnetCidrs": ["10.0.3.0/24", "10.1.4.0/24"] })),
            "spec.network.managed.privateSubnetCidrs",
            "must lie inside vpcCidr",
        ),
        platform_with(
            "overlapping subnets",
            "/spec/network",
            managed(json!({ "privateSubnetCidrs": ["10.0.3.0/24", "10.0.1.128/25"] })),
            "spec.network.managed.privateSubnetCidrs[1]",
            "overlaps 10.0.1.0/24",
        ),
        platform_with(
            "VPC too large",
            "/spec/network",
            managed(json!({ "vpcCidr": "10.0.0.0/8" })),
            "spec.network.managed.vpcCidr",
            "between /16 and /28",
        ),
        platform_with(
            "VPC CIDR not a CIDR",
            "/spec/network",
            managed(json!({ "vpcCidr": "10.0.0.300/16" })),
            "spec.network.managed.vpcCidr",
            "must be an IPv4 CIDR",
        ),
        platform_with(
            "zone in another region",
            "/spec/network",
            managed(json!({ "availabilityZones": ["us-east-1a", "us-east-1b"] })),
            "spec.network.managed.availabilityZones",
            "in the platform's region",
        ),
        platform_with(
            "one zone only",
            "/spec/network",
            managed(json!({ "availabilityZones": ["us-west-2a"] })),
            "spec.network.managed.availabilityZones",
            "at least two zones",
        ),
        platform_with(
            "same zone twice",
            "/spec/network",
            managed(json!({ "availabilityZones": ["us-west-2a", "us-west-2a"] })),
            "spec.network.managed.availabilityZones",
            "listed twice",
        ),
        platform_with(
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
            "certificate ARN malformed",
            "/spec/loadBalancer/certificateArn",
            json!("arn:aws:iam::123456789012:server-certificate/x"),
            "spec.loadBalancer.certificateArn",
            "must be an ACM certificate ARN",
        ),
        platform_with(
            "certificate in another region",
            "/spec/loadBalancer/certificateArn",
            json!(
                "arn:aws:acm:eu-west-1:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef"
            ),
            "spec.loadBalancer.certificateArn",
            "in the platform's region",
        ),
        platform_with(
            "permissions boundary that is a role, not a managed policy",
            "/spec/iam/rolePermissionsBoundaryArn",
            json!("arn:aws:iam::123456789012:role/admin"),
            "spec.iam.rolePermissionsBoundaryArn",
            "does not match",
        ),
        platform_with(
            "TLS policy allowing TLS 1.0",
            "/spec/loadBalancer/sslPolicy",
            json!("ELBSecurityPolicy-2016-08"),
            "spec.loadBalancer.sslPolicy",
            "TLS 1.2 or newer",
        ),
        platform_with(
            "ingress range not a CIDR",
            "/spec/loadBalancer/ingressCidrs",
            json!(["everyone-on-earth"]),
            "spec.loadBalancer.ingressCidrs",
            "must be IPv4 CIDRs",
        ),
        platform_with(
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
            "unknown NAT mode",
            "/spec/network",
            managed(json!({ "natGateways": "Two" })),
            "spec.network.managed.natGateways",
            "is not one of",
        ),
        platform_with(
            "region malformed",
            "/spec/region",
            json!("Oregon"),
            "spec.region",
            "does not match",
        ),
        platform_with(
            "reserved tag key",
            "/spec/tags",
            json!({ "aws:cloudformation:stack-name": "x" }),
            "spec.tags",
            "must not start with 'aws:'",
        ),
        platform_with(
            "operator's own tag key",
            "/spec/tags",
            json!({ "bedrock-chatbot.dev/owner": "someone-else" }),
            "spec.tags",
            "must not start with 'aws:' or 'bedrock-chatbot.dev/'",
        ),
        platform_with(
            "platform with a namespace",
            "/metadata/namespace",
            json!("team-a"),
            "metadata.namespace",
            "cluster-scoped",
        ),
        platform_with(
            "uppercase name",
            "/metadata/name",
            json!("Shared"),
            "metadata.name",
            "lowercase DNS subdomain",
        ),
        platform_with(
            "ECR repository name with uppercase",
            "/spec/ecrRepository",
            json!({ "name": "Chatbot" }),
            "spec.ecrRepository.name",
            "does not match",
        ),
        platform_with(
            "idle timeout zero",
            "/spec/loadBalancer/idleTimeoutSeconds",
            json!(0),
            "spec.loadBalancer.idleTimeoutSeconds",
            "less than the minimum",
        ),
        chatbot_with(
            "temperature above 1",
            "/spec/model/temperature",
            json!(1.5),
            "spec.model.temperature",
            "greater than the maximum of 1",
        ),
        chatbot_with(
            "topP below 0",
            "/spec/model/topP",
            json!(-0.1),
            "spec.model.topP",
            "less than the minimum of 0",
        ),
        chatbot_with(
            "maxTokens zero",
            "/spec/model/maxTokens",
            json!(0),
            "spec.model.maxTokens",
            "less than the minimum of 1",
        ),
        chatbot_with(
            "maxTokens beyond the bound",
            "/spec/model/maxTokens",
            json!(1_000_000),
            "spec.model.maxTokens",
            "greater than the maximum of 64000",
        ),
        chatbot_with(
            "temperature as text",
            "/spec/model/temperature",
            json!("hot"),
            "spec.model.temperature",
            "is not of type",
        ),
        chatbot_with(
            "model id that is not a Bedrock id",
            "/spec/model/id",
            json!("gpt-4o"),
            "spec.model.id",
            "must be a Bedrock model id",
        ),
        chatbot_with(
            "system prompt too long",
            "/spec/model/systemPrompt",
            json!("x".repeat(20_001)),
            "spec.model.systemPrompt",
            "is longer than 20000 characters",
        ),
        chatbot_with(
            "hostname with uppercase",
            "/spec/hostname",
            json!("Chat.Example.com"),
            "spec.hostname",
            "fully qualified lowercase DNS name",
        ),
        chatbot_with(
            "hostname without a domain",
            "/spec/hostname",
            json!("localhost"),
            "spec.hostname",
            "fully qualified lowercase DNS name",
        ),
        chatbot_with(
            "hostname with a control character",
            "/spec/hostname",
            json!("chat\u{7}.example.com"),
            "spec.hostname",
            "fully qualified lowercase DNS name",
        ),
        chatbot_with(
            "hostname with a unicode homoglyph",
            "/spec/hostname",
            json!("chаt.example.com"),
            "spec.hostname",
            "fully qualified lowercase DNS name",
        ),
        chatbot_with(
            "log retention CloudWatch does not offer",
            "/spec/logs/retentionDays",
            json!(31),
            "spec.logs.retentionDays",
            "one of CloudWatch's values",
        ),
        chatbot_with(
            "password shorter than 12",
            "/spec/cognito/passwordPolicy/minimumLength",
            json!(8),
            "spec.cognito.passwordPolicy.minimumLength",
            "less than the minimum of 12",
        ),
        chatbot_with(
            "password longer than Cognito allows",
            "/spec/cognito/passwordPolicy/minimumLength",
            json!(100),
            "spec.cognito.passwordPolicy.minimumLength",
            "greater than the maximum of 99",
        ),
        chatbot_with(
            "domain prefix with a reserved word",
            "/spec/cognito/domainPrefix",
            json!("team-aws-chat"),
            "spec.cognito.domainPrefix",
            "must not contain 'aws'",
        ),
        chatbot_with(
            "session timeout beyond 7 days",
            "/spec/cognito/sessionTimeoutSeconds",
            json!(604_801),
            "spec.cognito.sessionTimeoutSeconds",
            "greater than the maximum",
        ),
        chatbot_with(
            "misspelt field",
            "/spec/modle",
            json!({ "id": "x" }),
            "spec",
            "unknown field(s) modle",
        ),
        chatbot_with(
            "CPU and memory Fargate does not offer",
            "/spec/task",
            json!({ "cpu": 512, "memory": 512 }),
            "spec.task",
            "Fargate combination",
        ),
        chatbot_with(
            "image with whitespace",
            "/spec/image",
            json!("my image:latest"),
            "spec.image",
            "does not match",
        ),
        chatbot_with(
            "container health check without CMD",
            "/spec/task/containerHealthCheck",
            json!(["curl", "-f", "localhost"]),
            "spec.task.containerHealthCheck",
            "must start with CMD or CMD-SHELL",
        ),
        chatbot_with(
            "scaling bounds reversed",
            "/spec/scaling",
            json!({ "minCapacity": 4, "maxCapacity": 2 }),
            "spec.scaling",
            "must not exceed scaling.maxCapacity",
        ),
        chatbot_with(
            "desired count outside scaling bounds",
            "/spec/scaling",
            json!({ "minCapacity": 2, "maxCapacity": 4 }),
            "spec.task.desiredCount",
            "between scaling.minCapacity and scaling.maxCapacity",
        ),
        chatbot_with(
            "listener rule priority out of range",
            "/spec/listenerRulePriority",
            json!(50_001),
            "spec.listenerRulePriority",
            "greater than the maximum of 50000",
        ),
        chatbot_with(
            "platform that does not exist",
            "/spec/platformRef/name",
            json!("elsewhere"),
            "spec.platformRef.name",
            "ChatbotPlatform \"elsewhere\" does not exist",
        ),
        chatbot_with(
            "huge label value in a tag",
            "/spec/tags",
            json!({ "team": "x".repeat(300) }),
            "spec.tags",
            "values at most 256 characters",
        ),
        chatbot_with(
            "wrong apiVersion",
            "/apiVersion",
            json!("bedrock-chatbot.dev/v1"),
            "apiVersion",
            "this operator serves \"bedrock-chatbot.dev/v1alpha1\"",
        ),
        chatbot_with(
            "unknown kind",
            "/kind",
            json!("Chatbot"),
            "kind",
            "unsupported kind \"Chatbot\"",
        ),
        chatbot_with(
            "namespace with an underscore",
            "/metadata/namespace",
            json!("team_a"),
            "metadata.namespace",
            "lowercase DNS label",
        ),
    ];
    let mut missing_certificate = platform();
    remove(
        &mut missing_certificate,
        "/spec/loadBalancer/certificateArn",
    );
    cases.push(Case {
        what: "certificate missing",
        documents: vec![missing_certificate],
        field: "spec.loadBalancer",
        message: "missing required field certificateArn",
    });
    let mut missing_hostname = chatbot("team-a", "x.example.com");
    remove(&mut missing_hostname, "/spec/hostname");
    cases.push(Case {
        what: "hostname missing",
        documents: vec![platform(), missing_hostname],
        field: "spec",
        message: "missing required field hostname",
    });
    cases.push(Case {
        what: "hostname taken by another team",
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
        documents: vec![platform(), a, b],
        field: "spec.cognito.domainPrefix",
        message: "already used by BedrockChatbot team-a/assistant",
    });
    cases.push(Case {
        what: "same object twice",
        documents: vec![
            platform(),
            chatbot("team-a", "a.example.com"),
            chatbot("team-a", "b.example.com"),
        ],
        field: "metadata.name",
        message: "the same object is also defined in case.yaml (document 2)",
    });
    cases.push(Case {
        what: "not a mapping",
        documents: vec![json!(["a", "list"])],
        field: "",
        message: "must be a YAML mapping",
    });
    cases
}

#[test]
fn invalid_manifests_are_refused_with_the_expected_message() {
    let cases = cases();
    assert!(
        cases.len() >= 40,
        "the catalogue should stay broad: {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in cases {
        match load(&case.documents) {
            Ok(_) => failures.push(format!("{}: was admitted", case.what)),
            Err(problems) => {
                let hit = problems.0.iter().any(|p| {
                    p.problem.field == case.field && p.problem.message.contains(case.message)
                });
                if !hit {
                    failures.push(format!(
                        "{}: expected {:?}: …{}…, got:\n{problems}",
                        case.what, case.field, case.message
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_valid_base_of_the_catalogue_is_admitted() {
    // Guards the catalogue: every case fails for its own reason, not the base's.
    let loaded = load(&[platform(), chatbot("team-a", "chat.team-a.example.com")]);
    assert!(loaded.is_ok(), "{}", loaded.unwrap_err());
}

#[test]
fn invalid_yaml_names_the_file_and_document() {
    let text = "apiVersion: v1\nkind: ChatbotPlatform\n---\nkey: [unclosed\n";
    let err = manifest::load_str(Path::new("broken.yaml"), text).unwrap_err();
    let rendered = err.to_string();
    assert!(
        rendered.contains("broken.yaml (document 2): not valid YAML"),
        "{rendered}"
    );
}

#[test]
fn a_key_given_twice_is_refused_not_silently_overridden() {
    let text = "apiVersion: bedrock-chatbot.dev/v1alpha1\nkind: ChatbotPlatform\nmetadata:\n  name: a\n  name: b\n";
    let err = manifest::load_str(Path::new("twice.yaml"), text).unwrap_err();
    let rendered = err.to_string();
    assert!(
        rendered.contains(
            "twice.yaml (document 1): not valid YAML: metadata: duplicate entry with key \"name\""
        ),
        "{rendered}"
    );
}

#[test]
fn too_many_chatbots_for_one_listener_are_refused() {
    let mut documents = vec![platform()];
    for i in 0..=operator::validation::LISTENER_RULE_BUDGET {
        documents.push(chatbot(
            &format!("team-{i}"),
            &format!("chat{i}.example.com"),
        ));
    }
    let err = load(&documents).unwrap_err();
    assert!(
        err.0
            .iter()
            .any(|p| p.object.as_deref() == Some("ChatbotPlatform shared")
                && p.problem.message.contains("holds at most 100 rules")),
        "{err}"
    );
}

#[test]
fn nulls_are_treated_as_absent_fields() {
    let mut c = chatbot("team-a", "chat.example.com");
    set(&mut c, "/spec/model", json!({ "systemPrompt": null }));
    let manifests = load(&[platform(), c]).unwrap();
    assert_eq!(manifests.chatbots[0].object.spec.model.system_prompt, None);
    assert_eq!(
        manifests.chatbots[0].object.metadata.namespace.as_deref(),
        Some("team-a")
    );
}
