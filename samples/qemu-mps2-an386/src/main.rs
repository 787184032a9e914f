//! Duet on the emulated MPS2-AN386 board (Cortex-M4F) in QEMU, talking to
//! the Azure IoT Hub emulator on the host through QEMU's user-mode network:
//!
//! 1. the LAN9118 Ethernet controller comes up (crate `lan9118`, interrupt
//!    driven) and Duet's stack runs on it (`net`);
//! 2. DHCP from slirp (10.0.2.15/24), then the wall clock from the host's
//!    SNTP responder that `cargo xtask qemu` runs;
//! 3. TLS to `hub.azure-devices.test` at 10.0.2.2:8883 (the host's
//!    loopback), MQTT with a SAS token, telemetry at QoS 1 every half
//!    second and one direct method answered, reconnecting whenever the
//!    connection is lost (`hub`);
//! 4. exit over semihosting: status 0 when all of that happened within
//!    [`RUN_TIMEOUT_SECS`], 1 otherwise (`timeline`).
//!
//! Every step is a line on the timeline (semihosting standard output).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

mod hub;
mod net;
mod rng;
mod shared;
mod time_driver;
mod timeline;

use cortex_m_rt::entry;
use duet_netstack::sntp::UnixTime;
use embassy_executor::Executor;
use embassy_time::{Duration, with_deadline};
use lan9118::Lan9118;
use static_cell::StaticCell;

use crate::net::Net;
use crate::rng::DemoRng;
use crate::shared::{HUB_HOST, RUN_TIMEOUT_SECS, SNTP_PORT};
use crate::timeline::{fail, log};

/// The build's Unix time (build.rs).
const BUILD_UNIX_SECS: &str = env!("DUET_BUILD_UNIX_SECS");

static EXECUTOR: StaticCell<Executor> = StaticCell::new();

#[entry]
fn main() -> ! {
    let Some(core) = cortex_m::Peripherals::take() else {
        fail(format_args!("core peripherals taken before main"))
    };
    time_driver::start(core.SYST);
    let build_secs: u32 = BUILD_UNIX_SECS.parse().unwrap_or(0);
    log!(
        "boot: Duet on MPS2-AN386 (Cortex-M4F), firmware built {}",
        UnixTime::from_secs(build_secs.into()).utc()
    );
    net::start_clock(build_secs);

    let mut nic = match Lan9118::mps2() {
        Ok(nic) => nic,
        Err(error) => fail(format_args!("lan9118: {error}")),
    };
    nic.enable_interrupt();
    let mac = nic.mac_address();
    log!(
        "lan9118: started, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, IRQ {}",
        mac[0],
        mac[1],
        mac[2],
        mac[3],
        mac[4],
        mac[5],
        lan9118::MPS2_IRQ
    );

    let boot_micros = time_driver::micros();
    let mut seeds = DemoRng::new(&[&build_secs.to_le_bytes(), &mac, &boot_micros.to_le_bytes()]);
    let (stack, runner) = net::stack(nic, seeds.seed());
    let dhcp_seed = seeds.seed();
    EXECUTOR.init(Executor::new()).run(|spawner| {
        spawner.spawn(net::run(runner).expect("one runner task"));
        spawner.spawn(net::dhcp(stack, mac, dhcp_seed).expect("one DHCP task"));
        spawner.spawn(net::watch_link(stack).expect("one link watcher"));
        spawner.spawn(app(stack, seeds).expect("one application task"));
    })
}

/// The run, in order: link, lease, clock, hub.
#[embassy_executor::task]
async fn app(stack: Net, mut seeds: DemoRng) {
    let deadline = embassy_time::Instant::now() + Duration::from_secs(RUN_TIMEOUT_SECS);
    if with_deadline(deadline, stack.wait_link_up()).await.is_err() {
        fail(format_args!("link: still down"));
    }
    if with_deadline(deadline, net::LEASE.wait()).await.is_err() {
        fail(format_args!("dhcp: no lease"));
    }
    let sntp_seed = seeds.seed();
    match net::set_clock(stack, sntp_seed, duet_netstack::Duration::from_secs(5)).await {
        Ok(sample) => log!(
            "sntp: {} from {}:{SNTP_PORT} (stratum {}, round trip {} us)",
            sample.unix_time.utc(),
            net::HOST,
            sample.stratum,
            sample.round_trip_delay.as_micros()
        ),
        Err(error) => log!(
            "sntp: {error}; the clock stays at the build time, so the hub may refuse \
             the SAS token of an old build"
        ),
    }
    // Reseeded with what the network's timing added (see rng.rs).
    let rng = DemoRng::new(&[
        &seeds.seed().to_le_bytes(),
        &net::unix_now().to_le_bytes(),
        &time_driver::micros().to_le_bytes(),
    ]);
    log!("hub: {HUB_HOST} is {}:{}", net::HOST, shared::HUB_PORT);
    hub::run(stack, rng, deadline).await;
    timeline::pass()
}
