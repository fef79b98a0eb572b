//! Go's `time.Time.Format` layout engine, for the template function `timestamp`.
//!
//! `{{ timestamp "2006-01-02" }}` formats the current time with a Go reference layout. The
//! `time` crate has its own format-description language, not Go's "reference time" one, so the
//! layout elements (`Jan`, `_2`, `.000`, `Z07:00`…) are recognised here as Go's `nextStdChunk`
//! does; the calendar values (weekday, day of year) come from the `time` crate.

use std::time::SystemTime;

use time::OffsetDateTime;

/// RFC 3339 text of `t` in UTC (Go's `time.RFC3339` layout, as Vault stores expirations).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Parses RFC 3339 text; `None` for anything else (including `""`).
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

/// A layout element (Go's `std*` constants).
#[derive(Clone, Copy)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    Tz,
    /// `Z07…`: `Z` in UTC.
    IsoTz,
    /// `-07…`: `+00…` in UTC; the text after the sign.
    NumTz(&'static str),
    /// `.000`/`.999`: digits, separator, trailing zeros trimmed.
    Frac(usize, u8, bool),
}

/// Go's `nextStdChunk`: the text before the first layout element, the element, the rest.
fn next_std_chunk(layout: &[u8]) -> (&[u8], Option<Std>, &[u8]) {
    let at = |i: usize, s: &str| layout[i..].starts_with(s.as_bytes());
    let lower_after = |j: usize| layout.get(j).is_some_and(u8::is_ascii_lowercase);
    for i in 0..layout.len() {
        let found = match layout[i] {
            b'J' if at(i, "January") => Some((Std::LongMonth, 7)),
            b'J' if at(i, "Jan") && !lower_after(i + 3) => Some((Std::Month, 3)),
            b'M' if at(i, "Monday") => Some((Std::LongWeekDay, 6)),
            b'M' if at(i, "Mon") && !lower_after(i + 3) => Some((Std::WeekDay, 3)),
            b'M' if at(i, "MST") => Some((Std::Tz, 3)),
            b'0' if layout.get(i + 1).is_some_and(|c| (b'1'..=b'6').contains(c)) => Some((
                match layout[i + 1] {
                    b'1' => Std::ZeroMonth,
                    b'2' => Std::ZeroDay,
                    b'3' => Std::ZeroHour12,
                    b'4' => Std::ZeroMinute,
                    b'5' => Std::ZeroSecond,
                    _ => Std::Year,
                },
                2,
            )),
            b'0' if at(i, "002") => Some((Std::ZeroYearDay, 3)),
            b'1' if at(i, "15") => Some((Std::Hour, 2)),
            b'1' => Some((Std::NumMonth, 1)),
            b'2' if at(i, "2006") => Some((Std::LongYear, 4)),
            b'2' => Some((Std::Day, 1)),
            b'_' if at(i, "_2006") => {
                return (&layout[..=i], Some(Std::LongYear), &layout[i + 5..])
            }
            b'_' if at(i, "_2") => Some((Std::UnderDay, 2)),
            b'_' if at(i, "__2") => Some((Std::UnderYearDay, 3)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if at(i, "PM") => Some((Std::PM, 2)),
            b'p' if at(i, "pm") => Some((Std::Pm, 2)),
            b'-' | b'Z' => {
                let iso = layout[i] == b'Z';
                let forms: [(&str, &'static str); 5] = [
                    ("070000", "000000"),
                    ("07:00:00", "00:00:00"),
                    ("0700", "0000"),
                    ("07:00", "00:00"),
                    ("07", "00"),
                ];
                forms
                    .iter()
                    .find(|(form, _)| at(i + 1, form))
                    .map(|(form, utc)| {
                        (
                            if iso { Std::IsoTz } else { Std::NumTz(utc) },
                            1 + form.len(),
                        )
                    })
            }
            c @ (b'.' | b',') if matches!(layout.get(i + 1), Some(b'0' | b'9')) => {
                let digit = layout[i + 1];
                let mut j = i + 1;
                while j < layout.len() && layout[j] == digit {
                    j += 1;
                }
                if layout.get(j).is_some_and(u8::is_ascii_digit) {
                    None
                } else {
                    Some((Std::Frac(j - (i + 1), c, digit == b'9'), j - i))
                }
            }
            _ => None,
        };
        if let Some((std, len)) = found {
            return (&layout[..i], Some(std), &layout[i + len..]);
        }
    }
    (layout, None, &[])
}

/// Go's `appendInt` with zero padding to `width`.
fn push_int(out: &mut Vec<u8>, x: i64, width: usize) {
    if x < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(format!("{:0width$}", x.unsigned_abs()).as_bytes());
}

/// Mirrors Go's `time.Time.Format(layout)` for a UTC time (zone name `UTC`, offset zero).
pub(crate) fn format(t: OffsetDateTime, layout: &[u8]) -> Vec<u8> {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    let month = usize::from(u8::from(t.month()));
    let month_name = MONTHS.get(month.wrapping_sub(1)).copied().unwrap_or("");
    let day_name = DAYS
        .get(usize::from(t.weekday().number_days_from_sunday()))
        .copied()
        .unwrap_or("");
    let hour = i64::from(t.hour());
    let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
    let mut out = Vec::new();
    let mut layout = layout;
    while !layout.is_empty() {
        let (prefix, std, suffix) = next_std_chunk(layout);
        out.extend_from_slice(prefix);
        let Some(std) = std else { break };
        layout = suffix;
        match std {
            Std::Year => push_int(&mut out, i64::from(t.year()).abs() % 100, 2),
            Std::LongYear => push_int(&mut out, i64::from(t.year()), 4),
            Std::Month => out.extend_from_slice(month_name.get(..3).unwrap_or("").as_bytes()),
            Std::LongMonth => out.extend_from_slice(month_name.as_bytes()),
            Std::NumMonth => push_int(&mut out, month as i64, 0),
            Std::ZeroMonth => push_int(&mut out, month as i64, 2),
            Std::WeekDay => out.extend_from_slice(day_name.get(..3).unwrap_or("").as_bytes()),
            Std::LongWeekDay => out.extend_from_slice(day_name.as_bytes()),
            Std::Day => push_int(&mut out, i64::from(t.day()), 0),
            Std::UnderDay => {
                if t.day() < 10 {
                    out.push(b' ');
                }
                push_int(&mut out, i64::from(t.day()), 0);
            }
            Std::ZeroDay => push_int(&mut out, i64::from(t.day()), 2),
            Std::UnderYearDay => {
                let yday = t.ordinal();
                if yday < 100 {
                    out.push(b' ');
                    if yday < 10 {
                        out.push(b' ');
                    }
                }
                push_int(&mut out, i64::from(yday), 0);
            }
            Std::ZeroYearDay => push_int(&mut out, i64::from(t.ordinal()), 3),
            Std::Hour => push_int(&mut out, hour, 2),
            Std::Hour12 => push_int(&mut out, hour12, 0),
            Std::ZeroHour12 => push_int(&mut out, hour12, 2),
            Std::Minute => push_int(&mut out, i64::from(t.minute()), 0),
            Std::ZeroMinute => push_int(&mut out, i64::from(t.minute()), 2),
            Std::Second => push_int(&mut out, i64::from(t.second()), 0),
            Std::ZeroSecond => push_int(&mut out, i64::from(t.second()), 2),
            Std::PM => out.extend_from_slice(if hour >= 12 { b"PM" } else { b"AM" }),
            Std::Pm => out.extend_from_slice(if hour >= 12 { b"pm" } else { b"am" }),
            Std::Tz => out.extend_from_slice(b"UTC"),
            Std::IsoTz => out.push(b'Z'),
            Std::NumTz(zero) => {
                out.push(b'+');
                out.extend_from_slice(zero.as_bytes());
            }
            Std::Frac(n, sep, trim) => {
                let nanos = t.nanosecond();
                if trim && (n == 0 || nanos == 0) {
                    continue;
                }
                let start = out.len();
                out.push(sep);
                let digits = format!("{nanos:09}");
                out.extend_from_slice(&digits.as_bytes()[..n.min(9)]);
                if trim {
                    while out.len() > start + 1 && out.last() == Some(&b'0') {
                        out.pop();
                    }
                    if out.len() == start + 1 {
                        out.pop();
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formatted(layout: &str) -> String {
        let t = time::macros::datetime!(2024-02-29 13:04:05.123456789 UTC);
        String::from_utf8(format(t, layout.as_bytes())).unwrap()
    }

    #[test]
    fn reference_layouts() {
        assert_eq!(
            formatted("2006-01-02T15:04:05Z07:00"),
            "2024-02-29T13:04:05Z"
        );
        assert_eq!(
            formatted("Mon Jan _2 15:04:05 MST 2006"),
            "Thu Feb 29 13:04:05 UTC 2024"
        );
        assert_eq!(formatted("3:4:5 pm -07"), "1:4:5 pm +00");
        assert_eq!(formatted("Month Jant"), "Month Jant");
    }
}
