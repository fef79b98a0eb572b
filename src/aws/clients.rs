//! AWS SDK clients built from `config/root`, cached per mount and dropped when
//! the config changes (write, rotate-root, Invalidate), never built per request; the STS
//! endpoint fallback; and clients acting in another account through `AssumeRole`.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_smithy_runtime::client::retries::{RetryPartition, TokenBucket};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

use std::sync::Arc;

use aws_sdk_sts::error::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::framework::Error;

use super::aws_error::AwsFailure;
use super::config_root::RootConfig;
use super::metrics::{AwsCallMetrics, Metrics};
use super::pacer::{PacedHttpClient, Pacers};

/// Connect timeout for AWS endpoints.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Read timeout for one HTTP response.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one call including its retries.
pub(crate) const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// One STS endpoint to try, in order.
#[derive(Clone, Debug)]
pub(crate) struct StsEndpoint {
    /// How errors name it: the URL, or "the default STS endpoint".
    pub(crate) label: String,
    pub(crate) client: aws_sdk_sts::Client,
}

/// The engine's IAM and STS clients for one mount.
#[derive(Clone, Debug)]
pub(crate) struct Clients {
    /// The `config/root` they were built from (what issue paths read, without a storage round trip).
    pub(crate) config: Arc<RootConfig>,
    pub(crate) iam: aws_sdk_iam::Client,
    /// `sts_endpoint` first, then the fallbacks in order; one default client when none is set.
    pub(crate) sts: Vec<StsEndpoint>,
}

/// Region: configured, else `AWS_REGION`, else `AWS_DEFAULT_REGION`, else us-east-1.
pub(crate) fn effective_region(configured: &str) -> String {
    if !configured.is_empty() {
        return configured.to_string();
    }
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "us-east-1".to_string())
}

/// Why the mount's clients could not be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// Exactly one of the two keys is set (Vault's text).
    #[error("static AWS client credentials haven't been properly configured (the access key or secret key were provided but not both)")]
    HalfKeys,
    /// `config/root` could not be read (the text says so).
    #[error("{0}")]
    Config(String),
}

/// Outside the issue paths (which answer every client error with 400, as Vault's
/// `logical.ErrorResponse`), a configuration that cannot work is the caller's to fix and a
/// storage failure is the server's.
impl From<ClientError> for Error {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::HalfKeys => Error::BadRequest(e.to_string()),
            ClientError::Config(_) => Error::Internal(e.to_string()),
        }
    }
}

/// Static keys, or `None` for the SDK's default chain; exactly one key is an error.
pub(crate) fn static_credentials(
    access_key: &str,
    secret_key: &str,
) -> Result<Option<Credentials>, ClientError> {
    match (access_key.is_empty(), secret_key.is_empty()) {
        (true, true) => Ok(None),
        (false, false) => Ok(Some(Credentials::new(
            access_key,
            secret_key,
            None,
            None,
            "config/root",
        ))),
        _ => Err(ClientError::HalfKeys),
    }
}

fn retry_config(max_retries: i64) -> RetryConfig {
    if max_retries < 0 {
        RetryConfig::standard()
    } else {
        let attempts = u32::try_from(max_retries.saturating_add(1)).unwrap_or(u32::MAX);
        RetryConfig::standard().with_max_attempts(attempts.max(1))
    }
}

