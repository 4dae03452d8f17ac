//! `terraform-provider-rediscloud`: the provider binary Terraform launches.

use std::process::ExitCode;

use clap::Parser;
use rediscloud_tf::framework::server::{FrameworkServer, in_request, terminate};
use rediscloud_tf::provider::RedisCloudProvider;
use rediscloud_tf::wire::{ServeOptions, run};

/// Terraform provider for Redis Cloud BYOA cloud accounts.
///
/// Terraform starts this program itself; running it by hand only makes sense
/// with --debug, which serves a provider that Terraform attaches to through
/// TF_REATTACH_PROVIDERS.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Serve for a debugger: print TF_REATTACH_PROVIDERS and wait for Terraform.
    /// REDISCLOUD_URL, REDISCLOUD_ACCESS_KEY, REDISCLOUD_SECRET_KEY and TF_LOG*
    /// are then read from this shell, not from the shell running Terraform.
    #[arg(long)]
    debug: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    run(
        FrameworkServer::new(RedisCloudProvider::new()),
        ServeOptions {
            provider_address: "registry.terraform.io/redislabs/rediscloud",
            debug: args.debug,
            recovered_panic: in_request,
            on_terminate: terminate,
        },
    )
}
