//! Cursors over input and output buffers with the MQTT data types of
//! 5.0 §1.5 (integers, strings, binary data, variable byte integers).

use super::Error;
use super::string::{check_no_null, check_utf8};
use super::varint::{decode_varint, encode_varint, varint_len};

/// Reads MQTT data types from a packet body. Running past the end is
/// `MalformedPacket`: the remaining length already said where the body ends.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).ok_or(Error::MalformedPacket)?;
        let out = self.buf.get(self.pos..end).ok_or(Error::MalformedPacket)?;
        self.pos = end;
        Ok(out)
    }

    /// Bytes read so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = self.remaining();
        self.pos = self.buf.len();
        out
    }

    /// What has not been read yet (`pos` never passes the end: `take`
    /// checks, `varint` adds what it decoded from these bytes).
    fn remaining(&self) -> &'a [u8] {
        let buf = self.buf;
        &buf[self.pos.min(buf.len())..]
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A Packet Identifier: two bytes, never 0 (§2.2.1, 3.1.1 §2.3.1).
    pub(crate) fn packet_id(&mut self) -> Result<u16, Error> {
        match self.u16()? {
            0 => Err(Error::MalformedPacket),
            id => Ok(id),
        }
    }

    pub(crate) fn varint(&mut self) -> Result<u32, Error> {
        let (value, len) = decode_varint(self.remaining()).map_err(|e| match e {
            Error::Incomplete => Error::MalformedPacket,
            other => other,
        })?;
        self.pos += len;
        Ok(value)
    }

    pub(crate) fn binary(&mut self) -> Result<&'a [u8], Error> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    pub(crate) fn str(&mut self) -> Result<&'a str, Error> {
        check_utf8(self.binary()?)
    }
}

/// Writes MQTT data types into a caller buffer.
///
/// A length prefix (remaining length, property length) comes before the
/// bytes it counts, so a packet is encoded in two passes over the same code:
/// a measuring pass ([`Writer::measuring`]) writes nothing and records the
/// length of every prefixed section, then the writing pass
/// ([`Writer::with_lengths`]) puts each length in front of its section as it
/// starts. Nothing is written twice or moved afterwards, which keeps
/// `memmove` out of the firmware and the packet at the start of the buffer.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    /// `None` while measuring.
    buf: Option<&'a mut [u8]>,
    pos: usize,
    /// The lengths of the prefixed sections, in the order they start.
    lengths: SectionLengths,
    /// Sections started so far.
    sections: usize,
    /// While measuring: where each open section's body starts.
    starts: [usize; MAX_SECTIONS],
}

/// Length-prefixed sections one packet may hold: the remaining length,
/// a property block, and a will's property block inside CONNECT.
const MAX_SECTIONS: usize = 4;

/// Marks a measured section that has ended.
const ENDED: usize = usize::MAX;

/// What a measuring pass learnt: each prefixed section's length, in order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SectionLengths([u32; MAX_SECTIONS]);

impl<'a> Writer<'a> {
    /// A writer that counts bytes and section lengths without writing.
    pub(crate) fn measuring() -> Self {
        Writer {
            buf: None,
            pos: 0,
            lengths: SectionLengths([0; MAX_SECTIONS]),
            sections: 0,
            starts: [0; MAX_SECTIONS],
        }
    }

    /// A writer into `buf` for the data a measuring pass produced `lengths` for.
    pub(crate) fn with_lengths(buf: &'a mut [u8], lengths: SectionLengths) -> Self {
        Writer {
            buf: Some(buf),
            ..Writer::measuring().lengths(lengths)
        }
    }

    fn lengths(self, lengths: SectionLengths) -> Self {
        Writer { lengths, ..self }
    }

    /// The section lengths measured so far.
    pub(crate) fn section_lengths(&self) -> SectionLengths {
        self.lengths
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn slice(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let end = self.pos + bytes.len();
        if let Some(buf) = self.buf.as_deref_mut() {
            buf.get_mut(self.pos..end)
                .ok_or(Error::BufferTooSmall)?
                .copy_from_slice(bytes);
        }
        self.pos = end;
        Ok(())
    }

    pub(crate) fn u8(&mut self, v: u8) -> Result<(), Error> {
        self.slice(&[v])
    }

    pub(crate) fn u16(&mut self, v: u16) -> Result<(), Error> {
        self.slice(&v.to_be_bytes())
    }

    pub(crate) fn u32(&mut self, v: u32) -> Result<(), Error> {
        self.slice(&v.to_be_bytes())
    }

    pub(crate) fn varint(&mut self, v: u32) -> Result<(), Error> {
        let mut bytes = [0u8; 4];
        let n = encode_varint(v, &mut bytes)?;
        self.slice(&bytes[..n])
    }

    pub(crate) fn binary(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let len = u16::try_from(bytes.len()).map_err(|_| Error::ValueTooLarge)?;
        self.u16(len)?;
        self.slice(bytes)
    }

    pub(crate) fn str(&mut self, text: &str) -> Result<(), Error> {
        // Catch U+0000 on the way out too: the peer would reject the packet.
        check_no_null(text)?;
        self.binary(text.as_bytes())
    }

    /// Starts a section prefixed by its length as a variable byte integer;
    /// [`Writer::end_len_prefixed`] ends it. While writing, the prefix goes
    /// out now, from the measuring pass.
    pub(crate) fn begin_len_prefixed(&mut self) -> Result<(), Error> {
        let section = self.sections;
        let measured = *self.lengths.0.get(section).ok_or(Error::ValueTooLarge)?;
        self.sections += 1;
        if self.buf.is_some() {
            self.varint(measured)
        } else {
            self.starts[section] = self.pos;
            Ok(())
        }
    }

    /// Ends the innermost open section. While measuring, its length is
    /// recorded and its prefix counted.
    pub(crate) fn end_len_prefixed(&mut self) -> Result<(), Error> {
        if self.buf.is_some() {
            return Ok(());
        }
        // Sections nest, so the innermost open one is the last started
        // that has not ended.
        let section = (0..self.sections)
            .rev()
            .find(|&s| self.starts[s] != ENDED)
            .ok_or(Error::ValueTooLarge)?;
        let len =
            u32::try_from(self.pos - self.starts[section]).map_err(|_| Error::ValueTooLarge)?;
        self.lengths.0[section] = len;
        self.starts[section] = ENDED;
        self.pos += varint_len(len);
        Ok(())
    }
}
