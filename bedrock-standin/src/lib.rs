//! A local stand-in for the Amazon Bedrock runtime, for tests and the quick start.
//!
//! It answers `POST /model/{modelId}/converse` and `POST /model/{modelId}/converse-stream`
//! the way Bedrock does on the wire (restJson1; the stream in AWS event-stream framing,
//! encoded with `aws-smithy-eventstream`), so the real `aws-sdk-bedrockruntime` client —
//! configured only through its endpoint URL and static test credentials — is what a test
//! exercises. Replies are scripted ([`Reply`]), paced token by token, and can fail on
//! demand ([`Fault`]); every request is recorded ([`RecordedRequest`]) so tests can check
//! the inference parameters a caller sent.
//!
//! Like Bedrock, it refuses a request that sets both `temperature` and `topP` for a
//! Claude model that takes only one of them (Opus 4.1, Sonnet 4.5, Haiku 4.5 and
//! later: [`refuses_temperature_with_top_p`]) with Bedrock's `ValidationException`.
//!
//! It takes images (png, jpeg, gif, webp) and documents (pdf, csv, doc, docx, xls,
//! xlsx, html, txt, md) as base64 bytes in user messages, within Bedrock's documented
//! limits ([`MAX_IMAGES`], [`MAX_IMAGE_BYTES`], [`MAX_IMAGE_SIDE`], [`MAX_DOCUMENTS`],
//! [`MAX_DOCUMENT_BYTES`], the document name rule, a text block beside a document),
//! for the models that read them ([`supports_images`], [`supports_documents`]), and
//! refuses the rest with a `ValidationException` in Bedrock's (or Claude's) words. Each
//! accepted one is recorded as an [`Attachment`]: format, name, length and SHA-256 of
//! its bytes, so a test can check that a file reached Bedrock unchanged
//! ([`Attachment::is`]). A body over [`MAX_BODY_BYTES`] (Bedrock's 20 MB payload limit)
//! is refused with [`INPUT_TOO_LONG`].
//!
//! Without a script it echoes the last user message in a reply that says plainly it
//! comes from the stand-in, listing what came attached (`- an image: png, 2048 bytes,
//! 64×48 px`, `- a document, "Report": pdf, 5000 bytes`). Directives in that message trigger faults by hand (useful
//! from a browser): `[standin:throttle]`, `[standin:access-denied]`,
//! `[standin:not-subscribed]`, `[standin:500]`, `[standin:stream-error]`,
//! `[standin:too-long]`, `[standin:slow]`.
//!
//! Besides the library API, `GET /_standin/requests`, `POST /_standin/replies` (a JSON
//! [`Reply`] to queue) and `DELETE /_standin/replies` drive it from other languages.

mod attachment;
mod wire;

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::serve::ListenerExt;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use attachment::{
    Attachment, AttachmentKind, DOCUMENT_FORMATS, DOCUMENT_NAME_REFUSED, DOCUMENT_UNSUPPORTED,
    DOCUMENT_WITHOUT_TEXT, DUPLICATE_DOCUMENT_NAMES, Dimensions, IMAGE_FORMATS, IMAGE_UNSUPPORTED,
    MAX_DOCUMENT_BYTES, MAX_DOCUMENT_NAME_CHARS, MAX_DOCUMENTS, MAX_IMAGE_BASE64_BYTES,
    MAX_IMAGE_BYTES, MAX_IMAGE_SIDE, MAX_IMAGES, TOO_MANY_DOCUMENTS, document_size_is_limited,
    sha256_hex, supports_documents, supports_images,
};
pub use wire::{
    CACHE_POINT_UNSUPPORTED, INPUT_TOO_LONG, MARKETPLACE_ACCESS_DENIED, MAX_BODY_BYTES,
    MAX_CACHE_POINTS, TEMPERATURE_WITH_TOP_P, refuses_temperature_with_top_p, router,
    supports_prompt_caching,
};

