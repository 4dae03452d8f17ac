//! Emulator data model (accounts, tasks) and the time-driven lifecycle engine that moves them along.
//!
//! Time is wall-clock unix milliseconds supplied by the caller, so progress is computed lazily from
//! stored timestamps: the same inputs always give the same states, and a restart simply catches up.

use std::collections::BTreeMap;

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The Redis-managed account every Redis Cloud account has; listed always, never modifiable.
pub const INTERNAL_ACCOUNT_ID: i64 = 1;
/// Name the real API gives the internal account.
pub const INTERNAL_ACCOUNT_NAME: &str = "Redis Internal Resources";
/// `GET /v1/tasks` lists the tasks submitted within this window (the documented ten days), the
/// default of knob `task_retention_ms`. Finished tasks older than this or the knob, whichever is
/// longer, are dropped from memory: a shorter knob only hides tasks, it never loses them sooner.
pub const TASK_RETENTION_MS: u64 = 10 * 24 * 60 * 60 * 1000;
/// Canonical description of a freshly accepted task.
pub const RECEIVED_DESCRIPTION: &str = "Task request received and is being queued for processing.";
const PROCESSING_DESCRIPTION: &str = "Task request is being processed.";
const COMPLETED_DESCRIPTION: &str = "Request processing completed successfully and its resources are now being provisioned / de-provisioned.";
const ERROR_DESCRIPTION: &str =
    "Task request failed during processing. See error information for failure details.";

/// Account statuses an admin may force and a lifecycle may end in.
pub const KNOWN_STATUSES: &[&str] = &[
    "draft",
    "pending",
    "active",
    "change-draft",
    "change-pending",
    "delete-draft",
    "deleted",
    "active-error",
    "error",
];
/// Statuses a provisioning lifecycle may settle in.
pub const FINAL_STATUSES: &[&str] = &["active", "active-error", "error"];

/// Whether `status` is one a newer API could add: the contract types the account status as a
/// free string, so a client must meet statuses beyond the known ones. Any lowercase word or
/// words joined by hyphens (at most 40 characters) that is not already known.
pub fn is_novel_status(status: &str) -> bool {
    !KNOWN_STATUSES.contains(&status)
        && status.len() <= 40
        && status
            .split('-')
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Provider {
    #[serde(rename = "AWS")]
    Aws,
    #[serde(rename = "GCP")]
    Gcp,
}

impl Provider {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "AWS" => Some(Self::Aws),
            "GCP" => Some(Self::Gcp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aws => "AWS",
            Self::Gcp => "GCP",
        }
    }
}

/// A scheduled account transition that happens after its task completed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum PendingAction {
    /// Provisioning finished: move to the given final status.
    Settle { status: String },
    /// Deletion finished: the account disappears.
    Remove,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    pub at_ms: u64,
    #[serde(flatten)]
    pub action: PendingAction,
}

/// A cloud account. Secrets are deliberately absent: they are validated and then discarded, so
/// they can never leak through responses, logs or the state file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub provider: Provider,
    pub status: String,
    pub access_key_id: Option<String>,
    pub sign_in_login_url: Option<String>,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// Bumped each time new credentials are applied (lets tests see that an update landed).
    pub credentials_generation: u64,
    pub next: Option<Pending>,
    /// Forced by the admin API: the status the in-flight lifecycle ends in instead of its own.
    pub final_override: Option<String>,
    /// Before this instant GET by id answers 404 and the list omits the account (eventual
    /// consistency after a create, knob `account_404_ms`); writes still find it.
    #[serde(default)]
    pub visible_ms: u64,
    /// Before this instant the list omits the account although GET by id may find it (the list
    /// lagging behind reads by id, knob `list_lag_ms`); 0 when the list does not lag.
    #[serde(default)]
    pub listed_ms: u64,
    /// What the list still shows after an update or a delete (knob `list_lag_ms`): the account
    /// as it was before the write began, until `list_lag_ms` after its task completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed_as: Option<Box<ListedAs>>,
}

/// An account as a lagging list still shows it, until `until_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedAs {
    pub until_ms: u64,
    pub name: String,
    pub status: String,
    pub access_key_id: Option<String>,
    pub sign_in_login_url: Option<String>,
}

impl Account {
    fn internal() -> Self {
        Self {
            id: INTERNAL_ACCOUNT_ID,
            name: INTERNAL_ACCOUNT_NAME.to_owned(),
            provider: Provider::Aws,
            status: "active".to_owned(),
            access_key_id: None,
            sign_in_login_url: None,
            created_ms: 0,
            updated_ms: 0,
            credentials_generation: 0,
            next: None,
            final_override: None,
            visible_ms: 0,
            listed_ms: 0,
            listed_as: None,
        }
    }

