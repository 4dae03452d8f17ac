//! The wire layer: go-plugin handshake, AutoMTLS, gRPC services and hclog-shaped logging. It
//! knows no provider: the provider's address and log names come in [`ServeOptions`].
//!
//! Entry points: [`run`] for `main`, or [`serve`] inside an existing runtime; wrap the
//! [`Provider`](proto::tfplugin6::provider_server::Provider) implementation with
//! [`provider_service`].
#![deny(clippy::print_stdout)]

pub(crate) mod handshake;
pub mod logging;
pub mod proto;
mod serve;
pub(crate) mod tls;

#[cfg(test)]
mod tests;

use std::process::ExitCode;

pub use serve::{MAX_MESSAGE_SIZE, ServeOptions, provider_service, serve};

use proto::tfplugin6::provider_server::Provider;

/// Why the plugin server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// No (or a wrong) magic cookie: a human ran the binary.
    #[error("not launched by Terraform (no magic cookie): Terraform starts a provider itself")]
    NotLaunchedByTerraform,
    /// `PLUGIN_PROTOCOL_VERSIONS` does not include 6.
    #[error(
        "this provider speaks plugin protocol 6 only, but the client offered {offered:?}; \
         use Terraform 1.0 or later (or OpenTofu)"
    )]
    NoCommonProtocol {
        /// The client's list, verbatim.
        offered: String,
    },
    /// The TCP port range is unusable or exhausted.
    #[error("TCP listener: {0}")]
    PortRange(String),
    /// `PLUGIN_CLIENT_CERT` could not be used.
    #[error("AutoMTLS client certificate: {0}")]
    ClientCert(String),
    /// Generating the server certificate failed.
    #[error("generating the server certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// Building the TLS configuration failed.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// Listening or another OS-level operation failed.
    #[error("I/O: {0}")]
    Io(#[source] std::io::Error),
    /// Writing the handshake line failed (Terraform closed our stdout?).
    #[error("writing the handshake to stdout: {0}")]
    Stdout(#[source] std::io::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[source] tonic::transport::Error),
}

/// Most worker threads the runtime starts. Every RPC is short and mostly waits on the network,
/// so a few threads serve Terraform's whole `-parallelism`; each one more costs about 0.09 ms of
/// start-up (measured with `TOKIO_WORKER_THREADS`: 3.95 ms with 2, 5.29 ms with 16, 8.54 ms
/// with 64), and Terraform starts several provider processes per command.
const MAX_WORKER_THREADS: usize = 4;

/// The runtime's worker threads on a machine with `cores` cores: `TOKIO_WORKER_THREADS` (`env`)
/// when it is a positive integer, otherwise at most [`MAX_WORKER_THREADS`]. Setting the count
/// here keeps the runtime from reading the variable itself, which panics on any other value.
fn worker_threads(env: Option<&std::ffi::OsStr>, cores: usize) -> usize {
    env.and_then(|v| v.to_str())
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| cores.clamp(1, MAX_WORKER_THREADS))
}

/// Runs the provider process to completion: installs the panic hook and logging, builds
/// the tokio runtime, serves, and returns the exit status for `main`.
///
/// Errors go to stderr as plain text (Terraform shows the plugin's stderr when the
/// handshake fails).
pub fn run<S: Provider>(provider: S, opts: ServeOptions) -> ExitCode {
    logging::install_panic_hook(opts.recovered_panic);
    logging::init_from_env(opts.log);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    builder.worker_threads(worker_threads(
        std::env::var_os("TOKIO_WORKER_THREADS").as_deref(),
        cores,
    ));
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(serve(provider_service(provider), opts));
    // Do not wait for stray blocking tasks: Terraform kills us 2 s after Shutdown anyway.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(WireError::NotLaunchedByTerraform) => {
            eprintln!(
                "{}",
                handshake::not_launched_by_terraform(opts.provider_address)
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            tracing::error!(error = %e, "provider server failed: {e}");
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}
