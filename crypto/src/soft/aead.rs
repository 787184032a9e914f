//! AES-GCM and AES-CCM on RustCrypto's `aes-gcm`, `ccm` and `aes`. The key
//! schedule (and GCM's hash key H) is computed once, in
//! [`SoftAeadKey::new`]; every record reuses it.

use aes::Aes128;
use aes_gcm::aead::AeadInOut;
use aes_gcm::aead::array::{Array, ArraySize};
use aes_gcm::aead::consts::{U8, U12, U13, U16};
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit};
use ccm::Ccm;

use crate::CryptoError;
use crate::aead::{AeadAlgorithm, AeadKey, Tag};

/// A loaded AES traffic key. The AES round keys and GHASH key zeroize on
/// drop (`aes`'s and `aes-gcm`'s `zeroize` features).
pub struct SoftAeadKey {
    algorithm: AeadAlgorithm,
    cipher: Cipher,
}

// The variants are key schedules of different sizes (AES-256's is the
// largest); boxing the large one would need an allocator, and one key object
// per traffic key is few enough that the padding does not matter.
#[allow(clippy::large_enum_variant)]
enum Cipher {
    Aes128Gcm(Aes128Gcm),
    Aes256Gcm(Aes256Gcm),
    /// CCM (RFC 3610) needs only the block cipher; the `Ccm` mode object is
    /// a zero-cost view made per call, for whichever nonce length the
    /// record uses.
    Aes128Ccm(Aes128),
}

impl core::fmt::Debug for SoftAeadKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SoftAeadKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl SoftAeadKey {
    /// Runs the key schedule; [`CryptoError::InvalidKey`] when `key` is not
    /// `algorithm`'s key length.
    pub fn new(algorithm: AeadAlgorithm, key: &[u8]) -> Result<Self, CryptoError> {
        if key.len() != algorithm.key_len() {
            return Err(CryptoError::InvalidKey);
        }
        let invalid = |_| CryptoError::InvalidKey;
        let cipher = match algorithm {
            AeadAlgorithm::Aes128Gcm => {
                Cipher::Aes128Gcm(Aes128Gcm::new_from_slice(key).map_err(invalid)?)
            }
            AeadAlgorithm::Aes256Gcm => {
                Cipher::Aes256Gcm(Aes256Gcm::new_from_slice(key).map_err(invalid)?)
            }
            AeadAlgorithm::Aes128Ccm | AeadAlgorithm::Aes128Ccm8 => {
                Cipher::Aes128Ccm(Aes128::new_from_slice(key).map_err(invalid)?)
            }
        };
        Ok(SoftAeadKey { algorithm, cipher })
    }
}

/// The nonce as the fixed-size array a mode wants; [`CryptoError::BadInput`]
/// for any other length.
fn nonce_array<N: ArraySize>(nonce: &[u8]) -> Result<&Array<u8, N>, CryptoError> {
    <&Array<u8, N>>::try_from(nonce).map_err(|_| CryptoError::BadInput)
}

fn seal<A: AeadInOut>(
    mode: &A,
    nonce: &[u8],
    aad: &[u8],
    in_out: &mut [u8],
) -> Result<Tag, CryptoError> {
    let nonce = nonce_array::<A::NonceSize>(nonce)?;
    // The modes fail only for messages beyond their length limits.
    let tag = mode
        .encrypt_inout_detached(nonce, aad, in_out.into())
        .map_err(|_| CryptoError::BadInput)?;
    Tag::new(&tag)
}

fn open<A: AeadInOut>(
    mode: &A,
    nonce: &[u8],
    aad: &[u8],
    in_out: &mut [u8],
    tag: &[u8],
) -> Result<(), CryptoError> {
    let nonce = nonce_array::<A::NonceSize>(nonce)?;
    let tag = <&Array<u8, A::TagSize>>::try_from(tag).map_err(|_| CryptoError::BadInput)?;
    mode.decrypt_inout_detached(nonce, aad, in_out.into(), tag)
        .map_err(|_| {
            // Whatever a mode leaves behind on failure (GCM the ciphertext,
            // CCM zeros), the caller sees zeros.
            in_out.fill(0);
            CryptoError::AuthenticationFailed
        })
}

/// CCM with tag length `M` over `aes`, for a 12-byte (TLS, RFC 6655) or
/// 13-byte (RFC 3610) nonce.
macro_rules! with_ccm {
    ($aes:expr, $tag:ty, $nonce:expr, |$mode:ident| $body:expr) => {
        match $nonce.len() {
            12 => {
                let $mode = Ccm::<&Aes128, $tag, U12>::from($aes);
                $body
            }
            13 => {
                let $mode = Ccm::<&Aes128, $tag, U13>::from($aes);
                $body
            }
            _ => Err(CryptoError::BadInput),
        }
    };
}

