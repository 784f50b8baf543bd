//! The in-cluster controller (`bedrock-chatbot-operator run`): one
//! `kube::runtime::Controller` per kind around the convergence engine. A reconcile
//! is one engine pass; what is not ready yet is requeued, what is ready is resynced
//! periodically to correct drift.
//!
//! Both kinds go through one reconcile ([`reconciler`]): paused objects are left
//! alone, everything else goes through [`kube::runtime::finalizer`] (the finalizer
//! is on the object before the first AWS write), invalid specs get a terminal
//! condition and no AWS call, status goes by server-side apply to the status
//! subresource ([`status`]), and what happened to each AWS resource becomes a
//! Kubernetes Event ([`events`]). What differs between the kinds is their
//! [`reconciler::Kind`] ([`platform`], [`chatbot`]). This module holds what every
//! reconcile shares ([`Context`]: the caches, the engine, the Event publisher, the
//! metrics) and [`run`], which wires the controllers, the leader Lease ([`leader`])
//! and the shutdown.

pub mod chatbot;
pub mod events;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod leader;
pub mod platform;
pub mod reconciler;
pub mod status;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use bedrock_chatbot_crds::{BedrockChatbot, CONDITION_READY, ChatbotPlatform};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event as KubeEvent, EventType, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, PredicateConfig, WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admission::Admission;
use crate::aws::Fence;
use crate::backoff::{Backoff, Requeue, jitter};
use crate::desired::Owner;
use crate::engine::{Engine, conditions};
use crate::in_cluster::leader::{LeaseLock, Timing};
use crate::metrics::{Health, Metrics, Phase, Refresh};
use crate::resources::{Event as Progressed, Outcome, Progress};
use crate::validation::{self, FieldProblem, Subject};
use crate::{Error, Result};

/// The finalizer that holds an object until its AWS resources are gone.
pub const FINALIZER: &str = "bedrock-chatbot.dev/cleanup";
/// Annotation that stops reconciling an object while it is `"true"`.
pub const PAUSED_ANNOTATION: &str = "bedrock-chatbot.dev/paused";
/// Field manager of the status the controller applies, and reporter of its events.
pub const FIELD_MANAGER: &str = "bedrock-chatbot-operator";

/// How long a reconcile waits for the caches to fill before it gives up its turn
/// and comes back.
const CACHE_SYNC: Duration = Duration::from_secs(5);

/// What `run` is told on the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Namespaces whose chatbots are watched; empty: all.
    pub namespaces: Vec<String>,
    /// Reconciles at the same time, per kind.
    pub concurrency: u16,
    /// Period of the drift resync of ready objects (jittered by ±10%).
    pub resync: Duration,
    /// Compute and report, change nothing on AWS and add no finalizers.
    pub dry_run: bool,
    /// How long a stopping controller waits for the reconciles in flight.
    pub shutdown_grace: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            namespaces: Vec::new(),
            concurrency: 4,
            resync: Duration::from_secs(600),
            dry_run: false,
            shutdown_grace: Duration::from_secs(90),
        }
    }
}

/// Engine progress of every reconcile in flight, until each reconcile takes its
/// own (by owner) to publish as Kubernetes Events.
#[derive(Debug, Default)]
pub struct ProgressEvents(Mutex<Vec<Progressed>>);

impl Progress for ProgressEvents {
    fn report(&self, event: Progressed) {
        if let Ok(mut events) = self.0.lock() {
            events.push(event);
        }
    }
}

