//! The `/v1` API: request log, rate limit, authentication and fault middleware, and the
//! cloud-account and task handlers, shaped after the OpenAPI contract.

use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, OriginalUri, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::model::{
    AccountView, Changes, Command, Provider, Task, World, iso_timestamp, status_line,
};
use super::net::ConnCtl;
use super::state::{
    CommitNote, DropPoint, EmulatorState, FaultKind, Fired, InterposedLog, InterposedWrite,
    Interposition, Knobs, LogEntry, MutState, RateDecision, When,
};

/// The largest request body the API reads (as the router's own limit).
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Redis Cloud account number reported by `GET /v1/cloud-accounts` (`accountId`).
pub const REDIS_ACCOUNT_ID: i64 = 40_001;

/// Marks a response whose connection was killed, so the log records "no response".
#[derive(Clone, Copy)]
struct Dropped;

/// Marks a response whose body is cut off by a dropped connection.
#[derive(Clone, Copy)]
struct CutShort;

/// Logs a request whose client went away before its answer (the future is dropped then).
struct AbandonedLog {
    st: EmulatorState,
    entry: Option<LogEntry>,
    note: CommitNote,
    started: Instant,
}

impl Drop for AbandonedLog {
    fn drop(&mut self) {
        if let Some(mut entry) = self.entry.take() {
            let committed = self.note.get();
            entry.committed = committed.is_some();
            entry.handler_status = committed.flatten();
            entry.abandoned = true;
            entry.duration_ms =
                u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.st.log_request(entry);
        }
    }
}

pub(crate) fn router() -> Router<EmulatorState> {
    Router::new()
        .route("/cloud-accounts", get(list_accounts).post(create_account))
        .route(
            "/cloud-accounts/{cloudAccountId}",
            get(get_account).put(update_account).delete(delete_account),
        )
        .route("/tasks", get(list_tasks))
        .route("/tasks/{taskId}", get(get_task))
        .fallback(gateway_not_found)
        .method_not_allowed_fallback(|| async {
            error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "BAD_REQUEST",
                "Method not allowed on this path",
            )
        })
}

/// JSON error body for synchronous errors: the same `{type, status, description}` object
/// real task errors carry, so clients need only one shape.
pub(crate) fn error_response(status: StatusCode, ty: &str, description: &str) -> Response {
    let body = json!({"error": {"type": ty, "status": status_line(status.as_u16()), "description": description}});
    (status, Json(body)).into_response()
}

fn html_response(status: StatusCode) -> Response {
    let title = match status {
        StatusCode::UNAUTHORIZED => "401 Authorization Required".to_owned(),
        s => format!("{} {}", s.as_u16(), s.canonical_reason().unwrap_or("Error")),
    };
    let body = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    (status, [(header::CONTENT_TYPE, "text/html")], body).into_response()
}

/// Unknown paths, under `/v1` or not: the gateway's own 404, which has no `error.type`, so it
/// cannot be mistaken for a missing account (typed `CLOUD_ACCOUNT_NOT_FOUND`) or task.
pub(crate) async fn gateway_not_found(
    State(st): State<EmulatorState>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    gateway_error(&st, StatusCode::NOT_FOUND, uri.path())
}

/// `{"timestamp", "status", "error", "path"}`: what a gateway or web framework answers on its own.
fn gateway_error(st: &EmulatorState, status: StatusCode, path: &str) -> Response {
    let body = json!({
        "timestamp": iso_timestamp(st.now_ms().saturating_add_signed(st.knobs().clock_skew_ms)),
        "status": status.as_u16(),
        "error": status.canonical_reason().unwrap_or("Error"),
        "path": path,
    });
    (status, Json(body)).into_response()
}

/// The request path as the client sent it (`nest` strips the `/v1` prefix from `uri()`).
fn full_path(req: &Request) -> String {
    req.extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().path().to_owned(), |u| u.path().to_owned())
}

