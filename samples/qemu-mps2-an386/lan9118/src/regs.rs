//! The controller's register file: the directly addressed system control
//! and status registers and data FIFO ports (LAN9118 datasheet, "System
//! Control and Status Registers"), the MAC registers behind the indirect
//! `MAC_CSR_CMD` / `MAC_CSR_DATA` window ("MAC Control and Status
//! Registers"), and the PHY registers behind the MAC's MII port ("PHY
//! Registers"). The only `unsafe` of the crate is here: the two volatile
//! accesses.

/// Offsets of the system registers and FIFO ports from the base address.
/// Each FIFO port is a 32-byte alias range; its first word is used.
pub(crate) mod reg {
    pub const RX_DATA_FIFO: usize = 0x00;
    pub const TX_DATA_FIFO: usize = 0x20;
    pub const RX_STATUS_FIFO: usize = 0x40;
    pub const TX_STATUS_FIFO: usize = 0x48;
    pub const ID_REV: usize = 0x50;
    pub const IRQ_CFG: usize = 0x54;
    pub const INT_STS: usize = 0x58;
    pub const INT_EN: usize = 0x5c;
    pub const BYTE_TEST: usize = 0x64;
    pub const FIFO_INT: usize = 0x68;
    pub const RX_CFG: usize = 0x6c;
    pub const TX_CFG: usize = 0x70;
    pub const HW_CFG: usize = 0x74;
    pub const RX_FIFO_INF: usize = 0x7c;
    pub const TX_FIFO_INF: usize = 0x80;
    pub const PMT_CTRL: usize = 0x84;
    pub const MAC_CSR_CMD: usize = 0xa4;
    pub const MAC_CSR_DATA: usize = 0xa8;
}

/// Bits of the system registers.
pub(crate) mod bits {
    /// `IRQ_CFG`: the line is enabled, active high, push-pull. QEMU drives
    /// the line inverted (active low) unless both polarity and type say
    /// otherwise.
    pub const IRQ_EN: u32 = 1 << 8;
    pub const IRQ_POL: u32 = 1 << 4;
    pub const IRQ_TYPE: u32 = 1 << 0;
    /// `INT_STS` / `INT_EN`: the PHY raised an interrupt; the RX status
    /// FIFO holds more entries than `FIFO_INT`'s level.
    pub const PHY_INT: u32 = 1 << 18;
    pub const RSFL_INT: u32 = 1 << 3;
    /// `HW_CFG`: soft reset, self-clearing.
    pub const SRST: u32 = 1 << 0;
    /// `PMT_CTRL`: the device is ready to be accessed.
    pub const READY: u32 = 1 << 0;
    /// `TX_CFG`: the transmitter is on.
    pub const TX_ON: u32 = 1 << 1;
    /// `MAC_CSR_CMD`: start the access (and busy until done); read.
    pub const CSR_BUSY: u32 = 1 << 31;
    pub const CSR_READ: u32 = 1 << 30;
}

/// The MAC registers, by index in the `MAC_CSR_CMD` window.
pub(crate) mod mac {
    pub const MAC_CR: u8 = 1;
    pub const ADDRH: u8 = 2;
    pub const ADDRL: u8 = 3;
    pub const MII_ACC: u8 = 6;
    pub const MII_DATA: u8 = 7;

    /// `MAC_CR`: full duplex, transmitter and receiver enabled.
    pub const CR_FDPX: u32 = 1 << 20;
    pub const CR_TXEN: u32 = 1 << 3;
    pub const CR_RXEN: u32 = 1 << 2;
    /// `MII_ACC`: PHY address (bits 15:11), register (10:6), write, busy.
    pub const MII_WRITE: u32 = 1 << 1;
    pub const MII_BUSY: u32 = 1 << 0;
}

/// The internal PHY's registers (IEEE 802.3 clause 22, and SMSC's).
pub(crate) mod phy {
    /// The internal PHY answers at MII address 1.
    pub const ADDRESS: u32 = 1;
    pub const BMCR: u8 = 0;
    pub const BMSR: u8 = 1;
    /// Interrupt source flags, cleared by reading.
    pub const INT_SOURCE: u8 = 29;
    pub const INT_MASK: u8 = 30;

