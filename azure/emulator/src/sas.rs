//! Checking a shared access signature (SAS) token, the service's half of
//! `duet_azure::sas`:
//!
//! ```text
//! SharedAccessSignature sr=<url(resource)>&sig=<url(base64 sig)>&se=<expiry>[&skn=<key name>]
//! sig = base64(HMAC-SHA256(base64decode(key), <sr as sent> "\n" <se>))
//! ```
//! Fields may come in any order. The resource is compared decoded and
//! case-insensitively (DPS devices spell its separators `%2f`, hub devices
//! `%2F`); the signature is checked over `sr` exactly as sent, and, failing
//! that, over its canonical re-encoding, since a signer may have encoded
//! the resource differently from how it wrote it in the token.

use duet_crypto::soft::Soft;

use crate::url;

const PREFIX: &str = "SharedAccessSignature ";

/// A token's fields, as parsed from an MQTT password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SasToken {
    /// `sr` as sent (URL-encoded): what was signed.
    resource_as_sent: String,
    /// `sr` decoded: what access is asked for.
    resource: String,
    /// `sig` decoded: the base64 signature.
    signature: String,
    /// `se`: Unix seconds after which the token is void.
    pub(crate) expiry: u64,
    /// `skn` decoded: the shared access policy name, if any.
    pub(crate) key_name: Option<String>,
}

/// Why a token does not grant access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SasError {
    /// Not a SAS token: wrong prefix, a missing field, a bad escape or
    /// expiry.
    Malformed,
    /// `sr` names another resource.
    WrongResource,
    /// `sig` is not the key's signature of `sr` and `se`.
    BadSignature,
    /// `se` has passed.
    Expired,
}

impl SasToken {
    /// Parses an MQTT password as a SAS token.
    pub(crate) fn parse(password: &[u8]) -> Result<Self, SasError> {
        let text = std::str::from_utf8(password).map_err(|_| SasError::Malformed)?;
        let fields = text.strip_prefix(PREFIX).ok_or(SasError::Malformed)?;
        let (mut sr, mut sig, mut se, mut skn) = (None, None, None, None);
        for field in fields.split('&') {
            let (name, value) = field.split_once('=').ok_or(SasError::Malformed)?;
            let slot = match name {
                "sr" => &mut sr,
                "sig" => &mut sig,
                "se" => &mut se,
                "skn" => &mut skn,
                _ => return Err(SasError::Malformed),
            };
            if slot.replace(value).is_some() {
                return Err(SasError::Malformed);
            }
        }
        let (Some(sr), Some(sig), Some(se)) = (sr, sig, se) else {
            return Err(SasError::Malformed);
        };
        let expiry = if se.bytes().all(|b| b.is_ascii_digit()) {
            se.parse().map_err(|_| SasError::Malformed)?
        } else {
            return Err(SasError::Malformed);
        };
        let decoded = |text: &str| url::decode(text).ok_or(SasError::Malformed);
        Ok(SasToken {
            resource_as_sent: sr.to_owned(),
            resource: decoded(sr)?,
            signature: decoded(sig)?,
            expiry,
            key_name: skn.map(decoded).transpose()?,
        })
    }

    /// Whether the token grants `resource` (decoded form, such as
    /// `hub.azure-devices.test/devices/dev1`) under the base64 `key` at
    /// Unix second `now`.
    pub(crate) fn verify(&self, resource: &str, key: &str, now: u64) -> Result<(), SasError> {
        if !self.resource.eq_ignore_ascii_case(resource) {
            return Err(SasError::WrongResource);
        }
        let signed_as_sent = self.signature_over(&self.resource_as_sent, key);
        let signed_canonically = self.signature_over(&url::encode(&self.resource), key);
        let matches = |expected: Option<String>| {
            expected.is_some_and(|e| constant_time_eq(e.as_bytes(), self.signature.as_bytes()))
        };
        if !matches(signed_as_sent) && !matches(signed_canonically) {
            return Err(SasError::BadSignature);
        }
        if self.expiry <= now {
            return Err(SasError::Expired);
        }
        Ok(())
    }

