//! Duet on the emulated MPS2-AN386 board (Cortex-M4F) in QEMU, talking to
//! the Azure IoT Hub emulator on the host through QEMU's user-mode network.
//!
//! The board's part is here: SysTick as embassy-time's driver
//! (`time_driver`), the LAN9118 Ethernet controller (crate `lan9118`,
//! interrupt driven), a demo seed (the board has no TRNG), and the
//! timeline and exit status over semihosting (`semihosting`). The
//! application is the samples' shared one (`duet_sample_app`, in
//! `samples/app`): DHCP from slirp (10.0.2.15/24), the wall clock from the
//! host's SNTP responder that `cargo xtask qemu` runs, TLS to
//! `hub.azure-devices.test` at 10.0.2.2:8883 (the host's loopback), MQTT
//! with a SAS token, telemetry at QoS 1 every half second and one direct
//! method answered, reconnecting whenever the connection is lost; then
//! exit status 0 when all of that happened within [`RUN_TIMEOUT_SECS`], 1
//! otherwise.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

mod semihosting;
mod shared;
mod time_driver;

use core::net::Ipv4Addr;

use cortex_m_rt::entry;
use duet_sample_app::{Board, Config, HashRng, Host, Outcome, Runner, SntpServer, log};
// The HardFault handler (a fault ends the run as a panic does) and the
// stack's high-water mark, reported at the end of the run.
use duet_sample_cpu::stack;
use embassy_executor::{Executor, Spawner};
use lan9118::Lan9118;
use static_cell::{ConstStaticCell, StaticCell};

use crate::semihosting::Semihosting;
use crate::shared::{
    DEVICE_ID, DEVICE_KEY, HOST_ADDRESS, HUB_HOST, HUB_PORT, METHOD_NAME, METHOD_STATUS,
    RUN_TIMEOUT_SECS, SNTP_PORT, TELEMETRY_MESSAGES,
};

/// The build's Unix time (build.rs).
const BUILD_UNIX_SECS: &str = env!("DUET_BUILD_UNIX_SECS");

/// The test PKI's root, which the emulator's RSA chain leads to.
const ROOT_CA: &[u8] = include_bytes!("../../../certs/test/root-ca.der");

/// The guest's view of the host: the hub emulator and the SNTP responder.
const HOST: Ipv4Addr = Ipv4Addr::new(
    HOST_ADDRESS[0],
    HOST_ADDRESS[1],
    HOST_ADDRESS[2],
    HOST_ADDRESS[3],
);

static EXECUTOR: StaticCell<Executor> = StaticCell::new();

#[entry]
fn main() -> ! {
    stack::paint();
    let Some(core) = cortex_m::Peripherals::take() else {
        // Cannot happen: nothing runs before `main`.
        Semihosting.finish(Outcome::Failed)
    };
    time_driver::start(core.SYST);
    let build_secs: u32 = BUILD_UNIX_SECS.parse().unwrap_or(0);
    duet_sample_app::init(&Semihosting, config(build_secs));
    if cfg!(feature = "fault-on-boot") {
        log!("fault-on-boot: executing an undefined instruction");
        cortex_m::asm::udf();
    }

    // The board's setup runs in the executor's start-up call, in a frame
    // of its own that is gone before any task runs: in `main`'s, the
    // controller and the stack's runner (both moved into tasks) kept ≈ 6 KB
    // of stack for good.
    EXECUTOR
        .init(Executor::new())
        .run(|spawner| start(spawner, build_secs))
}

/// The controller, the stack on it, and the application's tasks.
#[inline(never)]
fn start(spawner: Spawner, build_secs: u32) {
    static NIC_BUFFERS: ConstStaticCell<lan9118::Buffers> =
        ConstStaticCell::new(lan9118::Buffers::new());
    let mut nic = match Lan9118::mps2(NIC_BUFFERS.take()) {
        Ok(nic) => nic,
        Err(error) => duet_sample_app::fail(format_args!("lan9118: {error}")),
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

    // No TRNG here: a demo seed (see the app's rng.rs).
    let boot_micros = time_driver::micros();
    let mut rng = HashRng::new(&[&build_secs.to_le_bytes(), &mac, &boot_micros.to_le_bytes()]);
    let (stack, runner) = duet_sample_app::stack(nic, mac, rng.seed());
    spawner.spawn(net(runner).expect("one runner task"));
    duet_sample_app::start(spawner, stack, mac, rng);
}

/// Moves frames between the stack and the controller, and runs the
/// stack's timers.
#[embassy_executor::task]
async fn net(mut runner: Runner<'static, Lan9118>) {
    runner.run().await
}

/// The run `cargo xtask qemu` expects (`shared.rs`): the emulator's hub and
/// device, the host's SNTP responder, both at slirp's address for the host;
/// the hub by name, which the lease's DNS server (slirp's, forwarding to a
/// responder `cargo xtask qemu` runs) resolves to that address.
fn config(build_unix_secs: u32) -> Config {
    Config {
        board_name: "MPS2-AN386 (Cortex-M4F)",
        dhcp_host_name: "duet-mps2-an386",
        build_unix_secs,
        sntp: Some(SntpServer {
            host: Host::Address(HOST),
            port: SNTP_PORT,
        }),
        hub_host: HUB_HOST,
        hub_address: Host::Name(HUB_HOST),
        hub_port: HUB_PORT,
        device_id: DEVICE_ID,
        device_key: DEVICE_KEY,
        trust_anchors: &[ROOT_CA],
        trust_anchors_name: "the test root",
        telemetry_messages: TELEMETRY_MESSAGES,
        telemetry_interval_ms: 500,
        method_name: METHOD_NAME,
        method_status: METHOD_STATUS,
        run_timeout_secs: RUN_TIMEOUT_SECS,
    }
}
