//! A small JSON cursor, without an allocator: [`JsonReader`] walks a
//! payload token by token (like azure-sdk-for-c `az_json_reader`), and
//! [`JsonWriter`] writes one into the caller's buffer (`az_json_writer`).

use crate::AzureError;

/// What a [`JsonReader`] is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonTokenKind {
    /// Nothing read yet.
    None,
    /// `{`.
    BeginObject,
    /// `}`.
    EndObject,
    /// `[`.
    BeginArray,
    /// `]`.
    EndArray,
    /// A member name.
    PropertyName,
    /// A string value.
    String,
    /// A number.
    Number,
    /// `true`.
    True,
    /// `false`.
    False,
    /// `null`.
    Null,
}

/// The deepest nesting a reader follows.
pub const MAX_DEPTH: u32 = 64;

/// A forward-only cursor over a JSON text. Clone it to look ahead.
#[derive(Debug, Clone)]
pub struct JsonReader<'a> {
    input: &'a str,
    pos: usize,
    kind: JsonTokenKind,
    text: &'a str,
    /// One bit per open container, 1 for an object.
    stack: u64,
    depth: u32,
}

impl<'a> JsonReader<'a> {
    /// A reader before the first token of `input`.
    pub fn new(input: &'a str) -> Self {
        Self {
            input,
            pos: 0,
            kind: JsonTokenKind::None,
            text: "",
            stack: 0,
            depth: 0,
        }
    }

    /// The current token's kind.
    pub fn kind(&self) -> JsonTokenKind {
        self.kind
    }

