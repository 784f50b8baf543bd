//! Prometheus metrics of the in-cluster controller, and the small HTTP server that
//! serves them with the health probes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use bedrock_chatbot_crds::{CONDITION_READY, Condition};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::aws::{Call, CallLog};
use crate::in_cluster::reconciler::Outcome;
use crate::{Error, Result};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    kind: &'static str,
    result: Outcome,
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        self.label().encode(encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    kind: &'static str,
    error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    service: String,
    operation: String,
    /// `ok`, `client_error`, `throttled`, `server_error` or `no_response`.
    outcome: &'static str,
    /// HTTP status of the last attempt (`none` without a response).
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabels {
    kind: &'static str,
    condition: &'static str,
    status: String,
    reason: String,
}

/// Every metric of the controller, registered in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    duration: Family<KindLabels, Histogram>,
    errors: Family<ErrorLabels, Counter>,
    aws_calls: Family<CallLabels, Counter>,
    objects: Family<ConditionLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("bedrock_chatbot_operator");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register(
            "reconciles",
            format!(
                "Reconciles by kind and result ({})",
                Outcome::ALL.map(Outcome::label).join(", ")
            ),
            reconciles.clone(),
        );
        let duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 14))
        });
        registry.register(
            "reconcile_duration_seconds",
            "How long a reconcile took, by kind",
            duration.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Failed reconciles by kind and error class",
            errors.clone(),
        );
        let aws_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "aws_calls",
            "AWS API calls (after the SDK's retries) by service, operation and outcome",
            aws_calls.clone(),
        );
        let objects = Family::<ConditionLabels, Gauge>::default();
        registry.register(
            "objects",
            "Watched objects by kind and their Ready condition's status and reason",
            objects.clone(),
        );
        Self {
            registry,
            reconciles,
            duration,
            errors,
            aws_calls,
            objects,
        }
    }
}

impl Metrics {
    /// Counts one reconcile of `kind` that ended with `result`, taking `elapsed`.
    pub fn reconciled(&self, kind: &'static str, result: Outcome, elapsed: Duration) {
        self.reconciles
            .get_or_create(&ReconcileLabels { kind, result })
            .inc();
        self.duration
            .get_or_create(&KindLabels { kind })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a failed reconcile by its error label.
    pub fn failed(&self, kind: &'static str, error: &Error) {
        self.errors
            .get_or_create(&ErrorLabels {
                kind,
                error: error.label(),
            })
            .inc();
    }

    /// Moves the calls recorded so far out of `log` into the counters, so the log
    /// of a long-running controller stays small.
    pub fn collect_calls(&self, log: &CallLog) {
        for call in log.drain() {
            self.count_call(&call);
        }
    }

    fn count_call(&self, call: &Call) {
        let outcome = match call.status {
            None => "no_response",
            Some(200..=399) => "ok",
            Some(429) => "throttled",
            Some(400..=499) => "client_error",
            Some(_) => "server_error",
        };
        self.aws_calls
            .get_or_create(&CallLabels {
                service: call.service.clone(),
                operation: call.operation.clone(),
                outcome,
                status: call
                    .status
                    .map_or_else(|| "none".to_string(), |s| s.to_string()),
            })
            .inc();
    }

    /// Replaces the per-condition object counts of `kind` with those of
    /// `conditions` (one slice per object).
    pub fn count_objects<'a>(
        &self,
        kind: &'static str,
        conditions: impl IntoIterator<Item = &'a [Condition]>,
    ) {
        let mut counts = std::collections::BTreeMap::<(String, String), i64>::new();
        for conditions in conditions {
            let ready = conditions.iter().find(|c| c.type_ == CONDITION_READY);
            let key = match ready {
                Some(c) => (format!("{:?}", c.status), c.reason.clone()),
                None => ("Unknown".to_string(), "NotReconciled".to_string()),
            };
            *counts.entry(key).or_default() += 1;
        }
        for ((status, reason), count) in counts {
            self.objects
                .get_or_create(&ConditionLabels {
                    kind,
                    condition: CONDITION_READY,
                    status,
                    reason,
                })
                .set(count);
        }
    }

    /// Forgets every object count (before both kinds are counted anew).
    pub fn clear_objects(&self) {
        self.objects.clear();
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// How many reconciles of `kind` ended with `result` (for tests and logs).
    pub fn reconcile_count(&self, kind: &'static str, result: Outcome) -> u64 {
        self.reconciles
            .get_or_create(&ReconcileLabels { kind, result })
            .get()
    }
}

/// Where this replica stands, for `/readyz`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Starting, or leader but caches not synced yet: not ready.
    Starting = 0,
    /// Waiting for the leader lease: ready (a standby that can take over).
    Standby = 1,
    /// Leader with synced caches: ready.
    Serving = 2,
    /// Shutting down: not ready.
    Stopping = 3,
}

