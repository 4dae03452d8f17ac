//! The cloud account's schema, and the mapping between Terraform values and
//! the client's models.

use std::time::Duration;

use crate::client::{CloudAccount, Secret};
use crate::framework::schema::{
    Attribute, Block, ConfigValidator, IdentityAttribute, IdentitySchema, NestedBlock, Nesting,
    Presence, Schema, Validator, parse_duration,
};
use crate::framework::value::{Type, Value};

/// Full Terraform type name of the resource and the data source.
pub const TYPE_NAME: &str = "rediscloud_cloud_account";

/// Redis Cloud's own cloud account ("Redis Internal Resources"), listed for every
/// account and never managed by users.
pub const INTERNAL_ACCOUNT_ID: i64 = 1;

/// Cloud providers the API accepts.
pub const PROVIDER_TYPES: [&str; 2] = ["AWS", "GCP"];

/// Default for each `timeouts` entry. The official provider uses 5 minutes;
/// provisioning in a customer's cloud can take longer, so allow double.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Default for `timeouts.read`.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(300);
/// The shortest `timeouts` value accepted. Every operation makes at least one API round trip
/// (a create or delete several, and a wait ends with a look at its deadline), each of which
/// takes a good part of a second against Redis Cloud; anything shorter is certain to run out
/// before the first answer, and `0s` (which used to be accepted) before the first request.
pub const MIN_TIMEOUT: Duration = Duration::from_secs(1);

/// The resource schema. Names and meanings match the official provider so
/// that its configurations and state work unchanged.
pub fn resource_schema() -> Schema {
    use Presence::*;
    let timeout = |op: &'static str, default: &str| {
        Attribute::string(op, Optional)
            .describe(&format!(
                "How long to wait for the {op} to finish. Default `{default}`."
            ))
            .validate(Validator::DurationAtLeast(MIN_TIMEOUT))
    };
    Schema {
        version: 0,
        block: Block {
            description: "Registers the credentials of a cloud account of your own (AWS, or GCP) with Redis Cloud, so that Redis Cloud can deploy subscriptions into it (\"Bring Your Own Account\", BYOA).\n\nEvery create, update and delete waits for the Redis Cloud task to finish and then for the account to become `active` (or to be gone).\n\nRedis Cloud never returns `access_secret_key`, `console_username` or `console_password`, so changes made to them outside Terraform cannot be detected.".to_owned(),
            attributes: vec![
                Attribute::string("id", Computed)
                    .use_state_for_unknown()
                    .describe("The cloud account ID assigned by Redis Cloud (a number, as a string)."),
                Attribute::string("name", Required)
                    .describe("Display name of the cloud account. Unique within the Redis Cloud account.")
                    .validate(Validator::NotBlank),
                Attribute::string("provider_type", Required)
                    .requires_replace()
                    .describe("The cloud provider: `AWS` or `GCP`. Changing it replaces the cloud account.")
                    .validate(Validator::OneOf(PROVIDER_TYPES.to_vec())),
                Attribute::string("access_key_id", Required)
                    .describe("Access key ID of the IAM user Redis Cloud uses to manage resources in your account.")
                    .validate(Validator::NotBlank),
                Attribute::string("access_secret_key", Optional)
                    .sensitive()
                    .describe("Secret access key of that IAM user. Stored in state; prefer `access_secret_key_wo` with Terraform 1.11 or later. Exactly one of the two must be set.")
                    .validate(Validator::NotBlank),
                Attribute::string("access_secret_key_wo", Optional)
                    .sensitive()
                    .write_only()
                    .describe("Write-only form of `access_secret_key` (Terraform 1.11 or later): sent to Redis Cloud, never stored in plan or state. Requires `access_secret_key_wo_version`.")
                    .validate(Validator::NotBlank),
                Attribute::number("access_secret_key_wo_version", Optional)
                    .describe("Version of `access_secret_key_wo`. Terraform cannot see changes in write-only values, so change this number to send a new secret.")
                    .validate(Validator::IntegerAtLeast(0)),
                Attribute::string("console_username", Required)
                    .describe("User name of the console user (or IAM role) Redis Cloud uses for console access.")
                    .validate(Validator::NotBlank),
                Attribute::string("console_password", Optional)
                    .sensitive()
                    .describe("Password of the console user. Stored in state; prefer `console_password_wo` with Terraform 1.11 or later. Exactly one of the two must be set.")
                    .validate(Validator::NotBlank),
                Attribute::string("console_password_wo", Optional)
                    .sensitive()
                    .write_only()
                    .describe("Write-only form of `console_password` (Terraform 1.11 or later): sent to Redis Cloud, never stored in plan or state. Requires `console_password_wo_version`.")
                    .validate(Validator::NotBlank),
                Attribute::number("console_password_wo_version", Optional)
                    .describe("Version of `console_password_wo`. Change this number to send a new password.")
                    .validate(Validator::IntegerAtLeast(0)),
                Attribute::string("sign_in_login_url", Required)
                    .describe("The cloud console sign-in URL, e.g. `https://123456789012.signin.aws.amazon.com/console`.")
                    .validate(Validator::HttpsUrl),
                Attribute::string("status", Computed)
                    .describe("Status of the cloud account: `active` once applied; `draft`, `pending`, `change-draft` or `change-pending` while Redis Cloud works; `active-error` or `error` when it cannot use the credentials."),
                Attribute::string("aws_console_role_arn", Computed)
                    .use_state_for_unknown()
                    .describe("ARN of the AWS console role, as reported by Redis Cloud (AWS only)."),
                Attribute::string("aws_user_arn", Computed)
                    .use_state_for_unknown()
                    .describe("ARN of the AWS IAM user, as reported by Redis Cloud (AWS only)."),
            ],
            blocks: vec![NestedBlock {
                name: "timeouts",
                nesting: Nesting::Single,
                block: Block {
                    description: "How long each operation may take, waits included.".to_owned(),
                    attributes: vec![
                        timeout("create", "10m"),
                        timeout("read", "5m"),
                        timeout("update", "10m"),
                        timeout("delete", "10m"),
                    ],
                    blocks: vec![],
                },
            }],
        },
        config_validators: vec![
            ConfigValidator::ExactlyOneOf(vec!["access_secret_key", "access_secret_key_wo"]),
            ConfigValidator::ExactlyOneOf(vec!["console_password", "console_password_wo"]),
            ConfigValidator::RequiresWith("access_secret_key_wo", "access_secret_key_wo_version"),
            ConfigValidator::RequiresWith("access_secret_key_wo_version", "access_secret_key_wo"),
            ConfigValidator::RequiresWith("console_password_wo", "console_password_wo_version"),
            ConfigValidator::RequiresWith("console_password_wo_version", "console_password_wo"),
        ],
    }
}

