//! One pass over a platform: converge its resources in dependency order, or delete
//! them in reverse order.

use aws_sdk_acm::types::CertificateStatus;
use aws_sdk_ec2::types::{Filter, VpcAttributeName};
use bedrock_chatbot_crds::{
    CONDITION_DEGRADED, CONDITION_READY, CONDITION_SYNCED, ChatbotPlatform, ChatbotPlatformStatus,
    Condition, NatGatewayMode,
};

pub use super::Deletion;
use super::conditions::{self, Stamp, Verdict};
use super::find;
use super::{Engine, Pass, Teardown, deletion_scope};
use crate::Result;
use crate::aws::ErrorClass;
use crate::desired::RefKey;
use crate::desired::platform::{self as desired, Network, PlatformDesired};
use crate::resources::security_group::SecurityGroupRules;
use crate::resources::{Refs, Resource, Scope};

/// Where a platform stands after a pass.
#[derive(Clone, Debug)]
pub struct PlatformState {
    /// The spec as this pass applied it, with its availability zones resolved.
    pub desired: PlatformDesired,
    /// Ids and ARNs of what exists, by component key: what the platform's
    /// chatbots are converged against.
    pub refs: Refs,
    /// What is not ready yet, in words (empty: Ready).
    pub waiting: Vec<String>,
    /// The object's new status, from its previous conditions: the controller
    /// writes it to the status subresource, the file mode puts it in its report.
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

/// One pass over the platform: converges it, or (`observe_only`) only finds its
/// resources and their ids. Before a converging pass writes anything, the
/// certificate and an existing network are checked to be usable.
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

    converge_network(&desired.network, scope, &mut pass, engine).await?;
    converge_security_groups(&desired, scope, &mut pass, engine).await?;
    for endpoint in &desired.vpc_endpoints {
        pass.step(endpoint, scope, engine).await?;
    }
    converge_load_balancer(&desired, scope, &mut pass, engine).await?;
    converge_chatbot_hosting(&desired, scope, &mut pass, engine).await?;

    let status = status(platform, &desired, &pass, &account);
    Ok(PlatformState {
        desired,
        refs: pass.refs,
        waiting: pass.waiting,
        status,
    })
}

/// Converges a managed network: the VPC, its subnets, the internet gateway, the
/// NAT gateways with their Elastic IPs, and the route tables. An existing network
/// is only noted: its VPC id is the spec's.
async fn converge_network(
    network: &Network,
    scope: Scope<'_>,
    pass: &mut Pass,
    engine: &Engine,
) -> Result<()> {
    let network = match network {
        Network::Managed(network) => network,
        Network::Existing(existing) => {
            pass.refs.insert(RefKey::VPC, existing.vpc_id.clone());
            return Ok(());
        }
    };
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
    Ok(())
}

/// Converges every security group before any of their rules: the rules refer to
/// each other's groups.
async fn converge_security_groups(
    desired: &PlatformDesired,
    scope: Scope<'_>,
    pass: &mut Pass,
    engine: &Engine,
) -> Result<()> {
    for group in &desired.security_groups {
        pass.step(group, scope, engine).await?;
    }
    for group in &desired.security_groups {
        pass.step(&SecurityGroupRules(group), scope, engine).await?;
    }
    Ok(())
}

/// Converges the load balancer (noting its DNS name), its listeners, and the
/// `/signed-out` page it answers itself for every chatbot.
async fn converge_load_balancer(
    desired: &PlatformDesired,
    scope: Scope<'_>,
    pass: &mut Pass,
    engine: &Engine,
) -> Result<()> {
    if let Some(load_balancer) = pass.step(&desired.load_balancer, scope, engine).await? {
        pass.refs
            .insert(RefKey::LOAD_BALANCER_DNS_NAME, load_balancer.dns_name);
    }
    for listener in &desired.listeners {
        pass.step(listener, scope, engine).await?;
    }
    pass.step(&desired.signed_out_rule, scope, engine).await?;
    Ok(())
}

/// Converges what the chatbots run on and share: the ECS cluster, the tasks'
/// execution role, the attachments bucket and, when asked for, the image
/// repository (noting its URI).
async fn converge_chatbot_hosting(
    desired: &PlatformDesired,
    scope: Scope<'_>,
    pass: &mut Pass,
    engine: &Engine,
) -> Result<()> {
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
    Ok(())
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
    let private_dns = private_dns_services(desired);
    if private_dns.is_empty() {
        return Ok(());
    }
    let problem = match dns_problem(aws, vpc).await? {
        Some(problem) => Some(problem),
        None => foreign_endpoint(aws, desired, vpc, &private_dns).await?,
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(crate::Error::ExistingNetwork {
            platform: platform.metadata.name.clone().unwrap_or_default(),
            vpc: vpc.to_string(),
            problem,
        }),
    }
}

