//! Golden vectors for Device Update (`adu.agent`, `adu.service`,
//! `adu.manifest`, `adu.jws`, and the `adu_constants` vector of
//! `constants`): every vector of each area is run and asserted. Then what
//! the vectors do not reach: tampered signatures, truncated and oversized
//! input, and mutated payloads, none of which may panic.

#[path = "common/mutate.rs"]
mod mutate;
#[path = "common/vectors.rs"]
mod vectors;

use duet_azure::adu::jws::{self, CompactJws, SCRATCH_LEN};
use duet_azure::adu::manifest::{StepType, UpdateManifest};
use duet_azure::adu::root_keys::{ADU_200703_R, ADU_ROOT_KEYS};
use duet_azure::adu::{
    self, AduClient, AduError, AgentReport, AgentState, Capacity, DeviceProperties, InstallResult,
    RequestDecision, StepResult, UpdateRequest, Workflow, WorkflowAction, limits, result_code,
};
use duet_azure::hub::pnp;
use duet_azure::hub::{PropertiesMessage, PropertiesMessageType, TwinResponse};
use duet_azure::{AzureError, base64};
use duet_crypto::soft::Soft;
use duet_crypto::{HashAlgorithm, Hasher};
use mutate::{Rng, mutate};
use serde_json::{Value, json};
use vectors::{text, vectors};

fn name(v: &Value) -> &str {
    v["name"].as_str().unwrap()
}

fn input<'v>(v: &'v Value, field: &str) -> &'v str {
    text(&v["inputs"], field).unwrap_or_else(|| panic!("{}: input {field}", name(v)))
}

/// A request, with the C SDK's capacity.
fn parse_request(text: &str) -> Result<UpdateRequest<'_>, AduError> {
    UpdateRequest::parse(text)
}

/// A manifest, with the C SDK's capacities.
fn parse_manifest(text: &str) -> Result<UpdateManifest<'_>, AduError> {
    UpdateManifest::parse(text)
}

/// The C result an ADU error stands for.
fn c_result(error: AduError) -> &'static str {
    match error {
        AduError::TooMany(_) | AduError::Azure(AzureError::BufferTooSmall) => {
            "AZ_ERROR_NOT_ENOUGH_SPACE"
        }
        AduError::Azure(AzureError::Malformed) => "AZ_ERROR_UNEXPECTED_CHAR",
        AduError::Azure(AzureError::OutOfRange) => "AZ_ERROR_UNEXPECTED_END",
        other => panic!("no C result for {other:?}"),
    }
}

fn code(value: &Value) -> i32 {
    i32::try_from(value.as_i64().unwrap()).unwrap()
}

/// Runs `write` into a roomy buffer, checks the output, then checks that
/// every shorter buffer is refused whole.
fn check_writer(
    label: &str,
    expected: &str,
    write: impl Fn(&mut [u8]) -> Result<usize, AzureError>,
) {
    let mut out = vec![0u8; 4096];
    let n = write(&mut out).unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(std::str::from_utf8(&out[..n]).unwrap(), expected, "{label}");
    for short in 0..n {
        assert_eq!(
            write(&mut out[..short]),
            Err(AzureError::BufferTooSmall),
            "{label}: {short} bytes"
        );
    }
}

/// Rebuilds an agent report from its expected JSON and writes it back: the
/// writer must reproduce NetX Duo's bytes, member order included.
fn check_report_round_trip(label: &str, expected: &str) {
    let parsed: Value = serde_json::from_str(expected).unwrap();
    let agent = &parsed["deviceUpdate"]["agent"];
    let workflow = agent.get("workflow").map(|w| Workflow {
        action: WorkflowAction::from_code(code(&w["action"])),
        id: w["id"].as_str().unwrap(),
        retry_timestamp: w.get("retryTimestamp").and_then(Value::as_str),
    });
    let last = agent.get("lastInstallResult");
    let steps: Vec<StepResult> = last
        .map(|last| {
            (0..)
                .map_while(|i| last["stepResults"].get(format!("step_{i}")))
                .map(|step| StepResult {
                    result_code: code(&step["resultCode"]),
                    extended_result_code: code(&step["extendedResultCode"]),
                    result_details: step.get("resultDetails").and_then(Value::as_str),
                })
                .collect()
        })
        .unwrap_or_default();
    let result = last.map(|last| InstallResult {
        result_code: code(&last["resultCode"]),
        extended_result_code: code(&last["extendedResultCode"]),
        result_details: last.get("resultDetails").and_then(Value::as_str),
        step_results: &steps,
    });
    let report = AgentReport {
        device_properties: None,
        compat_property_names: None,
        state: AgentState::from_code(code(&agent["state"])).unwrap(),
        workflow: workflow.as_ref(),
        installed_update_id: agent.get("installedUpdateId").and_then(Value::as_str),
        last_install_result: result.as_ref(),
    };
    check_writer(label, expected, |out| report.write(out));
}

