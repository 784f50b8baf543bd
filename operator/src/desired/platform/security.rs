//! The platform's security groups: load balancer, tasks, endpoints — each path in
//! and out named.

use super::*;

/// A security group and its complete rule set: rules not listed here are removed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroup {
    /// Component key: `load-balancer-sg`, `tasks-sg` or `endpoints-sg`.
    pub key: String,
    /// Group name (unique in its VPC), fixed for the group's life.
    pub name: String,
    /// What the group is for; fixed at creation.
    pub description: String,
    /// Inbound rules.
    pub ingress: Vec<SecurityGroupRule>,
    /// Outbound rules (the default allow-all rule is removed).
    pub egress: Vec<SecurityGroupRule>,
}

/// One TCP rule of a security group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupRule {
    /// TCP port.
    pub port: u16,
    /// Where traffic comes from (ingress) or goes to (egress).
    pub peer: Peer,
    /// Why the rule exists.
    pub description: String,
}

/// The other end of a security group rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Peer {
    /// An IPv4 range.
    Cidr(String),
    /// Another of the platform's security groups, by component key.
    SecurityGroup(String),
}

/// Component keys of the three security groups.
pub const LOAD_BALANCER_SG: &str = "load-balancer-sg";
/// Security group of the chatbot tasks.
pub const TASKS_SG: &str = "tasks-sg";
/// Security group of the interface endpoints.
pub const ENDPOINTS_SG: &str = "endpoints-sg";

/// The three security groups. Ingress is exactly: load balancer ← `ingressCidrs` on
/// 443 and 80; tasks ← load balancer on the chatbot port; endpoints ← tasks on 443.
/// Egress is narrowed too: the load balancer reaches the tasks and Cognito (443),
/// tasks reach AWS APIs over 443, endpoints need none.
pub(super) fn security_groups(spec: &ChatbotPlatformSpec, prefix: &str) -> Vec<SecurityGroup> {
    let from_ingress_cidrs = |port: u16, what: &str| -> Vec<SecurityGroupRule> {
        spec.load_balancer
            .ingress_cidrs
            .iter()
            .map(|cidr| SecurityGroupRule {
                port,
                peer: Peer::Cidr(cidr.clone()),
                description: format!("{what} from {cidr}"),
            })
            .collect()
    };
    let https_anywhere = |why: &str| SecurityGroupRule {
        port: 443,
        peer: Peer::Cidr("0.0.0.0/0".into()),
        description: why.into(),
    };
    vec![
        SecurityGroup {
            key: LOAD_BALANCER_SG.into(),
            name: format!("{prefix}-load-balancer"),
            description: "Chatbot load balancer: HTTPS and HTTP redirect from the allowed ranges"
                .into(),
            ingress: [
                from_ingress_cidrs(443, "HTTPS"),
                from_ingress_cidrs(80, "HTTP redirect"),
            ]
            .concat(),
            egress: vec![
                SecurityGroupRule {
                    port: CHATBOT_PORT,
                    peer: Peer::SecurityGroup(TASKS_SG.into()),
                    description: "Forward to chatbot tasks".into(),
                },
                https_anywhere("Cognito token and user info endpoints"),
            ],
        },
        SecurityGroup {
            key: TASKS_SG.into(),
            name: format!("{prefix}-tasks"),
            description: "Chatbot tasks: only the load balancer may connect".into(),
            ingress: vec![SecurityGroupRule {
                port: CHATBOT_PORT,
                peer: Peer::SecurityGroup(LOAD_BALANCER_SG.into()),
                description: "Chatbot port from the load balancer".into(),
            }],
            egress: vec![https_anywhere(
                "AWS APIs (Bedrock endpoint, ECR, logs, ALB public keys)",
            )],
        },
        SecurityGroup {
            key: ENDPOINTS_SG.into(),
            name: format!("{prefix}-endpoints"),
            description: "VPC endpoints: only chatbot tasks may connect".into(),
            ingress: vec![SecurityGroupRule {
                port: 443,
                peer: Peer::SecurityGroup(TASKS_SG.into()),
                description: "HTTPS from chatbot tasks".into(),
            }],
            egress: Vec::new(),
        },
    ]
}
