//! The TLS 1.3 key schedule (RFC 8446 section 7.1) and traffic keys
//! (section 7.3), on duet-crypto's HKDF.

use duet_crypto::hash::MAX_OUTPUT_LEN;
use duet_crypto::{CryptoError, Digest, HashAlgorithm, KeyDerivation};
use zeroize::Zeroize;

use super::record::IV_LEN;
use super::suite::CipherSuite;

/// `HKDF-Expand-Label(Secret, Label, Context, Length)` (section 7.1): HKDF-
/// Expand with the `HkdfLabel` structure as info, "tls13 " prefixed to the
/// label. The structure is passed in pieces, so nothing is assembled.
pub fn hkdf_expand_label<P: KeyDerivation + ?Sized>(
    provider: &P,
    algorithm: HashAlgorithm,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    let length = u16::try_from(out.len()).map_err(|_| CryptoError::BadInput)?;
    let label_len = u8::try_from(6 + label.len()).map_err(|_| CryptoError::BadInput)?;
    let context_len = u8::try_from(context.len()).map_err(|_| CryptoError::BadInput)?;
    provider.hkdf_expand(
        algorithm,
        secret,
        &[
            &length.to_be_bytes(),
            &[label_len],
            b"tls13 ",
            label,
            &[context_len],
            context,
        ],
        out,
    )
}

/// `Derive-Secret(Secret, Label, Messages)` (section 7.1), given the
/// transcript hash of `Messages`.
pub fn derive_secret<P: KeyDerivation + ?Sized>(
    provider: &P,
    algorithm: HashAlgorithm,
    secret: &[u8],
    label: &[u8],
    transcript_hash: &[u8],
) -> Result<Digest, CryptoError> {
    let mut out = [0u8; MAX_OUTPUT_LEN];
    let out = &mut out[..algorithm.output_len()];
    hkdf_expand_label(provider, algorithm, secret, label, transcript_hash, out)?;
    let secret = Digest::new(out);
    out.zeroize();
    secret
}

/// The chain Early Secret -> Handshake Secret -> Master Secret of section
/// 7.1, without PSKs. It holds one secret at a time: each stage replaces
/// the one before.
#[derive(Debug)]
pub struct KeySchedule {
    algorithm: HashAlgorithm,
    secret: Digest,
}

impl KeySchedule {
    /// Early Secret = HKDF-Extract(0, 0): no PSK, so the IKM is HashLen
    /// zeros and the salt is empty (section 7.1).
    pub fn new<P: KeyDerivation + ?Sized>(
        provider: &P,
        algorithm: HashAlgorithm,
    ) -> Result<Self, CryptoError> {
        let zeros = [0u8; MAX_OUTPUT_LEN];
        let secret = provider.hkdf_extract(algorithm, &[], &zeros[..algorithm.output_len()])?;
        Ok(KeySchedule { algorithm, secret })
    }

    /// Early Secret = HKDF-Extract(0, PSK): a resumed session's (section
    /// 7.1, with the PSK a NewSessionTicket gave).
    pub fn with_psk<P: KeyDerivation + ?Sized>(
        provider: &P,
        algorithm: HashAlgorithm,
        psk: &[u8],
    ) -> Result<Self, CryptoError> {
        let secret = provider.hkdf_extract(algorithm, &[], psk)?;
        Ok(KeySchedule { algorithm, secret })
    }

    /// `Derive-Secret(Early Secret, "res binder", "")` (section 7.1): the
    /// base key of a PSK binder (section 4.2.11.2).
    pub fn binder_key<P: KeyDerivation + ?Sized>(
        &self,
        provider: &P,
    ) -> Result<Digest, CryptoError> {
        let empty = provider.hash(self.algorithm, &[])?;
        self.derive(provider, b"res binder", empty.as_bytes())
    }

    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// The current stage's secret.
    pub fn secret(&self) -> &[u8] {
        self.secret.as_bytes()
    }

    /// `Derive-Secret(., "derived", "")`, the salt of the next stage.
    fn derived<P: KeyDerivation + ?Sized>(&self, provider: &P) -> Result<Digest, CryptoError> {
        let empty = provider.hash(self.algorithm, &[])?;
        derive_secret(
            provider,
            self.algorithm,
            self.secret(),
            b"derived",
            empty.as_bytes(),
        )
    }