    /// The base64 signature `key` gives `encoded_resource` and this
    /// token's expiry; `None` if the key is not base64.
    fn signature_over(&self, encoded_resource: &str, key: &str) -> Option<String> {
        let message = format!("{encoded_resource}\n{}", self.expiry);
        sign(key, message.as_bytes())
    }
}

/// base64(HMAC-SHA256(base64decode(key), message)), with the device
/// side's own signer; `None` if `key` is not base64.
pub(crate) fn sign(key: &str, message: &[u8]) -> Option<String> {
    let mut out = [0u8; 44];
    let n = duet_azure::sas::sign(&Soft::<0>::new(), key, message, &mut out).ok()?;
    String::from_utf8(out[..n].to_vec()).ok()
}

/// Byte equality whose time does not depend on where the inputs differ, so
/// the emulator does not teach timing attacks by example.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "6CLK6It9jOiABpFVu11CQDv9O49ebAneK3KbsvaoU1o=";
    const RESOURCE: &str = "myiothub.azure-devices.net/devices/my_device";
    /// The derived.sas vector `hub_device_sas_token_full`.
    const TOKEN: &str = "SharedAccessSignature sr=myiothub.azure-devices.net%2Fdevices%2Fmy_device&sig=z%2B5JlfTU1SJ40rfNdgj50cgMLNLBARqowavtCpwWvUo%3D&se=1578941692";
    const EXPIRY: u64 = 1_578_941_692;

    #[test]
    fn the_vector_token_verifies_until_it_expires() {
        let token = SasToken::parse(TOKEN.as_bytes()).unwrap();
        assert_eq!(token.expiry, EXPIRY);
        assert_eq!(token.key_name, None);
        assert_eq!(token.verify(RESOURCE, KEY, EXPIRY - 1), Ok(()));
        assert_eq!(
            token.verify(&RESOURCE.to_uppercase(), KEY, EXPIRY - 1),
            Ok(())
        );
        assert_eq!(token.verify(RESOURCE, KEY, EXPIRY), Err(SasError::Expired));
        assert_eq!(
            token.verify("myiothub.azure-devices.net/devices/other", KEY, 0),
            Err(SasError::WrongResource)
        );
        let other_key = "AAAA6It9jOiABpFVu11CQDv9O49ebAneK3KbsvaoU1o=";
        assert_eq!(
            token.verify(RESOURCE, other_key, 0),
            Err(SasError::BadSignature)
        );
        assert_eq!(
            token.verify(RESOURCE, "not base64!", 0),
            Err(SasError::BadSignature)
        );
    }

    #[test]
    fn fields_may_come_in_any_order_and_lower_case_escapes() {
        let reordered = "SharedAccessSignature se=1578941692&skn=registration&sig=z%2B5JlfTU1SJ40rfNdgj50cgMLNLBARqowavtCpwWvUo%3D&sr=myiothub.azure-devices.net%2fdevices%2fmy_device";
        let token = SasToken::parse(reordered.as_bytes()).unwrap();
        assert_eq!(token.key_name.as_deref(), Some("registration"));
        // Signed over `%2F`, sent as `%2f`: the canonical form still checks.
        assert_eq!(token.verify(RESOURCE, KEY, 0), Ok(()));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in [
            "",
            "sr=a&sig=b&se=1",
            "SharedAccessSignature sr=a&sig=b",
            "SharedAccessSignature sr=a&sig=b&se=-1",
            "SharedAccessSignature sr=a&sig=b&se=99999999999999999999999",
            "SharedAccessSignature sr=a&sig=b&se=1&se=2",
            "SharedAccessSignature sr=a&sig=b&se=1&x=y",
            "SharedAccessSignature sr=%zz&sig=b&se=1",
            "SharedAccessSignature sr=a&sig&se=1",
        ] {
            assert_eq!(
                SasToken::parse(bad.as_bytes()),
                Err(SasError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(SasToken::parse(&[0xff, 0xfe]), Err(SasError::Malformed));
    }
}
