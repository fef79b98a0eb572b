//! The values a template computes and the functions' parameter types (Go's `reflect.Value`s
//! and `reflect.Type`s as `text/template/exec.go` sees them).

use std::fmt;

/// The values a template can produce. Strings are bytes, as Go strings are.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    /// Go's invalid `reflect.Value` (an untyped nil).
    Nil,
    Bool(bool),
    Int(i64),
    /// A byte, what `index` of a string gives.
    Uint8(u8),
    Float(f64),
    Str(Vec<u8>),
    /// The template data (`.` at the top), a struct in Go; holds its Go type name.
    Struct(&'static str),
}

impl Value {
    /// Go's name of the value's type, as `%T` and error messages print it.
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Uint8(_) => "uint8",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Struct(name) => name,
        }
    }

    /// Go's `isTrue`: the zero value of its type is false, a struct always true.
    pub(super) fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Uint8(u) => *u != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Struct(_) => true,
        }
    }
}

/// Parameter types of the functions (Go's `int`, `string`, and `any`/`reflect.Value`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Param {
    Int,
    Str,
    Any,
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Param::Int => "int",
            Param::Str => "string",
            Param::Any => "interface {}",
        })
    }
}

/// A function's parameters: the fixed ones, then the type of `...` ones if variadic.
pub(super) struct Signature {
    pub(super) fixed: &'static [Param],
    pub(super) variadic: Option<Param>,
}

/// Every function a template may call: Go's builtins, the SDK's and OpenBao's helpers.
pub(super) fn signature(name: &str) -> Option<Signature> {
    use Param::*;
    let (fixed, variadic): (&'static [Param], Option<Param>) = match name {
        "and" | "or" | "call" | "index" | "slice" | "eq" => (&[Any], Some(Any)),
        "html" | "js" | "urlquery" | "print" | "println" => (&[], Some(Any)),
        "len" | "not" => (&[Any], None),
        "printf" => (&[Str], Some(Any)),
        "ne" | "lt" | "le" | "gt" | "ge" => (&[Any, Any], None),
        "random" => (&[Int], None),
        "truncate" | "truncate_sha256" => (&[Int, Str], None),
        "uppercase" | "lowercase" | "sha256" | "base64" | "decode_base64" | "hex"
        | "decode_hex" | "timestamp" => (&[Str], None),
        "replace" => (&[Str, Str, Str], None),
        "glob" => (&[Str, Str], None),
        "unix_time" | "unix_time_millis" | "uuid" => (&[], None),
        _ => return None,
    };
    Some(Signature { fixed, variadic })
}
