//! `roles/<name>` and LIST `roles`: the role model, its storage, validation and HTTP surface,
//! in the shape of Vault's `builtin/logical/aws/path_roles.go`.
//!
//! A write is merged into the stored role and validated with Vault's exact error texts; the
//! deprecated `arn`/`policy` parameters and legacy `policy/<name>` entries are migrated as Vault
//! migrates them; the stored JSON is the Go plugin's, so a mount keeps its roles when the binary
//! is swapped either way. Roles are cached per mount ([`RoleCache`]) because every `creds/`
//! request reads one.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use lru::LruCache;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::framework::storage::Storage;
use crate::framework::FieldType;
use crate::framework::{
    handler, name_segment, Ctx, Error, Field, HandlerResult, Operation, Path, Response,
};
use crate::gocompat::{json, quote::go_quote};

use super::credential::CredentialType;
use super::AwsBackend;

mod sts_options;
mod user_options;
pub(crate) use sts_options::{
    fits_tag_value, is_aws_name, StsOptions, CHAINED_MAX_TTL_SECS, SESSION_NAME_RULE,
    SOURCE_IDENTITY_RULE, TAG_VALUE_RULE,
};
pub(crate) use user_options::UserOptions;

/// Storage prefix of roles.
pub(crate) const ROLE_PREFIX: &str = "role/";
/// Storage prefix of very old roles (a raw ARN or policy document).
pub(crate) const LEGACY_PREFIX: &str = "policy/";
/// The regexp text Vault quotes in its `user_path` error; the check itself is `user_path_is_valid`.
pub(crate) const USER_PATH_REGEX: &str = r"^\/([\x21-\x7F]{0,510}\/)?$";

/// Warning returned when a write used the deprecated `arn`/`policy` parameters.
pub(crate) const LEGACY_WARNING: &str =
    "Detected use of legacy role or policy parameter. Please upgrade to use the new parameters.";

/// Nanoseconds per second: the Go plugin stores `time.Duration` values.
const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Stored role, serde-compatible with the Go plugin's JSON (`role/<name>`).
///
/// Field order and key names follow Vault's `awsRoleEntry` so what we write reads back in Go;
/// every key may be missing (OpenBao entries lack the Vault-only keys) and JSON `null` on a
/// scalar means "zero value", as in Go's `json.Unmarshal`. Durations are i64 nanoseconds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub(crate) struct RoleEntry {
    /// One type, or `[iam_user, federation_token]` for migrated JSON policies.
    #[serde(deserialize_with = "null_as_default")]
    pub(crate) credential_types: Vec<String>,
    /// `None` is Go's nil slice (JSON `null`); `Some(vec![])` was explicitly cleared.
    pub(crate) policy_arns: Option<Vec<String>>,
    /// Roles `assumed_role` may assume.
    pub(crate) role_arns: Option<Vec<String>>,
    /// Compacted JSON policy, `""` when unset.
    #[serde(deserialize_with = "null_as_default")]
    pub(crate) policy_document: String,
    /// IAM groups for users, or whose policies are merged for STS types.
    pub(crate) iam_groups: Option<Vec<String>>,
    /// Tags put on created IAM users.
    pub(crate) iam_tags: Option<BTreeMap<String, String>>,
    /// Vault only: `Tags` on AssumeRole.
    pub(crate) session_tags: Option<BTreeMap<String, String>>,
    /// Vault only: `ExternalId` on AssumeRole.
    #[serde(deserialize_with = "null_as_default")]
    pub(crate) external_id: String,
    /// Legacy value that could not be understood; omitted when empty, as Go does.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub(crate) invalid_data: String,
    /// Set on migrated roles so `creds/` and `sts/` keep their old meaning (vault#4229).
    #[serde(skip_serializing_if = "is_false", deserialize_with = "null_as_default")]
    pub(crate) prohibit_flexible_cred_path: bool,
    /// 1 for migrated entries, 0 otherwise.
    #[serde(deserialize_with = "null_as_default")]
    pub(crate) version: i64,
    /// Nanoseconds.
    #[serde(deserialize_with = "null_as_default")]
    pub(crate) default_sts_ttl: i64,
    /// Nanoseconds.
    #[serde(deserialize_with = "null_as_default")]
    pub(crate) max_sts_ttl: i64,
    /// IAM path for created users; `""` means `/`.
    #[serde(deserialize_with = "null_as_default")]
    pub(crate) user_path: String,
    /// Boundary policy for created IAM users.
    #[serde(deserialize_with = "null_as_default")]
    pub(crate) permissions_boundary_arn: String,
    /// Vault only: `SerialNumber` on GetSessionToken.
    #[serde(deserialize_with = "null_as_default")]
    pub(crate) mfa_serial_number: String,
    /// Ours: identity templates, role chaining, `no_lease` (keys absent when unset).
    #[serde(flatten)]
    pub(crate) sts: StsOptions,
    /// Ours: see [`UserOptions`].
    #[serde(flatten)]
    pub(crate) user: UserOptions,
}

