//! Contract test: every operation (including error paths) is exercised and each response is checked
//! against the OpenAPI contract (a copy of the project's shared contract, kept in
//! `tests/fixtures` so a clone is self-contained): status declared for the operation, 2xx bodies JSON and
//! valid against the operation's response schema.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::EmulatorConfig;
use super::tests::{Emu, Resp, create_body, test_config, update_body};

/// The committed copy of the contract, at the workspace root.
const SPEC: &str = "../../tests/fixtures/redis-cloud-openapi.json";

fn load_spec() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SPEC);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("spec is JSON")
}

/// OpenAPI 3.0 schema objects -> JSON Schema: `nullable: true` widens `type` to include null;
/// everything else (`format`, `readOnly`, `example`, `description`) is valid JSON Schema already.
fn to_json_schema(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut out: Map<String, Value> = map
                .iter()
                .map(|(k, v)| (k.clone(), to_json_schema(v)))
                .collect();
            if out.remove("nullable") == Some(Value::Bool(true))
                && let Some(t) = out.get("type").cloned()
            {
                out.insert("type".to_owned(), json!([t, "null"]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_json_schema).collect()),
        other => other.clone(),
    }
}

struct Contract {
    spec: Value,
    components: Value,
    seen: BTreeSet<(String, String, u16)>,
}

impl Contract {
    fn new() -> Self {
        let spec = load_spec();
        let components = to_json_schema(&spec["components"]);
        Self {
            spec,
            components,
            seen: BTreeSet::new(),
        }
    }

    /// Checks one response of `method spec_path` against the contract.
    fn check(&mut self, method: &str, spec_path: &str, resp: &Resp) {
        let op = &self.spec["paths"][spec_path][method.to_ascii_lowercase()];
        assert!(
            op.is_object(),
            "{method} {spec_path} is not in the contract"
        );
        let code = resp.status.as_u16();
        let declared = &op["responses"][code.to_string()];
        assert!(
            declared.is_object(),
            "{method} {spec_path} answered {code}, not declared by the contract: {}",
            resp.body
        );
        self.seen
            .insert((method.to_owned(), spec_path.to_owned(), code));
        if !resp.status.is_success() {
            return;
        }
        let content_type = resp
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(
            content_type.starts_with("application/json"),
            "{method} {spec_path}: 2xx must be JSON"
        );
        let content = declared["content"]
            .as_object()
            .expect("2xx declares content");
        let schema = content
            .values()
            .next()
            .map(|c| &c["schema"])
            .expect("2xx declares a schema");
        let root = json!({"allOf": [to_json_schema(schema)], "components": self.components});
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("schema for {method} {spec_path} does not compile: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(&resp.body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {spec_path} {code} violates the contract: {errors:?}\nbody: {}",
            resp.body
        );
    }
}

