//! Duet's benchmarks: `cargo xtask bench <area>` runs this binary, built
//! with the release profile, as `duet-bench <area> [options]`.
//!
//! Each area measures Duet and an anchor (smoltcp in the same process for
//! `tcp`; `openssl speed` as a child process for `crypto`) one after the
//! other in the same run, so the ratio between them holds on a noisy
//! machine; each prints one machine-readable line per figure (see
//! ARCHITECTURE.md, "Measuring"). Speed is measured here and never asserted
//! in tests.
//!
//! Areas:
//! - `tcp` ([`tcp`]): one connection moving 4 GiB over an in-memory
//!   Ethernet link; CPU-seconds per GiB, MB/s, ACKs per data segment.
//! - `crypto` ([`crypto`]): duet-crypto's software provider against
//!   `openssl speed`, primitive by primitive; MB/s and operations/s.
//! - `mqtt` ([`mqtt`]): 100,000 publishes to a local mosquitto at QoS
//!   0/1/2, Duet's session against rumqttc; messages per second.
//! - `tls` ([`tls`]): Duet's TLS client against `openssl s_time` /
//!   `s_client` on the same local s_server: handshake CPU time, bulk MB/s.
#![deny(unsafe_code)]

mod cpu;
mod crypto;
mod frame_kind;
mod link;
mod local_port;
mod mqtt;
mod mqtt_client;
mod pattern;
mod tcp;
mod tls;

use std::process::ExitCode;

const USAGE: &str = "\
usage: duet-bench <area> [options]

areas:
  tcp            one TCP connection over an in-memory Ethernet link, Duet
                 against smoltcp 0.14: CPU-s/GiB, MB/s, ACKs per data segment
  crypto         duet-crypto's software provider against `openssl speed`:
                 SHA-256, HMAC, AES-128-GCM, ECDSA/ECDH P-256, RSA-2048 verify
  mqtt           100,000 64-byte publishes to a local mosquitto at QoS 0/1/2,
                 Duet against rumqttc: messages per second (--count N)
  tls            Duet's TLS client against openssl's on one local s_server:
                 handshake ms (1.3 ECDSA, 1.2 RSA), bulk MB/s (1.3 AES-128-GCM)

options for tcp:
  --bytes N      move N bytes (default 4 GiB)
  --gib F        move F GiB (e.g. 0.0625 for a 64 MiB smoke run)

options for crypto:
  --seconds N    CPU seconds per primitive and side (default 1)

options for tls:
  --handshakes N Duet handshakes per case (default 200; s_time runs 3 s)
  --megabytes N  MiB of bulk data per client (default 256)";

/// CPU seconds each side spends on a primitive unless told otherwise, as
/// `openssl speed -seconds 1`.
const DEFAULT_CRYPTO_SECONDS: u32 = 1;

/// Bytes a `tcp` run moves unless told otherwise: 4 GiB.
const DEFAULT_TCP_BYTES: u64 = 4 << 30;

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Command {
    Tcp { bytes: u64 },
    Crypto { seconds: u32 },
    Tls { handshakes: u32, megabytes: usize },
    Mqtt { count: u64 },
    Help,
}

/// Reads the command from the arguments after the program name.
fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut args = args.into_iter();
    match args.next().as_deref() {
        Some("tcp") => {}
        Some("crypto") => return parse_crypto_args(args),
        Some("tls") => return parse_tls_args(args),
        Some("mqtt") => return parse_mqtt_args(args),
        Some("help" | "-h" | "--help") | None => return Ok(Command::Help),
        Some(other) => return Err(format!("unknown area `{other}`")),
    }
    let mut bytes = DEFAULT_TCP_BYTES;
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("`{flag}` needs a value"))?;
        bytes = match flag.as_str() {
            "--bytes" => value
                .parse()
                .map_err(|_| format!("`--bytes {value}`: not a whole number of bytes"))?,
            "--gib" => {
                let gib: f64 = value
                    .parse()
                    .map_err(|_| format!("`--gib {value}`: not a number"))?;
                // Saturating float-to-int cast; the range check follows.
                (gib * (1u64 << 30) as f64) as u64
            }
            _ => return Err(format!("unknown option `{flag}`")),
        };
    }
    if bytes == 0 {
        return Err("nothing to move: the byte count must be at least 1".into());
    }
    Ok(Command::Tcp { bytes })
}

/// Reads the options of the `crypto` area.
fn parse_crypto_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut seconds = DEFAULT_CRYPTO_SECONDS;
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("`{flag}` needs a value"))?;
        match flag.as_str() {
            "--seconds" => {
                seconds = value
                    .parse()
                    .ok()
                    .filter(|&seconds| seconds > 0)
                    .ok_or_else(|| format!("`--seconds {value}`: not a whole number above 0"))?;
            }
            _ => return Err(format!("unknown option `{flag}`")),
        }
    }
    Ok(Command::Crypto { seconds })
}

