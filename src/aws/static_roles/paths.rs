//! `static-roles/<name>`, LIST `static-roles`, `static-creds/<name>` and `rotate-role/<name>`:
//! existing IAM users whose keys the engine rotates.

use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::aws::iam_user::delete_access_key;
use crate::aws::AwsBackend;
use crate::framework::FieldType;
use crate::framework::{
    handler, name_segment, Ctx, Error, Field, HandlerResult, Operation, Path, Response,
};

use super::model::{
    load_creds, load_role, parse_rfc3339, rfc3339, StaticCreds, StaticRole, CREDS_PREFIX,
    MIN_PERIOD_SECS, ROLE_PREFIX,
};
use super::rotation::{check_user, iam_for, rotate, UserCheckError};
use super::schedule::FIRST_RETRY;

/// A write, parsed and checked for input errors.
struct StaticInput {
    username: Option<String>,
    rotation_period: Option<i64>,
    assume_role_arn: Option<String>,
    assume_role_session_name: Option<String>,
    external_id: Option<String>,
    single_key: Option<bool>,
}

fn parse_input(ctx: &Ctx<AwsBackend>, existing: Option<&StaticRole>) -> Result<StaticInput, Error> {
    let f = &ctx.fields;
    let input = StaticInput {
        username: f.opt_string("username").filter(|u| !u.is_empty()),
        rotation_period: f.opt_int("rotation_period"),
        assume_role_arn: f.opt_string("assume_role_arn"),
        assume_role_session_name: f.opt_string("assume_role_session_name"),
        external_id: f.opt_string("external_id"),
        single_key: f.supplied("single_key").map(|_| f.bool("single_key")),
    };
    if existing.is_none() && input.username.is_none() {
        return Err(Error::bad("missing \"username\" parameter"));
    }
    if let (Some(old), Some(new)) = (existing, input.username.as_ref()) {
        if &old.username != new {
            return Err(Error::bad(format!(
                "username cannot be changed: the role manages \"{}\"; create a new role for \"{new}\"",
                old.username
            )));
        }
    }
    match input.rotation_period {
        Some(p) if p < MIN_PERIOD_SECS => {
            return Err(Error::bad(
                "role rotation period out of range: must be greater than 60.00 seconds",
            ))
        }
        None if existing.is_none() => {
            return Err(Error::bad("missing \"rotation_period\" parameter"))
        }
        _ => {}
    }
    let arn = input
        .assume_role_arn
        .clone()
        .or_else(|| existing.map(|e| e.assume_role_arn.clone()))
        .unwrap_or_default();
    let session = input
        .assume_role_session_name
        .clone()
        .or_else(|| existing.map(|e| e.assume_role_session_name.clone()))
        .unwrap_or_default();
    if arn.is_empty() && !session.is_empty() {
        return Err(Error::bad(
            "assume_role_session_name requires assume_role_arn",
        ));
    }
    let ext = input
        .external_id
        .clone()
        .or_else(|| existing.map(|e| e.external_id.clone()))
        .unwrap_or_default();
    if arn.is_empty() && !ext.is_empty() {
        return Err(Error::bad("external_id requires assume_role_arn"));
    }
    Ok(input)
}

