//! Wire models for cloud accounts and tasks (camelCase JSON, unknown fields ignored).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::error::TaskFailure;
use super::secret::Secret;

/// The cloud account collection's path segment.
pub(crate) const COLLECTION: &str = "cloud-accounts";

/// Treats an explicit JSON `null` like an absent field.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A cloud account as `GET /cloud-accounts[/{id}]` returns it. The API never returns the
/// secret key, console username or console password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudAccount {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub sign_in_login_url: Option<String>,
    #[serde(default)]
    pub aws_console_role_arn: Option<String>,
    #[serde(default)]
    pub aws_user_arn: Option<String>,
    // `links` (HATEOAS, in two shapes over the years) are skipped unread: nothing follows them,
    // and a list of hundreds of tasks or accounts spends most of its parsing on them.
}

impl CloudAccount {
    /// Whether a list answer masked a field (an `accessKeyId` such as `A***E`): such an entry
    /// must be read by ID before any of its values is trusted.
    pub fn has_masked_fields(&self) -> bool {
        self.access_key_id
            .as_deref()
            .is_some_and(|k| k.contains('*'))
    }

    /// `delete-draft` or `deleted`: on its way out (see [`is_deleting_status`]).
    pub fn is_being_deleted(&self) -> bool {
        self.status.as_deref().is_some_and(is_deleting_status)
    }

    pub fn status_kind(&self) -> AccountStatusKind {
        AccountStatusKind::classify(self.status.as_deref().unwrap_or(""))
    }
}

/// How a cloud-account status bears on waiting for it to become active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatusKind {
    /// `draft`, `pending`, `change-draft`, `change-pending`: provisioning is under way.
    Pending,
    /// `active`.
    Active,
    /// `active-error`, `error`, `deleted`, `delete-draft`: it will not become active by itself.
    Failed,
    /// A status this client does not know (or none).
    Unknown,
}

impl AccountStatusKind {
    pub fn classify(status: &str) -> Self {
        match status {
            "draft" | "pending" | "change-draft" | "change-pending" => Self::Pending,
            "active" => Self::Active,
            "active-error" | "error" | "deleted" | "delete-draft" => Self::Failed,
            _ => Self::Unknown,
        }
    }
}

/// Whether a cloud-account status is `delete-draft` or `deleted`: the account is on its way out.
pub fn is_deleting_status(status: &str) -> bool {
    matches!(status, "delete-draft" | "deleted")
}

/// Whether `status` is a task or cloud-account status this client knows. The contract types
/// account statuses as a free string, so a newer API may answer others.
pub fn is_known_status(status: &str) -> bool {
    AccountStatusKind::classify(status) != AccountStatusKind::Unknown
        || !matches!(TaskStatus::parse(status), TaskStatus::Other(_))
}

/// `GET /cloud-accounts` body. `cloudAccounts` is absent from the published schema but present in
/// real responses.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CloudAccountList {
    #[serde(default, deserialize_with = "null_as_default")]
    pub cloud_accounts: Vec<CloudAccount>,
}

/// `POST /cloud-accounts` body.
#[derive(Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudAccountCreateRequest {
    pub name: String,
    /// `AWS` or `GCP`; the API defaults to `AWS` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub access_key_id: String,
    pub access_secret_key: Secret,
    pub console_username: String,
    pub console_password: Secret,
    pub sign_in_login_url: String,
}

impl fmt::Debug for CloudAccountCreateRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudAccountCreateRequest")
            .field("name", &self.name)
            .field("provider", &self.provider)
            .field("access_key_id", &self.access_key_id)
            .field("access_secret_key", &self.access_secret_key)
            .field("console_username", &self.console_username)
            .field("console_password", &self.console_password)
            .field("sign_in_login_url", &self.sign_in_login_url)
            .finish()
    }
}

/// `PUT /cloud-accounts/{id}` body. The API has no `provider` field here: changing the provider
/// means a new account.
#[derive(Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudAccountUpdateRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub access_key_id: String,
    pub access_secret_key: Secret,
    pub console_username: String,
    pub console_password: Secret,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_in_login_url: Option<String>,
}

impl fmt::Debug for CloudAccountUpdateRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudAccountUpdateRequest")
            .field("name", &self.name)
            .field("access_key_id", &self.access_key_id)
            .field("access_secret_key", &self.access_secret_key)
            .field("console_username", &self.console_username)
            .field("console_password", &self.console_password)
            .field("sign_in_login_url", &self.sign_in_login_url)
            .finish()
    }
}

