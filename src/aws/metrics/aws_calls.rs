//! Every AWS call's outcome, latency, retries and throttles, recorded by an SDK interceptor on
//! the engine's IAM and STS clients.
//!
//! The outcome is what the engine makes of the answer, so that `outcome="error"` is something
//! an operator should look at: `NoSuchEntity` to a delete means the thing is already gone (every
//! revoke gets it from `DeleteLoginProfile`, since the engine's users have no console password),
//! and a best-effort call that fails is skipped by the teardown, whose `DeleteUser` still
//! refuses while anything is left (then that call is the error).

use std::sync::Arc;
use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use crate::aws::aws_error::{error_code, says_slow_down, NO_SUCH_ENTITY};

use super::catalog::{CallOutcome, API_CALLS, API_RETRIES, API_SECONDS, API_THROTTLES};
use super::Metrics;

/// Prefixes of the calls whose `NoSuchEntity` means "already gone": the teardown counts it as
/// done (Vault's revoke does the same since hashicorp/vault#5190).
const REMOVAL_PREFIXES: [&str; 4] = ["Delete", "Remove", "Detach", "Deactivate"];

/// The lists a teardown reads about a user: `NoSuchEntity` says the user is gone.
const USER_LISTS: [&str; 8] = [
    "ListAccessKeys",
    "ListMFADevices",
    "ListSSHPublicKeys",
    "ListSigningCertificates",
    "ListServiceSpecificCredentials",
    "ListAttachedUserPolicies",
    "ListUserPolicies",
    "ListGroupsForUser",
];

#[derive(Debug, Clone, Copy)]
struct CallState {
    started: Instant,
    attempts: u32,
    /// Why the latest attempt failed, when it did: the class a retry is counted under.
    last_failure: Option<&'static str>,
}

impl Storable for CallState {
    type Storer = StoreReplace<Self>;
}

/// Set on a call by [`BestEffortCall`].
#[derive(Debug, Clone, Copy)]
struct BestEffortMark;

impl Storable for BestEffortMark {
    type Storer = StoreReplace<Self>;
}

/// Marks one call as best effort (add it with `.customize().config_override(...)`): its failure
/// is counted as `outcome="skipped"`, because the caller goes on without it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BestEffortCall;

impl Intercept for BestEffortCall {
    fn name(&self) -> &'static str {
        "BestEffortCall"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(BestEffortMark);
        Ok(())
    }
}

/// `(service, operation)` of the call the SDK is making.
fn call_names(cfg: &ConfigBag) -> (String, String) {
    cfg.load::<Metadata>()
        .map(|m| (m.service().to_string(), m.name().to_string()))
        .unwrap_or_default()
}

/// Whether an answer says "slow down": HTTP 429, or a throttling code in an error answer.
fn answer_says_slow_down(r: &HttpResponse) -> bool {
    r.status().as_u16() == 429
        || (r.status().as_u16() >= 400 && r.body().bytes().is_some_and(says_slow_down))
}

/// The class of a failed attempt (`None` when it succeeded), for the retry counter.
fn failure_class(ctx: &FinalizerInterceptorContextRef<'_>) -> Option<&'static str> {
    match ctx.output_or_error() {
        None | Some(Ok(_)) => None,
        Some(Err(e)) => Some(match ctx.response() {
            Some(r) if answer_says_slow_down(r) => "throttling",
            Some(r) if r.status().is_server_error() => "server_error",
            _ if e.is_timeout_error() || e.as_connector_error().is_some_and(|c| c.is_timeout()) => {
                "timeout"
            }
            None => "transport",
            Some(_) => "other",
        }),
    }
}

/// What the engine makes of a finished call; see the module doc.
fn call_outcome(operation: &str, ok: bool, code: Option<&str>, best_effort: bool) -> CallOutcome {
    let removes = REMOVAL_PREFIXES.iter().any(|p| operation.starts_with(p));
    if ok {
        CallOutcome::Success
    } else if code == Some(NO_SUCH_ENTITY) && (removes || USER_LISTS.contains(&operation)) {
        CallOutcome::Absent
    } else if best_effort {
        CallOutcome::Skipped
    } else {
        CallOutcome::Error
    }
}

/// Counts an extra attempt the engine itself made (outside the SDK retryer).
pub(crate) fn count_own_retry(m: &Metrics, operation: &str, class: &'static str) {
    m.add(
        API_RETRIES,
        vec![
            ("service", "IAM".to_string()),
            ("operation", operation.to_string()),
            ("class", class.to_string()),
        ],
        1,
    );
}

/// SDK interceptor recording every AWS call's latency, retries and outcome.
#[derive(Clone)]
pub(crate) struct AwsCallMetrics(pub(crate) Arc<Metrics>);

impl std::fmt::Debug for AwsCallMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AwsCallMetrics")
    }
}

