//! webpki's signature algorithms, implemented on Duet's [`SignatureVerifier`].
//!
//! webpki asks for `&[&dyn SignatureVerificationAlgorithm]` on every call to
//! `EndEntityCert::verify_for_usage` / `verify_signature`, and that slice's
//! lifetime is the call's, not `'static`. So each validation builds, on its
//! own stack, one small [`Algorithm`] per entry of [`CERTIFICATE_ALGORITHMS`]
//! holding a borrow of the caller's verifier: no statics, no registration, no
//! allocation, no `unsafe`, and two verifiers (a secure element and the
//! software provider, say) can validate side by side. The one price is
//! webpki's `Send + Sync` bound on the trait, which a borrow meets only when
//! the verifier is `Sync`; a provider around a peripheral gets that from a
//! critical-section mutex.

use core::fmt;

use rustls_pki_types::alg_id;
use rustls_pki_types::{AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm};

use super::der::{Reader, tag};
use crate::{SignatureScheme, SignatureVerifier};

/// One (public-key algorithm, signature algorithm) pair that X.509 names,
/// and the scheme the verifier is asked to check it with.
#[derive(Debug)]
pub(crate) struct AlgorithmSpec {
    pub(crate) scheme: SignatureScheme,
    pub(crate) public_key_alg_id: AlgorithmIdentifier,
    pub(crate) signature_alg_id: AlgorithmIdentifier,
    name: &'static str,
}

/// sha256WithRSAEncryption without the NULL parameters that RFC 4055
/// section 5 requires; some old CAs omitted them and webpki accepts both.
const RSA_PKCS1_SHA256_ABSENT_PARAMS: AlgorithmIdentifier =
    AlgorithmIdentifier::from_slice(&[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 11]);
const RSA_PKCS1_SHA384_ABSENT_PARAMS: AlgorithmIdentifier =
    AlgorithmIdentifier::from_slice(&[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 12]);
const RSA_PKCS1_SHA512_ABSENT_PARAMS: AlgorithmIdentifier =
    AlgorithmIdentifier::from_slice(&[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 13]);

const fn spec(
    scheme: SignatureScheme,
    public_key_alg_id: AlgorithmIdentifier,
    signature_alg_id: AlgorithmIdentifier,
    name: &'static str,
) -> AlgorithmSpec {
    AlgorithmSpec {
        scheme,
        public_key_alg_id,
        signature_alg_id,
        name,
    }
}

/// Every certificate signature Duet accepts. ECDSA per RFC 5758 section 3.2
/// and RFC 5480; RSA PKCS#1 v1.5 per RFC 4055 section 5; RSA-PSS per RFC 4055
/// section 3.1 with an `rsaEncryption` key and salt length = hash length
/// (the only PSS parameters webpki matches). The first entry of each scheme
/// is the one [`for_scheme`] picks.
pub(crate) static CERTIFICATE_ALGORITHMS: [AlgorithmSpec; 12] = {
    use SignatureScheme::*;
    [
        spec(
            EcdsaP256Sha256,
            alg_id::ECDSA_P256,
            alg_id::ECDSA_SHA256,
            "ECDSA P-256 SHA-256",
        ),
        spec(
            EcdsaP384Sha384,
            alg_id::ECDSA_P384,
            alg_id::ECDSA_SHA384,
            "ECDSA P-384 SHA-384",
        ),
        spec(
            EcdsaP256Sha384,
            alg_id::ECDSA_P256,
            alg_id::ECDSA_SHA384,
            "ECDSA P-256 SHA-384",
        ),
        spec(
            EcdsaP384Sha256,
            alg_id::ECDSA_P384,
            alg_id::ECDSA_SHA256,
            "ECDSA P-384 SHA-256",
        ),
        spec(
            RsaPkcs1Sha256,
            alg_id::RSA_ENCRYPTION,
            alg_id::RSA_PKCS1_SHA256,
            "RSA PKCS#1 SHA-256",
        ),
        spec(
            RsaPkcs1Sha384,
            alg_id::RSA_ENCRYPTION,
            alg_id::RSA_PKCS1_SHA384,
            "RSA PKCS#1 SHA-384",
        ),
        spec(
            RsaPkcs1Sha512,
            alg_id::RSA_ENCRYPTION,
            alg_id::RSA_PKCS1_SHA512,
            "RSA PKCS#1 SHA-512",
        ),
        spec(
            RsaPssSha256,
            alg_id::RSA_ENCRYPTION,
            alg_id::RSA_PSS_SHA256,
            "RSA-PSS SHA-256",
        ),
        spec(
            RsaPssSha384,
            alg_id::RSA_ENCRYPTION,
            alg_id::RSA_PSS_SHA384,
            "RSA-PSS SHA-384",
        ),
        spec(
            RsaPkcs1Sha256,
            alg_id::RSA_ENCRYPTION,
            RSA_PKCS1_SHA256_ABSENT_PARAMS,
            "RSA PKCS#1 SHA-256 (absent parameters)",
        ),
        spec(
            RsaPkcs1Sha384,
            alg_id::RSA_ENCRYPTION,
            RSA_PKCS1_SHA384_ABSENT_PARAMS,
            "RSA PKCS#1 SHA-384 (absent parameters)",
        ),
        spec(
            RsaPkcs1Sha512,
            alg_id::RSA_ENCRYPTION,
            RSA_PKCS1_SHA512_ABSENT_PARAMS,
            "RSA PKCS#1 SHA-512 (absent parameters)",
        ),
    ]
};

