//! What an AWS failure means to the engine: the text people see, the AWS error code, whether
//! AWS asked us to slow down, and whether the call certainly did not take effect.
//!
//! Every AWS call of the engine (IAM and STS, issue, teardown, rotation) is classified here and
//! nowhere else, so "throttled", "already gone" and "may have happened" mean the same thing on
//! every path.

use std::fmt;

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};

/// AWS error codes that mean "slow down". They make an issue error a 502 (the SDK framework's
/// "upstream rate limited"), as in Vault. The list is aws-sdk-go v1's throttle codes (what Vault
/// checks) plus the newer SDKs' additions. IAM's `LimitExceeded` is a quota (e.g. two access
/// keys per user), not throttling, and is deliberately absent.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "SlowDown",
    "BandwidthLimitExceeded",
];

/// IAM's "that user (or the thing named) does not exist".
pub(crate) const NO_SUCH_ENTITY: &str = "NoSuchEntity";
/// IAM's "a user with that name already exists".
pub(crate) const ENTITY_ALREADY_EXISTS: &str = "EntityAlreadyExists";
/// IAM's quota error, e.g. a third access key on one user.
pub(crate) const LIMIT_EXCEEDED: &str = "LimitExceeded";

/// One AWS failure reduced to what the engine needs: the text shown to people, the AWS error
/// code (to recognise `NoSuchEntity`) and whether AWS asked us to slow down (502).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AwsFailure {
    /// `<Code>: <message>`, or a transport description; see [`aws_error_text`].
    pub(crate) text: String,
    /// The AWS error code when AWS answered with one.
    pub(crate) code: Option<String>,
    /// AWS throttled the request (see [`is_throttling`]).
    pub(crate) throttled: bool,
    /// The call certainly did not take effect: AWS refused it with a 4xx, or it was never
    /// sent. False for timeouts, transport failures and 5xx answers, where AWS may have applied
    /// the request even though we saw an error.
    pub(crate) definitive: bool,
}

impl AwsFailure {
    /// Classifies an SDK error of any AWS client (IAM, STS, ...).
    pub(crate) fn from_sdk<E>(e: &SdkError<E>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let code = e
            .as_service_error()
            .and_then(|s| s.code())
            .map(str::to_owned);
        let mut text = aws_error_text(e);
        // Without an AWS code the HTTP status is the only hint (a proxy's 403, an emulator's 500).
        if code.is_none() {
            if let Some(raw) = e.raw_response() {
                text = format!("{text} (HTTP {})", raw.status().as_u16());
            }
        }
        let definitive = match e {
            SdkError::ConstructionFailure(_) => true,
            SdkError::ServiceError(se) => se.raw().status().is_client_error(),
            _ => false,
        };
        Self {
            text,
            code,
            throttled: is_throttling(e),
            definitive,
        }
    }

    /// A failure that did not come from AWS (e.g. a request we could not build).
    pub(crate) fn local(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            code: None,
            throttled: false,
            definitive: true,
        }
    }

    /// AWS said the thing named does not exist.
    pub(crate) fn is_no_such_entity(&self) -> bool {
        self.code.as_deref() == Some(NO_SUCH_ENTITY)
    }

    /// `NoSuchEntity` about the user `username` (not about a policy or group it names), which
    /// right after `CreateUser` means "not visible yet". AWS says "The user with name X cannot
    /// be found."; the name check keeps a missing group or policy a fast, permanent error.
    pub(crate) fn is_missing_user(&self, username: &str) -> bool {
        self.is_no_such_entity()
            && self.text.to_ascii_lowercase().contains("user")
            && self.text.contains(username)
    }
}

/// Formats an SDK error of any AWS client as `<Code>: <message>` when AWS answered, or as a
/// transport description otherwise. Used in user-facing errors, so it must say what happened
/// without the SDK's noise (request ids, raw responses) and never carries credentials: only the
/// `Display` texts of the error chain are printed, never a request or a `Debug` dump.
pub(crate) fn aws_error_text<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    let chain = error_chain(e);
    match e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            match (err.code(), err.message().filter(|m| !m.is_empty())) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                // Not an AWS error document (a proxy's or an emulator's error page).
                (None, _) => format!("unrecognised error response from AWS: {chain}"),
            }
        }
        SdkError::TimeoutError(_) => format!("request to AWS timed out: {chain}"),
        SdkError::DispatchFailure(d) => {
            let what = if d.is_timeout() {
                "request to AWS timed out"
            } else if d.is_io() {
                "could not connect to AWS"
            } else if d.is_user() {
                "request to AWS was refused by the client"
            } else {
                "request to AWS failed"
            };
            format!("{what}: {chain}")
        }
        SdkError::ResponseError(_) => format!("invalid response from AWS: {chain}"),
        SdkError::ConstructionFailure(_) => {
            format!("could not build the request to AWS: {chain}")
        }
        _ => chain.to_string(),
    }
}

