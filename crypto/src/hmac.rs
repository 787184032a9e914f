//! HMAC (RFC 2104) over any provider's hash contexts.
//!
//! A provider with hashing gets HMAC, HKDF and the TLS 1.2 PRF for free
//! (see [`crate::KeyDerivation`]); this type is the keyed state they share.

use zeroize::Zeroize;

use crate::CryptoError;
use crate::hash::{Digest, HashAlgorithm, HashContext, Hasher, MAX_BLOCK_LEN, constant_time_eq};

/// RFC 2104 section 2: the inner pad byte.
const IPAD: u8 = 0x36;
/// RFC 2104 section 2: the outer pad byte.
const OPAD: u8 = 0x5c;

/// A running HMAC: the hash contexts that have already absorbed the key
/// XOR ipad (inner) and XOR opad (outer), RFC 2104 section 2 steps (1)-(3).
///
/// The key is processed once, in [`Hmac::new`]; to MAC many messages under
/// one key (HKDF-Expand's blocks, the PRF's iterations, a DTLS cookie
/// secret), keep a fresh `Hmac` and clone it per message. The contexts hold
/// key-derived state, so a provider's contexts should zeroize on drop (the
/// `soft` ones do).
#[derive(Clone, Debug)]
pub struct Hmac<C: HashContext> {
    inner: C,
    outer: C,
}

impl<C: HashContext> Hmac<C> {
    /// Keys a new HMAC with `key`, hashing it first when it is longer than
    /// the hash's block (RFC 2104 section 2). Fails only when `hasher` does
    /// not support `algorithm`.
    pub fn new<H: Hasher<Context = C> + ?Sized>(
        hasher: &H,
        algorithm: HashAlgorithm,
        key: &[u8],
    ) -> Result<Self, CryptoError> {
        let block_len = algorithm.block_len();
        // K padded with zeros to the block length, B in RFC 2104.
        let mut padded = [0u8; MAX_BLOCK_LEN];
        if key.len() > block_len {
            let digest = hasher.hash(algorithm, &[key])?;
            padded[..digest.len()].copy_from_slice(digest.as_bytes());
        } else {
            padded[..key.len()].copy_from_slice(key);
        }
        let result = Self::from_padded_key(hasher, algorithm, &mut padded[..block_len]);
        padded.zeroize();
        result
    }

    fn from_padded_key<H: Hasher<Context = C> + ?Sized>(
        hasher: &H,
        algorithm: HashAlgorithm,
        padded: &mut [u8],
    ) -> Result<Self, CryptoError> {
        let mut inner = hasher.hash_context(algorithm)?;
        let mut outer = hasher.hash_context(algorithm)?;
        padded.iter_mut().for_each(|byte| *byte ^= IPAD);
        inner.update(padded);
        // (K ^ ipad) ^ (ipad ^ opad) = K ^ opad, without a second buffer.
        padded.iter_mut().for_each(|byte| *byte ^= IPAD ^ OPAD);
        outer.update(padded);
        Ok(Hmac { inner, outer })
    }

    pub fn algorithm(&self) -> HashAlgorithm {
        self.inner.algorithm()
    }

    /// Feeds more of the message ("text" in RFC 2104).
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    /// The tag: H(K ^ opad, H(K ^ ipad, text)).
    pub fn finish(self) -> Result<Digest, CryptoError> {
        let Hmac { inner, mut outer } = self;
        let inner_digest = inner.finish()?;
        outer.update(inner_digest.as_bytes());
        outer.finish()
    }

    /// Checks `tag` against the message's full-length tag in constant time;
    /// [`CryptoError::AuthenticationFailed`] when it differs.
    pub fn verify(self, tag: &[u8]) -> Result<(), CryptoError> {
        let expected = self.finish()?;
        if constant_time_eq(expected.as_bytes(), tag) {
            Ok(())
        } else {
            Err(CryptoError::AuthenticationFailed)
        }
    }
}

#[cfg(all(test, feature = "soft"))]
mod tests {
    use super::*;
    use crate::KeyDerivation;
    use crate::soft::Soft;
    use crate::test_util::hex;

