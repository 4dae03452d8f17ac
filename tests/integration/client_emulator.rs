//! The REST client against the emulator (in-process, on 127.0.0.1:0): the two
//! share no code, so agreement here means both follow the contract.

use std::time::Duration;

use rediscloud_api::{
    Client, ClientConfig, CloudAccountCreateRequest, CloudAccountUpdateRequest, Error, PollPolicy,
    Secret,
};
use rediscloud_emulator::{EmulatorConfig, RunningEmulator, start};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

async fn emulator() -> RunningEmulator {
    start(EmulatorConfig {
        port: 0,
        task_stage_ms: 5,
        activation_ms: 10,
        delete_ms: 5,
        quiet: true,
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator")
}

fn client(emu: &RunningEmulator) -> Client {
    let mut cfg = ClientConfig::new(emu.base_url(), "emulator-access-key", "emulator-secret-key");
    cfg.task_poll = PollPolicy {
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        ..PollPolicy::default()
    };
    cfg.retry.initial_delay = Duration::from_millis(10);
    Client::new(cfg).expect("client")
}

async fn admin(emu: &RunningEmulator, method: reqwest::Method, path: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .request(method, format!("{}{path}", emu.admin_url()))
        .json(&body)
        .send()
        .await
        .expect("admin request");
    assert!(
        resp.status().is_success(),
        "admin {path}: {}",
        resp.status()
    );
    resp.json().await.expect("admin JSON")
}

async fn requests(emu: &RunningEmulator) -> Vec<Value> {
    let log = admin(emu, reqwest::Method::GET, "/requests", Value::Null).await;
    log["requests"].as_array().cloned().unwrap_or_default()
}

fn create_body(name: &str, key: &str) -> CloudAccountCreateRequest {
    CloudAccountCreateRequest {
        name: name.to_owned(),
        provider: Some("AWS".to_owned()),
        access_key_id: key.to_owned(),
        access_secret_key: Secret::new("client-emulator-secret"),
        console_username: "console".to_owned(),
        console_password: Secret::new("client-emulator-password"),
        sign_in_login_url: "https://123456789012.signin.aws.amazon.com/console".to_owned(),
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

#[tokio::test]
async fn full_create_get_update_delete_flow() {
    let emu = emulator().await;
    let c = client(&emu);
    let stop = CancellationToken::new();
    let task = c
        .create_cloud_account(&create_body("flow", "AKIAFLOW0000000000001"))
        .await
        .unwrap();
    assert_eq!(task.status, "received");
    let done = c.wait_for_task(&task.task_id, soon(), &stop).await.unwrap();
    let id = done.resource_id().expect("resourceId");
    let active = c
        .wait_for_cloud_account_active(id, soon(), &stop)
        .await
        .unwrap();
    assert_eq!(active.status.as_deref(), Some("active"));
    assert_eq!(active.name.as_deref(), Some("flow"));
    assert!(
        c.list_cloud_accounts()
            .await
            .unwrap()
            .iter()
            .any(|a| a.id == 1),
        "internal account listed"
    );

    let update = CloudAccountUpdateRequest {
        name: Some("flow-renamed".to_owned()),
        access_key_id: "AKIAFLOW0000000000001".to_owned(),
        access_secret_key: Secret::new("rotated"),
        console_username: "console".to_owned(),
        console_password: Secret::new("rotated-pw"),
        sign_in_login_url: None,
    };
    let task = c.update_cloud_account(id, &update).await.unwrap();
    c.wait_for_task(&task.task_id, soon(), &stop).await.unwrap();
    let after = c
        .wait_for_cloud_account_active(id, soon(), &stop)
        .await
        .unwrap();
    assert_eq!(after.name.as_deref(), Some("flow-renamed"));

    let task = c.delete_cloud_account(id).await.unwrap();
    c.wait_for_task(&task.task_id, soon(), &stop).await.unwrap();
    c.wait_for_cloud_account_gone(id, None, soon(), &stop)
        .await
        .unwrap();
    assert!(matches!(
        c.get_cloud_account(id).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn unknown_account_is_not_found() {
    let emu = emulator().await;
    assert!(matches!(
        client(&emu).get_cloud_account(424242).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_429_is_retried_after_the_servers_retry_after() {
    let emu = emulator().await;
    let c = client(&emu);
    admin(
        &emu,
        reqwest::Method::POST,
        "/faults",
        json!({"status": 429, "count": 1, "retry_after_s": 1}),
    )
    .await;
    let started = std::time::Instant::now();
    c.list_cloud_accounts()
        .await
        .expect("succeeds after the retry");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    let statuses: Vec<u64> = requests(&emu)
        .await
        .iter()
        .filter_map(|r| r["status"].as_u64())
        .collect();
    assert_eq!(statuses, [429, 200]);
}

#[tokio::test]
async fn a_5xx_is_retried_on_get_but_not_on_post() {
    let emu = emulator().await;
    let c = client(&emu);
    admin(
        &emu,
        reqwest::Method::POST,
        "/faults",
        json!({"status": 503, "count": 2, "method": "GET"}),
    )
    .await;
    c.list_cloud_accounts()
        .await
        .expect("GET retried through two 503s");
    admin(
        &emu,
        reqwest::Method::POST,
        "/faults",
        json!({"status": 500, "count": 1, "method": "POST"}),
    )
    .await;
    let err = c
        .create_cloud_account(&create_body("five", "AKIAFIVE0000000000001"))
        .await
        .unwrap_err();
    // A gateway may answer 5xx for a write the backend committed: the outcome is unknown.
    assert!(
        matches!(&err, Error::Ambiguous { method, message, .. } if method == "POST" && message.contains("500")),
        "{err:?}"
    );
    assert!(!err.is_definite());
    let posts = requests(&emu)
        .await
        .iter()
        .filter(|r| r["method"] == "POST")
        .count();
    assert_eq!(posts, 1, "a write is never repeated blindly");
}

#[tokio::test]
async fn a_new_tasks_404_window_is_tolerated() {
    let emu = emulator().await;
    admin(
        &emu,
        reqwest::Method::PUT,
        "/config",
        json!({"task_404_ms": 150}),
    )
    .await;
    let c = client(&emu);
    let task = c
        .create_cloud_account(&create_body("window", "AKIAWIND0000000000001"))
        .await
        .unwrap();
    c.wait_for_task(&task.task_id, soon(), &CancellationToken::new())
        .await
        .expect("404s tolerated");
    // The task is polled through the shared task list, where it is missing during the window:
    // several list polls, and never a 404 taken for an answer.
    let log = requests(&emu).await;
    let list_polls = log.iter().filter(|r| r["path"] == "/v1/tasks").count();
    assert!(list_polls >= 2, "the window was exercised: {log:?}");
}

#[tokio::test]
async fn a_processing_error_names_the_task() {
    let emu = emulator().await;
    admin(
        &emu,
        reqwest::Method::POST,
        "/task-errors",
        json!({"type": "CLOUD_ACCOUNT_INVALID_CREDS", "count": 1}),
    )
    .await;
    let c = client(&emu);
    let task = c
        .create_cloud_account(&create_body("bad", "AKIABADC0000000000001"))
        .await
        .unwrap();
    let err = c
        .wait_for_task(&task.task_id, soon(), &CancellationToken::new())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::TaskFailed(_)));
    for needle in [
        task.task_id.as_str(),
        "cloudAccountCreateRequest",
        "CLOUD_ACCOUNT_INVALID_CREDS",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from: {text}");
    }
}

#[tokio::test]
async fn a_deadline_is_honoured() {
    let emu = emulator().await;
    admin(
        &emu,
        reqwest::Method::PUT,
        "/config",
        json!({"activation_ms": 60_000}),
    )
    .await;
    let c = client(&emu);
    let stop = CancellationToken::new();
    let task = c
        .create_cloud_account(&create_body("slow", "AKIASLOW0000000000001"))
        .await
        .unwrap();
    let id = c
        .wait_for_task(&task.task_id, soon(), &stop)
        .await
        .unwrap()
        .resource_id()
        .unwrap();
    let started = std::time::Instant::now();
    let err = c
        .wait_for_cloud_account_active(id, Instant::now() + Duration::from_millis(300), &stop)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn secrets_never_print_and_never_come_back() {
    let emu = emulator().await;
    let mut body = create_body("secret", "AKIASECR0000000000001");
    body.console_username = "console-user-never-returned".to_owned();
    let debug = format!("{body:?}");
    assert!(
        !debug.contains("client-emulator-secret") && !debug.contains("client-emulator-password"),
        "{debug}"
    );
    let c = client(&emu);
    assert!(!format!("{c:?}").contains("emulator-secret-key"));
    let task = c.create_cloud_account(&body).await.unwrap();
    let stop = CancellationToken::new();
    let id = c
        .wait_for_task(&task.task_id, soon(), &stop)
        .await
        .unwrap()
        .resource_id()
        .unwrap();
    let raw = reqwest::Client::new()
        .get(format!("{}/cloud-accounts/{id}", emu.base_url()))
        .header("x-api-key", "emulator-access-key")
        .header("x-api-secret-key", "emulator-secret-key")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !raw.contains("client-emulator-secret")
            && !raw.contains("client-emulator-password")
            && !raw.contains("console-user-never-returned"),
        "{raw}"
    );
}
