//! STS credential types: `assumed_role`, `federation_token`, `session_token`.
//!
//! STS sessions cannot be revoked one by one, so their leases are not
//! renewable, revoke is a no-op, and the lease lasts exactly as long as AWS
//! says the session does.

use std::future::Future;
use std::time::{Duration, SystemTime};

use aws_sdk_sts::error::SdkError;
use aws_sdk_sts::types::{PolicyDescriptorType, Tag};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::{json, Map, Value};

use crate::framework::{Ctx, Error, HandlerResult, Response, SecretResponse};
use crate::gocompat::quote::go_quote;

use super::clients::Clients;
use super::config_root::RootConfig;
use super::iam_user::AwsFailure;
use super::role::{RoleEntry, CRED_ASSUMED_ROLE, CRED_FEDERATION_TOKEN};
use super::secret::internal_data_sts;
use super::username::{generate_username, normalize, NameKind};
use super::AwsBackend;

/// Default STS lifetime when neither the request nor the role sets one.
pub const DEFAULT_TTL_SECS: i64 = 3600;

/// A failed STS call: the last meaningful AWS answer, or every endpoint unreachable.
#[derive(Debug)]
pub enum StsFailure {
    Aws(AwsFailure),
    Unreachable(Vec<String>),
}

impl StsFailure {
    /// The user-facing error with Vault's `prefix` (`Error assuming role`, ...).
    pub fn into_error(self, prefix: &str) -> Error {
        match self {
            StsFailure::Aws(f) if f.throttled => Error::Coded(502, format!("{prefix}: {}", f.text)),
            StsFailure::Aws(f) => Error::bad(format!("{prefix}: {}", f.text)),
            StsFailure::Unreachable(all) => Error::Coded(
                502,
                format!(
                    "{prefix}: no STS endpoint could be reached: {}",
                    all.join("; ")
                ),
            ),
        }
    }
}

/// Runs `call` against each STS endpoint in order, moving to the next one only
/// when the previous could not be reached or answered 5xx (the call did not
/// definitely fail); any definite AWS answer ends the search.
pub async fn with_sts_fallback<T, E, F, Fut>(clients: &Clients, call: F) -> Result<T, StsFailure>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    F: Fn(aws_sdk_sts::Client) -> Fut,
    Fut: Future<Output = Result<T, SdkError<E>>>,
{
    let mut unreachable = Vec::new();
    for ep in &clients.sts {
        match call(ep.client.clone()).await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let f = AwsFailure::from_sdk(&e);
                if f.definitive || f.throttled {
                    return Err(StsFailure::Aws(f));
                }
                tracing::warn!(endpoint = %ep.label, error = %f.text, "STS endpoint failed; trying the next one");
                unreachable.push(format!("{}: {}", ep.label, f.text));
            }
        }
    }
    Err(StsFailure::Unreachable(unreachable))
}

/// TTL rules of Vault's creds path: request `ttl`, else the role's
/// `default_sts_ttl`, else 3600; capped by `max_sts_ttl`, else the mount's max.
pub async fn effective_ttl(ctx: &Ctx<AwsBackend>, role: &RoleEntry) -> Result<i64, Error> {
    let ttl = match ctx.fields.opt_int("ttl") {
        Some(t) => t,
        None if role.default_sts_ttl_secs() > 0 => role.default_sts_ttl_secs(),
        None => DEFAULT_TTL_SECS,
    };
    let max = if role.max_sts_ttl_secs() > 0 {
        role.max_sts_ttl_secs()
    } else {
        ctx.system.max_lease_ttl().await?.as_secs() as i64
    };
    Ok(ttl.min(max))
}

