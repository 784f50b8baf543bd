//! Conversation history kept on the server, per user, in the chatbot's DynamoDB table
//! ([`crate::history_table`]), when the operator configures one
//! (`CHATBOT_HISTORY_TABLE`; items expire `CHATBOT_HISTORY_RETENTION_DAYS` after their
//! last write, 0 keeping them for ever).
//!
//! # Whose data
//!
//! Every item lives under the partition key `user#<sub>`, where `<sub>` is the `sub`
//! of the verified ALB token (the [`Identity`](crate::auth::Identity)'s `subject`).
//! Nothing a browser sends chooses the partition: ids and cursors only ever select
//! within the caller's own. A conversation of another user is answered exactly like
//! one that does not exist (404), and a cursor made for another user pages through
//! the caller's own conversations, never theirs.
//!
//! # HTTP API
//!
//! Every route below needs a signed-in user (the same ALB token as `/api/chat`;
//! 401 without it), answers JSON with `Cache-Control: no-store`, and answers errors
//! as every other route does: a status and `{"error": {"kind", "message",
//! "retryAfter"?}}`. The kinds specific to history:
//!
//! - `history_disabled` (404): this chatbot keeps no history (no table configured);
//!   `GET /api/me` says so beforehand.
//! - `history_unavailable` (503, `retryAfter` 5): DynamoDB could not be reached or
//!   refused; AWS's own words are logged, never sent.
//! - `not_found` (404): no such conversation for this user (malformed ids included).
//! - `invalid_request` (400): a malformed body, parameter or cursor.
//!
//! Ids are 16 characters of `0-9a-z`, made by the server. Times are milliseconds
//! since the epoch. Conversations are listed by `updatedAt`, the time of their last
//! question or answer.
//!
//! ## `GET /api/conversations?limit=&cursor=`
//!
//! The caller's conversations, newest first. `limit` 1 to 100 (default 20).
//! `cursor`: the previous page's `next`.
//!
//! ```json
//! {"conversations": [{"id": "…", "title": "…", "createdAt": 0, "updatedAt": 0,
//!                     "usage": {"inputTokens": 0, "outputTokens": 0,
//!                               "cacheReadInputTokens": 0, "cacheWriteInputTokens": 0},
//!                     "cost"?: {"amount": 0.0123, "currency": "USD"}}],
//!  "next": "opaque cursor, or null after the last page"}
//! ```
//!
//! A page may hold fewer than `limit` conversations (expired ones are skipped) and
//! still have a `next`.
//!
//! `usage` adds up the tokens of the conversation's answers (as Bedrock reported them
//! at each answer's end); `cost`, when the chatbot's models are priced
//! (`CHATBOT_MODELS`), what they cost by those prices — an estimate.
//!
//! ## `GET /api/conversations/{id}`
//!
//! ```json
//! {"id": "…", "title": "…", "createdAt": 0, "updatedAt": 0,
//!  "turns": [{"role": "user" | "assistant", "text": "…", "at": 0, "index": 0,
//!             "incomplete": null | {"reason": "…"},
//!             "attachments"?: [{"id", "name", "kind", "format", "size"}]}],
//!  "truncated": false}
//! ```
//!
//! The turns of the conversation's newest branch, oldest first: a question asked
//! again (`/api/chat` with `replaces`) starts a new branch from the turn before it,
//! and the turns it replaced are kept but no longer listed. `index` names a turn for
//! `replaces` (indexes of one branch grow, with gaps where other branches are).
//! A question sent with files lists them as `attachments` (`GET
//! /api/attachments/{id}` serves each; [`crate::attachments`]).
//! An answer saved at its end also has `model` (the model that wrote it), `usage`
//! (its tokens, as in `/api/chat`'s `done`) and, when priced, `cost`.
//!
//! `incomplete.reason` says why an answer is not whole: `streaming` (it is being
//! written now, in this or another tab: read again later), `stopped` (the user
//! stopped it), `disconnected` (the browser went away), `client_stalled` (the browser
//! stopped reading), `shutting_down` (the server restarted), `interrupted` (the server
//! stopped without finishing it), `max_tokens` (the model reached the configured
//! answer length), or the error kind that ended it (`model_failed`, `model_timeout`,
//! `throttled`, … — the `kind`s of `/api/chat`'s error events; the text may then be
//! empty). `truncated` is true when the conversation is longer than 16 MiB of text:
//! only its newest turns are returned.
//!
//! ## `PATCH /api/conversations/{id}` with `{"title": "…"}`
//!
//! Renames it; answers `{"id", "title", "createdAt", "updatedAt"}`. The title is made
//! one line (whitespace collapsed), trimmed and cut to 120 characters; a blank one is
//! refused (400). New conversations are titled from their first question the same
//! way. Renaming does not change `updatedAt`.
//!
//! ## `DELETE /api/conversations/{id}`
//!
//! 204: the conversation and every item of it are deleted, and with attachments on,
//! the files its questions carried (of every branch), first: when S3 cannot delete
//! them, 503 `attachments_unavailable` and the conversation stays, to be deleted again.
//!
//! ## `GET /api/conversations/search?q=&cursor=`
//!
//! The caller's conversations whose title or text contains `q` (1 to 200 characters,
//! case-insensitive), newest created first:
//!
//! ```json
//! {"conversations": [{"id", "title", "createdAt", "updatedAt",
//!                     "snippet": "…text around the first match…"}],
//!  "next": "opaque cursor, or null when everything was searched"}
//! ```
//!
//! Each request reads a bounded slice of the user's items, so a page may be empty and
//! still have a `next`: call again with it (and the same `q`) until `next` is null or
//! enough was found. A conversation is reported once.
//!
//! ## `GET /api/conversations/{id}/export?format=markdown|json`
//!
//! A download (`Content-Disposition: attachment; filename="<title>-<id>.md"` or
//! `.json`, names made of `a-z0-9-` only). `markdown` (the default): the title, then
//! each turn under `## You` or `## Assistant`, incomplete answers marked. `json`: the
//! body of `GET /api/conversations/{id}` plus `"exportedAt"`.
//!
//! ## `POST /api/conversations/import`
//!
//! ```json
//! {"conversations": [{"title": "…" (optional), "updatedAt": 0 (optional),
//!                     "turns": [{"role": "user" | "assistant", "text": "…"}]}]}
//! ```
//!
//! Stores conversations kept elsewhere (the browser's old localStorage). At most 100
//! conversations per request (the body at most 2 MiB), each at most 1000 turns;
//! turns are only `role` and `text` (unknown fields refused), a user's turn at most
//! `maxMessageChars` (as in `/api/chat`); blank turns are left out. A missing or
//! blank title is made from the first question; `updatedAt` (a past time) keeps the
//! list's order, else it is now. The whole request is refused (400) if any
//! conversation is invalid, before anything is written. Answers
//! `{"ids": ["…" | null]}`, in the order sent, `null` for a conversation with no
//! non-blank turn (not stored).
//!
//! ## `GET /api/me`
//!
//! Gains `"history": {"enabled": bool, "retentionDays": n | null}` (`null` when not
//! enabled; 0 keeps conversations for ever).
//!
//! ## `POST /api/chat` with history
//!
//! See [`crate::chat`]: `{"id", "conversation"?, "question", "replaces"?}` continues a stored
//! conversation (or starts one), the server builds the model's context from the
//! stored turns, and the answer is saved as it streams.

