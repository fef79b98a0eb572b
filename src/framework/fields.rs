//! Request field parsing that behaves like the OpenBao/Vault SDK framework.
//!
//! Clients (the CLI, hvac, Terraform) send values the way the Go SDK accepts
//! them: durations as `"1h"` or `90`, booleans as `"t"`, lists as `"a,b"`,
//! key/value pairs as `["k=v"]`, and they read the SDK's error texts. This
//! module reproduces those conversions and texts so the Rust plugin answers
//! exactly like a Go plugin built on `sdk/framework`.
//!
//! Facts the port relies on (all checked against the Go code):
//! - An external plugin decodes the request body with plain `encoding/json`,
//!   so every JSON number reaches the field parser as a `float64`. Numbers are
//!   therefore handled as `f64` here: `42.9` is `42` for an int field, and
//!   integers past 2^53 lose precision as they do in Go.
//! - String, int, bool, float, map and slice fields go through mapstructure
//!   v2 "weak" decoding (`true` becomes `"1"`, `"0x1F"` becomes `31`,
//!   `""` becomes `0`/`false`, a scalar becomes a one-element list).
//! - Comma-string-slice fields go through go-secure-stdlib's parseutil, which
//!   still uses mapstructure v1 (its error texts differ from v2's).
//! - A JSON `null` for a duration or time field counts as "not supplied" (the
//!   schema default applies); for other types it is the type's zero value.
//! - Out-of-range float to integer conversions follow Go on amd64 (the result
//!   is `i64::MIN`).
//!
//! Known differences, all outside what the AWS engine uses: for a header
//! field given as a JSON string, syntax-error texts come from `serde_json`
//! rather than Go's scanner and numbers lose their exact spelling (`1.50`
//! becomes `1.5`); `%q` quoting treats unassigned code points as printable.

use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SECOND;

/// Text of parseutil's error when a duration times its unit overflows.
const DURATION_OVERFLOW: &str =
    "multiplication of durations resulted in overflow, one operand may be too large";

/// Types of request fields, as the SDK's `framework.FieldType`; the type
/// decides how a raw JSON value is converted and how help/OpenAPI show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Any string; numbers and booleans are converted to text.
    String,
    /// A 64-bit integer (Go `int` on 64-bit platforms).
    Int,
    /// A 64-bit integer (Go `int64`).
    Int64,
    /// A boolean; accepts `"true"`, `"t"`, `"1"`, numbers, ...
    Bool,
    /// A JSON object with arbitrary values.
    Map,
    /// Non-negative whole seconds from an integer or a Go duration string.
    DurationSecond,
    /// Whole seconds that may be negative.
    SignedDurationSecond,
    /// A list of arbitrary values.
    Slice,
    /// A list of strings (a bare string is a one-element list).
    StringSlice,
    /// A list of strings that also accepts a comma-separated string.
    CommaStringSlice,
    /// A string converted to lower case.
    LowerCaseString,
    /// A name: word characters, with `-` and `.` allowed inside.
    NameString,
    /// String key/value pairs from an object or `key=value` strings.
    KvPairs,
    /// A list of integers that also accepts a comma-separated string.
    CommaIntSlice,
    /// A 64-bit float.
    Float,
    /// HTTP headers (object, JSON/base64-JSON string or `Key:value` list).
    Header,
    /// An absolute time (RFC 3339 or Unix seconds), returned in UTC.
    Time,
}

impl FieldType {
    /// Every field type, in the SDK's declaration order; for tests and tables.
    pub const ALL: [FieldType; 17] = [
        FieldType::String,
        FieldType::Int,
        FieldType::Int64,
        FieldType::Bool,
        FieldType::Map,
        FieldType::DurationSecond,
        FieldType::SignedDurationSecond,
        FieldType::Slice,
        FieldType::StringSlice,
        FieldType::CommaStringSlice,
        FieldType::LowerCaseString,
        FieldType::NameString,
        FieldType::KvPairs,
        FieldType::CommaIntSlice,
        FieldType::Header,
        FieldType::Float,
        FieldType::Time,
    ];

    /// Name shown in path help, as the SDK's `FieldType.String()` prints it.
    pub fn display_name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::LowerCaseString => "lowercase string",
            FieldType::NameString => "name string",
            FieldType::Int => "int",
            FieldType::Int64 => "int64",
            FieldType::Bool => "bool",
            FieldType::Map => "map",
            FieldType::KvPairs => "keypair",
            FieldType::DurationSecond | FieldType::SignedDurationSecond => "duration (sec)",
            FieldType::Slice
            | FieldType::StringSlice
            | FieldType::CommaStringSlice
            | FieldType::CommaIntSlice => "slice",
            FieldType::Header => "header",
            FieldType::Float => "float",
            FieldType::Time => "time",
        }
    }

    /// OpenAPI schema type and format, as the SDK's OpenAPI generator
    /// (`convertType`) emits them.
    pub fn openapi_type(self) -> (&'static str, Option<&'static str>) {
        match self {
            FieldType::String | FieldType::Header | FieldType::NameString => ("string", None),
            FieldType::LowerCaseString => ("string", Some("lowercase")),
            FieldType::Int => ("integer", None),
            FieldType::Int64 => ("integer", Some("int64")),
            FieldType::DurationSecond | FieldType::SignedDurationSecond => {
                ("integer", Some("seconds"))
            }
            FieldType::Bool => ("boolean", None),
            FieldType::Map => ("object", Some("map")),
            FieldType::KvPairs => ("object", Some("kvpairs")),
            FieldType::Slice
            | FieldType::StringSlice
            | FieldType::CommaStringSlice
            | FieldType::CommaIntSlice => ("array", None),
            FieldType::Time => ("string", Some("date-time")),
            FieldType::Float => ("number", Some("float")),
        }
    }

    /// OpenAPI `items.type` for array types, as the SDK's generator sets it.
    pub fn openapi_items(self) -> Option<&'static str> {
        match self {
            FieldType::Slice => Some("object"),
            FieldType::StringSlice | FieldType::CommaStringSlice => Some("string"),
            FieldType::CommaIntSlice => Some("integer"),
            _ => None,
        }
    }

    /// OpenAPI `pattern` the SDK's generator attaches (name strings only).
    pub fn openapi_pattern(self) -> Option<&'static str> {
        match self {
            FieldType::NameString => Some(r"\w([\w-.]*\w)?"),
            _ => None,
        }
    }

    /// Looks a type up by its configuration name (`"duration_second"`,
    /// `"comma_string_slice"`, ...), as the SDK's `ParseFieldType` does.
    pub fn from_config_name(name: &str) -> Result<FieldType, String> {
        Ok(match name {
            "string" => FieldType::String,
            "int" => FieldType::Int,
            "int64" => FieldType::Int64,
            "bool" => FieldType::Bool,
            "map" => FieldType::Map,
            "duration_second" => FieldType::DurationSecond,
            "signed_duration_second" => FieldType::SignedDurationSecond,
            "slice" => FieldType::Slice,
            "string_slice" => FieldType::StringSlice,
            "comma_string_slice" => FieldType::CommaStringSlice,
            "lower_case_string" => FieldType::LowerCaseString,
            "name_string" => FieldType::NameString,
            "kv_pairs" => FieldType::KvPairs,
            "comma_int_slice" => FieldType::CommaIntSlice,
            "header" => FieldType::Header,
            "float" => FieldType::Float,
            "time" => FieldType::Time,
            other => return Err(format!("unknown field type: {}", go_quote(other))),
        })
    }
}

/// A parsed value, the Rust counterpart of what the SDK's `FieldData.Get`
/// returns for each field type.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// String, lower-case string, name string, and time (RFC 3339, UTC).
    String(String),
    /// Int and Int64.
    Int(i64),
    /// Bool.
    Bool(bool),
    /// Duration fields, in whole seconds.
    Duration(i64),
    /// String slices and comma string slices.
    StringList(Vec<String>),
    /// Comma int slices.
    IntList(Vec<i64>),
    /// Maps; headers too (each key maps to an array of strings).
    Map(Map<String, Value>),
    /// Key/value pairs.
    KvPairs(BTreeMap<String, String>),
    /// Float.
    Float(f64),
    /// Slices (an array of arbitrary values).
    Raw(Value),
}

impl FieldValue {
    /// The value as JSON, shaped the way the Go SDK would marshal it in a
    /// response (numbers that are whole print without a fraction).
    pub fn to_json(&self) -> Value {
        match self {
            FieldValue::String(s) => Value::String(s.clone()),
            FieldValue::Int(i) | FieldValue::Duration(i) => Value::from(*i),
            FieldValue::Bool(b) => Value::Bool(*b),
            FieldValue::StringList(l) => Value::from(l.clone()),
            FieldValue::IntList(l) => Value::from(l.clone()),
            FieldValue::Map(m) => Value::Object(m.clone()),
            FieldValue::KvPairs(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            ),
            FieldValue::Float(f) => go_number(*f),
            FieldValue::Raw(v) => v.clone(),
        }
    }

