//! The update manifest's signature: a JWS (RFC 7515, compact
//! serialization) whose payload is the manifest's SHA-256, signed by a
//! signing key that travels in the JWS header, itself signed by one of the
//! ADU root keys
//! (<https://learn.microsoft.com/azure/iot-hub-device-update/device-update-security>).
//!
//! ```text
//! updateManifestSignature = b64url(header) "." b64url(payload) "." b64url(signature)
//!   header    {"alg":"RS256","sjwk":"<signing key JWS>"}
//!   payload   {"sha256":"<base64 SHA-256 of the unescaped manifest>"}
//! sjwk      = b64url({"alg":"RS256","kid":"<root key id>"}) "." b64url(<RSA JWK>) "." b64url(signature)
//! ```
//!
//! Both signatures are RS256 (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518
//! §3.3) over the ASCII `header "." payload` of their JWS. The check runs
//! from the trust anchor down: the root key the sjwk names verifies the
//! signing key, the signing key verifies the manifest's JWS, and the signed
//! hash must be the manifest's — so nothing the root key did not vouch for
//! is believed. Hashing and RSA are the caller's provider's (duet-crypto's
//! [`Hasher`] and [`SignatureVerifier`]), so a secure element or
//! accelerator can do them.
//!
//! Decoding needs memory: the caller lends one scratch buffer, which holds
//! the decoded headers, keys and signatures side by side ([`SCRATCH_LEN`]).

use duet_crypto::hash::constant_time_eq;
use duet_crypto::{CryptoError, HashAlgorithm, Hasher, SignatureScheme, SignatureVerifier};

use super::jwk::{self, ALG_RS256, RsaDer};
use super::root_keys::RootKey;
use super::{AduError, read};
use crate::{AzureError, base64};

const ALG: &str = "alg";
const KID: &str = "kid";
const SJWK: &str = "sjwk";
const SHA256: &str = "sha256";

/// Scratch enough for ADU's manifests with signing keys of up to 4096
/// bits. ADU's current 3072-bit keys need about 3.6 KB: the decoded JWS
/// header (which carries the whole signing-key JWS, 1.4 KB), the signing
/// key's JWK (0.6 KB), two public keys in DER and two signatures (0.4 KB
/// each).
pub const SCRATCH_LEN: usize = 5 * 1024;

/// The three segments of a compact JWS, still base64url (RFC 7515 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactJws<'a> {
    /// The protected header.
    pub header: &'a str,
    /// The payload.
    pub payload: &'a str,
    /// The signature.
    pub signature: &'a str,
    /// `header "." payload`: what the signature covers (RFC 7515 §5.2,
    /// step 8), as received.
    pub signing_input: &'a str,
}

impl<'a> CompactJws<'a> {
    /// Splits `text` at its two dots; anything but three segments, or an
    /// empty header or signature, is [`AzureError::Malformed`].
    pub fn parse(text: &'a str) -> Result<Self, AzureError> {
        let mut segments = text.split('.');
        let (Some(header), Some(payload), Some(signature), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(AzureError::Malformed);
        };
        if header.is_empty() || signature.is_empty() {
            return Err(AzureError::Malformed);
        }
        let signing_input = text
            .get(..header.len() + 1 + payload.len())
            .ok_or(AzureError::Malformed)?;
        Ok(Self {
            header,
            payload,
            signature,
            signing_input,
        })
    }
}

/// Who vouched for a manifest that [`verify_manifest`] accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestSigner<'k, 's> {
    /// The root key that signed the signing key.
    pub root_key_id: &'k str,
    /// The signing key's id (`ADU.210609.R.S`, say), when its JWK has one;
    /// borrowed from the scratch buffer.
    pub signing_key_id: Option<&'s str>,
    /// The signing key's modulus size.
    pub signing_key_bits: usize,
}

