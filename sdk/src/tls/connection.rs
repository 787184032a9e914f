//! The async face of the engine: a TLS session over any
//! `embedded_io_async::{Read, Write}` transport (a Duet TCP socket, a std
//! stream), itself implementing `Read` and `Write`, so MQTT and HTTP run on
//! it unchanged.

use embedded_io_async::{ErrorType, Read, Write};

use rand_core::CryptoRng;

use super::client::{Buffers, ClientConfig, ClientConnection, Event, TlsProvider};
use super::error::TlsError;
use super::session::TicketStore;

/// A client TLS session on `transport`.
#[derive(Debug)]
pub struct TlsConnection<'a, P: TlsProvider, T> {
    engine: ClientConnection<'a, P>,
    transport: T,
}

/// What an ended session hands back ([`TlsConnection::take_parts`]).
pub(crate) struct Parts<'a, T> {
    pub(crate) buffers: Buffers<'a>,
    pub(crate) transport: T,
    pub(crate) tickets: Option<&'a mut dyn TicketStore>,
}

impl<'a, P: TlsProvider, T: Read + Write> TlsConnection<'a, P, T> {
    /// Runs the handshake of `engine` (made with [`ClientConnection::new`])
    /// over `transport`; returns once application data may flow.
    pub async fn connect(engine: ClientConnection<'a, P>, transport: T) -> Result<Self, TlsError> {
        let mut connection = Self { engine, transport };
        connection.handshake().await?;
        Ok(connection)
    }

    /// Runs the handshake; on failure the parts are still the caller's
    /// ([`TlsConnection::into_parts`]).
    pub(crate) async fn handshake(&mut self) -> Result<(), TlsError> {
        let connection = self;
        loop {
            let event = connection.engine.process()?;
            // Whatever the engine queued goes out before we wait for the
            // server: the ClientHello first, later a whole client flight
            // (TLS 1.2 sends one after ServerHelloDone, with no event).
            if connection.engine.wants_write() {
                connection.send_pending().await?;
                connection
                    .transport
                    .flush()
                    .await
                    .map_err(transport_error)?;
            }
            if !connection.engine.is_handshaking() {
                return Ok(());
            }
            match event {
                Some(Event::HandshakeComplete) => {}
                Some(Event::PeerClosed) => return Err(TlsError::TransportClosed),
                Some(Event::ApplicationData) | None => connection.receive().await?,
            }
        }
    }

