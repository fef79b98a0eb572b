//! `config/rotate-root`, and the one rotation of the engine's own key that both this path and
//! the schedule (`root_rotation.rs`) run.
//!
//! Order matters so that no moment leaves the engine without a working key and no key is left
//! that nothing will clean up:
//! 1. a WAL entry records the user's keys before;
//! 2. the new key is created and proven to work (IAM is eventually consistent);
//! 3. `config/root` is stored with the new key, the next due time and the old key marked "to
//!    delete", in one write;
//! 4. the old key is deleted; a delete AWS refuses stays recorded in `config/root`, shows in reads
//!    and metrics, and is retried by the schedule (Vault only warns and forgets it).
//!
//! A crash or shutdown between 2 and 3 leaves the new key to the WAL rollback, which deletes
//! every key of the user that was not there before and is neither stored nor waiting for its
//! delete. Callers hold the mount's `rotation_lock`, as does the rollback.

use std::time::SystemTime;

use serde_json::{json, Value};

use crate::framework::storage::Storage;
use crate::framework::{handler, obj, wal, Ctx, Error, HandlerResult, Operation, Path, Response};
use crate::gocompat::time::rfc3339;

use super::aws_error::aws_error_text;
use super::clients;
use super::config_root::{PendingDelete, RootConfig, KEY};
use super::iam_user::{
    create_access_key_once, delete_access_key, list_access_key_ids, wait_until_usable, IamError,
    NEW_KEY_DEADLINE,
};
use super::metrics::ROOT_ROTATIONS;
use super::AwsBackend;

/// WAL kind of a root key being created.
pub(crate) const WAL_KIND_ROOT_KEY: &str = "root_key";

/// Who asked for a rotation: only automated failures count toward the schedule's backoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trigger {
    Manual,
    Scheduled,
}

/// What one rotation did.
#[derive(Debug)]
pub(crate) struct Rotated {
    /// The new access key id (never the secret).
    pub(crate) access_key: String,
    /// The old key and why AWS refused to delete it, when it did (the delete is retried).
    pub(crate) delete_failed: Option<(String, String)>,
}

/// Rotates the root key; the caller holds `backend.rotation_lock`. Counts the outcome and
/// records a failure in `config/root`, so reads show how the last rotation went.
pub(crate) async fn rotate_locked(
    backend: &AwsBackend,
    storage: &Storage,
    trigger: Trigger,
) -> Result<Rotated, Error> {
    let result = rotate(backend, storage).await;
    let label = if result.is_ok() { "success" } else { "error" };
    backend
        .metrics
        .add(ROOT_ROTATIONS, vec![("outcome", label.to_string())], 1);
    if let Err(e) = &result {
        record_failure(storage, &e.to_string(), trigger == Trigger::Scheduled).await;
    }
    result
}

async fn record_failure(storage: &Storage, error: &str, automated: bool) {
    let stored = match RootConfig::load(storage).await {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot record the failed root rotation");
            return;
        }
    };
    let mut cfg = stored;
    cfg.root_rotation
        .failed(SystemTime::now(), error, automated);
    if let Err(e) = storage.put_json(KEY, &cfg).await {
        tracing::warn!(error = %e, "cannot record the failed root rotation");
    }
}

