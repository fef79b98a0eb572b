//! The functions a template may call: Go's builtins (`funcs.go`: `and`, `or`, `not`, `len`,
//! `index`, `slice`, comparisons, printing and escaping) and the SDK's helpers
//! (`sdk/helper/template/funcs.go`, go-secure-stdlib's `base62`, go-uuid, go-glob), each with
//! the texts of the errors Go reports from it.

use sha2::{Digest as _, Sha256};

use super::exec::Exec;
use super::fmt::Printer;
use super::value::Value;
use super::{too_long, Data};
use crate::gocompat::quote::is_print;
use crate::gocompat::utf8::decode_rune;
use crate::gocompat::{base64, hex, time};

/// The alphabet of the SDK's `random` (go-secure-stdlib `base62`), in its order.
const BASE62: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn int_arg(v: Option<Value>) -> i64 {
    match v {
        Some(Value::Int(i)) => i,
        _ => 0,
    }
}

fn str_arg(v: Option<Value>) -> Vec<u8> {
    match v {
        Some(Value::Str(s)) => s,
        _ => Vec::new(),
    }
}

impl Exec<'_, '_> {
    /// Runs a function on checked arguments; `Err` is the function's error text.
    pub(super) fn call_function(&mut self, name: &str, args: Vec<Value>) -> Result<Value, String> {
        let data = self.data;
        let mut it = args.iter().cloned();
        let mut arg = || it.next();
        Ok(match name {
            "random" => Value::Str(self.random_base62(int_arg(arg()))?),
            "truncate" => {
                let (max, s) = (int_arg(arg()), str_arg(arg()));
                if max <= 0 {
                    return Err(format!("max length must be > 0 but was {max}"));
                }
                let max = usize::try_from(max).unwrap_or(usize::MAX);
                Value::Str(s[..s.len().min(max)].to_vec())
            }
            "truncate_sha256" => {
                let (max, s) = (int_arg(arg()), str_arg(arg()));
                if max <= 8 {
                    return Err(format!("max length must be > 8 but was {max}"));
                }
                let max = usize::try_from(max).unwrap_or(usize::MAX);
                if s.len() <= max {
                    Value::Str(s)
                } else {
                    let cut = max - 8;
                    let mut out = s[..cut].to_vec();
                    out.extend_from_slice(&sha256_hex(&s[cut..]).as_bytes()[..8]);
                    Value::Str(out)
                }
            }
            "uppercase" => Value::Str(map_runes(&str_arg(arg()), true)),
            "lowercase" => Value::Str(map_runes(&str_arg(arg()), false)),
            "replace" => {
                let (find, with, s) = (str_arg(arg()), str_arg(arg()), str_arg(arg()));
                Value::Str(replace_all(&s, &find, &with)?)
            }
            "sha256" => Value::Str(sha256_hex(&str_arg(arg())).into_bytes()),
            "base64" => Value::Str(base64::encode_std(&str_arg(arg())).into_bytes()),
            "decode_base64" => {
                Value::Str(base64::decode_std(&str_arg(arg())).map_err(|e| e.to_string())?)
            }
            "hex" => Value::Str(hex::encode(&str_arg(arg())).into_bytes()),
            "decode_hex" => Value::Str(hex::decode(&str_arg(arg()))?),
            "unix_time" => Value::Str(self.effects.now().unix_timestamp().to_string().into_bytes()),
            "unix_time_millis" => Value::Str(
                (self.effects.now().unix_timestamp_nanos() / 1_000_000)
                    .to_string()
                    .into_bytes(),
            ),
            "timestamp" => {
                let layout = str_arg(arg());
                Value::Str(time::format(self.effects.now(), &layout))
            }
            "uuid" => {
                let mut bytes = [0u8; 16];
                self.effects
                    .fill_random(&mut bytes)
                    .map_err(|e| format!("failed to read random bytes: {e}"))?;
                let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
                Value::Str(id.hyphenated().to_string().into_bytes())
            }
            "glob" => {
                let (pattern, subject) = (str_arg(arg()), str_arg(arg()));
                Value::Bool(go_glob(&pattern, &subject)?)
            }
            "not" => Value::Bool(!arg().unwrap_or(Value::Nil).truth()),
            "len" => match arg().unwrap_or(Value::Nil) {
                Value::Str(s) => Value::Int(i64::try_from(s.len()).unwrap_or(i64::MAX)),
                Value::Nil => {
                    return Err("reflect: call of reflect.Value.Type on zero Value".into())
                }
                v => return Err(format!("len of type {}", v.type_name())),
            },
            "index" => go_index(&args)?,
            "slice" => go_slice(&args)?,
            "eq" => {
                let (first, rest) = args
                    .split_first()
                    .ok_or("missing argument for comparison")?;
                Value::Bool(go_eq(first, rest)?)
            }
            "ne" | "lt" | "le" | "gt" | "ge" => {
                let (a, b) = (arg().unwrap_or(Value::Nil), arg().unwrap_or(Value::Nil));
                Value::Bool(match name {
                    "ne" => !go_eq(&a, std::slice::from_ref(&b))?,
                    "lt" => go_lt(&a, &b)?,
                    "le" => go_lt(&a, &b)? || go_eq(&a, std::slice::from_ref(&b))?,
                    "gt" => !(go_lt(&a, &b)? || go_eq(&a, std::slice::from_ref(&b))?),
                    _ => !go_lt(&a, &b)?,
                })
            }
            "print" | "println" | "printf" => {
                let mut p = Printer::new(data);
                match name {
                    "print" => p.do_print(&args),
                    "println" => p.do_println(&args),
                    _ => {
                        let (format, rest) = args.split_first().ok_or("missing format")?;
                        let format = match format {
                            Value::Str(s) => s.as_slice(),
                            _ => &[],
                        };
                        p.do_printf(format, rest)?;
                    }
                }
                too_long(p.buf.len())?;
                Value::Str(p.buf)
            }
            "html" | "js" | "urlquery" => {
                let text = eval_args(data, &args);
                Value::Str(match name {
                    "html" => html_escape(&text),
                    "js" => js_escape(&text),
                    _ => url_query_escape(&text),
                })
            }
            _ => return Err(format!("function {name} is not implemented")),
        })
    }

