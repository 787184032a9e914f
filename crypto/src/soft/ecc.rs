//! Elliptic curves on RustCrypto's `p256` and `p384`: ECDSA P-256 signing
//! (deterministic, RFC 6979), ECDSA P-256/P-384 verification over a
//! prehash (their key parsing, our DER signatures in `ecdsa_der` and our
//! `u1·G + u2·Q` in `ecdsa_verify`), and ephemeral ECDH on P-256 and P-384.

use core::fmt;

use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::elliptic_curve::Generate as _;
use p256::elliptic_curve::point::AffineCoordinates;
use p256::elliptic_curve::sec1::ToSec1Point as _;
use rand_core::CryptoRng;
use zeroize::Zeroize;

use super::{ecdsa_der, ecdsa_verify};
use crate::CryptoError;
use crate::agreement::{EcdhGroup, SharedSecret};
use crate::key::PublicKey;
use crate::sign::SignatureFormat;
use crate::verify::SignatureScheme;

/// Bytes of a P-256 private scalar (SEC 1 v2 section 2.3.7).
const P256_SCALAR_LEN: usize = 32;

/// A P-256 private key in RAM, zeroized on drop (`ecdsa`'s `SigningKey`).
pub(crate) type P256Key = p256::ecdsa::SigningKey;

pub(crate) fn generate_p256<R: CryptoRng + ?Sized>(rng: &mut R) -> P256Key {
    P256Key::generate_from_rng(rng)
}

/// A key from its 32-byte big-endian scalar; [`CryptoError::InvalidKey`]
/// for another length, zero, or a value not below the group order.
pub(crate) fn import_p256(scalar: &[u8]) -> Result<P256Key, CryptoError> {
    if scalar.len() != P256_SCALAR_LEN {
        return Err(CryptoError::InvalidKey);
    }
    P256Key::from_slice(scalar).map_err(|_| CryptoError::InvalidKey)
}

pub(crate) fn p256_public_key(key: &P256Key) -> Result<PublicKey, CryptoError> {
    PublicKey::from_sec1(key.verifying_key().to_sec1_point(false).as_bytes())
}

/// Signs a prehash with a P-256 key (RFC 6979 nonces, no RNG needed); see
/// [`crate::Signer::sign_prehash`] for the errors.
pub(crate) fn sign_p256(
    key: &P256Key,
    scheme: SignatureScheme,
    prehash: &[u8],
    format: SignatureFormat,
    out: &mut [u8],
) -> Result<usize, CryptoError> {
    let hash_len = match scheme {
        SignatureScheme::EcdsaP256Sha256 => 32,
        SignatureScheme::EcdsaP256Sha384 => 48,
        _ => return Err(CryptoError::InvalidKey),
    };
    if prehash.len() != hash_len {
        return Err(CryptoError::BadInput);
    }
    let signature: p256::ecdsa::Signature = key
        .sign_prehash(prehash)
        .map_err(|_| CryptoError::BadInput)?;
    let write = |bytes: &[u8], out: &mut [u8]| {
        out.get_mut(..bytes.len())
            .ok_or(CryptoError::BadInput)?
            .copy_from_slice(bytes);
        Ok(bytes.len())
    };
    match format {
        SignatureFormat::Der => ecdsa_der::write(&signature.to_bytes(), out),
        SignatureFormat::Raw => write(&signature.to_bytes(), out),
    }
}

/// The point of an uncompressed SEC 1 encoding, `0x04 || X || Y` (SEC 1 v2
/// section 2.3.4), checked to lie on the curve (which also rules out the
/// identity, which has no such encoding).
///
/// Compressed points are refused: TLS 1.3 key shares are uncompressed
/// (RFC 8446 section 4.2.8.2), TLS 1.2 deprecated the compressed forms
/// (RFC 8422 section 5.1.2), and certificates carry uncompressed keys
/// (ring, under rustls' webpki, refuses any other). Decompressing takes a
/// square root: 2.4 KB of Cortex-M code per curve.
fn uncompressed_point<A>(sec1: &[u8]) -> Result<A, CryptoError>
where
    A: AffineCoordinates,
    A::FieldRepr: for<'a> TryFrom<&'a [u8]>,
{
    let invalid = CryptoError::InvalidKey;
    let [0x04, coordinates @ ..] = sec1 else {
        return Err(invalid);
    };
    let (x, y) = coordinates.split_at(coordinates.len() / 2);
    let x = A::FieldRepr::try_from(x).map_err(|_| invalid)?;
    let y = A::FieldRepr::try_from(y).map_err(|_| invalid)?;
    Option::from(A::from_coordinates(&x, &y)).ok_or(invalid)
}

