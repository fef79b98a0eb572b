//! Rotating a static role's access key, and the WAL rollback of a rotation cut short.
//!
//! A user holding two keys first has its oldest retired (`retire.rs`, as Vault does). Creating
//! the key is then guarded by a WAL entry that records the keys left on the user, so a crash
//! between `CreateAccessKey` and storing the key never leaves a key nobody tracks. The new key is
//! created (and in single-key mode verified and the old one deleted) before it is stored, and
//! the next rotation time is stored with it.

use std::time::SystemTime;

use serde_json::{json, Value};

use crate::aws::aws_error::aws_error_text;
use crate::aws::clients::{self, assumed_iam_client, AssumeTarget};
use crate::aws::iam_user::{
    create_access_key_once, delete_access_key, list_access_key_ids, list_dated_access_keys,
    wait_until_usable,
};
use crate::aws::AwsBackend;
use crate::framework::storage::Storage;
use crate::framework::{wal, Error};

use super::model::{load_creds, load_role, rfc3339, StaticCreds, StaticRole, CREDS_PREFIX};
use super::retire::{make_room, RetiredKey};

/// WAL kind of a static key being created.
pub(crate) const WAL_KIND_STATIC_KEY: &str = "static_key";

/// Why the IAM user of a static role is not the one the role manages; the texts are Vault's.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UserCheckError {
    /// `GetUser` failed (the user does not exist, or we may not read it).
    #[error("iam user didn't exist, or username/userid didn't match: {0}")]
    NotFound(String),
    #[error("AWS GetUser returned a username, but it didn't match: \"{requested}\" was requested, but \"{returned}\" was returned")]
    NameMismatch { requested: String, returned: String },
    #[error("AWS GetUser returned a user, but the ID did not match: \"{expected}\" was requested, but \"{returned}\" was returned")]
    IdMismatch { expected: String, returned: String },
    #[error("nil user returned from GetUser")]
    NoUser,
}

impl From<UserCheckError> for Error {
    fn from(e: UserCheckError) -> Self {
        match e {
            UserCheckError::NoUser => Error::Internal(e.to_string()),
            _ => Error::BadRequest(e.to_string()),
        }
    }
}

/// The IAM client a static role's calls go through: the mount's, or one made from AssumeRole
/// into `assume_role_arn` (never cached in the mount's slot).
pub(crate) async fn iam_for(
    backend: &AwsBackend,
    storage: &Storage,
    role: &StaticRole,
) -> Result<aws_sdk_iam::Client, Error> {
    let root = backend.clients(storage).await?;
    if role.assume_role_arn.is_empty() {
        return Ok(root.iam.clone());
    }
    let session = role.session_name();
    let target = AssumeTarget {
        role_arn: &role.assume_role_arn,
        session_name: &session,
        external_id: &role.external_id,
    };
    assumed_iam_client(&root, &target, &backend.call_context()).await
}

/// Checks the IAM user exists with the recorded id (`""` accepts any); returns its id.
pub(crate) async fn check_user(
    iam: &aws_sdk_iam::Client,
    username: &str,
    expected_id: &str,
) -> Result<String, UserCheckError> {
    let out = iam
        .get_user()
        .user_name(username)
        .send()
        .await
        .map_err(|e| UserCheckError::NotFound(aws_error_text(&e)))?;
    let user = out.user().ok_or(UserCheckError::NoUser)?;
    if user.user_name() != username {
        return Err(UserCheckError::NameMismatch {
            requested: username.to_string(),
            returned: user.user_name().to_string(),
        });
    }
    if !expected_id.is_empty() && user.user_id() != expected_id {
        return Err(UserCheckError::IdMismatch {
            expected: expected_id.to_string(),
            returned: user.user_id().to_string(),
        });
    }
    Ok(user.user_id().to_string())
}

async fn delete_key(iam: &aws_sdk_iam::Client, username: &str, key: &str) -> Result<(), String> {
    delete_access_key(iam, username, key)
        .await
        .map_err(|f| f.text)
}

async fn list_keys(iam: &aws_sdk_iam::Client, username: &str) -> Result<Vec<String>, Error> {
    list_access_key_ids(iam, username)
        .await
        .map_err(|e| Error::internal(format!("error calling ListAccessKeys: {}", e.detail())))
}

/// What a rotation did: the stored credentials, and the key it retired to make room, if any.
#[derive(Debug)]
pub(crate) struct Rotated {
    pub(crate) creds: StaticCreds,
    pub(crate) retired: Option<RetiredKey>,
}

impl Rotated {
    /// The response warnings of the request that rotated.
    pub(crate) fn warnings(&self) -> Vec<String> {
        self.retired.iter().map(RetiredKey::warning).collect()
    }
}

