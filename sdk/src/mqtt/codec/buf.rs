//! Cursors over input and output buffers with the MQTT data types of
//! 5.0 §1.5 (integers, strings, binary data, variable byte integers).

use super::Error;
use super::string::check_utf8;
use super::varint::{decode_varint, encode_varint};

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

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        out
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

    pub(crate) fn varint(&mut self) -> Result<u32, Error> {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        let (value, len) = decode_varint(rest).map_err(|e| match e {
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
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

/// Room reserved for a length prefix before its section's length is known.
const LEN_RESERVE: usize = 4;

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn slice(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let end = self.pos + bytes.len();
        self.buf
            .get_mut(self.pos..end)
            .ok_or(Error::BufferTooSmall)?
            .copy_from_slice(bytes);
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
        let rest = self.buf.get_mut(self.pos..).ok_or(Error::BufferTooSmall)?;
        self.pos += encode_varint(v, rest)?;
        Ok(())
    }

    pub(crate) fn binary(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let len = u16::try_from(bytes.len()).map_err(|_| Error::ValueTooLarge)?;
        self.u16(len)?;
        self.slice(bytes)
    }

    pub(crate) fn str(&mut self, text: &str) -> Result<(), Error> {
        // Catch U+0000 on the way out too: the peer would reject the packet.
        check_utf8(text.as_bytes())?;
        self.binary(text.as_bytes())
    }

    /// Starts a section prefixed by its length as a variable byte integer
    /// (remaining length, property length). The length is unknown until the
    /// section is written, so four bytes are reserved and the section is
    /// moved back over the unused ones by [`Writer::end_len_prefixed`].
    pub(crate) fn begin_len_prefixed(&mut self) -> Result<usize, Error> {
        let start = self.pos;
        if self.buf.len() < start + LEN_RESERVE {
            return Err(Error::BufferTooSmall);
        }
        self.pos += LEN_RESERVE;
        Ok(start)
    }

    pub(crate) fn end_len_prefixed(&mut self, start: usize) -> Result<(), Error> {
        let body_start = start + LEN_RESERVE;
        let body_len = self.pos - body_start;
        let len = u32::try_from(body_len).map_err(|_| Error::ValueTooLarge)?;
        let mut prefix = [0u8; LEN_RESERVE];
        let n = encode_varint(len, &mut prefix)?;
        self.buf.copy_within(body_start..self.pos, start + n);
        self.buf[start..start + n].copy_from_slice(&prefix[..n]);
        self.pos = start + n + body_len;
        Ok(())
    }
}
