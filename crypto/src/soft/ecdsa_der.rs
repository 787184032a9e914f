//! ECDSA signatures in DER: `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER,
//! s INTEGER }` (RFC 3279 section 2.2.3), the form TLS (RFC 8446 section
//! 4.2.3) and X.509 carry them in.
//!
//! Read with the provider's own strict reader ([`Der`], which also reads
//! RSA keys) and written here, rather than through the `der` crate, whose
//! generic decoder and encoder cost some 3.5 KB of Cortex-M code in every
//! image that signs or checks a certificate, for two integers.
//!
//! Reading is strict DER (ITU-T X.690 sections 8.3 and 10.1): definite
//! lengths in their shortest form, integers positive and without a leading
//! zero byte they do not need, nothing after the sequence. A BER variant
//! of a valid signature is refused, as the `der` crate refuses it.

use super::der::Der;
use crate::CryptoError;

/// ASN.1 universal tags (X.680 section 8.4).
const INTEGER: u8 = 0x02;
const SEQUENCE: u8 = 0x30;

/// Reads a DER ECDSA-Sig-Value into `r || s` in `out`, each big-endian and
/// left-padded to `out.len() / 2` bytes (the curve's scalar length, at most
/// 48: every length then fits the short form, X.690 section 8.1.3.4).
pub(crate) fn read(der: &[u8], out: &mut [u8]) -> Result<(), CryptoError> {
    let invalid = |_| CryptoError::InvalidSignature;
    let mut outer = Der::new(der);
    let mut fields = Der::new(outer.element(SEQUENCE).map_err(invalid)?);
    let r = fields.positive_integer().map_err(invalid)?;
    let s = fields.positive_integer().map_err(invalid)?;
    if !outer.is_empty() || !fields.is_empty() {
        return Err(CryptoError::InvalidSignature);
    }
    let (r_out, s_out) = out.split_at_mut(out.len() / 2);
    for (magnitude, out) in [(r, r_out), (s, s_out)] {
        let pad = out
            .len()
            .checked_sub(magnitude.len())
            .ok_or(CryptoError::InvalidSignature)?;
        out[..pad].fill(0);
        out[pad..].copy_from_slice(magnitude);
    }
    Ok(())
}

/// Writes `r || s` (two big-endian halves of equal length, 1 to 48 bytes
/// each: the signer's scalars) as a DER ECDSA-Sig-Value into `out`; returns
/// its length.
pub(crate) fn write(r_and_s: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
    let (r, s) = r_and_s.split_at(r_and_s.len() / 2);
    let contents = integer_len(r) + integer_len(s);
    let total = 2 + contents;
    let out = out.get_mut(..total).ok_or(CryptoError::BadInput)?;
    out[0] = SEQUENCE;
    out[1] = contents as u8;
    let mut at = 2;
    for value in [r, s] {
        at += write_integer(value, &mut out[at..]);
    }
    Ok(total)
}

/// The bytes of `value` DER keeps: from its first non-zero byte (one zero
/// byte for zero).
fn significant(value: &[u8]) -> &[u8] {
    let first = value
        .iter()
        .position(|&byte| byte != 0)
        .unwrap_or(value.len().saturating_sub(1));
    &value[first..]
}

/// Bytes of the DER INTEGER for the unsigned big-endian `value`.
fn integer_len(value: &[u8]) -> usize {
    let value = significant(value);
    2 + usize::from(value[0] >= 0x80) + value.len()
}

