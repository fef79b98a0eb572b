//! Per-mount metrics in Prometheus text format, served at `<mount>/metrics`.
//!
//! Hand-written rather than a metrics crate: a few dozen counters and histograms per mount
//! (multiplexed mounts must not share a global registry), and the exposition format is a few
//! lines of text. `catalog.rs` lists every metric and the series that exist from start-up;
//! `aws_calls.rs` records every AWS call through an SDK interceptor.

mod aws_calls;
mod catalog;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) use aws_calls::{count_own_retry, AwsCallMetrics, BestEffortCall};
pub(crate) use catalog::{
    RequestOutcome, ISSUED, ISSUE_SECONDS, KEY_READY_SECONDS, KEY_READY_TIMEOUTS, ORPHANS_DELETED,
    ORPHAN_DELETE_FAILURES, ORPHAN_SWEEPS, REVOKED, REVOKE_SECONDS, ROOT_KEY_DELETE_PENDING,
    ROOT_ROTATIONS, ROOT_ROTATION_FAILING, STATIC_QUEUE_DEPTH, STATIC_ROTATIONS, WAL_ENTRIES,
    WAL_OLDEST_AGE,
};

use catalog::{kind_of, Kind, Labels, METRICS};

/// Latency buckets, seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

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

/// A series' identity: the metric name and its labels sorted by key, so a caller that lists the
/// same labels in another order adds to the same series (two series with one label set would
/// make Prometheus reject the whole scrape).
type SeriesKey = (&'static str, Labels);

/// One series: its labels in the order they are shown, and its value.
struct Series<T> {
    shown: Labels,
    value: T,
}

#[derive(Default)]
struct Inner {
    counters: BTreeMap<SeriesKey, Series<u64>>,
    histograms: BTreeMap<SeriesKey, Series<Histogram>>,
    /// `(service, operation)` of the AWS calls outside the catalog whose counters exist.
    calls: BTreeSet<(String, String)>,
}

fn key(name: &'static str, labels: &Labels) -> SeriesKey {
    let mut sorted = labels.clone();
    sorted.sort();
    (name, sorted)
}

/// The value of series `(name, labels)` in `map`, created at its default (0) when new.
fn series<'a, T: Default>(
    map: &'a mut BTreeMap<SeriesKey, Series<T>>,
    name: &'static str,
    labels: Labels,
) -> &'a mut T {
    &mut map
        .entry(key(name, &labels))
        .or_insert_with(|| Series {
            shown: labels,
            value: T::default(),
        })
        .value
}

/// One mount's metrics. Every series an alert reads exists from creation (a mount's Setup) at 0:
/// the catalog's start-up series are added at render time, so a mount that has seen no traffic
/// holds no series at all (one process may serve many mounts).
#[derive(Default)]
pub(crate) struct Metrics {
    inner: Mutex<Inner>,
}

impl Inner {
    /// The catalog's start-up series at 0.
    fn startup() -> Self {
        let mut inner = Inner::default();
        for (name, labels) in catalog::startup_series() {
            match kind_of(name) {
                Some(Kind::Histogram) => {
                    series(&mut inner.histograms, name, labels);
                }
                _ => {
                    series(&mut inner.counters, name, labels);
                }
            }
        }
        inner
    }

