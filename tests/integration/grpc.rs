//! In-process gRPC tests: every RPC the framework serves, driven through a real
//! tonic client over loopback, including malformed msgpack and unknown values.

use std::collections::BTreeMap;

use pb::provider_client::ProviderClient;
use pb::provider_server::ProviderServer;
use proptest::prelude::*;
use rediscloud_tf::framework::msgpack;
use rediscloud_tf::framework::server::FrameworkServer;
use rediscloud_tf::framework::value::{Type, Value};
use rediscloud_tf::provider::RedisCloudProvider;
use rediscloud_tf::wire::proto::tfplugin6 as pb;
use tonic::transport::Channel;

const TYPE: &str = "rediscloud_cloud_account";

struct Served {
    client: ProviderClient<Channel>,
    rt: tokio::runtime::Runtime,
}

fn serve() -> Served {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let svc = ProviderServer::new(FrameworkServer::new(RedisCloudProvider::new()))
            .max_decoding_message_size(256 << 20);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        ProviderClient::connect(format!("http://{addr}"))
            .await
            .expect("connect")
    });
    Served { client, rt }
}

fn resource_type() -> Type {
    rediscloud_tf::provider::cloud_account::model::resource_schema().implied_type()
}

fn config(overrides: &[(&str, Value)]) -> Value {
    let Type::Object(attrs) = resource_type() else {
        unreachable!()
    };
    let mut m: BTreeMap<String, Value> = attrs.keys().map(|k| (k.clone(), Value::Null)).collect();
    for (k, v) in [
        ("name", Value::string("byoa")),
        ("provider_type", Value::string("AWS")),
        ("access_key_id", Value::string("AKIAEXAMPLE")),
        ("access_secret_key", Value::string("s3cr3t")),
        ("console_username", Value::string("console")),
        ("console_password", Value::string("pw")),
        (
            "sign_in_login_url",
            Value::string("https://123456789012.signin.aws.amazon.com/console"),
        ),
    ] {
        m.insert(k.to_owned(), v);
    }
    for (k, v) in overrides {
        m.insert((*k).to_owned(), v.clone());
    }
    Value::Object(m)
}

fn dv(v: &Value) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: msgpack::encode(v, &resource_type()).expect("encode"),
        json: vec![],
    })
}

fn decode(d: &Option<pb::DynamicValue>) -> Value {
    msgpack::decode(&d.as_ref().expect("value").msgpack, &resource_type()).expect("decode")
}

fn caps() -> Option<pb::ClientCapabilities> {
    Some(pb::ClientCapabilities {
        write_only_attributes_allowed: true,
        ..Default::default()
    })
}

