//! A device's topic filters. IoT Hub takes at most five per device
//! (<https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-quotas-throttling>
//! lists the MQTT limits); a sixth is answered with SUBACK failure 0x80.

/// The most topic filters a device may hold at once.
pub(crate) const MAX_SUBSCRIPTIONS: usize = 5;

/// Topic filters, in the order subscribed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Subscriptions {
    filters: Vec<String>,
}

impl Subscriptions {
    /// Adds `filter`; `false` if the device already holds the maximum.
    /// Subscribing again to a held filter replaces it (MQTT 3.1.1 §3.8.4)
    /// and so always succeeds.
    pub(crate) fn subscribe(&mut self, filter: &str) -> bool {
        if self.filters.iter().any(|f| f == filter) {
            return true;
        }
        if self.filters.len() >= MAX_SUBSCRIPTIONS {
            return false;
        }
        self.filters.push(filter.to_owned());
        true
    }

    /// Removes `filter` if held.
    pub(crate) fn unsubscribe(&mut self, filter: &str) {
        self.filters.retain(|f| f != filter);
    }

    /// The filters, in the order subscribed.
    pub(crate) fn filters(&self) -> &[String] {
        &self.filters
    }

    /// Whether a message on `topic` would reach the device.
    pub(crate) fn matches(&self, topic: &str) -> bool {
        self.filters
            .iter()
            .any(|filter| duet::mqtt::topic::matches(filter, topic))
    }
}

/// Fault injection: filters whose next SUBSCRIBE is refused (SUBACK
/// 0x80), once each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct InjectedRefusals(Vec<String>);

impl InjectedRefusals {
    pub(crate) fn push(&mut self, filter: &str) {
        self.0.push(filter.to_owned());
    }

    /// Whether a refusal of `filter` waits; it is used up.
    pub(crate) fn take(&mut self, filter: &str) -> bool {
        let at = self.0.iter().position(|f| f == filter);
        at.map(|at| self.0.remove(at)).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sixth_filter_is_refused_and_a_repeat_is_not() {
        let mut subs = Subscriptions::default();
        for i in 0..MAX_SUBSCRIPTIONS {
            assert!(subs.subscribe(&format!("a/{i}/#")));
        }
        assert!(!subs.subscribe("b/#"));
        assert!(subs.subscribe("a/0/#"));
        subs.unsubscribe("a/0/#");
        assert!(subs.subscribe("b/#"));
        assert!(subs.matches("b/c"));
        assert!(!subs.matches("a/0/x"));
    }

    #[test]
    fn hub_filters_match_hub_topics() {
        let mut subs = Subscriptions::default();
        subs.subscribe("$iothub/methods/POST/#");
        subs.subscribe("devices/+/messages/devicebound/#");
        assert!(subs.matches("$iothub/methods/POST/thermostat*reboot/?$rid=1"));
        assert!(subs.matches("devices/dev1/messages/devicebound/%24.to=x"));
        assert!(!subs.matches("$iothub/twin/res/200/?$rid=1"));
    }
}
