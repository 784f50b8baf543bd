//! The retry policy, all of it:
//!
//! 1. **The SDK, per call.** Its standard retry mode (exponential backoff with
//!    jitter, [`MAX_ATTEMPTS`](crate::aws::MAX_ATTEMPTS) attempts, a token bucket
//!    per service) repeats throttling and transient codes, 5xx and broken
//!    connections, as its own retry classifiers judge them
//!    ([`crate::aws::retry_config`]). It never repeats a write whose outcome is
//!    unknown (its connection broke, its answer was lost): it may have taken effect,
//!    and a second `CreateVpc` makes a twin (the `NoBlindRetry` interceptor in
//!    `aws::retry`).
//! 2. **The engine, per resource step.** A step (observe, then create or update; or
//!    delete) that still fails transiently — such a write, a bare 429 (which the
//!    SDK's classifiers do not retry), or what outlived the SDK's attempts — is
//!    repeated, up to [`STEP_ATTEMPTS`](crate::engine::STEP_ATTEMPTS) times.
//!    Repeating the step, not the call, is what makes a write safe to repeat: the
//!    step observes by ownership tags first and writes only if still needed. (Only
//!    for unknown outcomes was tried: with three SDK attempts and a fifth of all
//!    requests failing, `tests/faults.rs`, a pass of ten teams then never came
//!    clean within its ten minutes.)
//! 3. **AWS still propagating a change it accepted** (a new role, a new VPC): the
//!    step waits for it, up to
//!    [`PROPAGATION_BUDGET`](crate::engine::PROPAGATION_BUDGET).
//! 4. **The next pass.** Any other failure leaves the resource (and what depends on
//!    it) for the next pass, after a [`Backoff`]: in the cluster per object
//!    ([`Requeue`], keyed by its [`ObjectRef`]: 5 s doubling to 5 min), in file mode
//!    between passes (1 s doubling to 30 s, until `--timeout`). Errors that no retry
//!    fixes (permissions, an invalid spec) are not retried: the in-cluster
//!    controller comes back at the resync period, file mode stops.
//!
//! Every delay of the next pass is spread by ±10% at random, so that objects that
//! failed together do not come back together.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::core::DynamicObject;
use kube::runtime::reflector::ObjectRef;

/// Exponential delays: `first`, doubling with each failure in a row, at most `max`,
/// each spread by [`jitter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failure.
    pub first: Duration,
    /// Where the doubling stops; jitter may take a delay 10% past it.
    pub max: Duration,
}

impl Backoff {
    /// The in-cluster controller's requeue after a retryable failure.
    pub const REQUEUE: Self = Self {
        first: Duration::from_secs(5),
        max: Duration::from_secs(300),
    };

    /// File mode's wait before the pass after one that failed.
    pub const PASS: Self = Self {
        first: Duration::from_secs(1),
        max: Duration::from_secs(30),
    };

    /// The delay after `failures` failures in a row (the first is 1).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(16);
        jitter((self.first * (1 << doublings)).min(self.max))
    }
}

/// Failures in a row per object, and the [`Backoff`] before each one's next try.
#[derive(Debug)]
pub struct Requeue {
    backoff: Backoff,
    failures: Mutex<HashMap<ObjectRef<DynamicObject>, u32>>,
}

impl Requeue {
    /// No failures yet.
    pub fn new(backoff: Backoff) -> Self {
        Self {
            backoff,
            failures: Mutex::default(),
        }
    }

    /// Counts a failure of `object`; returns how long it waits before its next try.
    pub fn failed(&self, object: ObjectRef<DynamicObject>) -> Duration {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = failures.entry(object).or_default();
        *count = count.saturating_add(1);
        self.backoff.delay(*count)
    }

    /// Forgets `object`'s failures: its next failure starts from the first delay.
    pub fn succeeded(&self, object: &ObjectRef<DynamicObject>) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(object);
        }
    }
}

/// `d` ±10%, at random.
pub fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.9 + fastrand::f64() / 5.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(d: Duration, around: u64) -> bool {
        let around = Duration::from_secs(around);
        d >= around.mul_f64(0.9) && d <= around.mul_f64(1.1)
    }

    #[test]
    fn delays_double_up_to_the_cap_each_spread_by_a_tenth() {
        let delays: Vec<Duration> = (1..=9).map(|n| Backoff::REQUEUE.delay(n)).collect();
        for (delay, want) in delays.iter().zip([5, 10, 20, 40, 80, 160, 300, 300, 300]) {
            assert!(within(*delay, want), "{delay:?} is not {want} s ±10%");
        }
        assert!(within(Backoff::PASS.delay(1), 1));
        assert!(within(Backoff::PASS.delay(6), 30));
        assert!(within(Backoff::PASS.delay(u32::MAX), 30));
    }

    #[test]
    fn failures_are_counted_per_object_and_a_success_starts_over() {
        let requeue = Requeue::new(Backoff::REQUEUE);
        use bedrock_chatbot_crds::BedrockChatbot;
        let a = ObjectRef::<BedrockChatbot>::new("a")
            .within("team-a")
            .erase();
        let b = ObjectRef::<BedrockChatbot>::new("b")
            .within("team-a")
            .erase();
        requeue.failed(a.clone());
        requeue.failed(a.clone());
        assert!(within(requeue.failed(a.clone()), 20));
        assert!(
            within(requeue.failed(b.clone()), 5),
            "another object's count is its own"
        );
        requeue.succeeded(&a);
        assert!(within(requeue.failed(a), 5));
    }

    #[test]
    fn jitter_is_random_not_the_clock() {
        let spread: std::collections::BTreeSet<Duration> =
            (0..50).map(|_| jitter(Duration::from_secs(100))).collect();
        assert!(spread.len() > 40, "{} distinct delays of 50", spread.len());
        assert!(spread.iter().all(|d| within(*d, 100)));
    }
}
