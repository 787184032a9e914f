//! The MQTT outbox on NOR flash (`duet::mqtt::journal`, feature `storage`):
//! publishes survive a remount in order, acknowledged ones do not come back,
//! a power cut at any byte of an append or of a compaction keeps every
//! entry that was whole, and a device that reboots with publishes queued
//! while its broker was down delivers them to a real mosquitto afterwards,
//! 5.0 properties included.
//!
//! The flash is RAM that keeps NOR rules (bits only go from 1 to 0 between
//! erases, writes and erases aligned) and can lose power after a set number
//! of written bytes.

use std::collections::BTreeSet;
use std::time::Instant as StdInstant;

use duet::mqtt::codec::{Connect, Properties, Property, Publish, frame_len};
use duet::mqtt::journal::Journal;
use duet::mqtt::outbox::{Outbox, OutboxStore, RecordState};
use duet::mqtt::{
    Backoff, Client, ClientBuffers, ClientError, ClientEvent, Clock, Connector, ProtocolVersion,
    QoS,
};
use duet::netstack::time::Duration;
use embassy_futures::block_on;

#[path = "common/mosquitto.rs"]
mod mosquitto;
use mosquitto::Broker;
use mosquitto::server_port::server_port;

#[path = "common/mqtt_std.rs"]
mod mqtt_std;
use mqtt_std::{Socket, StdClock, Tcp, poll_until};

#[path = "common/ram_flash.rs"]
mod ram_flash;
use ram_flash::RamFlash;

const HALF: u32 = 1024;

/// A publish as the journal keeps it: QoS, RETAIN, topic, payload, and
/// the 5.0 Response Topic property, if it has one.
type Message = (QoS, bool, String, Vec<u8>, Option<String>);

/// The publishes a journal holds, as its restore hands them over.
fn stored(journal: &mut Journal<&mut RamFlash>) -> Vec<Message> {
    let mut buf = vec![0u8; 4096];
    let mut outbox = Outbox::new(&mut buf);
    journal.restore(&mut outbox);
    let mut records = Vec::new();
    let mut at = 0;
    while let Some((record, next)) = outbox.get(at) {
        let response_topic = record.properties.iter().find_map(|p| match p {
            Property::ResponseTopic(topic) => Some(topic.to_owned()),
            _ => None,
        });
        records.push((
            record.qos,
            record.retain,
            record.topic.to_owned(),
            record.payload.to_vec(),
            response_topic,
        ));
        at = next;
    }
    records
}

/// The `n`th test publish: QoS 1 and 2 in turn, every third one retained,
/// every fourth with a Response Topic.
fn message(n: usize) -> Message {
    let qos = if n % 2 == 0 {
        QoS::AtLeastOnce
    } else {
        QoS::ExactlyOnce
    };
    let retain = n % 3 == 0;
    (
        qos,
        retain,
        format!("duet/journal/{n}"),
        vec![n as u8; 10 + n % 7],
        (n % 4 == 1).then(|| format!("duet/replies/{n}")),
    )
}

/// Appends the `n`th test publish to `journal` as the client does: the
/// bytes of its outbox record.
fn append(journal: &mut Journal<&mut RamFlash>, n: usize) -> bool {
    let (qos, retain, topic, payload, response_topic) = message(n);
    let given: Vec<Property<'_>> = response_topic
        .iter()
        .map(|t| Property::ResponseTopic(t))
        .collect();
    let mut buf = vec![0u8; 512];
    let mut outbox = Outbox::new(&mut buf);
    let at = outbox
        .push_with_properties(qos, retain, &topic, Properties::List(&given), &payload)
        .unwrap();
    let (delivery, topic, body) = outbox.stored(at).unwrap();
    journal.append(delivery, topic, body).is_ok()
}

#[test]
fn publishes_survive_a_remount_in_order_and_acknowledged_ones_do_not() {
    let mut flash = RamFlash::new(2 * HALF as usize);
    let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
    for n in 0..5 {
        assert!(append(&mut journal, n));
    }
    // The broker acknowledged the second and (then) the fourth.
    journal.remove(1);
    journal.remove(2);
    let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
    assert_eq!(stored(&mut journal), [message(0), message(2), message(4)]);
}

