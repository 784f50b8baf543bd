//! The chat API: `POST /api/chat` streams an answer as server-sent events,
//! `POST /api/chat/stop` cancels one, `GET /api/me` says who is signed in.
//!
//! Events of an answer, each with a JSON `data`:
//! `start` (`model`, `dropped` — oldest turns left out to fit the budget),
//! `delta` (`text`), `done` (`stopReason`, `usage`), `error` (`kind`, `message`,
//! `retryAfter`). Errors before the stream opens are plain JSON errors with a status.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::auth::Identity;
use crate::bedrock::{Answer, AnswerEvent, BedrockError};
use crate::conversation::{self, ChatRequest};
use crate::error::{Error, ErrorKind, Result};
use crate::limits::StreamSlot;

/// Keep-alive comments on an idle stream, well under the ALB's 60 s idle timeout.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Longest wait for the model's next event before the answer is given up.
pub const MODEL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Longest answer, start to end.
pub const ANSWER_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// Events of an answer held for a browser that reads slower than the model writes.
/// With the socket's own buffers this bounds what one answer can hold in memory;
/// when it is full for `CHATBOT_CLIENT_STALL_SECONDS`, the answer is ended.
pub const STREAM_BUFFER_EVENTS: usize = 64;

/// The chat routes (authenticated).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/chat", post(chat))
        .route("/api/chat/stop", post(stop))
        .route("/api/me", get(me))
}

/// Answers streaming now, by user and client id, so a user can stop their own.
#[derive(Debug, Default)]
pub struct Streams {
    running: Mutex<HashMap<(String, String), CancellationToken>>,
}

impl Streams {
    fn lock(&self) -> MutexGuard<'_, HashMap<(String, String), CancellationToken>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn register(self: &Arc<Self>, user: &str, id: &str) -> Result<Registration> {
        let key = (user.to_string(), id.to_string());
        let mut running = self.lock();
        if running.contains_key(&key) {
            return Err(Error::InvalidRequest(format!(
                "an answer with id {id} is already streaming"
            )));
        }
        let token = CancellationToken::new();
        running.insert(key.clone(), token.clone());
        Ok(Registration {
            streams: Arc::clone(self),
            key,
            token,
        })
    }

    /// Cancels `user`'s answer `id`; false when there is no such answer.
    pub fn stop(&self, user: &str, id: &str) -> bool {
        match self.lock().get(&(user.to_string(), id.to_string())) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Answers streaming now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is streaming.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug)]
struct Registration {
    streams: Arc<Streams>,
    key: (String, String),
    token: CancellationToken,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.streams.lock().remove(&self.key);
    }
}

async fn me(State(state): State<AppState>, Extension(identity): Extension<Identity>) -> Response {
    let body = json!({
        "name": identity.name,
        "devIdentity": state.auth.is_dev(),
        "signOutUrl": "/sign-out",
        "model": state.config.model.model_id,
        "maxMessageChars": state.config.server.limits.max_message_chars,
    });
    no_store(Json(body).into_response())
}

#[derive(Debug, Deserialize)]
struct StopRequest {
    id: String,
}

async fn stop(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    body: std::result::Result<Json<StopRequest>, JsonRejection>,
) -> Result<StatusCode> {
    let Json(request) = body.map_err(rejected)?;
    if state.streams.stop(&identity.subject, &request.id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound)
    }
}

fn rejected(rejection: JsonRejection) -> Error {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::BodyTooLarge {
            limit: crate::app::MAX_BODY_BYTES,
        }
    } else {
        Error::InvalidRequest(rejection.body_text())
    }
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn chat(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    body: std::result::Result<Json<ChatRequest>, JsonRejection>,
) -> Result<Response> {
    if state.lifecycle.is_draining() {
        return Err(Error::ShuttingDown);
    }
    let Json(request) = body.map_err(rejected)?;
    conversation::check_stream_id(&request.id)?;
    let conversation = conversation::prepare(request.messages, &state.config.server.limits)?;
    let slot = state.limits.admit(&identity.subject, Instant::now())?;
    let registration = state.streams.register(&identity.subject, &request.id)?;

    let started = Instant::now();
    state.metrics.question();
    let answer = state.bedrock.converse_stream(&conversation).await?;
    tracing::info!(
        user = %identity.subject,
        turns = conversation.turns.len(),
        dropped = conversation.dropped,
        "answer started"
    );
    let streaming = Streaming {
        answer,
        phase: Phase::Start {
            dropped: conversation.dropped,
        },
        first_token: None,
        stop_reason: None,
        usage: None,
        guard: StreamGuard::new(state.clone(), slot, registration, started),
    };
    let stall = Duration::from_secs(state.config.server.client_stall_seconds);
    let events = relay(streaming, stall);
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE));
    let mut response = no_store(sse.into_response());
    // Proxies that buffer (nginx and the like) must pass tokens through as they come.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// Counts the stream while it lives, and cleans up however it ends — finished,
/// stopped, failed, or dropped because the browser went away.
#[derive(Debug)]
struct StreamGuard {
    state: AppState,
    started: Instant,
    _slot: StreamSlot,
    registration: Registration,
}

impl StreamGuard {
    fn new(
        state: AppState,
        slot: StreamSlot,
        registration: Registration,
        started: Instant,
    ) -> Self {
        state.metrics.stream_started();
        Self {
            state,
            started,
            _slot: slot,
            registration,
        }
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.state.metrics.stream_ended(self.started.elapsed());
    }
}

#[derive(Debug)]
enum Phase {
    Start { dropped: usize },
    Streaming,
    Done,
}