/// Parsed write input: `None` = field absent from the request. Durations here in seconds.
///
/// Presence matters because a write is a partial update: an absent field keeps the stored
/// value, a present empty one (`role_arns=""` ⇒ `Some(vec![])`) overwrites it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RoleInput {
    pub(crate) credential_type: Option<String>,
    pub(crate) role_arns: Option<Vec<String>>,
    pub(crate) policy_arns: Option<Vec<String>>,
    pub(crate) policy_document: Option<String>,
    pub(crate) iam_groups: Option<Vec<String>>,
    pub(crate) iam_tags: Option<BTreeMap<String, String>>,
    /// Seconds.
    pub(crate) default_sts_ttl: Option<i64>,
    /// Seconds.
    pub(crate) max_sts_ttl: Option<i64>,
    pub(crate) user_path: Option<String>,
    pub(crate) permissions_boundary_arn: Option<String>,
    pub(crate) session_tags: Option<BTreeMap<String, String>>,
    pub(crate) external_id: Option<String>,
    pub(crate) mfa_serial_number: Option<String>,
    /// Ours: see [`StsOptions`].
    pub(crate) sts: sts_options::StsOptionsInput,
    /// Ours: see [`UserOptions`].
    pub(crate) user: user_options::UserOptionsInput,
    /// Deprecated `arn`; `Some("")` counts as absent, as in Vault.
    pub(crate) legacy_arn: Option<String>,
    /// Deprecated `policy`; `Some("")` counts as absent, as in Vault.
    pub(crate) legacy_policy: Option<String>,
}

/// Why a role write was refused; the text is what the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RoleError {
    /// 400 with this exact text.
    #[error("{0}")]
    BadRequest(String),
    /// 500 with this text.
    #[error("{0}")]
    Internal(String),
}

/// Applies a write to the existing entry (None if absent), as Vault's `pathRolesWrite` does.
/// Returns the entry to store and the warnings.
///
/// Errors come back in Vault's order: the first refused field wins, then validation, whose
/// messages are all collected into one go-multierror text.
pub(crate) fn apply_write(
    existing: Option<RoleEntry>,
    input: RoleInput,
) -> Result<(RoleEntry, Vec<String>), RoleError> {
    let mut warnings = Vec::new();
    let mut entry = existing.unwrap_or_default();
    if !entry.invalid_data.is_empty() {
        warnings.push(format!(
            "Invalid data of {} cleared out of role",
            go_quote(&entry.invalid_data)
        ));
        entry.invalid_data.clear();
    }

    let legacy = legacy_role_data(input.legacy_policy, input.legacy_arn)?;
    // Vault refuses each new-style field together with a legacy one, field by field.
    let refuse = |what: &str| -> Result<(), RoleError> {
        if legacy.is_some() {
            Err(RoleError::BadRequest(format!(
                "cannot supply deprecated role or policy parameters with {what}"
            )))
        } else {
            Ok(())
        }
    };

    if let Some(credential_type) = input.credential_type {
        refuse("an explicit credential_type")?;
        entry.credential_types = vec![credential_type];
    }
    if let Some(role_arns) = input.role_arns {
        refuse("role_arns")?;
        entry.role_arns = Some(role_arns);
    }
    if let Some(policy_arns) = input.policy_arns {
        refuse("policy_arns")?;
        entry.policy_arns = Some(policy_arns);
    }
    if let Some(document) = input.policy_document {
        refuse("policy_document")?;
        entry.policy_document = if document.is_empty() {
            document
        } else {
            json::compact(&document).map_err(|()| {
                RoleError::BadRequest(format!(
                    "cannot parse policy document: {}",
                    go_quote(&document)
                ))
            })?
        };
    }
    if let Some(secs) = input.default_sts_ttl {
        refuse("default_sts_ttl")?;
        entry.default_sts_ttl = secs_to_nanos(secs);
    }
    if let Some(secs) = input.max_sts_ttl {
        refuse("max_sts_ttl")?;
        entry.max_sts_ttl = secs_to_nanos(secs);
    }
    if let Some(user_path) = input.user_path {
        refuse("user_path")?;
        entry.user_path = user_path;
    }
    if let Some(arn) = input.permissions_boundary_arn {
        refuse("permissions_boundary_arn")?;
        entry.permissions_boundary_arn = arn;
    }
    // Vault merges these without the legacy check; a legacy write then discards them anyway.
    if let Some(groups) = input.iam_groups {
        entry.iam_groups = Some(groups);
    }
    if let Some(tags) = input.iam_tags {
        entry.iam_tags = Some(tags);
    }
    if let Some(serial) = input.mfa_serial_number {
        entry.mfa_serial_number = serial;
    }
    if let Some(tags) = input.session_tags {
        entry.session_tags = Some(tags);
    }
    if let Some(external_id) = input.external_id {
        entry.external_id = external_id;
    }
    input.sts.merge_into(&mut entry.sts);
    input.user.merge_into(&mut entry.user);

    if let Some(raw) = legacy {
        entry = migrate_legacy(&raw);
        if !entry.invalid_data.is_empty() {
            return Err(RoleError::BadRequest(format!(
                "unable to parse supplied data: {}",
                go_quote(&entry.invalid_data)
            )));
        }
        warnings.push(LEGACY_WARNING.to_string());
    } else {
        // An explicit new-style write upgrades a migrated role to normal path handling.
        entry.prohibit_flexible_cred_path = false;
    }

    let errors = entry.validation_errors();
    if !errors.is_empty() {
        return Err(RoleError::BadRequest(format!(
            "error(s) validating supplied role data: {}",
            go_quote(&multierror_text(&errors))
        )));
    }
    Ok((entry, warnings))
}

