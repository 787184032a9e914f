//! A local emulator of Azure IoT Hub and the Device Provisioning Service,
//! as a device sees them: MQTT 3.1.1 over TLS, with the topics, payloads and
//! rules of Azure's device protocol
//! (<https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub> and
//! <https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support>). It
//! stands in for the cloud in Duet's tests and host demo, where the real
//! services are out of reach.
//!
//! The core is [`Emulator::serve`], generic over an [`embedded_io_async`]
//! byte stream, so the same emulator answers a tokio socket
//! ([`Emulator::listen`]) and Duet's own TCP socket over an in-process link.
//! Inside, one connection goes through:
//!
//! - `tls`: rustls' server connection driven by hand over the stream;
//! - `connection`: the async loop (handshake, CONNECT, packets, commands,
//!   deadlines), thin around the sans-IO parts below;
//! - `admission` and `sas`: who the CONNECT proves to be, or why not;
//! - `session`: the server's MQTT rules (QoS 0/1, five subscriptions),
//!   over Duet's own codec (`mqtt`);
//! - `hub` (with `twin`) or `dps`: the service the device talks to.
//!
//! Tests drive the cloud side through [`Emulator`]'s control methods
//! (direct methods, desired properties, cloud-to-device messages, fault
//! injection) and read back what devices did (telemetry, reported
//! properties, refusals, violations).
//!
//! Everything runs inside a tokio runtime (timers and channels); a
//! current-thread runtime such as `#[tokio::test]`'s default is enough.
#![forbid(unsafe_code)]

mod admission;
mod clock;
mod close;
mod config;
mod connection;
mod control;
mod dps;
mod emulator;
mod hub;
mod mqtt;
mod refusal;
mod sas;
mod session;
mod state;
mod subscriptions;
mod tls;
mod twin;
mod url;
mod x509;

pub use close::{CloseReason, Violation, Violations};
pub use config::{Config, Device, DeviceAuth, Dps, Enrollment};
pub use control::{ControlError, MethodResponse, Telemetry};
pub use emulator::Emulator;
pub use refusal::{Refusal, Refusals};
