//! Leader election with a `coordination.k8s.io/v1` Lease, so that of several
//! replicas exactly one reconciles: acquire (or take over an expired lease), renew
//! well within the lease duration, stop when the lease is lost, release it on
//! shutdown so a standby takes over at once instead of after the lease expires.
//!
//! Every write is a create or a replace carrying the resourceVersion that was read,
//! so two replicas racing for the same lease cannot both win: the API server
//! answers the loser with 409 Conflict.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::PostParams;
use kube::{Api, Client};

use crate::{Error, Result};

/// The outcome of one attempt to hold the lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// This replica took the lease (created it, or took over an expired one).
    Acquired,
    /// This replica held the lease and renewed it.
    Renewed,
    /// Another replica holds a live lease (its identity), or won a race for it.
    HeldBy(String),
}

impl Attempt {
    /// Whether this replica holds the lease now.
    pub fn is_held(&self) -> bool {
        matches!(self, Self::Acquired | Self::Renewed)
    }
}

/// One named Lease and this replica's identity in it.
#[derive(Clone)]
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
}

impl std::fmt::Debug for LeaseLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseLock")
            .field("name", &self.name)
            .field("identity", &self.identity)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

impl LeaseLock {
    /// The lease `namespace/name`, held as `identity` for `duration` per renewal.
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            duration,
        }
    }

    /// `namespace/name` of the lease, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{}/{}",
            self.api.namespace().unwrap_or("default"),
            self.name
        )
    }

    /// This replica's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    fn spec(&self, now: Timestamp, transitions: i32, acquired: Option<MicroTime>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(i32::try_from(self.duration.as_secs()).unwrap_or(15)),
            acquire_time: acquired.or(Some(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Acquires, renews or observes the lease, once.
    pub async fn try_acquire(&self) -> Result<Attempt> {
        let now = Timestamp::now();
        let Some(mut lease) = self.api.get_opt(&self.name).await.map_err(Error::Kube)? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, 0, None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Attempt::Acquired),
                Err(error) if is_conflict(&error) => Ok(Attempt::HeldBy(String::new())),
                Err(error) => Err(Error::Kube(error)),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let transitions = spec.lease_transitions.unwrap_or(0);
        let attempt = match holder {
            Some(holder) if holder == self.identity => {
                lease.spec = Some(self.spec(now, transitions, spec.acquire_time.clone()));
                Attempt::Renewed
            }
            Some(holder) if !expired(&spec, now) => return Ok(Attempt::HeldBy(holder)),
            _ => {
                lease.spec = Some(self.spec(now, transitions + 1, None));
                Attempt::Acquired
            }
        };
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(attempt),
            Err(error) if is_conflict(&error) => Ok(Attempt::HeldBy(String::new())),
            Err(error) => Err(Error::Kube(error)),
        }
    }

    /// Gives the lease up if this replica holds it, so a standby need not wait for
    /// it to expire.
    pub async fn release(&self) -> Result<()> {
        let Some(mut lease) = self.api.get_opt(&self.name).await.map_err(Error::Kube)? else {
            return Ok(());
        };
        let mut spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        lease.spec = Some(spec);
        self.api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
            .map_err(Error::Kube)?;
        Ok(())
    }

    /// Waits until this replica holds the lease, trying every `retry`.
    pub async fn acquire(&self, retry: Duration) {
        loop {
            match self.try_acquire().await {
                Ok(attempt) if attempt.is_held() => return,
                Ok(Attempt::HeldBy(holder)) => {
                    tracing::debug!(lease = %self.describe(), %holder, "lease held by another replica");
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(lease = %self.describe(), %error, "cannot read the lease")
                }
            }
            tokio::time::sleep(retry).await;
        }
    }

    /// Renews the lease every `renew` for as long as this replica holds it; returns
    /// why it was lost: another replica holds it, or it could not be renewed for a
    /// whole lease duration (after which another replica may take it over).
    pub async fn hold(&self, renew: Duration) -> String {
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(renew).await;
            match self.try_acquire().await {
                Ok(attempt) if attempt.is_held() => last_renewed = tokio::time::Instant::now(),
                Ok(Attempt::HeldBy(holder)) if holder.is_empty() => {
                    return "another replica updated the lease first".to_string();
                }
                Ok(Attempt::HeldBy(holder)) => return format!("{holder} holds it now"),
                Ok(_) => {}
                Err(error) => {
                    // The deadline is shorter than the lease, so this replica stops
                    // before anyone else may start.
                    let deadline = self.duration.mul_f64(0.8);
                    if last_renewed.elapsed() >= deadline {
                        return format!("could not renew it for {deadline:?}: {error}");
                    }
                    tracing::warn!(lease = %self.describe(), %error, "lease renewal failed; retrying");
                }
            }
        }
    }
}

fn expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    let Some(MicroTime(renewed)) = &spec.renew_time else {
        return true;
    };
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(0)));
    renewed
        .checked_add(duration)
        .map_or(true, |until| until < now)
}

fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::controller::fixtures::{ApiServer, respond};

    fn lease(holder: &str, renewed: Timestamp, version: &str) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("bedrock-chatbot-operator".into()),
                namespace: Some("ops".into()),
                resource_version: Some(version.into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                lease_duration_seconds: Some(15),
                renew_time: Some(MicroTime(renewed)),
                lease_transitions: Some(3),
                ..LeaseSpec::default()
            }),
        }
    }

    const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/ops/leases";

    #[tokio::test]
    async fn acquires_renews_and_stops_when_another_replica_holds_the_lease() {
        let (client, mut server) = ApiServer::new();
        let lock = LeaseLock::new(
            client,
            "ops",
            "bedrock-chatbot-operator",
            "pod-a",
            Duration::from_secs(15),
        );
        let verifier = tokio::spawn(async move {
            // Acquire: no lease yet, so it is created with pod-a as the holder.
            let (request, body) = server.next().await;
            assert_eq!(request.method, "GET");
            assert_eq!(request.path, format!("{PATH}/bedrock-chatbot-operator"));
            respond(
                body,
                404,
                serde_json::json!({"kind": "Status", "code": 404, "reason": "NotFound"}),
            );
            let (request, body) = server.next().await;
            assert_eq!(request.method, "POST");
            assert_eq!(request.path, PATH);
            assert_eq!(request.body["spec"]["holderIdentity"], "pod-a");
            assert_eq!(request.body["spec"]["leaseDurationSeconds"], 15);
            let created = request.body.clone();
            respond(body, 201, created);

            // Renew: pod-a holds it; the replace keeps the resourceVersion it read.
            let (request, body) = server.next().await;
            assert_eq!(request.method, "GET");
            respond(
                body,
                200,
                serde_json::to_value(lease("pod-a", Timestamp::now(), "7")).unwrap(),
            );
            let (request, body) = server.next().await;
            assert_eq!(request.method, "PUT");
            assert_eq!(request.body["metadata"]["resourceVersion"], "7");
            assert_eq!(request.body["spec"]["holderIdentity"], "pod-a");
            assert_eq!(request.body["spec"]["leaseTransitions"], 3);
            let renewed = request.body.clone();
            respond(body, 200, renewed);

            // Lost: pod-b took it over (say, after a network partition).
            let (request, body) = server.next().await;
            assert_eq!(request.method, "GET");
            respond(
                body,
                200,
                serde_json::to_value(lease("pod-b", Timestamp::now(), "9")).unwrap(),
            );
            server
        });
        assert_eq!(lock.try_acquire().await.unwrap(), Attempt::Acquired);
        let lost =
            tokio::time::timeout(Duration::from_secs(5), lock.hold(Duration::from_millis(10)))
                .await
                .expect("hold returns once the lease is lost");
        assert_eq!(lost, "pod-b holds it now");
        let mut server = verifier.await.unwrap();
        server.assert_idle().await;
    }

    #[tokio::test]
    async fn a_live_lease_of_another_replica_is_left_alone_and_an_expired_one_taken_over() {
        let (client, mut server) = ApiServer::new();
        let lock = LeaseLock::new(
            client,
            "ops",
            "bedrock-chatbot-operator",
            "pod-a",
            Duration::from_secs(15),
        );
        let verifier = tokio::spawn(async move {
            let (_, body) = server.next().await;
            respond(
                body,
                200,
                serde_json::to_value(lease("pod-b", Timestamp::now(), "4")).unwrap(),
            );
            let (_, body) = server.next().await;
            let stale = Timestamp::now() - SignedDuration::from_secs(60);
            respond(
                body,
                200,
                serde_json::to_value(lease("pod-b", stale, "5")).unwrap(),
            );
            let (request, body) = server.next().await;
            assert_eq!(request.method, "PUT");
            assert_eq!(request.body["spec"]["holderIdentity"], "pod-a");
            assert_eq!(request.body["spec"]["leaseTransitions"], 4);
            assert_eq!(request.body["metadata"]["resourceVersion"], "5");
            let taken = request.body.clone();
            respond(body, 200, taken);
            // Release on shutdown: the holder is cleared.
            let (_, body) = server.next().await;
            respond(
                body,
                200,
                serde_json::to_value(lease("pod-a", Timestamp::now(), "6")).unwrap(),
            );
            let (request, body) = server.next().await;
            assert_eq!(request.method, "PUT");
            assert!(
                request.body["spec"].get("holderIdentity").is_none(),
                "{}",
                request.body
            );
            let released = request.body.clone();
            respond(body, 200, released);
        });
        assert_eq!(
            lock.try_acquire().await.unwrap(),
            Attempt::HeldBy("pod-b".into())
        );
        assert_eq!(lock.try_acquire().await.unwrap(), Attempt::Acquired);
        lock.release().await.unwrap();
        verifier.await.unwrap();
    }
}
