//! The rotation fields' rules and the scheduler's decisions, without a clock or AWS.

use super::*;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// 2026-01-05T00:00:00Z, a Monday.
const MONDAY: u64 = 1_767_571_200;

fn input(schedule: Option<&str>, window: Option<i64>, period: Option<i64>) -> RotationInput {
    RotationInput {
        schedule: schedule.map(str::to_string),
        window,
        period,
        disable: None,
    }
}

#[test]
fn vaults_request_rules_come_first() {
    let base = RotationSettings::default();
    let e = |i: RotationInput| i.apply(base.clone()).expect_err("refused");
    assert_eq!(
        e(input(Some("0 * * * *"), None, Some(60))),
        RotationFieldError::MutuallyExclusive
    );
    assert_eq!(
        e(input(None, Some(3600), Some(60))),
        RotationFieldError::WindowWithPeriod
    );
    assert_eq!(
        e(input(None, Some(3600), None)),
        RotationFieldError::WindowWithoutSchedule
    );
    assert_eq!(
        e(input(Some("0 * * * *"), Some(60), None)),
        RotationFieldError::WindowTooShort
    );
    assert_eq!(
        e(input(None, None, Some(5))),
        RotationFieldError::PeriodTooShort
    );
    assert!(matches!(
        e(input(Some("61 * * * *"), None, None)),
        RotationFieldError::BadSchedule(_)
    ));
    assert!(e(input(Some("0 * * * *"), None, Some(60)))
        .to_string()
        .contains("rotation_schedule and rotation_period"));
}

#[test]
fn merged_settings_keep_one_of_period_or_schedule() {
    let stored = input(None, None, Some(3600))
        .apply(RotationSettings::default())
        .expect("period");
    assert_eq!(stored.rotation_period, 3600 * NANOS);
    // A schedule on top of a stored period is refused; with period=0 it switches over.
    assert_eq!(
        input(Some("0 3 * * *"), None, None).apply(stored.clone()),
        Err(RotationFieldError::MutuallyExclusive)
    );
    let switched = input(Some("0 3 * * *"), Some(7200), Some(0))
        .apply(stored)
        .expect("switch to schedule");
    assert_eq!(switched.rotation_period, 0);
    assert_eq!(switched.rotation_window, 7200 * NANOS);
    // Only the window changes on a stored schedule.
    let wider = input(None, Some(10800), None)
        .apply(switched)
        .expect("window only");
    assert_eq!(wider.rotation_schedule, "0 3 * * *");
    assert_eq!(wider.rotation_window, 10800 * NANOS);
}

#[test]
fn cron_is_five_posix_fields_in_utc() {
    for bad in [
        "@hourly",
        "* * * *",
        "0 * * * * *",
        "0 0 L * *",
        "0 0 * * 1#2",
        "0 0 15W * *",
        "",
    ] {
        assert!(CronSchedule::parse(bad).is_err(), "{bad:?} accepted");
    }
    // Day 1 is Monday, as in POSIX cron (the `cron` crate would read it as Sunday).
    let monday_3am = CronSchedule::parse("0 3 * * 1").expect("valid");
    assert_eq!(
        monday_3am.next_after(at(MONDAY)),
        Some(at(MONDAY + 3 * 3600))
    );
    assert_eq!(
        monday_3am.next_after(at(MONDAY + 3 * 3600)),
        Some(at(MONDAY + 7 * 86400 + 3 * 3600)),
        "strictly after"
    );
    let every_minute = CronSchedule::parse("*/1 * * * *").expect("valid");
    assert_eq!(
        every_minute.next_after(at(MONDAY + 59) + Duration::from_millis(500)),
        Some(at(MONDAY + 60))
    );
    assert!(CronSchedule::parse("0 0 1 JAN,jul MON-FRI").is_ok());
}

#[test]
fn timing_follows_the_settings() {
    let mut s = RotationSettings {
        rotation_period: 60 * NANOS,
        ..Default::default()
    };
    assert_eq!(s.timing().next_after(at(100)), Some(at(160)));
    s.disable_automated_rotation = true;
    assert!(matches!(s.timing(), Timing::Off));
    assert!(matches!(RotationSettings::default().timing(), Timing::Off));
}

fn record(next: u64, failures: u32, last_attempt: Option<u64>) -> RotationRecord {
    RotationRecord {
        next_rotation: rfc3339(at(next)),
        failures,
        last_attempt: last_attempt.map(|t| rfc3339(at(t))).unwrap_or_default(),
        ..Default::default()
    }
}

