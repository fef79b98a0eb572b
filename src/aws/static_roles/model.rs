//! The stored shapes of static roles: the role (`static-roles/<name>`, the Go plugin's keys plus
//! Vault's cross-account keys and our `single_key`) and its credentials with the time of the
//! next rotation (`static-creds/<name>`, seal-wrapped).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::framework::storage::Storage;
use crate::framework::Error;

/// Storage prefix of static roles.
pub(crate) const ROLE_PREFIX: &str = "static-roles/";
/// Storage prefix of their credentials (seal-wrapped).
pub(crate) const CREDS_PREFIX: &str = "static-creds/";
/// Shortest rotation period.
pub(crate) const MIN_PERIOD_SECS: i64 = 60;

/// Stored static role (Go plugin's keys; Vault's cross-account keys; our `single_key`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct StaticRole {
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) username: String,
    /// Nanoseconds, as Go's time.Duration.
    pub(crate) rotation_period: i64,
    pub(crate) assume_role_arn: String,
    pub(crate) assume_role_session_name: String,
    pub(crate) external_id: String,
    /// Delete the previous key as soon as the new one works (one key at a time).
    pub(crate) single_key: bool,
}

impl StaticRole {
    /// Rotation period.
    pub(crate) fn period(&self) -> Duration {
        Duration::from_nanos(self.rotation_period.max(0) as u64)
    }

    /// The session name used in `assume_role_arn`: the configured one, else `vault-static-<name>`.
    pub(crate) fn session_name(&self) -> String {
        if self.assume_role_session_name.is_empty() {
            format!("vault-static-{}", self.name)
        } else {
            self.assume_role_session_name.clone()
        }
    }

    /// The read response.
    pub(crate) fn read_data(&self) -> Map<String, Value> {
        let v = json!({
            "name": self.name,
            "id": self.id,
            "username": self.username,
            "rotation_period": self.rotation_period / 1_000_000_000,
            "assume_role_arn": self.assume_role_arn,
            "assume_role_session_name": self.assume_role_session_name,
            "external_id": self.external_id,
            "single_key": self.single_key,
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

/// `static-creds/<name>`.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct StaticCreds {
    pub(crate) access_key: String,
    pub(crate) secret_key: String,
    /// RFC 3339 UTC time of the next rotation.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) expiration: String,
    /// The engine's previous key, kept until the next rotation (Vault's two-key behaviour).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) previous_access_key: String,
}

impl std::fmt::Debug for StaticCreds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCreds")
            .field("access_key", &self.access_key)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

pub(crate) use crate::gocompat::time::{parse_rfc3339, rfc3339};

/// Static role `name`, if stored.
pub(crate) async fn load_role(storage: &Storage, name: &str) -> Result<Option<StaticRole>, Error> {
    Ok(storage.get_json(&format!("{ROLE_PREFIX}{name}")).await?)
}

/// The credentials of static role `name`, if stored.
pub(crate) async fn load_creds(
    storage: &Storage,
    name: &str,
) -> Result<Option<StaticCreds>, Error> {
    Ok(storage.get_json(&format!("{CREDS_PREFIX}{name}")).await?)
}
