//! The application of every run: A connects to B's listener, both send a
//! byte stream at once, each side reads and checks what arrives, and closes
//! when it has sent everything.

use duet_netstack::driver::{FaultConfig, LinkStats};
use duet_netstack::rand::Rng;
use duet_netstack::stack::{ListenerHandle, TcpHandle};
use duet_netstack::tcp::{TcpError, TcpSocketStats, TcpState};
use duet_netstack::{Duration, Instant, Stats};
use sha2::{Digest, Sha256};

use crate::harness::{A, B, IP, Memory, PACKETS, RING, Sim, Step, pattern};

pub const PORT: u16 = 80;

/// One direction of a transfer: what its sender handed to TCP and what its
/// receiver read.
#[derive(Clone)]
pub struct Flow {
    pub written: usize,
    pub read: usize,
    pub digest: Sha256,
    /// Offset of the first byte read that differs from what was sent.
    pub mismatch: Option<usize>,
}

impl Flow {
    fn new() -> Self {
        Self {
            written: 0,
            read: 0,
            digest: Sha256::new(),
            mismatch: None,
        }
    }
}

/// A connection between A and B moving `len` bytes each way.
pub struct Transfer {
    pub len: usize,
    pub listener: Option<ListenerHandle>,
    pub sockets: [Option<TcpHandle>; 2],
    /// `flows[s]`: the bytes side `s` sends.
    pub flows: [Flow; 2],
    /// Each side closes once it has sent everything.
    pub close_when_sent: bool,
    pub closed: [bool; 2],
    /// States each side went through, in order (for the scenarios).
    pub states: [Vec<TcpState>; 2],
    /// The error each side may end with without failing the run (a
    /// scenario's reset or timeout), and the one it ended with.
    pub tolerate: [Option<TcpError>; 2],
    pub errors: [Option<TcpError>; 2],
}

impl Transfer {
    /// B listens, A connects.
    pub fn start(sim: &mut Sim, len: usize) -> Self {
        let listener = sim.stacks[B]
            .tcp_listen(PORT, 1, RING, RING)
            .expect("listener");
        let client = sim.stacks[A]
            .add_tcp_socket(RING, RING)
            .expect("socket slot");
        sim.stacks[A]
            .tcp(client)
            .connect((IP[B], PORT), 0)
            .expect("connect");
        let mut transfer = Self::with_sockets([Some(client), None], len);
        transfer.listener = Some(listener);
        transfer
    }

    /// A transfer over sockets the caller opened.
    pub fn with_sockets(sockets: [Option<TcpHandle>; 2], len: usize) -> Self {
        Self {
            len,
            listener: None,
            sockets,
            flows: [Flow::new(), Flow::new()],
            close_when_sent: true,
            closed: [false; 2],
            states: [vec![], vec![]],
            tolerate: [None; 2],
            errors: [None; 2],
        }
    }

    /// One application step on both sides: accept, write, close, read, and
    /// check for errors (after reading: data that arrived before a reset
    /// is still read and checked).
    pub fn step(&mut self, sim: &mut Sim) -> Result<Step, String> {
        let mut progress = false;
        if let (None, Some(listener)) = (self.sockets[B], self.listener) {
            if let Some(handle) = sim.stacks[B].tcp_accept(listener) {
                self.sockets[B] = Some(handle);
                progress = true;
            }
        }
        for side in [A, B] {
            let Some(handle) = self.sockets[side] else {
                continue;
            };
            if side == B && sim.b_off {
                continue;
            }
            let [flow_a, flow_b] = &mut self.flows;
            let (out, inbound) = if side == A {
                (flow_a, flow_b)
            } else {
                (flow_b, flow_a)
            };
            let now = sim.clock.now();
            let mut tcp = sim.stacks[side].tcp(handle);
            let state = tcp.state();
            if self.states[side].last() != Some(&state) {
                self.states[side].push(state);
            }
            let failed = tcp.error();
            if out.written < self.len && state != TcpState::Closed && failed.is_none() {
                let n = tcp
                    .send_slice(&pattern(side)[out.written..self.len])
                    .map_err(|e| format!("side {side}: send failed: {e:?} in {state:?}"))?;
                out.written += n;
                progress |= n > 0;
            }
            if self.close_when_sent && out.written == self.len && !self.closed[side] {
                tcp.close();
                self.closed[side] = true;
                progress = true;
            }
            let expected = pattern(side ^ 1);
            let len = self.len;
            loop {
                let received = tcp.recv_with(|data| {
                    let at = inbound.read;
                    let end = at + data.len();
                    if end > len {
                        return (data.len(), Err(end));
                    }
                    if inbound.mismatch.is_none() && data != &expected[at..end] {
                        let first = data
                            .iter()
                            .zip(&expected[at..end])
                            .position(|(a, b)| a != b)
                            .unwrap_or(0);
                        inbound.mismatch = Some(at + first);
                    }
                    inbound.digest.update(data);
                    inbound.read = end;
                    (data.len(), Ok(data.len()))
                });
                let n = match received {
                    Ok(Ok(n)) => n,
                    Ok(Err(end)) => {
                        return Err(format!("side {side}: read {end} bytes, more than sent"));
                    }
                    // The error, once everything before it was read.
                    Err(_) => 0,
                };
                if n == 0 {
                    break;
                }
                progress = true;
            }
            if let Some(error) = failed {
                if self.tolerate[side] != Some(error) {
                    return Err(format!(
                        "side {side}: connection failed with {error:?} in {state:?} at {now} \
                         (sent {}, read {})",
                        out.written, inbound.read
                    ));
                }
                self.errors[side] = Some(error);
            }
        }
        Ok(if progress { Step::Progress } else { Step::Wait })
    }

