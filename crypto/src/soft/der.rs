//! A strict DER reader (ITU-T X.690 section 10) for the two structures
//! the `soft` provider parses itself: an RSA public key and an ECDSA
//! signature. Errors are [`CryptoError::InvalidKey`]; a caller reading a
//! signature maps them.

use crate::CryptoError;

/// A DER reader over one slice: strict lengths, no indefinite forms.
pub(crate) struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    pub(crate) fn new(der: &'a [u8]) -> Self {
        Der { rest: der }
    }

    /// Whether every element has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The contents of the next element, which must carry `tag`.
    pub(crate) fn element(&mut self, tag: u8) -> Result<&'a [u8], CryptoError> {
        let (&found, rest) = self.rest.split_first().ok_or(CryptoError::InvalidKey)?;
        let (&first, mut rest) = rest.split_first().ok_or(CryptoError::InvalidKey)?;
        if found != tag {
            return Err(CryptoError::InvalidKey);
        }
        let len = match first {
            0..=0x7f => usize::from(first),
            // Long form with 1 or 2 length bytes, minimal (X.690 10.1).
            0x81 | 0x82 => {
                let count = usize::from(first & 0x7f);
                let bytes = rest.get(..count).ok_or(CryptoError::InvalidKey)?;
                rest = &rest[count..];
                let len = bytes
                    .iter()
                    .fold(0usize, |len, &b| len << 8 | usize::from(b));
                if bytes[0] == 0 || len < 0x80 {
                    return Err(CryptoError::InvalidKey);
                }
                len
            }
            _ => return Err(CryptoError::InvalidKey),
        };
        let contents = rest.get(..len).ok_or(CryptoError::InvalidKey)?;
        self.rest = &rest[len..];
        Ok(contents)
    }

    /// A positive INTEGER's magnitude, minimal: no redundant leading zero,
    /// no negative value (X.690 8.3).
    pub(crate) fn positive_integer(&mut self) -> Result<&'a [u8], CryptoError> {
        let contents = self.element(0x02)?;
        match contents {
            [] => Err(CryptoError::InvalidKey),
            [first, ..] if first & 0x80 != 0 => Err(CryptoError::InvalidKey),
            [0, second, ..] if second & 0x80 == 0 => Err(CryptoError::InvalidKey),
            [0, magnitude @ ..] if !magnitude.is_empty() => Ok(magnitude),
            [0] => Err(CryptoError::InvalidKey),
            magnitude => Ok(magnitude),
        }
    }
}
