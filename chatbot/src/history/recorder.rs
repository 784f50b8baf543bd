//! Saving an answer as it streams: a task of its own per answer, fed the text as it
//! comes, so DynamoDB's latency never holds a token back.
//!
//! It writes at most every [`FLUSH_EVERY`], or when [`FLUSH_BYTES`] are waiting, and
//! at the end: never once per token. The turn's first [`PART_BYTES`](super::store::PART_BYTES)
//! are rewritten in its head item until they are full; each further part is written
//! to an item of its own. While it streams, the head says `incomplete: streaming`;
//! the last write says how it ended. A write that fails (after the SDK's retries) is
//! tried again at the next flush (each write is the whole part, so writing it again
//! is harmless); the browser is told saving stopped, and told again when it resumes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::store::{Exchange, Follows, PART_BYTES, ReadLimits, Spent, StoredTurn, Summary, Turns};
use super::{History, HistoryError, Known, text};
use crate::conversation::Role;

/// Longest time text waits before it is saved.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);

/// Text waiting that is saved without waiting for [`FLUSH_EVERY`].
pub const FLUSH_BYTES: usize = 8 * 1024;

/// Longest time the end of an answer waits for its last save before the browser gets
/// the last event anyway (the save goes on).
pub const FINAL_SAVE_WAIT: Duration = Duration::from_secs(5);

/// Longest time the end of an answer waits for its question to be saved: until then
/// the conversation may not exist, and a next question asked at once would not find
/// it. The save itself gives up sooner (the SDK's operation timeout, a few claims).
pub const QUESTION_SAVE_WAIT: Duration = Duration::from_secs(60);

/// Reason saved for an answer whose browser went away.
pub const DISCONNECTED: &str = "disconnected";

const SAVING: u8 = 0;
const FAILING: u8 = 1;
const DELETED: u8 = 2;
/// The question could not be saved: nothing of this exchange is.
const UNSAVED: u8 = 3;
/// The question of a new conversation could not be saved: the conversation does not
/// exist on the server.
const NOT_CREATED: u8 = 4;
/// The question was not claimed because the conversation moved on since it was
/// remembered: the answer starts over (nothing to tell the browser about saving).
const SUPERSEDED: u8 = 5;

/// What to remember of an exchange once its answer is saved whole, so a next question
/// in the conversation is answered without reading it ([`super::recent`]).
#[derive(Debug)]
pub struct Remember {
    /// The conversation before the question: the turns its context was made of.
    pub before: Turns,
    /// The conversation's count of turns `before` was read (or remembered) at: the
    /// index the question is claimed at unless another tab claimed first, in which
    /// case `before` lacks that tab's turns and nothing is remembered.
    pub base: u32,
    /// The question.
    pub question: String,
    /// The files attached to it.
    pub attachments: Vec<crate::attachments::Stored>,
    /// The turn the question follows.
    pub follows: Follows,
    /// The limits a read of the conversation's context has.
    pub limits: ReadLimits,
}

enum Note {
    Text(String),
    End(Option<String>, Spent),
}

/// The streaming side's handle on an answer being saved. Dropping it without
/// [`AnswerLog::finish`] saves the answer as cut off by a browser that went away.
#[derive(Debug)]
pub struct AnswerLog {
    notes: mpsc::UnboundedSender<Note>,
    status: Arc<AtomicU8>,
    reported: u8,
    /// Fires once the question is saved, or could not be.
    begun: Option<oneshot::Receiver<()>>,
    saved: Option<oneshot::Receiver<()>>,
    ended: bool,
}

impl std::fmt::Debug for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(t) => write!(f, "Text({} bytes)", t.len()),
            Self::End(reason, spent) => write!(f, "End({reason:?}, {spent:?})"),
        }
    }
}

