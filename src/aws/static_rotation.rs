//! Rotation of static roles' keys and the per-mount schedule that drives it.
//!
//! The next rotation time is stored with the credentials, so the schedule is
//! storage: it is rebuilt on every Initialize (start, reload, becoming the
//! active node) and survives restarts. A failed rotation is retried with
//! backoff and never dropped. Creating a key is guarded by a WAL entry that
//! records the user's keys beforehand, so a crash between CreateAccessKey and
//! storing the key never leaves a key nobody tracks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::framework::storage::{Storage, SystemView};
use crate::framework::{wal, Error};

use super::clients;
use super::config_root::RootConfig;
use super::iam_user::{aws_error_text, create_access_key_once, AwsFailure};
use super::static_roles::{StaticRole, CREDS_PREFIX, ROLE_PREFIX};
use super::sts::with_sts_fallback;
use super::AwsBackend;

/// WAL kind of a static key being created.
pub const WAL_KIND_STATIC_KEY: &str = "static_key";
/// First retry delay after a failed rotation; doubles up to [`MAX_RETRY`].
pub const FIRST_RETRY: Duration = Duration::from_secs(10);
/// Longest retry delay.
pub const MAX_RETRY: Duration = Duration::from_secs(300);
/// How often the scheduler looks at storage even with nothing due (picks up
/// changes made by other nodes).
pub const RESCAN: Duration = Duration::from_secs(30);

/// `static-creds/<name>`.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StaticCreds {
    pub access_key: String,
    pub secret_key: String,
    /// RFC 3339 UTC time of the next rotation.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub expiration: String,
    /// The engine's previous key, kept until the next rotation (Vault's two-key behaviour).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub previous_access_key: String,
}

impl std::fmt::Debug for StaticCreds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCreds")
            .field("access_key", &self.access_key)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// RFC 3339 text of `t` in UTC.
pub fn rfc3339(t: SystemTime) -> String {
    let odt = time::OffsetDateTime::from(t);
    odt.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Parses RFC 3339.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

/// The IAM client a static role's calls go through: the mount's, or one made
/// from AssumeRole into `assume_role_arn` (never cached in the mount's slot).
pub async fn iam_for(
    backend: &AwsBackend,
    storage: &Storage,
    role: &StaticRole,
) -> Result<aws_sdk_iam::Client, Error> {
    let root = backend.clients(storage).await?;
    if role.assume_role_arn.is_empty() {
        return Ok(root.iam.clone());
    }
    let session = if role.assume_role_session_name.is_empty() {
        format!("vault-static-{}", role.name)
    } else {
        role.assume_role_session_name.clone()
    };
    let out = with_sts_fallback(&root, |sts| {
        let mut b = sts
            .assume_role()
            .role_arn(&role.assume_role_arn)
            .role_session_name(&session);
        if !role.external_id.is_empty() {
            b = b.external_id(&role.external_id);
        }
        b.send()
    })
    .await
    .map_err(|f| f.into_error(&format!("unable to assume role {}", role.assume_role_arn)))?;
    let c = out
        .credentials()
        .ok_or_else(|| Error::internal("AssumeRole returned no credentials"))?;
    let cfg = RootConfig::load(storage)
        .await?
        .unwrap_or_else(RootConfig::new_default);
    let creds = aws_credential_types::Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "static-role-assume-role",
    );
    let sdk = clients::sdk_config(
        Some(creds),
        clients::effective_region(&cfg.region),
        cfg.max_retries,
    )
    .await;
    Ok(clients::iam_client_with(
        &sdk,
        &cfg.iam_endpoint,
        Some(&backend.metrics),
    ))
}

/// Checks the IAM user exists with the recorded id; returns its id.
pub async fn check_user(
    iam: &aws_sdk_iam::Client,
    username: &str,
    expected_id: &str,
) -> Result<String, Error> {
    let out = iam
        .get_user()
        .user_name(username)
        .send()
        .await
        .map_err(|e| {
            Error::bad(format!(
                "iam user didn't exist, or username/userid didn't match: {}",
                aws_error_text(&e)
            ))
        })?;
    let user = out
        .user()
        .ok_or_else(|| Error::internal("nil user returned from GetUser"))?;
    if user.user_name() != username {
        return Err(Error::bad(format!(
            "AWS GetUser returned a username, but it didn't match: \"{username}\" was requested, but \"{}\" was returned",
            user.user_name()
        )));
    }
    if !expected_id.is_empty() && user.user_id() != expected_id {
        return Err(Error::bad(format!(
            "AWS GetUser returned a user, but the ID did not match: \"{expected_id}\" was requested, but \"{}\" was returned",
            user.user_id()
        )));
    }
    Ok(user.user_id().to_string())
}

