//! Footprint image `crypto-soft`: what duet-crypto's software provider costs
//! a firmware that does what an Azure IoT device does, measured by `cargo
//! xtask footprint`.
//!
//! It links the primitives a TLS 1.2/1.3 client with ECDHE, AES-128-GCM,
//! an ECDSA P-256 client key and RSA/ECDSA server chains needs, plus SAS
//! tokens and update checks: SHA-256, HMAC-SHA256, HKDF, AES-128-GCM seal
//! and open, ephemeral ECDH P-256, ECDSA P-256 signing (RFC 6979) and
//! verification, RSA PKCS#1 v1.5 SHA-256 verification (2048-4096 bits).
//! P-384, RSA-PSS, AES-CCM and SHA-384 are not called, so they are not in
//! the figure. Every input passes through `core::hint::black_box`, so no
//! operation can be evaluated at compile time or dropped.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use duet_crypto::soft::Soft;
use duet_crypto::{
    Aead, AeadAlgorithm, AeadKey, EcdhGroup, HashAlgorithm, Hasher, KeyAgreement, KeyDerivation,
    KeyHandle, KeyStore, KeyType, SignatureFormat, SignatureScheme, SignatureVerifier, Signer,
};
use panic_halt as _;

#[path = "../opaque_rng.rs"]
mod opaque_rng;
use opaque_rng::OpaqueRng;

#[entry]
fn main() -> ! {
    let mut provider: Soft<1> = Soft::new();
    let mut rng = OpaqueRng(black_box(1));
    let _ = provider.generate_key(KeyHandle(0), KeyType::P256, &mut rng);
    let data = [0u8; 1024];
    let mut record = [0u8; 1024];
    let mut okm = [0u8; 48];
    let mut signature = [0u8; 72];
    loop {
        let input = black_box(&data);
        black_box(provider.hash(HashAlgorithm::Sha256, &[input]).ok());
        black_box(
            provider
                .hmac(HashAlgorithm::Sha256, &input[..32], &[&input[32..96]])
                .ok(),
        );
        if let Ok(prk) = provider.hkdf_extract(HashAlgorithm::Sha256, &input[..32], &input[32..64])
        {
            let _ = provider.hkdf_expand(
                HashAlgorithm::Sha256,
                prk.as_bytes(),
                &[&input[64..80]],
                &mut okm,
            );
        }
        if let Ok(key) = provider.aead_key(AeadAlgorithm::Aes128Gcm, &okm[..16]) {
            let nonce = black_box([7u8; 12]);
            let len = black_box(1000);
            if let Ok(sealed) = key.seal_in_place(&nonce, &input[..13], &mut record, len) {
                let _ = key.open_in_place(&nonce, &okm[..13], &mut record[..sealed]);
            }
        }
        if let Ok((secret, _public)) = provider.generate_ephemeral(EcdhGroup::Secp256r1, &mut rng) {
            black_box(provider.agree(secret, &record[..65]).ok());
        }
        let signed = provider.sign_prehash(
            KeyHandle(0),
            SignatureScheme::EcdsaP256Sha256,
            &okm[..32],
            SignatureFormat::Der,
            &mut signature,
        );
        let scheme = if black_box(signed.is_ok()) {
            SignatureScheme::EcdsaP256Sha256
        } else {
            SignatureScheme::RsaPkcs1Sha256
        };
        let key_len = black_box(270);
        black_box(
            provider
                .verify(scheme, &record[..key_len], &okm, &signature)
                .ok(),
        );
    }
}
