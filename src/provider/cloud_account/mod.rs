//! `rediscloud_cloud_account`: the BYOA cloud account resource, its data
//! source and list resource, and the schema and state mapping they share.

pub mod data_source;
pub mod list_resource;
pub mod model;
pub mod resource;
