//! Go's `encoding/json.Compact`, for IAM policy documents.
//!
//! Vault stores a role's `policy_document` as `json.Compact` leaves it: whitespace between
//! tokens removed, everything else — key order, duplicate keys, escapes, number spelling — kept.
//! Re-serialising through serde would reorder keys and rewrite escapes and numbers, so the
//! stored text would differ from what the Go plugin stores; this is a scanner instead.

/// Go's `encoding/json` nesting limit, kept so the same documents are accepted or refused.
const MAX_JSON_DEPTH: usize = 10_000;

/// Mirrors Go's `json.Compact`: whitespace between tokens removed, key order, escapes and
/// number text preserved; `Err(())` where Go reports a syntax error (callers word their own
/// message, e.g. Vault's `cannot parse policy document`). Iterative, so deep nesting cannot
/// overflow the stack.
pub(crate) fn compact(raw: &str) -> Result<String, ()> {
    #[derive(Clone, Copy)]
    enum Want {
        /// A value; `true` when a `]` may close an empty array instead.
        Value(bool),
        /// An object key (after `{` or `,`).
        Key,
        /// `,`, a closing bracket, or the end of input.
        AfterValue,
    }

    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut stack: Vec<u8> = Vec::new();
    let mut i = 0usize;
    let mut want = Want::Value(false);

    let open = |stack: &mut Vec<u8>, bracket: u8| -> Result<(), ()> {
        if stack.len() >= MAX_JSON_DEPTH {
            return Err(());
        }
        stack.push(bracket);
        Ok(())
    };

    loop {
        i = skip_json_ws(bytes, i);
        match want {
            Want::Value(may_close) => {
                let start = i;
                match bytes.get(i) {
                    Some(b']') if may_close => {
                        stack.pop();
                        out.push(']');
                        i += 1;
                        want = Want::AfterValue;
                    }
                    Some(b'{') => {
                        open(&mut stack, b'{')?;
                        out.push('{');
                        i = skip_json_ws(bytes, i + 1);
                        if bytes.get(i) == Some(&b'}') {
                            stack.pop();
                            out.push('}');
                            i += 1;
                            want = Want::AfterValue;
                        } else {
                            want = Want::Key;
                        }
                    }
                    Some(b'[') => {
                        open(&mut stack, b'[')?;
                        out.push('[');
                        i += 1;
                        want = Want::Value(true);
                    }
                    Some(b'"') => {
                        i = scan_json_string(bytes, i)?;
                        out.push_str(&raw[start..i]);
                        want = Want::AfterValue;
                    }
                    Some(b'-' | b'0'..=b'9') => {
                        i = scan_json_number(bytes, i)?;
                        out.push_str(&raw[start..i]);
                        want = Want::AfterValue;
                    }
                    Some(_) => {
                        let literal = ["true", "false", "null"]
                            .into_iter()
                            .find(|lit| bytes[i..].starts_with(lit.as_bytes()))
                            .ok_or(())?;
                        out.push_str(literal);
                        i += literal.len();
                        want = Want::AfterValue;
                    }
                    None => return Err(()),
                }
            }
            Want::Key => {
                if bytes.get(i) != Some(&b'"') {
                    return Err(());
                }
                let start = i;
                i = scan_json_string(bytes, i)?;
                out.push_str(&raw[start..i]);
                i = skip_json_ws(bytes, i);
                if bytes.get(i) != Some(&b':') {
                    return Err(());
                }
                out.push(':');
                i += 1;
                want = Want::Value(false);
            }
            Want::AfterValue => match (stack.last(), bytes.get(i)) {
                (None, None) => return Ok(out),
                (None, Some(_)) => return Err(()),
                (Some(_), Some(b',')) => {
                    out.push(',');
                    i += 1;
                    want = if stack.last() == Some(&b'{') {
                        Want::Key
                    } else {
                        Want::Value(false)
                    };
                }
                (Some(b'{'), Some(b'}')) | (Some(b'['), Some(b']')) => {
                    out.push(char::from(bytes[i]));
                    stack.pop();
                    i += 1;
                }
                _ => return Err(()),
            },
        }
    }
}