/// Group policies merged into the role's (spec 2.5): managed ARNs appended
/// after the role's, inline statements first in a new document.
pub async fn merged_policies(
    iam: &aws_sdk_iam::Client,
    role: &RoleEntry,
) -> Result<(String, Vec<String>), Error> {
    let mut arns = role.policy_arns.clone().unwrap_or_default();
    let groups = role.iam_groups.clone().unwrap_or_default();
    if groups.is_empty() {
        return Ok((role.policy_document.clone(), arns));
    }
    let mut statements: Vec<Value> = Vec::new();
    for group in &groups {
        let attached = iam
            .list_attached_group_policies()
            .group_name(group)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| Error::bad(AwsFailure::from_sdk(&e).text))?;
        arns.extend(
            attached
                .into_iter()
                .filter_map(|p| p.policy_arn().map(str::to_string)),
        );
        let names = iam
            .list_group_policies()
            .group_name(group)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| Error::bad(AwsFailure::from_sdk(&e).text))?;
        for name in names {
            let got = iam
                .get_group_policy()
                .group_name(group)
                .policy_name(&name)
                .send()
                .await
                .map_err(|e| Error::bad(AwsFailure::from_sdk(&e).text))?;
            let doc = percent_encoding::percent_decode_str(got.policy_document())
                .decode_utf8()
                .map_err(|e| Error::bad(format!("group {group} policy {name}: {e}")))?;
            statements.extend(statements_of(&doc)?);
        }
    }
    if statements.is_empty() {
        return Ok((role.policy_document.clone(), arns));
    }
    if !role.policy_document.is_empty() {
        statements.extend(statements_of(&role.policy_document)?);
    }
    let doc = json!({"Version": "2012-10-17", "Statement": statements});
    Ok((doc.to_string(), arns))
}

fn statements_of(doc: &str) -> Result<Vec<Value>, Error> {
    let v: Value = serde_json::from_str(doc).map_err(|e| Error::bad(e.to_string()))?;
    Ok(match v.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(single @ Value::Object(_)) => vec![single.clone()],
        _ => Vec::new(),
    })
}

fn policy_descriptors(arns: &[String]) -> Option<Vec<PolicyDescriptorType>> {
    (!arns.is_empty()).then(|| {
        arns.iter()
            .map(|a| PolicyDescriptorType::builder().arn(a).build())
            .collect()
    })
}

fn seconds_until(exp: Option<&aws_smithy_types::DateTime>) -> i64 {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    exp.map(|e| e.secs() - now).unwrap_or(0).max(0)
}

fn sts_response(
    creds: &aws_sdk_sts::types::Credentials,
    arn: Option<&str>,
    internal: Map<String, Value>,
) -> Response {
    let ttl = seconds_until(Some(creds.expiration()));
    let mut data = Map::new();
    data.insert("access_key".into(), creds.access_key_id().into());
    data.insert("secret_key".into(), creds.secret_access_key().into());
    data.insert("session_token".into(), creds.session_token().into());
    data.insert("security_token".into(), creds.session_token().into());
    if let Some(a) = arn {
        data.insert("arn".into(), a.into());
    }
    data.insert("ttl".into(), ttl.into());
    Response {
        data: Some(data),
        secret: Some(SecretResponse {
            internal_data: internal,
            ttl: Duration::from_secs(ttl as u64),
            max_ttl: Duration::from_secs(ttl as u64),
            renewable: false,
        }),
        warnings: Vec::new(),
    }
}

/// Issues STS credentials of `cred_type` for `role`.
pub async fn issue(
    ctx: &Ctx<AwsBackend>,
    role_name: &str,
    role: &RoleEntry,
    cred_type: &str,
) -> HandlerResult {
    let ttl = effective_ttl(ctx, role).await?;
    let clients = ctx
        .backend
        .clients(&ctx.storage)
        .await
        .map_err(|e| match e {
            Error::Internal(m) => Error::BadRequest(m),
            other => other,
        })?;
    let cfg = clients.config.clone();
    match cred_type {
        CRED_ASSUMED_ROLE => assume_role(ctx, &clients, &cfg, role_name, role, ttl).await,
        CRED_FEDERATION_TOKEN => federation_token(&clients, &cfg, role, ttl).await,
        _ => session_token(ctx, &clients, role, ttl).await,
    }
}

