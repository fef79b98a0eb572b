//! Role fields that shape STS credentials beyond Vault's own: who asked, in the session
//! (`role_session_name`, `source_identity` and the `session_tags` values take Vault's identity
//! templates; hashicorp/vault#19412, #7960), role chaining through an intermediate role
//! (`source_role_arn`, `source_external_id`; hashicorp/vault#13697), and credentials without a
//! lease (`no_lease`; hashicorp/vault#25246).
//!
//! Stored inside the role entry under their own keys, left out when unset, so a role that uses
//! none of them is stored byte for byte as Vault stores it (only this plugin writes them).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::aws::credential::CredentialType;
use crate::framework::identity::IdentityTemplate;
use crate::framework::{Field, FieldData, FieldType};
use crate::gocompat::quote::go_quote;

use super::{is_false, rules, validate_iam_arn, RoleEntry};

/// AWS caps a session obtained with another session's credentials (role chaining) at 1 h.
pub(crate) const CHAINED_MAX_TTL_SECS: i64 = 3600;

/// The rule AWS applies to session names (`RoleSessionName`).
pub(crate) const SESSION_NAME_RULE: &str =
    "AWS allows 2 to 64 characters of letters, digits and +=,.@_- in a session name";
/// The rule AWS applies to `SourceIdentity`.
pub(crate) const SOURCE_IDENTITY_RULE: &str =
    "AWS allows 2 to 64 characters of letters, digits and +=,.@_- in a source identity";
/// The rule AWS applies to session tag values.
pub(crate) const TAG_VALUE_RULE: &str = "AWS allows at most 256 characters in a session tag value";

/// The STS options of a role (see the module doc).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub(crate) struct StsOptions {
    /// Session name template for `assumed_role`; `""` leaves the name to the request or the
    /// username template.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) role_session_name: String,
    /// `SourceIdentity` template for `assumed_role`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) source_identity: String,
    /// A role the engine assumes first; the target is assumed with its credentials.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) source_role_arn: String,
    /// `ExternalId` when assuming `source_role_arn`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) source_external_id: String,
    /// Issue STS credentials without a lease.
    #[serde(skip_serializing_if = "is_false")]
    pub(crate) no_lease: bool,
}

/// The STS options of a role write; `None` = absent, so the stored value stays.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct StsOptionsInput {
    pub(crate) role_session_name: Option<String>,
    pub(crate) source_identity: Option<String>,
    pub(crate) source_role_arn: Option<String>,
    pub(crate) source_external_id: Option<String>,
    pub(crate) no_lease: Option<bool>,
}

impl StsOptionsInput {
    /// Reads the fields [`fields`] declares.
    pub(crate) fn parse(f: &FieldData) -> Self {
        Self {
            role_session_name: f.opt_string("role_session_name"),
            source_identity: f.opt_string("source_identity"),
            source_role_arn: f.opt_string("source_role_arn"),
            source_external_id: f.opt_string("source_external_id"),
            no_lease: f.opt_bool("no_lease"),
        }
    }

    /// Merges the supplied fields into `into` (a partial update, like every role field).
    pub(crate) fn merge_into(self, into: &mut StsOptions) {
        let set = |to: &mut String, from: Option<String>| {
            if let Some(v) = from {
                *to = v;
            }
        };
        set(&mut into.role_session_name, self.role_session_name);
        set(&mut into.source_identity, self.source_identity);
        set(&mut into.source_role_arn, self.source_role_arn);
        set(&mut into.source_external_id, self.source_external_id);
        if let Some(v) = self.no_lease {
            into.no_lease = v;
        }
    }
}

impl StsOptions {
    /// Adds the options to a role read; every key is always present, as Vault's newer keys are.
    pub(crate) fn read_into(&self, data: &mut Map<String, Value>) {
        for (k, v) in [
            ("role_session_name", &self.role_session_name),
            ("source_identity", &self.source_identity),
            ("source_role_arn", &self.source_role_arn),
            ("source_external_id", &self.source_external_id),
        ] {
            data.insert(k.into(), Value::String(v.clone()));
        }
        data.insert("no_lease".into(), Value::Bool(self.no_lease));
    }
}

/// Whether `s` is a session name or source identity AWS accepts: 2 to 64 of `[\w+=,.@-]`.
pub(crate) fn is_aws_name(s: &str) -> bool {
    (2..=64).contains(&s.chars().count()) && s.chars().all(is_name_char)
}