impl AnswerLog {
    /// Starts saving the answer of the exchange that `begun` saves (the question, and
    /// the answer's turn claimed): the answer's text is kept from the start and
    /// written once `begun` is done, so the answer never waits for it. If `begun`
    /// fails, nothing of the answer is saved and [`AnswerLog::status_change`] says so
    /// (`new`: the conversation was to be created by it, so it does not exist).
    /// `model`: the model answering, saved with the answer at its end. `remember`:
    /// what to remember of the exchange once it is saved whole (`None`: nothing).
    pub fn start(
        history: Arc<History>,
        user: String,
        begun: impl Future<Output = Result<Exchange, HistoryError>> + Send + 'static,
        new: bool,
        model: String,
        remember: Option<Remember>,
    ) -> Self {
        let (notes, receiver) = mpsc::unbounded_channel();
        let (saved_tx, saved) = oneshot::channel();
        let (begun_tx, begun_rx) = oneshot::channel();
        let status = Arc::new(AtomicU8::new(SAVING));
        let writer_status = Arc::clone(&status);
        tokio::spawn(async move {
            let begun = begun.await;
            let _ = begun_tx.send(());
            match begun {
                Ok(exchange) => {
                    Writer::new(history, user, exchange, writer_status, model, remember)
                        .run(receiver)
                        .await
                }
                Err(HistoryError::Moved) => writer_status.store(SUPERSEDED, Ordering::SeqCst),
                Err(e) => {
                    let status = match e {
                        // Deleted (in another tab) since it was read.
                        HistoryError::NotFound => DELETED,
                        _ if new => NOT_CREATED,
                        _ => UNSAVED,
                    };
                    tracing::warn!(
                        error = %e,
                        source = ?std::error::Error::source(&e),
                        user = %user,
                        "cannot save the question: answering without saving"
                    );
                    writer_status.store(status, Ordering::SeqCst);
                }
            }
            let _ = saved_tx.send(());
        });
        Self {
            notes,
            status,
            reported: SAVING,
            begun: Some(begun_rx),
            saved: Some(saved),
            ended: false,
        }
    }

    /// More text of the answer.
    pub fn push(&self, text: &str) {
        let _ = self.notes.send(Note::Text(text.to_string()));
    }

    /// The `history` event to send when saving stopped or resumed since last asked.
    pub fn status_change(&mut self) -> Option<Value> {
        let status = self.status.load(Ordering::SeqCst);
        if status == self.reported || status == SUPERSEDED {
            return None;
        }
        self.reported = status;
        Some(status_event(status))
    }

    /// The answer ended (`reason`: why it is not whole, `None` when it is). Waits for
    /// its question's save (at most [`QUESTION_SAVE_WAIT`]: the browser's next
    /// question must find the conversation), then for its last save, at most
    /// [`FINAL_SAVE_WAIT`].
    /// `spent`: what the answer used and cost, added to the conversation's totals.
    pub async fn finish(&mut self, reason: Option<&str>, spent: Spent) {
        self.end_with(reason, spent);
        if let Some(begun) = self.begun.take() {
            let _ = tokio::time::timeout(QUESTION_SAVE_WAIT, begun).await;
        }
        if let Some(saved) = self.saved.take() {
            let _ = tokio::time::timeout(FINAL_SAVE_WAIT, saved).await;
        }
    }

    /// The answer ended (`reason`: why it is not whole, `None` when it is); its last
    /// save goes on without anyone waiting.
    pub fn end(&mut self, reason: Option<&str>) {
        self.end_with(reason, Spent::default());
    }

    fn end_with(&mut self, reason: Option<&str>, spent: Spent) {
        if !self.ended {
            self.ended = true;
            let _ = self
                .notes
                .send(Note::End(reason.map(str::to_string), spent));
        }
    }
}

impl Drop for AnswerLog {
    fn drop(&mut self) {
        self.end(Some(DISCONNECTED));
    }
}

/// The `history` event data for a saving status.
fn status_event(status: u8) -> Value {
    match status {
        SAVING => json!({ "saving": true }),
        DELETED => json!({
            "saving": false,
            "message": "This conversation was deleted; this answer is not saved.",
        }),
        UNSAVED => json!({
            "saving": false,
            "message": "Your conversation history cannot be reached right now: this question and its answer are not saved.",
        }),
        NOT_CREATED => json!({
            "saving": false,
            "conversation": null,
            "message": "Your conversation history cannot be reached right now: this conversation is not saved.",
        }),
        _ => json!({
            "saving": false,
            "message": "Your conversation history cannot be saved right now; this answer may not be kept. Saving will be retried.",
        }),
    }
}

