//! One resource step: [`converge`] (observe, then create or update) and [`remove`]
//! (observe, then delete), each repeated while it fails transiently
//! ([`retry_step!`]) or waits for AWS to propagate a change, reporting every outcome
//! to the pass's [`Progress`]. The engine's passes call these for every resource in
//! their order; a resource module only says how to observe, create, update and
//! delete its one kind of thing ([`Resource`]).

use crate::resources::{
    Ctx, Drift, Event, Outcome, Progress, Readiness, Refs, Removal, Resource, Scope, Write,
};
use crate::{Error, Result};

/// Where a resource stands after [`converge`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Converged<O> {
    /// Exists as desired and usable.
    Ready(O),
    /// Exists as desired, not usable yet.
    Waiting(O, String),
    /// Could not be worked on: a resource it needs does not exist yet.
    Blocked(String),
}

impl<O> Converged<O> {
    /// The observed resource, unless blocked.
    pub fn observed(&self) -> Option<&O> {
        match self {
            Self::Ready(o) | Self::Waiting(o, _) => Some(o),
            Self::Blocked(_) => None,
        }
    }

    /// What it waits for, unless ready.
    pub fn waiting_for(&self) -> Option<&str> {
        match self {
            Self::Ready(_) => None,
            Self::Waiting(_, why) | Self::Blocked(why) => Some(why),
        }
    }
}

/// Times a whole resource step (observe, then create or update; or delete) is tried
/// when it fails transiently (see [`crate::backoff`] for the whole retry policy).
/// The SDK does not retry every failure — a write whose connection dropped, for one
/// (see `aws::retry`) — and repeating the step is safe where repeating a single
/// create would not be: the step observes by ownership tags first, so a create that
/// did reach AWS is found instead of made twice.
pub const STEP_ATTEMPTS: u32 = 3;

/// Evaluates `$step` (an awaited `Result`) up to [`STEP_ATTEMPTS`] times while it
/// fails transiently. (A macro, not a closure: the futures must stay `Send` for the
/// in-cluster controller.)
macro_rules! retry_step {
    ($step:expr) => {{
        let mut attempt = 1;
        loop {
            match $step {
                Err(error) if transient(&error) && attempt < STEP_ATTEMPTS => {
                    tokio::time::sleep(std::time::Duration::from_millis(250 << attempt)).await;
                    attempt += 1;
                }
                other => break other,
            }
        }
    }};
}

/// Brings one resource to its desired state: create it if missing, change what
/// drifted, leave it alone otherwise. Records its id in `refs` once it exists.
pub async fn converge<R: Resource>(
    resource: &R,
    scope: Scope<'_>,
    refs: &mut Refs,
    progress: &dyn Progress,
) -> Result<Converged<R::Observed>> {
    let event = |id: Option<String>, outcome| Event {
        owner: scope.owner.clone(),
        kind: R::KIND,
        name: resource.name().to_string(),
        id,
        outcome,
    };
    let ctx = scope.with(refs);
    let started = std::time::Instant::now();
    let mut pause = PROPAGATION_FIRST_PAUSE;
    let result = loop {
        let result = retry_step!(step(resource, ctx).await);
        match result {
            Err(error) if propagating(&error) && started.elapsed() < PROPAGATION_BUDGET => {
                let why = format!("waiting for AWS to propagate: {error}");
                progress.report(event(None, Outcome::Waiting(why)));
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(PROPAGATION_MAX_PAUSE);
            }
            other => break other,
        }
    };
    match result {
        Ok((observed, outcome)) => {
            let id = R::id(&observed);
            refs.record(resource, id.clone());
            match R::readiness(&observed) {
                Readiness::Ready => {
                    progress.report(event(Some(id), outcome));
                    Ok(Converged::Ready(observed))
                }
                Readiness::Waiting(why) => {
                    let outcome = match outcome {
                        Outcome::Unchanged => Outcome::Waiting(why.clone()),
                        other => other,
                    };
                    progress.report(event(Some(id), outcome));
                    Ok(Converged::Waiting(observed, why))
                }
            }
        }
        Err(Error::Unresolved(key)) => {
            let why = format!("waiting for {key}");
            progress.report(event(None, Outcome::Blocked(why.clone())));
            Ok(Converged::Blocked(why))
        }
        Err(error) if transient(&error) => {
            progress.report(event(None, Outcome::Failed(error.to_string())));
            Ok(Converged::Blocked(format!("retrying after: {error}")))
        }
        Err(error) => {
            progress.report(event(None, Outcome::Failed(error.to_string())));
            Err(error)
        }
    }
}

/// How long one step waits for AWS to propagate a change (see
/// [`ErrorClass::Propagating`](crate::aws::ErrorClass::Propagating)) before its
/// error ends the pass: IAM and EC2 take seconds, a new account's service-linked
/// role can take a minute or two.
pub const PROPAGATION_BUDGET: std::time::Duration = std::time::Duration::from_secs(180);
const PROPAGATION_FIRST_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);
const PROPAGATION_MAX_PAUSE: std::time::Duration = std::time::Duration::from_secs(15);

