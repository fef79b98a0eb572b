//! The orphan sweep: `tidy/iam-users` (on demand) and `config/tidy` (periodic).
//!
//! Users outlive their leases in ways the server cannot see (a revoke AWS refused until the
//! server gave up, `lease revoke -force`, a restored server, a lost WAL entry; hashicorp/vault
//! #16685, #5202, #2735), and each one counts toward the account's IAM user limit. A user is an
//! orphan of this mount when all of these hold:
//! - it carries this mount's tag ([`MOUNT_TAG_KEY`] = the mount's UUID), so a hand-made user or
//!   another mount's is never named, whatever its name;
//! - it exists in IAM and no WAL entry covers it (an issue in flight or a rollback to come);
//! - its record's lease ended more than `min_age` ago, or it has no record and was created more
//!   than `min_age` ago.
//!
//! `dry_run` (the default) only names them; otherwise each is torn down completely, as revoke
//! does. Records whose user is gone are dropped at the same time.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use std::time::{Duration, SystemTime};
use tokio::sync::Notify;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::framework::storage::{Storage, SystemView};
use crate::framework::{
    handler, wal, Ctx, Error, Field, FieldType, HandlerResult, Operation, Path, Response,
};

use super::iam_user::record::{self, unix, UserRecord};
use super::iam_user::{delete_user, MOUNT_TAG_KEY, WAL_KIND_USER};
use super::metrics::{ORPHANS_DELETED, ORPHAN_DELETE_FAILURES, ORPHAN_SWEEPS};
use super::pages::{collect_pages, iam_page, PageError};
use super::AwsBackend;

/// Storage key of the periodic sweep's settings.
pub(crate) const KEY: &str = "config/tidy";
/// `min_age` when none is given.
const DEFAULT_MIN_AGE: Duration = Duration::from_secs(3600);

/// `config/tidy`, stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct TidyConfig {
    /// Seconds between periodic sweeps; 0 is off.
    pub(crate) interval: i64,
    /// `min_age` of the periodic sweep, seconds.
    pub(crate) min_age: i64,
    /// When the last periodic sweep started (Unix seconds).
    pub(crate) last_run: i64,
}

impl TidyConfig {
    async fn load(storage: &Storage) -> Result<Self, Error> {
        Ok(storage.get_json(KEY).await?.unwrap_or(TidyConfig {
            min_age: DEFAULT_MIN_AGE.as_secs() as i64,
            ..TidyConfig::default()
        }))
    }
}

/// What one sweep found and did.
#[derive(Debug, Default)]
pub(crate) struct Sweep {
    pub(crate) orphaned: Vec<String>,
    pub(crate) deleted: Vec<String>,
    /// `(user, why)` of orphans whose teardown failed (tried again on the next sweep).
    pub(crate) failed: Vec<(String, String)>,
}

/// One IAM user as `ListUsers` shows it.
struct IamUser {
    name: String,
    created: i64,
}

async fn list_users(iam: &aws_sdk_iam::Client) -> Result<Vec<IamUser>, Error> {
    let users = collect_pages(|marker| async move {
        iam_page!(iam.list_users().set_marker(marker).max_items(1000), users)
    })
    .await
    .map_err(|e| page_error("ListUsers", e))?;
    Ok(users
        .into_iter()
        .map(|u| IamUser {
            created: u.create_date.secs(),
            name: u.user_name,
        })
        .collect())
}

/// Whether `username` carries this mount's tag with `uuid`.
async fn is_ours(iam: &aws_sdk_iam::Client, username: &str, uuid: &str) -> Result<bool, Error> {
    let tags = collect_pages(|marker| async move {
        iam_page!(
            iam.list_user_tags().user_name(username).set_marker(marker),
            tags
        )
    })
    .await;
    match tags {
        Ok(tags) => Ok(tags
            .iter()
            .any(|t| t.key() == MOUNT_TAG_KEY && t.value() == uuid)),
        // Deleted since the list: not an orphan any more.
        Err(PageError::Aws { failure, .. }) if failure.is_no_such_entity() => Ok(false),
        Err(e) => Err(page_error("ListUserTags", e)),
    }
}

fn page_error(call: &str, e: PageError) -> Error {
    match e {
        PageError::Aws { failure, .. } if failure.throttled => {
            Error::Coded(502, format!("{call}: {}", failure.text))
        }
        PageError::Aws { failure, .. } => Error::internal(format!("{call}: {}", failure.text)),
        PageError::Broken(why) => Error::internal(format!("{call}: {why}")),
    }
}

/// The users a WAL entry covers (issues in flight, rollbacks to come).
async fn covered_by_wal(storage: &Storage) -> Result<HashSet<String>, Error> {
    let mut covered = HashSet::new();
    for id in wal::list(storage).await? {
        if let Some(entry) = wal::get(storage, &id).await? {
            if entry.kind == WAL_KIND_USER {
                if let Some(u) = entry.data.get("UserName").and_then(Value::as_str) {
                    covered.insert(u.to_string());
                }
            }
        }
    }
    Ok(covered)
}