impl ProgressEvents {
    /// Takes the events of `owner` out of the buffer.
    pub fn take_for(&self, owner: &Owner) -> Vec<Progressed> {
        let Ok(mut events) = self.0.lock() else {
            return Vec::new();
        };
        let (mine, others) = std::mem::take(&mut *events)
            .into_iter()
            .partition(|e| &e.owner == owner);
        *events = others;
        mine
    }
}

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    /// The convergence engine (one AWS configuration, one call log).
    pub engine: Engine,
    /// Engine progress, by owner.
    pub progress: Arc<ProgressEvents>,
    /// Publishes Kubernetes Events.
    pub recorder: events::Publisher,
    /// Schema and CEL checks, as the API server runs them.
    pub admission: Admission,
    /// Every watched platform.
    pub platforms: Store<ChatbotPlatform>,
    /// Every watched chatbot, one store per watched namespace (or one for all).
    pub chatbots: Vec<Store<BedrockChatbot>>,
    /// What `/metrics` serves: reconciles, their durations and errors, AWS calls,
    /// objects by condition.
    pub metrics: Arc<Metrics>,
    /// Settings from the command line.
    pub settings: Settings,
    /// Failures in a row per object, for the requeue after a retryable failure.
    pub requeue: Requeue,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("engine", &self.engine)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context reaching Kubernetes through `client` and AWS through `sdk`.
    pub fn new(
        client: Client,
        sdk: SdkConfig,
        platforms: Store<ChatbotPlatform>,
        chatbots: Vec<Store<BedrockChatbot>>,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> Self {
        let progress = Arc::new(ProgressEvents::default());
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: events::Publisher::new(client.clone(), reporter),
            engine: Engine::new(sdk, progress.clone()),
            client,
            progress,
            admission: Admission::default(),
            platforms,
            chatbots,
            metrics,
            settings,
            requeue: Requeue::new(Backoff::REQUEUE),
        }
    }

    /// This context, its AWS writes behind `fence` (the leader Lease).
    pub fn fenced(mut self, fence: Fence) -> Self {
        self.engine = self.engine.fenced(fence);
        self
    }

    /// Every watched chatbot, oldest first (so the first to claim a hostname keeps it).
    pub fn all_chatbots(&self) -> Vec<Arc<BedrockChatbot>> {
        let mut all: Vec<Arc<BedrockChatbot>> =
            self.chatbots.iter().flat_map(Store::state).collect();
        all.sort_by(|a, b| {
            let key = |c: &BedrockChatbot| {
                (
                    // Not stored yet (no timestamp): the newest.
                    c.metadata.creation_timestamp.is_none(),
                    c.metadata.creation_timestamp.clone(),
                    c.namespace(),
                    c.name_any(),
                )
            };
            key(a).cmp(&key(b))
        });
        all
    }

    /// Whether every cache (platforms, and chatbots in every watched namespace) has
    /// finished its first list, waiting up to [`CACHE_SYNC`] for it. Decisions that
    /// need to know every platform or every chatbot — above all, whether a deletion
    /// may go ahead — are taken only on complete caches: an empty cache would say
    /// "no platform" or "no chatbots" when it only means "not listed yet" (the
    /// watch may be slow, or refused until RBAC allows it).
    pub async fn caches_synced(&self) -> bool {
        let all = async {
            self.platforms.wait_until_ready().await.is_ok()
                && futures_util::future::join_all(self.chatbots.iter().map(Store::wait_until_ready))
                    .await
                    .iter()
                    .all(Result::is_ok)
        };
        tokio::time::timeout(CACHE_SYNC, all).await.unwrap_or(false)
    }

    /// Every watched platform, by name.
    pub fn all_platforms(&self) -> Vec<Arc<ChatbotPlatform>> {
        let mut all = self.platforms.state();
        all.sort_by_key(|p| p.name_any());
        all
    }

    /// What the API server's schema and CEL rules refuse in `manifest`, as on create.
    pub fn admission_problems(&self, manifest: &serde_json::Value) -> Vec<FieldProblem> {
        match self.admission.admit(manifest, None) {
            Ok(_) => Vec::new(),
            Err(rejection) => rejection.problems,
        }
    }

    /// The resync delay: the configured period ±10%, so objects created together
    /// do not all resync at the same moment.
    pub fn resync(&self) -> Duration {
        jitter(self.settings.resync)
    }

    /// Publishes `event` about `reference`; a failure is logged, never fatal.
    pub async fn publish(&self, reference: &ObjectReference, event: KubeEvent) {
        if let Err(error) = self.recorder.publish(&event, reference).await {
            tracing::warn!(%error, reason = %event.reason, "cannot publish event");
        }
    }

    /// Publishes the engine's progress for `owner`: one Event per AWS resource
    /// created, updated, deleted, retained or failed (unchanged ones are quiet).
    pub async fn publish_progress(&self, reference: &ObjectReference, owner: &Owner) {
        for progressed in self.progress.take_for(owner) {
            let (type_, reason, action) = match &progressed.outcome {
                Outcome::Created => (EventType::Normal, "Created", "Create"),
                Outcome::Updated(_) => (EventType::Normal, "Updated", "Update"),
                Outcome::Deleted => (EventType::Normal, "Deleted", "Delete"),
                Outcome::Deleting(_) => (EventType::Normal, "Deleting", "Delete"),
                Outcome::Retained => (EventType::Normal, "Retained", "Delete"),
                Outcome::Failed(_) => (EventType::Warning, "Failed", "Reconcile"),
                Outcome::Unchanged
                | Outcome::Waiting(_)
                | Outcome::Blocked(_)
                | Outcome::Absent => continue,
            };
            let id = progressed
                .id
                .as_ref()
                .map(|id| format!(" ({id})"))
                .unwrap_or_default();
            let note = format!(
                "{} {}{id}: {}",
                progressed.kind,
                progressed.name,
                crate::progress::describe(&progressed.outcome)
            );
            self.publish(reference, event(type_, reason, action, note))
                .await;
        }
    }
}

