//! An authoritative DNS server for a handful of host names ([RFC 1035
//! §4]), sans-IO: a query datagram in, the response datagram out.
//!
//! It is the only name server of the emulated network and holds every name
//! there is: a configured name gets its A records, any other name NXDOMAIN
//! ([RFC 1035 §4.1.1], RCODE 3), a configured name asked for another type
//! (AAAA, MX, ...) an empty NOERROR ("NODATA", [RFC 2308 §2.2]). Names
//! compare case-insensitively and the question is echoed as sent ([RFC
//! 4343]). No recursion (RA clear), no TCP, no EDNS: a response never
//! exceeds the 512 bytes of a plain UDP message ([RFC 1035 §4.2.1]) and
//! sets TC if its answers would.
//!
//! The message view and names are the resolver's own
//! ([`duet_netstack::dns::message`], [`duet_netstack::dns::name`]).
//!
//! [RFC 1035 §4]: https://www.rfc-editor.org/rfc/rfc1035#section-4
//! [RFC 1035 §4.1.1]: https://www.rfc-editor.org/rfc/rfc1035#section-4.1.1
//! [RFC 1035 §4.2.1]: https://www.rfc-editor.org/rfc/rfc1035#section-4.2.1
//! [RFC 2308 §2.2]: https://www.rfc-editor.org/rfc/rfc2308#section-2.2
//! [RFC 4343]: https://www.rfc-editor.org/rfc/rfc4343

use core::fmt;
use core::net::Ipv4Addr;

use duet_netstack::dns::message::{CLASS_IN, HEADER_LEN, Message, OPCODE_QUERY, rtype};
use duet_netstack::dns::{Name, Rcode};

use super::ConfigError;

/// The largest UDP response without EDNS (RFC 1035 §4.2.1).
pub const MAX_UDP_RESPONSE: usize = 512;

/// Header flag bits (RFC 1035 §4.1.1).
mod flag {
    pub const QR: u16 = 0x8000;
    pub const OPCODE_SHIFT: u16 = 11;
    pub const AA: u16 = 0x0400;
    pub const TC: u16 = 0x0200;
    pub const RD: u16 = 0x0100;
}

/// QTYPE and QCLASS "*" (RFC 1035 §3.2.3, §3.2.5).
const QTYPE_ANY: u16 = 255;
const QCLASS_ANY: u16 = 255;

/// An answer's owner: a pointer to the question's name at offset 12
/// (RFC 1035 §4.1.4).
const NAME_POINTER: [u8; 2] = [0xc0, HEADER_LEN as u8];
/// An A record after its owner: TYPE, CLASS, TTL, RDLENGTH, RDATA.
const A_RECORD_LEN: usize = NAME_POINTER.len() + 10 + 4;

/// Why a datagram got no response at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsServerError {
    /// Shorter than the 12-byte header: there is no ID to answer.
    Truncated,
    /// QR set: a response, never answered (answering could loop).
    NotAQuery,
    /// The output buffer cannot hold the response's header and question.
    BufferTooSmall,
}

impl fmt::Display for DnsServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DnsServerError::Truncated => "DNS message shorter than its header",
            DnsServerError::NotAQuery => "DNS message is a response",
            DnsServerError::BufferTooSmall => "buffer too small for the DNS response",
        })
    }
}

impl core::error::Error for DnsServerError {}

/// Counters, by response code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DnsServerStats {
    /// NOERROR with at least one address.
    pub answered: u32,
    /// NOERROR without addresses (NODATA).
    pub no_data: u32,
    /// NXDOMAIN.
    pub name_errors: u32,
    /// FORMERR, NOTIMP or REFUSED.
    pub refused: u32,
    /// Datagrams left unanswered, for any [`DnsServerError`].
    pub dropped: u32,
}

/// The name server.
#[derive(Debug, Clone)]
pub struct DnsServer {
    hosts: Vec<(Name, Ipv4Addr)>,
    ttl_secs: u32,
    stats: DnsServerStats,
}