#[derive(Debug)]
struct Streaming {
    answer: Answer,
    phase: Phase,
    first_token: Option<Duration>,
    stop_reason: Option<String>,
    usage: Option<(u64, u64)>,
    guard: StreamGuard,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Usage {
    input_tokens: u64,
    output_tokens: u64,
}

fn json_event(name: &str, data: &serde_json::Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

/// Why the model's side of a stream ended early.
enum Interrupted {
    Stopped,
    ShuttingDown,
    Failed(BedrockError),
}

/// An event for the browser, and whether it ends the answer.
type Relayed = (Event, bool);

/// Streams the answer to the browser through a bounded buffer, from a task of its
/// own that owns the Bedrock stream and the user's stream slot. So a browser that
/// stops reading cannot hold either for longer than `stall`: the task ends the
/// answer, closes the Bedrock stream and frees the slot, and the browser, if it
/// reads again, gets what was buffered and then an error event. A browser that goes
/// away ends the task at once.
fn relay(
    streaming: Streaming,
    stall: Duration,
) -> impl Stream<Item = std::result::Result<Event, Infallible>> {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Relayed>(STREAM_BUFFER_EVENTS);
    tokio::spawn(produce(streaming, sender, stall));
    futures_util::stream::unfold((receiver, false), |(mut receiver, ended)| async move {
        if ended {
            return None;
        }
        match receiver.recv().await {
            Some((event, last)) => Some((Ok(event), (receiver, last))),
            // The answer was ended without its last event: the browser stalled.
            None => Some((
                Ok(json_event("error", &json!(Error::ClientStalled.body()))),
                (receiver, true),
            )),
        }
    })
}

/// Reads the answer from Bedrock into `sender` until it ends, the browser goes away,
/// or the browser leaves the buffer full for `stall`.
async fn produce(mut s: Streaming, sender: tokio::sync::mpsc::Sender<Relayed>, stall: Duration) {
    loop {
        let relayed = match s.phase {
            Phase::Done => return,
            Phase::Start { dropped } => {
                s.phase = Phase::Streaming;
                let start =
                    json!({ "model": s.guard.state.bedrock.model_id(), "dropped": dropped });
                (json_event("start", &start), false)
            }
            Phase::Streaming => tokio::select! {
                event = next_event(&mut s) => (event, matches!(s.phase, Phase::Done)),
                () = sender.closed() => return,
            },
        };
        match tokio::time::timeout(stall, sender.send(relayed)).await {
            Ok(Ok(())) => {}
            // The browser went away.
            Ok(Err(_)) => return,
            Err(_) => {
                tracing::warn!(
                    stall_seconds = stall.as_secs(),
                    "the browser stopped reading the answer: ending it"
                );
                s.guard.state.metrics.error(ErrorKind::ClientStalled);
                return;
            }
        }
    }
}

async fn next_event(s: &mut Streaming) -> Event {
    loop {
        let outcome = {
            let cancelled = s.guard.registration.token.cancelled();
            let shutdown = s.guard.state.lifecycle.streams_must_end();
            let deadline = s.guard.started + ANSWER_DEADLINE;
            tokio::select! {
                () = cancelled => Err(Interrupted::Stopped),
                () = shutdown => Err(Interrupted::ShuttingDown),
                () = tokio::time::sleep_until(deadline.into()) => Err(Interrupted::Failed(BedrockError::Timeout)),
                next = tokio::time::timeout(MODEL_IDLE_TIMEOUT, s.answer.next()) => match next {
                    Err(_) => Err(Interrupted::Failed(BedrockError::Timeout)),
                    Ok(Err(e)) => Err(Interrupted::Failed(e)),
                    Ok(Ok(event)) => Ok(event),
                },
            }
        };
        let metrics = &s.guard.state.metrics;
        match outcome {
            Ok(Some(AnswerEvent::Text(text))) => {
                if s.first_token.is_none() {
                    let elapsed = s.guard.started.elapsed();
                    s.first_token = Some(elapsed);
                    metrics.first_token(elapsed);
                }
                return json_event("delta", &json!({ "text": text }));
            }
            Ok(Some(AnswerEvent::Stop(reason))) => s.stop_reason = Some(reason),
            Ok(Some(AnswerEvent::Usage { input, output })) => {
                metrics.tokens(input, output);
                s.usage = Some((input, output));
            }
            Ok(None) => {
                s.phase = Phase::Done;
                return done_event(s.stop_reason.as_deref().unwrap_or("end_turn"), s.usage);
            }
            Err(Interrupted::Stopped) => {
                s.phase = Phase::Done;
                tracing::info!("answer stopped by the user");
                return done_event("stopped", s.usage);
            }
            Err(Interrupted::ShuttingDown) => {
                s.phase = Phase::Done;
                return error_event(&Error::ShuttingDown, metrics);
            }
            Err(Interrupted::Failed(e)) => {
                s.phase = Phase::Done;
                return error_event(&Error::Bedrock(e), metrics);
            }
        }
    }
}

fn done_event(stop_reason: &str, usage: Option<(u64, u64)>) -> Event {
    let usage = usage.map(|(input_tokens, output_tokens)| Usage {
        input_tokens,
        output_tokens,
    });
    json_event(
        "done",
        &json!({ "stopReason": stop_reason, "usage": usage }),
    )
}

fn error_event(error: &Error, metrics: &crate::metrics::Metrics) -> Event {
    tracing::warn!(error = %error, "answer failed mid-stream");
    metrics.error(error.kind());
    json_event("error", &json!(error.body()))
}
