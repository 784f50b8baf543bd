//! The leader's fence: no AWS write leaves a process that cannot be sure it still
//! holds the leader Lease.
//!
//! A leader knows it holds the Lease until its renew deadline has passed since the
//! start of its last successful renewal; a standby takes the Lease over only after
//! seeing it unchanged for the whole lease duration, which is longer. Checking the
//! fence before every attempt of every write (the SDK's retries included) keeps a
//! leader cut off from the API server — whose renewals hang or fail — from writing
//! to AWS after that deadline, even while its reconciles are still running from the
//! caches. Reads stay allowed: they change nothing.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::calls::is_write_operation;

/// Whether this process may write to AWS now.
#[derive(Clone, Debug, Default)]
pub struct Fence(Option<Arc<Mutex<Option<Instant>>>>);

impl Fence {
    /// No leader election (file mode, `--no-leader-election`): always open.
    pub fn open() -> Self {
        Self(None)
    }

    /// A leader-elected process's fence: closed until the Lease is held.
    pub fn closed() -> Self {
        Self(Some(Arc::default()))
    }

    /// Opens the fence until `until` (the renew deadline after the start of the
    /// renewal that just succeeded). Never moves the deadline back.
    pub fn hold_until(&self, until: Instant) {
        if let Some(deadline) = &self.0
            && let Ok(mut deadline) = deadline.lock()
        {
            *deadline = Some(deadline.map_or(until, |d| d.max(until)));
        }
    }

    /// Closes the fence for good: the Lease is lost or about to be released.
    pub fn close(&self) {
        if let Some(deadline) = &self.0
            && let Ok(mut deadline) = deadline.lock()
        {
            *deadline = None;
        }
    }

    /// Whether an AWS write may leave now.
    pub fn allows_writes(&self) -> bool {
        match &self.0 {
            None => true,
            Some(deadline) => deadline
                .lock()
                .map(|d| d.is_some_and(|d| Instant::now() < d))
                .unwrap_or(false),
        }
    }

    pub(super) fn interceptor(&self) -> FenceInterceptor {
        FenceInterceptor(self.clone())
    }
}

/// Refuses every attempt of a write while the fence is closed.
#[derive(Debug)]
pub(super) struct FenceInterceptor(Fence);

impl Intercept for FenceInterceptor {
    fn name(&self) -> &'static str {
        "LeaderFence"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let write = cfg
            .load::<Metadata>()
            .is_some_and(|m| is_write_operation(m.name()));
        if write && !self.0.allows_writes() {
            return Err(
                "not sent: this process cannot be sure it still holds the leader Lease".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_fence_opens_until_its_deadline_never_moves_it_back_and_closes_for_good() {
        assert!(Fence::open().allows_writes());
        let fence = Fence::closed();
        assert!(!fence.allows_writes());
        fence.hold_until(Instant::now() + Duration::from_secs(60));
        assert!(fence.allows_writes());
        fence.hold_until(Instant::now() - Duration::from_secs(1));
        assert!(
            fence.allows_writes(),
            "an older deadline does not shorten it"
        );
        fence.close();
        assert!(!fence.allows_writes());
        let expired = Fence::closed();
        expired.hold_until(Instant::now() - Duration::from_millis(1));
        assert!(!expired.allows_writes());
    }

    #[tokio::test]
    async fn a_closed_fence_keeps_writes_from_reaching_aws_and_lets_reads_through() {
        use aws_smithy_types::error::display::DisplayErrorContext;

        let moto = testkit::Moto::start().unwrap();
        let fence = Fence::closed();
        let aws = crate::aws::Aws::fenced(
            &moto.sdk_config("us-west-2"),
            "us-west-2",
            crate::aws::CallLog::default(),
            &fence,
        );
        let vpcs = || async {
            aws.ec2
                .describe_vpcs()
                .send()
                .await
                .unwrap()
                .vpcs()
                .iter()
                .filter(|v| v.cidr_block() == Some("10.9.0.0/16"))
                .count()
        };
        assert_eq!(vpcs().await, 0, "reads go through a closed fence");
        let refused = aws
            .ec2
            .create_vpc()
            .cidr_block("10.9.0.0/16")
            .send()
            .await
            .unwrap_err();
        let text = DisplayErrorContext(&refused).to_string();
        assert!(text.contains("leader Lease"), "{text}");
        assert_eq!(vpcs().await, 0, "the refused write never reached AWS");

        fence.hold_until(Instant::now() + Duration::from_secs(60));
        aws.ec2
            .create_vpc()
            .cidr_block("10.9.0.0/16")
            .send()
            .await
            .unwrap();
        assert_eq!(vpcs().await, 1);
    }
}
