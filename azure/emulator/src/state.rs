//! What the emulated cloud remembers, shared between the connections it
//! serves and the control API: the device registry with each device's
//! twin, messages and MQTT session, DPS's registrations, and the counters.
//! One mutex guards it all; no lock is held across an await.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rustls::ServerConfig;
use tokio::sync::{mpsc, oneshot, watch};

use crate::dps::DpsState;
use crate::subscriptions::{InjectedRefusals, Subscriptions};
use crate::twin::Twin;
use crate::{CloseReason, DeviceAuth, MethodResponse, Refusals, Telemetry, Violations};

/// Everything one [`crate::Emulator`] and its clones share.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// The TLS server configuration every connection starts from.
    pub(crate) tls: Arc<ServerConfig>,
    /// Bumped whenever telemetry arrives or a session's subscriptions
    /// change, for the control methods that wait for those.
    changes: watch::Sender<u64>,
}

impl Shared {
    pub(crate) fn new(state: State, tls: Arc<ServerConfig>) -> Self {
        Shared {
            state: Mutex::new(state),
            tls,
            changes: watch::Sender::new(0),
        }
    }

    /// Wakes whoever waits for telemetry or subscriptions.
    pub(crate) fn changed(&self) {
        self.changes
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// A receiver that sees every [`Shared::changed`] from now on.
    pub(crate) fn watch_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The state, locked. A panic while locked (a bug) does not wedge the
    /// other connections: the state is still consistent between steps.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The emulated cloud's memory.
#[derive(Debug)]
pub(crate) struct State {
    /// The hub's host name.
    pub(crate) hub_host: String,
    /// The hub's device registry, by device id.
    pub(crate) devices: HashMap<String, DeviceState>,
    /// DPS, if emulated.
    pub(crate) dps: Option<DpsState>,
    /// CONNECTs refused, by reason.
    pub(crate) refusals: Refusals,
    /// Connections closed for breaking the protocol.
    pub(crate) violations: Violations,
    next_connection_id: u64,
    next_message_id: u64,
}

impl State {
    pub(crate) fn new(hub_host: String, dps: Option<DpsState>) -> Self {
        State {
            hub_host,
            devices: HashMap::new(),
            dps,
            refusals: Refusals::default(),
            violations: Violations::default(),
            next_connection_id: 1,
            next_message_id: 1,
        }
    }

    /// A fresh id for an accepted connection.
    pub(crate) fn connection_id(&mut self) -> u64 {
        let id = self.next_connection_id;
        self.next_connection_id += 1;
        id
    }

    /// A fresh cloud-to-device message id.
    pub(crate) fn message_id(&mut self) -> u64 {
        let id = self.next_message_id;
        self.next_message_id += 1;
        id
    }

    /// Adds `device_id` to the registry, or changes its credentials if
    /// known (what a DPS re-registration does), keeping its twin and
    /// messages.
    pub(crate) fn register_device(&mut self, device_id: &str, auth: DeviceAuth) {
        self.devices
            .entry(device_id.to_owned())
            .and_modify(|device| device.auth = auth.clone())
            .or_insert_with(|| DeviceState::new(auth));
    }
}

/// One device of the registry.
#[derive(Debug)]
pub(crate) struct DeviceState {
    pub(crate) auth: DeviceAuth,
    /// Connections accepted so far.
    pub(crate) connections: u32,
    /// The connection serving the device now, if any.
    pub(crate) live: Option<Live>,
    /// The device's MQTT session: `Some` while one exists (during any
    /// connection, and after a clean_session = 0 one), with its
    /// subscriptions.
    pub(crate) session: Option<Subscriptions>,
    /// Whether the session outlives its connection (clean_session = 0).
    pub(crate) persistent: bool,
    /// Telemetry received, oldest first.
    pub(crate) telemetry: Vec<Telemetry>,
    /// Cloud-to-device messages not yet acknowledged, oldest first.
    pub(crate) c2d: VecDeque<C2dMessage>,
    pub(crate) twin: Twin,
    /// The Plug and Play model id of the last connection's user name.
    pub(crate) model_id: Option<String>,
    /// Fault injection: the next twin request closes the connection.
    pub(crate) drop_next_twin_request: bool,
    /// Fault injection: statuses (429, 5xx) the next twin requests are
    /// refused with, one each, before any is served.
    pub(crate) twin_failures: VecDeque<u16>,
    /// Fault injection: subscriptions to refuse.
    pub(crate) refused_filters: InjectedRefusals,
    /// The `$rid` of every twin request, in order.
    pub(crate) twin_requests: Vec<String>,
}

impl DeviceState {
    pub(crate) fn new(auth: DeviceAuth) -> Self {
        DeviceState {
            auth,
            connections: 0,
            live: None,
            session: None,
            persistent: false,
            telemetry: Vec::new(),
            c2d: VecDeque::new(),
            twin: Twin::default(),
            model_id: None,
            drop_next_twin_request: false,
            twin_failures: VecDeque::new(),
            refused_filters: InjectedRefusals::default(),
            twin_requests: Vec::new(),
        }
    }

    /// Whether `connection` is the one serving the device now.
    pub(crate) fn is_served_by(&self, connection: u64) -> bool {
        self.live.as_ref().is_some_and(|live| live.id == connection)
    }

    /// Hands `command` to the live connection; `false` if there is none.
    pub(crate) fn tell(&self, command: Command) -> bool {
        self.live
            .as_ref()
            .is_some_and(|live| live.commands.send(command).is_ok())
    }
}

/// The connection serving a device.
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) id: u64,
    pub(crate) commands: mpsc::UnboundedSender<Command>,
}

/// What the control API asks of a live connection.
#[derive(Debug)]
pub(crate) enum Command {
    /// Close the connection.
    Close(CloseReason),
    /// Send a direct-method request; answer on `reply`.
    InvokeMethod {
        name: String,
        payload: Vec<u8>,
        reply: oneshot::Sender<MethodResponse>,
    },
    /// Push a desired-properties patch carrying `"$version": version`.
    DesiredPatch {
        version: u64,
        patch: serde_json::Value,
    },
    /// New cloud-to-device messages are queued.
    C2dQueued,
    /// Fault injection: publish this at QoS 0, subscribed or not.
    PublishRaw { topic: String, payload: Vec<u8> },
}

/// A cloud-to-device message waiting for its PUBACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct C2dMessage {
    /// The property bag, URL-encoded as it travels.
    pub(crate) properties: String,
    pub(crate) payload: Vec<u8>,
    /// Where it is in flight, if it is.
    pub(crate) delivery: Option<Delivery>,
    /// Whether it was ever sent: a resend carries DUP.
    pub(crate) sent_before: bool,
}

/// A cloud-to-device message in flight on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Delivery {
    pub(crate) connection: u64,
    pub(crate) packet_id: u16,
}
