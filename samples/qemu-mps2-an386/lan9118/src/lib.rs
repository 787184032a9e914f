//! A driver for the SMSC LAN9118 Ethernet controller of the Arm MPS2 boards
//! (AN385, AN386), as QEMU emulates it (`-M mps2-an386 -nic
//! user,model=lan9118`), implementing [`embassy_net_driver::Driver`].
//!
//! The controller has no DMA: frames go through FIFO ports word by word.
//! A received frame is copied out of the RX data FIFO into the driver's
//! buffer when the stack asks for it; a frame to send is written by the
//! stack into the driver's buffer and then pushed into the TX data FIFO
//! behind its two command words. One frame buffer each way, so the tokens
//! lend exactly one frame, as the trait asks.
//!
//! The driver runs in one of two modes:
//! - polling (after [`Lan9118::mps2`]): when nothing has arrived it asks
//!   to be polled again at once, so the executor never sleeps;
//! - interrupt (after [`Lan9118::enable_interrupt`]): it sleeps until the
//!   controller raises IRQ [`MPS2_IRQ`] for a received frame or a PHY event
//!   (link up or down), whose handler must call [`on_interrupt`]; with the
//!   `rt` feature this crate defines that handler (cortex-m-rt's
//!   `DefaultHandler`, which every device interrupt without a handler of its
//!   own reaches when the firmware has no device crate).
//!
//! Facts this follows (TESTING.md, "Emulated board"): the controller sits
//! at `0x4020_0000`; the PHY at MII address 1; the RX status word's length
//! includes the 4-byte FCS; nothing is received until `MAC_CR.RXEN` is set;
//! `ID_REV` reads `0x0118_0001`.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations)]

mod regs;

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::Context;

use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::NVIC;
use embassy_net_driver::{Capabilities, HardwareAddress, LinkState};
use embassy_sync::waitqueue::AtomicWaker;

use regs::{Regs, bits, mac, phy, reg};

/// Where the controller's registers are on the MPS2 boards.
pub const MPS2_BASE: usize = 0x4020_0000;

/// Its interrupt line on the AN385/AN386 boards.
pub const MPS2_IRQ: u16 = 13;

/// The `ID_REV` chip id (upper half) of a LAN9118.
const CHIP_ID: u32 = 0x0118;
/// What `BYTE_TEST` reads when the bus is the right way round.
const BYTE_TEST: u32 = 0x8765_4321;

/// Padding the controller puts in front of each received frame
/// (`RX_CFG.RXDOFF`): with it the IP header, after the 14-byte Ethernet
/// header, starts on a word boundary, so the stack's copies take the
/// aligned path.
const RX_OFFSET: usize = 2;
/// The frame check sequence the RX FIFO keeps after each frame.
const FCS_LEN: usize = 4;
/// The largest frame without FCS: 1500 bytes of payload and the header.
const MAX_FRAME_LEN: usize = 1514;
/// The smallest: an Ethernet header.
const MIN_FRAME_LEN: usize = 14;
/// Full frames the RX data FIFO holds.
const RX_FIFO_FRAMES: usize = 6;
/// A frame buffer: offset, frame, FCS, rounded up to whole words.
const BUFFER_LEN: usize = 1536;

/// RX status word: frame length (with FCS) in bits 29:16; error summary.
const RX_STATUS_LEN_SHIFT: u32 = 16;
const RX_STATUS_LEN_MASK: u32 = 0x3fff;
const RX_STATUS_ERROR: u32 = 1 << 15;
/// TX command A: first and last segment of the frame (one buffer per
/// frame); the buffer size is in bits 10:0.
const TX_CMD_A_FIRST: u32 = 1 << 13;
const TX_CMD_A_LAST: u32 = 1 << 12;
/// TX status word: error summary.
const TX_STATUS_ERROR: u32 = 1 << 15;

/// A MAC address for a controller that has none (no EEPROM): locally
/// administered, unicast.
const FALLBACK_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x93, 0x86];

/// Whether the one controller has been handed out.
static TAKEN: AtomicBool = AtomicBool::new(false);
/// The task to wake when the controller interrupts.
static WAKER: AtomicWaker = AtomicWaker::new();