    /// The account as `GET /v1/cloud-accounts` shows it at `now`: as it was before an update
    /// while the list lags behind it.
    pub fn as_listed(&self, now: u64) -> std::borrow::Cow<'_, Account> {
        match self.listed_as.as_deref() {
            Some(old) if now < old.until_ms => {
                let mut a = self.clone();
                a.name.clone_from(&old.name);
                a.status.clone_from(&old.status);
                a.access_key_id.clone_from(&old.access_key_id);
                a.sign_in_login_url.clone_from(&old.sign_in_login_url);
                std::borrow::Cow::Owned(a)
            }
            _ => std::borrow::Cow::Borrowed(self),
        }
    }

    /// Whether reads (GET by id, the list) see the account at `now`.
    pub fn is_visible(&self, now: u64) -> bool {
        self.visible_ms <= now
    }

    /// Whether `GET /v1/cloud-accounts` shows the account at `now`: never before GET by id does.
    pub fn is_listed(&self, now: u64) -> bool {
        self.is_visible(now) && self.listed_ms <= now
    }

    /// Counts towards `max_cloud_accounts`: not the internal account, not a finished deletion.
    fn counts_towards_quota(&self) -> bool {
        self.id != INTERNAL_ACCOUNT_ID && self.status != "deleted"
    }

    fn is_deleting(&self) -> bool {
        matches!(self.status.as_str(), "delete-draft" | "deleted")
    }

    /// The public representation (`CloudAccount` schema), ready to serialize straight into an
    /// answer: never any secret, and a list of hundreds of accounts is written without building
    /// a JSON tree for each.
    pub fn view<'a>(&'a self, base: &'a str) -> AccountView<'a> {
        let arns = (self.provider == Provider::Aws && self.id != INTERNAL_ACCOUNT_ID)
            .then(|| self.sign_in_login_url.as_deref().and_then(aws_account_of))
            .flatten()
            .map(|(partition, number)| {
                (
                    format!("arn:{partition}:iam::{number}:role/redis-labs-console-role"),
                    format!("arn:{partition}:iam::{number}:user/redis-labs-programmatic-user"),
                )
            });
        let (aws_console_role_arn, aws_user_arn) = arns.unzip();
        AccountView {
            id: self.id,
            name: &self.name,
            provider: self.provider.as_str(),
            status: &self.status,
            access_key_id: self.access_key_id.as_deref().map(AccessKeyView::Plain),
            aws_console_role_arn,
            aws_user_arn,
            sign_in_login_url: self.sign_in_login_url.as_deref(),
            links: [AccountLinkView { base, id: self.id }],
        }
    }

    /// [`Account::view`] as a JSON tree.
    #[cfg(test)]
    pub fn to_json(&self, base: &str) -> Value {
        serde_json::to_value(self.view(base)).unwrap_or(Value::Null)
    }
}

/// An account as the API shows it (see [`Account::view`]).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountView<'a> {
    id: i64,
    name: &'a str,
    provider: &'static str,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<AccessKeyView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aws_console_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aws_user_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sign_in_login_url: Option<&'a str>,
    links: [AccountLinkView<'a>; 1],
}

impl AccountView<'_> {
    /// Shows the access key ID as the list may: its first and last characters around `***`.
    pub fn mask_access_key(mut self) -> Self {
        if let Some(AccessKeyView::Plain(key)) = self.access_key_id {
            self.access_key_id = Some(AccessKeyView::Masked(key));
        }
        self
    }

    /// Leaves out `signInLoginUrl`, as some API versions do.
    pub fn without_sign_in_login_url(mut self) -> Self {
        self.sign_in_login_url = None;
        self
    }
}

/// An account's access key ID, whole or masked.
enum AccessKeyView<'a> {
    Plain(&'a str),
    Masked(&'a str),
}

impl Serialize for AccessKeyView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            AccessKeyView::Plain(key) => serializer.serialize_str(key),
            AccessKeyView::Masked(key) => {
                let first = key.chars().next().map(String::from).unwrap_or_default();
                let last = key.chars().last().map(String::from).unwrap_or_default();
                serializer.collect_str(&format_args!("{first}***{last}"))
            }
        }
    }
}

/// An account's one link, to itself.
struct AccountLinkView<'a> {
    base: &'a str,
    id: i64,
}

impl Serialize for AccountLinkView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("rel", "self")?;
        map.serialize_entry(
            "href",
            &format_args!("{}/v1/cloud-accounts/{}", self.base, self.id),
        )?;
        map.serialize_entry("type", "GET")?;
        map.end()
    }
}

/// The ARN partition and 12-digit AWS account ID of the account a console sign-in URL belongs
/// to. Redis Cloud reports the IAM user and console role of the AWS account the credentials
/// belong to, and the sign-in URL is the emulator's only evidence of which account that is:
/// - `https://123456789012.signin.aws.amazon.com/console`: account `123456789012`;
/// - `https://<alias>.signin.aws.amazon.com/console`: an account alias, which only AWS can
///   resolve, so a stable made-up number derived from the alias (case-insensitive);
/// - any other https URL: a stable made-up number derived from its host.
///
/// The partition follows the sign-in domain: `aws-us-gov` for `amazonaws-us-gov.com`, `aws-cn`
/// for `amazonaws.cn`, otherwise `aws`. `None` when the URL has no host.
pub fn aws_account_of(sign_in_login_url: &str) -> Option<(&'static str, String)> {
    let rest = sign_in_login_url
        .split_once("://")
        .map_or(sign_in_login_url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let host = host.split(':').next().unwrap_or("").to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let partition = if host.ends_with(".amazonaws-us-gov.com") {
        "aws-us-gov"
    } else if host.ends_with(".amazonaws.cn") {
        "aws-cn"
    } else {
        "aws"
    };
    let alias = match host.split_once(".signin.") {
        Some((first, _)) => first,
        None => host.as_str(),
    };
    let number = if alias.len() == 12 && alias.bytes().all(|b| b.is_ascii_digit()) {
        alias.to_owned()
    } else {
        aws_account_number_from_alias(alias)
    };
    Some((partition, number))
}

/// A made-up but stable 12-digit AWS account ID for an account alias (FNV-1a of the alias).
pub fn aws_account_number_from_alias(alias: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in alias.to_ascii_lowercase().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{:012}", h % 1_000_000_000_000)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    #[serde(rename = "cloudAccountCreateRequest")]
    Create,
    #[serde(rename = "cloudAccountUpdateRequest")]
    Update,
    #[serde(rename = "cloudAccountDeleteRequest")]
    Delete,
}

impl Command {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "cloudAccountCreateRequest",
            Self::Update => "cloudAccountUpdateRequest",
            Self::Delete => "cloudAccountDeleteRequest",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskStatus {
    #[serde(rename = "received")]
    Received,
    #[serde(rename = "processing-in-progress")]
    Processing,
    #[serde(rename = "processing-completed")]
    Completed,
    #[serde(rename = "processing-error")]
    Error,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Processing => "processing-in-progress",
            Self::Completed => "processing-completed",
            Self::Error => "processing-error",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Error)
    }
}

