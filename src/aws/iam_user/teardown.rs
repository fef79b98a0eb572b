//! Deleting an IAM user completely, on revoke and on WAL rollback.
//!
//! Deliberately goes further than Vault (hashicorp/vault#16685): Vault lists only the first 1000
//! items of four kinds and so cannot delete a user that someone gave a console password, MFA
//! device, SSH key, signing certificate or service-specific credential; AWS then refuses
//! `DeleteUser` and the user outlives its lease. Here every list is read to its last page and
//! every kind of attachment that blocks `DeleteUser` is removed. A failed revoke is retried by
//! the server, which re-runs the whole teardown: it is idempotent because `NoSuchEntity` always
//! counts as done.

use std::future::Future;

use aws_sdk_iam::config::retry::RetryConfig;
use aws_sdk_iam::Client;
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use futures::FutureExt;

use crate::aws::aws_error::AwsFailure;
use crate::aws::metrics::BestEffortCall;
use crate::aws::pages::{collect_pages, iam_page, Page, PageError};

use super::error::IamError;

/// Page size for every IAM list call. 1000 is IAM's maximum, so a dynamic user (a handful of
/// policies and groups) is read in one round trip per list, like Vault; pagination only matters
/// for users that were changed by hand.
pub(crate) const DEFAULT_PAGE_SIZE: i32 = 1000;

/// How many IAM calls one teardown keeps in flight. Small on purpose: it makes revoke of a user
/// with a few attachments take a couple of round trips instead of a dozen, while staying far
/// below IAM's per-account request rate so that mass revocations do not trigger throttling.
pub(crate) const TEARDOWN_CONCURRENCY: usize = 4;

/// How a teardown ended, so the caller can apply Vault's rule that a lease younger than five
/// minutes whose user "does not exist" is an error (IAM may not show a just-created user yet;
/// hashicorp/vault#5190), while an older lease or a WAL rollback counts it as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserGone {
    /// The user existed and has now been deleted.
    Deleted,
    /// The very first call answered `NoSuchEntity`: nothing was there to delete.
    AlreadyAbsent,
}

/// What a user this engine created is known to hold, from its lease: enough to delete it
/// without listing anything first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Holdings<'a> {
    /// The access key the lease handed out.
    pub(crate) access_key_id: &'a str,
    /// Managed policies attached at issue.
    pub(crate) policy_arns: &'a [String],
    /// The inline policy's name (the Vault role's name), when the role had a document.
    pub(crate) inline_policy: Option<&'a str>,
    /// Groups joined at issue.
    pub(crate) groups: &'a [String],
}

/// Deletes a user this engine created, removing what its lease says it holds and then the user:
/// usually as few calls as a user has items, plus one, instead of the eleven lists and deletes of
/// [`delete_user`]. Each IAM call counts against the account's rate limit, which decides how
/// fast a mass revocation can go (hashicorp/vault#2735). Nothing is assumed: if any of those
/// calls fails for a reason other than "already gone", or `DeleteUser` refuses (someone added a
/// key, a password, a policy...), the user is torn down completely by [`delete_user`], which
/// lists everything. So the result is the same as [`delete_user`]'s, never less complete.
pub(crate) async fn delete_known_user(
    iam: &Client,
    username: &str,
    held: &Holdings<'_>,
) -> Result<UserGone, IamError> {
    let t = Teardown {
        iam,
        username,
        page_size: DEFAULT_PAGE_SIZE,
    };
    let mut actions = vec![Action::DeleteAccessKey(held.access_key_id.to_owned())];
    actions.extend(
        held.policy_arns
            .iter()
            .cloned()
            .map(Action::DetachUserPolicy),
    );
    actions.extend(
        held.inline_policy
            .map(|name| Action::DeleteUserPolicy(name.to_owned())),
    );
    actions.extend(held.groups.iter().cloned().map(Action::RemoveUserFromGroup));
    let outcomes: Vec<Result<(), AwsFailure>> = stream::iter(actions)
        .map(|a| {
            let t = &t;
            async move { a.run(t).await }
        })
        .buffer_unordered(TEARDOWN_CONCURRENCY)
        .collect()
        .await;
    let mut removed_any = false;
    let mut clean = true;
    for outcome in outcomes {
        match outcome {
            Ok(()) => removed_any = true,
            Err(f) if f.is_no_such_entity() => {}
            Err(f) => {
                tracing::debug!(username, error = %f.text, "a known item could not be removed; tearing the user down completely");
                clean = false;
            }
        }
    }
    if clean {
        match iam.delete_user().user_name(username).send().await {
            Ok(_) => {
                tracing::debug!(username, "deleted IAM user");
                return Ok(UserGone::Deleted);
            }
            Err(e) => {
                let f = AwsFailure::from_sdk(&e);
                if f.is_no_such_entity() {
                    return Ok(if removed_any {
                        UserGone::Deleted
                    } else {
                        UserGone::AlreadyAbsent
                    });
                }
                tracing::debug!(username, error = %f.text, "DeleteUser refused; tearing the user down completely");
            }
        }
    }
    delete_user(iam, username).await
}

