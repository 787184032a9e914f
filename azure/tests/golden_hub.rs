//! Golden vectors for the IoT Hub device protocol (`hub.*`) and message
//! properties (`common.message_properties`): every vector of each area is
//! run and asserted.

#[path = "common/mutate.rs"]
mod mutate;
#[path = "common/vectors.rs"]
mod vectors;

use duet_azure::AzureError;
use duet_azure::hub::pnp::{self, PropertiesError, PropertiesReader, PropertyType};
use duet_azure::hub::{
    C2dRequest, CommandRequest, DEFAULT_USER_AGENT, HubClient, HubOptions, HubTopic, MethodRequest,
    PropertiesMessage, PropertiesMessageType, TWIN_PATCH_SUBSCRIBE_TOPIC,
    TWIN_RESPONSE_SUBSCRIBE_TOPIC, TwinResponse, TwinResponseType,
};
use duet_azure::json::{JsonReader, JsonTokenKind, JsonWriter};
use duet_azure::properties::{MessageProperties, MessagePropertiesWriter, names};
use mutate::{Rng, mutate};
use serde_json::{Value, json};
use vectors::{text, vectors};

fn name(v: &Value) -> &str {
    v["name"].as_str().unwrap()
}

fn input<'v>(v: &'v Value, field: &str) -> Option<&'v str> {
    text(&v["inputs"], field)
}

fn expected<'v>(v: &'v Value, field: &str) -> Option<&'v str> {
    text(&v["expected"], field)
}

/// The output buffer a vector asks for: `buffer_size` counts C's NUL, so
/// one byte less; otherwise roomy.
fn buffer(v: &Value) -> Vec<u8> {
    match v["inputs"]["buffer_size"].as_u64() {
        Some(size) => vec![0; size as usize - 1],
        None => vec![0; 1024],
    }
}

/// The C result a Rust error stands for.
fn c_result(error: AzureError) -> &'static str {
    match error {
        AzureError::BufferTooSmall => "AZ_ERROR_NOT_ENOUGH_SPACE",
        AzureError::TopicNoMatch => "AZ_ERROR_IOT_TOPIC_NO_MATCH",
        AzureError::InvalidArgument => "PRECONDITION_FAILED",
        AzureError::OutOfRange => "AZ_ERROR_UNEXPECTED_END",
        AzureError::Malformed => "AZ_ERROR_UNEXPECTED_CHAR",
        AzureError::Crypto => "CRYPTO",
    }
}

/// Checks a builder's result against `expected.result` / `output` / `length`.
fn check_built(v: &Value, out: &[u8], result: Result<usize, AzureError>) {
    let want = expected(v, "result").unwrap();
    match result {
        Ok(n) => {
            assert_eq!(want, "AZ_OK", "{}", name(v));
            let got = std::str::from_utf8(&out[..n]).unwrap();
            assert_eq!(Some(got), expected(v, "output"), "{}", name(v));
            if let Some(length) = v["expected"]["length"].as_u64() {
                assert_eq!(n as u64, length, "{}", name(v));
            }
        }
        Err(e) => assert_eq!(c_result(e), want, "{}", name(v)),
    }
}

/// Checks a parser's result: `Ok` against `AZ_OK` (the caller checks
/// fields), errors against the C result.
fn check_parsed<T: std::fmt::Debug>(v: &Value, result: Result<T, AzureError>) -> Option<T> {
    let want = expected(v, "result").unwrap();
    match result {
        Ok(t) => {
            assert_eq!(want, "AZ_OK", "{}: got {t:?}", name(v));
            Some(t)
        }
        Err(e) => {
            assert_eq!(c_result(e), want, "{}", name(v));
            None
        }
    }
}

/// Checks a method or command response topic builder against `v`.
fn check_response_topic(
    v: &Value,
    build: impl Fn(&HubClient<'_>, &str, u16, &mut [u8]) -> Result<usize, AzureError>,
) {
    let mut out = buffer(v);
    let result = build(
        &client(v),
        input(v, "request_id").unwrap(),
        status(v),
        &mut out,
    );
    check_built(v, &out, result);
}

fn client(v: &Value) -> HubClient<'_> {
    let options = HubOptions {
        module_id: input(v, "module_id").unwrap_or(""),
        user_agent: input(v, "user_agent").unwrap_or(DEFAULT_USER_AGENT),
        model_id: input(v, "model_id").unwrap_or(""),
    };
    HubClient::with_options(
        input(v, "iot_hub_hostname").unwrap_or("myiothub.azure-devices.net"),
        input(v, "device_id").unwrap_or("my_device"),
        options,
    )
}

