//! The `/api/conversations` routes (documented in [the module](super)).

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_http::set_header::SetResponseHeaderLayer;

use super::store::{Spent, Summary, Turns, now_ms};
use super::{History, text};
use crate::app::AppState;
use crate::auth::Identity;
use crate::conversation::{MAX_TURNS, Role, Turn};
use crate::error::{Error, Result};

/// Conversations listed per page when the request does not say.
pub const DEFAULT_PAGE: u32 = 20;
/// Most conversations per page.
pub const MAX_PAGE: u32 = 100;
/// Longest search, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most conversations one import request may carry.
pub const MAX_IMPORT: usize = 100;

/// The history routes (authenticated by the app's router).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/conversations", get(list))
        .route("/api/conversations/search", get(search))
        .route("/api/conversations/import", post(import))
        .route(
            "/api/conversations/{id}",
            get(read).patch(rename).delete(remove),
        )
        .route("/api/conversations/{id}/export", get(export))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

fn enabled(state: &AppState) -> Result<&Arc<History>> {
    state.history.as_ref().ok_or(Error::HistoryDisabled)
}

fn bad_query(rejection: QueryRejection) -> Error {
    Error::InvalidRequest(rejection.body_text())
}

/// A conversation without its turns, as every route shows it.
pub fn summary_json(summary: &Summary) -> Value {
    let mut value = json!({
        "id": summary.id,
        "title": summary.title,
        "createdAt": summary.created_at,
        "updatedAt": summary.updated_at,
    });
    add_spent(&mut value, &summary.spent);
    value
}

/// `usage` (the tokens) and, when priced, `cost` of what was `spent`, into `value`.
fn add_spent(value: &mut Value, spent: &Spent) {
    let [input, output, cache_read, cache_write] = spent.tokens;
    value["usage"] = json!({
        "inputTokens": input,
        "outputTokens": output,
        "cacheReadInputTokens": cache_read,
        "cacheWriteInputTokens": cache_write,
    });
    if let Some((micros, currency)) = &spent.cost {
        value["cost"] = crate::chat::cost_json(*micros, currency);
    }
}

