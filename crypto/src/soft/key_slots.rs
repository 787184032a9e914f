//! P-256 private keys in numbered slots, kept in RAM and zeroized on drop:
//! the key store of the software provider and of the simulated secure
//! element alike. No method returns a key's bytes.

use rand_core::CryptoRng;

use super::{P256Key, generate_p256, import_p256, p256_public_key};
use crate::CryptoError;
use crate::key::{KeyHandle, KeyType, PublicKey};
use crate::sign::KeyStore;

/// `SLOTS` key slots.
pub(crate) struct KeySlots<const SLOTS: usize> {
    slots: [Option<P256Key>; SLOTS],
}

impl<const SLOTS: usize> KeySlots<SLOTS> {
    pub const fn new() -> Self {
        Self {
            slots: [const { None }; SLOTS],
        }
    }

    /// The key in slot `key`.
    pub fn key(&self, key: KeyHandle) -> Result<&P256Key, CryptoError> {
        self.slots
            .get(usize::from(key.0))
            .and_then(Option::as_ref)
            .ok_or(CryptoError::NoSuchKey)
    }

    fn slot_mut(&mut self, key: KeyHandle) -> Result<&mut Option<P256Key>, CryptoError> {
        self.slots
            .get_mut(usize::from(key.0))
            .ok_or(CryptoError::NoSuchKey)
    }

    /// Which slots hold a key, for `Debug` output that shows no key.
    pub fn occupancy(&self) -> impl Iterator<Item = bool> + '_ {
        self.slots.iter().map(Option::is_some)
    }
}

impl<const SLOTS: usize> KeyStore for KeySlots<SLOTS> {
    fn generate_key<R: CryptoRng + ?Sized>(
        &mut self,
        key: KeyHandle,
        kind: KeyType,
        rng: &mut R,
    ) -> Result<PublicKey, CryptoError> {
        let slot = self.slot_mut(key)?;
        match kind {
            KeyType::P256 => {
                let private = generate_p256(rng);
                let public = p256_public_key(&private)?;
                *slot = Some(private);
                Ok(public)
            }
        }
    }

    fn import_key(
        &mut self,
        key: KeyHandle,
        kind: KeyType,
        private_key: &[u8],
    ) -> Result<PublicKey, CryptoError> {
        let slot = self.slot_mut(key)?;
        match kind {
            KeyType::P256 => {
                let private = import_p256(private_key)?;
                let public = p256_public_key(&private)?;
                *slot = Some(private);
                Ok(public)
            }
        }
    }

    fn public_key(&self, key: KeyHandle) -> Result<PublicKey, CryptoError> {
        p256_public_key(self.key(key)?)
    }

    fn delete_key(&mut self, key: KeyHandle) -> Result<(), CryptoError> {
        // Dropping the key zeroizes it.
        self.slot_mut(key)?.take();
        Ok(())
    }
}
