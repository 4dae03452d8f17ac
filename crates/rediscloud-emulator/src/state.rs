//! Shared emulator state: the persisted world, runtime knobs, faults, rate-limit windows, the
//! request log and lifecycle event output. Every mutation of the world is persisted atomically.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::EmulatorConfig;
use super::model::{
    Changes, Command, FINAL_STATUSES, Provider, TASK_RETENTION_MS, Task, TaskStatus, World,
    is_novel_status,
};

const MAX_LOG: usize = 10_000;
const MAX_EVENTS: usize = 1_000;

/// Source of "now" in unix milliseconds. Tests use a manual clock to step time deterministically.
#[derive(Clone, Debug)]
pub(crate) enum Clock {
    System,
    #[cfg_attr(not(test), allow(dead_code))]
    Manual(Arc<AtomicU64>),
}

impl Clock {
    pub(crate) fn now_ms(&self) -> u64 {
        match self {
            Self::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0),
            Self::Manual(ms) => ms.load(Ordering::SeqCst),
        }
    }
}

/// Runtime knobs, changeable through `PUT /admin/config` (a JSON merge of these fields).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Knobs {
    /// Duration of each task stage (`received`, then `processing-in-progress`).
    pub task_stage_ms: u64,
    /// Time from task completion to the account's final status.
    pub activation_ms: u64,
    /// Window during which a brand-new task id answers 404.
    pub task_404_ms: u64,
    /// A new task reports `initialized` (a status of the contract) for this long, then `received`.
    #[serde(default)]
    pub initialized_ms: u64,
    /// Time a deleted account stays visible as `deleted` after its task completed.
    pub delete_ms: u64,
    /// Report duplicate names/keys synchronously (409) instead of as a failed task.
    pub sync_errors: bool,
    /// Requests per fixed window per API key (the real API's is one minute).
    pub rate_limit_per_minute: u32,
    /// The length of that window (default one minute; tests shorten it).
    #[serde(default = "default_rate_window_ms")]
    pub rate_window_ms: u64,
    /// Where a window starts: `clock` (at multiples of its length, e.g. each clock minute) or
    /// `first_request` (at a key's first request after the previous window ended). The API does
    /// not document which it is; a client must work with both.
    #[serde(default = "default_rate_window_start")]
    pub rate_window_start: String,
    /// Status the next provisions (create/update) end in: `active`, `active-error` or `error`.
    pub final_status: String,
    /// How many provisions `final_status` applies to; `null` means all of them.
    pub final_status_count: Option<u32>,
    /// Answer 401 with an nginx-style HTML page instead of JSON.
    pub html_401: bool,
    /// A new account answers 404 and is not listed until this long after its create task
    /// completed (the eventual consistency the real API shows).
    #[serde(default)]
    pub account_404_ms: u64,
    /// `GET /v1/cloud-accounts` shows access key ids masked (`A***E`); GET by id never does.
    #[serde(default)]
    pub mask_list_access_keys: bool,
    /// Account answers leave out `signInLoginUrl`.
    #[serde(default)]
    pub omit_sign_in_login_url: bool,
    /// Answers leave out `X-Rate-Limit-Remaining` (429s keep their retry-after).
    #[serde(default)]
    pub omit_rate_limit_remaining: bool,
    /// How far the API's clock runs ahead of this machine's (ms; negative when behind): every
    /// timestamp it answers and its `Date` header are on that clock.
    #[serde(default)]
    pub clock_skew_ms: i64,
    /// Creates beyond this many cloud accounts (internal account excluded, creates still queued
    /// included) answer 400 synchronously; `null` means no cap.
    #[serde(default)]
    pub max_cloud_accounts: Option<u32>,
    /// A new account joins `GET /v1/cloud-accounts` only this long after GET by id first finds
    /// it (itself `account_404_ms` after its task completed), and an updated or deleted one shows
    /// there as it was before the write until this long after its task completed: the list lags
    /// behind reads by id.
    #[serde(default)]
    pub list_lag_ms: u64,
    /// `GET /v1/tasks` lists, and `GET /v1/tasks/{id}` finds, only the tasks submitted within this
    /// window; older ones answer the 404 of an unknown task. They still run to their end.
    #[serde(default = "default_task_retention_ms")]
    pub task_retention_ms: u64,
    /// `GET /v1/tasks` lists only the tasks submitted within this window, while GET by id still
    /// finds them until `task_retention_ms`: the list may drop a task before its own address
    /// does. `null` (the default) means the same window as `task_retention_ms`.
    #[serde(default)]
    pub task_list_retention_ms: Option<u64>,
    /// `GET /v1/cloud-accounts` leaves these accounts out, whatever their age, while GET by id
    /// still finds them: a list that is stale or partial for reasons no client can see.
    #[serde(default)]
    pub list_omits: Vec<i64>,
    /// Tasks this client sends while this is on complete without naming what they made or
    /// changed: the contract makes a completed task's `resourceId` optional. Fixed when a task
    /// is accepted, as every task's other settings are; another client's interposed writes
    /// still name theirs.
    #[serde(default)]
    pub omit_task_resource_id: bool,
}

