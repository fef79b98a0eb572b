//! STS credential types (assumed_role, federation_token, session_token).
use crate::framework::{Ctx, Error, HandlerResult};

use super::role::RoleEntry;
use super::AwsBackend;

/// Issues STS credentials for `role`.
pub async fn issue(
    _ctx: &Ctx<AwsBackend>,
    _name: &str,
    _role: &RoleEntry,
    cred_type: &str,
) -> HandlerResult {
    Err(Error::bad(format!(
        "credential_type {cred_type} is not available in this build yet"
    )))
}