/// The identity schema: the account ID (Terraform 1.12+ `import { identity = { id = "…" } }`).
pub fn identity_schema() -> IdentitySchema {
    IdentitySchema {
        version: 0,
        attributes: vec![IdentityAttribute {
            name: "id",
            ty: Type::String,
            description: "The cloud account ID.".to_owned(),
            required_for_import: true,
        }],
    }
}

/// The identity object for an account ID.
pub fn identity_value(id: &str) -> Value {
    Value::Object([("id".to_owned(), Value::string(id))].into_iter().collect())
}

/// Parses a user-supplied cloud account ID: a positive integer, not the internal account.
pub fn parse_id(text: &str) -> Result<i64, String> {
    let t = text.trim();
    match t.parse::<i64>() {
        Ok(INTERNAL_ACCOUNT_ID) => Err(format!(
            "Cloud account {INTERNAL_ACCOUNT_ID} is Redis Cloud's internal account (\"Redis Internal Resources\"); it cannot be managed with Terraform."
        )),
        Ok(n) if n > 0 && t.chars().all(|c| c.is_ascii_digit()) => Ok(n),
        _ => Err(format!(
            "The cloud account ID must be a positive whole number such as \"12345\", got: {text:?}."
        )),
    }
}

/// The `id` prefix of a create whose Redis Cloud task had not finished when the apply ended:
/// `pending-task:<task ID>` (several IDs, comma-separated, when creates of the same name raced).
/// The next refresh replaces it with the account's ID.
pub const PENDING_TASK_PREFIX: &str = "pending-task:";

/// The `id` prefix of a create whose answer was lost and whose task could not be told apart:
/// `pending-create:after-<account ID>`. The next refresh looks for the account it made among
/// the accounts created after that one.
pub const PENDING_CREATE_PREFIX: &str = "pending-create:after-";

/// The `id` of a pending create.
pub fn pending_id(task_ids: &[String]) -> String {
    format!("{PENDING_TASK_PREFIX}{}", task_ids.join(","))
}

/// What a state's `id` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateId {
    /// A cloud account ID.
    Account(i64),
    /// The candidate tasks of a create that had not finished.
    PendingCreate(Vec<String>),
    /// A create whose answer was lost: its account, if any, has an ID above this one.
    UnattributedCreate(i64),
}

/// Reads a state's `id`.
pub fn state_id(state: &Value) -> Result<StateId, String> {
    let Some(raw) = state.attr("id").as_str() else {
        return Err("The state has no `id`.".to_owned());
    };
    if let Some(after) = raw.strip_prefix(PENDING_CREATE_PREFIX)
        && let Ok(after) = after.parse::<i64>()
    {
        return Ok(StateId::UnattributedCreate(after));
    }
    if let Some(tasks) = raw.strip_prefix(PENDING_TASK_PREFIX) {
        let tasks: Vec<String> = tasks
            .split(',')
            .filter(|t| !t.trim().is_empty())
            .map(|t| t.trim().to_owned())
            .collect();
        if !tasks.is_empty() {
            return Ok(StateId::PendingCreate(tasks));
        }
    }
    match raw.parse::<i64>() {
        Ok(id) if id > 0 => Ok(StateId::Account(id)),
        _ => Err(format!(
            "The state's `id` {raw:?} is not a cloud account ID. Remove it with `terraform state rm` and import the account again."
        )),
    }
}