/// Outermost layer: logs method, path, user agent, status, retry-after and duration (never
/// bodies or any other header) of every request except the admin API's.
pub(crate) async fn log_layer(
    State(st): State<EmulatorState>,
    req: Request,
    next: Next,
) -> Response {
    let path = full_path(&req);
    if path == "/admin" || path.starts_with("/admin/") {
        return next.run(req).await;
    }
    let note = CommitNote::default();
    let mut req = req;
    req.extensions_mut().insert(note.clone());
    let mut pending = AbandonedLog {
        st: st.clone(),
        entry: Some(LogEntry {
            method: req.method().to_string(),
            path,
            user_agent: req
                .headers()
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            retry_after_ms: None,
            status: None,
            committed: false,
            handler_status: None,
            abandoned: false,
            cut_short: false,
            time_ms: st.now_ms(),
            duration_ms: 0,
            note: Some(note.clone()),
            interposed: None,
        }),
        note: note.clone(),
        started: Instant::now(),
    };
    let resp = next.run(req).await;
    let dropped = resp.extensions().get::<Dropped>().is_some();
    let committed = note.get();
    if let Some(mut entry) = pending.entry.take() {
        entry.status = (!dropped).then(|| resp.status().as_u16());
        entry.cut_short = resp.extensions().get::<CutShort>().is_some();
        entry.retry_after_ms = resp
            .headers()
            .get("x-rate-limit-retry-after-seconds")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| (s * 1000.0).min(u64::MAX as f64) as u64);
        entry.committed = committed.is_some();
        entry.handler_status = committed.flatten();
        entry.duration_ms =
            u64::try_from(pending.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        st.log_request(entry);
    }
    resp
}

/// Rate limit (per presented API key, fixed one-minute windows), then auth, then faults.
/// Every response gets `X-Rate-Limit-Remaining`, unless the knob leaves it out.
pub(crate) async fn gate(State(st): State<EmulatorState>, req: Request, next: Next) -> Response {
    let key = req
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let (remaining, mut resp) = match st.rate_check(&key) {
        RateDecision::Limited { retry_after_s } => {
            let limit = st.knobs().rate_limit_per_minute;
            let mut resp = error_response(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                &format!("Rate limit of {limit} requests per minute exceeded"),
            );
            resp.headers_mut().insert(
                "x-rate-limit-retry-after-seconds",
                HeaderValue::from(retry_after_s),
            );
            (0, resp)
        }
        RateDecision::Allowed { remaining } => (remaining, authenticated(&st, req, next).await),
    };
    let knobs = st.knobs();
    if !knobs.omit_rate_limit_remaining {
        resp.headers_mut()
            .insert("x-rate-limit-remaining", HeaderValue::from(remaining));
    }
    // On the API's clock, as every timestamp it answers.
    if let Ok(date) = HeaderValue::from_str(&http_date(
        st.now_ms().saturating_add_signed(knobs.clock_skew_ms),
    )) {
        resp.headers_mut().insert(axum::http::header::DATE, date);
    }
    resp
}

/// Unix ms as an HTTP-date (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(ms: u64) -> String {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

