//! The texts the Azure clients take from the cloud: the first byte picks a
//! parser — Device Update manifest, Device Update service request, compact
//! JWS, DPS response (topic, newline, payload; and the payload under two
//! fixed topics), hub topic, base64 and JSON unescaping, Plug and Play
//! properties (their `$version`, and every property walked component by
//! component, as a writable update and as both halves of a GET response) —
//! after the JSON reader has walked the whole input token by token and
//! skipped it whole.
#![no_main]

use duet_azure::adu::jws::CompactJws;
use duet_azure::adu::{UpdateManifest, UpdateRequest};
use duet_azure::dps::RegisterResponse;
use duet_azure::hub::pnp::{PropertiesReader, PropertyType, properties_version};
use duet_azure::hub::{HubTopic, PropertiesMessageType};
use duet_azure::json::{JsonReader, JsonTokenKind};
use libfuzzer_sys::fuzz_target;

/// Tokens read before giving up on a (long) text.
const MAX_TOKENS: usize = 10_000;

fuzz_target!(|data: &[u8]| {
    let Some((&parser, input)) = data.split_first() else {
        return;
    };
    let mut reader = JsonReader::from_bytes(input);
    for _ in 0..MAX_TOKENS {
        if reader.next_token().is_err() {
            break;
        }
    }
    let _ = reader.end();
    let mut reader = JsonReader::from_bytes(input);
    if reader.next_token().is_ok() {
        let _ = reader.skip_children();
        let _ = reader.end();
    }
    let Ok(text) = core::str::from_utf8(input) else {
        return;
    };
    match parser % 8 {
        0 => drop(UpdateManifest::<'_, 4, 4, 4, 2>::parse(text)),
        1 => drop(UpdateRequest::<'_, 4>::parse(text)),
        2 => drop(CompactJws::parse(text)),
        3 => {
            let (topic, payload) = text.split_once('\n').unwrap_or((text, ""));
            let _ = RegisterResponse::parse(topic, payload.as_bytes());
            let _ =
                RegisterResponse::parse("$dps/registrations/res/202/?$rid=1&retry-after=3", input);
            let _ = RegisterResponse::parse("$dps/registrations/res/200/?$rid=1", input);
        }
        4 => drop(HubTopic::parse(text)),
        6 => walk_properties(text),
        _ => {
            let mut out = [0u8; 256];
            let _ = duet_azure::base64::decode_either(text, &mut out);
            let _ = duet_azure::json::unescape(text, &mut out);
        }
    }
});

/// What a device does with a properties payload: its version, then each
/// property's value read (a scalar) or skipped (an object or array), as the
/// reader's documentation asks, under every combination it accepts.
fn walk_properties(text: &str) {
    const COMPONENTS: [&str; 2] = ["thermostat1", "deviceInformation"];
    let _ = properties_version(text, PropertiesMessageType::WritableUpdated);
    let _ = properties_version(text, PropertiesMessageType::GetResponse);
    let walks = [
        (
            PropertiesMessageType::WritableUpdated,
            PropertyType::Writable,
        ),
        (PropertiesMessageType::GetResponse, PropertyType::Writable),
        (
            PropertiesMessageType::GetResponse,
            PropertyType::ReportedFromDevice,
        ),
    ];
    for (message, property) in walks {
        let Ok(mut reader) = PropertiesReader::new(text, message, property, &COMPONENTS) else {
            continue;
        };
        for _ in 0..MAX_TOKENS {
            let Ok(Some(_)) = reader.next_component_property() else {
                break;
            };
            let json = reader.json();
            if json.next_token().is_err() {
                break;
            }
            let moved = match json.kind() {
                JsonTokenKind::BeginObject | JsonTokenKind::BeginArray => json.skip_children(),
                _ => json.next_token(),
            };
            if moved.is_err() {
                break;
            }
        }
    }
}
