//! The chat API: `POST /api/chat` streams an answer as server-sent events,
//! `POST /api/chat/stop` cancels one, `GET /api/me` says who is signed in.
//!
//! Events of an answer, each with a JSON `data`:
//! `start` (`model`, `dropped` — oldest turns left out to fit the budget),
//! `delta` (`text`), `done` (`stopReason`, `usage`), `error` (`kind`, `message`,
//! `retryAfter`). Errors before the stream opens are plain JSON errors with a status.
//!
//! Either kind of request may name `"model"`: one of the chatbot's choices
//! (`GET /api/me` lists them as `models`; 400 `invalid_request` for another), the
//! default without it. `start.model` says which model answers.
//!
//! # Attached files
//!
//! With attachments on ([`crate::attachments`]), each user message of `messages`, or
//! the `question`, may carry `"attachments": ["<id>", …]`: files the caller uploaded
//! (`POST /api/attachments`). The server reads them from S3 under the caller's own
//! part (another user's id, or one no longer there: 400 before Bedrock is called) and
//! sends them before the message's text as Converse `image` and `document` blocks,
//! documents under names made to Converse's rule and unique in the request. The
//! question's files must fit one request (20 images, 5 documents, 13 MB: else 400
//! `too_many_attachments`); earlier turns' files come along newest first while they
//! fit, and `start` (or `restart`) says how many were left out as
//! `droppedAttachments` (only when some were). A question with files still needs text (Converse wants a text block
//! beside a document). A model that reads no images or documents is refused by
//! Bedrock, in its words (400 `bedrock_rejected`).
//!
//! # The two kinds of request
//!
//! `{"id", "messages": [{"role", "text"}, …]}`: the browser sends the whole
//! conversation, ending with the question; the server keeps nothing. The only kind
//! when the chatbot keeps no history, and unchanged by history.
//!
//! `{"id", "conversation"?: "<id>", "question": "…"}`: only when the chatbot keeps
//! history ([`crate::history`]; otherwise 400 `invalid_request`). The server reads
//! the stored conversation (404 `not_found` if it is not the caller's; 503
//! `history_unavailable` if it cannot be read: its context is not known), adds the
//! question, and builds the model's context from the stored turns with
//! [`conversation::prepare`]'s rules (blank turns dropped, same-role turns merged, a
//! question asked again after a failed answer counted once, oldest turns dropped to
//! fit the budget). Without `conversation` a new one is started, titled from the
//! question. With `"replaces": <index>` (a question's `index` in the stored
//! conversation, of its newest branch), the question is asked in place of that one —
//! edited, or the same words again to regenerate its answer: the context is the
//! branch up to the turn before it, and the new exchange starts a branch from there
//! (the replaced turns stay stored; see [`crate::history::Follows`]). An index that
//! is not a question of the newest branch is refused (400). The question is saved (with the answer's turn claimed right after it)
//! while Bedrock starts answering, and the answer streams as soon as Bedrock has
//! begun, without waiting for that save: DynamoDB's latency is never added to the
//! first token's. The answer is saved as it streams (at most every 2 s or 8 KiB, and
//! at its end), and an answer cut off (stopped, failed, shut down, browser gone) is
//! saved with `incomplete: {"reason"}`. An answer Bedrock refuses before it starts
//! leaves the question and an empty answer marked with the error's kind (a new
//! conversation is not kept at all). A conversation holds at most 1000 turns (400
//! when full).
//!
//! With history, `start` also carries `conversation` (its id: of a new conversation,
//! the one it is being saved under), `title`, and `history`: `{"saving": true}`. A
//! `history` event (`{"saving": false, "message"}`) comes mid-stream when saving
//! stops, and `{"saving": true}` when it resumes; it comes before the last event when
//! the end could not be saved. If the question itself could not be saved (DynamoDB
//! unavailable: the answer streams anyway), nothing of the exchange is, and the
//! `history` event says so; for a new conversation it also carries
//! `"conversation": null`: the conversation does not exist on the server, and its
//! next question must be sent with its `messages`. If the conversation was deleted
//! meanwhile (in another tab), the event says that. The browser may keep sending
//! `messages` when history is on (for example while DynamoDB is down): such chats
//! are not stored, and `start` says `"history": {"saving": false, …}` with
//! `"conversation": null`. Sending both `messages` and `question` is refused (400).
//!
//! A conversation this server answered in lately is not read at all: its context is
//! remembered ([`crate::history::recent`]), and the question's claim, conditioned on
//! the count of turns remembered, is the check, made beside Bedrock's call. When it
//! fails (another tab, device or task wrote since), the answer starts over from the
//! stored conversation and a `restart` event (`dropped`, as in `start`) tells the
//! browser to drop the text it got; nothing of the first try is saved. The last event
//! of an answer waits for that check. For a remembered conversation `start` carries
//! no `title` (it may have been renamed elsewhere).

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
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::attachments;
use crate::auth::Identity;
use crate::bedrock::{Answer, AnswerEvent, BedrockError, Usage};
use crate::config::{ModelChoice, Pricing};
use crate::conversation::{self, ChatRequest, Conversation, Role, Turn};
use crate::error::{Error, ErrorKind, Result};
use crate::history::recorder::Remember;
use crate::history::store::{MAX_READ_BYTES, MAX_STORED_TURNS, now_ms};
use crate::history::{
    AnswerLog, Destination, Exchange, Follows, History, HistoryError, Known, ReadLimits, Spent,
    StoredTurn, Turns, recorder,
};
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
        "models": state.config.model.choices,
        "maxMessageChars": state.config.server.limits.max_message_chars,
        "history": {
            "enabled": state.history.is_some(),
            "retentionDays": state.history.as_ref().map(|h| h.retention_days()),
        },
        "attachments": crate::attachments::offered(state.attachments.is_some()),
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

