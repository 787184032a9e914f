//! The DNS message format ([RFC 1035 §4.1]): a view over received bytes and
//! a builder for the one message a stub resolver sends, a query.
//!
//! ```text
//!  0      2        4         6         8         10        12
//! | ID   | flags  | QDCOUNT | ANCOUNT | NSCOUNT | ARCOUNT | question, answer, authority, additional
//! ```
//! [`Message::new_checked`] only vouches for the 12-byte header: the sections
//! hold compressed names whose ends are found by reading them, so every
//! section accessor returns a `Result` and stops at the first byte that does
//! not fit.
//!
//! [RFC 1035 §4.1]: https://www.rfc-editor.org/rfc/rfc1035#section-4.1

use super::name::{Name, NameError};

/// A byte range within a message.
type Field = core::ops::Range<usize>;

mod field {
    use super::Field;

    /// Matches a response to its query (RFC 1035 §4.1.1).
    pub const ID: Field = 0..2;
    /// QR, Opcode, AA, TC, RD, RA, Z, RCODE.
    pub const FLAGS: Field = 2..4;
    pub const QDCOUNT: Field = 4..6;
    pub const ANCOUNT: Field = 6..8;
    pub const NSCOUNT: Field = 8..10;
    pub const ARCOUNT: Field = 10..12;
}

/// Flag bits of the second header word (RFC 1035 §4.1.1).
mod flag {
    /// Set in responses.
    pub const QR: u16 = 0x8000;
    pub const OPCODE_SHIFT: u16 = 11;
    pub const OPCODE_MASK: u16 = 0xf;
    /// Authoritative answer.
    pub const AA: u16 = 0x0400;
    /// TrunCation: the response did not fit the transport's limit.
    pub const TC: u16 = 0x0200;
    /// Recursion desired: a stub resolver always asks for it.
    pub const RD: u16 = 0x0100;
    /// Recursion available.
    pub const RA: u16 = 0x0080;
    pub const RCODE_MASK: u16 = 0xf;
}

/// The record types this resolver asks for or follows (RFC 1035 §3.2.2,
/// RFC 3596 §2.1).
pub mod rtype {
    pub const A: u16 = 1;
    pub const CNAME: u16 = 5;
    pub const AAAA: u16 = 28;
}

/// The Internet class (RFC 1035 §3.2.4).
pub const CLASS_IN: u16 = 1;
/// A standard query (RFC 1035 §4.1.1).
pub const OPCODE_QUERY: u8 = 0;

/// Response codes (RFC 1035 §4.1.1; RFC 6895 §2.3 for the registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Rcode {
    NoError,
    /// The server could not interpret the query.
    FormatError,
    /// The server failed to get an answer (e.g. its upstream timed out).
    ServerFailure,
    /// The name does not exist (authoritative "NXDOMAIN").
    NameError,
    NotImplemented,
    /// The server will not answer this client.
    Refused,
    /// Any other code, kept as received.
    Other(u8),
}

impl From<u8> for Rcode {
    fn from(value: u8) -> Self {
        match value {
            0 => Rcode::NoError,
            1 => Rcode::FormatError,
            2 => Rcode::ServerFailure,
            3 => Rcode::NameError,
            4 => Rcode::NotImplemented,
            5 => Rcode::Refused,
            other => Rcode::Other(other),
        }
    }
}

/// Bytes of the fixed header.
pub const HEADER_LEN: usize = field::ARCOUNT.end;
/// QTYPE and QCLASS after the question name (RFC 1035 §4.1.2).
const QUESTION_FIXED_LEN: usize = 4;
/// TYPE, CLASS, TTL and RDLENGTH after a record's owner name (RFC 1035 §4.1.3).
const RECORD_FIXED_LEN: usize = 10;

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let pair = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*pair.first()?, *pair.get(1)?]))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    let mut out = [0u8; 4];
    out.copy_from_slice(word);
    Some(u32::from_be_bytes(out))
}

