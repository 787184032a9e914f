//! A small JSON cursor, without an allocator or recursion (RFC 8259):
//! [`JsonReader`] walks a payload token by token (like azure-sdk-for-c
//! `az_json_reader`), and [`JsonWriter`] writes one into the caller's
//! buffer (`az_json_writer`). Strings are handed out raw, borrowed from the
//! input: their escapes are checked, not decoded. Malformed input is an
//! error, never a panic.

use crate::AzureError;
use crate::out::Out;

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
    input: &'a [u8],
    pos: usize,
    kind: JsonTokenKind,
    /// Where the current token starts (its opening quote for a string).
    start: usize,
    text: &'a str,
    /// One bit per open container, 1 for an object.
    stack: u64,
    depth: u32,
}

impl<'a> JsonReader<'a> {
    /// A reader before the first token of `input`.
    pub fn new(input: &'a str) -> Self {
        Self::from_bytes(input.as_bytes())
    }

    /// A reader before the first token of `input`, which need not be UTF-8
    /// as a whole: a token that is not is [`AzureError::Malformed`] when
    /// read.
    pub fn from_bytes(input: &'a [u8]) -> Self {
        Self {
            input,
            pos: 0,
            kind: JsonTokenKind::None,
            start: 0,
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
        self.integer()?;
        self.text.parse().map_err(|_| AzureError::OutOfRange)
    }

    /// The current number as a `u32`; [`AzureError::Malformed`] if it is
    /// not an unsigned integer, [`AzureError::OutOfRange`] if it overflows.
    pub fn u32(&self) -> Result<u32, AzureError> {
        if self.integer()? != self.text {
            // Negative: not a u32.
            return Err(AzureError::Malformed);
        }
        self.text.parse().map_err(|_| AzureError::OutOfRange)
    }

    /// The digits of the current number, which must be an integer.
    fn integer(&self) -> Result<&'a str, AzureError> {
        if self.kind != JsonTokenKind::Number {
            return Err(AzureError::Malformed);
        }
        let digits = self.text.strip_prefix('-').unwrap_or(self.text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AzureError::Malformed);
        }
        Ok(digits)
    }

    /// Moves to the next value, which must be a string; returns its raw text.
    pub fn next_string(&mut self) -> Result<&'a str, AzureError> {
        self.next_token()?;
        if self.kind != JsonTokenKind::String {
            return Err(AzureError::Malformed);
        }
        Ok(self.text)
    }

    /// Moves to the next value, which must be a number that fits a `u32`.
    pub fn next_u32(&mut self) -> Result<u32, AzureError> {
        self.next_token()?;
        self.u32()
    }

    /// Inside an object, moves to the next member name and returns it;
    /// `None` on the object's `}`.
    pub fn next_member(&mut self) -> Result<Option<&'a str>, AzureError> {
        self.next_token()?;
        match self.kind {
            JsonTokenKind::PropertyName => Ok(Some(self.text)),
            JsonTokenKind::EndObject => Ok(None),
            _ => Err(AzureError::Malformed),
        }
    }

    /// Fails unless only whitespace follows the current token (use it after
    /// the root value).
    pub fn end(&mut self) -> Result<(), AzureError> {
        self.skip_whitespace();
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(AzureError::Malformed),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
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
        let bytes = self.input.get(start..end).ok_or(AzureError::Malformed)?;
        self.text = core::str::from_utf8(bytes).map_err(|_| AzureError::Malformed)?;
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

    /// Skips the current value (or member, from its name) whole, as
    /// [`skip_children`](Self::skip_children) does, and returns its JSON
    /// text as written.
    pub fn skip_value(&mut self) -> Result<&'a str, AzureError> {
        if self.kind == JsonTokenKind::PropertyName {
            self.next_token()?;
        }
        let start = self.start;
        self.skip_children()?;
        let bytes = self
            .input
            .get(start..self.pos)
            .ok_or(AzureError::Malformed)?;
        core::str::from_utf8(bytes).map_err(|_| AzureError::Malformed)
    }

    fn open(&mut self, kind: JsonTokenKind, object: bool) -> Result<(), AzureError> {
        if self.depth >= MAX_DEPTH {
            return Err(AzureError::OutOfRange);
        }
        self.stack = (self.stack << 1) | u64::from(object);
        self.depth += 1;
        self.punctuator(kind)
    }

    fn close(&mut self, kind: JsonTokenKind) -> Result<(), AzureError> {
        self.stack >>= 1;
        self.depth -= 1;
        self.punctuator(kind)
    }

    fn punctuator(&mut self, kind: JsonTokenKind) -> Result<(), AzureError> {
        self.start = self.pos;
        self.pos += 1;
        self.set(kind, self.start, self.pos)
    }

    fn read_name(&mut self) -> Result<(), AzureError> {
        self.read_string(JsonTokenKind::PropertyName)?;
        self.skip_whitespace();
        Ok(())
    }

    fn bump(&mut self) -> Result<u8, AzureError> {
        let byte = self.peek().ok_or(AzureError::Malformed)?;
        self.pos += 1;
        Ok(byte)
    }

    /// A string (RFC 8259 §7): escapes are checked, not decoded.
    fn read_string(&mut self, kind: JsonTokenKind) -> Result<(), AzureError> {
        if self.peek() != Some(b'"') {
            return Err(AzureError::Malformed);
        }
        let quote = self.pos;
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.bump()? {
                b'"' => break,
                b'\\' => match self.bump()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        for _ in 0..4 {
                            if !self.bump()?.is_ascii_hexdigit() {
                                return Err(AzureError::Malformed);
                            }
                        }
                    }
                    _ => return Err(AzureError::Malformed),
                },
                byte if byte < 0x20 => return Err(AzureError::Malformed),
                _ => {}
            }
        }
        self.start = quote;
        self.set(kind, start, self.pos - 1)
    }

    fn read_literal(&mut self, word: &str, kind: JsonTokenKind) -> Result<(), AzureError> {
        let start = self.pos;
        let end = start + word.len();
        if self.input.get(start..end) != Some(word.as_bytes()) {
            return Err(AzureError::Malformed);
        }
        self.pos = end;
        self.start = start;
        self.set(kind, start, end)
    }

    /// A number (RFC 8259 §6).
    fn read_number(&mut self) -> Result<(), AzureError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.bump()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return Err(AzureError::Malformed),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.some_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        self.start = start;
        self.set(JsonTokenKind::Number, start, self.pos)
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Result<(), AzureError> {
        if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
            return Err(AzureError::Malformed);
        }
        self.digits();
        Ok(())
    }

    fn read_value(&mut self) -> Result<(), AzureError> {
        match self.peek() {
            Some(b'{') => self.open(JsonTokenKind::BeginObject, true),
            Some(b'[') => self.open(JsonTokenKind::BeginArray, false),
            Some(b'"') => self.read_string(JsonTokenKind::String),
            Some(b't') => self.read_literal("true", JsonTokenKind::True),
            Some(b'f') => self.read_literal("false", JsonTokenKind::False),
            Some(b'n') => self.read_literal("null", JsonTokenKind::Null),
            _ => self.read_number(),
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
    out: Out<'b>,
    state: WriterState,
}

impl<'b> JsonWriter<'b> {
    /// An empty writer over `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self {
            out: Out::new(buf),
            state: WriterState::First,
        }
    }

    /// Bytes written.
    pub fn len(&self) -> usize {
        self.out.position()
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The JSON written so far.
    pub fn as_str(&self) -> &str {
        self.out.written_str()
    }

    /// Writes an item with `write`, after a comma when one is due. On
    /// [`AzureError::BufferTooSmall`] nothing is written.
    fn item(
        &mut self,
        next: WriterState,
        write: impl for<'w> FnOnce(&'w mut Out<'b>) -> Result<&'w mut Out<'b>, AzureError>,
    ) -> Result<(), AzureError> {
        let start = self.out.position();
        let comma = if self.state == WriterState::AfterItem {
            self.out.put(b",").map(|_| ())
        } else {
            Ok(())
        };
        match comma.and_then(|()| write(&mut self.out).map(|_| ())) {
            Ok(()) => {
                self.state = next;
                Ok(())
            }
            Err(e) => {
                self.out.truncate(start);
                Err(e)
            }
        }
    }

    fn raw(&mut self, bytes: &[u8], next: WriterState) -> Result<(), AzureError> {
        self.item(next, |o| o.put(bytes))
    }

    /// `{`.
    pub fn begin_object(&mut self) -> Result<(), AzureError> {
        self.raw(b"{", WriterState::First)
    }

    /// `}`.
    pub fn end_object(&mut self) -> Result<(), AzureError> {
        self.state = WriterState::First;
        self.raw(b"}", WriterState::AfterItem)
    }

    /// `[`.
    pub fn begin_array(&mut self) -> Result<(), AzureError> {
        self.raw(b"[", WriterState::First)
    }

    /// `]`.
    pub fn end_array(&mut self) -> Result<(), AzureError> {
        self.state = WriterState::First;
        self.raw(b"]", WriterState::AfterItem)
    }

    /// A member name and its colon.
    pub fn property_name(&mut self, name: &str) -> Result<(), AzureError> {
        self.item(WriterState::AfterName, |o| {
            o.put(b"\"")?.put_json_escaped(name)?.put(b"\":")
        })
    }

    /// A string value, escaped.
    pub fn string(&mut self, value: &str) -> Result<(), AzureError> {
        self.item(WriterState::AfterItem, |o| {
            o.put(b"\"")?.put_json_escaped(value)?.put(b"\"")
        })
    }

    /// An integer value.
    pub fn int32(&mut self, value: i32) -> Result<(), AzureError> {
        self.int64(i64::from(value))
    }

    /// An integer value.
    pub fn int64(&mut self, value: i64) -> Result<(), AzureError> {
        self.item(WriterState::AfterItem, |o| {
            if value < 0 {
                o.put(b"-")?;
            }
            o.put_decimal(value.unsigned_abs())
        })
    }

    /// `true` or `false`.
    pub fn bool(&mut self, value: bool) -> Result<(), AzureError> {
        self.raw(
            if value { b"true" } else { b"false" },
            WriterState::AfterItem,
        )
    }

    /// `null`.
    pub fn null(&mut self) -> Result<(), AzureError> {
        self.raw(b"null", WriterState::AfterItem)
    }
}