    /// Both sides read everything, saw the end of the stream, and their
    /// connections are fully closed (TIME-WAIT over).
    pub fn finished(&mut self, sim: &mut Sim) -> bool {
        [A, B].into_iter().all(|side| {
            let Some(handle) = self.sockets[side] else {
                return false;
            };
            let mut tcp = sim.stacks[side].tcp(handle);
            self.flows[side ^ 1].read == self.len
                && !tcp.may_recv()
                && tcp.state() == TcpState::Closed
        })
    }
}

/// The faults of one seed, drawn from it, one set per direction: loss
/// 0–30 %, duplication 0–5 %, reordering 0–10 % (held back 1–20 ms),
/// corruption 0–5 %, delay 0.1–5 ms, jitter 0–2 ms. A quarter of the time
/// each of duplication, reordering, corruption and jitter is off, so clean
/// conditions are covered too.
pub fn faults_for(seed: u64) -> [FaultConfig; 2] {
    let mut rng = Rng::new(seed.wrapping_mul(0xa076_1d64_78bd_642f) ^ 0xfa17);
    [0, 1].map(|_| {
        let mut maybe = |max: u32| {
            if rng.below(4) == 0 {
                0
            } else {
                rng.below(max + 1)
            }
        };
        let duplicate_ppm = maybe(50_000);
        let reorder_ppm = maybe(100_000);
        let corrupt_ppm = maybe(50_000);
        let jitter = Duration::from_micros(u64::from(maybe(2_000)));
        FaultConfig {
            loss_ppm: rng.below(300_001),
            duplicate_ppm,
            reorder_ppm,
            corrupt_ppm,
            delay: Duration::from_micros(100 + u64::from(rng.below(4_901))),
            jitter,
            reorder_delay: Duration::from_micros(1_000 + u64::from(rng.below(19_001))),
        }
    })
}

/// Everything a run produced; the same seed must give an equal value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Hash of every frame delivered, with its side and virtual time.
    pub trace: u64,
    /// When both connections were closed.
    pub finished_at: Instant,
    pub iterations: u64,
    pub stats: [Stats; 2],
    pub sockets: [TcpSocketStats; 2],
    /// `links[s]`: the direction side `s` transmits on.
    pub links: [LinkStats; 2],
    /// SHA-256 of what each side received.
    pub received: [[u8; 32]; 2],
    /// The states each side's connection went through.
    pub states: [Vec<TcpState>; 2],
}

/// SHA-256 of the first `len` bytes each direction sends.
pub fn sent_digest(direction: usize, len: usize) -> [u8; 32] {
    Sha256::digest(&pattern(direction)[..len]).into()
}

/// Runs one seed: connect, `len` bytes both ways at once, orderly close,
/// TIME-WAIT, and checks everything that must hold. `Err` says what broke.
pub fn run_seed(seed: u64, len: usize) -> Result<Outcome, String> {
    let faults = faults_for(seed);
    let (mut memory_a, mut memory_b) = (Memory::new(), Memory::new());
    let mut sim = Sim::new(seed, &faults, &mut memory_a, &mut memory_b);
    let mut transfer = Transfer::start(&mut sim, len);
    sim.run_until("transfer", |sim| {
        let step = transfer.step(sim)?;
        if transfer.finished(sim) {
            return Ok(Step::Done);
        }
        Ok(step)
    })
    .map_err(|error| {
        let progress: Vec<_> = transfer.flows.iter().map(|f| (f.written, f.read)).collect();
        format!(
            "{error}\n  (written, read) per direction {progress:?}, states {:?}{}",
            transfer.states,
            sim.report()
        )
    })?;
    let finished_at = sim.now();
    // Copies still on the wire (duplicates, late retransmissions) are
    // answered with resets by now socket-less stacks; let them drain.
    sim.run_until_quiet()?;

    let mut received = [[0u8; 32]; 2];
    for side in [A, B] {
        let flow = &transfer.flows[side ^ 1];
        if let Some(at) = flow.mismatch {
            return Err(format!("side {side} read a wrong byte at offset {at}"));
        }
        received[side] = flow.digest.clone().finalize().into();
        if flow.read != len || received[side] != sent_digest(side ^ 1, len) {
            return Err(format!(
                "side {side}: SHA-256 or length differs ({})",
                flow.read
            ));
        }
        let stats = sim.stacks[side].stats();
        if stats.pool.exhausted != 0 || sim.stacks[side].pool_usage().0 != PACKETS {
            return Err(format!("side {side}: pool exhausted or leaked: {stats:?}"));
        }
        let link = sim.ports[side].end.stats();
        if link.offered + link.duplicated
            != link.dropped + link.overflowed + link.delivered + sim.ports[side].end.in_flight()
            || link.overflowed != 0
        {
            return Err(format!("side {side}: link accounting: {link:?}"));
        }
    }
    let sockets = [A, B].map(|side| {
        let handle = transfer.sockets[side].expect("connected");
        sim.stacks[side].tcp(handle).stats()
    });
    Ok(Outcome {
        trace: sim.wire.borrow().trace.0,
        finished_at,
        iterations: sim.iterations,
        stats: [A, B].map(|side| sim.stacks[side].stats().clone()),
        sockets,
        links: [A, B].map(|side| sim.ports[side].end.stats()),
        received,
        states: transfer.states.clone(),
    })
}
