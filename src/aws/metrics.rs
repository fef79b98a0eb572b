//! Per-mount metrics in Prometheus text format, served at `<mount>/metrics`.
//!
//! Hand-written rather than a metrics crate: a handful of counters and
//! histograms per mount (multiplexed mounts must not share a global registry),
//! and the exposition format is a few lines of text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use super::aws_error::says_slow_down;

/// Latency buckets, seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

type Labels = Vec<(&'static str, String)>;

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }
}

#[derive(Default)]
struct Inner {
    counters: BTreeMap<(&'static str, Labels), u64>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
}

/// One mount's metrics.
#[derive(Default)]
pub(crate) struct Metrics {
    inner: Mutex<Inner>,
}

/// Help text per metric name.
const HELP: &[(&str, &str, &str)] = &[
    (
        "vault_aws_credentials_issued_total",
        "counter",
        "Credential issue requests by credential type and outcome.",
    ),
    (
        "vault_aws_credential_issue_seconds",
        "histogram",
        "Time to issue credentials, by credential type.",
    ),
    (
        "vault_aws_revocations_total",
        "counter",
        "Lease revocations by credential type and outcome.",
    ),
    (
        "vault_aws_revoke_seconds",
        "histogram",
        "Time to revoke a lease, by credential type.",
    ),
    (
        "vault_aws_api_calls_total",
        "counter",
        "AWS API calls by service, operation and outcome.",
    ),
    (
        "vault_aws_api_seconds",
        "histogram",
        "AWS API call latency including retries, by service and operation.",
    ),
    (
        "vault_aws_api_retries_total",
        "counter",
        "Extra attempts, by service, operation and the class of the failure that caused them \
         (throttling, server_error, timeout, transport, other from the SDK retryer; not_yet_visible \
         when IAM did not yet show a user created a moment before).",
    ),
    (
        "vault_aws_api_throttles_total",
        "counter",
        "AWS answers that said slow down (each attempt), by service and operation.",
    ),
    (
        "vault_aws_issue_phase_seconds",
        "histogram",
        "Time each phase of an issue took (wal_put, aws, wal_delete), by credential type: where an \
         issue's time goes.",
    ),
    (
        "vault_aws_pacer_wait_seconds",
        "histogram",
        "Time an AWS call waited for its turn at the account's client-side rate limit, by service.",
    ),
    (
        "vault_aws_static_rotations_total",
        "counter",
        "Static role rotations by outcome.",
    ),
    (
        "vault_aws_wal_entries",
        "gauge",
        "WAL entries waiting (half-done work not yet owned by a lease).",
    ),
    (
        "vault_aws_static_queue_depth",
        "gauge",
        "Static roles in the rotation schedule.",
    ),
];

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn render_labels(labels: &Labels, extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

impl Metrics {
    /// Adds `n` to a counter.
    pub(crate) fn add(&self, name: &'static str, labels: Labels, n: u64) {
        if let Ok(mut g) = self.inner.lock() {
            *g.counters.entry((name, labels)).or_default() += n;
        }
    }

    /// Records a duration.
    pub(crate) fn observe(&self, name: &'static str, labels: Labels, d: Duration) {
        if let Ok(mut g) = self.inner.lock() {
            g.histograms
                .entry((name, labels))
                .or_default()
                .observe(d.as_secs_f64());
        }
    }

    /// Records one issue or revoke: a counter with the outcome and a latency histogram.
    pub(crate) fn record(
        &self,
        counter: &'static str,
        histogram: &'static str,
        cred_type: &str,
        ok: bool,
        started: Instant,
    ) {
        let outcome = if ok { "success" } else { "error" };
        self.add(
            counter,
            vec![
                ("type", cred_type.to_string()),
                ("outcome", outcome.to_string()),
            ],
            1,
        );
        self.observe(
            histogram,
            vec![("type", cred_type.to_string())],
            started.elapsed(),
        );
    }

    /// Records how long one phase of an issue took (`wal_put`, `aws`, `wal_delete`).
    pub(crate) fn issue_phase(&self, cred_type: &str, phase: &'static str, started: Instant) {
        self.observe(
            "vault_aws_issue_phase_seconds",
            vec![
                ("type", cred_type.to_string()),
                ("phase", phase.to_string()),
            ],
            started.elapsed(),
        );
    }

    /// The exposition text, with the given gauges appended.
    pub(crate) fn render(&self, gauges: &[(&'static str, f64)]) -> String {
        let mut out = String::new();
        let Ok(g) = self.inner.lock() else {
            return out;
        };
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            match *kind {
                "counter" => {
                    for ((n, labels), v) in g.counters.iter().filter(|((n, _), _)| n == name) {
                        let _ = writeln!(out, "{n}{} {v}", render_labels(labels, None));
                    }
                }
                "histogram" => {
                    for ((n, labels), h) in g.histograms.iter().filter(|((n, _), _)| n == name) {
                        for (i, b) in BUCKETS.iter().enumerate() {
                            let _ = writeln!(
                                out,
                                "{n}_bucket{} {}",
                                render_labels(labels, Some(("le", b.to_string()))),
                                h.counts[i]
                            );
                        }
                        let _ = writeln!(
                            out,
                            "{n}_bucket{} {}",
                            render_labels(labels, Some(("le", "+Inf".into()))),
                            h.count
                        );
                        let _ = writeln!(out, "{n}_sum{} {}", render_labels(labels, None), h.sum);
                        let _ =
                            writeln!(out, "{n}_count{} {}", render_labels(labels, None), h.count);
                    }
                }
                _ => {
                    for (gname, v) in gauges.iter().filter(|(g, _)| g == name) {
                        let _ = writeln!(out, "{gname} {v}");
                    }
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy)]
struct CallState {
    started: Instant,
    attempts: u32,
    /// Why the latest attempt failed, when it did: the class a retry is counted under.
    last_failure: Option<&'static str>,
}

impl Storable for CallState {
    type Storer = StoreReplace<Self>;
}

/// `(service, operation)` of the call the SDK is making.
fn call_names(cfg: &ConfigBag) -> (String, String) {
    cfg.load::<Metadata>()
        .map(|m| (m.service().to_string(), m.name().to_string()))
        .unwrap_or_default()
}

/// The class of a failed attempt (`None` when it succeeded), for the retry counter.
fn failure_class(ctx: &FinalizerInterceptorContextRef<'_>) -> Option<&'static str> {
    match ctx.output_or_error() {
        None | Some(Ok(_)) => None,
        Some(Err(e)) => Some(match ctx.response() {
            Some(r) if r.status().as_u16() == 429 => "throttling",
            Some(r)
                if r.status().as_u16() >= 400 && r.body().bytes().is_some_and(says_slow_down) =>
            {
                "throttling"
            }
            Some(r) if r.status().is_server_error() => "server_error",
            _ if e.is_timeout_error() || e.as_connector_error().is_some_and(|c| c.is_timeout()) => {
                "timeout"
            }
            None => "transport",
            Some(_) => "other",
        }),
    }
}

/// Counts an extra attempt the engine itself made (outside the SDK retryer).
pub(crate) fn count_own_retry(m: &Metrics, operation: &str, class: &'static str) {
    m.add(
        "vault_aws_api_retries_total",
        vec![
            ("service", "IAM".to_string()),
            ("operation", operation.to_string()),
            ("class", class.to_string()),
        ],
        1,
    );
}

/// SDK interceptor recording every AWS call's latency, retries and outcome.
#[derive(Clone)]
pub(crate) struct AwsCallMetrics(pub(crate) Arc<Metrics>);

impl std::fmt::Debug for AwsCallMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AwsCallMetrics")
    }
}

impl Intercept for AwsCallMetrics {
    fn name(&self) -> &'static str {
        "AwsCallMetrics"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(CallState {
            started: Instant::now(),
            attempts: 0,
            last_failure: None,
        });
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(mut s) = cfg.load::<CallState>().copied() {
            if s.attempts > 0 {
                let (service, operation) = call_names(cfg);
                self.0.add(
                    "vault_aws_api_retries_total",
                    vec![
                        ("service", service),
                        ("operation", operation),
                        ("class", s.last_failure.unwrap_or("other").to_string()),
                    ],
                    1,
                );
            }
            s.attempts += 1;
            cfg.interceptor_state().store_put(s);
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(mut s) = cfg.load::<CallState>().copied() {
            s.last_failure = failure_class(ctx);
            cfg.interceptor_state().store_put(s);
        }
        Ok(())
    }

    /// Per attempt: an answer that says "slow down" (HTTP 429, or AWS's throttling codes in the body).
    fn read_after_deserialization(
        &self,
        ctx: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let r = ctx.response();
        let throttled = r.status().as_u16() == 429
            || (r.status().as_u16() >= 400 && r.body().bytes().is_some_and(says_slow_down));
        if throttled {
            let (service, operation) = call_names(cfg);
            self.0.add(
                "vault_aws_api_throttles_total",
                vec![("service", service), ("operation", operation)],
                1,
            );
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = call_names(cfg);
        let Some(state) = cfg.load::<CallState>().copied() else {
            return Ok(());
        };
        let ok = matches!(ctx.output_or_error(), Some(Ok(_)));
        let labels = || {
            vec![
                ("service", service.clone()),
                ("operation", operation.clone()),
            ]
        };
        let mut with_outcome = labels();
        with_outcome.push((
            "outcome",
            if ok { "success".into() } else { "error".into() },
        ));
        self.0.add("vault_aws_api_calls_total", with_outcome, 1);
        self.0
            .observe("vault_aws_api_seconds", labels(), state.started.elapsed());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.record(
            "vault_aws_credentials_issued_total",
            "vault_aws_credential_issue_seconds",
            "iam_user",
            true,
            Instant::now(),
        );
        m.add(
            "vault_aws_static_rotations_total",
            vec![("outcome", "error".into())],
            2,
        );
        let text = m.render(&[("vault_aws_wal_entries", 3.0)]);
        assert!(
            text.contains(
                "vault_aws_credentials_issued_total{type=\"iam_user\",outcome=\"success\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("vault_aws_credential_issue_seconds_count{type=\"iam_user\"} 1"));
        assert!(text.contains(
            "vault_aws_credential_issue_seconds_bucket{type=\"iam_user\",le=\"+Inf\"} 1"
        ));
        assert!(text.contains("vault_aws_static_rotations_total{outcome=\"error\"} 2"));
        assert!(text.contains("vault_aws_wal_entries 3"));
        assert!(text.contains("# TYPE vault_aws_api_seconds histogram"));
    }
}
