//! Client behaviour tests against small scripted HTTP servers on 127.0.0.1:0.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;

const API_KEY: &str = "acct-key-AAAA1111";
const SECRET_KEY: &str = "user-secret-BBBB2222";
const AWS_SECRET: &str = "aws-secret-CCCC3333";
const CONSOLE_PASSWORD: &str = "console-pw-DDDD4444";
const UA: &str = "terraform-provider-rediscloud/9.9.9 (+https://example.test)";

// ---------- scripted server ----------

#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
    at: std::time::Instant,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// The API's own "no such entity" answer; an empty 404 proves nothing.
const NOT_FOUND_BODY: &str = r#"{"error":{"type":"CLOUD_ACCOUNT_NOT_FOUND","status":"404 NOT_FOUND","description":"Cloud account was not found"}}"#;

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

fn reply(status: u16, body: impl Into<String>) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.into(),
        delay: Duration::ZERO,
    }
}

impl Reply {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

type Responder = Box<dyn Fn(&Recorded) -> Reply + Send + Sync>;

struct ServerState {
    responder: Responder,
    log: Mutex<Vec<Recorded>>,
}

struct TestServer {
    base_url: String,
    state: Arc<ServerState>,
}

impl TestServer {
    async fn start(responder: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        let state = Arc::new(ServerState {
            responder: Box::new(responder),
            log: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TestServer {
            base_url: format!("http://{addr}/v1/"),
            state,
        }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.state.log.lock().unwrap().clone()
    }

    fn count(&self, method: &str, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }
}

async fn handle(
    State(state): State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rec = Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        headers,
        body: body.to_vec(),
        at: std::time::Instant::now(),
    };
    state.log.lock().unwrap().push(rec.clone());
    let r = (state.responder)(&rec);
    if !r.delay.is_zero() {
        tokio::time::sleep(r.delay).await;
    }
    let mut resp = (StatusCode::from_u16(r.status).unwrap(), r.body).into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    for (k, v) in r.headers {
        resp.headers_mut()
            .insert(k, HeaderValue::from_str(&v).unwrap());
    }
    resp
}

// ---------- fixtures ----------

fn config(base_url: &str) -> ClientConfig {
    let mut cfg = ClientConfig::new(base_url, Secret::new(API_KEY), Secret::new(SECRET_KEY));
    cfg.user_agent = UA.to_owned();
    cfg.retry = RetryPolicy {
        attempts: 3,
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        jitter: true,
    };
    cfg.task_poll = PollPolicy {
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        multiplier: 1.5,
        jitter: true,
        not_found_limit: 3,
        not_found_grace: Duration::from_secs(5),
        progress_interval: DEFAULT_PROGRESS_INTERVAL,
        visibility_window: DEFAULT_VISIBILITY_WINDOW,
    };
    cfg.http_timeout = Duration::from_secs(5);
    cfg
}

fn client(server: &TestServer) -> Client {
    Client::new(config(&server.base_url)).unwrap()
}

fn task(id: &str, cmd: &str, status: &str) -> String {
    json!({"taskId": id, "commandType": cmd, "status": status,
           "description": "Task request received and is being queued for processing.",
           "timestamp": "2024-01-01T00:00:00.1Z",
           "links": [{"rel": "task", "href": format!("https://x/v1/tasks/{id}"), "type": "GET"}]})
    .to_string()
}

fn task_done(id: &str, cmd: &str, resource_id: i64) -> String {
    json!({"taskId": id, "commandType": cmd, "status": "processing-completed",
           "description": "Request processing completed successfully",
           "timestamp": "2024-01-01T00:00:01Z",
           "response": {"resourceId": resource_id}, "links": []})
    .to_string()
}

fn account(id: i64, status: &str) -> String {
    json!({"id": id, "name": "acct", "provider": "AWS", "status": status,
           "accessKeyId": "AKIAEXAMPLE", "links": []})
    .to_string()
}

fn create_request() -> CloudAccountCreateRequest {
    CloudAccountCreateRequest {
        name: "acct".into(),
        provider: None,
        access_key_id: "AKIAEXAMPLE".into(),
        access_secret_key: Secret::new(AWS_SECRET),
        console_username: "me@example.com".into(),
        console_password: Secret::new(CONSOLE_PASSWORD),
        sign_in_login_url: "https://123.signin.aws.amazon.com/console".into(),
    }
}

fn update_request() -> CloudAccountUpdateRequest {
    CloudAccountUpdateRequest {
        name: Some("renamed".into()),
        access_key_id: "AKIAEXAMPLE".into(),
        access_secret_key: Secret::new(AWS_SECRET),
        console_username: "me@example.com".into(),
        console_password: Secret::new(CONSOLE_PASSWORD),
        sign_in_login_url: None,
    }
}

fn soon(ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(ms)
}

fn far() -> Instant {
    soon(10_000)
}

fn assert_no_secrets(text: &str) {
    for s in [API_KEY, SECRET_KEY, AWS_SECRET, CONSOLE_PASSWORD] {
        assert!(!text.contains(s), "secret leaked into: {text}");
    }
}

// ---------- tests ----------

/// Compile-time check: the provider drives these futures from multi-threaded gRPC handlers.
fn _futures_are_send(c: &Client, cancel: &CancellationToken) {
    fn is_send<T: Send>(_: &T) {}
    let c = c.clone();
    is_send(&c);
    is_send(&c.list_cloud_accounts());
    is_send(&c.create_cloud_account(&create_request()));
    is_send(&c.update_cloud_account(1, &update_request()));
    is_send(&c.delete_cloud_account(1));
    is_send(&c.wait_for_task("t", far(), cancel));
    is_send(&c.wait_for_cloud_account_active(1, far(), cancel));
    is_send(&c.wait_for_new_cloud_account_active(1, Instant::now(), far(), cancel));
    is_send(&c.wait_for_cloud_account_gone(1, None, far(), cancel));
}

#[tokio::test]
async fn create_get_update_delete_flow_with_headers_and_bodies() {
    let task_polls = Arc::new(AtomicUsize::new(0));
    let account_polls = Arc::new(AtomicUsize::new(0));
    let deleted = Arc::new(AtomicBool::new(false));
    let (tp, ap, del) = (task_polls.clone(), account_polls.clone(), deleted.clone());
    let server = TestServer::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/v1/cloud-accounts") => reply(
            202,
            task("t-create", "cloudAccountCreateRequest", "received"),
        ),
        ("GET", "/v1/tasks/t-create") => {
            if tp.fetch_add(1, Ordering::SeqCst) == 0 {
                reply(
                    200,
                    task("t-create", "cloudAccountCreateRequest", "processing-in-progress"),
                )
            } else {
                reply(200, task_done("t-create", "cloudAccountCreateRequest", 42))
            }
        }
        ("GET", "/v1/cloud-accounts/42") => {
            if del.load(Ordering::SeqCst) {
                return reply(404, NOT_FOUND_BODY);
            }
            let status = match ap.fetch_add(1, Ordering::SeqCst) {
                0 => "draft",
                1 => "pending",
                _ => "active",
            };
            reply(200, account(42, status))
        }
        ("PUT", "/v1/cloud-accounts/42") => reply(
            202,
            task("t-update", "cloudAccountUpdateRequest", "received"),
        ),
        ("GET", "/v1/tasks/t-update") => {
            reply(200, task_done("t-update", "cloudAccountUpdateRequest", 42))
        }
        ("DELETE", "/v1/cloud-accounts/42") => {
            del.store(true, Ordering::SeqCst);
            reply(
                200,
                task("t-delete", "cloudAccountDeleteRequest", "received"),
            )
        }
        ("GET", "/v1/tasks/t-delete") => {
            reply(200, task_done("t-delete", "cloudAccountDeleteRequest", 42))
        }
        // The shared watcher polls the lists; a masked key is read by ID before it is trusted.
        ("GET", "/v1/tasks") => {
            let create = if tp.fetch_add(1, Ordering::SeqCst) == 0 {
                task("t-create", "cloudAccountCreateRequest", "processing-in-progress")
            } else {
                task_done("t-create", "cloudAccountCreateRequest", 42)
            };
            let tasks: Vec<Value> = [
                create,
                task_done("t-update", "cloudAccountUpdateRequest", 42),
                task_done("t-delete", "cloudAccountDeleteRequest", 42),
            ]
            .iter()
            .map(|t| serde_json::from_str(t).unwrap())
            .collect();
            reply(200, json!({"tasks": tasks}).to_string())
        }
        ("GET", "/v1/cloud-accounts") => {
            let mut accounts = vec![
                json!({"id": 1, "name": "Redis Internal Resources", "provider": "AWS", "status": "active", "links": []}),
            ];
            if !del.load(Ordering::SeqCst) {
                let status = match ap.fetch_add(1, Ordering::SeqCst) {
                    0 => "draft",
                    1 => "pending",
                    _ => "active",
                };
                accounts.push(json!({"id": 42, "name": "acct", "provider": "AWS", "status": status, "accessKeyId": "A***E"}));
            }
            reply(
                200,
                json!({"accountId": 40131, "cloudAccounts": accounts, "links": []}).to_string(),
            )
        }
        _ => reply(418, "unexpected"),
    })
    .await;
    let c = client(&server);
    let cancel = CancellationToken::new();

    let created = c.create_cloud_account(&create_request()).await.unwrap();
    assert_eq!(created.task_status(), TaskStatus::Received);
    let done = c
        .wait_for_task(&created.task_id, far(), &cancel)
        .await
        .unwrap();
    assert_eq!(done.resource_id(), Some(42));
    let active = c
        .wait_for_cloud_account_active(42, far(), &cancel)
        .await
        .unwrap();
    assert_eq!(active.status.as_deref(), Some("active"));
    // draft, pending and active from the list, then the masked entry read by ID.
    assert_eq!(account_polls.load(Ordering::SeqCst), 4);
    assert_eq!(server.count("GET", "/v1/cloud-accounts/42"), 1);

    let listed = c.list_cloud_accounts().await.unwrap();
    assert_eq!(listed.iter().map(|a| a.id).collect::<Vec<_>>(), [1, 42]);
    assert_eq!(c.get_cloud_account(42).await.unwrap().id, 42);

    let updated = c.update_cloud_account(42, &update_request()).await.unwrap();
    c.wait_for_task(&updated.task_id, far(), &cancel)
        .await
        .unwrap();

    let del_task = c.delete_cloud_account(42).await.unwrap();
    c.wait_for_task(&del_task.task_id, far(), &cancel)
        .await
        .unwrap();
    c.wait_for_cloud_account_gone(42, None, far(), &cancel)
        .await
        .unwrap();
    assert!(deleted.load(Ordering::SeqCst));

    let reqs = server.requests();
    assert!(reqs.len() >= 12);
    for r in &reqs {
        assert_eq!(
            r.header("x-api-key"),
            Some(API_KEY),
            "{} {}",
            r.method,
            r.path
        );
        assert_eq!(r.header("x-api-secret-key"), Some(SECRET_KEY));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("accept"), Some("application/json"));
        assert_eq!(r.header("user-agent"), Some(UA));
    }
    let post = reqs.iter().find(|r| r.method == "POST").unwrap().json();
    assert_eq!(
        post,
        json!({"name": "acct", "accessKeyId": "AKIAEXAMPLE", "accessSecretKey": AWS_SECRET,
               "consoleUsername": "me@example.com", "consolePassword": CONSOLE_PASSWORD,
               "signInLoginUrl": "https://123.signin.aws.amazon.com/console"})
    );
    let put = reqs.iter().find(|r| r.method == "PUT").unwrap().json();
    assert_eq!(
        put,
        json!({"name": "renamed", "accessKeyId": "AKIAEXAMPLE", "accessSecretKey": AWS_SECRET,
               "consoleUsername": "me@example.com", "consolePassword": CONSOLE_PASSWORD})
    );
    assert!(
        reqs.iter()
            .all(|r| r.method != "DELETE" || r.body.is_empty())
    );
}

#[tokio::test]
async fn not_found_is_reported_without_retrying() {
    let server = TestServer::start(|_| reply(404, NOT_FOUND_BODY)).await;
    let err = client(&server).get_cloud_account(7).await.unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { resource, .. } if resource == "cloud account 7"),
        "{err:?}"
    );
    assert!(err.is_not_found());
    assert_eq!(server.count("GET", "/v1/cloud-accounts/7"), 1);
}

