//! The application every Duet firmware sample runs, whatever the board:
//!
//! 1. Duet's stack on the board's network driver (any
//!    `embassy_net_driver::Driver`: the LAN9118 in QEMU, the STM32H7's
//!    Ethernet MAC, the Pico W's CYW43439), with a DHCP client and a link
//!    watcher as tasks of their own (`net`);
//! 2. the wall clock from SNTP, or the build's time without an answer;
//! 3. TLS to the IoT Hub (its address from DNS, or given), MQTT with a SAS
//!    token, [`Config::telemetry_messages`] telemetry messages at QoS 1 and
//!    the direct method [`Config::method_name`] answered once, reconnecting
//!    whenever the connection is lost (`hub`);
//! 4. the end of the run, through the board: passed when all of that
//!    happened within [`Config::run_timeout_secs`], failed otherwise.
//!
//! Every step is a line of the timeline (`timeline`), which the board
//! writes wherever it can: semihosting in QEMU, RTT on the real boards.
//!
//! A board brings up its clocks, driver, executor and embassy-time driver,
//! then calls [`init`], [`stack`] (and spawns a task running the returned
//! [`Runner`]: tasks cannot be generic, the driver type is the board's), and
//! [`start`]:
//!
//! ```ignore
//! duet_sample_app::init(&BOARD, config);
//! let mut rng = HashRng::new(&[&seed_from_the_trng]);
//! let (stack, runner) = duet_sample_app::stack(driver, mac, rng.seed());
//! spawner.spawn(net(runner).unwrap());
//! duet_sample_app::start(spawner, stack, mac, rng);
//! ```
#![no_std]

#[macro_use]
mod timeline;
mod env_config;
mod hub;
mod net;
mod rng;
#[cfg(feature = "rtt")]
mod rtt;

use core::fmt;
use core::net::Ipv4Addr;

use duet_netstack::sntp::UnixTime;
use embassy_executor::Spawner;
use embassy_sync::once_lock::OnceLock;

pub use duet_netstack::asynch::Runner;
pub use env_config::{BoardIdentity, config_from_env, warn_if_placeholder_hub};
pub use net::{Net, stack};
pub use rng::HashRng;
#[cfg(feature = "rtt")]
pub use rtt::Rtt;
pub use timeline::{fail, line, pass};

/// What differs between boards at run time: where the timeline goes and
/// how a run ends.
pub trait Board: Sync {
    /// Writes one line of the timeline, already stamped (`[  1.234] ...`).
    fn write_line(&self, line: fmt::Arguments<'_>);

    /// Ends the run: QEMU exits with a status, a real board idles or
    /// resets. Called once, by [`pass`] or [`fail`], after the last line.
    fn finish(&self, outcome: Outcome) -> !;
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Telemetry acknowledged and the method answered, within the time.
    Passed,
    /// Anything else; the last line of the timeline says why.
    Failed,
}

/// A server: by address, or by a name DNS resolves with the servers of the
/// DHCP lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    Address(Ipv4Addr),
    Name(&'static str),
}

/// An SNTP server (RFC 4330).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SntpServer {
    pub host: Host,
    pub port: u16,
}

/// The device, its hub and what the run must do.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Shown in the first line of the timeline.
    pub board_name: &'static str,
    /// The host name the DHCP client gives (option 12).
    pub dhcp_host_name: &'static str,
    /// The build's Unix time: the wall clock until SNTP answers (or for
    /// good, without [`Config::sntp`]). Certificate validity and SAS token
    /// expiry are checked against the wall clock.
    pub build_unix_secs: u32,
    /// Where the time comes from; `None` keeps the time given.
    pub sntp: Option<SntpServer>,
    /// The hub's host name: the TLS server name and the SAS resource.
    pub hub_host: &'static str,
    /// Where to connect: [`Host::Name`] resolves `hub_host` (or another
    /// name) by DNS.
    pub hub_address: Host,
    /// MQTT over TLS: 8883.
    pub hub_port: u16,
    /// The device registered in the hub, with a symmetric key (SAS, base64).
    pub device_id: &'static str,
    pub device_key: &'static str,
    /// The roots the hub's chain must lead to (DER), and how the timeline
    /// names them.
    pub trust_anchors: &'static [&'static [u8]],
    pub trust_anchors_name: &'static str,
    /// Telemetry messages sent (QoS 1) before the run may pass, and their
    /// pace.
    pub telemetry_messages: u32,
    pub telemetry_interval_ms: u64,
    /// The direct method answered with `method_status` and a JSON status.
    pub method_name: &'static str,
    pub method_status: u16,
    /// Seconds the whole run (DHCP to the last acknowledgement) may take.
    pub run_timeout_secs: u64,
}

