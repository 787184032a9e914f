//! Layered providers: a hardware provider first, software behind it.
//!
//! `Fallback<Hw, Soft>` asks `Hw` for every operation and, when it answers
//! [`CryptoError::Unsupported`], asks `Soft` instead. Any other answer,
//! success or error, is final: a secure element that has no key in a slot
//! says [`CryptoError::NoSuchKey`], and that is not a reason to sign with a
//! software key of the same number. Key handles therefore name the
//! primary's slots for the operations the primary supports.
//!
//! Objects made by one side (hash contexts, AEAD keys, ephemeral secrets)
//! come back as [`Either`] and keep going to the side that made them.

use rand_core::CryptoRng;

use crate::CryptoError;
use crate::aead::{Aead, AeadAlgorithm, AeadKey, Tag};
use crate::agreement::{EcdhGroup, KeyAgreement, SharedSecret};
use crate::asynch::{AsyncKeyAgreement, AsyncSigner};
use crate::hash::{Digest, HashAlgorithm, HashContext, Hasher};
use crate::kdf::KeyDerivation;
use crate::key::{KeyHandle, KeyType, PublicKey};
use crate::sign::{KeyStore, SignatureFormat, Signer};
use crate::verify::{SignatureScheme, SignatureVerifier};

/// Asks `primary` first and `secondary` for what `primary` does not support.
#[derive(Debug, Clone, Default)]
pub struct Fallback<P, S> {
    pub primary: P,
    pub secondary: S,
}

impl<P, S> Fallback<P, S> {
    pub const fn new(primary: P, secondary: S) -> Self {
        Fallback { primary, secondary }
    }
}

/// An object made by one side of a [`Fallback`].
#[derive(Debug, Clone)]
pub enum Either<P, S> {
    Primary(P),
    Secondary(S),
}

/// `first`, unless it is [`CryptoError::Unsupported`]; then `second()`.
fn or_else<T>(
    first: Result<T, CryptoError>,
    second: impl FnOnce() -> Result<T, CryptoError>,
) -> Result<T, CryptoError> {
    match first {
        Err(CryptoError::Unsupported) => second(),
        other => other,
    }
}

impl<P: HashContext, S: HashContext> HashContext for Either<P, S> {
    fn algorithm(&self) -> HashAlgorithm {
        match self {
            Either::Primary(context) => context.algorithm(),
            Either::Secondary(context) => context.algorithm(),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Either::Primary(context) => context.update(data),
            Either::Secondary(context) => context.update(data),
        }
    }

    fn finish(self) -> Result<Digest, CryptoError> {
        match self {
            Either::Primary(context) => context.finish(),
            Either::Secondary(context) => context.finish(),
        }
    }
}

impl<P: Hasher, S: Hasher> Hasher for Fallback<P, S> {
    type Context = Either<P::Context, S::Context>;

    fn hash_context(&self, algorithm: HashAlgorithm) -> Result<Self::Context, CryptoError> {
        or_else(
            self.primary.hash_context(algorithm).map(Either::Primary),
            || {
                self.secondary
                    .hash_context(algorithm)
                    .map(Either::Secondary)
            },
        )
    }

    fn hash(&self, algorithm: HashAlgorithm, parts: &[&[u8]]) -> Result<Digest, CryptoError> {
        or_else(self.primary.hash(algorithm, parts), || {
            self.secondary.hash(algorithm, parts)
        })
    }
}

impl<P: KeyDerivation, S: KeyDerivation> KeyDerivation for Fallback<P, S> {
    fn hmac(
        &self,
        algorithm: HashAlgorithm,
        key: &[u8],
        message: &[&[u8]],
    ) -> Result<Digest, CryptoError> {
        or_else(self.primary.hmac(algorithm, key, message), || {
            self.secondary.hmac(algorithm, key, message)
        })
    }

    fn hkdf_extract(
        &self,
        algorithm: HashAlgorithm,
        salt: &[u8],
        ikm: &[u8],
    ) -> Result<Digest, CryptoError> {
        or_else(self.primary.hkdf_extract(algorithm, salt, ikm), || {
            self.secondary.hkdf_extract(algorithm, salt, ikm)
        })
    }

