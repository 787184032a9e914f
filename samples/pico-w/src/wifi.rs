//! The Wi-Fi network the Pico W joins, from the environment at build time:
//! `DUET_WIFI_SSID` and `DUET_WIFI_PASSWORD` (WPA2/WPA3 personal; an empty
//! password joins an open network). Unset, they are placeholders: the
//! firmware builds (CI builds it that way) and says so on its first lines.
//! The hub and device come from `duet_sample_app::config_from_env`.

const PLACEHOLDER_SSID: &str = "your-ssid";
pub const WIFI_SSID: &str = match option_env!("DUET_WIFI_SSID") {
    Some(ssid) => ssid,
    None => PLACEHOLDER_SSID,
};
pub const WIFI_PASSWORD: &str = match option_env!("DUET_WIFI_PASSWORD") {
    Some(password) => password,
    None => "your-password",
};

/// Says so on the timeline when the build had no network to name.
pub fn warn_if_placeholder() {
    if WIFI_SSID == PLACEHOLDER_SSID {
        duet_sample_app::log!(
            "config: built without DUET_WIFI_SSID and DUET_WIFI_PASSWORD; \
             {PLACEHOLDER_SSID} is a placeholder (see README.md)"
        );
    }
}
