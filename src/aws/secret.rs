//! The `access_keys` secret: the lease every credential type is issued under, its internal
//! data in the Go plugin's shape (so leases written by either plugin renew and revoke under the
//! other), renew, and revoke.

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use crate::framework::storage::SystemView;
use crate::framework::FieldType;
use crate::framework::SECRET_TYPE_KEY;
use crate::framework::{
    handler, Ctx, Error, Field, HandlerResult, Response, SecretResponse, SecretType,
};

use super::config_lease::LeaseConfig;
use super::iam_user::{delete_known_user, delete_user, record, Holdings, IssuedUser, UserGone};
use super::metrics::{RequestOutcome, REVOKED, REVOKE_SECONDS};
use super::roles::RoleEntry;
use super::AwsBackend;

/// Secret type name (stored in every lease's internal data).
pub(crate) const SECRET_TYPE: &str = "access_keys";
/// A lease younger than this whose user is missing may just be IAM lagging.
pub(crate) const YOUNG_LEASE: Duration = Duration::from_secs(5 * 60);

/// Internal data of an `iam_user` lease: what revoke needs, in the Go plugin's shape
/// (`username`, `policy`, `is_sts`), plus the access key id and the role's name, which let
/// revoke delete the user without listing it first (see [`delete_known_user`]). The Go plugin
/// ignores the two extra keys; a lease without them is torn down by listing.
pub(crate) fn internal_data_iam_user(
    username: &str,
    role_name: &str,
    role: &RoleEntry,
    access_key_id: &str,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(SECRET_TYPE_KEY.into(), Value::from(SECRET_TYPE));
    m.insert("username".into(), Value::from(username));
    m.insert(
        "policy".into(),
        serde_json::to_value(role).unwrap_or(Value::Null),
    );
    m.insert("is_sts".into(), Value::Bool(false));
    m.insert(ACCESS_KEY_ID.into(), Value::from(access_key_id));
    m.insert(ROLE_NAME.into(), Value::from(role_name));
    m
}

/// Internal-data key of the access key an `iam_user` lease handed out.
const ACCESS_KEY_ID: &str = "access_key_id";
/// Internal-data key of the Vault role an `iam_user` lease was issued for.
const ROLE_NAME: &str = "role_name";

/// Internal data of an STS lease.
pub(crate) fn internal_data_sts(name: &str, policy: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(SECRET_TYPE_KEY.into(), Value::from(SECRET_TYPE));
    m.insert("username".into(), Value::from(name));
    m.insert("policy".into(), Value::from(policy));
    m.insert("is_sts".into(), Value::Bool(true));
    m
}

/// The lease of an `iam_user` credential: the role's `default_ttl`/`max_ttl` where set, else
/// `config/lease`'s (the server still caps both at the mount's max TTL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UserLease {
    pub(crate) ttl: Duration,
    pub(crate) max_ttl: Duration,
}

impl UserLease {
    /// The lease for users of `role` under `cfg`.
    pub(crate) fn of(role: &RoleEntry, cfg: LeaseConfig) -> Self {
        let nanos = |n: i64| Duration::from_nanos(n.max(0) as u64);
        Self {
            ttl: role.user.ttl().unwrap_or_else(|| nanos(cfg.lease)),
            max_ttl: role.user.max_ttl().unwrap_or_else(|| nanos(cfg.lease_max)),
        }
    }

    /// How long from now the server keeps a lease answered with this TTL, when the holder asked
    /// for `increment` (zero at issue): the increment, else the TTL, else the mount's default
    /// lease TTL, which the server fills in for a zero TTL (Vault's `framework.CalculateTTL`,
    /// which its expiration manager applies to every issue and renew). The user's record must
    /// never end before its lease does, or the orphan sweep would take a live user; the caps
    /// the server applies on top only shorten the lease, so they are left out.
    pub(crate) async fn runs_for(
        &self,
        increment: Duration,
        system: &SystemView,
    ) -> Result<Duration, Error> {
        match [increment, self.ttl].into_iter().find(|d| !d.is_zero()) {
            Some(d) => Ok(d),
            None => Ok(system.default_lease_ttl().await?),
        }
    }
}

/// The reply to an `iam_user` issue: the new user's key under a renewable lease of `lease`.
pub(crate) fn iam_user_response(
    user: IssuedUser,
    role_name: &str,
    role: &RoleEntry,
    lease: UserLease,
) -> Response {
    let internal_data =
        internal_data_iam_user(&user.username, role_name, role, &user.key.access_key_id);
    let mut data = Map::new();
    data.insert("access_key".into(), Value::from(user.key.access_key_id));
    data.insert("secret_key".into(), Value::from(user.key.secret_access_key));
    data.insert("session_token".into(), Value::Null);
    data.insert("security_token".into(), Value::Null);
    Response {
        data: Some(data),
        secret: Some(SecretResponse {
            internal_data,
            ttl: lease.ttl,
            max_ttl: lease.max_ttl,
            renewable: true,
        }),
        ..Response::default()
    }
}

fn is_sts(internal: &Map<String, Value>) -> Result<bool, Error> {
    match internal.get("is_sts") {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(Error::internal(
            "secret has is_sts but value could not be understood",
        )),
    }
}

