//! Certification path validation (RFC 5280 section 6) for TLS peers, on
//! webpki, with every signature checked by the caller's
//! [`SignatureVerifier`].

use core::cell::Cell;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::time::Duration;

use rustls_pki_types as pki;
use rustls_pki_types::{
    CertificateDer, Der, SignatureVerificationAlgorithm, TrustAnchor, UnixTime,
};
use webpki::{EndEntityCert, KeyUsage as Purpose, VerifiedPath};

use super::X509Error;
use super::algorithms::{self, Algorithm};
use super::key_usage::{KeyUsageBit, key_usage};
use crate::{SignatureScheme, SignatureVerifier};

/// The most intermediate certificates a peer may send. They are borrowed
/// into a fixed array (no allocator); webpki itself builds paths of at most
/// six sub-CAs, and real TLS servers send one to three.
pub const MAX_INTERMEDIATES: usize = 8;

/// The name the client connects to, matched against the end-entity
/// certificate's subjectAltName only: dNSName entries for a DNS name,
/// iPAddress entries for an address (RFC 6125 section 6; RFC 5280 section
/// 4.2.1.6). The subject's CN is never used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerName<'a> {
    /// A DNS name, e.g. `hub.azure-devices.test`; `*.` wildcards in the
    /// certificate match one label (RFC 6125 section 6.4.3).
    DnsName(&'a str),
    /// An IPv4 or IPv6 address.
    IpAddress(IpAddr),
}

impl<'a> TryFrom<&'a str> for ServerName<'a> {
    type Error = X509Error;

    /// Reads an address literal as an IP address and anything else as a
    /// DNS name, as a TLS client's connect string is read.
    fn try_from(name: &'a str) -> Result<Self, X509Error> {
        // The address as pki-types read it: parsing it again with
        // `core::net` would put a second address parser (1.5 KB) in the
        // firmware.
        match pki::ServerName::try_from(name) {
            Ok(pki::ServerName::IpAddress(pki::IpAddr::V4(v4))) => Ok(ServerName::IpAddress(
                IpAddr::V4(Ipv4Addr::from(*v4.as_ref())),
            )),
            Ok(pki::ServerName::IpAddress(pki::IpAddr::V6(v6))) => Ok(ServerName::IpAddress(
                IpAddr::V6(Ipv6Addr::from(*v6.as_ref())),
            )),
            Ok(_) => Ok(ServerName::DnsName(name)),
            Err(_) => Err(X509Error::InvalidServerName),
        }
    }
}

impl<'a> ServerName<'a> {
    fn to_pki(self) -> Result<pki::ServerName<'a>, X509Error> {
        Ok(match self {
            ServerName::DnsName(name) => pki::ServerName::DnsName(
                pki::DnsName::try_from(name).map_err(|_| X509Error::InvalidServerName)?,
            ),
            ServerName::IpAddress(IpAddr::V4(v4)) => {
                pki::ServerName::IpAddress(pki::IpAddr::V4(pki::Ipv4Addr::from(v4.octets())))
            }
            ServerName::IpAddress(IpAddr::V6(v6)) => {
                pki::ServerName::IpAddress(pki::IpAddr::V6(pki::Ipv6Addr::from(v6.segments())))
            }
        })
    }
}

/// A trust anchor (RFC 5280 section 6.1.1 (d)) read from a root
/// certificate's DER, borrowing from it: no copy, no allocator.
///
/// The certificate is trusted as given; its signature, validity and
/// extensions other than nameConstraints are not checked. Version 1 roots
/// are accepted.
pub fn trust_anchor_from_der(der: &[u8]) -> Result<TrustAnchor<'_>, X509Error> {
    // webpki ties the anchor's lifetime to the `&CertificateDer` it reads,
    // which here is a local; its fields are sub-slices of `der`, so they are
    // re-borrowed from `der` itself to outlive this call.
    let certificate = CertificateDer::from_slice(der);
    let anchor = webpki::anchor_from_trusted_cert(&certificate)?;
    let rebase = |field: &[u8]| reborrow(der, field).map(Der::from_slice);
    Ok(TrustAnchor {
        subject: rebase(anchor.subject.as_ref()).ok_or(X509Error::BadEncoding)?,
        subject_public_key_info: rebase(anchor.subject_public_key_info.as_ref())
            .ok_or(X509Error::BadEncoding)?,
        name_constraints: match &anchor.name_constraints {
            Some(nc) => Some(rebase(nc.as_ref()).ok_or(X509Error::BadEncoding)?),
            None => None,
        },
    })
}

/// `part`, which lies inside `whole` but carries a shorter borrow, as a
/// slice of `whole`. `None` if it does not lie inside.
fn reborrow<'a>(whole: &'a [u8], part: &[u8]) -> Option<&'a [u8]> {
    let start = part.as_ptr().addr().checked_sub(whole.as_ptr().addr())?;
    let found = whole.get(start..start.checked_add(part.len())?)?;
    (found.as_ptr() == part.as_ptr()).then_some(found)
}

