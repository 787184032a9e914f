//! The golden vectors (`tests/vectors.json`, from azure-sdk-for-c and NetX
//! Duo's tests; see its `meta`), by area.

use serde_json::Value;

/// Every vector whose `area` is `area`; fails if there is none, so a typo
/// cannot make a golden test pass vacuously.
pub fn vectors(area: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors.json"))
        .expect("tests/vectors.json");
    let all: Value = serde_json::from_str(&text).expect("vectors.json is JSON");
    let found: Vec<Value> = all["vectors"]
        .as_array()
        .expect("a vector list")
        .iter()
        .filter(|v| v["area"] == area)
        .cloned()
        .collect();
    assert!(!found.is_empty(), "no vectors for area {area}");
    found
}

/// A string field, `None` for null or absent.
#[allow(dead_code)]
pub fn text<'v>(value: &'v Value, field: &str) -> Option<&'v str> {
    value.get(field).and_then(Value::as_str)
}
