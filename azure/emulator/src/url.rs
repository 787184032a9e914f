//! URL encoding as the hub uses it (RFC 3986 §2.1): SAS resources and the
//! `name=value&name=value` property bags of telemetry and cloud-to-device
//! topics. Encoding is duet-azure's, the device side's own; decoding is the
//! service's half, so it lives here.

/// `text` URL-encoded (unreserved characters kept, the rest `%XX`).
pub(crate) fn encode(text: &str) -> String {
    let mut out = vec![0u8; text.len() * 3];
    // Three bytes per input byte is always enough.
    let n = duet_azure::url_encode(text, &mut out).unwrap_or(0);
    out.truncate(n);
    String::from_utf8(out).unwrap_or_default()
}

/// Decodes `%XX` escapes; `None` if an escape is cut short, not hex, or
/// the result is not UTF-8. `+` stays `+`: Azure encodes spaces as `%20`.
pub(crate) fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = bytes.get(at + 1..at + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The pairs of a property bag, decoded. A pair without `=` has an empty
/// value; empty pairs are skipped. `None` if any name or value does not
/// decode.
pub(crate) fn parse_bag(bag: &str) -> Option<Vec<(String, String)>> {
    bag.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(name)?, decode(value)?))
        })
        .collect()
}

/// A property bag from decoded pairs.
pub(crate) fn build_bag<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_telemetry_bag_from_the_vectors_decodes() {
        // hub.telemetry vectors: system properties travel encoded.
        let bag = "%24.ct=application%2Fjson&%24.ce=utf-8&%24.sub=thermostat1&key=va%20lue";
        let pairs = parse_bag(bag).unwrap();
        let expected = [
            ("$.ct", "application/json"),
            ("$.ce", "utf-8"),
            ("$.sub", "thermostat1"),
            ("key", "va lue"),
        ];
        assert_eq!(pairs.len(), expected.len());
        for ((name, value), (n, v)) in pairs.iter().zip(expected) {
            assert_eq!((name.as_str(), value.as_str()), (n, v));
        }
        assert_eq!(build_bag(expected.iter().copied()), bag);
    }

    #[test]
    fn broken_escapes_are_refused() {
        assert_eq!(decode("a%2"), None);
        assert_eq!(decode("a%zz"), None);
        assert_eq!(decode("%ff"), None);
        assert_eq!(decode("a+b%2Fc"), Some("a+b/c".to_owned()));
        assert_eq!(parse_bag("a=%"), None);
        assert_eq!(
            parse_bag("&&flag&").unwrap(),
            [("flag".to_owned(), String::new())]
        );
    }
}
