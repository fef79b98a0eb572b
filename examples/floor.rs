//! The floor: the cheapest possible external plugin, built from this crate's `plugin` and
//! `framework` layers unchanged, with a few paths that answer from memory.
//!
//! `scripts/bench.py` registers it on the same server as the AWS engine and compares the
//! engine's storage-only paths (`read roles/<name>`, `list roles`) with the same requests here:
//! whatever this plugin costs is what every external plugin pays (the server's two gRPC calls
//! per request, mutual TLS, JSON in and out), so the difference is the engine's own cost. It
//! also shows that a second engine can reuse the two layers as they are.
//!
//! Paths: `item/<name>` (write stores the request's data in memory, read answers it),
//! `items/` (list of the stored names), `fill` (write `count=N` to store N items `item-<i>`
//! with the data of `template`, for list benchmarks without N requests), `lease/<name>` (read
//! answers an empty secret under a lease whose revoke does nothing: what the server itself
//! spends per lease in a `revoke-prefix`, the floor for the engine's mass revoke).
//!
//! Build: `cargo build --release --example floor` (target/release/examples/floor).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, RwLock};

use serde_json::{Map, Value};

use std::time::Duration;

use vault_plugin_secrets_aws::framework::{
    self, handler, name_segment, Ctx, Field, FieldType, Framework, HandlerResult, MountConfig,
    Operation, Path, Response, SecretResponse, SecretType, SpecialPaths, SECRET_TYPE_KEY,
};

/// The secret type of `lease/<name>`.
const LEASE: &str = "floor_lease";

/// One mount's items, in memory only.
#[derive(Default)]
struct Floor {
    items: RwLock<BTreeMap<String, Map<String, Value>>>,
}

async fn write_item(ctx: Ctx<Floor>) -> HandlerResult {
    let name = ctx.fields.string("name");
    let mut data = ctx.req.data.clone();
    data.remove("name");
    if let Ok(mut items) = ctx.backend.items.write() {
        items.insert(name, data);
    }
    Ok(None)
}

async fn read_item(ctx: Ctx<Floor>) -> HandlerResult {
    let name = ctx.fields.string("name");
    let found = ctx
        .backend
        .items
        .read()
        .ok()
        .and_then(|items| items.get(&name).cloned());
    Ok(found.map(Response::with_data))
}

async fn list_items(ctx: Ctx<Floor>) -> HandlerResult {
    let keys: Vec<String> = ctx
        .backend
        .items
        .read()
        .map(|items| items.keys().cloned().collect())
        .unwrap_or_default();
    Ok(Some(Response::list(keys)))
}

async fn fill(ctx: Ctx<Floor>) -> HandlerResult {
    let count = ctx.fields.int("count").max(0);
    let template = match ctx.req.data.get("template") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    if let Ok(mut items) = ctx.backend.items.write() {
        for i in 0..count {
            items.insert(format!("item-{i}"), template.clone());
        }
    }
    Ok(None)
}

async fn lease(_: Ctx<Floor>) -> HandlerResult {
    let mut internal_data = Map::new();
    internal_data.insert(SECRET_TYPE_KEY.into(), Value::from(LEASE));
    Ok(Some(Response {
        data: Some(Map::new()),
        secret: Some(SecretResponse {
            internal_data,
            ttl: Duration::from_secs(3600),
            max_ttl: Duration::from_secs(3600),
            renewable: false,
        }),
        ..Response::default()
    }))
}

async fn revoke_nothing(_: Ctx<Floor>) -> HandlerResult {
    Ok(None)
}

fn floor() -> Framework<Floor> {
    Framework {
        help: "The floor engine: answers from memory (a benchmark baseline).",
        paths: vec![
            Path::new(format!("item/{}", name_segment("name")))
                .field(Field::new("name", FieldType::String, "Item name").required())
                .op(Operation::Read, "Read an item", handler(read_item))
                .op(Operation::Update, "Store an item", handler(write_item))
                .help(
                    "An item kept in memory.",
                    "Reads answer what the last write stored.",
                ),
            Path::new("items/?")
                .op(Operation::List, "List items", handler(list_items))
                .help("The stored items.", "Lists the names of the stored items."),
            Path::new(format!("lease/{}", name_segment("name")))
                .field(Field::new("name", FieldType::String, "Lease name").required())
                .op(Operation::Read, "Issue a lease", handler(lease))
                .help(
                    "A lease on nothing.",
                    "Reads answer an empty secret under a one-hour lease; revoke does nothing.",
                ),
            Path::new("fill")
                .field(Field::new("count", FieldType::Int, "How many items"))
                .op(Operation::Update, "Store count items", handler(fill))
                .help(
                    "Store many items at once.",
                    "Stores item-0 .. item-<count-1>.",
                ),
        ],
        secrets: vec![SecretType {
            name: LEASE,
            fields: Vec::new(),
            renew: None,
            revoke: handler(revoke_nothing),
        }],
        special_paths: SpecialPaths::default(),
        factory: Arc::new(|_: &MountConfig| Floor::default()),
        wal_rollback: None,
        wal_rollback_min_age: std::time::Duration::from_secs(300),
        periodic: None,
        initialize: None,
        invalidate: None,
        cleanup: None,
        version: format!("v{}", env!("CARGO_PKG_VERSION")),
    }
}

fn main() -> ExitCode {
    framework::run(floor(), "floor")
}