#[tokio::test]
async fn a_404_that_names_no_missing_entity_proves_nothing_and_names_the_url() {
    // What a base URL without `/v1` (or a proxy) answers: not the API's own error.
    let server = TestServer::start(|r| match r.path.as_str() {
        "/v1/cloud-accounts" => reply(
            404,
            r#"{"status":404,"error":"Not Found","path":"/cloud-accounts"}"#,
        ),
        _ => reply(404, ""),
    })
    .await;
    let c = client(&server);
    let err = c.get_cloud_account(7).await.unwrap_err();
    assert!(!err.is_not_found(), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("GET http://127.0.0.1:"), "{text}");
    assert!(
        text.contains("/v1/cloud-accounts/7 answered HTTP 404"),
        "{text}"
    );
    assert!(text.contains("end in `/v1`"), "{text}");
    // Nor does a list that fails: the account is not proven gone.
    let err = c.gone(7, err, None).await.unwrap_err();
    assert!(matches!(err, Error::UnrecognisedNotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn every_http_error_names_the_full_url_but_never_credentials_in_it() {
    let server = TestServer::start(|r| match (r.method.as_str(), r.path.as_str()) {
        (_, "/v1/cloud-accounts/400") => reply(400, r#"{"description":"bad input"}"#),
        (_, "/v1/cloud-accounts/401") => reply(401, "who are you"),
        (_, "/v1/cloud-accounts/403") => reply(403, "forbidden"),
        (_, "/v1/cloud-accounts/404") => reply(404, NOT_FOUND_BODY),
        (_, "/v1/cloud-accounts/405") => reply(404, ""),
        (_, "/v1/cloud-accounts/409") => reply(409, "name exists"),
        (_, "/v1/cloud-accounts/412") => reply(412, ""),
        (_, "/v1/cloud-accounts/429") => reply(429, "slow down"),
        (_, "/v1/cloud-accounts/302") => reply(302, ""),
        ("GET", "/v1/cloud-accounts/500") => reply(500, "broken"),
        (_, "/v1/cloud-accounts/500") => reply(500, "broken"),
        _ => reply(200, "not json"),
    })
    .await;
    // User information in the base URL is a credential: it must never be shown.
    let base = server
        .base_url
        .replace("http://", "http://apiuser:hunter2-FFFF6666@");
    let c = Client::new(config(&base)).unwrap();
    let shown = server.base_url.trim_end_matches('/').to_owned();
    for id in [400, 401, 403, 404, 405, 409, 412, 429, 302, 500, 1] {
        let err = c.get_cloud_account(id).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("GET {shown}/cloud-accounts/{id}")),
            "{id}: {text}"
        );
        assert!(
            !text.contains("hunter2") && !text.contains("apiuser"),
            "{text}"
        );
    }
    for err in [
        // A 5xx and an undecodable 2xx to a write: outcome unknown.
        c.delete_cloud_account(500).await.unwrap_err(),
        c.delete_cloud_account(1).await.unwrap_err(),
        c.update_cloud_account(409, &update_request())
            .await
            .unwrap_err(),
    ] {
        let text = err.to_string();
        assert!(text.contains(&format!("{shown}/cloud-accounts/")), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
    // Nothing listening: the transport error names where it tried.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = Client::new(config(&format!("http://{addr}/v1"))).unwrap();
    for err in [
        c.get_cloud_account(7).await.unwrap_err(),
        c.create_cloud_account(&create_request()).await.unwrap_err(),
    ] {
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("http://{addr}/v1/cloud-accounts")),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_404_on_a_collection_is_a_wrong_url_even_with_a_typed_error() {
    // A base URL pointing somewhere else in the API (here below a subscription) may answer the
    // collection with the API's own typed 404: the collection itself always exists at a right URL.
    let server = TestServer::start(|_| {
        reply(
            404,
            r#"{"error":{"type":"ENTITY_NOT_FOUND","status":"404 NOT_FOUND","description":"Entity was not found"}}"#,
        )
    })
    .await;
    let c = client(&server);
    let shown = server.base_url.trim_end_matches('/').to_owned();
    for err in [
        c.list_cloud_accounts().await.unwrap_err(),
        c.create_cloud_account(&create_request()).await.unwrap_err(),
        c.list_tasks().await.unwrap_err(),
    ] {
        assert!(!err.is_not_found(), "{err:?}");
        assert!(matches!(err, Error::UnrecognisedNotFound { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(&format!("{shown}/")), "{text}");
        assert!(
            text.contains("does `url` / `REDISCLOUD_URL` end in `/v1`?"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn status_codes_map_to_error_kinds() {
    let server = TestServer::start(|r| match r.path.as_str() {
        "/v1/cloud-accounts/400" => reply(400, r#"{"description":"bad input"}"#),
        "/v1/cloud-accounts/403" => reply(403, "forbidden"),
        "/v1/cloud-accounts/409" => reply(409, "name exists"),
        "/v1/cloud-accounts/412" => reply(412, ""),
        "/v1/cloud-accounts/422" => reply(422, "nope"),
        "/v1/cloud-accounts/302" => reply(302, "").header("location", "https://elsewhere.test/"),
        _ => reply(200, "not json"),
    })
    .await;
    let c = client(&server);
    let get = |id| {
        let c = c.clone();
        async move { c.get_cloud_account(id).await.unwrap_err() }
    };
    assert!(
        matches!(get(400).await, Error::Validation { status: 400, message } if message.contains("bad input"))
    );
    assert!(matches!(get(403).await, Error::Forbidden { .. }));
    assert!(matches!(get(409).await, Error::Conflict { .. }));
    assert!(matches!(
        get(412).await,
        Error::Validation { status: 412, .. }
    ));
    assert!(matches!(
        get(422).await,
        Error::Validation { status: 422, .. }
    ));
    assert!(matches!(get(302).await, Error::Server { status: 302, .. }));
    // A 2xx that is not JSON: a decode error on reads, an unknown outcome on writes.
    assert!(matches!(get(1).await, Error::Decode { .. }));
    assert!(matches!(
        c.delete_cloud_account(1).await.unwrap_err(),
        Error::Ambiguous { method, .. } if method == "DELETE"
    ));
    assert_eq!(server.requests().len(), 8, "none of these is retried");
}

#[tokio::test]
async fn rate_limited_write_is_retried_after_the_server_delay() {
    let posts = Arc::new(AtomicUsize::new(0));
    let p = posts.clone();
    let server = TestServer::start(move |_| {
        if p.fetch_add(1, Ordering::SeqCst) == 0 {
            reply(429, "Too Many Requests").header("x-rate-limit-retry-after-seconds", "0.25")
        } else {
            reply(202, task("t1", "cloudAccountCreateRequest", "received"))
        }
    })
    .await;
    let started = Instant::now();
    let t = client(&server)
        .create_cloud_account(&create_request())
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(t.task_id, "t1");
    assert_eq!(posts.load(Ordering::SeqCst), 2);
    // The retry backoff is at most 20 ms here, so only the header explains this wait.
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    let reqs = server.requests();
    assert!(reqs[1].at.duration_since(reqs[0].at) >= Duration::from_millis(250));
}

#[tokio::test]
async fn rate_limit_exhausting_attempts_is_reported() {
    let server = TestServer::start(|_| reply(429, r#"{"message":"slow down"}"#)).await;
    let err = client(&server).get_cloud_account(3).await.unwrap_err();
    assert!(
        matches!(&err, Error::RateLimited { retry_after: None, message } if message.contains("slow down")),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn server_errors_are_retried_on_get_but_not_on_writes() {
    let gets = Arc::new(AtomicUsize::new(0));
    let g = gets.clone();
    let server = TestServer::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/v1/cloud-accounts/5") => {
            if g.fetch_add(1, Ordering::SeqCst) < 2 {
                reply(503, "busy")
            } else {
                reply(200, account(5, "active"))
            }
        }
        ("GET", _) => reply(500, "always broken"),
        _ => reply(500, r#"{"error":"GENERAL_ERROR"}"#),
    })
    .await;
    let c = client(&server);
    assert_eq!(c.get_cloud_account(5).await.unwrap().id, 5);
    assert_eq!(server.count("GET", "/v1/cloud-accounts/5"), 3);

    let err = c.get_cloud_account(6).await.unwrap_err();
    assert!(matches!(err, Error::Server { status: 500, .. }), "{err:?}");
    assert_eq!(server.count("GET", "/v1/cloud-accounts/6"), 3);

    // A 5xx to a write is ambiguous: a gateway may answer so for a write the backend committed.
    let err = c.create_cloud_account(&create_request()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Ambiguous { method, message, .. } if method == "POST" && message.contains("GENERAL_ERROR") && message.contains("500")),
        "{err:?}"
    );
    assert_eq!(server.count("POST", "/v1/cloud-accounts"), 1);
    let err = c
        .update_cloud_account(6, &update_request())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Ambiguous { .. }), "{err:?}");
    assert_eq!(server.count("PUT", "/v1/cloud-accounts/6"), 1);
}

#[test]
fn retry_delays_never_exceed_max_delay_even_with_jitter() {
    let policy = RetryPolicy {
        attempts: 200,
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
        jitter: true,
    };
    let delays: Vec<Duration> = super::http::backoff(&policy).collect();
    assert_eq!(delays.len(), 200);
    let longest = delays.iter().max().copied();
    assert!(
        longest <= Some(policy.max_delay),
        "a retry waited {longest:?}, more than max_delay {:?}",
        policy.max_delay
    );
    // Below the cap the jitter still spreads the delays: the first lies in [initial, 2 x initial).
    assert!(delays[0] >= policy.initial_delay && delays[0] < 2 * policy.initial_delay);
}

/// Accepts connections, reads each request in full, then closes without answering.
async fn hang_up_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let acc = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            acc.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let _ = sock.shutdown().await;
            });
        }
    });
    (format!("http://{addr}/v1"), accepted)
}

#[tokio::test]
async fn connection_dropped_after_a_write_was_sent_is_ambiguous() {
    let (base, accepted) = hang_up_server().await;
    let c = Client::new(config(&base)).unwrap();
    let err = c.create_cloud_account(&create_request()).await.unwrap_err();
    match &err {
        Error::Ambiguous { method, url, .. } => {
            assert_eq!(method, "POST");
            assert_eq!(url, &format!("{base}/cloud-accounts"));
        }
        other => panic!("expected Ambiguous, got {other:?}"),
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "a sent write is never retried"
    );
    assert_no_secrets(&format!("{err} {err:?}"));

    // The same failure on a read is retried and then reported as a transport error.
    let err = c.get_cloud_account(1).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn refused_connection_is_a_transport_error_even_for_writes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = Client::new(config(&format!("http://{addr}/v1"))).unwrap();
    let err = c.create_cloud_account(&create_request()).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
}

#[tokio::test]
async fn new_task_answering_404_briefly_is_tolerated() {
    let polls = Arc::new(AtomicUsize::new(0));
    let p = polls.clone();
    let server = TestServer::start(move |r| match r.path.as_str() {
        // A new task is missing from the list for three polls.
        "/v1/tasks" => {
            let tasks = if p.fetch_add(1, Ordering::SeqCst) < 3 {
                json!([])
            } else {
                json!([serde_json::from_str::<Value>(&task_done(
                    "fresh",
                    "cloudAccountCreateRequest",
                    9
                ))
                .unwrap()])
            };
            reply(200, json!({"tasks": tasks}).to_string())
        }
        _ => reply(404, NOT_FOUND_BODY),
    })
    .await;
    let c = client(&server);
    let cancel = CancellationToken::new();
    let t = c.wait_for_task("fresh", far(), &cancel).await.unwrap();
    assert_eq!(t.resource_id(), Some(9));
    assert_eq!(polls.load(Ordering::SeqCst), 4);
    assert_eq!(
        server.count("GET", "/v1/tasks/fresh"),
        0,
        "served from the list"
    );

    // Missing past the limit (3), the task is asked for by ID, once, and reported missing.
    let err = c.wait_for_task("ghost", far(), &cancel).await.unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { resource, .. } if resource == "task ghost"),
        "{err:?}"
    );
    assert_eq!(server.count("GET", "/v1/tasks/ghost"), 1);
}

#[tokio::test]
async fn task_not_found_grace_is_bounded_in_time() {
    // The list never shows the task, nor does a read by ID.
    let server = TestServer::start(|r| match r.path.as_str() {
        "/v1/tasks" => reply(200, r#"{"tasks":[]}"#),
        _ => reply(404, NOT_FOUND_BODY),
    })
    .await;
    let mut cfg = config(&server.base_url);
    cfg.task_poll.not_found_limit = 1000;
    cfg.task_poll.not_found_grace = Duration::from_millis(100);
    let c = Client::new(cfg).unwrap();
    let started = Instant::now();
    let err = c
        .wait_for_task("ghost", far(), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn processing_error_names_the_task_and_every_detail() {
    let id = "5b6c2a7e-7d7e-4a3f-9c3e-1a2b3c4d5e6f";
    let server = TestServer::start(move |_| {
        reply(
            200,
            json!({"taskId": id, "commandType": "cloudAccountCreateRequest",
                   "status": "processing-error",
                   "description": "Task request failed during processing. See error information for failure details.",
                   "timestamp": "2024-01-01T00:00:00Z",
                   "response": {"error": {"type": "CLOUD_ACCOUNT_INVALID_CREDS",
                                          "status": "400 BAD_REQUEST",
                                          "description": "Cloud account credentials are invalid"},
                                "additionalInfo": "aws-auth-failed"}})
            .to_string(),
        )
    })
    .await;
    let err = client(&server)
        .wait_for_task(id, far(), &CancellationToken::new())
        .await
        .unwrap_err();
    let failure = err.task_failure().expect("a task failure").clone();
    assert_eq!(failure.task_id, id);
    assert_eq!(
        failure.error_type.as_deref(),
        Some("CLOUD_ACCOUNT_INVALID_CREDS")
    );
    let text = err.to_string();
    for part in [
        id,
        "cloudAccountCreateRequest",
        "processing-error",
        "CLOUD_ACCOUNT_INVALID_CREDS",
        "400 BAD_REQUEST",
        "Cloud account credentials are invalid",
        "aws-auth-failed",
    ] {
        assert!(text.contains(part), "{part} missing from: {text}");
    }
}

#[tokio::test]
async fn task_wait_honours_the_deadline() {
    let server = TestServer::start(|_| {
        reply(
            200,
            task(
                "slow",
                "cloudAccountUpdateRequest",
                "processing-in-progress",
            ),
        )
    })
    .await;
    let started = Instant::now();
    let err = client(&server)
        .wait_for_task("slow", soon(1500), &CancellationToken::new())
        .await
        .unwrap_err();
    let took = started.elapsed();
    // The outcome and its order, not the scheduler's punctuality: the wait ends with a timeout,
    // never before the deadline, and within the last look's grace after it (plus what a loaded
    // machine adds). The timeout names the status its polls saw; on a machine too loaded to send
    // even one poll in time, it says that nothing was sent, never a status it did not see.
    match &err {
        Error::Timeout {
            waiting_for,
            last_status: Some(s),
        } => {
            assert_eq!(waiting_for, "task slow to finish");
            assert_eq!(s, "processing-in-progress");
        }
        Error::Timeout {
            waiting_for,
            last_status: None,
        } => assert!(waiting_for.ends_with("to be sent"), "{err:?}"),
        other => panic!("not a timeout: {other:?}"),
    }
    assert!(
        took >= Duration::from_millis(1490)
            && took
                < Duration::from_millis(1500) + poll::POST_DEADLINE_GRACE + Duration::from_secs(3),
        "{took:?}"
    );
}

/// A client whose polls are 300 ms apart, then 4 s apart: the second poll would land 3.3 s
/// past a 1 s deadline.
fn sparse_polling_client(server: &TestServer) -> Client {
    let mut cfg = config(&server.base_url);
    cfg.task_poll.initial_delay = Duration::from_millis(300);
    cfg.task_poll.max_delay = Duration::from_secs(4);
    cfg.task_poll.multiplier = 20.0;
    cfg.task_poll.jitter = false;
    Client::new(cfg).unwrap()
}

#[tokio::test]
async fn the_last_poll_of_a_wait_lands_on_its_deadline() {
    let started = std::time::Instant::now();
    // Active from 600 ms on: after the first poll, before the deadline.
    let server = TestServer::start(move |_| {
        let status = if started.elapsed() < Duration::from_millis(600) {
            "pending"
        } else {
            "active"
        };
        reply(
            200,
            format!(r#"{{"cloudAccounts":[{}]}}"#, account(3, status)),
        )
    })
    .await;
    let c = sparse_polling_client(&server);
    let deadline = Instant::now() + Duration::from_secs(1);
    let got = c
        .wait_for_cloud_account_active(3, deadline, &CancellationToken::new())
        .await;
    let late = Instant::now().saturating_duration_since(deadline);
    let status = got.map(|a| a.status);
    assert!(
        matches!(&status, Ok(Some(s)) if s == "active"),
        "{status:?}"
    );
    assert!(
        late < Duration::from_millis(400),
        "returned {late:?} after the deadline"
    );
}

#[tokio::test]
async fn a_poll_in_flight_at_the_deadline_is_its_last_look() {
    let polls = Arc::new(AtomicUsize::new(0));
    let p = polls.clone();
    // The second poll (at 900 ms) answers 300 ms late, after the 1 s deadline: active.
    let server = TestServer::start(move |_| {
        let (status, delay) = match p.fetch_add(1, Ordering::SeqCst) {
            0 => ("pending", 0),
            1 => ("active", 300),
            _ => ("active", 0),
        };
        reply(
            200,
            format!(r#"{{"cloudAccounts":[{}]}}"#, account(3, status)),
        )
        .delayed(Duration::from_millis(delay))
    })
    .await;
    let mut cfg = config(&server.base_url);
    cfg.task_poll.initial_delay = Duration::from_millis(300);
    cfg.task_poll.max_delay = Duration::from_secs(4);
    cfg.task_poll.multiplier = 2.0;
    cfg.task_poll.jitter = false;
    let c = Client::new(cfg).unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    let got = c
        .bounded(deadline, &CancellationToken::new())
        .wait_for_cloud_account_active(3, deadline, &CancellationToken::new())
        .await;
    let late = Instant::now().saturating_duration_since(deadline);
    let status = got.map(|a| a.status);
    assert!(
        matches!(&status, Ok(Some(s)) if s == "active"),
        "{status:?}"
    );
    assert!(
        late < Duration::from_millis(600),
        "returned {late:?} after the deadline"
    );
}

#[tokio::test]
async fn a_wait_that_runs_out_looks_once_at_its_deadline_then_stops() {
    let server = TestServer::start(move |_| {
        reply(
            200,
            format!(r#"{{"cloudAccounts":[{}]}}"#, account(3, "pending")),
        )
    })
    .await;
    let c = sparse_polling_client(&server);
    let start = std::time::Instant::now();
    let deadline = Instant::now() + Duration::from_secs(1);
    let err = c
        .wait_for_cloud_account_active(3, deadline, &CancellationToken::new())
        .await
        .unwrap_err();
    let late = Instant::now().saturating_duration_since(deadline);
    assert!(
        matches!(&err, Error::Timeout { last_status: Some(s), .. } if s == "pending"),
        "{err:?}"
    );
    assert!(
        late < Duration::from_millis(400),
        "returned {late:?} after the deadline"
    );
    // Three looks: one at once, one after the first delay (300 ms), and one at the deadline
    // (not 6.3 s past it, nor none).
    let looks: Vec<Duration> = server
        .requests()
        .iter()
        .map(|r| r.at.duration_since(start))
        .collect();
    assert_eq!(looks.len(), 3, "{looks:?}");
    assert!(looks[0] < Duration::from_millis(250), "{looks:?}");
    assert!(looks[2] >= Duration::from_millis(950), "{looks:?}");
}

/// Log lines as the provider writes them (hclog JSON), captured while `f` runs on this thread.
async fn logged<T>(
    level: tracing::Level,
    f: impl std::future::Future<Output = T>,
) -> (T, Vec<serde_json::Map<String, Value>>) {
    use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
    // tracing-core registers a call site (on its first event) with only the registering
    // thread's subscriber while just one subscriber exists: another test's thread would then
    // register a call site as "never" while this one is that subscriber. A second, idle
    // subscriber alive for the whole run makes every registration ask all of them.
    static IDLE: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    IDLE.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    use tfplugin::wire::logging::{CapturedLog, HclogLayer, LogOptions, targets_for};
    const PROVIDER_LOG: LogOptions = LogOptions {
        level_var: "TF_LOG_PROVIDER_REDISCLOUD",
        crates: &["terraform_provider_rediscloud", "rediscloud_api"],
    };
    let sink = CapturedLog::default();
    let subscriber = tracing_subscriber::registry().with(
        HclogLayer::new(sink.clone(), PROVIDER_LOG).with_filter(targets_for(&PROVIDER_LOG, level)),
    );
    let out = {
        let _guard = tracing::subscriber::set_default(subscriber);
        f.await
    };
    let lines = sink.lines();
    (out, lines)
}

fn messages<'a>(lines: &'a [serde_json::Map<String, Value>], level: &str) -> Vec<&'a str> {
    lines
        .iter()
        .filter(|l| l["@level"] == level)
        .filter_map(|l| l["@message"].as_str())
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_long_wait_says_at_info_what_it_waits_for_its_status_and_time_left() {
    let server = TestServer::start(|_| {
        reply(
            200,
            format!(r#"{{"cloudAccounts":[{}]}}"#, account(3, "pending")),
        )
    })
    .await;
    let mut cfg = config(&server.base_url);
    cfg.task_poll.jitter = false;
    cfg.task_poll.progress_interval = Duration::from_millis(250);
    let c = Client::new(cfg).unwrap();
    let deadline = Instant::now() + Duration::from_millis(1100);
    let (got, lines) = logged(
        tracing::Level::INFO,
        c.wait_for_cloud_account_active(3, deadline, &CancellationToken::new()),
    )
    .await;
    assert!(matches!(got, Err(Error::Timeout { .. })), "{got:?}");
    let progress: Vec<&str> = messages(&lines, "info")
        .into_iter()
        .filter(|m| m.starts_with("still waiting"))
        .collect();
    // At 250, 500, 750 and 1000 ms: at most one per interval, and not fewer.
    assert!((3..=4).contains(&progress.len()), "{progress:#?}");
    let shape = regex::Regex::new(
        r"^still waiting for cloud account 3 to become active: status pending after (\d+h)?(\d+m)?\d+(ms|s); deadline in (\d+h)?(\d+m)?\d+(ms|s)$",
    )
    .unwrap();
    for line in &progress {
        assert!(shape.is_match(line), "{line}");
    }
    // The first one after a whole interval, not at the start.
    let first_after: u64 = regex::Regex::new(r"after (\d+)ms")
        .unwrap()
        .captures(progress[0])
        .map_or(1000, |c| c[1].parse().unwrap());
    assert!(first_after >= 250, "{}", progress[0]);
}

#[tokio::test(flavor = "current_thread")]
async fn polls_are_trace_lines_and_status_changes_say_the_time_left() {
    let polls = Arc::new(AtomicUsize::new(0));
    let p = polls.clone();
    let server = TestServer::start(move |r| match r.path.as_str() {
        "/v1/tasks" => {
            let status = if p.fetch_add(1, Ordering::SeqCst) < 2 {
                "processing-in-progress"
            } else {
                "processing-completed"
            };
            reply(
                200,
                format!(
                    r#"{{"tasks":[{}]}}"#,
                    task("t-42", "cloudAccountUpdateRequest", status)
                ),
            )
        }
        _ => reply(404, ""),
    })
    .await;
    let c = client(&server);
    let (got, lines) = logged(
        tracing::Level::TRACE,
        c.wait_for_task("t-42", far(), &CancellationToken::new()),
    )
    .await;
    got.unwrap();
    // Each successful poll of the shared list is a TRACE line naming the full URL; DEBUG has none.
    let url = format!("{}tasks", server.base_url);
    let is_poll = |m: &&str| {
        m.starts_with(&format!("GET {url}: HTTP 200 in ")) && m.ends_with(" (attempt 1)")
    };
    assert!(messages(&lines, "trace").iter().any(is_poll), "{lines:#?}");
    assert!(!messages(&lines, "debug").iter().any(is_poll), "{lines:#?}");
    // Status changes are INFO and say how long is left; an unchanged status is TRACE.
    let info = messages(&lines, "info");
    let said = |m: &str, start: &str| {
        m.starts_with(start)
            && m.split("; deadline in ")
                .nth(1)
                .is_some_and(|left| left.chars().next().is_some_and(|c| c.is_ascii_digit()))
    };
    assert_eq!(info.len(), 2, "{info:#?}");
    assert!(
        said(
            info[0],
            "poll saw task t-42 (cloudAccountUpdateRequest) in status processing-in-progress (first look)"
        ),
        "{info:#?}"
    );
    assert!(
        said(
            info[1],
            "poll saw task t-42 (cloudAccountUpdateRequest) in status processing-completed (was processing-in-progress)"
        ),
        "{info:#?}"
    );
    assert!(
        messages(&lines, "trace").iter().any(|m| said(
            m,
            "poll saw task t-42 (cloudAccountUpdateRequest) in status processing-in-progress (unchanged)"
        )),
        "{lines:#?}"
    );
    // The fields follow the message in one order on every request line.
    for line in lines.iter().filter(|l| l.contains_key("url")) {
        let keys: Vec<&str> = line.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "@level",
                "@message",
                "@module",
                "@timestamp",
                "method",
                "url",
                "status",
                "elapsed_ms",
                "attempt"
            ],
            "{line:?}"
        );
    }
}

#[tokio::test]
async fn deadline_interrupts_a_slow_request() {
    let server =
        TestServer::start(|_| reply(200, account(3, "pending")).delayed(Duration::from_secs(3)))
            .await;
    let started = Instant::now();
    let err = client(&server)
        .wait_for_cloud_account_active(3, soon(150), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    // The poll in flight at the deadline becomes the last look, given the grace past the
    // deadline that every look after it gets; the 3 s answer is not awaited.
    assert!(
        started.elapsed()
            < Duration::from_millis(150) + poll::POST_DEADLINE_GRACE + Duration::from_millis(300)
    );
}

#[tokio::test]
async fn cancellation_interrupts_sleep_and_request() {
    let server = TestServer::start(|r| {
        if r.path.starts_with("/v1/tasks/") {
            reply(200, task("t", "cloudAccountCreateRequest", "received"))
        } else {
            reply(200, account(3, "pending")).delayed(Duration::from_secs(3))
        }
    })
    .await;
    let mut cfg = config(&server.base_url);
    cfg.task_poll.initial_delay = Duration::from_secs(30);
    cfg.task_poll.max_delay = Duration::from_secs(30);
    let slow_poller = Client::new(cfg).unwrap();

    // Mid-sleep: the first poll is 30 s away.
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let err = slow_poller
        .wait_for_task("t", far(), &cancel)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Cancelled { waiting_for } if waiting_for == "task t to finish"),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(1000));

    // Mid-request: the account GET takes 3 s to answer.
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(80)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let err = client(&server)
        .wait_for_cloud_account_active(3, far(), &cancel)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(1000));
}

#[tokio::test]
async fn rate_limited_polls_stop_at_the_deadline() {
    let server =
        TestServer::start(|_| reply(429, "").header("x-rate-limit-retry-after-seconds", "5")).await;
    let started = Instant::now();
    let err = client(&server)
        .wait_for_task("t", soon(200), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    // The poll held back at the deadline becomes the last look, which gets the grace after
    // it; the 5 s retry-after is not awaited.
    assert!(
        started.elapsed()
            < Duration::from_millis(200) + poll::POST_DEADLINE_GRACE + Duration::from_millis(400)
    );
    assert_eq!(
        server.requests().len(),
        1,
        "later polls wait for the retry-after"
    );
}

#[tokio::test]
async fn account_wait_handles_failure_statuses_and_not_found_grace() {
    let polls = Arc::new(AtomicUsize::new(0));
    let p = polls.clone();
    let server = TestServer::start(move |r| match r.path.as_str() {
        // Account 2 is missing from the list for two polls; 3 never exists.
        "/v1/cloud-accounts" => {
            let mut accounts = vec![
                serde_json::from_str::<Value>(&account(1, "active-error")).unwrap(),
                serde_json::from_str::<Value>(&account(4, "deleted")).unwrap(),
            ];
            if p.fetch_add(1, Ordering::SeqCst) >= 2 {
                accounts.push(serde_json::from_str::<Value>(&account(2, "active")).unwrap());
            }
            reply(200, json!({"cloudAccounts": accounts}).to_string())
        }
        _ => reply(404, NOT_FOUND_BODY),
    })
    .await;
    let c = client(&server);
    let cancel = CancellationToken::new();
    let err = c
        .wait_for_cloud_account_active(1, far(), &cancel)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::AccountStatus { id: 1, status } if status == "active-error"),
        "{err:?}"
    );
    let a = c
        .wait_for_cloud_account_active(2, far(), &cancel)
        .await
        .unwrap();
    assert_eq!(a.id, 2);
    // Within the visibility window a missing account is the API's lag: the wait goes on to its
    // deadline instead of reporting it missing.
    let err = c
        .wait_for_cloud_account_active(3, soon(600), &cancel)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    // Past the window, a missing account is reported as missing.
    let mut cfg = config(&server.base_url);
    cfg.task_poll.visibility_window = Duration::ZERO;
    let before = server.count("GET", "/v1/cloud-accounts/3");
    let err = Client::new(cfg)
        .unwrap()
        .wait_for_cloud_account_active(3, far(), &cancel)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(
        server.count("GET", "/v1/cloud-accounts/3") - before,
        1,
        "asked by ID once, after the grace"
    );

    // An account that keeps answering is not gone: the wait ends at the deadline.
    let err = c
        .wait_for_cloud_account_gone(4, None, soon(120), &cancel)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Timeout { last_status: Some(s), .. } if s == "deleted"),
        "{err:?}"
    );
    c.wait_for_cloud_account_gone(3, None, far(), &cancel)
        .await
        .unwrap();
}

#[tokio::test]
async fn secrets_never_reach_debug_output_or_errors() {
    // A hostile or buggy server echoing everything it received.
    let server = TestServer::start(|r| {
        let echo = format!(
            "{} key={} secret={}",
            String::from_utf8_lossy(&r.body),
            r.header("x-api-key").unwrap_or(""),
            r.header("x-api-secret-key").unwrap_or("")
        );
        reply(400, echo)
    })
    .await;
    let c = client(&server);
    let req = create_request();
    let err = c.create_cloud_account(&req).await.unwrap_err();
    assert!(
        matches!(err, Error::Validation { status: 400, .. }),
        "{err:?}"
    );
    assert_no_secrets(&format!("{err} {err:?}"));
    let err = c
        .update_cloud_account(1, &update_request())
        .await
        .unwrap_err();
    assert_no_secrets(&format!("{err} {err:?}"));
    assert_no_secrets(&format!("{req:?} {:?}", update_request()));
    assert_no_secrets(&format!("{c:?}"));
    assert_no_secrets(&format!("{:?}", config(&server.base_url)));
}

#[tokio::test]
async fn html_unauthorized_body_is_summarised() {
    let server = TestServer::start(|_| {
        reply(
            401,
            "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>nginx</body></html>",
        )
    })
    .await;
    let err = client(&server).list_cloud_accounts().await.unwrap_err();
    assert!(
        matches!(&err, Error::Unauthorized { message } if message.contains("401 Authorization Required")),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn remaining_zero_pauses_until_the_window_resets() {
    let n = Arc::new(AtomicUsize::new(0));
    let m = n.clone();
    let server = TestServer::start(move |_| {
        let remaining = if m.fetch_add(1, Ordering::SeqCst) == 0 {
            "0"
        } else {
            "399"
        };
        reply(200, account(1, "active")).header("x-rate-limit-remaining", remaining)
    })
    .await;
    let c = Client::with_rate_window(config(&server.base_url), Duration::from_millis(300)).unwrap();
    c.get_cloud_account(1).await.unwrap();
    c.get_cloud_account(1).await.unwrap();
    c.get_cloud_account(1).await.unwrap();
    let reqs = server.requests();
    let first_gap = reqs[1].at.duration_since(reqs[0].at);
    let second_gap = reqs[2].at.duration_since(reqs[1].at);
    assert!(first_gap >= Duration::from_millis(280), "{first_gap:?}");
    assert!(second_gap < Duration::from_millis(200), "{second_gap:?}");
}

async fn three_gets_gap(remaining: &'static str) -> Duration {
    let server = TestServer::start(move |_| {
        reply(200, account(1, "active")).header("x-rate-limit-remaining", remaining)
    })
    .await;
    let mut cfg = config(&server.base_url);
    // 30 per 1 s: a burst of 3, then one permit every 37 ms.
    cfg.requests_per_minute = 30;
    let c = Client::with_rate_window(cfg, Duration::from_secs(1)).unwrap();
    for _ in 0..3 {
        c.get_cloud_account(1).await.unwrap();
    }
    let reqs = server.requests();
    reqs[2].at.duration_since(reqs[0].at)
}

#[tokio::test]
async fn low_remaining_from_server_spaces_requests_out() {
    // The server's window is spent: each request waits for the next window.
    let slowed = three_gets_gap("0").await;
    assert!(slowed >= Duration::from_millis(1900), "{slowed:?}");
    // With plenty left on the server the local burst is used freely.
    let free = three_gets_gap("300").await;
    assert!(free < Duration::from_millis(150), "{free:?}");
}

#[tokio::test]
async fn local_limiter_enforces_the_configured_rate() {
    let server = TestServer::start(|_| reply(200, account(1, "active"))).await;
    let mut cfg = config(&server.base_url);
    // 20 per 400 ms window.
    cfg.requests_per_minute = 20;
    let c = Client::with_rate_window(cfg, Duration::from_millis(400)).unwrap();
    for _ in 0..30 {
        c.get_cloud_account(1).await.unwrap();
    }
    let at: Vec<_> = server.requests().iter().map(|r| r.at).collect();
    // The whole allowance may go out at once (Terraform's parallel waves)...
    assert!(
        at[19].duration_since(at[0]) < Duration::from_millis(200),
        "the burst was throttled: {:?}",
        at[19].duration_since(at[0])
    );
    // ...and the next request waits for the window.
    assert!(at[20].duration_since(at[0]) >= Duration::from_millis(390));
    // Never more than the configured number in any window, however it is placed.
    for (i, start) in at.iter().enumerate() {
        let in_window = at[i..]
            .iter()
            .take_while(|t| t.duration_since(*start) < Duration::from_millis(400))
            .count();
        assert!(in_window <= 20, "{in_window} requests in one 400 ms window");
    }
}

#[tokio::test]
async fn config_is_validated() {
    let bad = |mutate: fn(&mut ClientConfig)| {
        let mut cfg = config("https://api.example.test/v1");
        mutate(&mut cfg);
        Client::new(cfg).unwrap_err()
    };
    assert!(matches!(
        bad(|c| c.base_url = "not a url".into()),
        Error::Config { .. }
    ));
    assert!(matches!(
        bad(|c| c.base_url = "ftp://x/v1".into()),
        Error::Config { .. }
    ));
    assert!(matches!(
        bad(|c| c.api_key = Secret::new("")),
        Error::Config { .. }
    ));
    let err = bad(|c| c.secret_key = Secret::new("bad\nvalue-EEEE5555"));
    assert!(matches!(err, Error::Config { .. }));
    assert!(!format!("{err}").contains("EEEE5555"));
    assert!(matches!(
        bad(|c| c.requests_per_minute = 0),
        Error::Config { .. }
    ));
    assert!(matches!(
        bad(|c| c.retry.attempts = 0),
        Error::Config { .. }
    ));
    let defaults = ClientConfig::new(DEFAULT_BASE_URL, "a", String::from("b"));
    assert_eq!(defaults.secret_key.expose(), "b");
    assert_eq!(defaults.requests_per_minute, 400);
    assert_eq!(defaults.retry.attempts, 5);
    assert_eq!(defaults.http_timeout, Duration::from_secs(60));
    assert!(Client::new(defaults).is_ok());
}

#[tokio::test]
async fn base_url_with_or_without_trailing_slash_and_encoded_ids() {
    let server = TestServer::start(|r| {
        reply(
            200,
            task(r.path.trim_start_matches("/v1/tasks/"), "x", "received"),
        )
    })
    .await;
    let trimmed = server.base_url.trim_end_matches('/').to_owned();
    for base in [server.base_url.clone(), trimmed] {
        let c = Client::new(config(&base)).unwrap();
        c.get_task("abc").await.unwrap();
    }
    // A task id cannot escape its path segment.
    client(&server).get_task("../cloud-accounts").await.unwrap();
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/v1/tasks/abc",
            "/v1/tasks/abc",
            "/v1/tasks/..%2Fcloud-accounts"
        ]
    );
}

#[tokio::test]
async fn a_fresh_client_learns_the_servers_count_before_sending_a_parallel_wave() {
    // Another process already spent most of the window: 2 requests remain.
    let server = TestServer::start(|_| {
        reply(200, account(1, "active")).header("x-rate-limit-remaining", "2")
    })
    .await;
    let mut cfg = config(&server.base_url);
    cfg.requests_per_minute = 400;
    let c = Client::with_rate_window(cfg, Duration::from_millis(600)).unwrap();
    let started = std::time::Instant::now();
    let calls = (0..10).map(|_| {
        let c = c.clone();
        tokio::spawn(async move { c.get_cloud_account(1).await })
    });
    for call in calls {
        call.await.unwrap().unwrap();
    }
    let early = server
        .requests()
        .iter()
        .filter(|r| r.at.duration_since(started) < Duration::from_millis(300))
        .count();
    // The probe, then the 2 the server allows; the rest wait for the window.
    assert!(
        early <= 3,
        "{early} requests went out before the window passed"
    );
}

#[tokio::test]
async fn an_absurd_retry_after_is_clamped_not_a_panic() {
    // `Duration::from_secs_f64(1e20)` panics; the header must be clamped before converting.
    let server =
        TestServer::start(|_| reply(429, "").header("x-rate-limit-retry-after-seconds", "1e20"))
            .await;
    let c = client(&server);
    let deadline = Instant::now() + Duration::from_millis(300);
    let err = c
        .bounded(deadline, &CancellationToken::new())
        .get_cloud_account(5)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::RateLimited { retry_after: Some(d), .. } if *d <= Duration::from_secs(120)),
        "{err:?}"
    );
}

