//! Path validation against the certificates in `certs/` (made by openssl,
//! see certs/regenerate.sh), with a test-only signature verifier on RustCrypto
//! (p256, p384, and the allocating `rsa` crate, which the library itself may
//! not use). The verifier records the schemes it is asked for, which proves
//! that webpki's signature checks reach the caller's verifier.

use std::sync::Mutex;

use duet_crypto::x509::{
    self, ServerName, TrustAnchor, X509Error, trust_anchor_from_der, verify_client_chain,
    verify_end_entity_signature, verify_server_chain,
};
use duet_crypto::{CryptoError, SignatureScheme, SignatureVerifier};

use ecdsa::signature::hazmat::PrehashVerifier;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::signature::Verifier as _;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// 2026-01-01T00:00:00Z: inside every good certificate's 2025–2045 window.
const NOW: u64 = 1_767_225_600;
/// 2025-01-01T00:00:00Z, the test PKI's notBefore.
const NOT_BEFORE: u64 = 1_735_689_600;
/// 2045-01-01T00:00:00Z, the test PKI's notAfter.
const NOT_AFTER: u64 = 2_366_841_600;
/// 2021-01-01T00:00:00Z, when bad-expired.der expired.
const EXPIRED_NOT_AFTER: u64 = 1_609_459_200;

macro_rules! cert {
    ($name:literal) => {
        include_bytes!(concat!("../../certs/test/", $name, ".der")).as_slice()
    };
}

const ROOT_CA: &[u8] = cert!("root-ca");
const ROOT_CA_P384: &[u8] = cert!("root-ca-p384");
const INTERMEDIATE_CA: &[u8] = cert!("intermediate-ca");
const INTERMEDIATE_CA_RSA: &[u8] = cert!("intermediate-ca-rsa");
const INTERMEDIATE_CA_P384: &[u8] = cert!("intermediate-ca-p384");
const SERVER_P256: &[u8] = cert!("server-p256");

/// Verifies with RustCrypto and remembers every scheme it was asked for.
#[derive(Default)]
struct TestVerifier {
    asked: Mutex<Vec<SignatureScheme>>,
}

impl TestVerifier {
    fn asked(&self) -> Vec<SignatureScheme> {
        self.asked.lock().unwrap().clone()
    }
}

fn ecdsa_p256(key: &[u8], prehash: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    let key =
        p256::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|_| CryptoError::InvalidKey)?;
    let sig = p256::ecdsa::Signature::from_der(sig).map_err(|_| CryptoError::InvalidSignature)?;
    key.verify_prehash(prehash, &sig)
        .map_err(|_| CryptoError::InvalidSignature)
}

fn ecdsa_p384(key: &[u8], prehash: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    let key =
        p384::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|_| CryptoError::InvalidKey)?;
    let sig = p384::ecdsa::Signature::from_der(sig).map_err(|_| CryptoError::InvalidSignature)?;
    key.verify_prehash(prehash, &sig)
        .map_err(|_| CryptoError::InvalidSignature)
}

fn rsa_key(der: &[u8]) -> Result<rsa::RsaPublicKey, CryptoError> {
    rsa::RsaPublicKey::from_pkcs1_der(der).map_err(|_| CryptoError::InvalidKey)
}

/// RSA PKCS#1 v1.5 and PSS verification with digest `$d` (PSS salt length =
/// digest length, the only one webpki matches).
macro_rules! rsa_verify {
    ($padding:ident, $d:ty, $key:expr, $msg:expr, $sig:expr) => {{
        let key = rsa::$padding::VerifyingKey::<$d>::new(rsa_key($key)?);
        let sig =
            rsa::$padding::Signature::try_from($sig).map_err(|_| CryptoError::InvalidSignature)?;
        key.verify($msg, &sig)
            .map_err(|_| CryptoError::InvalidSignature)
    }};
}

impl SignatureVerifier for TestVerifier {
    fn verify(
        &self,
        scheme: SignatureScheme,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        self.asked.lock().unwrap().push(scheme);
        use SignatureScheme::*;
        match scheme {
            EcdsaP256Sha256 => ecdsa_p256(public_key, &Sha256::digest(message), signature),
            EcdsaP256Sha384 => ecdsa_p256(public_key, &Sha384::digest(message), signature),
            EcdsaP384Sha256 => ecdsa_p384(public_key, &Sha256::digest(message), signature),
            EcdsaP384Sha384 => ecdsa_p384(public_key, &Sha384::digest(message), signature),
            RsaPkcs1Sha256 => rsa_verify!(pkcs1v15, Sha256, public_key, message, signature),
            RsaPkcs1Sha384 => rsa_verify!(pkcs1v15, Sha384, public_key, message, signature),
            RsaPkcs1Sha512 => rsa_verify!(pkcs1v15, Sha512, public_key, message, signature),
            RsaPssSha256 => rsa_verify!(pss, Sha256, public_key, message, signature),
            RsaPssSha384 => rsa_verify!(pss, Sha384, public_key, message, signature),
            _ => Err(CryptoError::Unsupported),
        }
    }
}

