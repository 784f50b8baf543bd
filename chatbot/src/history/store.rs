//! The items of the history table and every DynamoDB call the app makes on it.
//!
//! Under one user's partition key (`pk` = `user#<sub>`), sort keys (`sk`):
//!
//! | item | `sk` | attributes |
//! |---|---|---|
//! | conversation | `c#<id>` | `title`, `createdAt`, `updatedAt` (ms), `turns` (count), `expiresAt` |
//! | turn (head) | `c#<id>#t#<index:06>` | `role`, `at` (ms), `text` (first part), `incomplete` (reason, while not whole), `follows` (only on an edited question: the index of the turn it follows, −1 for none), `attachments` (only on a question with files: a list of `{id, name, format, size}`, its files in the attachments bucket), `expiresAt` |
//! | turn (part n ≥ 1) | `c#<id>#t#<index:06>#<n:03>` | `text` (the next [`PART_BYTES`] of it), `expiresAt` |
//!
//! Only conversation items carry `updatedAt`, so only they are in the sparse
//! `byUpdated` index that lists a user's conversations newest first; a conversation
//! and its turns are one `begins_with(sk, "c#<id>")` range of the partition, read in
//! order. Every text is cut into parts of at most [`PART_BYTES`] bytes, so every item
//! stays far under DynamoDB's 400 KB.
//!
//! Turns are claimed through the conversation item: one transaction sets its `turns`
//! from the count it read to that count plus the turns added (condition: the count is
//! still the one read) and puts each new turn where none is (`attribute_not_exists`).
//! Two tabs claiming at once: one transaction fails, re-reads the count and claims
//! the next indexes. Neither turn is lost, and nothing is overwritten.
//!
//! Editing a question (or regenerating its answer) overwrites nothing either: the
//! new question is claimed at the end like any other and `follows` the turn the
//! edited one followed. The turns in between stay, as an older branch; readers follow
//! the newest branch, from the last turn back through what each turn follows
//! ([`Follows`]).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, Put, PutRequest, ReturnValue, TransactWriteItem, Update,
    WriteRequest,
};

use super::text;
use super::{History, HistoryError};
use crate::attachments::{Format, Stored};
use crate::conversation::{Role, Turn};
use crate::history_table::{BY_UPDATED_INDEX, EXPIRES_AT, PARTITION_KEY, SORT_KEY, UPDATED_AT};

/// Most bytes of text in one item: a turn's text is cut into parts this long.
pub const PART_BYTES: usize = 32 * 1024;

/// Most turns one conversation keeps (as many as one chat request may carry).
pub const MAX_STORED_TURNS: u32 = crate::conversation::MAX_TURNS as u32;

/// Items one search request reads at most (one Query).
pub const SEARCH_ITEMS_PER_REQUEST: i32 = 200;

/// Bytes of text one read of a conversation returns at most (its newest turns).
pub const MAX_READ_BYTES: usize = 16 * 1024 * 1024;

/// An answer still marked as streaming this long after it started was cut off by a
/// server that stopped without saying so (the longest answer is 15 minutes).
pub const STALE_STREAMING_MS: i64 = 16 * 60 * 1000;

/// Reason stored while an answer is being written.
pub const STREAMING: &str = "streaming";
/// Reason shown for an answer whose writer stopped without finishing it.
pub const INTERRUPTED: &str = "interrupted";

/// Claims retried when other tabs claim the same indexes meanwhile.
const CLAIM_ATTEMPTS: usize = 16;
/// Retries of the items a batch write left unprocessed (DynamoDB hands them back
/// instead of failing; the SDK does not resend them).
const UNPROCESSED_ATTEMPTS: u32 = 5;

const TITLE: &str = "title";
const CREATED_AT: &str = "createdAt";
const TURNS: &str = "turns";
const ROLE: &str = "role";
const AT: &str = "at";
const TEXT: &str = "text";
const INCOMPLETE: &str = "incomplete";
/// On a question that does not follow the turn just before it (an edited question):
/// the index of the turn it follows, or -1 when it starts the conversation over.
const FOLLOWS: &str = "follows";
/// On a conversation: the tokens its answers used (input, output, cache read, cache
/// written), and what they cost in millionths of `currency`, when priced.
const TOKENS: [&str; 4] = [
    "inputTokens",
    "outputTokens",
    "cacheReadTokens",
    "cacheWriteTokens",
];
const COST_MICROS: &str = "costMicros";
const CURRENCY: &str = "currency";
/// On an answer: the model that wrote it (with the answer's own tokens and cost).
const MODEL: &str = "model";
/// On a question: the files attached to it, `{id, name, format, size}` each.
const ATTACHMENTS: &str = "attachments";

type Item = HashMap<String, AttributeValue>;

/// A conversation, without its turns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Created, ms since the epoch.
    pub created_at: i64,
    /// Last question or answer (or creation), ms since the epoch.
    pub updated_at: i64,
    /// Turns claimed so far (the next turn's index).
    pub turns: u32,
    /// What its answers used and cost so far.
    pub spent: Spent,
}

/// Tokens answers used and, when the model is priced, what they cost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spent {
    /// Input, output, cache-read and cache-written tokens.
    pub tokens: [u64; 4],
    /// Millionths of `currency`, when priced.
    pub cost: Option<(u64, String)>,
}

/// One turn as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTurn {
    /// Who said it.
    pub role: Role,
    /// The whole text.
    pub text: String,
    /// When it was said (an answer: when it started), ms since the epoch.
    pub at: i64,
    /// Why it is not whole, when it is not.
    pub incomplete: Option<String>,
    /// Its index in the conversation (as read; a turn being written gets the index
    /// it is claimed at).
    pub index: u32,
    /// The turn it follows.
    pub follows: Follows,
    /// An answer: the model that wrote it, when recorded.
    pub model: Option<String>,
    /// An answer: the tokens it used and what it cost, when recorded at its end.
    pub spent: Spent,
    /// A question: the files attached to it.
    pub attachments: Vec<Stored>,
}

