//! `creds/<name>` and `sts/<name>`: issue credentials for a role.
//!
//! `iam_user` issue is guarded by a WAL entry written before the user exists and
//! removed only once the lease owns the user, so a failure at any step — an AWS
//! error, a crash, a restart — ends with the user deleted (at once when we can,
//! else by the rollback operation).

use serde_json::{json, Map, Value};

use crate::framework::fields::FieldType;
use crate::framework::{
    handler, name_segment, wal, Ctx, Error, Field, HandlerResult, Operation, Path, Response,
    SecretResponse,
};
use crate::gocompat::quote::go_quote;

use super::iam_user::{create_user_with_key, delete_user, IamError, NewUser, UserGone};
use super::role::{
    RoleEntry, CRED_ASSUMED_ROLE, CRED_FEDERATION_TOKEN, CRED_IAM_USER, CRED_SESSION_TOKEN,
};
use super::roles::not_found;
use super::secret::{internal_data_iam_user, WAL_KIND_USER};
use super::username::{generate_username, NameKind};
use super::AwsBackend;

impl From<IamError> for Error {
    fn from(e: IamError) -> Self {
        match e.status() {
            400 => Error::BadRequest(e.to_string()),
            500 => Error::Internal(e.to_string()),
            code => Error::Coded(code, e.to_string()),
        }
    }
}

async fn issue(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let name = ctx.fields.string("name");
    let is_sts_path = ctx.req.path.starts_with("sts/");
    let role = ctx
        .backend
        .role(&ctx.storage, &name)
        .await?
        .ok_or_else(|| not_found(&name))?;
    let cred_type = role
        .select_credential_type(is_sts_path)
        .map_err(Error::bad)?
        .to_string();
    let started = std::time::Instant::now();
    let result = match cred_type.as_str() {
        CRED_IAM_USER => issue_iam_user(&ctx, &name, &role).await,
        CRED_ASSUMED_ROLE | CRED_FEDERATION_TOKEN | CRED_SESSION_TOKEN => {
            super::sts::issue(&ctx, &name, &role, &cred_type).await
        }
        other => {
            return Err(Error::bad(format!(
                "unknown credential_type: {}",
                go_quote(other)
            )))
        }
    };
    ctx.backend.metrics.record(
        "vault_aws_credentials_issued_total",
        "vault_aws_credential_issue_seconds",
        &cred_type,
        result.is_ok(),
        started,
    );
    result
}

async fn issue_iam_user(ctx: &Ctx<AwsBackend>, role_name: &str, role: &RoleEntry) -> HandlerResult {
    let clients = ctx
        .backend
        .clients(&ctx.storage)
        .await
        .map_err(|e| match e {
            Error::Internal(m) => Error::BadRequest(m),
            other => other,
        })?;
    let cfg = clients.config.clone();
    let username = generate_username(
        cfg.template(),
        NameKind::Iam,
        &ctx.req.display_name,
        role_name,
    )
    .map_err(|e| Error::internal(e.to_string()))?;

    let wal_id = wal::put(&ctx.storage, WAL_KIND_USER, json!({ "UserName": username }))
        .await
        .map_err(|e| Error::internal(format!("error writing WAL entry: {e}")))?;

    let tags = role.iam_tags.clone().unwrap_or_default();
    let policy_arns = role.policy_arns.clone().unwrap_or_default();
    let groups = role.iam_groups.clone().unwrap_or_default();
    let new_user = NewUser {
        username: &username,
        path: &role.user_path,
        permissions_boundary_arn: &role.permissions_boundary_arn,
        policy_arns: &policy_arns,
        inline_policy: (!role.policy_document.is_empty())
            .then_some((role_name, role.policy_document.as_str())),
        groups: &groups,
        tags: &tags,
    };
    let key = match create_user_with_key(&clients.iam, &new_user, Some(&ctx.backend.metrics)).await
    {
        Ok(k) => k,
        Err(e) => {
            undo_half_created_user(ctx, &clients.iam, &wal_id, &username, &e).await;
            return Err(e.into());
        }
    };
    if let Err(e) = wal::delete(&ctx.storage, &wal_id).await {
        // The user stays covered by the WAL entry and will be rolled back, so the key must not be handed out.
        return Err(Error::internal(format!("failed to commit WAL entry: {e}")));
    }
    tracing::info!(role = %role_name, username = %username, access_key = %key.access_key_id, "issued iam_user credentials");

    let lease = ctx.backend.lease_config(&ctx.storage).await?;
    let mut data = Map::new();
    data.insert("access_key".into(), Value::from(key.access_key_id));
    data.insert("secret_key".into(), Value::from(key.secret_access_key));
    data.insert("session_token".into(), Value::Null);
    data.insert("security_token".into(), Value::Null);
    Ok(Some(Response {
        data: Some(data),
        secret: Some(SecretResponse {
            internal_data: internal_data_iam_user(&username, role),
            ttl: std::time::Duration::from_nanos(lease.lease.max(0) as u64),
            max_ttl: std::time::Duration::from_nanos(lease.lease_max.max(0) as u64),
            renewable: true,
        }),
        warnings: Vec::new(),
    }))
}

