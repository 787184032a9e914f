//! The `soft` provider's [`SignatureVerifier`](crate::SignatureVerifier):
//! hash the message with the scheme's hash, then ECDSA (P-256, P-384) or
//! RSA (PKCS#1 v1.5, PSS).

use sha2::Digest as _;

use super::ecc;
use super::rsa::{self, RsaPublicKey};
use crate::CryptoError;
use crate::verify::SignatureScheme;

/// Verifies `signature` over `message`; see [`crate::SignatureVerifier`]
/// for the encodings of `public_key` and `signature`.
pub(crate) fn verify(
    scheme: SignatureScheme,
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    let sha256 = || sha2::Sha256::digest(message);
    let sha384 = || sha2::Sha384::digest(message);
    let rsa_key = || RsaPublicKey::from_der(public_key);
    match scheme {
        SignatureScheme::EcdsaP256Sha256 => ecc::verify_p256(public_key, &sha256(), signature),
        SignatureScheme::EcdsaP256Sha384 => ecc::verify_p256(public_key, &sha384(), signature),
        SignatureScheme::EcdsaP384Sha256 => ecc::verify_p384(public_key, &sha256(), signature),
        SignatureScheme::EcdsaP384Sha384 => ecc::verify_p384(public_key, &sha384(), signature),
        SignatureScheme::RsaPkcs1Sha256 => {
            rsa::verify_pkcs1v15::<sha2::Sha256>(&rsa_key()?, message, signature)
        }
        SignatureScheme::RsaPkcs1Sha384 => {
            rsa::verify_pkcs1v15::<sha2::Sha384>(&rsa_key()?, message, signature)
        }
        SignatureScheme::RsaPkcs1Sha512 => {
            rsa::verify_pkcs1v15::<sha2::Sha512>(&rsa_key()?, message, signature)
        }
        SignatureScheme::RsaPssSha256 => {
            rsa::verify_pss::<sha2::Sha256>(&rsa_key()?, message, signature)
        }
        SignatureScheme::RsaPssSha384 => {
            rsa::verify_pss::<sha2::Sha384>(&rsa_key()?, message, signature)
        }
    }
}
