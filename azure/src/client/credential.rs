//! How a device proves who it is to IoT Hub or DPS, and the connector that
//! signs a fresh SAS token for every connection it opens.

use duet::connector::{Connector, connect_through_slot};
use duet_crypto::hash::Hasher;

use crate::AzureError;
use crate::sas::{self, Resource};

/// A device's credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// A symmetric key, base64 (the device's own, or for DPS the
    /// enrollment's — derive a group member's with
    /// [`sas::derive_device_key`]). Each connection carries a SAS token
    /// signed with it.
    SymmetricKey(&'a str),
    /// An X.509 certificate, presented in the TLS handshake (set it in the
    /// TLS connector's `client_certificate`); no password is sent.
    X509,
}

/// The longest SAS token the connector holds: a 128-byte host name and
/// device id, URL-encoded, with the signature and expiry.
pub const MAX_SAS_TOKEN: usize = 384;

/// Opens what `inner` opens, and signs a SAS token for the CONNECT that
/// follows, valid for `lifetime_secs` from the current Unix time.
pub struct SasConnector<'a, C, H: ?Sized, W> {
    inner: C,
    hasher: &'a H,
    unix_secs: W,
    resource: Resource<'a>,
    /// `skn`: `registration` for DPS, none for a hub device.
    key_name: Option<&'a str>,
    credential: Credential<'a>,
    lifetime_secs: u32,
    token: [u8; MAX_SAS_TOKEN],
    token_len: usize,
    last_error: Option<AzureError>,
}

impl<'a, C: Connector, H: Hasher + ?Sized, W: Fn() -> u64> SasConnector<'a, C, H, W> {
    pub fn new(
        inner: C,
        hasher: &'a H,
        unix_secs: W,
        resource: Resource<'a>,
        key_name: Option<&'a str>,
        credential: Credential<'a>,
        lifetime_secs: u32,
    ) -> Self {
        SasConnector {
            inner,
            hasher,
            unix_secs,
            resource,
            key_name,
            credential,
            lifetime_secs,
            token: [0; MAX_SAS_TOKEN],
            token_len: 0,
            last_error: None,
        }
    }

    /// Why the last token could not be made (a key that is not base64, a
    /// token longer than [`MAX_SAS_TOKEN`]).
    pub fn last_error(&self) -> Option<AzureError> {
        self.last_error
    }

    /// The connector below (TLS), for its diagnostics.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// The connector below (TLS), to change what the next connection
    /// opens.
    pub fn inner_mut(&mut self) -> &mut C {
        &mut self.inner
    }

    /// The current Unix time, as the tokens are signed with.
    pub fn unix_secs(&self) -> u64 {
        (self.unix_secs)()
    }

    /// Whether connections carry a token that expires.
    pub fn signs_tokens(&self) -> bool {
        matches!(self.credential, Credential::SymmetricKey(_))
    }

    // Out of line: inlined into the client's connect path, the signature's
    // working memory (HMAC state, the decoded key) stayed in the frame that
    // is live through the whole TLS handshake.
    #[inline(never)]
    fn sign(&mut self) -> Result<(), AzureError> {
        if let Credential::SymmetricKey(key) = self.credential {
            let expiry = (self.unix_secs)() + u64::from(self.lifetime_secs);
            self.token_len = sas::token(
                self.hasher,
                &self.resource,
                key,
                expiry,
                self.key_name,
                &mut self.token,
            )?;
        }
        Ok(())
    }
}

impl<C: Connector, H: Hasher + ?Sized, W: Fn() -> u64> Connector for SasConnector<'_, C, H, W> {
    type Transport = C::Transport;

    async fn connect(&mut self) -> Result<C::Transport, embedded_io::ErrorKind> {
        connect_through_slot(self).await
    }

    async fn connect_into(
        &mut self,
        slot: &mut Option<C::Transport>,
    ) -> Result<(), embedded_io::ErrorKind> {
        if let Err(error) = self.sign() {
            self.last_error = Some(error);
            return Err(embedded_io::ErrorKind::InvalidInput);
        }
        self.inner.connect_into(slot).await
    }

    fn release(&mut self, transport: C::Transport) {
        self.inner.release(transport);
    }

    fn release_slot(&mut self, slot: &mut Option<C::Transport>) {
        self.inner.release_slot(slot);
    }

    fn password(&self) -> Option<&[u8]> {
        self.signs_tokens().then(|| &self.token[..self.token_len])
    }
}

impl<C, H: ?Sized, W> core::fmt::Debug for SasConnector<'_, C, H, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SasConnector")
            .field("resource", &self.resource)
            .field("lifetime_secs", &self.lifetime_secs)
            .field("last_error", &self.last_error)
            .finish_non_exhaustive()
    }
}