/// The services of the platform's interface endpoints with private DNS.
fn private_dns_services(desired: &PlatformDesired) -> Vec<&str> {
    desired
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
        .collect()
}

/// Why `vpc` cannot resolve private endpoints' DNS names, if it cannot: it does
/// not exist, or has DNS support or DNS hostnames off.
async fn dns_problem(aws: &crate::aws::Aws, vpc: &str) -> Result<Option<String>> {
    for (attribute, name, flag) in [
        (
            VpcAttributeName::EnableDnsSupport,
            "enableDnsSupport",
            "enable-dns-support",
        ),
        (
            VpcAttributeName::EnableDnsHostnames,
            "enableDnsHostnames",
            "enable-dns-hostnames",
        ),
    ] {
        let on = match crate::resources::vpc::attribute(aws, vpc, attribute).await {
            Err(error) if error.class() == Some(ErrorClass::NotFound) => {
                return Ok(Some(format!("does not exist in {}", aws.region)));
            }
            other => other?,
        };
        if !on {
            return Ok(Some(format!(
                "has {name} off, and the private Bedrock endpoint's DNS name only resolves inside a VPC with DNS support and DNS hostnames on: `aws ec2 modify-vpc-attribute --vpc-id {vpc} --{flag} '{{\"Value\":true}}'`"
            )));
        }
    }
    Ok(None)
}

/// The live endpoint with private DNS for one of `services` in `vpc` that is not
/// the platform's, if there is one, as why the platform cannot add its own.
async fn foreign_endpoint(
    aws: &crate::aws::Aws,
    desired: &PlatformDesired,
    vpc: &str,
    services: &[&str],
) -> Result<Option<String>> {
    let owner = desired.owner.to_string();
    let found = aws
        .ec2
        .describe_vpc_endpoints()
        .filters(Filter::builder().name("vpc-id").values(vpc).build())
        .filters(
            Filter::builder()
                .name("service-name")
                .set_values(Some(services.iter().map(ToString::to_string).collect()))
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
            return Ok(Some(format!(
                "already has endpoint {} for {} with private DNS, and AWS allows one per service and VPC: delete it, or turn off its private DNS",
                endpoint.vpc_endpoint_id().unwrap_or("?"),
                endpoint.service_name().unwrap_or("?"),
            )));
        }
    }
    Ok(None)
}

/// Deletes the platform's resources in reverse dependency order, one pass; with
/// `deletionPolicy: Retain`, reports them as retained and deletes nothing.
///
/// Deletion runs in stages; a stage starts only once everything before it is
/// gone, since AWS refuses to delete what something still uses (a security group
/// with ENIs of an endpoint or load balancer being deleted, a subnet with a NAT
/// gateway, an Elastic IP still associated).
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

    let refs = deletion_refs(&desired, scope).await?;
    let mut teardown = Teardown::new(scope, &refs, engine);
    remove_above_network(&mut teardown, &desired).await?;
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
    if teardown.is_done() {
        remove_managed_network(&mut teardown, network).await?;
    }
    Ok(teardown.finish())
}

/// The ids deletion finds the platform's resources by: the load balancer's and
/// its listeners' (the platform's rule is found on a listener).
async fn deletion_refs(desired: &PlatformDesired, scope: Scope<'_>) -> Result<Refs> {
    let mut refs = Refs::default();
    if let Some(load_balancer) = find(&desired.load_balancer, scope.with(&refs)).await? {
        refs.record(&desired.load_balancer, load_balancer.arn);
        for listener in &desired.listeners {
            if let Some(found) = find(listener, scope.with(&refs)).await? {
                refs.record(listener, found.arn);
            }
        }
    }
    Ok(refs)
}

/// The first stage: everything that stands on the network, from the image
/// repository down to the load balancer and the VPC endpoints.
async fn remove_above_network(
    teardown: &mut Teardown<'_>,
    desired: &PlatformDesired,
) -> Result<()> {
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
    Ok(())
}