/// The non-secret part of a create or update request, applied when the task runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    pub name: Option<String>,
    pub provider: Option<Provider>,
    pub access_key_id: Option<String>,
    pub sign_in_login_url: Option<String>,
}

/// Everything a task needs to run, fixed when it is accepted so later knob changes and restarts
/// do not alter tasks already in flight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: String,
    pub command: Command,
    pub account_id: Option<i64>,
    pub changes: Changes,
    pub status: TaskStatus,
    pub created_ms: u64,
    /// Before this instant `GET /v1/tasks/{id}` answers 404 (eventual consistency).
    pub visible_ms: u64,
    pub processing_ms: u64,
    pub done_ms: u64,
    pub updated_ms: u64,
    pub activation_ms: u64,
    pub delete_ms: u64,
    /// How long a created account stays invisible to reads after this task completed.
    #[serde(default)]
    pub account_404_ms: u64,
    /// How long a created account stays out of the list after GET by id first finds it.
    #[serde(default)]
    pub list_lag_ms: u64,
    /// Until this instant a task not yet processing reports `initialized` (then `received`).
    #[serde(default)]
    pub initialized_until_ms: u64,
    /// A create whose injected error comes only after it made its account: the account is left
    /// in status `error`, and the failed task names it (`resourceId`).
    #[serde(default)]
    pub error_after_create: bool,
    /// Once completed, the task does not name what it made or changed (`resourceId` left out,
    /// as the contract allows).
    #[serde(default)]
    pub omits_resource_id: bool,
    pub final_status: String,
    /// Error type injected through the admin API, used when the task runs.
    pub injected_error: Option<String>,
    /// Error type decided when processing started, reported when the task ends.
    pub error: Option<String>,
}

impl Task {
    /// The `TaskStateUpdate` representation at `now`: a queued task still in its `initialized`
    /// window says so; `response` only appears once the task has ended.
    pub fn to_json_at(&self, base: &str, now: u64, clock_skew_ms: i64) -> Value {
        serde_json::to_value(self.view_at(base, now, clock_skew_ms)).unwrap_or(Value::Null)
    }

    /// The `TaskStateUpdate` at `now`, ready to serialize straight into an answer: a list of
    /// hundreds of tasks is written without building a JSON tree for each.
    /// Its `timestamp` is on the API's clock, `clock_skew_ms` off this machine's.
    pub fn view_at<'a>(&'a self, base: &'a str, now: u64, clock_skew_ms: i64) -> TaskView<'a> {
        let status = if self.status == TaskStatus::Received && now < self.initialized_until_ms {
            "initialized"
        } else {
            self.status.as_str()
        };
        let description = match self.status {
            TaskStatus::Received => RECEIVED_DESCRIPTION,
            TaskStatus::Processing => PROCESSING_DESCRIPTION,
            TaskStatus::Completed => COMPLETED_DESCRIPTION,
            TaskStatus::Error => ERROR_DESCRIPTION,
        };
        let response = match self.status {
            TaskStatus::Completed => Some(TaskResponseView {
                resource_id: self.account_id.filter(|_| !self.omits_resource_id),
                error: None,
            }),
            TaskStatus::Error => {
                let ty = self.error.as_deref().unwrap_or("GENERAL_ERROR");
                let info = task_error_info(ty).unwrap_or(GENERAL_ERROR_INFO);
                Some(TaskResponseView {
                    resource_id: self.account_id.filter(|_| self.command == Command::Create),
                    error: Some(TaskErrorView {
                        error: TaskErrorDetailView {
                            ty,
                            status: status_line(info.code),
                            description: info.description,
                        },
                        additional_info: info.additional_info,
                    }),
                })
            }
            TaskStatus::Received | TaskStatus::Processing => None,
        };
        TaskView {
            task: self,
            base,
            clock_skew_ms,
            status,
            description,
            response,
        }
    }
}

/// A task as the API shows it (see [`Task::view_at`]).
pub struct TaskView<'a> {
    task: &'a Task,
    base: &'a str,
    clock_skew_ms: i64,
    status: &'static str,
    description: &'static str,
    response: Option<TaskResponseView<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TaskResponseView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_id: Option<i64>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    error: Option<TaskErrorView<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TaskErrorView<'a> {
    error: TaskErrorDetailView<'a>,
    additional_info: &'static str,
}