/// What can go wrong in the stand-in's own life (binding, serving).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The port could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}")]
    Bind {
        /// Port asked for (0 = any).
        port: u16,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A fault the stand-in produces instead of (or in the middle of) an answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Fault {
    /// HTTP 429 `ThrottlingException` before any event.
    Throttling,
    /// HTTP 403 `AccessDeniedException` (model access not enabled, or IAM).
    AccessDenied,
    /// HTTP 403 `AccessDeniedException` naming the AWS Marketplace actions, as Bedrock
    /// answers a caller that may not subscribe (a task role with only
    /// `bedrock:InvokeModel*`) when the account has no subscription to the model yet:
    /// third-party models such as Anthropic's need one, made once per account.
    ModelNotSubscribed,
    /// HTTP 400 `ValidationException` (for example an input that is too long).
    Validation {
        /// The message Bedrock would give.
        message: String,
    },
    /// HTTP 500 `InternalServerException`.
    InternalServer,
    /// HTTP 503 `ServiceUnavailableException`.
    ServiceUnavailable,
    /// A `modelStreamErrorException` event after this many text deltas.
    ModelStreamError {
        /// Text deltas sent before the exception.
        after_tokens: usize,
    },
}

impl Fault {
    /// Whether the fault ends the request before any event is streamed.
    pub fn before_stream(&self) -> bool {
        !matches!(self, Fault::ModelStreamError { .. })
    }
}

/// One scripted answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Reply {
    /// The answer's text; `None` echoes the last user message.
    pub text: Option<String>,
    /// Pause between text deltas, in milliseconds. Converse, which does not stream,
    /// answers after the pauses the stream would have had.
    pub pace_ms: u64,
    /// Pause before the first event, in milliseconds (a slow first token).
    pub first_token_ms: u64,
    /// Fail instead of (or in the middle of) answering.
    pub fault: Option<Fault>,
}

impl Reply {
    /// An answer with this text, streamed without pauses.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::default()
        }
    }

    /// The stand-in's own answer: it echoes the question.
    pub fn echo() -> Self {
        Self::default()
    }

    /// A fault instead of an answer (or, for [`Fault::ModelStreamError`], in its middle).
    pub fn fault(fault: Fault) -> Self {
        Self {
            fault: Some(fault),
            ..Self::default()
        }
    }

    /// Pause this long between text deltas.
    pub fn paced(mut self, pace: Duration) -> Self {
        self.pace_ms = millis(pace);
        self
    }

    /// Pause this long before the first event.
    pub fn first_token_after(mut self, delay: Duration) -> Self {
        self.first_token_ms = millis(delay);
        self
    }

    /// Fail with this fault.
    pub fn failing(mut self, fault: Fault) -> Self {
        self.fault = Some(fault);
        self
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Which API a request called.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Operation {
    /// `POST /model/{id}/converse`.
    Converse,
    /// `POST /model/{id}/converse-stream`.
    ConverseStream,
}

/// One request as the stand-in received it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    /// Which API.
    pub operation: Operation,
    /// The model id from the path, percent-decoded.
    pub model_id: String,
    /// The JSON body (`messages`, `system`, `inferenceConfig`, …), each image's and
    /// document's base64 bytes replaced by a note of their length.
    pub body: serde_json::Value,
    /// The `authorization` header (SigV4 from the SDK), if any.
    pub authorization: Option<String>,
    /// The images and documents it carried, in order: format, name, length and SHA-256
    /// of the bytes (which [`RecordedRequest::body`] does not keep). Empty when the
    /// request was refused before they were all read.
    pub attachments: Vec<Attachment>,
}

impl RecordedRequest {
    /// `inferenceConfig.<field>` as a number.
    pub fn inference(&self, field: &str) -> Option<f64> {
        self.body.get("inferenceConfig")?.get(field)?.as_f64()
    }

    /// Where the request put cache points: `"system"` for one in the system prompt,
    /// `"<index>"` for one in that message's content.
    pub fn cache_points(&self) -> Vec<String> {
        let has_point = |blocks: &serde_json::Value| {
            blocks
                .as_array()
                .is_some_and(|b| b.iter().any(|b| b.get("cachePoint").is_some()))
        };
        let mut points = Vec::new();
        if self.body.get("system").is_some_and(has_point) {
            points.push("system".to_string());
        }
        if let Some(messages) = self.body.get("messages").and_then(|m| m.as_array()) {
            for (i, message) in messages.iter().enumerate() {
                if message.get("content").is_some_and(has_point) {
                    points.push(i.to_string());
                }
            }
        }
        points
    }

    /// The system prompt's text blocks, joined.
    pub fn system_text(&self) -> Option<String> {
        let blocks = self.body.get("system")?.as_array()?;
        let text: Vec<&str> = blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(|t| t.as_str()))
            .collect();
        (!text.is_empty()).then(|| text.join("\n"))
    }

    /// `(role, text)` of each message, text blocks joined.
    pub fn messages(&self) -> Vec<(String, String)> {
        let Some(messages) = self.body.get("messages").and_then(|m| m.as_array()) else {
            return Vec::new();
        };
        messages
            .iter()
            .map(|m| {
                let role = m.get("role").and_then(|r| r.as_str()).unwrap_or_default();
                let text: Vec<&str> = m
                    .get("content")
                    .and_then(|c| c.as_array())
                    .map(|blocks| {
                        blocks
                            .iter()
                            .filter_map(|b| b.get("text").and_then(|t| t.as_str()))
                            .collect()
                    })
                    .unwrap_or_default();
                (role.to_string(), text.join(""))
            })
            .collect()
    }
}