impl DnsServer {
    /// A server for `hosts` (a name may appear more than once: one A record
    /// each), answering with `ttl_secs`.
    pub fn new(hosts: &[(&str, Ipv4Addr)], ttl_secs: u32) -> Result<Self, ConfigError> {
        let hosts = hosts
            .iter()
            .map(|(name, address)| Ok((Name::from_text(name)?, *address)))
            .collect::<Result<_, duet_netstack::dns::name::NameError>>()
            .map_err(|_| ConfigError::InvalidHostName)?;
        Ok(DnsServer {
            hosts,
            // RFC 2181 §8: the top bit must be clear.
            ttl_secs: ttl_secs.min(i32::MAX as u32),
            stats: DnsServerStats::default(),
        })
    }

    pub fn stats(&self) -> &DnsServerStats {
        &self.stats
    }

    /// Answers `query`: the response's length in `out` (which needs
    /// [`MAX_UDP_RESPONSE`] bytes to hold every answer), or why there is
    /// none. Malformed queries that carry an ID get a FORMERR response.
    pub fn answer(&mut self, query: &[u8], out: &mut [u8]) -> Result<usize, DnsServerError> {
        let result = self.respond(query, out);
        let counter = match result {
            Ok((_, Rcode::NoError, 0)) => &mut self.stats.no_data,
            Ok((_, Rcode::NoError, _)) => &mut self.stats.answered,
            Ok((_, Rcode::NameError, _)) => &mut self.stats.name_errors,
            Ok(_) => &mut self.stats.refused,
            Err(_) => &mut self.stats.dropped,
        };
        *counter = counter.wrapping_add(1);
        result.map(|(len, _, _)| len)
    }

    /// The response: its length, code and number of answers.
    fn respond(&self, query: &[u8], out: &mut [u8]) -> Result<(usize, Rcode, u16), DnsServerError> {
        let message = Message::new_checked(query).map_err(|_| DnsServerError::Truncated)?;
        if message.is_response() {
            return Err(DnsServerError::NotAQuery);
        }
        let mut response = Response::start(&message, out)?;
        if message.opcode() != OPCODE_QUERY {
            return response.finish(Rcode::NotImplemented);
        }
        // RFC 9619: a query holds exactly one question.
        let question = match message.question_at(HEADER_LEN) {
            Ok((question, end)) if message.question_count() == 1 => {
                response.echo_question(&query[HEADER_LEN..end])?;
                question
            }
            _ => return response.finish(Rcode::FormatError),
        };
        if question.qclass != CLASS_IN && question.qclass != QCLASS_ANY {
            return response.finish(Rcode::Refused);
        }
        let mut records = self
            .hosts
            .iter()
            .filter(|(name, _)| name.eq_ignore_case(&question.name))
            .peekable();
        if records.peek().is_none() {
            return response.finish(Rcode::NameError);
        }
        if matches!(question.qtype, rtype::A | QTYPE_ANY) {
            for (_, address) in records {
                if response.answer_a(*address, self.ttl_secs).is_none() {
                    // The rest would not fit 512 bytes (RFC 1035 §4.2.1).
                    response.flags |= flag::TC;
                    break;
                }
            }
        }
        response.finish(Rcode::NoError)
    }
}

/// A response being written into the caller's buffer.
struct Response<'o> {
    out: &'o mut [u8],
    len: usize,
    flags: u16,
    questions: u16,
    answers: u16,
}

