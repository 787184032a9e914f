//! Scenarios beyond the seeded transfers: setup and teardown with their
//! control segments lost, simultaneous open and close, a reset in the middle
//! of a transfer, and a peer that reboots or vanishes under an idle
//! connection with keepalive on.

use duet_netstack::driver::FaultConfig;
use duet_netstack::tcp::{TcpError, TcpState};
use duet_netstack::{Duration, Instant};

use crate::harness::{A, B, IP, Memory, RING, Sim, Step, new_stack};
use crate::transfer::{PORT, Transfer};

/// A clean link with a little delay, so that segments sent at the same
/// time by both sides cross on the wire.
fn clean() -> [FaultConfig; 2] {
    let faults = FaultConfig {
        delay: Duration::from_millis(2),
        ..FaultConfig::default()
    };
    [faults.clone(), faults]
}

/// `loss` each way, with some duplication, reordering and jitter.
fn lossy(loss_ppm: u32) -> [FaultConfig; 2] {
    let faults = FaultConfig {
        loss_ppm,
        duplicate_ppm: 20_000,
        reorder_ppm: 50_000,
        corrupt_ppm: 10_000,
        delay: Duration::from_millis(2),
        jitter: Duration::from_millis(1),
        reorder_delay: Duration::from_millis(5),
    };
    [faults.clone(), faults]
}

