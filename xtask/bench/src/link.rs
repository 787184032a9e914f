//! The in-memory Ethernet link between the two stacks of a bench: one frame
//! queue per direction, no faults, no delay beyond one poll.
//!
//! Every frame buffer is allocated when the link is made, so moving frames
//! costs the measured loop no allocation. The queues count what crosses them
//! by kind ([`classify`]), so the ACK figure comes from the wire, the same way
//! for every stack, rather than from a stack's own statistics.

use crate::frame_kind::{FrameKind, classify};

/// The largest frame the link carries: an IP MTU of 1500 plus the 14-byte
/// Ethernet II header (IEEE 802.3 clause 3.2; the FCS is not carried).
pub const FRAME_MAX: usize = 1514;

/// Frames one direction holds. A 64 KiB window is 45 full segments; twice
/// that leaves room for ACKs and window updates, so a full queue (which
/// refuses the frame and makes the stack retry later, never drops it) does not
/// happen in a healthy run.
pub const QUEUE_FRAMES: usize = 128;

/// Which end of the link a stack sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The end that connects and sends the data.
    Client,
    /// The end that listens and receives the data.
    Server,
}

/// What crossed the link, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub data_segments: u64,
    pub pure_acks: u64,
    pub other_frames: u64,
}

impl Counts {
    fn add(&mut self, kind: FrameKind) {
        match kind {
            FrameKind::Data => self.data_segments += 1,
            FrameKind::PureAck => self.pure_acks += 1,
            FrameKind::Other => self.other_frames += 1,
        }
    }

    fn plus(self, other: Counts) -> Counts {
        Counts {
            data_segments: self.data_segments + other.data_segments,
            pure_acks: self.pure_acks + other.pure_acks,
            other_frames: self.other_frames + other.other_frames,
        }
    }
}

/// One direction: a ring of preallocated frame buffers.
#[derive(Debug)]
pub struct FrameQueue {
    frames: Box<[[u8; FRAME_MAX]]>,
    lens: Box<[usize]>,
    head: usize,
    len: usize,
    counts: Counts,
}

impl FrameQueue {
    fn new() -> Self {
        FrameQueue {
            frames: vec![[0; FRAME_MAX]; QUEUE_FRAMES].into_boxed_slice(),
            lens: vec![0; QUEUE_FRAMES].into_boxed_slice(),
            head: 0,
            len: 0,
            counts: Counts::default(),
        }
    }

    /// Whether a frame can be queued now.
    pub fn has_room(&self) -> bool {
        self.len < QUEUE_FRAMES
    }

    /// Whether no frame waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buffer the next frame, `len` bytes long, is written into; `None`
    /// when the queue is full or `len` is larger than a frame. Writing it
    /// sends nothing: [`commit_back`](Self::commit_back) does.
    pub fn back_buffer(&mut self, len: usize) -> Option<&mut [u8]> {
        if !self.has_room() || len > FRAME_MAX {
            return None;
        }
        let slot = (self.head + self.len) % QUEUE_FRAMES;
        Some(&mut self.frames[slot][..len])
    }

    /// Queues and counts the frame just written into
    /// [`back_buffer`](Self::back_buffer) with the same `len`. Does nothing
    /// when there was no such buffer.
    pub fn commit_back(&mut self, len: usize) {
        if !self.has_room() || len > FRAME_MAX {
            return;
        }
        let slot = (self.head + self.len) % QUEUE_FRAMES;
        self.counts.add(classify(&self.frames[slot][..len]));
        self.lens[slot] = len;
        self.len += 1;
    }

    /// The oldest frame, if any.
    pub fn front(&self) -> Option<&[u8]> {
        (!self.is_empty()).then(|| &self.frames[self.head][..self.lens[self.head]])
    }

    /// The oldest frame, writable (embassy-net-driver lends receive buffers
    /// mutably; tests also damage frames in flight through it).
    pub fn front_mut(&mut self) -> Option<&mut [u8]> {
        (!self.is_empty()).then(|| &mut self.frames[self.head][..self.lens[self.head]])
    }

    /// Removes the oldest frame, if any.
    pub fn remove_front(&mut self) {
        if !self.is_empty() {
            self.head = (self.head + 1) % QUEUE_FRAMES;
            self.len -= 1;
        }
    }
}

