//! The `rediscloud_cloud_account` resource: create, read, update, delete and
//! import, each waiting for the Redis Cloud task and then for the account's status.

use async_trait::async_trait;
use tokio::time::Instant;

use super::model::{
    self, AccountConfig, Operation, PENDING_TASK_PREFIX, StateId, TYPE_NAME, identity_schema,
    identity_value, merge_account, parse_id, state_id, timeout,
};
use crate::client::reconcile::{CreateFailure, Created, UpdateFailure};
use crate::client::{
    Client, CloudAccountCreateRequest, CloudAccountUpdateRequest, Error, TaskStatus,
};
use crate::framework::diag::Diagnostics;
use crate::framework::path::AttributePath;
use crate::framework::resource::{
    CreateRequest, DeleteRequest, ImportRequest, PlanRequest, ReadOutcome, ReadRequest, Resource,
    UpdateRequest,
};
use crate::framework::schema::{IdentitySchema, Schema};
use crate::framework::value::Value;
use crate::provider::RedisCloud;
use crate::provider::diagnostics::api_error;

/// The `rediscloud_cloud_account` resource type.
#[derive(Debug, Default)]
pub struct CloudAccountResource;

/// What a create that failed after the account existed tells the user.
const KEPT_IN_STATE: &str = "The cloud account exists and is recorded in state, marked tainted: the next `terraform apply` deletes it and creates a new one. To keep this account instead, fix the cause, then run `terraform untaint <resource address>`; the next apply then only changes what differs.";