/// The number of algorithms a validation offers webpki.
pub(crate) const COUNT: usize = CERTIFICATE_ALGORITHMS.len();

/// The spec that verifies `scheme` (for a TLS CertificateVerify), if any.
pub(crate) fn for_scheme(scheme: SignatureScheme) -> Option<&'static AlgorithmSpec> {
    CERTIFICATE_ALGORITHMS.iter().find(|s| s.scheme == scheme)
}

/// RSA moduli Duet accepts, in bits: the CA/Browser Forum floor of 2048
/// (Baseline Requirements section 6.1.5) up to the 8192 webpki's own RSA
/// algorithms allow. A provider may refuse large keys it cannot handle.
const RSA_MODULUS_BITS: core::ops::RangeInclusive<usize> = 2048..=8192;

/// webpki's view of one [`AlgorithmSpec`], verifying through `verifier`.
pub(crate) struct Algorithm<'v, V: ?Sized> {
    spec: &'static AlgorithmSpec,
    verifier: &'v V,
}

impl<'v, V: ?Sized> Algorithm<'v, V> {
    pub(crate) fn new(spec: &'static AlgorithmSpec, verifier: &'v V) -> Self {
        Algorithm { spec, verifier }
    }
}

/// One adapter per entry of [`CERTIFICATE_ALGORITHMS`].
pub(crate) fn all<V: ?Sized>(verifier: &V) -> [Algorithm<'_, V>; COUNT] {
    core::array::from_fn(|i| Algorithm::new(&CERTIFICATE_ALGORITHMS[i], verifier))
}

impl<V: ?Sized> fmt::Debug for Algorithm<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Two plain writes: `write!` with `{}` would bring core's padding
        // code (0.6 KB) into every firmware, for a name no one pads.
        f.write_str(self.spec.name)?;
        f.write_str(" via duet-crypto SignatureVerifier")
    }
}

impl<V: SignatureVerifier + Sync + ?Sized> SignatureVerificationAlgorithm for Algorithm<'_, V> {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        if self.spec.public_key_alg_id == alg_id::RSA_ENCRYPTION {
            let bits = rsa_modulus_bits(public_key).ok_or(InvalidSignature)?;
            if !RSA_MODULUS_BITS.contains(&bits) {
                return Err(InvalidSignature);
            }
        }
        self.verifier
            .verify(self.spec.scheme, public_key, message, signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.spec.public_key_alg_id
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.spec.signature_alg_id
    }
}

