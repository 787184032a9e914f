//! A device twin's two property documents, each with its own `$version`
//! (<https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-device-twins>):
//! desired properties written by the solution, reported properties by the
//! device. Patches merge as the hub does: members replace members, nested
//! objects merge, `null` deletes.

use serde_json::{Map, Value};

const VERSION: &str = "$version";

/// One device's twin.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Twin {
    desired: Map<String, Value>,
    desired_version: u64,
    reported: Map<String, Value>,
    reported_version: u64,
}

/// Why a patch was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchError {
    /// Not a JSON object.
    NotAnObject,
    /// A member name the twin reserves (`$...`).
    ReservedName,
}

impl Default for Twin {
    /// A new device's twin: both documents empty at version 1, as the hub
    /// creates them.
    fn default() -> Self {
        Twin {
            desired: Map::new(),
            desired_version: 1,
            reported: Map::new(),
            reported_version: 1,
        }
    }
}

impl Twin {
    /// The document a twin GET answers:
    /// `{"desired":{...,"$version":N},"reported":{...,"$version":M}}`.
    pub(crate) fn document(&self) -> Value {
        serde_json::json!({
            "desired": self.desired(),
            "reported": self.reported(),
        })
    }

    /// The desired properties with their `$version`.
    pub(crate) fn desired(&self) -> Value {
        versioned(&self.desired, self.desired_version)
    }

    /// The reported properties with their `$version`.
    pub(crate) fn reported(&self) -> Value {
        versioned(&self.reported, self.reported_version)
    }

    /// Merges a device's reported-properties patch; the new reported
    /// version.
    pub(crate) fn patch_reported(&mut self, patch: &Value) -> Result<u64, PatchError> {
        merge_checked(&mut self.reported, patch)?;
        self.reported_version += 1;
        Ok(self.reported_version)
    }

    /// Merges a solution's desired-properties patch; the new desired
    /// version.
    pub(crate) fn patch_desired(&mut self, patch: &Value) -> Result<u64, PatchError> {
        merge_checked(&mut self.desired, patch)?;
        self.desired_version += 1;
        Ok(self.desired_version)
    }
}

fn versioned(properties: &Map<String, Value>, version: u64) -> Value {
    let mut document = properties.clone();
    document.insert(VERSION.to_owned(), Value::from(version));
    Value::Object(document)
}

fn merge_checked(target: &mut Map<String, Value>, patch: &Value) -> Result<(), PatchError> {
    let patch = patch.as_object().ok_or(PatchError::NotAnObject)?;
    if patch.keys().any(|name| name.starts_with('$')) {
        return Err(PatchError::ReservedName);
    }
    merge(target, patch);
    Ok(())
}

/// JSON merge patch (RFC 7396 §2), which is what twin patches are.
fn merge(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (name, value) in patch {
        match value {
            Value::Null => {
                target.remove(name);
            }
            Value::Object(inner) => {
                let slot = target
                    .entry(name.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(existing) = slot {
                    merge(existing, inner);
                }
            }
            other => {
                target.insert(name.clone(), other.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patches_merge_delete_and_bump_versions() {
        let mut twin = Twin::default();
        assert_eq!(
            twin.document(),
            json!({"desired":{"$version":1},"reported":{"$version":1}})
        );
        let v = twin
            .patch_reported(&json!({"a":1,"nested":{"x":1,"y":2},"gone":true}))
            .unwrap();
        assert_eq!(v, 2);
        let v = twin
            .patch_reported(&json!({"nested":{"y":null,"z":3},"gone":null,"a":{"now":"object"}}))
            .unwrap();
        assert_eq!(v, 3);
        assert_eq!(
            twin.reported(),
            json!({"a":{"now":"object"},"nested":{"x":1,"z":3},"$version":3})
        );
        assert_eq!(twin.patch_desired(&json!({"t":20})), Ok(2));
        assert_eq!(twin.desired(), json!({"t":20,"$version":2}));
    }

    #[test]
    fn bad_patches_change_nothing() {
        let mut twin = Twin::default();
        assert_eq!(
            twin.patch_reported(&json!([1])),
            Err(PatchError::NotAnObject)
        );
        assert_eq!(
            twin.patch_reported(&json!({"$version":7})),
            Err(PatchError::ReservedName)
        );
        assert_eq!(twin, Twin::default());
    }
}