/// The bytes the `n`th test publish takes in an outbox.
fn record_size(n: usize) -> usize {
    let mut flash = RamFlash::new(2 * HALF as usize);
    let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
    assert!(append(&mut journal, n));
    let mut buf = vec![0u8; 512];
    let mut outbox = Outbox::new(&mut buf);
    journal.restore(&mut outbox);
    outbox.used()
}

/// An outbox with no room for every stored publish leaves the rest in
/// flash; acknowledging a publish made since must mark that one, not one
/// of those left behind (which would then never be sent), and a boot with
/// room enough gets them all back.
#[test]
fn publishes_an_outbox_had_no_room_for_stay_until_a_boot_that_has() {
    let mut flash = RamFlash::new(2 * HALF as usize);
    let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
    for n in 0..4 {
        assert!(append(&mut journal, n));
    }
    let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
    // Room for the first two and 8 bytes: not for the third.
    assert!(record_size(2) > 8);
    let mut buf = vec![0u8; record_size(0) + record_size(1) + 8];
    let mut outbox = Outbox::new(&mut buf);
    journal.restore(&mut outbox);
    let topics = |outbox: &Outbox<'_>| {
        let (mut at, mut topics) = (outbox.first(), Vec::new());
        while let Some((record, next)) = outbox.get(at) {
            topics.push(record.topic.to_owned());
            at = next;
        }
        topics
    };
    assert_eq!(topics(&outbox), [message(0).2, message(1).2]);
    // The first is acknowledged; a new publish takes its room, and is
    // acknowledged in turn (the outbox's second record).
    journal.acknowledged(&outbox, outbox.first());
    outbox.remove(outbox.first());
    let (qos, retain, topic, payload, _) = message(4);
    let at = outbox
        .push_with_properties(qos, retain, &topic, Properties::EMPTY, &payload)
        .unwrap();
    let (delivery, topic, body) = outbox.stored(at).unwrap();
    journal.append(delivery, topic, body).unwrap();
    journal.acknowledged(&outbox, at);
    outbox.remove(at);
    let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
    assert_eq!(stored(&mut journal), [message(1), message(2), message(3)]);
}

/// An acknowledgement whose mark the flash refuses to write must not put
/// the journal out of step with the outbox: the entry, live in flash but
/// gone from the outbox, would make the next acknowledgement mark a
/// publish still held, lost at the next reboot. The live entries move to
/// the other half without it.
#[test]
fn an_acknowledgement_the_flash_refuses_to_mark_drops_that_entry_only() {
    let mut flash = RamFlash::new(2 * HALF as usize);
    {
        let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
        for n in 0..3 {
            assert!(append(&mut journal, n));
        }
    }
    flash.refused_writes = 1;
    let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
    // The first acknowledged (its mark refused), then the third, which is
    // the outbox's second record by then.
    journal.remove(0);
    journal.remove(1);
    let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
    assert_eq!(stored(&mut journal), [message(1)]);
}

#[test]
fn a_full_half_moves_the_live_publishes_to_the_other() {
    let mut flash = RamFlash::new(2 * HALF as usize);
    let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
    // Each entry takes 12 + 4 + 28..36 bytes; keep three live while
    // appending far more than a half holds.
    let mut live = Vec::new();
    for n in 0..200 {
        assert!(append(&mut journal, n), "append {n}");
        live.push(n);
        if live.len() > 3 {
            journal.remove(0);
            live.remove(0);
        }
    }
    let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
    let expected: Vec<_> = live.iter().map(|&n| message(n)).collect();
    assert_eq!(stored(&mut journal), expected);
}

#[test]
fn a_journal_too_full_of_live_publishes_refuses_more() {
    let mut flash = RamFlash::new(2 * HALF as usize);
    let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
    let accepted = (0..100).take_while(|&n| append(&mut journal, n)).count();
    assert!((15..40).contains(&accepted), "{accepted} entries in 1 KiB");
    let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
    assert_eq!(stored(&mut journal).len(), accepted);
}