/// An event; the note is cut to the 1 kB the API server accepts.
pub fn event(type_: EventType, reason: &str, action: &str, note: String) -> KubeEvent {
    let mut note = note;
    if note.len() > 1000 {
        let mut cut = 997;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
        note.push_str("...");
    }
    KubeEvent {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: action.to_string(),
        secondary: None,
    }
}

/// Puts `object` in the place of its cached copy in `cached` (the object being
/// reconciled is as new as the cached one, or newer), or at the end when the cache
/// does not hold it yet; returns its index.
pub fn put<K>(cached: &mut Vec<Arc<K>>, object: &K) -> usize
where
    K: Resource<DynamicType = ()> + Clone,
{
    let me = ObjectRef::from_obj(object);
    let object = Arc::new(object.clone());
    match cached.iter().position(|c| ObjectRef::from_obj(&**c) == me) {
        Some(index) => {
            cached[index] = object;
            index
        }
        None => {
            cached.push(object);
            cached.len() - 1
        }
    }
}

/// What the checks across objects (hostnames, priorities, references…) find
/// wrong with `subject` among `platforms` and `chatbots`.
pub fn problems_across(
    platforms: &[Arc<ChatbotPlatform>],
    chatbots: &[Arc<BedrockChatbot>],
    subject: Subject,
) -> Vec<FieldProblem> {
    let platforms: Vec<&ChatbotPlatform> = platforms.iter().map(|p| &**p).collect();
    let chatbots: Vec<&BedrockChatbot> = chatbots.iter().map(|c| &**c).collect();
    validation::check_set(&platforms, &chatbots)
        .into_iter()
        .filter(|p| p.subject == subject)
        .map(|p| p.problem)
        .collect()
}

/// Caches the metrics read off the stores at scrape time: objects by condition,
/// and the AWS calls made since the last scrape.
struct ScrapeState(Arc<Context>);

impl std::fmt::Debug for ScrapeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScrapeState")
    }
}