#[async_trait]
impl Resource for CloudAccountResource {
    type Data = RedisCloud;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        model::resource_schema()
    }

    fn identity_schema(&self) -> Option<IdentitySchema> {
        Some(identity_schema())
    }

    fn identity(&self, state: &Value) -> Option<Value> {
        // A create recorded as pending has no account ID yet, so no identity.
        match state_id(state) {
            Ok(StateId::Account(id)) => Some(identity_value(&id.to_string())),
            _ => None,
        }
    }

    fn modify_plan(
        &self,
        req: PlanRequest<'_>,
        planned: &mut Value,
        _requires_replace: &mut Vec<AttributePath>,
        _diags: &mut Diagnostics,
    ) {
        // The ARNs describe the IAM user behind the access key: they change when the key
        // does. One that was never recorded (state written by the official provider, not
        // refreshed since) is learnt from the update's answer, so it cannot be promised null.
        if req.prior.is_null() || !sends_anything(req.prior, planned) {
            return;
        }
        let key_changes = req.prior.attr("access_key_id") != planned.attr("access_key_id");
        if let Some(obj) = planned.as_object_mut() {
            for arn in ["aws_console_role_arn", "aws_user_arn"] {
                if key_changes || req.prior.attr(arn).is_null() {
                    obj.insert(arn.into(), Value::unknown());
                }
            }
        }
    }

    async fn create(
        &self,
        data: &RedisCloud,
        req: CreateRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let cfg = match AccountConfig::from_config(req.config) {
            Ok(c) => c,
            Err(why) => {
                diags.error("Invalid Cloud Account Configuration", why);
                return None;
            }
        };
        let deadline = Instant::now() + timeout(req.planned, Operation::Create);
        let client = data.client(diags)?.bounded(deadline, &req.stop);
        let body = CloudAccountCreateRequest {
            name: cfg.name.clone(),
            provider: Some(cfg.provider_type.clone()),
            access_key_id: cfg.access_key_id.clone(),
            access_secret_key: cfg.access_secret_key.clone(),
            console_username: cfg.console_username.clone(),
            console_password: cfg.console_password.clone(),
            sign_in_login_url: cfg.sign_in_login_url.clone(),
        };
        let id = match client.create_cloud_account_reconciled(&body).await {
            Ok(Created { id }) => id,
            Err(failure) => return create_failed(failure, &body, req.planned, &req, diags),
        };
        // From here on the ID is known: the checkpoint carries it through every exit.
        let mut state = req.planned.clone();
        set_id(&mut state, id);
        req.checkpoint.save(&state);
        tracing::info!(
            cloud_account_id = id,
            "cloud account created; waiting for it to become active"
        );
        match client
            .wait_for_cloud_account_active(id, deadline, &req.stop)
            .await
        {
            Ok(account) => merge_account(&mut state, &account),
            Err(err) => {
                if let Some(account) = client.last_look_at_account(id).await {
                    merge_account(&mut state, &account);
                }
                api_error(diags, "Create Cloud Account", &err, KEPT_IN_STATE);
            }
        }
        Some(state)
    }

    async fn read(
        &self,
        data: &RedisCloud,
        req: ReadRequest<'_>,
        diags: &mut Diagnostics,
    ) -> ReadOutcome {
        let current = req.current.clone();
        let Some(client) = data.client(diags) else {
            return ReadOutcome::Found(current);
        };
        let deadline = Instant::now() + timeout(&current, Operation::Read);
        let client = client.bounded(deadline, &req.stop);
        let id = match state_id(&current) {
            Ok(StateId::Account(id)) => id,
            Ok(StateId::PendingCreate(task_id)) => {
                return resolve_pending_create(&client, &task_id, current, diags).await;
            }
            Err(why) => {
                diags.error("Invalid Cloud Account State", why);
                return ReadOutcome::Found(current);
            }
        };
        let result = match client.read_cloud_account(id).await {
            Err(e) if e.is_any_not_found() => match client.prove_gone(id, e).await {
                Ok(()) => {
                    tracing::info!(
                        cloud_account_id = id,
                        "cloud account no longer exists; removing it from state"
                    );
                    return ReadOutcome::Gone;
                }
                Err(e) => Err(e),
            },
            other => other,
        };
        match result {
            Ok(account) if account.status.as_deref() == Some("deleted") => ReadOutcome::Gone,
            Ok(account) => {
                let mut state = current;
                merge_account(&mut state, &account);
                ReadOutcome::Found(state)
            }
            Err(err) => {
                api_error(
                    diags,
                    "Read Cloud Account",
                    &err,
                    "The state was left as it was; nothing is planned from it until a read succeeds.",
                );
                ReadOutcome::Found(current)
            }
        }
    }

    async fn update(
        &self,
        data: &RedisCloud,
        req: UpdateRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let prior = req.prior.clone();
        let client = data.client(diags)?;
        let id = match state_id(&prior) {
            Ok(StateId::Account(id)) => id,
            Ok(StateId::PendingCreate(task_id)) => {
                diags.error(
                    "Cloud Account Not Created Yet",
                    format!("This cloud account is still being created by Redis Cloud task {task_id}, so it cannot be updated. Run `terraform apply` again once the task has finished: the refresh records the account's ID first."),
                );
                return Some(prior);
            }
            Err(why) => {
                diags.error("Invalid Cloud Account State", why);
                return Some(prior);
            }
        };
        let cfg = match AccountConfig::from_config(req.config) {
            Ok(c) => c,
            Err(why) => {
                diags.error("Invalid Cloud Account Configuration", why);
                return Some(prior);
            }
        };
        let deadline = Instant::now() + timeout(req.planned, Operation::Update);
        let client = client.bounded(deadline, &req.stop);
        if !sends_anything(&prior, req.planned) {
            // Only `timeouts` changed: nothing to tell Redis Cloud.
            let mut state = req.planned.clone();
            for k in ["status", "aws_console_role_arn", "aws_user_arn"] {
                if let Some(obj) = state.as_object_mut() {
                    obj.insert(k.to_owned(), prior.attr(k).clone());
                }
            }
            return Some(state);
        }
        let body = CloudAccountUpdateRequest {
            name: Some(cfg.name),
            access_key_id: cfg.access_key_id,
            access_secret_key: cfg.access_secret_key,
            console_username: cfg.console_username,
            console_password: cfg.console_password,
            sign_in_login_url: Some(cfg.sign_in_login_url),
        };
        let rotates = rotates_secrets(&prior, req.planned);
        match client
            .update_cloud_account_reconciled(id, &body, rotates)
            .await
        {
            Ok(()) => {}
            Err(UpdateFailure::Rejected(err)) => {
                api_error(
                    diags,
                    "Update Cloud Account",
                    &err,
                    "Nothing was changed, and the state was left as it was before this apply; the next apply sends the change again.",
                );
                return Some(prior);
            }
            Err(UpdateFailure::Pending { task_id, err }) => {
                api_error(
                    diags,
                    "Update Cloud Account",
                    &err,
                    &format!(
                        "Redis Cloud accepted the change as task {task_id}, which had not finished. The state keeps the values from before this apply: the next plan reads the account and shows only what is still different, and secrets it cannot read back are sent again."
                    ),
                );
                return Some(prior);
            }
            Err(UpdateFailure::Unknown { err }) => {
                api_error(
                    diags,
                    "Update Cloud Account",
                    &err,
                    "Whether Redis Cloud applied the change could not be established before the operation ended. The state keeps the values from before this apply: the next plan reads the account and shows what is still different, and the next apply sends the change again (an update sets absolute values, so sending it twice is harmless).",
                );
                return Some(prior);
            }
        }
        // The change was applied: from here the planned values are the truth.
        let mut state = req.planned.clone();
        match client
            .wait_for_cloud_account_active(id, deadline, &req.stop)
            .await
        {
            Ok(account) => merge_account(&mut state, &account),
            Err(err) => {
                if let Some(account) = client.last_look_at_account(id).await {
                    merge_account(&mut state, &account);
                }
                api_error(
                    diags,
                    "Update Cloud Account",
                    &err,
                    "Redis Cloud applied the change, and it is recorded in state; the account is not `active` yet, so the next plan shows its status.",
                );
            }
        }
        Some(state)
    }

    async fn delete(&self, data: &RedisCloud, req: DeleteRequest<'_>, diags: &mut Diagnostics) {
        let Some(client) = data.client(diags) else {
            return;
        };
        let deadline = Instant::now() + timeout(req.prior, Operation::Delete);
        let client = client.bounded(deadline, &req.stop);
        const KEPT: &str = "The account is still in state; run `terraform destroy` (or apply) again once the cause is fixed.";
        let id = match state_id(req.prior) {
            Ok(StateId::Account(id)) => id,
            Ok(StateId::PendingCreate(task_id)) => {
                match client.wait_for_task(&task_id, deadline, &req.stop).await {
                    Ok(done) => match done.resource_id() {
                        Some(id) => id,
                        None => {
                            diags.error("Unable to Delete Cloud Account", format!("Redis Cloud task {task_id} completed without naming the account it created. {KEPT}"));
                            return;
                        }
                    },
                    // The create failed: nothing exists to delete.
                    Err(Error::TaskFailed(_)) => return,
                    Err(err) => {
                        api_error(
                            diags,
                            "Delete Cloud Account",
                            &err,
                            &format!(
                                "The account's create task {task_id} has not finished, so there is nothing to delete yet. {KEPT}"
                            ),
                        );
                        return;
                    }
                }
            }
            Err(why) => {
                diags.error(
                    "Invalid Cloud Account State",
                    format!("{why} Nothing was deleted. If the account no longer exists, remove it from state with `terraform state rm`."),
                );
                return;
            }
        };
        if let Err(err) = client.delete_cloud_account_reconciled(id).await {
            let context = match err {
                Error::Timeout { .. } | Error::Cancelled { .. } => format!(
                    "Redis Cloud may still be deleting cloud account {id}. {KEPT} The next run finds it gone, or waits for it."
                ),
                _ => KEPT.to_owned(),
            };
            api_error(diags, "Delete Cloud Account", &err, &context);
        }
    }

    async fn import(
        &self,
        _data: &RedisCloud,
        req: ImportRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let raw = match req.identity {
            Some(identity) => match identity.attr("id").as_str() {
                Some(id) => id.to_owned(),
                None => {
                    diags.attribute_error(
                        AttributePath::root("id"),
                        "Invalid Import Identity",
                        "The identity must set `id` to the cloud account ID.",
                    );
                    return None;
                }
            },
            None => req.id.to_owned(),
        };
        match parse_id(&raw) {
            Ok(id) => {
                let mut stub = Value::null_object(&self.schema().implied_type());
                set_id(&mut stub, id);
                Some(stub)
            }
            Err(why) => {
                diags.error("Invalid Import ID", why);
                None
            }
        }
    }
}

