//! Go's `time.Duration` text: `time.ParseDuration` and `Duration.String`.
//!
//! The SDK accepts durations such as `"1h30m"` in request fields and Vault echoes stored
//! durations as Go prints them (`config/lease` reads `"1h0m0s"`); its parse errors reach clients
//! verbatim. Neither the grammar (`µs`, fractions of any unit, `"0"` without unit) nor the texts
//! exist in a Rust crate, so they are written here.

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// Mirrors Go's `time.ParseDuration`: a signed sequence of decimal numbers with optional
/// fraction and a unit (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`), e.g. `"1h30m"`, `"1.5h"`,
/// `"-2m"`; returns nanoseconds, or Go's error text.
pub(crate) fn parse_go_duration(s: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", quote(s));
    let mut rest = s.as_bytes();
    let mut neg = false;
    if let Some(&c) = rest.first() {
        if c == b'-' || c == b'+' {
            neg = c == b'-';
            rest = &rest[1..];
        }
    }
    if rest == b"0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    const LIMIT: u64 = 1 << 63;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        if !(rest[0] == b'.' || rest[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // Integer part.
        let mut whole: u64 = 0;
        let mut i = 0;
        while i < rest.len() && rest[i].is_ascii_digit() {
            if whole > LIMIT / 10 {
                return Err(invalid());
            }
            whole = whole * 10 + u64::from(rest[i] - b'0');
            if whole > LIMIT {
                return Err(invalid());
            }
            i += 1;
        }
        let had_whole = i > 0;
        rest = &rest[i..];
        // Fraction part; precision stops growing once it would overflow.
        let mut frac: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut had_frac = false;
        if rest.first() == Some(&b'.') {
            rest = &rest[1..];
            let mut j = 0;
            let mut saturated = false;
            while j < rest.len() && rest[j].is_ascii_digit() {
                if !saturated {
                    if frac > (LIMIT - 1) / 10 {
                        saturated = true;
                    } else {
                        let next = frac * 10 + u64::from(rest[j] - b'0');
                        if next > LIMIT {
                            saturated = true;
                        } else {
                            frac = next;
                            scale *= 10.0;
                        }
                    }
                }
                j += 1;
            }
            had_frac = j > 0;
            rest = &rest[j..];
        }
        if !had_whole && !had_frac {
            return Err(invalid());
        }
        // Unit: everything up to the next digit or '.'.
        let unit_len = rest
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", quote(s)));
        }
        let unit_bytes = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit: u64 = match unit_bytes {
            b"ns" => 1,
            // "µs" is U+00B5 (micro sign), "μs" U+03BC (Greek mu).
            b"us" | b"\xC2\xB5s" | b"\xCE\xBCs" => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => {
                let unit_text = String::from_utf8_lossy(unit_bytes);
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(&unit_text),
                    quote(s)
                ));
            }
        };
        if whole > LIMIT / unit {
            return Err(invalid());
        }
        let mut v = whole * unit;
        if frac > 0 {
            // Same float arithmetic as Go, so rounding matches.
            v += (frac as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        total += v;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        // total <= 2^63, so the two's-complement negation fits.
        return Ok((total as i64).wrapping_neg());
    }
    if total > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(total as i64)
}

