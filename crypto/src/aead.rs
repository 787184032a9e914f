//! Authenticated encryption as TLS and DTLS records use it: a key object
//! made once per traffic key (the AES key schedule and, for GCM, the GHASH
//! key are computed there), then records sealed and opened in place.

use crate::CryptoError;

/// The AEAD algorithms of the TLS 1.2/1.3 cipher suites Duet speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AeadAlgorithm {
    /// AES-128-GCM (NIST SP 800-38D; RFC 5116 AEAD_AES_128_GCM).
    Aes128Gcm,
    /// AES-256-GCM (RFC 5116 AEAD_AES_256_GCM).
    Aes256Gcm,
    /// AES-128-CCM with a 16-byte tag (RFC 5116 AEAD_AES_128_CCM; TLS
    /// RFC 6655, RFC 8446 TLS_AES_128_CCM_SHA256).
    Aes128Ccm,
    /// AES-128-CCM with an 8-byte tag (RFC 6655 CCM_8; TLS_AES_128_CCM_8_SHA256).
    Aes128Ccm8,
}

impl AeadAlgorithm {
    pub const fn key_len(self) -> usize {
        match self {
            AeadAlgorithm::Aes256Gcm => 32,
            AeadAlgorithm::Aes128Gcm | AeadAlgorithm::Aes128Ccm | AeadAlgorithm::Aes128Ccm8 => 16,
        }
    }

    pub const fn tag_len(self) -> usize {
        match self {
            AeadAlgorithm::Aes128Ccm8 => 8,
            _ => 16,
        }
    }

    /// The nonce length TLS uses (RFC 8446 section 5.3; RFC 5288 and
    /// RFC 6655 for TLS 1.2). CCM also accepts 13-byte nonces (RFC 3610),
    /// where a provider supports them.
    pub const fn nonce_len(self) -> usize {
        12
    }
}

/// The longest tag of any [`AeadAlgorithm`].
pub const MAX_TAG_LEN: usize = 16;

/// An authentication tag, held inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    bytes: [u8; MAX_TAG_LEN],
    len: u8,
}

impl Tag {
    /// Copies `bytes`; [`CryptoError::BadInput`] when longer than
    /// [`MAX_TAG_LEN`].
    pub fn new(bytes: &[u8]) -> Result<Self, CryptoError> {
        let mut tag = Tag {
            bytes: [0; MAX_TAG_LEN],
            len: 0,
        };
        tag.bytes
            .get_mut(..bytes.len())
            .ok_or(CryptoError::BadInput)?
            .copy_from_slice(bytes);
        tag.len = bytes.len() as u8;
        Ok(tag)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl AsRef<[u8]> for Tag {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// One traffic key, ready to seal and open records.
///
/// `open_*` never hands out unauthenticated plaintext: on
/// [`CryptoError::AuthenticationFailed`] the buffer holds no plaintext (the
/// `soft` provider zeroes it).
pub trait AeadKey {
    fn algorithm(&self) -> AeadAlgorithm;

    /// Encrypts `in_out` in place and returns the tag.
    fn seal_detached(
        &self,
        nonce: &[u8],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<Tag, CryptoError>;

    /// Checks `tag` and decrypts `in_out` in place.
    fn open_detached(
        &self,
        nonce: &[u8],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError>;

    /// Encrypts the first `plaintext_len` bytes of `buffer` in place and
    /// writes the tag right after them, as TLS records carry it; returns
    /// the sealed length (plaintext plus tag). [`CryptoError::BadInput`]
    /// when the tag does not fit.
    fn seal_in_place(
        &self,
        nonce: &[u8],
        aad: &[u8],
        buffer: &mut [u8],
        plaintext_len: usize,
    ) -> Result<usize, CryptoError> {
        let sealed_len = plaintext_len
            .checked_add(self.algorithm().tag_len())
            .ok_or(CryptoError::BadInput)?;
        let sealed = buffer.get_mut(..sealed_len).ok_or(CryptoError::BadInput)?;
        let (text, tag_out) = sealed.split_at_mut(plaintext_len);
        let tag = self.seal_detached(nonce, aad, text)?;
        tag_out.copy_from_slice(tag.as_bytes());
        Ok(sealed_len)
    }

    /// Opens `buffer` = ciphertext || tag in place; returns the plaintext
    /// length. [`CryptoError::BadInput`] when it is shorter than a tag.
    fn open_in_place(
        &self,
        nonce: &[u8],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let text_len = buffer
            .len()
            .checked_sub(self.algorithm().tag_len())
            .ok_or(CryptoError::BadInput)?;
        let (text, tag) = buffer.split_at_mut(text_len);
        self.open_detached(nonce, aad, text, tag)?;
        Ok(text_len)
    }
}

/// Makes AEAD keys.
pub trait Aead {
    type Key: AeadKey;

    /// Loads `key` for `algorithm`: [`CryptoError::InvalidKey`] when its
    /// length is wrong, [`CryptoError::Unsupported`] when this provider does
    /// not do `algorithm` (a `Fallback` then asks the next one; once a key
    /// exists, it seals and opens).
    fn aead_key(&self, algorithm: AeadAlgorithm, key: &[u8]) -> Result<Self::Key, CryptoError>;
}

impl<T: Aead + ?Sized> Aead for &T {
    type Key = T::Key;

    fn aead_key(&self, algorithm: AeadAlgorithm, key: &[u8]) -> Result<Self::Key, CryptoError> {
        (**self).aead_key(algorithm, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_follow_rfc_5116_and_6655() {
        assert_eq!(AeadAlgorithm::Aes128Gcm.key_len(), 16);
        assert_eq!(AeadAlgorithm::Aes256Gcm.key_len(), 32);
        assert_eq!(AeadAlgorithm::Aes128Ccm.tag_len(), 16);
        assert_eq!(AeadAlgorithm::Aes128Ccm8.tag_len(), 8);
        assert_eq!(AeadAlgorithm::Aes128Ccm8.nonce_len(), 12);
        assert_eq!(Tag::new(&[1, 2]).unwrap().as_bytes(), [1, 2]);
        assert_eq!(Tag::new(&[0; 17]), Err(CryptoError::BadInput));
    }
}
