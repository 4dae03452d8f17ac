//! A whole provider: `hello_greeting` turns a `name` into a `text`. See the README.

use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tfplugin::framework::{diag::Diagnostics, model::*, provider::*, resource::*, schema::Schema};
use tfplugin::framework::{server::*, value::Value};
use tfplugin::wire::{ServeOptions, logging::LogOptions, run};

struct Hello;

#[async_trait]
impl Provider for Hello {
    type Data = ();
    fn type_name(&self) -> &'static str {
        "hello"
    }
    async fn configure(&self, _: ConfigureRequest<'_>, _: &mut Diagnostics) -> Option<()> {
        Some(())
    }
    fn resources(&self) -> Vec<Arc<dyn AnyResource<Data = ()>>> {
        vec![Arc::new(Greeting)]
    }
}

/// A greeting, kept in state. (The model is the schema: names, types, docs and flags.)
#[derive(Clone, Serialize, Deserialize, JsonSchema)]
struct GreetingModel {
    /// Whom to greet.
    #[schemars(transform = tf::required().requires_replace())]
    name: Val<String>,
    /// The greeting.
    #[schemars(transform = tf::computed())]
    text: Val<String>,
}

struct Greeting;
fn greet(config: &GreetingModel) -> Option<Value> {
    let mut state = config.clone();
    let name = config.name.as_deref().unwrap_or("world");
    state.text = Val::from(Some(format!("Hello, {name}!")));
    write(&state).ok()
}

#[async_trait]
impl Resource for Greeting {
    type Data = ();
    type Model = GreetingModel;
    fn type_name(&self) -> &'static str {
        "hello_greeting"
    }
    fn schema(&self) -> Schema {
        schema_of::<GreetingModel>(0)
    }
    async fn create(
        &self,
        _: &(),
        req: CreateRequest<'_, GreetingModel>,
        _: &mut Diagnostics,
    ) -> Option<Value> {
        greet(req.config_model)
    }
    async fn read(
        &self,
        _: &(),
        req: ReadRequest<'_, GreetingModel>,
        _: &mut Diagnostics,
    ) -> ReadOutcome {
        ReadOutcome::Found(req.current.clone())
    }
    async fn update(
        &self,
        _: &(),
        req: UpdateRequest<'_, GreetingModel>,
        _: &mut Diagnostics,
    ) -> Option<Value> {
        greet(req.config_model)
    }
    async fn delete(&self, _: &(), _: DeleteRequest<'_, GreetingModel>, _: &mut Diagnostics) {}
}

fn main() -> ExitCode {
    run(
        FrameworkServer::new(Hello),
        ServeOptions {
            provider_address: "registry.terraform.io/example/hello",
            log: LogOptions {
                level_var: "TF_LOG_PROVIDER_HELLO",
                crates: &["hello_provider"],
            },
            debug: std::env::args().any(|a| a == "--debug"),
            recovered_panic: in_request,
            on_terminate: terminate,
        },
    )
}