    /// The start-up series with this mount's recorded values added: what a scrape shows.
    fn view(&self) -> Self {
        let mut view = Inner::startup();
        for ((name, _), s) in &self.counters {
            *series(&mut view.counters, name, s.shown.clone()) += s.value;
        }
        for ((name, _), s) in &self.histograms {
            let h = series(&mut view.histograms, name, s.shown.clone());
            for (total, n) in h.counts.iter_mut().zip(s.value.counts) {
                *total += n;
            }
            h.sum += s.value.sum;
            h.count += s.value.count;
        }
        view
    }
}

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
    /// Adds `n` to counter `name` (a name from the catalog; a typo panics in debug builds).
    pub(crate) fn add(&self, name: &'static str, labels: Labels, n: u64) {
        debug_assert_eq!(kind_of(name), Some(Kind::Counter), "not a counter: {name}");
        if let Ok(mut g) = self.inner.lock() {
            *series(&mut g.counters, name, labels) += n;
        }
    }

    /// Records a duration in histogram `name`.
    pub(crate) fn observe(&self, name: &'static str, labels: Labels, d: Duration) {
        debug_assert_eq!(
            kind_of(name),
            Some(Kind::Histogram),
            "not a histogram: {name}"
        );
        if let Ok(mut g) = self.inner.lock() {
            series(&mut g.histograms, name, labels).observe(d.as_secs_f64());
        }
    }

    /// Creates the counters of an AWS call at 0 unless they exist (a call the catalog does not
    /// list), so its first outcome is an increase Prometheus can see.
    fn ensure_call(&self, service: &str, operation: &str) {
        if service.is_empty() || catalog::known_calls().any(|c| c == (service, operation)) {
            return; // the catalog's calls are start-up series already
        }
        if let Ok(mut g) = self.inner.lock() {
            let call = (service.to_string(), operation.to_string());
            if g.calls.contains(&call) {
                return;
            }
            for (name, labels) in catalog::call_series(service, operation) {
                series(&mut g.counters, name, labels);
            }
            g.calls.insert(call);
        }
    }

    /// Records one issue or revoke: the counter by type and outcome, and the latency histogram
    /// by type and outcome. A rejected request is counted but not timed: it says nothing about
    /// how long issuing takes.
    pub(crate) fn record(
        &self,
        counter: &'static str,
        histogram: &'static str,
        cred_type: &str,
        outcome: RequestOutcome,
        started: Instant,
    ) {
        let labels = vec![
            ("type", cred_type.to_string()),
            ("outcome", outcome.as_str().to_string()),
        ];
        if outcome != RequestOutcome::Rejected {
            self.observe(histogram, labels.clone(), started.elapsed());
        }
        self.add(counter, labels, 1);
    }

    /// Records how long one phase of an issue took (`wal_put`, `aws`, `wal_delete`).
    pub(crate) fn issue_phase(&self, cred_type: &str, phase: &'static str, started: Instant) {
        self.observe(
            catalog::ISSUE_PHASE_SECONDS,
            vec![
                ("type", cred_type.to_string()),
                ("phase", phase.to_string()),
            ],
            started.elapsed(),
        );
    }

    /// The exposition text, with the given gauges (computed at scrape time) appended.
    pub(crate) fn render(&self, gauges: &[(&'static str, f64)]) -> String {
        let mut out = String::new();
        let Ok(g) = self.inner.lock().map(|g| g.view()) else {
            return out;
        };
        for (name, kind, help) in METRICS {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {}", kind.as_str());
            match kind {
                Kind::Counter => {
                    for ((_, _), s) in g.counters.iter().filter(|((n, _), _)| n == name) {
                        let _ =
                            writeln!(out, "{name}{} {}", render_labels(&s.shown, None), s.value);
                    }
                }
                Kind::Histogram => {
                    for ((_, _), s) in g.histograms.iter().filter(|((n, _), _)| n == name) {
                        render_histogram(&mut out, name, &s.shown, &s.value);
                    }
                }
                Kind::Gauge => {
                    for (_, v) in gauges.iter().filter(|(g, _)| g == name) {
                        let _ = writeln!(out, "{name} {v}");
                    }
                }
            }
        }
        out
    }
}

fn render_histogram(out: &mut String, name: &str, labels: &Labels, h: &Histogram) {
    for (i, b) in BUCKETS.iter().enumerate() {
        let _ = writeln!(
            out,
            "{name}_bucket{} {}",
            render_labels(labels, Some(("le", b.to_string()))),
            h.counts[i]
        );
    }
    let _ = writeln!(
        out,
        "{name}_bucket{} {}",
        render_labels(labels, Some(("le", "+Inf".into()))),
        h.count
    );
    let _ = writeln!(out, "{name}_sum{} {}", render_labels(labels, None), h.sum);
    let _ = writeln!(
        out,
        "{name}_count{} {}",
        render_labels(labels, None),
        h.count
    );
}

#[cfg(test)]
mod tests;