/// Pick the deprecated value to migrate; both at once is ambiguous and refused.
///
/// Go answers the conflict with 500; it is the caller's mistake, so this answers 400 with the
/// same text.
fn legacy_role_data(
    policy: Option<String>,
    arn: Option<String>,
) -> Result<Option<String>, RoleError> {
    let policy = policy.filter(|p| !p.is_empty());
    let arn = arn.filter(|a| !a.is_empty());
    match (policy, arn) {
        (Some(_), Some(_)) => Err(RoleError::BadRequest(
            "only one of policy or arn should be provided".to_string(),
        )),
        (Some(policy), None) => Ok(Some(policy)),
        (None, arn) => Ok(arn),
    }
}

/// Migration of a raw legacy `policy/<name>` value, as Vault's `upgradeLegacyPolicyEntry`.
///
/// Old Vault stored either an ARN or a JSON policy; anything else is kept in `invalid_data`
/// so it can still be read and then overwritten.
pub(crate) fn migrate_legacy(raw: &str) -> RoleEntry {
    let invalid = || RoleEntry {
        invalid_data: raw.to_string(),
        version: 1,
        ..RoleEntry::default()
    };
    if raw.starts_with("arn:") {
        let Ok(parsed) = parse_arn(raw) else {
            return invalid();
        };
        let resource_type = parsed
            .resource
            .split_once('/')
            .map_or(parsed.resource, |(kind, _)| kind);
        return match resource_type {
            "role" => RoleEntry {
                credential_types: vec![CredentialType::AssumedRole.to_string()],
                role_arns: Some(vec![raw.to_string()]),
                prohibit_flexible_cred_path: true,
                version: 1,
                ..RoleEntry::default()
            },
            "policy" => RoleEntry {
                credential_types: vec![CredentialType::IamUser.to_string()],
                policy_arns: Some(vec![raw.to_string()]),
                prohibit_flexible_cred_path: true,
                version: 1,
                ..RoleEntry::default()
            },
            _ => invalid(),
        };
    }
    match json::compact(raw) {
        // A bare policy fitted both old paths, so both types stay allowed.
        Ok(document) => RoleEntry {
            credential_types: vec![
                CredentialType::IamUser.to_string(),
                CredentialType::FederationToken.to_string(),
            ],
            policy_document: document,
            prohibit_flexible_cred_path: true,
            version: 1,
            ..RoleEntry::default()
        },
        Err(()) => invalid(),
    }
}

impl RoleEntry {
    /// JSON for the read response, as Vault's `toResponseData`: the same keys and null-ness,
    /// durations in whole seconds, `credential_type` comma-joined; Vault's newer keys
    /// (`mfa_serial_number`, `session_tags`, `external_id`) always present.
    pub(crate) fn read_response(&self) -> Map<String, Value> {
        let mut data = Map::new();
        data.insert(
            "credential_type".into(),
            Value::String(self.credential_types.join(",")),
        );
        data.insert("policy_arns".into(), list_value(self.policy_arns.as_ref()));
        data.insert("role_arns".into(), list_value(self.role_arns.as_ref()));
        data.insert(
            "policy_document".into(),
            Value::String(self.policy_document.clone()),
        );
        data.insert("iam_groups".into(), list_value(self.iam_groups.as_ref()));
        data.insert("iam_tags".into(), map_value(self.iam_tags.as_ref()));
        data.insert("session_tags".into(), map_value(self.session_tags.as_ref()));
        data.insert(
            "external_id".into(),
            Value::String(self.external_id.clone()),
        );
        data.insert(
            "default_sts_ttl".into(),
            Value::from(self.default_sts_ttl_secs()),
        );
        data.insert("max_sts_ttl".into(), Value::from(self.max_sts_ttl_secs()));
        data.insert("user_path".into(), Value::String(self.user_path.clone()));
        data.insert(
            "permissions_boundary_arn".into(),
            Value::String(self.permissions_boundary_arn.clone()),
        );
        data.insert(
            "mfa_serial_number".into(),
            Value::String(self.mfa_serial_number.clone()),
        );
        self.sts.read_into(&mut data);
        self.user.read_into(&mut data);
        if !self.invalid_data.is_empty() {
            data.insert(
                "invalid_data".into(),
                Value::String(self.invalid_data.clone()),
            );
        }
        data
    }