/// Deletes a user completely, reading every list with [`DEFAULT_PAGE_SIZE`].
///
/// Returns only when the user is gone: `Ok` means `DeleteUser` succeeded or the user did not
/// exist; any failure is an error so the server retries the revocation. See
/// [`delete_user_paged`] for the order and the rules.
pub(crate) async fn delete_user(iam: &Client, username: &str) -> Result<UserGone, IamError> {
    delete_user_paged(iam, username, DEFAULT_PAGE_SIZE).await
}

/// [`delete_user`] with an explicit page size (tests use 1 to exercise pagination).
///
/// Order:
/// 1. `ListAccessKeys` first: it doubles as the existence check (`NoSuchEntity` here gives
///    [`UserGone::AlreadyAbsent`]) and needs no permission beyond Vault's documented policy.
/// 2. The other lists, concurrently: MFA devices, SSH public keys, signing certificates,
///    service-specific credentials, attached policies, inline policies, groups.
/// 3. Every deletion, concurrently (bounded), access keys first so the lease holder's access
///    ends as early as possible; the login profile is deleted blind (there is no list for it).
/// 4. `DeleteUser`.
///
/// `NoSuchEntity` from any step means that item (or the user) is already gone and counts as
/// done. Failures of Vault's own steps (access keys, policies, groups) are errors. The steps
/// Vault never made (login profile, MFA, SSH keys, signing certificates, service-specific
/// credentials) are best effort: a root policy written from Vault's docs lacks their
/// permissions, and some AWS-compatible endpoints do not implement them (moto has no
/// service-specific credentials), yet users this engine creates never have such items. Skipping
/// them cannot leak a user silently, because AWS refuses `DeleteUser` with `DeleteConflict`
/// while any of them remains; that error then names the skipped steps.
pub(crate) async fn delete_user_paged(
    iam: &Client,
    username: &str,
    page_size: i32,
) -> Result<UserGone, IamError> {
    let t = Teardown {
        iam,
        username,
        page_size: page_size.clamp(1, DEFAULT_PAGE_SIZE),
    };

    let keys = match t.list_access_keys().await? {
        Listed::Items(keys) => keys,
        Listed::UserMissing {
            on_first_page: true,
        } => {
            tracing::debug!(username, "IAM user already absent");
            return Ok(UserGone::AlreadyAbsent);
        }
        // Deleted under us between two pages: carry on, DeleteUser will confirm.
        Listed::UserMissing { .. } => Vec::new(),
    };

    let mut actions: Vec<Action> = keys.into_iter().map(Action::DeleteAccessKey).collect();
    actions.push(Action::DeleteLoginProfile);

    let lists: Vec<BoxFuture<'_, ListResult>> = vec![
        t.list_mfa_devices().boxed(),
        t.list_ssh_public_keys().boxed(),
        t.list_signing_certificates().boxed(),
        t.list_service_specific_credentials().boxed(),
        t.list_attached_policies().boxed(),
        t.list_inline_policies().boxed(),
        t.list_groups().boxed(),
    ];
    let listed: Vec<ListResult> = stream::iter(lists)
        .buffer_unordered(TEARDOWN_CONCURRENCY)
        .collect()
        .await;

    let mut errors: Vec<IamError> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for result in listed {
        match result {
            ListResult::Actions(found) => actions.extend(found),
            ListResult::BestEffortFailed(e) => {
                tracing::warn!(username, error = %e, "skipping best-effort teardown step");
                skipped.push(short_failure(&e));
            }
            ListResult::Failed(e) => errors.push(e),
        }
    }

    // Keys first: buffer_unordered starts futures in order.
    actions.sort_by_key(Action::priority);
    let outcomes: Vec<(Action, Result<(), AwsFailure>)> = stream::iter(actions)
        .map(|a| async {
            let r = a.run(&t).await;
            (a, r)
        })
        .buffer_unordered(TEARDOWN_CONCURRENCY)
        .collect()
        .await;
    for (action, result) in outcomes {
        let Err(failure) = result else { continue };
        if failure.is_no_such_entity() {
            continue;
        }
        let e = IamError::Teardown {
            call: action.call(),
            username: username.to_owned(),
            subject: action.subject().map(str::to_owned),
            failure,
            skipped: Vec::new(),
        };
        if action.best_effort() {
            tracing::warn!(username, error = %e, "best-effort teardown step failed");
            skipped.push(short_failure(&e));
        } else {
            errors.push(e);
        }
    }

    // A strict step failed: the user still has something DeleteUser would refuse; report the
    // first failure (the server retries the whole teardown) and log the rest.
    let mut errors = errors.into_iter();
    if let Some(first) = errors.next() {
        for extra in errors {
            tracing::warn!(username, error = %extra, "further teardown failure");
        }
        return Err(first);
    }

    match iam.delete_user().user_name(username).send().await {
        Ok(_) => {
            tracing::debug!(username, "deleted IAM user");
            Ok(UserGone::Deleted)
        }
        Err(e) => {
            let failure = AwsFailure::from_sdk(&e);
            if failure.is_no_such_entity() {
                Ok(UserGone::Deleted)
            } else {
                Err(IamError::Teardown {
                    call: "DeleteUser",
                    username: username.to_owned(),
                    subject: None,
                    failure,
                    skipped,
                })
            }
        }
    }
}

