//! The platform's three security groups and their rules.
//!
//! The groups refer to each other (tasks admit the load balancer, endpoints admit
//! the tasks), so they converge in two steps: first every group ([`SecurityGroup`]
//! as a resource: name, description, VPC), then every group's rules
//! ([`SecurityGroupRules`]: exactly the desired ingress and egress, nothing else —
//! the default allow-all egress rule included).

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::fmt;

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, ResourceType, UserIdGroupPair};

use super::{Ctx, Drift, Planned, Removal, Resource, check_fixed, ec2, tags};
use crate::desired::PlatformRef;
use crate::desired::platform::{Peer, SecurityGroup};
use crate::{Error, Result};

/// A security group as found on AWS (without its rules).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedSecurityGroup {
    /// Group id (`sg-…`): its recorded id, what rules and services name.
    pub id: String,
    /// Its name (unique in its VPC), fixed for the group's life: a change is an
    /// `Immutable` error.
    pub name: String,
    /// Its description, fixed at creation: a change is an `Immutable` error.
    pub description: String,
    /// Id of the VPC it belongs to.
    pub vpc_id: String,
}

impl Resource for SecurityGroup {
    const KIND: &'static str = "Security group";
    type Observed = ObservedSecurityGroup;
    /// Nothing to change in place: name, description and VPC are fixed for the
    /// group's life, and its rules are [`SecurityGroupRules`].
    type Setting = Infallible;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedSecurityGroup>> {
        let found =
            ec2::describe_owned!(ctx, &self.key, describe_security_groups, security_groups)?;
        Ok(found.first().map(|g| ObservedSecurityGroup {
            id: g.group_id().unwrap_or_default().to_string(),
            name: g.group_name().unwrap_or_default().to_string(),
            description: g.description().unwrap_or_default().to_string(),
            vpc_id: g.vpc_id().unwrap_or_default().to_string(),
        }))
    }

    fn drift(
        &self,
        observed: &ObservedSecurityGroup,
        ctx: Ctx<'_>,
    ) -> Result<Vec<Drift<Infallible>>> {
        let vpc = ctx.refs.resolve(&PlatformRef::Vpc)?;
        // Name, description and VPC of a group are fixed for its life.
        check_fixed(
            self,
            &[
                ("groupName", &observed.name, &self.name),
                ("description", &observed.description, &self.description),
                ("vpc", &observed.vpc_id, &vpc),
            ],
        )?;
        Ok(Vec::new())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedSecurityGroup> {
        let vpc = ctx.refs.resolve(&PlatformRef::Vpc)?;
        let tags = tags::for_resource(ctx.tags, &self.key, &self.name);
        let created = ctx
            .aws
            .ec2
            .create_security_group()
            .group_name(&self.name)
            .description(&self.description)
            .vpc_id(&vpc)
            .tag_specifications(tags::ec2_spec(ResourceType::SecurityGroup, &tags))
            .send()
            .await?;
        Ok(ObservedSecurityGroup {
            id: created
                .group_id()
                .ok_or_else(|| ec2::unexpected("CreateSecurityGroup", "no group id"))?
                .to_string(),
            name: self.name.clone(),
            description: self.description.clone(),
            vpc_id: vpc,
        })
    }

    nothing_changes_in_place!(ObservedSecurityGroup);

    async fn delete(&self, observed: &ObservedSecurityGroup, ctx: Ctx<'_>) -> Result<Removal> {
        // ENIs of a just-deleted load balancer or endpoint keep the group in use
        // for a while.
        ec2::in_use_is_waiting(
            ctx.aws
                .ec2
                .delete_security_group()
                .group_id(&observed.id)
                .send()
                .await,
            "security group",
        )
    }

    fn id(observed: &ObservedSecurityGroup) -> String {
        observed.id.clone()
    }
}

/// The rules of one security group, converged after every group exists.
#[derive(Clone, Copy, Debug)]
pub struct SecurityGroupRules<'a>(pub &'a SecurityGroup);

/// The other end of a rule, as AWS holds it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RulePeer {
    /// An IPv4 range.
    Cidr(String),
    /// A security group, by id.
    Group(String),
    /// Anything we never create (IPv6 range, prefix list): always revoked.
    Other(String),
}

