//! The `soft` provider's [`SignatureVerifier`](crate::SignatureVerifier):
//! hash the message with the scheme's hash, then ECDSA (P-256, P-384) or
//! RSA (PKCS#1 v1.5, PSS).

use super::ecc;
use super::rsa::{self, Hash, RsaHash, RsaPublicKey};
use crate::CryptoError;
use crate::verify::SignatureScheme;
use sha2::{Sha256, Sha384, Sha512};

/// Verifies `signature` over `message`; see [`crate::SignatureVerifier`]
/// for the encodings of `public_key` and `signature`.
pub(crate) fn verify(
    scheme: SignatureScheme,
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    // Through RSA's hashing (one copy of each hash's code), which is out of
    // line: inlined here, the hash state stayed in the frame under the
    // elliptic-curve verification, the deepest call of a certificate check.
    let sha256 = || <Sha256 as RsaHash>::digest_parts(&[message]);
    let sha384 = || <Sha384 as RsaHash>::digest_parts(&[message]);
    match scheme {
        SignatureScheme::EcdsaP256Sha256 => {
            ecc::verify_p256(public_key, &sha256()[..32], signature)
        }
        SignatureScheme::EcdsaP256Sha384 => {
            ecc::verify_p256(public_key, &sha384()[..48], signature)
        }
        SignatureScheme::EcdsaP384Sha256 => {
            ecc::verify_p384(public_key, &sha256()[..32], signature)
        }
        SignatureScheme::EcdsaP384Sha384 => {
            ecc::verify_p384(public_key, &sha384()[..48], signature)
        }
        SignatureScheme::RsaPkcs1Sha256 => verify_rsa(
            rsa::verify_pkcs1v15,
            Hash::of::<Sha256>(),
            public_key,
            message,
            signature,
        ),
        SignatureScheme::RsaPkcs1Sha384 => verify_rsa(
            rsa::verify_pkcs1v15,
            Hash::of::<Sha384>(),
            public_key,
            message,
            signature,
        ),
        SignatureScheme::RsaPkcs1Sha512 => verify_rsa(
            rsa::verify_pkcs1v15,
            Hash::of::<Sha512>(),
            public_key,
            message,
            signature,
        ),
        SignatureScheme::RsaPssSha256 => verify_rsa(
            rsa::verify_pss,
            Hash::of::<Sha256>(),
            public_key,
            message,
            signature,
        ),
        SignatureScheme::RsaPssSha384 => verify_rsa(
            rsa::verify_pss,
            Hash::of::<Sha384>(),
            public_key,
            message,
            signature,
        ),
    }
}

/// An RSA signature check of `rsa` (PKCS#1 v1.5 or PSS) on a parsed key.
type RsaCheck = fn(Hash, &RsaPublicKey<'_>, &[u8], &[u8]) -> Result<(), CryptoError>;

/// `check` with the parsed key, in a frame of its own: the key (up to 4096
/// bits) then shares no frame slot with the elliptic-curve calls of
/// [`verify`] (measured: 80 bytes of frame under a P-256 verification
/// instead of 1,220).
#[inline(never)]
fn verify_rsa(
    check: RsaCheck,
    hash: Hash,
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    check(
        hash,
        &RsaPublicKey::from_der(public_key)?,
        message,
        signature,
    )
}