impl Refresh for ScrapeState {
    fn refresh(&self, metrics: &Metrics) {
        let ctx = &self.0;
        metrics.collect_calls(ctx.engine.calls());
        metrics.clear_objects();
        let platforms = ctx.platforms.state();
        metrics.count_objects(
            platform::KIND,
            platforms
                .iter()
                .map(|p| p.status.as_ref().map_or(&[][..], |s| &s.conditions[..])),
        );
        let chatbots = ctx.all_chatbots();
        metrics.count_objects(
            chatbot::KIND,
            chatbots
                .iter()
                .map(|c| c.status.as_ref().map_or(&[][..], |s| &s.conditions[..])),
        );
    }
}

/// A cache of `api`'s objects and the stream of their changes that call for a
/// reconcile (see [`reconcile_worthy`]).
fn watched<K>(
    api: Api<K>,
) -> (
    Store<K>,
    impl futures_util::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let changes = kube::runtime::reflector(writer, watcher(api, watcher::Config::default()))
        .applied_objects()
        .predicate_filter(reconcile_worthy::<K>, PredicateConfig::default());
    (store, changes)
}

/// What of an object, when it changes, calls for a reconcile: its spec
/// (`generation`), annotations (pause), finalizers and deletion. Not its status,
/// which the controller itself writes after every pass: reacting to those writes
/// made a persistent error whose message changes a loop without backoff.
fn reconcile_worthy<K: Resource>(object: &K) -> Option<u64> {
    let meta = object.meta();
    let mut hasher = DefaultHasher::new();
    (
        meta.generation,
        &meta.annotations,
        &meta.finalizers,
        meta.deletion_timestamp.is_some(),
    )
        .hash(&mut hasher);
    Some(hasher.finish())
}

/// What of a platform its chatbots depend on: the platform's spec and deletion,
/// whether it is Ready, and the ids in its status (not the conditions' messages and
/// times, which change with every failed pass).
fn what_chatbots_use(platform: &ChatbotPlatform) -> Option<u64> {
    let mut status = serde_json::to_value(&platform.status).unwrap_or_default();
    if let Some(status) = status.as_object_mut() {
        status.remove("conditions");
    }
    let ready = platform.status.as_ref().and_then(|s| {
        conditions::status_of(&s.conditions, CONDITION_READY).map(|c| format!("{c:?}"))
    });
    let mut hasher = DefaultHasher::new();
    (
        platform.metadata.generation,
        platform.metadata.deletion_timestamp.is_some(),
        ready,
        status.to_string(),
    )
        .hash(&mut hasher);
    Some(hasher.finish())
}

/// Leader election settings.
#[derive(Clone, Debug)]
pub struct Election {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (the pod name).
    pub identity: String,
}

/// Runs both controllers until SIGTERM/SIGINT (or, with leader election, until the
/// lease is lost, which is an error so the pod restarts as a standby).
pub async fn run(
    client: Client,
    sdk: SdkConfig,
    settings: Settings,
    election: Option<Election>,
    health: Arc<Health>,
) -> Result<()> {
    let stop = on_shutdown_signal();
    let lock = election.map(|e| {
        Arc::new(LeaseLock::new(
            client.clone(),
            &e.namespace,
            &e.name,
            &e.identity,
            Timing::default(),
        ))
    });
    // With leader election, no AWS write leaves before the Lease is held, nor after
    // it can no longer be renewed.
    let fence = if lock.is_some() {
        Fence::closed()
    } else {
        Fence::open()
    };
    if let Some(lock) = &lock
        && !become_leader(lock, &fence, &health, &stop).await
    {
        return Ok(());
    }
    health.set_phase(Phase::Starting);
    let (renewing, lost) = stay_leader(lock.clone(), &fence);
    let halt = Halt { stop, lost };

    let shutdown_grace = settings.shutdown_grace;
    let controllers = Controllers::new(&client, &settings, &halt);
    let ctx = Arc::new(
        Context::new(
            client,
            sdk,
            controllers.platforms.store(),
            controllers.chatbot_stores.clone(),
            health.metrics.clone(),
            settings,
        )
        .fenced(fence.clone()),
    );
    health.set_refresh(Box::new(ScrapeState(ctx.clone())));
    serve_once_synced(ctx.clone(), health.clone());
    controllers.run(ctx, &halt, shutdown_grace).await;
    health.set_phase(Phase::Stopping);
    step_down(renewing, &fence, lock.as_deref(), &halt).await
}

