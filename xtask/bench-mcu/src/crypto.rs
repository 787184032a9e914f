//! The firmware of `cargo xtask bench crypto-mcu`: how many instructions a
//! Cortex-M4 spends on each primitive of duet-crypto's software provider
//! that a TLS connection to Azure uses, in one run of `qemu-system-arm -M
//! mps2-an386 -icount shift=0`.
//!
//! xtask builds it twice, with and without the RustCrypto backend options a
//! size-conscious firmware sets (`sha2_backend_soft="compact"`,
//! `aes_backend_soft="compact"`), and sets the two runs side by side: what
//! those options save in flash (`cargo xtask footprint`) is paid here.
//!
//! In order, each printed over semihosting as one line that xtask parses
//! (`xtask/src/crypto_mcu.rs`):
//!
//! 1. `crypto-mcu calibration instructions=<n> ticks=<t>`, as in the
//!    `tcp-mcu` firmware ([`ticks::calibrate`]).
//! 2. `crypto-mcu run primitive=<name> bytes=<n> ticks=<t>` for the bulk
//!    primitives (one 16 KiB TLS record's worth each), and `crypto-mcu run
//!    primitive=<name> ops=<n> ticks=<t>` for the public-key ones.
//!
//! A primitive that fails prints `crypto-mcu error primitive=<name> <why>`
//! instead; the firmware then exits with status 1 after the others ran.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod ticks;

use core::hint::black_box;
use core::panic::PanicInfo;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use duet_crypto::soft::Soft;
use duet_crypto::{
    Aead, AeadAlgorithm, AeadKey, CryptoError, EcdhGroup, HashAlgorithm, Hasher, KeyAgreement,
    KeyHandle, KeyStore, KeyType, SignatureFormat, SignatureScheme, SignatureVerifier, Signer,
};
use static_cell::ConstStaticCell;

/// A TLS record's largest plaintext (RFC 8446 section 5.1).
const RECORD: usize = 16 * 1024;

static DATA: ConstStaticCell<[u8; RECORD]> = ConstStaticCell::new([0x5a; RECORD]);

// Key generation and ECDSA need a generator: the footprint images' counter.
#[path = "../../footprint-image/src/opaque_rng.rs"]
mod opaque_rng;
use opaque_rng::OpaqueRng;

/// How much one measured call does: bytes for bulk primitives, operations
/// for public-key ones.
enum Amount {
    Bytes(usize),
    Ops(u32),
}

#[entry]
fn main() -> ! {
    let Some(peripherals) = cortex_m::Peripherals::take() else {
        fail("peripherals taken before main")
    };
    ticks::start(peripherals.SYST);
    let calibration = ticks::calibrate();
    hprintln!(
        "crypto-mcu calibration instructions={} ticks={}",
        calibration.instructions,
        calibration.ticks
    );

    let data = DATA.take();
    let mut provider: Soft<1> = Soft::new();
    let mut rng = OpaqueRng(1);
    let nonce = [7u8; 12];
    let aad = [0x17, 0x03, 0x03, 0x40, 0x11];
    let mut ok = true;

    let key = provider.aead_key(AeadAlgorithm::Aes128Gcm, &[0x42; 16]);
    let mut tag = None;
    ok &= report("aes128gcm-seal", Amount::Bytes(RECORD), || {
        tag = Some(
            key.as_ref()
                .map_err(|e| *e)?
                .seal_detached(&nonce, &aad, data)?,
        );
        Ok(())
    });
    ok &= report("aes128gcm-open", Amount::Bytes(RECORD), || {
        let tag = tag.as_ref().ok_or(CryptoError::BadInput)?;
        key.as_ref()
            .map_err(|e| *e)?
            .open_detached(&nonce, &aad, data, tag.as_ref())
    });
    ok &= report("sha256", Amount::Bytes(RECORD), || {
        black_box(provider.hash(HashAlgorithm::Sha256, &[data])?);
        Ok(())
    });
    ok &= report("sha384", Amount::Bytes(RECORD), || {
        black_box(provider.hash(HashAlgorithm::Sha384, &[data])?);
        Ok(())
    });

    // ECDSA P-256 with a key in the provider's store, as a device signs
    // its TLS CertificateVerify; then the check a server's signature gets.
    let public = provider.generate_key(KeyHandle(0), KeyType::P256, &mut rng);
    let digest = provider.hash(HashAlgorithm::Sha256, &[&data[..64]]);
    let mut signature = [0u8; 72];
    let mut signature_len = 0;
    ok &= report("p256-sign", Amount::Ops(1), || {
        let digest = digest.as_ref().map_err(|e| *e)?;
        signature_len = provider.sign_prehash(
            KeyHandle(0),
            SignatureScheme::EcdsaP256Sha256,
            digest.as_bytes(),
            SignatureFormat::Der,
            &mut signature,
        )?;
        Ok(())
    });
    ok &= report("p256-verify", Amount::Ops(1), || {
        provider.verify(
            SignatureScheme::EcdsaP256Sha256,
            public.as_ref().map_err(|e| *e)?.as_bytes(),
            &data[..64],
            &signature[..signature_len],
        )
    });
    // An ECDHE key share: a fresh key pair and the shared secret with the
    // peer's (here, the signing key's public point).
    ok &= report("p256-ecdh", Amount::Ops(1), || {
        let (secret, _share) = provider.generate_ephemeral(EcdhGroup::Secp256r1, &mut rng)?;
        let peer = public.as_ref().map_err(|e| *e)?;
        black_box(provider.agree(secret, peer.as_bytes())?);
        Ok(())
    });

    if ok {
        debug::exit(debug::EXIT_SUCCESS);
    } else {
        debug::exit(debug::EXIT_FAILURE);
    }
    loop {
        cortex_m::asm::wfi();
    }
}

/// Times `operation` and prints its run line, or its error line; true for
/// a run.
fn report(
    primitive: &str,
    amount: Amount,
    operation: impl FnOnce() -> Result<(), CryptoError>,
) -> bool {
    let before = ticks::now();
    let result = operation();
    let ticks = ticks::now() - before;
    match (result, amount) {
        (Ok(()), Amount::Bytes(bytes)) => {
            hprintln!(
                "crypto-mcu run primitive={} bytes={} ticks={}",
                primitive,
                bytes,
                ticks
            );
            true
        }
        (Ok(()), Amount::Ops(ops)) => {
            hprintln!(
                "crypto-mcu run primitive={} ops={} ticks={}",
                primitive,
                ops,
                ticks
            );
            true
        }
        (Err(error), _) => {
            hprintln!("crypto-mcu error primitive={} {}", primitive, error);
            false
        }
    }
}

/// Reports `why` and ends the run with status 1.
fn fail(why: &str) -> ! {
    hprintln!("crypto-mcu error {}", why);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("crypto-mcu error panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
