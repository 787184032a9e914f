//! The test PKI's device-01 identity for client-certificate tests: its key
//! imported into the software provider's key slot 0 (signing then goes by
//! handle, the key never leaves the provider), and its chain.

use std::process::{Command, Stdio};

use duet::crypto::soft::Soft;
use duet::crypto::{KeyHandle, KeyStore, KeyType};

const CERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs/test/");

/// The slot the key is imported into.
pub const DEVICE_KEY: KeyHandle = KeyHandle(0);

/// A provider holding device-01's key, and the chain that goes with it
/// (device certificate, then intermediate), DER.
pub fn device_provider() -> (Soft, Vec<Vec<u8>>) {
    // SEC 1 ECPrivateKey: SEQUENCE, version 1, then the 32-byte scalar.
    let der = Command::new("openssl")
        .args(["ec", "-outform", "DER", "-no_public", "-in"])
        .arg(format!("{CERTS}device-01.key"))
        .stderr(Stdio::null())
        .output()
        .expect("openssl is installed")
        .stdout;
    assert_eq!(
        der[5..7],
        [0x04, 0x20],
        "an ECPrivateKey with a 32-byte scalar"
    );
    let mut soft: Soft = Soft::new();
    soft.import_key(DEVICE_KEY, KeyType::P256, &der[7..39])
        .unwrap();
    let chain = ["device-01", "intermediate-ca"]
        .map(|name| std::fs::read(format!("{CERTS}{name}.der")).unwrap())
        .to_vec();
    (soft, chain)
}