/// The TCP flags of a frame that carries TCP (IPv4 without options), else 0.
fn tcp_flags(frame: &[u8]) -> u8 {
    const SYN_ACK_FIN: usize = 14 + 20 + 13;
    if frame.get(12..14) == Some(&[0x08, 0x00]) && frame.get(23) == Some(&6) {
        frame.get(SYN_ACK_FIN).copied().unwrap_or(0)
    } else {
        0
    }
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

/// Runs `transfer` to its end: everything read both ways, both
/// connections closed (through TIME-WAIT).
fn finish(sim: &mut Sim, transfer: &mut Transfer) -> Result<(), String> {
    sim.run_until("transfer", |sim| {
        let step = transfer.step(sim)?;
        Ok(if transfer.finished(sim) {
            Step::Done
        } else {
            step
        })
    })
}

/// Both directions arrived intact.
fn assert_intact(transfer: &Transfer) {
    for flow in &transfer.flows {
        assert_eq!(flow.read, transfer.len);
        assert_eq!(flow.mismatch, None);
    }
}

#[test]
fn setup_and_teardown_survive_lost_syn_syn_ack_fin_and_last_ack() {
    let (mut memory_a, mut memory_b) = (Memory::new(), Memory::new());
    let mut sim = Sim::new(1, &clean(), &mut memory_a, &mut memory_b);
    // Each kind of control segment is lost the first two times it is sent:
    // the SYN, the SYN-ACK, and the FINs.
    let mut dropped = [0u32; 3];
    sim.wire.borrow_mut().drop_rule = Some(Box::new(move |side, frame| {
        let flags = tcp_flags(frame);
        let kind = match (side, flags & (SYN | ACK | FIN)) {
            (B, SYN) => 0,
            (A, f) if f == SYN | ACK => 1,
            (_, f) if f & FIN != 0 => 2,
            _ => return false,
        };
        if dropped[kind] < 2 {
            dropped[kind] += 1;
            return true;
        }
        false
    }));
    let mut transfer = Transfer::start(&mut sim, 20_000);
    finish(&mut sim, &mut transfer).unwrap();
    assert_intact(&transfer);
    assert_eq!(transfer.errors, [None, None]);
    assert_eq!(sim.wire.borrow().rule_dropped.iter().sum::<u64>(), 6);
    let a = sim.stacks[A].stats().tcp.clone();
    let b = sim.stacks[B].stats().tcp.clone();
    assert!(a.retransmissions >= 2, "{a:?}");
    assert!(b.retransmissions >= 2, "{b:?}");
    assert_eq!(a.rx_resets + b.rx_resets, 0);
    // The side that closed first went through TIME-WAIT.
    assert!(
        transfer
            .states
            .iter()
            .any(|states| states.contains(&TcpState::TimeWait)),
        "{:?}",
        transfer.states
    );
}

#[test]
fn the_last_ack_lost_is_recovered_from_time_wait() {
    let (mut memory_a, mut memory_b) = (Memory::new(), Memory::new());
    let mut sim = Sim::new(2, &clean(), &mut memory_a, &mut memory_b);
    let mut transfer = Transfer::start(&mut sim, 10_000);
    // A closes first and gets B's FIN; the ACK of B's FIN is lost twice,
    // so B (LAST-ACK) resends its FIN and A (TIME-WAIT) answers again.
    transfer.close_when_sent = false;
    sim.run_until("exchange", |sim| {
        transfer.step(sim)?;
        Ok(if transfer.flows.iter().all(|f| f.read == 10_000) {
            Step::Done
        } else {
            Step::Wait
        })
    })
    .unwrap();
    let client = transfer.sockets[A].unwrap();
    let server = transfer.sockets[B].unwrap();
    sim.stacks[A].tcp(client).close();
    sim.run_until("A's FIN", |sim| {
        Ok(if sim.stacks[A].tcp(client).state() == TcpState::FinWait2 {
            Step::Done
        } else {
            Step::Wait
        })
    })
    .unwrap();
    let mut lost = 0;
    sim.wire.borrow_mut().drop_rule = Some(Box::new(move |side, frame| {
        let last_ack = side == B && tcp_flags(frame) == ACK;
        if last_ack && lost < 2 {
            lost += 1;
            return true;
        }
        false
    }));
    sim.stacks[B].tcp(server).close();
    let mut b_states = vec![];
    sim.run_until("close", |sim| {
        let state = sim.stacks[B].tcp(server).state();
        if b_states.last() != Some(&state) {
            b_states.push(state);
        }
        Ok(if state == TcpState::Closed {
            Step::Done
        } else {
            Step::Wait
        })
    })
    .unwrap();
    assert_eq!(b_states, [TcpState::LastAck, TcpState::Closed]);
    assert_eq!(sim.wire.borrow().rule_dropped[B], 2);
    assert_eq!(sim.stacks[A].tcp(client).state(), TcpState::TimeWait);
    assert!(sim.stacks[B].stats().tcp.retransmissions >= 2);
    assert_eq!(sim.stacks[B].tcp(server).error(), None);
    assert_eq!(sim.stacks[A].tcp(client).error(), None);
}

#[test]
fn setup_transfer_and_teardown_complete_under_forty_percent_loss() {
    for seed in 0..16 {
        let (mut memory_a, mut memory_b) = (Memory::new(), Memory::new());
        let mut sim = Sim::new(seed, &lossy(400_000), &mut memory_a, &mut memory_b);
        let mut transfer = Transfer::start(&mut sim, 64 * 1024);
        finish(&mut sim, &mut transfer)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}{}", sim.report()));
        assert_intact(&transfer);
        assert_eq!(transfer.errors, [None, None]);
    }
}

/// Moves `len` bytes each way without closing, then has both sides call
/// `close` in the same step; returns the states each side went through.
fn simultaneous_close(seed: u64, faults: &[FaultConfig; 2]) -> [Vec<TcpState>; 2] {
    let (mut memory_a, mut memory_b) = (Memory::new(), Memory::new());
    let mut sim = Sim::new(seed, faults, &mut memory_a, &mut memory_b);
    let mut transfer = Transfer::start(&mut sim, 50_000);
    transfer.close_when_sent = false;
    sim.run_until("exchange", |sim| {
        transfer.step(sim)?;
        let all_read = transfer.flows.iter().all(|f| f.read == transfer.len);
        Ok(if all_read { Step::Done } else { Step::Wait })
    })
    .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    // Everything is read and (the data being acknowledged) nothing is in
    // flight: both close now.
    sim.run_until("acknowledged", |sim| {
        let queued: usize = [A, B]
            .map(|side| {
                sim.stacks[side]
                    .tcp(transfer.sockets[side].unwrap())
                    .send_queue()
            })
            .iter()
            .sum();
        Ok(if queued == 0 { Step::Done } else { Step::Wait })
    })
    .unwrap();
    for side in [A, B] {
        let handle = transfer.sockets[side].unwrap();
        sim.stacks[side].tcp(handle).close();
        transfer.closed[side] = true;
    }
    finish(&mut sim, &mut transfer).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    assert_intact(&transfer);
    assert_eq!(transfer.errors, [None, None]);
    transfer.states
}

