//! `plan`: the desired state of a set of manifests, grouped by owner, as a readable
//! tree or as JSON. Offline: no cluster, no AWS calls, no credentials.

use std::fmt::Write as _;

use serde::Serialize;

use crate::desired::chatbot::{self, ChatbotDesired, RuleMatch, RuleThen};
use crate::desired::platform::{
    self, DefaultAction, EndpointKind, Network, Peer, PlatformDesired, Role, SecurityGroupRule,
};
use crate::manifest::Manifests;
use crate::resources::Resource;

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

fn row(kind: &'static str, name: impl Into<String>, detail: impl Into<String>) -> Row {
    Row {
        kind,
        name: name.into(),
        detail: detail.into(),
    }
}

/// The row of a resource: its kind ([`Resource::KIND`]) and name, and `detail`.
fn row_of<R: Resource>(resource: &R, detail: impl Into<String>) -> Row {
    row(R::KIND, resource.name(), detail)
}

/// How a desired resource shows in the plan: one row of its [`Resource::KIND`].
/// A new resource implements it and adds one line to [`platform_rows`] or
/// [`chatbot_rows`].
trait Planned: Resource {
    /// The settings that matter, in a few words.
    fn detail(&self) -> String;

    /// The name shown: [`Resource::name`] unless the row names it otherwise.
    fn shown_name(&self) -> String {
        self.name().to_string()
    }

