//! The cloud account's schema, and the mapping between Terraform values and
//! the client's models.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use rediscloud_api::{CloudAccount, Secret};
use tfplugin::framework::model::{self, ModelError, Val, identity_schema_of, schema_of, tf};
use tfplugin::framework::schema::{IdentitySchema, Nesting, Schema, Validator, parse_duration};
use tfplugin::framework::value::{Number, Value};

/// Full Terraform type name of the resource and the data source.
pub const TYPE_NAME: &str = "rediscloud_cloud_account";

/// Redis Cloud's own cloud account ("Redis Internal Resources"), listed for every
/// account and never managed by users; defined once, by the client.
pub use rediscloud_api::ops::create::INTERNAL_ACCOUNT_ID;

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

/// The resource schema, derived from [`CloudAccountModel`]. Names and meanings match the official provider so that
/// its configurations and state work unchanged.
pub fn resource_schema() -> Schema {
    schema_of::<CloudAccountModel>(0)
}

/// Registers the credentials of a cloud account of your own (AWS, or GCP) with Redis Cloud, so that Redis Cloud can
/// deploy subscriptions into it ("Bring Your Own Account", BYOA).
///
/// Every create, update and delete waits for the Redis Cloud task to finish and then for the account to become
/// `active` (or to be gone).
///
/// Redis Cloud never returns `access_secret_key`, `console_username` or `console_password`, so changes made to them
/// outside Terraform cannot be detected.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = tf::config_validators(&[
    tf::exactly_one_of(&["access_secret_key", "access_secret_key_wo"]),
    tf::exactly_one_of(&["console_password", "console_password_wo"]),
    tf::requires_with("access_secret_key_wo", "access_secret_key_wo_version"),
    tf::requires_with("access_secret_key_wo_version", "access_secret_key_wo"),
    tf::requires_with("console_password_wo", "console_password_wo_version"),
    tf::requires_with("console_password_wo_version", "console_password_wo"),
]))]
pub struct CloudAccountModel {
    /// The cloud account ID assigned by Redis Cloud (a number, as a string).
    #[schemars(transform = tf::computed().use_state_for_unknown())]
    pub id: Val<String>,
    /// Display name of the cloud account. Unique within the Redis Cloud account.
    #[schemars(transform = tf::required().validate(Validator::NotBlank))]
    pub name: Val<String>,
    /// The cloud provider: `AWS` or `GCP`. Changing it replaces the cloud account.
    #[schemars(transform = tf::required().requires_replace().validate(Validator::one_of(&PROVIDER_TYPES)))]
    pub provider_type: Val<String>,
    /// Access key ID of the IAM user Redis Cloud uses to manage resources in your account.
    #[schemars(transform = tf::required().validate(Validator::NotBlank))]
    pub access_key_id: Val<String>,
    /// Secret access key of that IAM user. Stored in state; prefer `access_secret_key_wo` with Terraform 1.11 or
    /// later. Exactly one of the two must be set.
    #[schemars(transform = tf::optional().sensitive().validate(Validator::NotBlank))]
    pub access_secret_key: Val<Secret>,
    /// Write-only form of `access_secret_key` (Terraform 1.11 or later): sent to Redis Cloud, never stored in plan
    /// or state. Requires `access_secret_key_wo_version`.
    #[schemars(transform = tf::optional().sensitive().write_only().validate(Validator::NotBlank))]
    pub access_secret_key_wo: Val<Secret>,
    /// Version of `access_secret_key_wo`. Terraform cannot see changes in write-only values, so change this number
    /// to send a new secret.
    #[schemars(transform = tf::optional().validate(Validator::IntegerAtLeast(0)))]
    pub access_secret_key_wo_version: Val<Number>,
    /// User name of the console user (or IAM role) Redis Cloud uses for console access.
    #[schemars(transform = tf::required().validate(Validator::NotBlank))]
    pub console_username: Val<String>,
    /// Password of the console user. Stored in state; prefer `console_password_wo` with Terraform 1.11 or later.
    /// Exactly one of the two must be set.
    #[schemars(transform = tf::optional().sensitive().validate(Validator::NotBlank))]
    pub console_password: Val<Secret>,
    /// Write-only form of `console_password` (Terraform 1.11 or later): sent to Redis Cloud, never stored in plan
    /// or state. Requires `console_password_wo_version`.
    #[schemars(transform = tf::optional().sensitive().write_only().validate(Validator::NotBlank))]
    pub console_password_wo: Val<Secret>,
    /// Version of `console_password_wo`. Change this number to send a new password.
    #[schemars(transform = tf::optional().validate(Validator::IntegerAtLeast(0)))]
    pub console_password_wo_version: Val<Number>,
    /// The cloud console sign-in URL, e.g. `https://123456789012.signin.aws.amazon.com/console`.
    #[schemars(transform = tf::required().validate(Validator::HttpsUrl))]
    pub sign_in_login_url: Val<String>,
    /// Status of the cloud account: `active` once applied; `draft`, `pending`, `change-draft` or `change-pending`
    /// while Redis Cloud works; `active-error` or `error` when it cannot use the credentials.
    #[schemars(transform = tf::computed())]
    pub status: Val<String>,
    /// ARN of the AWS console role, as reported by Redis Cloud (AWS only).
    #[schemars(transform = tf::computed().use_state_for_unknown())]
    pub aws_console_role_arn: Val<String>,
    /// ARN of the AWS IAM user, as reported by Redis Cloud (AWS only).
    #[schemars(transform = tf::computed().use_state_for_unknown())]
    pub aws_user_arn: Val<String>,
    /// How long each operation may take, waits included.
    #[schemars(transform = tf::block(Nesting::Single))]
    pub timeouts: Val<Timeouts>,
}