fn default_task_retention_ms() -> u64 {
    TASK_RETENTION_MS
}

fn default_rate_window_ms() -> u64 {
    60_000
}

fn default_rate_window_start() -> String {
    "clock".to_owned()
}

impl Knobs {
    pub(crate) fn from_config(cfg: &EmulatorConfig) -> Self {
        Self {
            task_stage_ms: cfg.task_stage_ms,
            activation_ms: cfg.activation_ms,
            task_404_ms: cfg.task_404_ms,
            initialized_ms: cfg.initialized_ms,
            delete_ms: cfg.delete_ms,
            sync_errors: cfg.sync_errors,
            rate_limit_per_minute: cfg.rate_limit_per_minute,
            rate_window_ms: cfg.rate_window_ms.max(1),
            rate_window_start: cfg.rate_window_start.clone(),
            final_status: "active".to_owned(),
            final_status_count: None,
            html_401: false,
            account_404_ms: cfg.account_404_ms,
            mask_list_access_keys: cfg.mask_list_access_keys,
            omit_sign_in_login_url: cfg.omit_sign_in_login_url,
            omit_rate_limit_remaining: cfg.omit_rate_limit_remaining,
            clock_skew_ms: cfg.clock_skew_ms,
            max_cloud_accounts: cfg.max_cloud_accounts,
            list_lag_ms: cfg.list_lag_ms,
            task_retention_ms: cfg.task_retention_ms,
            task_list_retention_ms: cfg.task_list_retention_ms,
            list_omits: Vec::new(),
            omit_task_resource_id: false,
        }
    }

    /// Merges a JSON object into the knobs; rejects unknown fields and bad values.
    pub(crate) fn merged(&self, patch: &Value) -> Result<Self, String> {
        let Value::Object(patch) = patch else {
            return Err("config must be a JSON object".to_owned());
        };
        let mut current = serde_json::to_value(self).map_err(|e| e.to_string())?;
        if let Value::Object(map) = &mut current {
            for (k, v) in patch {
                map.insert(k.clone(), v.clone());
            }
        }
        let merged: Self =
            serde_json::from_value(current).map_err(|e| format!("invalid config: {e}"))?;
        if !FINAL_STATUSES.contains(&merged.final_status.as_str())
            && !is_novel_status(&merged.final_status)
        {
            return Err(format!(
                "final_status must be one of {FINAL_STATUSES:?} or a status the contract does not know yet (lowercase words joined by hyphens)"
            ));
        }
        if !["clock", "first_request"].contains(&merged.rate_window_start.as_str()) {
            return Err("rate_window_start must be \"clock\" or \"first_request\"".to_owned());
        }
        if merged.rate_window_ms == 0 {
            return Err("rate_window_ms must be positive".to_owned());
        }
        Ok(merged)
    }

    /// The final status for the next provision, counting down `final_status_count`.
    fn take_final_status(&mut self) -> String {
        let status = self.final_status.clone();
        if let Some(n) = self.final_status_count {
            if n <= 1 {
                self.final_status = "active".to_owned();
                self.final_status_count = None;
            } else {
                self.final_status_count = Some(n - 1);
            }
        }
        status
    }
}

/// Statuses a fault may inject: every error status the contract declares for these operations,
/// and the 502 and 504 of a gateway in front of the API.
const FAULT_STATUSES: [u16; 13] = [
    400, 401, 403, 404, 408, 409, 412, 422, 429, 500, 502, 503, 504,
];

/// `retry_after_s`: any JSON number (its text as written, except that the JSON parser normalises
/// exponents: `1e20` is sent as `1e+20`) or any string usable as a header value (sent exactly),
/// so tests can send absurd values (`1e20`, `0.25`, `-1`, `"abc"`) the client must survive.
fn retry_after(v: Option<&Value>) -> Result<Option<String>, String> {
    let text = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("retry_after_s must be a number or a string".to_owned()),
    };
    HeaderValue::from_str(&text)
        .map(|_| Some(text))
        .map_err(|_| "retry_after_s is not a valid header value".to_owned())
}

