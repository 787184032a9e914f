//! Randomness for a demo, not for a product.
//!
//! TLS needs unpredictable bytes (the ClientHello random, the ECDHE key),
//! and the emulated board has no TRNG: QEMU does not model one on
//! mps2-an386. So the seed here is what the firmware can gather — the
//! build's Unix time, the MAC address, and clock readings at moments whose
//! timing depends on the host (boot, the DHCP lease, the SNTP reply,
//! whose timestamp carries the host clock's microseconds) — hashed into a
//! key, and the stream is SHA-256 over that key and a counter.
//!
//! That is enough to make two runs differ; it is not secret. A real device
//! seeds from its TRNG (or a secure element) and nothing else.

use core::convert::Infallible;

use duet_crypto::hash::{HashAlgorithm, Hasher};
use duet_crypto::soft::Soft;
use rand_core::{TryCryptoRng, TryRng};

/// SHA-256 in counter mode over a seed.
pub struct DemoRng {
    key: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl DemoRng {
    /// A generator keyed with the SHA-256 of `inputs`.
    pub fn new(inputs: &[&[u8]]) -> Self {
        let mut key = [0u8; 32];
        key.copy_from_slice(&sha256(inputs));
        DemoRng {
            key,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    /// A 64-bit seed for the non-cryptographic generators (TCP ports and
    /// sequence numbers, MQTT and DHCP identifiers).
    pub fn seed(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.fill(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn fill(&mut self, dst: &mut [u8]) {
        for byte in dst {
            if self.used == self.block.len() {
                self.counter += 1;
                let digest = sha256(&[&self.key, &self.counter.to_le_bytes()]);
                self.block.copy_from_slice(&digest);
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
    }
}

fn sha256(inputs: &[&[u8]]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // The software provider's SHA-256 does not fail.
    if let Ok(digest) = Soft::<0>::new().hash(HashAlgorithm::Sha256, inputs) {
        out.copy_from_slice(digest.as_bytes());
    }
    out
}

impl TryRng for DemoRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut bytes = [0u8; 4];
        self.fill(&mut bytes);
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.seed())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.fill(dst);
        Ok(())
    }
}

impl TryCryptoRng for DemoRng {}