impl AeadKey for SoftAeadKey {
    fn algorithm(&self) -> AeadAlgorithm {
        self.algorithm
    }

    fn seal_detached(
        &self,
        nonce: &[u8],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<Tag, CryptoError> {
        match (&self.cipher, self.algorithm) {
            (Cipher::Aes128Gcm(mode), _) => seal(mode, nonce, aad, in_out),
            (Cipher::Aes256Gcm(mode), _) => seal(mode, nonce, aad, in_out),
            (Cipher::Aes128Ccm(aes), AeadAlgorithm::Aes128Ccm8) => {
                with_ccm!(aes, U8, nonce, |mode| seal(&mode, nonce, aad, in_out))
            }
            (Cipher::Aes128Ccm(aes), _) => {
                with_ccm!(aes, U16, nonce, |mode| seal(&mode, nonce, aad, in_out))
            }
        }
    }

    fn open_detached(
        &self,
        nonce: &[u8],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        match (&self.cipher, self.algorithm) {
            (Cipher::Aes128Gcm(mode), _) => open(mode, nonce, aad, in_out, tag),
            (Cipher::Aes256Gcm(mode), _) => open(mode, nonce, aad, in_out, tag),
            (Cipher::Aes128Ccm(aes), AeadAlgorithm::Aes128Ccm8) => {
                with_ccm!(aes, U8, nonce, |mode| open(&mode, nonce, aad, in_out, tag))
            }
            (Cipher::Aes128Ccm(aes), _) => {
                with_ccm!(aes, U16, nonce, |mode| open(&mode, nonce, aad, in_out, tag))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aead::Aead;
    use crate::soft::Soft;
    use crate::test_util::hex;
    use std::vec::Vec;

    /// key, nonce, aad, plaintext, ciphertext, tag (hex).
    type Vector = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    );

    const GCM_P: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                         1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
    const GCM_P60: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                           1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
    const GCM_AAD: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";

    /// McGrew and Viega, "The Galois/Counter Mode of Operation (GCM)", the
    /// NIST submission's appendix B, test cases 1-4 (AES-128) and 13-16
    /// (AES-256), the vectors NIST SP 800-38D points to.
    const GCM: [(AeadAlgorithm, Vector); 8] = [
        (
            AeadAlgorithm::Aes128Gcm,
            (
                "00000000000000000000000000000000",
                "000000000000000000000000",
                "",
                "",
                "",
                "58e2fccefa7e3061367f1d57a4e7455a",
            ),
        ),
        (
            AeadAlgorithm::Aes128Gcm,
            (
                "00000000000000000000000000000000",
                "000000000000000000000000",
                "",
                "00000000000000000000000000000000",
                "0388dace60b6a392f328c2b971b2fe78",
                "ab6e47d42cec13bdf53a67b21257bddf",
            ),
        ),
        (
            AeadAlgorithm::Aes128Gcm,
            (
                "feffe9928665731c6d6a8f9467308308",
                "cafebabefacedbaddecaf888",
                "",
                GCM_P,
                "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
              21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
                "4d5c2af327cd64a62cf35abd2ba6fab4",
            ),
        ),
        (
            AeadAlgorithm::Aes128Gcm,
            (
                "feffe9928665731c6d6a8f9467308308",
                "cafebabefacedbaddecaf888",
                GCM_AAD,
                GCM_P60,
                "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
              21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
                "5bc94fbc3221a5db94fae95ae7121a47",
            ),
        ),
        (
            AeadAlgorithm::Aes256Gcm,
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "000000000000000000000000",
                "",
                "",
                "",
                "530f8afbc74536b9a963b4f1c4cb738b",
            ),
        ),
        (
            AeadAlgorithm::Aes256Gcm,
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "000000000000000000000000",
                "",
                "00000000000000000000000000000000",
                "cea7403d4d606b6e074ec5d3baf39d18",
                "d0d1c8a799996bf0265b98b5d48ab919",
            ),
        ),
        (
            AeadAlgorithm::Aes256Gcm,
            (
                "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
                "cafebabefacedbaddecaf888",
                "",
                GCM_P,
                "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
              8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
                "b094dac5d93471bdec1a502270e3cc6c",
            ),
        ),
        (
            AeadAlgorithm::Aes256Gcm,
            (
                "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
                "cafebabefacedbaddecaf888",
                GCM_AAD,
                GCM_P60,
                "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
              8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
                "76fc6ece0f4e1768cddf8853bb2d551b",
            ),
        ),
    ];

    const RFC3610_KEY: &str = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf";

    /// RFC 3610 section 8, packet vectors #1-#3: AES-128, M = 8 (CCM_8),
    /// 13-byte nonce, the first 8 bytes of each packet authenticated only.
    const RFC3610: [Vector; 3] = [
        (
            RFC3610_KEY,
            "00000003020100a0a1a2a3a4a5",
            "0001020304050607",
            "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e",
            "588c979a61c663d2f066d0c2c0f989806d5f6b61dac384",
            "17e8d12cfdf926e0",
        ),
        (
            RFC3610_KEY,
            "00000004030201a0a1a2a3a4a5",
            "0001020304050607",
            "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "72c91a36e135f8cf291ca894085c87e3cc15c439c9e43a3b",
            "a091d56e10400916",
        ),
        (
            RFC3610_KEY,
            "00000005040302a0a1a2a3a4a5",
            "0001020304050607",
            "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
            "51b1e5f44a197d1da46b0f8e2d282ae871e838bb64da859657",
            "4adaa76fbd9fb0c5",
        ),
    ];

    /// Wycheproof `testvectors_v1/aes_ccm_test.json` (C2SP/wycheproof), the
    /// group with a 96-bit nonce and a 128-bit tag (the TLS AES-128-CCM
    /// shape), tcId 1, 2, 12, 13, 23 and 26.
    const WYCHEPROOF_CCM: [Vector; 6] = [
        (
            "bedcfb5a011ebc84600fcb296c15af0d",
            "438a547a94ea88dce46c6c85",
            "",
            "",
            "",
            "25d1a38495a7dea45bda049705627d10",
        ),
        (
            "384ea416ac3c2f51a76e7d8226346d4e",
            "b30c084727ad1c592ac21d12",
            "",
            "35",
            "d7",
            "6be3fd13b7065afc19e3b8a3b96b39fb",
        ),
        (
            "9415f925bcb41dc25e86c826dbc8bf68",
            "bdffaa763b916ff0ee3f3ce4",
            "705d676cd8a94451",
            "feb36167eafc02c8e2bd6e13817686ba",
            "08db327a88be7b48f430fd7bfccdf502",
            "b7c249f810adacf99abded1f3b9130f2",
        ),
        (
            "d97c9b043bdccfd59491a995e78f1696",
            "ef423240358830df915506a3",
            "3ddba7b3ab69c8b2",
            "f047594a5cffda64303a80b2fa6a957169",
            "e0caf2a9d50f70ecaa43b4a287c3b34a99",
            "cff4c61882b413b686ff35b63a3a73de",
        ),
        (
            "a5b5b6bae45b741fe4663890098f326a",
            "4bad10c6d84fd43fd13ad36f",
            "30",
            "127b150080ec0bc7704e26f4ab11abb6",
            "75e6ffcb6114833b67cd93bdf2c22b55",
            "c90e18eaf810b7bcefe7a526b1783b20",
        ),
        (
            "55e04c122780be52ed9328928039008c",
            "0c908e58cddad69dea1a32c3",
            "25591707c004f506f4b51e85e29f6a",
            "26eb70672eef03667b34cc7d0df05872",
            "89166dcd7d74a445dfd3526c5180d825",
            "8b8ed5f97a168881c3b6efe91cfe7043",
        ),
    ];

    /// Seals and opens one vector both ways (detached and appended), then
    /// checks that a changed tag, ciphertext or AAD is refused.
    fn check(algorithm: AeadAlgorithm, vector: &Vector) {
        let (key, nonce, aad, plaintext, ciphertext, tag) = *vector;
        let soft: Soft = Soft::new();
        let key = soft.aead_key(algorithm, &hex(key)).unwrap();
        let (nonce, aad, plaintext) = (hex(nonce), hex(aad), hex(plaintext));
        let (ciphertext, tag) = (hex(ciphertext), hex(tag));

        let mut buffer = plaintext.clone();
        let sealed_tag = key.seal_detached(&nonce, &aad, &mut buffer).unwrap();
        assert_eq!(buffer, ciphertext, "{algorithm:?} ciphertext");
        assert_eq!(sealed_tag.as_bytes(), &tag[..], "{algorithm:?} tag");
        key.open_detached(&nonce, &aad, &mut buffer, &tag).unwrap();
        assert_eq!(buffer, plaintext);

        let mut record: Vec<u8> = plaintext.clone();
        record.resize(plaintext.len() + tag.len(), 0);
        let sealed = key
            .seal_in_place(&nonce, &aad, &mut record, plaintext.len())
            .unwrap();
        assert_eq!(sealed, record.len());
        assert_eq!(record[..plaintext.len()], ciphertext[..]);
        assert_eq!(record[plaintext.len()..], tag[..]);
        assert_eq!(
            key.open_in_place(&nonce, &aad, &mut record),
            Ok(plaintext.len())
        );
        assert_eq!(record[..plaintext.len()], plaintext[..]);

        let mut bad_tag = tag.clone();
        bad_tag[0] ^= 0x01;
        let mut buffer = ciphertext.clone();
        assert_eq!(
            key.open_detached(&nonce, &aad, &mut buffer, &bad_tag),
            Err(CryptoError::AuthenticationFailed)
        );
        assert!(
            buffer.iter().all(|&byte| byte == 0),
            "no plaintext after a failure"
        );
        if !ciphertext.is_empty() {
            let mut buffer = ciphertext.clone();
            buffer[ciphertext.len() - 1] ^= 0x80;
            assert_eq!(
                key.open_detached(&nonce, &aad, &mut buffer, &tag),
                Err(CryptoError::AuthenticationFailed)
            );
        }
        let mut other_aad = aad.clone();
        other_aad.push(0);
        let mut buffer = ciphertext.clone();
        assert_eq!(
            key.open_detached(&nonce, &other_aad, &mut buffer, &tag),
            Err(CryptoError::AuthenticationFailed)
        );
    }

    #[test]
    fn gcm_spec_test_cases_1_to_4_and_13_to_16() {
        for (algorithm, vector) in &GCM {
            check(*algorithm, vector);
        }
    }

    #[test]
    fn ccm_8_rfc_3610_packet_vectors_1_to_3() {
        for vector in &RFC3610 {
            check(AeadAlgorithm::Aes128Ccm8, vector);
        }
    }

    #[test]
    fn ccm_16_byte_tag_wycheproof() {
        for vector in &WYCHEPROOF_CCM {
            check(AeadAlgorithm::Aes128Ccm, vector);
        }
    }

    #[test]
    fn ccm_8_with_the_tls_nonce_round_trips() {
        let soft: Soft = Soft::new();
        let key = soft.aead_key(AeadAlgorithm::Aes128Ccm8, &[7; 16]).unwrap();
        let mut record = [0u8; 40];
        record[..32].copy_from_slice(&[0x42; 32]);
        let sealed = key
            .seal_in_place(&[1; 12], b"hdr", &mut record, 32)
            .unwrap();
        assert_eq!(sealed, 40);
        assert_ne!(record[..32], [0x42; 32]);
        assert_eq!(key.open_in_place(&[1; 12], b"hdr", &mut record), Ok(32));
        assert_eq!(record[..32], [0x42; 32]);
    }

    #[test]
    fn wrong_lengths_are_refused_not_panicked_on() {
        let soft: Soft = Soft::new();
        assert_eq!(
            soft.aead_key(AeadAlgorithm::Aes128Gcm, &[0; 32]).err(),
            Some(CryptoError::InvalidKey)
        );
        assert_eq!(
            soft.aead_key(AeadAlgorithm::Aes256Gcm, &[0; 16]).err(),
            Some(CryptoError::InvalidKey)
        );
        let gcm = soft.aead_key(AeadAlgorithm::Aes128Gcm, &[0; 16]).unwrap();
        let ccm = soft.aead_key(AeadAlgorithm::Aes128Ccm, &[0; 16]).unwrap();
        let mut data = [0u8; 8];
        for key in [&gcm, &ccm] {
            assert_eq!(
                key.seal_detached(&[0; 11], b"", &mut data).err(),
                Some(CryptoError::BadInput)
            );
            assert_eq!(
                key.open_detached(&[0; 12], b"", &mut data, &[0; 15]),
                Err(CryptoError::BadInput)
            );
            // Too short to hold a tag.
            assert_eq!(
                key.open_in_place(&[0; 12], b"", &mut [0; 15]),
                Err(CryptoError::BadInput)
            );
            // No room for the tag after the plaintext.
            assert_eq!(
                key.seal_in_place(&[0; 12], b"", &mut [0; 20], 8),
                Err(CryptoError::BadInput)
            );
        }
        assert_eq!(
            gcm.seal_detached(&[0; 13], b"", &mut data).err(),
            Some(CryptoError::BadInput)
        );
        assert!(ccm.seal_detached(&[0; 13], b"", &mut data).is_ok());
    }
}
