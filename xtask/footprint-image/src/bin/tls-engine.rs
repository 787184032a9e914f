//! Footprint image `tls-engine`: Duet's TLS 1.2 + 1.3 client without
//! cryptography — the record layer, both handshakes, the key schedules'
//! framing (HKDF-Expand-Label, the TLS 1.2 PRF and HMAC are generic code in
//! duet-crypto over the provider's hash, so they count here) and X.509
//! parsing and path checks (rustls-webpki) — over a provider whose hash,
//! AEAD, ECDH and signatures are opaque stand-ins that compute nothing.
//! `tls-client` minus this is what the software crypto adds.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use duet_crypto::{
    Aead, AeadAlgorithm, AeadKey, CryptoError, Digest, EcdhGroup, HashAlgorithm, HashContext,
    Hasher, KeyAgreement, KeyDerivation, KeyHandle, PublicKey, SharedSecret, SignatureFormat,
    SignatureScheme, SignatureVerifier, Signer, Tag,
};
use panic_halt as _;
use rand_core::CryptoRng;

#[path = "../tls/drive.rs"]
mod drive;

/// A provider whose every result comes out of `black_box`: it links no
/// cryptography, and nothing in the engine can be proven unreachable.
struct Opaque;

#[derive(Clone)]
struct OpaqueHash(HashAlgorithm, u64);

impl HashContext for OpaqueHash {
    fn algorithm(&self) -> HashAlgorithm {
        self.0
    }

    fn update(&mut self, data: &[u8]) {
        self.1 ^= black_box(data.len() as u64);
    }

    fn finish(self) -> Result<Digest, CryptoError> {
        Digest::new(&black_box([self.1 as u8; 48])[..self.0.output_len()])
    }
}

impl Hasher for Opaque {
    type Context = OpaqueHash;

    fn hash_context(&self, algorithm: HashAlgorithm) -> Result<OpaqueHash, CryptoError> {
        black_box(Ok(OpaqueHash(algorithm, 0)))
    }
}

impl KeyDerivation for Opaque {}

struct OpaqueKey(AeadAlgorithm);

impl AeadKey for OpaqueKey {
    fn algorithm(&self) -> AeadAlgorithm {
        self.0
    }

    fn seal_detached(&self, _: &[u8], _: &[u8], in_out: &mut [u8]) -> Result<Tag, CryptoError> {
        black_box(in_out);
        Tag::new(&black_box([0u8; 16]))
    }

    fn open_detached(
        &self,
        _: &[u8],
        _: &[u8],
        in_out: &mut [u8],
        _: &[u8],
    ) -> Result<(), CryptoError> {
        black_box(in_out);
        black_box(Ok(()))
    }
}

impl Aead for Opaque {
    type Key = OpaqueKey;

    fn aead_key(&self, algorithm: AeadAlgorithm, _: &[u8]) -> Result<OpaqueKey, CryptoError> {
        black_box(Ok(OpaqueKey(algorithm)))
    }
}

impl KeyAgreement for Opaque {
    type EphemeralSecret = u8;

    fn generate_ephemeral<R: CryptoRng + ?Sized>(
        &self,
        group: EcdhGroup,
        _: &mut R,
    ) -> Result<(u8, PublicKey), CryptoError> {
        let point = black_box([4u8; 65]);
        Ok((0, PublicKey::from_sec1(&point[..group.public_key_len()])?))
    }

    fn agree(&self, _: u8, peer: &[u8]) -> Result<SharedSecret, CryptoError> {
        black_box(peer);
        SharedSecret::new(&black_box([0u8; 32]))
    }
}

impl SignatureVerifier for Opaque {
    fn verify(
        &self,
        _: SignatureScheme,
        key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        black_box((key, message, signature));
        black_box(Ok(()))
    }
}

impl Signer for Opaque {
    fn sign_prehash(
        &self,
        _: KeyHandle,
        _: SignatureScheme,
        prehash: &[u8],
        _: SignatureFormat,
        out: &mut [u8],
    ) -> Result<usize, CryptoError> {
        black_box(prehash);
        let len = black_box(70).min(out.len());
        out[..len].fill(black_box(0x30));
        Ok(len)
    }
}

#[entry]
fn main() -> ! {
    drive::drive(&Opaque)
}
