//! Waiting until a new `iam_user` access key works before it is returned.
//!
//! IAM is eventually consistent: a key can be refused for seconds after `CreateAccessKey`, and
//! Vault's documentation tells users to sleep 5–10 s before using one (hashicorp/vault#3115,
//! #8413; vault-secrets-operator#271). With a role's `key_ready_timeout` set, the engine calls
//! `sts:GetCallerIdentity` signed with the new key, backing off, until AWS accepts it or the
//! timeout passes; the credentials are returned either way, with a warning when the key never
//! proved itself.

use std::time::Duration;

use tokio::time::Instant;

use crate::framework::Ctx;

use super::clients::{build_with_keys, with_sts_fallback, Clients, StsFailure};
use super::iam_user::AccessKeyPair;
use super::metrics::{KEY_READY_SECONDS, KEY_READY_TIMEOUTS};
use super::AwsBackend;

/// First wait between two tries; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Tries `key` until AWS accepts it or `timeout` passes; `Some(warning)` when it never did.
pub(crate) async fn wait(
    ctx: &Ctx<AwsBackend>,
    root: &Clients,
    key: &AccessKeyPair,
    timeout: Duration,
) -> Option<String> {
    let started = Instant::now();
    let deadline = started + timeout;
    let metrics = &ctx.backend.metrics;
    let clients = match build_with_keys(
        &root.config,
        &key.access_key_id,
        &key.secret_access_key,
        &ctx.backend.call_context(),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return Some(format!("the new access key could not be tried: {e}")),
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        let answer = tokio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            with_sts_fallback(&clients, |sts| sts.get_caller_identity().send()),
        )
        .await;
        let why = match answer {
            Ok(Ok(_)) => {
                metrics.observe(KEY_READY_SECONDS, Vec::new(), started.elapsed());
                tracing::debug!(access_key = %key.access_key_id, waited_ms = started.elapsed().as_millis() as u64, "new access key works");
                return None;
            }
            Ok(Err(StsFailure::Aws(f))) => f.text,
            Ok(Err(StsFailure::Unreachable(all))) => all.join("; "),
            Err(_) => "no answer before the timeout".to_string(),
        };
        if Instant::now() + backoff >= deadline {
            metrics.add(KEY_READY_TIMEOUTS, Vec::new(), 1);
            tracing::warn!(access_key = %key.access_key_id, error = %why, "new access key did not work within key_ready_timeout");
            return Some(format!(
                "the new access key {} was not yet accepted by AWS after {}s (key_ready_timeout; last answer to sts:GetCallerIdentity: {why}); it usually works within seconds",
                key.access_key_id,
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