async fn rotate(backend: &AwsBackend, storage: &Storage) -> Result<Rotated, Error> {
    let cfg = RootConfig::load(storage)
        .await?
        .ok_or_else(|| Error::internal("no configuration found for config/root"))?;
    if cfg.access_key.is_empty() || cfg.secret_key.is_empty() {
        return Err(Error::bad(
            "Cannot call config/rotate-root when either access_key or secret_key is empty",
        ));
    }
    let calls = backend.call_context();
    let old = clients::build(&cfg, &calls).await?;
    let user =
        old.iam.get_user().send().await.map_err(|e| {
            Error::internal(format!("error calling GetUser: {}", aws_error_text(&e)))
        })?;
    let user_name = user
        .user()
        .map(|u| u.user_name().to_string())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::internal("nil UserName returned from GetUser"))?;
    // A rotation cut short (a shutdown or crash between creating and storing its key) left a key
    // that its WAL entry's rollback would delete only minutes later; IAM allows two keys, so
    // until then every new rotation would fail. Under the rotation lock nothing else here is
    // mid-rotation: delete those keys now (the entries stay for the rollback, in case a late
    // answer lands after this).
    if let Err(e) = sweep_unfinished(storage, &old.iam, &user_name, &cfg).await {
        tracing::warn!(error = %e, "could not clean up after an unfinished root rotation");
    }
    // The keys before: they tell a key made by an attempt whose answer was lost from one the
    // user holds on purpose, and let the WAL rollback delete only what this rotation made. A
    // root policy without iam:ListAccessKeys still rotates; only those cleanups are skipped.
    let known = match list_access_key_ids(&old.iam, &user_name).await {
        Ok(k) => Some(k),
        Err(e) => {
            tracing::warn!(error = %e.detail(), "could not list the root user's access keys before rotating");
            None
        }
    };
    let wal_id = match &known {
        Some(keys) => Some(
            wal::put(
                storage,
                WAL_KIND_ROOT_KEY,
                json!({"user_name": user_name, "known_keys": keys}),
            )
            .await
            .map_err(|e| Error::internal(format!("error writing WAL entry: {e}")))?,
        ),
        None => None,
    };
    let key = match create_access_key_once(
        &old.iam,
        &user_name,
        known.as_deref(),
        Some(&backend.metrics),
    )
    .await
    {
        Ok(k) => k,
        Err(e) => {
            if e.is_definitive() {
                forget_wal(storage, wal_id.as_deref()).await;
            }
            return Err(match e {
                IamError::IncompleteResponse { .. } => {
                    Error::internal("nil response from CreateAccessKey")
                }
                e => Error::internal(format!("error calling CreateAccessKey: {}", e.detail())),
            });
        }
    };
    let new_id = key.access_key_id.clone();
    let fresh = clients::build_with_keys(&cfg, &new_id, &key.secret_access_key, &calls).await?;
    if let Err(e) = wait_until_usable(&fresh.iam, None).await {
        if discard_new_key(&old.iam, &user_name, &new_id).await {
            forget_wal(storage, wal_id.as_deref()).await;
        }
        return Err(Error::internal(format!(
            "the new access key {new_id} did not become usable within {}s ({e}); it was deleted and the current key kept",
            NEW_KEY_DEADLINE.as_secs()
        )));
    }

    let now = SystemTime::now();
    let mut updated = cfg.clone();
    updated.access_key = new_id.clone();
    updated.secret_key = key.secret_access_key;
    let old_key = PendingDelete {
        access_key: cfg.access_key.clone(),
        user_name: user_name.clone(),
        since: rfc3339(now),
        ..Default::default()
    };
    let timing = updated.rotation.timing();
    updated.root_rotation.rotated(&timing, now, old_key);
    if let Err(e) = storage.put_json(KEY, &updated).await {
        // The write's outcome may be unknown (a lost answer): only a read tells whether the
        // new key is the stored one. When it is not (or cannot be told), the new key is not
        // deleted here but left to the WAL rollback, which compares with what is stored.
        let stored = RootConfig::load(storage).await.ok().flatten();
        if stored.as_ref().map(|c| c.access_key.as_str()) != Some(new_id.as_str()) {
            if stored.is_some() && discard_new_key(&old.iam, &user_name, &new_id).await {
                forget_wal(storage, wal_id.as_deref()).await;
            }
            return Err(Error::internal(format!(
                "error saving new config/root: {e}"
            )));
        }
    }
    forget_wal(storage, wal_id.as_deref()).await;
    backend.drop_clients();
    tracing::info!(new_access_key = %new_id, old_access_key = %cfg.access_key, "root access key rotated");

    let outcome = delete_old_keys(storage, &fresh.iam, |p| p.access_key == cfg.access_key).await;
    Ok(Rotated {
        access_key: new_id,
        delete_failed: outcome.failed.into_iter().next(),
    })
}

async fn forget_wal(storage: &Storage, id: Option<&str>) {
    if let Some(id) = id {
        if let Err(e) = wal::delete(storage, id).await {
            tracing::warn!(wal_id = %id, error = %e, "could not delete the root rotation's WAL entry; the rollback will");
        }
    }
}

/// Deletes an unused new key; whether it is gone.
async fn discard_new_key(iam: &aws_sdk_iam::Client, user: &str, id: &str) -> bool {
    match delete_access_key(iam, user, id).await {
        Ok(()) => true,
        Err(f) => {
            tracing::error!(access_key = %id, error = %f.text, "could not delete the unused new root key; the WAL rollback will");
            false
        }
    }
}

/// What [`delete_old_keys`] did.
#[derive(Debug, Default)]
pub(crate) struct DeleteOutcome {
    /// Old keys now gone.
    pub(crate) deleted: Vec<String>,
    /// Old keys AWS refused to delete, with its answer.
    pub(crate) failed: Vec<(String, String)>,
}