    /// The row.
    fn row(&self) -> Row {
        row(Self::KIND, self.shown_name(), self.detail())
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

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

impl Planned for platform::Vpc {
    fn detail(&self) -> String {
        format!("{}, DNS support + hostnames", self.cidr)
    }
}

impl Planned for platform::InternetGateway {
    fn detail(&self) -> String {
        "attached to the VPC".into()
    }
}

impl Planned for platform::NatGateway {
    fn detail(&self) -> String {
        format!("in {}", self.subnet)
    }
}

impl Planned for platform::RouteTable {
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

impl Planned for platform::SecurityGroup {
    fn detail(&self) -> String {
        format!(
            "{}; {}",
            rules(&self.ingress, "in"),
            rules(&self.egress, "out")
        )
    }
}

impl Planned for platform::VpcEndpoint {
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

impl Planned for platform::LoadBalancer {
    fn detail(&self) -> String {
        let attributes: Vec<String> = self
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{}, {}", self.scheme, attributes.join(", "))
    }
}

impl Planned for platform::Listener {
    fn shown_name(&self) -> String {
        format!("{}:{}", self.protocol, self.port)
    }

    fn detail(&self) -> String {
        let action = match &self.default_action {
            DefaultAction::FixedResponse(response) => {
                format!("default: fixed {}", response.status_code)
            }
            DefaultAction::RedirectToHttps { status_code } => {
                format!("redirect to HTTPS:443 ({status_code})")
            }
        };
        let tls = self
            .ssl_policy
            .as_ref()
            .map(|policy| {
                format!(
                    "{policy}, certificate {}; ",
                    self.certificate_arn.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_default();
        format!("{tls}{action}")
    }
}

impl Planned for chatbot::ListenerRule {
    fn shown_name(&self) -> String {
        match self.priority {
            Some(priority) => format!("priority {priority}"),
            None => format!(
                "priority: lowest free from {}",
                chatbot::FIRST_TEAM_PRIORITY
            ),
        }
    }

    fn detail(&self) -> String {
        let condition = match &self.condition {
            RuleMatch::HostHeader(host) => format!("host {host}"),
            RuleMatch::PathPattern(path) => format!("path {path} (any host)"),
        };
        let action = match &self.action {
            RuleThen::SignInThenForward { .. } => "authenticate-cognito → forward".to_string(),
            RuleThen::FixedResponse(response) => format!(
                "fixed {} {}, no sign-in",
                response.status_code, response.content_type
            ),
        };
        format!("{condition} → {action}, on {}", self.listener)
    }
}

impl Planned for platform::EcsCluster {
    fn detail(&self) -> String {
        let providers: Vec<&str> = self.capacity_providers.iter().map(|p| p.as_str()).collect();
        format!(
            "{}, Container Insights {}",
            providers.join(" "),
            on_off(self.container_insights)
        )
    }
}

impl Planned for Role {
    fn detail(&self) -> String {
        let mut grants: Vec<String> = self
            .managed_policy_arns
            .iter()
            .map(|arn| arn.rsplit('/').next().unwrap_or(arn).to_string())
            .collect();
        for (name, policy) in &self.inline_policies {
            for statement in &policy.statement {
                grants.push(format!(
                    "{name}: {} on {} ARN(s)",
                    statement.action.join(" + "),
                    statement.resource.len()
                ));
            }
        }
        format!("trusted by ecs-tasks; {}", grants.join("; "))
    }
}

impl Planned for platform::EcrRepository {
    fn detail(&self) -> String {
        format!(
            "{}, scan on push {}, {}",
            self.image_tag_mutability,
            on_off(self.scan_on_push),
            self.encryption
        )
    }
}

impl Planned for platform::AttachmentsBucket {
    fn detail(&self) -> String {
        format!(
            "attachments, a prefix per chatbot; {}, public access blocked, TLS only, {}, unfinished uploads and old versions removed after {} day(s)",
            self.encryption, self.object_ownership, self.cleanup_days
        )
    }
}

fn platform_rows(p: &PlatformDesired) -> Vec<Row> {
    let mut rows = Vec::new();
    match &p.network {
        Network::Managed(net) => {
            rows.push(net.vpc.row());
            rows.push(net.internet_gateway.row());
            for (subnet, tier) in net
                .public_subnets
                .iter()
                .map(|s| (s, "public"))
                .chain(net.private_subnets.iter().map(|s| (s, "private")))
            {
                let detail = format!("{} in {}, {tier}", subnet.cidr, subnet.availability_zone);
                rows.push(row_of(subnet, detail));
            }
            for nat in &net.nat_gateways {
                rows.push(row_of(&nat.elastic_ip(), format!("for {}", nat.key)));
                rows.push(nat.row());
            }
            rows.extend(net.route_tables.iter().map(Planned::row));
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
    rows.extend(p.security_groups.iter().map(Planned::row));
    rows.extend(p.vpc_endpoints.iter().map(Planned::row));
    rows.push(p.load_balancer.row());
    rows.extend(p.listeners.iter().map(Planned::row));
    rows.push(p.signed_out_rule.row());
    rows.push(p.cluster.row());
    rows.push(p.execution_role.row());
    rows.extend(p.ecr_repository.iter().map(Planned::row));
    rows.push(p.attachments_bucket.row());
    rows
}

impl Planned for chatbot::UserPool {
    fn detail(&self) -> String {
        format!(
            "MFA {} (TOTP), passwords ≥ {} with upper/lower/digit/symbol, recovery by email, {}",
            self.mfa_configuration,
            self.password_policy.minimum_length,
            if self.admin_create_user_only {
                "admin-created users"
            } else {
                "self sign-up"
            }
        )
    }
}

impl Planned for chatbot::UserPoolDomain {
    fn detail(&self) -> String {
        self.url.clone()
    }
}

impl Planned for chatbot::UserPoolClient {
    fn detail(&self) -> String {
        format!(
            "secret, {} grant, scopes {}, callback {}",
            self.allowed_oauth_flows.join(" "),
            self.allowed_oauth_scopes.join(" "),
            self.callback_urls.join(" ")
        )
    }
}

impl Planned for chatbot::TargetGroup {
    fn detail(&self) -> String {
        let hc = &self.health_check;
        format!(
            "{} {}:{}, health {} every {}s (timeout {}s, {}/{})",
            self.target_type,
            self.protocol,
            self.port,
            hc.path,
            hc.interval_seconds,
            hc.timeout_seconds,
            hc.healthy_threshold,
            hc.unhealthy_threshold
        )
    }
}

impl Planned for chatbot::LogGroup {
    fn detail(&self) -> String {
        format!("retention {} days", self.retention_days)
    }
}

impl Planned for chatbot::HistoryTable {
    fn detail(&self) -> String {
        format!(
            "conversations per user, on demand, KMS (aws/dynamodb), point-in-time recovery {}, {}",
            on_off(self.point_in_time_recovery),
            match self.retention_days {
                0 => "kept until deleted".to_string(),
                days => format!("items expire {days} days after they are written"),
            }
        )
    }
}

impl Planned for chatbot::TaskDefinition {
    fn detail(&self) -> String {
        format!(
            "{} CPU / {} MiB, {}, {}, image {}",
            self.cpu, self.memory, self.cpu_architecture, self.network_mode, self.container.image
        )
    }
}

impl Planned for chatbot::Service {
    fn detail(&self) -> String {
        format!(
            "{} task(s), {}, private subnets, public IP {}, grace {}s, circuit breaker + rollback",
            self.desired_count,
            self.launch_type,
            on_off(self.assign_public_ip),
            self.health_check_grace_period_seconds
        )
    }
}

impl Planned for chatbot::Scaling {
    fn detail(&self) -> String {
        format!(
            "{}-{} tasks, {} at {}%",
            self.min_capacity, self.max_capacity, self.metric, self.target_value
        )
    }
}

fn chatbot_rows(c: &ChatbotDesired) -> Vec<Row> {
    let mut rows = vec![
        c.user_pool.row(),
        c.user_pool_domain.row(),
        c.user_pool_client.row(),
        c.target_group.row(),
        c.listener_rule.row(),
        c.log_group.row(),
    ];
    rows.extend(c.history_table.iter().map(Planned::row));
    if let Some(files) = &c.attachments {
        // The files' place, and how long they stay (a rule of its own on AWS).
        let detail = match &c.attachments_expiry {
            Some(expiry) => format!(
                "files expire {} days after they are written (lifecycle rule \"{}\")",
                expiry.days, expiry.rule_id
            ),
            None => "kept until deleted".to_string(),
        };
        rows.push(row(
            <chatbot::AttachmentsPrefix as Resource>::KIND,
            files.location(),
            detail,
        ));
    }
    rows.push(c.task_role.row());
    rows.push(c.task_definition.row());
    rows.push(c.service.row());
    rows.extend(c.scaling.iter().map(Planned::row));
    rows
}