/// A task envelope: what writes return and what `GET /tasks/{id}` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStateUpdate {
    pub task_id: String,
    #[serde(default)]
    pub command_type: Option<String>,
    /// Raw status; see [`TaskStateUpdate::task_status`].
    pub status: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub response: Option<ProcessorResponse>,
    // `links` are skipped unread, as the account's are.
}

impl TaskStateUpdate {
    pub fn task_status(&self) -> TaskStatus {
        TaskStatus::parse(&self.status)
    }

    /// The id of the resource the task created or changed, once it completed.
    pub fn resource_id(&self) -> Option<i64> {
        self.response.as_ref().and_then(|r| r.resource_id)
    }

    /// The failure details when the task failed: status `processing-error`, or any status with a
    /// non-null `response.error` (the API reports errors that way too).
    pub fn failure(&self) -> Option<TaskFailure> {
        let error = self.response.as_ref().and_then(|r| r.error.as_ref());
        if error.is_none() && self.task_status() != TaskStatus::ProcessingError {
            return None;
        }
        Some(TaskFailure {
            task_id: self.task_id.clone(),
            command_type: self.command_type.clone(),
            status: self.status.clone(),
            description: self.description.clone(),
            error_type: error.and_then(|e| e.error_type.clone()),
            error_status: error.and_then(|e| e.status.clone()),
            error_description: error.and_then(|e| e.description.clone()),
            additional_info: self
                .response
                .as_ref()
                .and_then(|r| r.additional_info.clone()),
            resource_id: self.resource_id(),
        })
    }
}

/// Task states from the API; anything else is kept verbatim in `Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskStatus {
    Initialized,
    Received,
    ProcessingInProgress,
    ProcessingCompleted,
    ProcessingError,
    Other(String),
}

