//! Go's `unicode/utf8` rules for byte strings that may not be valid UTF-8.
//!
//! Go strings are bytes: a template can build a string that is not UTF-8 (`\xff`, or `truncate`
//! cutting a character in two), and Go then reads it one rune at a time, where each byte that
//! does not start a valid sequence is one `U+FFFD` of width 1. Rust's `from_utf8_lossy` merges
//! such runs, so the widths and counts Go sees are computed here.

/// Mirrors Go's `utf8.DecodeRune`: the first character and its width in bytes, or `None` with
/// width 1 when the bytes do not start a valid sequence (Go's `RuneError, 1`).
pub(crate) fn decode_rune(b: &[u8]) -> (Option<char>, usize) {
    let head = &b[..b.len().min(4)];
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
    };
    match valid.chars().next() {
        Some(c) => (Some(c), c.len_utf8()),
        None => (None, 1),
    }
}

/// Mirrors Go's `utf8.RuneCount`: characters, counting each invalid byte as one.
pub(crate) fn rune_count(b: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < b.len() {
        i += decode_rune(&b[i..]).1;
        n += 1;
    }
    n
}

/// Mirrors Go's `string([]rune(s))`: valid characters kept, each invalid byte one `U+FFFD`.
pub(crate) fn runes_lossy(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let bytes = e.into_bytes();
            let mut s = String::with_capacity(bytes.len() + 8);
            let mut i = 0;
            while i < bytes.len() {
                let (c, width) = decode_rune(&bytes[i..]);
                s.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
                i += width;
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_bytes_are_one_rune_each() {
        assert_eq!(decode_rune("é".as_bytes()), (Some('é'), 2));
        assert_eq!(decode_rune(b"\xc3"), (None, 1));
        assert_eq!(decode_rune(b"\xed\xa0\x80"), (None, 1));
        assert_eq!(decode_rune(b""), (None, 1));
        assert_eq!(rune_count(b"a\xc3\xa9\xff\xfe"), 4);
        assert_eq!(runes_lossy(b"a\xff\xfeb".to_vec()), "a\u{FFFD}\u{FFFD}b");
    }
}
