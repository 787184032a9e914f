//! TLS errors and alerts (RFC 8446 section 6; RFC 5246 section 7.2).

use core::fmt;

use duet_crypto::CryptoError;
use duet_crypto::x509::X509Error;

/// An alert's description byte (RFC 8446 section 6, the `AlertDescription`
/// enum). Codes this client never sends or expects still arrive from peers,
/// so they are kept as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertDescription {
    CloseNotify,
    UnexpectedMessage,
    BadRecordMac,
    RecordOverflow,
    HandshakeFailure,
    BadCertificate,
    UnsupportedCertificate,
    CertificateRevoked,
    CertificateExpired,
    CertificateUnknown,
    IllegalParameter,
    UnknownCa,
    AccessDenied,
    DecodeError,
    DecryptError,
    ProtocolVersion,
    InsufficientSecurity,
    InternalError,
    InappropriateFallback,
    UserCanceled,
    /// TLS 1.2 only (RFC 5246 section 7.2.2): a renegotiation refused.
    NoRenegotiation,
    MissingExtension,
    UnsupportedExtension,
    UnrecognizedName,
    BadCertificateStatusResponse,
    UnknownPskIdentity,
    CertificateRequired,
    NoApplicationProtocol,
    /// A code RFC 8446 does not list.
    Other(u8),
}

impl AlertDescription {
    /// The description from its wire code.
    pub fn from_u8(code: u8) -> Self {
        use AlertDescription::*;
        match code {
            0 => CloseNotify,
            10 => UnexpectedMessage,
            20 => BadRecordMac,
            22 => RecordOverflow,
            40 => HandshakeFailure,
            42 => BadCertificate,
            43 => UnsupportedCertificate,
            44 => CertificateRevoked,
            45 => CertificateExpired,
            46 => CertificateUnknown,
            47 => IllegalParameter,
            48 => UnknownCa,
            49 => AccessDenied,
            50 => DecodeError,
            51 => DecryptError,
            70 => ProtocolVersion,
            71 => InsufficientSecurity,
            80 => InternalError,
            86 => InappropriateFallback,
            90 => UserCanceled,
            100 => NoRenegotiation,
            109 => MissingExtension,
            110 => UnsupportedExtension,
            112 => UnrecognizedName,
            113 => BadCertificateStatusResponse,
            115 => UnknownPskIdentity,
            116 => CertificateRequired,
            120 => NoApplicationProtocol,
            other => Other(other),
        }
    }

    /// The wire code.
    pub fn to_u8(self) -> u8 {
        use AlertDescription::*;
        match self {
            CloseNotify => 0,
            UnexpectedMessage => 10,
            BadRecordMac => 20,
            RecordOverflow => 22,
            HandshakeFailure => 40,
            BadCertificate => 42,
            UnsupportedCertificate => 43,
            CertificateRevoked => 44,
            CertificateExpired => 45,
            CertificateUnknown => 46,
            IllegalParameter => 47,
            UnknownCa => 48,
            AccessDenied => 49,
            DecodeError => 50,
            DecryptError => 51,
            ProtocolVersion => 70,
            InsufficientSecurity => 71,
            InternalError => 80,
            InappropriateFallback => 86,
            UserCanceled => 90,
            NoRenegotiation => 100,
            MissingExtension => 109,
            UnsupportedExtension => 110,
            UnrecognizedName => 112,
            BadCertificateStatusResponse => 113,
            UnknownPskIdentity => 115,
            CertificateRequired => 116,
            NoApplicationProtocol => 120,
            Other(code) => code,
        }
    }
}

