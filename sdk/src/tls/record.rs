//! The TLS 1.3 record layer (RFC 8446 section 5): record headers, limits,
//! and record protection with per-record nonces and content-type hiding.

use core::ops::Range;

use duet_crypto::{AeadAlgorithm, AeadKey};
use zeroize::Zeroize;

use super::TlsError;

/// `TLSPlaintext`/`TLSCiphertext` header: type, legacy_record_version,
/// length (section 5.1).
pub const HEADER_LEN: usize = 5;
/// Largest `TLSPlaintext.length` / `TLSInnerPlaintext` content: 2^14
/// (section 5.1).
pub const MAX_PLAINTEXT_LEN: usize = 1 << 14;
/// Largest `TLSCiphertext.length`: 2^14 + 256 (section 5.2).
pub const MAX_CIPHERTEXT_LEN: usize = MAX_PLAINTEXT_LEN + 256;
/// A whole record at its largest; a receive buffer this long holds any record.
pub const MAX_RECORD_LEN: usize = HEADER_LEN + MAX_CIPHERTEXT_LEN;
/// The `legacy_record_version` this client writes (section 5.1).
const LEGACY_RECORD_VERSION: [u8; 2] = [0x03, 0x03];
/// Per-record nonce length for the AEADs TLS 1.3 uses (section 5.3).
pub const IV_LEN: usize = 12;

/// `ContentType` (section 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    ChangeCipherSpec = 20,
    Alert = 21,
    Handshake = 22,
    ApplicationData = 23,
}

impl ContentType {
    fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            20 => ContentType::ChangeCipherSpec,
            21 => ContentType::Alert,
            22 => ContentType::Handshake,
            23 => ContentType::ApplicationData,
            _ => return None,
        })
    }
}

/// Reads a record header from the front of `bytes`: `Ok(None)` until all
/// five bytes are there, then the outer content type and the fragment
/// length. `legacy_record_version` is ignored, as section 5.1 says.
pub fn parse_header(bytes: &[u8]) -> Result<Option<(ContentType, usize)>, TlsError> {
    let Some(header) = bytes.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let content_type = ContentType::from_u8(header[0]).ok_or(TlsError::UnexpectedMessage)?;
    let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
    if length > MAX_CIPHERTEXT_LEN {
        return Err(TlsError::RecordOverflow);
    }
    Ok(Some((content_type, length)))
}

/// Writes a record header for `length` bytes of fragment.
pub fn write_header(out: &mut [u8], content_type: ContentType, length: usize) {
    out[0] = content_type as u8;
    out[1..3].copy_from_slice(&LEGACY_RECORD_VERSION);
    out[3..5].copy_from_slice(&(length as u16).to_be_bytes());
}

/// One direction's record protection: the traffic key, its
/// `write_iv` and the 64-bit record sequence number (section 5.3).
pub struct RecordProtection<K> {
    key: K,
    iv: [u8; IV_LEN],
    sequence: u64,
}

impl<K: AeadKey> RecordProtection<K> {
    pub fn new(key: K, iv: [u8; IV_LEN]) -> Self {
        RecordProtection {
            key,
            iv,
            sequence: 0,
        }
    }

    fn algorithm(&self) -> AeadAlgorithm {
        self.key.algorithm()
    }

    /// The per-record nonce: the sequence number, left-padded to the IV
    /// length, XORed with the static IV (section 5.3). The sequence number
    /// advances; a wrap is refused rather than reusing a nonce.
    fn next_nonce(&mut self) -> Result<[u8; IV_LEN], TlsError> {
        let mut nonce = self.iv;
        for (n, s) in nonce[IV_LEN - 8..]
            .iter_mut()
            .zip(self.sequence.to_be_bytes())
        {
            *n ^= s;
        }
        self.sequence = self
            .sequence
            .checked_add(1)
            .ok_or(TlsError::SequenceExhausted)?;
        Ok(nonce)
    }

    /// The bytes a record of `plaintext_len` content bytes takes on the
    /// wire: header, content, inner content type, tag.
    pub fn sealed_len(&self, plaintext_len: usize) -> usize {
        HEADER_LEN + plaintext_len + 1 + self.algorithm().tag_len()
    }