fn conversation_json(summary: &Summary, turns: &Turns) -> Value {
    let mut value = summary_json(summary);
    value["turns"] = turns
        .turns
        .iter()
        .map(|turn| {
            let mut value = json!({
                "role": turn.role,
                "text": turn.text,
                "at": turn.at,
                "index": turn.index,
                "incomplete": turn.incomplete.as_ref().map(|reason| json!({ "reason": reason })),
            });
            if !turn.attachments.is_empty() {
                value["attachments"] = turn
                    .attachments
                    .iter()
                    .map(crate::attachments::Stored::to_json)
                    .collect();
            }
            // An answer saved at its end says which model wrote it and what it used.
            if let Some(model) = &turn.model {
                value["model"] = json!(model);
                add_spent(&mut value, &turn.spent);
            }
            value
        })
        .collect();
    value["truncated"] = json!(turns.truncated);
    value
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    params: std::result::Result<Query<ListParams>, QueryRejection>,
) -> Result<Response> {
    let history = enabled(&state)?;
    let Query(params) = params.map_err(bad_query)?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Error::InvalidRequest(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let (summaries, next) = history
        .list(
            &identity.subject,
            i32::try_from(limit).unwrap_or(20),
            params.cursor.as_deref().filter(|c| !c.is_empty()),
        )
        .await?;
    let conversations: Vec<Value> = summaries.iter().map(summary_json).collect();
    Ok(Json(json!({ "conversations": conversations, "next": next })).into_response())
}

async fn read(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Response> {
    let history = enabled(&state)?;
    let (summary, turns) = history.conversation(&identity.subject, &id).await?;
    Ok(Json(conversation_json(&summary, &turns)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameBody {
    title: String,
}

async fn rename(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
    body: std::result::Result<Json<RenameBody>, JsonRejection>,
) -> Result<Response> {
    let history = enabled(&state)?;
    let Json(body) = body.map_err(crate::chat::rejected)?;
    if body
        .title
        .chars()
        .all(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::InvalidRequest("the title is empty".into()));
    }
    let title = text::title_from(&body.title);
    let summary = history.rename(&identity.subject, &id, &title).await?;
    Ok(Json(summary_json(&summary)).into_response())
}

async fn remove(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let history = enabled(&state)?;
    let user = identity.subject.as_str();
    // Its files first: if S3 fails, the conversation stays, to be deleted again.
    let mut files = 0;
    if let Some(attachments) = &state.attachments {
        let ids = history.attachments_of(user, &id).await?;
        files = ids.len();
        futures_util::future::try_join_all(ids.iter().map(|file| attachments.delete(user, file)))
            .await?;
    }
    history.delete(user, &id).await?;
    tracing::info!(user = %user, conversation = %id, files, "conversation deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchParams {
    q: String,
    cursor: Option<String>,
}

async fn search(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    params: std::result::Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response> {
    let history = enabled(&state)?;
    let Query(params) = params.map_err(bad_query)?;
    let q = params.q.trim();
    let chars = q.chars().count();
    if chars == 0 || chars > MAX_QUERY_CHARS {
        return Err(Error::InvalidRequest(format!(
            "q must be 1 to {MAX_QUERY_CHARS} characters"
        )));
    }
    let needle = q.to_lowercase();
    let (hits, next) = history
        .search(
            &identity.subject,
            &needle,
            params.cursor.as_deref().filter(|c| !c.is_empty()),
        )
        .await?;
    let conversations: Vec<Value> = hits
        .iter()
        .map(|hit| {
            let mut value = summary_json(&hit.summary);
            value["snippet"] = json!(hit.snippet);
            value
        })
        .collect();
    Ok(Json(json!({ "conversations": conversations, "next": next })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    format: Option<String>,
}

async fn export(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
    params: std::result::Result<Query<ExportParams>, QueryRejection>,
) -> Result<Response> {
    let history = enabled(&state)?;
    let Query(params) = params.map_err(bad_query)?;
    let markdown = match params.format.as_deref() {
        None | Some("markdown" | "md") => true,
        Some("json") => false,
        Some(_) => {
            return Err(Error::InvalidRequest(
                "format must be markdown or json".into(),
            ));
        }
    };
    let (summary, turns) = history.conversation(&identity.subject, &id).await?;
    let (content_type, extension, body) = if markdown {
        (
            "text/markdown; charset=utf-8",
            "md",
            to_markdown(&summary, &turns),
        )
    } else {
        let mut value = conversation_json(&summary, &turns);
        value["exportedAt"] = json!(now_ms());
        (
            "application/json",
            "json",
            serde_json::to_string_pretty(&value).unwrap_or_default(),
        )
    };
    let disposition = format!(
        "attachment; filename=\"{}\"",
        text::file_name(&summary.title, &summary.id, extension)
    );
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The conversation as a Markdown document.
pub fn to_markdown(summary: &Summary, turns: &Turns) -> String {
    let mut out = format!("# {}\n\n", summary.title);
    if turns.truncated {
        out.push_str("_Only the newest messages of this conversation are included._\n\n");
    }
    for turn in &turns.turns {
        out.push_str(match turn.role {
            Role::User => "## You\n\n",
            Role::Assistant => "## Assistant\n\n",
        });
        out.push_str(turn.text.trim_end());
        out.push_str("\n\n");
        if let Some(reason) = &turn.incomplete {
            out.push_str(&format!("_(incomplete: {reason})_\n\n"));
        }
    }
    out
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportBody {
    conversations: Vec<Imported>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Imported {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    updated_at: Option<i64>,
    turns: Vec<Turn>,
}

async fn import(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    body: std::result::Result<Json<ImportBody>, JsonRejection>,
) -> Result<Response> {
    let history = enabled(&state)?;
    let Json(body) = body.map_err(crate::chat::rejected)?;
    if body.conversations.len() > MAX_IMPORT {
        return Err(Error::InvalidRequest(format!(
            "at most {MAX_IMPORT} conversations per import"
        )));
    }
    let limit = state.config.server.limits.max_message_chars;
    let now = now_ms();
    // Every conversation is checked before any is written.
    let mut ready = Vec::with_capacity(body.conversations.len());
    for conversation in body.conversations {
        if conversation.turns.len() > MAX_TURNS {
            return Err(Error::InvalidRequest(format!(
                "at most {MAX_TURNS} messages per conversation"
            )));
        }
        for turn in &conversation.turns {
            let chars = turn.text.chars().count();
            if turn.role == Role::User && chars > limit {
                return Err(Error::MessageTooLong { chars, limit });
            }
        }
        let turns: Vec<Turn> = conversation
            .turns
            .into_iter()
            .filter(|turn| !turn.text.trim().is_empty())
            .collect();
        if turns.is_empty() {
            ready.push(None);
            continue;
        }
        let title = match conversation.title.as_deref() {
            Some(title) if !title.trim().is_empty() => text::title_from(title),
            _ => text::title_from(
                &turns
                    .iter()
                    .find(|t| t.role == Role::User)
                    .unwrap_or(&turns[0])
                    .text,
            ),
        };
        let updated_at = conversation
            .updated_at
            .filter(|at| (1..=now).contains(at))
            .unwrap_or(now);
        ready.push(Some((title, turns, updated_at)));
    }
    let mut ids = Vec::with_capacity(ready.len());
    for conversation in ready {
        match conversation {
            None => ids.push(Value::Null),
            Some((title, turns, updated_at)) => {
                let id = history
                    .import(&identity.subject, &title, &turns, updated_at)
                    .await?;
                ids.push(json!(id));
            }
        }
    }
    tracing::info!(user = %identity.subject, conversations = ids.len(), "conversations imported");
    Ok(Json(json!({ "ids": ids })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Follows, StoredTurn};

    #[test]
    fn markdown_marks_who_said_what_and_what_is_incomplete() {
        let summary = Summary {
            id: "x".into(),
            title: "Sorting".into(),
            created_at: 1,
            updated_at: 2,
            turns: 2,
            spent: Spent::default(),
        };
        let turns = Turns {
            turns: vec![
                StoredTurn {
                    role: Role::User,
                    text: "How?".into(),
                    at: 1,
                    incomplete: None,
                    index: 0,
                    follows: Follows::Previous,
                    model: None,
                    spent: Spent::default(),
                    attachments: Vec::new(),
                },
                StoredTurn {
                    role: Role::Assistant,
                    text: "Like th".into(),
                    at: 2,
                    incomplete: Some("stopped".into()),
                    index: 1,
                    follows: Follows::Previous,
                    model: None,
                    spent: Spent::default(),
                    attachments: Vec::new(),
                },
            ],
            truncated: false,
            expires: None,
        };
        assert_eq!(
            to_markdown(&summary, &turns),
            "# Sorting\n\n## You\n\nHow?\n\n## Assistant\n\nLike th\n\n_(incomplete: stopped)_\n\n"
        );
        assert!(crate::history::store::MAX_STORED_TURNS as usize == MAX_TURNS);
    }
}
