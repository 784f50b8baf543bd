//! The convergence engine: makes AWS match a platform's or a chatbot's desired
//! state, one pass at a time, and tears it down in dependency order. The file mode
//! (`apply`/`delete`) loops passes until everything is ready; the in-cluster
//! controller runs one pass per reconcile and requeues.

pub mod chatbot;
pub mod conditions;
pub mod platform;
pub mod step;
pub mod zones;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use bedrock_chatbot_crds::DeletionPolicy;

use crate::Result;
use crate::aws::{Aws, CallLog, Fence, PassReads, PassScope};
use crate::desired::{Owner, Tags};
pub use step::{Converged, PROPAGATION_BUDGET, STEP_ATTEMPTS, converge, find, remove};

use crate::resources::{Event, Outcome, Progress, Refs, Resource, Scope};

/// Shared by every pass: one AWS configuration, one call log, one progress sink.
#[derive(Clone)]
pub struct Engine {
    sdk: SdkConfig,
    calls: CallLog,
    reads: PassReads,
    clients: Arc<Mutex<BTreeMap<String, Aws>>>,
    progress: Arc<dyn Progress>,
    fence: Fence,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("calls", &self.calls.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// The region of the standard AWS configuration, if it names one.
    pub fn default_region(&self) -> Option<String> {
        self.sdk.region().map(ToString::to_string)
    }

    /// An engine using `sdk` for credentials and endpoints, reporting to `progress`.
    pub fn new(sdk: SdkConfig, progress: Arc<dyn Progress>) -> Self {
        Self {
            sdk,
            calls: CallLog::default(),
            reads: PassReads::default(),
            clients: Arc::default(),
            progress,
            fence: Fence::open(),
        }
    }

    /// This engine, its AWS writes behind `fence` (the in-cluster controller's
    /// leader Lease).
    pub fn fenced(self, fence: Fence) -> Self {
        Self { fence, ..self }
    }

    /// Every AWS call this engine's clients made so far, in order (what tests
    /// count to prove a second pass writes nothing).
    pub fn calls(&self) -> &CallLog {
        &self.calls
    }

    /// The sink each step reports its outcome to: lines on the terminal in file
    /// mode, Kubernetes Events in the cluster.
    pub fn progress(&self) -> &dyn Progress {
        self.progress.as_ref()
    }

    /// Shares listings between the owners of one pass until the scope is dropped
    /// (see [`PassReads`]): one pass of the file mode over a platform and its teams.
    pub fn share_reads(&self) -> PassScope {
        self.reads.scope()
    }

    /// The clients for `region`, built once.
    pub fn aws(&self, region: &str) -> Aws {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        clients
            .entry(region.to_string())
            .or_insert_with(|| {
                Aws::fenced(&self.sdk, region, self.calls.clone(), &self.fence)
                    .sharing(self.reads.clone())
            })
            .clone()
    }
}

/// One pass over an owner's resources: the ids found so far and what is not ready.
#[derive(Default)]
pub(crate) struct Pass {
    /// Ids and ARNs found or made so far, by component key: later steps resolve
    /// their references from it.
    pub(crate) refs: Refs,
    /// What is not converged yet, one `KIND name: why` per resource.
    pub(crate) waiting: Vec<String>,
    /// Only look: find what exists and record its ids, create and change nothing.
    pub(crate) observe_only: bool,
}

impl Pass {
    /// A converging pass that starts from `refs` (e.g. the platform's ids).
    pub(crate) fn from(refs: Refs) -> Self {
        Self {
            refs,
            ..Self::default()
        }
    }

    /// Converges (or, observing only, finds) one resource and notes what it waits for.
    pub(crate) async fn step<R: Resource>(
        &mut self,
        resource: &R,
        scope: Scope<'_>,
        engine: &Engine,
    ) -> Result<Option<R::Observed>> {
        if self.observe_only {
            let found = find(resource, scope.with(&self.refs)).await?;
            if let Some(observed) = &found {
                self.refs.record(resource, R::id(observed));
            }
            return Ok(found);
        }
        let converged = converge(resource, scope, &mut self.refs, engine.progress()).await?;
        if let Some(why) = converged.waiting_for() {
            self.waiting
                .push(format!("{} {}: {why}", R::KIND, resource.name()));
        }
        Ok(match converged {
            Converged::Ready(o) | Converged::Waiting(o, _) => Some(o),
            Converged::Blocked(_) => None,
        })
    }
}

/// Whether a deletion finished, and what it still waits for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deletion {
    /// Resources still being deleted (asynchronously by AWS), in words.
    pub waiting: Vec<String>,
}

impl Deletion {
    /// Whether nothing is left.
    pub fn is_done(&self) -> bool {
        self.waiting.is_empty()
    }
}

/// One deletion pass over an owner's resources: where it deletes them, the ids it
/// finds them by, and what AWS has not finished deleting yet.
pub(crate) struct Teardown<'a> {
    scope: Scope<'a>,
    refs: &'a Refs,
    progress: &'a dyn Progress,
    deletion: Deletion,
}

impl<'a> Teardown<'a> {
    /// A pass deleting in `scope`, finding resources by `refs`.
    pub(crate) fn new(scope: Scope<'a>, refs: &'a Refs, engine: &'a Engine) -> Self {
        Self {
            scope,
            refs,
            progress: engine.progress(),
            deletion: Deletion::default(),
        }
    }

    /// Deletes one resource if it exists; while AWS has not finished, notes it by
    /// its kind and name (`NAT gateway bcb-…`). Returns whether it is gone.
    pub(crate) async fn remove<R: Resource>(&mut self, resource: &R) -> Result<bool> {
        self.remove_as(R::KIND, resource).await
    }

    /// [`Teardown::remove`], noting the resource as `what` and its name.
    pub(crate) async fn remove_as<R: Resource>(
        &mut self,
        what: &str,
        resource: &R,
    ) -> Result<bool> {
        let gone = remove(resource, self.scope, self.refs, self.progress).await?;
        if !gone {
            self.wait_for(what, resource.name());
        }
        Ok(gone)
    }

    /// Notes `what` named `name` as not gone yet.
    pub(crate) fn wait_for(&mut self, what: &str, name: &str) {
        self.deletion.waiting.push(format!("{what} {name}"));
    }

    /// Whether nothing is left so far.
    pub(crate) fn is_done(&self) -> bool {
        self.deletion.is_done()
    }

    /// What the pass left.
    pub(crate) fn finish(self) -> Deletion {
        self.deletion
    }
}

/// How every deletion pass starts: with `deletionPolicy: Retain`, `None` — the
/// owner's resources are reported retained and stay where they are; else the scope
/// to delete them in.
pub(crate) fn deletion_scope<'a>(
    engine: &Engine,
    aws: &'a Aws,
    owner: &'a Owner,
    tags: &'a Tags,
    policy: DeletionPolicy,
) -> Option<Scope<'a>> {
    if policy == DeletionPolicy::Retain {
        let (kind, name) = match owner {
            Owner::ChatbotPlatform { name } => ("ChatbotPlatform", name),
            Owner::BedrockChatbot { name, .. } => ("BedrockChatbot", name),
        };
        engine.progress().report(Event {
            owner: owner.clone(),
            kind,
            name: name.clone(),
            id: None,
            outcome: Outcome::Retained,
        });
        return None;
    }
    Some(Scope { aws, owner, tags })
}
