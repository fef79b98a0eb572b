//! `metrics`: this mount's counters and histograms in Prometheus text format,
//! so an operator can scrape the engine without server changes
//! (`curl -H "X-Vault-Token: ..." $ADDR/v1/aws/metrics`).

use base64::Engine;
use serde_json::Value;

use crate::framework::{handler, obj, wal, Ctx, HandlerResult, Operation, Path, Response};

use super::{root_rotation, AwsBackend};

async fn read(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let wal_entries = wal::list(&ctx.storage).await?.len() as f64;
    let queue = ctx.backend.schedule.len() as f64;
    let text = ctx.backend.metrics.render(&[
        ("vault_aws_wal_entries", wal_entries),
        ("vault_aws_static_queue_depth", queue),
        (
            "vault_aws_root_key_delete_pending",
            root_rotation::pending_deletes(&ctx.storage).await? as f64,
        ),
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
             type and outcome, AWS call latency, retries and throttles per API, the WAL\n\
             backlog, the static rotation queue depth and rotation failures.",
        )
}
