//! The async clients: [`HubClient`] and [`ProvisioningClient`], the
//! protocol layer ([`crate::hub`], [`crate::dps`]) run over Duet's MQTT
//! client on a transport a [`Connector`](duet::connector::Connector) opens
//! (usually [`duet::tls::TlsConnector`] over a TCP connection).
//!
//! Both sign a fresh SAS token for every connection ([`SasConnector`]),
//! speak MQTT 3.1.1 as Azure requires, and keep no memory of their own
//! beyond small fixed state: every buffer is the caller's.

mod credential;
mod hub;
mod provisioning;
mod request_id;

pub use credential::{Credential, MAX_SAS_TOKEN, SasConnector};
pub use hub::{HubBuffers, HubClient, HubConfig, HubError, HubEvent, HubStats};
pub use provisioning::{
    Assignment, ProvisioningBuffers, ProvisioningClient, ProvisioningConfig, ProvisioningError,
};
pub use request_id::RequestId;

/// QoS 1/2 publishes the devices' MQTT client keeps in flight: the hub
/// client's default, and what the provisioning client uses.
pub const MQTT_WINDOW: usize = 8;

/// Inbound QoS 1/2 exchanges the devices' MQTT client tracks at once.
pub const MQTT_INBOUND: usize = 4;

use duet::mqtt::ProtocolVersion;
use duet::mqtt::codec::{Connect, Properties};
use duet::netstack::rand::Rng;
use duet::netstack::time::Duration;

use crate::AzureError;

/// The CONNECT both clients send: MQTT 3.1.1, which is what IoT Hub and
/// DPS speak, with the identity made once; the password comes from the
/// [`SasConnector`] on each connection.
fn azure_connect<'b>(
    user_name: &'b str,
    client_id: &'b str,
    keep_alive: u16,
    clean_start: bool,
) -> Connect<'b> {
    Connect {
        version: ProtocolVersion::V311,
        clean_start,
        keep_alive,
        properties: Properties::EMPTY,
        client_id,
        will: None,
        username: Some(user_name),
        password: None,
    }
}

/// Splits `buffer` into the user name and client id that `user_name` and
/// `client_id` write, borrowed for as long as the buffer.
fn identity_strings<'b>(
    buffer: &'b mut [u8],
    user_name: impl FnOnce(&mut [u8]) -> Result<usize, AzureError>,
    client_id: impl FnOnce(&mut [u8]) -> Result<usize, AzureError>,
) -> Result<(&'b str, &'b str), AzureError> {
    let n = user_name(buffer)?;
    let (user, rest) = buffer.split_at_mut(n);
    let m = client_id(rest)?;
    let user: &'b [u8] = user;
    let rest: &'b [u8] = rest;
    let text = |bytes| core::str::from_utf8(bytes).map_err(|_| AzureError::InvalidArgument);
    Ok((text(user)?, text(&rest[..m])?))
}

/// Whether Azure's device guidance retries a request that failed with
/// `status`: throttled (429) or any server error (5xx).
fn retry_worthy(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// The wait before retrying after the `failures`-th 429/5xx in a row:
/// Azure's exponential backoff, 1 s doubling to 60 s, plus up to 1 s of
/// jitter drawn from `rng` so a fleet does not retry in step.
fn service_retry_delay(failures: u16, rng: &mut Rng) -> Duration {
    let jitter = rng.below(1000);
    let millis = crate::retry::retry_delay(0, failures.saturating_sub(1), 1000, 60_000, jitter);
    Duration::from_millis(u64::from(millis))
}
