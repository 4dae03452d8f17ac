//! Terraform provider for Redis Cloud "Bring Your Own Account" cloud accounts,
//! and a local emulator of the Redis Cloud API it is tested against.
//!
//! The crate is layered; each layer only knows the ones below it:
//! - [`wire`]: the go-plugin handshake, gRPC services and logging (no Redis knowledge);
//! - [`framework`]: values, schemas, plan and apply rules, diagnostics (no Redis knowledge);
//! - [`provider`]: the `rediscloud_cloud_account` resource and data source;
//! - [`client`]: the Redis Cloud REST client (no Terraform types);
//! - [`emulator`]: the Redis Cloud API emulator, which shares no code with [`client`].

pub mod client;
pub mod emulator;
pub mod framework;
pub mod provider;
pub mod wire;