/// Validates a TLS server's certificate chain: a path from `end_entity_der`
/// through some of `intermediates_der` (in any order, extras ignored) to one
/// of `trust_anchors`, valid at `now_unix_secs`, every certificate's
/// basicConstraints, pathLenConstraint and keyUsage fit for its place,
/// extendedKeyUsage allowing serverAuth, and a subjectAltName matching
/// `server_name`. Every signature is checked by `verifier`.
///
/// This is the certificate half of a TLS client's server authentication;
/// the handshake signature is [`verify_end_entity_signature`].
pub fn verify_server_chain<V: SignatureVerifier + Sync + ?Sized>(
    end_entity_der: &[u8],
    intermediates_der: &[&[u8]],
    trust_anchors: &[TrustAnchor<'_>],
    server_name: ServerName<'_>,
    now_unix_secs: u64,
    verifier: &V,
) -> Result<(), X509Error> {
    let server_name = server_name.to_pki()?;
    let certificate = CertificateDer::from_slice(end_entity_der);
    let end_entity = EndEntityCert::try_from(&certificate)?;
    verify_path(
        &end_entity,
        intermediates_der,
        trust_anchors,
        now_unix_secs,
        Purpose::server_auth(),
        verifier,
    )?;
    end_entity.verify_is_valid_for_subject_name(&server_name)?;
    Ok(())
}

/// Validates a TLS client's (a device's) certificate chain as
/// [`verify_server_chain`] does, with extendedKeyUsage allowing clientAuth
/// and no name to match: the subject names the device.
pub fn verify_client_chain<V: SignatureVerifier + Sync + ?Sized>(
    end_entity_der: &[u8],
    intermediates_der: &[&[u8]],
    trust_anchors: &[TrustAnchor<'_>],
    now_unix_secs: u64,
    verifier: &V,
) -> Result<(), X509Error> {
    let certificate = CertificateDer::from_slice(end_entity_der);
    let end_entity = EndEntityCert::try_from(&certificate)?;
    verify_path(
        &end_entity,
        intermediates_der,
        trust_anchors,
        now_unix_secs,
        Purpose::client_auth(),
        verifier,
    )
}

/// Verifies a signature made with the end-entity certificate's key (a TLS
/// CertificateVerify or ServerKeyExchange), checking that the key's type
/// fits `scheme` before `verifier` checks the signature.
pub fn verify_end_entity_signature<V: SignatureVerifier + Sync + ?Sized>(
    end_entity_der: &[u8],
    scheme: SignatureScheme,
    message: &[u8],
    signature: &[u8],
    verifier: &V,
) -> Result<(), X509Error> {
    let spec = algorithms::for_scheme(scheme).ok_or(X509Error::UnsupportedSignatureAlgorithm)?;
    let certificate = CertificateDer::from_slice(end_entity_der);
    let end_entity = EndEntityCert::try_from(&certificate)?;
    end_entity.verify_signature(&Algorithm::new(spec, verifier), message, signature)?;
    Ok(())
}

fn verify_path<V: SignatureVerifier + Sync + ?Sized>(
    end_entity: &EndEntityCert<'_>,
    intermediates_der: &[&[u8]],
    trust_anchors: &[TrustAnchor<'_>],
    now_unix_secs: u64,
    purpose: Purpose,
    verifier: &V,
) -> Result<(), X509Error> {
    if intermediates_der.len() > MAX_INTERMEDIATES {
        return Err(X509Error::PathTooLong);
    }
    let mut intermediates: [CertificateDer<'_>; MAX_INTERMEDIATES] =
        core::array::from_fn(|_| CertificateDer::from_slice(&[]));
    for (slot, der) in intermediates.iter_mut().zip(intermediates_der) {
        *slot = CertificateDer::from_slice(der);
    }
    let intermediates = &intermediates[..intermediates_der.len()];

    let adapters = algorithms::all(verifier);
    let algorithms: [&dyn SignatureVerificationAlgorithm; algorithms::COUNT] =
        core::array::from_fn(|i| &adapters[i] as &dyn SignatureVerificationAlgorithm);

    // webpki calls this on each path it has fully verified; a path refused
    // here lets it search on. Its error type has no keyUsage variant, so the
    // reason travels beside it and wins: it concerns a path that passed
    // every other check.
    let key_usage_rejection = Cell::new(None);
    let check_key_usage = |path: &VerifiedPath<'_>| {
        path_key_usage(path).map_err(|reason| {
            key_usage_rejection.set(Some(reason));
            webpki::Error::ExtensionValueInvalid
        })
    };

    let time = UnixTime::since_unix_epoch(Duration::from_secs(now_unix_secs));
    match end_entity.verify_for_usage(
        &algorithms,
        trust_anchors,
        intermediates,
        time,
        purpose,
        None,
        Some(&check_key_usage),
    ) {
        Ok(_) => Ok(()),
        Err(error) => Err(key_usage_rejection.take().unwrap_or(error.into())),
    }
}

/// The keyUsage rules webpki leaves out; see [`super::key_usage`].
fn path_key_usage(path: &VerifiedPath<'_>) -> Result<(), X509Error> {
    let allows = |der: CertificateDer<'_>, bit| match key_usage(der.as_ref()) {
        Ok(Some(usage)) => Ok(usage.allows(bit)),
        Ok(None) => Ok(true),
        Err(_) => Err(X509Error::BadEncoding),
    };
    if !allows(path.end_entity().der(), KeyUsageBit::DigitalSignature)? {
        return Err(X509Error::KeyUsageForbidsSigning);
    }
    for ca in path.intermediate_certificates() {
        if !allows(ca.der(), KeyUsageBit::KeyCertSign)? {
            return Err(X509Error::IssuerNotCertSigner);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_from_strings() {
        assert_eq!(
            ServerName::try_from("hub.azure-devices.test"),
            Ok(ServerName::DnsName("hub.azure-devices.test"))
        );
        assert_eq!(
            ServerName::try_from("127.0.0.1"),
            Ok(ServerName::IpAddress(IpAddr::from([127, 0, 0, 1])))
        );
        assert_eq!(
            ServerName::try_from("::1"),
            Ok(ServerName::IpAddress(IpAddr::from([
                0u16, 0, 0, 0, 0, 0, 0, 1
            ])))
        );
        assert_eq!(
            ServerName::try_from("2001:db8::8a2e:370:7334"),
            Ok(ServerName::IpAddress(IpAddr::from([
                0x2001u16, 0xdb8, 0, 0, 0, 0x8a2e, 0x370, 0x7334
            ])))
        );
        assert_eq!(
            ServerName::try_from("192.0.2.250"),
            Ok(ServerName::IpAddress(IpAddr::from([192, 0, 2, 250])))
        );
        assert_eq!(
            ServerName::try_from("bad name!"),
            Err(X509Error::InvalidServerName)
        );
        assert_eq!(ServerName::try_from(""), Err(X509Error::InvalidServerName));
        assert_eq!(
            ServerName::DnsName("under_score..dots").to_pki(),
            Err(X509Error::InvalidServerName)
        );
    }

    #[test]
    fn reborrow_finds_only_inner_slices() {
        let whole = [1u8, 2, 3, 4, 5];
        assert_eq!(reborrow(&whole, &whole[1..3]), Some(&whole[1..3]));
        assert_eq!(reborrow(&whole, &whole[5..]), Some(&whole[5..]));
        let other = [2u8, 3];
        assert_eq!(reborrow(&whole, &other), None);
        assert_eq!(reborrow(&whole[1..], &whole[..2]), None);
    }

    #[test]
    fn anchors_borrow_the_der() {
        let der: &[u8] = include_bytes!("../../../certs/test/root-ca.der");
        let anchor = trust_anchor_from_der(der).unwrap();
        let subject = anchor.subject.as_ref();
        assert!(reborrow(der, subject).is_some());
        assert!(anchor.name_constraints.is_none());
        assert_eq!(
            trust_anchor_from_der(&der[..100]),
            Err(X509Error::BadEncoding)
        );
        assert_eq!(trust_anchor_from_der(&[]), Err(X509Error::BadEncoding));
    }

    #[test]
    fn too_many_intermediates() {
        let leaf: &[u8] = include_bytes!("../../../certs/test/server-p256.der");
        let ca: &[u8] = include_bytes!("../../../certs/test/intermediate-ca.der");
        let anchors =
            [trust_anchor_from_der(include_bytes!("../../../certs/test/root-ca.der")).unwrap()];
        let verifier = Refuse;
        let nine = [ca; MAX_INTERMEDIATES + 1];
        assert_eq!(
            verify_client_chain(leaf, &nine, &anchors, 0, &verifier),
            Err(X509Error::PathTooLong)
        );
    }

    #[test]
    fn malformed_end_entity() {
        let anchors: [TrustAnchor<'_>; 0] = [];
        assert_eq!(
            verify_server_chain(
                b"\x30\x03\x02\x01\x01",
                &[],
                &anchors,
                ServerName::DnsName("localhost"),
                0,
                &Refuse
            ),
            Err(X509Error::BadEncoding)
        );
    }

    /// A verifier that accepts nothing.
    struct Refuse;

    impl SignatureVerifier for Refuse {
        fn verify(
            &self,
            _: SignatureScheme,
            _: &[u8],
            _: &[u8],
            _: &[u8],
        ) -> Result<(), crate::CryptoError> {
            Err(crate::CryptoError::Unsupported)
        }
    }
}
