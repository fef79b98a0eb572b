//! `creds/<name>` and `sts/<name>`: issue credentials for a role.
//!
//! A request is parsed once into an [`IssueRequest`] (role, credential type and everything that
//! type reads from the request, checked) before any AWS call; then one exhaustive match sends it
//! to the credential type's code.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::framework::FieldType;
use crate::framework::{
    handler, name_segment, Ctx, Error, Field, HandlerResult, Operation, Path, Response,
};
use crate::gocompat::quote::go_quote;

use super::chain::ChainSource;
use super::clients::Clients;
use super::credential::CredentialType;
use super::iam_user::{self, record, UserSpec};
use super::key_ready;
use super::metrics::{RequestOutcome, ISSUED, ISSUE_SECONDS};
use super::roles::{not_found, RoleEntry, CHAINED_MAX_TTL_SECS};
use super::secret::{iam_user_response, UserLease};
use super::session_identity::{self, SessionIdentity};
use super::sts::{self, effective_ttl, AssumeSpec, StsRequest};
use super::username::{generate_username, NameKind};
use super::AwsBackend;

/// A `creds/` or `sts/` request, parsed and checked.
struct IssueRequest {
    role_name: String,
    role: Arc<RoleEntry>,
    /// The requesting token's display name (generated user and session names carry it).
    display_name: String,
    params: Params,
}

/// The credential type chosen for the request, with what that type reads from the request.
enum Params {
    IamUser,
    AssumedRole {
        /// Sessions last this many seconds (Vault's STS TTL rules).
        ttl: i64,
        /// One of the role's `role_arns`.
        role_arn: String,
        /// Session name (the role's template, else the caller's, normalised; `None`
        /// generates one), tags and source identity.
        identity: SessionIdentity,
        /// The intermediate role of a chained role (`source_role_arn`).
        chain: Option<ChainSource>,
    },
    FederationToken {
        ttl: i64,
    },
    SessionToken {
        ttl: i64,
        /// `mfa_code` for the role's `mfa_serial_number`.
        mfa_code: String,
    },
}

impl Params {
    /// The credential type these parameters are for.
    fn credential_type(&self) -> CredentialType {
        match self {
            Params::IamUser => CredentialType::IamUser,
            Params::AssumedRole { .. } => CredentialType::AssumedRole,
            Params::FederationToken { .. } => CredentialType::FederationToken,
            Params::SessionToken { .. } => CredentialType::SessionToken,
        }
    }
}

impl IssueRequest {
    /// Reads the type-specific fields of a request for `role`, in Vault's order: the TTL, then
    /// the role ARN (`path_user.go`); then what `assumed_role` sessions say about who asked.
    async fn parse(
        ctx: &Ctx<AwsBackend>,
        role_name: String,
        role: Arc<RoleEntry>,
        kind: CredentialType,
    ) -> Result<Self, Error> {
        let f = &ctx.fields;
        let params = match kind {
            CredentialType::IamUser => Params::IamUser,
            CredentialType::AssumedRole => {
                let chain = chain_source(&role);
                let ttl = sts_ttl(ctx, &role).await?;
                if chain.is_some() {
                    check_chained_ttl(ttl, &role_name)?;
                }
                let role_arn = choose_role_arn(&role, &role_name, &f.string("role_arn"))?;
                let requested_name = Some(f.string("role_session_name")).filter(|s| !s.is_empty());
                let identity = session_identity::resolve(
                    &role,
                    &role_name,
                    requested_name,
                    &ctx.req.entity_id,
                    &ctx.system,
                )
                .await?;
                Params::AssumedRole {
                    ttl,
                    role_arn,
                    identity,
                    chain,
                }
            }
            CredentialType::FederationToken => Params::FederationToken {
                ttl: sts_ttl(ctx, &role).await?,
            },
            CredentialType::SessionToken => Params::SessionToken {
                ttl: sts_ttl(ctx, &role).await?,
                mfa_code: f.string("mfa_code"),
            },
        };
        Ok(Self {
            role_name,
            role,
            display_name: ctx.req.display_name.clone(),
            params,
        })
    }

    fn sts(&self, ttl: i64) -> StsRequest<'_> {
        StsRequest {
            role_name: &self.role_name,
            role: &self.role,
            display_name: &self.display_name,
            ttl,
            lease: !self.role.sts.no_lease,
        }
    }
}

