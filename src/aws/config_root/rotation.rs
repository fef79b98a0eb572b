//! Automated rotation of the root key as `config/root` stores it: Vault Enterprise's four fields
//! (`rotation_period`, `rotation_schedule`, `rotation_window`, `disable_automated_rotation`) with
//! their rules, and the engine's record of when the next rotation is due, how the last one went
//! and which old keys still wait for their delete.
//!
//! Both live inside the `config/root` entry, so that a rotation stores the new key, the next due
//! time and the old key still to delete in one write: no crash, restart or failover can leave a
//! new key with the old due time (a second rotation) or an old key that nothing will delete.
//! What to do at a given moment is decided here by [`plan`], a pure function, so the timing
//! rules are unit-tested without a clock or AWS.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use croner::parser::{CronParser, Seconds, Year};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::gocompat::time::{parse_rfc3339, rfc3339};

/// Vault's `minRotationWindowSeconds` (sdk/rotation/schedule.go).
pub(crate) const MIN_WINDOW: Duration = Duration::from_secs(3600);
/// The shortest `rotation_period` Vault Enterprise documents for root credentials.
pub(crate) const MIN_PERIOD: Duration = Duration::from_secs(10);
/// First retry delay after a failed rotation or old-key delete; doubles up to [`MAX_RETRY`].
pub(crate) const FIRST_RETRY: Duration = Duration::from_secs(10);
/// Longest retry delay.
pub(crate) const MAX_RETRY: Duration = Duration::from_secs(300);

const NANOS: i64 = 1_000_000_000;

/// The four fields, in Vault's stored shape (durations as Go `time.Duration` nanoseconds).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RotationSettings {
    pub(crate) rotation_schedule: String,
    pub(crate) rotation_window: i64,
    pub(crate) rotation_period: i64,
    pub(crate) disable_automated_rotation: bool,
}

/// The rotation fields of one write; `None` = not supplied; durations in seconds.
#[derive(Debug, Default)]
pub(crate) struct RotationInput {
    pub(crate) schedule: Option<String>,
    pub(crate) window: Option<i64>,
    pub(crate) period: Option<i64>,
    pub(crate) disable: Option<bool>,
}

/// A rule the rotation fields break; the texts are Vault's (sdk automatedrotationutil and
/// sdk/rotation) where Vault has one, and each names the field.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RotationFieldError {
    #[error("mutually exclusive fields rotation_schedule and rotation_period were both specified; only one of them can be provided")]
    MutuallyExclusive,
    #[error("rotation_window does not apply to period")]
    WindowWithPeriod,
    #[error("cannot use rotation_window without rotation_schedule")]
    WindowWithoutSchedule,
    #[error("failed to parse provided rotation_schedule: {0}")]
    BadSchedule(String),
    #[error("rotation_window must be {} seconds or more", MIN_WINDOW.as_secs())]
    WindowTooShort,
    #[error("rotation_period must be {} seconds or more", MIN_PERIOD.as_secs())]
    PeriodTooShort,
}

impl RotationInput {
    /// Merges this write into `base` (only supplied fields change, as every `config/root` field)
    /// and checks the result.
    pub(crate) fn apply(
        &self,
        mut base: RotationSettings,
    ) -> Result<RotationSettings, RotationFieldError> {
        // Vault's request-level checks first, so both fields in one request get Vault's text.
        let period_given = self.period.is_some_and(|p| p != 0);
        if period_given && self.schedule.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(RotationFieldError::MutuallyExclusive);
        }
        if period_given && self.window.is_some_and(|w| w != 0) {
            return Err(RotationFieldError::WindowWithPeriod);
        }
        if let Some(s) = &self.schedule {
            base.rotation_schedule = s.clone();
        }
        if let Some(w) = self.window {
            base.rotation_window = w.saturating_mul(NANOS);
        }
        if let Some(p) = self.period {
            base.rotation_period = p.saturating_mul(NANOS);
        }
        if let Some(d) = self.disable {
            base.disable_automated_rotation = d;
        }
        base.validate()?;
        Ok(base)
    }
}

