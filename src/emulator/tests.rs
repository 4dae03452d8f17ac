//! Behaviour tests: lifecycles, queueing, errors, auth, rate limits, admin (in-process with a
//! manual clock), and faults, connection drops and persistence over real TCP.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::state::Clock;
use super::{EmulatorConfig, EmulatorState, app, start};

pub(super) const T0: u64 = 1_700_000_000_000;
const KEY: &str = "test-key";
const SECRET: &str = "test-secret";
const SECRET_VALUES: &[&str] = &[
    "s3cr3t-AccessSecret",
    "console-user@example.com",
    "c0ns0le-Passw0rd",
];

pub(super) fn test_config() -> EmulatorConfig {
    EmulatorConfig {
        port: 0,
        api_key: KEY.to_owned(),
        secret_key: SECRET.to_owned(),
        task_stage_ms: 100,
        activation_ms: 200,
        delete_ms: 50,
        quiet: true,
        ..EmulatorConfig::default()
    }
}

pub(super) fn create_body(name: &str, key: &str) -> Value {
    json!({
        "name": name,
        "provider": "AWS",
        "accessKeyId": key,
        "accessSecretKey": SECRET_VALUES[0],
        "consoleUsername": SECRET_VALUES[1],
        "consolePassword": SECRET_VALUES[2],
        "signInLoginUrl": "https://123456789012.signin.aws.amazon.com/console",
    })
}

pub(super) fn update_body(name: Option<&str>, key: &str) -> Value {
    let mut v = create_body(name.unwrap_or(""), key);
    if let Some(map) = v.as_object_mut() {
        map.remove("provider");
        map.remove("signInLoginUrl");
        if name.is_none() {
            map.remove("name");
        }
    }
    v
}

/// In-process emulator with a manual clock.
pub(super) struct Emu {
    pub(super) app: Router,
    pub(super) clock: Arc<AtomicU64>,
}

pub(super) struct Resp {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Value,
}

impl Emu {
    pub(super) fn new(cfg: EmulatorConfig) -> Self {
        let clock = Arc::new(AtomicU64::new(T0));
        let state = EmulatorState::with_clock(&cfg, Clock::Manual(clock.clone())).expect("state");
        Self {
            app: app(state),
            clock,
        }
    }

    pub(super) fn advance(&self, ms: u64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }

    pub(super) async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        auth: bool,
    ) -> Resp {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "emulator.test");
        if auth {
            req = req
                .header("X-Api-Key", KEY)
                .header("X-API-SECRET-KEY", SECRET);
        }
        let req = req
            .body(
                body.map(|b| Body::from(b.to_owned()))
                    .unwrap_or_else(Body::empty),
            )
            .expect("request");
        let resp = self.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Resp {
            status,
            headers,
            body,
        }
    }

    pub(super) async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        let body = body.map(|b| b.to_string());
        self.raw(method, path, body.as_deref(), true).await
    }

    async fn task(&self, id: &str) -> Value {
        self.call("GET", &format!("/v1/tasks/{id}"), None)
            .await
            .body
    }

    async fn account(&self, id: i64) -> Resp {
        self.call("GET", &format!("/v1/cloud-accounts/{id}"), None)
            .await
    }

    pub(super) async fn admin(&self, method: &str, path: &str, body: Value) -> Resp {
        self.raw(
            method,
            &format!("/admin{path}"),
            Some(&body.to_string()),
            false,
        )
        .await
    }
}

fn task_id(r: &Resp) -> String {
    r.body["taskId"].as_str().expect("taskId").to_owned()
}

