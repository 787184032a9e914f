//! A simulated secure element, for tests of the code that uses one (the
//! TLS client's CertificateVerify, device provisioning): it behaves like an
//! ATECC608- or SE050-class chip seen through this crate's traits.
//!
//! - Keys live in numbered slots, generated inside or imported once.
//! - It signs ECDSA P-256 prehashes with a slot key and agrees ECDH P-256
//!   with an ephemeral key held in one volatile register (like the
//!   ATECC608's TempKey), and counts both, so a test can prove that the
//!   element, not software, did the work.
//! - Everything else answers [`CryptoError::Unsupported`], so
//!   `Fallback<SimSe, Soft>` exercises the fallback on every other call.
//! - No key ever leaves: neither [`KeyStore`] nor any method of [`SimSe`]
//!   returns private key bytes, and `Debug` shows only which slots are
//!   used. (That the API has no export path is checked by reading it: there
//!   is nothing to call.)
//!
//! The arithmetic is the `soft` provider's; only the boundary is simulated.

use core::cell::Cell;
use core::fmt;

use rand_core::CryptoRng;

use crate::CryptoError;
use crate::aead::{Aead, AeadAlgorithm};
use crate::agreement::{EcdhGroup, KeyAgreement, SharedSecret};
use crate::asynch::{AsyncKeyAgreement, AsyncSigner};
use crate::hash::{HashAlgorithm, Hasher};
use crate::kdf::KeyDerivation;
use crate::key::{KeyHandle, KeyType, PublicKey};
use crate::never::Never;
use crate::sign::{KeyStore, SignatureFormat, Signer};
use crate::soft::{KeySlots, P256Key, SoftEphemeral, sign_p256};
use crate::verify::{SignatureScheme, SignatureVerifier};

/// A simulated secure element with `SLOTS` key slots.
pub struct SimSe<const SLOTS: usize = 4> {
    slots: KeySlots<SLOTS>,
    /// The volatile ephemeral-key register and the number of the key in
    /// it; generating a new ephemeral key overwrites it, agreeing empties it.
    ephemeral: Cell<Option<(u32, SoftEphemeral)>>,
    ephemerals_made: Cell<u32>,
    signatures: Cell<u32>,
    agreements: Cell<u32>,
}

/// Names the key in the element's ephemeral register when it was made; a
/// later [`KeyAgreement::generate_ephemeral`] replaces that key, and this
/// name then names nothing.
#[derive(Debug, PartialEq, Eq)]
pub struct SimEphemeral {
    number: u32,
}

impl<const SLOTS: usize> SimSe<SLOTS> {
    pub const fn new() -> Self {
        SimSe {
            slots: KeySlots::new(),
            ephemeral: Cell::new(None),
            ephemerals_made: Cell::new(0),
            signatures: Cell::new(0),
            agreements: Cell::new(0),
        }
    }

    /// Signatures made so far.
    pub fn signature_count(&self) -> u32 {
        self.signatures.get()
    }

    /// ECDH agreements made so far.
    pub fn agreement_count(&self) -> u32 {
        self.agreements.get()
    }

    fn key(&self, key: KeyHandle) -> Result<&P256Key, CryptoError> {
        self.slots.key(key)
    }
}

impl<const SLOTS: usize> Default for SimSe<SLOTS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const SLOTS: usize> fmt::Debug for SimSe<SLOTS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SimSe { slots: [")?;
        for (index, used) in self.slots.occupancy().enumerate() {
            let separator = if index == 0 { "" } else { ", " };
            let state = if used { "key" } else { "empty" };
            write!(f, "{separator}{state}")?;
        }
        write!(
            f,
            "], signatures: {}, agreements: {} }}",
            self.signatures.get(),
            self.agreements.get()
        )
    }
}

/// No hashing inside the element.
impl<const SLOTS: usize> Hasher for SimSe<SLOTS> {
    type Context = Never;

    fn hash_context(&self, _algorithm: HashAlgorithm) -> Result<Never, CryptoError> {
        Err(CryptoError::Unsupported)
    }
}

/// HMAC and HKDF through the defaults, which find no hash: unsupported.
impl<const SLOTS: usize> KeyDerivation for SimSe<SLOTS> {}

/// No AEAD inside the element.
impl<const SLOTS: usize> Aead for SimSe<SLOTS> {
    type Key = Never;

    fn aead_key(&self, _algorithm: AeadAlgorithm, _key: &[u8]) -> Result<Never, CryptoError> {
        Err(CryptoError::Unsupported)
    }
}

