//! The client's outbox: publishes not yet acknowledged, in the caller's
//! memory, in the order they were made. It is the offline queue (publishes
//! made while disconnected wait here) and the store a resumed session
//! resends from (MQTT §4.4: unacknowledged PUBLISH again, with DUP).
//!
//! Records are packed one after another in the byte buffer:
//! `[state][qos][packet id: 2][topic length: 2][payload length: 2][topic][payload]`.
//! A full outbox refuses new publishes ([`OutboxFull`]) rather than dropping
//! old ones.

use super::codec::QoS;

const HEADER: usize = 8;

/// The state byte of a record.
const QUEUED: u8 = 0;
const IN_FLIGHT: u8 = 1;
const SENT: u8 = 2;
const SENT_RELEASED: u8 = 3;

/// Where a record stands.
///
/// A record keeps the packet identifier it was first sent with for life:
/// after a reboot or a lost session it goes out again under the same one,
/// so a broker that still holds the exchange recognises the resend instead
/// of taking it for a new message (MQTT §4.3.3, §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    /// Never sent (made while disconnected, or not yet given a turn).
    Queued,
    /// Sent with this packet identifier on the current connection,
    /// acknowledgement awaited.
    InFlight(u16),
    /// Sent with this packet identifier before a reboot or a lost session,
    /// not yet on the current connection. `released`: the server answered
    /// the QoS 2 PUBLISH with PUBREC, so a PUBREL, not the PUBLISH, is due.
    Sent {
        /// Its packet identifier.
        packet_id: u16,
        /// PUBREC received (QoS 2).
        released: bool,
    },
}

/// No room for the publish; nothing was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxFull;

/// Where QoS 1 and 2 publishes are kept beside the outbox so they survive a
/// reboot (the `storage` feature's `mqtt::journal::Journal` on NOR flash);
/// `()` keeps them in RAM only.
pub trait OutboxStore {
    /// A QoS 1/2 publish is entering the outbox; it is accepted only once
    /// this returns `Ok`, so a publish the caller was told about is stored.
    fn append(&mut self, qos: QoS, topic: &str, payload: &[u8]) -> Result<(), OutboxFull>;

    /// The `ordinal`-th stored publish (oldest first) was acknowledged.
    fn remove(&mut self, ordinal: usize);

    /// The outbox record at `at` was acknowledged. Finding its ordinal
    /// walks the outbox, so a store that keeps nothing skips it.
    fn acknowledged(&mut self, outbox: &Outbox<'_>, at: usize) {
        self.remove(outbox.ordinal(at));
    }

    /// The outbox record at `at` is about to be sent for the first time,
    /// with `packet_id`: kept so that after a reboot it is sent again under
    /// the same identifier.
    fn sent(&mut self, outbox: &Outbox<'_>, at: usize, packet_id: u16) {
        let _ = (outbox, at, packet_id);
    }

    /// The server answered the QoS 2 record at `at` with PUBREC; this is
    /// kept before the PUBREL goes out, so that after a reboot the PUBREL
    /// is sent again rather than the PUBLISH, which the server, having
    /// released the message, would take for a new one.
    fn released(&mut self, outbox: &Outbox<'_>, at: usize) {
        let _ = (outbox, at);
    }

    /// Puts the stored publishes, oldest first, into a fresh outbox, with
    /// their packet identifiers and PUBREC state.
    fn restore(&mut self, outbox: &mut Outbox<'_>);
}

impl OutboxStore for () {
    fn append(&mut self, _: QoS, _: &str, _: &[u8]) -> Result<(), OutboxFull> {
        Ok(())
    }

    fn remove(&mut self, _: usize) {}

    fn acknowledged(&mut self, _: &Outbox<'_>, _: usize) {}

    fn restore(&mut self, _: &mut Outbox<'_>) {}
}

/// One stored publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub state: RecordState,
    pub qos: QoS,
    pub topic: &'a str,
    pub payload: &'a [u8],
}

/// The outbox over a caller buffer.
#[derive(Debug)]
pub struct Outbox<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> Outbox<'b> {
    pub fn new(buf: &'b mut [u8]) -> Self {
        Outbox { buf, len: 0 }
    }

    /// Appends a publish, queued; returns its offset.
    pub fn push(&mut self, qos: QoS, topic: &str, payload: &[u8]) -> Result<usize, OutboxFull> {
        self.push_with(qos, topic.len(), payload.len(), |body| {
            let (topic_bytes, payload_bytes) = body.split_at_mut(topic.len());
            topic_bytes.copy_from_slice(topic.as_bytes());
            payload_bytes.copy_from_slice(payload);
            true
        })
    }

    /// Appends a queued publish whose topic and payload `fill` writes into
    /// the record's body (topic then payload); nothing is kept if `fill`
    /// returns `false` or the topic is not UTF-8. Returns its offset.
    pub fn push_with(
        &mut self,
        qos: QoS,
        topic_len: usize,
        payload_len: usize,
        fill: impl FnOnce(&mut [u8]) -> bool,
    ) -> Result<usize, OutboxFull> {
        let at = self.len;
        let size = HEADER + topic_len + payload_len;
        let topic_len16 = u16::try_from(topic_len).map_err(|_| OutboxFull)?;
        let payload_len16 = u16::try_from(payload_len).map_err(|_| OutboxFull)?;
        let record = self.buf.get_mut(at..at + size).ok_or(OutboxFull)?;
        record[0] = QUEUED;
        record[1] = qos as u8;
        record[2..4].copy_from_slice(&0u16.to_be_bytes());
        record[4..6].copy_from_slice(&topic_len16.to_be_bytes());
        record[6..8].copy_from_slice(&payload_len16.to_be_bytes());
        let body = &mut record[HEADER..];
        if !fill(body) || core::str::from_utf8(&body[..topic_len]).is_err() {
            return Err(OutboxFull);
        }
        self.len += size;
        Ok(at)
    }

