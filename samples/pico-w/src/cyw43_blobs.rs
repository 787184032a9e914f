//! The CYW43439's blobs: its firmware and CLM (the regulatory tables) from
//! the `cyw43-firmware` crate, and the NVRAM that says how the Pico W's
//! module is built (crystal, antenna, power amplifier calibration), which
//! no crate ships.
//!
//! The NVRAM text is Infineon's for the CYW943439WLPTH reference board,
//! which the Pico W follows: it is the `wifi_nvram_43439.h` of
//! georgerobotics' cyw43-driver (the Pico SDK's driver, "generated from
//! cyw943439wlpth_rev1_0.txt") and embassy's `cyw43-firmware/nvram_rp2040`,
//! identical line for line. Each `key=value` ends in a NUL, the whole in a
//! second NUL; the driver pads it to whole words and writes it to the top
//! of the chip's RAM. The `macaddr` in it is a placeholder: the chip's own
//! address comes from its OTP (`Control::address`).

use cyw43::{A4, Aligned};

/// The Wi-Fi firmware (43439A0), word-aligned for the driver's bus writes.
pub static FIRMWARE: &Aligned<A4, [u8]> = &Aligned(*cyw43_firmware::CYW43_43439A0);

/// The country locale matrix, loaded by `Control::init`.
pub static CLM: &[u8] = cyw43_firmware::CYW43_43439A0_CLM;

/// The module's NVRAM, 741 bytes.
pub static NVRAM: &Aligned<A4, [u8]> = &Aligned(
    *b"\
    NVRAMRev=$Rev$\0\
    manfid=0x2d0\0\
    prodid=0x0727\0\
    vendid=0x14e4\0\
    devid=0x43e2\0\
    boardtype=0x0887\0\
    boardrev=0x1100\0\
    boardnum=22\0\
    macaddr=00:A0:50:b5:59:5e\0\
    sromrev=11\0\
    boardflags=0x00404001\0\
    boardflags3=0x04000000\0\
    xtalfreq=37400\0\
    nocrc=1\0\
    ag0=255\0\
    aa2g=1\0\
    ccode=ALL\0\
    pa0itssit=0x20\0\
    extpagain2g=0\0\
    pa2ga0=-168,6649,-778\0\
    AvVmid_c0=0x0,0xc8\0\
    cckpwroffset0=5\0\
    maxp2ga0=84\0\
    txpwrbckof=6\0\
    cckbw202gpo=0\0\
    legofdmbw202gpo=0x66111111\0\
    mcsbw202gpo=0x77711111\0\
    propbw202gpo=0xdd\0\
    ofdmdigfilttype=18\0\
    ofdmdigfilttypebe=18\0\
    papdmode=1\0\
    papdvalidtest=1\0\
    pacalidx2g=45\0\
    papdepsoffset=-30\0\
    papdendidx=58\0\
    ltecxmux=0\0\
    ltecxpadnum=0x0102\0\
    ltecxfnsel=0x44\0\
    ltecxgcigpio=0x01\0\
    il0macaddr=00:90:4c:c5:12:38\0\
    wl0id=0x431b\0\
    deadman_to=0xffffffff\0\
    muxenab=0x100\0\
    spurconfig=0x3\0\
    glitch_based_crsmin=1\0\
    btc_mode=1\0\
    \0",
);