fn path_of(d: &pb::Diagnostic) -> String {
    use pb::attribute_path::step::Selector;
    d.attribute
        .as_ref()
        .map(|p| {
            p.steps
                .iter()
                .filter_map(|s| match &s.selector {
                    Some(Selector::AttributeName(a)) => Some(a.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(".")
        })
        .unwrap_or_default()
}

fn validate(s: &mut Served, cfg: &Value) -> Vec<pb::Diagnostic> {
    let req = pb::validate_resource_config::Request {
        type_name: TYPE.into(),
        config: dv(cfg),
        client_capabilities: caps(),
    };
    s.rt.block_on(s.client.validate_resource_config(req))
        .expect("rpc")
        .into_inner()
        .diagnostics
}

#[test]
fn schema_flags_secrets_sensitive_and_write_only() {
    let mut s = serve();
    let resp =
        s.rt.block_on(
            s.client
                .get_provider_schema(pb::get_provider_schema::Request {}),
        )
        .expect("rpc")
        .into_inner();
    let provider = resp.provider.unwrap().block.unwrap();
    for name in ["api_key", "secret_key"] {
        let a = provider.attributes.iter().find(|a| a.name == name).unwrap();
        assert!(a.sensitive && a.optional, "{name}");
    }
    let block = resp.resource_schemas[TYPE].block.clone().unwrap();
    let attr = |n: &str| {
        block
            .attributes
            .iter()
            .find(|a| a.name == n)
            .unwrap()
            .clone()
    };
    assert!(attr("access_secret_key").sensitive);
    assert!(attr("console_password").sensitive);
    assert!(attr("access_secret_key_wo").write_only && attr("access_secret_key_wo").sensitive);
    assert!(attr("console_password_wo").write_only);
    assert!(attr("id").computed && !attr("id").optional);
    assert_eq!(attr("name").r#type, b"\"string\"");
    assert!(resp.data_source_schemas.contains_key(TYPE));
    assert!(
        resp.server_capabilities
            .unwrap()
            .get_provider_schema_optional
    );
    for (_, schema) in resp
        .resource_schemas
        .iter()
        .chain(resp.data_source_schemas.iter())
    {
        for a in &schema.block.as_ref().unwrap().attributes {
            assert!(!a.description.is_empty(), "{} has no description", a.name);
        }
    }

    let ids =
        s.rt.block_on(
            s.client
                .get_resource_identity_schemas(pb::get_resource_identity_schemas::Request {}),
        )
        .expect("rpc")
        .into_inner();
    let id = &ids.identity_schemas[TYPE].identity_attributes[0];
    assert_eq!((id.name.as_str(), id.required_for_import), ("id", true));
}

#[test]
fn validation_points_at_the_attribute_and_tolerates_unknowns() {
    let mut s = serve();
    let d = validate(
        &mut s,
        &config(&[("provider_type", Value::string("AZURE"))]),
    );
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].summary, "Invalid Attribute Value Match");
    assert_eq!(path_of(&d[0]), "provider_type");

    let d = validate(
        &mut s,
        &config(&[("sign_in_login_url", Value::string("http://x.example"))]),
    );
    assert_eq!(path_of(&d[0]), "sign_in_login_url");

    let d = validate(
        &mut s,
        &config(&[
            ("access_secret_key_wo", Value::string("x")),
            ("access_secret_key_wo_version", Value::Number(1i64.into())),
        ]),
    );
    assert_eq!(d[0].summary, "Invalid Attribute Combination", "{d:?}");

    let Type::Object(attrs) = resource_type() else {
        unreachable!()
    };
    let all_unknown = Value::Object(
        attrs
            .keys()
            .map(|k| (k.clone(), Value::unknown()))
            .collect(),
    );
    assert!(validate(&mut s, &all_unknown).is_empty());
}

#[test]
fn write_only_needs_a_terraform_that_supports_it() {
    let mut s = serve();
    let cfg = config(&[
        ("access_secret_key", Value::Null),
        ("access_secret_key_wo", Value::string("x")),
        ("access_secret_key_wo_version", Value::Number(1i64.into())),
    ]);
    let req = pb::validate_resource_config::Request {
        type_name: TYPE.into(),
        config: dv(&cfg),
        client_capabilities: None,
    };
    let d =
        s.rt.block_on(s.client.validate_resource_config(req))
            .unwrap()
            .into_inner()
            .diagnostics;
    assert_eq!(d[0].summary, "Write-only Attribute Not Allowed");
    assert_eq!(path_of(&d[0]), "access_secret_key_wo");
    assert!(validate(&mut s, &cfg).is_empty());
}

#[test]
fn plan_create_marks_computed_unknown_and_never_plans_write_only_values() {
    let mut s = serve();
    let cfg = config(&[
        ("console_password", Value::Null),
        ("console_password_wo", Value::string("pw")),
        ("console_password_wo_version", Value::Number(1i64.into())),
    ]);
    let resp =
        s.rt.block_on(
            s.client
                .plan_resource_change(pb::plan_resource_change::Request {
                    type_name: TYPE.into(),
                    prior_state: dv(&Value::Null),
                    proposed_new_state: dv(&cfg),
                    config: dv(&cfg),
                    client_capabilities: caps(),
                    ..Default::default()
                }),
        )
        .unwrap()
        .into_inner();
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    let planned = decode(&resp.planned_state);
    assert!(planned.attr("id").is_unknown());
    assert!(planned.attr("status").is_unknown());
    assert_eq!(planned.attr("console_password_wo"), &Value::Null);
    assert_eq!(planned.attr("name"), &Value::string("byoa"));
    assert!(!resp.legacy_type_system);
}

#[test]
fn plan_update_replaces_on_provider_type_and_keeps_the_identity() {
    let mut s = serve();
    let mut prior = config(&[
        ("id", Value::string("7")),
        ("status", Value::string("active")),
    ]);
    prior.as_object_mut().unwrap().insert(
        "aws_user_arn".into(),
        Value::string("arn:aws:iam::1:user/x"),
    );
    let cfg = config(&[("provider_type", Value::string("GCP"))]);
    let mut proposed = cfg.clone();
    for k in ["id", "status", "aws_user_arn", "aws_console_role_arn"] {
        proposed
            .as_object_mut()
            .unwrap()
            .insert(k.into(), prior.attr(k).clone());
    }
    let resp =
        s.rt.block_on(
            s.client
                .plan_resource_change(pb::plan_resource_change::Request {
                    type_name: TYPE.into(),
                    prior_state: dv(&prior),
                    proposed_new_state: dv(&proposed),
                    config: dv(&cfg),
                    client_capabilities: caps(),
                    ..Default::default()
                }),
        )
        .unwrap()
        .into_inner();
    assert_eq!(resp.requires_replace.len(), 1);
    let planned = decode(&resp.planned_state);
    assert_eq!(planned.attr("id"), &Value::string("7"));
    assert_eq!(
        planned.attr("aws_user_arn"),
        &Value::string("arn:aws:iam::1:user/x")
    );
    assert!(
        resp.planned_identity.is_some(),
        "identity must be echoed on update"
    );

    // Destroy plan: null in, null out.
    let resp =
        s.rt.block_on(
            s.client
                .plan_resource_change(pb::plan_resource_change::Request {
                    type_name: TYPE.into(),
                    prior_state: dv(&prior),
                    proposed_new_state: dv(&Value::Null),
                    config: dv(&Value::Null),
                    ..Default::default()
                }),
        )
        .unwrap()
        .into_inner();
    assert_eq!(decode(&resp.planned_state), Value::Null);
}

#[test]
fn official_provider_state_upgrades_with_new_attributes_null() {
    let mut s = serve();
    let raw = br#"{"access_key_id":"AKIAEXAMPLE","access_secret_key":"s3cr3t","console_password":"pw","console_username":"user","id":"42","name":"byoa","provider_type":"AWS","sign_in_login_url":"https://123.signin.aws.amazon.com/console","status":"active","timeouts":null}"#;
    let resp =
        s.rt.block_on(
            s.client
                .upgrade_resource_state(pb::upgrade_resource_state::Request {
                    type_name: TYPE.into(),
                    version: 0,
                    raw_state: Some(pb::RawState {
                        json: raw.to_vec(),
                        flatmap: Default::default(),
                    }),
                }),
        )
        .unwrap()
        .into_inner();
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    let v = decode(&resp.upgraded_state);
    assert_eq!(v.attr("id"), &Value::string("42"));
    assert_eq!(v.attr("access_secret_key"), &Value::string("s3cr3t"));
    assert_eq!(v.attr("aws_user_arn"), &Value::Null);
    assert_eq!(v.attr("access_secret_key_wo_version"), &Value::Null);

    let resp =
        s.rt.block_on(
            s.client
                .upgrade_resource_state(pb::upgrade_resource_state::Request {
                    type_name: TYPE.into(),
                    version: 9,
                    raw_state: Some(pb::RawState {
                        json: raw.to_vec(),
                        flatmap: Default::default(),
                    }),
                }),
        )
        .unwrap()
        .into_inner();
    assert_eq!(resp.diagnostics[0].summary, "Unsupported State Version");
}

fn configure(s: &mut Served) -> Vec<pb::diagnostic::Severity> {
    configure_at(s, "http://127.0.0.1:9/v1", "k", "s")
}

fn configure_at(
    s: &mut Served,
    url: &str,
    key: &str,
    secret: &str,
) -> Vec<pb::diagnostic::Severity> {
    let provider_ty = Type::Object(
        ["url", "api_key", "secret_key"]
            .iter()
            .map(|k| ((*k).to_owned(), Type::String))
            .collect(),
    );
    let cfg = Value::Object(
        [
            ("url".to_owned(), Value::string(url)),
            ("api_key".to_owned(), Value::string(key)),
            ("secret_key".to_owned(), Value::string(secret)),
        ]
        .into_iter()
        .collect(),
    );
    let resp =
        s.rt.block_on(
            s.client
                .configure_provider(pb::configure_provider::Request {
                    terraform_version: "1.15.5".into(),
                    config: Some(pb::DynamicValue {
                        msgpack: msgpack::encode(&cfg, &provider_ty).unwrap(),
                        json: vec![],
                    }),
                    client_capabilities: caps(),
                }),
        )
        .unwrap()
        .into_inner();
    resp.diagnostics.iter().map(|d| d.severity()).collect()
}

#[test]
fn import_checks_the_id_and_returns_a_stub_with_identity() {
    let mut s = serve();
    assert!(configure(&mut s).is_empty());
    let import = |s: &mut Served, id: &str| {
        s.rt.block_on(
            s.client
                .import_resource_state(pb::import_resource_state::Request {
                    type_name: TYPE.into(),
                    id: id.into(),
                    client_capabilities: caps(),
                    identity: None,
                }),
        )
        .unwrap()
        .into_inner()
    };
    for bad in ["abc", "-4", "1", ""] {
        let r = import(&mut s, bad);
        assert!(r.imported_resources.is_empty());
        assert_eq!(r.diagnostics[0].summary, "Invalid Import ID", "{bad:?}");
    }
    let r = import(&mut s, "42");
    let stub = decode(&r.imported_resources[0].state);
    assert_eq!(stub.attr("id"), &Value::string("42"));
    assert_eq!(stub.attr("access_secret_key"), &Value::Null);
    assert!(r.imported_resources[0].identity.is_some());
}

#[test]
fn missing_credentials_are_reported_on_the_provider_attributes() {
    let mut s = serve();
    let provider_ty = Type::Object(
        ["url", "api_key", "secret_key"]
            .iter()
            .map(|k| ((*k).to_owned(), Type::String))
            .collect(),
    );
    // Explicit empty-string keys count as missing; env vars of the test
    // process are not consulted for values set in the block.
    let cfg = Value::Object(
        [
            ("url".to_owned(), Value::string("http://127.0.0.1:9/v1")),
            ("api_key".to_owned(), Value::Null),
            ("secret_key".to_owned(), Value::Null),
        ]
        .into_iter()
        .collect(),
    );
    if std::env::var_os("REDISCLOUD_ACCESS_KEY").is_some() {
        return; // the environment supplies them
    }
    let resp =
        s.rt.block_on(
            s.client
                .configure_provider(pb::configure_provider::Request {
                    terraform_version: "1.15.5".into(),
                    config: Some(pb::DynamicValue {
                        msgpack: msgpack::encode(&cfg, &provider_ty).unwrap(),
                        json: vec![],
                    }),
                    client_capabilities: caps(),
                }),
        )
        .unwrap()
        .into_inner();
    let paths: Vec<String> = resp.diagnostics.iter().map(path_of).collect();
    assert_eq!(paths, ["api_key", "secret_key"]);
}

#[test]
fn stop_provider_answers() {
    let mut s = serve();
    let r =
        s.rt.block_on(s.client.stop_provider(pb::stop_provider::Request {}))
            .unwrap();
    assert_eq!(r.into_inner().error, "");
}

#[test]
fn malformed_msgpack_is_a_diagnostic_not_a_crash() {
    let mut s = serve();
    let junk = Some(pb::DynamicValue {
        msgpack: vec![0x93, 0xc1, 0xff],
        json: vec![],
    });
    let r =
        s.rt.block_on(
            s.client
                .plan_resource_change(pb::plan_resource_change::Request {
                    type_name: TYPE.into(),
                    prior_state: junk.clone(),
                    proposed_new_state: junk.clone(),
                    config: junk,
                    ..Default::default()
                }),
        )
        .unwrap()
        .into_inner();
    assert!(
        r.diagnostics
            .iter()
            .any(|d| d.summary == "Invalid Value From Terraform")
    );
    let r =
        s.rt.block_on(
            s.client
                .validate_resource_config(pb::validate_resource_config::Request {
                    type_name: "rediscloud_nope".into(),
                    ..Default::default()
                }),
        )
        .unwrap()
        .into_inner();
    assert_eq!(r.diagnostics[0].summary, "Unknown Resource Type");
}

proptest! {
    // PROPTEST_CASES raises the case count for long fuzz runs (see proof_faults.rs).
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
    ))]
    /// No byte string sent as a DynamicValue or raw state makes the server
    /// panic: every answer is a normal response, never "Provider Internal Error".
    #[test]
    fn arbitrary_bytes_never_panic_the_server(bytes in proptest::collection::vec(any::<u8>(), 0..256), json in any::<bool>()) {
        thread_local!(static SERVED: std::cell::RefCell<Served> = std::cell::RefCell::new(serve()));
        SERVED.with(|s| {
            let mut s = s.borrow_mut();
            let v = Some(if json {
                pb::DynamicValue { msgpack: vec![], json: bytes.clone() }
            } else {
                pb::DynamicValue { msgpack: bytes.clone(), json: vec![] }
            });
            let s = &mut *s;
            let mut diags = Vec::new();
            diags.extend(s.rt.block_on(s.client.validate_resource_config(pb::validate_resource_config::Request { type_name: TYPE.into(), config: v.clone(), client_capabilities: caps() })).unwrap().into_inner().diagnostics);
            diags.extend(s.rt.block_on(s.client.plan_resource_change(pb::plan_resource_change::Request { type_name: TYPE.into(), prior_state: v.clone(), proposed_new_state: v.clone(), config: v.clone(), ..Default::default() })).unwrap().into_inner().diagnostics);
            diags.extend(s.rt.block_on(s.client.upgrade_resource_state(pb::upgrade_resource_state::Request { type_name: TYPE.into(), version: 0, raw_state: Some(pb::RawState { json: bytes.clone(), flatmap: Default::default() }) })).unwrap().into_inner().diagnostics);
            diags.extend(s.rt.block_on(s.client.validate_data_resource_config(pb::validate_data_resource_config::Request { type_name: TYPE.into(), config: v.clone() })).unwrap().into_inner().diagnostics);
            diags.extend(s.rt.block_on(s.client.validate_provider_config(pb::validate_provider_config::Request { config: v.clone() })).unwrap().into_inner().diagnostics);
            diags.extend(s.rt.block_on(s.client.import_resource_state(pb::import_resource_state::Request { type_name: TYPE.into(), id: String::from_utf8_lossy(&bytes).into_owned(), client_capabilities: caps(), identity: Some(pb::ResourceIdentityData { identity_data: v.clone() }) })).unwrap().into_inner().diagnostics);
            for d in &diags {
                prop_assert_ne!(&d.summary, "Provider Internal Error");
            }
            Ok(())
        })?;
    }
}