pub(crate) fn rejected(rejection: JsonRejection) -> Error {
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
    let model = state
        .config
        .model
        .choose(request.model.as_deref())
        .map_err(Error::InvalidRequest)?
        .clone();
    match (request.messages, request.question, state.history.clone()) {
        (Some(messages), None, history)
            if request.conversation.is_none() && request.replaces.is_none() =>
        {
            if request.attachments.is_some() {
                return Err(Error::InvalidRequest(
                    "with messages, each message carries its own attachments".into(),
                ));
            }
            let conversation = conversation::prepare(messages, &state.config.server.limits)?;
            let files = attachments::context::gather(
                state.attachments.as_deref(),
                &identity.subject,
                &conversation.turns,
            )
            .await?;
            // With history on, this chat is the browser's own: say it is not stored.
            let saved = history.map(|_| Saved {
                conversation: None,
                title: None,
                history: recorder::not_saving(
                    "This chat was sent with its messages, so it is not saved on the server.",
                ),
            });
            let slot = state.limits.admit(&identity.subject, Instant::now())?;
            let registration = state.streams.register(&identity.subject, &request.id)?;
            let started = Instant::now();
            count_question(&state);
            let answer = state
                .bedrock
                .converse_stream(&conversation, &model.id, &files)
                .await?;
            Ok(stream(
                state,
                &identity,
                Opened {
                    answer,
                    model,
                    conversation: &conversation,
                    dropped_attachments: files.dropped,
                    saved,
                    log: None,
                    slot,
                    registration,
                    started,
                },
                None,
            ))
        }
        (None, Some(question), Some(history)) => {
            let asked = Asked {
                id: request.id,
                conversation: request.conversation,
                question,
                replaces: request.replaces,
                model,
                attachments: request.attachments.unwrap_or_default(),
            };
            ask_stored(state, history, identity, asked).await
        }
        (None, Some(_), None) => Err(Error::InvalidRequest(
            "this chatbot keeps no history on the server: send the conversation as messages".into(),
        )),
        _ => Err(Error::InvalidRequest(
            "send either messages, or a question (and the conversation it continues)".into(),
        )),
    }
}