/// Why the controller could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// [`Lan9118::mps2`] was called before.
    Taken,
    /// `ID_REV` does not name a LAN9118: nothing, or another chip, is there.
    NotFound { id_rev: u32 },
    /// `BYTE_TEST` read wrong: the bus is not the expected 32-bit one.
    ByteTest { read: u32 },
    /// The controller did not come out of its soft reset.
    NotReady,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Taken => f.write_str("the LAN9118 was taken already"),
            Error::NotFound { id_rev } => write!(f, "no LAN9118 (ID_REV {id_rev:#010x})"),
            Error::ByteTest { read } => write!(f, "BYTE_TEST read {read:#010x}"),
            Error::NotReady => f.write_str("the LAN9118 did not leave reset"),
        }
    }
}

/// What the driver counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub rx_frames: u32,
    /// Frames dropped for an error flag or an impossible length.
    pub rx_dropped: u32,
    pub tx_frames: u32,
    /// TX status words with the error flag.
    pub tx_errors: u32,
}

/// One frame, word-aligned so the FIFO's words map onto it directly.
#[repr(C, align(4))]
struct FrameBuffer([u8; BUFFER_LEN]);

/// The driver's memory: a frame received and a frame to send (3 KB).
///
/// The caller's, in a static (`static_cell::ConstStaticCell`; `new` is
/// all zero bytes, so it lands in `.bss`): held inside the driver, those
/// 3 KB were copied on the boot stack each time the driver moved — into the
/// stack's runner, into its task.
pub struct Buffers {
    rx: FrameBuffer,
    tx: FrameBuffer,
}

impl Buffers {
    pub const fn new() -> Self {
        Buffers {
            rx: FrameBuffer([0; BUFFER_LEN]),
            tx: FrameBuffer([0; BUFFER_LEN]),
        }
    }
}

impl Default for Buffers {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Buffers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buffers").finish_non_exhaustive()
    }
}

/// The controller, started: MAC and PHY configured, receiver and
/// transmitter on.
pub struct Lan9118 {
    regs: Regs,
    mac: [u8; 6],
    interrupt: bool,
    buffers: &'static mut Buffers,
    stats: Stats,
}

impl Lan9118 {
    /// Takes the controller of the MPS2 board, resets and starts it, in
    /// polling mode, with `buffers` for its frames.
    pub fn mps2(buffers: &'static mut Buffers) -> Result<Self, Error> {
        if TAKEN.swap(true, Ordering::AcqRel) {
            return Err(Error::Taken);
        }
        Self::start(Regs::mps2(), buffers)
    }

    fn start(regs: Regs, buffers: &'static mut Buffers) -> Result<Self, Error> {
        let id_rev = regs.read(reg::ID_REV);
        if id_rev >> 16 != CHIP_ID {
            return Err(Error::NotFound { id_rev });
        }
        let read = regs.read(reg::BYTE_TEST);
        if read != BYTE_TEST {
            return Err(Error::ByteTest { read });
        }
        regs.write(reg::HW_CFG, bits::SRST);
        let reset = regs.wait(reg::HW_CFG, |v| v & bits::SRST == 0);
        if !reset || !regs.wait(reg::PMT_CTRL, |v| v & bits::READY != 0) {
            return Err(Error::NotReady);
        }
        regs.write(reg::INT_EN, 0);
        regs.write(reg::INT_STS, u32::MAX);
        regs.write(reg::IRQ_CFG, bits::IRQ_EN | bits::IRQ_POL | bits::IRQ_TYPE);
        // Status level 0: RSFL as soon as one frame waits.
        regs.write(reg::FIFO_INT, 0);
        regs.write(reg::RX_CFG, (RX_OFFSET as u32) << 8);
        regs.write(reg::TX_CFG, bits::TX_ON);

        regs.phy_write(phy::BMCR, phy::BMCR_RESET);
        regs.phy_write(phy::BMCR, phy::BMCR_AN_ENABLE | phy::BMCR_AN_RESTART);
        regs.phy_write(
            phy::INT_MASK,
            phy::INT_ENERGY_ON | phy::INT_AN_COMPLETE | phy::INT_LINK_DOWN,
        );

        let mac = read_mac(regs);
        regs.mac_write(mac::MAC_CR, mac::CR_FDPX | mac::CR_TXEN | mac::CR_RXEN);
        Ok(Lan9118 {
            regs,
            mac,
            interrupt: false,
            buffers,
            stats: Stats::default(),
        })
    }

