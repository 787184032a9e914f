//! The texts the Azure clients take from the cloud: the first byte picks a
//! parser — Device Update manifest, Device Update service request, compact
//! JWS, DPS response (topic, newline, payload; and the payload under two
//! fixed topics), hub topic, base64 and JSON unescaping — after the JSON
//! reader has walked the whole input token by token and skipped it whole.
#![no_main]

use duet_azure::adu::jws::CompactJws;
use duet_azure::adu::{UpdateManifest, UpdateRequest};
use duet_azure::dps::RegisterResponse;
use duet_azure::hub::HubTopic;
use duet_azure::json::JsonReader;
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
    match parser % 6 {
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
        _ => {
            let mut out = [0u8; 256];
            let _ = duet_azure::base64::decode_either(text, &mut out);
            let _ = duet_azure::json::unescape(text, &mut out);
        }
    }
});
