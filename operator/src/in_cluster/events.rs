//! Kubernetes Events (`events.k8s.io/v1`), with repeats folded into a series as
//! client-go's recorder folds them.
//!
//! Why not `kube::runtime::events::Recorder`: it keys a series on the object, type,
//! reason and action only, so every `Created` of a platform's thirty AWS resources
//! became a repeat of the first, and `kubectl get events` showed the VPC thirty
//! times and nothing else. Here the note is part of the key: the same outcome
//! repeated (a `ReconcileFailed` with the same error) is one Event with a growing
//! count; distinct outcomes are distinct Events.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::{Event as Note, EventType, Reporter};
use kube::{Api, Client};
use tokio::sync::Mutex;

/// How long a published Event can still be continued as a series (client-go's
/// recorder uses the same six minutes).
const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);

/// What makes two notes the same Event: the same outcome (type, reason, action
/// and note) about the same object.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    regarding: Regarding,
    type_: &'static str,
    reason: String,
    action: String,
    note: Option<String>,
}

/// The object an Event is about, as its `ObjectReference` names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Regarding {
    uid: Option<String>,
    kind: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
}

impl Key {
    fn new(note: &Note, regarding: &ObjectReference) -> Self {
        Self {
            regarding: Regarding {
                uid: regarding.uid.clone(),
                kind: regarding.kind.clone(),
                namespace: regarding.namespace.clone(),
                name: regarding.name.clone(),
            },
            type_: type_name(&note.type_),
            reason: note.reason.clone(),
            action: note.action.clone(),
            note: note.note.clone(),
        }
    }
}

/// The Event `type` of `type_`, as the API server spells it.
fn type_name(type_: &EventType) -> &'static str {
    match type_ {
        EventType::Normal => "Normal",
        EventType::Warning => "Warning",
    }
}

/// The Event's name and namespace, and its series so far.
#[derive(Clone, Debug)]
struct Published {
    namespace: String,
    name: String,
    count: i32,
    last: Timestamp,
}

/// Publishes Events as one controller instance.
#[derive(Clone)]
pub struct Publisher {
    client: Client,
    reporter: Reporter,
    published: std::sync::Arc<Mutex<HashMap<Key, Published>>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("reporter", &self.reporter)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// A publisher reporting as `reporter`.
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Self {
            client,
            reporter,
            published: std::sync::Arc::default(),
        }
    }

    /// Publishes `note` about `regarding`: a new Event, or the next count of the
    /// same one published within the last six minutes. Events about cluster-scoped
    /// objects go to `default`, as kubectl looks for them there.
    pub async fn publish(
        &self,
        note: &Note,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = Key::new(note, regarding);
        let mut published = self.published.lock().await;
        published.retain(|_, p| p.last + SERIES_WINDOW > now);
        if let Some(previous) = published.get_mut(&key) {
            if self.continue_series(previous, now).await? {
                return Ok(());
            }
            // Gone (the API server's event TTL): start a new one.
            published.remove(&key);
        }
        let event = self.new_event(note, regarding, now);
        let first = Published {
            namespace: event.metadata.namespace.clone().unwrap_or_default(),
            name: event.metadata.name.clone().unwrap_or_default(),
            count: 1,
            last: now,
        };
        Api::<Event>::namespaced(self.client.clone(), &first.namespace)
            .create(&PostParams::default(), &event)
            .await?;
        published.insert(key, first);
        Ok(())
    }

    /// Counts one more of the `previous` Event at `now`; `false` when that Event is
    /// gone.
    async fn continue_series(
        &self,
        previous: &mut Published,
        now: Timestamp,
    ) -> Result<bool, kube::Error> {
        let count = previous.count + 1;
        let api: Api<Event> = Api::namespaced(self.client.clone(), &previous.namespace);
        let series = serde_json::json!({
            "series": EventSeries { count, last_observed_time: MicroTime(now) }
        });
        let patched = api
            .patch(
                &previous.name,
                &PatchParams::default(),
                &Patch::Merge(&series),
            )
            .await;
        match patched {
            Ok(_) => {
                previous.count = count;
                previous.last = now;
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// The first Event of a series: `note` about `regarding`, at `now`, named after
    /// the object and the time, in the object's namespace (or `default`).
    fn new_event(&self, note: &Note, regarding: &ObjectReference, now: Timestamp) -> Event {
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let name = format!(
            "{}.{:x}",
            regarding
                .name
                .as_deref()
                .unwrap_or(&self.reporter.controller),
            now.as_nanosecond()
        );
        Event {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace),
                ..ObjectMeta::default()
            },
            action: Some(note.action.clone()),
            reason: Some(note.reason.clone()),
            note: note.note.clone(),
            type_: Some(type_name(&note.type_).to_string()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            related: note.secondary.clone(),
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| self.reporter.controller.clone()),
            ),
            ..Event::default()
        }
    }
}
