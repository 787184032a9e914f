//! Keys by name: handles for private keys that may never leave a secure
//! element, and the public keys they answer with.

use core::fmt;

use crate::CryptoError;

/// Names a private key in a provider's key store: a slot of a secure
/// element, or a software slot of the `soft` provider.
///
/// A handle is only a number; what it names is the provider's business. No
/// API of this crate turns a handle back into key bytes, so a key generated
/// inside a secure element stays there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyHandle(pub u16);

/// What a private key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// A NIST P-256 (secp256r1) key for ECDSA signatures and ECDH (SEC 1
    /// v2 section 3.2; FIPS 186-5).
    P256,
}

/// The longest SEC1 uncompressed point this crate handles: P-384's
/// 1 + 2 * 48 bytes (SEC 1 v2 section 2.3.3).
pub const MAX_PUBLIC_KEY_LEN: usize = 97;

/// A public key as an uncompressed SEC1 point (0x04 || X || Y, SEC 1 v2
/// section 2.3.3): the form TLS puts on the wire (RFC 8446 section
/// 4.2.8.2) and X.509 carries in SubjectPublicKeyInfo.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    bytes: [u8; MAX_PUBLIC_KEY_LEN],
    len: u8,
}

impl PublicKey {
    /// Copies an encoded point; [`CryptoError::InvalidKey`] when it is
    /// empty or longer than [`MAX_PUBLIC_KEY_LEN`]. The point itself is
    /// checked by whoever uses it.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.is_empty() {
            return Err(CryptoError::InvalidKey);
        }
        let mut key = PublicKey {
            bytes: [0; MAX_PUBLIC_KEY_LEN],
            len: 0,
        };
        key.bytes
            .get_mut(..bytes.len())
            .ok_or(CryptoError::InvalidKey)?
            .copy_from_slice(bytes);
        key.len = bytes.len() as u8;
        Ok(key)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl AsRef<[u8]> for PublicKey {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PublicKey(")?;
        for byte in self.as_bytes() {
            write!(f, "{byte:02x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys_hold_a_point_of_up_to_97_bytes() {
        let key = PublicKey::from_sec1(&[4, 1, 2]).unwrap();
        assert_eq!(key.as_bytes(), [4, 1, 2]);
        assert_eq!(std::format!("{key:?}"), "PublicKey(040102)");
        assert!(PublicKey::from_sec1(&[4; 97]).is_ok());
        assert_eq!(PublicKey::from_sec1(&[4; 98]), Err(CryptoError::InvalidKey));
        assert_eq!(PublicKey::from_sec1(&[]), Err(CryptoError::InvalidKey));
    }
}