    fn hkdf_expand(
        &self,
        algorithm: HashAlgorithm,
        prk: &[u8],
        info: &[&[u8]],
        okm: &mut [u8],
    ) -> Result<(), CryptoError> {
        match self.primary.hkdf_expand(algorithm, prk, info, okm) {
            Err(CryptoError::Unsupported) => self.secondary.hkdf_expand(algorithm, prk, info, okm),
            other => other,
        }
    }

    fn tls12_prf(
        &self,
        algorithm: HashAlgorithm,
        secret: &[u8],
        label: &[u8],
        seed: &[&[u8]],
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        match self.primary.tls12_prf(algorithm, secret, label, seed, out) {
            Err(CryptoError::Unsupported) => self
                .secondary
                .tls12_prf(algorithm, secret, label, seed, out),
            other => other,
        }
    }
}

impl<P: AeadKey, S: AeadKey> AeadKey for Either<P, S> {
    fn algorithm(&self) -> AeadAlgorithm {
        match self {
            Either::Primary(key) => key.algorithm(),
            Either::Secondary(key) => key.algorithm(),
        }
    }

    fn seal_detached(
        &self,
        nonce: &[u8],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<Tag, CryptoError> {
        match self {
            Either::Primary(key) => key.seal_detached(nonce, aad, in_out),
            Either::Secondary(key) => key.seal_detached(nonce, aad, in_out),
        }
    }

    fn open_detached(
        &self,
        nonce: &[u8],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        match self {
            Either::Primary(key) => key.open_detached(nonce, aad, in_out, tag),
            Either::Secondary(key) => key.open_detached(nonce, aad, in_out, tag),
        }
    }
}

impl<P: Aead, S: Aead> Aead for Fallback<P, S> {
    type Key = Either<P::Key, S::Key>;

    fn aead_key(&self, algorithm: AeadAlgorithm, key: &[u8]) -> Result<Self::Key, CryptoError> {
        or_else(
            self.primary.aead_key(algorithm, key).map(Either::Primary),
            || {
                self.secondary
                    .aead_key(algorithm, key)
                    .map(Either::Secondary)
            },
        )
    }
}

impl<P: KeyAgreement, S: KeyAgreement> KeyAgreement for Fallback<P, S> {
    type EphemeralSecret = Either<P::EphemeralSecret, S::EphemeralSecret>;

    fn generate_ephemeral<R: CryptoRng + ?Sized>(
        &self,
        group: EcdhGroup,
        rng: &mut R,
    ) -> Result<(Self::EphemeralSecret, PublicKey), CryptoError> {
        match self.primary.generate_ephemeral(group, rng) {
            Ok((secret, public)) => Ok((Either::Primary(secret), public)),
            Err(CryptoError::Unsupported) => {
                let (secret, public) = self.secondary.generate_ephemeral(group, rng)?;
                Ok((Either::Secondary(secret), public))
            }
            Err(error) => Err(error),
        }
    }

    fn agree(
        &self,
        secret: Self::EphemeralSecret,
        peer_public_key: &[u8],
    ) -> Result<SharedSecret, CryptoError> {
        match secret {
            Either::Primary(secret) => self.primary.agree(secret, peer_public_key),
            Either::Secondary(secret) => self.secondary.agree(secret, peer_public_key),
        }
    }
}

impl<P: Signer, S: Signer> Signer for Fallback<P, S> {
    fn sign_prehash(
        &self,
        key: KeyHandle,
        scheme: SignatureScheme,
        prehash: &[u8],
        format: SignatureFormat,
        out: &mut [u8],
    ) -> Result<usize, CryptoError> {
        match self.primary.sign_prehash(key, scheme, prehash, format, out) {
            Err(CryptoError::Unsupported) => self
                .secondary
                .sign_prehash(key, scheme, prehash, format, out),
            other => other,
        }
    }
}

impl<P: KeyStore, S: KeyStore> KeyStore for Fallback<P, S> {
    fn generate_key<R: CryptoRng + ?Sized>(
        &mut self,
        key: KeyHandle,
        kind: KeyType,
        rng: &mut R,
    ) -> Result<PublicKey, CryptoError> {
        match self.primary.generate_key(key, kind, rng) {
            Err(CryptoError::Unsupported) => self.secondary.generate_key(key, kind, rng),
            other => other,
        }
    }

