//! Generated gRPC/protobuf code: `tfplugin6` (Terraform's provider protocol) and
//! `plugin` (go-plugin's controller, stdio and broker services).

/// Terraform plugin protocol 6 (see `proto/tfplugin6.proto`).
#[allow(missing_docs, clippy::all, clippy::pedantic, clippy::nursery, rust_2018_idioms)]
#[rustfmt::skip]
pub mod tfplugin6 {
    tonic::include_proto!("tfplugin6");
}

/// go-plugin's own services (see `proto/plugin.proto`).
#[allow(missing_docs, clippy::all, clippy::pedantic, clippy::nursery, rust_2018_idioms)]
#[rustfmt::skip]
pub mod plugin {
    tonic::include_proto!("plugin");
}
