//! Duet's Azure IoT device protocol layer: what a device says to IoT Hub and
//! the Device Provisioning Service over MQTT, as pure functions over caller
//! buffers, in the vocabulary of azure-sdk-for-c — SAS tokens, user names and
//! client ids, every topic builder with its parser, and the JSON payloads.
//! The network lives elsewhere (`duet::mqtt` over `duet::tls`).
//!
//! no_std, no alloc: builders write into the caller's buffer and return the
//! length, or [`AzureError::BufferTooSmall`]; parsers borrow from the input.
#![no_std]
#![forbid(unsafe_code)]

pub mod adu;
pub mod base64;
pub mod client;
pub mod dps;
mod error;
pub mod hub;
pub mod json;
mod out;
pub mod properties;
pub mod retry;
pub mod sas;
mod url;

pub use client::{HubClient, MQTT_INBOUND, MQTT_WINDOW, ProvisioningClient};
pub use error::AzureError;
pub use url::url_encode;