/// The `history` data of a chat whose history is not being saved at all.
pub fn not_saving(message: &str) -> Value {
    json!({ "saving": false, "message": message })
}

/// The `history` data of a chat being saved.
pub fn saving() -> Value {
    status_event(SAVING)
}

struct Writer {
    history: Arc<History>,
    user: String,
    exchange: Exchange,
    /// Part 0, kept in the head item.
    head: String,
    /// Length of `head` and the reason last saved in the head item.
    head_saved: Option<(usize, Option<String>)>,
    /// The part being filled, when past part 0.
    current: String,
    /// Index of the part being filled.
    part: u32,
    /// Full parts (≥ 1) not saved yet.
    finished_parts: Vec<(u32, String)>,
    /// Whether `current` (a part ≥ 1) is saved as it is.
    current_saved: bool,
    /// Highest part index (≥ 1) ever written.
    written_parts: u32,
    unsaved_bytes: usize,
    last_attempt: Instant,
    status: Arc<AtomicU8>,
    failures: u32,
    /// What the answer used, known at its end.
    spent: Spent,
    /// The model answering.
    model: String,
    /// What to remember once the answer is saved whole, and its whole text so far.
    remember: Option<(Remember, String)>,
}

impl Writer {
    fn new(
        history: Arc<History>,
        user: String,
        exchange: Exchange,
        status: Arc<AtomicU8>,
        model: String,
        remember: Option<Remember>,
    ) -> Self {
        Self {
            history,
            user,
            exchange,
            head: String::new(),
            // As `History::begin` wrote it.
            head_saved: Some((0, Some(super::store::STREAMING.to_string()))),
            current: String::new(),
            part: 0,
            finished_parts: Vec::new(),
            current_saved: true,
            written_parts: 0,
            unsaved_bytes: 0,
            last_attempt: Instant::now(),
            status,
            failures: 0,
            spent: Spent::default(),
            model,
            remember: remember.map(|r| (r, String::new())),
        }
    }