async fn authenticated(st: &EmulatorState, req: Request, next: Next) -> Response {
    let h = req.headers();
    let key = h.get("x-api-key").map(HeaderValue::as_bytes);
    let secret = h.get("x-api-secret-key").map(HeaderValue::as_bytes);
    if !st.authorized(key, secret) {
        return if st.knobs().html_401 {
            html_response(StatusCode::UNAUTHORIZED)
        } else {
            error_response(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "Authentication failed for requested resource",
            )
        };
    }
    let path = full_path(&req);
    let note = req
        .extensions()
        .get::<CommitNote>()
        .cloned()
        .unwrap_or_default();
    let Fired {
        latency,
        action,
        interpositions,
    } = st.faults_for(req.method().as_str(), &path);
    if latency.before_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency.before_ms)).await;
    }
    let others = Others {
        st: st.clone(),
        interpositions,
        around: format!("{} {path}", req.method()),
    };
    // A latency with `commit`: the request is applied first, then its answer is slow, so a
    // client that gives up meanwhile cannot know that its write landed.
    let slow_answer = || async {
        if latency.after_commit_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(latency.after_commit_ms)).await;
        }
    };
    match action {
        Some(FaultKind::Status {
            status,
            html,
            retry_after_s,
            commit,
            commit_after_ms,
            error_type,
        }) => {
            if let Some(ms) = commit_after_ms {
                // Answered now, applied later: the handler runs on its own, whatever the client
                // does meanwhile. The body is read first, as the API had received it.
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
                    .await
                    .unwrap_or_default();
                let req = Request::from_parts(parts, axum::body::Body::from(body));
                let st = st.clone();
                let what = format!("{} {path}", req.method());
                let generation = st.begin_late_commit();
                let note = note.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    if st.late_commit_current(generation) {
                        let handled = others.around(req, next).await.status().as_u16();
                        // The request's log entry, written when it was answered, reads this.
                        note.record(Some(handled));
                        st.note_event(format!(
                            "late commit: {what} reached the API {ms} ms after its {status} answer, which answered HTTP {handled}"
                        ));
                    }
                    st.end_late_commit();
                });
            } else if commit {
                // The write lands exactly as without the fault; only its answer is lost.
                let handled = others.around(req, next).await.status().as_u16();
                note.record(Some(handled));
                slow_answer().await;
            } else {
                others.instead();
            }
            let mut resp = match error_type {
                Some(ty) => api_error_as(status, &ty),
                None => injected_status(st, status, html, &path),
            };
            if let Some(value) = retry_after_s.and_then(|v| HeaderValue::from_str(&v).ok()) {
                resp.headers_mut()
                    .insert("x-rate-limit-retry-after-seconds", value);
            }
            resp
        }
        Some(FaultKind::Drop {
            drop: DropPoint::MidAnswer,
        }) => {
            let resp = others.around(req, next).await;
            note.record(Some(resp.status().as_u16()));
            slow_answer().await;
            cut_short(resp).await
        }
        Some(FaultKind::Drop { drop }) => {
            let conn = req
                .extensions()
                .get::<ConnectInfo<ConnCtl>>()
                .map(|c| c.0.clone());
            if drop == DropPoint::AfterCommit {
                let handled = others.around(req, next).await.status().as_u16();
                note.record(Some(handled));
                slow_answer().await;
            } else {
                others.instead();
            }
            drop_connection(conn)
        }
        Some(FaultKind::Latency { .. } | FaultKind::Interpose { .. }) | None => {
            let resp = others.around(req, next).await;
            note.record(None);
            slow_answer().await;
            resp
        }
    }
}

/// The other API clients' writes that faults interpose on one request.
struct Others {
    st: EmulatorState,
    interpositions: Vec<Interposition>,
    /// The request they are interposed on, `"<METHOD> <path>"`.
    around: String,
}

impl Others {
    fn fire(&self, when: When) {
        for i in self.interpositions.iter().filter(|i| i.when == when) {
            interpose(&self.st, &i.write, when, &self.around);
        }
    }

    /// Applies the request between the writes due before and after it.
    async fn around(&self, req: Request, next: Next) -> Response {
        self.fire(When::Before);
        let resp = next.run(req).await;
        self.fire(When::After);
        resp
    }

    /// The request is not applied: the writes land when it would have been.
    fn instead(&self) {
        self.fire(When::Before);
        self.fire(When::After);
    }
}

/// Made up for another client's create: the emulator validates secrets, then discards them.
const FOREIGN_SECRET_KEY: &str = "interposed-client-secret-key";
const FOREIGN_CONSOLE_USER: &str = "interposed-client@example.com";
const FOREIGN_CONSOLE_PASSWORD: &str = "interposed-client-password";
const FOREIGN_SIGN_IN_URL: &str = "https://210987654321.signin.aws.amazon.com/console";

