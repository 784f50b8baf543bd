//! Crash at every step: `apply` and `delete` are killed right after their k-th AWS
//! write, for every k of a full platform + team run, and rerun by a fresh engine
//! (new clients, nothing in memory). The rerun must reach exactly the end state of
//! a run that never crashed: one of each resource, nothing untagged or orphaned,
//! and after `delete` nothing at all.
//!
//! Where the emulator differs from AWS: moto ignores client tokens, so the proxies
//! here remember them per account as AWS does ([`ClientTokens`]); moto finishes
//! NAT gateway, endpoint and load balancer deletions at once, so a crash while
//! AWS is still deleting is not shown here; and moto leaves a deleted NAT
//! gateway's Elastic IP associated, which one test undoes as AWS would.
//!
//! The kill: a [`CrashProxy`] between the engine and the emulator holds every
//! request that arrives once the engine's call log shows k writes, so AWS sees
//! exactly the first k writes (and the reads before them); the run, waiting at an
//! await point, is then dropped — what a killed process looks like to AWS. Each
//! crash point runs in an emulator account of its own (moto's
//! `x-moto-account-id`), several at a time on two emulators (one moto uses one
//! core).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::Filter;
use futures_util::StreamExt;
use operator::aws::{Aws, CallLog};
use operator::engine::Engine;
use operator::file_mode::{self, ReadyWhen, Timing};
use operator::manifest::{self, Manifests};
use support::inventory::{Inventory, expected, inventory};
use testkit::{ClientTokens, CrashProxy, Moto};

const REGION: &str = "us-west-2";

/// The reference platform (`examples/platform.yaml`: managed network, NAT per zone,
/// ALB with both listeners, three security groups, the Bedrock endpoint, cluster,
/// execution role, ECR repository) and team B of `examples/teams.yaml` (user pool,
/// domain, client, target group, rule with a fixed priority, log group, task role,
/// task definition, service and auto scaling): every resource type there is.
fn manifests(certificate: &str) -> Manifests {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let platform = std::fs::read_to_string(dir.join("platform.yaml"))
        .unwrap()
        .replace(
            "arn:aws:acm:us-west-2:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef",
            certificate,
        );
    let teams = std::fs::read_to_string(dir.join("teams.yaml")).unwrap();
    let team_b = teams.split("\n---\n").next().unwrap();
    assert!(team_b.contains("scaling:") && team_b.contains("team-b"));
    manifest::load_str(
        Path::new("crash.yaml"),
        &format!("{platform}\n---\n{team_b}"),
    )
    .unwrap()
}

const TEAM: &str = "BedrockChatbot/team-b/assistant";

fn timing() -> Timing {
    Timing {
        timeout: Duration::from_secs(120),
        interval: Duration::from_millis(50),
        ready_when: ReadyWhen::Converged,
    }
}

fn writes(calls: &CallLog) -> usize {
    calls.calls().iter().filter(|c| c.is_write()).count()
}

/// The emulators, shared by every crash point; each gets an account of its own.
struct World {
    motos: Vec<Moto>,
}

/// One emulated account and the manifests for it (with its certificate).
struct Account {
    id: String,
    manifests: Manifests,
    /// The client tokens AWS would remember in this account (moto does not).
    tokens: ClientTokens,
}

impl World {
    /// The emulator that holds `account`.
    fn moto(&self, account: &str) -> &Moto {
        let n: usize = account.parse().unwrap();
        &self.motos[n % self.motos.len()]
    }

    /// A fresh account for crash point `k`, on one of the emulators.
    fn account(&self, k: usize) -> Account {
        let id = format!("{:012}", 100_000 + k);
        let certificate = self
            .moto(&id)
            .certificate_in("*.example.com", REGION, Some(&id))
            .unwrap();
        Account {
            id,
            manifests: manifests(&certificate),
            tokens: ClientTokens::default(),
        }
    }

