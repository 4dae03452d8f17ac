//! The gRPC face of the framework: implements Terraform's `tfplugin6.Provider`
//! service on top of a [`Provider`], converting wire types to framework types
//! and back. Every failure is answered as a diagnostic, never as a gRPC error,
//! and a panic inside a request becomes an error diagnostic instead of a crash.

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

use super::data_source::{DataSource, DataSourceReadRequest};
use super::diag::{Diagnostic, Diagnostics, Severity};
use super::path::{AttributePath, PathStep};
use super::plan::{finish_state, plan_change};
use super::provider::{ConfigureRequest, Provider};
use super::resource::{
    Checkpoint, CreateRequest, DeleteRequest, ImportRequest, PlanRequest, ReadOutcome, ReadRequest,
    Resource, UpdateRequest,
};
use super::schema::{Block, IdentitySchema, Nesting, Presence, Schema};
use super::value::{Type, Value};
use super::{json, msgpack};
use crate::wire::proto::tfplugin6 as pb;

type DynResource<D> = Arc<dyn Resource<Data = D>>;
type DynDataSource<D> = Arc<dyn DataSource<Data = D>>;

/// Serves a [`Provider`] over Terraform's plugin protocol 6.
pub struct FrameworkServer<P: Provider> {
    provider: P,
    provider_schema: Schema,
    resources: HashMap<&'static str, (DynResource<P::Data>, Schema)>,
    data_sources: HashMap<&'static str, (DynDataSource<P::Data>, Schema)>,
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
);