async fn delete_key(iam: &aws_sdk_iam::Client, username: &str, key: &str) -> Result<(), String> {
    match iam
        .delete_access_key()
        .user_name(username)
        .access_key_id(key)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if AwsFailure::from_sdk(&e).code.as_deref() == Some("NoSuchEntity") => Ok(()),
        Err(e) => Err(aws_error_text(&e)),
    }
}

async fn list_keys(iam: &aws_sdk_iam::Client, username: &str) -> Result<Vec<String>, Error> {
    let keys = iam
        .list_access_keys()
        .user_name(username)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| {
            Error::internal(format!(
                "error calling ListAccessKeys: {}",
                AwsFailure::from_sdk(&e).text
            ))
        })?;
    Ok(keys
        .into_iter()
        .filter_map(|k| k.access_key_id().map(str::to_string))
        .collect())
}

/// Rotates `role` now: the new key is created (and in single-key mode verified
/// and the old one deleted) before storing; the next rotation is persisted.
pub async fn rotate(
    backend: &AwsBackend,
    storage: &Storage,
    role: &StaticRole,
) -> Result<StaticCreds, Error> {
    let _one_at_a_time = backend.schedule.rotating.lock().await;
    rotate_locked(backend, storage, role).await
}

async fn rotate_locked(
    backend: &AwsBackend,
    storage: &Storage,
    role: &StaticRole,
) -> Result<StaticCreds, Error> {
    let iam = iam_for(backend, storage, role).await?;
    check_user(&iam, &role.username, &role.id).await?;
    let old: Option<StaticCreds> = storage
        .get_json(&format!("{CREDS_PREFIX}{}", role.name))
        .await?;
    let old = old.unwrap_or_default();

    // Keep at most two keys: drop the engine's previous key before making a new one.
    if !old.previous_access_key.is_empty() {
        delete_key(&iam, &role.username, &old.previous_access_key)
            .await
            .map_err(|e| Error::internal(format!("error deleting previous access key: {e}")))?;
    }
    let mut before = list_keys(&iam, &role.username).await?;
    // Still no room (the user holds a key of its own besides ours): make room as
    // Vault does by deleting the oldest key — but only ever one the engine made.
    let mut current_deleted = false;
    if before.len() >= 2 && !old.access_key.is_empty() && before.contains(&old.access_key) {
        delete_key(&iam, &role.username, &old.access_key)
            .await
            .map_err(|e| Error::internal(format!("error deleting old access key: {e}")))?;
        before.retain(|k| k != &old.access_key);
        current_deleted = true;
    }
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
        let cfg = RootConfig::load(storage)
            .await?
            .unwrap_or_else(RootConfig::new_default);
        let fresh = clients::build_with_keys(&cfg, &next.access_key, &next.secret_key).await?;
        let probe_iam = if role.assume_role_arn.is_empty() {
            fresh.iam
        } else {
            iam.clone()
        };
        super::rotate_root::wait_until_usable(&probe_iam, Some(&role.username))
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
    Ok(next)
}