impl<'o> Response<'o> {
    /// The header of the response to `query` (RFC 1035 §4.1.1): its ID,
    /// QR and AA set, opcode and RD copied.
    fn start<T: AsRef<[u8]>>(
        query: &Message<T>,
        out: &'o mut [u8],
    ) -> Result<Self, DnsServerError> {
        let limit = out.len().min(MAX_UDP_RESPONSE);
        let out = &mut out[..limit];
        let header = out
            .get_mut(..HEADER_LEN)
            .ok_or(DnsServerError::BufferTooSmall)?;
        header.fill(0);
        header[..2].copy_from_slice(&query.id().to_be_bytes());
        let rd = if query.recursion_desired() {
            flag::RD
        } else {
            0
        };
        let opcode = u16::from(query.opcode() & 0xf) << flag::OPCODE_SHIFT;
        Ok(Response {
            out,
            len: HEADER_LEN,
            flags: flag::QR | flag::AA | opcode | rd,
            questions: 0,
            answers: 0,
        })
    }

    /// Appends `bytes`; `None` if they do not fit.
    fn push(&mut self, bytes: &[u8]) -> Option<()> {
        let end = self.len + bytes.len();
        self.out.get_mut(self.len..end)?.copy_from_slice(bytes);
        self.len = end;
        Some(())
    }

    /// The question, byte for byte as the client sent it.
    fn echo_question(&mut self, question: &[u8]) -> Result<(), DnsServerError> {
        self.push(question).ok_or(DnsServerError::BufferTooSmall)?;
        self.questions = 1;
        Ok(())
    }

    /// One A record for the question's name (RFC 1035 §3.4.1).
    fn answer_a(&mut self, address: Ipv4Addr, ttl_secs: u32) -> Option<()> {
        let mut record = [0u8; A_RECORD_LEN];
        record[..2].copy_from_slice(&NAME_POINTER);
        record[2..4].copy_from_slice(&rtype::A.to_be_bytes());
        record[4..6].copy_from_slice(&CLASS_IN.to_be_bytes());
        record[6..10].copy_from_slice(&ttl_secs.to_be_bytes());
        record[10..12].copy_from_slice(&4u16.to_be_bytes());
        record[12..].copy_from_slice(&address.octets());
        self.push(&record)?;
        self.answers += 1;
        Some(())
    }

    /// Fills in the flags with `rcode` and the section counts.
    fn finish(self, rcode: Rcode) -> Result<(usize, Rcode, u16), DnsServerError> {
        let flags = self.flags | u16::from(rcode_bits(rcode));
        let header = &mut self.out[..HEADER_LEN];
        header[2..4].copy_from_slice(&flags.to_be_bytes());
        header[4..6].copy_from_slice(&self.questions.to_be_bytes());
        header[6..8].copy_from_slice(&self.answers.to_be_bytes());
        Ok((self.len, rcode, self.answers))
    }
}