#[test]
fn adu_agent() {
    let all = vectors("adu.agent");
    let client = AduClient::new();
    for v in &all {
        let (inputs, expected) = (&v["inputs"], &v["expected"]);
        match name(v) {
            "agent_state_idle" => {
                assert_eq!(expected["result"], "AZ_OK");
                assert_eq!(
                    input(v, "compat_property_names (client option default)"),
                    client.options.compat_property_names
                );
                let d = &inputs["device_properties"];
                let device = DeviceProperties {
                    manufacturer: d["manufacturer"].as_str().unwrap(),
                    model: d["model"].as_str().unwrap(),
                    custom_properties: &[],
                    adu_version: d["adu_version"].as_str().unwrap(),
                    delivery_optimization_agent_version: d["delivery_optimization_agent_version"]
                        .as_str(),
                };
                let state = AgentState::from_code(code(&inputs["agent_state"])).unwrap();
                let update_id = d["update_id"].as_str();
                check_writer(name(v), expected["output"].as_str().unwrap(), |out| {
                    client.agent_state_payload(&device, state, None, update_id, None, out)
                });
            }
            "service_response_accept_v1" => {
                assert_eq!(expected["result"], "AZ_OK");
                let decision = match code(&inputs["status"]) {
                    200 => RequestDecision::Accept,
                    406 => RequestDecision::Reject,
                    other => panic!("status {other}"),
                };
                let version = code(&inputs["version"]);
                check_writer(name(v), expected["output"].as_str().unwrap(), |out| {
                    client.service_properties_response(version, decision, out)
                });
            }
            "is_component_device_update" => {
                let component = input(v, "component_name");
                assert_eq!(
                    Value::Bool(client.is_component_device_update(component)),
                    expected["is_device_update"]
                );
                assert!(!adu::is_component_device_update("deviceupdate"));
                assert!(!adu::is_component_device_update(""));
            }
            "netxduo_reported_g_adu_agent_cancel_response"
            | "netxduo_reported_g_adu_agent_response_apply_error" => {
                check_report_round_trip(name(v), expected["reported_json"].as_str().unwrap());
            }
            "netxduo_cancel_desired_patch" => {
                let topic = input(v, "topic");
                let payload = expected["payload"].as_str().unwrap();
                assert!(payload.contains('\t'), "the vector's TAB");
                let message = PropertiesMessage::parse(topic).unwrap();
                assert_eq!(message.message_type, PropertiesMessageType::WritableUpdated);
                assert_eq!(TwinResponse::parse(topic).unwrap().version, Some("7"));
                let request: UpdateRequest =
                    UpdateRequest::from_properties(payload, message.message_type)
                        .unwrap()
                        .expect("a deviceUpdate.service");
                assert_eq!(request.workflow.action, WorkflowAction::Cancel);
                assert_eq!(request.workflow.id, "nodeployment");
                assert_eq!(request.update_manifest, None);
                assert_eq!(request.update_manifest_signature, None);
                assert!(request.file_urls.is_empty());
                assert_eq!(
                    pnp::properties_version(payload, message.message_type),
                    Ok(6)
                );
            }
            other => panic!("adu.agent vector {other} is not checked"),
        }
    }
    eprintln!("adu.agent: {} vectors pass", all.len());
}

