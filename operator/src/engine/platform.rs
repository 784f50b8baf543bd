//! One pass over a platform: converge its resources in dependency order, or delete
//! them in reverse order.

use aws_sdk_acm::types::CertificateStatus;
use bedrock_chatbot_crds::{
    CONDITION_DEGRADED, CONDITION_READY, CONDITION_SYNCED, ChatbotPlatform, ChatbotPlatformStatus,
    ConditionStatus, NatGatewayMode,
};

pub use super::Deletion;
use super::find;
use super::{Engine, Pass, Teardown, conditions, deletion_scope};
use crate::Result;
use crate::aws::ErrorClass;
use crate::desired::RefKey;
use crate::desired::platform::{self as desired, Network, PlatformDesired};
use crate::resources::security_group::SecurityGroupRules;
use crate::resources::{Refs, Scope};

/// Where a platform stands after a pass.
#[derive(Clone, Debug)]
pub struct PlatformState {
    /// What was asked for.
    pub desired: PlatformDesired,
    /// Ids and ARNs of what exists, by component key.
    pub refs: Refs,
    /// What is not ready yet, in words.
    pub waiting: Vec<String>,
    /// The status to show on the object.
    pub status: ChatbotPlatformStatus,
}

impl PlatformState {
    /// Whether everything exists and is usable.
    pub fn is_ready(&self) -> bool {
        self.waiting.is_empty()
    }
}

/// Converges the platform's AWS resources to its spec, one pass.
pub async fn apply(engine: &Engine, platform: &ChatbotPlatform) -> Result<PlatformState> {
    run(engine, platform, false).await
}

/// Finds the platform's resources and their ids without creating or changing
/// anything (no progress is reported): what deleting its chatbots needs.
pub async fn observe(engine: &Engine, platform: &ChatbotPlatform) -> Result<PlatformState> {
    run(engine, platform, true).await
}

async fn run(
    engine: &Engine,
    platform: &ChatbotPlatform,
    observe_only: bool,
) -> Result<PlatformState> {
    let aws = engine.aws(&platform.spec.region);
    let account = aws.account_id().await?;
    let zones = super::zones::resolve(&aws, platform, !observe_only).await?;
    let platform = &super::zones::with_zones(platform, zones);
    let desired = desired::desired(platform, &account);
    let scope = Scope {
        aws: &aws,
        owner: &desired.owner,
        tags: &desired.tags,
    };
    if !observe_only {
        check_certificate(&aws, platform, &account).await?;
        if let Network::Existing(existing) = &desired.network {
            check_existing_network(&aws, platform, &desired, &existing.vpc_id).await?;
        }
    }
    let mut pass = Pass {
        observe_only,
        ..Pass::default()
    };

    match &desired.network {
        Network::Managed(network) => {
            pass.step(&network.vpc, scope, engine).await?;
            for subnet in network
                .public_subnets
                .iter()
                .chain(&network.private_subnets)
            {
                pass.step(subnet, scope, engine).await?;
            }
            pass.step(&network.internet_gateway, scope, engine).await?;
            for nat in &network.nat_gateways {
                pass.step(&nat.elastic_ip(), scope, engine).await?;
                pass.step(nat, scope, engine).await?;
            }
            for table in &network.route_tables {
                pass.step(table, scope, engine).await?;
            }
        }
        Network::Existing(existing) => {
            pass.refs.insert(RefKey::VPC, existing.vpc_id.clone());
        }
    }
    // Every group before any rule: the rules refer to each other's groups.
    for group in &desired.security_groups {
        pass.step(group, scope, engine).await?;
    }
    for group in &desired.security_groups {
        pass.step(&SecurityGroupRules(group), scope, engine).await?;
    }
    for endpoint in &desired.vpc_endpoints {
        pass.step(endpoint, scope, engine).await?;
    }
    if let Some(load_balancer) = pass.step(&desired.load_balancer, scope, engine).await? {
        pass.refs
            .insert(RefKey::LOAD_BALANCER_DNS_NAME, load_balancer.dns_name);
    }
    for listener in &desired.listeners {
        pass.step(listener, scope, engine).await?;
    }
    pass.step(&desired.signed_out_rule, scope, engine).await?;
    pass.step(&desired.cluster, scope, engine).await?;
    pass.step(&desired.execution_role, scope, engine).await?;
    pass.step(&desired.attachments_bucket, scope, engine)
        .await?;
    if let Some(repository) = &desired.ecr_repository
        && let Some(observed) = pass.step(repository, scope, engine).await?
    {
        pass.refs
            .insert(RefKey::component(repository.uri_key()), observed.uri);
    }

    let status = status(platform, &desired, &pass, &account);
    Ok(PlatformState {
        desired,
        refs: pass.refs,
        waiting: pass.waiting,
        status,
    })
}

