//! Why a certificate or a path was rejected.

use core::fmt;

/// Why X.509 validation failed. Each reason a deliberately bad test
/// certificate exercises has its own variant, so a caller (and a log line)
/// can tell an expired server from a misnamed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum X509Error {
    /// DER that is not a well-formed X.509 v3 certificate or extension
    /// (RFC 5280 section 4.1), including an empty extendedKeyUsage.
    BadEncoding,
    /// A certificate other than version 3 where only v3 is allowed.
    UnsupportedCertVersion,
    /// A critical extension webpki does not understand (RFC 5280 section 4.2).
    UnsupportedCriticalExtension,
    /// notBefore is later than notAfter (RFC 5280 section 4.1.2.5).
    InvalidValidityPeriod,
    /// The clock is past a certificate's notAfter (RFC 5280 section 6.1.3 (a)(2)).
    Expired { now: u64, not_after: u64 },
    /// The clock is before a certificate's notBefore.
    NotValidYet { now: u64, not_before: u64 },
    /// The end-entity certificate's subjectAltName has no entry matching the
    /// server name (RFC 6125 section 6; the subject CN is never consulted).
    NotValidForName,
    /// The server name given is neither a valid DNS name nor an IP address.
    InvalidServerName,
    /// No path leads to any of the trust anchors.
    UnknownIssuer,
    /// A signature in the path does not verify under its issuer's key (or the
    /// verifier could not check it).
    BadSignature,
    /// A signature algorithm Duet does not accept, or one that does not fit
    /// the issuer's key type.
    UnsupportedSignatureAlgorithm,
    /// The certificate's two signature algorithm fields differ (RFC 5280
    /// section 4.1.1.2).
    SignatureAlgorithmMismatch,
    /// A certificate without basicConstraints cA = TRUE issued another
    /// (RFC 5280 section 6.1.4 (k)).
    EndEntityUsedAsCa,
    /// A CA certificate was presented as the end-entity certificate.
    CaUsedAsEndEntity,
    /// A CA's pathLenConstraint is exceeded (RFC 5280 section 6.1.4 (m)).
    PathLenConstraintViolated,
    /// The path is longer than webpki searches, or the peer sent more
    /// intermediates than [`MAX_INTERMEDIATES`](super::MAX_INTERMEDIATES).
    PathTooLong,
    /// extendedKeyUsage lacks the purpose asked for (serverAuth or clientAuth,
    /// RFC 5280 section 4.2.1.12).
    RequiredEkuNotFound,
    /// An intermediate CA's keyUsage lacks keyCertSign (RFC 5280 section 6.1.4 (n)).
    IssuerNotCertSigner,
    /// The end-entity certificate's keyUsage lacks digitalSignature, so its
    /// key may not sign a TLS handshake (RFC 8446 section 4.4.2.2).
    KeyUsageForbidsSigning,
    /// A name in the path is outside a CA's nameConstraints (RFC 5280 section 4.2.1.10).
    NameConstraintViolation,
    /// The key is on webpki's list of distrusted keys.
    Distrusted,
    /// Path building gave up: too many signatures or candidate paths (a
    /// defence against a peer sending a maze of certificates).
    PathBuildingBudgetExceeded,
    /// A webpki rejection without a finer Duet reason (revocation lists,
    /// which Duet does not use, or a variant added to webpki later).
    Rejected,
}