/// `fn $name(public_key, prehash, signature)`: verifies a DER ECDSA signature
/// over `prehash` with a SEC1 public key on the curve of crate `$curve`,
/// whose scalars are `$scalar_len` bytes ([`ecdsa_verify`]).
///
/// The key check (on the curve) has kilobytes of temporaries of its own,
/// and the signature's scalar checks some: out of line, they are gone
/// before the verification's own frame is pushed.
macro_rules! verify_der {
    ($name:ident, $curve:ident, $curve_type:ident, $scalar_len:expr) => {
        pub(crate) fn $name(
            public_key: &[u8],
            prehash: &[u8],
            signature: &[u8],
        ) -> Result<(), CryptoError> {
            #[inline(never)]
            fn parse_key(public_key: &[u8]) -> Result<$curve::AffinePoint, CryptoError> {
                uncompressed_point(public_key)
            }
            #[inline(never)]
            fn parse_signature(
                der: &[u8],
            ) -> Result<($curve::NonZeroScalar, $curve::NonZeroScalar), CryptoError> {
                let mut r_and_s = [0u8; 2 * $scalar_len];
                ecdsa_der::read(der, &mut r_and_s)?;
                let signature = $curve::ecdsa::Signature::from_slice(&r_and_s)
                    .map_err(|_| CryptoError::InvalidSignature)?;
                Ok(signature.split_scalars())
            }
            let key = parse_key(public_key)?;
            let (r, s) = parse_signature(signature)?;
            ecdsa_verify::verify::<$curve::$curve_type>(&key, prehash, &r, &s)
        }
    };
}

verify_der!(verify_p256, p256, NistP256, 32);
verify_der!(verify_p384, p384, NistP384, 48);

/// The private half of a `soft` ephemeral ECDH key pair, zeroized on drop
/// (`elliptic-curve`'s `SecretKey`).
pub enum SoftEphemeral {
    P256(p256::SecretKey),
    P384(p384::SecretKey),
}

impl fmt::Debug for SoftEphemeral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SoftEphemeral::P256(_) => "SoftEphemeral(P-256)",
            SoftEphemeral::P384(_) => "SoftEphemeral(P-384)",
        })
    }
}

impl SoftEphemeral {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(
        group: EcdhGroup,
        rng: &mut R,
    ) -> Result<(Self, PublicKey), CryptoError> {
        match group {
            EcdhGroup::Secp256r1 => {
                let secret = p256::SecretKey::generate_from_rng(rng);
                let point = secret.public_key().to_sec1_point(false);
                Ok((
                    SoftEphemeral::P256(secret),
                    PublicKey::from_sec1(point.as_bytes())?,
                ))
            }
            EcdhGroup::Secp384r1 => {
                let secret = p384::SecretKey::generate_from_rng(rng);
                let point = secret.public_key().to_sec1_point(false);
                Ok((
                    SoftEphemeral::P384(secret),
                    PublicKey::from_sec1(point.as_bytes())?,
                ))
            }
        }
    }

    pub(crate) fn agree(&self, peer_public_key: &[u8]) -> Result<SharedSecret, CryptoError> {
        match self {
            SoftEphemeral::P256(secret) => ecdh_p256(&secret.to_nonzero_scalar(), peer_public_key),
            SoftEphemeral::P384(secret) => ecdh_p384(&secret.to_nonzero_scalar(), peer_public_key),
        }
    }
}