/// Submits another API client's write exactly as the REST API would take it (body validation,
/// account cap, `sync_errors`, 404 for an unknown account, the one task queue), then logs it as
/// interposed and prints an event.
fn interpose(st: &EmulatorState, write: &InterposedWrite, when: When, around: &str) {
    let (method, path, status, task_id, time_ms) = st.with_world(|w, knobs, ms, now| {
        ms.foreign = true;
        let (method, path, submitted) = match write {
            InterposedWrite::Create {
                name,
                access_key_id,
                provider,
                sign_in_login_url,
            } => {
                let body = json!({
                    "name": name,
                    "provider": provider.as_str(),
                    "accessKeyId": access_key_id,
                    "accessSecretKey": FOREIGN_SECRET_KEY,
                    "consoleUsername": FOREIGN_CONSOLE_USER,
                    "consolePassword": FOREIGN_CONSOLE_PASSWORD,
                    "signInLoginUrl": sign_in_login_url.as_deref().unwrap_or(FOREIGN_SIGN_IN_URL),
                });
                let submitted = validate_create(body.to_string().as_bytes())
                    .map_err(Refused::BadRequest)
                    .and_then(|changes| submit_create(w, knobs, ms, now, changes))
                    .map(|task| (StatusCode::ACCEPTED, task));
                ("POST", "/v1/cloud-accounts".to_owned(), submitted)
            }
            InterposedWrite::Update {
                update,
                name,
                access_key_id,
                sign_in_login_url,
            } => {
                // Unless it changes the key, the other client sends the one the account has.
                let key = access_key_id
                    .clone()
                    .or_else(|| w.accounts.get(update).and_then(|a| a.access_key_id.clone()));
                let mut body = json!({
                    "accessKeyId": key.unwrap_or_default(),
                    "accessSecretKey": FOREIGN_SECRET_KEY,
                    "consoleUsername": FOREIGN_CONSOLE_USER,
                    "consolePassword": FOREIGN_CONSOLE_PASSWORD,
                });
                if let Some(name) = name {
                    body["name"] = json!(name);
                }
                if let Some(url) = sign_in_login_url {
                    body["signInLoginUrl"] = json!(url);
                }
                let submitted = if w.accounts.contains_key(update) {
                    validate_update(body.to_string().as_bytes())
                        .map_err(Refused::BadRequest)
                        .and_then(|changes| submit_update(w, knobs, ms, now, *update, changes))
                } else {
                    Err(Refused::NotFound(*update))
                }
                .map(|task| (StatusCode::ACCEPTED, task));
                ("PUT", format!("/v1/cloud-accounts/{update}"), submitted)
            }
            InterposedWrite::Delete { delete } => {
                let submitted =
                    submit_delete(w, knobs, ms, now, *delete).map(|task| (StatusCode::OK, task));
                ("DELETE", format!("/v1/cloud-accounts/{delete}"), submitted)
            }
        };
        ms.foreign = false;
        let (status, task_id) = match submitted {
            // Its answer went to the other client: only its status and task are kept.
            Ok((status, task)) => (status.as_u16(), Some(task.id)),
            Err(refused) => (refused.status().as_u16(), None),
        };
        let task = task_id
            .as_deref()
            .map(|id| format!(", task {id}"))
            .unwrap_or_default();
        ms.events.push(format!(
            "interposed {} {around}: another client's {method} {path} answered HTTP {status}{task}",
            when.as_str()
        ));
        (method, path, status, task_id, now)
    });
    st.log_request(LogEntry {
        method: method.to_owned(),
        path,
        user_agent: None,
        retry_after_ms: None,
        status: Some(status),
        committed: true,
        handler_status: None,
        abandoned: false,
        cut_short: false,
        time_ms,
        duration_ms: 0,
        note: None,
        interposed: Some(InterposedLog {
            interposed: true,
            when,
            around: around.to_owned(),
            task_id,
        }),
    });
}

/// The API's own error answer with `status` and error type `ty`, described as the API does.
fn api_error_as(status: u16, ty: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let description =
        crate::model::task_error_info(ty).map_or("The request failed", |info| info.description);
    error_response(code, ty, description)
}

fn injected_status(st: &EmulatorState, status: u16, html: bool, path: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if html {
        return html_response(code);
    }
    let (ty, description) = match status {
        // Answered by the gateway in front of the API, not by the API: no `error.type`. A 404
        // of that shape is what a proxy or a wrong route gives: it says nothing about accounts.
        404 | 502 | 504 => return gateway_error(st, code, path),
        400 | 422 => ("BAD_REQUEST", "Bad request"),
        403 => (
            "FORBIDDEN",
            "The request was refused (the API key's source IP restrictions, or a resource that is not active)",
        ),
        409 => (
            "CONFLICT_ERROR",
            "The request conflicts with another resource or with one in progress",
        ),
        401 => (
            "UNAUTHORIZED",
            "Authentication failed for requested resource",
        ),
        408 => (
            "REQUEST_TIMEOUT",
            "The server didn't receive a complete request message within the server's allotted timeout period",
        ),
        412 => ("PRECONDITION_FAILED", "Feature flag for this flow is off"),
        429 => (
            "TOO_MANY_REQUESTS",
            "Too many resources are concurrently created / updated / deleted in the account",
        ),
        503 => (
            "SERVICE_UNAVAILABLE",
            "Server is temporarily unable to handle the request, please try again later",
        ),
        _ => (
            "GENERAL_ERROR",
            "General error occurred. Please contact Redis Labs support with your task ID",
        ),
    };
    error_response(code, ty, description)
}

