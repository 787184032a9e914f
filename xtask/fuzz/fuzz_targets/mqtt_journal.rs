//! The MQTT outbox's flash journal over whatever the flash holds — another
//! firmware's data, bit rot, an earlier journal cut off by a power loss —
//! then the calls a client makes on it, and remounts.
//!
//! Layout: the flash's first bytes (the rest erased; two halves of
//! [`HALF`] bytes), a 0xFE byte, then operations, one byte each (its low
//! three bits the operation, the rest its argument): append a QoS 1/2
//! publish, acknowledge one, mark one sent or released, remount, cut the
//! power after some bytes of flash writes and remount, or remount into an
//! outbox with room for only some of the publishes (the rest stay in
//! flash, and the client's calls must not touch them). The flash checks
//! what NOR flash allows (aligned writes that only clear bits, aligned
//! erases). After every clean remount the journal must hand back exactly
//! the publishes the client still holds and those left in flash, in order,
//! with their identifiers; after a power cut, the same and at most the
//! publish being appended.
//! (Held includes each publish's RETAIN flag and its 5.0 properties: odd
//! arguments append retained publishes, and arguments with bit 1 set
//! publishes with a Response Topic.)
#![no_main]

use duet::mqtt::QoS;
use duet::mqtt::codec::{Properties, Property};
use duet::mqtt::journal::Journal;
use duet::mqtt::outbox::{Outbox, OutboxStore, Record, RecordState};
use libfuzzer_sys::fuzz_target;

#[path = "../../../sdk/tests/common/ram_flash.rs"]
mod ram_flash;
use ram_flash::RamFlash as Flash;

const HALF: u32 = 1024;
const OUTBOX: usize = 4096;

/// A publish as the client holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    qos: QoS,
    retain: bool,
    topic: String,
    payload: Vec<u8>,
    /// Its Response Topic property, if it has one.
    response_topic: Option<String>,
    /// The identifier it went out under, and whether it was released.
    sent: Option<(u16, bool)>,
}

impl Held {
    fn of(record: Record<'_>) -> Held {
        let sent = match record.state {
            RecordState::Sent {
                packet_id,
                released,
            } => Some((packet_id, released)),
            RecordState::InFlight(packet_id) => Some((packet_id, false)),
            RecordState::Queued => None,
        };
        let response_topic = record.properties.iter().find_map(|p| match p {
            Property::ResponseTopic(topic) => Some(topic.to_owned()),
            _ => None,
        });
        Held {
            qos: record.qos,
            retain: record.retain,
            topic: record.topic.to_owned(),
            payload: record.payload.to_vec(),
            response_topic,
            sent,
        }
    }

    /// Pushes it into `outbox` as the client does.
    fn push(&self, outbox: &mut Outbox<'_>) -> Option<usize> {
        let given: Vec<Property<'_>> = self
            .response_topic
            .iter()
            .map(|t| Property::ResponseTopic(t))
            .collect();
        let properties = Properties::List(&given);
        outbox
            .push_with_properties(
                self.qos,
                self.retain,
                &self.topic,
                properties,
                &self.payload,
            )
            .ok()
    }
}

/// What a fresh boot restores from the flash.
fn restored(journal: &mut Journal<&mut Flash>) -> Vec<Held> {
    restored_into(journal, OUTBOX)
}

/// What a boot with an outbox of `room` bytes restores from the flash.
fn restored_into(journal: &mut Journal<&mut Flash>, room: usize) -> Vec<Held> {
    let mut buf = vec![0u8; room];
    let mut outbox = Outbox::new(&mut buf);
    journal.restore(&mut outbox);
    let mut held = Vec::new();
    let mut at = 0;
    while let Some((record, next)) = outbox.get(at) {
        held.push(Held::of(record));
        at = next;
    }
    held
}

/// The client's outbox rebuilt from `held`, so the journal's calls that
/// take it see the same records.
fn outbox_of<'b>(buf: &'b mut [u8], held: &[Held]) -> Outbox<'b> {
    let mut outbox = Outbox::new(buf);
    for publish in held {
        if let (Some(at), Some((packet_id, released))) = (publish.push(&mut outbox), publish.sent) {
            outbox.mark_sent(at, packet_id, released);
        }
    }
    outbox
}

/// Appends `publish` to `journal` as the client does (the bytes of its
/// outbox record); whether the journal took it.
fn append(journal: &mut Journal<&mut Flash>, publish: &Held) -> bool {
    let mut scratch = vec![0u8; OUTBOX];
    let mut outbox = Outbox::new(&mut scratch);
    let stored = publish.push(&mut outbox).and_then(|at| outbox.stored(at));
    stored.is_some_and(|(delivery, topic, body)| journal.append(delivery, topic, body).is_ok())
}

/// The offset in `outbox` of its `index`-th record.
fn offset_of(outbox: &Outbox<'_>, index: usize) -> Option<usize> {
    let mut at = 0;
    for _ in 0..index {
        at = outbox.get(at)?.1;
    }
    outbox.get(at).map(|_| at)
}

