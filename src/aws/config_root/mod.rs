//! `config/root`: the engine's own AWS credentials and endpoints, and when its key rotates.
//!
//! Writes merge (only supplied fields change), as Vault does; reads never
//! return `secret_key`; the entry is seal-wrapped (special paths). The automated rotation
//! fields and the engine's record of them are in `rotation.rs`.

mod rotation;

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::framework::storage::Storage;
use crate::framework::FieldType;
use crate::framework::{
    existence, handler, Ctx, Error, Field, HandlerResult, Operation, Path, Response,
};

use super::username::DEFAULT_USERNAME_TEMPLATE;
use super::AwsBackend;

pub(crate) use rotation::{plan, Outcome, PendingDelete, RotationRecord, Step, FIRST_RETRY};
use rotation::{RotationInput, RotationSettings};

/// Storage key.
pub(crate) const KEY: &str = "config/root";

/// Stored shape (Go plugin's JSON keys; Vault-only keys optional).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RootConfig {
    pub(crate) access_key: String,
    pub(crate) secret_key: String,
    pub(crate) iam_endpoint: String,
    pub(crate) sts_endpoint: String,
    pub(crate) sts_region: String,
    pub(crate) sts_fallback_endpoints: Vec<String>,
    pub(crate) sts_fallback_regions: Vec<String>,
    pub(crate) region: String,
    pub(crate) max_retries: i64,
    pub(crate) username_template: String,
    /// Vault Enterprise's automated rotation fields, under Vault's keys.
    #[serde(flatten)]
    pub(crate) rotation: RotationSettings,
    /// When the key rotates next, how the last rotation went, old keys still to delete.
    pub(crate) root_rotation: RotationRecord,
}

impl std::fmt::Debug for RootConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootConfig")
            .field("access_key", &self.access_key)
            .field(
                "secret_key",
                &if self.secret_key.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("region", &self.region)
            .field("iam_endpoint", &self.iam_endpoint)
            .field("sts_endpoint", &self.sts_endpoint)
            .field("max_retries", &self.max_retries)
            .field("rotation", &self.rotation)
            .field("root_rotation", &self.root_rotation)
            .finish()
    }
}

impl RootConfig {
    /// A fresh config with Vault's defaults.
    pub(crate) fn new_default() -> Self {
        Self {
            max_retries: -1,
            username_template: DEFAULT_USERNAME_TEMPLATE.to_string(),
            ..Self::default()
        }
    }

    /// Reads the stored config.
    pub(crate) async fn load(storage: &Storage) -> Result<Option<Self>, Error> {
        storage
            .get_json(KEY)
            .await
            .map_err(|e| Error::internal(format!("unable to read configuration: {e}")))
    }

    /// The template to use (the default when none stored).
    pub(crate) fn template(&self) -> &str {
        if self.username_template.is_empty() {
            DEFAULT_USERNAME_TEMPLATE
        } else {
            &self.username_template
        }
    }
}

/// A write, parsed: `None` = not supplied.
#[derive(Default)]
struct RootInput {
    access_key: Option<String>,
    secret_key: Option<String>,
    region: Option<String>,
    iam_endpoint: Option<String>,
    sts_endpoint: Option<String>,
    sts_region: Option<String>,
    sts_fallback_endpoints: Option<Vec<String>>,
    sts_fallback_regions: Option<Vec<String>>,
    max_retries: Option<i64>,
    username_template: Option<String>,
    rotation: RotationInput,
}

fn parse_input(ctx: &Ctx<AwsBackend>) -> RootInput {
    let f = &ctx.fields;
    RootInput {
        access_key: f.opt_string("access_key"),
        secret_key: f.opt_string("secret_key"),
        region: f.opt_string("region"),
        iam_endpoint: f.opt_string("iam_endpoint"),
        sts_endpoint: f.opt_string("sts_endpoint"),
        sts_region: f.opt_string("sts_region"),
        sts_fallback_endpoints: f.opt_list("sts_fallback_endpoints"),
        sts_fallback_regions: f.opt_list("sts_fallback_regions"),
        max_retries: f.opt_int("max_retries"),
        username_template: f.opt_string("username_template"),
        rotation: RotationInput {
            schedule: f.opt_string("rotation_schedule"),
            window: f.opt_int("rotation_window"),
            period: f.opt_int("rotation_period"),
            disable: f
                .supplied("disable_automated_rotation")
                .map(|_| f.bool("disable_automated_rotation")),
        },
    }
}

