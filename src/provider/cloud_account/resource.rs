//! The `rediscloud_cloud_account` resource: create, read, update, delete and
//! import, each waiting for the Redis Cloud task and then for the account's status.

use async_trait::async_trait;
use tokio::time::Instant;

use super::model::{
    self, AccountConfig, CloudAccountIdentity, CloudAccountModel, DEFAULT_READ_TIMEOUT,
    INTERNAL_ACCOUNT_ID, LegacyPending, Operation, PENDING_ID, StateId, TYPE_NAME, deadline_text,
    identity_schema, identity_value, merge_account, merge_computed, parse_id, state_id, timeout,
};
use crate::provider::RedisCloud;
use crate::provider::diagnostics::api_error;
use rediscloud_api::ops::{CreateFailure, Created, Resolution, UpdateFailure};
use rediscloud_api::ownership::{Before, Intent, PendingCreate, now_ms};
use rediscloud_api::{
    Client, CloudAccount, CloudAccountCreateRequest, CloudAccountUpdateRequest, Error,
};
use tfplugin::framework::diag::Diagnostics;
use tfplugin::framework::model::Val;
use tfplugin::framework::path::AttributePath;
use tfplugin::framework::private::PrivateState;
use tfplugin::framework::resource::{
    CheckPlanRequest, CreateRequest, DeleteRequest, ImportRequest, PlanRequest, ReadOutcome,
    ReadRequest, Resource, UpdateRequest,
};
use tfplugin::framework::schema::{IdentitySchema, Schema};
use tfplugin::framework::value::{Number, Value};

/// The `rediscloud_cloud_account` resource type.
#[derive(Debug, Default)]
pub struct CloudAccountResource;

/// Private state: when the account's ID became known (unix ms), for the gone rule.
const CREATED_AT: &str = "created_at_ms";
/// When this provider last saw an update of the account complete (unix ms): until the API's
/// list has caught up with it, a refresh reads the account by ID.
const UPDATED_AT: &str = "updated_at_ms";
/// Private state: the record of a create not settled yet.
const PENDING: &str = "pending_create";
/// Planned private state: recorded by the plan of a change to an existing object, and read by
/// the plan of a replacement's create half (Terraform hands it over), which then knows the
/// account being replaced: no collision with its own name.
const REPLACING: &str = "replacing";
/// Planned private state: the name a plan found free, and when; a create refused for it says so.
const NAME_FREE_WHEN_PLANNED: &str = "name_free_when_planned";

/// [`REPLACING`]: the account being replaced, `None` for a pending create (not known).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Replacing {
    account: Option<i64>,
}

/// [`NAME_FREE_WHEN_PLANNED`].
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct NameFreeWhenPlanned {
    name: String,
    at_ms: u64,
}

/// What a create that failed after the account existed tells the user.
const KEPT_IN_STATE: &str = "The cloud account exists and is recorded in state, marked tainted: the next `terraform apply` deletes it and creates a new one. To keep this account instead, fix the cause, then run `terraform untaint <resource address>`; the next apply then only changes what differs.";

#[async_trait]
impl Resource for CloudAccountResource {
    type Data = RedisCloud;
    type Model = CloudAccountModel;

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

    fn generate_config(&self, schema: &Schema, state: &Value, diags: &mut Diagnostics) -> Value {
        let config = schema.block.config_from_state(state);
        let mut m = match CloudAccountModel::read(&config) {
            Ok(m) => m,
            Err(err) => {
                diags.error("Invalid Cloud Account State", err.to_string());
                return config;
            }
        };
        // The API never returns the secrets, so an imported or listed account has none. The
        // generated block takes the write-only forms, which Terraform writes as
        // `null # sensitive` for the user to replace by variables, with their versions set:
        // the credentials are then the only thing left to add.
        let first = || Val::Known(Number::from(1i64));
        if m.access_secret_key.is_null() && m.access_secret_key_wo_version.is_null() {
            m.access_secret_key_wo_version = first();
        }
        if m.console_password.is_null() && m.console_password_wo_version.is_null() {
            m.console_password_wo_version = first();
        }
        m.to_value()
    }