impl Intercept for AwsCallMetrics {
    fn name(&self) -> &'static str {
        "AwsCallMetrics"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(CallState {
            started: Instant::now(),
            attempts: 0,
            last_failure: None,
        });
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(mut s) = cfg.load::<CallState>().copied() {
            let (service, operation) = call_names(cfg);
            if s.attempts == 0 {
                // A call the catalog does not list gets its counters at 0 before its first
                // outcome. Not in `read_before_execution`: a client interceptor runs that before
                // the operation's configuration, which holds the call's names, is applied.
                self.0.ensure_call(&service, &operation);
            } else {
                self.0.add(
                    API_RETRIES,
                    vec![
                        ("service", service),
                        ("operation", operation),
                        ("class", s.last_failure.unwrap_or("other").to_string()),
                    ],
                    1,
                );
            }
            s.attempts += 1;
            cfg.interceptor_state().store_put(s);
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(mut s) = cfg.load::<CallState>().copied() {
            s.last_failure = failure_class(ctx);
            cfg.interceptor_state().store_put(s);
        }
        Ok(())
    }

    /// Per attempt: an answer that says "slow down" (HTTP 429, or AWS's throttling codes).
    fn read_after_deserialization(
        &self,
        ctx: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if answer_says_slow_down(ctx.response()) {
            let (service, operation) = call_names(cfg);
            self.0.add(
                API_THROTTLES,
                vec![("service", service), ("operation", operation)],
                1,
            );
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = call_names(cfg);
        let Some(state) = cfg.load::<CallState>().copied() else {
            return Ok(());
        };
        let ok = matches!(ctx.output_or_error(), Some(Ok(_)));
        let code = ctx
            .response()
            .and_then(|r| r.body().bytes())
            .and_then(error_code);
        let best_effort = cfg.load::<BestEffortMark>().is_some();
        let outcome = call_outcome(&operation, ok, code, best_effort);
        let labels = vec![
            ("service", service),
            ("operation", operation),
            ("outcome", outcome.as_str().to_string()),
        ];
        self.0
            .observe(API_SECONDS, labels.clone(), state.started.elapsed());
        self.0.add(API_CALLS, labels, 1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_code_reads_the_aws_xml_answer() {
        let body = br#"<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchEntity</Code>
            <Message>Login profile for u1 not found</Message></Error></ErrorResponse>"#;
        assert_eq!(error_code(body), Some("NoSuchEntity"));
        assert_eq!(error_code(b"<html>500 Internal Server Error</html>"), None);
        assert_eq!(error_code(b"\xff\xfe"), None);
        assert_eq!(error_code(b"<Code>unterminated"), None);
    }

    #[test]
    fn already_gone_is_absent_not_error() {
        use CallOutcome::*;
        let gone = Some(NO_SUCH_ENTITY);
        // Every revoke of a user the engine created: it has no login profile.
        assert_eq!(
            call_outcome("DeleteLoginProfile", false, gone, true),
            Absent
        );
        for op in [
            "DeleteUser",
            "RemoveUserFromGroup",
            "DetachUserPolicy",
            "DeactivateMFADevice",
        ] {
            assert_eq!(call_outcome(op, false, gone, false), Absent, "{op}");
        }
        // A teardown's existence check on a user that is already gone.
        assert_eq!(call_outcome("ListAccessKeys", false, gone, false), Absent);
        // A missing policy or group on issue is a real failure.
        assert_eq!(call_outcome("AttachUserPolicy", false, gone, false), Error);
        assert_eq!(call_outcome("ListGroupPolicies", false, gone, false), Error);
        assert_eq!(
            call_outcome("DeleteUser", false, Some("DeleteConflict"), false),
            Error
        );
    }

    #[test]
    fn failed_best_effort_call_is_skipped() {
        use CallOutcome::*;
        // moto answers ListServiceSpecificCredentials with an HTML 500 (not implemented).
        assert_eq!(
            call_outcome("ListServiceSpecificCredentials", false, None, true),
            Skipped
        );
        assert_eq!(
            call_outcome("DeleteLoginProfile", false, Some("AccessDenied"), true),
            Skipped
        );
        assert_eq!(
            call_outcome("ListServiceSpecificCredentials", false, None, false),
            Error
        );
        assert_eq!(call_outcome("CreateUser", true, None, false), Success);
        assert_eq!(call_outcome("ListMFADevices", true, None, true), Success);
    }
}
