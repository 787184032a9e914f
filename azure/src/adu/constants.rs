//! The names and numbers of the Device Update Plug and Play interface
//! (<https://learn.microsoft.com/azure/iot-hub-device-update/device-update-plug-and-play>),
//! as azure-sdk-for-c (`az_iot_adu_client.h`) and NetX Duo
//! (`nx_azure_iot_adu_agent.h`) spell them.

/// The Plug and Play component the agent and the service talk through.
pub const COMPONENT_NAME: &str = "deviceUpdate";

/// The Device Update contract model the agent implements, reported as
/// `deviceProperties.contractModelId` (C: `AZ_IOT_ADU_CLIENT_AGENT_MODEL_ID`):
/// the service picks the protocol version by it.
pub const CONTRACT_MODEL_ID: &str = "dtmi:azure:iot:deviceUpdateContractModel;2";

/// The agent version azure-sdk-for-c reports as `aduVer`.
pub const AGENT_VERSION: &str = "DU;agent/1.0.0";

/// How NetX Duo's agent version starts (`AzureRTOS;agent/6.2.0`, say).
pub const AGENT_VERSION_NETXDUO_PREFIX: &str = "AzureRTOS;agent/";

/// The device properties the service matches an update's `compatibility`
/// against, unless the client is told otherwise (`compatPropertyNames`).
pub const DEFAULT_COMPAT_PROPERTY_NAMES: &str = "manufacturer,model";

/// Which a step result in `lastInstallResult.stepResults` is keyed by:
/// `step_0`, `step_1`, ... in the manifest's step order.
pub const STEP_RESULT_KEY_PREFIX: &str = "step_";

/// The fixed capacities of azure-sdk-for-c's structs
/// (`_az_IOT_ADU_CLIENT_MAX_*`). Duet's parsers take their capacities as
/// const generic parameters and default to these, so a payload the C SDK
/// rejects with `AZ_ERROR_NOT_ENOUGH_SPACE` is rejected here too unless the
/// caller asks for room.
pub mod limits {
    /// Steps in a manifest's `instructions.steps`.
    pub const MAX_INSTRUCTIONS_STEPS: usize = 2;
    /// File ids in one step's `files`.
    pub const MAX_FILE_COUNT_PER_STEP: usize = 2;
    /// Files in a manifest's `files`, and URLs in a request's `fileUrls`.
    pub const MAX_TOTAL_FILE_COUNT: usize = 2;
    /// Hashes in one file's `hashes`.
    pub const MAX_FILE_HASH_COUNT: usize = 2;
    /// Custom device properties the C SDK's struct holds; the Rust writer
    /// takes a slice, so this is only the C figure, for parity.
    pub const MAX_DEVICE_CUSTOM_PROPERTIES: usize = 5;
}

/// The `resultCode` values NetX Duo's agent reports in `lastInstallResult`
/// (`NX_AZURE_IOT_ADU_AGENT_RESULT_CODE_*`); azure-sdk-for-c leaves the
/// codes to the application, and ADU only shows them.
pub mod result_code {
    /// The step or update failed.
    pub const FAILURE: i32 = 0;
    /// Idle after success.
    pub const IDLE_SUCCESS: i32 = 200;
    /// Download done.
    pub const DOWNLOAD_SUCCESS: i32 = 500;
    /// Install done.
    pub const INSTALL_SUCCESS: i32 = 600;
    /// Apply done: the update is in place.
    pub const APPLY_SUCCESS: i32 = 700;
    /// Apply under way (a reboot pending).
    pub const APPLY_IN_PROGRESS: i32 = 701;
}