/// Attributes whose change must reach Redis Cloud (a `*_wo_version` change
/// means "send the write-only secret again").
const SENT_ATTRIBUTES: [&str; 8] = [
    "name",
    "access_key_id",
    "access_secret_key",
    "access_secret_key_wo_version",
    "console_username",
    "console_password",
    "console_password_wo_version",
    "sign_in_login_url",
];

fn sends_anything(prior: &Value, planned: &Value) -> bool {
    SENT_ATTRIBUTES
        .iter()
        .any(|k| prior.attr(k) != planned.attr(k))
}

fn set_id(state: &mut Value, id: i64) {
    if let Some(obj) = state.as_object_mut() {
        obj.insert("id".into(), Value::string(id.to_string()));
    }
}

/// Attributes whose change sends a secret the API never returns.
const SECRET_ATTRIBUTES: [&str; 5] = [
    "access_secret_key",
    "access_secret_key_wo_version",
    "console_username",
    "console_password",
    "console_password_wo_version",
];

fn rotates_secrets(prior: &Value, planned: &Value) -> bool {
    SECRET_ATTRIBUTES
        .iter()
        .any(|k| prior.attr(k) != planned.attr(k))
}

/// Answers a create that ended without a proven account ID, telling the truth about what the
/// next apply will do.
fn create_failed(
    failure: CreateFailure,
    body: &CloudAccountCreateRequest,
    planned: &Value,
    req: &CreateRequest<'_>,
    diags: &mut Diagnostics,
) -> Option<Value> {
    const NOTHING: &str = "Nothing was created and nothing was recorded in state; the next apply tries to create the account again.";
    match failure {
        CreateFailure::NameTaken { existing } => {
            diags.attribute_error(
                AttributePath::root("name"),
                "Cloud Account Name Already Taken",
                format!(
                    "Cloud account {id} (status {status}) already has the name {name:?}, and names are unique in Redis Cloud, so nothing was sent and nothing was recorded in state. If it is the account this configuration describes, import it: `terraform import <resource address> {id}`, or an `import` block with `id = \"{id}\"`. Otherwise choose another `name` (a replacement made with `create_before_destroy` needs a name of its own).",
                    id = existing.id,
                    status = existing.status.as_deref().unwrap_or("unknown"),
                    name = body.name,
                ),
            );
            None
        }
        CreateFailure::AccessKeyTaken { existing } => {
            diags.attribute_error(
                AttributePath::root("access_key_id"),
                "Access Key Already Registered",
                format!(
                    "Cloud account {id} ({name:?}) already uses this access key ID, and Redis Cloud accepts each IAM access key once, so nothing was sent and nothing was recorded in state. Import that account (`terraform import <resource address> {id}`), or create a separate IAM user and key for this one.",
                    id = existing.id,
                    name = existing.name.as_deref().unwrap_or(""),
                ),
            );
            None
        }
        CreateFailure::NotCreated(err) => {
            api_error(diags, "Create Cloud Account", &err, NOTHING);
            None
        }
        CreateFailure::Pending { task_id, err } => {
            let mut state = planned.clone();
            if let Some(obj) = state.as_object_mut() {
                obj.insert(
                    "id".into(),
                    Value::string(format!("{PENDING_TASK_PREFIX}{task_id}")),
                );
            }
            req.checkpoint.save(&state);
            api_error(
                diags,
                "Create Cloud Account",
                &err,
                &format!(
                    "Redis Cloud accepted the create as task {task_id}, which had not finished. It is recorded in state with the ID `{PENDING_TASK_PREFIX}{task_id}`, marked tainted, so the account cannot be lost. The next `terraform plan` or `apply` reads the task: if it failed, nothing exists and the account is planned for creation; if it made the account, the account's ID is recorded and, being tainted, the next apply deletes it and creates a new one, unless you run `terraform untaint <resource address>` first to keep it."
                ),
            );
            Some(state)
        }
        CreateFailure::Unknown { err } => {
            api_error(
                diags,
                "Create Cloud Account",
                &err,
                &format!(
                    "Whether Redis Cloud received the create could not be established before the operation ended, and no account it made was found. Nothing was recorded in state. The next apply first looks for a live account named {:?}: if one exists, it stops and names it so that you can import it; otherwise it creates the account.",
                    body.name
                ),
            );
            None
        }
    }
}