/// Config override for the best-effort calls that usually find nothing (the lists of kinds this
/// engine never creates, and the blind `DeleteLoginProfile`): no SDK retries. Retrying them buys
/// nothing, since a failure only skips the step and `DeleteUser` still refuses while anything
/// is left, and it costs seconds of backoff per revoke on endpoints that answer them with a 5xx
/// (moto does not implement `ListServiceSpecificCredentials`). Marked best effort so that such a
/// failure counts as `outcome="skipped"` in the call metrics, not as an error.
fn no_retry() -> aws_sdk_iam::config::Builder {
    aws_sdk_iam::config::Builder::default()
        .retry_config(RetryConfig::disabled())
        .interceptor(BestEffortCall)
}

/// `<call> [subject]: <text>` of a teardown error, for the `skipped` list.
fn short_failure(e: &IamError) -> String {
    match e {
        IamError::Teardown {
            call,
            subject,
            failure,
            ..
        } => match subject {
            Some(s) => format!("{call} {s}: {}", failure.text),
            None => format!("{call}: {}", failure.text),
        },
        other => other.to_string(),
    }
}

/// Whether a virtual MFA device's serial: `arn:aws:iam::<account>:mfa/<name>` (any partition).
/// Hardware tokens have plain serials and FIDO keys `...:u2f/...` ARNs; those disappear with
/// deactivation and have no delete call.
fn is_virtual_mfa_serial(serial: &str) -> bool {
    serial.starts_with("arn:") && serial.contains(":mfa/")
}

/// All pages of a list call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Listed<T> {
    Items(Vec<T>),
    /// The user does not exist (any more); nothing of this kind is left.
    UserMissing {
        on_first_page: bool,
    },
}

