//! A real board's run, from the environment at build time:
//!
//! - `DUET_HUB_HOST`: the hub's host name, `<hub>.azure-devices.net`;
//! - `DUET_DEVICE_ID` and `DUET_DEVICE_KEY`: a device registered in it with
//!   a symmetric key (base64, the primary key `az iot hub device-identity
//!   create` prints);
//! - `DUET_SNTP_HOST` (optional): the time server, `pool.ntp.org` unless
//!   set.
//!
//! Unset, they are placeholders: the firmware builds (CI builds it that
//! way) and says on its first lines that it cannot reach a hub.

use crate::{AZURE_TRUST_ANCHORS, AZURE_TRUST_ANCHORS_NAME, Config, Host, SntpServer};

const PLACEHOLDER_HUB: &str = "your-hub.azure-devices.net";
const HUB_HOST: &str = match option_env!("DUET_HUB_HOST") {
    Some(host) => host,
    None => PLACEHOLDER_HUB,
};
const DEVICE_KEY: &str = match option_env!("DUET_DEVICE_KEY") {
    Some(key) => key,
    // base64 of 32 zero bytes: a well-formed key no hub accepts.
    None => "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
};
const SNTP_HOST: &str = match option_env!("DUET_SNTP_HOST") {
    Some(host) => host,
    None => "pool.ntp.org",
};

/// Who the board is, for the timeline and the network.
#[derive(Debug, Clone, Copy)]
pub struct BoardIdentity {
    pub board_name: &'static str,
    pub dhcp_host_name: &'static str,
    /// The device id without `DUET_DEVICE_ID`.
    pub default_device_id: &'static str,
    /// The build's Unix time (the board's build.rs sets it).
    pub build_unix_secs: u32,
}

/// The run on a real hub: five messages, one a second, and the method
/// `getStatus`, which someone invokes (README.md) within five minutes.
pub fn config_from_env(board: BoardIdentity) -> Config {
    Config {
        board_name: board.board_name,
        dhcp_host_name: board.dhcp_host_name,
        build_unix_secs: board.build_unix_secs,
        sntp: Some(SntpServer {
            host: Host::Name(SNTP_HOST),
            port: 123,
        }),
        hub_host: HUB_HOST,
        hub_address: Host::Name(HUB_HOST),
        hub_port: 8883,
        device_id: option_env!("DUET_DEVICE_ID").unwrap_or(board.default_device_id),
        device_key: DEVICE_KEY,
        trust_anchors: AZURE_TRUST_ANCHORS,
        trust_anchors_name: AZURE_TRUST_ANCHORS_NAME,
        telemetry_messages: 5,
        telemetry_interval_ms: 1_000,
        method_name: "getStatus",
        method_status: 200,
        run_timeout_secs: 300,
    }
}

/// Says so on the timeline when the build had no hub to name.
pub fn warn_if_placeholder_hub() {
    if HUB_HOST == PLACEHOLDER_HUB {
        log!(
            "config: built without DUET_HUB_HOST, DUET_DEVICE_ID and DUET_DEVICE_KEY; \
             {PLACEHOLDER_HUB} is a placeholder (see README.md)"
        );
    }
}
