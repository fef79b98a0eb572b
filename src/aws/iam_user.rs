//! IAM calls behind the `iam_user` credential type: creating one lease's user with its
//! access key, and tearing a user down completely on revoke or WAL rollback.
//!
//! Issue makes Vault's calls and reports Vault's error texts exactly (spec §2.1 steps 3-8)
//! because clients match on them; only the setup calls between `CreateUser` and
//! `CreateAccessKey` run side by side, with the first failure in Vault's order reported. Teardown deliberately goes further than Vault (spec §11, hashicorp/vault#16685):
//! Vault lists only the first 1000 items of four kinds and so cannot delete a user that someone
//! gave a console password, MFA device, SSH key, signing certificate or service-specific
//! credential; AWS then refuses `DeleteUser` and the user outlives its lease. Here every list is
//! read to its last page and every kind of attachment that blocks `DeleteUser` is removed.
//!
//! Retries: the SDK client's retryer handles throttling, 5xx and transport failures (backoff
//! with full jitter, bounded by attempts and the operation deadline). This file adds two things
//! the SDK cannot know: a call right after `CreateUser` that says the new user does not exist is
//! retried briefly (IAM is eventually consistent), and an access key created by an attempt whose
//! answer was lost is found and deleted. A failed revoke is retried by the server, which re-runs
//! the whole teardown (it is idempotent because `NoSuchEntity` always counts as done).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_iam::config::retry::RetryConfig;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::Tag;
use aws_sdk_iam::Client;
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use futures::FutureExt;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::metrics::{count_own_retry, Metrics};

/// Page size for every IAM list call. 1000 is IAM's maximum, so a dynamic user (a handful of
/// policies and groups) is read in one round trip per list, like Vault; pagination only matters
/// for users that were changed by hand.
pub const DEFAULT_PAGE_SIZE: i32 = 1000;

/// How many IAM calls one teardown keeps in flight. Small on purpose: it makes revoke of a user
/// with a few attachments take a couple of round trips instead of a dozen, while staying far
/// below IAM's per-account request rate so that mass revocations do not trigger throttling.
pub const TEARDOWN_CONCURRENCY: usize = 4;

/// How many of one new user's setup calls (policies, inline policy, groups, tags) are in flight
/// at once. They are independent once the user exists; running them side by side takes a role
/// with a few attachments from one round trip per attachment to about one in all, and the bound
/// keeps a role with many attachments from bursting into IAM's request rate.
pub const ISSUE_CONCURRENCY: usize = 4;

/// Upper bound on pages per list. A correct server never gets near it; it stops a server that
/// keeps answering "truncated" from looping a revoke forever.
const MAX_PAGES: usize = 10_000;

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

/// The IAM error code for "that user (or the thing named) does not exist".
const NO_SUCH_ENTITY: &str = "NoSuchEntity";

/// IAM's "a user with that name already exists".
const ENTITY_ALREADY_EXISTS: &str = "EntityAlreadyExists";

/// How far IAM's clock may be behind ours when telling whether a user was created during this
/// request.
const CLOCK_SKEW: Duration = Duration::from_secs(120);

/// Whether `username` was created at or after `since` (less [`CLOCK_SKEW`]); `None` when that
/// cannot be read.
async fn created_since(iam: &Client, username: &str, since: SystemTime) -> Option<bool> {
    let out = iam.get_user().user_name(username).send().await.ok()?;
    let created = out.user()?.create_date().secs();
    let since = since
        .checked_sub(CLOCK_SKEW)?
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(created >= i64::try_from(since).ok()?)
}

/// IAM's quota error, e.g. a third access key on one user.
const LIMIT_EXCEEDED: &str = "LimitExceeded";

/// Waits before repeating a call that found the user created a moment ago missing (IAM is
/// eventually consistent: hashicorp/vault#5190). About three seconds in all, so a permanent
/// `NoSuchEntity` (a policy or group that does not exist) still fails at once, because only
/// errors naming the new user are retried.
const NEW_USER_VISIBILITY_WAITS: [Duration; 5] = [
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_millis(1600),
];

/// What to create for one lease.
pub struct NewUser<'a> {
    /// The generated user name (spec §2.0).
    pub username: &'a str,
    /// The role's `user_path`; `""` means `/`.
    pub path: &'a str,
    /// The role's `permissions_boundary_arn`; `""` means none.
    pub permissions_boundary_arn: &'a str,
    /// Managed policies to attach, in order.
    pub policy_arns: &'a [String],
    /// `(policy name = Vault role name, policy document)`.
    pub inline_policy: Option<(&'a str, &'a str)>,
    /// Groups to join, in order.
    pub groups: &'a [String],
    /// `iam_tags`, sent in one `TagUser` call.
    pub tags: &'a BTreeMap<String, String>,
}

/// The access key handed to the lease holder.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKeyPair {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Hand-written so that the secret can never reach a log line through `{:?}`.
impl fmt::Debug for AccessKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKeyPair")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// How a teardown ended, so the caller can apply Vault's rule that a lease younger than five
/// minutes whose user "does not exist" is an error (IAM may not show a just-created user yet;
/// hashicorp/vault#5190), while an older lease or a WAL rollback counts it as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserGone {
    /// The user existed and has now been deleted.
    Deleted,
    /// The very first call answered `NoSuchEntity`: nothing was there to delete.
    AlreadyAbsent,
}

/// One AWS failure reduced to what the engine needs: the text shown to people, the AWS error
/// code (to recognise `NoSuchEntity`) and whether AWS asked us to slow down (502).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsFailure {
    /// `<Code>: <message>`, or a transport description; see [`aws_error_text`].
    pub text: String,
    /// The AWS error code when AWS answered with one.
    pub code: Option<String>,
    /// AWS throttled the request (see [`is_throttling`]).
    pub throttled: bool,
    /// The call certainly did not take effect: AWS refused it with a 4xx, or it was never
    /// sent. False for timeouts, transport failures and 5xx answers, where AWS may have applied
    /// the request even though we saw an error.
    pub definitive: bool,
}

impl AwsFailure {
    /// Classifies an SDK error of any AWS client (IAM, STS, ...).
    pub fn from_sdk<E>(e: &SdkError<E>) -> Self
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
    fn local(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            code: None,
            throttled: false,
            definitive: true,
        }
    }

    fn is_no_such_entity(&self) -> bool {
        self.code.as_deref() == Some(NO_SUCH_ENTITY)
    }

    /// `NoSuchEntity` about the user `username` (not about a policy or group it names), which
    /// right after `CreateUser` means "not visible yet". AWS says "The user with name X cannot
    /// be found."; the name check keeps a missing group or policy a fast, permanent error.
    fn is_missing_user(&self, username: &str) -> bool {
        self.is_no_such_entity()
            && self.text.to_ascii_lowercase().contains("user")
            && self.text.contains(username)
    }
}

