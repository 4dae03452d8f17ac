//! The benchmark's controls: plugin resources that call no API, served by this provider's own
//! wire and framework layers. `cargo xtask bench` runs them beside `terraform_data` and
//! `rediscloud_cloud_account` to split what 100 accounts cost into what a resource served by a
//! plugin costs at all, what this resource's schema adds, and what everything else the provider
//! does (API requests and waits, its HTTP client, its start-up) adds.
//!
//! - `control_data`, about the least a plugin resource can be: an optional string `input` and
//!   a computed `id` (`terraform_data` also has `output` and `triggers_replace`).
//! - `control_cloud_account` has `rediscloud_cloud_account`'s schema, identity, validation and
//!   plan rules, taken from the provider itself; a create fills what the plan left unknown
//!   locally instead of asking Redis Cloud.
//!
//! Their state lives only in Terraform's state file. Built as a Cargo example
//! (`cargo build --release --example control-provider`); never shipped.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use terraform_provider_rediscloud::provider::cloud_account::model::{
    identity_schema, identity_value,
};
use terraform_provider_rediscloud::provider::cloud_account::resource::CloudAccountResource;
use tfplugin::framework::data_source::DataSource;
use tfplugin::framework::diag::Diagnostics;
use tfplugin::framework::path::AttributePath;
use tfplugin::framework::provider::{ConfigureRequest, Provider};
use tfplugin::framework::resource::{
    CreateRequest, DeleteRequest, IgnoredAny, ImportRequest, PlanRequest, ReadOutcome, ReadRequest,
    Resource, UpdateRequest,
};
use tfplugin::framework::schema::{Attribute, Block, IdentitySchema, Presence, Schema};
use tfplugin::framework::server::{FrameworkServer, in_request, terminate};
use tfplugin::framework::value::{Number, Type, Value};
use tfplugin::wire::logging::LogOptions;
use tfplugin::wire::{ServeOptions, run};

/// The provider address the benchmark's filesystem mirror serves it under.
const ADDRESS: &str = "registry.terraform.io/bench/control";

struct ControlProvider;

#[async_trait]
impl Provider for ControlProvider {
    type Data = ();

    fn type_name(&self) -> &'static str {
        "control"
    }

    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: Block::default(),
            config_validators: Vec::new(),
        }
    }

    async fn configure(&self, _req: ConfigureRequest<'_>, _diags: &mut Diagnostics) -> Option<()> {
        Some(())
    }

    fn resources(&self) -> Vec<Arc<dyn tfplugin::framework::resource::AnyResource<Data = ()>>> {
        vec![
            Arc::new(Control(Shape::Data)),
            Arc::new(Control(Shape::CloudAccount)),
        ]
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource<Data = ()>>> {
        Vec::new()
    }
}

/// Which resource a [`Control`] is.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// `control_data`.
    Data,
    /// `control_cloud_account`: `rediscloud_cloud_account` without Redis Cloud.
    CloudAccount,
}

/// One of the control plugin's resources.
struct Control(Shape);

/// IDs are numbers, as Redis Cloud's are: the process ID, then a counter.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Replaces every unknown attribute of a planned object with a value of its type, as an API's
/// answer would; an unknown `id` gets a new ID.
fn fill_unknowns(planned: &Value, schema: &Schema) -> Value {
    let mut state = planned.clone();
    if let Some(attrs) = state.as_object_mut() {
        for a in &schema.block.attributes {
            let Some(v) = attrs.get_mut(&a.name) else {
                continue;
            };
            if !v.is_unknown() {
                continue;
            }
            *v = match (a.name.as_str(), &a.ty) {
                ("id", _) => Value::string(format!(
                    "{}{}",
                    std::process::id(),
                    NEXT_ID.fetch_add(1, Ordering::Relaxed)
                )),
                (_, Type::Number) => Value::Number(Number::from(1_i64)),
                (_, Type::Bool) => Value::Bool(true),
                (name, _) => Value::string(format!("{name}-of-the-control")),
            };
        }
    }
    state
}

#[async_trait]
impl Resource for Control {
    type Data = ();
    type Model = IgnoredAny;

    fn type_name(&self) -> &'static str {
        match self.0 {
            Shape::Data => "control_data",
            Shape::CloudAccount => "control_cloud_account",
        }
    }

    fn schema(&self) -> Schema {
        if self.0 == Shape::CloudAccount {
            return CloudAccountResource.schema();
        }
        let mut id = Attribute::string("id", Presence::Computed);
        id.use_state_for_unknown = true;
        Schema {
            version: 0,
            block: Block {
                description: "A value in state, like `terraform_data`.".to_owned(),
                attributes: vec![id, Attribute::string("input", Presence::Optional)],
                blocks: Vec::new(),
                ..Block::default()
            },
            config_validators: Vec::new(),
        }
    }

    fn identity_schema(&self) -> Option<IdentitySchema> {
        (self.0 == Shape::CloudAccount).then(identity_schema)
    }

    fn identity(&self, state: &Value) -> Option<Value> {
        if self.0 != Shape::CloudAccount {
            return None;
        }
        state.attr("id").as_str().map(identity_value)
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        if self.0 == Shape::CloudAccount {
            CloudAccountResource.validate(config, diags);
        }
    }

    fn modify_plan(
        &self,
        req: PlanRequest<'_>,
        planned: &mut Value,
        requires_replace: &mut Vec<AttributePath>,
        diags: &mut Diagnostics,
    ) {
        if self.0 == Shape::CloudAccount {
            CloudAccountResource.modify_plan(req, planned, requires_replace, diags);
        }
    }

    async fn create(
        &self,
        _data: &(),
        req: CreateRequest<'_>,
        _diags: &mut Diagnostics,
    ) -> Option<Value> {
        Some(fill_unknowns(req.planned, &self.schema()))
    }

    async fn read(
        &self,
        _data: &(),
        req: ReadRequest<'_>,
        _diags: &mut Diagnostics,
    ) -> ReadOutcome {
        ReadOutcome::Found(req.current.clone())
    }

    async fn update(
        &self,
        _data: &(),
        req: UpdateRequest<'_>,
        _diags: &mut Diagnostics,
    ) -> Option<Value> {
        Some(fill_unknowns(req.planned, &self.schema()))
    }

    async fn delete(&self, _data: &(), _req: DeleteRequest<'_>, _diags: &mut Diagnostics) {}

    async fn import(
        &self,
        _data: &(),
        _req: ImportRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        diags.error(
            "Import Not Supported",
            "The control plugin's resources hold nothing outside Terraform's state to import.",
        );
        None
    }
}

fn main() -> ExitCode {
    run(
        FrameworkServer::new(ControlProvider),
        ServeOptions {
            provider_address: ADDRESS,
            log: LogOptions {
                level_var: "TF_LOG_PROVIDER_CONTROL",
                crates: &["control_provider"],
            },
            debug: false,
            recovered_panic: in_request,
            on_terminate: terminate,
        },
    )
}
