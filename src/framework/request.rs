//! Plain-Rust request, response and lease types, so engines never see prost.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

/// A request's operation (openbao sdk/logical/request.go).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Operation {
    Create,
    Read,
    Update,
    Patch,
    Delete,
    List,
    Help,
    Renew,
    Revoke,
    Rollback,
    /// Anything else (`resolve-path`, `alias-lookahead`, `header`, `scan`, ...).
    Other(String),
}

impl Operation {
    /// Parses the wire string.
    pub fn parse(s: &str) -> Self {
        match s {
            "create" => Self::Create,
            "read" => Self::Read,
            "update" => Self::Update,
            "patch" => Self::Patch,
            "delete" => Self::Delete,
            "list" => Self::List,
            "help" => Self::Help,
            "renew" => Self::Renew,
            "revoke" => Self::Revoke,
            "rollback" => Self::Rollback,
            other => Self::Other(other.to_string()),
        }
    }

    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Create => "create",
            Self::Read => "read",
            Self::Update => "update",
            Self::Patch => "patch",
            Self::Delete => "delete",
            Self::List => "list",
            Self::Help => "help",
            Self::Renew => "renew",
            Self::Revoke => "revoke",
            Self::Rollback => "rollback",
            Self::Other(s) => s,
        }
    }
}

/// The lease a renew/revoke request is about.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeaseInfo {
    pub lease_id: String,
    pub internal_data: Map<String, Value>,
    pub ttl: Duration,
    pub max_ttl: Duration,
    pub increment: Duration,
    pub renewable: bool,
    pub issue_time: Option<SystemTime>,
}

/// One request routed to the mount, already decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: String,
    pub operation: Operation,
    /// Path relative to the mount, e.g. `roles/dev`.
    pub path: String,
    /// Request data (`null` on the wire becomes empty).
    pub data: Map<String, Value>,
    pub lease: Option<LeaseInfo>,
    pub display_name: String,
    pub mount_point: String,
    pub entity_id: String,
}

impl Request {
    /// A request with just an operation and path (tests, internal calls).
    pub fn new(operation: Operation, path: &str) -> Self {
        Self {
            id: String::new(),
            operation,
            path: path.to_string(),
            data: Map::new(),
            lease: None,
            display_name: String::new(),
            mount_point: String::new(),
            entity_id: String::new(),
        }
    }
}

/// A lease to create (on issue) or extend (on renew).
#[derive(Debug, Clone, PartialEq)]
pub struct SecretResponse {
    /// Everything renew/revoke will need; `secret_type` is added by the framework.
    pub internal_data: Map<String, Value>,
    /// Zero means "the mount's default".
    pub ttl: Duration,
    /// Zero means "the mount's maximum".
    pub max_ttl: Duration,
    pub renewable: bool,
}

/// A successful answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    pub data: Option<Map<String, Value>>,
    /// `data` already encoded as a JSON object, sent instead of `data` when set: a large
    /// answer served again and again from a cache (a LIST of thousands of keys) is then encoded
    /// once, not on every request.
    pub encoded_data: Option<Arc<str>>,
    pub secret: Option<SecretResponse>,
    pub warnings: Vec<String>,
}

impl Response {
    /// A response carrying `data`.
    pub fn with_data(data: Map<String, Value>) -> Self {
        Self {
            data: Some(data),
            ..Self::default()
        }
    }

    /// A LIST answer.
    pub fn list(keys: Vec<String>) -> Self {
        let mut m = Map::new();
        m.insert("keys".into(), Value::from(keys));
        Self::with_data(m)
    }

    /// The data of a LIST answer, encoded once for [`Response::encoded`].
    pub fn encode_list(keys: &[String]) -> Arc<str> {
        serde_json::json!({ "keys": keys }).to_string().into()
    }

    /// An answer whose data was encoded beforehand (see `encoded_data`).
    pub fn encoded(data: Arc<str>) -> Self {
        Self {
            encoded_data: Some(data),
            ..Self::default()
        }
    }

    /// Adds a warning.
    pub fn warn(&mut self, w: impl Into<String>) {
        self.warnings.push(w.into());
    }
}

/// Builds a JSON object from pairs: `obj([("a", json!(1))])`.
pub fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
