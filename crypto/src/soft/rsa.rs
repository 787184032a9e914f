//! RSA signature verification without an allocator (RFC 8017): the public
//! key operation RSAVP1 (on [`super::montgomery`]), then EMSA-PKCS1-v1_5
//! (section 9.2) or EMSA-PSS-VERIFY (section 9.1.2) decoding.
//!
//! Moduli of 2048 to 4096 bits are accepted (the Azure roots and
//! intermediates use 2048 and 4096). Everything here handles public values
//! only, so variable-time arithmetic is fine.

use super::der::Der;
use super::montgomery::{PowError, pow_mod};
use crate::CryptoError;

/// The smallest modulus accepted, in bits (NIST SP 800-131A: 2048).
pub(crate) const MIN_MODULUS_BITS: usize = 2048;
/// The largest modulus accepted, in bits.
pub(crate) const MAX_MODULUS_BITS: usize = 4096;
/// Bytes of the largest modulus.
const MAX_MODULUS_LEN: usize = MAX_MODULUS_BITS / 8;

/// A hash RSA signatures come with (RFC 8017 appendix B.1), as a type; the
/// verifications take it as a [`Hash`] value.
pub(crate) trait RsaHash: sha2::Digest + Sized {
    /// hLen.
    const LEN: usize;
    /// The DER of DigestInfo up to the digest (RFC 8017 section 9.2, note
    /// 1): SEQUENCE { SEQUENCE { OID, NULL }, OCTET STRING (hLen) }.
    const DIGEST_INFO_PREFIX: &'static [u8];

    /// The digest of the concatenation of `parts`, in the front of a
    /// 64-byte buffer.
    fn digest_parts(parts: &[&[u8]]) -> [u8; MAX_HASH_LEN] {
        let mut hasher = Self::new();
        for part in parts {
            hasher.update(part);
        }
        let digest = hasher.finalize();
        let mut out = [0u8; MAX_HASH_LEN];
        out[..digest.len()].copy_from_slice(&digest);
        out
    }
}

/// The longest digest of an [`RsaHash`].
const MAX_HASH_LEN: usize = 64;

/// An [`RsaHash`] as a value: its length, its DigestInfo prefix and its
/// code. One copy of each verification serves every hash, where generic
/// ones were compiled once per hash (`cargo xtask footprint`: 568 bytes
/// less in `tls-client`, which checks all five RSA schemes). A hash's code
/// is linked only where a scheme names it.
#[derive(Clone, Copy)]
pub(crate) struct Hash {
    /// hLen.
    len: usize,
    digest_info_prefix: &'static [u8],
    digest_parts: fn(&[&[u8]]) -> [u8; MAX_HASH_LEN],
}

impl Hash {
    pub(crate) const fn of<H: RsaHash>() -> Hash {
        Hash {
            len: H::LEN,
            digest_info_prefix: H::DIGEST_INFO_PREFIX,
            digest_parts: H::digest_parts,
        }
    }

    /// The digest of the concatenation of `parts`, in the front of a
    /// 64-byte buffer.
    fn digest(&self, parts: &[&[u8]]) -> [u8; MAX_HASH_LEN] {
        (self.digest_parts)(parts)
    }
}

impl RsaHash for sha2::Sha256 {
    const LEN: usize = 32;
    const DIGEST_INFO_PREFIX: &'static [u8] = &[
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
}

impl RsaHash for sha2::Sha384 {
    const LEN: usize = 48;
    const DIGEST_INFO_PREFIX: &'static [u8] = &[
        0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
        0x05, 0x00, 0x04, 0x30,
    ];
}

impl RsaHash for sha2::Sha512 {
    const LEN: usize = 64;
    const DIGEST_INFO_PREFIX: &'static [u8] = &[
        0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03,
        0x05, 0x00, 0x04, 0x40,
    ];
}

/// A parsed `RSAPublicKey` (RFC 8017 appendix A.1.1), borrowing the
/// modulus bytes from the DER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RsaPublicKey<'a> {
    /// n, big-endian, without leading zero bytes.
    modulus: &'a [u8],
    /// e: odd, at least 3, at most 32 bits (65537 in practice).
    exponent: u32,
}