    /// `default_sts_ttl` in whole seconds (truncated, like Go's `int64(d.Seconds())`).
    pub(crate) fn default_sts_ttl_secs(&self) -> i64 {
        self.default_sts_ttl / NANOS_PER_SEC
    }

    /// `max_sts_ttl` in whole seconds (truncated, like Go's `int64(d.Seconds())`).
    pub(crate) fn max_sts_ttl_secs(&self) -> i64 {
        self.max_sts_ttl / NANOS_PER_SEC
    }

    /// Chooses the credential type for a request on `creds/` (`is_sts_path` false) or `sts/`,
    /// with Vault's error texts (`path_user.go`).
    ///
    /// Only migrated JSON policies hold two types; the path decides between them, and legacy
    /// roles may not switch paths because `iam_user` keys can outlive STS filters
    /// (hashicorp/vault#4229). With no stored type this returns `""`, which
    /// [`RoleEntry::credential_type_for`] answers with `unknown credential_type: ""` as Vault does.
    pub(crate) fn select_credential_type(&self, is_sts_path: bool) -> Result<&str, String> {
        let iam_user = CredentialType::IamUser.as_str();
        let credential_type: &str = match self.credential_types.as_slice() {
            [] => "",
            [only] => only.as_str(),
            types => {
                let wanted = if is_sts_path {
                    CredentialType::FederationToken.as_str()
                } else {
                    iam_user
                };
                if !types.iter().any(|t| t == wanted) {
                    return Err(format!(
                        "requested credential type {} not in allowed credential types {}",
                        go_quote(wanted),
                        go_string_slice_literal(types)
                    ));
                }
                wanted
            }
        };
        if self.prohibit_flexible_cred_path {
            if credential_type == iam_user && is_sts_path {
                return Err(format!(
                    "attempted to retrieve {iam_user} credentials through the sts path; this is not allowed for legacy roles"
                ));
            }
            if credential_type != iam_user && !is_sts_path {
                return Err(format!(
                    "attempted to retrieve {credential_type} credentials through the creds path; this is not allowed for legacy roles"
                ));
            }
        }
        Ok(credential_type)
    }

    /// [`RoleEntry::select_credential_type`] as a [`CredentialType`]; a stored name that is not
    /// one gives Vault's `unknown credential_type: "<name>"`.
    pub(crate) fn credential_type_for(&self, is_sts_path: bool) -> Result<CredentialType, String> {
        let name = self.select_credential_type(is_sts_path)?;
        CredentialType::parse(name)
            .ok_or_else(|| format!("unknown credential_type: {}", go_quote(name)))
    }

