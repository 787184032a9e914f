//! Client certificates (X.509 device authentication): the server's
//! CertificateRequest (RFC 8446 section 4.3.2; RFC 5246 section 7.4.4), and
//! our Certificate and CertificateVerify (RFC 8446 sections 4.4.2 and
//! 4.4.3; RFC 5246 sections 7.4.6 and 7.4.8), signed with an ECDSA P-256
//! key named by handle, so a secure element's key never leaves it.

use duet_crypto::{HashAlgorithm, HashContext, SignatureFormat, SignatureScheme};

use super::super::TlsError;
use super::super::codec::Reader;
use super::super::record::MAX_PLAINTEXT_LEN;
use super::{ClientConnection, TlsProvider, extension, handshake_type};

/// `SignatureScheme` codes a P-256 key signs with: ecdsa_secp256r1_sha256,
/// and in TLS 1.2 also SHA-384 with ECDSA (the code names the hash only).
const ECDSA_SHA256: u16 = 0x0403;
const ECDSA_SHA384: u16 = 0x0503;
/// `ClientCertificateType.ecdsa_sign` (RFC 8422 section 5.5).
const ECDSA_SIGN: u8 = 64;
/// The longest certificate_request_context this client keeps (servers send
/// an empty one in the handshake; post-handshake authentication, which uses
/// it, is not offered).
const MAX_CONTEXT_LEN: usize = 32;

/// What the server's CertificateRequest allows.
#[derive(Debug, Clone, Copy)]
pub(super) struct CertificateRequest {
    context: [u8; MAX_CONTEXT_LEN],
    context_len: u8,
    ecdsa_sha256: bool,
    ecdsa_sha384: bool,
}

impl CertificateRequest {
    fn context(&self) -> &[u8] {
        &self.context[..usize::from(self.context_len)]
    }
}

