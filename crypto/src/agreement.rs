//! Key agreement: ephemeral ECDH as TLS 1.2 ECDHE (RFC 8422) and TLS 1.3
//! (RFC 8446 section 4.2.8) use it.

use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroize;

use crate::CryptoError;
use crate::key::PublicKey;

/// The groups a key share can be in, by their TLS NamedGroup names (RFC
/// 8446 section 4.2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EcdhGroup {
    /// secp256r1 (NIST P-256), NamedGroup 0x0017.
    Secp256r1,
    /// secp384r1 (NIST P-384), NamedGroup 0x0018: for servers that will not
    /// take P-256 (a TLS 1.3 server asks for it with a HelloRetryRequest).
    Secp384r1,
}

impl EcdhGroup {
    /// Bytes of the uncompressed public point on the wire (RFC 8446
    /// section 4.2.8.2: 0x04 || X || Y).
    pub const fn public_key_len(self) -> usize {
        match self {
            EcdhGroup::Secp256r1 => 65,
            EcdhGroup::Secp384r1 => 97,
        }
    }

    /// Bytes of the shared secret: the x-coordinate of the shared point
    /// (RFC 8446 section 7.4.2; SEC 1 v2 section 3.3.1).
    pub const fn shared_secret_len(self) -> usize {
        match self {
            EcdhGroup::Secp256r1 => 32,
            EcdhGroup::Secp384r1 => 48,
        }
    }
}

/// The longest shared secret of any [`EcdhGroup`] (room for P-384).
pub const MAX_SHARED_SECRET_LEN: usize = 48;

/// An ECDH shared secret (Z), zeroized on drop; `Debug` shows only its
/// length.
pub struct SharedSecret {
    bytes: [u8; MAX_SHARED_SECRET_LEN],
    len: u8,
}

impl SharedSecret {
    /// Copies `bytes` into a secret; [`CryptoError::BadInput`] when longer
    /// than [`MAX_SHARED_SECRET_LEN`].
    pub fn new(bytes: &[u8]) -> Result<Self, CryptoError> {
        let mut secret = SharedSecret {
            bytes: [0; MAX_SHARED_SECRET_LEN],
            len: 0,
        };
        secret
            .bytes
            .get_mut(..bytes.len())
            .ok_or(CryptoError::BadInput)?
            .copy_from_slice(bytes);
        secret.len = bytes.len() as u8;
        Ok(secret)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl Drop for SharedSecret {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedSecret({} bytes)", self.len)
    }
}

/// Ephemeral ECDH.
///
/// [`generate_ephemeral`](Self::generate_ephemeral) makes a key pair and
/// returns the public point for the key share; the private half stays with
/// the provider as an [`EphemeralSecret`](Self::EphemeralSecret) (a scalar
/// in RAM, zeroized on drop, for `soft`; a volatile register of a secure
/// element for hardware). [`agree`](Self::agree) consumes it, so each
/// ephemeral key is used once.
pub trait KeyAgreement {
    type EphemeralSecret;

    /// A fresh key pair in `group`, with randomness from `rng` (the caller
    /// owns the generator: a TRNG driver or a DRBG seeded from one). A
    /// secure element may use its own generator instead.
    fn generate_ephemeral<R: CryptoRng + ?Sized>(
        &self,
        group: EcdhGroup,
        rng: &mut R,
    ) -> Result<(Self::EphemeralSecret, PublicKey), CryptoError>;

    /// The shared secret with the peer's public point (SEC1 encoded; RFC
    /// 8446 section 4.2.8.2 requires the uncompressed form on the wire).
    /// [`CryptoError::InvalidKey`] for a point that is malformed, not on
    /// the curve, or the identity.
    fn agree(
        &self,
        secret: Self::EphemeralSecret,
        peer_public_key: &[u8],
    ) -> Result<SharedSecret, CryptoError>;
}

impl<T: KeyAgreement + ?Sized> KeyAgreement for &T {
    type EphemeralSecret = T::EphemeralSecret;

    fn generate_ephemeral<R: CryptoRng + ?Sized>(
        &self,
        group: EcdhGroup,
        rng: &mut R,
    ) -> Result<(Self::EphemeralSecret, PublicKey), CryptoError> {
        (**self).generate_ephemeral(group, rng)
    }

    fn agree(
        &self,
        secret: Self::EphemeralSecret,
        peer_public_key: &[u8],
    ) -> Result<SharedSecret, CryptoError> {
        (**self).agree(secret, peer_public_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_secrets_hide_their_bytes_from_debug() {
        let secret = SharedSecret::new(&[9; 32]).unwrap();
        assert_eq!(secret.as_bytes(), [9; 32]);
        assert_eq!(std::format!("{secret:?}"), "SharedSecret(32 bytes)");
        assert!(SharedSecret::new(&[0; 49]).is_err());
        assert_eq!(EcdhGroup::Secp256r1.public_key_len(), 65);
        assert_eq!(EcdhGroup::Secp256r1.shared_secret_len(), 32);
    }
}
