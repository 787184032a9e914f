//! The stub resolver's state machine ([RFC 1035 §7], [RFC 1123 §6.1.3]).
//!
//! Each query lives in one of `QUERIES` slots and moves through: *unsent*
//! (waiting for `poll_transmit`), *awaiting a datagram* until its deadline,
//! possibly *awaiting TCP* after a truncated response, and *done* until
//! `poll_event` hands out the outcome and frees the slot.
//!
//! Retransmission follows RFC 1123 §6.1.3.3: the first attempt waits
//! [`Config::first_timeout`], each later one twice as long up to
//! [`Config::max_timeout`], and every retry goes to the next server in the
//! list, so a dead first server costs one short timeout. After
//! [`Config::rounds`] passes over all servers (and at least
//! [`Config::min_attempts`] attempts) the query fails. SERVFAIL and
//! REFUSED also move on to the next server at once: another recursive
//! server may well succeed (RFC 1035 §7.3, RFC 9520 §3).
//!
//! [RFC 1035 §7]: https://www.rfc-editor.org/rfc/rfc1035#section-7
//! [RFC 1123 §6.1.3]: https://www.rfc-editor.org/rfc/rfc1123#section-6.1.3

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::cache::Cache;
use super::message::{self, CLASS_IN, Message, OPCODE_QUERY, QueryBuilder, Rcode};
use super::name::Name;
use super::{Answer, DnsError, DnsStats, Event, MAX_CNAME_DEPTH, QueryId, RecordKind};
use crate::endpoint::IpEndpoint;
use crate::rand::Rng;
use crate::time::{Duration, Instant};

/// Ephemeral source ports are drawn from the dynamic range 49152..=65535
/// (RFC 6335 §6), the range RFC 5452 §10 and most stacks use.
const EPHEMERAL_PORT_FIRST: u16 = 49152;
const EPHEMERAL_PORT_COUNT: u32 = 16384;
/// The 2-byte length that frames a DNS message on TCP (RFC 1035 §4.2.2).
const TCP_LENGTH_PREFIX: usize = 2;

/// Timing and retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Wait for the first attempt. RFC 1123 §6.1.3.3 asks for an estimate
    /// of the round trip; one second covers any sane path to a recursive
    /// server.
    pub first_timeout: Duration,
    /// Ceiling for the doubling wait.
    pub max_timeout: Duration,
    /// Passes over the whole server list before giving up.
    pub rounds: u8,
    /// Attempts a lookup gets however few servers there are. With the one
    /// server DHCP usually hands out, `rounds` alone would allow two, and
    /// two lost datagrams on a lossy link would end the lookup; with
    /// several servers, `rounds` passes already give more.
    pub min_attempts: u8,
    /// How long the caller's TCP retry may take after a truncated response.
    pub tcp_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            first_timeout: Duration::from_secs(1),
            max_timeout: Duration::from_secs(8),
            rounds: 2,
            min_attempts: 3,
            tcp_timeout: Duration::from_secs(10),
        }
    }
}

/// A query datagram to send, written by [`Resolver::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub server: IpEndpoint,
    /// The UDP port to send it from; the response must arrive on it.
    pub source_port: u16,
    /// Bytes written at the start of the buffer.
    pub len: usize,
}

#[derive(Debug, Clone)]
enum QueryState {
    Unsent,
    AwaitingDatagram { deadline: Instant },
    AwaitingTcp { deadline: Instant, reported: bool },
    Done(Result<Answer, DnsError>),
}

#[derive(Debug, Clone)]
struct Query {
    id: QueryId,
    name: Name,
    kind: RecordKind,
    /// Attempts begun so far, the current one included.
    attempts: u8,
    transaction_id: u16,
    source_port: u16,
    server: IpEndpoint,
    /// What the query fails with if no attempt is left.
    last_failure: DnsError,
    state: QueryState,
}