impl<'a> RsaPublicKey<'a> {
    /// Parses `RSAPublicKey ::= SEQUENCE { modulus INTEGER,
    /// publicExponent INTEGER }` in DER, as the SubjectPublicKeyInfo BIT
    /// STRING of an rsaEncryption key holds it (RFC 3279 section 2.3.1).
    pub(crate) fn from_der(der: &'a [u8]) -> Result<Self, CryptoError> {
        let mut outer = Der::new(der);
        let sequence = outer.element(0x30)?;
        if !outer.is_empty() {
            return Err(CryptoError::InvalidKey);
        }
        let mut fields = Der::new(sequence);
        let modulus = fields.positive_integer()?;
        let exponent = fields.positive_integer()?;
        if !fields.is_empty() || exponent.len() > 4 {
            return Err(CryptoError::InvalidKey);
        }
        let exponent = exponent
            .iter()
            .fold(0u32, |e, &byte| e << 8 | u32::from(byte));
        let bits = modulus.len() * 8 - modulus[0].leading_zeros() as usize;
        let odd = modulus[modulus.len() - 1] & 1 == 1;
        if !(MIN_MODULUS_BITS..=MAX_MODULUS_BITS).contains(&bits)
            || !odd
            || exponent < 3
            || exponent % 2 == 0
        {
            return Err(CryptoError::InvalidKey);
        }
        Ok(RsaPublicKey { modulus, exponent })
    }

    /// k, the length of the modulus in bytes (RFC 8017 section 2).
    fn len(&self) -> usize {
        self.modulus.len()
    }

    fn bits(&self) -> usize {
        self.modulus.len() * 8 - self.modulus[0].leading_zeros() as usize
    }

    /// RSAVP1 (RFC 8017 section 5.2.2): m = s^e mod n, written as k bytes
    /// to the front of `em`. [`CryptoError::InvalidSignature`] when the
    /// signature is not k bytes or not below n (section 8.2.2 step 1 and
    /// section 5.2.2 step 1).
    fn rsavp1(&self, signature: &[u8], em: &mut [u8; MAX_MODULUS_LEN]) -> Result<(), CryptoError> {
        if signature.len() != self.len() {
            return Err(CryptoError::InvalidSignature);
        }
        pow_mod(
            self.modulus,
            signature,
            self.exponent,
            &mut em[..self.len()],
        )
        .map_err(|e| match e {
            PowError::Base => CryptoError::InvalidSignature,
            PowError::Modulus => CryptoError::InvalidKey,
        })
    }
}

/// RSASSA-PKCS1-v1_5-VERIFY (RFC 8017 section 8.2.2) of `message`.
pub(crate) fn verify_pkcs1v15(
    hash: Hash,
    key: &RsaPublicKey<'_>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    let mut em = [0u8; MAX_MODULUS_LEN];
    key.rsavp1(signature, &mut em)?;
    let em = &em[..key.len()];
    let digest = hash.digest(&[message]);
    // EM = 0x00 || 0x01 || PS || 0x00 || T (section 9.2 step 5), compared
    // whole against the one encoding, never parsed: no leeway for BER
    // DigestInfo or missing NULLs (Bleichenbacher's 2006 forgery).
    let prefix = hash.digest_info_prefix;
    let t_len = prefix.len() + hash.len;
    let ps_len = key
        .len()
        .checked_sub(t_len + 3)
        .filter(|&len| len >= 8)
        .ok_or(CryptoError::InvalidSignature)?;
    let (header, rest) = em.split_at(2);
    let (ps, rest) = rest.split_at(ps_len);
    let (separator, t) = rest.split_at(1);
    let (t_prefix, t_digest) = t.split_at(prefix.len());
    let valid = header == [0x00, 0x01]
        && ps.iter().all(|&byte| byte == 0xff)
        && separator == [0x00]
        && t_prefix == prefix
        && t_digest == &digest[..hash.len];
    if valid {
        Ok(())
    } else {
        Err(CryptoError::InvalidSignature)
    }
}

/// RSASSA-PSS-VERIFY (RFC 8017 section 8.1.2) of `message`, with MGF1 over
/// the same hash and the salt as long as the hash: the only parameters TLS
/// 1.3 allows (RFC 8446 section 4.2.3) and the only ones webpki accepts in
/// certificates.
pub(crate) fn verify_pss(
    hash: Hash,
    key: &RsaPublicKey<'_>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    let mut buffer = [0u8; MAX_MODULUS_LEN];
    key.rsavp1(signature, &mut buffer)?;
    let m_hash = hash.digest(&[message]);
    emsa_pss_verify(
        hash,
        &m_hash[..hash.len],
        &mut buffer[..key.len()],
        key.bits() - 1,
    )
}