    /// Protects the `plaintext_len` content bytes at
    /// `record[HEADER_LEN..]` as one `TLSCiphertext` of true type
    /// `content_type`, hidden behind the outer type application_data
    /// (section 5.2; no padding). Returns the record's length.
    pub fn seal(
        &mut self,
        content_type: ContentType,
        record: &mut [u8],
        plaintext_len: usize,
    ) -> Result<usize, TlsError> {
        if plaintext_len > MAX_PLAINTEXT_LEN {
            return Err(TlsError::RecordOverflow);
        }
        let total = self.sealed_len(plaintext_len);
        if record.len() < total {
            return Err(TlsError::BufferTooSmall);
        }
        record[HEADER_LEN + plaintext_len] = content_type as u8;
        let (header, body) = record.split_at_mut(HEADER_LEN);
        write_header(header, ContentType::ApplicationData, total - HEADER_LEN);
        let nonce = self.next_nonce()?;
        self.key
            .seal_in_place(&nonce, header, body, plaintext_len + 1)?;
        Ok(total)
    }

    /// Removes protection from one whole record (header included) in
    /// place. Returns the true content type and where its content now sits
    /// in `record`. Padding zeros are stripped (section 5.4).
    pub fn open(&mut self, record: &mut [u8]) -> Result<(ContentType, Range<usize>), TlsError> {
        let (header, body) = record
            .split_at_mut_checked(HEADER_LEN)
            .ok_or(TlsError::Decode)?;
        if header[0] != ContentType::ApplicationData as u8 {
            return Err(TlsError::UnexpectedMessage);
        }
        if body.len() > MAX_CIPHERTEXT_LEN {
            return Err(TlsError::RecordOverflow);
        }
        if body.len() < self.algorithm().tag_len() + 1 {
            return Err(TlsError::Decode);
        }
        let nonce = self.next_nonce()?;
        let inner_len = self
            .key
            .open_in_place(&nonce, header, body)
            .map_err(|_| TlsError::BadRecordMac)?;
        if inner_len > MAX_PLAINTEXT_LEN + 1 {
            return Err(TlsError::RecordOverflow);
        }
        let inner = &body[..inner_len];
        let type_at = inner
            .iter()
            .rposition(|&b| b != 0)
            .ok_or(TlsError::UnexpectedMessage)?;
        let content_type =
            ContentType::from_u8(inner[type_at]).ok_or(TlsError::UnexpectedMessage)?;
        if content_type == ContentType::ChangeCipherSpec {
            return Err(TlsError::UnexpectedMessage);
        }
        Ok((content_type, HEADER_LEN..HEADER_LEN + type_at))
    }
}

impl<K> core::fmt::Debug for RecordProtection<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RecordProtection(sequence {})", self.sequence)
    }
}

