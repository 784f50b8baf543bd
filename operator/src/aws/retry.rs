//! What the SDK may repeat on its own, and what it must leave to the engine.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextMut;
use aws_smithy_runtime_api::client::orchestrator::{Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;

use super::calls::is_write_operation;

/// Keeps the SDK from repeating a *write* whose outcome is unknown: the connection
/// broke, timed out or the answer could not be read, so the request may well have
/// taken effect. Repeated blindly, a lost `CreateVpc` or `CreateUserPool` makes a
/// twin and a lost `CreateLogGroup` fails with "already exists". Such a failure
/// reaches the engine instead (retryable, with no status), which observes — finding
/// what the lost request made by its ownership tags — before it writes again. Reads,
/// and answers that say the request was not done (throttling, 5xx), are still
/// retried by the SDK.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NoBlindRetry;

impl Intercept for NoBlindRetry {
    fn name(&self) -> &'static str {
        "NoBlindRetry"
    }

    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let write = cfg
            .load::<Metadata>()
            .is_some_and(|m| is_write_operation(m.name()));
        if !write {
            return Ok(());
        }
        if let Some(Err(error)) = context.output_or_error_mut()
            && outcome_unknown(error)
        {
            let why = format!(
                "the request may or may not have taken effect: {}",
                DisplayErrorContext(&*error)
            );
            // A "user" connector error is one the SDK's classifiers never retry.
            *error = OrchestratorError::connector(ConnectorError::user(why.into()));
        }
        Ok(())
    }
}

fn outcome_unknown<E>(error: &OrchestratorError<E>) -> bool {
    error.is_response_error()
        || error.is_timeout_error()
        || error
            .as_connector_error()
            .is_some_and(|e| e.is_io() || e.is_timeout() || e.is_other())
}