/// Credentials and settings read from configuration (plain or write-only).
pub struct AccountConfig {
    /// `name`
    pub name: String,
    /// `provider_type`
    pub provider_type: String,
    /// `access_key_id`
    pub access_key_id: String,
    /// `access_secret_key` or `access_secret_key_wo`
    pub access_secret_key: Secret,
    /// `console_username`
    pub console_username: String,
    /// `console_password` or `console_password_wo`
    pub console_password: Secret,
    /// `sign_in_login_url`
    pub sign_in_login_url: String,
}

impl AccountConfig {
    /// Reads a wholly known configuration (apply time); `None` names what is missing.
    pub fn from_config(config: &Value) -> Result<AccountConfig, String> {
        let s = |name: &str| {
            config
                .attr(name)
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("`{name}` is not set"))
        };
        let secret = |plain: &str, wo: &str| {
            config
                .attr(plain)
                .as_str()
                .or_else(|| config.attr(wo).as_str())
                .map(Secret::new)
                .ok_or_else(|| format!("one of `{plain}` or `{wo}` must be set"))
        };
        Ok(AccountConfig {
            name: s("name")?,
            provider_type: s("provider_type")?,
            access_key_id: s("access_key_id")?,
            access_secret_key: secret("access_secret_key", "access_secret_key_wo")?,
            console_username: s("console_username")?,
            console_password: secret("console_password", "console_password_wo")?,
            sign_in_login_url: s("sign_in_login_url")?,
        })
    }
}

/// Which operation a timeout is for.
#[derive(Clone, Copy, Debug)]
pub enum Operation {
    /// create
    Create,
    /// read
    Read,
    /// update
    Update,
    /// delete
    Delete,
}

/// The configured timeout of `op` from a state or configuration object.
pub fn timeout(obj: &Value, op: Operation) -> Duration {
    let (key, default) = match op {
        Operation::Create => ("create", DEFAULT_TIMEOUT),
        Operation::Read => ("read", DEFAULT_READ_TIMEOUT),
        Operation::Update => ("update", DEFAULT_TIMEOUT),
        Operation::Delete => ("delete", DEFAULT_TIMEOUT),
    };
    obj.attr("timeouts")
        .attr(key)
        .as_str()
        .and_then(parse_duration)
        .unwrap_or(default)
}

/// Copies what the API reports into a state object. Attributes the API
/// never returns keep their values.
pub fn merge_account(state: &mut Value, account: &CloudAccount) {
    let Some(obj) = state.as_object_mut() else {
        return;
    };
    let mut set = |k: &str, v: Value| {
        obj.insert(k.to_owned(), v);
    };
    set("id", Value::string(account.id.to_string()));
    if let Some(n) = &account.name {
        set("name", Value::string(n));
    }
    if let Some(p) = &account.provider {
        set("provider_type", Value::string(p));
    }
    if let Some(k) = &account.access_key_id {
        set("access_key_id", Value::string(k));
    }
    if let Some(u) = &account.sign_in_login_url {
        set("sign_in_login_url", Value::string(u));
    }
    set("status", Value::opt_string(account.status.clone()));
    set(
        "aws_console_role_arn",
        Value::opt_string(account.aws_console_role_arn.clone()),
    );
    set(
        "aws_user_arn",
        Value::opt_string(account.aws_user_arn.clone()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_positive_integers_and_not_the_internal_account() {
        assert_eq!(parse_id("42"), Ok(42));
        for bad in ["", "abc", "-3", "0", "1", "4.2", "+5", "12 "] {
            if bad == "12 " {
                assert_eq!(parse_id(bad), Ok(12));
                continue;
            }
            assert!(parse_id(bad).is_err(), "{bad:?}");
        }
        assert!(parse_id("1").unwrap_err().contains("internal"));
    }

    #[test]
    fn timeouts_fall_back_to_defaults() {
        let obj = Value::Object(
            [(
                "timeouts".to_owned(),
                Value::Object(
                    [
                        ("create".to_owned(), Value::string("90s")),
                        ("read".to_owned(), Value::Null),
                        ("update".to_owned(), Value::Null),
                        ("delete".to_owned(), Value::Null),
                    ]
                    .into_iter()
                    .collect(),
                ),
            )]
            .into_iter()
            .collect(),
        );
        assert_eq!(timeout(&obj, Operation::Create), Duration::from_secs(90));
        assert_eq!(timeout(&obj, Operation::Delete), DEFAULT_TIMEOUT);
        assert_eq!(timeout(&Value::Null, Operation::Read), DEFAULT_READ_TIMEOUT);
    }
}