/// Reads the options of the `mqtt` area.
fn parse_mqtt_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut count = 100_000u64;
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("`{flag}` needs a value"))?;
        match flag.as_str() {
            "--count" => {
                count = value
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("`--count {value}`: not a whole number above 0"))?;
            }
            _ => return Err(format!("unknown option `{flag}`")),
        }
    }
    Ok(Command::Mqtt { count })
}

/// Reads the options of the `tls` area.
fn parse_tls_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let (mut handshakes, mut megabytes) = (200u32, 256usize);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("`{flag}` needs a value"))?;
        let number: usize = value
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("`{flag} {value}`: not a whole number above 0"))?;
        match flag.as_str() {
            "--handshakes" => handshakes = u32::try_from(number).unwrap_or(u32::MAX),
            "--megabytes" => megabytes = number,
            _ => return Err(format!("unknown option `{flag}`")),
        }
    }
    Ok(Command::Tls {
        handshakes,
        megabytes,
    })
}

/// Runs smoltcp, Duet and the stackless floor (the applications' own
/// share, beside: no stack can cost less) in turns, and prints their lines.
fn bench_tcp(bytes: u64) -> Result<(), tcp::Error> {
    let [smoltcp, duet, floor] = tcp::interleaved(bytes)?;
    for figures in [&smoltcp, &duet, &floor] {
        println!("{}", tcp::detail_line(figures));
    }
    println!("{}", tcp::summary_line(&duet, &smoltcp));
    Ok(())
}

fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("duet-bench: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Help => {
            println!("{USAGE}");
            Ok(())
        }
        Command::Tcp { bytes } => bench_tcp(bytes).map_err(|error| error.to_string()),
        Command::Crypto { seconds } => crypto::run(seconds).map_err(|error| error.to_string()),
        Command::Tls {
            handshakes,
            megabytes,
        } => tls::run(handshakes, 3, megabytes),
        Command::Mqtt { count } => mqtt::run(count),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("duet-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn areas_and_sizes_parse_and_strays_are_rejected() {
        assert_eq!(parse(&[]), Ok(Command::Help));
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
        assert_eq!(
            parse(&["tcp"]),
            Ok(Command::Tcp {
                bytes: 4 * 1024 * 1024 * 1024
            })
        );
        assert_eq!(
            parse(&["tcp", "--bytes", "1000"]),
            Ok(Command::Tcp { bytes: 1000 })
        );
        assert_eq!(
            parse(&["tcp", "--gib", "0.0625"]),
            Ok(Command::Tcp { bytes: 64 << 20 })
        );
        assert!(parse(&["udp"]).unwrap_err().contains("udp"));
        assert!(parse(&["tcp", "--bytes"]).unwrap_err().contains("--bytes"));
        assert!(
            parse(&["tcp", "--bytes", "1e3"])
                .unwrap_err()
                .contains("1e3")
        );
        assert!(parse(&["tcp", "--gib", "x"]).unwrap_err().contains("x"));
        assert!(
            parse(&["tcp", "--fast", "1"])
                .unwrap_err()
                .contains("--fast")
        );
        assert!(parse(&["tcp", "--bytes", "0"]).is_err());
        assert!(parse(&["tcp", "--gib", "-1"]).is_err());
    }

    #[test]
    fn mqtt_takes_a_count() {
        assert_eq!(parse(&["mqtt"]), Ok(Command::Mqtt { count: 100_000 }));
        assert_eq!(
            parse(&["mqtt", "--count", "500"]),
            Ok(Command::Mqtt { count: 500 })
        );
        assert!(parse(&["mqtt", "--count", "0"]).is_err());
        assert!(parse(&["mqtt", "--qos", "1"]).is_err());
    }

    #[test]
    fn tls_takes_handshakes_and_megabytes() {
        assert_eq!(
            parse(&["tls"]),
            Ok(Command::Tls {
                handshakes: 200,
                megabytes: 256
            })
        );
        assert_eq!(
            parse(&["tls", "--handshakes", "10", "--megabytes", "4"]),
            Ok(Command::Tls {
                handshakes: 10,
                megabytes: 4
            })
        );
        assert!(parse(&["tls", "--megabytes", "0"]).is_err());
        assert!(parse(&["tls", "--rounds", "3"]).is_err());
    }

    #[test]
    fn crypto_takes_a_number_of_seconds() {
        assert_eq!(parse(&["crypto"]), Ok(Command::Crypto { seconds: 1 }));
        assert_eq!(
            parse(&["crypto", "--seconds", "3"]),
            Ok(Command::Crypto { seconds: 3 })
        );
        assert!(parse(&["crypto", "--seconds", "0"]).is_err());
        assert!(parse(&["crypto", "--seconds"]).is_err());
        assert!(
            parse(&["crypto", "--bytes", "5"])
                .unwrap_err()
                .contains("--bytes")
        );
    }
}