    /// An engine that talks to `account` through a proxy that kills it after
    /// `crash_after` writes (never, with `None`). Keep the proxy while the engine
    /// is used.
    async fn engine(&self, account: &Account, crash_after: Option<usize>) -> (Engine, CrashProxy) {
        let log: Arc<OnceLock<CallLog>> = Arc::default();
        let crashed = {
            let log = log.clone();
            move || match (crash_after, log.get()) {
                (Some(k), Some(log)) => writes(log) >= k,
                _ => false,
            }
        };
        let proxy = CrashProxy::start(
            &self.moto(&account.id).endpoint(),
            Some(&account.id),
            Some(account.tokens.clone()),
            Arc::new(crashed),
        )
        .await
        .unwrap();
        let sdk = self
            .moto(&account.id)
            .sdk_config(REGION)
            .into_builder()
            .endpoint_url(proxy.endpoint())
            .build();
        let engine = Engine::new(sdk, Arc::new(support::Recorder::default()));
        log.set(engine.calls().clone()).unwrap();
        (engine, proxy)
    }

    /// Runs `apply` (or `delete`) in `account` and kills it right after its k-th
    /// write. Returns whether it was killed (a run with exactly k writes may end
    /// on its own before making another call).
    async fn crash(&self, account: &Account, k: usize, op: Op) -> bool {
        let (engine, proxy) = self.engine(account, Some(k)).await;
        let run = async {
            match op {
                Op::Apply => file_mode::apply(&engine, &account.manifests, timing())
                    .await
                    .map(|r| r.not_ready.is_empty()),
                Op::Delete => file_mode::delete(&engine, &account.manifests, timing())
                    .await
                    .map(|r| r.is_empty()),
            }
        };
        tokio::select! {
            // Dropping the run at the await point where it waits is the kill.
            () = proxy.held() => {
                assert_eq!(writes(engine.calls()), k, "{op:?} in {} crashed after the wrong write", account.id);
                true
            }
            finished = run => {
                let done = finished.unwrap();
                assert!(done && writes(engine.calls()) == k, "{op:?} in {} ended before its write {k}", account.id);
                false
            }
        }
    }

    /// `apply` to the end with a fresh engine. Returns its writes.
    async fn apply(&self, account: &Account) -> usize {
        let (engine, _proxy) = self.engine(account, None).await;
        let report = file_mode::apply(&engine, &account.manifests, timing())
            .await
            .unwrap_or_else(|e| panic!("apply in {}: {e}", account.id));
        assert!(
            report.not_ready.is_empty(),
            "{}: {:?}",
            account.id,
            report.not_ready
        );
        writes(engine.calls())
    }

    /// `delete` to the end with a fresh engine. Returns its writes, in order.
    async fn delete(&self, account: &Account) -> Vec<String> {
        let (engine, _proxy) = self.engine(account, None).await;
        let remaining = file_mode::delete(&engine, &account.manifests, timing())
            .await
            .unwrap_or_else(|e| panic!("delete in {}: {e}", account.id));
        assert!(remaining.is_empty(), "{}: {remaining:?}", account.id);
        engine
            .calls()
            .calls()
            .into_iter()
            .filter(|c| c.is_write())
            .map(|c| c.operation)
            .collect()
    }

    /// What AWS does once a NAT gateway is deleted and moto does not: its
    /// Elastic IP is disassociated (moto keeps it associated, so no new gateway
    /// could use it).
    async fn disassociate_deleted_gateways_addresses(&self, account: &Account) {
        let (engine, _proxy) = self.engine(account, None).await;
        let ec2 = &engine.aws(REGION).ec2;
        let gateways = ec2.describe_nat_gateways().send().await.unwrap();
        for gateway in gateways.nat_gateways() {
            let deleted = gateway
                .state()
                .is_some_and(|s| s.as_str().eq_ignore_ascii_case("deleted"));
            for address in gateway.nat_gateway_addresses() {
                let Some(allocation) = address.allocation_id().filter(|_| deleted) else {
                    continue;
                };
                let found = ec2
                    .describe_addresses()
                    .allocation_ids(allocation)
                    .send()
                    .await
                    .unwrap();
                for association in found.addresses().iter().filter_map(|a| a.association_id()) {
                    ec2.disassociate_address()
                        .association_id(association)
                        .send()
                        .await
                        .unwrap();
                }
            }
        }
    }

