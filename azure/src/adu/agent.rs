//! The agent's side of the `deviceUpdate` component: the reported
//! properties that tell the service who the device is, what it has
//! installed, and where a deployment stands
//! (<https://learn.microsoft.com/azure/iot-hub-device-update/device-update-plug-and-play#agent-metadata>).
//!
//! ```text
//! {"deviceUpdate": {"__t": "c", "agent": {
//!     "deviceProperties": {"manufacturer", "model", <custom>..., "contractModelId", "aduVer", "doVer"},
//!     "compatPropertyNames": "manufacturer,model",
//!     "state": 0,
//!     "workflow": {"action", "id", "retryTimestamp"},
//!     "installedUpdateId": "{\"provider\":...,\"name\":...,\"version\":...}",
//!     "lastInstallResult": {"resultCode", "extendedResultCode", "resultDetails",
//!                           "stepResults": {"step_0": {...}, ...}}}}}
//! ```
//!
//! One writer serves both agents the vectors come from: azure-sdk-for-c
//! sends `deviceProperties` and `compatPropertyNames` in every report,
//! NetX Duo only in its first, so both are optional here. Members are
//! written in the order above; JSON member order carries no meaning to the
//! service, and this order reproduces both agents' payloads (the C SDK
//! puts `lastInstallResult` before `state`, which no vector shows).

use super::constants::{COMPONENT_NAME, CONTRACT_MODEL_ID, STEP_RESULT_KEY_PREFIX};
use super::service::{Workflow, member as service_member};
use crate::AzureError;
use crate::hub::pnp;
use crate::json::JsonWriter;
use crate::out::Out;

const AGENT: &str = "agent";
const DEVICE_PROPERTIES: &str = "deviceProperties";
const MANUFACTURER: &str = "manufacturer";
const MODEL: &str = "model";
const CONTRACT_MODEL_ID_NAME: &str = "contractModelId";
const ADU_VERSION: &str = "aduVer";
const DO_VERSION: &str = "doVer";
const COMPAT_PROPERTY_NAMES: &str = "compatPropertyNames";
const STATE: &str = "state";
const INSTALLED_UPDATE_ID: &str = "installedUpdateId";
const LAST_INSTALL_RESULT: &str = "lastInstallResult";
const RESULT_CODE: &str = "resultCode";
const EXTENDED_RESULT_CODE: &str = "extendedResultCode";
const RESULT_DETAILS: &str = "resultDetails";
const STEP_RESULTS: &str = "stepResults";

/// Where the agent stands (`az_iot_adu_client_agent_state`, `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    /// `0`: ready for a deployment (also after one succeeded).
    Idle,
    /// `2`: download done (the first-generation protocol).
    LegacyDownloadSucceeded,
    /// `4`: install done (first generation).
    LegacyInstallSucceeded,
    /// `6`: a deployment under way.
    DeploymentInProgress,
    /// `255`: the deployment failed; reported with `lastInstallResult`,
    /// then the agent goes back to [`Idle`](Self::Idle).
    Failed,
}

impl AgentState {
    /// The state a code names, to read a report back (a restarted agent
    /// finds its last one in the twin's reported properties).
    pub const fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            0 => Self::Idle,
            2 => Self::LegacyDownloadSucceeded,
            4 => Self::LegacyInstallSucceeded,
            6 => Self::DeploymentInProgress,
            255 => Self::Failed,
            _ => return None,
        })
    }

    /// Its code on the wire.
    pub const fn code(self) -> i32 {
        match self {
            Self::Idle => 0,
            Self::LegacyDownloadSucceeded => 2,
            Self::LegacyInstallSucceeded => 4,
            Self::DeploymentInProgress => 6,
            Self::Failed => 255,
        }
    }
}

/// What the device says about itself in `deviceProperties`
/// (`az_iot_adu_client_device_properties`): the service matches an
/// update's compatibility against these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceProperties<'a> {
    /// The manufacturer.
    pub manufacturer: &'a str,
    /// The model.
    pub model: &'a str,
    /// More properties to match compatibility on, as (name, value), written
    /// after `model`; name them in `compatPropertyNames` to use them.
    pub custom_properties: &'a [(&'a str, &'a str)],
    /// The agent's version (`aduVer`), [`super::AGENT_VERSION`] for the C
    /// SDK's.
    pub adu_version: &'a str,
    /// The Delivery Optimization agent's version (`doVer`); left out when
    /// `None` or empty, as the C SDK does.
    pub delivery_optimization_agent_version: Option<&'a str>,
}