/// EMSA-PSS-VERIFY (RFC 8017 section 9.1.2) with sLen = hLen, on the k-byte
/// integer m that RSAVP1 produced (`m`, modified in place).
fn emsa_pss_verify(
    hash: Hash,
    m_hash: &[u8],
    m: &mut [u8],
    em_bits: usize,
) -> Result<(), CryptoError> {
    let invalid = Err(CryptoError::InvalidSignature);
    let h_len = hash.len;
    let s_len = h_len;
    let em_len = em_bits.div_ceil(8);
    // Section 8.1.2 step 2c: EM = I2OSP(m, emLen); when emLen < k the byte
    // in front must be zero.
    let (front, em) = m.split_at_mut(m.len() - em_len);
    if front.iter().any(|&byte| byte != 0) {
        return invalid;
    }
    // Step 3.
    if em_len < h_len + s_len + 2 {
        return invalid;
    }
    // Step 4.
    if em[em_len - 1] != 0xbc {
        return invalid;
    }
    // Step 5: maskedDB || H || 0xbc.
    let (masked_db, rest) = em.split_at_mut(em_len - h_len - 1);
    let h = &rest[..h_len];
    // Step 6: the leftmost 8 * emLen - emBits bits of maskedDB are zero.
    let unused_bits = 8 * em_len - em_bits;
    let top_mask = 0xffu8 >> unused_bits;
    if masked_db[0] & !top_mask != 0 {
        return invalid;
    }
    // Steps 7-8: DB = maskedDB XOR MGF1(H, emLen - hLen - 1), in place.
    mgf1_xor(hash, h, masked_db);
    let db = masked_db;
    // Step 9.
    db[0] &= top_mask;
    // Step 10: PS (zeros) || 0x01 || salt.
    let ps_len = em_len - h_len - s_len - 2;
    if db[..ps_len].iter().any(|&byte| byte != 0) || db[ps_len] != 0x01 {
        return invalid;
    }
    // Steps 11-13: H' = Hash(0x00 * 8 || mHash || salt).
    let salt = &db[db.len() - s_len..];
    let h_prime = hash.digest(&[&[0u8; 8], m_hash, salt]);
    // Step 14.
    if h == &h_prime[..h_len] {
        Ok(())
    } else {
        invalid
    }
}

