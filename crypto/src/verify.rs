//! Signature verification, as certificate validation and TLS ask for it.

use crate::CryptoError;

/// A signature algorithm with its hash, as X.509 and TLS name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureScheme {
    EcdsaP256Sha256,
    EcdsaP256Sha384,
    EcdsaP384Sha256,
    EcdsaP384Sha384,
    RsaPkcs1Sha256,
    RsaPkcs1Sha384,
    RsaPkcs1Sha512,
    RsaPssSha256,
    RsaPssSha384,
}

/// Verifies signatures over whole messages (the verifier hashes them).
pub trait SignatureVerifier {
    /// `public_key` is the content of an X.509 SubjectPublicKeyInfo's BIT
    /// STRING: for ECDSA the SEC1 point (uncompressed, as certificates carry
    /// it; the software provider refuses the compressed form), for RSA
    /// the DER `RSAPublicKey` (modulus, exponent). `signature` is DER
    /// (`Ecdsa-Sig-Value`) for ECDSA and the raw big-endian integer for RSA.
    fn verify(
        &self,
        scheme: SignatureScheme,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError>;
}