    /// The station address: the one QEMU (or the EEPROM) gave, else
    /// [`FALLBACK_MAC`].
    pub fn mac_address(&self) -> [u8; 6] {
        self.mac
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Switches to interrupt mode: unmasks IRQ [`MPS2_IRQ`] in the NVIC.
    /// That interrupt must reach [`on_interrupt`] (the `rt` feature's
    /// handler does it), or the driver sleeps forever.
    pub fn enable_interrupt(&mut self) {
        self.interrupt = true;
        // SAFETY: unmasking lets the handler run. It only calls
        // `on_interrupt`, which writes INT_EN and wakes a waker guarded by
        // a critical section, so no mask-based critical section is broken.
        unsafe { NVIC::unmask(Irq(MPS2_IRQ)) }
    }

    /// Number of RX status words waiting: one per received frame.
    fn frames_waiting(&self) -> u32 {
        (self.regs.read(reg::RX_FIFO_INF) >> 16) & 0xff
    }

    /// Copies the next good frame into the RX buffer; its length without
    /// FCS.
    fn next_frame(&mut self, cx: &mut Context<'_>) -> Option<usize> {
        loop {
            if self.frames_waiting() == 0 && !self.arm(cx) {
                return None;
            }
            let status = self.regs.read(reg::RX_STATUS_FIFO);
            let len = ((status >> RX_STATUS_LEN_SHIFT) & RX_STATUS_LEN_MASK) as usize;
            // The FIFO holds offset, frame and FCS, padded to a word.
            let words = (RX_OFFSET + len).div_ceil(4);
            let good = status & RX_STATUS_ERROR == 0
                && (MIN_FRAME_LEN + FCS_LEN..=MAX_FRAME_LEN + FCS_LEN).contains(&len);
            if !good {
                // Read it out all the same: the FIFO has no other way on
                // that QEMU implements faithfully.
                for _ in 0..words {
                    self.regs.read(reg::RX_DATA_FIFO);
                }
                self.stats.rx_dropped += 1;
                continue;
            }
            for word in self.buffers.rx.0[..words * 4].chunks_exact_mut(4) {
                word.copy_from_slice(&self.regs.read(reg::RX_DATA_FIFO).to_le_bytes());
            }
            self.stats.rx_frames += 1;
            return Some(len - FCS_LEN);
        }
    }

    /// Nothing to read: arranges to be woken when a frame arrives, unless
    /// one arrived meanwhile (true).
    fn arm(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.interrupt {
            cx.waker().wake_by_ref();
            return false;
        }
        WAKER.register(cx.waker());
        // RSFL stays set until cleared: clear it, then look again, so a
        // frame that came in between is not missed.
        self.regs.write(reg::INT_STS, bits::RSFL_INT);
        if self.frames_waiting() > 0 {
            return true;
        }
        self.regs.write(reg::INT_EN, bits::RSFL_INT | bits::PHY_INT);
        false
    }
}

/// Reads the station address from `ADDRL`/`ADDRH`, or sets the fallback.
fn read_mac(regs: Regs) -> [u8; 6] {
    let low = regs.mac_read(mac::ADDRL).to_le_bytes();
    let high = regs.mac_read(mac::ADDRH).to_le_bytes();
    let address = [low[0], low[1], low[2], low[3], high[0], high[1]];
    if address != [0; 6] && address[0] & 1 == 0 {
        return address;
    }
    let [a, b, c, d, e, f] = FALLBACK_MAC;
    regs.mac_write(mac::ADDRL, u32::from_le_bytes([a, b, c, d]));
    regs.mac_write(mac::ADDRH, u32::from_le_bytes([e, f, 0, 0]));
    FALLBACK_MAC
}

/// To be called from the handler of IRQ [`MPS2_IRQ`]: masks the
/// controller's interrupts (the line is level-triggered and stays high
/// until the cause is served) and wakes the driver, which serves the cause
/// and unmasks them when it has nothing left to do.
pub fn on_interrupt() {
    Regs::mps2().write(reg::INT_EN, 0);
    WAKER.wake();
}

/// Serves IRQ [`MPS2_IRQ`]; no other interrupt is unmasked, so any other
/// is a fault.
#[cfg(feature = "rt")]
#[cortex_m_rt::exception]
// SAFETY: cortex-m-rt asks for an `unsafe fn` because the handler must not
// be called from safe code; it is only ever entered by the hardware.
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == MPS2_IRQ as i16 {
        on_interrupt();
    } else {
        panic!("unexpected interrupt {irqn}");
    }
}