/// The intermediate role of a chained role, if it is one.
fn chain_source(role: &RoleEntry) -> Option<ChainSource> {
    (!role.sts.source_role_arn.is_empty()).then(|| ChainSource {
        role_arn: role.sts.source_role_arn.clone(),
        external_id: role.sts.source_external_id.clone(),
    })
}

/// AWS refuses a chained session longer than 1h; say so before asking it.
fn check_chained_ttl(ttl: i64, role_name: &str) -> Result<(), Error> {
    if ttl <= CHAINED_MAX_TTL_SECS {
        return Ok(());
    }
    Err(Error::bad(format!(
        "ttl of {ttl} seconds is more than the {CHAINED_MAX_TTL_SECS} seconds (1h) AWS allows for a session obtained by role chaining: Vault role {} has a source_role_arn",
        go_quote(role_name)
    )))
}

/// The STS session lifetime for this request (the mount's max lease TTL comes from the server).
async fn sts_ttl(ctx: &Ctx<AwsBackend>, role: &RoleEntry) -> Result<i64, Error> {
    let mount_max = ctx.backend.mount_max_ttl(&ctx.system).await?;
    Ok(effective_ttl(ctx.fields.opt_int("ttl"), role, mount_max))
}

/// The role ARN to assume: the requested one if the role allows it, else the role's only one.
fn choose_role_arn(role: &RoleEntry, role_name: &str, requested: &str) -> Result<String, Error> {
    let allowed = role.role_arns.as_deref().unwrap_or_default();
    if requested.is_empty() {
        return match allowed {
            [only] => Ok(only.clone()),
            _ => Err(Error::bad(
                "did not supply a role_arn parameter and unable to determine one",
            )),
        };
    }
    if allowed.iter().any(|a| a == requested) {
        Ok(requested.to_string())
    } else {
        Err(Error::bad(format!(
            "role_arn {} not in allowed role arns for Vault role {}",
            go_quote(requested),
            go_quote(role_name)
        )))
    }
}

async fn issue(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let name = ctx.fields.string("name");
    let role = ctx
        .backend
        .roles
        .get(&ctx.storage, &name)
        .await?
        .ok_or_else(|| not_found(&name))?;
    let kind = role
        .credential_type_for(ctx.req.path.starts_with("sts/"))
        .map_err(Error::bad)?;
    let started = Instant::now();
    let result = match IssueRequest::parse(&ctx, name, role, kind).await {
        Ok(req) => run(&ctx, &req)
            .await
            .map_err(|e| (e, RequestOutcome::Error)),
        // Bad input refused before any AWS call: the caller's mistake, not the engine's.
        Err(e @ Error::BadRequest(_)) => Err((e, RequestOutcome::Rejected)),
        Err(e) => Err((e, RequestOutcome::Error)),
    };
    let outcome = match &result {
        Ok(_) => RequestOutcome::Success,
        Err((_, o)) => *o,
    };
    ctx.backend
        .metrics
        .record(ISSUED, ISSUE_SECONDS, kind.as_str(), outcome, started);
    result.map(Some).map_err(|(e, _)| e)
}

/// Issues what `req` asks for.
async fn run(ctx: &Ctx<AwsBackend>, req: &IssueRequest) -> Result<Response, Error> {
    // Vault answers a client that cannot be built with an error response (400) on these paths.
    let clients: Arc<Clients> = ctx
        .backend
        .clients(&ctx.storage)
        .await
        .map_err(|e| Error::bad(e.to_string()))?;
    let started = Instant::now();
    let sts = match &req.params {
        Params::IamUser => return issue_iam_user(ctx, &clients, req).await,
        Params::AssumedRole {
            ttl,
            role_arn,
            identity,
            chain,
        } => {
            let chained = match chain {
                Some(source) => Some(
                    ctx.backend
                        .chain
                        .clients(&clients, source, &ctx.backend.call_context())
                        .await?,
                ),
                None => None,
            };
            let spec = AssumeSpec {
                role_arn,
                identity,
                signer: chained.as_deref().unwrap_or(&clients),
            };
            sts::assume_role(&clients, &req.sts(*ttl), spec).await
        }
        Params::FederationToken { ttl } => sts::federation_token(&clients, &req.sts(*ttl)).await,
        Params::SessionToken { ttl, mfa_code } => {
            sts::session_token(&clients, &req.sts(*ttl), mfa_code).await
        }
    };
    if sts.is_ok() {
        ctx.backend
            .metrics
            .issue_phase(req.params.credential_type().as_str(), "aws", started);
    }
    sts
}

