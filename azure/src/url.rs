//! URL encoding (RFC 3986 §2.1) as IoT Hub and DPS want it in SAS tokens,
//! user names and topic property bags.

use crate::AzureError;

/// Characters left as they are: RFC 3986 unreserved.
fn unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Writes `input` URL-encoded into `out`; returns the length.
pub fn url_encode(input: &str, out: &mut [u8]) -> Result<usize, AzureError> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut at = 0;
    for &byte in input.as_bytes() {
        if unreserved(byte) {
            *out.get_mut(at).ok_or(AzureError::BufferTooSmall)? = byte;
            at += 1;
        } else {
            let escaped = [
                b'%',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ];
            out.get_mut(at..at + 3)
                .ok_or(AzureError::BufferTooSmall)?
                .copy_from_slice(&escaped);
            at += 3;
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_characters_are_escaped_in_upper_case_hex() {
        let mut out = [0u8; 64];
        let n = url_encode("myhub.azure-devices.net/devices/dev 1", &mut out).unwrap();
        assert_eq!(&out[..n], b"myhub.azure-devices.net%2Fdevices%2Fdev%201");
        assert_eq!(
            url_encode("a/b", &mut out[..4]),
            Err(AzureError::BufferTooSmall)
        );
    }
}