/// No verification inside the element.
impl<const SLOTS: usize> SignatureVerifier for SimSe<SLOTS> {
    fn verify(
        &self,
        _scheme: SignatureScheme,
        _public_key: &[u8],
        _message: &[u8],
        _signature: &[u8],
    ) -> Result<(), CryptoError> {
        Err(CryptoError::Unsupported)
    }
}

impl<const SLOTS: usize> KeyAgreement for SimSe<SLOTS> {
    type EphemeralSecret = SimEphemeral;

    /// The simulation draws the key from `rng` so tests are reproducible;
    /// a real element would use its own generator.
    fn generate_ephemeral<R: CryptoRng + ?Sized>(
        &self,
        group: EcdhGroup,
        rng: &mut R,
    ) -> Result<(SimEphemeral, PublicKey), CryptoError> {
        // The simulated element, like many real ones, does P-256 only.
        if group != EcdhGroup::Secp256r1 {
            return Err(CryptoError::Unsupported);
        }
        let (secret, public) = SoftEphemeral::generate(group, rng)?;
        let number = self.ephemerals_made.get().wrapping_add(1);
        self.ephemerals_made.set(number);
        self.ephemeral.set(Some((number, secret)));
        Ok((SimEphemeral { number }, public))
    }

    fn agree(
        &self,
        secret: SimEphemeral,
        peer_public_key: &[u8],
    ) -> Result<SharedSecret, CryptoError> {
        match self.ephemeral.take() {
            Some((number, key)) if number == secret.number => {
                let shared = key.agree(peer_public_key)?;
                self.agreements.set(self.agreements.get() + 1);
                Ok(shared)
            }
            other => {
                // A newer key stays where it was.
                self.ephemeral.set(other);
                Err(CryptoError::NoSuchKey)
            }
        }
    }
}

impl<const SLOTS: usize> Signer for SimSe<SLOTS> {
    fn sign_prehash(
        &self,
        key: KeyHandle,
        scheme: SignatureScheme,
        prehash: &[u8],
        format: SignatureFormat,
        out: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let written = sign_p256(self.key(key)?, scheme, prehash, format, out)?;
        self.signatures.set(self.signatures.get() + 1);
        Ok(written)
    }
}

impl<const SLOTS: usize> KeyStore for SimSe<SLOTS> {
    fn generate_key<R: CryptoRng + ?Sized>(
        &mut self,
        key: KeyHandle,
        kind: KeyType,
        rng: &mut R,
    ) -> Result<PublicKey, CryptoError> {
        self.slots.generate_key(key, kind, rng)
    }

    fn import_key(
        &mut self,
        key: KeyHandle,
        kind: KeyType,
        private_key: &[u8],
    ) -> Result<PublicKey, CryptoError> {
        self.slots.import_key(key, kind, private_key)
    }

    fn public_key(&self, key: KeyHandle) -> Result<PublicKey, CryptoError> {
        self.slots.public_key(key)
    }

    fn delete_key(&mut self, key: KeyHandle) -> Result<(), CryptoError> {
        self.slots.delete_key(key)
    }
}

impl<const SLOTS: usize> AsyncSigner for SimSe<SLOTS> {
    async fn sign_prehash(
        &self,
        key: KeyHandle,
        scheme: SignatureScheme,
        prehash: &[u8],
        format: SignatureFormat,
        out: &mut [u8],
    ) -> Result<usize, CryptoError> {
        Signer::sign_prehash(self, key, scheme, prehash, format, out)
    }
}

impl<const SLOTS: usize> AsyncKeyAgreement for SimSe<SLOTS> {
    type EphemeralSecret = SimEphemeral;

    async fn generate_ephemeral<R: CryptoRng + ?Sized>(
        &self,
        group: EcdhGroup,
        rng: &mut R,
    ) -> Result<(SimEphemeral, PublicKey), CryptoError> {
        KeyAgreement::generate_ephemeral(self, group, rng)
    }

    async fn agree(
        &self,
        secret: SimEphemeral,
        peer_public_key: &[u8],
    ) -> Result<SharedSecret, CryptoError> {
        KeyAgreement::agree(self, secret, peer_public_key)
    }
}

#[cfg(test)]
mod tests {
    // The sync traits only: the async ones have the same method names and
    // are called by their paths.
    use super::SimSe;
    use crate::asynch;
    use crate::fallback::{Either, Fallback};
    use crate::soft::Soft;
    use crate::test_util::{TestRng, block_on};
    use crate::{
        Aead, AeadAlgorithm, CryptoError, EcdhGroup, HashAlgorithm, HashContext, Hasher,
        KeyAgreement, KeyDerivation, KeyHandle, KeyStore, KeyType, SignatureFormat,
        SignatureScheme, SignatureVerifier, Signer,
    };