    async fn run(mut self, mut notes: mpsc::UnboundedReceiver<Note>) {
        loop {
            let dirty = self.unsaved_bytes > 0;
            let due = self.last_attempt + FLUSH_EVERY;
            let note = tokio::select! {
                note = notes.recv() => note,
                () = tokio::time::sleep_until(due), if dirty => {
                    if self.flush(None, false).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            match note {
                Some(Note::Text(text)) => {
                    self.append(&text);
                    let healthy = self.status.load(Ordering::SeqCst) == SAVING;
                    if healthy
                        && self.unsaved_bytes >= FLUSH_BYTES
                        && self.flush(None, false).await.is_err()
                    {
                        return;
                    }
                }
                Some(Note::End(reason, spent)) => {
                    self.spent = spent;
                    let _ = self.flush(reason.as_deref(), true).await;
                    self.remember(reason);
                    return;
                }
                None => {
                    let _ = self.flush(Some(DISCONNECTED), true).await;
                    self.remember(Some(DISCONNECTED.into()));
                    return;
                }
            }
        }
    }

    /// After the last write: the exchange is remembered as saved (the answer ended
    /// for `reason`) when everything of it was, else the conversation is forgotten.
    fn remember(&mut self, reason: Option<String>) {
        let Some((remember, answer)) = self.remember.take() else {
            return;
        };
        let recent = self.history.recent();
        let claimed_at_base = self.exchange.answer_index == remember.base + 1;
        if !claimed_at_base
            || self.status.load(Ordering::SeqCst) != SAVING
            || self.unsaved_bytes > 0
        {
            recent.forget(&self.user, &self.exchange.id);
            return;
        }
        let Exchange {
            id,
            title,
            answer_index,
            at,
        } = self.exchange.clone();
        let question = StoredTurn {
            role: Role::User,
            text: remember.question,
            at,
            incomplete: None,
            index: answer_index - 1,
            follows: remember.follows,
            model: None,
            spent: Spent::default(),
            attachments: remember.attachments,
        };
        let answer = StoredTurn {
            role: Role::Assistant,
            text: answer,
            at,
            incomplete: reason,
            index: answer_index,
            follows: Follows::Previous,
            model: Some(self.model.clone()),
            spent: self.spent.clone(),
            attachments: Vec::new(),
        };
        let mut context = remember.before;
        context.turns.extend([question, answer]);
        // The exchange's items expire from its start, at the earliest.
        if let Some(at) = self.history.expires_at(at) {
            context.expires = Some(context.expires.map_or(at, |e| e.min(at)));
        }
        recent.put(
            &self.user,
            Known {
                summary: Summary {
                    id,
                    title,
                    created_at: at,
                    updated_at: at,
                    turns: answer_index + 1,
                    spent: Spent::default(),
                },
                context: context.newest_within(remember.limits),
            },
        );
    }

    fn append(&mut self, mut text: &str) {
        if let Some((_, whole)) = self.remember.as_mut() {
            whole.push_str(text);
        }
        self.unsaved_bytes += text.len();
        while !text.is_empty() {
            let filling = if self.part == 0 {
                &mut self.head
            } else {
                &mut self.current
            };
            let room = PART_BYTES - filling.len();
            let cut = text::floor_boundary(text, room);
            filling.push_str(&text[..cut]);
            text = &text[cut..];
            if self.part > 0 && cut > 0 {
                self.current_saved = false;
            }
            if !text.is_empty() {
                // This part is full: the next one starts.
                if self.part > 0 {
                    let full = std::mem::take(&mut self.current);
                    self.finished_parts.push((self.part, full));
                }
                self.part += 1;
                self.current_saved = true;
            }
        }
    }

    /// Saves what is not saved yet; `last` also says how the answer ended. An error
    /// when the conversation is gone (nothing more is saved).
    async fn flush(&mut self, reason: Option<&str>, last: bool) -> Result<(), HistoryError> {
        self.last_attempt = Instant::now();
        match self.write(reason, last).await {
            Ok(()) => {
                self.unsaved_bytes = 0;
                self.failures = 0;
                self.status.store(SAVING, Ordering::SeqCst);
                if last
                    && let Err(e) = self
                        .history
                        .touch(&self.user, &self.exchange.id, &self.spent)
                        .await
                    && !matches!(e, HistoryError::NotFound)
                {
                    tracing::warn!(error = %e, source = ?std::error::Error::source(&e), "cannot mark the conversation as updated");
                }
                Ok(())
            }
            Err(HistoryError::NotFound) => {
                // Deleted while answering: take back the parts written since.
                self.status.store(DELETED, Ordering::SeqCst);
                if self.written_parts > 0
                    && let Err(e) = self
                        .history
                        .delete_answer_parts(&self.user, &self.exchange, self.written_parts)
                        .await
                {
                    tracing::warn!(error = %e, "cannot delete the parts of an answer whose conversation was deleted");
                }
                Err(HistoryError::NotFound)
            }
            Err(e) => {
                self.failures += 1;
                self.status.store(FAILING, Ordering::SeqCst);
                tracing::warn!(
                    error = %e,
                    source = ?std::error::Error::source(&e),
                    conversation = %self.exchange.id,
                    last,
                    "cannot save the answer"
                );
                if last {
                    tracing::error!(conversation = %self.exchange.id, "the end of an answer is lost: its history could not be saved");
                }
                Ok(())
            }
        }
    }

    async fn write(&mut self, reason: Option<&str>, last: bool) -> Result<(), HistoryError> {
        for (part, text) in &self.finished_parts {
            self.history
                .save_answer_part(&self.user, &self.exchange, *part, text)
                .await?;
            self.written_parts = self.written_parts.max(*part);
        }
        self.finished_parts.clear();
        if self.part > 0 && !self.current_saved {
            self.history
                .save_answer_part(&self.user, &self.exchange, self.part, &self.current)
                .await?;
            self.written_parts = self.written_parts.max(self.part);
            self.current_saved = true;
        }
        let incomplete = if last {
            reason.map(str::to_string)
        } else {
            Some(super::store::STREAMING.to_string())
        };
        let wanted = (self.head.len(), incomplete);
        if self.head_saved.as_ref() != Some(&wanted) {
            self.history
                .save_answer(
                    &self.user,
                    &self.exchange,
                    &self.head,
                    wanted.1.as_deref(),
                    last.then_some((self.model.as_str(), &self.spent)),
                )
                .await?;
            self.head_saved = Some(wanted);
        }
        Ok(())
    }
}
