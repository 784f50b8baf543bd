//! One module per AWS resource, all with the same shape ([`Resource`]): *observe*
//! (find it by id, else by ownership tags), compare with the desired state
//! (*drift*), *create* or *update* only the difference, *delete*. The engine drives
//! them through [`converge`](crate::engine::converge) and
//! [`remove`](crate::engine::remove); a reader who knows one module knows them all.

/// Declares a resource module's enum of settings ([`Resource::Setting`]), each
/// variant with the name progress and events show for it (the AWS API's name of
/// the setting, mostly).
macro_rules! settings {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident => $shown:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self {
                    $(Self::$variant => $shown,)+
                })
            }
        }
    };
}

/// [`Resource::update`] of a resource with nothing to change in place (its
/// [`Resource::Setting`] is `Infallible`, observed as `$observed`): there is never
/// a drift to apply.
macro_rules! nothing_changes_in_place {
    ($observed:ty) => {
        async fn update(
            &self,
            _: &$observed,
            drift: &[$crate::resources::Drift<std::convert::Infallible>],
            _: $crate::resources::Ctx<'_>,
        ) -> $crate::Result<()> {
            match drift.first() {
                None => Ok(()),
                Some(change) => match change.field {},
            }
        }
    };
}

pub mod common;

pub mod attachments_bucket;
pub mod cluster;
pub mod ecr_repository;
pub mod history_table;
pub mod internet_gateway;
pub mod listener;
pub mod listener_rule;
pub mod load_balancer;
pub mod log_group;
pub mod nat_gateway;
pub mod role;
pub mod route_table;
pub mod scaling;
pub mod security_group;
pub mod service;
pub mod subnet;
pub mod target_group;
pub mod task_definition;
pub mod user_pool;
pub mod user_pool_client;
pub mod user_pool_domain;
pub mod vpc;
pub mod vpc_endpoint;

pub use common::{chatbot_ref, ec2, tags};

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use crate::aws::Aws;
use crate::desired::{Owner, PlatformRef, RefKey, Tags};
use crate::{Error, Result};

/// Who a pass works for: the clients, the owning object and its tags.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    pub aws: &'a Aws,
    /// The object that owns the resources.
    pub owner: &'a Owner,
    /// The owner's tags (each resource adds its component key).
    pub tags: &'a Tags,
}

/// What a resource module needs besides its desired state.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    pub aws: &'a Aws,
    /// The object that owns the resource.
    pub owner: &'a Owner,
    /// The owner's tags (each resource adds its component key).
    pub tags: &'a Tags,
    /// Ids and ARNs of resources converged before this one.
    pub refs: &'a Refs,
}

impl<'a> Scope<'a> {
    /// The context for one resource, seeing the ids known so far.
    pub fn with<'b>(&self, refs: &'b Refs) -> Ctx<'b>
    where
        'a: 'b,
    {
        Ctx {
            aws: self.aws,
            owner: self.owner,
            tags: self.tags,
            refs,
        }
    }
}

/// Ids and ARNs by component key ([`RefKey`]), filled in as resources converge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refs(BTreeMap<RefKey, String>);

impl Refs {
    /// Records the id (or ARN) under `key`.
    pub fn insert(&mut self, key: RefKey, id: impl Into<String>) {
        self.0.insert(key, id.into());
    }

    /// Records the id (or ARN) of `resource`, under its component key.
    pub fn record<R: Resource>(&mut self, resource: &R, id: impl Into<String>) {
        self.insert(RefKey::component(resource.key()), id);
    }

    /// The id recorded under `key`, if the resource exists yet.
    pub fn get(&self, key: &RefKey) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The id of `resource`, if it exists yet.
    pub fn of<R: Resource>(&self, resource: &R) -> Option<&str> {
        self.get(&RefKey::component(resource.key()))
    }

    /// The id `reference` points at: a known id as it is, a component by key.
    pub fn resolve(&self, reference: &PlatformRef) -> Result<String> {
        match reference.key() {
            // Only a known id has no key: it is shown as itself.
            None => Ok(reference.to_string()),
            Some(key) => self
                .get(&key)
                .map(str::to_string)
                .ok_or_else(|| Error::Unresolved(key.to_string())),
        }
    }

    /// [`Refs::resolve`] for each reference.
    pub fn resolve_all(&self, references: &[PlatformRef]) -> Result<Vec<String>> {
        references.iter().map(|r| self.resolve(r)).collect()
    }
}

/// One setting that differs between AWS and the desired state.
///
/// `S` says which setting: every resource module has its own enum of what it can
/// change ([`Resource::Setting`]), so that its `update` matches the drift
/// exhaustively and a misspelt or forgotten setting does not compile. Progress and
/// events carry the setting by its name (`Drift<String>`, see [`Drift::named`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift<S = String> {
    /// The setting that differs: the module's [`Resource::Setting`], or its name
    /// in a `Drift<String>`.
    pub field: S,
    /// What AWS has, `Debug`-formatted ([`Drift::new`]).
    pub have: String,
    /// What the desired state says, `Debug`-formatted.
    pub want: String,
}

impl<S> Drift<S> {
    /// A drift of `field` from `have` to `want`.
    pub fn new(field: S, have: impl fmt::Debug, want: impl fmt::Debug) -> Self {
        Self {
            field,
            have: format!("{have:?}"),
            want: format!("{want:?}"),
        }
    }

    /// A drift when `have != want`, else nothing.
    pub fn compare<T: PartialEq + fmt::Debug>(field: S, have: T, want: T) -> Option<Self> {
        (have != want).then(|| Self::new(field, have, want))
    }
}