async fn write(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let name = ctx.fields.string("name");
    if name.is_empty() {
        return Err(Error::bad("empty role name attribute given"));
    }
    let existing = load_role(&ctx.storage, &name).await?;
    let input = parse_input(&ctx, existing.as_ref())?;
    let mut role = existing.clone().unwrap_or_else(|| StaticRole {
        name: name.clone(),
        ..StaticRole::default()
    });
    if let Some(u) = input.username {
        role.username = u;
    }
    if let Some(p) = input.rotation_period {
        role.rotation_period = p.saturating_mul(1_000_000_000);
    }
    if let Some(v) = input.assume_role_arn {
        role.assume_role_arn = v;
    }
    if let Some(v) = input.assume_role_session_name {
        role.assume_role_session_name = v;
    }
    if let Some(v) = input.external_id {
        role.external_id = v;
    }
    if let Some(v) = input.single_key {
        role.single_key = v;
    }
    // The user must exist, and be the same user (by immutable id) as before.
    let iam = iam_for(&ctx.backend, &ctx.storage, &role).await?;
    role.id = check_user(&iam, &role.username, &role.id)
        .await
        .map_err(|e| match e {
            UserCheckError::NotFound(aws) => Error::bad(format!(
                "unable to validate username \"{}\": {aws}",
                role.username
            )),
            other => other.into(),
        })?;
    ctx.storage
        .put_json(&format!("{ROLE_PREFIX}{name}"), &role)
        .await?;

    let creds = load_creds(&ctx.storage, &name).await?;
    let period_changed = existing
        .as_ref()
        .is_some_and(|e| e.rotation_period != role.rotation_period);
    let mut warnings = Vec::new();
    match creds {
        None => match rotate(&ctx.backend, &ctx.storage, &role).await {
            Ok(rotated) => warnings = rotated.warnings(),
            Err(e) => {
                if existing.is_none() {
                    // A new role whose first key could not be made is not kept:
                    // the write failed and changes nothing.
                    ctx.storage.delete(&format!("{ROLE_PREFIX}{name}")).await?;
                } else {
                    ctx.backend.schedule(&name, SystemTime::now() + FIRST_RETRY);
                }
                return Err(e);
            }
        },
        Some(mut c) if period_changed => {
            // A new period resets the next rotation to now + period, persisted.
            let next = SystemTime::now() + role.period();
            c.expiration = rfc3339(next);
            ctx.storage
                .put_json(&format!("{CREDS_PREFIX}{name}"), &c)
                .await?;
            ctx.backend.schedule(&name, next);
        }
        Some(_) => {}
    }
    let mut resp = Response::with_data(role.read_data());
    resp.warnings = warnings;
    Ok(Some(resp))
}

async fn read(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let name = ctx.fields.string("name");
    Ok(load_role(&ctx.storage, &name)
        .await?
        .map(|r| Response::with_data(r.read_data())))
}

async fn delete(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let name = ctx.fields.string("name");
    let Some(role) = load_role(&ctx.storage, &name).await? else {
        return Ok(None);
    };
    let creds = load_creds(&ctx.storage, &name).await?;
    if let Some(c) = creds {
        // Delete the engine's keys in AWS first: if that fails, the record stays
        // so a retry can finish the job and no key is forgotten.
        let iam = iam_for(&ctx.backend, &ctx.storage, &role).await?;
        for key in [&c.access_key, &c.previous_access_key]
            .into_iter()
            .filter(|k| !k.is_empty())
        {
            if let Err(f) = delete_access_key(&iam, &role.username, key).await {
                return Err(Error::internal(format!(
                    "failed to clean credentials while deleting role \"{name}\": couldn't delete from IAM: {}",
                    f.text
                )));
            }
        }
        ctx.storage.delete(&format!("{CREDS_PREFIX}{name}")).await?;
    }
    ctx.backend.unschedule(&name);
    ctx.storage.delete(&format!("{ROLE_PREFIX}{name}")).await?;
    Ok(None)
}

async fn list(ctx: Ctx<AwsBackend>) -> HandlerResult {
    Ok(Some(Response::list(ctx.storage.list(ROLE_PREFIX).await?)))
}

fn creds_data(c: &StaticCreds) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("access_key".into(), c.access_key.clone().into());
    m.insert("secret_key".into(), c.secret_key.clone().into());
    if parse_rfc3339(&c.expiration).is_some() {
        m.insert("expiration".into(), c.expiration.clone().into());
    }
    m
}

async fn read_creds(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let name = ctx.fields.string("name");
    let creds = load_creds(&ctx.storage, &name).await?;
    Ok(creds.map(|c| Response::with_data(creds_data(&c))))
}

