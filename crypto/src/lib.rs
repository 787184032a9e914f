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
