//! Just enough DER (ITU-T X.690 section 8 and 10) to reach the two fields
//! webpki does not look at for us: a certificate's keyUsage extension and an
//! RSA key's modulus length. webpki has parsed every certificate before we
//! read it, but this reader still trusts nothing: it returns `None` on any
//! malformed input.

/// Universal and context-specific tags as they appear in X.509.
pub(crate) mod tag {
    pub(crate) const BOOLEAN: u8 = 0x01;
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const BIT_STRING: u8 = 0x03;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const SEQUENCE: u8 = 0x30;
    /// `[0] EXPLICIT Version` of a TBSCertificate.
    pub(crate) const CONTEXT_0: u8 = 0xa0;
    /// `[3] EXPLICIT Extensions` of a TBSCertificate.
    pub(crate) const CONTEXT_3: u8 = 0xa3;
}

/// Reads tag-length-value items one after another from a byte slice.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Reader { input }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    /// The tag of the next item, without consuming it.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.input.first().copied()
    }

    /// The next item as (tag, contents). Only single-byte tags and definite
    /// lengths of up to four bytes (X.690 section 8.1.3), which is all that
    /// X.509 uses.
    pub(crate) fn next_item(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.input.split_first()?;
        if tag & 0x1f == 0x1f {
            return None;
        }
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
            bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        if rest.len() < len {
            return None;
        }
        let (contents, after) = rest.split_at(len);
        self.input = after;
        Some((tag, contents))
    }

    /// The contents of the next item, which must carry `expected`.
    pub(crate) fn expect(&mut self, expected: u8) -> Option<&'a [u8]> {
        match self.next_item()? {
            (tag, contents) if tag == expected => Some(contents),
            _ => None,
        }
    }

    /// Skips the next item if it carries `tag`.
    pub(crate) fn skip_optional(&mut self, tag: u8) -> Option<()> {
        if self.peek_tag() == Some(tag) {
            self.next_item()?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let mut long = [0u8; 3 + 200];
        long[..3].copy_from_slice(&[0x04, 0x81, 200]);
        let mut r = Reader::new(&long);
        assert_eq!(r.next_item().map(|(t, c)| (t, c.len())), Some((0x04, 200)));
        assert!(r.is_empty());

        let mut r = Reader::new(&[0x02, 0x01, 0x05, 0x05, 0x00]);
        assert_eq!(r.expect(tag::INTEGER), Some(&[0x05][..]));
        assert_eq!(r.peek_tag(), Some(0x05));
        assert_eq!(r.expect(tag::INTEGER), None);
    }

    #[test]
    fn rejects_truncated_and_indefinite() {
        // Contents shorter than the length says.
        assert_eq!(Reader::new(&[0x30, 0x05, 0x01]).next_item(), None);
        // Length bytes missing.
        assert_eq!(Reader::new(&[0x30, 0x82, 0x01]).next_item(), None);
        // Indefinite length is BER, not DER.
        assert_eq!(Reader::new(&[0x30, 0x80, 0x00, 0x00]).next_item(), None);
        // Multi-byte tag.
        assert_eq!(Reader::new(&[0x1f, 0x81, 0x01, 0x00]).next_item(), None);
        // Nothing at all.
        assert_eq!(Reader::new(&[]).next_item(), None);
        assert_eq!(Reader::new(&[0x30]).next_item(), None);
    }
}
