//! `crypto`: duet-crypto's software provider against OpenSSL's `openssl
//! speed`, primitive by primitive, in one run.
//!
//! For each primitive Duet runs first (through the provider traits, as the
//! TLS engine will call it), then the matching `openssl speed -mr` command,
//! so the two figures of a line come from the same minute on the same
//! machine. Both sides divide by CPU time (Duet: `getrusage` user+sys;
//! `openssl speed`: user time, its default without `-elapsed`).
//!
//! Units: bulk primitives in MB/s (10^6 bytes per CPU-second), public-key
//! operations in operations per CPU-second. Higher is better for both, and
//! `ratio = duet / openssl`, so a ratio below 1 means Duet is slower.
//!
//! What one operation is, on each side:
//! - `sha256`: hashing a 16 KiB buffer (`-evp sha256 -bytes 16384`).
//! - `hmac-sha256-64B`: HMAC of a 64-byte message under a key whose pads
//!   were hashed once (`-hmac sha256 -bytes 64`, which re-initialises a
//!   keyed context per message too).
//! - `aes-128-gcm-16KiB`, `aes-128-gcm-1KiB`: sealing one record: nonce,
//!   13 bytes of AAD, the payload, the tag (`-aead -evp aes-128-gcm`, the
//!   TLS-like sequence).
//! - `ecdsa-p256-sign`: a signature over a 32-byte prehash with a stored
//!   key (RFC 6979 nonces on Duet's side, random ones on OpenSSL's).
//! - `ecdsa-p256-verify`: `SignatureVerifier::verify`, which parses the
//!   SEC1 key and DER signature and hashes the 20-byte message each time;
//!   OpenSSL verifies with a loaded key.
//! - `ecdh-p256`: the shared secret from a peer point (one variable-base
//!   scalar multiplication), as `ecdhp256` derives; key generation is timed
//!   apart and left out.
//! - `rsa2048-verify`: PKCS#1 v1.5 with SHA-256, e = 65537, through
//!   `SignatureVerifier::verify`, which parses the DER key and sets up the
//!   Montgomery parameters each call; OpenSSL keeps them in its loaded key.

mod duet;
mod openssl;

use std::fmt;
use std::time::Duration;

/// How a figure is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// 10^6 bytes per CPU-second.
    MegabytesPerSecond,
    /// Operations per CPU-second.
    OpsPerSecond,
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::MegabytesPerSecond => "MB/s",
            Unit::OpsPerSecond => "ops/s",
        })
    }
}

/// The measured primitives, in the order of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Primitive {
    Sha256,
    HmacSha256,
    Aes128Gcm16K,
    Aes128Gcm1K,
    EcdsaP256Sign,
    EcdsaP256Verify,
    EcdhP256,
    Rsa2048Verify,
}

impl Primitive {
    pub const ALL: [Primitive; 8] = [
        Primitive::Sha256,
        Primitive::HmacSha256,
        Primitive::Aes128Gcm16K,
        Primitive::Aes128Gcm1K,
        Primitive::EcdsaP256Sign,
        Primitive::EcdsaP256Verify,
        Primitive::EcdhP256,
        Primitive::Rsa2048Verify,
    ];

    /// The name in output lines.
    pub fn name(self) -> &'static str {
        match self {
            Primitive::Sha256 => "sha256",
            Primitive::HmacSha256 => "hmac-sha256-64B",
            Primitive::Aes128Gcm16K => "aes-128-gcm-16KiB",
            Primitive::Aes128Gcm1K => "aes-128-gcm-1KiB",
            Primitive::EcdsaP256Sign => "ecdsa-p256-sign",
            Primitive::EcdsaP256Verify => "ecdsa-p256-verify",
            Primitive::EcdhP256 => "ecdh-p256",
            Primitive::Rsa2048Verify => "rsa2048-verify",
        }
    }

    /// Bytes one operation processes, for the bulk primitives.
    pub fn bytes_per_op(self) -> Option<u64> {
        match self {
            Primitive::Sha256 | Primitive::Aes128Gcm16K => Some(16384),
            Primitive::HmacSha256 => Some(64),
            Primitive::Aes128Gcm1K => Some(1024),
            _ => None,
        }
    }

    pub fn unit(self) -> Unit {
        match self.bytes_per_op() {
            Some(_) => Unit::MegabytesPerSecond,
            None => Unit::OpsPerSecond,
        }
    }
}

/// Operations counted over CPU time: one side's measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub ops: u64,
    pub cpu: Duration,
}

impl Rate {
    pub fn ops_per_second(&self) -> f64 {
        self.ops as f64 / self.cpu.as_secs_f64()
    }

    /// The figure in `primitive`'s unit.
    pub fn figure(&self, primitive: Primitive) -> f64 {
        match primitive.bytes_per_op() {
            Some(bytes) => self.ops_per_second() * bytes as f64 / 1e6,
            None => self.ops_per_second(),
        }
    }
}