/// The `timeouts` block.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Timeouts {
    /// How long to wait for the create to finish. Default `10m`.
    #[schemars(transform = tf::optional().validate(Validator::DurationAtLeast(MIN_TIMEOUT)))]
    pub create: Val<String>,
    /// How long to wait for the read to finish. Default `5m`.
    #[schemars(transform = tf::optional().validate(Validator::DurationAtLeast(MIN_TIMEOUT)))]
    pub read: Val<String>,
    /// How long to wait for the update to finish. Default `10m`.
    #[schemars(transform = tf::optional().validate(Validator::DurationAtLeast(MIN_TIMEOUT)))]
    pub update: Val<String>,
    /// How long to wait for the delete to finish. Default `10m`.
    #[schemars(transform = tf::optional().validate(Validator::DurationAtLeast(MIN_TIMEOUT)))]
    pub delete: Val<String>,
}

impl CloudAccountModel {
    /// Reads a resource object (configuration, plan or state).
    pub fn read(value: &Value) -> Result<CloudAccountModel, ModelError> {
        model::read(value)
    }

    /// The resource object.
    pub fn to_value(&self) -> Value {
        // Every field is a string, a number or a nested model of those, which always serialize.
        model::write(self).unwrap_or(Value::Null)
    }

    /// True when going from `self` to `planned` changes something Redis Cloud must be told (a `*_wo_version`
    /// change means "send the write-only secret again"); `timeouts` and what only Redis Cloud sets are not sent.
    pub fn sends_anything(&self, planned: &CloudAccountModel) -> bool {
        self.name != planned.name
            || self.access_key_id != planned.access_key_id
            || self.sign_in_login_url != planned.sign_in_login_url
            || self.rotates_secrets(planned)
    }

    /// True when going from `self` to `planned` sends a secret the API never returns.
    pub fn rotates_secrets(&self, planned: &CloudAccountModel) -> bool {
        self.access_secret_key != planned.access_secret_key
            || self.access_secret_key_wo_version != planned.access_secret_key_wo_version
            || self.console_username != planned.console_username
            || self.console_password != planned.console_password
            || self.console_password_wo_version != planned.console_password_wo_version
    }

    /// Copies what the API reports. Attributes the API never returns keep their values.
    pub fn merge(&mut self, account: &CloudAccount) {
        self.id = Val::Known(account.id.to_string());
        let keep = |field: &mut Val<String>, reported: &Option<String>| {
            if let Some(v) = reported {
                *field = Val::Known(v.clone());
            }
        };
        keep(&mut self.name, &account.name);
        keep(&mut self.provider_type, &account.provider);
        keep(&mut self.access_key_id, &account.access_key_id);
        keep(&mut self.sign_in_login_url, &account.sign_in_login_url);
        self.merge_computed(account);
    }