#[tokio::test]
async fn stop_ends_a_rate_limit_pause_before_the_request_is_sent() {
    let server =
        TestServer::start(|_| reply(429, "").header("x-rate-limit-retry-after-seconds", "30"))
            .await;
    let c = client(&server);
    let stop = CancellationToken::new();
    let bounded = c.bounded(Instant::now() + Duration::from_secs(120), &stop);
    let started = Instant::now();
    let stopper = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stopper.cancel();
    });
    let err = bounded
        .create_cloud_account(&create_request())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.is_definite(),
        "a 429 then a stop: nothing was applied: {err:?}"
    );
    assert_eq!(server.count("POST", "/v1/cloud-accounts"), 1);
}

#[tokio::test]
async fn writes_are_never_starved_by_polling() {
    // 16 requests per 2 s window: polls may take 14 of them, never the last two.
    let server = TestServer::start(|r| match r.method.as_str() {
        "POST" => reply(202, task("t", "cloudAccountCreateRequest", "received")),
        _ => reply(200, json!({"cloudAccounts": [], "tasks": []}).to_string()),
    })
    .await;
    let mut cfg = config(&server.base_url);
    cfg.requests_per_minute = 16;
    let c = Client::with_rate_window(cfg, Duration::from_secs(2)).unwrap();
    // Poll as hard as possible for a while: every wait of a big apply at once.
    let polling = {
        let c = c.clone();
        tokio::spawn(async move {
            let until = Instant::now() + Duration::from_millis(1500);
            while Instant::now() < until {
                let _ = c.tasks_since(Instant::now()).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    c.create_cloud_account(&create_request()).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "the write waited {:?} behind polling",
        started.elapsed()
    );
    polling.await.unwrap();
    let polls: Vec<_> = server
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.at)
        .collect();
    for (i, start) in polls.iter().enumerate() {
        let in_window = polls[i..]
            .iter()
            .take_while(|t| t.duration_since(*start) < Duration::from_secs(2))
            .count();
        assert!(
            in_window <= 14,
            "{in_window} polls in one window took the writes' share"
        );
    }
}

#[tokio::test]
async fn concurrent_waits_share_list_requests() {
    // Ten tasks that complete one after another, as Redis Cloud's one-at-a-time queue runs them.
    let started = std::time::Instant::now();
    let server = TestServer::start(move |r| match r.path.as_str() {
        "/v1/tasks" => {
            let done = (started.elapsed().as_millis() / 40) as usize;
            let tasks: Vec<Value> = (0..10)
                .map(|i| {
                    let t = if i < done {
                        task_done(
                            &format!("t{i}"),
                            "cloudAccountCreateRequest",
                            100 + i as i64,
                        )
                    } else {
                        task(&format!("t{i}"), "cloudAccountCreateRequest", "received")
                    };
                    serde_json::from_str(&t).unwrap()
                })
                .collect();
            reply(200, json!({"tasks": tasks}).to_string())
        }
        _ => reply(404, NOT_FOUND_BODY),
    })
    .await;
    let c = client(&server);
    let cancel = CancellationToken::new();
    let waits = (0..10).map(|i| {
        let (c, cancel) = (c.clone(), cancel.clone());
        async move { c.wait_for_task(&format!("t{i}"), far(), &cancel).await }
    });
    for (i, done) in futures::future::join_all(waits)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(done.unwrap().resource_id(), Some(100 + i as i64));
    }
    let lists = server.count("GET", "/v1/tasks");
    let by_id = server.requests().len() - lists;
    assert_eq!(by_id, 0, "no per-task requests");
    // Each wait alone polls every 5-20 ms for up to 400 ms: about 30 polls, 300 for ten. Shared,
    // the polls of one instant are one request.
    assert!(lists < 100, "{lists} list requests for ten waits");
    assert_eq!(c.shared_list_fetches().1 as usize, lists);
}

#[tokio::test]
async fn a_wait_looks_once_before_its_first_delay() {
    // The task finished before the wait began (a local emulator finishes at once): the wait
    // must see it on a look at once, not after sleeping its first poll delay.
    let server = TestServer::start(|r| match r.path.as_str() {
        "/v1/tasks" => reply(
            200,
            format!(
                r#"{{"tasks":[{}]}}"#,
                task_done("t1", "cloudAccountCreateRequest", 7)
            ),
        ),
        _ => reply(404, NOT_FOUND_BODY),
    })
    .await;
    let mut cfg = config(&server.base_url);
    cfg.task_poll.initial_delay = Duration::from_secs(30);
    cfg.task_poll.max_delay = Duration::from_secs(30);
    let c = Client::new(cfg).unwrap();
    let cancel = CancellationToken::new();
    let started = std::time::Instant::now();
    let done = c.wait_for_task("t1", far(), &cancel).await.unwrap();
    assert_eq!(done.resource_id(), Some(7));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the wait slept its first delay: {:?}",
        started.elapsed()
    );
    assert_eq!(server.count("GET", "/v1/tasks"), 1);
}

