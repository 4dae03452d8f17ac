//! In-process gRPC tests: every RPC the framework serves, driven through a real
//! tonic client over loopback, including malformed msgpack and unknown values.

use std::collections::BTreeMap;

use pb::provider_client::ProviderClient;
use pb::provider_server::ProviderServer;
use proptest::prelude::*;
use terraform_provider_rediscloud::provider::RedisCloudProvider;
use tfplugin::framework::msgpack;
use tfplugin::framework::server::FrameworkServer;
use tfplugin::framework::value::{Type, Value};
use tfplugin::wire::proto::tfplugin6 as pb;
use tonic::transport::Channel;

const TYPE: &str = "rediscloud_cloud_account";

struct Served {
    client: ProviderClient<Channel>,
    rt: tokio::runtime::Runtime,
    /// The API [`configure`] points the provider at (ConfigureProvider proves its keys there).
    api: Option<rediscloud_emulator::RunningEmulator>,
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
    Served {
        client,
        rt,
        api: None,
    }
}

fn resource_type() -> Type {
    terraform_provider_rediscloud::provider::cloud_account::model::resource_schema().implied_type()
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
fn a_required_attribute_set_to_null_is_reported_on_it() {
    // Generated configuration writes `console_username = null` (the API never returns it);
    // Terraform passes an explicit null for a required attribute on to the provider.
    let mut s = serve();
    let d = validate(&mut s, &config(&[("console_username", Value::Null)]));
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].summary, "Missing Configuration for Required Attribute");
    assert_eq!(path_of(&d[0]), "console_username");
    // Unknown is not null: it is checked once known.
    assert!(validate(&mut s, &config(&[("console_username", Value::unknown())])).is_empty());
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

