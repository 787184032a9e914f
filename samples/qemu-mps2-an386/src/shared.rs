//! What the firmware and `cargo xtask qemu` agree on: the device's identity
//! in the emulated hub, where the host's services are, and what the run
//! must show. xtask compiles this same file (`#[path]` in
//! `xtask/src/qemu.rs`), so the two sides cannot drift apart.
//!
//! QEMU's user-mode network (slirp, `-nic user,net=10.0.2.0/24`) gives the
//! guest 10.0.2.15 by DHCP and shows the host's loopback as 10.0.2.2: the
//! emulator listening on 127.0.0.1:[`HUB_PORT`] is 10.0.2.2:[`HUB_PORT`]
//! to the firmware.

/// The hub's host name: the TLS server name and the SAS resource's host.
pub const HUB_HOST: &str = "hub.azure-devices.test";

/// The host as the guest sees it (slirp's gateway address).
pub const HOST_ADDRESS: [u8; 4] = [10, 0, 2, 2];

/// MQTT over TLS, as IoT Hub.
pub const HUB_PORT: u16 = 8883;

/// The host's SNTP responder (`cargo xtask qemu` runs one on 127.0.0.1):
/// slirp has no time service, and an unprivileged port works without root.
pub const SNTP_PORT: u16 = 10123;

/// The device registered in the emulated hub, with a symmetric key (SAS).
/// Test credentials: they open nothing but the local emulator.
pub const DEVICE_ID: &str = "qemu-mps2-an386";
/// base64 of the 32-byte key `duet-qemu-mps2-an386-device-key!`.
pub const DEVICE_KEY: &str = "ZHVldC1xZW11LW1wczItYW4zODYtZGV2aWNlLWtleSE=";

/// Telemetry messages the firmware sends (QoS 1) before it may finish.
pub const TELEMETRY_MESSAGES: u32 = 5;

/// The direct method the host invokes once; the firmware answers it with
/// [`METHOD_STATUS`] and a JSON payload naming how many messages it sent.
pub const METHOD_NAME: &str = "getStatus";
pub const METHOD_STATUS: u16 = 200;

/// Seconds the firmware gives the whole run (DHCP to the last
/// acknowledgement) before it gives up and exits with a failure.
pub const RUN_TIMEOUT_SECS: u64 = 60;
