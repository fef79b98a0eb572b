//! `roles/<name>` and LIST `roles`: storage and HTTP surface of the role model
//! in [`super::role`], including lazy migration of legacy `policy/<name>` entries.

use crate::framework::fields::FieldType;
use crate::framework::storage::Storage;
use crate::framework::{
    handler, name_segment, Ctx, Error, Field, HandlerResult, Operation, Path, Response,
};
use crate::gocompat::quote::go_quote;

use super::role::{apply_write, migrate_legacy, RoleEntry, RoleError, RoleInput};
use super::AwsBackend;

/// Storage prefix of roles.
pub const ROLE_PREFIX: &str = "role/";
/// Storage prefix of very old roles (a raw ARN or policy document).
pub const LEGACY_PREFIX: &str = "policy/";

impl From<RoleError> for Error {
    fn from(e: RoleError) -> Self {
        match e {
            RoleError::BadRequest(m) => Error::BadRequest(m),
            RoleError::Internal(m) => Error::Internal(m),
        }
    }
}

/// Loads a role, migrating a legacy `policy/<name>` entry on first read.
pub async fn load_role(storage: &Storage, name: &str) -> Result<Option<RoleEntry>, Error> {
    let read = |e: crate::framework::storage::StorageError| {
        Error::internal(format!("error retrieving role: {e}"))
    };
    if let Some(role) = storage
        .get_json::<RoleEntry>(&format!("{ROLE_PREFIX}{name}"))
        .await
        .map_err(read)?
    {
        return Ok(Some(role));
    }
    let Some(raw) = storage
        .get_raw(&format!("{LEGACY_PREFIX}{name}"))
        .await
        .map_err(read)?
    else {
        return Ok(None);
    };
    let migrated = migrate_legacy(&String::from_utf8_lossy(&raw));
    storage
        .put_json(&format!("{ROLE_PREFIX}{name}"), &migrated)
        .await?;
    storage.delete(&format!("{LEGACY_PREFIX}{name}")).await?;
    tracing::info!(role = %name, "migrated legacy policy entry to a role");
    Ok(Some(migrated))
}

fn parse_input(ctx: &Ctx<AwsBackend>) -> RoleInput {
    let f = &ctx.fields;
    RoleInput {
        credential_type: f.opt_string("credential_type"),
        role_arns: f.opt_list("role_arns"),
        policy_arns: f.opt_list("policy_arns"),
        policy_document: f.opt_string("policy_document"),
        iam_groups: f.opt_list("iam_groups"),
        iam_tags: f.opt_kv("iam_tags"),
        default_sts_ttl: f.opt_int("default_sts_ttl"),
        max_sts_ttl: f.opt_int("max_sts_ttl"),
        user_path: f.opt_string("user_path"),
        permissions_boundary_arn: f.opt_string("permissions_boundary_arn"),
        session_tags: f.opt_kv("session_tags"),
        external_id: f.opt_string("external_id"),
        mfa_serial_number: f.opt_string("mfa_serial_number"),
        legacy_arn: f.opt_string("arn"),
        legacy_policy: f.opt_string("policy"),
    }
}

async fn write(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let name = ctx.fields.string("name");
    if name.is_empty() {
        return Err(Error::bad("missing role name"));
    }
    let input = parse_input(&ctx);
    let existing = load_role(&ctx.storage, &name).await?;
    let (entry, warnings) = apply_write(existing, input)?;
    ctx.backend.forget_role(&name);
    let stored = ctx
        .storage
        .put_json(&format!("{ROLE_PREFIX}{name}"), &entry)
        .await;
    ctx.backend.forget_role(&name);
    stored?;
    if warnings.is_empty() {
        return Ok(None);
    }
    Ok(Some(Response {
        warnings,
        ..Response::default()
    }))
}

async fn read(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let name = ctx.fields.string("name");
    Ok(ctx
        .backend
        .role(&ctx.storage, &name)
        .await?
        .map(|r| Response::with_data(r.read_response())))
}

async fn delete(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let name = ctx.fields.string("name");
    ctx.backend.forget_role(&name);
    let deleted = async {
        ctx.storage
            .delete(&format!("{LEGACY_PREFIX}{name}"))
            .await?;
        ctx.storage.delete(&format!("{ROLE_PREFIX}{name}")).await
    }
    .await;
    ctx.backend.forget_role(&name);
    deleted?;
    Ok(None)
}

async fn list(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let mut keys = ctx.storage.list(ROLE_PREFIX).await?;
    keys.extend(ctx.storage.list(LEGACY_PREFIX).await?);
    Ok(Some(Response::list(keys)))
}