#[test]
fn metadata_lists_the_types_and_identity_upgrades_from_json() {
    let mut s = serve();
    let meta =
        s.rt.block_on(s.client.get_metadata(pb::get_metadata::Request {}))
            .unwrap()
            .into_inner();
    assert_eq!(meta.resources[0].type_name, TYPE);
    assert_eq!(meta.data_sources[0].type_name, TYPE);
    let up =
        s.rt.block_on(
            s.client
                .upgrade_resource_identity(pb::upgrade_resource_identity::Request {
                    type_name: TYPE.into(),
                    version: 0,
                    raw_identity: Some(pb::RawState {
                        json: br#"{"id":"42"}"#.to_vec(),
                        flatmap: Default::default(),
                    }),
                }),
        )
        .unwrap()
        .into_inner();
    assert!(up.diagnostics.is_empty(), "{:?}", up.diagnostics);
    let id_ty = Type::Object([("id".to_owned(), Type::String)].into_iter().collect());
    let id = msgpack::decode(
        &up.upgraded_identity.unwrap().identity_data.unwrap().msgpack,
        &id_ty,
    )
    .unwrap();
    assert_eq!(id.attr("id"), &Value::string("42"));
}

/// Apply (create and delete), Read and ReadDataSource through gRPC, against an
/// in-process emulator: the RPCs that reach the API.
#[test]
fn apply_read_and_data_source_reach_the_api() {
    use rediscloud_tf::emulator::{EmulatorConfig, start};
    let mut s = serve();
    let emu =
        s.rt.block_on(start(EmulatorConfig {
            port: 0,
            task_stage_ms: 5,
            activation_ms: 10,
            delete_ms: 5,
            quiet: true,
            ..EmulatorConfig::default()
        }))
        .expect("emulator");
    assert!(
        configure_at(
            &mut s,
            &emu.base_url(),
            "emulator-access-key",
            "emulator-secret-key"
        )
        .is_empty()
    );

    let cfg = config(&[]);
    let planned =
        s.rt.block_on(
            s.client
                .plan_resource_change(pb::plan_resource_change::Request {
                    type_name: TYPE.into(),
                    prior_state: dv(&Value::Null),
                    proposed_new_state: dv(&cfg),
                    config: dv(&cfg),
                    client_capabilities: caps(),
                    ..Default::default()
                }),
        )
        .unwrap()
        .into_inner();
    let created =
        s.rt.block_on(
            s.client
                .apply_resource_change(pb::apply_resource_change::Request {
                    type_name: TYPE.into(),
                    prior_state: dv(&Value::Null),
                    planned_state: planned.planned_state.clone(),
                    config: dv(&cfg),
                    ..Default::default()
                }),
        )
        .unwrap()
        .into_inner();
    assert!(created.diagnostics.is_empty(), "{:?}", created.diagnostics);
    let state = decode(&created.new_state);
    assert_eq!(state.attr("status"), &Value::string("active"));
    assert!(state.attr("aws_user_arn").as_str().is_some());
    assert!(created.new_identity.is_some());

    let read =
        s.rt.block_on(s.client.read_resource(pb::read_resource::Request {
            type_name: TYPE.into(),
            current_state: created.new_state.clone(),
            client_capabilities: caps(),
            ..Default::default()
        }))
        .unwrap()
        .into_inner();
    assert_eq!(
        decode(&read.new_state),
        state,
        "a refresh right after apply changes nothing"
    );

    let ds_ty = rediscloud_tf::provider::cloud_account::data_source::CloudAccountDataSource;
    let ds_ty = rediscloud_tf::framework::data_source::DataSource::schema(&ds_ty).implied_type();
    let Type::Object(attrs) = &ds_ty else {
        unreachable!()
    };
    let mut q: BTreeMap<String, Value> = attrs.keys().map(|k| (k.clone(), Value::Null)).collect();
    q.insert("name".into(), Value::string("byoa"));
    let found =
        s.rt.block_on(s.client.read_data_source(pb::read_data_source::Request {
            type_name: TYPE.into(),
            config: Some(pb::DynamicValue {
                msgpack: msgpack::encode(&Value::Object(q), &ds_ty).unwrap(),
                json: vec![],
            }),
            ..Default::default()
        }))
        .unwrap()
        .into_inner();
    assert!(found.diagnostics.is_empty(), "{:?}", found.diagnostics);
    let found = msgpack::decode(&found.state.unwrap().msgpack, &ds_ty).unwrap();
    assert_eq!(found.attr("id"), state.attr("id"));

    let deleted =
        s.rt.block_on(
            s.client
                .apply_resource_change(pb::apply_resource_change::Request {
                    type_name: TYPE.into(),
                    prior_state: created.new_state.clone(),
                    planned_state: dv(&Value::Null),
                    config: dv(&Value::Null),
                    ..Default::default()
                }),
        )
        .unwrap()
        .into_inner();
    assert!(deleted.diagnostics.is_empty(), "{:?}", deleted.diagnostics);
    assert_eq!(decode(&deleted.new_state), Value::Null);
    let gone =
        s.rt.block_on(s.client.read_resource(pb::read_resource::Request {
            type_name: TYPE.into(),
            current_state: created.new_state,
            client_capabilities: caps(),
            ..Default::default()
        }))
        .unwrap()
        .into_inner();
    assert_eq!(
        decode(&gone.new_state),
        Value::Null,
        "a deleted account reads as gone"
    );
}
