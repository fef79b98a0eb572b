//! `metrics`: this mount's counters and histograms in Prometheus text format,
//! so an operator can scrape the engine without server changes
//! (`curl -H "X-Vault-Token: ..." $ADDR/v1/aws/metrics`).
//!
//! Gauges that live in storage (the WAL backlog) are computed here at scrape time, so they are
//! right on every node and after every restart.

use std::time::SystemTime;

use base64::Engine;
use serde_json::Value;

use crate::framework::storage::Storage;
use crate::framework::{handler, obj, wal, Ctx, Error, HandlerResult, Operation, Path, Response};

use super::metrics::{
    ROOT_KEY_DELETE_PENDING, ROOT_ROTATION_FAILING, STATIC_QUEUE_DEPTH, WAL_ENTRIES, WAL_OLDEST_AGE,
};
use super::{root_rotation, AwsBackend};

/// The WAL backlog: how many entries wait, and the age of the oldest in seconds (0 if none).
/// Rollback takes an entry once it is older than five minutes, so an old entry is one that
/// failed to roll back: the operator's signal that half-made users are not being cleaned up.
async fn wal_backlog(storage: &Storage) -> Result<(f64, f64), Error> {
    let ids = wal::list(storage).await?;
    let now = SystemTime::now();
    let mut oldest = 0u64;
    for id in &ids {
        // An entry deleted between the list and the read is simply gone.
        if let Some(entry) = wal::get(storage, id).await? {
            oldest = oldest.max(entry.age(now).as_secs());
        }
    }
    Ok((ids.len() as f64, oldest as f64))
}

async fn read(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let (wal_entries, wal_oldest) = wal_backlog(&ctx.storage).await?;
    // Old root access keys whose delete failed after a rotation and wait for a retry, and
    // whether the last rotation failed.
    let (pending, failing) = root_rotation::gauges(&ctx.storage).await?;
    let queue = ctx.backend.schedule.len() as f64;
    let text = ctx.backend.metrics.render(&[
        (WAL_ENTRIES, wal_entries),
        (WAL_OLDEST_AGE, wal_oldest),
        (STATIC_QUEUE_DEPTH, queue),
        (ROOT_KEY_DELETE_PENDING, pending as f64),
        (ROOT_ROTATION_FAILING, f64::from(u8::from(failing))),
    ]);
    // The server answers a response with these keys as a raw HTTP body.
    let body = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    Ok(Some(Response::with_data(obj([
        (
            "http_content_type",
            Value::from("text/plain; version=0.0.4; charset=utf-8"),
        ),
        ("http_raw_body", Value::from(body)),
        ("http_status_code", Value::from(200)),
    ]))))
}

/// The path entry.
pub(crate) fn path() -> Path<AwsBackend> {
    Path::new("metrics")
        .op(
            Operation::Read,
            "Read this mount's metrics in Prometheus text format.",
            handler(read),
        )
        .help(
            "Engine metrics in Prometheus text format.",
            "Counters and latency histograms for credential issue and revoke per credential\n\
             type and outcome, AWS calls per API and outcome (success, absent, skipped,\n\
             error), retries and throttles, static and root rotation outcomes, the WAL\n\
             backlog and the age of its oldest entry, and the static rotation queue depth.\n\
             Every series an alert needs exists from start-up at 0. A token that only scrapes\n\
             needs nothing but `read` on this path.",
        )
}