/// The board and the configuration, set once by [`init`].
struct App {
    board: &'static dyn Board,
    config: Config,
}

static APP: OnceLock<App> = OnceLock::new();

/// Registers the board (from now on the timeline has somewhere to go) and
/// the configuration, starts the wall clock at the build's time, and puts
/// the boot on the timeline. Call it first; a second call changes nothing.
pub fn init(board: &'static dyn Board, config: Config) {
    if APP.init(App { board, config }).is_ok() {
        net::start_clock(config.build_unix_secs);
        log!(
            "boot: Duet on {}, firmware built {}",
            config.board_name,
            UnixTime::from_secs(config.build_unix_secs.into()).utc()
        );
    }
}

/// The configuration given to [`init`].
///
/// # Panics
///
/// Before [`init`].
pub fn config() -> &'static Config {
    match APP.try_get() {
        Some(app) => &app.config,
        None => panic!("duet_sample_app::init was not called"),
    }
}

fn board() -> Option<&'static dyn Board> {
    APP.try_get().map(|app| app.board)
}

/// Starts the application on `stack` (from [`stack`], whose runner the
/// board has spawned): the DHCP client, the link watcher and the run
/// itself, each a task.
pub fn start(spawner: Spawner, stack: Net, mac: [u8; 6], mut rng: HashRng) {
    let dhcp_seed = rng.seed();
    let tasks = [
        net::dhcp(stack, mac, dhcp_seed).map(|task| spawner.spawn(task)),
        net::watch_link(stack).map(|task| spawner.spawn(task)),
        run(stack, rng).map(|task| spawner.spawn(task)),
    ];
    if tasks.iter().any(Result::is_err) {
        fail(format_args!("start: a task was started twice"));
    }
}

/// The run, in order: link, lease, clock, hub address, hub.
#[embassy_executor::task]
async fn run(stack: Net, mut rng: HashRng) {
    use embassy_time::{Duration, Instant, with_deadline};

    let config = config();
    let deadline = Instant::now() + Duration::from_secs(config.run_timeout_secs);
    if with_deadline(deadline, stack.wait_link_up()).await.is_err() {
        fail(format_args!("link: still down"));
    }
    let lease = match with_deadline(deadline, net::LEASE.wait()).await {
        Ok(lease) => lease,
        Err(_) => fail(format_args!("dhcp: no lease")),
    };
    if let Some(server) = config.sntp {
        net::set_clock(stack, &lease, server, &mut rng).await;
    }
    // Reseeded with what the network's timing added (see rng.rs).
    let mut rng = HashRng::new(&[
        &rng.seed().to_le_bytes(),
        &net::unix_now().to_le_bytes(),
        &net::now().as_micros().to_le_bytes(),
    ]);
    // A lookup lost on a flaky link is asked again, with a doubling pause,
    // until the run's deadline: no reason for a device to give up its boot.
    let mut pause = Duration::from_secs(1);
    let hub = loop {
        let resolving = net::address_of(stack, &lease, config.hub_address, rng.seed());
        match with_deadline(deadline, resolving).await {
            Ok(Ok(address)) => break address,
            Ok(Err(error)) if Instant::now() + pause < deadline => {
                log!(
                    "hub: no address for {} yet ({error}); asking again in {} s",
                    config.hub_host,
                    pause.as_secs()
                );
                embassy_time::Timer::after(pause).await;
                pause *= 2;
            }
            Ok(Err(error)) => fail(format_args!(
                "hub: no address for {}: {error}",
                config.hub_host
            )),
            Err(_) => fail(format_args!(
                "hub: no address for {}: timed out",
                config.hub_host
            )),
        }
    };
    log!("hub: {} is {hub}:{}", config.hub_host, config.hub_port);
    hub::run(stack, &lease, hub, rng, deadline).await;
    pass()
}

/// The roots Azure IoT Hub's TLS chains lead to (FACTS.md, "Azure
/// endpoints"): DigiCert Global Root G2, and Microsoft RSA Root CA 2017,
/// to which Microsoft is moving. DER, from `certs/roots`.
pub const AZURE_TRUST_ANCHORS: &[&[u8]] = &[
    include_bytes!("../../../certs/roots/DigiCert_Global_Root_G2.der"),
    include_bytes!("../../../certs/roots/Microsoft_RSA_Root_Certificate_Authority_2017.der"),
];

/// How the timeline names [`AZURE_TRUST_ANCHORS`].
pub const AZURE_TRUST_ANCHORS_NAME: &str = "an Azure root";
