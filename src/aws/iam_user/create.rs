//! Creating one lease's IAM user with its access key, with Vault's calls and error texts.
//!
//! Vault's order (`path_user.go`): `CreateUser`, then the managed policies, the inline policy,
//! the groups and the tags, then `CreateAccessKey`. Only the setup calls between `CreateUser`
//! and `CreateAccessKey` run side by side, with the first failure in Vault's order reported, so
//! a user whose setup failed never gets a key and the error text is Vault's.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_sdk_iam::types::Tag;
use aws_sdk_iam::Client;
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use futures::FutureExt;

use crate::aws::aws_error::{AwsFailure, ENTITY_ALREADY_EXISTS};
use crate::aws::metrics::Metrics;

use super::error::{IamError, IssueStep};
use super::keys::{create_access_key_once, AccessKeyPair};
use super::retry::{on_new_user, AttemptCount};

/// How many of one new user's setup calls (policies, inline policy, groups) are in flight
/// at once. They are independent once the user exists; running them side by side takes a role
/// with a few attachments from one round trip per attachment to about one in all, and the bound
/// keeps a role with many attachments from bursting into IAM's request rate.
pub(crate) const ISSUE_CONCURRENCY: usize = 4;

/// How far IAM's clock may be behind ours when telling whether a user was created during this
/// request.
const CLOCK_SKEW: Duration = Duration::from_secs(120);

/// Whether `username` was created at or after `since` (less [`CLOCK_SKEW`]); `None` when that
/// cannot be read.
async fn created_since(iam: &Client, username: &str, since: SystemTime) -> Option<bool> {
    let out = iam.get_user().user_name(username).send().await.ok()?;
    let created = out.user()?.create_date().secs();
    let since = since
        .checked_sub(CLOCK_SKEW)?
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(created >= i64::try_from(since).ok()?)
}

/// What to create for one lease.
pub(crate) struct NewUser<'a> {
    /// The name generated from `username_template`.
    pub(crate) username: &'a str,
    /// The role's `user_path`; `""` means `/`.
    pub(crate) path: &'a str,
    /// The role's `permissions_boundary_arn`; `""` means none.
    pub(crate) permissions_boundary_arn: &'a str,
    /// Managed policies to attach, in order.
    pub(crate) policy_arns: &'a [String],
    /// `(policy name = Vault role name, policy document)`.
    pub(crate) inline_policy: Option<(&'a str, &'a str)>,
    /// Groups to join, in order.
    pub(crate) groups: &'a [String],
    /// `iam_tags`, sent on `CreateUser` (see [`create_user_with_key`]).
    pub(crate) tags: &'a BTreeMap<String, String>,
    /// The tag that marks the user as this mount's: `(MOUNT_TAG_KEY, backend UUID)`.
    pub(crate) mount_tag: (&'a str, &'a str),
}

