//! Terraform's plugin protocol 6 (up to 6.11) for providers written in Rust.
//!
//! Two layers, each knowing only the one below it, and nothing of any provider:
//! - [`wire`]: the go-plugin handshake with AutoMTLS, the gRPC server, and hclog logging;
//! - [`framework`]: cty values and their codecs, schemas from typed models, plan rules,
//!   diagnostics, and the traits a provider implements (resources, data sources, list
//!   resources), served over [`wire`] by [`framework::server::FrameworkServer`].
//!
//! A provider implements [`framework::provider::Provider`] and calls [`wire::run`] from `main`
//! with its own [`wire::ServeOptions`]: the registry address, the level variable and the crates
//! whose logs are its own. `examples/hello_provider.rs` is a whole provider in under 100 lines.

pub mod framework;
pub mod wire;
