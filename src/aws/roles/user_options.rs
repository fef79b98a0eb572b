//! Role fields that shape `iam_user` credentials beyond Vault's own: the lease of the role's
//! users (`default_ttl`, `max_ttl`; hashicorp/vault#15176), a cap on how many of them may live at
//! once (`max_active_credentials`; hashicorp/vault#5475), and waiting until a new key works
//! before returning it (`key_ready_timeout`; hashicorp/vault#3115, #8413).
//!
//! Stored inside the role entry under their own keys, left out when unset, so a role that uses
//! none of them is stored byte for byte as Vault stores it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::aws::credential::CredentialType;
use crate::framework::{Field, FieldData, FieldType};

use super::{rules, RoleEntry};

/// Nanoseconds per second: durations are stored as Go's `time.Duration`.
const NANOS: i64 = 1_000_000_000;
/// The longest `key_ready_timeout`: a request waiting longer would meet client timeouts.
pub(crate) const MAX_KEY_READY_SECS: i64 = 120;

/// The `iam_user` options of a role (see the module doc).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub(crate) struct UserOptions {
    /// Lease of new users, nanoseconds; 0 uses `config/lease`.
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) default_ttl: i64,
    /// Longest lease of new users, nanoseconds; 0 uses `config/lease`.
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) max_ttl: i64,
    /// How many of the role's users may exist at once; 0 is no cap.
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) max_active_credentials: i64,
    /// How long to wait for a new key to work before returning it, nanoseconds; 0 is no wait.
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) key_ready_timeout: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// The `iam_user` options of a role write (seconds, a count); `None` = absent.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct UserOptionsInput {
    pub(crate) default_ttl: Option<i64>,
    pub(crate) max_ttl: Option<i64>,
    pub(crate) max_active_credentials: Option<i64>,
    pub(crate) key_ready_timeout: Option<i64>,
}

impl UserOptionsInput {
    /// Reads the fields [`fields`] declares.
    pub(crate) fn parse(f: &FieldData) -> Self {
        Self {
            default_ttl: f.opt_int("default_ttl"),
            max_ttl: f.opt_int("max_ttl"),
            max_active_credentials: f.opt_int("max_active_credentials"),
            key_ready_timeout: f.opt_int("key_ready_timeout"),
        }
    }

    /// Merges the supplied fields into `into` (a partial update, like every role field).
    pub(crate) fn merge_into(self, into: &mut UserOptions) {
        let nanos = |secs: i64| secs.saturating_mul(NANOS);
        if let Some(v) = self.default_ttl {
            into.default_ttl = nanos(v);
        }
        if let Some(v) = self.max_ttl {
            into.max_ttl = nanos(v);
        }
        if let Some(v) = self.max_active_credentials {
            into.max_active_credentials = v;
        }
        if let Some(v) = self.key_ready_timeout {
            into.key_ready_timeout = nanos(v);
        }
    }
}

impl UserOptions {
    /// Adds the options to a role read (whole seconds); every key is always present.
    pub(crate) fn read_into(&self, data: &mut Map<String, Value>) {
        data.insert("default_ttl".into(), Value::from(self.default_ttl / NANOS));
        data.insert("max_ttl".into(), Value::from(self.max_ttl / NANOS));
        data.insert(
            "max_active_credentials".into(),
            Value::from(self.max_active_credentials),
        );
        data.insert(
            "key_ready_timeout".into(),
            Value::from(self.key_ready_timeout / NANOS),
        );
    }

    /// The lease of a new user, `None` for `config/lease`'s.
    pub(crate) fn ttl(&self) -> Option<Duration> {
        positive(self.default_ttl)
    }

    /// The longest lease of a new user, `None` for `config/lease`'s.
    pub(crate) fn max_ttl(&self) -> Option<Duration> {
        positive(self.max_ttl)
    }

    /// How long to wait for a new key, `None` for no wait.
    pub(crate) fn key_ready_timeout(&self) -> Option<Duration> {
        positive(self.key_ready_timeout)
    }

    /// The cap on live users, `None` for no cap.
    pub(crate) fn max_active(&self) -> Option<u64> {
        u64::try_from(self.max_active_credentials)
            .ok()
            .filter(|n| *n > 0)
    }
}

fn positive(nanos: i64) -> Option<Duration> {
    u64::try_from(nanos)
        .ok()
        .filter(|n| *n > 0)
        .map(Duration::from_nanos)
}

/// The rules of the `iam_user` options, as messages for the role's validation error list.
pub(crate) fn validation_errors(role: &RoleEntry, types: &[CredentialType]) -> Vec<String> {
    let o = &role.user;
    let mut errors = Vec::new();
    let user = types.iter().any(|t| rules(*t).user_fields);
    for (field, value) in [
        ("default_ttl", o.default_ttl),
        ("max_ttl", o.max_ttl),
        ("max_active_credentials", o.max_active_credentials),
        ("key_ready_timeout", o.key_ready_timeout),
    ] {
        if value < 0 {
            errors.push(format!("{field} must not be negative"));
        } else if value != 0 && !user {
            errors.push(format!(
                "{field} parameter only valid for {} credential type",
                CredentialType::IamUser
            ));
        }
    }
    if o.max_ttl > 0 && o.default_ttl > 0 && o.default_ttl > o.max_ttl {
        errors.push(
            r#""default_ttl" value must be less than or equal to "max_ttl" value"#.to_string(),
        );
    }
    if o.key_ready_timeout > MAX_KEY_READY_SECS * NANOS {
        errors.push(format!(
            "key_ready_timeout must be at most {MAX_KEY_READY_SECS} seconds (2m)"
        ));
    }
    errors
}