    /// go-secure-stdlib's `base62.Random`: unbiased characters from 62*4 of 256 byte values.
    fn random_base62(&mut self, length: i64) -> Result<Vec<u8>, String> {
        if length < 0 {
            return Err("runtime error: makeslice: cap out of range".into());
        }
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        if length == 0 {
            return Ok(Vec::new());
        }
        too_long(length)?;
        let mut out = Vec::with_capacity(length);
        let mut batch = vec![0u8; length + length / 4];
        loop {
            self.effects
                .fill_random(&mut batch)
                .map_err(|e| format!("failed to read random bytes: {e}"))?;
            for &b in &batch {
                if b < 62 * 4 {
                    out.push(BASE62[usize::from(b % 62)]);
                    if out.len() == length {
                        return Ok(out);
                    }
                }
            }
        }
    }
}

/// The SDK's `hashSHA256`: `fmt.Sprintf("%x", sha256.Sum256(…))`.
pub(super) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(&Sha256::digest(data))
}

/// `strings.ToUpper`/`ToLower`: simple per-character case mapping; bytes that are not UTF-8
/// become U+FFFD, as `strings.Map` does.
fn map_runes(s: &[u8], upper: bool) -> Vec<u8> {
    if s.is_ascii() {
        return if upper {
            s.to_ascii_uppercase()
        } else {
            s.to_ascii_lowercase()
        };
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let (c, w) = decode_rune(&s[i..]);
        let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
        let mapped = if upper {
            single_char(c.to_uppercase()).unwrap_or(c)
        } else if c == '\u{130}' {
            'i'
        } else {
            single_char(c.to_lowercase()).unwrap_or(c)
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(mapped.encode_utf8(&mut buf).as_bytes());
        i += w;
    }
    out
}

fn single_char(mut it: impl Iterator<Item = char>) -> Option<char> {
    let c = it.next()?;
    if it.next().is_some() {
        return None;
    }
    Some(c)
}

fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `strings.ReplaceAll`; an empty `find` matches before each character and at the end.
fn replace_all(s: &[u8], find: &[u8], with: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    if find.is_empty() {
        out.extend_from_slice(with);
        let mut i = 0;
        while i < s.len() {
            let w = decode_rune(&s[i..]).1;
            out.extend_from_slice(&s[i..i + w]);
            out.extend_from_slice(with);
            i += w;
            too_long(out.len())?;
        }
        return Ok(out);
    }
    let mut rest = s;
    while let Some(i) = find_bytes(rest, find) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(with);
        rest = &rest[i + find.len()..];
        too_long(out.len())?;
    }
    out.extend_from_slice(rest);
    Ok(out)
}

