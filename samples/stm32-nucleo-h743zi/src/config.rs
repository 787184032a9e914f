//! The hub, the device and the run, from the environment at build time:
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

use duet_sample_app::{AZURE_TRUST_ANCHORS, AZURE_TRUST_ANCHORS_NAME, Config, Host, SntpServer};

/// The build's Unix time (build.rs).
const BUILD_UNIX_SECS: &str = env!("DUET_BUILD_UNIX_SECS");

const PLACEHOLDER_HUB: &str = "your-hub.azure-devices.net";
const HUB_HOST: &str = match option_env!("DUET_HUB_HOST") {
    Some(host) => host,
    None => PLACEHOLDER_HUB,
};
const DEVICE_ID: &str = match option_env!("DUET_DEVICE_ID") {
    Some(id) => id,
    None => "nucleo-h743zi",
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

/// The run on a real hub: five messages, one a second, and the method
/// `getStatus`, which someone invokes (README.md) within five minutes.
pub fn config() -> Config {
    Config {
        board_name: "NUCLEO-H743ZI (STM32H743ZI, Cortex-M7F)",
        dhcp_host_name: "duet-nucleo-h743zi",
        build_unix_secs: BUILD_UNIX_SECS.parse().unwrap_or(0),
        sntp: Some(SntpServer {
            host: Host::Name(SNTP_HOST),
            port: 123,
        }),
        hub_host: HUB_HOST,
        hub_address: Host::Name(HUB_HOST),
        hub_port: 8883,
        device_id: DEVICE_ID,
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
pub fn warn_if_placeholder() {
    if HUB_HOST == PLACEHOLDER_HUB {
        duet_sample_app::log!(
            "config: built without DUET_HUB_HOST, DUET_DEVICE_ID and DUET_DEVICE_KEY; \
             {PLACEHOLDER_HUB} is a placeholder (see README.md)"
        );
    }
}
