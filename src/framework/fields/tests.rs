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
fn null_duration_counts_as_not_supplied() {
    let ty = FieldType::DurationSecond;
    assert_eq!(parse_present(ty, &Value::Null), Ok(None));
    assert_eq!(parse_value(ty, &Value::Null), Ok(zero_value(ty)));
    // Every other type gives its zero value for null.
    assert_eq!(ok(FieldType::Int, Value::Null), FieldValue::Int(0));
    assert_eq!(ok(FieldType::Bool, Value::Null), FieldValue::Bool(false));
    assert_eq!(
        ok(FieldType::String, Value::Null),
        FieldValue::String(String::new())
    );
    assert_eq!(ok(FieldType::CommaStringSlice, Value::Null), strings(&[]));
    assert_eq!(ok(FieldType::KvPairs, Value::Null), pairs(&[]));
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
fn type_names_and_openapi() {
    let expected = [
        (FieldType::String, "string", ("string", None)),
        (FieldType::Int, "int", ("integer", None)),
        (FieldType::Bool, "bool", ("boolean", None)),
        (
            FieldType::DurationSecond,
            "duration (sec)",
            ("integer", Some("seconds")),
        ),
        (FieldType::CommaStringSlice, "slice", ("array", None)),
        (FieldType::KvPairs, "keypair", ("object", Some("kvpairs"))),
    ];
    for (ty, name, openapi) in expected {
        assert_eq!(ty.display_name(), name, "{ty:?}");
        assert_eq!(ty.openapi_type(), openapi, "{ty:?}");
    }
}

#[test]
fn zero_and_default_values() {
    assert_eq!(zero_value(FieldType::Int), FieldValue::Int(0));
    assert_eq!(zero_value(FieldType::CommaStringSlice), strings(&[]));
    assert_eq!(zero_value(FieldType::KvPairs), pairs(&[]));
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
    assert_eq!(pairs(&[("a", "b")]).to_json(), json!({"a": "b"}));
    assert_eq!(strings(&["x"]).to_json(), json!(["x"]));
    assert_eq!(FieldValue::Bool(true).as_bool(), Some(true));
    assert_eq!(FieldValue::Duration(5).as_i64(), Some(5));
    assert_eq!(FieldValue::String("s".into()).as_str(), Some("s"));
}