/// Checks a parsed request against a vector's expected fields.
fn check_request<const N: usize>(v: &Value, request: &UpdateRequest<'_, N>) {
    let label = name(v);
    let expected = &v["expected"];
    let mut checked = 0;
    for (field, want) in expected.as_object().unwrap() {
        match field.as_str() {
            "result" => continue,
            "workflow_action" => assert_eq!(request.workflow.action.code(), code(want), "{label}"),
            "workflow_id" => assert_eq!(Some(request.workflow.id), want.as_str(), "{label}"),
            "workflow_retry_timestamp" => {
                assert_eq!(request.workflow.retry_timestamp, want.as_str(), "{label}");
            }
            "update_manifest_unescaped" => {
                let mut buf = vec![0u8; 4096];
                let unescaped = request.update_manifest_into(&mut buf).unwrap();
                assert_eq!(unescaped, want.as_str(), "{label}");
                // Too small a buffer is refused, not cut.
                let needed = unescaped.unwrap().len();
                assert_eq!(
                    request.update_manifest_into(&mut buf[..needed - 1]),
                    Err(AzureError::BufferTooSmall)
                );
            }
            "update_manifest_escaped" => {
                assert_eq!(request.update_manifest, want.as_str(), "{label}");
            }
            "update_manifest_signature" => {
                assert_eq!(request.update_manifest_signature, want.as_str(), "{label}");
            }
            "file_urls" => {
                let got: Vec<Value> = request
                    .file_urls
                    .iter()
                    .map(|f| json!([f.file_id, f.url]))
                    .collect();
                assert_eq!(&Value::Array(got), want, "{label}");
            }
            other => panic!("{label}: expected field {other} is not checked"),
        }
        checked += 1;
    }
    assert!(checked > 0, "{label}");
}

#[test]
fn adu_service() {
    let all = vectors("adu.service");
    let client = AduClient::new();
    for v in &all {
        let label = name(v);
        let expected = &v["expected"];
        if let Some(value) = text(&v["inputs"], "writable_properties_component_value") {
            match client.parse_service_update_request(value) {
                Ok(request) => {
                    assert_eq!(expected["result"], "AZ_OK", "{label}");
                    check_request(v, &request);
                }
                Err(e) => assert_eq!(c_result(e), expected["result"], "{label}"),
            }
            continue;
        }
        assert_eq!(label, "netxduo_desired_patch_g_adu_agent_new_update_3");
        check_netxduo_new_update(v);
    }
    eprintln!("adu.service: {} vectors pass", all.len());
}

