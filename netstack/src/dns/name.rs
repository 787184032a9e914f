//! Domain names: the text a caller asks for, and the label form on the wire
//! ([RFC 1035 §3.1], §4.1.4 message compression).
//!
//! A [`Name`] holds the uncompressed wire form (`3www7example3com0`) in a
//! fixed 255-byte array, the limit of RFC 1035 §2.3.4, so that names can be
//! kept in the resolver and the cache without an allocator. Lengths bytes are
//! at most 63 and letters are at least 65, so comparing two wire forms with
//! ASCII case folding compares the names label by label, as RFC 4343 asks.
//!
//! Reading a name out of a message is where a hostile server has the most
//! room: compression pointers can point forwards, at themselves, or at each
//! other. [`Name::read`] therefore only follows a pointer that lands before
//! the start of the label run it came from, so every jump strictly moves
//! backwards and the walk ends after at most as many jumps as the message has
//! bytes; a hard cap on jumps and the 255-byte limit bound it further.
//!
//! [RFC 1035 §3.1]: https://www.rfc-editor.org/rfc/rfc1035#section-3.1

use core::fmt;

/// The longest name in wire form, terminating zero included (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// The longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// The longest name in dotted text, without a trailing dot: 255 bytes of wire
/// form less the first length byte and the terminating zero.
pub const MAX_TEXT_LEN: usize = 253;
/// Compression pointers followed while reading one name. Backward-only jumps
/// already guarantee termination; the cap keeps the worst case short.
const MAX_POINTER_JUMPS: usize = 32;

/// The two top bits of a length byte that mark a compression pointer
/// (RFC 1035 §4.1.4); `01` and `10` are reserved (RFC 6891 §5 retired the
/// extended label types), so a name using them is malformed.
const POINTER_TAG: u8 = 0b1100_0000;

/// Why a name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NameError {
    /// Text a caller gave is not a host name: empty label, label over 63
    /// bytes, name over 253 bytes, or a character outside letters, digits
    /// and inner hyphens (RFC 1123 §2.1, RFC 952).
    InvalidName,
    /// A name in a message runs past its end, uses a reserved label type,
    /// grows past 255 bytes, or has a compression pointer that does not point
    /// strictly backwards.
    Malformed,
}

/// A domain name in uncompressed wire form.
#[derive(Clone)]
pub struct Name {
    wire: [u8; MAX_NAME_LEN],
    /// Bytes of `wire` in use, terminating zero included; at least 1.
    len: u8,
}

impl Name {
    /// The root name (a single zero byte).
    pub const fn root() -> Self {
        Name {
            wire: [0; MAX_NAME_LEN],
            len: 1,
        }
    }

    /// Parses a host name in dotted text (`broker.example.com`, an optional
    /// trailing dot allowed) into wire form.
    ///
    /// Only LDH host names are accepted (RFC 1123 §2.1): a resolver for
    /// address records has no use for other bytes, and refusing them keeps
    /// text that was never meant to be a name out of a query.
    pub fn from_text(text: &str) -> Result<Self, NameError> {
        let text = text.strip_suffix('.').unwrap_or(text);
        if text.is_empty() || text.len() > MAX_TEXT_LEN {
            return Err(NameError::InvalidName);
        }
        let mut name = Name::root();
        let mut at = 0usize;
        for label in text.split('.') {
            let bytes = label.as_bytes();
            if !is_host_label(bytes) {
                return Err(NameError::InvalidName);
            }
            let end = at + 1 + bytes.len();
            // The text length check above bounds this, but the wire array is
            // indexed only through `get_mut`, so a wrong bound cannot panic.
            let slot = name.wire.get_mut(at..end).ok_or(NameError::InvalidName)?;
            if let Some((len_byte, rest)) = slot.split_first_mut() {
                *len_byte = bytes.len() as u8;
                rest.copy_from_slice(bytes);
            }
            at = end;
        }
        // Terminating zero: the array is zeroed, so only the length moves.
        name.len = u8::try_from(at + 1).map_err(|_| NameError::InvalidName)?;
        Ok(name)
    }