// Decoding a JSON string's escapes (RFC 8259 §7): the reader hands
// strings out raw; ADU's update manifest, a JSON document inside a JSON
// string, is needed decoded (the C SDK's `az_json_string_unescape`).

/// Writes the raw string text `raw` (a [`crate::json::JsonReader::text`],
/// without its quotes) with its escapes decoded into `out`; returns the
/// length. `\uXXXX` escapes become UTF-8, surrogate pairs joined; a lone
/// surrogate or a bad escape is [`AzureError::Malformed`], a short `out`
/// [`AzureError::BufferTooSmall`].
pub fn unescape(raw: &str, out: &mut [u8]) -> Result<usize, AzureError> {
    let mut bytes = raw.as_bytes().iter().copied();
    let mut at = 0;
    let mut put = |chunk: &[u8], at: &mut usize| -> Result<(), AzureError> {
        let end = *at + chunk.len();
        out.get_mut(*at..end)
            .ok_or(AzureError::BufferTooSmall)?
            .copy_from_slice(chunk);
        *at = end;
        Ok(())
    };
    while let Some(byte) = bytes.next() {
        if byte != b'\\' {
            put(&[byte], &mut at)?;
            continue;
        }
        let decoded = match bytes.next().ok_or(AzureError::Malformed)? {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let unit = hex4(&mut bytes)?;
                let code = match unit {
                    0xd800..=0xdbff => {
                        // A high surrogate: its low half must follow.
                        if bytes.next() != Some(b'\\') || bytes.next() != Some(b'u') {
                            return Err(AzureError::Malformed);
                        }
                        let low = hex4(&mut bytes)?;
                        if !(0xdc00..=0xdfff).contains(&low) {
                            return Err(AzureError::Malformed);
                        }
                        0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
                    }
                    0xdc00..=0xdfff => return Err(AzureError::Malformed),
                    _ => unit,
                };
                let c = char::from_u32(code).ok_or(AzureError::Malformed)?;
                let mut utf8 = [0u8; 4];
                put(c.encode_utf8(&mut utf8).as_bytes(), &mut at)?;
                continue;
            }
            _ => return Err(AzureError::Malformed),
        };
        put(&[decoded], &mut at)?;
    }
    Ok(at)
}