    /// Takes only what the API computes (status, ARNs) from `account`.
    pub fn merge_computed(&mut self, account: &CloudAccount) {
        self.status = account.status.clone().into();
        self.aws_console_role_arn = account.aws_console_role_arn.clone().into();
        self.aws_user_arn = account.aws_user_arn.clone().into();
    }
}

/// The identity schema, derived from [`CloudAccountIdentity`].
pub fn identity_schema() -> IdentitySchema {
    identity_schema_of::<CloudAccountIdentity>(0)
}

/// A cloud account's identity (Terraform 1.12+ `import { identity = { id = "…" } }`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CloudAccountIdentity {
    /// The cloud account ID.
    #[schemars(transform = tf::required())]
    pub id: Val<String>,
}

/// The identity object for an account ID.
pub fn identity_value(id: &str) -> Value {
    model::write(&CloudAccountIdentity {
        id: Val::Known(id.to_owned()),
    })
    .unwrap_or(Value::Null)
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

/// The `id` of a create not settled when its operation ended. What it needs to be settled
/// later is kept in private state ([`rediscloud_api::ownership::PendingCreate`]).
pub const PENDING_ID: &str = "pending-create";

/// The `id` prefix under which states written before [`PENDING_ID`] kept a create whose task had
/// not finished: `pending-task:<task ID>[,<task ID>…]`.
pub const LEGACY_PENDING_TASK_PREFIX: &str = "pending-task:";

/// The `id` prefix under which states written before [`PENDING_ID`] kept a create whose answer
/// was lost: `pending-create:after-<account ID>`.
pub const LEGACY_PENDING_AFTER_PREFIX: &str = "pending-create:after-";

/// What a state's `id` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateId {
    /// A cloud account ID.
    Account(i64),
    /// A create not settled yet, with what an older state's `id` recorded of it.
    Pending(LegacyPending),
}

/// What a pending create's `id` itself records: nothing (the record is in private state), or
/// what states written before that record kept in the `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyPending {
    None,
    /// `pending-task:<ids>`: the create's candidate tasks.
    Tasks(Vec<String>),
    /// `pending-create:after-<id>`: accounts up to this ID existed before the create.
    After(i64),
}