/// WAL rollback of a static key creation: delete any key on the user that was
/// not there before and is not the one stored now.
pub async fn rollback_static_key(
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
    let Some(role) = storage
        .get_json::<StaticRole>(&format!("{ROLE_PREFIX}{name}"))
        .await?
    else {
        return Ok(());
    };
    let stored: StaticCreds = storage
        .get_json(&format!("{CREDS_PREFIX}{name}"))
        .await?
        .unwrap_or_default();
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

/// In-memory schedule of one mount: role name → next rotation.
#[derive(Default)]
pub struct Schedule {
    /// Held while a rotation runs, so two never overlap on one mount.
    pub rotating: tokio::sync::Mutex<()>,
    due: Mutex<BTreeMap<String, SystemTime>>,
    retry: Mutex<BTreeMap<String, Duration>>,
    wake: Notify,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Schedule {
    /// Sets (or replaces) the next rotation of `name`.
    pub fn set(&self, name: &str, at: SystemTime) {
        if let Ok(mut d) = self.due.lock() {
            d.insert(name.to_string(), at);
        }
        self.wake.notify_one();
    }

    /// Whether `name` is due at `now`.
    pub fn is_due(&self, name: &str, now: SystemTime) -> bool {
        self.due
            .lock()
            .map(|d| d.get(name).is_some_and(|t| *t <= now))
            .unwrap_or(false)
    }

    /// Roles in the schedule.
    pub fn len(&self) -> usize {
        self.due.lock().map(|d| d.len()).unwrap_or(0)
    }

    /// Whether the schedule is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets `name`.
    pub fn remove(&self, name: &str) {
        if let Ok(mut d) = self.due.lock() {
            d.remove(name);
        }
    }

    /// Names due at `now`, earliest first.
    fn due_now(&self, now: SystemTime) -> Vec<String> {
        let d = self.due.lock().map(|d| d.clone()).unwrap_or_default();
        let mut v: Vec<(SystemTime, String)> = d
            .into_iter()
            .filter(|(_, t)| *t <= now)
            .map(|(n, t)| (t, n))
            .collect();
        v.sort();
        v.into_iter().map(|(_, n)| n).collect()
    }

    fn next_due(&self) -> Option<SystemTime> {
        self.due.lock().ok().and_then(|d| d.values().min().copied())
    }

    /// Stops the mount's scheduler task.
    pub fn stop(&self) {
        if let Ok(mut t) = self.task.lock() {
            if let Some(h) = t.take() {
                h.abort();
            }
        }
    }
}

/// Rebuilds the schedule from storage: every static role with its stored next
/// rotation (roles without one are due now).
pub async fn rebuild(backend: &AwsBackend, storage: &Storage) -> Result<usize, Error> {
    let names = storage.list(ROLE_PREFIX).await?;
    let mut fresh = BTreeMap::new();
    for name in names.iter().filter(|n| !n.ends_with('/')) {
        let creds: Option<StaticCreds> = storage.get_json(&format!("{CREDS_PREFIX}{name}")).await?;
        let at = creds
            .and_then(|c| parse_rfc3339(&c.expiration))
            .unwrap_or_else(SystemTime::now);
        fresh.insert(name.clone(), at);
    }
    let n = fresh.len();
    if let Ok(mut d) = backend.schedule.due.lock() {
        *d = fresh;
    }
    backend.schedule.wake.notify_one();
    Ok(n)
}

/// Rotates every due role once (the scheduler's and the rollback tick's body).
pub async fn run_due(
    backend: &AwsBackend,
    storage: &Storage,
    system: &SystemView,
) -> Result<(), Error> {
    // Nothing due: no round trip to the server (this runs on every scheduler wake-up).
    let due = backend.schedule.due_now(SystemTime::now());
    if due.is_empty() || !system.write_safe().await.unwrap_or(false) {
        return Ok(());
    }
    for name in due {
        // The scheduler, the rollback tick and rotate-role may race: rotate
        // one role at a time and only if it is still due under the lock.
        let _one_at_a_time = backend.schedule.rotating.lock().await;
        if !backend.schedule.is_due(&name, SystemTime::now()) {
            continue;
        }
        let role: Option<StaticRole> = storage.get_json(&format!("{ROLE_PREFIX}{name}")).await?;
        let Some(role) = role else {
            backend.schedule.remove(&name);
            continue;
        };
        let outcome = rotate_locked(backend, storage, &role).await;
        let label = if outcome.is_ok() { "success" } else { "error" };
        backend.metrics.add(
            "vault_aws_static_rotations_total",
            vec![("outcome", label.to_string())],
            1,
        );
        match outcome {
            Ok(_) => {
                if let Ok(mut r) = backend.schedule.retry.lock() {
                    r.remove(&name);
                }
            }
            Err(e) => {
                let delay = backend
                    .schedule
                    .retry
                    .lock()
                    .map(|mut r| {
                        let d = r
                            .get(&name)
                            .map(|d| (*d * 2).min(MAX_RETRY))
                            .unwrap_or(FIRST_RETRY);
                        r.insert(name.clone(), d);
                        d
                    })
                    .unwrap_or(FIRST_RETRY);
                tracing::warn!(role = %name, error = %e, retry_in_secs = delay.as_secs(), "static rotation failed; will retry");
                backend.schedule.set(&name, SystemTime::now() + delay);
            }
        }
    }
    Ok(())
}

/// Starts the mount's scheduler: rebuilds from storage, then sleeps until the
/// next due rotation (or a change, or [`RESCAN`]).
pub fn start(backend: Arc<AwsBackend>, storage: Storage, system: SystemView) {
    backend.schedule.stop();
    let b = backend.clone();
    let handle = tokio::spawn(async move {
        let mut loaded = false;
        loop {
            if !loaded {
                match rebuild(&b, &storage).await {
                    Ok(n) => {
                        loaded = true;
                        tracing::debug!(roles = n, "static rotation schedule rebuilt from storage");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot rebuild static rotation schedule yet")
                    }
                }
            }
            if loaded {
                if let Err(e) = run_due(&b, &storage, &system).await {
                    tracing::warn!(error = %e, "static rotation pass failed");
                }
            }
            // Nothing scheduled: sleep until a change wakes us (or RESCAN); something
            // overdue (e.g. a standby's queue): look again in 200 ms, not in a busy loop.
            let wait = match b.schedule.next_due() {
                None => RESCAN,
                Some(t) => t
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO)
                    .min(RESCAN)
                    .max(Duration::from_millis(200)),
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {},
                _ = b.schedule.wake.notified() => {},
            }
        }
    });
    if let Ok(mut t) = backend.schedule.task.lock() {
        *t = Some(handle);
    }
}
