//! The emulator handle: built from a [`Config`], cheap to clone, shared by
//! the connections it serves and the tests that steer it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use embedded_io_adapters::tokio_1::FromTokio;
use embedded_io_async::{Read, Write};
use tokio::net::TcpListener;

use crate::dps::DpsState;
use crate::state::{Shared, State};
use crate::{CloseReason, Config, connection, tls};

/// An emulated IoT Hub (and DPS, if configured).
///
/// Clones share one cloud: serve connections with one clone while a test
/// drives the control methods ([`Emulator::invoke_method`],
/// [`Emulator::send_c2d`], ...) with another.
#[derive(Clone)]
pub struct Emulator {
    pub(crate) shared: Arc<Shared>,
}

impl Emulator {
    /// The cloud `config` describes, with the test PKI's server identity.
    ///
    /// # Panics
    ///
    /// If the test certificates compiled into the crate do not load — a
    /// build defect, not a run-time condition.
    pub fn new(config: Config) -> Self {
        let tls = tls::server_config(config.tls12_only)
            .expect("the test PKI compiled into the emulator loads");
        let mut state = State::new(config.hub_host, config.dps.map(DpsState::new));
        for device in config.devices {
            state.register_device(&device.device_id, device.auth);
        }
        Emulator {
            shared: Arc::new(Shared::new(state, tls)),
        }
    }

    /// Serves one device connection over `stream` — TLS, then MQTT — until
    /// it ends, and says why it ended.
    ///
    /// `stream` is any async byte stream: a tokio socket through
    /// `embedded_io_adapters`, or Duet's own TCP socket. Neither the stream
    /// nor the future needs to be `Send`, but the future must run inside a
    /// tokio runtime (it uses tokio's timers and channels). The stream's
    /// `read` must be cancel-safe (a read dropped before it completes has
    /// consumed nothing), because the emulator stops waiting for the device
    /// whenever the control API has something to send. The stream is
    /// dropped on return, which is how the connection closes.
    pub async fn serve<S: Read + Write>(&self, stream: S) -> CloseReason {
        connection::serve(&self.shared, stream).await
    }

    /// Listens on `addr` (such as `127.0.0.1:0`) and serves every accepted
    /// TCP connection in a task of its own, on the current tokio runtime;
    /// the bound address.
    ///
    /// The tasks are spawned with `tokio::spawn`, so a plain
    /// `#[tokio::test]` (current-thread) runtime is enough, no `LocalSet`.
    /// They run until the runtime shuts down.
    pub async fn listen(&self, addr: &str) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let emulator = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    // Out of descriptors or similar: let the moment pass.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                // MQTT packets are small and latency-bound.
                let _ = socket.set_nodelay(true);
                let emulator = emulator.clone();
                tokio::spawn(async move {
                    emulator.serve(FromTokio::new(socket)).await;
                });
            }
        });
        Ok(local)
    }
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Emulator")
            .field("hub_host", &state.hub_host)
            .field("devices", &state.devices.len())
            .field("dps", &state.dps.is_some())
            .finish()
    }
}
