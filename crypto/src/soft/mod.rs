//! The software provider: every operation of this crate on RustCrypto
//! (`sha2`, `aes-gcm`, `ccm`, `p256`, `p384`) and, for RSA, our own
//! verification on our own run-time-sized Montgomery arithmetic
//! (`montgomery`), so that nothing needs an allocator. ECDSA verification
//! computes its `u1·G + u2·Q` itself (`ecdsa_verify`) on the curve crates'
//! point arithmetic, in a third of the stack theirs takes.
//!
//! Secrets zeroize on drop: hash states (HMAC keys live in them), AES round
//! keys, ECDH scalars, signing keys.

mod aead;
mod der;
mod ecc;
mod ecdsa_der;
mod ecdsa_verify;
mod hash;
mod key_slots;
mod montgomery;
mod rsa;
#[cfg(test)]
mod rsa_vectors;
mod verify;

use core::fmt;

use rand_core::CryptoRng;

pub use aead::SoftAeadKey;
pub use ecc::SoftEphemeral;
pub use hash::SoftHash;

pub(crate) use ecc::{P256Key, generate_p256, import_p256, p256_public_key, sign_p256};

use crate::CryptoError;
use crate::aead::{Aead, AeadAlgorithm};
use crate::agreement::{EcdhGroup, KeyAgreement, SharedSecret};
use crate::asynch::{AsyncKeyAgreement, AsyncSigner};
use crate::hash::{HashAlgorithm, Hasher};
use crate::kdf::KeyDerivation;
use crate::key::{KeyHandle, KeyType, PublicKey};
use crate::sign::{KeyStore, SignatureFormat, Signer};
use crate::verify::{SignatureScheme, SignatureVerifier};
pub(crate) use key_slots::KeySlots;

/// The software provider, with `KEY_SLOTS` slots for private signing keys
/// (in RAM, zeroized on drop). `Soft<0>` is the primitives alone.
pub struct Soft<const KEY_SLOTS: usize = 4> {
    keys: KeySlots<KEY_SLOTS>,
}

impl<const KEY_SLOTS: usize> Soft<KEY_SLOTS> {
    pub const fn new() -> Self {
        Soft {
            keys: KeySlots::new(),
        }
    }

    fn key(&self, key: KeyHandle) -> Result<&P256Key, CryptoError> {
        self.keys.key(key)
    }
}

impl<const KEY_SLOTS: usize> Default for Soft<KEY_SLOTS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const KEY_SLOTS: usize> fmt::Debug for Soft<KEY_SLOTS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let used = self.keys.occupancy().filter(|&used| used).count();
        write!(f, "Soft {{ key slots used: {used} of {KEY_SLOTS} }}")
    }
}

impl<const KEY_SLOTS: usize> Hasher for Soft<KEY_SLOTS> {
    type Context = SoftHash;

    fn hash_context(&self, algorithm: HashAlgorithm) -> Result<SoftHash, CryptoError> {
        Ok(SoftHash::new(algorithm))
    }
}

/// HMAC, HKDF and the PRF: the trait's defaults over [`SoftHash`].
impl<const KEY_SLOTS: usize> KeyDerivation for Soft<KEY_SLOTS> {}

impl<const KEY_SLOTS: usize> Aead for Soft<KEY_SLOTS> {
    type Key = SoftAeadKey;

    fn aead_key(&self, algorithm: AeadAlgorithm, key: &[u8]) -> Result<SoftAeadKey, CryptoError> {
        SoftAeadKey::new(algorithm, key)
    }
}

impl<const KEY_SLOTS: usize> KeyAgreement for Soft<KEY_SLOTS> {
    type EphemeralSecret = SoftEphemeral;

    fn generate_ephemeral<R: CryptoRng + ?Sized>(
        &self,
        group: EcdhGroup,
        rng: &mut R,
    ) -> Result<(SoftEphemeral, PublicKey), CryptoError> {
        SoftEphemeral::generate(group, rng)
    }

    fn agree(
        &self,
        secret: SoftEphemeral,
        peer_public_key: &[u8],
    ) -> Result<SharedSecret, CryptoError> {
        secret.agree(peer_public_key)
    }
}

impl<const KEY_SLOTS: usize> Signer for Soft<KEY_SLOTS> {
    fn sign_prehash(
        &self,
        key: KeyHandle,
        scheme: SignatureScheme,
        prehash: &[u8],
        format: SignatureFormat,
        out: &mut [u8],
    ) -> Result<usize, CryptoError> {
        sign_p256(self.key(key)?, scheme, prehash, format, out)
    }
}

impl<const KEY_SLOTS: usize> KeyStore for Soft<KEY_SLOTS> {
    fn generate_key<R: CryptoRng + ?Sized>(
        &mut self,
        key: KeyHandle,
        kind: KeyType,
        rng: &mut R,
    ) -> Result<PublicKey, CryptoError> {
        self.keys.generate_key(key, kind, rng)
    }

    fn import_key(
        &mut self,
        key: KeyHandle,
        kind: KeyType,
        private_key: &[u8],
    ) -> Result<PublicKey, CryptoError> {
        self.keys.import_key(key, kind, private_key)
    }

    fn public_key(&self, key: KeyHandle) -> Result<PublicKey, CryptoError> {
        self.keys.public_key(key)
    }

    fn delete_key(&mut self, key: KeyHandle) -> Result<(), CryptoError> {
        self.keys.delete_key(key)
    }
}

impl<const KEY_SLOTS: usize> SignatureVerifier for Soft<KEY_SLOTS> {
    fn verify(
        &self,
        scheme: SignatureScheme,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        verify::verify(scheme, public_key, message, signature)
    }
}

/// Software answers at once; the async forms exist so that a `Fallback`
/// with a slow engine in front works in async code.
impl<const KEY_SLOTS: usize> AsyncSigner for Soft<KEY_SLOTS> {
    async fn sign_prehash(
        &self,
        key: KeyHandle,
        scheme: SignatureScheme,
        prehash: &[u8],
        format: SignatureFormat,
        out: &mut [u8],
    ) -> Result<usize, CryptoError> {
        Signer::sign_prehash(self, key, scheme, prehash, format, out)
    }
}

impl<const KEY_SLOTS: usize> AsyncKeyAgreement for Soft<KEY_SLOTS> {
    type EphemeralSecret = SoftEphemeral;

    async fn generate_ephemeral<R: CryptoRng + ?Sized>(
        &self,
        group: EcdhGroup,
        rng: &mut R,
    ) -> Result<(SoftEphemeral, PublicKey), CryptoError> {
        KeyAgreement::generate_ephemeral(self, group, rng)
    }

    async fn agree(
        &self,
        secret: SoftEphemeral,
        peer_public_key: &[u8],
    ) -> Result<SharedSecret, CryptoError> {
        KeyAgreement::agree(self, secret, peer_public_key)
    }
}
