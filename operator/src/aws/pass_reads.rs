//! Reads shared by every owner within one pass: a listing that every team's look-up
//! needs (the rules of the one HTTPS listener, every user pool) is asked once per
//! pass instead of once per team, so a resync costs O(teams), not O(teams²).
//!
//! Sharing is on only while a [`PassScope`] is alive — the file mode opens one per
//! pass; the in-cluster controller, whose reconciles run one owner at a time, never
//! does, so there every read goes to AWS as before. Whatever the operator changes
//! is [`forgotten`](PassReads::forget) at once; a change made by someone else
//! during a pass is seen by the next pass, as it would be had it come a moment later.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::Result;

/// Listings shared within a pass, by key. Clones share the same store.
#[derive(Clone, Default)]
pub struct PassReads(Arc<Mutex<Shared>>);

#[derive(Default)]
struct Shared {
    /// Live [`PassScope`]s; sharing is on while there is one.
    scopes: usize,
    entries: HashMap<String, Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for PassReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shared = self.lock();
        f.debug_struct("PassReads")
            .field("scopes", &shared.scopes)
            .field("entries", &shared.entries.len())
            .finish()
    }
}

/// Sharing is on while this lives; dropping the last scope forgets everything.
#[derive(Debug)]
pub struct PassScope(PassReads);

impl Drop for PassScope {
    fn drop(&mut self) {
        let mut shared = self.0.lock();
        shared.scopes = shared.scopes.saturating_sub(1);
        if shared.scopes == 0 {
            shared.entries.clear();
        }
    }
}

impl PassReads {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Shares reads until the returned scope is dropped.
    pub fn scope(&self) -> PassScope {
        self.lock().scopes += 1;
        PassScope(self.clone())
    }

    /// Whether reads are shared now.
    pub fn is_shared(&self) -> bool {
        self.lock().scopes > 0
    }

    /// The value under `key` if this pass already read it, else what `load` reads
    /// (kept for the rest of the pass while sharing is on). A failed read is not kept.
    pub async fn get_or_load<T, F>(&self, key: &str, load: F) -> Result<T>
    where
        T: Clone + Send + Sync + 'static,
        F: Future<Output = Result<T>>,
    {
        let hit = {
            let shared = self.lock();
            (shared.scopes > 0)
                .then(|| {
                    shared
                        .entries
                        .get(key)
                        .and_then(|v| v.downcast_ref::<T>())
                        .cloned()
                })
                .flatten()
        };
        if let Some(hit) = hit {
            return Ok(hit);
        }
        let value = load.await?;
        let mut shared = self.lock();
        if shared.scopes > 0 {
            shared
                .entries
                .insert(key.to_string(), Arc::new(value.clone()));
        }
        Ok(value)
    }

    /// Forgets `key`: the operator just changed what it lists.
    pub fn forget(&self, key: &str) {
        self.lock().entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    async fn read(reads: &PassReads, loads: &AtomicUsize, key: &str) -> Vec<String> {
        reads
            .get_or_load(key, async {
                let n = loads.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(vec![format!("load {n}")])
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn without_a_scope_every_read_loads() {
        let reads = PassReads::default();
        let loads = AtomicUsize::new(0);
        assert_eq!(read(&reads, &loads, "k").await, ["load 1"]);
        assert_eq!(read(&reads, &loads, "k").await, ["load 2"]);
        assert!(!reads.is_shared());
    }

    #[tokio::test]
    async fn within_a_scope_a_key_loads_once_until_forgotten() {
        let reads = PassReads::default();
        let loads = AtomicUsize::new(0);
        let scope = reads.scope();
        assert_eq!(read(&reads, &loads, "k").await, ["load 1"]);
        assert_eq!(read(&reads, &loads, "k").await, ["load 1"]);
        assert_eq!(read(&reads, &loads, "other").await, ["load 2"]);
        reads.forget("k");
        assert_eq!(read(&reads, &loads, "k").await, ["load 3"]);
        drop(scope);
        assert_eq!(read(&reads, &loads, "k").await, ["load 4"]);
        assert!(!reads.is_shared());
    }

    #[tokio::test]
    async fn the_next_pass_reads_afresh() {
        let reads = PassReads::default();
        let loads = AtomicUsize::new(0);
        drop(reads.scope());
        let _next = reads.scope();
        assert_eq!(read(&reads, &loads, "k").await, ["load 1"]);
        let outer = reads.scope();
        drop(outer);
        assert_eq!(
            read(&reads, &loads, "k").await,
            ["load 1"],
            "one scope is still open"
        );
    }

    #[tokio::test]
    async fn a_failed_read_is_not_kept() {
        let reads = PassReads::default();
        let _scope = reads.scope();
        let failed: Result<Vec<String>> = reads
            .get_or_load("k", async { Err(crate::Error::Unresolved("vpc".into())) })
            .await;
        assert!(failed.is_err());
        let loads = AtomicUsize::new(0);
        assert_eq!(read(&reads, &loads, "k").await, ["load 1"]);
    }
}
