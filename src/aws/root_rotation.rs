//! The automated rotation of the engine's own key (Vault Enterprise's `rotation_period` /
//! `rotation_schedule`; hashicorp/vault#27294 asks for it in the community edition): a task per
//! mount that rotates when `config/root` says a rotation is due, and retries refused deletes of
//! old keys.
//!
//! Everything it decides from is stored in `config/root` (the due time, the failures of the
//! current slot, the old keys still to delete), so a restart, a reload or a new active node
//! carries on where the last one stopped; the task only holds a timer. It acts only where
//! storage is writable (the active node), and under the mount's `rotation_lock` it re-reads
//! the entry before rotating, so a rotation that another pass (the rollback tick, a manual
//! `config/rotate-root`) made moments before is never made twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;

use crate::framework::storage::{Storage, SystemView};
use crate::framework::Error;
use crate::gocompat::time::rfc3339;

use super::config_root::{plan, Outcome, RootConfig, Step, FIRST_RETRY, KEY};
use super::rotate_root::{delete_old_keys, rotate_locked, Trigger};
use super::AwsBackend;

/// How often the task looks at storage with nothing due (a config written through another
/// node's forwarding still wakes it; this is the safety net).
const RESCAN: Duration = Duration::from_secs(30);
/// Shortest sleep, so an overdue item that cannot run (storage down) is no busy loop.
const MIN_SLEEP: Duration = Duration::from_millis(200);
/// Pause after a pass that failed (storage or the server unreachable).
const AFTER_ERROR: Duration = Duration::from_secs(10);

/// The mount's root rotation task.
#[derive(Default)]
pub(crate) struct RootSchedule {
    wake: Notify,
    /// Set by [`RootSchedule::stop_gracefully`]: end after the pass under way.
    stopping: AtomicBool,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl RootSchedule {
    /// Makes the task look at `config/root` now (it changed).
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops the task at once. A rotation it was making stops at its next await: the WAL
    /// entry covers a key created but not stored, and a stored one is complete.
    pub(crate) fn stop(&self) {
        if let Some(h) = self.take() {
            h.abort();
        }
    }

    /// Lets the pass under way (a rotation, a delete retry) finish, for at most `grace`, then
    /// stops the task. The server waits for Cleanup before it stops the process, so a reload
    /// or unmount during a rotation completes it instead of leaving a key to the rollback.
    pub(crate) async fn stop_gracefully(&self, grace: Duration) {
        let Some(mut h) = self.take() else {
            return;
        };
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        if tokio::time::timeout(grace, &mut h).await.is_err() {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "root rotation still running at cleanup; stopped (its WAL entry covers a new key)"
            );
            h.abort();
        }
    }

    fn take(&self) -> Option<tokio::task::JoinHandle<()>> {
        self.task.lock().ok().and_then(|mut t| t.take())
    }
}

/// Starts (or restarts) the mount's task; Initialize calls it on start, reload, unseal and on
/// becoming the active node.
pub(crate) fn start(backend: Arc<AwsBackend>, storage: Storage, system: SystemView) {
    backend.root_schedule.stop();
    backend
        .root_schedule
        .stopping
        .store(false, Ordering::SeqCst);
    let b = backend.clone();
    let handle = tokio::spawn(async move {
        while !b.root_schedule.stopping.load(Ordering::SeqCst) {
            let wait = match run_due(&b, &storage, &system).await {
                Ok(Some(at)) => at
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO)
                    .clamp(MIN_SLEEP, RESCAN),
                Ok(None) => RESCAN,
                Err(e) => {
                    tracing::warn!(error = %e, "root rotation pass failed; will look again");
                    AFTER_ERROR
                }
            };
            if b.root_schedule.stopping.load(Ordering::SeqCst) {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {},
                _ = b.root_schedule.wake.notified() => {},
            }
        }
    });
    if let Ok(mut t) = backend.root_schedule.task.lock() {
        *t = Some(handle);
    }
}

/// One pass: retry the old-key deletes that are due, then rotate if a rotation is due. Returns
/// when to look again (`None`: nothing scheduled). Also the rollback tick's safety net.
pub(crate) async fn run_due(
    backend: &AwsBackend,
    storage: &Storage,
    system: &SystemView,
) -> Result<Option<SystemTime>, Error> {
    if !system.write_safe().await? {
        return Ok(None);
    }
    let _one_at_a_time = backend.rotation_lock.lock().await;
    let Some(cfg) = RootConfig::load(storage).await? else {
        return Ok(None);
    };
    let now = SystemTime::now();
    if cfg.root_rotation.pending_deletes.iter().any(|p| p.due(now)) {
        let iam = backend.clients(storage).await?.iam.clone();
        delete_old_keys(storage, &iam, |p| p.due(now)).await;
        return Ok(Some(now));
    }
    let timing = cfg.rotation.timing();
    let step = plan(&timing, &cfg.root_rotation, now);
    let wake = match step {
        Step::Wait(at) => at,
        Step::Rotate => {
            match rotate_locked(backend, storage, Trigger::Scheduled).await {
                Ok(r) => {
                    tracing::info!(new_access_key = %r.access_key, "scheduled root key rotation done")
                }
                Err(e) => tracing::warn!(error = %e, "scheduled root key rotation failed"),
            }
            // Not at once: a failure whose record could not be stored must not spin (the
            // stored backoff decides the real retry; a config write wakes the task anyway).
            Some(now + FIRST_RETRY)
        }
        Step::Reschedule(next) => {
            let mut updated = cfg.clone();
            if updated.root_rotation.failures > 0 {
                tracing::warn!(failures = updated.root_rotation.failures, next = ?next.map(rfc3339), "root key rotation kept failing until its window closed; waiting for the next slot");
            }
            updated.root_rotation.next_rotation = next.map(rfc3339).unwrap_or_default();
            updated.root_rotation.failures = 0;
            storage.put_json(KEY, &updated).await?;
            next
        }
    };
    let retry = cfg.root_rotation.next_delete_retry();
    Ok(match (wake, retry) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// The root rotation's state as the metrics gauges show it: how many old root keys wait for a
/// delete retry (`vault_aws_root_key_delete_pending`), and whether the last rotation failed
/// with no success since (`vault_aws_root_rotation_failing`).
pub(crate) async fn gauges(storage: &Storage) -> Result<(usize, bool), Error> {
    Ok(RootConfig::load(storage).await?.map_or((0, false), |c| {
        let r = &c.root_rotation;
        (r.pending_deletes.len(), r.last_outcome == Outcome::Error)
    }))
}
