//! Access keys of IAM users: creating exactly one, listing, deleting, and waiting until a new
//! one works.
//!
//! Shared by every owner of keys: an `iam_user` lease's user, a static role's user and the
//! engine's own root user (rotate-root). Each creation must leave no second key behind when an
//! answer was lost, because nobody would ever see that key's secret.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_sdk_iam::Client;

use crate::aws::aws_error::{aws_error_text, AwsFailure, LIMIT_EXCEEDED};
use crate::aws::metrics::Metrics;

use super::error::{IamError, IssueStep};
use super::retry::{on_new_user, AttemptCount};
use super::teardown::{Listed, Teardown, DEFAULT_PAGE_SIZE};

/// How long a fresh key may take to become usable (IAM is eventually consistent).
pub(crate) const NEW_KEY_DEADLINE: Duration = Duration::from_secs(30);

/// The access key handed to the lease holder.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AccessKeyPair {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
}

/// Hand-written so that the secret can never reach a log line through `{:?}`.
impl fmt::Debug for AccessKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKeyPair")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Creates one access key for `username` and leaves no second key behind.
///
/// When an attempt's answer is lost (timeout, dropped connection, 5xx after the fact) AWS may
/// have created a key whose secret nobody will ever see; the SDK's retry then creates another.
/// So whenever the call needed more than one attempt, or failed in a way that does not rule out
/// that it took effect, the user's keys are listed and every key that is neither in `known`
/// (the keys the user had before; empty for a user created a moment ago) nor the one returned
/// is deleted; `None` (the keys before are unknown) skips that. The happy path costs nothing
/// extra. Cleanup failures are logged, not returned: the caller's WAL entry or lease still
/// covers the user.
pub(crate) async fn create_access_key_once(
    iam: &Client,
    username: &str,
    known: Option<&[String]>,
    metrics: Option<&Metrics>,
) -> Result<AccessKeyPair, IamError> {
    let mut rounds = 0;
    let key = loop {
        rounds += 1;
        let attempts = AttemptCount::default();
        let result = on_new_user(username, IssueStep::CreateAccessKey, metrics, || {
            iam.create_access_key()
                .user_name(username)
                .customize()
                .interceptor(attempts.clone())
                .send()
        })
        .await;
        let key = match result {
            Ok(out) => out.access_key.ok_or(IamError::IncompleteResponse {
                step: IssueStep::CreateAccessKey,
                what: "access key",
            }),
            Err(e) => Err(e),
        };
        let retried = attempts.retried();
        let maybe_applied = match &key {
            Ok(_) => retried,
            Err(e) => !e.is_definitive() || retried,
        };
        match known {
            Some(known) if maybe_applied => {
                let keep = key.as_ref().ok().map(|k| k.access_key_id.as_str());
                let deleted = delete_unknown_keys(iam, username, known, keep).await;
                // The lost attempt's key took the user's last free slot (IAM allows two), so
                // the retry was refused; with that key gone, one more try can succeed.
                let limit = key
                    .as_ref()
                    .err()
                    .is_some_and(|e| e.aws_code() == Some(LIMIT_EXCEEDED));
                if limit && deleted > 0 && rounds == 1 {
                    continue;
                }
            }
            None if maybe_applied => {
                tracing::warn!(username, "CreateAccessKey was retried or failed late; an extra key may exist (its keys before were unknown)");
            }
            _ => {}
        }
        break key?;
    };
    if key.access_key_id.is_empty() || key.secret_access_key.is_empty() {
        return Err(IamError::IncompleteResponse {
            step: IssueStep::CreateAccessKey,
            what: "access key id or secret",
        });
    }
    Ok(AccessKeyPair {
        access_key_id: key.access_key_id,
        secret_access_key: key.secret_access_key,
    })
}

/// The ids of `username`'s access keys, every page.
pub(crate) async fn list_access_key_ids(
    iam: &Client,
    username: &str,
) -> Result<Vec<String>, IamError> {
    let t = Teardown {
        iam,
        username,
        page_size: DEFAULT_PAGE_SIZE,
    };
    Ok(match t.list_access_keys().await? {
        Listed::Items(keys) => keys,
        Listed::UserMissing { .. } => Vec::new(),
    })
}

/// One of a user's access keys: its id and when IAM says it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DatedKey {
    pub(crate) id: String,
    /// ListAccessKeys' `CreateDate`; `None` when AWS sent none (or one out of range).
    pub(crate) created: Option<SystemTime>,
}

/// `username`'s access keys with their creation times, every page.
pub(crate) async fn list_dated_access_keys(
    iam: &Client,
    username: &str,
) -> Result<Vec<DatedKey>, IamError> {
    let t = Teardown {
        iam,
        username,
        page_size: DEFAULT_PAGE_SIZE,
    };
    Ok(match t.list_access_key_metadata().await? {
        Listed::Items(keys) => keys
            .into_iter()
            .filter_map(|k| {
                let created = k.create_date.and_then(|d| SystemTime::try_from(d).ok());
                k.access_key_id.map(|id| DatedKey { id, created })
            })
            .collect(),
        Listed::UserMissing { .. } => Vec::new(),
    })
}

/// Deletes every key of `username` that is neither in `known` nor `keep` (best effort); returns
/// how many it deleted.
async fn delete_unknown_keys(
    iam: &Client,
    username: &str,
    known: &[String],
    keep: Option<&str>,
) -> usize {
    let keys = match list_access_key_ids(iam, username).await {
        Ok(keys) => keys,
        Err(e) => {
            tracing::warn!(username, error = %e, "could not list access keys after a retried CreateAccessKey");
            return 0;
        }
    };
    let mut deleted = 0;
    for id in keys {
        if Some(id.as_str()) == keep || known.contains(&id) {
            continue;
        }
        match iam
            .delete_access_key()
            .user_name(username)
            .access_key_id(&id)
            .send()
            .await
        {
            Ok(_) => {
                deleted += 1;
                tracing::info!(username, access_key_id = %id, "deleted the extra access key of a retried CreateAccessKey");
            }
            Err(e) => {
                tracing::warn!(username, access_key_id = %id, error = %aws_error_text(&e), "could not delete the extra access key of a retried CreateAccessKey");
            }
        }
    }
    deleted
}

/// Deletes access key `key` of `username`; a key that is already gone counts as deleted.
pub(crate) async fn delete_access_key(
    iam: &Client,
    username: &str,
    key: &str,
) -> Result<(), AwsFailure> {
    match iam
        .delete_access_key()
        .user_name(username)
        .access_key_id(key)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let f = AwsFailure::from_sdk(&e);
            if f.is_no_such_entity() {
                Ok(())
            } else {
                Err(f)
            }
        }
    }
}

/// Polls GetUser with a new key (as `user`, or as the key's own user when `None`) until IAM
/// accepts it, backing off up to [`NEW_KEY_DEADLINE`]; IAM is eventually consistent, so a fresh
/// key may be refused for a few seconds.
pub(crate) async fn wait_until_usable(iam: &Client, user: Option<&str>) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + NEW_KEY_DEADLINE;
    let mut delay = Duration::from_millis(200);
    loop {
        match iam
            .get_user()
            .set_user_name(user.map(str::to_string))
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) => {
                if tokio::time::Instant::now() + delay > deadline {
                    return Err(aws_error_text(&e));
                }
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(4));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let k = AccessKeyPair {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG".into(),
        };
        let shown = format!("{k:?}");
        assert!(shown.contains("AKIAEXAMPLE"));
        assert!(!shown.contains("wJalr"));
    }
}