fn received(v: &Value) -> &str {
    let topic = input(v, "received_topic").unwrap();
    if let Some(len) = v["inputs"]["received_topic_length"].as_u64() {
        assert_eq!(topic.len() as u64, len, "{}", name(v));
    }
    topic
}

fn status(v: &Value) -> u16 {
    u16::try_from(v["inputs"]["status"].as_u64().unwrap()).unwrap()
}

fn opt(s: Option<&str>) -> Value {
    s.map_or(Value::Null, |s| json!(s))
}

#[test]
fn hub_connect() {
    let all = vectors("hub.connect");
    for v in &all {
        let mut out = buffer(v);
        match name(v) {
            "options_default" => {
                let options = HubOptions::default();
                assert_eq!(options.module_id, expected(v, "module_id").unwrap());
                assert_eq!(options.user_agent, expected(v, "user_agent").unwrap());
                assert_eq!(options.model_id, expected(v, "model_id").unwrap());
                assert_eq!(HubClient::new("h", "d").options, options);
            }
            n if n.starts_with("user_name") => {
                let result = client(v).user_name(&mut out);
                check_built(v, &out, result);
            }
            n if n.starts_with("client_id") => {
                let result = client(v).client_id(&mut out);
                check_built(v, &out, result);
            }
            n => panic!("unhandled vector {n}"),
        }
    }
    eprintln!("hub.connect: {} vectors", all.len());
}

#[test]
fn hub_telemetry() {
    let all = vectors("hub.telemetry");
    for v in &all {
        let mut out = buffer(v);
        let properties = input(v, "properties").map(MessageProperties::new);
        let result = client(v).telemetry_topic(properties, &mut out);
        check_built(v, &out, result);
    }
    eprintln!("hub.telemetry: {} vectors", all.len());
}

#[test]
fn hub_c2d() {
    let all = vectors("hub.c2d");
    for v in &all {
        let topic = received(v);
        if let Some(request) = check_parsed(v, C2dRequest::parse(topic)) {
            let pairs: Vec<Value> = request
                .properties
                .iter()
                .map(|(n, v)| json!([n, v]))
                .collect();
            assert_eq!(
                Value::Array(pairs),
                v["expected"]["properties"],
                "{}",
                name(v)
            );
            assert_eq!(HubTopic::parse(topic), Ok(HubTopic::C2d(request)));
        }
    }
    eprintln!("hub.c2d: {} vectors", all.len());
}

#[test]
fn hub_methods() {
    let all = vectors("hub.methods");
    for v in &all {
        if name(v).starts_with("response_topic") {
            check_response_topic(v, |c, id, s, o| c.method_response_topic(id, s, o));
        } else if let Some(request) = check_parsed(v, MethodRequest::parse(received(v))) {
            assert_eq!(Some(request.name), expected(v, "name"), "{}", name(v));
            assert_eq!(
                Some(request.request_id),
                expected(v, "request_id"),
                "{}",
                name(v)
            );
            assert_eq!(
                HubTopic::parse(received(v)),
                Ok(HubTopic::MethodRequest(request))
            );
        }
    }
    eprintln!("hub.methods: {} vectors", all.len());
}

#[test]
fn hub_commands() {
    let all = vectors("hub.commands");
    for v in &all {
        if name(v).starts_with("response_topic") {
            check_response_topic(v, |c, id, s, o| c.command_response_topic(id, s, o));
        } else if let Some(request) = check_parsed(v, CommandRequest::parse(received(v))) {
            assert_eq!(
                opt(request.component),
                v["expected"]["component_name"],
                "{}",
                name(v)
            );
            assert_eq!(
                Some(request.command),
                expected(v, "command_name"),
                "{}",
                name(v)
            );
            assert_eq!(
                Some(request.request_id),
                expected(v, "request_id"),
                "{}",
                name(v)
            );
        }
    }
    eprintln!("hub.commands: {} vectors", all.len());
}

fn twin_type_name(kind: TwinResponseType) -> &'static str {
    match kind {
        TwinResponseType::Get => "GET",
        TwinResponseType::DesiredProperties => "DESIRED_PROPERTIES",
        TwinResponseType::ReportedProperties => "REPORTED_PROPERTIES",
        TwinResponseType::RequestError => "REQUEST_ERROR",
    }
}

fn properties_type_name(kind: PropertiesMessageType) -> &'static str {
    match kind {
        PropertiesMessageType::GetResponse => "GET_RESPONSE",
        PropertiesMessageType::WritableUpdated => "WRITABLE_UPDATED",
        PropertiesMessageType::Acknowledgement => "ACKNOWLEDGEMENT",
        PropertiesMessageType::Error => "ERROR",
    }
}