async fn issue_iam_user(
    ctx: &Ctx<AwsBackend>,
    clients: &Clients,
    req: &IssueRequest,
) -> Result<Response, Error> {
    let role = &req.role;
    let lease = UserLease::of(role, ctx.backend.lease_config(&ctx.storage).await?);
    // With a cap, issues of the role take turns from the count to the record (the turn goes
    // back once the record is written, before the AWS calls), so concurrent requests can never
    // exceed it (hashicorp/vault#5475).
    let cap_turn = match role.user.max_active() {
        Some(cap) => {
            let turn = ctx.backend.caps.turn(&req.role_name).await;
            let live = record::count(&ctx.storage, &req.role_name).await?;
            if live as u64 >= cap {
                return Err(Error::bad(format!(
                    "role {} has reached its max_active_credentials of {cap}: {live} credentials are live; revoke some or raise the cap",
                    go_quote(&req.role_name)
                )));
            }
            Some(turn)
        }
        None => None,
    };
    let username = generate_username(
        clients.config.template(),
        NameKind::Iam,
        &req.display_name,
        &req.role_name,
    )
    .map_err(|e| Error::internal(e.to_string()))?;
    let no_tags = Default::default();
    let spec = UserSpec {
        role_name: &req.role_name,
        path: &role.user_path,
        permissions_boundary_arn: &role.permissions_boundary_arn,
        policy_arns: role.policy_arns.as_deref().unwrap_or_default(),
        policy_document: &role.policy_document,
        groups: role.iam_groups.as_deref().unwrap_or_default(),
        tags: role.iam_tags.as_ref().unwrap_or(&no_tags),
        mount_uuid: &ctx.backend.mount_uuid,
        lease: lease.runs_for(Duration::ZERO, &ctx.system).await?,
    };
    let user = iam_user::issue(
        &ctx.storage,
        &clients.iam,
        &ctx.backend.metrics,
        username,
        &spec,
        cap_turn,
    )
    .await?;
    tracing::info!(role = %req.role_name, username = %user.username, access_key = %user.key.access_key_id, "issued iam_user credentials");
    let warning = match role.user.key_ready_timeout() {
        Some(timeout) => key_ready::wait(ctx, clients, &user.key, timeout).await,
        None => None,
    };
    let mut response = iam_user_response(user, &req.role_name, role, lease);
    response.warnings.extend(warning);
    Ok(response)
}

/// `creds/<name>` and `sts/<name>`.
pub(crate) fn path() -> Path<AwsBackend> {
    Path::new(format!("(creds|sts)/{}", name_segment("name")))
        .field(Field::new("name", FieldType::String, "Name of the role").required())
        .field(
            Field::new(
                "role_arn",
                FieldType::String,
                "ARN of role to assume when credential_type is assumed_role",
            )
            .query(),
        )
        .field(
            Field::new(
                "ttl",
                FieldType::DurationSecond,
                "Lifetime of the returned credentials in seconds",
            )
            .default(3600)
            .query(),
        )
        .field(
            Field::new(
                "role_session_name",
                FieldType::String,
                "Session name to use when assuming role. Max chars: 64",
            )
            .query(),
        )
        .field(
            Field::new(
                "mfa_code",
                FieldType::String,
                "MFA code to provide for session tokens",
            )
            .query(),
        )
        .op(
            Operation::Read,
            "Generate AWS credentials from a specific Vault role.",
            handler(issue),
        )
        .op(
            Operation::Update,
            "Generate AWS credentials from a specific Vault role.",
            handler(issue),
        )
        .help(
            "Generate AWS credentials from a specific Vault role.",
            "This path will generate new, never before used AWS credentials for\n\
             accessing AWS. The IAM policy used to back this key pair will be\n\
             the \"name\" parameter. For example, if this backend is mounted at \"aws\",\n\
             then \"aws/creds/deploy\" would generate access keys for the \"deploy\" role.\n\n\
             The access keys will have a lease associated with them. The access keys\n\
             can be revoked by using the lease ID when using the iam_user credential type.\n\
             When using AWS STS credential types (assumed_role, federation_token or\n\
             session_token), revoking the lease does not revoke the access keys: AWS\n\
             cannot revoke one STS session; they expire at the end of their TTL.",
        )
}
