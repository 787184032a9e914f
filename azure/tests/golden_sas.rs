//! SAS tokens and the common helpers against every golden vector of their
//! areas (hub.sas, dps.sas, derived.sas, derived.dps, common). A C buffer
//! size counts the terminating NUL: the Rust buffer is one byte smaller.

#[path = "common/vectors.rs"]
mod vectors;

use duet_azure::sas::{self, Resource};
use duet_azure::{AzureError, retry, url_encode};
use duet_crypto::soft::Soft;
use serde_json::Value;
use vectors::{text, vectors};

fn resource(inputs: &Value) -> Resource<'_> {
    match text(inputs, "iot_hub_hostname") {
        Some(hostname) => Resource::Hub {
            hostname,
            device_id: text(inputs, "device_id").unwrap(),
            module_id: text(inputs, "module_id"),
        },
        None => Resource::Dps {
            id_scope: text(inputs, "id_scope").unwrap(),
            registration_id: text(inputs, "registration_id").unwrap(),
        },
    }
}

/// A buffer as large as the vector's C buffer less its NUL, or roomy.
fn buffer(inputs: &Value) -> Vec<u8> {
    let size = inputs["buffer_size"]
        .as_u64()
        .map_or(512, |s| s as usize - 1);
    vec![0; size]
}

/// The outcome a vector expects, as our result.
fn expected(vector: &Value) -> Result<String, AzureError> {
    let e = &vector["expected"];
    match e["result"].as_str() {
        Some("AZ_OK") | None => Ok(text(e, "output").unwrap_or_default().to_owned()),
        Some("AZ_ERROR_NOT_ENOUGH_SPACE") => Err(AzureError::BufferTooSmall),
        Some("PRECONDITION_FAILED") => Err(AzureError::InvalidArgument),
        Some(other) => panic!("{}: unmapped result {other}", vector["name"]),
    }
}

fn as_text(out: &[u8], n: Result<usize, AzureError>) -> Result<String, AzureError> {
    n.map(|n| String::from_utf8(out[..n].to_vec()).unwrap())
}

#[test]
fn hub_and_dps_signatures_and_passwords() {
    let mut checked = 0;
    for area in ["hub.sas", "dps.sas"] {
        for vector in vectors(area) {
            let inputs = &vector["inputs"];
            let expiry = inputs["token_expiration_epoch_time"].as_u64().unwrap();
            let mut out = buffer(inputs);
            let got = match text(inputs, "base64_hmac_sha256_signature") {
                Some(signature) => {
                    let n = sas::password(
                        &resource(inputs),
                        signature,
                        expiry,
                        text(inputs, "key_name"),
                        &mut out,
                    );
                    as_text(&out, n)
                }
                None => {
                    let n = sas::string_to_sign(&resource(inputs), expiry, &mut out);
                    as_text(&out, n)
                }
            };
            assert_eq!(got, expected(&vector), "{}", vector["name"]);
            if let Some(length) = vector["expected"]["length"].as_u64() {
                assert_eq!(got.unwrap().len() as u64, length);
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 10);
}

#[test]
fn tokens_signed_with_a_device_key_match_the_derived_vectors() {
    let soft = Soft::<4>::new();
    for area in ["derived.sas", "derived.dps"] {
        for vector in vectors(area) {
            let (inputs, e) = (&vector["inputs"], &vector["expected"]);
            let expiry = inputs["token_expiration_epoch_time"].as_u64().unwrap();
            let key = text(inputs, "device_key_base64").unwrap();
            let resource = resource(inputs);
            let mut out = [0u8; 512];
            let n = sas::string_to_sign(&resource, expiry, &mut out).unwrap();
            assert_eq!(&out[..n], text(e, "string_to_sign").unwrap().as_bytes());
            let mut signature = [0u8; 44];
            let s = sas::sign(&soft, key, &out[..n], &mut signature).unwrap();
            assert_eq!(
                &signature[..s],
                text(e, "hmac_sha256_base64").unwrap().as_bytes()
            );
            let n = sas::token(
                &soft,
                &resource,
                key,
                expiry,
                text(inputs, "key_name"),
                &mut out,
            );
            assert_eq!(as_text(&out, n), expected(&vector), "{}", vector["name"]);
        }
    }
}

#[test]
fn a_group_key_derives_the_device_key_openssl_computes() {
    let soft = Soft::<4>::new();
    let group_key = "Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc=";
    let registration_id = "sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6";
    let mut out = [0u8; 44];
    let n = sas::derive_device_key(&soft, group_key, registration_id, &mut out).unwrap();
    // The reference: openssl's HMAC over the same key bytes.
    let mut key = [0u8; 64];
    let k = duet_azure::base64::decode(group_key, &mut key).unwrap();
    let hex: String = key[..k].iter().map(|b| format!("{b:02x}")).collect();
    let mut child = std::process::Command::new("openssl")
        .args([
            "dgst",
            "-sha256",
            "-mac",
            "HMAC",
            "-macopt",
            &format!("hexkey:{hex}"),
            "-binary",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl is installed");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(registration_id.as_bytes())
        .unwrap();
    let mac = child.wait_with_output().unwrap().stdout;
    let mut reference = [0u8; 44];
    let r = duet_azure::base64::encode(&mac, &mut reference).unwrap();
    assert_eq!(&out[..n], &reference[..r]);
}

#[test]
fn status_and_retry_helpers_and_url_encoding() {
    for vector in vectors("common") {
        let (inputs, e) = (&vector["inputs"], &vector["expected"]);
        let name = vector["name"].as_str().unwrap();
        if let Some(statuses) = inputs["statuses"].as_array() {
            let statuses = statuses.iter().map(|s| s.as_u64().unwrap() as u32);
            if let Some(want) = e["succeeded"].as_array() {
                let got: Vec<Value> = statuses.map(|s| Value::Bool(retry::succeeded(s))).collect();
                assert_eq!(&got, want, "{name}");
            } else {
                let want = e["retriable"].as_array().unwrap();
                let got: Vec<Value> = statuses.map(|s| Value::Bool(retry::retriable(s))).collect();
                assert_eq!(&got, want, "{name}");
            }
        } else if let Some(delay) = e["delay_msec"].as_u64() {
            let field = |f: &str| inputs[f].as_u64().unwrap() as u32;
            let got = retry::retry_delay(
                field("operation_msec"),
                field("attempt") as u16,
                field("min_retry_delay_msec"),
                field("max_retry_delay_msec"),
                field("random_jitter_msec"),
            );
            assert_eq!(u64::from(got), delay, "{name}");
        } else {
            // `az_span_url_encode` writes a span, not a C string: its size
            // has no NUL to leave out.
            let mut out = vec![0; inputs["buffer_size"].as_u64().unwrap() as usize];
            let n = url_encode(text(inputs, "input").unwrap(), &mut out);
            assert_eq!(as_text(&out, n), expected(&vector), "{name}");
        }
    }
}
