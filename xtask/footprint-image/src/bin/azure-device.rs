//! Footprint image `azure-device`: a whole "DPS + hub" firmware — Duet's
//! IPv4 stack with TCP, TLS 1.2 + 1.3 with the software crypto provider,
//! the MQTT client, and the Azure DPS and IoT Hub clients: register with a
//! symmetric key, connect to the assigned hub, send telemetry, answer
//! methods, acknowledge desired properties, take C2D messages.
//!
//! The stack is polled from the transport's reads and writes, so no
//! executor or timer driver is linked (a device adds its own, such as
//! embassy's); the driver, clock, randomness and every received byte come
//! through `core::hint::black_box`, so no path can be proven dead.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::cell::{Cell, RefCell};
use core::hint::black_box;
use core::net::Ipv4Addr;

use cortex_m_rt::entry;
use duet::connector::Connector;
use duet::mqtt::{ClientBuffers, Clock, QoS};
use duet::tls::{Buffers, ClientConfig, TlsConnector};
use duet_azure::client::{
    Credential, HubBuffers, HubClient, HubConfig, HubEvent, MQTT_INBOUND, MQTT_WINDOW,
    ProvisioningBuffers, ProvisioningClient, ProvisioningConfig,
};
use duet_crypto::soft::Soft;
use duet_netstack::iface::{InterfaceConfig, Ipv4Cidr, Ipv4Config};
use duet_netstack::stack::{TcpHandle, TcpResources};
use duet_netstack::{Config, EthernetAddress, Instant, Stack, StackResources};
use embassy_futures::block_on;
use opaque_driver::OpaqueDriver;
use panic_halt as _;
use static_cell::StaticCell;

#[path = "../tls/drive.rs"]
#[allow(dead_code)]
mod drive;
#[path = "../opaque_driver.rs"]
mod opaque_driver;

static RESOURCES: StaticCell<StackResources<8, 1, 4>> = StaticCell::new();
static TCP: StaticCell<TcpResources<1, 8192>> = StaticCell::new();
static DRIVER: StaticCell<RefCell<OpaqueDriver>> = StaticCell::new();
static STACK: StaticCell<RefCell<Stack<'static>>> = StaticCell::new();

/// The device's network: the stack, its driver and the time, shared by the
/// connections the clients open one after another.
#[derive(Clone, Copy)]
struct Network {
    stack: &'static RefCell<Stack<'static>>,
    driver: &'static RefCell<OpaqueDriver>,
    millis: &'static Cell<u64>,
}

impl Network {
    /// Moves the stack on: the time, then frames in and out.
    fn poll(&self) {
        self.millis.set(self.millis.get() + black_box(1));
        let now = Instant::from_millis(self.millis.get());
        let mut driver = self.driver.borrow_mut();
        let _ = self.stack.borrow_mut().poll(now, &mut *driver);
    }
}

/// One TCP connection, read and written by polling the stack.
struct Connection {
    network: Network,
    handle: TcpHandle,
}

impl embedded_io_async::ErrorType for Connection {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io_async::Read for Connection {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        loop {
            self.network.poll();
            let mut stack = self.network.stack.borrow_mut();
            let mut socket = stack.tcp(self.handle);
            match socket.recv_slice(buf) {
                Ok(0) if socket.may_recv() => {}
                Ok(n) => return Ok(n),
                Err(_) => return Err(embedded_io::ErrorKind::ConnectionReset),
            }
        }
    }
}

impl embedded_io_async::Write for Connection {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        loop {
            self.network.poll();
            let mut stack = self.network.stack.borrow_mut();
            match stack.tcp(self.handle).send_slice(buf) {
                Ok(0) => {}
                Ok(n) => return Ok(n),
                Err(_) => return Err(embedded_io::ErrorKind::ConnectionReset),
            }
        }
    }

    /// Polls until the peer has acknowledged everything.
    async fn flush(&mut self) -> Result<(), Self::Error> {
        loop {
            self.network.poll();
            if self
                .network
                .stack
                .borrow_mut()
                .tcp(self.handle)
                .send_queue()
                == 0
            {
                return Ok(());
            }
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let mut stack = self.network.stack.borrow_mut();
        stack.tcp(self.handle).abort();
        let _ = stack.release_tcp_socket(self.handle);
    }
}