/// One step's result (`az_iot_adu_client_step_result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepResult<'a> {
    /// The step's result (700 for an applied step, say; see
    /// [`super::result_code`]).
    pub result_code: i32,
    /// More detail, often an error code of the handler.
    pub extended_result_code: i32,
    /// Free text; `None` leaves it out (the C SDK's empty span), `Some("")`
    /// writes it empty (NetX Duo).
    pub result_details: Option<&'a str>,
}

/// The last deployment's result (`az_iot_adu_client_install_result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstallResult<'a> {
    /// The overall result.
    pub result_code: i32,
    /// More detail.
    pub extended_result_code: i32,
    /// Free text, as in [`StepResult::result_details`].
    pub result_details: Option<&'a str>,
    /// One result per step of the manifest, in its order (`step_0`, ...).
    /// `stepResults` is written even when this is empty: the service
    /// expects it with every result.
    pub step_results: &'a [StepResult<'a>],
}

/// One reported-properties message of the agent. `None` members are left
/// out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentReport<'a> {
    /// `deviceProperties`, with [`super::CONTRACT_MODEL_ID`] added.
    pub device_properties: Option<&'a DeviceProperties<'a>>,
    /// `compatPropertyNames` ([`super::DEFAULT_COMPAT_PROPERTY_NAMES`]).
    pub compat_property_names: Option<&'a str>,
    /// `state`.
    pub state: AgentState,
    /// The deployment the report is about, echoed from the request
    /// (`retryTimestamp` too, when it had one).
    pub workflow: Option<&'a Workflow<'a>>,
    /// `installedUpdateId`: the installed update's id as a JSON document
    /// (`{"provider":..,"name":..,"version":..}`), sent as a string.
    pub installed_update_id: Option<&'a str>,
    /// `lastInstallResult`.
    pub last_install_result: Option<&'a InstallResult<'a>>,
}

impl AgentReport<'_> {
    /// Writes the report into `out`; returns the length, or
    /// [`AzureError::BufferTooSmall`].
    pub fn write(&self, out: &mut [u8]) -> Result<usize, AzureError> {
        let mut w = JsonWriter::new(out);
        w.begin_object()?;
        pnp::begin_component(&mut w, COMPONENT_NAME)?;
        w.property_name(AGENT)?;
        w.begin_object()?;
        if let Some(device) = self.device_properties {
            write_device_properties(&mut w, device)?;
        }
        if let Some(names) = self.compat_property_names {
            w.property_name(COMPAT_PROPERTY_NAMES)?;
            w.string(names)?;
        }
        w.property_name(STATE)?;
        w.int32(self.state.code())?;
        if let Some(workflow) = self.workflow {
            write_workflow(&mut w, workflow)?;
        }
        if let Some(id) = self.installed_update_id {
            w.property_name(INSTALLED_UPDATE_ID)?;
            w.string(id)?;
        }
        if let Some(result) = self.last_install_result {
            write_install_result(&mut w, result)?;
        }
        w.end_object()?;
        pnp::end_component(&mut w)?;
        w.end_object()?;
        Ok(w.len())
    }
}

fn write_device_properties(
    w: &mut JsonWriter<'_>,
    device: &DeviceProperties<'_>,
) -> Result<(), AzureError> {
    w.property_name(DEVICE_PROPERTIES)?;
    w.begin_object()?;
    w.property_name(MANUFACTURER)?;
    w.string(device.manufacturer)?;
    w.property_name(MODEL)?;
    w.string(device.model)?;
    for (name, value) in device.custom_properties {
        w.property_name(name)?;
        w.string(value)?;
    }
    w.property_name(CONTRACT_MODEL_ID_NAME)?;
    w.string(CONTRACT_MODEL_ID)?;
    w.property_name(ADU_VERSION)?;
    w.string(device.adu_version)?;
    if let Some(version) = device
        .delivery_optimization_agent_version
        .filter(|v| !v.is_empty())
    {
        w.property_name(DO_VERSION)?;
        w.string(version)?;
    }
    w.end_object()
}

