//! The harness with no stack under it: what the applications alone cost
//! (staging the pattern, the copy into a 64 KiB buffer standing in for the
//! client socket, the copy out of it, the verification), as a floor under
//! every stack's figure. A stack adds its own work on top: its segments,
//! its checksums and its two copies between socket buffers and frames.

use super::{BUFFER_LEN, StackError, StackPair};
use crate::link::Link;

/// One 64 KiB ring shared by both "sockets".
#[derive(Debug)]
pub struct Floor {
    ring: Vec<u8>,
    /// Where the oldest unread byte is.
    start: usize,
    len: usize,
}

impl StackPair for Floor {
    const NAME: &'static str = "floor";

    fn new(_link: &mut Link) -> Result<Self, StackError> {
        Ok(Floor {
            ring: vec![0; BUFFER_LEN],
            start: 0,
            len: 0,
        })
    }

    fn open(&mut self, _now_us: u64) -> Result<(), StackError> {
        Ok(())
    }

    fn established(&mut self) -> bool {
        true
    }

    fn poll(&mut self, _now_us: u64, _link: &mut Link) {}

    fn client_send(&mut self, data: &[u8]) -> Result<usize, StackError> {
        let mut written = 0;
        // At most two pieces: up to the end of the ring, then from its start.
        while written < data.len() && self.len < BUFFER_LEN {
            let at = (self.start + self.len) % BUFFER_LEN;
            let room = (BUFFER_LEN - self.len).min(BUFFER_LEN - at);
            let n = room.min(data.len() - written);
            self.ring[at..at + n].copy_from_slice(&data[written..written + n]);
            self.len += n;
            written += n;
        }
        Ok(written)
    }

    fn server_recv(&mut self, buf: &mut [u8]) -> Result<usize, StackError> {
        let mut read = 0;
        while read < buf.len() && self.len > 0 {
            let n = self.len.min(BUFFER_LEN - self.start).min(buf.len() - read);
            buf[read..read + n].copy_from_slice(&self.ring[self.start..self.start + n]);
            self.start = (self.start + n) % BUFFER_LEN;
            self.len -= n;
            read += n;
        }
        Ok(read)
    }
}
