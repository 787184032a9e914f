//! Mutations of valid frames: bit flips, insertions, deletions, splices,
//! random bytes, and header fields set to the edges of what they may hold.

use std::net::Ipv4Addr;

use duet_netstack::rand::Rng;

use super::frames::{
    Seed, ethernet, ethertype_of, fix_checksums, network_offset, transport_offset,
};
use super::*;

/// The header a [`Field`] sits in.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Layer {
    Ethernet,
    Network,
    Transport,
}

/// A header field: its layer, offset and width in bytes, and whether it is
/// a checksum (which a checksum fix would overwrite).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    layer: Layer,
    at: usize,
    width: usize,
    checksum: bool,
}

pub(crate) const fn field(layer: Layer, at: usize, width: usize) -> Field {
    Field {
        layer,
        at,
        width,
        checksum: false,
    }
}

pub(crate) const fn checksum_field(layer: Layer, at: usize) -> Field {
    Field {
        layer,
        at,
        width: 2,
        checksum: true,
    }
}

pub(crate) const ETHERNET_FIELDS: [Field; 4] = [
    field(Layer::Ethernet, 0, 6),
    field(Layer::Ethernet, 6, 6),
    field(Layer::Ethernet, 12, 2),
    // The 802.1Q TCI of a tagged frame, or the start of an untagged payload.
    field(Layer::Ethernet, 14, 2),
];

/// RFC 791 §3.1: version+IHL, TOS, total length, identification, flags and
/// fragment offset, TTL, protocol, checksum, source, destination.
pub(crate) const IPV4_FIELDS: [Field; 10] = [
    field(Layer::Network, 0, 1),
    field(Layer::Network, 1, 1),
    field(Layer::Network, 2, 2),
    field(Layer::Network, 4, 2),
    field(Layer::Network, 6, 2),
    field(Layer::Network, 8, 1),
    field(Layer::Network, 9, 1),
    checksum_field(Layer::Network, 10),
    field(Layer::Network, 12, 4),
    field(Layer::Network, 16, 4),
];

/// RFC 768: ports, length, checksum.
pub(crate) const UDP_FIELDS: [Field; 4] = [
    field(Layer::Transport, 0, 2),
    field(Layer::Transport, 2, 2),
    field(Layer::Transport, 4, 2),
    checksum_field(Layer::Transport, 6),
];

/// RFC 9293 §3.1: ports, sequence and acknowledgment numbers, data offset,
/// control bits, window, checksum, urgent pointer.
pub(crate) const TCP_FIELDS: [Field; 9] = [
    field(Layer::Transport, 0, 2),
    field(Layer::Transport, 2, 2),
    field(Layer::Transport, 4, 4),
    field(Layer::Transport, 8, 4),
    field(Layer::Transport, 12, 1),
    field(Layer::Transport, 13, 1),
    field(Layer::Transport, 14, 2),
    checksum_field(Layer::Transport, 16),
    field(Layer::Transport, 18, 2),
];

/// RFC 792: type, code, checksum, identifier, sequence number.
pub(crate) const ICMP_FIELDS: [Field; 5] = [
    field(Layer::Transport, 0, 1),
    field(Layer::Transport, 1, 1),
    checksum_field(Layer::Transport, 2),
    field(Layer::Transport, 4, 2),
    field(Layer::Transport, 6, 2),
];

/// RFC 826: hardware type, protocol type, hlen, plen, operation, sha, spa, tha, tpa.
pub(crate) const ARP_FIELDS: [Field; 9] = [
    field(Layer::Network, 0, 2),
    field(Layer::Network, 2, 2),
    field(Layer::Network, 4, 1),
    field(Layer::Network, 5, 1),
    field(Layer::Network, 6, 2),
    field(Layer::Network, 8, 6),
    field(Layer::Network, 14, 4),
    field(Layer::Network, 18, 6),
    field(Layer::Network, 24, 4),
];

