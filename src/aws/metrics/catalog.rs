//! Every metric the engine exposes: name, type, help text, the outcomes each may carry, and the
//! series that exist from start-up at 0.
//!
//! Start-up zeros matter to an operator: Prometheus' `rate()` and `increase()` ignore the first
//! sample of a new series, so a counter that appears only with the first error loses that error,
//! and an alert on a series that does not exist yet cannot be written or tested ahead of trouble.
//! So every counter an alert reads is created here, for every label value the engine knows.

use crate::aws::credential::CredentialType;

/// `vault_aws_credentials_issued_total{type,outcome}`.
pub(crate) const ISSUED: &str = "vault_aws_credentials_issued_total";
/// `vault_aws_credential_issue_seconds{type,outcome}`.
pub(crate) const ISSUE_SECONDS: &str = "vault_aws_credential_issue_seconds";
/// `vault_aws_revocations_total{type,outcome}`.
pub(crate) const REVOKED: &str = "vault_aws_revocations_total";
/// `vault_aws_revoke_seconds{type,outcome}`.
pub(crate) const REVOKE_SECONDS: &str = "vault_aws_revoke_seconds";
/// `vault_aws_api_calls_total{service,operation,outcome}`.
pub(crate) const API_CALLS: &str = "vault_aws_api_calls_total";
/// `vault_aws_api_seconds{service,operation,outcome}`.
pub(crate) const API_SECONDS: &str = "vault_aws_api_seconds";
/// `vault_aws_api_retries_total{service,operation,class}`.
pub(crate) const API_RETRIES: &str = "vault_aws_api_retries_total";
/// `vault_aws_api_throttles_total{service,operation}`.
pub(crate) const API_THROTTLES: &str = "vault_aws_api_throttles_total";
/// `vault_aws_static_rotations_total{outcome}`.
pub(crate) const STATIC_ROTATIONS: &str = "vault_aws_static_rotations_total";
/// `vault_aws_wal_entries` (gauge, computed at scrape time).
pub(crate) const WAL_ENTRIES: &str = "vault_aws_wal_entries";
/// `vault_aws_wal_oldest_age_seconds` (gauge, computed at scrape time).
pub(crate) const WAL_OLDEST_AGE: &str = "vault_aws_wal_oldest_age_seconds";
/// `vault_aws_static_queue_depth` (gauge, computed at scrape time).
pub(crate) const STATIC_QUEUE_DEPTH: &str = "vault_aws_static_queue_depth";
/// `vault_aws_root_key_delete_pending` (gauge, computed at scrape time).
pub(crate) const ROOT_KEY_DELETE_PENDING: &str = "vault_aws_root_key_delete_pending";
/// `vault_aws_root_rotation_failing` (gauge, computed at scrape time).
pub(crate) const ROOT_ROTATION_FAILING: &str = "vault_aws_root_rotation_failing";
/// `vault_aws_root_rotations_total{outcome}`.
pub(crate) const ROOT_ROTATIONS: &str = "vault_aws_root_rotations_total";
/// `vault_aws_key_ready_seconds` (histogram).
pub(crate) const KEY_READY_SECONDS: &str = "vault_aws_key_ready_seconds";
/// `vault_aws_key_ready_timeouts_total`.
pub(crate) const KEY_READY_TIMEOUTS: &str = "vault_aws_key_ready_timeouts_total";
/// `vault_aws_orphans_deleted_total`.
pub(crate) const ORPHANS_DELETED: &str = "vault_aws_orphans_deleted_total";
/// `vault_aws_orphan_delete_failures_total`.
pub(crate) const ORPHAN_DELETE_FAILURES: &str = "vault_aws_orphan_delete_failures_total";
/// `vault_aws_orphan_sweeps_total{outcome}`.
pub(crate) const ORPHAN_SWEEPS: &str = "vault_aws_orphan_sweeps_total";
/// `vault_aws_issue_phase_seconds{type,phase}` (histogram).
pub(crate) const ISSUE_PHASE_SECONDS: &str = "vault_aws_issue_phase_seconds";
/// `vault_aws_pacer_wait_seconds{service}` (histogram).
const PACER_WAIT_SECONDS: &str = "vault_aws_pacer_wait_seconds";