/// Tries to delete the recorded old root keys that `select` picks, through `iam` (a client with
/// the current key), and stores what is left with each failure counted. A key already gone
/// counts as deleted.
pub(crate) async fn delete_old_keys(
    storage: &Storage,
    iam: &aws_sdk_iam::Client,
    select: impl Fn(&PendingDelete) -> bool,
) -> DeleteOutcome {
    let mut outcome = DeleteOutcome::default();
    let mut cfg = match RootConfig::load(storage).await {
        Ok(Some(c)) => c,
        Ok(None) => return outcome,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read config/root to delete old root keys");
            return outcome;
        }
    };
    let now = SystemTime::now();
    let mut left = Vec::new();
    for mut p in std::mem::take(&mut cfg.root_rotation.pending_deletes) {
        if !select(&p) {
            left.push(p);
            continue;
        }
        match delete_access_key(iam, &p.user_name, &p.access_key).await {
            Ok(()) => {
                tracing::info!(old_access_key = %p.access_key, "old root access key deleted");
                outcome.deleted.push(p.access_key);
            }
            Err(f) => {
                tracing::warn!(old_access_key = %p.access_key, error = %f.text, attempts = p.attempts + 1, "old root access key could not be deleted; will retry");
                p.attempts = p.attempts.saturating_add(1);
                p.last_attempt = rfc3339(now);
                p.error = f.text.clone();
                outcome.failed.push((p.access_key.clone(), f.text));
                left.push(p);
            }
        }
    }
    cfg.root_rotation.pending_deletes = left;
    if let Err(e) = storage.put_json(KEY, &cfg).await {
        // Still recorded as pending: the next retry finds the key gone and counts it deleted.
        tracing::warn!(error = %e, "cannot store which old root keys are deleted");
    }
    outcome
}

/// The user and the keys it had before, as a root key WAL entry records them.
fn wal_data(data: &Value) -> (&str, Vec<&str>) {
    let user = data
        .get("user_name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let known = data
        .get("known_keys")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    (user, known)
}

/// Deletes every key of `user` that is not in `known` (the keys before an unfinished rotation)
/// and is neither the stored key nor an old key waiting for its delete.
async fn delete_untracked_keys(
    iam: &aws_sdk_iam::Client,
    user: &str,
    known: &[&str],
    cfg: &RootConfig,
) -> Result<(), Error> {
    let keys = list_access_key_ids(iam, user)
        .await
        .map_err(|e| Error::internal(format!("error calling ListAccessKeys: {}", e.detail())))?;
    for key in keys {
        let waiting = cfg
            .root_rotation
            .pending_deletes
            .iter()
            .any(|p| p.access_key == key);
        if known.contains(&key.as_str()) || key == cfg.access_key || waiting {
            continue;
        }
        delete_access_key(iam, user, &key)
            .await
            .map_err(|f| Error::internal(f.text))?;
        tracing::info!(access_key = %key, "deleted a root key whose rotation did not finish");
    }
    Ok(())
}

/// Before a rotation: undoes what every unfinished rotation of `user` left (its WAL entries).
async fn sweep_unfinished(
    storage: &Storage,
    iam: &aws_sdk_iam::Client,
    user: &str,
    cfg: &RootConfig,
) -> Result<(), Error> {
    for id in wal::list(storage).await? {
        let Some(entry) = wal::get(storage, &id).await? else {
            continue;
        };
        if entry.kind != WAL_KIND_ROOT_KEY {
            continue;
        }
        let (wal_user, known) = wal_data(&entry.data);
        if wal_user == user {
            delete_untracked_keys(iam, user, &known, cfg).await?;
        }
    }
    Ok(())
}

/// WAL rollback of [`WAL_KIND_ROOT_KEY`]: deletes every key of the root user that was not there
/// before the rotation and is neither the stored key nor an old key waiting for its delete.
pub(crate) async fn rollback_root_key(
    backend: &AwsBackend,
    storage: &Storage,
    data: &Value,
) -> Result<(), Error> {
    let (user, known) = wal_data(data);
    if user.is_empty() {
        return Ok(());
    }
    // A rotation in flight holds a key that is not stored yet: never judge it mid-way.
    let _one_at_a_time = backend.rotation_lock.lock().await;
    let Some(cfg) = RootConfig::load(storage).await? else {
        return Ok(());
    };
    let iam = backend.clients(storage).await?.iam.clone();
    delete_untracked_keys(&iam, user, &known, &cfg).await
}

async fn rotate_now(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let rotated = {
        let _one_at_a_time = ctx.backend.rotation_lock.lock().await;
        rotate_locked(&ctx.backend, &ctx.storage, Trigger::Manual).await?
    };
    // The next automated rotation counts from this one.
    ctx.backend.wake_root_rotation();
    let mut resp = Response::with_data(obj([("access_key", Value::from(rotated.access_key))]));
    if let Some((old, text)) = rotated.delete_failed {
        resp.warn(format!(
            "error deleting old access key: {text}; the new key is stored and in use, and the delete of the old key {old} will be retried (config/root shows it until it is gone)"
        ));
    }
    Ok(Some(resp))
}

/// The path entry.
pub(crate) fn path() -> Path<AwsBackend> {
    Path::new("config/rotate-root")
        .op(Operation::Update, "Rotate the root credentials: create a new key, verify it, store it, delete the old one.", handler(rotate_now))
        .help(
            "Request to rotate the AWS credentials used by Vault",
            "This path attempts to rotate the AWS credentials used by Vault for this mount.\n\
             It is only valid if Vault has been configured to use AWS IAM credentials via the\n\
             config/root endpoint. The new key is verified before it is stored and the old\n\
             key is deleted only after that; the response holds only the new access key id.\n\
             A refused delete of the old key is retried later. The next automated rotation\n\
             (rotation_period) counts from this one.",
        )
}
