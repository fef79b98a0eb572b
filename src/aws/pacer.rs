//! Client-side pacing of AWS calls, per account and service, shared by every operation of a
//! mount (issue, revoke, static rotation, root rotation, the orphan sweep).
//!
//! IAM and STS limits are per account and cannot be raised; a revoke storm or a burst of issues
//! that ignores them gets answered `Throttling` for most of its calls, fails requests, and makes
//! the server retry revocations for minutes (hashicorp/vault#2735). This module makes the
//! engine behave well at the limit:
//! - every attempt (first try or retry) waits for its turn in one first-come-first-served queue
//!   per account and service, so revokes, issues and rotations share the rate fairly and none
//!   starves another;
//! - the rate adapts the way the AWS SDKs' "adaptive" retry mode does (CUBIC): unlimited until
//!   AWS first throttles, then a fraction of the rate AWS served in the second before, growing
//!   back along a cubic curve that lingers near the last rate that worked;
//! - an answer that says "slow down" is never a failure: the request was not applied, so it is
//!   sent again when its turn comes (up to [`THROTTLE_RESEND_LIMIT`] times or until
//!   [`THROTTLE_RESEND_WINDOW`] has passed, well inside the request's 60 s deadline), and no
//!   step of an issue or a teardown is skipped because of throttling.
//!
//! It sits at the HTTP layer of the AWS SDK ([`PacedHttpClient`] wraps the SDK's own client), so
//! every call made through the engine's clients is paced without touching a call site. The SDK
//! has an adaptive mode of its own, but it cannot be shared by several clients of one account
//! except through a process-wide partition name, it does not serve callers in arrival order, and
//! a throttled call there still fails once its few attempts are used up.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;

use super::aws_error::says_slow_down;
use super::metrics::Metrics;

/// How many times one request is sent again after a throttling answer before the answer is
/// handed to the SDK (whose own retries then apply).
pub(crate) const THROTTLE_RESEND_LIMIT: u32 = 30;
/// How long after its first attempt a request may still be sent again after throttling. A
/// signed request stays valid for five minutes; this keeps well inside the request deadline.
pub(crate) const THROTTLE_RESEND_WINDOW: Duration = Duration::from_secs(45);

/// After a throttle, the rate drops to this fraction of what AWS answered in the last second.
const BETA: f64 = 0.8;
/// How fast the rate grows back (calls/s per s³ on the cubic curve).
const SCALE: f64 = 0.4;
/// The rate never drops below this many calls per second.
const MIN_RATE: f64 = 0.5;
/// The window over which answers are counted to tell the rate AWS is serving.
const WINDOW: Duration = Duration::from_secs(1);
/// Throttles closer together than this are one event: the calls already in flight when the
/// first came back are not news.
const SAME_EVENT: Duration = Duration::from_millis(500);

/// One account's and one service's queue and rate.
pub(crate) struct Pacer {
    service: &'static str,
    /// Callers wait here in arrival order (tokio's mutex is fair); only the one at the head
    /// sleeps until its time, so a change of rate applies to every call still waiting.
    queue: tokio::sync::Mutex<()>,
    state: Mutex<State>,
}

struct State {
    /// False until the first throttle: before that, calls go out as they come.
    enabled: bool,
    /// Calls per second allowed now.
    rate: f64,
    /// When the last paced call went.
    last_sent: Option<Instant>,
    /// The rate AWS served when it last throttled, and when that was.
    last_max: f64,
    last_throttle: Instant,
    /// When AWS answered (without throttling) in the last [`WINDOW`].
    answers: VecDeque<Instant>,
}

