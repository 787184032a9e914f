//! The one field of a client certificate the hub reads itself: the subject
//! common name, which names the device (RFC 5280 §4.1.2.6, X.520
//! `id-at-commonName`). rustls has already verified the chain; this reader
//! still trusts nothing and gives `None` on any malformed DER.

/// `id-at-commonName`, 2.5.4.3, as DER OID contents.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const INTEGER: u8 = 0x02;
/// `[0] EXPLICIT Version` of a TBSCertificate.
const VERSION: u8 = 0xa0;
/// The string types a DirectoryString may use (X.520): UTF8String,
/// PrintableString, IA5String (seen in the wild), TeletexString.
const STRINGS: &[u8] = &[0x0c, 0x13, 0x16, 0x14];

/// The subject CN of a DER certificate.
pub(crate) fn subject_common_name(certificate: &[u8]) -> Option<String> {
    let certificate = Der::new(certificate).expect(SEQUENCE)?;
    let mut tbs = Der::new(certificate).expect_reader(SEQUENCE)?;
    // TBSCertificate: [0] version?, serialNumber, signature, issuer,
    // validity, subject (RFC 5280 §4.1).
    if tbs.peek_tag() == Some(VERSION) {
        tbs.item()?;
    }
    tbs.expect(INTEGER)?;
    tbs.expect(SEQUENCE)?;
    tbs.expect(SEQUENCE)?;
    tbs.expect(SEQUENCE)?;
    let mut subject = Der::new(tbs.expect(SEQUENCE)?);
    while !subject.is_empty() {
        let mut set = Der::new(subject.expect(SET)?);
        while !set.is_empty() {
            let mut attribute = Der::new(set.expect(SEQUENCE)?);
            if attribute.expect(OID)? == COMMON_NAME {
                let (tag, value) = attribute.item()?;
                return STRINGS
                    .contains(&tag)
                    .then(|| String::from_utf8(value.to_vec()).ok())
                    .flatten();
            }
        }
    }
    None
}

/// Tag-length-value items read one after another (X.690 §8.1): single-byte
/// tags and definite lengths of up to four bytes, all X.509 uses.
struct Der<'a> {
    input: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(input: &'a [u8]) -> Self {
        Der { input }
    }

    fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.input.first().copied()
    }

    fn item(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.input.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let (bytes, after) = rest.split_at(count);
            rest = after;
            bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b))
        };
        if rest.len() < len {
            return None;
        }
        let (value, after) = rest.split_at(len);
        self.input = after;
        Some((tag, value))
    }

    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        self.item()
            .filter(|(t, _)| *t == tag)
            .map(|(_, value)| value)
    }

    fn expect_reader(&mut self, tag: u8) -> Option<Der<'a>> {
        self.expect(tag).map(Der::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../certs/test/");

    fn der(name: &str) -> Vec<u8> {
        std::fs::read(format!("{CERTS}{name}.der")).unwrap()
    }

    #[test]
    fn device_certificates_name_their_device() {
        assert_eq!(
            subject_common_name(&der("device-01")).as_deref(),
            Some("device-01")
        );
        assert_eq!(
            subject_common_name(&der("device-02")).as_deref(),
            Some("device-02")
        );
    }

    #[test]
    fn truncated_certificates_give_none_without_panicking() {
        let cert = der("device-01");
        for cut in 0..cert.len() {
            // Cut anywhere, the outer SEQUENCE's length no longer fits.
            assert_eq!(subject_common_name(&cert[..cut]), None);
        }
        let mut corrupt = cert.clone();
        for at in (0..corrupt.len()).step_by(7) {
            corrupt[at] ^= 0xff;
            let _ = subject_common_name(&corrupt);
            corrupt[at] ^= 0xff;
        }
    }
}