    /// Handshake Secret = HKDF-Extract(Derive-Secret(Early, "derived", ""),
    /// (EC)DHE shared secret).
    pub fn enter_handshake<P: KeyDerivation + ?Sized>(
        &mut self,
        provider: &P,
        shared_secret: &[u8],
    ) -> Result<(), CryptoError> {
        let salt = self.derived(provider)?;
        self.secret = provider.hkdf_extract(self.algorithm, salt.as_bytes(), shared_secret)?;
        Ok(())
    }

    /// Master Secret = HKDF-Extract(Derive-Secret(Handshake, "derived", ""), 0).
    pub fn enter_master<P: KeyDerivation + ?Sized>(
        &mut self,
        provider: &P,
    ) -> Result<(), CryptoError> {
        let salt = self.derived(provider)?;
        let zeros = [0u8; MAX_OUTPUT_LEN];
        self.secret = provider.hkdf_extract(
            self.algorithm,
            salt.as_bytes(),
            &zeros[..self.algorithm.output_len()],
        )?;
        Ok(())
    }

    /// `Derive-Secret(current, label, Messages)`, e.g. "c hs traffic".
    pub fn derive<P: KeyDerivation + ?Sized>(
        &self,
        provider: &P,
        label: &[u8],
        transcript_hash: &[u8],
    ) -> Result<Digest, CryptoError> {
        derive_secret(
            provider,
            self.algorithm,
            self.secret(),
            label,
            transcript_hash,
        )
    }
}

/// A traffic key and IV (section 7.3), wiped on drop.
pub struct TrafficKeys {
    key: [u8; 32],
    key_len: usize,
    pub iv: [u8; IV_LEN],
}

impl TrafficKeys {
    /// `[sender]_write_key = HKDF-Expand-Label(Secret, "key", "", key_length)`,
    /// `[sender]_write_iv = HKDF-Expand-Label(Secret, "iv", "", iv_length)`.
    pub fn derive<P: KeyDerivation + ?Sized>(
        provider: &P,
        suite: CipherSuite,
        traffic_secret: &[u8],
    ) -> Result<Self, CryptoError> {
        let key_len = suite.aead().key_len();
        let mut keys = TrafficKeys {
            key: [0; 32],
            key_len,
            iv: [0; IV_LEN],
        };
        let hash = suite.hash();
        hkdf_expand_label(
            provider,
            hash,
            traffic_secret,
            b"key",
            &[],
            &mut keys.key[..key_len],
        )?;
        hkdf_expand_label(provider, hash, traffic_secret, b"iv", &[], &mut keys.iv)?;
        Ok(keys)
    }

    pub fn key(&self) -> &[u8] {
        &self.key[..self.key_len]
    }
}

impl core::fmt::Debug for TrafficKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "TrafficKeys({}-byte key)", self.key_len)
    }
}

impl Drop for TrafficKeys {
    fn drop(&mut self) {
        self.key.zeroize();
        self.iv.zeroize();
    }
}

/// `verify_data = HMAC(finished_key, Transcript-Hash(...))` with
/// `finished_key = HKDF-Expand-Label(BaseKey, "finished", "", Hash.length)`
/// (section 4.4.4).
pub fn finished_verify_data<P: KeyDerivation + ?Sized>(
    provider: &P,
    algorithm: HashAlgorithm,
    base_key: &[u8],
    transcript_hash: &[u8],
) -> Result<Digest, CryptoError> {
    let finished_key = derive_secret(provider, algorithm, base_key, b"finished", &[])?;
    provider.hmac(algorithm, finished_key.as_bytes(), &[transcript_hash])
}

