//! The measured side: duet-crypto's `soft` provider, called through the
//! provider traits the way the TLS engine calls it.

use std::convert::Infallible;
use std::fmt;
use std::hint::black_box;
use std::io;
use std::time::Duration;

use duet_crypto::soft::Soft;
use duet_crypto::{
    Aead, AeadAlgorithm, AeadKey, CryptoError, EcdhGroup, HashAlgorithm, Hasher, Hmac,
    KeyAgreement, KeyHandle, KeyStore, KeyType, SignatureFormat, SignatureScheme,
    SignatureVerifier, Signer,
};
use rand_core::{TryCryptoRng, TryRng};

use super::{Primitive, Rate};
use crate::cpu;

/// Why a measurement stopped.
#[derive(Debug)]
pub enum Error {
    Crypto {
        primitive: Primitive,
        error: CryptoError,
    },
    Cpu(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Crypto { primitive, error } => write!(f, "{}: {error}", primitive.name()),
            Error::Cpu(error) => write!(f, "getrusage: {error}"),
        }
    }
}

impl std::error::Error for Error {}

/// Wycheproof `rsa_signature_2048_sha256_test.json` (C2SP/wycheproof): the
/// key (`publicKeyAsn`, DER RSAPublicKey, e = 65537) and tcId 4's
/// signature of "123400".
const RSA_2048_KEY: &str = "3082010a0282010100a2b451a07d0aa5f96e455671513550514a8a5b462ebef7\
    17094fa1fee82224e637f9746d3f7cafd31878d80325b6ef5a1700f65903b469\
    429e89d6eac8845097b5ab393189db92512ed8a7711a1253facd20f79c15e824\
    7f3d3e42e46e48c98e254a2fe9765313a03eff8f17e1a029397a1fa26a8dce26\
    f490ed81299615d9814c22da610428e09c7d9658594266f5c021d0fceca08d94\
    5a12be82de4d1ece6b4c03145b5d3495d4ed5411eb878daf05fd7afc3e09ada0\
    f1126422f590975a1969816f48698bcbba1b4d9cae79d460d8f9f85e7975005d\
    9bc22c4e5ac0f7c1a45d12569a62807d3b9a02e5a530e773066f453d1f5b4c2e\
    9cf7820283f742b9d50203010001";
const RSA_2048_SIGNATURE: &str = "1758eb94588e6fc4f50c1be1afcaa41027869f304cad513b1fb12c2f446d63cd\
    c05c4830a7e3e630da7b2da4f7867cc173bf6420f9732277282596de41ded32e\
    21d0cc31441174da8765f57419c7764ea758f55bc17646eb100c435d1ac0eed6\
    fc7ba6de5f832094ee2f479979765e05ac9976788db3c241a9e32a0da864f001\
    9a87646ba623d63f4411af5dee1be9ec488c7e3e1b231479de70b9ac5f78a17b\
    1f4120aece45f26c07e7bb345fdfeb05e14bcaacc614672a465fc523624cb19f\
    66f9c6c3f642b832ca44cb25176d679f0e05606c3fed022cac24c2bf960a406d\
    48818e3eb7ed53b0446032469047dfed95fc18088c92d91d93722c47f88163a8";
const RSA_2048_MESSAGE: &[u8] = b"123400";

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| {
            let value = |digit: u8| (digit as char).to_digit(16).unwrap_or(0) as u8;
            value(pair[0]) << 4 | value(pair[1])
        })
        .collect()
}

/// Key generation's randomness for the bench: SHA-256 of a counter through
/// duet-crypto itself. Reproducible; a bench needs no secrecy.
struct BenchRng {
    counter: u64,
}

