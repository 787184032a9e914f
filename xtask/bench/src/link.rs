//! The in-memory Ethernet link between the two stacks of a bench: one frame
//! queue per direction, no faults, no delay beyond one poll.
//!
//! Every frame buffer is allocated when the link is made, so moving frames
//! costs the measured loop no allocation. The queues count what crosses them
//! by kind ([`classify`]), so the ACK figure comes from the wire, the same way
//! for every stack, rather than from a stack's own statistics.

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

/// What a frame is, for the ACK figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A TCP segment carrying payload (RFC 9293 section 3.1: the data after the
    /// header the data offset field delimits).
    Data,
    /// A TCP segment with ACK set, no payload and none of SYN, FIN, RST: an
    /// acknowledgment or window update and nothing else.
    PureAck,
    /// Anything else: ARP, the handshake, FIN, RST, other protocols, and
    /// frames too short or inconsistent to read.
    Other,
}

/// Ethernet II header length and EtherType offset (IEEE 802.3 clause 3.2.6).
const ETHERNET_HEADER_LEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
/// IPv4 protocol number of TCP (RFC 791 section 3.1, IANA protocol numbers).
const PROTOCOL_TCP: u8 = 6;
/// TCP control bits (RFC 9293 section 3.1), in the 14th header byte.
const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;

/// Tells what a frame on the link is. Reads only the header fields it needs
/// and answers [`FrameKind::Other`] for anything it cannot read, never panics.
pub fn classify(frame: &[u8]) -> FrameKind {
    classify_tcp(frame).unwrap_or(FrameKind::Other)
}

fn classify_tcp(frame: &[u8]) -> Option<FrameKind> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    if ethertype != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = frame.get(ETHERNET_HEADER_LEN..)?;
    // RFC 791 section 3.1: version and IHL share the first byte; Total
    // Length is bytes 2..4; Protocol is byte 9.
    let version_ihl = *ip.first()?;
    if version_ihl >> 4 != 4 {
        return None;
    }
    let ip_header_len = usize::from(version_ihl & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    if *ip.get(9)? != PROTOCOL_TCP || total_len > ip.len() {
        return None;
    }
    let tcp = ip.get(ip_header_len..total_len)?;
    // RFC 9293 section 3.1: Data Offset is the high nibble of byte 12, in
    // 32-bit words; the control bits are byte 13.
    let data_offset = usize::from(*tcp.get(12)? >> 4) * 4;
    let flags = *tcp.get(13)?;
    let payload_len = tcp.len().checked_sub(data_offset)?;
    Some(if payload_len > 0 {
        FrameKind::Data
    } else if flags & TCP_ACK != 0 && flags & (TCP_SYN | TCP_FIN | TCP_RST) == 0 {
        FrameKind::PureAck
    } else {
        FrameKind::Other
    })
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

    /// An Ethernet + IPv4 + TCP frame with 20-byte headers, `payload` bytes
    /// of data and control bits `flags`. Checksums are left zero: the
    /// classifier does not read them.
    fn tcp_frame(flags: u8, payload: usize) -> Vec<u8> {
        let mut frame = vec![0u8; 14 + 20 + 20 + payload];
        frame[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        frame[14] = 0x45;
        let total = u16::try_from(20 + 20 + payload).unwrap();
        frame[16..18].copy_from_slice(&total.to_be_bytes());
        frame[14 + 9] = PROTOCOL_TCP;
        frame[34 + 12] = 5 << 4;
        frame[34 + 13] = flags;
        frame
    }

    #[test]
    fn classify_tells_data_from_pure_acks_and_the_rest() {
        assert_eq!(classify(&tcp_frame(TCP_ACK, 1460)), FrameKind::Data);
        assert_eq!(classify(&tcp_frame(TCP_ACK | 0x08, 1)), FrameKind::Data);
        assert_eq!(classify(&tcp_frame(TCP_ACK, 0)), FrameKind::PureAck);
        assert_eq!(classify(&tcp_frame(TCP_SYN, 0)), FrameKind::Other);
        assert_eq!(classify(&tcp_frame(TCP_SYN | TCP_ACK, 0)), FrameKind::Other);
        assert_eq!(classify(&tcp_frame(TCP_FIN | TCP_ACK, 0)), FrameKind::Other);
        assert_eq!(classify(&tcp_frame(TCP_RST | TCP_ACK, 0)), FrameKind::Other);
        // FIN with data still carries data.
        assert_eq!(classify(&tcp_frame(TCP_FIN | TCP_ACK, 5)), FrameKind::Data);
    }

    #[test]
    fn classify_reads_payload_past_options_and_ignores_ethernet_padding() {
        // A bare ACK with 12 bytes of TCP options (data offset 8) is still
        // pure, though the frame is longer than 54 bytes.
        let mut frame = tcp_frame(TCP_ACK, 12);
        frame[34 + 12] = 8 << 4;
        assert_eq!(classify(&frame), FrameKind::PureAck);
        // Ethernet pads short frames to 60 bytes: the padding after IPv4's
        // Total Length is not payload.
        let mut frame = tcp_frame(TCP_ACK, 0);
        frame.resize(60, 0);
        assert_eq!(classify(&frame), FrameKind::PureAck);
    }

    #[test]
    fn classify_calls_unreadable_and_foreign_frames_other() {
        let arp = {
            let mut frame = vec![0u8; 42];
            frame[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
            frame
        };
        assert_eq!(classify(&arp), FrameKind::Other);
        assert_eq!(classify(&[]), FrameKind::Other);
        let frame = tcp_frame(TCP_ACK, 100);
        for cut in 0..frame.len() {
            assert_eq!(classify(&frame[..cut]), FrameKind::Other, "cut at {cut}");
        }
        let mut udp = tcp_frame(TCP_ACK, 100);
        udp[14 + 9] = 17;
        assert_eq!(classify(&udp), FrameKind::Other);
        let mut bad_offset = tcp_frame(TCP_ACK, 0);
        bad_offset[34 + 12] = 15 << 4;
        assert_eq!(classify(&bad_offset), FrameKind::Other);
        let mut ipv6_version = tcp_frame(TCP_ACK, 100);
        ipv6_version[14] = 0x65;
        assert_eq!(classify(&ipv6_version), FrameKind::Other);
    }

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