/// Writes the DER INTEGER for the unsigned big-endian `value` at the start
/// of `out`; returns its length.
fn write_integer(value: &[u8], out: &mut [u8]) -> usize {
    let value = significant(value);
    let pad = usize::from(value[0] >= 0x80);
    out[0] = INTEGER;
    out[1] = (pad + value.len()) as u8;
    // The zero byte in front of a high bit; the value's first byte lands on
    // it when there is none (fewer instructions than a test).
    out[2] = 0;
    out[2 + pad..2 + pad + value.len()].copy_from_slice(value);
    2 + pad + value.len()
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec::Vec;

    /// What the `der` crate (through `ecdsa`) makes of `der` on P-256.
    fn der_crate_read(der: &[u8]) -> Option<[u8; 64]> {
        p256::ecdsa::Signature::from_der(der)
            .ok()
            .map(|signature| signature.to_bytes().into())
    }

    fn ours(der: &[u8]) -> Option<[u8; 64]> {
        let mut out = [0u8; 64];
        read(der, &mut out).ok().map(|()| out)
    }

    /// Signatures whose integers take every length class: a high bit that
    /// needs the zero byte, leading zeros that must go, short values.
    fn samples() -> Vec<[u8; 64]> {
        let mut samples = Vec::new();
        for (r_first, s_first, zeros) in [
            (0x7f, 0x80, 0),
            (0xff, 0x01, 0),
            (0x00, 0x80, 1),
            (0x01, 0x00, 2),
            (0x00, 0x00, 31),
        ] {
            let mut value = [0u8; 64];
            for (i, byte) in value.iter_mut().enumerate() {
                *byte = (i as u8).wrapping_mul(37).wrapping_add(11);
            }
            value[0] = r_first;
            value[32] = s_first;
            value[1..1 + zeros].fill(0);
            value[33..33 + zeros].fill(0);
            value[31] |= 1;
            value[63] |= 1;
            samples.push(value);
        }
        samples
    }

    /// Our encoding is the `der` crate's, byte for byte, and reads back.
    #[test]
    fn writes_what_the_der_crate_writes() {
        for value in samples() {
            let signature = p256::ecdsa::Signature::from_slice(&value).unwrap();
            let mut out = [0u8; 72];
            let len = write(&value, &mut out).unwrap();
            assert_eq!(&out[..len], signature.to_der().as_bytes());
            assert_eq!(ours(&out[..len]), Some(value));
        }
        let mut short = [0u8; 8];
        assert_eq!(write(&samples()[0], &mut short), Err(CryptoError::BadInput));
    }

    /// Every byte of each sample's encoding set to each of 256 values, every
    /// truncation and every one-byte extension: we accept exactly what the
    /// `der` crate accepts, with the same integers (scalars zero or not
    /// below the group order are refused later, as before, by `ecdsa`).
    #[test]
    fn reads_exactly_what_the_der_crate_reads() {
        let mut accepted = 0;
        let mut cases = 0;
        for value in samples() {
            let mut encoded = [0u8; 72];
            let len = write(&value, &mut encoded).unwrap();
            let encoded = &encoded[..len];
            let mut check = |der: &[u8]| {
                let theirs = der_crate_read(der);
                let mine = ours(der).filter(|v| p256::ecdsa::Signature::from_slice(v).is_ok());
                assert_eq!(mine, theirs, "{der:02x?}");
                accepted += usize::from(mine.is_some());
                cases += 1;
            };
            for at in 0..encoded.len() {
                for byte in 0..=255u8 {
                    let mut changed = encoded.to_vec();
                    changed[at] = byte;
                    check(&changed);
                }
            }
            for end in 0..encoded.len() {
                check(&encoded[..end]);
            }
            for byte in 0..=255u8 {
                check(&[encoded, &[byte]].concat());
            }
        }
        // Some changes keep a valid signature (a changed byte of an integer).
        assert!(accepted > 1000, "{accepted} of {cases}");
    }

    /// Forms BER allows and DER does not, one by one.
    #[test]
    fn refuses_ber_forms() {
        // r has its high bit set, so its DER carries a zero byte first.
        let value = samples()[1];
        let mut encoded = [0u8; 72];
        let len = write(&value, &mut encoded).unwrap();
        let valid = &encoded[..len];
        assert!(ours(valid).is_some());
        // The sequence's length in long form.
        let long = [&[0x30, 0x81, valid[1]][..], &valid[2..]].concat();
        assert_eq!(ours(&long), None);
        // A zero byte in front of r that no high bit needs.
        let r = &valid[2..2 + 2 + usize::from(valid[3])];
        let padded_r = [&[0x02, r[1] + 1, 0x00][..], &r[2..]].concat();
        let s = &valid[2 + r.len()..];
        let body = [&padded_r[..], s].concat();
        let padded = [&[0x30, body.len() as u8][..], &body].concat();
        assert_eq!(ours(&padded), None);
        // r negative: its zero byte dropped.
        let negative = [&[0x02, 0x20][..], &value[..32]].concat();
        assert!(value[0] >= 0x80);
        let body = [&negative[..], s].concat();
        assert_eq!(ours(&[&[0x30, body.len() as u8][..], &body].concat()), None);
        // An indefinite length.
        let indefinite = [&[0x30, 0x80][..], &valid[2..], &[0, 0]].concat();
        assert_eq!(ours(&indefinite), None);
    }
}