/// The fields worth setting in `frame`, by what it carries.
pub(crate) fn fields_of(frame: &[u8]) -> Vec<Field> {
    let mut fields = ETHERNET_FIELDS.to_vec();
    match ethertype_of(frame) {
        Some(ETHERTYPE_ARP) => fields.extend_from_slice(&ARP_FIELDS),
        Some(ETHERTYPE_IPV4) => {
            fields.extend_from_slice(&IPV4_FIELDS);
            match frame.get(network_offset(frame) + 9) {
                Some(&PROTO_UDP) => fields.extend_from_slice(&UDP_FIELDS),
                Some(&PROTO_ICMP) => fields.extend_from_slice(&ICMP_FIELDS),
                Some(&PROTO_TCP) => fields.extend_from_slice(&TCP_FIELDS),
                _ => {}
            }
        }
        _ => {}
    }
    fields
}

/// A value at the edge of what `field` may hold in `frame`.
pub(crate) fn extreme_value(rng: &mut Rng, frame: &[u8], field: Field, start: usize) -> Vec<u8> {
    let pick = |rng: &mut Rng, n: usize| rng.below(n as u32) as usize;
    match field.width {
        1 => {
            const BYTES: [u8; 16] = [
                0, 1, 5, 6, 0x0f, 0x10, 0x40, 0x44, 0x45, 0x46, 0x4f, 0x5f, 0x7f, 0x80, 0xfe, 0xff,
            ];
            let value = match pick(rng, BYTES.len() + 2) {
                i if i < BYTES.len() => BYTES[i],
                _ => rng.next_u32() as u8,
            };
            vec![value]
        }
        2 => {
            // Lengths and types at the edges, and lengths around what the
            // frame really holds from this header on.
            const WORDS: [u16; 18] = [
                0, 1, 7, 8, 19, 20, 0x05dc, 0x0600, 0x0800, 0x0806, 0x8100, 0x86dd, 0x2000, 0x1fff,
                0x3fff, 0x7fff, 0x8000, 0xffff,
            ];
            let remaining = frame.len().saturating_sub(start) as u16;
            let near = [
                remaining.wrapping_sub(1),
                remaining,
                remaining.wrapping_add(1),
            ];
            let values = [&WORDS[..], &near[..], &[rng.next_u32() as u16]].concat();
            values[pick(rng, values.len())].to_be_bytes().to_vec()
        }
        4 if matches!(field.layer, Layer::Transport) => {
            // Sequence and acknowledgment numbers: around the segment's own,
            // half the number space away, and at the edges.
            let at = start + field.at;
            let current = frame
                .get(at..at + 4)
                .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            let values = [
                current.wrapping_add(1),
                current.wrapping_sub(1),
                current.wrapping_add(1 + rng.below(4096)),
                current.wrapping_sub(1 + rng.below(4096)),
                current.wrapping_add(65_536),
                current.wrapping_sub(65_536),
                current.wrapping_add(1 << 31),
                0,
                u32::MAX,
                rng.next_u32(),
            ];
            values[pick(rng, values.len())].to_be_bytes().to_vec()
        }
        4 => {
            let values = [
                Ipv4Addr::UNSPECIFIED,
                Ipv4Addr::BROADCAST,
                Ipv4Addr::LOCALHOST,
                ALL_HOSTS,
                Ipv4Addr::new(239, 1, 2, 3),
                Ipv4Addr::new(240, 0, 0, 1),
                OUR_IP,
                PEER_IP,
                SUBNET_BROADCAST,
                Ipv4Addr::new(10, 0, 0, 0),
                Ipv4Addr::new(10, 0, 0, 3),
                Ipv4Addr::from(rng.next_u32()),
            ];
            values[pick(rng, values.len())].octets().to_vec()
        }
        _ => {
            let mut random = [0u8; 6];
            rng.fill(&mut random);
            let values = [
                BROADCAST_MAC,
                OUR_MAC,
                PEER_MAC,
                OTHER_MAC,
                ALL_HOSTS_MAC,
                [0; 6],
                [0x03, 0, 0, 0, 0, 0x0a],
                random,
            ];
            values[pick(rng, values.len())].to_vec()
        }
    }
}

/// Sets one header field of `frame` to an extreme value; then, half the
/// time, re-signs the checksums so the mutation gets past them.
pub(crate) fn set_extreme_field(rng: &mut Rng, frame: &mut [u8]) {
    let fields = fields_of(frame);
    let field = fields[rng.below(fields.len() as u32) as usize];
    let start = match field.layer {
        Layer::Ethernet => 0,
        Layer::Network => network_offset(frame),
        Layer::Transport => match transport_offset(frame) {
            Some(offset) => offset,
            None => return,
        },
    };
    let value = extreme_value(rng, frame, field, start);
    let at = start + field.at;
    if let Some(bytes) = frame.get_mut(at..at + field.width) {
        bytes.copy_from_slice(&value);
    }
    if !field.checksum && rng.chance(500_000) {
        fix_checksums(frame);
    }
}

