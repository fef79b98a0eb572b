//! THE ENGINE: the AWS secrets engine's path table, secret types and hooks.
//! Reads like the table of the engine's API; each path family lives in its own file.

pub mod config_lease;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::framework::{Framework, SpecialPaths};

/// Per-mount state. Durable state lives in storage; this holds caches only.
#[derive(Default)]
pub struct AwsBackend {}

/// Engine description shown by `path-help` on the mount root.
pub const BACKEND_HELP: &str = "\
The AWS backend dynamically generates AWS access keys for a set of
IAM policies. The AWS access keys have a configurable lease set and
are automatically revoked at the end of the lease.

After mounting this backend, credentials to generate IAM keys must
be configured with the \"root\" path and policies must be written using
the \"roles/\" endpoints before any access keys can be generated.";

/// Plugin version reported to the catalog.
pub fn version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// The engine.
pub fn framework() -> Framework<AwsBackend> {
    Framework {
        help: BACKEND_HELP,
        paths: vec![config_lease::path()],
        secrets: Vec::new(),
        special_paths: SpecialPaths {
            local_storage: vec!["wal/".into()],
            seal_wrap_storage: vec!["config/root".into(), "static-creds/".into()],
            ..SpecialPaths::default()
        },
        factory: Arc::new(|_: &HashMap<String, String>| AwsBackend::default()),
        wal_rollback: None,
        wal_rollback_min_age: Duration::from_secs(5 * 60),
        periodic: None,
        initialize: None,
        invalidate: None,
        cleanup: None,
        version: version(),
    }
}