async fn renew(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let lease = ctx.req.lease.clone().unwrap_or_default();
    if is_sts(&lease.internal_data)? {
        return Ok(None);
    }
    let cfg = ctx.backend.lease_config(&ctx.storage).await?;
    // The role as it is now, so a changed default_ttl applies to renewals (as config/lease does);
    // the snapshot in the lease when the role is gone; config/lease alone for leases without one.
    let text = |k: &str| lease.internal_data.get(k).and_then(Value::as_str);
    let role_name = text(ROLE_NAME).unwrap_or_default().to_string();
    let current = if role_name.is_empty() {
        None
    } else {
        ctx.backend.roles.get(&ctx.storage, &role_name).await?
    };
    let snapshot: Option<RoleEntry> = lease
        .internal_data
        .get("policy")
        .and_then(|p| serde_json::from_value(p.clone()).ok());
    let granted = match current.as_deref().or(snapshot.as_ref()) {
        Some(role) => UserLease::of(role, cfg),
        None => UserLease::of(&RoleEntry::default(), cfg),
    };
    if let (false, Some(username)) = (role_name.is_empty(), text("username")) {
        let mut until = SystemTime::now() + granted.runs_for(lease.increment, &ctx.system).await?;
        // The server never renews past the issue time plus the max TTL answered here.
        if let (Some(issued), false) = (lease.issue_time, granted.max_ttl.is_zero()) {
            until = until.min(issued + granted.max_ttl);
        }
        record::renew(&ctx.storage, &role_name, username, until).await?;
    }
    Ok(Some(Response {
        secret: Some(SecretResponse {
            internal_data: lease.internal_data,
            ttl: granted.ttl,
            max_ttl: granted.max_ttl,
            renewable: true,
        }),
        ..Response::default()
    }))
}

async fn revoke(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let started = std::time::Instant::now();
    let sts = ctx
        .req
        .lease
        .as_ref()
        .map(|l| is_sts(&l.internal_data).unwrap_or(false))
        .unwrap_or(false);
    let result = revoke_lease(&ctx).await;
    let kind = if sts { "sts" } else { "iam_user" };
    let outcome = if result.is_ok() {
        RequestOutcome::Success
    } else {
        RequestOutcome::Error
    };
    ctx.backend
        .metrics
        .record(REVOKED, REVOKE_SECONDS, kind, outcome, started);
    result
}

/// What an `iam_user` lease of this plugin records about its user; `None` for leases written
/// by the Go plugin or by versions before the extra keys.
struct Known {
    access_key_id: String,
    role_name: String,
    role: RoleEntry,
}

fn known_holdings(internal: &Map<String, Value>) -> Option<Known> {
    let text = |k: &str| {
        internal
            .get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    Some(Known {
        access_key_id: text(ACCESS_KEY_ID)?,
        role_name: text(ROLE_NAME)?,
        role: serde_json::from_value(internal.get("policy")?.clone()).ok()?,
    })
}

async fn revoke_lease(ctx: &Ctx<AwsBackend>) -> HandlerResult {
    let lease = ctx.req.lease.clone().unwrap_or_default();
    if is_sts(&lease.internal_data)? {
        return Ok(None);
    }
    let username = lease
        .internal_data
        .get("username")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| Error::internal("secret is missing username internal data"))?
        .to_string();
    let clients = ctx.backend.clients(&ctx.storage).await?;
    let gone = match known_holdings(&lease.internal_data) {
        Some(known) => {
            let held = Holdings {
                access_key_id: &known.access_key_id,
                policy_arns: known.role.policy_arns.as_deref().unwrap_or_default(),
                inline_policy: (!known.role.policy_document.is_empty())
                    .then_some(known.role_name.as_str()),
                groups: known.role.iam_groups.as_deref().unwrap_or_default(),
            };
            delete_known_user(&clients.iam, &username, &held).await
        }
        None => delete_user(&clients.iam, &username).await,
    };
    match gone {
        Ok(UserGone::Deleted) => {
            tracing::info!(username = %username, "revoked iam_user lease: user deleted");
        }
        Ok(UserGone::AlreadyAbsent) => {
            let age = lease
                .issue_time
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .unwrap_or(YOUNG_LEASE);
            if age < YOUNG_LEASE {
                // IAM is eventually consistent: a user created moments ago may not be visible yet.
                return Err(Error::internal(format!(
                    "IAM user {username} was not found; the lease is younger than 5 minutes, so this may be IAM lagging behind: retry later"
                )));
            }
        }
        Err(e) => return Err(Error::internal(e.to_string())),
    }
    // The user is gone: so is its record (leases of other plugins name no role and have none).
    if let Some(role) = lease
        .internal_data
        .get(ROLE_NAME)
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
    {
        record::delete(&ctx.storage, role, &username).await?;
    }
    Ok(None)
}

/// The secret type.
pub(crate) fn secret_type() -> SecretType<AwsBackend> {
    SecretType {
        name: SECRET_TYPE,
        fields: vec![
            Field::new("access_key", FieldType::String, "Access Key"),
            Field::new("secret_key", FieldType::String, "Secret Key"),
            Field::new("security_token", FieldType::String, "Security Token"),
            Field::new("session_token", FieldType::String, "Session Token"),
        ],
        renew: Some(handler(renew)),
        revoke: handler(revoke),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lease_names_its_secret_type() {
        let iam = internal_data_iam_user("u", "r", &RoleEntry::default(), "AKIA1");
        assert_eq!(iam.get(SECRET_TYPE_KEY), Some(&Value::from(SECRET_TYPE)));
        assert_eq!(iam.get("is_sts"), Some(&Value::Bool(false)));
        let sts = internal_data_sts("s", "arn");
        assert_eq!(sts.get(SECRET_TYPE_KEY), Some(&Value::from(SECRET_TYPE)));
        assert_eq!(sts.get("is_sts"), Some(&Value::Bool(true)));
    }
}