/// Merges `input` into `base` and validates the result; a change of the rotation settings
/// counts the next rotation from `now`.
fn merge(mut base: RootConfig, input: RootInput, now: SystemTime) -> Result<RootConfig, Error> {
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = input.$f { base.$f = v; } )* };
    }
    set!(
        access_key,
        secret_key,
        region,
        iam_endpoint,
        sts_endpoint,
        sts_region,
        sts_fallback_endpoints,
        sts_fallback_regions,
        max_retries,
        username_template
    );
    if base.username_template.is_empty() {
        base.username_template = DEFAULT_USERNAME_TEMPLATE.to_string();
    }
    if base.sts_fallback_endpoints.len() != base.sts_fallback_regions.len() {
        return Err(Error::bad(
            "fallback endpoints and fallback regions must be the same length",
        ));
    }
    if base.max_retries < -1 {
        return Err(Error::bad(format!(
            "max_retries must be -1 (the SDK default) or greater, got {}",
            base.max_retries
        )));
    }
    let settings = input
        .rotation
        .apply(base.rotation.clone())
        .map_err(|e| Error::bad(e.to_string()))?;
    // Terraform sends every field on every apply: only a real change moves the due time.
    let timing = settings.timing();
    let unscheduled =
        base.root_rotation.next_rotation.is_empty() && !matches!(timing, rotation::Timing::Off);
    if settings != base.rotation || unscheduled {
        base.root_rotation.reschedule(&timing, now);
    }
    base.rotation = settings;
    Ok(base)
}

async fn write(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let input = parse_input(&ctx);
    // A rotation (manual or scheduled) rewrites this entry: never interleave with one.
    let _one_at_a_time = ctx.backend.rotation_lock.lock().await;
    let existing = RootConfig::load(&ctx.storage).await?;
    let base = match (&ctx.req.operation, existing) {
        (Operation::Create, _) | (_, None) => RootConfig::new_default(),
        (_, Some(e)) => e,
    };
    let cfg = merge(base, input, SystemTime::now())?;
    ctx.storage.put_json(KEY, &cfg).await?;
    ctx.backend.drop_clients();
    ctx.backend.wake_root_rotation();
    tracing::info!(region = %cfg.region, iam_endpoint = %cfg.iam_endpoint, sts_endpoint = %cfg.sts_endpoint, "root configuration written");
    Ok(None)
}

