//! The STS credential types: `assumed_role`, `federation_token`, `session_token`.
//!
//! STS sessions cannot be revoked one by one, so their leases are not renewable, revoke makes
//! no AWS call, and the lease lasts exactly as long as AWS says the session does. A role with
//! `no_lease` gets no lease at all (hashicorp/vault#25246): the server's lease table stays
//! small with thousands of clients, and the data keeps `ttl` and `expiration` so clients know
//! when to fetch again (Vault 1.13 dropped STS leases without that and broke Vault Agent,
//! hashicorp/vault#19513, so it is opt-in). Each function here receives a request that was
//! parsed and checked before any AWS call (`creds.rs`).

use std::time::{Duration, SystemTime};

use aws_sdk_sts::types::{PolicyDescriptorType, Tag};
use serde_json::{json, Map, Value};

use crate::framework::{Error, Response, SecretResponse};

use super::aws_error::AwsFailure;
use super::clients::{with_sts_fallback, Clients};
use super::pages::{collect_pages, iam_page, PageError};
use super::roles::RoleEntry;
use super::secret::internal_data_sts;
use super::session_identity::SessionIdentity;
use super::username::{generate_username, NameKind};

/// Default STS lifetime when neither the request nor the role sets one.
pub(crate) const DEFAULT_TTL_SECS: i64 = 3600;

/// What every STS type needs from a request.
pub(crate) struct StsRequest<'a> {
    pub(crate) role_name: &'a str,
    pub(crate) role: &'a RoleEntry,
    /// The requesting token's display name, for generated session names.
    pub(crate) display_name: &'a str,
    /// Session lifetime in seconds, after Vault's TTL rules ([`effective_ttl`]).
    pub(crate) ttl: i64,
    /// Issue under a lease (the default), or without one (the role's `no_lease`).
    pub(crate) lease: bool,
}

/// The session an `assumed_role` request asks for.
pub(crate) struct AssumeSpec<'a> {
    /// One of the role's `role_arns`.
    pub(crate) role_arn: &'a str,
    /// Session name, tags and source identity, resolved and checked.
    pub(crate) identity: &'a SessionIdentity,
    /// Signs the `AssumeRole`: the mount's own clients, or a chained role's intermediate ones.
    pub(crate) signer: &'a Clients,
}

/// Vault's TTL rules for STS credentials: the request's `ttl`, else the role's
/// `default_sts_ttl`, else 3600; capped by `max_sts_ttl`, else by the mount's max lease TTL.
pub(crate) fn effective_ttl(requested: Option<i64>, role: &RoleEntry, mount_max: Duration) -> i64 {
    let ttl = match requested {
        Some(t) => t,
        None if role.default_sts_ttl_secs() > 0 => role.default_sts_ttl_secs(),
        None => DEFAULT_TTL_SECS,
    };
    let max = if role.max_sts_ttl_secs() > 0 {
        role.max_sts_ttl_secs()
    } else {
        i64::try_from(mount_max.as_secs()).unwrap_or(i64::MAX)
    };
    ttl.min(max)
}