impl fmt::Debug for Pacer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pacer")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Pacer {
    /// A pacer for `service` (`IAM`, `STS`), unlimited until the first throttle.
    pub(crate) fn new(service: &'static str) -> Self {
        Self {
            service,
            queue: tokio::sync::Mutex::new(()),
            state: Mutex::new(State {
                enabled: false,
                rate: f64::INFINITY,
                last_sent: None,
                last_max: 0.0,
                last_throttle: Instant::now(),
                answers: VecDeque::new(),
            }),
        }
    }

    /// The service this pacer is for.
    pub(crate) fn service(&self) -> &'static str {
        self.service
    }

    fn enabled(&self) -> bool {
        self.state.lock().map(|s| s.enabled).unwrap_or(false)
    }

    /// How long the call at the head of the queue must still wait; `None` takes its turn now.
    fn turn(&self) -> Option<Duration> {
        let now = Instant::now();
        let mut s = self.state.lock().ok()?;
        let gap = Duration::from_secs_f64(1.0 / s.rate);
        match s.last_sent.map(|t| t + gap) {
            Some(next) if next > now => Some(next - now),
            _ => {
                s.last_sent = Some(now);
                None
            }
        }
    }

    /// Waits for this call's turn; returns how long it waited.
    pub(crate) async fn acquire(&self) -> Duration {
        if !self.enabled() {
            return Duration::ZERO;
        }
        let started = Instant::now();
        let _turn = self.queue.lock().await;
        while let Some(wait) = self.turn() {
            tokio::time::sleep(wait).await;
        }
        started.elapsed()
    }

    /// AWS answered without asking us to slow down: the rate grows back along the curve.
    pub(crate) fn on_answer(&self) {
        let now = Instant::now();
        if let Ok(mut s) = self.state.lock() {
            s.answered(now);
            if s.enabled {
                let served = s.answers.len() as f64 / WINDOW.as_secs_f64();
                s.rate = s.cubic(now).min(2.0 * served.max(MIN_RATE)).max(MIN_RATE);
            }
        }
    }

    /// AWS asked us to slow down.
    pub(crate) fn on_throttle(&self) {
        let now = Instant::now();
        if let Ok(mut s) = self.state.lock() {
            if s.enabled && now.duration_since(s.last_throttle) < SAME_EVENT {
                return;
            }
            s.answered(now);
            s.answers.pop_back();
            // What AWS served in the last second is the best estimate of what it allows.
            let served = (s.answers.len() as f64 / WINDOW.as_secs_f64()).max(MIN_RATE);
            let base = if s.enabled {
                served.min(s.rate)
            } else {
                served
            };
            s.last_max = base;
            s.last_throttle = now;
            s.rate = (base * BETA).max(MIN_RATE);
            s.enabled = true;
            tracing::debug!(
                service = self.service,
                rate = s.rate,
                "AWS throttled; slowing down"
            );
        }
    }

    /// The rate now (calls per second), `None` while unlimited.
    #[cfg(test)]
    pub(crate) fn rate(&self) -> Option<f64> {
        self.state
            .lock()
            .ok()
            .and_then(|s| s.enabled.then_some(s.rate))
    }
}

impl State {
    /// Records an answer now and forgets those older than the window.
    fn answered(&mut self, now: Instant) {
        self.answers.push_back(now);
        while self
            .answers
            .front()
            .is_some_and(|t| now.duration_since(*t) > WINDOW)
        {
            self.answers.pop_front();
        }
    }

    /// CUBIC: back at `last_max` after `k` seconds, slow near it, faster beyond.
    fn cubic(&self, now: Instant) -> f64 {
        let k = (self.last_max * (1.0 - BETA) / SCALE).cbrt();
        let t = now.duration_since(self.last_throttle).as_secs_f64() - k;
        SCALE * t.powi(3) + self.last_max
    }
}

/// The pacers of one mount, one per account and service, kept across client rebuilds (a new
/// `config/root` or a rotated root key is still the same account).
#[derive(Default)]
pub(crate) struct Pacers {
    by_key: Mutex<HashMap<String, Arc<Pacer>>>,
}

impl Pacers {
    /// The pacer of `service` for the account named `account` (`""` for the mount's own).
    pub(crate) fn get(&self, service: &'static str, account: &str) -> Arc<Pacer> {
        let key = format!("{service}/{account}");
        match self.by_key.lock() {
            Ok(mut m) => m
                .entry(key)
                .or_insert_with(|| Arc::new(Pacer::new(service)))
                .clone(),
            Err(_) => Arc::new(Pacer::new(service)),
        }
    }
}

/// The SDK's HTTP client with every attempt paced by one [`Pacer`].
#[derive(Clone)]
pub(crate) struct PacedHttpClient {
    inner: SharedHttpClient,
    pacer: Arc<Pacer>,
    metrics: Option<Arc<Metrics>>,
}

impl PacedHttpClient {
    /// Wraps `inner`.
    pub(crate) fn new(
        inner: SharedHttpClient,
        pacer: Arc<Pacer>,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        Self {
            inner,
            pacer,
            metrics,
        }
    }
}

impl HttpClient for PacedHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            pacer: self.pacer.clone(),
            metrics: self.metrics.clone(),
        })
    }
}

struct PacedConnector {
    inner: SharedHttpConnector,
    pacer: Arc<Pacer>,
    metrics: Option<Arc<Metrics>>,
}

