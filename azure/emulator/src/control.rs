//! The cloud side of the emulator, for tests and the demo: what a solution
//! back end would do through IoT Hub's service API (invoke a direct method,
//! patch desired properties, send a cloud-to-device message), fault
//! injection, and read-outs of what devices did. Everything but the
//! waiting methods is synchronous and works from any thread.

use core::fmt;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::time::{Instant, timeout_at};

use crate::state::{C2dMessage, Command, DeviceState, State};
use crate::{CloseReason, Device, Emulator, Refusals, Violations, url};

/// A device's answer to a direct method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodResponse {
    /// The status the device put in its response topic.
    pub status: i32,
    /// The response payload, as text (normally JSON).
    pub payload: String,
}

/// One telemetry message as the hub received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Telemetry {
    /// The topic's property bag, decoded, in order (system properties such
    /// as `$.ct`, `$.ce` and the component's `$.sub` included).
    pub properties: Vec<(String, String)>,
    /// The message body.
    pub payload: Vec<u8>,
}

impl Telemetry {
    /// The value of the first property called `name`.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a control request could not be carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlError {
    /// No such device in the hub's registry.
    UnknownDevice,
    /// The device is not connected.
    NotConnected,
    /// The device has not subscribed to the topic the request goes to.
    NotSubscribed,
    /// The device did not answer in time.
    Timeout,
    /// The device's connection ended before it answered.
    Disconnected,
    /// A method name that cannot be a topic level (`/`, `+`, `#`, empty).
    InvalidMethodName,
    /// A method payload that is not JSON.
    InvalidPayload,
    /// A twin patch that is not a JSON object, or names a `$` member.
    InvalidPatch,
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ControlError::UnknownDevice => "unknown device",
            ControlError::NotConnected => "device not connected",
            ControlError::NotSubscribed => "device not subscribed",
            ControlError::Timeout => "device did not answer in time",
            ControlError::Disconnected => "device disconnected before answering",
            ControlError::InvalidMethodName => "invalid method name",
            ControlError::InvalidPayload => "method payload is not JSON",
            ControlError::InvalidPatch => "invalid twin patch",
        })
    }
}

impl std::error::Error for ControlError {}

