//! What protocol 6.11 brought, through the server's RPCs, with a test resource of the
//! framework's own (`fwtest_widget`): deprecation messages on attributes and blocks, computed
//! blocks (Terraform 1.16's `computed_blocks_allowed`), and private state carried from plan to
//! apply (Terraform 1.16's `store_planned_private` for the final plan).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use tonic::Request;

use super::FrameworkServer;
use super::convert::{decode_dv, encode_dv};
use crate::framework::data_source::DataSource;
use crate::framework::diag::Diagnostics;
use crate::framework::provider::{ConfigureRequest, Provider};
use crate::framework::resource::{
    CheckPlanRequest, CreateRequest, DeleteRequest, ImportRequest, ReadOutcome, ReadRequest,
    Resource, UpdateRequest,
};
use crate::framework::schema::{Attribute, Block, NestedBlock, Nesting, Presence, Schema};
use crate::framework::value::{Type, Value};
use crate::wire::proto::tfplugin6 as pb;

const TYPE: &str = "fwtest_widget";

/// `id`, `name`, a deprecated `old_name`, the plan number the apply was planned by, a computed
/// `endpoint` block and a deprecated `legacy` block.
fn widget_schema() -> Schema {
    Schema {
        version: 0,
        block: Block {
            attributes: vec![
                Attribute {
                    use_state_for_unknown: true,
                    ..Attribute::string("id", Presence::Computed)
                },
                Attribute::string("name", Presence::Required),
                Attribute {
                    deprecation: Some("use `name` instead.".to_owned()),
                    ..Attribute::string("old_name", Presence::Optional)
                },
                Attribute::string("planned_by", Presence::Computed),
            ],
            blocks: vec![
                NestedBlock {
                    name: "endpoint".to_owned(),
                    nesting: Nesting::Single,
                    block: Block {
                        attributes: vec![Attribute::string("host", Presence::Computed)],
                        computed: true,
                        ..Block::default()
                    },
                },
                NestedBlock {
                    name: "legacy".to_owned(),
                    nesting: Nesting::Single,
                    block: Block {
                        attributes: vec![Attribute::string("x", Presence::Optional)],
                        deprecation: Some("it no longer does anything; remove it.".to_owned()),
                        ..Block::default()
                    },
                },
            ],
            ..Block::default()
        },
        config_validators: vec![],
    }
}

/// Numbers its plans: the check of each create plan records which plan it was, unless the
/// first plan of the change already did.
#[derive(Default)]
struct Widget {
    plans: AtomicU64,
}

#[async_trait]
impl Resource for Widget {
    type Data = ();
    type Model = crate::framework::resource::IgnoredAny;

    fn type_name(&self) -> &'static str {
        TYPE
    }

    fn schema(&self) -> Schema {
        widget_schema()
    }

    async fn check_plan(&self, _: &(), req: CheckPlanRequest<'_>, _: &mut Diagnostics) {
        let this_plan = self.plans.fetch_add(1, Ordering::SeqCst) + 1;
        let first: Option<u64> = req.first_plan_private.and_then(|p| p.get("planned_by"));
        req.private.set("planned_by", &first.unwrap_or(this_plan));
    }

    async fn create(&self, _: &(), req: CreateRequest<'_>, _: &mut Diagnostics) -> Option<Value> {
        let mut state = req.planned.clone();
        let obj = state.as_object_mut()?;
        obj.insert("id".to_owned(), Value::string("w-1"));
        let planned_by: Option<u64> = req.planned_private.get("planned_by");
        obj.insert(
            "planned_by".to_owned(),
            planned_by.map_or(Value::Null, |n| Value::string(n.to_string())),
        );
        obj.insert(
            "endpoint".to_owned(),
            Value::Object(
                [("host".to_owned(), Value::string("w-1.example"))]
                    .into_iter()
                    .collect(),
            ),
        );
        Some(state)
    }

    async fn read(&self, _: &(), req: ReadRequest<'_>, _: &mut Diagnostics) -> ReadOutcome {
        ReadOutcome::Found(req.current.clone())
    }

    async fn update(&self, _: &(), req: UpdateRequest<'_>, _: &mut Diagnostics) -> Option<Value> {
        Some(req.planned.clone())
    }

    async fn delete(&self, _: &(), _: DeleteRequest<'_>, _: &mut Diagnostics) {}

    async fn import(&self, _: &(), _: ImportRequest<'_>, _: &mut Diagnostics) -> Option<Value> {
        None
    }
}