#[test]
fn plan_waits_rotates_and_backs_off() {
    let period = Timing::Period(Duration::from_secs(60));
    assert_eq!(
        plan(&period, &record(1000, 0, None), at(900)),
        Step::Wait(Some(at(1000)))
    );
    assert_eq!(
        plan(&period, &record(1000, 0, None), at(1000)),
        Step::Rotate
    );
    // Failed at 1000: retry after 10 s, then 20 s, 40 s...
    assert_eq!(
        plan(&period, &record(1000, 1, Some(1000)), at(1005)),
        Step::Wait(Some(at(1010)))
    );
    assert_eq!(
        plan(&period, &record(1000, 1, Some(1000)), at(1010)),
        Step::Rotate
    );
    assert_eq!(
        plan(&period, &record(1000, 3, Some(1100)), at(1100)),
        Step::Wait(Some(at(1140)))
    );
    assert_eq!(backoff(30), MAX_RETRY);
    // No due time recorded yet: one is computed from now.
    assert_eq!(
        plan(&period, &RotationRecord::default(), at(5)),
        Step::Reschedule(Some(at(65)))
    );
    // Rotation turned off: the due time is cleared once, then nothing.
    assert_eq!(
        plan(&Timing::Off, &record(1000, 0, None), at(1)),
        Step::Reschedule(None)
    );
    assert_eq!(
        plan(&Timing::Off, &RotationRecord::default(), at(1)),
        Step::Wait(None)
    );
}

#[test]
fn a_failing_slot_gives_up_when_its_window_closes() {
    let hourly = Timing::Schedule {
        cron: CronSchedule::parse("0 * * * *").expect("valid"),
        window: Some(Duration::from_secs(3600)),
    };
    let slot = MONDAY;
    // Inside the window: retry.
    assert_eq!(
        plan(&hourly, &record(slot, 1, Some(slot)), at(slot + 10)),
        Step::Rotate
    );
    // The next retry would fall after the window: wait for the next slot instead.
    assert_eq!(
        plan(
            &hourly,
            &record(slot, 9, Some(slot + 3500)),
            at(slot + 3510)
        ),
        Step::Reschedule(Some(at(slot + 3600)))
    );
    // Down through the whole window (restart long after): the missed slot is skipped.
    assert_eq!(
        plan(&hourly, &record(slot, 0, None), at(slot + 3 * 3600 + 5)),
        Step::Reschedule(Some(at(slot + 4 * 3600)))
    );
    // Without a window a failing slot retries until it works.
    let unbounded = Timing::Schedule {
        cron: CronSchedule::parse("0 * * * *").expect("valid"),
        window: None,
    };
    assert_eq!(
        plan(
            &unbounded,
            &record(slot, 9, Some(slot + 9000)),
            at(slot + 9300)
        ),
        Step::Rotate
    );
}

#[test]
fn the_record_moves_on_after_a_rotation_and_counts_failures() {
    let period = Timing::Period(Duration::from_secs(60));
    let mut r = record(1000, 2, Some(990));
    r.failed(at(1010), "boom", true);
    assert_eq!(r.failures, 3);
    r.failed(at(1011), "manual", false);
    assert_eq!(
        r.failures, 3,
        "a manual failure does not change the backoff"
    );
    r.rotated(
        &period,
        at(1020),
        PendingDelete {
            access_key: "AKIAOLD".into(),
            ..Default::default()
        },
    );
    assert_eq!(r.failures, 0);
    assert_eq!(r.next_rotation, rfc3339(at(1080)));
    assert_eq!(r.last_outcome, Outcome::Success);
    assert_eq!(r.pending_deletes.len(), 1);
    assert_eq!(
        r.next_delete_retry(),
        Some(UNIX_EPOCH),
        "never tried: due at once"
    );
    let mut out = Map::new();
    r.read_fields(&mut out);
    assert_eq!(out["old_access_keys_pending_delete"], json!(["AKIAOLD"]));
    assert_eq!(out["last_rotation_outcome"], json!("success"));
}

#[test]
fn pending_deletes_back_off() {
    let p = PendingDelete {
        attempts: 2,
        last_attempt: rfc3339(at(100)),
        ..Default::default()
    };
    assert!(!p.due(at(119)));
    assert!(p.due(at(120)));
}

#[test]
fn stored_shape_is_vaults_for_the_four_fields() {
    let s = RotationSettings {
        rotation_schedule: "0 * * * *".into(),
        rotation_window: 3600 * NANOS,
        ..Default::default()
    };
    let v = serde_json::to_value(&s).expect("json");
    assert_eq!(v["rotation_window"], json!(3_600_000_000_000i64));
    let mut out = Map::new();
    s.read_fields(&mut out);
    assert_eq!(out["rotation_window"], json!(3600));
    assert_eq!(out["rotation_period"], json!(0));
}