fn properties_type(name: &str) -> PropertiesMessageType {
    match name {
        "GET_RESPONSE" => PropertiesMessageType::GetResponse,
        "WRITABLE_UPDATED" => PropertiesMessageType::WritableUpdated,
        "ACKNOWLEDGEMENT" => PropertiesMessageType::Acknowledgement,
        "ERROR" => PropertiesMessageType::Error,
        other => panic!("message type {other}"),
    }
}

#[test]
fn hub_twin() {
    let all = vectors("hub.twin");
    for v in &all {
        let mut out = buffer(v);
        let n = name(v);
        if n.starts_with("get_topic") {
            let result =
                client(v).twin_document_get_topic(input(v, "request_id").unwrap(), &mut out);
            check_built(v, &out, result);
        } else if n.starts_with("patch_topic") {
            let result = client(v).twin_patch_topic(input(v, "request_id").unwrap(), &mut out);
            check_built(v, &out, result);
        } else if n == "subscribe_filters" {
            assert_eq!(
                Some(TWIN_RESPONSE_SUBSCRIBE_TOPIC),
                expected(v, "response_filter")
            );
            assert_eq!(
                Some(TWIN_PATCH_SUBSCRIBE_TOPIC),
                expected(v, "desired_patch_filter")
            );
        } else if let Some(response) = check_parsed(v, TwinResponse::parse(received(v))) {
            assert_eq!(opt(response.request_id), v["expected"]["request_id"], "{n}");
            assert_eq!(json!(response.status), v["expected"]["status"], "{n}");
            assert_eq!(opt(response.version), v["expected"]["version"], "{n}");
            assert_eq!(
                Some(twin_type_name(response.response_type)),
                expected(v, "response_type"),
                "{n}"
            );
            assert_eq!(HubTopic::parse(received(v)), Ok(HubTopic::Twin(response)));
        }
    }
    eprintln!("hub.twin: {} vectors", all.len());
}

#[test]
fn hub_properties() {
    let all = vectors("hub.properties");
    for v in &all {
        let mut out = buffer(v);
        let n = name(v);
        if n == "enum_mapping" {
            let e = &v["expected"];
            for kind in [
                PropertiesMessageType::GetResponse,
                PropertiesMessageType::WritableUpdated,
                PropertiesMessageType::Acknowledgement,
                PropertiesMessageType::Error,
            ] {
                assert_eq!(json!(kind as u8), e[properties_type_name(kind)], "{kind:?}");
            }
            for kind in [
                TwinResponseType::Get,
                TwinResponseType::DesiredProperties,
                TwinResponseType::ReportedProperties,
                TwinResponseType::RequestError,
            ] {
                assert_eq!(
                    json!(kind as u8),
                    e[format!("twin {}", twin_type_name(kind))],
                    "{kind:?}"
                );
                assert_eq!(PropertiesMessageType::from(kind) as u8, kind as u8);
            }
        } else if n.starts_with("document_get_topic") {
            let result =
                client(v).properties_document_get_topic(input(v, "request_id").unwrap(), &mut out);
            check_built(v, &out, result);
        } else if n.starts_with("reported_topic") {
            let result =
                client(v).properties_reported_topic(input(v, "request_id").unwrap(), &mut out);
            check_built(v, &out, result);
        } else if let Some(message) = check_parsed(v, PropertiesMessage::parse(received(v))) {
            assert_eq!(opt(message.request_id), v["expected"]["request_id"], "{n}");
            assert_eq!(json!(message.status), v["expected"]["status"], "{n}");
            assert_eq!(
                Some(properties_type_name(message.message_type)),
                expected(v, "message_type"),
                "{n}"
            );
        }
    }
    eprintln!("hub.properties: {} vectors", all.len());
}

/// `begin_response_status(name, ac=200, av=5, ad=success)` → its arguments.
fn call_args(op: &str) -> Vec<String> {
    let inner = op
        .split_once('(')
        .map_or("", |(_, rest)| rest.trim_end_matches(')'));
    inner
        .split(',')
        .map(|arg| {
            let arg = arg.trim();
            let value = arg.split_once('=').map_or(arg, |(_, value)| value);
            value.trim_matches('\'').to_string()
        })
        .collect()
}

