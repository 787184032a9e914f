//! Message properties: the `name=value&name=value` bag IoT Hub carries in a
//! telemetry or cloud-to-device topic (azure-sdk-for-c
//! `az_iot_message_properties`).
//!
//! [`MessagePropertiesWriter`] builds a bag in the caller's buffer;
//! [`MessageProperties`] reads one (a received topic's tail, or the
//! writer's output). Names and values are kept as they travel: URL-encoded.

use crate::AzureError;
use crate::out::Out;

/// Well-known (system) property names, already URL-encoded as they appear
/// in topics.
pub mod names {
    /// `$.mid`: the message id.
    pub const MESSAGE_ID: &str = "%24.mid";
    /// `$.cid`: the correlation id.
    pub const CORRELATION_ID: &str = "%24.cid";
    /// `$.ct`: the content type.
    pub const CONTENT_TYPE: &str = "%24.ct";
    /// `$.ce`: the content encoding.
    pub const CONTENT_ENCODING: &str = "%24.ce";
    /// `$.uid`: the user id.
    pub const USER_ID: &str = "%24.uid";
    /// `$.ctime`: the creation time.
    pub const CREATION_TIME: &str = "%24.ctime";
    /// `$.sub`: the Plug and Play component a message belongs to.
    pub const COMPONENT_NAME: &str = "%24.sub";
}

/// A borrowed property bag, read-only: `name=value` pairs joined by `&`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageProperties<'a> {
    text: &'a str,
}

impl<'a> MessageProperties<'a> {
    /// Reads `text` (for instance the tail of a cloud-to-device topic).
    pub const fn new(text: &'a str) -> Self {
        Self { text }
    }

    /// The bag as it travels.
    pub const fn as_str(&self) -> &'a str {
        self.text
    }

    /// Whether the bag holds no pair.
    pub const fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The value of the first property called exactly `name` (the
    /// C SDK's `AZ_ERROR_ITEM_NOT_FOUND` is `None`).
    pub fn find(&self, name: &str) -> Option<&'a str> {
        self.iter().find(|&(n, _)| n == name).map(|(_, v)| v)
    }

    /// The pairs, in order.
    pub fn iter(&self) -> MessagePropertiesIter<'a> {
        MessagePropertiesIter { rest: self.text }
    }
}

impl<'a> IntoIterator for MessageProperties<'a> {
    type Item = (&'a str, &'a str);
    type IntoIter = MessagePropertiesIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The pairs of a [`MessageProperties`]; a pair without `=` has an empty
/// value. Once it has ended it keeps returning `None` (the C SDK's
/// `AZ_ERROR_IOT_END_OF_PROPERTIES`).
#[derive(Debug, Clone)]
pub struct MessagePropertiesIter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for MessagePropertiesIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let (pair, rest) = self.rest.split_once('&').unwrap_or((self.rest, ""));
            self.rest = rest;
            if pair.is_empty() {
                continue;
            }
            return Some(pair.split_once('=').unwrap_or((pair, "")));
        }
    }
}

impl core::iter::FusedIterator for MessagePropertiesIter<'_> {}

/// Builds a property bag in the caller's buffer.
#[derive(Debug)]
pub struct MessagePropertiesWriter<'a> {
    out: Out<'a>,
}

impl<'a> MessagePropertiesWriter<'a> {
    /// An empty bag over `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { out: Out::new(buf) }
    }

    /// Appends `name=value` as given: both must already be URL-encoded
    /// (like the names in [`names`]). An empty name, or a name or value
    /// holding `&` or `=`, is [`AzureError::InvalidArgument`]; on
    /// [`AzureError::BufferTooSmall`] the bag is left as it was.
    pub fn append(&mut self, name: &str, value: &str) -> Result<(), AzureError> {
        let bad = |s: &str| s.bytes().any(|b| b == b'&' || b == b'=');
        if name.is_empty() || bad(name) || bad(value) {
            return Err(AzureError::InvalidArgument);
        }
        self.push_pair(name, value, Out::put_str)
    }

    /// Appends `name=value`, URL-encoding both (RFC 3986 unreserved
    /// characters kept). An empty name is [`AzureError::InvalidArgument`].
    pub fn append_encoded(&mut self, name: &str, value: &str) -> Result<(), AzureError> {
        if name.is_empty() {
            return Err(AzureError::InvalidArgument);
        }
        self.push_pair(name, value, Out::put_url_encoded)
    }

    /// Appends `[&]name=value`, each written by `write`; on an error the
    /// bag is left as it was.
    fn push_pair(
        &mut self,
        name: &str,
        value: &str,
        write: impl for<'w> Fn(&'w mut Out<'a>, &str) -> Result<&'w mut Out<'a>, AzureError>,
    ) -> Result<(), AzureError> {
        let start = self.out.position();
        let result = (|| {
            if start > 0 {
                self.out.put(b"&")?;
            }
            write(&mut self.out, name)?.put(b"=")?;
            write(&mut self.out, value)?;
            Ok(())
        })();
        if result.is_err() {
            self.out.truncate(start);
        }
        result
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.out.position()
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bag written so far, to read or to pass to a topic builder.
    pub fn properties(&self) -> MessageProperties<'_> {
        // Only `&str` pieces were copied in whole, so this is UTF-8.
        MessageProperties::new(self.out.written_str())
    }
}
