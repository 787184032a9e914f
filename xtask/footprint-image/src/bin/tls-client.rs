//! Footprint image `tls-client`: Duet's TLS 1.2 + 1.3 client with the
//! software crypto provider — handshake in both versions, every suite,
//! certificate path validation, client certificate, max_fragment_length,
//! records both ways — as a device links it (`cargo xtask footprint`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use cortex_m_rt::entry;
use duet_crypto::soft::Soft;
use panic_halt as _;

#[path = "../tls/drive.rs"]
mod drive;

#[entry]
fn main() -> ! {
    let provider: Soft<1> = Soft::new();
    drive::drive(&provider)
}