/// The bit length of the modulus of a DER `RSAPublicKey ::= SEQUENCE {
/// modulus INTEGER, publicExponent INTEGER }` (RFC 8017 appendix A.1.1).
fn rsa_modulus_bits(public_key: &[u8]) -> Option<usize> {
    let mut outer = Reader::new(public_key);
    let key = outer.expect(tag::SEQUENCE)?;
    if !outer.is_empty() {
        return None;
    }
    let modulus = Reader::new(key).expect(tag::INTEGER)?;
    // A positive INTEGER carries one leading zero octet when its top bit is
    // set (X.690 section 8.3.2); a negative modulus is malformed.
    let (&first, _) = modulus.split_first()?;
    if first & 0x80 != 0 {
        return None;
    }
    let significant = match modulus.iter().position(|&b| b != 0) {
        Some(i) => &modulus[i..],
        None => return Some(0),
    };
    let top = significant[0];
    Some(significant.len() * 8 - top.leading_zeros() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CryptoError;
    extern crate std;
    use std::sync::Mutex;

    /// Records the scheme it was asked for and answers as told.
    struct Recorder {
        asked: Mutex<Option<SignatureScheme>>,
        answer: Result<(), CryptoError>,
    }

    impl SignatureVerifier for Recorder {
        fn verify(
            &self,
            scheme: SignatureScheme,
            _public_key: &[u8],
            _message: &[u8],
            _signature: &[u8],
        ) -> Result<(), CryptoError> {
            *self.asked.lock().map_err(|_| CryptoError::Device)? = Some(scheme);
            self.answer
        }
    }

    fn recorder(answer: Result<(), CryptoError>) -> Recorder {
        Recorder {
            asked: Mutex::new(None),
            answer,
        }
    }

    fn asked(r: &Recorder) -> Option<SignatureScheme> {
        r.asked.lock().map(|g| *g).unwrap_or(None)
    }

    /// DER RSAPublicKey with a modulus of `bytes` octets whose top octet is
    /// 0x80 (bit length `bytes * 8`) and exponent 65537.
    fn rsa_key(bytes: usize) -> [u8; 1100] {
        let mut out = [0u8; 1100];
        let modulus_len = bytes + 1; // leading zero octet
        let inner_len = 4 + modulus_len + 5;
        out[..4].copy_from_slice(&[0x30, 0x82, (inner_len >> 8) as u8, inner_len as u8]);
        out[4..8].copy_from_slice(&[0x02, 0x82, (modulus_len >> 8) as u8, modulus_len as u8]);
        out[8] = 0x00;
        out[9] = 0x80;
        let e = 8 + modulus_len;
        out[e..e + 5].copy_from_slice(&[0x02, 0x03, 0x01, 0x00, 0x01]);
        out
    }

    #[test]
    fn an_algorithm_debugs_as_its_name_and_the_verifier() {
        let r = recorder(Ok(()));
        let spec = &CERTIFICATE_ALGORITHMS[0];
        assert_eq!(
            std::format!("{:?}", Algorithm::new(spec, &r)),
            std::format!("{} via duet-crypto SignatureVerifier", spec.name)
        );
    }

    #[test]
    fn modulus_bits_of_der_keys() {
        let key = rsa_key(256);
        assert_eq!(rsa_modulus_bits(&key[..4 + 4 + 257 + 5]), Some(2048));
        let key = rsa_key(128);
        assert_eq!(rsa_modulus_bits(&key[..4 + 4 + 129 + 5]), Some(1024));
        // Trailing data after the SEQUENCE.
        assert_eq!(rsa_modulus_bits(&key[..4 + 4 + 129 + 6]), None);
        // Negative modulus.
        assert_eq!(rsa_modulus_bits(&[0x30, 0x03, 0x02, 0x01, 0x80]), None);
        assert_eq!(rsa_modulus_bits(&[0x30, 0x03, 0x02, 0x01, 0x00]), Some(0));
        assert_eq!(rsa_modulus_bits(&[]), None);
    }

    #[test]
    fn routes_each_algorithm_to_its_scheme() {
        let key2048 = rsa_key(256);
        let key2048 = &key2048[..4 + 4 + 257 + 5];
        for spec in &CERTIFICATE_ALGORITHMS {
            let r = recorder(Ok(()));
            let alg = Algorithm::new(spec, &r);
            let key: &[u8] = if spec.public_key_alg_id == alg_id::RSA_ENCRYPTION {
                key2048
            } else {
                &[0x04; 65]
            };
            assert!(alg.verify_signature(key, b"msg", b"sig").is_ok());
            assert_eq!(asked(&r), Some(spec.scheme), "{alg:?}");
        }
    }

    #[test]
    fn verifier_errors_become_invalid_signature() {
        let r = recorder(Err(CryptoError::Unsupported));
        let alg = Algorithm::new(for_scheme(SignatureScheme::EcdsaP256Sha256).unwrap(), &r);
        assert!(alg.verify_signature(&[0x04; 65], b"m", b"s").is_err());
        assert_eq!(asked(&r), Some(SignatureScheme::EcdsaP256Sha256));
    }

    #[test]
    fn short_rsa_keys_never_reach_the_verifier() {
        let r = recorder(Ok(()));
        let alg = Algorithm::new(for_scheme(SignatureScheme::RsaPkcs1Sha256).unwrap(), &r);
        let key1024 = rsa_key(128);
        assert!(
            alg.verify_signature(&key1024[..4 + 4 + 129 + 5], b"m", b"s")
                .is_err()
        );
        assert!(alg.verify_signature(b"not DER", b"m", b"s").is_err());
        assert_eq!(asked(&r), None);
    }

    #[test]
    fn for_scheme_prefers_the_rfc_encoding() {
        let spec = for_scheme(SignatureScheme::RsaPkcs1Sha256).unwrap();
        assert_eq!(spec.signature_alg_id, alg_id::RSA_PKCS1_SHA256);
        assert!(for_scheme(SignatureScheme::RsaPssSha384).is_some());
    }
}