    /// The text of a string-like value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FieldValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number of an int or duration (seconds) value.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            FieldValue::Int(i) | FieldValue::Duration(i) => Some(*i),
            _ => None,
        }
    }

    /// The flag of a bool value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            FieldValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The items of a string list value.
    pub fn as_string_list(&self) -> Option<&[String]> {
        match self {
            FieldValue::StringList(l) => Some(l),
            _ => None,
        }
    }

    /// The pairs of a key/value value.
    pub fn as_kv_pairs(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            FieldValue::KvPairs(m) => Some(m),
            _ => None,
        }
    }
}

/// Parses a raw JSON request value for a field of type `ty`.
///
/// `Err` holds only the reason; wrap it with [`conversion_error`]. A `null`
/// duration or time value, which the SDK treats as "not supplied", gives the
/// zero value here; use [`parse_present`] to tell it apart and apply a default.
pub fn parse_value(ty: FieldType, raw: &Value) -> Result<FieldValue, String> {
    Ok(parse_present(ty, raw)?.unwrap_or_else(|| zero_value(ty)))
}

/// Parses a raw JSON request value like [`parse_value`], but answers
/// `Ok(None)` where the SDK reports the field as not set (a `null` duration or
/// time), so the caller applies the schema default as the SDK's `Get` does.
pub fn parse_present(ty: FieldType, raw: &Value) -> Result<Option<FieldValue>, String> {
    let value = match ty {
        FieldType::Bool => FieldValue::Bool(weak_bool("", raw).map_err(DecodeError::finish)?),
        FieldType::Int => FieldValue::Int(weak_int("", raw, "int").map_err(DecodeError::finish)?),
        FieldType::Int64 => {
            FieldValue::Int(weak_int("", raw, "int64").map_err(DecodeError::finish)?)
        }
        FieldType::Float => FieldValue::Float(weak_float("", raw).map_err(DecodeError::finish)?),
        FieldType::String => FieldValue::String(weak_string("", raw).map_err(DecodeError::finish)?),
        FieldType::LowerCaseString => FieldValue::String(go_to_lower(
            &weak_string("", raw).map_err(DecodeError::finish)?,
        )),
        FieldType::NameString => {
            let s = weak_string("", raw).map_err(DecodeError::finish)?;
            if !is_name_string(&s) {
                return Err("field does not match the formatting rules".to_string());
            }
            FieldValue::String(s)
        }
        FieldType::Map => {
            let mut acc = None;
            weak_map_any("", raw, &mut acc).map_err(DecodeError::finish)?;
            FieldValue::Map(acc.unwrap_or_default())
        }
        FieldType::DurationSecond | FieldType::SignedDurationSecond => {
            let Some(nanos) = duration_second_value(raw)? else {
                return Ok(None);
            };
            let secs = whole_seconds(nanos);
            if ty == FieldType::DurationSecond && secs < 0 {
                return Err(format!("cannot provide negative value '{secs}'"));
            }
            FieldValue::Duration(secs)
        }
        FieldType::Time => match parse_absolute_time(raw)? {
            None => return Ok(None),
            Some((secs, nanos)) => FieldValue::String(format_rfc3339_nano_utc(secs, nanos)),
        },
        FieldType::CommaIntSlice => FieldValue::IntList(comma_int_slice(raw)?),
        FieldType::Slice => FieldValue::Raw(Value::Array(
            weak_slice("", raw, &|_: &str, v: &Value| Ok(go_json_value(v)))
                .map_err(DecodeError::finish)?,
        )),
        FieldType::StringSlice => {
            if matches!(raw, Value::String(s) if s.is_empty()) {
                FieldValue::StringList(Vec::new())
            } else {
                let list = weak_slice("", raw, &weak_string).map_err(DecodeError::finish)?;
                FieldValue::StringList(list.iter().map(|s| s.trim().to_string()).collect())
            }
        }
        FieldType::CommaStringSlice => FieldValue::StringList(parse_comma_string_slice(raw)?),
        FieldType::KvPairs => FieldValue::KvPairs(kv_pairs(raw)?),
        FieldType::Header => FieldValue::Map(header(raw)?),
    };
    Ok(Some(value))
}

/// Parses a field value and, on failure, returns the SDK's full message
/// `error converting input for field "<name>": <reason>`.
pub fn parse_field(name: &str, ty: FieldType, raw: &Value) -> Result<Option<FieldValue>, String> {
    parse_present(ty, raw).map_err(|why| conversion_error(name, &why))
}

/// The SDK's text for a value that does not convert:
/// `error converting input for field "<name>": <reason>`.
pub fn conversion_error(name: &str, reason: &str) -> String {
    format!(
        "error converting input for field {}: {reason}",
        go_quote(name)
    )
}

/// The SDK's 400 response text when field validation fails before the
/// handler runs: `Field validation failed: <error>`.
pub fn validation_failed(error: &str) -> String {
    format!("Field validation failed: {error}")
}

/// The SDK's warning for request keys the path does not declare (names are
/// sorted), or `None` when there are none. The SDK adds it only to a
/// non-empty response.
pub fn unrecognized_params_warning(names: &[String]) -> Option<String> {
    if names.is_empty() {
        return None;
    }
    let mut sorted = names.to_vec();
    sorted.sort();
    Some(format!(
        "Endpoint ignored these unrecognized parameters: [{}]",
        sorted.join(" ")
    ))
}

/// The SDK's warning for body keys that a path capture overrode, or `None`.
pub fn replaced_params_warning(names: &[String]) -> Option<String> {
    if names.is_empty() {
        return None;
    }
    Some(format!(
        "Endpoint replaced the value of these parameters with the values captured from the endpoint's path: [{}]",
        names.join(" ")
    ))
}

/// Zero value used when a field is absent and has no default, as the SDK's
/// `FieldType.Zero()` (a time field's zero is Go's zero time).
pub fn zero_value(ty: FieldType) -> FieldValue {
    match ty {
        FieldType::String | FieldType::LowerCaseString | FieldType::NameString => {
            FieldValue::String(String::new())
        }
        FieldType::Int | FieldType::Int64 => FieldValue::Int(0),
        FieldType::Bool => FieldValue::Bool(false),
        FieldType::Map | FieldType::Header => FieldValue::Map(Map::new()),
        FieldType::KvPairs => FieldValue::KvPairs(BTreeMap::new()),
        FieldType::DurationSecond | FieldType::SignedDurationSecond => FieldValue::Duration(0),
        FieldType::Slice => FieldValue::Raw(Value::Array(Vec::new())),
        FieldType::StringSlice | FieldType::CommaStringSlice => FieldValue::StringList(Vec::new()),
        FieldType::CommaIntSlice => FieldValue::IntList(Vec::new()),
        FieldType::Float => FieldValue::Float(0.0),
        FieldType::Time => FieldValue::String("0001-01-01T00:00:00Z".to_string()),
    }
}

/// The value of an absent field, as the SDK's `DefaultOrZero`: duration
/// defaults are parsed like request values (a default that does not parse
/// gives zero, and negatives are kept); other defaults are converted with the
/// field's rules, falling back to the zero value.
pub fn default_or_zero(ty: FieldType, default: Option<&Value>) -> FieldValue {
    let Some(default) = default else {
        return zero_value(ty);
    };
    match ty {
        FieldType::DurationSecond | FieldType::SignedDurationSecond => {
            match duration_second_value(default) {
                Ok(Some(nanos)) => FieldValue::Duration(whole_seconds(nanos)),
                _ => zero_value(ty),
            }
        }
        _ => match parse_present(ty, default) {
            Ok(Some(v)) => v,
            _ => zero_value(ty),
        },
    }
}

/// Parses a duration string as parseutil's `ParseDurationSecond` does (empty
/// = 0, plain integer = seconds, integer + `d` = days, else Go's
/// `time.ParseDuration`) and returns whole seconds, truncated toward zero.
pub fn parse_duration_seconds(s: &str) -> Result<i64, String> {
    parse_duration_second_nanos(s).map(whole_seconds)
}

/// Parses a duration string like [`parse_duration_seconds`] but keeps
/// nanosecond precision (`"1.5s"` is 1.5e9), for handlers that store a Go
/// `time.Duration` (e.g. `config/lease`).
pub fn parse_duration_second_nanos(s: &str) -> Result<i64, String> {
    if s.is_empty() {
        return Ok(0);
    }
    if let Ok(v) = go_parse_int(s, false) {
        return v
            .checked_mul(NANOS_PER_SECOND)
            .ok_or_else(|| DURATION_OVERFLOW.to_string());
    }
    if let Some(days) = s.strip_suffix('d') {
        let v = go_parse_int(days, false).map_err(|e| e.describe("ParseInt", days))?;
        return v
            .checked_mul(NANOS_PER_DAY)
            .ok_or_else(|| DURATION_OVERFLOW.to_string());
    }
    parse_go_duration(s)
}

/// Go's `time.ParseDuration`: a signed sequence of decimal numbers with
/// optional fraction and a unit (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`,
/// `h`), e.g. `"1h30m"`, `"1.5h"`, `"-2m"`; returns nanoseconds and Go's
/// error texts.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", time_quote(s));
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
            return Err(format!("time: missing unit in duration {}", time_quote(s)));
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
                    time_quote(&unit_text),
                    time_quote(s)
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