    fn modify_plan(
        &self,
        req: PlanRequest<'_>,
        planned: &mut Value,
        _requires_replace: &mut Vec<AttributePath>,
        _diags: &mut Diagnostics,
    ) {
        // The ARNs describe the IAM user behind the access key and the console role of the
        // AWS account behind the sign-in URL: they may change when the key, the URL or the
        // console user does. One that was never recorded (state written by the official
        // provider, not refreshed since) is learnt from the update's answer, so it cannot be
        // promised null.
        if req.prior.is_null() {
            return;
        }
        let (Ok(prior), Ok(mut plan)) = (
            CloudAccountModel::read(req.prior),
            CloudAccountModel::read(planned),
        ) else {
            return;
        };
        if !prior.sends_anything(&plan) {
            // Nothing is sent (a `timeouts` change): what Redis Cloud sets stays as it is.
            plan.status = prior.status.clone();
            *planned = plan.to_value();
            return;
        }
        let identity_changes = prior.access_key_id != plan.access_key_id
            || prior.sign_in_login_url != plan.sign_in_login_url
            || prior.console_username != plan.console_username;
        if identity_changes || prior.aws_console_role_arn.is_null() {
            plan.aws_console_role_arn = Val::Unknown;
        }
        if identity_changes || prior.aws_user_arn.is_null() {
            plan.aws_user_arn = Val::Unknown;
        }
        *planned = plan.to_value();
    }

    async fn check_plan(
        &self,
        data: &RedisCloud,
        req: CheckPlanRequest<'_>,
        diags: &mut Diagnostics,
    ) {
        if !req.prior.is_null() {
            // Should this change be a replacement, the plan of its create half sees a null prior
            // and this private state: the account being replaced holds the name by right.
            let account = match state_id(req.prior) {
                Ok(StateId::Account(id)) => Some(id),
                _ => None,
            };
            req.private.set(REPLACING, &Replacing { account });
            return;
        }
        // A name still unknown is checked by the apply, before its POST.
        let Some(name) = req.planned.attr("name").as_str().map(str::to_owned) else {
            return;
        };
        let replacing: Option<Replacing> = req.private.get(REPLACING);
        if replacing.is_none() && !req.private.is_empty() {
            // A prior object of this resource that Terraform replaces without planning it first
            // (a tainted one): it may be the holder, and which account it is cannot be told here.
            return;
        }
        let Some(client) = data.client(&mut Diagnostics::new()) else {
            return;
        };
        let client = client.bounded(Instant::now() + DEFAULT_READ_TIMEOUT, &req.stop);
        match client.holder_of_name(&name).await {
            Ok(Some(holder)) => {
                let ours = match replacing {
                    Some(Replacing { account: Some(id) }) => id == holder.id,
                    // Replacing a pending create, whose account may be the holder.
                    Some(Replacing { account: None }) => true,
                    // An account of this workspace's state: this resource's own tainted object,
                    // which Terraform plans as a create without saying so, or another of its
                    // resources (the apply sorts that out).
                    None => data.is_in_state(holder.id),
                };
                if !ours {
                    diags.attribute_error(
                        AttributePath::root("name"),
                        "Cloud Account Name Already Taken",
                        format!(
                            "Cloud account {id} ({name:?}, status {status}) already has this name, and names are unique in Redis Cloud, so this plan cannot be applied. Nothing was sent.\n\n{import} Otherwise choose another `name` (a replacement made with `create_before_destroy` needs a name of its own). If account {id} is this resource's own object (a failed create, now tainted), plan with a refresh (without `-refresh=false`): the refresh tells the provider which accounts this state holds.",
                            id = holder.id,
                            status = holder.status.as_deref().unwrap_or("unknown"),
                            import = import_advice(holder.id),
                        ),
                    );
                }
            }
            Ok(None) => {
                // The time the user saw the name free: the first plan's, when Terraform keeps it.
                let at_ms = req
                    .first_plan_private
                    .and_then(|p| p.get::<NameFreeWhenPlanned>(NAME_FREE_WHEN_PLANNED))
                    .filter(|c| c.name == name)
                    .map_or_else(now_ms, |c| c.at_ms);
                req.private
                    .set(NAME_FREE_WHEN_PLANNED, &NameFreeWhenPlanned { name, at_ms });
            }
            Err(err) => tracing::warn!(
                "could not check at plan time whether the name {name:?} is taken ({err}); the apply checks before it creates"
            ),
        }
    }

