//! Bedrock's wire protocol: restJson1 requests, JSON errors named by
//! `x-amzn-errortype`, and the ConverseStream answer as AWS event-stream messages.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State as Shared};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::BytesMut;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::attachment::{self, Attachment, AttachmentKind, Position};
use crate::{Fault, Operation, RecordedRequest, Reply, State};

/// Largest request body accepted: Bedrock's 20 MB payload limit for Anthropic Claude
/// (Amazon Bedrock User Guide, "Anthropic Claude Messages API", request and response:
/// <https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages-request-response.html>).
/// The Converse API reference names no limit of its own; Converse requests of 19.1 MB
/// were seen accepted and of 27.7 MB refused with [`INPUT_TOO_LONG`]
/// (aws-solutions-library-samples/accelerated-intelligent-document-processing-on-aws#994).
/// So twenty images of 3.75 MB (100 MB once base64-encoded) never fit in one request.
pub const MAX_BODY_BYTES: usize = 20 * 1024 * 1024;

/// How much of a body over [`MAX_BODY_BYTES`] is read (and dropped) so that the caller,
/// still sending, reads the refusal; past it the connection is closed.
const MAX_DRAINED_BYTES: usize = 8 * MAX_BODY_BYTES;

/// What Bedrock answers an input over the model's context window, or a request body
/// over its payload limit.
pub const INPUT_TOO_LONG: &str = "Input is too long for requested model.";

/// The stand-in's routes on `state`.
pub fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/model/{model_id}/converse", post(converse))
        .route("/model/{model_id}/converse-stream", post(converse_stream))
        .route("/_standin/requests", get(list_requests))
        .route("/_standin/replies", post(queue_reply).delete(clear_replies))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn list_requests(Shared(state): Shared<Arc<State>>) -> Json<Vec<RecordedRequest>> {
    Json(state.requests())
}

async fn queue_reply(Shared(state): Shared<Arc<State>>, Json(reply): Json<Reply>) -> StatusCode {
    state.push_reply(reply);
    StatusCode::NO_CONTENT
}

async fn clear_replies(Shared(state): Shared<Arc<State>>) -> StatusCode {
    state.clear_replies();
    StatusCode::NO_CONTENT
}

/// Reads a request body of at most [`MAX_BODY_BYTES`], holding no more than that: a
/// larger body is read on to its end (up to [`MAX_DRAINED_BYTES`]) chunk by chunk and
/// dropped, then refused as Bedrock refuses it.
async fn read_body(body: Body) -> Result<Bytes, Response> {
    let mut chunks = body.into_data_stream();
    let mut kept = BytesMut::new();
    let mut received = 0usize;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| {
            error_response(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                &format!("Malformed input request: {e}"),
            )
        })?;
        received = received.saturating_add(chunk.len());
        if received <= MAX_BODY_BYTES {
            kept.extend_from_slice(&chunk);
        } else {
            kept = BytesMut::new();
            if received > MAX_DRAINED_BYTES {
                break;
            }
        }
    }
    if received > MAX_BODY_BYTES {
        return Err(error_response(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            INPUT_TOO_LONG,
        ));
    }
    Ok(kept.freeze())
}

