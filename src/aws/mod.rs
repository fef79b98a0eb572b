//! THE ENGINE: the AWS secrets engine's path table, secret type, WAL rollback and hooks, and
//! the per-mount state every path shares.
//!
//! Reads like the table of the engine's API ([`framework`]); each path family lives in its own
//! file or folder, with its stored model next to its handlers, as Vault's `path_*.go` files.
//! A `read creds/<role>` goes `creds.rs` (parse the request into a typed value, pick the
//! credential type) → `iam_user/` or `sts.rs` (the AWS calls) → `secret.rs` (the lease shape).

mod aws_error;
mod chain;
mod clients;
mod config_lease;
mod config_root;
mod credential;
mod creds;
mod iam_user;
mod key_ready;
mod metrics;
mod metrics_path;
mod pacer;
mod pages;
mod roles;
mod rollback;
mod root_rotation;
mod rotate_root;
mod secret;
mod session_identity;
mod static_roles;
mod sts;
mod tidy;
mod username;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Mutex;

use crate::framework::storage::Storage;
use crate::framework::{Error, Framework, MountConfig, SpecialPaths};

use clients::{CallContext, ClientError, Clients};
use config_root::RootConfig;

/// Per-mount state. Durable state lives in storage; this holds caches only,
/// all rebuilt from storage on demand.
#[derive(Default)]
pub struct AwsBackend {
    /// Cached clients with the config generation they were built from.
    clients: std::sync::RwLock<Option<(u64, Arc<Clients>)>>,
    /// Bumped whenever `config/root` changes; stale cached clients are ignored.
    generation: AtomicU64,
    /// One client build at a time.
    build_lock: Mutex<()>,
    /// Serialises everything that rewrites `config/root` on this node: writes, manual and
    /// scheduled rotations, old-key deletes and the root key's WAL rollback.
    rotation_lock: Mutex<()>,
    /// The automated root key rotation task (its state is in `config/root`).
    root_schedule: root_rotation::RootSchedule,
    /// Next rotation of each static role (rebuilt from storage on Initialize).
    schedule: static_roles::Schedule,
    /// Cached `config/lease` with the generation it was read at.
    lease: std::sync::RwLock<Option<(u64, config_lease::LeaseConfig)>>,
    /// Bumped whenever `config/lease` changes.
    lease_generation: AtomicU64,
    /// This mount's counters and histograms (`metrics` path).
    metrics: Arc<metrics::Metrics>,
    /// This mount's AWS call pacers, one per account and service.
    pacers: Arc<pacer::Pacers>,
    /// Roles read from storage.
    roles: roles::RoleCache,
    /// The mount's UUID from the server, the value of the tag on every user it creates.
    mount_uuid: String,
    /// Turns of roles with `max_active_credentials`, so concurrent issues cannot pass the cap.
    caps: RoleTurns,
    /// The periodic orphan sweep (`config/tidy`).
    tidy: tidy::TidyTask,
    /// The mount's max lease TTL and when it was read (see [`AwsBackend::mount_max_ttl`]).
    max_ttl: std::sync::Mutex<Option<(std::time::Instant, Duration)>>,
    /// Intermediate sessions of chained roles (`source_role_arn`).
    chain: chain::ChainCache,
}

impl AwsBackend {
    fn cached(&self) -> Option<Arc<Clients>> {
        let now = self.generation.load(Ordering::SeqCst);
        match self.clients.read() {
            Ok(g) => g
                .as_ref()
                .filter(|(gen, _)| *gen == now)
                .map(|(_, c)| c.clone()),
            Err(_) => None,
        }
    }

    /// The mount's cached AWS clients, built from `config/root` on first use.
    async fn clients(&self, storage: &Storage) -> Result<Arc<Clients>, ClientError> {
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let _building = self.build_lock.lock().await;
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let gen = self.generation.load(Ordering::SeqCst);
        let cfg = RootConfig::load(storage)
            .await
            .map_err(|e| ClientError::Config(e.to_string()))?
            .unwrap_or_else(RootConfig::new_default);
        let built = Arc::new(clients::build(&cfg, &self.call_context()).await?);
        if let Ok(mut slot) = self.clients.write() {
            *slot = Some((gen, built.clone()));
        }
        Ok(built)
    }

    /// How this mount's AWS clients report and pace their calls.
    fn call_context(&self) -> CallContext {
        CallContext {
            metrics: Some(self.metrics.clone()),
            pacers: Some(self.pacers.clone()),
            ..CallContext::default()
        }
    }

    /// `config/lease` (defaults when unset), cached until it changes.
    async fn lease_config(&self, storage: &Storage) -> Result<config_lease::LeaseConfig, Error> {
        let gen = self.lease_generation.load(Ordering::SeqCst);
        if let Ok(slot) = self.lease.read() {
            if let Some((g, c)) = *slot {
                if g == gen {
                    return Ok(c);
                }
            }
        }
        let cfg = config_lease::LeaseConfig::load(storage)
            .await?
            .unwrap_or_default();
        if let Ok(mut slot) = self.lease.write() {
            *slot = Some((gen, cfg));
        }
        Ok(cfg)
    }

    /// The mount's max lease TTL (caps STS sessions), asked of the server at most every
    /// [`MAX_TTL_REFRESH`]. Asking on every request would add a round trip to the server to each
    /// STS issue; a `secrets tune` of the max TTL takes effect here within that time (the server
    /// itself caps every lease at once).
    async fn mount_max_ttl(
        &self,
        system: &crate::framework::storage::SystemView,
    ) -> Result<Duration, Error> {
        let now = std::time::Instant::now();
        if let Some((at, ttl)) = self.max_ttl.lock().ok().and_then(|c| *c) {
            if now.duration_since(at) < MAX_TTL_REFRESH {
                return Ok(ttl);
            }
        }
        let ttl = system.max_lease_ttl().await?;
        if let Ok(mut c) = self.max_ttl.lock() {
            *c = Some((now, ttl));
        }
        Ok(ttl)
    }

