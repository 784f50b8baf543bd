//! The context of conversations this server answered in lately, kept in memory so a
//! next question starts its answer without reading DynamoDB first.
//!
//! What is kept is a guess, never the truth: the table stays authoritative. A
//! question answered from here claims its turns on the condition that the
//! conversation still has the count of turns remembered (the claim
//! [`History::begin`](super::History::begin) makes anyway, run beside the model's
//! call). When another task, tab or device wrote since, the claim fails, and the
//! answer starts over from the stored conversation (`restart`, see
//! [`crate::chat`]). So a stale entry costs a restarted answer, never a wrong one.
//!
//! An entry is made only from an exchange saved whole (question and answer, the
//! answer's last write done), and only when none of its turns was still being written
//! by another answer; it is dropped when the conversation is renamed or deleted here,
//! or when saving its answer failed. Entries are bounded by the bytes of their text
//! (`CHATBOT_HISTORY_CACHE_MIB`), the least recently used going first.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::store::{STREAMING, Summary, Turns};

/// What a conversation was, as of its last exchange answered here.
#[derive(Clone, Debug)]
pub struct Known {
    /// The conversation. Only its id, title and `turns` (the count the next claim is
    /// conditioned on) are kept up to date.
    pub summary: Summary,
    /// Its newest branch, as a read within the context's limits would return it.
    pub context: Turns,
}

impl Known {
    /// Bytes of text it keeps (what the bound counts).
    fn bytes(&self) -> usize {
        self.summary.title.len()
            + self
                .context
                .turns
                .iter()
                .map(|t| t.text.len() + ENTRY_OVERHEAD)
                .sum::<usize>()
    }

    /// Whether a turn of it was still being written by an answer (of another tab)
    /// when it was read: its text may have grown since, without the count changing.
    pub fn has_streaming_turn(&self) -> bool {
        self.context
            .turns
            .iter()
            .any(|t| t.incomplete.as_deref() == Some(STREAMING))
    }
}

/// Bytes counted for each turn on top of its text (its other fields, the map's own).
const ENTRY_OVERHEAD: usize = 128;

/// A user's conversation.
type Key = (String, String);

/// Recently answered conversations, at most `budget` bytes of them.
#[derive(Debug)]
pub struct Recent {
    budget: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Key, (u64, Known)>,
    /// Entries by last use, oldest first.
    by_use: BTreeMap<u64, Key>,
    bytes: usize,
    tick: u64,
}

impl Inner {
    fn remove(&mut self, key: &Key) {
        if let Some((tick, known)) = self.entries.remove(key) {
            self.by_use.remove(&tick);
            self.bytes -= known.bytes();
        }
    }
}

impl Recent {
    /// Keeps at most `budget` bytes (0: keeps nothing).
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while holding it leaves nothing half-done worth refusing.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What `user`'s conversation `id` was when last answered here, if remembered and
    /// none of it has expired by `now_s` (seconds since the epoch; turns expire by
    /// time alone, without the conversation's count of turns changing).
    pub fn get(&self, user: &str, id: &str, now_s: i64) -> Option<Known> {
        let mut inner = self.lock();
        let key = (user.to_string(), id.to_string());
        let expired = inner
            .entries
            .get(&key)
            .is_some_and(|(_, known)| known.context.expires.is_some_and(|at| at <= now_s));
        if expired {
            inner.remove(&key);
            return None;
        }
        inner.tick += 1;
        let tick = inner.tick;
        let (used, known) = inner.entries.get_mut(&key)?;
        let previous = std::mem::replace(used, tick);
        let known = known.clone();
        inner.by_use.remove(&previous);
        inner.by_use.insert(tick, key);
        Some(known)
    }

