//! The WAL rollback: each kind of write-ahead entry the engine writes, with the function that
//! undoes its half-done work (as Vault's `builtin/logical/aws/rollback.go`).
//!
//! The framework calls [`rollback`] for every entry older than the rollback window; an `Ok`
//! deletes the entry, an error keeps it for the next tick.

use serde_json::Value;

use crate::framework::{Ctx, Error};

use super::iam_user::{self, WAL_KIND_USER};
use super::rotate_root::{rollback_root_key, WAL_KIND_ROOT_KEY};
use super::static_roles::{self, WAL_KIND_STATIC_KEY};
use super::AwsBackend;

/// Undoes the work recorded in one WAL entry of `kind`.
pub(crate) async fn rollback(ctx: Ctx<AwsBackend>, kind: String, data: Value) -> Result<(), Error> {
    match kind.as_str() {
        WAL_KIND_USER => {
            let clients = ctx.backend.clients(&ctx.storage).await?;
            iam_user::rollback(&ctx.storage, &clients.iam, &data).await
        }
        WAL_KIND_STATIC_KEY => {
            static_roles::rollback_static_key(&ctx.backend, &ctx.storage, &data).await
        }
        WAL_KIND_ROOT_KEY => rollback_root_key(&ctx.backend, &ctx.storage, &data).await,
        _ => Err(Error::internal("unknown type to rollback")),
    }
}
