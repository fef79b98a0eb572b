use super::*;
use crate::aws::credential::CredentialType;

fn line_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn renders_prometheus_text() {
    let m = Metrics::default();
    m.record(
        ISSUED,
        ISSUE_SECONDS,
        "iam_user",
        RequestOutcome::Success,
        Instant::now(),
    );
    m.add(STATIC_ROTATIONS, vec![("outcome", "error".into())], 2);
    let text = m.render(&[(WAL_ENTRIES, 3.0)]);
    let has = |s: &str, v: f64| assert_eq!(line_value(&text, s), Some(v), "{s}\n{text}");
    has(
        "vault_aws_credentials_issued_total{type=\"iam_user\",outcome=\"success\"}",
        1.0,
    );
    has(
        "vault_aws_credential_issue_seconds_count{type=\"iam_user\",outcome=\"success\"}",
        1.0,
    );
    has(
        "vault_aws_credential_issue_seconds_bucket{type=\"iam_user\",outcome=\"success\",le=\"+Inf\"}",
        1.0,
    );
    has("vault_aws_static_rotations_total{outcome=\"error\"}", 2.0);
    has("vault_aws_wal_entries", 3.0);
    assert!(text.contains("# TYPE vault_aws_api_seconds histogram"));
}

#[test]
fn alert_series_exist_from_the_start_at_zero() {
    let text = Metrics::default().render(&[]);
    for t in CredentialType::ALL {
        for o in ["success", "rejected", "error"] {
            let s = format!(
                "vault_aws_credentials_issued_total{{type=\"{}\",outcome=\"{o}\"}}",
                t.as_str()
            );
            assert_eq!(line_value(&text, &s), Some(0.0), "{s}");
        }
    }
    for s in [
        "vault_aws_revocations_total{type=\"iam_user\",outcome=\"error\"}",
        "vault_aws_revocations_total{type=\"sts\",outcome=\"success\"}",
        "vault_aws_static_rotations_total{outcome=\"error\"}",
        "vault_aws_root_rotations_total{outcome=\"error\"}",
        "vault_aws_root_rotations_total{outcome=\"success\"}",
        "vault_aws_key_ready_timeouts_total",
        "vault_aws_orphans_deleted_total",
        "vault_aws_orphan_delete_failures_total",
        "vault_aws_orphan_sweeps_total{outcome=\"error\"}",
        "vault_aws_key_ready_seconds_count",
        "vault_aws_pacer_wait_seconds_count{service=\"IAM\"}",
        "vault_aws_pacer_wait_seconds_count{service=\"STS\"}",
        "vault_aws_api_throttles_total{service=\"IAM\",operation=\"CreateUser\"}",
        "vault_aws_api_throttles_total{service=\"STS\",operation=\"AssumeRole\"}",
        "vault_aws_api_retries_total{service=\"IAM\",operation=\"CreateUser\",class=\"throttling\"}",
        "vault_aws_api_retries_total{service=\"IAM\",operation=\"AddUserToGroup\",class=\"not_yet_visible\"}",
        "vault_aws_api_calls_total{service=\"IAM\",operation=\"DeleteLoginProfile\",outcome=\"absent\"}",
        "vault_aws_api_calls_total{service=\"STS\",operation=\"GetSessionToken\",outcome=\"error\"}",
    ] {
        assert_eq!(line_value(&text, s), Some(0.0), "{s}");
    }
}

#[test]
fn label_order_does_not_split_a_series() {
    let m = Metrics::default();
    m.add(
        "vault_aws_api_throttles_total",
        vec![
            ("operation", "CreateUser".into()),
            ("service", "IAM".into()),
        ],
        2,
    );
    let text = m.render(&[]);
    let s = "vault_aws_api_throttles_total{service=\"IAM\",operation=\"CreateUser\"}";
    assert_eq!(line_value(&text, s), Some(2.0), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("vault_aws_api_throttles_total{") && l.contains("CreateUser"))
            .count(),
        1
    );
}

#[test]
fn a_rejected_issue_is_counted_but_not_timed() {
    let m = Metrics::default();
    m.record(
        ISSUED,
        ISSUE_SECONDS,
        "assumed_role",
        RequestOutcome::Rejected,
        Instant::now(),
    );
    m.record(
        ISSUED,
        ISSUE_SECONDS,
        "assumed_role",
        RequestOutcome::Error,
        Instant::now(),
    );
    let text = m.render(&[]);
    let get = |s: &str| line_value(&text, s);
    assert_eq!(
        get("vault_aws_credentials_issued_total{type=\"assumed_role\",outcome=\"rejected\"}"),
        Some(1.0)
    );
    assert_eq!(
        get("vault_aws_credential_issue_seconds_count{type=\"assumed_role\",outcome=\"error\"}"),
        Some(1.0)
    );
    assert_eq!(
        get("vault_aws_credential_issue_seconds_count{type=\"assumed_role\",outcome=\"success\"}"),
        Some(0.0)
    );
    assert!(!text.contains("issue_seconds_count{type=\"assumed_role\",outcome=\"rejected\"}"));
}

#[test]
fn each_metric_has_help_and_type_once() {
    let text = Metrics::default().render(&[]);
    for (name, kind, _) in catalog::METRICS {
        let ty = format!("# TYPE {name} {}", kind.as_str());
        assert_eq!(text.lines().filter(|l| *l == ty).count(), 1, "{ty}");
    }
}

#[test]
fn a_call_the_catalog_does_not_list_gets_its_counters_at_zero() {
    let m = Metrics::default();
    m.ensure_call("IAM", "ListUsers");
    m.ensure_call("IAM", "ListUsers");
    let text = m.render(&[]);
    for s in [
        "vault_aws_api_calls_total{service=\"IAM\",operation=\"ListUsers\",outcome=\"error\"}",
        "vault_aws_api_throttles_total{service=\"IAM\",operation=\"ListUsers\"}",
        "vault_aws_api_retries_total{service=\"IAM\",operation=\"ListUsers\",class=\"timeout\"}",
    ] {
        assert_eq!(line_value(&text, s), Some(0.0), "{s}");
    }
}
