//! MQTT 5.0 properties (5.0 §2.2.2): a variable-byte-integer length, then
//! identifier/value pairs. 3.1.1 has none; its packets carry an empty set.
//!
//! Decoding validates the whole block once (every identifier known, no
//! duplicates where the spec forbids them) and keeps the bytes; getters
//! scan them. Encoding takes a caller slice of [`Property`] values.

use super::Error;
use super::buf::{Reader, Writer};
use crate::mqtt::topic::check_topic_name;

/// One property (5.0 §2.2.2.2, table 2-4), borrowing its strings and data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Property<'a> {
    /// 0x01 (§3.3.2.3.2): payload is UTF-8 (1) or unspecified bytes (0).
    PayloadFormatIndicator(u8),
    /// 0x02 (§3.3.2.3.3): seconds the server keeps an undelivered message.
    MessageExpiryInterval(u32),
    /// 0x03 (§3.3.2.3.9): MIME type of the payload.
    ContentType(&'a str),
    /// 0x08 (§3.3.2.3.5): topic for a request's response.
    ResponseTopic(&'a str),
    /// 0x09 (§3.3.2.3.6): ties a response to its request.
    CorrelationData(&'a [u8]),
    /// 0x0B (§3.8.2.1.2): identifies the subscription a message matched.
    SubscriptionIdentifier(u32),
    /// 0x11 (§3.1.2.11.2): seconds the session outlives the connection.
    SessionExpiryInterval(u32),
    /// 0x12 (§3.2.2.3.7): the id the server gave a client that sent none.
    AssignedClientIdentifier(&'a str),
    /// 0x13 (§3.2.2.3.14): keepalive the server imposes.
    ServerKeepAlive(u16),
    /// 0x15 (§3.1.2.11.9): extended authentication method.
    AuthenticationMethod(&'a str),
    /// 0x16 (§3.1.2.11.10): extended authentication data.
    AuthenticationData(&'a [u8]),
    /// 0x17 (§3.1.2.11.7): whether reason strings may be sent on failures.
    RequestProblemInformation(u8),
    /// 0x18 (§3.1.3.2.2): seconds the server waits before sending the will.
    WillDelayInterval(u32),
    /// 0x19 (§3.1.2.11.6): ask for response information in CONNACK.
    RequestResponseInformation(u8),
    /// 0x1A (§3.2.2.3.15): basis for response topics.
    ResponseInformation(&'a str),
    /// 0x1C (§3.2.2.3.16): another server to use.
    ServerReference(&'a str),
    /// 0x1F (§3.2.2.3.9): human-readable diagnostic.
    ReasonString(&'a str),
    /// 0x21 (§3.1.2.11.3, §3.2.2.3.3): QoS 1/2 publishes the sender of this
    /// property will process concurrently.
    ReceiveMaximum(u16),
    /// 0x22 (§3.1.2.11.5): highest topic alias the sender accepts.
    TopicAliasMaximum(u16),
    /// 0x23 (§3.3.2.3.4): stands in for the topic name.
    TopicAlias(u16),
    /// 0x24 (§3.2.2.3.4): highest QoS the server supports.
    MaximumQos(u8),
    /// 0x25 (§3.2.2.3.5): whether the server supports retained messages.
    RetainAvailable(u8),
    /// 0x26 (§3.1.2.11.8): an application name/value pair; may repeat.
    UserProperty(&'a str, &'a str),
    /// 0x27 (§3.1.2.11.4): largest packet the sender accepts.
    MaximumPacketSize(u32),
    /// 0x28 (§3.2.2.3.11): whether wildcard subscriptions work.
    WildcardSubscriptionAvailable(u8),
    /// 0x29 (§3.2.2.3.12): whether subscription identifiers work.
    SubscriptionIdentifierAvailable(u8),
    /// 0x2A (§3.2.2.3.13): whether shared subscriptions work.
    SharedSubscriptionAvailable(u8),
}

impl<'a> Property<'a> {
    /// The property identifier.
    pub const fn id(&self) -> u8 {
        match self {
            Property::PayloadFormatIndicator(_) => 0x01,
            Property::MessageExpiryInterval(_) => 0x02,
            Property::ContentType(_) => 0x03,
            Property::ResponseTopic(_) => 0x08,
            Property::CorrelationData(_) => 0x09,
            Property::SubscriptionIdentifier(_) => 0x0b,
            Property::SessionExpiryInterval(_) => 0x11,
            Property::AssignedClientIdentifier(_) => 0x12,
            Property::ServerKeepAlive(_) => 0x13,
            Property::AuthenticationMethod(_) => 0x15,
            Property::AuthenticationData(_) => 0x16,
            Property::RequestProblemInformation(_) => 0x17,
            Property::WillDelayInterval(_) => 0x18,
            Property::RequestResponseInformation(_) => 0x19,
            Property::ResponseInformation(_) => 0x1a,
            Property::ServerReference(_) => 0x1c,
            Property::ReasonString(_) => 0x1f,
            Property::ReceiveMaximum(_) => 0x21,
            Property::TopicAliasMaximum(_) => 0x22,
            Property::TopicAlias(_) => 0x23,
            Property::MaximumQos(_) => 0x24,
            Property::RetainAvailable(_) => 0x25,
            Property::UserProperty(_, _) => 0x26,
            Property::MaximumPacketSize(_) => 0x27,
            Property::WildcardSubscriptionAvailable(_) => 0x28,
            Property::SubscriptionIdentifierAvailable(_) => 0x29,
            Property::SharedSubscriptionAvailable(_) => 0x2a,
        }
    }

    /// The value of a numeric property; 0 for strings and binary data.
    fn number(&self) -> u32 {
        match *self {
            Property::PayloadFormatIndicator(v)
            | Property::RequestProblemInformation(v)
            | Property::RequestResponseInformation(v)
            | Property::MaximumQos(v)
            | Property::RetainAvailable(v)
            | Property::WildcardSubscriptionAvailable(v)
            | Property::SubscriptionIdentifierAvailable(v)
            | Property::SharedSubscriptionAvailable(v) => u32::from(v),
            Property::ServerKeepAlive(v)
            | Property::ReceiveMaximum(v)
            | Property::TopicAliasMaximum(v)
            | Property::TopicAlias(v) => u32::from(v),
            Property::MessageExpiryInterval(v)
            | Property::SessionExpiryInterval(v)
            | Property::WillDelayInterval(v)
            | Property::MaximumPacketSize(v)
            | Property::SubscriptionIdentifier(v) => v,
            _ => 0,
        }
    }

    fn read(r: &mut Reader<'a>) -> Result<Self, Error> {
        let id = r.varint()?;
        let p = match id {
            0x01 => Property::PayloadFormatIndicator(r.u8()?),
            0x02 => Property::MessageExpiryInterval(r.u32()?),
            0x03 => Property::ContentType(r.str()?),
            0x08 => Property::ResponseTopic(r.str()?),
            0x09 => Property::CorrelationData(r.binary()?),
            0x0b => Property::SubscriptionIdentifier(r.varint()?),
            0x11 => Property::SessionExpiryInterval(r.u32()?),
            0x12 => Property::AssignedClientIdentifier(r.str()?),
            0x13 => Property::ServerKeepAlive(r.u16()?),
            0x15 => Property::AuthenticationMethod(r.str()?),
            0x16 => Property::AuthenticationData(r.binary()?),
            0x17 => Property::RequestProblemInformation(r.u8()?),
            0x18 => Property::WillDelayInterval(r.u32()?),
            0x19 => Property::RequestResponseInformation(r.u8()?),
            0x1a => Property::ResponseInformation(r.str()?),
            0x1c => Property::ServerReference(r.str()?),
            0x1f => Property::ReasonString(r.str()?),
            0x21 => Property::ReceiveMaximum(r.u16()?),
            0x22 => Property::TopicAliasMaximum(r.u16()?),
            0x23 => Property::TopicAlias(r.u16()?),
            0x24 => Property::MaximumQos(r.u8()?),
            0x25 => Property::RetainAvailable(r.u8()?),
            0x26 => Property::UserProperty(r.str()?, r.str()?),
            0x27 => Property::MaximumPacketSize(r.u32()?),
            0x28 => Property::WildcardSubscriptionAvailable(r.u8()?),
            0x29 => Property::SubscriptionIdentifierAvailable(r.u8()?),
            0x2a => Property::SharedSubscriptionAvailable(r.u8()?),
            other => return Err(Error::UnknownProperty(u8::try_from(other).unwrap_or(0xff))),
        };
        Ok(p)
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        let id = self.id();
        w.varint(u32::from(id))?;
        match *self {
            Property::ContentType(s)
            | Property::ResponseTopic(s)
            | Property::AssignedClientIdentifier(s)
            | Property::AuthenticationMethod(s)
            | Property::ResponseInformation(s)
            | Property::ServerReference(s)
            | Property::ReasonString(s) => w.str(s),
            Property::CorrelationData(b) | Property::AuthenticationData(b) => w.binary(b),
            Property::UserProperty(k, v) => {
                w.str(k)?;
                w.str(v)
            }
            // The numbers, in the width their identifier gives them.
            _ => {
                let value = self.number();
                match value_type(u32::from(id)) {
                    Some(ValueType::Byte) => w.u8(value as u8),
                    Some(ValueType::TwoByteInteger) => w.u16(value as u16),
                    Some(ValueType::VariableByteInteger) => w.varint(value),
                    _ => w.u32(value),
                }
            }
        }
    }
}

/// How a property's value is encoded (5.0 §2.2.2.2, table 2-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueType {
    Byte,
    TwoByteInteger,
    FourByteInteger,
    VariableByteInteger,
    Utf8String,
    BinaryData,
    Utf8StringPair,
}

/// The value type of property `id`; `None` for an identifier 5.0 does not
/// define.
fn value_type(id: u32) -> Option<ValueType> {
    use ValueType::*;
    Some(match id {
        0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2a => Byte,
        0x13 | 0x21 | 0x22 | 0x23 => TwoByteInteger,
        0x02 | 0x11 | 0x18 | 0x27 => FourByteInteger,
        0x0b => VariableByteInteger,
        0x03 | 0x08 | 0x12 | 0x15 | 0x1a | 0x1c | 0x1f => Utf8String,
        0x09 | 0x16 => BinaryData,
        0x26 => Utf8StringPair,
        _ => return None,
    })
}

/// Reads one property, checking its value, and returns its identifier and
/// numeric value (0 for strings and binary data). One table-driven reader
/// validates every property block; [`Property::read`] is only needed by
/// callers that iterate.
fn read_value(r: &mut Reader<'_>) -> Result<(u8, u32), Error> {
    let id = r.varint()?;
    let value = match value_type(id) {
        Some(ValueType::Byte) => u32::from(r.u8()?),
        Some(ValueType::TwoByteInteger) => u32::from(r.u16()?),
        Some(ValueType::FourByteInteger) => r.u32()?,
        Some(ValueType::VariableByteInteger) => r.varint()?,
        Some(ValueType::Utf8String) => {
            r.str()?;
            0
        }
        Some(ValueType::BinaryData) => {
            r.binary()?;
            0
        }
        Some(ValueType::Utf8StringPair) => {
            r.str()?;
            r.str()?;
            0
        }
        None => return Err(Error::UnknownProperty(u8::try_from(id).unwrap_or(0xff))),
    };
    // Every defined identifier is below 0x80, so it is one byte.
    Ok((id as u8, value))
}

/// Where a property block sits: MQTT 5.0 §2.2.2.2 (table 2-4) says which
/// properties each may carry; any other is a Protocol Error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    Connect,
    Will,
    ConnAck,
    Publish,
    /// PUBACK, PUBREC, PUBREL, PUBCOMP.
    Ack,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    Disconnect,
    Auth,
}

/// Whether property `id` may appear in `context`: a look-up in
/// [`ALLOWED`], which [`allowed_by_spec`] fills at compile time (the match
/// itself would be a branch per rule in the firmware).
fn allowed(id: u8, context: Context) -> bool {
    ALLOWED
        .get(usize::from(id))
        .is_some_and(|contexts| contexts & (1 << context as u16) != 0)
}

/// One bit per [`Context`] for each property identifier below 0x2B (the
/// highest 5.0 defines is 0x2A).
const ALLOWED: [u16; 0x2b] = {
    let mut table = [0u16; 0x2b];
    let mut id = 0;
    while id < table.len() {
        let mut context = 0;
        while context < CONTEXTS.len() {
            if allowed_by_spec(id as u8, CONTEXTS[context]) {
                table[id] |= 1 << context;
            }
            context += 1;
        }
        id += 1;
    }
    table
};

/// Every context, in declaration order (a bit of [`ALLOWED`] each).
const CONTEXTS: [Context; 11] = [
    Context::Connect,
    Context::Will,
    Context::ConnAck,
    Context::Publish,
    Context::Ack,
    Context::Subscribe,
    Context::SubAck,
    Context::Unsubscribe,
    Context::UnsubAck,
    Context::Disconnect,
    Context::Auth,
];

/// Whether property `id` may appear in `context` (5.0 table 2-4).
const fn allowed_by_spec(id: u8, context: Context) -> bool {
    use Context::*;
    match id {
        0x01 | 0x02 | 0x03 | 0x08 | 0x09 => matches!(context, Publish | Will),
        0x0b => matches!(context, Publish | Subscribe),
        0x11 => matches!(context, Connect | ConnAck | Disconnect),
        0x12 | 0x13 | 0x1a | 0x24 | 0x25 | 0x28 | 0x29 | 0x2a => matches!(context, ConnAck),
        0x15 | 0x16 => matches!(context, Connect | ConnAck | Auth),
        0x21 | 0x22 | 0x27 => matches!(context, Connect | ConnAck),
        0x17 | 0x19 => matches!(context, Connect),
        0x18 => matches!(context, Will),
        0x1c => matches!(context, ConnAck | Disconnect),
        0x1f => matches!(
            context,
            ConnAck | Ack | SubAck | UnsubAck | Disconnect | Auth
        ),
        0x23 => matches!(context, Publish),
        0x26 => true,
        _ => false,
    }
}

/// The properties of a block: its length, then that many bytes.
///
/// This and [`check_wire`] are always inlined: shared by the receive path
/// and the publish checks, but a firmware mostly links only the first,
/// and as calls they cost `mqtt-client` 16 bytes more.
#[inline(always)]
fn take_block<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], Error> {
    let len = r.varint()?;
    r.take(usize::try_from(len).map_err(|_| Error::MalformedPacket)?)
}

/// Reads every property in `bytes` to the end, each one `allowed` and,
/// but for the repeatable two, once ([`note`]).
#[inline(always)]
fn check_wire(bytes: &[u8], allowed: &impl Fn(u8) -> bool) -> Result<(), Error> {
    let mut seen = [0u32; 2];
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        note(read_value(&mut r)?.0, allowed, &mut seen)?;
    }
    Ok(())
}

/// Checks that a block may carry property `id`, and notes it in `seen`
/// (one bit per identifier, all below 64, in two 32-bit words: a 64-bit
/// shift by a variable amount is a library call on Armv7-M): a repeat is
/// an error but for User Property and Subscription Identifier.
fn note(id: u8, allowed: &impl Fn(u8) -> bool, seen: &mut [u32; 2]) -> Result<(), Error> {
    if !allowed(id) {
        return Err(Error::PropertyNotAllowed(id));
    }
    let repeatable = id == 0x26 || id == 0x0b;
    let (word, bit) = (usize::from(id / 32) % 2, 1u32 << (id % 32));
    if seen[word] & bit != 0 && !repeatable {
        return Err(Error::DuplicateProperty(id));
    }
    seen[word] |= bit;
    Ok(())
}

/// A packet's property set: either values to encode or validated wire bytes.
#[derive(Debug, Clone, Copy)]
pub enum Properties<'a> {
    /// Properties to encode.
    List(&'a [Property<'a>]),
    /// Properties as decoded: validated bytes, read on demand.
    Wire(&'a [u8]),
}

impl Default for Properties<'_> {
    fn default() -> Self {
        Properties::List(&[])
    }
}

impl PartialEq for Properties<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Properties<'_> {}

impl<'a> Properties<'a> {
    /// No properties.
    pub const EMPTY: Properties<'static> = Properties::List(&[]);

    /// Reads a property length and block, checking every property once:
    /// its value, that `context` may carry it and that it is not repeated.
    pub(crate) fn read(r: &mut Reader<'a>, context: Context) -> Result<Self, Error> {
        Self::read_where(r, |id| allowed(id, context))
    }

    /// [`Properties::read`] with the packet's rule given as `allowed`.
    fn read_where(r: &mut Reader<'a>, allowed: impl Fn(u8) -> bool) -> Result<Self, Error> {
        let bytes = take_block(r)?;
        check_wire(bytes, &allowed)?;
        Ok(Properties::Wire(bytes))
    }

    /// Checks properties an application gives for a PUBLISH as a received
    /// block is checked (each allowed in a PUBLISH, and once but for User
    /// Property), less the two a client leaves to the session or may not
    /// send (5.0 §3.3.4): Topic Alias and Subscription Identifier. A
    /// broker would close the connection over a bad one, and the publish,
    /// resent on every new connection, would hold up all behind it.
    pub(crate) fn check_publish(&self) -> Result<(), Error> {
        let allowed = |id| id != 0x23 && id != 0x0b && allowed(id, Context::Publish);
        match *self {
            // Walked whole: a byte that does not read is an error here,
            // where `iter` would take it for the end.
            Properties::Wire(bytes) => check_wire(bytes, &allowed)?,
            Properties::List(list) => {
                let mut seen = [0u32; 2];
                for property in list {
                    note(property.id(), &allowed, &mut seen)?;
                }
            }
        }
        for property in self.iter() {
            match property {
                // [MQTT-3.3.2-14]: a topic name, without wildcards.
                Property::ResponseTopic(topic) => check_topic_name(topic)?,
                // §3.3.2.3.2: 0, unspecified bytes, or 1, UTF-8.
                Property::PayloadFormatIndicator(2..) => return Err(Error::MalformedPacket),
                _ => {}
            }
        }
        self.block_len().map(|_| ())
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        w.begin_len_prefixed()?;
        match *self {
            Properties::List(list) => {
                for p in list {
                    p.write(w)?;
                }
            }
            // Decoded bytes were validated; they go out as they came.
            Properties::Wire(bytes) => w.slice(bytes)?,
        }
        w.end_len_prefixed()
    }

    /// The bytes of the property block a PUBLISH carries these in (its
    /// length, then the properties): what [`Properties::write_block`]
    /// writes.
    pub(crate) fn block_len(&self) -> Result<usize, Error> {
        let mut w = Writer::measuring();
        self.write(&mut w)?;
        Ok(w.position())
    }

    /// Writes the property block into `buf`, which must be
    /// [`Properties::block_len`] bytes long: for the outbox, which keeps a
    /// publish's properties with it until it is acknowledged.
    pub(crate) fn write_block(&self, buf: &mut [u8]) -> Result<(), Error> {
        let mut measure = Writer::measuring();
        self.write(&mut measure)?;
        self.write(&mut Writer::with_lengths(buf, measure.section_lengths()))
    }

    /// The property block [`Properties::write_block`] wrote at the start of
    /// `bytes`, and the bytes after it. Only its length is checked: the
    /// properties were when they were given.
    pub(crate) fn split_block(bytes: &'a [u8]) -> Result<(Self, &'a [u8]), Error> {
        let mut r = Reader::new(bytes);
        let block = take_block(&mut r)?;
        Ok((Properties::Wire(block), r.rest()))
    }

    /// Where the value of the Message Expiry Interval (§3.3.2.3.3) sits in
    /// a property block [`Properties::write_block`] wrote: the offset of
    /// its four bytes in `block`, for the outbox, which counts the interval
    /// down in place while the publish waits. `None` without one.
    pub(crate) fn message_expiry_at(block: &[u8]) -> Option<usize> {
        let mut r = Reader::new(block);
        let properties = take_block(&mut r).ok()?;
        let start = r.position() - properties.len();
        let mut r = Reader::new(properties);
        while !r.is_empty() {
            let (id, _) = read_value(&mut r).ok()?;
            if id == Property::MessageExpiryInterval(0).id() {
                return Some(start + r.position() - 4);
            }
        }
        None
    }

    /// Iterates the properties in order.
    pub fn iter(&self) -> PropertyIter<'a> {
        PropertyIter(match *self {
            Properties::List(list) => IterInner::List(list.iter()),
            Properties::Wire(bytes) => IterInner::Wire(Reader::new(bytes)),
        })
    }

    /// True if there are no properties.
    pub fn is_empty(&self) -> bool {
        match *self {
            Properties::List(list) => list.is_empty(),
            Properties::Wire(bytes) => bytes.is_empty(),
        }
    }

    fn find<T>(&self, f: impl Fn(Property<'a>) -> Option<T>) -> Option<T> {
        self.iter().find_map(f)
    }

    /// The value of numeric property `id`, if present (its first
    /// occurrence). Read straight from the bytes: the getters need no
    /// [`Property`] built for each entry.
    fn number(&self, id: u8) -> Option<u32> {
        match *self {
            Properties::List(list) => list.iter().find(|p| p.id() == id).map(|p| p.number()),
            Properties::Wire(bytes) => {
                let mut wire = Reader::new(bytes);
                // Validated when decoded: an error cannot happen, and would
                // only end the walk.
                while let Ok((found, value)) = read_value(&mut wire) {
                    if found == id {
                        return Some(value);
                    }
                }
                None
            }
        }
    }

    /// Message Expiry Interval (0x02), in seconds: in a received message,
    /// what the broker left of the lifetime the publisher gave it.
    pub fn message_expiry_interval(&self) -> Option<u32> {
        self.number(Property::MessageExpiryInterval(0).id())
    }

    /// Session Expiry Interval (0x11).
    pub fn session_expiry_interval(&self) -> Option<u32> {
        self.number(Property::SessionExpiryInterval(0).id())
    }

    /// Receive Maximum (0x21).
    pub fn receive_maximum(&self) -> Option<u16> {
        self.number(Property::ReceiveMaximum(0).id())
            .and_then(|v| u16::try_from(v).ok())
    }

    /// Maximum QoS (0x24): 0 or 1 in a valid CONNACK.
    pub fn maximum_qos(&self) -> Option<u32> {
        self.number(Property::MaximumQos(0).id())
    }

    /// Retain Available (0x25): 0 or 1 in a valid CONNACK.
    pub fn retain_available(&self) -> Option<u32> {
        self.number(Property::RetainAvailable(0).id())
    }

    /// Maximum Packet Size (0x27).
    pub fn maximum_packet_size(&self) -> Option<u32> {
        self.number(Property::MaximumPacketSize(0).id())
    }

    /// Topic Alias Maximum (0x22).
    pub fn topic_alias_maximum(&self) -> Option<u16> {
        self.number(Property::TopicAliasMaximum(0).id())
            .and_then(|v| u16::try_from(v).ok())
    }

    /// Topic Alias (0x23).
    pub fn topic_alias(&self) -> Option<u16> {
        self.number(Property::TopicAlias(0).id())
            .and_then(|v| u16::try_from(v).ok())
    }

    /// Server Keep Alive (0x13).
    pub fn server_keep_alive(&self) -> Option<u16> {
        self.number(Property::ServerKeepAlive(0).id())
            .and_then(|v| u16::try_from(v).ok())
    }

    /// Assigned Client Identifier (0x12).
    pub fn assigned_client_identifier(&self) -> Option<&'a str> {
        self.find(|p| match p {
            Property::AssignedClientIdentifier(v) => Some(v),
            _ => None,
        })
    }

    /// Reason String (0x1F).
    pub fn reason_string(&self) -> Option<&'a str> {
        self.find(|p| match p {
            Property::ReasonString(v) => Some(v),
            _ => None,
        })
    }

    /// User Properties (0x26), in order.
    pub fn user_properties(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.iter().filter_map(|p| match p {
            Property::UserProperty(k, v) => Some((k, v)),
            _ => None,
        })
    }
}

