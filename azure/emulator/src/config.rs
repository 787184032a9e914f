//! What the emulated cloud knows before any device connects: the hub's
//! host name and device registry, and the DPS instance with its
//! enrollments.

/// The emulated services. One [`crate::Emulator`] serves both the hub and
/// DPS on the same listener; a connection's MQTT user name says which one it
/// talks to.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The hub's host name, as devices put it in their user name and SAS
    /// resource (`hub.azure-devices.test`).
    pub hub_host: String,
    /// The hub's device registry (DPS adds to it when it assigns a device).
    pub devices: Vec<Device>,
    /// The provisioning service, if emulated.
    pub dps: Option<Dps>,
    /// Offer TLS 1.2 only, as IoT Hub does; otherwise TLS 1.3 and 1.2.
    pub tls12_only: bool,
}

impl Config {
    /// A hub called `hub_host` with no devices, no DPS, TLS 1.2 and 1.3.
    pub fn new(hub_host: &str) -> Self {
        Config {
            hub_host: hub_host.to_owned(),
            devices: Vec::new(),
            dps: None,
            tls12_only: false,
        }
    }

    /// Adds a device to the hub's registry.
    pub fn with_device(mut self, device_id: &str, auth: DeviceAuth) -> Self {
        self.devices.push(Device {
            device_id: device_id.to_owned(),
            auth,
        });
        self
    }

    /// Emulates DPS as well.
    pub fn with_dps(mut self, dps: Dps) -> Self {
        self.dps = Some(dps);
        self
    }

    /// Restricts TLS to version 1.2, like IoT Hub.
    pub fn with_tls12_only(mut self) -> Self {
        self.tls12_only = true;
        self
    }
}

/// A device identity in the hub's registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The device id (also its MQTT client id).
    pub device_id: String,
    /// How it proves who it is.
    pub auth: DeviceAuth,
}

/// How a device authenticates to the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceAuth {
    /// A SAS token signed with this base64 symmetric key, as the password.
    SymmetricKey(String),
    /// A TLS client certificate chaining to the test root
    /// (`certs/test/root-ca.pem`) whose subject CN is the device id; no
    /// password needed.
    X509,
}

/// The Device Provisioning Service instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Dps {
    /// The ID scope devices put in their user name and SAS resource.
    pub id_scope: String,
    /// Who may register.
    pub enrollments: Vec<Enrollment>,
    /// The hub host every registration is assigned to. Devices can then
    /// connect to this emulator's hub only if it equals
    /// [`Config::hub_host`].
    pub assigned_hub: String,
    /// How many operation-status queries answer 202 `assigning` before one
    /// answers 200 `assigned` (0: the first query is assigned).
    pub polls_before_assigned: u32,
    /// The `retry-after` the 202 answers carry, in seconds.
    pub retry_after_secs: u32,
    /// The custom allocation payload returned in `registrationState.payload`.
    pub reply_payload: Option<serde_json::Value>,
}

impl Dps {
    /// An instance with ID scope `id_scope` assigning to `assigned_hub`,
    /// no enrollments, one `assigning` answer with `retry-after=1`.
    pub fn new(id_scope: &str, assigned_hub: &str) -> Self {
        Dps {
            id_scope: id_scope.to_owned(),
            enrollments: Vec::new(),
            assigned_hub: assigned_hub.to_owned(),
            polls_before_assigned: 1,
            retry_after_secs: 1,
            reply_payload: None,
        }
    }

    /// Adds an enrollment.
    pub fn with_enrollment(mut self, enrollment: Enrollment) -> Self {
        self.enrollments.push(enrollment);
        self
    }
}

/// Who DPS lets register, and with what proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enrollment {
    /// One registration id with its own base64 symmetric key.
    Individual {
        registration_id: String,
        key: String,
    },
    /// Any registration id, whose key is derived from the group's base64
    /// key: base64(HMAC-SHA256(base64decode(group key), registration id)).
    Group { key: String },
    /// One registration id proven by a TLS client certificate whose subject
    /// CN is the registration id.
    X509 { registration_id: String },
}