impl RotationSettings {
    /// The rules on the merged settings (a write may supply one field and rely on a stored one).
    fn validate(&self) -> Result<(), RotationFieldError> {
        let has_schedule = !self.rotation_schedule.is_empty();
        if has_schedule && self.rotation_period != 0 {
            return Err(RotationFieldError::MutuallyExclusive);
        }
        if has_schedule {
            CronSchedule::parse(&self.rotation_schedule)
                .map_err(RotationFieldError::BadSchedule)?;
        }
        if self.rotation_window != 0 {
            if self.rotation_period != 0 {
                return Err(RotationFieldError::WindowWithPeriod);
            }
            if !has_schedule {
                return Err(RotationFieldError::WindowWithoutSchedule);
            }
            if self.rotation_window < MIN_WINDOW.as_secs() as i64 * NANOS {
                return Err(RotationFieldError::WindowTooShort);
            }
        }
        if self.rotation_period != 0 && self.rotation_period < MIN_PERIOD.as_secs() as i64 * NANOS {
            return Err(RotationFieldError::PeriodTooShort);
        }
        Ok(())
    }

    /// When rotations happen under these settings.
    pub(crate) fn timing(&self) -> Timing {
        if self.disable_automated_rotation {
            return Timing::Off;
        }
        if self.rotation_period > 0 {
            return Timing::Period(nanos(self.rotation_period));
        }
        if self.rotation_schedule.is_empty() {
            return Timing::Off;
        }
        match CronSchedule::parse(&self.rotation_schedule) {
            Ok(cron) => Timing::Schedule {
                cron,
                window: (self.rotation_window > 0).then(|| nanos(self.rotation_window)),
            },
            // Checked on every write; a hand-edited entry rotates never rather than wrongly.
            Err(_) => Timing::Off,
        }
    }

    /// The fields as Vault reads them back (durations in whole seconds).
    fn read_fields(&self, out: &mut Map<String, Value>) {
        out.insert("rotation_schedule".into(), json!(self.rotation_schedule));
        out.insert(
            "rotation_window".into(),
            json!(self.rotation_window / NANOS),
        );
        out.insert(
            "rotation_period".into(),
            json!(self.rotation_period / NANOS),
        );
        out.insert(
            "disable_automated_rotation".into(),
            json!(self.disable_automated_rotation),
        );
    }
}

fn nanos(n: i64) -> Duration {
    Duration::from_nanos(n.max(0) as u64)
}

/// A `rotation_schedule`: five cron fields (minute hour day-of-month month day-of-week), UTC,
/// read as Vault reads them (robfig/cron v3 with exactly those five fields).
///
/// `croner` does the cron semantics: POSIX weekdays (0 and 7 are Sunday) and a day matching
/// day-of-month OR day-of-week when both are restricted, as robfig/cron. Vault's parser takes
/// no `@hourly` descriptors and none of croner's extensions (`L`, `W`, `#`, `+`), so those
/// are refused here before croner sees the text.
#[derive(Debug, Clone)]
pub(crate) struct CronSchedule(Box<croner::Cron>);

impl CronSchedule {
    /// Parses `text`; the error is the reason, without the field name.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if text.trim_start().starts_with('@') {
            return Err(format!("parser does not accept descriptors: {text}"));
        }
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: {fields:?}",
                fields.len()
            ));
        }
        for field in &fields {
            for atom in field.split([',', '-', '/']) {
                let plain = atom == "*"
                    || atom == "?"
                    || (!atom.is_empty() && atom.bytes().all(|b| b.is_ascii_digit()))
                    || (atom.len() == 3 && atom.bytes().all(|b| b.is_ascii_alphabetic()));
                if !plain {
                    return Err(format!("unsupported value {atom:?} in {field:?}"));
                }
            }
        }
        CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(text)
            .map(|c| Self(Box::new(c)))
            .map_err(|e| e.to_string())
    }

    /// The first slot strictly after `t` (whole seconds, UTC).
    pub(crate) fn next_after(&self, t: SystemTime) -> Option<SystemTime> {
        let secs = i64::try_from(t.duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()?;
        let start = chrono::DateTime::from_timestamp(secs, 0)?.naive_utc();
        let next = self.0.find_next_occurrence(&start, false).ok()?;
        let next_secs = u64::try_from(next.and_utc().timestamp()).ok()?;
        Some(UNIX_EPOCH + Duration::from_secs(next_secs))
    }
}

