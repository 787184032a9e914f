//! Footprint image `azure-hub`: what Duet's IoT Hub and Plug and Play
//! protocol layer costs alone — user name and client id, the SAS token's
//! string to sign and password (the HMAC is the crypto provider's, measured
//! in `crypto-soft`), telemetry topics with a property bag, every received
//! topic parsed, twin and method response topics, and the PnP property
//! writer and reader — without MQTT or TLS under it.
//!
//! Inputs come through `core::hint::black_box` and outputs go into one, so
//! no topic or payload path can be proven dead.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use duet_azure::hub::pnp::{self, PropertiesReader, PropertyType};
use duet_azure::hub::{HubClient, HubOptions, HubTopic, PropertiesMessage};
use duet_azure::json::JsonWriter;
use duet_azure::properties::MessagePropertiesWriter;
use duet_azure::sas::{self, Resource};
use panic_halt as _;

#[entry]
fn main() -> ! {
    let options = HubOptions {
        model_id: black_box("dtmi:com:example:Thermostat;1"),
        ..HubOptions::default()
    };
    let hub = HubClient::with_options(
        black_box("contoso.azure-devices.net"),
        black_box("device-01"),
        options,
    );
    let mut out = [0u8; 512];
    let _ = black_box(hub.user_name(&mut out));
    let _ = black_box(hub.client_id(&mut out));
    let resource = Resource::Hub {
        hostname: hub.hostname,
        device_id: hub.device_id,
        module_id: None,
    };
    let mut received = [0u8; 512];
    loop {
        let expiry = black_box(1_700_000_000u64);
        let _ = black_box(sas::string_to_sign(&resource, expiry, &mut out));
        let _ = black_box(sas::password(
            &resource,
            black_box("c2lnbmF0dXJl"),
            expiry,
            None,
            &mut out,
        ));

        // Telemetry with a property bag, and the response topics.
        let mut bag_space = [0u8; 128];
        let mut bag = MessagePropertiesWriter::new(&mut bag_space);
        let _ = bag.append_encoded(black_box("$.sub"), black_box("thermostat1"));
        let _ = black_box(hub.telemetry_topic(Some(bag.properties()), &mut out));
        let _ = black_box(hub.method_response_topic(black_box("1"), 200, &mut out));
        let _ = black_box(hub.twin_document_get_topic(black_box("2"), &mut out));
        let _ = black_box(hub.twin_patch_topic(black_box("3"), &mut out));

        // A received topic and its payload.
        black_box(&mut received);
        let Ok(text) = core::str::from_utf8(&received) else {
            continue;
        };
        let (topic, payload) = text.split_once('\n').unwrap_or((text, "{}"));
        match HubTopic::parse(topic) {
            Ok(HubTopic::Twin(_)) => {
                if let Ok(message) = PropertiesMessage::parse(topic) {
                    let _ = black_box(pnp::properties_version(payload, message.message_type));
                    let components = [black_box("thermostat1")];
                    if let Ok(mut reader) = PropertiesReader::new(
                        payload,
                        message.message_type,
                        PropertyType::Writable,
                        &components,
                    ) {
                        while let Ok(Some(property)) = reader.next_component_property() {
                            black_box(property);
                            let json = reader.json();
                            if json.next_token().is_err() || json.skip_children().is_err() {
                                break;
                            }
                            let _ = json.next_token();
                        }
                    }
                }
            }
            other => {
                let _ = black_box(other);
            }
        }

        // A writable-property acknowledgement in a component.
        let mut writer = JsonWriter::new(&mut out);
        let _ = writer.begin_object();
        let _ = pnp::begin_component(&mut writer, black_box("thermostat1"));
        let _ = pnp::begin_response_status(&mut writer, "targetTemperature", 200, 4, "ok");
        let _ = writer.int32(black_box(22));
        let _ = pnp::end_response_status(&mut writer);
        let _ = pnp::end_component(&mut writer);
        let _ = writer.end_object();
        black_box(writer.len());
    }
}