    async fn create(
        &self,
        data: &RedisCloud,
        req: CreateRequest<'_, CloudAccountModel>,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let planned_free: Option<NameFreeWhenPlanned> =
            req.planned_private.get(NAME_FREE_WHEN_PLANNED);
        let cfg = match AccountConfig::from_model(req.config_model) {
            Ok(c) => c,
            Err(why) => {
                diags.error("Invalid Cloud Account Configuration", why);
                return None;
            }
        };
        let timeouts = &req.config_model.timeouts;
        let deadline = Instant::now() + timeout(timeouts, Operation::Create);
        let deadline_said = deadline_text(timeouts, Operation::Create);
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
        let create_began = Instant::now();
        let id = match client.create_cloud_account_reconciled(&body).await {
            Ok(Created { id }) => id,
            Err(failure) => {
                return create_failed(&client, failure, &body, planned_free, req, diags).await;
            }
        };
        // From here on the ID is known: the checkpoint carries it through every exit.
        let mut state = req.planned.clone();
        set_id(&mut state, id);
        req.private.set(CREATED_AT, &now_ms());
        req.checkpoint.save(&state, req.private);
        tracing::info!(
            cloud_account_id = id,
            "cloud account {id} created; waiting for it to become active"
        );
        match client
            .wait_for_new_cloud_account_active(id, create_began, deadline, &req.stop)
            .await
        {
            Ok(account) => merge_account(&mut state, &account),
            Err(err) => {
                if let Some(account) = client.last_look_at_account(id).await {
                    merge_account(&mut state, &account);
                }
                api_error(
                    diags,
                    "Create Cloud Account",
                    &err,
                    KEPT_IN_STATE,
                    &deadline_said,
                );
            }
        }
        Some(state)
    }

