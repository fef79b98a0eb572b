//! Go's `strconv` number parsing and float formatting.
//!
//! The SDK reads request strings with `strconv` through mapstructure (`"0x1F"` is 31 for an int
//! field, errors say `strconv.ParseInt: invalid syntax`), and Go templates read number literals
//! with the same functions and print floats with `strconv.FormatFloat`. Rust's `str::parse`
//! knows neither base prefixes, underscores nor Go's error kinds, and Rust's float formatting
//! has no `%g`, so the Go rules are written here; the shortest and correctly rounded decimal
//! digits themselves come from Rust's formatter, which computes the same digits as Go.

/// Why a Go `strconv` parse failed (the `Err` of Go's `*strconv.NumError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumError {
    /// `strconv.ErrSyntax`.
    Syntax,
    /// `strconv.ErrRange`.
    Range,
}

impl NumError {
    /// The error's own text, as Go's `ErrSyntax`/`ErrRange` print.
    pub(crate) fn text(self) -> &'static str {
        match self {
            NumError::Syntax => "invalid syntax",
            NumError::Range => "value out of range",
        }
    }

    /// Mirrors Go's `(*strconv.NumError).Error()`: `strconv.ParseInt: parsing "x": invalid syntax`.
    pub(crate) fn describe(self, func: &str, input: &str) -> String {
        format!(
            "strconv.{func}: parsing {}: {}",
            super::quote::go_quote(input),
            self.text()
        )
    }
}

/// Mirrors Go's `strconv.ParseUint(s, base, 64)` for base 0 (`base0`: `0x`/`0o`/`0b`/`0`
/// prefixes and underscores) or base 10.
pub(crate) fn parse_uint(s: &str, base0: bool) -> Result<u64, NumError> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(NumError::Syntax);
    }
    let lower = |c: u8| c | 0x20;
    let (base, digits): (u64, &[u8]) = if base0 && b[0] == b'0' {
        match b.get(1).map(|&c| lower(c)) {
            Some(b'b') if b.len() >= 3 => (2, &b[2..]),
            Some(b'o') if b.len() >= 3 => (8, &b[2..]),
            Some(b'x') if b.len() >= 3 => (16, &b[2..]),
            _ => (8, &b[1..]),
        }
    } else {
        (10, b)
    };
    let cutoff = u64::MAX / base + 1;
    let mut n: u64 = 0;
    let mut underscores = false;
    for &c in digits {
        let d = if c == b'_' && base0 {
            underscores = true;
            continue;
        } else if c.is_ascii_digit() {
            u64::from(c - b'0')
        } else if lower(c).is_ascii_lowercase() {
            u64::from(lower(c) - b'a') + 10
        } else {
            return Err(NumError::Syntax);
        };
        if d >= base {
            return Err(NumError::Syntax);
        }
        if n >= cutoff {
            return Err(NumError::Range);
        }
        n *= base;
        n = n.checked_add(d).ok_or(NumError::Range)?;
    }
    if underscores && !underscore_ok(b) {
        return Err(NumError::Syntax);
    }
    Ok(n)
}

