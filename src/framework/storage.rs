//! Typed access to the server's Storage and SystemView over the brokered channel.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::Channel;

use super::identity::{Alias, Entity};
use crate::proto::logical;
use crate::proto::pb::storage_client::StorageClient;
use crate::proto::pb::system_view_client::SystemViewClient;
use crate::proto::pb::{self, StorageDeleteArgs, StorageGetArgs, StorageListArgs, StoragePutArgs};

/// How long one storage or system-view call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage {op} {key:?} failed: {msg}")]
    Server {
        op: &'static str,
        key: String,
        msg: String,
    },
    #[error("storage entry {key:?} is not valid JSON: {msg}")]
    Decode { key: String, msg: String },
    #[error("cannot encode storage entry {key:?}: {msg}")]
    Encode { key: String, msg: String },
}

fn server(op: &'static str, key: &str, msg: impl ToString) -> StorageError {
    StorageError::Server {
        op,
        key: key.to_string(),
        msg: msg.to_string(),
    }
}

/// The mount's storage (keys are relative to the mount's private view).
#[derive(Clone)]
pub struct Storage {
    client: StorageClient<Channel>,
}

impl Storage {
    /// Storage over a brokered channel.
    pub fn new(channel: Channel) -> Self {
        Self {
            client: StorageClient::new(channel)
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX),
        }
    }

    fn req<T>(msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        r.set_timeout(CALL_TIMEOUT);
        r
    }

    /// Raw bytes of `key`, `None` when absent.
    pub async fn get_raw(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let reply = self
            .client
            .clone()
            .get(Self::req(StorageGetArgs {
                key: key.to_string(),
                ..Default::default()
            }))
            .await
            .map_err(|s| server("get", key, s.message()))?
            .into_inner();
        if !reply.err.is_empty() {
            return Err(server("get", key, reply.err));
        }
        Ok(reply.entry.map(|e| e.value))
    }

    /// Writes raw bytes.
    pub async fn put_raw(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError> {
        let entry = pb::StorageEntry {
            key: key.to_string(),
            value,
            seal_wrap: false,
        };
        let reply = self
            .client
            .clone()
            .put(Self::req(StoragePutArgs {
                entry: Some(entry),
                ..Default::default()
            }))
            .await
            .map_err(|s| server("put", key, s.message()))?
            .into_inner();
        if !reply.err.is_empty() {
            return Err(server("put", key, reply.err));
        }
        Ok(())
    }

    /// Deletes `key` (absent is fine).
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let reply = self
            .client
            .clone()
            .delete(Self::req(StorageDeleteArgs {
                key: key.to_string(),
                ..Default::default()
            }))
            .await
            .map_err(|s| server("delete", key, s.message()))?
            .into_inner();
        if !reply.err.is_empty() {
            return Err(server("delete", key, reply.err));
        }
        Ok(())
    }

    /// Immediate children of `prefix` (sub-folders end in `/`).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let reply = self
            .client
            .clone()
            .list(Self::req(StorageListArgs {
                prefix: prefix.to_string(),
                ..Default::default()
            }))
            .await
            .map_err(|s| server("list", prefix, s.message()))?
            .into_inner();
        if !reply.err.is_empty() {
            return Err(server("list", prefix, reply.err));
        }
        Ok(reply.keys)
    }

    /// JSON-decoded value of `key`.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StorageError> {
        match self.get_raw(key).await? {
            None => Ok(None),
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StorageError::Decode {
                        key: key.to_string(),
                        msg: e.to_string(),
                    })
            }
        }
    }

    /// Stores `value` as JSON (as Go engines do, so stored data stays readable).
    pub async fn put_json<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StorageError::Encode {
            key: key.to_string(),
            msg: e.to_string(),
        })?;
        self.put_raw(key, bytes).await
    }
}

/// The server's view of the mount: TTL defaults, replication state and request entities.
#[derive(Clone)]
pub struct SystemView {
    client: SystemViewClient<Channel>,
}

/// The wire entity as the framework's plain type (no prost types past this file).
fn entity_from_wire(e: logical::Entity) -> Entity {
    let map = |m: std::collections::HashMap<String, String>| m.into_iter().collect();
    Entity {
        id: e.id,
        name: e.name,
        metadata: map(e.metadata),
        aliases: e
            .aliases
            .into_iter()
            .map(|a| Alias {
                id: a.id,
                name: a.name,
                mount_accessor: a.mount_accessor,
                mount_type: a.mount_type,
                metadata: map(a.metadata),
                custom_metadata: map(a.custom_metadata),
            })
            .collect(),
    }
}

/// Replication state bits (sdk/helper/consts): performance secondary / standby, DR secondary.
const PERF_SECONDARY: i32 = 1 << 1;
const DR_SECONDARY: i32 = 1 << 2;
const PERF_STANDBY: i32 = 1 << 4;

impl SystemView {
    /// System view over a brokered channel.
    pub fn new(channel: Channel) -> Self {
        Self {
            client: SystemViewClient::new(channel),
        }
    }

    fn req() -> tonic::Request<pb::Empty> {
        let mut r = tonic::Request::new(pb::Empty {});
        r.set_timeout(CALL_TIMEOUT);
        r
    }

    /// The mount's default lease TTL.
    pub async fn default_lease_ttl(&self) -> Result<Duration, StorageError> {
        let r = self
            .client
            .clone()
            .default_lease_ttl(Self::req())
            .await
            .map_err(|s| server("default_lease_ttl", "", s.message()))?;
        Ok(Duration::from_nanos(r.into_inner().ttl.max(0) as u64))
    }

    /// The mount's maximum lease TTL.
    pub async fn max_lease_ttl(&self) -> Result<Duration, StorageError> {
        let r = self
            .client
            .clone()
            .max_lease_ttl(Self::req())
            .await
            .map_err(|s| server("max_lease_ttl", "", s.message()))?;
        Ok(Duration::from_nanos(r.into_inner().ttl.max(0) as u64))
    }

    /// The identity entity `entity_id` names (a request's `entity_id`), `None` when the id is
    /// empty or the server knows no such entity. Vault's identity templating reads it.
    pub async fn entity_info(&self, entity_id: &str) -> Result<Option<Entity>, StorageError> {
        if entity_id.is_empty() {
            return Ok(None);
        }
        let mut r = tonic::Request::new(pb::EntityInfoArgs {
            entity_id: entity_id.to_string(),
        });
        r.set_timeout(CALL_TIMEOUT);
        let reply = self
            .client
            .clone()
            .entity_info(r)
            .await
            .map_err(|s| server("entity_info", entity_id, s.message()))?
            .into_inner();
        if !reply.err.is_empty() {
            return Err(server("entity_info", entity_id, reply.err));
        }
        Ok(reply.entity.map(entity_from_wire))
    }

    /// Whether this node may write (not a performance standby/secondary or DR secondary).
    pub async fn write_safe(&self) -> Result<bool, StorageError> {
        let r = self
            .client
            .clone()
            .replication_state(Self::req())
            .await
            .map_err(|s| server("replication_state", "", s.message()))?;
        let state = r.into_inner().state;
        Ok(state & (PERF_SECONDARY | DR_SECONDARY | PERF_STANDBY) == 0)
    }
}