/// The mutation classes of the property test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Mutation {
    /// A few random bits flipped anywhere.
    BitFlips,
    /// A few bits flipped in the headers, then the checksums re-signed.
    HeaderBitFlipsResigned,
    /// One header field set to an extreme value.
    ExtremeField,
    /// Random bytes inserted somewhere.
    Insertion,
    /// A run of bytes removed.
    Deletion,
    /// The front of one seed joined to the back of another.
    Splice,
    /// Random bytes of random length.
    RandomBytes,
    /// A plausible Ethernet header in front of random bytes.
    RandomPayload,
}

pub(crate) const MUTATIONS: [Mutation; 8] = [
    Mutation::BitFlips,
    Mutation::HeaderBitFlipsResigned,
    Mutation::ExtremeField,
    Mutation::Insertion,
    Mutation::Deletion,
    Mutation::Splice,
    Mutation::RandomBytes,
    Mutation::RandomPayload,
];

pub(crate) fn flip_bits(rng: &mut Rng, frame: &mut [u8], within: usize) {
    let span = frame.len().min(within);
    if span == 0 {
        return;
    }
    for _ in 0..=rng.below(4) {
        let at = rng.below(span as u32) as usize;
        frame[at] ^= 1 << rng.below(8);
    }
}

/// Random bytes, fewer than `below` of them.
pub(crate) fn random_bytes(rng: &mut Rng, below: u32) -> Vec<u8> {
    let mut bytes = vec![0; rng.below(below) as usize];
    rng.fill(&mut bytes);
    bytes
}

/// Builds one mutated frame from the corpus.
pub(crate) fn mutate(rng: &mut Rng, corpus: &[Seed], mutation: Mutation) -> Vec<u8> {
    let pick_seed = |rng: &mut Rng| {
        corpus[rng.below(corpus.len() as u32) as usize]
            .frame
            .clone()
    };
    let mut frame = pick_seed(rng);
    match mutation {
        Mutation::BitFlips => flip_bits(rng, &mut frame, usize::MAX),
        Mutation::HeaderBitFlipsResigned => {
            flip_bits(rng, &mut frame, 64);
            fix_checksums(&mut frame);
        }
        Mutation::ExtremeField => {
            for _ in 0..=rng.below(2) {
                set_extreme_field(rng, &mut frame);
            }
        }
        Mutation::Insertion => {
            let at = rng.below(frame.len() as u32 + 1) as usize;
            let mut inserted = random_bytes(rng, 16);
            inserted.push(rng.next_u32() as u8);
            frame.splice(at..at, inserted);
            if rng.chance(500_000) {
                fix_checksums(&mut frame);
            }
        }
        Mutation::Deletion => {
            let at = rng.below(frame.len() as u32) as usize;
            let len = (1 + rng.below(16) as usize).min(frame.len() - at);
            frame.drain(at..at + len);
            if rng.chance(500_000) {
                fix_checksums(&mut frame);
            }
        }
        Mutation::Splice => {
            let other = pick_seed(rng);
            let cut = rng.below(frame.len() as u32) as usize;
            let from = rng.below(other.len() as u32) as usize;
            frame.truncate(cut);
            frame.extend_from_slice(&other[from..]);
        }
        Mutation::RandomBytes => {
            // Up to a little past the largest frame a pool buffer holds.
            frame = random_bytes(rng, 1600);
        }
        Mutation::RandomPayload => {
            let dst = [OUR_MAC, BROADCAST_MAC, ALL_HOSTS_MAC][rng.below(3) as usize];
            let ethertype = [ETHERTYPE_IPV4, ETHERTYPE_ARP, ETHERTYPE_VLAN][rng.below(3) as usize];
            let payload = random_bytes(rng, 200);
            frame = ethernet(dst, PEER_MAC, ethertype, &payload);
            if ethertype == ETHERTYPE_IPV4 && frame.len() > 14 {
                // Mostly a version-4 header, so IPv4 input looks further.
                frame[14] = 0x45;
                fix_checksums(&mut frame);
            }
        }
    }
    frame
}
