//! Packet capture in the classic libpcap file format, and a driver wrapper
//! that records every frame another driver carries.
//!
//! Format: the libpcap "savefile" (draft-ietf-opsawg-pcap, §4 file header and
//! §5 packet record), written little-endian with microsecond timestamps, which
//! every reader (tcpdump, Wireshark, scapy) accepts. Timestamps are the
//! caller's [`Instant`]s, so a capture from a virtual-time simulation shows
//! virtual time.

use std::cell::RefCell;
use std::io::{self, Write};
use std::task::Context;

use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState};

use crate::time::Instant;

/// Magic number for microsecond timestamps (§4); a reader tells the byte order from it.
const MAGIC_MICROSECONDS: u32 = 0xa1b2_c3d4;
const VERSION_MAJOR: u16 = 2;
const VERSION_MINOR: u16 = 4;
/// Longest part of a frame stored; longer frames keep their original length in the record.
pub const SNAPLEN: u32 = 65_535;
/// LinkType for IEEE 802.3 Ethernet (tcpdump.org link-layer header types).
pub const LINKTYPE_ETHERNET: u32 = 1;

/// Writes a libpcap capture of Ethernet frames to `W`.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the 24-byte file header (§4) and returns the writer.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&MAGIC_MICROSECONDS.to_le_bytes());
        header[4..6].copy_from_slice(&VERSION_MAJOR.to_le_bytes());
        header[6..8].copy_from_slice(&VERSION_MINOR.to_le_bytes());
        // 8..16: two reserved fields (formerly thiszone and sigfigs), zero.
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&header)?;
        Ok(Self { out })
    }

    /// Appends one packet record (§5): timestamp, captured and original
    /// length, then at most [`SNAPLEN`] bytes of the frame.
    pub fn write_frame(&mut self, at: Instant, frame: &[u8]) -> io::Result<()> {
        let micros = at.as_micros();
        // The seconds field is 32 bits (it lasts until 2106 from the Unix epoch).
        let seconds = u32::try_from(micros / 1_000_000).unwrap_or(u32::MAX);
        let fraction = (micros % 1_000_000) as u32;
        let captured = frame.len().min(SNAPLEN as usize);
        let original = u32::try_from(frame.len()).unwrap_or(u32::MAX);

        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&seconds.to_le_bytes());
        record[4..8].copy_from_slice(&fraction.to_le_bytes());
        record[8..12].copy_from_slice(&(captured as u32).to_le_bytes());
        record[12..16].copy_from_slice(&original.to_le_bytes());
        self.out.write_all(&record)?;
        self.out.write_all(&frame[..captured])
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Gives the underlying writer back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// The writer plus what went wrong with it, shared by the tokens.
#[derive(Debug)]
struct Capture<W: Write> {
    writer: PcapWriter<W>,
    frames: u64,
    /// First write error; recording stops there so the file stays well formed
    /// up to the last complete record.
    error: Option<io::Error>,
}

impl<W: Write> Capture<W> {
    fn record(&mut self, at: Instant, frame: &[u8]) {
        if self.error.is_some() {
            return;
        }
        match self.writer.write_frame(at, frame) {
            Ok(()) => self.frames += 1,
            Err(error) => self.error = Some(error),
        }
    }
}

/// A [`Driver`] that passes everything to `D` and records each frame it
/// receives or transmits.
///
/// Token `consume` cannot fail, so a write error does not reach the stack:
/// capture stops and the error waits in [`PcapDriver::take_error`].
pub struct PcapDriver<D: Driver, W: Write> {
    inner: D,
    capture: RefCell<Capture<W>>,
    clock: Box<dyn Fn() -> Instant>,
}

impl<D: Driver, W: Write> core::fmt::Debug for PcapDriver<D, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PcapDriver")
            .field("frames_written", &self.frames_written())
            .finish_non_exhaustive()
    }
}

impl<D: Driver, W: Write> PcapDriver<D, W> {
    /// Wraps `inner`; `clock` stamps each record (pass the simulation's clock
    /// for virtual time, or a wall clock on a real link).
    pub fn new(inner: D, writer: PcapWriter<W>, clock: impl Fn() -> Instant + 'static) -> Self {
        Self {
            inner,
            capture: RefCell::new(Capture {
                writer,
                frames: 0,
                error: None,
            }),
            clock: Box::new(clock),
        }
    }

