//! Async forms of the operations that can take milliseconds: a secure
//! element on I2C signs or agrees in 20-100 ms, during which the executor
//! should run the network stack rather than spin.
//!
//! The traits use native `async fn` (edition 2024). Their futures are not
//! required to be `Send`: embedded executors run tasks on one core, and
//! drivers of a bus borrowed for the operation could not promise it
//! (embedded-io-async makes the same choice).
//!
//! [`Immediate`] turns any sync provider into an async one whose futures
//! finish at their first poll; `soft`'s provider and the simulated secure
//! element also implement the traits directly, so a
//! `Fallback<SlowSe, Soft>` works in async code unchanged.

use rand_core::CryptoRng;

use crate::CryptoError;
use crate::agreement::{EcdhGroup, KeyAgreement, SharedSecret};
use crate::key::{KeyHandle, PublicKey};
use crate::sign::{SignatureFormat, Signer};
use crate::verify::SignatureScheme;

/// [`Signer`], for engines that sign slowly.
#[allow(async_fn_in_trait)] // No `Send` bound wanted; see the module doc.
pub trait AsyncSigner {
    /// As [`Signer::sign_prehash`].
    async fn sign_prehash(
        &self,
        key: KeyHandle,
        scheme: SignatureScheme,
        prehash: &[u8],
        format: SignatureFormat,
        out: &mut [u8],
    ) -> Result<usize, CryptoError>;
}

/// [`KeyAgreement`], for engines that multiply points slowly.
#[allow(async_fn_in_trait)] // No `Send` bound wanted; see the module doc.
pub trait AsyncKeyAgreement {
    type EphemeralSecret;

    /// As [`KeyAgreement::generate_ephemeral`].
    async fn generate_ephemeral<R: CryptoRng + ?Sized>(
        &self,
        group: EcdhGroup,
        rng: &mut R,
    ) -> Result<(Self::EphemeralSecret, PublicKey), CryptoError>;

    /// As [`KeyAgreement::agree`].
    async fn agree(
        &self,
        secret: Self::EphemeralSecret,
        peer_public_key: &[u8],
    ) -> Result<SharedSecret, CryptoError>;
}

/// A sync provider seen through the async traits: each future completes at
/// its first poll.
#[derive(Debug, Clone, Default)]
pub struct Immediate<P>(pub P);

impl<P: Signer> AsyncSigner for Immediate<P> {
    async fn sign_prehash(
        &self,
        key: KeyHandle,
        scheme: SignatureScheme,
        prehash: &[u8],
        format: SignatureFormat,
        out: &mut [u8],
    ) -> Result<usize, CryptoError> {
        self.0.sign_prehash(key, scheme, prehash, format, out)
    }
}

impl<P: KeyAgreement> AsyncKeyAgreement for Immediate<P> {
    type EphemeralSecret = P::EphemeralSecret;

    async fn generate_ephemeral<R: CryptoRng + ?Sized>(
        &self,
        group: EcdhGroup,
        rng: &mut R,
    ) -> Result<(Self::EphemeralSecret, PublicKey), CryptoError> {
        self.0.generate_ephemeral(group, rng)
    }

    async fn agree(
        &self,
        secret: Self::EphemeralSecret,
        peer_public_key: &[u8],
    ) -> Result<SharedSecret, CryptoError> {
        self.0.agree(secret, peer_public_key)
    }
}
