//! Leader election with a `coordination.k8s.io/v1` Lease, so that of several
//! replicas exactly one reconciles — with client-go's semantics, which
//! kube-lease-manager (the maintained Rust implementation) does not have: it
//! judges expiry by the holder's `renewTime`, so a holder whose clock is behind
//! loses a live Lease.
//!
//! - **Expiry by local observation.** A replica notes, by its own monotonic clock,
//!   when it last saw the Lease record change. Another holder's Lease counts as
//!   expired only once it has stayed unchanged for the whole lease duration since
//!   then: no clock but this process's own is ever compared.
//! - **Bounded renewal.** The leader retries every [`Timing::retry`]; each attempt
//!   may take only until the renew deadline ([`Timing::renew_deadline`], shorter
//!   than the lease) after the start of the last successful renewal. Past it,
//!   leadership is lost, whatever the API server does.
//! - **Fenced writes.** Each successful renewal opens the AWS [`Fence`] until its
//!   renew deadline, so a leader cut off from the API server stops writing to AWS
//!   before any standby can take the Lease over.
//! - **Ordered release.** On shutdown the renewals stop first, then the fence
//!   closes, then the Lease is released (holder cleared), so a standby takes over at
//!   once and no late renewal can take it back.
//!
//! Every write is a create or a replace carrying the resourceVersion that was read:
//! two replicas racing for the Lease cannot both win; the loser gets 409 Conflict.

use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client};
use tokio::time::Instant;

use crate::aws::Fence;
use crate::{Error, Result};

/// The leader election's timing, client-go's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How long a Lease lasts without renewal (what standbys wait for).
    pub lease: Duration,
    /// How long the leader keeps trying to renew before it gives up leadership;
    /// shorter than `lease`, so it stops before anyone else may start.
    pub renew_deadline: Duration,
    /// Pause between attempts (to renew, or to acquire).
    pub retry: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry: Duration::from_secs(2),
        }
    }
}

/// The outcome of one attempt to hold the Lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// This replica took the Lease (created it, or took over an expired one).
    Acquired,
    /// This replica held the Lease and renewed it.
    Renewed,
    /// Another replica holds a live Lease (its identity), or won a race for it.
    HeldBy(String),
}

impl Attempt {
    /// Whether this replica holds the Lease now.
    pub fn is_held(&self) -> bool {
        matches!(self, Self::Acquired | Self::Renewed)
    }
}

/// What of a Lease record decides whether it changed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    holder: Option<String>,
    renewed: Option<String>,
    acquired: Option<String>,
    duration: Option<i32>,
    transitions: Option<i32>,
}

impl Record {
    fn of(spec: &LeaseSpec) -> Self {
        let time = |t: &Option<MicroTime>| t.as_ref().map(|t| t.0.to_string());
        Self {
            holder: spec.holder_identity.clone().filter(|h| !h.is_empty()),
            renewed: time(&spec.renew_time),
            acquired: time(&spec.acquire_time),
            duration: spec.lease_duration_seconds,
            transitions: spec.lease_transitions,
        }
    }
}

/// The Lease record this replica last saw, and when (by its own clock).
#[derive(Debug)]
struct Observed {
    record: Record,
    at: Instant,
}

/// One named Lease and this replica's identity in it.
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: Timing,
    observed: Mutex<Option<Observed>>,
}

impl std::fmt::Debug for LeaseLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseLock")
            .field("name", &self.name)
            .field("identity", &self.identity)
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