/// Why a TLS connection failed. Each local error names the alert the
/// client sends for it ([`TlsError::alert`]), following RFC 8446 section 6.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsError {
    /// A caller-provided buffer cannot hold a record or message.
    BufferTooSmall,
    /// A record longer than RFC 8446 section 5.1/5.2 allows.
    RecordOverflow,
    /// A protected record failed AEAD authentication (section 5.2).
    BadRecordMac,
    /// A message or record that is truncated or malformed (section 6.2,
    /// `decode_error`).
    Decode,
    /// A message that is not allowed in the current state.
    UnexpectedMessage,
    /// A field carries a value the client did not offer or RFC 8446 forbids.
    IllegalParameter,
    /// The server answered with an extension the client did not send
    /// (section 4.2).
    UnsupportedExtension,
    /// The server selected neither TLS 1.3 nor TLS 1.2 (section 4.2.1).
    ProtocolVersion,
    /// The ServerHello selects TLS 1.2 or older and its random carries the
    /// downgrade sentinel of section 4.1.3: the server supports TLS 1.3,
    /// which this client offered, so someone removed it on the way.
    Downgrade,
    /// A required extension is missing (section 4.2: signature_algorithms
    /// in a CertificateRequest).
    MissingExtension,
    /// A TLS 1.2 server that does not do the extended master secret (RFC
    /// 7627), without which a TLS 1.2 session is open to the
    /// triple-handshake attack; this client requires it.
    NoExtendedMasterSecret,
    /// A TLS 1.2 ServerHello whose renegotiation_info is not empty (RFC 5746
    /// section 3.4): there was no connection to renegotiate.
    InsecureRenegotiation,
    /// A HelloRetryRequest (section 4.1.4); this client offers only
    /// secp256r1 and sends its share up front, so it cannot retry yet.
    HelloRetryRequest,
    /// The server's certificate chain did not validate.
    Certificate(X509Error),
    /// The server sent an empty Certificate message (section 4.4.2.4).
    NoCertificate,
    /// CertificateVerify's signature did not verify (section 4.4.3).
    CertificateVerify(X509Error),
    /// The server's Finished did not match the transcript (section 4.4.4).
    BadFinished,
    /// The peer sent a fatal alert.
    AlertReceived(AlertDescription),
    /// The crypto provider failed.
    Crypto(CryptoError),
    /// The record sequence number would wrap (section 5.3).
    SequenceExhausted,
    /// The server name is not a valid DNS name or IP address.
    InvalidServerName,
    /// The operation needs a connected session (handshake done, not closed).
    NotConnected,
    /// The transport under the connection failed.
    Transport(embedded_io::ErrorKind),
    /// The transport ended before the TLS session did (no close_notify).
    TransportClosed,
}

impl TlsError {
    /// The alert RFC 8446 section 6.2 says to send for this error; `None`
    /// when the peer already ended the connection.
    pub fn alert(self) -> Option<AlertDescription> {
        use AlertDescription as A;
        Some(match self {
            TlsError::BufferTooSmall => A::InternalError,
            TlsError::RecordOverflow => A::RecordOverflow,
            TlsError::BadRecordMac => A::BadRecordMac,
            TlsError::Decode | TlsError::NoCertificate => A::DecodeError,
            TlsError::UnexpectedMessage | TlsError::NotConnected => A::UnexpectedMessage,
            TlsError::IllegalParameter | TlsError::Downgrade | TlsError::HelloRetryRequest => {
                A::IllegalParameter
            }
            TlsError::UnsupportedExtension => A::UnsupportedExtension,
            TlsError::ProtocolVersion => A::ProtocolVersion,
            TlsError::MissingExtension => A::MissingExtension,
            TlsError::NoExtendedMasterSecret | TlsError::InsecureRenegotiation => {
                A::HandshakeFailure
            }
            TlsError::Certificate(error) => certificate_alert(error),
            TlsError::CertificateVerify(_) | TlsError::BadFinished => A::DecryptError,
            TlsError::AlertReceived(_) | TlsError::Transport(_) | TlsError::TransportClosed => {
                return None;
            }
            TlsError::Crypto(_) | TlsError::SequenceExhausted | TlsError::InvalidServerName => {
                A::InternalError
            }
        })
    }
}

