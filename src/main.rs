//! `terraform-provider-rediscloud`: the provider binary Terraform launches.
//!
//! Wiring only: the provider behind the wire layer is a minimal placeholder until the
//! framework layer supplies the real one (every RPC answers gRPC Unimplemented).

use std::process::ExitCode;

use clap::Parser;
use rediscloud_tf::wire::{self, ServeOptions};

/// Terraform provider for Redis Cloud. Terraform starts this binary itself.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Serve without TLS and print a TF_REATTACH_PROVIDERS value for debugging.
    #[arg(long)]
    debug: bool,
}

/// The provider implementation served until the framework layer provides one.
struct PlaceholderProvider;

impl wire::proto::tfplugin6::provider_server::Provider for PlaceholderProvider {}

fn main() -> ExitCode {
    let args = Args::parse();
    wire::run(
        PlaceholderProvider,
        ServeOptions {
            provider_address: "registry.terraform.io/redislabs/rediscloud",
            debug: args.debug,
        },
    )
}
