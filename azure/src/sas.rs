//! Shared access signature (SAS) tokens for IoT Hub and DPS
//! (azure-sdk-for-c `az_iot_*_sas_get_signature` / `_get_password`): the
//! string to sign, the MQTT password built from a signature, and the whole
//! token signed with a device key through duet-crypto's HMAC-SHA256, so a
//! secure element's HMAC can sign it instead of the software one.
//!
//! ```text
//! string to sign   <resource>\n<expiry>
//! password         SharedAccessSignature sr=<resource>&sig=<url(base64 sig)>&se=<expiry>[&skn=<key name>]
//! hub resource     url(hostname)%2Fdevices%2Furl(device)[%2Fmodules%2Furl(module)]
//! DPS resource     url(id scope)%2fregistrations%2furl(registration id)
//! ```
//! (DPS spells the separator in lower case; both services compare the
//! resource as sent.)

use duet_crypto::hash::{HashAlgorithm, Hasher};
use duet_crypto::hmac::Hmac;

use crate::out::Out;
use crate::{AzureError, base64};

/// What a token grants access to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// A device (or one of its modules) of an IoT hub.
    Hub {
        hostname: &'a str,
        device_id: &'a str,
        module_id: Option<&'a str>,
    },
    /// A registration with the Device Provisioning Service.
    Dps {
        id_scope: &'a str,
        registration_id: &'a str,
    },
}

/// Writes `resource` as it is signed: URL-encoded, with its separators.
fn put_resource(w: &mut Out<'_>, resource: &Resource<'_>) -> Result<(), AzureError> {
    match *resource {
        Resource::Hub {
            hostname,
            device_id,
            module_id,
        } => {
            w.put_url_encoded(hostname)?;
            w.put(b"%2Fdevices%2F")?;
            w.put_url_encoded(device_id)?;
            if let Some(module) = module_id {
                w.put(b"%2Fmodules%2F")?;
                w.put_url_encoded(module)?;
            }
        }
        Resource::Dps {
            id_scope,
            registration_id,
        } => {
            w.put_url_encoded(id_scope)?;
            w.put(b"%2fregistrations%2f")?;
            w.put_url_encoded(registration_id)?;
        }
    }
    Ok(())
}

fn check(resource: &Resource<'_>) -> Result<(), AzureError> {
    let empty = match *resource {
        Resource::Hub {
            hostname,
            device_id,
            module_id,
        } => hostname.is_empty() || device_id.is_empty() || module_id == Some(""),
        Resource::Dps {
            id_scope,
            registration_id,
        } => id_scope.is_empty() || registration_id.is_empty(),
    };
    if empty {
        Err(AzureError::InvalidArgument)
    } else {
        Ok(())
    }
}

/// Writes the string to sign for `resource`, valid until `expiry` (Unix
/// seconds), into `out`; returns its length.
pub fn string_to_sign(
    resource: &Resource<'_>,
    expiry: u64,
    out: &mut [u8],
) -> Result<usize, AzureError> {
    check(resource)?;
    let mut w = Out::new(out);
    put_resource(&mut w, resource)?;
    w.put(b"\n")?;
    w.put_decimal(expiry)?;
    Ok(w.position())
}

/// Writes the MQTT password for `resource` from `signature` (base64 of the
/// HMAC-SHA256 of [`string_to_sign`]) into `out`; returns its length.
/// `key_name` is the `skn` of a shared access policy (DPS group
/// enrollments use `registration`); `None` or empty for a device key.
pub fn password(
    resource: &Resource<'_>,
    signature: &str,
    expiry: u64,
    key_name: Option<&str>,
    out: &mut [u8],
) -> Result<usize, AzureError> {
    check(resource)?;
    if signature.is_empty() {
        return Err(AzureError::InvalidArgument);
    }
    let mut w = Out::new(out);
    w.put(b"SharedAccessSignature sr=")?;
    put_resource(&mut w, resource)?;
    w.put(b"&sig=")?;
    w.put_url_encoded(signature)?;
    w.put(b"&se=")?;
    w.put_decimal(expiry)?;
    if let Some(name) = key_name.filter(|n| !n.is_empty()) {
        w.put(b"&skn=")?;
        w.put_url_encoded(name)?;
    }
    Ok(w.position())
}

/// The longest string to sign and signature handled: a 255-byte hostname
/// and 128-byte ids, URL-encoded at worst three bytes each.
const MAX_STRING_TO_SIGN: usize = 3 * (255 + 128 + 128) + 64;
/// HMAC-SHA256 keys are 32 to 64 bytes in practice; room for more.
const MAX_KEY: usize = 128;

/// HMAC-SHA256 of `message` under the base64 `key`, base64-encoded into
/// `out` (44 bytes).
pub fn sign<H: Hasher + ?Sized>(
    hasher: &H,
    key_base64: &str,
    message: &[u8],
    out: &mut [u8],
) -> Result<usize, AzureError> {
    let mut key = [0u8; MAX_KEY];
    let key_len = base64::decode(key_base64, &mut key)?;
    let mut mac = Hmac::new(hasher, HashAlgorithm::Sha256, &key[..key_len])
        .map_err(|_| AzureError::Crypto)?;
    key.fill(0);
    mac.update(message);
    let digest = mac.finish().map_err(|_| AzureError::Crypto)?;
    base64::encode(digest.as_bytes(), out)
}

/// The whole password for `resource`, signed with the device's base64
/// symmetric `key` and valid until `expiry`, into `out`.
pub fn token<H: Hasher + ?Sized>(
    hasher: &H,
    resource: &Resource<'_>,
    key_base64: &str,
    expiry: u64,
    key_name: Option<&str>,
    out: &mut [u8],
) -> Result<usize, AzureError> {
    let mut to_sign = [0u8; MAX_STRING_TO_SIGN];
    let n = string_to_sign(resource, expiry, &mut to_sign)?;
    let mut signature = [0u8; 44];
    let s = sign(hasher, key_base64, &to_sign[..n], &mut signature)?;
    let signature = core::str::from_utf8(&signature[..s]).map_err(|_| AzureError::Malformed)?;
    password(resource, signature, expiry, key_name, out)
}

/// A device's key in a DPS group enrollment: the base64 HMAC-SHA256 of its
/// registration id under the group's key (the service derives the same).
pub fn derive_device_key<H: Hasher + ?Sized>(
    hasher: &H,
    group_key_base64: &str,
    registration_id: &str,
    out: &mut [u8],
) -> Result<usize, AzureError> {
    sign(hasher, group_key_base64, registration_id.as_bytes(), out)
}