/// `resp` with its status and headers (its full `Content-Length` among them) and the first half
/// of its body, after which the body fails: the server then drops the connection mid-answer.
async fn cut_short(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    parts.headers.insert(
        axum::http::header::CONTENT_LENGTH,
        HeaderValue::from(bytes.len()),
    );
    let head: Result<axum::body::Bytes, std::io::Error> = Ok(bytes.slice(..bytes.len() / 2));
    // The pause lets the server flush the head and the first half before the body fails (it
    // would otherwise drop the connection with nothing sent).
    let cut = futures::stream::once(async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "answer cut short by fault injection",
        ))
    });
    let mut resp = Response::from_parts(
        parts,
        axum::body::Body::from_stream(futures::StreamExt::chain(
            futures::stream::iter([head]),
            cut,
        )),
    );
    resp.extensions_mut().insert(CutShort);
    resp
}

fn drop_connection(conn: Option<ConnCtl>) -> Response {
    match conn {
        Some(conn) => {
            conn.kill();
            let mut resp = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            resp.extensions_mut().insert(Dropped);
            resp
        }
        // In-process (oneshot) use has no connection to kill; say so rather than hang.
        None => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "GENERAL_ERROR",
            "connection drop requested, but this transport has no connection to drop",
        ),
    }
}

/// Scheme and authority for links, taken from the Host header of the request.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn parse_account_id(raw: &str) -> Option<i64> {
    raw.parse::<i32>().ok().filter(|id| *id >= 0).map(i64::from)
}

fn bad_account_id() -> Response {
    bad_request("cloudAccountId must be a non-negative 32-bit integer")
}

fn account_not_found(id: i64) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "CLOUD_ACCOUNT_NOT_FOUND",
        &format!("Cloud account {id} was not found"),
    )
}

/// An account as the API answers it, under the knobs that shape answers.
fn account_view<'a>(
    account: &'a super::model::Account,
    base: &'a str,
    knobs: &super::state::Knobs,
) -> AccountView<'a> {
    let view = account.view(base);
    if knobs.omit_sign_in_login_url {
        view.without_sign_in_login_url()
    } else {
        view
    }
}

/// `GET /v1/cloud-accounts`'s answer.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountListView<'a> {
    account_id: i64,
    cloud_accounts: Vec<AccountView<'a>>,
    links: [ListLinkView<'a>; 1],
}

/// The list's one link, to itself.
#[derive(serde::Serialize)]
struct ListLinkView<'a> {
    rel: &'static str,
    href: std::fmt::Arguments<'a>,
    #[serde(rename = "type")]
    ty: &'static str,
}

async fn list_accounts(State(st): State<EmulatorState>, headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    st.with_world(|w, knobs, _, now| {
        let listed: Vec<_> = w
            .accounts
            .values()
            .filter(|a| a.is_listed(now) && !knobs.list_omits.contains(&a.id))
            .map(|a| a.as_listed(now))
            .collect();
        let cloud_accounts = listed
            .iter()
            .map(|a| {
                let view = account_view(a, &base, knobs);
                if knobs.mask_list_access_keys {
                    view.mask_access_key()
                } else {
                    view
                }
            })
            .collect();
        Json(AccountListView {
            account_id: REDIS_ACCOUNT_ID,
            cloud_accounts,
            links: [ListLinkView {
                rel: "self",
                href: format_args!("{base}/v1/cloud-accounts"),
                ty: "GET",
            }],
        })
        .into_response()
    })
}

async fn get_account(
    State(st): State<EmulatorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(id) = parse_account_id(&id) else {
        return bad_account_id();
    };
    let base = base_url(&headers);
    st.with_world(|w, knobs, _, now| match w.accounts.get(&id) {
        Some(a) if a.is_visible(now) => Json(account_view(a, &base, knobs)).into_response(),
        _ => account_not_found(id),
    })
}

/// First character, `***`, last character: the list's masking in the contract's example.
fn bad_request(msg: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, "BAD_REQUEST", msg)
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("request body must be a JSON object".to_owned()),
        Err(e) => Err(format!("request body is not valid JSON: {e}")),
    }
}

/// A required non-empty string. Messages name the field only, never its value (may be secret).
fn required(obj: &Map<String, Value>, name: &str) -> Result<String, String> {
    match obj.get(name) {
        None | Some(Value::Null) => Err(format!("{name} is required")),
        Some(Value::String(s)) if s.trim().is_empty() => Err(format!("{name} must not be empty")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("{name} must be a string")),
    }
}

