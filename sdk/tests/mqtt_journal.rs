//! The MQTT outbox on NOR flash (`duet::mqtt::journal`, feature `storage`):
//! publishes survive a remount in order, acknowledged ones do not come back,
//! a power cut at any byte of an append or of a compaction keeps every
//! entry that was whole, and a device that reboots with publishes queued
//! while its broker was down delivers them to a real mosquitto afterwards.
//!
//! The flash is RAM that keeps NOR rules (bits only go from 1 to 0 between
//! erases, writes and erases aligned) and can lose power after a set number
//! of written bytes.

use std::collections::BTreeSet;
use std::time::Instant as StdInstant;

use duet::mqtt::codec::{Connect, Properties};
use duet::mqtt::journal::Journal;
use duet::mqtt::outbox::{Outbox, OutboxStore};
use duet::mqtt::{Backoff, Client, ClientBuffers, ClientEvent, ProtocolVersion, QoS};
use duet::netstack::time::Duration;
use embassy_futures::block_on;
use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

#[path = "common/mosquitto.rs"]
mod mosquitto;
use mosquitto::Broker;
use mosquitto::server_port::server_port;

#[path = "common/mqtt_std.rs"]
mod mqtt_std;
use mqtt_std::{StdClock, Tcp};

const ERASE: usize = 256;
const HALF: u32 = 1024;

/// NOR flash in RAM, with a power cut after `budget` more written bytes.
struct RamFlash {
    bytes: Vec<u8>,
    budget: Option<usize>,
}

#[derive(Debug)]
struct PowerLost;

impl NorFlashError for PowerLost {
    fn kind(&self) -> NorFlashErrorKind {
        NorFlashErrorKind::Other
    }
}

impl RamFlash {
    fn new() -> RamFlash {
        RamFlash {
            bytes: vec![0xFF; 2 * HALF as usize],
            budget: None,
        }
    }
}

impl ErrorType for RamFlash {
    type Error = PowerLost;
}

impl ReadNorFlash for RamFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), PowerLost> {
        let at = offset as usize;
        bytes.copy_from_slice(&self.bytes[at..at + bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.bytes.len()
    }
}

impl NorFlash for RamFlash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), PowerLost> {
        assert!(from as usize % ERASE == 0 && to as usize % ERASE == 0);
        if self.budget == Some(0) {
            return Err(PowerLost);
        }
        self.bytes[from as usize..to as usize].fill(0xFF);
        Ok(())
    }

    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), PowerLost> {
        let at = offset as usize;
        assert!(at % 4 == 0 && data.len() % 4 == 0, "unaligned write");
        for (i, byte) in data.iter().enumerate() {
            if let Some(budget) = self.budget.as_mut() {
                if *budget == 0 {
                    return Err(PowerLost);
                }
                *budget -= 1;
            }
            let old = self.bytes[at + i];
            assert_eq!(old & byte, *byte, "a 0 bit written back to 1 at {}", at + i);
            self.bytes[at + i] = old & byte;
        }
        Ok(())
    }
}

/// The publishes a journal holds, as its restore hands them over.
fn stored(journal: &mut Journal<&mut RamFlash>) -> Vec<(QoS, String, Vec<u8>)> {
    let mut buf = vec![0u8; 4096];
    let mut outbox = Outbox::new(&mut buf);
    journal.restore(&mut outbox);
    let mut records = Vec::new();
    let mut at = 0;
    while let Some((record, next)) = outbox.get(at) {
        records.push((record.qos, record.topic.to_owned(), record.payload.to_vec()));
        at = next;
    }
    records
}

fn message(n: usize) -> (QoS, String, Vec<u8>) {
    let qos = if n % 2 == 0 {
        QoS::AtLeastOnce
    } else {
        QoS::ExactlyOnce
    };
    (qos, format!("duet/journal/{n}"), vec![n as u8; 10 + n % 7])
}

