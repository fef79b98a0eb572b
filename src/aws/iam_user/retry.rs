//! What the engine adds to the AWS SDK's retryer for IAM users.
//!
//! The SDK retries throttling, 5xx and transport failures on its own. It cannot know two things
//! this module handles: IAM may not show a user created a moment ago (hashicorp/vault#5190), so a
//! call about the new user that answers "no such user" is repeated briefly; and whether the
//! retryer sent a request more than once, which tells the caller that an earlier attempt may have
//! taken effect (a second access key, a user that already exists).

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::aws::metrics::{count_own_retry, Metrics};

use super::error::{IamError, IssueStep};

/// Waits before repeating a call that found the user created a moment ago missing (IAM is
/// eventually consistent: hashicorp/vault#5190). About three seconds in all, so a permanent
/// `NoSuchEntity` (a policy or group that does not exist) still fails at once, because only
/// errors naming the new user are retried.
const NEW_USER_VISIBILITY_WAITS: [Duration; 5] = [
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_millis(1600),
];

/// Runs one IAM call made right after `CreateUser`, repeating it for a few seconds while IAM
/// answers that the new user does not exist yet.
pub(crate) async fn on_new_user<T, E, F, Fut>(
    username: &str,
    step: IssueStep,
    metrics: Option<&Metrics>,
    mut call: F,
) -> Result<T, IamError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut waits = NEW_USER_VISIBILITY_WAITS.iter();
    loop {
        let e = match call().await {
            Ok(v) => return Ok(v),
            Err(e) => IamError::issue(step, &e),
        };
        let retry = e.failure().is_some_and(|f| f.is_missing_user(username));
        match waits.next() {
            Some(wait) if retry => {
                tracing::debug!(
                    username,
                    call = step.call(),
                    "new IAM user not visible yet; retrying"
                );
                if let Some(m) = metrics {
                    count_own_retry(m, step.call(), "not_yet_visible");
                }
                tokio::time::sleep(*wait).await;
            }
            _ => return Err(e),
        }
    }
}

/// Counts the attempts of one SDK operation, so the caller can tell whether the retryer sent
/// the request more than once (and so whether an earlier attempt may have taken effect).
#[derive(Debug, Clone, Default)]
pub(crate) struct AttemptCount(Arc<AtomicU32>);

impl Intercept for AttemptCount {
    fn name(&self) -> &'static str {
        "AttemptCount"
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl AttemptCount {
    /// Whether the SDK sent the request more than once.
    pub(crate) fn retried(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 1
    }
}