/// Why a message was refused by the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MessageError {
    /// Shorter than the header, or a section runs past the end.
    Truncated,
    /// A name or record contradicts the format.
    Malformed,
}

impl From<NameError> for MessageError {
    fn from(_: NameError) -> Self {
        MessageError::Malformed
    }
}

/// A view of a DNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<T: AsRef<[u8]>> {
    buffer: T,
}

/// The question section's single entry (RFC 1035 §4.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: Name,
    pub qtype: u16,
    pub qclass: u16,
}

/// One resource record (RFC 1035 §4.1.3), with its data left in the message
/// because a CNAME's target may be compressed against earlier bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub owner: Name,
    pub rtype: u16,
    pub class: u16,
    /// Seconds; RFC 2181 §8 makes values with the top bit set mean zero.
    pub ttl: u32,
    /// Where RDATA lies in the message.
    pub rdata: Field,
}

impl<T: AsRef<[u8]>> Message<T> {
    /// Wraps `buffer` and checks that the header is there.
    pub fn new_checked(buffer: T) -> Result<Self, MessageError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(MessageError::Truncated);
        }
        Ok(Message { buffer })
    }

    fn header_u16(&self, field: Field) -> u16 {
        read_u16(self.buffer.as_ref(), field.start).unwrap_or(0)
    }

    pub fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn id(&self) -> u16 {
        self.header_u16(field::ID)
    }

    fn flags(&self) -> u16 {
        self.header_u16(field::FLAGS)
    }

    /// QR: a response rather than a query.
    pub fn is_response(&self) -> bool {
        self.flags() & flag::QR != 0
    }

    pub fn opcode(&self) -> u8 {
        ((self.flags() >> flag::OPCODE_SHIFT) & flag::OPCODE_MASK) as u8
    }

    pub fn authoritative(&self) -> bool {
        self.flags() & flag::AA != 0
    }

    /// TC: the server cut the response to fit a UDP datagram (RFC 1035
    /// §4.2.1); the whole answer is only available over TCP (RFC 7766 §5).
    pub fn truncated(&self) -> bool {
        self.flags() & flag::TC != 0
    }

    pub fn recursion_desired(&self) -> bool {
        self.flags() & flag::RD != 0
    }

    pub fn recursion_available(&self) -> bool {
        self.flags() & flag::RA != 0
    }

    pub fn rcode(&self) -> Rcode {
        Rcode::from((self.flags() & flag::RCODE_MASK) as u8)
    }

    pub fn question_count(&self) -> u16 {
        self.header_u16(field::QDCOUNT)
    }

    pub fn answer_count(&self) -> u16 {
        self.header_u16(field::ANCOUNT)
    }

    pub fn authority_count(&self) -> u16 {
        self.header_u16(field::NSCOUNT)
    }

    pub fn additional_count(&self) -> u16 {
        self.header_u16(field::ARCOUNT)
    }

    /// Reads the question at `at`; returns it and the offset after it.
    pub fn question_at(&self, at: usize) -> Result<(Question, usize), MessageError> {
        let bytes = self.bytes();
        let (name, after_name) = Name::read(bytes, at)?;
        let qtype = read_u16(bytes, after_name).ok_or(MessageError::Truncated)?;
        let qclass = read_u16(bytes, after_name + 2).ok_or(MessageError::Truncated)?;
        let question = Question {
            name,
            qtype,
            qclass,
        };
        Ok((question, after_name + QUESTION_FIXED_LEN))
    }

    /// Reads the record at `at`; returns it and the offset after its data.
    pub fn record_at(&self, at: usize) -> Result<(Record, usize), MessageError> {
        let bytes = self.bytes();
        let (owner, after_name) = Name::read(bytes, at)?;
        let rtype = read_u16(bytes, after_name).ok_or(MessageError::Truncated)?;
        let class = read_u16(bytes, after_name + 2).ok_or(MessageError::Truncated)?;
        let raw_ttl = read_u32(bytes, after_name + 4).ok_or(MessageError::Truncated)?;
        let rdlength = read_u16(bytes, after_name + 8).ok_or(MessageError::Truncated)?;
        let rdata_start = after_name + RECORD_FIXED_LEN;
        let rdata_end = rdata_start + usize::from(rdlength);
        if rdata_end > bytes.len() {
            return Err(MessageError::Truncated);
        }
        let ttl = if raw_ttl > i32::MAX as u32 {
            0
        } else {
            raw_ttl
        };
        let record = Record {
            owner,
            rtype,
            class,
            ttl,
            rdata: rdata_start..rdata_end,
        };
        Ok((record, rdata_end))
    }

    /// The answer records, after a question section of `question_count()`
    /// entries. Each item is a record or the error that ended the walk.
    pub fn answers(&self) -> Result<Records<'_>, MessageError> {
        let mut at = HEADER_LEN;
        for _ in 0..self.question_count() {
            at = self.question_at(at)?.1;
        }
        Ok(Records {
            message: Message {
                buffer: self.bytes(),
            },
            at,
            remaining: self.answer_count(),
        })
    }
}