/// Runs one IAM call made right after `CreateUser`, repeating it for a few seconds while IAM
/// answers that the new user does not exist yet.
async fn on_new_user<T, E, F, Fut>(
    username: &str,
    step: IssueStep,
    metrics: Option<&Metrics>,
    mut call: F,
) -> Result<T, IamError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut waits = NEW_USER_VISIBILITY_WAITS.iter();
    loop {
        let e = match call().await {
            Ok(v) => return Ok(v),
            Err(e) => IamError::issue(step, &e),
        };
        let retry = e.failure().is_some_and(|f| f.is_missing_user(username));
        match waits.next() {
            Some(wait) if retry => {
                tracing::debug!(
                    username,
                    call = step.call(),
                    "new IAM user not visible yet; retrying"
                );
                if let Some(m) = metrics {
                    count_own_retry(m, step.call(), "not_yet_visible");
                }
                tokio::time::sleep(*wait).await;
            }
            _ => return Err(e),
        }
    }
}

/// Counts the attempts of one SDK operation, so the caller can tell whether the retryer sent
/// the request more than once (and so whether an earlier attempt may have taken effect).
#[derive(Debug, Clone, Default)]
struct AttemptCount(Arc<AtomicU32>);

impl Intercept for AttemptCount {
    fn name(&self) -> &'static str {
        "AttemptCount"
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Creates one access key for `username` and leaves no second key behind.
///
/// When an attempt's answer is lost (timeout, dropped connection, 5xx after the fact) AWS may
/// have created a key whose secret nobody will ever see; the SDK's retry then creates another.
/// So whenever the call needed more than one attempt, or failed in a way that does not rule out
/// that it took effect, the user's keys are listed and every key that is neither in `known`
/// (the keys the user had before; empty for a user created a moment ago) nor the one returned
/// is deleted; `None` (the keys before are unknown) skips that. The happy path costs nothing
/// extra. Cleanup failures are logged, not returned: the caller's WAL entry or lease still
/// covers the user.
pub async fn create_access_key_once(
    iam: &Client,
    username: &str,
    known: Option<&[String]>,
    metrics: Option<&Metrics>,
) -> Result<AccessKeyPair, IamError> {
    let mut rounds = 0;
    let key = loop {
        rounds += 1;
        let attempts = AttemptCount::default();
        let result = on_new_user(username, IssueStep::CreateAccessKey, metrics, || {
            iam.create_access_key()
                .user_name(username)
                .customize()
                .interceptor(attempts.clone())
                .send()
        })
        .await;
        let key = match result {
            Ok(out) => out.access_key.ok_or(IamError::IncompleteResponse {
                step: IssueStep::CreateAccessKey,
                what: "access key",
            }),
            Err(e) => Err(e),
        };
        let retried = attempts.0.load(Ordering::Relaxed) > 1;
        let maybe_applied = match &key {
            Ok(_) => retried,
            Err(e) => !e.is_definitive() || retried,
        };
        match known {
            Some(known) if maybe_applied => {
                let keep = key.as_ref().ok().map(|k| k.access_key_id.as_str());
                let deleted = delete_unknown_keys(iam, username, known, keep).await;
                // The lost attempt's key took the user's last free slot (IAM allows two), so
                // the retry was refused; with that key gone, one more try can succeed.
                let limit = key
                    .as_ref()
                    .err()
                    .is_some_and(|e| e.aws_code() == Some(LIMIT_EXCEEDED));
                if limit && deleted > 0 && rounds == 1 {
                    continue;
                }
            }
            None if maybe_applied => {
                tracing::warn!(username, "CreateAccessKey was retried or failed late; an extra key may exist (its keys before were unknown)");
            }
            _ => {}
        }
        break key?;
    };
    if key.access_key_id.is_empty() || key.secret_access_key.is_empty() {
        return Err(IamError::IncompleteResponse {
            step: IssueStep::CreateAccessKey,
            what: "access key id or secret",
        });
    }
    Ok(AccessKeyPair {
        access_key_id: key.access_key_id,
        secret_access_key: key.secret_access_key,
    })
}

/// The ids of `username`'s access keys, every page.
pub async fn list_access_key_ids(iam: &Client, username: &str) -> Result<Vec<String>, IamError> {
    let t = Teardown {
        iam,
        username,
        page_size: DEFAULT_PAGE_SIZE,
    };
    Ok(match t.list_access_keys().await? {
        Listed::Items(keys) => keys,
        Listed::UserMissing { .. } => Vec::new(),
    })
}

/// Deletes every key of `username` that is neither in `known` nor `keep` (best effort); returns
/// how many it deleted.
async fn delete_unknown_keys(
    iam: &Client,
    username: &str,
    known: &[String],
    keep: Option<&str>,
) -> usize {
    let keys = match list_access_key_ids(iam, username).await {
        Ok(keys) => keys,
        Err(e) => {
            tracing::warn!(username, error = %e, "could not list access keys after a retried CreateAccessKey");
            return 0;
        }
    };
    let mut deleted = 0;
    for id in keys {
        if Some(id.as_str()) == keep || known.contains(&id) {
            continue;
        }
        match iam
            .delete_access_key()
            .user_name(username)
            .access_key_id(&id)
            .send()
            .await
        {
            Ok(_) => {
                deleted += 1;
                tracing::info!(username, access_key_id = %id, "deleted the extra access key of a retried CreateAccessKey");
            }
            Err(e) => {
                tracing::warn!(username, access_key_id = %id, error = %aws_error_text(&e), "could not delete the extra access key of a retried CreateAccessKey");
            }
        }
    }
    deleted
}

/// The steps of issuing a user (spec §2.1 steps 3-8), each with Vault's user-facing prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueStep {
    CreateUser,
    AttachUserPolicy,
    PutUserPolicy,
    AddUserToGroup,
    TagUser,
    CreateAccessKey,
}

impl IssueStep {
    /// The AWS API name.
    pub fn call(self) -> &'static str {
        match self {
            Self::CreateUser => "CreateUser",
            Self::AttachUserPolicy => "AttachUserPolicy",
            Self::PutUserPolicy => "PutUserPolicy",
            Self::AddUserToGroup => "AddUserToGroup",
            Self::TagUser => "TagUser",
            Self::CreateAccessKey => "CreateAccessKey",
        }
    }

    /// Vault's error prefix for this step; clients and docs quote these texts.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::CreateUser => "Error creating IAM user",
            Self::AttachUserPolicy => "Error attaching user policy",
            Self::PutUserPolicy => "Error putting user policy",
            Self::AddUserToGroup => "Error adding user to group",
            Self::TagUser => "Error adding tags to user",
            Self::CreateAccessKey => "Error creating access keys",
        }
    }
}