/// ryanuber/go-glob's `Glob` (OpenBao's `glob`), including its out-of-range panic.
fn go_glob(pattern: &[u8], subject: &[u8]) -> Result<bool, String> {
    if pattern.is_empty() {
        return Ok(subject.is_empty());
    }
    let parts: Vec<&[u8]> = pattern.split(|&b| b == b'*').collect();
    if parts.len() == 1 {
        return Ok(subject == pattern);
    }
    let leading = pattern.first() == Some(&b'*');
    let trailing = pattern.last() == Some(&b'*');
    let end = parts.len() - 1;
    let mut subject = subject;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            if leading {
                continue;
            }
            if !subject.starts_with(part) {
                return Ok(false);
            }
        } else if i == end {
            if !subject.is_empty() {
                return Ok(trailing || subject.ends_with(part));
            }
        } else if find_bytes(subject, part).is_none() {
            return Ok(false);
        }
        let idx = match find_bytes(subject, part) {
            Some(at) => at + part.len(),
            None => part.len().saturating_sub(1),
        };
        if idx > subject.len() {
            return Err(format!(
                "runtime error: slice bounds out of range [{idx}:{}]",
                subject.len()
            ));
        }
        subject = &subject[idx..];
    }
    Ok(true)
}

/// Go's `indexArg`.
fn index_arg(index: &Value, cap: usize) -> Result<usize, String> {
    let x = match index {
        Value::Int(i) => *i,
        Value::Uint8(u) => i64::from(*u),
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        v => {
            return Err(format!(
                "cannot index slice/array with type {}",
                v.type_name()
            ))
        }
    };
    match usize::try_from(x) {
        Ok(i) if i <= cap => Ok(i),
        _ => Err(format!("index out of range: {x}")),
    }
}

/// The `index` builtin; strings are the only indexable values here.
fn go_index(args: &[Value]) -> Result<Value, String> {
    let Some((first, indexes)) = args.split_first() else {
        return Err("index of untyped nil".into());
    };
    let mut item = first.clone();
    if item == Value::Nil {
        return Err("index of untyped nil".into());
    }
    for index in indexes {
        item = match &item {
            Value::Str(s) => {
                let i = index_arg(index, s.len())?;
                match s.get(i) {
                    Some(&b) => Value::Uint8(b),
                    None => return Err("reflect: string index out of range".into()),
                }
            }
            v => return Err(format!("can't index item of type {}", v.type_name())),
        };
    }
    Ok(item)
}