/// The turn a turn follows. A question asked again with other words (or the same,
/// to regenerate its answer) follows an earlier turn: the conversation goes on from
/// there, and the turns after that earlier one stay stored as an older branch.
/// Readers follow the newest branch: from the last turn back through what each
/// turn follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Follows {
    /// The turn just before it (index − 1), or nothing for turn 0.
    #[default]
    Previous,
    /// The turn at this index.
    Turn(u32),
    /// Nothing: it starts the conversation over.
    Start,
}

impl Follows {
    /// The index of the turn that `index` follows, if any.
    fn of(self, index: u32) -> Option<u32> {
        match self {
            Self::Previous => index.checked_sub(1),
            Self::Turn(turn) => Some(turn),
            Self::Start => None,
        }
    }

    /// A question asked in place of the question at `replaced`, in `path` (the turns
    /// of the newest branch, oldest first): it follows what that question followed.
    pub fn replacing(path: &[StoredTurn], replaced: u32) -> Option<Self> {
        let at = path
            .iter()
            .position(|t| t.index == replaced && t.role == Role::User)?;
        Some(match at.checked_sub(1) {
            Some(before) => Self::Turn(path[before].index),
            None => Self::Start,
        })
    }
}

/// A conversation found by a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The conversation.
    pub summary: Summary,
    /// Text around the first match.
    pub snippet: String,
}

/// The question saved and the answer's turn claimed, by [`History::begin`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// The conversation.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Index of the answer's turn (the question's is the one before).
    pub answer_index: u32,
    /// When the answer started, ms.
    pub at: i64,
}

/// Where a question's turns may be claimed in a stored conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Claim {
    /// At the count read, else at the next free indexes (other tabs claimed first).
    Next,
    /// At the count read only.
    Exactly,
}

/// The conversation a question goes into.
#[derive(Clone, Debug)]
pub enum Destination {
    /// One stored already, as read before the question.
    Existing(Summary),
    /// A new one: its id and title are chosen before it is written, so the browser
    /// can be told them while it is being saved.
    New {
        /// Its id, from [`text::new_id`].
        id: String,
        /// Its title, from [`text::title_from`] the first question.
        title: String,
    },
}

impl Destination {
    /// A new conversation that `question` starts.
    pub fn new_for(question: &str) -> Self {
        Self::New {
            id: text::new_id(now_ms()),
            title: text::title_from(question),
        }
    }

    /// The conversation's id.
    pub fn id(&self) -> &str {
        match self {
            Self::Existing(summary) => &summary.id,
            Self::New { id, .. } => id,
        }
    }

    /// The conversation's title.
    pub fn title(&self) -> &str {
        match self {
            Self::Existing(summary) => &summary.title,
            Self::New { title, .. } => title,
        }
    }
}

/// What bounds a read of turns, newest first.
#[derive(Clone, Copy, Debug)]
pub struct ReadLimits {
    /// Stop once more characters than this were read.
    pub chars: usize,
    /// Stop at this many turns.
    pub turns: usize,
    /// Stop once more bytes than this were read.
    pub bytes: usize,
}

impl ReadLimits {
    /// A whole conversation, up to [`MAX_READ_BYTES`].
    pub const ALL: Self = Self {
        chars: usize::MAX,
        turns: usize::MAX,
        bytes: MAX_READ_BYTES,
    };
}

impl ReadLimits {
    /// Whether a read that has `chars` characters and `bytes` bytes in `turns` turns
    /// stops here.
    fn reached(&self, chars: usize, bytes: usize, turns: usize) -> bool {
        chars > self.chars || bytes > self.bytes || turns >= self.turns
    }
}

/// Turns read newest first, returned oldest first.
#[derive(Clone, Debug, Default)]
pub struct Turns {
    /// The turns, oldest first.
    pub turns: Vec<StoredTurn>,
    /// Whether older turns were left unread (a limit was reached).
    pub truncated: bool,
    /// When the first of them expires (seconds since the epoch; `None`: never).
    pub expires: Option<i64>,
}

impl Turns {
    /// These turns as a read within `limits` returns them (see [`History::turns`]):
    /// newest first until a limit is reached, that turn included.
    pub fn newest_within(mut self, limits: ReadLimits) -> Self {
        let (mut chars, mut bytes) = (0, 0);
        let count = self.turns.len();
        for (read, turn) in self.turns.iter().rev().enumerate() {
            chars += turn.text.chars().count();
            bytes += turn.text.len();
            let oldest = read + 1 == count;
            if !oldest && limits.reached(chars, bytes, read + 1) {
                self.turns.drain(..count - read - 1);
                self.truncated = true;
                break;
            }
        }
        self
    }
}

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn partition(user: &str) -> String {
    format!("user#{user}")
}

fn meta_sk(id: &str) -> String {
    format!("c#{id}")
}

fn head_sk(id: &str, index: u32) -> String {
    format!("c#{id}#t#{index:06}")
}

fn part_sk(id: &str, index: u32, part: u32) -> String {
    format!("c#{id}#t#{index:06}#{part:03}")
}