/// NetX Duo's desired PATCH: three file URLs (one more than the C SDK
/// holds), a reference step and an inline one — and a signature that
/// verifies.
fn check_netxduo_new_update(v: &Value) {
    let (topic, payload) = (input(v, "topic"), input(v, "payload"));
    let expected = &v["expected"];
    let message = PropertiesMessage::parse(topic).unwrap();
    assert_eq!(
        UpdateRequest::<'_, 2>::from_properties(payload, message.message_type),
        Err(AduError::TooMany(Capacity::FileUrls))
    );
    let request = UpdateRequest::<'_, 3>::from_properties(payload, message.message_type)
        .unwrap()
        .unwrap();
    assert_eq!(
        request.workflow.action.code(),
        code(&expected["workflow"]["action"])
    );
    assert_eq!(
        Some(request.workflow.id),
        expected["workflow"]["id"].as_str()
    );
    let urls = expected["file_urls"].as_object().unwrap();
    assert_eq!(request.file_urls.len(), urls.len());
    for (id, url) in urls {
        assert_eq!(request.file_url(id), url.as_str(), "{id}");
    }

    let mut buf = vec![0u8; 4096];
    let text = request.update_manifest_into(&mut buf).unwrap().unwrap();
    let manifest: UpdateManifest = UpdateManifest::parse(text).unwrap();
    let id = &expected["manifest_updateId"];
    assert_eq!(Some(manifest.update_id.provider), id["provider"].as_str());
    assert_eq!(Some(manifest.update_id.name), id["name"].as_str());
    assert_eq!(Some(manifest.update_id.version), id["version"].as_str());
    let steps = expected["steps"].as_array().unwrap();
    assert_eq!(manifest.steps.len(), steps.len());
    for (step, want) in manifest.steps.iter().zip(steps) {
        if want["type"] == "reference" {
            assert_eq!(step.step_type, StepType::Reference);
            assert_eq!(
                step.detached_manifest_file_id,
                want["detachedManifestFileId"].as_str()
            );
            assert!(
                manifest
                    .file(step.detached_manifest_file_id.unwrap())
                    .is_some()
            );
        } else {
            assert_eq!(step.step_type, StepType::Inline);
            assert_eq!(step.handler, want["handler"].as_str());
            let files: Vec<&str> = want["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect();
            assert_eq!(&step.files[..], &files[..]);
            assert_eq!(
                step.installed_criteria,
                want["handlerProperties"]["installedCriteria"].as_str()
            );
        }
        for file in step.files.iter() {
            assert!(request.file_url(file).is_some(), "{file} has a URL");
        }
    }
    assert_eq!(
        manifest.is_compatible(&[("manufacturer", "Contoso"), ("model", "IoTDevice")]),
        Ok(true)
    );

    let provider = Soft::<0>::new();
    let mut scratch = vec![0u8; SCRATCH_LEN];
    let signer = jws::verify_manifest(
        &provider,
        text.as_bytes(),
        request.update_manifest_signature.unwrap(),
        ADU_ROOT_KEYS,
        &mut scratch,
    )
    .unwrap();
    assert_eq!(signer.root_key_id, "ADU.200702.R");
}

#[test]
fn adu_manifest() {
    let all = vectors("adu.manifest");
    let client = AduClient::new();
    for v in &all {
        let label = name(v);
        let expected = &v["expected"];
        let manifest = match client.parse_update_manifest(input(v, "update_manifest")) {
            Ok(manifest) => {
                assert_eq!(expected["result"], "AZ_OK", "{label}");
                manifest
            }
            Err(e) => {
                assert_eq!(c_result(e), expected["result"], "{label}");
                continue;
            }
        };
        for (field, want) in expected.as_object().unwrap() {
            let got = match field.as_str() {
                "result" => continue,
                "manifest_version" => json!(manifest.manifest_version),
                "update_id.provider" => json!(manifest.update_id.provider),
                "update_id.name" => json!(manifest.update_id.name),
                "update_id.version" => json!(manifest.update_id.version),
                "create_date_time" => json!(manifest.create_date_time),
                "steps" => manifest
                    .steps
                    .iter()
                    .map(|s| {
                        json!({
                            "handler": s.handler,
                            "files": &s.files[..],
                            "installed_criteria": s.installed_criteria,
                        })
                    })
                    .collect(),
                "files" => manifest
                    .files
                    .iter()
                    .map(|f| {
                        let hashes: Vec<Value> = f
                            .hashes
                            .iter()
                            .map(|h| json!([h.hash_type, h.hash_value]))
                            .collect();
                        json!({
                            "id": f.id,
                            "file_name": f.file_name,
                            "size_in_bytes": f.size_in_bytes,
                            "hashes": hashes,
                        })
                    })
                    .collect(),
                other => panic!("{label}: expected field {other} is not checked"),
            };
            assert_eq!(&got, want, "{label}: {field}");
        }
        assert!(
            manifest
                .steps
                .iter()
                .all(|s| s.step_type == StepType::Inline)
        );
    }
    eprintln!("adu.manifest: {} vectors pass", all.len());
}

/// Base64url without padding, for building tampered JWSs.
fn b64url(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len().div_ceil(3) * 4];
    let n = base64::encode(bytes, &mut out).unwrap();
    String::from_utf8(out[..n].to_vec())
        .unwrap()
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

fn b64url_json(segment: &str) -> Value {
    let mut out = vec![0u8; segment.len()];
    let n = duet_azure::base64::decode_url(segment, &mut out).unwrap();
    serde_json::from_slice(&out[..n]).unwrap()
}

fn verify(manifest: &str, signature: &str) -> Result<String, AduError> {
    let mut scratch = vec![0u8; SCRATCH_LEN];
    jws::verify_manifest(
        &Soft::<0>::new(),
        manifest.as_bytes(),
        signature,
        ADU_ROOT_KEYS,
        &mut scratch,
    )
    .map(|s| {
        format!(
            "{} {:?} {}",
            s.root_key_id, s.signing_key_id, s.signing_key_bits
        )
    })
}

#[test]
fn adu_jws() {
    let all = vectors("adu.jws");
    for v in &all {
        let label = name(v);
        let expected = &v["expected"];
        let manifest = input(v, "update_manifest_unescaped");
        let signature = input(v, "update_manifest_signature");

        // The pieces, as the vector spells them out.
        let outer = CompactJws::parse(signature).unwrap();
        let header = b64url_json(outer.header);
        assert_eq!(header["alg"], expected["jws_header"]["alg"], "{label}");
        assert_eq!(
            b64url_json(outer.payload),
            expected["jws_payload"],
            "{label}"
        );
        let sjwk = CompactJws::parse(header["sjwk"].as_str().unwrap()).unwrap();
        assert_eq!(b64url_json(sjwk.header), expected["sjwk_header"], "{label}");
        let key = b64url_json(sjwk.payload);
        for field in ["kty", "alg", "kid", "e"] {
            assert_eq!(
                key[field], expected["signing_key"][field],
                "{label}: {field}"
            );
        }
        let digest = Soft::<0>::new()
            .hash(HashAlgorithm::Sha256, &[manifest.as_bytes()])
            .unwrap();
        let mut b64 = [0u8; 44];
        base64::encode(digest.as_bytes(), &mut b64).unwrap();
        assert_eq!(
            Some(std::str::from_utf8(&b64).unwrap()),
            expected["sha256_of_update_manifest_base64"].as_str()
        );
        let roots: Vec<&str> = v["inputs"]["root_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let ours: Vec<&str> = ADU_ROOT_KEYS.iter().map(|k| k.kid).collect();
        assert_eq!(roots, ours);

        // The whole check.
        assert_eq!(expected["overall_valid"], true);
        let mut scratch = vec![0u8; SCRATCH_LEN];
        let signer = jws::verify_manifest(
            &Soft::<0>::new(),
            manifest.as_bytes(),
            signature,
            ADU_ROOT_KEYS,
            &mut scratch,
        )
        .unwrap();
        assert_eq!(
            Some(signer.root_key_id),
            expected["sjwk_header"]["kid"].as_str()
        );
        assert_eq!(
            signer.signing_key_id,
            expected["signing_key"]["kid"].as_str()
        );
        assert_eq!(
            Some(signer.signing_key_bits as u64),
            expected["signing_key"]["n_bits"].as_u64()
        );
        check_tampering(manifest, signature);
    }
    eprintln!("adu.jws: {} vectors pass", all.len());
}

/// Every link of the chain, broken in turn, fails with its own error.
fn check_tampering(manifest: &str, signature: &str) {
    let outer = CompactJws::parse(signature).unwrap();
    let header = b64url_json(outer.header);
    let sjwk = CompactJws::parse(header["sjwk"].as_str().unwrap()).unwrap();
    let with_header = |header: &Value| {
        format!(
            "{}.{}.{}",
            b64url(header.to_string().as_bytes()),
            outer.payload,
            outer.signature
        )
    };
    let with_sjwk = |sjwk: String| {
        let mut header = header.clone();
        header["sjwk"] = Value::String(sjwk);
        with_header(&header)
    };

    // The manifest changed by one byte: the signed hash no longer matches.
    let tampered = manifest.replacen("8.0.0", "8.0.1", 1);
    assert_ne!(tampered, manifest);
    assert_eq!(
        verify(&tampered, signature),
        Err(AduError::ManifestHashMismatch)
    );

    // A payload claiming the tampered manifest's hash: the signature no
    // longer covers it.
    let digest = Soft::<0>::new()
        .hash(HashAlgorithm::Sha256, &[tampered.as_bytes()])
        .unwrap();
    let mut b64 = [0u8; 44];
    base64::encode(digest.as_bytes(), &mut b64).unwrap();
    let payload = json!({ "sha256": std::str::from_utf8(&b64).unwrap() }).to_string();
    let forged = format!(
        "{}.{}.{}",
        outer.header,
        b64url(payload.as_bytes()),
        outer.signature
    );
    assert_eq!(verify(&tampered, &forged), Err(AduError::SignatureInvalid));

    // The manifest's signature with a bit flipped.
    let mut bytes = signature.as_bytes().to_vec();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(bytes).unwrap();
    assert_eq!(verify(manifest, &flipped), Err(AduError::SignatureInvalid));

    // A signing key of the attacker's own, in a header that otherwise
    // looks right: the root key did not sign it.
    let mut key = b64url_json(sjwk.payload);
    key["kid"] = json!("ADU.999999.R.S");
    let swapped = format!(
        "{}.{}.{}",
        sjwk.header,
        b64url(key.to_string().as_bytes()),
        sjwk.signature
    );
    assert_eq!(
        verify(manifest, &with_sjwk(swapped)),
        Err(AduError::SigningKeyRejected)
    );

    // A root key id nobody trusts, and a trusted list without the signer.
    let unknown = format!(
        "{}.{}.{}",
        b64url(br#"{"alg":"RS256","kid":"ADU.000000.R"}"#),
        sjwk.payload,
        sjwk.signature
    );
    assert_eq!(
        verify(manifest, &with_sjwk(unknown)),
        Err(AduError::UnknownRootKey)
    );
    let mut scratch = vec![0u8; SCRATCH_LEN];
    assert_eq!(
        jws::verify_manifest(
            &Soft::<0>::new(),
            manifest.as_bytes(),
            signature,
            &[ADU_200703_R],
            &mut scratch,
        ),
        Err(AduError::UnknownRootKey)
    );

    // Algorithms other than RS256, at either level.
    let mut none = header.clone();
    none["alg"] = json!("none");
    assert_eq!(
        verify(manifest, &with_header(&none)),
        Err(AduError::UnsupportedAlgorithm)
    );
    let hs256 = format!(
        "{}.{}.{}",
        b64url(br#"{"alg":"HS256","kid":"ADU.200702.R"}"#),
        sjwk.payload,
        sjwk.signature
    );
    assert_eq!(
        verify(manifest, &with_sjwk(hs256)),
        Err(AduError::UnsupportedAlgorithm)
    );
    let mut no_sjwk = header.clone();
    no_sjwk.as_object_mut().unwrap().remove("sjwk");
    assert_eq!(
        verify(manifest, &with_header(&no_sjwk)),
        Err(AduError::Azure(AzureError::Malformed))
    );

    // Cut short anywhere: an error, never a panic, never a pass.
    for cut in (0..signature.len()).step_by(37) {
        assert!(verify(manifest, &signature[..cut]).is_err(), "cut at {cut}");
    }

    // Scratch: too little is BufferTooSmall at every size, and what the
    // vector needs fits SCRATCH_LEN.
    let provider = Soft::<0>::new();
    let mut needed = None;
    let mut scratch = vec![0u8; SCRATCH_LEN];
    for size in (0..=SCRATCH_LEN).step_by(64) {
        match jws::verify_manifest(
            &provider,
            manifest.as_bytes(),
            signature,
            ADU_ROOT_KEYS,
            &mut scratch[..size],
        ) {
            Ok(_) => {
                needed = Some(size);
                break;
            }
            Err(e) => assert_eq!(e, AduError::Azure(AzureError::BufferTooSmall), "{size}"),
        }
    }
    let needed = needed.expect("SCRATCH_LEN is enough");
    eprintln!("adu.jws: verification needs about {needed} bytes of scratch");
}

#[test]
fn adu_constants() {
    let [vector] = &vectors("constants")
        .into_iter()
        .filter(|v| v["name"] == "adu_constants")
        .collect::<Vec<_>>()[..]
    else {
        panic!("one adu_constants vector");
    };
    let e = &vector["expected"];
    assert_eq!(e["component_name"], adu::COMPONENT_NAME);
    assert_eq!(e["contract_model_id"], adu::CONTRACT_MODEL_ID);
    assert_eq!(e["agent_version_sdk_c"], adu::AGENT_VERSION);
    assert_eq!(
        e["agent_version_netxduo_prefix"],
        adu::AGENT_VERSION_NETXDUO_PREFIX
    );
    assert_eq!(
        e["default_compat_property_names"],
        adu::DEFAULT_COMPAT_PROPERTY_NAMES
    );
    assert_eq!(
        e["request_decision"],
        json!({
            "accept": RequestDecision::Accept.status(),
            "reject": RequestDecision::Reject.status(),
        })
    );
    assert_eq!(
        e["agent_state"],
        json!({
            "idle": AgentState::Idle.code(),
            "deployment_in_progress": AgentState::DeploymentInProgress.code(),
            "failed": AgentState::Failed.code(),
            "legacy_download_succeeded": AgentState::LegacyDownloadSucceeded.code(),
            "legacy_install_succeeded": AgentState::LegacyInstallSucceeded.code(),
        })
    );
    assert_eq!(
        e["service_action"],
        json!({
            "apply_deployment": WorkflowAction::ApplyDeployment.code(),
            "cancel": WorkflowAction::Cancel.code(),
            "legacy_download": WorkflowAction::LegacyDownload.code(),
            "legacy_install": WorkflowAction::LegacyInstall.code(),
            "legacy_apply": WorkflowAction::LegacyApply.code(),
        })
    );
    assert_eq!(
        e["netxduo_result_codes"],
        json!({
            "failure": result_code::FAILURE,
            "idle_success": result_code::IDLE_SUCCESS,
            "download_success": result_code::DOWNLOAD_SUCCESS,
            "install_success": result_code::INSTALL_SUCCESS,
            "apply_success": result_code::APPLY_SUCCESS,
            "apply_in_progress": result_code::APPLY_IN_PROGRESS,
        })
    );
    assert_eq!(
        e["step_result_key_format"],
        format!("{}{{index}}", adu::STEP_RESULT_KEY_PREFIX)
    );
    assert_eq!(
        e["sdk_c_limits"],
        json!({
            "max_steps": limits::MAX_INSTRUCTIONS_STEPS,
            "max_files_per_step": limits::MAX_FILE_COUNT_PER_STEP,
            "max_total_files": limits::MAX_TOTAL_FILE_COUNT,
            "max_hashes_per_file": limits::MAX_FILE_HASH_COUNT,
            "max_custom_device_properties": limits::MAX_DEVICE_CUSTOM_PROPERTIES,
        })
    );
    // The service fields the request parser reads, in the vector's words.
    let fields: Vec<&str> = e["service_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(fields.len(), 5);
    let request = r#"{"service":{"workflow":{"action":3,"id":"w","retryTimestamp":"t"},"updateManifest":"{}","updateManifestSignature":"a.b.c","fileUrls":{"f":"u","g":null},"rootKeyPackageUrl":"r"}}"#;
    let request: UpdateRequest = UpdateRequest::parse(request).unwrap();
    assert_eq!(request.workflow.retry_timestamp, Some("t"));
    assert_eq!(request.update_manifest, Some("{}"));
    assert_eq!(request.update_manifest_signature, Some("a.b.c"));
    assert_eq!(request.file_url("f"), Some("u"));
    assert_eq!(request.root_key_package_url, Some("r"));
    eprintln!("constants: adu_constants passes");
}

/// Beyond the vectors: input that is cut short, too big, or odd.
#[test]
fn truncated_and_oversized_input_fail_with_typed_errors() {
    let request = vectors("adu.service")
        .into_iter()
        .find(|v| name(v) == "parse_request_with_retry")
        .unwrap();
    let payload = input(&request, "writable_properties_component_value").to_owned();
    for cut in 0..payload.len() {
        // Any prefix short of the whole is malformed, never a panic.
        let prefix = &payload[..cut];
        assert_eq!(
            parse_request(prefix),
            Err(AduError::Azure(AzureError::Malformed)),
            "cut at {cut}"
        );
    }
    // Many file URLs: refused at the capacity, taken with room.
    let many: String = (0..100)
        .map(|i| format!(r#""f{i}":"http://x/{i}""#))
        .collect::<Vec<_>>()
        .join(",");
    let big =
        format!(r#"{{"service":{{"workflow":{{"action":3,"id":"w"}},"fileUrls":{{{many}}}}}}}"#);
    assert_eq!(
        parse_request(&big),
        Err(AduError::TooMany(Capacity::FileUrls))
    );
    assert_eq!(
        UpdateRequest::<'_, 100>::parse(&big)
            .unwrap()
            .file_urls
            .len(),
        100
    );
    // Deep nesting in a skipped member: the reader's depth limit.
    let deep = format!(
        r#"{{"service":{{"workflow":{{"action":3,"id":"w"}},"x":{}{}}}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    assert_eq!(
        parse_request(&deep),
        Err(AduError::Azure(AzureError::OutOfRange))
    );
    // A workflow action past i32.
    assert_eq!(
        parse_request(r#"{"service":{"workflow":{"action":4294967296,"id":"w"}}}"#),
        Err(AduError::Azure(AzureError::OutOfRange))
    );
    // A manifest too big for the caller's buffer, and escapes that are not.
    let request: UpdateRequest = UpdateRequest::parse(
        r#"{"service":{"workflow":{"action":3,"id":"w"},"updateManifest":"{\"a\":\"\ud800\"}"}}"#,
    )
    .unwrap();
    assert_eq!(
        request.update_manifest_into(&mut [0u8; 4]),
        Err(AzureError::BufferTooSmall)
    );
    assert_eq!(
        request.update_manifest_into(&mut [0u8; 64]),
        Err(AzureError::Malformed)
    );
    // Manifests: too many steps, files and hashes each name their limit.
    let manifest = vectors("adu.manifest")
        .into_iter()
        .find(|v| name(v) == "parse_manifest_unused_fields")
        .unwrap();
    let text = input(&manifest, "update_manifest").to_owned();
    for cut in 0..text.len() {
        assert!(parse_manifest(&text[..cut]).is_err(), "cut at {cut}");
    }
    let too_many_steps = text.replace(
        r#""steps":["#,
        r#""steps":[{"handler":"a"},{"handler":"b"},"#,
    );
    assert_eq!(
        parse_manifest(&too_many_steps),
        Err(AduError::TooMany(Capacity::Steps))
    );
    let manifest: UpdateManifest<'_, 3> = UpdateManifest::parse(&too_many_steps).unwrap();
    assert_eq!(manifest.steps.len(), 3);
}

/// Mutated requests, manifests and signatures: every parser and the JWS
/// check return, whatever they are fed.
#[test]
fn parsers_and_the_signature_check_never_panic_on_mutated_input() {
    let mut seeds: Vec<String> = Vec::new();
    for v in vectors("adu.service") {
        for field in ["writable_properties_component_value", "payload"] {
            if let Some(s) = text(&v["inputs"], field) {
                seeds.push(s.to_owned());
            }
        }
    }
    let manifests: Vec<String> = vectors("adu.manifest")
        .iter()
        .map(|v| input(v, "update_manifest").to_owned())
        .collect();
    let jws_vector = &vectors("adu.jws")[0];
    let (manifest, signature) = (
        input(jws_vector, "update_manifest_unescaped"),
        input(jws_vector, "update_manifest_signature"),
    );
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut unescaped = vec![0u8; 8192];
    for round in 0..6_000 {
        let seed = mutate(&mut rng, seeds[round % seeds.len()].as_bytes());
        let seed = String::from_utf8_lossy(&seed);
        let _ =
            UpdateRequest::<'_, 4>::from_properties(&seed, PropertiesMessageType::WritableUpdated);
        if let Ok(request) = UpdateRequest::<'_, 4>::parse(&seed) {
            if let Ok(Some(text)) = request.update_manifest_into(&mut unescaped) {
                let _ = parse_manifest(text);
            }
        }
        let text = mutate(&mut rng, manifests[round % manifests.len()].as_bytes());
        if let Ok(manifest) =
            UpdateManifest::<'_, 4, 4, 4, 4>::parse(&String::from_utf8_lossy(&text))
        {
            let _ = manifest.is_compatible(&[("manufacturer", "Contoso")]);
        }
    }
    // The signature check runs RSA: fewer rounds.
    for _ in 0..300 {
        let bad = mutate(&mut rng, signature.as_bytes());
        assert!(
            verify(manifest, &String::from_utf8_lossy(&bad)).is_err()
                || bad == signature.as_bytes()
        );
    }
}

#[test]
fn agent_report_shapes_for_a_failed_deployment() {
    // What FACTS.md asks of a failure: state 255 with stepResults, then Idle.
    let workflow = Workflow {
        action: WorkflowAction::ApplyDeployment,
        id: "6b831565-bd1c-4b84-995a-f2ab4e6a4bb1",
        retry_timestamp: None,
    };
    let result = InstallResult {
        result_code: result_code::FAILURE,
        extended_result_code: 0,
        result_details: None,
        step_results: &[],
    };
    let failed = AgentReport {
        device_properties: None,
        compat_property_names: None,
        state: AgentState::Failed,
        workflow: Some(&workflow),
        installed_update_id: None,
        last_install_result: Some(&result),
    };
    check_writer(
        "failed",
        r#"{"deviceUpdate":{"__t":"c","agent":{"state":255,"workflow":{"action":3,"id":"6b831565-bd1c-4b84-995a-f2ab4e6a4bb1"},"lastInstallResult":{"resultCode":0,"extendedResultCode":0,"stepResults":{}}}}}"#,
        |out| failed.write(out),
    );
    let reject = AduClient::new();
    check_writer(
        "reject",
        r#"{"deviceUpdate":{"__t":"c","service":{"ac":406,"av":-3,"value":{}}}}"#,
        |out| reject.service_properties_response(-3, RequestDecision::Reject, out),
    );
}
