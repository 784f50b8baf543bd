//! Counting every AWS call: by service, operation and outcome. Feeds metrics, the
//! benchmarks, and the tests that prove a second `apply` writes nothing.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// One finished AWS call (after the SDK's own retries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Service, e.g. `ec2`.
    pub service: String,
    /// Operation, e.g. `CreateVpc`.
    pub operation: String,
    /// HTTP status of the last attempt; `None` when no response arrived.
    pub status: Option<u16>,
}

impl Call {
    /// Whether the call may change something on AWS: anything but `Describe*`,
    /// `List*`, `Get*` and `Head*` (S3's `HeadBucket`).
    pub fn is_write(&self) -> bool {
        is_write_operation(&self.operation)
    }
}

/// Whether the AWS operation `name` may change something: anything but
/// `Describe*`, `List*`, `Get*` and `Head*`.
pub(crate) fn is_write_operation(name: &str) -> bool {
    !["Describe", "List", "Get", "Head"]
        .iter()
        .any(|read| name.starts_with(read))
}

/// A shared, append-only record of calls.
#[derive(Clone, Debug, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

impl CallLog {
    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.0.lock().map(|calls| calls.clone()).unwrap_or_default()
    }

    /// Calls from position `since` on (see [`CallLog::len`]).
    pub fn since(&self, since: usize) -> Vec<Call> {
        self.calls().into_iter().skip(since).collect()
    }

    /// How many calls so far.
    pub fn len(&self) -> usize {
        self.0.lock().map(|calls| calls.len()).unwrap_or_default()
    }

    /// Whether no call was made yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes every call recorded so far out of the log: a long-running controller
    /// moves them into metric counters instead of keeping them all.
    pub fn drain(&self) -> Vec<Call> {
        self.0
            .lock()
            .map(|mut calls| std::mem::take(&mut *calls))
            .unwrap_or_default()
    }

    /// Records a call (tests of what consumes the log).
    #[cfg(test)]
    pub(crate) fn push(&self, call: Call) {
        if let Ok(mut calls) = self.0.lock() {
            calls.push(call);
        }
    }

    pub(super) fn interceptor(&self) -> CallCounter {
        CallCounter(self.clone())
    }
}

#[derive(Debug)]
pub(super) struct CallCounter(CallLog);

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_string(), m.name().to_string()))
            .unwrap_or_default();
        let call = Call {
            service: service.to_ascii_lowercase(),
            operation,
            status: context.response().map(|r| r.status().as_u16()),
        };
        if let Ok(mut calls) = (self.0).0.lock() {
            calls.push(call);
        }
        Ok(())
    }
}
