//! The gRPC face of the framework: implements Terraform's `tfplugin6.Provider`
//! service on top of a [`Provider`], converting wire types to framework types
//! and back. Every failure is answered as a diagnostic, never as a gRPC error,
//! and a panic inside a request becomes an error diagnostic instead of a crash.
//!
//! This file holds the server itself (type registry, request wrapper, panic
//! recovery) and hands each RPC to the file of its family, as
//! terraform-plugin-framework's `fwserver` does: `schema.rs` (schema and
//! metadata), `provider_config.rs` (provider configuration), `resource.rs`
//! (resource lifecycle), `data_source.rs` (data sources), `import.rs` (import,
//! identity and configuration generation), `list.rs` (list resources);
//! `convert.rs` converts between wire and framework types.

mod convert;
mod data_source;
mod import;
mod list;
mod provider_config;
mod resource;
mod schema;
#[cfg(test)]
mod tests;

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use futures::FutureExt;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::data_source::DataSource;
use super::diag::{Diagnostic, Diagnostics, Severity};
use super::list_resource::ListResource;
use super::provider::Provider;
use super::resource::AnyResource;
use super::schema::Schema;
use crate::wire::proto::tfplugin6 as pb;
use convert::to_pb_diag;

type DynResource<D> = Arc<dyn AnyResource<Data = D>>;
type DynDataSource<D> = Arc<dyn DataSource<Data = D>>;
type DynListResource<D> = Arc<dyn ListResource<Data = D>>;

/// Serves a [`Provider`] over Terraform's plugin protocol 6.
pub struct FrameworkServer<P: Provider> {
    provider: P,
    provider_schema: Schema,
    resources: HashMap<&'static str, (DynResource<P::Data>, Schema)>,
    data_sources: HashMap<&'static str, (DynDataSource<P::Data>, Schema)>,
    list_resources: HashMap<&'static str, (DynListResource<P::Data>, Schema)>,
    data: RwLock<Option<Arc<P::Data>>>,
    stop: Mutex<CancellationToken>,
    next_request: AtomicU64,
}

impl<P: Provider> std::fmt::Debug for FrameworkServer<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameworkServer")
            .field("provider", &self.provider.type_name())
            .finish_non_exhaustive()
    }
}

/// Cancelled on SIGTERM: the parent of every server's StopProvider token.
static TERMINATE: std::sync::LazyLock<CancellationToken> =
    std::sync::LazyLock::new(CancellationToken::new);

/// Cancels every in-flight operation of every server in this process, as StopProvider does
/// (the process is being terminated).
pub fn terminate() {
    TERMINATE.cancel();
}

thread_local! {
    static IN_REQUEST: Cell<bool> = const { Cell::new(false) };
}

/// True while the current thread is running a provider request; the panic
/// hook uses it to tell a recovered request panic from a real crash.
pub fn in_request() -> bool {
    IN_REQUEST.with(Cell::get)
}

/// Marks the thread as "inside a request" while the wrapped future is polled.
struct InRequest<F>(F);

impl<F: Future + Unpin> Future for InRequest<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let was = IN_REQUEST.with(|c| c.replace(true));
        let out = Pin::new(&mut self.0).poll(cx);
        IN_REQUEST.with(|c| c.set(was));
        out
    }
}

/// Responses that can carry diagnostics.
trait WithDiagnostics: Default {
    fn add(&mut self, diags: Vec<pb::Diagnostic>);
}

macro_rules! with_diagnostics {
    ($($ty:ty),* $(,)?) => {$(
        impl WithDiagnostics for $ty {
            fn add(&mut self, diags: Vec<pb::Diagnostic>) {
                self.diagnostics.extend(diags);
            }
        }
    )*};
}

with_diagnostics!(
    pb::get_metadata::Response,
    pb::get_provider_schema::Response,
    pb::get_resource_identity_schemas::Response,
    pb::validate_provider_config::Response,
    pb::configure_provider::Response,
    pb::validate_resource_config::Response,
    pb::upgrade_resource_state::Response,
    pb::upgrade_resource_identity::Response,
    pb::read_resource::Response,
    pb::plan_resource_change::Response,
    pb::apply_resource_change::Response,
    pb::import_resource_state::Response,
    pb::validate_data_resource_config::Response,
    pb::read_data_source::Response,
    pb::generate_resource_config::Response,
    pb::validate_list_resource_config::Response,
);

