//! A whole Terraform provider: `hello_greeting` turns a `name` into a `text`, kept in state.
//! `cargo build -p tfplugin --example hello-provider` builds it; `tests/hello.rs` runs it
//! under real Terraform.

use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use tfplugin::framework::diag::Diagnostics;
use tfplugin::framework::provider::{ConfigureRequest, Provider};
use tfplugin::framework::resource::*;
use tfplugin::framework::schema::{Attribute, Block, Presence, Schema};
use tfplugin::framework::server::{FrameworkServer, in_request, terminate};
use tfplugin::framework::value::Value;
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
    fn resources(&self) -> Vec<Arc<dyn Resource<Data = ()>>> {
        vec![Arc::new(Greeting)]
    }
}

struct Greeting;

/// The planned object with `text` filled in: what the provider computes.
fn greet(planned: &Value) -> Value {
    let mut state = planned.clone();
    let text = format!(
        "Hello, {}!",
        planned.attr("name").as_str().unwrap_or("world")
    );
    if let Some(attrs) = state.as_object_mut() {
        attrs.insert("text".to_owned(), Value::string(text));
    }
    state
}

#[async_trait]
impl Resource for Greeting {
    type Data = ();
    fn type_name(&self) -> &'static str {
        "hello_greeting"
    }
    fn schema(&self) -> Schema {
        let mut name = Attribute::string("name", Presence::Required);
        name.description = "Whom to greet.".to_owned();
        name.requires_replace = true;
        Schema {
            block: Block {
                description: "A greeting, kept in state.".to_owned(),
                attributes: vec![name, Attribute::string("text", Presence::Computed)],
                ..Block::default()
            },
            ..Schema::default()
        }
    }
    async fn create(&self, _: &(), req: CreateRequest<'_>, _: &mut Diagnostics) -> Option<Value> {
        Some(greet(req.planned))
    }
    async fn read(&self, _: &(), req: ReadRequest<'_>, _: &mut Diagnostics) -> ReadOutcome {
        ReadOutcome::Found(req.current.clone())
    }
    async fn update(&self, _: &(), req: UpdateRequest<'_>, _: &mut Diagnostics) -> Option<Value> {
        Some(greet(req.planned))
    }
    async fn delete(&self, _: &(), _: DeleteRequest<'_>, _: &mut Diagnostics) {}
}

fn main() -> ExitCode {
    let options = ServeOptions {
        provider_address: "registry.terraform.io/example/hello",
        log: LogOptions {
            level_var: "TF_LOG_PROVIDER_HELLO",
            crates: &["hello_provider"],
        },
        debug: std::env::args().any(|a| a == "--debug"),
        recovered_panic: in_request,
        on_terminate: terminate,
    };
    run(FrameworkServer::new(Hello), options)
}