    /// What `account` holds: by owner tag, and everything whatever its tags.
    async fn state(&self, account: &Account) -> (Inventory, Census) {
        let (engine, _proxy) = self.engine(account, None).await;
        let aws = engine.aws(REGION);
        (inventory(&aws).await, census(&aws).await)
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Apply,
    Delete,
}

/// Everything in an account by kind, tags or not, AWS's own defaults (default VPC,
/// main route tables, default security groups) left out: an untagged twin or a
/// half-made resource shows up here even where the owner-tag inventory is blind.
type Census = BTreeMap<&'static str, usize>;

async fn census(aws: &Aws) -> Census {
    let mut found = Census::new();
    let mut add = |kind: &'static str, n: usize| {
        if n > 0 {
            *found.entry(kind).or_default() += n;
        }
    };
    let ec2 = &aws.ec2;
    let vpcs = ec2.describe_vpcs().send().await.unwrap();
    let default_vpcs: Vec<String> = vpcs
        .vpcs()
        .iter()
        .filter(|v| v.is_default() == Some(true))
        .map(|v| v.vpc_id().unwrap().to_string())
        .collect();
    let ours = |vpc: Option<&str>| vpc.is_none_or(|v| !default_vpcs.iter().any(|d| d == v));
    add("vpc", vpcs.vpcs().len() - default_vpcs.len());
    let subnets = ec2.describe_subnets().send().await.unwrap();
    add(
        "subnet",
        subnets
            .subnets()
            .iter()
            .filter(|s| ours(s.vpc_id()))
            .count(),
    );
    let gateways = ec2.describe_internet_gateways().send().await.unwrap();
    for gateway in gateways.internet_gateways() {
        if gateway.attachments().iter().all(|a| ours(a.vpc_id())) {
            add("internet gateway", 1);
            add("internet gateway attachment", gateway.attachments().len());
        }
    }
    let nats = ec2.describe_nat_gateways().send().await.unwrap();
    add(
        "NAT gateway",
        nats.nat_gateways()
            .iter()
            .filter(|n| {
                n.state()
                    .is_none_or(|s| !s.as_str().eq_ignore_ascii_case("deleted"))
            })
            .count(),
    );
    let addresses = ec2.describe_addresses().send().await.unwrap();
    add("Elastic IP", addresses.addresses().len());
    add(
        "Elastic IP association",
        addresses
            .addresses()
            .iter()
            .filter(|a| a.association_id().is_some())
            .count(),
    );
    let tables = ec2.describe_route_tables().send().await.unwrap();
    for table in tables.route_tables() {
        let main = table.associations().iter().any(|a| a.main() == Some(true));
        if main || !ours(table.vpc_id()) {
            continue;
        }
        add("route table", 1);
        add("route table association", table.associations().len());
        add(
            "route",
            table
                .routes()
                .iter()
                .filter(|r| r.gateway_id() != Some("local"))
                .count(),
        );
    }
    let groups = ec2.describe_security_groups().send().await.unwrap();
    for group in groups.security_groups() {
        if group.group_name() == Some("default") {
            continue;
        }
        add("security group", 1);
        let rules = |permissions: &[aws_sdk_ec2::types::IpPermission]| {
            permissions
                .iter()
                .map(|p| p.ip_ranges().len() + p.user_id_group_pairs().len())
                .sum::<usize>()
        };
        add("security group ingress rule", rules(group.ip_permissions()));
        add(
            "security group egress rule",
            rules(group.ip_permissions_egress()),
        );
    }
    let endpoints = ec2
        .describe_vpc_endpoints()
        .filters(
            Filter::builder()
                .name("vpc-endpoint-state")
                .values("available")
                .values("pending")
                .values("pendingAcceptance")
                .build(),
        )
        .send()
        .await
        .unwrap();
    add("VPC endpoint", endpoints.vpc_endpoints().len());