/// What the client holds, and what the flash holds besides.
struct Model {
    /// The client's outbox: what the last boot restored, then what it
    /// appended since, less what it acknowledged.
    held: Vec<Held>,
    /// How many of `held`, from the front, the last boot restored.
    restored: usize,
    /// What the last boot left in flash, its outbox being too small.
    left: Vec<Held>,
}

impl Model {
    /// A client whose boot restored all of `held`.
    fn whole(held: Vec<Held>) -> Model {
        Model {
            restored: held.len(),
            held,
            left: Vec::new(),
        }
    }

    /// What the journal holds, in order: the restored publishes still
    /// held, those left in flash, then those appended since.
    fn in_flash(&self) -> Vec<Held> {
        let (restored, appended) = self.held.split_at(self.restored);
        [restored, &self.left, appended].concat()
    }

    /// A boot with a small outbox restored `held` of what the flash held.
    fn boot(&mut self, held: Vec<Held>) {
        let all = self.in_flash();
        assert_eq!(held[..], all[..held.len()], "a restore hands back a prefix");
        self.left = all[held.len()..].to_vec();
        self.restored = held.len();
        self.held = held;
    }
}

fn run(data: &[u8]) {
    let (mut flash, operations) = Flash::from_image_and_operations(data, 2 * HALF as usize);
    let Ok(mut journal) = Journal::mount(&mut flash, 0, HALF) else {
        return;
    };
    // What the client holds: what the first boot restored, then its calls.
    let mut model = Model::whole(restored(&mut journal));
    let mut appended = 0u32;
    for &operation in operations {
        let argument = usize::from(operation >> 3);
        match operation & 7 {
            0 | 1 => {
                let qos = if operation & 1 == 0 {
                    QoS::AtLeastOnce
                } else {
                    QoS::ExactlyOnce
                };
                appended += 1;
                let publish = Held {
                    qos,
                    retain: argument % 2 == 1,
                    topic: format!("duet/{appended}"),
                    payload: vec![appended as u8; argument * 3],
                    response_topic: (argument & 2 != 0).then(|| format!("duet/r/{appended}")),
                    sent: None,
                };
                if append(&mut journal, &publish) {
                    model.held.push(publish);
                }
            }
            2 if !model.held.is_empty() => {
                let index = argument % model.held.len();
                journal.remove(index);
                model.held.remove(index);
                if index < model.restored {
                    model.restored -= 1;
                }
            }
            3 | 4 if !model.held.is_empty() => {
                let index = argument % model.held.len();
                let mut buf = vec![0u8; OUTBOX];
                let outbox = outbox_of(&mut buf, &model.held);
                let Some(at) = offset_of(&outbox, index) else {
                    continue;
                };
                let publish = &mut model.held[index];
                match (operation & 7, publish.sent) {
                    (3, None) => {
                        let packet_id = argument as u16 + 1;
                        journal.sent(&outbox, at, packet_id);
                        publish.sent = Some((packet_id, false));
                    }
                    (4, Some((packet_id, false))) if publish.qos == QoS::ExactlyOnce => {
                        journal.released(&outbox, at);
                        publish.sent = Some((packet_id, true));
                    }
                    _ => {}
                }
            }
            5 => {
                let Ok(mounted) = Journal::mount(&mut flash, 0, HALF) else {
                    return;
                };
                journal = mounted;
                let found = restored(&mut journal);
                assert_eq!(found, model.in_flash());
                model = Model::whole(found);
            }
            6 => {
                // A reboot whose mount, and then an append, lose power
                // after `argument` written bytes: the next boot must find
                // everything held before, and the cut publish whole or not
                // at all.
                flash.budget = Some(argument);
                let cut = Held {
                    qos: QoS::AtLeastOnce,
                    retain: true,
                    topic: "duet/cut".to_owned(),
                    payload: vec![0x5A; 40],
                    response_topic: Some("duet/r/cut".to_owned()),
                    sent: None,
                };
                if let Ok(mut interrupted) = Journal::mount(&mut flash, 0, HALF) {
                    append(&mut interrupted, &cut);
                }
                flash.budget = None;
                let Ok(mounted) = Journal::mount(&mut flash, 0, HALF) else {
                    return;
                };
                journal = mounted;
                let found = restored(&mut journal);
                let before = model.in_flash();
                let with_cut = [&before[..], core::slice::from_ref(&cut)].concat();
                assert!(found == before || found == with_cut, "{found:?}");
                model = Model::whole(found);
            }
            _ => {
                // A boot whose outbox has room for `argument` × 64 bytes.
                let Ok(mounted) = Journal::mount(&mut flash, 0, HALF) else {
                    return;
                };
                journal = mounted;
                model.boot(restored_into(&mut journal, argument * 64));
            }
        }
    }
}

fuzz_target!(|data: &[u8]| run(data));