    /// Reads the possibly compressed name that starts at `start` in
    /// `message` (RFC 1035 §4.1.4). Returns the name and the offset just
    /// after it at its original place, where the next field begins.
    pub fn read(message: &[u8], start: usize) -> Result<(Self, usize), NameError> {
        let mut name = Name::root();
        let mut written = 0usize;
        let mut at = start;
        // Where the current run of labels began: the name itself, or the
        // target of the last pointer. A pointer must land before it.
        let mut run_start = start;
        let mut end_after_name: Option<usize> = None;
        let mut jumps = 0usize;
        loop {
            let len_byte = *message.get(at).ok_or(NameError::Malformed)?;
            match len_byte & POINTER_TAG {
                0 => {}
                POINTER_TAG => {
                    let low = *message.get(at + 1).ok_or(NameError::Malformed)?;
                    let target = usize::from(u16::from_be_bytes([len_byte & !POINTER_TAG, low]));
                    if target >= run_start || jumps >= MAX_POINTER_JUMPS {
                        return Err(NameError::Malformed);
                    }
                    jumps += 1;
                    end_after_name.get_or_insert(at + 2);
                    run_start = target;
                    at = target;
                    continue;
                }
                _ => return Err(NameError::Malformed),
            }
            let label_len = usize::from(len_byte);
            let label_end = at + 1 + label_len;
            let label = message.get(at..label_end).ok_or(NameError::Malformed)?;
            let out = name
                .wire
                .get_mut(written..written + label.len())
                .ok_or(NameError::Malformed)?;
            out.copy_from_slice(label);
            written += label.len();
            at = label_end;
            if label_len == 0 {
                name.len = u8::try_from(written).map_err(|_| NameError::Malformed)?;
                return Ok((name, end_after_name.unwrap_or(at)));
            }
        }
    }

    /// The uncompressed wire form, terminating zero included.
    pub fn as_wire(&self) -> &[u8] {
        self.wire.get(..usize::from(self.len)).unwrap_or(&[0])
    }

    /// Whether two names are the same name, ignoring ASCII case (RFC 4343).
    pub fn eq_ignore_case(&self, other: &Name) -> bool {
        self.as_wire().eq_ignore_ascii_case(other.as_wire())
    }

    /// The labels, first to last, without the root.
    pub fn labels(&self) -> Labels<'_> {
        Labels {
            rest: self.as_wire(),
        }
    }
}

/// Iterator over a name's labels, from [`Name::labels`].
#[derive(Debug, Clone)]
pub struct Labels<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, rest) = self.rest.split_first()?;
        if len == 0 {
            return None;
        }
        let label = rest.get(..usize::from(len))?;
        self.rest = rest.get(usize::from(len)..)?;
        Some(label)
    }
}