/// How an injected fault fires: a fixed number of times or with a probability.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Count(u32),
    Probability(f64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropPoint {
    /// The request is not applied.
    BeforeCommit,
    /// The request is applied, then the connection is dropped.
    AfterCommit,
    /// The request is applied and its answer's status line and headers are sent, then the
    /// connection is dropped halfway through the body.
    MidAnswer,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// `retry_after_s` adds `X-Rate-Limit-Retry-After-Seconds`, as the real API's 429s carry; it
    /// is sent verbatim, whatever it says. With `commit` the request is applied first and only
    /// the answer is replaced (the client cannot tell whether its write landed). With
    /// `commit_after_ms` the error is answered at once and the request is applied that long
    /// afterwards, as when a gateway gives up while the API keeps working.
    Status {
        status: u16,
        html: bool,
        retry_after_s: Option<String>,
        commit: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commit_after_ms: Option<u64>,
        /// Answer as the API itself does, with this `error.type` (one of the contract's error
        /// types), instead of the status's generic answer: a 404 `CLOUD_ACCOUNT_NOT_FOUND` for an
        /// account the API has (a read that lags), a 409 `CLOUD_ACCOUNT_NAME_EXISTS`, and so on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_type: Option<String>,
    },
    /// A slow answer. Without `commit` the delay comes before the request reaches the API (a
    /// client that gives up meanwhile changed nothing); with it the request is applied first and
    /// only its answer is late (a client that gives up cannot know its write landed).
    Latency {
        latency_ms: u64,
        commit: bool,
    },
    Drop {
        drop: DropPoint,
    },
    /// Another API client's write, submitted through the API's own logic immediately before or
    /// after the matching request is applied. Fires alongside whichever other fault the request
    /// gets (see [`EmulatorState::faults_for`]).
    Interpose {
        interpose: InterposedWrite,
        when: When,
    },
}

/// Whether an interposed write lands just before or just after the request it is interposed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    Before,
    After,
}

impl When {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Before => "before",
            Self::After => "after",
        }
    }
}

/// The write another API client makes: a full create (its secrets, console user and, unless
/// given, sign-in URL are made up when it is sent), the update of an account (its secrets and
/// console user made up, its key the account's own unless given), or the delete of one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum InterposedWrite {
    Create {
        name: String,
        access_key_id: String,
        provider: Provider,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sign_in_login_url: Option<String>,
    },
    Update {
        update: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access_key_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sign_in_login_url: Option<String>,
    },
    Delete {
        delete: i64,
    },
}

const INTERPOSE_SHAPE: &str = "interpose must be {\"name\": ..., \"access_key_id\": ..., \"provider\": \"AWS\"|\"GCP\", \"sign_in_login_url\": ... (optional)} for another client's create, {\"update\": <account id>, \"name\", \"access_key_id\", \"sign_in_login_url\" (each optional)} for its update, or {\"delete\": <account id>} for its delete";

/// An account id in an interposed write: a non-negative 32-bit integer.
fn interposed_id(v: &Value, field: &str) -> Result<i64, String> {
    v.as_i64()
        .filter(|id| (0..=i64::from(i32::MAX)).contains(id))
        .ok_or_else(|| {
            format!("interpose.{field} must be an account id (a non-negative 32-bit integer)")
        })
}

impl InterposedWrite {
    fn parse(v: &Value) -> Result<Self, String> {
        let obj = v.as_object().ok_or(INTERPOSE_SHAPE)?;
        if let Some(id) = obj.get("delete") {
            if let Some(other) = obj.keys().find(|k| *k != "delete") {
                return Err(format!(
                    "interpose.{other} does not go with interpose.delete; {INTERPOSE_SHAPE}"
                ));
            }
            return Ok(Self::Delete {
                delete: interposed_id(id, "delete")?,
            });
        }
        let text = |name: &str| -> Result<Option<String>, String> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
                Some(_) => Err(format!("interpose.{name} must be a non-empty string")),
            }
        };
        if let Some(id) = obj.get("update") {
            const FIELDS: [&str; 4] = ["update", "name", "access_key_id", "sign_in_login_url"];
            if let Some(other) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
                return Err(format!(
                    "interpose.{other} does not go with interpose.update; {INTERPOSE_SHAPE}"
                ));
            }
            return Ok(Self::Update {
                update: interposed_id(id, "update")?,
                name: text("name")?,
                access_key_id: text("access_key_id")?,
                sign_in_login_url: text("sign_in_login_url")?,
            });
        }
        const FIELDS: [&str; 4] = ["name", "access_key_id", "provider", "sign_in_login_url"];
        if let Some(other) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(format!(
                "unknown field interpose.{other}; {INTERPOSE_SHAPE}"
            ));
        }
        let name = text("name")?
            .ok_or_else(|| format!("interpose.name is required; {INTERPOSE_SHAPE}"))?;
        let access_key_id = text("access_key_id")?
            .ok_or_else(|| format!("interpose.access_key_id is required; {INTERPOSE_SHAPE}"))?;
        let provider = match text("provider")? {
            None => Provider::Aws,
            Some(p) => Provider::parse(&p).ok_or("interpose.provider must be AWS or GCP")?,
        };
        Ok(Self::Create {
            name,
            access_key_id,
            provider,
            sign_in_login_url: text("sign_in_login_url")?,
        })
    }
}