/// What a metric is, in the exposition format's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Histogram,
    /// Computed at scrape time by the `metrics` path, never stored here.
    Gauge,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
            Kind::Gauge => "gauge",
        }
    }
}

/// Name, kind and help text of every metric, in exposition order.
pub(crate) const METRICS: &[(&str, Kind, &str)] = &[
    (
        ISSUED,
        Kind::Counter,
        "Credential issue requests by credential type and outcome: success; rejected (bad input \
         refused before any AWS call, e.g. a ttl or role_arn the role does not allow); error \
         (anything else: AWS, configuration, storage).",
    ),
    (
        ISSUE_SECONDS,
        Kind::Histogram,
        "Time to issue credentials, by credential type and outcome (success or error; rejected \
         requests are not timed).",
    ),
    (
        REVOKED,
        Kind::Counter,
        "Lease revocations by lease type (iam_user, or sts for the three STS types, whose leases \
         do not record which one) and outcome (success or error).",
    ),
    (
        REVOKE_SECONDS,
        Kind::Histogram,
        "Time to revoke a lease, by lease type and outcome.",
    ),
    (
        API_CALLS,
        Kind::Counter,
        "AWS API calls by service, operation and outcome: success; absent (AWS answered \
         NoSuchEntity to a call that deletes, removes, detaches, deactivates or lists what a user \
         holds: the thing is already gone, which the engine counts as done); skipped (a \
         best-effort call failed, e.g. an endpoint that does not implement it or a root policy \
         without that permission, and the engine went on without it); error (anything else).",
    ),
    (
        API_SECONDS,
        Kind::Histogram,
        "AWS API call latency including retries, by service, operation and outcome.",
    ),
    (
        API_RETRIES,
        Kind::Counter,
        "Extra attempts, by service, operation and the class of the failure that caused them \
         (throttling, server_error, timeout, transport, other from the SDK retryer; not_yet_visible \
         when IAM did not yet show a user created a moment before).",
    ),
    (
        API_THROTTLES,
        Kind::Counter,
        "AWS answers that said slow down (each attempt), by service and operation.",
    ),
    (
        STATIC_ROTATIONS,
        Kind::Counter,
        "Scheduled static role rotations by outcome (success or error; a failed one is retried \
         with backoff).",
    ),
    (
        ROOT_ROTATIONS,
        Kind::Counter,
        "config/rotate-root runs by outcome (success or error).",
    ),
    (
        ROOT_KEY_DELETE_PENDING,
        Kind::Gauge,
        "Old root access keys whose delete failed after a rotation and waits for a retry.",
    ),
    (
        ROOT_ROTATION_FAILING,
        Kind::Gauge,
        "1 while the last root key rotation (scheduled or config/rotate-root) failed and none \
         has succeeded since, else 0. A scheduled rotation that failed is retried within its \
         window.",
    ),
    (
        KEY_READY_SECONDS,
        Kind::Histogram,
        "Time until a new access key was accepted by AWS.",
    ),
    (
        KEY_READY_TIMEOUTS,
        Kind::Counter,
        "New access keys that AWS did not accept within the deadline.",
    ),
    (
        ORPHANS_DELETED,
        Kind::Counter,
        "Engine-made IAM users or keys found without an owner (lease or WAL entry) and deleted.",
    ),
    (
        ORPHAN_DELETE_FAILURES,
        Kind::Counter,
        "Orphaned IAM users a sweep could not delete (the next sweep tries again; the log names them).",
    ),
    (
        ORPHAN_SWEEPS,
        Kind::Counter,
        "Periodic orphan sweeps (config/tidy interval) by outcome.",
    ),
    (
        ISSUE_PHASE_SECONDS,
        Kind::Histogram,
        "Time each phase of a successful issue took (wal_put, aws, wal_delete), by credential \
         type: where an issue's time goes.",
    ),
    (
        PACER_WAIT_SECONDS,
        Kind::Histogram,
        "Time an AWS call waited for the engine's client-side rate limiter, by service.",
    ),
    (
        WAL_ENTRIES,
        Kind::Gauge,
        "WAL entries waiting (half-done work not yet owned by a lease).",
    ),
    (
        WAL_OLDEST_AGE,
        Kind::Gauge,
        "Age of the oldest WAL entry in seconds (0 when there is none). Rollback takes entries \
         older than 5 minutes on its next tick; one that stays older failed to roll back.",
    ),
    (
        STATIC_QUEUE_DEPTH,
        Kind::Gauge,
        "Static roles in the rotation schedule.",
    ),
];