/// A retry partition of its own with no retry quota.
///
/// The SDK's default shares one token bucket (500 tokens, 5 per retry, refilled only by
/// successes) between every client of a service in the process. Under sustained faults it runs
/// dry and later 5xx and throttling answers are no longer retried, and one mount's failing
/// account would starve every other mount's retries. Vault (aws-sdk-go v1) has no such quota;
/// each call is bounded by its attempts (`max_retries`) and by [`OPERATION_TIMEOUT`] instead,
/// and the backoff (exponential, full jitter) still spaces the attempts out.
fn retry_partition(service: &'static str) -> RetryPartition {
    RetryPartition::custom(service)
        .token_bucket(TokenBucket::unlimited())
        .build()
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// What every client of a mount reports to and is paced by: the mount's metrics and its
/// per-account pacers. `None` in either leaves that out (unit tests, one-off clients).
#[derive(Clone, Default)]
pub(crate) struct CallContext {
    pub(crate) metrics: Option<Arc<Metrics>>,
    pub(crate) pacers: Option<Arc<Pacers>>,
}

impl CallContext {
    /// The process's HTTPS client, paced for `service` of `account` when this context paces.
    fn http_client(&self, service: &'static str, account: &str) -> SharedHttpClient {
        let shared = shared_http_client();
        match &self.pacers {
            Some(pacers) => SharedHttpClient::new(PacedHttpClient::new(
                shared,
                pacers.get(service, account),
                self.metrics.clone(),
            )),
            None => shared,
        }
    }
}

/// One HTTPS client (connection pool, TLS configuration, root certificates) for every SDK client
/// of the process, whatever its mount or credentials: each extra mount then costs its caches,
/// not another TLS stack. The SDK's default client (hyper 1, rustls with aws-lc, the proxy from
/// `HTTPS_PROXY`/`NO_PROXY`, the connector timeouts each client asks for), built once.
fn shared_http_client() -> SharedHttpClient {
    static SHARED: OnceLock<SharedHttpClient> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            aws_smithy_http_client::Builder::new().build_with_connector_fn(
                |settings, components| {
                    let mut conn = aws_smithy_http_client::ConnectorBuilder::default()
                        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                            aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
                        ));
                    conn.set_connector_settings(settings.cloned());
                    if let Some(c) = components {
                        conn.set_sleep_impl(c.sleep_impl());
                    }
                    conn.set_proxy_config(Some(
                        aws_smithy_http_client::proxy::ProxyConfig::from_env(),
                    ));
                    conn.build()
                },
            )
        })
        .clone()
}

/// Shared SDK config for `creds` (static or default chain) in `region`.
pub(crate) async fn sdk_config(
    creds: Option<Credentials>,
    region: String,
    max_retries: i64,
) -> aws_config::SdkConfig {
    // No stalled-stream protection: IAM/STS bodies are a few hundred bytes, the read and
    // operation timeouts already bound a stalled answer, and its throughput checks cost a
    // timer per request body (a few percent of the plugin's CPU per call in the profile).
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region))
        .retry_config(retry_config(max_retries))
        .timeout_config(timeouts())
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
    loader = loader.http_client(shared_http_client());
    if let Some(c) = creds {
        loader = loader.credentials_provider(c);
    }
    loader.load().await
}

/// An IAM client for `account` (`""`: the mount's own), recorded and paced as `ctx` says.
pub(crate) fn iam_client_with(
    sdk: &aws_config::SdkConfig,
    endpoint: &str,
    ctx: &CallContext,
    account: &str,
) -> aws_sdk_iam::Client {
    let mut b = aws_sdk_iam::config::Builder::from(sdk).retry_partition(retry_partition("iam"));
    if let Some(m) = &ctx.metrics {
        b = b.interceptor(AwsCallMetrics(m.clone()));
    }
    b = b.http_client(ctx.http_client("IAM", account));
    if !endpoint.is_empty() {
        b = b.endpoint_url(endpoint);
    }
    aws_sdk_iam::Client::from_conf(b.build())
}

/// An STS client of the mount's own account, recorded and paced as `ctx` says.
pub(crate) fn sts_client_with(
    sdk: &aws_config::SdkConfig,
    endpoint: &str,
    region: &str,
    ctx: &CallContext,
) -> aws_sdk_sts::Client {
    let mut b = aws_sdk_sts::config::Builder::from(sdk).retry_partition(retry_partition("sts"));
    if let Some(m) = &ctx.metrics {
        b = b.interceptor(AwsCallMetrics(m.clone()));
    }
    b = b.http_client(ctx.http_client("STS", ""));
    if !endpoint.is_empty() {
        b = b.endpoint_url(endpoint);
        if !region.is_empty() {
            b = b.region(Region::new(region.to_string()));
        }
    }
    aws_sdk_sts::Client::from_conf(b.build())
}

