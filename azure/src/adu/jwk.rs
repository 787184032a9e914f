//! RSA JSON Web Keys (RFC 7517, RFC 7518 §6.3.1) as ADU uses them, and
//! their conversion to the DER `RSAPublicKey` (RFC 8017 appendix A.1.1)
//! that duet-crypto's [`SignatureVerifier`](duet_crypto::SignatureVerifier)
//! takes. Building the DER here keeps duet-crypto's API as it is: one key
//! encoding, the one X.509 and TLS use.

use duet::netstack::no_memmove::copy_within;

use super::{AduError, read};
use crate::AzureError;
use crate::base64;
use crate::out::Out;

const KTY: &str = "kty";
const ALG: &str = "alg";
const KID: &str = "kid";
const N: &str = "n";
const E: &str = "e";

/// The only key type and algorithm ADU signs with.
pub(crate) const KTY_RSA: &str = "RSA";
pub(crate) const ALG_RS256: &str = "RS256";

/// An RSA public JWK, its members raw (base64 as written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RsaJwk<'a> {
    /// The key id (ADU's signing keys carry one, `ADU.210609.R.S`).
    pub(crate) kid: Option<&'a str>,
    /// The modulus.
    pub(crate) n: &'a str,
    /// The public exponent.
    pub(crate) e: &'a str,
}

/// Reads the JWK JSON `json`: `kty` must be `RSA` and `alg`, when present,
/// `RS256` ([`AduError::UnsupportedAlgorithm`] otherwise); `n` and `e`
/// are required.
pub(crate) fn parse_rsa(json: &str) -> Result<RsaJwk<'_>, AduError> {
    let [kty, alg, kid, n, e] = read::string_members(json, [KTY, ALG, KID, N, E])?;
    if kty != Some(KTY_RSA) || alg.is_some_and(|alg| alg != ALG_RS256) {
        return Err(AduError::UnsupportedAlgorithm);
    }
    match (n, e) {
        (Some(n), Some(e)) => Ok(RsaJwk { kid, n, e }),
        _ => Err(AzureError::Malformed.into()),
    }
}

/// Room before the modulus for the DER headers: SEQUENCE and INTEGER tags
/// with lengths of up to three bytes each, and the INTEGER's zero byte.
const HEADROOM: usize = 9;

/// Bytes [`rsa_public_key_der`] needs for a modulus of `n_text`.
pub(crate) fn der_room(n_text: &str) -> Option<usize> {
    let n = base64::decoded_len(n_text.trim_end_matches('=').len())?;
    // The modulus and its headers, then the exponent's (at most 8 bytes
    // and a zero byte, with a tag and a length).
    Some(HEADROOM + n + 11)
}

/// A public key in DER and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RsaDer {
    /// Bytes of DER at the start of the buffer.
    pub(crate) len: usize,
    /// The modulus' size in bits.
    pub(crate) bits: usize,
}

/// Writes `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent
/// INTEGER }` for the base64 (either alphabet) big-endian `n_text` and
/// `e_text` into `out` ([`der_room`] bytes). The modulus is decoded
/// straight into place, so no second buffer holds it.
pub(crate) fn rsa_public_key_der(
    n_text: &str,
    e_text: &str,
    out: &mut [u8],
) -> Result<RsaDer, AduError> {
    let mut e = [0u8; 8];
    let e_len = base64::decode_either(e_text, &mut e).map_err(|err| match err {
        // An exponent wider than 64 bits is no RSA key anyone uses.
        AzureError::BufferTooSmall => AzureError::Malformed,
        other => other,
    })?;
    let e = magnitude(e.get(..e_len).unwrap_or_default())?;

    let n_space = out.get_mut(HEADROOM..).ok_or(AzureError::BufferTooSmall)?;
    let n_len = base64::decode_either(n_text, n_space)?;
    let n = magnitude(n_space.get(..n_len).unwrap_or_default())?;
    let (n_len, n_start) = (n.len(), HEADROOM + n_len - n.len());
    let n_pad = usize::from(n.first().is_some_and(|b| b & 0x80 != 0));
    let e_pad = usize::from(e.first().is_some_and(|b| b & 0x80 != 0));
    let bits = n_len * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);

    let n_int = n_len + n_pad;
    let e_int = e.len() + e_pad;
    let content = tlv_len(n_int)? + tlv_len(e_int)?;
    let header = 1 + length_len(content)? + 1 + length_len(n_int)? + n_pad;
    let total = 1 + length_len(content)? + content;
    // The modulus moves left (the headers take at most HEADROOM bytes),
    // then the headers go before it and the exponent after it.
    copy_within(out, n_start..n_start + n_len, header);
    let mut head = Out::new(out.get_mut(..header).ok_or(AzureError::BufferTooSmall)?);
    head.put(&[0x30])?;
    put_length(&mut head, content)?;
    head.put(&[0x02])?;
    put_length(&mut head, n_int)?;
    if n_pad == 1 {
        head.put(&[0])?;
    }
    let tail = out
        .get_mut(header + n_len..total)
        .ok_or(AzureError::BufferTooSmall)?;
    let mut tail = Out::new(tail);
    tail.put(&[0x02])?;
    put_length(&mut tail, e_int)?;
    if e_pad == 1 {
        tail.put(&[0])?;
    }
    tail.put(e)?;
    Ok(RsaDer { len: total, bits })
}