/// Role not found text, as Vault's `Role %q not found`.
pub fn not_found(name: &str) -> Error {
    Error::bad(format!("Role {} not found", go_quote(name)))
}

/// LIST `roles`.
pub fn list_path() -> Path<AwsBackend> {
    Path::new("roles/?")
        .op(
            Operation::List,
            "List the existing roles in this backend",
            handler(list),
        )
        .help(
            "List the existing roles in this backend",
            "Roles will be listed by the role name.",
        )
}

/// `roles/<name>`.
pub fn path() -> Path<AwsBackend> {
    let s = |n, d| Field::new(n, FieldType::String, d);
    let l = |n, d| Field::new(n, FieldType::CommaStringSlice, d);
    Path::new(format!("roles/{}", name_segment("name")))
        .field(s("name", "Name of the role").required())
        .field(s("credential_type", "Type of credential to retrieve. Must be one of assumed_role, iam_user, federation_token, or session_token"))
        .field(l("role_arns", "ARNs of AWS roles allowed to be assumed. Only valid when credential_type is assumed_role"))
        .field(l("policy_arns", "ARNs of AWS policies. Behavior varies by credential_type. When credential_type is\niam_user, then it will attach the specified policies to the generated IAM user.\nWhen credential_type is assumed_role or federation_token, the policies will be passed as the\nPolicyArns parameter, acting as a filter on permissions available."))
        .field(s("policy_document", "JSON-encoded IAM policy document. Behavior varies by credential_type. When credential_type is\niam_user, then it will attach the contents of the policy_document to the IAM\nuser generated. When credential_type is assumed_role or federation_token, this\nwill be passed in as the Policy parameter to the AssumeRole or\nGetFederationToken API call, acting as a filter on permissions available."))
        .field(l("iam_groups", "Names of IAM groups that generated IAM users will be added to. For a credential\ntype of assumed_role or federation_token, the policies sent to the\ncorresponding AWS call (sts:AssumeRole or sts:GetFederation) will be the\npolicies from each group in iam_groups combined with the policy_document\nand policy_arns parameters."))
        .field(Field::new("iam_tags", FieldType::KvPairs, "IAM tags to be set for any users created by this role. These must be presented\nas Key-Value pairs. This can be represented as a map or a list of equal sign\ndelimited key pairs."))
        .field(Field::new("default_sts_ttl", FieldType::DurationSecond, "Default TTL for assumed_role, federation_token, and session_token credential types when no TTL is explicitly requested with the credentials"))
        .field(Field::new("max_sts_ttl", FieldType::DurationSecond, "Max allowed TTL for assumed_role, federation_token, and session_token credential types"))
        .field(s("permissions_boundary_arn", "ARN of an IAM policy to attach as a permissions boundary on IAM user credential; only valid when credential_type is iam_user"))
        .field(s("user_path", "Path for IAM User. Only valid when credential_type is iam_user").default("/"))
        .field(Field::new("session_tags", FieldType::KvPairs, "Session tags to be set for assumed role credentials. These must be presented\nas Key-Value pairs. This can be represented as a map or a list of equal sign\ndelimited key pairs."))
        .field(s("external_id", "External ID to set when assuming the role; only valid when credential_type is assumed_role"))
        .field(s("mfa_serial_number", "Identification number or ARN of the MFA device associated with the root config user. Only valid\nwhen credential_type is session_token. This is only required if the IAM user has an MFA device set up."))
        .field(s("arn", "Use role_arns or policy_arns instead."))
        .field(s("policy", "Use policy_document instead."))
        .op(Operation::Read, "Read a role", handler(read))
        .op(Operation::Update, "Create or update a role", handler(write))
        .op(Operation::Delete, "Delete a role", handler(delete))
        .help(
            "Read, write and reference IAM policies that access keys can be made for.",
            "This path allows you to read and write roles that are used to\n\
             create access keys. These roles are associated with IAM policies that\n\
             map directly to the route to read the access keys. For example, if the\n\
             backend is mounted at \"aws\" and you create a role at \"aws/roles/deploy\"\n\
             then a user could request access credentials at \"aws/creds/deploy\".\n\n\
             You can either supply a user inline policy (via the policy argument), or\n\
             provide a reference to an existing AWS policy by supplying the full arn\n\
             reference (via the arn argument). Inline user policies written are normal\n\
             IAM policies. Vault will not attempt to parse these except to validate\n\
             that they're basic JSON. No validation is performed on arn references.",
        )
}