/// Refuses a certificate the HTTPS listener cannot use, before the platform's first
/// write: a mistyped ARN would otherwise fail only at CreateListener, after the VPC,
/// NAT gateways and load balancer had been created for nothing. The schema already
/// holds the ARN to the platform's region; this asks ACM that it exists in the
/// caller's account (a listener cannot use another account's certificate) and is
/// issued.
async fn check_certificate(
    aws: &crate::aws::Aws,
    platform: &ChatbotPlatform,
    account: &str,
) -> Result<()> {
    let arn = &platform.spec.load_balancer.certificate_arn;
    let refuse = |problem: String, heals: bool| {
        Err(crate::Error::Certificate {
            platform: platform.metadata.name.clone().unwrap_or_default(),
            arn: arn.clone(),
            problem,
            heals,
        })
    };
    // arn:partition:acm:region:account:certificate/id
    if let Some(owner) = arn.split(':').nth(4)
        && owner != account
    {
        return refuse(
            format!(
                "belongs to account {owner}, but the load balancer is in account {account} and can only use its own certificates"
            ),
            false,
        );
    }
    let described = match aws
        .acm
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
    {
        Ok(described) => described,
        Err(error) => {
            let error = crate::Error::from(error);
            return match error.class() {
                Some(ErrorClass::NotFound) => refuse(
                    format!("does not exist in {} (account {account})", aws.region),
                    false,
                ),
                _ => Err(error),
            };
        }
    };
    let status = described.certificate().and_then(|c| c.status()).cloned();
    match status {
        Some(CertificateStatus::Issued) => Ok(()),
        Some(CertificateStatus::PendingValidation) => refuse(
            "is still pending validation; the platform is applied once ACM has issued it".into(),
            true,
        ),
        Some(other) => refuse(
            format!(
                "is {}, and a load balancer can only serve an issued certificate",
                other.as_str()
            ),
            false,
        ),
        None => refuse("has no status in ACM's answer".into(), true),
    }
}

/// Refuses, before any write, an existing VPC that cannot take the platform's
/// private endpoints: an interface endpoint with private DNS needs the VPC's
/// `enableDnsSupport` and `enableDnsHostnames` on, and AWS allows one endpoint with
/// private DNS per service and VPC, so one that is not ours is in the way
/// ([Access an AWS service using an interface VPC
/// endpoint](https://docs.aws.amazon.com/vpc/latest/privatelink/create-interface-endpoint.html)).
async fn check_existing_network(
    aws: &crate::aws::Aws,
    platform: &ChatbotPlatform,
    desired: &PlatformDesired,
    vpc: &str,
) -> Result<()> {
    use aws_sdk_ec2::types::{Filter, VpcAttributeName};
    let refuse = |problem: String| {
        Err(crate::Error::ExistingNetwork {
            platform: platform.metadata.name.clone().unwrap_or_default(),
            vpc: vpc.to_string(),
            problem,
        })
    };
    let private_dns: Vec<&str> = desired
        .vpc_endpoints
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                desired::EndpointKind::Interface {
                    private_dns: true,
                    ..
                }
            )
        })
        .map(|e| e.service_name.as_str())
        .collect();
    if private_dns.is_empty() {
        return Ok(());
    }
    for (attribute, name) in [
        (VpcAttributeName::EnableDnsSupport, "enableDnsSupport"),
        (VpcAttributeName::EnableDnsHostnames, "enableDnsHostnames"),
    ] {
        let described = aws
            .ec2
            .describe_vpc_attribute()
            .vpc_id(vpc)
            .attribute(attribute.clone())
            .send()
            .await
            .map_err(crate::Error::from);
        let described = match described {
            Err(error) if error.class() == Some(ErrorClass::NotFound) => {
                return refuse(format!("does not exist in {}", aws.region));
            }
            other => other?,
        };
        let on = match attribute {
            VpcAttributeName::EnableDnsSupport => described.enable_dns_support(),
            _ => described.enable_dns_hostnames(),
        }
        .and_then(|v| v.value())
        .unwrap_or(false);
        if !on {
            return refuse(format!(
                "has {name} off, and the private Bedrock endpoint's DNS name only resolves inside a VPC with DNS support and DNS hostnames on: `aws ec2 modify-vpc-attribute --vpc-id {vpc} --{} '{{\"Value\":true}}'`",
                if name == "enableDnsSupport" {
                    "enable-dns-support"
                } else {
                    "enable-dns-hostnames"
                }
            ));
        }
    }
    let owner = desired.owner.to_string();
    let found = aws
        .ec2
        .describe_vpc_endpoints()
        .filters(Filter::builder().name("vpc-id").values(vpc).build())
        .filters(
            Filter::builder()
                .name("service-name")
                .set_values(Some(private_dns.iter().map(ToString::to_string).collect()))
                .build(),
        )
        .send()
        .await?;
    // AWS writes endpoint states in lower case ("available", "deleting"), not
    // as the SDK's enum spells them.
    let gone = ["deleting", "deleted", "rejected", "failed", "expired"];
    for endpoint in found.vpc_endpoints() {
        let ours = endpoint
            .tags()
            .iter()
            .any(|t| t.key() == Some(crate::desired::TAG_OWNER) && t.value() == Some(&owner));
        let live = endpoint
            .state()
            .is_none_or(|state| !gone.contains(&state.as_str().to_ascii_lowercase().as_str()));
        if !ours && live && endpoint.private_dns_enabled() == Some(true) {
            return refuse(format!(
                "already has endpoint {} for {} with private DNS, and AWS allows one per service and VPC: delete it, or turn off its private DNS",
                endpoint.vpc_endpoint_id().unwrap_or("?"),
                endpoint.service_name().unwrap_or("?"),
            ));
        }
    }
    Ok(())
}

