//! The `iam_user` credential type: one new IAM user with one access key per lease.
//!
//! This folder owns the user's whole life: issue under a write-ahead entry, the undo of a
//! half-made user, the WAL rollback, and the complete teardown on revoke. Issue is guarded by a
//! WAL entry written before the user exists and removed only once the lease owns the user, so a
//! failure at any step (an AWS error, a crash, a restart) ends with the user deleted: at once
//! when we can, else by the rollback.

mod create;
mod error;
mod keys;
pub(crate) mod record;
mod retry;
mod teardown;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::framework::storage::Storage;
use crate::framework::{wal, Error};

use super::metrics::Metrics;

use create::{create_user_with_key, NewUser};
pub(crate) use error::IamError;
pub(crate) use keys::{
    create_access_key_once, delete_access_key, list_access_key_ids, list_dated_access_keys,
    wait_until_usable, AccessKeyPair, DatedKey, NEW_KEY_DEADLINE,
};
pub(crate) use teardown::{delete_known_user, delete_user, Holdings, UserGone};

/// WAL kind of a user being created (the Go plugin's name, so its entries roll back here).
pub(crate) const WAL_KIND_USER: &str = "user";

/// The tag every user this engine creates carries, with the mount's UUID as its value: how the
/// orphan sweep tells the mount's users from hand-made ones and other mounts' (documented in
/// the README).
pub(crate) const MOUNT_TAG_KEY: &str = "vault-secrets-aws-mount";

/// What the role asks of a new user.
pub(crate) struct UserSpec<'a> {
    /// The Vault role's name: the inline policy's name, as in Vault.
    pub(crate) role_name: &'a str,
    /// IAM path for the user; `""` means `/`.
    pub(crate) path: &'a str,
    pub(crate) permissions_boundary_arn: &'a str,
    pub(crate) policy_arns: &'a [String],
    /// JSON policy document; `""` means none.
    pub(crate) policy_document: &'a str,
    pub(crate) groups: &'a [String],
    pub(crate) tags: &'a BTreeMap<String, String>,
    /// The mount's UUID, the value of [`MOUNT_TAG_KEY`].
    pub(crate) mount_uuid: &'a str,
    /// The lease the user will be issued under, for its record.
    pub(crate) lease: Duration,
}

/// A user created for a lease, now owned by the caller's lease.
#[derive(Debug)]
pub(crate) struct IssuedUser {
    pub(crate) username: String,
    pub(crate) key: AccessKeyPair,
}

/// Creates user `username` as `spec` asks, under a WAL entry, and returns it with its key.
/// `cap_turn`, the role's turn under `max_active_credentials`, is given back as soon as the
/// user's record is written: from then on the user counts toward the cap.
///
/// On failure the half-made user is deleted now when AWS confirms it, and otherwise left to the
/// rollback of the WAL entry; either way no user outlives the request unowned.
pub(crate) async fn issue<T>(
    storage: &Storage,
    iam: &aws_sdk_iam::Client,
    metrics: &Metrics,
    username: String,
    spec: &UserSpec<'_>,
    cap_turn: Option<T>,
) -> Result<IssuedUser, Error> {
    let phase =
        |name: &'static str, started: Instant| metrics.issue_phase("iam_user", name, started);
    let started = Instant::now();
    // The WAL entry and the user's record are written side by side: both before the user exists,
    // in one round trip's time.
    let (wal_id, recorded) = tokio::join!(
        wal::put(
            storage,
            WAL_KIND_USER,
            json!({ "UserName": username, "Role": spec.role_name })
        ),
        record::put(storage, spec.role_name, &username, spec.lease),
    );
    drop(cap_turn);
    let wal_id = match (wal_id, recorded) {
        (Ok(id), Ok(())) => id,
        (wal_id, recorded) => {
            let e = wal_id.as_ref().err().or(recorded.as_ref().err());
            let text = e.map(ToString::to_string).unwrap_or_default();
            if let Ok(id) = wal_id {
                let _ = wal::delete(storage, &id).await;
            }
            let _ = record::delete(storage, spec.role_name, &username).await;
            return Err(Error::internal(format!("error writing WAL entry: {text}")));
        }
    };
    phase("wal_put", started);
    let new_user = NewUser {
        username: &username,
        path: spec.path,
        permissions_boundary_arn: spec.permissions_boundary_arn,
        policy_arns: spec.policy_arns,
        inline_policy: (!spec.policy_document.is_empty())
            .then_some((spec.role_name, spec.policy_document)),
        groups: spec.groups,
        tags: spec.tags,
        mount_tag: (MOUNT_TAG_KEY, spec.mount_uuid),
    };
    let started = Instant::now();
    let key = match create_user_with_key(iam, &new_user, Some(metrics)).await {
        Ok(k) => k,
        Err(e) => {
            undo_half_created_user(storage, iam, &wal_id, spec.role_name, &username, &e).await;
            return Err(e.into());
        }
    };
    phase("aws", started);
    let started = Instant::now();
    if let Err(e) = wal::delete(storage, &wal_id).await {
        // The user stays covered by the WAL entry and will be rolled back, so the key must not
        // be handed out.
        return Err(Error::internal(format!("failed to commit WAL entry: {e}")));
    }
    phase("wal_delete", started);
    Ok(IssuedUser { username, key })
}