impl<P: TlsProvider> ClientConnection<'_, P> {
    /// TLS 1.3 CertificateRequest: a context and the signature_algorithms
    /// extension, which must be there.
    pub(super) fn handle_certificate_request(&mut self, body: &[u8]) -> Result<(), TlsError> {
        let mut r = Reader::new(body);
        let context = r.vec_u8()?;
        let extensions = r.vec_u16()?;
        r.finish()?;
        if context.len() > MAX_CONTEXT_LEN {
            return Err(TlsError::IllegalParameter);
        }
        let mut request = CertificateRequest {
            context: [0; MAX_CONTEXT_LEN],
            context_len: context.len() as u8,
            ecdsa_sha256: false,
            ecdsa_sha384: false,
        };
        request.context[..context.len()].copy_from_slice(context);
        let mut signature_algorithms = None;
        let mut e = Reader::new(extensions);
        while !e.is_empty() {
            let extension_type = e.u16()?;
            let data = e.vec_u16()?;
            if extension_type == extension::SIGNATURE_ALGORITHMS {
                let mut d = Reader::new(data);
                signature_algorithms = Some(d.vec_u16()?);
                d.finish()?;
            }
        }
        let codes = signature_algorithms.ok_or(TlsError::MissingExtension)?;
        request.ecdsa_sha256 = lists(codes, ECDSA_SHA256)?;
        self.certificate_request = Some(request);
        Ok(())
    }

    /// TLS 1.2 CertificateRequest: certificate types, signature
    /// algorithms, acceptable authorities (not used: we have one chain).
    pub(super) fn handle_tls12_certificate_request(&mut self, body: &[u8]) -> Result<(), TlsError> {
        let mut r = Reader::new(body);
        let types = r.vec_u8()?;
        let codes = r.vec_u16()?;
        let _authorities = r.vec_u16()?;
        r.finish()?;
        let ecdsa = types.contains(&ECDSA_SIGN);
        self.certificate_request = Some(CertificateRequest {
            context: [0; MAX_CONTEXT_LEN],
            context_len: 0,
            ecdsa_sha256: ecdsa && lists(codes, ECDSA_SHA256)?,
            ecdsa_sha384: ecdsa && lists(codes, ECDSA_SHA384)?,
        });
        Ok(())
    }

    /// Our Certificate message when one was requested: the configured chain
    /// if the server accepts an ECDSA signature from it, else an empty list
    /// (section 4.4.2.4 / RFC 5246 section 7.4.6). Returns whether a
    /// CertificateVerify must follow.
    pub(super) fn send_client_certificate(&mut self, tls12: bool) -> Result<bool, TlsError> {
        let Some(request) = self.certificate_request else {
            return Ok(false);
        };
        let usable = request.ecdsa_sha256 || (tls12 && request.ecdsa_sha384);
        let chain = match self.config.client_certificate {
            Some(certificate) if usable => certificate.chain,
            _ => &[],
        };
        // TLS 1.3 entries carry an (empty) extensions field each.
        let per_entry = if tls12 { 3 } else { 3 + 2 };
        let list_len: usize = chain.iter().map(|c| per_entry + c.len()).sum();
        let context = request.context();
        let context_len = if tls12 { 0 } else { 1 + context.len() };
        let body_len = context_len + 3 + list_len;
        if 4 + body_len > MAX_PLAINTEXT_LEN {
            return Err(TlsError::BufferTooSmall);
        }
        self.send_handshake_with(4 + body_len, |out| {
            let mut at = 0;
            let mut put = |bytes: &[u8]| {
                out[at..at + bytes.len()].copy_from_slice(bytes);
                at += bytes.len();
            };
            put(&[handshake_type::CERTIFICATE]);
            put(&u24(body_len));
            if !tls12 {
                put(&[context.len() as u8]);
                put(context);
            }
            put(&u24(list_len));
            for certificate in chain {
                put(&u24(certificate.len()));
                put(certificate);
                if !tls12 {
                    put(&[0, 0]);
                }
            }
        })?;
        Ok(!chain.is_empty())
    }

    /// TLS 1.3 CertificateVerify (section 4.4.3): our signature over 64
    /// spaces, the client context string, a zero byte and the transcript
    /// hash, with ecdsa_secp256r1_sha256.
    pub(super) fn send_certificate_verify(&mut self) -> Result<(), TlsError> {
        const CONTEXT: &[u8] = b"TLS 1.3, client CertificateVerify\x00";
        let transcript = self.transcript.current()?;
        let mut content = self.provider.hash_context(HashAlgorithm::Sha256)?;
        content.update(&[0x20; 64]);
        content.update(CONTEXT);
        content.update(transcript.as_bytes());
        let prehash = content.current()?;
        self.sign_and_send(
            ECDSA_SHA256,
            SignatureScheme::EcdsaP256Sha256,
            prehash.as_bytes(),
        )
    }

    /// TLS 1.2 CertificateVerify (RFC 5246 section 7.4.8): our signature
    /// over every handshake message so far, hashed with SHA-256 where the
    /// server allows it, else SHA-384.
    pub(super) fn send_tls12_certificate_verify(&mut self) -> Result<(), TlsError> {
        let request = self
            .certificate_request
            .ok_or(TlsError::UnexpectedMessage)?;
        let (code, scheme, hash) = if request.ecdsa_sha256 {
            (
                ECDSA_SHA256,
                SignatureScheme::EcdsaP256Sha256,
                HashAlgorithm::Sha256,
            )
        } else {
            (
                ECDSA_SHA384,
                SignatureScheme::EcdsaP256Sha384,
                HashAlgorithm::Sha384,
            )
        };
        let prehash = self.transcript.current_for(hash)?;
        self.sign_and_send(code, scheme, prehash.as_bytes())
    }

    fn sign_and_send(
        &mut self,
        code: u16,
        scheme: SignatureScheme,
        prehash: &[u8],
    ) -> Result<(), TlsError> {
        let key = self
            .config
            .client_certificate
            .ok_or(TlsError::UnexpectedMessage)?
            .key;
        let mut signature = [0u8; duet_crypto::sign::MAX_SIGNATURE_LEN];
        let len = self.provider.sign_prehash(
            key,
            scheme,
            prehash,
            SignatureFormat::Der,
            &mut signature,
        )?;
        let signature = &signature[..len];
        self.send_handshake_with(4 + 4 + len, |out| {
            out[0] = handshake_type::CERTIFICATE_VERIFY;
            out[1..4].copy_from_slice(&u24(4 + len));
            out[4..6].copy_from_slice(&code.to_be_bytes());
            out[6..8].copy_from_slice(&(len as u16).to_be_bytes());
            out[8..].copy_from_slice(signature);
        })
    }
}

/// Whether a signature_algorithms list holds `code`.
fn lists(codes: &[u8], code: u16) -> Result<bool, TlsError> {
    if codes.len() % 2 != 0 {
        return Err(TlsError::Decode);
    }
    Ok(codes
        .chunks_exact(2)
        .any(|c| u16::from_be_bytes([c[0], c[1]]) == code))
}

fn u24(value: usize) -> [u8; 3] {
    let [_, a, b, c] = (value as u32).to_be_bytes();
    [a, b, c]
}
