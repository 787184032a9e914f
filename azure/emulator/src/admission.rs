//! Deciding a CONNECT: which service the user name addresses, whether the
//! client id matches it, and whether the credentials prove the identity
//! (<https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub>,
//! "Using the MQTT protocol directly"):
//!
//! ```text
//! hub  user name  {hub_host}/{device_id}/?api-version=...   client id {device_id}
//! DPS  user name  {id_scope}/registrations/{registration_id}/api-version=...
//!                                                            client id {registration_id}
//! ```
//! A hub device proves itself with a SAS token for
//! `{hub_host}/devices/{device_id}` or with a client certificate whose CN is
//! its id; a DPS registration with a token for
//! `{id_scope}/registrations/{registration_id}` (`skn=registration` or none)
//! signed with its enrollment's key, or with a certificate.

use duet::mqtt::ProtocolVersion;
use duet::mqtt::codec::Connect;
use tokio::sync::mpsc;

use crate::config::{DeviceAuth, Enrollment};
use crate::sas::{self, SasError, SasToken};
use crate::state::{Command, Live, State};
use crate::subscriptions::Subscriptions;
use crate::{CloseReason, Refusal};

/// The key name DPS group enrollments sign with; individual ones may too.
const DPS_KEY_NAME: &str = "registration";

/// Who a connection authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    /// A device of the hub.
    Device(String),
    /// A DPS registration, with the credentials the hub will know the
    /// device by once assigned.
    Registration {
        registration_id: String,
        attestation: DeviceAuth,
    },
}

/// An accepted CONNECT.
#[derive(Debug)]
pub(crate) struct Admitted {
    pub(crate) identity: Identity,
    /// The connection's id, unique in the emulator.
    pub(crate) connection: u64,
    /// CONNACK's session-present flag.
    pub(crate) session_present: bool,
    /// The session's subscriptions (restored when present).
    pub(crate) subscriptions: Subscriptions,
    /// When the SAS token expires (Unix seconds); `None` for certificates.
    pub(crate) token_expiry: Option<u64>,
    /// The control API's commands, for a hub device.
    pub(crate) commands: Option<mpsc::UnboundedReceiver<Command>>,
}

/// Decides `connect`, sent over TLS with a client certificate naming
/// `client_cn` (if any), at Unix second `now`. A refusal is counted; an
/// acceptance of a hub device supersedes its previous connection.
pub(crate) fn admit(
    state: &mut State,
    connect: &Connect<'_>,
    client_cn: Option<&str>,
    now: u64,
) -> Result<Admitted, Refusal> {
    let decided = decide(state, connect, client_cn, now);
    match decided {
        Ok((identity, token_expiry)) => Ok(accept(state, connect, identity, token_expiry)),
        Err(refusal) => {
            state.refusals.count(refusal);
            Err(refusal)
        }
    }
}

/// The identity proven, and the token's expiry.
fn decide(
    state: &State,
    connect: &Connect<'_>,
    client_cn: Option<&str>,
    now: u64,
) -> Result<(Identity, Option<u64>), Refusal> {
    if connect.version != ProtocolVersion::V311 {
        return Err(Refusal::UnsupportedProtocol);
    }
    let user_name = connect.username.ok_or(Refusal::BadUserName)?;
    let credentials = Credentials {
        password: connect.password,
        client_cn,
        now,
    };
    if let Some(device_id) = hub_device_id(user_name, &state.hub_host) {
        if connect.client_id != device_id {
            return Err(Refusal::IdentifierRejected);
        }
        let device = state
            .devices
            .get(device_id)
            .ok_or(Refusal::UnknownIdentity)?;
        let expiry = match &device.auth {
            DeviceAuth::SymmetricKey(key) => {
                let resource = format!("{}/devices/{device_id}", state.hub_host);
                Some(credentials.sas(&resource, key, |_| true)?)
            }
            DeviceAuth::X509 => {
                credentials.certificate(device_id)?;
                None
            }
        };
        return Ok((Identity::Device(device_id.to_owned()), expiry));
    }
    if let Some(dps) = &state.dps {
        if let Some(registration_id) = dps_registration_id(user_name, dps.id_scope()) {
            if connect.client_id != registration_id {
                return Err(Refusal::IdentifierRejected);
            }
            let resource = format!("{}/registrations/{registration_id}", dps.id_scope());
            let (attestation, expiry) =
                credentials.enrollment(dps.enrollments(), registration_id, &resource)?;
            let identity = Identity::Registration {
                registration_id: registration_id.to_owned(),
                attestation,
            };
            return Ok((identity, expiry));
        }
    }
    Err(Refusal::BadUserName)
}