/// Deletes the platform's resources in reverse dependency order, one pass; with
/// `deletionPolicy: Retain`, reports them as retained and deletes nothing.
pub async fn delete(engine: &Engine, platform: &ChatbotPlatform) -> Result<Deletion> {
    let aws = engine.aws(&platform.spec.region);
    let account = aws.account_id().await?;
    let zones = super::zones::resolve(&aws, platform, false).await?;
    let platform = &super::zones::with_zones(platform, zones);
    let desired = desired::desired(platform, &account);
    let Some(scope) = deletion_scope(
        engine,
        &aws,
        &desired.owner,
        &desired.tags,
        desired.deletion_policy,
    ) else {
        return Ok(Deletion::default());
    };

    // Deletion runs in stages; a stage starts only once everything before it is
    // gone, since AWS refuses to delete what something still uses (a security
    // group with ENIs of an endpoint or load balancer being deleted, a subnet with
    // a NAT gateway, an Elastic IP still associated).
    let mut refs = Refs::default();
    if let Some(load_balancer) = find(&desired.load_balancer, scope.with(&refs)).await? {
        refs.record(&desired.load_balancer, load_balancer.arn);
        // The listener the platform's rule is found on.
        for listener in &desired.listeners {
            if let Some(found) = find(listener, scope.with(&refs)).await? {
                refs.record(listener, found.arn);
            }
        }
    }
    let mut teardown = Teardown::new(scope, &refs, engine);
    if let Some(repository) = &desired.ecr_repository {
        teardown.remove(repository).await?;
    }
    // Emptied, then deleted (its chatbots are gone: the platform waits for them).
    teardown.remove(&desired.attachments_bucket).await?;
    teardown.remove(&desired.execution_role).await?;
    teardown.remove(&desired.cluster).await?;
    teardown.remove(&desired.signed_out_rule).await?;
    for listener in desired.listeners.iter().rev() {
        teardown.remove(listener).await?;
    }
    teardown.remove(&desired.load_balancer).await?;
    for endpoint in desired.vpc_endpoints.iter().rev() {
        teardown.remove(endpoint).await?;
    }
    if !teardown.is_done() {
        return Ok(teardown.finish());
    }

    // Rules first: a rule naming another group keeps that group from going.
    for group in desired.security_groups.iter().rev() {
        teardown.remove(&SecurityGroupRules(group)).await?;
    }
    for group in desired.security_groups.iter().rev() {
        teardown.remove(group).await?;
    }
    let Network::Managed(network) = &desired.network else {
        // An existing network is the user's: nothing of it is ours to delete.
        return Ok(teardown.finish());
    };
    if !teardown.is_done() {
        return Ok(teardown.finish());
    }

    for table in network.route_tables.iter().rev() {
        teardown.remove(table).await?;
    }
    for nat in network.nat_gateways.iter().rev() {
        teardown.remove(nat).await?;
    }
    if !teardown.is_done() {
        return Ok(teardown.finish());
    }

    // An Elastic IP may go only once its NAT gateway reads `deleted`; the internet
    // gateway detaches only once no public address is mapped in the VPC.
    for nat in network.nat_gateways.iter().rev() {
        teardown.remove(&nat.elastic_ip()).await?;
    }
    teardown.remove(&network.internet_gateway).await?;
    if !teardown.is_done() {
        return Ok(teardown.finish());
    }

    for subnet in network
        .private_subnets
        .iter()
        .chain(&network.public_subnets)
        .rev()
    {
        teardown.remove(subnet).await?;
    }
    if !teardown.is_done() {
        return Ok(teardown.finish());
    }
    teardown.remove(&network.vpc).await?;
    Ok(teardown.finish())
}