/// One rule, in the terms that identify it on AWS.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    /// Outbound (`true`) or inbound.
    pub egress: bool,
    /// `tcp`, `-1` (all), …
    pub protocol: String,
    /// First port (`-1` for all protocols).
    pub from_port: i32,
    /// Last port.
    pub to_port: i32,
    /// Where traffic comes from or goes to.
    pub peer: RulePeer,
    /// Why the rule exists. Sent on authorization, but not part of a rule's
    /// identity (AWS identifies a rule by protocol, ports and peer; see
    /// [`Rule::identity`]).
    pub description: String,
}

impl Rule {
    /// What makes two rules the same rule on AWS: protocol, ports and peer.
    ///
    /// Descriptions are left out on purpose: they are notes, AWS accepts no second
    /// rule that differs only in its note, and not every implementation of
    /// DescribeSecurityGroupRules reports them for group-referencing rules (moto
    /// does not), which would otherwise read as drift on every pass.
    pub fn identity(&self) -> (bool, &str, i32, i32, &RulePeer) {
        (
            self.egress,
            &self.protocol,
            self.from_port,
            self.to_port,
            &self.peer,
        )
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let peer = match &self.peer {
            RulePeer::Cidr(v) | RulePeer::Group(v) | RulePeer::Other(v) => v,
        };
        write!(
            f,
            "{} {}:{}-{} {}",
            if self.egress { "to" } else { "from" },
            self.protocol,
            self.from_port,
            self.to_port,
            peer,
        )
    }
}

/// What to change so a group holds exactly the desired rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleChanges {
    /// Rules to revoke, by AWS rule id.
    pub revoke: Vec<(String, Rule)>,
    /// Desired rules AWS does not have yet.
    pub authorize: Vec<Rule>,
}

impl RuleChanges {
    /// Compares the rules AWS has (with their ids) with the desired set, by
    /// [`Rule::identity`].
    pub fn between(have: &[(String, Rule)], want: &BTreeSet<Rule>) -> Self {
        let present: BTreeSet<_> = have.iter().map(|(_, r)| r.identity()).collect();
        let wanted: BTreeSet<_> = want.iter().map(Rule::identity).collect();
        Self {
            revoke: have
                .iter()
                .filter(|(_, r)| !wanted.contains(&r.identity()))
                .cloned()
                .collect(),
            authorize: want
                .iter()
                .filter(|r| !present.contains(&r.identity()))
                .cloned()
                .collect(),
        }
    }

    /// Whether nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.revoke.is_empty() && self.authorize.is_empty()
    }
}

settings! {
    /// What can change in place on a group's rules.
    pub enum RuleSetting {
        Ingress => "ingress",
        Egress => "egress",
    }
}

/// A group's rules as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedRules {
    pub group_id: String,
    /// Every rule with its id.
    pub rules: Vec<(String, Rule)>,
}