fn count_question(state: &AppState) {
    state.metrics.question();
}

/// What the `start` event says about the history of the answer, when history is on.
#[derive(Debug)]
struct Saved {
    conversation: Option<String>,
    title: Option<String>,
    history: serde_json::Value,
}

/// An answer Bedrock has begun, and what its stream needs.
struct Opened<'a> {
    answer: Answer,
    /// The model answering.
    model: ModelChoice,
    conversation: &'a Conversation,
    /// Files of earlier turns left out of the model's context.
    dropped_attachments: usize,
    saved: Option<Saved>,
    log: Option<AnswerLog>,
    slot: StreamSlot,
    registration: Registration,
    started: Instant,
}

/// The model's context from stored turns and the new question (with the files
/// attached to it): blank turns left out, and a question asked again right after
/// itself (its answer failed) once, with the files of both.
fn context_turns(stored: &[StoredTurn], question: &str, attachments: &[String]) -> Vec<Turn> {
    let mut turns: Vec<Turn> = Vec::with_capacity(stored.len() + 1);
    let question = Turn::new(Role::User, question).with_attachments(attachments.to_vec());
    let stored = stored.iter().map(|turn| {
        Turn::new(turn.role, turn.text.clone())
            .with_attachments(turn.attachments.iter().map(|f| f.id.clone()).collect())
    });
    for turn in stored.chain(std::iter::once(question)) {
        if turn.text.trim().is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some(last)
                if turn.role == Role::User && last.role == Role::User && last.text == turn.text =>
            {
                last.attachments.extend(turn.attachments);
            }
            _ => turns.push(turn),
        }
    }
    turns
}

/// A question for a stored conversation, as the browser sent it.
struct Asked {
    /// The answer's stream id.
    id: String,
    /// The stored conversation it continues (none: a new one).
    conversation: Option<String>,
    question: String,
    /// The index of the stored question it is asked in place of.
    replaces: Option<u32>,
    /// The model to ask (one of the choices).
    model: ModelChoice,
    /// Ids of the files attached to the question.
    attachments: Vec<String>,
}

/// What a stored question is answered from, and where it is saved.
struct Grounds {
    into: Destination,
    /// The conversation's turns before the question (its newest branch, within the
    /// context's limits; `truncated` when older ones were left out).
    before: Turns,
    follows: Follows,
    /// Remembered from the last exchange answered here, not read: the question's
    /// claim checks that it is still the conversation ([`History::begin_exactly`]).
    remembered: bool,
}

impl Grounds {
    /// A new conversation.
    fn new_conversation(question: &str) -> Self {
        Self {
            into: Destination::new_for(question),
            before: Turns::default(),
            follows: Follows::Previous,
            remembered: false,
        }
    }

    /// The conversation as this server last answered in it.
    fn remembered(known: Known) -> Result<Self> {
        if known.summary.turns + 2 > MAX_STORED_TURNS {
            return Err(HistoryError::Full.into());
        }
        Ok(Self {
            into: Destination::Existing(known.summary),
            before: known.context,
            follows: Follows::Previous,
            remembered: true,
        })
    }

    /// The conversation as stored: the turns before `replaces` (a question asked
    /// again), else its newest turns within `context`'s limits.
    async fn read(
        history: &History,
        user: &str,
        conversation_id: &str,
        replaces: Option<u32>,
        context: ReadLimits,
    ) -> Result<Self> {
        let limits = match replaces {
            None => context,
            // The question replaced may be further back than the budget reaches:
            // read the branch to it (the budget is applied when the context is made).
            Some(_) => ReadLimits {
                chars: usize::MAX,
                turns: MAX_STORED_TURNS as usize,
                bytes: MAX_READ_BYTES,
            },
        };
        let (summary, turns) = tokio::join!(
            history.summary(user, conversation_id),
            history.turns(user, conversation_id, limits)
        );
        let (summary, turns) = (summary?, turns?);
        if summary.turns + 2 > MAX_STORED_TURNS {
            return Err(HistoryError::Full.into());
        }
        let (before, follows) = match replaces {
            None => (turns, Follows::Previous),
            Some(replaced) => {
                let follows = Follows::replacing(&turns.turns, replaced).ok_or_else(|| {
                    Error::InvalidRequest(format!(
                        "there is no question {replaced} in this conversation to ask again"
                    ))
                })?;
                let before = Turns {
                    turns: turns
                        .turns
                        .into_iter()
                        .take_while(|t| t.index != replaced)
                        .collect(),
                    truncated: turns.truncated,
                    expires: turns.expires,
                };
                (before, follows)
            }
        };
        Ok(Self {
            into: Destination::Existing(summary),
            before,
            follows,
            remembered: false,
        })
    }