impl From<webpki::Error> for X509Error {
    fn from(error: webpki::Error) -> Self {
        use webpki::Error as E;
        #[allow(deprecated)]
        match error {
            E::BadDer
            | E::BadDerTime
            | E::TrailingData(_)
            | E::MalformedExtensions
            | E::ExtensionValueInvalid
            | E::InvalidSerialNumber
            | E::EmptyEkuExtension
            | E::MalformedDnsIdentifier
            | E::MalformedNameConstraint
            | E::InvalidNetworkMaskConstraint => X509Error::BadEncoding,
            E::UnsupportedCertVersion => X509Error::UnsupportedCertVersion,
            E::UnsupportedCriticalExtension => X509Error::UnsupportedCriticalExtension,
            E::InvalidCertValidity => X509Error::InvalidValidityPeriod,
            E::CertExpired { time, not_after } => X509Error::Expired {
                now: time.as_secs(),
                not_after: not_after.as_secs(),
            },
            E::CertNotValidYet { time, not_before } => X509Error::NotValidYet {
                now: time.as_secs(),
                not_before: not_before.as_secs(),
            },
            E::CertNotValidForName(_) => X509Error::NotValidForName,
            E::UnsupportedNameType => X509Error::InvalidServerName,
            E::UnknownIssuer => X509Error::UnknownIssuer,
            E::InvalidSignatureForPublicKey => X509Error::BadSignature,
            E::UnsupportedSignatureAlgorithm
            | E::UnsupportedSignatureAlgorithmContext(_)
            | E::UnsupportedSignatureAlgorithmForPublicKey
            | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
                X509Error::UnsupportedSignatureAlgorithm
            }
            E::SignatureAlgorithmMismatch => X509Error::SignatureAlgorithmMismatch,
            E::EndEntityUsedAsCa => X509Error::EndEntityUsedAsCa,
            E::CaUsedAsEndEntity => X509Error::CaUsedAsEndEntity,
            E::PathLenConstraintViolated => X509Error::PathLenConstraintViolated,
            E::MaximumPathDepthExceeded => X509Error::PathTooLong,
            E::RequiredEkuNotFound | E::RequiredEkuNotFoundContext(_) => {
                X509Error::RequiredEkuNotFound
            }
            E::NameConstraintViolation => X509Error::NameConstraintViolation,
            E::CertDistrusted => X509Error::Distrusted,
            E::MaximumSignatureChecksExceeded
            | E::MaximumPathBuildCallsExceeded
            | E::MaximumNameConstraintComparisonsExceeded => X509Error::PathBuildingBudgetExceeded,
            _ => X509Error::Rejected,
        }
    }
}

impl fmt::Display for X509Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            X509Error::BadEncoding => f.write_str("malformed certificate"),
            X509Error::UnsupportedCertVersion => f.write_str("certificate is not X.509 v3"),
            X509Error::UnsupportedCriticalExtension => {
                f.write_str("unsupported critical extension")
            }
            X509Error::InvalidValidityPeriod => f.write_str("notBefore is after notAfter"),
            X509Error::Expired { now, not_after } => {
                write!(f, "certificate expired at {not_after}, now is {now}")
            }
            X509Error::NotValidYet { now, not_before } => {
                write!(f, "certificate valid from {not_before}, now is {now}")
            }
            X509Error::NotValidForName => f.write_str("certificate not valid for the server name"),
            X509Error::InvalidServerName => f.write_str("invalid server name"),
            X509Error::UnknownIssuer => f.write_str("no path to a trust anchor"),
            X509Error::BadSignature => f.write_str("certificate signature does not verify"),
            X509Error::UnsupportedSignatureAlgorithm => {
                f.write_str("unsupported signature algorithm")
            }
            X509Error::SignatureAlgorithmMismatch => {
                f.write_str("signature algorithm fields disagree")
            }
            X509Error::EndEntityUsedAsCa => f.write_str("issuer is not a CA"),
            X509Error::CaUsedAsEndEntity => f.write_str("CA certificate used as end entity"),
            X509Error::PathLenConstraintViolated => f.write_str("path length constraint violated"),
            X509Error::PathTooLong => f.write_str("certificate path too long"),
            X509Error::RequiredEkuNotFound => f.write_str("extended key usage not allowed"),
            X509Error::IssuerNotCertSigner => f.write_str("issuer keyUsage lacks keyCertSign"),
            X509Error::KeyUsageForbidsSigning => f.write_str("keyUsage lacks digitalSignature"),
            X509Error::NameConstraintViolation => f.write_str("name constraint violated"),
            X509Error::Distrusted => f.write_str("distrusted key"),
            X509Error::PathBuildingBudgetExceeded => f.write_str("path building budget exceeded"),
            X509Error::Rejected => f.write_str("certificate rejected"),
        }
    }
}

impl core::error::Error for X509Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::UnixTime;

    #[test]
    fn maps_times_and_reasons() {
        let at = |s| UnixTime::since_unix_epoch(core::time::Duration::from_secs(s));
        assert_eq!(
            X509Error::from(webpki::Error::CertExpired {
                time: at(10),
                not_after: at(5),
            }),
            X509Error::Expired {
                now: 10,
                not_after: 5
            }
        );
        assert_eq!(
            X509Error::from(webpki::Error::CertNotValidYet {
                time: at(1),
                not_before: at(5),
            }),
            X509Error::NotValidYet {
                now: 1,
                not_before: 5
            }
        );
        assert_eq!(
            X509Error::from(webpki::Error::EndEntityUsedAsCa),
            X509Error::EndEntityUsedAsCa
        );
        assert_eq!(
            X509Error::from(webpki::Error::CertRevoked),
            X509Error::Rejected
        );
    }
}