/// Runs `work` on a journal holding messages 0..3 (1 acknowledged) with the
/// power failing after `cut` written bytes, for every `cut` until `work`
/// completes, and checks what a remount finds: the live entries from
/// before, then at most one whole entry from `work` (its last append, if
/// the cut came before its acknowledgement), or exactly `completed` when
/// nothing was cut; and that the journal takes new entries afterwards, and
/// keeps them through the compactions that follow.
fn power_cut_during(work: impl Fn(&mut Journal<&mut RamFlash>), completed_adds: &[usize]) {
    let mut cut = 0;
    loop {
        let mut flash = RamFlash::new(2 * HALF as usize);
        let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
        for n in 0..3 {
            assert!(append(&mut journal, n));
        }
        journal.remove(1);
        flash.budget = Some(cut);
        let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
        work(&mut journal);
        let completed = flash.budget != Some(0);
        flash.budget = None;
        let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
        let found = stored(&mut journal);
        let before: Vec<_> = [0, 2].iter().map(|&n| message(n)).collect();
        assert_eq!(found[..2], before[..], "cut after {cut} bytes");
        assert!(found.len() <= 3, "cut after {cut} bytes: {found:?}");
        if completed {
            let added: Vec<_> = completed_adds.iter().map(|&n| message(n)).collect();
            assert_eq!(found[2..], added[..], "the work finished");
        }
        assert!(append(&mut journal, 99), "cut after {cut} bytes");
        assert_eq!(stored(&mut journal).last(), Some(&message(99)));
        // And through the compactions that follow: whatever half header
        // the cut left, the generations after it keep the newest half live.
        let kept = stored(&mut journal);
        for n in 100..160 {
            assert!(append(&mut journal, n), "cut after {cut} bytes");
            journal.remove(kept.len());
        }
        let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
        assert_eq!(
            stored(&mut journal),
            kept,
            "cut after {cut} bytes, then compactions"
        );
        if completed {
            return;
        }
        cut += 1;
    }
}

#[test]
fn a_power_cut_at_any_byte_of_an_append_keeps_every_whole_entry() {
    power_cut_during(
        |journal| {
            append(journal, 7);
        },
        &[7],
    );
}

#[test]
fn a_power_cut_at_any_byte_of_a_compaction_keeps_every_whole_entry() {
    // Fill the half with acknowledged entries so the next append compacts.
    power_cut_during(
        |journal| {
            for n in 10..60 {
                if !append(journal, n) {
                    return;
                }
                // Oldest live entries are 0 and 2; acknowledge the new one.
                journal.remove(2);
            }
        },
        &[],
    );
}

/// Reconnection delays short enough for a test.
const QUICK_RETRIES: Backoff = Backoff {
    initial: Duration::from_millis(10),
    max: Duration::from_millis(50),
};

/// The state a remount gives the publishes of `flash`, in order.
fn restored_states(flash: &mut RamFlash) -> Vec<(String, RecordState)> {
    let mut journal = Journal::mount(flash, 0, HALF).unwrap();
    let mut buf = vec![0u8; 4096];
    let mut outbox = Outbox::new(&mut buf);
    journal.restore(&mut outbox);
    let mut states = Vec::new();
    let mut at = 0;
    while let Some((record, next)) = outbox.get(at) {
        states.push((record.topic.to_owned(), record.state));
        at = next;
    }
    states
}

