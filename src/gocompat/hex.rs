//! Go's `encoding/hex`, as the template functions `sha256`, `hex` and `decode_hex` use it.
//!
//! Small enough to write out, and its error texts (`encoding/hex: invalid byte: U+0067 'g'`)
//! reach users in template errors, so they must be Go's.

use super::quote::sharp_u;

/// Mirrors Go's `hex.EncodeToString`: lower-case digits.
pub(crate) fn encode(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(data.len() * 2);
    for &b in data {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// Mirrors Go's `hex.DecodeString`, with its error texts and its order of checks (an invalid
/// byte in the last, odd position is reported before the odd length).
pub(crate) fn decode(src: &[u8]) -> Result<Vec<u8>, String> {
    let digit = |c: u8| char::from(c).to_digit(16);
    let invalid = |c: u8| {
        format!(
            "encoding/hex: invalid byte: {}",
            sharp_u(Some(char::from(c)))
        )
    };
    let mut out = Vec::with_capacity(src.len() / 2);
    for pair in src.chunks(2) {
        let hi = digit(pair[0]).ok_or_else(|| invalid(pair[0]))?;
        let Some(&lo_byte) = pair.get(1) else {
            return Err("encoding/hex: odd length hex string".into());
        };
        let lo = digit(lo_byte).ok_or_else(|| invalid(lo_byte))?;
        out.push((hi << 4 | lo) as u8);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_like_encoding_hex() {
        assert_eq!(encode(b"hi\xff"), "6869ff");
        assert_eq!(decode(b"6869FF"), Ok(b"hi\xff".to_vec()));
        for (bad, why) in [
            (&b"6g"[..], "invalid byte: U+0067 'g'"),
            (b"686", "odd length hex string"),
            (b"68z", "invalid byte: U+007A 'z'"),
            (b"\xc3", "invalid byte: U+00C3 'Ã'"),
        ] {
            assert_eq!(decode(bad), Err(format!("encoding/hex: {why}")));
        }
    }
}