#[test]
fn hub_properties_writer() {
    let all = vectors("hub.properties.writer");
    for v in &all {
        let mut buf = [0u8; 512];
        let mut w = JsonWriter::new(&mut buf);
        for op in v["inputs"]["ops"].as_array().unwrap() {
            let op = op.as_str().unwrap();
            let args = call_args(op);
            let verb = op.split('(').next().unwrap();
            let result = match verb {
                "begin_object" => w.begin_object(),
                "end_object" => w.end_object(),
                "begin_component" => pnp::begin_component(&mut w, &args[0]),
                "end_component" => pnp::end_component(&mut w),
                "begin_response_status" => pnp::begin_response_status(
                    &mut w,
                    &args[0],
                    args[1].parse().unwrap(),
                    args[2].parse().unwrap(),
                    &args[3],
                ),
                "end_response_status" => pnp::end_response_status(&mut w),
                "int32" => w.int32(args[0].parse().unwrap()),
                other => panic!("{}: op {other}", name(v)),
            };
            assert_eq!(result, Ok(()), "{}: {op}", name(v));
        }
        assert_eq!(expected(v, "result"), Some("AZ_OK"));
        assert_eq!(Some(w.as_str()), expected(v, "output"), "{}", name(v));
    }
    eprintln!("hub.properties.writer: {} vectors", all.len());
}

fn kind_name(kind: JsonTokenKind) -> &'static str {
    match kind {
        JsonTokenKind::None => "NONE",
        JsonTokenKind::BeginObject => "BEGIN_OBJECT",
        JsonTokenKind::EndObject => "END_OBJECT",
        JsonTokenKind::BeginArray => "BEGIN_ARRAY",
        JsonTokenKind::EndArray => "END_ARRAY",
        JsonTokenKind::PropertyName => "PROPERTY_NAME",
        JsonTokenKind::String => "STRING",
        JsonTokenKind::Number => "NUMBER",
        JsonTokenKind::True => "TRUE",
        JsonTokenKind::False => "FALSE",
        JsonTokenKind::Null => "NULL",
    }
}

/// `get_next`, recorded as a script step (`None` when the walk cannot go on).
fn get_next(reader: &mut PropertiesReader<'_, '_>) -> (Value, bool) {
    match reader.next_component_property() {
        Ok(Some(p)) => (
            json!({"op": "get_next", "result": "AZ_OK", "component": p.component.unwrap_or(""), "property_name": p.name}),
            true,
        ),
        Ok(None) => (
            json!({"op": "get_next", "result": "AZ_ERROR_IOT_END_OF_PROPERTIES"}),
            false,
        ),
        Err(PropertiesError::InvalidState) => (
            json!({"op": "get_next", "result": "AZ_ERROR_JSON_INVALID_STATE"}),
            false,
        ),
        Err(PropertiesError::Azure(e)) => (json!({"op": "get_next", "result": c_result(e)}), false),
    }
}

fn value_text(json: &JsonReader<'_>) -> Value {
    match json.kind() {
        JsonTokenKind::BeginObject | JsonTokenKind::BeginArray => Value::Null,
        _ => json!(json.text()),
    }
}

#[test]
fn hub_properties_parse() {
    let all = vectors("hub.properties.parse");
    for v in &all {
        let n = name(v);
        let payload = input(v, "payload").unwrap();
        let message_type = properties_type(input(v, "message_type").unwrap());
        let components: Vec<&str> = v["inputs"]["component_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let Some(script) = input(v, "script") else {
            let version = pnp::properties_version(payload, message_type);
            assert_eq!(expected(v, "result"), Some("AZ_OK"), "{n}");
            assert_eq!(
                version.map(|x| json!(x)),
                Ok(v["expected"]["version"].clone()),
                "{n}"
            );
            continue;
        };
        let property_type = match input(v, "property_type").unwrap() {
            "WRITABLE" => PropertyType::Writable,
            "REPORTED_FROM_DEVICE" => PropertyType::ReportedFromDevice,
            other => panic!("{n}: property type {other}"),
        };
        // `final_call_property_type` (C passes another property type on its
        // last call): the Rust reader fixes the type when it is made, so
        // the last call uses the same reader; the vector's END result holds.
        let mut reader =
            PropertiesReader::new(payload, message_type, property_type, &components).unwrap();
        let mut steps = Vec::new();
        for op in script.chars() {
            match op {
                'P' => {
                    let (mut step, ok) = get_next(&mut reader);
                    if ok {
                        let json = reader.json();
                        json.next_token().unwrap();
                        step["value_kind"] = json!(kind_name(json.kind()));
                        step["value"] = value_text(json);
                        if matches!(
                            json.kind(),
                            JsonTokenKind::BeginObject | JsonTokenKind::BeginArray
                        ) {
                            json.skip_children().unwrap();
                        } else {
                            json.next_token().unwrap();
                        }
                    }
                    steps.push(step);
                }
                'G' => steps.push(get_next(&mut reader).0),
                'T' => {
                    let json = reader.json();
                    let step = match json.next_token() {
                        Ok(()) => {
                            json!({"op": "next_token", "result": "AZ_OK", "kind": kind_name(json.kind()), "text": json.text()})
                        }
                        Err(e) => json!({"op": "next_token", "result": c_result(e)}),
                    };
                    steps.push(step);
                }
                'K' => reader.json().skip_children().unwrap(),
                other => panic!("{n}: script op {other}"),
            }
        }
        let want = v["expected"]["steps"].as_array().unwrap();
        assert_eq!(steps.len(), want.len(), "{n}: {steps:?}");
        for (i, (got, want)) in steps.iter().zip(want).enumerate() {
            for (field, value) in want.as_object().unwrap() {
                assert_eq!(&got[field], value, "{n}: step {i} field {field}: got {got}");
            }
        }
        // Asked again after the end, the walk stays ended.
        if want.last().unwrap()["result"] == "AZ_ERROR_IOT_END_OF_PROPERTIES" {
            assert_eq!(reader.next_component_property(), Ok(None), "{n}");
        }
    }
    eprintln!("hub.properties.parse: {} vectors", all.len());
}

