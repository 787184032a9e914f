//! TLS 1.2 secrets on the suite's PRF (RFC 5246 section 5): the extended
//! master secret (RFC 7627 section 4), the key block for AES-GCM (RFC 5246
//! section 6.3, RFC 5288 section 3) and Finished's verify_data (section
//! 7.4.9). Every secret is wiped on drop.

use duet_crypto::{CryptoError, HashAlgorithm, KeyDerivation};
use zeroize::Zeroize;

use super::record::TLS12_SALT_LEN;
use super::suite::CipherSuite;

/// `master_secret`: 48 bytes (RFC 5246 section 8.1).
pub struct MasterSecret([u8; 48]);

impl MasterSecret {
    /// A stored session's master secret (a TLS 1.2 session ticket's).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let mut secret = MasterSecret([0; 48]);
        secret
            .0
            .copy_from_slice(bytes.get(..48).filter(|_| bytes.len() == 48)?);
        Some(secret)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// `PRF(pre_master_secret, "extended master secret", session_hash)`
    /// (RFC 7627 section 4), `session_hash` being the transcript hash up to
    /// and including ClientKeyExchange. Binding the master secret to the
    /// whole handshake is what defeats the triple-handshake attack; this
    /// client does not derive the original RFC 5246 master secret at all.
    pub fn extended<P: KeyDerivation + ?Sized>(
        provider: &P,
        hash: HashAlgorithm,
        pre_master_secret: &[u8],
        session_hash: &[u8],
    ) -> Result<Self, CryptoError> {
        let mut secret = MasterSecret([0; 48]);
        provider.tls12_prf(
            hash,
            pre_master_secret,
            b"extended master secret",
            &[session_hash],
            &mut secret.0,
        )?;
        Ok(secret)
    }

    /// `verify_data = PRF(master_secret, finished_label,
    /// Hash(handshake_messages))[0..11]` (section 7.4.9), with the label
    /// "client finished" or "server finished".
    pub fn verify_data<P: KeyDerivation + ?Sized>(
        &self,
        provider: &P,
        hash: HashAlgorithm,
        label: &[u8],
        transcript_hash: &[u8],
    ) -> Result<[u8; 12], CryptoError> {
        let mut out = [0u8; 12];
        provider.tls12_prf(hash, &self.0, label, &[transcript_hash], &mut out)?;
        Ok(out)
    }
}

impl Drop for MasterSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// One direction's AES-GCM key and salt.
pub struct WriteKey {
    key: [u8; 32],
    key_len: usize,
    pub salt: [u8; TLS12_SALT_LEN],
}

impl WriteKey {
    pub fn key(&self) -> &[u8] {
        &self.key[..self.key_len]
    }
}

impl Drop for WriteKey {
    fn drop(&mut self) {
        self.key.zeroize();
        self.salt.zeroize();
    }
}

/// The key block of an AEAD suite: no MAC keys, then the client and server
/// write keys, then their implicit nonce parts (section 6.3).
pub struct KeyBlock {
    pub client: WriteKey,
    pub server: WriteKey,
}

impl KeyBlock {
    /// `PRF(master_secret, "key expansion", server_random + client_random)`.
    pub fn derive<P: KeyDerivation + ?Sized>(
        provider: &P,
        suite: CipherSuite,
        master: &MasterSecret,
        client_random: &[u8; 32],
        server_random: &[u8; 32],
    ) -> Result<Self, CryptoError> {
        let key_len = suite.aead().key_len();
        let mut block = [0u8; 2 * 32 + 2 * TLS12_SALT_LEN];
        let used = 2 * key_len + 2 * TLS12_SALT_LEN;
        provider.tls12_prf(
            suite.hash(),
            &master.0,
            b"key expansion",
            &[server_random, client_random],
            &mut block[..used],
        )?;
        let write_key = |key_at: usize, salt_at: usize| {
            let mut write = WriteKey {
                key: [0; 32],
                key_len,
                salt: [0; TLS12_SALT_LEN],
            };
            write.key[..key_len].copy_from_slice(&block[key_at..key_at + key_len]);
            write
                .salt
                .copy_from_slice(&block[salt_at..salt_at + TLS12_SALT_LEN]);
            write
        };
        let keys = KeyBlock {
            client: write_key(0, 2 * key_len),
            server: write_key(key_len, 2 * key_len + TLS12_SALT_LEN),
        };
        block.zeroize();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_crypto::soft::Soft;

    /// The key block is cut in RFC 5246 section 6.3's order: client key,
    /// server key, client IV, server IV (no MAC keys for AEAD suites), and
    /// its seed puts the server random first.
    #[test]
    fn key_block_layout_follows_section_6_3() {
        let soft: Soft = Soft::new();
        let master = MasterSecret([0x42; 48]);
        let (client_random, server_random) = ([1u8; 32], [2u8; 32]);
        for (suite, key_len) in [
            (CipherSuite::EcdheEcdsaAes128GcmSha256, 16),
            (CipherSuite::EcdheRsaAes256GcmSha384, 32),
        ] {
            let mut expected = [0u8; 72];
            let len = 2 * key_len + 8;
            soft.tls12_prf(
                suite.hash(),
                &[0x42; 48],
                b"key expansion",
                &[&server_random, &client_random],
                &mut expected[..len],
            )
            .unwrap();
            let block =
                KeyBlock::derive(&soft, suite, &master, &client_random, &server_random).unwrap();
            assert_eq!(block.client.key(), &expected[..key_len]);
            assert_eq!(block.server.key(), &expected[key_len..2 * key_len]);
            assert_eq!(block.client.salt, expected[2 * key_len..2 * key_len + 4]);
            assert_eq!(block.server.salt, expected[2 * key_len + 4..len]);
        }
    }

    #[test]
    fn extended_master_secret_and_verify_data_use_their_labels() {
        let soft: Soft = Soft::new();
        let master =
            MasterSecret::extended(&soft, HashAlgorithm::Sha256, &[9; 32], &[5; 32]).unwrap();
        let mut expected = [0u8; 48];
        soft.tls12_prf(
            HashAlgorithm::Sha256,
            &[9; 32],
            b"extended master secret",
            &[&[5; 32]],
            &mut expected,
        )
        .unwrap();
        assert_eq!(master.0, expected);
        let client = master
            .verify_data(&soft, HashAlgorithm::Sha256, b"client finished", &[7; 32])
            .unwrap();
        let server = master
            .verify_data(&soft, HashAlgorithm::Sha256, b"server finished", &[7; 32])
            .unwrap();
        assert_ne!(client, server);
    }
}
