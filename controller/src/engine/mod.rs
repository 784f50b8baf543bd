//! The convergence engine: makes AWS match a platform's or a chatbot's desired
//! state, one pass at a time, and tears it down in dependency order. The file mode
//! (`apply`/`delete`) loops passes until everything is ready; the in-cluster
//! controller runs one pass per reconcile and requeues.

pub mod chatbot;
pub mod conditions;
pub mod platform;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;

use crate::aws::{Aws, CallLog};
use crate::resources::Progress;

/// Shared by every pass: one AWS configuration, one call log, one progress sink.
#[derive(Clone)]
pub struct Engine {
    sdk: SdkConfig,
    calls: CallLog,
    clients: Arc<Mutex<BTreeMap<String, Aws>>>,
    progress: Arc<dyn Progress>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("calls", &self.calls.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine using `sdk` for credentials and endpoints, reporting to `progress`.
    pub fn new(sdk: SdkConfig, progress: Arc<dyn Progress>) -> Self {
        Self {
            sdk,
            calls: CallLog::default(),
            clients: Arc::default(),
            progress,
        }
    }

    /// Every AWS call made so far.
    pub fn calls(&self) -> &CallLog {
        &self.calls
    }

    /// Where progress goes.
    pub fn progress(&self) -> &dyn Progress {
        self.progress.as_ref()
    }

    /// The clients for `region`, built once.
    pub fn aws(&self, region: &str) -> Aws {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        clients
            .entry(region.to_string())
            .or_insert_with(|| Aws::new(&self.sdk, region, self.calls.clone()))
            .clone()
    }
}