/// After a failed issue: when AWS definitively refused CreateUser there is
/// nothing in AWS, so the WAL entry goes. Otherwise the user may exist: delete
/// it now and drop the entry only if AWS confirms the deletion (a "no such user"
/// seconds after CreateUser may be IAM lagging, so the entry stays for rollback).
async fn undo_half_created_user(
    ctx: &Ctx<AwsBackend>,
    iam: &aws_sdk_iam::Client,
    wal_id: &str,
    username: &str,
    cause: &IamError,
) {
    // A CreateUser refused with EntityAlreadyExists is definitive: the user is
    // someone else's (create_user_with_key adopts the one a lost attempt made).
    let user_may_exist = cause.call() != "CreateUser" || !cause.is_definitive();
    if user_may_exist {
        match delete_user(iam, username).await {
            Ok(UserGone::Deleted) => {}
            Ok(UserGone::AlreadyAbsent) => {
                tracing::warn!(username = %username, "half-created user not visible yet; rollback will delete it");
                return;
            }
            Err(e) => {
                tracing::warn!(username = %username, error = %e, "could not delete half-created user; rollback will retry");
                return;
            }
        }
    }
    if let Err(e) = wal::delete(&ctx.storage, wal_id).await {
        tracing::warn!(wal_id = %wal_id, error = %e, "could not delete WAL entry after cleanup; rollback will finish it");
    }
}

/// `creds/<name>` and `sts/<name>`.
pub fn path() -> Path<AwsBackend> {
    Path::new(format!("(creds|sts)/{}", name_segment("name")))
        .field(Field::new("name", FieldType::String, "Name of the role").required())
        .field(
            Field::new(
                "role_arn",
                FieldType::String,
                "ARN of role to assume when credential_type is assumed_role",
            )
            .query(),
        )
        .field(
            Field::new(
                "ttl",
                FieldType::DurationSecond,
                "Lifetime of the returned credentials in seconds",
            )
            .default(3600)
            .query(),
        )
        .field(
            Field::new(
                "role_session_name",
                FieldType::String,
                "Session name to use when assuming role. Max chars: 64",
            )
            .query(),
        )
        .field(
            Field::new(
                "mfa_code",
                FieldType::String,
                "MFA code to provide for session tokens",
            )
            .query(),
        )
        .op(
            Operation::Read,
            "Generate AWS credentials from a specific Vault role.",
            handler(issue),
        )
        .op(
            Operation::Update,
            "Generate AWS credentials from a specific Vault role.",
            handler(issue),
        )
        .help(
            "Generate AWS credentials from a specific Vault role.",
            "This path will generate new, never before used AWS credentials for\n\
             accessing AWS. The IAM policy used to back this key pair will be\n\
             the \"name\" parameter. For example, if this backend is mounted at \"aws\",\n\
             then \"aws/creds/deploy\" would generate access keys for the \"deploy\" role.\n\n\
             The access keys will have a lease associated with them. The access keys\n\
             can be revoked by using the lease ID when using the iam_user credential type.\n\
             When using AWS STS credential types (assumed_role, federation_token or\n\
             session_token), revoking the lease does not revoke the access keys: AWS\n\
             cannot revoke one STS session; they expire at the end of their TTL.",
        )
}