/// Finds this mount's orphans (see the module doc) and, unless `dry_run`, deletes them.
pub(crate) async fn sweep(
    backend: &AwsBackend,
    storage: &Storage,
    min_age: Duration,
    dry_run: bool,
) -> Result<Sweep, Error> {
    if backend.mount_uuid.is_empty() {
        return Err(Error::internal(
            "the mount's UUID is unknown, so its users cannot be told apart: no sweep",
        ));
    }
    let clients = backend.clients(storage).await?;
    let iam = &clients.iam;
    let now = unix(SystemTime::now());
    let min_age = i64::try_from(min_age.as_secs()).unwrap_or(i64::MAX);
    // Records and WAL entries first: anything that starts after this is younger than min_age.
    let records: HashMap<String, UserRecord> = record::all(storage).await?.into_iter().collect();
    let covered = covered_by_wal(storage).await?;
    let users = list_users(iam).await?;
    let existing: HashSet<&str> = users.iter().map(|u| u.name.as_str()).collect();

    let mut result = Sweep::default();
    for user in &users {
        if covered.contains(&user.name) {
            continue;
        }
        let old_enough = match records.get(&user.name) {
            Some(r) => now.saturating_sub(r.expires) > min_age,
            None => now.saturating_sub(user.created) > min_age,
        };
        if !old_enough || !is_ours(iam, &user.name, &backend.mount_uuid).await? {
            continue;
        }
        result.orphaned.push(user.name.clone());
        if dry_run {
            continue;
        }
        match delete_user(iam, &user.name).await {
            Ok(_) => {
                if let Some(r) = records.get(&user.name) {
                    record::delete(storage, &r.role, &user.name).await?;
                }
                backend.metrics.add(ORPHANS_DELETED, Vec::new(), 1);
                tracing::info!(username = %user.name, "deleted an orphaned IAM user of this mount");
                result.deleted.push(user.name.clone());
            }
            Err(e) => {
                backend.metrics.add(ORPHAN_DELETE_FAILURES, Vec::new(), 1);
                tracing::warn!(username = %user.name, error = %e, "could not delete an orphaned IAM user; the next sweep tries again");
                result.failed.push((user.name.clone(), e.to_string()));
            }
        }
    }
    if !dry_run {
        // Records of users that are gone (deleted by hand, or the issue never got to
        // CreateUser) and that no WAL entry still covers.
        for (name, r) in &records {
            if !existing.contains(name.as_str())
                && !covered.contains(name)
                && now.saturating_sub(r.created) > min_age
            {
                record::delete(storage, &r.role, name).await?;
            }
        }
    }
    Ok(result)
}

fn result_data(s: &Sweep, dry_run: bool) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("orphaned_users".into(), Value::from(s.orphaned.clone()));
    if !dry_run {
        data.insert("deleted_users".into(), Value::from(s.deleted.clone()));
    }
    data
}

async fn tidy_users(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let f = &ctx.fields;
    let dry_run = f.bool("dry_run");
    let min_age = f.int("min_age");
    if min_age < 0 {
        return Err(Error::bad("min_age must not be negative"));
    }
    let result = sweep(
        &ctx.backend,
        &ctx.storage,
        Duration::from_secs(min_age as u64),
        dry_run,
    )
    .await?;
    let mut resp = Response::with_data(result_data(&result, dry_run));
    for (user, why) in &result.failed {
        resp.warn(format!("could not delete {user}: {why}"));
    }
    Ok(Some(resp))
}

async fn read_config(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let cfg = TidyConfig::load(&ctx.storage).await?;
    let mut data = Map::new();
    // The tag the sweep goes by, so operators can find the mount's users in IAM.
    data.insert("mount_tag_key".into(), Value::from(MOUNT_TAG_KEY));
    data.insert(
        "mount_tag_value".into(),
        Value::from(ctx.backend.mount_uuid.clone()),
    );
    data.insert("interval".into(), Value::from(cfg.interval));
    data.insert("min_age".into(), Value::from(cfg.min_age));
    if cfg.last_run > 0 {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(cfg.last_run as u64);
        data.insert(
            "last_run".into(),
            Value::from(crate::gocompat::time::rfc3339(t)),
        );
    }
    Ok(Some(Response::with_data(data)))
}

async fn write_config(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let f = &ctx.fields;
    let mut cfg = TidyConfig::load(&ctx.storage).await?;
    let interval = f.opt_int("interval");
    let min_age = f.opt_int("min_age");
    for (name, v) in [("interval", interval), ("min_age", min_age)] {
        if v.is_some_and(|v| v < 0) {
            return Err(Error::bad(format!("{name} must not be negative")));
        }
    }
    if let Some(v) = interval {
        cfg.interval = v;
    }
    if let Some(v) = min_age {
        cfg.min_age = v;
    }
    ctx.storage.put_json(KEY, &cfg).await?;
    ctx.backend.tidy.wake.notify_one();
    Ok(None)
}

