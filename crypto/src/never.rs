//! The context and key type of a provider that supports none of an
//! operation, so that it can still implement the trait (and answer
//! [`CryptoError::Unsupported`]) and sit in a [`Fallback`](crate::Fallback).

use crate::CryptoError;
use crate::aead::{AeadAlgorithm, AeadKey, Tag};
use crate::hash::{Digest, HashAlgorithm, HashContext};

/// A type with no values: a hash context or AEAD key that cannot exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Never {}

impl HashContext for Never {
    fn algorithm(&self) -> HashAlgorithm {
        match *self {}
    }

    fn update(&mut self, _data: &[u8]) {
        match *self {}
    }

    fn finish(self) -> Result<Digest, CryptoError> {
        match self {}
    }
}

impl AeadKey for Never {
    fn algorithm(&self) -> AeadAlgorithm {
        match *self {}
    }

    fn seal_detached(
        &self,
        _nonce: &[u8],
        _aad: &[u8],
        _in_out: &mut [u8],
    ) -> Result<Tag, CryptoError> {
        match *self {}
    }

    fn open_detached(
        &self,
        _nonce: &[u8],
        _aad: &[u8],
        _in_out: &mut [u8],
        _tag: &[u8],
    ) -> Result<(), CryptoError> {
        match *self {}
    }
}