impl TaskStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "initialized" => Self::Initialized,
            "received" => Self::Received,
            "processing-in-progress" => Self::ProcessingInProgress,
            "processing-completed" => Self::ProcessingCompleted,
            "processing-error" => Self::ProcessingError,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Initialized => "initialized",
            Self::Received => "received",
            Self::ProcessingInProgress => "processing-in-progress",
            Self::ProcessingCompleted => "processing-completed",
            Self::ProcessingError => "processing-error",
            Self::Other(s) => s,
        }
    }

    /// Still queued or running.
    pub fn is_in_progress(&self) -> bool {
        matches!(
            self,
            Self::Initialized | Self::Received | Self::ProcessingInProgress
        )
    }

    /// Not known to have ended: in progress, or a status this client does not know (which the
    /// task waiter keeps polling too). What decides whether a write may be on its way uses this.
    pub fn may_still_run(&self) -> bool {
        !matches!(self, Self::ProcessingCompleted | Self::ProcessingError)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `response` part of a task.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessorResponse {
    #[serde(default)]
    pub resource_id: Option<i64>,
    #[serde(default)]
    pub additional_resource_id: Option<i64>,
    #[serde(default)]
    pub resource: Option<Value>,
    #[serde(default)]
    pub error: Option<TaskErrorDetail>,
    #[serde(default)]
    pub additional_info: Option<String>,
}

/// A task error. The API sends an object `{type, status, description}` although the published
/// spec says string; a bare string is accepted too and taken as the type.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TaskErrorDetail {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// `"<code> <REASON>"`, e.g. `"404 NOT_FOUND"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl<'de> Deserialize<'de> for TaskErrorDetail {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Via Value rather than an untagged enum: untagged buffering breaks numbers under
        // serde_json's arbitrary_precision, and a stray numeric `status` must not fail the task.
        fn text(v: Option<&Value>) -> Option<String> {
            match v? {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            }
        }
        match Value::deserialize(d)? {
            Value::String(s) => Ok(TaskErrorDetail {
                error_type: Some(s),
                ..Default::default()
            }),
            Value::Object(m) => Ok(TaskErrorDetail {
                error_type: text(m.get("type")),
                status: text(m.get("status")),
                description: text(m.get("description")),
            }),
            other => Ok(TaskErrorDetail {
                error_type: Some(other.to_string()),
                ..Default::default()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_contract_s_statuses_are_known() {
        for known in [
            "draft",
            "active",
            "active-error",
            "deleted",
            "received",
            "processing-error",
        ] {
            assert!(is_known_status(known), "{known}");
        }
        for novel in ["suspended", "on-hold", "", "Active"] {
            assert!(!is_known_status(novel), "{novel}");
        }
    }

    #[test]
    fn cloud_account_decodes_all_fields_and_ignores_unknown() {
        let a: CloudAccount = serde_json::from_str(
            r#"{"id":7,"name":"n","provider":"AWS","status":"active","accessKeyId":"AK",
                "signInLoginUrl":"https://x","awsConsoleRoleArn":"arn:r","awsUserArn":"arn:u",
                "links":[{"rel":"self","href":"h","type":"GET"}],"surprise":1}"#,
        )
        .unwrap();
        assert_eq!(a.id, 7);
        assert_eq!(a.aws_console_role_arn.as_deref(), Some("arn:r"));
        assert_eq!(a.aws_user_arn.as_deref(), Some("arn:u"));
        assert_eq!(a.sign_in_login_url.as_deref(), Some("https://x"));
        assert_eq!(a.status_kind(), AccountStatusKind::Active);
        let minimal: CloudAccount = serde_json::from_str(r#"{"id":1,"links":null}"#).unwrap();
        assert!(minimal.status.is_none());
        assert_eq!(minimal.status_kind(), AccountStatusKind::Unknown);
    }

    #[test]
    fn task_error_accepts_object_and_string() {
        let t: TaskStateUpdate = serde_json::from_str(
            r#"{"taskId":"t1","commandType":"cloudAccountDeleteRequest","status":"processing-error",
                "description":"failed","timestamp":"2023-06-21T09:37:08.99213Z",
                "response":{"error":{"type":"CLOUD_ACCOUNT_NOT_FOUND","status":"404 NOT_FOUND",
                "description":"Cloud account was not found"},"additionalInfo":"cloud-account-does-not-exists"},
                "_links":{"task":{"href":"x"}}}"#,
        )
        .unwrap();
        let f = t.failure().unwrap();
        assert_eq!(f.error_type.as_deref(), Some("CLOUD_ACCOUNT_NOT_FOUND"));
        assert_eq!(f.error_status.as_deref(), Some("404 NOT_FOUND"));
        assert_eq!(
            f.additional_info.as_deref(),
            Some("cloud-account-does-not-exists")
        );
        let s: TaskStateUpdate = serde_json::from_str(
            r#"{"taskId":"t2","status":"processing-completed","response":{"error":"GENERAL_ERROR","resourceId":5}}"#,
        )
        .unwrap();
        assert_eq!(
            s.failure().unwrap().error_type.as_deref(),
            Some("GENERAL_ERROR")
        );
        assert_eq!(s.resource_id(), Some(5));
    }

    #[test]
    fn completed_task_without_error_is_not_a_failure() {
        let t: TaskStateUpdate = serde_json::from_str(
            r#"{"taskId":"t","status":"processing-completed","response":{"resourceId":42,"error":null},"links":[]}"#,
        )
        .unwrap();
        assert!(t.failure().is_none());
        assert_eq!(t.task_status(), TaskStatus::ProcessingCompleted);
        assert_eq!(t.resource_id(), Some(42));
        assert_eq!(
            TaskStatus::parse("weird"),
            TaskStatus::Other("weird".into())
        );
        assert!(TaskStatus::parse("received").is_in_progress());
        assert!(TaskStatus::parse("weird").may_still_run());
        assert!(!TaskStatus::parse("processing-error").may_still_run());
    }

    #[test]
    fn requests_serialize_real_values_but_debug_redacts() {
        let c = CloudAccountCreateRequest {
            name: "acct".into(),
            provider: None,
            access_key_id: "AKIA".into(),
            access_secret_key: Secret::new("s3cr3t-key"),
            console_username: "me".into(),
            console_password: Secret::new("pa55word"),
            sign_in_login_url: "https://signin".into(),
        };
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["accessSecretKey"], "s3cr3t-key");
        assert_eq!(json["consolePassword"], "pa55word");
        assert!(json.get("provider").is_none());
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr3t-key") && !dbg.contains("pa55word"));
        assert!(dbg.contains("AKIA"));
        let u = CloudAccountUpdateRequest {
            name: Some("n".into()),
            access_key_id: "AKIA".into(),
            access_secret_key: Secret::new("s3cr3t-key"),
            console_username: "me".into(),
            console_password: Secret::new("pa55word"),
            sign_in_login_url: None,
        };
        let json = serde_json::to_value(&u).unwrap();
        assert!(json.get("provider").is_none() && json.get("signInLoginUrl").is_none());
        let dbg = format!("{u:#?}");
        assert!(!dbg.contains("s3cr3t-key") && !dbg.contains("pa55word"));
    }
}
