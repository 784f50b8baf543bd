//! In-cluster mode at scale: the real controller (`operator::in_cluster::run`)
//! against an in-process fake API server that holds one Ready platform and N
//! chatbots, answers list (with pages) and watch (open, no changes) requests, and
//! accepts Events. The controller runs with `--dry-run`: every reconcile admits
//! the object (schema and CEL), checks it against every cached object (hostnames,
//! priorities), computes the desired state and plan, and publishes an Event —
//! everything but the AWS calls.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::region::Region;
use bytes::Bytes;
use http::{Request, Response};
use kube::client::Body;
use operator::in_cluster::{self, Settings};
use operator::metrics::{Health, Metrics};
use serde::{Deserialize, Serialize};

use crate::BoxError;

/// What the in-cluster run measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Figures {
    /// Chatbots in the cache.
    pub objects: usize,
    /// Platforms they are spread over (at most 100 chatbots each).
    pub platforms: usize,
    /// Reconciles per kind at the same time (the default of `run`).
    pub concurrency: u16,
    /// From start to the last chatbot's first reconcile, in seconds.
    pub seconds_to_all_reconciled: f64,
    /// Chatbot reconciles seen (some are reconciled twice: once for their own
    /// watch event, once when the platform's event requeues them).
    pub reconciles: usize,
    /// Chatbot reconciles per second, between the first and the last one.
    pub reconciles_per_second: f64,
    /// RSS once every chatbot was reconciled, in MiB.
    pub rss_mib: f64,
    /// Peak RSS of the process, in MiB.
    pub peak_rss_mib: f64,
    /// RSS before the controller started (runtime and the fake API server's data), MiB.
    pub baseline_rss_mib: f64,
    /// Size of the objects the fake API server holds, serialized, in MiB.
    pub served_objects_mib: f64,
    /// Requests the fake API server did not expect.
    pub unexpected_requests: Vec<String>,
}

struct State {
    platforms: Bytes,
    chatbots: Vec<Bytes>,
    started: Instant,
    reconciles: AtomicUsize,
    reconciled: Mutex<BTreeSet<String>>,
    first: Mutex<Option<Duration>>,
    last: Mutex<Duration>,
    unexpected: Mutex<Vec<String>>,
}

/// Chatbots per platform: the most one HTTPS listener's rules allow.
const PER_PLATFORM: usize = 100;

const GROUP_PATH: &str = "/apis/bedrock-chatbot.dev/v1alpha1/";

fn json(status: u16, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Body::from(body.into()));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn list(kind: &str, items: &[Bytes], start: usize, limit: usize) -> Bytes {
    let end = (start + limit).min(items.len());
    let next = if end < items.len() {
        format!(",\"continue\":\"{end}\"")
    } else {
        String::new()
    };
    let mut page = format!(
        "{{\"apiVersion\":\"bedrock-chatbot.dev/v1alpha1\",\"kind\":\"{kind}List\",\"metadata\":{{\"resourceVersion\":\"1\"{next}}},\"items\":["
    )
    .into_bytes();
    for (i, item) in items[start..end].iter().enumerate() {
        if i > 0 {
            page.push(b',');
        }
        page.extend_from_slice(item);
    }
    page.extend_from_slice(b"]}");
    page.into()
}

fn query_value<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

impl State {
    async fn answer(&self, request: Request<Body>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_string();
        let query = parts.uri.query().unwrap_or_default().to_string();
        let method = parts.method.as_str();
        if method == "GET" && path.starts_with(GROUP_PATH) {
            if query_value(&query, "watch") == Some("true") {
                // Nothing changes: the watch stays open without events.
                std::future::pending::<()>().await;
            }
            let start = query_value(&query, "continue")
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let limit = query_value(&query, "limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(usize::MAX);
            return match &path[GROUP_PATH.len()..] {
                "chatbotplatforms" => json(200, self.platforms.clone()),
                "bedrockchatbots" => {
                    json(200, list("BedrockChatbot", &self.chatbots, start, limit))
                }
                _ => self.unexpected(method, &path),
            };
        }
        if (method == "POST" || method == "PATCH") && path.contains("/events") {
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let event: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let regarding = &event["regarding"];
            if regarding["kind"] == "BedrockChatbot" {
                self.reconciled(format!(
                    "{}/{}",
                    regarding["namespace"].as_str().unwrap_or_default(),
                    regarding["name"].as_str().unwrap_or_default()
                ));
            }
            return json(if method == "POST" { 201 } else { 200 }, bytes);
        }
        self.unexpected(method, &path)
    }

    fn reconciled(&self, key: String) {
        let now = self.started.elapsed();
        self.reconciles.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut first) = self.first.lock() {
            first.get_or_insert(now);
        }
        if let Ok(mut last) = self.last.lock() {
            *last = now;
        }
        if let Ok(mut reconciled) = self.reconciled.lock() {
            reconciled.insert(key);
        }
    }