async fn converse(
    Shared(state): Shared<Arc<State>>,
    Path(model_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let plan = match accept(&state, Operation::Converse, model_id, &headers, body).await {
        Ok(plan) => plan,
        Err(response) => return response,
    };
    if let Some(fault) = &plan.fault {
        // A mid-stream fault has no stream to happen in: Converse fails as a whole.
        return fault_response(&Fault::InternalServer, fault_message(fault));
    }
    // Bedrock answers Converse when the whole answer is generated: as long as the
    // same answer takes to stream, so both APIs see the same token pacing.
    tokio::time::sleep(plan.generation_time()).await;
    let text: String = plan.tokens.concat();
    let body = json!({
        "output": { "message": { "role": "assistant", "content": [ { "text": text } ] } },
        "stopReason": plan.stop_reason,
        "usage": plan.usage(plan.tokens.len()),
        "metrics": { "latencyMs": elapsed_ms(started) },
    });
    ([("x-amzn-requestid", request_id(&state))], Json(body)).into_response()
}

async fn converse_stream(
    Shared(state): Shared<Arc<State>>,
    Path(model_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let plan = match accept(&state, Operation::ConverseStream, model_id, &headers, body).await {
        Ok(plan) => plan,
        Err(response) => return response,
    };
    state.streams_started.fetch_add(1, Ordering::SeqCst);
    // Capacity 1: the producer runs at most one frame ahead of the reader, so a reader
    // that goes away is noticed at once and counted as an abandoned stream.
    let (frames, reader) = mpsc::channel::<Bytes>(1);
    let id = request_id(&state);
    tokio::spawn(produce(plan, frames, state, started));
    let stream = futures_util::stream::unfold(reader, |mut reader| async move {
        reader
            .recv()
            .await
            .map(|frame| (Ok::<_, Infallible>(frame), reader))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/vnd.amazon.eventstream")
        .header("x-amzn-requestid", id)
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn request_id(state: &State) -> String {
    format!(
        "standin-{:08}",
        state.requests.lock().map(|r| r.len()).unwrap_or_default()
    )
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// What one request will get: the text cut into deltas, and how it ends.
#[derive(Debug)]
struct Plan {
    tokens: Vec<String>,
    stop_reason: &'static str,
    input_tokens: usize,
    pace: Duration,
    first_token: Duration,
    /// A mid-stream fault (faults before the stream never make a plan).
    fault: Option<Fault>,
    /// Whether the request marked cache points, and the input tokens it read from and
    /// wrote to the cache (not counted in `input_tokens`).
    cached: bool,
    cache_read: usize,
    cache_written: usize,
}

impl Plan {
    /// How long the whole answer takes: the first token's pause, then one pace
    /// between each two tokens (what streaming it takes).
    fn generation_time(&self) -> Duration {
        let gaps = u32::try_from(self.tokens.len().saturating_sub(1)).unwrap_or(u32::MAX);
        self.first_token + self.pace.saturating_mul(gaps)
    }

    fn usage(&self, output_tokens: usize) -> Value {
        let mut usage = json!({
            "inputTokens": self.input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": self.input_tokens + self.cache_read + self.cache_written + output_tokens,
        });
        if self.cached {
            usage["cacheReadInputTokens"] = json!(self.cache_read);
            usage["cacheWriteInputTokens"] = json!(self.cache_written);
        }
        usage
    }
}

/// Reads, parses, validates and records the request, picks its reply and applies
/// faults that come before any answer. `Err` is the response to send instead.
async fn accept(
    state: &State,
    operation: Operation,
    model_id: String,
    headers: &HeaderMap,
    body: Body,
) -> Result<Plan, Response> {
    let body = read_body(body).await?;
    let mut parsed: Value = serde_json::from_slice(&body).map_err(|e| {
        error_response(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            &format!("Malformed input request: {e}"),
        )
    })?;
    let validated = ConverseRequest::validate(&parsed);
    let temperature_and_top_p = sets_temperature_and_top_p(&parsed);
    without_attachment_bytes(&mut parsed);
    state.record(RecordedRequest {
        operation,
        model_id: model_id.clone(),
        body: parsed,
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        attachments: validated
            .as_ref()
            .map(|request| request.attachments.clone())
            .unwrap_or_default(),
    });
    let validation =
        |message: &str| error_response(StatusCode::BAD_REQUEST, "ValidationException", message);
    let request = validated.map_err(|message| validation(&message))?;
    attachment::check_model(&model_id, &request.attachments)
        .map_err(|message| validation(&message))?;
    if !request.cache_prefixes.is_empty() && !supports_prompt_caching(&model_id) {
        return Err(error_response(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            CACHE_POINT_UNSUPPORTED,
        ));
    }
    if refuses_temperature_with_top_p(&model_id) && temperature_and_top_p {
        return Err(error_response(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            TEMPERATURE_WITH_TOP_P,
        ));
    }

    let mut reply = state.next_reply();
    if reply.text.is_none() {
        reply = directives(reply, &request.last_user_text);
    }
    if let Some(fault) = reply.fault.as_ref().filter(|f| f.before_stream()) {
        tokio::time::sleep(Duration::from_millis(reply.first_token_ms)).await;
        return Err(fault_response(fault, fault_message(fault)));
    }
    let text = reply
        .text
        .clone()
        .unwrap_or_else(|| echo(&request.last_user_text, request.last_user_attachments()));
    let mut tokens = split_tokens(&text);
    let mut stop_reason = "end_turn";
    if let Some(max) = request.max_tokens
        && tokens.len() > max
    {
        tokens.truncate(max);
        stop_reason = "max_tokens";
    }
    let input_tokens = request.input_chars.div_ceil(4);
    let (cache_read, cache_written) = state.cache(&request.cache_lookups, &request.cache_prefixes);
    Ok(Plan {
        tokens,
        stop_reason,
        input_tokens: input_tokens.saturating_sub(cache_read + cache_written),
        pace: Duration::from_millis(reply.pace_ms),
        first_token: Duration::from_millis(reply.first_token_ms),
        fault: reply.fault,
        cached: !request.cache_prefixes.is_empty(),
        cache_read,
        cache_written,
    })
}

/// The parts of a Converse request the stand-in checks and uses.
#[derive(Debug)]
struct ConverseRequest {
    last_user_text: String,
    /// Index of the last user message.
    last_user_message: usize,
    /// The images and documents of every message, in order.
    attachments: Vec<Attachment>,
    input_chars: usize,
    max_tokens: Option<usize>,
    /// At each cache point, a hash of the prompt before it and its length in tokens.
    cache_prefixes: Vec<(u64, usize)>,
    /// The same at every block boundary up to the last cache point: where a cached
    /// prefix may be found (Bedrock looks back from a cache point for one).
    cache_lookups: Vec<(u64, usize)>,
}

/// The prompt read so far, for cache points: its hash and length.
#[derive(Default)]
struct Prefix {
    hasher: std::collections::hash_map::DefaultHasher,
    chars: usize,
    points: Vec<(u64, usize)>,
    boundaries: Vec<(u64, usize)>,
}

impl Prefix {
    /// One more text block.
    fn add(&mut self, part: &str) {
        self.chars += part.chars().count();
        self.add_opaque(part);
    }

    /// Content that makes the prompt what it is without adding to its length in
    /// characters (an image or a document, by its hash).
    fn add_opaque(&mut self, part: &str) {
        use std::hash::{Hash, Hasher};
        part.hash(&mut self.hasher);
        self.boundaries
            .push((self.hasher.finish(), self.chars.div_ceil(4)));
    }

    fn point(&mut self) {
        use std::hash::Hasher;
        self.points
            .push((self.hasher.finish(), self.chars.div_ceil(4)));
    }

    /// The boundaries a cached prefix may end at: up to the last cache point.
    fn lookups(&self) -> Vec<(u64, usize)> {
        let last = self.points.last().map_or(0, |(_, tokens)| *tokens);
        self.boundaries
            .iter()
            .copied()
            .filter(|(_, tokens)| *tokens <= last)
            .collect()
    }
}

/// A content block: its text, or `None` for a cache point (`{"type": "default"}`).
fn block_text<'a>(block: &'a Value, at: &str) -> Result<Option<&'a str>, String> {
    if let Some(point) = block.get("cachePoint") {
        if point.get("type").and_then(Value::as_str) != Some("default") {
            return Err(format!("The cachePoint at {at} must have type default."));
        }
        return Ok(None);
    }
    let text = block.get("text").and_then(Value::as_str).unwrap_or("");
    if text.trim().is_empty() {
        return Err(format!(
            "The text field in the ContentBlock object at {at} is blank. Add text to the text field, and try again."
        ));
    }
    Ok(Some(text))
}

impl ConverseRequest {
    /// The checks Bedrock makes that a caller's history handling can trip over.
    fn validate(body: &Value) -> Result<Self, String> {
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .filter(|m| !m.is_empty())
            .ok_or("The messages field is required and must not be empty.")?;
        let mut expected = "user";
        let mut input_chars = 0;
        let mut last_user_text = String::new();
        let mut last_user_message = 0;
        let mut attachments = Vec::new();
        let mut documents_without_text = false;
        // Bedrock reads the system prompt before the messages.
        let mut prefix = Prefix::default();
        if let Some(system) = body.get("system").and_then(Value::as_array) {
            for block in system {
                match block_text(block, "system")? {
                    Some(text) => {
                        input_chars += text.chars().count();
                        prefix.add(text);
                    }
                    None => prefix.point(),
                }
            }
        }
        for (i, message) in messages.iter().enumerate() {
            let role = message.get("role").and_then(Value::as_str).unwrap_or("");
            if role != expected {
                return Err(if i == 0 {
                    "A conversation must start with a user message. Try again with a conversation that starts with a user message.".into()
                } else {
                    "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.".into()
                });
            }
            let blocks = message
                .get("content")
                .and_then(Value::as_array)
                .filter(|c| !c.is_empty())
                .ok_or_else(|| format!("messages.{i}.content must not be empty."))?;
            let mut text = String::new();
            let mut attached = Vec::new();
            prefix.add(role);
            for (j, block) in blocks.iter().enumerate() {
                let kind = [AttachmentKind::Image, AttachmentKind::Document]
                    .into_iter()
                    .find(|kind| block.get(kind.field()).is_some());
                if let Some(kind) = kind {
                    let at = Position {
                        message: i,
                        block: j,
                    };
                    let attachment = attachment::read(kind, &block[kind.field()], role, at)?;
                    prefix.add_opaque(&attachment.sha256);
                    attached.push(attachment);
                    continue;
                }
                match block_text(block, &format!("messages.{i}.content"))? {
                    Some(t) => {
                        text.push_str(t);
                        prefix.add(t);
                    }
                    None => prefix.point(),
                }
            }
            let has = |kind| attached.iter().any(|a: &Attachment| a.kind == kind);
            if text.is_empty() && has(AttachmentKind::Document) {
                documents_without_text = true;
            } else if text.is_empty() && !has(AttachmentKind::Image) {
                return Err(format!("messages.{i}.content must have a text block."));
            }
            input_chars += text.chars().count();
            if role == "user" {
                last_user_text = text;
                last_user_message = i;
            }
            attachments.append(&mut attached);
            expected = if role == "user" { "assistant" } else { "user" };
        }
        attachment::check_request(&attachments, documents_without_text)?;
        if prefix.points.len() > MAX_CACHE_POINTS {
            return Err(format!(
                "A request can have at most {MAX_CACHE_POINTS} cache points; it has {}.",
                prefix.points.len()
            ));
        }
        let config = body.get("inferenceConfig");
        let number = |field: &str| config.and_then(|c| c.get(field)).and_then(Value::as_f64);
        for field in ["temperature", "topP"] {
            if let Some(x) = number(field)
                && !(0.0..=1.0).contains(&x)
            {
                return Err(format!("inferenceConfig.{field} must be between 0 and 1."));
            }
        }
        let max_tokens = match number("maxTokens") {
            Some(n) if !(1.0..=64_000.0).contains(&n) => {
                return Err("inferenceConfig.maxTokens must be between 1 and 64000.".into());
            }
            // In range, so the cast neither truncates nor wraps.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some(n) => Some(n as usize),
            None => None,
        };
        Ok(Self {
            last_user_text,
            last_user_message,
            attachments,
            input_chars,
            max_tokens,
            cache_lookups: prefix.lookups(),
            cache_prefixes: prefix.points,
        })
    }
}

impl ConverseRequest {
    /// What came with the last question: the images and documents the echo lists.
    fn last_user_attachments(&self) -> impl Iterator<Item = &Attachment> {
        self.attachments
            .iter()
            .filter(|a| a.message == self.last_user_message)
    }
}

/// Replaces each image's and document's base64 bytes in a body to be recorded with a
/// note of their length: [`RecordedRequest::attachments`] has their length and
/// SHA-256, and a test sending a few large files does not keep every copy.
fn without_attachment_bytes(body: &mut Value) {
    let Some(messages) = body.get_mut("messages").and_then(Value::as_array_mut) else {
        return;
    };
    let blocks = messages
        .iter_mut()
        .filter_map(|message| message.get_mut("content"))
        .filter_map(Value::as_array_mut)
        .flatten();
    for block in blocks {
        for pointer in ["/image/source/bytes", "/document/source/bytes"] {
            let Some(bytes) = block.pointer_mut(pointer) else {
                continue;
            };
            if let Some(length) = bytes.as_str().map(str::len) {
                *bytes = Value::String(format!(
                    "(stand-in: {length} characters of base64, not kept)"
                ));
            }
        }
    }
}

/// Most cache points one request may mark (Bedrock's limit).
pub const MAX_CACHE_POINTS: usize = 4;

/// What the stand-in answers when a model without prompt caching gets a cache point
/// (its own words: the point is that the request is refused).
pub const CACHE_POINT_UNSUPPORTED: &str = "The model returned the following errors: this model does not support prompt caching (cachePoint).";

/// Whether Bedrock caches prompts for this model (Amazon Bedrock User Guide, "Prompt
/// caching for faster model inference", supported models): Anthropic's Claude 3.7
/// Sonnet, Claude 3.5 Haiku and every Claude from the 4 family on; Amazon Nova Micro,
/// Lite, Pro and Premier. Whatever the inference-profile prefix or ARN around the id.
pub fn supports_prompt_caching(model_id: &str) -> bool {
    if let Some((_, rest)) = model_id.split_once("amazon.nova-") {
        return ["micro", "lite", "pro", "premier"]
            .iter()
            .any(|family| rest.starts_with(family));
    }
    let Some((_, rest)) = model_id.split_once("anthropic.claude-") else {
        return false;
    };
    if rest.starts_with("3-7-sonnet") || rest.starts_with("3-5-haiku") {
        return true;
    }
    let mut parts = rest.split(['-', ':', '/']);
    matches!(parts.next(), Some("opus" | "sonnet" | "haiku"))
        && parts
            .next()
            .and_then(|major| major.parse::<u32>().ok())
            .is_some_and(|major| major >= 4)
}

/// What Bedrock answers when a model that takes only one of the two gets both.
pub const TEMPERATURE_WITH_TOP_P: &str = "The model returned the following errors: `temperature` and `top_p` cannot both be specified for this model. Please use only one.";

/// Whether Bedrock refuses `temperature` and `topP` in one request for this model:
/// Anthropic's Claude models from Opus 4.1 on (Opus 4.1, Sonnet 4.5, Haiku 4.5 and
/// every later one), whatever the inference-profile prefix or ARN around the id.
/// Older ids put the version before the family (`claude-3-5-sonnet-…`) and take both,
/// as do Sonnet 4 and Opus 4.
pub fn refuses_temperature_with_top_p(model_id: &str) -> bool {
    let Some((_, rest)) = model_id.split_once("anthropic.claude-") else {
        return false;
    };
    let mut parts = rest.split(['-', ':', '/']);
    if !matches!(parts.next(), Some("opus" | "sonnet" | "haiku")) {
        return false;
    }
    let Some(major) = parts.next().and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    // A minor version is one or two digits; what follows a major version alone is the
    // eight-digit date (`sonnet-4-20250514`) or nothing.
    let minor = parts
        .next()
        .filter(|p| p.len() <= 2)
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(0);
    (major, minor) >= (4, 1)
}

fn sets_temperature_and_top_p(body: &Value) -> bool {
    body.get("inferenceConfig").is_some_and(|config| {
        config.get("temperature").is_some_and(|v| !v.is_null())
            && config.get("topP").is_some_and(|v| !v.is_null())
    })
}

/// Faults asked for by hand in the question (only when no reply is scripted).
fn directives(mut reply: Reply, question: &str) -> Reply {
    let asks = |what: &str| question.contains(&format!("[standin:{what}]"));
    if asks("throttle") {
        reply.fault = Some(Fault::Throttling);
    } else if asks("access-denied") {
        reply.fault = Some(Fault::AccessDenied);
    } else if asks("not-subscribed") {
        reply.fault = Some(Fault::ModelNotSubscribed);
    } else if asks("500") {
        reply.fault = Some(Fault::InternalServer);
    } else if asks("too-long") {
        reply.fault = Some(Fault::Validation {
            message: INPUT_TOO_LONG.into(),
        });
    } else if asks("stream-error") {
        reply.fault = Some(Fault::ModelStreamError { after_tokens: 8 });
    }
    if asks("slow") {
        reply.first_token_ms = 3_000;
    }
    reply
}

/// The stand-in's own answer: unmistakably not a model, listing what came attached,
/// and exercising markdown.
fn echo<'a>(question: &str, attachments: impl Iterator<Item = &'a Attachment>) -> String {
    let mut quoted: Vec<String> = question
        .lines()
        .take(20)
        .map(|line| format!("> {line}"))
        .collect();
    if quoted.is_empty() {
        // An image alone is a question too.
        quoted.push("> (no text)".to_string());
    }
    let attached: Vec<String> = attachments.map(describe).collect();
    let attached = if attached.is_empty() {
        String::new()
    } else {
        format!("You attached:\n\n{}\n\n", attached.join("\n"))
    };
    format!(
        "**This answer comes from the local Bedrock stand-in, not from a model.**\n\n\
         You asked:\n\n{}\n\n{attached}\
         Point the chatbot at real Bedrock (unset `AWS_ENDPOINT_URL`, use real credentials) \
         for real answers. Meanwhile, some *markdown* to look at:\n\n\
         1. a list item with `inline code`\n\
         2. a [link](https://docs.aws.amazon.com/bedrock/)\n\n\
         ```rust\nfn main() {{\n    println!(\"hello from the stand-in\");\n}}\n```\n",
        quoted.join("\n")
    )
}

/// An attachment as the echo lists it: `- an image: png, 2048 bytes, 64×48 px`.
fn describe(attachment: &Attachment) -> String {
    match (&attachment.name, attachment.dimensions) {
        (Some(name), _) => format!(
            "- a document, \"{name}\": {}, {} bytes",
            attachment.format, attachment.size
        ),
        (None, Some(size)) => format!(
            "- an image: {}, {} bytes, {}×{} px",
            attachment.format, attachment.size, size.width, size.height
        ),
        (None, None) => format!("- {}, {} bytes", attachment.format, attachment.size),
    }
}

/// Cuts text into deltas the way a model streams: a word and the space after it.
fn split_tokens(text: &str) -> Vec<String> {
    text.split_inclusive([' ', '\n'])
        .map(str::to_string)
        .collect()
}

/// What Bedrock answers a caller that may not subscribe to a model the account has no
/// AWS Marketplace subscription to yet (as quoted in users' reports of it).
pub const MARKETPLACE_ACCESS_DENIED: &str = "Model access is denied due to IAM user or service role is not authorized to perform the required AWS Marketplace actions (aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe) to enable access to this model. Refer to the Amazon Bedrock documentation for further details. Your AWS Marketplace subscription for this model cannot be completed at this time. If you recently fixed this issue, try again after 15 minutes.";

fn fault_message(fault: &Fault) -> &str {
    match fault {
        Fault::Throttling => "Too many requests, please wait before trying again.",
        Fault::AccessDenied => "You don't have access to the model with the specified model ID.",
        Fault::ModelNotSubscribed => MARKETPLACE_ACCESS_DENIED,
        Fault::Validation { message } => message,
        Fault::InternalServer => {
            "The server encountered an internal error while processing the request."
        }
        Fault::ServiceUnavailable => "Bedrock is unable to process your request.",
        Fault::ModelStreamError { .. } => "The model stream ended with an error.",
    }
}

fn fault_response(fault: &Fault, message: &str) -> Response {
    let (status, code) = match fault {
        Fault::Throttling => (StatusCode::TOO_MANY_REQUESTS, "ThrottlingException"),
        Fault::AccessDenied | Fault::ModelNotSubscribed => {
            (StatusCode::FORBIDDEN, "AccessDeniedException")
        }
        Fault::Validation { .. } => (StatusCode::BAD_REQUEST, "ValidationException"),
        Fault::InternalServer | Fault::ModelStreamError { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerException")
        }
        Fault::ServiceUnavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableException",
        ),
    };
    error_response(status, code, message)
}

/// A restJson1 error: the SDK reads the code from `x-amzn-errortype`.
fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [("x-amzn-errortype", code.to_string())],
        Json(json!({ "message": message })),
    )
        .into_response()
}