fn optional(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => required(obj, name).map(Some),
    }
}

fn validate_create(body: &[u8]) -> Result<Changes, String> {
    let obj = parse_object(body)?;
    let name = required(&obj, "name")?;
    let access_key_id = required(&obj, "accessKeyId")?;
    for secret in ["accessSecretKey", "consoleUsername", "consolePassword"] {
        required(&obj, secret)?;
    }
    let sign_in_login_url = required(&obj, "signInLoginUrl")?;
    let provider = match optional(&obj, "provider")? {
        None => Provider::Aws,
        Some(p) => Provider::parse(&p).ok_or("provider must be one of AWS, GCP")?,
    };
    Ok(Changes {
        name: Some(name),
        provider: Some(provider),
        access_key_id: Some(access_key_id),
        sign_in_login_url: Some(sign_in_login_url),
    })
}

/// `provider` is not part of the update request schema and is ignored.
fn validate_update(body: &[u8]) -> Result<Changes, String> {
    let obj = parse_object(body)?;
    let access_key_id = required(&obj, "accessKeyId")?;
    for secret in ["accessSecretKey", "consoleUsername", "consolePassword"] {
        required(&obj, secret)?;
    }
    Ok(Changes {
        name: optional(&obj, "name")?,
        provider: None,
        access_key_id: Some(access_key_id),
        sign_in_login_url: optional(&obj, "signInLoginUrl")?,
    })
}

fn conflict(ty: &str) -> Response {
    let description = match ty {
        "CLOUD_ACCOUNT_NAME_EXISTS" => "Cloud account name already exists",
        _ => "Cloud account with this access key already exists",
    };
    error_response(StatusCode::CONFLICT, ty, description)
}

/// How the real API answers a cap on cloud accounts is not documented: the contract declares no
/// error body for any 4xx, and its error-type enum has no cloud-account limit type (other
/// resources' limits are types such as `*_LIMIT_EXCEEDED`). So: a synchronous 400 (the spec's
/// "client error") of the real, generic type `BAD_REQUEST`, whose description names the limit.
fn limit_reached(max: u32) -> Response {
    let plural = if max == 1 { "" } else { "s" };
    error_response(
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
        &format!("Cloud account limit reached: at most {max} cloud account{plural} allowed"),
    )
}

async fn create_account(
    State(st): State<EmulatorState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let changes = match validate_create(&body) {
        Ok(c) => c,
        Err(msg) => return bad_request(&msg),
    };
    let base = base_url(&headers);
    st.with_world(
        |w, knobs, ms, now| match submit_create(w, knobs, ms, now, changes) {
            Ok(task) => (
                StatusCode::ACCEPTED,
                Json(task.to_json_at(&base, now, knobs.clock_skew_ms)),
            )
                .into_response(),
            Err(refused) => refused.into_response(),
        },
    )
}

/// Why the API refuses a write at once, before any task.
enum Refused {
    BadRequest(String),
    Limit(u32),
    Conflict(&'static str),
    NotFound(i64),
}

impl Refused {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::Limit(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Self::BadRequest(msg) => bad_request(&msg),
            Self::Limit(max) => limit_reached(max),
            Self::Conflict(ty) => conflict(ty),
            Self::NotFound(id) => account_not_found(id),
        }
    }
}

/// A validated create, from our client or an interposed one: the account cap, then (with
/// `sync_errors`) duplicates, then the queue.
fn submit_create(
    w: &mut World,
    knobs: &mut Knobs,
    ms: &mut MutState<'_>,
    now: u64,
    changes: Changes,
) -> Result<Task, Refused> {
    if let Some(max) = knobs.max_cloud_accounts
        && w.quota_usage() >= usize::try_from(max).unwrap_or(usize::MAX)
    {
        return Err(Refused::Limit(max));
    }
    if knobs.sync_errors
        && let Some(ty) = w.conflict(None, &changes)
    {
        return Err(Refused::Conflict(ty));
    }
    Ok(ms.enqueue(w, knobs, now, Command::Create, None, changes))
}