fn status(
    platform: &ChatbotPlatform,
    desired: &PlatformDesired,
    pass: &Pass,
    account: &str,
) -> ChatbotPlatformStatus {
    let generation = platform.metadata.generation;
    let previous = platform.status.clone().unwrap_or_default();
    let refs = &pass.refs;
    let get = |key: RefKey| refs.get(&key).map(str::to_string);
    let subnets = |subnets: &[desired::Subnet]| {
        subnets
            .iter()
            .filter_map(|s| refs.of(s).map(str::to_string))
            .collect()
    };
    let (public, private) = match &desired.network {
        Network::Managed(n) => (subnets(&n.public_subnets), subnets(&n.private_subnets)),
        Network::Existing(e) => (e.public_subnet_ids.clone(), e.private_subnet_ids.clone()),
    };
    let mut status = ChatbotPlatformStatus {
        observed_generation: generation,
        conditions: previous.conditions,
        account_id: Some(account.to_string()),
        vpc_id: get(RefKey::VPC),
        public_subnet_ids: public,
        private_subnet_ids: private,
        availability_zones: match &desired.network {
            Network::Managed(n) => n
                .public_subnets
                .iter()
                .map(|s| s.availability_zone.clone())
                .collect(),
            Network::Existing(_) => Vec::new(),
        },
        load_balancer_security_group_id: get(RefKey::component(desired::LOAD_BALANCER_SG)),
        tasks_security_group_id: get(RefKey::component(desired::TASKS_SG)),
        endpoints_security_group_id: get(RefKey::component(desired::ENDPOINTS_SG)),
        vpc_endpoint_ids: desired
            .vpc_endpoints
            .iter()
            .filter_map(|e| refs.of(e).map(str::to_string))
            .collect(),
        nat_gateway_ids: match &desired.network {
            Network::Managed(n) => n
                .nat_gateways
                .iter()
                .filter_map(|g| refs.of(g).map(str::to_string))
                .collect(),
            Network::Existing(_) => Vec::new(),
        },
        load_balancer_arn: get(RefKey::LOAD_BALANCER),
        load_balancer_dns_name: get(RefKey::LOAD_BALANCER_DNS_NAME),
        https_listener_arn: get(RefKey::HTTPS_LISTENER),
        cluster_arn: get(RefKey::CLUSTER),
        execution_role_arn: get(RefKey::EXECUTION_ROLE),
        ecr_repository_uri: desired
            .ecr_repository
            .as_ref()
            .and_then(|r| get(RefKey::component(r.uri_key()))),
        attachments_bucket_name: refs.of(&desired.attachments_bucket).map(str::to_string),
    };
    let now = conditions::now();
    let (ready, reason, message) = if pass.waiting.is_empty() {
        (
            ConditionStatus::True,
            "Ready",
            "every AWS resource of the platform exists as specified".to_string(),
        )
    } else {
        (
            ConditionStatus::False,
            "Provisioning",
            pass.waiting.join("; "),
        )
    };
    conditions::set(
        &mut status.conditions,
        CONDITION_READY,
        ready,
        reason,
        message,
        generation,
        &now,
    );
    conditions::set(
        &mut status.conditions,
        CONDITION_SYNCED,
        ConditionStatus::True,
        "Converged",
        "the last pass applied the current spec",
        generation,
        &now,
    );
    let (degraded, reason, message) = match no_egress(platform) {
        Some(message) => (ConditionStatus::True, "NoEgress", message),
        None => (ConditionStatus::False, "Healthy", String::new()),
    };
    conditions::set(
        &mut status.conditions,
        CONDITION_DEGRADED,
        degraded,
        reason,
        message,
        generation,
        &now,
    );
    status
}

/// Why the platform's chatbots will refuse every request, if they will: without NAT
/// gateways a managed network's tasks cannot reach the load balancer's public-key
/// server (no VPC endpoint exists for it), so no sign-in can be verified. The
/// platform itself is fine, hence Degraded rather than not Ready.
fn no_egress(platform: &ChatbotPlatform) -> Option<String> {
    let managed = platform.spec.network.managed.as_ref()?;
    (managed.nat_gateways == NatGatewayMode::None).then(|| {
        format!(
            "natGateways is None: chatbot tasks cannot reach public-keys.auth.elb.{}.amazonaws.com \
             (no VPC endpoint exists for it) to verify the load balancer's sign-in tokens, so \
             they refuse every request unless the private subnets have a way out you added \
             (a transit gateway route, say); otherwise use Single or PerZone",
            platform.spec.region
        )
    })
}