#[test]
fn common_message_properties() {
    let all = vectors("common.message_properties");
    for v in &all {
        let n = name(v);
        let e = &v["expected"];
        if n.starts_with("append") {
            // A property bag has no NUL: `buffer_size` is the whole buffer.
            let mut buf = vec![0u8; v["inputs"]["buffer_size"].as_u64().unwrap() as usize];
            let mut writer = MessagePropertiesWriter::new(&mut buf);
            let results: Vec<Value> = v["inputs"]["append"]
                .as_array()
                .unwrap()
                .iter()
                .map(|pair| {
                    match writer.append(pair[0].as_str().unwrap(), pair[1].as_str().unwrap()) {
                        Ok(()) => json!("AZ_OK"),
                        Err(e) => json!(c_result(e)),
                    }
                })
                .collect();
            assert_eq!(Value::Array(results), e["results"], "{n}");
            assert_eq!(
                Some(writer.properties().as_str()),
                expected(v, "written"),
                "{n}"
            );
        } else if n.starts_with("find") {
            let properties = MessageProperties::new(input(v, "properties").unwrap());
            match properties.find(input(v, "name").unwrap()) {
                Some(value) => {
                    assert_eq!(expected(v, "result"), Some("AZ_OK"), "{n}");
                    assert_eq!(Some(value), expected(v, "value"), "{n}");
                }
                None => assert_eq!(
                    expected(v, "result"),
                    Some("AZ_ERROR_ITEM_NOT_FOUND"),
                    "{n}"
                ),
            }
        } else if n.starts_with("next") {
            let properties = MessageProperties::new(input(v, "properties").unwrap());
            let mut iter = properties.iter();
            let pairs: Vec<Value> = iter.by_ref().map(|(n, v)| json!([n, v])).collect();
            assert_eq!(Value::Array(pairs), e["pairs"], "{n}");
            assert_eq!(e["final_result"], "AZ_ERROR_IOT_END_OF_PROPERTIES");
            assert_eq!(iter.next(), None, "{n}");
            assert_eq!(e["final_result_again"], "AZ_ERROR_IOT_END_OF_PROPERTIES");
            assert_eq!(iter.next(), None, "{n}");
        } else if n == "well_known_property_names" {
            for (field, value) in [
                ("message_id", names::MESSAGE_ID),
                ("correlation_id", names::CORRELATION_ID),
                ("content_type", names::CONTENT_TYPE),
                ("content_encoding", names::CONTENT_ENCODING),
                ("user_id", names::USER_ID),
                ("creation_time", names::CREATION_TIME),
                ("component_name", names::COMPONENT_NAME),
            ] {
                assert_eq!(expected(v, field), Some(value), "{field}");
            }
            assert_eq!(e.as_object().unwrap().len(), 7);
        } else {
            panic!("unhandled vector {n}");
        }
    }
    eprintln!("common.message_properties: {} vectors", all.len());
}