/// Why an IAM operation of this module failed. `Display` is the text to show the user.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    /// An issue step failed at AWS (or in transport): 400, or 502 when throttled.
    #[error("{}: {}", .step.prefix(), .failure.text)]
    Issue {
        step: IssueStep,
        failure: AwsFailure,
    },

    /// AWS said "success" but left out what we asked for; nothing the caller can fix: 500.
    #[error("{}: AWS returned no {what}", .step.prefix())]
    IncompleteResponse { step: IssueStep, what: &'static str },

    /// A teardown call failed; the server retries the revocation later. `skipped` lists the
    /// best-effort steps that failed before a `DeleteUser` conflict, since one of them is then
    /// the likely reason the user could not be deleted.
    #[error(
        "error deleting IAM user {username:?}: {call}{}: {}{}",
        .subject.as_deref().map(|s| format!(" {s}")).unwrap_or_default(),
        .failure.text,
        skipped_suffix(.skipped)
    )]
    Teardown {
        call: &'static str,
        username: String,
        /// The item the call was about (access key id, policy ARN, group, ...).
        subject: Option<String>,
        failure: AwsFailure,
        skipped: Vec<String>,
    },

    /// A list call broke the pagination contract (truncated without a marker, a repeated
    /// marker, or endless pages). Stopping is safer than deleting a user half-listed.
    #[error("error deleting IAM user {username:?}: {call}: {reason}")]
    Pagination {
        call: &'static str,
        username: String,
        reason: String,
    },
}

fn skipped_suffix(skipped: &[String]) -> String {
    if skipped.is_empty() {
        String::new()
    } else {
        format!(
            " (best-effort steps that failed before this: {})",
            skipped.join("; ")
        )
    }
}

impl IamError {
    fn issue<E>(step: IssueStep, e: &SdkError<E>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        Self::Issue {
            step,
            failure: AwsFailure::from_sdk(e),
        }
    }

    fn failure(&self) -> Option<&AwsFailure> {
        match self {
            Self::Issue { failure, .. } | Self::Teardown { failure, .. } => Some(failure),
            Self::IncompleteResponse { .. } | Self::Pagination { .. } => None,
        }
    }

    /// HTTP status for the reply: 502 when AWS throttled (Vault's "upstream rate limited"), 400
    /// for other AWS errors while issuing (Vault answers those with an error response), 500 for
    /// everything else (revoke and rollback errors are plain Go errors in Vault).
    pub fn status(&self) -> u16 {
        if self.failure().is_some_and(|f| f.throttled) {
            return 502;
        }
        match self {
            Self::Issue { .. } => 400,
            _ => 500,
        }
    }

    /// The AWS call said the entity does not exist.
    pub fn is_no_such_entity(&self) -> bool {
        self.failure().is_some_and(AwsFailure::is_no_such_entity)
    }

    /// The failed call certainly did not take effect (AWS refused it with a 4xx, or it was
    /// never sent). A caller undoing a failed issue uses it: after a definitive `CreateUser`
    /// failure there is no user; after a timeout or a 5xx there may be one.
    pub fn is_definitive(&self) -> bool {
        match self {
            Self::Issue { failure, .. } | Self::Teardown { failure, .. } => failure.definitive,
            // AWS did act (IncompleteResponse) or we stopped mid-way (Pagination).
            Self::IncompleteResponse { .. } | Self::Pagination { .. } => false,
        }
    }

    /// The same error, marked as leaving nothing of ours in AWS (the thing that exists is not
    /// ours), so that no cleanup touches it.
    fn not_ours(mut self) -> Self {
        if let Self::Issue { failure, .. } = &mut self {
            failure.definitive = true;
        }
        self
    }

    /// The same error, marked as possibly having left something of ours in AWS.
    fn maybe_ours(mut self) -> Self {
        if let Self::Issue { failure, .. } = &mut self {
            failure.definitive = false;
        }
        self
    }

    /// What AWS (or the transport) said, without this module's step prefix; for callers that
    /// word their own errors (rotate-root, static rotation).
    pub fn detail(&self) -> String {
        match self.failure() {
            Some(f) => f.text.clone(),
            None => self.to_string(),
        }
    }

    /// The AWS error code, when AWS answered with one.
    pub fn aws_code(&self) -> Option<&str> {
        self.failure().and_then(|f| f.code.as_deref())
    }

    /// The AWS API name of the failed call, e.g. `"CreateUser"`.
    pub fn call(&self) -> &'static str {
        match self {
            Self::Issue { step, .. } | Self::IncompleteResponse { step, .. } => step.call(),
            Self::Teardown { call, .. } | Self::Pagination { call, .. } => call,
        }
    }
}

/// Formats an SDK error of any AWS client as `<Code>: <message>` when AWS answered, or as a
/// transport description otherwise. Used in user-facing errors, so it must say what happened
/// without the SDK's noise (request ids, raw responses) and never carries credentials: only the
/// `Display` texts of the error chain are printed, never a request or a `Debug` dump.
pub fn aws_error_text<E, R>(e: &SdkError<E, R>) -> String
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
pub fn is_throttling<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    let code_says = e
        .as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| THROTTLING_CODES.contains(&c));
    let status_says = e.raw_response().is_some_and(|r| r.status().as_u16() == 429);
    code_says || status_says
}