/// JSON insignificant whitespace, exactly the four characters Go accepts.
fn skip_json_ws(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Validate a string starting at the opening quote; returns the index after the closing one.
fn scan_json_string(bytes: &[u8], start: usize) -> Result<usize, ()> {
    let mut i = start + 1;
    loop {
        match bytes.get(i).copied() {
            None => return Err(()),
            Some(b'"') => return Ok(i + 1),
            Some(b'\\') => match bytes.get(i + 1).copied() {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u') => {
                    let hex = bytes.get(i + 2..i + 6).ok_or(())?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return Err(());
                    }
                    i += 6;
                }
                _ => return Err(()),
            },
            Some(c) if c < 0x20 => return Err(()),
            Some(_) => i += 1,
        }
    }
}

/// Validate a number with JSON's grammar; returns the index after it.
fn scan_json_number(bytes: &[u8], mut i: usize) -> Result<usize, ()> {
    let digits = |mut i: usize| -> Result<usize, ()> {
        let first = i;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == first {
            Err(())
        } else {
            Ok(i)
        }
    };
    if bytes.get(i) == Some(&b'-') {
        i += 1;
    }
    // A leading zero stands alone; "01" then fails as trailing garbage, as in Go.
    i = if bytes.get(i) == Some(&b'0') {
        i + 1
    } else {
        digits(i)?
    };
    if bytes.get(i) == Some(&b'.') {
        i = digits(i + 1)?;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(i)?;
    }
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_json_like_go() {
        let ok = |raw: &str, want: &str| assert_eq!(compact(raw), Ok(want.to_string()), "{raw:?}");
        ok(r#"{ "a" : 1 }"#, r#"{"a":1}"#);
        ok(
            "\n{\n\t\"Version\": \"2012-10-07\",\n\t\"Statement\": [\n\t\t{\n\t\t\t\"Effect\": \"Allow\",\n\t\t\t\"Action\": \"ec2:Describe*\",\n\t\t\t\"Resource\": \"*\"\n\t\t}\n\t]\n}",
            r#"{"Version":"2012-10-07","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}"#,
        );
        // Key order, duplicate keys, escapes, spaces inside strings and number text are kept.
        ok(
            r#"{"z": 1, "a": "x y\u00e9\"\/", "z": -0.5E+10, "u": "é<>&"}"#,
            r#"{"z":1,"a":"x y\u00e9\"\/","z":-0.5E+10,"u":"é<>&"}"#,
        );
        ok(" [ ] ", "[]");
        ok("{ }", "{}");
        ok(
            "[1, [true, false, null], {\"a\": []}]",
            r#"[1,[true,false,null],{"a":[]}]"#,
        );
        ok("\"just a string\"", "\"just a string\"");
        ok("0", "0");
        ok("-12.5e-3\r\n", "-12.5e-3");
        for bad in [
            "",
            "   ",
            "{",
            "}",
            "[1,]",
            "[,1]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "{\"a\":1} x",
            "1 2",
            "01",
            "1.",
            ".5",
            "1e",
            "-",
            "+1",
            "tru",
            "truex",
            "nul",
            "'a'",
            "\"unterminated",
            "\"bad \\x escape\"",
            "\"bad \\u12g4\"",
            "\"ctrl \u{1} char\"",
            "\"tab\tinside\"",
            "[1}",
            "{\"a\":1]",
            "not json",
        ] {
            assert_eq!(compact(bad), Err(()), "{bad:?}");
        }
    }

    #[test]
    fn compact_json_depth_limit() {
        let deep_ok = format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH),
            "]".repeat(MAX_JSON_DEPTH)
        );
        assert_eq!(compact(&deep_ok), Ok(deep_ok.clone()));
        let too_deep = format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH + 1),
            "]".repeat(MAX_JSON_DEPTH + 1)
        );
        assert_eq!(compact(&too_deep), Err(()));
    }
}
