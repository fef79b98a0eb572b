//! Unit tests of the role model: Vault's write, validation, migration and read rules.

use super::*;
use serde_json::json;

const CRED_IAM_USER: &str = "iam_user";
const CRED_ASSUMED_ROLE: &str = "assumed_role";
const CRED_FEDERATION_TOKEN: &str = "federation_token";
const CRED_SESSION_TOKEN: &str = "session_token";

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/path/RoleName";
const POLICY_ARN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

fn bad(e: Result<(RoleEntry, Vec<String>), RoleError>) -> String {
    match e {
        Err(RoleError::BadRequest(msg)) => msg,
        other => panic!("expected 400, got {other:?}"),
    }
}

fn input(credential_type: &str) -> RoleInput {
    RoleInput {
        credential_type: Some(credential_type.to_string()),
        ..RoleInput::default()
    }
}

fn one_error(msg: &str) -> String {
    format!(
        "error(s) validating supplied role data: {}",
        go_quote(&format!("1 error occurred:\n\t* {msg}\n\n"))
    )
}

fn entry(types: &[&str]) -> RoleEntry {
    RoleEntry {
        credential_types: types.iter().map(|t| t.to_string()).collect(),
        ..RoleEntry::default()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

// ---- go_quote / multierror -------------------------------------------------------------

#[test]
fn go_quote_matches_strconv_quote() {
    assert_eq!(go_quote("abc"), r#""abc""#);
    assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
    assert_eq!(
        go_quote("\n\t\r\u{7}\u{8}\u{c}\u{b}"),
        r#""\n\t\r\a\b\f\v""#
    );
    assert_eq!(go_quote("\u{0}\u{1f}\u{7f}"), r#""\x00\x1f\x7f""#);
    assert_eq!(go_quote("\u{85}\u{a0}\u{ad}"), r#""\u0085\u00a0\u00ad""#);
    assert_eq!(go_quote("\u{feff}\u{2028}"), r#""\ufeff\u2028""#);
    assert_eq!(go_quote("\u{e0001}"), r#""\U000e0001""#);
    assert_eq!(go_quote("šiauliai 日本 😀"), "\"šiauliai 日本 😀\"");
}

#[test]
fn validation_error_text_is_quoted_multierror() {
    let e = bad(apply_write(None, RoleInput::default()));
    assert_eq!(
        e,
        r#"error(s) validating supplied role data: "1 error occurred:\n\t* did not supply credential_type\n\n""#
    );
    let e = bad(apply_write(
        None,
        RoleInput {
            credential_type: Some("bogus".into()),
            role_arns: Some(strings(&[ROLE_ARN])),
            ..RoleInput::default()
        },
    ));
    assert_eq!(
        e,
        r#"error(s) validating supplied role data: "2 errors occurred:\n\t* unrecognized credential type: bogus\n\t* cannot supply role_arns when credential_type isn't assumed_role\n\n""#
    );
}

// ---- validation rules ------------------------------------------------------------------

#[test]
fn rule_credential_types() {
    assert_eq!(
        entry(&[]).validation_errors(),
        strings(&["did not supply credential_type"])
    );
    assert_eq!(
        entry(&["invalid_type"]).validation_errors(),
        strings(&["unrecognized credential type: invalid_type"])
    );
    assert_eq!(
        entry(&["iam_user", "x", "y"]).validation_errors(),
        strings(&[
            "unrecognized credential type: x",
            "unrecognized credential type: y"
        ])
    );
    assert_eq!(
        bad(apply_write(None, input(""))),
        one_error("unrecognized credential type: ")
    );
    for t in [
        CRED_IAM_USER,
        CRED_ASSUMED_ROLE,
        CRED_FEDERATION_TOKEN,
        CRED_SESSION_TOKEN,
    ] {
        assert!(entry(&[t]).validation_errors().is_empty(), "{t}");
    }
}

#[test]
fn rule_sts_ttls_only_for_sts_types() {
    let mut role = entry(&[CRED_IAM_USER]);
    role.default_sts_ttl = 1;
    assert_eq!(
        role.validation_errors(),
        strings(&["default_sts_ttl parameter only valid for assumed_role, federation_token, and session_token credential types"])
    );
    role.default_sts_ttl = 0;
    role.max_sts_ttl = -5;
    assert_eq!(
        role.validation_errors(),
        strings(&["max_sts_ttl parameter only valid for assumed_role, federation_token, and session_token credential types"])
    );
    for t in [CRED_ASSUMED_ROLE, CRED_FEDERATION_TOKEN, CRED_SESSION_TOKEN] {
        let r = apply_write(
            None,
            RoleInput {
                default_sts_ttl: Some(900),
                max_sts_ttl: Some(3600),
                ..input(t)
            },
        );
        let (role, warnings) = r.expect("valid sts ttl role");
        assert_eq!(role.default_sts_ttl, 900 * NANOS_PER_SEC);
        assert_eq!(role.max_sts_ttl, 3600 * NANOS_PER_SEC);
        assert!(warnings.is_empty());
    }
}

#[test]
fn rule_default_not_above_max() {
    let e = bad(apply_write(
        None,
        RoleInput {
            default_sts_ttl: Some(7200),
            max_sts_ttl: Some(3600),
            ..input(CRED_ASSUMED_ROLE)
        },
    ));
    assert_eq!(
        e,
        one_error(r#""default_sts_ttl" value must be less than or equal to "max_sts_ttl" value"#)
    );
    assert_eq!(
        e,
        r#"error(s) validating supplied role data: "1 error occurred:\n\t* \"default_sts_ttl\" value must be less than or equal to \"max_sts_ttl\" value\n\n""#
    );
    // Only checked when both are positive.
    let mut role = entry(&[CRED_FEDERATION_TOKEN]);
    role.default_sts_ttl = 7200 * NANOS_PER_SEC;
    assert!(role.validation_errors().is_empty());
    role.max_sts_ttl = 7200 * NANOS_PER_SEC;
    assert!(role.validation_errors().is_empty());
}

#[test]
fn rule_user_path() {
    let regex_msg = r#"the specified value for user_path is invalid. It must match "^\\/([\\x21-\\x7F]{0,510}\\/)?$" regexp"#;
    let mut role = entry(&[CRED_IAM_USER]);
    role.user_path = "/path".into();
    assert_eq!(role.validation_errors(), strings(&[regex_msg]));
    role.credential_types = strings(&[CRED_ASSUMED_ROLE]);
    role.role_arns = Some(strings(&[ROLE_ARN]));
    assert_eq!(
        role.validation_errors(),
        strings(&[
            "user_path parameter only valid for iam_user credential type",
            regex_msg
        ])
    );
    role.user_path = "/ok/".into();
    assert_eq!(
        role.validation_errors(),
        strings(&["user_path parameter only valid for iam_user credential type"])
    );
    // Full client text, quoted twice over as Vault does.
    let e = bad(apply_write(
        None,
        RoleInput {
            user_path: Some("nope".into()),
            ..input(CRED_IAM_USER)
        },
    ));
    assert_eq!(
        e,
        r#"error(s) validating supplied role data: "1 error occurred:\n\t* the specified value for user_path is invalid. It must match \"^\\\\/([\\\\x21-\\\\x7F]{0,510}\\\\/)?$\" regexp\n\n""#
    );
    // Empty means "/" and is not checked.
    let (role, _) = apply_write(
        None,
        RoleInput {
            user_path: Some(String::new()),
            ..input(CRED_ASSUMED_ROLE)
        },
    )
    .expect("empty user_path accepted");
    assert_eq!(role.user_path, "");
}

#[test]
fn user_path_checker_agrees_with_vault_regex() {
    let re = regex::Regex::new(USER_PATH_REGEX).expect("vault regex compiles");
    let long_ok = format!("/{}/", "a".repeat(510));
    let long_bad = format!("/{}/", "a".repeat(511));
    let cases: [(&str, bool); 12] = [
        ("/", true),
        ("", false),
        ("//", true),
        ("/path/", true),
        ("/a/b/c/", true),
        ("path/", false),
        ("/path", false),
        ("/šiauliai/", false),
        ("/sp ace/", false),
        ("/\u{7f}/", true),
        (&long_ok, true),
        (&long_bad, false),
    ];
    for (path, valid) in cases {
        assert_eq!(user_path_is_valid(path), valid, "{path:?}");
        assert_eq!(re.is_match(path), valid, "regex {path:?}");
    }
}

#[test]
fn rule_permissions_boundary() {
    let pb = "arn:aws:iam::aws:policy/FooBar";
    let mut role = entry(&[CRED_IAM_USER]);
    role.permissions_boundary_arn = pb.into();
    assert!(role.validation_errors().is_empty());

    let mut role = entry(&[CRED_ASSUMED_ROLE]);
    role.permissions_boundary_arn = pb.into();
    assert_eq!(
        role.validation_errors(),
        strings(&["cannot supply permissions_boundary_arn when credential_type isn't iam_user"])
    );

    let cases = [
        ("not_an_arn", "arn: invalid prefix"),
        ("notarn:aws:iam::aws:policy/FooBar", "arn: invalid prefix"),
        ("arn:aws:iam", "arn: not enough sections"),
        (
            "arn:aws:notiam::aws:policy/FooBar",
            "expected a service of iam but got notiam",
        ),
        (
            "arn:aws:iam::aws:notpolicy/FooBar",
            "expected a resource type of policy but got notpolicy/FooBar",
        ),
        (
            "arn:aws:iam::aws:policynot/FooBar",
            "expected a resource type of policy but got policynot/FooBar",
        ),
    ];
    for (arn, why) in cases {
        let mut role = entry(&[CRED_IAM_USER]);
        role.permissions_boundary_arn = arn.into();
        assert_eq!(
            role.validation_errors(),
            vec![format!("invalid permissions_boundary_arn parameter: {why}")],
            "{arn}"
        );
    }
}

#[test]
fn permissions_boundary_error_keeps_earlier_errors() {
    // Go drops the errors collected before this one; we keep them all (see validation_errors).
    let e = bad(apply_write(
        None,
        RoleInput {
            default_sts_ttl: Some(10),
            permissions_boundary_arn: Some("bogus".into()),
            role_arns: Some(strings(&[ROLE_ARN])),
            ..input(CRED_FEDERATION_TOKEN)
        },
    ));
    assert_eq!(
        e,
        format!(
            "error(s) validating supplied role data: {}",
            go_quote(
                "3 errors occurred:\n\t\
                 * cannot supply permissions_boundary_arn when credential_type isn't iam_user\n\t\
                 * invalid permissions_boundary_arn parameter: arn: invalid prefix\n\t\
                 * cannot supply role_arns when credential_type isn't assumed_role\n\n"
            )
        )
    );
}

#[test]
fn rule_session_token_policies() {
    let msg = "cannot supply a policy or role when using credential_type session_token";
    let e = bad(apply_write(
        None,
        RoleInput {
            policy_arns: Some(strings(&[POLICY_ARN])),
            ..input(CRED_SESSION_TOKEN)
        },
    ));
    assert_eq!(e, one_error(msg));
    let e = bad(apply_write(
        None,
        RoleInput {
            policy_document: Some("{}".into()),
            ..input(CRED_SESSION_TOKEN)
        },
    ));
    assert_eq!(e, one_error(msg));
    // Empty lists are fine, and an mfa serial is what session_token is for.
    let (role, _) = apply_write(
        None,
        RoleInput {
            policy_arns: Some(vec![]),
            mfa_serial_number: Some("arn:aws:iam::123456789012:mfa/me".into()),
            ..input(CRED_SESSION_TOKEN)
        },
    )
    .expect("session_token role");
    assert_eq!(role.mfa_serial_number, "arn:aws:iam::123456789012:mfa/me");
}

#[test]
fn rule_assumed_role_only_fields() {
    let e = bad(apply_write(
        None,
        RoleInput {
            role_arns: Some(strings(&[ROLE_ARN])),
            ..input(CRED_IAM_USER)
        },
    ));
    assert_eq!(
        e,
        one_error("cannot supply role_arns when credential_type isn't assumed_role")
    );
    let tags = BTreeMap::from([("team".to_string(), "a".to_string())]);
    let e = bad(apply_write(
        None,
        RoleInput {
            session_tags: Some(tags.clone()),
            ..input(CRED_FEDERATION_TOKEN)
        },
    ));
    assert_eq!(
        e,
        one_error("cannot supply session_tags when credential_type isn't assumed_role")
    );
    let e = bad(apply_write(
        None,
        RoleInput {
            external_id: Some("ext".into()),
            ..input(CRED_SESSION_TOKEN)
        },
    ));
    assert_eq!(
        e,
        one_error("cannot supply external_id when credential_type isn't assumed_role")
    );
    let (role, warnings) = apply_write(
        None,
        RoleInput {
            role_arns: Some(strings(&[ROLE_ARN])),
            session_tags: Some(tags.clone()),
            external_id: Some("ext".into()),
            ..input(CRED_ASSUMED_ROLE)
        },
    )
    .expect("assumed_role role");
    assert!(warnings.is_empty());
    assert_eq!(role.session_tags, Some(tags));
    assert_eq!(role.external_id, "ext");
    // Empty session_tags map is allowed on any type.
    assert!(apply_write(
        None,
        RoleInput {
            session_tags: Some(BTreeMap::new()),
            ..input(CRED_IAM_USER)
        }
    )
    .is_ok());
}

#[test]
fn mfa_serial_number_is_not_validated_by_vault() {
    // Vault documents it as session_token-only but has no rule; we match the code.
    let (role, _) = apply_write(
        None,
        RoleInput {
            mfa_serial_number: Some("GAHT12345678".into()),
            ..input(CRED_IAM_USER)
        },
    )
    .expect("accepted");
    assert_eq!(role.mfa_serial_number, "GAHT12345678");
}

// ---- merge semantics -------------------------------------------------------------------

#[test]
fn new_role_has_go_zero_values() {
    let (role, warnings) = apply_write(
        None,
        RoleInput {
            role_arns: Some(strings(&[ROLE_ARN])),
            ..input(CRED_ASSUMED_ROLE)
        },
    )
    .expect("created");
    assert!(warnings.is_empty());
    assert_eq!(
        role,
        RoleEntry {
            credential_types: strings(&[CRED_ASSUMED_ROLE]),
            role_arns: Some(strings(&[ROLE_ARN])),
            ..RoleEntry::default()
        }
    );
}

#[test]
fn partial_update_keeps_other_fields() {
    let (role, _) = apply_write(
        None,
        RoleInput {
            policy_arns: Some(strings(&[POLICY_ARN])),
            policy_document: Some(r#"{"Version": "2012-10-17"}"#.into()),
            iam_groups: Some(strings(&["g1", "g2"])),
            iam_tags: Some(BTreeMap::from([("k".into(), "v".into())])),
            user_path: Some("/vault/".into()),
            permissions_boundary_arn: Some("arn:aws:iam::aws:policy/PB".into()),
            ..input(CRED_IAM_USER)
        },
    )
    .expect("created");
    let (updated, _) = apply_write(
        Some(role.clone()),
        RoleInput {
            iam_groups: Some(strings(&["g3"])),
            ..RoleInput::default()
        },
    )
    .expect("updated");
    assert_eq!(updated.iam_groups, Some(strings(&["g3"])));
    assert_eq!(
        RoleEntry {
            iam_groups: role.iam_groups.clone(),
            ..updated.clone()
        },
        role
    );
    assert_eq!(updated.policy_document, r#"{"Version":"2012-10-17"}"#);
    // Clearing the document with "".
    let (cleared, _) = apply_write(
        Some(updated),
        RoleInput {
            policy_document: Some(String::new()),
            ..RoleInput::default()
        },
    )
    .expect("cleared");
    assert_eq!(cleared.policy_document, "");
    assert_eq!(cleared.policy_arns, Some(strings(&[POLICY_ARN])));
}

#[test]
fn changing_type_needs_role_arns_cleared() {
    let (role, _) = apply_write(
        None,
        RoleInput {
            role_arns: Some(strings(&[ROLE_ARN])),
            ..input(CRED_ASSUMED_ROLE)
        },
    )
    .expect("created");
    let e = bad(apply_write(Some(role.clone()), input(CRED_IAM_USER)));
    assert_eq!(
        e,
        one_error("cannot supply role_arns when credential_type isn't assumed_role")
    );
    let (switched, _) = apply_write(
        Some(role),
        RoleInput {
            role_arns: Some(vec![]),
            ..input(CRED_IAM_USER)
        },
    )
    .expect("switched");
    assert_eq!(switched.credential_types, strings(&[CRED_IAM_USER]));
    assert_eq!(switched.role_arns, Some(vec![]));
    assert_eq!(switched.read_response()["role_arns"], json!([]));
}

#[test]
fn explicit_write_clears_legacy_flag_but_keeps_version() {
    let legacy = migrate_legacy(POLICY_ARN);
    let (role, warnings) = apply_write(
        Some(legacy),
        RoleInput {
            iam_groups: Some(strings(&["g"])),
            ..RoleInput::default()
        },
    )
    .expect("updated");
    assert!(warnings.is_empty());
    assert!(!role.prohibit_flexible_cred_path);
    assert_eq!(role.version, 1);
    assert_eq!(role.policy_arns, Some(strings(&[POLICY_ARN])));
}

#[test]
fn invalid_data_cleared_with_warning() {
    let existing = migrate_legacy("arn:gobbledygook");
    let (role, warnings) =
        apply_write(Some(existing.clone()), input(CRED_FEDERATION_TOKEN)).expect("repaired");
    assert_eq!(
        warnings,
        strings(&[r#"Invalid data of "arn:gobbledygook" cleared out of role"#])
    );
    assert_eq!(role.invalid_data, "");
    assert_eq!(role.version, 1);
    // A failing write still reports the validation error, not the warning.
    let e = bad(apply_write(Some(existing), RoleInput::default()));
    assert_eq!(e, one_error("did not supply credential_type"));
}

// ---- policy documents ------------------------------------------------------------------

#[test]
fn policy_document_is_compacted() {
    let (role, _) = apply_write(
        None,
        RoleInput {
            policy_document: Some(r#"{ "a" : 1 }"#.into()),
            ..input(CRED_IAM_USER)
        },
    )
    .expect("stored");
    assert_eq!(role.policy_document, r#"{"a":1}"#);
}

#[test]
fn bad_policy_document_is_400() {
    let raw = "{\"Version\": \n";
    let e = bad(apply_write(
        None,
        RoleInput {
            policy_document: Some(raw.into()),
            ..input(CRED_IAM_USER)
        },
    ));
    assert_eq!(e, r#"cannot parse policy document: "{\"Version\": \n""#);
    let e = bad(apply_write(
        None,
        RoleInput {
            policy_document: Some("  ".into()),
            ..input(CRED_IAM_USER)
        },
    ));
    assert_eq!(e, r#"cannot parse policy document: "  ""#);
}

// ---- legacy parameters -----------------------------------------------------------------

#[test]
fn legacy_arn_role_becomes_assumed_role() {
    let (role, warnings) = apply_write(
        None,
        RoleInput {
            legacy_arn: Some(ROLE_ARN.into()),
            ..RoleInput::default()
        },
    )
    .expect("legacy role");
    assert_eq!(warnings, strings(&[LEGACY_WARNING]));
    assert_eq!(
        warnings[0],
        "Detected use of legacy role or policy parameter. Please upgrade to use the new parameters."
    );
    assert_eq!(
        role,
        RoleEntry {
            credential_types: strings(&[CRED_ASSUMED_ROLE]),
            role_arns: Some(strings(&[ROLE_ARN])),
            prohibit_flexible_cred_path: true,
            version: 1,
            ..RoleEntry::default()
        }
    );
}

#[test]
fn legacy_arn_policy_becomes_iam_user() {
    let (role, _) = apply_write(
        None,
        RoleInput {
            legacy_arn: Some(POLICY_ARN.into()),
            ..RoleInput::default()
        },
    )
    .expect("legacy policy arn");
    assert_eq!(
        role,
        RoleEntry {
            credential_types: strings(&[CRED_IAM_USER]),
            policy_arns: Some(strings(&[POLICY_ARN])),
            prohibit_flexible_cred_path: true,
            version: 1,
            ..RoleEntry::default()
        }
    );
}

#[test]
fn legacy_policy_json_allows_both_types() {
    let (role, warnings) = apply_write(
        None,
        RoleInput {
            legacy_policy: Some("{ \"Version\" : \"2012-10-17\" }".into()),
            ..RoleInput::default()
        },
    )
    .expect("legacy json");
    assert_eq!(warnings, strings(&[LEGACY_WARNING]));
    assert_eq!(
        role,
        RoleEntry {
            credential_types: strings(&[CRED_IAM_USER, CRED_FEDERATION_TOKEN]),
            policy_document: r#"{"Version":"2012-10-17"}"#.into(),
            prohibit_flexible_cred_path: true,
            version: 1,
            ..RoleEntry::default()
        }
    );
    assert_eq!(
        role.read_response()["credential_type"],
        json!("iam_user,federation_token")
    );
}

#[test]
fn legacy_garbage_is_400() {
    for raw in [
        "not json",
        "arn:gobbledygook",
        "arn:aws:iam::123456789012:user/bob",
    ] {
        let e = bad(apply_write(
            None,
            RoleInput {
                legacy_policy: Some(raw.into()),
                ..RoleInput::default()
            },
        ));
        assert_eq!(
            e,
            format!("unable to parse supplied data: {}", go_quote(raw))
        );
    }
    let e = bad(apply_write(
        None,
        RoleInput {
            legacy_arn: Some("not json".into()),
            ..RoleInput::default()
        },
    ));
    assert_eq!(e, r#"unable to parse supplied data: "not json""#);
}

#[test]
fn legacy_both_params_is_400() {
    let e = bad(apply_write(
        None,
        RoleInput {
            legacy_arn: Some(ROLE_ARN.into()),
            legacy_policy: Some("{}".into()),
            ..RoleInput::default()
        },
    ));
    assert_eq!(e, "only one of policy or arn should be provided");
    // Empty values count as absent.
    let (role, _) = apply_write(
        None,
        RoleInput {
            legacy_arn: Some(ROLE_ARN.into()),
            legacy_policy: Some(String::new()),
            ..RoleInput::default()
        },
    )
    .expect("policy empty ignored");
    assert_eq!(role.credential_types, strings(&[CRED_ASSUMED_ROLE]));
    let e = bad(apply_write(
        None,
        RoleInput {
            legacy_arn: Some(String::new()),
            legacy_policy: Some(String::new()),
            ..RoleInput::default()
        },
    ));
    assert_eq!(e, one_error("did not supply credential_type"));
}

#[test]
fn legacy_mixed_with_new_fields_is_400() {
    let legacy = || RoleInput {
        legacy_arn: Some(ROLE_ARN.into()),
        ..RoleInput::default()
    };
    let prefix = "cannot supply deprecated role or policy parameters with ";
    let cases: Vec<(RoleInput, &str)> = vec![
        (
            RoleInput {
                credential_type: Some(CRED_ASSUMED_ROLE.into()),
                ..legacy()
            },
            "an explicit credential_type",
        ),
        (
            RoleInput {
                role_arns: Some(vec![]),
                ..legacy()
            },
            "role_arns",
        ),
        (
            RoleInput {
                policy_arns: Some(vec![]),
                ..legacy()
            },
            "policy_arns",
        ),
        (
            RoleInput {
                policy_document: Some("not json".into()),
                ..legacy()
            },
            "policy_document",
        ),
        (
            RoleInput {
                default_sts_ttl: Some(0),
                ..legacy()
            },
            "default_sts_ttl",
        ),
        (
            RoleInput {
                max_sts_ttl: Some(0),
                ..legacy()
            },
            "max_sts_ttl",
        ),
        (
            RoleInput {
                user_path: Some("/".into()),
                ..legacy()
            },
            "user_path",
        ),
        (
            RoleInput {
                permissions_boundary_arn: Some(String::new()),
                ..legacy()
            },
            "permissions_boundary_arn",
        ),
    ];
    for (req, field) in cases {
        assert_eq!(bad(apply_write(None, req)), format!("{prefix}{field}"));
    }
    // The first refused field (Vault's order) wins.
    let e = bad(apply_write(
        None,
        RoleInput {
            credential_type: Some(CRED_IAM_USER.into()),
            max_sts_ttl: Some(1),
            legacy_policy: Some("{}".into()),
            ..RoleInput::default()
        },
    ));
    assert_eq!(
        e,
        "cannot supply deprecated role or policy parameters with an explicit credential_type"
    );
}

#[test]
fn legacy_with_unchecked_fields_replaces_them() {
    // Vault skips the mixing check for these and then drops them with the old role.
    let (role, warnings) = apply_write(
        Some(RoleEntry {
            iam_groups: Some(strings(&["old"])),
            ..entry(&[CRED_IAM_USER])
        }),
        RoleInput {
            iam_groups: Some(strings(&["g"])),
            iam_tags: Some(BTreeMap::from([("k".into(), "v".into())])),
            session_tags: Some(BTreeMap::from([("k".into(), "v".into())])),
            external_id: Some("x".into()),
            mfa_serial_number: Some("m".into()),
            legacy_arn: Some(ROLE_ARN.into()),
            ..RoleInput::default()
        },
    )
    .expect("legacy accepted");
    assert_eq!(warnings, strings(&[LEGACY_WARNING]));
    assert_eq!(role, migrate_legacy(ROLE_ARN));
}

#[test]
fn legacy_and_invalid_data_warnings_together() {
    let (_, warnings) = apply_write(
        Some(migrate_legacy("garbage")),
        RoleInput {
            legacy_policy: Some("{}".into()),
            ..RoleInput::default()
        },
    )
    .expect("accepted");
    assert_eq!(
        warnings,
        strings(&[
            r#"Invalid data of "garbage" cleared out of role"#,
            LEGACY_WARNING
        ])
    );
}

#[test]
fn only_one_of_policy_or_arn_comes_before_field_checks() {
    let e = bad(apply_write(
        None,
        RoleInput {
            credential_type: Some(CRED_IAM_USER.into()),
            legacy_arn: Some(ROLE_ARN.into()),
            legacy_policy: Some("{}".into()),
            ..RoleInput::default()
        },
    ));
    assert_eq!(e, "only one of policy or arn should be provided");
}

// ---- legacy storage migration ----------------------------------------------------------

#[test]
fn migrate_legacy_storage_values() {
    assert_eq!(
        migrate_legacy("arn:aws:iam::aws:policy/AWSManagedPolicy"),
        RoleEntry {
            credential_types: strings(&[CRED_IAM_USER]),
            policy_arns: Some(strings(&["arn:aws:iam::aws:policy/AWSManagedPolicy"])),
            prohibit_flexible_cred_path: true,
            version: 1,
            ..RoleEntry::default()
        }
    );
    // Resource type without a slash still counts.
    assert_eq!(
        migrate_legacy("arn:aws:iam::1:role").credential_types,
        strings(&[CRED_ASSUMED_ROLE])
    );
    let invalid = |raw: &str| RoleEntry {
        invalid_data: raw.to_string(),
        version: 1,
        ..RoleEntry::default()
    };
    for raw in ["arn:gobbledygook", "arn:aws:s3:::bucket/key", "{", "", "x"] {
        assert_eq!(migrate_legacy(raw), invalid(raw), "{raw:?}");
    }
    let stored = serde_json::to_string(&invalid("x")).expect("serialises");
    assert_eq!(
        stored,
        r#"{"credential_types":[],"policy_arns":null,"role_arns":null,"policy_document":"","iam_groups":null,"iam_tags":null,"session_tags":null,"external_id":"","invalid_data":"x","version":1,"default_sts_ttl":0,"max_sts_ttl":0,"user_path":"","permissions_boundary_arn":"","mfa_serial_number":""}"#
    );
    let read = invalid("x").read_response();
    assert_eq!(read["invalid_data"], json!("x"));
    assert_eq!(read["credential_type"], json!(""));
}

// ---- storage shape and read response ---------------------------------------------------

#[test]
fn go_shaped_json_round_trip() {
    // Written by the OpenBao plugin: ns durations, no Vault-only keys, null lists.
    let go = r#"{"credential_types":["assumed_role"],"policy_arns":null,"role_arns":["arn:aws:iam::123456789012:role/path/RoleName"],"policy_document":"{\"Version\":\"2012-10-17\"}","iam_groups":null,"iam_tags":{"team":"x"},"version":0,"default_sts_ttl":3600000000000,"max_sts_ttl":7200500000000,"user_path":"","permissions_boundary_arn":""}"#;
    let role: RoleEntry = serde_json::from_str(go).expect("go json");
    assert_eq!(role.default_sts_ttl, 3_600_000_000_000);
    assert_eq!(role.external_id, "");
    assert_eq!(role.session_tags, None);
    let data = Value::Object(role.read_response());
    assert_eq!(
        data,
        json!({
            "credential_type": "assumed_role",
            "policy_arns": null,
            "role_arns": [ROLE_ARN],
            "policy_document": "{\"Version\":\"2012-10-17\"}",
            "iam_groups": null,
            "iam_tags": {"team": "x"},
            "session_tags": null,
            "external_id": "",
            "default_sts_ttl": 3600,
            "max_sts_ttl": 7200,
            "user_path": "",
            "permissions_boundary_arn": "",
            "mfa_serial_number": "",
            "role_session_name": "",
            "source_identity": "",
            "source_role_arn": "",
            "source_external_id": "",
            "no_lease": false,
            "default_ttl": 0,
            "max_ttl": 0,
            "max_active_credentials": 0,
            "key_ready_timeout": 0
        })
    );

    // Written by Vault: every key, legacy flag, null credential types from an invalid entry.
    let vault = r#"{"credential_types":null,"policy_arns":null,"role_arns":null,"policy_document":"","iam_groups":null,"iam_tags":null,"session_tags":null,"external_id":"","invalid_data":"arn:bad","version":1,"default_sts_ttl":0,"max_sts_ttl":0,"user_path":"","permissions_boundary_arn":"","mfa_serial_number":"","unknown_future_key":true}"#;
    let role: RoleEntry = serde_json::from_str(vault).expect("vault json");
    assert_eq!(role, migrate_legacy("arn:bad"));

    // What we write reads back identically and has Vault's key set.
    let (ours, _) = apply_write(
        None,
        RoleInput {
            role_arns: Some(strings(&[ROLE_ARN])),
            default_sts_ttl: Some(900),
            session_tags: Some(BTreeMap::from([("a".into(), "b".into())])),
            ..input(CRED_ASSUMED_ROLE)
        },
    )
    .expect("created");
    let text = serde_json::to_string(&ours).expect("serialises");
    assert_eq!(
        text,
        r#"{"credential_types":["assumed_role"],"policy_arns":null,"role_arns":["arn:aws:iam::123456789012:role/path/RoleName"],"policy_document":"","iam_groups":null,"iam_tags":null,"session_tags":{"a":"b"},"external_id":"","version":0,"default_sts_ttl":900000000000,"max_sts_ttl":0,"user_path":"","permissions_boundary_arn":"","mfa_serial_number":""}"#
    );
    let back: RoleEntry = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back, ours);

    // Migrated entries carry the flag; Go omits it when false.
    let text = serde_json::to_string(&migrate_legacy(ROLE_ARN)).expect("serialises");
    assert!(text.contains(r#""prohibit_flexible_cred_path":true,"version":1"#));
    // Null scalars are zero values, as in Go.
    let role: RoleEntry = serde_json::from_str(
        r#"{"user_path":null,"version":null,"prohibit_flexible_cred_path":null}"#,
    )
    .expect("nulls");
    assert_eq!(role, RoleEntry::default());
}

#[test]
fn read_response_truncates_sub_second_durations() {
    let role = RoleEntry {
        default_sts_ttl: 1_999_999_999,
        max_sts_ttl: -1_500_000_000,
        ..entry(&[CRED_ASSUMED_ROLE])
    };
    let data = role.read_response();
    assert_eq!(data["default_sts_ttl"], json!(1));
    assert_eq!(data["max_sts_ttl"], json!(-1));
    assert!(!data.contains_key("invalid_data"));
    assert_eq!(data.len(), 22);
}

// ---- credential type selection ---------------------------------------------------------

#[test]
fn select_single_type_on_both_paths() {
    for t in [
        CRED_IAM_USER,
        CRED_ASSUMED_ROLE,
        CRED_FEDERATION_TOKEN,
        CRED_SESSION_TOKEN,
    ] {
        let role = entry(&[t]);
        assert_eq!(role.select_credential_type(false), Ok(t));
        assert_eq!(role.select_credential_type(true), Ok(t));
    }
    assert_eq!(entry(&[]).select_credential_type(false), Ok(""));
}

#[test]
fn select_two_types_by_path() {
    let role = RoleEntry {
        prohibit_flexible_cred_path: false,
        ..entry(&[CRED_IAM_USER, CRED_FEDERATION_TOKEN])
    };
    assert_eq!(role.select_credential_type(false), Ok(CRED_IAM_USER));
    assert_eq!(role.select_credential_type(true), Ok(CRED_FEDERATION_TOKEN));

    // The migrated shape passes the legacy guard on its natural paths.
    let legacy = migrate_legacy("{}");
    assert_eq!(legacy.select_credential_type(false), Ok(CRED_IAM_USER));
    assert_eq!(
        legacy.select_credential_type(true),
        Ok(CRED_FEDERATION_TOKEN)
    );

    let odd = entry(&[CRED_ASSUMED_ROLE, CRED_SESSION_TOKEN]);
    assert_eq!(
        odd.select_credential_type(false),
        Err(r#"requested credential type "iam_user" not in allowed credential types []string{"assumed_role", "session_token"}"#.to_string())
    );
    let odd = entry(&[CRED_IAM_USER, CRED_ASSUMED_ROLE]);
    assert_eq!(
        odd.select_credential_type(true),
        Err(r#"requested credential type "federation_token" not in allowed credential types []string{"iam_user", "assumed_role"}"#.to_string())
    );
}

#[test]
fn select_legacy_guard() {
    let iam = migrate_legacy(POLICY_ARN);
    assert_eq!(iam.select_credential_type(false), Ok(CRED_IAM_USER));
    assert_eq!(
        iam.select_credential_type(true),
        Err("attempted to retrieve iam_user credentials through the sts path; this is not allowed for legacy roles".to_string())
    );
    let assumed = migrate_legacy(ROLE_ARN);
    assert_eq!(assumed.select_credential_type(true), Ok(CRED_ASSUMED_ROLE));
    assert_eq!(
        assumed.select_credential_type(false),
        Err("attempted to retrieve assumed_role credentials through the creds path; this is not allowed for legacy roles".to_string())
    );
    // Without the flag both paths serve any type.
    let (upgraded, _) = apply_write(Some(assumed), RoleInput::default()).expect("upgraded");
    assert_eq!(
        upgraded.select_credential_type(false),
        Ok(CRED_ASSUMED_ROLE)
    );
    let plain = entry(&[CRED_IAM_USER]);
    assert_eq!(plain.select_credential_type(true), Ok(CRED_IAM_USER));
}

#[test]
fn role_error_displays_its_text() {
    assert_eq!(RoleError::BadRequest("x".into()).to_string(), "x");
    assert_eq!(RoleError::Internal("y".into()).to_string(), "y");
}