/// Creates the lease's user and its access key: spec §2.1 steps 3-8, with Vault's calls and
/// error texts; the calls between `CreateUser` and `CreateAccessKey` run concurrently.
///
/// No cleanup on failure: the caller wrote a WAL entry before calling, and the rollback of that
/// entry deletes whatever was created. Cleaning up here as well would race with it and, on an
/// eventual-consistency `NoSuchEntity`, could make a half-made user look already gone.
pub async fn create_user_with_key(
    iam: &Client,
    u: &NewUser<'_>,
    metrics: Option<&Metrics>,
) -> Result<AccessKeyPair, IamError> {
    let path = if u.path.is_empty() { "/" } else { u.path };
    let mut create = iam.create_user().user_name(u.username).path(path);
    if !u.permissions_boundary_arn.is_empty() {
        create = create.permissions_boundary(u.permissions_boundary_arn);
    }
    let started = SystemTime::now();
    let attempts = AttemptCount::default();
    if let Err(e) = create
        .customize()
        .interceptor(attempts.clone())
        .send()
        .await
    {
        let err = IamError::issue(IssueStep::CreateUser, &e);
        let retried = attempts.0.load(Ordering::Relaxed) > 1;
        if !(retried && err.aws_code() == Some(ENTITY_ALREADY_EXISTS)) {
            return Err(err);
        }
        // An earlier attempt's answer was lost. If the user that exists now was created during
        // this request, that attempt made it and it is ours: carry on. Otherwise it belongs to
        // someone else (a deterministic username_template) and must never be touched.
        match created_since(iam, u.username, started).await {
            Some(true) => {
                tracing::info!(
                    username = u.username,
                    "CreateUser answer was lost; the user it created is ours"
                )
            }
            Some(false) => return Err(err.not_ours()),
            // Cannot tell: most likely ours (default names carry 20 random characters), so
            // let the caller's cleanup and the WAL treat it as possibly created.
            None => return Err(err.maybe_ours()),
        }
    }
    tracing::debug!(username = u.username, path, "created IAM user");

    // The setup calls only need the user to exist, so they run side by side. Every one runs to
    // its end before the outcome is read, and the error reported is that of the earliest step
    // in Vault's order, so the message is Vault's whenever one step fails. The key comes only
    // after all of them succeeded, as in Vault: a user whose setup failed never gets a key.
    let tags = u
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| IamError::Issue {
            step: IssueStep::TagUser,
            failure: AwsFailure::local(e.to_string()),
        })?;
    let mut steps: Vec<BoxFuture<'_, Result<(), IamError>>> = Vec::new();
    for arn in u.policy_arns {
        steps.push(
            async move {
                on_new_user(
                    u.username,
                    IssueStep::AttachUserPolicy,
                    metrics,
                    move || {
                        iam.attach_user_policy()
                            .user_name(u.username)
                            .policy_arn(arn)
                            .send()
                    },
                )
                .await?;
                Ok(())
            }
            .boxed(),
        );
    }
    if let Some((name, document)) = u.inline_policy {
        steps.push(
            async move {
                on_new_user(u.username, IssueStep::PutUserPolicy, metrics, move || {
                    iam.put_user_policy()
                        .user_name(u.username)
                        .policy_name(name)
                        .policy_document(document)
                        .send()
                })
                .await?;
                Ok(())
            }
            .boxed(),
        );
    }
    for group in u.groups {
        steps.push(
            async move {
                on_new_user(u.username, IssueStep::AddUserToGroup, metrics, move || {
                    iam.add_user_to_group()
                        .user_name(u.username)
                        .group_name(group)
                        .send()
                })
                .await?;
                Ok(())
            }
            .boxed(),
        );
    }
    // Vault tags after creation rather than on CreateUser, so a role's tags need iam:TagUser
    // exactly as documented; keep that.
    if !tags.is_empty() {
        let tags = &tags;
        steps.push(
            async move {
                on_new_user(u.username, IssueStep::TagUser, metrics, move || {
                    iam.tag_user()
                        .user_name(u.username)
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await?;
                Ok(())
            }
            .boxed(),
        );
    }
    let outcomes: Vec<Result<(), IamError>> = stream::iter(steps)
        .buffered(ISSUE_CONCURRENCY)
        .collect()
        .await;
    outcomes.into_iter().collect::<Result<(), IamError>>()?;

    let key = create_access_key_once(iam, u.username, Some(&[]), metrics).await?;
    tracing::debug!(
        username = u.username,
        access_key_id = %key.access_key_id,
        "created access key"
    );
    Ok(key)
}

/// Deletes a user completely, reading every list with [`DEFAULT_PAGE_SIZE`].
///
/// Returns only when the user is gone: `Ok` means `DeleteUser` succeeded or the user did not
/// exist; any failure is an error so the server retries the revocation. See
/// [`delete_user_paged`] for the order and the rules.
pub async fn delete_user(iam: &Client, username: &str) -> Result<UserGone, IamError> {
    delete_user_paged(iam, username, DEFAULT_PAGE_SIZE).await
}

/// [`delete_user`] with an explicit page size (tests use 1 to exercise pagination).
///
/// Order:
/// 1. `ListAccessKeys` first: it doubles as the existence check (`NoSuchEntity` here gives
///    [`UserGone::AlreadyAbsent`]) and needs no permission beyond Vault's documented policy.
/// 2. The other lists, concurrently: MFA devices, SSH public keys, signing certificates,
///    service-specific credentials, attached policies, inline policies, groups.
/// 3. Every deletion, concurrently (bounded), access keys first so the lease holder's access
///    ends as early as possible; the login profile is deleted blind (there is no list for it).
/// 4. `DeleteUser`.
///
/// `NoSuchEntity` from any step means that item (or the user) is already gone and counts as
/// done. Failures of Vault's own steps (access keys, policies, groups) are errors. The steps
/// Vault never made (login profile, MFA, SSH keys, signing certificates, service-specific
/// credentials) are best effort: a root policy written from Vault's docs lacks their
/// permissions, and some AWS-compatible endpoints do not implement them (moto has no
/// service-specific credentials), yet users this engine creates never have such items. Skipping
/// them cannot leak a user silently, because AWS refuses `DeleteUser` with `DeleteConflict`
/// while any of them remains; that error then names the skipped steps.
pub async fn delete_user_paged(
    iam: &Client,
    username: &str,
    page_size: i32,
) -> Result<UserGone, IamError> {
    let t = Teardown {
        iam,
        username,
        page_size: page_size.clamp(1, DEFAULT_PAGE_SIZE),
    };

    let keys = match t.list_access_keys().await? {
        Listed::Items(keys) => keys,
        Listed::UserMissing {
            on_first_page: true,
        } => {
            tracing::debug!(username, "IAM user already absent");
            return Ok(UserGone::AlreadyAbsent);
        }
        // Deleted under us between two pages: carry on, DeleteUser will confirm.
        Listed::UserMissing { .. } => Vec::new(),
    };

    let mut actions: Vec<Action> = keys.into_iter().map(Action::DeleteAccessKey).collect();
    actions.push(Action::DeleteLoginProfile);

    let lists: Vec<BoxFuture<'_, ListResult>> = vec![
        t.list_mfa_devices().boxed(),
        t.list_ssh_public_keys().boxed(),
        t.list_signing_certificates().boxed(),
        t.list_service_specific_credentials().boxed(),
        t.list_attached_policies().boxed(),
        t.list_inline_policies().boxed(),
        t.list_groups().boxed(),
    ];
    let listed: Vec<ListResult> = stream::iter(lists)
        .buffer_unordered(TEARDOWN_CONCURRENCY)
        .collect()
        .await;

    let mut errors: Vec<IamError> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for result in listed {
        match result {
            ListResult::Actions(found) => actions.extend(found),
            ListResult::BestEffortFailed(e) => {
                tracing::warn!(username, error = %e, "skipping best-effort teardown step");
                skipped.push(short_failure(&e));
            }
            ListResult::Failed(e) => errors.push(e),
        }
    }

    // Keys first: buffer_unordered starts futures in order.
    actions.sort_by_key(Action::priority);
    let outcomes: Vec<(Action, Result<(), AwsFailure>)> = stream::iter(actions)
        .map(|a| async {
            let r = a.run(&t).await;
            (a, r)
        })
        .buffer_unordered(TEARDOWN_CONCURRENCY)
        .collect()
        .await;
    for (action, result) in outcomes {
        let Err(failure) = result else { continue };
        if failure.is_no_such_entity() {
            continue;
        }
        let e = IamError::Teardown {
            call: action.call(),
            username: username.to_owned(),
            subject: action.subject().map(str::to_owned),
            failure,
            skipped: Vec::new(),
        };
        if action.best_effort() {
            tracing::warn!(username, error = %e, "best-effort teardown step failed");
            skipped.push(short_failure(&e));
        } else {
            errors.push(e);
        }
    }

    // A strict step failed: the user still has something DeleteUser would refuse; report the
    // first failure (the server retries the whole teardown) and log the rest.
    let mut errors = errors.into_iter();
    if let Some(first) = errors.next() {
        for extra in errors {
            tracing::warn!(username, error = %extra, "further teardown failure");
        }
        return Err(first);
    }

    match iam.delete_user().user_name(username).send().await {
        Ok(_) => {
            tracing::debug!(username, "deleted IAM user");
            Ok(UserGone::Deleted)
        }
        Err(e) => {
            let failure = AwsFailure::from_sdk(&e);
            if failure.is_no_such_entity() {
                Ok(UserGone::Deleted)
            } else {
                Err(IamError::Teardown {
                    call: "DeleteUser",
                    username: username.to_owned(),
                    subject: None,
                    failure,
                    skipped,
                })
            }
        }
    }
}