    /// The content a TLS 1.3 client signs in CertificateVerify (RFC 8446
    /// section 4.4.3): 64 spaces, the context string, a zero byte, then the
    /// transcript hash.
    fn certificate_verify_content(transcript_hash: &[u8]) -> std::vec::Vec<u8> {
        let mut content = std::vec![0x20u8; 64];
        content.extend_from_slice(b"TLS 1.3, client CertificateVerify");
        content.push(0);
        content.extend_from_slice(transcript_hash);
        content
    }

    /// The provider a device with a secure element uses: the element first,
    /// software for everything it cannot do.
    fn device() -> Fallback<SimSe, Soft> {
        Fallback::new(SimSe::new(), Soft::new())
    }

    #[test]
    fn a_slot_key_signs_a_certificate_verify_without_leaving_the_element() {
        let mut provider = device();
        let mut rng = TestRng::new(42);
        let slot = KeyHandle(1);
        let public = provider
            .generate_key(slot, KeyType::P256, &mut rng)
            .unwrap();
        // The key is in the element: the software store behind it has none.
        assert_eq!(
            provider.secondary.public_key(slot),
            Err(CryptoError::NoSuchKey)
        );
        assert_eq!(provider.primary.public_key(slot), Ok(public.clone()));

        // The transcript is hashed in software (the element has no hash).
        let mut transcript = provider.hash_context(HashAlgorithm::Sha256).unwrap();
        assert!(matches!(transcript, Either::Secondary(_)));
        transcript.update(b"ClientHello...");
        transcript.update(b"ServerHello...Certificate");
        let content = certificate_verify_content(transcript.current().unwrap().as_bytes());
        assert_eq!(content.len(), 64 + 33 + 1 + 32);
        let prehash = provider.hash(HashAlgorithm::Sha256, &[&content]).unwrap();

        let mut signature = [0u8; crate::sign::MAX_SIGNATURE_LEN];
        let len = provider
            .sign_prehash(
                slot,
                SignatureScheme::EcdsaP256Sha256,
                prehash.as_bytes(),
                SignatureFormat::Der,
                &mut signature,
            )
            .unwrap();
        assert_eq!(provider.primary.signature_count(), 1);

        // The server's side: the soft verifier, the slot's public key, the
        // whole content (it hashes it itself).
        let verifier: Soft<0> = Soft::new();
        assert_eq!(
            verifier.verify(
                SignatureScheme::EcdsaP256Sha256,
                public.as_bytes(),
                &content,
                &signature[..len]
            ),
            Ok(())
        );
        let mut other = content.clone();
        other[100] ^= 1;
        assert_eq!(
            verifier.verify(
                SignatureScheme::EcdsaP256Sha256,
                public.as_bytes(),
                &other,
                &signature[..len]
            ),
            Err(CryptoError::InvalidSignature)
        );
    }

    #[test]
    fn the_same_through_the_async_traits() {
        let mut provider = device();
        let mut rng = TestRng::new(43);
        let public = provider
            .generate_key(KeyHandle(0), KeyType::P256, &mut rng)
            .unwrap();
        let content = certificate_verify_content(&[0xab; 32]);
        let prehash = provider.hash(HashAlgorithm::Sha256, &[&content]).unwrap();
        let mut signature = [0u8; 64];
        let len = block_on(asynch::AsyncSigner::sign_prehash(
            &provider,
            KeyHandle(0),
            SignatureScheme::EcdsaP256Sha256,
            prehash.as_bytes(),
            SignatureFormat::Raw,
            &mut signature,
        ))
        .unwrap();
        assert_eq!(len, 64);
        assert_eq!(provider.primary.signature_count(), 1);
        // Raw r || s, re-encoded in DER for the verifier.
        let der = p256::ecdsa::Signature::from_slice(&signature)
            .unwrap()
            .to_der();
        let verifier: Soft<0> = Soft::new();
        assert_eq!(
            verifier.verify(
                SignatureScheme::EcdsaP256Sha256,
                public.as_bytes(),
                &content,
                der.as_bytes()
            ),
            Ok(())
        );
    }