async fn assume_role(
    ctx: &Ctx<AwsBackend>,
    clients: &Clients,
    cfg: &RootConfig,
    role_name: &str,
    role: &RoleEntry,
    ttl: i64,
) -> HandlerResult {
    let allowed = role.role_arns.clone().unwrap_or_default();
    let requested = ctx.fields.string("role_arn");
    let role_arn = if requested.is_empty() {
        match allowed.as_slice() {
            [only] => only.clone(),
            _ => {
                return Err(Error::bad(
                    "did not supply a role_arn parameter and unable to determine one",
                ))
            }
        }
    } else if allowed.contains(&requested) {
        requested
    } else {
        return Err(Error::bad(format!(
            "role_arn {} not in allowed role arns for Vault role {}",
            go_quote(&requested),
            go_quote(role_name)
        )));
    };
    let (policy, arns) = merged_policies(&clients.iam, role).await?;
    let requested_session = ctx.fields.string("role_session_name");
    let session_name = if requested_session.is_empty() {
        generate_username(
            cfg.template(),
            NameKind::Iam,
            &ctx.req.display_name,
            role_name,
        )
        .map_err(|e| Error::internal(e.to_string()))?
    } else {
        normalize(&requested_session)
    };
    let tags: Option<Vec<Tag>> = role
        .session_tags
        .as_ref()
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.iter()
                .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
                .collect()
        });
    let duration = i32::try_from(ttl).unwrap_or(i32::MAX);
    let out = with_sts_fallback(clients, |sts| {
        let mut b = sts
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name(&session_name)
            .duration_seconds(duration)
            .set_policy_arns(policy_descriptors(&arns))
            .set_tags(tags.clone());
        if !policy.is_empty() {
            b = b.policy(&policy);
        }
        if !role.external_id.is_empty() {
            b = b.external_id(&role.external_id);
        }
        b.send()
    })
    .await
    .map_err(|f| f.into_error("Error assuming role"))?;
    let creds = out
        .credentials()
        .ok_or_else(|| Error::internal("AssumeRole returned no credentials"))?;
    let arn = out.assumed_role_user().map(|u| u.arn().to_string());
    tracing::info!(role = %role_name, role_arn = %role_arn, session = %session_name, "issued assumed_role credentials");
    Ok(Some(sts_response(
        creds,
        arn.as_deref(),
        internal_data_sts(&session_name, &role_arn),
    )))
}

async fn federation_token(
    clients: &Clients,
    cfg: &RootConfig,
    role: &RoleEntry,
    ttl: i64,
) -> HandlerResult {
    let (policy, arns) = merged_policies(&clients.iam, role).await?;
    let name = generate_username(cfg.template(), NameKind::Sts, "", "")
        .map_err(|e| Error::internal(e.to_string()))?;
    if policy.is_empty() && arns.is_empty() {
        return Err(Error::bad(
            "must specify at least one of policy_arns or policy_document with federation_token credential_type",
        ));
    }
    let duration = i32::try_from(ttl).unwrap_or(i32::MAX);
    let out = with_sts_fallback(clients, |sts| {
        let mut b = sts
            .get_federation_token()
            .name(&name)
            .duration_seconds(duration)
            .set_policy_arns(policy_descriptors(&arns));
        if !policy.is_empty() {
            b = b.policy(&policy);
        }
        b.send()
    })
    .await
    .map_err(|f| f.into_error("Error generating STS keys"))?;
    let creds = out
        .credentials()
        .ok_or_else(|| Error::internal("GetFederationToken returned no credentials"))?;
    tracing::info!(name = %name, "issued federation_token credentials");
    Ok(Some(sts_response(
        creds,
        None,
        internal_data_sts(&name, &policy),
    )))
}

async fn session_token(
    ctx: &Ctx<AwsBackend>,
    clients: &Clients,
    role: &RoleEntry,
    ttl: i64,
) -> HandlerResult {
    let duration = i32::try_from(ttl).unwrap_or(i32::MAX);
    let code = ctx.fields.string("mfa_code");
    let out = with_sts_fallback(clients, |sts| {
        let mut b = sts.get_session_token().duration_seconds(duration);
        if !role.mfa_serial_number.is_empty() {
            b = b.serial_number(&role.mfa_serial_number).token_code(&code);
        }
        b.send()
    })
    .await
    .map_err(|f| f.into_error("Error generating STS keys"))?;
    let creds = out
        .credentials()
        .ok_or_else(|| Error::internal("GetSessionToken returned no credentials"))?;
    tracing::info!("issued session_token credentials");
    Ok(Some(sts_response(creds, None, internal_data_sts("", ""))))
}
