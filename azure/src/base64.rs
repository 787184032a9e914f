//! Base64 (RFC 4648 §4, with padding) for SAS keys and signatures: device
//! keys arrive base64-encoded and signatures leave that way.

use crate::AzureError;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Writes `input` base64-encoded into `out`; returns the length.
pub fn encode(input: &[u8], out: &mut [u8]) -> Result<usize, AzureError> {
    let len = input.len().div_ceil(3) * 4;
    let out = out.get_mut(..len).ok_or(AzureError::BufferTooSmall)?;
    for (chunk, quad) in input.chunks(3).zip(out.chunks_mut(4)) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, slot) in quad.iter_mut().enumerate() {
            *slot = if i <= chunk.len() {
                ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize]
            } else {
                b'='
            };
        }
    }
    Ok(len)
}

/// Which symbols stand for 62 and 63: the standard alphabet's (§4), the
/// URL-safe one's (§5), or either.
#[derive(Clone, Copy)]
enum Alphabet {
    Standard,
    Url,
    Either,
}

fn value(symbol: u8, alphabet: Alphabet) -> Option<u32> {
    Some(u32::from(match (symbol, alphabet) {
        (b'A'..=b'Z', _) => symbol - b'A',
        (b'a'..=b'z', _) => symbol - b'a' + 26,
        (b'0'..=b'9', _) => symbol - b'0' + 52,
        (b'+', Alphabet::Standard | Alphabet::Either) => 62,
        (b'/', Alphabet::Standard | Alphabet::Either) => 63,
        (b'-', Alphabet::Url | Alphabet::Either) => 62,
        (b'_', Alphabet::Url | Alphabet::Either) => 63,
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

/// Decodes base64 `input` (padding optional) into `out`; returns the length.
pub fn decode(input: &str, out: &mut [u8]) -> Result<usize, AzureError> {
    let symbols = input.trim_end_matches('=');
    if input.len() - symbols.len() > 2 {
        return Err(AzureError::Malformed);
    }
    decode_symbols(symbols.as_bytes(), out, Alphabet::Standard)
}

/// Decodes unpadded base64url `input` (§5, as JWS writes every segment)
/// into `out`; returns the length. Padding is [`AzureError::Malformed`].
pub fn decode_url(input: &str, out: &mut [u8]) -> Result<usize, AzureError> {
    decode_symbols(input.as_bytes(), out, Alphabet::Url)
}

/// Decodes `input` in either alphabet, padded (to a whole group) or not,
/// into `out`; returns the length. For JWK members, which ADU writes in the
/// standard alphabet where RFC 7518 §6.3.1 asks for base64url.
pub fn decode_either(input: &str, out: &mut [u8]) -> Result<usize, AzureError> {
    let symbols = input.trim_end_matches('=');
    let padding = input.len() - symbols.len();
    if padding > 2 || (padding > 0 && input.len() % 4 != 0) {
        return Err(AzureError::Malformed);
    }
    decode_symbols(symbols.as_bytes(), out, Alphabet::Either)
}

fn decode_symbols(symbols: &[u8], out: &mut [u8], alphabet: Alphabet) -> Result<usize, AzureError> {
    let len = decoded_len(symbols.len()).ok_or(AzureError::Malformed)?;
    let out = out.get_mut(..len).ok_or(AzureError::BufferTooSmall)?;
    let mut at = 0;
    for group in symbols.chunks(4) {
        let mut n = 0u32;
        for (i, &symbol) in group.iter().enumerate() {
            n |= value(symbol, alphabet).ok_or(AzureError::Malformed)? << (18 - 6 * i);
        }
        let produced = group.len() - 1;
        out[at..at + produced].copy_from_slice(&n.to_be_bytes()[1..1 + produced]);
        at += produced;
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4648_section_10_vectors_both_ways() {
        let cases: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            let mut out = [0u8; 16];
            let n = encode(plain, &mut out).unwrap();
            assert_eq!(&out[..n], encoded.as_bytes());
            let n = decode(encoded, &mut out).unwrap();
            assert_eq!(&out[..n], plain);
        }
        let mut out = [0u8; 16];
        assert_eq!(decode("Zm9v!", &mut out), Err(AzureError::Malformed));
        assert_eq!(decode("Z", &mut out), Err(AzureError::Malformed));
        assert_eq!(
            decode("Zm9vYmFy", &mut out[..5]),
            Err(AzureError::BufferTooSmall)
        );
        assert_eq!(
            encode(b"foobar", &mut out[..7]),
            Err(AzureError::BufferTooSmall)
        );
    }

    #[test]
    fn the_url_alphabet_and_either() {
        let mut out = [0u8; 8];
        for (plain, encoded) in [
            (&b"f"[..], "Zg"),
            (b"fooba", "Zm9vYmE"),
            (b"foobar", "Zm9vYmFy"),
        ] {
            let n = decode_url(encoded, &mut out).unwrap();
            assert_eq!(&out[..n], plain);
            assert_eq!(decoded_len(encoded.len()), Some(plain.len()));
        }
        // RFC 7515 appendix C: 0x03 0xEC 0xFF 0xF0 ... uses '-' and '_'.
        let n = decode_url("A-z_4ME", &mut out).unwrap();
        assert_eq!(&out[..n], &[3, 236, 255, 224, 193]);
        assert_eq!(decode_url("A+z/4ME", &mut out), Err(AzureError::Malformed));
        let n = decode_either("A+z/4ME=", &mut out).unwrap();
        assert_eq!(&out[..n], &[3, 236, 255, 224, 193]);
        assert_eq!(decode_url("Zg==", &mut out), Err(AzureError::Malformed));
        assert_eq!(decode_either("Zg=", &mut out), Err(AzureError::Malformed));
        assert_eq!(decode_either("Z===", &mut out), Err(AzureError::Malformed));
        assert_eq!(
            decode_url("Zm9vYmFy", &mut out[..5]),
            Err(AzureError::BufferTooSmall)
        );
    }
}
