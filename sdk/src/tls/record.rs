//! The record layer: record headers, limits, and record protection — TLS
//! 1.3's (RFC 8446 section 5: per-record nonces, content-type hiding) and
//! TLS 1.2's AES-GCM records (RFC 5246 section 6.2.3.3, RFC 5288 section 3:
//! an explicit 8-byte nonce in each record, the header in the AAD).

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
/// TLS 1.2 GCM: the implicit part of the nonce (`salt`, from the key
/// block) and the explicit part each record carries (RFC 5288 section 3).
pub const TLS12_SALT_LEN: usize = 4;
const TLS12_EXPLICIT_NONCE_LEN: usize = 8;

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
/// `write_iv` (TLS 1.2: the salt, then zeros) and the 64-bit record
/// sequence number (section 5.3).
pub struct RecordProtection<K> {
    key: K,
    iv: [u8; IV_LEN],
    sequence: u64,
    tls12: bool,
}

impl<K: AeadKey> RecordProtection<K> {
    /// TLS 1.3 protection.
    pub fn new(key: K, iv: [u8; IV_LEN]) -> Self {
        RecordProtection {
            key,
            iv,
            sequence: 0,
            tls12: false,
        }
    }

    /// TLS 1.2 AES-GCM protection with the key block's `salt`.
    pub fn tls12(key: K, salt: [u8; TLS12_SALT_LEN]) -> Self {
        let mut iv = [0u8; IV_LEN];
        iv[..TLS12_SALT_LEN].copy_from_slice(&salt);
        RecordProtection {
            key,
            iv,
            sequence: 0,
            tls12: true,
        }
    }

    fn algorithm(&self) -> AeadAlgorithm {
        self.key.algorithm()
    }

    /// Where a record's content goes, from the start of the record:
    /// behind the header, and in TLS 1.2 behind the explicit nonce too.
    pub fn content_offset(&self) -> usize {
        if self.tls12 {
            HEADER_LEN + TLS12_EXPLICIT_NONCE_LEN
        } else {
            HEADER_LEN
        }
    }

    /// This record's sequence number; the next record gets the one after.
    /// A wrap is refused rather than reusing a nonce.
    fn next_sequence(&mut self) -> Result<u64, TlsError> {
        let sequence = self.sequence;
        self.sequence = sequence.checked_add(1).ok_or(TlsError::SequenceExhausted)?;
        Ok(sequence)
    }

    /// TLS 1.2's nonce (salt, explicit part) and additional data
    /// (`seq_num + type + version + length`, RFC 5246 section 6.2.3.3).
    fn tls12_nonce_and_aad(
        &self,
        explicit: [u8; TLS12_EXPLICIT_NONCE_LEN],
        sequence: u64,
        content_type: u8,
        plaintext_len: usize,
    ) -> ([u8; IV_LEN], [u8; 13]) {
        let mut nonce = self.iv;
        nonce[TLS12_SALT_LEN..].copy_from_slice(&explicit);
        let mut aad = [0u8; 13];
        aad[..8].copy_from_slice(&sequence.to_be_bytes());
        aad[8] = content_type;
        aad[9..11].copy_from_slice(&LEGACY_RECORD_VERSION);
        aad[11..].copy_from_slice(&(plaintext_len as u16).to_be_bytes());
        (nonce, aad)
    }

    /// The per-record nonce: the sequence number, left-padded to the IV
    /// length, XORed with the static IV (section 5.3). The sequence number
    /// advances; a wrap is refused rather than reusing a nonce.
    fn next_nonce(&mut self) -> Result<[u8; IV_LEN], TlsError> {
        let mut nonce = self.iv;
        for (n, s) in nonce[IV_LEN - 8..]
            .iter_mut()
            .zip(self.next_sequence()?.to_be_bytes())
        {
            *n ^= s;
        }
        Ok(nonce)
    }

    /// The bytes a record of `plaintext_len` content bytes takes on the
    /// wire: header, content, inner content type (TLS 1.3) or explicit
    /// nonce (TLS 1.2), tag.
    pub fn sealed_len(&self, plaintext_len: usize) -> usize {
        let framing = if self.tls12 {
            TLS12_EXPLICIT_NONCE_LEN
        } else {
            1
        };
        HEADER_LEN + framing + plaintext_len + self.algorithm().tag_len()
    }