/// Every anchor a device could be configured with at once: both test roots
/// and both Azure roots.
fn all_anchors() -> Vec<TrustAnchor<'static>> {
    let mut anchors = x509::roots::azure_trust_anchors().unwrap().to_vec();
    anchors.push(trust_anchor_from_der(ROOT_CA_P384).unwrap());
    anchors.push(trust_anchor_from_der(ROOT_CA).unwrap());
    anchors
}

fn dns(name: &str) -> ServerName<'_> {
    ServerName::DnsName(name)
}

/// Validates `leaf` for `hub.azure-devices.test` at [`NOW`] and returns the
/// schemes the verifier was asked for, from the anchor's signature down to
/// the leaf's.
fn server(leaf: &[u8], intermediates: &[&[u8]]) -> Result<Vec<SignatureScheme>, X509Error> {
    let verifier = TestVerifier::default();
    verify_server_chain(
        leaf,
        intermediates,
        &all_anchors(),
        dns("hub.azure-devices.test"),
        NOW,
        &verifier,
    )?;
    Ok(verifier.asked())
}

// ---------------------------------------------------------------- good chains

#[test]
fn p256_chain_for_every_emulator_name() {
    let anchors = [trust_anchor_from_der(ROOT_CA).unwrap()];
    let names = [
        dns("localhost"),
        dns("hub.azure-devices.test"),
        dns("myhub.azure-devices.test"), // *.azure-devices.test
        dns("global.azure-devices-provisioning.test"),
        dns("broker.iot.test"),
        dns("HUB.Azure-Devices.TEST"), // DNS names compare case-insensitively
        ServerName::try_from("127.0.0.1").unwrap(),
    ];
    for name in names {
        let verifier = TestVerifier::default();
        assert_eq!(
            verify_server_chain(
                SERVER_P256,
                &[INTERMEDIATE_CA],
                &anchors,
                name,
                NOW,
                &verifier
            ),
            Ok(()),
            "{name:?}"
        );
        // Intermediate signed by the root, leaf by the intermediate (webpki
        // checks from the anchor down).
        assert_eq!(verifier.asked(), [SignatureScheme::EcdsaP256Sha256; 2]);
    }
}

#[test]
fn rsa_2048_chain() {
    assert_eq!(
        server(cert!("server-rsa2048"), &[INTERMEDIATE_CA_RSA]),
        Ok(vec![
            SignatureScheme::EcdsaP256Sha256,
            SignatureScheme::RsaPkcs1Sha256
        ])
    );
}

#[test]
fn rsa_pkcs1_sha384_and_sha512() {
    assert_eq!(
        server(cert!("server-rsa-sha384"), &[INTERMEDIATE_CA_RSA]).map(|a| a[1]),
        Ok(SignatureScheme::RsaPkcs1Sha384)
    );
    assert_eq!(
        server(cert!("server-rsa-sha512"), &[INTERMEDIATE_CA_RSA]).map(|a| a[1]),
        Ok(SignatureScheme::RsaPkcs1Sha512)
    );
}

#[test]
fn rsa_pss_chains() {
    assert_eq!(
        server(cert!("server-rsa-pss"), &[INTERMEDIATE_CA_RSA]).map(|a| a[1]),
        Ok(SignatureScheme::RsaPssSha256)
    );
    assert_eq!(
        server(cert!("server-rsa-pss-sha384"), &[INTERMEDIATE_CA_RSA]).map(|a| a[1]),
        Ok(SignatureScheme::RsaPssSha384)
    );
}

#[test]
fn p384_chain() {
    assert_eq!(
        server(cert!("server-p384"), &[INTERMEDIATE_CA_P384]),
        Ok(vec![SignatureScheme::EcdsaP384Sha384; 2])
    );
}

#[test]
fn intermediates_in_any_order_with_extras() {
    let pool = [INTERMEDIATE_CA_P384, INTERMEDIATE_CA_RSA, INTERMEDIATE_CA];
    assert!(server(SERVER_P256, &pool).is_ok());
    assert!(server(cert!("server-rsa2048"), &pool).is_ok());
    assert!(server(cert!("server-p384"), &pool).is_ok());
}

