//! SHA-2 (and SHA-1 with the `sha1` feature) contexts on RustCrypto's
//! `sha2`/`sha1`, whose states zeroize on drop (their `zeroize` feature).

use sha2::Digest as _;

use crate::CryptoError;
use crate::hash::{Digest, HashAlgorithm, HashContext};

/// A running `soft` hash: one enum for every algorithm, so a TLS engine
/// holds one type whatever its cipher suite's hash.
#[derive(Clone, Debug)]
pub enum SoftHash {
    #[cfg(feature = "sha1")]
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
}

impl SoftHash {
    pub fn new(algorithm: HashAlgorithm) -> Self {
        match algorithm {
            #[cfg(feature = "sha1")]
            HashAlgorithm::Sha1 => SoftHash::Sha1(sha1::Sha1::new()),
            HashAlgorithm::Sha256 => SoftHash::Sha256(sha2::Sha256::new()),
            HashAlgorithm::Sha384 => SoftHash::Sha384(sha2::Sha384::new()),
        }
    }
}

impl HashContext for SoftHash {
    fn algorithm(&self) -> HashAlgorithm {
        match self {
            #[cfg(feature = "sha1")]
            SoftHash::Sha1(_) => HashAlgorithm::Sha1,
            SoftHash::Sha256(_) => HashAlgorithm::Sha256,
            SoftHash::Sha384(_) => HashAlgorithm::Sha384,
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            #[cfg(feature = "sha1")]
            SoftHash::Sha1(state) => state.update(data),
            SoftHash::Sha256(state) => state.update(data),
            SoftHash::Sha384(state) => state.update(data),
        }
    }

    fn finish(self) -> Result<Digest, CryptoError> {
        match self {
            #[cfg(feature = "sha1")]
            SoftHash::Sha1(state) => Digest::new(&state.finalize()),
            SoftHash::Sha256(state) => Digest::new(&state.finalize()),
            SoftHash::Sha384(state) => Digest::new(&state.finalize()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Hasher;
    use crate::soft::Soft;
    use crate::test_util::hex;

    /// FIPS 180-2 appendix B.1-B.3 and appendix D.1-D.2 ("abc", the 448-bit
    /// and 896-bit two-block messages, one million "a"), plus the empty
    /// message of the NIST CAVP SHA byte-oriented short-message files
    /// (`SHA256ShortMsg.rsp`, `SHA384ShortMsg.rsp`, Len = 0).
    const FIPS_180: [(&str, &str, &str); 4] = [
        (
            "",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da\
             274edebfe76f65fbd51ad2f14898b95b",
        ),
        (
            "abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
             8086072ba1e7cc2358baeca134c825a7",
        ),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            "3391fdddfc8dc7393707a65b1b4709397cf8b1d162af05abfe8f450de5f36bc6\
             b0455a8520bc4e6f5fe95b1fe3c8452b",
        ),
        (
            "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno\
             ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
            "09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712\
             fcc7c71a557e2db966c3e9fa91746039",
        ),
    ];

    #[test]
    fn fips_180_examples_sha256_and_sha384() {
        let soft: Soft = Soft::new();
        for (message, sha256, sha384) in FIPS_180 {
            for (algorithm, expected) in [
                (HashAlgorithm::Sha256, sha256),
                (HashAlgorithm::Sha384, sha384),
            ] {
                let digest = soft.hash(algorithm, &[message.as_bytes()]).unwrap();
                assert_eq!(digest.as_bytes(), &hex(expected)[..], "{message:?}");
                assert_eq!(digest.len(), algorithm.output_len());
            }
        }
    }

    /// NIST CAVP `SHA256ShortMsg.rsp` and `SHA384ShortMsg.rsp`, Len = 8
    /// (Msg = d3 and c5) and Len = 16 (Msg = 11af and 6ece).
    #[test]
    fn cavp_short_messages() {
        let soft: Soft = Soft::new();
        let cases = [
            (
                HashAlgorithm::Sha256,
                "d3",
                "28969cdfa74a12c82f3bad960b0b000aca2ac329deea5c2328ebc6f2ba9802c1",
            ),
            (
                HashAlgorithm::Sha256,
                "11af",
                "5ca7133fa735326081558ac312c620eeca9970d1e70a4b95533d956f072d1f98",
            ),
            (
                HashAlgorithm::Sha384,
                "c5",
                "b52b72da75d0666379e20f9b4a79c33a329a01f06a2fb7865c9062a28c1de860\
                 ba432edfd86b4cb1cb8a75b46076e3b1",
            ),
            (
                HashAlgorithm::Sha384,
                "6ece",
                "53d4773da50d8be4145d8f3a7098ff3691a554a29ae6f652cc7121eb8bc96fd2\
                 210e06ae2fa2a36c4b3b3497341e70f0",
            ),
        ];
        for (algorithm, message, expected) in cases {
            let digest = soft.hash(algorithm, &[&hex(message)]).unwrap();
            assert_eq!(
                digest.as_bytes(),
                &hex(expected)[..],
                "{algorithm:?} {message}"
            );
        }
    }

    #[test]
    fn one_million_a_fed_in_uneven_pieces() {
        // FIPS 180-2 appendix B.3 / D.3.
        let soft: Soft = Soft::new();
        let chunk = [b'a'; 1000];
        for (algorithm, expected) in [
            (
                HashAlgorithm::Sha256,
                "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
            ),
            (
                HashAlgorithm::Sha384,
                "9d0e1809716474cb086e834e310a4a1ced149e9c00f248527972cec5704c2a5b\
                 07b8b3dc38ecc4ebae97ddd87f3d8985",
            ),
        ] {
            let mut context = soft.hash_context(algorithm).unwrap();
            let mut fed = 0;
            let mut step = 1;
            while fed < 1_000_000 {
                let take = step.min(1_000_000 - fed).min(chunk.len());
                context.update(&chunk[..take]);
                fed += take;
                step = step * 7 % 997 + 1;
            }
            assert_eq!(context.finish().unwrap().as_bytes(), &hex(expected)[..]);
        }
    }

    #[test]
    fn a_cloned_context_forks_the_transcript() {
        let soft: Soft = Soft::new();
        let mut transcript = soft.hash_context(HashAlgorithm::Sha256).unwrap();
        transcript.update(b"ab");
        let at_ab = transcript.current().unwrap();
        let fork = transcript.clone();
        transcript.update(b"c");
        assert_eq!(at_ab, soft.hash(HashAlgorithm::Sha256, &[b"ab"]).unwrap());
        assert_eq!(fork.finish().unwrap(), at_ab);
        assert_eq!(
            transcript.finish().unwrap().as_bytes(),
            &hex(FIPS_180[1].1)[..]
        );
    }

    #[cfg(feature = "sha1")]
    #[test]
    fn sha1_fips_180_abc() {
        let soft: Soft = Soft::new();
        let digest = soft.hash(HashAlgorithm::Sha1, &[b"abc"]).unwrap();
        assert_eq!(
            digest.as_bytes(),
            &hex("a9993e364706816aba3e25717850c26c9cd0d89d")[..]
        );
    }
}