fn write_workflow(w: &mut JsonWriter<'_>, workflow: &Workflow<'_>) -> Result<(), AzureError> {
    w.property_name(service_member::WORKFLOW)?;
    w.begin_object()?;
    w.property_name(service_member::ACTION)?;
    w.int32(workflow.action.code())?;
    w.property_name(service_member::ID)?;
    w.string(workflow.id)?;
    if let Some(timestamp) = workflow.retry_timestamp {
        w.property_name(service_member::RETRY_TIMESTAMP)?;
        w.string(timestamp)?;
    }
    w.end_object()
}

/// The members a result and its steps share.
fn write_result_codes(
    w: &mut JsonWriter<'_>,
    result_code: i32,
    extended_result_code: i32,
    result_details: Option<&str>,
) -> Result<(), AzureError> {
    w.property_name(RESULT_CODE)?;
    w.int32(result_code)?;
    w.property_name(EXTENDED_RESULT_CODE)?;
    w.int32(extended_result_code)?;
    if let Some(details) = result_details {
        w.property_name(RESULT_DETAILS)?;
        w.string(details)?;
    }
    Ok(())
}

fn write_install_result(
    w: &mut JsonWriter<'_>,
    result: &InstallResult<'_>,
) -> Result<(), AzureError> {
    w.property_name(LAST_INSTALL_RESULT)?;
    w.begin_object()?;
    write_result_codes(
        w,
        result.result_code,
        result.extended_result_code,
        result.result_details,
    )?;
    w.property_name(STEP_RESULTS)?;
    w.begin_object()?;
    for (index, step) in result.step_results.iter().enumerate() {
        let mut key = [0u8; STEP_RESULT_KEY_PREFIX.len() + 20];
        let mut o = Out::new(&mut key);
        o.put_str(STEP_RESULT_KEY_PREFIX)?
            .put_decimal(index as u64)?;
        w.property_name(o.written_str())?;
        w.begin_object()?;
        write_result_codes(
            w,
            step.result_code,
            step.extended_result_code,
            step.result_details,
        )?;
        w.end_object()?;
    }
    w.end_object()?;
    w.end_object()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_member_in_order_and_the_buffer_bounded() {
        let device = DeviceProperties {
            manufacturer: "Contoso",
            model: "Foobar",
            custom_properties: &[("location", "US")],
            adu_version: "DU;agent/1.0.0",
            delivery_optimization_agent_version: Some("DU;lib/v0.6.0"),
        };
        let workflow = Workflow {
            action: super::super::WorkflowAction::ApplyDeployment,
            id: "w",
            retry_timestamp: Some("t"),
        };
        let steps = [StepResult {
            result_code: 700,
            extended_result_code: -1,
            result_details: None,
        }];
        let result = InstallResult {
            result_code: 700,
            extended_result_code: 0,
            result_details: Some("ok"),
            step_results: &steps,
        };
        let report = AgentReport {
            device_properties: Some(&device),
            compat_property_names: Some("manufacturer,model,location"),
            state: AgentState::DeploymentInProgress,
            workflow: Some(&workflow),
            installed_update_id: Some("{}"),
            last_install_result: Some(&result),
        };
        let mut out = [0u8; 1024];
        let n = report.write(&mut out).unwrap();
        let expected = concat!(
            r#"{"deviceUpdate":{"__t":"c","agent":{"deviceProperties":{"manufacturer":"Contoso","#,
            r#""model":"Foobar","location":"US","contractModelId":"dtmi:azure:iot:deviceUpdateContractModel;2","#,
            r#""aduVer":"DU;agent/1.0.0","doVer":"DU;lib/v0.6.0"},"compatPropertyNames":"manufacturer,model,location","#,
            r#""state":6,"workflow":{"action":3,"id":"w","retryTimestamp":"t"},"installedUpdateId":"{}","#,
            r#""lastInstallResult":{"resultCode":700,"extendedResultCode":0,"resultDetails":"ok","#,
            r#""stepResults":{"step_0":{"resultCode":700,"extendedResultCode":-1}}}}}}"#,
        );
        assert_eq!(core::str::from_utf8(&out[..n]).unwrap(), expected);
        for short in 0..n {
            assert_eq!(
                report.write(&mut out[..short]),
                Err(AzureError::BufferTooSmall)
            );
        }
    }
}