#[test]
fn each_anchor_alone_accepts_only_its_own_chains() {
    let p256_only = [trust_anchor_from_der(ROOT_CA).unwrap()];
    let p384_only = [trust_anchor_from_der(ROOT_CA_P384).unwrap()];
    let azure_only = x509::roots::azure_trust_anchors().unwrap();
    let verifier = TestVerifier::default();
    let check = |leaf, intermediate, anchors: &[TrustAnchor<'_>]| {
        verify_server_chain(
            leaf,
            &[intermediate],
            anchors,
            dns("localhost"),
            NOW,
            &verifier,
        )
    };
    assert_eq!(check(SERVER_P256, INTERMEDIATE_CA, &p256_only), Ok(()));
    assert_eq!(
        check(SERVER_P256, INTERMEDIATE_CA, &p384_only),
        Err(X509Error::UnknownIssuer)
    );
    assert_eq!(
        check(SERVER_P256, INTERMEDIATE_CA, &azure_only),
        Err(X509Error::UnknownIssuer)
    );
    assert_eq!(
        check(cert!("server-p384"), INTERMEDIATE_CA_P384, &p256_only),
        Err(X509Error::UnknownIssuer)
    );
    assert_eq!(
        check(cert!("server-p384"), INTERMEDIATE_CA_P384, &p384_only),
        Ok(())
    );
}

#[test]
fn device_client_certificates() {
    let anchors = [trust_anchor_from_der(ROOT_CA).unwrap()];
    let verifier = TestVerifier::default();
    for device in [cert!("device-01"), cert!("device-02")] {
        assert_eq!(
            verify_client_chain(device, &[INTERMEDIATE_CA], &anchors, NOW, &verifier),
            Ok(())
        );
    }
    // A server certificate (serverAuth only) cannot authenticate a client.
    assert_eq!(
        verify_client_chain(SERVER_P256, &[INTERMEDIATE_CA], &anchors, NOW, &verifier),
        Err(X509Error::RequiredEkuNotFound)
    );
}

// ---------------------------------------------------------------- the clock

#[test]
fn validity_against_the_given_clock() {
    let anchors = [trust_anchor_from_der(ROOT_CA).unwrap()];
    let verifier = TestVerifier::default();
    let at = |now| {
        verify_server_chain(
            SERVER_P256,
            &[INTERMEDIATE_CA],
            &anchors,
            dns("localhost"),
            now,
            &verifier,
        )
    };
    assert_eq!(
        at(NOT_BEFORE - 1),
        Err(X509Error::NotValidYet {
            now: NOT_BEFORE - 1,
            not_before: NOT_BEFORE
        })
    );
    assert_eq!(at(NOT_BEFORE), Ok(()));
    assert_eq!(at(NOT_AFTER), Ok(()));
    assert_eq!(
        at(NOT_AFTER + 1),
        Err(X509Error::Expired {
            now: NOT_AFTER + 1,
            not_after: NOT_AFTER
        })
    );
    // A device whose clock was never set (1970) does not accept anything.
    assert!(matches!(at(0), Err(X509Error::NotValidYet { now: 0, .. })));
}

// ---------------------------------------------------------------- bad certificates

#[test]
fn expired() {
    assert_eq!(
        server(cert!("bad-expired"), &[INTERMEDIATE_CA]),
        Err(X509Error::Expired {
            now: NOW,
            not_after: EXPIRED_NOT_AFTER
        })
    );
}

#[test]
fn wrong_name_with_matching_cn_is_rejected() {
    // CN = hub.azure-devices.test, SAN = wrong.example.test.
    assert_eq!(
        server(cert!("bad-wrong-name"), &[INTERMEDIATE_CA]),
        Err(X509Error::NotValidForName)
    );
}

#[test]
fn cn_only_certificate_is_rejected() {
    // CN = hub.azure-devices.test and no subjectAltName: no CN fallback.
    assert_eq!(
        server(cert!("bad-cn-only"), &[INTERMEDIATE_CA]),
        Err(X509Error::NotValidForName)
    );
}

#[test]
fn names_the_good_certificate_does_not_carry() {
    let anchors = all_anchors();
    let verifier = TestVerifier::default();
    for name in [
        dns("azure-devices.test"),     // the wildcard needs a label
        dns("a.b.azure-devices.test"), // ... exactly one
        dns("hub.azure-devices.example"),
        dns("127.0.0.1.example"),
        ServerName::try_from("127.0.0.2").unwrap(),
        ServerName::try_from("::1").unwrap(),
    ] {
        assert_eq!(
            verify_server_chain(
                SERVER_P256,
                &[INTERMEDIATE_CA],
                &anchors,
                name,
                NOW,
                &verifier
            ),
            Err(X509Error::NotValidForName),
            "{name:?}"
        );
    }
    assert_eq!(
        verify_server_chain(
            SERVER_P256,
            &[INTERMEDIATE_CA],
            &anchors,
            dns("not a name"),
            NOW,
            &verifier
        ),
        Err(X509Error::InvalidServerName)
    );
}