    let elb = &aws.elbv2;
    let balancers = elb.describe_load_balancers().send().await.unwrap();
    for balancer in balancers.load_balancers() {
        add("load balancer", 1);
        let listeners = elb
            .describe_listeners()
            .load_balancer_arn(balancer.load_balancer_arn().unwrap())
            .send()
            .await
            .unwrap();
        for listener in listeners.listeners() {
            add("listener", 1);
            let rules = elb
                .describe_rules()
                .listener_arn(listener.listener_arn().unwrap())
                .send()
                .await
                .unwrap();
            add(
                "listener rule",
                rules
                    .rules()
                    .iter()
                    .filter(|r| r.is_default() != Some(true))
                    .count(),
            );
        }
    }
    let target_groups = elb.describe_target_groups().send().await.unwrap();
    add("target group", target_groups.target_groups().len());

    let ecs = &aws.ecs;
    let clusters = ecs.list_clusters().send().await.unwrap();
    for cluster in clusters.cluster_arns() {
        let described = ecs
            .describe_clusters()
            .clusters(cluster)
            .send()
            .await
            .unwrap();
        if described.clusters()[0].status() != Some("ACTIVE") {
            continue;
        }
        add("ECS cluster", 1);
        let services = ecs.list_services().cluster(cluster).send().await.unwrap();
        if services.service_arns().is_empty() {
            continue;
        }
        let described = ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(services.service_arns().to_vec()))
            .send()
            .await
            .unwrap();
        add(
            "ECS service",
            described
                .services()
                .iter()
                .filter(|s| s.status() == Some("ACTIVE"))
                .count(),
        );
    }
    let definitions = ecs
        .list_task_definitions()
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    add("task definition", definitions.task_definition_arns().len());

    let roles = aws.iam.list_roles().send().await.unwrap();
    for role in roles.roles() {
        add("IAM role", 1);
        let inline = aws
            .iam
            .list_role_policies()
            .role_name(role.role_name())
            .send()
            .await
            .unwrap();
        add("IAM inline policy", inline.policy_names().len());
        let attached = aws
            .iam
            .list_attached_role_policies()
            .role_name(role.role_name())
            .send()
            .await
            .unwrap();
        add("IAM attached policy", attached.attached_policies().len());
    }

    let cognito = &aws.cognito;
    let pools = cognito
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .unwrap();
    for pool in pools.user_pools() {
        add("user pool", 1);
        let id = pool.id().unwrap();
        let described = cognito
            .describe_user_pool()
            .user_pool_id(id)
            .send()
            .await
            .unwrap();
        if described.user_pool().and_then(|p| p.domain()).is_some() {
            add("user pool domain", 1);
        }
        let clients = cognito
            .list_user_pool_clients()
            .user_pool_id(id)
            .max_results(60)
            .send()
            .await
            .unwrap();
        add("user pool client", clients.user_pool_clients().len());
    }

    let groups = aws.logs.describe_log_groups().send().await.unwrap();
    add("log group", groups.log_groups().len());
    let repositories = aws.ecr.describe_repositories().send().await.unwrap();
    add("ECR repository", repositories.repositories().len());

    let namespace = aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs;
    let targets = aws
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(namespace.clone())
        .send()
        .await
        .unwrap();
    add("scalable target", targets.scalable_targets().len());
    let policies = aws
        .autoscaling
        .describe_scaling_policies()
        .service_namespace(namespace)
        .send()
        .await
        .unwrap();
    add("scaling policy", policies.scaling_policies().len());
    found
}

async fn world() -> World {
    World {
        motos: vec![Moto::start().unwrap(), Moto::start().unwrap()],
    }
}

/// Crash points run this many at a time (in this task: the runs wait on the
/// emulators, not on the CPU).
const PARALLEL: usize = 4;