    #[test]
    fn ecdh_runs_in_the_element_and_each_ephemeral_key_once() {
        let provider = device();
        let software: Soft<0> = Soft::new();
        let mut rng = TestRng::new(44);
        let (secret, public) = provider
            .generate_ephemeral(EcdhGroup::Secp256r1, &mut rng)
            .unwrap();
        assert!(matches!(secret, Either::Primary(_)));
        let (peer, peer_public) = software
            .generate_ephemeral(EcdhGroup::Secp256r1, &mut rng)
            .unwrap();
        let ours = provider.agree(secret, peer_public.as_bytes()).unwrap();
        let theirs = software.agree(peer, public.as_bytes()).unwrap();
        assert_eq!(ours.as_bytes(), theirs.as_bytes());
        assert_eq!(provider.primary.agreement_count(), 1);

        // A replaced ephemeral key names nothing; the newer one still works.
        let element = &provider.primary;
        let (old, _) = element
            .generate_ephemeral(EcdhGroup::Secp256r1, &mut rng)
            .unwrap();
        let (new, _) = element
            .generate_ephemeral(EcdhGroup::Secp256r1, &mut rng)
            .unwrap();
        assert_eq!(
            element.agree(old, peer_public.as_bytes()).unwrap_err(),
            CryptoError::NoSuchKey
        );
        // A bad peer point fails without counting, and uses up the key.
        assert_eq!(
            element.agree(new, &[4; 65]).unwrap_err(),
            CryptoError::InvalidKey
        );
        assert_eq!(element.agreement_count(), 1);

        let (secret, public) = block_on(asynch::AsyncKeyAgreement::generate_ephemeral(
            &provider,
            EcdhGroup::Secp256r1,
            &mut rng,
        ))
        .unwrap();
        let (peer, peer_public) = software
            .generate_ephemeral(EcdhGroup::Secp256r1, &mut rng)
            .unwrap();
        let ours = block_on(asynch::AsyncKeyAgreement::agree(
            &provider,
            secret,
            peer_public.as_bytes(),
        ))
        .unwrap();
        let theirs = software.agree(peer, public.as_bytes()).unwrap();
        assert_eq!(ours.as_bytes(), theirs.as_bytes());
        assert_eq!(provider.primary.agreement_count(), 2);
    }

    #[test]
    fn slots_hold_imported_keys_and_say_when_they_are_empty() {
        let mut element: SimSe<2> = SimSe::new();
        let scalar = crate::test_util::hex(
            "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721",
        );
        let public = element
            .import_key(KeyHandle(0), KeyType::P256, &scalar)
            .unwrap();
        assert_eq!(element.public_key(KeyHandle(0)), Ok(public));
        assert_eq!(
            element.public_key(KeyHandle(1)),
            Err(CryptoError::NoSuchKey)
        );
        assert_eq!(
            element.import_key(KeyHandle(2), KeyType::P256, &scalar),
            Err(CryptoError::NoSuchKey)
        );
        let mut out = [0u8; 72];
        assert_eq!(
            element.sign_prehash(
                KeyHandle(1),
                SignatureScheme::EcdsaP256Sha256,
                &[0; 32],
                SignatureFormat::Der,
                &mut out
            ),
            Err(CryptoError::NoSuchKey)
        );
        assert_eq!(element.signature_count(), 0);
        element.delete_key(KeyHandle(0)).unwrap();
        assert_eq!(
            element.public_key(KeyHandle(0)),
            Err(CryptoError::NoSuchKey)
        );
        // Debug names the slots' states, never their contents.
        element
            .import_key(KeyHandle(1), KeyType::P256, &scalar)
            .unwrap();
        assert_eq!(
            std::format!("{element:?}"),
            "SimSe { slots: [empty, key], signatures: 0, agreements: 0 }"
        );
    }

    #[test]
    fn everything_else_is_unsupported() {
        let element: SimSe = SimSe::new();
        assert_eq!(
            element.hash_context(HashAlgorithm::Sha256).err(),
            Some(CryptoError::Unsupported)
        );
        assert_eq!(
            element.hmac(HashAlgorithm::Sha256, b"key", &[b"data"]),
            Err(CryptoError::Unsupported)
        );
        assert_eq!(
            element.hkdf_expand(HashAlgorithm::Sha256, &[0; 32], &[], &mut [0; 16]),
            Err(CryptoError::Unsupported)
        );
        assert_eq!(
            element.aead_key(AeadAlgorithm::Aes128Gcm, &[0; 16]).err(),
            Some(CryptoError::Unsupported)
        );
        assert_eq!(
            element.verify(SignatureScheme::EcdsaP256Sha256, &[4; 65], b"", &[]),
            Err(CryptoError::Unsupported)
        );
    }
}
