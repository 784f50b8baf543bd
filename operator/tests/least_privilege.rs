//! The least-privilege contract, end to end: the examples (the platform and three
//! teams) are applied through the engine against the local AWS emulator, and AWS is
//! then read back with the SDK — not the engine's own view — to check that exactly
//! the intended paths are open and nothing more:
//!
//! - security groups: load balancer ← the internet on 443 and 80, tasks ← load
//!   balancer on 8501, endpoints ← tasks on 443; egress only where a component must
//!   call out (load balancer → tasks and Cognito, tasks → HTTPS);
//! - the load balancer drops invalid header fields, its HTTPS listener uses a TLS 1.2+
//!   policy, HTTP only redirects, and every team's rule signs users in with that
//!   team's own user pool before forwarding to that team's own target group;
//! - ECS services run in the private subnets without public IPs;
//! - each task role is trusted by ECS tasks of this account only and may invoke
//!   exactly its own model, nothing else; the shared execution role has only the
//!   AWS managed execution policy;
//! - each user pool requires TOTP MFA and a strong password, and its app client is
//!   confidential with the code grant only; the secret never reaches the task.
//!
//! A tenant's spec cannot put an IAM wildcard into its task role or a host-header
//! wildcard into its listener rule.
//!
//! And on the command line: the Cognito client secret, read from the emulator, never
//! appears in anything `apply`, `plan` or `delete` print. (The in-cluster side of that
//! promise — status, events, metrics, logs — is
//! `controller::tests::client_secret` in the library.)

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cognitoidentityprovider::types::UserPoolMfaType;
use aws_sdk_ec2::types::Filter;
use aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum;
use bedrock_chatbot_crds::{BedrockChatbotStatus, ChatbotPlatformStatus};
use operator::aws::Aws;
use operator::engine::Engine;
use operator::file_mode::{self, ApplyReport, ReadyWhen, Timing};
use operator::manifest;
use serde_json::{Value, json};
use support::read_back;
use testkit::Moto;

const EXAMPLE_CERTIFICATE: &str =
    "arn:aws:acm:us-west-2:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef";
const EXAMPLES: [&str; 3] = ["platform.yaml", "chatbot.yaml", "teams.yaml"];
const TEAMS: [(&str, &str, &str); 3] = [
    ("team-a", "assistant", "chat.team-a.example.com"),
    ("team-b", "assistant", "chat.team-b.example.com"),
    ("team-c", "research", "research.team-c.example.com"),
];

/// ELB security policies that negotiate TLS 1.2 or newer only (what the CRD admits).
const TLS12_OR_NEWER: [&str; 12] = [
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
    "ELBSecurityPolicy-TLS-1-2-2017-01",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
    "ELBSecurityPolicy-FS-1-2-2019-08",
    "ELBSecurityPolicy-FS-1-2-Res-2019-08",
    "ELBSecurityPolicy-FS-1-2-Res-2020-10",
];

/// The examples, as text, with the emulator's certificate in place of the
/// placeholder (the emulator, like AWS, refuses a listener with an unknown one).
fn example_text(file: &str, certificate: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(file);
    std::fs::read_to_string(path)
        .unwrap()
        .replace(EXAMPLE_CERTIFICATE, certificate)
}

fn timing() -> Timing {
    Timing {
        timeout: Duration::from_secs(180),
        interval: Duration::from_millis(200),
        ready_when: ReadyWhen::Converged,
    }
}

/// The status of each object in an apply report, by `Kind/namespace/name`.
/// Applies `manifests` until converged and returns the platform `shared`'s status and
/// every object's status by `Kind/namespace/name`.
async fn apply_converged(
    engine: &Engine,
    manifests: &manifest::Manifests,
) -> (ChatbotPlatformStatus, BTreeMap<String, Value>) {
    let report = file_mode::apply(engine, manifests, timing()).await.unwrap();
    assert!(report.not_ready.is_empty(), "{:?}", report.not_ready);
    let statuses = statuses(&report);
    let platform = serde_json::from_value(statuses["ChatbotPlatform/shared"].clone()).unwrap();
    (platform, statuses)
}

fn statuses(report: &ApplyReport) -> BTreeMap<String, Value> {
    report
        .items
        .iter()
        .map(|item| {
            let key = match &item.metadata.namespace {
                Some(ns) => format!("{}/{ns}/{}", item.kind, item.metadata.name),
                None => format!("{}/{}", item.kind, item.metadata.name),
            };
            (key, serde_json::to_value(&item.status).unwrap())
        })
        .collect()
}

/// One security group rule, with every field that widens it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rule {
    egress: bool,
    protocol: String,
    from: i32,
    to: i32,
    peer: String,
}

fn rule(egress: bool, port: i32, peer: &str) -> Rule {
    Rule {
        egress,
        protocol: "tcp".into(),
        from: port,
        to: port,
        peer: peer.into(),
    }
}

/// Every rule of `group` as AWS holds it: IPv4, IPv6, prefix-list and group peers.
async fn rules_of(aws: &Aws, group: &str) -> BTreeSet<Rule> {
    read_back::security_group_rules(aws, group)
        .await
        .iter()
        .map(|r| {
            let peers: Vec<String> = [
                r.cidr_ipv4().map(|c| format!("cidr {c}")),
                r.cidr_ipv6().map(|c| format!("cidr {c}")),
                r.prefix_list_id().map(|p| format!("prefix-list {p}")),
                r.referenced_group_info()
                    .and_then(|g| g.group_id())
                    .map(|g| format!("group {g}")),
            ]
            .into_iter()
            .flatten()
            .collect();
            assert_eq!(peers.len(), 1, "one peer per rule: {r:?}");
            Rule {
                egress: r.is_egress().unwrap(),
                protocol: r.ip_protocol().unwrap().to_string(),
                from: r.from_port().unwrap(),
                to: r.to_port().unwrap(),
                peer: peers[0].clone(),
            }
        })
        .collect()
}