/// Iterator over [`Properties`].
#[derive(Debug)]
pub struct PropertyIter<'a>(IterInner<'a>);

#[derive(Debug)]
enum IterInner<'a> {
    List(core::slice::Iter<'a, Property<'a>>),
    Wire(Reader<'a>),
}

impl<'a> Iterator for PropertyIter<'a> {
    type Item = Property<'a>;

    fn next(&mut self) -> Option<Property<'a>> {
        match &mut self.0 {
            IterInner::List(it) => it.next().copied(),
            // The block was validated when decoded, so reading cannot fail here;
            // an error would only end the iteration.
            IterInner::Wire(r) if !r.is_empty() => Property::read(r).ok(),
            IterInner::Wire(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Property<'static>; 27] = [
        Property::PayloadFormatIndicator(1),
        Property::MessageExpiryInterval(60),
        Property::ContentType("text/plain"),
        Property::ResponseTopic("r/t"),
        Property::CorrelationData(&[1, 2, 3]),
        Property::SubscriptionIdentifier(300),
        Property::SessionExpiryInterval(3600),
        Property::AssignedClientIdentifier("auto-1"),
        Property::ServerKeepAlive(30),
        Property::AuthenticationMethod("SCRAM"),
        Property::AuthenticationData(&[9]),
        Property::RequestProblemInformation(1),
        Property::WillDelayInterval(5),
        Property::RequestResponseInformation(1),
        Property::ResponseInformation("resp/"),
        Property::ServerReference("other"),
        Property::ReasonString("why"),
        Property::ReceiveMaximum(20),
        Property::TopicAliasMaximum(10),
        Property::TopicAlias(3),
        Property::MaximumQos(1),
        Property::RetainAvailable(1),
        Property::UserProperty("k", "v"),
        Property::MaximumPacketSize(1024),
        Property::WildcardSubscriptionAvailable(1),
        Property::SubscriptionIdentifierAvailable(0),
        Property::SharedSubscriptionAvailable(1),
    ];

    fn round_trip(props: Properties<'_>, buf: &mut [u8]) -> usize {
        let mut measure = Writer::measuring();
        props.write(&mut measure).unwrap();
        let mut w = Writer::with_lengths(buf, measure.section_lengths());
        props.write(&mut w).unwrap();
        assert_eq!(w.position(), measure.position());
        w.position()
    }

    #[test]
    fn every_property_round_trips_and_getters_find_them() {
        let mut buf = [0u8; 256];
        let n = round_trip(Properties::List(&ALL), &mut buf);
        let mut r = Reader::new(&buf[..n]);
        let decoded = Properties::read_where(&mut r, |_| true).unwrap();
        assert!(r.is_empty());
        assert_eq!(decoded, Properties::List(&ALL));
        assert_eq!(decoded.session_expiry_interval(), Some(3600));
        assert_eq!(decoded.receive_maximum(), Some(20));
        assert_eq!(decoded.maximum_packet_size(), Some(1024));
        assert_eq!(decoded.topic_alias_maximum(), Some(10));
        assert_eq!(decoded.topic_alias(), Some(3));
        assert_eq!(decoded.reason_string(), Some("why"));
        assert_eq!(decoded.server_keep_alive(), Some(30));
        assert_eq!(decoded.assigned_client_identifier(), Some("auto-1"));
        assert!(decoded.user_properties().eq([("k", "v")]));
    }

    #[test]
    fn byte_exact_encoding() {
        let mut buf = [0u8; 32];
        let list = [
            Property::ReceiveMaximum(20),
            Property::UserProperty("a", "b"),
        ];
        let n = round_trip(Properties::List(&list), &mut buf);
        assert_eq!(&buf[..n], &[10, 0x21, 0, 20, 0x26, 0, 1, b'a', 0, 1, b'b']);
    }

    #[test]
    fn rejects_unknown_duplicate_and_truncated() {
        let read =
            |bytes: &[u8]| Properties::read_where(&mut Reader::new(bytes), |_| true).map(|_| ());
        assert_eq!(read(&[2, 0x04, 0]), Err(Error::UnknownProperty(0x04)));
        assert_eq!(
            read(&[6, 0x21, 0, 1, 0x21, 0, 2]),
            Err(Error::DuplicateProperty(0x21))
        );
        assert_eq!(read(&[3, 0x21, 0]), Err(Error::MalformedPacket));
        assert_eq!(read(&[3, 0x1f, 0, 1]), Err(Error::MalformedPacket));
        assert_eq!(read(&[4, 0x1f, 0, 1, 0xff]), Err(Error::InvalidUtf8));
        // User properties and subscription identifiers may repeat.
        assert_eq!(read(&[4, 0x0b, 1, 0x0b, 2]), Ok(()));
    }

    /// Every identifier 5.0 defines, once each in one block, is accepted
    /// (0x01 and 0x21, 0x02 and 0x22, ... sit at the same bit of the two
    /// words that record them); each one twice is refused, but for the two
    /// that may repeat.
    #[test]
    fn each_identifier_is_remembered_on_its_own() {
        extern crate std;
        use std::vec::Vec;
        let ids: Vec<u8> = (0..64u8)
            .filter(|&id| value_type(u32::from(id)).is_some())
            .collect();
        assert_eq!(ids.len(), 27);
        let property = |id: u8| -> Vec<u8> {
            let value: &[u8] = match value_type(u32::from(id)) {
                Some(ValueType::Byte) => &[1],
                Some(ValueType::TwoByteInteger) => &[0, 1],
                Some(ValueType::FourByteInteger) => &[0, 0, 0, 1],
                Some(ValueType::VariableByteInteger) => &[1],
                Some(ValueType::Utf8String) | Some(ValueType::BinaryData) => &[0, 1, b'a'],
                Some(ValueType::Utf8StringPair) => &[0, 1, b'a', 0, 1, b'b'],
                None => unreachable!("only defined identifiers"),
            };
            [&[id][..], value].concat()
        };
        let read = |properties: &[u8]| {
            let block = [&[properties.len() as u8][..], properties].concat();
            Properties::read_where(&mut Reader::new(&block), |_| true).map(|_| ())
        };
        let all: Vec<u8> = ids.iter().flat_map(|&id| property(id)).collect();
        assert_eq!(read(&all), Ok(()));
        for &id in &ids {
            let twice = [property(id), property(id)].concat();
            let expected = match id {
                0x0b | 0x26 => Ok(()),
                _ => Err(Error::DuplicateProperty(id)),
            };
            assert_eq!(read(&twice), expected, "identifier {id:#04x}");
        }
    }

    /// Encodes `property` alone as a block and reads it back in `context`.
    fn read_in(context: Context, property: Property<'_>) -> Result<(), Error> {
        let mut buf = [0u8; 64];
        let n = round_trip(Properties::List(&[property]), &mut buf);
        Properties::read(&mut Reader::new(&buf[..n]), context).map(|_| ())
    }

    #[test]
    fn each_packet_carries_only_its_properties() {
        for (context, ids) in [
            (
                Context::Publish,
                &[0x01, 0x02, 0x03, 0x08, 0x09, 0x0b, 0x23, 0x26][..],
            ),
            (
                Context::Will,
                &[0x01, 0x02, 0x03, 0x08, 0x09, 0x18, 0x26][..],
            ),
            (
                Context::Connect,
                &[0x11, 0x15, 0x16, 0x17, 0x19, 0x21, 0x22, 0x26, 0x27][..],
            ),
            (Context::Ack, &[0x1f, 0x26][..]),
            (Context::SubAck, &[0x1f, 0x26][..]),
            (Context::UnsubAck, &[0x1f, 0x26][..]),
            (Context::Subscribe, &[0x0b, 0x26][..]),
            (Context::Unsubscribe, &[0x26][..]),
            (Context::Disconnect, &[0x11, 0x1c, 0x1f, 0x26][..]),
            (Context::Auth, &[0x15, 0x16, 0x1f, 0x26][..]),
        ] {
            for p in ALL {
                let expected = if ids.contains(&p.id()) {
                    Ok(())
                } else {
                    Err(Error::PropertyNotAllowed(p.id()))
                };
                assert_eq!(read_in(context, p), expected, "{context:?} {p:?}");
            }
        }
        // CONNACK takes everything but the publish, will and request properties.
        for p in ALL {
            let ok = !matches!(p.id(), 0x01..=0x0b | 0x17 | 0x18 | 0x19 | 0x23);
            assert_eq!(read_in(Context::ConnAck, p).is_ok(), ok, "{p:?}");
        }
    }

    /// What an application may give a PUBLISH: the properties a PUBLISH
    /// carries, once each but User Property, without the two that are not
    /// a client's to send, and with values a broker takes; as a list or as
    /// wire bytes, which are read to their end.
    #[test]
    fn check_publish_takes_what_a_broker_takes_from_a_client() {
        let check = |list: &[Property<'_>]| Properties::List(list).check_publish();
        let request = [
            Property::PayloadFormatIndicator(1),
            Property::MessageExpiryInterval(60),
            Property::ContentType("text/plain"),
            Property::ResponseTopic("replies/7"),
            Property::CorrelationData(&[1, 2, 3]),
            Property::UserProperty("a", "1"),
            Property::UserProperty("a", "2"),
        ];
        assert_eq!(check(&request), Ok(()));
        let mut block = [0u8; 64];
        let n = round_trip(Properties::List(&request), &mut block);
        // The block is its length (one byte here), then the properties.
        assert_eq!(Properties::Wire(&block[1..n]).check_publish(), Ok(()));
        for (refused, error) in [
            (Property::TopicAlias(1), Error::PropertyNotAllowed(0x23)),
            (
                Property::SubscriptionIdentifier(1),
                Error::PropertyNotAllowed(0x0b),
            ),
            (Property::ReceiveMaximum(1), Error::PropertyNotAllowed(0x21)),
            (
                Property::ResponseTopic("replies/+"),
                Error::WildcardInTopicName,
            ),
            (Property::PayloadFormatIndicator(2), Error::MalformedPacket),
        ] {
            assert_eq!(check(&[refused]), Err(error), "{refused:?}");
        }
        let twice = [Property::ContentType("a"), Property::ContentType("b")];
        assert_eq!(check(&twice), Err(Error::DuplicateProperty(0x03)));
        // Wire bytes that stop reading: an unknown identifier, and a Topic
        // Alias behind a byte that does not read.
        for bytes in [&[0x01, 0x01, 0xff][..], &[0xff, 0x23, 0, 1]] {
            assert!(
                Properties::Wire(bytes).check_publish().is_err(),
                "{bytes:x?}"
            );
        }
    }

    #[test]
    fn the_message_expiry_interval_is_found_in_a_written_block() {
        let long_type = "t".repeat(200);
        for content_type in ["text/plain", long_type.as_str()] {
            let list = [
                Property::ContentType(content_type),
                Property::UserProperty("a", "1"),
                Property::MessageExpiryInterval(0x0102_0304),
                Property::ResponseTopic("replies"),
            ];
            let mut block = [0u8; 300];
            let n = Properties::List(&list).block_len().unwrap();
            Properties::List(&list)
                .write_block(&mut block[..n])
                .unwrap();
            // A 200-byte Content Type takes the block's length to two bytes.
            let at = Properties::message_expiry_at(&block[..n]).unwrap();
            assert_eq!(block[at - 1], 0x02, "{content_type}");
            assert_eq!(block[at..at + 4], [1, 2, 3, 4]);
            // Cut inside the property: not found.
            assert_eq!(Properties::message_expiry_at(&block[..at + 3]), None);
            let without = [list[0], list[1], list[3]];
            let n = Properties::List(&without).block_len().unwrap();
            Properties::List(&without)
                .write_block(&mut block[..n])
                .unwrap();
            assert_eq!(Properties::message_expiry_at(&block[..n]), None);
        }
    }

    #[test]
    fn allowed_table_bits_follow_context_order() {
        for (bit, context) in CONTEXTS.iter().enumerate() {
            assert_eq!(*context as usize, bit);
        }
        // Identifiers past the table are never allowed, not out of bounds.
        assert!(!allowed(0x2b, Context::ConnAck));
        assert!(!allowed(0xff, Context::Publish));
    }
}