/// What a sort key names.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Key<'a> {
    Meta(&'a str),
    Turn { id: &'a str, index: u32, part: u32 },
}

fn parse_sk(sk: &str) -> Option<Key<'_>> {
    let rest = sk.strip_prefix("c#")?;
    let id = rest.get(..text::ID_LEN)?;
    let rest = &rest[text::ID_LEN..];
    if rest.is_empty() {
        return Some(Key::Meta(id));
    }
    let rest = rest.strip_prefix("#t#")?;
    let (index, part) = match rest.split_once('#') {
        Some((index, part)) => (index, part.parse().ok()?),
        None => (rest, 0),
    };
    Some(Key::Turn {
        id,
        index: index.parse().ok()?,
        part,
    })
}

/// `text` cut into parts of at most [`PART_BYTES`], on character boundaries (one
/// empty part for an empty text).
pub fn split_parts(text: &str) -> Vec<&str> {
    let mut parts = Vec::with_capacity(text.len() / PART_BYTES + 1);
    let mut rest = text;
    loop {
        let cut = text::floor_boundary(rest, PART_BYTES);
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
        if rest.is_empty() {
            return parts;
        }
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// Whether `item` has not expired at `now_s` (DynamoDB deletes expired items only
/// within days, so readers skip them).
fn live(item: &Item, now_s: i64) -> bool {
    get_n(item, EXPIRES_AT).is_none_or(|at| at > now_s)
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

fn summary_of(item: &Item) -> Option<Summary> {
    let sk = get_s(item, SORT_KEY)?;
    let Some(Key::Meta(id)) = parse_sk(sk) else {
        return None;
    };
    Some(Summary {
        id: id.to_string(),
        title: get_s(item, TITLE).unwrap_or(text::UNTITLED).to_string(),
        created_at: get_n(item, CREATED_AT).unwrap_or_default(),
        updated_at: get_n(item, UPDATED_AT).unwrap_or_default(),
        turns: get_n(item, TURNS)
            .and_then(|t| u32::try_from(t).ok())
            .unwrap_or_default(),
        spent: spent_of(item),
    })
}

/// The tokens and cost an item records (a conversation's totals, an answer's own).
fn spent_of(item: &Item) -> Spent {
    Spent {
        tokens: TOKENS.map(|name| {
            get_n(item, name)
                .and_then(|t| u64::try_from(t).ok())
                .unwrap_or_default()
        }),
        cost: get_n(item, COST_MICROS)
            .and_then(|c| u64::try_from(c).ok())
            .zip(get_s(item, CURRENCY).map(str::to_string)),
    }
}

/// A question's files as an attribute: a list of `{id, name, format, size}`.
fn attachments_value(files: &[Stored]) -> AttributeValue {
    AttributeValue::L(
        files
            .iter()
            .map(|file| {
                AttributeValue::M(HashMap::from([
                    ("id".to_string(), s(file.id.as_str())),
                    ("name".to_string(), s(file.name.as_str())),
                    ("format".to_string(), s(file.format.as_str())),
                    ("size".to_string(), n(file.size)),
                ]))
            })
            .collect(),
    )
}

/// The files an item's `attachments` lists (none when it lists none; an entry
/// without an id or a known format is skipped).
fn attachments_of_item(item: &Item) -> Vec<Stored> {
    let Some(Ok(listed)) = item.get(ATTACHMENTS).map(AttributeValue::as_l) else {
        return Vec::new();
    };
    listed
        .iter()
        .filter_map(|entry| {
            let entry = entry.as_m().ok()?;
            Some(Stored {
                id: get_s(entry, "id")?.to_string(),
                name: get_s(entry, "name").unwrap_or("file").to_string(),
                format: Format::parse(get_s(entry, "format")?)?,
                size: get_n(entry, "size")
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The code of a service error (`ConditionalCheckFailedException`, …).
fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(e) => e.err().code(),
        _ => None,
    }
}

fn unavailable<E, R>(error: SdkError<E, R>) -> HistoryError
where
    E: std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    HistoryError::Unavailable(Box::new(error))
}

/// The cursor of a list page: where the index query goes on from, without the
/// partition key (always the caller's).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ListCursor {
    /// Sort key of the last conversation listed.
    s: String,
    /// Its `updatedAt`.
    u: i64,
}

impl History {
    pub(super) fn expires_at(&self, now_ms: i64) -> Option<i64> {
        (self.retention_days > 0).then(|| now_ms / 1000 + i64::from(self.retention_days) * 86_400)
    }

    /// An item with its keys and expiry.
    fn item(&self, pk: &str, sk: String, now_ms: i64) -> Item {
        let mut item = Item::with_capacity(8);
        item.insert(PARTITION_KEY.into(), s(pk));
        item.insert(SORT_KEY.into(), s(sk));
        if let Some(at) = self.expires_at(now_ms) {
            item.insert(EXPIRES_AT.into(), n(at));
        }
        item
    }

    fn key(pk: &str, sk: String) -> Item {
        Item::from([(PARTITION_KEY.into(), s(pk)), (SORT_KEY.into(), s(sk))])
    }

    /// The items of one turn: its head, then its parts.
    fn turn_items(&self, pk: &str, id: &str, index: u32, turn: &StoredTurn, now: i64) -> Vec<Item> {
        let parts = split_parts(&turn.text);
        let mut items = Vec::with_capacity(parts.len());
        for (k, part) in parts.iter().enumerate() {
            let k = u32::try_from(k).unwrap_or(u32::MAX);
            let mut item = if k == 0 {
                let mut head = self.item(pk, head_sk(id, index), now);
                head.insert(ROLE.into(), s(role_name(turn.role)));
                head.insert(AT.into(), n(turn.at));
                if let Some(reason) = &turn.incomplete {
                    head.insert(INCOMPLETE.into(), s(reason.as_str()));
                }
                if !turn.attachments.is_empty() {
                    head.insert(ATTACHMENTS.into(), attachments_value(&turn.attachments));
                }
                match turn.follows {
                    // An explicit follow that says "the one before" is left out.
                    Follows::Turn(follows) if follows + 1 != index => {
                        head.insert(FOLLOWS.into(), n(follows));
                    }
                    Follows::Start if index > 0 => {
                        head.insert(FOLLOWS.into(), n(-1));
                    }
                    _ => {}
                }
                head
            } else {
                self.item(pk, part_sk(id, index, k), now)
            };
            item.insert(TEXT.into(), s(*part));
            items.push(item);
        }
        items
    }

    fn put_new(&self, item: Item) -> Result<TransactWriteItem, HistoryError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#sk)")
            .expression_attribute_names("#sk", SORT_KEY)
            .build()
            .map_err(|e| HistoryError::Unavailable(Box::new(e)))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The conversation `id` of `user`, if it is there and has not expired.
    pub async fn summary(&self, user: &str, id: &str) -> Result<Summary, HistoryError> {
        if !text::is_id(id) {
            return Err(HistoryError::NotFound);
        }
        let pk = partition(user);
        let output = self
            .client()
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk, meta_sk(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output
            .item()
            .filter(|item| live(item, now_ms() / 1000))
            .and_then(summary_of)
            .ok_or(HistoryError::NotFound)
    }

    /// A page of `user`'s conversations, newest first, and the cursor of the next.
    pub async fn list(
        &self,
        user: &str,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<(Vec<Summary>, Option<String>), HistoryError> {
        let pk = partition(user);
        let start = match cursor {
            None => None,
            Some(cursor) => {
                let parsed: ListCursor = text::decode_cursor(cursor)
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                    .filter(|c: &ListCursor| matches!(parse_sk(&c.s), Some(Key::Meta(_))))
                    .ok_or(HistoryError::BadCursor)?;
                // The partition key is the caller's, whatever the cursor came from.
                let mut key = Self::key(&pk, parsed.s);
                key.insert(UPDATED_AT.into(), n(parsed.u));
                Some(key)
            }
        };
        let output = self
            .client()
            .query()
            .table_name(&self.table)
            .index_name(BY_UPDATED_INDEX)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_values(":pk", s(&pk))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable)?;
        let now_s = now_ms() / 1000;
        let summaries = output
            .items()
            .iter()
            .filter(|item| live(item, now_s))
            .filter_map(summary_of)
            .collect();
        let next = output.last_evaluated_key().and_then(|key| {
            let cursor = ListCursor {
                s: get_s(key, SORT_KEY)?.to_string(),
                u: get_n(key, UPDATED_AT)?,
            };
            serde_json::to_vec(&cursor)
                .ok()
                .map(|bytes| text::encode_cursor(&bytes))
        });
        Ok((summaries, next))
    }

    /// Turns of `user`'s conversation `id`, newest first until `limits`, returned
    /// oldest first. Does not check that the conversation item is there.
    pub async fn turns(
        &self,
        user: &str,
        id: &str,
        limits: ReadLimits,
    ) -> Result<Turns, HistoryError> {
        let pk = partition(user);
        let prefix = format!("{}#t#", meta_sk(id));
        let now = now_ms();
        let now_s = now / 1000;
        let mut newest_first: Vec<StoredTurn> = Vec::new();
        // Parts of the turn being read (they come before its head), last part first.
        let mut pending: Option<(u32, Vec<String>)> = None;
        // The newest branch: the highest index the next turn of it may have (the one
        // the last turn read follows; lower when that one is gone).
        let mut next = u32::MAX;
        let (mut chars, mut bytes) = (0usize, 0usize);
        let mut expires = None;
        let mut start = None;
        'pages: loop {
            let output = self
                .query_sk(&pk, "begins_with(#sk, :value)", &prefix)
                .scan_index_forward(false)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in output.items() {
                let Some(Key::Turn { index, part, .. }) = get_s(item, SORT_KEY).and_then(parse_sk)
                else {
                    continue;
                };
                if !live(item, now_s) || index > next {
                    // Expired, or a turn of an older branch.
                    continue;
                }
                if let Some(at) = get_n(item, EXPIRES_AT) {
                    expires = Some(expires.map_or(at, |e: i64| e.min(at)));
                }
                let text = get_s(item, TEXT).unwrap_or_default();
                if pending.as_ref().is_some_and(|(i, _)| *i != index) {
                    // Parts without a head (expired, or being written): not a turn.
                    pending = None;
                }
                if part > 0 {
                    pending
                        .get_or_insert_with(|| (index, Vec::new()))
                        .1
                        .push(text.to_string());
                    continue;
                }
                let mut whole = text.to_string();
                if let Some((_, parts)) = pending.take() {
                    for part in parts.iter().rev() {
                        whole.push_str(part);
                    }
                }
                let at = get_n(item, AT).unwrap_or_default();
                let incomplete = get_s(item, INCOMPLETE).map(|reason| {
                    if reason == STREAMING && at + STALE_STREAMING_MS < now {
                        INTERRUPTED.to_string()
                    } else {
                        reason.to_string()
                    }
                });
                let role = match get_s(item, ROLE) {
                    Some("assistant") => Role::Assistant,
                    _ => Role::User,
                };
                let follows = match get_n(item, FOLLOWS) {
                    None => Follows::Previous,
                    Some(-1) => Follows::Start,
                    Some(turn) => u32::try_from(turn).map_or(Follows::Previous, Follows::Turn),
                };
                chars += whole.chars().count();
                bytes += whole.len();
                newest_first.push(StoredTurn {
                    role,
                    text: whole,
                    at,
                    incomplete,
                    index,
                    follows,
                    model: get_s(item, MODEL).map(str::to_string),
                    spent: spent_of(item),
                    attachments: attachments_of_item(item),
                });
                let Some(before) = follows.of(index) else {
                    // The branch's first turn.
                    break 'pages;
                };
                next = before;
                if limits.reached(chars, bytes, newest_first.len()) {
                    newest_first.reverse();
                    return Ok(Turns {
                        turns: newest_first,
                        truncated: true,
                        expires,
                    });
                }
            }
            start = output.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        newest_first.reverse();
        Ok(Turns {
            turns: newest_first,
            truncated: false,
            expires,
        })
    }

    /// `user`'s conversation `id` and its turns (the newest [`MAX_READ_BYTES`]).
    pub async fn conversation(
        &self,
        user: &str,
        id: &str,
    ) -> Result<(Summary, Turns), HistoryError> {
        let (summary, turns) = tokio::join!(
            self.summary(user, id),
            self.turns(user, id, ReadLimits::ALL)
        );
        Ok((summary?, turns?))
    }

    /// Saves `question` in `user`'s conversation `into` and claims the turn after it
    /// for the answer, marked as streaming: one transaction, retried at the next
    /// indexes while other tabs claim the same. A new conversation is created by the
    /// same transaction, under the id chosen beforehand. `follows`: the turn the
    /// question follows (an edited question: an earlier one; see [`Follows`]).
    /// `files`: the files attached to the question (its item lists them).
    pub async fn begin(
        &self,
        user: &str,
        into: &Destination,
        question: &str,
        files: &[Stored],
        follows: Follows,
    ) -> Result<Exchange, HistoryError> {
        self.claim_exchange(user, into, question, files, follows, Claim::Next)
            .await
    }

    /// Saves `question` in `user`'s conversation `known` as [`History::begin`] does,
    /// but only where `known.turns` says the conversation ends: when anything was
    /// claimed since (in another tab, device or task), or the conversation is gone,
    /// [`HistoryError::Moved`] and nothing is written. For a question answered from a
    /// remembered context ([`super::recent`]): the claim is the check that it is
    /// still the conversation's.
    pub async fn begin_exactly(
        &self,
        user: &str,
        known: &Summary,
        question: &str,
        files: &[Stored],
    ) -> Result<Exchange, HistoryError> {
        let into = Destination::Existing(known.clone());
        let claim = Claim::Exactly;
        self.claim_exchange(user, &into, question, files, Follows::Previous, claim)
            .await
    }

    async fn claim_exchange(
        &self,
        user: &str,
        into: &Destination,
        question: &str,
        files: &[Stored],
        follows: Follows,
        claim: Claim,
    ) -> Result<Exchange, HistoryError> {
        let pk = partition(user);
        let mut expected = match into {
            Destination::Existing(summary) => summary.turns,
            Destination::New { .. } => 0,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let now = now_ms();
            let question_turn = StoredTurn {
                role: Role::User,
                text: question.to_string(),
                at: now,
                incomplete: None,
                index: expected,
                follows,
                model: None,
                spent: Spent::default(),
                attachments: files.to_vec(),
            };
            let answer_turn = StoredTurn {
                role: Role::Assistant,
                text: String::new(),
                at: now,
                incomplete: Some(STREAMING.into()),
                index: expected + 1,
                follows: Follows::Previous,
                model: None,
                spent: Spent::default(),
                attachments: Vec::new(),
            };
            let first = expected;
            let mut writes = Vec::new();
            match into {
                Destination::Existing(summary) => {
                    if first + 2 > MAX_STORED_TURNS {
                        return Err(HistoryError::Full);
                    }
                    writes.push(self.claim(&pk, &summary.id, first, 2, now)?);
                }
                Destination::New { id, title } => {
                    let mut meta = self.item(&pk, meta_sk(id), now);
                    meta.insert(TITLE.into(), s(title));
                    meta.insert(CREATED_AT.into(), n(now));
                    meta.insert(UPDATED_AT.into(), n(now));
                    meta.insert(TURNS.into(), n(2));
                    writes.push(self.put_new(meta)?);
                }
            }
            for item in self
                .turn_items(&pk, into.id(), first, &question_turn, now)
                .into_iter()
                .chain(self.turn_items(&pk, into.id(), first + 1, &answer_turn, now))
            {
                writes.push(self.put_new(item)?);
            }
            let sent = self
                .client()
                .transact_write_items()
                .set_transact_items(Some(writes))
                .send()
                .await;
            match (sent, into) {
                (Ok(_), _) => {
                    return Ok(Exchange {
                        id: into.id().to_string(),
                        title: into.title().to_string(),
                        answer_index: first + 1,
                        at: now,
                    });
                }
                (Err(e), Destination::Existing(_))
                    if claim == Claim::Exactly
                        && code(&e) == Some("TransactionCanceledException") =>
                {
                    tracing::debug!(error = %e, "the remembered conversation moved on");
                    return Err(HistoryError::Moved);
                }
                (Err(e), Destination::Existing(summary))
                    if code(&e) == Some("TransactionCanceledException")
                        && attempt < CLAIM_ATTEMPTS =>
                {
                    // Another tab claimed these indexes, or the conversation is gone:
                    // read it again.
                    expected = self.summary(user, &summary.id).await?.turns;
                }
                // A new conversation's id taken: it was chosen at random, so this is
                // not another tab's doing; nothing is overwritten.
                (Err(e), _) => return Err(unavailable(e)),
            }
        }
    }

    /// The conversation item's update that claims `count` turns from `first`.
    fn claim(
        &self,
        pk: &str,
        id: &str,
        first: u32,
        count: u32,
        now: i64,
    ) -> Result<TransactWriteItem, HistoryError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, meta_sk(id))))
            .condition_expression("attribute_exists(#sk) AND #turns = :expected")
            .expression_attribute_names("#sk", SORT_KEY)
            .expression_attribute_names("#turns", TURNS)
            .expression_attribute_names("#updated", UPDATED_AT)
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_values(":expected", n(first))
            .expression_attribute_values(":turns", n(first + count))
            .expression_attribute_values(":now", n(now));
        update = match self.expires_at(now) {
            Some(at) => update
                .update_expression("SET #turns = :turns, #updated = :now, #expires = :expires")
                .expression_attribute_values(":expires", n(at)),
            None => {
                update.update_expression("SET #turns = :turns, #updated = :now REMOVE #expires")
            }
        };
        let update = update
            .build()
            .map_err(|e| HistoryError::Unavailable(Box::new(e)))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Writes the answer's head (its first part, and why it is not whole yet or
    /// not at all), only where the turn still is: [`HistoryError::NotFound`] when
    /// the conversation was deleted meanwhile.
    /// `ended`: at the answer's end, the model that wrote it and what it spent.
    pub async fn save_answer(
        &self,
        user: &str,
        exchange: &Exchange,
        first_part: &str,
        incomplete: Option<&str>,
        ended: Option<(&str, &Spent)>,
    ) -> Result<(), HistoryError> {
        let pk = partition(user);
        let now = now_ms();
        let mut item = self.item(&pk, head_sk(&exchange.id, exchange.answer_index), now);
        item.insert(ROLE.into(), s("assistant"));
        item.insert(AT.into(), n(exchange.at));
        item.insert(TEXT.into(), s(first_part));
        if let Some((model, spent)) = ended {
            item.insert(MODEL.into(), s(model));
            for (name, count) in TOKENS.iter().zip(spent.tokens) {
                item.insert((*name).into(), n(count));
            }
            if let Some((micros, currency)) = &spent.cost {
                item.insert(COST_MICROS.into(), n(micros));
                item.insert(CURRENCY.into(), s(currency.as_str()));
            }
        }
        if let Some(reason) = incomplete {
            item.insert(INCOMPLETE.into(), s(reason));
        }
        let sent = self
            .client()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_exists(#sk)")
            .expression_attribute_names("#sk", SORT_KEY)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("ConditionalCheckFailedException") => {
                Err(HistoryError::NotFound)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Writes part `part` (≥ 1) of the answer.
    pub async fn save_answer_part(
        &self,
        user: &str,
        exchange: &Exchange,
        part: u32,
        text: &str,
    ) -> Result<(), HistoryError> {
        let pk = partition(user);
        let mut item = self.item(
            &pk,
            part_sk(&exchange.id, exchange.answer_index, part),
            now_ms(),
        );
        item.insert(TEXT.into(), s(text));
        self.client()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Deletes parts 1 to `parts` of the answer (written after its conversation was
    /// deleted).
    pub async fn delete_answer_parts(
        &self,
        user: &str,
        exchange: &Exchange,
        parts: u32,
    ) -> Result<(), HistoryError> {
        let pk = partition(user);
        let keys = (1..=parts)
            .map(|part| part_sk(&exchange.id, exchange.answer_index, part))
            .collect();
        self.delete_keys(&pk, keys).await
    }

    /// Marks the conversation as changed now (an answer ended), adding what the
    /// answer `spent` to its totals.
    pub async fn touch(&self, user: &str, id: &str, spent: &Spent) -> Result<(), HistoryError> {
        let pk = partition(user);
        let now = now_ms();
        let mut update = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk, meta_sk(id))))
            .condition_expression("attribute_exists(#sk)")
            .expression_attribute_names("#sk", SORT_KEY)
            .expression_attribute_names("#updated", UPDATED_AT)
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_values(":now", n(now));
        let mut set = vec!["#updated = :now"];
        let mut add = Vec::new();
        let mut remove = "";
        match self.expires_at(now) {
            Some(at) => {
                set.push("#expires = :expires");
                update = update.expression_attribute_values(":expires", n(at));
            }
            None => remove = " REMOVE #expires",
        }
        for (i, (name, count)) in TOKENS.iter().zip(spent.tokens).enumerate() {
            if count > 0 {
                add.push(format!("#t{i} :t{i}"));
                update = update
                    .expression_attribute_names(format!("#t{i}"), *name)
                    .expression_attribute_values(format!(":t{i}"), n(count));
            }
        }
        if let Some((micros, currency)) = &spent.cost {
            add.push("#cost :cost".into());
            set.push("#currency = :currency");
            update = update
                .expression_attribute_names("#cost", COST_MICROS)
                .expression_attribute_names("#currency", CURRENCY)
                .expression_attribute_values(":cost", n(micros))
                .expression_attribute_values(":currency", s(currency.as_str()));
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !add.is_empty() {
            expression.push_str(&format!(" ADD {}", add.join(", ")));
        }
        expression.push_str(remove);
        let update = update.update_expression(expression);
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("ConditionalCheckFailedException") => {
                Err(HistoryError::NotFound)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Renames `user`'s conversation `id`.
    pub async fn rename(&self, user: &str, id: &str, title: &str) -> Result<Summary, HistoryError> {
        if !text::is_id(id) {
            return Err(HistoryError::NotFound);
        }
        let pk = partition(user);
        let now = now_ms();
        let update = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk, meta_sk(id))))
            .condition_expression(
                "attribute_exists(#sk) AND (attribute_not_exists(#expires) OR #expires > :now_s)",
            )
            .expression_attribute_names("#sk", SORT_KEY)
            .expression_attribute_names("#title", TITLE)
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_values(":title", s(title))
            .expression_attribute_values(":now_s", n(now / 1000))
            .return_values(ReturnValue::AllNew);
        let update = match self.expires_at(now) {
            Some(at) => update
                .update_expression("SET #title = :title, #expires = :expires")
                .expression_attribute_values(":expires", n(at)),
            None => update.update_expression("SET #title = :title REMOVE #expires"),
        };
        match update.send().await {
            Ok(output) => output
                .attributes()
                .and_then(summary_of)
                .ok_or(HistoryError::NotFound),
            Err(e) if code(&e) == Some("ConditionalCheckFailedException") => {
                Err(HistoryError::NotFound)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Every item of the conversation `id` in partition `pk` (every branch's), with
    /// its sort key and, when `with_attachments`, its files.
    async fn items_of(
        &self,
        pk: &str,
        id: &str,
        with_attachments: bool,
    ) -> Result<Vec<Item>, HistoryError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .query_sk(pk, "begins_with(#sk, :value)", meta_sk(id))
                .consistent_read(true)
                .set_exclusive_start_key(start);
            query = if with_attachments {
                query
                    .projection_expression("#sk, #attachments")
                    .expression_attribute_names("#attachments", ATTACHMENTS)
            } else {
                query.projection_expression("#sk")
            };
            let output = query.send().await.map_err(unavailable)?;
            items.extend(output.items().iter().cloned());
            start = output.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// The ids of the files attached to `user`'s conversation `id`, in every branch
    /// (for deleting them with it).
    pub async fn attachments_of(&self, user: &str, id: &str) -> Result<Vec<String>, HistoryError> {
        if !text::is_id(id) {
            return Err(HistoryError::NotFound);
        }
        let items = self.items_of(&partition(user), id, true).await?;
        Ok(items
            .iter()
            .flat_map(attachments_of_item)
            .map(|file| file.id)
            .collect())
    }

    /// Deletes `user`'s conversation `id` and every item of it: the conversation item
    /// first (so no tab can claim a turn in it any more), then its turns.
    pub async fn delete(&self, user: &str, id: &str) -> Result<(), HistoryError> {
        if !text::is_id(id) {
            return Err(HistoryError::NotFound);
        }
        self.recent.forget(user, id);
        let pk = partition(user);
        let mut keys: Vec<String> = self
            .items_of(&pk, id, false)
            .await?
            .iter()
            .filter_map(|item| get_s(item, SORT_KEY))
            .filter(|sk| parse_sk(sk).is_some())
            .map(str::to_string)
            .collect();
        if keys.is_empty() {
            return Err(HistoryError::NotFound);
        }
        let meta = meta_sk(id);
        keys.retain(|sk| *sk != meta);
        self.client()
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk, meta)))
            .send()
            .await
            .map_err(unavailable)?;
        self.delete_keys(&pk, keys).await
    }

    async fn delete_keys(&self, pk: &str, keys: Vec<String>) -> Result<(), HistoryError> {
        let requests = keys
            .into_iter()
            .map(|sk| {
                DeleteRequest::builder()
                    .set_key(Some(Self::key(pk, sk)))
                    .build()
                    .map(|delete| WriteRequest::builder().delete_request(delete).build())
                    .map_err(|e| HistoryError::Unavailable(Box::new(e)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_write(requests).await
    }

    /// Writes `requests`, 25 per call (DynamoDB's limit), resending what DynamoDB
    /// leaves unprocessed.
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), HistoryError> {
        let mut requests = requests;
        while !requests.is_empty() {
            let rest = requests.split_off(requests.len().min(25));
            let mut batch = std::mem::replace(&mut requests, rest);
            let mut attempt = 0;
            while !batch.is_empty() {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
                attempt += 1;
                let output = self
                    .client()
                    .batch_write_item()
                    .request_items(&self.table, batch)
                    .send()
                    .await
                    .map_err(unavailable)?;
                batch = output
                    .unprocessed_items()
                    .and_then(|items| items.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
                if !batch.is_empty() && attempt >= UNPROCESSED_ATTEMPTS {
                    return Err(HistoryError::Unavailable(
                        "DynamoDB left items of a batch write unprocessed".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Stores a conversation brought from elsewhere (the browser's old storage):
    /// its turns first, then its conversation item, so a half-imported conversation
    /// is never listed; on failure what was written is deleted again.
    pub async fn import(
        &self,
        user: &str,
        title: &str,
        turns: &[Turn],
        updated_at: i64,
    ) -> Result<String, HistoryError> {
        let pk = partition(user);
        let now = now_ms();
        let id = text::new_id(updated_at);
        let mut items = Vec::new();
        for (index, turn) in turns.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let stored = StoredTurn {
                role: turn.role,
                text: turn.text.clone(),
                at: updated_at,
                incomplete: None,
                index,
                follows: Follows::Previous,
                model: None,
                spent: Spent::default(),
                attachments: Vec::new(),
            };
            items.extend(self.turn_items(&pk, &id, index, &stored, now));
        }
        let keys: Vec<String> = items
            .iter()
            .filter_map(|item| get_s(item, SORT_KEY).map(str::to_string))
            .collect();
        let requests = items
            .into_iter()
            .map(|item| {
                PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map(|put| WriteRequest::builder().put_request(put).build())
                    .map_err(|e| HistoryError::Unavailable(Box::new(e)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut meta = self.item(&pk, meta_sk(&id), now);
        meta.insert(TITLE.into(), s(title));
        meta.insert(CREATED_AT.into(), n(updated_at));
        meta.insert(UPDATED_AT.into(), n(updated_at));
        meta.insert(TURNS.into(), n(turns.len()));
        let written = async {
            self.batch_write(requests).await?;
            self.client()
                .put_item()
                .table_name(&self.table)
                .set_item(Some(meta))
                .condition_expression("attribute_not_exists(#sk)")
                .expression_attribute_names("#sk", SORT_KEY)
                .send()
                .await
                .map_err(unavailable)?;
            Ok::<(), HistoryError>(())
        }
        .await;
        match written {
            Ok(()) => Ok(id),
            Err(e) => {
                if let Err(cleanup) = self.delete_keys(&pk, keys).await {
                    tracing::warn!(error = %cleanup, "cannot delete the items of a failed import");
                }
                Err(e)
            }
        }
    }

    /// One bounded step of a search of `user`'s conversations for `needle`
    /// (lowercase): reads at most [`SEARCH_ITEMS_PER_REQUEST`] items, newest
    /// conversations first, from `cursor` on. Returns the conversations whose title
    /// or text contains it, and the cursor to go on from (`None` at the end).
    pub async fn search(
        &self,
        user: &str,
        needle: &str,
        cursor: Option<&str>,
    ) -> Result<(Vec<Hit>, Option<String>), HistoryError> {
        let pk = partition(user);
        let before = match cursor {
            None => "c$".to_string(),
            Some(cursor) => text::decode_cursor(cursor)
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .filter(|sk| parse_sk(sk).is_some())
                .ok_or(HistoryError::BadCursor)?,
        };
        let output = self
            .query_sk(&pk, "#sk < :value", &before)
            .scan_index_forward(false)
            .limit(SEARCH_ITEMS_PER_REQUEST)
            .send()
            .await
            .map_err(unavailable)?;
        let now_s = now_ms() / 1000;
        let mut found: Vec<(String, String)> = Vec::new();
        let mut matched: HashSet<String> = HashSet::new();
        let mut summaries: HashMap<String, Summary> = HashMap::new();
        let mut last: Option<(String, bool)> = None;
        for item in output.items() {
            let Some(key) = get_s(item, SORT_KEY).and_then(parse_sk) else {
                continue;
            };
            let id = match key {
                Key::Meta(id) | Key::Turn { id, .. } => id,
            };
            let live = live(item, now_s);
            if let Key::Meta(_) = key
                && live
                && let Some(summary) = summary_of(item)
            {
                summaries.insert(id.to_string(), summary);
            }
            let already = matched.contains(id);
            if live && !already {
                let haystack = match key {
                    Key::Meta(_) => get_s(item, TITLE),
                    Key::Turn { .. } => get_s(item, TEXT),
                };
                if let Some(snippet) = haystack.and_then(|h| text::find(h, needle)) {
                    matched.insert(id.to_string());
                    found.push((id.to_string(), snippet));
                }
            }
            last = Some((id.to_string(), matched.contains(id)));
        }
        let mut hits = Vec::with_capacity(found.len());
        for (id, snippet) in found {
            let summary = match summaries.remove(&id) {
                Some(summary) => Some(summary),
                None => match self.summary(user, &id).await {
                    Ok(summary) => Some(summary),
                    Err(HistoryError::NotFound) => None,
                    Err(e) => return Err(e),
                },
            };
            if let Some(summary) = summary {
                hits.push(Hit { summary, snippet });
            }
        }
        let next = output.last_evaluated_key().and_then(|key| {
            let sk = get_s(key, SORT_KEY)?;
            // A conversation already found: skip the rest of its items.
            let resume = match &last {
                Some((id, true)) => meta_sk(id),
                _ => sk.to_string(),
            };
            Some(text::encode_cursor(resume.as_bytes()))
        });
        Ok((hits, next))
    }

    /// The table (tests read it).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// A query of partition `pk`'s items whose sort key (`#sk`) meets `condition`
    /// against `:value`: the shape of every read of a user's items by sort key.
    fn query_sk(&self, pk: &str, condition: &str, value: impl Into<String>) -> QueryFluentBuilder {
        self.client()
            .query()
            .table_name(&self.table)
            .key_condition_expression(format!("#pk = :pk AND {condition}"))
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#sk", SORT_KEY)
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":value", s(value))
    }

    /// The DynamoDB client, made at its first use.
    pub fn client(&self) -> &Client {
        self.client.get_or_init(|| match &self.sdk {
            Some(sdk) => Client::from_conf(Self::dynamodb_config(sdk)),
            // `History::new` sets the client.
            None => unreachable!("a history without a client or an SDK configuration"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_name_what_they_hold() {
        let id = "0123456789abcdef";
        assert_eq!(parse_sk(&meta_sk(id)), Some(Key::Meta(id)));
        assert_eq!(
            parse_sk(&head_sk(id, 7)),
            Some(Key::Turn {
                id,
                index: 7,
                part: 0
            })
        );
        assert_eq!(
            parse_sk(&part_sk(id, 7, 3)),
            Some(Key::Turn {
                id,
                index: 7,
                part: 3
            })
        );
        assert_eq!(parse_sk("c#short"), None);
        assert_eq!(parse_sk("x#0123456789abcdef"), None);
        // A conversation, then its turns in order, then the next conversation.
        let mut keys = vec![
            part_sk(id, 10, 1),
            head_sk(id, 9),
            meta_sk("0123456789abcdeg"),
            head_sk(id, 10),
            part_sk(id, 9, 2),
            meta_sk(id),
            part_sk(id, 9, 1),
        ];
        keys.sort();
        assert_eq!(
            keys,
            vec![
                meta_sk(id),
                head_sk(id, 9),
                part_sk(id, 9, 1),
                part_sk(id, 9, 2),
                head_sk(id, 10),
                part_sk(id, 10, 1),
                meta_sk("0123456789abcdeg"),
            ]
        );
    }

    #[test]
    fn texts_split_on_character_boundaries() {
        assert_eq!(split_parts(""), vec![""]);
        let text = "é".repeat(PART_BYTES);
        let parts = split_parts(&text);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.len() <= PART_BYTES));
        assert_eq!(parts.concat(), text);
    }
}
