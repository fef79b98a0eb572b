//! Go's `encoding/base64` standard encoding, as the template functions `base64` and
//! `decode_base64` use it.
//!
//! Encoding and the decoding itself come from the `base64` crate, configured to accept what Go's
//! non-strict `StdEncoding` accepts (canonical `=` padding, non-zero trailing bits ignored).
//! Two things the crate cannot do are written here: Go skips `\r` and `\n` anywhere in the
//! input, and Go's error names the byte offset where decoding failed, counted in the original
//! input (`illegal base64 data at input byte 4`) — a text template users see.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

/// Go's `base64.StdEncoding` rules for the decoding the crate does.
const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Mirrors Go's `base64.CorruptInputError`: the offset of the first byte that does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("illegal base64 data at input byte {0}")]
pub(crate) struct CorruptInputError(pub(crate) usize);

/// Mirrors Go's `base64.StdEncoding.EncodeToString`.
pub(crate) fn encode_std(data: &[u8]) -> String {
    GO_STD.encode(data)
}

/// Mirrors Go's `base64.StdEncoding.DecodeString`: padding required, `\r` and `\n` ignored,
/// Go's error offset.
pub(crate) fn decode_std(src: &[u8]) -> Result<Vec<u8>, CorruptInputError> {
    let without_newlines: Vec<u8> = src
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    GO_STD
        .decode(without_newlines)
        .map_err(|_| CorruptInputError(corrupt_offset(src)))
}

/// Where Go's `decodeQuantum` stops on input the crate refused: Go reads four alphabet
/// characters at a time (newlines skipped), a `=` is only allowed as the third or fourth, and
/// nothing but newlines may follow the padding.
fn corrupt_offset(src: &[u8]) -> usize {
    let in_alphabet = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    let skip_newlines = |mut si: usize| {
        while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
            si += 1;
        }
        si
    };
    let mut si = 0;
    while si < src.len() {
        let mut j = 0;
        while j < 4 {
            if si == src.len() {
                // A partial quantum: Go blames where it started (j = 0 is a clean end).
                return if j == 0 { si } else { si - j };
            }
            let c = src[si];
            si += 1;
            if in_alphabet(c) {
                j += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' || j < 2 {
                return si - 1;
            }
            if j == 2 {
                // "xx=" must be followed by a second '=', newlines allowed in between.
                si = skip_newlines(si);
                if si == src.len() {
                    return src.len();
                }
                if src[si] != b'=' {
                    return si - 1;
                }
                si += 1;
            }
            // Only newlines may follow the padding.
            return skip_newlines(si);
        }
    }
    src.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_std_encoding() {
        assert_eq!(decode_std(b"aGk="), Ok(b"hi".to_vec()));
        assert_eq!(decode_std(b"aG\r\nk=\n"), Ok(b"hi".to_vec()));
        assert_eq!(decode_std(b"YR=\n="), Ok(b"a".to_vec()));
        assert_eq!(decode_std(b""), Ok(Vec::new()));
        assert_eq!(encode_std(b"hello"), "aGVsbG8=");
    }

    #[test]
    fn errors_name_gos_offset() {
        let err = |s: &[u8]| decode_std(s).unwrap_err().0;
        assert_eq!(err(b"aGk"), 0);
        assert_eq!(err(b"aGkx!"), 4);
        assert_eq!(err(b"a==="), 1);
        assert_eq!(err(b"aG=x"), 2);
        assert_eq!(err(b"aG="), 3);
        assert_eq!(err(b"aGk=aGk="), 4);
        assert_eq!(err(b"aGk=\nx"), 5);
        assert_eq!(
            decode_std(b"*").unwrap_err().to_string(),
            "illegal base64 data at input byte 0"
        );
    }
}
