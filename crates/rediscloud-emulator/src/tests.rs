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
    // The IAM user and console role of the AWS account in the sign-in URL.
    assert_eq!(
        acc["awsUserArn"],
        "arn:aws:iam::123456789012:user/redis-labs-programmatic-user"
    );
    assert_eq!(
        acc["awsConsoleRoleArn"],
        "arn:aws:iam::123456789012:role/redis-labs-console-role"
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

/// Queues one task error (`CLOUD_ACCOUNT_INVALID_CREDS`) for the next task.
async fn fail_the_next_task(emu: &Emu) {
    let r = emu
        .admin(
            "POST",
            "/task-errors",
            json!({"type": "CLOUD_ACCOUNT_INVALID_CREDS", "count": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn injected_task_errors_fail_the_next_tasks_only() {
    let emu = Emu::new(test_config());
    fail_the_next_task(&emu).await;
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

/// The API's clock may run off this machine's: its task timestamps and its `Date` header are
/// both on it.
#[tokio::test]
async fn task_timestamps_and_the_date_header_follow_the_api_s_clock() {
    let emu = Emu::new(EmulatorConfig {
        clock_skew_ms: -600_000,
        ..test_config()
    });
    let now = emu.clock.load(Ordering::SeqCst);
    let r = emu
        .call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("skewed", "KSKEW")),
        )
        .await;
    assert_eq!(
        r.body["timestamp"],
        super::model::iso_timestamp(now - 600_000),
        "{}",
        r.body
    );
    let date = r.headers["date"].to_str().unwrap().to_owned();
    let api_now =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now - 600_000) * 1_000_000)
            .unwrap();
    assert_eq!(
        date,
        format!(
            "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
            &api_now.weekday().to_string()[..3],
            api_now.day(),
            &api_now.month().to_string()[..3],
            api_now.year(),
            api_now.hour(),
            api_now.minute(),
            api_now.second()
        )
    );
    let listed = emu.call("GET", "/v1/tasks", None).await;
    assert_eq!(
        listed.body["tasks"][0]["timestamp"],
        super::model::iso_timestamp(now - 600_000)
    );
}

/// Without `X-Rate-Limit-Remaining` (the knob, also settable at run time), a client learns of
/// the limit only from a 429 and its retry-after, which stay.
#[tokio::test]
async fn the_remaining_count_header_can_be_left_out_and_429s_keep_their_retry_after() {
    let emu = Emu::new(EmulatorConfig {
        rate_limit_per_minute: 2,
        omit_rate_limit_remaining: true,
        ..test_config()
    });
    emu.clock.store(T0 - T0 % 60_000, Ordering::SeqCst);
    for _ in 0..2 {
        let r = emu.call("GET", "/v1/cloud-accounts", None).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(!r.headers.contains_key("x-rate-limit-remaining"));
    }
    let r = emu.call("GET", "/v1/cloud-accounts", None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(!r.headers.contains_key("x-rate-limit-remaining"));
    assert_eq!(r.headers["x-rate-limit-retry-after-seconds"], "60");
    let r = emu
        .admin(
            "PUT",
            "/config",
            json!({"omit_rate_limit_remaining": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    emu.advance(60_000);
    let r = emu.call("GET", "/v1/cloud-accounts", None).await;
    assert_eq!(r.headers["x-rate-limit-remaining"], "1");
}

#[tokio::test]
async fn a_rate_window_may_open_at_a_keys_first_request_and_be_partly_spent_by_another_client() {
    let emu = Emu::new(EmulatorConfig {
        rate_limit_per_minute: 10,
        rate_window_ms: 4_000,
        rate_window_start: "first_request".to_owned(),
        ..test_config()
    });
    // Not at a boundary of anything: the window opens with the first request.
    emu.clock.store(T0 - T0 % 60_000 + 1_234, Ordering::SeqCst);
    let spent = emu.admin("POST", "/rate/spend", json!({"count": 7})).await;
    assert_eq!(spent.body["remaining"], 3);
    assert_eq!(spent.body["resets_in_ms"], 4_000);
    for expected in ["2", "1", "0"] {
        let r = emu.call("GET", "/v1/tasks", None).await;
        assert_eq!(r.headers["x-rate-limit-remaining"], expected);
    }
    emu.advance(1_000);
    // A count of 0 only reads the window.
    let read = emu.admin("POST", "/rate/spend", json!({"count": 0})).await;
    assert_eq!(
        (&read.body["remaining"], &read.body["resets_in_ms"]),
        (&json!(0), &json!(3_000))
    );
    let r = emu.call("GET", "/v1/tasks", None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers["x-rate-limit-retry-after-seconds"], "3");
    // Four seconds after it opened, a new window: its count starts over.
    emu.advance(3_000);
    let r = emu.call("GET", "/v1/tasks", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-rate-limit-remaining"], "9");
    // Bad values are refused.
    for bad in [
        json!({"rate_window_start": "noon"}),
        json!({"rate_window_ms": 0}),
    ] {
        assert_eq!(
            emu.admin("PUT", "/config", bad).await.status,
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(
        emu.admin("POST", "/rate/spend", json!({"count": -1}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn statuses_the_contract_does_not_know_yet_can_be_forced_and_ended_in() {
    let emu = Emu::new(test_config());
    // The contract types the status as a free string: a newer API may answer any word.
    for bad in [
        "",
        "Suspended",
        "on hold",
        "-x",
        "x--y",
        "pending2",
        &"x".repeat(41),
    ] {
        assert_eq!(
            emu.admin("PUT", "/config", json!({"final_status": bad}))
                .await
                .status,
            StatusCode::BAD_REQUEST,
            "{bad:?}"
        );
    }
    // Not a status a lifecycle settles in under a known name: those stay as they were.
    assert_eq!(
        emu.admin("PUT", "/config", json!({"final_status": "pending"}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let r = emu
        .admin(
            "PUT",
            "/config",
            json!({"final_status": "suspended-by-billing", "final_status_count": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    emu.call("POST", "/v1/cloud-accounts", Some(create_body("a", "K1")))
        .await;
    emu.advance(2000);
    assert_eq!(emu.account(2).await.body["status"], "suspended-by-billing");
    let list = emu.call("GET", "/v1/cloud-accounts", None).await.body;
    assert!(list.to_string().contains("suspended-by-billing"), "{list}");
    let r = emu
        .admin("POST", "/accounts/2/status", json!({"status": "on-hold"}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(emu.account(2).await.body["status"], "on-hold");
    // An account in such a status still takes updates and deletes.
    emu.call("PUT", "/v1/cloud-accounts/2", Some(update_body(None, "K1")))
        .await;
    emu.advance(2000);
    assert_eq!(emu.account(2).await.body["status"], "active");
    emu.admin("POST", "/accounts/2/status", json!({"status": "on-hold"}))
        .await;
    emu.call("DELETE", "/v1/cloud-accounts/2", None).await;
    emu.advance(5000);
    assert_eq!(emu.account(2).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_status_forced_during_a_delete_is_where_the_delete_ends() {
    let emu = Emu::new(EmulatorConfig {
        delete_ms: 2000,
        ..test_config()
    });
    emu.call("POST", "/v1/cloud-accounts", Some(create_body("a", "K1")))
        .await;
    emu.advance(5000);
    emu.call("DELETE", "/v1/cloud-accounts/2", None).await;
    emu.advance(300);
    assert_eq!(emu.account(2).await.body["status"], "deleted");
    // De-provisioning fails: the account stays, in the forced status.
    let r = emu
        .admin(
            "POST",
            "/accounts/2/status",
            json!({"status": "active-error"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    emu.advance(5000);
    assert_eq!(emu.account(2).await.body["status"], "active-error");
    let list = emu.call("GET", "/v1/cloud-accounts", None).await.body;
    assert!(listed_names(&list).contains(&"a".to_owned()), "{list}");

    // A write that fails while another is still settling leaves the status forced for that
    // one's end in place.
    emu.call("POST", "/v1/cloud-accounts", Some(create_body("c", "K3")))
        .await;
    emu.call("POST", "/v1/cloud-accounts", Some(create_body("d", "K4")))
        .await;
    emu.advance(5000);
    emu.admin("PUT", "/config", json!({"activation_ms": 1_000}))
        .await;
    emu.call(
        "PUT",
        "/v1/cloud-accounts/3",
        Some(update_body(Some("c2"), "K3")),
    )
    .await;
    emu.advance(250);
    assert_eq!(emu.account(3).await.body["status"], "change-pending");
    emu.admin("POST", "/accounts/3/status", json!({"status": "error"}))
        .await;
    // Its name is taken: this update fails when it runs.
    emu.call(
        "PUT",
        "/v1/cloud-accounts/3",
        Some(update_body(Some("d"), "K3")),
    )
    .await;
    emu.advance(5000);
    assert_eq!(emu.account(3).await.body["status"], "error");
    emu.admin("PUT", "/config", json!({"activation_ms": 200}))
        .await;

    // A status forced for an earlier write's end never outlives a later delete.
    emu.admin("PUT", "/config", json!({"activation_ms": 60_000}))
        .await;
    emu.call("POST", "/v1/cloud-accounts", Some(create_body("b", "K2")))
        .await;
    emu.advance(250);
    emu.admin("POST", "/accounts/5/status", json!({"status": "active"}))
        .await;
    emu.call("DELETE", "/v1/cloud-accounts/5", None).await;
    emu.advance(5000);
    assert_eq!(emu.account(5).await.status, StatusCode::NOT_FOUND);
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
        emu.admin("PUT", "/config", json!({"final_status": "Bogus!"}))
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
        emu.admin("POST", "/accounts/3/status", json!({"status": "x y"}))
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
    // The API's own typed answer: a read that lags behind an account the API has.
    client
        .post(&faults)
        .json(&json!({"status": 404, "error_type": "CLOUD_ACCOUNT_NOT_FOUND", "count": 1, "method": "GET", "path_prefix": "/v1/cloud-accounts/1"}))
        .send()
        .await
        .expect("admin");
    let r = authed(&client, reqwest::Method::GET, format!("{list}/1"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["type"], "CLOUD_ACCOUNT_NOT_FOUND", "{body}");
    assert_eq!(body["error"]["status"], "404 NOT_FOUND", "{body}");
    let r = authed(&client, reqwest::Method::GET, format!("{list}/1"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200, "the account is there all along");
    for bad in [
        json!({"status": 404, "error_type": "NO_SUCH_TYPE"}),
        json!({"status": 404, "error_type": "CLOUD_ACCOUNT_NOT_FOUND", "html": true}),
    ] {
        let r = client.post(&faults).json(&bad).send().await.expect("admin");
        assert_eq!(r.status(), 400, "{bad}");
    }
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
async fn a_mid_answer_drop_sends_the_status_and_half_the_body_of_an_applied_write() {
    let (emu, client) = running(test_config()).await;
    let list = format!("{}/cloud-accounts", emu.base_url());
    let r = client
        .post(format!("{}/faults", emu.admin_url()))
        .json(&json!({"drop": "mid_answer", "method": "POST", "count": 1}))
        .send()
        .await
        .expect("admin");
    assert_eq!(r.status(), 200);
    let r = authed(&client, reqwest::Method::POST, list.clone())
        .json(&create_body("a", "K1"))
        .send()
        .await
        .expect("the status line and headers arrive");
    assert_eq!(r.status(), 202);
    let promised = r.content_length().expect("a Content-Length");
    let err = r.bytes().await.expect_err("the body is cut off");
    assert!(err.is_body() || err.is_decode(), "{err:?}");
    assert!(promised > 20, "{promised}");
    // The write was applied; the log says the answer was cut short.
    let state: Value = client
        .get(format!("{}/state", emu.admin_url()))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    assert_eq!(state["tasks"].as_array().map(Vec::len), Some(1), "{state}");
    let log: Value = client
        .get(format!("{}/requests", emu.admin_url()))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    let entry = &log["requests"][0];
    assert_eq!(
        (&entry["status"], &entry["cutShort"], &entry["committed"]),
        (&json!(202), &json!(true), &json!(true)),
        "{log}"
    );
    // The next request, on a new connection, is answered in full.
    let r = authed(&client, reqwest::Method::GET, list)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.expect("a whole body");
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

// ---- ambiguous outcomes and API quirks ----

fn tasks_of(state: &Value) -> Vec<Value> {
    state["tasks"].as_array().cloned().unwrap_or_default()
}

fn log_entries(log: &Value) -> Vec<Value> {
    log["requests"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn status_faults_with_commit_apply_the_write_and_lose_the_answer() {
    let emu = Emu::new(test_config());
    // Without commit nothing is applied.
    emu.admin("POST", "/faults", json!({"status": 502, "method": "POST"}))
        .await;
    let r = emu
        .call("POST", "/v1/cloud-accounts", Some(create_body("a", "K1")))
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    let state = emu.admin("GET", "/state", json!(null)).await.body;
    assert!(tasks_of(&state).is_empty(), "a 502 without commit applied");

    // POST: the client sees 502, yet the task is queued and the account appears.
    let r = emu
        .admin(
            "POST",
            "/faults",
            json!({"status": 502, "commit": true, "method": "POST", "path_prefix": "/v1/cloud-accounts"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["faults"][0]["kind"]["status"]["commit"], true);
    let r = emu
        .call("POST", "/v1/cloud-accounts", Some(create_body("a", "K1")))
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert!(r.body.get("taskId").is_none(), "the real answer leaked");
    let state = emu.admin("GET", "/state", json!(null)).await.body;
    let tasks = tasks_of(&state);
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["command"], "cloudAccountCreateRequest");
    assert_eq!(tasks[0]["status"], "received");
    emu.advance(1000);
    let acc = emu.account(2).await;
    assert_eq!(acc.status, StatusCode::OK);
    assert_eq!(
        (acc.body["name"].as_str(), acc.body["status"].as_str()),
        (Some("a"), Some("active"))
    );

    // PUT: 504 to the client, the update lands.
    emu.admin(
        "POST",
        "/faults",
        json!({"status": 504, "commit": true, "method": "PUT"}),
    )
    .await;
    let r = emu
        .call(
            "PUT",
            "/v1/cloud-accounts/2",
            Some(update_body(Some("renamed"), "K2")),
        )
        .await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
    emu.advance(1000);
    let acc = emu.account(2).await.body;
    assert_eq!(
        (acc["name"].as_str(), acc["accessKeyId"].as_str()),
        (Some("renamed"), Some("K2"))
    );

    // DELETE without commit: the account stays; with commit (408): it goes away.
    emu.admin(
        "POST",
        "/faults",
        json!({"status": 503, "method": "DELETE"}),
    )
    .await;
    assert_eq!(
        emu.call("DELETE", "/v1/cloud-accounts/2", None)
            .await
            .status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    emu.advance(1000);
    assert_eq!(emu.account(2).await.status, StatusCode::OK);
    emu.admin(
        "POST",
        "/faults",
        json!({"status": 408, "commit": true, "method": "DELETE"}),
    )
    .await;
    let r = emu.call("DELETE", "/v1/cloud-accounts/2", None).await;
    assert_eq!(r.status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(r.body["error"]["type"], "REQUEST_TIMEOUT");
    emu.advance(1000);
    let gone = emu.account(2).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.body["error"]["type"], "CLOUD_ACCOUNT_NOT_FOUND");

    // A committed request the handler rejects is still only answered with the fault.
    emu.admin(
        "POST",
        "/faults",
        json!({"status": 500, "commit": true, "method": "PUT"}),
    )
    .await;
    let r = emu
        .call("PUT", "/v1/cloud-accounts/99", Some(update_body(None, "K")))
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);

    // The log shows the injected status, whether the handler ran, and what it answered.
    let log = log_entries(&emu.admin("GET", "/requests", json!(null)).await.body);
    let faulted: Vec<_> = log
        .iter()
        .filter(|e| e["method"] != "GET")
        .map(|e| {
            (
                e["method"].as_str().unwrap_or("").to_owned(),
                e["status"].clone(),
                e["committed"].clone(),
                e.get("handlerStatus").cloned(),
            )
        })
        .collect();
    let row = |m: &str, s: u16, c: bool, h: Option<u16>| {
        (m.to_owned(), json!(s), json!(c), h.map(|h| json!(h)))
    };
    assert_eq!(
        faulted,
        vec![
            row("POST", 502, false, None),
            row("POST", 502, true, Some(202)),
            row("PUT", 504, true, Some(202)),
            row("DELETE", 503, false, None),
            row("DELETE", 408, true, Some(200)),
            row("PUT", 500, true, Some(404)),
        ]
    );
    assert!(
        log.iter()
            .filter(|e| e["method"] == "GET")
            .all(|e| e["committed"] == true && e.get("handlerStatus").is_none())
    );

    // commit belongs to status and latency faults; unknown statuses, a fault that can never
    // fire and flags that are not booleans are refused.
    for bad in [
        json!({"drop": "before_commit", "commit": true}),
        json!({"status": 502, "commit": "yes"}),
        json!({"status": 502, "html": "yes"}),
        json!({"status": 502, "count": 0}),
        json!({"status": 501}),
    ] {
        assert_eq!(
            emu.admin("POST", "/faults", bad.clone()).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn gateway_statuses_have_no_error_type() {
    let emu = Emu::new(test_config());
    for (status, reason) in [(502, "Bad Gateway"), (504, "Gateway Timeout")] {
        emu.admin("POST", "/faults", json!({"status": status}))
            .await;
        let r = emu.call("GET", "/v1/cloud-accounts/1", None).await;
        assert_eq!(r.status.as_u16(), status);
        assert_eq!(r.body["status"], status);
        assert_eq!(r.body["error"], reason);
        assert_eq!(r.body["path"], "/v1/cloud-accounts/1");
        assert!(r.body["timestamp"].is_string());
    }
    emu.admin("POST", "/faults", json!({"status": 502, "html": true}))
        .await;
    let r = emu.call("GET", "/v1/cloud-accounts/1", None).await;
    assert_eq!(r.headers["content-type"], "text/html");
    assert!(
        r.body
            .as_str()
            .is_some_and(|b| b.contains("502 Bad Gateway"))
    );
}

#[tokio::test]
async fn retry_after_is_sent_verbatim_whatever_it_says() {
    let emu = Emu::new(test_config());
    for (raw, header) in [
        ("7", "7"),
        // serde_json normalises exponents (1e20 -> 1e+20, E -> e); a string is sent exactly.
        ("1e20", "1e+20"),
        ("1E-2", "1e-2"),
        ("0.25", "0.25"),
        ("-3", "-3"),
        ("18446744073709551616", "18446744073709551616"),
        (r#""1e20""#, "1e20"),
        (r#""abc""#, "abc"),
        (r#""""#, ""),
    ] {
        let body = format!(r#"{{"status": 429, "retry_after_s": {raw}}}"#);
        let r = emu.raw("POST", "/admin/faults", Some(&body), false).await;
        assert_eq!(r.status, StatusCode::OK, "{raw}: {}", r.body);
        let r = emu.call("GET", "/v1/cloud-accounts", None).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            r.headers["x-rate-limit-retry-after-seconds"], header,
            "{raw}"
        );
    }
    // Any status may carry it, with commit too.
    emu.raw(
        "POST",
        "/admin/faults",
        Some(r#"{"status": 503, "retry_after_s": 1.5e3, "commit": true}"#),
        false,
    )
    .await;
    let r = emu.call("GET", "/v1/tasks", None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers["x-rate-limit-retry-after-seconds"], "1.5e+3");
    for bad in [r#""a\nb""#, "true", "[1]", r#"{"s": 1}"#] {
        let body = format!(r#"{{"status": 429, "retry_after_s": {bad}}}"#);
        let r = emu.raw("POST", "/admin/faults", Some(&body), false).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = emu.call("GET", "/v1/cloud-accounts", None).await;
    assert_eq!(r.status, StatusCode::OK, "a refused fault was installed");
}

#[tokio::test]
async fn unknown_paths_answer_an_untyped_404_unlike_missing_accounts() {
    let emu = Emu::new(test_config());
    for (method, path) in [
        ("GET", "/v1/nope"),
        ("GET", "/v1/cloud-accounts/5/x"),
        ("GET", "/v1/tasks/abc/def"),
        ("GET", "/cloud-accounts"),
        ("POST", "/cloud-accounts"),
        ("GET", "/cloud-accounts/5"),
        ("DELETE", "/cloud-accounts/5"),
        ("GET", "/tasks/abc"),
        ("GET", "/"),
        ("GET", "/v2/cloud-accounts"),
    ] {
        let r = emu.call(method, path, Some(create_body("a", "K"))).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert!(
            r.body["error"].is_string() && r.body["error"].get("type").is_none(),
            "{method} {path}: {}",
            r.body
        );
        assert_eq!(r.body["error"], "Not Found");
        assert_eq!(r.body["status"], 404);
        assert_eq!(r.body["path"], path);
        assert_eq!(r.body["timestamp"], "2023-11-14T22:13:20.000Z");
    }
    // Typed 404s stay typed.
    let acc = emu.call("GET", "/v1/cloud-accounts/5", None).await;
    assert_eq!(acc.status, StatusCode::NOT_FOUND);
    assert_eq!(acc.body["error"]["type"], "CLOUD_ACCOUNT_NOT_FOUND");
    let task = emu.call("GET", "/v1/tasks/abc", None).await;
    assert_eq!(task.status, StatusCode::NOT_FOUND);
    assert_eq!(task.body["error"]["type"], "ENTITY_NOT_FOUND");
    // Under /v1 authentication still comes first; outside it there is nothing to authenticate.
    assert_eq!(
        emu.raw("GET", "/v1/nope", None, false).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        emu.raw("GET", "/cloud-accounts", None, false).await.status,
        StatusCode::NOT_FOUND
    );
    // Requests outside /v1 are logged (a client with a wrong base URL shows up); /admin is not.
    let log = log_entries(&emu.admin("GET", "/requests", json!(null)).await.body);
    let paths: Vec<_> = log.iter().map(|e| e["path"].clone()).collect();
    assert!(paths.contains(&json!("/cloud-accounts/5")));
    assert!(paths.contains(&json!("/tasks/abc")));
    assert!(
        !paths
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.starts_with("/admin")))
    );
}

#[tokio::test]
async fn new_accounts_stay_invisible_for_account_404_ms_after_their_task() {
    let emu = Emu::new(test_config());
    let r = emu
        .admin("PUT", "/config", json!({"account_404_ms": 500}))
        .await;
    assert_eq!(r.body["account_404_ms"], 500);
    let id = task_id(
        &emu.call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("late", "AKLATE")),
        )
        .await,
    );
    let listed = |v: Value| {
        v["cloudAccounts"]
            .as_array()
            .map(|a| a.iter().any(|x| x["id"] == 2))
            .unwrap_or(false)
    };
    emu.advance(200);
    let task = emu.task(&id).await;
    assert_eq!(task["status"], "processing-completed");
    assert_eq!(task["response"]["resourceId"], 2);
    for _ in 0..2 {
        let r = emu.account(2).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.body["error"]["type"], "CLOUD_ACCOUNT_NOT_FOUND");
        assert!(!listed(
            emu.call("GET", "/v1/cloud-accounts", None).await.body
        ));
        emu.advance(499 / 2);
    }
    // The account exists all along (admin view), it is only hidden from reads.
    let state = emu.admin("GET", "/state", json!(null)).await.body;
    assert_eq!(state["accounts"].as_array().map(Vec::len), Some(2));
    emu.advance(2);
    assert_eq!(emu.account(2).await.status, StatusCode::OK);
    assert!(listed(
        emu.call("GET", "/v1/cloud-accounts", None).await.body
    ));

    // Off by default: visible as soon as the account exists.
    let emu = Emu::new(test_config());
    emu.call("POST", "/v1/cloud-accounts", Some(create_body("a", "K")))
        .await;
    emu.advance(100);
    assert_eq!(emu.account(2).await.body["status"], "draft");
    // Also settable at start.
    let emu = Emu::new(EmulatorConfig {
        account_404_ms: 50,
        ..test_config()
    });
    emu.call("POST", "/v1/cloud-accounts", Some(create_body("a", "K")))
        .await;
    emu.advance(249);
    assert_eq!(emu.account(2).await.status, StatusCode::NOT_FOUND);
    emu.advance(1);
    assert_eq!(emu.account(2).await.status, StatusCode::OK);
}

#[tokio::test]
async fn list_masks_access_keys_when_asked_and_get_never_does() {
    let emu = Emu::new(EmulatorConfig {
        mask_list_access_keys: true,
        ..test_config()
    });
    emu.call(
        "POST",
        "/v1/cloud-accounts",
        Some(create_body("a", "AKIAEXAMPLE")),
    )
    .await;
    emu.call("POST", "/v1/cloud-accounts", Some(create_body("b", "Z")))
        .await;
    emu.advance(1000);
    let keys = |v: &Value| -> Vec<Value> {
        v["cloudAccounts"]
            .as_array()
            .map(|a| a.iter().map(|x| x["accessKeyId"].clone()).collect())
            .unwrap_or_default()
    };
    let list = emu.call("GET", "/v1/cloud-accounts", None).await.body;
    assert_eq!(
        keys(&list),
        vec![Value::Null, json!("A***E"), json!("Z***Z")]
    );
    assert_eq!(emu.account(2).await.body["accessKeyId"], "AKIAEXAMPLE");
    emu.admin("PUT", "/config", json!({"mask_list_access_keys": false}))
        .await;
    let list = emu.call("GET", "/v1/cloud-accounts", None).await.body;
    assert_eq!(
        keys(&list),
        vec![Value::Null, json!("AKIAEXAMPLE"), json!("Z")]
    );
}

#[tokio::test]
async fn creates_beyond_max_cloud_accounts_fail_synchronously() {
    let emu = Emu::new(test_config());
    assert_eq!(
        emu.admin("PUT", "/config", json!({"max_cloud_accounts": -1}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    emu.admin("PUT", "/config", json!({"max_cloud_accounts": 2}))
        .await;
    let post = |name: &'static str| {
        emu.call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body(name, &format!("K-{name}"))),
        )
    };
    // Creates still queued count.
    assert_eq!(post("a").await.status, StatusCode::ACCEPTED);
    assert_eq!(post("b").await.status, StatusCode::ACCEPTED);
    let r = post("c").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"]["type"], "BAD_REQUEST");
    assert_eq!(r.body["error"]["status"], "400 BAD_REQUEST");
    assert!(
        r.body["error"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("limit") && d.contains('2'))
    );
    emu.advance(1000);
    assert_eq!(post("c").await.status, StatusCode::BAD_REQUEST);
    let state = emu.admin("GET", "/state", json!(null)).await.body;
    assert_eq!(tasks_of(&state).len(), 2, "a refused create queued a task");
    // An account being deleted still counts; once deleted it does not.
    emu.call("DELETE", "/v1/cloud-accounts/2", None).await;
    emu.advance(150);
    assert_eq!(emu.account(2).await.body["status"], "delete-draft");
    assert_eq!(post("c").await.status, StatusCode::BAD_REQUEST);
    emu.advance(50);
    assert_eq!(emu.account(2).await.body["status"], "deleted");
    assert_eq!(post("c").await.status, StatusCode::ACCEPTED);
    // A failed create frees its slot.
    emu.advance(1000);
    emu.call("DELETE", "/v1/cloud-accounts/3", None).await;
    emu.advance(1000);
    emu.admin(
        "POST",
        "/task-errors",
        json!({"type": "CLOUD_ACCOUNT_INVALID_CREDS"}),
    )
    .await;
    assert_eq!(post("d").await.status, StatusCode::ACCEPTED);
    emu.advance(1000);
    assert_eq!(post("e").await.status, StatusCode::ACCEPTED);
    assert_eq!(post("f").await.status, StatusCode::BAD_REQUEST);
    // null lifts the cap.
    emu.admin("PUT", "/config", json!({"max_cloud_accounts": null}))
        .await;
    assert_eq!(post("f").await.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn after_commit_drops_apply_put_and_delete() {
    let (emu, client) = running(EmulatorConfig {
        task_stage_ms: 5,
        activation_ms: 5,
        delete_ms: 5,
        ..test_config()
    })
    .await;
    let faults = format!("{}/faults", emu.admin_url());
    let account = format!("{}/cloud-accounts/2", emu.base_url());
    let get = |url: String| {
        let client = client.clone();
        async move {
            authed(&client, reqwest::Method::GET, url)
                .send()
                .await
                .expect("send")
        }
    };
    let wait_for = |want: &'static str| {
        let account = account.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let r = get(account.clone()).await;
                let status = r.status();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                let seen = if status == 404 {
                    "gone".to_owned()
                } else {
                    format!(
                        "{}:{}",
                        body["name"].as_str().unwrap_or(""),
                        body["status"].as_str().unwrap_or("")
                    )
                };
                if seen == want {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "never reached {want}, last {seen}"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    authed(
        &client,
        reqwest::Method::POST,
        format!("{}/cloud-accounts", emu.base_url()),
    )
    .json(&create_body("a", "K1"))
    .send()
    .await
    .expect("send");
    wait_for("a:active").await;

    client
        .post(&faults)
        .json(&json!({"drop": "after_commit", "method": "PUT"}))
        .send()
        .await
        .expect("admin");
    authed(&client, reqwest::Method::PUT, account.clone())
        .json(&update_body(Some("renamed"), "K2"))
        .send()
        .await
        .expect_err("connection must be dropped");
    wait_for("renamed:active").await;

    client
        .post(&faults)
        .json(&json!({"drop": "after_commit", "method": "DELETE"}))
        .send()
        .await
        .expect("admin");
    authed(&client, reqwest::Method::DELETE, account.clone())
        .send()
        .await
        .expect_err("connection must be dropped");
    wait_for("gone").await;

    let log: Value = client
        .get(format!("{}/requests", emu.admin_url()))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    let dropped: Vec<_> = log_entries(&log)
        .into_iter()
        .filter(|e| e["status"].is_null())
        .map(|e| {
            (
                e["method"].clone(),
                e["committed"].clone(),
                e["handlerStatus"].clone(),
            )
        })
        .collect();
    assert_eq!(
        dropped,
        vec![
            (json!("PUT"), json!(true), json!(202)),
            (json!("DELETE"), json!(true), json!(200)),
        ]
    );
    emu.shutdown().await;
}

/// A write that lands and is then answered too slowly: the client gives up (a timeout after
/// sending) and cannot know that it landed. Without `commit` the slow request never lands.
#[tokio::test]
async fn a_latency_with_commit_applies_the_write_before_its_slow_answer() {
    let (emu, client) = running(EmulatorConfig {
        task_stage_ms: 5,
        activation_ms: 5,
        ..test_config()
    })
    .await;
    let faults = format!("{}/faults", emu.admin_url());
    let list = format!("{}/cloud-accounts", emu.base_url());
    let tasks = format!("{}/tasks", emu.base_url());
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(300))
        .build()
        .expect("client");
    let task_count = || async {
        let r = authed(&client, reqwest::Method::GET, tasks.clone())
            .send()
            .await
            .expect("tasks");
        let body: Value = r.json().await.expect("json");
        body["tasks"].as_array().map_or(0, Vec::len)
    };
    for (commit, landed) in [(false, 0), (true, 1)] {
        client
            .post(&faults)
            .json(&json!({"latency_ms": 1500, "commit": commit, "method": "POST", "count": 1}))
            .send()
            .await
            .expect("admin");
        let err = authed(&impatient, reqwest::Method::POST, list.clone())
            .json(&create_body(
                &format!("slow-{commit}"),
                &format!("KSLOW{commit}"),
            ))
            .send()
            .await
            .expect_err("the answer comes after the client's timeout");
        assert!(err.is_timeout(), "{err:?}");
        // Past the latency: whatever was going to land has landed.
        tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
        assert_eq!(task_count().await, landed, "commit: {commit}");
    }
    // Both abandoned requests are in the log, with whether each was applied.
    let log: Value = client
        .get(format!("{}/requests", emu.admin_url()))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    let posts: Vec<(Value, Value, Value)> = log_entries(&log)
        .into_iter()
        .filter(|e| e["method"] == "POST")
        .map(|e| {
            (
                e["status"].clone(),
                e["committed"].clone(),
                e["abandoned"].clone(),
            )
        })
        .collect();
    assert_eq!(
        posts,
        vec![
            (Value::Null, json!(false), json!(true)),
            (Value::Null, json!(true), json!(true)),
        ]
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn every_error_status_of_the_contract_can_be_injected_and_a_404_fault_names_no_entity() {
    let emu = Emu::new(test_config());
    for status in [
        400u16, 401, 403, 404, 408, 409, 412, 422, 429, 500, 502, 503, 504,
    ] {
        let added = emu
            .admin("POST", "/faults", json!({"status": status}))
            .await;
        assert_eq!(added.status, StatusCode::OK, "{status}");
        let r = emu.call("GET", "/v1/cloud-accounts/1", None).await;
        assert_eq!(r.status.as_u16(), status);
    }
    // A 404 that the API did not give (a proxy, a wrong route) carries no error type, so a
    // client cannot take it for a missing account.
    emu.admin("POST", "/faults", json!({"status": 404})).await;
    let r = emu.call("GET", "/v1/cloud-accounts/1", None).await;
    assert!(r.body["error"].get("type").is_none(), "{}", r.body);
}

#[tokio::test]
async fn absurd_timings_never_overflow_the_clock() {
    let emu = Emu::new(EmulatorConfig {
        task_stage_ms: 5,
        activation_ms: 5,
        ..test_config()
    });
    let created = emu
        .call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("kept", "KKEPT")),
        )
        .await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.body);
    emu.advance(1_000);
    let max = u64::MAX;
    let set = emu
        .admin(
            "PUT",
            "/config",
            json!({"task_stage_ms": max, "task_404_ms": max, "activation_ms": max, "delete_ms": max, "account_404_ms": max, "list_lag_ms": max, "task_retention_ms": max}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let forever = emu
        .call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("forever", "KMAX")),
        )
        .await;
    assert_eq!(forever.status, StatusCode::ACCEPTED, "{}", forever.body);
    let deleted = emu.call("DELETE", "/v1/cloud-accounts/2", None).await;
    assert!(deleted.status.is_success(), "{}", deleted.body);
    emu.advance(10_000);
    // The world still answers, and nothing "never" happens at once.
    let list = emu.call("GET", "/v1/cloud-accounts", None).await;
    assert_eq!(list.status, StatusCode::OK);
    let kept = emu.call("GET", "/v1/cloud-accounts/2", None).await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    let tasks = emu.call("GET", "/v1/tasks", None).await;
    assert_eq!(tasks.status, StatusCode::OK);
}

#[tokio::test]
async fn a_new_task_can_report_initialized_before_received() {
    let emu = Emu::new(EmulatorConfig {
        task_stage_ms: 500,
        ..test_config()
    });
    emu.admin("PUT", "/config", json!({"initialized_ms": 100}))
        .await;
    let created = emu
        .call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("init", "KINIT")),
        )
        .await;
    assert_eq!(created.body["status"], "initialized", "{}", created.body);
    let task = created.body["taskId"].as_str().expect("taskId").to_owned();
    let path = format!("/v1/tasks/{task}");
    assert_eq!(
        emu.call("GET", &path, None).await.body["status"],
        "initialized"
    );
    let listed = emu.call("GET", "/v1/tasks", None).await;
    assert_eq!(listed.body["tasks"][0]["status"], "initialized");
    emu.advance(150);
    assert_eq!(
        emu.call("GET", &path, None).await.body["status"],
        "received"
    );
    emu.advance(1_000);
    assert_eq!(
        emu.call("GET", &path, None).await.body["status"],
        "processing-completed"
    );
}

#[tokio::test]
async fn a_create_can_fail_after_making_its_account_and_name_it() {
    let emu = Emu::new(EmulatorConfig {
        task_stage_ms: 5,
        activation_ms: 5,
        ..test_config()
    });
    let added = emu
        .admin(
            "POST",
            "/task-errors",
            json!({"type": "CLOUD_ACCOUNT_PERMISSION_FAILED", "after_create": true}),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    let created = emu
        .call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("half-made", "KHALF")),
        )
        .await;
    let task = created.body["taskId"].as_str().expect("taskId").to_owned();
    emu.advance(100);
    let done = emu.call("GET", &format!("/v1/tasks/{task}"), None).await;
    assert_eq!(done.body["status"], "processing-error", "{}", done.body);
    assert_eq!(
        done.body["response"]["error"]["type"],
        "CLOUD_ACCOUNT_PERMISSION_FAILED"
    );
    let id = done.body["response"]["resourceId"]
        .as_i64()
        .expect("resourceId");
    let account = emu
        .call("GET", &format!("/v1/cloud-accounts/{id}"), None)
        .await;
    assert_eq!(account.body["name"], "half-made");
    assert_eq!(account.body["status"], "error");
    // Without after_create a failed create makes nothing and names nothing.
    emu.admin(
        "POST",
        "/task-errors",
        json!({"type": "CLOUD_ACCOUNT_PERMISSION_FAILED"}),
    )
    .await;
    let created = emu
        .call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("not-made", "KNOT")),
        )
        .await;
    let task = created.body["taskId"].as_str().expect("taskId").to_owned();
    emu.advance(100);
    let done = emu.call("GET", &format!("/v1/tasks/{task}"), None).await;
    assert_eq!(done.body["status"], "processing-error");
    assert!(
        done.body["response"].get("resourceId").is_none(),
        "{}",
        done.body
    );
    assert_eq!(
        emu.admin(
            "POST",
            "/task-errors",
            json!({"type": "GENERAL_ERROR", "after_create": "yes"})
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_write_can_be_applied_after_its_error_answer() {
    let emu = Emu::new(test_config());
    emu.admin(
        "POST",
        "/faults",
        json!({"status": 504, "commit_after_ms": 200, "method": "POST"}),
    )
    .await;
    let answered = emu
        .call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("late", "KLATE")),
        )
        .await;
    assert_eq!(answered.status.as_u16(), 504);
    let tasks = |body: &Value| body["tasks"].as_array().map_or(0, Vec::len);
    assert_eq!(tasks(&emu.call("GET", "/v1/tasks", None).await.body), 0);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        tasks(&emu.call("GET", "/v1/tasks", None).await.body),
        1,
        "not applied late"
    );
    // The request log tells the truth about the write once it has landed: committed, with the
    // status the API gave it, under the 504 the client saw.
    let log = emu.admin("GET", "/requests", json!(null)).await.body;
    let post = log["requests"]
        .as_array()
        .and_then(|r| r.iter().find(|e| e["method"] == "POST"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (
            post["status"].clone(),
            post["committed"].clone(),
            post["handlerStatus"].clone()
        ),
        (json!(504), json!(true), json!(202)),
        "{post}"
    );
    // commit_after_ms belongs to status faults.
    assert_eq!(
        emu.admin(
            "POST",
            "/faults",
            json!({"drop": "before_commit", "commit_after_ms": 5})
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
}

// ---- a lagging API, tasks ageing out, other clients writing at the same moment ----

async fn listed(emu: &Emu) -> bool {
    listed_names(&emu.call("GET", "/v1/cloud-accounts", None).await.body)
        .contains(&"lagged".to_owned())
}

fn listed_names(list: &Value) -> Vec<String> {
    list["cloudAccounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The list lags behind an update as it does behind a create: until `list_lag_ms` after the
/// update's task completed it shows the account as it was before the update (`active`, the old
/// name and key), while GET by id already shows the new values.
#[tokio::test]
async fn the_list_shows_an_updated_account_as_it_was_until_its_lag_has_passed() {
    let emu = Emu::new(EmulatorConfig {
        list_lag_ms: 300,
        ..test_config()
    });
    emu.call(
        "POST",
        "/v1/cloud-accounts",
        Some(create_body("lagged", "KOLD")),
    )
    .await;
    // Created (+200), active (+400), listed (+500).
    emu.advance(1_000);
    assert!(listed(&emu).await);
    let id = task_id(
        &emu.call(
            "PUT",
            "/v1/cloud-accounts/2",
            Some(update_body(Some("renamed"), "KNEW")),
        )
        .await,
    );
    // The update's task completes 200 ms later: GET by id shows it at once, the list does not.
    emu.advance(200);
    assert_eq!(emu.task(&id).await["status"], "processing-completed");
    let by_id = emu.account(2).await.body;
    assert_eq!(
        (by_id["name"].clone(), by_id["accessKeyId"].clone()),
        (json!("renamed"), json!("KNEW"))
    );
    let list = emu.call("GET", "/v1/cloud-accounts", None).await.body;
    let shown = |list: &Value| {
        list["cloudAccounts"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["id"] == 2).cloned())
            .unwrap_or_default()
    };
    assert_eq!(
        (
            shown(&list)["name"].clone(),
            shown(&list)["accessKeyId"].clone(),
            shown(&list)["status"].clone()
        ),
        (json!("lagged"), json!("KOLD"), json!("active")),
        "{list}"
    );
    emu.advance(299);
    let list = emu.call("GET", "/v1/cloud-accounts", None).await.body;
    assert_eq!(shown(&list)["name"], "lagged", "{list}");
    emu.advance(1);
    let list = emu.call("GET", "/v1/cloud-accounts", None).await.body;
    assert_eq!(shown(&list)["name"], "renamed", "{list}");
    assert_eq!(shown(&list)["accessKeyId"], "KNEW", "{list}");
    // Likewise a delete: the list shows the account active until the lag has passed.
    let id = task_id(&emu.call("DELETE", "/v1/cloud-accounts/2", None).await);
    emu.advance(200);
    assert_eq!(emu.task(&id).await["status"], "processing-completed");
    assert_eq!(emu.account(2).await.body["status"], "deleted");
    let list = emu.call("GET", "/v1/cloud-accounts", None).await.body;
    assert_eq!(shown(&list)["status"], "active", "{list}");
}

#[tokio::test]
async fn the_list_lags_behind_get_by_id_which_lags_behind_the_task() {
    let emu = Emu::new(EmulatorConfig {
        account_404_ms: 100,
        list_lag_ms: 300,
        ..test_config()
    });
    let id = task_id(
        &emu.call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("lagged", "KLAG")),
        )
        .await,
    );
    // The task completes at +200: GET by id still 404 (account_404_ms), the list too.
    emu.advance(200);
    assert_eq!(emu.task(&id).await["status"], "processing-completed");
    assert_eq!(emu.account(2).await.status, StatusCode::NOT_FOUND);
    assert!(!listed(&emu).await);
    // From +300 GET by id finds it; the list does not show it for list_lag_ms more.
    emu.advance(100);
    assert_eq!(emu.account(2).await.status, StatusCode::OK);
    assert!(!listed(&emu).await, "the list must lag behind GET by id");
    emu.advance(299);
    assert_eq!(emu.account(2).await.status, StatusCode::OK);
    assert!(!listed(&emu).await);
    emu.advance(1);
    assert!(listed(&emu).await);
    assert_eq!(emu.account(2).await.status, StatusCode::OK);

    // Without account_404_ms, GET by id finds the account once its task made it (draft), and
    // the list lags behind that; the knob is also set at run time.
    let emu = Emu::new(test_config());
    let r = emu
        .admin("PUT", "/config", json!({"list_lag_ms": 50}))
        .await;
    assert_eq!(r.body["list_lag_ms"], 50);
    emu.call(
        "POST",
        "/v1/cloud-accounts",
        Some(create_body("lagged", "K")),
    )
    .await;
    emu.advance(100);
    assert_eq!(emu.account(2).await.body["status"], "draft");
    assert!(!listed(&emu).await);
    emu.advance(49);
    assert!(!listed(&emu).await);
    emu.advance(1);
    assert!(listed(&emu).await);
    // Off by default.
    assert_eq!(
        emu.admin("POST", "/reset", json!(null)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        emu.admin("GET", "/config", json!(null)).await.body["list_lag_ms"],
        0
    );

    // A state file written before these fields existed still loads: no lag for its accounts.
    let mut world = serde_json::to_value(super::model::World::new()).expect("world");
    if let Some(a) = world["accounts"]["1"].as_object_mut() {
        assert!(a.remove("listedMs").is_some());
    }
    let world: super::model::World = serde_json::from_value(world).expect("old world loads");
    assert!(world.accounts[&1].is_listed(0));
}

#[tokio::test]
async fn tasks_age_out_of_sight_after_task_retention_ms_yet_still_run() {
    let emu = Emu::new(EmulatorConfig {
        task_retention_ms: 150,
        ..test_config()
    });
    assert_eq!(
        Emu::new(test_config())
            .admin("GET", "/config", json!(null))
            .await
            .body["task_retention_ms"],
        10 * 24 * 60 * 60 * 1000_u64,
        "ten days by default"
    );
    let id = task_id(
        &emu.call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("aged", "KAGED")),
        )
        .await,
    );
    let listed = |body: &Value| body["tasks"].as_array().map_or(0, Vec::len);
    emu.advance(150);
    assert_eq!(emu.task(&id).await["status"], "processing-in-progress");
    assert_eq!(listed(&emu.call("GET", "/v1/tasks", None).await.body), 1);
    // Past the window: neither listed nor found, with the very answer of an unknown task.
    emu.advance(1);
    let aged = emu.call("GET", &format!("/v1/tasks/{id}"), None).await;
    let unknown = emu
        .call(
            "GET",
            "/v1/tasks/00000000-0000-0000-0000-000000000000",
            None,
        )
        .await;
    assert_eq!(aged.status, StatusCode::NOT_FOUND);
    assert_eq!((aged.status, &aged.body), (unknown.status, &unknown.body));
    assert_eq!(listed(&emu.call("GET", "/v1/tasks", None).await.body), 0);
    // The task ran to its end unseen: the account exists and settles.
    emu.advance(1000);
    assert_eq!(emu.account(2).await.body["status"], "active");
    let state = emu.admin("GET", "/state", json!(null)).await.body;
    assert_eq!(tasks_of(&state)[0]["status"], "processing-completed");

    // A zero window hides a task from the instant after it was submitted; its create still
    // makes its account, and widening the window again shows every task once more.
    emu.admin("PUT", "/config", json!({"task_retention_ms": 0}))
        .await;
    let id = task_id(
        &emu.call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("unseen", "KUNSEEN")),
        )
        .await,
    );
    assert_eq!(emu.task(&id).await["status"], "received");
    emu.advance(1);
    assert_eq!(
        emu.call("GET", &format!("/v1/tasks/{id}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    emu.advance(1000);
    let list = emu.call("GET", "/v1/cloud-accounts", None).await.body;
    assert!(listed_names(&list).contains(&"unseen".to_owned()), "{list}");
    assert_eq!(listed(&emu.call("GET", "/v1/tasks", None).await.body), 0);
    emu.admin("PUT", "/config", json!({"task_retention_ms": 10_000}))
        .await;
    assert_eq!(listed(&emu.call("GET", "/v1/tasks", None).await.body), 2);
    assert_eq!(emu.task(&id).await["status"], "processing-completed");
}

#[tokio::test]
async fn the_account_list_may_leave_out_an_account_get_by_id_finds() {
    let emu = Emu::new(test_config());
    emu.call(
        "POST",
        "/v1/cloud-accounts",
        Some(create_body("left-out", "KLEFTOUT")),
    )
    .await;
    emu.advance(5000);
    let listed = |body: &Value| listed_names(body).contains(&"left-out".to_owned());
    assert!(listed(
        &emu.call("GET", "/v1/cloud-accounts", None).await.body
    ));
    let r = emu
        .admin("PUT", "/config", json!({"list_omits": [2]}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!listed(
        &emu.call("GET", "/v1/cloud-accounts", None).await.body
    ));
    assert_eq!(emu.account(2).await.body["status"], "active");
    emu.admin("PUT", "/config", json!({"list_omits": []})).await;
    assert!(listed(
        &emu.call("GET", "/v1/cloud-accounts", None).await.body
    ));
}

#[tokio::test]
async fn tasks_sent_while_resource_ids_are_omitted_complete_without_naming_what_they_made() {
    let emu = Emu::new(test_config());
    let task_of = |body: &Value| body["taskId"].as_str().expect("taskId").to_owned();
    // Accepted before the knob: it still names its account when it completes.
    let named = task_of(
        &emu.call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("named", "KNAMED")),
        )
        .await
        .body,
    );
    let r = emu
        .admin("PUT", "/config", json!({"omit_task_resource_id": true}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let unnamed = task_of(
        &emu.call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("unnamed", "KUNNAMED")),
        )
        .await
        .body,
    );
    emu.advance(5000);
    let done = emu.task(&unnamed).await;
    assert_eq!(done["status"], "processing-completed", "{done}");
    assert!(done["response"].get("resourceId").is_none(), "{done}");
    let listed = emu.call("GET", "/v1/tasks", None).await.body;
    let in_list = listed["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["taskId"] == unnamed.as_str()))
        .cloned()
        .expect("the task is listed");
    assert!(in_list["response"].get("resourceId").is_none(), "{in_list}");
    // It made its account all the same.
    assert!(
        listed_names(&emu.call("GET", "/v1/cloud-accounts", None).await.body)
            .contains(&"unnamed".to_owned())
    );
    assert_eq!(emu.task(&named).await["response"]["resourceId"], 2);
    // Turning it off does not rename what was answered: the task stays as it completed.
    emu.admin("PUT", "/config", json!({"omit_task_resource_id": false}))
        .await;
    assert!(
        emu.task(&unnamed).await["response"]
            .get("resourceId")
            .is_none()
    );
}

#[tokio::test]
async fn an_account_made_out_of_band_is_active_at_once_with_no_task_of_this_key() {
    let emu = Emu::new(test_config());
    let r = emu
        .admin(
            "POST",
            "/accounts",
            json!({"name": "console-made", "access_key_id": "KCONSOLE"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["id"], 2);
    let account = emu.account(2).await.body;
    assert_eq!(
        (&account["name"], &account["status"], &account["provider"]),
        (&json!("console-made"), &json!("active"), &json!("AWS"))
    );
    let tasks = emu.call("GET", "/v1/tasks", None).await.body;
    assert_eq!(tasks["tasks"], json!([]), "{tasks}");
    // The API's uniqueness rules hold for it too.
    let taken = emu
        .admin(
            "POST",
            "/accounts",
            json!({"name": "console-made", "access_key_id": "KOTHER"}),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.body["error"], "CLOUD_ACCOUNT_NAME_EXISTS");
    for bad in [
        json!({"name": "x"}),
        json!({"access_key_id": "K"}),
        json!({"name": "x", "access_key_id": "K", "provider": "AZURE"}),
    ] {
        let r = emu.admin("POST", "/accounts", bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn the_task_list_may_drop_a_task_its_own_address_still_answers() {
    let emu = Emu::new(EmulatorConfig {
        task_list_retention_ms: Some(100),
        ..test_config()
    });
    let listed = |body: &Value| body["tasks"].as_array().map_or(0, Vec::len);
    let id = task_id(
        &emu.call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("dropped", "KDROPPED")),
        )
        .await,
    );
    emu.advance(100);
    assert_eq!(listed(&emu.call("GET", "/v1/tasks", None).await.body), 1);
    emu.advance(1);
    assert_eq!(listed(&emu.call("GET", "/v1/tasks", None).await.body), 0);
    assert_eq!(emu.task(&id).await["status"], "processing-in-progress");
    emu.advance(1000);
    let done = emu.task(&id).await;
    assert_eq!(done["status"], "processing-completed");
    assert_eq!(done["response"]["resourceId"], 2);
    // At run time, and back: `null` is the by-id window again.
    emu.admin("PUT", "/config", json!({"task_list_retention_ms": null}))
        .await;
    assert_eq!(listed(&emu.call("GET", "/v1/tasks", None).await.body), 1);
    emu.admin("PUT", "/config", json!({"task_list_retention_ms": 0}))
        .await;
    assert_eq!(listed(&emu.call("GET", "/v1/tasks", None).await.body), 0);
    assert_eq!(emu.task(&id).await["status"], "processing-completed");
}

fn interposed(log: &[Value]) -> Vec<Value> {
    log.iter()
        .filter(|e| e["interposed"] == true)
        .cloned()
        .collect()
}

fn own(log: &[Value]) -> Vec<Value> {
    log.iter()
        .filter(|e| e.get("interposed").is_none())
        .cloned()
        .collect()
}

/// Injected task errors and final statuses are meant for the client under test: another
/// client's interposed create, queued just before ours, never takes them.
#[tokio::test]
async fn injected_task_errors_and_final_statuses_skip_interposed_writes() {
    let emu = Emu::new(test_config());
    fail_the_next_task(&emu).await;
    let r = emu
        .admin(
            "PUT",
            "/config",
            json!({"final_status": "active-error", "final_status_count": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = emu
        .admin(
            "POST",
            "/faults",
            json!({
                "interpose": {"name": "theirs", "access_key_id": "AKIATHEIRS", "provider": "AWS"},
                "when": "before", "method": "POST", "count": 1,
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let ours = task_id(
        &emu.call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("ours", "AKIAOURS")),
        )
        .await,
    );
    emu.advance(2_000);
    let tasks = tasks_of(&emu.admin("GET", "/state", json!(null)).await.body);
    let theirs = tasks
        .iter()
        .find(|t| t["changes"]["name"] == "theirs")
        .expect("their task");
    assert_eq!(theirs["status"], "processing-completed", "{theirs}");
    assert_eq!(emu.task(&ours).await["status"], "processing-error");
    let list = emu.call("GET", "/v1/cloud-accounts", None).await.body;
    let status_of = |name: &str| {
        list["cloudAccounts"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["name"] == name).cloned())
            .map(|a| a["status"].clone())
    };
    assert_eq!(status_of("theirs"), Some(json!("active")), "{list}");
}

#[tokio::test]
async fn an_interposed_create_lands_though_our_dropped_create_does_not() {
    let emu = Emu::new(test_config());
    // The drop comes first in the list: interposition takes no fault's place.
    for fault in [
        json!({"drop": "before_commit", "method": "POST"}),
        json!({
            "interpose": {"name": "theirs", "access_key_id": "AKIATHEIRS", "provider": "AWS"},
            "when": "before", "method": "POST", "path_prefix": "/v1/cloud-accounts", "count": 1,
        }),
    ] {
        let r = emu.admin("POST", "/faults", fault).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let r = emu
        .call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("ours", "AKIAOURS")),
        )
        .await;
    assert!(
        r.body.get("taskId").is_none(),
        "our create was applied: {}",
        r.body
    );
    let state = emu.admin("GET", "/state", json!(null)).await.body;
    assert_eq!(state["faults"], json!([]), "both faults fired");
    let tasks = tasks_of(&state);
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["changes"]["name"], "theirs");
    emu.advance(1000);
    let list = emu.call("GET", "/v1/cloud-accounts", None).await.body;
    let names = listed_names(&list);
    assert!(names.contains(&"theirs".to_owned()), "{list}");
    assert!(!names.contains(&"ours".to_owned()), "{list}");
    let theirs = emu.account(2).await.body;
    assert_eq!(
        (theirs["accessKeyId"].as_str(), theirs["status"].as_str()),
        (Some("AKIATHEIRS"), Some("active"))
    );

    // The log tells their write from ours.
    let log = log_entries(&emu.admin("GET", "/requests", json!(null)).await.body);
    let foreign = interposed(&log);
    assert_eq!(foreign.len(), 1, "{log:?}");
    let f = &foreign[0];
    assert_eq!(
        (
            &f["method"],
            &f["path"],
            &f["status"],
            &f["when"],
            &f["around"]
        ),
        (
            &json!("POST"),
            &json!("/v1/cloud-accounts"),
            &json!(202),
            &json!("before"),
            &json!("POST /v1/cloud-accounts"),
        )
    );
    assert_eq!(f["taskId"], tasks[0]["id"]);
    let ours: Vec<_> = own(&log)
        .into_iter()
        .filter(|e| e["method"] == "POST")
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0]["committed"], false);
    let all = format!("{state}{log:?}");
    for s in SECRET_VALUES {
        assert!(!all.contains(s), "admin output leaks {s}");
    }

    // Their create goes through the API's own checks: a taken name fails their task, and
    // with sync_errors it answers them 409 at once (logged, no task).
    emu.admin(
        "POST",
        "/faults",
        json!({"interpose": {"name": "theirs", "access_key_id": "AKIAOTHER"}, "when": "after", "method": "GET"}),
    )
    .await;
    emu.admin("PUT", "/config", json!({"sync_errors": true}))
        .await;
    assert_eq!(
        emu.call("GET", "/v1/cloud-accounts", None).await.status,
        StatusCode::OK
    );
    let log = log_entries(&emu.admin("GET", "/requests", json!(null)).await.body);
    let last = interposed(&log).pop().unwrap_or_default();
    assert_eq!(
        (&last["status"], last.get("taskId"), &last["around"]),
        (&json!(409), None, &json!("GET /v1/cloud-accounts"))
    );
    let state = emu.admin("GET", "/state", json!(null)).await.body;
    assert_eq!(tasks_of(&state).len(), 1);
    assert!(
        state["events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e.as_str().is_some_and(
                |e| e.starts_with("interposed after GET /v1/cloud-accounts: another client's POST")
            )))
    );
}

#[tokio::test]
async fn an_interposed_create_after_ours_queues_behind_it() {
    let emu = Emu::new(test_config());
    emu.admin(
        "POST",
        "/faults",
        json!({"interpose": {"name": "theirs", "access_key_id": "AKIATHEIRS", "provider": "GCP"}, "when": "after", "method": "POST"}),
    )
    .await;
    let r = emu
        .call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("ours", "AKIAOURS")),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let ours = task_id(&r);
    let state = emu.admin("GET", "/state", json!(null)).await.body;
    let tasks = tasks_of(&state);
    let order: Vec<_> = tasks.iter().map(|t| t["changes"]["name"].clone()).collect();
    assert_eq!(order, vec![json!("ours"), json!("theirs")]);
    assert_eq!(tasks[0]["id"], ours.as_str());
    assert!(tasks[0]["doneMs"].as_u64() <= tasks[1]["processingMs"].as_u64());
    let log = log_entries(&emu.admin("GET", "/requests", json!(null)).await.body);
    let foreign = interposed(&log);
    assert_eq!(foreign.len(), 1);
    assert_eq!(
        (&foreign[0]["when"], &foreign[0]["taskId"]),
        (&json!("after"), &tasks[1]["id"])
    );
    assert_eq!(own(&log).len(), 1);
    emu.advance(1000);
    assert_eq!(emu.account(2).await.body["name"], "ours");
    let theirs = emu.account(3).await.body;
    assert_eq!(
        (theirs["name"].as_str(), theirs["provider"].as_str()),
        (Some("theirs"), Some("GCP"))
    );

    // Another client creating the very same name just before us wins the race: ours fails.
    emu.admin(
        "POST",
        "/faults",
        json!({"interpose": {"name": "race", "access_key_id": "AKIARACE1"}, "when": "before", "method": "POST"}),
    )
    .await;
    let ours = task_id(
        &emu.call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("race", "AKIARACE2")),
        )
        .await,
    );
    emu.advance(1000);
    let ours = emu.task(&ours).await;
    assert_eq!(
        ours["response"]["error"]["type"],
        "CLOUD_ACCOUNT_NAME_EXISTS"
    );
    assert_eq!(emu.account(4).await.body["accessKeyId"], "AKIARACE1");
}

#[tokio::test]
async fn an_interposed_delete_takes_the_account_from_under_our_update() {
    let emu = Emu::new(test_config());
    emu.call(
        "POST",
        "/v1/cloud-accounts",
        Some(create_body("shared", "K1")),
    )
    .await;
    emu.advance(1000);
    assert_eq!(emu.account(2).await.body["status"], "active");
    let r = emu
        .admin(
            "POST",
            "/faults",
            json!({"interpose": {"delete": 2}, "when": "before", "method": "PUT", "path_prefix": "/v1/cloud-accounts/2"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["faults"][0]["kind"]["interpose"]["interpose"]["delete"],
        2
    );
    let ours = emu
        .call(
            "PUT",
            "/v1/cloud-accounts/2",
            Some(update_body(Some("renamed"), "K2")),
        )
        .await;
    assert_eq!(ours.status, StatusCode::ACCEPTED);
    let ours = task_id(&ours);
    let state = emu.admin("GET", "/state", json!(null)).await.body;
    let commands: Vec<_> = tasks_of(&state)
        .iter()
        .map(|t| t["command"].clone())
        .collect();
    assert_eq!(
        commands[1..],
        [
            json!("cloudAccountDeleteRequest"),
            json!("cloudAccountUpdateRequest")
        ]
    );
    emu.advance(1000);
    let ours = emu.task(&ours).await;
    assert_eq!(ours["response"]["error"]["type"], "CLOUD_ACCOUNT_NOT_FOUND");
    assert_eq!(emu.account(2).await.status, StatusCode::NOT_FOUND);
    let log = log_entries(&emu.admin("GET", "/requests", json!(null)).await.body);
    let foreign = interposed(&log);
    assert_eq!(
        (
            &foreign[0]["method"],
            &foreign[0]["path"],
            &foreign[0]["status"]
        ),
        (
            &json!("DELETE"),
            &json!("/v1/cloud-accounts/2"),
            &json!(200)
        )
    );

    // Their delete of an account that is gone answers them 404 and queues nothing.
    emu.admin(
        "POST",
        "/faults",
        json!({"interpose": {"delete": 2}, "when": "after"}),
    )
    .await;
    emu.call("GET", "/v1/tasks", None).await;
    let log = log_entries(&emu.admin("GET", "/requests", json!(null)).await.body);
    let last = interposed(&log).pop().unwrap_or_default();
    assert_eq!((&last["status"], last.get("taskId")), (&json!(404), None));
}

#[tokio::test]
async fn an_interposed_update_lands_right_after_ours_and_wins() {
    let emu = Emu::new(test_config());
    emu.call(
        "POST",
        "/v1/cloud-accounts",
        Some(create_body("shared", "K1")),
    )
    .await;
    emu.advance(1000);
    let r = emu
        .admin(
            "POST",
            "/faults",
            json!({"interpose": {"update": 2, "name": "theirs"}, "when": "after", "method": "PUT"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let ours = emu
        .call(
            "PUT",
            "/v1/cloud-accounts/2",
            Some(update_body(Some("ours"), "K1")),
        )
        .await;
    assert_eq!(ours.status, StatusCode::ACCEPTED);
    let state = emu.admin("GET", "/state", json!(null)).await.body;
    let commands: Vec<_> = tasks_of(&state)
        .iter()
        .map(|t| t["command"].clone())
        .collect();
    assert_eq!(
        commands[1..],
        [
            json!("cloudAccountUpdateRequest"),
            json!("cloudAccountUpdateRequest")
        ]
    );
    // One task at a time: ours, then theirs; the account ends as they left it, key kept.
    emu.advance(3000);
    let account = emu.account(2).await.body;
    assert_eq!(
        (
            &account["name"],
            &account["accessKeyId"],
            &account["status"]
        ),
        (&json!("theirs"), &json!("K1"), &json!("active"))
    );
    let log = log_entries(&emu.admin("GET", "/requests", json!(null)).await.body);
    let foreign = interposed(&log);
    assert_eq!(
        (
            &foreign[0]["method"],
            &foreign[0]["path"],
            &foreign[0]["status"]
        ),
        (&json!("PUT"), &json!("/v1/cloud-accounts/2"), &json!(202))
    );
    // Their update of an account that does not exist answers them 404 and queues nothing.
    emu.admin(
        "POST",
        "/faults",
        json!({"interpose": {"update": 42, "name": "x"}, "when": "after"}),
    )
    .await;
    emu.call("GET", "/v1/tasks", None).await;
    let log = log_entries(&emu.admin("GET", "/requests", json!(null)).await.body);
    let last = interposed(&log).pop().unwrap_or_default();
    assert_eq!((&last["status"], last.get("taskId")), (&json!(404), None));
}

#[tokio::test]
async fn bad_interpose_faults_are_refused_with_a_reason() {
    let emu = Emu::new(test_config());
    let create = json!({"name": "x", "access_key_id": "AKIAX", "provider": "AWS"});
    let cases = [
        (
            json!({"interpose": create, "when": "during"}),
            "when must be before or after",
        ),
        (json!({"interpose": create}), "interpose needs when"),
        (
            json!({"interpose": create, "when": 1}),
            "when must be a string",
        ),
        (
            json!({"when": "before", "status": 500}),
            "when applies to interpose faults only",
        ),
        (
            json!({"interpose": {"access_key_id": "K"}, "when": "before"}),
            "interpose.name is required",
        ),
        (
            json!({"interpose": {"name": "x"}, "when": "before"}),
            "interpose.access_key_id is required",
        ),
        (
            json!({"interpose": {"name": " ", "access_key_id": "K"}, "when": "before"}),
            "interpose.name must be a non-empty string",
        ),
        (
            json!({"interpose": {"name": 5, "access_key_id": "K"}, "when": "before"}),
            "interpose.name must be a non-empty string",
        ),
        (
            json!({"interpose": {"name": "x", "access_key_id": "K", "provider": "AZURE"}, "when": "before"}),
            "interpose.provider must be AWS or GCP",
        ),
        (
            json!({"interpose": {"nam": "x", "access_key_id": "K"}, "when": "before"}),
            "unknown field interpose.nam",
        ),
        (
            json!({"interpose": "x", "when": "before"}),
            "interpose must be",
        ),
        (
            json!({"interpose": [], "when": "before"}),
            "interpose must be",
        ),
        (
            json!({"interpose": {"delete": -1}, "when": "before"}),
            "interpose.delete must be an account id",
        ),
        (
            json!({"interpose": {"delete": 1e30}, "when": "before"}),
            "interpose.delete must be an account id",
        ),
        (
            json!({"interpose": {"delete": 2_147_483_648_u64}, "when": "before"}),
            "interpose.delete must be an account id",
        ),
        (
            json!({"interpose": {"delete": "2"}, "when": "before"}),
            "interpose.delete must be an account id",
        ),
        (
            json!({"interpose": {"delete": 2, "name": "x"}, "when": "before"}),
            "interpose.name does not go with interpose.delete",
        ),
        (
            json!({"interpose": {"update": -1, "name": "x"}, "when": "before"}),
            "interpose.update must be an account id",
        ),
        (
            json!({"interpose": {"update": 2, "provider": "AWS"}, "when": "before"}),
            "interpose.provider does not go with interpose.update",
        ),
        (
            json!({"interpose": {"update": 2, "name": ""}, "when": "before"}),
            "interpose.name must be a non-empty string",
        ),
        (
            json!({"interpose": create, "when": "before", "status": 500}),
            "interpose does not go with status",
        ),
        (
            json!({"interpose": create, "when": "before", "drop": "before_commit"}),
            "interpose does not go with drop",
        ),
        (
            json!({"interpose": create, "when": "before", "commit": true}),
            "interpose does not go with commit",
        ),
        (
            json!({"interpose": create, "when": "before", "count": 0}),
            "count must be at least 1",
        ),
        (
            json!({"interpose": create, "when": "before", "count": u64::MAX}),
            "count too large",
        ),
        (
            json!({"interpose": create, "when": "before", "count": 1.5}),
            "count must be a non-negative integer",
        ),
        (
            json!({"interpose": create, "when": "before", "probability": 2}),
            "probability must be",
        ),
    ];
    for (body, reason) in cases {
        let r = emu.admin("POST", "/faults", body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        let msg = r.body["error"].as_str().unwrap_or_default();
        assert!(msg.contains(reason), "{body}: {msg}");
    }
    // Numbers beyond any integer type are refused, not panicked on.
    for raw in [
        r#"{"interpose": {"delete": 340282366920938463463374607431768211456}, "when": "after"}"#,
        r#"{"interpose": {"name": "x", "access_key_id": "K"}, "when": "after", "count": 1e400}"#,
    ] {
        let r = emu.raw("POST", "/admin/faults", Some(raw), false).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{raw}");
    }
    assert_eq!(
        emu.admin("GET", "/state", json!(null)).await.body["faults"],
        json!([])
    );
    // A probability-driven interposition is accepted and fires.
    let r = emu
        .admin(
            "POST",
            "/faults",
            json!({"interpose": {"delete": 1}, "when": "after", "probability": 1.0}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    emu.call("GET", "/v1/tasks", None).await;
    let log = log_entries(&emu.admin("GET", "/requests", json!(null)).await.body);
    assert_eq!(interposed(&log).len(), 1);
}

#[tokio::test]
async fn an_interposed_write_lands_next_to_a_late_commit_when_it_is_applied() {
    let emu = Emu::new(test_config());
    for fault in [
        json!({"status": 504, "commit_after_ms": 200, "method": "POST"}),
        json!({"interpose": {"name": "theirs", "access_key_id": "AKIATHEIRS"}, "when": "before", "method": "POST"}),
    ] {
        emu.admin("POST", "/faults", fault).await;
    }
    let answered = emu
        .call(
            "POST",
            "/v1/cloud-accounts",
            Some(create_body("ours", "AKIAOURS")),
        )
        .await;
    assert_eq!(answered.status.as_u16(), 504);
    let names = |state: &Value| -> Vec<Value> {
        tasks_of(state)
            .iter()
            .map(|t| t["changes"]["name"].clone())
            .collect()
    };
    let state = emu.admin("GET", "/state", json!(null)).await.body;
    assert!(names(&state).is_empty(), "{state}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let state = emu.admin("GET", "/state", json!(null)).await.body;
    assert_eq!(names(&state), vec![json!("theirs"), json!("ours")]);
}