/// Mirrors Go's `strconv.ParseInt(s, base, 64)` for base 0 (`base0`) or base 10.
pub(crate) fn parse_int(s: &str, base0: bool) -> Result<i64, NumError> {
    let (neg, body) = match s.as_bytes().first() {
        None => return Err(NumError::Syntax),
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        Some(_) => (false, s),
    };
    let magnitude = match parse_uint(body, base0) {
        Ok(v) => v,
        Err(NumError::Range) => u64::MAX,
        Err(e) => return Err(e),
    };
    const CUTOFF: u64 = 1 << 63;
    if (!neg && magnitude >= CUTOFF) || (neg && magnitude > CUTOFF) {
        return Err(NumError::Range);
    }
    let v = magnitude as i64;
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// Go's `underscoreOK`: `_` only between digits (a base prefix counts as a digit).
fn underscore_ok(s: &[u8]) -> bool {
    let mut s = s;
    if let Some(&c) = s.first() {
        if c == b'+' || c == b'-' {
            s = &s[1..];
        }
    }
    // '^' start, '0' digit or prefix, '_' underscore, '!' anything else.
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1] | 0x20, b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = s[1] | 0x20 == b'x';
    }
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_digit() || (hex && (b'a'..=b'f').contains(&(c | 0x20))) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Mirrors Go's `strconv.ParseBool`.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Mirrors Go's `strconv.ParseFloat(s, 64)`: decimal and hexadecimal literals with
/// underscores, `inf`/`infinity`/`nan`, and a range error on overflow.
pub(crate) fn parse_float(s: &str) -> Result<f64, NumError> {
    let b = s.as_bytes();
    if let Some((v, used)) = float_special(b) {
        return if used == b.len() {
            Ok(v)
        } else {
            Err(NumError::Syntax)
        };
    }
    let mut i = 0;
    let mut neg = false;
    if let Some(&c) = b.first() {
        if c == b'+' || c == b'-' {
            neg = c == b'-';
            i = 1;
        }
    }
    let hex = i + 2 < b.len() && b[i] == b'0' && b[i + 1] | 0x20 == b'x';
    let (base, max_mant_digits) = if hex { (16u64, 16i64) } else { (10, 19) };
    if hex {
        i += 2;
    }
    let mut underscores = false;
    let mut saw_dot = false;
    let mut saw_digits = false;
    let mut mantissa: u64 = 0;
    let mut nd: i64 = 0; // significant digits seen
    let mut nd_mant: i64 = 0; // digits kept in `mantissa`
    let mut dp: i64 = 0; // position of the point, in digits
    let mut trunc = false;
    while i < b.len() {
        let c = b[i];
        let digit = if c.is_ascii_digit() {
            Some(u64::from(c - b'0'))
        } else if hex && (b'a'..=b'f').contains(&(c | 0x20)) {
            Some(u64::from((c | 0x20) - b'a') + 10)
        } else {
            None
        };
        match (c, digit) {
            (b'_', _) => underscores = true,
            (b'.', _) => {
                if saw_dot {
                    break;
                }
                saw_dot = true;
                dp = nd;
            }
            (_, Some(d)) => {
                saw_digits = true;
                if d == 0 && nd == 0 {
                    // Leading zeros only move the point.
                    dp -= 1;
                } else {
                    nd += 1;
                    if nd_mant < max_mant_digits {
                        mantissa = mantissa * base + d;
                        nd_mant += 1;
                    } else if d != 0 {
                        trunc = true;
                    }
                }
            }
            _ => break,
        }
        i += 1;
    }
    if !saw_digits {
        return Err(NumError::Syntax);
    }
    if !saw_dot {
        dp = nd;
    }
    if hex {
        dp *= 4;
        nd_mant *= 4;
    }
    let exp_char = if hex { b'p' } else { b'e' };
    if i < b.len() && b[i] | 0x20 == exp_char {
        i += 1;
        let mut esign = 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            if b[i] == b'-' {
                esign = -1;
            }
            i += 1;
        }
        if i >= b.len() || !b[i].is_ascii_digit() {
            return Err(NumError::Syntax);
        }
        let mut e: i64 = 0;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            if b[i] == b'_' {
                underscores = true;
            } else if e < 10_000 {
                e = e * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        dp += e * esign;
    } else if hex {
        return Err(NumError::Syntax);
    }
    if underscores && !underscore_ok(&b[..i]) {
        return Err(NumError::Syntax);
    }
    if i != b.len() {
        return Err(NumError::Syntax);
    }
    let magnitude = if hex {
        compose_f64(mantissa, dp - nd_mant, trunc)
    } else {
        // The grammar was checked above; Rust's parser rounds decimal text exactly as Go does.
        let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
        let cleaned: String = unsigned.chars().filter(|&c| c != '_').collect();
        cleaned.parse::<f64>().map_err(|_| NumError::Syntax)?
    };
    if magnitude.is_infinite() {
        return Err(NumError::Range);
    }
    Ok(if neg { -magnitude } else { magnitude })
}

