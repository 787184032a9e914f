//! Decoding a JSON string's escapes (RFC 8259 §7) into the caller's
//! buffer.
//!
//! [`crate::json::JsonReader`] hands strings out raw, escapes as written.
//! ADU is the first user that needs them decoded: the service sends the
//! update manifest as a JSON document inside a JSON string, and both the
//! manifest parser and its signature check (the SHA-256 is over the
//! decoded bytes) need the document itself. The C SDK's counterpart is
//! `az_json_string_unescape`. A candidate to move to `json.rs` as
//! `JsonReader::unescape_into` / `json::unescape`.

use crate::AzureError;

/// Writes the raw string text `raw` (a [`crate::json::JsonReader::text`],
/// without its quotes) with its escapes decoded into `out`; returns the
/// length. `\uXXXX` escapes become UTF-8, surrogate pairs joined; a lone
/// surrogate or a bad escape is [`AzureError::Malformed`], a short `out`
/// [`AzureError::BufferTooSmall`].
pub fn unescape(raw: &str, out: &mut [u8]) -> Result<usize, AzureError> {
    let mut bytes = raw.as_bytes().iter().copied();
    let mut at = 0;
    let mut put = |chunk: &[u8], at: &mut usize| -> Result<(), AzureError> {
        let end = *at + chunk.len();
        out.get_mut(*at..end)
            .ok_or(AzureError::BufferTooSmall)?
            .copy_from_slice(chunk);
        *at = end;
        Ok(())
    };
    while let Some(byte) = bytes.next() {
        if byte != b'\\' {
            put(&[byte], &mut at)?;
            continue;
        }
        let decoded = match bytes.next().ok_or(AzureError::Malformed)? {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let unit = hex4(&mut bytes)?;
                let code = match unit {
                    0xd800..=0xdbff => {
                        // A high surrogate: its low half must follow.
                        if bytes.next() != Some(b'\\') || bytes.next() != Some(b'u') {
                            return Err(AzureError::Malformed);
                        }
                        let low = hex4(&mut bytes)?;
                        if !(0xdc00..=0xdfff).contains(&low) {
                            return Err(AzureError::Malformed);
                        }
                        0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
                    }
                    0xdc00..=0xdfff => return Err(AzureError::Malformed),
                    _ => unit,
                };
                let c = char::from_u32(code).ok_or(AzureError::Malformed)?;
                let mut utf8 = [0u8; 4];
                put(c.encode_utf8(&mut utf8).as_bytes(), &mut at)?;
                continue;
            }
            _ => return Err(AzureError::Malformed),
        };
        put(&[decoded], &mut at)?;
    }
    Ok(at)
}

/// Four hex digits of a `\u` escape.
fn hex4(bytes: &mut impl Iterator<Item = u8>) -> Result<u32, AzureError> {
    let mut unit = 0;
    for _ in 0..4 {
        let digit = char::from(bytes.next().ok_or(AzureError::Malformed)?)
            .to_digit(16)
            .ok_or(AzureError::Malformed)?;
        unit = unit << 4 | digit;
    }
    Ok(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str) -> Result<([u8; 32], usize), AzureError> {
        let mut out = [0u8; 32];
        unescape(raw, &mut out).map(|n| (out, n))
    }

    #[test]
    fn decodes_every_escape_of_rfc_8259_section_7() {
        let (out, n) = run(r#"a\"b\\c\/d\b\f\n\r\t"#).unwrap();
        assert_eq!(&out[..n], b"a\"b\\c/d\x08\x0c\n\r\t");
        let (out, n) = run(r"\u00e9\u20ac\ud83d\ude00").unwrap();
        assert_eq!(&out[..n], "é€😀".as_bytes());
        let (out, n) = run("plain ü").unwrap();
        assert_eq!(&out[..n], "plain ü".as_bytes());
        for bad in [
            r"\",
            r"\x",
            r"\u12",
            r"\u12g4",
            r"\ud83d",
            r"\ud83dx",
            r"\ude00",
            r"\ud83d\u0041",
        ] {
            assert_eq!(run(bad).err(), Some(AzureError::Malformed), "{bad}");
        }
        let mut small = [0u8; 2];
        assert_eq!(
            unescape(r"ab\n", &mut small),
            Err(AzureError::BufferTooSmall)
        );
        assert_eq!(
            unescape(r"\u20ac", &mut small),
            Err(AzureError::BufferTooSmall)
        );
    }
}