/// `outer: inner: innermost`, from each error's `Display`. Unlike the SDK's
/// `DisplayErrorContext` it leaves out the trailing `Debug` dump of the whole error, which
/// repeats the chain as Rust structures and is no help to the person reading a Vault reply.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut next = e.source();
    while let Some(err) = next {
        let text = err.to_string();
        // Some wrappers repeat their source's text; say it once.
        if !text.is_empty() && parts.last() != Some(&text) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// Whether AWS throttled the request: a throttling error code or HTTP 429. Works for every AWS
/// client's errors (IAM, STS, ...) because they share one `SdkError` type.
pub(crate) fn is_throttling<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    let code_says = e
        .as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| THROTTLING_CODES.contains(&c));
    let status_says = e.raw_response().is_some_and(|r| r.status().as_u16() == 429);
    code_says || status_says
}

/// Whether an AWS error answer's body asks us to slow down: its `<Code>` (IAM and STS answer
/// in XML) is one of the throttling codes. Read where no SDK error exists yet (the HTTP layer,
/// the metrics interceptor).
pub(crate) fn says_slow_down(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    text.split("<Code>")
        .skip(1)
        .filter_map(|rest| rest.split("</Code>").next())
        .any(|code| THROTTLING_CODES.contains(&code.trim()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_sdk_iam::config::http::HttpResponse;
    use aws_sdk_iam::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_iam::operation::create_user::CreateUserError;
    use aws_smithy_types::body::SdkBody;

    /// An IAM service error with `code`, `message` and HTTP `status`, for tests of every module
    /// that classifies AWS answers.
    pub(crate) fn service_error(
        code: Option<&str>,
        message: &str,
        status: u16,
    ) -> SdkError<CreateUserError> {
        let mut meta = ErrorMetadata::builder().message(message);
        if let Some(code) = code {
            meta = meta.code(code);
        }
        let raw = HttpResponse::new(status.try_into().expect("status"), SdkBody::empty());
        SdkError::service_error(CreateUserError::generic(meta.build()), raw)
    }

    #[test]
    fn only_a_missing_new_user_counts_as_not_yet_visible() {
        let user = "vault-token-dev-1700000000-abcd";
        let missing_user = AwsFailure::from_sdk(&service_error(
            Some("NoSuchEntity"),
            &format!("The user with name {user} cannot be found."),
            404,
        ));
        assert!(missing_user.is_missing_user(user));
        let missing_policy = AwsFailure::from_sdk(&service_error(
            Some("NoSuchEntity"),
            "Policy arn:aws:iam::aws:policy/Nope does not exist or is not attachable.",
            404,
        ));
        assert!(!missing_policy.is_missing_user(user));
        let missing_group = AwsFailure::from_sdk(&service_error(
            Some("NoSuchEntity"),
            "The group with name ops cannot be found.",
            404,
        ));
        assert!(!missing_group.is_missing_user(user));
        let other = AwsFailure::from_sdk(&service_error(
            Some("AccessDenied"),
            &format!("User {user} is not authorized"),
            403,
        ));
        assert!(!other.is_missing_user(user));
    }

    #[test]
    fn service_error_text_is_code_and_message() {
        let e = service_error(
            Some("EntityAlreadyExists"),
            "User with name x already exists.",
            409,
        );
        assert_eq!(
            aws_error_text(&e),
            "EntityAlreadyExists: User with name x already exists."
        );
        let e = service_error(Some("ServiceFailure"), "", 500);
        assert_eq!(aws_error_text(&e), "ServiceFailure");
    }

    #[test]
    fn codeless_service_error_says_so() {
        let e = service_error(None, "", 500);
        assert!(aws_error_text(&e).starts_with("unrecognised error response from AWS: "));
    }

    #[test]
    fn transport_errors_are_described() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let e: SdkError<CreateUserError> =
            SdkError::dispatch_failure(ConnectorError::io(io.into()));
        let text = aws_error_text(&e);
        assert!(text.starts_with("could not connect to AWS: "), "{text}");
        assert!(text.contains("connection refused"), "{text}");

        let e: SdkError<CreateUserError> = SdkError::timeout_error("too slow");
        assert!(aws_error_text(&e).starts_with("request to AWS timed out: "));
    }

    #[test]
    fn error_bodies_that_ask_to_slow_down() {
        let iam = br#"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>"#;
        assert!(says_slow_down(iam));
        let other = br#"<ErrorResponse><Error><Code>NoSuchEntity</Code><Message>Throttling is not this</Message></Error></ErrorResponse>"#;
        assert!(!says_slow_down(other));
        assert!(!says_slow_down(b"not xml"));
    }

    #[test]
    fn throttling_by_code_or_429() {
        for code in [
            "Throttling",
            "ThrottlingException",
            "RequestLimitExceeded",
            "TooManyRequestsException",
        ] {
            assert!(
                is_throttling(&service_error(Some(code), "slow down", 400)),
                "{code}"
            );
        }
        assert!(is_throttling(&service_error(Some("Whatever"), "x", 429)));
        assert!(!is_throttling(&service_error(
            Some("LimitExceeded"),
            "quota",
            409
        )));
        assert!(!is_throttling(&service_error(
            Some("NoSuchEntity"),
            "x",
            404
        )));
    }
}