/// Opens TCP connections to the service's port 8883.
struct Tcp(Network);

impl Connector for Tcp {
    type Transport = Connection;

    async fn connect(&mut self) -> Result<Connection, embedded_io::ErrorKind> {
        let server = (Ipv4Addr::new(20, 0, 0, black_box(1)), 8883);
        let handle = {
            let mut stack = self.0.stack.borrow_mut();
            let handle = stack
                .add_tcp_socket(4096, 4096)
                .map_err(|_| embedded_io::ErrorKind::OutOfMemory)?;
            let _ = stack.tcp(handle).connect(server, 0);
            handle
        };
        let connection = Connection {
            network: self.0,
            handle,
        };
        loop {
            self.0.poll();
            let state = self.0.stack.borrow_mut().tcp(handle).state();
            match state {
                duet_netstack::tcp::TcpState::Established => return Ok(connection),
                duet_netstack::tcp::TcpState::SynSent => {}
                _ => return Err(embedded_io::ErrorKind::ConnectionRefused),
            }
        }
    }
}

/// The stack's millisecond counter as the clients' clock; a wait polls.
struct Ticks(Network);

impl Clock for Ticks {
    fn now(&self) -> Instant {
        Instant::from_millis(self.0.millis.get())
    }

    async fn sleep_until(&self, deadline: Instant) {
        while self.now() < deadline {
            self.0.poll();
        }
    }
}

fn unix_secs() -> u64 {
    black_box(1_800_000_000)
}