    /// Every rule of Vault's `validate()`, in its order, as individual messages.
    ///
    /// Unlike Go, an invalid `permissions_boundary_arn` does not discard the messages
    /// collected before it: Go overwrites its error list there, which hides the earlier
    /// mistakes from the operator.
    pub(crate) fn validation_errors(&self) -> Vec<String> {
        let types: Vec<CredentialType> = self
            .credential_types
            .iter()
            .filter_map(|t| CredentialType::parse(t))
            .collect();
        let any = |rule: fn(&TypeRules) -> bool| types.iter().any(|t| rule(&rules(*t)));
        let sts_types = format!(
            "{}, {}, and {} credential types",
            CredentialType::AssumedRole,
            CredentialType::FederationToken,
            CredentialType::SessionToken
        );
        let mut errors = Vec::new();

        if self.credential_types.is_empty() {
            errors.push("did not supply credential_type".to_string());
        }
        for t in &self.credential_types {
            if CredentialType::parse(t).is_none() {
                errors.push(format!("unrecognized credential type: {t}"));
            }
        }
        if self.default_sts_ttl != 0 && !any(|r| r.sts_ttls) {
            errors.push(format!(
                "default_sts_ttl parameter only valid for {sts_types}"
            ));
        }
        if self.max_sts_ttl != 0 && !any(|r| r.sts_ttls) {
            errors.push(format!("max_sts_ttl parameter only valid for {sts_types}"));
        }
        if self.max_sts_ttl > 0
            && self.default_sts_ttl > 0
            && self.default_sts_ttl > self.max_sts_ttl
        {
            errors.push(
                r#""default_sts_ttl" value must be less than or equal to "max_sts_ttl" value"#
                    .to_string(),
            );
        }
        if !self.user_path.is_empty() {
            if !any(|r| r.user_fields) {
                errors.push(format!(
                    "user_path parameter only valid for {} credential type",
                    CredentialType::IamUser
                ));
            }
            if !user_path_is_valid(&self.user_path) {
                errors.push(format!(
                    "the specified value for user_path is invalid. It must match {} regexp",
                    go_quote(USER_PATH_REGEX)
                ));
            }
        }
        if !self.permissions_boundary_arn.is_empty() {
            if !any(|r| r.user_fields) {
                errors.push(format!(
                    "cannot supply permissions_boundary_arn when credential_type isn't {}",
                    CredentialType::IamUser
                ));
            }
            if let Err(why) = validate_iam_arn(&self.permissions_boundary_arn, "policy") {
                errors.push(format!("invalid permissions_boundary_arn parameter: {why}"));
            }
        }
        let has_policy = !self.policy_document.is_empty()
            || self.policy_arns.as_ref().is_some_and(|p| !p.is_empty());
        if has_policy && types.iter().any(|t| !rules(*t).policies) {
            errors.push(format!(
                "cannot supply a policy or role when using credential_type {}",
                CredentialType::SessionToken
            ));
        }
        let assume_only = |what: &str| {
            format!(
                "cannot supply {what} when credential_type isn't {}",
                CredentialType::AssumedRole
            )
        };
        if self.role_arns.as_ref().is_some_and(|r| !r.is_empty()) && !any(|r| r.assume_fields) {
            errors.push(assume_only("role_arns"));
        }
        if self.session_tags.as_ref().is_some_and(|t| !t.is_empty()) && !any(|r| r.assume_fields) {
            errors.push(assume_only("session_tags"));
        }
        if !self.external_id.is_empty() && !any(|r| r.assume_fields) {
            errors.push(assume_only("external_id"));
        }
        errors.extend(sts_options::validation_errors(self, &types));
        errors.extend(user_options::validation_errors(self, &types));
        errors
    }
}

/// Which role fields a credential type gives meaning to (Vault's `validate()`).
struct TypeRules {
    /// `default_sts_ttl`, `max_sts_ttl`.
    sts_ttls: bool,
    /// `user_path`, `permissions_boundary_arn`: settings of a created IAM user.
    user_fields: bool,
    /// `role_arns`, `session_tags`, `external_id`: settings of `AssumeRole`.
    assume_fields: bool,
    /// `policy_arns`, `policy_document`.
    policies: bool,
}

/// The rules of each type, decided in one match so a new type must decide them all.
fn rules(t: CredentialType) -> TypeRules {
    match t {
        CredentialType::IamUser => TypeRules {
            sts_ttls: false,
            user_fields: true,
            assume_fields: false,
            policies: true,
        },
        CredentialType::AssumedRole => TypeRules {
            sts_ttls: true,
            user_fields: false,
            assume_fields: true,
            policies: true,
        },
        CredentialType::FederationToken => TypeRules {
            sts_ttls: true,
            user_fields: false,
            assume_fields: false,
            policies: true,
        },
        CredentialType::SessionToken => TypeRules {
            sts_ttls: true,
            user_fields: false,
            assume_fields: false,
            policies: false,
        },
    }
}

/// The parts of an ARN that validation looks at.
struct ParsedArn<'a> {
    service: &'a str,
    resource: &'a str,
}

/// Split an ARN like aws-sdk-go's `arn.Parse`, with its error texts (they reach clients).
fn parse_arn(arn: &str) -> Result<ParsedArn<'_>, &'static str> {
    if !arn.starts_with("arn:") {
        return Err("arn: invalid prefix");
    }
    let sections: Vec<&str> = arn.splitn(6, ':').collect();
    match sections.as_slice() {
        [_, _partition, service, _region, _account, resource] => {
            Ok(ParsedArn { service, resource })
        }
        _ => Err("arn: not enough sections"),
    }
}

/// `arn` must name an IAM resource of `resource_type` (`policy` for a permissions boundary,
/// `role` for a chaining source); the reason texts are Vault's.
fn validate_iam_arn(arn: &str, resource_type: &str) -> Result<(), String> {
    let parsed = parse_arn(arn).map_err(str::to_string)?;
    if parsed.service != "iam" {
        return Err(format!(
            "expected a service of iam but got {}",
            parsed.service
        ));
    }
    let is_type = parsed
        .resource
        .strip_prefix(resource_type)
        .is_some_and(|rest| rest.starts_with('/'));
    if !is_type {
        return Err(format!(
            "expected a resource type of {resource_type} but got {}",
            parsed.resource
        ));
    }
    Ok(())
}

/// Same language as `USER_PATH_REGEX`: `/`, or `/…/` with 0-510 chars in 0x21-0x7F between.
fn user_path_is_valid(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    let Some(inner) = path.strip_prefix('/').and_then(|p| p.strip_suffix('/')) else {
        return false;
    };
    inner.len() <= 510 && inner.bytes().all(|b| (0x21..=0x7f).contains(&b))
}