fn certificate_alert(error: X509Error) -> AlertDescription {
    match error {
        X509Error::UnknownIssuer => AlertDescription::UnknownCa,
        X509Error::Expired { .. } | X509Error::NotValidYet { .. } => {
            AlertDescription::CertificateExpired
        }
        X509Error::UnsupportedSignatureAlgorithm => AlertDescription::UnsupportedCertificate,
        _ => AlertDescription::BadCertificate,
    }
}

impl From<CryptoError> for TlsError {
    fn from(error: CryptoError) -> Self {
        TlsError::Crypto(error)
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::BufferTooSmall => f.write_str("buffer too small"),
            TlsError::RecordOverflow => f.write_str("record too long"),
            TlsError::BadRecordMac => f.write_str("record failed authentication"),
            TlsError::Decode => f.write_str("malformed message"),
            TlsError::UnexpectedMessage => f.write_str("unexpected message"),
            TlsError::IllegalParameter => f.write_str("illegal parameter"),
            TlsError::UnsupportedExtension => f.write_str("unsolicited extension"),
            TlsError::ProtocolVersion => f.write_str("server selected neither TLS 1.3 nor 1.2"),
            TlsError::NoExtendedMasterSecret => {
                f.write_str("TLS 1.2 server without the extended master secret")
            }
            TlsError::MissingExtension => f.write_str("a required extension is missing"),
            TlsError::InsecureRenegotiation => {
                f.write_str("renegotiation_info names a connection that never was")
            }
            TlsError::Downgrade => f.write_str("downgrade sentinel in ServerHello"),
            TlsError::HelloRetryRequest => f.write_str("HelloRetryRequest not supported"),
            TlsError::Certificate(e) => write!(f, "server certificate rejected: {e:?}"),
            TlsError::NoCertificate => f.write_str("server sent no certificate"),
            TlsError::CertificateVerify(e) => write!(f, "CertificateVerify rejected: {e:?}"),
            TlsError::BadFinished => f.write_str("server Finished does not match"),
            TlsError::AlertReceived(a) => write!(f, "peer sent alert {a:?}"),
            TlsError::Crypto(e) => write!(f, "crypto: {e}"),
            TlsError::SequenceExhausted => f.write_str("record sequence number exhausted"),
            TlsError::InvalidServerName => f.write_str("invalid server name"),
            TlsError::NotConnected => f.write_str("not connected"),
            TlsError::Transport(kind) => write!(f, "transport failed: {kind:?}"),
            TlsError::TransportClosed => f.write_str("transport closed before the TLS session"),
        }
    }
}

impl core::error::Error for TlsError {}

/// So a TLS connection can implement `embedded_io_async::{Read, Write}`.
impl embedded_io::Error for TlsError {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self {
            TlsError::Transport(kind) => *kind,
            TlsError::TransportClosed => embedded_io::ErrorKind::ConnectionAborted,
            TlsError::NotConnected => embedded_io::ErrorKind::NotConnected,
            TlsError::BufferTooSmall => embedded_io::ErrorKind::OutOfMemory,
            _ => embedded_io::ErrorKind::InvalidData,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_codes_round_trip() {
        for code in 0..=255u8 {
            assert_eq!(AlertDescription::from_u8(code).to_u8(), code);
        }
        assert_eq!(AlertDescription::from_u8(48), AlertDescription::UnknownCa);
        assert_eq!(AlertDescription::from_u8(7), AlertDescription::Other(7));
    }

    #[test]
    fn errors_name_the_alert_to_send() {
        assert_eq!(
            TlsError::Certificate(X509Error::UnknownIssuer).alert(),
            Some(AlertDescription::UnknownCa)
        );
        assert_eq!(
            TlsError::Certificate(X509Error::NotValidForName).alert(),
            Some(AlertDescription::BadCertificate)
        );
        assert_eq!(
            TlsError::BadRecordMac.alert(),
            Some(AlertDescription::BadRecordMac)
        );
        assert_eq!(
            TlsError::AlertReceived(AlertDescription::HandshakeFailure).alert(),
            None
        );
    }
}