/// `application_traffic_secret_N+1 = HKDF-Expand-Label(
/// application_traffic_secret_N, "traffic upd", "", Hash.length)`
/// (section 7.2).
pub fn next_traffic_secret<P: KeyDerivation + ?Sized>(
    provider: &P,
    algorithm: HashAlgorithm,
    secret: &[u8],
) -> Result<Digest, CryptoError> {
    derive_secret(provider, algorithm, secret, b"traffic upd", &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_crypto::soft::Soft;
    use duet_crypto::{HashContext, Hasher};
    use std::vec::Vec;

    extern crate std;

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(core::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    // RFC 8448 section 3, "Simple 1-RTT Handshake": the ClientHello and
    // ServerHello handshake messages, the x25519 shared secret, and the
    // secrets and keys the trace prints.
    const CLIENT_HELLO: &str = "
        01 00 00 c0 03 03 cb 34 ec b1 e7 81 63 ba 1c 38 c6 da cb 19 6a 6d ff a2 1a 8d 99 12 ec 18 a2 ef 62 83
        02 4d ec e7 00 00 06 13 01 13 03 13 02 01 00 00 91 00 00 00 0b 00 09 00 00 06 73 65 72 76 65 72 ff 01
        00 01 00 00 0a 00 14 00 12 00 1d 00 17 00 18 00 19 01 00 01 01 01 02 01 03 01 04 00 23 00 00 00 33 00
        26 00 24 00 1d 00 20 99 38 1d e5 60 e4 bd 43 d2 3d 8e 43 5a 7d ba fe b3 c0 6e 51 c1 3c ae 4d 54 13 69
        1e 52 9a af 2c 00 2b 00 03 02 03 04 00 0d 00 20 00 1e 04 03 05 03 06 03 02 03 08 04 08 05 08 06 04 01
        05 01 06 01 02 01 04 02 05 02 06 02 02 02 00 2d 00 02 01 01 00 1c 00 02 40 01";
    pub(crate) const SERVER_HELLO: &str = "
        02 00 00 56 03 03 a6 af 06 a4 12 18 60 dc 5e 6e 60 24 9c d3 4c 95 93 0c 8a c5 cb 14 34 da c1 55 77 2e
        d3 e2 69 28 00 13 01 00 00 2e 00 33 00 24 00 1d 00 20 c9 82 88 76 11 20 95 fe 66 76 2b db f7 c6 72 e1
        56 d6 cc 25 3b 83 3d f1 dd 69 b1 b0 4e 75 1f 0f 00 2b 00 02 03 04";
    const SHARED: &str = "8b d4 05 4f b5 5b 9d 63 fd fb ac f9 f0 4b 9f 0d 35 e6 d6 3f 53 75 63 ef d4 62 72 90 0f 89 49 2d";
    const EARLY: &str = "33 ad 0a 1c 60 7e c0 3b 09 e6 cd 98 93 68 0c e2 10 ad f3 00 aa 1f 26 60 e1 b2 2e 10 f1 70 f9 2a";
    const HANDSHAKE: &str = "1d c8 26 e9 36 06 aa 6f dc 0a ad c1 2f 74 1b 01 04 6a a6 b9 9f 69 1e d2 21 a9 f0 ca 04 3f be ac";
    const HELLO_HASH: &str = "86 0c 06 ed c0 78 58 ee 8e 78 f0 e7 42 8c 58 ed d6 b4 3f 2c a3 e6 e9 5f 02 ed 06 3c f0 e1 ca d8";
    const C_HS: &str = "b3 ed db 12 6e 06 7f 35 a7 80 b3 ab f4 5e 2d 8f 3b 1a 95 07 38 f5 2e 96 00 74 6a 0e 27 a5 5a 21";
    const S_HS: &str = "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38";
    const S_HS_KEY: &str = "3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc";
    const S_HS_IV: &str = "5d 31 3e b2 67 12 76 ee 13 00 0b 30";
    const C_HS_KEY: &str = "db fa a6 93 d1 76 2c 5b 66 6a f5 d9 50 25 8d 01";
    const C_HS_IV: &str = "5b d3 c7 1b 83 6e 0b 76 bb 73 26 5f";
    const SERVER_FINISHED_HASH: &str = "96 08 10 2a 0f 1c cc 6d b6 25 0b 7b 7e 41 7b 1a 00 0e aa da 3d aa e4 77 7a 76 86 c9 ff 83 df 13";
    const CLIENT_VERIFY_DATA: &str = "a8 ec 43 6d 67 76 34 ae 52 5a c1 fc eb e1 1a 03 9e c1 76 94 fa c6 e9 85 27 b6 42 f2 ed d5 ce 61";
    const MASTER: &str = "18 df 06 84 3d 13 a0 8b f2 a4 49 84 4c 5f 8a 47 80 01 bc 4d 4c 62 79 84 d5 a4 1d a8 d0 40 29 19";
    const C_AP: &str = "9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52 87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5";
    const S_AP: &str = "a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32 82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43";

    #[test]
    fn rfc_8448_simple_1_rtt_key_schedule() {
        let soft: Soft = Soft::new();
        let sha256 = HashAlgorithm::Sha256;
        let mut schedule = KeySchedule::new(&soft, sha256).unwrap();
        assert_eq!(schedule.secret(), hex(EARLY));

        let mut transcript = soft.hash_context(sha256).unwrap();
        transcript.update(&hex(CLIENT_HELLO));
        transcript.update(&hex(SERVER_HELLO));
        let hello_hash = transcript.current().unwrap();
        assert_eq!(hello_hash.as_bytes(), hex(HELLO_HASH));

        schedule.enter_handshake(&soft, &hex(SHARED)).unwrap();
        assert_eq!(schedule.secret(), hex(HANDSHAKE));
        let c_hs = schedule
            .derive(&soft, b"c hs traffic", hello_hash.as_bytes())
            .unwrap();
        let s_hs = schedule
            .derive(&soft, b"s hs traffic", hello_hash.as_bytes())
            .unwrap();
        assert_eq!(c_hs.as_bytes(), hex(C_HS));
        assert_eq!(s_hs.as_bytes(), hex(S_HS));

        let suite = CipherSuite::Aes128GcmSha256;
        let server = TrafficKeys::derive(&soft, suite, s_hs.as_bytes()).unwrap();
        assert_eq!(server.key(), hex(S_HS_KEY));
        assert_eq!(server.iv, hex(S_HS_IV)[..]);
        let client = TrafficKeys::derive(&soft, suite, c_hs.as_bytes()).unwrap();
        assert_eq!(client.key(), hex(C_HS_KEY));
        assert_eq!(client.iv, hex(C_HS_IV)[..]);

        let finished_hash = hex(SERVER_FINISHED_HASH);
        let verify_data = finished_verify_data(&soft, sha256, c_hs.as_bytes(), &finished_hash);
        assert_eq!(verify_data.unwrap().as_bytes(), hex(CLIENT_VERIFY_DATA));

        schedule.enter_master(&soft).unwrap();
        assert_eq!(schedule.secret(), hex(MASTER));
        let c_ap = schedule
            .derive(&soft, b"c ap traffic", &finished_hash)
            .unwrap();
        let s_ap = schedule
            .derive(&soft, b"s ap traffic", &finished_hash)
            .unwrap();
        assert_eq!(c_ap.as_bytes(), hex(C_AP));
        assert_eq!(s_ap.as_bytes(), hex(S_AP));
    }

    #[test]
    fn suites_map_to_their_hash_and_aead() {
        for suite in CipherSuite::ALL {
            assert_eq!(CipherSuite::from_u16(suite.to_u16()), Some(suite));
        }
        assert_eq!(CipherSuite::from_u16(0x1303), None);
        assert_eq!(CipherSuite::Aes256GcmSha384.hash(), HashAlgorithm::Sha384);
        assert_eq!(CipherSuite::Aes256GcmSha384.aead().key_len(), 32);
        let soft: Soft = Soft::new();
        let keys = TrafficKeys::derive(&soft, CipherSuite::Aes256GcmSha384, &[1; 48]).unwrap();
        assert_eq!(keys.key().len(), 32);
        let next = next_traffic_secret(&soft, HashAlgorithm::Sha384, &[1; 48]).unwrap();
        assert_eq!(next.len(), 48);
        assert_ne!(next.as_bytes(), [1; 48]);
    }

    #[test]
    fn labels_longer_than_the_structure_allows_are_refused() {
        let soft: Soft = Soft::new();
        let mut out = [0u8; 16];
        let label = [b'a'; 250];
        assert_eq!(
            hkdf_expand_label(
                &soft,
                HashAlgorithm::Sha256,
                &[0; 32],
                &label,
                &[],
                &mut out
            ),
            Err(CryptoError::BadInput)
        );
    }
}