impl Emulator {
    /// Invokes direct method (or Plug and Play command,
    /// `component*command`) `method_name` on the device with the JSON text
    /// `payload_json`, and waits up to `timeout` for its answer. The
    /// request goes at QoS 0 on `$iothub/methods/POST/{name}/?$rid={rid}`.
    pub async fn invoke_method(
        &self,
        device_id: &str,
        method_name: &str,
        payload_json: &str,
        timeout: Duration,
    ) -> Result<MethodResponse, ControlError> {
        let deadline = Instant::now() + timeout;
        if method_name.is_empty() || method_name.contains(['/', '+', '#']) {
            return Err(ControlError::InvalidMethodName);
        }
        // The service API takes JSON only.
        if serde_json::from_str::<Value>(payload_json).is_err() {
            return Err(ControlError::InvalidPayload);
        }
        let (reply, answer) = oneshot::channel();
        {
            let state = self.shared.lock();
            let device = state
                .devices
                .get(device_id)
                .ok_or(ControlError::UnknownDevice)?;
            if device.live.is_none() {
                return Err(ControlError::NotConnected);
            }
            let topic = format!("$iothub/methods/POST/{method_name}/?$rid=0");
            if !device.session.as_ref().is_some_and(|s| s.matches(&topic)) {
                return Err(ControlError::NotSubscribed);
            }
            let command = Command::InvokeMethod {
                name: method_name.to_owned(),
                payload: payload_json.as_bytes().to_vec(),
                reply,
            };
            if !device.tell(command) {
                return Err(ControlError::NotConnected);
            }
        }
        match timeout_at(deadline, answer).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(ControlError::Disconnected),
            Err(_) => Err(ControlError::Timeout),
        }
    }

    /// Merges `patch` into the device's desired properties and returns the
    /// new desired `$version`; a connected device subscribed to
    /// `$iothub/twin/PATCH/properties/desired/#` receives the patch with
    /// its `$version`.
    ///
    /// # Panics
    ///
    /// If the device is unknown or `patch` is not a JSON object without
    /// `$` members: a mistake in the calling test ([`Emulator::try_patch_desired`]
    /// returns it instead).
    #[track_caller]
    pub fn patch_desired(&self, device_id: &str, patch: Value) -> u64 {
        self.try_patch_desired(device_id, patch)
            .unwrap_or_else(|e| panic!("patch_desired({device_id}): {e}"))
    }

    /// [`Emulator::patch_desired`], with the mistakes as errors.
    pub fn try_patch_desired(&self, device_id: &str, patch: Value) -> Result<u64, ControlError> {
        let mut state = self.shared.lock();
        let device = state
            .devices
            .get_mut(device_id)
            .ok_or(ControlError::UnknownDevice)?;
        let version = device
            .twin
            .patch_desired(&patch)
            .map_err(|_| ControlError::InvalidPatch)?;
        device.tell(Command::DesiredPatch { version, patch });
        Ok(version)
    }

    /// Queues a cloud-to-device message with application `properties`.
    /// It is delivered at QoS 1 on
    /// `devices/{id}/messages/devicebound/{properties}` (the hub adds
    /// `$.mid` and `$.to`) whenever the device is connected and subscribed,
    /// and stays queued until the device acknowledges it.
    ///
    /// # Panics
    ///
    /// If the device is unknown ([`Emulator::try_send_c2d`] returns it
    /// instead).
    #[track_caller]
    pub fn send_c2d(&self, device_id: &str, properties: &[(&str, &str)], payload: &[u8]) {
        self.try_send_c2d(device_id, properties, payload)
            .unwrap_or_else(|e| panic!("send_c2d({device_id}): {e}"));
    }

    /// [`Emulator::send_c2d`], with an unknown device as an error.
    pub fn try_send_c2d(
        &self,
        device_id: &str,
        properties: &[(&str, &str)],
        payload: &[u8],
    ) -> Result<(), ControlError> {
        let mut state = self.shared.lock();
        let message_id = state.message_id().to_string();
        let device = state
            .devices
            .get_mut(device_id)
            .ok_or(ControlError::UnknownDevice)?;
        let to = format!("/devices/{device_id}/messages/deviceBound");
        let system = [("$.mid", message_id.as_str()), ("$.to", to.as_str())];
        device.c2d.push_back(C2dMessage {
            properties: url::build_bag(properties.iter().copied().chain(system)),
            payload: payload.to_vec(),
            delivery: None,
            sent_before: false,
        });
        device.tell(Command::C2dQueued);
        Ok(())
    }

    /// Fault injection: publishes `payload` on `topic` to the connected
    /// device at QoS 0, whatever it subscribed to — for testing how a
    /// device copes with messages the real hub would not send. `false` if
    /// the device is not connected.
    pub fn publish_raw(&self, device_id: &str, topic: &str, payload: &[u8]) -> bool {
        self.shared.lock().devices.get(device_id).is_some_and(|d| {
            d.tell(Command::PublishRaw {
                topic: topic.to_owned(),
                payload: payload.to_vec(),
            })
        })
    }

    /// Cloud-to-device messages queued for the device and not yet
    /// acknowledged.
    pub fn pending_c2d(&self, device_id: &str) -> usize {
        self.shared
            .lock()
            .devices
            .get(device_id)
            .map_or(0, |d| d.c2d.len())
    }

    /// The telemetry the device sent, oldest first.
    pub fn telemetry(&self, device_id: &str) -> Vec<Telemetry> {
        self.shared
            .lock()
            .devices
            .get(device_id)
            .map(|d| d.telemetry.clone())
            .unwrap_or_default()
    }

    /// Waits until the device has sent at least `count` telemetry messages;
    /// `false` if `timeout` passes first.
    pub async fn wait_for_telemetry(
        &self,
        device_id: &str,
        count: usize,
        timeout: Duration,
    ) -> bool {
        self.wait_until(timeout, |state| {
            state
                .devices
                .get(device_id)
                .is_some_and(|d| d.telemetry.len() >= count)
        })
        .await
    }

    /// The topic filters the device's MQTT session holds, in the order
    /// subscribed (empty without a session).
    pub fn subscriptions(&self, device_id: &str) -> Vec<String> {
        self.shared
            .lock()
            .devices
            .get(device_id)
            .and_then(|d| d.session.as_ref())
            .map(|s| s.filters().to_vec())
            .unwrap_or_default()
    }

    /// Waits until a message on `topic` would reach the device (it is
    /// connected and subscribed to a matching filter); `false` if `timeout`
    /// passes first. Device clients that report "connected" before their
    /// SUBSCRIBEs are acknowledged need this before a push such as
    /// [`Emulator::patch_desired`], which, as on the real hub, reaches only
    /// subscribers.
    pub async fn wait_for_subscription(
        &self,
        device_id: &str,
        topic: &str,
        timeout: Duration,
    ) -> bool {
        self.wait_until(timeout, |state| {
            state.devices.get(device_id).is_some_and(|d| {
                d.live.is_some() && d.session.as_ref().is_some_and(|s| s.matches(topic))
            })
        })
        .await
    }

    /// Waits until `condition` holds of the state; `false` if `timeout`
    /// passes first. Woken by telemetry and subscription changes.
    async fn wait_until(&self, timeout: Duration, condition: impl Fn(&State) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        // Subscribed before the first look, so no change slips between.
        let mut changes = self.shared.watch_changes();
        loop {
            if condition(&self.shared.lock()) {
                return true;
            }
            if !matches!(timeout_at(deadline, changes.changed()).await, Ok(Ok(()))) {
                return condition(&self.shared.lock());
            }
        }
    }

    /// The device's reported properties with their `$version`; `Null` for
    /// an unknown device.
    pub fn reported(&self, device_id: &str) -> Value {
        self.shared
            .lock()
            .devices
            .get(device_id)
            .map_or(Value::Null, |d| d.twin.reported())
    }

    /// The device's desired properties with their `$version`; `Null` for
    /// an unknown device.
    pub fn desired(&self, device_id: &str) -> Value {
        self.shared
            .lock()
            .devices
            .get(device_id)
            .map_or(Value::Null, |d| d.twin.desired())
    }

    /// The hub's registry: every device id, sorted (DPS adds the devices
    /// it assigns).
    pub fn device_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.shared.lock().devices.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// How many connections of the device were accepted so far.
    pub fn connections(&self, device_id: &str) -> u32 {
        self.shared
            .lock()
            .devices
            .get(device_id)
            .map_or(0, |d| d.connections)
    }

    /// Whether the device is connected now.
    pub fn is_connected(&self, device_id: &str) -> bool {
        self.shared
            .lock()
            .devices
            .get(device_id)
            .is_some_and(|d| d.live.is_some())
    }

    /// Closes the device's connection, as a network fault or a hub restart
    /// would; `false` if it was not connected.
    pub fn drop_connection(&self, device_id: &str) -> bool {
        self.shared
            .lock()
            .devices
            .get(device_id)
            .is_some_and(|d| d.tell(Command::Close(CloseReason::Dropped)))
    }

    /// Fault injection: the device's next twin request (GET or reported
    /// PATCH) closes its connection without an answer.
    ///
    /// # Panics
    ///
    /// If the device is unknown.
    #[track_caller]
    pub fn drop_next_twin_request(&self, device_id: &str) {
        self.inject(device_id, "drop_next_twin_request", |device| {
            device.drop_next_twin_request = true;
        });
    }

    /// The Plug and Play model id the device announced when it last
    /// connected (`model-id` in its user name).
    pub fn model_id(&self, device_id: &str) -> Option<String> {
        self.shared
            .lock()
            .devices
            .get(device_id)
            .and_then(|d| d.model_id.clone())
    }

    /// Fault injection: the device's next twin requests are refused, one
    /// with each of `statuses` (429 throttled, 5xx), before any is served.
    ///
    /// # Panics
    ///
    /// If the device is unknown.
    #[track_caller]
    pub fn fail_next_twin_requests(&self, device_id: &str, statuses: &[u16]) {
        self.inject(device_id, "fail_next_twin_requests", |device| {
            device.twin_failures.extend(statuses);
        });
    }

    /// Fault injection: the device's next SUBSCRIBE to `filter` (exactly
    /// as written) is refused with SUBACK 0x80, as IoT Hub refuses a
    /// filter it does not serve; later ones are granted.
    ///
    /// # Panics
    ///
    /// If the device is unknown.
    #[track_caller]
    pub fn refuse_next_subscription(&self, device_id: &str, filter: &str) {
        self.inject(device_id, "refuse_next_subscription", |device| {
            device.refused_filters.push(filter);
        });
    }

    /// Applies the fault injection `what` to the device's state.
    #[track_caller]
    fn inject(&self, device_id: &str, what: &str, apply: impl FnOnce(&mut DeviceState)) {
        let known = self
            .shared
            .lock()
            .devices
            .get_mut(device_id)
            .map(apply)
            .is_some();
        assert!(known, "{what}({device_id}): unknown device");
    }

    /// Fault injection: DPS refuses its next requests (register or status
    /// query), one with each of `statuses`; a 429 carries `retry-after=1`.
    ///
    /// # Panics
    ///
    /// If DPS is not emulated.
    #[track_caller]
    pub fn fail_next_dps_requests(&self, statuses: &[u16]) {
        let mut state = self.shared.lock();
        let dps = state.dps.as_mut().expect("DPS is emulated");
        dps.failures.extend(statuses);
    }

    /// Fault injection: the next SUBSCRIBE to DPS naming `filter` is
    /// refused with SUBACK 0x80; later ones are granted.
    ///
    /// # Panics
    ///
    /// If DPS is not emulated.
    #[track_caller]
    pub fn refuse_next_dps_subscription(&self, filter: &str) {
        let mut state = self.shared.lock();
        let dps = state.dps.as_mut().expect("DPS is emulated");
        dps.refused_filters.push(filter);
    }

    /// The `$rid` of every twin request (GET or reported PATCH) the device
    /// sent, in order, dropped ones included.
    pub fn twin_request_ids(&self, device_id: &str) -> Vec<String> {
        self.shared
            .lock()
            .devices
            .get(device_id)
            .map(|d| d.twin_requests.clone())
            .unwrap_or_default()
    }

    /// Adds a device to the hub's registry (or replaces its credentials).
    pub fn add_device(&self, device: Device) {
        self.shared
            .lock()
            .register_device(&device.device_id, device.auth);
    }

    /// Whether the hub's registry has the device (DPS adds the devices it
    /// assigns).
    pub fn has_device(&self, device_id: &str) -> bool {
        self.shared.lock().devices.contains_key(device_id)
    }

    /// The custom payload the registration sent with its last DPS register
    /// request.
    pub fn registration_payload(&self, registration_id: &str) -> Option<Value> {
        let state = self.shared.lock();
        state.dps.as_ref()?.payload(registration_id)
    }

    /// CONNECTs refused so far, by reason.
    pub fn refusals(&self) -> Refusals {
        self.shared.lock().refusals
    }

    /// Connections closed for breaking the protocol so far, by breach.
    pub fn violations(&self) -> Violations {
        self.shared.lock().violations
    }
}