/// Letters, digits and hyphens, not starting or ending with a hyphen, 1 to
/// 63 bytes (RFC 1123 §2.1 relaxes RFC 952 to allow a leading digit).
fn is_host_label(label: &[u8]) -> bool {
    (1..=MAX_LABEL_LEN).contains(&label.len())
        && label.first() != Some(&b'-')
        && label.last() != Some(&b'-')
        && label
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

impl PartialEq for Name {
    /// Names compare case-insensitively (RFC 4343).
    fn eq(&self, other: &Self) -> bool {
        self.eq_ignore_case(other)
    }
}

impl Eq for Name {}

impl fmt::Display for Name {
    /// Dotted text; bytes outside printable ASCII, which only a server can
    /// put in a name, are shown as `\DDD` (RFC 1035 §5.1).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        for label in self.labels() {
            if any {
                f.write_str(".")?;
            }
            any = true;
            for &b in label {
                if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                    write!(f, "{}", char::from(b))?;
                } else {
                    write!(f, "\\{b:03}")?;
                }
            }
        }
        if !any {
            f.write_str(".")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::from_text(text).expect("valid test name")
    }

    #[test]
    fn text_becomes_labels_and_prints_back() {
        let n = name("Broker.IoT.test.");
        assert_eq!(n.as_wire(), b"\x06Broker\x03IoT\x04test\x00");
        assert_eq!(n.labels().count(), 3);
        assert!(n.eq_ignore_case(&name("broker.iot.TEST")));
        assert_ne!(n, name("broker.iot.tes"));
        extern crate std;
        assert_eq!(std::format!("{n}"), "Broker.IoT.test");
    }

    #[test]
    fn text_that_is_not_a_host_name_is_refused() {
        let long_label = [b'a'; 64];
        let long_label = core::str::from_utf8(&long_label).unwrap_or("");
        for bad in [
            "",
            ".",
            "a..b",
            "-a.b",
            "a-.b",
            "a_b.c",
            "a b",
            "ex\u{e4}mple.com",
            long_label,
        ] {
            assert_eq!(Name::from_text(bad), Err(NameError::InvalidName), "{bad}");
        }
        assert!(Name::from_text(&long_label[..63]).is_ok());
    }

    #[test]
    fn text_length_limit_is_253() {
        // 63+1+63+1+63+1+61 = 253 bytes of text, 255 of wire form.
        let mut text = [b'a'; 253];
        for at in [63, 127, 191] {
            text[at] = b'.';
        }
        let ok = core::str::from_utf8(&text).unwrap_or("");
        assert_eq!(name(ok).as_wire().len(), 255);
        let mut longer = [b'a'; 254];
        longer[..253].copy_from_slice(&text);
        let too_long = core::str::from_utf8(&longer).unwrap_or("");
        assert_eq!(Name::from_text(too_long), Err(NameError::InvalidName));
    }

    #[test]
    fn compressed_names_are_followed_backwards() {
        // offset 0: "example.com", offset 13: "www" + pointer to 0,
        // offset 19: "a" + pointer to 13.
        let msg = b"\x07example\x03com\x00\x03www\xc0\x00\x01a\xc0\x0dtail";
        let (n, end) = Name::read(msg, 19).expect("valid");
        assert_eq!(n, name("a.www.example.com"));
        assert_eq!(end, 23);
        let (n, end) = Name::read(msg, 0).expect("valid");
        assert_eq!(n, name("example.com"));
        assert_eq!(end, 13);
    }

    #[test]
    fn pointer_loops_and_forward_pointers_are_malformed() {
        // A pointer to itself.
        assert_eq!(Name::read(b"\xc0\x00", 0).err(), Some(NameError::Malformed));
        // Two pointers pointing at each other.
        let pair = b"\x00\x00\xc0\x04\xc0\x02";
        assert_eq!(Name::read(pair, 2).err(), Some(NameError::Malformed));
        assert_eq!(Name::read(pair, 4).err(), Some(NameError::Malformed));
        // A label, then a pointer back to that same label.
        assert_eq!(
            Name::read(b"\x01a\xc0\x00", 0).err(),
            Some(NameError::Malformed)
        );
        // A forward pointer to a valid name.
        let forward = b"\xc0\x02\x01a\x00";
        assert_eq!(Name::read(forward, 0).err(), Some(NameError::Malformed));
        // Reserved label types.
        assert_eq!(
            Name::read(b"\x41a\x00", 0).err(),
            Some(NameError::Malformed)
        );
        assert_eq!(
            Name::read(b"\x81a\x00", 0).err(),
            Some(NameError::Malformed)
        );
    }

    #[test]
    fn names_over_255_bytes_are_malformed() {
        // Five 63-byte labels: 320 bytes of wire form.
        let mut msg = [0u8; 5 * 64 + 1];
        for chunk in msg.chunks_mut(64).take(5) {
            chunk[0] = 63;
            chunk[1..].fill(b'x');
        }
        assert_eq!(Name::read(&msg, 0).err(), Some(NameError::Malformed));
        // Through pointers: many short labels each pointing further back.
        let mut chain = [0u8; 600];
        chain[0] = 0;
        let mut at = 1;
        let mut prev = 0u16;
        while at + 4 <= chain.len() {
            chain[at..at + 4].copy_from_slice(&[1, b'z', 0xc0 | (prev >> 8) as u8, prev as u8]);
            prev = at as u16;
            at += 4;
        }
        assert_eq!(
            Name::read(&chain, usize::from(prev)).err(),
            Some(NameError::Malformed)
        );
    }

    #[test]
    fn truncated_names_are_malformed_at_every_length() {
        let msg = b"\x03www\x07example\x03com\x00";
        for len in 0..msg.len() {
            assert_eq!(
                Name::read(&msg[..len], 0).err(),
                Some(NameError::Malformed),
                "{len}"
            );
        }
        assert_eq!(Name::read(b"\xc0", 0).err(), Some(NameError::Malformed));
    }
}