    /// The current token's text: a string or name without its quotes (and
    /// with its escapes as written), a number or literal as written.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Containers open after the current token.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// The current number as an `i32`; [`AzureError::Malformed`] if it is
    /// not an integer number, [`AzureError::OutOfRange`] if it overflows.
    pub fn i32(&self) -> Result<i32, AzureError> {
        if self.kind != JsonTokenKind::Number {
            return Err(AzureError::Malformed);
        }
        let digits = self.text.strip_prefix('-').unwrap_or(self.text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AzureError::Malformed);
        }
        self.text.parse().map_err(|_| AzureError::OutOfRange)
    }

    fn peek(&self) -> Option<u8> {
        self.input.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    fn in_object(&self) -> bool {
        self.depth > 0 && self.stack & 1 == 1
    }

    fn set(&mut self, kind: JsonTokenKind, start: usize, end: usize) -> Result<(), AzureError> {
        self.text = self.input.get(start..end).ok_or(AzureError::Malformed)?;
        self.kind = kind;
        Ok(())
    }

    /// Moves to the next token. The end of the text, or one that is not
    /// JSON, is [`AzureError::Malformed`]; nesting deeper than
    /// [`MAX_DEPTH`] is [`AzureError::OutOfRange`].
    pub fn next_token(&mut self) -> Result<(), AzureError> {
        self.skip_whitespace();
        match self.kind {
            // `None` only before the first token: after the root value the
            // reader stays on a token at depth 0, which reads no further.
            JsonTokenKind::None => self.read_value(),
            JsonTokenKind::BeginObject => {
                if self.peek() == Some(b'}') {
                    self.close(JsonTokenKind::EndObject)
                } else {
                    self.read_name()
                }
            }
            JsonTokenKind::BeginArray => {
                if self.peek() == Some(b']') {
                    self.close(JsonTokenKind::EndArray)
                } else {
                    self.read_value()
                }
            }
            JsonTokenKind::PropertyName => {
                if self.peek() != Some(b':') {
                    return Err(AzureError::Malformed);
                }
                self.pos += 1;
                self.skip_whitespace();
                self.read_value()
            }
            _ => {
                if self.depth == 0 {
                    return Err(AzureError::Malformed);
                }
                let in_object = self.in_object();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        self.skip_whitespace();
                        if in_object {
                            self.read_name()
                        } else {
                            self.read_value()
                        }
                    }
                    Some(b'}') if in_object => self.close(JsonTokenKind::EndObject),
                    Some(b']') if !in_object => self.close(JsonTokenKind::EndArray),
                    _ => Err(AzureError::Malformed),
                }
            }
        }
    }

    /// Skips the current container (or member, from its name) to its end:
    /// afterwards the reader is on the matching `}` or `]`, or on the
    /// scalar value. Does nothing on a scalar.
    pub fn skip_children(&mut self) -> Result<(), AzureError> {
        if self.kind == JsonTokenKind::PropertyName {
            self.next_token()?;
        }
        if matches!(
            self.kind,
            JsonTokenKind::BeginObject | JsonTokenKind::BeginArray
        ) {
            let target = self.depth - 1;
            loop {
                self.next_token()?;
                if matches!(
                    self.kind,
                    JsonTokenKind::EndObject | JsonTokenKind::EndArray
                ) && self.depth == target
                {
                    break;
                }
            }
        }
        Ok(())
    }

    fn open(&mut self, kind: JsonTokenKind, object: bool) -> Result<(), AzureError> {
        if self.depth >= MAX_DEPTH {
            return Err(AzureError::OutOfRange);
        }
        self.stack = (self.stack << 1) | u64::from(object);
        self.depth += 1;
        let start = self.pos;
        self.pos += 1;
        self.set(kind, start, self.pos)
    }

    fn close(&mut self, kind: JsonTokenKind) -> Result<(), AzureError> {
        self.stack >>= 1;
        self.depth -= 1;
        let start = self.pos;
        self.pos += 1;
        self.set(kind, start, self.pos)
    }

    fn read_name(&mut self) -> Result<(), AzureError> {
        self.read_string(JsonTokenKind::PropertyName)?;
        self.skip_whitespace();
        Ok(())
    }

    fn read_string(&mut self, kind: JsonTokenKind) -> Result<(), AzureError> {
        if self.peek() != Some(b'"') {
            return Err(AzureError::Malformed);
        }
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek() {
                None => return Err(AzureError::Malformed),
                Some(b'"') => break,
                Some(b'\\') => self.pos += 2,
                Some(b) if b < 0x20 => return Err(AzureError::Malformed),
                Some(_) => self.pos += 1,
            }
        }
        let end = self.pos;
        self.pos += 1;
        self.set(kind, start, end)
    }

    fn read_literal(&mut self, word: &str, kind: JsonTokenKind) -> Result<(), AzureError> {
        let start = self.pos;
        let end = start + word.len();
        if self.input.get(start..end) != Some(word) {
            return Err(AzureError::Malformed);
        }
        self.pos = end;
        self.set(kind, start, end)
    }

    fn read_value(&mut self) -> Result<(), AzureError> {
        match self.peek() {
            Some(b'{') => self.open(JsonTokenKind::BeginObject, true),
            Some(b'[') => self.open(JsonTokenKind::BeginArray, false),
            Some(b'"') => self.read_string(JsonTokenKind::String),
            Some(b't') => self.read_literal("true", JsonTokenKind::True),
            Some(b'f') => self.read_literal("false", JsonTokenKind::False),
            Some(b'n') => self.read_literal("null", JsonTokenKind::Null),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                while matches!(
                    self.peek(),
                    Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                ) {
                    self.pos += 1;
                }
                let text = self.input.get(start..self.pos).unwrap_or_default();
                if !text.bytes().any(|b| b.is_ascii_digit()) {
                    return Err(AzureError::Malformed);
                }
                self.set(JsonTokenKind::Number, start, self.pos)
            }
            _ => Err(AzureError::Malformed),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriterState {
    /// Nothing written, or a container just opened: no comma before the next item.
    First,
    /// A member name written: its value follows.
    AfterName,
    /// An item written: a comma before the next one.
    AfterItem,
}

/// Writes JSON into the caller's buffer, inserting the commas and colons.
/// It does not check that calls nest: the caller writes names inside
/// objects and closes what it opened.
#[derive(Debug)]
pub struct JsonWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
    state: WriterState,
}