impl<S: fmt::Display> Drift<S> {
    /// The same drift with the setting by its name, as progress and events show it.
    pub fn named(&self) -> Drift {
        Drift {
            field: self.field.to_string(),
            have: self.have.clone(),
            want: self.want.clone(),
        }
    }
}

impl<S: fmt::Display> fmt::Display for Drift<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} → {}", self.field, self.have, self.want)
    }
}

/// Checks the settings of `resource` that AWS cannot change in place, each as
/// (setting, what AWS has, what is desired): the first that differs is an
/// [`Error::Immutable`].
pub fn check_fixed<R: Resource>(
    resource: &R,
    settings: &[(&'static str, &str, &str)],
) -> Result<()> {
    match settings.iter().find(|(_, have, want)| have != want) {
        None => Ok(()),
        Some(&(field, have, want)) => Err(Error::Immutable {
            kind: R::KIND,
            name: resource.name().to_string(),
            field,
            have: have.to_string(),
            want: want.to_string(),
        }),
    }
}

/// Whether an existing resource can be used yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Still being provisioned; says what it waits for.
    Waiting(String),
}

/// Whether a deletion finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removal {
    /// Gone from AWS; nothing to wait for.
    Done,
    /// Deletion started; AWS finishes it asynchronously.
    Waiting(String),
}

/// The common surface of every AWS resource module.
pub trait Resource {
    /// Human name of the kind, in sentence case (`VPC`, `Route table`): it starts
    /// progress lines, events and error messages.
    const KIND: &'static str;
    /// What is known about the resource on AWS.
    type Observed;
    /// What can differ from the desired state and be changed in place: the
    /// module's own enum, displayed as the name progress and events show.
    /// ([`Infallible`](std::convert::Infallible) where nothing can.)
    type Setting: fmt::Display;

    /// Component key (the `bedrock-chatbot.dev/component` tag).
    fn key(&self) -> &str;
    /// The name shown to people (`Name` tag or resource name).
    fn name(&self) -> &str;
    /// Finds the resource: by ownership tags or by its (owned) name. A same-named
    /// resource owned by someone else is an [`Error::NotOwned`].
    fn observe(&self, ctx: Ctx<'_>) -> impl Future<Output = Result<Option<Self::Observed>>>;
    /// The settings that differ from the desired state.
    fn drift(&self, observed: &Self::Observed, ctx: Ctx<'_>) -> Result<Vec<Drift<Self::Setting>>>;
    /// Creates the resource with every desired setting and tag.
    fn create(&self, ctx: Ctx<'_>) -> impl Future<Output = Result<Self::Observed>>;
    /// Changes exactly the drifted settings.
    fn update(
        &self,
        observed: &Self::Observed,
        drift: &[Drift<Self::Setting>],
        ctx: Ctx<'_>,
    ) -> impl Future<Output = Result<()>>;
    /// Deletes the resource (and what only it uses, like its rules).
    fn delete(
        &self,
        observed: &Self::Observed,
        ctx: Ctx<'_>,
    ) -> impl Future<Output = Result<Removal>>;
    /// Its id (or ARN), as recorded in [`Refs`] and status.
    fn id(observed: &Self::Observed) -> String;
    /// The listing shared by the owners of a pass ([`crate::aws::PassReads`]) that
    /// `write` changes, if any: [`converge`](crate::engine::converge) and
    /// [`remove`](crate::engine::remove) forget it before and after the write (a
    /// failed one too), so that a look within the write or after it reads afresh.
    fn listing(&self, _write: Write, _ctx: Ctx<'_>) -> Option<String> {
        None
    }
    /// Whether it can be used yet.
    fn readiness(_observed: &Self::Observed) -> Readiness {
        Readiness::Ready
    }
}

/// How a desired resource shows in `plan`: its [`Resource::KIND`], the name shown
/// and the settings that matter, in a few words. Each resource module says its own,
/// beside how it converges; `plan` lists them in the engine's order.
pub trait Planned: Resource {
    /// The settings that matter, in a few words.
    fn detail(&self) -> String;

    /// The name shown: [`Resource::name`] unless the row names it otherwise.
    fn shown_name(&self) -> String {
        self.name().to_string()
    }
}

/// "on" or "off", as `plan` shows a switch.
pub(crate) fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// A write of the engine to a resource (see [`Resource::listing`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// [`Resource::create`].
    Create,
    /// [`Resource::update`].
    Update,
    /// [`Resource::delete`].
    Delete,
}

/// What happened to one resource in a pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Created now.
    Created,
    /// Existed with drift; the listed settings (by name) were changed.
    Updated(Vec<Drift>),
    /// Existed as desired.
    Unchanged,
    /// Exists but is not usable yet.
    Waiting(String),
    /// Cannot be worked on until another resource exists.
    Blocked(String),
    /// Deleted now.
    Deleted,
    /// Deletion started, not finished.
    Deleting(String),
    /// Not there (nothing to delete).
    Absent,
    /// Left in place (`deletionPolicy: Retain`).
    Retained,
    /// The step failed; holds the error's message.
    Failed(String),
}

/// One line of progress: which resource of which owner, and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The object whose pass worked on the resource.
    pub owner: Owner,
    /// The resource's [`Resource::KIND`].
    pub kind: &'static str,
    /// The resource's [`Resource::name`].
    pub name: String,
    /// Id or ARN, when known.
    pub id: Option<String>,
    /// What happened.
    pub outcome: Outcome,
}

/// Receives progress as it happens (a terminal display, plain lines, events).
pub trait Progress: Send + Sync {
    /// Called once per resource per pass.
    fn report(&self, event: Event);
}