    /// One case of RFC 4231 section 4: key, data, HMAC-SHA-256, HMAC-SHA-384.
    struct Case {
        key: &'static str,
        data: &'static str,
        sha256: &'static str,
        sha384: &'static str,
    }

    /// RFC 4231 section 4.2-4.8, test cases 1-7, as hex. Case 5's tags are
    /// truncated to 128 bits by the RFC (section 4.6).
    const RFC4231: [Case; 7] = [
        Case {
            key: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
            data: "4869205468657265",
            sha256: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            sha384: "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c\
                     faea9ea9076ede7f4af152e8b2fa9cb6",
        },
        Case {
            key: "4a656665",
            data: "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
            sha256: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            sha384: "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e\
                     8e2240ca5e69e2c78b3239ecfab21649",
        },
        Case {
            key: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            data: "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd\
                   dddddddddddddddddddddddddddddddddddd",
            sha256: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            sha384: "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b\
                     2a5ab39dc13814b94e3ab6e101a34f27",
        },
        Case {
            key: "0102030405060708090a0b0c0d0e0f10111213141516171819",
            data: "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd\
                   cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
            sha256: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            sha384: "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e\
                     6801dd23c4a7d679ccf8a386c674cffb",
        },
        Case {
            key: "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c",
            data: "546573742057697468205472756e636174696f6e",
            sha256: "a3b6167473100ee06e0c796c2955552b",
            sha384: "3abf34c3503b2a23a46efc619baef897",
        },
        Case {
            key: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
                  aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
                  aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
                  aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
                  aaaaaa",
            data: "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a\
                   65204b6579202d2048617368204b6579204669727374",
            sha256: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            sha384: "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6\
                     0c2ef6ab4030fe8296248df163f44952",
        },
        Case {
            key: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
                  aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
                  aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
                  aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
                  aaaaaa",
            data: "5468697320697320612074657374207573696e672061206c6172676572207468\
                   616e20626c6f636b2d73697a65206b657920616e642061206c61726765722074\
                   68616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565\
                   647320746f20626520686173686564206265666f7265206265696e6720757365\
                   642062792074686520484d414320616c676f726974686d2e",
            sha256: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            sha384: "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5\
                     a678cc31e799176d3860e6110c46523e",
        },
    ];

    #[test]
    fn rfc_4231_all_cases_sha256_and_sha384() {
        let soft: Soft = Soft::new();
        for (number, case) in RFC4231.iter().enumerate() {
            let key = hex(case.key);
            let data = hex(case.data);
            for (algorithm, expected) in [
                (HashAlgorithm::Sha256, hex(case.sha256)),
                (HashAlgorithm::Sha384, hex(case.sha384)),
            ] {
                let tag = soft.hmac(algorithm, &key, &[&data]).unwrap();
                assert_eq!(
                    &tag.as_bytes()[..expected.len()],
                    &expected[..],
                    "RFC 4231 case {} {algorithm:?}",
                    number + 1
                );
            }
        }
    }

    #[test]
    fn a_keyed_state_is_reused_by_cloning_and_fed_in_pieces() {
        let soft: Soft = Soft::new();
        let case = &RFC4231[1];
        let keyed = Hmac::new(&soft, HashAlgorithm::Sha256, &hex(case.key)).unwrap();
        let data = hex(case.data);
        for split in [0, 1, 7, data.len()] {
            let mut mac = keyed.clone();
            mac.update(&data[..split]);
            mac.update(&data[split..]);
            assert_eq!(mac.finish().unwrap().as_bytes(), &hex(case.sha256)[..]);
        }
        let mut mac = keyed.clone();
        mac.update(&data);
        assert_eq!(mac.verify(&hex(case.sha256)), Ok(()));
        let mut wrong = hex(case.sha256);
        wrong[31] ^= 1;
        let mut mac = keyed.clone();
        mac.update(&data);
        assert_eq!(mac.verify(&wrong), Err(CryptoError::AuthenticationFailed));
        let mut mac = keyed;
        mac.update(&data);
        assert_eq!(
            mac.verify(&hex(case.sha256)[..16]),
            Err(CryptoError::AuthenticationFailed)
        );
    }
}
