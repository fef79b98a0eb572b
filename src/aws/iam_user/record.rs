//! The engine's own record of every IAM user it creates, kept from just before `CreateUser`
//! until revoke or rollback deletes the user.
//!
//! Users outlive their leases in ways the server cannot see: a revoke that AWS refuses until the
//! server gives up, `lease revoke -force`, a restored server, a lost WAL entry
//! (hashicorp/vault#16685). Each one leaks a user that counts toward the account's user limit.
//! The record says which role a user belongs to and until when its lease runs (moved on by
//! renew), which is what the orphan sweep and the per-role cap on live users need.
//!
//! Stored at `iam-users/<role>/<username>`, so the users of one role are one storage list.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::framework::storage::{Storage, StorageError};

/// Storage prefix of the records.
pub(crate) const RECORD_PREFIX: &str = "iam-users/";

/// One user's record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct UserRecord {
    /// The Vault role the user was issued for.
    pub(crate) role: String,
    /// When the engine started creating it (Unix seconds).
    pub(crate) created: i64,
    /// When its lease ends at the latest (Unix seconds): the TTL the engine asked for, which the
    /// server may only shorten.
    pub(crate) expires: i64,
}

/// Unix seconds of `t`.
pub(crate) fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn key(role: &str, username: &str) -> String {
    format!("{RECORD_PREFIX}{role}/{username}")
}

/// Records `username` of `role`, whose lease runs `ttl` from now at the latest.
pub(crate) async fn put(
    storage: &Storage,
    role: &str,
    username: &str,
    ttl: Duration,
) -> Result<(), StorageError> {
    let now = SystemTime::now();
    let record = UserRecord {
        role: role.to_string(),
        created: unix(now),
        expires: unix(now + ttl),
    };
    storage.put_json(&key(role, username), &record).await
}

/// Moves the lease end of `username` of `role` to `until` (renew); a user without a record
/// (issued before records existed) stays without one.
pub(crate) async fn renew(
    storage: &Storage,
    role: &str,
    username: &str,
    until: SystemTime,
) -> Result<(), StorageError> {
    let k = key(role, username);
    let Some(mut record) = storage.get_json::<UserRecord>(&k).await? else {
        return Ok(());
    };
    record.expires = unix(until);
    storage.put_json(&k, &record).await
}

/// Forgets `username` of `role` (deleted in AWS).
pub(crate) async fn delete(
    storage: &Storage,
    role: &str,
    username: &str,
) -> Result<(), StorageError> {
    storage.delete(&key(role, username)).await
}

/// How many users of `role` are recorded.
pub(crate) async fn count(storage: &Storage, role: &str) -> Result<usize, StorageError> {
    Ok(storage
        .list(&format!("{RECORD_PREFIX}{role}/"))
        .await?
        .iter()
        .filter(|k| !k.ends_with('/'))
        .count())
}

/// Every record, as `(username, record)`.
pub(crate) async fn all(storage: &Storage) -> Result<Vec<(String, UserRecord)>, StorageError> {
    let mut out = Vec::new();
    for role in storage.list(RECORD_PREFIX).await? {
        let Some(role) = role.strip_suffix('/') else {
            continue;
        };
        for name in storage.list(&format!("{RECORD_PREFIX}{role}/")).await? {
            if name.ends_with('/') {
                continue;
            }
            if let Some(r) = storage.get_json::<UserRecord>(&key(role, &name)).await? {
                out.push((name, r));
            }
        }
    }
    Ok(out)
}