impl Resource for SecurityGroupRules<'_> {
    const KIND: &'static str = "Security group rules";
    type Observed = ObservedRules;
    type Setting = RuleSetting;

    fn key(&self) -> &str {
        &self.0.key
    }

    fn name(&self) -> &str {
        &self.0.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedRules>> {
        // Found through the group's own tags, so deletion (which starts with no
        // known ids) sees the rules too.
        let Some(group) = self.0.observe(ctx).await? else {
            return Ok(None);
        };
        let found = ctx
            .aws
            .ec2
            .describe_security_group_rules()
            .filters(Filter::builder().name("group-id").values(&group.id).build())
            .send()
            .await?;
        let rules = found
            .security_group_rules()
            .iter()
            .filter(|r| r.group_id() == Some(group.id.as_str()))
            .map(|r| {
                let peer = match (
                    r.cidr_ipv4(),
                    r.referenced_group_info().and_then(|g| g.group_id()),
                ) {
                    (Some(cidr), _) => RulePeer::Cidr(cidr.to_string()),
                    (None, Some(group)) => RulePeer::Group(group.to_string()),
                    _ => RulePeer::Other(
                        r.cidr_ipv6()
                            .or(r.prefix_list_id())
                            .unwrap_or("unknown")
                            .to_string(),
                    ),
                };
                (
                    r.security_group_rule_id().unwrap_or_default().to_string(),
                    Rule {
                        egress: r.is_egress().unwrap_or(false),
                        protocol: protocol_name(r.ip_protocol().unwrap_or("-1")),
                        from_port: r.from_port().unwrap_or(-1),
                        to_port: r.to_port().unwrap_or(-1),
                        peer,
                        description: r.description().unwrap_or_default().to_string(),
                    },
                )
            })
            .collect();
        Ok(Some(ObservedRules {
            group_id: group.id,
            rules,
        }))
    }

    fn drift(&self, observed: &ObservedRules, ctx: Ctx<'_>) -> Result<Vec<Drift<RuleSetting>>> {
        let want = self.desired_rules(ctx)?;
        let mut drift = Vec::new();
        for (field, egress) in [(RuleSetting::Ingress, false), (RuleSetting::Egress, true)] {
            let have: BTreeSet<String> = observed
                .rules
                .iter()
                .filter(|(_, r)| r.egress == egress)
                .map(|(_, r)| r.to_string())
                .collect();
            let want: BTreeSet<String> = want
                .iter()
                .filter(|r| r.egress == egress)
                .map(Rule::to_string)
                .collect();
            drift.extend(Drift::compare(field, have, want));
        }
        Ok(drift)
    }

    async fn create(&self, _ctx: Ctx<'_>) -> Result<ObservedRules> {
        // Rules exist only within their group: without it there is nothing to do yet.
        Err(Error::Unresolved(self.0.key.clone()))
    }

    async fn update(
        &self,
        observed: &ObservedRules,
        _drift: &[Drift<RuleSetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        // Either direction: the rules to revoke and to authorize are worked out
        // from the observed ones, whichever drifted.
        let changes = RuleChanges::between(&observed.rules, &self.desired_rules(ctx)?);
        apply_changes(ctx, &observed.group_id, &changes).await
    }

    async fn delete(&self, observed: &ObservedRules, ctx: Ctx<'_>) -> Result<Removal> {
        // Rules that point at other groups keep those groups from being deleted, so
        // every group's rules go before any group does.
        let everything = RuleChanges {
            revoke: observed.rules.clone(),
            authorize: Vec::new(),
        };
        apply_changes(ctx, &observed.group_id, &everything).await?;
        Ok(Removal::Done)
    }

    fn id(observed: &ObservedRules) -> String {
        observed.group_id.clone()
    }
}

impl SecurityGroupRules<'_> {
    /// The desired rules with their peers resolved to ids.
    fn desired_rules(&self, ctx: Ctx<'_>) -> Result<BTreeSet<Rule>> {
        let rules = |egress: bool, list: &[crate::desired::platform::SecurityGroupRule]| {
            list.iter()
                .map(|r| {
                    Ok(Rule {
                        egress,
                        protocol: "tcp".into(),
                        from_port: i32::from(r.port),
                        to_port: i32::from(r.port),
                        peer: match &r.peer {
                            Peer::Cidr(cidr) => RulePeer::Cidr(cidr.clone()),
                            Peer::SecurityGroup(key) => RulePeer::Group(
                                ctx.refs.resolve(&PlatformRef::SecurityGroup(key.clone()))?,
                            ),
                        },
                        description: r.description.clone(),
                    })
                })
                .collect::<Result<Vec<_>>>()
        };
        Ok(rules(false, &self.0.ingress)?
            .into_iter()
            .chain(rules(true, &self.0.egress)?)
            .collect())
    }
}

async fn apply_changes(ctx: Ctx<'_>, group_id: &str, changes: &RuleChanges) -> Result<()> {
    let ec2 = &ctx.aws.ec2;
    let revoke = |egress: bool| -> Vec<String> {
        changes
            .revoke
            .iter()
            .filter(|(_, r)| r.egress == egress)
            .map(|(id, _)| id.clone())
            .collect()
    };
    let (ingress, egress) = (revoke(false), revoke(true));
    if !ingress.is_empty() {
        ec2.revoke_security_group_ingress()
            .group_id(group_id)
            .set_security_group_rule_ids(Some(ingress))
            .send()
            .await?;
    }
    if !egress.is_empty() {
        ec2.revoke_security_group_egress()
            .group_id(group_id)
            .set_security_group_rule_ids(Some(egress))
            .send()
            .await?;
    }
    let permissions = |egress: bool| -> Vec<IpPermission> {
        changes
            .authorize
            .iter()
            .filter(|r| r.egress == egress)
            .map(permission)
            .collect()
    };
    let (ingress, egress) = (permissions(false), permissions(true));
    if !ingress.is_empty() {
        ec2.authorize_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(ingress))
            .send()
            .await?;
    }
    if !egress.is_empty() {
        ec2.authorize_security_group_egress()
            .group_id(group_id)
            .set_ip_permissions(Some(egress))
            .send()
            .await?;
    }
    Ok(())
}