async fn rotate_now(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let name = ctx.fields.string("name");
    let role = load_role(&ctx.storage, &name)
        .await?
        .ok_or_else(|| Error::bad(format!("static role \"{name}\" not found")))?;
    let rotated = rotate(&ctx.backend, &ctx.storage, &role).await?;
    let warnings = rotated.warnings();
    let mut m = Map::new();
    m.insert("access_key".into(), rotated.creds.access_key.into());
    m.insert("expiration".into(), rotated.creds.expiration.into());
    let mut resp = Response::with_data(m);
    resp.warnings = warnings;
    Ok(Some(resp))
}

fn name_field() -> Field {
    Field::new("name", FieldType::String, "The name of this role.").required()
}

/// `static-roles/<name>`.
pub(crate) fn path() -> Path<AwsBackend> {
    Path::new(format!("static-roles/{}", name_segment("name")))
        .field(name_field())
        .field(Field::new("username", FieldType::String, "The IAM user to adopt as a static role."))
        .field(Field::new("rotation_period", FieldType::DurationSecond, "Period by which to rotate the backing credential of the adopted user. This can be a Go duration (e.g, '1m', 24h'), or an integer number of seconds."))
        .field(Field::new("assume_role_arn", FieldType::String, "The ARN of the role to assume when managing a user in another account."))
        .field(Field::new("assume_role_session_name", FieldType::String, "Session name used when assuming assume_role_arn."))
        .field(Field::new("external_id", FieldType::String, "External ID passed when assuming assume_role_arn."))
        .field(Field::new("single_key", FieldType::Bool, "Delete the previous access key as soon as the new one is verified, so the user holds only one engine key. Default false keeps the previous key until the next rotation, as Vault does.").default(false))
        .op(Operation::Read, "Read a static role.", handler(read))
        .op(Operation::Update, "Create or update a static role.", handler(write))
        .op(Operation::Delete, "Delete a static role and the access keys the engine created (never the IAM user).", handler(delete))
        .help(
            "Manage static roles: existing IAM users whose access keys the engine rotates.",
            "Static roles adopt an existing IAM user. The engine creates an access key for it\n\
             and rotates it every rotation_period. The schedule is stored, so rotation goes on\n\
             across restarts and failovers; failed rotations are retried with backoff. Updating\n\
             rotation_period reschedules the next rotation to now + the new period.\n\
             \n\
             IAM allows two access keys per user. As in Vault, when the user already holds two\n\
             at role creation or at a rotation, the one with the oldest CreateDate is deleted\n\
             first, whoever made it; the response warns which access key was retired.",
        )
}

/// LIST `static-roles`.
pub(crate) fn list_path() -> Path<AwsBackend> {
    Path::new("static-roles/?")
        .op(Operation::List, "List static roles.", handler(list))
        .help("List static roles.", "Lists the names of all static roles.")
}

/// `static-creds/<name>`.
pub(crate) fn creds_path() -> Path<AwsBackend> {
    Path::new(format!("static-creds/{}", name_segment("name")))
        .field(name_field())
        .op(Operation::Read, "Read the current credentials of a static role.", handler(read_creds))
        .help(
            "Retrieve static credentials from the named role.",
            "This path reads the current access key of a static role and the time of its next rotation (expiration). No lease is created.",
        )
}

/// `rotate-role/<name>`.
pub(crate) fn rotate_path() -> Path<AwsBackend> {
    Path::new(format!("rotate-role/{}", name_segment("name")))
        .field(name_field())
        .op(Operation::Update, "Rotate a static role's access key now.", handler(rotate_now))
        .help(
            "Rotate a static role's access key now.",
            "Runs the same steps as a scheduled rotation immediately, returns the new access key id and the next rotation time, and reschedules. A key retired to make room (the user's oldest, when it holds two) is named in a warning.",
        )
}