/// Configures the provider against a fresh in-process emulator, kept for the test's lifetime.
fn configure(s: &mut Served) -> Vec<pb::diagnostic::Severity> {
    use rediscloud_emulator::{EmulatorConfig, start};
    let api =
        s.rt.block_on(start(EmulatorConfig {
            port: 0,
            quiet: true,
            ..EmulatorConfig::default()
        }))
        .expect("emulator");
    let base = api.base_url();
    s.api = Some(api);
    configure_at(s, &base, "emulator-access-key", "emulator-secret-key")
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
    // Not an ID: where to find one.
    let r = import(&mut s, "abc");
    assert!(
        r.diagnostics[0].detail.contains("`terraform query`"),
        "{}",
        r.diagnostics[0].detail
    );
    // An account's name for its ID: that account's import command, and nothing imported.
    let base = s.api.as_ref().expect("configured").base_url();
    let id = create_through_api(&s, &base, "by-name", "AWS", "AKIABYNAME");
    let r = import(&mut s, "by-name");
    assert!(r.imported_resources.is_empty());
    assert!(
        r.diagnostics[0]
            .detail
            .contains(&format!("Cloud account {id} is named \"by-name\": import it with `terraform import <resource address> {id}`")),
        "{}",
        r.diagnostics[0].detail
    );
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
    use rediscloud_emulator::{EmulatorConfig, start};
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

    let ds_ty =
        terraform_provider_rediscloud::provider::cloud_account::data_source::CloudAccountDataSource;
    let ds_ty = tfplugin::framework::data_source::DataSource::schema(&ds_ty).implied_type();
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

// ------------------------------------------------------------ list resources and config generation

fn list_type() -> Type {
    Type::Object(
        ["name", "name_regex", "provider_type", "status"]
            .iter()
            .map(|k| ((*k).to_owned(), Type::String))
            .collect(),
    )
}

/// A list `config` block with `filters` set and every other attribute null.
fn list_config(filters: &[(&str, &str)]) -> Option<pb::DynamicValue> {
    let Type::Object(attrs) = list_type() else {
        unreachable!()
    };
    let mut m: BTreeMap<String, Value> = attrs.keys().map(|k| (k.clone(), Value::Null)).collect();
    for (k, v) in filters {
        m.insert((*k).to_owned(), Value::string(*v));
    }
    Some(pb::DynamicValue {
        msgpack: msgpack::encode(&Value::Object(m), &list_type()).expect("encode"),
        json: vec![],
    })
}

fn validate_list(s: &mut Served, config: Option<pb::DynamicValue>) -> Vec<pb::Diagnostic> {
    s.rt.block_on(s.client.validate_list_resource_config(
        pb::validate_list_resource_config::Request {
            type_name: TYPE.into(),
            config,
            ..Default::default()
        },
    ))
    .expect("rpc")
    .into_inner()
    .diagnostics
}

/// Every event of one ListResource stream; a gRPC error fails the test.
fn list(s: &mut Served, req: pb::list_resource::Request) -> Vec<pb::list_resource::Event> {
    s.rt.block_on(async {
        let mut stream = s
            .client
            .list_resource(req)
            .await
            .expect("a stream, not a gRPC error")
            .into_inner();
        let mut events = Vec::new();
        while let Some(event) = stream.message().await.expect("no gRPC error mid-stream") {
            events.push(event);
        }
        events
    })
}

fn list_with(filters: &[(&str, &str)], limit: i64, include: bool) -> pb::list_resource::Request {
    pb::list_resource::Request {
        type_name: TYPE.into(),
        config: list_config(filters),
        include_resource_object: include,
        limit,
    }
}

fn identity_id(event: &pb::list_resource::Event) -> String {
    let id_ty = Type::Object([("id".to_owned(), Type::String)].into_iter().collect());
    let data = event
        .identity
        .as_ref()
        .and_then(|i| i.identity_data.as_ref())
        .unwrap_or_else(|| panic!("an identity in {event:?}"));
    let id = msgpack::decode(&data.msgpack, &id_ty).expect("identity");
    id.attr("id").as_str().expect("id").to_owned()
}

#[test]
fn list_resource_schema_metadata_and_generation_capability() {
    let mut s = serve();
    let resp =
        s.rt.block_on(
            s.client
                .get_provider_schema(pb::get_provider_schema::Request {}),
        )
        .expect("rpc")
        .into_inner();
    let block = resp.list_resource_schemas[TYPE].block.clone().unwrap();
    let mut names: Vec<&str> = block.attributes.iter().map(|a| a.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["name", "name_regex", "provider_type", "status"]);
    for a in &block.attributes {
        assert!(a.optional && !a.required && !a.computed, "{}", a.name);
        assert!(!a.description.is_empty(), "{} has no description", a.name);
    }
    assert!(
        block.block_types.is_empty(),
        "only the config block's contents"
    );
    assert!(resp.server_capabilities.unwrap().generate_resource_config);
    let meta =
        s.rt.block_on(s.client.get_metadata(pb::get_metadata::Request {}))
            .unwrap()
            .into_inner();
    let listed: Vec<&str> = meta
        .list_resources
        .iter()
        .map(|t| t.type_name.as_str())
        .collect();
    assert_eq!(listed, [TYPE]);
    assert!(meta.server_capabilities.unwrap().generate_resource_config);
}

#[test]
fn list_config_errors_point_at_the_attribute_inside_the_config_block() {
    let mut s = serve();
    assert!(validate_list(&mut s, list_config(&[])).is_empty());
    assert!(
        validate_list(
            &mut s,
            list_config(&[
                ("name", "prod"),
                ("name_regex", "^prod-[a-z]+$"),
                ("provider_type", "GCP"),
                ("status", "active")
            ])
        )
        .is_empty()
    );
    // A list block without a config block: Terraform sends an object of nulls, or nothing.
    assert!(validate_list(&mut s, None).is_empty());
    for (attr, value, summary) in [
        ("provider_type", "AZURE", "Invalid Attribute Value Match"),
        ("name_regex", "(prod", "Invalid Attribute Value"),
        ("name_regex", "[z-a]", "Invalid Attribute Value"),
        ("status", "Active", "Invalid Attribute Value Match"),
        ("status", "deleted", "Invalid Attribute Value Match"),
        ("name", "  ", "Invalid Attribute Value"),
    ] {
        let d = validate_list(&mut s, list_config(&[(attr, value)]));
        assert_eq!(d.len(), 1, "{attr} = {value:?}: {d:?}");
        assert_eq!(d[0].summary, summary, "{attr} = {value:?}");
        assert_eq!(path_of(&d[0]), format!("config.{attr}"), "{attr}");
    }
    let d = validate_list(&mut s, list_config(&[("name_regex", "(prod")]));
    assert!(d[0].detail.contains("unclosed group"), "{}", d[0].detail);

    // Unknown values wait until they are known.
    let Type::Object(attrs) = list_type() else {
        unreachable!()
    };
    let unknown = Value::Object(
        attrs
            .keys()
            .map(|k| (k.clone(), Value::unknown()))
            .collect(),
    );
    let d = validate_list(
        &mut s,
        Some(pb::DynamicValue {
            msgpack: msgpack::encode(&unknown, &list_type()).unwrap(),
            json: vec![],
        }),
    );
    assert!(d.is_empty(), "{d:?}");

    // Malformed input and an unknown type are diagnostics, not crashes.
    let junk = Some(pb::DynamicValue {
        msgpack: vec![0x93, 0xc1, 0xff],
        json: vec![],
    });
    assert_eq!(
        validate_list(&mut s, junk)[0].summary,
        "Invalid Value From Terraform"
    );
    let r =
        s.rt.block_on(s.client.validate_list_resource_config(
            pb::validate_list_resource_config::Request {
                type_name: "rediscloud_nope".into(),
                config: list_config(&[]),
                ..Default::default()
            },
        ))
        .unwrap()
        .into_inner();
    assert_eq!(r.diagnostics[0].summary, "Unknown List Resource Type");
    // `limit` and `include_resource`, when a client sends them, are checked on the list block.
    let r =
        s.rt.block_on(s.client.validate_list_resource_config(
            pb::validate_list_resource_config::Request {
                type_name: TYPE.into(),
                config: list_config(&[]),
                include_resource_object: Some(pb::DynamicValue {
                    msgpack: msgpack::encode(&Value::Bool(true), &Type::Bool).unwrap(),
                    json: vec![],
                }),
                limit: Some(pb::DynamicValue {
                    msgpack:
                        msgpack::encode(&Value::Number((-3i64).into()), &Type::Number).unwrap(),
                    json: vec![],
                }),
            },
        ))
        .unwrap()
        .into_inner();
    assert_eq!(r.diagnostics.len(), 1, "{:?}", r.diagnostics);
    assert_eq!(
        (
            r.diagnostics[0].summary.as_str(),
            path_of(&r.diagnostics[0])
        ),
        ("Invalid List Limit", "limit".to_owned())
    );
}

#[test]
fn list_resource_problems_are_events_not_grpc_errors() {
    let mut s = serve();
    // Not configured yet.
    let events = list(&mut s, list_with(&[], 10, false));
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].identity.is_none());
    assert_eq!(events[0].diagnostic[0].summary, "Provider Not Configured");
    assert!(configure(&mut s).is_empty());
    // Unknown type, malformed config, a bad filter, a negative limit: one event each.
    let mut unknown = list_with(&[], 10, false);
    unknown.type_name = "rediscloud_nope".into();
    let mut junk = list_with(&[], 10, false);
    // An array header promising two elements, then one.
    junk.config = Some(pb::DynamicValue {
        msgpack: vec![0x92, 0x01],
        json: vec![],
    });
    for (req, summary, path) in [
        (unknown, "Unknown List Resource Type", ""),
        (junk, "Invalid Value From Terraform", ""),
        (
            list_with(&[("name_regex", "a{2,1}")], 10, false),
            "Invalid Attribute Value",
            "config.name_regex",
        ),
        (list_with(&[], -1, false), "Invalid List Limit", "limit"),
    ] {
        let events = list(&mut s, req);
        assert_eq!(events.len(), 1, "{summary}: {events:?}");
        assert_eq!(events[0].diagnostic[0].summary, summary);
        assert_eq!(path_of(&events[0].diagnostic[0]), path);
    }
    // Limit 0: nothing wanted, nothing sent, the API not called.
    assert!(list(&mut s, list_with(&[], 0, true)).is_empty());
    // The API gone after ConfigureProvider proved it: an error event.
    if let Some(api) = s.api.take() {
        s.rt.block_on(api.shutdown());
    }
    let events = list(&mut s, list_with(&[], 10, false));
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0].diagnostic[0].summary,
        "Unable to List Cloud Accounts"
    );
}