/// The kind of metric `name`, if the engine has one by that name.
pub(crate) fn kind_of(name: &str) -> Option<Kind> {
    METRICS.iter().find(|(n, _, _)| *n == name).map(|m| m.1)
}

/// How an issue or revoke request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestOutcome {
    Success,
    /// Bad input refused before any AWS call (issue only).
    Rejected,
    Error,
}

impl RequestOutcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Rejected => "rejected",
            Self::Error => "error",
        }
    }
}

/// How one AWS call ended, as the engine treats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallOutcome {
    Success,
    /// `NoSuchEntity` where that means "already gone" (see [`API_CALLS`]'s help).
    Absent,
    /// A best-effort call failed and the engine went on without it.
    Skipped,
    Error,
}

impl CallOutcome {
    const ALL: [CallOutcome; 4] = [Self::Success, Self::Absent, Self::Skipped, Self::Error];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Absent => "absent",
            Self::Skipped => "skipped",
            Self::Error => "error",
        }
    }
}

/// Failure classes of the SDK retryer (`vault_aws_api_retries_total`'s `class`).
pub(crate) const SDK_RETRY_CLASSES: [&str; 5] = [
    "throttling",
    "server_error",
    "timeout",
    "transport",
    "other",
];
/// The engine's own retry class for a user IAM does not show yet (hashicorp/vault#5190).
pub(crate) const NOT_YET_VISIBLE: &str = "not_yet_visible";

/// Lease types a revoke can tell apart: STS leases do not record which STS type issued them
/// (the Go plugin's internal data), and their revoke is a no-op.
pub(crate) const REVOKE_TYPES: [&str; 2] = ["iam_user", "sts"];

/// Every AWS call the engine makes, by service, so their counters exist from start-up. A call
/// missing here still gets its series at its first use; the integration test checks that a full
/// issue-and-revoke cycle adds no series.
const AWS_CALLS: &[(&str, &[&str])] = &[
    (
        "IAM",
        &[
            // Issue and static/root rotation.
            "CreateUser",
            "AttachUserPolicy",
            "PutUserPolicy",
            "AddUserToGroup",
            "CreateAccessKey",
            "GetUser",
            "ListAccessKeys",
            "DeleteAccessKey",
            // Teardown.
            "DeleteLoginProfile",
            "ListMFADevices",
            "DeactivateMFADevice",
            "DeleteVirtualMFADevice",
            "ListSSHPublicKeys",
            "DeleteSSHPublicKey",
            "ListSigningCertificates",
            "DeleteSigningCertificate",
            "ListServiceSpecificCredentials",
            "DeleteServiceSpecificCredential",
            "ListAttachedUserPolicies",
            "DetachUserPolicy",
            "ListUserPolicies",
            "DeleteUserPolicy",
            "ListGroupsForUser",
            "RemoveUserFromGroup",
            "DeleteUser",
            // Group policies merged into STS requests.
            "ListAttachedGroupPolicies",
            "ListGroupPolicies",
            "GetGroupPolicy",
        ],
    ),
    (
        "STS",
        &["AssumeRole", "GetFederationToken", "GetSessionToken"],
    ),
];

/// The calls the engine itself repeats while a new user is not visible yet
/// (`iam_user/retry.rs`).
const OWN_RETRY_CALLS: &[&str] = &[
    "AttachUserPolicy",
    "PutUserPolicy",
    "AddUserToGroup",
    "CreateAccessKey",
];

