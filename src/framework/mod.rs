//! The provider framework: cty values and their wire codecs, schemas,
//! diagnostics, resource and data-source traits, and the plan/apply rules.
//! It knows nothing of Redis Cloud.

pub mod json;
pub mod msgpack;
pub mod type_json;
pub mod value;