impl fmt::Debug for PacedHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacedHttpClient")
            .field("pacer", &self.pacer)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PacedConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacedConnector")
            .field("pacer", &self.pacer)
            .finish_non_exhaustive()
    }
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let pacer = self.pacer.clone();
        let metrics = self.metrics.clone();
        HttpConnectorFuture::new(async move {
            let started = Instant::now();
            let action = action_of(&request);
            let mut request = request;
            let mut resent = 0;
            loop {
                let again = request.try_clone();
                let waited = pacer.acquire().await;
                if let Some(m) = &metrics {
                    m.observe(
                        "vault_aws_pacer_wait_seconds",
                        vec![("service", pacer.service().to_string())],
                        waited,
                    );
                }
                let mut response = inner.call(request).await?;
                let status = response.status().as_u16();
                if status != 429 && !(400..500).contains(&status) {
                    pacer.on_answer();
                    return Ok(response);
                }
                // An error answer is small: read it to see whether AWS asked us to slow down,
                // and hand the SDK the same bytes.
                let body = std::mem::replace(response.body_mut(), SdkBody::taken());
                let bytes = ByteStream::new(body)
                    .collect()
                    .await
                    .map(|b| b.into_bytes())
                    .unwrap_or_default();
                let throttled = status == 429 || says_slow_down(&bytes);
                *response.body_mut() = SdkBody::from(bytes);
                if !throttled {
                    pacer.on_answer();
                    return Ok(response);
                }
                pacer.on_throttle();
                let Some(next) = again else {
                    return Ok(response);
                };
                if resent >= THROTTLE_RESEND_LIMIT || started.elapsed() >= THROTTLE_RESEND_WINDOW {
                    return Ok(response);
                }
                resent += 1;
                if let Some(m) = &metrics {
                    m.add(
                        "vault_aws_api_throttles_total",
                        vec![
                            ("service", pacer.service().to_string()),
                            ("operation", action.clone()),
                        ],
                        1,
                    );
                    m.add(
                        "vault_aws_api_retries_total",
                        vec![
                            ("service", pacer.service().to_string()),
                            ("operation", action.clone()),
                            ("class", "throttling".to_string()),
                        ],
                        1,
                    );
                }
                request = next;
            }
        })
    }
}

/// The query API's `Action` of a request (`CreateUser`), for metrics; `""` when not found.
fn action_of(request: &HttpRequest) -> String {
    request
        .body()
        .bytes()
        .and_then(|b| {
            b.split(|c| *c == b'&')
                .find_map(|kv| kv.strip_prefix(b"Action="))
                .map(|a| String::from_utf8_lossy(a).into_owned())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(p: &Pacer, per_second: usize) {
        let mut s = p.state.lock().expect("lock");
        let now = Instant::now();
        for _ in 0..per_second {
            s.answers.push_back(now);
        }
    }

    #[tokio::test]
    async fn unlimited_until_the_first_throttle() {
        let p = Pacer::new("IAM");
        for _ in 0..100 {
            assert_eq!(p.acquire().await, Duration::ZERO);
        }
        assert_eq!(p.rate(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttle_slows_down_to_a_share_of_what_aws_served() {
        let p = Pacer::new("IAM");
        served(&p, 20);
        p.on_throttle();
        let rate = p.rate().expect("enabled");
        assert!((rate - 16.0).abs() < 1e-9, "{rate}");
        // Calls now go one every 1/16 s.
        let started = tokio::time::Instant::now();
        for _ in 0..9 {
            p.acquire().await;
        }
        let took = started.elapsed().as_secs_f64();
        assert!((took - 8.0 / 16.0).abs() < 0.01, "{took}");
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_calls_go_in_arrival_order() {
        let p = Arc::new(Pacer::new("IAM"));
        served(&p, 10);
        p.on_throttle();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..6 {
            let (p, order) = (p.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                p.acquire().await;
                order.lock().expect("lock").push(i);
            }));
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.expect("task");
        }
        assert_eq!(*order.lock().expect("lock"), vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn throttles_of_one_burst_count_once() {
        let p = Pacer::new("IAM");
        served(&p, 20);
        p.on_throttle();
        p.on_throttle();
        p.on_throttle();
        assert!((p.rate().expect("enabled") - 16.0).abs() < 1e-9);
    }

    #[test]
    fn the_rate_grows_back_towards_the_last_max() {
        let p = Pacer::new("IAM");
        served(&p, 20);
        p.on_throttle();
        {
            let mut s = p.state.lock().expect("lock");
            s.last_throttle -= Duration::from_secs(3);
        }
        served(&p, 16);
        p.on_answer();
        let rate = p.rate().expect("enabled");
        assert!(rate > 16.0 && rate < 40.0, "{rate}");
    }

    #[test]
    fn pacers_are_shared_per_account_and_service() {
        let pacers = Pacers::default();
        assert!(Arc::ptr_eq(&pacers.get("IAM", ""), &pacers.get("IAM", "")));
        assert!(!Arc::ptr_eq(&pacers.get("IAM", ""), &pacers.get("STS", "")));
        assert!(!Arc::ptr_eq(
            &pacers.get("IAM", ""),
            &pacers.get("IAM", "111122223333")
        ));
    }
}