#[tokio::test]
async fn list_fetches_are_paced_unless_the_server_reports_ample_room() {
    // Past the burst, list fetches are paced to what the window has left over the time it has
    // left: unless the server says far more requests are left than the whole configured limit.
    async fn fetch_past_the_burst(remaining: &'static str) -> Duration {
        let server = TestServer::start(move |r| match r.path.as_str() {
            "/v1/tasks" => {
                reply(200, r#"{"tasks":[]}"#).header("x-rate-limit-remaining", remaining)
            }
            _ => reply(404, NOT_FOUND_BODY),
        })
        .await;
        let mut cfg = config(&server.base_url);
        // 100 left of 120, 15 of them the writes' reserve, over a minute, halved between the
        // two lists: about one fetch every 1.4 s, after a burst of about 7.
        cfg.requests_per_minute = 120;
        let token = CancellationToken::new();
        let c = Client::new(cfg).unwrap().bounded(soon(60_000), &token);
        let started = std::time::Instant::now();
        for _ in 0..9 {
            c.tasks_since(tokio::time::Instant::now()).await.unwrap();
        }
        started.elapsed()
    }
    let paced = fetch_past_the_burst("100").await;
    assert!(paced >= Duration::from_secs(2), "{paced:?}");
    let roomy = fetch_past_the_burst("999000").await;
    assert!(roomy < Duration::from_secs(1), "{roomy:?}");
}

// ---------- reconciliation: what counts as evidence of an account ----------

/// The account list with only Redis Cloud's internal account, plus `extra`.
fn listing(extra: &[String]) -> String {
    let mut accounts = vec![
        json!({"id": 1, "name": "Redis Internal Resources", "provider": "AWS", "status": "active"}),
    ];
    accounts.extend(
        extra
            .iter()
            .map(|e| serde_json::from_str::<Value>(e).unwrap()),
    );
    json!({"accountId": 40131, "cloudAccounts": accounts, "links": []}).to_string()
}

/// The create of [`create_request`] with a 300 ms task-visibility grace and a deadline `ms`
/// from now.
async fn interrupted_create(
    server: &TestServer,
    ms: u64,
) -> Result<ops::Created, ops::CreateFailure> {
    short_grace(server)
        .bounded(soon(ms), &CancellationToken::new())
        .create_cloud_account_reconciled(&create_request())
        .await
}

fn short_grace(server: &TestServer) -> Client {
    let mut cfg = config(&server.base_url);
    cfg.task_poll.not_found_grace = Duration::from_millis(300);
    Client::new(cfg).unwrap()
}

/// A create task that failed after making account 9 (the API's shape for an error, with the
/// `resourceId` of what it made).
fn failed_after_making(id: &str, resource_id: i64) -> String {
    json!({"taskId": id, "commandType": "cloudAccountCreateRequest", "status": "processing-error",
           "description": "Task request failed during processing. See error information for failure details.",
           "response": {"resourceId": resource_id, "error": {"type": "CLOUD_ACCOUNT_INVALID_CREDENTIALS",
           "status": "400 BAD_REQUEST", "description": "Cloud account credentials are invalid"}}})
    .to_string()
}

async fn create_whose_task_failed_after_making_9(
    snapshot: Vec<String>,
    account_9: Reply,
) -> Result<ops::Created, ops::CreateFailure> {
    let account_9 = Mutex::new(Some(account_9));
    let server = TestServer::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/v1/cloud-accounts") => reply(200, listing(&snapshot)),
        ("GET", "/v1/tasks") => reply(200, r#"{"tasks":[]}"#),
        ("POST", "/v1/cloud-accounts") => {
            reply(202, task("t1", "cloudAccountCreateRequest", "received"))
        }
        ("GET", "/v1/tasks/t1") => reply(200, failed_after_making("t1", 9)),
        ("GET", "/v1/cloud-accounts/9") => {
            let r = account_9.lock().unwrap().take();
            r.unwrap_or_else(|| reply(200, account(9, "error")))
        }
        _ => reply(500, "{}"),
    })
    .await;
    let token = CancellationToken::new();
    short_grace(&server)
        .bounded(far(), &token)
        .create_cloud_account_reconciled(&create_request())
        .await
}

