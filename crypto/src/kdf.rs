//! Keyed hashing and key derivation: HMAC (RFC 2104), HKDF (RFC 5869) and
//! the TLS 1.2 PRF (RFC 5246 section 5), each with a default implementation
//! over the provider's own hash contexts.
//!
//! HKDF-Expand-Label and the TLS key schedule are the TLS engine's job; they
//! call [`KeyDerivation::hkdf_expand`] with the `HkdfLabel` in pieces
//! (`info` is a list of slices), so no buffer is needed to assemble it.

use crate::CryptoError;
use crate::hash::{Digest, HashAlgorithm, Hasher};
use crate::hmac::Hmac;

/// HMAC, HKDF and the TLS 1.2 PRF.
///
/// Every method has a default on [`Hmac`] over this provider's
/// [`Hasher`]; a provider overrides one only when it has something better
/// (an HMAC engine, a secure element holding the key).
pub trait KeyDerivation: Hasher {
    /// HMAC of the concatenation of `message` under `key` (RFC 2104); SAS
    /// tokens are HMAC-SHA256 of their string-to-sign.
    fn hmac(
        &self,
        algorithm: HashAlgorithm,
        key: &[u8],
        message: &[&[u8]],
    ) -> Result<Digest, CryptoError> {
        let mut mac = Hmac::new(self, algorithm, key)?;
        for part in message {
            mac.update(part);
        }
        mac.finish()
    }

    /// HKDF-Extract(salt, IKM) = HMAC-Hash(salt, IKM), RFC 5869 section 2.2.
    ///
    /// An empty `salt` stands for HashLen zero bytes, as the RFC says: HMAC
    /// pads its key with zeros, so the two are the same key.
    fn hkdf_extract(
        &self,
        algorithm: HashAlgorithm,
        salt: &[u8],
        ikm: &[u8],
    ) -> Result<Digest, CryptoError> {
        self.hmac(algorithm, salt, &[ikm])
    }

    /// HKDF-Expand(PRK, info, L), RFC 5869 section 2.3, filling `okm`
    /// (L = `okm.len()`), with `info` the concatenation of its parts.
    ///
    /// [`CryptoError::BadInput`] when L exceeds 255 * HashLen or the PRK is
    /// shorter than HashLen (the RFC requires "at least HashLen octets").
    fn hkdf_expand(
        &self,
        algorithm: HashAlgorithm,
        prk: &[u8],
        info: &[&[u8]],
        okm: &mut [u8],
    ) -> Result<(), CryptoError> {
        let hash_len = algorithm.output_len();
        if prk.len() < hash_len || okm.len() > 255 * hash_len {
            return Err(CryptoError::BadInput);
        }
        let keyed = Hmac::new(self, algorithm, prk)?;
        // T(0) is empty; T(i) = HMAC(PRK, T(i-1) | info | i).
        let mut previous: Option<Digest> = None;
        for (index, chunk) in okm.chunks_mut(hash_len).enumerate() {
            let mut mac = keyed.clone();
            if let Some(previous) = &previous {
                mac.update(previous.as_bytes());
            }
            for part in info {
                mac.update(part);
            }
            // At most 255 blocks, checked above.
            mac.update(&[index as u8 + 1]);
            let block = mac.finish()?;
            chunk.copy_from_slice(&block.as_bytes()[..chunk.len()]);
            previous = Some(block);
        }
        Ok(())
    }

    /// PRF(secret, label, seed) = P_hash(secret, label + seed) of TLS 1.2
    /// (RFC 5246 section 5), filling `out`. `seed` is given in parts (the
    /// client and server randoms, for instance); `algorithm` is the cipher
    /// suite's PRF hash, SHA-256 or SHA-384.
    fn tls12_prf(
        &self,
        algorithm: HashAlgorithm,
        secret: &[u8],
        label: &[u8],
        seed: &[&[u8]],
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        let keyed = Hmac::new(self, algorithm, secret)?;
        // A(1) = HMAC(secret, label + seed); A(i) = HMAC(secret, A(i-1)).
        let mut mac = keyed.clone();
        mac.update(label);
        for part in seed {
            mac.update(part);
        }
        let mut a = mac.finish()?;
        let mut chunks = out.chunks_mut(algorithm.output_len()).peekable();
        while let Some(chunk) = chunks.next() {
            // P_hash block i = HMAC(secret, A(i) + label + seed).
            let mut mac = keyed.clone();
            mac.update(a.as_bytes());
            mac.update(label);
            for part in seed {
                mac.update(part);
            }
            let block = mac.finish()?;
            chunk.copy_from_slice(&block.as_bytes()[..chunk.len()]);
            if chunks.peek().is_some() {
                let mut next = keyed.clone();
                next.update(a.as_bytes());
                a = next.finish()?;
            }
        }
        Ok(())
    }
}

impl<T: KeyDerivation + ?Sized> KeyDerivation for &T {
    fn hmac(
        &self,
        algorithm: HashAlgorithm,
        key: &[u8],
        message: &[&[u8]],
    ) -> Result<Digest, CryptoError> {
        (**self).hmac(algorithm, key, message)
    }

    fn hkdf_extract(
        &self,
        algorithm: HashAlgorithm,
        salt: &[u8],
        ikm: &[u8],
    ) -> Result<Digest, CryptoError> {
        (**self).hkdf_extract(algorithm, salt, ikm)
    }