/// When automated rotations happen.
#[derive(Debug, Clone)]
pub(crate) enum Timing {
    /// Never (no period or schedule, or `disable_automated_rotation`).
    Off,
    /// `rotation_period` after the previous rotation.
    Period(Duration),
    /// At each cron slot; a failing rotation retries until `window` after the slot (unbounded
    /// when `None`, as Vault's `IsInsideRotationWindow`).
    Schedule {
        cron: CronSchedule,
        window: Option<Duration>,
    },
}

impl Timing {
    /// When the rotation after one at `t` is due (`None` when off).
    pub(crate) fn next_after(&self, t: SystemTime) -> Option<SystemTime> {
        match self {
            Timing::Off => None,
            Timing::Period(p) => Some(t + *p),
            Timing::Schedule { cron, .. } => cron.next_after(t),
        }
    }
}

/// How the last rotation went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Outcome {
    #[default]
    #[serde(rename = "")]
    None,
    Success,
    Error,
}

impl Outcome {
    fn text(self) -> &'static str {
        match self {
            Outcome::None => "",
            Outcome::Success => "success",
            Outcome::Error => "error",
        }
    }
}

/// An old root key whose delete AWS refused; retried with backoff until it is gone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct PendingDelete {
    pub(crate) access_key: String,
    pub(crate) user_name: String,
    /// RFC 3339: when the key was replaced.
    pub(crate) since: String,
    pub(crate) attempts: u32,
    pub(crate) last_attempt: String,
    pub(crate) error: String,
}

impl PendingDelete {
    /// Whether the next attempt is due at `now`.
    pub(crate) fn due(&self, now: SystemTime) -> bool {
        self.retry_at().is_none_or(|t| t <= now)
    }

    /// When the next attempt is due (`None`: at once, never tried).
    pub(crate) fn retry_at(&self) -> Option<SystemTime> {
        parse_rfc3339(&self.last_attempt).map(|t| t + backoff(self.attempts))
    }
}

/// The engine's record of its automated rotations (not a Vault field; Go plugins ignore it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RotationRecord {
    /// RFC 3339: when the next automated rotation is due; empty when none is scheduled.
    pub(crate) next_rotation: String,
    /// RFC 3339: the last successful rotation (manual or automated).
    pub(crate) last_rotation: String,
    /// RFC 3339: the last attempt.
    pub(crate) last_attempt: String,
    pub(crate) last_outcome: Outcome,
    pub(crate) last_error: String,
    /// Failed automated attempts since the slot in `next_rotation` became due.
    pub(crate) failures: u32,
    pub(crate) pending_deletes: Vec<PendingDelete>,
}

impl RotationRecord {
    /// After a write changed the rotation settings: the next rotation counts from `now`.
    pub(crate) fn reschedule(&mut self, timing: &Timing, now: SystemTime) {
        self.next_rotation = timing.next_after(now).map(rfc3339).unwrap_or_default();
        self.failures = 0;
    }

    /// A rotation at `now` stored its new key; `old` is the key to delete next.
    pub(crate) fn rotated(&mut self, timing: &Timing, now: SystemTime, old: PendingDelete) {
        self.last_rotation = rfc3339(now);
        self.last_attempt = rfc3339(now);
        self.last_outcome = Outcome::Success;
        self.last_error.clear();
        self.reschedule(timing, now);
        self.pending_deletes.push(old);
    }

