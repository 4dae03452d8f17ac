//! Private state: the bytes Terraform keeps beside a resource instance's state and hands back
//! unread. A resource keeps a JSON object there, one value per key, that users never see.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

/// A resource instance's private state.
#[derive(Clone, Default, PartialEq)]
pub struct PrivateState {
    map: Map<String, Json>,
}

impl PrivateState {
    /// Reads what Terraform handed back. Bytes that are not a JSON object (another provider's,
    /// or none) read as empty: private state is never worth failing an operation over.
    pub fn decode(bytes: &[u8]) -> Self {
        match serde_json::from_slice::<Json>(bytes) {
            Ok(Json::Object(map)) => PrivateState { map },
            Ok(_) => PrivateState::default(),
            Err(_) if bytes.is_empty() => PrivateState::default(),
            Err(_) => {
                tracing::warn!(
                    bytes = bytes.len(),
                    "the private state is not a JSON object; it is ignored"
                );
                PrivateState::default()
            }
        }
    }

    /// What Terraform stores: nothing when empty.
    pub fn encode(&self) -> Vec<u8> {
        if self.map.is_empty() {
            return Vec::new();
        }
        serde_json::to_vec(&self.map).unwrap_or_default()
    }

    /// The value under `key`, if there is one of type `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.map
            .get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// Sets `key` to `value`.
    pub fn set<T: Serialize>(&mut self, key: &str, value: &T) {
        if let Ok(v) = serde_json::to_value(value) {
            self.map.insert(key.to_owned(), v);
        }
    }

    pub fn remove(&mut self, key: &str) {
        self.map.remove(key);
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Only the keys: a resource may keep anything there.
impl fmt::Debug for PrivateState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.map.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_foreign_bytes_read_as_empty() {
        let mut p = PrivateState::default();
        assert!(p.encode().is_empty());
        p.set("created_at_ms", &42u64);
        let back = PrivateState::decode(&p.encode());
        assert_eq!(back.get::<u64>("created_at_ms"), Some(42));
        assert_eq!(back.get::<String>("created_at_ms"), None);
        assert_eq!(PrivateState::decode(b"\x00\x01"), PrivateState::default());
        assert_eq!(PrivateState::decode(b"[1]"), PrivateState::default());
        assert_eq!(format!("{back:?}"), r#"{"created_at_ms"}"#);
    }
}