/// An interposed write due on one request.
#[derive(Clone, Debug)]
pub(crate) struct Interposition {
    pub write: InterposedWrite,
    pub when: When,
}

/// What the faults do to one request.
#[derive(Debug, Default)]
pub(crate) struct Fired {
    pub latency: Latency,
    /// The one status or drop fault the request gets, if any.
    pub action: Option<FaultKind>,
    /// Every interposed write due on it, in the order the faults were added.
    pub interpositions: Vec<Interposition>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    pub kind: FaultKind,
    pub trigger: Trigger,
    pub method: Option<String>,
    pub path_prefix: Option<String>,
}

impl Fault {
    /// Parses the `POST /admin/faults` body.
    pub(crate) fn parse(v: &Value) -> Result<Self, String> {
        let obj = v.as_object().ok_or("fault must be a JSON object")?;
        let u64_field = |name: &str| -> Result<Option<u64>, String> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(x) => x
                    .as_u64()
                    .map(Some)
                    .ok_or(format!("{name} must be a non-negative integer")),
            }
        };
        let str_field = |name: &str| -> Result<Option<String>, String> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(format!("{name} must be a string")),
            }
        };
        let bool_field = |name: &str| -> Result<bool, String> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(format!("{name} must be a boolean")),
            }
        };
        let kind = if let Some(spec) = obj.get("interpose").filter(|v| !v.is_null()) {
            let alone = [
                "status",
                "latency_ms",
                "drop",
                "commit",
                "commit_after_ms",
                "html",
                "retry_after_s",
                "error_type",
            ];
            if let Some(other) = alone
                .iter()
                .find(|k| obj.get(**k).is_some_and(|v| !v.is_null()))
            {
                return Err(format!(
                    "interpose does not go with {other} in one fault; add them as separate faults (both fire on the same request)"
                ));
            }
            let when = match str_field("when")?.as_deref() {
                Some("before") => When::Before,
                Some("after") => When::After,
                Some(_) => return Err("when must be before or after".to_owned()),
                None => return Err("interpose needs when: before or after".to_owned()),
            };
            FaultKind::Interpose {
                interpose: InterposedWrite::parse(spec)?,
                when,
            }
        } else if obj.get("when").is_some_and(|v| !v.is_null()) {
            return Err("when applies to interpose faults only".to_owned());
        } else if let Some(status) = u64_field("status")? {
            let status = u16::try_from(status).map_err(|_| "status out of range")?;
            if !FAULT_STATUSES.contains(&status) {
                return Err(format!("status must be one of {FAULT_STATUSES:?}"));
            }
            let html = bool_field("html")?;
            let error_type = str_field("error_type")?;
            if let Some(ty) = &error_type {
                if html {
                    return Err(
                        "error_type is the API's own JSON answer; it does not go with html"
                            .to_owned(),
                    );
                }
                if !crate::model::TASK_ERROR_TYPES.contains(&ty.as_str()) {
                    return Err(format!(
                        "error_type must be one of {:?}",
                        crate::model::TASK_ERROR_TYPES
                    ));
                }
            }
            FaultKind::Status {
                status,
                html,
                retry_after_s: retry_after(obj.get("retry_after_s"))?,
                commit: bool_field("commit")?,
                commit_after_ms: u64_field("commit_after_ms")?,
                error_type,
            }
        } else if let Some(latency_ms) = u64_field("latency_ms")? {
            FaultKind::Latency {
                latency_ms,
                commit: bool_field("commit")?,
            }
        } else if bool_field("commit")? || obj.contains_key("commit_after_ms") {
            return Err(
                "commit applies to status and latency faults; use drop: after_commit for a dropped connection"
                    .to_owned(),
            );
        } else if let Some(drop) = str_field("drop")? {
            let drop = match drop.as_str() {
                "before_commit" => DropPoint::BeforeCommit,
                "after_commit" => DropPoint::AfterCommit,
                "mid_answer" => DropPoint::MidAnswer,
                _ => {
                    return Err("drop must be before_commit, after_commit or mid_answer".to_owned());
                }
            };
            FaultKind::Drop { drop }
        } else {
            return Err("fault needs one of status, latency_ms, drop or interpose".to_owned());
        };
        let trigger = match (u64_field("count")?, obj.get("probability")) {
            (Some(_), Some(_)) => {
                return Err("give either count or probability, not both".to_owned());
            }
            (Some(0), None) => return Err("count must be at least 1".to_owned()),
            (Some(n), None) => Trigger::Count(u32::try_from(n).map_err(|_| "count too large")?),
            (None, Some(p)) => match p.as_f64() {
                Some(p) if (0.0..=1.0).contains(&p) => Trigger::Probability(p),
                _ => return Err("probability must be a number between 0 and 1".to_owned()),
            },
            (None, None) => Trigger::Count(1),
        };
        let method = str_field("method")?.map(|m| m.to_ascii_uppercase());
        Ok(Self {
            kind,
            trigger,
            method,
            path_prefix: str_field("path_prefix")?,
        })
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| path.starts_with(p))
    }

    /// Whether the fault fires for this request; consumes one use of a counted fault.
    fn fire(&mut self) -> bool {
        match &mut self.trigger {
            Trigger::Count(n) if *n > 0 => {
                *n -= 1;
                true
            }
            Trigger::Count(_) => false,
            Trigger::Probability(p) => rand::random::<f64>() < *p,
        }
    }

    fn exhausted(&self) -> bool {
        matches!(self.trigger, Trigger::Count(0))
    }
}