/// A channel that turns true on SIGTERM or Ctrl-C.
fn on_shutdown_signal() -> watch::Receiver<bool> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested");
        let _ = stop_tx.send(true);
    });
    stop_rx
}

/// Waits, as a standby, until this replica holds the leader Lease (opening the
/// fence). False when a shutdown came first.
async fn become_leader(
    lock: &LeaseLock,
    fence: &Fence,
    health: &Health,
    stop: &watch::Receiver<bool>,
) -> bool {
    health.set_phase(Phase::Standby);
    tracing::info!(lease = %lock.describe(), identity = lock.identity(), "waiting for the leader lease");
    tokio::select! {
        () = lock.acquire(fence) => {}
        () = stopped(stop.clone()) => return false,
    }
    tracing::info!(lease = %lock.describe(), "leader lease acquired");
    true
}

/// Renews the leader Lease in the background, if there is one: the task, and a
/// channel that says why once the Lease is lost (it never does without leader
/// election: its sender is gone).
fn stay_leader(
    lock: Option<Arc<LeaseLock>>,
    fence: &Fence,
) -> (Option<JoinHandle<()>>, watch::Receiver<Option<String>>) {
    let (lost_tx, lost_rx) = watch::channel(None::<String>);
    let renewing = lock.map(|lock| {
        let fence = fence.clone();
        tokio::spawn(async move {
            let why = lock.hold(&fence).await;
            tracing::warn!(lease = %lock.describe(), %why, "leader lease lost; stopping");
            let _ = lost_tx.send(Some(why));
        })
    });
    (renewing, lost_rx)
}

/// Resolves once `stop` turns true.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Why the controllers stop: a shutdown signal, or the leader Lease lost.
struct Halt {
    /// True once a shutdown was asked for.
    stop: watch::Receiver<bool>,
    /// Why the Lease was lost, once it was.
    lost: watch::Receiver<Option<String>>,
}

impl Halt {
    /// Resolves on a shutdown signal or when the Lease is lost.
    fn halted(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let stop = self.stop.clone();
        let mut lost = self.lost.clone();
        async move {
            let lost = async move {
                // No sender (no leader election): the Lease can never be lost.
                if lost.wait_for(Option::is_some).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                () = stopped(stop) => {}
                () = lost => {}
            }
        }
    }
}

/// The platform controller and one chatbot controller per watched namespace (or
/// one for all), each stopping gracefully on [`Halt`].
struct Controllers {
    platforms: Controller<ChatbotPlatform>,
    /// One per watched namespace (or one for all).
    chatbots: Vec<Controller<BedrockChatbot>>,
    /// The chatbot controllers' caches.
    chatbot_stores: Vec<Store<BedrockChatbot>>,
}