impl<P: Provider> FrameworkServer<P> {
    /// Wraps `provider`. Schemas are built once here, as Terraform asks for
    /// them at the start of every process.
    pub fn new(provider: P) -> Self {
        let provider_schema = provider.schema();
        let resources = provider
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
        FrameworkServer {
            provider,
            provider_schema,
            resources,
            data_sources,
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

    fn stop_token(&self) -> CancellationToken {
        match self.stop.lock() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn configured(&self, diags: &mut Diagnostics) -> Option<Arc<P::Data>> {
        let data = match self.data.read() {
            Ok(d) => d.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
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
                r.add(to_pb_diags(&diags));
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

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

// ------------------------------------------------------------ conversions

fn decode_dv(
    dv: Option<&pb::DynamicValue>,
    ty: &Type,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<Value> {
    let Some(dv) = dv else {
        return Some(Value::Null);
    };
    let decoded = if !dv.msgpack.is_empty() {
        msgpack::decode(&dv.msgpack, ty).map_err(|e| e.to_string())
    } else if !dv.json.is_empty() {
        json::decode(&dv.json, ty, json::UnknownAttributes::Reject).map_err(|e| e.to_string())
    } else {
        Ok(Value::Null)
    };
    match decoded {
        Ok(v) => Some(v),
        Err(e) => {
            diags.error(
                "Invalid Value From Terraform",
                format!("The provider could not decode the {what} Terraform sent: {e}"),
            );
            None
        }
    }
}

fn encode_dv(
    v: &Value,
    ty: &Type,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<pb::DynamicValue> {
    match msgpack::encode(v, ty) {
        Ok(bytes) => Some(pb::DynamicValue {
            msgpack: bytes,
            json: Vec::new(),
        }),
        Err(e) => {
            diags.error(
                "Provider Internal Error",
                format!(
                    "The provider produced a {what} it could not encode: {e}. Please report this."
                ),
            );
            None
        }
    }
}

fn to_pb_path(p: &AttributePath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    pb::AttributePath {
        steps: p
            .steps
            .iter()
            .map(|s| pb::attribute_path::Step {
                selector: Some(match s {
                    PathStep::Attribute(a) => Selector::AttributeName(a.clone()),
                    PathStep::ElementKeyString(k) => Selector::ElementKeyString(k.clone()),
                    PathStep::ElementKeyInt(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

fn to_pb_diag(d: &Diagnostic) -> pb::Diagnostic {
    pb::Diagnostic {
        severity: match d.severity {
            Severity::Error => pb::diagnostic::Severity::Error as i32,
            Severity::Warning => pb::diagnostic::Severity::Warning as i32,
        },
        summary: d.summary.clone(),
        detail: d.detail.clone(),
        attribute: d.attribute.as_ref().map(to_pb_path),
    }
}

fn to_pb_diags(d: &Diagnostics) -> Vec<pb::Diagnostic> {
    d.iter().map(to_pb_diag).collect()
}

fn to_pb_block(b: &Block) -> pb::schema::Block {
    pb::schema::Block {
        version: 0,
        attributes: b
            .attributes
            .iter()
            .map(|a| pb::schema::Attribute {
                name: a.name.to_owned(),
                r#type: a.ty.to_json().into_bytes(),
                nested_type: None,
                description: a.description.clone(),
                required: a.presence == Presence::Required,
                optional: matches!(a.presence, Presence::Optional | Presence::OptionalComputed),
                computed: a.is_computed(),
                sensitive: a.sensitive,
                description_kind: pb::StringKind::Markdown as i32,
                deprecated: false,
                write_only: a.write_only,
                deprecation_message: String::new(),
            })
            .collect(),
        block_types: b
            .blocks
            .iter()
            .map(|nb| pb::schema::NestedBlock {
                type_name: nb.name.to_owned(),
                block: Some(to_pb_block(&nb.block)),
                nesting: match nb.nesting {
                    Nesting::Single => pb::schema::nested_block::NestingMode::Single,
                    Nesting::List => pb::schema::nested_block::NestingMode::List,
                    Nesting::Set => pb::schema::nested_block::NestingMode::Set,
                } as i32,
                min_items: 0,
                // Terraform requires min = max for SINGLE: 0/0 means optional.
                max_items: 0,
            })
            .collect(),
        description: b.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: false,
        deprecation_message: String::new(),
        computed: false,
    }
}

fn to_pb_schema(s: &Schema) -> pb::Schema {
    pb::Schema {
        version: s.version,
        block: Some(to_pb_block(&s.block)),
    }
}

fn identity_type(s: &IdentitySchema) -> Type {
    Type::Object(
        s.attributes
            .iter()
            .map(|a| (a.name.to_owned(), a.ty.clone()))
            .collect(),
    )
}

fn to_pb_identity_schema(s: &IdentitySchema) -> pb::ResourceIdentitySchema {
    pb::ResourceIdentitySchema {
        version: s.version,
        identity_attributes: s
            .attributes
            .iter()
            .map(|a| pb::resource_identity_schema::IdentityAttribute {
                name: a.name.to_owned(),
                r#type: a.ty.to_json().into_bytes(),
                required_for_import: a.required_for_import,
                optional_for_import: !a.required_for_import,
                description: a.description.clone(),
            })
            .collect(),
    }
}

fn identity_data<D: Send + Sync + 'static>(
    resource: &DynResource<D>,
    state: &Value,
    diags: &mut Diagnostics,
) -> Option<pb::ResourceIdentityData> {
    let schema = resource.identity_schema()?;
    let identity = resource.identity(state)?;
    let dv = encode_dv(
        &identity,
        &identity_type(&schema),
        "resource identity",
        diags,
    )?;
    Some(pb::ResourceIdentityData {
        identity_data: Some(dv),
    })
}

fn write_only_unsupported(
    schema: &Schema,
    config: &Value,
    caps: Option<&pb::ClientCapabilities>,
    diags: &mut Diagnostics,
) {
    if caps.is_some_and(|c| c.write_only_attributes_allowed) {
        return;
    }
    for name in schema.block.write_only_set(config) {
        diags.attribute_error(
            AttributePath::root(name),
            "Write-only Attribute Not Allowed",
            format!("`{name}` is write-only, and write-only attributes are only supported in Terraform 1.11 and later. Upgrade Terraform, or use the attribute's plain form."),
        );
    }
}

// ------------------------------------------------------------ the service

#[tonic::async_trait]
impl<P: Provider> pb::provider_server::Provider for FrameworkServer<P> {
    async fn get_metadata(
        &self,
        _request: Request<pb::get_metadata::Request>,
    ) -> Result<Response<pb::get_metadata::Response>, Status> {
        self.serve("GetMetadata", "", async {
            (
                pb::get_metadata::Response {
                    server_capabilities: Some(server_capabilities()),
                    resources: self
                        .resources
                        .keys()
                        .map(|k| pb::get_metadata::TypeName {
                            type_name: (*k).to_owned(),
                        })
                        .collect(),
                    data_sources: self
                        .data_sources
                        .keys()
                        .map(|k| pb::get_metadata::TypeName {
                            type_name: (*k).to_owned(),
                        })
                        .collect(),
                    ..Default::default()
                },
                Diagnostics::new(),
            )
        })
        .await
    }

    async fn get_provider_schema(
        &self,
        _request: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        self.serve("GetProviderSchema", "", async {
            (
                pb::get_provider_schema::Response {
                    provider: Some(to_pb_schema(&self.provider_schema)),
                    resource_schemas: self
                        .resources
                        .iter()
                        .map(|(k, (_, s))| ((*k).to_owned(), to_pb_schema(s)))
                        .collect(),
                    data_source_schemas: self
                        .data_sources
                        .iter()
                        .map(|(k, (_, s))| ((*k).to_owned(), to_pb_schema(s)))
                        .collect(),
                    server_capabilities: Some(server_capabilities()),
                    ..Default::default()
                },
                Diagnostics::new(),
            )
        })
        .await
    }

    async fn get_resource_identity_schemas(
        &self,
        _request: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Result<Response<pb::get_resource_identity_schemas::Response>, Status> {
        self.serve("GetResourceIdentitySchemas", "", async {
            (
                pb::get_resource_identity_schemas::Response {
                    identity_schemas: self
                        .resources
                        .iter()
                        .filter_map(|(k, (r, _))| {
                            r.identity_schema()
                                .map(|s| ((*k).to_owned(), to_pb_identity_schema(&s)))
                        })
                        .collect(),
                    diagnostics: Vec::new(),
                },
                Diagnostics::new(),
            )
        })
        .await
    }

    async fn validate_provider_config(
        &self,
        request: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let req = request.into_inner();
        self.serve("ValidateProviderConfig", "", async {
            let mut diags = Diagnostics::new();
            if let Some(config) = decode_dv(
                req.config.as_ref(),
                &self.provider_schema.implied_type(),
                "provider configuration",
                &mut diags,
            ) {
                self.provider_schema.validate_config(&config, &mut diags);
                self.provider.validate(&config, &mut diags);
            }
            (pb::validate_provider_config::Response::default(), diags)
        })
        .await
    }

    async fn configure_provider(
        &self,
        request: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let req = request.into_inner();
        self.serve("ConfigureProvider", "", async {
            let mut diags = Diagnostics::new();
            if let Some(config) = decode_dv(
                req.config.as_ref(),
                &self.provider_schema.implied_type(),
                "provider configuration",
                &mut diags,
            ) {
                let data = self
                    .provider
                    .configure(
                        ConfigureRequest {
                            config: &config,
                            terraform_version: &req.terraform_version,
                        },
                        &mut diags,
                    )
                    .await;
                let mut slot = match self.data.write() {
                    Ok(s) => s,
                    Err(poisoned) => poisoned.into_inner(),
                };
                *slot = data.map(Arc::new);
            }
            (pb::configure_provider::Response::default(), diags)
        })
        .await
    }

    async fn stop_provider(
        &self,
        _request: Request<pb::stop_provider::Request>,
    ) -> Result<Response<pb::stop_provider::Response>, Status> {
        // Cancel what is in flight, and give later requests (a reattached
        // debug process lives on) a fresh token.
        let old = match self.stop.lock() {
            Ok(mut t) => std::mem::replace(&mut *t, TERMINATE.child_token()),
            Err(poisoned) => {
                std::mem::replace(&mut *poisoned.into_inner(), TERMINATE.child_token())
            }
        };
        old.cancel();
        tracing::info!("StopProvider: cancelling in-flight operations");
        Ok(Response::new(pb::stop_provider::Response {
            error: String::new(),
        }))
    }

    async fn validate_resource_config(
        &self,
        request: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let req = request.into_inner();
        self.serve("ValidateResourceConfig", &req.type_name.clone(), async {
            let mut diags = Diagnostics::new();
            if let Some((resource, schema)) = self.resource(&req.type_name, &mut diags)
                && let Some(config) = decode_dv(
                    req.config.as_ref(),
                    &schema.implied_type(),
                    "configuration",
                    &mut diags,
                )
            {
                schema.validate_config(&config, &mut diags);
                resource.validate(&config, &mut diags);
                write_only_unsupported(
                    schema,
                    &config,
                    req.client_capabilities.as_ref(),
                    &mut diags,
                );
            }
            (pb::validate_resource_config::Response::default(), diags)
        })
        .await
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let req = request.into_inner();
        self.serve("UpgradeResourceState", &req.type_name.clone(), async {
            let mut diags = Diagnostics::new();
            let mut upgraded_state = None;
            if let Some((resource, schema)) = self.resource(&req.type_name, &mut diags) {
                let raw = req.raw_state.unwrap_or_default();
                if raw.json.is_empty() && !raw.flatmap.is_empty() {
                    diags.error(
                        "Unsupported State Format",
                        "This state was written by Terraform 0.11 or earlier (flatmap). Upgrade it with Terraform 0.12–0.13 and the original provider first.",
                    );
                } else if let Some(mut v) = resource.upgrade_state(req.version, &raw.json, &mut diags) {
                    finish_state(schema, &mut v);
                    upgraded_state = encode_dv(&v, &schema.implied_type(), "upgraded state", &mut diags);
                }
            }
            (
                pb::upgrade_resource_state::Response {
                    upgraded_state,
                    ..Default::default()
                },
                diags,
            )
        })
        .await
    }

    async fn upgrade_resource_identity(
        &self,
        request: Request<pb::upgrade_resource_identity::Request>,
    ) -> Result<Response<pb::upgrade_resource_identity::Response>, Status> {
        let req = request.into_inner();
        self.serve("UpgradeResourceIdentity", &req.type_name.clone(), async {
            let mut diags = Diagnostics::new();
            let mut upgraded_identity = None;
            if let Some((resource, _)) = self.resource(&req.type_name, &mut diags) {
                match resource.identity_schema() {
                    Some(s) if req.version <= s.version => {
                        let ty = identity_type(&s);
                        let raw = req.raw_identity.unwrap_or_default();
                        match json::decode(&raw.json, &ty, json::UnknownAttributes::Ignore) {
                            Ok(v) => {
                                upgraded_identity = encode_dv(&v, &ty, "identity", &mut diags)
                                    .map(|dv| pb::ResourceIdentityData { identity_data: Some(dv) });
                            }
                            Err(e) => diags.error("Invalid Resource Identity", format!("The stored identity could not be decoded: {e}")),
                        }
                    }
                    _ => diags.error(
                        "Unsupported Identity Version",
                        format!("The stored identity has version {}, which this provider does not know. Upgrade the provider.", req.version),
                    ),
                }
            }
            (
                pb::upgrade_resource_identity::Response {
                    upgraded_identity,
                    ..Default::default()
                },
                diags,
            )
        })
        .await
    }

    async fn read_resource(
        &self,
        request: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        let req = request.into_inner();
        self.serve("ReadResource", &req.type_name.clone(), async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::read_resource::Response {
                private: req.private.clone(),
                new_identity: req.current_identity.clone(),
                ..Default::default()
            };
            let Some((resource, schema)) = self.resource(&req.type_name, &mut diags) else {
                return (resp, diags);
            };
            let ty = schema.implied_type();
            let Some(current) = decode_dv(req.current_state.as_ref(), &ty, "state", &mut diags)
            else {
                return (resp, diags);
            };
            if current.is_null() {
                resp.new_state = encode_dv(&Value::Null, &ty, "state", &mut diags);
                return (resp, diags);
            }
            let new_state = match self.configured(&mut diags) {
                Some(data) => {
                    let outcome = resource
                        .read(
                            &data,
                            ReadRequest {
                                current: &current,
                                stop: self.stop_token(),
                            },
                            &mut diags,
                        )
                        .await;
                    match outcome {
                        ReadOutcome::Found(mut v) => {
                            finish_state(schema, &mut v);
                            v
                        }
                        ReadOutcome::Gone => Value::Null,
                    }
                }
                None => current,
            };
            if !new_state.is_null()
                && let Some(id) = identity_data(resource, &new_state, &mut diags)
            {
                resp.new_identity = Some(id);
            }
            resp.new_state = encode_dv(&new_state, &ty, "state", &mut diags);
            (resp, diags)
        })
        .await
    }

    async fn plan_resource_change(
        &self,
        request: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let req = request.into_inner();
        self.serve("PlanResourceChange", &req.type_name.clone(), async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::plan_resource_change::Response {
                planned_private: req.prior_private.clone(),
                ..Default::default()
            };
            let Some((resource, schema)) = self.resource(&req.type_name, &mut diags) else {
                return (resp, diags);
            };
            let ty = schema.implied_type();
            let decoded = (
                decode_dv(req.prior_state.as_ref(), &ty, "prior state", &mut diags),
                decode_dv(
                    req.proposed_new_state.as_ref(),
                    &ty,
                    "proposed new state",
                    &mut diags,
                ),
                decode_dv(req.config.as_ref(), &ty, "configuration", &mut diags),
            );
            let (Some(prior), Some(proposed), Some(config)) = decoded else {
                return (resp, diags);
            };
            if proposed.is_null() {
                resp.planned_state = encode_dv(&Value::Null, &ty, "planned state", &mut diags);
                return (resp, diags);
            }
            // Validate again: values unknown at validate time may be known now,
            // and bad input must stop here, before any API call.
            schema.validate_config(&config, &mut diags);
            resource.validate(&config, &mut diags);
            write_only_unsupported(
                schema,
                &config,
                req.client_capabilities.as_ref(),
                &mut diags,
            );
            if diags.has_error() {
                return (resp, diags);
            }
            let mut plan = plan_change(schema, &prior, &proposed, &config);
            resource.modify_plan(
                PlanRequest {
                    prior: &prior,
                    config: &config,
                },
                &mut plan.planned,
                &mut plan.requires_replace,
                &mut diags,
            );
            schema.block.null_write_only(&mut plan.planned);
            plan.requires_replace.sort_by_key(|p| p.to_string());
            plan.requires_replace.dedup();
            resp.requires_replace = plan.requires_replace.iter().map(to_pb_path).collect();
            if !prior.is_null() {
                resp.planned_identity = req
                    .prior_identity
                    .clone()
                    .or_else(|| identity_data(resource, &prior, &mut diags));
            }
            resp.planned_state = encode_dv(&plan.planned, &ty, "planned state", &mut diags);
            (resp, diags)
        })
        .await
    }

    async fn apply_resource_change(
        &self,
        request: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let req = request.into_inner();
        self.serve("ApplyResourceChange", &req.type_name.clone(), async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::apply_resource_change::Response {
                private: req.planned_private.clone(),
                ..Default::default()
            };
            let Some((resource, schema)) = self.resource(&req.type_name, &mut diags) else {
                return (resp, diags);
            };
            let ty = schema.implied_type();
            let decoded = (
                decode_dv(req.prior_state.as_ref(), &ty, "prior state", &mut diags),
                decode_dv(req.planned_state.as_ref(), &ty, "planned state", &mut diags),
                decode_dv(req.config.as_ref(), &ty, "configuration", &mut diags),
            );
            let (Some(prior), Some(planned), Some(config)) = decoded else {
                return (resp, diags);
            };
            let Some(data) = self.configured(&mut diags) else {
                resp.new_state = encode_dv(&prior, &ty, "state", &mut diags);
                return (resp, diags);
            };
            let stop = self.stop_token();
            let new_state = if planned.is_null() {
                resource.delete(&data, DeleteRequest { prior: &prior, stop }, &mut diags).await;
                if diags.has_error() { prior.clone() } else { Value::Null }
            } else if prior.is_null() {
                let checkpoint = Checkpoint::default();
                let create = resource.create(
                    &data,
                    CreateRequest { config: &config, planned: &planned, stop, checkpoint: checkpoint.clone() },
                    &mut diags,
                );
                // Recover a panic here, not only in `serve`, so the checkpoint still reaches state.
                let created = match AssertUnwindSafe(create).catch_unwind().await {
                    Ok(created) => created.or_else(|| checkpoint.last()),
                    Err(panic) => {
                        let msg = panic_message(panic.as_ref());
                        tracing::error!(panic = %msg, "create panicked; answering with the state it had recorded");
                        let saved = checkpoint.last();
                        diags.error(
                            "Provider Internal Error",
                            format!(
                                "The provider hit a bug while creating this {}: {msg}. {} Please report it, with the Terraform command you ran.",
                                req.type_name,
                                if saved.is_some() {
                                    "The object it had already created is recorded in state, marked tainted: the next apply replaces it, or run `terraform untaint` to keep it."
                                } else {
                                    "Nothing had been created yet."
                                }
                            ),
                        );
                        saved
                    }
                };
                if created.is_none() && !diags.has_error() {
                    diags.error(
                        "Missing Resource State After Create",
                        "The provider reported success but returned no state. This is a provider bug; please report it.",
                    );
                }
                created.unwrap_or(Value::Null)
            } else {
                resource
                    .update(&data, UpdateRequest { prior: &prior, config: &config, planned: &planned, stop }, &mut diags)
                    .await
                    .unwrap_or_else(|| prior.clone())
            };
            let mut new_state = new_state;
            if finish_state(schema, &mut new_state) && !diags.has_error() {
                diags.error(
                    "Provider Returned Unknown Values",
                    "The provider left values unknown after apply. This is a provider bug; please report it.",
                );
            }
            if !new_state.is_null() {
                resp.new_identity = identity_data(resource, &new_state, &mut diags);
            }
            resp.new_state = encode_dv(&new_state, &ty, "new state", &mut diags);
            (resp, diags)
        })
        .await
    }

    async fn import_resource_state(
        &self,
        request: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let req = request.into_inner();
        self.serve("ImportResourceState", &req.type_name.clone(), async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::import_resource_state::Response::default();
            let Some((resource, schema)) = self.resource(&req.type_name, &mut diags) else {
                return (resp, diags);
            };
            let identity = match (&req.identity, resource.identity_schema()) {
                (Some(data), Some(s)) => {
                    match decode_dv(
                        data.identity_data.as_ref(),
                        &identity_type(&s),
                        "identity",
                        &mut diags,
                    ) {
                        Some(v) => Some(v),
                        None => {
                            return (resp, diags);
                        }
                    }
                }
                _ => None,
            };
            let Some(data) = self.configured(&mut diags) else {
                return (resp, diags);
            };
            let stub = resource
                .import(
                    &data,
                    ImportRequest {
                        id: &req.id,
                        identity: identity.as_ref(),
                        stop: self.stop_token(),
                    },
                    &mut diags,
                )
                .await;
            if let Some(mut stub) = stub {
                finish_state(schema, &mut stub);
                let identity = identity_data(resource, &stub, &mut diags);
                if let Some(state) =
                    encode_dv(&stub, &schema.implied_type(), "imported state", &mut diags)
                {
                    resp.imported_resources
                        .push(pb::import_resource_state::ImportedResource {
                            type_name: req.type_name.clone(),
                            state: Some(state),
                            private: Vec::new(),
                            identity,
                        });
                }
            }
            (resp, diags)
        })
        .await
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let req = request.into_inner();
        self.serve(
            "ValidateDataResourceConfig",
            &req.type_name.clone(),
            async {
                let mut diags = Diagnostics::new();
                if let Some((ds, schema)) = self.data_source(&req.type_name, &mut diags)
                    && let Some(config) = decode_dv(
                        req.config.as_ref(),
                        &schema.implied_type(),
                        "configuration",
                        &mut diags,
                    )
                {
                    schema.validate_config(&config, &mut diags);
                    ds.validate(&config, &mut diags);
                }
                (
                    pb::validate_data_resource_config::Response::default(),
                    diags,
                )
            },
        )
        .await
    }

    async fn read_data_source(
        &self,
        request: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        let req = request.into_inner();
        self.serve("ReadDataSource", &req.type_name.clone(), async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::read_data_source::Response::default();
            let Some((ds, schema)) = self.data_source(&req.type_name, &mut diags) else {
                return (resp, diags);
            };
            let ty = schema.implied_type();
            if let Some(config) = decode_dv(req.config.as_ref(), &ty, "configuration", &mut diags) {
                schema.validate_config(&config, &mut diags);
                if !diags.has_error()
                    && let Some(data) = self.configured(&mut diags) {
                        let read = ds
                            .read(&data, DataSourceReadRequest { config: &config, stop: self.stop_token() }, &mut diags)
                            .await;
                        if let Some(mut state) = read {
                            if finish_state(schema, &mut state) && !diags.has_error() {
                                diags.error("Provider Returned Unknown Values", "The data source left values unknown. This is a provider bug; please report it.");
                            }
                            resp.state = encode_dv(&state, &ty, "data source state", &mut diags);
                        }
                    }
            }
            (resp, diags)
        })
        .await
    }
}

fn server_capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: false,
        // Later processes of one Terraform run may reuse the first schema.
        get_provider_schema_optional: true,
        move_resource_state: false,
        generate_resource_config: false,
    }
}