    fn import_key(
        &mut self,
        key: KeyHandle,
        kind: KeyType,
        private_key: &[u8],
    ) -> Result<PublicKey, CryptoError> {
        match self.primary.import_key(key, kind, private_key) {
            Err(CryptoError::Unsupported) => self.secondary.import_key(key, kind, private_key),
            other => other,
        }
    }

    fn public_key(&self, key: KeyHandle) -> Result<PublicKey, CryptoError> {
        or_else(self.primary.public_key(key), || {
            self.secondary.public_key(key)
        })
    }

    fn delete_key(&mut self, key: KeyHandle) -> Result<(), CryptoError> {
        match self.primary.delete_key(key) {
            Err(CryptoError::Unsupported) => self.secondary.delete_key(key),
            other => other,
        }
    }
}

impl<P: SignatureVerifier, S: SignatureVerifier> SignatureVerifier for Fallback<P, S> {
    fn verify(
        &self,
        scheme: SignatureScheme,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        or_else(
            self.primary.verify(scheme, public_key, message, signature),
            || {
                self.secondary
                    .verify(scheme, public_key, message, signature)
            },
        )
    }
}

impl<P: AsyncSigner, S: AsyncSigner> AsyncSigner for Fallback<P, S> {
    async fn sign_prehash(
        &self,
        key: KeyHandle,
        scheme: SignatureScheme,
        prehash: &[u8],
        format: SignatureFormat,
        out: &mut [u8],
    ) -> Result<usize, CryptoError> {
        match self
            .primary
            .sign_prehash(key, scheme, prehash, format, out)
            .await
        {
            Err(CryptoError::Unsupported) => {
                self.secondary
                    .sign_prehash(key, scheme, prehash, format, out)
                    .await
            }
            other => other,
        }
    }
}

impl<P: AsyncKeyAgreement, S: AsyncKeyAgreement> AsyncKeyAgreement for Fallback<P, S> {
    type EphemeralSecret = Either<P::EphemeralSecret, S::EphemeralSecret>;

    async fn generate_ephemeral<R: CryptoRng + ?Sized>(
        &self,
        group: EcdhGroup,
        rng: &mut R,
    ) -> Result<(Self::EphemeralSecret, PublicKey), CryptoError> {
        match self.primary.generate_ephemeral(group, rng).await {
            Ok((secret, public)) => Ok((Either::Primary(secret), public)),
            Err(CryptoError::Unsupported) => {
                let (secret, public) = self.secondary.generate_ephemeral(group, rng).await?;
                Ok((Either::Secondary(secret), public))
            }
            Err(error) => Err(error),
        }
    }

    async fn agree(
        &self,
        secret: Self::EphemeralSecret,
        peer_public_key: &[u8],
    ) -> Result<SharedSecret, CryptoError> {
        match secret {
            Either::Primary(secret) => self.primary.agree(secret, peer_public_key).await,
            Either::Secondary(secret) => self.secondary.agree(secret, peer_public_key).await,
        }
    }
}

#[cfg(all(test, feature = "soft"))]
mod tests {
    use core::future::Future;
    use core::pin::Pin;
    use core::task::{Context, Poll};

    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;

    use super::*;
    use crate::asynch::Immediate;
    use crate::sim::SimSe;
    use crate::soft::Soft;
    use crate::test_util::{TestRng, block_on};

    fn device() -> Fallback<SimSe, Soft> {
        Fallback::new(SimSe::new(), Soft::new())
    }