/// Rotates `role` now, one rotation at a time per mount.
pub(crate) async fn rotate(
    backend: &AwsBackend,
    storage: &Storage,
    role: &StaticRole,
) -> Result<Rotated, Error> {
    let _one_at_a_time = backend.schedule.rotating.lock().await;
    rotate_locked(backend, storage, role).await
}

/// [`rotate`] for a caller that already holds the mount's rotation lock.
pub(crate) async fn rotate_locked(
    backend: &AwsBackend,
    storage: &Storage,
    role: &StaticRole,
) -> Result<Rotated, Error> {
    let iam = iam_for(backend, storage, role).await?;
    check_user(&iam, &role.username, &role.id).await?;
    let old = load_creds(storage, &role.name).await?.unwrap_or_default();

    // Keep at most two keys: drop the engine's previous key before making a new one.
    if !old.previous_access_key.is_empty() {
        delete_key(&iam, &role.username, &old.previous_access_key)
            .await
            .map_err(|e| Error::internal(format!("error deleting previous access key: {e}")))?;
    }
    let listed = list_dated_access_keys(&iam, &role.username)
        .await
        .map_err(|e| Error::internal(format!("error calling ListAccessKeys: {}", e.detail())))?;
    // Still no room (the user holds a key of its own besides ours, or two): make room as
    // Vault does by deleting the oldest key, whoever made it. `before` is what is left on
    // the user, so the WAL entry below knows every key that is not the new one.
    let (before, retired) = make_room(&iam, &role.username, listed, &old.access_key).await?;
    if let Some(r) = &retired {
        tracing::warn!(role = %role.name, username = %role.username, access_key = %r.id, was_current = r.was_current, "{}", r.warning());
    }
    let current_deleted = retired.as_ref().is_some_and(|r| r.was_current);
    let wal_id = wal::put(
        storage,
        WAL_KIND_STATIC_KEY,
        json!({"role": role.name, "username": role.username, "known_keys": before}),
    )
    .await
    .map_err(|e| Error::internal(format!("error writing WAL entry: {e}")))?;
    let key =
        match create_access_key_once(&iam, &role.username, Some(&before), Some(&backend.metrics))
            .await
        {
            Ok(k) => k,
            Err(e) => {
                if e.is_definitive() {
                    let _ = wal::delete(storage, &wal_id).await;
                }
                return Err(Error::internal(format!(
                    "error calling CreateAccessKey: {}",
                    e.detail()
                )));
            }
        };
    let mut next = StaticCreds {
        access_key: key.access_key_id.clone(),
        secret_key: key.secret_access_key.clone(),
        expiration: rfc3339(SystemTime::now() + role.period()),
        previous_access_key: if current_deleted {
            String::new()
        } else {
            old.access_key.clone()
        },
    };
    if role.single_key && !old.access_key.is_empty() && !current_deleted {
        let root = backend.clients(storage).await?;
        let fresh = clients::build_with_keys(
            &root.config,
            &next.access_key,
            &next.secret_key,
            &backend.call_context(),
        )
        .await?;
        let probe_iam = if role.assume_role_arn.is_empty() {
            fresh.iam
        } else {
            iam.clone()
        };
        wait_until_usable(&probe_iam, Some(&role.username))
            .await
            .map_err(|e| Error::internal(format!("new access key never became usable: {e}")))?;
        delete_key(&iam, &role.username, &old.access_key)
            .await
            .map_err(|e| Error::internal(format!("error deleting old access key: {e}")))?;
        next.previous_access_key.clear();
    }
    storage
        .put_json(&format!("{CREDS_PREFIX}{}", role.name), &next)
        .await
        .map_err(|e| Error::internal(format!("error saving new static credentials: {e}")))?;
    let _ = wal::delete(storage, &wal_id).await;
    backend.schedule(&role.name, SystemTime::now() + role.period());
    tracing::info!(role = %role.name, username = %role.username, access_key = %next.access_key, "static role rotated");
    Ok(Rotated {
        creds: next,
        retired,
    })
}

/// WAL rollback of [`WAL_KIND_STATIC_KEY`]: delete any key on the user that was not there
/// before and is not the one stored now.
pub(crate) async fn rollback_static_key(
    backend: &AwsBackend,
    storage: &Storage,
    data: &Value,
) -> Result<(), Error> {
    let name = data.get("role").and_then(Value::as_str).unwrap_or_default();
    let username = data
        .get("username")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let known: Vec<String> = data
        .get("known_keys")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let Some(role) = load_role(storage, name).await? else {
        return Ok(());
    };
    let stored = load_creds(storage, name).await?.unwrap_or_default();
    let iam = iam_for(backend, storage, &role).await?;
    for key in list_keys(&iam, username).await? {
        if !known.contains(&key) && key != stored.access_key && key != stored.previous_access_key {
            delete_key(&iam, username, &key)
                .await
                .map_err(Error::internal)?;
            tracing::info!(role = %name, access_key = %key, "rolled back an untracked static key");
        }
    }
    Ok(())
}