/// What the HTTP server reads: the metrics, the phase, and a hook that refreshes
/// the metrics computed from the caches before a scrape.
#[derive(Debug, Default)]
pub struct Health {
    /// What `/metrics` serves; the controllers count into the same one.
    pub metrics: Arc<Metrics>,
    phase: AtomicU8,
    refresh: OnceLock<Box<dyn Refresh>>,
}

/// Refreshes metrics that are read off the controller's state at scrape time.
pub trait Refresh: Send + Sync + std::fmt::Debug {
    /// Called before every scrape.
    fn refresh(&self, metrics: &Metrics);
}

impl Health {
    /// Health around `metrics`, starting not ready.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            ..Self::default()
        }
    }

    /// Moves to `phase`, which `/readyz` answers by from then on.
    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::SeqCst);
    }

    /// The last phase set ([`Phase::Starting`] before any).
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::SeqCst) {
            1 => Phase::Standby,
            2 => Phase::Serving,
            3 => Phase::Stopping,
            _ => Phase::Starting,
        }
    }

    /// Sets the scrape-time refresh (once; later calls are ignored).
    pub fn set_refresh(&self, refresh: Box<dyn Refresh>) {
        let _ = self.refresh.set(refresh);
    }
}

/// `/metrics`, `/healthz` and `/readyz`.
pub fn app(health: Arc<Health>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(health)
}

async fn metrics(State(health): State<Arc<Health>>) -> impl IntoResponse {
    if let Some(refresh) = health.refresh.get() {
        refresh.refresh(&health.metrics);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        health.metrics.render(),
    )
}

async fn readyz(State(health): State<Arc<Health>>) -> (StatusCode, &'static str) {
    match health.phase() {
        Phase::Serving => (StatusCode::OK, "ok: leader, caches synced\n"),
        Phase::Standby => (
            StatusCode::OK,
            "ok: standby, waiting for the leader lease\n",
        ),
        Phase::Starting => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: caches not synced yet\n",
        ),
        Phase::Stopping => (StatusCode::SERVICE_UNAVAILABLE, "not ready: stopping\n"),
    }
}

/// Where the metrics and health server listens: `HOST:PORT`, or `:PORT` for
/// every address of the pod, IPv6 and IPv4 (the kubelet probes, and Prometheus
/// scrapes, the pod's IP, which is an IPv6 address in an IPv6 or dual-stack
/// cluster).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    /// Every address of both families on this port.
    AnyAddress(u16),
    /// This address only.
    Exactly(SocketAddr),
}

impl std::str::FromStr for ListenAddr {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        if let Some(port) = text.strip_prefix(':') {
            return port.parse().map(Self::AnyAddress).map_err(|_| {
                format!("`{text}`: the port after `:` must be a number from 0 to 65535")
            });
        }
        text.parse().map(Self::Exactly).map_err(|_| {
            format!(
                "`{text}` is neither `:PORT` (every address, IPv6 and IPv4) nor `HOST:PORT` \
                 (`127.0.0.1:8080`, `[::1]:8080`)"
            )
        })
    }
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AnyAddress(port) => write!(f, ":{port}"),
            Self::Exactly(addr) => addr.fmt(f),
        }
    }
}

/// A listener on `addr`. `:PORT` is one IPv6 socket that accepts IPv4 too
/// (`IPV6_V6ONLY` off, whatever `net.ipv6.bindv6only` says); on a node without
/// IPv6 (no such address family, or IPv6 disabled) it is `0.0.0.0:PORT`.
fn listen(addr: ListenAddr) -> std::io::Result<tokio::net::TcpListener> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    match addr {
        ListenAddr::Exactly(at) => bind(at),
        ListenAddr::AnyAddress(port) => match bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)))
        {
            Err(error) if error.kind() != std::io::ErrorKind::AddrInUse => {
                tracing::warn!(%error, port, "no IPv6 here: serving on IPv4 only");
                bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
            }
            listening => listening,
        },
    }
}

/// A listening socket on `at`; an IPv6 one also accepts IPv4-mapped peers.
fn bind(at: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(at), Type::STREAM, Some(Protocol::TCP))?;
    if at.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&at.into())?;
    socket.listen(1024)?;
    tokio::net::TcpListener::from_std(socket.into())
}