    /// Turns of the branch before the oldest one here (at most its index).
    fn omitted(&self) -> usize {
        if self.before.truncated {
            self.before
                .turns
                .first()
                .map_or(0, |t| usize::try_from(t.index).unwrap_or_default())
        } else {
            0
        }
    }
}

/// The limits of a read of a conversation's context: the history budget, and as many
/// turns as one request may carry with its question.
fn context_limits(limits: &crate::config::Limits) -> ReadLimits {
    ReadLimits {
        chars: limits.history_budget_chars,
        turns: conversation::MAX_TURNS - 1,
        bytes: MAX_READ_BYTES,
    }
}

/// A question in a stored conversation (or a new one): the context from the store (or
/// as this server last answered in it), the question saved while Bedrock starts
/// answering, the answer saved as it streams.
async fn ask_stored(
    state: AppState,
    history: Arc<History>,
    identity: Identity,
    asked: Asked,
) -> Result<Response> {
    let limits = &state.config.server.limits;
    // The question alone first: empty or too long is refused before any read.
    conversation::prepare(vec![Turn::new(Role::User, asked.question.clone())], limits)?;
    let user = identity.subject.as_str();
    let grounds = match (&asked.conversation, asked.replaces) {
        (None, Some(_)) => {
            return Err(Error::InvalidRequest(
                "replaces names a question of a stored conversation: send its conversation too"
                    .into(),
            ));
        }
        (None, None) => Grounds::new_conversation(&asked.question),
        (Some(id), None) => match history.recent().get(user, id, now_ms() / 1000) {
            Some(known) => Grounds::remembered(known)?,
            None => Grounds::read(&history, user, id, None, context_limits(limits)).await?,
        },
        (Some(id), replaces) => {
            Grounds::read(&history, user, id, replaces, context_limits(limits)).await?
        }
    };
    let slot = state.limits.admit(user, Instant::now())?;
    let registration = state.streams.register(user, &asked.id)?;
    let started = Instant::now();
    count_question(&state);
    let begun = begin_stored(&state, &history, user, &asked, grounds).await?;
    let unverified = begun.verdict.map(|verdict| {
        let again: Again = Box::new({
            let (state, history, user) = (state.clone(), Arc::clone(&history), user.to_string());
            move || Box::pin(async move { ask_again_from_store(state, history, user, asked).await })
        });
        Unverified { verdict, again }
    });
    Ok(stream(
        state,
        &identity,
        Opened {
            answer: begun.answer,
            model: begun.model,
            conversation: &begun.conversation,
            dropped_attachments: begun.files.dropped,
            saved: Some(begun.saved),
            log: Some(begun.log),
            slot,
            registration,
            started,
        },
        unverified,
    ))
}

/// A stored question's answer, begun.
struct BegunStored {
    conversation: Conversation,
    /// The files given to the model.
    files: attachments::context::ContextFiles,
    answer: Answer,
    model: ModelChoice,
    saved: Saved,
    log: AnswerLog,
    /// For an answer from a remembered context: whether the question's claim found the
    /// conversation moved on (true), once known.
    verdict: Option<oneshot::Receiver<bool>>,
}