/// Whether `s` fits a session tag value's length (AWS counts characters).
pub(crate) fn fits_tag_value(s: &str) -> bool {
    s.chars().count() <= 256
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

/// The rules of the STS options, as messages for the role's validation error list.
pub(crate) fn validation_errors(role: &RoleEntry, types: &[CredentialType]) -> Vec<String> {
    let o = &role.sts;
    let mut errors = Vec::new();
    let assumed = types.iter().any(|t| rules(*t).assume_fields);
    let assume_only = |what: &str| {
        format!(
            "cannot supply {what} when credential_type isn't {}",
            CredentialType::AssumedRole
        )
    };
    for (field, value) in [
        ("role_session_name", &o.role_session_name),
        ("source_identity", &o.source_identity),
        ("source_role_arn", &o.source_role_arn),
        ("source_external_id", &o.source_external_id),
    ] {
        if !value.is_empty() && !assumed {
            errors.push(assume_only(field));
        }
    }
    if o.no_lease && !types.iter().any(|t| rules(*t).sts_ttls) {
        errors.push(format!(
            "no_lease parameter only valid for {}, {}, and {} credential types",
            CredentialType::AssumedRole,
            CredentialType::FederationToken,
            CredentialType::SessionToken
        ));
    }
    name_template_errors(
        "role_session_name",
        &o.role_session_name,
        SESSION_NAME_RULE,
        &mut errors,
    );
    name_template_errors(
        "source_identity",
        &o.source_identity,
        SOURCE_IDENTITY_RULE,
        &mut errors,
    );
    for (key, value) in role.session_tags.iter().flatten() {
        if let Err(e) = IdentityTemplate::parse(value) {
            errors.push(format!(
                "invalid session_tags value for {}: {e}",
                go_quote(key)
            ));
        }
    }
    if !o.source_external_id.is_empty() && o.source_role_arn.is_empty() {
        errors.push("source_external_id requires source_role_arn".to_string());
    }
    if !o.source_role_arn.is_empty() {
        if let Err(why) = validate_iam_arn(&o.source_role_arn, "role") {
            errors.push(format!("invalid source_role_arn parameter: {why}"));
        }
        if role.default_sts_ttl_secs() > CHAINED_MAX_TTL_SECS {
            errors.push(format!(
                "default_sts_ttl of {} seconds is more than the {CHAINED_MAX_TTL_SECS} seconds (1h) AWS allows for a session obtained by role chaining (source_role_arn)",
                role.default_sts_ttl_secs()
            ));
        }
    }
    errors
}

/// A name template must parse, and what it can already be checked on must follow `rule`: the
/// whole value when it has no directive, else the literal text around them.
fn name_template_errors(field: &str, value: &str, rule: &str, errors: &mut Vec<String>) {
    if value.is_empty() {
        return;
    }
    match IdentityTemplate::parse(value) {
        Err(e) => errors.push(format!("invalid {field} {}: {e}", go_quote(value))),
        Ok(t) if !t.has_directives() => {
            if !is_aws_name(value) {
                errors.push(format!("invalid {field} {}: {rule}", go_quote(value)));
            }
        }
        Ok(t) => {
            let literal: String = t.literals().collect();
            if literal.chars().count() > 64 || !literal.chars().all(is_name_char) {
                errors.push(format!(
                    "invalid {field} {}: the text around its templates already breaks the rule: {rule}",
                    go_quote(value)
                ));
            }
        }
    }
}

/// The role path's fields for the options (help, OpenAPI and parsing come from these).
pub(crate) fn fields() -> Vec<Field> {
    let s = |n, d| Field::new(n, FieldType::String, d);
    vec![
        s("role_session_name", "Session name of assumed_role credentials. Accepts identity templates over the requesting entity, e.g. \"vault-{{identity.entity.name}}\"; the result must be 2-64 characters of letters, digits and +=,.@_-. When set, requests may not pass their own role_session_name. Only valid when credential_type is assumed_role"),
        s("source_identity", "Source identity set on assumed_role sessions (SourceIdentity on AssumeRole), shown in CloudTrail and kept through role chaining. Accepts identity templates, e.g. \"{{identity.entity.name}}\"; the result must be 2-64 characters of letters, digits and +=,.@_-. Only valid when credential_type is assumed_role"),
        s("source_role_arn", "ARN of a role the engine first assumes with its own credentials; the role in role_arns is then assumed with that role's credentials (role chaining), so sessions last at most 1h. Only valid when credential_type is assumed_role"),
        s("source_external_id", "External ID to set when assuming source_role_arn"),
        Field::new("no_lease", FieldType::Bool, "Return assumed_role, federation_token and session_token credentials without a lease: nothing is stored on the server per request, and the data keeps ttl and expiration so clients know when to fetch new ones").default(false),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::{apply_write, RoleError, RoleInput};
    use super::*;

    const TARGET: &str = "arn:aws:iam::123456789012:role/target";
    const HUB: &str = "arn:aws:iam::222233334444:role/hub";

    fn write(credential_type: &str, sts: StsOptionsInput) -> Result<RoleEntry, String> {
        write_with(credential_type, sts, RoleInput::default())
    }

    fn write_with(
        credential_type: &str,
        sts: StsOptionsInput,
        base: RoleInput,
    ) -> Result<RoleEntry, String> {
        let role_arns = (credential_type == "assumed_role").then(|| vec![TARGET.to_string()]);
        let input = RoleInput {
            credential_type: Some(credential_type.into()),
            role_arns,
            sts,
            ..base
        };
        match apply_write(None, input) {
            Ok((role, _)) => Ok(role),
            Err(RoleError::BadRequest(m)) => Err(m),
            Err(e) => panic!("expected 400, got {e:?}"),
        }
    }

    /// The single rule message inside Vault's quoted multierror text.
    fn only_error(result: Result<RoleEntry, String>) -> String {
        let text = result.expect_err("refused");
        let quoted = text
            .strip_prefix("error(s) validating supplied role data: ")
            .expect("validation error");
        let inner: String = serde_json::from_str(quoted).expect("Go-quoted text");
        inner
            .strip_prefix("1 error occurred:\n\t* ")
            .and_then(|m| m.strip_suffix("\n\n"))
            .unwrap_or_else(|| panic!("not one error: {inner:?}"))
            .to_string()
    }

    #[test]
    fn an_assumed_role_role_stores_and_reads_every_option() {
        let role = write(
            "assumed_role",
            StsOptionsInput {
                role_session_name: Some("vault-{{identity.entity.name}}".into()),
                source_identity: Some("{{identity.entity.id}}".into()),
                source_role_arn: Some(HUB.into()),
                source_external_id: Some("hub-ext".into()),
                no_lease: Some(true),
            },
        )
        .expect("valid");
        let stored = serde_json::to_value(&role).expect("serialises");
        assert_eq!(stored["source_role_arn"], HUB);
        assert_eq!(stored["no_lease"], true);
        let back: RoleEntry = serde_json::from_value(stored).expect("reads back");
        assert_eq!(back, role);
        let read = role.read_response();
        assert_eq!(read["role_session_name"], "vault-{{identity.entity.name}}");
        assert_eq!(read["source_identity"], "{{identity.entity.id}}");
        assert_eq!(read["source_external_id"], "hub-ext");
        assert_eq!(read["no_lease"], true);
    }

    #[test]
    fn options_of_assumed_role_are_refused_on_other_types() {
        for field in [
            "role_session_name",
            "source_identity",
            "source_role_arn",
            "source_external_id",
        ] {
            let mut sts = StsOptionsInput::default();
            let value = Some(
                if field == "source_role_arn" {
                    HUB
                } else {
                    "ab"
                }
                .to_string(),
            );
            match field {
                "role_session_name" => sts.role_session_name = value,
                "source_identity" => sts.source_identity = value,
                "source_role_arn" => sts.source_role_arn = value,
                _ => {
                    sts.source_external_id = value;
                    sts.source_role_arn = Some(HUB.into());
                }
            }
            let e = write("federation_token", sts).expect_err("refused");
            assert!(
                e.contains(&format!(
                    "cannot supply {field} when credential_type isn't assumed_role"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn no_lease_is_for_sts_types_only() {
        let no_lease = || StsOptionsInput {
            no_lease: Some(true),
            ..StsOptionsInput::default()
        };
        for t in ["assumed_role", "federation_token", "session_token"] {
            let policy = (t == "federation_token").then(|| r#"{"Version":"2012-10-17"}"#.into());
            let base = RoleInput {
                policy_document: policy,
                ..RoleInput::default()
            };
            assert!(write_with(t, no_lease(), base).expect("valid").sts.no_lease);
        }
        assert_eq!(
            only_error(write("iam_user", no_lease())),
            "no_lease parameter only valid for assumed_role, federation_token, and session_token credential types"
        );
    }

    #[test]
    fn names_are_checked_as_far_as_they_can_be_when_written() {
        let name = |v: &str| StsOptionsInput {
            role_session_name: Some(v.into()),
            ..StsOptionsInput::default()
        };
        assert_eq!(
            only_error(write("assumed_role", name("a"))),
            format!(r#"invalid role_session_name "a": {SESSION_NAME_RULE}"#)
        );
        assert_eq!(
            only_error(write("assumed_role", name("a b"))),
            format!(r#"invalid role_session_name "a b": {SESSION_NAME_RULE}"#)
        );
        assert_eq!(
            only_error(write("assumed_role", name("a b-{{identity.entity.id}}"))),
            format!(
                r#"invalid role_session_name "a b-{{{{identity.entity.id}}}}": the text around its templates already breaks the rule: {SESSION_NAME_RULE}"#
            )
        );
        let e = only_error(write("assumed_role", name("{{identity.groups.names}}")));
        assert!(
            e.starts_with(r#"invalid role_session_name "{{identity.groups.names}}": unsupported template directive {{identity.groups.names}}"#),
            "{e}"
        );
        let e = only_error(write(
            "assumed_role",
            StsOptionsInput {
                source_identity: Some("x".into()),
                ..StsOptionsInput::default()
            },
        ));
        assert_eq!(
            e,
            format!(r#"invalid source_identity "x": {SOURCE_IDENTITY_RULE}"#)
        );
        let base = RoleInput {
            session_tags: Some([("team".into(), "{{identity.entity.metadata.team".into())].into()),
            ..RoleInput::default()
        };
        assert_eq!(
            only_error(write_with("assumed_role", StsOptionsInput::default(), base)),
            r#"invalid session_tags value for "team": unbalanced templating characters"#
        );
        assert!(write("assumed_role", name("ci-{{identity.entity.metadata.host}}")).is_ok());
    }

    #[test]
    fn chaining_rules() {
        let chain = |arn: &str, ext: &str| StsOptionsInput {
            source_role_arn: Some(arn.into()),
            source_external_id: Some(ext.into()),
            ..StsOptionsInput::default()
        };
        assert_eq!(
            only_error(write("assumed_role", chain("", "x"))),
            "source_external_id requires source_role_arn"
        );
        assert_eq!(
            only_error(write("assumed_role", chain("hub", ""))),
            "invalid source_role_arn parameter: arn: invalid prefix"
        );
        assert_eq!(
            only_error(write(
                "assumed_role",
                chain("arn:aws:iam::123456789012:user/u", "")
            )),
            "invalid source_role_arn parameter: expected a resource type of role but got user/u"
        );
        let long_default = RoleInput {
            default_sts_ttl: Some(7200),
            ..RoleInput::default()
        };
        assert_eq!(
            only_error(write_with("assumed_role", chain(HUB, ""), long_default)),
            "default_sts_ttl of 7200 seconds is more than the 3600 seconds (1h) AWS allows for a session obtained by role chaining (source_role_arn)"
        );
        let hour = RoleInput {
            default_sts_ttl: Some(3600),
            ..RoleInput::default()
        };
        assert!(write_with("assumed_role", chain(HUB, "ext"), hour).is_ok());
    }

    #[test]
    fn aws_names() {
        assert!(is_aws_name("ab"));
        assert!(is_aws_name("alice.smith@example.com"));
        assert!(is_aws_name(&"x".repeat(64)));
        assert!(!is_aws_name("a"));
        assert!(!is_aws_name(&"x".repeat(65)));
        assert!(!is_aws_name("alice smith"));
        assert!(!is_aws_name("ålice"));
        assert!(fits_tag_value(&"é".repeat(256)));
        assert!(!fits_tag_value(&"e".repeat(257)));
    }

    #[test]
    fn options_merge_partially() {
        let mut o = StsOptions {
            role_session_name: "keep".into(),
            no_lease: true,
            ..StsOptions::default()
        };
        StsOptionsInput {
            source_role_arn: Some("arn".into()),
            ..StsOptionsInput::default()
        }
        .merge_into(&mut o);
        assert_eq!(o.role_session_name, "keep");
        assert_eq!(o.source_role_arn, "arn");
        assert!(o.no_lease);
        StsOptionsInput {
            role_session_name: Some(String::new()),
            no_lease: Some(false),
            ..StsOptionsInput::default()
        }
        .merge_into(&mut o);
        assert_eq!(o.role_session_name, "");
        assert!(!o.no_lease);
    }
}