/// Go's `time.Duration.String()` of a nanosecond count: `"0s"`, `"1h0m0s"`,
/// `"1.5s"`, `"100ms"`, `"1µs"`; used where the SDK echoes durations as text.
pub fn format_go_duration(nanos: i64) -> String {
    let mut u = nanos.unsigned_abs();
    let mut out = String::new();
    if u < NANOS_PER_SECOND as u64 {
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

// ---------------------------------------------------------------------------
// Durations and times as parseutil reads them.
// ---------------------------------------------------------------------------

/// parseutil's `ParseDurationSecond` over a decoded JSON value, in
/// nanoseconds; `Ok(None)` for `null`, which the SDK treats as not supplied.
fn duration_second_value(raw: &Value) -> Result<Option<i64>, String> {
    match raw {
        Value::Null => Ok(None),
        Value::String(s) => parse_duration_second_nanos(s).map(Some),
        Value::Number(n) => {
            let whole = go_f64_to_i64(number_f64(n));
            whole
                .checked_mul(NANOS_PER_SECOND)
                .map(Some)
                .ok_or_else(|| DURATION_OVERFLOW.to_string())
        }
        _ => Err("could not parse duration from input".to_string()),
    }
}

/// Go's `int(d.Seconds())`: the float sum of seconds and fraction, truncated.
fn whole_seconds(nanos: i64) -> i64 {
    let secs = nanos / NANOS_PER_SECOND;
    let rem = nanos % NANOS_PER_SECOND;
    (secs as f64 + rem as f64 / 1e9) as i64
}

/// parseutil's `ParseAbsoluteTime` over a decoded JSON value: RFC 3339 (with
/// or without fraction) or Unix seconds in a string; JSON numbers are not
/// accepted (they arrive as floats, which parseutil rejects).
fn parse_absolute_time(raw: &Value) -> Result<Option<(i64, u32)>, String> {
    match raw {
        Value::Null => Ok(None),
        Value::String(s) => {
            if let Some(t) = parse_rfc3339(s.as_bytes()) {
                return Ok(Some(t));
            }
            match go_parse_int(s, false) {
                Ok(epoch) => Ok(Some((epoch, 0))),
                Err(_) => Err("could not parse string as date and time".to_string()),
            }
        }
        _ => Err("could not parse time from input type".to_string()),
    }
}

/// Go's `time.Parse` with the RFC 3339 layouts (including its leniencies: a
/// one-digit hour, `,` before the fraction, offsets up to 24:60); returns
/// Unix seconds and nanoseconds.
fn parse_rfc3339(b: &[u8]) -> Option<(i64, u32)> {
    fn num(b: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
        let d0 = *b.first().filter(|c| c.is_ascii_digit())?;
        match b.get(1).filter(|c| c.is_ascii_digit()) {
            Some(&d1) => Some((i64::from(d0 - b'0') * 10 + i64::from(d1 - b'0'), &b[2..])),
            None if fixed => None,
            None => Some((i64::from(d0 - b'0'), &b[1..])),
        }
    }
    fn lit(b: &[u8], c: u8) -> Option<&[u8]> {
        b.strip_prefix(&[c])
    }
    if b.len() < 4 || !b[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let year = b[..4]
        .iter()
        .fold(0i64, |acc, c| acc * 10 + i64::from(c - b'0'));
    let rest = lit(&b[4..], b'-')?;
    let (month, rest) = num(rest, true)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    let rest = lit(rest, b'-')?;
    let (day, rest) = num(rest, true)?;
    let rest = lit(rest, b'T')?;
    let (hour, rest) = num(rest, false)?;
    if hour >= 24 {
        return None;
    }
    let rest = lit(rest, b':')?;
    let (minute, rest) = num(rest, true)?;
    if minute >= 60 {
        return None;
    }
    let rest = lit(rest, b':')?;
    let (second, mut rest) = num(rest, true)?;
    if second >= 60 {
        return None;
    }
    let mut nanos: u32 = 0;
    if rest.len() >= 2 && (rest[0] == b'.' || rest[0] == b',') && rest[1].is_ascii_digit() {
        let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        let used = &rest[1..1 + digits.min(9)];
        let mut v = used
            .iter()
            .fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0'));
        for _ in used.len()..9 {
            v *= 10;
        }
        nanos = v;
        rest = &rest[1 + digits..];
    }
    let offset = if let Some(after) = lit(rest, b'Z') {
        rest = after;
        0
    } else {
        if rest.len() < 6 || rest[3] != b':' {
            return None;
        }
        let (hh, _) = num(&rest[1..3], true)?;
        let (mm, _) = num(&rest[4..6], true)?;
        if hh > 24 || mm > 60 {
            return None;
        }
        let off = (hh * 60 + mm) * 60;
        let off = match rest[0] {
            b'+' => off,
            b'-' => -off,
            _ => return None,
        };
        rest = &rest[6..];
        off
    };
    if !rest.is_empty() || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((
        days * 86_400 + hour * 3_600 + minute * 60 + second - offset,
        nanos,
    ))
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Seconds from Go's absolute time origin (March 1 of year -292277022400) to
/// the Unix epoch; Go dates every time through this offset.
const UNIX_TO_ABSOLUTE_SECONDS: u64 = 9_223_372_028_741_760_000;

/// Go's `t.UTC().Format(time.RFC3339Nano)` for Unix seconds and nanoseconds,
/// including Go's wrap-around for seconds near the ends of the int64 range.
fn format_rfc3339_nano_utc(secs: i64, nanos: u32) -> String {
    let absolute = (secs as u64).wrapping_add(UNIX_TO_ABSOLUTE_SECONDS);
    let days = (absolute / 86_400) as i64 - (UNIX_TO_ABSOLUTE_SECONDS / 86_400) as i64;
    let tod = absolute % 86_400;
    let (year, month, day) = civil_from_days(days);
    let year_text = if year < 0 {
        format!("-{:04}", year.unsigned_abs())
    } else {
        format!("{year:04}")
    };
    let mut out = format!(
        "{year_text}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        tod / 3_600,
        tod % 3_600 / 60,
        tod % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

// ---------------------------------------------------------------------------
// mapstructure-style weak decoding.
// ---------------------------------------------------------------------------

/// A failed weak decode: one message, or several that mapstructure v2 joins
/// (and then prefixes with "decoding failed due to the following error(s)").
struct DecodeError {
    messages: Vec<String>,
    joined: bool,
}

impl DecodeError {
    fn single(message: String) -> Self {
        DecodeError {
            messages: vec![message],
            joined: false,
        }
    }

    fn join(errors: Vec<DecodeError>) -> Self {
        DecodeError {
            messages: errors.into_iter().flat_map(|e| e.messages).collect(),
            joined: true,
        }
    }

    /// The text mapstructure v2's `Decode` returns.
    fn finish(self) -> String {
        if self.joined {
            format!(
                "decoding failed due to the following error(s):\n\n{}",
                self.messages.join("\n")
            )
        } else {
            self.messages.concat()
        }
    }
}

fn unconvertible(name: &str, expected: &str, v: &Value) -> DecodeError {
    DecodeError::single(format!(
        "'{name}' expected type '{expected}', got unconvertible type '{}'",
        go_type_name(v)
    ))
}

fn cannot_parse(name: &str, expected: &str, why: String) -> DecodeError {
    DecodeError::single(format!(
        "'{name}' cannot parse value as '{expected}': {why}"
    ))
}

/// Go's `reflect.TypeOf` name of a value decoded by `encoding/json`.
fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn number_f64(n: &Number) -> f64 {
    n.as_f64().unwrap_or(0.0)
}

/// Go's float64 to int64 conversion on amd64: truncation, and `i64::MIN` for
/// anything out of range.
fn go_f64_to_i64(f: f64) -> i64 {
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// A float as Go's `encoding/json` writes it: whole numbers without fraction.
fn go_number(f: f64) -> Value {
    if f.fract() == 0.0
        && f.abs() < 9_223_372_036_854_775_808.0
        && !(f == 0.0 && f.is_sign_negative())
    {
        Value::from(f as i64)
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// A JSON value as the Go plugin holds it: every number a float64.
fn go_json_value(v: &Value) -> Value {
    match v {
        Value::Number(n) => go_number(number_f64(n)),
        Value::Array(items) => Value::Array(items.iter().map(go_json_value).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), go_json_value(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Weak decode into a string: booleans become "1"/"0", numbers their
/// shortest decimal form.
fn weak_string(name: &str, v: &Value) -> Result<String, DecodeError> {
    match v {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(if *b { "1" } else { "0" }.to_string()),
        Value::Number(n) => Ok(go_format_float_f(number_f64(n))),
        _ => Err(unconvertible(name, "string", v)),
    }
}

/// Weak decode into a 64-bit integer; strings are read as Go literals
/// (`0x1F`, `0o17`, `017`, `1_000`).
fn weak_int(name: &str, v: &Value, type_name: &str) -> Result<i64, DecodeError> {
    match v {
        Value::Null => Ok(0),
        Value::Number(n) => Ok(go_f64_to_i64(number_f64(n))),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::String(s) if s.is_empty() => Ok(0),
        Value::String(s) => go_parse_int(s, true)
            .map_err(|e| cannot_parse(name, type_name, format!("strconv.ParseInt: {}", e.text()))),
        _ => Err(unconvertible(name, type_name, v)),
    }
}

/// Weak decode into a boolean.
fn weak_bool(name: &str, v: &Value) -> Result<bool, DecodeError> {
    match v {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => Ok(number_f64(n) != 0.0),
        Value::String(s) => match go_parse_bool(s) {
            Some(b) => Ok(b),
            None if s.is_empty() => Ok(false),
            None => Err(cannot_parse(
                name,
                "bool",
                "strconv.ParseBool: invalid syntax".to_string(),
            )),
        },
        _ => Err(unconvertible(name, "bool", v)),
    }
}

/// Weak decode into a float64.
fn weak_float(name: &str, v: &Value) -> Result<f64, DecodeError> {
    match v {
        Value::Null => Ok(0.0),
        Value::Number(n) => Ok(number_f64(n)),
        Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        Value::String(s) if s.is_empty() => Ok(0.0),
        Value::String(s) => go_parse_float(s).map_err(|e| {
            cannot_parse(name, "float64", format!("strconv.ParseFloat: {}", e.text()))
        }),
        _ => Err(unconvertible(name, "float64", v)),
    }
}

/// An element decoder for [`weak_slice`].
type ElemDecoder<'a, T> = &'a dyn Fn(&str, &Value) -> Result<T, DecodeError>;

/// Weak decode into a slice: arrays element by element, `null` and `{}` to
/// an empty list, any other value lifted into a one-element list.
fn weak_slice<T>(name: &str, v: &Value, elem: ElemDecoder<'_, T>) -> Result<Vec<T>, DecodeError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut errors = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match elem(&format!("{name}[{i}]"), item) {
                    Ok(x) => out.push(x),
                    Err(e) => errors.push(e),
                }
            }
            if errors.is_empty() {
                Ok(out)
            } else {
                Err(DecodeError::join(errors))
            }
        }
        Value::Object(m) if m.is_empty() => Ok(Vec::new()),
        other => weak_slice(name, &Value::Array(vec![other.clone()]), elem),
    }
}

/// Weak decode into `map[string]interface{}`: objects merge into `acc`, and
/// an array's elements are decoded into the same map one after another.
fn weak_map_any(
    name: &str,
    v: &Value,
    acc: &mut Option<Map<String, Value>>,
) -> Result<(), DecodeError> {
    match v {
        Value::Null => Ok(()),
        Value::Object(m) => {
            let target = acc.get_or_insert_with(Map::new);
            for (k, val) in m {
                target.insert(k.clone(), go_json_value(val));
            }
            Ok(())
        }
        Value::Array(items) => {
            if items.is_empty() {
                acc.get_or_insert_with(Map::new);
            }
            for (i, item) in items.iter().enumerate() {
                weak_map_any(&format!("{name}[{i}]"), item, acc)?;
            }
            Ok(())
        }
        _ => Err(unconvertible(name, "map[string]interface {}", v)),
    }
}

/// Weak decode into `map[string]string`, as [`weak_map_any`] but with every
/// value converted like a string field.
fn weak_map_string(
    name: &str,
    v: &Value,
    acc: &mut Option<BTreeMap<String, String>>,
) -> Result<(), DecodeError> {
    match v {
        Value::Null => Ok(()),
        Value::Object(m) => {
            let target = acc.get_or_insert_with(BTreeMap::new);
            let mut errors = Vec::new();
            for (k, val) in m {
                match weak_string(&format!("{name}[{k}]"), val) {
                    Ok(s) => {
                        target.insert(k.clone(), s);
                    }
                    Err(e) => errors.push(e),
                }
            }
            if errors.is_empty() {
                Ok(())
            } else {
                Err(DecodeError::join(errors))
            }
        }
        Value::Array(items) => {
            if items.is_empty() {
                acc.get_or_insert_with(BTreeMap::new);
            }
            for (i, item) in items.iter().enumerate() {
                weak_map_string(&format!("{name}[{i}]"), item, acc)?;
            }
            Ok(())
        }
        _ => Err(unconvertible(name, "map[string]string", v)),
    }
}

/// Key/value pairs: an object (or list of objects) first; otherwise a list
/// of `key=value` strings, where a pair without `=` or with an empty key is
/// refused.
fn kv_pairs(raw: &Value) -> Result<BTreeMap<String, String>, String> {
    let mut acc = None;
    if weak_map_string("", raw, &mut acc).is_ok() {
        return Ok(acc.unwrap_or_default());
    }
    let list = weak_slice("", raw, &weak_string).map_err(DecodeError::finish)?;
    let mut out = BTreeMap::new();
    for pair in list {
        match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                out.insert(k.to_string(), v.to_string());
            }
            _ => return Err(format!("invalid key pair {}", go_quote(&pair))),
        }
    }
    Ok(out)
}

/// Comma int slice: a string is split on commas (no trimming) and each part
/// read as a Go integer literal (`""` is 0); other values decode as a list.
fn comma_int_slice(raw: &Value) -> Result<Vec<i64>, String> {
    let decoded = match raw {
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => {
            let parts: Vec<Value> = s.split(',').map(|p| Value::String(p.to_string())).collect();
            weak_slice("", &Value::Array(parts), &|n: &str, v: &Value| {
                weak_int(n, v, "int")
            })
        }
        other => weak_slice("", other, &|n: &str, v: &Value| weak_int(n, v, "int")),
    };
    decoded.map_err(DecodeError::finish)
}

/// parseutil's `ParseCommaStringSlice`: a string is split on commas, lists
/// and scalars decode with mapstructure v1, and every item is trimmed.
fn parse_comma_string_slice(raw: &Value) -> Result<Vec<String>, String> {
    let items: Vec<Value> = match raw {
        Value::String(s) if s.is_empty() => return Ok(Vec::new()),
        Value::String(s) => s.split(',').map(|p| Value::String(p.to_string())).collect(),
        Value::Null => Vec::new(),
        Value::Array(items) => items.clone(),
        Value::Object(m) if m.is_empty() => Vec::new(),
        other => vec![other.clone()],
    };
    let mut out = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::Array(_) | Value::Object(_) => errors.push(format!(
                "* '[{i}]' expected type 'string', got unconvertible type '{}', value: '{}'",
                go_type_name(item),
                go_format_value(item, false)
            )),
            other => match weak_string("", other) {
                Ok(s) => out.push(s.trim().to_string()),
                Err(e) => errors.push(format!("* {}", e.finish())),
            },
        }
    }
    if errors.is_empty() {
        return Ok(out);
    }
    errors.sort();
    Err(format!(
        "{} error(s) decoding:\n\n{}",
        errors.len(),
        errors.join("\n")
    ))
}

/// Header fields: an object (or list of objects) of string or string-list
/// values; else a JSON object in a string (optionally base64-encoded); else a
/// list of `Key:value` strings. Keys are canonicalised like Go's
/// `http.Header.Add`; the result maps each key to an array of strings.
fn header(raw: &Value) -> Result<Map<String, Value>, String> {
    let mut acc = None;
    if weak_map_any("", raw, &mut acc).is_ok() {
        let entries = acc.unwrap_or_default().into_iter();
        return header_from_map(entries.map(|(k, v)| (k, (v, false))).collect());
    }
    if let Value::String(s) = raw {
        let bytes = base64_std_decode(s).unwrap_or_else(|| s.as_bytes().to_vec());
        if bytes.is_empty() {
            return Err("'data' being decoded is nil".to_string());
        }
        let mut stream = serde_json::Deserializer::from_slice(&bytes).into_iter::<Value>();
        let decoded = match stream.next() {
            Some(Ok(v)) => v,
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("unexpected end of JSON input".to_string()),
        };
        let map = match decoded {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => {
                let kind = match other {
                    Value::Bool(_) => "bool",
                    Value::Number(_) => "number",
                    Value::String(_) => "string",
                    _ => "array",
                };
                return Err(format!(
                    "json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
                ));
            }
        };
        // Numbers in this JSON keep their text (the SDK decodes with UseNumber).
        return header_from_map(map.into_iter().map(|(k, v)| (k, (v, true))).collect());
    }
    let list =
        weak_slice("", raw, &|_: &str, v: &Value| Ok(v.clone())).map_err(DecodeError::finish)?;
    let mut out = Map::new();
    for item in list {
        let Value::String(pair) = item else {
            return Err("invalid key pair \"\"".to_string());
        };
        match pair.split_once(':') {
            Some((k, v)) if !k.is_empty() => header_add(&mut out, k, v),
            _ => return Err(format!("invalid key pair {}", go_quote(&pair))),
        }
    }
    Ok(out)
}

/// Builds a header from decoded entries; the flag says whether numbers are
/// accepted as text (only JSON decoded from a string keeps them as numbers).
fn header_from_map(entries: Vec<(String, (Value, bool))>) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (key, (value, numbers_ok)) in entries {
        match &value {
            Value::String(s) => header_add(&mut out, &key, s),
            Value::Number(n) if numbers_ok => header_add(&mut out, &key, &n.to_string()),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::String(s) => header_add(&mut out, &key, s),
                        Value::Number(n) if numbers_ok => {
                            header_add(&mut out, &key, &n.to_string())
                        }
                        _ => {
                            return Err(format!(
                                "received non-string value for header key:{key}, val:{}",
                                go_format_value(&value, true)
                            ))
                        }
                    }
                }
            }
            other => {
                return Err(format!(
                    "unrecognized type for {}",
                    go_format_value(other, true)
                ))
            }
        }
    }
    Ok(out)
}