#[derive(Serialize)]
struct TaskErrorDetailView<'a> {
    #[serde(rename = "type")]
    ty: &'a str,
    status: String,
    description: &'static str,
}

/// One of a task's `links`.
#[derive(Serialize)]
struct LinkView<'a> {
    rel: &'static str,
    href: std::fmt::Arguments<'a>,
    title: &'static str,
    #[serde(rename = "type")]
    ty: &'static str,
}

impl Serialize for TaskView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let t = self.task;
        let base = self.base;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("commandType", t.command.as_str())?;
        map.serialize_entry("description", self.description)?;
        let task_link = LinkView {
            rel: "task",
            href: format_args!("{base}/v1/tasks/{}", t.id),
            title: "getTaskStatusUpdates",
            ty: "GET",
        };
        match (self.status_is_completed(), t.account_id) {
            (true, Some(id)) => map.serialize_entry(
                "links",
                &[
                    task_link,
                    LinkView {
                        rel: "resource",
                        href: format_args!("{base}/v1/cloud-accounts/{id}"),
                        title: "getCloudAccountInformation",
                        ty: "GET",
                    },
                ],
            )?,
            _ => map.serialize_entry("links", &[task_link])?,
        }
        if let Some(response) = &self.response {
            map.serialize_entry("response", response)?;
        }
        map.serialize_entry("status", self.status)?;
        map.serialize_entry("taskId", &t.id)?;
        map.serialize_entry(
            "timestamp",
            &iso_timestamp(t.updated_ms.saturating_add_signed(self.clock_skew_ms)),
        )?;
        map.end()
    }
}

impl TaskView<'_> {
    fn status_is_completed(&self) -> bool {
        self.task.status == TaskStatus::Completed
    }
}

/// `"<code> <REASON>"`, e.g. `"404 NOT_FOUND"`, the form real task errors use.
pub fn status_line(code: u16) -> String {
    let reason = StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("UNKNOWN");
    format!(
        "{code} {}",
        reason.to_ascii_uppercase().replace([' ', '-'], "_")
    )
}

/// ISO-8601 UTC with milliseconds, e.g. `2024-05-01T10:00:00.123Z`.
pub fn iso_timestamp(ms: u64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_owned())
}

#[derive(Clone, Copy, Debug)]
pub struct ErrorInfo {
    pub code: u16,
    pub description: &'static str,
    pub additional_info: &'static str,
}

const GENERAL_ERROR_INFO: ErrorInfo = ErrorInfo {
    code: 500,
    description: "General error occurred. Please contact Redis Labs support with your task ID",
    additional_info: "general-error",
};

/// Task error types the emulator can produce (all members of the contract's error-type enum).
pub const TASK_ERROR_TYPES: &[&str] = &[
    "CLOUD_ACCOUNT_NOT_FOUND",
    "CLOUD_ACCOUNT_NAME_EXISTS",
    "CLOUD_ACCOUNT_ACCESS_KEY_EXISTS",
    "CLOUD_ACCOUNT_INVALID_CREDS",
    "CLOUD_ACCOUNT_PERMISSION_FAILED",
    "CLOUD_ACCOUNT_USED",
    "CLOUD_ACCOUNT_NOT_ACTIVE",
    "CLOUD_ACCOUNT_ALLOCATION_FAILURE",
    "NOT_KNOWN_CLOUD_PROVIDER",
    "MULTIPLE_CLOUD_PROVIDERS_NOT_SUPPORTED",
    "UNAUTHORIZED",
    "BAD_REQUEST",
    "CONFLICT_ERROR",
    "ENTITY_NOT_FOUND",
    "GENERAL_ERROR",
];

pub fn task_error_info(ty: &str) -> Option<ErrorInfo> {
    let (code, description, additional_info) = match ty {
        "CLOUD_ACCOUNT_NOT_FOUND" => (
            404,
            "Cloud account was not found",
            "cloud-account-does-not-exists",
        ),
        "CLOUD_ACCOUNT_NAME_EXISTS" => (
            409,
            "Cloud account name already exists",
            "cloud-account-name-exists",
        ),
        "CLOUD_ACCOUNT_ACCESS_KEY_EXISTS" => (
            409,
            "Cloud account with this access key already exists",
            "cloud-account-access-key-exists",
        ),
        "CLOUD_ACCOUNT_INVALID_CREDS" => (
            400,
            "Cloud account credentials are invalid",
            "cloud-account-credentials-verification-failed",
        ),
        "CLOUD_ACCOUNT_PERMISSION_FAILED" => (
            403,
            "Cloud account is missing required permissions",
            "cloud-account-permission-check-failed",
        ),
        "CLOUD_ACCOUNT_USED" => (
            409,
            "Cloud account is in use by a subscription",
            "cloud-account-is-used",
        ),
        "CLOUD_ACCOUNT_NOT_ACTIVE" => (
            400,
            "Cloud account is not active",
            "cloud-account-not-active",
        ),
        "CLOUD_ACCOUNT_ALLOCATION_FAILURE" => (
            500,
            "Cloud account resources could not be allocated",
            "cloud-account-allocation-failure",
        ),
        "NOT_KNOWN_CLOUD_PROVIDER" => {
            (400, "Cloud provider is not known", "unknown-cloud-provider")
        }
        "MULTIPLE_CLOUD_PROVIDERS_NOT_SUPPORTED" => (
            400,
            "Multiple cloud providers are not supported",
            "multiple-cloud-providers-not-supported",
        ),
        "UNAUTHORIZED" => (401, "Unauthorized", "unauthorized"),
        "BAD_REQUEST" => (400, "Bad request", "bad-request"),
        "CONFLICT_ERROR" => (409, "Conflict", "conflict"),
        "ENTITY_NOT_FOUND" => (404, "Entity was not found", "entity-not-found"),
        "GENERAL_ERROR" => return Some(GENERAL_ERROR_INFO),
        _ => return None,
    };
    Some(ErrorInfo {
        code,
        description,
        additional_info,
    })
}