/// An interrupt line, for the NVIC.
#[derive(Debug, Clone, Copy)]
struct Irq(u16);

// SAFETY: the number is an external interrupt line of the board, below the
// Cortex-M4's limit of 240.
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

impl fmt::Debug for Lan9118 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lan9118")
            .field("mac", &self.mac)
            .field("interrupt", &self.interrupt)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// A received frame, in the driver's RX buffer.
#[derive(Debug)]
pub struct RxToken<'a> {
    frame: &'a mut [u8],
}

impl embassy_net_driver::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

/// Room for one frame to send.
#[derive(Debug)]
pub struct TxToken<'a> {
    regs: Regs,
    buffer: &'a mut [u8; BUFFER_LEN],
    stats: &'a mut Stats,
}

impl embassy_net_driver::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let len = len.min(MAX_FRAME_LEN);
        let result = f(&mut self.buffer[..len]);
        let tag = self.stats.tx_frames & 0xffff;
        self.regs.write(
            reg::TX_DATA_FIFO,
            TX_CMD_A_FIRST | TX_CMD_A_LAST | len as u32,
        );
        self.regs.write(reg::TX_DATA_FIFO, (tag << 16) | len as u32);
        for word in self.buffer[..len.div_ceil(4) * 4].chunks_exact(4) {
            let word = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            self.regs.write(reg::TX_DATA_FIFO, word);
        }
        self.stats.tx_frames += 1;
        // One status word per frame; drained so the status FIFO never
        // fills (and stops the transmitter).
        while (self.regs.read(reg::TX_FIFO_INF) >> 16) & 0xff > 0 {
            if self.regs.read(reg::TX_STATUS_FIFO) & TX_STATUS_ERROR != 0 {
                self.stats.tx_errors += 1;
            }
        }
        result
    }
}

impl embassy_net_driver::Driver for Lan9118 {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, cx: &mut Context) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let len = self.next_frame(cx)?;
        let rx = RxToken {
            frame: &mut self.buffers.rx.0[RX_OFFSET..RX_OFFSET + len],
        };
        let tx = TxToken {
            regs: self.regs,
            buffer: &mut self.buffers.tx.0,
            stats: &mut self.stats,
        };
        Some((rx, tx))
    }

    fn transmit(&mut self, cx: &mut Context) -> Option<TxToken<'_>> {
        // TDFREE: bytes free in the TX data FIFO, for the frame and its
        // two command words.
        let free = (self.regs.read(reg::TX_FIFO_INF) & 0xffff) as usize;
        if free < BUFFER_LEN + 8 {
            // The FIFO drains onto the wire within a frame time.
            cx.waker().wake_by_ref();
            return None;
        }
        Some(TxToken {
            regs: self.regs,
            buffer: &mut self.buffers.tx.0,
            stats: &mut self.stats,
        })
    }

    fn link_state(&mut self, cx: &mut Context) -> LinkState {
        if self.interrupt {
            WAKER.register(cx.waker());
        }
        // Reading the source acknowledges the PHY's interrupt.
        self.regs.phy_read(phy::INT_SOURCE);
        if self.regs.phy_read(phy::BMSR) & phy::BMSR_LINK != 0 {
            LinkState::Up
        } else {
            LinkState::Down
        }
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::default();
        capabilities.max_transmission_unit = MAX_FRAME_LEN;
        // The RX data FIFO (10,560 bytes with the default TX FIFO size)
        // holds six full frames; more arriving back to back are dropped.
        capabilities.max_burst_size = Some(RX_FIFO_FRAMES);
        capabilities
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac)
    }
}
