//! A DNS stub resolver ([RFC 1035 §7], AAAA per [RFC 3596]), sans-IO.
//!
//! A device needs a handful of addresses (its broker, its time server) from
//! the recursive servers DHCP gave it. [`Resolver`] asks for them the way
//! quinn-proto drives a connection: it never touches a socket or a clock.
//! The caller owns the UDP socket and feeds the resolver through the same
//! verbs every Duet engine uses:
//!
//! - [`Resolver::start_query`] asks for a name's A or AAAA records;
//! - [`Resolver::poll_transmit`] hands out the next query datagram, with the
//!   server to send it to and the random source port to send it from;
//! - [`Resolver::handle_datagram`] feeds a received datagram back;
//! - [`Resolver::poll_timeout`] / [`Resolver::handle_timeout`] drive
//!   retransmission and failover to the next server;
//! - [`Resolver::poll_event`] yields the outcome: an [`Answer`], a typed
//!   [`DnsError`], or a request to repeat the query over TCP
//!   ([`Resolver::encode_tcp_query`], [`Resolver::handle_tcp_response`]).
//!
//! An off-path attacker who guesses a query's ID and port can plant an
//! address, so every query takes a fresh random 16-bit ID and a random
//! source port ([RFC 5452 §9.2]), and a response is only believed when it
//! comes from the server asked, to the port used, with the ID sent and the
//! very question echoed ([RFC 5452 §9.1]). Everything else is dropped and
//! counted in [`DnsStats`]; the query keeps waiting for the real answer.
//!
//! The modules follow the RFC's seams: [`name`] (labels and compression),
//! [`message`] (the message format), [`cache`] (TTL cache), `resolver` (the
//! state machine).
//!
//! [RFC 1035 §7]: https://www.rfc-editor.org/rfc/rfc1035#section-7
//! [RFC 3596]: https://www.rfc-editor.org/rfc/rfc3596
//! [RFC 5452 §9.1]: https://www.rfc-editor.org/rfc/rfc5452#section-9.1
//! [RFC 5452 §9.2]: https://www.rfc-editor.org/rfc/rfc5452#section-9.2

pub mod cache;
#[cfg(test)]
mod captures;
pub mod message;
pub mod name;
mod on_stack;
mod resolver;

pub use message::Rcode;
pub use name::Name;
pub use on_stack::{ResolverSocket, run_on_stack};
pub use resolver::{Config, Resolver, Transmit};

use core::fmt;
use core::net::IpAddr;

use crate::endpoint::IpEndpoint;

/// The port DNS servers listen on (RFC 1035 §4.2).
pub const DNS_PORT: u16 = 53;
/// Addresses kept from one answer: enough to try a few, small enough to
/// keep in every cache entry.
pub const MAX_ADDRESSES: usize = 4;
/// CNAME records followed from the name asked for to the name holding the
/// addresses. Real chains are one or two long; a longer one is a loop.
pub const MAX_CNAME_DEPTH: usize = 8;

/// The address record asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RecordKind {
    /// An IPv4 address (RFC 1035 §3.4.1).
    A,
    /// An IPv6 address (RFC 3596 §2).
    Aaaa,
}

impl RecordKind {
    /// The TYPE/QTYPE value on the wire.
    pub const fn rtype(self) -> u16 {
        match self {
            RecordKind::A => message::rtype::A,
            RecordKind::Aaaa => message::rtype::AAAA,
        }
    }

    /// The RDATA length of one record of this kind.
    const fn rdata_len(self) -> usize {
        match self {
            RecordKind::A => 4,
            RecordKind::Aaaa => 16,
        }
    }
}

/// Names one query for its whole life, from `start_query` to its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QueryId(pub u16);

/// The addresses a name resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    kind: RecordKind,
    addresses: [IpAddr; MAX_ADDRESSES],
    count: u8,
    /// Seconds the answer may be used: the smallest TTL along the CNAME
    /// chain and the address records (RFC 2181 §5.2, §8).
    pub ttl_secs: u32,
}

impl Answer {
    /// An answer with no addresses yet.
    pub const fn new(kind: RecordKind) -> Self {
        Answer {
            kind,
            addresses: [IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED); MAX_ADDRESSES],
            count: 0,
            ttl_secs: 0,
        }
    }

    pub fn kind(&self) -> RecordKind {
        self.kind
    }

    /// The addresses, in the order the server gave them.
    pub fn addresses(&self) -> &[IpAddr] {
        self.addresses.get(..usize::from(self.count)).unwrap_or(&[])
    }

    /// Adds an address; false (and nothing kept) once [`MAX_ADDRESSES`] are held.
    pub fn push(&mut self, address: IpAddr) -> bool {
        let Some(slot) = self.addresses.get_mut(usize::from(self.count)) else {
            return false;
        };
        *slot = address;
        self.count += 1;
        true
    }
}

