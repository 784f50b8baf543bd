//! `plan`: the desired state of a set of manifests, grouped by owner, as a readable
//! tree or as JSON. Offline: no cluster, no AWS calls, no credentials.

use std::fmt::Write as _;

use serde::Serialize;

use crate::desired::chatbot::{self, ChatbotDesired};
use crate::desired::platform::{self, Network, PlatformDesired};
use crate::manifest::Manifests;
use crate::resources::{Planned, Resource};

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

/// The row of a resource, as it says itself ([`Planned`]).
fn planned<P: Planned>(resource: &P) -> Row {
    row(P::KIND, resource.shown_name(), resource.detail())
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

fn platform_rows(p: &PlatformDesired) -> Vec<Row> {
    let mut rows = Vec::new();
    match &p.network {
        Network::Managed(net) => {
            rows.push(planned(&net.vpc));
            rows.push(planned(&net.internet_gateway));
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
                rows.push(planned(nat));
            }
            rows.extend(net.route_tables.iter().map(planned));
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
    rows.extend(p.security_groups.iter().map(planned));
    rows.extend(p.vpc_endpoints.iter().map(planned));
    rows.push(planned(&p.load_balancer));
    rows.extend(p.listeners.iter().map(planned));
    rows.push(planned(&p.signed_out_rule));
    rows.push(planned(&p.cluster));
    rows.push(planned(&p.execution_role));
    rows.extend(p.ecr_repository.iter().map(planned));
    rows.push(planned(&p.attachments_bucket));
    rows
}

fn chatbot_rows(c: &ChatbotDesired) -> Vec<Row> {
    let mut rows = vec![
        planned(&c.user_pool),
        planned(&c.user_pool_domain),
        planned(&c.user_pool_client),
        planned(&c.target_group),
        planned(&c.listener_rule),
        planned(&c.log_group),
    ];
    rows.extend(c.history_table.iter().map(planned));
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
    rows.push(planned(&c.task_role));
    rows.push(planned(&c.task_definition));
    rows.push(planned(&c.service));
    rows.extend(c.scaling.iter().map(planned));
    rows
}