    fn unexpected(&self, method: &str, path: &str) -> Response<Body> {
        if let Ok(mut unexpected) = self.unexpected.lock() {
            unexpected.push(format!("{method} {path}"));
        }
        json(
            404,
            r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#,
        )
    }

    fn distinct(&self) -> usize {
        self.reconciled.lock().map(|r| r.len()).unwrap_or_default()
    }
}

/// The objects as the API server would store them: uid, resourceVersion,
/// generation, creationTimestamp; the platform with `Ready=True`.
fn objects(count: usize) -> Result<(usize, Bytes, Vec<Bytes>), BoxError> {
    // An HTTPS listener holds at most 100 rules: 100 chatbots per platform.
    let platforms = count.div_ceil(PER_PLATFORM).max(1);
    let text = crate::scale::text(
        platforms,
        count.div_ceil(platforms),
        "arn:aws:acm:us-west-2:123456789012:certificate/00000000-0000-0000-0000-000000000000",
    )?;
    let manifests = operator::manifest::load_str(std::path::Path::new("cluster.yaml"), &text)?;
    let stored = |mut value: serde_json::Value, uid: String| {
        let metadata = &mut value["metadata"];
        metadata["uid"] = uid.into();
        metadata["resourceVersion"] = "1".into();
        metadata["generation"] = 1.into();
        metadata["creationTimestamp"] = "2026-01-01T00:00:00Z".into();
        value
    };
    let platforms = manifests
        .platforms
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut platform = stored(serde_json::to_value(&p.object)?, format!("platform-{i}"));
            platform["status"] = serde_json::json!({
                "observedGeneration": 1,
                "accountId": "123456789012",
                "conditions": [{
                    "type": "Ready", "status": "True", "reason": "Ready", "message": "",
                    "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1
                }],
            });
            Ok(platform)
        })
        .collect::<Result<Vec<_>, BoxError>>()?;
    let platforms = serde_json::to_vec(&serde_json::json!({
        "apiVersion": "bedrock-chatbot.dev/v1alpha1",
        "kind": "ChatbotPlatformList",
        "metadata": { "resourceVersion": "1" },
        "items": platforms,
    }))?;
    let chatbots = manifests
        .chatbots
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let value = stored(serde_json::to_value(&c.object)?, format!("chatbot-{i}"));
            Ok(Bytes::from(serde_json::to_vec(&value)?))
        })
        .collect::<Result<Vec<_>, BoxError>>()?;
    Ok((manifests.platforms.len(), platforms.into(), chatbots))
}

/// Runs the controller over `count` chatbots until each was reconciled once.
pub async fn run(count: usize) -> Result<Figures, BoxError> {
    let (platform_count, platforms, chatbots) = objects(count)?;
    let served_objects_mib =
        (platforms.len() + chatbots.iter().map(Bytes::len).sum::<usize>()) as f64 / 1048576.0;
    let state = Arc::new(State {
        platforms,
        chatbots,
        started: Instant::now(),
        reconciles: AtomicUsize::new(0),
        reconciled: Mutex::default(),
        first: Mutex::default(),
        last: Mutex::new(Duration::ZERO),
        unexpected: Mutex::default(),
    });
    let baseline_rss_mib = crate::rss::current_mib();
    let service = {
        let state = state.clone();
        tower::service_fn(move |request: Request<Body>| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(state.answer(request).await) }
        })
    };
    let client = kube::Client::new(service, "default");
    // Dry run makes no AWS call; the configuration points nowhere on purpose.
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "bench", "bench", None, None, "bench",
        )))
        .build();
    let settings = Settings {
        dry_run: true,
        ..Settings::default()
    };
    let concurrency = settings.concurrency;
    let health = Arc::new(Health::new(Arc::new(Metrics::default())));
    tokio::spawn(in_cluster::run(client, sdk, settings, None, health));

    let deadline = Instant::now() + Duration::from_secs(300);
    while state.distinct() < count {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {count} chatbots reconciled in 300 s",
                state.distinct()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds_to_all_reconciled = state.started.elapsed().as_secs_f64();
    // Let the second round (requeued by the platform's event) finish too.
    let mut seen = state.reconciles.load(Ordering::SeqCst);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = state.reconciles.load(Ordering::SeqCst);
        if now == seen {
            break;
        }
        seen = now;
    }
    let first = state
        .first
        .lock()
        .map(|f| f.unwrap_or_default())
        .unwrap_or_default();
    let last = state.last.lock().map(|l| *l).unwrap_or_default();
    let span = (last - first).as_secs_f64().max(f64::EPSILON);
    Ok(Figures {
        objects: count,
        platforms: platform_count,
        concurrency,
        seconds_to_all_reconciled,
        reconciles: seen,
        reconciles_per_second: seen as f64 / span,
        rss_mib: crate::rss::current_mib(),
        peak_rss_mib: crate::rss::peak_mib(),
        baseline_rss_mib,
        served_objects_mib,
        unexpected_requests: state
            .unexpected
            .lock()
            .map(|u| u.clone())
            .unwrap_or_default(),
    })
}