/// What a query ended with, or what it needs from the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The name resolved.
    Resolved { id: QueryId, answer: Answer },
    /// The query ended without addresses.
    Failed { id: QueryId, error: DnsError },
    /// The server set TC: the answer did not fit a datagram (RFC 1035
    /// §4.2.1). Connect to `server` over TCP, send
    /// [`Resolver::encode_tcp_query`], feed the reply to
    /// [`Resolver::handle_tcp_response`] (RFC 7766 §5), or
    /// [`Resolver::cancel`] the query.
    Truncated { id: QueryId, server: IpEndpoint },
}

/// Why a call was refused, a datagram dropped, or a query failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DnsError {
    /// The name is not a host name (labels 1..63 letters, digits and inner
    /// hyphens, at most 253 bytes).
    InvalidName,
    /// No server is configured.
    NoServers,
    /// More servers than the resolver has room for.
    TooManyServers,
    /// Every query slot is in use.
    Busy,
    /// No live query has this id, or it is not waiting for what was fed.
    UnknownQuery,
    /// The caller's buffer cannot hold the message.
    BufferTooSmall,
    /// No query is waiting on the datagram's destination port.
    UnexpectedPort,
    /// The datagram did not come from the server the query went to.
    UnexpectedSource,
    /// The message ID is not the query's (RFC 5452 §9.1).
    WrongId,
    /// QR is clear: a query, not a response.
    NotAResponse,
    /// The opcode is not a standard query.
    UnexpectedOpcode,
    /// The question section is not the query's single question.
    QuestionMismatch,
    /// The message is cut short, a name is malformed (bad compression
    /// pointer, over 255 bytes), a record is inconsistent, or the CNAME chain
    /// is longer than [`MAX_CNAME_DEPTH`].
    Malformed,
    /// TC set where it cannot be honoured (a response over TCP).
    Truncated,
    /// The name does not exist (RCODE 3, NXDOMAIN).
    NameNotFound,
    /// The name exists but has no record of the kind asked for (NODATA,
    /// RFC 2308 §2.2).
    NoAddresses,
    /// The last server tried answered with this error code (SERVFAIL,
    /// REFUSED, ...), and no server is left to try.
    ServerFailure(Rcode),
    /// No server answered in time.
    Timeout,
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::InvalidName => f.write_str("invalid host name"),
            DnsError::NoServers => f.write_str("no DNS server configured"),
            DnsError::TooManyServers => f.write_str("too many DNS servers"),
            DnsError::Busy => f.write_str("no free query slot"),
            DnsError::UnknownQuery => f.write_str("no such query"),
            DnsError::BufferTooSmall => f.write_str("buffer too small"),
            DnsError::UnexpectedPort => f.write_str("no query on that port"),
            DnsError::UnexpectedSource => f.write_str("response from a server not asked"),
            DnsError::WrongId => f.write_str("response ID does not match"),
            DnsError::NotAResponse => f.write_str("message is not a response"),
            DnsError::UnexpectedOpcode => f.write_str("unexpected opcode"),
            DnsError::QuestionMismatch => f.write_str("question does not match"),
            DnsError::Malformed => f.write_str("malformed DNS message"),
            DnsError::Truncated => f.write_str("truncated response"),
            DnsError::NameNotFound => f.write_str("name does not exist"),
            DnsError::NoAddresses => f.write_str("name has no address of that kind"),
            DnsError::ServerFailure(rcode) => write!(f, "server failure ({rcode:?})"),
            DnsError::Timeout => f.write_str("no DNS server answered"),
        }
    }
}

impl core::error::Error for DnsError {}

/// Counters of what the resolver sent, and of every datagram it dropped,
/// by reason: a rising `wrong_id` or `unexpected_source` is what a spoofing
/// attempt looks like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DnsStats {
    /// Query datagrams handed out by `poll_transmit`.
    pub queries_sent: u32,
    /// Queries handed out for TCP.
    pub tcp_queries: u32,
    /// Queries answered from the cache.
    pub cache_hits: u32,
    /// Queries that resolved.
    pub answers: u32,
    /// Attempts that timed out.
    pub timeouts: u32,
    /// Responses with SERVFAIL, REFUSED or another error code.
    pub server_failures: u32,
    /// Responses with TC set.
    pub truncated: u32,
    /// Dropped: no query on the destination port.
    pub unexpected_port: u32,
    /// Dropped: not from the server asked.
    pub unexpected_source: u32,
    /// Dropped: ID mismatch.
    pub wrong_id: u32,
    /// Dropped: a query, not a response.
    pub not_response: u32,
    /// Dropped: an opcode other than QUERY.
    pub unexpected_opcode: u32,
    /// Dropped: a different question.
    pub question_mismatch: u32,
    /// Dropped: malformed or inconsistent.
    pub malformed: u32,
}
