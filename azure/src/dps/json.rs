//! A small JSON reader over a byte cursor: just what the DPS response parser
//! needs (objects read member by member, strings borrowed raw, unsigned
//! integers, and values skipped or sliced whole), without recursion or an
//! allocator. Every malformed input is an error, never a panic.

use crate::AzureError;

/// How deep [`JsonReader::skip_value`] follows nested objects and arrays.
const MAX_DEPTH: u32 = 64;

/// A cursor over JSON text.
#[derive(Debug)]
pub(crate) struct JsonReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> JsonReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        JsonReader { bytes, at: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), AzureError> {
        self.skip_whitespace();
        if self.bump() == Some(byte) {
            Ok(())
        } else {
            Err(AzureError::Malformed)
        }
    }

    /// Whether the next value is an object (without consuming anything).
    pub(crate) fn at_object(&mut self) -> bool {
        self.skip_whitespace();
        self.peek() == Some(b'{')
    }

    /// Consumes the `{` that opens an object.
    pub(crate) fn begin_object(&mut self) -> Result<Members, AzureError> {
        self.expect(b'{')?;
        Ok(Members { first: true })
    }

    /// The next member name of the object `members` walks, the cursor left
    /// on its value; `None` once the closing `}` is consumed.
    pub(crate) fn next_member(
        &mut self,
        members: &mut Members,
    ) -> Result<Option<&'a str>, AzureError> {
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(None);
        }
        if !members.first {
            self.expect(b',')?;
        }
        members.first = false;
        let name = self.string()?;
        self.expect(b':')?;
        Ok(Some(name))
    }

    /// Fails unless only whitespace is left.
    pub(crate) fn end(&mut self) -> Result<(), AzureError> {
        self.skip_whitespace();
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(AzureError::Malformed),
        }
    }

    /// A string value: its raw text between the quotes (escapes checked but
    /// not decoded, as azure-sdk-for-c's token slices).
    pub(crate) fn string(&mut self) -> Result<&'a str, AzureError> {
        self.expect(b'"')?;
        let start = self.at;
        loop {
            match self.bump().ok_or(AzureError::Malformed)? {
                b'"' => break,
                b'\\' => match self.bump().ok_or(AzureError::Malformed)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        for _ in 0..4 {
                            if !self.bump().is_some_and(|b| b.is_ascii_hexdigit()) {
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
        let raw = self
            .bytes
            .get(start..self.at - 1)
            .ok_or(AzureError::Malformed)?;
        core::str::from_utf8(raw).map_err(|_| AzureError::Malformed)
    }

    /// An unsigned integer value that fits a `u32`.
    pub(crate) fn u32(&mut self) -> Result<u32, AzureError> {
        self.skip_whitespace();
        let start = self.at;
        self.number()?;
        let text = self
            .bytes
            .get(start..self.at)
            .ok_or(AzureError::Malformed)?;
        let mut value: u32 = 0;
        for &byte in text {
            if !byte.is_ascii_digit() {
                // Negative, fractional or exponent: not a u32.
                return Err(AzureError::Malformed);
            }
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u32::from(byte - b'0')))
                .ok_or(AzureError::OutOfRange)?;
        }
        Ok(value)
    }

    /// A number per RFC 8259 §6.
    fn number(&mut self) -> Result<(), AzureError> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.bump() {
            Some(b'0') => {}
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(AzureError::Malformed),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.some_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.some_digits()?;
        }
        Ok(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }

    fn some_digits(&mut self) -> Result<(), AzureError> {
        if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
            return Err(AzureError::Malformed);
        }
        self.digits();
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), AzureError> {
        let end = self.at + word.len();
        if self.bytes.get(self.at..end) == Some(word) {
            self.at = end;
            Ok(())
        } else {
            Err(AzureError::Malformed)
        }
    }

    /// Skips one value of any kind; returns its text.
    pub(crate) fn skip_value(&mut self) -> Result<&'a [u8], AzureError> {
        self.skip_whitespace();
        let start = self.at;
        // One bit per open container: 1 for an object, 0 for an array.
        let mut stack: u64 = 0;
        let mut depth: u32 = 0;
        loop {
            // A value is expected here.
            self.skip_whitespace();
            let mut opened = false;
            match self.peek() {
                Some(open @ (b'{' | b'[')) => {
                    self.at += 1;
                    self.skip_whitespace();
                    let close = if open == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.at += 1;
                    } else {
                        if depth >= MAX_DEPTH {
                            return Err(AzureError::OutOfRange);
                        }
                        stack = (stack << 1) | u64::from(open == b'{');
                        depth += 1;
                        if open == b'{' {
                            self.string()?;
                            self.expect(b':')?;
                        }
                        opened = true;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                _ => self.number()?,
            }
            if opened {
                continue;
            }
            // A value is complete: close containers until one continues.
            loop {
                if depth == 0 {
                    return self.bytes.get(start..self.at).ok_or(AzureError::Malformed);
                }
                self.skip_whitespace();
                let in_object = stack & 1 == 1;
                match self.bump() {
                    Some(b',') => {
                        if in_object {
                            self.string()?;
                            self.expect(b':')?;
                        }
                        break;
                    }
                    Some(b'}') if in_object => {}
                    Some(b']') if !in_object => {}
                    _ => return Err(AzureError::Malformed),
                }
                stack >>= 1;
                depth -= 1;
            }
        }
    }
}

/// The state of a walk over one object's members.
#[derive(Debug)]
pub(crate) struct Members {
    first: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip(text: &str) -> Result<usize, AzureError> {
        let mut reader = JsonReader::new(text.as_bytes());
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
        assert_eq!(JsonReader::new(b"4294967295").u32(), Ok(u32::MAX));
        assert_eq!(
            JsonReader::new(b"4294967296").u32(),
            Err(AzureError::OutOfRange)
        );
        assert_eq!(JsonReader::new(b"-1").u32(), Err(AzureError::Malformed));
        assert_eq!(JsonReader::new(b"1.5").u32(), Err(AzureError::Malformed));
        assert_eq!(JsonReader::new(b"\"1\"").u32(), Err(AzureError::Malformed));
    }
}