/// How often the periodic sweep's task looks at `config/tidy` when nothing is due (a change
/// made here wakes it at once; one made on another node is seen within this time).
const RESCAN: Duration = Duration::from_secs(15);

/// The mount's periodic sweep task.
#[derive(Default)]
pub(crate) struct TidyTask {
    wake: Notify,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl TidyTask {
    /// Stops the task (Cleanup); a sweep under way stops at its next await, leaving nothing
    /// half done that the next sweep would not finish.
    pub(crate) fn stop(&self) {
        if let Some(h) = self.task.lock().ok().and_then(|mut t| t.take()) {
            h.abort();
        }
    }
}

/// Starts (or restarts) the mount's periodic sweep; Initialize calls it. It sweeps with
/// `dry_run=false` when `interval` has passed since the last start, on the active node only;
/// results go to the log and the metrics.
pub(crate) fn start(backend: Arc<AwsBackend>, storage: Storage, system: SystemView) {
    backend.tidy.stop();
    let b = backend.clone();
    let handle = tokio::spawn(async move {
        loop {
            let wait = match run_if_due(&b, &storage, &system).await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::warn!(error = %e, "periodic orphan sweep failed");
                    RESCAN
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {},
                _ = b.tidy.wake.notified() => {},
            }
        }
    });
    if let Ok(mut t) = backend.tidy.task.lock() {
        *t = Some(handle);
    }
}

/// Sweeps if due; returns how long until it is worth looking again.
async fn run_if_due(
    backend: &AwsBackend,
    storage: &Storage,
    system: &SystemView,
) -> Result<Duration, Error> {
    let cfg = TidyConfig::load(storage).await?;
    if cfg.interval <= 0 {
        return Ok(RESCAN);
    }
    let now = unix(SystemTime::now());
    let due_in = cfg
        .last_run
        .saturating_add(cfg.interval)
        .saturating_sub(now);
    if due_in > 0 {
        return Ok(Duration::from_secs(due_in as u64).min(RESCAN));
    }
    if !system.write_safe().await? {
        return Ok(RESCAN);
    }
    storage
        .put_json(
            KEY,
            &TidyConfig {
                last_run: now,
                ..cfg
            },
        )
        .await?;
    let min_age = Duration::from_secs(cfg.min_age.max(0) as u64);
    let swept = sweep(backend, storage, min_age, false).await;
    let outcome = if swept.is_ok() { "success" } else { "error" };
    backend
        .metrics
        .add(ORPHAN_SWEEPS, vec![("outcome", outcome.to_string())], 1);
    let s = swept?;
    tracing::info!(
        orphaned = s.orphaned.len(),
        deleted = s.deleted.len(),
        failed = s.failed.len(),
        "periodic orphan sweep done"
    );
    Ok(Duration::from_secs(cfg.interval as u64).min(RESCAN))
}

/// `tidy/iam-users`.
pub(crate) fn path() -> Path<AwsBackend> {
    Path::new("tidy/iam-users")
        .field(Field::new("dry_run", FieldType::Bool, "Only name the orphaned users (default); false deletes them completely, as revoke does.").default(true))
        .field(Field::new("min_age", FieldType::DurationSecond, "How long past its lease's end (or past its creation, for a user without a record) a user must be to count as orphaned.").default(3600))
        .op(Operation::Update, "Find (and with dry_run=false delete) this mount's IAM users that no lease or WAL entry owns.", handler(tidy_users))
        .help(
            "Find and delete IAM users of this mount that outlived their leases.",
            "A user counts as orphaned when it carries this mount's tag (vault-secrets-aws-mount =\n\
             the mount's UUID), exists in IAM, no WAL entry covers it, and its recorded lease ended\n\
             more than min_age ago (or, without a record, it was created more than min_age ago).\n\
             Users without the tag are never named. The answer lists orphaned_users and, with\n\
             dry_run=false, deleted_users.",
        )
}

/// `config/tidy`.
pub(crate) fn config_path() -> Path<AwsBackend> {
    Path::new("config/tidy")
        .field(Field::new("interval", FieldType::DurationSecond, "Seconds between periodic orphan sweeps (with dry_run=false) on the active node; 0 turns them off."))
        .field(Field::new("min_age", FieldType::DurationSecond, "min_age of the periodic sweep (see tidy/iam-users).").default(3600))
        .op(Operation::Read, "Read the periodic orphan sweep's settings.", handler(read_config))
        .op(Operation::Update, "Configure the periodic orphan sweep.", handler(write_config))
        .help(
            "Configure the periodic orphan sweep.",
            "interval (0 = off) and min_age of a sweep run on the active node with dry_run=false;\n\
             its results go to the log and to vault_aws_orphans_deleted_total. Reads also show the\n\
             tag every user of this mount carries (mount_tag_key = mount_tag_value, the mount's\n\
             backend UUID).",
        )
}