/// Creates an account through the REST API, as the Redis Cloud console would, and waits until
/// it is active; returns its ID.
fn create_through_api(s: &Served, base: &str, name: &str, provider: &str, key: &str) -> i64 {
    s.rt.block_on(async {
        let http = reqwest::Client::new();
        let call = |req: reqwest::RequestBuilder| {
            req.header("x-api-key", "emulator-access-key")
                .header("x-api-secret-key", "emulator-secret-key")
        };
        let task: serde_json::Value = call(http.post(format!("{base}/cloud-accounts")))
            .json(&serde_json::json!({
                "name": name, "provider": provider, "accessKeyId": key,
                "accessSecretKey": "secret", "consoleUsername": "console", "consolePassword": "password",
                "signInLoginUrl": "https://123456789012.signin.aws.amazon.com/console"
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let task = task["taskId"].as_str().expect("a task").to_owned();
        for _ in 0..500 {
            let t: serde_json::Value = call(http.get(format!("{base}/tasks/{task}")))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(id) = t["response"]["resourceId"].as_i64() {
                let a: serde_json::Value = call(http.get(format!("{base}/cloud-accounts/{id}")))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if a["status"] == "active" {
                    return id;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("{name} never became active");
    })
}

/// API writes the in-process emulator has logged.
fn writes(s: &Served, admin: &str) -> usize {
    s.rt.block_on(async {
        let log: serde_json::Value = reqwest::get(format!("{admin}/requests"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let entries = log
            .as_array()
            .or_else(|| log["requests"].as_array())
            .cloned()
            .unwrap_or_default();
        entries
            .iter()
            .filter(|r| matches!(r["method"].as_str(), Some("POST" | "PUT" | "DELETE")))
            .count()
    })
}

#[test]
fn list_resource_streams_the_accounts_the_api_holds() {
    use rediscloud_emulator::{EmulatorConfig, start};
    let mut s = serve();
    let emu =
        s.rt.block_on(start(EmulatorConfig {
            port: 0,
            task_stage_ms: 5,
            activation_ms: 10,
            delete_ms: 5,
            quiet: true,
            // The list masks access keys: objects must carry the real ones.
            mask_list_access_keys: true,
            ..EmulatorConfig::default()
        }))
        .expect("emulator");
    let base = emu.base_url();
    let eu = create_through_api(&s, &base, "prod-eu", "AWS", "AKIALISTEU");
    let us = create_through_api(&s, &base, "prod-us", "GCP", "AKIALISTUS");
    let staging = create_through_api(&s, &base, "staging", "AWS", "AKIALISTST");
    assert!(configure_at(&mut s, &base, "emulator-access-key", "emulator-secret-key").is_empty());
    let before = writes(&s, &emu.admin_url());
    let ids = |events: &[pb::list_resource::Event]| -> Vec<String> {
        events.iter().map(identity_id).collect()
    };

    // Everything but Redis's internal account, in ID order, with "name (ID)".
    let all = list(&mut s, list_with(&[], 100, false));
    assert_eq!(
        ids(&all),
        [eu, us, staging].map(|i| i.to_string()),
        "{all:?}"
    );
    assert_eq!(all[0].display_name, format!("prod-eu ({eu})"));
    assert!(
        all.iter()
            .all(|e| e.diagnostic.is_empty() && e.resource_object.is_none())
    );

    // Filters, each alone and together.
    for (filters, want) in [
        (vec![("name", "staging")], vec![staging]),
        (vec![("name_regex", "^prod-")], vec![eu, us]),
        (vec![("provider_type", "GCP")], vec![us]),
        (vec![("status", "active")], vec![eu, us, staging]),
        (vec![("status", "error")], vec![]),
        (
            vec![("name_regex", "^prod-"), ("provider_type", "AWS")],
            vec![eu],
        ),
        (vec![("name", "Redis Internal Resources")], vec![]),
    ] {
        let got = list(&mut s, list_with(&filters, 100, false));
        let want: Vec<String> = want.iter().map(i64::to_string).collect();
        assert_eq!(ids(&got), want, "{filters:?}");
    }

    // The limit cuts the stream.
    assert_eq!(
        ids(&list(&mut s, list_with(&[], 2, false))),
        [eu, us].map(|i| i.to_string())
    );

    // With objects: every attribute the API returns, the real access key, no secret.
    let with = list(&mut s, list_with(&[("name", "prod-eu")], 100, true));
    let object = decode(&with[0].resource_object);
    assert_eq!(object.attr("id"), &Value::string(eu.to_string()));
    assert_eq!(object.attr("name"), &Value::string("prod-eu"));
    assert_eq!(object.attr("provider_type"), &Value::string("AWS"));
    assert_eq!(object.attr("access_key_id"), &Value::string("AKIALISTEU"));
    assert_eq!(object.attr("status"), &Value::string("active"));
    assert!(object.attr("aws_user_arn").as_str().is_some());
    assert!(object.attr("sign_in_login_url").as_str().is_some());
    for secret in [
        "access_secret_key",
        "access_secret_key_wo",
        "console_username",
        "console_password",
        "console_password_wo",
    ] {
        assert_eq!(object.attr(secret), &Value::Null, "{secret}");
    }

    // The configuration generated from that object: the write-only secrets with their versions,
    // nothing only the provider sets.
    let generated =
        s.rt.block_on(
            s.client
                .generate_resource_config(pb::generate_resource_config::Request {
                    type_name: TYPE.into(),
                    state: with[0].resource_object.clone(),
                }),
        )
        .unwrap()
        .into_inner();
    assert!(
        generated.diagnostics.is_empty(),
        "{:?}",
        generated.diagnostics
    );
    let config = decode(&generated.config);
    for (attr, want) in [
        ("name", Value::string("prod-eu")),
        ("access_key_id", Value::string("AKIALISTEU")),
        ("access_secret_key_wo_version", Value::Number(1i64.into())),
        ("console_password_wo_version", Value::Number(1i64.into())),
        ("id", Value::Null),
        ("status", Value::Null),
        ("aws_user_arn", Value::Null),
        ("access_secret_key", Value::Null),
        ("access_secret_key_wo", Value::Null),
    ] {
        assert_eq!(config.attr(attr), &want, "{attr}");
    }

    assert_eq!(
        writes(&s, &emu.admin_url()),
        before,
        "a listing never writes"
    );
}

#[test]
fn generate_resource_config_answers_bad_input_with_diagnostics() {
    let mut s = serve();
    let generate = |s: &mut Served, type_name: &str, state: Option<pb::DynamicValue>| {
        s.rt.block_on(
            s.client
                .generate_resource_config(pb::generate_resource_config::Request {
                    type_name: type_name.into(),
                    state,
                }),
        )
        .unwrap()
        .into_inner()
    };
    // No state (a result listed without its object): every attribute left for the user.
    let r = generate(&mut s, TYPE, dv(&Value::Null));
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(decode(&r.config), Value::Null);
    let junk = Some(pb::DynamicValue {
        msgpack: vec![0x93, 0xc1, 0xff],
        json: vec![],
    });
    assert_eq!(
        generate(&mut s, TYPE, junk).diagnostics[0].summary,
        "Invalid Value From Terraform"
    );
    assert_eq!(
        generate(&mut s, "rediscloud_nope", dv(&Value::Null)).diagnostics[0].summary,
        "Unknown Resource Type"
    );
    // A state with the plain secrets set (an account managed before) keeps them, and needs no
    // write-only versions.
    let state = config(&[
        ("id", Value::string("9")),
        ("status", Value::string("active")),
    ]);
    let r = generate(&mut s, TYPE, dv(&state));
    let c = decode(&r.config);
    assert_eq!(c.attr("access_secret_key"), &Value::string("s3cr3t"));
    assert_eq!(c.attr("access_secret_key_wo_version"), &Value::Null);
    assert_eq!(c.attr("id"), &Value::Null);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
    ))]
    /// No bytes sent to the list and generation RPCs, and no limit, makes the server panic or
    /// answer with a gRPC error.
    #[test]
    fn arbitrary_bytes_never_panic_the_list_rpcs(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
        json in any::<bool>(),
        limit in any::<i64>(),
        include in any::<bool>(),
    ) {
        thread_local!(static SERVED: std::cell::RefCell<Served> = std::cell::RefCell::new(serve()));
        SERVED.with(|s| {
            let s = &mut *s.borrow_mut();
            let v = Some(if json {
                pb::DynamicValue { msgpack: vec![], json: bytes.clone() }
            } else {
                pb::DynamicValue { msgpack: bytes.clone(), json: vec![] }
            });
            let mut diags = Vec::new();
            diags.extend(s.rt.block_on(s.client.validate_list_resource_config(pb::validate_list_resource_config::Request {
                type_name: TYPE.into(), config: v.clone(), include_resource_object: v.clone(), limit: v.clone(),
            })).unwrap().into_inner().diagnostics);
            diags.extend(s.rt.block_on(s.client.generate_resource_config(pb::generate_resource_config::Request {
                type_name: TYPE.into(), state: v.clone(),
            })).unwrap().into_inner().diagnostics);
            let events = list(s, pb::list_resource::Request { type_name: TYPE.into(), config: v.clone(), include_resource_object: include, limit });
            prop_assert!(events.len() <= 1, "{events:?}");
            diags.extend(events.into_iter().flat_map(|e| e.diagnostic));
            for d in &diags {
                prop_assert_ne!(&d.summary, "Provider Internal Error");
            }
            Ok(())
        })?;
    }

    /// Any filter values against a live API: no panic, never more results than the limit, and
    /// every result passes the filters given.
    #[test]
    fn arbitrary_filters_list_only_what_matches(
        name in proptest::option::of("[a-z\\- ]{0,8}"),
        name_regex in proptest::option::of("[a-z^$.*+?()\\[\\]{}|\\\\0-9,-]{0,10}"),
        provider_type in proptest::option::of(prop_oneof![Just("AWS".to_owned()), Just("GCP".to_owned()), "[A-Z]{0,4}"]),
        status in proptest::option::of(prop_oneof![Just("active".to_owned()), "[a-z\\-]{0,8}"]),
        limit in -2i64..6,
        include in any::<bool>(),
    ) {
        struct Live { served: Served, _emu: rediscloud_emulator::RunningEmulator }
        thread_local!(static LIVE: std::cell::RefCell<Option<Live>> = const { std::cell::RefCell::new(None) });
        LIVE.with(|live| {
            let mut live = live.borrow_mut();
            let live = live.get_or_insert_with(|| {
                use rediscloud_emulator::{EmulatorConfig, start};
                let mut served = serve();
                let emu = served.rt.block_on(start(EmulatorConfig {
                    port: 0, task_stage_ms: 1, activation_ms: 1, delete_ms: 1, quiet: true,
                    ..EmulatorConfig::default()
                })).expect("emulator");
                let base = emu.base_url();
                for (i, (n, p)) in [("prod-a", "AWS"), ("prod-b", "GCP"), ("dev", "AWS")].iter().enumerate() {
                    create_through_api(&served, &base, n, p, &format!("AKIAPROP{i}"));
                }
                assert!(configure_at(&mut served, &base, "emulator-access-key", "emulator-secret-key").is_empty());
                Live { served, _emu: emu }
            });
            let s = &mut live.served;
            let mut filters: Vec<(&str, &str)> = Vec::new();
            for (k, v) in [("name", &name), ("name_regex", &name_regex), ("provider_type", &provider_type), ("status", &status)] {
                if let Some(v) = v { filters.push((k, v.as_str())); }
            }
            let events = list(s, list_with(&filters, limit, include));
            let problems: Vec<&pb::Diagnostic> = events.iter().flat_map(|e| &e.diagnostic).collect();
            for d in &problems {
                prop_assert_ne!(&d.summary, "Provider Internal Error");
                prop_assert!(path_of(d).starts_with("config.") || path_of(d) == "limit", "{d:?}");
            }
            if !problems.is_empty() {
                prop_assert_eq!(events.len(), 1);
                return Ok(());
            }
            prop_assert!(events.len() as i64 <= limit.max(0));
            if events.is_empty() {
                // Limit 0 asks for nothing: nothing is checked or listed.
                return Ok(());
            }
            let re = name_regex.as_deref().map(|r| regex::Regex::new(r).expect("accepted, so valid"));
            for e in &events {
                let shown = e.display_name.rsplit_once(" (").map(|(n, _)| n).unwrap_or_default();
                prop_assert!(name.as_deref().is_none_or(|n| n == shown), "{shown} for name {name:?}");
                prop_assert!(re.as_ref().is_none_or(|r| r.is_match(shown)), "{shown} for {name_regex:?}");
                prop_assert_eq!(e.resource_object.is_some(), include);
                prop_assert_ne!(identity_id(e), "1");
            }
            Ok(())
        })?;
    }
}
