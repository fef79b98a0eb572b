//! When each static role rotates next: an in-memory schedule per mount, rebuilt from storage.
//!
//! The next rotation time is stored with the credentials, so the schedule is storage: it is
//! rebuilt on every Initialize (start, reload, becoming the active node) and survives restarts.
//! A failed rotation is retried with backoff and never dropped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;

use crate::aws::metrics::STATIC_ROTATIONS;
use crate::aws::AwsBackend;
use crate::framework::storage::{Storage, SystemView};
use crate::framework::Error;

use super::model::{load_creds, load_role, parse_rfc3339, ROLE_PREFIX};
use super::rotation::rotate_locked;

/// First retry delay after a failed rotation; doubles up to [`MAX_RETRY`].
pub(crate) const FIRST_RETRY: Duration = Duration::from_secs(10);
/// Longest retry delay.
pub(crate) const MAX_RETRY: Duration = Duration::from_secs(300);
/// How often the scheduler looks at storage even with nothing due (picks up
/// changes made by other nodes).
pub(crate) const RESCAN: Duration = Duration::from_secs(30);

/// In-memory schedule of one mount: role name → next rotation.
#[derive(Default)]
pub(crate) struct Schedule {
    /// Held while a rotation runs, so two never overlap on one mount.
    pub(crate) rotating: tokio::sync::Mutex<()>,
    due: Mutex<BTreeMap<String, SystemTime>>,
    retry: Mutex<BTreeMap<String, Duration>>,
    wake: Notify,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Schedule {
    /// Sets (or replaces) the next rotation of `name`.
    pub(crate) fn set(&self, name: &str, at: SystemTime) {
        if let Ok(mut d) = self.due.lock() {
            d.insert(name.to_string(), at);
        }
        self.wake.notify_one();
    }

    /// Whether `name` is due at `now`.
    pub(crate) fn is_due(&self, name: &str, now: SystemTime) -> bool {
        self.due
            .lock()
            .map(|d| d.get(name).is_some_and(|t| *t <= now))
            .unwrap_or(false)
    }

    /// Roles in the schedule.
    pub(crate) fn len(&self) -> usize {
        self.due.lock().map(|d| d.len()).unwrap_or(0)
    }

    /// Forgets `name`.
    pub(crate) fn remove(&self, name: &str) {
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
    pub(crate) fn stop(&self) {
        if let Ok(mut t) = self.task.lock() {
            if let Some(h) = t.take() {
                h.abort();
            }
        }
    }
}

/// Rebuilds the schedule from storage: every static role with its stored next
/// rotation (roles without one are due now).
pub(crate) async fn rebuild(backend: &AwsBackend, storage: &Storage) -> Result<usize, Error> {
    let names = storage.list(ROLE_PREFIX).await?;
    let mut fresh = BTreeMap::new();
    for name in names.iter().filter(|n| !n.ends_with('/')) {
        let at = load_creds(storage, name)
            .await?
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
pub(crate) async fn run_due(
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
        let Some(role) = load_role(storage, &name).await? else {
            backend.schedule.remove(&name);
            continue;
        };
        let outcome = rotate_locked(backend, storage, &role).await;
        let label = if outcome.is_ok() { "success" } else { "error" };
        backend
            .metrics
            .add(STATIC_ROTATIONS, vec![("outcome", label.to_string())], 1);
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
pub(crate) fn start(backend: Arc<AwsBackend>, storage: Storage, system: SystemView) {
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