/// Shared state of one stand-in: its script, what it recorded, what it saw happen.
#[derive(Debug, Default)]
pub struct State {
    script: Mutex<Script>,
    requests: Mutex<Vec<RecordedRequest>>,
    streams_started: AtomicUsize,
    streams_finished: AtomicUsize,
    streams_abandoned: AtomicUsize,
    /// The prompt cache: a hash of each cached prefix, and when it expires.
    cache: Mutex<HashMap<u64, Instant>>,
}

#[derive(Debug, Default)]
struct Script {
    queue: VecDeque<Reply>,
    default: Reply,
}

impl State {
    /// A stand-in state whose unscripted answers are `default`.
    pub fn with_default(default: Reply) -> Arc<Self> {
        let state = Self::default();
        lock(&state.script).default = default;
        Arc::new(state)
    }

    /// Queues a reply for the next request (first in, first out).
    pub fn push_reply(&self, reply: Reply) {
        lock(&self.script).queue.push_back(reply);
    }

    /// Drops every queued reply.
    pub fn clear_replies(&self) {
        lock(&self.script).queue.clear();
    }

    /// Replaces the answer given when nothing is queued.
    pub fn set_default(&self, reply: Reply) {
        lock(&self.script).default = reply;
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    /// Streams begun (a `converse-stream` call that got a 200).
    pub fn streams_started(&self) -> usize {
        self.streams_started.load(Ordering::SeqCst)
    }

    /// Streams that sent their last event.
    pub fn streams_finished(&self) -> usize {
        self.streams_finished.load(Ordering::SeqCst)
    }

    /// Streams whose reader went away before the last event (a cancelled answer).
    pub fn streams_abandoned(&self) -> usize {
        self.streams_abandoned.load(Ordering::SeqCst)
    }

    fn next_reply(&self) -> Reply {
        let mut script = lock(&self.script);
        script
            .queue
            .pop_front()
            .unwrap_or_else(|| script.default.clone())
    }

    fn record(&self, request: RecordedRequest) {
        lock(&self.requests).push(request);
    }

    /// Looks up and stores a request's prefixes, as Bedrock's cache does: the longest
    /// prefix in `lookups` (each a hash and its length in tokens) that is cached and
    /// not expired is read; the rest, up to the last of `points` (the prefixes the
    /// request marked), is written; every point then lives [`CACHE_TTL`] from now.
    /// `(read, written)` tokens.
    pub(crate) fn cache(
        &self,
        lookups: &[(u64, usize)],
        points: &[(u64, usize)],
    ) -> (usize, usize) {
        let now = Instant::now();
        let mut cache = lock(&self.cache);
        cache.retain(|_, expires| *expires > now);
        let read = lookups
            .iter()
            .chain(points)
            .filter(|(hash, _)| cache.contains_key(hash))
            .map(|(_, tokens)| *tokens)
            .max()
            .unwrap_or(0);
        let longest = points.last().map_or(0, |(_, tokens)| *tokens);
        for (hash, _) in points {
            cache.insert(*hash, now + CACHE_TTL);
        }
        (read, longest.saturating_sub(read))
    }
}

/// How long a cached prefix lives after its last use (Bedrock's default TTL).
pub const CACHE_TTL: Duration = Duration::from_secs(5 * 60);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock must not hide later assertions.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running stand-in on `127.0.0.1`; dropped, it stops.
#[derive(Debug)]
pub struct StandIn {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl StandIn {
    /// Starts a stand-in on `127.0.0.1:port` (0 picks a free port) whose unscripted
    /// answers are `default`.
    pub async fn start(port: u16, default: Reply) -> Result<Self, Error> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .await
            .map_err(|source| Error::Bind { port, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| Error::Bind { port, source })?;
        let state = State::with_default(default);
        let app: Router = router(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // Like Bedrock, each event leaves at once (no Nagle delay between deltas).
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "stand-in stopped");
            }
        });
        Ok(Self {
            addr,
            state,
            stop: Some(stop),
            task,
        })
    }

    /// Address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL` or the SDK's `endpoint_url`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its state: script, recorded requests, stream counters.
    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// Stops accepting connections and waits for the server task.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Open streams would hold a graceful shutdown forever; tests want it now.
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}