/// Seconds from the request to stored nanoseconds; saturates instead of Go's silent wrap.
fn secs_to_nanos(secs: i64) -> i64 {
    secs.saturating_mul(NANOS_PER_SEC)
}

/// hashicorp/go-multierror's default rendering, which Vault quotes into its error text.
fn multierror_text(errors: &[String]) -> String {
    match errors {
        [one] => format!("1 error occurred:\n\t* {one}\n\n"),
        many => {
            let points: Vec<String> = many.iter().map(|e| format!("* {e}")).collect();
            format!(
                "{} errors occurred:\n\t{}\n\n",
                many.len(),
                points.join("\n\t")
            )
        }
    }
}

/// Go's `%#v` of a `[]string`, e.g. `[]string{"iam_user", "federation_token"}`.
fn go_string_slice_literal(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// Go-style JSON `null` handling for scalars: leave the zero value.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Mirrors Go's `omitempty` on a bool.
fn is_false(b: &bool) -> bool {
    !*b
}

/// Go marshals a nil slice as `null` and an empty one as `[]`; `Option` keeps that apart.
fn list_value(list: Option<&Vec<String>>) -> Value {
    list.map_or(Value::Null, |items| {
        Value::Array(items.iter().cloned().map(Value::String).collect())
    })
}

/// Go marshals a nil map as `null` and an empty one as `{}`.
fn map_value(map: Option<&BTreeMap<String, String>>) -> Value {
    map.map_or(Value::Null, |m| {
        Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    })
}

impl From<RoleError> for Error {
    fn from(e: RoleError) -> Self {
        match e {
            RoleError::BadRequest(m) => Error::BadRequest(m),
            RoleError::Internal(m) => Error::Internal(m),
        }
    }
}

/// Loads a role, migrating a legacy `policy/<name>` entry on first read.
pub(crate) async fn load_role(
    storage: &Storage,
    name: &str,
) -> Result<Option<RoleEntry>, RoleError> {
    let read = |e: crate::framework::storage::StorageError| {
        RoleError::Internal(format!("error retrieving role: {e}"))
    };
    if let Some(role) = storage
        .get_json::<RoleEntry>(&format!("{ROLE_PREFIX}{name}"))
        .await
        .map_err(read)?
    {
        return Ok(Some(role));
    }
    let Some(raw) = storage
        .get_raw(&format!("{LEGACY_PREFIX}{name}"))
        .await
        .map_err(read)?
    else {
        return Ok(None);
    };
    let migrated = migrate_legacy(&String::from_utf8_lossy(&raw));
    let write = |e: crate::framework::storage::StorageError| RoleError::Internal(e.to_string());
    storage
        .put_json(&format!("{ROLE_PREFIX}{name}"), &migrated)
        .await
        .map_err(write)?;
    storage
        .delete(&format!("{LEGACY_PREFIX}{name}"))
        .await
        .map_err(write)?;
    tracing::info!(role = %name, "migrated legacy policy entry to a role");
    Ok(Some(migrated))
}

/// How many roles a mount keeps in memory. Reads of more roles than this still work (they
/// read storage); the bound keeps a mount with tens of thousands of roles from holding them all.
pub(crate) const ROLE_CACHE_CAPACITY: usize = 1024;

/// Roles read from storage, by name, and the list of role names, so `creds/` and `roles/`
/// requests skip storage round trips. Both are dropped on every write, delete and Invalidate of
/// a role, and on Initialize; a read that raced with such a change is not cached.
pub(crate) struct RoleCache {
    roles: Mutex<LruCache<String, Arc<RoleEntry>>>,
    /// `LIST roles`' data, encoded: the names under `role/` and `policy/`, as storage lists
    /// them. Encoded once because a mount may have tens of thousands of roles.
    names: Mutex<Option<Arc<str>>>,
    /// Bumped whenever a role may have changed.
    generation: AtomicU64,
}

impl Default for RoleCache {
    fn default() -> Self {
        Self {
            // Unbounded in the type, bounded in `get`: `LruCache::new` would allocate room for
            // the whole capacity up front in every mount, used or not.
            roles: Mutex::new(LruCache::unbounded()),
            names: Mutex::new(None),
            generation: AtomicU64::new(0),
        }
    }
}

impl RoleCache {
    /// Role `name`, from the cache or from storage (then cached).
    pub(crate) async fn get(
        &self,
        storage: &Storage,
        name: &str,
    ) -> Result<Option<Arc<RoleEntry>>, Error> {
        if let Some(r) = self
            .roles
            .lock()
            .ok()
            .and_then(|mut m| m.get(name).cloned())
        {
            return Ok(Some(r));
        }
        let gen = self.generation.load(Ordering::SeqCst);
        let Some(loaded) = load_role(storage, name).await? else {
            return Ok(None);
        };
        let loaded = Arc::new(loaded);
        if let Ok(mut m) = self.roles.lock() {
            // Checked under the lock that forget also takes, so a change that happened while we
            // read storage is never overwritten by what we read before it.
            if self.generation.load(Ordering::SeqCst) == gen {
                m.put(name.to_string(), loaded.clone());
                if m.len() > ROLE_CACHE_CAPACITY {
                    m.pop_lru();
                }
            }
        }
        Ok(Some(loaded))
    }

    /// The names of every role (new and legacy) as `LIST roles` answers them, from the cache
    /// or from storage.
    pub(crate) async fn names(&self, storage: &Storage) -> Result<Arc<str>, Error> {
        if let Some(n) = self.names.lock().ok().and_then(|n| n.clone()) {
            return Ok(n);
        }
        let gen = self.generation.load(Ordering::SeqCst);
        let mut keys = storage.list(ROLE_PREFIX).await?;
        keys.extend(storage.list(LEGACY_PREFIX).await?);
        let keys = Response::encode_list(&keys);
        if let Ok(mut n) = self.names.lock() {
            if self.generation.load(Ordering::SeqCst) == gen {
                *n = Some(keys.clone());
            }
        }
        Ok(keys)
    }

    /// Forgets role `name` (written, deleted, or changed on another node) and the name list.
    pub(crate) fn forget(&self, name: &str) {
        if let (Ok(mut m), Ok(mut n)) = (self.roles.lock(), self.names.lock()) {
            self.generation.fetch_add(1, Ordering::SeqCst);
            m.pop(name);
            *n = None;
        }
    }

    /// Forgets every role.
    pub(crate) fn forget_all(&self) {
        if let (Ok(mut m), Ok(mut n)) = (self.roles.lock(), self.names.lock()) {
            self.generation.fetch_add(1, Ordering::SeqCst);
            m.clear();
            *n = None;
        }
    }

    /// Forgets the role stored under `key`, when `key` is a role's storage key (Invalidate).
    pub(crate) fn invalidate(&self, key: &str) {
        if let Some(name) = key
            .strip_prefix(ROLE_PREFIX)
            .or_else(|| key.strip_prefix(LEGACY_PREFIX))
        {
            self.forget(name);
        }
    }
}

fn parse_input(ctx: &Ctx<AwsBackend>) -> RoleInput {
    let f = &ctx.fields;
    RoleInput {
        credential_type: f.opt_string("credential_type"),
        role_arns: f.opt_list("role_arns"),
        policy_arns: f.opt_list("policy_arns"),
        policy_document: f.opt_string("policy_document"),
        iam_groups: f.opt_list("iam_groups"),
        iam_tags: f.opt_kv("iam_tags"),
        default_sts_ttl: f.opt_int("default_sts_ttl"),
        max_sts_ttl: f.opt_int("max_sts_ttl"),
        user_path: f.opt_string("user_path"),
        permissions_boundary_arn: f.opt_string("permissions_boundary_arn"),
        session_tags: f.opt_kv("session_tags"),
        external_id: f.opt_string("external_id"),
        mfa_serial_number: f.opt_string("mfa_serial_number"),
        sts: sts_options::StsOptionsInput::parse(f),
        user: user_options::UserOptionsInput::parse(f),
        legacy_arn: f.opt_string("arn"),
        legacy_policy: f.opt_string("policy"),
    }
}

async fn write(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let name = ctx.fields.string("name");
    if name.is_empty() {
        return Err(Error::bad("missing role name"));
    }
    let input = parse_input(&ctx);
    let existing = load_role(&ctx.storage, &name).await?;
    let (entry, warnings) = apply_write(existing, input)?;
    ctx.backend.roles.forget(&name);
    let stored = ctx
        .storage
        .put_json(&format!("{ROLE_PREFIX}{name}"), &entry)
        .await;
    ctx.backend.roles.forget(&name);
    stored?;
    if warnings.is_empty() {
        return Ok(None);
    }
    Ok(Some(Response {
        warnings,
        ..Response::default()
    }))
}

async fn read(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let name = ctx.fields.string("name");
    Ok(ctx
        .backend
        .roles
        .get(&ctx.storage, &name)
        .await?
        .map(|r| Response::with_data(r.read_response())))
}

async fn delete(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let name = ctx.fields.string("name");
    ctx.backend.roles.forget(&name);
    let deleted = async {
        ctx.storage
            .delete(&format!("{LEGACY_PREFIX}{name}"))
            .await?;
        ctx.storage.delete(&format!("{ROLE_PREFIX}{name}")).await
    }
    .await;
    ctx.backend.roles.forget(&name);
    deleted?;
    Ok(None)
}

async fn list(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let names = ctx.backend.roles.names(&ctx.storage).await?;
    Ok(Some(Response::encoded(names)))
}

/// Role not found text, as Vault's `Role %q not found`.
pub(crate) fn not_found(name: &str) -> Error {
    Error::bad(format!("Role {} not found", go_quote(name)))
}

/// LIST `roles`.
pub(crate) fn list_path() -> Path<AwsBackend> {
    Path::new("roles/?")
        .op(
            Operation::List,
            "List the existing roles in this backend",
            handler(list),
        )
        .help(
            "List the existing roles in this backend",
            "Roles will be listed by the role name.",
        )
}

/// `roles/<name>`.
pub(crate) fn path() -> Path<AwsBackend> {
    let s = |n, d| Field::new(n, FieldType::String, d);
    let l = |n, d| Field::new(n, FieldType::CommaStringSlice, d);
    let path = Path::new(format!("roles/{}", name_segment("name")))
        .field(s("name", "Name of the role").required())
        .field(s("credential_type", "Type of credential to retrieve. Must be one of assumed_role, iam_user, federation_token, or session_token"))
        .field(l("role_arns", "ARNs of AWS roles allowed to be assumed. Only valid when credential_type is assumed_role"))
        .field(l("policy_arns", "ARNs of AWS policies. Behavior varies by credential_type. When credential_type is\niam_user, then it will attach the specified policies to the generated IAM user.\nWhen credential_type is assumed_role or federation_token, the policies will be passed as the\nPolicyArns parameter, acting as a filter on permissions available."))
        .field(s("policy_document", "JSON-encoded IAM policy document. Behavior varies by credential_type. When credential_type is\niam_user, then it will attach the contents of the policy_document to the IAM\nuser generated. When credential_type is assumed_role or federation_token, this\nwill be passed in as the Policy parameter to the AssumeRole or\nGetFederationToken API call, acting as a filter on permissions available."))
        .field(l("iam_groups", "Names of IAM groups that generated IAM users will be added to. For a credential\ntype of assumed_role or federation_token, the policies sent to the\ncorresponding AWS call (sts:AssumeRole or sts:GetFederation) will be the\npolicies from each group in iam_groups combined with the policy_document\nand policy_arns parameters."))
        .field(Field::new("iam_tags", FieldType::KvPairs, "IAM tags to be set for any users created by this role. These must be presented\nas Key-Value pairs. This can be represented as a map or a list of equal sign\ndelimited key pairs."))
        .field(Field::new("default_sts_ttl", FieldType::DurationSecond, "Default TTL for assumed_role, federation_token, and session_token credential types when no TTL is explicitly requested with the credentials"))
        .field(Field::new("max_sts_ttl", FieldType::DurationSecond, "Max allowed TTL for assumed_role, federation_token, and session_token credential types"))
        .field(s("permissions_boundary_arn", "ARN of an IAM policy to attach as a permissions boundary on IAM user credential; only valid when credential_type is iam_user"))
        .field(s("user_path", "Path for IAM User. Only valid when credential_type is iam_user").default("/"))
        .field(Field::new("session_tags", FieldType::KvPairs, "Session tags to be set for assumed role credentials. These must be presented\nas Key-Value pairs. This can be represented as a map or a list of equal sign\ndelimited key pairs. Values accept identity templates, e.g. \"{{identity.entity.metadata.team}}\"."))
        .field(s("external_id", "External ID to set when assuming the role; only valid when credential_type is assumed_role"))
        .field(s("mfa_serial_number", "Identification number or ARN of the MFA device associated with the root config user. Only valid\nwhen credential_type is session_token. This is only required if the IAM user has an MFA device set up."))
        .field(s("arn", "Use role_arns or policy_arns instead."))
        .field(s("policy", "Use policy_document instead."));
    sts_options::fields()
        .into_iter()
        .chain(user_options::fields())
        .fold(path, Path::field)
        .op(Operation::Read, "Read a role", handler(read))
        .op(Operation::Update, "Create or update a role", handler(write))
        .op(Operation::Delete, "Delete a role", handler(delete))
        .help(
            "Read, write and reference IAM policies that access keys can be made for.",
            "This path allows you to read and write roles that are used to\n\
             create access keys. These roles are associated with IAM policies that\n\
             map directly to the route to read the access keys. For example, if the\n\
             backend is mounted at \"aws\" and you create a role at \"aws/roles/deploy\"\n\
             then a user could request access credentials at \"aws/creds/deploy\".\n\n\
             You can either supply a user inline policy (via the policy argument), or\n\
             provide a reference to an existing AWS policy by supplying the full arn\n\
             reference (via the arn argument). Inline user policies written are normal\n\
             IAM policies. Vault will not attempt to parse these except to validate\n\
             that they're basic JSON. No validation is performed on arn references.",
        )
}

#[cfg(test)]
mod tests;