/// A refresh of a create recorded as pending: the task says what became of it.
async fn resolve_pending_create(
    client: &Client,
    task_id: &str,
    current: Value,
    diags: &mut Diagnostics,
) -> ReadOutcome {
    match client.get_task(task_id).await {
        Ok(task) if task.failure().is_some() => {
            tracing::info!(
                task_id,
                "the pending create failed, so no account exists; removing it from state"
            );
            ReadOutcome::Gone
        }
        Ok(task) => match task.resource_id() {
            Some(id) if task.task_status() == TaskStatus::ProcessingCompleted => {
                let mut state = current;
                set_id(&mut state, id);
                match client.get_cloud_account(id).await {
                    // Access keys are unique: an account with another key is not this one.
                    Ok(account)
                        if account
                            .access_key_id
                            .as_deref()
                            .is_some_and(|k| Some(k) != state.attr("access_key_id").as_str()) =>
                    {
                        diags.warning(
                            "Pending Create Made Another Account",
                            format!("Redis Cloud task {task_id} created cloud account {id}, which uses another access key, so it is not this resource's and was not recorded. The account is planned for creation."),
                        );
                        return ReadOutcome::Gone;
                    }
                    Ok(account) => merge_account(&mut state, &account),
                    Err(err) => diags.warning(
                        "Cloud Account Not Readable Yet",
                        format!("Task {task_id} created cloud account {id}, which is now recorded in state, but it could not be read yet: {err}"),
                    ),
                }
                ReadOutcome::Found(state)
            }
            _ => {
                diags.warning(
                    "Cloud Account Still Being Created",
                    format!("Redis Cloud task {task_id}, which creates this cloud account, has not finished (status {}). The account stays recorded as pending until it does.", task.status),
                );
                ReadOutcome::Found(current)
            }
        },
        Err(err) => {
            api_error(
                diags,
                "Read Cloud Account",
                &err,
                &format!(
                    "This cloud account is recorded as the pending result of task {task_id}, which could not be read; the state was left as it was."
                ),
            );
            ReadOutcome::Found(current)
        }
    }
}