/// Beyond the vectors: round trips and the pieces the vectors do not reach.
#[test]
fn builders_and_parsers_pair_up() {
    let client = HubClient::new("myhub.azure-devices.net", "dev");
    let mut bag = [0u8; 64];
    let mut writer = MessagePropertiesWriter::new(&mut bag);
    writer
        .append(names::CONTENT_TYPE, "application%2Fjson")
        .unwrap();
    writer.append_encoded("a b", "c/d").unwrap();
    assert_eq!(writer.append("", "x"), Err(AzureError::InvalidArgument));
    assert_eq!(writer.append("a&b", "x"), Err(AzureError::InvalidArgument));
    let properties = writer.properties();
    assert_eq!(properties.as_str(), "%24.ct=application%2Fjson&a%20b=c%2Fd");
    assert_eq!(properties.find("a%20b"), Some("c%2Fd"));

    let mut small = [0u8; 20];
    let mut writer = MessagePropertiesWriter::new(&mut small);
    writer.append("k", "v").unwrap();
    assert_eq!(
        writer.append("key", "a_long_value_here"),
        Err(AzureError::BufferTooSmall)
    );
    assert_eq!(writer.properties().as_str(), "k=v");

    let mut out = [0u8; 128];
    let n = client.telemetry_topic(None, &mut out).unwrap();
    assert_eq!(&out[..n], b"devices/dev/messages/events/");
    assert_eq!(
        HubClient::new("", "dev").user_name(&mut out),
        Err(AzureError::InvalidArgument)
    );
    assert_eq!(
        client.twin_patch_topic("", &mut out),
        Err(AzureError::InvalidArgument)
    );

    let request = CommandRequest::parse("$iothub/methods/POST/thermostat*reboot/?$rid=7").unwrap();
    let n = client
        .command_response_topic(request.request_id, 200, &mut out)
        .unwrap();
    assert_eq!(&out[..n], b"$iothub/methods/res/200/?$rid=7");
    assert_eq!(request.component, Some("thermostat"));

    let n = client.twin_document_get_topic("9", &mut out).unwrap();
    assert_eq!(
        TwinResponse::parse("$iothub/twin/res/200/?$rid=9")
            .unwrap()
            .request_id,
        Some(std::str::from_utf8(&out[n - 1..n]).unwrap())
    );
    assert_eq!(HubTopic::parse("nonsense"), Err(AzureError::TopicNoMatch));
    assert_eq!(
        TwinResponse::parse("$iothub/twin/res/99999999/?$rid=1"),
        Err(AzureError::OutOfRange)
    );
}