#[tokio::test]
async fn every_operation_conforms_to_the_openapi_contract() {
    let mut c = Contract::new();
    let emu = Emu::new(EmulatorConfig {
        rate_limit_per_minute: 1000,
        ..test_config()
    });
    const ACCOUNTS: &str = "/v1/cloud-accounts";
    const ACCOUNT: &str = "/v1/cloud-accounts/{cloudAccountId}";
    const TASKS: &str = "/v1/tasks";
    const TASK: &str = "/v1/tasks/{taskId}";

    // Success paths through every lifecycle stage.
    c.check("GET", ACCOUNTS, &emu.call("GET", ACCOUNTS, None).await);
    c.check(
        "GET",
        ACCOUNT,
        &emu.call("GET", "/v1/cloud-accounts/1", None).await,
    );
    let created = emu
        .call(
            "POST",
            ACCOUNTS,
            Some(create_body("contract", "AKIACONTRACT")),
        )
        .await;
    c.check("POST", ACCOUNTS, &created);
    assert!(
        created.body.get("response").is_none(),
        "the accept envelope has no response"
    );
    let mut gcp = create_body("contract-gcp", "GCPKEY");
    gcp["provider"] = json!("GCP");
    c.check(
        "POST",
        ACCOUNTS,
        &emu.call("POST", ACCOUNTS, Some(gcp)).await,
    );
    let task_id = created.body["taskId"].as_str().expect("taskId").to_owned();
    let task_path = format!("/v1/tasks/{task_id}");
    for _ in 0..5 {
        c.check("GET", TASK, &emu.call("GET", &task_path, None).await);
        c.check("GET", TASKS, &emu.call("GET", TASKS, None).await);
        c.check("GET", ACCOUNTS, &emu.call("GET", ACCOUNTS, None).await);
        for id in [2, 3] {
            let r = emu
                .call("GET", &format!("/v1/cloud-accounts/{id}"), None)
                .await;
            c.check("GET", ACCOUNT, &r);
        }
        emu.advance(100);
    }
    let updated = emu
        .call(
            "PUT",
            "/v1/cloud-accounts/2",
            Some(update_body(Some("renamed"), "AKIANEW")),
        )
        .await;
    c.check("PUT", ACCOUNT, &updated);
    assert!(updated.body.get("response").is_none());
    emu.advance(1000);
    c.check(
        "GET",
        ACCOUNT,
        &emu.call("GET", "/v1/cloud-accounts/2", None).await,
    );

    // A failed task and a failed internal-account deletion.
    emu.admin(
        "POST",
        "/task-errors",
        json!({"type": "CLOUD_ACCOUNT_PERMISSION_FAILED"}),
    )
    .await;
    c.check(
        "PUT",
        ACCOUNT,
        &emu.call(
            "PUT",
            "/v1/cloud-accounts/3",
            Some(update_body(None, "GCPKEY")),
        )
        .await,
    );
    let internal = emu.call("DELETE", "/v1/cloud-accounts/1", None).await;
    c.check("DELETE", ACCOUNT, &internal);
    emu.advance(1000);
    let failed = emu
        .call(
            "GET",
            &format!(
                "/v1/tasks/{}",
                internal.body["taskId"].as_str().unwrap_or("")
            ),
            None,
        )
        .await;
    assert_eq!(failed.body["status"], "processing-error");
    c.check("GET", TASK, &failed);
    c.check("GET", TASKS, &emu.call("GET", TASKS, None).await);

    let deleted = emu.call("DELETE", "/v1/cloud-accounts/2", None).await;
    c.check("DELETE", ACCOUNT, &deleted);
    assert!(deleted.body.get("response").is_none());
    for _ in 0..4 {
        c.check(
            "GET",
            ACCOUNT,
            &emu.call("GET", "/v1/cloud-accounts/2", None).await,
        );
        c.check("GET", TASKS, &emu.call("GET", TASKS, None).await);
        emu.advance(60);
    }

    // Error paths.
    c.check(
        "POST",
        ACCOUNTS,
        &emu.raw("POST", ACCOUNTS, Some("[]"), true).await,
    );
    c.check(
        "POST",
        ACCOUNTS,
        &emu.call("POST", ACCOUNTS, Some(json!({"name": "x"}))).await,
    );
    c.check(
        "PUT",
        ACCOUNT,
        &emu.call("PUT", "/v1/cloud-accounts/3", Some(json!({})))
            .await,
    );
    c.check(
        "GET",
        ACCOUNT,
        &emu.call("GET", "/v1/cloud-accounts/x", None).await,
    );
    c.check(
        "GET",
        ACCOUNT,
        &emu.call("GET", "/v1/cloud-accounts/77", None).await,
    );
    c.check(
        "PUT",
        ACCOUNT,
        &emu.call("PUT", "/v1/cloud-accounts/77", Some(update_body(None, "K")))
            .await,
    );
    c.check(
        "DELETE",
        ACCOUNT,
        &emu.call("DELETE", "/v1/cloud-accounts/77", None).await,
    );
    c.check(
        "GET",
        TASK,
        &emu.call("GET", "/v1/tasks/not-a-task", None).await,
    );
    for (method, path) in [
        ("GET", ACCOUNTS),
        ("GET", TASKS),
        ("GET", "/v1/tasks/x"),
        ("DELETE", "/v1/cloud-accounts/3"),
    ] {
        let spec_path = match path {
            "/v1/tasks/x" => TASK,
            "/v1/cloud-accounts/3" => ACCOUNT,
            p => p,
        };
        c.check(method, spec_path, &emu.raw(method, path, None, false).await);
    }
    emu.admin("PUT", "/config", json!({"sync_errors": true}))
        .await;
    let dup = emu
        .call("POST", ACCOUNTS, Some(create_body("contract-gcp", "OTHER")))
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    c.check("POST", ACCOUNTS, &dup);
    c.check(
        "PUT",
        ACCOUNT,
        &emu.call(
            "PUT",
            "/v1/cloud-accounts/3",
            Some(update_body(Some("Redis Internal Resources"), "Z")),
        )
        .await,
    );
    for status in [500, 503, 429, 412] {
        emu.admin("POST", "/faults", json!({"status": status, "count": 7}))
            .await;
        c.check("GET", ACCOUNTS, &emu.call("GET", ACCOUNTS, None).await);
        c.check(
            "POST",
            ACCOUNTS,
            &emu.call("POST", ACCOUNTS, Some(create_body("f", "F")))
                .await,
        );
        c.check(
            "GET",
            ACCOUNT,
            &emu.call("GET", "/v1/cloud-accounts/1", None).await,
        );
        c.check(
            "PUT",
            ACCOUNT,
            &emu.call("PUT", "/v1/cloud-accounts/3", Some(update_body(None, "F")))
                .await,
        );
        c.check(
            "DELETE",
            ACCOUNT,
            &emu.call("DELETE", "/v1/cloud-accounts/3", None).await,
        );
        c.check("GET", TASKS, &emu.call("GET", TASKS, None).await);
        c.check("GET", TASK, &emu.call("GET", &task_path, None).await);
    }
    emu.admin(
        "POST",
        "/faults",
        json!({"status": 408, "commit": true, "count": 3}),
    )
    .await;
    c.check(
        "POST",
        ACCOUNTS,
        &emu.call("POST", ACCOUNTS, Some(create_body("timed-out", "TO")))
            .await,
    );
    c.check(
        "PUT",
        ACCOUNT,
        &emu.call("PUT", "/v1/cloud-accounts/3", Some(update_body(None, "T")))
            .await,
    );
    c.check(
        "DELETE",
        ACCOUNT,
        &emu.call("DELETE", "/v1/cloud-accounts/3", None).await,
    );

    // Knobs: a masked list, an account hidden after its create, the account quota.
    emu.admin(
        "PUT",
        "/config",
        json!({"mask_list_access_keys": true, "account_404_ms": 1000, "max_cloud_accounts": 2}),
    )
    .await;
    let masked = emu.call("GET", ACCOUNTS, None).await;
    assert!(masked.body.to_string().contains("***"));
    c.check("GET", ACCOUNTS, &masked);
    let over = emu
        .call("POST", ACCOUNTS, Some(create_body("over", "OVER")))
        .await;
    assert_eq!(over.status, StatusCode::BAD_REQUEST);
    c.check("POST", ACCOUNTS, &over);
    emu.admin("PUT", "/config", json!({"max_cloud_accounts": null}))
        .await;
    c.check(
        "POST",
        ACCOUNTS,
        &emu.call("POST", ACCOUNTS, Some(create_body("hidden", "HIDDEN")))
            .await,
    );
    emu.advance(1000);
    let state = emu.admin("GET", "/state", json!(null)).await.body;
    let hidden_id = state["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "hidden"))
        .map(|x| x["id"].clone())
        .expect("hidden account exists");
    let hidden = emu
        .call("GET", &format!("/v1/cloud-accounts/{hidden_id}"), None)
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    c.check("GET", ACCOUNT, &hidden);
    c.check("GET", ACCOUNTS, &emu.call("GET", ACCOUNTS, None).await);

    emu.admin("PUT", "/config", json!({"rate_limit_per_minute": 0}))
        .await;
    c.check("GET", TASKS, &emu.call("GET", TASKS, None).await);

    // Every operation was seen succeeding.
    for (method, path, code) in [
        ("GET", ACCOUNTS, 200),
        ("POST", ACCOUNTS, 202),
        ("GET", ACCOUNT, 200),
        ("PUT", ACCOUNT, 202),
        ("DELETE", ACCOUNT, 200),
        ("GET", TASKS, 200),
        ("GET", TASK, 200),
    ] {
        assert!(
            c.seen.contains(&(method.to_owned(), path.to_owned(), code)),
            "{method} {path} {code} not exercised"
        );
    }
    for code in [400, 401, 404, 408, 409, 412, 429, 500, 503] {
        assert!(
            c.seen.iter().any(|s| s.2 == code),
            "status {code} not exercised"
        );
    }
}

#[test]
fn the_validator_rejects_contract_violations() {
    // Guards against a validator that silently accepts everything.
    let c = Contract::new();
    let schema = &c.spec["paths"]["/v1/tasks/{taskId}"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    let root = json!({"allOf": [to_json_schema(schema)], "components": c.components});
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&root)
        .expect("compiles");
    let good = json!({"taskId": "5f1e2a4c-1111-4222-8333-944445555666", "status": "received", "timestamp": "2024-01-01T00:00:00.1Z", "links": []});
    assert!(validator.is_valid(&good));
    for bad in [
        json!({"taskId": "not-a-uuid"}),
        json!({"status": "completed"}),
        json!({"timestamp": "yesterday"}),
        json!({"response": {"error": "CLOUD_ACCOUNT_NOT_FOUND"}}),
        json!({"response": {"error": {"type": "NO_SUCH_TYPE"}}}),
        json!({"response": {"resourceId": "2"}}),
        json!({"links": [{"rel": 1}]}),
    ] {
        assert!(!validator.is_valid(&bad), "accepted {bad}");
    }
    let nullable = to_json_schema(&json!({"type": "string", "nullable": true}));
    assert_eq!(nullable, json!({"type": ["string", "null"]}));
}

/// The committed copy must not drift from the project's shared contract when
/// that is present beside the checkout (it is in CI).
#[test]
fn committed_contract_matches_the_shared_one() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../../../shared/api/redis-cloud-openapi.json");
    if let Ok(text) = std::fs::read_to_string(&shared) {
        let spec: Value = serde_json::from_str(&text).expect("shared spec is JSON");
        assert_eq!(
            spec,
            load_spec(),
            "tests/fixtures/redis-cloud-openapi.json differs from {}",
            shared.display()
        );
    }
}