/// Binds `addr` and serves [`app`] until `shutdown` resolves.
pub async fn serve(
    addr: ListenAddr,
    health: Arc<Health>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<tokio::task::JoinHandle<()>> {
    let listener = listen(addr).map_err(|source| Error::Serve {
        addr: addr.to_string(),
        source,
    })?;
    Ok(tokio::spawn(async move {
        let served = axum::serve(listener, app(health))
            .with_graceful_shutdown(shutdown)
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "metrics server stopped");
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_by_outcome_and_drained_from_the_log() {
        let metrics = Metrics::default();
        let log = CallLog::default();
        log.push(Call {
            service: "ec2".into(),
            operation: "CreateVpc".into(),
            status: Some(200),
        });
        log.push(Call {
            service: "ec2".into(),
            operation: "DescribeVpcs".into(),
            status: Some(503),
        });
        metrics.collect_calls(&log);
        assert!(log.is_empty());
        let text = metrics.render();
        assert!(text.contains(r#"bedrock_chatbot_operator_aws_calls_total{service="ec2",operation="CreateVpc",outcome="ok",status="200"} 1"#), "{text}");
        assert!(
            text.contains(r#"outcome="server_error",status="503"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn reconciles_and_objects_are_rendered() {
        let metrics = Metrics::default();
        metrics.reconciled("BedrockChatbot", Outcome::Ok, Duration::from_millis(30));
        let ready = Condition {
            type_: "Ready".into(),
            status: bedrock_chatbot_crds::ConditionStatus::False,
            reason: "WaitingForPlatform".into(),
            message: String::new(),
            last_transition_time: String::new(),
            observed_generation: None,
        };
        let objects = [vec![ready.clone()], vec![ready], vec![]];
        metrics.count_objects("BedrockChatbot", objects.iter().map(Vec::as_slice));
        let text = metrics.render();
        assert!(
            text.contains(r#"reconciles_total{kind="BedrockChatbot",result="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"reconcile_duration_seconds_count{kind="BedrockChatbot"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"objects{kind="BedrockChatbot",condition="Ready",status="False",reason="WaitingForPlatform"} 2"#), "{text}");
        assert!(text.contains(r#"reason="NotReconciled"} 1"#), "{text}");
    }

    #[test]
    fn the_reconciles_help_names_every_result_label() {
        let metrics = Metrics::default();
        metrics.reconciled("BedrockChatbot", Outcome::Provisioning, Duration::ZERO);
        let text = metrics.render();
        let help = text
            .lines()
            .find(|l| l.starts_with("# HELP bedrock_chatbot_operator_reconciles "))
            .unwrap_or_else(|| panic!("no help line for reconciles in {text}"));
        for label in [
            "ok",
            "provisioning",
            "waiting",
            "invalid_spec",
            "paused",
            "dry_run",
            "error",
        ] {
            assert!(help.contains(label), "{label} missing from {help}");
        }
    }

    #[test]
    fn a_listen_address_is_a_port_for_every_address_or_one_socket_address() {
        assert_eq!(":8080".parse(), Ok(ListenAddr::AnyAddress(8080)));
        assert_eq!(
            "127.0.0.1:9090".parse(),
            Ok(ListenAddr::Exactly(SocketAddr::from((
                [127, 0, 0, 1],
                9090
            ))))
        );
        assert_eq!(
            "[::1]:9090".parse::<ListenAddr>().map(|a| a.to_string()),
            Ok("[::1]:9090".to_string())
        );
        assert_eq!(ListenAddr::AnyAddress(8080).to_string(), ":8080");
        for (bad, says) in [
            ("8080", "neither `:PORT`"),
            ("localhost:8080", "neither `:PORT`"),
            (":http", "must be a number"),
            (":70000", "must be a number"),
            (":", "must be a number"),
        ] {
            let error = bad.parse::<ListenAddr>().unwrap_err();
            assert!(
                error.contains(says) && error.contains(bad),
                "{bad}: {error}"
            );
        }
    }

    /// One socket for `:PORT` takes connections of both families (on loopback).
    #[tokio::test]
    async fn any_address_accepts_ipv6_and_ipv4() {
        let listener = listen(ListenAddr::AnyAddress(0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepting = tokio::spawn(async move {
            for _ in 0..2 {
                listener.accept().await.unwrap();
            }
        });
        for ip in [
            std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST),
            std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ] {
            tokio::net::TcpStream::connect((ip, port))
                .await
                .unwrap_or_else(|e| panic!("{ip} port {port}: {e}"));
        }
        accepting.await.unwrap();
    }

    #[tokio::test]
    async fn exactly_one_address_is_only_that_one() {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(
            tokio::net::TcpStream::connect((std::net::Ipv6Addr::LOCALHOST, port))
                .await
                .is_err()
        );
        assert!(
            tokio::net::TcpStream::connect((std::net::Ipv4Addr::LOCALHOST, port))
                .await
                .is_ok()
        );
    }
}
