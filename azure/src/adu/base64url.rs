//! Base64url (RFC 4648 §5) without padding, as JWS encodes every segment
//! (RFC 7515 §2, "Base64url Encoding").
//!
//! Here rather than in [`crate::base64`] for now, which decodes only the
//! standard alphabet (§4): this is a candidate to move there as
//! `base64::decode_url`. [`decode_either`] also reads the standard
//! alphabet, because ADU's signing-key JWK carries `n` and `e` in it (a
//! quirk of the service; RFC 7518 §6.3.1 asks for base64url).

use crate::AzureError;

/// The value of a base64url symbol (`-` and `_` for 62 and 63).
fn url_value(symbol: u8) -> Option<u32> {
    match symbol {
        b'-' => Some(62),
        b'_' => Some(63),
        _ => common_value(symbol),
    }
}

/// The value of a symbol of either alphabet.
fn either_value(symbol: u8) -> Option<u32> {
    match symbol {
        b'-' | b'+' => Some(62),
        b'_' | b'/' => Some(63),
        _ => common_value(symbol),
    }
}

fn common_value(symbol: u8) -> Option<u32> {
    Some(u32::from(match symbol {
        b'A'..=b'Z' => symbol - b'A',
        b'a'..=b'z' => symbol - b'a' + 26,
        b'0'..=b'9' => symbol - b'0' + 52,
        _ => return None,
    }))
}

/// The bytes `symbols` unpadded symbols decode to; `None` for a count no
/// encoding produces (one symbol past a whole group).
pub fn decoded_len(symbols: usize) -> Option<usize> {
    let tail = match symbols % 4 {
        0 => 0,
        1 => return None,
        rest => rest - 1,
    };
    Some(symbols / 4 * 3 + tail)
}

/// Decodes unpadded base64url `input` into `out`; returns the length.
/// Padding, whitespace or a symbol outside the alphabet is
/// [`AzureError::Malformed`]; a short `out` is
/// [`AzureError::BufferTooSmall`].
pub fn decode(input: &str, out: &mut [u8]) -> Result<usize, AzureError> {
    decode_with(input.as_bytes(), out, url_value)
}

/// Decodes `input` in either alphabet (base64url or standard base64),
/// padded or not, into `out`; returns the length. For JWK members, which
/// ADU writes in the standard alphabet.
pub fn decode_either(input: &str, out: &mut [u8]) -> Result<usize, AzureError> {
    let symbols = input.trim_end_matches('=');
    let padding = input.len() - symbols.len();
    if padding > 2 || (padding > 0 && input.len() % 4 != 0) {
        return Err(AzureError::Malformed);
    }
    decode_with(symbols.as_bytes(), out, either_value)
}

fn decode_with(
    symbols: &[u8],
    out: &mut [u8],
    value: fn(u8) -> Option<u32>,
) -> Result<usize, AzureError> {
    let len = decoded_len(symbols.len()).ok_or(AzureError::Malformed)?;
    let out = out.get_mut(..len).ok_or(AzureError::BufferTooSmall)?;
    let mut at = 0;
    for group in symbols.chunks(4) {
        let mut n = 0u32;
        for (i, &symbol) in group.iter().enumerate() {
            n |= value(symbol).ok_or(AzureError::Malformed)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        let produced = group.len() - 1;
        let (Some(dst), Some(src)) = (out.get_mut(at..at + produced), bytes.get(1..1 + produced))
        else {
            return Err(AzureError::BufferTooSmall);
        };
        dst.copy_from_slice(src);
        at += produced;
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4648_section_10_vectors_and_the_url_alphabet() {
        let cases: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (b"foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            let mut out = [0u8; 8];
            let n = decode(encoded, &mut out).unwrap();
            assert_eq!(&out[..n], plain);
            assert_eq!(decoded_len(encoded.len()), Some(plain.len()));
        }
        let mut out = [0u8; 8];
        // RFC 7515 appendix C: 0x03 0xEC 0xFF 0xF0 ... uses '-' and '_'.
        let n = decode("A-z_4ME", &mut out).unwrap();
        assert_eq!(&out[..n], &[3, 236, 255, 224, 193]);
        assert_eq!(decode("A+z/4ME", &mut out), Err(AzureError::Malformed));
        let n = decode_either("A+z/4ME=", &mut out).unwrap();
        assert_eq!(&out[..n], &[3, 236, 255, 224, 193]);
        assert_eq!(decode("Zg==", &mut out), Err(AzureError::Malformed));
        assert_eq!(decode("Z", &mut out), Err(AzureError::Malformed));
        assert_eq!(decode_either("Zg=", &mut out), Err(AzureError::Malformed));
        assert_eq!(decode_either("Z===", &mut out), Err(AzureError::Malformed));
        assert_eq!(
            decode("Zm9vYmFy", &mut out[..5]),
            Err(AzureError::BufferTooSmall)
        );
    }
}
