//! The one cursor every builder writes through: bounds-checked appends to
//! the caller's buffer, so no builder indexes a buffer itself.

use crate::AzureError;
use crate::url::url_encode;

/// 10^19 down to 10^0: every power of ten a `u64` holds.
const POWERS_OF_TEN: [u64; 20] = {
    let mut powers = [1u64; 20];
    let mut i = 19;
    while i > 0 {
        powers[i - 1] = powers[i] * 10;
        i -= 1;
    }
    powers
};

/// Appends to a caller's buffer; every write is bounds-checked and fails
/// with [`AzureError::BufferTooSmall`].
#[derive(Debug)]
pub(crate) struct Out<'o> {
    buf: &'o mut [u8],
    at: usize,
}

impl<'o> Out<'o> {
    /// An empty cursor at the start of `buf`.
    pub(crate) fn new(buf: &'o mut [u8]) -> Self {
        Out { buf, at: 0 }
    }

    /// Bytes written so far.
    pub(crate) fn position(&self) -> usize {
        self.at
    }

    /// Forgets what was written after `position` (to undo a failed item).
    pub(crate) fn truncate(&mut self, position: usize) {
        self.at = self.at.min(position);
    }

    /// What was written so far.
    pub(crate) fn written(&self) -> &[u8] {
        self.buf.get(..self.at).unwrap_or_default()
    }

    /// What was written so far, as text (all writes are whole `&str`s or ASCII).
    pub(crate) fn written_str(&self) -> &str {
        core::str::from_utf8(self.written()).unwrap_or_default()
    }

    /// Appends `bytes`.
    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<&mut Self, AzureError> {
        let end = self
            .at
            .checked_add(bytes.len())
            .ok_or(AzureError::BufferTooSmall)?;
        self.buf
            .get_mut(self.at..end)
            .ok_or(AzureError::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.at = end;
        Ok(self)
    }

    /// Appends `text`.
    pub(crate) fn put_str(&mut self, text: &str) -> Result<&mut Self, AzureError> {
        self.put(text.as_bytes())
    }

    /// Appends `text` URL-encoded (RFC 3986 §2.1).
    pub(crate) fn put_url_encoded(&mut self, text: &str) -> Result<&mut Self, AzureError> {
        let rest = self.buf.get_mut(self.at..).unwrap_or_default();
        self.at += url_encode(text, rest)?;
        Ok(self)
    }

    /// Appends `value` in decimal.
    pub(crate) fn put_decimal(&mut self, value: u64) -> Result<&mut Self, AzureError> {
        // Digits by subtracting powers of ten: a 64-bit division is a
        // library routine of nearly 1 KB on a 32-bit core.
        let mut digits = [0u8; 20];
        let mut len = 0;
        let mut rest = value;
        for power in POWERS_OF_TEN {
            let mut digit = b'0';
            while rest >= power {
                rest -= power;
                digit += 1;
            }
            // Leading zeros skipped; the last digit always written.
            if (len > 0 || digit != b'0' || power == 1)
                && let Some(slot) = digits.get_mut(len)
            {
                *slot = digit;
                len += 1;
            }
        }
        self.put(digits.get(..len).unwrap_or_default())
    }

    /// Appends `text` as the inside of a JSON string (RFC 8259 §7), escaped
    /// as azure-sdk-for-c's `az_json_writer` does.
    pub(crate) fn put_json_escaped(&mut self, text: &str) -> Result<&mut Self, AzureError> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for &byte in text.as_bytes() {
            match byte {
                b'"' => self.put(b"\\\"")?,
                b'\\' => self.put(b"\\\\")?,
                b'\n' => self.put(b"\\n")?,
                b'\r' => self.put(b"\\r")?,
                b'\t' => self.put(b"\\t")?,
                0x08 => self.put(b"\\b")?,
                0x0c => self.put(b"\\f")?,
                0..0x20 => self.put(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(byte >> 4)],
                    HEX[usize::from(byte & 0xf)],
                ])?,
                _ => self.put(&[byte])?,
            };
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_bounded() {
        let mut buf = [0u8; 8];
        let mut o = Out::new(&mut buf);
        o.put_str("a/").unwrap().put_decimal(1234).unwrap();
        assert_eq!(o.written(), b"a/1234");
        assert_eq!(
            o.put_url_encoded("/").err(),
            Some(AzureError::BufferTooSmall)
        );
        o.truncate(1);
        o.put_json_escaped("\"").unwrap();
        assert_eq!(o.written_str(), "a\\\"");
        assert_eq!(o.position(), 3);
    }

    #[test]
    fn decimals_match_std_formatting() {
        extern crate std;
        use std::string::ToString;
        let mut cases = std::vec![0, 1, 9, 10, 99, 100, 1234, u64::from(u32::MAX), u64::MAX];
        cases.extend((0..20).map(|p| 10u64.pow(p)));
        cases.extend((1..20).map(|p| 10u64.pow(p) - 1));
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(x >> (x % 64));
        }
        for value in cases {
            let mut buf = [0u8; 20];
            let mut o = Out::new(&mut buf);
            o.put_decimal(value).unwrap();
            assert_eq!(o.written_str(), value.to_string());
        }
    }
}
