//! `JsonReader` against serde_json: on the same bytes, the two must agree
//! on whether they are JSON (RFC 8259) and, where they are, on the value.
//!
//! The reader reads the twin documents, DPS replies and Device Update
//! requests a device gets from the cloud, so a text it takes that is not
//! JSON, or one it refuses that is, or a token it cuts in the wrong place,
//! is a bug a device maker meets in the field. serde_json is the referee:
//! a strict RFC 8259 parser with years of fuzzing behind it.
//!
//! The texts: the edge cases RFC 8259 names (numbers §6, strings and
//! escapes §7–8, structure §2–5), then generated documents (objects,
//! arrays, every escape, multi-byte UTF-8, surrogate pairs, every number
//! form, whitespace between any tokens) each followed by mutants of itself
//! (bytes cut, replaced, inserted, removed, repeated: see
//! `common/mutate.rs`).
//!
//! Our side of the comparison walks the reader's tokens into a
//! `serde_json::Value`: names and strings decoded with `json::unescape`,
//! numbers read from the token's text, and at the end `end()`. Where the
//! reader takes a text serde_json refuses, the test fails, and the other
//! way round; where both take it, the values must be equal. Two refusals
//! are not the reader's but the `Value`'s: a lone surrogate escape (the
//! reader checks escapes; `unescape` refuses it, as serde_json does) and a
//! number beyond `f64` (the reader hands out the text; serde_json's
//! `Value` cannot hold it). Each number token is also read with the
//! reader's `i32()` and `u32()`, which must agree with Rust's own parsing.

#[path = "common/mutate.rs"]
mod mutate;

use duet_azure::AzureError;
use duet_azure::json::{self, JsonReader, JsonTokenKind};
use mutate::{Rng, mutate};
use serde_json::{Map, Value};

/// Why our side has no value for a text.
#[derive(Debug)]
enum Refused {
    /// The reader, or its `end()`, said the text is not JSON.
    Reader(AzureError),
    /// A string's escapes do not decode (a lone surrogate).
    Escape,
    /// A number serde_json's `Value` cannot hold.
    NumberRange,
}

impl From<AzureError> for Refused {
    fn from(error: AzureError) -> Self {
        Refused::Reader(error)
    }
}

/// The text as the reader sees it.
fn ours(input: &[u8]) -> Result<Value, Refused> {
    let mut reader = JsonReader::from_bytes(input);
    reader.next_token()?;
    let value = value(&mut reader)?;
    reader.end()?;
    Ok(value)
}

/// The value whose first token the reader is on.
fn value(reader: &mut JsonReader<'_>) -> Result<Value, Refused> {
    Ok(match reader.kind() {
        JsonTokenKind::BeginObject => {
            let mut members = Map::new();
            loop {
                reader.next_token()?;
                match reader.kind() {
                    JsonTokenKind::EndObject => break,
                    JsonTokenKind::PropertyName => {
                        let name = string(reader.text())?;
                        reader.next_token()?;
                        members.insert(name, value(reader)?);
                    }
                    other => panic!("{other:?} where a member name or `}}` belongs"),
                }
            }
            Value::Object(members)
        }
        JsonTokenKind::BeginArray => {
            let mut items = Vec::new();
            loop {
                reader.next_token()?;
                if reader.kind() == JsonTokenKind::EndArray {
                    break;
                }
                items.push(value(reader)?);
            }
            Value::Array(items)
        }
        JsonTokenKind::String => Value::String(string(reader.text())?),
        JsonTokenKind::Number => number(reader)?,
        JsonTokenKind::True => Value::Bool(true),
        JsonTokenKind::False => Value::Bool(false),
        JsonTokenKind::Null => Value::Null,
        other => panic!("{other:?} where a value belongs"),
    })
}

fn string(raw: &str) -> Result<String, Refused> {
    // Decoding never makes a string longer.
    let mut decoded = vec![0u8; raw.len()];
    let len = json::unescape(raw, &mut decoded).map_err(|_| Refused::Escape)?;
    decoded.truncate(len);
    Ok(String::from_utf8(decoded).expect("unescape writes UTF-8"))
}

fn number(reader: &JsonReader<'_>) -> Result<Value, Refused> {
    let text = reader.text();
    let integer = !text.contains(['.', 'e', 'E']);
    let (as_i32, as_u32) = if integer {
        (text.parse::<i32>().ok(), text.parse::<u32>().ok())
    } else {
        (None, None)
    };
    assert_eq!(reader.i32().ok(), as_i32, "i32() of {text}");
    assert_eq!(reader.u32().ok(), as_u32, "u32() of {text}");
    match serde_json::from_str::<Value>(text) {
        Ok(number @ Value::Number(_)) => Ok(number),
        Ok(other) => panic!("the number token {text:?} is {other:?} to serde_json"),
        Err(e) if e.to_string().starts_with("number out of range") => Err(Refused::NumberRange),
        Err(e) => panic!("the reader took {text:?} as a number; serde_json: {e}"),
    }
}

