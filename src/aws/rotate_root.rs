//! `config/rotate-root`: replace the engine's own access key.
//!
//! Order matters so that no working key is lost and none is orphaned: create the
//! new key, wait until AWS accepts it, store it, and only then delete the old
//! one. A new key that never starts working is deleted again and the old one kept.

use serde_json::Value;

use crate::framework::{handler, obj, Ctx, Error, HandlerResult, Operation, Path, Response};

use super::aws_error::aws_error_text;
use super::clients;
use super::config_root::{RootConfig, KEY};
use super::iam_user::{
    create_access_key_once, list_access_key_ids, wait_until_usable, IamError, NEW_KEY_DEADLINE,
};
use super::AwsBackend;

async fn rotate(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let _guard = ctx.backend.rotation_lock.lock().await;
    let cfg = RootConfig::load(&ctx.storage)
        .await?
        .ok_or_else(|| Error::internal("no configuration found for config/root"))?;
    if cfg.access_key.is_empty() || cfg.secret_key.is_empty() {
        return Err(Error::bad(
            "Cannot call config/rotate-root when either access_key or secret_key is empty",
        ));
    }
    let calls = ctx.backend.call_context();
    let old = clients::build(&cfg, &calls).await?;
    let user =
        old.iam.get_user().send().await.map_err(|e| {
            Error::internal(format!("error calling GetUser: {}", aws_error_text(&e)))
        })?;
    let user_name = user
        .user()
        .map(|u| u.user_name().to_string())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::internal("nil UserName returned from GetUser"))?;
    // The keys before, so that a key made by an attempt whose answer was lost can be told
    // apart from one the user holds on purpose. A root policy without iam:ListAccessKeys
    // still rotates; only that cleanup is skipped.
    let known = match list_access_key_ids(&old.iam, &user_name).await {
        Ok(k) => Some(k),
        Err(e) => {
            tracing::warn!(error = %e.detail(), "could not list the root user's access keys before rotating");
            None
        }
    };
    let key = create_access_key_once(&old.iam, &user_name, known.as_deref(), None)
        .await
        .map_err(|e| match e {
            IamError::IncompleteResponse { .. } => {
                Error::internal("nil response from CreateAccessKey")
            }
            e => Error::internal(format!("error calling CreateAccessKey: {}", e.detail())),
        })?;
    let (new_id, new_secret) = (key.access_key_id.clone(), key.secret_access_key.clone());

    let fresh = clients::build_with_keys(&cfg, &new_id, &new_secret, &calls).await?;
    if let Err(e) = wait_until_usable(&fresh.iam, None).await {
        discard_new_key(&old.iam, &user_name, &new_id).await;
        return Err(Error::internal(format!(
            "the new access key {new_id} did not become usable within {}s ({e}); it was deleted and the current key kept",
            NEW_KEY_DEADLINE.as_secs()
        )));
    }
    let mut updated = cfg.clone();
    updated.access_key = new_id.clone();
    updated.secret_key = new_secret;
    if let Err(e) = ctx.storage.put_json(KEY, &updated).await {
        discard_new_key(&old.iam, &user_name, &new_id).await;
        return Err(Error::internal(format!(
            "error saving new config/root: {e}"
        )));
    }
    ctx.backend.drop_clients();
    tracing::info!(new_access_key = %new_id, "root access key rotated");

    let mut resp = Response::with_data(obj([("access_key", Value::from(new_id.clone()))]));
    if let Err(e) = fresh
        .iam
        .delete_access_key()
        .user_name(&user_name)
        .access_key_id(&cfg.access_key)
        .send()
        .await
    {
        let text = aws_error_text(&e);
        tracing::warn!(old_access_key = %cfg.access_key, error = %text, "old root key could not be deleted");
        resp.warn(format!(
            "error deleting old access key: {text}; the new key is stored and in use, delete the old key {} by hand",
            cfg.access_key
        ));
    }
    Ok(Some(resp))
}

async fn discard_new_key(iam: &aws_sdk_iam::Client, user: &str, id: &str) {
    if let Err(e) = iam
        .delete_access_key()
        .user_name(user)
        .access_key_id(id)
        .send()
        .await
    {
        tracing::error!(access_key = %id, error = %aws_error_text(&e), "could not delete the unused new root key");
    }
}

/// The path entry.
pub(crate) fn path() -> Path<AwsBackend> {
    Path::new("config/rotate-root")
        .op(Operation::Update, "Rotate the root credentials: create a new key, verify it, store it, delete the old one.", handler(rotate))
        .help(
            "Request to rotate the AWS credentials used by Vault",
            "This path attempts to rotate the AWS credentials used by Vault for this mount.\n\
             It is only valid if Vault has been configured to use AWS IAM credentials via the\n\
             config/root endpoint. The new key is verified before it is stored and the old\n\
             key is deleted only after that; the response holds only the new access key id.",
        )
}