/// A big-endian integer without its leading zero bytes; zero is no key.
fn magnitude(bytes: &[u8]) -> Result<&[u8], AzureError> {
    let start = bytes
        .iter()
        .position(|&b| b != 0)
        .ok_or(AzureError::Malformed)?;
    Ok(bytes.get(start..).unwrap_or_default())
}

/// Bytes of a DER length (X.690 §8.1.3): short form below 128, then one
/// or two length bytes.
fn length_len(len: usize) -> Result<usize, AzureError> {
    match len {
        0..0x80 => Ok(1),
        0x80..=0xff => Ok(2),
        0x100..=0xffff => Ok(3),
        _ => Err(AzureError::OutOfRange),
    }
}

/// Bytes of a whole tag-length-value with `len` bytes of value.
fn tlv_len(len: usize) -> Result<usize, AzureError> {
    Ok(1 + length_len(len)? + len)
}

fn put_length(o: &mut Out<'_>, len: usize) -> Result<(), AzureError> {
    let [.., hi, lo] = len.to_be_bytes();
    match length_len(len)? {
        1 => o.put(&[lo])?,
        2 => o.put(&[0x81, lo])?,
        _ => o.put(&[0x82, hi, lo])?,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(n: &str, e: &str) -> Result<([u8; 600], RsaDer), AduError> {
        let mut out = [0u8; 600];
        rsa_public_key_der(n, e, &mut out).map(|d| (out, d))
    }

    #[test]
    fn short_and_long_forms_with_and_without_zero_bytes() {
        // n = 0x00 0x80 0x01 (a leading zero to strip, then a high bit to
        // pad), e = 65537.
        let (out, d) = der("AIAB", "AQAB").unwrap();
        assert_eq!(
            &out[..d.len],
            &[
                0x30, 0x0a, 0x02, 0x03, 0x00, 0x80, 0x01, 0x02, 0x03, 0x01, 0x00, 0x01
            ]
        );
        assert_eq!(d.bits, 16);
        // A 3072-bit modulus: two-byte lengths.
        let n = "_".repeat(512);
        let (out, d) = der(&n, "Aw").unwrap();
        assert_eq!(
            &out[..9],
            &[0x30, 0x82, 0x01, 0x88, 0x02, 0x82, 0x01, 0x81, 0x00]
        );
        assert_eq!(&out[d.len - 3..d.len], &[0x02, 0x01, 0x03]);
        assert_eq!(d.len, 4 + 0x188);
        assert_eq!(d.bits, 3072);
        assert!(d.len <= der_room(&n).unwrap());
        assert_eq!(
            der("AAAA", "AQAB").err(),
            Some(AzureError::Malformed.into())
        );
        assert_eq!(
            der("AQAB", "AAAA").err(),
            Some(AzureError::Malformed.into())
        );
        assert_eq!(
            der("AQAB", "AQABAQABAQAB").err(),
            Some(AzureError::Malformed.into())
        );
        let mut small = [0u8; 100];
        assert_eq!(
            rsa_public_key_der(&n, "AQAB", &mut small).err(),
            Some(AzureError::BufferTooSmall.into())
        );
    }

    #[test]
    fn jwks_must_be_rsa_keys_for_rs256() {
        let key =
            parse_rsa(r#"{"kty":"RSA","n":"AQAB","e":"AQAB","alg":"RS256","kid":"k"}"#).unwrap();
        assert_eq!((key.kid, key.n, key.e), (Some("k"), "AQAB", "AQAB"));
        assert_eq!(
            parse_rsa(r#"{"kty":"EC","n":"AQAB","e":"AQAB"}"#),
            Err(AduError::UnsupportedAlgorithm)
        );
        assert_eq!(
            parse_rsa(r#"{"kty":"RSA","n":"AQAB","e":"AQAB","alg":"PS256"}"#),
            Err(AduError::UnsupportedAlgorithm)
        );
        assert_eq!(
            parse_rsa(r#"{"kty":"RSA","n":"AQAB"}"#),
            Err(AzureError::Malformed.into())
        );
    }
}
