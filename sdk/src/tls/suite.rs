//! The cipher suites this client offers: TLS 1.3 (RFC 8446 appendix B.4)
//! and TLS 1.2 ECDHE with AES-GCM (RFC 5289), in the order the ClientHello
//! lists them. Nothing else is offered: no RSA key transport, no CBC, no
//! static DH (RFC 9325 section 4.2).

use duet_crypto::{AeadAlgorithm, HashAlgorithm};

/// A negotiated cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipherSuite {
    /// TLS_AES_128_GCM_SHA256, {0x13, 0x01} (TLS 1.3)
    Aes128GcmSha256,
    /// TLS_AES_256_GCM_SHA384, {0x13, 0x02} (TLS 1.3)
    Aes256GcmSha384,
    /// TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, {0xC0, 0x2B} (TLS 1.2)
    EcdheEcdsaAes128GcmSha256,
    /// TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, {0xC0, 0x2C} (TLS 1.2)
    EcdheEcdsaAes256GcmSha384,
    /// TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, {0xC0, 0x2F} (TLS 1.2)
    EcdheRsaAes128GcmSha256,
    /// TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, {0xC0, 0x30} (TLS 1.2)
    EcdheRsaAes256GcmSha384,
}

/// How a TLS 1.2 suite's server authenticates its ECDHE key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerAuthentication {
    Ecdsa,
    Rsa,
}

impl CipherSuite {
    /// In the order the ClientHello offers them: TLS 1.3 first, then the
    /// TLS 1.2 suites, ECDSA (the smaller handshake) before RSA.
    pub const ALL: [CipherSuite; 6] = [
        CipherSuite::Aes128GcmSha256,
        CipherSuite::Aes256GcmSha384,
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        CipherSuite::EcdheEcdsaAes256GcmSha384,
        CipherSuite::EcdheRsaAes128GcmSha256,
        CipherSuite::EcdheRsaAes256GcmSha384,
    ];

    pub fn from_u16(value: u16) -> Option<Self> {
        CipherSuite::ALL.into_iter().find(|s| s.to_u16() == value)
    }

    pub fn to_u16(self) -> u16 {
        match self {
            CipherSuite::Aes128GcmSha256 => 0x1301,
            CipherSuite::Aes256GcmSha384 => 0x1302,
            CipherSuite::EcdheEcdsaAes128GcmSha256 => 0xc02b,
            CipherSuite::EcdheEcdsaAes256GcmSha384 => 0xc02c,
            CipherSuite::EcdheRsaAes128GcmSha256 => 0xc02f,
            CipherSuite::EcdheRsaAes256GcmSha384 => 0xc030,
        }
    }

    /// Whether the suite belongs to TLS 1.2 (else TLS 1.3).
    pub fn is_tls12(self) -> bool {
        self.authentication().is_some()
    }

    /// The TLS 1.2 suite's server authentication; `None` for TLS 1.3
    /// suites, which leave it to the signature algorithms.
    pub fn authentication(self) -> Option<ServerAuthentication> {
        match self {
            CipherSuite::Aes128GcmSha256 | CipherSuite::Aes256GcmSha384 => None,
            CipherSuite::EcdheEcdsaAes128GcmSha256 | CipherSuite::EcdheEcdsaAes256GcmSha384 => {
                Some(ServerAuthentication::Ecdsa)
            }
            CipherSuite::EcdheRsaAes128GcmSha256 | CipherSuite::EcdheRsaAes256GcmSha384 => {
                Some(ServerAuthentication::Rsa)
            }
        }
    }

    /// The transcript hash: HKDF's hash in TLS 1.3, the PRF's in TLS 1.2.
    pub fn hash(self) -> HashAlgorithm {
        match self.aead() {
            AeadAlgorithm::Aes256Gcm => HashAlgorithm::Sha384,
            _ => HashAlgorithm::Sha256,
        }
    }

    /// The suite's record protection.
    pub fn aead(self) -> AeadAlgorithm {
        match self {
            CipherSuite::Aes128GcmSha256
            | CipherSuite::EcdheEcdsaAes128GcmSha256
            | CipherSuite::EcdheRsaAes128GcmSha256 => AeadAlgorithm::Aes128Gcm,
            CipherSuite::Aes256GcmSha384
            | CipherSuite::EcdheEcdsaAes256GcmSha384
            | CipherSuite::EcdheRsaAes256GcmSha384 => AeadAlgorithm::Aes256Gcm,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_versions_split() {
        for suite in CipherSuite::ALL {
            assert_eq!(CipherSuite::from_u16(suite.to_u16()), Some(suite));
        }
        assert_eq!(CipherSuite::from_u16(0x1303), None, "ChaCha20 not offered");
        assert_eq!(CipherSuite::from_u16(0x009c), None, "RSA key transport");
        let tls12 = CipherSuite::ALL.iter().filter(|s| s.is_tls12()).count();
        assert_eq!(tls12, 4);
        assert_eq!(
            CipherSuite::EcdheRsaAes256GcmSha384.hash(),
            HashAlgorithm::Sha384
        );
        assert_eq!(
            CipherSuite::EcdheEcdsaAes128GcmSha256.authentication(),
            Some(ServerAuthentication::Ecdsa)
        );
    }
}