/// XORs MGF1(seed, out.len()) (RFC 8017 appendix B.2.1) into `out`.
fn mgf1_xor(hash: Hash, seed: &[u8], out: &mut [u8]) {
    for (counter, chunk) in out.chunks_mut(hash.len).enumerate() {
        let c = (counter as u32).to_be_bytes();
        let t = hash.digest(&[seed, &c]);
        chunk
            .iter_mut()
            .zip(&t)
            .for_each(|(byte, mask)| *byte ^= mask);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soft::Soft;
    use crate::soft::rsa_vectors::*;
    use crate::test_util::hex;
    use crate::verify::{SignatureScheme, SignatureVerifier};
    use std::vec::Vec;

    fn verify(
        scheme: SignatureScheme,
        key: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        let soft: Soft<0> = Soft::new();
        soft.verify(scheme, &hex(key), message, signature)
    }

    #[test]
    fn the_wycheproof_key_parses_as_2048_bits_with_e_65537() {
        let der = hex(WYCHEPROOF_2048_KEY);
        let key = RsaPublicKey::from_der(&der).unwrap();
        assert_eq!(key.len(), 256);
        assert_eq!(key.bits(), 2048);
        assert_eq!(key.exponent, 65537);
        assert_eq!(key.modulus[0], 0xa2);
    }

    #[test]
    fn pkcs1_v1_5_sha256_wycheproof_2048() {
        for (message, signature) in WYCHEPROOF_PKCS1_SHA256_VALID {
            let (message, signature) = (hex(message), hex(signature));
            assert_eq!(
                verify(
                    SignatureScheme::RsaPkcs1Sha256,
                    WYCHEPROOF_2048_KEY,
                    &message,
                    &signature
                ),
                Ok(())
            );
            // The same signature under another hash, another padding, or
            // with one bit changed.
            for scheme in [
                SignatureScheme::RsaPkcs1Sha384,
                SignatureScheme::RsaPssSha256,
            ] {
                assert_eq!(
                    verify(scheme, WYCHEPROOF_2048_KEY, &message, &signature),
                    Err(CryptoError::InvalidSignature)
                );
            }
            let mut flipped = signature.clone();
            flipped[100] ^= 0x10;
            assert_eq!(
                verify(
                    SignatureScheme::RsaPkcs1Sha256,
                    WYCHEPROOF_2048_KEY,
                    &message,
                    &flipped
                ),
                Err(CryptoError::InvalidSignature)
            );
        }
        for (message, signature) in WYCHEPROOF_PKCS1_SHA256_INVALID {
            assert_eq!(
                verify(
                    SignatureScheme::RsaPkcs1Sha256,
                    WYCHEPROOF_2048_KEY,
                    &hex(message),
                    &hex(signature)
                ),
                Err(CryptoError::InvalidSignature)
            );
        }
    }

    #[test]
    fn pss_sha256_wycheproof_2048() {
        for (message, signature) in WYCHEPROOF_PSS_SHA256_VALID {
            let (message, signature) = (hex(message), hex(signature));
            assert_eq!(
                verify(
                    SignatureScheme::RsaPssSha256,
                    WYCHEPROOF_2048_KEY,
                    &message,
                    &signature
                ),
                Ok(())
            );
            assert_eq!(
                verify(
                    SignatureScheme::RsaPkcs1Sha256,
                    WYCHEPROOF_2048_KEY,
                    &message,
                    &signature
                ),
                Err(CryptoError::InvalidSignature)
            );
            assert_eq!(
                verify(
                    SignatureScheme::RsaPssSha384,
                    WYCHEPROOF_2048_KEY,
                    &message,
                    &signature
                ),
                Err(CryptoError::InvalidSignature)
            );
            let mut other = message.clone();
            other.push(0);
            assert_eq!(
                verify(
                    SignatureScheme::RsaPssSha256,
                    WYCHEPROOF_2048_KEY,
                    &other,
                    &signature
                ),
                Err(CryptoError::InvalidSignature)
            );
        }
    }

    #[test]
    fn openssl_keys_with_each_scheme_and_hash() {
        let valid = [
            (
                SignatureScheme::RsaPkcs1Sha256,
                OPENSSL_4096_KEY,
                OPENSSL_4096_PKCS1_SHA256,
            ),
            (
                SignatureScheme::RsaPkcs1Sha384,
                OPENSSL_4096_KEY,
                OPENSSL_4096_PKCS1_SHA384,
            ),
            (
                SignatureScheme::RsaPssSha384,
                OPENSSL_4096_KEY,
                OPENSSL_4096_PSS_SHA384,
            ),
            (
                SignatureScheme::RsaPkcs1Sha256,
                OPENSSL_3072_KEY,
                OPENSSL_3072_PKCS1_SHA256,
            ),
            (
                SignatureScheme::RsaPssSha256,
                OPENSSL_3072_KEY,
                OPENSSL_3072_PSS_SHA256,
            ),
            (
                SignatureScheme::RsaPkcs1Sha512,
                OPENSSL_2048_KEY,
                OPENSSL_2048_PKCS1_SHA512,
            ),
        ];
        for (scheme, key, signature) in valid {
            let signature = hex(signature);
            assert_eq!(
                verify(scheme, key, OPENSSL_MESSAGE, &signature),
                Ok(()),
                "{scheme:?}"
            );
            assert_eq!(
                verify(scheme, key, b"123401", &signature),
                Err(CryptoError::InvalidSignature),
                "{scheme:?}"
            );
            let mut flipped = signature.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 0x01;
            assert_eq!(
                verify(scheme, key, OPENSSL_MESSAGE, &flipped),
                Err(CryptoError::InvalidSignature),
                "{scheme:?}"
            );
        }
        // A 4096-bit signature checked against the 2048-bit key: the wrong
        // length for its modulus.
        assert_eq!(
            verify(
                SignatureScheme::RsaPkcs1Sha256,
                WYCHEPROOF_2048_KEY,
                OPENSSL_MESSAGE,
                &hex(OPENSSL_4096_PKCS1_SHA256)
            ),
            Err(CryptoError::InvalidSignature)
        );
    }

    #[test]
    fn signatures_not_below_the_modulus_or_of_the_wrong_length_are_refused() {
        let der = hex(WYCHEPROOF_2048_KEY);
        let key = RsaPublicKey::from_der(&der).unwrap();
        let modulus: Vec<u8> = key.modulus.to_vec();
        let mut above = modulus.clone();
        above[255] = above[255].wrapping_add(2);
        for signature in [
            modulus.clone(),
            above,
            std::vec![0xff; 256],
            std::vec![1; 255],
            std::vec![1; 257],
        ] {
            assert_eq!(
                verify_pkcs1v15(Hash::of::<sha2::Sha256>(), &key, b"", &signature),
                Err(CryptoError::InvalidSignature)
            );
            assert_eq!(
                verify_pss(Hash::of::<sha2::Sha256>(), &key, b"", &signature),
                Err(CryptoError::InvalidSignature)
            );
        }
        // Zero and one are below n but decode to nothing valid.
        for value in [0u8, 1] {
            let mut signature = std::vec![0u8; 256];
            signature[255] = value;
            assert_eq!(
                verify_pkcs1v15(Hash::of::<sha2::Sha256>(), &key, b"", &signature),
                Err(CryptoError::InvalidSignature)
            );
        }
    }

    /// Wraps a modulus and exponent (magnitudes) in DER.
    fn rsa_public_key_der(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
        fn integer(magnitude: &[u8]) -> Vec<u8> {
            let mut contents = Vec::new();
            if magnitude[0] & 0x80 != 0 {
                contents.push(0);
            }
            contents.extend_from_slice(magnitude);
            element(0x02, &contents)
        }
        fn element(tag: u8, contents: &[u8]) -> Vec<u8> {
            let mut out = std::vec![tag];
            match contents.len() {
                len @ 0..=0x7f => out.push(len as u8),
                len @ 0x80..=0xff => out.extend_from_slice(&[0x81, len as u8]),
                len => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
            }
            out.extend_from_slice(contents);
            out
        }
        let mut fields = integer(modulus);
        fields.extend(integer(exponent));
        element(0x30, &fields)
    }

    #[test]
    fn malformed_or_out_of_range_keys_are_refused() {
        let der = hex(WYCHEPROOF_2048_KEY);
        let good = RsaPublicKey::from_der(&der).unwrap();
        // Our encoder reproduces Wycheproof's DER.
        assert_eq!(rsa_public_key_der(good.modulus, &[1, 0, 1]), der);
        let bad_keys: [Vec<u8>; 9] = [
            Vec::new(),
            der[..der.len() - 1].to_vec(),
            [der.as_slice(), &[0]].concat(),
            // 1024-bit modulus, 4097-bit modulus, even modulus.
            rsa_public_key_der(&good.modulus[128..], &[1, 0, 1]),
            rsa_public_key_der(&[&[1u8][..], &std::vec![0xff; 512]].concat(), &[1, 0, 1]),
            rsa_public_key_der(&[&good.modulus[..255], &[0x02][..]].concat(), &[1, 0, 1]),
            // e = 1, e even, e wider than 32 bits.
            rsa_public_key_der(good.modulus, &[1]),
            rsa_public_key_der(good.modulus, &[1, 0, 0]),
            rsa_public_key_der(good.modulus, &[1, 0, 0, 0, 1]),
        ];
        for (index, bad) in bad_keys.iter().enumerate() {
            assert_eq!(
                RsaPublicKey::from_der(bad),
                Err(CryptoError::InvalidKey),
                "key {index}"
            );
        }
        // Not DER: a redundant leading zero (lengths fixed up), a negative
        // modulus, an indefinite length.
        let mut redundant_zero = der.clone();
        redundant_zero.splice(9..9, [0]);
        redundant_zero[3] += 1;
        redundant_zero[8] += 1;
        let negative = [&der[..9], &der[10..]].concat();
        let indefinite = [&[0x30, 0x80][..], &der[4..], &[0, 0]].concat();
        for bad in [redundant_zero, negative, indefinite] {
            assert_eq!(RsaPublicKey::from_der(&bad), Err(CryptoError::InvalidKey));
        }
        // e = 3 is accepted (some old roots use it).
        let e3 = rsa_public_key_der(good.modulus, &[3]);
        assert_eq!(RsaPublicKey::from_der(&e3).map(|key| key.exponent), Ok(3));
    }
}