impl<'b> JsonWriter<'b> {
    /// An empty writer over `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self {
            buf,
            len: 0,
            state: WriterState::First,
        }
    }

    /// Bytes written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The JSON written so far.
    pub fn as_str(&self) -> &str {
        self.buf
            .get(..self.len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or_default()
    }

    fn raw(&mut self, bytes: &[u8]) -> Result<(), AzureError> {
        let end = self
            .len
            .checked_add(bytes.len())
            .ok_or(AzureError::BufferTooSmall)?;
        self.buf
            .get_mut(self.len..end)
            .ok_or(AzureError::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// Writes `bytes` as an item, after a comma when one is due (and a
    /// member name with its colon). On
    /// [`AzureError::BufferTooSmall`] nothing is written.
    fn item(&mut self, bytes: &[u8], quoted: bool, next: WriterState) -> Result<(), AzureError> {
        let start = self.len;
        let result = (|| {
            if self.state == WriterState::AfterItem {
                self.raw(b",")?;
            }
            if quoted {
                self.raw(b"\"")?;
                self.escaped(bytes)?;
                self.raw(b"\"")?;
                if next == WriterState::AfterName {
                    self.raw(b":")?;
                }
                Ok(())
            } else {
                self.raw(bytes)
            }
        })();
        match result {
            Ok(()) => {
                self.state = next;
                Ok(())
            }
            Err(e) => {
                self.len = start;
                Err(e)
            }
        }
    }

    fn escaped(&mut self, bytes: &[u8]) -> Result<(), AzureError> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for &b in bytes {
            match b {
                b'"' => self.raw(b"\\\"")?,
                b'\\' => self.raw(b"\\\\")?,
                b'\n' => self.raw(b"\\n")?,
                b'\r' => self.raw(b"\\r")?,
                b'\t' => self.raw(b"\\t")?,
                0..=0x1f => self.raw(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ])?,
                _ => self.raw(&[b])?,
            }
        }
        Ok(())
    }

    /// `{`.
    pub fn begin_object(&mut self) -> Result<(), AzureError> {
        self.item(b"{", false, WriterState::First)
    }

    /// `}`.
    pub fn end_object(&mut self) -> Result<(), AzureError> {
        self.state = WriterState::First;
        self.item(b"}", false, WriterState::AfterItem)
    }

    /// `[`.
    pub fn begin_array(&mut self) -> Result<(), AzureError> {
        self.item(b"[", false, WriterState::First)
    }

    /// `]`.
    pub fn end_array(&mut self) -> Result<(), AzureError> {
        self.state = WriterState::First;
        self.item(b"]", false, WriterState::AfterItem)
    }

    /// A member name and its colon.
    pub fn property_name(&mut self, name: &str) -> Result<(), AzureError> {
        self.item(name.as_bytes(), true, WriterState::AfterName)
    }

    /// A string value, escaped.
    pub fn string(&mut self, value: &str) -> Result<(), AzureError> {
        self.item(value.as_bytes(), true, WriterState::AfterItem)
    }

    /// An integer value.
    pub fn int32(&mut self, value: i32) -> Result<(), AzureError> {
        self.int64(i64::from(value))
    }

    /// An integer value.
    pub fn int64(&mut self, value: i64) -> Result<(), AzureError> {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut rest = value.unsigned_abs();
        loop {
            at -= 1;
            if let Some(d) = digits.get_mut(at) {
                *d = b'0' + (rest % 10) as u8;
            }
            rest /= 10;
            if rest == 0 || at == 1 {
                break;
            }
        }
        if value < 0 {
            at -= 1;
            if let Some(d) = digits.get_mut(at) {
                *d = b'-';
            }
        }
        let text = digits;
        self.item(
            text.get(at..).unwrap_or_default(),
            false,
            WriterState::AfterItem,
        )
    }

    /// `true` or `false`.
    pub fn bool(&mut self, value: bool) -> Result<(), AzureError> {
        self.item(
            if value { b"true" } else { b"false" },
            false,
            WriterState::AfterItem,
        )
    }

    /// `null`.
    pub fn null(&mut self) -> Result<(), AzureError> {
        self.item(b"null", false, WriterState::AfterItem)
    }
}