/// The two directions of the link.
#[derive(Debug)]
pub struct Link {
    client_to_server: FrameQueue,
    server_to_client: FrameQueue,
}

impl Default for Link {
    fn default() -> Self {
        Self::new()
    }
}

impl Link {
    pub fn new() -> Self {
        Link {
            client_to_server: FrameQueue::new(),
            server_to_client: FrameQueue::new(),
        }
    }

    /// The queues as one side sees them: it receives from one and transmits
    /// into the other.
    pub fn end(&mut self, side: Side) -> LinkEnd<'_> {
        let (rx, tx) = match side {
            Side::Client => (&mut self.server_to_client, &mut self.client_to_server),
            Side::Server => (&mut self.client_to_server, &mut self.server_to_client),
        };
        LinkEnd { rx, tx }
    }

    /// Frames that crossed in both directions since the last reset.
    pub fn counts(&self) -> Counts {
        self.client_to_server
            .counts
            .plus(self.server_to_client.counts)
    }

    /// Starts counting afresh, so the figures cover the transfer and not the
    /// handshake.
    pub fn reset_counts(&mut self) {
        self.client_to_server.counts = Counts::default();
        self.server_to_client.counts = Counts::default();
    }
}

/// One stack's view of the link for the length of one poll.
#[derive(Debug)]
pub struct LinkEnd<'a> {
    pub rx: &'a mut FrameQueue,
    pub tx: &'a mut FrameQueue,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame_kind::{TCP_ACK, tcp_frame};

    /// Sends `frame` into `queue`; false if it had no room.
    fn send(queue: &mut FrameQueue, frame: &[u8]) -> bool {
        let Some(buffer) = queue.back_buffer(frame.len()) else {
            return false;
        };
        buffer.copy_from_slice(frame);
        queue.commit_back(frame.len());
        true
    }

    /// Takes the oldest frame out of `queue`.
    fn take(queue: &mut FrameQueue) -> Option<Vec<u8>> {
        let frame = queue.front()?.to_vec();
        queue.remove_front();
        Some(frame)
    }

    #[test]
    fn queues_carry_frames_in_order_and_count_them_per_direction() {
        let mut link = Link::new();
        let data = tcp_frame(TCP_ACK, 1460);
        let mut second = data.clone();
        second[60] = 0xaa;
        let ack = tcp_frame(TCP_ACK, 0);
        let client = link.end(Side::Client);
        assert_eq!(take(client.rx), None);
        assert!(send(client.tx, &data));
        assert!(send(client.tx, &second));
        let server = link.end(Side::Server);
        assert_eq!(take(server.rx), Some(data));
        assert!(send(server.tx, &ack));
        assert_eq!(
            link.counts(),
            Counts {
                data_segments: 2,
                pure_acks: 1,
                other_frames: 0
            }
        );
        assert_eq!(take(link.end(Side::Client).rx), Some(ack));
        link.reset_counts();
        assert_eq!(link.counts(), Counts::default());
        assert_eq!(take(link.end(Side::Server).rx), Some(second));
        assert!(link.end(Side::Server).rx.is_empty());
        // Removing from an empty queue, or committing without room, is a
        // no-op rather than a corruption.
        link.end(Side::Server).rx.remove_front();
        assert!(link.end(Side::Server).rx.is_empty());
    }

    #[test]
    fn a_full_queue_refuses_frames_instead_of_dropping_them() {
        let mut link = Link::new();
        let end = link.end(Side::Client);
        for i in 0..QUEUE_FRAMES {
            assert!(send(end.tx, &[i as u8; 60]));
        }
        assert!(!end.tx.has_room());
        assert!(!send(end.tx, &[0xff; 60]));
        end.tx.commit_back(60);
        assert_eq!(link.counts().other_frames, QUEUE_FRAMES as u64);
        let end = link.end(Side::Server);
        assert_eq!(take(end.rx), Some(vec![0; 60]));
        let end = link.end(Side::Client);
        assert!(end.tx.back_buffer(FRAME_MAX + 1).is_none());
        assert!(send(end.tx, &[0xee; 60]));
        // Wrapped around: order still holds.
        let end = link.end(Side::Server);
        for i in 1..QUEUE_FRAMES {
            assert_eq!(take(end.rx), Some(vec![i as u8; 60]));
        }
        assert_eq!(take(end.rx), Some(vec![0xee; 60]));
        assert_eq!(take(end.rx), None);
    }
}