/// Reads a state's `id`.
pub fn state_id(state: &Value) -> Result<StateId, String> {
    let Some(raw) = state.attr("id").as_str() else {
        return Err("The state has no `id`.".to_owned());
    };
    if raw == PENDING_ID {
        return Ok(StateId::Pending(LegacyPending::None));
    }
    if let Some(after) = raw.strip_prefix(LEGACY_PENDING_AFTER_PREFIX)
        && let Ok(after) = after.parse::<i64>()
    {
        return Ok(StateId::Pending(LegacyPending::After(after)));
    }
    if let Some(tasks) = raw.strip_prefix(LEGACY_PENDING_TASK_PREFIX) {
        let tasks: Vec<String> = tasks
            .split(',')
            .filter(|t| !t.trim().is_empty())
            .map(|t| t.trim().to_owned())
            .collect();
        if !tasks.is_empty() {
            return Ok(StateId::Pending(LegacyPending::Tasks(tasks)));
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
    /// Reads a wholly known configuration (apply time); the error names what is missing.
    pub fn from_config(config: &Value) -> Result<AccountConfig, String> {
        Self::from_model(&CloudAccountModel::read(config).map_err(|e| e.to_string())?)
    }

    /// [`AccountConfig::from_config`] of a configuration already decoded.
    pub fn from_model(m: &CloudAccountModel) -> Result<AccountConfig, String> {
        fn text(v: &Val<String>, name: &str) -> Result<String, String> {
            v.known()
                .cloned()
                .ok_or_else(|| format!("`{name}` is not set"))
        }
        fn secret(plain: &Val<Secret>, wo: &Val<Secret>, names: &str) -> Result<Secret, String> {
            plain
                .known()
                .or(wo.known())
                .cloned()
                .ok_or_else(|| format!("one of {names} must be set"))
        }
        Ok(AccountConfig {
            name: text(&m.name, "name")?,
            provider_type: text(&m.provider_type, "provider_type")?,
            access_key_id: text(&m.access_key_id, "access_key_id")?,
            access_secret_key: secret(
                &m.access_secret_key,
                &m.access_secret_key_wo,
                "`access_secret_key` or `access_secret_key_wo`",
            )?,
            console_username: text(&m.console_username, "console_username")?,
            console_password: secret(
                &m.console_password,
                &m.console_password_wo,
                "`console_password` or `console_password_wo`",
            )?,
            sign_in_login_url: text(&m.sign_in_login_url, "sign_in_login_url")?,
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

impl Operation {
    /// Its key in the `timeouts` block.
    pub fn key(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Read => "read",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
}

/// What a timeout of `op` tells the user: its deadline as written (`delete = "5s"`), or its
/// default, and where to raise it.
pub fn deadline_text(timeouts: &Val<Timeouts>, op: Operation) -> String {
    let written = timeouts
        .known()
        .cloned()
        .and_then(|t| {
            match op {
                Operation::Create => t.create,
                Operation::Read => t.read,
                Operation::Update => t.update,
                Operation::Delete => t.delete,
            }
            .into_known()
        })
        .filter(|v: &String| parse_duration(v).is_some());
    let key = op.key();
    match written {
        Some(v) => format!(
            "The deadline `{key} = {v:?}` in this resource's `timeouts` block ran out. If Redis Cloud needs longer, raise it."
        ),
        None => format!(
            "The deadline `{key} = \"{}m\"` (the default) ran out. If Redis Cloud needs longer, set a longer `{key}` in this resource's `timeouts` block.",
            timeout(&Val::Null, op).as_secs() / 60
        ),
    }
}

/// The `timeouts` block of a state, plan or configuration object (null when it has none).
pub fn timeouts_of(obj: &Value) -> Val<Timeouts> {
    match obj.attr("timeouts") {
        Value::Null => Val::Null,
        block => model::read::<Timeouts>(block).map_or(Val::Null, |t| Val::from(Some(t))),
    }
}

/// The timeout of `op` from an object's `timeouts` block, or its default.
pub fn timeout(timeouts: &Val<Timeouts>, op: Operation) -> Duration {
    let timeouts = timeouts.known().cloned().unwrap_or_default();
    let (configured, default) = match op {
        Operation::Create => (timeouts.create, DEFAULT_TIMEOUT),
        Operation::Read => (timeouts.read, DEFAULT_READ_TIMEOUT),
        Operation::Update => (timeouts.update, DEFAULT_TIMEOUT),
        Operation::Delete => (timeouts.delete, DEFAULT_TIMEOUT),
    };
    configured
        .as_deref()
        .and_then(parse_duration)
        .unwrap_or(default)
}

/// Copies what the API reports into a state object. Attributes the API never returns keep their values.
/// Records in `state` what the API computed for `account` (its status and ARNs), keeping every
/// configured value: after an update, the plan's values are the truth.
pub fn merge_computed(state: &mut Value, account: &CloudAccount) {
    if let Ok(mut model) = CloudAccountModel::read(state) {
        model.merge_computed(account);
        *state = model.to_value();
    }
}

pub fn merge_account(state: &mut Value, account: &CloudAccount) {
    match CloudAccountModel::read(state) {
        Ok(mut model) => {
            model.merge(account);
            *state = model.to_value();
        }
        // A state Terraform decoded against this schema always fits the model; should one not, keep what it holds
        // and record only the ID, which must reach state whatever else happens.
        Err(err) => {
            tracing::error!("state does not fit the cloud account model: {err}");
            if let Some(obj) = state.as_object_mut() {
                obj.insert("id".to_owned(), Value::string(account.id.to_string()));
            }
        }
    }
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
        let obj = timeouts_of(&obj);
        assert_eq!(timeout(&obj, Operation::Create), Duration::from_secs(90));
        assert_eq!(timeout(&obj, Operation::Delete), DEFAULT_TIMEOUT);
        assert_eq!(timeout(&Val::Null, Operation::Read), DEFAULT_READ_TIMEOUT);
        assert!(
            deadline_text(&obj, Operation::Create)
                .starts_with("The deadline `create = \"90s\"` in this resource's `timeouts` block")
        );
        assert!(
            deadline_text(&obj, Operation::Delete)
                .starts_with("The deadline `delete = \"10m\"` (the default) ran out.")
        );
        assert!(
            deadline_text(&Val::Null, Operation::Read)
                .starts_with("The deadline `read = \"5m\"` (the default)")
        );
    }
}