/// The role path's fields for the options (help, OpenAPI and parsing come from these).
pub(crate) fn fields() -> Vec<Field> {
    vec![
        Field::new("default_ttl", FieldType::DurationSecond, "Lease of iam_user credentials of this role, overriding config/lease; 0 uses config/lease. The mount's max TTL still caps it. Only valid when credential_type is iam_user"),
        Field::new("max_ttl", FieldType::DurationSecond, "Longest lease (renewals included) of iam_user credentials of this role, overriding config/lease's lease_max; 0 uses config/lease. Only valid when credential_type is iam_user"),
        Field::new("max_active_credentials", FieldType::Int, "How many IAM users of this role may exist at once (issued and not yet revoked); at the cap creds/ answers 400 and creates nothing. 0 is no cap. Only valid when credential_type is iam_user"),
        Field::new("key_ready_timeout", FieldType::DurationSecond, "Wait up to this long (at most 2m) after creating an access key until AWS accepts it (sts:GetCallerIdentity signed with the new key), so the key works when it is returned; the credentials come back either way, with a warning if the key never proved itself. 0 does not wait. Only valid when credential_type is iam_user"),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::{apply_write, RoleError, RoleInput};
    use super::*;

    fn write(credential_type: &str, user: UserOptionsInput) -> Result<RoleEntry, String> {
        let input = RoleInput {
            credential_type: Some(credential_type.into()),
            role_arns: (credential_type == "assumed_role")
                .then(|| vec!["arn:aws:iam::123456789012:role/r".to_string()]),
            user,
            ..RoleInput::default()
        };
        match apply_write(None, input) {
            Ok((role, _)) => Ok(role),
            Err(RoleError::BadRequest(m)) => Err(m),
            Err(e) => panic!("expected 400, got {e:?}"),
        }
    }

    #[test]
    fn an_iam_user_role_stores_and_reads_every_option() {
        let role = write(
            "iam_user",
            UserOptionsInput {
                default_ttl: Some(120),
                max_ttl: Some(300),
                max_active_credentials: Some(3),
                key_ready_timeout: Some(30),
            },
        )
        .expect("valid");
        assert_eq!(role.user.ttl(), Some(Duration::from_secs(120)));
        assert_eq!(role.user.max_ttl(), Some(Duration::from_secs(300)));
        assert_eq!(role.user.max_active(), Some(3));
        assert_eq!(role.user.key_ready_timeout(), Some(Duration::from_secs(30)));
        let stored = serde_json::to_value(&role).expect("serialises");
        assert_eq!(stored["default_ttl"], 120_000_000_000_i64);
        let back: RoleEntry = serde_json::from_value(stored).expect("reads back");
        assert_eq!(back, role);
        let read = role.read_response();
        assert_eq!(read["default_ttl"], 120);
        assert_eq!(read["max_ttl"], 300);
        assert_eq!(read["max_active_credentials"], 3);
        assert_eq!(read["key_ready_timeout"], 30);
    }

    #[test]
    fn unset_options_are_not_stored() {
        let role = write("iam_user", UserOptionsInput::default()).expect("valid");
        let stored = serde_json::to_value(&role).expect("serialises");
        for k in [
            "default_ttl",
            "max_ttl",
            "max_active_credentials",
            "key_ready_timeout",
        ] {
            assert!(stored.get(k).is_none(), "{k} stored: {stored}");
        }
    }

    #[test]
    fn bad_values_name_the_field_and_the_rule() {
        let e = write(
            "assumed_role",
            UserOptionsInput {
                default_ttl: Some(60),
                ..Default::default()
            },
        )
        .expect_err("not for assumed_role");
        assert!(
            e.contains("default_ttl parameter only valid for iam_user credential type"),
            "{e}"
        );
        let e = write(
            "iam_user",
            UserOptionsInput {
                default_ttl: Some(600),
                max_ttl: Some(60),
                ..Default::default()
            },
        )
        .expect_err("default above max");
        assert!(e.contains("must be less than or equal to"), "{e}");
        let e = write(
            "iam_user",
            UserOptionsInput {
                key_ready_timeout: Some(121),
                ..Default::default()
            },
        )
        .expect_err("over 2m");
        assert!(
            e.contains("key_ready_timeout must be at most 120 seconds"),
            "{e}"
        );
        let e = write(
            "iam_user",
            UserOptionsInput {
                max_active_credentials: Some(-1),
                ..Default::default()
            },
        )
        .expect_err("negative");
        assert!(
            e.contains("max_active_credentials must not be negative"),
            "{e}"
        );
    }
}
