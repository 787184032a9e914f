//! The host demo's parts, as a library so its tests can use them.
#![forbid(unsafe_code)]

pub mod cloud;
pub mod demo;
pub mod device;
pub mod mqtt_echo;
pub mod on_tap;