/// The delays the latency faults add to one request.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Latency {
    /// Before the request reaches the API.
    pub before_ms: u64,
    /// After the API applied it, before the answer.
    pub after_commit_ms: u64,
}

/// Set once the API handler has run (a write was applied, if it was one); carries the
/// handler's own status when a fault replaced (or dropped) its answer. Kept in the request, so
/// that the log knows it even when the client goes away before the answer, and shared with the
/// request's log entry, so that a write applied after its answer shows as committed once it is.
#[derive(Clone, Debug, Default)]
pub(crate) struct CommitNote(std::sync::Arc<std::sync::Mutex<Option<Option<u16>>>>);

impl CommitNote {
    pub(crate) fn record(&self, handler_status: Option<u16>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(handler_status);
    }

    pub(crate) fn get(&self) -> Option<Option<u16>> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One line of the request log: never bodies, query strings or headers, except the two that
/// name who sent a request and how long it was told to wait.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub method: String,
    pub path: String,
    /// The request's `User-Agent`: tells apart clients that share a key (a provider appends
    /// `TF_APPEND_USER_AGENT` to its own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// A 429's `X-Rate-Limit-Retry-After-Seconds`, in milliseconds, when it is a number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// `None` when the connection was dropped without a response.
    pub status: Option<u16>,
    /// Whether the API handler processed the request (a write was applied, if it was one);
    /// false when auth, the rate limit or a fault answered first.
    pub committed: bool,
    /// What the handler answered when a fault replaced or dropped that answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler_status: Option<u16>,
    /// The client went away before the answer (it gave up waiting); `status` is then `None`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub abandoned: bool,
    /// The answer's status and headers were sent, and the connection was dropped partway
    /// through its body.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cut_short: bool,
    pub time_ms: u64,
    pub duration_ms: u64,
    /// What the request's handler has done so far, read again whenever the log is read.
    #[serde(skip)]
    pub(crate) note: Option<CommitNote>,
    /// Set on another client's write that a fault interposed (never on the client's own
    /// requests): `"interposed": true`, `when`, `around` and, if it made one, `taskId`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub interposed: Option<InterposedLog>,
}

/// The log's account of an interposed write. It is logged when it is made, so before the entry
/// of the request it was interposed on (written when that request is answered).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InterposedLog {
    /// Always true: tells these entries apart from the client's own.
    pub interposed: bool,
    /// Before or after the request it was interposed on was applied.
    pub when: When,
    /// That request, as `"<METHOD> <path>"`.
    pub around: String,
    /// The task the write queued, if the API accepted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
}

/// Result of the per-key fixed-window rate limiter.
pub(crate) enum RateDecision {
    Allowed { remaining: u32 },
    Limited { retry_after_s: u64 },
}

struct Inner {
    world: World,
    knobs: Knobs,
    faults: Vec<Fault>,
    /// Error type, whether a create fails only after making its account, and how many tasks.
    task_errors: VecDeque<(String, bool, u32)>,
    /// API key -> (window index, requests counted in it). In memory only.
    rate: HashMap<String, (u64, u32)>,
    log: VecDeque<LogEntry>,
    events: VecDeque<String>,
    /// Requests answered already and still to be applied (`commit_after_ms`).
    late_commits: u32,
    /// Bumped by a reset: a late commit from before it is dropped.
    generation: u64,
}

