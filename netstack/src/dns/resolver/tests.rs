//! The resolver against crafted responses: each check of RFC 5452 §9.1,
//! every section of a response cut short, hostile compression, and the
//! retry and failover timeline in virtual time.

extern crate std;

use std::vec;
use std::vec::Vec;

use super::*;
use crate::dns::message::rtype;

const SERVER_A: IpEndpoint = IpEndpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 53)), 53);
const SERVER_B: IpEndpoint = IpEndpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 54)), 53);
const BROKER_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
/// A pointer to the question name, which starts right after the header.
const QNAME: &[u8] = &[0xc0, 12];

const QR: u16 = 0x8000;
const TC: u16 = 0x0200;
const RD_RA: u16 = 0x0180;

type TestResolver = Resolver<2, 4, 2>;

fn resolver() -> TestResolver {
    let mut resolver = Resolver::new(Config::default(), Rng::new(0x5eed));
    assert_eq!(resolver.set_servers(&[SERVER_A, SERVER_B]), Ok(()));
    resolver
}

fn wire(text: &str) -> Vec<u8> {
    Name::from_text(text)
        .map(|name| name.as_wire().to_vec())
        .unwrap_or_default()
}

/// Starts a query and takes its datagram.
fn start(
    resolver: &mut TestResolver,
    now: Instant,
    name: &str,
    kind: RecordKind,
) -> (QueryId, Transmit, Vec<u8>) {
    let id = resolver.start_query(now, name, kind).expect("query starts");
    let (transmit, bytes) = transmit(resolver, now);
    (id, transmit, bytes)
}

fn transmit(resolver: &mut TestResolver, now: Instant) -> (Transmit, Vec<u8>) {
    let mut buf = [0u8; 512];
    let transmit = resolver
        .poll_transmit(now, &mut buf)
        .expect("a datagram is due");
    (transmit, buf[..transmit.len].to_vec())
}

/// A resource record with `owner` already in wire form (possibly a pointer).
fn record(owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
    let mut out = owner.to_vec();
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
    out
}