/// Registers an accepted connection: a hub device's previous connection is
/// told to close, and its session is resumed or started.
fn accept(
    state: &mut State,
    connect: &Connect<'_>,
    identity: Identity,
    token_expiry: Option<u64>,
) -> Admitted {
    let connection = state.connection_id();
    let mut admitted = Admitted {
        identity,
        connection,
        session_present: false,
        subscriptions: Subscriptions::default(),
        token_expiry,
        commands: None,
    };
    let Identity::Device(device_id) = &admitted.identity else {
        // DPS keeps no MQTT session.
        return admitted;
    };
    let Some(device) = state.devices.get_mut(device_id) else {
        return admitted;
    };
    device.connections += 1;
    device.model_id = connect.username.and_then(model_id);
    if let Some(previous) = device.live.take() {
        let _ = previous
            .commands
            .send(Command::Close(CloseReason::Superseded));
    }
    let (commands, receiver) = mpsc::unbounded_channel();
    device.live = Some(Live {
        id: connection,
        commands,
    });
    // MQTT 3.1.1 §3.1.2.4: a clean session, this one's or the one it
    // takes over from, ends with its connection.
    if connect.clean_start || !device.persistent {
        device.session = None;
    }
    device.persistent = !connect.clean_start;
    admitted.session_present = device.session.is_some();
    admitted.subscriptions = device.session.clone().unwrap_or_default();
    device.session = Some(admitted.subscriptions.clone());
    admitted.commands = Some(receiver);
    admitted
}

/// What a CONNECT offers as proof.
struct Credentials<'a> {
    password: Option<&'a [u8]>,
    client_cn: Option<&'a str>,
    now: u64,
}

impl Credentials<'_> {
    /// Checks the password as a SAS token for `resource` signed with `key`
    /// under a key name `key_name_ok` accepts; the token's expiry.
    fn sas(
        &self,
        resource: &str,
        key: &str,
        key_name_ok: impl Fn(Option<&str>) -> bool,
    ) -> Result<u64, Refusal> {
        let password = self.password.ok_or(Refusal::MissingCredentials)?;
        let token = SasToken::parse(password).map_err(refusal)?;
        token.verify(resource, key, self.now).map_err(refusal)?;
        if !key_name_ok(token.key_name.as_deref()) {
            return Err(Refusal::BadSignature);
        }
        Ok(token.expiry)
    }

    /// Checks that the verified client certificate names `id`.
    fn certificate(&self, id: &str) -> Result<(), Refusal> {
        match self.client_cn {
            None => Err(Refusal::MissingCredentials),
            Some(cn) if cn == id => Ok(()),
            Some(_) => Err(Refusal::CertificateMismatch),
        }
    }

    /// Checks the proof against the enrollment for `registration_id`: its
    /// own (individual or X.509), else any group's derived key.
    fn enrollment(
        &self,
        enrollments: &[Enrollment],
        registration_id: &str,
        resource: &str,
    ) -> Result<(DeviceAuth, Option<u64>), Refusal> {
        let dps_key_name = |name: Option<&str>| name.is_none_or(|n| n == DPS_KEY_NAME);
        let own = enrollments.iter().find(|e| match e {
            Enrollment::Individual {
                registration_id: id,
                ..
            }
            | Enrollment::X509 {
                registration_id: id,
            } => id == registration_id,
            Enrollment::Group { .. } => false,
        });
        match own {
            Some(Enrollment::Individual { key, .. }) => {
                let expiry = self.sas(resource, key, dps_key_name)?;
                return Ok((DeviceAuth::SymmetricKey(key.clone()), Some(expiry)));
            }
            Some(Enrollment::X509 { .. }) => {
                self.certificate(registration_id)?;
                return Ok((DeviceAuth::X509, None));
            }
            Some(Enrollment::Group { .. }) | None => {}
        }
        let mut first_error = Refusal::UnknownIdentity;
        for (i, group_key) in enrollments
            .iter()
            .filter_map(|e| match e {
                Enrollment::Group { key } => Some(key),
                _ => None,
            })
            .enumerate()
        {
            let Some(device_key) = sas::sign(group_key, registration_id.as_bytes()) else {
                continue;
            };
            match self.sas(resource, &device_key, dps_key_name) {
                Ok(expiry) => return Ok((DeviceAuth::SymmetricKey(device_key), Some(expiry))),
                Err(error) if i == 0 => first_error = error,
                Err(_) => {}
            }
        }
        Err(first_error)
    }
}

