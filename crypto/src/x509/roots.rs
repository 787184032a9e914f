//! The root certificates Azure IoT Hub and DPS chain to, as shipped by
//! Debian's `ca-certificates` (Mozilla's store); `certs/regenerate.sh`
//! copies them. Only the ones a firmware image references end up in it.

use super::{TrustAnchor, X509Error, trust_anchor_from_der};

/// DigiCert Global Root G2 (RSA-2048, valid to 2038-01-15): Azure's root
/// since the 2023 migration from Baltimore CyberTrust Root.
pub const DIGICERT_GLOBAL_ROOT_G2: &[u8] =
    include_bytes!("../../../certs/roots/DigiCert_Global_Root_G2.der");

/// Microsoft RSA Root Certificate Authority 2017 (RSA-4096, valid to
/// 2042-07-18): the root Azure may move to.
pub const MICROSOFT_RSA_ROOT_CA_2017: &[u8] =
    include_bytes!("../../../certs/roots/Microsoft_RSA_Root_Certificate_Authority_2017.der");

/// Both Azure roots, as a device should trust them.
pub const AZURE: [&[u8]; 2] = [DIGICERT_GLOBAL_ROOT_G2, MICROSOFT_RSA_ROOT_CA_2017];

/// The Azure roots as trust anchors, borrowing the constants above.
pub fn azure_trust_anchors() -> Result<[TrustAnchor<'static>; 2], X509Error> {
    Ok([
        trust_anchor_from_der(DIGICERT_GLOBAL_ROOT_G2)?,
        trust_anchor_from_der(MICROSOFT_RSA_ROOT_CA_2017)?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_roots_parse_as_anchors() {
        let [digicert, microsoft] = azure_trust_anchors().unwrap();
        // The subjects name the CAs (DER PrintableString/UTF8String inside).
        let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
        assert!(contains(
            digicert.subject.as_ref(),
            b"DigiCert Global Root G2"
        ));
        assert!(contains(
            microsoft.subject.as_ref(),
            b"Microsoft RSA Root Certificate Authority 2017"
        ));
        assert!(digicert.name_constraints.is_none());
        assert_ne!(
            digicert.subject_public_key_info,
            microsoft.subject_public_key_info
        );
    }
}
