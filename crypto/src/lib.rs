//! # duet-crypto
//!
//! Every secure layer of Duet (TLS, DTLS, SAS tokens, update signatures) asks
//! this crate for its primitives through traits, so a board's accelerator or
//! secure element can replace the software path without any caller changing.
//!
//! The traits, at the granularity the protocols use:
//!
//! | trait | what | used by |
//! |---|---|---|
//! | [`Hasher`], [`HashContext`] | SHA-256/384 contexts that clone | TLS transcript, ADU file hashes |
//! | [`KeyDerivation`] | HMAC, HKDF, TLS 1.2 PRF (defaults over [`Hasher`]) | TLS key schedules, SAS tokens |
//! | [`Aead`], [`AeadKey`] | AES-GCM/CCM keys loaded once, sealing in place | TLS/DTLS records |
//! | [`KeyAgreement`] | ephemeral ECDH P-256 | (EC)DHE key shares |
//! | [`Signer`], [`KeyStore`] | ECDSA P-256 over a prehash, keys by [`KeyHandle`] | client authentication |
//! | [`SignatureVerifier`] | ECDSA P-256/P-384, RSA PKCS#1 v1.5 and PSS | X.509, TLS, ADU manifests |
//! | [`AsyncSigner`], [`AsyncKeyAgreement`] | the slow ones, for I2C secure elements | async TLS |
//!
//! Randomness comes from the caller as a `rand_core` 0.10 [`CryptoRng`]
//! (a TRNG driver or a DRBG seeded from one), passed to the operations that
//! need it.
//!
//! An operation a provider cannot do answers [`CryptoError::Unsupported`];
//! [`Fallback`]`<Hw, Soft>` then asks the software provider. The `soft`
//! feature (on by default) provides [`soft::Soft`]; the `sim` feature a
//! simulated secure element for tests of callers.
//!
//! [`CryptoRng`]: rand_core::CryptoRng
#![no_std]
#![forbid(unsafe_code)]

#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod aead;
pub mod agreement;
pub mod asynch;
pub mod error;
pub mod fallback;
pub mod hash;
pub mod hmac;
pub mod kdf;
pub mod key;
pub mod never;
pub mod sign;
#[cfg(all(feature = "soft", any(test, feature = "sim")))]
pub mod sim;
#[cfg(feature = "soft")]
pub mod soft;
pub mod verify;
pub mod x509;

#[cfg(test)]
mod test_util;

pub use aead::{Aead, AeadAlgorithm, AeadKey, Tag};
pub use agreement::{EcdhGroup, KeyAgreement, SharedSecret};
pub use asynch::{AsyncKeyAgreement, AsyncSigner, Immediate};
pub use error::CryptoError;
pub use fallback::{Either, Fallback};
pub use hash::{Digest, HashAlgorithm, HashContext, Hasher};
pub use hmac::Hmac;
pub use kdf::KeyDerivation;
pub use key::{KeyHandle, KeyType, PublicKey};
pub use never::Never;
pub use sign::{KeyStore, SignatureFormat, Signer};
pub use verify::{SignatureScheme, SignatureVerifier};

/// Everything a TLS or DTLS engine asks of a provider, as one bound.
pub trait Provider:
    Hasher + KeyDerivation + Aead + KeyAgreement + Signer + SignatureVerifier
{
}

impl<T> Provider for T where
    T: Hasher + KeyDerivation + Aead + KeyAgreement + Signer + SignatureVerifier
{
}

#[cfg(all(test, feature = "soft"))]
mod tests {
    use super::*;
    use crate::sim::SimSe;
    use crate::soft::Soft;
    use crate::test_util::TestRng;

    /// A TLS-1.3-shaped exchange written against the `Provider` bound only:
    /// ECDHE, HKDF, a record sealed and opened, the transcript signed and
    /// verified. Returns the traffic key's first byte so callers compare.
    fn handshake<P: Provider>(provider: &P, signer: KeyHandle, rng: &mut TestRng) -> u8 {
        let (ours, _) =
            KeyAgreement::generate_ephemeral(provider, EcdhGroup::Secp256r1, rng).unwrap();
        let peer = Soft::<0>::new();
        let (theirs, their_public) =
            KeyAgreement::generate_ephemeral(&peer, EcdhGroup::Secp256r1, rng).unwrap();
        let shared = KeyAgreement::agree(provider, ours, their_public.as_bytes()).unwrap();
        drop(theirs);
        let secret = provider
            .hkdf_extract(HashAlgorithm::Sha256, &[], shared.as_bytes())
            .unwrap();
        let mut key = [0u8; 16];
        provider
            .hkdf_expand(
                HashAlgorithm::Sha256,
                secret.as_bytes(),
                &[b"key"],
                &mut key,
            )
            .unwrap();
        let aead = provider.aead_key(AeadAlgorithm::Aes128Gcm, &key).unwrap();
        let mut record = [0u8; 32];
        record[..16].copy_from_slice(b"application data");
        let sealed = aead
            .seal_in_place(&[0; 12], b"hdr", &mut record, 16)
            .unwrap();
        assert_eq!(
            aead.open_in_place(&[0; 12], b"hdr", &mut record[..sealed]),
            Ok(16)
        );

        let mut transcript = provider.hash_context(HashAlgorithm::Sha256).unwrap();
        transcript.update(b"handshake messages");
        let prehash = transcript.finish().unwrap();
        let mut signature = [0u8; sign::MAX_SIGNATURE_LEN];
        let len = Signer::sign_prehash(
            provider,
            signer,
            SignatureScheme::EcdsaP256Sha256,
            prehash.as_bytes(),
            SignatureFormat::Der,
            &mut signature,
        )
        .unwrap();
        assert!(len > 64);
        key[0]
    }

    #[test]
    fn soft_and_a_secure_element_with_soft_behind_it_are_providers() {
        let mut soft: Soft = Soft::new();
        let mut rng = TestRng::new(11);
        soft.generate_key(KeyHandle(0), KeyType::P256, &mut rng)
            .unwrap();
        handshake(&soft, KeyHandle(0), &mut rng);

        let mut device = Fallback::new(SimSe::<2>::new(), Soft::<0>::new());
        device
            .generate_key(KeyHandle(1), KeyType::P256, &mut rng)
            .unwrap();
        handshake(&device, KeyHandle(1), &mut rng);
        assert_eq!(device.primary.signature_count(), 1);
        assert_eq!(device.primary.agreement_count(), 1);
    }
}