#[test]
fn signed_by_a_non_ca_leaf() {
    assert_eq!(
        server(cert!("bad-signed-by-leaf"), &[SERVER_P256, INTERMEDIATE_CA]),
        Err(X509Error::EndEntityUsedAsCa)
    );
}

#[test]
fn client_only_eku_used_as_server() {
    assert_eq!(
        server(cert!("bad-wrong-eku"), &[INTERMEDIATE_CA]),
        Err(X509Error::RequiredEkuNotFound)
    );
    // A device certificate presented by a server, likewise.
    let verifier = TestVerifier::default();
    assert_eq!(
        verify_server_chain(
            cert!("device-01"),
            &[INTERMEDIATE_CA],
            &all_anchors(),
            dns("device-01"),
            NOW,
            &verifier
        ),
        Err(X509Error::RequiredEkuNotFound)
    );
}

#[test]
fn path_length_constraint() {
    // intermediate-ca has pathlen 0; sub-intermediate-ca sits below it.
    assert_eq!(
        server(
            cert!("bad-path-too-long"),
            &[cert!("sub-intermediate-ca"), INTERMEDIATE_CA]
        ),
        Err(X509Error::PathLenConstraintViolated)
    );
}

#[test]
fn issuer_without_key_cert_sign() {
    assert_eq!(
        server(
            cert!("bad-issuer-no-cert-sign"),
            &[cert!("intermediate-ca-no-cert-sign")]
        ),
        Err(X509Error::IssuerNotCertSigner)
    );
}

#[test]
fn leaf_without_digital_signature() {
    assert_eq!(
        server(cert!("bad-no-digital-signature"), &[INTERMEDIATE_CA]),
        Err(X509Error::KeyUsageForbidsSigning)
    );
}

#[test]
fn ca_presented_as_end_entity() {
    assert_eq!(
        server(INTERMEDIATE_CA, &[]),
        Err(X509Error::CaUsedAsEndEntity)
    );
}

#[test]
fn missing_intermediate() {
    assert_eq!(server(SERVER_P256, &[]), Err(X509Error::UnknownIssuer));
}

#[test]
fn tampered_signature() {
    // The last octet of the DER is the last octet of the ECDSA `s` value.
    let mut tampered = SERVER_P256.to_vec();
    *tampered.last_mut().unwrap() ^= 0x01;
    assert_eq!(
        server(&tampered, &[INTERMEDIATE_CA]),
        Err(X509Error::BadSignature)
    );
    // An RSA signature likewise.
    let mut tampered = cert!("server-rsa2048").to_vec();
    *tampered.last_mut().unwrap() ^= 0x01;
    assert_eq!(
        server(&tampered, &[INTERMEDIATE_CA_RSA]),
        Err(X509Error::BadSignature)
    );
}

#[test]
fn a_verifier_that_cannot_verify_rejects_the_chain() {
    struct Unsupported;
    impl SignatureVerifier for Unsupported {
        fn verify(
            &self,
            _: SignatureScheme,
            _: &[u8],
            _: &[u8],
            _: &[u8],
        ) -> Result<(), CryptoError> {
            Err(CryptoError::Unsupported)
        }
    }
    // Through `&dyn`, as a board that picks its provider at run time would.
    let verifier: &(dyn SignatureVerifier + Sync) = &Unsupported;
    assert_eq!(
        verify_server_chain(
            SERVER_P256,
            &[INTERMEDIATE_CA],
            &all_anchors(),
            dns("localhost"),
            NOW,
            verifier
        ),
        Err(X509Error::BadSignature)
    );
}

#[test]
fn truncated_certificates_are_errors() {
    for len in [0, 1, 10, SERVER_P256.len() / 2, SERVER_P256.len() - 1] {
        assert_eq!(
            server(&SERVER_P256[..len], &[INTERMEDIATE_CA]),
            Err(X509Error::BadEncoding),
            "{len}"
        );
    }
    // A malformed intermediate is skipped, leaving no path.
    assert_eq!(
        server(SERVER_P256, &[&INTERMEDIATE_CA[..50]]),
        Err(X509Error::BadEncoding)
    );
}