/// What a response that passed the anti-spoofing checks says.
enum Outcome {
    Resolved(Answer),
    NameNotFound,
    NoAddresses,
    Truncated,
    ServerFailure(Rcode),
}

/// A stub resolver with up to `SERVERS` servers, `CACHE` cached answers and
/// `QUERIES` queries in flight.
#[derive(Debug, Clone)]
pub struct Resolver<const SERVERS: usize, const CACHE: usize, const QUERIES: usize = 1> {
    config: Config,
    servers: [IpEndpoint; SERVERS],
    server_count: usize,
    rng: Rng,
    queries: [Option<Query>; QUERIES],
    next_query_id: u16,
    cache: Cache<CACHE>,
    stats: DnsStats,
}

impl<const SERVERS: usize, const CACHE: usize, const QUERIES: usize>
    Resolver<SERVERS, CACHE, QUERIES>
{
    /// A resolver with no servers yet. IDs and ports come from `rng`, which
    /// should be seeded from a hardware entropy source: their
    /// unpredictability is the only defence against off-path spoofing
    /// (RFC 5452 §4).
    pub fn new(config: Config, rng: Rng) -> Self {
        let unset = IpEndpoint::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        Resolver {
            config,
            servers: [unset; SERVERS],
            server_count: 0,
            rng,
            queries: [const { None }; QUERIES],
            next_query_id: 0,
            cache: Cache::new(),
            stats: DnsStats::default(),
        }
    }

    /// Replaces the server list (from DHCP option 6, say), in order of
    /// preference. Queries in flight move to the new list at their next
    /// attempt.
    pub fn set_servers(&mut self, servers: &[IpEndpoint]) -> Result<(), DnsError> {
        let slots = self
            .servers
            .get_mut(..servers.len())
            .ok_or(DnsError::TooManyServers)?;
        slots.copy_from_slice(servers);
        self.server_count = servers.len();
        Ok(())
    }

    pub fn servers(&self) -> &[IpEndpoint] {
        self.servers.get(..self.server_count).unwrap_or(&[])
    }

    pub fn stats(&self) -> &DnsStats {
        &self.stats
    }

    pub fn cache(&self) -> &Cache<CACHE> {
        &self.cache
    }

    pub fn cache_mut(&mut self) -> &mut Cache<CACHE> {
        &mut self.cache
    }

    /// The cached answer for `name`, if there is one that has not expired.
    pub fn lookup_cached(&self, now: Instant, name: &str, kind: RecordKind) -> Option<Answer> {
        let name = Name::from_text(name).ok()?;
        self.cache.lookup(now, &name, kind)
    }

    /// Starts resolving `name`. A cached answer completes the query at once
    /// (its event is ready for `poll_event`); otherwise a datagram is ready
    /// for `poll_transmit`.
    pub fn start_query(
        &mut self,
        now: Instant,
        name: &str,
        kind: RecordKind,
    ) -> Result<QueryId, DnsError> {
        let name = Name::from_text(name).map_err(|_| DnsError::InvalidName)?;
        if self.server_count == 0 {
            return Err(DnsError::NoServers);
        }
        let slot = self
            .queries
            .iter_mut()
            .find(|slot| slot.is_none())
            .ok_or(DnsError::Busy)?;
        let id = QueryId(self.next_query_id);
        self.next_query_id = self.next_query_id.wrapping_add(1);
        let cached = self.cache.lookup(now, &name, kind);
        let mut query = Query {
            id,
            name,
            kind,
            attempts: 0,
            transaction_id: 0,
            source_port: 0,
            server: IpEndpoint::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            last_failure: DnsError::Timeout,
            state: QueryState::Unsent,
        };
        if let Some(answer) = cached {
            bump(&mut self.stats.cache_hits);
            bump(&mut self.stats.answers);
            query.state = QueryState::Done(Ok(answer));
        } else {
            let servers = self.servers.get(..self.server_count).unwrap_or(&[]);
            begin_attempt(&mut query, &mut self.rng, servers);
        }
        *slot = Some(query);
        Ok(id)
    }

    /// Abandons a query, e.g. when the caller cannot do the TCP retry. No
    /// event follows.
    pub fn cancel(&mut self, id: QueryId) -> Result<(), DnsError> {
        let slot = self.slot_mut(id).ok_or(DnsError::UnknownQuery)?;
        *slot = None;
        Ok(())
    }

    /// Writes the next query datagram into `buf`, if one is due. A buffer
    /// too small for the query fails that query with `BufferTooSmall`
    /// (512 bytes always suffice, RFC 1035 §2.3.4).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        for query in self.queries.iter_mut().flatten() {
            if !matches!(query.state, QueryState::Unsent) {
                continue;
            }
            let builder = QueryBuilder {
                id: query.transaction_id,
                name: &query.name,
                qtype: query.kind.rtype(),
            };
            let Some(len) = builder.emit(buf) else {
                query.state = QueryState::Done(Err(DnsError::BufferTooSmall));
                continue;
            };
            let wait = attempt_timeout(&self.config, query.attempts);
            query.state = QueryState::AwaitingDatagram {
                deadline: now + wait,
            };
            bump(&mut self.stats.queries_sent);
            return Some(Transmit {
                server: query.server,
                source_port: query.source_port,
                len,
            });
        }
        None
    }

    /// The earliest instant `handle_timeout` has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.queries
            .iter()
            .flatten()
            .filter_map(|query| match query.state {
                QueryState::AwaitingDatagram { deadline } => Some(deadline),
                QueryState::AwaitingTcp { deadline, .. } => Some(deadline),
                _ => None,
            })
            .min()
    }

    /// Retries every attempt whose wait is over on the next server, or
    /// fails the query once all rounds are spent.
    pub fn handle_timeout(&mut self, now: Instant) {
        let servers = self.servers.get(..self.server_count).unwrap_or(&[]);
        for query in self.queries.iter_mut().flatten() {
            match query.state {
                QueryState::AwaitingDatagram { deadline } if deadline <= now => {
                    bump(&mut self.stats.timeouts);
                    query.last_failure = DnsError::Timeout;
                    next_attempt(query, &self.config, &mut self.rng, servers);
                }
                QueryState::AwaitingTcp { deadline, .. } if deadline <= now => {
                    bump(&mut self.stats.timeouts);
                    query.state = QueryState::Done(Err(DnsError::Timeout));
                }
                _ => {}
            }
        }
    }

    /// Feeds a datagram that arrived from `from` on local port `to_port`.
    ///
    /// `Ok` means it was the answer to a query (the outcome is ready for
    /// `poll_event`). An `Err` says why it was dropped; the query it might
    /// have been meant for keeps waiting, since a spoofed datagram must not
    /// be able to end a query early (RFC 5452 §9.1).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: IpEndpoint,
        to_port: u16,
        bytes: &[u8],
    ) -> Result<(), DnsError> {
        let Some(index) = self.queries.iter().position(|slot| {
            slot.as_ref().is_some_and(|query| {
                query.source_port == to_port
                    && matches!(query.state, QueryState::AwaitingDatagram { .. })
            })
        }) else {
            return Err(self.reject(DnsError::UnexpectedPort));
        };
        let Some(query) = self.queries.get(index).and_then(Option::as_ref) else {
            return Err(self.reject(DnsError::UnexpectedPort));
        };
        if query.server != from {
            return Err(self.reject(DnsError::UnexpectedSource));
        }
        let outcome = match read_response(query, bytes, false) {
            Ok(outcome) => outcome,
            Err(error) => return Err(self.reject(error)),
        };
        self.apply(now, index, outcome, false);
        Ok(())
    }

    /// Writes the query of a truncated exchange for TCP: the 2-byte length,
    /// then the message (RFC 1035 §4.2.2). Returns the server to connect to
    /// and the bytes written.
    pub fn encode_tcp_query(
        &mut self,
        id: QueryId,
        buf: &mut [u8],
    ) -> Result<(IpEndpoint, usize), DnsError> {
        let query = self
            .slot_mut(id)
            .and_then(|slot| slot.as_mut())
            .filter(|query| matches!(query.state, QueryState::AwaitingTcp { .. }))
            .ok_or(DnsError::UnknownQuery)?;
        let builder = QueryBuilder {
            id: query.transaction_id,
            name: &query.name,
            qtype: query.kind.rtype(),
        };
        let (prefix, message) = buf
            .split_at_mut_checked(TCP_LENGTH_PREFIX)
            .ok_or(DnsError::BufferTooSmall)?;
        let len = builder.emit(message).ok_or(DnsError::BufferTooSmall)?;
        let len_u16 = u16::try_from(len).map_err(|_| DnsError::BufferTooSmall)?;
        prefix.copy_from_slice(&len_u16.to_be_bytes());
        let server = query.server;
        bump(&mut self.stats.tcp_queries);
        Ok((server, TCP_LENGTH_PREFIX + len))
    }

    /// Feeds the reply read from the TCP connection: the 2-byte length and
    /// the whole message it announces (bytes after it are ignored). It is
    /// checked like a datagram, except that the connection already proves
    /// the peer.
    pub fn handle_tcp_response(
        &mut self,
        now: Instant,
        id: QueryId,
        bytes: &[u8],
    ) -> Result<(), DnsError> {
        let Some(index) = self.queries.iter().position(|slot| {
            slot.as_ref().is_some_and(|query| {
                query.id == id && matches!(query.state, QueryState::AwaitingTcp { .. })
            })
        }) else {
            return Err(DnsError::UnknownQuery);
        };
        let (prefix, rest) = bytes
            .split_at_checked(TCP_LENGTH_PREFIX)
            .ok_or_else(|| self.reject(DnsError::Malformed))?;
        let len = usize::from(u16::from_be_bytes([
            prefix.first().copied().unwrap_or(0),
            prefix.get(1).copied().unwrap_or(0),
        ]));
        let Some(message) = rest.get(..len) else {
            return Err(self.reject(DnsError::Malformed));
        };
        let Some(query) = self.queries.get(index).and_then(Option::as_ref) else {
            return Err(DnsError::UnknownQuery);
        };
        let outcome = match read_response(query, message, true) {
            Ok(outcome) => outcome,
            Err(error) => return Err(self.reject(error)),
        };
        self.apply(now, index, outcome, true);
        Ok(())
    }

    /// The next outcome, if any. A final outcome frees the query's slot.
    pub fn poll_event(&mut self) -> Option<Event> {
        for slot in self.queries.iter_mut() {
            let Some(query) = slot else { continue };
            match &mut query.state {
                QueryState::AwaitingTcp { reported, .. } if !*reported => {
                    *reported = true;
                    return Some(Event::Truncated {
                        id: query.id,
                        server: query.server,
                    });
                }
                QueryState::Done(result) => {
                    let id = query.id;
                    let event = match result {
                        Ok(answer) => Event::Resolved {
                            id,
                            answer: answer.clone(),
                        },
                        Err(error) => Event::Failed { id, error: *error },
                    };
                    *slot = None;
                    return Some(event);
                }
                _ => {}
            }
        }
        None
    }

    fn slot_mut(&mut self, id: QueryId) -> Option<&mut Option<Query>> {
        self.queries
            .iter_mut()
            .find(|slot| slot.as_ref().is_some_and(|query| query.id == id))
    }

    /// Counts a dropped message by reason and passes the reason on.
    fn reject(&mut self, error: DnsError) -> DnsError {
        let stats = &mut self.stats;
        let counter = match error {
            DnsError::UnexpectedPort => &mut stats.unexpected_port,
            DnsError::UnexpectedSource => &mut stats.unexpected_source,
            DnsError::WrongId => &mut stats.wrong_id,
            DnsError::NotAResponse => &mut stats.not_response,
            DnsError::UnexpectedOpcode => &mut stats.unexpected_opcode,
            DnsError::QuestionMismatch => &mut stats.question_mismatch,
            _ => &mut stats.malformed,
        };
        bump(counter);
        debug!("dns: dropped response: {}", error);
        error
    }

    /// Moves the query at `index` on after a response it believed.
    fn apply(&mut self, now: Instant, index: usize, outcome: Outcome, over_tcp: bool) {
        let servers = self.servers.get(..self.server_count).unwrap_or(&[]);
        let Some(query) = self.queries.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let result = match outcome {
            Outcome::Resolved(answer) => {
                bump(&mut self.stats.answers);
                self.cache.insert(now, &query.name, query.kind, &answer);
                Ok(answer)
            }
            Outcome::NameNotFound => Err(DnsError::NameNotFound),
            Outcome::NoAddresses => Err(DnsError::NoAddresses),
            Outcome::Truncated => {
                bump(&mut self.stats.truncated);
                query.state = QueryState::AwaitingTcp {
                    deadline: now + self.config.tcp_timeout,
                    reported: false,
                };
                return;
            }
            Outcome::ServerFailure(rcode) => {
                bump(&mut self.stats.server_failures);
                query.last_failure = DnsError::ServerFailure(rcode);
                if over_tcp {
                    Err(query.last_failure)
                } else {
                    next_attempt(query, &self.config, &mut self.rng, servers);
                    return;
                }
            }
        };
        query.state = QueryState::Done(result);
    }
}