/// Iterator over a section's records, from [`Message::answers`]. Stops after
/// the first error, which it yields.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    message: Message<&'a [u8]>,
    at: usize,
    remaining: u16,
}

impl Iterator for Records<'_> {
    type Item = Result<Record, MessageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        match self.message.record_at(self.at) {
            Ok((record, next)) => {
                self.remaining -= 1;
                self.at = next;
                Some(Ok(record))
            }
            Err(error) => {
                self.remaining = 0;
                Some(Err(error))
            }
        }
    }
}

/// The one message a stub resolver composes: a recursive query with a
/// single question (RFC 1035 §4.1; RFC 9619 allows only one).
#[derive(Debug, Clone, Copy)]
pub struct QueryBuilder<'a> {
    pub id: u16,
    pub name: &'a Name,
    pub qtype: u16,
}

impl QueryBuilder<'_> {
    /// Bytes [`emit`](Self::emit) writes.
    pub fn len(&self) -> usize {
        HEADER_LEN + self.name.as_wire().len() + QUESTION_FIXED_LEN
    }

    /// A query is never empty; here for symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the query into `buf`; `None` if it does not fit.
    pub fn emit(&self, buf: &mut [u8]) -> Option<usize> {
        let len = self.len();
        let out = buf.get_mut(..len)?;
        let name = self.name.as_wire();
        let (header, rest) = out.split_at_mut(HEADER_LEN);
        header.fill(0);
        header
            .get_mut(field::ID)?
            .copy_from_slice(&self.id.to_be_bytes());
        header
            .get_mut(field::FLAGS)?
            .copy_from_slice(&flag::RD.to_be_bytes());
        header
            .get_mut(field::QDCOUNT)?
            .copy_from_slice(&1u16.to_be_bytes());
        let (name_out, fixed) = rest.split_at_mut(name.len());
        name_out.copy_from_slice(name);
        fixed
            .get_mut(0..2)?
            .copy_from_slice(&self.qtype.to_be_bytes());
        fixed
            .get_mut(2..4)?
            .copy_from_slice(&CLASS_IN.to_be_bytes());
        Some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::captures::{A_RESPONSE, CNAME_RESPONSE};

    #[test]
    fn captured_cname_response_reads_back() {
        let msg = Message::new_checked(CNAME_RESPONSE).expect("header present");
        assert_eq!((msg.question_count(), msg.answer_count()), (1, 2));
        let mut answers = msg.answers().expect("answers");
        let cname = answers.next().expect("first").expect("valid");
        assert_eq!(
            cname.owner,
            Name::from_text("alias.iot.test").expect("name")
        );
        assert_eq!(
            (cname.rtype, cname.class, cname.ttl),
            (rtype::CNAME, CLASS_IN, 0)
        );
        let (target, end) = Name::read(CNAME_RESPONSE, cname.rdata.start).expect("target");
        assert_eq!(target, Name::from_text("broker.iot.test").expect("name"));
        assert_eq!(end, cname.rdata.end);
        let a = answers.next().expect("second").expect("valid");
        assert_eq!(a.owner, target);
        assert_eq!(&CNAME_RESPONSE[a.rdata], &[10, 1, 2, 3]);
        assert!(answers.next().is_none());
    }

    #[test]
    fn header_fields_read_back() {
        let msg = Message::new_checked(A_RESPONSE).expect("header present");
        assert_eq!(msg.id(), 0x1234);
        assert!(msg.is_response());
        assert_eq!(msg.opcode(), OPCODE_QUERY);
        assert!(msg.authoritative());
        assert!(!msg.truncated());
        assert!(msg.recursion_desired());
        assert!(msg.recursion_available());
        assert_eq!(msg.rcode(), Rcode::NoError);
        assert_eq!(msg.question_count(), 1);
        assert_eq!(msg.answer_count(), 1);
        assert_eq!(msg.authority_count(), 0);
        assert_eq!(msg.additional_count(), 0);
    }

    #[test]
    fn question_and_answer_read_back() {
        let msg = Message::new_checked(A_RESPONSE).expect("header present");
        let (question, after) = msg.question_at(HEADER_LEN).expect("question");
        assert_eq!(
            question.name,
            Name::from_text("broker.iot.test").expect("name")
        );
        assert_eq!((question.qtype, question.qclass), (rtype::A, CLASS_IN));
        assert_eq!(after, 33);
        let mut answers = msg.answers().expect("answers");
        let record = answers.next().expect("one").expect("valid");
        assert_eq!(record.owner, question.name);
        assert_eq!(
            (record.rtype, record.class, record.ttl),
            (rtype::A, CLASS_IN, 0)
        );
        assert_eq!(&A_RESPONSE[record.rdata], &[10, 1, 2, 3]);
        assert!(answers.next().is_none());
    }

    #[test]
    fn builder_writes_a_recursive_query() {
        let name = Name::from_text("broker.iot.test").expect("name");
        let query = QueryBuilder {
            id: 0x1234,
            name: &name,
            qtype: rtype::A,
        };
        let mut buf = [0xffu8; 64];
        let len = query.emit(&mut buf).expect("fits");
        assert_eq!(len, query.len());
        let mut expected = [0u8; 33];
        expected.copy_from_slice(&A_RESPONSE[..33]);
        expected[2] = 0x01; // RD only
        expected[3] = 0x00;
        expected[7] = 0x00; // no answers
        assert_eq!(&buf[..len], &expected);
        assert_eq!(query.emit(&mut buf[..len - 1]), None);
    }

    #[test]
    fn truncated_input_is_refused_not_panicked_on() {
        for len in 0..A_RESPONSE.len() {
            let Ok(msg) = Message::new_checked(&A_RESPONSE[..len]) else {
                assert!(len < HEADER_LEN);
                continue;
            };
            let answers: Result<(), MessageError> = msg
                .answers()
                .and_then(|mut records| records.try_for_each(|r| r.map(|_| ())));
            assert!(answers.is_err(), "{len}");
        }
    }

    #[test]
    fn ttl_with_top_bit_set_reads_as_zero() {
        let mut bytes = [0u8; A_RESPONSE.len()];
        bytes.copy_from_slice(A_RESPONSE);
        bytes[39..43].copy_from_slice(&0x8000_0001u32.to_be_bytes());
        let msg = Message::new_checked(&bytes[..]).expect("header present");
        let record = msg
            .answers()
            .expect("answers")
            .next()
            .expect("one")
            .expect("valid");
        assert_eq!(record.ttl, 0);
    }
}