    /// `BMCR`: reset; auto-negotiation enable and restart.
    pub const BMCR_RESET: u16 = 1 << 15;
    pub const BMCR_AN_ENABLE: u16 = 1 << 12;
    pub const BMCR_AN_RESTART: u16 = 1 << 9;
    /// `BMSR`: the link is up.
    pub const BMSR_LINK: u16 = 1 << 2;
    /// Interrupt sources: energy on, auto-negotiation complete, link down.
    pub const INT_ENERGY_ON: u16 = 1 << 7;
    pub const INT_AN_COMPLETE: u16 = 1 << 6;
    pub const INT_LINK_DOWN: u16 = 1 << 4;
}

/// How many times a busy flag is read before giving up on it. QEMU never
/// shows one busy; real silicon needs a few microseconds at most.
const BUSY_SPINS: u32 = 100_000;

/// The register window of the MPS2 boards' controller.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Regs {
    base: usize,
}

impl Regs {
    /// The controller at [`crate::MPS2_BASE`]: the only window a `Regs`
    /// can point at.
    pub(crate) const fn mps2() -> Self {
        Regs {
            base: crate::MPS2_BASE,
        }
    }

    pub(crate) fn read(self, offset: usize) -> u32 {
        // SAFETY: `base` is the LAN9118's 256-byte register window on the
        // MPS2 boards (see `mps2`), and every offset used is one of the
        // word-aligned registers of `reg` inside it. The window is device
        // memory, not RAM: no Rust object aliases it, and a read has no
        // effect beyond the controller's own (popping a FIFO port, which is
        // what the caller asks for).
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) }
    }

    pub(crate) fn write(self, offset: usize, value: u32) {
        // SAFETY: as for `read`: a word-aligned register of the device
        // window, which no Rust object aliases.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u32, value) }
    }

    /// Spins until `done` holds of `register`, or for [`BUSY_SPINS`]
    /// reads; whether it held.
    pub(crate) fn wait(self, register: usize, done: impl Fn(u32) -> bool) -> bool {
        (0..BUSY_SPINS).any(|_| done(self.read(register)))
    }

    fn wait_csr(self) {
        self.wait(reg::MAC_CSR_CMD, |cmd| cmd & bits::CSR_BUSY == 0);
    }

    pub(crate) fn mac_read(self, index: u8) -> u32 {
        self.wait_csr();
        self.write(
            reg::MAC_CSR_CMD,
            bits::CSR_BUSY | bits::CSR_READ | u32::from(index),
        );
        self.wait_csr();
        self.read(reg::MAC_CSR_DATA)
    }

    pub(crate) fn mac_write(self, index: u8, value: u32) {
        self.wait_csr();
        self.write(reg::MAC_CSR_DATA, value);
        self.write(reg::MAC_CSR_CMD, bits::CSR_BUSY | u32::from(index));
        self.wait_csr();
    }

    fn wait_mii(self) {
        (0..BUSY_SPINS).any(|_| self.mac_read(mac::MII_ACC) & mac::MII_BUSY == 0);
    }

    fn mii_command(register: u8) -> u32 {
        (phy::ADDRESS << 11) | (u32::from(register) << 6) | mac::MII_BUSY
    }

    pub(crate) fn phy_read(self, register: u8) -> u16 {
        self.wait_mii();
        self.mac_write(mac::MII_ACC, Self::mii_command(register));
        self.wait_mii();
        self.mac_read(mac::MII_DATA) as u16
    }

    pub(crate) fn phy_write(self, register: u8, value: u16) {
        self.wait_mii();
        self.mac_write(mac::MII_DATA, u32::from(value));
        self.mac_write(mac::MII_ACC, Self::mii_command(register) | mac::MII_WRITE);
        self.wait_mii();
    }
}