    /// The wrapped driver.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The wrapped driver, mutably (frames it carries this way are not recorded).
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// Records written so far.
    pub fn frames_written(&self) -> u64 {
        self.capture.borrow().frames
    }

    /// The write error that stopped the capture, if any.
    pub fn take_error(&self) -> Option<io::Error> {
        self.capture.borrow_mut().error.take()
    }

    /// Gives back the driver and the writer.
    pub fn into_inner(self) -> (D, PcapWriter<W>) {
        (self.inner, self.capture.into_inner().writer)
    }
}

impl<D: Driver, W: Write> Driver for PcapDriver<D, W> {
    type RxToken<'a>
        = PcapRxToken<'a, D::RxToken<'a>, W>
    where
        Self: 'a;
    type TxToken<'a>
        = PcapTxToken<'a, D::TxToken<'a>, W>
    where
        Self: 'a;

    fn receive(&mut self, cx: &mut Context) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (rx, tx) = self.inner.receive(cx)?;
        let clock = &*self.clock;
        Some((
            PcapRxToken {
                inner: rx,
                capture: &self.capture,
                clock,
            },
            PcapTxToken {
                inner: tx,
                capture: &self.capture,
                clock,
            },
        ))
    }

    fn transmit(&mut self, cx: &mut Context) -> Option<Self::TxToken<'_>> {
        let tx = self.inner.transmit(cx)?;
        Some(PcapTxToken {
            inner: tx,
            capture: &self.capture,
            clock: &*self.clock,
        })
    }

    fn link_state(&mut self, cx: &mut Context) -> LinkState {
        self.inner.link_state(cx)
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn hardware_address(&self) -> HardwareAddress {
        self.inner.hardware_address()
    }
}

/// Receive token of a [`PcapDriver`].
pub struct PcapRxToken<'a, T, W: Write> {
    inner: T,
    capture: &'a RefCell<Capture<W>>,
    clock: &'a dyn Fn() -> Instant,
}

impl<T, W: Write> core::fmt::Debug for PcapRxToken<'_, T, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PcapRxToken").finish_non_exhaustive()
    }
}

impl<T: embassy_net_driver::RxToken, W: Write> embassy_net_driver::RxToken
    for PcapRxToken<'_, T, W>
{
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let Self {
            inner,
            capture,
            clock,
        } = self;
        inner.consume(|frame| {
            // Recorded before the stack sees it: the stack may rewrite the
            // buffer in place (an echo reply built over its request).
            capture.borrow_mut().record(clock(), frame);
            f(frame)
        })
    }
}

/// Transmit token of a [`PcapDriver`].
pub struct PcapTxToken<'a, T, W: Write> {
    inner: T,
    capture: &'a RefCell<Capture<W>>,
    clock: &'a dyn Fn() -> Instant,
}

impl<T, W: Write> core::fmt::Debug for PcapTxToken<'_, T, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PcapTxToken").finish_non_exhaustive()
    }
}