impl<K> Drop for RecordProtection<K> {
    fn drop(&mut self) {
        self.iv.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_crypto::Aead;
    use duet_crypto::soft::Soft;

    fn pair() -> (
        RecordProtection<duet_crypto::soft::SoftAeadKey>,
        RecordProtection<duet_crypto::soft::SoftAeadKey>,
    ) {
        let soft: Soft = Soft::new();
        let key = || soft.aead_key(AeadAlgorithm::Aes128Gcm, &[7; 16]).unwrap();
        (
            RecordProtection::new(key(), [3; 12]),
            RecordProtection::new(key(), [3; 12]),
        )
    }

    #[test]
    fn headers_parse_and_enforce_the_length_limit() {
        assert_eq!(parse_header(&[22, 3, 3, 0]), Ok(None));
        assert_eq!(
            parse_header(&[22, 3, 1, 0, 5, 9]),
            Ok(Some((ContentType::Handshake, 5)))
        );
        assert_eq!(
            parse_header(&[23, 3, 3, 0x41, 0x00]),
            Ok(Some((ContentType::ApplicationData, MAX_CIPHERTEXT_LEN)))
        );
        assert_eq!(
            parse_header(&[23, 3, 3, 0x41, 0x01]),
            Err(TlsError::RecordOverflow)
        );
        assert_eq!(
            parse_header(&[24, 3, 3, 0, 1]),
            Err(TlsError::UnexpectedMessage)
        );
    }

    #[test]
    fn sealed_records_hide_their_type_and_open_in_order() {
        let (mut client, mut server) = pair();
        let mut record = [0u8; 64];
        record[HEADER_LEN..HEADER_LEN + 5].copy_from_slice(b"hello");
        let len = client.seal(ContentType::Handshake, &mut record, 5).unwrap();
        assert_eq!(len, HEADER_LEN + 5 + 1 + 16);
        assert_eq!(record[..5], [23, 3, 3, 0, 22]);
        assert_ne!(&record[HEADER_LEN..HEADER_LEN + 5], b"hello");
        let (content_type, range) = server.open(&mut record[..len]).unwrap();
        assert_eq!(content_type, ContentType::Handshake);
        assert_eq!(&record[range], b"hello");

        // The second record uses the next nonce: replaying the first fails.
        let mut again = [0u8; 64];
        again[HEADER_LEN] = b'x';
        let len = client
            .seal(ContentType::ApplicationData, &mut again, 1)
            .unwrap();
        let mut replay = again;
        assert_eq!(
            server.open(&mut again[..len]).unwrap().0,
            ContentType::ApplicationData
        );
        assert_eq!(server.open(&mut replay[..len]), Err(TlsError::BadRecordMac));
    }

    #[test]
    fn tampered_truncated_and_padded_records() {
        let (mut client, mut server) = pair();
        let mut record = [0u8; 64];
        let len = client.seal(ContentType::Alert, &mut record, 2).unwrap();
        let mut tampered = record;
        tampered[len - 1] ^= 1;
        assert_eq!(
            server.open(&mut tampered[..len]),
            Err(TlsError::BadRecordMac)
        );

        let (mut client, mut server) = pair();
        let len = client.seal(ContentType::Alert, &mut record, 2).unwrap();
        assert_eq!(
            server.open(&mut record[..HEADER_LEN + 3]),
            Err(TlsError::Decode)
        );
        assert_eq!(server.open(&mut record[..3]), Err(TlsError::Decode));
        let mut wrong_outer = record;
        wrong_outer[0] = 22;
        assert_eq!(
            server.open(&mut wrong_outer[..len]),
            Err(TlsError::UnexpectedMessage)
        );

        // Padding: content, true type, then zeros (section 5.4).
        let (mut client, mut server) = pair();
        let mut padded = [0u8; 64];
        padded[HEADER_LEN..HEADER_LEN + 3].copy_from_slice(&[b'o', b'k', 22]);
        let nonce = client.next_nonce().unwrap();
        write_header(&mut padded, ContentType::ApplicationData, 8 + 16);
        let (header, body) = padded.split_at_mut(HEADER_LEN);
        client.key.seal_in_place(&nonce, header, body, 8).unwrap();
        let (content_type, range) = server.open(&mut padded[..HEADER_LEN + 24]).unwrap();
        assert_eq!(content_type, ContentType::Handshake);
        assert_eq!(&padded[range], b"ok");

        // All-zero inner plaintext has no content type.
        let (mut client, mut server) = pair();
        let mut zeros = [0u8; 64];
        let nonce = client.next_nonce().unwrap();
        write_header(&mut zeros, ContentType::ApplicationData, 4 + 16);
        let (header, body) = zeros.split_at_mut(HEADER_LEN);
        client.key.seal_in_place(&nonce, header, body, 4).unwrap();
        assert_eq!(
            server.open(&mut zeros[..HEADER_LEN + 20]),
            Err(TlsError::UnexpectedMessage)
        );
    }

    #[test]
    fn oversized_plaintext_is_refused() {
        let (mut client, _) = pair();
        let mut record = [0u8; MAX_RECORD_LEN + 1];
        assert_eq!(
            client.seal(
                ContentType::ApplicationData,
                &mut record,
                MAX_PLAINTEXT_LEN + 1
            ),
            Err(TlsError::RecordOverflow)
        );
        assert_eq!(
            client.seal(ContentType::ApplicationData, &mut [0u8; 20], 4),
            Err(TlsError::BufferTooSmall)
        );
        let len = client
            .seal(ContentType::ApplicationData, &mut record, MAX_PLAINTEXT_LEN)
            .unwrap();
        assert_eq!(len, HEADER_LEN + MAX_PLAINTEXT_LEN + 17);
    }

    #[test]
    fn nonces_xor_the_sequence_into_the_iv() {
        let (mut client, _) = pair();
        assert_eq!(client.next_nonce().unwrap(), [3; 12]);
        let second = client.next_nonce().unwrap();
        assert_eq!(second[11], 3 ^ 1);
        client.sequence = u64::MAX;
        assert_eq!(client.next_nonce(), Err(TlsError::SequenceExhausted));
    }
}