/// The tags a new user is created with: the role's `iam_tags`, then the mount tag (which a role
/// tag of the same key cannot replace: it is how the orphan sweep knows the mount's users).
fn creation_tags(u: &NewUser<'_>) -> Result<Vec<Tag>, String> {
    let (mount_key, mount_value) = u.mount_tag;
    u.tags
        .iter()
        .filter(|(k, _)| k.as_str() != mount_key)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain((!mount_value.is_empty()).then_some((mount_key, mount_value)))
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// Creates the lease's user and its access key with Vault's calls and error texts; the calls
/// between `CreateUser` and `CreateAccessKey` run concurrently.
///
/// The tags go on `CreateUser` itself, not on a `TagUser` after it as in Vault: accounts whose
/// service control policies require tags at creation refuse a `CreateUser` without them
/// (hashicorp/vault#32001). AWS then needs `iam:TagUser` for the same call, as before.
///
/// No cleanup on failure: the caller wrote a WAL entry before calling, and the rollback of that
/// entry deletes whatever was created. Cleaning up here as well would race with it and, on an
/// eventual-consistency `NoSuchEntity`, could make a half-made user look already gone.
pub(crate) async fn create_user_with_key(
    iam: &Client,
    u: &NewUser<'_>,
    metrics: Option<&Metrics>,
) -> Result<AccessKeyPair, IamError> {
    let path = if u.path.is_empty() { "/" } else { u.path };
    let tags = creation_tags(u).map_err(|e| IamError::Issue {
        step: IssueStep::CreateUser,
        failure: AwsFailure::local(e),
    })?;
    let mut create = iam
        .create_user()
        .user_name(u.username)
        .path(path)
        .set_tags((!tags.is_empty()).then_some(tags));
    if !u.permissions_boundary_arn.is_empty() {
        create = create.permissions_boundary(u.permissions_boundary_arn);
    }
    let started = SystemTime::now();
    let attempts = AttemptCount::default();
    if let Err(e) = create
        .customize()
        .interceptor(attempts.clone())
        .send()
        .await
    {
        let err = IamError::issue(IssueStep::CreateUser, &e);
        let retried = attempts.retried();
        if !(retried && err.aws_code() == Some(ENTITY_ALREADY_EXISTS)) {
            return Err(err);
        }
        // An earlier attempt's answer was lost. If the user that exists now was created during
        // this request, that attempt made it and it is ours: carry on. Otherwise it belongs to
        // someone else (a deterministic username_template) and must never be touched.
        match created_since(iam, u.username, started).await {
            Some(true) => {
                tracing::info!(
                    username = u.username,
                    "CreateUser answer was lost; the user it created is ours"
                )
            }
            Some(false) => return Err(err.not_ours()),
            // Cannot tell: most likely ours (default names carry 20 random characters), so
            // let the caller's cleanup and the WAL treat it as possibly created.
            None => return Err(err.maybe_ours()),
        }
    }
    tracing::debug!(username = u.username, path, "created IAM user");

    // The setup calls only need the user to exist, so they run side by side. Every one runs to
    // its end before the outcome is read, and the error reported is that of the earliest step
    // in Vault's order, so the message is Vault's whenever one step fails. The key comes only
    // after all of them succeeded, as in Vault: a user whose setup failed never gets a key.
    let mut steps: Vec<BoxFuture<'_, Result<(), IamError>>> = Vec::new();
    for arn in u.policy_arns {
        steps.push(
            async move {
                on_new_user(
                    u.username,
                    IssueStep::AttachUserPolicy,
                    metrics,
                    move || {
                        iam.attach_user_policy()
                            .user_name(u.username)
                            .policy_arn(arn)
                            .send()
                    },
                )
                .await?;
                Ok(())
            }
            .boxed(),
        );
    }
    if let Some((name, document)) = u.inline_policy {
        steps.push(
            async move {
                on_new_user(u.username, IssueStep::PutUserPolicy, metrics, move || {
                    iam.put_user_policy()
                        .user_name(u.username)
                        .policy_name(name)
                        .policy_document(document)
                        .send()
                })
                .await?;
                Ok(())
            }
            .boxed(),
        );
    }
    for group in u.groups {
        steps.push(
            async move {
                on_new_user(u.username, IssueStep::AddUserToGroup, metrics, move || {
                    iam.add_user_to_group()
                        .user_name(u.username)
                        .group_name(group)
                        .send()
                })
                .await?;
                Ok(())
            }
            .boxed(),
        );
    }
    let outcomes: Vec<Result<(), IamError>> = stream::iter(steps)
        .buffered(ISSUE_CONCURRENCY)
        .collect()
        .await;
    outcomes.into_iter().collect::<Result<(), IamError>>()?;

    let key = create_access_key_once(iam, u.username, Some(&[]), metrics).await?;
    tracing::debug!(
        username = u.username,
        access_key_id = %key.access_key_id,
        "created access key"
    );
    Ok(key)
}