impl<P: Provider> FrameworkServer<P> {
    /// Wraps `provider`. Schemas are built once here, as Terraform asks for
    /// them at the start of every process.
    pub fn new(provider: P) -> Self {
        let provider_schema = provider.schema();
        let resources: HashMap<_, (DynResource<P::Data>, Schema)> = provider
            .resources()
            .into_iter()
            .map(|r| {
                let s = r.schema();
                (r.type_name(), (r, s))
            })
            .collect();
        let data_sources = provider
            .data_sources()
            .into_iter()
            .map(|d| {
                let s = d.schema();
                (d.type_name(), (d, s))
            })
            .collect();
        let list_resources: HashMap<_, _> = provider
            .list_resources()
            .into_iter()
            .map(|l| {
                let s = l.schema();
                (l.type_name(), (l, s))
            })
            .collect();
        for name in list_resources.keys() {
            let identity = resources.get(name).and_then(|(r, _)| r.identity_schema());
            // Terraform rejects the whole provider schema otherwise; fail where the bug is.
            assert!(
                identity.is_some(),
                "list resource {name} needs a managed resource of the same type with an identity schema"
            );
        }
        FrameworkServer {
            provider,
            provider_schema,
            resources,
            data_sources,
            list_resources,
            data: RwLock::new(None),
            stop: Mutex::new(TERMINATE.child_token()),
            next_request: AtomicU64::new(1),
        }
    }

    /// The provider block schema.
    pub fn provider_schema(&self) -> &Schema {
        &self.provider_schema
    }

    /// Resource schemas by type name.
    pub fn resource_schemas(&self) -> impl Iterator<Item = (&'static str, &Schema)> {
        self.resources.iter().map(|(k, (_, s))| (*k, s))
    }

    /// Data source schemas by type name.
    pub fn data_source_schemas(&self) -> impl Iterator<Item = (&'static str, &Schema)> {
        self.data_sources.iter().map(|(k, (_, s))| (*k, s))
    }

    /// List resource `config` block schemas by type name.
    pub fn list_resource_schemas(&self) -> impl Iterator<Item = (&'static str, &Schema)> {
        self.list_resources.iter().map(|(k, (_, s))| (*k, s))
    }