/// Reads every page of the list call `call` about `username`, as [`collect_pages`] does, with
/// the teardown's meaning of its failures: `NoSuchEntity` says the user is gone (and on which
/// page), any other failure is an [`IamError::Teardown`] naming the call.
pub(crate) async fn list_all<T, F, Fut>(
    call: &'static str,
    username: &str,
    fetch: F,
) -> Result<Listed<T>, IamError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>, AwsFailure>>,
{
    match collect_pages(fetch).await {
        Ok(items) => Ok(Listed::Items(items)),
        Err(PageError::Aws { failure, page }) if failure.is_no_such_entity() => {
            Ok(Listed::UserMissing {
                on_first_page: page == 0,
            })
        }
        Err(PageError::Aws { failure, .. }) => Err(IamError::Teardown {
            call,
            username: username.to_owned(),
            subject: None,
            failure,
            skipped: Vec::new(),
        }),
        Err(PageError::Broken(reason)) => Err(IamError::Pagination {
            call,
            username: username.to_owned(),
            reason,
        }),
    }
}

/// What one of the concurrent lists produced.
enum ListResult {
    Actions(Vec<Action>),
    /// A best-effort list failed; its items (if any) will make `DeleteUser` conflict.
    BestEffortFailed(IamError),
    Failed(IamError),
}

/// One deletion of the teardown.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    DeleteAccessKey(String),
    DeleteLoginProfile,
    /// Deactivate, then delete the device if it is virtual.
    RemoveMfaDevice(String),
    DeleteSshPublicKey(String),
    DeleteSigningCertificate(String),
    DeleteServiceSpecificCredential(String),
    DetachUserPolicy(String),
    DeleteUserPolicy(String),
    RemoveUserFromGroup(String),
}

impl Action {
    fn call(&self) -> &'static str {
        match self {
            Self::DeleteAccessKey(_) => "DeleteAccessKey",
            Self::DeleteLoginProfile => "DeleteLoginProfile",
            Self::RemoveMfaDevice(_) => "DeactivateMFADevice",
            Self::DeleteSshPublicKey(_) => "DeleteSSHPublicKey",
            Self::DeleteSigningCertificate(_) => "DeleteSigningCertificate",
            Self::DeleteServiceSpecificCredential(_) => "DeleteServiceSpecificCredential",
            Self::DetachUserPolicy(_) => "DetachUserPolicy",
            Self::DeleteUserPolicy(_) => "DeleteUserPolicy",
            Self::RemoveUserFromGroup(_) => "RemoveUserFromGroup",
        }
    }

    fn subject(&self) -> Option<&str> {
        match self {
            Self::DeleteLoginProfile => None,
            Self::DeleteAccessKey(s)
            | Self::RemoveMfaDevice(s)
            | Self::DeleteSshPublicKey(s)
            | Self::DeleteSigningCertificate(s)
            | Self::DeleteServiceSpecificCredential(s)
            | Self::DetachUserPolicy(s)
            | Self::DeleteUserPolicy(s)
            | Self::RemoveUserFromGroup(s) => Some(s),
        }
    }

    /// Steps Vault never made; see [`delete_user_paged`] for why they may fail softly.
    fn best_effort(&self) -> bool {
        matches!(
            self,
            Self::DeleteLoginProfile
                | Self::RemoveMfaDevice(_)
                | Self::DeleteSshPublicKey(_)
                | Self::DeleteSigningCertificate(_)
                | Self::DeleteServiceSpecificCredential(_)
        )
    }

    /// Access keys first: they are what the lease holder uses.
    fn priority(&self) -> u8 {
        match self {
            Self::DeleteAccessKey(_) => 0,
            Self::DeleteLoginProfile => 1,
            _ => 2,
        }
    }

    async fn run(&self, t: &Teardown<'_>) -> Result<(), AwsFailure> {
        let (iam, user) = (t.iam, t.username);
        match self {
            Self::DeleteAccessKey(id) => iam
                .delete_access_key()
                .user_name(user)
                .access_key_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsFailure::from_sdk(&e)),
            Self::DeleteLoginProfile => iam
                .delete_login_profile()
                .user_name(user)
                .customize()
                .config_override(no_retry())
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsFailure::from_sdk(&e)),
            Self::RemoveMfaDevice(serial) => {
                iam.deactivate_mfa_device()
                    .user_name(user)
                    .serial_number(serial)
                    .send()
                    .await
                    .map_err(|e| AwsFailure::from_sdk(&e))?;
                if is_virtual_mfa_serial(serial) {
                    // Once deactivated the device belongs to nobody and no longer blocks
                    // DeleteUser, and a retried revoke would not find it again (ListMFADevices
                    // shows assigned devices only); so a failure here is only logged.
                    if let Err(e) = iam
                        .delete_virtual_mfa_device()
                        .serial_number(serial)
                        .send()
                        .await
                    {
                        let f = AwsFailure::from_sdk(&e);
                        if !f.is_no_such_entity() {
                            tracing::warn!(
                                username = user,
                                serial = %serial,
                                error = %f.text,
                                "could not delete the user's virtual MFA device; it is unassigned"
                            );
                        }
                    }
                }
                Ok(())
            }
            Self::DeleteSshPublicKey(id) => iam
                .delete_ssh_public_key()
                .user_name(user)
                .ssh_public_key_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsFailure::from_sdk(&e)),
            Self::DeleteSigningCertificate(id) => iam
                .delete_signing_certificate()
                .user_name(user)
                .certificate_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsFailure::from_sdk(&e)),
            Self::DeleteServiceSpecificCredential(id) => iam
                .delete_service_specific_credential()
                .user_name(user)
                .service_specific_credential_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsFailure::from_sdk(&e)),
            Self::DetachUserPolicy(arn) => iam
                .detach_user_policy()
                .user_name(user)
                .policy_arn(arn)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsFailure::from_sdk(&e)),
            Self::DeleteUserPolicy(name) => iam
                .delete_user_policy()
                .user_name(user)
                .policy_name(name)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsFailure::from_sdk(&e)),
            Self::RemoveUserFromGroup(group) => iam
                .remove_user_from_group()
                .user_name(user)
                .group_name(group)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsFailure::from_sdk(&e)),
        }
    }
}

