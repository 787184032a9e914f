//! Reading and writing the TLS presentation language (RFC 8446 section 3):
//! big-endian integers and vectors with 1-, 2- or 3-byte length prefixes.

use super::TlsError;

/// A cursor over received bytes; every short read is [`TlsError::Decode`].
pub(crate) struct Reader<'b> {
    bytes: &'b [u8],
    position: usize,
}

impl<'b> Reader<'b> {
    pub(crate) fn new(bytes: &'b [u8]) -> Self {
        Reader { bytes, position: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.position
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.position == self.bytes.len()
    }

    pub(crate) fn take(&mut self, len: usize) -> Result<&'b [u8], TlsError> {
        let end = self.position.checked_add(len).ok_or(TlsError::Decode)?;
        let taken = self.bytes.get(self.position..end).ok_or(TlsError::Decode)?;
        self.position = end;
        Ok(taken)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, TlsError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, TlsError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, TlsError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u24(&mut self) -> Result<usize, TlsError> {
        let b = self.take(3)?;
        Ok(usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }

    pub(crate) fn vec_u8(&mut self) -> Result<&'b [u8], TlsError> {
        let len = self.u8()?;
        self.take(usize::from(len))
    }

    pub(crate) fn vec_u16(&mut self) -> Result<&'b [u8], TlsError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    pub(crate) fn vec_u24(&mut self) -> Result<&'b [u8], TlsError> {
        let len = self.u24()?;
        self.take(len)
    }

    /// Fails unless everything was read: trailing bytes make a message
    /// malformed.
    pub(crate) fn finish(&self) -> Result<(), TlsError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(TlsError::Decode)
        }
    }
}

/// A cursor that appends to a caller buffer; running out of room is
/// [`TlsError::BufferTooSmall`].
pub(crate) struct Writer<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> Writer<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Writer { buf, len: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<(), TlsError> {
        let end = self.len + bytes.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(TlsError::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    pub(crate) fn u8(&mut self, value: u8) -> Result<(), TlsError> {
        self.put(&[value])
    }

    pub(crate) fn u16(&mut self, value: u16) -> Result<(), TlsError> {
        self.put(&value.to_be_bytes())
    }

    /// Reserves a length prefix of `width` bytes; [`Writer::end`] fills it.
    pub(crate) fn start(&mut self, width: usize) -> Result<usize, TlsError> {
        let at = self.len;
        self.put(&[0; 3][..width])?;
        Ok(at)
    }

    /// Writes the length of everything after the prefix reserved at `at`.
    pub(crate) fn end(&mut self, at: usize, width: usize) -> Result<(), TlsError> {
        let body = self.len - at - width;
        if body >= 1 << (8 * width) {
            return Err(TlsError::BufferTooSmall);
        }
        let bytes = (body as u32).to_be_bytes();
        self.buf[at..at + width].copy_from_slice(&bytes[4 - width..]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reads_vectors_and_refuses_short_input() {
        let bytes = [1, 0xaa, 0, 2, 0xbb, 0xcc, 0, 0, 1, 0xdd, 7];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.vec_u8(), Ok(&[0xaa][..]));
        assert_eq!(r.vec_u16(), Ok(&[0xbb, 0xcc][..]));
        assert_eq!(r.vec_u24(), Ok(&[0xdd][..]));
        assert_eq!(r.position(), 10);
        assert_eq!(r.finish(), Err(TlsError::Decode));
        assert_eq!(r.u16(), Err(TlsError::Decode));
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.finish(), Ok(()));
        assert_eq!(Reader::new(&[0, 5, 1]).vec_u16(), Err(TlsError::Decode));
        assert_eq!(
            Reader::new(&[0xff; 3]).take(usize::MAX),
            Err(TlsError::Decode)
        );
    }

    #[test]
    fn writer_patches_length_prefixes() {
        let mut buf = [0u8; 8];
        let mut w = Writer::new(&mut buf);
        let at = w.start(3).unwrap();
        w.u16(0x0304).unwrap();
        w.end(at, 3).unwrap();
        w.u8(9).unwrap();
        assert_eq!(w.len(), 6);
        assert_eq!(buf[..6], [0, 0, 2, 3, 4, 9]);
        let mut small = [0u8; 1];
        let mut w = Writer::new(&mut small);
        assert_eq!(w.u16(1), Err(TlsError::BufferTooSmall));
        let mut big = [0u8; 300];
        let mut w = Writer::new(&mut big);
        let at = w.start(1).unwrap();
        w.put(&[0; 256]).unwrap();
        assert_eq!(w.end(at, 1), Err(TlsError::BufferTooSmall));
    }
}