fn bump(counter: &mut u32) {
    *counter = counter.saturating_add(1);
}

/// The wait for attempt `attempts` (1 for the first): doubling from
/// `first_timeout`, capped at `max_timeout`.
fn attempt_timeout(config: &Config, attempts: u8) -> Duration {
    let doublings = u32::from(attempts.saturating_sub(1)).min(20);
    let micros = config
        .first_timeout
        .as_micros()
        .saturating_mul(1u64 << doublings);
    Duration::from_micros(micros.min(config.max_timeout.as_micros()))
}

/// Prepares the next attempt with a fresh ID and source port (RFC 5452
/// §9.2), on the server after the last one.
fn begin_attempt(query: &mut Query, rng: &mut Rng, servers: &[IpEndpoint]) {
    let index = usize::from(query.attempts) % servers.len().max(1);
    if let Some(server) = servers.get(index) {
        query.server = *server;
    }
    query.attempts = query.attempts.saturating_add(1);
    query.transaction_id = rng.next_u32() as u16;
    query.source_port = EPHEMERAL_PORT_FIRST + rng.below(EPHEMERAL_PORT_COUNT) as u16;
    query.state = QueryState::Unsent;
}

/// After a timeout or a server failure: retry on the next server, or fail
/// with the last failure once every server had its `rounds` attempts (and
/// the lookup at least `min_attempts`).
fn next_attempt(query: &mut Query, config: &Config, rng: &mut Rng, servers: &[IpEndpoint]) {
    let budget = servers
        .len()
        .saturating_mul(usize::from(config.rounds))
        .max(usize::from(config.min_attempts));
    if usize::from(query.attempts) >= budget {
        query.state = QueryState::Done(Err(query.last_failure));
    } else {
        begin_attempt(query, rng, servers);
    }
}