    /// A session in `slot` (`None` on entry), returned for
    /// [`TlsConnection::start_handshake`], made with the buffers taken from
    /// `buffers`; on failure they are put back there and the transport comes
    /// back (`BufferTooSmall` if `buffers` held none).
    ///
    /// Why in a slot: the session is ≈ 2.7 KB on Cortex-M, and built by value
    /// in an async connect path it left two copies of itself in the one stack
    /// frame the client's poll compiles to, live through the handshake's
    /// deepest calls. Out of line, its construction's temporaries are gone
    /// before the handshake starts. The buffers are taken and put back here
    /// too: moved inside the async connect path, LLVM could not tell them
    /// apart from the state they move into and copied them with `memmove`,
    /// 1.5 KB of flash that nothing else in a firmware needs.
    #[inline(never)]
    pub(crate) fn open_in<'s, R: CryptoRng + ?Sized>(
        slot: &'s mut Option<Self>,
        provider: &'a P,
        config: ClientConfig<'a>,
        buffers: &mut Option<Buffers<'a>>,
        rng: &mut R,
        transport: T,
    ) -> Result<&'s mut Self, (TlsError, T)> {
        let Some(taken) = buffers.take() else {
            return Err((TlsError::BufferTooSmall, transport));
        };
        match ClientConnection::unstarted(provider, config, taken, rng) {
            Ok(engine) => Ok(slot.insert(Self { engine, transport })),
            Err((error, taken)) => {
                *buffers = Some(taken);
                Err((error, transport))
            }
        }
    }

    /// Queues the ClientHello of a session [`TlsConnection::open_in`] made,
    /// and runs the handshake.
    pub(crate) async fn start_handshake(&mut self) -> Result<(), TlsError> {
        self.engine.start()?;
        self.handshake().await
    }

    /// The session in `slot` ended: its buffers (wiped of plaintext), its
    /// transport and its ticket store, and `slot` emptied. Out of line for
    /// the same reason as [`TlsConnection::open_in`]: taking the session out
    /// of `slot` copies it.
    #[inline(never)]
    pub(crate) fn take_parts(slot: &mut Option<Self>) -> Option<Parts<'a, T>> {
        let engine = &mut slot.as_mut()?.engine;
        let (buffers, tickets) = (engine.take_buffers(), engine.take_ticket_store());
        slot.take().map(|connection| Parts {
            buffers,
            transport: connection.transport,
            tickets,
        })
    }

    /// The engine and the transport, to close the transport and reuse the
    /// engine's memory ([`ClientConnection::into_buffers`]).
    pub fn into_parts(self) -> (ClientConnection<'a, P>, T) {
        (self.engine, self.transport)
    }

    /// The engine, for its queries (cipher suite, ALPN, peer certificate,
    /// whether the session was resumed).
    pub fn engine(&self) -> &ClientConnection<'a, P> {
        &self.engine
    }

    /// The engine, to hand it a ticket store before the handshake.
    pub(crate) fn engine_mut(&mut self) -> &mut ClientConnection<'a, P> {
        &mut self.engine
    }

    /// Sends close_notify and flushes it; the transport stays open.
    pub async fn close(&mut self) -> Result<(), TlsError> {
        self.engine.send_close_notify()?;
        self.send_pending().await?;
        self.transport.flush().await.map_err(transport_error)
    }

    /// Writes what the engine has queued.
    async fn send_pending(&mut self) -> Result<(), TlsError> {
        while self.engine.wants_write() {
            let sent = self
                .transport
                .write(self.engine.pending_tls())
                .await
                .map_err(transport_error)?;
            if sent == 0 {
                return Err(TlsError::TransportClosed);
            }
            self.engine.tls_sent(sent);
        }
        Ok(())
    }

    /// Reads transport bytes straight into the engine's receive buffer.
    async fn receive(&mut self) -> Result<(), TlsError> {
        let space = self.engine.receive_space();
        if space.is_empty() {
            return Err(TlsError::BufferTooSmall);
        }
        let n = self.transport.read(space).await.map_err(transport_error)?;
        if n == 0 {
            return Err(TlsError::TransportClosed);
        }
        self.engine.tls_received(n);
        Ok(())
    }
}

fn transport_error<E: embedded_io::Error>(error: E) -> TlsError {
    TlsError::Transport(error.kind())
}

impl<P: TlsProvider, T> ErrorType for TlsConnection<'_, P, T> {
    type Error = TlsError;
}

impl<P: TlsProvider, T: Read + Write> Read for TlsConnection<'_, P, T> {
    /// Decrypted application data; `Ok(0)` once the server sent close_notify.
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let n = self.engine.read_application_data(buf);
            if n > 0 {
                return Ok(n);
            }
            let event = self.engine.process()?;
            // A KeyUpdate answer, or an alert, may be waiting to go out.
            self.send_pending().await?;
            match event {
                Some(Event::PeerClosed) => return Ok(0),
                Some(Event::ApplicationData) => {}
                Some(Event::HandshakeComplete) | None => self.receive().await?,
            }
        }
    }
}

impl<P: TlsProvider, T: Read + Write> Write for TlsConnection<'_, P, T> {
    /// Encrypts as much of `buf` as the send buffer takes and sends it.
    async fn write(&mut self, buf: &[u8]) -> Result<usize, TlsError> {
        let mut taken = self.engine.write_application_data(buf)?;
        if taken == 0 && !buf.is_empty() {
            // The send buffer was full of records not yet on the wire.
            self.send_pending().await?;
            taken = self.engine.write_application_data(buf)?;
        }
        self.send_pending().await?;
        Ok(taken)
    }

    async fn flush(&mut self) -> Result<(), TlsError> {
        self.send_pending().await?;
        self.transport.flush().await.map_err(transport_error)
    }
}