    fn stop_token(&self) -> CancellationToken {
        match self.stop.lock() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// What configuring the provider produced, if it succeeded.
    fn data(&self) -> Option<Arc<P::Data>> {
        match self.data.read() {
            Ok(d) => d.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn configured(&self, diags: &mut Diagnostics) -> Option<Arc<P::Data>> {
        let data = self.data();
        if data.is_none() {
            diags.error(
                "Provider Not Configured",
                "Terraform did not configure the provider before this operation, or configuring it failed (see the errors above).",
            );
        }
        data
    }

    fn resource(
        &self,
        name: &str,
        diags: &mut Diagnostics,
    ) -> Option<&(DynResource<P::Data>, Schema)> {
        let r = self.resources.get(name);
        if r.is_none() {
            diags.error(
                "Unknown Resource Type",
                format!("This provider has no resource type {name:?}."),
            );
        }
        r
    }

    fn data_source(
        &self,
        name: &str,
        diags: &mut Diagnostics,
    ) -> Option<&(DynDataSource<P::Data>, Schema)> {
        let d = self.data_sources.get(name);
        if d.is_none() {
            diags.error(
                "Unknown Data Source Type",
                format!("This provider has no data source type {name:?}."),
            );
        }
        d
    }

    fn list_resource(
        &self,
        name: &str,
        diags: &mut Diagnostics,
    ) -> Option<&(DynListResource<P::Data>, Schema)> {
        let l = self.list_resources.get(name);
        if l.is_none() {
            diags.error(
                "Unknown List Resource Type",
                format!("This provider has no list resource type {name:?}."),
            );
        }
        l
    }

    /// Runs one request: a log span, timing, and panic recovery. The body
    /// returns its response and the diagnostics to attach to it.
    async fn serve<R, F>(
        &self,
        rpc: &'static str,
        type_name: &str,
        body: F,
    ) -> Result<Response<R>, Status>
    where
        R: WithDiagnostics,
        F: Future<Output = (R, Diagnostics)> + Send,
    {
        let req_id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let span = tracing::debug_span!(
            "rpc",
            tf_rpc = rpc,
            tf_resource_type = type_name,
            tf_req_id = req_id
        );
        let started = Instant::now();
        let fut = Box::pin(AssertUnwindSafe(body).catch_unwind());
        let result = InRequest(fut).instrument(span.clone()).await;
        let _enter = span.enter();
        let resp = match result {
            Ok((mut r, diags)) => {
                r.add(convert::to_pb_diags(&diags));
                r
            }
            Err(panic) => {
                let msg = panic_message(panic.as_ref());
                tracing::error!(panic = %msg, "request {rpc} panicked: {msg}; answered with an error diagnostic");
                let mut r = R::default();
                r.add(vec![to_pb_diag(&Diagnostic {
                    severity: Severity::Error,
                    summary: "Provider Internal Error".to_owned(),
                    detail: format!("The provider hit a bug while handling {rpc}: {msg}. Please report it, with the Terraform command you ran."),
                    attribute: None,
                })]);
                r
            }
        };
        let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        let of = if type_name.is_empty() {
            String::new()
        } else {
            format!(" for {type_name}")
        };
        tracing::debug!(elapsed_ms, "served request {rpc}{of} in {elapsed_ms:.1} ms");
        Ok(Response::new(resp))
    }
}

pub(super) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

// ------------------------------------------------------------ the service

#[tonic::async_trait]
impl<P: Provider> pb::provider_server::Provider for FrameworkServer<P> {
    async fn get_metadata(
        &self,
        request: Request<pb::get_metadata::Request>,
    ) -> Result<Response<pb::get_metadata::Response>, Status> {
        self.handle_get_metadata(request).await
    }

    async fn get_provider_schema(
        &self,
        request: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        self.handle_get_provider_schema(request).await
    }

    async fn get_resource_identity_schemas(
        &self,
        request: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Result<Response<pb::get_resource_identity_schemas::Response>, Status> {
        self.handle_get_resource_identity_schemas(request).await
    }

    async fn validate_provider_config(
        &self,
        request: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        self.handle_validate_provider_config(request).await
    }

    async fn configure_provider(
        &self,
        request: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        self.handle_configure_provider(request).await
    }

    async fn stop_provider(
        &self,
        request: Request<pb::stop_provider::Request>,
    ) -> Result<Response<pb::stop_provider::Response>, Status> {
        self.handle_stop_provider(request).await
    }

    async fn validate_resource_config(
        &self,
        request: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        self.handle_validate_resource_config(request).await
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        self.handle_upgrade_resource_state(request).await
    }

    async fn upgrade_resource_identity(
        &self,
        request: Request<pb::upgrade_resource_identity::Request>,
    ) -> Result<Response<pb::upgrade_resource_identity::Response>, Status> {
        self.handle_upgrade_resource_identity(request).await
    }

    async fn read_resource(
        &self,
        request: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        self.handle_read_resource(request).await
    }

    async fn plan_resource_change(
        &self,
        request: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        self.handle_plan_resource_change(request).await
    }

    async fn apply_resource_change(
        &self,
        request: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        self.handle_apply_resource_change(request).await
    }

    async fn import_resource_state(
        &self,
        request: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        self.handle_import_resource_state(request).await
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        self.handle_validate_data_resource_config(request).await
    }

    async fn read_data_source(
        &self,
        request: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        self.handle_read_data_source(request).await
    }

    async fn generate_resource_config(
        &self,
        request: Request<pb::generate_resource_config::Request>,
    ) -> Result<Response<pb::generate_resource_config::Response>, Status> {
        self.handle_generate_resource_config(request).await
    }

    async fn validate_list_resource_config(
        &self,
        request: Request<pb::validate_list_resource_config::Request>,
    ) -> Result<Response<pb::validate_list_resource_config::Response>, Status> {
        self.handle_validate_list_resource_config(request).await
    }

    async fn list_resource(
        &self,
        request: Request<pb::list_resource::Request>,
    ) -> Result<Response<tonic::codegen::BoxStream<pb::list_resource::Event>>, Status> {
        self.handle_list_resource(request).await
    }
}
