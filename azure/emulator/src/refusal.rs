//! Why a CONNECT is refused, the CONNACK return code that says so (MQTT
//! 3.1.1 §3.2.2.3), and the counters tests read. IoT Hub answers failed
//! authentication with 5 (not authorized) and credentials it cannot read
//! with 4 (bad user name or password).

use core::fmt;

/// Why the emulator refused a CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Not MQTT 3.1.1 (return code 1).
    UnsupportedProtocol,
    /// The client id is not the device or registration id of the user name
    /// (return code 2).
    IdentifierRejected,
    /// The user name names neither this hub nor this DPS instance, or lacks
    /// its `api-version` (return code 4).
    BadUserName,
    /// The password is not a SAS token (return code 4).
    MalformedToken,
    /// Neither a password nor a client certificate that could prove the
    /// identity (return code 5).
    MissingCredentials,
    /// No such device, and no enrollment for the registration (return
    /// code 5).
    UnknownIdentity,
    /// The token's `sr` names another resource (return code 5).
    WrongResource,
    /// The token's `sig` is not the key's signature (return code 5).
    BadSignature,
    /// The token's `se` has passed (return code 5).
    ExpiredToken,
    /// The client certificate's CN is not the device or registration id
    /// (return code 5).
    CertificateMismatch,
}

impl Refusal {
    /// The CONNACK return code (MQTT 3.1.1 §3.2.2.3, table 3.1).
    pub fn return_code(self) -> u8 {
        match self {
            Refusal::UnsupportedProtocol => 1,
            Refusal::IdentifierRejected => 2,
            Refusal::BadUserName | Refusal::MalformedToken => 4,
            Refusal::MissingCredentials
            | Refusal::UnknownIdentity
            | Refusal::WrongResource
            | Refusal::BadSignature
            | Refusal::ExpiredToken
            | Refusal::CertificateMismatch => 5,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::UnsupportedProtocol => "not MQTT 3.1.1",
            Refusal::IdentifierRejected => "client id does not match the user name",
            Refusal::BadUserName => "user name names no known service",
            Refusal::MalformedToken => "password is not a SAS token",
            Refusal::MissingCredentials => "no credentials",
            Refusal::UnknownIdentity => "unknown device or registration",
            Refusal::WrongResource => "token for another resource",
            Refusal::BadSignature => "wrong token signature",
            Refusal::ExpiredToken => "token expired",
            Refusal::CertificateMismatch => "certificate names another identity",
        })
    }
}

/// How many CONNECTs were refused, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refusals {
    /// [`Refusal::UnsupportedProtocol`].
    pub unsupported_protocol: u32,
    /// [`Refusal::IdentifierRejected`].
    pub identifier_rejected: u32,
    /// [`Refusal::BadUserName`].
    pub bad_user_name: u32,
    /// [`Refusal::MalformedToken`].
    pub malformed_token: u32,
    /// [`Refusal::MissingCredentials`].
    pub missing_credentials: u32,
    /// [`Refusal::UnknownIdentity`].
    pub unknown_identity: u32,
    /// [`Refusal::WrongResource`].
    pub wrong_resource: u32,
    /// [`Refusal::BadSignature`].
    pub bad_signature: u32,
    /// [`Refusal::ExpiredToken`].
    pub expired_token: u32,
    /// [`Refusal::CertificateMismatch`].
    pub certificate_mismatch: u32,
}

impl Refusals {
    /// The count for `reason`.
    pub fn get(&self, reason: Refusal) -> u32 {
        *self.slot(reason)
    }

    /// All refusals.
    pub fn total(&self) -> u32 {
        self.unsupported_protocol
            + self.identifier_rejected
            + self.bad_user_name
            + self.malformed_token
            + self.missing_credentials
            + self.unknown_identity
            + self.wrong_resource
            + self.bad_signature
            + self.expired_token
            + self.certificate_mismatch
    }

    pub(crate) fn count(&mut self, reason: Refusal) {
        *self.slot_mut(reason) += 1;
    }

    fn slot(&self, reason: Refusal) -> &u32 {
        match reason {
            Refusal::UnsupportedProtocol => &self.unsupported_protocol,
            Refusal::IdentifierRejected => &self.identifier_rejected,
            Refusal::BadUserName => &self.bad_user_name,
            Refusal::MalformedToken => &self.malformed_token,
            Refusal::MissingCredentials => &self.missing_credentials,
            Refusal::UnknownIdentity => &self.unknown_identity,
            Refusal::WrongResource => &self.wrong_resource,
            Refusal::BadSignature => &self.bad_signature,
            Refusal::ExpiredToken => &self.expired_token,
            Refusal::CertificateMismatch => &self.certificate_mismatch,
        }
    }

    fn slot_mut(&mut self, reason: Refusal) -> &mut u32 {
        match reason {
            Refusal::UnsupportedProtocol => &mut self.unsupported_protocol,
            Refusal::IdentifierRejected => &mut self.identifier_rejected,
            Refusal::BadUserName => &mut self.bad_user_name,
            Refusal::MalformedToken => &mut self.malformed_token,
            Refusal::MissingCredentials => &mut self.missing_credentials,
            Refusal::UnknownIdentity => &mut self.unknown_identity,
            Refusal::WrongResource => &mut self.wrong_resource,
            Refusal::BadSignature => &mut self.bad_signature,
            Refusal::ExpiredToken => &mut self.expired_token,
            Refusal::CertificateMismatch => &mut self.certificate_mismatch,
        }
    }
}