/// How the two sides agreed on one text.
#[derive(Debug, Default)]
struct Tally {
    taken: usize,
    refused: usize,
}

/// Fails unless the reader and serde_json agree on `input`.
fn compare(input: &[u8], tally: &mut Tally) {
    let theirs = serde_json::from_slice::<Value>(input);
    let shown = String::from_utf8_lossy(input);
    match (ours(input), theirs) {
        (Ok(ours), Ok(theirs)) => {
            assert_eq!(ours, theirs, "different values for {shown:?}");
            tally.taken += 1;
        }
        (Ok(ours), Err(e)) => {
            panic!("the reader took {shown:?} (as {ours}), serde_json refuses it: {e}")
        }
        (Err(refused), Ok(theirs)) => {
            panic!("the reader refused {shown:?} ({refused:?}), serde_json reads {theirs}")
        }
        (Err(refused), Err(e)) => {
            let message = e.to_string();
            match refused {
                Refused::Escape => assert!(
                    message.contains("surrogate") || message.contains("hex escape"),
                    "escape refused in {shown:?}; serde_json: {message}"
                ),
                Refused::NumberRange => assert!(
                    message.starts_with("number out of range"),
                    "number refused in {shown:?}; serde_json: {message}"
                ),
                // No text here nests anywhere near `MAX_DEPTH`.
                Refused::Reader(error) => assert_eq!(error, AzureError::Malformed, "{shown:?}"),
            }
            tally.refused += 1;
        }
    }
}

/// RFC 8259's corners, each one way or the other.
const EDGES: &[&str] = &[
    // §2: the root may be any value, with whitespace around it.
    "",
    " ",
    "null",
    " \t\r\n[] \n",
    "\"\"",
    "0",
    "-0",
    "[] []",
    "{}x",
    "\u{feff}{}",
    "\u{a0}1",
    "\x0c1", // form feed and no-break space are not JSON whitespace
    // §3: literals are lower case and whole.
    "true",
    "True",
    "tru",
    "nul",
    "falsey",
    "[true false]",
    "nulll",
    // §4, §5: objects and arrays.
    "{\"a\":1}",
    "{\"a\":1,}",
    "{\"a\" 1}",
    "{\"a\":}",
    "{1:2}",
    "{a:1}",
    "{\"a\":1 \"b\":2}",
    "{\"a\":1,\"a\":2}",
    "[1,]",
    "[,1]",
    "[1,,2]",
    "[1 2]",
    "[[[]]]",
    "[[]",
    "[]]",
    "{]",
    "[}",
    "{\"\":[{}]}",
    // §6: numbers.
    "01",
    "-01",
    "00",
    "1.",
    ".1",
    "-",
    "+1",
    "1e",
    "1e+",
    "1E-2",
    "1.5e3",
    "-0.0",
    "1x",
    "0x1",
    "2147483647",
    "2147483648",
    "-2147483648",
    "-2147483649",
    "4294967295",
    "4294967296",
    "123456789012345678901234567890",
    "1e308",
    "1e309",
    "-1e400",
    "1e-400",
    "NaN",
    "Infinity",
    // §7, §8: strings, escapes, UTF-8.
    "\"\\x\"",
    "\"\\u12\"",
    "\"\\u12G4\"",
    "\"\\U0041\"",
    "\"\\u0041\"",
    "\"\\/\\b\\f\\n\\r\\t\"",
    "\"\x01\"",
    "\"\x1f\"",
    "\"\x7f\"",
    "\"a",
    "\"\\\"",
    "\"\\ud800\"",
    "\"\\udc00\\ud800\"",
    "\"\\ud83d\\ude00\"",
    "\"\\ud83dx\"",
    "\"\\u0000\"",
    "\"é€😀\"",
    "'a'",
    "\"\t\"",
];

/// Bytes no UTF-8 text holds, and a surrogate encoded as UTF-8.
const BAD_BYTES: &[&[u8]] = &[
    b"\"\xff\"",
    b"\"\xc3\"",
    b"[\"\xed\xa0\x80\"]",
    b"\xef\xbb\xbf{}",
];