fn propagating(error: &Error) -> bool {
    error.class() == Some(crate::aws::ErrorClass::Propagating)
}

/// Throttling, 5xx and dropped connections that outlived the SDK's own retries: the
/// pass goes on with the resources that do not depend on this one, and the next
/// pass tries again. Other errors end the pass.
fn transient(error: &Error) -> bool {
    error.class() == Some(crate::aws::ErrorClass::Retryable)
}

/// Finds a resource like [`Resource::observe`], retrying transient failures the way
/// [`converge`] does — for the engine's look-ups outside a converge or remove step.
pub async fn find<R: Resource>(resource: &R, ctx: Ctx<'_>) -> Result<Option<R::Observed>> {
    retry_step!(resource.observe(ctx).await)
}

/// Observe, then create or update: one attempt at a resource.
async fn step<R: Resource>(resource: &R, ctx: Ctx<'_>) -> Result<(R::Observed, Outcome)> {
    match resource.observe(ctx).await? {
        None => {
            forget_listing(resource, Write::Create, ctx);
            let created = resource.create(ctx).await;
            forget_listing(resource, Write::Create, ctx);
            Ok((created?, Outcome::Created))
        }
        Some(observed) => {
            let drift = resource.drift(&observed, ctx)?;
            if drift.is_empty() {
                Ok((observed, Outcome::Unchanged))
            } else {
                forget_listing(resource, Write::Update, ctx);
                let updated = resource.update(&observed, &drift, ctx).await;
                forget_listing(resource, Write::Update, ctx);
                updated?;
                let changed = drift.iter().map(Drift::named).collect();
                Ok((observed, Outcome::Updated(changed)))
            }
        }
    }
}

/// Forgets the pass's listing that `resource` is found in (see [`Resource::listing`]).
fn forget_listing<R: Resource>(resource: &R, write: Write, ctx: Ctx<'_>) {
    if let Some(key) = resource.listing(write, ctx) {
        ctx.aws.reads.forget(&key);
    }
}

/// Deletes one resource if it exists. Returns whether it is gone.
pub async fn remove<R: Resource>(
    resource: &R,
    scope: Scope<'_>,
    refs: &Refs,
    progress: &dyn Progress,
) -> Result<bool> {
    let ctx = scope.with(refs);
    let event = |id: Option<String>, outcome| Event {
        owner: ctx.owner.clone(),
        kind: R::KIND,
        name: resource.name().to_string(),
        id,
        outcome,
    };
    let observed = match retry_step!(resource.observe(ctx).await) {
        Ok(observed) => observed,
        // What it lives in is gone (a service's cluster, a rule's listener), so it
        // is gone too: deleting twice, or after the platform, finds nothing to do.
        Err(Error::Unresolved(_)) => None,
        Err(error) => {
            progress.report(event(None, Outcome::Failed(error.to_string())));
            return if transient(&error) {
                Ok(false)
            } else {
                Err(error)
            };
        }
    };
    let Some(observed) = observed else {
        progress.report(event(None, Outcome::Absent));
        return Ok(true);
    };
    let id = R::id(&observed);
    let deleted = retry_step!({
        forget_listing(resource, Write::Delete, ctx);
        let deleted = resource.delete(&observed, ctx).await;
        forget_listing(resource, Write::Delete, ctx);
        deleted
    });
    let report = |outcome| progress.report(event(Some(id.clone()), outcome));
    settle_delete(resource, ctx, deleted, report).await
}

/// Reports what one delete's answer means, through `report`, and returns whether
/// the resource is gone.
async fn settle_delete<R: Resource>(
    resource: &R,
    ctx: Ctx<'_>,
    deleted: Result<Removal>,
    report: impl Fn(Outcome),
) -> Result<bool> {
    match deleted {
        Ok(Removal::Done) => {
            report(Outcome::Deleted);
            Ok(true)
        }
        Ok(Removal::Waiting(why)) => {
            report(Outcome::Deleting(why));
            Ok(false)
        }
        // A delete repeated after its answer was lost finds the thing (or a part of
        // it) already gone: look again instead of failing the pass.
        Err(error) if error.class() == Some(crate::aws::ErrorClass::NotFound) => {
            // (Boxed: every pass's future holds this one, and debug builds run
            // the in-cluster controller's futures on small stacks.)
            if let Ok(None) = Box::pin(find(resource, ctx)).await {
                report(Outcome::Deleted);
                Ok(true)
            } else {
                report(Outcome::Failed(error.to_string()));
                Ok(false)
            }
        }
        Err(error) => {
            report(Outcome::Failed(error.to_string()));
            if transient(&error) {
                Ok(false)
            } else {
                Err(error)
            }
        }
    }
}