/// Every crash point of `apply`, then of `delete`, each in an account of its own.
/// Account k first has `apply` killed after its k-th write and finished by a fresh
/// run; that converged state is where its `delete`, killed after its k-th write
/// and finished by a fresh run, starts from (an apply of its own would cost as
/// much again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_and_delete_killed_after_any_write_are_finished_by_a_fresh_run() {
    let world = world().await;
    let started = Instant::now();

    // A run that never crashes: how many writes each way, the end state to reach.
    let clean = world.account(0);
    let apply_writes = world.apply(&clean).await;
    let reference = world.state(&clean).await;
    assert_eq!(reference.0, expected("shared", &[TEAM.to_string()]));
    let delete_writes = world.delete(&clean).await.len();
    let (inventory, census) = world.state(&clean).await;
    assert!(
        inventory.is_empty() && census.is_empty(),
        "{inventory:?} {census:?}"
    );
    assert!(
        apply_writes > 40 && delete_writes > 30,
        "a full run writes much more than {apply_writes} / {delete_writes} times"
    );

    let killed = AtomicUsize::new(0);
    let points = (1..=apply_writes.max(delete_writes)).map(|k| {
        let (world, reference, killed) = (&world, &reference, &killed);
        async move {
            let account = world.account(k);
            let crash = if k <= apply_writes { Some(k) } else { None };
            if let Some(k) = crash
                && world.crash(&account, k, Op::Apply).await
            {
                killed.fetch_add(1, Ordering::Relaxed);
            }
            world.apply(&account).await;
            let (inventory, census) = world.state(&account).await;
            assert_eq!(
                inventory, reference.0,
                "inventory, apply crashed at {crash:?}"
            );
            assert_eq!(census, reference.1, "census, apply crashed at {crash:?}");
            // Nothing half-done either: another run finds nothing to change.
            assert_eq!(
                world.apply(&account).await,
                0,
                "drift, apply crashed at {crash:?}"
            );

            let crash = if k <= delete_writes { Some(k) } else { None };
            if let Some(k) = crash
                && world.crash(&account, k, Op::Delete).await
            {
                killed.fetch_add(1, Ordering::Relaxed);
            }
            world.delete(&account).await;
            let (inventory, census) = world.state(&account).await;
            assert!(
                inventory.is_empty(),
                "delete crashed at {crash:?} left {inventory:?}"
            );
            assert!(
                census.is_empty(),
                "delete crashed at {crash:?} left {census:?}"
            );
        }
    });
    futures_util::stream::iter(points)
        .buffer_unordered(PARALLEL)
        .collect::<Vec<()>>()
        .await;
    // Every run but possibly the last of each kind was really killed mid-way.
    assert!(killed.into_inner() >= apply_writes + delete_writes - 2);
    eprintln!(
        "{apply_writes} apply and {delete_writes} delete crash points in {:?}",
        started.elapsed()
    );
}

/// A `delete` stopped right after it deleted a NAT gateway or the Bedrock endpoint,
/// then `apply` again (a GitOps sync, a changed mind): AWS still remembers the
/// client tokens of their first creation, in the same subnet, address and VPC —
/// the proxies replay them as AWS does — and must not be handed the deleted ones
/// back for new ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_after_a_stopped_delete_is_not_handed_back_what_it_deleted() {
    let world = world().await;
    let clean = world.account(700_000);
    world.apply(&clean).await;
    let reference = world.state(&clean).await;
    let deletes = world.delete(&clean).await;
    let points: Vec<usize> = deletes
        .iter()
        .enumerate()
        .filter(|(_, op)| *op == "DeleteNatGateway" || *op == "DeleteVpcEndpoints")
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(points.len(), 3, "{deletes:?}");
    let runs = points.iter().map(|&k| {
        let (world, reference) = (&world, &reference);
        async move {
            let account = world.account(700_000 + k);
            world.apply(&account).await;
            world.crash(&account, k, Op::Delete).await;
            world
                .disassociate_deleted_gateways_addresses(&account)
                .await;
            world.apply(&account).await;
            let state = world.state(&account).await;
            assert_eq!(&state, reference, "apply after delete stopped at write {k}");
            assert_eq!(world.apply(&account).await, 0, "drift after write {k}");
            world.delete(&account).await;
            let (inventory, census) = world.state(&account).await;
            assert!(
                inventory.is_empty() && census.is_empty(),
                "{inventory:?} {census:?}"
            );
        }
    });
    futures_util::stream::iter(runs)
        .buffer_unordered(PARALLEL)
        .collect::<Vec<()>>()
        .await;
}