impl Controllers {
    /// Watches the platforms and the chatbots of `settings.namespaces`.
    fn new(client: &Client, settings: &Settings, halt: &Halt) -> Self {
        let config = kube::runtime::controller::Config::default().concurrency(settings.concurrency);
        let platforms_api: Api<ChatbotPlatform> = Api::all(client.clone());
        let (platform_store, platform_changes) = watched(platforms_api.clone());
        let platforms = Controller::for_stream(platform_changes, platform_store)
            .with_config(config.clone())
            .graceful_shutdown_on(halt.halted());
        let namespaces: Vec<Option<String>> = if settings.namespaces.is_empty() {
            vec![None]
        } else {
            settings.namespaces.iter().cloned().map(Some).collect()
        };
        let mut chatbots = Vec::new();
        let mut chatbot_stores = Vec::new();
        for namespace in namespaces {
            let api: Api<BedrockChatbot> = match &namespace {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::all(client.clone()),
            };
            let (store, changes) = watched(api);
            let controller = Controller::for_stream(changes, store.clone())
                .with_config(config.clone())
                .graceful_shutdown_on(halt.halted());
            chatbot_stores.push(store.clone());
            // A platform change its chatbots depend on (spec, readiness, the ids in
            // its status, deletion) requeues them; its other status writes do not.
            let platform_changes = watcher(platforms_api.clone(), watcher::Config::default())
                .applied_objects()
                .predicate_filter(what_chatbots_use, PredicateConfig::default());
            let controller =
                controller.watches_stream(platform_changes, move |platform: ChatbotPlatform| {
                    let name = platform.name_any();
                    store
                        .state()
                        .into_iter()
                        .filter(|c| c.spec.platform_ref.name == name)
                        .map(|c| ObjectRef::from_obj(&*c))
                        .collect::<Vec<_>>()
                });
            chatbots.push(controller);
        }
        Self {
            platforms,
            chatbots,
            chatbot_stores,
        }
    }

    /// Runs every controller until it stops. On SIGTERM (or a lost Lease) the
    /// controllers start no new reconcile and wait for those in flight — for at
    /// most the shutdown grace, which the chart's terminationGracePeriodSeconds
    /// covers.
    async fn run(self, ctx: Arc<Context>, halt: &Halt, shutdown_grace: Duration) {
        let platforms = self
            .platforms
            .run(
                reconciler::reconcile::<ChatbotPlatform>,
                reconciler::error_policy::<ChatbotPlatform>,
                ctx.clone(),
            )
            .for_each(|result| async move {
                if let Err(error) = result {
                    tracing::debug!(%error, "platform controller");
                }
            });
        let chatbots = futures_util::future::join_all(self.chatbots.into_iter().map(|c| {
            c.run(
                reconciler::reconcile::<BedrockChatbot>,
                reconciler::error_policy::<BedrockChatbot>,
                ctx.clone(),
            )
            .for_each(|result| async move {
                if let Err(error) = result {
                    tracing::debug!(%error, "chatbot controller");
                }
            })
        }));
        let controllers = futures_util::future::join(platforms, chatbots);
        let halted = halt.halted();
        let overdue = async {
            halted.await;
            tokio::time::sleep(shutdown_grace).await;
        };
        tokio::select! {
            _ = controllers => {}
            () = overdue => {
                tracing::warn!(grace = ?shutdown_grace, "reconciles still running after the shutdown grace; stopping them");
            }
        }
    }
}

/// Reports the phase `Serving` once the caches have filled.
fn serve_once_synced(ctx: Arc<Context>, health: Arc<Health>) {
    tokio::spawn(async move {
        while !ctx.caches_synced().await {
            tracing::info!("waiting for the caches to fill");
            // (at once when the controllers stopped before they filled)
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        tracing::info!("caches synced; serving");
        health.set_phase(Phase::Serving);
    });
}

/// Gives up leadership after the controllers stopped. Renewals stop before
/// anything else, so none can follow the release; then no AWS write may leave,
/// then the Lease goes to a standby at once. A lost Lease is an error (the pod
/// restarts as a standby).
async fn step_down(
    renewing: Option<JoinHandle<()>>,
    fence: &Fence,
    lock: Option<&LeaseLock>,
    halt: &Halt,
) -> Result<()> {
    if let Some(renewing) = renewing {
        renewing.abort();
        let _ = renewing.await;
    }
    fence.close();
    let lost = halt.lost.borrow().clone();
    if let Some(lock) = lock {
        if let Some(why) = lost {
            return Err(Error::LeaseLost(format!("{} ({why})", lock.describe())));
        }
        if let Err(error) = lock.release().await {
            tracing::warn!(%error, "cannot release the leader lease");
        } else {
            tracing::info!(lease = %lock.describe(), "leader lease released");
        }
    }
    Ok(())
}

/// SIGTERM (what Kubernetes sends) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