#[tokio::test]
async fn a_new_account_s_wait_ends_on_a_list_fetched_since_its_create_began() {
    let server = TestServer::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/v1/cloud-accounts") => reply(
            200,
            json!({"cloudAccounts": [serde_json::from_str::<Value>(&account(3, "active")).unwrap()]})
                .to_string(),
        ),
        _ => reply(500, "{}"),
    })
    .await;
    let token = CancellationToken::new();
    let c = client(&server).bounded(far(), &token);
    // A list fetched before the create began says nothing of the new account: the wait
    // fetches its own.
    c.accounts_since(Instant::now()).await.unwrap();
    let began = Instant::now();
    c.wait_for_new_cloud_account_active(3, began, far(), &token)
        .await
        .unwrap();
    assert_eq!(server.count("GET", "/v1/cloud-accounts"), 2);
    // One fetched since (a neighbour's wait, say) that shows it active ends the wait at once.
    let active = c
        .wait_for_new_cloud_account_active(3, began, far(), &token)
        .await
        .unwrap();
    assert_eq!(active.status.as_deref(), Some("active"));
    assert_eq!(server.count("GET", "/v1/cloud-accounts"), 2);
    // After an update only a list fetched since the wait began counts.
    c.wait_for_cloud_account_active(3, far(), &token)
        .await
        .unwrap();
    assert_eq!(server.count("GET", "/v1/cloud-accounts"), 3);
}

#[tokio::test]
async fn a_create_reads_its_two_snapshot_lists_at_once() {
    // Each list takes 300 ms to answer, as a far-away API may: read one after the other, the
    // POST would leave after 600 ms.
    let server = TestServer::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/v1/cloud-accounts") => {
            reply(200, listing(&[])).delayed(Duration::from_millis(300))
        }
        ("GET", "/v1/tasks") => {
            reply(200, r#"{"tasks":[]}"#).delayed(Duration::from_millis(300))
        }
        ("POST", "/v1/cloud-accounts") => reply(
            400,
            r#"{"error":{"type":"BAD_REQUEST","status":"400 BAD_REQUEST","description":"Bad request"}}"#,
        ),
        _ => reply(500, "{}"),
    })
    .await;
    // As ConfigureProvider does: the credential check is the process's first request, which
    // the rate gate sends alone to learn the key's count.
    let c = client(&server);
    c.verify_access().await.unwrap();
    let token = CancellationToken::new();
    let started = Instant::now();
    let out = c
        .bounded(far(), &token)
        .create_cloud_account_reconciled(&create_request())
        .await;
    let took = started.elapsed();
    assert!(
        matches!(out, Err(ops::CreateFailure::NotCreated(_))),
        "{out:?}"
    );
    assert_eq!(server.count("POST", "/v1/cloud-accounts"), 1);
    assert!(
        took < Duration::from_millis(550),
        "the POST left after {took:?}"
    );
}

#[tokio::test]
async fn a_create_task_that_failed_after_making_an_account_hands_the_account_over() {
    // The account it names carries this create's name and key, and was not there before.
    let out =
        create_whose_task_failed_after_making_9(vec![], reply(200, account(9, "error"))).await;
    match out {
        Err(ops::CreateFailure::FailedWithAccount { id: 9, err }) => {
            assert!(
                err.to_string()
                    .contains("CLOUD_ACCOUNT_INVALID_CREDENTIALS"),
                "{err}"
            );
        }
        other => panic!("account 9 exists and must reach state, got {other:?}"),
    }
    // Not readable yet (too new, or rolled back): recorded as pending, for the next refresh
    // to decide by the task.
    let out = create_whose_task_failed_after_making_9(vec![], reply(404, NOT_FOUND_BODY)).await;
    assert!(
        matches!(&out, Err(ops::CreateFailure::Pending { record, candidates, .. }) if record.tasks == ["t1"] && candidates == &[9]),
        "{out:?}"
    );
    // Someone else's account (another key, or one that was there before the create): nothing
    // of this create's.
    let mut other: Value = serde_json::from_str(&account(9, "active")).unwrap();
    other["accessKeyId"] = json!("AKIAOTHER");
    let out = create_whose_task_failed_after_making_9(vec![], reply(200, other.to_string())).await;
    assert!(
        matches!(out, Err(ops::CreateFailure::NotCreated(_))),
        "{out:?}"
    );
    let mut earlier: Value = serde_json::from_str(&account(9, "active")).unwrap();
    earlier["name"] = json!("already-there");
    earlier["accessKeyId"] = json!("AKIAEARLIER");
    let out = create_whose_task_failed_after_making_9(
        vec![earlier.to_string()],
        reply(200, account(9, "active")),
    )
    .await;
    assert!(
        matches!(out, Err(ops::CreateFailure::NotCreated(_))),
        "{out:?}"
    );
}

