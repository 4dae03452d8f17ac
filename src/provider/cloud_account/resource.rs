//! The `rediscloud_cloud_account` resource: create, read, update, delete and
//! import, each waiting for the Redis Cloud task and then for the account's status.

use async_trait::async_trait;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::model::{
    self, AccountConfig, Operation, TYPE_NAME, identity_schema, identity_value, merge_account,
    parse_id, timeout,
};
use crate::client::{
    Client, CloudAccount, CloudAccountCreateRequest, CloudAccountUpdateRequest, Error,
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

const KEPT_IN_STATE: &str = "The cloud account exists and is recorded in state, marked tainted: the next apply replaces it, or fix the cause and run `terraform apply -refresh-only` then `terraform untaint`.";

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
        state.attr("id").as_str().map(identity_value)
    }

    fn modify_plan(
        &self,
        req: PlanRequest<'_>,
        planned: &mut Value,
        _requires_replace: &mut Vec<AttributePath>,
        _diags: &mut Diagnostics,
    ) {
        // The ARNs describe the IAM user behind the access key: they may only
        // change when the key does.
        if req.prior.is_null() || req.prior.attr("access_key_id") == planned.attr("access_key_id") {
            return;
        }
        if let Some(obj) = planned.as_object_mut() {
            obj.insert("aws_console_role_arn".into(), Value::unknown());
            obj.insert("aws_user_arn".into(), Value::unknown());
        }
    }

    async fn create(
        &self,
        data: &RedisCloud,
        req: CreateRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let client = data.client(diags)?;
        let cfg = match AccountConfig::from_config(req.config) {
            Ok(c) => c,
            Err(why) => {
                diags.error("Invalid Cloud Account Configuration", why);
                return None;
            }
        };
        let deadline = Instant::now() + timeout(req.planned, Operation::Create);
        let body = CloudAccountCreateRequest {
            name: cfg.name.clone(),
            provider: Some(cfg.provider_type.clone()),
            access_key_id: cfg.access_key_id.clone(),
            access_secret_key: cfg.access_secret_key.clone(),
            console_username: cfg.console_username.clone(),
            console_password: cfg.console_password.clone(),
            sign_in_login_url: cfg.sign_in_login_url.clone(),
        };
        let id = match create_and_wait_for_id(client, &body, deadline, &req.stop).await {
            Ok(id) => id,
            Err(CreateFailure { err, adopted }) => {
                let Some(id) = adopted else {
                    // A task Redis Cloud has received cannot be cancelled: one that had not
                    // finished may still create the account after Terraform gave up on it.
                    let context = match err {
                        Error::Timeout { .. } | Error::Cancelled { .. } => format!(
                            "No account named {:?} exists yet, so nothing was recorded in state, but the create task had not finished and Redis Cloud may still complete it. If the account appears, import it with `terraform import` instead of applying again (a second create would fail because the name is taken).",
                            body.name
                        ),
                        Error::TaskFailed(ref f)
                            if f.error_type.as_deref() == Some("CLOUD_ACCOUNT_NAME_EXISTS") =>
                        {
                            match find_by_name(client, &body.name).await {
                                Some(existing) => format!(
                                    "Cloud account {} already has the name {:?}. If it is the one this configuration describes, import it: `terraform import <resource address> {}`. Nothing was recorded in state.",
                                    existing.id, body.name, existing.id
                                ),
                                None => "Nothing was created, so nothing was recorded in state."
                                    .to_owned(),
                            }
                        }
                        _ => "Nothing was created, so nothing was recorded in state.".to_owned(),
                    };
                    api_error(diags, "Create Cloud Account", &err, &context);
                    return None;
                };
                api_error(diags, "Create Cloud Account", &err, KEPT_IN_STATE);
                let mut state = req.planned.clone();
                set_id(&mut state, id);
                refresh_best_effort(client, id, &mut state).await;
                return Some(state);
            }
        };
        tracing::info!(
            cloud_account_id = id,
            "cloud account created; waiting for it to become active"
        );
        // From here on the ID is known: every exit returns a state holding it.
        let mut state = req.planned.clone();
        set_id(&mut state, id);
        match client
            .wait_for_cloud_account_active(id, deadline, &req.stop)
            .await
        {
            Ok(account) => merge_account(&mut state, &account),
            Err(err) => {
                refresh_best_effort(client, id, &mut state).await;
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
        let Some(id) = state_id(&current) else {
            diags.error("Invalid Cloud Account State", "The state has no numeric `id`. Remove it with `terraform state rm` and import the account again.");
            return ReadOutcome::Found(current);
        };
        let deadline = Instant::now() + timeout(&current, Operation::Read);
        let result = tokio::select! {
            r = client.get_cloud_account(id) => r,
            _ = tokio::time::sleep_until(deadline) => Err(Error::Timeout { waiting_for: format!("cloud account {id}"), last_status: None }),
            _ = req.stop.cancelled() => Err(Error::Cancelled { waiting_for: format!("cloud account {id}") }),
        };
        match result {
            Ok(account) if account.status.as_deref() == Some("deleted") => ReadOutcome::Gone,
            Ok(account) => {
                let mut state = current;
                merge_account(&mut state, &account);
                ReadOutcome::Found(state)
            }
            Err(Error::NotFound { .. }) => {
                tracing::info!(
                    cloud_account_id = id,
                    "cloud account no longer exists; removing it from state"
                );
                ReadOutcome::Gone
            }
            Err(err) => {
                api_error(diags, "Read Cloud Account", &err, "");
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
        let id = state_id(&prior)?;
        let cfg = match AccountConfig::from_config(req.config) {
            Ok(c) => c,
            Err(why) => {
                diags.error("Invalid Cloud Account Configuration", why);
                return Some(prior);
            }
        };
        let deadline = Instant::now() + timeout(req.planned, Operation::Update);
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
        let task = match client.update_cloud_account(id, &body).await {
            Ok(t) => t,
            Err(err) => {
                api_error(
                    diags,
                    "Update Cloud Account",
                    &err,
                    "The state was left as it was before this apply.",
                );
                return Some(prior);
            }
        };
        if let Err(err) = client
            .wait_for_task(&task.task_id, deadline, &req.stop)
            .await
        {
            let context = match err {
                Error::TaskFailed(_) => {
                    "Redis Cloud rejected the change; the state was left as it was before this apply."
                }
                _ => {
                    "The update may still be in progress in Redis Cloud; the next plan reads its outcome."
                }
            };
            api_error(diags, "Update Cloud Account", &err, context);
            return Some(prior);
        }
        // The change was accepted: from here the planned values are the truth.
        let mut state = req.planned.clone();
        match client
            .wait_for_cloud_account_active(id, deadline, &req.stop)
            .await
        {
            Ok(account) => merge_account(&mut state, &account),
            Err(err) => {
                refresh_best_effort(client, id, &mut state).await;
                api_error(
                    diags,
                    "Update Cloud Account",
                    &err,
                    "The change was accepted by Redis Cloud and is recorded in state.",
                );
            }
        }
        Some(state)
    }

    async fn delete(&self, data: &RedisCloud, req: DeleteRequest<'_>, diags: &mut Diagnostics) {
        let Some(client) = data.client(diags) else {
            return;
        };
        let Some(id) = state_id(req.prior) else {
            return;
        };
        let deadline = Instant::now() + timeout(req.prior, Operation::Delete);
        let task = match client.delete_cloud_account(id).await {
            Ok(t) => t,
            Err(Error::NotFound { .. }) => return,
            Err(err) => {
                api_error(
                    diags,
                    "Delete Cloud Account",
                    &err,
                    "The account is still in state; run destroy again once the cause is fixed.",
                );
                return;
            }
        };
        match client
            .wait_for_task(&task.task_id, deadline, &req.stop)
            .await
        {
            Ok(_) => {}
            Err(Error::TaskFailed(f))
                if f.error_type.as_deref() == Some("CLOUD_ACCOUNT_NOT_FOUND") =>
            {
                return;
            }
            Err(err) => {
                api_error(
                    diags,
                    "Delete Cloud Account",
                    &err,
                    "The account is still in state; run destroy again once the cause is fixed.",
                );
                return;
            }
        }
        if let Err(err) = client
            .wait_for_cloud_account_gone(id, deadline, &req.stop)
            .await
        {
            api_error(
                diags,
                "Delete Cloud Account",
                &err,
                "Redis Cloud accepted the deletion; the account is still in state until it is gone.",
            );
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

fn state_id(state: &Value) -> Option<i64> {
    state.attr("id").as_str().and_then(|s| s.parse().ok())
}

/// Fills what a GET can tell after a failed wait, so the tainted state shows
/// the account's real status.
async fn refresh_best_effort(client: &Client, id: i64, state: &mut Value) {
    if let Ok(account) = client.get_cloud_account(id).await {
        merge_account(state, &account);
    }
}

struct CreateFailure {
    err: Error,
    /// An account found to exist despite the failure.
    adopted: Option<i64>,
}

/// POSTs the account and waits for its task to name the new ID. When the
/// POST's outcome is unknown (the connection dropped after sending), it never
/// blindly repeats it: it looks the account up by name (names are unique),
/// and only re-sends once Redis Cloud shows no account and no pending create.
async fn create_and_wait_for_id(
    client: &Client,
    body: &CloudAccountCreateRequest,
    deadline: Instant,
    stop: &CancellationToken,
) -> Result<i64, CreateFailure> {
    let mut resent = false;
    loop {
        let task = match client.create_cloud_account(body).await {
            Ok(task) => task,
            // Reconcile after every ambiguous POST, the re-sent one included: it
            // may have created the account too, which must not be orphaned.
            Err(err @ Error::Ambiguous { .. }) => {
                tracing::warn!("create request outcome unknown; reconciling by name");
                match reconcile_by_name(client, &body.name, deadline, stop).await {
                    Ok(Some(account)) => return Ok(account.id),
                    Ok(None) if !resent => {
                        resent = true;
                        continue;
                    }
                    Ok(None) => return Err(CreateFailure { err, adopted: None }),
                    // Interrupted or out of time while a create was still queued:
                    // one last look, so an account that just appeared is kept.
                    Err(err) => {
                        let adopted = find_by_name(client, &body.name).await.map(|a| a.id);
                        return Err(CreateFailure { err, adopted });
                    }
                }
            }
            Err(err) => return Err(CreateFailure { err, adopted: None }),
        };
        return match client.wait_for_task(&task.task_id, deadline, stop).await {
            Ok(done) => match done.response.as_ref().and_then(|r| r.resource_id) {
                Some(id) => Ok(id),
                None => Err(CreateFailure {
                    err: Error::Decode {
                        message: format!("task {} completed without a resourceId", done.task_id),
                    },
                    adopted: find_by_name(client, &body.name).await.map(|a| a.id),
                }),
            },
            Err(err @ Error::TaskFailed(_)) => Err(CreateFailure { err, adopted: None }),
            // Timed out or interrupted while the task ran: the account may
            // already exist, so look for it rather than lose it.
            Err(err) => {
                let adopted = find_by_name(client, &body.name).await.map(|a| a.id);
                Err(CreateFailure { err, adopted })
            }
        };
    }
}

async fn find_by_name(client: &Client, name: &str) -> Option<CloudAccount> {
    client
        .list_cloud_accounts()
        .await
        .ok()?
        .into_iter()
        .find(|a| {
            a.name.as_deref() == Some(name)
                && a.id != model::INTERNAL_ACCOUNT_ID
                && !matches!(a.status.as_deref(), Some("deleted" | "delete-draft"))
        })
}

/// After an ambiguous POST: `Some(account)` if it was created, `None` once it is
/// certain it was not (no such account, and no create task still pending).
async fn reconcile_by_name(
    client: &Client,
    name: &str,
    deadline: Instant,
    stop: &CancellationToken,
) -> Result<Option<CloudAccount>, Error> {
    let mut quiet_checks = 0;
    let mut delay = std::time::Duration::from_millis(100);
    loop {
        if let Some(account) = find_by_name(client, name).await {
            return Ok(Some(account));
        }
        let pending = client
            .list_tasks()
            .await
            .map(|tasks| {
                tasks.iter().any(|t| {
                    t.command_type.as_deref() == Some("cloudAccountCreateRequest")
                        && matches!(
                            t.status.as_str(),
                            "initialized" | "received" | "processing-in-progress"
                        )
                })
            })
            .unwrap_or(true);
        if pending {
            quiet_checks = 0;
        } else {
            quiet_checks += 1;
            // Two quiet looks a little apart: a task the API has not listed yet
            // would have shown up by then.
            if quiet_checks >= 2 {
                return Ok(None);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = tokio::time::sleep_until(deadline) => return Err(Error::Timeout { waiting_for: format!("cloud account {name:?} to appear after an interrupted create"), last_status: None }),
            _ = stop.cancelled() => return Err(Error::Cancelled { waiting_for: format!("cloud account {name:?}") }),
        }
        delay = (delay * 2).min(std::time::Duration::from_secs(5));
    }
}
