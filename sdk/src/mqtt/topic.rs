//! Topic names and topic filters (3.1.1 §4.7, 5.0 §4.7): `/`-separated
//! levels, `+` matching one level, `#` matching the rest, and topics
//! starting with `$` left out of wildcard matches at the first level.

use super::codec::Error;

/// Checks a PUBLISH topic name: non-empty, no wildcards (§4.7.1).
pub fn check_topic_name(topic: &str) -> Result<(), Error> {
    if topic.is_empty() {
        return Err(Error::MalformedPacket);
    }
    if topic.bytes().any(|b| b == b'+' || b == b'#') {
        return Err(Error::WildcardInTopicName);
    }
    Ok(())
}

/// Checks a topic filter (§4.7.1): non-empty; `+` fills a whole level; `#`
/// fills a whole level and is the last one. A shared subscription
/// (`$share/{group}/{filter}`, 5.0 §4.8.2) follows the same rules.
pub fn check_topic_filter(filter: &str) -> Result<(), Error> {
    let bytes = filter.as_bytes();
    if bytes.is_empty() {
        return Err(Error::InvalidTopicFilter);
    }
    for (at, &b) in bytes.iter().enumerate() {
        if b != b'+' && b != b'#' {
            continue;
        }
        let starts_level = at == 0 || bytes[at - 1] == b'/';
        let ends_level = match bytes.get(at + 1) {
            None => true,
            // `#` must be the last character; `+` only the whole level.
            Some(&next) => b == b'+' && next == b'/',
        };
        if !(starts_level && ends_level) {
            return Err(Error::InvalidTopicFilter);
        }
    }
    Ok(())
}

/// Whether `topic` matches `filter` (§4.7). Both are assumed valid.
///
/// §4.7.2: a filter starting with a wildcard does not match a topic that
/// starts with `$` (so `#` does not match `$SYS/...`). A shared
/// subscription's filter, `$share/{ShareName}/{filter}` (5.0 §4.8.2),
/// matches what its inner filter matches: messages arrive with their own
/// topic, not the share's.
pub fn matches(filter: &str, topic: &str) -> bool {
    let filter = filter
        .strip_prefix("$share/")
        .and_then(|shared| shared.split_once('/'))
        .map_or(filter, |(_share_name, inner)| inner);
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            // `#` also matches the parent level: "sport/#" matches "sport".
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_subscription_matches_what_its_inner_filter_matches() {
        assert!(matches("$share/group/sport/+", "sport/tennis"));
        assert!(matches("$share/group/#", "sport/tennis/player1"));
        assert!(!matches("$share/group/sport/+", "sport/tennis/player1"));
        // Still not `$` topics through a leading wildcard (§4.7.2).
        assert!(!matches("$share/group/#", "$SYS/broker/load"));
        // A `$share` topic level elsewhere is an ordinary level.
        assert!(!matches("sport/$share/g/+", "sport/tennis"));
    }

    #[test]
    fn spec_examples_of_section_4_7() {
        assert!(matches("sport/tennis/player1/#", "sport/tennis/player1"));
        assert!(matches(
            "sport/tennis/player1/#",
            "sport/tennis/player1/ranking"
        ));
        assert!(matches(
            "sport/tennis/player1/#",
            "sport/tennis/player1/score/wimbledon"
        ));
        assert!(matches("sport/#", "sport"));
        assert!(matches("sport/tennis/+", "sport/tennis/player1"));
        assert!(!matches("sport/tennis/+", "sport/tennis/player1/ranking"));
        assert!(matches("sport/+", "sport/"));
        assert!(!matches("sport/+", "sport"));
        assert!(matches("+/+", "/finance"));
        assert!(matches("/+", "/finance"));
        assert!(!matches("+", "/finance"));
        assert!(matches("#", "a/b/c"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/b/c", "a/b"));
    }

    #[test]
    fn dollar_topics_escape_leading_wildcards() {
        assert!(!matches("#", "$SYS/broker/uptime"));
        assert!(!matches("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/#", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
    }

    #[test]
    fn filter_and_name_validation() {
        for ok in [
            "#",
            "+",
            "a/+/b",
            "a/#",
            "+/+",
            "/",
            "$share/g/a/#",
            "+/#",
            "/+/",
            "a//b",
        ] {
            assert_eq!(check_topic_filter(ok), Ok(()), "{ok}");
        }
        for bad in [
            "", "a/#/b", "a#", "a/b+", "#/", "++", "+a", "a/+b/c", "##", "#+",
        ] {
            assert_eq!(
                check_topic_filter(bad),
                Err(Error::InvalidTopicFilter),
                "{bad}"
            );
        }
        assert_eq!(check_topic_name("a/b"), Ok(()));
        assert_eq!(check_topic_name("a/+"), Err(Error::WildcardInTopicName));
        assert_eq!(check_topic_name(""), Err(Error::MalformedPacket));
    }
}