    /// A rotation at `now` failed; an automated one counts toward the retry backoff.
    pub(crate) fn failed(&mut self, now: SystemTime, error: &str, automated: bool) {
        self.last_attempt = rfc3339(now);
        self.last_outcome = Outcome::Error;
        self.last_error = error.to_string();
        if automated {
            self.failures = self.failures.saturating_add(1);
        }
    }

    /// The engine's part of a `config/root` read.
    fn read_fields(&self, out: &mut Map<String, Value>) {
        out.insert("next_vault_rotation".into(), json!(self.next_rotation));
        out.insert("last_vault_rotation".into(), json!(self.last_rotation));
        out.insert(
            "last_rotation_outcome".into(),
            json!(self.last_outcome.text()),
        );
        out.insert("last_rotation_error".into(), json!(self.last_error));
        let pending: Vec<&str> = self
            .pending_deletes
            .iter()
            .map(|p| p.access_key.as_str())
            .collect();
        out.insert("old_access_keys_pending_delete".into(), json!(pending));
        let last_error = self
            .pending_deletes
            .iter()
            .rev()
            .map(|p| p.error.as_str())
            .find(|e| !e.is_empty())
            .unwrap_or("");
        out.insert("old_access_key_delete_error".into(), json!(last_error));
    }

    /// When the scheduler must look again for a pending delete (`None`: none pending).
    pub(crate) fn next_delete_retry(&self) -> Option<SystemTime> {
        self.pending_deletes
            .iter()
            .map(|p| p.retry_at().unwrap_or(UNIX_EPOCH))
            .min()
    }
}

/// The rotation fields and the record, as a `config/root` read shows them.
pub(crate) fn read_fields(
    settings: &RotationSettings,
    record: &RotationRecord,
    out: &mut Map<String, Value>,
) {
    settings.read_fields(out);
    record.read_fields(out);
}

/// The retry delay after `failures` failed attempts.
pub(crate) fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    (FIRST_RETRY * 2u32.pow(doublings)).min(MAX_RETRY)
}

/// What the scheduler does at a given moment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing now; look again at the given time (`None`: only when something changes).
    Wait(Option<SystemTime>),
    /// Rotate now.
    Rotate,
    /// Store a new due time without rotating: none was recorded, the settings turned rotation
    /// off, or the window of a failing scheduled slot closed (Vault: outside the rotation
    /// window a due rotation no longer runs; the next slot counts).
    Reschedule(Option<SystemTime>),
}

/// Decides what to do at `now` from the settings and the stored record.
pub(crate) fn plan(timing: &Timing, record: &RotationRecord, now: SystemTime) -> Step {
    if matches!(timing, Timing::Off) {
        return if record.next_rotation.is_empty() {
            Step::Wait(None)
        } else {
            Step::Reschedule(None)
        };
    }
    let Some(due) = parse_rfc3339(&record.next_rotation) else {
        return Step::Reschedule(timing.next_after(now));
    };
    if now < due {
        return Step::Wait(Some(due));
    }
    let window_end = match timing {
        Timing::Schedule {
            window: Some(w), ..
        } => Some(due + *w),
        _ => None,
    };
    if window_end.is_some_and(|end| now >= end) {
        return Step::Reschedule(timing.next_after(now));
    }
    if record.failures == 0 {
        return Step::Rotate;
    }
    let last = parse_rfc3339(&record.last_attempt).unwrap_or(due);
    let retry_at = last + backoff(record.failures);
    if window_end.is_some_and(|end| retry_at >= end) {
        return Step::Reschedule(timing.next_after(now));
    }
    if now < retry_at {
        Step::Wait(Some(retry_at))
    } else {
        Step::Rotate
    }
}

#[cfg(test)]
#[path = "rotation_tests.rs"]
mod tests;