struct Shared {
    inner: Mutex<Inner>,
    clock: Clock,
    api_key: String,
    secret_key: String,
    state_file: Option<PathBuf>,
    quiet: bool,
    startup_knobs: Knobs,
}

/// Handle to the emulator's state; cheap to clone.
#[derive(Clone)]
pub struct EmulatorState(Arc<Shared>);

impl fmt::Debug for EmulatorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorState")
            .field("state_file", &self.0.state_file)
            .field("api_key", &"<redacted>")
            .field("secret_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    world: World,
}

fn load_world(path: &Path) -> std::io::Result<World> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let file: StateFile = serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("state file {}: {e}", path.display()),
                )
            })?;
            Ok(file.world)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(World::new()),
        Err(e) => Err(e),
    }
}

fn write_atomically(path: &Path, world: &World) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(&StateFile {
        version: 1,
        world: world.clone(),
    })
    .map_err(std::io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

impl EmulatorState {
    /// Builds the state, loading the world from `cfg.state_file` when it exists.
    pub fn new(cfg: &EmulatorConfig) -> std::io::Result<Self> {
        Self::with_clock(cfg, Clock::System)
    }

    pub(crate) fn with_clock(cfg: &EmulatorConfig, clock: Clock) -> std::io::Result<Self> {
        let world = match &cfg.state_file {
            Some(path) => load_world(path)?,
            None => World::new(),
        };
        let knobs = Knobs::from_config(cfg);
        Ok(Self(Arc::new(Shared {
            inner: Mutex::new(Inner {
                world,
                knobs: knobs.clone(),
                faults: Vec::new(),
                task_errors: VecDeque::new(),
                rate: HashMap::new(),
                log: VecDeque::new(),
                events: VecDeque::new(),
                late_commits: 0,
                generation: 0,
            }),
            clock,
            api_key: cfg.api_key.clone(),
            secret_key: cfg.secret_key.clone(),
            state_file: cfg.state_file.clone(),
            quiet: cfg.quiet,
            startup_knobs: knobs,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the data half-updated in a way that
        // matters more than stopping the emulator would, so poisoning is ignored.
        self.0.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.0.clock.now_ms()
    }

    /// Both API headers must match (compared in constant time).
    pub(crate) fn authorized(&self, api_key: Option<&[u8]>, secret_key: Option<&[u8]>) -> bool {
        fn ct_eq(a: &[u8], b: &[u8]) -> bool {
            a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
        }
        matches!((api_key, secret_key), (Some(k), Some(s))
            if ct_eq(k, self.0.api_key.as_bytes()) & ct_eq(s, self.0.secret_key.as_bytes()))
    }

    /// Runs `f` on the world after catching up to now; persists and prints events on change.
    pub(crate) fn with_world<R>(
        &self,
        f: impl FnOnce(&mut World, &mut Knobs, &mut MutState<'_>, u64) -> R,
    ) -> R {
        let now = self.now_ms();
        let mut events = Vec::new();
        let (result, events) = {
            let mut guard = self.lock();
            let inner = &mut *guard;
            let keep_ms = inner.knobs.task_retention_ms.max(TASK_RETENTION_MS);
            let mut changed = inner.world.prune_tasks(now, keep_ms);
            changed |= inner.world.advance(now, &mut events);
            let mut ms = MutState {
                changed: false,
                task_errors: &mut inner.task_errors,
                events: &mut events,
                foreign: false,
            };
            let result = f(&mut inner.world, &mut inner.knobs, &mut ms, now);
            changed |= ms.changed;
            if changed {
                self.persist(&inner.world);
            }
            for e in &events {
                if inner.events.len() >= MAX_EVENTS {
                    inner.events.pop_front();
                }
                inner.events.push_back(e.clone());
            }
            (result, events)
        };
        self.print_events(&events);
        result
    }

    /// Records (and prints, unless quiet) an event that no world transition produced.
    pub(crate) fn note_event(&self, event: String) {
        {
            let mut inner = self.lock();
            if inner.events.len() >= MAX_EVENTS {
                inner.events.pop_front();
            }
            inner.events.push_back(event.clone());
        }
        self.print_events(&[event]);
    }

    /// Catches up with time (called by the background ticker and before every request).
    pub fn tick(&self) {
        self.with_world(|_, _, _, _| ());
    }

    fn persist(&self, world: &World) {
        if let Some(path) = &self.0.state_file
            && let Err(e) = write_atomically(path, world)
        {
            tracing::error!(path = %path.display(), error = %e, "failed to write emulator state file");
        }
    }

    /// Writes the state file now (used at shutdown).
    pub(crate) fn flush(&self) {
        let guard = self.lock();
        self.persist(&guard.world);
    }

    fn print_events(&self, events: &[String]) {
        if self.0.quiet || events.is_empty() {
            return;
        }
        let mut out = std::io::stdout().lock();
        for e in events {
            let _ = writeln!(out, "[emulator] {e}");
        }
        let _ = out.flush();
    }

    pub(crate) fn knobs(&self) -> Knobs {
        self.lock().knobs.clone()
    }

    pub(crate) fn set_knobs(&self, knobs: Knobs) {
        self.lock().knobs = knobs;
    }

    pub(crate) fn rate_check(&self, key: &str) -> RateDecision {
        let now = self.now_ms();
        let mut guard = self.lock();
        let limit = guard.knobs.rate_limit_per_minute;
        let entry = Self::rate_window(&mut guard, key, now);
        if entry.1 >= limit {
            let retry_after_s = (entry.0 + guard.knobs.rate_window_ms.max(1) - now).div_ceil(1000);
            RateDecision::Limited { retry_after_s }
        } else {
            entry.1 += 1;
            RateDecision::Allowed {
                remaining: limit - entry.1,
            }
        }
    }

    /// Counts `count` requests of `key` in its current window, as another client of the same
    /// key would have spent them (`POST /admin/rate/spend`); returns what the window has left
    /// and how long until it ends, in ms. A count of 0 reads the window without spending.
    pub(crate) fn rate_spend(&self, key: Option<&str>, count: u32) -> (u32, u64) {
        let key = key.map_or_else(|| self.0.api_key.clone(), str::to_owned);
        let now = self.now_ms();
        let mut guard = self.lock();
        let limit = guard.knobs.rate_limit_per_minute;
        let len = guard.knobs.rate_window_ms.max(1);
        let entry = Self::rate_window(&mut guard, &key, now);
        entry.1 = entry.1.saturating_add(count).min(limit);
        (limit - entry.1, (entry.0 + len).saturating_sub(now))
    }

    /// `key`'s current window, `(start ms, requests counted)`, opened if the last one ended.
    fn rate_window<'a>(guard: &'a mut Inner, key: &str, now: u64) -> &'a mut (u64, u32) {
        let len = guard.knobs.rate_window_ms.max(1);
        let aligned = guard.knobs.rate_window_start != "first_request";
        let start = if aligned { now / len * len } else { now };
        guard
            .rate
            .retain(|_, (s, _)| if aligned { *s == start } else { now < *s + len });
        guard.rate.entry(key.to_owned()).or_insert((start, 0))
    }

    /// Fires matching faults: every latency (added up), every interposition (each in its own
    /// right, so they combine with the rest), and the first status or drop fault.
    pub(crate) fn faults_for(&self, method: &str, path: &str) -> Fired {
        let mut guard = self.lock();
        let mut fired = Fired::default();
        for fault in guard.faults.iter_mut().filter(|f| f.matches(method, path)) {
            match &fault.kind {
                &FaultKind::Latency { latency_ms, commit } => {
                    if fault.fire() {
                        let slot = if commit {
                            &mut fired.latency.after_commit_ms
                        } else {
                            &mut fired.latency.before_ms
                        };
                        *slot = slot.saturating_add(latency_ms);
                    }
                }
                FaultKind::Interpose { interpose, when } => {
                    let due = Interposition {
                        write: interpose.clone(),
                        when: *when,
                    };
                    if fault.fire() {
                        fired.interpositions.push(due);
                    }
                }
                FaultKind::Status { .. } | FaultKind::Drop { .. } => {
                    if fired.action.is_none() && fault.fire() {
                        fired.action = Some(fault.kind.clone());
                    }
                }
            }
        }
        guard.faults.retain(|f| !f.exhausted());
        fired
    }

    pub(crate) fn add_fault(&self, fault: Fault) -> Vec<Fault> {
        let mut guard = self.lock();
        guard.faults.push(fault);
        guard.faults.clone()
    }

    pub(crate) fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    pub(crate) fn add_task_errors(&self, ty: String, after_create: bool, count: u32) {
        self.lock().task_errors.push_back((ty, after_create, count));
    }

    pub(crate) fn log_request(&self, entry: LogEntry) {
        let mut guard = self.lock();
        if guard.log.len() >= MAX_LOG {
            guard.log.pop_front();
        }
        guard.log.push_back(entry);
    }

    pub(crate) fn requests(&self) -> Vec<LogEntry> {
        self.lock()
            .log
            .iter()
            .cloned()
            .map(|mut e| {
                if let Some(committed) = e.note.as_ref().and_then(CommitNote::get) {
                    e.committed = true;
                    e.handler_status = e.handler_status.or(committed);
                }
                e
            })
            .collect()
    }

    pub(crate) fn clear_requests(&self) -> usize {
        let mut guard = self.lock();
        let n = guard.log.len();
        guard.log.clear();
        n
    }

    /// Back to a fresh world and the startup knobs; faults, injections, windows and log cleared.
    pub(crate) fn reset(&self) {
        let mut guard = self.lock();
        guard.world = World::new();
        guard.knobs = self.0.startup_knobs.clone();
        guard.faults.clear();
        guard.task_errors.clear();
        guard.rate.clear();
        guard.log.clear();
        guard.events.clear();
        guard.generation += 1;
        self.persist(&guard.world);
    }

    /// A request answered now is to be applied later: counts it, and returns the generation it
    /// belongs to.
    pub(crate) fn begin_late_commit(&self) -> u64 {
        let mut guard = self.lock();
        guard.late_commits += 1;
        guard.generation
    }

    /// The late commit of `generation` is due: whether it still belongs to this world (no reset
    /// came in between).
    pub(crate) fn late_commit_current(&self, generation: u64) -> bool {
        self.lock().generation == generation
    }

    pub(crate) fn end_late_commit(&self) {
        let mut guard = self.lock();
        guard.late_commits = guard.late_commits.saturating_sub(1);
    }

    /// The admin view: accounts (no secrets exist to leak), tasks, knobs, faults and events.
    pub(crate) fn admin_snapshot(&self) -> Value {
        self.tick();
        let guard = self.lock();
        serde_json::json!({
            "config": guard.knobs,
            "nextAccountId": guard.world.next_account_id,
            "accounts": guard.world.accounts.values().collect::<Vec<_>>(),
            "tasks": guard.world.tasks,
            "faults": guard.faults,
            "lateCommitsInFlight": guard.late_commits,
            "taskErrors": guard.task_errors.iter()
                .map(|(t, after, n)| serde_json::json!({"type": t, "after_create": after, "count": n}))
                .collect::<Vec<_>>(),
            "events": guard.events,
        })
    }
}

/// Mutation helpers handed to [`EmulatorState::with_world`] callbacks.
pub(crate) struct MutState<'a> {
    pub(crate) changed: bool,
    task_errors: &'a mut VecDeque<(String, bool, u32)>,
    pub(crate) events: &'a mut Vec<String>,
    /// Set while another client's interposed write is submitted: injected task errors and
    /// final statuses are for the client under test, never for it.
    pub(crate) foreign: bool,
}

impl MutState<'_> {
    /// Accepts a task: schedules it behind every earlier task (one at a time), applies pending
    /// error injections and the final-status knob, and returns it.
    pub(crate) fn enqueue(
        &mut self,
        world: &mut World,
        knobs: &mut Knobs,
        now: u64,
        command: Command,
        account_id: Option<i64>,
        changes: Changes,
    ) -> Task {
        let processing_ms = now
            .saturating_add(knobs.task_stage_ms)
            .max(world.queue_free_ms());
        let (injected_error, error_after_create) = match self.task_errors.front_mut() {
            Some((ty, after_create, n)) if !self.foreign => {
                let injected = (Some(ty.clone()), *after_create);
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.task_errors.pop_front();
                }
                injected
            }
            _ => (None, false),
        };
        let final_status = if command == Command::Delete || self.foreign {
            "active".to_owned()
        } else {
            knobs.take_final_status()
        };
        let task = Task {
            id: uuid::Uuid::new_v4().to_string(),
            command,
            account_id,
            changes,
            status: TaskStatus::Received,
            created_ms: now,
            visible_ms: now.saturating_add(knobs.task_404_ms),
            initialized_until_ms: now.saturating_add(knobs.initialized_ms),
            processing_ms,
            done_ms: processing_ms.saturating_add(knobs.task_stage_ms),
            updated_ms: now,
            activation_ms: knobs.activation_ms,
            delete_ms: knobs.delete_ms,
            account_404_ms: knobs.account_404_ms,
            list_lag_ms: knobs.list_lag_ms,
            error_after_create,
            omits_resource_id: knobs.omit_task_resource_id && !self.foreign,
            final_status,
            injected_error,
            error: None,
        };
        world.tasks.push(task.clone());
        self.changed = true;
        self.events
            .push(format!("task {} ({}): received", task.id, command.as_str()));
        task
    }
}