/// Mirrors Go's `time.Duration.String()` of a nanosecond count: `"0s"`, `"1h0m0s"`, `"1.5s"`,
/// `"100ms"`, `"1µs"`.
pub(crate) fn format_go_duration(nanos: i64) -> String {
    let mut u = nanos.unsigned_abs();
    let mut out = String::new();
    if u < NANOS_PER_SECOND {
        if u == 0 {
            return "0s".to_string();
        }
        let (digits, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (int_part, frac) = split_fraction(u, digits);
        out.push_str(&int_part.to_string());
        out.push_str(&frac);
        out.push_str(unit);
    } else {
        let (secs, frac) = split_fraction(u, 9);
        u = secs;
        let seconds = u % 60;
        u /= 60;
        let mut text = format!("{seconds}{frac}s");
        if u > 0 {
            let minutes = u % 60;
            u /= 60;
            text = format!("{minutes}m{text}");
            if u > 0 {
                text = format!("{u}h{text}");
            }
        }
        out.push_str(&text);
    }
    if nanos < 0 {
        out.insert(0, '-');
    }
    out
}

/// Splits `v` into `v / 10^digits` and the fraction text (".5"), trailing
/// zeros and an empty fraction left out, as Go's duration printer does.
fn split_fraction(v: u64, digits: u32) -> (u64, String) {
    let pow = 10u64.pow(digits);
    let int_part = v / pow;
    let frac = v % pow;
    if frac == 0 {
        return (int_part, String::new());
    }
    let text = format!("{frac:0width$}", width = digits as usize);
    (int_part, format!(".{}", text.trim_end_matches('0')))
}

/// Go's `time.quote`, used in the package's errors: unlike `strconv.Quote`, every byte of a
/// non-ASCII or control character is written as `\xNN`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if (c as u32) >= 0x80 || c < ' ' {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{byte:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_duration_grammar_and_errors() {
        for (s, want) in [
            ("1h30m", 5_400_000_000_000),
            ("1.5h", 5_400_000_000_000),
            ("300ms", 300_000_000),
            ("-2m", -120_000_000_000),
            ("1\u{b5}s", 1_000),
            ("1\u{3bc}s", 1_000),
            ("1us", 1_000),
            ("10ns", 10),
            ("+5s", 5_000_000_000),
            ("0", 0),
            ("-0", 0),
            ("1h1h", 7_200_000_000_000),
            (".5s", 500_000_000),
            ("1.s", 1_000_000_000),
            ("2562047h47m16.854775807s", i64::MAX),
            ("-2562047h47m16.854775808s", i64::MIN),
        ] {
            assert_eq!(parse_go_duration(s), Ok(want), "{s}");
        }
        for (s, want) in [
            ("", r#"time: invalid duration """#),
            ("x", r#"time: invalid duration "x""#),
            ("1", r#"time: missing unit in duration "1""#),
            ("1w", r#"time: unknown unit "w" in duration "1w""#),
            ("1h ", r#"time: unknown unit "h " in duration "1h ""#),
            (".", r#"time: invalid duration ".""#),
            ("-", r#"time: invalid duration "-""#),
            (
                "2562047h47m16.854775808s",
                r#"time: invalid duration "2562047h47m16.854775808s""#,
            ),
            (
                "1\u{e9}",
                r#"time: unknown unit "\xc3\xa9" in duration "1\xc3\xa9""#,
            ),
            ("\"q\"", r#"time: invalid duration "\"q\"""#),
        ] {
            assert_eq!(parse_go_duration(s), Err(want.to_string()), "{s}");
        }
    }

    #[test]
    fn go_duration_text() {
        for (n, want) in [
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_000, "1\u{b5}s"),
            (1_500, "1.5\u{b5}s"),
            (999_999, "999.999\u{b5}s"),
            (1_000_000, "1ms"),
            (1_500_000, "1.5ms"),
            (100_000_000, "100ms"),
            (1_000_000_000, "1s"),
            (1_500_000_000, "1.5s"),
            (60_000_000_000, "1m0s"),
            (90_000_000_000, "1m30s"),
            (1_800_000_000_000, "30m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (5_400_000_000_000, "1h30m0s"),
            (43_200_000_000_000, "12h0m0s"),
            (86_400_000_000_000, "24h0m0s"),
            (90_061_000_000_001, "25h1m1.000000001s"),
            (i64::MAX, "2562047h47m16.854775807s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
            (-1_500, "-1.5\u{b5}s"),
            (-3_600_000_000_000, "-1h0m0s"),
        ] {
            assert_eq!(format_go_duration(n), want, "{n}");
        }
    }

    #[test]
    fn errors_quote_like_the_time_package() {
        assert_eq!(quote("\u{e9}\u{7}\"\\"), r#""\xc3\xa9\x07\"\\""#);
    }
}