/// The `inf`/`infinity`/`nan` prefixes Go's float parser accepts, with the
/// number of bytes they use.
fn float_special(b: &[u8]) -> Option<(f64, usize)> {
    fn prefix_len(s: &[u8], word: &[u8]) -> usize {
        s.iter()
            .zip(word)
            .take_while(|(a, w)| a.to_ascii_lowercase() == **w)
            .count()
    }
    let infinity = |rest: &[u8], sign: f64, used: usize| match prefix_len(rest, b"infinity") {
        8 => Some((sign * f64::INFINITY, used + 8)),
        3..=7 => Some((sign * f64::INFINITY, used + 3)),
        _ => None,
    };
    match b.first()? {
        b'+' => infinity(&b[1..], 1.0, 1),
        b'-' => infinity(&b[1..], -1.0, 1),
        b'i' | b'I' => infinity(b, 1.0, 0),
        b'n' | b'N' => (prefix_len(b, b"nan") == 3).then_some((f64::NAN, 3)),
        _ => None,
    }
}

/// `mantissa * 2^exp2` rounded to the nearest f64 (ties to even), with
/// `sticky` meaning non-zero bits were dropped below the mantissa.
fn compose_f64(mantissa: u64, exp2: i64, sticky: bool) -> f64 {
    if mantissa == 0 {
        return 0.0;
    }
    let lz = i64::from(mantissa.leading_zeros());
    let m = mantissa << lz;
    // value = m * 2^(e), m has its top bit set; unbiased exponent of value:
    let e = exp2 - lz;
    let top = e + 63;
    if top > 1023 {
        return f64::INFINITY;
    }
    // Keep 53 bits for normals, fewer for subnormals.
    let shift = if top >= -1022 { 11 } else { 11 + (-1022 - top) };
    if shift > 64 {
        return 0.0;
    }
    let (q, rem, half) = if shift == 64 {
        (0u64, m, 1u64 << 63)
    } else {
        (m >> shift, m & ((1u64 << shift) - 1), 1u64 << (shift - 1))
    };
    let round_up = rem > half || (rem == half && (sticky || q & 1 == 1));
    let mut q = q + u64::from(round_up);
    let mut top = top;
    if top >= -1022 {
        if q == 1u64 << 53 {
            q >>= 1;
            top += 1;
            if top > 1023 {
                return f64::INFINITY;
            }
        }
        let biased = (top + 1023) as u64;
        f64::from_bits((biased << 52) | (q & ((1u64 << 52) - 1)))
    } else {
        // Subnormal (or rounded up into the smallest normal).
        f64::from_bits(q)
    }
}

/// Mirrors Go's `strconv.FormatFloat(v, fmt, prec, 64)` for `fmt` in `e E f F g G b x X`;
/// `prec < 0` asks for the shortest digits that read back as `v`.
pub(crate) fn format_float(v: f64, fmt: char, prec: i64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let sign = if v.is_sign_negative() { "-" } else { "" };
    let a = v.abs();
    match fmt {
        'f' | 'F' if prec >= 0 => {
            let p = usize::try_from(prec).unwrap_or(0);
            format!("{sign}{a:.p$}")
        }
        'b' => {
            let (mant, exp) = float_parts(a);
            let exp = exp - 52;
            let esign = if exp >= 0 { "+" } else { "" };
            format!("{sign}{mant}p{esign}{exp}")
        }
        'x' | 'X' => format_float_hex(a, sign, fmt, prec),
        _ => {
            let (digits, dp) = decimal_digits(a, fmt, prec);
            let e = if fmt == 'E' || fmt == 'G' { 'E' } else { 'e' };
            let body = match fmt {
                'e' | 'E' => fmt_e(&digits, dp, usize::try_from(prec.max(0)).unwrap_or(0), e),
                'f' | 'F' => {
                    let nd = digits.len() as i64;
                    fmt_f(&digits, dp, usize::try_from((nd - dp).max(0)).unwrap_or(0))
                }
                _ => {
                    let nd = digits.len() as i64;
                    let shortest = prec < 0;
                    let mut prec = if shortest {
                        nd
                    } else if prec == 0 {
                        1
                    } else {
                        prec
                    };
                    let mut eprec = prec;
                    if eprec > nd && nd >= dp {
                        eprec = nd;
                    }
                    if shortest {
                        eprec = 6;
                    }
                    let exp = dp - 1;
                    if exp < -4 || exp >= eprec {
                        if prec > nd {
                            prec = nd;
                        }
                        fmt_e(&digits, dp, usize::try_from(prec - 1).unwrap_or(0), e)
                    } else {
                        if prec > dp {
                            prec = nd;
                        }
                        fmt_f(
                            &digits,
                            dp,
                            usize::try_from((prec - dp).max(0)).unwrap_or(0),
                        )
                    }
                }
            };
            format!("{sign}{body}")
        }
    }
}