    /// How many QoS 1/2 records come before the one at `at`: its place in
    /// an [`OutboxStore`].
    pub fn ordinal(&self, at: usize) -> usize {
        let (mut offset, mut count) = (0, 0);
        while offset < at {
            let Some((record, next)) = self.get(offset) else {
                break;
            };
            count += usize::from(record.qos != QoS::AtMostOnce);
            offset = next;
        }
        count
    }

    /// Bytes in use.
    pub fn used(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The record at byte offset `at`, and the offset of the next one.
    pub fn get(&self, at: usize) -> Option<(Record<'_>, usize)> {
        let header = self.buf[..self.len].get(at..at + HEADER)?;
        let topic_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
        let payload_len = usize::from(u16::from_be_bytes([header[6], header[7]]));
        let body = self.buf[..self.len].get(at + HEADER..at + HEADER + topic_len + payload_len)?;
        let topic = core::str::from_utf8(&body[..topic_len]).ok()?;
        let qos = match header[1] {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        };
        let packet_id = u16::from_be_bytes([header[2], header[3]]);
        let state = match header[0] {
            QUEUED => RecordState::Queued,
            IN_FLIGHT => RecordState::InFlight(packet_id),
            released => RecordState::Sent {
                packet_id,
                released: released == SENT_RELEASED,
            },
        };
        let record = Record {
            state,
            qos,
            topic,
            payload: &body[topic_len..],
        };
        Some((record, at + HEADER + topic_len + payload_len))
    }

    /// Marks the record at `at` sent with `packet_id` on this connection.
    pub fn mark_in_flight(&mut self, at: usize, packet_id: u16) {
        self.set_state(at, IN_FLIGHT, packet_id);
    }

    /// Marks the record at `at` sent with `packet_id` before this
    /// connection (restored after a reboot).
    pub fn mark_sent(&mut self, at: usize, packet_id: u16, released: bool) {
        let state = if released { SENT_RELEASED } else { SENT };
        self.set_state(at, state, packet_id);
    }

    fn set_state(&mut self, at: usize, state: u8, packet_id: u16) {
        if let Some(header) = self.buf[..self.len].get_mut(at..at + HEADER) {
            header[0] = state;
            header[2..4].copy_from_slice(&packet_id.to_be_bytes());
        }
    }

    /// Every record sent before, on a connection whose session the server
    /// did not keep, due again as a PUBLISH under its identifier.
    pub fn requeue_all(&mut self) {
        let mut at = 0;
        while let Some((record, next)) = self.get(at) {
            if let RecordState::InFlight(packet_id) | RecordState::Sent { packet_id, .. } =
                record.state
            {
                self.mark_sent(at, packet_id, false);
            }
            at = next;
        }
    }

    /// Removes the record at `at`.
    pub fn remove(&mut self, at: usize) {
        if let Some((_, next)) = self.get(at) {
            self.buf.copy_within(next..self.len, at);
            self.len -= next - at;
        }
    }

    /// The offset of the in-flight record with `packet_id`.
    pub fn find(&self, packet_id: u16) -> Option<usize> {
        let mut at = 0;
        while let Some((record, next)) = self.get(at) {
            if record.state == RecordState::InFlight(packet_id) {
                return Some(at);
            }
            at = next;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_their_order_state_and_bounds() {
        let mut buf = [0u8; 64];
        let mut outbox = Outbox::new(&mut buf);
        outbox.push(QoS::AtLeastOnce, "a/b", b"one").unwrap();
        outbox.push(QoS::ExactlyOnce, "c", b"two!").unwrap();
        // 8 + 3 + 3 and 8 + 1 + 4 bytes: 27 used; 40 more do not fit.
        assert_eq!(outbox.used(), 27);
        assert_eq!(outbox.push(QoS::AtMostOnce, "x", &[0; 32]), Err(OutboxFull));
        assert_eq!(outbox.used(), 27, "a refused publish stores nothing");
        let (first, next) = outbox.get(0).unwrap();
        assert_eq!(
            (first.state, first.qos, first.topic, first.payload),
            (RecordState::Queued, QoS::AtLeastOnce, "a/b", &b"one"[..])
        );
        outbox.mark_in_flight(next, 7);
        assert_eq!(outbox.find(7), Some(next));
        assert_eq!(outbox.get(next).unwrap().0.state, RecordState::InFlight(7));
        outbox.requeue_all();
        assert_eq!(outbox.find(7), None);
        assert_eq!(
            outbox.get(next).unwrap().0.state,
            RecordState::Sent {
                packet_id: 7,
                released: false
            },
            "a requeued record keeps its identifier"
        );
        assert_eq!(outbox.get(0).unwrap().0.state, RecordState::Queued);
        outbox.mark_sent(0, 9, true);
        assert_eq!(
            outbox.get(0).unwrap().0.state,
            RecordState::Sent {
                packet_id: 9,
                released: true
            }
        );
        outbox.remove(0);
        let (only, end) = outbox.get(0).unwrap();
        assert_eq!((only.topic, only.payload, end), ("c", &b"two!"[..], 13));
        outbox.remove(0);
        assert!(outbox.is_empty());
    }
}