/// STS clients in the order they are tried. Fallbacks only apply when
/// `sts_endpoint` is set (as in Vault); without it the SDK's regional default
/// is used — the case Vault 1.19.0–1.19.3 broke.
pub(crate) fn sts_endpoints(
    sdk: &aws_config::SdkConfig,
    cfg: &RootConfig,
    ctx: &CallContext,
) -> Vec<StsEndpoint> {
    if cfg.sts_endpoint.is_empty() {
        return vec![StsEndpoint {
            label: "the default STS endpoint".to_string(),
            client: sts_client_with(sdk, "", "", ctx),
        }];
    }
    let first = std::iter::once((cfg.sts_endpoint.as_str(), cfg.sts_region.as_str()));
    let rest = cfg
        .sts_fallback_endpoints
        .iter()
        .map(String::as_str)
        .zip(cfg.sts_fallback_regions.iter().map(String::as_str));
    first
        .chain(rest)
        .map(|(endpoint, region)| StsEndpoint {
            label: endpoint.to_string(),
            client: sts_client_with(sdk, endpoint, region, ctx),
        })
        .collect()
}

/// Builds both clients from the root config.
pub(crate) async fn build(cfg: &RootConfig, ctx: &CallContext) -> Result<Clients, ClientError> {
    let creds = static_credentials(&cfg.access_key, &cfg.secret_key)?;
    let sdk = sdk_config(creds, effective_region(&cfg.region), cfg.max_retries).await;
    Ok(Clients {
        config: Arc::new(cfg.clone()),
        iam: iam_client_with(&sdk, &cfg.iam_endpoint, ctx, ""),
        sts: sts_endpoints(&sdk, cfg, ctx),
    })
}

/// Clients using explicit keys against the same endpoints (rotate-root's new key).
pub(crate) async fn build_with_keys(
    cfg: &RootConfig,
    access_key: &str,
    secret_key: &str,
    ctx: &CallContext,
) -> Result<Clients, ClientError> {
    let mut c = cfg.clone();
    c.access_key = access_key.to_string();
    c.secret_key = secret_key.to_string();
    build(&c, ctx).await
}

/// A failed STS call: the last meaningful AWS answer, or every endpoint unreachable.
#[derive(Debug)]
pub(crate) enum StsFailure {
    Aws(AwsFailure),
    Unreachable(Vec<String>),
}

impl StsFailure {
    /// The user-facing error with Vault's `prefix` (`Error assuming role`, ...): 502 when AWS
    /// throttled or no endpoint answered, 400 for any other AWS refusal.
    pub(crate) fn into_error(self, prefix: &str) -> Error {
        match self {
            StsFailure::Aws(f) if f.throttled => Error::Coded(502, format!("{prefix}: {}", f.text)),
            StsFailure::Aws(f) => Error::bad(format!("{prefix}: {}", f.text)),
            StsFailure::Unreachable(all) => Error::Coded(
                502,
                format!(
                    "{prefix}: no STS endpoint could be reached: {}",
                    all.join("; ")
                ),
            ),
        }
    }
}

/// Runs `call` against each STS endpoint in order, moving to the next one only
/// when the previous could not be reached or answered 5xx (the call did not
/// definitely fail); any definite AWS answer ends the search.
pub(crate) async fn with_sts_fallback<T, E, F, Fut>(
    clients: &Clients,
    call: F,
) -> Result<T, StsFailure>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    F: Fn(aws_sdk_sts::Client) -> Fut,
    Fut: Future<Output = Result<T, SdkError<E>>>,
{
    let mut unreachable = Vec::new();
    for ep in &clients.sts {
        match call(ep.client.clone()).await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let f = AwsFailure::from_sdk(&e);
                if f.definitive || f.throttled {
                    return Err(StsFailure::Aws(f));
                }
                tracing::warn!(endpoint = %ep.label, error = %f.text, "STS endpoint failed; trying the next one");
                unreachable.push(format!("{}: {}", ep.label, f.text));
            }
        }
    }
    Err(StsFailure::Unreachable(unreachable))
}