/// Significant decimal digits (no trailing zeros) and decimal-point position of `a >= 0`:
/// shortest round-trip when `prec < 0`, else rounded to the digits `%e`/`%g` need.
fn decimal_digits(a: f64, fmt: char, prec: i64) -> (Vec<u8>, i64) {
    if a == 0.0 {
        return (Vec::new(), 0);
    }
    let s = if prec < 0 {
        format!("{a:e}")
    } else {
        let sig = match fmt {
            'e' | 'E' => prec + 1,
            _ => prec.max(1),
        };
        let p = usize::try_from(sig - 1).unwrap_or(0);
        format!("{a:.p$e}")
    };
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exp.parse::<i64>().unwrap_or(0) + 1)
}

/// Go's `fmtE`: `d.ddddde±dd`.
fn fmt_e(digits: &[u8], dp: i64, prec: usize, e: char) -> String {
    let mut s = String::new();
    s.push(char::from(digits.first().copied().unwrap_or(b'0')));
    if prec > 0 {
        s.push('.');
        let mut i = 1;
        let m = digits.len().min(prec + 1);
        if i < m {
            s.extend(digits[i..m].iter().map(|&b| char::from(b)));
            i = m;
        }
        while i <= prec {
            s.push('0');
            i += 1;
        }
    }
    s.push(e);
    let exp = if digits.is_empty() { 0 } else { dp - 1 };
    s.push(if exp < 0 { '-' } else { '+' });
    let exp = exp.unsigned_abs();
    if exp < 10 {
        s.push('0');
    }
    s.push_str(&exp.to_string());
    s
}

/// Go's `fmtF`: `ddd.ddd`.
fn fmt_f(digits: &[u8], dp: i64, prec: usize) -> String {
    let mut s = String::new();
    if dp > 0 {
        let dp = usize::try_from(dp).unwrap_or(0);
        let m = digits.len().min(dp);
        s.extend(digits[..m].iter().map(|&b| char::from(b)));
        s.extend(std::iter::repeat_n('0', dp - m));
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for i in 0..prec {
            let j = dp + i as i64;
            let ch = usize::try_from(j)
                .ok()
                .and_then(|j| digits.get(j))
                .copied()
                .unwrap_or(b'0');
            s.push(char::from(ch));
        }
    }
    s
}

/// The mantissa (with the implicit leading bit) and unbiased exponent of `a`, as Go's
/// `fmtB`/`fmtX` take them apart: `a = mant * 2^(exp - 52)`.
fn float_parts(a: f64) -> (u64, i64) {
    let bits = a.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let mant = bits & ((1 << 52) - 1);
    if exp == 0 {
        (mant, 1 - 1023)
    } else {
        (mant | 1 << 52, exp - 1023)
    }
}