    #[test]
    fn what_the_element_lacks_is_done_in_software_with_the_same_results() {
        let provider = device();
        let soft: Soft<0> = Soft::new();
        assert_eq!(
            provider.hash(HashAlgorithm::Sha384, &[b"abc"]),
            soft.hash(HashAlgorithm::Sha384, &[b"abc"])
        );
        assert_eq!(
            provider.hmac(HashAlgorithm::Sha256, b"key", &[b"data"]),
            soft.hmac(HashAlgorithm::Sha256, b"key", &[b"data"])
        );
        assert_eq!(
            provider.hkdf_extract(HashAlgorithm::Sha256, b"salt", b"ikm"),
            soft.hkdf_extract(HashAlgorithm::Sha256, b"salt", b"ikm")
        );
        let (mut ours, mut theirs) = ([0u8; 40], [0u8; 40]);
        provider
            .hkdf_expand(HashAlgorithm::Sha256, &[1; 32], &[b"info"], &mut ours)
            .unwrap();
        soft.hkdf_expand(HashAlgorithm::Sha256, &[1; 32], &[b"info"], &mut theirs)
            .unwrap();
        assert_eq!(ours, theirs);
        provider
            .tls12_prf(HashAlgorithm::Sha256, b"s", b"label", &[b"seed"], &mut ours)
            .unwrap();
        soft.tls12_prf(
            HashAlgorithm::Sha256,
            b"s",
            b"label",
            &[b"seed"],
            &mut theirs,
        )
        .unwrap();
        assert_eq!(ours, theirs);

        let key = provider
            .aead_key(AeadAlgorithm::Aes128Gcm, &[3; 16])
            .unwrap();
        assert!(matches!(key, Either::Secondary(_)));
        assert_eq!(key.algorithm(), AeadAlgorithm::Aes128Gcm);
        let mut record = *b"sixteen byte msg\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        let sealed = key
            .seal_in_place(&[9; 12], b"aad", &mut record, 16)
            .unwrap();
        assert_eq!(
            key.open_in_place(&[9; 12], b"aad", &mut record[..sealed]),
            Ok(16)
        );
        assert_eq!(&record[..16], b"sixteen byte msg");

        // Errors other than Unsupported come back as they are.
        assert_eq!(
            provider.aead_key(AeadAlgorithm::Aes128Gcm, &[3; 15]).err(),
            Some(CryptoError::InvalidKey)
        );
        assert_eq!(
            provider.verify(SignatureScheme::EcdsaP256Sha256, &[4; 65], b"m", &[0x30, 0]),
            Err(CryptoError::InvalidKey)
        );
    }

    #[test]
    fn a_missing_key_in_the_element_is_not_replaced_by_a_software_key() {
        let mut provider = device();
        let mut rng = TestRng::new(5);
        provider
            .secondary
            .generate_key(KeyHandle(0), KeyType::P256, &mut rng)
            .unwrap();
        let mut out = [0u8; 72];
        assert_eq!(
            Signer::sign_prehash(
                &provider,
                KeyHandle(0),
                SignatureScheme::EcdsaP256Sha256,
                &[7; 32],
                SignatureFormat::Der,
                &mut out
            ),
            Err(CryptoError::NoSuchKey)
        );
        assert_eq!(
            provider.public_key(KeyHandle(0)),
            Err(CryptoError::NoSuchKey)
        );
        provider
            .import_key(KeyHandle(0), KeyType::P256, &[0x11; 32])
            .unwrap();
        assert_eq!(
            provider.primary.public_key(KeyHandle(0)),
            provider.public_key(KeyHandle(0))
        );
        provider.delete_key(KeyHandle(0)).unwrap();
        assert_eq!(
            provider.primary.public_key(KeyHandle(0)),
            Err(CryptoError::NoSuchKey)
        );
        // The software key is still there: deleting went to the element.
        assert!(provider.secondary.public_key(KeyHandle(0)).is_ok());
    }

    /// A future that waits once before finishing, as a bus transfer would.
    struct YieldOnce(bool);

    impl Future for YieldOnce {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    /// An element reachable only asynchronously that signs but has no ECDH.
    struct SlowElement {
        inner: SimSe,
    }