/// After an ambiguous POST the lists show, from 250 ms after it, a new create task that made
/// account 9 just now, which the account list does not show yet (or shows with a masked key that
/// cannot be read yet). That may be this create's account on its way: the POST is never sent
/// again while it may be, and at the deadline the create is recorded as pending (the account may
/// be its own), never reported as someone else's.
async fn interrupted_create_with_unconfirmed_account(
    listed: Option<String>,
) -> (
    Vec<std::time::Instant>,
    Result<ops::Created, ops::CreateFailure>,
) {
    let posts: Arc<Mutex<Vec<std::time::Instant>>> = Arc::new(Mutex::new(Vec::new()));
    let p = posts.clone();
    let server = TestServer::start(move |r| {
        let shown = p
            .lock()
            .unwrap()
            .first()
            .is_some_and(|at| at.elapsed() >= Duration::from_millis(250));
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/v1/cloud-accounts") => match (&listed, shown) {
                (Some(a), true) => reply(200, listing(std::slice::from_ref(a))),
                _ => reply(200, listing(&[])),
            },
            ("GET", "/v1/tasks") if shown => {
                let mut t: Value =
                    serde_json::from_str(&task_done("t1", "cloudAccountCreateRequest", 9))
                        .unwrap();
                t["timestamp"] = json!(
                    time::OffsetDateTime::now_utc()
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap()
                );
                reply(200, format!(r#"{{"tasks":[{t}]}}"#))
            }
            ("GET", "/v1/tasks") => reply(200, r#"{"tasks":[]}"#),
            // Just created: not readable by ID yet.
            ("GET", "/v1/cloud-accounts/9") => reply(404, NOT_FOUND_BODY),
            ("POST", "/v1/cloud-accounts") => {
                let mut sent = p.lock().unwrap();
                sent.push(std::time::Instant::now());
                if sent.len() == 1 {
                    reply(502, r#"{"message":"bad gateway"}"#)
                } else {
                    reply(409, r#"{"error":{"type":"CLOUD_ACCOUNT_NAME_EXISTS","status":"409 CONFLICT","description":"name exists"}}"#)
                }
            }
            _ => reply(500, "{}"),
        }
    })
    .await;
    let out = interrupted_create(&server, 2_000).await;
    let sent = posts.lock().unwrap().clone();
    (sent, out)
}

/// The create was never sent again while its account may be on its way, and is recorded as
/// pending.
fn held_back_then_recorded(
    sent: &[std::time::Instant],
    out: &Result<ops::Created, ops::CreateFailure>,
) {
    assert_eq!(
        sent.len(),
        1,
        "sent again while its account may be on its way: {out:?}"
    );
    assert!(
        recorded_as_pending(out),
        "the create must be recorded: {out:?}"
    );
}

#[tokio::test]
async fn an_interrupted_create_is_held_back_while_a_new_task_names_an_account_not_yet_listed() {
    let (sent, out) = interrupted_create_with_unconfirmed_account(None).await;
    held_back_then_recorded(&sent, &out);
}

/// Whether a create that ran out of time is recorded as pending (by its task, or by the
/// accounts created after it), so that what it made cannot be lost.
fn recorded_as_pending(out: &Result<ops::Created, ops::CreateFailure>) -> bool {
    match out {
        Err(ops::CreateFailure::Pending { record, .. }) => {
            record.before
                == ownership::Before::Snapshot {
                    accounts: [1].into(),
                    create_tasks: [].into(),
                }
        }
        _ => false,
    }
}

#[tokio::test]
async fn an_interrupted_create_is_held_back_while_a_masked_listed_account_cannot_be_read() {
    let masked = json!({"id": 9, "name": "acct", "provider": "AWS", "status": "draft", "accessKeyId": "A***E"});
    let (sent, out) = interrupted_create_with_unconfirmed_account(Some(masked.to_string())).await;
    held_back_then_recorded(&sent, &out);
}

/// Evidence that is never confirmed holds a create back only for its grace: another client's
/// task naming an account that is gone does not stall this create until its deadline.
#[tokio::test]
async fn a_foreign_task_naming_a_vanished_account_holds_a_create_back_only_for_the_grace() {
    let posts = Arc::new(AtomicUsize::new(0));
    let p = posts.clone();
    let server = TestServer::start(move |r| {
        let posted = p.load(Ordering::SeqCst);
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/v1/cloud-accounts") if posted >= 2 => {
                reply(200, listing(&[account(10, "active")]))
            }
            ("GET", "/v1/cloud-accounts") => reply(200, listing(&[])),
            // Another client's create made account 77, deleted since.
            ("GET", "/v1/tasks") if posted >= 1 => reply(
                200,
                format!(
                    r#"{{"tasks":[{}]}}"#,
                    task_done("t9", "cloudAccountCreateRequest", 77)
                ),
            ),
            ("GET", "/v1/tasks") => reply(200, r#"{"tasks":[]}"#),
            ("GET", "/v1/cloud-accounts/77") => reply(404, NOT_FOUND_BODY),
            ("POST", "/v1/cloud-accounts") => {
                if p.fetch_add(1, Ordering::SeqCst) == 0 {
                    // Dropped before the API saw it.
                    reply(502, r#"{"message":"bad gateway"}"#)
                } else {
                    reply(202, task("t10", "cloudAccountCreateRequest", "received"))
                }
            }
            ("GET", "/v1/tasks/t10") => {
                reply(200, task_done("t10", "cloudAccountCreateRequest", 10))
            }
            _ => reply(500, "{}"),
        }
    })
    .await;
    let token = CancellationToken::new();
    let started = Instant::now();
    let out = short_grace(&server)
        .bounded(soon(5_000), &token)
        .create_cloud_account_reconciled(&create_request())
        .await;
    assert!(matches!(out, Ok(ops::Created { id: 10 })), "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// An ambiguous PUT whose only visible change is the sign-in URL: the URL must be seen before
/// the update counts as applied.
async fn interrupted_url_change(
    reported_url: Option<&'static str>,
) -> (usize, Result<(), ops::UpdateFailure>) {
    let puts = Arc::new(AtomicUsize::new(0));
    let p = puts.clone();
    let shown = move || {
        let mut a: Value = serde_json::from_str(&account(7, "active")).unwrap();
        if let Some(url) = reported_url {
            a["signInLoginUrl"] = json!(url);
        }
        a.to_string()
    };
    let server = TestServer::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/v1/cloud-accounts/7") => reply(200, shown()),
        ("GET", "/v1/cloud-accounts") => reply(200, listing(&[shown()])),
        ("GET", "/v1/tasks") => reply(200, r#"{"tasks":[]}"#),
        ("PUT", "/v1/cloud-accounts/7") => {
            if p.fetch_add(1, Ordering::SeqCst) == 0 {
                reply(502, r#"{"message":"bad gateway"}"#)
            } else {
                reply(202, task("t2", "cloudAccountUpdateRequest", "received"))
            }
        }
        ("GET", "/v1/tasks/t2") => reply(200, task_done("t2", "cloudAccountUpdateRequest", 7)),
        _ => reply(500, "{}"),
    })
    .await;
    let token = CancellationToken::new();
    let mut body = update_request();
    body.name = Some("acct".into());
    body.sign_in_login_url = Some("https://999.signin.aws.amazon.com/console".into());
    let out = short_grace(&server)
        .bounded(far(), &token)
        .update_cloud_account_reconciled(7, &body, false)
        .await;
    (puts.load(Ordering::SeqCst), out)
}

#[tokio::test]
async fn an_interrupted_update_counts_as_applied_only_once_its_sign_in_url_is_seen() {
    // The old URL is reported: the PUT did not happen, so it is sent again.
    let (puts, out) =
        interrupted_url_change(Some("https://123.signin.aws.amazon.com/console")).await;
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(puts, 2);
    // The API does not report the URL: nothing shows the PUT happened, so it is sent again
    // (a PUT sets absolute values: twice is harmless).
    let (puts, out) = interrupted_url_change(None).await;
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(puts, 2);
    // The new URL is reported: applied, not sent again.
    let (puts, out) =
        interrupted_url_change(Some("https://999.signin.aws.amazon.com/console")).await;
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(puts, 1);
}

/// An update task that may be another account's (it names none yet) shows up only after the
/// account settled: it is waited out, then the PUT that never landed is sent again.
#[tokio::test]
async fn an_update_task_appearing_after_the_settle_is_waited_out_not_reported_unknown() {
    let puts = Arc::new(AtomicUsize::new(0));
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (p, a) = (puts.clone(), armed.clone());
    let once = std::sync::atomic::AtomicBool::new(false);
    let server = TestServer::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/v1/cloud-accounts") => reply(200, listing(&[account(7, "active")])),
        // Read by ID once the list does not show the update: the next task list, that once,
        // shows an update in progress that names no account.
        ("GET", "/v1/cloud-accounts/7") => {
            if !once.swap(true, Ordering::SeqCst) {
                a.store(true, Ordering::SeqCst);
            }
            reply(200, account(7, "active"))
        }
        ("GET", "/v1/tasks") if a.swap(false, Ordering::SeqCst) => reply(
            200,
            json!({"tasks": [{"taskId": "other", "commandType": "cloudAccountUpdateRequest",
                    "status": "processing-in-progress",
                    "timestamp": time::OffsetDateTime::now_utc()
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap()}]})
            .to_string(),
        ),
        ("GET", "/v1/tasks") => reply(200, r#"{"tasks":[]}"#),
        ("PUT", "/v1/cloud-accounts/7") => {
            if p.fetch_add(1, Ordering::SeqCst) == 0 {
                reply(502, r#"{"message":"bad gateway"}"#)
            } else {
                reply(202, task("t2", "cloudAccountUpdateRequest", "received"))
            }
        }
        ("GET", "/v1/tasks/t2") => reply(200, task_done("t2", "cloudAccountUpdateRequest", 7)),
        _ => reply(500, "{}"),
    })
    .await;
    let token = CancellationToken::new();
    let out = short_grace(&server)
        .bounded(far(), &token)
        .update_cloud_account_reconciled(7, &update_request(), false)
        .await;
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(puts.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_interrupted_update_whose_account_cannot_be_read_is_unknown_not_rejected() {
    let server = TestServer::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("PUT", "/v1/cloud-accounts/7") => reply(502, r#"{"message":"bad gateway"}"#),
        ("GET", "/v1/cloud-accounts/7") => reply(401, r#"{"error":{"type":"UNAUTHORIZED"}}"#),
        ("GET", "/v1/tasks") => reply(200, r#"{"tasks":[]}"#),
        _ => reply(500, "{}"),
    })
    .await;
    let token = CancellationToken::new();
    let out = short_grace(&server)
        .bounded(far(), &token)
        .update_cloud_account_reconciled(7, &update_request(), false)
        .await;
    assert!(
        matches!(out, Err(ops::UpdateFailure::Unknown { .. })),
        "the PUT may have been applied: {out:?}"
    );
}

/// A create whose operation gets StopProvider 300 ms in (deadline `deadline_ms` away): its
/// outcome, and how long it took.
async fn create_stopped_at_300_ms(
    server: &TestServer,
    deadline_ms: u64,
) -> (Result<ops::Created, ops::CreateFailure>, Duration) {
    let token = CancellationToken::new();
    let stop = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.cancel();
    });
    let started = Instant::now();
    let out = client(server)
        .bounded(soon(deadline_ms), &token)
        .create_cloud_account_reconciled(&create_request())
        .await;
    (out, started.elapsed())
}

#[tokio::test]
async fn the_last_look_after_stop_provider_is_bounded_by_the_stop_not_the_deadline() {
    let server = TestServer::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/v1/cloud-accounts") => reply(200, listing(&[])),
        ("GET", "/v1/tasks") => reply(200, r#"{"tasks":[]}"#),
        ("POST", "/v1/cloud-accounts") => {
            reply(202, task("t1", "cloudAccountCreateRequest", "received"))
        }
        ("GET", "/v1/tasks/t1") => reply(200, task("t1", "cloudAccountCreateRequest", "received"))
            .delayed(Duration::from_secs(6)),
        _ => reply(500, "{}"),
    })
    .await;
    let (out, took) = create_stopped_at_300_ms(&server, 30_000).await;
    assert!(
        matches!(out, Err(ops::CreateFailure::Pending { .. })),
        "{out:?}"
    );
    // The stop at 300 ms plus the last look's grace (1.5 s), not the 6 s the API takes.
    assert!(took < Duration::from_millis(3_000), "took {took:?}");
}

#[tokio::test]
async fn only_the_api_s_own_missing_account_error_proves_an_account_gone() {
    // A base URL pointing elsewhere in the API (here under a subscription) answers with another
    // entity's "not found": that says nothing about the cloud account.
    let server = TestServer::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/v1/cloud-accounts/7") => reply(
            404,
            r#"{"error":{"type":"SUBSCRIPTION_NOT_FOUND","status":"404 NOT_FOUND","description":"Subscription was not found"}}"#,
        ),
        ("GET", "/v1/cloud-accounts/8") => reply(404, NOT_FOUND_BODY),
        _ => reply(500, "{}"),
    })
    .await;
    let c = client(&server);
    let other = c.get_cloud_account(7).await.unwrap_err();
    assert!(
        !other.is_not_found() && other.is_any_not_found(),
        "{other:?}"
    );
    let missing = c.get_cloud_account(8).await.unwrap_err();
    assert!(missing.is_not_found(), "{missing:?}");
}

#[tokio::test]
async fn a_write_in_flight_gets_its_grace_from_stop_provider_not_the_deadline() {
    let server = TestServer::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/v1/cloud-accounts") => reply(200, listing(&[])),
        ("GET", "/v1/tasks") => reply(200, r#"{"tasks":[]}"#),
        // The API takes longer than the client's HTTP timeout (5 s) to answer.
        ("POST", "/v1/cloud-accounts") => {
            reply(202, task("t1", "cloudAccountCreateRequest", "received"))
                .delayed(Duration::from_secs(8))
        }
        _ => reply(500, "{}"),
    })
    .await;
    let (out, took) = create_stopped_at_300_ms(&server, 60_000).await;
    // Whether the POST landed is unknown: it is recorded, never reported as "nothing created".
    assert!(
        matches!(out, Err(ops::CreateFailure::Pending { .. })),
        "{out:?}"
    );
    // The stop at 300 ms, the write's grace (1.5 s) and a last look's (1.5 s).
    assert!(took < Duration::from_millis(4_000), "took {took:?}");
}

/// An API where the first POST is answered 502 although it landed: its account 9 and task t1
/// become visible `visible_after` that POST; a POST sent again is refused for the name after
/// `refusal_delay`. Other paths go to `more`.
fn first_post_lands_unseen(
    visible_after: Duration,
    refusal_delay: Duration,
    more: impl Fn(&Recorded) -> Option<Reply> + Send + Sync + 'static,
) -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    let posted_at: Mutex<Option<std::time::Instant>> = Mutex::new(None);
    move |r| {
        let visible = posted_at
            .lock()
            .unwrap()
            .is_some_and(|at| at.elapsed() >= visible_after);
        if let Some(answer) = more(r) {
            return answer;
        }
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/v1/cloud-accounts") if visible => {
                reply(200, listing(&[account(9, "active")]))
            }
            ("GET", "/v1/cloud-accounts") => reply(200, listing(&[])),
            ("GET", "/v1/tasks") if visible => reply(
                200,
                format!(
                    r#"{{"tasks":[{}]}}"#,
                    task_done("t1", "cloudAccountCreateRequest", 9)
                ),
            ),
            ("GET", "/v1/tasks") => reply(200, r#"{"tasks":[]}"#),
            ("POST", "/v1/cloud-accounts") => {
                let mut at = posted_at.lock().unwrap();
                let first = at.is_none();
                at.get_or_insert_with(std::time::Instant::now);
                if first {
                    reply(502, r#"{"message":"bad gateway"}"#)
                } else {
                    reply(409, r#"{"error":{"type":"CLOUD_ACCOUNT_NAME_EXISTS","status":"409 CONFLICT","description":"name exists"}}"#)
                        .delayed(refusal_delay)
                }
            }
            _ => reply(500, "{}"),
        }
    }
}

/// The grace before an ambiguous write may be sent again counts from when it was really sent,
/// not from when the caller asked: a write held back by a 429's retry-after (another request's)
/// must not find its grace already spent.
#[tokio::test]
async fn the_reconcile_grace_counts_from_the_send_not_from_a_rate_limit_wait() {
    let limited = AtomicBool::new(false);
    // The create becomes visible 200 ms after its POST (the grace is 300 ms).
    let server = TestServer::start(first_post_lands_unseen(
        Duration::from_millis(200),
        Duration::ZERO,
        move |r| match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/v1/cloud-accounts/5") if !limited.swap(true, Ordering::SeqCst) => Some(
                reply(429, r#"{"error":{"type":"TOO_MANY_REQUESTS"}}"#)
                    .header("x-rate-limit-retry-after-seconds", "1"),
            ),
            ("GET", "/v1/cloud-accounts/5") => Some(reply(404, NOT_FOUND_BODY)),
            _ => None,
        },
    ))
    .await;
    let token = CancellationToken::new();
    let c = short_grace(&server).bounded(far(), &token);
    // Lists fresh enough to serve the create's snapshot.
    c.accounts_since(Instant::now()).await.unwrap();
    c.tasks_since(Instant::now()).await.unwrap();
    // Another read is told to wait a second: every request waits with it.
    let other = c.clone();
    tokio::spawn(async move { other.get_cloud_account(5).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let out = c.create_cloud_account_reconciled(&create_request()).await;
    assert_eq!(
        server.count("POST", "/v1/cloud-accounts"),
        1,
        "sent again: {out:?}"
    );
    assert_eq!(out.ok(), Some(ops::Created { id: 9 }));
}

/// When a create was sent again and the API refuses it because the name is taken, the account
/// holding the name may be the first POST's: one made after the snapshot with this create's
/// name, provider and access key is adopted, as the reconciliation would have.
#[tokio::test]
async fn a_resent_create_refused_for_its_name_adopts_the_first_post_s_account() {
    // Visible 450 ms after the first POST, later than the 300 ms grace, so the reconciliation
    // sends the create again; the refusal arrives once the account shows.
    let server = TestServer::start(first_post_lands_unseen(
        Duration::from_millis(450),
        Duration::from_millis(300),
        |_| None,
    ))
    .await;
    let token = CancellationToken::new();
    let out = short_grace(&server)
        .bounded(far(), &token)
        .create_cloud_account_reconciled(&create_request())
        .await;
    assert_eq!(server.count("POST", "/v1/cloud-accounts"), 2, "{out:?}");
    assert!(matches!(out, Ok(ops::Created { id: 9 })), "{out:?}");
}

/// The record of a create sent long ago, before which only the internal account existed,
/// whose POST's answer named task `t`.
fn pending_by_task_t() -> ownership::PendingCreate {
    ownership::PendingCreate {
        intent: ownership::Intent::from(&create_request()),
        sent_at_ms: 0,
        before: ownership::Before::Snapshot {
            accounts: [1].into(),
            create_tasks: [].into(),
        },
        tasks: vec!["t".to_owned()],
    }
}

/// A pending create whose task failed: what the task names is this create's only if it carries
/// both its name and its key, never when the task was refused for a name or key in use, and a
/// named account that is not visible counts as never made only once it is older than the
/// visibility window.
#[tokio::test]
async fn a_pending_failed_task_resolves_only_on_proof() {
    let failed = |ty: &str, stamp: &str| {
        json!({"taskId": "t", "commandType": "cloudAccountCreateRequest", "status": "processing-error",
               "timestamp": stamp, "response": {"resourceId": 9, "error": {"type": ty}}})
        .to_string()
    };
    let recent = "2999-01-01T00:00:00Z"; // in the future: age unknown, so young
    let old = "2020-01-01T00:00:00Z";
    let renamed = {
        let mut a: Value = serde_json::from_str(&account(9, "error")).unwrap();
        a["name"] = json!("someone-else");
        a.to_string()
    };
    let cases: Vec<(String, Option<String>, &str)> = vec![
        (
            failed("CLOUD_ACCOUNT_PERMISSION_FAILED", old),
            Some(account(9, "error")),
            "created",
        ),
        // Renamed since: its own task made it, so it may be this create's; not nothing.
        (
            failed("CLOUD_ACCOUNT_PERMISSION_FAILED", old),
            Some(renamed),
            "undecided",
        ),
        (
            failed("CLOUD_ACCOUNT_ACCESS_KEY_EXISTS", old),
            Some(account(9, "active")),
            "undecided",
        ),
        (
            failed("CLOUD_ACCOUNT_PERMISSION_FAILED", recent),
            None,
            "undecided",
        ),
        (
            failed("CLOUD_ACCOUNT_PERMISSION_FAILED", old),
            None,
            "nothing",
        ),
    ];
    for (task_json, listed, want) in cases {
        let (t, l) = (task_json.clone(), listed.clone());
        let server = TestServer::start(move |r| match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/v1/tasks") => reply(200, format!(r#"{{"tasks":[{t}]}}"#)),
            ("GET", "/v1/cloud-accounts") => reply(200, listing(l.as_slice())),
            // What the list shows is all there is: by its ID, the same.
            ("GET", "/v1/cloud-accounts/9") => match &l {
                Some(a) => reply(200, a.clone()),
                None => reply(404, NOT_FOUND_BODY),
            },
            _ => reply(500, "{}"),
        })
        .await;
        let got = client(&server)
            .resolve_pending_create(&pending_by_task_t())
            .await;
        let got = match got {
            Ok(ops::Resolution::Created(a)) if a.id == 9 => "created",
            Ok(ops::Resolution::NothingCreated) => "nothing",
            // The holder of a taken key has this create's name and key, but no task of its own
            // that is visible: not this create's, and not decided either.
            Ok(ops::Resolution::Undecided { .. }) => "undecided",
            other => panic!("{task_json}: {other:?}"),
        };
        assert_eq!(got, want, "{task_json} with {listed:?}");
    }
}

/// What a task a pending create's record names (or, after an ambiguous POST, a create task new
/// since it) made is never taken for nothing made, nor for this create's without proof: an
/// older provider's `pending-task:` record named candidate tasks, not certainly its own.
#[tokio::test]
async fn what_a_recorded_or_new_task_made_is_never_guessed_either_way() {
    let old = "2020-01-01T00:00:00Z";
    let just_now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a timestamp");
    let completed = |resource: Option<i64>| {
        json!({"taskId": "t", "commandType": "cloudAccountCreateRequest",
               "status": "processing-completed", "timestamp": old,
               "response": resource.map_or(json!({}), |id| json!({"resourceId": id}))})
        .to_string()
    };
    let failed = json!({"taskId": "t", "commandType": "cloudAccountCreateRequest",
                        "status": "processing-error", "timestamp": old,
                        "response": {"resourceId": 9, "error": {"type": "CLOUD_ACCOUNT_PERMISSION_FAILED"}}})
    .to_string();
    let account_9 = |name: &str, key: &str| {
        json!({"id": 9, "name": name, "provider": "AWS", "status": "active",
               "accessKeyId": key, "links": []})
        .to_string()
    };
    let own = pending_by_task_t();
    let legacy = ownership::PendingCreate {
        before: ownership::Before::Unrecorded,
        ..pending_by_task_t()
    };
    let ambiguous = ownership::PendingCreate {
        tasks: Vec::new(),
        ..pending_by_task_t()
    };
    let cases: Vec<(
        &str,
        &ownership::PendingCreate,
        String,
        Option<String>,
        &str,
    )> = vec![
        // A legacy record's candidate task made another client's account: never ours.
        (
            "legacy, their account",
            &legacy,
            completed(Some(9)),
            Some(account_9("theirs", "AKIATHEIRS")),
            "undecided",
        ),
        (
            "legacy, our name and key",
            &legacy,
            completed(Some(9)),
            Some(account_9("acct", "AKIAEXAMPLE")),
            "created",
        ),
        // Our own task, completed: ours whatever it is called now.
        (
            "own, renamed",
            &own,
            completed(Some(9)),
            Some(account_9("renamed", "AKIAEXAMPLE")),
            "created",
        ),
        // Our own task completed without naming what it made: nothing is proven, and no later
        // look will prove it (the task will not name it later). The user chooses now.
        (
            "own, no resourceId",
            &own,
            completed(None),
            None,
            "undecidable",
        ),
        (
            "own, no resourceId, an account with our name and key",
            &own,
            completed(None),
            Some(account_9("acct", "AKIAEXAMPLE")),
            "undecidable",
        ),
        // Another task new since the POST made an account with our name and key while our own
        // completed without naming its account: that one is not proven ours.
        (
            "own, no resourceId, another task's account with our name and key",
            &own,
            format!(
                "{},{}",
                completed(None),
                json!({"taskId": "u", "commandType": "cloudAccountCreateRequest",
                       "status": "processing-completed", "timestamp": old,
                       "response": {"resourceId": 9}})
            ),
            Some(account_9("acct", "AKIAEXAMPLE")),
            "undecidable",
        ),
        // An older provider's candidate task completed without naming an account: not proven
        // either way, and never taken for nothing made.
        (
            "legacy, no resourceId",
            &legacy,
            completed(None),
            None,
            "undecided",
        ),
        // Completed a moment ago: the account may only be too new to be listed, so the look
        // waits.
        (
            "own, no resourceId, just completed, nothing listed yet",
            &own,
            json!({"taskId": "t", "commandType": "cloudAccountCreateRequest",
                   "status": "processing-completed", "timestamp": just_now, "response": {}})
            .to_string(),
            None,
            "undecided",
        ),
        // Our own task failed after making an account, renamed since: not proven either way.
        (
            "own failed, renamed",
            &own,
            failed.clone(),
            Some(account_9("renamed", "AKIAEXAMPLE")),
            "undecided",
        ),
        // After an ambiguous POST, a new task made an account with our key under another
        // name: ours renamed, or not; never "nothing".
        (
            "ambiguous, our key renamed",
            &ambiguous,
            completed(Some(9)),
            Some(account_9("renamed", "AKIAEXAMPLE")),
            "undecided",
        ),
        (
            "ambiguous, their account",
            &ambiguous,
            completed(Some(9)),
            Some(account_9("theirs", "AKIATHEIRS")),
            "nothing",
        ),
    ];
    for (what, record, task_json, listed, want) in cases {
        let (t, l) = (task_json.clone(), listed.clone());
        let server = TestServer::start(move |r| match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/v1/tasks") => reply(200, format!(r#"{{"tasks":[{t}]}}"#)),
            ("GET", "/v1/cloud-accounts") => reply(200, listing(l.as_slice())),
            // What the list shows is all there is: by its ID, the same.
            ("GET", "/v1/cloud-accounts/9") => match &l {
                Some(a) => reply(200, a.clone()),
                None => reply(404, NOT_FOUND_BODY),
            },
            _ => reply(500, "{}"),
        })
        .await;
        let got = match client(&server).resolve_pending_create(record).await {
            Ok(ops::Resolution::Created(a)) if a.id == 9 => "created",
            Ok(ops::Resolution::NothingCreated) => "nothing",
            Ok(ops::Resolution::Undecided { candidates, .. }) => {
                assert_eq!(
                    candidates,
                    if listed.is_some() { vec![9] } else { vec![] },
                    "{what}"
                );
                "undecided"
            }
            Ok(ops::Resolution::Undecidable { candidates, .. }) => {
                assert_eq!(
                    candidates,
                    if listed.is_some() { vec![9] } else { vec![] },
                    "{what}"
                );
                "undecidable"
            }
            other => panic!("{what}: {other:?}"),
        };
        assert_eq!(got, want, "{what}");
    }
}