/// Go's `fmtX`: `%x`/`%X` of a float, `-0x1.8p+01`.
fn format_float_hex(a: f64, sign: &str, fmt: char, prec: i64) -> String {
    const LOWER: &[u8; 16] = b"0123456789abcdef";
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    let (mut mant, mut exp) = float_parts(a);
    if mant == 0 {
        exp = 0;
    }
    mant <<= 60 - 52;
    while mant != 0 && mant & (1 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if (0..15).contains(&prec) {
        let shift = (prec * 4) as u32;
        let extra = (mant << shift) & ((1 << 60) - 1);
        mant >>= 60 - shift;
        if extra | (mant & 1) > 1 << 59 {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1 << 61) != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let hex = if fmt == 'X' { UPPER } else { LOWER };
    let mut s = String::from(sign);
    s.push('0');
    s.push(fmt);
    s.push(char::from(b'0' + ((mant >> 60) & 1) as u8));
    mant <<= 4;
    if prec < 0 && mant != 0 {
        s.push('.');
        while mant != 0 {
            s.push(char::from(hex[((mant >> 60) & 15) as usize]));
            mant <<= 4;
        }
    } else if prec > 0 {
        s.push('.');
        for _ in 0..prec {
            s.push(char::from(hex[((mant >> 60) & 15) as usize]));
            mant <<= 4;
        }
    }
    s.push(if fmt == 'X' { 'P' } else { 'p' });
    s.push(if exp < 0 { '-' } else { '+' });
    let exp = exp.unsigned_abs();
    if exp < 10 {
        s.push('0');
    }
    s.push_str(&exp.to_string());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_with_go_literals_and_errors() {
        assert_eq!(parse_int("0x1F", true), Ok(31));
        assert_eq!(parse_int("017", true), Ok(15));
        assert_eq!(parse_int("0o17", true), Ok(15));
        assert_eq!(parse_int("0b101", true), Ok(5));
        assert_eq!(parse_int("1_000", true), Ok(1000));
        assert_eq!(parse_int("-9223372036854775808", true), Ok(i64::MIN));
        assert_eq!(parse_int("9223372036854775808", true), Err(NumError::Range));
        assert_eq!(parse_int("1_000", false), Err(NumError::Syntax));
        assert_eq!(parse_int("_1", true), Err(NumError::Syntax));
        assert_eq!(parse_int("1__0", true), Err(NumError::Syntax));
        assert_eq!(parse_int("", true), Err(NumError::Syntax));
        assert_eq!(parse_uint("18446744073709551615", true), Ok(u64::MAX));
        assert_eq!(
            parse_uint("18446744073709551616", true),
            Err(NumError::Range)
        );
        assert_eq!(
            NumError::Syntax.describe("ParseInt", "1.5"),
            r#"strconv.ParseInt: parsing "1.5": invalid syntax"#
        );
        assert_eq!(parse_bool("T"), Some(true));
        assert_eq!(parse_bool("yes"), None);
    }

    #[test]
    fn floats_like_parse_float() {
        assert_eq!(parse_float("1.5"), Ok(1.5));
        assert_eq!(parse_float("0x1p-2"), Ok(0.25));
        assert_eq!(parse_float("0x1.8p1"), Ok(3.0));
        assert_eq!(parse_float("1_000.5"), Ok(1000.5));
        assert_eq!(parse_float("-Inf"), Ok(f64::NEG_INFINITY));
        assert_eq!(parse_float("1e-400"), Ok(0.0));
        assert_eq!(parse_float("1e400"), Err(NumError::Range));
        assert_eq!(parse_float("abc"), Err(NumError::Syntax));
        assert_eq!(parse_float("0x1"), Err(NumError::Syntax));
        // A hex mantissa longer than 53 bits rounds to nearest, ties to even.
        assert_eq!(parse_float("0x1.00000000000008p0"), Ok(1.0));
        assert_eq!(
            parse_float("0x1.00000000000018p0"),
            Ok(1.0 + 2.0 * f64::EPSILON)
        );
    }

    #[test]
    fn go_number_formatting() {
        let g = |f: f64| format_float(f, 'g', -1);
        assert_eq!(g(1e6), "1e+06");
        assert_eq!(g(123_456.0), "123456");
        assert_eq!(g(1_234_567.0), "1.234567e+06");
        assert_eq!(g(0.0001), "0.0001");
        assert_eq!(g(0.00001), "1e-05");
        assert_eq!(g(1e100), "1e+100");
        assert_eq!(g(-1.5), "-1.5");
        let f = |v: f64| format_float(v, 'f', -1);
        assert_eq!(f(42.5), "42.5");
        assert_eq!(f(1e21), "1000000000000000000000");
        assert_eq!(f(1e-7), "0.0000001");
        assert_eq!(f(-0.0), "-0");
        assert_eq!(format_float(f64::INFINITY, 'g', -1), "+Inf");
        assert_eq!(format_float(2.5, 'f', 0), "2");
        assert_eq!(format_float(1234.5678, 'e', 6), "1.234568e+03");
        assert_eq!(format_float(3.0, 'x', -1), "0x1.8p+01");
        assert_eq!(format_float(1.0, 'b', -1), "4503599627370496p-52");
    }
}