/// Checks that `bytes` answers `query` (RFC 5452 §9.1: ID, question) and
/// says what it answers. Source address and ports are the caller's to check.
fn read_response(query: &Query, bytes: &[u8], over_tcp: bool) -> Result<Outcome, DnsError> {
    let msg = Message::new_checked(bytes).map_err(|_| DnsError::Malformed)?;
    if msg.id() != query.transaction_id {
        return Err(DnsError::WrongId);
    }
    if !msg.is_response() {
        return Err(DnsError::NotAResponse);
    }
    if msg.opcode() != OPCODE_QUERY {
        return Err(DnsError::UnexpectedOpcode);
    }
    if msg.question_count() != 1 {
        return Err(DnsError::QuestionMismatch);
    }
    let (question, _) = msg
        .question_at(message::HEADER_LEN)
        .map_err(|_| DnsError::Malformed)?;
    if !question.name.eq_ignore_case(&query.name)
        || question.qtype != query.kind.rtype()
        || question.qclass != CLASS_IN
    {
        return Err(DnsError::QuestionMismatch);
    }
    if msg.truncated() {
        // Over TCP nothing limits the size, so TC there is nonsense.
        return if over_tcp {
            Err(DnsError::Truncated)
        } else {
            Ok(Outcome::Truncated)
        };
    }
    match msg.rcode() {
        Rcode::NoError => {}
        Rcode::NameError => return Ok(Outcome::NameNotFound),
        other => return Ok(Outcome::ServerFailure(other)),
    }
    match collect_addresses(&msg, &query.name, query.kind)? {
        Some(answer) => Ok(Outcome::Resolved(answer)),
        None => Ok(Outcome::NoAddresses),
    }
}

