//! Request field parsing that behaves like the OpenBao/Vault SDK framework.
//!
//! Clients (the CLI, hvac, Terraform) send values the way the Go SDK accepts
//! them: durations as `"1h"` or `90`, booleans as `"t"`, lists as `"a,b"`,
//! key/value pairs as `["k=v"]`, and they read the SDK's error texts. This
//! module reproduces those conversions and texts so the Rust plugin answers
//! exactly like a Go plugin built on `sdk/framework`. Of the SDK's seventeen
//! field types it ports the six the engine's paths declare; Go's own number,
//! duration and quoting rules come from `crate::gocompat`.
//!
//! Facts the port relies on (all checked against the Go code):
//! - An external plugin decodes the request body with plain `encoding/json`,
//!   so every JSON number reaches the field parser as a `float64`. Numbers are
//!   therefore handled as `f64` here: `42.9` is `42` for an int field, and
//!   integers past 2^53 lose precision as they do in Go.
//! - String, int, bool and key/value fields go through mapstructure v2 "weak"
//!   decoding (`true` becomes `"1"`, `"0x1F"` becomes `31`, `""` becomes
//!   `0`/`false`, a scalar becomes a one-element list).
//! - Comma-string-slice fields go through go-secure-stdlib's parseutil, which
//!   still uses mapstructure v1 (its error texts differ from v2's).
//! - A JSON `null` for a duration field counts as "not supplied" (the schema
//!   default applies); for other types it is the type's zero value.
//! - Out-of-range float to integer conversions follow Go on amd64 (the result
//!   is `i64::MIN`).

use serde_json::{Number, Value};
use std::collections::BTreeMap;

use crate::gocompat::duration::parse_go_duration;
use crate::gocompat::quote::go_quote;
use crate::gocompat::strconv::{format_float, parse_bool, parse_int};

/// Go's `time.Duration.String()`, which the SDK uses to echo durations as text.
pub(crate) use crate::gocompat::duration::format_go_duration;

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
    /// A boolean; accepts `"true"`, `"t"`, `"1"`, numbers, ...
    Bool,
    /// Non-negative whole seconds from an integer or a Go duration string.
    DurationSecond,
    /// A list of strings that also accepts a comma-separated string.
    CommaStringSlice,
    /// String key/value pairs from an object or `key=value` strings.
    KvPairs,
}

impl FieldType {
    /// Name shown in path help, as the SDK's `FieldType.String()` prints it.
    pub fn display_name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Int => "int",
            FieldType::Bool => "bool",
            FieldType::KvPairs => "keypair",
            FieldType::DurationSecond => "duration (sec)",
            FieldType::CommaStringSlice => "slice",
        }
    }

    /// OpenAPI schema type and format, as the SDK's OpenAPI generator
    /// (`convertType`) emits them.
    pub fn openapi_type(self) -> (&'static str, Option<&'static str>) {
        match self {
            FieldType::String => ("string", None),
            FieldType::Int => ("integer", None),
            FieldType::DurationSecond => ("integer", Some("seconds")),
            FieldType::Bool => ("boolean", None),
            FieldType::KvPairs => ("object", Some("kvpairs")),
            FieldType::CommaStringSlice => ("array", None),
        }
    }
}

/// A parsed value, the Rust counterpart of what the SDK's `FieldData.Get`
/// returns for each field type.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// String.
    String(String),
    /// Int.
    Int(i64),
    /// Bool.
    Bool(bool),
    /// Duration fields, in whole seconds.
    Duration(i64),
    /// Comma string slices.
    StringList(Vec<String>),
    /// Key/value pairs.
    KvPairs(BTreeMap<String, String>),
}

