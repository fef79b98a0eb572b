//! Write-ahead entries for external side effects (an IAM user being created):
//! written before the side effect, deleted once it is owned by a lease, and
//! rolled back by the rollback operation once old enough.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::storage::{Storage, StorageError};

/// Storage prefix of WAL entries (local, not replicated).
pub const WAL_PREFIX: &str = "wal/";

/// One entry, in the Go SDK's shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WalEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub data: Value,
    /// Unix seconds.
    pub created_at: i64,
}

impl WalEntry {
    /// Age of the entry at `now`.
    pub fn age(&self, now: SystemTime) -> Duration {
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Duration::from_secs((now - self.created_at).max(0) as u64)
    }
}

/// Writes a new entry and returns its id.
pub async fn put(storage: &Storage, kind: &str, data: Value) -> Result<String, StorageError> {
    let id = uuid::Uuid::new_v4().to_string();
    let created_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let entry = WalEntry {
        kind: kind.to_string(),
        data,
        created_at,
    };
    storage
        .put_json(&format!("{WAL_PREFIX}{id}"), &entry)
        .await?;
    Ok(id)
}

/// Reads an entry.
pub async fn get(storage: &Storage, id: &str) -> Result<Option<WalEntry>, StorageError> {
    storage.get_json(&format!("{WAL_PREFIX}{id}")).await
}

/// Deletes an entry.
pub async fn delete(storage: &Storage, id: &str) -> Result<(), StorageError> {
    storage.delete(&format!("{WAL_PREFIX}{id}")).await
}

/// Ids of all entries.
pub async fn list(storage: &Storage) -> Result<Vec<String>, StorageError> {
    storage.list(WAL_PREFIX).await
}