    impl AsyncSigner for SlowElement {
        async fn sign_prehash(
            &self,
            key: KeyHandle,
            scheme: SignatureScheme,
            prehash: &[u8],
            format: SignatureFormat,
            out: &mut [u8],
        ) -> Result<usize, CryptoError> {
            YieldOnce(false).await;
            Signer::sign_prehash(&self.inner, key, scheme, prehash, format, out)
        }
    }

    impl AsyncKeyAgreement for SlowElement {
        type EphemeralSecret = ();

        async fn generate_ephemeral<R: CryptoRng + ?Sized>(
            &self,
            _group: EcdhGroup,
            _rng: &mut R,
        ) -> Result<((), PublicKey), CryptoError> {
            YieldOnce(false).await;
            Err(CryptoError::Unsupported)
        }

        async fn agree(&self, _secret: (), _peer: &[u8]) -> Result<SharedSecret, CryptoError> {
            Err(CryptoError::Unsupported)
        }
    }

    #[test]
    fn an_async_only_element_falls_back_to_software_in_async_code() {
        let mut element = SimSe::new();
        let mut rng = TestRng::new(6);
        let public = element
            .generate_key(KeyHandle(2), KeyType::P256, &mut rng)
            .unwrap();
        let provider = Fallback::new(SlowElement { inner: element }, Soft::<0>::new());
        let mut signature = [0u8; 72];
        let len = block_on(AsyncSigner::sign_prehash(
            &provider,
            KeyHandle(2),
            SignatureScheme::EcdsaP256Sha256,
            &[0x5a; 32],
            SignatureFormat::Der,
            &mut signature,
        ))
        .unwrap();
        assert_eq!(provider.primary.inner.signature_count(), 1);
        let der = p256::ecdsa::Signature::from_der(&signature[..len]).unwrap();
        let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(public.as_bytes()).unwrap();
        assert!(key.verify_prehash(&[0x5a; 32], &der).is_ok());

        let (secret, ours_public) = block_on(AsyncKeyAgreement::generate_ephemeral(
            &provider,
            EcdhGroup::Secp256r1,
            &mut rng,
        ))
        .unwrap();
        assert!(matches!(secret, Either::Secondary(_)));
        let peer = Immediate(Soft::<0>::new());
        let (peer_secret, peer_public) = block_on(AsyncKeyAgreement::generate_ephemeral(
            &peer,
            EcdhGroup::Secp256r1,
            &mut rng,
        ))
        .unwrap();
        let ours = block_on(AsyncKeyAgreement::agree(
            &provider,
            secret,
            peer_public.as_bytes(),
        ))
        .unwrap();
        let theirs = block_on(AsyncKeyAgreement::agree(
            &peer,
            peer_secret,
            ours_public.as_bytes(),
        ))
        .unwrap();
        assert_eq!(ours.as_bytes(), theirs.as_bytes());
    }

    #[test]
    fn immediate_makes_a_sync_signer_async() {
        let mut soft: Soft = Soft::new();
        let mut rng = TestRng::new(8);
        soft.generate_key(KeyHandle(3), KeyType::P256, &mut rng)
            .unwrap();
        let wrapped = Immediate(soft);
        let mut sync_out = [0u8; 64];
        let mut async_out = [0u8; 64];
        let sync_len = Signer::sign_prehash(
            &wrapped.0,
            KeyHandle(3),
            SignatureScheme::EcdsaP256Sha256,
            &[1; 32],
            SignatureFormat::Raw,
            &mut sync_out,
        )
        .unwrap();
        let async_len = block_on(AsyncSigner::sign_prehash(
            &wrapped,
            KeyHandle(3),
            SignatureScheme::EcdsaP256Sha256,
            &[1; 32],
            SignatureFormat::Raw,
            &mut async_out,
        ))
        .unwrap();
        // RFC 6979: the same key and hash give the same signature.
        assert_eq!(sync_out[..sync_len], async_out[..async_len]);
    }
}