/// The account the create's own task made, which the list leaves out (stale or partial), is
/// asked for by its ID: only the API's answer for it says it is not there.
#[tokio::test]
async fn the_account_its_own_task_made_is_read_by_id_when_the_list_leaves_it_out() {
    for ((status, body), want) in [
        ((200, account(9, "active")), "created"),
        ((404, NOT_FOUND_BODY.to_owned()), "nothing"),
    ] {
        let server = TestServer::start(move |r| match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/v1/tasks") => reply(
                200,
                json!({"tasks": [{"taskId": "t", "commandType": "cloudAccountCreateRequest",
                        "status": "processing-completed", "timestamp": "2020-01-01T00:00:00Z",
                        "response": {"resourceId": 9}}]})
                .to_string(),
            ),
            ("GET", "/v1/cloud-accounts") => reply(200, listing(&[])),
            ("GET", "/v1/cloud-accounts/9") => reply(status, body.clone()),
            _ => reply(500, "{}"),
        })
        .await;
        let got = match client(&server)
            .resolve_pending_create(&pending_by_task_t())
            .await
        {
            Ok(ops::Resolution::Created(a)) if a.id == 9 => "created",
            Ok(ops::Resolution::NothingCreated) => "nothing",
            other => panic!("{other:?}"),
        };
        assert_eq!(got, want);
    }
}