/// Why a stream ended early: its reader went away.
struct Abandoned;

async fn produce(plan: Plan, frames: mpsc::Sender<Bytes>, state: Arc<State>, started: Instant) {
    match stream_events(&plan, &frames, started).await {
        Ok(()) => state.streams_finished.fetch_add(1, Ordering::SeqCst),
        Err(Abandoned) => state.streams_abandoned.fetch_add(1, Ordering::SeqCst),
    };
}

async fn stream_events(
    plan: &Plan,
    frames: &mpsc::Sender<Bytes>,
    started: Instant,
) -> Result<(), Abandoned> {
    pause(plan.first_token, frames).await?;
    send(
        frames,
        event("messageStart", json!({ "role": "assistant" })),
    )
    .await?;
    for (i, token) in plan.tokens.iter().enumerate() {
        if let Some(Fault::ModelStreamError { after_tokens }) = &plan.fault
            && i == *after_tokens
        {
            return send(frames, model_stream_error()).await;
        }
        if i > 0 {
            pause(plan.pace, frames).await?;
        }
        let delta = json!({ "contentBlockIndex": 0, "delta": { "text": token } });
        send(frames, event("contentBlockDelta", delta)).await?;
    }
    if let Some(Fault::ModelStreamError { .. }) = &plan.fault {
        // Asked to fail after more deltas than the answer has: fail at its end.
        return send(frames, model_stream_error()).await;
    }
    send(
        frames,
        event("contentBlockStop", json!({ "contentBlockIndex": 0 })),
    )
    .await?;
    let stop = json!({ "stopReason": plan.stop_reason });
    send(frames, event("messageStop", stop)).await?;
    let metadata = json!({
        "usage": plan.usage(plan.tokens.len()),
        "metrics": { "latencyMs": elapsed_ms(started) },
    });
    send(frames, event("metadata", metadata)).await
}