#[test]
fn json_reader_and_writer() {
    let mut reader =
        JsonReader::new(r#" { "a" : [1, -2.5e3, "x\"y", true, false, null], "b": {} } "#);
    let mut kinds = Vec::new();
    while reader.next_token().is_ok() {
        kinds.push((kind_name(reader.kind()), reader.text()));
    }
    assert_eq!(
        kinds,
        [
            ("BEGIN_OBJECT", "{"),
            ("PROPERTY_NAME", "a"),
            ("BEGIN_ARRAY", "["),
            ("NUMBER", "1"),
            ("NUMBER", "-2.5e3"),
            ("STRING", r#"x\"y"#),
            ("TRUE", "true"),
            ("FALSE", "false"),
            ("NULL", "null"),
            ("END_ARRAY", "]"),
            ("PROPERTY_NAME", "b"),
            ("BEGIN_OBJECT", "{"),
            ("END_OBJECT", "}"),
            ("END_OBJECT", "}"),
        ]
    );
    for bad in [
        "",
        "{",
        "{\"a\" 1}",
        "[1,]",
        "{\"a\":1]",
        "\"\u{1}\"",
        "[tru]",
    ] {
        let mut reader = JsonReader::new(bad);
        let mut ok = true;
        for _ in 0..8 {
            if reader.next_token().is_err() {
                ok = false;
                break;
            }
        }
        assert!(!ok, "{bad:?} read");
    }
    let deep = "[".repeat(100);
    let mut reader = JsonReader::new(&deep);
    assert_eq!(
        (0..100).find_map(|_| reader.next_token().err()),
        Some(AzureError::OutOfRange)
    );

    let mut buf = [0u8; 64];
    let mut w = JsonWriter::new(&mut buf);
    w.begin_object().unwrap();
    w.property_name("s").unwrap();
    w.string("q\"\n\u{1}").unwrap();
    w.property_name("n").unwrap();
    w.int32(i32::MIN).unwrap();
    w.property_name("l").unwrap();
    w.begin_array().unwrap();
    w.bool(true).unwrap();
    w.null().unwrap();
    w.end_array().unwrap();
    w.end_object().unwrap();
    assert_eq!(
        w.as_str(),
        r#"{"s":"q\"\n\u0001","n":-2147483648,"l":[true,null]}"#
    );
    let mut tiny = [0u8; 4];
    let mut w = JsonWriter::new(&mut tiny);
    w.begin_object().unwrap();
    assert_eq!(w.string("long"), Err(AzureError::BufferTooSmall));
    assert_eq!(w.as_str(), "{");
}

#[test]
fn properties_reader_edges() {
    // A GET response without `desired`: nothing to walk.
    let payload = r#"{"reported":{"a":1}}"#;
    let mut reader = PropertiesReader::new(
        payload,
        PropertiesMessageType::GetResponse,
        PropertyType::Writable,
        &[],
    )
    .unwrap();
    assert_eq!(reader.next_component_property(), Ok(None));
    // Array values, skipped by the caller; a component named in the model
    // whose value is not an object is a plain property.
    let payload = r#"{"c":5,"l":[1,[2]],"$version":3,"z":true}"#;
    let mut reader = PropertiesReader::new(
        payload,
        PropertiesMessageType::WritableUpdated,
        PropertyType::Writable,
        &["c"],
    )
    .unwrap();
    let mut seen = Vec::new();
    while let Some(p) = reader.next_component_property().unwrap() {
        seen.push((p.component, p.name));
        let json = reader.json();
        json.next_token().unwrap();
        if matches!(
            json.kind(),
            JsonTokenKind::BeginArray | JsonTokenKind::BeginObject
        ) {
            json.skip_children().unwrap();
        } else {
            json.next_token().unwrap();
        }
    }
    assert_eq!(seen, [(None, "c"), (None, "l"), (None, "z")]);
    assert_eq!(
        pnp::properties_version(payload, PropertiesMessageType::WritableUpdated),
        Ok(3)
    );
    assert_eq!(
        pnp::properties_version(payload, PropertiesMessageType::Acknowledgement),
        Err(AzureError::InvalidArgument)
    );
    assert_eq!(
        PropertiesReader::new(
            payload,
            PropertiesMessageType::WritableUpdated,
            PropertyType::ReportedFromDevice,
            &[]
        )
        .err(),
        Some(AzureError::InvalidArgument)
    );
    // Malformed payloads fail, never panic.
    for bad in ["", "[", "{\"desired\":", "{\"a\":}", "{\"c\":{\"x\":"] {
        let mut reader = PropertiesReader::new(
            bad,
            PropertiesMessageType::WritableUpdated,
            PropertyType::Writable,
            &["c"],
        )
        .unwrap();
        let mut failed = false;
        for _ in 0..4 {
            match reader.next_component_property() {
                Ok(Some(_)) => {
                    let json = reader.json();
                    if json.next_token().is_err()
                        || json.skip_children().is_err()
                        || json.next_token().is_err()
                    {
                        failed = true;
                        break;
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(failed, "{bad:?}");
        assert!(pnp::properties_version(bad, PropertiesMessageType::GetResponse).is_err());
    }
}

#[test]
fn hub_client_constants() {
    use duet_azure::hub::{self, pnp};
    let [vector] = &vectors("constants")
        .into_iter()
        .filter(|v| v["name"] == "hub_client_constants")
        .collect::<Vec<_>>()[..]
    else {
        panic!("one hub_client_constants vector");
    };
    let e = &vector["expected"];
    assert_eq!(e["mqtt_port"], u64::from(hub::MQTT_PORT));
    assert_eq!(
        e["default_keepalive_seconds"],
        u64::from(hub::DEFAULT_KEEPALIVE_SECONDS)
    );
    assert_eq!(
        e["telemetry_default_qos"],
        u64::from(hub::TELEMETRY_DEFAULT_QOS)
    );
    assert_eq!(e["service_api_version_in_username"], hub::API_VERSION);
    assert_eq!(e["user_agent_param"], hub::USER_AGENT_PARAM);
    assert_eq!(e["model_id_param"], hub::MODEL_ID_PARAM);
    assert_eq!(e["websocket_path"], hub::WEBSOCKET_PATH);
    assert_eq!(
        e["websocket_path_no_client_cert"],
        hub::WEBSOCKET_PATH_NO_CLIENT_CERT
    );
    assert_eq!(e["c2d_subscribe_filter"], hub::C2D_SUBSCRIBE_TOPIC);
    assert_eq!(e["methods_subscribe_filter"], hub::METHODS_SUBSCRIBE_TOPIC);
    assert_eq!(
        e["twin_response_subscribe_filter"],
        hub::TWIN_RESPONSE_SUBSCRIBE_TOPIC
    );
    assert_eq!(
        e["twin_patch_subscribe_filter"],
        hub::TWIN_PATCH_SUBSCRIBE_TOPIC
    );
    assert_eq!(
        e["command_component_separator"],
        hub::COMMAND_COMPONENT_SEPARATOR.to_string()
    );
    assert_eq!(
        e["pnp_component_marker"][pnp::COMPONENT_MARKER_NAME],
        pnp::COMPONENT_MARKER_VALUE
    );
    assert_eq!(
        e["writable_ack_fields"],
        serde_json::json!([
            pnp::ACK_STATUS,
            pnp::ACK_VERSION,
            pnp::ACK_DESCRIPTION,
            pnp::ACK_VALUE
        ])
    );
}

/// Whether `part` is borrowed from `whole` (an empty `part` may be anywhere).
fn borrowed_from(part: &str, whole: &str) -> bool {
    part.is_empty() || whole.as_bytes().as_ptr_range().contains(&part.as_ptr())
}

/// Walks `payload` as the golden scripts do (each property's value read
/// past); returns the properties found and whether the walk reached its
/// end, having checked that it ends within one step per two bytes (a
/// name takes at least its quotes) and hands out names from the payload.
fn walk(
    payload: &str,
    message_type: PropertiesMessageType,
    property_type: PropertyType,
    components: &[&str],
) -> (usize, bool) {
    let Ok(mut reader) = PropertiesReader::new(payload, message_type, property_type, components)
    else {
        return (0, false);
    };
    let mut found = 0;
    loop {
        assert!(found <= payload.len() / 2, "no end walking {payload:?}");
        match reader.next_component_property() {
            Ok(Some(property)) => {
                found += 1;
                assert!(borrowed_from(property.name, payload), "{payload:?}");
                if let Some(component) = property.component {
                    assert!(components.contains(&component), "{payload:?}");
                }
                let json = reader.json();
                let read_past = json.next_token().and_then(|()| match json.kind() {
                    JsonTokenKind::BeginObject | JsonTokenKind::BeginArray => json.skip_children(),
                    _ => json.next_token(),
                });
                if read_past.is_err() {
                    return (found, false);
                }
            }
            Ok(None) => {
                // The end stays the end.
                assert_eq!(reader.next_component_property(), Ok(None), "{payload:?}");
                return (found, true);
            }
            Err(_) => return (found, false),
        }
    }
}

/// Mutated twin documents and received topics — what a device gets from
/// the cloud, cut, garbled or grown: the property walk and every topic
/// parser answer (a value, the end, a typed error) without a panic, the
/// walk in bounded steps, and what they hand out lies inside their input.
#[test]
fn property_walks_and_topic_parsers_never_panic_on_mutated_input() {
    let documents: Vec<(String, PropertiesMessageType, Vec<String>)> =
        vectors("hub.properties.parse")
            .iter()
            .map(|v| {
                let components = v["inputs"]["component_names"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap().to_owned())
                    .collect();
                let message_type = properties_type(input(v, "message_type").unwrap());
                (
                    input(v, "payload").unwrap().to_owned(),
                    message_type,
                    components,
                )
            })
            .collect();
    let topics: Vec<String> = ["hub.c2d", "hub.methods", "hub.commands", "hub.twin"]
        .iter()
        .flat_map(|area| vectors(area))
        .filter_map(|v| input(&v, "received_topic").map(str::to_owned))
        .collect();
    assert!(documents.len() >= 10 && topics.len() >= 10);
    let mut rng = Rng(0x7a1e_5eed_0042_0001);
    let (mut properties, mut walks_ended, mut topics_parsed) = (0, 0, 0);
    for round in 0..20_000 {
        let (document, message_type, components) = &documents[round % documents.len()];
        let mutated = mutate(&mut rng, document.as_bytes());
        let payload = String::from_utf8_lossy(&mutated);
        let components: Vec<&str> = components.iter().map(String::as_str).collect();
        for property_type in [PropertyType::Writable, PropertyType::ReportedFromDevice] {
            let (found, ended) = walk(&payload, *message_type, property_type, &components);
            properties += found;
            walks_ended += usize::from(ended);
        }
        let _ = pnp::properties_version(&payload, *message_type);

        let mutated = mutate(&mut rng, topics[round % topics.len()].as_bytes());
        let topic = String::from_utf8_lossy(&mutated);
        let mut borrowed: Vec<&str> = match HubTopic::parse(&topic) {
            Ok(HubTopic::C2d(c2d)) => c2d.properties.iter().flat_map(|(n, v)| [n, v]).collect(),
            Ok(HubTopic::MethodRequest(method)) => vec![method.name, method.request_id],
            Ok(HubTopic::Twin(twin)) => twin.request_id.into_iter().chain(twin.version).collect(),
            Err(_) => Vec::new(),
        };
        if let Ok(command) = CommandRequest::parse(&topic) {
            borrowed.extend(command.component.into_iter().chain([command.command]));
        }
        if let Ok(message) = PropertiesMessage::parse(&topic) {
            borrowed.extend(message.request_id);
        }
        topics_parsed += usize::from(!borrowed.is_empty());
        for part in borrowed {
            assert!(borrowed_from(part, &topic), "{part:?} of {topic:?}");
        }
    }
    eprintln!(
        "hub mutations: 40,000 walks ({walks_ended} to their end, {properties} properties), \
         20,000 topics ({topics_parsed} parsed into parts)"
    );
    // The mutants must reach the deep paths, not only fail early.
    assert!(walks_ended > 4_000 && properties > 10_000 && topics_parsed > 1_000);
}
