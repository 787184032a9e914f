//! Request ids (`$rid`) as the client holds them: short strings copied out
//! of a received topic, or numbers it chose, without an allocator.

use core::fmt;

use crate::AzureError;

/// The longest `$rid` kept; IoT Hub's are short hexadecimal numbers.
const MAX_LEN: usize = 32;

/// A request id, owned.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    bytes: [u8; MAX_LEN],
    len: u8,
}

impl RequestId {
    /// A copy of `text`; longer than 32 bytes is [`AzureError::OutOfRange`].
    pub fn new(text: &str) -> Result<Self, AzureError> {
        let mut bytes = [0; MAX_LEN];
        bytes
            .get_mut(..text.len())
            .ok_or(AzureError::OutOfRange)?
            .copy_from_slice(text.as_bytes());
        Ok(RequestId {
            bytes,
            len: text.len() as u8,
        })
    }

    /// `number` in decimal.
    pub fn from_number(number: u32) -> Self {
        let mut digits = [0u8; 10];
        let mut at = digits.len();
        let mut rest = number;
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        let mut bytes = [0; MAX_LEN];
        let len = digits.len() - at;
        bytes[..len].copy_from_slice(&digits[at..]);
        RequestId {
            bytes,
            len: len as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        // Made from a `&str` or from ASCII digits.
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({:?})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_copies_read_back() {
        assert_eq!(RequestId::from_number(0).as_str(), "0");
        assert_eq!(RequestId::from_number(4_294_967_295).as_str(), "4294967295");
        assert_eq!(RequestId::new("a1f").unwrap().as_str(), "a1f");
        let long = core::str::from_utf8(&[b'x'; 33]).unwrap();
        assert_eq!(RequestId::new(long), Err(AzureError::OutOfRange));
    }
}