/// The last stages, once the security groups are gone: a managed network from
/// its route tables and NAT gateways down to the VPC, each stage waiting for the
/// one before it.
async fn remove_managed_network(
    teardown: &mut Teardown<'_>,
    network: &desired::ManagedNetworkDesired,
) -> Result<()> {
    for table in network.route_tables.iter().rev() {
        teardown.remove(table).await?;
    }
    for nat in network.nat_gateways.iter().rev() {
        teardown.remove(nat).await?;
    }
    if !teardown.is_done() {
        return Ok(());
    }

    // An Elastic IP may go only once its NAT gateway reads `deleted`; the internet
    // gateway detaches only once no public address is mapped in the VPC.
    for nat in network.nat_gateways.iter().rev() {
        teardown.remove(&nat.elastic_ip()).await?;
    }
    teardown.remove(&network.internet_gateway).await?;
    if !teardown.is_done() {
        return Ok(());
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
        return Ok(());
    }
    teardown.remove(&network.vpc).await?;
    Ok(())
}

/// The platform's status after `pass`: the ids of what exists, in the account
/// `account`, and the Ready, Synced and Degraded conditions.
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
    let network = NetworkIds::of(&desired.network, refs);
    let mut status = ChatbotPlatformStatus {
        observed_generation: generation,
        conditions: previous.conditions,
        account_id: Some(account.to_string()),
        vpc_id: get(RefKey::VPC),
        public_subnet_ids: network.public_subnets,
        private_subnet_ids: network.private_subnets,
        availability_zones: network.availability_zones,
        load_balancer_security_group_id: get(RefKey::component(desired::LOAD_BALANCER_SG)),
        tasks_security_group_id: get(RefKey::component(desired::TASKS_SG)),
        endpoints_security_group_id: get(RefKey::component(desired::ENDPOINTS_SG)),
        vpc_endpoint_ids: ids_of(&desired.vpc_endpoints, refs),
        nat_gateway_ids: network.nat_gateways,
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
    set_conditions(&mut status.conditions, platform, &pass.waiting, generation);
    status
}

/// The network's part of the status. A managed network's subnets and NAT
/// gateways are those that exist, in zone order; an existing network's subnets
/// are the spec's, and its zones and gateways are not the platform's to show.
#[derive(Default)]
struct NetworkIds {
    public_subnets: Vec<String>,
    private_subnets: Vec<String>,
    /// The managed network's zones, one per public subnet.
    availability_zones: Vec<String>,
    nat_gateways: Vec<String>,
}

impl NetworkIds {
    fn of(network: &Network, refs: &Refs) -> Self {
        match network {
            Network::Managed(n) => Self {
                public_subnets: ids_of(&n.public_subnets, refs),
                private_subnets: ids_of(&n.private_subnets, refs),
                availability_zones: n
                    .public_subnets
                    .iter()
                    .map(|s| s.availability_zone.clone())
                    .collect(),
                nat_gateways: ids_of(&n.nat_gateways, refs),
            },
            Network::Existing(e) => Self {
                public_subnets: e.public_subnet_ids.clone(),
                private_subnets: e.private_subnet_ids.clone(),
                ..Self::default()
            },
        }
    }
}

/// The ids of those of `resources` that exist, in their order.
fn ids_of<R: Resource>(resources: &[R], refs: &Refs) -> Vec<String> {
    resources
        .iter()
        .filter_map(|r| refs.of(r).map(str::to_string))
        .collect()
}

/// Sets Ready from what is `waiting`, Synced (a pass that ran applied the current
/// spec) and Degraded when the chatbots will have no way out (see [`no_egress`]).
fn set_conditions(
    conditions: &mut Vec<Condition>,
    platform: &ChatbotPlatform,
    waiting: &[String],
    generation: Option<i64>,
) {
    let stamp = Stamp::now(generation);
    let ready = if waiting.is_empty() {
        Verdict::holds(
            "Ready",
            "every AWS resource of the platform exists as specified",
        )
    } else {
        Verdict::fails("Provisioning", waiting.join("; "))
    };
    conditions::set(conditions, CONDITION_READY, ready, &stamp);
    let synced = Verdict::holds("Converged", "the last pass applied the current spec");
    conditions::set(conditions, CONDITION_SYNCED, synced, &stamp);
    let degraded = match no_egress(platform) {
        Some(message) => Verdict::holds("NoEgress", message),
        None => Verdict::fails("Healthy", ""),
    };
    conditions::set(conditions, CONDITION_DEGRADED, degraded, &stamp);
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