#[test]
fn simultaneous_close_goes_through_closing_and_time_wait_on_both_sides() {
    // RFC 9293 §3.6, figure 13: the FINs cross, each side sees the other's
    // FIN in FIN-WAIT-1 (CLOSING), then the ACK of its own (TIME-WAIT).
    let states = simultaneous_close(3, &clean());
    for side in [A, B] {
        let after_close: Vec<TcpState> = states[side]
            .iter()
            .copied()
            .skip_while(|&s| s != TcpState::FinWait1)
            .collect();
        assert_eq!(
            after_close,
            [
                TcpState::FinWait1,
                TcpState::Closing,
                TcpState::TimeWait,
                TcpState::Closed
            ],
            "side {side}: {:?}",
            states[side]
        );
    }
}

#[test]
fn simultaneous_close_under_loss_ends_cleanly() {
    for seed in 10..20 {
        let states = simultaneous_close(seed, &lossy(200_000));
        for side in [A, B] {
            assert_eq!(states[side].last(), Some(&TcpState::Closed), "{states:?}");
        }
    }
}

/// A transfer that A aborts once B has read `abort_after` bytes; returns it
/// with the simulation's end time.
fn reset_mid_transfer(seed: u64, faults: &[FaultConfig; 2], abort_after: usize) -> Transfer {
    let (mut memory_a, mut memory_b) = (Memory::new(), Memory::new());
    let mut sim = Sim::new(seed, faults, &mut memory_a, &mut memory_b);
    let mut transfer = Transfer::start(&mut sim, crate::TRANSFER);
    transfer.tolerate[B] = Some(TcpError::ConnectionReset);
    let mut aborted = false;
    sim.run_until("reset", |sim| {
        let step = transfer.step(sim)?;
        if !aborted && transfer.flows[A].read >= abort_after {
            sim.stacks[A].tcp(transfer.sockets[A].unwrap()).abort();
            aborted = true;
            return Ok(Step::Progress);
        }
        Ok(if transfer.errors[B].is_some() {
            Step::Done
        } else {
            step
        })
    })
    .unwrap_or_else(|e| panic!("seed {seed}: {e}{}", sim.report()));
    // A's side ended without an error of its own; B learned of the reset
    // (from the RST, or from the RSTs A sends its later segments).
    let client = transfer.sockets[A].unwrap();
    assert_eq!(sim.stacks[A].tcp(client).state(), TcpState::Closed);
    assert_eq!(sim.stacks[A].tcp(client).error(), None);
    let server = transfer.sockets[B].unwrap();
    assert_eq!(sim.stacks[B].tcp(server).state(), TcpState::Closed);
    assert!(sim.stacks[B].stats().tcp.rx_resets >= 1);
    assert!(sim.stacks[A].stats().tcp.tx_resets_abort >= 1);
    transfer
}

#[test]
fn a_reset_mid_transfer_reports_connection_reset_and_no_byte_was_wrong() {
    let transfer = reset_mid_transfer(4, &clean(), 300 * 1024);
    assert_eq!(transfer.errors[B], Some(TcpError::ConnectionReset));
    // B read a prefix of A's stream, every byte right, and no more than A sent.
    let flow = &transfer.flows[A];
    assert!(flow.read >= 300 * 1024 && flow.read <= flow.written);
    assert_eq!(flow.mismatch, None);
    // A read a prefix of B's stream, every byte right.
    assert_eq!(transfer.flows[B].mismatch, None);
}

#[test]
fn a_reset_mid_transfer_under_loss_reports_connection_reset() {
    for seed in 20..28 {
        let transfer = reset_mid_transfer(seed, &lossy(200_000), 200 * 1024);
        assert_eq!(transfer.errors[B], Some(TcpError::ConnectionReset));
        for flow in &transfer.flows {
            assert_eq!(flow.mismatch, None, "seed {seed}");
            assert!(flow.read <= flow.written);
        }
    }
}