#[test]
fn a_power_cut_at_any_byte_of_a_mark_leaves_it_unwritten_or_whole() {
    // The identifier is written before the PUBLISH goes out and the
    // released mark before the PUBREL: a cut while writing one must read
    // back as "not yet" (that packet never left) or as the whole mark —
    // never as another identifier — and must not damage the entry, nor stop
    // the mark from being written when the packet does go out.
    for (id, released) in [(0xBEEF, false), (0x5A11, false), (0x00A5, false), (7, true)] {
        let mut cut = 0;
        loop {
            let mut flash = RamFlash::new(2 * HALF as usize);
            let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
            assert!(append(&mut journal, 0) && append(&mut journal, 1));
            let mut buf = vec![0u8; 4096];
            let mut outbox = Outbox::new(&mut buf);
            journal.restore(&mut outbox);
            let second = outbox.get(0).unwrap().1;
            if released {
                journal.sent(&outbox, second, id);
            }
            flash.budget = Some(cut);
            let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
            if released {
                journal.released(&outbox, second);
            } else {
                journal.sent(&outbox, second, id);
            }
            let completed = flash.budget != Some(0);
            flash.budget = None;
            let states = restored_states(&mut flash);
            let topics: Vec<_> = states.iter().map(|(t, _)| t.clone()).collect();
            assert_eq!(topics, [message(0).2, message(1).2], "cut after {cut}");
            assert_eq!(states[0].1, RecordState::Queued);
            let unwritten = match released {
                false => RecordState::Queued,
                true => RecordState::Sent {
                    packet_id: id,
                    released: false,
                },
            };
            let whole = RecordState::Sent {
                packet_id: id,
                released,
            };
            let found = states[1].1;
            assert!(
                found == unwritten || found == whole,
                "cut after {cut}: {found:?}"
            );
            if completed {
                assert_eq!(found, whole);
                break;
            }
            // After the reboot the packet goes out after all, so its mark
            // is written again — under the identifier restored with it, or
            // (none restored) another: it must land whatever bytes the cut
            // left where it goes.
            let again = if found == whole {
                id
            } else {
                id.wrapping_add(1)
            };
            let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
            if released {
                journal.released(&outbox, second);
            } else {
                journal.sent(&outbox, second, again);
            }
            let written = RecordState::Sent {
                packet_id: if released { id } else { again },
                released,
            };
            let states = restored_states(&mut flash);
            assert_eq!(states[1].1, written, "cut after {cut}, then written again");
            cut += 1;
        }
    }
}

/// A device's RAM: lost at every reboot.
struct DeviceMemory {
    receive: Vec<u8>,
    send: Vec<u8>,
    outbox: Vec<u8>,
}

impl DeviceMemory {
    fn new() -> DeviceMemory {
        DeviceMemory {
            receive: vec![0; 1024],
            send: vec![0; 1024],
            outbox: vec![0; 4096],
        }
    }
}

/// A device booting: its client with the outbox journal mounted from
/// `flash`, which outlives every boot.
fn boot<'b, C: Connector>(
    flash: &'b mut RamFlash,
    memory: &'b mut DeviceMemory,
    connector: C,
    connect: Connect<'b>,
    backoff: Backoff,
    seed: u32,
) -> Client<'b, C, StdClock, 20, 8, Journal<&'b mut RamFlash>> {
    Client::with_store(
        connector,
        StdClock(StdInstant::now()),
        connect,
        backoff,
        ClientBuffers {
            receive: &mut memory.receive,
            send: &mut memory.send,
            outbox: &mut memory.outbox,
            topic_aliases: [],
        },
        seed,
        Journal::mount(flash, 0, HALF).unwrap(),
    )
}

/// A subscriber's memory: receive, send and outbox buffers.
struct SubscriberMemory(Vec<u8>, Vec<u8>, Vec<u8>);

impl SubscriberMemory {
    fn new() -> SubscriberMemory {
        SubscriberMemory(vec![0; 4096], vec![0; 1024], vec![0; 64])
    }

    /// A subscribing client on `port` in this memory.
    fn client<'b>(
        &'b mut self,
        port: u16,
        connect: Connect<'b>,
        backoff: Backoff,
        seed: u32,
    ) -> Client<'b, Tcp, StdClock, 20, 64> {
        let buffers = ClientBuffers {
            receive: &mut self.0,
            send: &mut self.1,
            outbox: &mut self.2,
            topic_aliases: [],
        };
        Client::new(
            Tcp(port),
            StdClock(StdInstant::now()),
            connect,
            backoff,
            buffers,
            seed,
        )
    }
}

/// Waits for `subscriber` to connect, and subscribes it to `filter` at
/// QoS 2.
async fn subscribed(subscriber: &mut Client<'_, Tcp, StdClock, 20, 64>, filter: &str) {
    poll_until(subscriber, 10, |e| {
        matches!(e, ClientEvent::Connected { .. })
    })
    .await;
    subscriber
        .subscribe(filter, QoS::ExactlyOnce)
        .await
        .unwrap();
    poll_until(subscriber, 10, |e| {
        matches!(e, ClientEvent::Subscribed { .. })
    })
    .await;
}

/// Polls `device` until the broker acknowledged `count` of its publishes.
async fn acknowledged<C: Connector>(
    device: &mut Client<'_, C, StdClock, 20, 8, Journal<&mut RamFlash>>,
    count: usize,
) {
    let mut acknowledged = 0;
    while acknowledged < count {
        if let ClientEvent::Published { .. } = device.poll().await.unwrap() {
            acknowledged += 1;
        }
    }
}

