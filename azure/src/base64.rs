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

fn value(symbol: u8) -> Option<u32> {
    Some(u32::from(match symbol {
        b'A'..=b'Z' => symbol - b'A',
        b'a'..=b'z' => symbol - b'a' + 26,
        b'0'..=b'9' => symbol - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    }))
}

/// Decodes base64 `input` (padding optional) into `out`; returns the length.
pub fn decode(input: &str, out: &mut [u8]) -> Result<usize, AzureError> {
    let symbols = input.trim_end_matches('=').as_bytes();
    if symbols.len() % 4 == 1 || input.len() - symbols.len() > 2 {
        return Err(AzureError::Malformed);
    }
    let mut at = 0;
    for group in symbols.chunks(4) {
        let mut n = 0u32;
        for (i, symbol) in group.iter().enumerate() {
            n |= value(*symbol).ok_or(AzureError::Malformed)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        let produced = group.len() - 1;
        out.get_mut(at..at + produced)
            .ok_or(AzureError::BufferTooSmall)?
            .copy_from_slice(&bytes[1..1 + produced]);
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
}