fn header_add(out: &mut Map<String, Value>, key: &str, value: &str) {
    let key = canonical_header_key(key);
    let entry = out.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(values) = entry {
        values.push(Value::String(value.to_string()));
    }
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: `content-type` becomes
/// `Content-Type`; keys with characters outside the token set stay as given.
fn canonical_header_key(key: &str) -> String {
    let token = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
    if !key.bytes().all(token) {
        return key.to_string();
    }
    let mut upper = true;
    key.bytes()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == b'-';
            char::from(out)
        })
        .collect()
}

/// Go's `base64.StdEncoding.DecodeString` (padding required, CR/LF ignored).
fn base64_std_decode(s: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    let clean: Vec<u8> = s.bytes().filter(|&c| c != b'\r' && c != b'\n').collect();
    if !clean.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    let chunks = clean.len() / 4;
    for (idx, quad) in clean.chunks(4).enumerate() {
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && idx + 1 != chunks) {
            return None;
        }
        let mut acc = 0u32;
        for &c in &quad[..4 - pad] {
            acc = (acc << 6) | sextet(c)?;
        }
        acc <<= 6 * pad as u32;
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Go standard-library behaviour (strconv, strings, fmt).
// ---------------------------------------------------------------------------

/// Why a Go `strconv` parse failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumError {
    Syntax,
    Range,
}

