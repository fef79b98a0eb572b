//! `config/root`: the engine's own AWS credentials and endpoints.
//!
//! Writes merge (only supplied fields change), as Vault does; reads never
//! return `secret_key`; the entry is seal-wrapped (special paths).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::framework::storage::Storage;
use crate::framework::FieldType;
use crate::framework::{
    existence, handler, Ctx, Error, Field, HandlerResult, Operation, Path, Response,
};

use super::username::DEFAULT_USERNAME_TEMPLATE;
use super::AwsBackend;

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
    }
}

/// Merges `input` into `base` and validates the result.
fn merge(mut base: RootConfig, input: RootInput) -> Result<RootConfig, Error> {
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
    Ok(base)
}

async fn write(ctx: Ctx<AwsBackend>) -> HandlerResult {
    let input = parse_input(&ctx);
    let existing = RootConfig::load(&ctx.storage).await?;
    let base = match (&ctx.req.operation, existing) {
        (Operation::Create, _) | (_, None) => RootConfig::new_default(),
        (_, Some(e)) => e,
    };
    let cfg = merge(base, input)?;
    ctx.storage.put_json(KEY, &cfg).await?;
    ctx.backend.drop_clients();
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
        "rotation_schedule": "",
        "rotation_window": 0,
        "rotation_period": 0,
        "disable_automated_rotation": false,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
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
             container or instance metadata). The secret key is never returned.",
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
    fn reads_go_plugin_shape() {
        let go = r#"{"access_key":"AK","secret_key":"SK","iam_endpoint":"","sts_endpoint":"","region":"us-west-2","max_retries":-1,"username_template":"x"}"#;
        let c: RootConfig = serde_json::from_str(go).expect("go shape");
        assert_eq!(c.region, "us-west-2");
        assert!(c.sts_fallback_endpoints.is_empty());
    }
}