/// Config override for the best-effort calls that usually find nothing (the lists of kinds this
/// engine never creates, and the blind `DeleteLoginProfile`): no SDK retries. Retrying them buys
/// nothing, since a failure only skips the step and `DeleteUser` still refuses while anything
/// is left, and it costs seconds of backoff per revoke on endpoints that answer them with a 5xx
/// (moto does not implement `ListServiceSpecificCredentials`).
fn no_retry() -> aws_sdk_iam::config::Builder {
    aws_sdk_iam::config::Builder::default().retry_config(RetryConfig::disabled())
}

/// `<call> [subject]: <text>` of a teardown error, for the `skipped` list.
fn short_failure(e: &IamError) -> String {
    match e {
        IamError::Teardown {
            call,
            subject,
            failure,
            ..
        } => match subject {
            Some(s) => format!("{call} {s}: {}", failure.text),
            None => format!("{call}: {}", failure.text),
        },
        other => other.to_string(),
    }
}

/// Whether a virtual MFA device's serial: `arn:aws:iam::<account>:mfa/<name>` (any partition).
/// Hardware tokens have plain serials and FIDO keys `...:u2f/...` ARNs; those disappear with
/// deactivation and have no delete call.
fn is_virtual_mfa_serial(serial: &str) -> bool {
    serial.starts_with("arn:") && serial.contains(":mfa/")
}

/// One page of a list call.
struct Page<T> {
    items: Vec<T>,
    is_truncated: bool,
    marker: Option<String>,
}

/// All pages of a list call.
#[derive(Debug, PartialEq, Eq)]
enum Listed<T> {
    Items(Vec<T>),
    /// The user does not exist (any more); nothing of this kind is left.
    UserMissing {
        on_first_page: bool,
    },
}

/// Reads every page (`Marker`/`IsTruncated`). Items are collected before anything is deleted:
/// IAM markers are opaque, and deleting while paging could shift items past the marker.
async fn collect_pages<T, F, Fut>(
    call: &'static str,
    username: &str,
    mut fetch: F,
) -> Result<Listed<T>, IamError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>, AwsFailure>>,
{
    let mut items = Vec::new();
    let mut marker: Option<String> = None;
    for page_no in 0..MAX_PAGES {
        let page = match fetch(marker.clone()).await {
            Ok(p) => p,
            Err(f) if f.is_no_such_entity() => {
                return Ok(Listed::UserMissing {
                    on_first_page: page_no == 0,
                })
            }
            Err(failure) => {
                return Err(IamError::Teardown {
                    call,
                    username: username.to_owned(),
                    subject: None,
                    failure,
                    skipped: Vec::new(),
                })
            }
        };
        items.extend(page.items);
        if !page.is_truncated {
            return Ok(Listed::Items(items));
        }
        let pagination_error = |reason: &str| IamError::Pagination {
            call,
            username: username.to_owned(),
            reason: reason.to_owned(),
        };
        match page.marker.filter(|m| !m.is_empty()) {
            None => return Err(pagination_error("list is truncated but has no marker")),
            Some(next) if marker.as_deref() == Some(next.as_str()) => {
                return Err(pagination_error("the same marker was returned twice"))
            }
            Some(next) => marker = Some(next),
        }
    }
    Err(IamError::Pagination {
        call,
        username: username.to_owned(),
        reason: format!("more than {MAX_PAGES} pages"),
    })
}

/// What one of the concurrent lists produced.
enum ListResult {
    Actions(Vec<Action>),
    /// A best-effort list failed; its items (if any) will make `DeleteUser` conflict.
    BestEffortFailed(IamError),
    Failed(IamError),
}

/// One deletion of the teardown.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    DeleteAccessKey(String),
    DeleteLoginProfile,
    /// Deactivate, then delete the device if it is virtual.
    RemoveMfaDevice(String),
    DeleteSshPublicKey(String),
    DeleteSigningCertificate(String),
    DeleteServiceSpecificCredential(String),
    DetachUserPolicy(String),
    DeleteUserPolicy(String),
    RemoveUserFromGroup(String),
}