#[test]
fn rfc_8259_edge_cases_are_read_as_serde_json_reads_them() {
    let mut tally = Tally::default();
    for text in EDGES {
        compare(text.as_bytes(), &mut tally);
    }
    for bytes in BAD_BYTES {
        compare(bytes, &mut tally);
    }
    assert_eq!(tally.taken + tally.refused, EDGES.len() + BAD_BYTES.len());
    assert!(tally.taken >= 25 && tally.refused >= 40, "{tally:?}");
}

/// Characters for generated strings: plain, needing escapes, multi-byte.
const STRING_PIECES: &[&str] = &[
    "a",
    "Z",
    "0",
    " ",
    "-",
    "é",
    "€",
    "😀",
    "\\\"",
    "\\\\",
    "\\/",
    "\\b",
    "\\f",
    "\\n",
    "\\r",
    "\\t",
    "\\u0041",
    "\\u00e9",
    "\\u20AC",
    "\\ud83d\\ude00",
    "\\u0000",
    "{",
    "]",
    ":",
    ",",
];

fn whitespace(rng: &mut Rng, out: &mut String) {
    for _ in 0..rng.below(3).saturating_sub(1) {
        out.push([' ', '\t', '\r', '\n'][rng.below(4)]);
    }
}

fn generate_string(rng: &mut Rng, out: &mut String) {
    out.push('"');
    for _ in 0..rng.below(8) {
        out.push_str(STRING_PIECES[rng.below(STRING_PIECES.len())]);
    }
    out.push('"');
}

fn digits(rng: &mut Rng, out: &mut String, at_least: usize) {
    for _ in 0..at_least + rng.below(6) {
        out.push(char::from(b'0' + rng.below(10) as u8));
    }
}

fn generate_number(rng: &mut Rng, out: &mut String) {
    if rng.below(3) == 0 {
        out.push('-');
    }
    if rng.below(4) == 0 {
        out.push('0');
    } else {
        out.push(char::from(b'1' + rng.below(9) as u8));
        digits(rng, out, 0);
    }
    if rng.below(3) == 0 {
        out.push('.');
        digits(rng, out, 1);
    }
    if rng.below(4) == 0 {
        out.push(['e', 'E'][rng.below(2)]);
        match rng.below(3) {
            0 => out.push('+'),
            1 => out.push('-'),
            _ => {}
        }
        digits(rng, out, 1);
    }
}

/// A valid JSON value, at most `depth` containers deep.
fn generate(rng: &mut Rng, depth: usize, out: &mut String) {
    whitespace(rng, out);
    let kinds = if depth == 0 { 6 } else { 8 };
    match rng.below(kinds) {
        0 => out.push_str("null"),
        1 => out.push_str(["true", "false"][rng.below(2)]),
        2 | 3 => generate_number(rng, out),
        4 | 5 => generate_string(rng, out),
        6 => {
            out.push('[');
            for i in 0..rng.below(5) {
                if i > 0 {
                    out.push(',');
                }
                generate(rng, depth - 1, out);
            }
            whitespace(rng, out);
            out.push(']');
        }
        _ => {
            out.push('{');
            for i in 0..rng.below(5) {
                if i > 0 {
                    out.push(',');
                }
                whitespace(rng, out);
                generate_string(rng, out);
                whitespace(rng, out);
                out.push(':');
                generate(rng, depth - 1, out);
            }
            whitespace(rng, out);
            out.push('}');
        }
    }
    whitespace(rng, out);
}

/// Documents generated: each is compared, then `MUTANTS` mutants of it.
const DOCUMENTS: usize = 30_000;
const MUTANTS: usize = 6;

#[test]
fn generated_documents_and_their_mutants_are_read_as_serde_json_reads_them() {
    let mut rng = Rng(0x005e_ed0f_8259);
    let mut tally = Tally::default();
    let mut document = String::new();
    for _ in 0..DOCUMENTS {
        document.clear();
        generate(&mut rng, 4, &mut document);
        compare(document.as_bytes(), &mut tally);
        for _ in 0..MUTANTS {
            compare(&mutate(&mut rng, document.as_bytes()), &mut tally);
        }
    }
    eprintln!(
        "json differential: {} texts, {} taken by both, {} refused by both",
        tally.taken + tally.refused,
        tally.taken,
        tally.refused
    );
    // Both verdicts must be well represented, or the comparison proves
    // little: every generated document is taken, and a mutant is as
    // likely to stay JSON (whitespace, a digit, a string's content) as not.
    assert!(tally.taken >= DOCUMENTS + DOCUMENTS / 2, "{tally:?}");
    assert!(tally.refused >= DOCUMENTS * MUTANTS / 3, "{tally:?}");
}