mod api;
pub mod recent;
pub mod recorder;
pub mod store;
pub mod text;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;

pub use api::router;
pub use recent::{Known, Recent};
pub use recorder::AnswerLog;
pub use store::{
    Destination, Exchange, Follows, Hit, ReadLimits, Spent, StoredTurn, Summary, Turns,
};

use crate::config::HistoryConfig;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The history table of one chatbot and how long its items are kept.
#[derive(Clone, Debug)]
pub struct History {
    /// Made at first use from `sdk` (so a chatbot nobody has asked yet does not carry
    /// it), or given by [`History::new`].
    client: OnceLock<Client>,
    sdk: Option<SdkConfig>,
    table: String,
    retention_days: u32,
    /// Conversations answered here lately (shared by the clones).
    recent: Arc<Recent>,
}

/// Why a history operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// No such conversation for this user (or it expired, or was deleted).
    #[error("no such conversation")]
    NotFound,
    /// The conversation holds the most turns one conversation keeps.
    #[error(
        "this conversation has reached {} messages, the most one conversation keeps; start a new chat",
        store::MAX_STORED_TURNS
    )]
    Full,
    /// A cursor that this server did not make.
    #[error("the cursor is not valid; start from the first page")]
    BadCursor,
    /// The conversation is not where it was remembered: turns were claimed since,
    /// or it is gone ([`History::begin_exactly`]). Nothing was written.
    #[error("the conversation changed since it was last read")]
    Moved,
    /// DynamoDB could not be reached, or refused (after the SDK's own retries).
    #[error("the conversation history cannot be reached")]
    Unavailable(#[source] BoxError),
}

impl From<HistoryError> for crate::Error {
    fn from(error: HistoryError) -> Self {
        match error {
            HistoryError::NotFound => Self::NotFound,
            HistoryError::Full | HistoryError::BadCursor => Self::InvalidRequest(error.to_string()),
            HistoryError::Unavailable(source) => Self::HistoryUnavailable(source),
            // Answered by reading the conversation again; never a caller's to see.
            HistoryError::Moved => Self::HistoryUnavailable(Box::new(HistoryError::Moved)),
        }
    }
}

impl History {
    /// The table `config` names, through `client`.
    pub fn new(client: Client, config: &HistoryConfig) -> Self {
        Self {
            client: OnceLock::from(client),
            sdk: None,
            table: config.table.clone(),
            retention_days: config.retention_days,
            recent: Arc::new(Recent::new(config.cache_bytes)),
        }
    }

    /// The table `config` names, through a client made (at its first use) from the
    /// SDK configuration the app loaded: region, the task role's credentials, and the
    /// endpoint (`AWS_ENDPOINT_URL_DYNAMODB`, else `AWS_ENDPOINT_URL`, else DynamoDB's
    /// regional one).
    pub fn from_sdk(sdk: &SdkConfig, config: &HistoryConfig) -> Self {
        Self {
            client: OnceLock::new(),
            sdk: Some(sdk.clone()),
            table: config.table.clone(),
            retention_days: config.retention_days,
            recent: Arc::new(Recent::new(config.cache_bytes)),
        }
    }

    /// The client's configuration: tighter timeouts than the SDK's defaults, so that
    /// a DynamoDB that does not answer costs a question seconds, not minutes;
    /// throttling and transient faults are retried by the SDK's standard retry, and
    /// by nothing else.
    fn dynamodb_config(sdk: &SdkConfig) -> aws_sdk_dynamodb::Config {
        aws_sdk_dynamodb::config::Builder::from(sdk)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(12))
                    .build(),
            )
            .build()
    }

    /// Conversations answered here lately.
    pub fn recent(&self) -> &Recent {
        &self.recent
    }

    /// Days items are kept after their last write (0: for ever).
    pub fn retention_days(&self) -> u32 {
        self.retention_days
    }
}