impl<T: embassy_net_driver::TxToken, W: Write> embassy_net_driver::TxToken
    for PcapTxToken<'_, T, W>
{
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let Self {
            inner,
            capture,
            clock,
        } = self;
        inner.consume(len, |frame| {
            let result = f(frame);
            capture.borrow_mut().record(clock(), frame);
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::test_frames::{self, arp_request, numbered, udp};
    use crate::driver::virtual_link::{FaultConfig, LinkConfig, VirtualClock, VirtualLink};
    use crate::time::Duration;
    use embassy_net_driver::{RxToken as _, TxToken as _};
    use std::task::Waker;
    use std::vec::Vec;

    /// One record as a reader sees it.
    #[derive(Debug, PartialEq)]
    struct Record {
        seconds: u32,
        micros: u32,
        original_len: u32,
        data: Vec<u8>,
    }

    /// A minimal libpcap reader: checks the file header, returns the records.
    fn read_capture(bytes: &[u8]) -> Vec<Record> {
        let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        assert!(bytes.len() >= 24, "file header");
        assert_eq!(u32_at(0), 0xa1b2_c3d4);
        assert_eq!((u16_at(4), u16_at(6)), (2, 4));
        assert_eq!((u32_at(8), u32_at(12)), (0, 0));
        assert_eq!(u32_at(16), 65_535);
        assert_eq!(u32_at(20), 1, "LINKTYPE_ETHERNET");

        let mut records = Vec::new();
        let mut at = 24;
        while at < bytes.len() {
            let captured = u32_at(at + 8) as usize;
            let start = at + 16;
            records.push(Record {
                seconds: u32_at(at),
                micros: u32_at(at + 4),
                original_len: u32_at(at + 12),
                data: bytes[start..start + captured].to_vec(),
            });
            at = start + captured;
        }
        assert_eq!(at, bytes.len(), "no trailing bytes");
        records
    }

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    #[test]
    fn header_and_record_have_the_libpcap_layout() {
        let mut writer = PcapWriter::new(Vec::new()).unwrap();
        writer
            .write_frame(Instant::from_micros(3_000_123), &[0xaa, 0xbb, 0xcc])
            .unwrap();
        let bytes = writer.into_inner();
        #[rustfmt::skip]
        let expected: [u8; 43] = [
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, // magic, version 2.4
            0, 0, 0, 0, 0, 0, 0, 0,             // reserved
            0xff, 0xff, 0, 0, 1, 0, 0, 0,       // snaplen 65535, Ethernet
            3, 0, 0, 0, 0x7b, 0, 0, 0,          // 3 s, 123 us
            3, 0, 0, 0, 3, 0, 0, 0,             // captured 3 of 3
            0xaa, 0xbb, 0xcc,
        ];
        assert_eq!(bytes, expected);
    }

    #[test]
    fn frames_longer_than_the_snaplen_are_cut_but_keep_their_length() {
        let mut writer = PcapWriter::new(Vec::new()).unwrap();
        let jumbo: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        writer.write_frame(Instant::ZERO, &jumbo).unwrap();
        let records = read_capture(writer.get_ref());
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].original_len, 70_000);
        assert_eq!(records[0].data, jumbo[..65_535]);
    }

    /// A and B on a 1 ms link, both recorded: A sends three frames at 1 s,
    /// 1.5 s and 2.25 s; B answers the second through the tx token that came
    /// with it.
    #[test]
    fn a_pcap_driver_records_what_it_sends_and_receives() {
        let clock = VirtualClock::new(Instant::from_secs(1));
        let faults = FaultConfig {
            delay: Duration::from_millis(1),
            ..FaultConfig::default()
        };
        let link = LinkConfig {
            faults,
            ..LinkConfig::default()
        };
        let (a, b) = VirtualLink::pair(clock.clone(), 1, link);
        let stamp = |clock: &VirtualClock| {
            let clock = clock.clone();
            move || clock.now()
        };
        let mut a = PcapDriver::new(a, PcapWriter::new(Vec::new()).unwrap(), stamp(&clock));
        let mut b = PcapDriver::new(b, PcapWriter::new(Vec::new()).unwrap(), stamp(&clock));
        assert_eq!(a.hardware_address(), a.inner().hardware_address());
        assert_eq!(a.capabilities().max_transmission_unit, 1514);
        assert!(a.link_state(&mut cx()) == LinkState::Up);

        let sent = [
            numbered(1),
            arp_request(test_frames::MAC_A, [10, 0, 0, 1], [10, 0, 0, 2]),
        ];
        let reply = udp(7, 7, b"reply");
        let send_times = [1_000_000, 1_500_000, 2_250_000];
        let frames = [&sent[0], &sent[1], &sent[0]];
        for (at, frame) in send_times.iter().zip(frames) {
            clock.set(Instant::from_micros(*at));
            let token = a.transmit(&mut cx()).unwrap();
            token.consume(frame.len(), |buf| buf.copy_from_slice(frame));
            clock.advance(Duration::from_millis(1));
            let (rx, tx) = b.receive(&mut cx()).unwrap();
            let is_arp = rx.consume(|buf| {
                let is_arp = buf[12..14] == [0x08, 0x06];
                buf.fill(0); // the stack may scribble on its receive buffer
                is_arp
            });
            if is_arp {
                tx.consume(reply.len(), |buf| buf.copy_from_slice(&reply));
            }
        }
        clock.advance(Duration::from_millis(1));
        let (rx, _) = a.receive(&mut cx()).unwrap();
        assert_eq!(rx.consume(|buf| buf.to_vec()), reply);

        assert_eq!((a.frames_written(), b.frames_written()), (4, 4));
        assert!(a.take_error().is_none() && b.take_error().is_none());
        let (_, a_writer) = a.into_inner();
        let (_, b_writer) = b.into_inner();
        let record = |micros: u32, at: u64, frame: &Vec<u8>| Record {
            seconds: (at / 1_000_000) as u32,
            micros,
            original_len: frame.len() as u32,
            data: frame.clone(),
        };
        assert_eq!(
            read_capture(&a_writer.into_inner()),
            [
                record(0, 1_000_000, &sent[0]),
                record(500_000, 1_500_000, &sent[1]),
                record(250_000, 2_250_000, &sent[0]),
                record(252_000, 2_252_000, &reply),
            ]
        );
        assert_eq!(
            read_capture(&b_writer.into_inner()),
            [
                record(1_000, 1_001_000, &sent[0]),
                record(501_000, 1_501_000, &sent[1]),
                record(501_000, 1_501_000, &reply),
                record(251_000, 2_251_000, &sent[0]),
            ]
        );
    }

    /// Accepts `budget` bytes, then fails.
    struct FailingWriter {
        budget: usize,
    }

    impl Write for FailingWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.budget == 0 {
                return Err(io::Error::other("disk full"));
            }
            let n = buf.len().min(self.budget);
            self.budget -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_write_error_stops_the_capture_but_not_the_traffic() {
        let clock = VirtualClock::default();
        let (a, mut b) = VirtualLink::pair(clock.clone(), 1, LinkConfig::default());
        let writer = PcapWriter::new(FailingWriter {
            budget: 24 + 16 + 60,
        })
        .unwrap();
        let mut a = PcapDriver::new(a, writer, move || clock.now());
        for n in 0..3 {
            let frame = numbered(n);
            let token = a.transmit(&mut cx()).unwrap();
            token.consume(frame.len(), |buf| buf.copy_from_slice(&frame));
        }
        assert_eq!(a.frames_written(), 1);
        assert_eq!(
            a.take_error().map(|e| e.to_string()),
            Some("disk full".into())
        );
        assert!(a.take_error().is_none());
        let mut delivered = 0;
        while let Some((rx, _)) = b.receive(&mut cx()) {
            rx.consume(|_| delivered += 1);
        }
        assert_eq!(delivered, 3);
    }

    /// CI installs tcpdump; a missing tcpdump is a failure, not a skip.
    #[test]
    fn tcpdump_reads_the_capture() {
        let mut writer = PcapWriter::new(Vec::new()).unwrap();
        let arp = arp_request(test_frames::MAC_A, [10, 99, 0, 2], [10, 99, 0, 1]);
        writer
            .write_frame(Instant::from_micros(1_000_001), &arp)
            .unwrap();
        writer
            .write_frame(Instant::from_micros(2_500_000), &udp(1234, 5678, b"hello"))
            .unwrap();
        let path = std::env::temp_dir().join(std::format!(
            "duet-pcap-{}-tcpdump.pcap",
            std::process::id()
        ));
        std::fs::write(&path, writer.into_inner()).unwrap();

        let output = std::process::Command::new("tcpdump")
            .args(["-r"])
            .arg(&path)
            .args(["-nn", "-tt"])
            .output();
        std::fs::remove_file(&path).unwrap();
        let output = output.expect("tcpdump must be installed (apt-get install tcpdump)");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{stdout}");
        assert!(
            lines[0].starts_with("1.000001 ARP, Request who-has 10.99.0.1 tell 10.99.0.2"),
            "{stdout}"
        );
        assert!(
            lines[1].starts_with("2.500000 IP 10.0.0.1.1234 > 10.0.0.2.5678: UDP, length 5"),
            "{stdout}"
        );
    }
}