    /// Remembers `known` for `user` (replacing what was), making room by forgetting
    /// the least recently used. Too big for the budget alone: forgotten instead.
    pub fn put(&self, user: &str, known: Known) {
        let key = (user.to_string(), known.summary.id.clone());
        let bytes = known.bytes();
        let mut inner = self.lock();
        inner.remove(&key);
        if bytes > self.budget || known.has_streaming_turn() {
            return;
        }
        while inner.bytes + bytes > self.budget {
            let Some((_, oldest)) = inner.by_use.pop_first() else {
                break;
            };
            inner.remove(&oldest);
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.by_use.insert(tick, key.clone());
        inner.entries.insert(key, (tick, known));
        inner.bytes += bytes;
    }

    /// Forgets `user`'s conversation `id` (renamed, deleted, or its saving failed).
    pub fn forget(&self, user: &str, id: &str) {
        self.lock().remove(&(user.to_string(), id.to_string()));
    }

    /// Bytes kept now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::Role;
    use crate::history::{Follows, Spent, StoredTurn};

    fn known(id: &str, text: &str) -> Known {
        Known {
            summary: Summary {
                id: id.into(),
                title: "t".into(),
                created_at: 0,
                updated_at: 0,
                turns: 2,
                spent: Spent::default(),
            },
            context: Turns {
                turns: vec![StoredTurn {
                    role: Role::User,
                    text: text.into(),
                    at: 0,
                    incomplete: None,
                    index: 0,
                    follows: Follows::Previous,
                    model: None,
                    spent: Spent::default(),
                    attachments: Vec::new(),
                }],
                truncated: false,
                expires: None,
            },
        }
    }

    #[test]
    fn remembers_per_user_and_forgets() {
        let recent = Recent::new(1 << 20);
        recent.put("ada", known("a", "hello"));
        assert_eq!(
            recent.get("ada", "a", 0).unwrap().context.turns[0].text,
            "hello"
        );
        assert!(recent.get("bob", "a", 0).is_none(), "another user's entry");
        recent.forget("ada", "a");
        assert!(recent.get("ada", "a", 0).is_none());
        assert_eq!(recent.bytes(), 0);
    }

    #[test]
    fn the_least_recently_used_goes_first_within_the_budget() {
        let one = known("a", &"x".repeat(100)).bytes();
        let recent = Recent::new(2 * one);
        recent.put("ada", known("a", &"x".repeat(100)));
        recent.put("ada", known("b", &"x".repeat(100)));
        // Used: "a" is now newer than "b".
        assert!(recent.get("ada", "a", 0).is_some());
        recent.put("ada", known("c", &"x".repeat(100)));
        assert!(
            recent.get("ada", "b", 0).is_none(),
            "the least recently used went"
        );
        assert!(recent.get("ada", "a", 0).is_some());
        assert!(recent.get("ada", "c", 0).is_some());
        assert_eq!(recent.bytes(), 2 * one);
    }

    #[test]
    fn keeps_nothing_too_big_or_still_streaming_and_nothing_with_no_budget() {
        let recent = Recent::new(1000);
        recent.put("ada", known("a", &"x".repeat(2000)));
        assert!(recent.get("ada", "a", 0).is_none());
        let mut streaming = known("b", "half");
        streaming.context.turns[0].incomplete = Some(STREAMING.into());
        recent.put("ada", streaming);
        assert!(recent.get("ada", "b", 0).is_none());
        let off = Recent::new(0);
        off.put("ada", known("a", "hi"));
        assert!(off.get("ada", "a", 0).is_none());
    }

    #[test]
    fn an_entry_with_an_expired_turn_is_forgotten() {
        let recent = Recent::new(1 << 20);
        let mut expiring = known("a", "old");
        expiring.context.expires = Some(1_000);
        recent.put("ada", expiring);
        assert!(recent.get("ada", "a", 999).is_some(), "not yet expired");
        assert!(recent.get("ada", "a", 1_000).is_none(), "expired");
        assert_eq!(recent.bytes(), 0, "and forgotten");
    }

    #[test]
    fn replacing_an_entry_counts_its_bytes_once() {
        let recent = Recent::new(1 << 20);
        recent.put("ada", known("a", "one"));
        recent.put("ada", known("a", "two, longer"));
        assert_eq!(recent.bytes(), known("a", "two, longer").bytes());
    }
}