impl Action {
    fn call(&self) -> &'static str {
        match self {
            Self::DeleteAccessKey(_) => "DeleteAccessKey",
            Self::DeleteLoginProfile => "DeleteLoginProfile",
            Self::RemoveMfaDevice(_) => "DeactivateMFADevice",
            Self::DeleteSshPublicKey(_) => "DeleteSSHPublicKey",
            Self::DeleteSigningCertificate(_) => "DeleteSigningCertificate",
            Self::DeleteServiceSpecificCredential(_) => "DeleteServiceSpecificCredential",
            Self::DetachUserPolicy(_) => "DetachUserPolicy",
            Self::DeleteUserPolicy(_) => "DeleteUserPolicy",
            Self::RemoveUserFromGroup(_) => "RemoveUserFromGroup",
        }
    }

    fn subject(&self) -> Option<&str> {
        match self {
            Self::DeleteLoginProfile => None,
            Self::DeleteAccessKey(s)
            | Self::RemoveMfaDevice(s)
            | Self::DeleteSshPublicKey(s)
            | Self::DeleteSigningCertificate(s)
            | Self::DeleteServiceSpecificCredential(s)
            | Self::DetachUserPolicy(s)
            | Self::DeleteUserPolicy(s)
            | Self::RemoveUserFromGroup(s) => Some(s),
        }
    }

    /// Steps Vault never made; see [`delete_user_paged`] for why they may fail softly.
    fn best_effort(&self) -> bool {
        matches!(
            self,
            Self::DeleteLoginProfile
                | Self::RemoveMfaDevice(_)
                | Self::DeleteSshPublicKey(_)
                | Self::DeleteSigningCertificate(_)
                | Self::DeleteServiceSpecificCredential(_)
        )
    }

    /// Access keys first: they are what the lease holder uses.
    fn priority(&self) -> u8 {
        match self {
            Self::DeleteAccessKey(_) => 0,
            Self::DeleteLoginProfile => 1,
            _ => 2,
        }
    }

    async fn run(&self, t: &Teardown<'_>) -> Result<(), AwsFailure> {
        let (iam, user) = (t.iam, t.username);
        match self {
            Self::DeleteAccessKey(id) => iam
                .delete_access_key()
                .user_name(user)
                .access_key_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsFailure::from_sdk(&e)),
            Self::DeleteLoginProfile => iam
                .delete_login_profile()
                .user_name(user)
                .customize()
                .config_override(no_retry())
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsFailure::from_sdk(&e)),
            Self::RemoveMfaDevice(serial) => {
                iam.deactivate_mfa_device()
                    .user_name(user)
                    .serial_number(serial)
                    .send()
                    .await
                    .map_err(|e| AwsFailure::from_sdk(&e))?;
                if is_virtual_mfa_serial(serial) {
                    // Once deactivated the device belongs to nobody and no longer blocks
                    // DeleteUser, and a retried revoke would not find it again (ListMFADevices
                    // shows assigned devices only); so a failure here is only logged.
                    if let Err(e) = iam
                        .delete_virtual_mfa_device()
                        .serial_number(serial)
                        .send()
                        .await
                    {
                        let f = AwsFailure::from_sdk(&e);
                        if !f.is_no_such_entity() {
                            tracing::warn!(
                                username = user,
                                serial = %serial,
                                error = %f.text,
                                "could not delete the user's virtual MFA device; it is unassigned"
                            );
                        }
                    }
                }
                Ok(())
            }
            Self::DeleteSshPublicKey(id) => iam
                .delete_ssh_public_key()
                .user_name(user)
                .ssh_public_key_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsFailure::from_sdk(&e)),
            Self::DeleteSigningCertificate(id) => iam
                .delete_signing_certificate()
                .user_name(user)
                .certificate_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsFailure::from_sdk(&e)),
            Self::DeleteServiceSpecificCredential(id) => iam
                .delete_service_specific_credential()
                .user_name(user)
                .service_specific_credential_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsFailure::from_sdk(&e)),
            Self::DetachUserPolicy(arn) => iam
                .detach_user_policy()
                .user_name(user)
                .policy_arn(arn)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsFailure::from_sdk(&e)),
            Self::DeleteUserPolicy(name) => iam
                .delete_user_policy()
                .user_name(user)
                .policy_name(name)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsFailure::from_sdk(&e)),
            Self::RemoveUserFromGroup(group) => iam
                .remove_user_from_group()
                .user_name(user)
                .group_name(group)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsFailure::from_sdk(&e)),
        }
    }
}

/// The list calls of one teardown.
struct Teardown<'a> {
    iam: &'a Client,
    username: &'a str,
    page_size: i32,
}