/// The unit line that opens the output.
pub fn units_line() -> String {
    "bench crypto-detail units: bulk primitives in MB/s (10^6 bytes per CPU-second), \
     public-key operations in ops/s (per CPU-second); higher is better for both and \
     ratio = duet/openssl, so ratio < 1 means Duet is slower"
        .to_string()
}

/// How Duet's figure was obtained.
pub fn detail_line(primitive: Primitive, duet: &Rate) -> String {
    format!(
        "bench crypto-detail {} unit={} duet_ops={} duet_cpu_s={:.3} duet_ops_per_s={:.1}",
        primitive.name(),
        primitive.unit(),
        duet.ops,
        duet.cpu.as_secs_f64(),
        duet.ops_per_second(),
    )
}

/// The summary line: `bench crypto <primitive> duet=<x> openssl=<y>
/// ratio=<x/y>`, with `unavailable` for OpenSSL's figure and the ratio
/// when `openssl speed` could not be run or read.
pub fn summary_line(primitive: Primitive, duet: f64, openssl: Option<f64>) -> String {
    let name = primitive.name();
    let precision = match primitive.unit() {
        Unit::MegabytesPerSecond => 1,
        Unit::OpsPerSecond => 0,
    };
    match openssl {
        Some(anchor) if anchor > 0.0 => format!(
            "bench crypto {name} duet={duet:.precision$} openssl={anchor:.precision$} \
             ratio={:.3}",
            duet / anchor
        ),
        _ => format!(
            "bench crypto {name} duet={duet:.precision$} openssl=unavailable ratio=unavailable"
        ),
    }
}

/// Runs every primitive, Duet then OpenSSL, printing as it goes. `seconds`
/// is each side's time per primitive.
pub fn run(seconds: u32) -> Result<(), duet::Error> {
    println!("{}", units_line());
    match openssl::version() {
        Ok(version) => println!("bench crypto-detail openssl version=\"{version}\""),
        Err(why) => println!("bench crypto-detail openssl unavailable: {why}"),
    }
    let budget = Duration::from_secs(u64::from(seconds));
    let mut asymmetric = openssl::Asymmetric::default();
    for primitive in Primitive::ALL {
        let duet = duet::run(primitive, budget)?;
        println!("{}", detail_line(primitive, &duet));
        let anchor = match openssl::command_for(primitive) {
            openssl::Command::Symmetric(args) => openssl::symmetric(&args, seconds),
            openssl::Command::Asymmetric(algorithm) => {
                asymmetric.figure(algorithm, primitive, seconds)
            }
        };
        let anchor = match anchor {
            Ok(figure) => Some(figure),
            Err(why) => {
                println!(
                    "bench crypto-detail {} openssl unavailable: {why}",
                    primitive.name()
                );
                None
            }
        };
        println!(
            "{}",
            summary_line(primitive, duet.figure(primitive), anchor)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_megabytes_or_operations_per_cpu_second() {
        let rate = Rate {
            ops: 1000,
            cpu: Duration::from_millis(500),
        };
        assert_eq!(rate.ops_per_second(), 2000.0);
        // 2000 ops of 16 KiB per second = 32.768 MB/s.
        assert!((rate.figure(Primitive::Sha256) - 32.768).abs() < 1e-9);
        assert_eq!(rate.figure(Primitive::EcdhP256), 2000.0);
        assert_eq!(Primitive::HmacSha256.unit(), Unit::MegabytesPerSecond);
        assert_eq!(Primitive::Rsa2048Verify.unit(), Unit::OpsPerSecond);
    }

    #[test]
    fn lines_have_the_documented_format() {
        assert_eq!(
            summary_line(Primitive::Sha256, 1500.04, Some(2000.0)),
            "bench crypto sha256 duet=1500.0 openssl=2000.0 ratio=0.750"
        );
        assert_eq!(
            summary_line(Primitive::EcdsaP256Verify, 4000.4, Some(16000.0)),
            "bench crypto ecdsa-p256-verify duet=4000 openssl=16000 ratio=0.250"
        );
        assert_eq!(
            summary_line(Primitive::Rsa2048Verify, 9000.0, None),
            "bench crypto rsa2048-verify duet=9000 openssl=unavailable ratio=unavailable"
        );
        let rate = Rate {
            ops: 10,
            cpu: Duration::from_millis(250),
        };
        assert_eq!(
            detail_line(Primitive::EcdhP256, &rate),
            "bench crypto-detail ecdh-p256 unit=ops/s duet_ops=10 duet_cpu_s=0.250 \
             duet_ops_per_s=40.0"
        );
        assert!(units_line().contains("ratio = duet/openssl"));
    }

    #[test]
    fn every_primitive_has_a_name_and_an_openssl_command() {
        let mut names: Vec<_> = Primitive::ALL.iter().map(|p| p.name()).collect();
        names.dedup();
        assert_eq!(names.len(), Primitive::ALL.len());
        for primitive in Primitive::ALL {
            let _ = openssl::command_for(primitive);
        }
    }
}
