//! The anchor: `openssl speed` in machine-readable form (`-mr`), run as a
//! child process and read back.
//!
//! The lines read (OpenSSL 3.0 `apps/speed.c`):
//! - `+F:<index>:<name>:<bytes/s>...`: a cipher, digest or MAC, one figure
//!   per `-bytes` size (one here).
//! - `+F2:<index>:<bits>:<sign/s>:<verify/s>`: RSA.
//! - `+F4:<index>:<bits>:<sign/s>:<verify/s>`: ECDSA.
//! - `+F5:<index>:<bits>:<ops/s>:<s/op>`: ECDH.

use std::process::Command as Process;

use super::Primitive;

/// The public-key benchmarks `openssl speed` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Ecdsap256,
    Ecdhp256,
    Rsa2048,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Ecdsap256 => "ecdsap256",
            Algorithm::Ecdhp256 => "ecdhp256",
            Algorithm::Rsa2048 => "rsa2048",
        }
    }

    /// The `-mr` line tag carrying its figures.
    fn tag(self) -> &'static str {
        match self {
            Algorithm::Ecdsap256 => "+F4",
            Algorithm::Ecdhp256 => "+F5",
            Algorithm::Rsa2048 => "+F2",
        }
    }
}

/// What to ask `openssl speed` for one primitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Arguments of a symmetric run, after `speed -seconds N -mr`.
    Symmetric(Vec<&'static str>),
    Asymmetric(Algorithm),
}

pub fn command_for(primitive: Primitive) -> Command {
    match primitive {
        Primitive::Sha256 => Command::Symmetric(vec!["-evp", "sha256", "-bytes", "16384"]),
        Primitive::HmacSha256 => Command::Symmetric(vec!["-hmac", "sha256", "-bytes", "64"]),
        Primitive::Aes128Gcm16K => {
            Command::Symmetric(vec!["-aead", "-evp", "aes-128-gcm", "-bytes", "16384"])
        }
        Primitive::Aes128Gcm1K => {
            Command::Symmetric(vec!["-aead", "-evp", "aes-128-gcm", "-bytes", "1024"])
        }
        Primitive::EcdsaP256Sign | Primitive::EcdsaP256Verify => {
            Command::Asymmetric(Algorithm::Ecdsap256)
        }
        Primitive::EcdhP256 => Command::Asymmetric(Algorithm::Ecdhp256),
        Primitive::Rsa2048Verify => Command::Asymmetric(Algorithm::Rsa2048),
    }
}

/// `openssl version`.
pub fn version() -> Result<String, String> {
    let output = Process::new("openssl")
        .arg("version")
        .output()
        .map_err(|error| format!("cannot run openssl: {error}"))?;
    if !output.status.success() {
        return Err(format!("`openssl version` exited with {}", output.status));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Runs `openssl speed -seconds <seconds> -mr <args>` and returns its
/// standard output.
fn speed(seconds: u32, args: &[&str]) -> Result<String, String> {
    let seconds = seconds.to_string();
    let mut command = Process::new("openssl");
    command
        .args(["speed", "-seconds", &seconds, "-mr"])
        .args(args);
    let output = command
        .output()
        .map_err(|error| format!("cannot run openssl: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "`openssl speed {}` exited with {}: {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The bytes per second of the first `+F:` line.
pub fn parse_symmetric(output: &str) -> Option<f64> {
    output.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("+F:")?;
        rest.split(':').nth(2)?.parse().ok()
    })
}

/// The two figures of the first line tagged `tag`.
pub fn parse_asymmetric(output: &str, tag: &str) -> Option<(f64, f64)> {
    output.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        if fields.next()? != tag {
            return None;
        }
        let mut figures = fields.skip(2).map(|field| field.parse::<f64>());
        Some((figures.next()?.ok()?, figures.next()?.ok()?))
    })
}

/// A symmetric primitive's figure in MB/s.
pub fn symmetric(args: &[&str], seconds: u32) -> Result<f64, String> {
    let output = speed(seconds, args)?;
    let bytes_per_second = parse_symmetric(&output)
        .ok_or_else(|| format!("no `+F:` line in `openssl speed {}`", args.join(" ")))?;
    Ok(bytes_per_second / 1e6)
}

/// Runs each public-key benchmark once: `ecdsap256` gives both the sign
/// and the verify figure.
#[derive(Debug, Default)]
pub struct Asymmetric {
    ecdsa: Option<(f64, f64)>,
}

impl Asymmetric {
    /// `primitive`'s figure in operations per second.
    pub fn figure(
        &mut self,
        algorithm: Algorithm,
        primitive: Primitive,
        seconds: u32,
    ) -> Result<f64, String> {
        let figures = match (algorithm, self.ecdsa) {
            (Algorithm::Ecdsap256, Some(figures)) => figures,
            _ => {
                let output = speed(seconds, &[algorithm.name()])?;
                let figures = parse_asymmetric(&output, algorithm.tag()).ok_or_else(|| {
                    format!(
                        "no `{}` line in `openssl speed {}`",
                        algorithm.tag(),
                        algorithm.name()
                    )
                })?;
                if algorithm == Algorithm::Ecdsap256 {
                    self.ecdsa = Some(figures);
                }
                figures
            }
        };
        Ok(match primitive {
            // ECDSA and RSA: (sign, verify); ECDH: (ops/s, s/op).
            Primitive::EcdsaP256Verify | Primitive::Rsa2048Verify => figures.1,
            _ => figures.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl speed -seconds 1 -mr ...` output of OpenSSL 3.0.19 on the
    /// project's machine, status lines included.
    const SYMMETRIC: &str = "+DT:AES-128-GCM:1:1024\n+R:2030836:AES-128-GCM:0.990000\n\
                             +H:1024\n+F:25:AES-128-GCM:2100581882.83\n";
    const ASYMMETRIC: &str = "+DTP:2048:private:rsa:1\n+R1:3510:2048:0.99\n\
                              +F2:2:2048:3545.454545:65250.000000\n\
                              +F4:3:256:51926.530612:16064.000000\n\
                              +F5:3:256:21255.555556:0.000047\n";

    #[test]
    fn machine_readable_lines_are_read() {
        assert_eq!(parse_symmetric(SYMMETRIC), Some(2100581882.83));
        assert_eq!(parse_symmetric("+H:64\n"), None);
        assert_eq!(
            parse_asymmetric(ASYMMETRIC, "+F2"),
            Some((3545.454545, 65250.0))
        );
        assert_eq!(
            parse_asymmetric(ASYMMETRIC, "+F4"),
            Some((51926.530612, 16064.0))
        );
        assert_eq!(
            parse_asymmetric(ASYMMETRIC, "+F5"),
            Some((21255.555556, 0.000047))
        );
        assert_eq!(parse_asymmetric("+F4:3:256:x:1\n", "+F4"), None);
        assert_eq!(parse_asymmetric(SYMMETRIC, "+F4"), None);
    }

    #[test]
    fn commands_match_the_primitives() {
        assert_eq!(
            command_for(Primitive::Aes128Gcm1K),
            Command::Symmetric(vec!["-aead", "-evp", "aes-128-gcm", "-bytes", "1024"])
        );
        assert_eq!(
            command_for(Primitive::EcdsaP256Verify),
            Command::Asymmetric(Algorithm::Ecdsap256)
        );
        assert_eq!(Algorithm::Rsa2048.tag(), "+F2");
    }
}
