//! The one error type of the crate's operations.

/// Why a cryptographic operation did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// This provider does not implement the operation or algorithm; a
    /// `Fallback` provider tries the next one.
    Unsupported,
    /// A key that is malformed, of the wrong size, or not on the curve.
    InvalidKey,
    /// A signature that does not verify (or cannot be parsed).
    InvalidSignature,
    /// Input of the wrong length or form (nonce, tag, buffer too small).
    BadInput,
    /// AEAD decryption found the tag wrong: the data is not authentic.
    AuthenticationFailed,
    /// A key handle that names no key.
    NoSuchKey,
    /// The engine (secure element, accelerator) failed or is busy.
    Device,
}

impl core::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CryptoError::Unsupported => "operation not supported by this provider",
            CryptoError::InvalidKey => "invalid key",
            CryptoError::InvalidSignature => "invalid signature",
            CryptoError::BadInput => "bad input length or form",
            CryptoError::AuthenticationFailed => "authentication failed",
            CryptoError::NoSuchKey => "no such key",
            CryptoError::Device => "crypto device failed",
        })
    }
}

impl core::error::Error for CryptoError {}
