//! Hashing as the protocols use it: a running context per message, cloned
//! when a protocol needs the hash of a prefix and goes on hashing (the TLS
//! transcript hash, RFC 8446 section 4.4.1), and the provider trait that
//! makes contexts.

use core::fmt;

use zeroize::Zeroize;

use crate::CryptoError;

/// The hash functions of TLS 1.2/1.3, DTLS, SAS tokens and update
/// manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-1 (FIPS 180-4), only for protocols that still require it; behind
    /// the `sha1` feature so that no firmware links it by accident.
    #[cfg(feature = "sha1")]
    Sha1,
    /// SHA-256 (FIPS 180-4 section 6.2).
    Sha256,
    /// SHA-384 (FIPS 180-4 section 6.5).
    Sha384,
}

/// The longest digest of any [`HashAlgorithm`] (SHA-384).
pub const MAX_OUTPUT_LEN: usize = 48;

/// The longest block of any [`HashAlgorithm`] (SHA-384's 1024 bits), which
/// bounds HMAC's padded key (RFC 2104 section 2).
pub const MAX_BLOCK_LEN: usize = 128;

impl HashAlgorithm {
    /// Bytes of a digest.
    pub const fn output_len(self) -> usize {
        match self {
            #[cfg(feature = "sha1")]
            HashAlgorithm::Sha1 => 20,
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
        }
    }

    /// Bytes of the compression function's input block: HMAC pads its key
    /// to this length (RFC 2104 section 2, "B").
    pub const fn block_len(self) -> usize {
        match self {
            #[cfg(feature = "sha1")]
            HashAlgorithm::Sha1 => 64,
            HashAlgorithm::Sha256 => 64,
            HashAlgorithm::Sha384 => 128,
        }
    }
}

/// A digest, an HMAC tag or an HKDF pseudorandom key: up to
/// [`MAX_OUTPUT_LEN`] bytes held inline, so no caller needs a buffer of its
/// own.
///
/// HMAC outputs are often keys (HKDF's PRK, TLS secrets), so the bytes are
/// zeroized on drop, equality is constant-time, and `Debug` shows only the
/// length.
#[derive(Clone)]
pub struct Digest {
    bytes: [u8; MAX_OUTPUT_LEN],
    len: u8,
}

impl Digest {
    /// Copies `bytes` into a digest; [`CryptoError::BadInput`] when longer
    /// than [`MAX_OUTPUT_LEN`].
    pub fn new(bytes: &[u8]) -> Result<Self, CryptoError> {
        let mut digest = Digest {
            bytes: [0; MAX_OUTPUT_LEN],
            len: 0,
        };
        digest
            .bytes
            .get_mut(..bytes.len())
            .ok_or(CryptoError::BadInput)?
            .copy_from_slice(bytes);
        digest.len = bytes.len() as u8;
        Ok(digest)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl AsRef<[u8]> for Digest {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Digest {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.as_bytes(), other.as_bytes())
    }
}

impl Eq for Digest {}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({} bytes)", self.len)
    }
}

impl Drop for Digest {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

/// Compares two byte strings in time that depends only on their lengths,
/// for tags and MACs an attacker may probe byte by byte.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    core::hint::black_box(difference) == 0
}

/// One message being hashed.
///
/// `Clone` is the point: TLS hashes the handshake transcript as it goes and
/// needs the hash of every prefix that a Finished or CertificateVerify
/// message covers (RFC 8446 section 4.4.1), so it clones the context and
/// finishes the clone. A hardware engine implements `Clone` by saving its
/// context registers.
pub trait HashContext: Clone {
    fn algorithm(&self) -> HashAlgorithm;

    /// Feeds more of the message.
    fn update(&mut self, data: &[u8]);

    /// The digest. An engine that failed during `update` reports it here
    /// (with [`CryptoError::Device`]), so `update` stays infallible for the
    /// callers that stream records through it.
    fn finish(self) -> Result<Digest, CryptoError>;

    /// The digest of what was fed so far, leaving the context running.
    fn current(&self) -> Result<Digest, CryptoError> {
        self.clone().finish()
    }
}

/// Makes hash contexts.
pub trait Hasher {
    type Context: HashContext;

    /// A fresh context, or [`CryptoError::Unsupported`] for an algorithm
    /// this provider does not hash.
    fn hash_context(&self, algorithm: HashAlgorithm) -> Result<Self::Context, CryptoError>;

    /// The digest of the concatenation of `parts`.
    fn hash(&self, algorithm: HashAlgorithm, parts: &[&[u8]]) -> Result<Digest, CryptoError> {
        let mut context = self.hash_context(algorithm)?;
        for part in parts {
            context.update(part);
        }
        context.finish()
    }
}

impl<T: Hasher + ?Sized> Hasher for &T {
    type Context = T::Context;

    fn hash_context(&self, algorithm: HashAlgorithm) -> Result<Self::Context, CryptoError> {
        (**self).hash_context(algorithm)
    }

    fn hash(&self, algorithm: HashAlgorithm, parts: &[&[u8]]) -> Result<Digest, CryptoError> {
        (**self).hash(algorithm, parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_follow_fips_180_4() {
        assert_eq!(HashAlgorithm::Sha256.output_len(), 32);
        assert_eq!(HashAlgorithm::Sha256.block_len(), 64);
        assert_eq!(HashAlgorithm::Sha384.output_len(), 48);
        assert_eq!(HashAlgorithm::Sha384.block_len(), 128);
        assert!(HashAlgorithm::Sha384.output_len() <= MAX_OUTPUT_LEN);
        assert!(HashAlgorithm::Sha384.block_len() <= MAX_BLOCK_LEN);
    }

    #[test]
    fn digests_hold_up_to_48_bytes_and_compare_by_content() {
        let a = Digest::new(&[7; 48]).unwrap();
        assert_eq!(a.as_bytes(), &[7; 48]);
        assert_eq!(a.len(), 48);
        assert_eq!(Digest::new(&[0; 49]), Err(CryptoError::BadInput));
        assert_ne!(
            Digest::new(&[7; 32]).unwrap(),
            Digest::new(&[7; 31]).unwrap()
        );
        assert_ne!(
            Digest::new(&[7; 32]).unwrap(),
            Digest::new(&[8; 32]).unwrap()
        );
        assert!(Digest::new(&[]).unwrap().is_empty());
        assert_eq!(std::format!("{a:?}"), "Digest(48 bytes)");
    }

    #[test]
    fn constant_time_eq_needs_equal_lengths_and_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
