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

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    regarding: (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    ),
    type_: &'static str,
    reason: String,
    action: String,
    note: Option<String>,
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
        let type_ = match note.type_ {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        };
        let key = Key {
            regarding: (
                regarding.uid.clone(),
                regarding.kind.clone(),
                regarding.namespace.clone(),
                regarding.name.clone(),
            ),
            type_,
            reason: note.reason.clone(),
            action: note.action.clone(),
            note: note.note.clone(),
        };
        let mut published = self.published.lock().await;
        published.retain(|_, p| p.last + SERIES_WINDOW > now);
        if let Some(previous) = published.get_mut(&key) {
            let count = previous.count + 1;
            let api: Api<Event> = Api::namespaced(self.client.clone(), &previous.namespace);
            let series = serde_json::json!({
                "series": EventSeries { count, last_observed_time: MicroTime(now) }
            });
            match api
                .patch(
                    &previous.name,
                    &PatchParams::default(),
                    &Patch::Merge(&series),
                )
                .await
            {
                Ok(_) => {
                    previous.count = count;
                    previous.last = now;
                    return Ok(());
                }
                // Gone (the API server's event TTL): start a new one.
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    published.remove(&key);
                }
                Err(error) => return Err(error),
            }
        }
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
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            action: Some(note.action.clone()),
            reason: Some(note.reason.clone()),
            note: note.note.clone(),
            type_: Some(type_.to_string()),
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
        };
        Api::<Event>::namespaced(self.client.clone(), &namespace)
            .create(&PostParams::default(), &event)
            .await?;
        published.insert(
            key,
            Published {
                namespace,
                name,
                count: 1,
                last: now,
            },
        );
        Ok(())
    }
}