struct FwTest;

#[async_trait]
impl Provider for FwTest {
    type Data = ();

    fn type_name(&self) -> &'static str {
        "fwtest"
    }

    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: Block::default(),
            config_validators: vec![],
        }
    }

    async fn configure(&self, _: ConfigureRequest<'_>, _: &mut Diagnostics) -> Option<()> {
        Some(())
    }

    fn resources(&self) -> Vec<Arc<dyn crate::framework::resource::AnyResource<Data = ()>>> {
        vec![Arc::new(Widget::default())]
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource<Data = ()>>> {
        Vec::new()
    }
}

fn server() -> FrameworkServer<FwTest> {
    let server = FrameworkServer::new(FwTest);
    *server.data.write().expect("lock") = Some(Arc::new(()));
    server
}

fn ty() -> Type {
    widget_schema().implied_type()
}

fn dv(v: &Value) -> Option<pb::DynamicValue> {
    encode_dv(v, &ty(), "test value", &mut Diagnostics::new())
}

fn undv(v: Option<&pb::DynamicValue>) -> Value {
    decode_dv(v, &ty(), "test value", &mut Diagnostics::new()).expect("decodes")
}

/// A configuration: `name`, and optionally `old_name` and a `legacy` block.
fn config(old_name: Option<&str>, legacy: bool) -> Value {
    Value::Object(
        [
            ("id", Value::Null),
            ("name", Value::string("w")),
            ("old_name", old_name.map_or(Value::Null, Value::string)),
            ("planned_by", Value::Null),
            ("endpoint", Value::Null),
            (
                "legacy",
                if legacy {
                    Value::Object([("x".to_owned(), Value::string("1"))].into_iter().collect())
                } else {
                    Value::Null
                },
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    )
}

fn caps(computed_blocks: bool, store_planned_private: bool) -> Option<pb::ClientCapabilities> {
    Some(pb::ClientCapabilities {
        deferral_allowed: false,
        write_only_attributes_allowed: true,
        store_planned_private,
        computed_blocks_allowed: computed_blocks,
    })
}

/// PlanResourceChange of a create of `config`.
async fn plan(
    s: &FrameworkServer<FwTest>,
    caps: Option<pb::ClientCapabilities>,
    planned_private: Vec<u8>,
) -> pb::plan_resource_change::Response {
    let cfg = config(None, false);
    let resp = s
        .handle_plan_resource_change(Request::new(pb::plan_resource_change::Request {
            type_name: TYPE.into(),
            prior_state: dv(&Value::Null),
            proposed_new_state: dv(&cfg),
            config: dv(&cfg),
            prior_private: Vec::new(),
            provider_meta: None,
            client_capabilities: caps,
            prior_identity: None,
            planned_private,
        }))
        .await
        .expect("never a gRPC error")
        .into_inner();
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    resp
}

/// ApplyResourceChange of a create planned by `planned`.
async fn apply(s: &FrameworkServer<FwTest>, planned: &pb::plan_resource_change::Response) -> Value {
    let resp = s
        .handle_apply_resource_change(Request::new(pb::apply_resource_change::Request {
            type_name: TYPE.into(),
            prior_state: dv(&Value::Null),
            planned_state: planned.planned_state.clone(),
            config: dv(&config(None, false)),
            planned_private: planned.planned_private.clone(),
            provider_meta: None,
            planned_identity: None,
        }))
        .await
        .expect("never a gRPC error")
        .into_inner();
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    undv(resp.new_state.as_ref())
}

#[tokio::test]
async fn the_schema_carries_deprecation_messages_and_computed_blocks() {
    let resp = server()
        .handle_get_provider_schema(Request::new(pb::get_provider_schema::Request {}))
        .await
        .expect("schema")
        .into_inner();
    let block = resp.resource_schemas[TYPE].block.clone().expect("a block");
    let old_name = block
        .attributes
        .iter()
        .find(|a| a.name == "old_name")
        .expect("old_name");
    assert!(old_name.deprecated);
    assert_eq!(old_name.deprecation_message, "use `name` instead.");
    let name = block
        .attributes
        .iter()
        .find(|a| a.name == "name")
        .expect("name");
    assert!(!name.deprecated && name.deprecation_message.is_empty());
    let nested = |n: &str| {
        block
            .block_types
            .iter()
            .find(|b| b.type_name == n)
            .and_then(|b| b.block.clone())
            .expect("nested block")
    };
    let legacy = nested("legacy");
    assert!(legacy.deprecated && !legacy.computed);
    assert_eq!(
        legacy.deprecation_message,
        "it no longer does anything; remove it."
    );
    let endpoint = nested("endpoint");
    assert!(endpoint.computed && !endpoint.deprecated);
}

#[tokio::test]
async fn configuring_a_deprecated_attribute_or_block_warns_with_its_message() {
    let s = server();
    let validate = |cfg: Value| {
        let s = &s;
        async move {
            s.handle_validate_resource_config(Request::new(pb::validate_resource_config::Request {
                type_name: TYPE.into(),
                config: dv(&cfg),
                client_capabilities: caps(true, true),
            }))
            .await
            .expect("never a gRPC error")
            .into_inner()
            .diagnostics
        }
    };
    assert!(validate(config(None, false)).await.is_empty());
    let warned = validate(config(Some("w"), true)).await;
    let said: Vec<(i32, &str, &str)> = warned
        .iter()
        .map(|d| (d.severity, d.summary.as_str(), d.detail.as_str()))
        .collect();
    let warning = pb::diagnostic::Severity::Warning as i32;
    assert_eq!(
        said,
        [
            (
                warning,
                "Attribute Deprecated",
                "Attribute old_name is deprecated: use `name` instead."
            ),
            (
                warning,
                "Block Deprecated",
                "Block legacy is deprecated: it no longer does anything; remove it."
            ),
        ]
    );
    assert!(warned.iter().all(|d| d.attribute.is_some()));
}

#[tokio::test]
async fn a_computed_block_is_known_after_apply_only_where_terraform_allows_it() {
    let s = server();
    // Terraform 1.16: the provider fills the block in.
    let planned = plan(&s, caps(true, false), Vec::new()).await;
    assert!(
        undv(planned.planned_state.as_ref())
            .attr("endpoint")
            .is_unknown()
    );
    let state = apply(&s, &planned).await;
    assert_eq!(
        state.attr("endpoint").attr("host"),
        &Value::string("w-1.example")
    );
    // Terraform 1.15 and older: the block stays as configured, in the plan and in the state,
    // so that the applied object matches the plan.
    let planned = plan(&s, caps(false, false), Vec::new()).await;
    assert!(
        undv(planned.planned_state.as_ref())
            .attr("endpoint")
            .is_null()
    );
    let state = apply(&s, &planned).await;
    assert!(state.attr("endpoint").is_null(), "{state:?}");
    assert_eq!(state.attr("id"), &Value::string("w-1"));
}

#[tokio::test]
async fn what_the_plan_records_reaches_apply_and_the_final_plan_keeps_the_first_plans() {
    let s = server();
    // The first plan (`terraform plan`) records that it is plan 1.
    let first = plan(&s, caps(false, false), Vec::new()).await;
    // Terraform 1.16 hands the first plan's private state to the final plan made during apply,
    // which keeps what the first one recorded...
    let kept = plan(&s, caps(false, true), first.planned_private.clone()).await;
    // ...and an older Terraform does not: the final plan (plan 3) records itself.
    let older = plan(&s, caps(false, false), first.planned_private.clone()).await;
    assert_eq!(
        apply(&s, &kept).await.attr("planned_by"),
        &Value::string("1")
    );
    assert_eq!(
        apply(&s, &older).await.attr("planned_by"),
        &Value::string("3")
    );
}