/// Connects A (keepalive every `keepalive`) to B, exchanges a little data
/// and lets the connection go idle; returns the transfer and when the idle
/// period began.
fn idle_connection(sim: &mut Sim, keepalive: Duration) -> (Transfer, Instant) {
    let mut transfer = Transfer::start(sim, 10_000);
    transfer.close_when_sent = false;
    sim.stacks[A]
        .tcp(transfer.sockets[A].unwrap())
        .set_keepalive(Some(keepalive));
    sim.run_until("exchange", |sim| {
        transfer.step(sim)?;
        let done = transfer.flows.iter().all(|f| f.read == transfer.len)
            && [A, B].iter().all(|&side| {
                sim.stacks[side]
                    .tcp(transfer.sockets[side].unwrap())
                    .send_queue()
                    == 0
            });
        Ok(if done { Step::Done } else { Step::Wait })
    })
    .unwrap();
    let idle_since = sim.now();
    // Let delayed ACKs go out: from here on, nothing moves.
    sim.run_for(Duration::from_secs(1)).unwrap();
    (transfer, idle_since)
}

/// Runs until A's connection ends; returns its error and when it ended.
fn until_a_fails(sim: &mut Sim, transfer: &mut Transfer) -> (Option<TcpError>, Instant) {
    let client = transfer.sockets[A].unwrap();
    sim.run_until("keepalive", |sim| {
        Ok(if sim.stacks[A].tcp(client).state() == TcpState::Closed {
            Step::Done
        } else {
            Step::Wait
        })
    })
    .unwrap();
    (sim.stacks[A].tcp(client).error(), sim.now())
}

/// RFC 9293 §3.5.1 (half-open connections) and §3.5.2 (reset generation):
/// the rebooted B has no connection for A's keepalive probe (RFC 1122
/// §4.2.3.6: SEG.SEQ = SND.NXT − 1, an ACK), so it answers with a reset
/// whose SEQ is the probe's ACK field; that is exactly A's RCV.NXT, so
/// A accepts it (§3.10.7.4, RFC 5961 §3.2) and the connection is reset:
/// A reports ConnectionReset at the first probe after the reboot, rather
/// than timing out after its unanswered probes.
#[test]
fn a_rebooted_peer_is_found_by_keepalive_and_resets_the_connection() {
    for (seed, faults) in [(5, clean()), (6, lossy(200_000)), (7, lossy(200_000))] {
        let (mut memory_a, mut memory_b, mut rebooted) =
            (Memory::new(), Memory::new(), Memory::new());
        let mut sim = Sim::new(seed, &faults, &mut memory_a, &mut memory_b);
        let keepalive = Duration::from_secs(30);
        let (mut transfer, idle_since) = idle_connection(&mut sim, keepalive);
        // B reboots: a fresh stack at the same addresses, its server
        // listening again, knowing nothing of the old connection.
        sim.stacks[B] = new_stack(&mut rebooted, B, seed, 1);
        sim.stacks[B]
            .tcp_listen(PORT, 1, RING, RING)
            .expect("listener");
        let (error, at) = until_a_fails(&mut sim, &mut transfer);
        assert_eq!(error, Some(TcpError::ConnectionReset), "seed {seed}");
        // The first probe goes one interval after the last segment A got
        // (a few milliseconds before `idle_since`).
        let detected_after = at - idle_since + Duration::from_millis(100);
        assert!(detected_after >= keepalive, "seed {seed}: {detected_after}");
        if seed == 5 {
            // On a clean link that first probe finds out (plus ARP and a round trip).
            assert!(
                detected_after < keepalive + Duration::from_secs(1),
                "{detected_after}"
            );
        }
        assert!(sim.stacks[B].stats().tcp.tx_resets_no_socket >= 1);
        assert_eq!(sim.stacks[A].stats().tcp.rx_resets, 1);
    }
}