/// Everything the emulator persists: accounts, tasks and the id counter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct World {
    pub next_account_id: i64,
    pub accounts: BTreeMap<i64, Account>,
    pub tasks: Vec<Task>,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Start(usize),
    Finish(usize),
    Account(i64),
}

impl World {
    pub fn new() -> Self {
        let mut accounts = BTreeMap::new();
        accounts.insert(INTERNAL_ACCOUNT_ID, Account::internal());
        Self {
            next_account_id: INTERNAL_ACCOUNT_ID + 1,
            accounts,
            tasks: Vec::new(),
        }
    }

    /// Instant at which the single task queue becomes free (tasks run one at a time).
    pub fn queue_free_ms(&self) -> u64 {
        self.tasks.iter().map(|t| t.done_ms).max().unwrap_or(0)
    }

    /// Name or access-key clash with any account other than `exclude`.
    pub fn conflict(&self, exclude: Option<i64>, changes: &Changes) -> Option<&'static str> {
        let others = || {
            self.accounts
                .values()
                .filter(move |a| Some(a.id) != exclude)
        };
        if let Some(name) = &changes.name
            && others().any(|a| &a.name == name)
        {
            return Some("CLOUD_ACCOUNT_NAME_EXISTS");
        }
        if let Some(key) = &changes.access_key_id
            && others().any(|a| a.access_key_id.as_ref() == Some(key))
        {
            return Some("CLOUD_ACCOUNT_ACCESS_KEY_EXISTS");
        }
        None
    }

    /// An account made outside this key's API, as a console user or another API key would:
    /// active at once, with no task in this key's task list. Refused (the error type) when its
    /// name or key is taken.
    pub fn create_out_of_band(
        &mut self,
        changes: &Changes,
        now: u64,
    ) -> Result<&Account, &'static str> {
        if let Some(ty) = self.conflict(None, changes) {
            return Err(ty);
        }
        let id = self.next_account_id;
        self.next_account_id += 1;
        let account = Account {
            id,
            name: changes.name.clone().unwrap_or_default(),
            provider: changes.provider.unwrap_or(Provider::Aws),
            status: "active".to_owned(),
            access_key_id: changes.access_key_id.clone(),
            sign_in_login_url: changes.sign_in_login_url.clone(),
            created_ms: now,
            updated_ms: now,
            credentials_generation: 1,
            next: None,
            final_override: None,
            visible_ms: 0,
            listed_ms: 0,
            listed_as: None,
        };
        Ok(self.accounts.entry(id).or_insert(account))
    }

    /// Drops finished tasks submitted more than `retention_ms` before `now`. Tasks still queued
    /// or running are kept whatever their age, so every task runs to its end (a create still
    /// makes its account) however short the retention. Returns whether any task was dropped.
    pub fn prune_tasks(&mut self, now: u64, retention_ms: u64) -> bool {
        let before = self.tasks.len();
        self.tasks.retain(|t| {
            !t.status.is_terminal() || t.created_ms.saturating_add(retention_ms) >= now
        });
        self.tasks.len() != before
    }

    /// Applies every transition due at or before `now`, in time order. Returns whether anything
    /// changed; human-readable event lines are appended to `events`.
    pub fn advance(&mut self, now: u64, events: &mut Vec<String>) -> bool {
        let mut changed = false;
        while let Some(due) = self.next_due(now) {
            changed = true;
            match due {
                (_, Due::Start(i)) => self.start_task(i, events),
                (_, Due::Finish(i)) => self.finish_task(i, events),
                (_, Due::Account(id)) => self.settle_account(id, events),
            }
        }
        changed
    }

    fn next_due(&self, now: u64) -> Option<(u64, Due)> {
        let tasks = self
            .tasks
            .iter()
            .enumerate()
            .filter_map(|(i, t)| match t.status {
                TaskStatus::Received if t.processing_ms <= now => {
                    Some((t.processing_ms, Due::Start(i)))
                }
                TaskStatus::Processing if t.done_ms <= now => Some((t.done_ms, Due::Finish(i))),
                _ => None,
            });
        let accounts = self.accounts.values().filter_map(|a| match &a.next {
            Some(p) if p.at_ms <= now => Some((p.at_ms, Due::Account(a.id))),
            _ => None,
        });
        tasks.chain(accounts).min()
    }

    fn set_status(account: &mut Account, status: &str, at: u64, events: &mut Vec<String>) {
        if account.status != status {
            events.push(format!(
                "account {}: {} -> {status}",
                account.id, account.status
            ));
            account.status = status.to_owned();
            account.updated_ms = at;
        }
    }

    fn start_task(&mut self, i: usize, events: &mut Vec<String>) {
        let task = self.tasks[i].clone();
        let at = task.processing_ms;
        let target = task.account_id.and_then(|id| self.accounts.get(&id));
        let not_found = || match target {
            Some(a) if a.id != INTERNAL_ACCOUNT_ID && !a.is_deleting() => None,
            _ => Some("CLOUD_ACCOUNT_NOT_FOUND".to_owned()),
        };
        let error = match task.command {
            Command::Create => task
                .injected_error
                .clone()
                .or_else(|| self.conflict(None, &task.changes).map(str::to_owned)),
            Command::Update => not_found()
                .or_else(|| task.injected_error.clone())
                .or_else(|| {
                    self.conflict(task.account_id, &task.changes)
                        .map(str::to_owned)
                }),
            Command::Delete => not_found().or_else(|| task.injected_error.clone()),
        };
        let command = task.command.as_str();
        events.push(format!(
            "task {} ({command}): processing-in-progress",
            task.id
        ));
        let mut account_id = task.account_id;
        // A create failing after making its account still never duplicates a name or key.
        let makes_account = task.command == Command::Create
            && (error.is_none()
                || (task.error_after_create
                    && error == task.injected_error
                    && self.conflict(None, &task.changes).is_none()));
        if error.is_none() || makes_account {
            match task.command {
                Command::Create => {
                    let id = self.next_account_id;
                    self.next_account_id += 1;
                    let visible_ms = if task.account_404_ms > 0 {
                        task.done_ms.saturating_add(task.account_404_ms)
                    } else {
                        0
                    };
                    // The list catches up `list_lag_ms` after GET by id first finds the account.
                    let listed_ms = if task.list_lag_ms > 0 {
                        visible_ms.max(at).saturating_add(task.list_lag_ms)
                    } else {
                        0
                    };
                    let account = Account {
                        id,
                        name: task.changes.name.clone().unwrap_or_default(),
                        provider: task.changes.provider.unwrap_or(Provider::Aws),
                        status: "draft".to_owned(),
                        access_key_id: task.changes.access_key_id.clone(),
                        sign_in_login_url: task.changes.sign_in_login_url.clone(),
                        created_ms: at,
                        updated_ms: at,
                        credentials_generation: 1,
                        next: None,
                        final_override: None,
                        visible_ms,
                        listed_ms,
                        listed_as: None,
                    };
                    events.push(format!(
                        "account {id} ({:?}): created as draft",
                        account.name
                    ));
                    self.accounts.insert(id, account);
                    account_id = Some(id);
                }
                Command::Update | Command::Delete => {
                    let status = if task.command == Command::Update {
                        "change-draft"
                    } else {
                        "delete-draft"
                    };
                    if let Some(a) = task.account_id.and_then(|id| self.accounts.get_mut(&id)) {
                        a.next = None;
                        // A list lagging behind reads by id shows an update or a delete only
                        // `list_lag_ms` after its task completed; until then, the account as it
                        // was (while the API still holds it).
                        a.listed_as = (task.list_lag_ms > 0).then(|| {
                            Box::new(ListedAs {
                                until_ms: task.done_ms.saturating_add(task.list_lag_ms),
                                name: a.name.clone(),
                                status: a.status.clone(),
                                access_key_id: a.access_key_id.clone(),
                                sign_in_login_url: a.sign_in_login_url.clone(),
                            })
                        });
                        Self::set_status(a, status, at, events);
                    }
                }
            }
        }
        let t = &mut self.tasks[i];
        t.account_id = account_id;
        t.error = error;
        t.status = TaskStatus::Processing;
        t.updated_ms = at;
    }

    fn finish_task(&mut self, i: usize, events: &mut Vec<String>) {
        let task = self.tasks[i].clone();
        let at = task.done_ms;
        if let Some(error) = &task.error {
            // A create that failed after making its account leaves it broken, not gone.
            if task.command == Command::Create
                && let Some(a) = task.account_id.and_then(|id| self.accounts.get_mut(&id))
            {
                Self::set_status(a, "error", at, events);
            }
            let t = &mut self.tasks[i];
            t.status = TaskStatus::Error;
            t.updated_ms = at;
            // A status forced for this write's end has nothing left to end in, unless another
            // write of the account is still under way.
            if let Some(id) = task.account_id
                && !self.in_flight(id)
                && let Some(a) = self.accounts.get_mut(&id)
            {
                a.final_override = None;
            }
            let t = &self.tasks[i];
            events.push(format!(
                "task {} ({}): processing-error {error}",
                t.id,
                t.command.as_str()
            ));
            return;
        }
        if let Some(a) = task.account_id.and_then(|id| self.accounts.get_mut(&id)) {
            match task.command {
                Command::Create | Command::Update => {
                    if task.command == Command::Update {
                        let c = &task.changes;
                        if let Some(name) = &c.name {
                            a.name = name.clone();
                        }
                        if c.access_key_id.is_some() {
                            a.access_key_id = c.access_key_id.clone();
                        }
                        if c.sign_in_login_url.is_some() {
                            a.sign_in_login_url = c.sign_in_login_url.clone();
                        }
                        a.credentials_generation += 1;
                    }
                    let status = if task.command == Command::Create {
                        "pending"
                    } else {
                        "change-pending"
                    };
                    Self::set_status(a, status, at, events);
                    let final_status = a.final_override.take().unwrap_or(task.final_status.clone());
                    a.next = Some(Pending {
                        at_ms: at.saturating_add(task.activation_ms),
                        action: PendingAction::Settle {
                            status: final_status,
                        },
                    });
                }
                Command::Delete => {
                    // What an earlier write was forced to end in does not outlive this delete;
                    // a status forced from here on is where it ends.
                    a.final_override = None;
                    Self::set_status(a, "deleted", at, events);
                    a.next = Some(Pending {
                        at_ms: at.saturating_add(task.delete_ms),
                        action: PendingAction::Remove,
                    });
                }
            }
        }
        let t = &mut self.tasks[i];
        t.status = TaskStatus::Completed;
        t.updated_ms = at;
        let resource = t
            .account_id
            .map(|id| format!(" (resource {id})"))
            .unwrap_or_default();
        events.push(format!(
            "task {} ({}): processing-completed{resource}",
            t.id,
            t.command.as_str()
        ));
    }

    fn settle_account(&mut self, id: i64, events: &mut Vec<String>) {
        let Some(a) = self.accounts.get_mut(&id) else {
            return;
        };
        let Some(pending) = a.next.take() else { return };
        match pending.action {
            PendingAction::Settle { status } => {
                let status = a.final_override.take().unwrap_or(status);
                Self::set_status(a, &status, pending.at_ms, events);
            }
            // A status forced while it was being deleted: de-provisioning failed, and the
            // account stays in that status.
            PendingAction::Remove
                if a.final_override
                    .as_deref()
                    .is_some_and(|s| !matches!(s, "deleted" | "delete-draft")) =>
            {
                let status = a.final_override.take().unwrap_or_default();
                Self::set_status(a, &status, pending.at_ms, events);
            }
            PendingAction::Remove => {
                self.accounts.remove(&id);
                events.push(format!("account {id}: deleted (no longer listed)"));
            }
        }
    }

    /// Cloud accounts that count towards `max_cloud_accounts`: live ones (not the internal
    /// account, not finished deletions) plus creates still waiting to run.
    pub fn quota_usage(&self) -> usize {
        let live = self
            .accounts
            .values()
            .filter(|a| a.counts_towards_quota())
            .count();
        let queued = self
            .tasks
            .iter()
            .filter(|t| t.command == Command::Create && t.status == TaskStatus::Received)
            .count();
        live + queued
    }

    /// Whether some lifecycle is still running for the account.
    pub fn in_flight(&self, id: i64) -> bool {
        self.accounts.get(&id).is_some_and(|a| a.next.is_some())
            || self
                .tasks
                .iter()
                .any(|t| t.account_id == Some(id) && !t.status.is_terminal())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(command: Command, account_id: Option<i64>, changes: Changes, created: u64) -> Task {
        Task {
            id: format!("t-{created}"),
            command,
            account_id,
            changes,
            status: TaskStatus::Received,
            created_ms: created,
            visible_ms: created,
            processing_ms: created + 10,
            done_ms: created + 20,
            updated_ms: created,
            activation_ms: 30,
            delete_ms: 5,
            account_404_ms: 0,
            list_lag_ms: 0,
            initialized_until_ms: 0,
            error_after_create: false,
            omits_resource_id: false,
            final_status: "active".to_owned(),
            injected_error: None,
            error: None,
        }
    }

    fn create_changes(name: &str, key: &str) -> Changes {
        Changes {
            name: Some(name.to_owned()),
            provider: Some(Provider::Aws),
            access_key_id: Some(key.to_owned()),
            sign_in_login_url: Some("https://x.signin.aws.amazon.com/console".to_owned()),
        }
    }

    #[test]
    fn create_walks_draft_pending_active_at_the_scheduled_instants() {
        let mut w = World::new();
        w.tasks.push(task(
            Command::Create,
            None,
            create_changes("a", "AK1"),
            1000,
        ));
        let mut ev = Vec::new();
        assert!(!w.advance(1009, &mut ev));
        assert!(w.advance(1010, &mut ev));
        assert_eq!(w.accounts[&2].status, "draft");
        w.advance(1020, &mut ev);
        assert_eq!(w.tasks[0].status, TaskStatus::Completed);
        assert_eq!(w.accounts[&2].status, "pending");
        w.advance(1049, &mut ev);
        assert_eq!(w.accounts[&2].status, "pending");
        w.advance(1050, &mut ev);
        assert_eq!(w.accounts[&2].status, "active");
        assert!(ev.iter().any(|e| e.contains("pending -> active")));
    }

    #[test]
    fn catching_up_in_one_step_gives_the_same_result() {
        let mut stepwise = World::new();
        stepwise
            .tasks
            .push(task(Command::Create, None, create_changes("a", "AK1"), 0));
        let mut ev = Vec::new();
        for now in 0..200 {
            stepwise.advance(now, &mut ev);
        }
        let mut at_once = World::new();
        at_once
            .tasks
            .push(task(Command::Create, None, create_changes("a", "AK1"), 0));
        at_once.advance(199, &mut Vec::new());
        assert_eq!(stepwise, at_once);
    }

    #[test]
    fn duplicates_and_internal_account_fail_the_task() {
        let mut w = World::new();
        w.tasks.push(task(
            Command::Create,
            None,
            create_changes(INTERNAL_ACCOUNT_NAME, "AK"),
            0,
        ));
        w.tasks.push(task(
            Command::Delete,
            Some(INTERNAL_ACCOUNT_ID),
            Changes::default(),
            100,
        ));
        w.advance(1000, &mut Vec::new());
        assert_eq!(
            w.tasks[0].error.as_deref(),
            Some("CLOUD_ACCOUNT_NAME_EXISTS")
        );
        assert_eq!(w.tasks[1].error.as_deref(), Some("CLOUD_ACCOUNT_NOT_FOUND"));
        assert!(w.accounts.contains_key(&INTERNAL_ACCOUNT_ID));
        let json = w.tasks[1].to_json_at("http://h", u64::MAX, 0);
        assert_eq!(json["response"]["error"]["status"], "404 NOT_FOUND");
        assert_eq!(
            json["response"]["additionalInfo"],
            "cloud-account-does-not-exists"
        );
    }

    #[test]
    fn account_json_never_has_secrets() {
        let mut w = World::new();
        w.tasks.push(task(
            Command::Create,
            None,
            create_changes("a", "AKIAEXAMPLE"),
            0,
        ));
        w.advance(1000, &mut Vec::new());
        let v = w.accounts[&2].to_json("http://h");
        for secret in ["accessSecretKey", "consoleUsername", "consolePassword"] {
            assert!(v.get(secret).is_none());
        }
    }

    fn arns_for(url: Option<&str>, key: &str) -> (Value, Value) {
        let mut w = World::new();
        let mut changes = create_changes("a", key);
        changes.sign_in_login_url = url.map(str::to_owned);
        w.tasks.push(task(Command::Create, None, changes, 0));
        w.advance(1000, &mut Vec::new());
        let v = w.accounts[&2].to_json("http://h");
        (v["awsUserArn"].clone(), v["awsConsoleRoleArn"].clone())
    }

    #[test]
    fn arns_name_the_aws_account_of_the_sign_in_url() {
        // The account ID in the sign-in URL is the account whose user Redis Cloud reports.
        let (user, role) = arns_for(
            Some("https://123456789012.signin.aws.amazon.com/console"),
            "AKIAEXAMPLE",
        );
        assert_eq!(
            user,
            "arn:aws:iam::123456789012:user/redis-labs-programmatic-user"
        );
        assert_eq!(
            role,
            "arn:aws:iam::123456789012:role/redis-labs-console-role"
        );
        // Whatever the key: the ARNs belong to the AWS account, not to the key.
        assert_eq!(
            arns_for(
                Some("https://123456789012.signin.aws.amazon.com/console"),
                "AKIAOTHER"
            )
            .0,
            user
        );
        // Other partitions carry their own ARN prefix.
        assert_eq!(
            arns_for(
                Some("https://210987654321.signin.amazonaws-us-gov.com/console"),
                "K"
            )
            .0,
            "arn:aws-us-gov:iam::210987654321:user/redis-labs-programmatic-user"
        );
        assert_eq!(
            arns_for(
                Some("https://210987654321.signin.amazonaws.cn/console"),
                "K"
            )
            .0,
            "arn:aws-cn:iam::210987654321:user/redis-labs-programmatic-user"
        );
    }

    #[test]
    fn an_alias_sign_in_url_gives_a_stable_made_up_account_id() {
        // An alias hides the account ID; the emulator cannot resolve it, so it derives a stable
        // 12-digit number from the alias: the same alias, the same ARNs, whatever the key.
        let alias = Some("https://my-company.signin.aws.amazon.com/console");
        let (user, _) = arns_for(alias, "AKIA1");
        assert_eq!(arns_for(alias, "AKIA2").0, user);
        let number = aws_account_number_from_alias("my-company");
        assert_eq!(number.len(), 12);
        assert!(number.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(
            user,
            format!("arn:aws:iam::{number}:user/redis-labs-programmatic-user")
        );
        assert_ne!(
            arns_for(
                Some("https://other-company.signin.aws.amazon.com/console"),
                "AKIA1"
            )
            .0,
            user
        );
        // Case does not matter in a host name.
        assert_eq!(
            arns_for(
                Some("https://My-Company.signin.aws.amazon.com/console"),
                "AKIA1"
            )
            .0,
            user
        );
    }

    #[test]
    fn gcp_accounts_and_accounts_without_a_sign_in_url_have_no_arns() {
        let mut w = World::new();
        let mut changes = create_changes("g", "GOOG1");
        changes.provider = Some(Provider::Gcp);
        w.tasks.push(task(Command::Create, None, changes, 0));
        w.advance(1000, &mut Vec::new());
        let v = w.accounts[&2].to_json("http://h");
        assert!(v.get("awsUserArn").is_none() && v.get("awsConsoleRoleArn").is_none());
        let (user, role) = arns_for(None, "AKIA1");
        assert!(user.is_null() && role.is_null(), "{user} {role}");
    }

    #[test]
    fn status_lines_and_timestamps_have_the_observed_shapes() {
        assert_eq!(status_line(404), "404 NOT_FOUND");
        assert_eq!(status_line(500), "500 INTERNAL_SERVER_ERROR");
        assert_eq!(iso_timestamp(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        for ty in TASK_ERROR_TYPES {
            assert!(task_error_info(ty).is_some(), "{ty}");
        }
    }
}