impl LeaseLock {
    /// The Lease `namespace/name`, held as `identity`.
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        timing: Timing,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            timing,
            observed: Mutex::default(),
        }
    }

    /// `namespace/name` of the Lease, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{}/{}",
            self.api.namespace().unwrap_or("default"),
            self.name
        )
    }

    /// This replica's identity (the pod name): the Lease's `holderIdentity`
    /// while it leads.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    fn spec(&self, transitions: i32, acquired: Option<MicroTime>) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.timing.lease.as_secs()).unwrap_or(i32::MAX),
            ),
            acquire_time: acquired.or_else(|| Some(now.clone())),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Notes `spec` as seen now, unless it is what was seen before (then the time
    /// it was first seen stays); returns when it was first seen.
    fn observe(&self, spec: &LeaseSpec) -> Instant {
        let record = Record::of(spec);
        let mut observed = self
            .observed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*observed {
            Some(seen) if seen.record == record => seen.at,
            _ => {
                let at = Instant::now();
                *observed = Some(Observed { record, at });
                at
            }
        }
    }

    /// Acquires, renews or observes the Lease, once. Not bounded in time: callers
    /// bound it (see [`LeaseLock::hold`]).
    pub async fn try_acquire_or_renew(&self) -> Result<Attempt> {
        let Some(mut lease) = self.api.get_opt(&self.name).await.map_err(Error::Kube)? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(0, None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(&created.spec.unwrap_or_default());
                    Ok(Attempt::Acquired)
                }
                Err(error) if is_conflict(&error) => Ok(Attempt::HeldBy(String::new())),
                Err(error) => Err(Error::Kube(error)),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let seen = self.observe(&spec);
        let record = Record::of(&spec);
        let transitions = spec.lease_transitions.unwrap_or(0);
        let attempt = match &record.holder {
            Some(holder) if *holder == self.identity => {
                lease.spec = Some(self.spec(transitions, spec.acquire_time.clone()));
                Attempt::Renewed
            }
            Some(holder) => {
                let duration = Duration::from_secs(
                    u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0),
                );
                if seen.elapsed() < duration {
                    return Ok(Attempt::HeldBy(holder.clone()));
                }
                lease.spec = Some(self.spec(transitions + 1, None));
                Attempt::Acquired
            }
            // Released: free to take at once.
            None => {
                lease.spec = Some(self.spec(transitions + 1, None));
                Attempt::Acquired
            }
        };
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(written) => {
                self.observe(&written.spec.unwrap_or_default());
                Ok(attempt)
            }
            Err(error) if is_conflict(&error) => Ok(Attempt::HeldBy(String::new())),
            Err(error) => Err(Error::Kube(error)),
        }
    }

    /// Waits until this replica holds the Lease, trying every [`Timing::retry`],
    /// and opens `fence` until the renew deadline.
    pub async fn acquire(&self, fence: &Fence) {
        loop {
            let started = Instant::now();
            let attempt =
                tokio::time::timeout(self.timing.renew_deadline, self.try_acquire_or_renew()).await;
            match attempt {
                Ok(Ok(attempt)) if attempt.is_held() => {
                    fence.hold_until((started + self.timing.renew_deadline).into_std());
                    return;
                }
                Ok(Ok(Attempt::HeldBy(holder))) => {
                    tracing::debug!(lease = %self.describe(), %holder, "lease held by another replica");
                }
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    tracing::warn!(lease = %self.describe(), %error, "cannot read the lease");
                }
                Err(_) => {
                    tracing::warn!(lease = %self.describe(), "the API server did not answer in time");
                }
            }
            tokio::time::sleep(self.timing.retry).await;
        }
    }

    /// Renews the Lease every [`Timing::retry`] for as long as this replica holds
    /// it, opening `fence` after each renewal until the next renew deadline; returns
    /// why it was lost (and the fence is closed by then): another replica holds it,
    /// or no renewal succeeded within the renew deadline.
    pub async fn hold(&self, fence: &Fence) -> String {
        let mut renewed = Instant::now();
        let why = loop {
            tokio::time::sleep(self.timing.retry).await;
            let deadline = renewed + self.timing.renew_deadline;
            let started = Instant::now();
            match tokio::time::timeout_at(deadline, self.try_acquire_or_renew()).await {
                Ok(Ok(attempt)) if attempt.is_held() => {
                    renewed = started;
                    fence.hold_until((started + self.timing.renew_deadline).into_std());
                }
                Ok(Ok(Attempt::HeldBy(holder))) if holder.is_empty() => {
                    break "another replica updated the lease first".to_string();
                }
                Ok(Ok(Attempt::HeldBy(holder))) => break format!("{holder} holds it now"),
                Ok(Ok(_)) => {}
                Ok(Err(error)) if Instant::now() >= deadline => {
                    break format!(
                        "could not renew it within {:?}: {error}",
                        self.timing.renew_deadline
                    );
                }
                Ok(Err(error)) => {
                    tracing::warn!(lease = %self.describe(), %error, "lease renewal failed; retrying");
                }
                Err(_) => {
                    break format!(
                        "the API server did not confirm a renewal within {:?}",
                        self.timing.renew_deadline
                    );
                }
            }
        };
        fence.close();
        why
    }

    /// Gives the Lease up if this replica holds it, so a standby need not wait for
    /// it to expire. Call it only after [`LeaseLock::hold`] has stopped.
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
}

fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use k8s_openapi::jiff::SignedDuration;

    use super::*;
    use crate::in_cluster::fixtures::{ApiServer, respond};

    const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/ops/leases";

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

    fn lock(client: Client, retry: Duration) -> LeaseLock {
        LeaseLock::new(
            client,
            "ops",
            "bedrock-chatbot-operator",
            "pod-a",
            Timing {
                retry,
                ..Timing::default()
            },
        )
    }

    #[tokio::test]
    async fn acquires_renews_opens_the_fence_and_stops_when_another_replica_holds_the_lease() {
        let (client, mut server) = ApiServer::new();
        let lock = lock(client, Duration::from_millis(10));
        let fence = Fence::closed();
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

            // Renew: the replace keeps the resourceVersion it read.
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
        lock.acquire(&fence).await;
        assert!(fence.allows_writes());
        let lost = tokio::time::timeout(Duration::from_secs(5), lock.hold(&fence))
            .await
            .expect("hold returns once the lease is lost");
        assert_eq!(lost, "pod-b holds it now");
        assert!(!fence.allows_writes(), "the fence closes with the lease");
        let mut server = verifier.await.unwrap();
        server.assert_idle().await;
    }

    #[tokio::test]
    async fn expiry_is_judged_by_when_this_replica_saw_the_lease_change_not_by_its_times() {
        let (client, mut server) = ApiServer::new();
        let lock = lock(client, Duration::from_secs(2));
        // The other holder's clock is an hour behind: every renewTime it writes
        // looks long expired, yet it renews. (A 2 s lease keeps the test short.)
        let behind = |seconds| Timestamp::now() - SignedDuration::from_hours(1) + seconds;
        let short = |mut lease: Lease| {
            lease.spec.as_mut().unwrap().lease_duration_seconds = Some(2);
            lease
        };
        let first = short(lease("pod-b", behind(SignedDuration::ZERO), "4"));
        let renewed = short(lease("pod-b", behind(SignedDuration::from_secs(1)), "5"));
        let verifier = tokio::spawn(async move {
            for answer in [&first, &renewed, &renewed, &renewed] {
                let (request, body) = server.next().await;
                assert_eq!(request.method, "GET");
                respond(body, 200, serde_json::to_value(answer).unwrap());
            }
            let (request, body) = server.next().await;
            assert_eq!(request.method, "PUT");
            assert_eq!(request.body["spec"]["holderIdentity"], "pod-a");
            assert_eq!(request.body["spec"]["leaseTransitions"], 4);
            assert_eq!(request.body["metadata"]["resourceVersion"], "5");
            let taken = request.body.clone();
            respond(body, 200, taken);
        });
        // First sight: live, however old its times look.
        assert_eq!(
            lock.try_acquire_or_renew().await.unwrap(),
            Attempt::HeldBy("pod-b".into())
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // It changed (renewed): live for another lease duration from now.
        assert_eq!(
            lock.try_acquire_or_renew().await.unwrap(),
            Attempt::HeldBy("pod-b".into())
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            lock.try_acquire_or_renew().await.unwrap(),
            Attempt::HeldBy("pod-b".into()),
            "unchanged for 1.5 s of a 2 s lease: still live"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            lock.try_acquire_or_renew().await.unwrap(),
            Attempt::Acquired
        );
        verifier.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_renewal_the_api_server_never_answers_ends_leadership_at_the_renew_deadline() {
        let (client, mut server) = ApiServer::new();
        let lock = lock(client, Duration::from_secs(2));
        let fence = Fence::closed();
        fence.hold_until(std::time::Instant::now() + Duration::from_secs(60));
        let verifier = tokio::spawn(async move {
            // The first renewal's GET is never answered.
            let (_request, body) = server.next().await;
            std::future::pending::<()>().await;
            drop(body);
        });
        let lost = tokio::time::timeout(Duration::from_secs(60), lock.hold(&fence))
            .await
            .expect("hold gives up by itself");
        assert!(
            lost.contains("did not confirm a renewal within 10s"),
            "{lost}"
        );
        assert!(!fence.allows_writes());
        verifier.abort();
    }

    #[tokio::test]
    async fn release_clears_the_holder_it_has() {
        let (client, mut server) = ApiServer::new();
        let lock = lock(client, Duration::from_secs(2));
        let verifier = tokio::spawn(async move {
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
        lock.release().await.unwrap();
        verifier.await.unwrap();
    }
}