/// AWS reports protocols by name or by number depending on how they were given.
fn protocol_name(protocol: &str) -> String {
    match protocol {
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        other => other.to_ascii_lowercase(),
    }
}

fn permission(rule: &Rule) -> IpPermission {
    let builder = IpPermission::builder()
        .ip_protocol(&rule.protocol)
        .from_port(rule.from_port)
        .to_port(rule.to_port);
    match &rule.peer {
        RulePeer::Cidr(cidr) => builder.ip_ranges(
            IpRange::builder()
                .cidr_ip(cidr)
                .description(&rule.description)
                .build(),
        ),
        RulePeer::Group(group) => builder.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(group)
                .description(&rule.description)
                .build(),
        ),
        RulePeer::Other(_) => builder,
    }
    .build()
}

impl Planned for SecurityGroup {
    fn detail(&self) -> String {
        format!(
            "{}; {}",
            rules(&self.ingress, "in"),
            rules(&self.egress, "out")
        )
    }
}

fn rules(rules: &[crate::desired::platform::SecurityGroupRule], direction: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(egress: bool, port: i32, peer: RulePeer, description: &str) -> Rule {
        Rule {
            egress,
            protocol: "tcp".into(),
            from_port: port,
            to_port: port,
            peer,
            description: description.into(),
        }
    }

    #[test]
    fn default_egress_and_foreign_rules_are_revoked_missing_ones_authorized() {
        let allow_all = Rule {
            egress: true,
            protocol: "-1".into(),
            from_port: -1,
            to_port: -1,
            peer: RulePeer::Cidr("0.0.0.0/0".into()),
            description: String::new(),
        };
        let https = rule(false, 443, RulePeer::Cidr("0.0.0.0/0".into()), "HTTPS");
        let ssh = rule(false, 22, RulePeer::Cidr("0.0.0.0/0".into()), "");
        let to_tasks = rule(true, 8501, RulePeer::Group("sg-tasks".into()), "tasks");
        let have = vec![
            ("sgr-1".to_string(), allow_all.clone()),
            ("sgr-2".to_string(), https.clone()),
            ("sgr-3".to_string(), ssh.clone()),
        ];
        let want: BTreeSet<Rule> = [https, to_tasks.clone()].into_iter().collect();
        let changes = RuleChanges::between(&have, &want);
        assert_eq!(
            changes.revoke,
            vec![("sgr-1".to_string(), allow_all), ("sgr-3".to_string(), ssh)]
        );
        assert_eq!(changes.authorize, vec![to_tasks]);
    }

    #[test]
    fn a_rule_is_its_protocol_ports_and_peer_not_its_description() {
        let noted = rule(false, 8501, RulePeer::Group("sg-lb".into()), "from the ALB");
        let bare = rule(false, 8501, RulePeer::Group("sg-lb".into()), "");
        assert!(
            RuleChanges::between(
                &[("sgr-1".to_string(), bare)],
                &[noted].into_iter().collect()
            )
            .is_empty()
        );
        let other_peer = rule(false, 8501, RulePeer::Group("sg-other".into()), "");
        let changes = RuleChanges::between(
            &[("sgr-1".to_string(), other_peer.clone())],
            &[rule(false, 8501, RulePeer::Group("sg-lb".into()), "")]
                .into_iter()
                .collect(),
        );
        assert_eq!(changes.revoke, vec![("sgr-1".to_string(), other_peer)]);
        assert_eq!(changes.authorize.len(), 1);
    }

    #[test]
    fn exactly_the_desired_rules_need_no_change() {
        let r = rule(false, 443, RulePeer::Group("sg-tasks".into()), "HTTPS");
        let changes = RuleChanges::between(
            &[("sgr-1".to_string(), r.clone())],
            &[r].into_iter().collect(),
        );
        assert!(changes.is_empty());
    }

    #[test]
    fn protocols_given_by_number_compare_by_name() {
        assert_eq!(protocol_name("6"), "tcp");
        assert_eq!(protocol_name("TCP"), "tcp");
        assert_eq!(protocol_name("-1"), "-1");
    }
}