/// Checks that `manifest` (the update manifest, unescaped:
/// [`super::UpdateRequest::update_manifest_into`]) is the one signed by
/// `signature` (the request's `updateManifestSignature`) under a signing
/// key that one of `root_keys` (usually [`super::root_keys::ADU_ROOT_KEYS`])
/// signed. `scratch` holds what is decoded on the way ([`SCRATCH_LEN`]).
///
/// The failures, in the order checked: [`AduError::UnsupportedAlgorithm`]
/// for a JWS or key that is not RS256/RSA, [`AduError::UnknownRootKey`],
/// [`AduError::SigningKeyRejected`], [`AduError::SignatureInvalid`],
/// [`AduError::ManifestHashMismatch`]; malformed JWS, base64 or JSON is
/// [`AzureError::Malformed`], a short scratch
/// [`AzureError::BufferTooSmall`], a provider failure
/// [`AzureError::Crypto`].
pub fn verify_manifest<'k, 's, P>(
    provider: &P,
    manifest: &[u8],
    signature: &str,
    root_keys: &[RootKey<'k>],
    scratch: &'s mut [u8],
) -> Result<ManifestSigner<'k, 's>, AduError>
where
    P: Hasher + SignatureVerifier + ?Sized,
{
    let mut scratch = Scratch { rest: scratch };
    let manifest_jws = CompactJws::parse(signature)?;
    let [alg, sjwk] = read::string_members(scratch.text(manifest_jws.header)?, [ALG, SJWK])?;
    check_rs256(alg)?;
    let sjwk = CompactJws::parse(sjwk.ok_or(AzureError::Malformed)?)?;

    // The signing key, checked against the root key its header names.
    let [alg, kid] = read::string_members(scratch.text(sjwk.header)?, [ALG, KID])?;
    check_rs256(alg)?;
    let kid = kid.ok_or(AzureError::Malformed)?;
    let root = root_keys
        .iter()
        .find(|key| key.kid == kid)
        .ok_or(AduError::UnknownRootKey)?;
    let (root_der, _) = scratch.public_key(root.n, root.e)?;
    let sjwk_signature = scratch.bytes(sjwk.signature)?;
    provider
        .verify(
            SignatureScheme::RsaPkcs1Sha256,
            root_der,
            sjwk.signing_input.as_bytes(),
            sjwk_signature,
        )
        .map_err(|e| match e {
            CryptoError::InvalidSignature => AduError::SigningKeyRejected,
            _ => AzureError::Crypto.into(),
        })?;

    // The manifest's JWS, checked with the signing key.
    let signing_key = jwk::parse_rsa(scratch.text(sjwk.payload)?)?;
    let (key_der, signing_key_bits) = scratch.public_key(signing_key.n, signing_key.e)?;
    let manifest_signature = scratch.bytes(manifest_jws.signature)?;
    provider
        .verify(
            SignatureScheme::RsaPkcs1Sha256,
            key_der,
            manifest_jws.signing_input.as_bytes(),
            manifest_signature,
        )
        .map_err(|e| match e {
            // A key the root vouched for but the provider cannot use (too
            // small, say) verifies nothing either.
            CryptoError::InvalidSignature | CryptoError::InvalidKey => AduError::SignatureInvalid,
            _ => AzureError::Crypto.into(),
        })?;

    // The signed hash, against the manifest's.
    let [signed_hash] = read::string_members(scratch.text(manifest_jws.payload)?, [SHA256])?;
    let mut signed = [0u8; 32];
    let len = base64::decode(signed_hash.ok_or(AzureError::Malformed)?, &mut signed)
        .map_err(|_| AzureError::Malformed)?;
    if len != signed.len() {
        return Err(AzureError::Malformed.into());
    }
    let digest = provider
        .hash(HashAlgorithm::Sha256, &[manifest])
        .map_err(|_| AzureError::Crypto)?;
    if !constant_time_eq(digest.as_bytes(), &signed) {
        return Err(AduError::ManifestHashMismatch);
    }
    Ok(ManifestSigner {
        root_key_id: root.kid,
        signing_key_id: signing_key.kid,
        signing_key_bits,
    })
}

/// A JWS header's `alg` must be RS256 (RFC 7515 §4.1.1 makes it required).
fn check_rs256(alg: Option<&str>) -> Result<(), AduError> {
    match alg {
        Some(ALG_RS256) => Ok(()),
        Some(_) => Err(AduError::UnsupportedAlgorithm),
        None => Err(AzureError::Malformed.into()),
    }
}

/// The caller's scratch buffer, handed out front to back: each decoded
/// piece keeps its place until the check ends, so the pieces can borrow
/// from each other.
struct Scratch<'s> {
    rest: &'s mut [u8],
}

impl<'s> Scratch<'s> {
    /// The next `len` bytes.
    fn take(&mut self, len: usize) -> Result<&'s mut [u8], AzureError> {
        if len > self.rest.len() {
            return Err(AzureError::BufferTooSmall);
        }
        let (taken, rest) = core::mem::take(&mut self.rest).split_at_mut(len);
        self.rest = rest;
        Ok(taken)
    }

    /// A base64url segment, decoded.
    fn bytes(&mut self, segment: &str) -> Result<&'s [u8], AzureError> {
        let room = base64::decoded_len(segment.len()).ok_or(AzureError::Malformed)?;
        let buf = self.take(room)?;
        let len = base64::decode_url(segment, buf)?;
        let buf: &'s [u8] = buf;
        Ok(buf.get(..len).unwrap_or_default())
    }

    /// A base64url segment, decoded, that must be UTF-8 (a JOSE object).
    fn text(&mut self, segment: &str) -> Result<&'s str, AzureError> {
        core::str::from_utf8(self.bytes(segment)?).map_err(|_| AzureError::Malformed)
    }

    /// The DER public key of JWK numbers `n` and `e`, and its size in bits.
    fn public_key(&mut self, n: &str, e: &str) -> Result<(&'s [u8], usize), AduError> {
        let room = jwk::der_room(n).ok_or(AzureError::Malformed)?;
        let buf = self.take(room)?;
        let RsaDer { len, bits } = jwk::rsa_public_key_der(n, e, buf)?;
        let buf: &'s [u8] = buf;
        Ok((buf.get(..len).unwrap_or_default(), bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_serialization_has_three_segments() {
        let jws = CompactJws::parse("aGVhZA.cGF5.c2ln").unwrap();
        assert_eq!(
            (jws.header, jws.payload, jws.signature, jws.signing_input),
            ("aGVhZA", "cGF5", "c2ln", "aGVhZA.cGF5")
        );
        assert_eq!(CompactJws::parse("a..s").unwrap().signing_input, "a.");
        for bad in ["", "a.b", "a.b.c.d", ".b.c", "a.b."] {
            assert_eq!(CompactJws::parse(bad), Err(AzureError::Malformed), "{bad}");
        }
    }

    #[test]
    fn scratch_hands_out_disjoint_pieces_and_reports_exhaustion() {
        let mut buf = [0u8; 8];
        let mut scratch = Scratch { rest: &mut buf };
        assert_eq!(scratch.text("Zm9v"), Ok("foo"));
        assert_eq!(scratch.bytes("Zm9vYg"), Ok(&b"foob"[..]));
        assert_eq!(scratch.bytes("Zm9v"), Err(AzureError::BufferTooSmall));
        assert_eq!(scratch.bytes("Z"), Err(AzureError::Malformed));
        assert_eq!(scratch.bytes(""), Ok(&b""[..]));
    }
}