/// [`ecdh_p256`] on P-384.
fn ecdh_p384(
    secret: &p384::NonZeroScalar,
    peer_public_key: &[u8],
) -> Result<SharedSecret, CryptoError> {
    let peer: p384::AffinePoint = uncompressed_point(peer_public_key)?;
    let shared_point = (p384::ProjectivePoint::from(peer) * secret.as_ref()).to_affine();
    let mut x = shared_point.x();
    let secret = SharedSecret::new(&x);
    x.zeroize();
    secret
}

/// Z = x-coordinate of d * Q (SEC 1 v2 section 3.3.1), after checking that
/// Q is a valid point of the curve other than the identity (section
/// 3.2.2.1, done by [`uncompressed_point`]), so an invalid-curve point
/// never meets the secret scalar.
pub(crate) fn ecdh_p256(
    secret: &p256::NonZeroScalar,
    peer_public_key: &[u8],
) -> Result<SharedSecret, CryptoError> {
    let peer: p256::AffinePoint = uncompressed_point(peer_public_key)?;
    let shared_point = (p256::ProjectivePoint::from(peer) * secret.as_ref()).to_affine();
    let mut x = shared_point.x();
    let secret = SharedSecret::new(&x);
    x.zeroize();
    secret
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agreement::{EcdhGroup, KeyAgreement};
    use crate::key::{KeyHandle, KeyType};
    use crate::sign::{KeyStore, Signer};
    use crate::soft::Soft;
    use crate::test_util::{TestRng, hex};
    use crate::verify::SignatureVerifier;
    use sha2::Digest as _;
    use std::vec::Vec;

    /// Wycheproof `testvectors_v1/ecdsa_secp256r1_sha256_test.json`
    /// (C2SP/wycheproof): the first two key groups' public keys.
    const P256_KEY_1: &str = "0404aaec73635726f213fb8a9e64da3b8632e41495a944d0045b522eba7240fad5\
                              87d9315798aaa3a5ba01775787ced05eaaf7b4e09fc81d6d1aa546e8365d525d";
    const P256_KEY_2: &str = "042927b10512bae3eddcfe467828128bad2903269919f7086069c8c4df6c732838\
                              c7787964eaac00e5921fb1498a60f4606766b3d9685001558d1a974e7341513e";
    const P256_SIG_7: &str = "304502202ba3a8be6b94d5ec80a6d9d1190a436effe50d85a1eee859b8cc6af9bd\
                              5c2e18022100b329f479a2bbd0a5c384ee1493b1f5186a87139cac5df4087c134b\
                              49156847db";

    /// (tcId, key, msg, sig, valid)
    const P256_SHA256: [(u32, &str, &str, &str, bool); 12] = [
        (
            1,
            P256_KEY_1,
            "",
            "3045022100b292a619339f6e567a305c951c0dcbcc42d16e47f219f9e98e76e09d8770b34a02200177e60492c5a8242f76f07bfe3661bde59ec2a17ce5bd2dab2abebdf89a62e2",
            true,
        ),
        (
            2,
            P256_KEY_1,
            "4d7367",
            "30450220530bd6b0c9af2d69ba897f6b5fb59695cfbf33afe66dbadcf5b8d2a2a6538e23022100d85e489cb7a161fd55ededcedbf4cc0c0987e3e3f0f242cae934c72caa3f43e9",
            true,
        ),
        (
            3,
            P256_KEY_1,
            "313233343030",
            "3046022100a8ea150cb80125d7381c4c1f1da8e9de2711f9917060406a73d7904519e51388022100f3ab9fa68bd47973a73b2d40480c2ba50c22c9d76ec217257288293285449b86",
            true,
        ),
        (
            4,
            P256_KEY_1,
            "0000000000000000000000000000000000000000",
            "3045022100986e65933ef2ed4ee5aada139f52b70539aaf63f00a91f29c69178490d57fb7102203dafedfb8da6189d372308cbf1489bbbdabf0c0217d1c0ff0f701aaa7a694b9c",
            true,
        ),
        // Signature malleability: s and n - s both verify.
        (
            5,
            P256_KEY_2,
            "313233343030",
            "304402202ba3a8be6b94d5ec80a6d9d1190a436effe50d85a1eee859b8cc6af9bd5c2e1802204cd60b855d442f5b3c7b11eb6c4e0ae7525fe710fab9aa7c77a67f79e6fadd76",
            true,
        ),
        // Legacy: ASN encoding of s misses its leading 0.
        (
            6,
            P256_KEY_2,
            "313233343030",
            "304402202ba3a8be6b94d5ec80a6d9d1190a436effe50d85a1eee859b8cc6af9bd5c2e180220b329f479a2bbd0a5c384ee1493b1f5186a87139cac5df4087c134b49156847db",
            false,
        ),
        (7, P256_KEY_2, "313233343030", P256_SIG_7, true),
        // Sequence length in long form (BER).
        (
            8,
            P256_KEY_2,
            "313233343030",
            "30814502202ba3a8be6b94d5ec80a6d9d1190a436effe50d85a1eee859b8cc6af9bd5c2e18022100b329f479a2bbd0a5c384ee1493b1f5186a87139cac5df4087c134b49156847db",
            false,
        ),
        // Sequence length with a leading 0.
        (
            9,
            P256_KEY_2,
            "313233343030",
            "3082004502202ba3a8be6b94d5ec80a6d9d1190a436effe50d85a1eee859b8cc6af9bd5c2e18022100b329f479a2bbd0a5c384ee1493b1f5186a87139cac5df4087c134b49156847db",
            false,
        ),
        // Sequence length 70 and 68 instead of 69.
        (
            10,
            P256_KEY_2,
            "313233343030",
            "304602202ba3a8be6b94d5ec80a6d9d1190a436effe50d85a1eee859b8cc6af9bd5c2e18022100b329f479a2bbd0a5c384ee1493b1f5186a87139cac5df4087c134b49156847db",
            false,
        ),
        (
            11,
            P256_KEY_2,
            "313233343030",
            "304402202ba3a8be6b94d5ec80a6d9d1190a436effe50d85a1eee859b8cc6af9bd5c2e18022100b329f479a2bbd0a5c384ee1493b1f5186a87139cac5df4087c134b49156847db",
            false,
        ),
        // uint32 overflow in the sequence length.
        (
            12,
            P256_KEY_2,
            "313233343030",
            "3085010000004502202ba3a8be6b94d5ec80a6d9d1190a436effe50d85a1eee859b8cc6af9bd5c2e18022100b329f479a2bbd0a5c384ee1493b1f5186a87139cac5df4087c134b49156847db",
            false,
        ),
    ];

    #[test]
    fn ecdsa_p256_sha256_wycheproof() {
        let soft: Soft = Soft::new();
        for (tc_id, key, message, signature, valid) in P256_SHA256 {
            let result = soft.verify(
                SignatureScheme::EcdsaP256Sha256,
                &hex(key),
                &hex(message),
                &hex(signature),
            );
            if valid {
                assert_eq!(result, Ok(()), "tcId {tc_id}");
            } else {
                assert_eq!(result, Err(CryptoError::InvalidSignature), "tcId {tc_id}");
            }
        }
    }

    #[test]
    fn ecdsa_p256_rejects_changed_values_wrong_keys_and_zero() {
        let soft: Soft = Soft::new();
        let message = hex("313233343030");
        let verify = |key: &[u8], message: &[u8], signature: &[u8]| {
            soft.verify(SignatureScheme::EcdsaP256Sha256, key, message, signature)
        };
        let signature = hex(P256_SIG_7);
        assert_eq!(verify(&hex(P256_KEY_2), &message, &signature), Ok(()));
        // Another message, another key, a flipped bit of r.
        assert_eq!(
            verify(&hex(P256_KEY_2), b"123401", &signature),
            Err(CryptoError::InvalidSignature)
        );
        assert_eq!(
            verify(&hex(P256_KEY_1), &message, &signature),
            Err(CryptoError::InvalidSignature)
        );
        let mut flipped = signature.clone();
        flipped[10] ^= 0x01;
        assert_eq!(
            verify(&hex(P256_KEY_2), &message, &flipped),
            Err(CryptoError::InvalidSignature)
        );
        // r = s = 0 (the "psychic signature", CVE-2022-21449).
        assert_eq!(
            verify(&hex(P256_KEY_2), &message, &hex("3006020100020100")),
            Err(CryptoError::InvalidSignature)
        );
        // A point off the curve, a truncated one, the identity, the key
        // compressed (SEC 1 v2 section 2.3.4: only uncompressed keys are read).
        let mut off_curve = hex(P256_KEY_2);
        off_curve[64] ^= 0x01;
        let uncompressed = hex(P256_KEY_2);
        let compressed = [&[0x02 | (uncompressed[64] & 1)][..], &uncompressed[1..33]].concat();
        for key in [
            off_curve,
            uncompressed[..40].to_vec(),
            hex("00"),
            compressed,
        ] {
            assert_eq!(
                verify(&key, &message, &signature),
                Err(CryptoError::InvalidKey)
            );
        }
        // The same key under the other hash: a different prehash.
        assert_eq!(
            soft.verify(
                SignatureScheme::EcdsaP256Sha384,
                &hex(P256_KEY_2),
                &message,
                &signature
            ),
            Err(CryptoError::InvalidSignature)
        );
    }

    /// Wycheproof `testvectors_v1/ecdsa_secp384r1_sha384_test.json`, second
    /// key group: tcId 5 and 7 valid, 6 (s without its leading 0) and 8
    /// (BER length) invalid.
    #[test]
    fn ecdsa_p384_sha384_wycheproof() {
        let soft: Soft = Soft::new();
        let key = hex(
            "042da57dda1089276a543f9ffdac0bff0d976cad71eb7280e7d9bfd9fee4bdb2f20f47ff888274389772d9\
             8cc5752138aa4b6d054d69dcf3e25ec49df870715e34883b1836197d76f8ad962e78f6571bbc7407b0d609\
             1f9e4d88f014274406174f",
        );
        let cases = [
            (
                5,
                "3064023012b30abef6b5476fe6b612ae557c0425661e26b44b1bfe19daf2ca28e3113083ba8e4ae4cc45a0320abd3394f1c548d702301840da9fc1d2f8f8900cf485d5413b8c2574ee3a8d4ca03995ca30240e09513805bf6209b58ac7aa9cff54eecd82b9f1",
                true,
            ),
            (
                6,
                "3064023012b30abef6b5476fe6b612ae557c0425661e26b44b1bfe19daf2ca28e3113083ba8e4ae4cc45a0320abd3394f1c548d70230e7bf25603e2d07076ff30b7a2abec473da8b11c572b35fc631991d5de62ddca7525aaba89325dfd04fecc47bff426f82",
                false,
            ),
            (
                7,
                "3065023012b30abef6b5476fe6b612ae557c0425661e26b44b1bfe19daf2ca28e3113083ba8e4ae4cc45a0320abd3394f1c548d7023100e7bf25603e2d07076ff30b7a2abec473da8b11c572b35fc631991d5de62ddca7525aaba89325dfd04fecc47bff426f82",
                true,
            ),
            (
                8,
                "308165023012b30abef6b5476fe6b612ae557c0425661e26b44b1bfe19daf2ca28e3113083ba8e4ae4cc45a0320abd3394f1c548d7023100e7bf25603e2d07076ff30b7a2abec473da8b11c572b35fc631991d5de62ddca7525aaba89325dfd04fecc47bff426f82",
                false,
            ),
        ];
        for (tc_id, signature, valid) in cases {
            let result = soft.verify(
                SignatureScheme::EcdsaP384Sha384,
                &key,
                b"123400",
                &hex(signature),
            );
            assert_eq!(result.is_ok(), valid, "tcId {tc_id}: {result:?}");
        }
        // A P-384 key is no P-256 key.
        assert_eq!(
            soft.verify(
                SignatureScheme::EcdsaP256Sha384,
                &key,
                b"123400",
                &hex(cases[0].1)
            ),
            Err(CryptoError::InvalidKey)
        );
    }

    /// The mixed schemes X.509 meets: a P-384 key over SHA-256 (a vector
    /// made with Python `cryptography` 48 on OpenSSL 3.0 for this crate)
    /// and a P-256 key over SHA-384 (signed here, verified by message).
    #[test]
    fn ecdsa_mixed_curve_and_hash_schemes() {
        let soft: Soft = Soft::new();
        let p384_key = hex(
            "04197bfe481923e7a3a309ccbf65d3ed10d3eb11105e4141c8a12288f4fb4cf7a96c71086a4ea7f21369\
             e51fee70cacf2ed76c75d0d9e2035d2f1ccbaa9db147281e977fbd9f669658211be6c30c558291590ff9\
             52129b38c3d0e5eafc35943352",
        );
        let p384_sha256 = hex(
            "30660231009a0d4af2ca18e68881e33c6bc3c5ab58a5ace42b184e39e7b7e8b19ea2c49da7eb872232f5\
             0b2cae1b8b8f5cc2695b1f023100b7cacd05c2a6991d03d2dc0d75ec08a6621da9e2b4502a26d66a32c1\
             7524359d4bae1c4f2a9b2b0a50b4f2a001eb3417",
        );
        assert_eq!(
            soft.verify(
                SignatureScheme::EcdsaP384Sha256,
                &p384_key,
                b"123400",
                &p384_sha256
            ),
            Ok(())
        );
        assert_eq!(
            soft.verify(
                SignatureScheme::EcdsaP384Sha384,
                &p384_key,
                b"123400",
                &p384_sha256
            ),
            Err(CryptoError::InvalidSignature)
        );

        let mut signer: Soft = Soft::new();
        let public = signer
            .generate_key(KeyHandle(0), KeyType::P256, &mut TestRng::new(3))
            .unwrap();
        let prehash = sha2::Sha384::digest(b"certificate");
        let mut der = [0u8; 72];
        let len = signer
            .sign_prehash(
                KeyHandle(0),
                SignatureScheme::EcdsaP256Sha384,
                &prehash,
                SignatureFormat::Der,
                &mut der,
            )
            .unwrap();
        let verify = |scheme| soft.verify(scheme, public.as_bytes(), b"certificate", &der[..len]);
        assert_eq!(verify(SignatureScheme::EcdsaP256Sha384), Ok(()));
        assert_eq!(
            verify(SignatureScheme::EcdsaP256Sha256),
            Err(CryptoError::InvalidSignature)
        );
    }

    /// RFC 6979 appendix A.2.5: P-256, SHA-256, message "sample". The
    /// signature is deterministic, so signing must give exactly (r, s).
    #[test]
    fn ecdsa_p256_signing_matches_rfc_6979() {
        let mut soft: Soft = Soft::new();
        let public = soft
            .import_key(
                KeyHandle(0),
                KeyType::P256,
                &hex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"),
            )
            .unwrap();
        assert_eq!(
            public.as_bytes(),
            &hex(
                "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6\
                  7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299"
            )[..]
        );
        let prehash = sha2::Sha256::digest(b"sample");
        let mut raw = [0u8; 64];
        let len = soft
            .sign_prehash(
                KeyHandle(0),
                SignatureScheme::EcdsaP256Sha256,
                &prehash,
                SignatureFormat::Raw,
                &mut raw,
            )
            .unwrap();
        assert_eq!(len, 64);
        assert_eq!(
            raw[..],
            hex(
                "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716\
                 f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"
            )[..]
        );
        // The DER form carries the same r and s, and verifies.
        let mut der = [0u8; 72];
        let len = soft
            .sign_prehash(
                KeyHandle(0),
                SignatureScheme::EcdsaP256Sha256,
                &prehash,
                SignatureFormat::Der,
                &mut der,
            )
            .unwrap();
        let parsed = p256::ecdsa::Signature::from_der(&der[..len]).unwrap();
        assert_eq!(parsed.to_bytes()[..], raw[..]);
        assert_eq!(
            soft.verify(
                SignatureScheme::EcdsaP256Sha256,
                public.as_bytes(),
                b"sample",
                &der[..len]
            ),
            Ok(())
        );
    }

    #[test]
    fn signing_refuses_wrong_lengths_schemes_and_empty_slots() {
        let mut soft: Soft<2> = Soft::new();
        let mut rng = TestRng::new(1);
        soft.generate_key(KeyHandle(1), KeyType::P256, &mut rng)
            .unwrap();
        let mut out = [0u8; 72];
        let sign = |key, scheme, prehash: &[u8], out: &mut [u8]| {
            soft.sign_prehash(KeyHandle(key), scheme, prehash, SignatureFormat::Der, out)
        };
        assert_eq!(
            sign(0, SignatureScheme::EcdsaP256Sha256, &[0; 32], &mut out),
            Err(CryptoError::NoSuchKey)
        );
        assert_eq!(
            sign(2, SignatureScheme::EcdsaP256Sha256, &[0; 32], &mut out),
            Err(CryptoError::NoSuchKey)
        );
        assert_eq!(
            sign(1, SignatureScheme::EcdsaP256Sha256, &[0; 48], &mut out),
            Err(CryptoError::BadInput)
        );
        assert_eq!(
            sign(1, SignatureScheme::RsaPssSha256, &[0; 32], &mut out),
            Err(CryptoError::InvalidKey)
        );
        assert_eq!(
            sign(1, SignatureScheme::EcdsaP256Sha256, &[0; 32], &mut out[..8]),
            Err(CryptoError::BadInput)
        );
        assert!(sign(1, SignatureScheme::EcdsaP256Sha384, &[0; 48], &mut out).is_ok());
        assert_eq!(
            soft.import_key(KeyHandle(0), KeyType::P256, &[0; 32]),
            Err(CryptoError::InvalidKey)
        );
        assert_eq!(
            soft.import_key(KeyHandle(0), KeyType::P256, &[1; 31]),
            Err(CryptoError::InvalidKey)
        );
        soft.delete_key(KeyHandle(1)).unwrap();
        assert_eq!(soft.public_key(KeyHandle(1)), Err(CryptoError::NoSuchKey));
    }

    /// Wycheproof `testvectors_v1/ecdh_secp256r1_ecpoint_test.json`: tcId 1
    /// (normal), 3 (shared x = 0), 4 (x = p - 3), 9 (x^2 = -3). (public,
    /// private, shared)
    const ECDH: [(u32, &str, &str, &str); 4] = [
        (
            1,
            "0462d5bd3372af75fe85a040715d0f502428e07046868b0bfdfa61d731afe44f26ac333a93a9e70a81cd5a95b5bf8d13990eb741c8c38872b4a07d275a014e30cf",
            "0612465c89a023ab17855b0a6bcebfd3febb53aef84138647b5352e02c10c346",
            "53020d908b0219328b658b525f26780e3ae12bcd952bb25a93bc0895e1714285",
        ),
        (
            3,
            "0458fd4168a87795603e2b04390285bdca6e57de6027fe211dd9d25e2212d29e62080d36bd224d7405509295eed02a17150e03b314f96da37445b0d1d29377d12c",
            "0a0d622a47e48f6bc1038ace438c6f528aa00ad2bd1da5f13ee46bf5f633d71a",
            "0000000000000000000000000000000000000000000000000000000000000000",
        ),
        (
            4,
            "04a1ecc24bf0d0053d23f5fd80ddf1735a1925039dc1176c581a7e795163c8b9ba2cb5a4e4d5109f4527575e3137b83d79a9bcb3faeff90d2aca2bed71bb523e7e",
            "0a0d622a47e48f6bc1038ace438c6f528aa00ad2bd1da5f13ee46bf5f633d71a",
            "ffffffff00000001000000000000000000000000fffffffffffffffffffffffc",
        ),
        (
            9,
            "04a492fe4b4908b6d675d687551f99c617e4e5c97aa266958953129eb381f0153b111b95c94fa1d1ecd1d41d2785c1db5195875ae98051732a59ba7720f9089af6",
            "0a0d622a47e48f6bc1038ace438c6f528aa00ad2bd1da5f13ee46bf5f633d71a",
            "6522aed9ea48f2623b8eeae3e213b99da32e74c9421835804d374ce28fcca662",
        ),
    ];

    fn scalar(hex_text: &str) -> p256::NonZeroScalar {
        p256::SecretKey::from_slice(&hex(hex_text))
            .unwrap()
            .to_nonzero_scalar()
    }

    #[test]
    fn ecdh_p256_wycheproof() {
        for (tc_id, public, private, shared) in ECDH {
            let secret = ecdh_p256(&scalar(private), &hex(public)).unwrap();
            assert_eq!(secret.as_bytes(), &hex(shared)[..], "tcId {tc_id}");
        }
    }

    #[test]
    fn ecdh_refuses_points_that_are_not_on_the_curve() {
        let private = scalar(ECDH[0].2);
        let mut off_curve = hex(ECDH[0].1);
        off_curve[64] ^= 0x01;
        let mut bad_prefix = hex(ECDH[0].1);
        bad_prefix[0] = 0x05;
        // tcId 2 of the same file: tcId 1's point compressed, which
        // Wycheproof calls acceptable and TLS never sends (RFC 8446 section
        // 4.2.8.2, RFC 8422 section 5.1.2).
        let compressed = hex("0362d5bd3372af75fe85a040715d0f502428e07046868b0bfdfa61d731afe44f26");
        for peer in [
            off_curve,
            bad_prefix,
            compressed,
            hex("00"),
            Vec::new(),
            hex(ECDH[0].1)[..64].to_vec(),
        ] {
            assert_eq!(
                ecdh_p256(&private, &peer).unwrap_err(),
                CryptoError::InvalidKey
            );
        }
    }

    #[test]
    fn ephemeral_ecdh_agrees_both_ways() {
        let soft: Soft = Soft::new();
        let mut rng = TestRng::new(7);
        let (alice, alice_public) = soft
            .generate_ephemeral(EcdhGroup::Secp256r1, &mut rng)
            .unwrap();
        let (bob, bob_public) = soft
            .generate_ephemeral(EcdhGroup::Secp256r1, &mut rng)
            .unwrap();
        assert_eq!(alice_public.as_bytes().len(), 65);
        assert_eq!(alice_public.as_bytes()[0], 0x04);
        assert_ne!(alice_public, bob_public);
        let one = soft.agree(alice, bob_public.as_bytes()).unwrap();
        let two = soft.agree(bob, alice_public.as_bytes()).unwrap();
        assert_eq!(one.as_bytes(), two.as_bytes());
        assert_eq!(one.as_bytes().len(), 32);
    }

    #[test]
    fn ephemeral_ecdh_on_p384_agrees_both_ways_and_refuses_p256_points() {
        let soft: Soft = Soft::new();
        let mut rng = TestRng::new(8);
        let (alice, alice_public) = soft
            .generate_ephemeral(EcdhGroup::Secp384r1, &mut rng)
            .unwrap();
        let (bob, bob_public) = soft
            .generate_ephemeral(EcdhGroup::Secp384r1, &mut rng)
            .unwrap();
        assert_eq!(alice_public.as_bytes().len(), 97);
        assert_eq!(alice_public.as_bytes()[0], 0x04);
        let one = soft.agree(alice, bob_public.as_bytes()).unwrap();
        let two = soft.agree(bob, alice_public.as_bytes()).unwrap();
        assert_eq!(one.as_bytes(), two.as_bytes());
        assert_eq!(one.as_bytes().len(), 48);
        let (carol, _) = soft
            .generate_ephemeral(EcdhGroup::Secp384r1, &mut rng)
            .unwrap();
        let (_, p256_public) = soft
            .generate_ephemeral(EcdhGroup::Secp256r1, &mut rng)
            .unwrap();
        assert_eq!(
            soft.agree(carol, p256_public.as_bytes()).err(),
            Some(CryptoError::InvalidKey)
        );
    }
}