/// A peer that is gone for good never answers: after its keepalive probes
/// (RFC 1122 §4.2.3.6; 9 by default) A declares the connection dead.
#[test]
fn a_vanished_peer_is_timed_out_by_keepalive() {
    let (mut memory_a, mut memory_b) = (Memory::new(), Memory::new());
    let mut sim = Sim::new(8, &clean(), &mut memory_a, &mut memory_b);
    let keepalive = Duration::from_secs(30);
    let (mut transfer, idle_since) = idle_connection(&mut sim, keepalive);
    sim.b_off = true;
    let (error, at) = until_a_fails(&mut sim, &mut transfer);
    assert_eq!(error, Some(TcpError::TimedOut));
    // First probe after one interval, nine unanswered probes, then the end.
    let probes = u64::from(crate::harness::tcp_config().keepalive_probes);
    let expected = Duration::from_secs(30 * (probes + 1));
    let waited = at - idle_since + Duration::from_millis(100);
    assert!(
        waited >= expected && waited < expected + Duration::from_millis(200),
        "{waited}"
    );
    assert_eq!(sim.stacks[A].stats().tcp.timeouts, 1);
}

/// B reboots while A is sending: A's next segment reaches a stack with no
/// connection and is answered with a reset (RFC 9293 §3.5.2 case 1), which
/// A accepts. No keepalive is needed while data flows.
#[test]
fn a_peer_that_reboots_mid_transfer_resets_the_sender() {
    let (mut memory_a, mut memory_b, mut rebooted) = (Memory::new(), Memory::new(), Memory::new());
    let mut sim = Sim::new(9, &clean(), &mut memory_a, &mut memory_b);
    let mut transfer = Transfer::start(&mut sim, crate::TRANSFER);
    transfer.tolerate[A] = Some(TcpError::ConnectionReset);
    sim.run_until("first half", |sim| {
        let step = transfer.step(sim)?;
        Ok(if transfer.flows[A].read >= 512 * 1024 {
            Step::Done
        } else {
            step
        })
    })
    .unwrap();
    sim.stacks[B] = new_stack(&mut rebooted, B, 9, 1);
    transfer.sockets[B] = None;
    transfer.listener = None;
    sim.run_until("reset", |sim| {
        let step = transfer.step(sim)?;
        Ok(if transfer.errors[A].is_some() {
            Step::Done
        } else {
            step
        })
    })
    .unwrap();
    assert_eq!(transfer.errors[A], Some(TcpError::ConnectionReset));
    assert_eq!(transfer.flows[B].mismatch, None);
    assert!(sim.stacks[B].stats().tcp.tx_resets_no_socket >= 1);
}

/// RFC 9293 §3.5, figure 8: both sides open actively, to each other's
/// port, at the same time. The SYNs cross, each side answers with a
/// SYN-ACK from SYN-RECEIVED, and the ACKs of those make both ESTABLISHED.
#[test]
fn simultaneous_open_connects_both_sides_through_syn_received() {
    for (seed, faults) in [(11, clean()), (12, lossy(200_000)), (13, lossy(200_000))] {
        let (mut memory_a, mut memory_b) = (Memory::new(), Memory::new());
        let mut sim = Sim::new(seed, &faults, &mut memory_a, &mut memory_b);
        let ports = [5000, 5001];
        let sockets = [A, B].map(|side| {
            let handle = sim.stacks[side].add_tcp_socket(RING, RING).unwrap();
            sim.stacks[side]
                .tcp(handle)
                .connect((IP[side ^ 1], ports[side ^ 1]), ports[side])
                .unwrap();
            handle
        });
        let mut transfer = Transfer::with_sockets(sockets.map(Some), 100_000);
        finish(&mut sim, &mut transfer).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_intact(&transfer);
        assert_eq!(transfer.errors, [None, None]);
        if seed == 11 {
            for side in [A, B] {
                assert_eq!(
                    transfer.states[side][..3],
                    [
                        TcpState::SynSent,
                        TcpState::SynReceived,
                        TcpState::Established
                    ],
                    "side {side}"
                );
            }
        }
        for side in [A, B] {
            let local = sim.stacks[side]
                .tcp(sockets[side])
                .local_endpoint()
                .unwrap();
            assert_eq!(local.port, ports[side]);
        }
    }
}