#[tokio::test]
async fn create_update_delete_lifecycle() {
    let emu = Emu::new(test_config());
    let created = emu
        .call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("acc-a", "AKIA1")),
        )
        .await;
    assert_eq!(created.status, StatusCode::ACCEPTED);
    let b = &created.body;
    assert_eq!(b["status"], "received");
    assert_eq!(b["commandType"], "cloudAccountCreateRequest");
    assert_eq!(
        b["description"],
        "Task request received and is being queued for processing."
    );
    assert!(b.get("response").is_none());
    assert!(b["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    let id = task_id(&created);
    assert_eq!(
        b["links"][0]["href"],
        format!("http://emulator.test/v1/tasks/{id}")
    );
    assert_eq!(b["links"][0]["rel"], "task");
    assert_eq!(emu.account(2).await.status, StatusCode::NOT_FOUND);

    emu.advance(100);
    assert_eq!(emu.task(&id).await["status"], "processing-in-progress");
    assert_eq!(emu.account(2).await.body["status"], "draft");
    emu.advance(100);
    let done = emu.task(&id).await;
    assert_eq!(done["status"], "processing-completed");
    assert_eq!(done["response"]["resourceId"], 2);
    assert_eq!(done["links"][1]["rel"], "resource");
    assert_eq!(
        done["links"][1]["href"],
        "http://emulator.test/v1/cloud-accounts/2"
    );
    assert_eq!(emu.account(2).await.body["status"], "pending");
    emu.advance(199);
    assert_eq!(emu.account(2).await.body["status"], "pending");
    emu.advance(1);
    let acc = emu.account(2).await.body;
    assert_eq!(acc["status"], "active");
    assert_eq!(acc["name"], "acc-a");
    assert_eq!(acc["provider"], "AWS");
    assert_eq!(acc["accessKeyId"], "AKIA1");
    assert!(
        acc["awsUserArn"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:iam::"))
    );
    assert!(
        acc["awsConsoleRoleArn"]
            .as_str()
            .is_some_and(|a| a.contains(":role/"))
    );
    for secret in ["accessSecretKey", "consoleUsername", "consolePassword"] {
        assert!(acc.get(secret).is_none(), "{secret} leaked");
    }

    let upd = emu
        .call(
            "PUT",
            "/v1/cloud-accounts/2",
            Some(update_body(Some("acc-renamed"), "AKIA2")),
        )
        .await;
    assert_eq!(upd.status, StatusCode::ACCEPTED);
    assert_eq!(upd.body["commandType"], "cloudAccountUpdateRequest");
    emu.advance(100);
    let acc = emu.account(2).await.body;
    assert_eq!(
        (acc["status"].as_str(), acc["name"].as_str()),
        (Some("change-draft"), Some("acc-a"))
    );
    emu.advance(100);
    let acc = emu.account(2).await.body;
    assert_eq!(acc["status"], "change-pending");
    assert_eq!(
        (acc["name"].as_str(), acc["accessKeyId"].as_str()),
        (Some("acc-renamed"), Some("AKIA2"))
    );
    emu.advance(200);
    assert_eq!(emu.account(2).await.body["status"], "active");

    let del = emu.call("DELETE", "/v1/cloud-accounts/2", None).await;
    assert_eq!(del.status, StatusCode::OK);
    assert_eq!(del.body["commandType"], "cloudAccountDeleteRequest");
    let del_id = task_id(&del);
    emu.advance(100);
    assert_eq!(emu.account(2).await.body["status"], "delete-draft");
    emu.advance(100);
    assert_eq!(emu.task(&del_id).await["response"]["resourceId"], 2);
    assert_eq!(emu.account(2).await.body["status"], "deleted");
    emu.advance(50);
    assert_eq!(emu.account(2).await.status, StatusCode::NOT_FOUND);
    let list = emu.call("GET", "/v1/cloud-accounts", None).await.body;
    let ids: Vec<_> = list["cloudAccounts"]
        .as_array()
        .expect("list")
        .iter()
        .map(|a| a["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(1)]);

    let events = emu.admin("GET", "/state", json!(null)).await.body["events"].to_string();
    for needle in [
        "draft -> pending",
        "pending -> active",
        "change-pending -> active",
        "deleted (no longer listed)",
    ] {
        assert!(events.contains(needle), "missing event {needle}: {events}");
    }
}

#[tokio::test]
async fn tasks_run_one_at_a_time_and_list_newest_first() {
    let emu = Emu::new(test_config());
    let a = task_id(
        &emu.call("POST", "/v1/cloud-accounts", Some(create_body("a", "K1")))
            .await,
    );
    emu.advance(10);
    let b = task_id(
        &emu.call("POST", "/v1/cloud-accounts", Some(create_body("b", "K2")))
            .await,
    );
    emu.advance(90);
    assert_eq!(emu.task(&a).await["status"], "processing-in-progress");
    assert_eq!(emu.task(&b).await["status"], "received");
    emu.advance(90);
    // b's own received stage is over, but a still runs: b must wait.
    assert_eq!(emu.task(&b).await["status"], "received");
    emu.advance(10);
    assert_eq!(emu.task(&a).await["status"], "processing-completed");
    assert_eq!(emu.task(&b).await["status"], "processing-in-progress");
    emu.advance(100);
    assert_eq!(emu.task(&b).await["response"]["resourceId"], 3);
    let tasks = emu.call("GET", "/v1/tasks", None).await.body;
    let order: Vec<_> = tasks["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["taskId"].clone())
        .collect();
    assert_eq!(order, vec![json!(b), json!(a)]);
}

#[tokio::test]
async fn new_task_ids_answer_404_during_the_window() {
    let emu = Emu::new(EmulatorConfig {
        task_404_ms: 50,
        ..test_config()
    });
    let id = task_id(
        &emu.call("POST", "/v1/cloud-accounts", Some(create_body("a", "K1")))
            .await,
    );
    let early = emu.call("GET", &format!("/v1/tasks/{id}"), None).await;
    assert_eq!(early.status, StatusCode::NOT_FOUND);
    assert_eq!(early.body["error"]["type"], "ENTITY_NOT_FOUND");
    assert_eq!(
        emu.call("GET", "/v1/tasks", None).await.body["tasks"],
        json!([])
    );
    emu.advance(50);
    assert_eq!(
        emu.call("GET", &format!("/v1/tasks/{id}"), None)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn injected_task_errors_fail_the_next_tasks_only() {
    let emu = Emu::new(test_config());
    let r = emu
        .admin(
            "POST",
            "/task-errors",
            json!({"type": "CLOUD_ACCOUNT_INVALID_CREDS", "count": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let bad = emu
        .admin("POST", "/task-errors", json!({"type": "NOT_A_TYPE"}))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let failed = task_id(
        &emu.call("POST", "/v1/cloud-accounts", Some(create_body("a", "K1")))
            .await,
    );
    let ok = task_id(
        &emu.call("POST", "/v1/cloud-accounts", Some(create_body("a", "K1")))
            .await,
    );
    emu.advance(1000);
    let t = emu.task(&failed).await;
    assert_eq!(t["status"], "processing-error");
    assert_eq!(
        t["description"],
        "Task request failed during processing. See error information for failure details."
    );
    assert_eq!(
        t["response"]["error"]["type"],
        "CLOUD_ACCOUNT_INVALID_CREDS"
    );
    assert_eq!(t["response"]["error"]["status"], "400 BAD_REQUEST");
    assert!(
        t["response"]["error"]["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    assert!(t["response"]["additionalInfo"].as_str().is_some());
    assert!(t["response"].get("resourceId").is_none());
    assert_eq!(emu.task(&ok).await["response"]["resourceId"], 2);
}

#[tokio::test]
async fn duplicates_fail_as_tasks_or_synchronously() {
    let emu = Emu::new(test_config());
    emu.call("POST", "/v1/cloud-accounts", Some(create_body("a", "K1")))
        .await;
    emu.advance(1000);
    let same_name = task_id(
        &emu.call("POST", "/v1/cloud-accounts", Some(create_body("a", "K2")))
            .await,
    );
    let same_key = task_id(
        &emu.call("POST", "/v1/cloud-accounts", Some(create_body("b", "K1")))
            .await,
    );
    emu.advance(1000);
    let t = emu.task(&same_name).await;
    assert_eq!(t["response"]["error"]["type"], "CLOUD_ACCOUNT_NAME_EXISTS");
    assert_eq!(t["response"]["error"]["status"], "409 CONFLICT");
    assert_eq!(
        emu.task(&same_key).await["response"]["error"]["type"],
        "CLOUD_ACCOUNT_ACCESS_KEY_EXISTS"
    );

    let cfg = emu
        .admin("PUT", "/config", json!({"sync_errors": true}))
        .await;
    assert_eq!(cfg.body["sync_errors"], true);
    let sync = emu
        .call("POST", "/v1/cloud-accounts", Some(create_body("a", "K3")))
        .await;
    assert_eq!(sync.status, StatusCode::CONFLICT);
    assert_eq!(sync.body["error"]["type"], "CLOUD_ACCOUNT_NAME_EXISTS");
    emu.call("POST", "/v1/cloud-accounts", Some(create_body("c", "K4")))
        .await;
    emu.advance(1000);
    let sync = emu
        .call("PUT", "/v1/cloud-accounts/3", Some(update_body(None, "K1")))
        .await;
    assert_eq!(sync.status, StatusCode::CONFLICT);
    assert_eq!(
        sync.body["error"]["type"],
        "CLOUD_ACCOUNT_ACCESS_KEY_EXISTS"
    );
    // Keeping one's own key and name is not a conflict.
    let own = emu
        .call(
            "PUT",
            "/v1/cloud-accounts/3",
            Some(update_body(Some("c"), "K4")),
        )
        .await;
    assert_eq!(own.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn internal_account_is_listed_and_read_only() {
    let emu = Emu::new(test_config());
    let list = emu.call("GET", "/v1/cloud-accounts", None).await.body;
    let internal = &list["cloudAccounts"][0];
    assert_eq!(internal["id"], 1);
    assert_eq!(internal["name"], "Redis Internal Resources");
    assert_eq!(internal["status"], "active");
    assert!(internal.get("accessKeyId").is_none());
    let del = task_id(&emu.call("DELETE", "/v1/cloud-accounts/1", None).await);
    let upd = task_id(
        &emu.call(
            "PUT",
            "/v1/cloud-accounts/1",
            Some(update_body(Some("x"), "K")),
        )
        .await,
    );
    emu.advance(1000);
    for id in [del, upd] {
        let t = emu.task(&id).await;
        assert_eq!(t["response"]["error"]["type"], "CLOUD_ACCOUNT_NOT_FOUND");
        assert_eq!(t["response"]["error"]["status"], "404 NOT_FOUND");
    }
    let acc = emu.account(1).await.body;
    assert_eq!(
        (acc["name"].as_str(), acc["status"].as_str()),
        (Some("Redis Internal Resources"), Some("active"))
    );
    assert_eq!(
        emu.admin("POST", "/accounts/1/delete", json!(null))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn invalid_requests_are_rejected_synchronously() {
    let emu = Emu::new(test_config());
    let r = emu
        .raw("POST", "/v1/cloud-accounts", Some("{not json"), true)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"]["type"], "BAD_REQUEST");
    for field in [
        "name",
        "accessKeyId",
        "accessSecretKey",
        "consoleUsername",
        "consolePassword",
        "signInLoginUrl",
    ] {
        let mut body = create_body("a", "K1");
        body.as_object_mut().expect("object").remove(field);
        let r = emu
            .call("POST", "/v1/cloud-accounts", Some(body.clone()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}");
        assert!(
            r.body["error"]["description"]
                .as_str()
                .is_some_and(|d| d.contains(field))
        );
        body[field] = json!("  ");
        assert_eq!(
            emu.call("POST", "/v1/cloud-accounts", Some(body))
                .await
                .status,
            StatusCode::BAD_REQUEST
        );
    }
    let mut gcp = create_body("g", "KG");
    gcp["provider"] = json!("AZURE");
    assert_eq!(
        emu.call("POST", "/v1/cloud-accounts", Some(gcp.clone()))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    gcp["provider"] = json!("GCP");
    assert_eq!(
        emu.call("POST", "/v1/cloud-accounts", Some(gcp))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let mut no_provider = create_body("d", "KD");
    no_provider
        .as_object_mut()
        .expect("object")
        .remove("provider");
    assert_eq!(
        emu.call("POST", "/v1/cloud-accounts", Some(no_provider))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    emu.advance(1000);
    let gcp = emu.account(2).await.body;
    assert_eq!(gcp["provider"], "GCP");
    assert!(gcp.get("awsUserArn").is_none());
    assert_eq!(emu.account(3).await.body["provider"], "AWS");

    let mut upd = update_body(None, "K9");
    upd["provider"] = json!("GCP");
    assert_eq!(
        emu.call("PUT", "/v1/cloud-accounts/3", Some(upd))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let mut upd = update_body(None, "K9");
    upd.as_object_mut()
        .expect("object")
        .remove("consolePassword");
    let r = emu.call("PUT", "/v1/cloud-accounts/3", Some(upd)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    emu.advance(1000);
    assert_eq!(emu.account(3).await.body["provider"], "AWS");

    assert_eq!(emu.account(99).await.status, StatusCode::NOT_FOUND);
    let r = emu
        .call("PUT", "/v1/cloud-accounts/99", Some(update_body(None, "K")))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        emu.call("DELETE", "/v1/cloud-accounts/99", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        emu.call("GET", "/v1/cloud-accounts/abc", None).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        emu.call("GET", "/v1/cloud-accounts/-1", None).await.status,
        StatusCode::BAD_REQUEST
    );
    // No error message ever echoes a secret value.
    let log = emu
        .admin("GET", "/state", json!(null))
        .await
        .body
        .to_string();
    for s in SECRET_VALUES {
        assert!(!log.contains(s));
    }
}

#[tokio::test]
async fn authentication_requires_both_matching_headers() {
    let emu = Emu::new(test_config());
    let r = emu.raw("GET", "/v1/cloud-accounts", None, false).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error"]["type"], "UNAUTHORIZED");
    assert!(r.headers.contains_key("x-rate-limit-remaining"));
    let only_key = Request::builder()
        .uri("/v1/cloud-accounts")
        .header("x-api-key", KEY)
        .header("x-api-secret-key", "wrong")
        .body(Body::empty())
        .expect("request");
    let resp = emu.app.clone().oneshot(only_key).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    emu.admin("PUT", "/config", json!({"html_401": true})).await;
    let r = emu.raw("GET", "/v1/cloud-accounts", None, false).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["content-type"], "text/html");
    assert!(
        r.body
            .as_str()
            .is_some_and(|b| b.contains("401 Authorization Required"))
    );
    assert_eq!(
        emu.call("GET", "/v1/cloud-accounts", None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn rate_limit_uses_fixed_minute_windows_with_headers() {
    let emu = Emu::new(EmulatorConfig {
        rate_limit_per_minute: 3,
        ..test_config()
    });
    // Start exactly at a window boundary so the retry-after value is predictable.
    emu.clock.store(T0 - T0 % 60_000, Ordering::SeqCst);
    for expected in ["2", "1", "0"] {
        let r = emu.call("GET", "/v1/cloud-accounts", None).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers["x-rate-limit-remaining"], expected);
    }
    emu.advance(15_000);
    let r = emu.call("GET", "/v1/tasks", None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers["x-rate-limit-remaining"], "0");
    assert_eq!(r.headers["x-rate-limit-retry-after-seconds"], "45");
    assert_eq!(r.body["error"]["status"], "429 TOO_MANY_REQUESTS");
    // Admin requests are not rate limited.
    assert_eq!(
        emu.admin("GET", "/state", json!(null)).await.status,
        StatusCode::OK
    );
    emu.advance(45_000);
    let r = emu.call("GET", "/v1/tasks", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-rate-limit-remaining"], "2");
}

#[tokio::test]
async fn final_status_knob_and_forced_status() {
    let emu = Emu::new(test_config());
    let r = emu
        .admin(
            "PUT",
            "/config",
            json!({"final_status": "active-error", "final_status_count": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        emu.admin("PUT", "/config", json!({"final_status": "bogus"}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        emu.admin("PUT", "/config", json!({"nope": 1})).await.status,
        StatusCode::BAD_REQUEST
    );
    emu.call("POST", "/v1/cloud-accounts", Some(create_body("a", "K1")))
        .await;
    emu.call("POST", "/v1/cloud-accounts", Some(create_body("b", "K2")))
        .await;
    emu.advance(2000);
    assert_eq!(emu.account(2).await.body["status"], "active-error");
    assert_eq!(emu.account(3).await.body["status"], "active");

    let r = emu
        .admin("POST", "/accounts/3/status", json!({"status": "error"}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(emu.account(3).await.body["status"], "error");
    assert_eq!(
        emu.admin("POST", "/accounts/3/status", json!({"status": "x"}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        emu.admin("POST", "/accounts/42/status", json!({"status": "error"}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Forced while an update is in flight: the update ends in the forced status.
    emu.call("PUT", "/v1/cloud-accounts/2", Some(update_body(None, "K1")))
        .await;
    emu.advance(50);
    emu.admin(
        "POST",
        "/accounts/2/status",
        json!({"status": "active-error"}),
    )
    .await;
    emu.advance(2000);
    assert_eq!(emu.account(2).await.body["status"], "active-error");

    assert_eq!(
        emu.admin("POST", "/accounts/2/delete", json!(null))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(emu.account(2).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        emu.admin("POST", "/accounts/2/delete", json!(null))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn admin_state_log_and_reset() {
    let emu = Emu::new(test_config());
    emu.call("POST", "/v1/cloud-accounts", Some(create_body("a", "K1")))
        .await;
    emu.raw("GET", "/v1/cloud-accounts?x=1", None, false).await;
    emu.advance(1000);
    let state = emu.admin("GET", "/state", json!(null)).await.body;
    assert_eq!(state["accounts"].as_array().map(Vec::len), Some(2));
    assert_eq!(state["tasks"].as_array().map(Vec::len), Some(1));
    assert_eq!(state["nextAccountId"], 3);
    let log = emu.admin("GET", "/requests", json!(null)).await.body;
    let entries = log["requests"].as_array().expect("requests");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["method"], "POST");
    assert_eq!(entries[0]["status"], 202);
    assert_eq!(entries[1]["path"], "/v1/cloud-accounts");
    assert_eq!(entries[1]["status"], 401);
    assert!(entries[0]["timeMs"].as_u64().is_some() && entries[0]["durationMs"].as_u64().is_some());
    let all = format!("{state}{log}");
    for s in SECRET_VALUES.iter().chain(&[KEY, SECRET]) {
        assert!(!all.contains(s), "admin output leaks {s}");
    }
    assert_eq!(
        emu.admin("DELETE", "/requests", json!(null)).await.body["cleared"],
        2
    );
    emu.admin("PUT", "/config", json!({"task_stage_ms": 1}))
        .await;
    emu.admin("POST", "/reset", json!(null)).await;
    let state = emu.admin("GET", "/state", json!(null)).await.body;
    assert_eq!(state["accounts"].as_array().map(Vec::len), Some(1));
    assert_eq!(state["tasks"], json!([]));
    assert_eq!(state["config"]["task_stage_ms"], 100);
    assert_eq!(
        emu.admin("GET", "/requests", json!(null)).await.body["requests"],
        json!([])
    );
}

// ---- over real TCP ----

async fn running(cfg: EmulatorConfig) -> (super::RunningEmulator, reqwest::Client) {
    let emu = start(cfg).await.expect("start");
    (emu, reqwest::Client::new())
}

fn authed(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
) -> reqwest::RequestBuilder {
    client
        .request(method, url)
        .header("x-api-key", KEY)
        .header("x-api-secret-key", SECRET)
}

#[tokio::test]
async fn faults_status_latency_and_filters() {
    let (emu, client) = running(test_config()).await;
    assert!(emu.base_url().starts_with("http://127.0.0.1:"));
    assert!(emu.admin_url().ends_with("/admin"));
    let faults = format!("{}/faults", emu.admin_url());
    let list = format!("{}/cloud-accounts", emu.base_url());
    for status in [500u16, 503, 429, 412] {
        let r = client
            .post(&faults)
            .json(&json!({"status": status, "count": 1}))
            .send()
            .await
            .expect("admin");
        assert_eq!(r.status(), 200);
        let r = authed(&client, reqwest::Method::GET, list.clone())
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), status);
        assert!(r.headers().contains_key("x-rate-limit-remaining"));
        let body: Value = r.json().await.expect("json body");
        assert!(body["error"]["type"].is_string());
        let r = authed(&client, reqwest::Method::GET, list.clone())
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200, "count-1 fault must fire once");
    }
    // An injected 429 may carry the real API's retry-after header.
    client
        .post(&faults)
        .json(&json!({"status": 429, "count": 1, "retry_after_s": 2}))
        .send()
        .await
        .expect("admin");
    let r = authed(&client, reqwest::Method::GET, list.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-rate-limit-retry-after-seconds"], "2");
    // Any value, absurd ones included, is sent verbatim.
    client
        .post(&faults)
        .json(&json!({"status": 429, "count": 1, "retry_after_s": "1e20"}))
        .send()
        .await
        .expect("admin");
    let r = authed(&client, reqwest::Method::GET, list.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(r.headers()["x-rate-limit-retry-after-seconds"], "1e20");
    // Probability 1 with method and path filters.
    client
        .post(&faults)
        .json(&json!({"status": 503, "probability": 1.0, "method": "post", "path_prefix": "/v1/cloud-accounts"}))
        .send()
        .await
        .expect("admin");
    let r = authed(&client, reqwest::Method::GET, list.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let r = authed(&client, reqwest::Method::POST, list.clone())
        .json(&create_body("a", "K"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 503);
    client.delete(&faults).send().await.expect("admin");
    let r = authed(&client, reqwest::Method::POST, list.clone())
        .json(&create_body("a", "K"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 202);
    // HTML body variant.
    client
        .post(&faults)
        .json(&json!({"status": 500, "html": true}))
        .send()
        .await
        .expect("admin");
    let r = authed(&client, reqwest::Method::GET, list.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(r.headers()["content-type"], "text/html");
    // Latency.
    client
        .post(&faults)
        .json(&json!({"latency_ms": 80, "count": 1}))
        .send()
        .await
        .expect("admin");
    let started = Instant::now();
    let r = authed(&client, reqwest::Method::GET, list.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(80));
    let bad = client
        .post(&faults)
        .json(&json!({"status": 418}))
        .send()
        .await
        .expect("admin");
    assert_eq!(bad.status(), 400);
    emu.shutdown().await;
}

#[tokio::test]
async fn drop_faults_close_the_connection_without_a_response() {
    let (emu, client) = running(test_config()).await;
    let faults = format!("{}/faults", emu.admin_url());
    let list = format!("{}/cloud-accounts", emu.base_url());
    let state_url = format!("{}/state", emu.admin_url());
    let task_count = |v: Value| v["tasks"].as_array().map(Vec::len).unwrap_or(0);

    client
        .post(&faults)
        .json(&json!({"drop": "before_commit", "count": 1}))
        .send()
        .await
        .expect("admin");
    let err = authed(&client, reqwest::Method::POST, list.clone())
        .json(&create_body("a", "K1"))
        .send()
        .await
        .expect_err("connection must be dropped");
    assert!(!err.is_status() && err.status().is_none(), "{err:?}");
    let state: Value = client
        .get(&state_url)
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    assert_eq!(
        task_count(state),
        0,
        "before_commit must not apply the request"
    );

    client
        .post(&faults)
        .json(&json!({"drop": "after_commit", "count": 1}))
        .send()
        .await
        .expect("admin");
    let err = authed(&client, reqwest::Method::POST, list.clone())
        .json(&create_body("a", "K1"))
        .send()
        .await
        .expect_err("connection must be dropped");
    assert!(err.status().is_none(), "{err:?}");
    let state: Value = client
        .get(&state_url)
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    assert_eq!(task_count(state), 1, "after_commit must apply the request");

    // The server keeps serving; the log records the dropped requests without a status.
    let r = authed(&client, reqwest::Method::GET, list)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let log: Value = client
        .get(format!("{}/requests", emu.admin_url()))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    let statuses: Vec<_> = log["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|e| e["status"].clone())
        .collect();
    assert_eq!(statuses, vec![Value::Null, Value::Null, json!(200)]);
    emu.shutdown().await;
}

#[tokio::test]
async fn state_file_survives_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("emulator.json");
    let cfg = EmulatorConfig {
        state_file: Some(path.clone()),
        task_stage_ms: 5,
        activation_ms: 5,
        ..test_config()
    };
    let (emu, client) = running(cfg.clone()).await;
    let list = format!("{}/cloud-accounts", emu.base_url());
    let r = authed(&client, reqwest::Method::POST, list.clone())
        .json(&create_body("kept", "K1"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 202);
    // A second create stays queued when we shut down; it must resume after the restart.
    authed(&client, reqwest::Method::POST, list)
        .json(&create_body("queued", "K2"))
        .send()
        .await
        .expect("send");
    emu.shutdown().await;
    let saved = std::fs::read_to_string(&path).expect("state file");
    for s in SECRET_VALUES {
        assert!(!saved.contains(s), "state file leaks a secret");
    }

    let (emu, client) = running(cfg).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = authed(
            &client,
            reqwest::Method::GET,
            format!("{}/cloud-accounts/3", emu.base_url()),
        )
        .send()
        .await
        .expect("send");
        if r.status() == 200 {
            let acc: Value = r.json().await.expect("json");
            if acc["status"] == "active" {
                assert_eq!(acc["name"], "queued");
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "queued task never finished after restart"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let acc: Value = authed(
        &client,
        reqwest::Method::GET,
        format!("{}/cloud-accounts/2", emu.base_url()),
    )
    .send()
    .await
    .expect("send")
    .json()
    .await
    .expect("json");
    assert_eq!(
        (acc["name"].as_str(), acc["status"].as_str()),
        (Some("kept"), Some("active"))
    );
    let state: Value = client
        .get(format!("{}/state", emu.admin_url()))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    assert_eq!(state["nextAccountId"], 4);
    assert_eq!(state["tasks"].as_array().map(Vec::len), Some(2));
    emu.shutdown().await;
}

#[tokio::test]
async fn status_faults_may_commit_first_and_unknown_paths_name_no_entity() {
    let (emu, client) = running(test_config()).await;
    let faults = format!("{}/faults", emu.admin_url());
    let list = format!("{}/cloud-accounts", emu.base_url());
    let state_url = format!("{}/state", emu.admin_url());
    let task_count = |v: Value| v["tasks"].as_array().map(Vec::len).unwrap_or(0);
    for (status, commit, tasks) in [
        (502, false, 0),
        (502, true, 1),
        (504, true, 2),
        (408, false, 2),
    ] {
        let r = client
            .post(&faults)
            .json(&json!({"status": status, "commit": commit, "count": 1, "method": "POST"}))
            .send()
            .await
            .expect("admin");
        assert!(r.status().is_success(), "{status}: {}", r.status());
        let r = authed(&client, reqwest::Method::POST, list.clone())
            .json(&create_body(
                &format!("n{status}{commit}"),
                &format!("K{status}{commit}"),
            ))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), status);
        let state: Value = client
            .get(&state_url)
            .send()
            .await
            .expect("state")
            .json()
            .await
            .expect("json");
        assert_eq!(task_count(state), tasks, "status {status} commit {commit}");
    }
    // A missing account names itself; an unknown path (a base URL without /v1) does not.
    let r = authed(&client, reqwest::Method::GET, format!("{list}/999"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["type"], "CLOUD_ACCOUNT_NOT_FOUND");
    let root = emu.base_url().trim_end_matches("/v1").to_owned();
    for url in [
        format!("{root}/cloud-accounts/999"),
        format!("{}/nope", emu.base_url()),
    ] {
        let r = authed(&client, reqwest::Method::GET, url.clone())
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 404, "{url}");
        let body: Value = r.json().await.expect("json");
        assert!(body["error"].get("type").is_none(), "{url}: {body}");
    }
    emu.shutdown().await;
}