/// Starts Bedrock's answer to `asked` from `grounds`, and the saving of the question
/// beside it: the answer streams as soon as Bedrock has begun, and the saving goes on
/// (a `history` event says if it failed), so DynamoDB's latency is never added to the
/// first token's.
async fn begin_stored(
    state: &AppState,
    history: &Arc<History>,
    user: &str,
    asked: &Asked,
    grounds: Grounds,
) -> Result<BegunStored> {
    let limits = &state.config.server.limits;
    let mut conversation = conversation::prepare(
        context_turns(&grounds.before.turns, &asked.question, &asked.attachments),
        limits,
    )?;
    let files =
        attachments::context::gather(state.attachments.as_deref(), user, &conversation.turns)
            .await?;
    conversation.dropped += grounds.omitted();
    let Grounds {
        into,
        before,
        follows,
        remembered,
    } = grounds;
    let new = matches!(into, Destination::New { .. });
    let base = match &into {
        Destination::Existing(summary) => summary.turns,
        Destination::New { .. } => 0,
    };
    let (verdict_tx, verdict) = if remembered {
        let (tx, rx) = oneshot::channel();
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let saved = Saved {
        conversation: Some(into.id().to_string()),
        // A remembered title may have been changed elsewhere since: the page keeps its own.
        title: (!remembered).then(|| into.title().to_string()),
        history: recorder::saving(),
    };
    // The question's own files are all given (else it was refused): saved with it.
    let question_files: Vec<attachments::Stored> = asked
        .attachments
        .iter()
        .filter_map(|id| files.get(id).map(|given| given.file.stored.clone()))
        .collect();
    let begun = tokio::spawn({
        let (history, user, question, files_asked) = (
            Arc::clone(history),
            user.to_string(),
            asked.question.clone(),
            question_files.clone(),
        );
        async move {
            match (&into, verdict_tx) {
                (Destination::Existing(summary), Some(verdict)) => {
                    let begun = history
                        .begin_exactly(&user, summary, &question, &files_asked)
                        .await;
                    let _ = verdict.send(matches!(begun, Err(HistoryError::Moved)));
                    begun
                }
                _ => {
                    history
                        .begin(&user, &into, &question, &files_asked, follows)
                        .await
                }
            }
        }
    });
    let model = asked.model.clone();
    let answer = match state
        .bedrock
        .converse_stream(&conversation, &model.id, &files)
        .await
    {
        Ok(answer) => answer,
        Err(e) => {
            refused_before_answering(
                Arc::clone(history),
                user,
                begun,
                new,
                e.kind().as_str(),
                &model.id,
            );
            return Err(e.into());
        }
    };
    let remember = Remember {
        before,
        base,
        question: asked.question.clone(),
        attachments: question_files,
        follows,
        limits: context_limits(limits),
    };
    let log = AnswerLog::start(
        Arc::clone(history),
        user.to_string(),
        joined(begun),
        new,
        model.id.clone(),
        Some(remember),
    );
    Ok(BegunStored {
        conversation,
        files,
        answer,
        model,
        saved,
        log,
        verdict,
    })
}

/// Starts `asked`'s answer again from the stored conversation: the one remembered was
/// not the conversation any more.
async fn ask_again_from_store(
    state: AppState,
    history: Arc<History>,
    user: String,
    asked: Asked,
) -> Result<BegunStored> {
    let id = asked.conversation.as_deref().unwrap_or_default();
    history.recent().forget(&user, id);
    let limits = context_limits(&state.config.server.limits);
    let grounds = Grounds::read(&history, &user, id, None, limits).await?;
    begin_stored(&state, &history, &user, &asked, grounds).await
}

/// Starts an answer over, once.
type Again = Box<dyn FnOnce() -> BoxFuture<'static, Result<BegunStored>> + Send>;

/// An answer begun from a remembered context, until the question's claim says whether
/// that context still is the conversation.
struct Unverified {
    verdict: oneshot::Receiver<bool>,
    again: Again,
}

/// The saving of a question, as a task's outcome (a task that panicked could not
/// save it).
async fn joined(
    begun: tokio::task::JoinHandle<std::result::Result<Exchange, HistoryError>>,
) -> std::result::Result<Exchange, HistoryError> {
    begun
        .await
        .unwrap_or_else(|e| Err(HistoryError::Unavailable(Box::new(e))))
}

/// A question Bedrock refused before answering (`kind`: the error's): in a stored
/// conversation, the question stays with an answer that says what happened; a new
/// conversation of one unanswered question is not kept.
fn refused_before_answering(
    history: Arc<History>,
    user: &str,
    begun: tokio::task::JoinHandle<std::result::Result<Exchange, HistoryError>>,
    new: bool,
    kind: &'static str,
    model: &str,
) {
    let (user, model) = (user.to_string(), model.to_string());
    tokio::spawn(async move {
        let Ok(exchange) = joined(begun).await else {
            return;
        };
        // The question is stored with an answer that says why: not what is remembered.
        history.recent().forget(&user, &exchange.id);
        if new {
            if let Err(e) = history.delete(&user, &exchange.id).await {
                tracing::warn!(error = %e, "cannot delete the conversation of a refused question");
            }
        } else {
            AnswerLog::start(
                history,
                user,
                std::future::ready(Ok(exchange)),
                false,
                model,
                None,
            )
            .end(Some(kind));
        }
    });
}

/// The answer's event stream.
fn stream(
    state: AppState,
    identity: &Identity,
    opened: Opened<'_>,
    unverified: Option<Unverified>,
) -> Response {
    let Opened {
        answer,
        model,
        conversation,
        dropped_attachments,
        saved,
        log,
        slot,
        registration,
        started,
    } = opened;
    tracing::info!(
        user = %identity.subject,
        model = %model.id,
        turns = conversation.turns.len(),
        dropped = conversation.dropped,
        conversation = saved.as_ref().and_then(|s| s.conversation.as_deref()),
        "answer started"
    );
    let mut start = json!({ "model": model.id, "dropped": conversation.dropped });
    if dropped_attachments > 0 {
        start["droppedAttachments"] = json!(dropped_attachments);
    }
    if let Some(saved) = saved {
        start["conversation"] = json!(saved.conversation);
        start["title"] = json!(saved.title);
        start["history"] = saved.history;
    }
    let streaming = Streaming {
        answer,
        phase: Phase::Start { data: start },
        first_token: None,
        stop_reason: None,
        usage: None,
        pricing: model.pricing.clone(),
        log,
        ended: None,
        guard: StreamGuard::new(state.clone(), slot, registration, started),
    };
    let stall = Duration::from_secs(state.config.server.client_stall_seconds);
    let events = relay(streaming, unverified, stall);
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE));
    let mut response = no_store(sse.into_response());
    // Proxies that buffer (nginx and the like) must pass tokens through as they come.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
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
    Start { data: serde_json::Value },
    Streaming,
    Done,
}

