//! `terraform-provider-rediscloud`: the provider binary Terraform launches.

use std::process::ExitCode;

use clap::Parser;
use terraform_provider_rediscloud::provider::RedisCloudProvider;
use tfplugin::framework::server::{FrameworkServer, in_request, terminate};
use tfplugin::wire::logging::LogOptions;
use tfplugin::wire::{ServeOptions, run};

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
            log: LogOptions {
                level_var: "TF_LOG_PROVIDER_REDISCLOUD",
                crates: &["terraform_provider_rediscloud", "rediscloud_api"],
            },
            debug: args.debug,
            recovered_panic: in_request,
            on_terminate: terminate,
        },
    )
}