impl TryRng for BenchRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let soft: Soft<0> = Soft::new();
        for chunk in dst.chunks_mut(32) {
            self.counter += 1;
            let block = soft
                .hash(HashAlgorithm::Sha256, &[&self.counter.to_le_bytes()])
                .expect("the soft provider hashes SHA-256");
            chunk.copy_from_slice(&block.as_bytes()[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for BenchRng {}

/// Calls `op` in batches until `budget` of CPU time is spent; batches are
/// sized to about a twentieth of the budget so the overshoot stays small
/// and `getrusage` is not called per operation.
fn measure(
    primitive: Primitive,
    budget: Duration,
    mut op: impl FnMut() -> Result<(), CryptoError>,
) -> Result<Rate, Error> {
    let crypto = |error| Error::Crypto { primitive, error };
    // Warm up caches and lazily initialised CPU-feature detection.
    op().map_err(crypto)?;
    let start = cpu::process_time().map_err(Error::Cpu)?;
    let mut ops = 0u64;
    let mut batch = 1u64;
    loop {
        for _ in 0..batch {
            op().map_err(crypto)?;
        }
        ops += batch;
        let spent = cpu::process_time().map_err(Error::Cpu)? - start;
        if spent >= budget {
            return Ok(Rate { ops, cpu: spent });
        }
        let per_op = spent.as_secs_f64().max(1e-9) / ops as f64;
        batch = ((budget.as_secs_f64() / 20.0 / per_op) as u64).clamp(1, 1 << 20);
    }
}

/// Measures one primitive for `budget` of CPU time.
pub fn run(primitive: Primitive, budget: Duration) -> Result<Rate, Error> {
    let crypto = |error| Error::Crypto { primitive, error };
    let soft: Soft<1> = Soft::new();
    match primitive {
        Primitive::Sha256 => {
            let buffer = vec![0x5a; 16384];
            measure(primitive, budget, || {
                black_box(soft.hash(HashAlgorithm::Sha256, &[black_box(&buffer)])?);
                Ok(())
            })
        }
        Primitive::HmacSha256 => {
            let keyed = Hmac::new(&soft, HashAlgorithm::Sha256, &[0x0b; 32]).map_err(crypto)?;
            let message = [0xa5u8; 64];
            measure(primitive, budget, || {
                let mut mac = keyed.clone();
                mac.update(black_box(&message));
                black_box(mac.finish()?);
                Ok(())
            })
        }
        Primitive::Aes128Gcm16K | Primitive::Aes128Gcm1K => {
            let key = soft
                .aead_key(AeadAlgorithm::Aes128Gcm, &[0x42; 16])
                .map_err(crypto)?;
            let len = primitive.bytes_per_op().unwrap_or(0) as usize;
            let mut record = vec![0x17u8; len];
            // The TLS 1.2 additional data: seq_num, type, version, length.
            let aad = [0u8; 13];
            let mut sequence = 0u64;
            measure(primitive, budget, || {
                sequence += 1;
                let mut nonce = [0u8; 12];
                nonce[4..].copy_from_slice(&sequence.to_be_bytes());
                black_box(key.seal_detached(&nonce, &aad, black_box(&mut record))?);
                Ok(())
            })
        }
        Primitive::EcdsaP256Sign | Primitive::EcdsaP256Verify => {
            let mut signer: Soft<1> = Soft::new();
            let mut rng = BenchRng { counter: 0 };
            let public = signer
                .generate_key(KeyHandle(0), KeyType::P256, &mut rng)
                .map_err(crypto)?;
            // OpenSSL's ecdsap256 signs 20 bytes; Duet signs their SHA-256.
            let message = [0x33u8; 20];
            let prehash = soft
                .hash(HashAlgorithm::Sha256, &[&message])
                .map_err(crypto)?;
            let mut signature = [0u8; 72];
            let len = signer
                .sign_prehash(
                    KeyHandle(0),
                    SignatureScheme::EcdsaP256Sha256,
                    prehash.as_bytes(),
                    SignatureFormat::Der,
                    &mut signature,
                )
                .map_err(crypto)?;
            if primitive == Primitive::EcdsaP256Sign {
                let mut out = [0u8; 72];
                measure(primitive, budget, || {
                    black_box(signer.sign_prehash(
                        KeyHandle(0),
                        SignatureScheme::EcdsaP256Sha256,
                        black_box(prehash.as_bytes()),
                        SignatureFormat::Der,
                        &mut out,
                    )?);
                    Ok(())
                })
            } else {
                measure(primitive, budget, || {
                    soft.verify(
                        SignatureScheme::EcdsaP256Sha256,
                        black_box(public.as_bytes()),
                        black_box(&message),
                        black_box(&signature[..len]),
                    )
                })
            }
        }
        Primitive::EcdhP256 => measure_ecdh(&soft, budget),
        Primitive::Rsa2048Verify => {
            let key = hex(RSA_2048_KEY);
            let signature = hex(RSA_2048_SIGNATURE);
            measure(primitive, budget, || {
                soft.verify(
                    SignatureScheme::RsaPkcs1Sha256,
                    black_box(&key),
                    black_box(RSA_2048_MESSAGE),
                    black_box(&signature),
                )
            })
        }
    }
}

/// Ephemeral keys made per timed batch of agreements.
const ECDH_BATCH: usize = 64;

/// ECDH: the agreement alone is timed. Each agreement consumes its
/// ephemeral key, so keys are made in batches outside the timed spans.
fn measure_ecdh(soft: &Soft<1>, budget: Duration) -> Result<Rate, Error> {
    let primitive = Primitive::EcdhP256;
    let crypto = |error| Error::Crypto { primitive, error };
    let mut rng = BenchRng { counter: 1 << 32 };
    let (_, peer) = soft
        .generate_ephemeral(EcdhGroup::Secp256r1, &mut rng)
        .map_err(crypto)?;
    let mut spent = Duration::ZERO;
    let mut ops = 0u64;
    while spent < budget {
        let secrets = (0..ECDH_BATCH)
            .map(|_| {
                soft.generate_ephemeral(EcdhGroup::Secp256r1, &mut rng)
                    .map(|(secret, _)| secret)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(crypto)?;
        let start = cpu::process_time().map_err(Error::Cpu)?;
        for secret in secrets {
            black_box(
                soft.agree(secret, black_box(peer.as_bytes()))
                    .map_err(crypto)?,
            );
        }
        spent += cpu::process_time().map_err(Error::Cpu)? - start;
        ops += ECDH_BATCH as u64;
    }
    Ok(Rate { ops, cpu: spent })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_primitive_runs_and_counts_operations() {
        for primitive in Primitive::ALL {
            let rate = run(primitive, Duration::from_millis(20)).unwrap();
            assert!(rate.ops > 0, "{}", primitive.name());
            assert!(
                rate.cpu >= Duration::from_millis(20),
                "{}",
                primitive.name()
            );
        }
    }

    #[test]
    fn the_rsa_vector_decodes_to_a_2048_bit_key_and_signature() {
        assert_eq!(hex(RSA_2048_KEY).len(), 270);
        assert_eq!(hex(RSA_2048_SIGNATURE).len(), 256);
        assert_eq!(hex("0aFf"), [0x0a, 0xff]);
    }
}
