//! The provider framework: cty values and their wire codecs, schemas,
//! diagnostics, resource, data-source and list-resource traits, and the plan/apply rules.
//! It knows nothing of any provider.

pub mod data_source;
pub mod diag;
pub mod docs;
pub mod json;
pub mod list_resource;
pub mod model;
pub mod msgpack;
pub mod path;
pub(crate) mod plan;
pub mod private;
pub mod provider;
pub mod resource;
pub mod schema;
pub mod server;
pub(crate) mod type_json;
pub mod value;