#[derive(Debug)]
struct Streaming {
    answer: Answer,
    phase: Phase,
    first_token: Option<Duration>,
    stop_reason: Option<String>,
    usage: Option<Usage>,
    /// The answering model's prices, when the team gave them.
    pricing: Option<Pricing>,
    /// Saves the answer, when history is on and the question was saved.
    log: Option<AnswerLog>,
    /// How the answer ended, once it has: why it is not whole (`None`: whole).
    ended: Option<Option<&'static str>>,
    guard: StreamGuard,
}

/// The `done` event's `usage`: the cache's tokens only when the prompt cache was
/// used (they are not in `inputTokens`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsageData {
    input_tokens: u64,
    output_tokens: u64,
    #[serde(skip_serializing_if = "is_zero")]
    cache_read_input_tokens: u64,
    #[serde(skip_serializing_if = "is_zero")]
    cache_write_input_tokens: u64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
fn is_zero(n: &u64) -> bool {
    *n == 0
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
    unverified: Option<Unverified>,
    stall: Duration,
) -> impl Stream<Item = std::result::Result<Event, Infallible>> {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Relayed>(STREAM_BUFFER_EVENTS);
    tokio::spawn(produce(streaming, unverified, sender, stall));
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

/// Why an event could not be handed to the browser.
enum Undelivered {
    /// The browser went away.
    Gone,
    /// The browser left the buffer full for the stall time.
    Stalled,
}

async fn deliver(
    sender: &tokio::sync::mpsc::Sender<Relayed>,
    relayed: Relayed,
    stall: Duration,
) -> std::result::Result<(), Undelivered> {
    match tokio::time::timeout(stall, sender.send(relayed)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Undelivered::Gone),
        Err(_) => Err(Undelivered::Stalled),
    }
}

