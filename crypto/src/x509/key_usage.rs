//! The keyUsage extension (RFC 5280 section 4.2.1.3), which webpki leaves
//! unchecked on purpose (browsers rely on basicConstraints alone). Duet checks
//! it on a path webpki has already accepted:
//!
//! - every intermediate CA that carries keyUsage must assert `keyCertSign`
//!   (RFC 5280 section 6.1.4 (n));
//! - an end-entity certificate that carries keyUsage must assert
//!   `digitalSignature`, because a TLS peer proves possession of its key by
//!   signing (RFC 8446 section 4.4.2.2; RFC 8422 section 5.6 for ECDHE in
//!   TLS 1.2). Duet's TLS has no RSA key transport, so `keyEncipherment`
//!   alone is not enough.
//!
//! A trust anchor is taken as configured (RFC 5280 section 6.1.1 (d)): its
//! extensions are not checked.

use super::der::{Reader, tag};

/// id-ce-keyUsage, 2.5.29.15, as DER OID contents.
const ID_CE_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];

/// The named bits of `KeyUsage ::= BIT STRING` (RFC 5280 section 4.2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyUsageBit {
    DigitalSignature = 0,
    KeyCertSign = 5,
}

/// The bits a keyUsage extension asserts, bit `n` of the BIT STRING at
/// `1 << n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyUsage(u16);

impl KeyUsage {
    pub(crate) fn allows(self, bit: KeyUsageBit) -> bool {
        self.0 & (1 << bit as u16) != 0
    }

    /// Decodes the extension's value, a DER BIT STRING whose first contents
    /// octet counts the unused bits of the last octet (X.690 section 8.6.2).
    fn from_bit_string(value: &[u8]) -> Option<Self> {
        let contents = Reader::new(value).expect(tag::BIT_STRING)?;
        let (&unused, bytes) = contents.split_first()?;
        if unused > 7 || (bytes.is_empty() && unused != 0) {
            return None;
        }
        // Nine bits are named (digitalSignature .. decipherOnly).
        let bits = bytes
            .iter()
            .take(2)
            .enumerate()
            .fold(0u16, |acc, (i, &byte)| {
                let mut acc = acc;
                for j in 0..8 {
                    if byte & (0x80 >> j) != 0 {
                        acc |= 1 << (i * 8 + j);
                    }
                }
                acc
            });
        Some(KeyUsage(bits))
    }
}

/// A certificate or keyUsage extension that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// The keyUsage a certificate asserts, `None` when it has no such extension.
pub(crate) fn key_usage(certificate: &[u8]) -> Result<Option<KeyUsage>, Malformed> {
    find_key_usage(certificate).ok_or(Malformed)
}

/// Walks Certificate -> tbsCertificate -> extensions (RFC 5280 section 4.1).
fn find_key_usage(certificate: &[u8]) -> Option<Option<KeyUsage>> {
    let cert = Reader::new(certificate).expect(tag::SEQUENCE)?;
    let tbs = Reader::new(cert).expect(tag::SEQUENCE)?;
    let mut tbs = Reader::new(tbs);
    tbs.skip_optional(tag::CONTEXT_0)?; // version
    // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
    for _ in 0..6 {
        tbs.next_item()?;
    }
    // issuerUniqueID [1], subjectUniqueID [2], then extensions [3].
    while !tbs.is_empty() {
        let (item_tag, contents) = tbs.next_item()?;
        if item_tag != tag::CONTEXT_3 {
            continue;
        }
        let extensions = Reader::new(contents).expect(tag::SEQUENCE)?;
        let mut extensions = Reader::new(extensions);
        while !extensions.is_empty() {
            let mut extension = Reader::new(extensions.expect(tag::SEQUENCE)?);
            let id = extension.expect(tag::OID)?;
            extension.skip_optional(tag::BOOLEAN)?; // critical
            let value = extension.expect(tag::OCTET_STRING)?;
            if id == ID_CE_KEY_USAGE {
                return KeyUsage::from_bit_string(value).map(Some);
            }
        }
        return Some(None);
    }
    Some(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_named_bits() {
        // keyCertSign | cRLSign: bits 5 and 6, one unused bit.
        let ku = KeyUsage::from_bit_string(&[0x03, 0x02, 0x01, 0x06]).unwrap();
        assert!(ku.allows(KeyUsageBit::KeyCertSign));
        assert!(!ku.allows(KeyUsageBit::DigitalSignature));
        // digitalSignature | keyEncipherment.
        let ku = KeyUsage::from_bit_string(&[0x03, 0x02, 0x05, 0xa0]).unwrap();
        assert!(ku.allows(KeyUsageBit::DigitalSignature));
        assert!(!ku.allows(KeyUsageBit::KeyCertSign));
        // decipherOnly (bit 8) lands in the second octet.
        let ku = KeyUsage::from_bit_string(&[0x03, 0x03, 0x07, 0x00, 0x80]).unwrap();
        assert_eq!(ku, KeyUsage(1 << 8));
    }

    #[test]
    fn rejects_malformed_bit_strings() {
        assert_eq!(KeyUsage::from_bit_string(&[0x03, 0x00]), None);
        assert_eq!(KeyUsage::from_bit_string(&[0x03, 0x02, 0x08, 0x80]), None);
        assert_eq!(KeyUsage::from_bit_string(&[0x03, 0x01, 0x01]), None);
        assert_eq!(KeyUsage::from_bit_string(&[0x04, 0x02, 0x00, 0x80]), None);
    }

    #[test]
    fn malformed_certificate_is_an_error_not_a_panic() {
        assert_eq!(key_usage(&[]), Err(Malformed));
        assert_eq!(key_usage(&[0x30, 0x03, 0x30, 0x01, 0x02]), Err(Malformed));
        // Truncating a real certificate anywhere never panics.
        let cert = include_bytes!("../../../certs/test/intermediate-ca.der");
        for len in 0..cert.len() {
            let _ = key_usage(&cert[..len]);
        }
    }

    #[test]
    fn reads_the_test_certificates() {
        let ca = key_usage(include_bytes!("../../../certs/test/intermediate-ca.der"));
        let ca = ca.unwrap().unwrap();
        assert!(ca.allows(KeyUsageBit::KeyCertSign));

        let leaf = key_usage(include_bytes!("../../../certs/test/server-p256.der"));
        let leaf = leaf.unwrap().unwrap();
        assert!(leaf.allows(KeyUsageBit::DigitalSignature));
        assert!(!leaf.allows(KeyUsageBit::KeyCertSign));

        let no_sign = include_bytes!("../../../certs/test/intermediate-ca-no-cert-sign.der");
        let no_sign = key_usage(no_sign).unwrap().unwrap();
        assert!(!no_sign.allows(KeyUsageBit::KeyCertSign));

        // DigiCert Global Root G2 asserts digitalSignature, keyCertSign, cRLSign.
        let root = key_usage(include_bytes!(
            "../../../certs/roots/DigiCert_Global_Root_G2.der"
        ));
        let root = root.unwrap().unwrap();
        assert!(root.allows(KeyUsageBit::KeyCertSign));
        assert!(root.allows(KeyUsageBit::DigitalSignature));
    }
}
