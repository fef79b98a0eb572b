//! Why an IAM-user operation failed, worded as Vault words it.
//!
//! Issue errors carry Vault's step prefixes (`Error creating IAM user: ...`) because clients and
//! docs match on them; teardown errors name the call and the item, so an operator can finish by
//! hand what AWS refused.

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};

use crate::aws::aws_error::AwsFailure;
use crate::framework::Error;

/// The steps of issuing a user, in the order of Vault's `path_user.go`, each with Vault's
/// user-facing prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IssueStep {
    CreateUser,
    AttachUserPolicy,
    PutUserPolicy,
    AddUserToGroup,
    CreateAccessKey,
}

impl IssueStep {
    /// The AWS API name.
    pub(crate) fn call(self) -> &'static str {
        match self {
            Self::CreateUser => "CreateUser",
            Self::AttachUserPolicy => "AttachUserPolicy",
            Self::PutUserPolicy => "PutUserPolicy",
            Self::AddUserToGroup => "AddUserToGroup",
            Self::CreateAccessKey => "CreateAccessKey",
        }
    }

    /// Vault's error prefix for this step; clients and docs quote these texts.
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Self::CreateUser => "Error creating IAM user",
            Self::AttachUserPolicy => "Error attaching user policy",
            Self::PutUserPolicy => "Error putting user policy",
            Self::AddUserToGroup => "Error adding user to group",
            Self::CreateAccessKey => "Error creating access keys",
        }
    }
}

/// Why an IAM operation of this module failed. `Display` is the text to show the user.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IamError {
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
    pub(crate) fn issue<E>(step: IssueStep, e: &SdkError<E>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        Self::Issue {
            step,
            failure: AwsFailure::from_sdk(e),
        }
    }

    pub(crate) fn failure(&self) -> Option<&AwsFailure> {
        match self {
            Self::Issue { failure, .. } | Self::Teardown { failure, .. } => Some(failure),
            Self::IncompleteResponse { .. } | Self::Pagination { .. } => None,
        }
    }

    /// HTTP status for the reply: 502 when AWS throttled (Vault's "upstream rate limited"), 400
    /// for other AWS errors while issuing (Vault answers those with an error response), 500 for
    /// everything else (revoke and rollback errors are plain Go errors in Vault).
    pub(crate) fn status(&self) -> u16 {
        if self.failure().is_some_and(|f| f.throttled) {
            return 502;
        }
        match self {
            Self::Issue { .. } => 400,
            _ => 500,
        }
    }

    /// The AWS call said the entity does not exist (the teardown asks [`AwsFailure`] directly;
    /// tests ask the error).
    #[cfg(test)]
    pub(crate) fn is_no_such_entity(&self) -> bool {
        self.failure().is_some_and(AwsFailure::is_no_such_entity)
    }

    /// The failed call certainly did not take effect (AWS refused it with a 4xx, or it was
    /// never sent). A caller undoing a failed issue uses it: after a definitive `CreateUser`
    /// failure there is no user; after a timeout or a 5xx there may be one.
    pub(crate) fn is_definitive(&self) -> bool {
        match self {
            Self::Issue { failure, .. } | Self::Teardown { failure, .. } => failure.definitive,
            // AWS did act (IncompleteResponse) or we stopped mid-way (Pagination).
            Self::IncompleteResponse { .. } | Self::Pagination { .. } => false,
        }
    }

    /// The same error, marked as leaving nothing of ours in AWS (the thing that exists is not
    /// ours), so that no cleanup touches it.
    pub(crate) fn not_ours(mut self) -> Self {
        if let Self::Issue { failure, .. } = &mut self {
            failure.definitive = true;
        }
        self
    }

    /// The same error, marked as possibly having left something of ours in AWS.
    pub(crate) fn maybe_ours(mut self) -> Self {
        if let Self::Issue { failure, .. } = &mut self {
            failure.definitive = false;
        }
        self
    }

    /// What AWS (or the transport) said, without this module's step prefix; for callers that
    /// word their own errors (rotate-root, static rotation).
    pub(crate) fn detail(&self) -> String {
        match self.failure() {
            Some(f) => f.text.clone(),
            None => self.to_string(),
        }
    }

    /// The AWS error code, when AWS answered with one.
    pub(crate) fn aws_code(&self) -> Option<&str> {
        self.failure().and_then(|f| f.code.as_deref())
    }

    /// The AWS API name of the failed call, e.g. `"CreateUser"`.
    pub(crate) fn call(&self) -> &'static str {
        match self {
            Self::Issue { step, .. } | Self::IncompleteResponse { step, .. } => step.call(),
            Self::Teardown { call, .. } | Self::Pagination { call, .. } => call,
        }
    }
}

/// The engine's one mapping of IAM failures to replies: the status is [`IamError::status`], the
/// text is Vault's.
impl From<IamError> for Error {
    fn from(e: IamError) -> Self {
        match e.status() {
            400 => Error::BadRequest(e.to_string()),
            500 => Error::Internal(e.to_string()),
            code => Error::Coded(code, e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::aws_error::tests::service_error;
    use aws_sdk_iam::error::ConnectorError;
    use aws_sdk_iam::operation::create_user::CreateUserError;

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
}
