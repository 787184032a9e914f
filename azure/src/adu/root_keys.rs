//! The Device Update root keys: the trust anchors of update manifests. A
//! manifest's signing key (the `sjwk` of its JWS) must be signed by one of
//! them (see [`super::jws`]).
//!
//! Copied from the project's JSON Web Key Set
//! `/work/shared/azure/adu-root-keys.jwks.json` (the ADU root keys as
//! Device Update publishes them). `n` and `e` are kept exactly as the JWKS
//! writes them (base64url), so the constants can be compared with the file
//! by eye, and the unit test below decodes them.
//!
//! ADU rotated to `ADU.200703.R` on 2025-08-26; manifests signed before
//! still chain to `ADU.200702.R`, so both ship.

/// One RSA root key, as a JWK: its key id and its public numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootKey<'k> {
    /// The key id, which a signing key's JWS header names (`kid`).
    pub kid: &'k str,
    /// The modulus, big-endian, base64url.
    pub n: &'k str,
    /// The public exponent, big-endian, base64url.
    pub e: &'k str,
}

/// `ADU.200702.R`, a 3072-bit RSA key (RS256).
pub const ADU_200702_R: RootKey<'static> = RootKey {
    kid: "ADU.200702.R",
    n: concat!(
        "1UIurxFUo1Blh6JNW7oa-6ky3-mZXwVFyK-9NR2J6CcnWKOo7sXFHk_3kqYSBn09fbAH9ix_3m0q9bxJ",
        "vBXv8IHLP4hPJx2IcShgCLYZ0tI50AUfPHaGcbtZWLyxiHurVii_MXNEMhD9PdOWXP9OXLNr_4uEm4uA",
        "uEnQffrWQFh2TcByJ3XLmi-btJ8PJfEcxRsLWjB9L7jvpyZYU6_VHVUBUQ3pG6IPP9fpHSBBpuYUCq7-",
        "8hwq1uQEe_YUfuwPl4P6WPqBNiG5oyv62WELGpT3wb5_QBRKyfo1f-9mcACx_dvXYQ07WHRnlIl1dpZ8",
        "kYfSjhGX7nuHbJovRdhlP1JwmCrLyARj9clHz3D07WSndKUjj7bt9xzTsBxkVxJaqYGEH6DnUBmWtIKx",
        "rEjj4TKCy0AfrMRZvBA0UYL5KI2oHpv1eUV1styaEUMIvmHMmsTLdzb_g92ocU9Rjg57Tfp5mI2-_IJ-",
        "QEipEgGo2X7zpRvx-5B3PkCHGMmr2fd5",
    ),
    e: "AQAB",
};

/// `ADU.200703.R`, a 3072-bit RSA key (RS256).
pub const ADU_200703_R: RootKey<'static> = RootKey {
    kid: "ADU.200703.R",
    n: concat!(
        "sqOydBb6uyD5UnbmJz6AQcb-zzD5yJb1WQqqgedRg4rE9Rc6LyrmV9Rxzoo975pVdj6Z4sKuTO4tuHj1",
        "ok4o8pxOOWW87OQN5eM4qFmrCKQbtPSgUqM4s0YhE8w8aAbe_gCmkm7eTEcQ1hycJPXNcOH1anxoEx3h",
        "xfaoTyGfhnxExYqZHMXTBptacZ0JHMNkMWrFF5UdXSrxVcdm1Oj12albjKJsYmAFN9cysHPL90s2JyQh",
        "jDgKuBj-9RVgNYs17x4PiKYTjXt977PnsMmmHHB7zPIpi4f3vZ22iG-sc_9y8u9IJ5ZyhgaiXON9zrCe",
        "5cLZTsTzf3gHS2WIRQwR5ZZWNIgtFg5ZQtL32e0d7ck3d0R-44Q2n1gT72_kw0TUdwaKz1vIgByimGUL",
        "NdxzyGnQXuglQ5722KsFr1EpI1VAWBDquOLNXXnM7N-0W5jH-uPSbCbOLixW4M-N7v2TEi8ASY0cgjhW",
        "pl15REoa89wWELPBLScR_huYBeSjYDGZ",
    ),
    e: "AQAB",
};

/// Every root key Duet trusts for update manifests, newest last. A device
/// that learns of a newer root key package (`rootKeyPackageUrl`) passes its
/// own list to [`super::jws::verify_manifest`] instead.
pub const ADU_ROOT_KEYS: &[RootKey<'static>] = &[ADU_200702_R, ADU_200703_R];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base64;

    #[test]
    fn root_keys_are_3072_bit_with_exponent_65537() {
        for key in ADU_ROOT_KEYS {
            let mut n = [0u8; 512];
            let len = base64::decode_url(key.n, &mut n).unwrap();
            assert_eq!(len, 384, "{}", key.kid);
            assert!(n[0] & 0x80 != 0, "{}", key.kid);
            let mut e = [0u8; 4];
            let len = base64::decode_url(key.e, &mut e).unwrap();
            assert_eq!(&e[..len], &[1, 0, 1]);
        }
    }
}