/// Who to become in another account: `AssumeRole` into `role_arn` with the mount's own
/// credentials (static roles' `assume_role_arn`).
pub(crate) struct AssumeTarget<'a> {
    pub(crate) role_arn: &'a str,
    pub(crate) session_name: &'a str,
    /// `""` means none.
    pub(crate) external_id: &'a str,
}

/// An IAM client acting as `target`, on the mount's IAM endpoint. Built per use and never
/// cached: the session expires, and its credentials are not the mount's.
pub(crate) async fn assumed_iam_client(
    root: &Clients,
    target: &AssumeTarget<'_>,
    ctx: &CallContext,
) -> Result<aws_sdk_iam::Client, Error> {
    let prefix = format!("unable to assume role {}", target.role_arn);
    let session = assume_target(root, target, &prefix).await?;
    let sdk = session_sdk(&root.config, &session, "static-role-assume-role").await;
    Ok(iam_client_with(
        &sdk,
        &root.config.iam_endpoint,
        ctx,
        account_of_arn(target.role_arn),
    ))
}

/// The account id of an ARN (`arn:aws:iam::<account>:role/...`), `""` when it has none.
fn account_of_arn(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

/// `AssumeRole` into `target` with `root`'s credentials (STS fallback included); errors carry
/// `prefix`, as [`StsFailure::into_error`] words them.
pub(crate) async fn assume_target(
    root: &Clients,
    target: &AssumeTarget<'_>,
    prefix: &str,
) -> Result<aws_sdk_sts::types::Credentials, Error> {
    let out = with_sts_fallback(root, |sts| {
        let mut b = sts
            .assume_role()
            .role_arn(target.role_arn)
            .role_session_name(target.session_name);
        if !target.external_id.is_empty() {
            b = b.external_id(target.external_id);
        }
        b.send()
    })
    .await
    .map_err(|f| f.into_error(prefix))?;
    out.credentials
        .ok_or_else(|| Error::internal("AssumeRole returned no credentials"))
}

/// SDK config that signs with `session`'s credentials, in the mount's region, with its retries.
async fn session_sdk(
    cfg: &RootConfig,
    session: &aws_sdk_sts::types::Credentials,
    source: &'static str,
) -> aws_config::SdkConfig {
    let creds = Credentials::new(
        session.access_key_id(),
        session.secret_access_key(),
        Some(session.session_token().to_string()),
        None,
        source,
    );
    sdk_config(Some(creds), effective_region(&cfg.region), cfg.max_retries).await
}

/// IAM and STS clients that sign with `session`'s credentials on `root`'s endpoints (STS
/// fallbacks included): the intermediate role of role chaining.
pub(crate) async fn session_clients(
    root: &Clients,
    session: &aws_sdk_sts::types::Credentials,
    ctx: &CallContext,
) -> Clients {
    let cfg = &root.config;
    let sdk = session_sdk(cfg, session, "role-chaining-source").await;
    Clients {
        config: cfg.clone(),
        iam: iam_client_with(&sdk, &cfg.iam_endpoint, ctx, ""),
        sts: sts_endpoints(&sdk, cfg, ctx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_alone_is_refused() {
        assert!(static_credentials("", "").expect("chain").is_none());
        assert!(static_credentials("a", "b").expect("static").is_some());
        let e = static_credentials("a", "").expect_err("half");
        assert!(e.to_string().contains("haven't been properly configured"));
    }

    #[test]
    fn retries_map_to_attempts() {
        assert_eq!(retry_config(0).max_attempts(), 1);
        assert_eq!(retry_config(4).max_attempts(), 5);
        assert_eq!(
            retry_config(-1).max_attempts(),
            RetryConfig::standard().max_attempts()
        );
    }

    #[test]
    fn the_account_of_an_arn() {
        assert_eq!(
            account_of_arn("arn:aws:iam::111122223333:role/x"),
            "111122223333"
        );
        assert_eq!(account_of_arn("not-an-arn"), "");
    }

    #[test]
    fn configured_region_wins() {
        assert_eq!(effective_region("eu-west-3"), "eu-west-3");
    }
}