fn append(journal: &mut Journal<&mut RamFlash>, n: usize) -> bool {
    let (qos, topic, payload) = message(n);
    journal.append(qos, &topic, &payload).is_ok()
}

#[test]
fn publishes_survive_a_remount_in_order_and_acknowledged_ones_do_not() {
    let mut flash = RamFlash::new();
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

#[test]
fn a_full_half_moves_the_live_publishes_to_the_other() {
    let mut flash = RamFlash::new();
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
    let mut flash = RamFlash::new();
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
/// nothing was cut; and that the journal takes new entries afterwards.
fn power_cut_during(work: impl Fn(&mut Journal<&mut RamFlash>), completed_adds: &[usize]) {
    let mut cut = 0;
    loop {
        let mut flash = RamFlash::new();
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
fn boot<'b>(
    flash: &'b mut RamFlash,
    memory: &'b mut DeviceMemory,
    port: u16,
    connect: Connect<'b>,
    backoff: Backoff,
    seed: u32,
) -> Client<'b, Tcp, StdClock, 20, 8, Journal<&'b mut RamFlash>> {
    Client::with_store(
        Tcp(port),
        StdClock(StdInstant::now()),
        connect,
        backoff,
        ClientBuffers {
            receive: &mut memory.receive,
            send: &mut memory.send,
            outbox: &mut memory.outbox,
        },
        seed,
        Journal::mount(flash, 0, HALF).unwrap(),
    )
}

#[test]
fn publishes_queued_before_a_reboot_reach_the_broker_after_it() {
    // 25 entries of 32 bytes fit one 1 KiB half.
    const COUNT: usize = 25;
    let port = server_port();
    let mut flash = RamFlash::new();
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
    let backoff = Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
    };
    // Before the reboot: the broker is down; every publish waits.
    {
        let mut memory = DeviceMemory::new();
        let mut device = boot(&mut flash, &mut memory, port, connect, backoff, 3);
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
    let _broker = Broker::start_on(port, "", None);
    let mut subscriber_memory = (vec![0; 4096], vec![0; 1024], vec![0; 64]);
    let mut subscriber: Client<'_, Tcp, StdClock, 20, 64> = Client::new(
        Tcp(port),
        StdClock(StdInstant::now()),
        Connect {
            client_id: "journal-subscriber",
            ..connect
        },
        backoff,
        ClientBuffers {
            receive: &mut subscriber_memory.0,
            send: &mut subscriber_memory.1,
            outbox: &mut subscriber_memory.2,
        },
        5,
    );
    let mut seen = BTreeSet::new();
    block_on(async {
        assert!(matches!(
            subscriber.poll().await,
            Ok(ClientEvent::Connected { .. })
        ));
        subscriber
            .subscribe("duet/journal", QoS::ExactlyOnce)
            .await
            .unwrap();
        assert!(matches!(
            subscriber.poll().await,
            Ok(ClientEvent::Subscribed { .. })
        ));
    });
    {
        let mut memory = DeviceMemory::new();
        let mut device = boot(&mut flash, &mut memory, port, connect, backoff, 4);
        assert!(device.outbox_used() > 0, "restored from flash");
        block_on(async {
            let mut acknowledged = 0;
            while acknowledged < COUNT {
                if let ClientEvent::Published { .. } = device.poll().await.unwrap() {
                    acknowledged += 1;
                }
            }
            while seen.len() < COUNT {
                if let ClientEvent::Message(publish) = subscriber.poll().await.unwrap() {
                    let text = std::str::from_utf8(publish.payload).unwrap();
                    seen.insert(text.parse::<usize>().unwrap());
                }
            }
        });
    }
    assert_eq!(seen, (0..COUNT).collect());
    // Everything acknowledged: nothing left for the next boot.
    let mut journal = Journal::mount(&mut flash, 0, HALF).unwrap();
    assert!(stored(&mut journal).is_empty());
}