impl FieldValue {
    /// The value as JSON, shaped the way the Go SDK would marshal it in a
    /// response.
    pub fn to_json(&self) -> Value {
        match self {
            FieldValue::String(s) => Value::String(s.clone()),
            FieldValue::Int(i) | FieldValue::Duration(i) => Value::from(*i),
            FieldValue::Bool(b) => Value::Bool(*b),
            FieldValue::StringList(l) => Value::from(l.clone()),
            FieldValue::KvPairs(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            ),
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
/// duration value, which the SDK treats as "not supplied", gives the
/// zero value here; use [`parse_present`] to tell it apart and apply a default.
#[cfg(test)]
pub(crate) fn parse_value(ty: FieldType, raw: &Value) -> Result<FieldValue, String> {
    Ok(parse_present(ty, raw)?.unwrap_or_else(|| zero_value(ty)))
}

/// Parses a raw JSON request value like [`parse_value`], but answers
/// `Ok(None)` where the SDK reports the field as not set (a `null` duration),
/// so the caller applies the schema default as the SDK's `Get` does.
pub(crate) fn parse_present(ty: FieldType, raw: &Value) -> Result<Option<FieldValue>, String> {
    let value = match ty {
        FieldType::Bool => FieldValue::Bool(weak_bool("", raw).map_err(DecodeError::finish)?),
        FieldType::Int => FieldValue::Int(weak_int("", raw, "int").map_err(DecodeError::finish)?),
        FieldType::String => FieldValue::String(weak_string("", raw).map_err(DecodeError::finish)?),
        FieldType::DurationSecond => {
            let Some(nanos) = duration_second_value(raw)? else {
                return Ok(None);
            };
            let secs = whole_seconds(nanos);
            if secs < 0 {
                return Err(format!("cannot provide negative value '{secs}'"));
            }
            FieldValue::Duration(secs)
        }
        FieldType::CommaStringSlice => FieldValue::StringList(parse_comma_string_slice(raw)?),
        FieldType::KvPairs => FieldValue::KvPairs(kv_pairs(raw)?),
    };
    Ok(Some(value))
}

/// Parses a field value and, on failure, returns the SDK's full message
/// `error converting input for field "<name>": <reason>`.
pub(crate) fn parse_field(
    name: &str,
    ty: FieldType,
    raw: &Value,
) -> Result<Option<FieldValue>, String> {
    parse_present(ty, raw).map_err(|why| conversion_error(name, &why))
}

/// The SDK's text for a value that does not convert:
/// `error converting input for field "<name>": <reason>`.
pub(crate) fn conversion_error(name: &str, reason: &str) -> String {
    format!(
        "error converting input for field {}: {reason}",
        go_quote(name)
    )
}

/// The SDK's 400 response text when field validation fails before the
/// handler runs: `Field validation failed: <error>`.
pub(crate) fn validation_failed(error: &str) -> String {
    format!("Field validation failed: {error}")
}

/// The SDK's warning for request keys the path does not declare (names are
/// sorted), or `None` when there are none. The SDK adds it only to a
/// non-empty response.
pub(crate) fn unrecognized_params_warning(names: &[String]) -> Option<String> {
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
pub(crate) fn replaced_params_warning(names: &[String]) -> Option<String> {
    if names.is_empty() {
        return None;
    }
    Some(format!(
        "Endpoint replaced the value of these parameters with the values captured from the endpoint's path: [{}]",
        names.join(" ")
    ))
}

/// Zero value used when a field is absent and has no default, as the SDK's
/// `FieldType.Zero()`.
pub(crate) fn zero_value(ty: FieldType) -> FieldValue {
    match ty {
        FieldType::String => FieldValue::String(String::new()),
        FieldType::Int => FieldValue::Int(0),
        FieldType::Bool => FieldValue::Bool(false),
        FieldType::KvPairs => FieldValue::KvPairs(BTreeMap::new()),
        FieldType::DurationSecond => FieldValue::Duration(0),
        FieldType::CommaStringSlice => FieldValue::StringList(Vec::new()),
    }
}

/// The value of an absent field, as the SDK's `DefaultOrZero`: duration
/// defaults are parsed like request values (a default that does not parse
/// gives zero, and negatives are kept); other defaults are converted with the
/// field's rules, falling back to the zero value.
pub(crate) fn default_or_zero(ty: FieldType, default: Option<&Value>) -> FieldValue {
    let Some(default) = default else {
        return zero_value(ty);
    };
    match ty {
        FieldType::DurationSecond => match duration_second_value(default) {
            Ok(Some(nanos)) => FieldValue::Duration(whole_seconds(nanos)),
            _ => zero_value(ty),
        },
        _ => match parse_present(ty, default) {
            Ok(Some(v)) => v,
            _ => zero_value(ty),
        },
    }
}

/// Parses a duration string as parseutil's `ParseDurationSecond` does (empty
/// = 0, plain integer = seconds, integer + `d` = days, else Go's
/// `time.ParseDuration`) and returns whole seconds, truncated toward zero.
#[cfg(test)]
pub(crate) fn parse_duration_seconds(s: &str) -> Result<i64, String> {
    parse_duration_second_nanos(s).map(whole_seconds)
}

/// Parses a duration string like [`parse_duration_seconds`] but keeps
/// nanosecond precision (`"1.5s"` is 1.5e9), for handlers that store a Go
/// `time.Duration` (e.g. `config/lease`).
pub(crate) fn parse_duration_second_nanos(s: &str) -> Result<i64, String> {
    if s.is_empty() {
        return Ok(0);
    }
    if let Ok(v) = parse_int(s, false) {
        return v
            .checked_mul(NANOS_PER_SECOND)
            .ok_or_else(|| DURATION_OVERFLOW.to_string());
    }
    if let Some(days) = s.strip_suffix('d') {
        let v = parse_int(days, false).map_err(|e| e.describe("ParseInt", days))?;
        return v
            .checked_mul(NANOS_PER_DAY)
            .ok_or_else(|| DURATION_OVERFLOW.to_string());
    }
    parse_go_duration(s)
}

// ---------------------------------------------------------------------------
// Durations as parseutil reads them.
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

/// Weak decode into a string: booleans become "1"/"0", numbers their
/// shortest decimal form.
fn weak_string(name: &str, v: &Value) -> Result<String, DecodeError> {
    match v {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(if *b { "1" } else { "0" }.to_string()),
        Value::Number(n) => Ok(format_float(number_f64(n), 'f', -1)),
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
        Value::String(s) => parse_int(s, true)
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
        Value::String(s) => match parse_bool(s) {
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

/// Weak decode into `map[string]string`: objects merge into `acc` with every
/// value converted like a string field, and an array's elements are decoded
/// into the same map one after another.
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
                go_format_value(item)
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

/// Go's `%v` of a JSON-decoded value (`[a b]`, `map[k:v]`, floats as `%g`),
/// as mapstructure v1 prints a value it could not convert.
fn go_format_value(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_format_value).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_format_value(&m[k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format_float(number_f64(n), 'g', -1),
    }
}

#[cfg(test)]
mod tests;
