//! The application's randomness: SHA-256 in counter mode over a seed.
//!
//! TLS needs unpredictable bytes (the ClientHello random, the ECDHE key),
//! the stack and the clients need seeds for ports, sequence numbers and
//! identifiers. They all come from one [`HashRng`], keyed by the board with
//! the SHA-256 of what it has:
//!
//! - a real board, its TRNG's output (the STM32H7's RNG peripheral; the
//!   RP2040's ring oscillator bit, sampled);
//! - the emulated board, which has no TRNG (QEMU does not model one on
//!   mps2-an386), what it can gather: the build's Unix time, the MAC
//!   address and a clock reading at boot. That is enough to make two runs
//!   differ; it is not secret.
//!
//! After SNTP the run rekeys with its own output, the wall clock and the
//! uptime (whose microseconds depend on the network's timing), which adds
//! a little to a weak seed and takes nothing from a strong one.

use core::convert::Infallible;

use duet_crypto::hash::{HashAlgorithm, Hasher};
use duet_crypto::soft::Soft;
use rand_core::{TryCryptoRng, TryRng};

/// SHA-256 in counter mode over a seed.
pub struct HashRng {
    key: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl HashRng {
    /// A generator keyed with the SHA-256 of `inputs`.
    pub fn new(inputs: &[&[u8]]) -> Self {
        let mut key = [0u8; 32];
        key.copy_from_slice(&sha256(inputs));
        HashRng {
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

/// Shows how far the stream has come, never the key.
impl core::fmt::Debug for HashRng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HashRng")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl TryRng for HashRng {
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

impl TryCryptoRng for HashRng {}
