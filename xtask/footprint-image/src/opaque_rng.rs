//! Randomness the optimiser cannot predict: a counter through a black box.
//! A device uses its TRNG here; the generator's own code is not Duet's, and
//! what it yields does not change the work measured (key generation and
//! ECDSA are constant-time). Shared by the footprint images that make keys
//! and by the `crypto-mcu` bench firmware (`xtask/bench-mcu`).

use core::convert::Infallible;
use core::hint::black_box;

use rand_core::{TryCryptoRng, TryRng};

pub struct OpaqueRng(pub u64);

impl TryRng for OpaqueRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.try_next_u64()? as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = black_box(self.0.wrapping_add(0x9e37_79b9_7f4a_7c15));
        Ok(self.0)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let word = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for OpaqueRng {}