/// The `slice` builtin on strings.
fn go_slice(args: &[Value]) -> Result<Value, String> {
    let Some((item, indexes)) = args.split_first() else {
        return Err("slice of untyped nil".into());
    };
    if *item == Value::Nil {
        return Err("slice of untyped nil".into());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let Value::Str(s) = item else {
        return Err(format!("can't slice item of type {}", item.type_name()));
    };
    if indexes.len() == 3 {
        return Err("cannot 3-index slice a string".into());
    }
    let mut idx = [0, s.len()];
    for (i, index) in indexes.iter().enumerate() {
        idx[i] = index_arg(index, s.len())?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    Ok(Value::Str(s[idx[0]..idx[1]].to_vec()))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Uint,
    Float,
    Str,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Uint8(_) => Kind::Uint,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        Value::Nil | Value::Struct(_) => Kind::Invalid,
    }
}

/// The `eq` builtin: `a == b || a == c || …`, with Go's type rules.
fn go_eq(a: &Value, rest: &[Value]) -> Result<bool, String> {
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(a);
    for b in rest {
        let truth = if k1 != basic_kind(b) {
            match (a, b) {
                (Value::Int(x), Value::Uint8(y)) | (Value::Uint8(y), Value::Int(x)) => {
                    *x == i64::from(*y)
                }
                (Value::Nil, _) | (_, Value::Nil) => false,
                _ => {
                    return Err(format!(
                        "incompatible types for comparison: {} and {}",
                        a.type_name(),
                        b.type_name()
                    ))
                }
            }
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x), Value::Int(y)) => x == y,
                (Value::Uint8(x), Value::Uint8(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::Str(x), Value::Str(y)) => x == y,
                (Value::Nil, Value::Nil) | (Value::Struct(_), Value::Struct(_)) => true,
                _ => false,
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The `lt` builtin (and the basis of `le`, `gt`, `ge`).
fn go_lt(a: &Value, b: &Value) -> Result<bool, String> {
    const BAD: &str = "invalid type for comparison";
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if k1 == Kind::Invalid || k2 == Kind::Invalid {
        return Err(BAD.into());
    }
    Ok(match (a, b) {
        (Value::Int(x), Value::Uint8(y)) => *x < i64::from(*y),
        (Value::Uint8(x), Value::Int(y)) => i64::from(*x) < *y,
        _ if k1 != k2 => {
            return Err(format!(
                "incompatible types for comparison: {} and {}",
                a.type_name(),
                b.type_name()
            ))
        }
        (Value::Bool(_), _) => return Err(BAD.into()),
        (Value::Int(x), Value::Int(y)) => x < y,
        (Value::Uint8(x), Value::Uint8(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Str(x), Value::Str(y)) => x < y,
        _ => return Err(BAD.into()),
    })
}

/// `fmt.Sprint` of the arguments after Go's `printableValue` (text/template's `evalArgs`).
fn eval_args(data: Data<'_>, args: &[Value]) -> Vec<u8> {
    if let [Value::Str(s)] = args {
        return s.clone();
    }
    let printable: Vec<Value> = args
        .iter()
        .map(|v| match v {
            Value::Nil => Value::Str(b"<no value>".to_vec()),
            v => v.clone(),
        })
        .collect();
    let mut p = Printer::new(data);
    p.do_print(&printable);
    p.buf
}

/// `template.HTMLEscapeString`.
fn html_escape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        match c {
            0 => out.extend_from_slice("\u{FFFD}".as_bytes()),
            b'"' => out.extend_from_slice(b"&#34;"),
            b'\'' => out.extend_from_slice(b"&#39;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `template.JSEscapeString`.
fn js_escape(s: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c < 0x80 {
            match c {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\'' => out.extend_from_slice(b"\\'"),
                b'"' => out.extend_from_slice(b"\\\""),
                b'<' => out.extend_from_slice(b"\\u003C"),
                b'>' => out.extend_from_slice(b"\\u003E"),
                b'&' => out.extend_from_slice(b"\\u0026"),
                b'=' => out.extend_from_slice(b"\\u003D"),
                c if c < b' ' => {
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(c >> 4)]);
                    out.push(HEX[usize::from(c & 15)]);
                }
                c => out.push(c),
            }
            i += 1;
            continue;
        }
        let (r, w) = decode_rune(&s[i..]);
        let r = r.unwrap_or(char::REPLACEMENT_CHARACTER);
        if is_print(r) {
            out.extend_from_slice(&s[i..i + w]);
        } else {
            out.extend_from_slice(format!("\\u{:04X}", u32::from(r)).as_bytes());
        }
        i += w;
    }
    out
}

/// `url.QueryEscape`.
fn url_query_escape(s: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(c),
            b' ' => out.push(b'+'),
            c => {
                out.push(b'%');
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 15)]);
            }
        }
    }
    out
}