#[tokio::test]
async fn a_create_refused_for_a_name_in_use_never_takes_the_account_its_task_names() {
    let server = TestServer::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/v1/cloud-accounts") => reply(200, listing(&[])),
        ("GET", "/v1/tasks") => reply(200, r#"{"tasks":[]}"#),
        ("POST", "/v1/cloud-accounts") => {
            reply(202, task("t1", "cloudAccountCreateRequest", "received"))
        }
        // Refused: the name is taken by account 9 (which also has this key and name).
        ("GET", "/v1/tasks/t1") => reply(
            200,
            json!({"taskId": "t1", "commandType": "cloudAccountCreateRequest", "status": "processing-error",
                   "response": {"resourceId": 9, "error": {"type": "CLOUD_ACCOUNT_NAME_EXISTS"}}})
            .to_string(),
        ),
        ("GET", "/v1/cloud-accounts/9") => reply(200, account(9, "active")),
        _ => reply(500, "{}"),
    })
    .await;
    let token = CancellationToken::new();
    let out = short_grace(&server)
        .bounded(far(), &token)
        .create_cloud_account_reconciled(&create_request())
        .await;
    assert!(
        !matches!(
            out,
            Ok(_) | Err(ops::CreateFailure::FailedWithAccount { .. })
        ),
        "{out:?}"
    );
}

/// A shared list fetch serves every waiting operation of the process: all its tries together
/// take at most one HTTP timeout, so one stuck list request cannot hold every wait for the
/// retry policy's whole budget (5 tries of a timeout each, plus growing pauses).
#[tokio::test]
async fn a_stuck_shared_list_fetch_ends_within_one_http_timeout() {
    let server = TestServer::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/v1/cloud-accounts") => reply(200, listing(&[])).delayed(Duration::from_secs(30)),
        _ => reply(500, "{}"),
    })
    .await;
    let mut cfg = config(&server.base_url);
    cfg.http_timeout = Duration::from_millis(300);
    cfg.retry = RetryPolicy {
        jitter: false,
        ..RetryPolicy::default()
    };
    let c = Client::new(cfg).unwrap();
    let started = Instant::now();
    let err = c.accounts_since(Instant::now()).await.unwrap_err();
    // Before the bound: 5 tries of 300 ms and pauses of 0.2 + 0.4 + 0.8 + 1.6 s, about 4 s.
    assert!(
        started.elapsed() < Duration::from_millis(2_000),
        "{:?}: {err}",
        started.elapsed()
    );
    assert_eq!(server.count("GET", "/v1/cloud-accounts"), 1, "{err}");
}

/// The first POST landed although answered 502, and neither its task nor its account is
/// visible before the create's deadline; the POST sent again is refused because the name is
/// taken. The holder nobody can see may be the first POST's account: the create is recorded
/// as pending, never as "nothing created" (which would orphan the account once it shows).
#[tokio::test]
async fn a_resent_create_refused_by_an_invisible_holder_is_pending_not_nothing() {
    let server = TestServer::start(first_post_lands_unseen(
        Duration::from_secs(30),
        Duration::ZERO,
        |_| None,
    ))
    .await;
    let out = interrupted_create(&server, 1_500).await;
    assert_eq!(server.count("POST", "/v1/cloud-accounts"), 2, "{out:?}");
    assert!(
        matches!(&out, Err(ops::CreateFailure::Pending { why, .. }) if why.contains("not visible yet")),
        "{out:?}"
    );
}

/// Another client's create of the same name and key, queued just before ours, makes account 9;
/// our POST is answered 502 although the API took it, and its task (refused: the name is taken)
/// shows in the task list only 200 ms later, within the task-visibility grace. A look before
/// the grace has passed cannot know that no other new task is on its way: account 9 is never
/// adopted on it, and once our refused task shows, whose account 9 is stays undecided.
#[tokio::test]
async fn an_account_made_by_a_task_our_answer_never_named_is_not_adopted_within_the_grace() {
    let posted_at: Arc<Mutex<Option<std::time::Instant>>> = Arc::new(Mutex::new(None));
    let p = posted_at.clone();
    let server = TestServer::start(move |r| {
        let since_post = p.lock().unwrap().map(|at| at.elapsed());
        match (r.method.as_str(), r.path.as_str(), since_post) {
            ("GET", "/v1/cloud-accounts", None) => reply(200, listing(&[])),
            ("GET", "/v1/cloud-accounts", Some(_)) => {
                reply(200, listing(&[account(9, "active")]))
            }
            ("GET", "/v1/cloud-accounts/9", Some(_)) => reply(200, account(9, "active")),
            ("GET", "/v1/tasks", None) => reply(200, r#"{"tasks":[]}"#),
            ("GET", "/v1/tasks", Some(since)) => {
                let mut tasks = vec![task_done("theirs", "cloudAccountCreateRequest", 9)];
                if since >= Duration::from_millis(200) {
                    tasks.push(
                        json!({"taskId": "ours", "commandType": "cloudAccountCreateRequest",
                               "status": "processing-error",
                               "response": {"resourceId": 9, "error": {"type": "CLOUD_ACCOUNT_NAME_EXISTS",
                               "status": "409 CONFLICT", "description": "name exists"}}})
                        .to_string(),
                    );
                }
                reply(200, format!(r#"{{"tasks":[{}]}}"#, tasks.join(",")))
            }
            ("POST", "/v1/cloud-accounts", _) => {
                p.lock().unwrap().get_or_insert_with(std::time::Instant::now);
                reply(502, r#"{"message":"bad gateway"}"#)
            }
            _ => reply(500, "{}"),
        }
    })
    .await;
    let out = interrupted_create(&server, 1_500).await;
    assert_eq!(server.count("POST", "/v1/cloud-accounts"), 1, "{out:?}");
    assert!(
        !matches!(out, Ok(ops::Created { id: 9 })),
        "adopted another client's account on a look within the grace: {out:?}"
    );
    assert!(
        recorded_as_pending(&out),
        "the create must be recorded: {out:?}"
    );
}

/// A pending create whose own task (named by its POST's answer) completed, making account 9,
/// which someone renamed before the next refresh: account 9 is still the create's. Taking it
/// for "nothing created" would drop the ID from state and orphan the account.
#[tokio::test]
async fn a_pending_create_s_own_completed_task_keeps_its_account_after_a_rename() {
    let renamed = {
        let mut a: Value = serde_json::from_str(&account(9, "active")).unwrap();
        a["name"] = json!("renamed-in-the-console");
        a.to_string()
    };
    let server = TestServer::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/v1/tasks") => reply(
            200,
            format!(
                r#"{{"tasks":[{}]}}"#,
                task_done("t", "cloudAccountCreateRequest", 9)
            ),
        ),
        ("GET", "/v1/cloud-accounts") => reply(200, listing(std::slice::from_ref(&renamed))),
        ("GET", "/v1/cloud-accounts/9") => reply(200, renamed.clone()),
        _ => reply(500, "{}"),
    })
    .await;
    let got = client(&server)
        .resolve_pending_create(&pending_by_task_t())
        .await;
    assert!(
        matches!(&got, Ok(ops::Resolution::Created(a)) if a.id == 9),
        "{got:?}"
    );
}

/// After a 502, a create task new since the POST shows a status this client does not know.
/// It has not ended, as far as anyone can tell: the create is held back and recorded as
/// pending, never sent again as if nothing were on its way.
#[tokio::test]
async fn a_new_task_in_a_status_this_client_does_not_know_holds_a_create_back() {
    let posted = Arc::new(AtomicBool::new(false));
    let p = posted.clone();
    let server = TestServer::start(move |r| {
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/v1/cloud-accounts") => reply(200, listing(&[])),
            ("GET", "/v1/tasks") if p.load(Ordering::SeqCst) => reply(
                200,
                r#"{"tasks":[{"taskId":"t1","commandType":"cloudAccountCreateRequest","status":"waiting-for-approval"}]}"#,
            ),
            ("GET", "/v1/tasks") => reply(200, r#"{"tasks":[]}"#),
            ("POST", "/v1/cloud-accounts") => {
                p.store(true, Ordering::SeqCst);
                reply(502, r#"{"message":"bad gateway"}"#)
            }
            _ => reply(500, "{}"),
        }
    })
    .await;
    let out = interrupted_create(&server, 1_000).await;
    assert_eq!(
        server.count("POST", "/v1/cloud-accounts"),
        1,
        "sent again while a task of unknown status may be it: {out:?}"
    );
    assert!(recorded_as_pending(&out), "{out:?}");
}

/// The API's clock runs ten minutes behind this machine's, as its `Date` header shows. A
/// pending create's task failed after naming account 9 five seconds ago by the API's own clock;
/// account 9 is not listed yet. By this machine's clock the task looks ten minutes old, long
/// past the visibility window, and the create would be resolved as "nothing made" (orphaning
/// account 9 once it shows). Task ages are read against the API's clock.
#[tokio::test]
async fn task_ages_are_read_on_the_api_s_clock_not_this_machine_s() {
    let behind = time::Duration::minutes(10);
    let server = TestServer::start(move |r| {
        let api_now = time::OffsetDateTime::now_utc() - behind;
        let date = api_now
            .format(time::macros::format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
            ))
            .unwrap();
        let stamp = (api_now - time::Duration::seconds(5))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let failed = json!({"taskId": "t", "commandType": "cloudAccountCreateRequest",
            "status": "processing-error", "timestamp": stamp,
            "response": {"resourceId": 9, "error": {"type": "CLOUD_ACCOUNT_PERMISSION_FAILED"}}});
        let mut answer = match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/v1/tasks") => reply(200, json!({"tasks": [failed]}).to_string()),
            ("GET", "/v1/cloud-accounts") => reply(200, listing(&[])),
            // Not visible by its ID yet either.
            ("GET", "/v1/cloud-accounts/9") => reply(404, NOT_FOUND_BODY),
            _ => reply(500, "{}"),
        };
        answer.headers.push(("date", date));
        answer
    })
    .await;
    let got = client(&server)
        .resolve_pending_create(&pending_by_task_t())
        .await;
    assert!(
        matches!(got, Ok(ops::Resolution::Undecided { .. })),
        "a task 5 s old by the API's clock was taken for an old one: {got:?}"
    );
}