fn refusal(error: SasError) -> Refusal {
    match error {
        SasError::Malformed => Refusal::MalformedToken,
        SasError::WrongResource => Refusal::WrongResource,
        SasError::BadSignature => Refusal::BadSignature,
        SasError::Expired => Refusal::ExpiredToken,
    }
}

/// The device id of a hub user name `{hub_host}/{device_id}/?api-version=...`.
/// A module's (`{hub_host}/{device_id}/{module_id}/?...`) is not emulated.
fn hub_device_id<'a>(user_name: &'a str, hub_host: &str) -> Option<&'a str> {
    let (host, rest) = user_name.split_once('/')?;
    if !host.eq_ignore_ascii_case(hub_host) {
        return None;
    }
    let (device_id, query) = rest.split_once("/?")?;
    let has_api_version = query.split('&').any(|p| p.starts_with("api-version="));
    (!device_id.is_empty() && !device_id.contains('/') && has_api_version).then_some(device_id)
}

/// The Plug and Play model id a hub user name announces
/// (`&model-id=dtmi%3A...`), decoded.
fn model_id(user_name: &str) -> Option<String> {
    let (_, query) = user_name.split_once("/?")?;
    let encoded = query.split('&').find_map(|p| p.strip_prefix("model-id="))?;
    crate::url::decode(encoded)
}

/// The registration id of a DPS user name
/// `{id_scope}/registrations/{registration_id}/api-version=...`.
fn dps_registration_id<'a>(user_name: &'a str, id_scope: &str) -> Option<&'a str> {
    let rest = user_name
        .strip_prefix(id_scope)?
        .strip_prefix("/registrations/")?;
    let (registration_id, parameters) = rest.split_once('/')?;
    (!registration_id.is_empty() && parameters.starts_with("api-version="))
        .then_some(registration_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_from_the_vectors_parse() {
        // hub.connect / dps.connect vectors.
        let hub = "myiothub.azure-devices.net/my_device/?api-version=2020-09-30&DeviceClientType=azsdk-c%2F1.6.0-beta.1&model-id=dtmi%3AYOUR_COMPANY_NAME_HERE%3Asample_device%3B1";
        assert_eq!(
            hub_device_id(hub, "myiothub.azure-devices.net"),
            Some("my_device")
        );
        assert_eq!(hub_device_id(hub, "other.azure-devices.net"), None);
        let module = "myiothub.azure-devices.net/my_device/my_module/?api-version=2020-09-30";
        assert_eq!(hub_device_id(module, "myiothub.azure-devices.net"), None);
        assert_eq!(
            hub_device_id(
                "myiothub.azure-devices.net/my_device/",
                "myiothub.azure-devices.net"
            ),
            None
        );
        let dps = "0neFEEDC0DE/registrations/myRegistrationId/api-version=2019-03-31&ClientVersion=c/1.2.3";
        assert_eq!(
            dps_registration_id(dps, "0neFEEDC0DE"),
            Some("myRegistrationId")
        );
        assert_eq!(dps_registration_id(dps, "0neOTHER"), None);
        assert_eq!(
            dps_registration_id("0neFEEDC0DE/registrations//api-version=1", "0neFEEDC0DE"),
            None
        );
    }
}
