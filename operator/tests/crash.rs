//! Crash at every step: `apply` and `delete` are killed right after their k-th AWS
//! write, for every k of a full platform + team run, and rerun by a fresh engine
//! (new clients, nothing in memory). The rerun must reach exactly the end state of
//! a run that never crashed: one of each resource, nothing untagged or orphaned,
//! and after `delete` nothing at all. The in-cluster controller ([`in_cluster`]) is
//! killed mid-reconcile the same way, at writes spread over a whole lifecycle
//! (creation, then deletion through the finalizer), and restarted.
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
use support::read_back;
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
            let rules = read_back::listener_rules(aws, listener.listener_arn().unwrap()).await;
            add(
                "listener rule",
                rules
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
        let inline = read_back::role_policy_names(aws, role.role_name()).await;
        add("IAM inline policy", inline.len());
        let attached = read_back::attached_policy_arns(aws, role.role_name()).await;
        add("IAM attached policy", attached.len());
    }

    let cognito = &aws.cognito;
    for pool in read_back::user_pools(aws).await {
        add("user pool", 1);
        let id = pool.id().unwrap();
        if read_back::user_pool(aws, id).await.domain().is_some() {
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
    // Moto lists the buckets of every account on the emulator: this account's
    // names hold its id.
    let account = aws.account_id().await.unwrap();
    let buckets = aws.s3.list_buckets().send().await.unwrap();
    add(
        "S3 bucket",
        buckets
            .buckets()
            .iter()
            .filter(|b| b.name().is_some_and(|n| n.contains(&account)))
            .count(),
    );

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

/// A `delete` stopped right after it deleted a NAT gateway or an endpoint (Bedrock,
/// DynamoDB, S3), then `apply` again (a GitOps sync, a changed mind): AWS still
/// remembers the client tokens of their first creation, in the same subnet, address
/// and VPC — the proxies replay them as AWS does — and must not be handed the
/// deleted ones back for new ones.
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
    assert_eq!(
        points.len(),
        5,
        "two NAT gateways, three endpoints: {deletes:?}"
    );
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

/// The in-cluster controller killed mid-reconcile: a platform and a chatbot are
/// reconciled (each reconcile with a fresh controller state, as after a restart)
/// through creation and then deletion with the finalizer, and the reconcile during
/// which the k-th AWS write of the whole lifecycle happens is killed — its status
/// never reaches the API server. The controller carries on to the end, which must
/// be the same as without the crash.
mod in_cluster {
    use std::sync::Mutex;

    use bedrock_chatbot_crds::{BedrockChatbot, ChatbotPlatform};
    use http::{Request, Response};
    use kube::client::Body;
    use kube::runtime::reflector;
    use kube::runtime::watcher;
    use operator::Error;
    use operator::in_cluster::{Context, FINALIZER, Settings, reconciler};
    use operator::metrics::Metrics;
    use serde_json::{Value, json};

    use super::*;

    /// What the API server holds: both objects as JSON (`null` once deleted).
    struct Cluster {
        platform: Value,
        chatbot: Value,
    }

    impl Cluster {
        fn object(&mut self, path: &str) -> &mut Value {
            if path.contains("/bedrockchatbots/") {
                &mut self.chatbot
            } else {
                &mut self.platform
            }
        }
    }

    /// Answers the controller's requests as the API server would: finalizer
    /// patches, status by server-side apply, events. An object whose finalizer is
    /// removed while it is being deleted is gone.
    async fn serve(
        mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
        cluster: Arc<Mutex<Cluster>>,
    ) {
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let path = parts.uri.path().to_string();
            let answer = match parts.method.as_str() {
                // Events, new or a repeat of one (a series patch).
                "POST" | "PATCH" if path.contains("/events") => body,
                "PATCH" => {
                    let mut cluster = cluster.lock().unwrap();
                    let object = cluster.object(&path);
                    if path.ends_with("/status") {
                        object["status"] = body["status"].clone();
                    } else {
                        let ops = body.as_array().unwrap();
                        let adds = ops.iter().any(|op| op["op"] == "add");
                        object["metadata"]["finalizers"] =
                            if adds { json!([FINALIZER]) } else { json!([]) };
                    }
                    let answer = object.clone();
                    let removed = object["metadata"]["finalizers"] == json!([]);
                    if removed && !object["metadata"]["deletionTimestamp"].is_null() {
                        *object = Value::Null;
                    }
                    answer
                }
                method => panic!("unexpected request {method} {path}"),
            };
            let response = Response::builder()
                .status(200)
                .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                .unwrap();
            send.send_response(response);
        }
    }

    /// The operator: one controller state (context, caches, API client) for as
    /// long as its process lives. The process is killed during the reconcile in
    /// which the lifecycle's k-th AWS write is done, and started afresh.
    struct Operator {
        /// Call logs of every process so far.
        logs: Arc<Mutex<Vec<CallLog>>>,
        /// The way to AWS until the kill.
        proxy: CrashProxy,
        /// The way to the same account after it.
        straight: CrashProxy,
        killed: bool,
        process: Option<Process>,
    }

    /// One life of the operator.
    struct Process {
        ctx: Arc<Context>,
        platforms: reflector::store::Writer<ChatbotPlatform>,
        chatbots: reflector::store::Writer<BedrockChatbot>,
        cached: (Option<ChatbotPlatform>, Option<BedrockChatbot>),
        serving: tokio::task::JoinHandle<()>,
    }

    impl Operator {
        fn writes(&self) -> usize {
            self.logs.lock().unwrap().iter().map(writes).sum()
        }

        /// Ends the process: the mock API server stops once its client is gone.
        async fn stop(&mut self) {
            if let Some(process) = self.process.take() {
                drop(process.ctx);
                process.serving.await.unwrap();
            }
        }
    }

    impl World {
        /// The operator for `account`, to be killed once it made `k` writes.
        async fn operator(&self, account: &Account, k: Option<usize>) -> Operator {
            let logs: Arc<Mutex<Vec<CallLog>>> = Arc::default();
            let crashed = {
                let logs = logs.clone();
                move || {
                    k.is_some_and(|k| logs.lock().unwrap().iter().map(writes).sum::<usize>() >= k)
                }
            };
            let upstream = self.moto(&account.id).endpoint();
            let proxy = CrashProxy::start(
                &upstream,
                Some(&account.id),
                Some(account.tokens.clone()),
                Arc::new(crashed),
            )
            .await
            .unwrap();
            let straight = CrashProxy::start(
                &upstream,
                Some(&account.id),
                Some(account.tokens.clone()),
                Arc::new(|| false),
            )
            .await
            .unwrap();
            Operator {
                logs,
                proxy,
                straight,
                killed: false,
                process: None,
            }
        }
    }

    #[derive(Clone, Copy)]
    enum Kind {
        Platform,
        Chatbot,
    }

    /// One reconcile of `kind`, by the running process or a new one. `None` when
    /// the process was killed during it.
    async fn reconcile(
        world: &World,
        account: &Account,
        cluster: &Arc<Mutex<Cluster>>,
        kind: Kind,
        operator: &mut Operator,
    ) -> Option<Result<(), Error>> {
        if operator.process.is_none() {
            let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
            let serving = tokio::spawn(serve(handle, cluster.clone()));
            let (platforms, mut platform_writer) = reflector::store();
            let (chatbots, mut chatbot_writer) = reflector::store();
            // A restarted process lists before it reconciles: its caches are synced
            // (empty here; the objects arrive below as the watches would bring them).
            platform_writer.apply_watcher_event(&watcher::Event::Init);
            platform_writer.apply_watcher_event(&watcher::Event::InitDone);
            chatbot_writer.apply_watcher_event(&watcher::Event::Init);
            chatbot_writer.apply_watcher_event(&watcher::Event::InitDone);
            let endpoint = if operator.killed {
                operator.straight.endpoint()
            } else {
                operator.proxy.endpoint()
            };
            let sdk = world
                .moto(&account.id)
                .sdk_config(REGION)
                .into_builder()
                .endpoint_url(&endpoint)
                .build();
            let ctx = Arc::new(Context::new(
                kube::Client::new(service, "default"),
                sdk,
                platforms,
                vec![chatbots],
                Arc::new(Metrics::default()),
                Settings::default(),
            ));
            operator
                .logs
                .lock()
                .unwrap()
                .push(ctx.engine.calls().clone());
            operator.process = Some(Process {
                ctx,
                platforms: platform_writer,
                chatbots: chatbot_writer,
                cached: (None, None),
                serving,
            });
        }
        let process = operator.process.as_mut().unwrap();

        // The caches, as the watches would have filled them by now.
        let (platform_json, chatbot_json) = {
            let cluster = cluster.lock().unwrap();
            (cluster.platform.clone(), cluster.chatbot.clone())
        };
        let platform: Option<ChatbotPlatform> = serde_json::from_value(platform_json).ok();
        let chatbot: Option<BedrockChatbot> = serde_json::from_value(chatbot_json).ok();
        match (&platform, process.cached.0.take()) {
            (Some(p), _) => process
                .platforms
                .apply_watcher_event(&watcher::Event::Apply(p.clone())),
            (None, Some(old)) => process
                .platforms
                .apply_watcher_event(&watcher::Event::Delete(old)),
            (None, None) => {}
        }
        match (&chatbot, process.cached.1.take()) {
            (Some(c), _) => process
                .chatbots
                .apply_watcher_event(&watcher::Event::Apply(c.clone())),
            (None, Some(old)) => process
                .chatbots
                .apply_watcher_event(&watcher::Event::Delete(old)),
            (None, None) => {}
        }
        process.cached = (platform.clone(), chatbot.clone());

        let ctx = process.ctx.clone();
        let run = async {
            match kind {
                // Boxed: a reconcile's future is too big for a test thread's stack.
                Kind::Platform => Box::pin(reconciler::reconcile(Arc::new(platform.unwrap()), ctx))
                    .await
                    .map(drop),
                Kind::Chatbot => Box::pin(reconciler::reconcile(Arc::new(chatbot.unwrap()), ctx))
                    .await
                    .map(drop),
            }
        };
        let result = if operator.killed {
            Some(run.await)
        } else {
            tokio::select! {
                // Dropping the reconcile where it waits on AWS, and the whole
                // controller state with it, is the kill.
                () = operator.proxy.held() => None,
                result = run => Some(result),
            }
        };
        if result.is_none() {
            operator.killed = true;
            operator.stop().await;
        }
        result
    }

    fn condition(object: &Value, type_: &str) -> String {
        object["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == type_))
            .map(|c| c["status"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    }

    /// What a lifecycle ended with.
    struct Lifecycle {
        /// AWS writes in all.
        writes: usize,
        /// AWS writes until both objects were converged.
        creation_writes: usize,
        /// Whether a reconcile was killed.
        killed: bool,
        /// What AWS held once both objects were converged.
        converged: (Inventory, Census),
    }

    /// Creation to Ready/Synced, then deletion with the finalizer, killing the
    /// reconcile during which the k-th write happens. Checks on the way that the
    /// converged state needs no further write and that deletion leaves nothing.
    async fn lifecycle(world: &World, account: &Account, k: Option<usize>) -> Lifecycle {
        let mut platform = account.manifests.platforms[0].object.clone();
        platform.metadata.generation = Some(1);
        let mut chatbot = account.manifests.chatbots[0].object.clone();
        chatbot.metadata.generation = Some(1);
        let cluster = Arc::new(Mutex::new(Cluster {
            platform: serde_json::to_value(&platform).unwrap(),
            chatbot: serde_json::to_value(&chatbot).unwrap(),
        }));
        let mut operator = world.operator(account, k).await;
        let at = |what: &str| format!("{what}, killed at write {k:?} in {}", account.id);

        let mut pass = 0;
        loop {
            pass += 1;
            assert!(pass < 20, "{}", at("never converged"));
            let platform = cluster.lock().unwrap().platform.clone();
            if condition(&platform, "Ready") != "True" {
                if let Some(result) =
                    reconcile(world, account, &cluster, Kind::Platform, &mut operator).await
                {
                    result.unwrap_or_else(|e| panic!("{}: {e}", at("platform reconcile")));
                }
                continue;
            }
            let chatbot = cluster.lock().unwrap().chatbot.clone();
            if condition(&chatbot, "Synced") == "True" {
                break;
            }
            if let Some(result) =
                reconcile(world, account, &cluster, Kind::Chatbot, &mut operator).await
            {
                result.unwrap_or_else(|e| panic!("{}: {e}", at("chatbot reconcile")));
            }
        }
        let converged = world.state(account).await;
        let creation_writes = operator.writes();
        // Nothing half-done: one more reconcile of each writes nothing.
        let before = operator.writes();
        for kind in [Kind::Platform, Kind::Chatbot] {
            // Killed here when the last write of creation ended its reconcile: the
            // next AWS call, made here, is the first one the dead process missed.
            let result = match reconcile(world, account, &cluster, kind, &mut operator).await {
                Some(result) => result,
                None => reconcile(world, account, &cluster, kind, &mut operator)
                    .await
                    .unwrap(),
            };
            result.unwrap_or_else(|e| panic!("{}: {e}", at("reconcile after convergence")));
        }
        assert_eq!(
            operator.writes(),
            before,
            "{}",
            at("drift after convergence")
        );

        let deleting = json!("2026-01-01T00:00:00Z");
        cluster.lock().unwrap().chatbot["metadata"]["deletionTimestamp"] = deleting.clone();
        for (kind, what) in [(Kind::Chatbot, "chatbot"), (Kind::Platform, "platform")] {
            if let Kind::Platform = kind {
                cluster.lock().unwrap().platform["metadata"]["deletionTimestamp"] =
                    deleting.clone();
            }
            let mut pass = 0;
            loop {
                pass += 1;
                assert!(pass < 30, "{}", at(&format!("{what} never deleted")));
                let gone = {
                    let cluster = cluster.lock().unwrap();
                    match kind {
                        Kind::Platform => cluster.platform.is_null(),
                        Kind::Chatbot => cluster.chatbot.is_null(),
                    }
                };
                if gone {
                    break;
                }
                match reconcile(world, account, &cluster, kind, &mut operator).await {
                    None | Some(Ok(())) | Some(Err(Error::DeletionPending(_))) => {}
                    Some(Err(e)) => panic!("{}: {e}", at(&format!("{what} cleanup"))),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let (inventory, census) = world.state(account).await;
        assert!(
            inventory.is_empty(),
            "{}: {inventory:?}",
            at("left after deletion")
        );
        assert!(
            census.is_empty(),
            "{}: {census:?}",
            at("left after deletion")
        );
        operator.stop().await;
        Lifecycle {
            writes: operator.writes(),
            creation_writes,
            killed: operator.killed,
            converged,
        }
    }

    /// In-cluster crash points: spread over the whole lifecycle (every
    /// [`STRIDE`]-th write, the last of creation, the first and the last of
    /// deletion) rather than every write — each costs a full lifecycle, and the
    /// file-mode test above covers every write of the same engine passes.
    const STRIDE: usize = 7;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_controller_killed_mid_reconcile_converges_and_deletes_exactly_after_a_restart() {
        let world = world().await;
        let started = Instant::now();
        let clean = world.account(500_000);
        let reference = Box::pin(lifecycle(&world, &clean, None)).await;
        assert_eq!(
            reference.converged.0,
            expected("shared", &[TEAM.to_string()])
        );
        let total = reference.writes;
        let created = reference.creation_writes;
        let mut points: Vec<usize> = (1..=total).step_by(STRIDE).collect();
        points.extend([created, created + 1, total]);
        points.sort_unstable();
        points.dedup();
        let killed = AtomicUsize::new(0);
        let runs = points.iter().map(|&k| {
            let (world, reference, killed) = (&world, &reference, &killed);
            async move {
                let account = world.account(500_000 + k);
                let run = Box::pin(lifecycle(world, &account, Some(k))).await;
                assert_eq!(run.converged, reference.converged, "killed at write {k}");
                if run.killed {
                    killed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        futures_util::stream::iter(runs)
            .buffer_unordered(PARALLEL)
            .collect::<Vec<()>>()
            .await;
        assert!(killed.into_inner() >= points.len() - 1);
        eprintln!(
            "in-cluster: {total} writes, {} crash points {points:?}, {:?}",
            points.len(),
            started.elapsed()
        );
    }
}