/// Reads the answer from Bedrock into `sender` until it ends, the browser goes away,
/// or the browser leaves the buffer full for `stall`. An answer begun from a
/// remembered context (`unverified`) streams at once; if the question's claim then
/// finds the conversation moved on, the answer starts over from the stored
/// conversation, and a `restart` event tells the browser to drop what it got.
async fn produce(
    mut s: Streaming,
    mut unverified: Option<Unverified>,
    sender: tokio::sync::mpsc::Sender<Relayed>,
    stall: Duration,
) {
    loop {
        let mut relayed = match &mut s.phase {
            Phase::Done => return,
            Phase::Start { data } => {
                let start = json_event("start", data);
                s.phase = Phase::Streaming;
                (start, false)
            }
            Phase::Streaming => tokio::select! {
                moved = moved(&mut unverified) => match moved {
                    Some(again) => restart(&mut s, again).await,
                    None => continue,
                },
                event = next_event(&mut s) => (event, matches!(s.phase, Phase::Done)),
                () = sender.closed() => return,
            },
        };
        if relayed.1 && unverified.is_some() {
            // The last word waits for the claim: the answer may have to start over.
            if let Some(again) = moved(&mut unverified).await {
                relayed = restart(&mut s, again).await;
            }
        }
        if let Some(log) = s.log.as_mut() {
            if relayed.1 {
                log.finish(s.ended.flatten(), spent(s.usage, s.pricing.as_ref()))
                    .await;
            }
            if let Some(change) = log.status_change() {
                let event = (json_event("history", &change), false);
                if let Err(why) = deliver(&sender, event, stall).await {
                    return undelivered(&mut s, why, stall);
                }
            }
        }
        if let Err(why) = deliver(&sender, relayed, stall).await {
            return undelivered(&mut s, why, stall);
        }
    }
}

/// Once the claim of an answer begun from a remembered context is known: how to start
/// the answer over when the conversation had moved on (`None`: it had not, or there
/// is nothing to check). Never ready without an answer to check.
async fn moved(unverified: &mut Option<Unverified>) -> Option<Again> {
    let Some(check) = unverified.as_mut() else {
        return std::future::pending().await;
    };
    // A claim that ended without a word (its task panicked) could not have moved on.
    let moved = (&mut check.verdict).await.unwrap_or(false);
    let check = unverified.take()?;
    moved.then_some(check.again)
}

/// Starts the answer over with `again`: the `restart` event (with the new context's
/// `dropped`), or the error that ended it.
async fn restart(s: &mut Streaming, again: Again) -> Relayed {
    tracing::info!("the remembered conversation moved on: answering again from the store");
    s.guard.state.metrics.restart();
    // The first answer's log saves nothing: its question was not claimed.
    s.log = None;
    (s.stop_reason, s.usage, s.ended) = (None, None, None);
    match again().await {
        Ok(begun) => {
            s.answer = begun.answer;
            s.log = Some(begun.log);
            // The first answer may have ended already: this one has not.
            s.phase = Phase::Streaming;
            let mut data = json!({ "dropped": begun.conversation.dropped });
            if begun.files.dropped > 0 {
                data["droppedAttachments"] = json!(begun.files.dropped);
            }
            (json_event("restart", &data), false)
        }
        Err(error) => {
            s.phase = Phase::Done;
            s.ended = Some(Some(error.kind().as_str()));
            (error_event(&error, &s.guard.state.metrics), true)
        }
    }
}

