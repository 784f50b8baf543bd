//! `plan`: the desired state of a set of manifests, grouped by owner, as a readable
//! tree or as JSON. Offline: no cluster, no AWS calls, no credentials.

use std::fmt::Write as _;

use serde::Serialize;

use crate::desired::chatbot::{self, ChatbotDesired, RuleMatch, RuleThen};
use crate::desired::platform::{
    self, DefaultAction, EndpointKind, Network, Peer, PlatformDesired, Role, SecurityGroupRule,
};
use crate::manifest::Manifests;

/// A platform's desired state and its chatbots'.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedPlatform {
    /// The platform's resources.
    pub platform: PlatformDesired,
    /// Each chatbot's resources, in manifest order.
    pub chatbots: Vec<ChatbotDesired>,
}

/// Desired state of every object in a set of manifests.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// Platforms, in manifest order, each with its chatbots.
    pub platforms: Vec<PlannedPlatform>,
}

/// Computes the plan. `account_id` fills ARNs; offline it is
/// [`crate::desired::UNKNOWN_ACCOUNT`].
pub fn plan(manifests: &Manifests, account_id: &str) -> Plan {
    let platforms = manifests
        .platforms
        .iter()
        .map(|located| {
            let platform = platform::desired(&located.object, account_id);
            let name = located.object.metadata.name.as_deref();
            let chatbots = manifests
                .chatbots
                .iter()
                .filter(|c| Some(c.object.spec.platform_ref.name.as_str()) == name)
                .map(|c| chatbot::desired(&c.object, &platform))
                .collect();
            PlannedPlatform { platform, chatbots }
        })
        .collect();
    Plan { platforms }
}

impl Plan {
    /// How many AWS resources the plan holds.
    pub fn resource_count(&self) -> usize {
        self.platforms
            .iter()
            .map(|p| {
                platform_rows(&p.platform).len()
                    + p.chatbots
                        .iter()
                        .map(|c| chatbot_rows(c).len())
                        .sum::<usize>()
            })
            .sum()
    }

    /// The plan as an indented table per owner.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for planned in &self.platforms {
            let p = &planned.platform;
            let _ = writeln!(
                out,
                "{}  (region {}, account {}, deletionPolicy {:?})",
                p.owner, p.environment.region, p.environment.account_id, p.deletion_policy
            );
            write_rows(&mut out, "  ", &platform_rows(p));
            for c in &planned.chatbots {
                let _ = writeln!(
                    out,
                    "\n  {}  → {}  (deletionPolicy {:?})",
                    c.owner, c.url, c.deletion_policy
                );
                write_rows(&mut out, "    ", &chatbot_rows(c));
            }
            out.push('\n');
        }
        let chatbots: usize = self.platforms.iter().map(|p| p.chatbots.len()).sum();
        let _ = writeln!(
            out,
            "{} platform(s), {chatbots} chatbot(s), {} AWS resources.",
            self.platforms.len(),
            self.resource_count()
        );
        out
    }
}

/// One line of the table: what, its name, and the settings that matter.
struct Row {
    kind: &'static str,
    name: String,
    detail: String,
}

fn listener_rule_row(rule: &chatbot::ListenerRule) -> Row {
    let condition = match &rule.condition {
        RuleMatch::HostHeader(host) => format!("host {host}"),
        RuleMatch::PathPattern(path) => format!("path {path} (any host)"),
    };
    let action = match &rule.action {
        RuleThen::SignInThenForward { .. } => "authenticate-cognito → forward".to_string(),
        RuleThen::FixedResponse(response) => format!(
            "fixed {} {}, no sign-in",
            response.status_code, response.content_type
        ),
    };
    row(
        "Listener rule",
        match rule.priority {
            Some(priority) => format!("priority {priority}"),
            None => format!(
                "priority: lowest free from {}",
                chatbot::FIRST_TEAM_PRIORITY
            ),
        },
        format!("{condition} → {action}, on {}", rule.listener),
    )
}

fn row(kind: &'static str, name: impl Into<String>, detail: impl Into<String>) -> Row {
    Row {
        kind,
        name: name.into(),
        detail: detail.into(),
    }
}

fn write_rows(out: &mut String, indent: &str, rows: &[Row]) {
    let kind_width = rows.iter().map(|r| r.kind.len()).max().unwrap_or(0);
    let name_width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0).min(48);
    for r in rows {
        let _ = writeln!(
            out,
            "{indent}{:kind_width$}  {:name_width$}  {}",
            r.kind, r.name, r.detail
        );
    }
}

