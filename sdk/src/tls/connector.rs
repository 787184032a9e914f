//! TLS for a reconnecting client: a [`Connector`] that opens the transport
//! below (a TCP connection) and runs a handshake over it, reusing one set
//! of caller buffers for every connection — the engine of a lost
//! connection comes back through [`Connector::release`]. Given a ticket
//! store ([`TlsConnector::store_tickets_in`]), each connection keeps its
//! session tickets there and the next one resumes the session: no
//! certificate chain to receive and check again.

use rand_core::CryptoRng;

use super::client::{Buffers, ClientConfig, TlsProvider};
use super::connection::TlsConnection;
use super::error::TlsError;
use super::session::TicketStore;
use crate::connector::{Connector, connect_through_slot};

/// Opens TLS sessions over the transports `inner` opens.
pub struct TlsConnector<'a, P: TlsProvider, C: Connector, R, W> {
    inner: C,
    provider: &'a P,
    config: ClientConfig<'a>,
    /// `None` while a connection holds them.
    buffers: Option<Buffers<'a>>,
    /// Where sessions' tickets go and the next handshake's comes from;
    /// `None` while a connection holds it, or when none was given.
    tickets: Option<&'a mut dyn TicketStore>,
    /// Cleared by a failed handshake that offered the store's ticket, so
    /// the next one starts afresh; set again by a handshake that succeeds.
    offer_ticket: bool,
    rng: R,
    now_unix_secs: W,
    last_error: Option<TlsError>,
}

impl<'a, P, C, R, W> TlsConnector<'a, P, C, R, W>
where
    P: TlsProvider,
    C: Connector,
    R: CryptoRng,
    W: Fn() -> u64,
{
    /// TLS with `config` over what `inner` opens, in `buffers`;
    /// `now_unix_secs` gives the time each handshake checks certificate
    /// validity against (the configured one is replaced).
    pub fn new(
        inner: C,
        provider: &'a P,
        config: ClientConfig<'a>,
        buffers: Buffers<'a>,
        rng: R,
        now_unix_secs: W,
    ) -> Self {
        TlsConnector {
            inner,
            provider,
            config,
            buffers: Some(buffers),
            tickets: None,
            offer_ticket: true,
            rng,
            now_unix_secs,
            last_error: None,
        }
    }

    /// Keeps every session's tickets in `store` ([`super::TicketSlot`] in
    /// RAM, [`super::FlashTickets`] on flash to resume after a reboot too)
    /// and offers the newest in each handshake, unless the configuration
    /// names a ticket of its own ([`ClientConfig::resume`]). After a
    /// handshake that offered it failed, the next attempt offers none.
    pub fn store_tickets_in(&mut self, store: &'a mut dyn TicketStore) {
        self.tickets = Some(store);
    }

    /// Why the last handshake failed (an untrusted chain, a wrong name),
    /// for diagnostics; the client only sees a failed connection.
    pub fn last_error(&self) -> Option<TlsError> {
        self.last_error
    }

    /// The transport connector below.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// The transport connector below, to change what the next connection
    /// opens (the server name checked stays the same).
    pub fn inner_mut(&mut self) -> &mut C {
        &mut self.inner
    }
}

impl<'a, P, C, R, W> Connector for TlsConnector<'a, P, C, R, W>
where
    P: TlsProvider,
    C: Connector,
    R: CryptoRng,
    W: Fn() -> u64,
{
    type Transport = TlsConnection<'a, P, C::Transport>;

    async fn connect(&mut self) -> Result<Self::Transport, embedded_io::ErrorKind> {
        connect_through_slot(self).await
    }

    async fn connect_into(
        &mut self,
        slot: &mut Option<Self::Transport>,
    ) -> Result<(), embedded_io::ErrorKind> {
        // Buffers still out belong to a connection the client did not
        // release; it cannot run two. They stay in `self.buffers` until the
        // session takes them (see `open_in`).
        if self.buffers.is_none() {
            return Err(embedded_io::ErrorKind::OutOfMemory);
        }
        let transport = self.inner.connect().await?;
        self.config.now_unix_secs = (self.now_unix_secs)();
        let opened = TlsConnection::open_in(
            slot,
            self.provider,
            self.config,
            &mut self.buffers,
            &mut self.rng,
            transport,
        );
        let connection = match opened {
            Ok(connection) => connection,
            Err((error, transport)) => {
                self.inner.release(transport);
                self.last_error = Some(error);
                return Err(embedded_io::ErrorKind::Other);
            }
        };
        if let Some(tickets) = self.tickets.take() {
            let engine = connection.engine_mut();
            engine.store_tickets_in(tickets);
            if !self.offer_ticket {
                engine.hold_stored_ticket_back();
            }
        }
        match connection.start_handshake().await {
            Ok(()) => {
                self.last_error = None;
                self.offer_ticket = true;
                Ok(())
            }
            Err(error) => {
                self.last_error = Some(error);
                if connection.engine().offered_a_ticket() {
                    self.offer_ticket = false;
                }
                self.release_slot(slot);
                Err(embedded_io::ErrorKind::ConnectionRefused)
            }
        }
    }

    fn release(&mut self, connection: Self::Transport) {
        self.release_slot(&mut Some(connection));
    }

    fn release_slot(&mut self, slot: &mut Option<Self::Transport>) {
        if let Some(parts) = TlsConnection::take_parts(slot) {
            self.buffers = Some(parts.buffers);
            if parts.tickets.is_some() {
                self.tickets = parts.tickets;
            }
            self.inner.release(parts.transport);
        }
    }
}

impl<P: TlsProvider, C: Connector, R, W> core::fmt::Debug for TlsConnector<'_, P, C, R, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsConnector")
            .field("server_name", &self.config.server_name)
            .field("connected", &self.buffers.is_none())
            .field("last_error", &self.last_error)
            .finish_non_exhaustive()
    }
}