/// Unknown ids answer 404 synchronously for PUT and DELETE too: the account lookup happens
/// before a task is created, as for GET (the observed task-level NOT_FOUND is kept for accounts
/// that vanish or are being deleted while the task waits, and for the internal account).
async fn update_account(
    State(st): State<EmulatorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(id) = parse_account_id(&id) else {
        return bad_account_id();
    };
    let changes = match validate_update(&body) {
        Ok(c) => c,
        Err(msg) => return bad_request(&msg),
    };
    let base = base_url(&headers);
    st.with_world(
        |w, knobs, ms, now| match submit_update(w, knobs, ms, now, id, changes) {
            Ok(task) => (
                StatusCode::ACCEPTED,
                Json(task.to_json_at(&base, now, knobs.clock_skew_ms)),
            )
                .into_response(),
            Err(refused) => refused.into_response(),
        },
    )
}

/// A validated update, from our client or an interposed one: 404 for an unknown account, then
/// (with `sync_errors`) duplicates, then the queue.
fn submit_update(
    w: &mut World,
    knobs: &mut Knobs,
    ms: &mut MutState<'_>,
    now: u64,
    id: i64,
    changes: Changes,
) -> Result<Task, Refused> {
    if !w.accounts.contains_key(&id) {
        return Err(Refused::NotFound(id));
    }
    if knobs.sync_errors
        && let Some(ty) = w.conflict(Some(id), &changes)
    {
        return Err(Refused::Conflict(ty));
    }
    Ok(ms.enqueue(w, knobs, now, Command::Update, Some(id), changes))
}

async fn delete_account(
    State(st): State<EmulatorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(id) = parse_account_id(&id) else {
        return bad_account_id();
    };
    let base = base_url(&headers);
    st.with_world(
        |w, knobs, ms, now| match submit_delete(w, knobs, ms, now, id) {
            Ok(task) => (
                StatusCode::OK,
                Json(task.to_json_at(&base, now, knobs.clock_skew_ms)),
            )
                .into_response(),
            Err(refused) => refused.into_response(),
        },
    )
}

/// A delete, from our client or an interposed one: 404 for an unknown account, else queued.
fn submit_delete(
    w: &mut World,
    knobs: &mut Knobs,
    ms: &mut MutState<'_>,
    now: u64,
    id: i64,
) -> Result<Task, Refused> {
    if !w.accounts.contains_key(&id) {
        return Err(Refused::NotFound(id));
    }
    Ok(ms.enqueue(w, knobs, now, Command::Delete, Some(id), Changes::default()))
}

/// Whether task reads see the task at `now`: past its 404 window, within the retention window.
fn task_readable(t: &Task, knobs: &Knobs, now: u64) -> bool {
    t.visible_ms <= now && t.created_ms.saturating_add(knobs.task_retention_ms) >= now
}

/// Whether `GET /v1/tasks` still lists the task at `now`: within the list's own window.
fn task_listed(t: &Task, knobs: &Knobs, now: u64) -> bool {
    knobs
        .task_list_retention_ms
        .is_none_or(|keep| t.created_ms.saturating_add(keep) >= now)
}

/// `TasksStateUpdate`.
#[derive(serde::Serialize)]
struct TaskListView<'a> {
    tasks: Vec<crate::model::TaskView<'a>>,
}

async fn list_tasks(State(st): State<EmulatorState>, headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    st.with_world(|w, knobs, _, now| {
        let mut tasks: Vec<_> = w
            .tasks
            .iter()
            .filter(|t| task_readable(t, knobs, now) && task_listed(t, knobs, now))
            .collect();
        tasks.sort_by(|a, b| {
            b.updated_ms
                .cmp(&a.updated_ms)
                .then(b.created_ms.cmp(&a.created_ms))
        });
        let tasks: Vec<_> = tasks
            .iter()
            .map(|t| t.view_at(&base, now, knobs.clock_skew_ms))
            .collect();
        Json(TaskListView { tasks }).into_response()
    })
}

async fn get_task(
    State(st): State<EmulatorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let base = base_url(&headers);
    st.with_world(|w, knobs, _, now| {
        match w
            .tasks
            .iter()
            .find(|t| t.id == id && task_readable(t, knobs, now))
        {
            Some(t) => Json(t.to_json_at(&base, now, knobs.clock_skew_ms)).into_response(),
            None => error_response(
                StatusCode::NOT_FOUND,
                "ENTITY_NOT_FOUND",
                "Task was not found",
            ),
        }
    })
}