fn undelivered(s: &mut Streaming, why: Undelivered, stall: Duration) {
    match why {
        // Saved as cut off by a browser that went away, when the log is dropped.
        Undelivered::Gone => {}
        Undelivered::Stalled => {
            tracing::warn!(
                stall_seconds = stall.as_secs(),
                "the browser stopped reading the answer: ending it"
            );
            if let Some(log) = s.log.as_mut() {
                log.end(Some(ErrorKind::ClientStalled.as_str()));
            }
            s.guard.state.metrics.error(ErrorKind::ClientStalled);
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
                if let Some(log) = &s.log {
                    log.push(&text);
                }
                return json_event("delta", &json!({ "text": text }));
            }
            Ok(Some(AnswerEvent::Stop(reason))) => s.stop_reason = Some(reason),
            Ok(Some(AnswerEvent::Usage(usage))) => {
                metrics.tokens(&usage);
                s.usage = Some(usage);
            }
            Ok(None) => {
                s.phase = Phase::Done;
                let reason = s.stop_reason.as_deref().unwrap_or("end_turn");
                // Cut by the configured answer length: not the whole answer.
                s.ended = Some((reason == "max_tokens").then_some("max_tokens"));
                return done_event(reason, s.usage, s.pricing.as_ref());
            }
            Err(Interrupted::Stopped) => {
                s.phase = Phase::Done;
                s.ended = Some(Some("stopped"));
                tracing::info!("answer stopped by the user");
                return done_event("stopped", s.usage, s.pricing.as_ref());
            }
            Err(Interrupted::ShuttingDown) => {
                s.phase = Phase::Done;
                s.ended = Some(Some(ErrorKind::ShuttingDown.as_str()));
                return error_event(&Error::ShuttingDown, metrics);
            }
            Err(Interrupted::Failed(e)) => {
                s.phase = Phase::Done;
                let error = Error::Bedrock(e);
                s.ended = Some(Some(error.kind().as_str()));
                return error_event(&error, metrics);
            }
        }
    }
}

/// The `done` event: why the answer stopped, its tokens, and with prices what
/// they cost (`cost: {amount, currency}`, an estimate).
fn done_event(stop_reason: &str, usage: Option<Usage>, pricing: Option<&Pricing>) -> Event {
    let mut data = json!({
        "stopReason": stop_reason,
        "usage": usage.map(|usage| UsageData {
            input_tokens: usage.input,
            output_tokens: usage.output,
            cache_read_input_tokens: usage.cache_read,
            cache_write_input_tokens: usage.cache_write,
        }),
    });
    if let (Some(usage), Some(pricing)) = (usage, pricing) {
        data["cost"] = cost_json(pricing.cost_micros(usage.tokens()), &pricing.currency);
    }
    json_event("done", &data)
}

/// What an answer used and, priced, cost: for the conversation's totals.
fn spent(usage: Option<Usage>, pricing: Option<&Pricing>) -> Spent {
    let Some(usage) = usage else {
        return Spent::default();
    };
    Spent {
        tokens: usage.tokens(),
        cost: pricing.map(|p| (p.cost_micros(usage.tokens()), p.currency.clone())),
    }
}

/// `{amount, currency}` for `micros` millionths of `currency`.
pub fn cost_json(micros: u64, currency: &str) -> serde_json::Value {
    // Millionths to units: exact for any amount a chatbot reaches.
    #[allow(clippy::cast_precision_loss)]
    let amount = micros as f64 / 1_000_000.0;
    json!({ "amount": amount, "currency": currency })
}

fn error_event(error: &Error, metrics: &crate::metrics::Metrics) -> Event {
    tracing::warn!(error = %error, "answer failed mid-stream");
    metrics.error(error.kind());
    json_event("error", &json!(error.body()))
}