/// The boot after a reboot of a device whose publishes waited on `flash`
/// while its broker was down: the broker comes up on `port`, a subscriber
/// (`subscriber_id`, jitter from `seeds[0]`) takes `filter`, the device
/// boots again with `connect` (`seeds[1]`), and sends what it restored,
/// until the broker has acknowledged `count` publishes. `read` gets each
/// message the subscriber receives, and says when it was the last.
#[allow(clippy::too_many_arguments)]
fn reboot_and_deliver(
    flash: &mut RamFlash,
    port: u16,
    connect: Connect<'_>,
    subscriber_id: &str,
    filter: &str,
    count: usize,
    seeds: [u32; 2],
    mut read: impl FnMut(&Publish<'_>) -> bool,
) {
    let _broker = Broker::start_on(port, "", None);
    let mut subscriber_memory = SubscriberMemory::new();
    let subscriber_connect = Connect {
        client_id: subscriber_id,
        ..connect
    };
    let mut subscriber =
        subscriber_memory.client(port, subscriber_connect, QUICK_RETRIES, seeds[0]);
    block_on(subscribed(&mut subscriber, filter));
    let mut memory = DeviceMemory::new();
    let mut device = boot(
        flash,
        &mut memory,
        Tcp(port),
        connect,
        QUICK_RETRIES,
        seeds[1],
    );
    assert!(device.outbox_used() > 0, "restored from flash");
    block_on(async {
        acknowledged(&mut device, count).await;
        poll_until(&mut subscriber, 4 * count, |e| match e {
            ClientEvent::Message(publish) => read(publish),
            _ => false,
        })
        .await;
    });
}

#[test]
fn publishes_queued_before_a_reboot_reach_the_broker_after_it() {
    // 25 entries of 32 bytes fit one 1 KiB half.
    const COUNT: usize = 25;
    let port = server_port();
    let mut flash = RamFlash::new(2 * HALF as usize);
    let connect = Connect {
        version: ProtocolVersion::V311,
        clean_start: false,
        keep_alive: 10,
        properties: Properties::EMPTY,
        client_id: "journal-device",
        will: None,
        username: None,
        password: None,
    };
    let backoff = QUICK_RETRIES;
    // Before the reboot: the broker is down; every publish waits.
    {
        let mut memory = DeviceMemory::new();
        let mut device = boot(&mut flash, &mut memory, Tcp(port), connect, backoff, 3);
        block_on(async {
            for n in 0..COUNT {
                let qos = message(n).0;
                device
                    .publish("duet/journal", format!("{n}").as_bytes(), qos)
                    .await
                    .unwrap();
            }
            assert_eq!(device.poll().await, Ok(ClientEvent::ConnectFailed));
        });
    }
    // After it: the same flash, a fresh client and RAM, and the broker up.
    let mut seen = BTreeSet::new();
    let (id, filter) = ("journal-subscriber", "duet/journal");
    reboot_and_deliver(
        &mut flash,
        port,
        connect,
        id,
        filter,
        COUNT,
        [5, 4],
        |publish| {
            let text = std::str::from_utf8(publish.payload).unwrap();
            seen.insert(text.parse::<usize>().unwrap());
            seen.len() == COUNT
        },
    );
    assert_eq!(seen, (0..COUNT).collect());
    // Everything acknowledged: nothing left for the next boot.
    let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
    assert!(stored(&mut journal).is_empty());
}

/// 5.0 publishes made with properties while the broker is down keep them
/// on flash: after a reboot each reaches a subscriber with its own
/// Response Topic and User Property, retained ones retained.
#[test]
fn publish_properties_queued_before_a_reboot_reach_the_broker_after_it() {
    const COUNT: usize = 6;
    let port = server_port();
    let mut flash = RamFlash::new(2 * HALF as usize);
    const RECEIVE_MAXIMUM: &[Property<'static>] = &[Property::ReceiveMaximum(8)];
    let connect = Connect {
        version: ProtocolVersion::V5,
        clean_start: false,
        keep_alive: 10,
        properties: Properties::List(RECEIVE_MAXIMUM),
        client_id: "journal-properties-device",
        will: None,
        username: None,
        password: None,
    };
    {
        let mut memory = DeviceMemory::new();
        let mut device = boot(
            &mut flash,
            &mut memory,
            Tcp(port),
            connect,
            QUICK_RETRIES,
            7,
        );
        block_on(async {
            for n in 0..COUNT {
                let reply_to = format!("duet/replies/{n}");
                let properties = [
                    Property::ResponseTopic(&reply_to),
                    Property::UserProperty("n", "journal"),
                ];
                let (qos, retain, ..) = message(n);
                device
                    .publish_with(
                        &format!("duet/props/{n}"),
                        format!("{n}").as_bytes(),
                        qos,
                        retain,
                        Properties::List(&properties),
                    )
                    .await
                    .unwrap();
            }
            assert_eq!(device.poll().await, Ok(ClientEvent::ConnectFailed));
        });
    }
    let mut seen = Vec::new();
    let (id, filter) = ("journal-properties-subscriber", "duet/props/+");
    reboot_and_deliver(
        &mut flash,
        port,
        connect,
        id,
        filter,
        COUNT,
        [9, 8],
        |publish| {
            let n: usize = std::str::from_utf8(publish.payload)
                .unwrap()
                .parse()
                .unwrap();
            let properties: Vec<_> = publish.properties.iter().collect();
            assert_eq!(
                properties,
                [
                    Property::ResponseTopic(&format!("duet/replies/{n}")),
                    Property::UserProperty("n", "journal"),
                ],
                "message {n}"
            );
            assert_eq!(publish.topic, format!("duet/props/{n}"));
            seen.push(n);
            seen.len() == COUNT
        },
    );
    seen.sort();
    assert_eq!(seen, (0..COUNT).collect::<Vec<_>>());
}

/// A device's connection that loses power right after the `nth` whole
/// packet whose first byte is `header` went out: every read and write
/// fails from then on, as if the board had died between that packet and
/// whatever the broker answers.
struct PowerCutAfter {
    tcp: Tcp,
    header: u8,
    left: usize,
    /// Set when the power is cut: the test stops running this boot.
    dead: std::rc::Rc<std::cell::Cell<bool>>,
}

struct DyingSocket {
    socket: Socket,
    header: u8,
    left: usize,
    dead: std::rc::Rc<std::cell::Cell<bool>>,
}

impl Connector for PowerCutAfter {
    type Transport = DyingSocket;

    async fn connect(&mut self) -> Result<DyingSocket, embedded_io::ErrorKind> {
        Ok(DyingSocket {
            socket: self.tcp.connect().await?,
            header: self.header,
            left: self.left,
            dead: self.dead.clone(),
        })
    }
}

impl embedded_io_async::ErrorType for DyingSocket {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io_async::Read for DyingSocket {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, embedded_io::ErrorKind> {
        if self.dead.get() {
            return Err(embedded_io::ErrorKind::ConnectionReset);
        }
        self.socket.read(buf).await
    }
}

impl embedded_io_async::Write for DyingSocket {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, embedded_io::ErrorKind> {
        if self.dead.get() {
            return Err(embedded_io::ErrorKind::ConnectionReset);
        }
        // Packet by packet (the client writes what is due together): the
        // power goes right after the `left`-th packet with the header.
        let mut sent = 0;
        while sent < buf.len() {
            let rest = &buf[sent..];
            let len = frame_len(rest)
                .ok()
                .filter(|len| *len <= rest.len())
                .unwrap_or(rest.len());
            embedded_io_async::Write::write_all(&mut self.socket, &rest[..len]).await?;
            sent += len;
            if rest[0] == self.header {
                self.left = self.left.saturating_sub(1);
                if self.left == 0 {
                    self.dead.set(true);
                    break;
                }
            }
        }
        Ok(sent)
    }

    async fn flush(&mut self) -> Result<(), embedded_io::ErrorKind> {
        Ok(())
    }
}

/// First bytes of a QoS 2 PUBLISH (DUP 0, RETAIN 0) and of a PUBREL.
const PUBLISH_QOS2: u8 = 0x34;
const PUBREL: u8 = 0x62;

#[test]
fn qos2_publishes_stay_exactly_once_across_reboots() {
    // A device publishes QoS 2 messages and dies again and again: right
    // after a PUBREL went out (the broker has delivered the message and
    // forgotten the identifier once PUBCOMP is sent, which the device never
    // sees), or right after a PUBLISH (no PUBREC seen). Each boot mounts
    // the same flash with a fresh client and RAM and resumes its session.
    // A subscriber must get every message exactly once: a publish restored
    // from flash goes out under the identifier it had (the broker discards
    // the duplicate PUBLISH of an exchange it still holds) or, once PUBREC
    // was seen, only as a PUBREL (a PUBLISH would be a new message to it).
    // Enough messages that every boot but the last dies before they are
    // all out (a boot sends what is due together, so it gets further).
    const TOTAL: usize = 200;
    const BOOTS: usize = 24;
    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let broker = Broker::start("");
        let port = broker.port;
        let topic = "duet/reboots";
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<usize>::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let subscriber = {
            let (received, stop) = (received.clone(), stop.clone());
            let (subscribed_tx, subscribed_rx) = std::sync::mpsc::channel();
            let thread = std::thread::spawn(move || {
                let mut memory = SubscriberMemory::new();
                // A session that outlives its connection: the client
                // reconnects when the broker sends more than it can hold
                // (`Session::withheld`), which must keep the subscription.
                let connect = Connect {
                    version,
                    clean_start: false,
                    keep_alive: 10,
                    properties: Properties::List(&[
                        Property::ReceiveMaximum(64),
                        Property::SessionExpiryInterval(600),
                    ]),
                    client_id: "reboots-subscriber",
                    will: None,
                    username: None,
                    password: None,
                };
                let mut subscriber = memory.client(port, connect, Backoff::default(), 7);
                block_on(async {
                    assert!(matches!(
                        subscriber.poll().await,
                        Ok(ClientEvent::Connected { .. })
                    ));
                    subscriber.subscribe(topic, QoS::ExactlyOnce).await.unwrap();
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        subscriber
                            .wake_at(Some(subscriber.clock().now() + Duration::from_millis(50)));
                        match subscriber.poll().await.unwrap() {
                            ClientEvent::Subscribed { .. } => subscribed_tx.send(()).unwrap(),
                            ClientEvent::Message(publish) => {
                                let text = std::str::from_utf8(publish.payload).unwrap();
                                received.lock().unwrap().push(text.parse().unwrap());
                            }
                            _ => {}
                        }
                    }
                });
            });
            subscribed_rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("subscribed");
            thread
        };
        // 5.0: the session outlives the connection only if asked to.
        let properties = [
            Property::ReceiveMaximum(8),
            Property::SessionExpiryInterval(600),
        ];
        let connect = Connect {
            version,
            clean_start: false,
            keep_alive: 10,
            properties: Properties::List(&properties),
            client_id: "reboots-device",
            will: None,
            username: None,
            password: None,
        };
        let backoff = QUICK_RETRIES;
        let mut flash = RamFlash::new(2 * HALF as usize);
        let mut next = 0;
        let mut restored_boots = 0;
        let mut cuts = 0;
        for boot_number in 0..=BOOTS {
            let last = boot_number == BOOTS;
            let dead = std::rc::Rc::new(std::cell::Cell::new(false));
            let cut = PowerCutAfter {
                tcp: Tcp(port),
                header: if boot_number % 2 == 0 {
                    PUBREL
                } else {
                    PUBLISH_QOS2
                },
                // Past the resends a restored outbox makes on connecting.
                left: if last {
                    usize::MAX
                } else {
                    2 + boot_number % 5
                },
                dead: dead.clone(),
            };
            let mut memory = DeviceMemory::new();
            let mut device = boot(&mut flash, &mut memory, cut, connect, backoff, 9);
            restored_boots += usize::from(device.outbox_used() > 0);
            block_on(async {
                while !dead.get() && (next < TOTAL || device.outbox_used() > 0) {
                    if next < TOTAL {
                        match device
                            .publish(topic, format!("{next}").as_bytes(), QoS::ExactlyOnce)
                            .await
                        {
                            Ok(_) => next += 1,
                            Err(ClientError::OutboxFull) => {}
                            Err(e) => panic!("publish: {e:?}"),
                        }
                    }
                    device.wake_at(Some(device.clock().now() + Duration::from_millis(20)));
                    device.poll().await.unwrap();
                }
            });
            cuts += usize::from(dead.get());
            if next == TOTAL && !dead.get() {
                break;
            }
        }
        let deadline = StdInstant::now() + std::time::Duration::from_secs(10);
        let distinct = || {
            received
                .lock()
                .unwrap()
                .iter()
                .collect::<BTreeSet<_>>()
                .len()
        };
        while distinct() < TOTAL && StdInstant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        subscriber.join().unwrap();
        let received = received.lock().unwrap().clone();
        let mut counts = vec![0usize; TOTAL];
        for n in &received {
            counts[*n] += 1;
        }
        let lost: Vec<usize> = (0..TOTAL).filter(|n| counts[*n] == 0).collect();
        let duplicated: Vec<usize> = (0..TOTAL).filter(|n| counts[*n] > 1).collect();
        assert!(lost.is_empty(), "{version:?}: lost {lost:?}");
        assert!(
            duplicated.is_empty(),
            "{version:?}: duplicated {duplicated:?}"
        );
        assert_eq!(cuts, BOOTS, "{version:?}: every boot but the last dies");
        assert!(
            restored_boots >= BOOTS / 2,
            "{version:?}: only {restored_boots} boots found publishes in flash"
        );
        let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
        assert!(stored(&mut journal).is_empty(), "{version:?}");
    }
}

#[test]
fn restored_publishes_claiming_one_identifier_are_both_delivered() {
    // Two entries whose identifier marks read the same (as a mark damaged
    // in a way its check misses could): the second waits until the first's
    // exchange frees the identifier, then goes out under it; neither is
    // lost and the outbox does not stall.
    let broker = Broker::start("");
    let mut flash = RamFlash::new(2 * HALF as usize);
    {
        let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
        assert!(append(&mut journal, 1) && append(&mut journal, 3));
        let mut buf = vec![0u8; 4096];
        let mut outbox = Outbox::new(&mut buf);
        journal.restore(&mut outbox);
        let second = outbox.get(0).unwrap().1;
        journal.sent(&outbox, 0, 42);
        journal.sent(&outbox, second, 42);
    }
    let connect = |client_id| Connect {
        version: ProtocolVersion::V311,
        clean_start: true,
        keep_alive: 10,
        properties: Properties::EMPTY,
        client_id,
        will: None,
        username: None,
        password: None,
    };
    let mut subscriber_memory = SubscriberMemory::new();
    let subscriber_connect = connect("twins-subscriber");
    let mut subscriber =
        subscriber_memory.client(broker.port, subscriber_connect, QUICK_RETRIES, 5);
    let mut memory = DeviceMemory::new();
    let mut device = boot(
        &mut flash,
        &mut memory,
        Tcp(broker.port),
        connect("twins-device"),
        QUICK_RETRIES,
        6,
    );
    let mut topics = BTreeSet::new();
    block_on(async {
        subscribed(&mut subscriber, "duet/journal/+").await;
        acknowledged(&mut device, 2).await;
        while topics.len() < 2 {
            if let ClientEvent::Message(publish) = subscriber.poll().await.unwrap() {
                topics.insert(publish.topic.to_owned());
            }
        }
    });
    assert_eq!(topics, BTreeSet::from([message(1).2, message(3).2]));
}

#[test]
fn a_released_mark_without_an_identifier_is_dropped_when_the_identifier_comes() {
    // No power cut leaves a released mark before the identifier (it is
    // written after it), but foreign bytes in the region can: the
    // identifier written later must not make it count.
    let mut flash = RamFlash::new(2 * HALF as usize);
    let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
    assert!(append(&mut journal, 0));
    // With 4-byte writes: the half header (8), then the entry's header
    // (12), acknowledged mark (4), identifier (4) and released mark.
    flash.bytes[8 + 12 + 4 + 4] = 0x00;
    let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
    let mut buf = vec![0u8; 4096];
    let mut outbox = Outbox::new(&mut buf);
    journal.restore(&mut outbox);
    assert_eq!(outbox.get(0).unwrap().0.state, RecordState::Queued);
    journal.sent(&outbox, 0, 7);
    let states = restored_states(&mut flash);
    let sent = RecordState::Sent {
        packet_id: 7,
        released: false,
    };
    assert_eq!(states, [(message(0).2, sent)]);
}