impl NumError {
    fn text(self) -> &'static str {
        match self {
            NumError::Syntax => "invalid syntax",
            NumError::Range => "value out of range",
        }
    }

    /// The full `*strconv.NumError` text.
    fn describe(self, func: &str, input: &str) -> String {
        format!(
            "strconv.{func}: parsing {}: {}",
            go_quote(input),
            self.text()
        )
    }
}

/// Go's `strconv.ParseUint(s, base, 64)` for base 0 (literal prefixes and
/// underscores) or base 10.
fn go_parse_uint(s: &str, base0: bool) -> Result<u64, NumError> {
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

/// Go's `strconv.ParseInt(s, base, 64)` for base 0 or 10.
fn go_parse_int(s: &str, base0: bool) -> Result<i64, NumError> {
    let (neg, body) = match s.as_bytes().first() {
        None => return Err(NumError::Syntax),
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        Some(_) => (false, s),
    };
    let magnitude = match go_parse_uint(body, base0) {
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

/// Go's rule for `_` in number literals: only between digits (a base
/// prefix counts as a digit).
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

/// Go's `strconv.ParseBool`.
fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseFloat(s, 64)`: decimal and hexadecimal literals with
/// underscores, `inf`/`infinity`/`nan`, and a range error on overflow.
fn go_parse_float(s: &str) -> Result<f64, NumError> {
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

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest round-trip digits,
/// never an exponent.
fn go_format_float_f(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    format!("{f}")
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): shortest
/// digits, in exponent form (`1e+06`) when the decimal exponent is below -4
/// or at least 6.
fn go_format_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e6".
    let sci = format!("{f:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let (sign, mant) = match mant.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mant),
    };
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(digits.len().min(1));
        let mut out = format!("{sign}{first}");
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        out.push_str(&format!("e{esign}{:02}", exp.unsigned_abs()));
        out
    } else {
        format!("{f}")
    }
}

/// Go's `fmt` rendering of a JSON-decoded value: `%v` (`verb_s == false`) or
/// `%s` (`true`, where non-strings print as `%!s(float64=1)`).
fn go_format_value(v: &Value, verb_s: bool) -> String {
    match v {
        Value::Null if verb_s => "%!s(<nil>)".to_string(),
        _ => go_format_nested(v, verb_s),
    }
}

/// [`go_format_value`] below the top level, where Go prints a nil interface
/// as `<nil>` whatever the verb.
fn go_format_nested(v: &Value, verb_s: bool) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(|i| go_format_nested(i, verb_s)).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_format_nested(&m[k], verb_s)))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
        Value::Bool(b) if verb_s => format!("%!s(bool={b})"),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if verb_s => format!("%!s(float64={})", go_format_float_g(number_f64(n))),
        Value::Number(n) => go_format_float_g(number_f64(n)),
    }
}

/// Go's `strings.ToLower` (simple per-character mapping).
fn go_to_lower(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\u{130}' {
            // Full mapping adds a combining dot; Go maps to plain 'i'.
            out.push('i');
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// The SDK's name rule `^\w(([\w-.]+)?\w)?$` with ASCII `\w`.
fn is_name_string(s: &str) -> bool {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let b = s.as_bytes();
    match b {
        [] => false,
        [only] => word(*only),
        [first, middle @ .., last] => {
            word(*first) && word(*last) && middle.iter().all(|&c| word(c) || c == b'-' || c == b'.')
        }
    }
}

/// Go's `strconv.Quote` (and so `%q`): escapes quotes, backslashes, control
/// and non-printable characters.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_go_printable(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Approximates Go's `strconv.IsPrint`: letters, marks, numbers,
/// punctuation, symbols and the ASCII space (controls, other spaces, format
/// characters, private use and noncharacters are not printable).
fn is_go_printable(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return (0x20..0x7f).contains(&u);
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let format_or_private = matches!(
        u,
        0xAD | 0x600..=0x605
            | 0x61C
            | 0x6DD
            | 0x70F
            | 0x890..=0x891
            | 0x8E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001..=0xE007F
            | 0xE000..=0xF8FF
            | 0xF0000..=0x10FFFF
            | 0xFDD0..=0xFDEF
    );
    !format_or_private && (u & 0xFFFE) != 0xFFFE
}

/// The quoting `time.ParseDuration` uses in its errors: every byte of a
/// non-ASCII or control character is written as `\xNN`.
fn time_quote(s: &str) -> String {
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
    //! Expected values were produced by running the Go SDK code (OpenBao
    //! `sdk/framework` field parsing with mapstructure v2 and parseutil) on
    //! the same inputs, decoded as an external plugin decodes them.

    use super::*;
    use serde_json::json;

    fn ok(ty: FieldType, raw: Value) -> FieldValue {
        match parse_present(ty, &raw) {
            Ok(Some(v)) => v,
            other => panic!("{ty:?} {raw}: expected a value, got {other:?}"),
        }
    }

    fn err(ty: FieldType, raw: Value) -> String {
        match parse_present(ty, &raw) {
            Err(e) => e,
            other => panic!("{ty:?} {raw}: expected an error, got {other:?}"),
        }
    }

    fn strings(items: &[&str]) -> FieldValue {
        FieldValue::StringList(items.iter().map(|s| s.to_string()).collect())
    }

    fn pairs(items: &[(&str, &str)]) -> FieldValue {
        FieldValue::KvPairs(
            items
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn object(v: Value) -> FieldValue {
        match v {
            Value::Object(m) => FieldValue::Map(m),
            other => panic!("not an object: {other}"),
        }
    }

    const OVERFLOW: &str =
        "multiplication of durations resulted in overflow, one operand may be too large";

    #[test]
    fn duration_second_accepts_seconds_go_durations_and_days() {
        let d = FieldType::DurationSecond;
        assert_eq!(ok(d, json!(90)), FieldValue::Duration(90));
        assert_eq!(ok(d, json!("90")), FieldValue::Duration(90));
        assert_eq!(ok(d, json!("+90")), FieldValue::Duration(90));
        assert_eq!(ok(d, json!("1h")), FieldValue::Duration(3600));
        assert_eq!(ok(d, json!("2d")), FieldValue::Duration(172_800));
        assert_eq!(ok(d, json!("1.5h")), FieldValue::Duration(5400));
        assert_eq!(ok(d, json!("1h30m15s")), FieldValue::Duration(5415));
        assert_eq!(ok(d, json!("")), FieldValue::Duration(0));
        // Float seconds and sub-second strings truncate toward zero.
        assert_eq!(ok(d, json!(1.9)), FieldValue::Duration(1));
        assert_eq!(ok(d, json!("1.5s")), FieldValue::Duration(1));
        assert_eq!(ok(d, json!("999ms")), FieldValue::Duration(0));
        // ... so a small negative value truncates to 0 and is accepted.
        assert_eq!(ok(d, json!(-0.5)), FieldValue::Duration(0));
        assert_eq!(ok(d, json!("-500ms")), FieldValue::Duration(0));
        // Go's float rounding of Seconds() at the top of the range.
        assert_eq!(
            ok(d, json!("2562047h47m16.854775807s")),
            FieldValue::Duration(9_223_372_036)
        );
    }

    #[test]
    fn duration_second_refuses_negatives_and_bad_input() {
        let d = FieldType::DurationSecond;
        assert_eq!(err(d, json!(-5)), "cannot provide negative value '-5'");
        assert_eq!(err(d, json!("-5")), "cannot provide negative value '-5'");
        assert_eq!(
            err(d, json!("-1h")),
            "cannot provide negative value '-3600'"
        );
        assert_eq!(
            err(d, json!("1.5d")),
            r#"strconv.ParseInt: parsing "1.5": invalid syntax"#
        );
        assert_eq!(
            err(d, json!("d")),
            r#"strconv.ParseInt: parsing "": invalid syntax"#
        );
        assert_eq!(
            err(d, json!("1w")),
            r#"time: unknown unit "w" in duration "1w""#
        );
        assert_eq!(
            err(d, json!("5 m")),
            r#"time: unknown unit " m" in duration "5 m""#
        );
        assert_eq!(err(d, json!("h")), r#"time: invalid duration "h""#);
        assert_eq!(err(d, json!(true)), "could not parse duration from input");
        assert_eq!(err(d, json!(["1h"])), "could not parse duration from input");
        assert_eq!(
            err(d, json!({"a": 1})),
            "could not parse duration from input"
        );
        assert_eq!(err(d, json!("106752d")), OVERFLOW);
        assert_eq!(err(d, json!(9_223_372_037_i64)), OVERFLOW);
        assert_eq!(err(d, json!(1e19)), OVERFLOW);
    }

    #[test]
    fn signed_duration_second_keeps_negatives() {
        let d = FieldType::SignedDurationSecond;
        assert_eq!(ok(d, json!("-5")), FieldValue::Duration(-5));
        assert_eq!(ok(d, json!(-5)), FieldValue::Duration(-5));
        assert_eq!(ok(d, json!("-1h")), FieldValue::Duration(-3600));
        assert_eq!(ok(d, json!("-2d")), FieldValue::Duration(-172_800));
        assert_eq!(ok(d, json!(-1.9)), FieldValue::Duration(-1));
    }

    #[test]
    fn null_duration_and_time_count_as_not_supplied() {
        for ty in [
            FieldType::DurationSecond,
            FieldType::SignedDurationSecond,
            FieldType::Time,
        ] {
            assert_eq!(parse_present(ty, &Value::Null), Ok(None));
            assert_eq!(parse_value(ty, &Value::Null), Ok(zero_value(ty)));
        }
        // Every other type gives its zero value for null (name strings fail,
        // because "" does not match the name rule).
        assert_eq!(ok(FieldType::Int, Value::Null), FieldValue::Int(0));
        assert_eq!(ok(FieldType::Bool, Value::Null), FieldValue::Bool(false));
        assert_eq!(
            ok(FieldType::String, Value::Null),
            FieldValue::String(String::new())
        );
        assert_eq!(ok(FieldType::CommaStringSlice, Value::Null), strings(&[]));
        assert_eq!(ok(FieldType::KvPairs, Value::Null), pairs(&[]));
        assert_eq!(
            err(FieldType::NameString, Value::Null),
            "field does not match the formatting rules"
        );
    }

    #[test]
    fn bool_uses_weak_decoding() {
        let b = FieldType::Bool;
        for (raw, want) in [
            (json!("true"), true),
            (json!("false"), false),
            (json!("1"), true),
            (json!("0"), false),
            (json!("t"), true),
            (json!("T"), true),
            (json!("F"), false),
            (json!("TRUE"), true),
            (json!("True"), true),
            (json!(""), false),
            (json!(true), true),
            (json!(1), true),
            (json!(0.5), true),
            (json!(0), false),
        ] {
            assert_eq!(ok(b, raw), FieldValue::Bool(want));
        }
        assert_eq!(
            err(b, json!("maybe")),
            "'' cannot parse value as 'bool': strconv.ParseBool: invalid syntax"
        );
        assert_eq!(
            err(b, json!("yes")),
            "'' cannot parse value as 'bool': strconv.ParseBool: invalid syntax"
        );
        assert_eq!(
            err(b, json!([true])),
            "'' expected type 'bool', got unconvertible type '[]interface {}'"
        );
        assert_eq!(
            err(b, json!({})),
            "'' expected type 'bool', got unconvertible type 'map[string]interface {}'"
        );
    }

    #[test]
    fn int_uses_weak_decoding_with_go_literals() {
        let i = FieldType::Int;
        for (raw, want) in [
            (json!("42"), 42),
            (json!(42), 42),
            (json!(42.0), 42),
            (json!(42.5), 42),
            (json!(42.9), 42),
            (json!(-42.9), -42),
            (json!("-42"), -42),
            (json!("+42"), 42),
            (json!("0x1F"), 31),
            (json!("017"), 15),
            (json!("0o17"), 15),
            (json!("0b101"), 5),
            (json!("1_000"), 1000),
            (json!(""), 0),
            (json!(true), 1),
            (json!(false), 0),
            (json!("9223372036854775807"), i64::MAX),
            (json!("-9223372036854775808"), i64::MIN),
            // Go on amd64: an out-of-range float converts to the minimum.
            (json!(1e19), i64::MIN),
        ] {
            assert_eq!(ok(i, raw.clone()), FieldValue::Int(want), "{raw}");
        }
        let syntax = "'' cannot parse value as 'int': strconv.ParseInt: invalid syntax";
        assert_eq!(err(i, json!("4x")), syntax);
        assert_eq!(err(i, json!("42.5")), syntax);
        assert_eq!(err(i, json!("_1")), syntax);
        assert_eq!(err(i, json!("1__0")), syntax);
        assert_eq!(err(i, json!(" 1")), syntax);
        assert_eq!(
            err(i, json!("9223372036854775808")),
            "'' cannot parse value as 'int': strconv.ParseInt: value out of range"
        );
        assert_eq!(
            err(i, json!([1])),
            "'' expected type 'int', got unconvertible type '[]interface {}'"
        );
        assert_eq!(
            err(FieldType::Int64, json!("4x")),
            "'' cannot parse value as 'int64': strconv.ParseInt: invalid syntax"
        );
        assert_eq!(
            err(FieldType::Int64, json!({"a": 1})),
            "'' expected type 'int64', got unconvertible type 'map[string]interface {}'"
        );
    }

    #[test]
    fn float_uses_go_parse_float() {
        let f = FieldType::Float;
        assert_eq!(ok(f, json!("1.5")), FieldValue::Float(1.5));
        assert_eq!(ok(f, json!("0x1p-2")), FieldValue::Float(0.25));
        assert_eq!(ok(f, json!("0x1.8p1")), FieldValue::Float(3.0));
        assert_eq!(ok(f, json!("1_000.5")), FieldValue::Float(1000.5));
        assert_eq!(ok(f, json!("-Inf")), FieldValue::Float(f64::NEG_INFINITY));
        assert_eq!(ok(f, json!("1e-400")), FieldValue::Float(0.0));
        assert_eq!(ok(f, json!(true)), FieldValue::Float(1.0));
        assert_eq!(ok(f, json!(2)), FieldValue::Float(2.0));
        assert_eq!(
            err(f, json!("1e400")),
            "'' cannot parse value as 'float64': strconv.ParseFloat: value out of range"
        );
        assert_eq!(
            err(f, json!("abc")),
            "'' cannot parse value as 'float64': strconv.ParseFloat: invalid syntax"
        );
        assert_eq!(
            err(f, json!("0x1")),
            "'' cannot parse value as 'float64': strconv.ParseFloat: invalid syntax"
        );
        assert_eq!(
            err(f, json!([1])),
            "'' expected type 'float64', got unconvertible type '[]interface {}'"
        );
    }

    #[test]
    fn string_converts_numbers_and_booleans() {
        let s = FieldType::String;
        let text = |v: &str| FieldValue::String(v.to_string());
        assert_eq!(ok(s, json!("abc")), text("abc"));
        assert_eq!(ok(s, json!(42)), text("42"));
        assert_eq!(ok(s, json!(42.5)), text("42.5"));
        assert_eq!(ok(s, json!(1e21)), text("1000000000000000000000"));
        assert_eq!(ok(s, json!(1e-7)), text("0.0000001"));
        assert_eq!(ok(s, json!(true)), text("1"));
        assert_eq!(ok(s, json!(false)), text("0"));
        assert_eq!(
            err(s, json!([1])),
            "'' expected type 'string', got unconvertible type '[]interface {}'"
        );
        assert_eq!(
            err(s, json!({"a": 1})),
            "'' expected type 'string', got unconvertible type 'map[string]interface {}'"
        );
    }

    #[test]
    fn lower_case_and_name_strings() {
        let l = FieldType::LowerCaseString;
        assert_eq!(ok(l, json!("HeLLo")), FieldValue::String("hello".into()));
        assert_eq!(
            ok(l, json!("ÀÉ\u{130}Σ")),
            FieldValue::String("àéiσ".into())
        );
        assert_eq!(ok(l, json!(true)), FieldValue::String("1".into()));

        let n = FieldType::NameString;
        for good in ["my-role.v1_x", "a", "a..b", "A9", "a-.-b"] {
            assert_eq!(ok(n, json!(good)), FieldValue::String(good.into()));
        }
        assert_eq!(ok(n, json!(42)), FieldValue::String("42".into()));
        for bad in ["-a", "a-", ".a", "", "ü", "a b", "ab\n", "a/b"] {
            assert_eq!(
                err(n, json!(bad)),
                "field does not match the formatting rules",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn comma_string_slice_splits_and_trims() {
        let c = FieldType::CommaStringSlice;
        assert_eq!(ok(c, json!("a,b , c")), strings(&["a", "b", "c"]));
        assert_eq!(ok(c, json!("a,,b")), strings(&["a", "", "b"]));
        assert_eq!(ok(c, json!(" a ")), strings(&["a"]));
        assert_eq!(ok(c, json!(",")), strings(&["", ""]));
        assert_eq!(ok(c, json!("")), strings(&[]));
        assert_eq!(ok(c, json!(["a", "b"])), strings(&["a", "b"]));
        // List items are trimmed but not split.
        assert_eq!(ok(c, json!([" a ", "b,c"])), strings(&["a", "b,c"]));
        assert_eq!(ok(c, json!(42)), strings(&["42"]));
        assert_eq!(ok(c, json!(1.5)), strings(&["1.5"]));
        assert_eq!(ok(c, json!(true)), strings(&["1"]));
        assert_eq!(
            ok(c, json!([1, true, null, 2.5])),
            strings(&["1", "1", "", "2.5"])
        );
        assert_eq!(ok(c, json!({})), strings(&[]));
        assert_eq!(
            err(c, json!({"a": 1})),
            "1 error(s) decoding:\n\n* '[0]' expected type 'string', got unconvertible type 'map[string]interface {}', value: 'map[a:1]'"
        );
        assert_eq!(
            err(c, json!([["x"], {"b": 1e6}])),
            "2 error(s) decoding:\n\n* '[0]' expected type 'string', got unconvertible type '[]interface {}', value: '[x]'\n* '[1]' expected type 'string', got unconvertible type 'map[string]interface {}', value: 'map[b:1e+06]'"
        );
    }

    #[test]
    fn comma_string_slice_sorts_errors_as_text() {
        let items: Vec<Value> = (0..11).map(|i| json!([i])).collect();
        let e = err(FieldType::CommaStringSlice, Value::Array(items));
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines[0], "11 error(s) decoding:");
        assert!(lines[2].starts_with("* '[0]' "));
        assert!(lines[3].starts_with("* '[10]' "));
        assert!(lines[4].starts_with("* '[1]' "));
    }

    #[test]
    fn string_slice_lifts_scalars_and_trims() {
        let s = FieldType::StringSlice;
        assert_eq!(ok(s, json!(["a", " b "])), strings(&["a", "b"]));
        assert_eq!(ok(s, json!("a,b")), strings(&["a,b"]));
        assert_eq!(ok(s, json!("")), strings(&[]));
        assert_eq!(ok(s, json!(42)), strings(&["42"]));
        assert_eq!(ok(s, json!([1, false, null])), strings(&["1", "0", ""]));
        assert_eq!(ok(s, json!({})), strings(&[]));
        assert_eq!(
            err(s, json!([["x"], {"b": 1}])),
            "decoding failed due to the following error(s):\n\n'[0]' expected type 'string', got unconvertible type '[]interface {}'\n'[1]' expected type 'string', got unconvertible type 'map[string]interface {}'"
        );
        assert_eq!(
            err(s, json!({"a": 1})),
            "decoding failed due to the following error(s):\n\n'[0]' expected type 'string', got unconvertible type 'map[string]interface {}'"
        );
    }

    #[test]
    fn kv_pairs_from_objects_and_pair_lists() {
        let k = FieldType::KvPairs;
        assert_eq!(ok(k, json!({"a": "b"})), pairs(&[("a", "b")]));
        assert_eq!(
            ok(k, json!({"a": 1, "b": true, "c": null})),
            pairs(&[("a", "1"), ("b", "1"), ("c", "")])
        );
        assert_eq!(
            ok(k, json!(["a=b", "c=d"])),
            pairs(&[("a", "b"), ("c", "d")])
        );
        assert_eq!(
            ok(k, json!(["a=b=c", "e="])),
            pairs(&[("a", "b=c"), ("e", "")])
        );
        // A string is one pair: it is not split on commas.
        assert_eq!(ok(k, json!("a=b,c=d")), pairs(&[("a", "b,c=d")]));
        assert_eq!(ok(k, json!("a=b")), pairs(&[("a", "b")]));
        assert_eq!(ok(k, json!([])), pairs(&[]));
        assert_eq!(ok(k, json!([null])), pairs(&[]));
        assert_eq!(
            ok(k, json!([{"a": "b"}, {"c": "d"}])),
            pairs(&[("a", "b"), ("c", "d")])
        );
        assert_eq!(err(k, json!(["x"])), r#"invalid key pair "x""#);
        assert_eq!(err(k, json!(["=b"])), r#"invalid key pair "=b""#);
        assert_eq!(err(k, json!([""])), r#"invalid key pair """#);
        assert_eq!(err(k, json!("")), r#"invalid key pair """#);
        assert_eq!(err(k, json!(5)), r#"invalid key pair "5""#);
        assert_eq!(err(k, json!(true)), r#"invalid key pair "1""#);
        assert_eq!(err(k, json!(["a\tb"])), r#"invalid key pair "a\tb""#);
        assert_eq!(
            err(k, json!({"a": [1]})),
            "decoding failed due to the following error(s):\n\n'[0]' expected type 'string', got unconvertible type 'map[string]interface {}'"
        );
        assert_eq!(
            err(k, json!([["a=b"]])),
            "decoding failed due to the following error(s):\n\n'[0]' expected type 'string', got unconvertible type '[]interface {}'"
        );
    }

    #[test]
    fn map_accepts_objects_but_not_json_strings() {
        let m = FieldType::Map;
        assert_eq!(
            ok(m, json!({"a": 1, "b": [true]})),
            object(json!({"a": 1, "b": [true]}))
        );
        assert_eq!(
            ok(m, json!([{"a": 1}, {"b": 2}])),
            object(json!({"a": 1, "b": 2}))
        );
        assert_eq!(ok(m, json!([])), object(json!({})));
        assert_eq!(ok(m, Value::Null), object(json!({})));
        // Numbers are float64 in Go: 2^53 + 1 is not representable.
        assert_eq!(
            ok(m, json!({"n": 9_007_199_254_740_993_i64})),
            object(json!({"n": 9_007_199_254_740_992_i64}))
        );
        assert_eq!(
            err(m, json!("{\"a\":1}")),
            "'' expected type 'map[string]interface {}', got unconvertible type 'string'"
        );
        assert_eq!(
            err(m, json!([{"a": 1}, 2])),
            "'[1]' expected type 'map[string]interface {}', got unconvertible type 'float64'"
        );
        assert_eq!(
            err(m, json!(1)),
            "'' expected type 'map[string]interface {}', got unconvertible type 'float64'"
        );
    }

    #[test]
    fn slice_lifts_scalars() {
        let s = FieldType::Slice;
        assert_eq!(
            ok(s, json!([1, "a", null])),
            FieldValue::Raw(json!([1, "a", null]))
        );
        assert_eq!(ok(s, json!("a,b")), FieldValue::Raw(json!(["a,b"])));
        assert_eq!(ok(s, json!({})), FieldValue::Raw(json!([])));
        assert_eq!(ok(s, json!({"a": 1})), FieldValue::Raw(json!([{"a": 1}])));
        assert_eq!(ok(s, json!(5)), FieldValue::Raw(json!([5])));
        assert_eq!(ok(s, Value::Null), FieldValue::Raw(json!([])));
    }

    #[test]
    fn comma_int_slice_parses_each_part_as_go_literal() {
        let c = FieldType::CommaIntSlice;
        let ints = |v: &[i64]| FieldValue::IntList(v.to_vec());
        assert_eq!(ok(c, json!("1,2,3")), ints(&[1, 2, 3]));
        assert_eq!(ok(c, json!("1,,2")), ints(&[1, 0, 2]));
        assert_eq!(ok(c, json!("0x10,010")), ints(&[16, 8]));
        assert_eq!(ok(c, json!("")), ints(&[]));
        assert_eq!(
            ok(c, json!([1, "2", 2.7, true, null])),
            ints(&[1, 2, 2, 1, 0])
        );
        assert_eq!(ok(c, json!(5)), ints(&[5]));
        assert_eq!(
            err(c, json!("1, 2")),
            "decoding failed due to the following error(s):\n\n'[1]' cannot parse value as 'int': strconv.ParseInt: invalid syntax"
        );
        assert_eq!(
            err(c, json!("a,b")),
            "decoding failed due to the following error(s):\n\n'[0]' cannot parse value as 'int': strconv.ParseInt: invalid syntax\n'[1]' cannot parse value as 'int': strconv.ParseInt: invalid syntax"
        );
        assert_eq!(
            err(c, json!([[1]])),
            "decoding failed due to the following error(s):\n\n'[0]' expected type 'int', got unconvertible type '[]interface {}'"
        );
    }

    #[test]
    fn header_forms() {
        let h = FieldType::Header;
        assert_eq!(
            ok(h, json!({"content-type": "a", "X-FOO": ["b", "c"]})),
            object(json!({"Content-Type": ["a"], "X-Foo": ["b", "c"]}))
        );
        assert_eq!(
            ok(h, json!("{\"accept\":[\"x\",1]}")),
            object(json!({"Accept": ["x", "1"]}))
        );
        // base64 of {"a":"b"}
        assert_eq!(ok(h, json!("eyJhIjoiYiJ9")), object(json!({"A": ["b"]})));
        assert_eq!(
            ok(h, json!(["content-type:text/json", "accept:a:b"])),
            object(json!({"Content-Type": ["text/json"], "Accept": ["a:b"]}))
        );
        assert_eq!(err(h, json!(["nocolon"])), r#"invalid key pair "nocolon""#);
        assert_eq!(err(h, json!([1])), r#"invalid key pair """#);
        assert_eq!(
            err(h, json!({"a": 1})),
            "unrecognized type for %!s(float64=1)"
        );
        assert_eq!(
            err(h, json!({"a": [1, null]})),
            "received non-string value for header key:a, val:[%!s(float64=1) <nil>]"
        );
    }

    #[test]
    fn time_parses_rfc3339_and_epoch_strings() {
        let t = FieldType::Time;
        let text = |v: &str| FieldValue::String(v.to_string());
        assert_eq!(
            ok(t, json!("2024-01-02T03:04:05Z")),
            text("2024-01-02T03:04:05Z")
        );
        assert_eq!(
            ok(t, json!("2024-01-02T03:04:05.120+02:00")),
            text("2024-01-02T01:04:05.12Z")
        );
        assert_eq!(
            ok(t, json!("2024-01-02T03:04:05,5Z")),
            text("2024-01-02T03:04:05.5Z")
        );
        assert_eq!(ok(t, json!("1700000000")), text("2023-11-14T22:13:20Z"));
        assert_eq!(
            err(t, json!(1_700_000_000)),
            "could not parse time from input type"
        );
        assert_eq!(
            err(t, json!("2023-02-29T00:00:00Z")),
            "could not parse string as date and time"
        );
        assert_eq!(
            err(t, json!("yesterday")),
            "could not parse string as date and time"
        );
        assert_eq!(zero_value(t), text("0001-01-01T00:00:00Z"));
    }

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
    fn duration_seconds_helpers() {
        assert_eq!(parse_duration_seconds("30m"), Ok(1800));
        assert_eq!(parse_duration_seconds("12h"), Ok(43_200));
        assert_eq!(parse_duration_seconds("1d"), Ok(86_400));
        assert_eq!(parse_duration_seconds("90"), Ok(90));
        assert_eq!(parse_duration_seconds(""), Ok(0));
        assert_eq!(parse_duration_seconds("-1h"), Ok(-3600));
        assert_eq!(parse_duration_seconds("1.5s"), Ok(1));
        assert_eq!(parse_duration_second_nanos("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration_second_nanos("2d"), Ok(172_800_000_000_000));
        assert_eq!(
            parse_duration_seconds("1x"),
            Err(r#"time: unknown unit "x" in duration "1x""#.to_string())
        );
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
    fn type_names_and_openapi() {
        let expected = [
            (FieldType::String, "string", ("string", None), None),
            (FieldType::Int, "int", ("integer", None), None),
            (FieldType::Int64, "int64", ("integer", Some("int64")), None),
            (FieldType::Bool, "bool", ("boolean", None), None),
            (FieldType::Map, "map", ("object", Some("map")), None),
            (
                FieldType::DurationSecond,
                "duration (sec)",
                ("integer", Some("seconds")),
                None,
            ),
            (
                FieldType::SignedDurationSecond,
                "duration (sec)",
                ("integer", Some("seconds")),
                None,
            ),
            (FieldType::Slice, "slice", ("array", None), Some("object")),
            (
                FieldType::StringSlice,
                "slice",
                ("array", None),
                Some("string"),
            ),
            (
                FieldType::CommaStringSlice,
                "slice",
                ("array", None),
                Some("string"),
            ),
            (
                FieldType::LowerCaseString,
                "lowercase string",
                ("string", Some("lowercase")),
                None,
            ),
            (FieldType::NameString, "name string", ("string", None), None),
            (
                FieldType::KvPairs,
                "keypair",
                ("object", Some("kvpairs")),
                None,
            ),
            (
                FieldType::CommaIntSlice,
                "slice",
                ("array", None),
                Some("integer"),
            ),
            (FieldType::Header, "header", ("string", None), None),
            (FieldType::Float, "float", ("number", Some("float")), None),
            (FieldType::Time, "time", ("string", Some("date-time")), None),
        ];
        assert_eq!(expected.len(), FieldType::ALL.len());
        for (ty, name, openapi, items) in expected {
            assert_eq!(ty.display_name(), name, "{ty:?}");
            assert_eq!(ty.openapi_type(), openapi, "{ty:?}");
            assert_eq!(ty.openapi_items(), items, "{ty:?}");
        }
        assert_eq!(
            FieldType::NameString.openapi_pattern(),
            Some(r"\w([\w-.]*\w)?")
        );
        assert_eq!(
            FieldType::from_config_name("comma_string_slice"),
            Ok(FieldType::CommaStringSlice)
        );
        assert_eq!(
            FieldType::from_config_name("nope"),
            Err(r#"unknown field type: "nope""#.to_string())
        );
    }

    #[test]
    fn zero_and_default_values() {
        assert_eq!(zero_value(FieldType::Int), FieldValue::Int(0));
        assert_eq!(zero_value(FieldType::CommaStringSlice), strings(&[]));
        assert_eq!(zero_value(FieldType::KvPairs), pairs(&[]));
        assert_eq!(zero_value(FieldType::Map), object(json!({})));
        assert_eq!(
            zero_value(FieldType::CommaIntSlice),
            FieldValue::IntList(vec![])
        );
        assert_eq!(zero_value(FieldType::Slice), FieldValue::Raw(json!([])));
        let d = FieldType::DurationSecond;
        assert_eq!(default_or_zero(d, None), FieldValue::Duration(0));
        assert_eq!(
            default_or_zero(d, Some(&json!("1h"))),
            FieldValue::Duration(3600)
        );
        assert_eq!(
            default_or_zero(d, Some(&json!(3600))),
            FieldValue::Duration(3600)
        );
        // Defaults skip the negative check; unparsable defaults give zero.
        assert_eq!(
            default_or_zero(d, Some(&json!("-1h"))),
            FieldValue::Duration(-3600)
        );
        assert_eq!(
            default_or_zero(d, Some(&json!("bogus"))),
            FieldValue::Duration(0)
        );
        assert_eq!(
            default_or_zero(FieldType::Int, Some(&json!(-1))),
            FieldValue::Int(-1)
        );
        assert_eq!(
            default_or_zero(FieldType::String, Some(&json!("/"))),
            FieldValue::String("/".into())
        );
    }

    #[test]
    fn error_texts_for_the_framework() {
        assert_eq!(
            parse_field("ttl", FieldType::DurationSecond, &json!("-1")),
            Err(
                r#"error converting input for field "ttl": cannot provide negative value '-1'"#
                    .to_string()
            )
        );
        assert_eq!(
            conversion_error("a\"b", "why"),
            r#"error converting input for field "a\"b": why"#
        );
        assert_eq!(validation_failed("x"), "Field validation failed: x");
        assert_eq!(unrecognized_params_warning(&[]), None);
        assert_eq!(
            unrecognized_params_warning(&["zeta".to_string(), "alpha".to_string()]),
            Some("Endpoint ignored these unrecognized parameters: [alpha zeta]".to_string())
        );
        assert_eq!(
            replaced_params_warning(&["name".to_string()]),
            Some("Endpoint replaced the value of these parameters with the values captured from the endpoint's path: [name]".to_string())
        );
    }

    #[test]
    fn to_json_matches_go_marshalling() {
        assert_eq!(FieldValue::Duration(90).to_json(), json!(90));
        assert_eq!(FieldValue::Float(2.0).to_json(), json!(2));
        assert_eq!(FieldValue::Float(2.5).to_json(), json!(2.5));
        assert_eq!(pairs(&[("a", "b")]).to_json(), json!({"a": "b"}));
        assert_eq!(strings(&["x"]).to_json(), json!(["x"]));
        assert_eq!(FieldValue::IntList(vec![1, 2]).to_json(), json!([1, 2]));
        assert_eq!(FieldValue::Bool(true).as_bool(), Some(true));
        assert_eq!(FieldValue::Duration(5).as_i64(), Some(5));
        assert_eq!(FieldValue::String("s".into()).as_str(), Some("s"));
    }

    #[test]
    fn go_number_formatting_and_quoting() {
        assert_eq!(go_format_float_g(1e6), "1e+06");
        assert_eq!(go_format_float_g(123_456.0), "123456");
        assert_eq!(go_format_float_g(1_234_567.0), "1.234567e+06");
        assert_eq!(go_format_float_g(0.0001), "0.0001");
        assert_eq!(go_format_float_g(0.00001), "1e-05");
        assert_eq!(go_format_float_g(1e100), "1e+100");
        assert_eq!(go_format_float_g(-1.5), "-1.5");
        assert_eq!(
            go_quote("a\"b\\c\n\u{7f}\u{a0}\u{e9}"),
            r#""a\"b\\c\n\x7f\u00a0é""#
        );
        assert_eq!(time_quote("\u{e9}\u{7}\"\\"), r#""\xc3\xa9\x07\"\\""#);
        assert_eq!(canonical_header_key("x-amz-date"), "X-Amz-Date");
        assert_eq!(canonical_header_key("bad key"), "bad key");
    }
}
