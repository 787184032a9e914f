//! Signing with keys named by handle, over a hash the caller computed.
//!
//! Signing takes a *prehash*: TLS hashes its CertificateVerify content
//! (RFC 8446 section 4.4.3) and the transcript itself, and a secure element
//! only ever sees the 32 or 48 bytes of the hash, never the message.

use rand_core::CryptoRng;

use crate::CryptoError;
use crate::key::{KeyHandle, KeyType, PublicKey};
use crate::verify::SignatureScheme;

/// How an ECDSA signature is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureFormat {
    /// DER `Ecdsa-Sig-Value` (RFC 3279 section 2.2.3), as TLS
    /// CertificateVerify (RFC 8446 section 4.2.3) and X.509 carry it.
    Der,
    /// r || s, each left-padded to the field size (IEEE P1363), as JWS
    /// ES256 uses it (RFC 7518 section 3.4).
    Raw,
}

/// The longest ECDSA P-256 signature in DER: SEQUENCE of two INTEGERs of up
/// to 33 bytes each.
pub const MAX_SIGNATURE_LEN: usize = 72;

/// Signs prehashed messages with the private key a [`KeyHandle`] names.
pub trait Signer {
    /// Signs `prehash`, the output of `scheme`'s hash over the message, with
    /// `key`, writing the signature in `format` to the front of `out` and
    /// returning its length.
    ///
    /// [`CryptoError::NoSuchKey`] when `key` names no key;
    /// [`CryptoError::InvalidKey`] when the key does not fit `scheme`;
    /// [`CryptoError::BadInput`] when `prehash` is not `scheme`'s hash length
    /// or `out` is too short ([`MAX_SIGNATURE_LEN`] always suffices for
    /// P-256); [`CryptoError::Unsupported`] for schemes the provider does not
    /// sign.
    fn sign_prehash(
        &self,
        key: KeyHandle,
        scheme: SignatureScheme,
        prehash: &[u8],
        format: SignatureFormat,
        out: &mut [u8],
    ) -> Result<usize, CryptoError>;
}

/// Puts private keys into slots and reads out their public halves.
///
/// There is deliberately no method that returns private key bytes: a key
/// that entered a store (generated inside it or imported) can sign and
/// agree, never leave.
pub trait KeyStore {
    /// Generates a key of `kind` in the slot `key` names, replacing what was
    /// there, and returns its public key. A secure element may use its own
    /// generator instead of `rng`.
    fn generate_key<R: CryptoRng + ?Sized>(
        &mut self,
        key: KeyHandle,
        kind: KeyType,
        rng: &mut R,
    ) -> Result<PublicKey, CryptoError>;

    /// Stores `private_key` (for [`KeyType::P256`]: the 32-byte big-endian
    /// scalar, SEC 1 v2 section 2.3.7) in the slot `key` names.
    fn import_key(
        &mut self,
        key: KeyHandle,
        kind: KeyType,
        private_key: &[u8],
    ) -> Result<PublicKey, CryptoError>;

    /// The public key of the key in slot `key`.
    fn public_key(&self, key: KeyHandle) -> Result<PublicKey, CryptoError>;

    /// Erases the key in slot `key`.
    fn delete_key(&mut self, key: KeyHandle) -> Result<(), CryptoError>;
}

impl<T: Signer + ?Sized> Signer for &T {
    fn sign_prehash(
        &self,
        key: KeyHandle,
        scheme: SignatureScheme,
        prehash: &[u8],
        format: SignatureFormat,
        out: &mut [u8],
    ) -> Result<usize, CryptoError> {
        (**self).sign_prehash(key, scheme, prehash, format, out)
    }
}
