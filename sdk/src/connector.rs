//! Opening a transport again and again: what a reconnecting client (MQTT,
//! and the Azure clients over it) asks of the layer below, whether that is
//! a TCP socket, TLS over one, or a std stream in a test.

use embedded_io_async::{Read, Write};

/// Opens a new transport to the server, for every (re)connection.
///
/// The transport must send what `write` accepts without waiting for a
/// `flush` (Duet's TCP socket and TLS connection do): clients do not flush
/// after each packet, because on TCP a flush waits until the peer has
/// acknowledged everything — a round trip per packet. Dropping (or
/// releasing) a transport closes it gracefully, sending what is queued.
#[allow(async_fn_in_trait)]
pub trait Connector {
    type Transport: Read + Write;

    async fn connect(&mut self) -> Result<Self::Transport, embedded_io::ErrorKind>;

    /// As [`Connector::connect`], building the transport in `slot` (`None`
    /// on entry, and again on an error), where the client keeps it. Clients
    /// call this one: a TLS connection (2.7 KB on Cortex-M) then runs its
    /// handshake where it will live instead of being returned up through
    /// every async layer, each of which kept a copy in the one stack frame
    /// the client's poll compiles to. By default, `connect`'s result is
    /// stored there.
    async fn connect_into(
        &mut self,
        slot: &mut Option<Self::Transport>,
    ) -> Result<(), embedded_io::ErrorKind> {
        *slot = Some(self.connect().await?);
        Ok(())
    }

    /// Takes back a transport the client is done with, so that what it
    /// holds (a TLS engine's buffers) serves the next connection; by
    /// default it is dropped.
    fn release(&mut self, transport: Self::Transport) {
        drop(transport);
    }

    /// [`Connector::release`] of the transport in `slot`, leaving `None`:
    /// what clients call, so that a connector whose transport is large (TLS)
    /// can take it apart in place rather than copy it out first. By default,
    /// `release` of what `slot` held.
    fn release_slot(&mut self, slot: &mut Option<Self::Transport>) {
        if let Some(transport) = slot.take() {
            self.release(transport);
        }
    }

    /// The password for the CONNECT that follows [`Connector::connect`],
    /// when it changes from one connection to the next (an Azure SAS token
    /// is signed again with a later expiry); `None` keeps the client's.
    fn password(&self) -> Option<&[u8]> {
        None
    }
}

/// [`Connector::connect`] for a connector that builds its transport in
/// place (overrides [`Connector::connect_into`]): built in a slot here, and
/// returned.
pub async fn connect_through_slot<C: Connector + ?Sized>(
    connector: &mut C,
) -> Result<C::Transport, embedded_io::ErrorKind> {
    let mut slot = None;
    connector.connect_into(&mut slot).await?;
    slot.ok_or(embedded_io::ErrorKind::Other)
}