// ---------------------------------------------------------------- end-entity signatures

/// (tbsCertificate DER, signature value) of a certificate (RFC 5280 section 4.1).
fn tbs_and_signature(cert: &[u8]) -> (&[u8], &[u8]) {
    fn header(input: &[u8]) -> (usize, usize) {
        match input[1] {
            n if n < 0x80 => (2, n as usize),
            0x81 => (3, input[2] as usize),
            0x82 => (4, (input[2] as usize) << 8 | input[3] as usize),
            _ => panic!("unexpected length"),
        }
    }
    let (h, _) = header(cert);
    let body = &cert[h..];
    let (th, tl) = header(body);
    let tbs = &body[..th + tl];
    let rest = &body[th + tl..];
    let (ah, al) = header(rest);
    let bit_string = &rest[ah + al..];
    let (bh, bl) = header(bit_string);
    // Skip the unused-bits octet.
    (tbs, &bit_string[bh + 1..bh + bl])
}

#[test]
fn end_entity_signatures() {
    let verifier = TestVerifier::default();
    // The intermediate's key signed the server certificate: treat that as a
    // handshake signature made with the intermediate as end entity.
    let (tbs, sig) = tbs_and_signature(SERVER_P256);
    assert_eq!(
        verify_end_entity_signature(
            INTERMEDIATE_CA,
            SignatureScheme::EcdsaP256Sha256,
            tbs,
            sig,
            &verifier
        ),
        Ok(())
    );
    assert_eq!(
        verify_end_entity_signature(
            INTERMEDIATE_CA,
            SignatureScheme::EcdsaP256Sha256,
            b"other",
            sig,
            &verifier
        ),
        Err(X509Error::BadSignature)
    );
    // An RSA scheme does not fit an EC key: refused before any verification.
    let asked_before = verifier.asked().len();
    assert_eq!(
        verify_end_entity_signature(
            INTERMEDIATE_CA,
            SignatureScheme::RsaPssSha256,
            tbs,
            sig,
            &verifier
        ),
        Err(X509Error::UnsupportedSignatureAlgorithm)
    );
    assert_eq!(verifier.asked().len(), asked_before);

    let (tbs, sig) = tbs_and_signature(cert!("server-rsa-pss"));
    assert_eq!(
        verify_end_entity_signature(
            INTERMEDIATE_CA_RSA,
            SignatureScheme::RsaPssSha256,
            tbs,
            sig,
            &verifier
        ),
        Ok(())
    );
    let (tbs, sig) = tbs_and_signature(cert!("server-p384"));
    assert_eq!(
        verify_end_entity_signature(
            INTERMEDIATE_CA_P384,
            SignatureScheme::EcdsaP384Sha384,
            tbs,
            sig,
            &verifier
        ),
        Ok(())
    );
}

// ---------------------------------------------------------------- anchors

#[test]
fn azure_roots_parse_as_anchors() {
    for der in x509::roots::AZURE {
        assert!(trust_anchor_from_der(der).is_ok());
    }
    // The PEM beside each DER holds the same certificate.
    let pem = include_str!("../../certs/roots/DigiCert_Global_Root_G2.pem");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(x509::roots::azure_trust_anchors().unwrap().len(), 2);
}

// ------------------------------------------- with the crate's own verifier

/// The chains validate through the software provider itself (no allocator:
/// RSA on fixed-size integers), as a firmware validates them.
#[test]
fn every_good_chain_validates_with_the_soft_provider() {
    let soft = duet_crypto::soft::Soft::<1>::new();
    let chains: [(&[u8], &[&[u8]]); 5] = [
        (SERVER_P256, &[INTERMEDIATE_CA]),
        (cert!("server-rsa2048"), &[INTERMEDIATE_CA_RSA]),
        (cert!("server-rsa-sha384"), &[INTERMEDIATE_CA_RSA]),
        (cert!("server-rsa-pss"), &[INTERMEDIATE_CA_RSA]),
        (cert!("server-p384"), &[INTERMEDIATE_CA_P384]),
    ];
    for (leaf, intermediates) in chains {
        verify_server_chain(
            leaf,
            intermediates,
            &all_anchors(),
            dns("hub.azure-devices.test"),
            NOW,
            &soft,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let tampered = {
        let mut der = SERVER_P256.to_vec();
        let last = der.len() - 1;
        der[last] ^= 1;
        der
    };
    assert!(
        verify_server_chain(
            &tampered,
            &[INTERMEDIATE_CA],
            &all_anchors(),
            dns("hub.azure-devices.test"),
            NOW,
            &soft
        )
        .is_err()
    );
}