/// After a failed issue: when AWS definitively refused CreateUser there is nothing in AWS, so
/// the WAL entry goes. Otherwise the user may exist: delete it now and drop the entry only if
/// AWS confirms the deletion (a "no such user" seconds after CreateUser may be IAM lagging, so
/// the entry stays for rollback).
async fn undo_half_created_user(
    storage: &Storage,
    iam: &aws_sdk_iam::Client,
    wal_id: &str,
    role_name: &str,
    username: &str,
    cause: &IamError,
) {
    // A CreateUser refused with EntityAlreadyExists is definitive: the user is someone else's
    // (create_user_with_key adopts the one a lost attempt made).
    let user_may_exist = cause.call() != "CreateUser" || !cause.is_definitive();
    if user_may_exist {
        match delete_user(iam, username).await {
            Ok(UserGone::Deleted) => {}
            Ok(UserGone::AlreadyAbsent) => {
                tracing::warn!(username = %username, "half-created user not visible yet; rollback will delete it");
                return;
            }
            Err(e) => {
                tracing::warn!(username = %username, error = %e, "could not delete half-created user; rollback will retry");
                return;
            }
        }
    }
    // The record goes first: a record without a WAL entry and without a user is only a stale
    // line the sweep removes, while a WAL entry without its record is still rolled back.
    if let Err(e) = record::delete(storage, role_name, username).await {
        tracing::warn!(username = %username, error = %e, "could not delete the user's record after cleanup; rollback will finish it");
        return;
    }
    if let Err(e) = wal::delete(storage, wal_id).await {
        tracing::warn!(wal_id = %wal_id, error = %e, "could not delete WAL entry after cleanup; rollback will finish it");
    }
}

/// WAL rollback of [`WAL_KIND_USER`]: delete a user whose issue did not complete.
pub(crate) async fn rollback(
    storage: &Storage,
    iam: &aws_sdk_iam::Client,
    data: &Value,
) -> Result<(), Error> {
    let username = data
        .get("UserName")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| Error::internal("WAL entry has no UserName"))?;
    delete_user(iam, username)
        .await
        .map_err(|e| Error::internal(e.to_string()))?;
    // Entries written by the Go plugin or before records existed name no role.
    if let Some(role) = data.get("Role").and_then(Value::as_str) {
        record::delete(storage, role, username)
            .await
            .map_err(|e| Error::internal(e.to_string()))?;
    }
    tracing::info!(username = %username, "rolled back half-created IAM user");
    Ok(())
}