/// A policy document as IAM returns it (URL-encoded JSON).
fn policy_json(document: &str) -> Value {
    serde_json::from_str(&percent_encoding::percent_decode_str(document).decode_utf8_lossy())
        .unwrap()
}

/// The inline policy `name` of the role `role`, as JSON.
async fn inline_policy(aws: &Aws, role: &str, name: &str) -> Value {
    serde_json::from_str(&read_back::role_policy(aws, role, name).await).unwrap()
}

/// A JSON string or list of strings as a list.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().unwrap().to_string())
            .collect(),
        other => panic!("expected a string or a list: {other}"),
    }
}

/// Which role a trust policy belongs to: the guard AWS documents differs.
#[derive(Clone, Copy, Debug)]
enum Trusted {
    /// A chatbot's task role: `aws:SourceAccount` and `aws:SourceArn`.
    TaskRole,
    /// The platform's task execution role: `aws:SourceAccount` only (AWS documents
    /// no `aws:SourceArn` for it).
    ExecutionRole,
}

/// The role's trust policy must let ECS tasks of `account` in us-west-2 assume it,
/// and nobody else.
async fn assert_trusted_by_ecs_tasks_only(
    aws: &Aws,
    role_name: &str,
    account: &str,
    trusted: Trusted,
) {
    let role = aws
        .iam
        .get_role()
        .role_name(role_name)
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    let trust = policy_json(role.assume_role_policy_document().unwrap());
    let statements = trust["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1, "{role_name}: {trust}");
    let statement = &statements[0];
    assert_eq!(statement["Effect"], "Allow", "{role_name}: {trust}");
    assert_eq!(
        statement["Principal"],
        json!({ "Service": "ecs-tasks.amazonaws.com" }),
        "{role_name}: only ECS tasks may assume it"
    );
    assert_eq!(strings(&statement["Action"]), ["sts:AssumeRole"]);
    let condition = match trusted {
        Trusted::TaskRole => json!({
            "StringEquals": { "aws:SourceAccount": account },
            "ArnLike": { "aws:SourceArn": format!("arn:aws:ecs:us-west-2:{account}:*") },
        }),
        Trusted::ExecutionRole => json!({
            "StringEquals": { "aws:SourceAccount": account },
        }),
    };
    assert_eq!(
        statement["Condition"], condition,
        "{role_name}: the confused-deputy guard"
    );
    assert_eq!(role.path(), "/bedrock-chatbot/");
}

/// The examples applied through the engine, then AWS read back: every path that is
/// open is one the design asks for, and every permission is the narrowest that works.
#[tokio::test]
async fn the_examples_on_aws_grant_least_privilege() {
    let moto = Moto::start().unwrap();
    let certificate = moto.certificate("*.example.com", "us-west-2").unwrap();
    let text = EXAMPLES
        .map(|file| example_text(file, &certificate))
        .join("\n---\n");
    let manifests = manifest::load_str(Path::new("examples"), &text).unwrap();
    let engine = Engine::new(
        moto.sdk_config("us-west-2"),
        Arc::new(support::Recorder::default()),
    );
    let (platform, statuses) = apply_converged(&engine, &manifests).await;
    let chatbot = |namespace: &str, name: &str| -> BedrockChatbotStatus {
        serde_json::from_value(statuses[&format!("BedrockChatbot/{namespace}/{name}")].clone())
            .unwrap()
    };
    let aws = support::aws(&engine);
    let account = platform.account_id.clone().unwrap();
    assert!(
        account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()),
        "{account}"
    );

    // --- Security groups: exactly three paths in, and out only where needed.
    let lb_sg = platform.load_balancer_security_group_id.clone().unwrap();
    let tasks_sg = platform.tasks_security_group_id.clone().unwrap();
    let endpoints_sg = platform.endpoints_security_group_id.clone().unwrap();
    let group = |id: &str| format!("group {id}");
    let internet = "cidr 0.0.0.0/0";
    assert_eq!(
        rules_of(&aws, &lb_sg).await,
        BTreeSet::from([
            rule(false, 443, internet),
            rule(false, 80, internet),
            // Forward to the tasks; reach Cognito's token and user-info endpoints,
            // which authenticate-cognito calls from the load balancer's nodes.
            rule(true, 8501, &group(&tasks_sg)),
            rule(true, 443, internet),
        ]),
        "load balancer security group"
    );
    assert_eq!(
        rules_of(&aws, &tasks_sg).await,
        BTreeSet::from([
            rule(false, 8501, &group(&lb_sg)),
            // Bedrock (through the endpoint), ECR and logs, and the ALB's public keys
            // (public-keys.auth.elb.<region>.amazonaws.com has no VPC endpoint).
            rule(true, 443, internet),
        ]),
        "tasks security group"
    );
    assert_eq!(
        rules_of(&aws, &endpoints_sg).await,
        BTreeSet::from([rule(false, 443, &group(&tasks_sg))]),
        "endpoints security group: HTTPS from the tasks, nothing out"
    );
    // The VPC holds no other group of ours that could open another path.
    let ours = aws
        .ec2
        .describe_security_groups()
        .filters(
            Filter::builder()
                .name("vpc-id")
                .values(platform.vpc_id.clone().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut names: Vec<&str> = ours
        .security_groups()
        .iter()
        .filter_map(|g| g.group_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "bcb-shared-endpoints",
            "bcb-shared-load-balancer",
            "bcb-shared-tasks",
            "default"
        ]
    );
    // The bedrock-runtime endpoint is reachable through the endpoints group only;
    // the DynamoDB gateway endpoint has no network interface, only routes in the
    // private route tables.
    let endpoints = aws
        .ec2
        .describe_vpc_endpoints()
        .set_vpc_endpoint_ids(Some(platform.vpc_endpoint_ids.clone()))
        .send()
        .await
        .unwrap();
    let mut kinds = BTreeSet::new();
    for endpoint in endpoints.vpc_endpoints() {
        let groups: Vec<_> = endpoint
            .groups()
            .iter()
            .filter_map(|g| g.group_id())
            .collect();
        let kind = endpoint.vpc_endpoint_type().map(|t| t.as_str().to_string());
        if kind.as_deref() == Some("Gateway") {
            assert!(groups.is_empty(), "{endpoint:?}");
            assert!(endpoint.network_interface_ids().is_empty(), "{endpoint:?}");
            assert_eq!(endpoint.route_table_ids().len(), 2, "{endpoint:?}");
        } else {
            assert_eq!(groups, [endpoints_sg.as_str()], "{endpoint:?}");
        }
        kinds.insert((kind, endpoint.service_name().map(str::to_string)));
    }
    assert_eq!(
        kinds,
        [
            ("Interface", "bedrock-runtime"),
            ("Gateway", "dynamodb"),
            ("Gateway", "s3")
        ]
        .map(|(kind, service)| (
            Some(kind.to_string()),
            Some(format!("com.amazonaws.us-west-2.{service}"))
        ))
        .into()
    );

    // --- Load balancer: IPv4 only (so no ::/0 rule is needed), its own group,
    // invalid headers dropped, TLS 1.2+, HTTP only redirects.
    let lb_arn = platform.load_balancer_arn.clone().unwrap();
    let lb = read_back::load_balancer(&aws, &lb_arn).await;
    assert_eq!(lb.ip_address_type().map(|t| t.as_str()), Some("ipv4"));
    assert_eq!(lb.security_groups(), std::slice::from_ref(&lb_sg));
    let drop_invalid = read_back::load_balancer_attribute(
        &aws,
        &lb_arn,
        "routing.http.drop_invalid_header_fields.enabled",
    )
    .await;
    assert_eq!(drop_invalid.as_deref(), Some("true"));
    let listeners = aws
        .elbv2
        .describe_listeners()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .unwrap();
    let mut ports: Vec<_> = listeners
        .listeners()
        .iter()
        .map(|l| {
            (
                l.port().unwrap(),
                l.protocol().unwrap().as_str().to_string(),
            )
        })
        .collect();
    ports.sort();
    assert_eq!(ports, [(80, "HTTP".into()), (443, "HTTPS".into())]);
    for listener in listeners.listeners() {
        let rules = read_back::listener_rules(&aws, listener.listener_arn().unwrap()).await;
        if listener.port() == Some(443) {
            let policy = listener.ssl_policy().unwrap();
            assert!(
                TLS12_OR_NEWER.contains(&policy),
                "{policy} allows TLS < 1.2"
            );
            assert_eq!(
                listener.default_actions()[0]
                    .fixed_response_config()
                    .and_then(|f| f.status_code()),
                Some("404"),
                "no rule, no content"
            );
        } else {
            let action = &listener.default_actions()[0];
            let redirect = action.redirect_config().unwrap();
            assert_eq!(
                (redirect.protocol(), redirect.port()),
                (Some("HTTPS"), Some("443"))
            );
            assert!(
                rules.iter().all(|r| r.is_default() == Some(true)),
                "nothing is served over plain HTTP: {rules:?}",
            );
        }
    }

    // --- Each team: its rule signs in with its own pool, then forwards to its own
    // target group; its service is private; its role invokes its own model only.
    let https_rules =
        read_back::listener_rules(&aws, platform.https_listener_arn.as_deref().unwrap()).await;
    let (platform_rules, team_rules): (Vec<_>, Vec<_>) = https_rules
        .iter()
        .filter(|r| r.is_default() != Some(true))
        .partition(|r| r.priority() == Some("1"));
    assert_eq!(team_rules.len(), TEAMS.len());
    // The one rule that does not sign in: the platform's `/signed-out` page, a
    // fixed response of the load balancer's own. Nothing reaches a target group
    // through it.
    let [signed_out] = platform_rules[..] else {
        panic!("one platform rule: {platform_rules:?}")
    };
    let matched: Vec<(Option<&str>, Vec<String>)> = signed_out
        .conditions()
        .iter()
        .map(|c| {
            let values = c
                .path_pattern_config()
                .map(|p| p.values().to_vec())
                .unwrap_or_else(|| c.values().to_vec());
            (c.field(), values)
        })
        .collect();
    assert_eq!(
        matched,
        [(Some("path-pattern"), vec!["/signed-out".to_string()])]
    );
    let kinds: Vec<_> = signed_out
        .actions()
        .iter()
        .map(|a| a.r#type().unwrap().clone())
        .collect();
    assert_eq!(
        kinds,
        [ActionTypeEnum::FixedResponse],
        "nothing forwarded without sign-in"
    );
    let private: BTreeSet<String> = platform.private_subnet_ids.iter().cloned().collect();
    let public: BTreeSet<String> = platform.public_subnet_ids.iter().cloned().collect();
    let mut task_roles = BTreeSet::new();
    let mut history_tables = BTreeSet::new();
    for (namespace, name, hostname) in TEAMS {
        let status = chatbot(namespace, name);
        let pool_id = status.user_pool_id.clone().unwrap();
        let client_id = status.user_pool_client_id.clone().unwrap();
        let pool_arn = format!("arn:aws:cognito-idp:us-west-2:{account}:userpool/{pool_id}");

        let rule = team_rules
            .iter()
            .find(|r| Some(r.rule_arn().unwrap()) == status.listener_rule_arn.as_deref())
            .unwrap();
        let hosts: Vec<String> = rule
            .conditions()
            .iter()
            .flat_map(|c| {
                assert_eq!(c.field(), Some("host-header"), "{namespace}: {c:?}");
                read_back::host_header_values(c)
            })
            .collect();
        assert_eq!(hosts, [hostname]);
        let mut actions = rule.actions().to_vec();
        actions.sort_by_key(|a| a.order());
        let kinds: Vec<_> = actions
            .iter()
            .map(|a| a.r#type().unwrap().clone())
            .collect();
        assert_eq!(
            kinds,
            [ActionTypeEnum::AuthenticateCognito, ActionTypeEnum::Forward],
            "{namespace}: sign-in comes before anything is forwarded"
        );
        let sign_in = actions[0].authenticate_cognito_config().unwrap();
        assert_eq!(sign_in.user_pool_arn(), Some(pool_arn.as_str()));
        assert_eq!(sign_in.user_pool_client_id(), Some(client_id.as_str()));
        assert_eq!(
            sign_in
                .on_unauthenticated_request()
                .map(|o| o.as_str().to_string()),
            Some("authenticate".into()),
            "{namespace}: an unauthenticated request is never let through"
        );
        assert_eq!(
            actions[1].target_group_arn(),
            status.target_group_arn.as_deref()
        );

        // The service: private subnets, no public IP, the tasks group only.
        let services = aws
            .ecs
            .describe_services()
            .cluster(platform.cluster_arn.clone().unwrap())
            .services(status.service_arn.clone().unwrap())
            .send()
            .await
            .unwrap();
        let service = &services.services()[0];
        assert!(
            !service.enable_execute_command(),
            "{namespace}: no ECS Exec shell into the tasks"
        );
        let network = service
            .network_configuration()
            .unwrap()
            .awsvpc_configuration()
            .unwrap();
        assert_eq!(
            network.assign_public_ip().map(|a| a.as_str()),
            Some("DISABLED"),
            "{namespace}"
        );
        let subnets: BTreeSet<String> = network.subnets().iter().cloned().collect();
        assert_eq!(subnets, private, "{namespace}: private subnets only");
        assert!(subnets.is_disjoint(&public));
        assert_eq!(network.security_groups(), std::slice::from_ref(&tasks_sg));

        // The task role: trusted by ECS tasks of this account, one inline policy,
        // exactly the two invoke actions on exactly the configured models (team A's
        // example lets its users pick a second one, in a policy of its own).
        let role_arn = status.task_role_arn.clone().unwrap();
        let role_name = role_arn.rsplit('/').next().unwrap().to_string();
        assert!(task_roles.insert(role_arn.clone()), "one role per team");
        assert_trusted_by_ecs_tasks_only(&aws, &role_name, &account, Trusted::TaskRole).await;
        let attached = read_back::attached_policy_arns(&aws, &role_name).await;
        assert!(attached.is_empty(), "{namespace}: {attached:?}");
        let mut names = read_back::role_policy_names(&aws, &role_name).await;
        names.sort();
        let sonnet = "anthropic.claude-sonnet-4-20250514-v1:0";
        let models: &[(&str, &str)] = if namespace == "team-a" {
            &[
                ("bedrock-invoke", sonnet),
                (
                    "bedrock-invoke-2",
                    "anthropic.claude-haiku-4-5-20251001-v1:0",
                ),
            ]
        } else {
            &[("bedrock-invoke", sonnet)]
        };
        let mut expected_names = vec!["attachments", "history-table"];
        expected_names.extend(models.iter().map(|(policy, _)| *policy));
        expected_names.sort();
        assert_eq!(names, expected_names, "{namespace}");
        // Its files: objects under its own prefix of the platform's bucket only —
        // no listing, no bucket setting, no other team's prefix.
        let files = inline_policy(&aws, &role_name, "attachments").await;
        let bucket = platform.attachments_bucket_name.clone().unwrap();
        assert_eq!(
            status.attachments_location.as_deref(),
            Some(format!("s3://{bucket}/{namespace}/{name}/").as_str())
        );
        assert_eq!(
            files["Statement"],
            json!([{
                "Sid": "AttachmentObjects",
                "Effect": "Allow",
                "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
                "Resource": [format!("arn:aws:s3:::{bucket}/{namespace}/{name}/*")],
            }]),
            "{namespace}"
        );
        // Its history: the items of its own table only — no Scan, no table
        // management, no other team's table.
        let table = status.history_table_name.clone().unwrap();
        assert!(history_tables.insert(table.clone()), "one table per team");
        let history = inline_policy(&aws, &role_name, "history-table").await;
        let table_arn = format!("arn:aws:dynamodb:us-west-2:{account}:table/{table}");
        assert_eq!(
            history["Statement"],
            json!([{
                "Sid": "HistoryItems",
                "Effect": "Allow",
                "Action": bedrock_chatbot::history_table::ITEM_ACTIONS,
                "Resource": [table_arn.clone(), format!("{table_arn}/index/*")],
            }]),
            "{namespace}"
        );
        for action in strings(&history["Statement"][0]["Action"]) {
            assert!(
                !action.contains('*') && !action.ends_with("Scan") && !action.contains("Table"),
                "{namespace}: {action}"
            );
        }
        for (policy_name, model) in models {
            let policy = inline_policy(&aws, &role_name, policy_name).await;
            let statements = policy["Statement"].as_array().unwrap();
            for statement in statements {
                assert_eq!(statement["Effect"], "Allow");
                assert!(
                    statement.get("NotAction").is_none() && statement.get("NotResource").is_none()
                );
                assert_eq!(
                    strings(&statement["Action"]),
                    [
                        "bedrock:InvokeModel",
                        "bedrock:InvokeModelWithResponseStream"
                    ],
                    "{namespace}"
                );
            }
            // What each statement allows, and under which condition.
            let granted: Vec<(BTreeSet<String>, Value)> = statements
                .iter()
                .map(|s| {
                    (
                        strings(&s["Resource"]).into_iter().collect(),
                        s.get("Condition").cloned().unwrap_or(Value::Null),
                    )
                })
                .collect();
            let expected: Vec<(BTreeSet<String>, Value)> = if namespace == "team-c" {
                // An in-region model id: that model in the platform's region, no profile.
                vec![(
                    [format!(
                        "arn:aws:bedrock:us-west-2::foundation-model/{model}"
                    )]
                    .into(),
                    Value::Null,
                )]
            } else {
                // The `us.` inference profile, and its foundation model in whichever
                // region the profile routes to — only through that profile.
                let profile =
                    format!("arn:aws:bedrock:us-west-2:{account}:inference-profile/us.{model}");
                vec![
                    ([profile.clone()].into(), Value::Null),
                    (
                        [format!("arn:aws:bedrock:*::foundation-model/{model}")].into(),
                        json!({ "StringEquals": { "bedrock:InferenceProfileArn": profile } }),
                    ),
                ]
            };
            assert_eq!(granted, expected, "{namespace}: {policy}");
            // A wildcard only in a foundation model's region, and only under a condition
            // naming the profile; never `Resource: "*"`.
            for (resources, condition) in &granted {
                for resource in resources {
                    assert_ne!(resource, "*");
                    if resource.contains('*') || resource.contains('?') {
                        assert!(
                            resource.starts_with("arn:aws:bedrock:*::foundation-model/")
                                && !resource["arn:aws:bedrock:*".len()..].contains(['*', '?']),
                            "{namespace}: {resource}"
                        );
                        assert!(
                            condition["StringEquals"]["bedrock:InferenceProfileArn"]
                                .as_str()
                                .is_some_and(|p| !p.contains(['*', '?'])),
                            "{namespace}: {resource} without a condition naming its profile"
                        );
                    }
                }
            }
        }

        // The task definition runs with that role and holds no secret.
        let definition =
            read_back::task_definition(&aws, status.task_definition_arn.as_deref().unwrap()).await;
        assert_eq!(definition.task_role_arn(), Some(role_arn.as_str()));
        assert_eq!(
            definition.execution_role_arn(),
            platform.execution_role_arn.as_deref()
        );
        let container = &definition.container_definitions()[0];
        assert!(container.secrets().is_empty());
        assert_eq!(container.privileged(), None);
        assert_eq!(container.readonly_root_filesystem(), Some(true));

        // The user pool: MFA required, TOTP only, strong passwords, invited users.
        let mfa = read_back::mfa_config(&aws, &pool_id).await;
        assert_eq!(mfa.mfa_configuration(), Some(&UserPoolMfaType::On));
        assert!(mfa.software_token_mfa_configuration().unwrap().enabled());
        assert!(mfa.sms_mfa_configuration().is_none(), "no SMS factor");
        let pool = read_back::user_pool(&aws, &pool_id).await;
        let password = pool.policies().unwrap().password_policy().unwrap();
        assert!(password.minimum_length().unwrap() >= 12);
        assert!(
            password.require_uppercase()
                && password.require_lowercase()
                && password.require_numbers()
                && password.require_symbols(),
            "{namespace}: {password:?}"
        );
        assert!(
            pool.admin_create_user_config()
                .unwrap()
                .allow_admin_create_user_only(),
            "{namespace}: users are invited, not self-registered"
        );

        // The app client: confidential, the code grant only, this hostname only.
        let client = read_back::user_pool_client(&aws, &pool_id, &client_id).await;
        let secret = client.client_secret().unwrap();
        assert!(secret.len() >= 16, "a confidential client");
        assert_eq!(
            client
                .allowed_o_auth_flows()
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>(),
            ["code"]
        );
        assert_eq!(client.allowed_o_auth_flows_user_pool_client(), Some(true));
        let scopes: BTreeSet<&str> = client
            .allowed_o_auth_scopes()
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(scopes, BTreeSet::from(["openid", "email", "profile"]));
        assert_eq!(
            client.callback_urls(),
            [format!("https://{hostname}/oauth2/idpresponse")]
        );
        assert_eq!(client.supported_identity_providers(), ["COGNITO"]);
        assert!(
            !client
                .explicit_auth_flows()
                .iter()
                .any(|f| f.as_str().contains("PASSWORD")),
            "no plain-password API sign-in: {:?}",
            client.explicit_auth_flows()
        );
        // The load balancer holds the secret; the task never sees it.
        assert!(
            !format!("{definition:?}").contains(secret),
            "{namespace}: the client secret is in the task definition"
        );
    }

    // The shared execution role: ECS tasks only, the AWS managed execution policy
    // only.
    let execution_arn = platform.execution_role_arn.clone().unwrap();
    let execution = execution_arn.rsplit('/').next().unwrap();
    assert_trusted_by_ecs_tasks_only(&aws, execution, &account, Trusted::ExecutionRole).await;
    let attached = read_back::attached_policy_arns(&aws, execution).await;
    assert_eq!(
        attached,
        ["arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"]
    );
    assert!(
        read_back::role_policy_names(&aws, execution)
            .await
            .is_empty()
    );
}

/// The models a team lets its users pick: the task role may invoke each exactly as it
/// may invoke the default (a policy of its own per model), the app is told the
/// choices, and a model taken off the list loses its policy and its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_model_users_may_pick_is_invoked_the_same_way_and_no_other() {
    let moto = Moto::start().unwrap();
    let certificate = moto.certificate("*.example.com", "us-west-2").unwrap();
    let platform = example_text("platform.yaml", &certificate);
    let chatbot = |alternatives: &str| {
        format!(
            "apiVersion: bedrock-chatbot.dev/v1alpha1\nkind: BedrockChatbot\nmetadata:\n  name: assistant\n  namespace: team-m\nspec:\n  platformRef:\n    name: shared\n  hostname: chat.team-m.example.com\n  history:\n    enabled: false\n  model:\n    id: us.anthropic.claude-sonnet-4-20250514-v1:0\n    label: Claude Sonnet 4\n{alternatives}"
        )
    };
    let engine = Engine::new(
        moto.sdk_config("us-west-2"),
        Arc::new(support::Recorder::default()),
    );
    let two = chatbot(
        "    alternatives:\n    - id: amazon.nova-pro-v1:0\n      label: Nova Pro\n    - id: eu.anthropic.claude-3-7-sonnet-20250219-v1:0\n      label: Claude 3.7 (EU)\n      inferenceRegions: [eu-west-1]\n",
    );
    let manifests =
        manifest::load_str(Path::new("models.yaml"), &format!("{platform}\n---\n{two}")).unwrap();
    let (platform_status, statuses) = apply_converged(&engine, &manifests).await;
    let account = platform_status.account_id.clone().unwrap();
    let status: BedrockChatbotStatus =
        serde_json::from_value(statuses["BedrockChatbot/team-m/assistant"].clone()).unwrap();
    let role_name = status
        .task_role_arn
        .clone()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let aws = support::aws(&engine);
    assert_eq!(
        read_back::role_policy_names(&aws, &role_name).await,
        ["bedrock-invoke", "bedrock-invoke-2", "bedrock-invoke-3"]
    );
    let granted = |name: &'static str| {
        let (aws, role) = (aws.clone(), role_name.clone());
        async move {
            let policy = inline_policy(&aws, &role, name).await;
            policy["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        strings(&s["Resource"]),
                        s.get("Condition").cloned().unwrap_or(Value::Null),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    // In-region: that foundation model in the platform's region, nothing else.
    assert_eq!(
        granted("bedrock-invoke-2").await,
        [(
            vec!["arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-pro-v1:0".to_string()],
            Value::Null
        )]
    );
    // A geographic profile narrowed to one region: the profile, and its model there
    // only through it.
    let profile = format!(
        "arn:aws:bedrock:us-west-2:{account}:inference-profile/eu.anthropic.claude-3-7-sonnet-20250219-v1:0"
    );
    assert_eq!(
        granted("bedrock-invoke-3").await,
        [
            (vec![profile.clone()], Value::Null),
            (
                vec![
                    "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0"
                        .to_string()
                ],
                json!({ "StringEquals": { "bedrock:InferenceProfileArn": profile } }),
            ),
        ]
    );
    // The app is told the choices, the default first with its label.
    let environment = |aws: Aws, arn: String| async move {
        let definition = read_back::task_definition(&aws, &arn).await;
        definition.container_definitions()[0]
            .environment()
            .iter()
            .map(|pair| {
                (
                    pair.name().unwrap_or_default().to_string(),
                    pair.value().unwrap_or_default().to_string(),
                )
            })
            .collect::<BTreeMap<String, String>>()
    };
    let env = environment(aws.clone(), status.task_definition_arn.clone().unwrap()).await;
    let choices: Vec<bedrock_chatbot::config::ModelChoice> =
        serde_json::from_str(&env["CHATBOT_MODELS"]).unwrap();
    let labels: Vec<(&str, &str)> = choices
        .iter()
        .map(|c| (c.id.as_str(), c.label.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            (
                "us.anthropic.claude-sonnet-4-20250514-v1:0",
                "Claude Sonnet 4"
            ),
            ("amazon.nova-pro-v1:0", "Nova Pro"),
            (
                "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
                "Claude 3.7 (EU)"
            ),
        ]
    );

    // Taken off the list: its policy goes, and the app no longer offers it.
    let one = chatbot("    alternatives:\n    - id: amazon.nova-pro-v1:0\n      label: Nova Pro\n");
    let manifests =
        manifest::load_str(Path::new("models.yaml"), &format!("{platform}\n---\n{one}")).unwrap();
    let (_, statuses) = apply_converged(&engine, &manifests).await;
    let status: BedrockChatbotStatus =
        serde_json::from_value(statuses["BedrockChatbot/team-m/assistant"].clone()).unwrap();
    assert_eq!(
        read_back::role_policy_names(&aws, &role_name).await,
        ["bedrock-invoke", "bedrock-invoke-2"]
    );
    let env = environment(aws.clone(), status.task_definition_arn.clone().unwrap()).await;
    let choices: Vec<bedrock_chatbot::config::ModelChoice> =
        serde_json::from_str(&env["CHATBOT_MODELS"]).unwrap();
    assert_eq!(choices.len(), 2);

    // The same model twice, or the default again, is refused before AWS.
    for duplicate in [
        "    alternatives:\n    - id: amazon.nova-pro-v1:0\n      label: A\n    - id: amazon.nova-pro-v1:0\n      label: B\n",
        "    alternatives:\n    - id: us.anthropic.claude-sonnet-4-20250514-v1:0\n      label: Again\n",
        "    alternatives:\n    - id: \"anthropic.*\"\n      label: Any\n",
        "    alternatives:\n    - id: us.amazon.nova-pro-v1:0\n      label: Nova\n      inferenceRegions: [\"us-*-1\"]\n",
    ] {
        let problems = manifest::load_str(
            Path::new("models.yaml"),
            &format!("{platform}\n---\n{}", chatbot(duplicate)),
        )
        .expect_err(duplicate);
        assert!(
            problems.to_string().contains("spec.model.alternatives"),
            "{duplicate}: {problems}"
        );
    }
}

/// A tenant cannot widen its task role through its spec: IAM wildcards in the model
/// id or the inference regions are refused before anything reaches AWS.
#[test]
fn a_tenant_cannot_put_an_iam_wildcard_into_its_task_role() {
    let platform = example_text("platform.yaml", EXAMPLE_CERTIFICATE);
    for (field, hostile) in [
        ("id", "anthropic.*"),
        ("id", "us.anthropic.claude-?"),
        ("id", "*"),
        ("id", "anthropic.claude/../../*"),
        ("inferenceRegions", "[\"*\"]"),
        ("inferenceRegions", "[\"us-*-1\"]"),
    ] {
        let value = if field == "id" {
            format!("\"{hostile}\"")
        } else {
            hostile.to_string()
        };
        let chatbot = format!(
            "apiVersion: bedrock-chatbot.dev/v1alpha1\nkind: BedrockChatbot\nmetadata:\n  name: assistant\n  namespace: team-a\nspec:\n  platformRef:\n    name: shared\n  hostname: chat.team-a.example.com\n  model:\n    {field}: {value}\n"
        );
        let loaded = manifest::load_str(
            Path::new("hostile.yaml"),
            &format!("{platform}\n---\n{chatbot}"),
        );
        let problems = loaded.expect_err(&format!("{field}: {hostile} must be refused"));
        let text = problems.to_string();
        assert!(
            text.contains(&format!("spec.model.{field}")),
            "{field}: {hostile}: {text}"
        );
    }
}

/// A tenant cannot capture other teams' traffic with a wildcard host-header rule: the
/// ALB matches `*` and `?` in host conditions, so a hostname holding them is refused.
#[test]
fn a_tenant_cannot_claim_other_hostnames_with_a_wildcard() {
    let platform = example_text("platform.yaml", EXAMPLE_CERTIFICATE);
    for hostile in [
        "*.example.com",
        "*",
        "chat.*.example.com",
        "chat-?.team-a.example.com",
    ] {
        let chatbot = format!(
            "apiVersion: bedrock-chatbot.dev/v1alpha1\nkind: BedrockChatbot\nmetadata:\n  name: assistant\n  namespace: team-a\nspec:\n  platformRef:\n    name: shared\n  hostname: \"{hostile}\"\n"
        );
        let loaded = manifest::load_str(
            Path::new("hostile.yaml"),
            &format!("{platform}\n---\n{chatbot}"),
        );
        let text = loaded
            .expect_err(&format!("hostname {hostile} must be refused"))
            .to_string();
        assert!(text.contains("spec.hostname"), "{hostile}: {text}");
    }
}

// --- The client secret on the command line ----------------------------------------

fn operator(moto: &Moto, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bedrock-chatbot-operator"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        // The most a user could ask for: every crate's trace logs, the AWS SDK's
        // included, on standard error with the progress.
        .env("RUST_LOG", "trace");
    for (key, value) in moto.env("us-west-2") {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bcb-least-privilege-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The forms a secret could leak in: as is, base64 (standard and URL-safe), and as
/// the `client_id:secret` Basic credentials the load balancer sends to Cognito.
fn leak_forms(client_id: &str, secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string()];
    for plain in [secret.to_string(), format!("{client_id}:{secret}")] {
        let standard = aws_smithy_types::base64::encode(plain.as_bytes());
        let url_safe = standard
            .replace('+', "-")
            .replace('/', "_")
            .trim_end_matches('=')
            .to_string();
        forms.push(standard.trim_end_matches('=').to_string());
        forms.push(url_safe);
    }
    forms
}

/// Every team's `(client id, secret)`, read from the emulator.
async fn client_secrets(aws: &Aws) -> Vec<(String, String)> {
    let mut secrets = Vec::new();
    for pool in read_back::user_pools(aws).await {
        let pool_id = pool.id().unwrap();
        let clients = aws
            .cognito
            .list_user_pool_clients()
            .user_pool_id(pool_id)
            .send()
            .await
            .unwrap();
        for client in clients.user_pool_clients() {
            let described =
                read_back::user_pool_client(aws, pool_id, client.client_id().unwrap()).await;
            secrets.push((
                described.client_id().unwrap().to_string(),
                described.client_secret().unwrap().to_string(),
            ));
        }
    }
    secrets
}

/// The Cognito client secrets never appear in what `apply` (verbose, `-o yaml`,
/// `-o json`), `plan` and `delete` print.
#[tokio::test]
async fn the_client_secret_never_appears_on_the_command_line() {
    let moto = Moto::start().unwrap();
    let certificate = moto.certificate("*.example.com", "us-west-2").unwrap();
    let dir = scratch();
    for file in EXAMPLES {
        std::fs::write(dir.join(file), example_text(file, &certificate)).unwrap();
    }
    let dir_arg = dir.to_string_lossy().into_owned();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["-f", dir_arg.as_str()]);
        if args[0] != "plan" {
            all.extend(["--poll-interval", "1", "--timeout", "120"]);
        }
        if args[0] == "apply" {
            all.extend(["--ready-when", "converged"]);
        }
        let output = operator(&moto, &all);
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{args:?}: {shown}");
        (args.join(" "), shown)
    };

    let mut shown = vec![run(&["apply", "-v"])];
    let aws = Engine::new(
        moto.sdk_config("us-west-2"),
        Arc::new(support::Recorder::default()),
    )
    .aws("us-west-2");
    let secrets = client_secrets(&aws).await;
    assert_eq!(secrets.len(), TEAMS.len(), "one client per team");
    shown.push(run(&["apply", "-v", "-o", "yaml"]));
    // The scanned output holds the SDK's trace of the calls whose responses carry the
    // secret: creating the clients, then reading them back.
    assert!(shown[0].1.contains("CreateUserPoolClient"));
    assert!(shown[1].1.contains("DescribeUserPoolClient"));
    shown.push(run(&["apply", "-o", "json"]));
    shown.push(run(&["plan"]));
    shown.push(run(&["plan", "-o", "json"]));
    shown.push(run(&["delete", "-v"]));

    for (command, output) in &shown {
        for (client_id, secret) in &secrets {
            // The scan looks where a secret would sit: next to its client id.
            if command.contains("-o") && command.starts_with("apply") {
                assert!(output.contains(client_id.as_str()), "{command}: {output}");
            }
            for form in leak_forms(client_id, secret) {
                assert!(
                    !output.contains(&form),
                    "`{command}` shows the client secret of {client_id} (as {form})"
                );
            }
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// The permissions boundary of a role, read back from AWS.
async fn boundary_of(aws: &Aws, role_arn: &str) -> Option<String> {
    let name = role_arn.rsplit('/').next().unwrap();
    let role = aws.iam.get_role().role_name(name).send().await.unwrap();
    role.role()
        .unwrap()
        .permissions_boundary()
        .and_then(|b| b.permissions_boundary_arn())
        .map(str::to_string)
}

/// With `spec.iam.rolePermissionsBoundaryArn`, the execution role and every task
/// role are created with that boundary, get it back when someone removes or swaps
/// it, and lose it when the spec does.
#[tokio::test]
async fn every_role_carries_the_platform_permissions_boundary() {
    let (moto, engine, recorder) = support::engine();
    let certificate = moto.certificate("*.example.com", "us-west-2").unwrap();
    let aws = support::aws(&engine);
    let mut boundaries = Vec::new();
    for name in ["bedrock-chatbot-boundary", "something-else"] {
        let policy = aws
            .iam
            .create_policy()
            .policy_name(name)
            .policy_document(
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Action": ["bedrock:InvokeModel"], "Resource": "*"}]})
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        boundaries.push(policy.policy().unwrap().arn().unwrap().to_string());
    }
    let apply = |boundary: Option<&str>| {
        let mut platform = support::platform_manifest(&certificate);
        if let Some(boundary) = boundary {
            support::set(
                &mut platform,
                "/spec/iam/rolePermissionsBoundaryArn",
                json!(boundary),
            );
        }
        let text = support::yaml_documents(&[
            platform,
            support::chatbot_manifest("team-a", "chat.team-a.example.com"),
        ]);
        let manifests = manifest::load_str(Path::new("case.yaml"), &text).unwrap();
        let engine = &engine;
        async move {
            let (platform, statuses) = apply_converged(engine, &manifests).await;
            let chatbot: BedrockChatbotStatus =
                serde_json::from_value(statuses["BedrockChatbot/team-a/assistant"].clone())
                    .unwrap();
            [
                platform.execution_role_arn.unwrap(),
                chatbot.task_role_arn.unwrap(),
            ]
        }
    };

    let roles = apply(Some(&boundaries[0])).await;
    for role in &roles {
        assert_eq!(boundary_of(&aws, role).await, Some(boundaries[0].clone()));
    }

    // Behind the operator's back: one role loses its boundary, the other gets
    // a wider one. The next pass puts the platform's back on both.
    let name = |arn: &str| arn.rsplit('/').next().unwrap().to_string();
    aws.iam
        .put_role_permissions_boundary()
        .role_name(name(&roles[0]))
        .permissions_boundary(&boundaries[1])
        .send()
        .await
        .unwrap();
    aws.iam
        .delete_role_permissions_boundary()
        .role_name(name(&roles[1]))
        .send()
        .await
        .unwrap();
    recorder.take();
    assert_eq!(apply(Some(&boundaries[0])).await, roles);
    for role in &roles {
        assert_eq!(boundary_of(&aws, role).await, Some(boundaries[0].clone()));
    }
    assert_eq!(
        support::updated_fields(&recorder.take(), "IAM role"),
        ["permissionsBoundary", "permissionsBoundary"]
    );

    // The spec drops the boundary: so do the roles.
    apply(None).await;
    for role in &roles {
        assert_eq!(boundary_of(&aws, role).await, None);
    }
}
