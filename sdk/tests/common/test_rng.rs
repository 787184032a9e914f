//! Reproducible randomness for tests that drive the TLS engine.

use duet::crypto::soft::Soft;
use duet::crypto::{HashAlgorithm, Hasher};
use rand_core::{TryCryptoRng, TryRng};

/// SHA-256 of a seed and a counter: reproducible randomness for the test.
pub struct TestRng(pub u64, pub u64);

impl TryRng for TestRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dest.chunks_mut(32) {
            self.1 += 1;
            let seed = [self.0.to_le_bytes(), self.1.to_le_bytes()].concat();
            let digest = Soft::<0>::new()
                .hash(HashAlgorithm::Sha256, &[&seed])
                .unwrap();
            chunk.copy_from_slice(&digest.as_bytes()[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for TestRng {}
