//! The in-memory Ethernet link between the two stacks: one frame queue per
//! direction, no faults, no delay beyond one poll. The no_std twin of the
//! host bench's `xtask/bench/src/link.rs`, with the queues in fixed arrays.
//!
//! Each frame sits at offset 0 of a 4-byte aligned buffer, as in a NIC's DMA
//! descriptors: the IP header behind the 14-byte Ethernet header is then 2
//! bytes off a word boundary, the layout smoltcp's 13.68 instructions per
//! byte was measured with (FACTS.md, "Where TCP time goes"). A stack that
//! wants its headers aligned must arrange that itself, as it would on a
//! device.
//!
//! The queues count what crosses them by kind ([`classify`]), so the ACK
//! figure comes from the wire, the same way for every stack.

#[path = "../../bench/src/frame_kind.rs"]
mod frame_kind;
use frame_kind::{FrameKind, classify};

/// The largest frame the link carries: an IP MTU of 1500 plus the 14-byte
/// Ethernet II header (IEEE 802.3 clause 3.2; the FCS is not carried).
pub const FRAME_MAX: usize = 1514;

/// Frames one direction holds. A 16 KiB window is 12 full segments; 32
/// leaves room for ACKs and window updates, so a full queue (which refuses
/// the frame and makes the stack retry later, never drops it) does not
/// happen in a healthy run.
pub const QUEUE_FRAMES: usize = 32;

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
    pub data_segments: u32,
    pub pure_acks: u32,
    pub other_frames: u32,
}

impl Counts {
    const ZERO: Counts = Counts {
        data_segments: 0,
        pure_acks: 0,
        other_frames: 0,
    };

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

/// One frame buffer, word aligned like a DMA descriptor's.
#[derive(Debug)]
#[repr(C, align(4))]
struct FrameBuffer([u8; FRAME_MAX]);

/// One direction: a ring of frame buffers.
#[derive(Debug)]
pub struct FrameQueue {
    frames: [FrameBuffer; QUEUE_FRAMES],
    lens: [u16; QUEUE_FRAMES],
    head: usize,
    len: usize,
    counts: Counts,
    /// Frames a stack built past [`FRAME_MAX`] or without a free buffer:
    /// never in a correct run, so the run fails if this is not zero.
    lost: u32,
}

impl FrameQueue {
    const fn new() -> Self {
        FrameQueue {
            frames: [const { FrameBuffer([0; FRAME_MAX]) }; QUEUE_FRAMES],
            lens: [0; QUEUE_FRAMES],
            head: 0,
            len: 0,
            counts: Counts::ZERO,
            lost: 0,
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

    /// Lends the buffer for the next frame, `len` bytes long, to `write`,
    /// then queues and counts the frame. A frame with no room or too long
    /// for the link is built in `scratch` and lost, as a NIC drops what has
    /// no descriptor, and counted in [`Link::lost`].
    pub fn push_with<R>(&mut self, len: usize, write: impl FnOnce(&mut [u8]) -> R) -> R {
        if !self.has_room() || len > FRAME_MAX {
            self.lost += 1;
            let mut scratch = [0u8; FRAME_MAX];
            let len = len.min(FRAME_MAX);
            return write(&mut scratch[..len]);
        }
        let slot = (self.head + self.len) % QUEUE_FRAMES;
        let frame = &mut self.frames[slot].0[..len];
        let result = write(frame);
        self.counts.add(classify(frame));
        // `len <= FRAME_MAX`, checked above.
        self.lens[slot] = len as u16;
        self.len += 1;
        result
    }

    /// The oldest frame, if any.
    pub fn front(&self) -> Option<&[u8]> {
        (!self.is_empty()).then(|| &self.frames[self.head].0[..usize::from(self.lens[self.head])])
    }

    /// The oldest frame, writable (embassy-net-driver lends receive buffers
    /// mutably).
    pub fn front_mut(&mut self) -> Option<&mut [u8]> {
        let len = usize::from(self.lens[self.head]);
        (!self.is_empty()).then(|| &mut self.frames[self.head].0[..len])
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

impl Link {
    pub const fn new() -> Self {
        Link {
            client_to_server: FrameQueue::new(),
            server_to_client: FrameQueue::new(),
        }
    }

    /// Empties both queues and zeroes the counts, for the next stack's run.
    pub fn clear(&mut self) {
        for queue in [&mut self.client_to_server, &mut self.server_to_client] {
            queue.head = 0;
            queue.len = 0;
            queue.counts = Counts::ZERO;
            queue.lost = 0;
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
        self.client_to_server.counts = Counts::ZERO;
        self.server_to_client.counts = Counts::ZERO;
    }

    /// Frames lost for want of room or for their length (see
    /// [`FrameQueue::push_with`]).
    pub fn lost(&self) -> u32 {
        self.client_to_server.lost + self.server_to_client.lost
    }
}

/// One stack's view of the link for the length of one poll.
#[derive(Debug)]
pub struct LinkEnd<'a> {
    pub rx: &'a mut FrameQueue,
    pub tx: &'a mut FrameQueue,
}