async fn pause(duration: Duration, frames: &mpsc::Sender<Bytes>) -> Result<(), Abandoned> {
    if duration.is_zero() {
        return Ok(());
    }
    tokio::select! {
        () = tokio::time::sleep(duration) => Ok(()),
        () = frames.closed() => Err(Abandoned),
    }
}

async fn send(frames: &mpsc::Sender<Bytes>, message: Message) -> Result<(), Abandoned> {
    let mut buffer = Vec::new();
    // Encoding fails only for headers or payloads over the format's size limits,
    // which the stand-in's own small messages never reach.
    if write_message_to(&message, &mut buffer).is_err() {
        return Err(Abandoned);
    }
    frames
        .send(Bytes::from(buffer))
        .await
        .map_err(|_| Abandoned)
}

fn string(value: &'static str) -> HeaderValue {
    HeaderValue::String(value.into())
}

/// An event message: `:message-type event`, its `:event-type`, a JSON payload with
/// the event structure's members.
fn event(event_type: &'static str, payload: Value) -> Message {
    Message::new(payload.to_string().into_bytes())
        .add_header(Header::new(":event-type", string(event_type)))
        .add_header(Header::new(":content-type", string("application/json")))
        .add_header(Header::new(":message-type", string("event")))
}

/// An exception message: `:message-type exception`, named by `:exception-type`.
fn model_stream_error() -> Message {
    let payload = json!({
        "message": "The model stream ended with an error.",
        "originalStatusCode": 500,
        "originalMessage": "stand-in: fault on demand",
    });
    Message::new(payload.to_string().into_bytes())
        .add_header(Header::new(
            ":exception-type",
            string("modelStreamErrorException"),
        ))
        .add_header(Header::new(":content-type", string("application/json")))
        .add_header(Header::new(":message-type", string("exception")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_keep_every_character_in_order() {
        let text = "Hello, world!\n\n```rust\nfn x() {}\n```";
        let tokens = split_tokens(text);
        assert!(tokens.len() > 5);
        assert_eq!(tokens.concat(), text);
    }

    #[test]
    fn a_whole_answer_takes_as_long_as_its_stream() {
        let plan = |tokens: usize, pace_ms: u64, first_token_ms: u64| Plan {
            tokens: vec!["a ".to_string(); tokens],
            stop_reason: "end_turn",
            input_tokens: 1,
            pace: Duration::from_millis(pace_ms),
            first_token: Duration::from_millis(first_token_ms),
            fault: None,
            cached: false,
            cache_read: 0,
            cache_written: 0,
        };
        assert_eq!(
            plan(5, 20, 100).generation_time(),
            Duration::from_millis(180)
        );
        assert_eq!(plan(1, 20, 0).generation_time(), Duration::ZERO);
        assert_eq!(plan(0, 20, 7).generation_time(), Duration::from_millis(7));
    }

    #[test]
    fn prompt_caching_is_for_the_models_aws_lists() {
        for yes in [
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "anthropic.claude-3-7-sonnet-20250219-v1:0",
            "anthropic.claude-3-5-haiku-20241022-v1:0",
            "global.anthropic.claude-opus-4-5-20251101-v1:0",
            "us.amazon.nova-pro-v1:0",
            "amazon.nova-micro-v1:0",
        ] {
            assert!(supports_prompt_caching(yes), "{yes}");
        }
        for no in [
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "meta.llama3-70b-instruct-v1:0",
            "amazon.titan-text-express-v1",
            "mistral.mistral-large-2402-v1:0",
        ] {
            assert!(!supports_prompt_caching(no), "{no}");
        }
    }

    #[test]
    fn cache_points_mark_prefixes_that_a_later_request_reads() {
        let request = |turns: &[&str]| {
            let mut messages: Vec<Value> = Vec::new();
            for (i, text) in turns.iter().enumerate() {
                let role = if i % 2 == 0 { "user" } else { "assistant" };
                let mut content = vec![json!({ "text": text })];
                // A point on the last answer, as the chatbot marks it.
                if role == "assistant" && i + 2 == turns.len() {
                    content.push(json!({ "cachePoint": { "type": "default" } }));
                }
                messages.push(json!({ "role": role, "content": content }));
            }
            let body = json!({
                "system": [{ "text": "Be brief. ".repeat(100) }, { "cachePoint": { "type": "default" } }],
                "messages": messages,
            });
            ConverseRequest::validate(&body).unwrap()
        };
        let state = State::default();
        let first = request(&["q1"]);
        assert_eq!(first.cache_prefixes.len(), 1);
        let (read, written) = state.cache(&first.cache_lookups, &first.cache_prefixes);
        assert_eq!(read, 0);
        assert!(written > 0);
        // The next question: the system prompt is read, the first exchange written.
        let second = request(&["q1", "a1", "q2"]);
        assert_eq!(second.cache_prefixes.len(), 2);
        let (read, written) = state.cache(&second.cache_lookups, &second.cache_prefixes);
        assert_eq!(read, first.cache_prefixes[0].1);
        assert!(written > 0);
        // And the one after reads what the second wrote.
        let third = request(&["q1", "a1", "q2", "a2", "q3"]);
        let (read, _) = state.cache(&third.cache_lookups, &third.cache_prefixes);
        assert_eq!(read, second.cache_prefixes[1].1);

        let too_many = json!({"messages": [{"role": "user", "content": [
            {"text": "a"}, {"cachePoint": {"type": "default"}}, {"cachePoint": {"type": "default"}},
            {"cachePoint": {"type": "default"}}, {"cachePoint": {"type": "default"}},
            {"cachePoint": {"type": "default"}}
        ]}]});
        assert!(
            ConverseRequest::validate(&too_many)
                .unwrap_err()
                .contains("at most 4 cache points")
        );
    }

    #[test]
    fn an_image_is_part_of_the_prefix_a_cache_point_marks() {
        let prefixes = |width: u32| {
            let png = [
                b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".as_slice(),
                &width.to_be_bytes(),
                &10u32.to_be_bytes(),
            ]
            .concat();
            let body = json!({"messages": [{"role": "user", "content": [
                {"text": "Look"},
                {"image": {"format": "png", "source": {"bytes": aws_smithy_types::base64::encode(&png)}}},
                {"cachePoint": {"type": "default"}},
            ]}]});
            ConverseRequest::validate(&body).unwrap().cache_prefixes
        };
        assert_eq!(prefixes(10), prefixes(10));
        assert_ne!(prefixes(10), prefixes(11), "another image, another prefix");
    }

    #[test]
    fn refuses_conversations_bedrock_refuses() {
        let starts_with_assistant = json!({"messages": [
            {"role": "assistant", "content": [{"text": "hi"}]}
        ]});
        assert!(
            ConverseRequest::validate(&starts_with_assistant)
                .unwrap_err()
                .contains("must start with a user message")
        );
        let not_alternating = json!({"messages": [
            {"role": "user", "content": [{"text": "a"}]},
            {"role": "user", "content": [{"text": "b"}]}
        ]});
        assert!(
            ConverseRequest::validate(&not_alternating)
                .unwrap_err()
                .contains("alternate")
        );
        let blank = json!({"messages": [{"role": "user", "content": [{"text": " "}]}]});
        assert!(
            ConverseRequest::validate(&blank)
                .unwrap_err()
                .contains("blank")
        );
        let hot = json!({"messages": [{"role": "user", "content": [{"text": "a"}]}],
                         "inferenceConfig": {"temperature": 1.5}});
        assert!(
            ConverseRequest::validate(&hot)
                .unwrap_err()
                .contains("temperature")
        );
    }

    #[test]
    fn claude_models_from_opus_4_1_on_refuse_temperature_with_top_p() {
        for refusing in [
            "anthropic.claude-opus-4-1-20250805-v1:0",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "eu.anthropic.claude-opus-4-5-20251101-v1:0",
            "anthropic.claude-sonnet-4-6",
            "global.anthropic.claude-opus-4-6-v1",
            "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ] {
            assert!(refuses_temperature_with_top_p(refusing), "{refusing}");
        }
        for accepting in [
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "anthropic.claude-opus-4-20250514-v1:0",
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "amazon.nova-pro-v1:0",
            "meta.llama3-70b-instruct-v1:0",
        ] {
            assert!(!refuses_temperature_with_top_p(accepting), "{accepting}");
        }
        let both = json!({"inferenceConfig": {"temperature": 0.9, "topP": 0.8}});
        let one = json!({"inferenceConfig": {"temperature": 0.9, "maxTokens": 10}});
        assert!(sets_temperature_and_top_p(&both));
        assert!(!sets_temperature_and_top_p(&one));
        assert!(!sets_temperature_and_top_p(&json!({})));
    }

    #[test]
    fn directives_in_the_question_trigger_faults() {
        let reply = directives(Reply::echo(), "please [standin:throttle] now");
        assert_eq!(reply.fault, Some(Fault::Throttling));
        let reply = directives(Reply::echo(), "[standin:not-subscribed]");
        assert_eq!(reply.fault, Some(Fault::ModelNotSubscribed));
        let reply = directives(Reply::echo(), "[standin:stream-error]");
        assert!(matches!(reply.fault, Some(Fault::ModelStreamError { .. })));
        assert_eq!(directives(Reply::echo(), "plain").fault, None);
    }
}