/// The list calls of one teardown.
pub(crate) struct Teardown<'a> {
    pub(crate) iam: &'a Client,
    pub(crate) username: &'a str,
    pub(crate) page_size: i32,
}

impl Teardown<'_> {
    /// Turns a finished list into actions; `best_effort` decides how a failure is filed.
    fn to_actions<T>(
        &self,
        listed: Result<Listed<T>, IamError>,
        best_effort: bool,
        action: impl Fn(T) -> Option<Action>,
    ) -> ListResult {
        match listed {
            Ok(Listed::Items(items)) => {
                ListResult::Actions(items.into_iter().filter_map(action).collect())
            }
            Ok(Listed::UserMissing { .. }) => ListResult::Actions(Vec::new()),
            Err(e) if best_effort => ListResult::BestEffortFailed(e),
            Err(e) => ListResult::Failed(e),
        }
    }

    /// Every access key of the user with what ListAccessKeys says of it (id, CreateDate).
    pub(crate) async fn list_access_key_metadata(
        &self,
    ) -> Result<Listed<aws_sdk_iam::types::AccessKeyMetadata>, IamError> {
        list_all("ListAccessKeys", self.username, |marker| async move {
            iam_page!(
                self.iam
                    .list_access_keys()
                    .user_name(self.username)
                    .max_items(self.page_size)
                    .set_marker(marker),
                access_key_metadata
            )
        })
        .await
    }

    /// The ids of every access key of the user.
    pub(crate) async fn list_access_keys(&self) -> Result<Listed<String>, IamError> {
        Ok(match self.list_access_key_metadata().await? {
            Listed::Items(keys) => Listed::Items(
                keys.into_iter()
                    .filter_map(|k| {
                        if k.access_key_id.is_none() {
                            // Cannot be deleted by id; DeleteUser will conflict and say so.
                            tracing::warn!(username = self.username, "access key without id");
                        }
                        k.access_key_id
                    })
                    .collect(),
            ),
            Listed::UserMissing { on_first_page } => Listed::UserMissing { on_first_page },
        })
    }

    async fn list_mfa_devices(&self) -> ListResult {
        let listed = list_all("ListMFADevices", self.username, |marker| async move {
            iam_page!(
                self.iam
                    .list_mfa_devices()
                    .user_name(self.username)
                    .max_items(self.page_size)
                    .set_marker(marker)
                    .customize()
                    .config_override(no_retry()),
                mfa_devices
            )
        })
        .await;
        self.to_actions(listed, true, |d| {
            Some(Action::RemoveMfaDevice(d.serial_number))
        })
    }

    async fn list_ssh_public_keys(&self) -> ListResult {
        let listed = list_all("ListSSHPublicKeys", self.username, |marker| async move {
            iam_page!(
                self.iam
                    .list_ssh_public_keys()
                    .user_name(self.username)
                    .max_items(self.page_size)
                    .set_marker(marker)
                    .customize()
                    .config_override(no_retry()),
                ssh_public_keys
            )
        })
        .await;
        self.to_actions(listed, true, |k| {
            Some(Action::DeleteSshPublicKey(k.ssh_public_key_id))
        })
    }

    async fn list_signing_certificates(&self) -> ListResult {
        let listed = list_all(
            "ListSigningCertificates",
            self.username,
            |marker| async move {
                iam_page!(
                    self.iam
                        .list_signing_certificates()
                        .user_name(self.username)
                        .max_items(self.page_size)
                        .set_marker(marker)
                        .customize()
                        .config_override(no_retry()),
                    certificates
                )
            },
        )
        .await;
        self.to_actions(listed, true, |c| {
            Some(Action::DeleteSigningCertificate(c.certificate_id))
        })
    }

    async fn list_service_specific_credentials(&self) -> ListResult {
        let listed = list_all(
            "ListServiceSpecificCredentials",
            self.username,
            |marker| async move {
                iam_page!(
                    self.iam
                        .list_service_specific_credentials()
                        .user_name(self.username)
                        .max_items(self.page_size)
                        .set_marker(marker)
                        .customize()
                        .config_override(no_retry()),
                    service_specific_credentials
                )
            },
        )
        .await;
        self.to_actions(listed, true, |c| {
            Some(Action::DeleteServiceSpecificCredential(
                c.service_specific_credential_id,
            ))
        })
    }

    async fn list_attached_policies(&self) -> ListResult {
        let listed = list_all(
            "ListAttachedUserPolicies",
            self.username,
            |marker| async move {
                iam_page!(
                    self.iam
                        .list_attached_user_policies()
                        .user_name(self.username)
                        .max_items(self.page_size)
                        .set_marker(marker),
                    attached_policies
                )
            },
        )
        .await;
        self.to_actions(listed, false, |p| {
            p.policy_arn.map(Action::DetachUserPolicy)
        })
    }

    async fn list_inline_policies(&self) -> ListResult {
        let listed = list_all("ListUserPolicies", self.username, |marker| async move {
            iam_page!(
                self.iam
                    .list_user_policies()
                    .user_name(self.username)
                    .max_items(self.page_size)
                    .set_marker(marker),
                policy_names
            )
        })
        .await;
        self.to_actions(listed, false, |name| Some(Action::DeleteUserPolicy(name)))
    }

    async fn list_groups(&self) -> ListResult {
        let listed = list_all("ListGroupsForUser", self.username, |marker| async move {
            iam_page!(
                self.iam
                    .list_groups_for_user()
                    .user_name(self.username)
                    .max_items(self.page_size)
                    .set_marker(marker),
                groups
            )
        })
        .await;
        self.to_actions(listed, false, |g| {
            Some(Action::RemoveUserFromGroup(g.group_name))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::aws_error::NO_SUCH_ENTITY;

    #[test]
    fn virtual_mfa_serials() {
        assert!(is_virtual_mfa_serial("arn:aws:iam::123456789012:mfa/alice"));
        assert!(is_virtual_mfa_serial(
            "arn:aws-us-gov:iam::123456789012:mfa/path/alice"
        ));
        assert!(!is_virtual_mfa_serial("GAHT12345678"));
        assert!(!is_virtual_mfa_serial(
            "arn:aws:iam::123456789012:u2f/user/alice/key-1"
        ));
    }

    fn page(items: &[u32], marker: Option<&str>) -> Result<Page<u32>, AwsFailure> {
        Ok(Page {
            items: items.to_vec(),
            is_truncated: marker.is_some(),
            marker: marker.map(str::to_owned),
        })
    }

    fn no_such_entity() -> Result<Page<u32>, AwsFailure> {
        Err(AwsFailure {
            text: "NoSuchEntity: gone".into(),
            code: Some(NO_SUCH_ENTITY.into()),
            throttled: false,
            definitive: true,
        })
    }

    /// Serves `pages` in order and records the marker each call was given.
    async fn run_pages(
        pages: Vec<Result<Page<u32>, AwsFailure>>,
    ) -> (Result<Listed<u32>, IamError>, Vec<Option<String>>) {
        let mut pages = pages.into_iter();
        let mut seen = Vec::new();
        let r = list_all("ListThings", "u", |marker| {
            seen.push(marker);
            let next = pages.next();
            async move { next.unwrap_or_else(|| page(&[], None)) }
        })
        .await;
        (r, seen)
    }

    #[tokio::test]
    async fn pages_are_followed_by_marker() {
        let (r, seen) = run_pages(vec![
            page(&[1, 2], Some("m1")),
            page(&[3], Some("m2")),
            page(&[4], None),
        ])
        .await;
        assert_eq!(r.expect("listed"), Listed::Items(vec![1, 2, 3, 4]));
        assert_eq!(seen, vec![None, Some("m1".into()), Some("m2".into())]);
    }

    #[tokio::test]
    async fn no_such_entity_is_reported_with_its_page() {
        let (r, _) = run_pages(vec![no_such_entity()]).await;
        assert_eq!(
            r.expect("listed"),
            Listed::UserMissing {
                on_first_page: true
            }
        );
        let (r, _) = run_pages(vec![page(&[1], Some("m1")), no_such_entity()]).await;
        assert_eq!(
            r.expect("listed"),
            Listed::UserMissing {
                on_first_page: false
            }
        );
    }

    #[tokio::test]
    async fn broken_pagination_is_an_error() {
        let truncated_without_marker = Ok(Page {
            items: vec![1],
            is_truncated: true,
            marker: None,
        });
        let (r, _) = run_pages(vec![truncated_without_marker]).await;
        let e = r.expect_err("must fail");
        assert!(e.to_string().contains("truncated but has no marker"), "{e}");
        assert_eq!(e.status(), 500);

        let (r, _) = run_pages(vec![page(&[1], Some("m")), page(&[2], Some("m"))]).await;
        assert!(r
            .expect_err("must fail")
            .to_string()
            .contains("same marker"));
    }

    #[tokio::test]
    async fn other_list_errors_are_teardown_errors() {
        let denied = Err(AwsFailure {
            text: "AccessDenied: not allowed".into(),
            code: Some("AccessDenied".into()),
            throttled: false,
            definitive: true,
        });
        let (r, _) = run_pages(vec![denied]).await;
        let e = r.expect_err("must fail");
        assert_eq!(e.call(), "ListThings");
        assert_eq!(e.aws_code(), Some("AccessDenied"));
        assert_eq!(
            e.to_string(),
            "error deleting IAM user \"u\": ListThings: AccessDenied: not allowed"
        );
    }

    #[test]
    fn keys_are_deleted_first() {
        let mut actions = [
            Action::RemoveUserFromGroup("g".into()),
            Action::DeleteLoginProfile,
            Action::DeleteAccessKey("k".into()),
        ];
        actions.sort_by_key(Action::priority);
        assert_eq!(actions[0], Action::DeleteAccessKey("k".into()));
        assert_eq!(actions[1], Action::DeleteLoginProfile);
    }
}
