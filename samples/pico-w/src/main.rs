//! Duet on the Raspberry Pi Pico W (RP2040, Cortex-M0+ at 125 MHz), on
//! Wi-Fi, to a real Azure IoT Hub.
//!
//! The board's part is here: embassy-time on the RP2040's timer
//! (embassy-rp's `time-driver`), the CYW43439 over its half-duplex gSPI,
//! which PIO0 speaks (cyw43-pio: data on GPIO 24, clock on GPIO 29, chip
//! select GPIO 25, power GPIO 23), the chip's blobs (`cyw43_blobs`), the
//! network joined with the SSID and password given at build time
//! (`wifi`), the seed from the ring oscillator's random bit, and the
//! timeline over RTT (`duet_sample_app::Rtt`). The application is the samples' shared one
//! (`duet_sample_app`, in `samples/app`): DHCP, DNS, the wall clock from
//! SNTP, TLS to the hub (Azure's roots), MQTT with a SAS token, telemetry
//! and one direct method answered.
//!
//! Duet's stack sees the CYW43439 as an Ethernet device: cyw43's
//! `NetDriver` is an `embassy_net_driver::Driver` whose link is up while
//! the chip is joined to the network.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

mod cyw43_blobs;
mod wifi;

use cortex_m_rt::entry;
use cyw43::{JoinOptions, PowerManagementMode};
use cyw43_pio::{DEFAULT_CLOCK_DIVIDER, PioSpi};
use duet_sample_app::{BoardIdentity, Config, HashRng, Rtt, Runner, log};
// Its HardFault handler: a fault ends the run as a panic does.
use duet_sample_cpu as _;
use embassy_executor::{Executor, Spawner};
use embassy_rp::bind_interrupts;
use embassy_rp::clocks::RoscRng;
use embassy_rp::dma::{self, Channel};
use embassy_rp::gpio::{Level, Output};
use embassy_rp::peripherals::{DMA_CH0, PIO0};
use embassy_rp::pio::{self, Pio};
use embassy_time::{Duration, Timer, with_timeout};
use static_cell::StaticCell;

use crate::wifi::{WIFI_PASSWORD, WIFI_SSID};

bind_interrupts!(struct Irqs {
    PIO0_IRQ_0 => pio::InterruptHandler<PIO0>;
    DMA_IRQ_0 => dma::InterruptHandler<DMA_CH0>;
});

/// The gSPI bus to the CYW43439: PIO0's state machine 0, fed by DMA.
type Bus = cyw43::SpiBus<Output<'static>, PioSpi<'static, PIO0, 0>>;
/// The chip as a network device.
type Device = cyw43::NetDriver<'static>;

/// Bytes of the ring oscillator's random bit hashed into the seed.
const ROSC_SEED_BYTES: usize = 64;

static EXECUTOR: StaticCell<Executor> = StaticCell::new();

/// The timeline over RTT; the core runs at 125 MHz (embassy-rp's default,
/// from the 12 MHz crystal).
static RTT: Rtt = Rtt {
    core_hz: 125_000_000,
};

/// The run on the hub the build names (`duet_sample_app::config_from_env`,
/// README.md).
fn config() -> Config {
    duet_sample_app::config_from_env(BoardIdentity {
        board_name: "Raspberry Pi Pico W (RP2040, Cortex-M0+)",
        dhcp_host_name: "duet-pico-w",
        default_device_id: "pico-w",
        build_unix_secs: env!("DUET_BUILD_UNIX_SECS").parse().unwrap_or(0),
    })
}

/// Any panic is a failed run.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    duet_sample_app::fail(format_args!("panic: {info}"))
}
static CYW43: StaticCell<cyw43::State> = StaticCell::new();

#[entry]
fn main() -> ! {
    Rtt::init();
    let p = embassy_rp::init(Default::default());
    duet_sample_app::init(&RTT, config());
    wifi::warn_if_placeholder();
    duet_sample_app::warn_if_placeholder_hub();
    EXECUTOR.init(Executor::new()).run(|spawner| {
        spawner.spawn(board(spawner, p).expect("one board task"));
    })
}

/// Brings up the CYW43439 (firmware, CLM), starts the stack and the
/// application on it, then joins the network, retrying until it has, and
/// joins it again whenever the link is lost.
#[embassy_executor::task]
async fn board(spawner: Spawner, p: embassy_rp::Peripherals) {
    // The RP2040 has no TRNG: the ring oscillator's random bit, sampled
    // and hashed, is the best seed it has (README.md, "Randomness").
    let mut rosc = [0u8; ROSC_SEED_BYTES];
    RoscRng.fill_bytes(&mut rosc);
    let mut rng = HashRng::new(&[&rosc]);

    let power = Output::new(p.PIN_23, Level::Low);
    let chip_select = Output::new(p.PIN_25, Level::High);
    let mut pio = Pio::new(p.PIO0, Irqs);
    let spi = PioSpi::new(
        &mut pio.common,
        pio.sm0,
        DEFAULT_CLOCK_DIVIDER,
        pio.irq0,
        chip_select,
        p.PIN_24, // data in and out
        p.PIN_29, // clock
        Channel::new(p.DMA_CH0, Irqs),
    );
    let state = CYW43.init(cyw43::State::new());
    let (device, mut control, chip) =
        cyw43::new(state, power, spi, cyw43_blobs::FIRMWARE, cyw43_blobs::NVRAM).await;
    spawner.spawn(cyw43_runner(chip).expect("one CYW43 task"));
    control.init(cyw43_blobs::CLM).await;
    control
        .set_power_management(PowerManagementMode::PowerSave)
        .await;
    let mac = control.address().await;
    log!(
        "cyw43: started, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        mac[0],
        mac[1],
        mac[2],
        mac[3],
        mac[4],
        mac[5]
    );

    let (stack, runner) = duet_sample_app::stack(device, mac, rng.seed());
    spawner.spawn(net(runner).expect("one runner task"));
    duet_sample_app::start(spawner, stack, mac, rng);

    let options = if WIFI_PASSWORD.is_empty() {
        JoinOptions::new_open()
    } else {
        JoinOptions::new(WIFI_PASSWORD.as_bytes())
    };
    loop {
        log!("wifi: joining {WIFI_SSID}");
        loop {
            match control.join(WIFI_SSID, options.clone()).await {
                Ok(()) => break,
                Err(error) => log!("wifi: could not join {WIFI_SSID}: {error:?}; again in 2 s"),
            }
            Timer::after_secs(2).await;
        }
        log!("wifi: joined {WIFI_SSID}");
        // Stay joined: the CYW43439 reports a lost association (the access
        // point rebooted, deauthenticated us, went out of range) as link
        // down, and does not join again by itself. The stack, DHCP and the
        // hub client carry on once the link is back.
        if with_timeout(Duration::from_secs(10), stack.wait_link_up())
            .await
            .is_err()
        {
            log!("wifi: joined but the link stayed down");
            continue;
        }
        stack.wait_link_down().await;
        log!("wifi: link lost");
    }
}

/// The CYW43439's own loop: the bus, its events, frames in and out.
#[embassy_executor::task]
async fn cyw43_runner(chip: cyw43::Runner<'static, Bus>) {
    chip.run().await
}

/// Moves frames between the stack and the CYW43439's channel, and runs
/// the stack's timers.
#[embassy_executor::task]
async fn net(mut runner: Runner<'static, Device>) {
    runner.run().await
}