#[entry]
fn main() -> ! {
    let mut stack = Stack::new(
        RESOURCES.init(StackResources::new()),
        Config {
            seed: black_box(7),
            ..Config::default()
        },
    );
    let _ = stack.add_interface(InterfaceConfig {
        hardware_address: EthernetAddress([0x02, 0, 0, 0, 0, 1]),
        ipv4: Some(Ipv4Config {
            address: Ipv4Cidr::new(Ipv4Addr::new(192, 168, 1, 20), 24),
            gateway: Some(Ipv4Addr::new(192, 168, 1, 1)),
        }),
    });
    stack.enable_tcp(TCP.init(TcpResources::new()));
    let network = Network {
        stack: STACK.init(RefCell::new(stack)),
        driver: DRIVER.init(RefCell::new(OpaqueDriver { frame: [0; 1514] })),
        millis: &*millis_counter(),
    };
    let provider: Soft<1> = Soft::new();
    let anchors = [];
    let tls_config = |server_name| ClientConfig {
        server_name,
        trust_anchors: black_box(&anchors),
        now_unix_secs: 0,
        alpn_protocols: &[],
        resume: None,
        max_fragment_length: None,
        record_size_limit: None,
        client_certificate: None,
    };
    let (mut receive, mut send) = ([0u8; 16 * 1024 + 256], [0u8; 4096]);
    let (mut handshake, mut certificate) = ([0u8; 4096], [0u8; 4096]);
    let (mut mqtt_receive, mut mqtt_send, mut outbox) = ([0u8; 2048], [0u8; 1024], [0u8; 4096]);
    let (mut identity, mut scratch) = ([0u8; 256], [0u8; 512]);
    let key = black_box("dGhlLXRlc3QtZGV2aWNlLWtleS0wMS0zMi1ieXRlcyE=");

    // DPS: register, then keep the assignment.
    let mut hub_host = [0u8; 128];
    let mut device_id = [0u8; 128];
    let (hub_len, device_len) = {
        let mut assignment = [0u8; 384];
        let tls = TlsConnector::new(
            Tcp(network),
            &provider,
            tls_config("global.azure-devices-provisioning.net"),
            Buffers {
                receive: &mut receive,
                send: &mut send,
                handshake: &mut handshake,
                certificate: &mut certificate,
            },
            drive::OpaqueRng(black_box(3)),
            unix_secs,
        );
        let config = ProvisioningConfig::new(
            "global.azure-devices-provisioning.net",
            black_box("0ne00000000"),
            black_box("device-01"),
            Credential::SymmetricKey(key),
        );
        let buffers = ProvisioningBuffers {
            mqtt: ClientBuffers {
                receive: &mut mqtt_receive,
                send: &mut mqtt_send,
                outbox: &mut outbox,
                topic_aliases: [],
            },
            identity: &mut identity,
            scratch: &mut scratch,
            assignment: &mut assignment,
        };
        let Ok(mut dps) = ProvisioningClient::new(
            config,
            tls,
            Ticks(network),
            &provider,
            unix_secs,
            buffers,
            1,
        ) else {
            halt()
        };
        let Ok(assigned) = block_on(dps.register()) else {
            halt()
        };
        let (hub, device) = (
            assigned.assigned_hub.as_bytes(),
            assigned.device_id.as_bytes(),
        );
        let (hub_len, device_len) = (hub.len().min(128), device.len().min(128));
        hub_host[..hub_len].copy_from_slice(&hub[..hub_len]);
        device_id[..device_len].copy_from_slice(&device[..device_len]);
        (hub_len, device_len)
    };
    let hub_host = core::str::from_utf8(&hub_host[..hub_len]).unwrap_or("");
    let device_id = core::str::from_utf8(&device_id[..device_len]).unwrap_or("");

    // The hub, with the same memory.
    let tls = TlsConnector::new(
        Tcp(network),
        &provider,
        tls_config(hub_host),
        Buffers {
            receive: &mut receive,
            send: &mut send,
            handshake: &mut handshake,
            certificate: &mut certificate,
        },
        drive::OpaqueRng(black_box(5)),
        unix_secs,
    );
    let mut twin_patch = [0u8; 512];
    let buffers = HubBuffers {
        mqtt: ClientBuffers {
            receive: &mut mqtt_receive,
            send: &mut mqtt_send,
            outbox: &mut outbox,
            topic_aliases: [],
        },
        identity: &mut identity,
        topic: &mut scratch,
        twin_patch: &mut twin_patch,
    };
    let mut config = HubConfig::new(hub_host, device_id, Credential::SymmetricKey(key));
    config.model_id = "dtmi:com:example:Thermostat;1";
    let Ok(mut hub) = HubClient::<_, _, _, _, MQTT_WINDOW, MQTT_INBOUND>::new(
        config,
        tls,
        Ticks(network),
        &provider,
        unix_secs,
        buffers,
        2,
    ) else {
        halt()
    };
    loop {
        let answer = match block_on(hub.poll()) {
            Ok(HubEvent::Method { request_id, .. }) => Some(request_id),
            Ok(event) => {
                black_box(&event);
                None
            }
            Err(error) => {
                black_box(error);
                None
            }
        };
        if let Some(request_id) = answer {
            let _ = block_on(hub.respond(&request_id, 200, b"{}"));
        }
        if black_box(false) {
            let _ = block_on(hub.report_properties(b"{\"targetTemperature\":{\"ac\":200}}"));
            let _ = block_on(hub.request_twin());
        }
        let _ = block_on(hub.send_component_telemetry(
            "thermostat1",
            &[("$.ct", "application/json")],
            black_box(b"{\"temperature\":21.5}"),
            QoS::AtLeastOnce,
        ));
    }
}

/// Where the firmware stops when it cannot go on.
fn halt() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// The millisecond counter, in a static so the clock and the stack share it.
fn millis_counter() -> &'static mut Cell<u64> {
    static MILLIS: StaticCell<Cell<u64>> = StaticCell::new();
    MILLIS.init(Cell::new(0))
}