impl Teardown<'_> {
    /// Turns a finished list into actions; `best_effort` decides how a failure is filed.
    fn to_actions<T>(
        &self,
        listed: Result<Listed<T>, IamError>,
        best_effort: bool,
        action: impl Fn(T) -> Option<Action>,
    ) -> ListResult {
        match listed {
            Ok(Listed::Items(items)) => {
                ListResult::Actions(items.into_iter().filter_map(action).collect())
            }
            Ok(Listed::UserMissing { .. }) => ListResult::Actions(Vec::new()),
            Err(e) if best_effort => ListResult::BestEffortFailed(e),
            Err(e) => ListResult::Failed(e),
        }
    }

    async fn list_access_keys(&self) -> Result<Listed<String>, IamError> {
        let listed = collect_pages("ListAccessKeys", self.username, |marker| async move {
            let out = self
                .iam
                .list_access_keys()
                .user_name(self.username)
                .max_items(self.page_size)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| AwsFailure::from_sdk(&e))?;
            Ok(Page {
                items: out.access_key_metadata,
                is_truncated: out.is_truncated,
                marker: out.marker,
            })
        })
        .await?;
        Ok(match listed {
            Listed::Items(keys) => Listed::Items(
                keys.into_iter()
                    .filter_map(|k| {
                        if k.access_key_id.is_none() {
                            // Cannot be deleted by id; DeleteUser will conflict and say so.
                            tracing::warn!(username = self.username, "access key without id");
                        }
                        k.access_key_id
                    })
                    .collect(),
            ),
            Listed::UserMissing { on_first_page } => Listed::UserMissing { on_first_page },
        })
    }

    async fn list_mfa_devices(&self) -> ListResult {
        let listed = collect_pages("ListMFADevices", self.username, |marker| async move {
            let out = self
                .iam
                .list_mfa_devices()
                .user_name(self.username)
                .max_items(self.page_size)
                .set_marker(marker)
                .customize()
                .config_override(no_retry())
                .send()
                .await
                .map_err(|e| AwsFailure::from_sdk(&e))?;
            Ok(Page {
                items: out.mfa_devices,
                is_truncated: out.is_truncated,
                marker: out.marker,
            })
        })
        .await;
        self.to_actions(listed, true, |d| {
            Some(Action::RemoveMfaDevice(d.serial_number))
        })
    }

    async fn list_ssh_public_keys(&self) -> ListResult {
        let listed = collect_pages("ListSSHPublicKeys", self.username, |marker| async move {
            let out = self
                .iam
                .list_ssh_public_keys()
                .user_name(self.username)
                .max_items(self.page_size)
                .set_marker(marker)
                .customize()
                .config_override(no_retry())
                .send()
                .await
                .map_err(|e| AwsFailure::from_sdk(&e))?;
            Ok(Page {
                items: out.ssh_public_keys.unwrap_or_default(),
                is_truncated: out.is_truncated,
                marker: out.marker,
            })
        })
        .await;
        self.to_actions(listed, true, |k| {
            Some(Action::DeleteSshPublicKey(k.ssh_public_key_id))
        })
    }

    async fn list_signing_certificates(&self) -> ListResult {
        let listed = collect_pages(
            "ListSigningCertificates",
            self.username,
            |marker| async move {
                let out = self
                    .iam
                    .list_signing_certificates()
                    .user_name(self.username)
                    .max_items(self.page_size)
                    .set_marker(marker)
                    .customize()
                    .config_override(no_retry())
                    .send()
                    .await
                    .map_err(|e| AwsFailure::from_sdk(&e))?;
                Ok(Page {
                    items: out.certificates,
                    is_truncated: out.is_truncated,
                    marker: out.marker,
                })
            },
        )
        .await;
        self.to_actions(listed, true, |c| {
            Some(Action::DeleteSigningCertificate(c.certificate_id))
        })
    }

    async fn list_service_specific_credentials(&self) -> ListResult {
        let listed = collect_pages(
            "ListServiceSpecificCredentials",
            self.username,
            |marker| async move {
                let out = self
                    .iam
                    .list_service_specific_credentials()
                    .user_name(self.username)
                    .max_items(self.page_size)
                    .set_marker(marker)
                    .customize()
                    .config_override(no_retry())
                    .send()
                    .await
                    .map_err(|e| AwsFailure::from_sdk(&e))?;
                Ok(Page {
                    items: out.service_specific_credentials.unwrap_or_default(),
                    is_truncated: out.is_truncated,
                    marker: out.marker,
                })
            },
        )
        .await;
        self.to_actions(listed, true, |c| {
            Some(Action::DeleteServiceSpecificCredential(
                c.service_specific_credential_id,
            ))
        })
    }

    async fn list_attached_policies(&self) -> ListResult {
        let listed = collect_pages(
            "ListAttachedUserPolicies",
            self.username,
            |marker| async move {
                let out = self
                    .iam
                    .list_attached_user_policies()
                    .user_name(self.username)
                    .max_items(self.page_size)
                    .set_marker(marker)
                    .send()
                    .await
                    .map_err(|e| AwsFailure::from_sdk(&e))?;
                Ok(Page {
                    items: out.attached_policies.unwrap_or_default(),
                    is_truncated: out.is_truncated,
                    marker: out.marker,
                })
            },
        )
        .await;
        self.to_actions(listed, false, |p| {
            p.policy_arn.map(Action::DetachUserPolicy)
        })
    }

    async fn list_inline_policies(&self) -> ListResult {
        let listed = collect_pages("ListUserPolicies", self.username, |marker| async move {
            let out = self
                .iam
                .list_user_policies()
                .user_name(self.username)
                .max_items(self.page_size)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| AwsFailure::from_sdk(&e))?;
            Ok(Page {
                items: out.policy_names,
                is_truncated: out.is_truncated,
                marker: out.marker,
            })
        })
        .await;
        self.to_actions(listed, false, |name| Some(Action::DeleteUserPolicy(name)))
    }

    async fn list_groups(&self) -> ListResult {
        let listed = collect_pages("ListGroupsForUser", self.username, |marker| async move {
            let out = self
                .iam
                .list_groups_for_user()
                .user_name(self.username)
                .max_items(self.page_size)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| AwsFailure::from_sdk(&e))?;
            Ok(Page {
                items: out.groups,
                is_truncated: out.is_truncated,
                marker: out.marker,
            })
        })
        .await;
        self.to_actions(listed, false, |g| {
            Some(Action::RemoveUserFromGroup(g.group_name))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_iam::config::http::HttpResponse;
    use aws_sdk_iam::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_iam::operation::create_user::CreateUserError;
    use aws_smithy_types::body::SdkBody;

    fn service_error(code: Option<&str>, message: &str, status: u16) -> SdkError<CreateUserError> {
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

    #[test]
    fn issue_errors_have_vault_texts_and_statuses() {
        let e = IamError::issue(
            IssueStep::AttachUserPolicy,
            &service_error(Some("NoSuchEntity"), "Policy arn:x does not exist.", 404),
        );
        assert_eq!(
            e.to_string(),
            "Error attaching user policy: NoSuchEntity: Policy arn:x does not exist."
        );
        assert_eq!(e.status(), 400);
        assert!(e.is_no_such_entity());
        assert_eq!(e.call(), "AttachUserPolicy");
        assert_eq!(e.aws_code(), Some("NoSuchEntity"));

        let e = IamError::issue(
            IssueStep::CreateUser,
            &service_error(Some("Throttling"), "Rate exceeded", 400),
        );
        assert_eq!(
            e.to_string(),
            "Error creating IAM user: Throttling: Rate exceeded"
        );
        assert_eq!(e.status(), 502);

        let e = IamError::IncompleteResponse {
            step: IssueStep::CreateAccessKey,
            what: "access key",
        };
        assert_eq!(
            e.to_string(),
            "Error creating access keys: AWS returned no access key"
        );
        assert_eq!(e.status(), 500);
        assert!(!e.is_no_such_entity());
    }

    #[test]
    fn definitive_only_when_aws_refused_or_nothing_was_sent() {
        let refused = IamError::issue(
            IssueStep::CreateUser,
            &service_error(Some("EntityAlreadyExists"), "exists", 409),
        );
        assert!(refused.is_definitive());
        let throttled = IamError::issue(
            IssueStep::CreateUser,
            &service_error(Some("Throttling"), "Rate exceeded", 400),
        );
        assert!(throttled.is_definitive());
        let server_fault = IamError::issue(
            IssueStep::CreateUser,
            &service_error(Some("ServiceFailure"), "oops", 500),
        );
        assert!(!server_fault.is_definitive());
        let timeout: SdkError<CreateUserError> = SdkError::timeout_error("too slow");
        assert!(!IamError::issue(IssueStep::CreateUser, &timeout).is_definitive());
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let dispatch: SdkError<CreateUserError> =
            SdkError::dispatch_failure(ConnectorError::io(io.into()));
        assert!(!IamError::issue(IssueStep::CreateUser, &dispatch).is_definitive());
        let incomplete = IamError::IncompleteResponse {
            step: IssueStep::CreateAccessKey,
            what: "access key",
        };
        assert!(!incomplete.is_definitive());
    }

    #[test]
    fn every_issue_prefix() {
        let steps = [
            (
                IssueStep::CreateUser,
                "CreateUser",
                "Error creating IAM user",
            ),
            (
                IssueStep::AttachUserPolicy,
                "AttachUserPolicy",
                "Error attaching user policy",
            ),
            (
                IssueStep::PutUserPolicy,
                "PutUserPolicy",
                "Error putting user policy",
            ),
            (
                IssueStep::AddUserToGroup,
                "AddUserToGroup",
                "Error adding user to group",
            ),
            (IssueStep::TagUser, "TagUser", "Error adding tags to user"),
            (
                IssueStep::CreateAccessKey,
                "CreateAccessKey",
                "Error creating access keys",
            ),
        ];
        for (step, call, prefix) in steps {
            assert_eq!(step.call(), call);
            assert_eq!(step.prefix(), prefix);
        }
    }

    #[test]
    fn teardown_errors_are_500_and_name_skipped_steps() {
        let e = IamError::Teardown {
            call: "DeleteUser",
            username: "vault-u".into(),
            subject: None,
            failure: AwsFailure {
                text: "DeleteConflict: Cannot delete entity".into(),
                code: Some("DeleteConflict".into()),
                throttled: false,
                definitive: true,
            },
            skipped: vec!["ListSSHPublicKeys: AccessDenied: no".into()],
        };
        assert_eq!(
            e.to_string(),
            "error deleting IAM user \"vault-u\": DeleteUser: DeleteConflict: Cannot delete entity \
             (best-effort steps that failed before this: ListSSHPublicKeys: AccessDenied: no)"
        );
        assert_eq!(e.status(), 500);
        assert_eq!(e.call(), "DeleteUser");

        let e = IamError::Teardown {
            call: "DeleteAccessKey",
            username: "vault-u".into(),
            subject: Some("AKIAEXAMPLE".into()),
            failure: AwsFailure {
                text: "Throttling: Rate exceeded".into(),
                code: Some("Throttling".into()),
                throttled: true,
                definitive: true,
            },
            skipped: Vec::new(),
        };
        assert_eq!(
            e.to_string(),
            "error deleting IAM user \"vault-u\": DeleteAccessKey AKIAEXAMPLE: Throttling: Rate exceeded"
        );
        assert_eq!(e.status(), 502);
    }

    #[test]
    fn debug_hides_the_secret() {
        let k = AccessKeyPair {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG".into(),
        };
        let shown = format!("{k:?}");
        assert!(shown.contains("AKIAEXAMPLE"));
        assert!(!shown.contains("wJalr"));
    }

    #[test]
    fn virtual_mfa_serials() {
        assert!(is_virtual_mfa_serial("arn:aws:iam::123456789012:mfa/alice"));
        assert!(is_virtual_mfa_serial(
            "arn:aws-us-gov:iam::123456789012:mfa/path/alice"
        ));
        assert!(!is_virtual_mfa_serial("GAHT12345678"));
        assert!(!is_virtual_mfa_serial(
            "arn:aws:iam::123456789012:u2f/user/alice/key-1"
        ));
    }

    fn page(items: &[u32], marker: Option<&str>) -> Result<Page<u32>, AwsFailure> {
        Ok(Page {
            items: items.to_vec(),
            is_truncated: marker.is_some(),
            marker: marker.map(str::to_owned),
        })
    }

    fn no_such_entity() -> Result<Page<u32>, AwsFailure> {
        Err(AwsFailure {
            text: "NoSuchEntity: gone".into(),
            code: Some(NO_SUCH_ENTITY.into()),
            throttled: false,
            definitive: true,
        })
    }

    /// Serves `pages` in order and records the marker each call was given.
    async fn run_pages(
        pages: Vec<Result<Page<u32>, AwsFailure>>,
    ) -> (Result<Listed<u32>, IamError>, Vec<Option<String>>) {
        let mut pages = pages.into_iter();
        let mut seen = Vec::new();
        let r = collect_pages("ListThings", "u", |marker| {
            seen.push(marker);
            let next = pages.next();
            async move { next.unwrap_or_else(|| page(&[], None)) }
        })
        .await;
        (r, seen)
    }

    #[tokio::test]
    async fn pages_are_followed_by_marker() {
        let (r, seen) = run_pages(vec![
            page(&[1, 2], Some("m1")),
            page(&[3], Some("m2")),
            page(&[4], None),
        ])
        .await;
        assert_eq!(r.expect("listed"), Listed::Items(vec![1, 2, 3, 4]));
        assert_eq!(seen, vec![None, Some("m1".into()), Some("m2".into())]);
    }

    #[tokio::test]
    async fn no_such_entity_is_reported_with_its_page() {
        let (r, _) = run_pages(vec![no_such_entity()]).await;
        assert_eq!(
            r.expect("listed"),
            Listed::UserMissing {
                on_first_page: true
            }
        );
        let (r, _) = run_pages(vec![page(&[1], Some("m1")), no_such_entity()]).await;
        assert_eq!(
            r.expect("listed"),
            Listed::UserMissing {
                on_first_page: false
            }
        );
    }

    #[tokio::test]
    async fn broken_pagination_is_an_error() {
        let truncated_without_marker = Ok(Page {
            items: vec![1],
            is_truncated: true,
            marker: None,
        });
        let (r, _) = run_pages(vec![truncated_without_marker]).await;
        let e = r.expect_err("must fail");
        assert!(e.to_string().contains("truncated but has no marker"), "{e}");
        assert_eq!(e.status(), 500);

        let (r, _) = run_pages(vec![page(&[1], Some("m")), page(&[2], Some("m"))]).await;
        assert!(r
            .expect_err("must fail")
            .to_string()
            .contains("same marker"));
    }

    #[tokio::test]
    async fn other_list_errors_are_teardown_errors() {
        let denied = Err(AwsFailure {
            text: "AccessDenied: not allowed".into(),
            code: Some("AccessDenied".into()),
            throttled: false,
            definitive: true,
        });
        let (r, _) = run_pages(vec![denied]).await;
        let e = r.expect_err("must fail");
        assert_eq!(e.call(), "ListThings");
        assert_eq!(e.aws_code(), Some("AccessDenied"));
        assert_eq!(
            e.to_string(),
            "error deleting IAM user \"u\": ListThings: AccessDenied: not allowed"
        );
    }

    #[test]
    fn keys_are_deleted_first() {
        let mut actions = [
            Action::RemoveUserFromGroup("g".into()),
            Action::DeleteLoginProfile,
            Action::DeleteAccessKey("k".into()),
        ];
        actions.sort_by_key(Action::priority);
        assert_eq!(actions[0], Action::DeleteAccessKey("k".into()));
        assert_eq!(actions[1], Action::DeleteLoginProfile);
    }
}
