//! Go's `strconv` quoting and unquoting, and what `unicode.IsPrint` decides for them.
//!
//! Vault's error texts quote user input with `%q` (`strconv.Quote`), template error messages
//! quote tokens the same way, and template string literals are read with `strconv.Unquote`.
//! Go works on bytes: a byte that is not UTF-8 is quoted as `\xNN`, so the quoting functions
//! take bytes where templates need it.

use super::utf8::decode_rune;

/// Mirrors Go's `unicode.IsPrint` (and `strconv.IsPrint`): letters, marks, numbers,
/// punctuation, symbols and the ASCII space.
///
/// Rust's standard library has no general-category table, so this is built from
/// `is_control`/`is_whitespace` plus the format (Cf), private-use and noncharacter ranges Go
/// refuses; unassigned code points count as printable here (Go refuses them).
pub(crate) fn is_print(c: char) -> bool {
    let u = u32::from(c);
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

/// Mirrors Go's `strconv.Quote` (and so `%q` of a string): quotes, backslashes, control and
/// non-printable characters escaped.
pub(crate) fn go_quote(s: &str) -> String {
    quote_bytes(s.as_bytes(), b'"', false)
}

/// Mirrors Go's `strconv.appendQuotedWith`, the body of `Quote`, `QuoteToASCII` (`ascii_only`),
/// `QuoteRune` and `QuoteRuneToASCII` (`quote` is `'`): bytes that are not UTF-8 become `\xNN`.
pub(crate) fn quote_bytes(s: &[u8], quote: u8, ascii_only: bool) -> String {
    let quote = char::from(quote);
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    let mut i = 0;
    while i < s.len() {
        let (c, w) = decode_rune(&s[i..]);
        match c {
            None => out.push_str(&format!("\\x{:02x}", s[i])),
            Some(c) if c == quote || c == '\\' => {
                out.push('\\');
                out.push(c);
            }
            Some(c) if is_print(c) && (!ascii_only || c.is_ascii()) => out.push(c),
            Some('\x07') => out.push_str("\\a"),
            Some('\x08') => out.push_str("\\b"),
            Some('\x0c') => out.push_str("\\f"),
            Some('\n') => out.push_str("\\n"),
            Some('\r') => out.push_str("\\r"),
            Some('\t') => out.push_str("\\t"),
            Some('\x0b') => out.push_str("\\v"),
            Some(c) if c < ' ' || c == '\x7f' => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            Some(c) if u32::from(c) < 0x10000 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            Some(c) => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
        i += w;
    }
    out.push(quote);
    out
}

/// Mirrors Go's `strconv.CanBackquote`: whether `%#q` may print the string in backquotes.
pub(crate) fn can_backquote(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        let (c, w) = decode_rune(&s[i..]);
        i += w;
        match c {
            None => return false,
            Some('\u{FEFF}') => return false,
            Some(_) if w > 1 => {}
            Some(c) if (c < ' ' && c != '\t') || c == '`' || c == '\x7f' => return false,
            Some(_) => {}
        }
    }
    true
}

/// Mirrors Go's `fmt` verb `%#U` of a rune: `U+0041 'A'`, only the number for a character that
/// is not printable, and `U+FFFFFFFFFFFFFFFF` for `None` (Go's end-of-input rune, -1).
pub(crate) fn sharp_u(c: Option<char>) -> String {
    match c {
        None => "U+FFFFFFFFFFFFFFFF".to_string(),
        Some(c) if is_print(c) => format!("U+{:04X} '{c}'", u32::from(c)),
        Some(c) => format!("U+{:04X}", u32::from(c)),
    }
}

/// Mirrors Go's `strconv.Unquote` for a `"…"` or `` `…` `` literal; `None` is Go's
/// `invalid syntax`. Returns bytes because `\x` and octal escapes may make non-UTF-8 strings.
pub(crate) fn unquote(quoted: &str) -> Option<Vec<u8>> {
    let inner = quoted.get(1..quoted.len().checked_sub(1)?)?;
    if quoted.starts_with('`') {
        return Some(inner.bytes().filter(|&b| b != b'\r').collect());
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut rest = inner;
    while !rest.is_empty() {
        if rest.starts_with('\n') {
            return None;
        }
        let (value, multibyte, tail) = unquote_char(rest, '"')?;
        match char::from_u32(value) {
            Some(c) if multibyte && value >= 0x80 => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            _ => out.push(value as u8),
        }
        rest = tail;
    }
    Some(out)
}

/// Mirrors Go's `strconv.UnquoteChar`: the value, whether it is a multi-byte rune (as opposed
/// to a byte from `\x`/octal), and the rest of the text; `None` is `ErrSyntax`.
pub(crate) fn unquote_char(s: &str, quote: char) -> Option<(u32, bool, &str)> {
    let c = s.chars().next()?;
    if c == quote {
        return None;
    }
    if !c.is_ascii() {
        return Some((u32::from(c), true, &s[c.len_utf8()..]));
    }
    if c != '\\' {
        return Some((u32::from(c), false, &s[1..]));
    }
    let esc = s.as_bytes().get(1).copied().filter(u8::is_ascii)?;
    let mut rest = &s[2..];
    let value = match esc {
        b'a' => 7,
        b'b' => 8,
        b'f' => 12,
        b'n' => 10,
        b'r' => 13,
        b't' => 9,
        b'v' => 11,
        b'x' | b'u' | b'U' => {
            let n = match esc {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let digits = rest.get(..n)?;
            let mut v: u32 = 0;
            for d in digits.chars() {
                v = (v << 4) | d.to_digit(16)?;
            }
            rest = &rest[n..];
            if esc == b'x' {
                return Some((v, false, rest));
            }
            char::from_u32(v)?;
            return Some((v, true, rest));
        }
        b'0'..=b'7' => {
            let mut v = u32::from(esc - b'0');
            let digits = rest.as_bytes().get(..2)?;
            for &d in digits {
                if !(b'0'..=b'7').contains(&d) {
                    return None;
                }
                v = (v << 3) | u32::from(d - b'0');
            }
            rest = &rest[2..];
            if v > 255 {
                return None;
            }
            v
        }
        b'\\' => u32::from(b'\\'),
        b'\'' | b'"' => {
            if char::from(esc) != quote {
                return None;
            }
            u32::from(esc)
        }
        _ => return None,
    };
    Some((value, false, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_like_strconv() {
        assert_eq!(
            go_quote("a\"b\\c\n\u{7f}\u{a0}\u{e9}"),
            r#""a\"b\\c\n\x7f\u00a0é""#
        );
        assert_eq!(quote_bytes(b"a\xffb", b'"', false), r#""a\xffb""#);
        assert_eq!(quote_bytes("é'".as_bytes(), b'\'', true), r"'\u00e9\''");
        assert!(can_backquote(b"a\tb") && !can_backquote(b"a`b") && !can_backquote(b"\xff"));
        assert_eq!(sharp_u(Some('g')), "U+0067 'g'");
        assert_eq!(sharp_u(Some('\n')), "U+000A");
        assert_eq!(sharp_u(None), "U+FFFFFFFFFFFFFFFF");
    }

    #[test]
    fn unquoting_like_strconv() {
        assert_eq!(
            unquote(r#""a\tb\x41\u00e9\101""#),
            Some(b"a\tbA\xc3\xa9A".to_vec())
        );
        assert_eq!(unquote(r#""\xff""#), Some(vec![0xff]));
        assert_eq!(unquote("`a\r\\n`"), Some(b"a\\n".to_vec()));
        assert_eq!(unquote(r#""\q""#), None);
        assert_eq!(unquote(r#""\'""#), None);
        assert_eq!(unquote(r#""\400""#), None);
        assert_eq!(unquote(r#""\ud800""#), None);
        assert_eq!(unquote_char(r"\'x", '\''), Some((39, false, "x")));
    }
}