/// Four hex digits of a `\u` escape.
fn hex4(bytes: &mut impl Iterator<Item = u8>) -> Result<u32, AzureError> {
    let mut unit = 0;
    for _ in 0..4 {
        let digit = char::from(bytes.next().ok_or(AzureError::Malformed)?)
            .to_digit(16)
            .ok_or(AzureError::Malformed)?;
        unit = unit << 4 | digit;
    }
    Ok(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip(text: &str) -> Result<usize, AzureError> {
        let mut reader = JsonReader::new(text);
        reader.next_token()?;
        let value = reader.skip_value()?;
        reader.end()?;
        Ok(value.len())
    }

    #[test]
    fn values_are_skipped_whole() {
        for good in [
            "{}",
            "[]",
            "1",
            "-0.5e+3",
            "\"a\\u00e9\\n\"",
            "{\"a\":[1,{\"b\":null},[true,false]],\"c\":{}}",
            " [ 1 , 2 ] ",
        ] {
            assert!(skip(good).is_ok(), "{good}");
        }
        assert_eq!(skip(" [ 1 , 2 ] "), Ok(9));
        assert_eq!(skip("\"ab\""), Ok(4));
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\"}",
            "{\"a\":1,}",
            "[}",
            "{]",
            "01",
            "1.",
            "tru",
            "\"\\x\"",
            "\"a",
            "[1 2]",
            "{1:2}",
            "1 2",
        ] {
            assert!(skip(bad).is_err(), "{bad}");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(skip(&deep), Err(AzureError::OutOfRange));
    }

    #[test]
    fn unsigned_integers() {
        let u32_of = |text: &str| JsonReader::new(text).next_u32();
        assert_eq!(u32_of("4294967295"), Ok(u32::MAX));
        assert_eq!(u32_of("4294967296"), Err(AzureError::OutOfRange));
        assert_eq!(u32_of("-1"), Err(AzureError::Malformed));
        assert_eq!(u32_of("1.5"), Err(AzureError::Malformed));
        assert_eq!(u32_of("\"1\""), Err(AzureError::Malformed));
    }

    #[test]
    fn writer_escapes_and_rolls_back() {
        let mut buf = [0u8; 32];
        let mut w = JsonWriter::new(&mut buf);
        w.begin_object().unwrap();
        w.property_name("a").unwrap();
        w.string("\u{8}\u{c}\u{1}\"").unwrap();
        w.property_name("n").unwrap();
        w.int64(i64::MIN).unwrap_err();
        w.int32(-12).unwrap();
        w.end_object().unwrap();
        assert_eq!(w.as_str(), r#"{"a":"\b\f\u0001\"","n":-12}"#);
    }

    fn run(raw: &str) -> Result<([u8; 32], usize), AzureError> {
        let mut out = [0u8; 32];
        unescape(raw, &mut out).map(|n| (out, n))
    }

    #[test]
    fn decodes_every_escape_of_rfc_8259_section_7() {
        let (out, n) = run(r#"a\"b\\c\/d\b\f\n\r\t"#).unwrap();
        assert_eq!(&out[..n], b"a\"b\\c/d\x08\x0c\n\r\t");
        let (out, n) = run(r"\u00e9\u20ac\ud83d\ude00").unwrap();
        assert_eq!(&out[..n], "é€😀".as_bytes());
        let (out, n) = run("plain ü").unwrap();
        assert_eq!(&out[..n], "plain ü".as_bytes());
        for bad in [
            r"\",
            r"\x",
            r"\u12",
            r"\u12g4",
            r"\ud83d",
            r"\ud83dx",
            r"\ude00",
            r"\ud83d\u0041",
        ] {
            assert_eq!(run(bad).err(), Some(AzureError::Malformed), "{bad}");
        }
        let mut small = [0u8; 2];
        assert_eq!(
            unescape(r"ab\n", &mut small),
            Err(AzureError::BufferTooSmall)
        );
        assert_eq!(
            unescape(r"\u20ac", &mut small),
            Err(AzureError::BufferTooSmall)
        );
    }
}