/// The read answer (never the secret key).
pub(crate) fn read_data(cfg: &RootConfig) -> Map<String, Value> {
    let v = json!({
        "access_key": cfg.access_key,
        "region": cfg.region,
        "iam_endpoint": cfg.iam_endpoint,
        "sts_endpoint": cfg.sts_endpoint,
        "sts_region": cfg.sts_region,
        "sts_fallback_endpoints": cfg.sts_fallback_endpoints,
        "sts_fallback_regions": cfg.sts_fallback_regions,
        "max_retries": cfg.max_retries,
        "username_template": cfg.username_template,
        "role_arn": "",
        "identity_token_audience": "",
        "identity_token_ttl": 0,
    });
    let mut m = match v {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    rotation::read_fields(&cfg.rotation, &cfg.root_rotation, &mut m);
    m
}

async fn read(ctx: Ctx<AwsBackend>) -> HandlerResult {
    Ok(RootConfig::load(&ctx.storage)
        .await?
        .map(|c| Response::with_data(read_data(&c))))
}

async fn exists(ctx: Ctx<AwsBackend>) -> Result<bool, Error> {
    Ok(RootConfig::load(&ctx.storage).await?.is_some())
}

/// The path entry.
pub(crate) fn path() -> Path<AwsBackend> {
    let s = |n, d| Field::new(n, FieldType::String, d);
    Path::new("config/root")
        .field(s(
            "access_key",
            "Access key with permission to create new keys.",
        ))
        .field(s(
            "secret_key",
            "Secret key with permission to create new keys.",
        ))
        .field(s("region", "Region for API calls."))
        .field(s("iam_endpoint", "Endpoint to custom IAM server URL"))
        .field(s("sts_endpoint", "Endpoint to custom STS server URL"))
        .field(s("sts_region", "Specific region for STS API calls."))
        .field(Field::new(
            "sts_fallback_endpoints",
            FieldType::CommaStringSlice,
            "Fallback endpoints if sts_endpoint is unreachable",
        ))
        .field(Field::new(
            "sts_fallback_regions",
            FieldType::CommaStringSlice,
            "Fallback regions if sts_region is unreachable",
        ))
        .field(
            Field::new(
                "max_retries",
                FieldType::Int,
                "Maximum number of retries for recoverable exceptions of AWS APIs",
            )
            .default(-1),
        )
        .field(s(
            "username_template",
            "Template to generate custom IAM usernames",
        ))
        .field(s(
            "rotation_schedule",
            "CRON-style string that will define the schedule on which rotations should occur. Mutually exclusive with rotation_period",
        ))
        .field(Field::new(
            "rotation_window",
            FieldType::DurationSecond,
            "Specifies the amount of time in which the rotation is allowed to occur starting from a given rotation_schedule",
        ))
        .field(Field::new(
            "rotation_period",
            FieldType::DurationSecond,
            "TTL for automatic credential rotation of the given username. Mutually exclusive with rotation_schedule",
        ))
        .field(Field::new(
            "disable_automated_rotation",
            FieldType::Bool,
            "If set to true, will deregister all registered rotation jobs from the RotationManager for the plugin.",
        ))
        .op(
            Operation::Read,
            "Read the root credentials configuration (never the secret key).",
            handler(read),
        )
        .op(
            Operation::Create,
            "Configure the root credentials that are used to manage IAM.",
            handler(write),
        )
        .op(
            Operation::Update,
            "Configure the root credentials that are used to manage IAM.",
            handler(write),
        )
        .exists(existence(exists))
        .help(
            "Configure the root credentials that are used to manage IAM.",
            "Before doing anything, the AWS backend needs credentials that are able\n\
             to manage IAM policies, users, access keys, etc. This endpoint is used\n\
             to configure those credentials. They don't necessarily need to be root\n\
             keys as long as they have permission to manage IAM.\n\n\
             Writes merge: only the fields you supply change. With no keys stored, the\n\
             AWS SDK's default chain is used (environment, shared profile, web identity,\n\
             container or instance metadata). The secret key is never returned.\n\n\
             rotation_period or rotation_schedule (5-field cron, UTC; not both) rotate the\n\
             key by itself on the active node, as config/rotate-root does; a failure is\n\
             retried with backoff, within rotation_window for a schedule. Reads show the\n\
             next rotation, the last outcome and old keys whose delete waits for a retry.",
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_changes_only_supplied_fields() {
        let mut base = RootConfig::new_default();
        base.access_key = "AKIA1".into();
        base.secret_key = "s1".into();
        base.region = "us-east-1".into();
        let merged = merge(
            base.clone(),
            RootInput {
                region: Some("eu-west-1".into()),
                ..Default::default()
            },
            SystemTime::UNIX_EPOCH,
        )
        .expect("valid");
        assert_eq!(merged.access_key, "AKIA1");
        assert_eq!(merged.secret_key, "s1");
        assert_eq!(merged.region, "eu-west-1");
        assert_eq!(merged.max_retries, -1);
        assert_eq!(merged.username_template, DEFAULT_USERNAME_TEMPLATE);
    }

    #[test]
    fn fallback_lists_must_pair_up() {
        let e = merge(
            RootConfig::new_default(),
            RootInput {
                sts_fallback_endpoints: Some(vec!["http://a".into()]),
                ..Default::default()
            },
            SystemTime::UNIX_EPOCH,
        )
        .expect_err("length mismatch");
        assert_eq!(
            e,
            Error::bad("fallback endpoints and fallback regions must be the same length")
        );
    }

    #[test]
    fn read_never_shows_the_secret_and_debug_redacts_it() {
        let mut c = RootConfig::new_default();
        c.secret_key = "TOPSECRET".into();
        assert!(!read_data(&c).contains_key("secret_key"));
        assert!(!Value::Object(read_data(&c))
            .to_string()
            .contains("TOPSECRET"));
        assert!(!format!("{c:?}").contains("TOPSECRET"));
    }

    #[test]
    fn rotation_fields_are_checked_and_a_change_schedules_from_now() {
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000);
        let with_period = |p| RootInput {
            rotation: RotationInput {
                period: Some(p),
                ..Default::default()
            },
            ..Default::default()
        };
        let e = merge(RootConfig::new_default(), with_period(5), now).expect_err("too short");
        assert_eq!(e, Error::bad("rotation_period must be 10 seconds or more"));
        let c = merge(RootConfig::new_default(), with_period(60), now).expect("valid");
        assert_eq!(c.root_rotation.next_rotation, "1970-01-01T00:17:40Z");
        // The same settings again (Terraform re-applies) keep the due time.
        let later = now + std::time::Duration::from_secs(30);
        let again = merge(c.clone(), with_period(60), later).expect("valid");
        assert_eq!(
            again.root_rotation.next_rotation,
            c.root_rotation.next_rotation
        );
        let changed = merge(c, with_period(120), later).expect("valid");
        assert_eq!(changed.root_rotation.next_rotation, "1970-01-01T00:19:10Z");
        let m = read_data(&changed);
        assert_eq!(m["rotation_period"], json!(120));
        assert_eq!(m["next_vault_rotation"], json!("1970-01-01T00:19:10Z"));
    }

    #[test]
    fn reads_go_plugin_shape() {
        let go = r#"{"access_key":"AK","secret_key":"SK","iam_endpoint":"","sts_endpoint":"","region":"us-west-2","max_retries":-1,"username_template":"x"}"#;
        let c: RootConfig = serde_json::from_str(go).expect("go shape");
        assert_eq!(c.region, "us-west-2");
        assert!(c.sts_fallback_endpoints.is_empty());
    }
}