/// Label set of one series.
pub(crate) type Labels = Vec<(&'static str, String)>;

fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// The phases an issue of type `t` is timed in (`vault_aws_issue_phase_seconds`).
fn issue_phases(t: CredentialType) -> &'static [&'static str] {
    match t {
        CredentialType::IamUser => &["wal_put", "aws", "wal_delete"],
        CredentialType::AssumedRole
        | CredentialType::FederationToken
        | CredentialType::SessionToken => &["aws"],
    }
}

/// The series that exist from start-up, as `(name, labels)`; histograms get empty buckets.
pub(crate) fn startup_series() -> Vec<(&'static str, Labels)> {
    let mut s: Vec<(&'static str, Labels)> = Vec::new();
    for t in CredentialType::ALL {
        for o in [
            RequestOutcome::Success,
            RequestOutcome::Rejected,
            RequestOutcome::Error,
        ] {
            s.push((
                ISSUED,
                labels([("type", t.as_str()), ("outcome", o.as_str())]),
            ));
        }
        for o in [RequestOutcome::Success, RequestOutcome::Error] {
            s.push((
                ISSUE_SECONDS,
                labels([("type", t.as_str()), ("outcome", o.as_str())]),
            ));
        }
        for phase in issue_phases(*t) {
            s.push((
                ISSUE_PHASE_SECONDS,
                labels([("type", t.as_str()), ("phase", phase)]),
            ));
        }
    }
    for t in REVOKE_TYPES {
        for o in [RequestOutcome::Success, RequestOutcome::Error] {
            let l = labels([("type", t), ("outcome", o.as_str())]);
            s.push((REVOKED, l.clone()));
            s.push((REVOKE_SECONDS, l));
        }
    }
    for (service, operation) in known_calls() {
        s.extend(call_series(service, operation));
    }
    for (service, _) in AWS_CALLS {
        s.push((PACER_WAIT_SECONDS, labels([("service", service)])));
    }
    for o in ["success", "error"] {
        s.push((STATIC_ROTATIONS, labels([("outcome", o)])));
        s.push((ROOT_ROTATIONS, labels([("outcome", o)])));
    }
    s.push((KEY_READY_SECONDS, Vec::new()));
    s.push((KEY_READY_TIMEOUTS, Vec::new()));
    s.push((ORPHANS_DELETED, Vec::new()));
    s.push((ORPHAN_DELETE_FAILURES, Vec::new()));
    for o in ["success", "error"] {
        s.push((ORPHAN_SWEEPS, labels([("outcome", o)])));
    }
    s
}

/// `(service, operation)` of every call in [`AWS_CALLS`].
pub(crate) fn known_calls() -> impl Iterator<Item = (&'static str, &'static str)> {
    AWS_CALLS
        .iter()
        .flat_map(|(s, ops)| ops.iter().map(move |o| (*s, *o)))
}

/// The counters of one AWS call: calls by outcome, throttles, retries by class.
pub(crate) fn call_series(service: &str, operation: &str) -> Vec<(&'static str, Labels)> {
    let base = labels([("service", service), ("operation", operation)]);
    let with = |k: &'static str, v: &str| {
        let mut l = base.clone();
        l.push((k, v.to_string()));
        l
    };
    let mut s: Vec<(&'static str, Labels)> = CallOutcome::ALL
        .iter()
        .map(|o| (API_CALLS, with("outcome", o.as_str())))
        .collect();
    s.push((API_THROTTLES, base.clone()));
    s.extend(
        SDK_RETRY_CLASSES
            .iter()
            .map(|c| (API_RETRIES, with("class", c))),
    );
    if service == "IAM" && OWN_RETRY_CALLS.contains(&operation) {
        s.push((API_RETRIES, with("class", NOT_YET_VISIBLE)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_startup_series_names_a_known_counter_or_histogram() {
        for (name, _) in startup_series() {
            assert!(
                matches!(kind_of(name), Some(Kind::Counter | Kind::Histogram)),
                "{name}"
            );
        }
    }

    #[test]
    fn metric_names_are_unique() {
        for (i, (n, _, _)) in METRICS.iter().enumerate() {
            assert!(!METRICS[i + 1..].iter().any(|(m, _, _)| m == n), "{n}");
        }
    }
}