    /// Forgets the cached `config/lease`.
    fn drop_lease_config(&self) {
        self.lease_generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Forgets the cached clients (config changed here or on another node).
    fn drop_clients(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.chain.clear();
    }

    /// Schedules the next rotation of static role `name`.
    fn schedule(&self, name: &str, at: std::time::SystemTime) {
        self.schedule.set(name, at);
    }

    /// Makes the root rotation task re-read `config/root` now.
    fn wake_root_rotation(&self) {
        self.root_schedule.wake();
    }

    /// Drops static role `name` from the schedule.
    fn unschedule(&self, name: &str) {
        self.schedule.remove(name);
    }

    fn invalidate(&self, key: &str) {
        match key {
            config_root::KEY => {
                self.drop_clients();
                self.wake_root_rotation();
            }
            config_lease::KEY => self.drop_lease_config(),
            _ => self.roles.invalidate(key),
        }
    }
}

/// How many per-role locks [`RoleTurns`] keeps before it drops the idle ones.
const TURNS_KEPT: usize = 256;

/// One async lock per role name, taken in arrival order.
#[derive(Default)]
struct RoleTurns {
    by_role: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl RoleTurns {
    /// Waits for `role`'s turn; the turn lasts as long as the guard.
    async fn turn(&self, role: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = match self.by_role.lock() {
            Ok(mut m) => {
                // Locks nobody holds or waits for go, so the table stays as small as the
                // number of roles being issued right now.
                if m.len() >= TURNS_KEPT {
                    m.retain(|_, l| Arc::strong_count(l) > 1);
                }
                m.entry(role.to_string()).or_default().clone()
            }
            Err(_) => Arc::default(),
        };
        lock.lock_owned().await
    }
}

/// Engine description shown by `path-help` on the mount root.
const BACKEND_HELP: &str = "\
The AWS backend dynamically generates AWS access keys for a set of
IAM policies. The AWS access keys have a configurable lease set and
are automatically revoked at the end of the lease.

After mounting this backend, credentials to generate IAM keys must
be configured with the \"root\" path and policies must be written using
the \"roles/\" endpoints before any access keys can be generated.";

/// Plugin version reported to the catalog (Cargo.toml's, unless the binary was stamped).
pub fn version() -> String {
    crate::plugin::version::reported()
}

/// How long a read of the mount's max lease TTL is used before asking the server again.
const MAX_TTL_REFRESH: Duration = Duration::from_secs(10);

/// How long Cleanup lets a root rotation under way finish before it is cut off (its WAL entry
/// then covers the key it may have made).
const CLEANUP_GRACE: Duration = Duration::from_secs(10);

/// Minimum age of a WAL entry before rollback acts on it (an issue in flight
/// must not be undone under its feet).
const WAL_MIN_AGE: Duration = Duration::from_secs(5 * 60);

/// The engine.
pub fn framework() -> Framework<AwsBackend> {
    Framework {
        help: BACKEND_HELP,
        paths: vec![
            config_root::path(),
            rotate_root::path(),
            config_lease::path(),
            roles::path(),
            roles::list_path(),
            static_roles::path(),
            static_roles::list_path(),
            static_roles::creds_path(),
            static_roles::rotate_path(),
            creds::path(),
            tidy::path(),
            tidy::config_path(),
            metrics_path::path(),
        ],
        secrets: vec![secret::secret_type()],
        special_paths: SpecialPaths {
            local_storage: vec!["wal/".into()],
            seal_wrap_storage: vec!["config/root".into(), "static-creds/".into()],
            ..SpecialPaths::default()
        },
        factory: Arc::new(|m: &MountConfig| AwsBackend {
            mount_uuid: m.backend_uuid.clone(),
            ..AwsBackend::default()
        }),
        wal_rollback: Some(Arc::new(|ctx, kind, data| {
            Box::pin(rollback::rollback(ctx, kind, data))
        })),
        wal_rollback_min_age: WAL_MIN_AGE,
        // The rollback tick is a safety net; the scheduler tasks do the timing.
        periodic: Some(Arc::new(|ctx| {
            Box::pin(async move {
                let root = root_rotation::run_due(&ctx.backend, &ctx.storage, &ctx.system).await;
                static_roles::run_due(&ctx.backend, &ctx.storage, &ctx.system).await?;
                root.map(|_| ())
            })
        })),
        // Initialize runs on start, reload, unseal and on a new active node:
        // the rotation schedule is rebuilt from storage there.
        initialize: Some(Arc::new(|ctx| {
            Box::pin(async move {
                ctx.backend.roles.forget_all();
                static_roles::start(ctx.backend.clone(), ctx.storage.clone(), ctx.system.clone());
                root_rotation::start(ctx.backend.clone(), ctx.storage.clone(), ctx.system.clone());
                tidy::start(ctx.backend.clone(), ctx.storage.clone(), ctx.system.clone());
                Ok(())
            })
        })),
        invalidate: Some(Arc::new(|b: &AwsBackend, key: &str| b.invalidate(key))),
        // A root rotation under way may finish (a reload then needs no rollback of its key).
        cleanup: Some(Arc::new(|b: Arc<AwsBackend>| {
            Box::pin(async move {
                b.schedule.stop();
                b.tidy.stop();
                b.root_schedule.stop_gracefully(CLEANUP_GRACE).await;
            })
        })),
        version: version(),
    }
}