/// The 4-bit RCODE of `rcode` (RFC 1035 §4.1.1).
fn rcode_bits(rcode: Rcode) -> u8 {
    match rcode {
        Rcode::NoError => 0,
        Rcode::FormatError => 1,
        Rcode::ServerFailure => 2,
        Rcode::NameError => 3,
        Rcode::NotImplemented => 4,
        Rcode::Refused => 5,
        Rcode::Other(code) => code & 0xf,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_netstack::dns::message::QueryBuilder;

    const HUB: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 1);
    const SPARE: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 2);

    fn server() -> DnsServer {
        DnsServer::new(
            &[
                ("hub.azure-devices.test", HUB),
                ("global.azure-devices-provisioning.test", HUB),
                ("pair.test", HUB),
                ("pair.test", SPARE),
            ],
            60,
        )
        .unwrap()
    }

    /// A query as Duet's resolver sends it.
    fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let name = Name::from_text(name).unwrap();
        let mut buf = [0u8; 300];
        let len = QueryBuilder {
            id,
            name: &name,
            qtype,
        }
        .emit(&mut buf)
        .unwrap();
        buf[..len].to_vec()
    }

    fn respond(server: &mut DnsServer, query: &[u8]) -> Result<Vec<u8>, DnsServerError> {
        let mut out = [0u8; MAX_UDP_RESPONSE];
        let len = server.answer(query, &mut out)?;
        Ok(out[..len].to_vec())
    }

    /// The A addresses of a response, in order.
    fn addresses(response: &[u8]) -> Vec<Ipv4Addr> {
        let message = Message::new_checked(response).unwrap();
        message
            .answers()
            .unwrap()
            .map(|record| {
                let record = record.unwrap();
                assert_eq!(
                    (record.rtype, record.class, record.ttl),
                    (rtype::A, CLASS_IN, 60)
                );
                let rdata: [u8; 4] = response[record.rdata].try_into().unwrap();
                Ipv4Addr::from(rdata)
            })
            .collect()
    }

    #[test]
    fn a_query_for_a_known_name_gets_its_address_authoritatively() {
        let mut server = server();
        let q = query(0x1234, "hub.azure-devices.test", rtype::A);
        let response = respond(&mut server, &q).unwrap();
        let message = Message::new_checked(&response[..]).unwrap();
        assert_eq!(message.id(), 0x1234);
        assert!(message.is_response());
        assert_eq!(message.opcode(), OPCODE_QUERY);
        assert!(message.authoritative());
        assert!(!message.truncated());
        assert!(message.recursion_desired(), "RD copied");
        assert!(!message.recursion_available());
        assert_eq!(message.rcode(), Rcode::NoError);
        assert_eq!((message.question_count(), message.answer_count()), (1, 1));
        assert_eq!(
            (message.authority_count(), message.additional_count()),
            (0, 0)
        );
        assert_eq!(
            &response[HEADER_LEN..q.len()],
            &q[HEADER_LEN..],
            "question echoed"
        );
        assert_eq!(addresses(&response), [HUB]);
        assert_eq!(response.len(), q.len() + A_RECORD_LEN);
        assert_eq!(server.stats().answered, 1);
    }

    #[test]
    fn names_match_without_case_and_the_question_keeps_its_case() {
        let mut server = server();
        let q = query(7, "GLOBAL.Azure-Devices-Provisioning.TEST", rtype::A);
        let response = respond(&mut server, &q).unwrap();
        assert_eq!(&response[HEADER_LEN..q.len()], &q[HEADER_LEN..]);
        assert_eq!(addresses(&response), [HUB]);
        // A name with two records gets both, in order; ANY gets them too.
        let response = respond(&mut server, &query(8, "pair.test", QTYPE_ANY)).unwrap();
        assert_eq!(addresses(&response), [HUB, SPARE]);
    }

    #[test]
    fn an_unknown_name_is_nxdomain_with_the_question_echoed() {
        let mut server = server();
        let q = query(9, "nowhere.azure-devices.test", rtype::A);
        let response = respond(&mut server, &q).unwrap();
        let message = Message::new_checked(&response[..]).unwrap();
        assert_eq!(message.rcode(), Rcode::NameError);
        assert!(message.authoritative());
        assert_eq!((message.question_count(), message.answer_count()), (1, 0));
        assert_eq!(
            response,
            [&response[..HEADER_LEN], &q[HEADER_LEN..]].concat()
        );
        assert_eq!(server.stats().name_errors, 1);
    }

    #[test]
    fn other_types_of_a_known_name_get_an_empty_noerror() {
        let mut server = server();
        for qtype in [rtype::AAAA, rtype::CNAME, 15] {
            let response =
                respond(&mut server, &query(10, "hub.azure-devices.test", qtype)).unwrap();
            let message = Message::new_checked(&response[..]).unwrap();
            assert_eq!(message.rcode(), Rcode::NoError);
            assert_eq!((message.question_count(), message.answer_count()), (1, 0));
        }
        assert_eq!(server.stats().no_data, 3);
    }

    /// The rcode and question count of the response to `query`.
    fn verdict(server: &mut DnsServer, query: &[u8]) -> (Rcode, u16) {
        let response = respond(server, query).unwrap();
        let message = Message::new_checked(&response[..]).unwrap();
        assert_eq!(message.id(), u16::from_be_bytes([query[0], query[1]]));
        (message.rcode(), message.question_count())
    }

    #[test]
    fn malformed_queries_get_formerr_and_others_notimp_or_refused() {
        let mut server = server();
        let good = query(11, "hub.azure-devices.test", rtype::A);
        // No question, two questions, a question cut short, a name whose
        // compression pointer points forwards.
        let mut none = good[..HEADER_LEN].to_vec();
        none[5] = 0;
        let mut two = good.clone();
        two[5] = 2;
        let cut = good[..good.len() - 2].to_vec();
        let mut forward = good[..HEADER_LEN].to_vec();
        forward.extend_from_slice(&[0xc0, 20, 0, 1, 0, 1]);
        for bad in [&none, &two, &cut, &forward] {
            assert_eq!(verdict(&mut server, bad), (Rcode::FormatError, 0));
        }
        // An inverse query (opcode 1), a status request (opcode 2).
        for opcode in [1u8, 2] {
            let mut other = good.clone();
            other[2] = (other[2] & 0x87) | (opcode << 3);
            assert_eq!(verdict(&mut server, &other), (Rcode::NotImplemented, 0));
            let message = Message::new_checked(respond(&mut server, &other).unwrap()).unwrap();
            assert_eq!(message.opcode(), opcode);
        }
        // Class CHAOS.
        let mut chaos = good.clone();
        let at = chaos.len() - 1;
        chaos[at] = 3;
        assert_eq!(verdict(&mut server, &chaos), (Rcode::Refused, 1));
        assert_eq!(server.stats().refused, 9);
    }

    #[test]
    fn responses_headerless_datagrams_and_small_buffers_get_nothing() {
        let mut server = server();
        let good = query(12, "hub.azure-devices.test", rtype::A);
        for len in 0..HEADER_LEN {
            assert_eq!(
                respond(&mut server, &good[..len]),
                Err(DnsServerError::Truncated)
            );
        }
        let response = respond(&mut server, &good).unwrap();
        assert_eq!(
            respond(&mut server, &response),
            Err(DnsServerError::NotAQuery)
        );
        let mut small = [0u8; 20];
        assert_eq!(
            server.answer(&good, &mut small),
            Err(DnsServerError::BufferTooSmall)
        );
        assert_eq!(server.stats().dropped, HEADER_LEN as u32 + 2);
    }

    #[test]
    fn answers_that_do_not_fit_512_bytes_set_tc() {
        let many: Vec<(&str, Ipv4Addr)> = (0..40u8)
            .map(|i| ("many.test", Ipv4Addr::new(10, 0, 0, i)))
            .collect();
        let mut server = DnsServer::new(&many, 5).unwrap();
        let response = respond(&mut server, &query(13, "many.test", rtype::A)).unwrap();
        let message = Message::new_checked(&response[..]).unwrap();
        assert!(message.truncated());
        assert!(response.len() <= MAX_UDP_RESPONSE);
        assert_eq!(
            usize::from(message.answer_count()),
            (MAX_UDP_RESPONSE - 27) / A_RECORD_LEN
        );
    }

    #[test]
    fn invalid_host_names_are_refused_at_configuration() {
        for bad in ["", "under_score.test", "-dash.test", "a..b"] {
            assert_eq!(
                DnsServer::new(&[(bad, HUB)], 60).err(),
                Some(ConfigError::InvalidHostName),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut server = server();
        let mut bytes = query(14, "global.azure-devices-provisioning.test", rtype::A);
        let mut out = [0u8; MAX_UDP_RESPONSE];
        let mut x = 0x9e37_79b9_u32;
        for round in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let at = x as usize % bytes.len();
            bytes[at] = (x >> 8) as u8;
            let len = if round % 3 == 0 {
                (x >> 16) as usize % bytes.len()
            } else {
                bytes.len()
            };
            let _ = server.answer(&bytes[..len], &mut out);
        }
    }
}