    /// Protects the `plaintext_len` content bytes at
    /// `record[self.content_offset()..]` as one record of type
    /// `content_type` — in TLS 1.3 hidden behind the outer type
    /// application_data (section 5.2; no padding). Returns the record's
    /// length.
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
        if self.tls12 {
            // The explicit nonce is the sequence number: unique per key,
            // as RFC 5288 section 3 requires, at no cost.
            let sequence = self.next_sequence()?;
            let explicit = sequence.to_be_bytes();
            let (nonce, aad) =
                self.tls12_nonce_and_aad(explicit, sequence, content_type as u8, plaintext_len);
            write_header(record, content_type, total - HEADER_LEN);
            let body = &mut record[HEADER_LEN..total];
            body[..TLS12_EXPLICIT_NONCE_LEN].copy_from_slice(&explicit);
            self.key.seal_in_place(
                &nonce,
                &aad,
                &mut body[TLS12_EXPLICIT_NONCE_LEN..],
                plaintext_len,
            )?;
            return Ok(total);
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
        if self.tls12 {
            return self.open_tls12(record);
        }
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

impl<K: AeadKey> RecordProtection<K> {
    /// TLS 1.2: the record keeps its content type in the clear; its body is
    /// the explicit nonce, the ciphertext and the tag.
    fn open_tls12(&mut self, record: &mut [u8]) -> Result<(ContentType, Range<usize>), TlsError> {
        let (header, body) = record
            .split_at_mut_checked(HEADER_LEN)
            .ok_or(TlsError::Decode)?;
        let content_type = ContentType::from_u8(header[0]).ok_or(TlsError::UnexpectedMessage)?;
        if content_type == ContentType::ChangeCipherSpec {
            return Err(TlsError::UnexpectedMessage);
        }
        if body.len() > MAX_CIPHERTEXT_LEN {
            return Err(TlsError::RecordOverflow);
        }
        let plaintext_len = body
            .len()
            .checked_sub(TLS12_EXPLICIT_NONCE_LEN + self.algorithm().tag_len())
            .ok_or(TlsError::Decode)?;
        if plaintext_len > MAX_PLAINTEXT_LEN {
            return Err(TlsError::RecordOverflow);
        }
        let (explicit, sealed) = body.split_at_mut(TLS12_EXPLICIT_NONCE_LEN);
        let mut explicit_nonce = [0u8; TLS12_EXPLICIT_NONCE_LEN];
        explicit_nonce.copy_from_slice(explicit);
        let sequence = self.next_sequence()?;
        let (nonce, aad) =
            self.tls12_nonce_and_aad(explicit_nonce, sequence, header[0], plaintext_len);
        self.key
            .open_in_place(&nonce, &aad, sealed)
            .map_err(|_| TlsError::BadRecordMac)?;
        let start = HEADER_LEN + TLS12_EXPLICIT_NONCE_LEN;
        Ok((content_type, start..start + plaintext_len))
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

    #[test]
    fn tls12_records_carry_the_explicit_nonce_and_authenticate_the_header() {
        let soft: Soft = Soft::new();
        let key = || soft.aead_key(AeadAlgorithm::Aes128Gcm, &[7; 16]).unwrap();
        let salt = [1, 2, 3, 4];
        let (mut writer, mut reader) = (
            RecordProtection::tls12(key(), salt),
            RecordProtection::tls12(key(), salt),
        );
        for sequence in 0..3u64 {
            let mut record = [0u8; 64];
            let at = writer.content_offset();
            assert_eq!(at, HEADER_LEN + 8);
            record[at..at + 5].copy_from_slice(b"hello");
            let len = writer.seal(ContentType::Handshake, &mut record, 5).unwrap();
            assert_eq!(len, HEADER_LEN + 8 + 5 + 16);
            assert_eq!(len, writer.sealed_len(5));
            // The type stays in the clear; the explicit nonce is the
            // sequence number.
            assert_eq!(record[..5], [22, 3, 3, 0, 29]);
            assert_eq!(record[5..13], sequence.to_be_bytes());
            let (content_type, range) = reader.open(&mut record[..len]).unwrap();
            assert_eq!(content_type, ContentType::Handshake);
            assert_eq!(&record[range], b"hello");
        }
        // The header is authenticated: the same record relabelled fails.
        let (mut writer, mut reader) = (
            RecordProtection::tls12(key(), salt),
            RecordProtection::tls12(key(), salt),
        );
        let mut record = [0u8; 64];
        let len = writer
            .seal(ContentType::ApplicationData, &mut record, 5)
            .unwrap();
        record[0] = ContentType::Alert as u8;
        assert_eq!(reader.open(&mut record[..len]), Err(TlsError::BadRecordMac));
        // So is the sequence number: a replayed record fails.
        let (mut writer, mut reader) = (
            RecordProtection::tls12(key(), salt),
            RecordProtection::tls12(key(), salt),
        );
        let len = writer
            .seal(ContentType::ApplicationData, &mut record, 5)
            .unwrap();
        let copy = record;
        assert!(reader.open(&mut record[..len]).is_ok());
        let mut replay = copy;
        assert_eq!(reader.open(&mut replay[..len]), Err(TlsError::BadRecordMac));
        // Too short for nonce and tag.
        let mut short = [23, 3, 3, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(reader.open(&mut short), Err(TlsError::Decode));
    }
}