    fn hkdf_expand(
        &self,
        algorithm: HashAlgorithm,
        prk: &[u8],
        info: &[&[u8]],
        okm: &mut [u8],
    ) -> Result<(), CryptoError> {
        (**self).hkdf_expand(algorithm, prk, info, okm)
    }

    fn tls12_prf(
        &self,
        algorithm: HashAlgorithm,
        secret: &[u8],
        label: &[u8],
        seed: &[&[u8]],
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        (**self).tls12_prf(algorithm, secret, label, seed, out)
    }
}

#[cfg(all(test, feature = "soft"))]
mod tests {
    use super::*;
    use crate::soft::Soft;
    use crate::test_util::hex;
    use std::vec;
    use std::vec::Vec;

    fn range(bytes: core::ops::Range<u8>) -> Vec<u8> {
        bytes.collect()
    }

    /// IKM, salt, info, PRK, OKM.
    type Case = (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);

    /// RFC 5869 appendix A.1-A.3, the SHA-256 cases.
    fn rfc5869_cases() -> [Case; 3] {
        [
            (
                vec![0x0b; 22],
                range(0x00..0x0d),
                range(0xf0..0xfa),
                hex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"),
                hex(
                    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf\
                     34007208d5b887185865",
                ),
            ),
            (
                range(0x00..0x50),
                range(0x60..0xb0),
                (0xb0..=0xff).collect(),
                hex("06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244"),
                hex(
                    "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c\
                     59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71\
                     cc30c58179ec3e87c14c01d5c1f3434f1d87",
                ),
            ),
            (
                vec![0x0b; 22],
                Vec::new(),
                Vec::new(),
                hex("19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04"),
                hex(
                    "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d\
                     9d201395faa4b61a96c8",
                ),
            ),
        ]
    }

    #[test]
    fn hkdf_rfc_5869_cases_1_to_3() {
        let soft: Soft = Soft::new();
        for (number, (ikm, salt, info, prk, okm)) in rfc5869_cases().iter().enumerate() {
            let extracted = soft.hkdf_extract(HashAlgorithm::Sha256, salt, ikm).unwrap();
            assert_eq!(extracted.as_bytes(), &prk[..], "case {} PRK", number + 1);
            let mut out = vec![0; okm.len()];
            soft.hkdf_expand(HashAlgorithm::Sha256, prk, &[info], &mut out)
                .unwrap();
            assert_eq!(out, *okm, "case {} OKM", number + 1);
            // The same info given in pieces, as HKDF-Expand-Label does.
            let (head, tail) = info.split_at(info.len() / 2);
            let mut pieces = vec![0; okm.len()];
            soft.hkdf_expand(HashAlgorithm::Sha256, prk, &[head, &[], tail], &mut pieces)
                .unwrap();
            assert_eq!(pieces, *okm);
        }
    }

    #[test]
    fn hkdf_expand_refuses_what_the_rfc_forbids() {
        let soft: Soft = Soft::new();
        let prk = [1u8; 32];
        let mut too_long = [0u8; 255 * 32 + 1];
        assert_eq!(
            soft.hkdf_expand(HashAlgorithm::Sha256, &prk, &[], &mut too_long),
            Err(CryptoError::BadInput)
        );
        let mut longest = [0u8; 255 * 32];
        assert_eq!(
            soft.hkdf_expand(HashAlgorithm::Sha256, &prk, &[], &mut longest),
            Ok(())
        );
        let mut okm = [0u8; 16];
        assert_eq!(
            soft.hkdf_expand(HashAlgorithm::Sha256, &prk[..31], &[], &mut okm),
            Err(CryptoError::BadInput)
        );
        // Output of any length, including none.
        assert_eq!(
            soft.hkdf_expand(HashAlgorithm::Sha384, &[2; 48], &[b"x"], &mut []),
            Ok(())
        );
    }

    /// The TLS 1.2 PRF vectors posted to the IETF TLS working group list
    /// (https://www.ietf.org/mail-archive/web/tls/current/msg03416.html), as
    /// BearSSL's `test_crypto.c` carries them: secret, label, seed, output.
    #[test]
    fn tls12_prf_ietf_tls_list_vectors() {
        let soft: Soft = Soft::new();
        let cases = [
            (
                HashAlgorithm::Sha256,
                "9bbe436ba940f017b17652849a71db35",
                "a0ba9f936cda311827a6f796ffd5198c",
                "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a\
                 6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab\
                 4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701\
                 87347b66",
            ),
            (
                HashAlgorithm::Sha384,
                "b80b733d6ceefcdc71566ea48e5567df",
                "cd665cf6a8447dd6ff8b27555edb7465",
                "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cd\
                 e9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd\
                 8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d918425\
                 9b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee6\
                 91c8f3a26854308d5eaa3be85e0990703d73e56f",
            ),
        ];
        for (algorithm, secret, seed, expected) in cases {
            let expected = hex(expected);
            let seed = hex(seed);
            let mut out = vec![0; expected.len()];
            soft.tls12_prf(algorithm, &hex(secret), b"test label", &[&seed], &mut out)
                .unwrap();
            assert_eq!(out, expected, "{algorithm:?}");
            // Seed in two parts (client random, server random) and a shorter
            // output: a prefix of the same stream.
            let (first, second) = seed.split_at(5);
            let mut short = [0u8; 20];
            soft.tls12_prf(
                algorithm,
                &hex(secret),
                b"test label",
                &[first, second],
                &mut short,
            )
            .unwrap();
            assert_eq!(short, expected[..20]);
        }
    }
}
