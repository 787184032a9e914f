//! Duet on the NUCLEO-H743ZI (STM32H743ZI, Cortex-M7F at 400 MHz), on its
//! Ethernet port, to a real Azure IoT Hub.
//!
//! The board's part is here: the clocks (HSI through PLL1), embassy-time
//! on a general-purpose timer (embassy-stm32's `time-driver-any`), the
//! Ethernet MAC with the board's LAN8742A PHY over RMII (embassy-stm32's
//! `eth::Ethernet`, an `embassy_net_driver::Driver`), a MAC address made
//! from the chip's unique id, the seed from the RNG peripheral (a TRNG),
//! and the timeline over RTT (`duet_sample_app::Rtt`). The application is the samples'
//! shared one (`duet_sample_app`, in `samples/app`): DHCP, DNS, the wall
//! clock from SNTP, TLS to the hub (Azure's roots), MQTT with a SAS token,
//! telemetry and one direct method answered.
//!
//! The hub and the device come from the environment at build time
//! (`duet_sample_app::config_from_env`, README.md).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use cortex_m_rt::entry;
use duet_sample_app::{BoardIdentity, Config, HashRng, Rtt, Runner, log};
// Its HardFault handler: a fault ends the run as a panic does.
use duet_sample_cpu as _;
use embassy_executor::{Executor, Spawner};
use embassy_stm32::eth::{self, Ethernet, GenericPhy, PacketQueue, Sma};
use embassy_stm32::peripherals::{ETH, ETH_SMA, RNG};
use embassy_stm32::rng::{self, Rng};
use embassy_stm32::{bind_interrupts, rcc};
use static_cell::{ConstStaticCell, StaticCell};

bind_interrupts!(struct Irqs {
    ETH => eth::InterruptHandler;
    RNG => rng::InterruptHandler<RNG>;
});

/// The Ethernet driver: the MAC, its PHY found on the MDIO bus.
type Device = Ethernet<'static, ETH, GenericPhy<Sma<'static, ETH_SMA>>>;

/// DMA descriptors and buffers: 4 frames each way. In the AXI SRAM, with
/// every other static (memory.x), where the Ethernet DMA reaches.
static PACKETS: ConstStaticCell<PacketQueue<4, 4>> = ConstStaticCell::new(PacketQueue::new());
static EXECUTOR: StaticCell<Executor> = StaticCell::new();

/// The timeline over RTT; the core runs at 400 MHz (`clocks`).
static RTT: Rtt = Rtt {
    core_hz: 400_000_000,
};

/// The run on the hub the build names (`duet_sample_app::config_from_env`,
/// README.md).
fn config() -> Config {
    duet_sample_app::config_from_env(BoardIdentity {
        board_name: "NUCLEO-H743ZI (STM32H743ZI, Cortex-M7F)",
        dhcp_host_name: "duet-nucleo-h743zi",
        default_device_id: "nucleo-h743zi",
        build_unix_secs: env!("DUET_BUILD_UNIX_SECS").parse().unwrap_or(0),
    })
}

/// Any panic is a failed run.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    duet_sample_app::fail(format_args!("panic: {info}"))
}

#[entry]
fn main() -> ! {
    Rtt::init();
    let p = embassy_stm32::init(clocks());
    duet_sample_app::init(&RTT, config());
    duet_sample_app::warn_if_placeholder_hub();

    // The board's setup runs in the executor's start-up call, in a frame
    // of its own that is gone before any task runs (in `main`'s, the MAC
    // driver and the stack's runner, both moved into tasks, kept their
    // bytes on the stack for good).
    EXECUTOR
        .init(Executor::new())
        .run(move |spawner| start(spawner, p))
}

/// The TRNG's seed, the Ethernet MAC, the stack on it, and the
/// application's tasks.
#[inline(never)]
fn start(spawner: Spawner, p: embassy_stm32::Peripherals) {
    // 256 bits from the TRNG key everything random the run does.
    let mut seed = [0u8; 32];
    Rng::new(p.RNG, Irqs).fill_bytes(&mut seed);

    let mac = mac_address(embassy_stm32::uid::uid());
    let device: Device = Ethernet::new(
        PACKETS.take(),
        p.ETH,
        Irqs,
        p.PA1,  // REF_CLK
        p.PA7,  // CRS_DV
        p.PC4,  // RXD0
        p.PC5,  // RXD1
        p.PG13, // TXD0
        p.PB13, // TXD1
        p.PG11, // TX_EN
        mac,
        p.ETH_SMA,
        p.PA2, // MDIO
        p.PC1, // MDC
    );
    log!(
        "eth: started, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} (from the chip's unique id), RMII to the LAN8742A",
        mac[0],
        mac[1],
        mac[2],
        mac[3],
        mac[4],
        mac[5]
    );

    let mut rng = HashRng::new(&[&seed]);
    let (stack, runner) = duet_sample_app::stack(device, mac, rng.seed());
    spawner.spawn(net(runner).expect("one runner task"));
    duet_sample_app::start(spawner, stack, mac, rng);
}

/// Moves frames between the stack and the MAC, and runs the stack's
/// timers.
#[embassy_executor::task]
async fn net(mut runner: Runner<'static, Device>) {
    runner.run().await
}

/// 400 MHz from the internal 64 MHz oscillator (the board's HSE comes from
/// the ST-LINK only when its solder bridges say so); the HSI48 clocks the
/// RNG.
fn clocks() -> embassy_stm32::Config {
    use rcc::{
        AHBPrescaler, APBPrescaler, HSIPrescaler, Hsi48Config, Pll, PllDiv, PllMul, PllPreDiv,
        PllSource, Sysclk, VoltageScale,
    };
    let mut config = embassy_stm32::Config::default();
    config.rcc.hsi = Some(HSIPrescaler::DIV1);
    config.rcc.csi = true;
    config.rcc.hsi48 = Some(Hsi48Config::new());
    config.rcc.pll1 = Some(Pll {
        source: PllSource::HSI,
        prediv: PllPreDiv::DIV4,
        mul: PllMul::MUL50,
        fracn: None,
        divp: Some(PllDiv::DIV2),
        divq: None,
        divr: None,
    });
    config.rcc.sys = Sysclk::PLL1_P;
    config.rcc.ahb_pre = AHBPrescaler::DIV2;
    config.rcc.apb1_pre = APBPrescaler::DIV2;
    config.rcc.apb2_pre = APBPrescaler::DIV2;
    config.rcc.apb3_pre = APBPrescaler::DIV2;
    config.rcc.apb4_pre = APBPrescaler::DIV2;
    config.rcc.voltage_scale = VoltageScale::Scale1;
    config
}

/// A locally administered unicast address (IEEE 802 §8.2.2: bit 1 of the
/// first octet set, bit 0 clear) from the 96-bit unique id: ST assigns no
/// MAC address to the chip.
fn mac_address(uid: [u8; 12]) -> [u8; 6] {
    let mut mac = [0x02, 0, 0, 0, 0, 0];
    for (i, byte) in uid.iter().enumerate() {
        mac[1 + i % 5] ^= byte;
    }
    mac
}