/// `AssumeRole` as `spec` says, signed by `spec.signer`; the session name is generated from the
/// username template when the request and the role set none. `clients` are the mount's own
/// (the role's IAM groups are read with them).
pub(crate) async fn assume_role(
    clients: &Clients,
    req: &StsRequest<'_>,
    spec: AssumeSpec<'_>,
) -> Result<Response, Error> {
    let role = req.role;
    let role_arn = spec.role_arn;
    let (policy, arns) = merged_policies(&clients.iam, role).await?;
    let session_name = match &spec.identity.name {
        Some(s) => s.clone(),
        None => generate_username(
            clients.config.template(),
            NameKind::Iam,
            req.display_name,
            req.role_name,
        )
        .map_err(|e| Error::internal(e.to_string()))?,
    };
    let tags: Option<Vec<Tag>> = (!spec.identity.tags.is_empty()).then(|| {
        spec.identity
            .tags
            .iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect()
    });
    let source_identity = spec.identity.source_identity.clone();
    let duration = i32::try_from(req.ttl).unwrap_or(i32::MAX);
    let out = with_sts_fallback(spec.signer, |sts| {
        let mut b = sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(&session_name)
            .duration_seconds(duration)
            .set_policy_arns(policy_descriptors(&arns))
            .set_tags(tags.clone())
            .set_source_identity(source_identity.clone());
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
    tracing::info!(role = %req.role_name, role_arn = %role_arn, session = %session_name, "issued assumed_role credentials");
    Ok(sts_response(
        creds,
        arn.as_deref(),
        internal_data_sts(&session_name, role_arn),
        req.lease,
    ))
}

/// `GetFederationToken` with the role's policies (and its groups').
pub(crate) async fn federation_token(
    clients: &Clients,
    req: &StsRequest<'_>,
) -> Result<Response, Error> {
    let (policy, arns) = merged_policies(&clients.iam, req.role).await?;
    let name = generate_username(clients.config.template(), NameKind::Sts, "", "")
        .map_err(|e| Error::internal(e.to_string()))?;
    if policy.is_empty() && arns.is_empty() {
        return Err(Error::bad(
            "must specify at least one of policy_arns or policy_document with federation_token credential_type",
        ));
    }
    let duration = i32::try_from(req.ttl).unwrap_or(i32::MAX);
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
    Ok(sts_response(
        creds,
        None,
        internal_data_sts(&name, &policy),
        req.lease,
    ))
}

/// `GetSessionToken` for the engine's own user, with the role's MFA device and `mfa_code`.
pub(crate) async fn session_token(
    clients: &Clients,
    req: &StsRequest<'_>,
    mfa_code: &str,
) -> Result<Response, Error> {
    let serial = &req.role.mfa_serial_number;
    let duration = i32::try_from(req.ttl).unwrap_or(i32::MAX);
    let out = with_sts_fallback(clients, |sts| {
        let mut b = sts.get_session_token().duration_seconds(duration);
        if !serial.is_empty() {
            b = b.serial_number(serial).token_code(mfa_code);
        }
        b.send()
    })
    .await
    .map_err(|f| f.into_error("Error generating STS keys"))?;
    let creds = out
        .credentials()
        .ok_or_else(|| Error::internal("GetSessionToken returned no credentials"))?;
    tracing::info!("issued session_token credentials");
    Ok(sts_response(
        creds,
        None,
        internal_data_sts("", ""),
        req.lease,
    ))
}

/// The policies sent to STS: the role's, with its groups' merged in as Vault does
/// (`path_user.go`): managed ARNs appended after the role's, inline statements first in a new
/// document.
async fn merged_policies(
    iam: &aws_sdk_iam::Client,
    role: &RoleEntry,
) -> Result<(String, Vec<String>), Error> {
    let mut arns = role.policy_arns.clone().unwrap_or_default();
    let groups = role.iam_groups.clone().unwrap_or_default();
    if groups.is_empty() {
        return Ok((role.policy_document.clone(), arns));
    }
    let listed = |e: PageError| match e {
        PageError::Aws { failure, .. } => Error::bad(failure.text),
        PageError::Broken(reason) => Error::bad(reason),
    };
    let mut statements: Vec<Value> = Vec::new();
    for group in &groups {
        let attached = collect_pages(|marker| async move {
            iam_page!(
                iam.list_attached_group_policies()
                    .group_name(group)
                    .set_marker(marker),
                attached_policies
            )
        })
        .await
        .map_err(listed)?;
        arns.extend(attached.into_iter().filter_map(|p| p.policy_arn));
        let names = collect_pages(|marker| async move {
            iam_page!(
                iam.list_group_policies()
                    .group_name(group)
                    .set_marker(marker),
                policy_names
            )
        })
        .await
        .map_err(listed)?;
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

/// The reply to an STS issue: the session's keys, and a lease that lasts as long as the
/// session and cannot be renewed; without a lease (`lease` false), the session's expiry in
/// the data instead.
fn sts_response(
    creds: &aws_sdk_sts::types::Credentials,
    arn: Option<&str>,
    internal: Map<String, Value>,
    lease: bool,
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
    if !lease {
        // Whole seconds, as AWS reports it.
        let expiration = aws_smithy_types::DateTime::from_secs(creds.expiration().secs())
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_default();
        data.insert("expiration".into(), expiration.into());
    }
    Response {
        data: Some(data),
        secret: lease.then(|| SecretResponse {
            internal_data: internal,
            ttl: Duration::from_secs(ttl as u64),
            max_ttl: Duration::from_secs(ttl as u64),
            renewable: false,
        }),
        ..Response::default()
    }
}