fn rules(rules: &[SecurityGroupRule], direction: &str) -> String {
    if rules.is_empty() {
        return format!("{direction}: none");
    }
    let list: Vec<String> = rules
        .iter()
        .map(|r| match &r.peer {
            Peer::Cidr(cidr) => format!("{} {cidr}", r.port),
            Peer::SecurityGroup(sg) => format!("{} {sg}", r.port),
        })
        .collect();
    format!("{direction}: {}", list.join(", "))
}

fn role_row(role: &Role) -> Row {
    let mut grants: Vec<String> = role
        .managed_policy_arns
        .iter()
        .map(|arn| arn.rsplit('/').next().unwrap_or(arn).to_string())
        .collect();
    for (name, policy) in &role.inline_policies {
        for statement in &policy.statement {
            grants.push(format!(
                "{name}: {} on {} ARN(s)",
                statement.action.join(" + "),
                statement.resource.len()
            ));
        }
    }
    row(
        "IAM role",
        &role.name,
        format!("trusted by ecs-tasks; {}", grants.join("; ")),
    )
}

fn platform_rows(p: &PlatformDesired) -> Vec<Row> {
    let mut rows = Vec::new();
    match &p.network {
        Network::Managed(net) => {
            rows.push(row(
                "VPC",
                &net.vpc.name,
                format!("{}, DNS support + hostnames", net.vpc.cidr),
            ));
            rows.push(row(
                "Internet gateway",
                &net.internet_gateway.name,
                "attached to the VPC",
            ));
            for (subnet, tier) in net
                .public_subnets
                .iter()
                .map(|s| (s, "public"))
                .chain(net.private_subnets.iter().map(|s| (s, "private")))
            {
                rows.push(row(
                    "Subnet",
                    &subnet.name,
                    format!("{} in {}, {tier}", subnet.cidr, subnet.availability_zone),
                ));
            }
            for nat in &net.nat_gateways {
                rows.push(row(
                    "Elastic IP",
                    format!("{}-eip", nat.name),
                    format!("for {}", nat.key),
                ));
                rows.push(row("NAT gateway", &nat.name, format!("in {}", nat.subnet)));
            }
            for table in &net.route_tables {
                let routes: Vec<String> = table
                    .routes
                    .iter()
                    .map(|r| format!("{} → {}", r.destination, r.target))
                    .collect();
                let subnets: Vec<String> = table.subnets.iter().map(ToString::to_string).collect();
                let routes = if routes.is_empty() {
                    "local only".to_string()
                } else {
                    routes.join(", ")
                };
                rows.push(row(
                    "Route table",
                    &table.name,
                    format!("{routes}; for {}", subnets.join(", ")),
                ));
            }
        }
        Network::Existing(existing) => rows.push(row(
            "Existing VPC",
            &existing.vpc_id,
            format!(
                "public {}, private {} (not managed)",
                existing.public_subnet_ids.join(" "),
                existing.private_subnet_ids.join(" ")
            ),
        )),
    }
    for sg in &p.security_groups {
        rows.push(row(
            "Security group",
            &sg.name,
            format!("{}; {}", rules(&sg.ingress, "in"), rules(&sg.egress, "out")),
        ));
    }
    for endpoint in &p.vpc_endpoints {
        let detail = match &endpoint.kind {
            EndpointKind::Interface {
                private_dns,
                security_group,
                ..
            } => format!(
                "{}, interface in private subnets, private DNS {}, {security_group}",
                endpoint.service_name,
                if *private_dns { "on" } else { "off" }
            ),
            EndpointKind::Gateway { route_tables } => {
                format!(
                    "{}, gateway in {} route table(s)",
                    endpoint.service_name,
                    route_tables.len()
                )
            }
        };
        rows.push(row("VPC endpoint", &endpoint.name, detail));
    }
    let lb = &p.load_balancer;
    let attributes: Vec<String> = lb
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    rows.push(row(
        "Load balancer",
        &lb.name,
        format!("{}, {}", lb.scheme, attributes.join(", ")),
    ));
    for listener in &p.listeners {
        let action = match &listener.default_action {
            DefaultAction::FixedResponse(response) => {
                format!("default: fixed {}", response.status_code)
            }
            DefaultAction::RedirectToHttps { status_code } => {
                format!("redirect to HTTPS:443 ({status_code})")
            }
        };
        let tls = listener
            .ssl_policy
            .as_ref()
            .map(|policy| {
                format!(
                    "{policy}, certificate {}; ",
                    listener.certificate_arn.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_default();
        rows.push(row(
            "Listener",
            format!("{}:{}", listener.protocol, listener.port),
            format!("{tls}{action}"),
        ));
    }
    rows.push(listener_rule_row(&p.signed_out_rule));
    rows.push(row(
        "ECS cluster",
        &p.cluster.name,
        format!(
            "{}, Container Insights {}",
            p.cluster
                .capacity_providers
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            if p.cluster.container_insights {
                "on"
            } else {
                "off"
            }
        ),
    ));
    rows.push(role_row(&p.execution_role));
    if let Some(repo) = &p.ecr_repository {
        rows.push(row(
            "ECR repository",
            &repo.name,
            format!(
                "{}, scan on push {}, {}",
                repo.image_tag_mutability,
                if repo.scan_on_push { "on" } else { "off" },
                repo.encryption
            ),
        ));
    }
    let bucket = &p.attachments_bucket;
    rows.push(row(
        "S3 bucket",
        &bucket.name,
        format!(
            "attachments, a prefix per chatbot; {}, public access blocked, TLS only, {}, unfinished uploads and old versions removed after {} day(s)",
            bucket.encryption, bucket.object_ownership, bucket.cleanup_days
        ),
    ));
    rows
}

fn chatbot_rows(c: &ChatbotDesired) -> Vec<Row> {
    let pool = &c.user_pool;
    let policy = &pool.password_policy;
    let mut rows = vec![
        row(
            "Cognito user pool",
            &pool.name,
            format!(
                "MFA {} (TOTP), passwords ≥ {} with upper/lower/digit/symbol, recovery by email, {}",
                pool.mfa_configuration,
                policy.minimum_length,
                if pool.admin_create_user_only {
                    "admin-created users"
                } else {
                    "self sign-up"
                }
            ),
        ),
        row(
            "Cognito domain",
            &c.user_pool_domain.prefix,
            c.user_pool_domain.url.clone(),
        ),
        row(
            "Cognito app client",
            &c.user_pool_client.name,
            format!(
                "secret, {} grant, scopes {}, callback {}",
                c.user_pool_client.allowed_oauth_flows.join(" "),
                c.user_pool_client.allowed_oauth_scopes.join(" "),
                c.user_pool_client.callback_urls.join(" ")
            ),
        ),
    ];
    let tg = &c.target_group;
    let hc = &tg.health_check;
    rows.push(row(
        "Target group",
        &tg.name,
        format!(
            "{} {}:{}, health {} every {}s (timeout {}s, {}/{})",
            tg.target_type,
            tg.protocol,
            tg.port,
            hc.path,
            hc.interval_seconds,
            hc.timeout_seconds,
            hc.healthy_threshold,
            hc.unhealthy_threshold
        ),
    ));
    rows.push(listener_rule_row(&c.listener_rule));
    rows.push(row(
        "Log group",
        &c.log_group.name,
        format!("retention {} days", c.log_group.retention_days),
    ));
    if let Some(table) = &c.history_table {
        rows.push(row(
            "DynamoDB table",
            &table.name,
            format!(
                "conversations per user, on demand, KMS (aws/dynamodb), point-in-time recovery {}, {}",
                if table.point_in_time_recovery { "on" } else { "off" },
                match table.retention_days {
                    0 => "kept until deleted".to_string(),
                    days => format!("items expire {days} days after they are written"),
                }
            ),
        ));
    }
    if let Some(files) = &c.attachments {
        rows.push(row(
            "S3 attachments",
            files.location(),
            match &c.attachments_expiry {
                Some(expiry) => format!(
                    "files expire {} days after they are written (lifecycle rule \"{}\")",
                    expiry.days, expiry.rule_id
                ),
                None => "kept until deleted".to_string(),
            },
        ));
    }
    rows.push(role_row(&c.task_role));
    let td = &c.task_definition;
    rows.push(row(
        "Task definition",
        &td.family,
        format!(
            "{} CPU / {} MiB, {}, {}, image {}",
            td.cpu, td.memory, td.cpu_architecture, td.network_mode, td.container.image
        ),
    ));
    let service = &c.service;
    rows.push(row(
        "ECS service",
        &service.name,
        format!(
            "{} task(s), {}, private subnets, public IP {}, grace {}s, circuit breaker + rollback",
            service.desired_count,
            service.launch_type,
            if service.assign_public_ip {
                "on"
            } else {
                "off"
            },
            service.health_check_grace_period_seconds
        ),
    ));
    if let Some(scaling) = &c.scaling {
        rows.push(row(
            "Auto scaling",
            &scaling.policy_name,
            format!(
                "{}-{} tasks, {} at {}%",
                scaling.min_capacity, scaling.max_capacity, scaling.metric, scaling.target_value
            ),
        ));
    }
    rows
}
