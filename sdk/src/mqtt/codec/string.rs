//! UTF-8 encoded strings (3.1.1 §1.5.3, 5.0 §1.5.4): a two-byte length, then
//! well-formed UTF-8 that must not contain U+0000 or UTF-16 surrogates.

use super::Error;

/// Checks the rules of 5.0 §1.5.4 on raw string bytes and returns the string.
///
/// `core::str::from_utf8` already rejects surrogate code points (U+D800 to
/// U+DFFF) and overlong forms, which the spec also forbids.
pub fn check_utf8(bytes: &[u8]) -> Result<&str, Error> {
    let text = core::str::from_utf8(bytes).map_err(|_| Error::InvalidUtf8)?;
    check_no_null(text)?;
    Ok(text)
}

/// The one rule a Rust `str` can still break: U+0000. Outgoing strings
/// need only this; their UTF-8 is guaranteed by the type. A plain loop,
/// because `contains` pulls a word-at-a-time `memchr` into the firmware for
/// strings a few dozen bytes long.
pub(crate) fn check_no_null(text: &str) -> Result<(), Error> {
    for &byte in text.as_bytes() {
        if byte == 0 {
            return Err(Error::NullCharacter);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_spec_example_and_rejects_forbidden_forms() {
        // 5.0 §1.5.4.1: "A" U+2A6D4 encodes as 41 F0 AA 9B 94.
        assert_eq!(
            check_utf8(&[0x41, 0xf0, 0xaa, 0x9b, 0x94]),
            Ok("A\u{2a6d4}")
        );
        assert_eq!(check_utf8(b"a\0b"), Err(Error::NullCharacter));
        // U+D800 encoded as if it were a scalar value.
        assert_eq!(check_utf8(&[0xed, 0xa0, 0x80]), Err(Error::InvalidUtf8));
        // Overlong encoding of '/'.
        assert_eq!(check_utf8(&[0xc0, 0xaf]), Err(Error::InvalidUtf8));
        assert_eq!(check_utf8(&[0xf0, 0xaa]), Err(Error::InvalidUtf8));
    }
}