/// The response to `query`: its header and question with `flags` (QR
/// added), then `answers`.
fn response(query: &[u8], flags: u16, answers: &[Vec<u8>]) -> Vec<u8> {
    let mut out = query.to_vec();
    out[2..4].copy_from_slice(&(flags | QR).to_be_bytes());
    out[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
    for answer in answers {
        out.extend_from_slice(answer);
    }
    out
}

fn a_response(query: &[u8]) -> Vec<u8> {
    response(
        query,
        RD_RA,
        &[record(QNAME, rtype::A, 300, &[10, 1, 2, 3])],
    )
}

fn resolved(resolver: &mut TestResolver) -> Answer {
    match resolver.poll_event() {
        Some(Event::Resolved { answer, .. }) => answer,
        other => panic!("expected an answer, got {other:?}"),
    }
}

fn failed(resolver: &mut TestResolver) -> DnsError {
    match resolver.poll_event() {
        Some(Event::Failed { error, .. }) => error,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn a_answer_resolves_and_is_cached() {
    let mut r = resolver();
    let now = Instant::from_secs(10);
    let (id, tx, query) = start(&mut r, now, "broker.iot.test", RecordKind::A);
    assert_eq!(tx.server, SERVER_A);
    assert!(tx.source_port >= 49152);
    assert_eq!(
        &query[12..],
        &[&wire("broker.iot.test")[..], &[0, 1, 0, 1]].concat()[..]
    );
    assert_eq!(r.poll_transmit(now, &mut [0u8; 512]), None);
    assert_eq!(r.poll_timeout(), Some(now + Duration::from_secs(1)));

    let reply = a_response(&query);
    assert_eq!(
        r.handle_datagram(now, SERVER_A, tx.source_port, &reply),
        Ok(())
    );
    assert_eq!(
        r.poll_event(),
        Some(Event::Resolved {
            id,
            answer: {
                let mut answer = Answer::new(RecordKind::A);
                answer.push(BROKER_V4);
                answer.ttl_secs = 300;
                answer
            }
        })
    );
    assert_eq!(r.poll_event(), None);
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(r.stats().answers, 1);

    // The answer is cached, for lookups and for the next query.
    let later = now + Duration::from_secs(100);
    let cached = r
        .lookup_cached(later, "BROKER.iot.test", RecordKind::A)
        .expect("cached");
    assert_eq!(
        (cached.addresses(), cached.ttl_secs),
        (&[BROKER_V4][..], 200)
    );
    r.start_query(later, "broker.iot.test", RecordKind::A)
        .expect("starts");
    assert_eq!(r.poll_transmit(later, &mut [0u8; 512]), None);
    assert_eq!(resolved(&mut r).addresses(), &[BROKER_V4]);
    assert_eq!(r.stats().cache_hits, 1);
    // After the TTL it goes to the network again.
    let expired = now + Duration::from_secs(300);
    assert!(
        r.lookup_cached(expired, "broker.iot.test", RecordKind::A)
            .is_none()
    );
    r.start_query(expired, "broker.iot.test", RecordKind::A)
        .expect("starts");
    assert!(r.poll_transmit(expired, &mut [0u8; 512]).is_some());
}

#[test]
fn aaaa_answer_resolves_up_to_four_addresses() {
    let mut r = resolver();
    let (_, tx, query) = start(&mut r, Instant::ZERO, "v6only.iot.test", RecordKind::Aaaa);
    assert_eq!(&query[query.len() - 4..], &[0, 28, 0, 1]);
    let answers: Vec<Vec<u8>> = (1..=5u8)
        .map(|last| {
            let mut v6 = [0u8; 16];
            v6[0] = 0xfd;
            v6[15] = last;
            record(QNAME, rtype::AAAA, 60 + u32::from(last), &v6)
        })
        .collect();
    // An A record for the same name is ignored in an AAAA answer.
    let mut all = answers;
    all.push(record(QNAME, rtype::A, 1, &[10, 0, 0, 1]));
    let reply = response(&query, RD_RA, &all);
    assert_eq!(
        r.handle_datagram(Instant::ZERO, SERVER_A, tx.source_port, &reply),
        Ok(())
    );
    let answer = resolved(&mut r);
    assert_eq!(answer.kind(), RecordKind::Aaaa);
    assert_eq!(answer.addresses().len(), 4);
    assert_eq!(
        answer.addresses()[0],
        "fd00::1".parse::<IpAddr>().expect("v6")
    );
    assert_eq!(answer.ttl_secs, 61);
}

#[test]
fn cname_chain_is_followed_in_any_order_with_the_smallest_ttl() {
    let mut r = resolver();
    let (_, tx, query) = start(&mut r, Instant::ZERO, "alias.iot.test", RecordKind::A);
    // alias.iot.test CNAME mid.iot.test CNAME broker.iot.test A 10.1.2.3,
    // given last link first; the middle name is written once and pointed at.
    let q_len = query.len() as u16;
    // Offsets: the first record starts at q_len; its owner "broker" + pointer.
    let broker_owner = [&[6u8][..], b"broker", &[0xc0, 12 + 6]].concat();
    let a = record(&broker_owner, rtype::A, 120, &[10, 1, 2, 3]);
    let mid_at = q_len + a.len() as u16;
    let mid_owner = [&[3u8][..], b"mid", &[0xc0, 12 + 6]].concat();
    let broker_target = [0xc0 | (q_len >> 8) as u8, q_len as u8];
    let mid = record(&mid_owner, rtype::CNAME, 30, &broker_target);
    let mid_target = [0xc0 | (mid_at >> 8) as u8, mid_at as u8];
    let alias = record(QNAME, rtype::CNAME, 600, &mid_target);
    let reply = response(&query, RD_RA, &[a, mid, alias]);
    assert_eq!(
        r.handle_datagram(Instant::ZERO, SERVER_A, tx.source_port, &reply),
        Ok(())
    );
    let answer = resolved(&mut r);
    assert_eq!(
        (answer.addresses(), answer.ttl_secs),
        (&[BROKER_V4][..], 30)
    );
}

#[test]
fn captured_dnsmasq_cname_response_resolves() {
    let mut r = resolver();
    let (_, tx, query) = start(&mut r, Instant::ZERO, "alias.iot.test", RecordKind::A);
    let mut reply = crate::dns::captures::CNAME_RESPONSE.to_vec();
    reply[..2].copy_from_slice(&query[..2]);
    assert_eq!(
        r.handle_datagram(Instant::ZERO, SERVER_A, tx.source_port, &reply),
        Ok(())
    );
    let answer = resolved(&mut r);
    assert_eq!((answer.addresses(), answer.ttl_secs), (&[BROKER_V4][..], 0));
    // TTL 0: used once, not cached.
    assert!(
        r.lookup_cached(Instant::ZERO, "alias.iot.test", RecordKind::A)
            .is_none()
    );
}

#[test]
fn cname_loop_and_overlong_chain_are_malformed() {
    let mut r = resolver();
    let (_, tx, query) = start(&mut r, Instant::ZERO, "loop.iot.test", RecordKind::A);
    // loop.iot.test CNAME loop.iot.test.
    let reply = response(&query, RD_RA, &[record(QNAME, rtype::CNAME, 60, QNAME)]);
    assert_eq!(
        r.handle_datagram(Instant::ZERO, SERVER_A, tx.source_port, &reply),
        Err(DnsError::Malformed)
    );
    // A CNAME whose target overruns its RDATA.
    let reply = response(
        &query,
        RD_RA,
        &[record(QNAME, rtype::CNAME, 60, &[1, b'x'])],
    );
    assert_eq!(
        r.handle_datagram(Instant::ZERO, SERVER_A, tx.source_port, &reply),
        Err(DnsError::Malformed)
    );
    // An A record of the wrong length.
    let reply = response(&query, RD_RA, &[record(QNAME, rtype::A, 60, &[10, 1, 2])]);
    assert_eq!(
        r.handle_datagram(Instant::ZERO, SERVER_A, tx.source_port, &reply),
        Err(DnsError::Malformed)
    );
    assert_eq!(r.stats().malformed, 3);
    assert_eq!(r.poll_event(), None, "the query still waits");
}

#[test]
fn nxdomain_and_nodata_are_final() {
    let mut r = resolver();
    let (id, tx, query) = start(&mut r, Instant::ZERO, "nope.iot.test", RecordKind::A);
    let reply = response(&query, RD_RA | 3, &[]);
    assert_eq!(
        r.handle_datagram(Instant::ZERO, SERVER_A, tx.source_port, &reply),
        Ok(())
    );
    assert_eq!(
        r.poll_event(),
        Some(Event::Failed {
            id,
            error: DnsError::NameNotFound
        })
    );
    let (_, tx, query) = start(&mut r, Instant::ZERO, "v4only.iot.test", RecordKind::Aaaa);
    let reply = response(&query, RD_RA, &[]);
    assert_eq!(
        r.handle_datagram(Instant::ZERO, SERVER_A, tx.source_port, &reply),
        Ok(())
    );
    assert_eq!(failed(&mut r), DnsError::NoAddresses);
}

#[test]
fn responses_that_do_not_match_the_query_are_dropped_and_counted() {
    let mut r = resolver();
    let now = Instant::ZERO;
    let (_, tx, query) = start(&mut r, now, "broker.iot.test", RecordKind::A);
    let good = a_response(&query);
    let port = tx.source_port;

    let mut wrong_id = good.clone();
    wrong_id[1] ^= 1;
    assert_eq!(
        r.handle_datagram(now, SERVER_A, port, &wrong_id),
        Err(DnsError::WrongId)
    );

    let other_port = IpEndpoint::new(SERVER_A.addr, 5353);
    assert_eq!(
        r.handle_datagram(now, other_port, port, &good),
        Err(DnsError::UnexpectedSource)
    );
    assert_eq!(
        r.handle_datagram(now, SERVER_B, port, &good),
        Err(DnsError::UnexpectedSource)
    );
    let dest = port.wrapping_add(1);
    assert_eq!(
        r.handle_datagram(now, SERVER_A, dest, &good),
        Err(DnsError::UnexpectedPort)
    );

    let mut not_response = good.clone();
    not_response[2] &= 0x7f;
    assert_eq!(
        r.handle_datagram(now, SERVER_A, port, &not_response),
        Err(DnsError::NotAResponse)
    );
    let mut opcode = good.clone();
    opcode[2] |= 0x10; // opcode 2, STATUS
    assert_eq!(
        r.handle_datagram(now, SERVER_A, port, &opcode),
        Err(DnsError::UnexpectedOpcode)
    );

    let mut other_name = good.clone();
    other_name[13] = b'x';
    let mut other_type = good.clone();
    other_type[30] = 28;
    let mut other_class = good.clone();
    other_class[32] = 3;
    let mut two_questions = good.clone();
    two_questions[5] = 2;
    for bad in [other_name, other_type, other_class, two_questions] {
        assert_eq!(
            r.handle_datagram(now, SERVER_A, port, &bad),
            Err(DnsError::QuestionMismatch)
        );
    }
    // The question name may differ in case (RFC 4343).
    let mut upper = good.clone();
    upper[13..19].copy_from_slice(b"BROKER");
    let stats = *r.stats();
    assert_eq!(stats.wrong_id, 1);
    assert_eq!(stats.unexpected_source, 2);
    assert_eq!(stats.unexpected_port, 1);
    assert_eq!(stats.not_response, 1);
    assert_eq!(stats.unexpected_opcode, 1);
    assert_eq!(stats.question_mismatch, 4);
    assert_eq!(r.poll_event(), None);
    assert_eq!(r.handle_datagram(now, SERVER_A, port, &upper), Ok(()));
    assert_eq!(resolved(&mut r).addresses(), &[BROKER_V4]);
    // Once answered, a duplicate finds no query.
    assert_eq!(
        r.handle_datagram(now, SERVER_A, port, &good),
        Err(DnsError::UnexpectedPort)
    );
}

#[test]
fn truncated_response_moves_the_query_to_tcp() {
    let mut r = resolver();
    let now = Instant::ZERO;
    let (id, tx, query) = start(&mut r, now, "broker.iot.test", RecordKind::A);
    let truncated = response(&query, RD_RA | TC, &[]);
    assert_eq!(
        r.handle_datagram(now, SERVER_A, tx.source_port, &truncated),
        Ok(())
    );
    assert_eq!(
        r.poll_event(),
        Some(Event::Truncated {
            id,
            server: SERVER_A
        })
    );
    assert_eq!(r.poll_event(), None);
    assert_eq!(r.stats().truncated, 1);
    // No more datagrams for it.
    assert_eq!(
        r.handle_datagram(now, SERVER_A, tx.source_port, &a_response(&query)),
        Err(DnsError::UnexpectedPort)
    );

    let mut buf = [0u8; 512];
    assert_eq!(
        r.encode_tcp_query(id, &mut buf[..20]),
        Err(DnsError::BufferTooSmall)
    );
    let (server, len) = r.encode_tcp_query(id, &mut buf).expect("fits");
    assert_eq!(server, SERVER_A);
    assert_eq!(&buf[..2], &(query.len() as u16).to_be_bytes());
    assert_eq!(&buf[2..len], &query[..]);

    let mut framed = (a_response(&query).len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&a_response(&query));
    for cut in 0..framed.len() {
        assert!(
            r.handle_tcp_response(now, id, &framed[..cut]).is_err(),
            "{cut}"
        );
    }
    let mut tc_again = (truncated.len() as u16).to_be_bytes().to_vec();
    tc_again.extend_from_slice(&truncated);
    assert_eq!(
        r.handle_tcp_response(now, id, &tc_again),
        Err(DnsError::Truncated)
    );
    assert_eq!(
        r.handle_tcp_response(now, QueryId(99), &framed),
        Err(DnsError::UnknownQuery)
    );
    assert_eq!(r.handle_tcp_response(now, id, &framed), Ok(()));
    assert_eq!(resolved(&mut r).addresses(), &[BROKER_V4]);
}

#[test]
fn tcp_retry_that_never_completes_times_out() {
    let mut r = resolver();
    let (id, tx, query) = start(&mut r, Instant::ZERO, "broker.iot.test", RecordKind::A);
    let truncated = response(&query, RD_RA | TC, &[]);
    assert_eq!(
        r.handle_datagram(Instant::ZERO, SERVER_A, tx.source_port, &truncated),
        Ok(())
    );
    assert!(matches!(r.poll_event(), Some(Event::Truncated { .. })));
    let deadline = r.poll_timeout().expect("TCP deadline");
    r.handle_timeout(deadline);
    assert_eq!(
        r.poll_event(),
        Some(Event::Failed {
            id,
            error: DnsError::Timeout
        })
    );
}

#[test]
fn hostile_compression_is_malformed_and_never_hangs() {
    let mut r = resolver();
    let now = Instant::ZERO;
    let (_, tx, query) = start(&mut r, now, "broker.iot.test", RecordKind::A);
    let at = query.len() as u8;
    let hostile_owners: [Vec<u8>; 4] = [
        // A pointer to itself.
        vec![0xc0, at],
        // Two pointers pointing at each other (the first one forwards).
        vec![0xc0, at + 2, 0xc0, at],
        // A forward pointer to a valid name further on.
        vec![0xc0, at + 2, 1, b'a', 0],
        // A name longer than 255 bytes: five 63-byte labels.
        [&[63u8][..], &[b'x'; 63]]
            .concat()
            .repeat(5)
            .into_iter()
            .chain([0])
            .collect(),
    ];
    for owner in hostile_owners {
        let reply = response(
            &query,
            RD_RA,
            &[record(&owner, rtype::A, 60, &[10, 1, 2, 3])],
        );
        assert_eq!(
            r.handle_datagram(now, SERVER_A, tx.source_port, &reply),
            Err(DnsError::Malformed)
        );
    }
    // A loop in the question name itself.
    let mut looped_question = a_response(&query);
    looped_question[12..14].copy_from_slice(&[0xc0, 12]);
    assert_eq!(
        r.handle_datagram(now, SERVER_A, tx.source_port, &looped_question),
        Err(DnsError::Malformed)
    );
    assert_eq!(r.stats().malformed, 5);
    assert_eq!(
        r.handle_datagram(now, SERVER_A, tx.source_port, &a_response(&query)),
        Ok(())
    );
}

#[test]
fn every_truncation_of_a_valid_response_is_an_error() {
    let mut r = resolver();
    let now = Instant::ZERO;
    let (_, tx, query) = start(&mut r, now, "alias.iot.test", RecordKind::A);
    let q_len = query.len() as u8;
    let cname = record(
        QNAME,
        rtype::CNAME,
        60,
        &[6, b'b', b'r', b'o', b'k', b'e', b'r', 0xc0, 12 + 6],
    );
    let a = record(&[0xc0, q_len + 12], rtype::A, 60, &[10, 1, 2, 3]);
    let reply = response(&query, RD_RA, &[cname, a]);
    for len in 0..reply.len() {
        assert!(
            r.handle_datagram(now, SERVER_A, tx.source_port, &reply[..len])
                .is_err(),
            "{len}"
        );
        assert_eq!(r.poll_event(), None);
    }
    assert_eq!(
        r.handle_datagram(now, SERVER_A, tx.source_port, &reply),
        Ok(())
    );
    assert_eq!(resolved(&mut r).addresses(), &[BROKER_V4]);
}

#[test]
fn timeouts_fail_over_to_the_next_server_then_give_up() {
    let mut r = resolver();
    let t0 = Instant::from_secs(1);
    let (id, first, first_query) = start(&mut r, t0, "broker.iot.test", RecordKind::A);
    assert_eq!(first.server, SERVER_A);
    let mut now = t0;
    let mut sent = vec![(first, first_query.clone())];
    let expected = [(SERVER_B, 1u64), (SERVER_A, 2), (SERVER_B, 4)];
    for (server, previous_wait) in expected {
        let deadline = r.poll_timeout().expect("waiting");
        assert_eq!(deadline, now + Duration::from_secs(previous_wait));
        r.handle_timeout(Instant::from_micros(deadline.as_micros() - 1));
        assert_eq!(r.poll_transmit(deadline, &mut [0u8; 512]), None, "not yet");
        now = deadline;
        r.handle_timeout(now);
        let (tx, bytes) = transmit(&mut r, now);
        assert_eq!(tx.server, server);
        sent.push((tx, bytes));
    }
    // Each attempt had a fresh ID and port (RFC 5452 §9.2).
    for (i, (a, a_bytes)) in sent.iter().enumerate() {
        for (b, b_bytes) in sent.iter().skip(i + 1) {
            assert!(a.source_port != b.source_port || a_bytes[..2] != b_bytes[..2]);
        }
    }
    // A late answer to the first attempt is no longer believed.
    assert!(
        r.handle_datagram(now, SERVER_A, first.source_port, &a_response(&first_query))
            .is_err()
    );
    let deadline = r.poll_timeout().expect("waiting");
    assert_eq!(deadline, now + Duration::from_secs(8));
    r.handle_timeout(deadline);
    assert_eq!(r.poll_transmit(deadline, &mut [0u8; 512]), None);
    assert_eq!(
        r.poll_event(),
        Some(Event::Failed {
            id,
            error: DnsError::Timeout
        })
    );
    assert_eq!(r.stats().timeouts, 4);
    assert_eq!(r.stats().queries_sent, 4);
}

/// One server, the usual case: three attempts (1, 2 and 4 s apart) rather
/// than the two that two rounds over one server would give, so two lost
/// datagrams do not end a lookup.
#[test]
fn a_lone_server_gets_min_attempts_before_the_lookup_fails() {
    let mut r: TestResolver = Resolver::new(Config::default(), Rng::new(3));
    assert_eq!(r.set_servers(&[SERVER_A]), Ok(()));
    let (id, first, _) = start(&mut r, Instant::ZERO, "broker.iot.test", RecordKind::A);
    assert_eq!(first.server, SERVER_A);
    let mut now = Instant::ZERO;
    for wait in [1, 2] {
        now += Duration::from_secs(wait);
        assert_eq!(r.poll_timeout(), Some(now));
        r.handle_timeout(now);
        let (tx, query) = transmit(&mut r, now);
        assert_eq!(tx.server, SERVER_A);
        if wait == 2 {
            // The third attempt's answer still resolves the name.
            let mut answered = r.clone();
            let answer = a_response(&query);
            assert_eq!(
                answered.handle_datagram(now, SERVER_A, tx.source_port, &answer),
                Ok(())
            );
            assert_eq!(resolved(&mut answered).addresses(), &[BROKER_V4]);
        }
    }
    now += Duration::from_secs(4);
    assert_eq!(r.poll_timeout(), Some(now));
    r.handle_timeout(now);
    assert_eq!(r.poll_transmit(now, &mut [0u8; 512]), None);
    let error = DnsError::Timeout;
    assert_eq!(r.poll_event(), Some(Event::Failed { id, error }));
    assert_eq!((r.stats().queries_sent, r.stats().timeouts), (3, 3));
}

#[test]
fn failover_answer_from_second_server_is_accepted() {
    let mut r = resolver();
    let (_, _, _) = start(&mut r, Instant::ZERO, "broker.iot.test", RecordKind::A);
    r.handle_timeout(Instant::from_secs(1));
    let (tx, query) = transmit(&mut r, Instant::from_secs(1));
    assert_eq!(tx.server, SERVER_B);
    assert_eq!(
        r.handle_datagram(
            Instant::from_secs(1),
            SERVER_B,
            tx.source_port,
            &a_response(&query)
        ),
        Ok(())
    );
    assert_eq!(resolved(&mut r).addresses(), &[BROKER_V4]);
}

#[test]
fn servfail_and_refused_move_on_at_once_and_end_as_server_failure() {
    let mut r = resolver();
    let now = Instant::ZERO;
    let (id, mut tx, mut query) = start(&mut r, now, "broker.iot.test", RecordKind::A);
    for (rcode, server) in [
        (2u16, SERVER_A),
        (5, SERVER_B),
        (2, SERVER_A),
        (5, SERVER_B),
    ] {
        assert_eq!(tx.server, server);
        let reply = response(&query, RD_RA | rcode, &[]);
        assert_eq!(
            r.handle_datagram(now, server, tx.source_port, &reply),
            Ok(())
        );
        let mut buf = [0u8; 512];
        if let Some(next) = r.poll_transmit(now, &mut buf) {
            tx = next;
            query = buf[..next.len].to_vec();
        }
    }
    assert_eq!(
        r.poll_event(),
        Some(Event::Failed {
            id,
            error: DnsError::ServerFailure(Rcode::Refused)
        })
    );
    assert_eq!(r.stats().server_failures, 4);
}

#[test]
fn calls_with_bad_arguments_fail_cleanly() {
    let mut r: TestResolver = Resolver::new(Config::default(), Rng::new(1));
    assert_eq!(
        r.start_query(Instant::ZERO, "a.test", RecordKind::A),
        Err(DnsError::NoServers)
    );
    assert_eq!(r.set_servers(&[SERVER_A; 3]), Err(DnsError::TooManyServers));
    assert_eq!(r.set_servers(&[SERVER_A]), Ok(()));
    assert_eq!(
        r.start_query(Instant::ZERO, "bad_name", RecordKind::A),
        Err(DnsError::InvalidName)
    );
    let first = r
        .start_query(Instant::ZERO, "a.test", RecordKind::A)
        .expect("slot");
    r.start_query(Instant::ZERO, "b.test", RecordKind::A)
        .expect("slot");
    assert_eq!(
        r.start_query(Instant::ZERO, "c.test", RecordKind::A),
        Err(DnsError::Busy)
    );
    assert_eq!(r.poll_transmit(Instant::ZERO, &mut [0u8; 10]), None);
    assert_eq!(
        r.poll_event(),
        Some(Event::Failed {
            id: first,
            error: DnsError::BufferTooSmall
        })
    );
    assert!(matches!(
        r.poll_event(),
        Some(Event::Failed {
            error: DnsError::BufferTooSmall,
            ..
        })
    ));
    assert_eq!(r.cancel(first), Err(DnsError::UnknownQuery));
    assert_eq!(
        r.encode_tcp_query(first, &mut [0u8; 512]),
        Err(DnsError::UnknownQuery)
    );
    let id = r
        .start_query(Instant::ZERO, "c.test", RecordKind::A)
        .expect("slot");
    assert_eq!(r.cancel(id), Ok(()));
    assert_eq!(r.poll_transmit(Instant::ZERO, &mut [0u8; 512]), None);
}

/// xorshift64: the fuzz loops need no more than a cheap stream of bits.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn random_bytes_and_mutated_responses_never_panic() {
    let mut r = resolver();
    let mut seed = 0x0123_4567_89ab_cdefu64;
    let now = Instant::ZERO;
    let (_, mut tx, mut query) = start(&mut r, now, "alias.iot.test", RecordKind::A);
    let valid = |query: &[u8]| {
        let q_len = query.len() as u8;
        let cname = record(
            QNAME,
            rtype::CNAME,
            60,
            &[6, b'b', b'r', b'o', b'k', b'e', b'r', 0xc0, 12 + 6],
        );
        let a = record(&[0xc0, q_len + 12], rtype::A, 60, &[10, 1, 2, 3]);
        response(query, RD_RA, &[cname, a])
    };
    let mut accepted = 0;
    for round in 0..20_000 {
        let mut bytes = valid(&query);
        if round % 2 == 0 {
            // Pure noise, with the right ID half the time so it gets past
            // the first check.
            let len = (xorshift(&mut seed) % 300) as usize;
            bytes = (0..len).map(|_| xorshift(&mut seed) as u8).collect();
            if len >= 2 && round % 4 == 0 {
                bytes[..2].copy_from_slice(&query[..2]);
            }
        } else {
            for _ in 0..1 + xorshift(&mut seed) % 4 {
                let at = (xorshift(&mut seed) as usize) % bytes.len();
                bytes[at] = xorshift(&mut seed) as u8;
            }
            if xorshift(&mut seed) % 8 == 0 {
                let cut = (xorshift(&mut seed) as usize) % bytes.len();
                bytes.truncate(cut);
            }
        }
        if r.handle_datagram(now, SERVER_A, tx.source_port, &bytes)
            .is_ok()
        {
            accepted += 1;
            // Start afresh: nothing in flight, nothing cached.
            while r.poll_event().is_some() {}
            let live: Vec<QueryId> = r.queries.iter().flatten().map(|q| q.id).collect();
            for id in live {
                assert_eq!(r.cancel(id), Ok(()));
            }
            r.cache_mut().clear();
            (_, tx, query) = start(&mut r, now, "alias.iot.test", RecordKind::A);
        }
        // Over TCP as well, with a frame length in front.
        let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        let _ = r.handle_tcp_response(now, QueryId(0), &framed);
    }
    assert!(accepted > 0, "some mutations leave a valid response");
    let stats = r.stats();
    assert!(stats.malformed > 0 && stats.wrong_id > 0);
}