/// Follows the CNAME chain from `name` through the answer section and
/// gathers the address records of the name it ends at (RFC 1034 §3.6.2,
/// §5.3.3). Records may come in any order, so the section is read once per
/// link. `None` when the chain ends without addresses (NODATA).
fn collect_addresses(
    msg: &Message<&[u8]>,
    name: &Name,
    kind: RecordKind,
) -> Result<Option<Answer>, DnsError> {
    let bytes = msg.bytes();
    let mut owner = name.clone();
    let mut chain_ttl = u32::MAX;
    for _ in 0..=MAX_CNAME_DEPTH {
        let mut answer = Answer::new(kind);
        let mut address_ttl = u32::MAX;
        let mut alias: Option<(Name, u32)> = None;
        for record in msg.answers().map_err(|_| DnsError::Malformed)? {
            let record = record.map_err(|_| DnsError::Malformed)?;
            if record.class != CLASS_IN || !record.owner.eq_ignore_case(&owner) {
                continue;
            }
            let rdata = bytes.get(record.rdata.clone()).ok_or(DnsError::Malformed)?;
            if record.rtype == kind.rtype() {
                let address = parse_address(kind, rdata)?;
                if answer.push(address) {
                    address_ttl = address_ttl.min(record.ttl);
                }
            } else if record.rtype == message::rtype::CNAME && alias.is_none() {
                // An owner has at most one CNAME (RFC 2181 §10.1); the
                // first one wins.
                let (target, end) =
                    Name::read(bytes, record.rdata.start).map_err(|_| DnsError::Malformed)?;
                if end != record.rdata.end {
                    return Err(DnsError::Malformed);
                }
                alias = Some((target, record.ttl));
            }
        }
        if !answer.addresses().is_empty() {
            answer.ttl_secs = chain_ttl.min(address_ttl);
            return Ok(Some(answer));
        }
        match alias {
            Some((target, ttl)) => {
                owner = target;
                chain_ttl = chain_ttl.min(ttl);
            }
            None => return Ok(None),
        }
    }
    Err(DnsError::Malformed)
}

/// RDATA of an A (RFC 1035 §3.4.1) or AAAA (RFC 3596 §2.2) record.
fn parse_address(kind: RecordKind, rdata: &[u8]) -> Result<IpAddr, DnsError> {
    if rdata.len() != kind.rdata_len() {
        return Err(DnsError::Malformed);
    }
    Ok(match kind {
        RecordKind::A => {
            let mut octets = [0u8; 4];
            octets.copy_from_slice(rdata);
            IpAddr::V4(Ipv4Addr::from(octets))
        }
        RecordKind::Aaaa => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(rdata);
            IpAddr::V6(Ipv6Addr::from(octets))
        }
    })
}

#[cfg(test)]
mod tests;