    async fn read(
        &self,
        data: &RedisCloud,
        req: ReadRequest<'_, CloudAccountModel>,
        diags: &mut Diagnostics,
    ) -> ReadOutcome {
        let current = req.current.clone();
        let Some(client) = data.client(diags) else {
            return ReadOutcome::Found(current);
        };
        let timeouts = &req.current_model.timeouts;
        let deadline = Instant::now() + timeout(timeouts, Operation::Read);
        let deadline_said = deadline_text(timeouts, Operation::Read);
        let client = client.bounded(deadline, &req.stop);
        let id = match state_id(&current) {
            Ok(StateId::Account(id)) => id,
            Ok(StateId::Pending(legacy)) => {
                let Some(record) = pending_record(&current, req.private, &legacy, diags) else {
                    return ReadOutcome::Found(current);
                };
                let outcome = client.resolve_pending_create(&record).await;
                return pending_outcome(outcome, record, current, timeouts, req.private, diags);
            }
            Err(why) => {
                diags.error("Invalid Cloud Account State", why);
                return ReadOutcome::Found(current);
            }
        };
        if !data.note_in_state(id) {
            diags.warning(
                "Cloud Account Managed Twice",
                format!(
                    "Cloud account {id} was just read for another resource of this state too: two resources manage the same account, and a change or a destroy of either acts on it. This happens when an account is imported that this configuration already manages (a `terraform query` whose filter also matches it). Keep one of them, and remove the other from state with `terraform state rm <resource address>` (or delete its import block before applying)."
                ),
            );
        }
        let created_at: Option<u64> = req.private.get(CREATED_AT);
        let updated_at: Option<u64> = req.private.get(UPDATED_AT);
        match client
            .refresh_cloud_account(id, created_at, updated_at)
            .await
        {
            Ok(None) => {
                tracing::info!(
                    cloud_account_id = id,
                    "cloud account {id} no longer exists; removing it from state"
                );
                ReadOutcome::Gone
            }
            Ok(Some(account)) => {
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
                    &deadline_said,
                );
                ReadOutcome::Found(current)
            }
        }
    }

    async fn update(
        &self,
        data: &RedisCloud,
        req: UpdateRequest<'_, CloudAccountModel>,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        // What the plan recorded for a possible replacement is not kept in state.
        req.private.remove(REPLACING);
        req.private.remove(NAME_FREE_WHEN_PLANNED);
        let prior = req.prior.clone();
        let client = data.client(diags)?;
        let id = match state_id(&prior) {
            Ok(StateId::Account(id)) => id,
            Ok(StateId::Pending(_)) => {
                diags.error(
                    "Cloud Account Not Created Yet",
                    "This cloud account is recorded as a pending create whose account is not known yet, so it cannot be updated. Nothing was sent. Only a refresh resolves it: run `terraform apply` again without `-refresh=false`. If the create has finished by then, that refresh records the account's ID; if the evidence cannot decide which account it made, the refresh says why and which commands settle it.",
                );
                return Some(prior);
            }
            Err(why) => {
                diags.error("Invalid Cloud Account State", why);
                return Some(prior);
            }
        };
        let cfg = match AccountConfig::from_model(req.config_model) {
            Ok(c) => c,
            Err(why) => {
                diags.error("Invalid Cloud Account Configuration", why);
                return Some(prior);
            }
        };
        let timeouts = &req.planned_model.timeouts;
        let deadline = Instant::now() + timeout(timeouts, Operation::Update);
        let deadline_said = deadline_text(timeouts, Operation::Update);
        let client = client.bounded(deadline, &req.stop);
        let prior_model = req.prior_model;
        let mut planned_model = req.planned_model.clone();
        if !prior_model.sends_anything(&planned_model) {
            // Only `timeouts` changed: nothing to tell Redis Cloud.
            planned_model.status = prior_model.status.clone();
            planned_model.aws_console_role_arn = prior_model.aws_console_role_arn.clone();
            planned_model.aws_user_arn = prior_model.aws_user_arn.clone();
            return Some(planned_model.to_value());
        }
        let body = CloudAccountUpdateRequest {
            name: Some(cfg.name),
            access_key_id: cfg.access_key_id,
            access_secret_key: cfg.access_secret_key,
            console_username: cfg.console_username,
            console_password: cfg.console_password,
            sign_in_login_url: Some(cfg.sign_in_login_url),
        };
        let rotates = prior_model.rotates_secrets(&planned_model);
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
                    &deadline_said,
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
                    &deadline_said,
                );
                return Some(prior);
            }
            Err(UpdateFailure::Overtaken { err }) => {
                api_error(
                    diags,
                    "Update Cloud Account",
                    &err,
                    "Whether Redis Cloud applied the change could not be established. An update of this account completed after it was sent (this one, or another client's), yet the account does not show this change's values, so it was not sent again: that could undo another client's change. The state keeps the values from before this apply: the next plan reads the account and shows what differs, and applying that plan sends this configuration's values.",
                    &deadline_said,
                );
                return Some(prior);
            }
            Err(UpdateFailure::Unknown { err }) => {
                api_error(
                    diags,
                    "Update Cloud Account",
                    &err,
                    "Whether Redis Cloud applied the change could not be established. The state keeps the values from before this apply: the next plan reads the account and shows what is still different, and the next apply sends the change again (an update sets absolute values, so sending it twice is harmless).",
                    &deadline_said,
                );
                return Some(prior);
            }
        }
        // The change was applied: from here the planned values are the truth, and the API's
        // answers give only what the plan left to it (a list may still show the old values).
        req.private.set(UPDATED_AT, &now_ms());
        let mut state = req.planned.clone();
        match client
            .wait_for_updated_cloud_account_active(id, deadline, &req.stop)
            .await
        {
            Ok(account) => merge_computed(&mut state, &account),
            Err(err) => {
                if let Some(account) = client.last_look_at_account(id).await {
                    merge_computed(&mut state, &account);
                }
                api_error(
                    diags,
                    "Update Cloud Account",
                    &err,
                    "Redis Cloud applied the change, and it is recorded in state; the account is not `active` yet, so the next plan shows its status.",
                    &deadline_said,
                );
            }
        }
        Some(state)
    }

    async fn delete(
        &self,
        data: &RedisCloud,
        req: DeleteRequest<'_, CloudAccountModel>,
        diags: &mut Diagnostics,
    ) {
        let Some(client) = data.client(diags) else {
            return;
        };
        let timeouts = &req.prior_model.timeouts;
        let deadline = Instant::now() + timeout(timeouts, Operation::Delete);
        let deadline_said = deadline_text(timeouts, Operation::Delete);
        let client = client.bounded(deadline, &req.stop);
        const KEPT: &str = "The account is still in state; run `terraform destroy` (or apply) again once the cause is fixed.";
        // When the account was created (unix ms), for the gone rule: a young account's 404 is lag.
        let (id, created_at): (i64, Option<u64>) = match state_id(req.prior) {
            Ok(StateId::Account(id)) => (id, req.private.get(CREATED_AT)),
            Ok(StateId::Pending(legacy)) => {
                let Some(record) = pending_record(req.prior, req.private, &legacy, diags) else {
                    return;
                };
                match client.settle_pending_create(&record).await {
                    // Made no earlier than its POST was sent (unknown for a legacy record).
                    Ok(Resolution::Created(account)) => {
                        (account.id, Some(record.sent_at_ms).filter(|ms| *ms > 0))
                    }
                    // The create made nothing: there is nothing to delete.
                    Ok(Resolution::NothingCreated) => return,
                    Ok(
                        Resolution::Undecided { why, candidates }
                        | Resolution::Undecidable { why, candidates },
                    ) => {
                        diags.error(
                            "Unable to Delete Cloud Account",
                            format!(
                                "Nothing was deleted: which cloud account, if any, the create recorded here made is not decided ({why}). {} The state was left as it was.",
                                undecided_commands(&candidates)
                            ),
                        );
                        return;
                    }
                    Err(err) => {
                        api_error(diags, "Delete Cloud Account", &err, KEPT, &deadline_said);
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
        if let Err(err) = client.delete_cloud_account_reconciled(id, created_at).await {
            let context = match err {
                Error::Timeout { .. } | Error::Cancelled { .. } => format!(
                    "Redis Cloud may still be deleting cloud account {id}. {KEPT} The next run finds it gone, or waits for it."
                ),
                Error::NotSent(_) => format!(
                    "Nothing was deleted: the operation ended before the DELETE of cloud account {id} could be sent. {KEPT} The next run sends it."
                ),
                _ => KEPT.to_owned(),
            };
            api_error(
                diags,
                "Delete Cloud Account",
                &err,
                &context,
                &deadline_said,
            );
        }
    }

    async fn import(
        &self,
        data: &RedisCloud,
        req: ImportRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let raw = match req.identity {
            Some(identity) => {
                match tfplugin::framework::model::read::<CloudAccountIdentity>(identity)
                    .ok()
                    .and_then(|i| i.id.into_known())
                {
                    Some(id) => id,
                    None => {
                        diags.attribute_error(
                            AttributePath::root("id"),
                            "Invalid Import Identity",
                            "The identity must set `id` to the cloud account ID.",
                        );
                        return None;
                    }
                }
            }
            None => req.id.to_owned(),
        };
        match parse_id(&raw) {
            Ok(id) => {
                let mut stub = Value::null_object(&self.schema().implied_type());
                set_id(&mut stub, id);
                Some(stub)
            }
            Err(why) => {
                let named = match data.client(&mut Diagnostics::new()) {
                    Some(client) => named_like(client, &raw, &req.stop).await,
                    None => None,
                };
                let hint = match named {
                    Some(id) => format!(
                        " Cloud account {id} is named {:?}: import it with `terraform import <resource address> {id}`, or an `import` block with `id = \"{id}\"`.",
                        raw.trim()
                    ),
                    None => " `terraform query` with a `list \"rediscloud_cloud_account\"` block lists your accounts with their IDs (Terraform 1.14+), and writes their import blocks with `-generate-config-out`; the Redis Cloud console shows them too.".to_owned(),
                };
                diags.error("Invalid Import ID", format!("{why}{hint}"));
                None
            }
        }
    }
}

/// The ID of the one live account named `name`, when an import was given a name for an ID.
async fn named_like(
    client: &Client,
    name: &str,
    stop: &tokio_util::sync::CancellationToken,
) -> Option<i64> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let client = client.bounded(Instant::now() + DEFAULT_READ_TIMEOUT, stop);
    let accounts = client.list_cloud_accounts().await.ok()?;
    let mut named = accounts.iter().filter(|a| {
        a.name.as_deref() == Some(name)
            && a.id != INTERNAL_ACCOUNT_ID
            && a.status.as_deref() != Some("deleted")
    });
    match (named.next(), named.next()) {
        (Some(a), None) => Some(a.id),
        _ => None,
    }
}

/// Records the account ID. Written straight into the object rather than through the model: once an ID exists it must
/// reach state, and this cannot fail.
fn set_id(state: &mut Value, id: i64) {
    if let Some(obj) = state.as_object_mut() {
        obj.insert("id".into(), Value::string(id.to_string()));
    }
}

/// Opens a conflict diagnostic with the API's own refusal, when the API (not the check before
/// the POST) found the conflict.
fn refused_prefix(refusal: Option<&Error>) -> String {
    match refusal {
        Some(err) => format!("Redis Cloud refused the create: {err}\n\n"),
        None => String::new(),
    }
}

/// What a conflict left behind.
fn nothing_done(sent: bool) -> &'static str {
    if sent {
        "That account appeared after this create's own check, so the request was sent; nothing was created and nothing was recorded in state."
    } else {
        "Nothing was sent, so nothing was created or recorded in state."
    }
}

/// Which limit a refused create hit, what the Redis Cloud account holds (`live`, when it could
/// be listed), and what to do.
fn limit_reached_detail(err: &Error, live: Option<&[CloudAccount]>) -> String {
    let mut paragraphs = vec![format!(
        "Redis Cloud refused to register another cloud account: the Redis Cloud account these API keys belong to holds as many cloud accounts as it may. Its answer: {err}"
    )];
    match live {
        Some([]) => paragraphs.push(
            "The Redis Cloud account holds no live cloud account besides Redis's internal one."
                .to_owned(),
        ),
        Some(accounts) => {
            let mut listed: Vec<String> = accounts
                .iter()
                .take(10)
                .map(|a| format!("{} ({:?})", a.id, a.name.as_deref().unwrap_or("")))
                .collect();
            if accounts.len() > 10 {
                listed.push("…".to_owned());
            }
            paragraphs.push(format!(
                "The Redis Cloud account holds {} cloud account{} besides Redis's internal one: {}.",
                accounts.len(),
                if accounts.len() == 1 { "" } else { "s" },
                listed.join(", ")
            ));
        }
        None => {}
    }
    paragraphs.push("Nothing was created and nothing was recorded in state. To go on, delete a cloud account you no longer need (one this configuration manages: remove its block and apply), or ask Redis Cloud support to raise the limit; until then the next apply fails the same way. An account still being deleted may count until it is gone.".to_owned());
    paragraphs.join("\n\n")
}

/// `HH:MM:SS` of a unix time in milliseconds, in UTC.
fn utc_time_of_day(ms: u64) -> String {
    let s = ms / 1000 % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// How to take over an existing account.
fn import_advice(id: i64) -> String {
    format!(
        "If it is the account this configuration describes, import it: `terraform import <resource address> {id}`, or an `import` block with `id = \"{id}\"`."
    )
}

/// Records a create whose account is not known as pending: the planned object with the pending
/// ID, and the record that lets a later operation resolve it, saved at once.
fn record_pending(req: &mut CreateRequest<'_, CloudAccountModel>, record: &PendingCreate) -> Value {
    let mut state = req.planned.clone();
    if let Some(obj) = state.as_object_mut() {
        obj.insert("id".into(), Value::string(PENDING_ID));
    }
    req.private.set(PENDING, record);
    req.checkpoint.save(&state, req.private);
    state
}

/// Answers a create that ended without a proven account ID, telling the truth about what the
/// next apply will do.
async fn create_failed(
    client: &Client,
    failure: CreateFailure,
    body: &CloudAccountCreateRequest,
    planned_free: Option<NameFreeWhenPlanned>,
    mut req: CreateRequest<'_, CloudAccountModel>,
    diags: &mut Diagnostics,
) -> Option<Value> {
    const NOTHING: &str = "Nothing was created and nothing was recorded in state; the next apply tries to create the account again.";
    let deadline_said = deadline_text(&req.config_model.timeouts, Operation::Create);
    match failure {
        CreateFailure::NameTaken { existing, refusal } => {
            let (id, name) = (existing.id, existing.name.as_deref().unwrap_or(&body.name));
            diags.attribute_error(
                AttributePath::root("name"),
                "Cloud Account Name Already Taken",
                format!(
                    "{found}Cloud account {id} ({name:?}, status {status}) already has this name, and names are unique in Redis Cloud.{since} {outcome}\n\n{import} Otherwise choose another `name` (a replacement made with `create_before_destroy` needs a name of its own). Until then the next apply fails the same way.",
                    found = refused_prefix(refusal.as_deref()),
                    status = existing.status.as_deref().unwrap_or("unknown"),
                    since = planned_free
                        .filter(|p| p.name == body.name)
                        .map(|p| format!(
                            " The name was free when this plan was made, at {} UTC: the account was registered since, by someone or something else (another Terraform run, the console, a script).",
                            utc_time_of_day(p.at_ms)
                        ))
                        .unwrap_or_default(),
                    outcome = nothing_done(refusal.is_some()),
                    import = import_advice(id),
                ),
            );
            None
        }
        CreateFailure::AccessKeyTaken { existing, refusal } => {
            let id = existing.id;
            diags.attribute_error(
                AttributePath::root("access_key_id"),
                "Access Key Already Registered",
                format!(
                    "{found}Cloud account {id} ({name:?}, status {status}) already uses this access key ID, and Redis Cloud accepts each IAM access key once. {outcome}\n\n{import} Otherwise use another access key: create a separate IAM user and access key for this cloud account. Until then the next apply fails the same way.",
                    found = refused_prefix(refusal.as_deref()),
                    name = existing.name.as_deref().unwrap_or(""),
                    status = existing.status.as_deref().unwrap_or("unknown"),
                    outcome = nothing_done(refusal.is_some()),
                    import = import_advice(id),
                ),
            );
            None
        }
        CreateFailure::LimitReached { err, live } => {
            diags.error(
                "Cloud Account Limit Reached",
                limit_reached_detail(&err, live.as_deref()),
            );
            None
        }
        CreateFailure::NotCreated(err) => {
            api_error(diags, "Create Cloud Account", &err, NOTHING, &deadline_said);
            None
        }
        CreateFailure::FailedWithAccount { id, err } => {
            let mut state = req.planned.clone();
            set_id(&mut state, id);
            req.private.set(CREATED_AT, &now_ms());
            req.checkpoint.save(&state, req.private);
            if let Some(account) = client.last_look_at_account(id).await {
                merge_account(&mut state, &account);
            }
            api_error(
                diags,
                "Create Cloud Account",
                &err,
                &format!(
                    "Cloud account {id} carries this resource's name and access key and was made by this create's own task, so it is this resource's. {KEPT_IN_STATE}"
                ),
                &deadline_said,
            );
            Some(state)
        }
        CreateFailure::Undecidable {
            record,
            why,
            candidates,
        } => {
            let state = record_pending(&mut req, &record);
            diags.error(
                "Unresolved Cloud Account Create",
                format!(
                    "Redis Cloud made a cloud account for {name:?}, but which one cannot be told: {why}.{maybe} It is recorded in state as a pending create (`id = \"{PENDING_ID}\"`), marked tainted, so the account cannot be lost. The provider never guesses which account is this resource's: every plan fails this way until you settle it. {commands}",
                    name = body.name,
                    maybe = candidates_sentence(&candidates),
                    commands = undecided_commands(&candidates),
                ),
            );
            Some(state)
        }
        CreateFailure::Pending {
            record,
            err,
            why,
            candidates,
        } => {
            let state = record_pending(&mut req, &record);
            api_error(
                diags,
                "Create Cloud Account",
                &err,
                &format!(
                    "Whether Redis Cloud made the cloud account {name:?} could not be established before the operation ended: {why}.{maybe} It is recorded in state as a pending create (`id = \"{PENDING_ID}\"`), marked tainted, so an account it made cannot be lost. The next `terraform plan` or `apply` looks again, by the same rule: if it finds this create's account, it records the account's ID, and the apply then replaces the account because it is tainted (run `terraform untaint <resource address>` first to keep it); if it proves that nothing was created, it plans the account's creation. While neither is proven, a plan warns for two minutes after the create, then fails naming the accounts it could be and the commands to settle it; an apply in that time waits for the answer, up to the delete timeout, and deletes nothing it cannot prove to be this resource's.",
                    name = body.name,
                    maybe = candidates_sentence(&candidates),
                ),
                &deadline_said,
            );
            Some(state)
        }
    }
}

/// "Cloud account 12 may be this create's." for the accounts a look could not rule out.
fn candidates_sentence(candidates: &[i64]) -> String {
    match candidates {
        [] => String::new(),
        [one] => format!(" Cloud account {one} may be this create's."),
        many => format!(
            " Cloud accounts {} may be this create's.",
            many.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The error for a pending create the evidence cannot resolve: what is missing, the accounts
/// that may be its, and the commands that settle it.
fn unresolved_create(
    diags: &mut Diagnostics,
    record: &PendingCreate,
    why: &str,
    candidates: &[i64],
) {
    diags.error(
        "Unresolved Cloud Account Create",
        format!(
            "This cloud account is recorded as a pending create of {:?}, and the evidence to resolve it is missing: {why}.{} The provider never guesses which account is this resource's. {} The state was left as it was.",
            record.intent.name,
            candidates_sentence(candidates),
            undecided_commands(candidates)
        ),
    );
}

/// The exact commands for a user who knows better than the evidence.
fn undecided_commands(candidates: &[i64]) -> String {
    let mut out = String::new();
    for id in candidates {
        out.push_str(&format!(
            "If cloud account {id} is the one this resource created, run `terraform state rm <resource address>` then `terraform import <resource address> {id}`. "
        ));
    }
    out.push_str("If this create made no account, or the one it made no longer exists, run `terraform state rm <resource address>`: the next apply creates it.");
    out
}

/// The record of the pending create `state` holds: from private state, or rebuilt from what a
/// state written before that record kept in its `id`, with the name and key it was created with.
fn pending_record(
    state: &Value,
    private: &PrivateState,
    legacy: &LegacyPending,
    diags: &mut Diagnostics,
) -> Option<PendingCreate> {
    if let Some(record) = private.get::<PendingCreate>(PENDING) {
        return Some(record);
    }
    let m = match CloudAccountModel::read(state) {
        Ok(m) => m,
        Err(err) => {
            diags.error(
                "Invalid Cloud Account State",
                format!("This cloud account is recorded as a pending create, but its state cannot be read ({err}); it was left as it was."),
            );
            return None;
        }
    };
    let intent = Intent {
        name: m.name.as_deref().unwrap_or_default().to_owned(),
        provider: m.provider_type.as_deref().map(str::to_owned),
        access_key_id: m.access_key_id.as_deref().unwrap_or_default().to_owned(),
    };
    let (before, tasks) = match legacy {
        LegacyPending::Tasks(tasks) => (Before::Unrecorded, tasks.clone()),
        LegacyPending::After(id) => (Before::AccountsUpTo { id: *id }, Vec::new()),
        LegacyPending::None => {
            diags.error(
                "Invalid Cloud Account State",
                format!("This cloud account is recorded as a pending create, but the record of that create is missing from the state's private data (was the state edited?). {} The state was left as it was.", undecided_commands(&[])),
            );
            return None;
        }
    };
    Some(PendingCreate {
        intent,
        sent_at_ms: 0,
        before,
        tasks,
    })
}

/// A refresh of a create recorded as pending: what its resolution found.
fn pending_outcome(
    outcome: Result<Resolution, Error>,
    record: PendingCreate,
    current: Value,
    timeouts: &Val<super::model::Timeouts>,
    private: &mut PrivateState,
    diags: &mut Diagnostics,
) -> ReadOutcome {
    let deadline_said = deadline_text(timeouts, Operation::Read);
    // A state written before the record existed is kept in today's form from now on.
    let mut kept = current.clone();
    if let Some(obj) = kept.as_object_mut() {
        obj.insert("id".into(), Value::string(PENDING_ID));
    }
    private.set(PENDING, &record);
    match outcome {
        Ok(Resolution::Created(account)) => {
            let mut state = current;
            set_id(&mut state, account.id);
            merge_account(&mut state, &account);
            private.remove(PENDING);
            private.set(CREATED_AT, &now_ms());
            tracing::info!(
                cloud_account_id = account.id,
                "the pending create made cloud account {}; recording it",
                account.id
            );
            ReadOutcome::Found(state)
        }
        Ok(Resolution::NothingCreated) => {
            private.remove(PENDING);
            tracing::info!(
                "the pending create of {:?} made no account; removing it from state",
                record.intent.name
            );
            ReadOutcome::Gone
        }
        Ok(Resolution::Undecided { why, candidates }) => {
            // Within the window in which the API may still be catching up, undecided is the
            // normal state of things; after it, evidence is missing and the user must choose.
            let age = std::time::Duration::from_millis(now_ms().saturating_sub(record.sent_at_ms));
            if record.sent_at_ms > 0 && age < rediscloud_api::DEFAULT_VISIBILITY_WINDOW {
                diags.warning(
                    "Cloud Account Still Being Created",
                    format!(
                        "Whether the create of {:?} made an account is not decided yet: {why}.{} It stays recorded as a pending create; the next plan looks again.",
                        record.intent.name,
                        candidates_sentence(&candidates)
                    ),
                );
            } else {
                unresolved_create(diags, &record, &why, &candidates);
            }
            ReadOutcome::Found(kept)
        }
        // No later look can decide it: the user must choose now.
        Ok(Resolution::Undecidable { why, candidates }) => {
            unresolved_create(diags, &record, &why, &candidates);
            ReadOutcome::Found(kept)
        }
        Err(err) => {
            api_error(
                diags,
                "Read Cloud Account",
                &err,
                "This cloud account is recorded as a pending create, which could not be resolved; the state was left as it was.",
                &deadline_said,
            );
            ReadOutcome::Found(kept)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: i64, name: &str) -> CloudAccount {
        serde_json::from_value(serde_json::json!({"id": id, "name": name, "status": "active"}))
            .expect("account")
    }

    #[test]
    fn a_limit_refusal_says_which_limit_what_is_held_and_what_to_do() {
        let err = Error::Validation {
            status: 400,
            message: "POST /cloud-accounts: Cloud account limit reached: at most 2 cloud accounts allowed".to_owned(),
        };
        let text = limit_reached_detail(&err, Some(&[account(2, "a"), account(3, "b")]));
        for needle in [
            "holds as many cloud accounts as it may",
            "at most 2 cloud accounts allowed",
            r#"holds 2 cloud accounts besides Redis's internal one: 2 ("a"), 3 ("b")."#,
            "Nothing was created and nothing was recorded in state.",
            "delete a cloud account you no longer need",
            "ask Redis Cloud support to raise the limit",
            "the next apply fails the same way",
        ] {
            assert!(text.contains(needle), "{needle:?} in {text}");
        }
        let many: Vec<CloudAccount> = (2..20).map(|i| account(i, "x")).collect();
        let text = limit_reached_detail(&err, Some(&many));
        assert!(
            text.contains("18 cloud accounts") && text.contains(", …."),
            "{text}"
        );
        // Without a list, no empty paragraph.
        let text = limit_reached_detail(&err, None);
        assert!(!text.contains("\n\n\n"), "{text:?}");
        assert!(!text.contains("holds 0"), "{text}");
    }
}
